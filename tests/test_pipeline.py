# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end tests through gst-launch-1.0: the README pipeline on a long document, the textembed
bin, embeddings against stored sentence-transformers vectors, chunk token counts against HF
tokenizers, clear errors for bad input, and the runnable examples in pipelines/."""
import json
import math
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from conftest import BUILD, MODEL, ROOT, gst_env

GPL = Path("/usr/share/common-licenses/GPL-3")


def launch(*elements, env=None, check=True, timeout=300):
    """Run gst-launch-1.0 with the given pipeline description tokens."""
    cmd = ["gst-launch-1.0", "-q", *elements]
    p = subprocess.run(cmd, env=env or gst_env(), capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def hf_tokenizer():
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def gpl_pipeline_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpl") / "out.jsonl"
    launch("filesrc", f"location={GPL}", "!", "textchunker", "max-tokens=128",
           "overlap-tokens=16", "!", "texttokenizer", "!", "npuencoder", "!", "embedpooler",
           "!", "embedsink", f"location={out}")
    return read_jsonl(out)


def test_readme_pipeline_covers_document(gpl_pipeline_rows, hf_tokenizer):
    rows = gpl_pipeline_rows
    data = GPL.read_bytes()
    assert len(rows) > 50
    prev_start, prev_end = -1, 0
    for i, r in enumerate(rows):
        assert r["doc"] == str(GPL)
        assert r["index"] == i
        assert r["start"] > prev_start and r["start"] <= prev_end, "gap between chunks"
        assert r["end"] > prev_end
        assert r["text"].encode("utf-8") == data[r["start"]:r["end"]]
        assert len(r["embedding"]) == 384
        norm = math.sqrt(sum(x * x for x in r["embedding"]))
        assert abs(norm - 1) < 1e-4
        # no chunk exceeds max-tokens, counted by Hugging Face's own tokenizer
        n = len(hf_tokenizer.encode(r["text"]).ids)
        assert n == r["tokens"] and n <= 128, f"chunk {i}: {n} tokens"
        prev_start, prev_end = r["start"], r["end"]
    assert prev_end == len(data), "the end of the document is missing"


def test_bin_equals_explicit_pipeline(gpl_pipeline_rows, tmp_path):
    out = tmp_path / "bin.jsonl"
    launch("filesrc", f"location={GPL}", "!", "textembed", "max-tokens=128", "overlap-tokens=16",
           "!", "embedsink", f"location={out}")
    rows = read_jsonl(out)
    assert [(r["start"], r["end"]) for r in rows] == \
        [(r["start"], r["end"]) for r in gpl_pipeline_rows]
    worst = min(cosine(a["embedding"], b["embedding"]) for a, b in zip(rows, gpl_pipeline_rows))
    assert worst > 0.999999


def test_bin_defaults_tile_without_overlap(tmp_path):
    out = tmp_path / "default.jsonl"
    launch("filesrc", f"location={GPL}", "!", "textembed", "!", "embedsink",
           f"location={out}")
    rows = read_jsonl(out)
    assert rows[0]["start"] == 0
    for a, b in zip(rows, rows[1:]):
        assert b["start"] == a["end"]
    assert rows[-1]["end"] == GPL.stat().st_size
    assert max(r["tokens"] for r in rows) <= 256


def test_embeddings_match_sentence_transformers(tmp_path):
    """Each stored reference text through the whole pipeline vs sentence-transformers."""
    ref = json.loads((ROOT / "tests/data/reference_embeddings.json").read_text())
    items = ref["items"]
    assert len(items) >= 20
    cosines = []
    for i, item in enumerate(items):
        src = tmp_path / f"text{i}.txt"
        src.write_text(item["text"], encoding="utf-8")
        out = tmp_path / f"out{i}.jsonl"
        launch("filesrc", f"location={src}", "!", "textembed", "!", "embedsink",
               f"location={out}")
        rows = read_jsonl(out)
        assert len(rows) == 1, f"text {i} was split into {len(rows)} chunks"
        cosines.append(cosine(rows[0]["embedding"], item["embedding"]))
    print(f"min cosine vs sentence-transformers over {len(cosines)} texts: {min(cosines):.7f}")
    bad = [(i, c) for i, c in enumerate(cosines) if c < 0.9999]
    assert not bad, f"texts below 0.9999: {bad}"


def test_bin_dimensions(tmp_path):
    """textembed dimensions=32 (embedpooler's Matryoshka truncation through the bin): 32 values,
    the first 32 of sentence-transformers' vector renormalised; a bus warning for a model that
    was not trained for it."""
    item = json.loads((ROOT / "tests/data/reference_embeddings.json").read_text())["items"][0]
    src = tmp_path / "text.txt"
    src.write_text(item["text"], encoding="utf-8")
    out = tmp_path / "out.jsonl"
    p = launch("filesrc", f"location={src}", "!", "textembed", "dimensions=32", "!", "embedsink",
               f"location={out}")
    rows = read_jsonl(out)
    assert len(rows) == 1 and len(rows[0]["embedding"]) == 32
    assert cosine(rows[0]["embedding"], item["embedding"][:32]) >= 0.9999


@pytest.mark.parametrize("exclude", [True, False])
def test_exclude_overlap_pools_own_tokens(tmp_path, hf_tokenizer, exclude):
    """embedpooler exclude-overlap: each chunk's vector is the mean of its token embeddings but
    those of the text the previous chunk also holds (the overlap, from the byte ranges), found
    with HF tokenizers' offsets; the token embeddings come from te-embed --ids --hidden (the
    encoder is checked against sentence-transformers elsewhere). Without the option the same
    reference must NOT match where there is an overlap (the exclusion has an effect)."""
    import numpy as np
    src = tmp_path / "g.txt"
    src.write_bytes(GPL.read_bytes()[:4000])
    out = tmp_path / "out.jsonl"
    launch("filesrc", f"location={src}", "!", "textchunker", "max-tokens=64", "overlap-tokens=16",
           "!", "texttokenizer", "!", "npuencoder", "!", "embedpooler",
           f"exclude-overlap={'true' if exclude else 'false'}", "!", "embedsink",
           f"location={out}")
    rows = read_jsonl(out)
    assert len(rows) >= 8
    encs = [hf_tokenizer.encode(r["text"]) for r in rows]
    ids = "".join(json.dumps(e.ids) + "\n" for e in encs)
    p = subprocess.run([str(BUILD / "tools" / "te-embed"), "--model", str(MODEL), "--ids",
                        "--hidden"], input=ids, capture_output=True, text=True, check=True)
    hidden = [np.array(json.loads(l), dtype=np.float64) for l in p.stdout.splitlines()]
    with_overlap = 0
    for i, (r, e, hs) in enumerate(zip(rows, encs, hidden)):
        overlap = max(0, rows[i - 1]["end"] - r["start"]) if i > 0 else 0
        text = r["text"]
        cum = [0]
        for ch in text:
            cum.append(cum[-1] + len(ch.encode("utf-8")))
        keep = [k for k, (s, _) in enumerate(e.offsets)
                if e.special_tokens_mask[k] or cum[s] >= overlap]
        with_overlap += len(keep) < len(e.ids)
        want = hs[keep].mean(axis=0)
        want /= np.linalg.norm(want)
        c = cosine(r["embedding"], want.tolist())
        if exclude or len(keep) == len(e.ids):
            assert c >= 0.9999, (i, overlap, c)
        else:
            assert c < 0.9999, (i, overlap, c)
    assert with_overlap >= len(rows) - 2


def test_missing_model_is_clear_error(tmp_path):
    p = launch("filesrc", f"location={GPL}", "!", "textembed", "model=/no/such/model", "!",
               "embedsink", f"location={tmp_path / 'x.jsonl'}", check=False)
    assert p.returncode != 0
    assert "/no/such/model" in p.stdout + p.stderr


def test_invalid_utf8_is_clear_error(tmp_path):
    # gst-launch-1.0 1.22 loses an error posted before its main loop runs (its bus handler
    # quits a loop that is not running yet, then waits for ever), so the bad bytes come after
    # enough valid text for the loop to be running, and the encoder is left out to stay fast.
    bad = tmp_path / "latin1.txt"
    valid = ("A line of perfectly valid text before the Latin-1 part.\n" * 40000).encode()
    latin1 = "Prix: 10 € — café".encode("latin-1", errors="replace") + b"\xe9t\xe9"
    bad.write_bytes(valid + latin1)
    first_bad = len(valid) + next(i for i, b in enumerate(latin1) if b >= 0x80)
    p = launch("filesrc", f"location={bad}", "!", "textchunker", "!", "texttokenizer", "!",
               "fakesink", check=False, timeout=120)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "not valid UTF-8 at byte" in out, out
    assert f"at byte {first_bad} " in out, out


def test_gst_inspect_documents_every_element():
    for name in ["textchunker", "texttokenizer", "npuencoder", "embedpooler", "embedsink",
                 "textembed"]:
        p = subprocess.run(["gst-inspect-1.0", name], env=gst_env(), capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        assert "Factory Details" in p.stdout
        if name != "embedsink":
            assert "model" in p.stdout


# pipelines/qnn-htp.sh takes minutes on the HTP simulator: tests/test_qnn.py runs it (twice),
# with the per-chunk comparison against the cpu backend, instead of once more here.
RUN_ELSEWHERE = {"qnn-htp.sh": "tests/test_qnn.py::test_qnn_pipeline_every_chunk_on_htp"}


def test_every_pipeline_example_is_run():
    for name in RUN_ELSEWHERE:
        assert (ROOT / "pipelines" / name).is_file()
    qnn_test = (ROOT / "tests" / "test_qnn.py").read_text()
    assert '"pipelines" / "qnn-htp.sh"' in qnn_test


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "pipelines").glob("*.sh")
                                          if p.name not in RUN_ELSEWHERE))
def test_pipeline_examples_run(script, tmp_path):
    env = gst_env()
    env["OUT_DIR"] = str(tmp_path)
    p = subprocess.run(["bash", str(ROOT / "pipelines" / script)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, f"{script}:\n{p.stdout}\n{p.stderr}"
    outs = list(tmp_path.glob("*.jsonl"))
    stores = list(tmp_path.glob("*.sqlite"))
    assert outs or stores, f"{script} wrote no .jsonl or .sqlite into OUT_DIR"
    for o in outs:
        rows = read_jsonl(o)
        assert rows and all(len(r["embedding"]) == 384 for r in rows)
    for st in stores:
        with sqlite3.connect(st) as db:
            complete = db.execute("SELECT count(*) FROM documents WHERE status='complete'")
            assert complete.fetchone()[0] > 0
            blobs = [len(b) for (b,) in db.execute("SELECT embedding FROM chunks")]
            assert blobs and all(n == 384 * 4 for n in blobs)
