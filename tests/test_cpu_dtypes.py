# SPDX-License-Identifier: LGPL-2.1-or-later
"""The cpu backend's reduced-precision modes against its fp32 mode.

int8 (backend-options dtype=int8: weights per output channel, activations per token in groups
of 64 channels, integer dot products): cosine >= 0.99 for every text of the test corpora at
every kernel level this CPU runs; the levels' int8 kernels agree with each other (the same
integer arithmetic); the pipeline runs it, says so in npuencoder-stats, and a store records
dtype=int8 in its identity. Retrieval quality vs fp32 is measured by bench/bench_retrieval.py
(docs/cpu.md).

bf16 (dtype=bf16: AMX tiles at level amx, vdpbf16ps at level avx512 on CPUs with AVX512_BF16),
each kernel the CPU has: cosine >= 0.9999 to fp32 and to the stored sentence-transformers
vectors; on a CPU with neither it is an error saying so.

Bad options are errors."""
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import BUILD, KERNEL_LEVELS, MODEL, ROOT, cpu_flags, gst_env

TE_EMBED = BUILD / "tools" / "te-embed"
MIN_COSINE = 0.99
LEVELS = KERNEL_LEVELS


def corpus():
    """The tokenizer corpus (odd texts: control characters, lone special tokens, 25 scripts),
    the reference texts, and 120-word windows of the licences (chunk-like prose)."""
    texts = [json.loads(l) for l in open(ROOT / "tests" / "data" / "tokenizer_corpus.jsonl",
                                         encoding="utf-8")]
    ref = json.load(open(ROOT / "tests" / "data" / "reference_embeddings.json", encoding="utf-8"))
    texts += [it["text"] for it in ref["items"]]
    for name in ("GPL-3", "Apache-2.0", "MPL-2.0"):
        words = Path("/usr/share/common-licenses", name).read_text(encoding="utf-8").split()
        texts += [" ".join(words[i:i + 120]) for i in range(0, min(len(words), 120 * 12), 120)]
    return [t for t in texts if t.strip()]


def embed(texts, options, level=None):
    env = dict(os.environ, G_MESSAGES_DEBUG="textembed")
    if level:
        env["TE_CPU_LEVEL"] = level
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    p = subprocess.run([str(TE_EMBED), "--model", str(MODEL), "--batch", "8",
                        "--backend-options", options], input=stdin.encode(), capture_output=True,
                       timeout=900, env=env)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    got = np.array([json.loads(l) for l in p.stdout.decode().splitlines()])
    assert got.shape[0] == len(texts)
    return got, err


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def texts():
    return corpus()


@pytest.fixture(scope="module")
def fp32(texts):
    return embed(texts, "dtype=fp32")[0]


@pytest.mark.parametrize("level,flags", LEVELS, ids=[l for l, _ in LEVELS])
def test_int8_close_to_fp32_at_every_level(texts, fp32, level, flags):
    if not flags <= cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(flags - cpu_flags())} for level {level}")
    got, err = embed(texts, "dtype=int8", level)
    kernel = re.search(r"cpu backend: (\S+) int8, (\d+) threads?(, attention amx_bf16)?", err)
    assert kernel, err
    assert bool(kernel.group(3)) == (level == "amx"), err
    want_kernel = {"avx512": "avx512_vnni" if "avx512_vnni" in cpu_flags() else "avx2",
                   "amx": "amx_int8",
                   "neon": "neon_dotprod" if "asimddp" in cpu_flags() else "portable"}
    assert kernel.group(1) == want_kernel.get(level, level), err
    cos = cosines(got, fp32)
    worst = np.argsort(cos)[:3]
    print(f"{level} ({kernel.group(1)}) int8 vs fp32 over {len(texts)} texts: min cosine "
          f"{cos.min():.5f}, mean {cos.mean():.5f}; worst {[texts[i][:30] for i in worst]}")
    assert cos.min() >= MIN_COSINE, [(round(float(cos[i]), 5), texts[i][:40]) for i in worst]
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_int8_kernels_agree_across_levels(texts):
    """Each linear layer computes the same integers at every level (exact int32 sums), so the
    levels differ by float rounding only, amplified a little where a next layer's quantisation
    rounds a value the other way: far closer to each other than to fp32 (>= 0.999). Level amx
    also runs attention's products in bf16 (docs/cpu.md), 0.2-0.5 % off fp32 attention: there
    the bar is 0.997, still three times closer than int8 is to fp32 (0.99)."""
    runs = {l: embed(texts, "dtype=int8", l)[0] for l, f in LEVELS if f <= cpu_flags()}
    assert "portable" in runs and len(runs) >= 2, runs.keys()
    base = runs.pop("portable")
    for level, got in runs.items():
        cos = cosines(got, base)
        print(f"int8 {level} vs int8 portable: min cosine {cos.min():.7f}")
        assert cos.min() >= (0.997 if level == "amx" else 0.999), level


