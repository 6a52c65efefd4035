#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/fuzz-seeds.py OUT — generate what the libFuzzer targets in tests/fuzz start from (nothing
# of it is committed; tools/fuzz.sh puts it in the fuzzing build directory):
#   OUT/tokenizers/*.json   valid tokenizer.json files the encode target runs, one per tokenizer
#                           type or variant (the default model's WordPiece vocabulary with the
#                           normaliser / pre-tokeniser / post-processor / added-token variants
#                           tests/test_tokenizer.py compares with HF; a new tokenizer type is one
#                           more entry in tokenizer_variants())
#   OUT/tiny-model/         a tiny BERT directory (tokenizer.json, model.safetensors) whose files
#                           the model-config target pairs with fuzzed JSON
#   OUT/corpus/<target>/    seed inputs per target: valid and mutated tokenizer.json files,
#                           config.json sets, small safetensors (F32/F16/BF16/I64 and broken
#                           ones), texts in several scripts and invalid UTF-8 with chunker headers.
# Deterministic (fixed seeds); the default model comes from $TE_TEST_MODEL.
import copy
import json
import os
import random
import struct
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import test_tokenizer  # noqa: E402  (VARIANTS, random_strings, the text corpus)
import multilingual  # noqa: E402  (the XLM-R-shaped Unigram tokenizer and its variants)

TINY = dict(vocab=320, hidden=8, layers=1, heads=2, inter=16, max_pos=40, types=2)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def dump(obj):
    return json.dumps(obj, ensure_ascii=False)


# ---- tokenizers ----

def tokenizer_variants(base):
    """name -> parsed tokenizer.json: the model's own and each test variant of it."""
    out = {"wordpiece-model": copy.deepcopy(base)}
    for name, edit in sorted(test_tokenizer.VARIANTS.items()):
        j = copy.deepcopy(base)
        edit(j)
        out["wordpiece-" + name] = j
    return out


