#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Plain chunking, late chunking, document vectors and their combination, measured on retrieval:
two datasets built from the GNU info manuals Debian installs (bench/retrieval_data.py), all modes
on the same queries and qrels, in the same run.

How to run (from the repository root, after tools/setup.sh):

    .venv/bin/python bench/bench_late_chunking.py                  # both datasets, all of them
    .venv/bin/python bench/bench_late_chunking.py --max-docs 300   # quick look (node set only)
    .venv/bin/python bench/bench_late_chunking.py --max-tokens 32 --window 128   # docs/late-chunking.md

Runtime on 2 cores: about 13 min at --max-tokens 32 --window 128 (both sets, ~790k tokens each,
four ingestions), 15 to 20 min with larger windows.

Datasets:
  nodes  one info node per document, its section title the query (bench_retrieval.py's set);
         --max-docs takes a seeded sample of documents and their queries
  long   each manual's nodes joined into documents of >= --long-chars characters (~4,000 tokens
         at the default), the queries the titles of the nodes in their middle third: questions
         about the middle of a long document

Ingestion modes (te-ingest --document-vectors, so both also give document vectors):
  plain  --max-tokens M: each chunk encoded alone
  late   --max-tokens M --late-chunking: each chunk pooled from a window of up to --window tokens

Retrieval modes (documents ranked by score, ties by id; nDCG@10 and Recall@10 with binary
relevance as pytrec_eval computes them):
  chunks              a document's score is its best chunk's cosine with the query
  document            the cosine with its document vector
  chunks+document     max of the two
