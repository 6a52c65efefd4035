# SPDX-License-Identifier: LGPL-2.1-or-later
"""multilingual.py — a multilingual text corpus built at test time from what Debian installs
(the translated message catalogues under /usr/share/locale: glib, GStreamer, iso-codes...), and
an XLM-RoBERTa-shaped tokenizer.json trained on it: SentencePiece Unigram with nmt_nfkc
normalisation, converted by transformers' own slow->fast converter. Nothing here is committed
text; every string comes from the machine.

    python tests/multilingual.py OUT_DIR   # writes corpus.jsonl and the tokenizer variants
"""
import gettext
import glob
import json
import random
import sys
import unicodedata
from pathlib import Path

# script -> locales whose catalogues are written in it
SCRIPTS = {
    "latin": ["fr", "de", "cs", "pl", "vi", "tr", "es", "hu"],
    "cyrillic": ["ru", "uk", "bg", "sr"],
    "greek": ["el"],
    "arabic": ["ar", "fa"],
    "hebrew": ["he"],
    "devanagari": ["hi", "mr", "ne"],
    "thai": ["th"],
    "chinese": ["zh_CN", "zh_TW"],
    "japanese": ["ja"],
    "korean": ["ko"],
}
# catalogues every Debian system with our dependencies has (GStreamer's own, glib's,
# iso-codes'); others are used when present
CATALOGUES = ["gstreamer-1.0", "gst-plugins-base-1.0", "gst-plugins-good-1.0", "glib20",
              "iso_3166-1", "iso_639-2", "iso_15924", "iso_4217", "gtk20", "apt", "dpkg",
              "coreutils", "gdk-pixbuf", "xkeyboard-config", "shared-mime-info"]


def catalogue_strings(locale):
    out = []
    for name in CATALOGUES:
        for path in glob.glob(f"/usr/share/locale/{locale}/LC_MESSAGES/{name}.mo"):
            try:
                with open(path, "rb") as f:
                    cat = gettext.GNUTranslations(f)._catalog
            except Exception:
                continue
            for v in cat.values():
                if isinstance(v, str) and v.strip() and "Content-Type" not in v:
                    out.append(v)
    return out


def halfwidth_katakana(text):
    """Full-width katakana -> half-width forms (the inverse of their NFKC mapping)."""
    inv = {}
    for cp in range(0xFF61, 0xFFA0):
        ch = chr(cp)
        full = unicodedata.normalize("NFKC", ch)
        inv.setdefault(full, ch)
    # voiced kana: NFKC of half-width base + voiced mark composes to the full-width kana
    for cp in range(0x30A1, 0x30FB):
        ch = chr(cp)
        if ch in inv:
            continue
        d = unicodedata.normalize("NFD", ch)
        if len(d) == 2 and d[0] in inv and d[1] in ("\u3099", "\u309a"):
            inv[ch] = inv[d[0]] + ("\uff9e" if d[1] == "\u3099" else "\uff9f")
    return "".join(inv.get(c, c) for c in text)


def fullwidth(text):
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else
                   ("\u3000" if c == " " else c) for c in text)


EMOJI = ([chr(c) for c in range(0x1F600, 0x1F650)] + [chr(c) for c in range(0x1F300, 0x1F340)]
         + ["\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1EB\U0001F1F7",
            "\U0001F44D\U0001F3FD", "\u2764\uFE0F", "#\uFE0F\u20E3", "\U0001F3F3\uFE0F\u200D\U0001F308"])
CONTROLS = ["\t", "\r\n", "\r", "\n", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u200b", "\u200d",
            "\ufeff", "\u00ad", "\u2028", "\u00a0", "\u3000", "  ", "   ", "\u202e", "\ufffd"]


