# SPDX-License-Identifier: LGPL-2.1-or-later
# test_multilingual_pipeline.py — an XLM-RoBERTa model with a Unigram tokenizer through the whole
# GStreamer pipeline on a multilingual document (filesrc ! textchunker ! texttokenizer !
# npuencoder ! embedpooler ! embedsink):
#   - the chunks cover the document's bytes in order and each fits the model's limit as HF
#     `tokenizers` counts it;
#   - the model's E5 prompts (config_sentence_transformers.json) apply: "passage: " is recorded
#     once for the document and its tokens count inside the limit;
#   - every chunk's vector equals the encoder run on HF's token ids of prompt + chunk (te-embed
#     --ids; the encoder itself is checked against transformers in test_xlmr.py, the tokenizer
#     against HF in test_unigram.py).
# The tokenizer is the one trained at test time (test_unigram's data), the weights are random
# (tests/xlmr_models.py).
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import xlmr_models  # noqa: E402
from test_unigram import build_dir, data  # noqa: E402,F401  (the data fixture)

MAX_TOKENS = 96
PROMPT = "passage: "


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    out, _ = data
    tok_json = out / "tokenizer-hub.json"
    n_vocab = tokenizers.Tokenizer.from_file(str(tok_json)).get_vocab_size()
    xlmr_models.CONFIGS["ml"] = dict(xlmr_models.CONFIGS["small"], vocab_size=n_vocab,
                                     max_position_embeddings=MAX_TOKENS + 2 + 32)
    xlmr_models.SEEDS["ml"] = 20261203
    d = tmp_path_factory.mktemp("xlmr-unigram")
    xlmr_models.write_model("ml", d)
    (d / "tokenizer.json").write_bytes(tok_json.read_bytes())
    # E5's prompts, as multilingual-e5 declares them: the chunker takes "passage: " by default
    (d / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None}))
    return d


@pytest.fixture(scope="module")
def document(data, tmp_path_factory):
    _, rows = data
    by_script = {}
    for r in rows:
        by_script.setdefault(r["script"], []).append(r["text"])
    paras = []
    for i in range(40):
        for s in sorted(by_script):
            if s == "controls":
                continue
            paras.append(" ".join(by_script[s][i * 3:(i + 1) * 3]))
    path = tmp_path_factory.mktemp("doc") / "multilingual.txt"
    path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return path


def test_pipeline_matches_encoder_on_hf_ids(model, document, tmp_path):
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, GST_PLUGIN_PATH=str(build_dir() / "plugin"))
    p = subprocess.run(
        ["gst-launch-1.0", "-q", "filesrc", f"location={document}", "!",
         "textchunker", f"model={model}", f"max-tokens={MAX_TOKENS}", "!",
         "texttokenizer", f"model={model}", "!", "npuencoder", f"model={model}", "!",
         "embedpooler", f"model={model}", "!", "embedsink", f"location={out}"],
        env=env, capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").split("\n") if l]
    chunks = [r for r in rows if "embedding" in r]
    assert len(chunks) > 20
    prompts = [r["prompt"] for r in rows if "prompt" in r]
    assert prompts == [PROMPT], f"the document's prompt line: {prompts}"

    raw = document.read_bytes()
    pos = 0
    for c in chunks:
        assert c["start"] >= pos, "chunks out of order or overlapping"
        assert raw[pos:c["start"]].decode("utf-8").strip() == "", "text skipped between chunks"
        assert raw[c["start"]:c["end"]].decode("utf-8") == c["text"]
        pos = c["end"]
    assert raw[pos:].decode("utf-8").strip() == ""

    hf = tokenizers.Tokenizer.from_file(str(model / "tokenizer.json"))
    hf.no_truncation()
    encs = hf.encode_batch([PROMPT + c["text"] for c in chunks])
    for c, e in zip(chunks, encs):
        assert len(e.ids) <= MAX_TOKENS, f"chunk of {len(e.ids)} tokens > {MAX_TOKENS}"
        assert c["tokens"] == len(e.ids)
    stdin = "".join(json.dumps(e.ids) + "\n" for e in encs)
    te = subprocess.run([str(build_dir() / "tools" / "te-embed"), "--model", str(model), "--ids"],
                        input=stdin.encode(), capture_output=True, timeout=600)
    assert te.returncode == 0, te.stderr.decode()
    ref = [json.loads(l) for l in te.stdout.decode().split("\n") if l]
    assert len(ref) == len(chunks)
    worst = 1.0
    for c, r in zip(chunks, ref):
        a = np.asarray(c["embedding"], dtype=np.float64)
        b = np.asarray(r["embedding"] if isinstance(r, dict) else r, dtype=np.float64)
        worst = min(worst, float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    print(f"{len(chunks)} chunks, min cosine pipeline vs encoder on HF ids: {worst:.7f}")
    assert worst >= 0.9999
