# SPDX-License-Identifier: LGPL-2.1-or-later
"""Late chunking (texttokenizer late-chunking) and document vectors (embedpooler
document-vectors), end to end through gst-launch-1.0.

The reference for a late-chunked vector: the window's text (the document bytes the JSON line's
"window" names) tokenized by Hugging Face tokenizers, its token embeddings from te-embed --ids
--hidden (the encoder is checked against sentence-transformers elsewhere), and the mean of the
rows of the tokens that start in the chunk's bytes by HF's offsets (plus the leading special
tokens for the window's first chunk and the trailing ones for its last). So the spans are checked
against HF, not against our own span code."""
import json
import sqlite3
import subprocess

import numpy as np
import pytest

from conftest import BUILD, MODEL, gst_env
from test_pipeline import GPL, cosine, hf_tokenizer, launch, read_jsonl  # noqa: F401

# multi-byte text of many scripts, sentences of varied length
MIXED = (
    "Grüße aus Köln: die Straßenbahn fährt um 7 Uhr. Ça coûte trop cher, déjà vu! "
    "Ελληνικά γράμματα είναι όμορφα. Пример русского текста с буквами ё и й. "
    "日本語の文章はここで終わります。中文句子也在这里。 "
    "Emoji 🙂 and math ∑ x² ≤ ∞ appear here. Señor Müller's naïve café serves crème brûlée. ")


def hidden_states(ids_list):
    lines = "".join(json.dumps(ids) + "\n" for ids in ids_list)
    p = subprocess.run([str(BUILD / "tools" / "te-embed"), "--model", str(MODEL), "--ids",
                        "--hidden"], input=lines, capture_output=True, text=True, check=True)
    return [np.array(json.loads(line), dtype=np.float64) for line in p.stdout.splitlines()]


def byte_offsets(text):
    cum = [0]
    for ch in text:
        cum.append(cum[-1] + len(ch.encode("utf-8")))
    return cum


def late_rows(tmp_path, data, max_tokens, window, overlap=0, extra=()):
    src = tmp_path / "doc.txt"
    src.write_bytes(data)
    out = tmp_path / "late.jsonl"
    launch("filesrc", f"location={src}", "!", "textchunker", f"max-tokens={max_tokens}",
           f"overlap-tokens={overlap}", "!", "texttokenizer", "late-chunking=true",
           f"window-tokens={window}", "!", "npuencoder", "!", "embedpooler", *extra, "!",
           "embedsink", f"location={out}")
    return read_jsonl(out)


def reference_vectors(rows, data, tok):
    """Each chunk's vector from its window, by HF offsets (see the module docstring)."""
    windows = sorted({tuple(r["window"]) for r in rows})
    encs = {}
    for w in windows:
        text = data[w[0]:w[1]].decode("utf-8")
        encs[w] = (tok.encode(text), byte_offsets(text))
    hidden = dict(zip(windows, hidden_states([encs[w][0].ids for w in windows])))
    want = []
    for r in rows:
        w = tuple(r["window"])
        enc, cum = encs[w]
        lo, hi = r["start"] - w[0], r["end"] - w[0]
        keep = [k for k, (s, _) in enumerate(enc.offsets)
                if not enc.special_tokens_mask[k] and lo <= cum[s] < hi]
        assert keep, f"chunk {r['index']}: no token starts in its bytes"
        first, last = keep[0], keep[-1] + 1
        if r["start"] == w[0]:
            first = 0
        if r["end"] == w[1]:
            last = len(enc.ids)
        assert keep == list(range(keep[0], keep[-1] + 1))
        v = hidden[w][first:last].mean(axis=0)
        want.append((v / np.linalg.norm(v), len(enc.ids), last - first))
    return want


@pytest.mark.parametrize("name,data,max_tokens,window,overlap", [
    ("gpl", GPL.read_bytes()[:12000], 40, 128, 0),
    ("mixed", (MIXED * 12).encode(), 24, 96, 0),
    ("gpl-overlap", GPL.read_bytes()[:8000], 48, 160, 12),
])
def test_spans_match_hf_offsets(tmp_path, hf_tokenizer, name, data, max_tokens, window, overlap):
    """Every chunk's late vector is the mean of its own tokens' hidden states in its window, by
    HF's offsets, windows of at most window-tokens tokens; every chunk once, in order; several
    windows, chunks at both window edges and inside."""
    rows = late_rows(tmp_path, data, max_tokens, window, overlap)
    assert [r["index"] for r in rows] == list(range(len(rows)))
    assert all(r["window"][0] <= r["start"] < r["end"] <= r["window"][1] for r in rows)
    want = reference_vectors(rows, data, hf_tokenizer)
    windows = {tuple(r["window"]) for r in rows}
    assert len(windows) >= 3
    at_start = sum(r["start"] == r["window"][0] for r in rows)
    at_end = sum(r["end"] == r["window"][1] for r in rows)
    inside = len(rows) - at_start - at_end
    assert at_start >= 1 and at_end >= 1 and inside >= 3, (at_start, at_end, inside)
    for r, (v, n_window, n_span) in zip(rows, want):
        assert n_window <= window
        assert r["tokens"] == n_span
        c = cosine(r["embedding"], v.tolist())
        assert c >= 0.9999, (r["index"], r["window"], c)


