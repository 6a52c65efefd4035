# SPDX-License-Identifier: LGPL-2.1-or-later
"""QNN HTP (Snapdragon SM8650, Hexagon v75): tools/te-export.py produces the A16W8 context binary
for the SoC into the cache, and it is executed on the HTP simulator that the onnxruntime-qnn wheel
ships for x86_64, from Python (our C ONNX Runtime backend is blocked: no registry package ships
onnxruntime_c_api.h — docs/npu.md). Pooled outputs are compared with our cpu backend (te-embed)
on >= 20 chunks: quantised >= 0.99 cosine."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import BUILD, MODEL, ROOT

try:
    import onnxruntime as ort
    import onnxruntime_qnn as oq
except ImportError as e:  # reported, never silently passed
    pytest.skip(f"skipped: onnxruntime-qnn not installed ({e})", allow_module_level=True)


def load_exporter():
    spec = importlib.util.spec_from_file_location("te_export", ROOT / "tools" / "te-export.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_qnn_htp_context_binary_on_simulator():
    cache = BUILD / "tests" / "export-cache-qnn"  # not the C test's cache: it counts entries
    cmd = [sys.executable, str(ROOT / "tools" / "te-export.py"), "--model", str(MODEL),
           "--cache-dir", str(cache), "--dtypes", "a16w8", "--shapes", "1x128",
           "--target", "qnn-htp", "--soc-model", "57", "--htp-arch", "75"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    line = [l for l in p.stdout.splitlines() + p.stderr.splitlines()
            if l.startswith(("built: qnn-htp", "cache hit: qnn-htp", "rebuilt"))
            and "qnn-htp" in l][-1]
    ctx = line.rsplit(": ", 1)[1].strip()
    assert ctx.endswith("model_ctx.onnx")
    manifest = json.loads((__import__("pathlib").Path(ctx).parent / "manifest.json").read_text())
    assert "57" in json.dumps(manifest) and "75" in json.dumps(manifest)

    # a second run is a cache hit
    p2 = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p2.returncode == 0 and "cache hit" in p2.stdout + p2.stderr

    ex = load_exporter()
    model = ex.Model(str(MODEL))
    ref = json.loads((ROOT / "tests/data/reference_embeddings.json").read_text())
    texts = [it["text"] for it in ref["items"]]
    encs = ex.encode(model, texts)
    keep = [i for i, e in enumerate(encs) if len(e[0]) <= 128][:24]
    texts, encs = [texts[i] for i in keep], [encs[i] for i in keep]
    assert len(texts) >= 20
    want = ex.te_embed_vectors(str(BUILD / "tools" / "te-embed"), str(MODEL), texts)

    ort.register_execution_provider_library(oq.get_ep_name(), oq.get_library_path())
    devs = [d for d in ort.get_ep_devices() if d.ep_name == oq.get_ep_name()]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")  # all on the HTP
    so.add_provider_for_devices(devs, {"backend_path": oq.get_qnn_htp_path(),
                                       "htp_arch": "75", "soc_model": "57"})
    sess = ort.InferenceSession(ctx, sess_options=so)
    got = np.zeros_like(want)
    for i, e in enumerate(encs):
        out = sess.run(None, ex.make_feeds([e], 1, 128, model.pad_id()))[0]
        got[i] = ex.pool(out[0], len(e[0]), model.pooling, model.normalize)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    print(f"QNN HTP simulator A16W8 (SM8650/v75) vs cpu backend over {len(texts)} chunks: "
          f"min cosine {cos.min():.6f}")
    assert cos.min() >= 0.99