def build_corpus(per_script=1500, seed=1234):
    """[(script, text)]: catalogue strings per script plus the derived sets."""
    rng = random.Random(seed)
    corpus = []
    by_script = {}
    for script, locales in SCRIPTS.items():
        texts = []
        for loc in locales:
            texts += catalogue_strings(loc)
        texts = sorted(set(texts))
        rng.shuffle(texts)
        by_script[script] = texts
        corpus += [(script, t) for t in texts[:per_script]]
    ja = by_script["japanese"]
    corpus += [("japanese-halfwidth", halfwidth_katakana(t)) for t in ja[:per_script // 2]]
    latin = by_script["latin"]
    corpus += [("fullwidth", fullwidth(t)) for t in latin[:per_script // 3]]
    emoji = []
    for t in latin[per_script // 3: per_script // 3 + per_script // 3]:
        words = t.split(" ")
        for _ in range(3):
            words.insert(rng.randrange(len(words) + 1), rng.choice(EMOJI))
        emoji.append(" ".join(words) if rng.random() < 0.5 else "".join(words))
    corpus += [("emoji", t) for t in emoji]
    nfd = []
    for s in ("latin", "korean", "greek", "cyrillic"):
        nfd += [unicodedata.normalize("NFD", t) for t in by_script[s][:per_script // 4]]
    corpus += [("nfd", t) for t in nfd]
    ctrl = []
    for s in SCRIPTS:
        for t in by_script[s][:60]:
            chars = list(t)
            for _ in range(3):
                chars.insert(rng.randrange(len(chars) + 1), rng.choice(CONTROLS))
            ctrl.append("".join(chars))
    corpus += [("controls", t) for t in ctrl]
    return corpus, by_script


def train_tokenizer(out_dir, texts, vocab_size, byte_fallback=False, name="xlmr",
                    hard_vocab_limit=True):
    """SentencePiece Unigram (nmt_nfkc) -> XLM-R tokenizer.json via transformers' converter."""
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    out_dir = Path(out_dir)
    work = out_dir / f"{name}-spm"
    work.mkdir(parents=True, exist_ok=True)
    spm.set_random_generator_seed(1)
    (work / "train.txt").write_text("\n".join(t.replace("\n", " ") for t in texts),
                                    encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(work / "train.txt"), model_prefix=str(work / "sentencepiece.bpe"),
        vocab_size=vocab_size, model_type="unigram", character_coverage=0.9995,
        normalization_rule_name="nmt_nfkc", byte_fallback=byte_fallback,
        hard_vocab_limit=hard_vocab_limit,
        input_sentence_size=40000, shuffle_input_sentence=True, seed_sentencepiece_size=200000,
        num_threads=2, minloglevel=2)
    tok = XLMRobertaTokenizer.from_pretrained(str(work))
    dest = out_dir / name
    tok.save_pretrained(str(dest))
    return dest / "tokenizer.json"


def variants(base_json):
    """tokenizer.json variants of the shapes XLM-R-family files are found in."""
    j = json.loads(Path(base_json).read_text(encoding="utf-8"))
    pre = j["pre_tokenizer"]
    meta = next(p for p in pre["pretokenizers"] if p["type"] == "Metaspace") \
        if pre["type"] == "Sequence" else pre
    out = {"converted": j}

    def clone():
        return json.loads(json.dumps(j))

    # the multilingual-e5 / xlm-roberta hub shape: Precompiled + Replace of space runs,
    # Metaspace alone
    v = clone()
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        j["normalizer"], {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    v["pre_tokenizer"] = dict(meta)
    out["hub"] = v
    # the same with RobertaProcessing
    v = json.loads(json.dumps(out["hub"]))
    v["post_processor"] = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": True}
    out["roberta"] = v
    # the older SpmConverter normaliser: Strip right + Replace of space runs by the metaspace
    v = json.loads(json.dumps(out["hub"]))
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        j["normalizer"], {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]}
    out["strip"] = v
    # prepend schemes, split off
    for scheme, split in (("first", True), ("never", False)):
        v = clone()
        v["pre_tokenizer"] = dict(meta, prepend_scheme=scheme, split=split)
        out[f"{scheme}-split{int(split)}"] = v
    # a literal Replace and legacy add_prefix_space
    v = clone()
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        j["normalizer"], {"type": "Replace", "pattern": {"String": "ab"}, "content": "x"}]}
    m = {k: val for k, val in meta.items() if k != "prepend_scheme"}
    m["add_prefix_space"] = True
    v["pre_tokenizer"] = m
    out["literal"] = v
    # HF's own SentencePieceUnigramTokenizer shape: Nmt, NFKC, Replace of space runs
    v = clone()
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Nmt"}, {"type": "NFKC"},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    v["pre_tokenizer"] = dict(meta)
    out["nmt-nfkc"] = v
    return out


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    corpus, by_script = build_corpus()
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for script, t in corpus:
            f.write(json.dumps({"script": script, "text": t}, ensure_ascii=False) + "\n")
    train = [t for ts in by_script.values() for t in ts]
    base = train_tokenizer(out, train, 8000)
    for name, v in variants(base).items():
        (out / f"tokenizer-{name}.json").write_text(json.dumps(v, ensure_ascii=False),
                                                     encoding="utf-8")
    # byte fallback: the SentencePiece model has the <0xHH> pieces; the XLM-R converter leaves
    # the flag off (XLM-R has none), so switch it on as converters of byte-fallback models do
    bf = json.loads(train_tokenizer(out, train, 3000, byte_fallback=True,
                                    name="xlmr-bytefallback").read_text(encoding="utf-8"))
    bf["model"]["byte_fallback"] = True
    (out / "tokenizer-bytefallback.json").write_text(json.dumps(bf, ensure_ascii=False),
                                                     encoding="utf-8")
    print(f"{len(corpus)} texts, tokenizers in {out}")


if __name__ == "__main__":
    main()
