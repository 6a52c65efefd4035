# SPDX-License-Identifier: LGPL-2.1-or-later
# test_unigram.py — the Unigram tokenizer of the XLM-RoBERTa family (Precompiled normaliser,
# Replace, Strip, Metaspace, WhitespaceSplit, Unigram with and without byte fallback,
# TemplateProcessing / RobertaProcessing) against Hugging Face `tokenizers`: ids and offsets
# must be identical on a corpus of 12+ scripts built from Debian's message catalogues, on
# random strings and on every code point. The tokenizers are trained here (SentencePiece) and
# converted by transformers (tests/multilingual.py); nothing is downloaded.
import collections
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import multilingual  # noqa: E402

VARIANTS = ["converted", "hub", "roberta", "strip", "first-split1", "never-split0", "literal",
            "bytefallback", "nmt-nfkc"]
MIN_SCRIPTS = 12


def build_dir():
    b = Path(os.environ.get("TE_BUILD_DIR", REPO / "build"))
    return b if b.is_absolute() else REPO / b


@pytest.fixture(scope="module")
def te_tokenize():
    exe = build_dir() / "tools" / "te-tokenize"
    assert exe.is_file(), f"{exe} not built"
    return exe


@pytest.fixture(scope="module")
def data():
    """Corpus and tokenizer variants, generated once per build directory."""
    out = build_dir() / "unigram-data"
    stamp = out / "done"
    generator = REPO / "tests" / "multilingual.py"
    version = hashlib.sha256(generator.read_bytes()).hexdigest() + "\n"
    if not stamp.exists() or stamp.read_text() != version:
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
        subprocess.run([sys.executable, str(generator), str(out)],
                       check=True, env=env, capture_output=True)
        stamp.write_text(version)
    rows = [json.loads(l) for l in (out / "corpus.jsonl").read_text(encoding="utf-8").split("\n") if l]
    return out, rows


def run_ours(exe, tok_json, texts, special=True):
    args = [str(exe), str(tok_json), "--json-lines"] + ([] if special else ["--no-special"])
    stdin = "".join(json.dumps(t) + "\n" for t in texts).encode("ascii")
    p = subprocess.run(args, input=stdin, capture_output=True)
    assert p.returncode == 0, f"te-tokenize failed: {p.stderr.decode()[:2000]}"
    lines = p.stdout.decode().splitlines()
    assert len(lines) == len(texts)
    return [json.loads(l) for l in lines]


def run_hf(tok_json, texts, special=True):
    hf = tokenizers.Tokenizer.from_file(str(tok_json))
    hf.no_truncation()
    hf.no_padding()
    out = []
    for text, enc in zip(texts, hf.encode_batch(texts, add_special_tokens=special)):
        cum = [0]
        for ch in text:
            cum.append(cum[-1] + len(ch.encode("utf-8")))
        out.append({"ids": enc.ids, "type_ids": enc.type_ids,
                    "offsets": [[cum[s], cum[e]] for s, e in enc.offsets],
                    "tokens": enc.tokens})
    return out


def compare(exe, tok_json, texts, labels, special=True):
    """Per-label (matched, total) and the first mismatches, described."""
    ours = run_ours(exe, tok_json, texts, special)
    ref = run_hf(tok_json, texts, special)
    rates = collections.defaultdict(lambda: [0, 0])
    bad = []
    for label, text, o, r in zip(labels, texts, ours, ref):
        rates[label][1] += 1
        if o["ids"] == r["ids"] and o["offsets"] == r["offsets"] and o["type_ids"] == r["type_ids"]:
            rates[label][0] += 1
        elif len(bad) < 5:
            bad.append(f"[{label}] {text[:60]!r}\n  hf  {r['ids'][:24]} {r['offsets'][:8]}\n"
                       f"  our {o['ids'][:24]} {o['offsets'][:8]}\n  tokens {r['tokens'][:16]}")
    return rates, bad, ref


def report(title, rates):
    lines = [f"{title}:"] + [f"  {k:20s} {m}/{t} ({100.0 * m / t:.2f} %)"
                             for k, (m, t) in sorted(rates.items())]
    print("\n".join(lines))


