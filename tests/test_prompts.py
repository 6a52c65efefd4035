# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prompts through the GStreamer pipeline against sentence-transformers: the stored reference
(tests/data/reference_prompt_embeddings.json, made by tests/make_prompt_reference.py with
sentence-transformers 6.2) must be reproduced with cosine >= 0.9999 for a literal prompt
(textembed prompt=...), an instruction (instruction=...), the prompts a model directory declares
in config_sentence_transformers.json (a copy of the test model with symlinked weights and a
config written here: the default document prompt, and prompt-name=query) and a model whose
pooling leaves the prompt out (include_prompt=false). The chunk text and byte range in the
output stay the source text; the prompt is written once per document. Settings errors are
clear errors. Environment: TE_BUILD_DIR, TE_TEST_MODEL (see conftest.py)."""
import json
import pathlib
import subprocess

import numpy as np
import pytest

from conftest import MODEL, gst_env
from make_prompt_reference import CONFIG_PROMPTS, exclude_prompt_pooling, model_copy

REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "reference_prompt_embeddings.json"
MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def reference():
    with open(REFERENCE, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    assert set(cases) == {"literal", "instruction", "config-document", "config-query", "exclude"}
    return cases


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    return {
        "plain": MODEL,
        "config": model_copy(MODEL, tmp / "config", {
            "config_sentence_transformers.json": json.dumps(CONFIG_PROMPTS)}),
        "exclude": model_copy(MODEL, tmp / "exclude", {
            "1_Pooling/config.json": exclude_prompt_pooling(MODEL)}),
    }


def run_pipeline(tmp_path, texts, model, *props):
    """The texts as a JSON Lines corpus (one document each) through corpussrc ! textembed
    model=@model @props ! embedsink; returns (completed process, output lines)."""
    corpus = tmp_path / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"_id": f"t{i}", "text": t}, ensure_ascii=False) + "\n")
    out = tmp_path / "out.jsonl"
    cmd = ["gst-launch-1.0", "-q", "corpussrc", f"location={corpus}", "!", "textembed",
           f"model={model}", *props, "!", "embedsink", f"location={out}"]
    p = subprocess.run(cmd, env=gst_env(), capture_output=True, text=True, timeout=600)
    lines = []
    if p.returncode == 0:
        with open(out, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
    return p, lines


def check_case(tmp_path, case, model, *props):
    texts = [it["text"] for it in case["items"]]
    p, lines = run_pipeline(tmp_path, texts, model, *props)
    assert p.returncode == 0, p.stderr
    prompts = {ln["doc"]: ln["prompt"] for ln in lines if "prompt" in ln}
    chunks = {ln["doc"]: ln for ln in lines if "embedding" in ln}
    assert len(lines) == 2 * len(texts), "one prompt line and one chunk per document"
    worst = 1.0
    for i, it in enumerate(case["items"]):
        doc = f"t{i}"
        assert prompts[doc] == case["prompt"]
        c = chunks[doc]
        # the output's text and byte range are the source's, without the prompt
        assert c["text"] == it["text"]
        assert (c["start"], c["end"]) == (0, len(it["text"].encode("utf-8")))
        # the encoder saw the prompt's tokens too
        assert c["tokens"] == it["n_tokens"], it["text"]
        got = np.array(c["embedding"], dtype=np.float64)
        ref = np.array(it["embedding"], dtype=np.float64)
        cos = float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)))
        worst = min(worst, cos)
        assert cos >= MIN_COSINE, f"{it['text'][:40]!r}: cosine {cos:.6f}"
    return worst


def test_literal_prompt(tmp_path, reference, model_dirs):
    check_case(tmp_path, reference["literal"], model_dirs["plain"], 'prompt="passage: "')


def test_instruction(tmp_path, reference, model_dirs):
    case = reference["instruction"]
    assert case["prompt"] == f"Instruct: {case['task']}\nQuery: "
    check_case(tmp_path, case, model_dirs["plain"], f'instruction="{case["task"]}"')


def test_config_default_document_prompt(tmp_path, reference, model_dirs):
    # no property: the model's "passage" prompt, as encode_document() picks it
    check_case(tmp_path, reference["config-document"], model_dirs["config"])


def test_config_prompt_name(tmp_path, reference, model_dirs):
    check_case(tmp_path, reference["config-query"], model_dirs["config"], "prompt-name=query")


def test_include_prompt_false(tmp_path, reference, model_dirs):
    worst = check_case(tmp_path, reference["exclude"], model_dirs["exclude"],
                       'prompt="passage: "')
    # the case is not vacuous: pooling the prompt too gives other vectors
    literal = reference["literal"]["items"]
    cos = [np.dot(a["embedding"], b["embedding"])
           for a, b in zip(literal, reference["exclude"]["items"])]
    assert min(cos) < 0.99 and worst >= MIN_COSINE


def test_no_prompt(tmp_path, reference, model_dirs):
    # the test model declares no prompts: no prompt line; an empty prompt overrides a model's
    texts = [it["text"] for it in reference["literal"]["items"][:3]]
    for model, props in ((model_dirs["plain"], ()), (model_dirs["config"], ('prompt=""',))):
        p, lines = run_pipeline(tmp_path, texts, model, *props)
        assert p.returncode == 0, p.stderr
        assert len(lines) == len(texts) and all("embedding" in ln for ln in lines)


@pytest.mark.parametrize("props,message", [
    (("prompt-name=nope",), 'no prompt named "nope"'),
    (('prompt="x: "', "prompt-name=query"), "only one of"),
    (("max-tokens=8", 'prompt="one two three four five six seven: "'), "leave no room"),
])
def test_settings_errors(tmp_path, model_dirs, props, message):
    p, _ = run_pipeline(tmp_path, ["some text"], model_dirs["config"], *props)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr


def test_prompt_is_part_of_the_identity(tmp_path):
    """The store records the prompt once per document, and a rerun with another prompt re-embeds
    (the resume query compares identities); the same prompt again changes nothing."""
    from test_corpus import documents, ingest, summary
    src = tmp_path / "corpus"
    src.mkdir()
    for i in range(3):
        (src / f"d{i}.txt").write_text(f"Document number {i}. It has two sentences.\n")
    store = tmp_path / "s.sqlite"
    opts = ("--backend", "null")
    s = summary(ingest(src, store, *opts))
    assert (s["embedded"], s["unchanged"]) == (3, 0)
    assert all(d["prompt"] is None for d in documents(store).values())
    s = summary(ingest(src, store, *opts))
    assert (s["embedded"], s["unchanged"]) == (0, 3)
    s = summary(ingest(src, store, *opts, "--prompt", "passage: "))
    assert (s["embedded"], s["unchanged"]) == (3, 0)
    docs = documents(store)
    assert all(d["prompt"] == "passage: " for d in docs.values())
    # the identity names the prompt, escaped as a C string
    assert all(d["model"].endswith(',prompt="passage: "') for d in docs.values()), docs
    s = summary(ingest(src, store, *opts, "--prompt", "passage: "))
    assert (s["embedded"], s["unchanged"]) == (0, 3)
    s = summary(ingest(src, store, *opts, "--instruction", "Find it"))
    assert (s["embedded"], s["unchanged"]) == (3, 0)
    docs = documents(store)
    assert all(d["prompt"] == "Instruct: Find it\nQuery: " for d in docs.values())
    assert all(d["model"].endswith(r',prompt="Instruct: Find it\nQuery: "')
               for d in docs.values()), docs


def test_include_prompt_is_part_of_the_identity(tmp_path, model_dirs):
    """The same model files with 1_Pooling include_prompt=false give other vectors: a store
    embedded with the prompt pooled re-embeds, and the identity says so."""
    from test_corpus import documents, ingest, summary
    src = tmp_path / "corpus"
    src.mkdir()
    for i in range(2):
        (src / f"d{i}.txt").write_text(f"Document number {i}. It has two sentences.\n")
    store = tmp_path / "s.sqlite"
    opts = ("--backend", "null", "--prompt", "passage: ")
    s = summary(ingest(src, store, "--model", str(model_dirs["plain"]), *opts))
    assert (s["embedded"], s["unchanged"]) == (2, 0)
    assert not any("exclude-prompt" in d["model"] for d in documents(store).values())
    s = summary(ingest(src, store, "--model", str(model_dirs["exclude"]), *opts))
    assert (s["embedded"], s["unchanged"]) == (2, 0)
    docs = documents(store)
    assert all(";pooling=mean,exclude-prompt;" in d["model"] for d in docs.values()), docs
    s = summary(ingest(src, store, "--model", str(model_dirs["exclude"]), *opts))
    assert (s["embedded"], s["unchanged"]) == (0, 2)


@pytest.mark.parametrize("case,model", [("literal", "plain"), ("exclude", "exclude"),
                                        ("config-query", "config")])
def test_te_embed_prompt(reference, model_dirs, case, model):
    """The core path (te-embed; te-search embeds queries the same way): --prompt prepends, and a
    model with include_prompt=false pools without the prompt's tokens."""
    from conftest import BUILD
    items = reference[case]["items"]
    stdin = "".join(json.dumps(it["text"], ensure_ascii=False) + "\n" for it in items)
    p = subprocess.run([str(BUILD / "tools" / "te-embed"), "--model", str(model_dirs[model]),
                        "--prompt", reference[case]["prompt"], "--batch", "4"],
                       input=stdin.encode("utf-8"), capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr.decode()
    got = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(got) == len(items)
    for g, it in zip(got, items):
        g, ref = np.array(g), np.array(it["embedding"])
        cos = float(g @ ref / (np.linalg.norm(g) * np.linalg.norm(ref)))
        assert cos >= MIN_COSINE, f"{it['text'][:40]!r}: cosine {cos:.6f}"