def test_windows_overlap_and_pick_central(tmp_path):
    """Consecutive windows overlap; a chunk's window is one where it is not at an edge whenever
    some window holds it inside (the most central)."""
    data = GPL.read_bytes()[:20000]
    rows = late_rows(tmp_path, data, 32, 128)
    windows = sorted({tuple(r["window"]) for r in rows})
    assert len(windows) >= 4
    assert all(b[0] < a[1] for a, b in zip(windows, windows[1:])), "windows do not overlap"
    for r in rows:
        holders = [w for w in windows if w[0] <= r["start"] and r["end"] <= w[1]]
        mid = (r["start"] + r["end"]) / 2

        def off_centre(w):
            return abs(mid - (w[0] + w[1]) / 2) / (w[1] - w[0])
        chosen = off_centre(tuple(r["window"]))
        # measured in bytes here, in tokens by the element: allow a small difference
        assert chosen <= min(off_centre(w) for w in holders) + 0.15, (r["index"], holders)


def test_single_chunk_windows_reproduce_plain_chunking(tmp_path):
    """Windows no larger than the chunks: each chunk alone in its window gets exactly its plain
    chunking vector (cosine >= 0.9999), and most chunks are alone."""
    data = GPL.read_bytes()[:16000]
    src = tmp_path / "doc.txt"
    src.write_bytes(data)
    plain = tmp_path / "plain.jsonl"
    launch("filesrc", f"location={src}", "!", "textchunker", "max-tokens=64", "!",
           "texttokenizer", "!", "npuencoder", "!", "embedpooler", "!", "embedsink",
           f"location={plain}")
    plain_rows = read_jsonl(plain)
    late = late_rows(tmp_path, data, 64, 64)
    assert len(late) == len(plain_rows)
    alone = 0
    for p, r in zip(plain_rows, late):
        assert (p["start"], p["end"]) == (r["start"], r["end"])
        if tuple(r["window"]) == (r["start"], r["end"]):
            alone += 1
            assert r["tokens"] == p["tokens"]
            c = cosine(p["embedding"], r["embedding"])
            assert c >= 0.9999, (r["index"], c)
    assert alone >= 0.8 * len(late), (alone, len(late))


def test_document_vector_is_token_weighted_mean(tmp_path, hf_tokenizer):
    """document-vectors: one more line per document, after its chunks: the mean of the chunk
    vectors weighted by their tokens, the overlap's tokens counted once (with the earlier
    chunk), renormalised. Weights from HF tokenizers."""
    data = GPL.read_bytes()[:6000]
    src = tmp_path / "doc.txt"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    launch("filesrc", f"location={src}", "!", "textchunker", "max-tokens=64",
           "overlap-tokens=16", "!", "texttokenizer", "!", "npuencoder", "!", "embedpooler",
           "document-vectors=true", "!", "embedsink", f"location={out}")
    rows = read_jsonl(out)
    doc = rows[-1]
    chunks = rows[:-1]
    assert doc["kind"] == "document" and all("kind" not in r for r in chunks)
    assert "index" not in doc and "text" not in doc
    assert doc["chunks"] == len(chunks) and doc["start"] == 0 and doc["end"] == len(data)
    weights = []
    for i, r in enumerate(chunks):
        enc = hf_tokenizer.encode(r["text"])
        overlap = max(0, chunks[i - 1]["end"] - r["start"]) if i else 0
        cum = byte_offsets(r["text"])
        shared = sum(1 for k, (s, _) in enumerate(enc.offsets)
                     if not enc.special_tokens_mask[k] and cum[s] < overlap)
        weights.append(len(enc.ids) - shared)
    assert sum(w < len(hf_tokenizer.encode(r["text"]).ids) for w, r in zip(weights, chunks)) \
        >= len(chunks) - 2, "the overlap took no tokens off"
    assert doc["tokens"] == sum(weights)
    v = sum(w * np.array(r["embedding"]) for w, r in zip(weights, chunks))
    assert cosine(doc["embedding"], (v / np.linalg.norm(v)).tolist()) >= 0.99999
    assert abs(np.linalg.norm(doc["embedding"]) - 1) < 1e-5


