#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Encoder start-up: from opening the model to ready for the first batch, per dtype, with a peer.

    .venv/bin/python bench/bench_startup.py [--runs 11] [--threads 2] [--json out.json]

Each run is a new te-embed process (--bench on one short text), which reports its start-up:
  tokenizer   config.json, sentence-transformers configs and tokenizer.json parsed: the
              text side's load (textchunker, texttokenizer), done once per pipeline because
              the elements share one model
  weights     model.safetensors mapped, every tensor's name, dtype and shape checked
  open        the cpu backend ready for its first batch: weights packed for the kernel level
              (fp32) or quantised (int8), on the backend's threads
The encoder's start-up is weights + open: the issue's target is <= 50 ms for all-MiniLM-L6-v2.
The page cache is warm (the first run is a warm-up, not counted); medians over --runs.

Peer, in the same run: an ONNX Runtime CPU session (intra_op_num_threads = --threads) created on
tools/te-export.py's fp32 graph of the same model, from InferenceSession() to ready (graph
optimisation included), median over the same number of runs.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_cpu import export, model_dir  # noqa: E402

LINE = re.compile(r"start-up ([\d.]+) ms: encoder ([\d.]+) ms \(weights ([\d.]+) ms, backend open "
                  r"([\d.]+) ms\), tokenizer and configs ([\d.]+) ms")


def te_embed_startup(model, text_path, options):
    cmd = [str(BUILD / "tools" / "te-embed"), "--model", str(model), "--bench", "0.01",
           "--backend-options", options]
    with open(text_path, "rb") as f:
        p = subprocess.run(cmd, stdin=f, capture_output=True, text=True)
    m = LINE.search(p.stderr)
    if p.returncode != 0 or not m:
        sys.exit(f"bench_startup: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    _, enc, weights, opened, tok = map(float, m.groups())
    return {"encoder": enc, "weights": weights, "open": opened, "tokenizer": tok}


def ort_startup(onnx_path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    t0 = time.perf_counter()
    ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    return (time.perf_counter() - t0) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work-dir", default="/tmp/te-bench-startup")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    model = model_dir()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    text = work / "one.jsonl"
    text.write_text(json.dumps("A short text to embed once.") + "\n")
    onnx_path = export(model, work / "export", 8, 128, "fp32")

    result = {"model": str(model), "threads": args.threads, "runs": args.runs, "engines": {}}
    configs = [("ours fp32", f"threads={args.threads}"),
               ("ours int8", f"threads={args.threads},dtype=int8")]
    samples = {name: [] for name, _ in configs}
    samples["onnxruntime fp32"] = []
    for i in range(args.runs + 1):            # interleaved; run 0 warms the page cache
        for name, opts in configs:
            s = te_embed_startup(model, text, opts)
            if i:
                samples[name].append(s)
        t = ort_startup(onnx_path, args.threads)
        if i:
            samples["onnxruntime fp32"].append({"encoder": t})

    print(f"encoder start-up, all-MiniLM-L6-v2, {args.threads} threads, median of {args.runs} "
          f"runs (ms)")
    print(f"  {'engine':<18}{'encoder':>9}{'weights':>9}{'open':>8}{'tokenizer':>11}"
          f"{'vs ORT':>8}")
    ort_ms = statistics.median(s["encoder"] for s in samples["onnxruntime fp32"])
    for name, runs in samples.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        result["engines"][name] = med
        cols = "".join(f"{med[k]:>{w}.1f}" if k in med else f"{'-':>{w}}"
                       for k, w in (("weights", 9), ("open", 8), ("tokenizer", 11)))
        print(f"  {name:<18}{med['encoder']:>9.1f}{cols}{med['encoder'] / ort_ms:>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
