# SPDX-License-Identifier: LGPL-2.1-or-later
"""Random-weight XLM-RoBERTa model directories, built offline and deterministically with numpy.

Shared by tests/make_xlmr_reference.py (which loads the same weights into transformers'
XLMRobertaModel and records its outputs) and tests/test_xlmr.py (which regenerates them, checks
that the safetensors file hashes to the recorded sha256, and compares our encoder with the
recorded outputs). Nothing here computes an expected output.

Two configurations:
  small     a 2-layer model with max_position_embeddings 66 (64 usable positions), for the
            exporter, OpenVINO, GStreamer and error paths
  e5-small  the shape of intfloat/multilingual-e5-small's config.json (hidden 384, 12 layers,
            12 heads, intermediate 1536, vocab 250002, max_position_embeddings 514,
            type_vocab_size 1, layer_norm_eps 1e-12, pad_token_id 1): ~470 MB of fp32

Weights: a seeded np.random.default_rng; normal(0, 0.02) embedding tables as transformers
initialises them; linear layers normal(0, 0.5 / sqrt(fan_in)) except query/key, whose
1.4 / sqrt(hidden) makes attention scores spread over a few units (so attention is far from
uniform and masking or position mistakes show); LayerNorm gamma 1 + normal(0, 0.1), beta
normal(0, 0.05), biases normal(0, 0.02). Tensors are named as transformers saves an
XLMRobertaModel (with an optional prefix such as "roberta.", as task-head checkpoints have).
"""
import hashlib
import json
import struct
from pathlib import Path

import numpy as np

BASE_CONFIG = {
    "architectures": ["XLMRobertaModel"],
    "model_type": "xlm-roberta",
    "hidden_act": "gelu",
    "position_embedding_type": "absolute",
    "attention_probs_dropout_prob": 0.1,
    "hidden_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
    "type_vocab_size": 1,
}

CONFIGS = {
    "small": dict(BASE_CONFIG, vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=128, max_position_embeddings=66,
                  layer_norm_eps=1e-5),
    "e5-small": dict(BASE_CONFIG, vocab_size=250002, hidden_size=384, num_hidden_layers=12,
                     num_attention_heads=12, intermediate_size=1536,
                     max_position_embeddings=514, layer_norm_eps=1e-12),
}
SEEDS = {"small": 20261201, "e5-small": 20261202}

# Token ids for the tests: <s> 0, <pad> 1, </s> 2, <unk> 3 as in XLM-R; the others are random.
BOS, PAD, EOS = 0, 1, 2


def sequences(name):
    """The id sequences run through transformers and through ours, as one right-padded batch.
    small: the longest row uses every position (64 = max_position_embeddings - 2); one row
    holds the pad id as a real (attended) token, which transformers gives position padding_idx
    without counting it. e5-small: 512 tokens (the limit) next to short rows."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(SEEDS[name] + 1)
    lengths = {"small": [64, 3, 17, 40], "e5-small": [512, 7, 130, 256]}[name]
    rows = []
    for n in lengths:
        mid = rng.integers(4, cfg["vocab_size"], size=n - 2).tolist()
        rows.append([BOS] + mid + [EOS])
    if name == "small":
        rows[2][5] = PAD
    return rows


def weights(name):
    """[(tensor name, float32 array)] in file order, as XLMRobertaModel names them."""
    c = CONFIGS[name]
    rng = np.random.default_rng(SEEDS[name])
    H, I = c["hidden_size"], c["intermediate_size"]

    def normal(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std))

    def linear(prefix, out_dim, in_dim, std=None):
        std = 0.5 / np.sqrt(in_dim) if std is None else std
        return [(prefix + ".weight", normal((out_dim, in_dim), std)),
                (prefix + ".bias", normal((out_dim,), 0.02))]

    def layernorm(prefix):
        return [(prefix + ".weight", np.float32(1) + normal((H,), 0.1)),
                (prefix + ".bias", normal((H,), 0.05))]

    out = [("embeddings.word_embeddings.weight", normal((c["vocab_size"], H), 0.02)),
           ("embeddings.position_embeddings.weight",
            normal((c["max_position_embeddings"], H), 0.02)),
           ("embeddings.token_type_embeddings.weight", normal((c["type_vocab_size"], H), 0.02))]
    out += layernorm("embeddings.LayerNorm")
    qk_std = 1.4 / np.sqrt(H)
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        out += linear(p + "attention.self.query", H, H, qk_std)
        out += linear(p + "attention.self.key", H, H, qk_std)
        out += linear(p + "attention.self.value", H, H)
        out += linear(p + "attention.output.dense", H, H)
        out += layernorm(p + "attention.output.LayerNorm")
        out += linear(p + "intermediate.dense", I, H)
        out += linear(p + "output.dense", H, I)
        out += layernorm(p + "output.LayerNorm")
    out += linear("pooler.dense", H, H)   # saved by XLMRobertaModel; not part of the output
    return out


def write_safetensors(path, tensors):
    """Write [(name, float32 array)] as a safetensors file; returns its sha256 (hex). The bytes
    depend only on the tensors (fixed key order, header padded to 8 bytes)."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, arr in tensors:
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    sha = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in (struct.pack("<Q", len(h)), h):
            f.write(chunk)
            sha.update(chunk)
        for _, arr in tensors:
            b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
            f.write(b)
            sha.update(b)
    return sha.hexdigest()


def tokenizer_json():
    """A small WordPiece tokenizer.json with XLM-R's special tokens at their ids. The tests feed
    token ids directly; this only makes the directory a complete model directory."""
    vocab = {"<s>": BOS, "<pad>": PAD, "</s>": EOS, "<unk>": 3}
    for i, w in enumerate(["hello", "world", "hallo", "welt", "bonjour", "monde"]):
        vocab[w] = 4 + i
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None, "decoder": None,
        "model": {"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def write_model(name, directory, prefix="", config_overrides=None):
    """Write config.json, tokenizer.json and model.safetensors for configuration @name into
    @directory; returns the safetensors sha256."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cfg = dict(CONFIGS[name], **(config_overrides or {}))
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    (d / "tokenizer.json").write_text(json.dumps(tokenizer_json()) + "\n", encoding="utf-8")
    return write_safetensors(d / "model.safetensors",
                             [(prefix + n, a) for n, a in weights(name)])


def stored_positions(n):
    """Positions of a row of @n tokens whose token states the reference records: all of a short
    row, the first and last 4 of a long one (the full states of 512 x 384 floats would make
    the file large; the pooled vector covers every token)."""
    return list(range(n)) if n <= 16 else list(range(4)) + list(range(n - 4, n))
