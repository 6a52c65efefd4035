# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every backend that runs here, through the whole pipeline, compared with the cpu backend:
openvino (static-shape graphs exported by tools/te-export.py) fp32 >= 0.9999, fp16 >= 0.999,
A16W8 quantised >= 0.99 cosine; the null backend gives zero vectors; an unavailable backend falls back to cpu with a
warning, or fails with fallback=none."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD, MODEL, ROOT, gst_env

GPL = "/usr/share/common-licenses/GPL-3"
SHAPES = "8x128,1x256"


def run(encoder_props, out, extra_env=None, check=True):
    env = gst_env()
    env.update(extra_env or {})
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={GPL}", "!", "textchunker",
           "max-tokens=128", "!", "texttokenizer", "!", "npuencoder", *encoder_props, "!",
           "embedpooler", "!", "embedsink", f"location={out}"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}:\n{p.stdout}\n{p.stderr}")
    return p


def rows(path):
    return [json.loads(line) for line in open(path)]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture(scope="module")
def cpu_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("cpu") / "cpu.jsonl"
    run(["batch-size=8"], out)
    return rows(out)


def backend_built(name):
    p = subprocess.run([str(BUILD / "tools" / "te-devices"), name], capture_output=True,
                       text=True, timeout=120)
    return p.returncode == 0


def openvino_built():
    return backend_built("openvino")


@pytest.fixture(scope="module")
def export_cache():
    cache = BUILD / "tests" / "export-cache-pipeline"  # not the C test's cache: it counts entries
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "te-export.py"), "--model",
                        str(MODEL), "--cache-dir", str(cache), "--shapes", SHAPES, "--dtypes",
                        "fp32,fp16,a16w8"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    return cache


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
@pytest.mark.parametrize("dtype,threshold", [("fp32", 0.9999), ("fp16", 0.999),
                                             ("a16w8", 0.99)])
def test_static_backend_pipeline_matches_cpu(backend, dtype, threshold, cpu_rows, export_cache,
                                             tmp_path):
    """openvino, and onnx on ONNX Runtime's CPU execution provider, on the exported graphs."""
    if not backend_built(backend):
        pytest.skip(f"skipped: {backend} backend not built (tools/setup.sh builds both; "
                    "TE_NO_OPENVINO=1 / TE_NO_ONNXRUNTIME=1 turn them off)")
    out = tmp_path / f"{backend}-{dtype}.jsonl"
    run([f"backend={backend}", f"backend-options=cache-dir={export_cache},dtype={dtype}",
         "fallback=none", "batch-size=8"], out)
    got = rows(out)
    assert [(r["start"], r["end"]) for r in got] == [(r["start"], r["end"]) for r in cpu_rows]
    worst = min(cosine(a["embedding"], b["embedding"]) for a, b in zip(got, cpu_rows))
    print(f"{backend} {dtype} vs cpu over {len(got)} GPL-3 chunks: min cosine {worst:.7f}")
    assert worst >= threshold


def run_late(tokenizer_props, encoder_props, out):
    """Late chunking of the GPL's first 16 kB: chunks of 48 tokens in windows."""
    src = out.parent / "gpl-16k.txt"
    src.write_bytes(Path(GPL).read_bytes()[:16000])
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={src}", "!", "textchunker",
           "max-tokens=48", "!", "texttokenizer", "late-chunking=true", *tokenizer_props, "!",
           "npuencoder", *encoder_props, "!", "embedpooler", "!", "embedsink",
           f"location={out}"]
    p = subprocess.run(cmd, env=gst_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"{' '.join(cmd)}:\n{p.stdout}\n{p.stderr}"
    return rows(out), src.read_bytes()


@pytest.fixture(scope="module")
def export_cache_128():
    """Graphs of one bucket, 8x128: smaller than the model's max_seq_length (256)."""
    cache = BUILD / "tests" / "export-cache-128"
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "te-export.py"), "--model",
                        str(MODEL), "--cache-dir", str(cache), "--shapes", "8x128", "--dtypes",
                        "fp32"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    return cache


def test_openvino_late_chunking_uses_largest_bucket(export_cache_128, tmp_path):
    """Late chunking on a static-shape backend: by default the windows are at most its largest
    bucket (128 of 8x128, though the model's max_seq_length is 256), and the vectors equal the
    cpu backend's for windows of 128 (fp32, cosine >= 0.9999)."""
    if not openvino_built():
        pytest.skip("skipped: openvino backend not built (tools/setup.sh builds it against the "
                    "openvino wheel; TE_NO_OPENVINO=1 turns it off)")
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    ov, data = run_late([], ["backend=openvino", f"backend-options=cache-dir={export_cache_128},"
                             "dtype=fp32", "fallback=none"], tmp_path / "ov.jsonl")
    windows = {tuple(r["window"]) for r in ov}
    lengths = [len(tok.encode(data[a:b].decode()).ids) for a, b in windows]
    assert len(windows) >= 8 and 100 < max(lengths) <= 128, lengths
    cpu, _ = run_late(["window-tokens=128"], [], tmp_path / "cpu.jsonl")
    assert [(r["start"], r["end"], r["window"]) for r in ov] == \
        [(r["start"], r["end"], r["window"]) for r in cpu]
    worst = min(cosine(a["embedding"], b["embedding"]) for a, b in zip(ov, cpu))
    print(f"openvino fp32 vs cpu, late chunking, {len(ov)} chunks: min cosine {worst:.7f}")
    assert worst >= 0.9999