def test_corpus_has_the_scripts(data):
    _, rows = data
    counts = collections.Counter(r["script"] for r in rows)
    base = [s for s in multilingual.SCRIPTS if counts[s] >= 100]
    assert len(base) >= 10, f"too few scripts in the Debian catalogues: {counts}"
    for derived in ("japanese-halfwidth", "fullwidth", "emoji", "nfd", "controls"):
        assert counts[derived] >= 100, f"{derived}: {counts[derived]} texts"
    assert len(base) + 2 >= MIN_SCRIPTS  # + half-width katakana and full-width/emoji sets
    # the derived sets really contain what they are named for
    texts = {r["script"]: r["text"] for r in rows}
    assert any(0xFF61 <= ord(c) <= 0xFF9F for r in rows if r["script"] == "japanese-halfwidth"
               for c in r["text"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_ids_and_offsets_per_script(te_tokenize, data, variant):
    out, rows = data
    tok = out / f"tokenizer-{variant}.json"
    texts = [r["text"] for r in rows]
    labels = [r["script"] for r in rows]
    rates, bad, ref = compare(te_tokenize, tok, texts, labels)
    report(f"{variant}: ids+offsets equal to HF tokenizers", rates)
    assert not bad, "\n".join(bad)
    if variant == "bytefallback":
        n_bytes = sum(t.startswith("<0x") for r in ref for t in r["tokens"])
        assert n_bytes > 100, "the byte-fallback tokenizer produced too few byte tokens"
    if variant in ("converted", "hub"):
        assert sum(3 in r["ids"] for r in ref) > 10, "no unknown pieces were exercised"


@pytest.mark.parametrize("variant", ["converted", "roberta", "strip", "bytefallback",
                                     "nmt-nfkc"])
def test_random_strings(te_tokenize, data, variant):
    out, rows = data
    rng = random.Random(4321)
    pool = sorted({c for r in rows for c in r["text"]})
    extra = [chr(c) for c in range(0, 0x30)] + ["\u0301", "\u0308", "\u200d", "\ufe0f", "\u3099",
                                                "\uff9e", " ", "  ", "\u2581", "<s>", "</s>",
                                                "<unk>", "<mask>", "\U0001F1E6"]
    texts = []
    for i in range(3000):
        n = rng.randrange(1, 40)
        texts.append("".join(rng.choice(pool if rng.random() < 0.7 else extra) for _ in range(n)))
    rates, bad, _ = compare(te_tokenize, out / f"tokenizer-{variant}.json", texts,
                            ["random"] * len(texts))
    report(f"{variant}: random strings", rates)
    assert not bad, "\n".join(bad)
    rates, bad, _ = compare(te_tokenize, out / f"tokenizer-{variant}.json", texts[:500],
                            ["random, no special"] * 500, special=False)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("variant", ["hub", "bytefallback", "nmt-nfkc"])
def test_every_code_point(te_tokenize, data, variant):
    out, _ = data
    cps = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = []
    for i in range(0, len(cps), 64):
        block = "".join(chr(c) for c in cps[i:i + 64])
        texts.append(block)
        texts.append(" ".join(block[:16]) + " a" + block[16:32] + "b  ")
    rates, bad, _ = compare(te_tokenize, out / f"tokenizer-{variant}.json", texts,
                            ["code points"] * len(texts))
    report(f"{variant}: every code point", rates)
    assert not bad, "\n".join(bad)


def test_long_document(te_tokenize, data):
    """A whole multilingual document as one text (the chunker's budget checks encode these)."""
    out, rows = data
    text = "\n".join(r["text"] for r in rows[::7])
    assert len(text.encode()) > 100_000
    rates, bad, _ = compare(te_tokenize, out / "tokenizer-hub.json", [text], ["document"])
    assert not bad, "\n".join(bad)


def bad_tokenizer(data, mutate):
    out, _ = data
    j = json.loads((out / "tokenizer-hub.json").read_text(encoding="utf-8"))
    mutate(j)
    return j


@pytest.mark.parametrize("name,mutate,message", [
    ("prepend", lambda j: j.__setitem__("normalizer", {"type": "Prepend", "prepend": "x"}),
     'normalizer type "Prepend" is not supported'),
    ("split-regex", lambda j: j.__setitem__("pre_tokenizer", {
        "type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated", "invert": False}),
     'regex "(a" does not compile: end pattern with unmatched parenthesis'),
    ("split-behavior", lambda j: j.__setitem__("pre_tokenizer", {
        "type": "Split", "pattern": {"String": "a"}, "behavior": "Sideways", "invert": False}),
     'behavior "Sideways" is not supported'),
    ("split-pattern", lambda j: j.__setitem__("pre_tokenizer", {
        "type": "Split", "pattern": {"String": "a", "Regex": "b"}, "behavior": "Removed"}),
     'exactly one of "String" and "Regex"'),
    ("regex", lambda j: j["normalizer"]["normalizers"][1].__setitem__("pattern", {"Regex": "\\s+"}),
     'regex pattern "\\s+" is not supported'),
    ("charsmap-short", lambda j: j["normalizer"]["normalizers"][0].__setitem__(
        "precompiled_charsmap", "AAA="), "precompiled_charsmap is too short"),
    ("charsmap-trie", lambda j: j["normalizer"]["normalizers"][0].__setitem__(
        "precompiled_charsmap", "/////wAAAAA="), "declares a"),
    ("unk-id", lambda j: j["model"].__setitem__("unk_id", 10 ** 7), "unk_id must be an index"),
    ("vocab-entry", lambda j: j["model"]["vocab"].__setitem__(5, ["x"]), "vocab entry 5 must be"),
    ("scheme", lambda j: j["pre_tokenizer"].__setitem__("prepend_scheme", "sometimes"),
     'prepend_scheme "sometimes" is not supported'),
    ("replacement", lambda j: j["pre_tokenizer"].__setitem__("replacement", "ab"),
     "exactly one character"),
    ("pre-type", lambda j: j.__setitem__("pre_tokenizer", {"type": "ByteLevel"}),
     'pre_tokenizer type "ByteLevel" is not supported'),
])
def test_bad_files_are_clear_errors(te_tokenize, data, tmp_path, name, mutate, message):
    j = bad_tokenizer(data, mutate)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(j), encoding="utf-8")
    p = subprocess.run([str(te_tokenize), str(path)], input=b"hello\n", capture_output=True)
    assert p.returncode != 0 and p.returncode < 128, f"{name}: exit {p.returncode}"
    assert message in p.stderr.decode(), p.stderr.decode()


def test_charsmap_pointing_outside_is_not_a_crash(te_tokenize, data, tmp_path):
    """A trie whose values point past the replacements: no transform (HF would panic)."""
    import base64
    import struct
    out, _ = data
    j = json.loads((out / "tokenizer-converted.json").read_text(encoding="utf-8"))
    raw = bytearray(base64.b64decode(j["normalizer"]["precompiled_charsmap"]))
    (trie_size,) = struct.unpack_from("<I", raw, 0)
    for i in range(4, 4 + trie_size, 4):          # every unit: huge offsets and values
        (u,) = struct.unpack_from("<I", raw, i)
        struct.pack_into("<I", raw, i, u ^ 0x7FFFFC00)
    j["normalizer"]["precompiled_charsmap"] = base64.b64encode(bytes(raw)).decode()
    path = tmp_path / "garbled.json"
    path.write_text(json.dumps(j), encoding="utf-8")
    texts = ["hello wörld", "日本語", "\u00e9\u0301 x", "ｶﾞｷﾞ"]
    ours = run_ours(te_tokenize, path, texts)
    assert all(o["ids"][0] == 0 and o["ids"][-1] == 2 for o in ours)


def test_under_asan(te_tokenize, data):
    """The whole Unigram path under AddressSanitizer + UBSan (tools/test.sh builds build-asan
    before running pytest): every variant over the corpus and random strings, outputs equal to
    the normal build's."""
    asan = REPO / "build-asan" / "tools" / "te-tokenize"
    if not asan.is_file():
        pytest.skip("build-asan/tools/te-tokenize not built (tools/test.sh builds it)")
    out, rows = data
    rng = random.Random(99)
    pool = sorted({c for r in rows for c in r["text"]}) + [chr(c) for c in range(32)]
    texts = [r["text"] for r in rows[::3]] + [
        "".join(rng.choice(pool) for _ in range(rng.randrange(1, 50))) for _ in range(1000)]
    stdin = "".join(json.dumps(t) + "\n" for t in texts).encode("ascii")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               LSAN_OPTIONS=f"suppressions={REPO / 'tests' / 'lsan.supp'}:print_suppressions=0")
    for variant in VARIANTS:
        tok = out / f"tokenizer-{variant}.json"
        a = subprocess.run([str(asan), str(tok), "--json-lines"], input=stdin,
                           capture_output=True, env=env)
        assert a.returncode == 0, f"{variant}: {a.stderr.decode()[-3000:]}"
        b = subprocess.run([str(te_tokenize), str(tok), "--json-lines"], input=stdin,
                           capture_output=True)
        assert a.stdout == b.stdout, f"{variant}: ASan build differs from the normal build"