Queries are embedded by te-embed (the model's own query handling: MiniLM has no prompt).

Also reported per ingestion: wall time, corpus tokens per second (the plain store's
documents.tokens, the same count for both modes, so the rates compare), and the peak RSS of the
te-ingest process (/usr/bin/time -v).

Writes --work-dir (default /tmp/te-bench-late): the datasets, one store per (dataset, mode),
result.json. Exit status 2 when something could not run.
"""
import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import (metrics, package_model_dir, rank_matrix, read_jsonl,  # noqa: E402
                             read_qrels, remove_store, unit, write_jsonl)

ROOT = Path(__file__).resolve().parent.parent


def fail(msg):
    print(f"bench_late_chunking: {msg}", file=sys.stderr)
    sys.exit(2)


def tool(a, name):
    path = Path(a.build_dir) / "tools" / name
    if not os.access(path, os.X_OK):
        fail(f"{path} not found (build first, or pass --build-dir)")
    return str(path)


def run_measured(cmd, env):
    """Run @cmd under /usr/bin/time -v; (wall seconds, peak RSS in MiB, stderr). (Not
    getrusage of a child of this process: a forked child counts this process's pages until it
    execs, which grow with the embeddings read here.)"""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if not m:
        fail("/usr/bin/time -v gave no peak RSS (is the time package installed?)")
    return wall, int(m.group(1)) / 1024, p.stderr


def build_dataset(a, name, out):
    if (out / "corpus.jsonl").exists():
        return
    cmd = [sys.executable, str(ROOT / "bench" / "retrieval_data.py"), str(out)]
    if name == "long":
        cmd += ["--long", str(a.long_chars)]
    if subprocess.run(cmd).returncode != 0:
        fail(f"{' '.join(cmd)} failed")


def sample(max_docs, seed, data_dir, out):
    """--max-docs: a seeded sample of the documents, with the queries about them."""
    corpus = read_jsonl(data_dir / "corpus.jsonl")
    qrels = read_qrels(data_dir / "qrels.tsv")
    queries = read_jsonl(data_dir / "queries.jsonl")
    if max_docs and max_docs < len(corpus):
        rng = np.random.default_rng(seed)
        keep = set(rng.choice(len(corpus), max_docs, replace=False).tolist())
        corpus = [d for i, d in enumerate(corpus) if i in keep]
    ids = {d["_id"] for d in corpus}
    qrels = {q: rel for q, rel in qrels.items() if rel & ids}
    queries = [q for q in queries if q["_id"] in qrels]
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "corpus.jsonl", corpus)
    write_jsonl(out / "queries.jsonl", queries)
    return corpus, queries, qrels


def ingest(a, corpus, store, late, env):
    remove_store(store)
    cmd = [tool(a, "te-ingest"), "--format", "jsonl", "--quiet", "--document-vectors",
           "--max-tokens", str(a.max_tokens), "--batch-size", str(a.batch_size)]
    if late:
        cmd += ["--late-chunking", "--window-tokens", str(a.window)]
    cmd += [str(corpus), str(store)]
    wall, rss, _ = run_measured(cmd, env)
    return {"command": cmd, "wall_s": wall, "peak_rss_mib": rss}


def read_store(store):
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = db.execute("SELECT c.doc, c.embedding FROM chunks c JOIN documents d ON d.id = c.doc "
                      "WHERE d.status = 'complete' ORDER BY c.doc, c.idx").fetchall()
    docs = db.execute("SELECT id, embedding, tokens, chunks FROM documents WHERE status = "
                      "'complete' ORDER BY id").fetchall()
    db.close()
    if not rows or any(d[1] is None for d in docs):
        fail(f"{store}: no chunks, or documents without a document vector")
    chunk_docs = [r[0] for r in rows]
    chunk_emb = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows]).astype(np.float32)
    doc_ids = [d[0] for d in docs]
    doc_emb = np.stack([np.frombuffer(d[1], dtype="<f4") for d in docs]).astype(np.float32)
    return chunk_docs, chunk_emb, doc_ids, doc_emb, sum(d[2] for d in docs), len(rows)


def embed_queries(a, queries, env):
    cmd = [tool(a, "te-embed"), "--batch", "32"]
    p = subprocess.run(cmd, input="".join(json.dumps(q["text"]) + "\n" for q in queries),
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        fail(f"te-embed: {p.stderr[-2000:]}")
    return unit(np.array([json.loads(line) for line in p.stdout.splitlines()],
                         dtype=np.float32))


def evaluate(qv, query_ids, qrels, store):
    chunk_docs, chunk_emb, doc_ids, doc_emb, _, _ = read_store(store)
    index = {d: i for i, d in enumerate(doc_ids)}
    # best chunk per document (columns in doc_ids order)
    s_chunks = np.full((len(qv), len(doc_ids)), -np.inf, dtype=np.float32)
    sc = qv @ unit(chunk_emb).T
    cols = np.array([index[d] for d in chunk_docs])
    order = np.argsort(cols, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(cols[order])) + 1]
    s_chunks[:, cols[order][starts]] = np.maximum.reduceat(sc[:, order], starts, axis=1)
    s_doc = qv @ unit(doc_emb).T
    out = {}
    for name, s in (("chunks", s_chunks), ("document", s_doc),
                    ("chunks+document", np.maximum(s_chunks, s_doc))):
        ranked = dict(zip(query_ids, rank_matrix(s, doc_ids, 10)))
        out[name] = metrics(ranked, qrels)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", default="/tmp/te-bench-late")
    ap.add_argument("--build-dir", default=os.environ.get("TE_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--datasets", default="nodes,long")
    ap.add_argument("--max-docs", type=int, default=0, help="sample of the nodes set (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--long-chars", type=int, default=16000)
    ap.add_argument("--max-tokens", type=int, default=128, help="chunk size (default 128)")
    ap.add_argument("--window", type=int, default=512, help="late-chunking window (512)")
    ap.add_argument("--batch-size", type=int, default=8)
    a = ap.parse_args()

    work = Path(a.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = str(Path(a.build_dir) / "plugin")
    model = env.get("TEXTEMBED_DEFAULT_MODEL") or package_model_dir()
    if not model:
        fail("no model: set TEXTEMBED_DEFAULT_MODEL or run tools/setup.sh")
    env["TEXTEMBED_DEFAULT_MODEL"] = model

    result = {"options": vars(a), "model": model, "cpu": os.cpu_count(), "datasets": {}}
    for name in a.datasets.split(","):
        full = work / f"data-{name}"
        build_dataset(a, name, full)
        data = work / f"run-{name}"
        corpus, queries, qrels = sample(a.max_docs if name == "nodes" else 0, a.seed, full,
                                        data)
        qv = embed_queries(a, queries, env)
        qids = [q["_id"] for q in queries]
        res = {"documents": len(corpus), "queries": len(queries), "modes": {}}
        for mode in ("plain", "late"):
            store = work / f"{name}-{mode}.sqlite"
            print(f"bench_late_chunking: {name}: ingesting {len(corpus)} documents ({mode})",
                  file=sys.stderr)
            run = ingest(a, data / "corpus.jsonl", store, mode == "late", env)
            _, _, _, _, tokens, chunks = read_store(store)
            run["chunks"] = chunks
            run["store_tokens"] = tokens
            run["retrieval"] = evaluate(qv, qids, qrels, store)
            res["modes"][mode] = run
        corpus_tokens = res["modes"]["plain"]["store_tokens"]
        for run in res["modes"].values():
            run["corpus_tokens_per_s"] = corpus_tokens / run["wall_s"]
        result["datasets"][name] = res

    with open(work / "result.json", "w") as f:
        json.dump(result, f, indent=1)
    for name, res in result["datasets"].items():
        print(f"\n{name}: {res['documents']} documents, {res['queries']} queries, chunks of "
              f"<= {a.max_tokens} tokens, late windows of <= {a.window}")
        print(f"  {'ingest':6} {'retrieval':16} {'nDCG@10':>8} {'R@10':>7} {'tok/s':>7} "
              f"{'peak RSS':>9} {'wall':>7}")
        for mode, run in res["modes"].items():
            for rmode, m in run["retrieval"].items():
                print(f"  {mode:6} {rmode:16} {100 * m['ndcg@10']:8.2f} "
                      f"{100 * m['recall@10']:7.2f} {run['corpus_tokens_per_s']:7.0f} "
                      f"{run['peak_rss_mib']:7.0f} MiB {run['wall_s']:6.0f} s")
    print(f"\nbench_late_chunking: result in {work / 'result.json'}")


if __name__ == "__main__":
    main()