def test_null_backend_late_chunking(tmp_path):
    """The null backend runs late-chunked windows too (zero vectors, every chunk once)."""
    null, _ = run_late(["window-tokens=128"], ["backend=null", "backend-options=latency-ms=0"],
                       tmp_path / "null.jsonl")
    assert [r["index"] for r in null] == list(range(len(null))) and len(null) > 10
    assert all(not any(r["embedding"]) for r in null)


def test_null_backend_zero_vectors(tmp_path):
    out = tmp_path / "null.jsonl"
    run(["backend=null", "backend-options=latency-ms=1"], out)
    r = rows(out)
    assert r and all(all(x == 0 for x in row["embedding"]) for row in r)


def test_unavailable_backend_falls_back_to_cpu(cpu_rows, tmp_path):
    out = tmp_path / "fallback.jsonl"
    p = run(["backend=openvino", f"backend-options=cache-dir={tmp_path / 'empty-cache'}",
             "batch-size=8"], out, check=False)
    assert p.returncode == 0, p.stderr
    # gst-launch prints element warnings on stderr/stdout even with -q
    fb = rows(out)
    worst = min(cosine(a["embedding"], b["embedding"]) for a, b in zip(fb, cpu_rows))
    assert len(fb) == len(cpu_rows) and worst > 0.999999


def test_fallback_none_is_error(tmp_path):
    p = run(["backend=openvino", f"backend-options=cache-dir={tmp_path / 'empty-cache'}",
             "fallback=none"], tmp_path / "x.jsonl", check=False)
    assert p.returncode != 0
    assert "openvino" in p.stdout + p.stderr


# ---- the backend interface: one option table per backend, printed everywhere ----

def te_devices(*args):
    p = subprocess.run([str(BUILD / "tools" / "te-devices"), *args], capture_output=True,
                       text=True, timeout=120)
    return p


def test_docs_list_every_backends_options_from_the_table():
    """docs/backends.md holds, for every backend this build has, exactly what te-devices
    --markdown prints from the option tables in core/."""
    doc = (ROOT / "docs" / "backends.md").read_text()
    begin = "<!-- generated by te-devices --markdown: begin -->\n"
    end = "<!-- generated by te-devices --markdown: end -->"
    section = doc[doc.index(begin) + len(begin):doc.index(end)]
    p = te_devices("--markdown")
    assert p.returncode == 0, p.stderr
    blocks = ["### " + b for b in p.stdout.split("### ")[1:]]
    assert len(blocks) >= 3  # cpu, null, and at least one accelerator backend
    for b in blocks:
        assert b in section, f"docs/backends.md is out of date; regenerate with " \
                             f"te-devices --markdown:\n{b}"


def test_te_devices_lists_backends_devices_and_dtypes():
    p = te_devices("--options")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "cpu: " in out and "null: " in out
    cpu = [l for l in out.splitlines() if l.strip().startswith("device cpu")][0]
    assert "available" in cpu and "fp32,int8" in cpu and "CPU features:" in cpu
    assert "threads=<integer 1..1024>" in out
    p = te_devices("nosuch")
    assert p.returncode == 1 and 'no backend "nosuch"' in p.stderr
    p = te_devices("--bogus")
    assert p.returncode == 2


def test_gst_inspect_shows_the_option_tables():
    p = subprocess.run(["gst-inspect-1.0", "npuencoder"], env=gst_env(), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for needle in ["kernels=<auto|native|openblas>", "latency-ms=<number 0..3600000>",
                   "fail-after=<integer"]:
        assert needle in out, needle
    assert "null-latency-ms" not in out  # now the null backend's option latency-ms


@pytest.mark.parametrize("opts,message", [
    ("latency-ms=abc", 'null backend: option latency-ms="abc" is not a number in 0..3600000'),
    ("latncy-ms=3", 'null backend: unknown option "latncy-ms" (known: latency-ms, fail-after)'),
])
def test_bad_null_options_are_element_errors(tmp_path, opts, message):
    p = run(["backend=null", f"backend-options={opts}", "fallback=none"],
            tmp_path / "o.jsonl", check=False)
    assert p.returncode != 0
    assert message in p.stdout + p.stderr, p.stdout + p.stderr
