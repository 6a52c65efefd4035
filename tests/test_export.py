# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/te-export.py: static-shape ONNX export of the test model (TE_TEST_MODEL) into a fresh
cache — fp32, fp16 and a16w8 for a 1x128 bucket; the graph's interface; cache hits on the second
run; stale and corrupt entries detected and rebuilt; the numerics against te-embed (our cpu
backend) on the texts of tests/data/reference_embeddings.json that fit (>= 20): min cosine fp32
>= 0.9999, fp16 >= 0.999, a16w8 >= 0.99. Needs onnx and onnxruntime (tools/requirements.txt);
without them every test reports "skipped: <what is missing>"."""
import hashlib
import importlib.util
import json
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import BUILD, MODEL, ROOT

EXPORTER = ROOT / "tools" / "te-export.py"
SHAPE = "1x128"
DTYPES = ("fp32", "fp16", "a16w8")
THRESHOLDS = {"fp32": 0.9999, "fp16": 0.999, "a16w8": 0.99}

_missing = [m for m in ("onnx", "onnxruntime", "tokenizers")
            if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(_missing), reason="skipped: Python packages missing: "
                                + ", ".join(_missing) + " (run tools/setup.sh)")


def export(cache, *args):
    p = subprocess.run([sys.executable, str(EXPORTER), "--model", str(MODEL), "--cache-dir",
                        str(cache), "--shapes", SHAPE, "--dtypes", ",".join(DTYPES),
                        "--te-embed", str(BUILD / "tools" / "te-embed"), *args],
                       capture_output=True, text=True, timeout=1800)
    return p


def statuses(stdout):
    """{(dtype): "built" | "cache hit" | "rebuilt (...)"} from the exporter's report lines."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^(built|cache hit|rebuilt \(.*\)): onnx (\S+) (\d+x\d+)",
                     line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("export-cache")
    p = export(d)
    assert p.returncode == 0, p.stdout + p.stderr
    assert statuses(p.stdout) == {dt: "built" for dt in DTYPES}, p.stdout
    return d


def entry_dir(cache, dtype):
    dirs = list(cache.glob(f"*/onnx-{dtype}-{SHAPE}"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_and_graph_interface(cache):
    import onnx
    from onnx import TensorProto

    model_hash = subprocess.run([sys.executable, str(EXPORTER), "--model", str(MODEL),
                                 "--print-model-hash"], capture_output=True, text=True,
                                check=True).stdout.strip()
    for dtype in DTYPES:
        d = entry_dir(cache, dtype)
        assert d.parent.name == model_hash[:16]
        man = json.loads((d / "manifest.json").read_text())
        key = man["key"]
        assert key["model_sha256"] == model_hash
        assert (key["batch"], key["seq_len"], key["dtype"], key["target"]) == \
            (1, 128, dtype, "onnx")
        assert key["input_dtype"] == "int32" and key["onnx"]
        assert ("onnxruntime" in key) == (dtype == "a16w8")
        art = d / man["artifact"]
        assert man["files"][man["artifact"]] == {"sha256": sha256(art),
                                                 "size": art.stat().st_size}

        g = onnx.load(str(art), load_external_data=False).graph
        ins = {i.name: (i.type.tensor_type.elem_type,
                        [x.dim_value for x in i.type.tensor_type.shape.dim]) for i in g.input}
        assert ins == {n: (TensorProto.INT32, [1, 128])
                       for n in ("input_ids", "attention_mask", "token_type_ids")}
        (out,) = g.output
        assert out.name == "last_hidden_state"
        assert out.type.tensor_type.elem_type == TensorProto.FLOAT
        assert [x.dim_value for x in out.type.tensor_type.shape.dim] == [1, 128, 384]
        ops = {n.op_type for n in g.node}
        assert "Gelu" in ops and "Softmax" in ops and "LayerNormalization" in ops
        if dtype == "a16w8":
            assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
        for n in g.node:
            if n.op_type == "Gelu":
                assert all(a.s in (b"", b"none") for a in n.attribute if a.name == "approximate")


def test_second_run_hits(cache):
    p = export(cache)
    assert p.returncode == 0, p.stderr
    assert statuses(p.stdout) == {dt: "cache hit" for dt in DTYPES}, p.stdout


def test_corrupt_and_stale_entries_rebuilt(cache):
    fp32 = entry_dir(cache, "fp32") / "model.onnx"
    size = fp32.stat().st_size
    with open(fp32, "r+b") as f:          # truncated artifact
        f.truncate(size // 2)
    fp16_manifest = entry_dir(cache, "fp16") / "manifest.json"
    fp16_manifest.write_text("{not json")  # corrupt manifest
    a16 = entry_dir(cache, "a16w8") / "manifest.json"
    man = json.loads(a16.read_text())
    man["key"]["onnxruntime"] = "0.0.1"    # made by another runtime version: stale
    a16.write_text(json.dumps(man))

    p = export(cache)
    assert p.returncode == 0, p.stderr
    st = statuses(p.stdout)
    assert st["fp32"].startswith("rebuilt (corrupt: model.onnx has"), st
    assert st["fp16"].startswith("rebuilt (corrupt: manifest unreadable"), st
    assert st["a16w8"] == "rebuilt (stale: key differs in onnxruntime)", st
    assert fp32.stat().st_size == size
    # Same bytes (the export is deterministic for fp32/fp16) and a hit afterwards.
    p = export(cache)
    assert statuses(p.stdout) == {dt: "cache hit" for dt in DTYPES}, p.stdout
    # Same content flipped in place, size kept: caught by the hash.
    data = bytearray(fp32.read_bytes())
    data[len(data) // 2] ^= 0xFF
    fp32.write_bytes(bytes(data))
    p = export(cache, "--dtypes", "fp32")
    assert "rebuilt (corrupt: model.onnx does not hash" in p.stdout, p.stdout
    # No temporary directories left behind.
    assert not [x for x in cache.rglob(".*")], list(cache.rglob(".*"))


def test_numerics_against_te_embed(cache):
    exe = BUILD / "tools" / "te-embed"
    assert exe.exists(), f"{exe} not built"
    p = export(cache, "--check")
    print(p.stdout)
    got = {}
    for m in re.finditer(r"^check (\S+): min cosine ([\d.]+) .* over (\d+) texts", p.stdout,
                         re.M):
        got[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    assert set(got) == set(DTYPES), p.stdout + p.stderr
    for dtype, (cos, n) in got.items():
        assert n >= 20
        assert cos >= THRESHOLDS[dtype], f"{dtype}: min cosine {cos}"
    assert p.returncode == 0, p.stderr


def test_safetensors_reader_dtypes(tmp_path):
    """The exporter's own safetensors reader: F32, F16 and BF16 (which numpy, and so the
    safetensors package's numpy loader, cannot hold), and a bad offset refused."""
    spec = importlib.util.spec_from_file_location("te_export", EXPORTER)
    te = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(te)
    vals = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
    blobs = {"a": ("F32", vals.tobytes()), "b": ("F16", vals.astype(np.float16).tobytes()),
             "c": ("BF16", (vals.view(np.uint32) >> 16).astype(np.uint16).tobytes())}
    header, data = {}, b""
    for name, (dt, raw) in blobs.items():
        header[name] = {"dtype": dt, "shape": [2, 2],
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    got = te.read_safetensors(path)
    for name in blobs:
        np.testing.assert_array_equal(got[name], vals.reshape(2, 2))
    header["a"]["data_offsets"] = [0, 20]
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    with pytest.raises(te.ExportError):
        te.read_safetensors(path)