def test_late_chunking_with_document_vectors_in_bin(tmp_path):
    """The textembed bin's late-chunking, window-tokens and document-vectors, on two documents
    in a row (a corpus): every document gets its own windows and its vector."""
    corpus = tmp_path / "c.jsonl"
    docs = [GPL.read_text()[:5000], (MIXED * 4), GPL.read_text()[9000:15000]]
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                              for i, t in enumerate(docs)))
    out = tmp_path / "out.jsonl"
    launch("corpussrc", f"location={corpus}", "!", "textembed", "max-tokens=48",
           "late-chunking=true", "window-tokens=128", "document-vectors=true", "!", "embedsink",
           f"location={out}")
    rows = [r for r in read_jsonl(out) if "embedding" in r]
    for i in range(3):
        mine = [r for r in rows if r["doc"] == f"d{i}"]
        assert mine[-1].get("kind") == "document"
        assert [r["index"] for r in mine[:-1]] == list(range(len(mine) - 1))
        assert mine[-1]["chunks"] == len(mine) - 1
        assert all(r["window"][1] <= len(docs[i].encode()) for r in mine[:-1])


def test_store_keeps_document_vectors_and_migrates(tmp_path):
    """te-ingest --late-chunking --document-vectors: each complete document's row has its vector
    (dims floats), the identity says both, te-search --documents finds a document by its own
    text; a version-1 store (no documents.embedding) is read as it is and upgraded by a
    writer."""
    corpus = tmp_path / "c.jsonl"
    texts = [GPL.read_text()[:3000], MIXED * 3, GPL.read_text()[20000:23000]]
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                              for i, t in enumerate(texts)))
    store = tmp_path / "s.sqlite"
    tools = BUILD / "tools"
    env = gst_env()
    subprocess.run([str(tools / "te-ingest"), "--quiet", "--max-tokens", "48",
                    "--late-chunking", "--document-vectors", str(corpus), str(store)],
                   env=env, check=True, capture_output=True, text=True)
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    rows = db.execute("SELECT id, model, dims, length(embedding) FROM documents").fetchall()
    assert len(rows) == 3
    for _, model, dims, n in rows:
        assert n == dims * 4
        assert "late-chunking=" in model and ",document-vectors" in model
    db.close()
    q = tmp_path / "q.jsonl"
    q.write_text("".join(json.dumps({"_id": f"q{i}", "text": t[:400]}) + "\n"
                         for i, t in enumerate(texts)))
    p = subprocess.run([str(tools / "te-search"), "--json", "--documents", "--top-k", "3",
                        "--queries", str(q), str(store)], env=env, check=True,
                       capture_output=True, text=True)
    res = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["hits"][0]["doc"] for r in res] == ["d0", "d1", "d2"]

    # a version-1 store: read-only readers see no document vectors, a writer upgrades it
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(store)
    db.execute("VACUUM INTO ?", (str(old),))
    db.close()
    db = sqlite3.connect(old)
    db.execute("ALTER TABLE documents DROP COLUMN embedding")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    p = subprocess.run([str(tools / "te-search"), "--json", "--queries", str(q), str(old)],
                       env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([str(tools / "te-search"), "--documents", "--queries", str(q), str(old)],
                       env=env, capture_output=True, text=True)
    assert p.returncode != 0 and "without document vectors" in p.stderr, p.stderr
    subprocess.run([str(tools / "te-ingest"), "--quiet", "--max-tokens", "48",
                    "--late-chunking", "--document-vectors", str(corpus), str(old)],
                   env=env, check=True, capture_output=True, text=True)
    db = sqlite3.connect(old)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM documents WHERE embedding IS NULL").fetchone()[0] \
        == 3, "the unchanged documents keep their rows (no vector until re-embedded)"
    db.close()


def test_errors_are_clear(tmp_path):
    src = tmp_path / "doc.txt"
    src.write_bytes(GPL.read_bytes()[:3000])
    p = launch("filesrc", f"location={src}", "!", "textembed", "late-chunking=true",
               "pooling=cls", "!", "fakesink", check=False)
    assert p.returncode != 0 and "Late chunking needs mean or max pooling" in p.stdout + p.stderr
    p = launch("filesrc", f"location={src}", "!", "textembed", "late-chunking=true",
               "window-tokens=600", "!", "fakesink", check=False)
    assert p.returncode != 0 and "window-tokens=600" in p.stdout + p.stderr
    assert "at most 512" in p.stdout + p.stderr
    p = launch("filesrc", f"location={src}", "!", "textembed", "late-chunking=true",
               "window-tokens=32", "max-tokens=64", "!", "fakesink", check=False)
    assert p.returncode != 0 and "late-chunking window of 32" in p.stdout + p.stderr