def test_int8_in_the_pipeline(tmp_path):
    out32, out8 = tmp_path / "fp32.jsonl", tmp_path / "int8.jsonl"
    for out, opts in ((out32, "dtype=fp32"), (out8, "dtype=int8")):
        p = subprocess.run(
            ["gst-launch-1.0", "-m", "filesrc", "location=/usr/share/common-licenses/GPL-3", "!",
             "textchunker", "max-tokens=128", "!", "texttokenizer", "!", "npuencoder",
             f"backend-options={opts}", "stats-interval=100000", "!", "embedpooler", "!",
             "embedsink", f"location={out}"], env=gst_env(), capture_output=True, text=True,
            timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        stats = [l for l in p.stdout.splitlines() if "npuencoder-stats" in l]
        assert stats, p.stdout
        want = "int8" if opts == "dtype=int8" else "fp32"
        kernel = re.search(r'kernel=\(string\)"([^"]*)"', stats[-1])
        assert kernel, stats[-1]
        assert re.fullmatch(r"\S+ " + want + r", \d+ threads?(, attention amx_bf16)?",
                            kernel.group(1).replace("\\", "")), stats[-1]
    a = [json.loads(l) for l in open(out32)]
    b = [json.loads(l) for l in open(out8)]
    assert len(a) == len(b) > 50
    cos = cosines(np.array([r["embedding"] for r in a]), np.array([r["embedding"] for r in b]))
    print(f"GPL-3, {len(a)} chunks of <= 128 tokens: int8 vs fp32 min cosine {cos.min():.5f}, "
          f"mean {cos.mean():.5f}")
    assert cos.min() >= MIN_COSINE


def test_int8_store_identity(tmp_path):
    """A store made with dtype=int8 says so: a later fp32 run re-embeds every document."""
    src = tmp_path / "corpus"           # a directory: every file under it is a document
    src.mkdir()
    (src / "doc.txt").write_text(Path("/usr/share/common-licenses/Apache-2.0").read_text(
        encoding="utf-8"))
    store = tmp_path / "s.sqlite"
    ingest = BUILD / "tools" / "te-ingest"
    for opts in ("dtype=int8", "dtype=fp32"):
        p = subprocess.run([str(ingest), "--backend-options", opts, str(src), str(store)],
                           env=gst_env(), capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        with sqlite3.connect(store) as con:
            model = con.execute("SELECT model FROM documents").fetchone()[0]
        assert (";dtype=int8" in model) == (opts == "dtype=int8"), model
        assert re.search(r"\b1 documents? embedded\b", p.stderr), p.stderr


@pytest.mark.parametrize("opts,message", [
    ("dtype=bf17", 'option dtype="bf17" is not one of fp32, int8, bf16'),
    ("dtype=bf16,kernels=openblas", "dtype=bf16 needs the native kernels"),
    ("dtype=int8,kernels=openblas", "dtype=int8 needs the native kernels"),
    ("kernels=fast", 'kernels="fast" is not one of auto, native, openblas'),
    ("threads=0", 'threads="0" is not an integer in 1..1024'),
    ("thread=2", 'unknown option "thread" (known: kernels, dtype, threads)'),
])
def test_bad_cpu_options_are_errors(opts, message):
    p = subprocess.run([str(TE_EMBED), "--model", str(MODEL), "--backend-options", opts],
                       input=b'"a text"\n', capture_output=True, timeout=120)
    assert p.returncode != 0
    assert message in p.stderr.decode(), p.stderr.decode()


BF16_KERNELS = [("amx", "amx_bf16", {"amx_tile", "amx_bf16", "amx_int8", "avx512_bf16"}),
                 ("avx512", "avx512_bf16", {"avx512_bf16"})]


@pytest.mark.parametrize("level,kernel,flags", BF16_KERNELS, ids=[k for _, k, _ in BF16_KERNELS])
def test_bf16(texts, fp32, level, kernel, flags):
    if not any(f <= cpu_flags() for _, _, f in BF16_KERNELS):
        p = subprocess.run([str(TE_EMBED), "--model", str(MODEL), "--backend-options",
                            "dtype=bf16"], input=b'"a text"\n', capture_output=True, timeout=120)
        err = p.stderr.decode()
        assert p.returncode != 0 and "bf16 needs the amx level, or the avx512 level on a CPU with " \
            "AVX512_BF16" in err, err
        return
    if not flags <= cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(flags - cpu_flags())} for the {kernel} kernel")
    got, err = embed(texts, "dtype=bf16", level)
    desc = re.search(rf"cpu backend: {kernel} bf16, \d+ threads?(, attention amx_bf16)?", err)
    assert desc and bool(desc.group(1)) == (level == "amx"), err
    cos = cosines(got, fp32)
    ref = json.load(open(ROOT / "tests" / "data" / "reference_embeddings.json", encoding="utf-8"))
    want = np.array([it["embedding"] for it in ref["items"]])
    got_ref, _ = embed([it["text"] for it in ref["items"]], "dtype=bf16", level)
    cos_ref = cosines(got_ref, want)
    print(f"bf16 ({kernel}) vs fp32 over {len(texts)} texts: min cosine {cos.min():.6f}, mean "
          f"{cos.mean():.6f}; vs sentence-transformers: min {cos_ref.min():.6f}")
    assert cos.min() >= 0.9999 and cos_ref.min() >= 0.9999
    # forced to a level without bf16 kernels: an error, not a silent fp32 run
    p = subprocess.run([str(TE_EMBED), "--model", str(MODEL), "--backend-options", "dtype=bf16"],
                       input=b'"a text"\n', capture_output=True, timeout=120,
                       env=dict(os.environ, TE_CPU_LEVEL="avx2"))
    assert p.returncode != 0 and "level avx2" in p.stderr.decode(), p.stderr.decode()
