# SPDX-License-Identifier: LGPL-2.1-or-later
"""Rockchip RK3588 (the seed: a fixed [1, 256] embedder, mean pooling + L2): tools/te-export.py
--target rknn makes .rknn models with rknn-toolkit2 (in .venv-rknn) from the exported fp32
graph, fp16 and int8 (calibrated on the tokenizer corpus), into the verified cache; every build
runs on the toolkit's x86 simulator against te-embed (our cpu backend) and records the result.
Here: both variants at 1x256 meet cosine >= 0.99 (fp16 >= 0.999), a second run is a cache hit,
and the manifests say what made them. No C backend: no registry package ships librknnrt or
rknn_api.h (docs/npu.md)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD, MODEL, ROOT

RKNN_PY = ROOT / ".venv-rknn" / "bin" / "python"
CACHE = BUILD / "tests" / "export-cache-rknn"

if not os.access(RKNN_PY, os.X_OK):  # reported, never silently passed
    pytest.skip(f"skipped: {RKNN_PY} missing (tools/setup.sh creates it unless TE_NO_RKNN=1)",
                allow_module_level=True)


def export(*extra):
    cmd = [sys.executable, str(ROOT / "tools" / "te-export.py"), "--model", str(MODEL),
           "--cache-dir", str(CACHE), "--target", "rknn", "--shapes", "1x256",
           "--te-embed", str(BUILD / "tools" / "te-embed"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=3600)


def test_rknn_fp16_and_int8_on_the_simulator():
    p = export("--dtypes", "fp16,int8")
    assert p.returncode == 0, p.stdout + p.stderr
    print(p.stdout)
    for dtype, thr in (("fp16", 0.999), ("int8", 0.99)):
        entry = next(CACHE.glob(f"*/rknn-{dtype}-1x256"))
        man = json.loads((entry / "manifest.json").read_text())
        check = json.loads((entry / "check.json").read_text())
        assert man["artifact"] == "model.rknn" and (entry / "model.rknn").stat().st_size > 1e6
        assert man["key"]["rknn_platform"] == "rk3588" and man["key"]["opset"] == 19
        assert man["key"]["rknn_toolkit2"], man["key"]
        assert "check.json" in man["files"]  # the check is part of the verified entry
        if dtype == "int8":
            assert man["key"]["quantization"]["type"] == "w8a8"
        assert check["texts"] >= 20 and check["reference"].startswith("te-embed")
        print(f"rknn {dtype} 1x256 (rk3588, x86 simulator): min cosine {check['min_cosine']:.6f}"
              f", mean {check['mean_cosine']:.6f} over {check['texts']} texts; "
              f"{check['model_bytes'] / 1e6:.1f} MB")
        assert check["min_cosine"] >= thr

    p2 = export("--dtypes", "fp16,int8")
    assert p2.returncode == 0, p2.stderr
    assert "cache hit: rknn fp16 1x256" in p2.stdout and "cache hit: rknn int8 1x256" in p2.stdout


def test_rknn_rejects_other_dtypes_and_names_the_venv(tmp_path):
    p = export("--dtypes", "a16w8")
    assert p.returncode == 1 and "'a16w8' is not a variant of --target rknn (fp16, int8)" \
        in p.stderr, p.stderr
    p = export("--dtypes", "fp16", "--rknn-python", str(tmp_path / "nopython"))
    assert p.returncode == 1 and "needs rknn-toolkit2 in its own venv" in p.stderr, p.stderr
