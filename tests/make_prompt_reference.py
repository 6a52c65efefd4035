#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate tests/data/reference_prompt_embeddings.json: sentence-transformers embeddings of
texts encoded with prompts (all-MiniLM-L6-v2), the ground truth tests/test_prompts.py compares
the textembed pipeline with. Four cases:

  literal      encode(texts, prompt="passage: ")
  instruction  encode(texts, prompt="Instruct: <task>\\nQuery: ")
  config       a copy of the model directory with a config_sentence_transformers.json declaring
               "query" and "passage" prompts: encode_document(texts, prompt_name="passage")
               (textchunker's default for such a model; sentence-transformers 6.2's own
               encode_document() default is its pre-filled empty "document" prompt) and
               encode_query(texts)
  exclude      a copy whose 1_Pooling/config.json says include_prompt=false:
               encode(texts, prompt="passage: ")

The copies (symlinks to every file but the one rewritten) are made here the same way the test
makes them (CONFIG_PROMPTS, exclude_prompt_pooling). Needs sentence-transformers and torch (the
.venv-peer of bench/setup-peer.sh); CI does not, hence the stored output. Runs offline:

    .venv-peer/bin/python tests/make_prompt_reference.py --model DIR [--out FILE]
"""
import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_reference import MODEL_NAME, TEXTS  # noqa: E402

# A spread of the reference texts: short, long, accents, Cyrillic, CJK, Hangul, emoji, code.
PROMPT_TEXTS = [TEXTS[i] for i in (0, 1, 3, 7, 11, 12, 14, 16, 21, 24, 27, len(TEXTS) - 1)]
TASK = "Given a web search query, retrieve relevant passages that answer the query"
CONFIG_PROMPTS = {"prompts": {"query": "query: ", "passage": "passage: "},
                  "default_prompt_name": None}


def model_copy(src, dst, rewrite):
    """Symlink every entry of model directory @src into @dst, except the relative paths in
    @rewrite (path -> text), which are written."""
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    dst.mkdir(parents=True)
    for entry in src.iterdir():
        if entry.name == "1_Pooling" and "1_Pooling/config.json" in rewrite:
            continue
        if entry.name in rewrite:
            continue
        (dst / entry.name).symlink_to(entry.resolve())
    for rel, text in rewrite.items():
        path = dst / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return dst


def exclude_prompt_pooling(src):
    """1_Pooling/config.json of @src with include_prompt set to false."""
    cfg = json.loads((pathlib.Path(src) / "1_Pooling" / "config.json").read_text())
    cfg["include_prompt"] = False
    return json.dumps(cfg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 model directory")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "data" /
                                         "reference_prompt_embeddings.json"))
    args = ap.parse_args()

    import numpy
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    tmp = tempfile.TemporaryDirectory()
    plain = SentenceTransformer(args.model, device="cpu")
    config_dir = model_copy(args.model, pathlib.Path(tmp.name) / "config",
                            {"config_sentence_transformers.json": json.dumps(CONFIG_PROMPTS)})
    with_config = SentenceTransformer(str(config_dir), device="cpu")
    exclude_dir = model_copy(args.model, pathlib.Path(tmp.name) / "exclude",
                             {"1_Pooling/config.json": exclude_prompt_pooling(args.model)})
    excluding = SentenceTransformer(str(exclude_dir), device="cpu")
    assert not excluding[1].include_prompt
    instruct = f"Instruct: {TASK}\nQuery: "

    def run(model, fn, prompt, prompt_name=None):
        kw = {"batch_size": 1, "convert_to_numpy": True, "normalize_embeddings": False,
              "show_progress_bar": False}
        if prompt is not None:
            kw["prompt"] = prompt
        if prompt_name is not None:
            kw["prompt_name"] = prompt_name
        with torch.no_grad():
            emb = getattr(model, fn)(PROMPT_TEXTS, **kw)
        seen = prompt if prompt is not None else model.prompts[prompt_name or "query"]
        return [{"text": t, "n_tokens": len(model.tokenizer(seen + t)["input_ids"]),
                 "embedding": [float(f"{x:.8g}") for x in e.tolist()]}
                for t, e in zip(PROMPT_TEXTS, emb)]

    cases = {
        "literal": {"prompt": "passage: ", "items": run(plain, "encode", "passage: ")},
        "instruction": {"prompt": instruct, "task": TASK,
                        "items": run(plain, "encode", instruct)},
        "config-document": {"prompt": "passage: ", "config": CONFIG_PROMPTS,
                            "items": run(with_config, "encode_document", None, "passage")},
        "config-query": {"prompt": "query: ", "config": CONFIG_PROMPTS,
                         "items": run(with_config, "encode_query", None)},
        "exclude": {"prompt": "passage: ", "include_prompt": False,
                    "items": run(excluding, "encode", "passage: ")},
    }
    doc = {
        "model": MODEL_NAME,
        "generated_with": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": numpy.__version__,
            "python": platform.python_version(),
        },
        "normalized": True,
    }
    out = pathlib.Path(args.out)
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, ensure_ascii=False)[:-1] + ', "cases": {\n')
        parts = []
        for name, case in cases.items():
            head = {k: v for k, v in case.items() if k != "items"}
            parts.append(json.dumps(name) + ": " + json.dumps(head, ensure_ascii=False)[:-1]
                         + ', "items": [\n'
                         + ",\n".join(json.dumps(it, ensure_ascii=False, separators=(",", ":"))
                                      for it in case["items"]) + "\n]}")
        f.write(",\n".join(parts))
        f.write("\n}}\n")
    json.loads(out.read_text(encoding="utf-8"))
    print(f"wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
