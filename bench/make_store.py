# SPDX-License-Identifier: LGPL-2.1-or-later
"""make_store.py — a synthetic embedding store (schema of docs/store.md) for measuring te-search:
random unit vectors and filler text, written with Python's sqlite3 exactly as core/te-store.c lays
a store out (16 KiB pages, WAL, WITHOUT ROWID tables).

    .venv/bin/python bench/make_store.py /tmp/bench.db --chunks 200000 --dims 384
    build/tools/te-store info /tmp/bench.db
    time build/tools/te-search --model DIR /tmp/bench.db "some query"
"""
import argparse
import os
import sqlite3

import numpy as np

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE documents (id TEXT PRIMARY KEY, path TEXT, size INTEGER, mtime INTEGER, hash TEXT, model TEXT, dims INTEGER, prompt TEXT, status TEXT NOT NULL CHECK (status IN ('complete','skipped','deleted')), reason TEXT, chunks INTEGER NOT NULL, tokens INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE chunks (doc TEXT NOT NULL, idx INTEGER NOT NULL, byte_start INTEGER NOT NULL, byte_end INTEGER NOT NULL, pts INTEGER, duration INTEGER, tokens INTEGER NOT NULL, text TEXT, embedding BLOB NOT NULL, PRIMARY KEY (doc, idx)) WITHOUT ROWID;
PRAGMA user_version = 1;
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--chunks", type=int, default=200000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--chunks-per-doc", type=int, default=20)
    ap.add_argument("--text-bytes", type=int, default=1000,
                    help="bytes of text per chunk (a 256-token English chunk is ~1000-1300)")
    ap.add_argument("--page-size", type=int, default=16384)
    ap.add_argument("--model", default="synthetic")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(a.out + suffix):
            os.remove(a.out + suffix)
    rng = np.random.default_rng(a.seed)
    db = sqlite3.connect(a.out, isolation_level=None)
    db.execute("PRAGMA page_size = %d" % a.page_size)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   [("model", a.model), ("dims", str(a.dims)), ("pooling", "mean"),
                    ("normalized", "true")])
    words = "the quick brown fox jumps over a lazy dog and keeps running far away ".split()
    filler = (" ".join(words[i % len(words)] for i in range(a.text_bytes))).encode()[:a.text_bytes]
    n_docs = (a.chunks + a.chunks_per_doc - 1) // a.chunks_per_doc
    done = 0
    db.execute("BEGIN")
    for d in range(n_docs):
        n = min(a.chunks_per_doc, a.chunks - done)
        v = rng.standard_normal((n, a.dims), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        v = v.astype("<f4")
        doc = "corpus/dir%03d/doc%07d.txt" % (d % 1000, d)
        db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, NULL, NULL, 256, ?, ?)",
                       [(doc, i, i * a.text_bytes, (i + 1) * a.text_bytes, filler.decode(),
                         v[i].tobytes()) for i in range(n)])
        db.execute("INSERT INTO documents VALUES (?, ?, ?, 0, ?, ?, ?, NULL, 'complete', NULL, ?, ?)",
                   (doc, doc, n * a.text_bytes, "sha256:%064x" % d, a.model, a.dims, n, 256 * n))
        done += n
    db.execute("COMMIT")
    db.close()
    print("%s: %d chunks of %d dims in %d documents, %d bytes"
          % (a.out, a.chunks, a.dims, n_docs, os.path.getsize(a.out)))


if __name__ == "__main__":
    main()