def unigram_variants(work, text_list, vocab_size):
    """name -> parsed tokenizer.json: an XLM-R-shaped Unigram tokenizer (SentencePiece trained on
    @text_list, converted by transformers) in each shape tests/test_unigram.py checks, and one
    with byte fallback."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = multilingual.train_tokenizer(work, text_list, vocab_size, name="xlmr",
                                        hard_vocab_limit=False)
    out = {"unigram-" + k: v for k, v in multilingual.variants(base).items()}
    bf = json.loads(multilingual.train_tokenizer(
        work, text_list, vocab_size, byte_fallback=True, name="xlmr-bf",
        hard_vocab_limit=False).read_text(encoding="utf-8"))
    bf["model"]["byte_fallback"] = True
    out["unigram-bytefallback"] = bf
    return out


def trimmed(base, n):
    """The tokenizer with only the first @n vocabulary ids (specials included): small seeds."""
    j = copy.deepcopy(base)
    vocab = j["model"]["vocab"]
    keep = {t: i for t, i in vocab.items() if i < n}
    for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]:
        keep.setdefault(t, vocab[t])
    # renumber densely so every added token's id stays inside the small vocabulary
    order = sorted(keep, key=lambda t: keep[t])
    new = {t: i for i, t in enumerate(order)}
    j["model"]["vocab"] = new
    j["added_tokens"] = [dict(a, id=new[a["content"]]) for a in j["added_tokens"]
                         if a["content"] in new]
    pp = j.get("post_processor")
    if pp and pp.get("type") == "TemplateProcessing":
        for v in pp["special_tokens"].values():
            v["ids"] = [new[t] for t in v["tokens"]]
    j["truncation"] = None
    j["padding"] = None
    return j


def mutations(j, rng):
    """Broken or odd tokenizer.json texts derived from a valid one."""
    s = dump(j)
    out = [s[: len(s) // 2], s + "x", s.replace('"WordPiece"', '"BPE"'),
           s.replace('"WordPiece"', '"Unigram"'), s.replace('"vocab"', '"vocab_"'),
           s.replace("[UNK]", "[UNK2]"), "[]", "{}", "null", '{"model": {}}', "[" * 5000]
    for key in ["normalizer", "pre_tokenizer", "post_processor", "model", "added_tokens"]:
        k = copy.deepcopy(j)
        k.pop(key, None)
        out.append(dump(k))
        for bad in [1, "x", [], {"type": 7}, {"type": "Nope"}]:
            k = copy.deepcopy(j)
            k[key] = bad
            out.append(dump(k))
    k = copy.deepcopy(j)
    k["model"]["vocab"]["dup"] = 0
    out.append(dump(k))
    k = copy.deepcopy(j)
    k["model"]["vocab"]["big"] = 2**31 - 1
    out.append(dump(k))
    k = copy.deepcopy(j)
    k["model"]["vocab"]["neg"] = -1
    out.append(dump(k))
    k = copy.deepcopy(j)
    k["added_tokens"].append({"id": 10**9, "content": "", "special": True})
    out.append(dump(k))
    for _ in range(20):                      # random byte flips
        b = bytearray(s.encode())
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


# ---- safetensors ----

def safetensors(tensors, meta=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def to_dtype(a, dtype):
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":                      # round to nearest even on the top 16 bits
        u = a.view(np.uint32).astype(np.uint64)
        return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()
    raise ValueError(dtype)


def tiny_bert(rng, dtype="F32", prefix=""):
    t = TINY
    h, i = t["hidden"], t["inter"]
    shapes = {"embeddings.word_embeddings.weight": (t["vocab"], h),
              "embeddings.position_embeddings.weight": (t["max_pos"], h),
              "embeddings.token_type_embeddings.weight": (t["types"], h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,)}
    for l in range(t["layers"]):
        p = f"encoder.layer.{l}."
        for m in ["query", "key", "value"]:
            shapes[p + f"attention.self.{m}.weight"] = (h, h)
            shapes[p + f"attention.self.{m}.bias"] = (h,)
        shapes.update({p + "attention.output.dense.weight": (h, h),
                       p + "attention.output.dense.bias": (h,),
                       p + "attention.output.LayerNorm.weight": (h,),
                       p + "attention.output.LayerNorm.bias": (h,),
                       p + "intermediate.dense.weight": (i, h), p + "intermediate.dense.bias": (i,),
                       p + "output.dense.weight": (h, i), p + "output.dense.bias": (h,),
                       p + "output.LayerNorm.weight": (h,), p + "output.LayerNorm.bias": (h,)})
    nprng = np.random.default_rng(rng.randrange(2**32))
    return safetensors([(prefix + n, dtype, s, to_dtype(nprng.normal(0, 0.1, s), dtype))
                        for n, s in shapes.items()], meta={"format": "pt"})


def safetensors_seeds(rng):
    nprng = np.random.default_rng(7)
    out = []
    for dt in ["F32", "F16", "BF16"]:
        out.append(safetensors([("a", dt, (2, 3), to_dtype(nprng.normal(size=(2, 3)), dt)),
                                ("b", dt, (4,), to_dtype([0, -0.0, np.inf, np.nan], dt)),
                                ("s", dt, (), to_dtype(1.5, dt))]))
    out.append(safetensors([("ids", "I64", (3,), np.arange(3, dtype="<i8").tobytes()),
                            ("q", "Q4", (4,), b"\x01\x02"), ("z", "F32", (0, 5), b"")]))
    out.append(safetensors([]))
    out.append(safetensors([("a", "F32", (2,), b"\0" * 8)], meta={"k": "v"}))
    good = safetensors([("a", "F32", (2, 2), b"\0" * 16), ("b", "F16", (2,), b"\0" * 4)])
    out += [good[:7], good[:20], good[:-1], struct.pack("<Q", 2**63) + good[8:],
            struct.pack("<Q", 3) + b"{}\0", good.replace(b'"F32"', b'"F64"'),
            good.replace(b"[2, 2]", b"[2, 3]"), good.replace(b"[0, 16]", b"[8, 24]"),
            good.replace(b"[2, 2]", b"[4294967296, 4294967296]"),
            good.replace(b'"shape"', b'"shape_"')]
    tiny = tiny_bert(rng)
    out.append(tiny[: min(len(tiny), 3000)])
    return out


# ---- model configs (the model-config target: config.json NUL modules.json NUL ...) ----

def config_seeds(real_dir):
    t = TINY
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": t["vocab"],
           "hidden_size": t["hidden"], "num_hidden_layers": t["layers"],
           "num_attention_heads": t["heads"], "intermediate_size": t["inter"],
           "max_position_embeddings": t["max_pos"], "type_vocab_size": t["types"],
           "hidden_act": "gelu", "layer_norm_eps": 1e-12,
           "position_embedding_type": "absolute"}
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize"}]
    sbert = {"max_seq_length": 32, "do_lower_case": False}
    pool = {"word_embedding_dimension": t["hidden"], "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False}

    def join(*parts):
        return b"\0".join(dump(p).encode() if not isinstance(p, (bytes, str)) else
                          (p.encode() if isinstance(p, str) else p) for p in parts)

    out = [join(cfg), join(cfg, modules, sbert, pool), join(cfg, modules),
           join(cfg, b"", sbert), join(cfg, b"", b"", pool)]
    for key in cfg:
        c = dict(cfg)
        del c[key]
        out.append(join(c))
        c = dict(cfg)
        c[key] = "x" if isinstance(cfg[key], (int, float)) else 7
        out.append(join(c))
    for key, bad in [("hidden_size", 9), ("num_attention_heads", 3), ("vocab_size", 10),
                     ("vocab_size", 2**40), ("layer_norm_eps", 2.0), ("model_type", "roberta"),
                     ("hidden_act", "relu"), ("num_hidden_layers", 2), ("max_position_embeddings", 0)]:
        c = dict(cfg, **{key: bad})
        out.append(join(c, modules, sbert, pool))
    for p in [dict(pool, pooling_mode_cls_token=True), dict(pool, pooling_mode_mean_tokens=False),
              dict(pool, pooling_mode_lasttoken=True), dict(pool, word_embedding_dimension=4)]:
        out.append(join(cfg, modules, sbert, p))
    for m in [[{"type": "sentence_transformers.models.Pooling", "path": "../x"}],
              [{"type": "sentence_transformers.models.Dense", "path": "2"}], [7], {}]:
        out.append(join(cfg, m))
    out.append(join(cfg, modules, {"max_seq_length": 10**6}))
    out.append(join(cfg, modules, {"max_seq_length": -1}))
    real = []
    for name in ["config.json", "modules.json", "sentence_bert_config.json",
                 "1_Pooling/config.json"]:
        f = Path(real_dir) / name
        real.append(f.read_bytes() if f.exists() else b"")
    out.append(b"\0".join(real))
    return out


# ---- texts ----

def texts(rng):
    out = [t for t in test_tokenizer.load_corpus()]
    out += test_tokenizer.random_strings(150, seed=4242)
    out += ["", " ", "\n\n", "a" * 600, "中" * 300, "Para one.\n\nPara two. Sentence three! Four?",
            "\u0301" * 50, "\ufeff" + "x", "\u3000\u3000end"]
    return [t.encode("utf-8") for t in out]


def invalid_texts(rng):
    bad = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80",
           b"\xf0\x9f\x98", b"\xc3"]
    out = []
    for t in texts(rng)[:80]:
        pos = rng.randint(0, len(t))
        out.append(t[:pos] + rng.choice(bad) + t[pos:])
    out += bad
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fuzz-seeds.py OUTDIR")
    out = Path(sys.argv[1])
    model = os.environ.get("TE_TEST_MODEL")
    if not model:
        sys.exit("TE_TEST_MODEL must name the default model directory")
    rng = random.Random(20261201)
    base = json.loads((Path(model) / "tokenizer.json").read_text(encoding="utf-8"))
    base["padding"] = None
    base["truncation"] = None

    for name, j in tokenizer_variants(base).items():
        write(out / "tokenizers" / f"{name}.json", dump(j))
    train = [t.decode("utf-8") for t in texts(rng)]
    unigram = unigram_variants(out / "spm", train, 3000)
    for name, j in unigram.items():
        write(out / "tokenizers" / f"{name}.json", dump(j))

    small = trimmed(base, TINY["vocab"] - 8)
    write(out / "tiny-model" / "tokenizer.json", dump(small))
    write(out / "tiny-model" / "model.safetensors", tiny_bert(rng))

    corpus = out / "corpus"
    seeds = {name: [] for name in ["tokenizer-load", "tokenizer-encode", "model-config",
                                   "safetensors", "chunker", "late-chunking"]}
    # (a vocabulary of a few dozen entries keeps these seeds near 3 KB: a fast target)
    smaller = trimmed(base, 40)
    for name, j in tokenizer_variants(smaller).items():
        seeds["tokenizer-load"].append(dump(j).encode())
    for name, j in unigram.items():          # vocabularies cut to 60 pieces: small seeds
        j = copy.deepcopy(j)
        j["model"]["vocab"] = j["model"]["vocab"][:60]
        if j["model"].get("unk_id") is not None and j["model"]["unk_id"] >= 60:
            j["model"]["unk_id"] = 3
        seeds["tokenizer-load"].append(dump(j).encode())
    seeds["tokenizer-load"] += [m if isinstance(m, bytes) else m.encode()
                                for m in mutations(smaller, rng)]
    n_tok = len(list((out / "tokenizers").glob("*.json")))
    all_texts = texts(rng) + invalid_texts(rng)
    for i, t in enumerate(all_texts):
        seeds["tokenizer-encode"].append(bytes([i % n_tok]) + t)
        hdr = bytes([rng.randrange(256) for _ in range(4)])
        seeds["chunker"].append(hdr + t)
        seeds["late-chunking"].append(hdr[:2] + t)
    long = "\n\n".join(t.decode() for t in texts(rng)[:60]).encode()
    for b0 in range(8):
        seeds["chunker"].append(bytes([b0, rng.randrange(256), rng.randrange(256),
                                       rng.randrange(256)]) + long[:3000])
        seeds["late-chunking"].append(bytes([b0 * 9 % 256, rng.randrange(256)]) + long[:1500])
    seeds["model-config"] = config_seeds(model)
    seeds["safetensors"] = safetensors_seeds(rng)
    for target, items in seeds.items():
        d = corpus / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for i, data in enumerate(items):
            (d / f"seed-{i:04d}").write_bytes(data)
    print(f"fuzz-seeds: {n_tok} tokenizers, seeds: "
          + ", ".join(f"{k} {len(v)}" for k, v in seeds.items()))


if __name__ == "__main__":
    main()
