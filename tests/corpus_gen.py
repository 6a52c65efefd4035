# SPDX-License-Identifier: LGPL-2.1-or-later
"""Deterministic test corpora for tests/test_corpus.py, generated at test time from the licence
texts Debian installs (/usr/share/common-licenses), so that no third-party text is committed.

Every generator returns a Corpus: the files it wrote (id -> bytes) and, for each id, what the
ingestion must make of it (status and the words its reason must contain), all computed here from
the bytes themselves, independently of the code under test."""
import hashlib
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

LICENSE_DIR = Path("/usr/share/common-licenses")

# Multi-byte UTF-8 words (2, 3 and 4 bytes per character) spliced into the licence text, so that
# byte offsets and chunk boundaries meet non-ASCII text.
MULTIBYTE_WORDS = ["café", "naïve", "Ångström", "façade", "Øresund", "São", "über", "—", "€42",
                   "東京", "日本語", "한국어", "Ελλάδα", "Москва", "𝄞", "😀", "∑x²", "ﬁle"]

# Ill-formed UTF-8 sequences (each one starts where Python's decoder reports the error).
INVALID_SEQUENCES = [b"\xff", b"\xfe", b"\x80", b"\xbf\xbf", b"\xc0\xaf", b"\xc1\xbf",
                     b"\xe2\x82", b"\xe2\x28\xa1", b"\xed\xa0\x80", b"\xf0\x9f\x98",
                     b"\xf4\x90\x80\x80", b"\xf5\x80", b"\xe0\x80\x80", b"\xc3"]


def license_words():
    """The words of every licence file (regular files only, in name order)."""
    words = []
    for p in sorted(LICENSE_DIR.iterdir()):
        if p.is_file() and not p.is_symlink():
            words.extend(p.read_text(encoding="utf-8").split())
    assert len(words) > 10000, "the Debian licence texts are missing"
    return words


def license_text():
    """All licence files concatenated (str)."""
    parts = []
    for p in sorted(LICENSE_DIR.iterdir()):
        if p.is_file() and not p.is_symlink():
            parts.append(p.read_text(encoding="utf-8"))
    return "\n\n".join(parts)


class TextMaker:
    """Random, seeded prose: windows of the licence texts with multi-byte words spliced in."""

    def __init__(self, rng):
        self.rng = rng
        self.text = license_text()
        self.words = license_words()

    def prose(self, size, multibyte=True):
        """About @size bytes (at least 1) of valid UTF-8 text (bytes), never containing NUL."""
        rng = self.rng
        out = []
        n = 0
        while n < size:
            start = rng.randrange(0, len(self.text) - 400)
            piece = self.text[start:start + rng.randint(40, 400)]
            if multibyte and rng.random() < 0.6:
                cut = rng.randrange(0, len(piece) + 1)
                piece = piece[:cut] + " " + rng.choice(MULTIBYTE_WORDS) + " " + piece[cut:]
            b = piece.encode("utf-8")
            out.append(b)
            n += len(b)
        data = b"".join(out)
        # cut at a character boundary near @size
        cut = min(len(data), max(1, size))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut += 1
        data = data[:cut]
        if not data.strip():
            data = b"text " + data
        return data

    def invalid(self, size, bad=None):
        """Valid prose with one ill-formed sequence (@bad, else a random one) somewhere inside,
        sometimes at the very end; returns (bytes, offset of the first byte Python's decoder
        rejects)."""
        rng = self.rng
        data = self.prose(size)
        cut = rng.randrange(0, len(data) + 1) if rng.random() < 0.8 else len(data)
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut += 1
        bad = bad or rng.choice(INVALID_SEQUENCES)
        data = data[:cut] + bad + data[cut:]
        return data, first_invalid_utf8(data)


def first_invalid_utf8(data):
    """Offset of the first byte that is not UTF-8 (Python's decoder), or None."""
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as e:
        return e.start


@dataclass
class Corpus:
    root: Path
    files: dict = field(default_factory=dict)      # id -> bytes
    expected: dict = field(default_factory=dict)   # id -> (status, [words the reason holds])

    def ids(self, status=None):
        return sorted(i for i, (s, _) in self.expected.items() if status is None or s == status)

    def write(self, doc_id, data, status="complete", reason_words=()):
        path = self.root / doc_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[doc_id] = data
        self.expected[doc_id] = (status, list(reason_words))


def _nested_dir(rng):
    depth = rng.choice([0, 1, 1, 2, 2, 3])
    parts = [f"d{rng.randrange(8)}" if i == 0 else f"s{rng.randrange(5)}" for i in range(depth)]
    return "/".join(parts)


def big_corpus(root, seed, n_small=2000, n_large=3, large_size=2 * 1024 * 1024, n_empty=6,
               n_binary=6, n_invalid=8, small_sizes=(20, 1500)):
    """Many small files in nested directories, a few large ones, some empty, some binary (a NUL
    byte), some with invalid UTF-8."""
    rng = random.Random(seed)
    tm = TextMaker(rng)
    c = Corpus(Path(root))
    used = set()

    def new_id(ext):
        while True:
            d = _nested_dir(rng)
            name = f"f{rng.randrange(10**6):06d}{ext}"
            doc_id = f"{d}/{name}" if d else name
            if doc_id not in used:
                used.add(doc_id)
                return doc_id

    for i in range(n_small):
        c.write(new_id(".txt"), tm.prose(rng.randint(*small_sizes)))
    # a few names that are not plain ASCII words
    for name in ["with space.txt", "d1/ünïcode name.txt", "d2/s1/semi;colon,comma.txt"]:
        used.add(name)
        c.write(name, tm.prose(rng.randint(*small_sizes)))
    for i in range(n_large):
        c.write(f"large/big{i}.txt", tm.prose(large_size + rng.randrange(1000)))
    for i in range(n_empty):
        c.write(new_id(".txt"), b"", "skipped", ["empty"])
    for i in range(n_binary):
        head = tm.prose(rng.randint(0, 300)) if i % 2 else b""
        blob = head + bytes(rng.randrange(256) for _ in range(rng.randint(1, 500))) + b"\0"
        blob += bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        c.write(new_id(".bin"), blob, "skipped", ["binary", f"NUL byte at {blob.index(0)}"])
    for i in range(max(n_invalid, len(INVALID_SEQUENCES))):
        seq = INVALID_SEQUENCES[i % len(INVALID_SEQUENCES)]    # every kind at least once
        data, bad = tm.invalid(rng.randint(30, 3000), seq)
        if 0 in data:
            raise AssertionError("invalid UTF-8 sample holds NUL")
        c.write(new_id(".txt"), data, "skipped", ["UTF-8", f"byte {bad}"])
    return c


def text_corpus(root, seed, n=120, sizes=(200, 6000), prefix=""):
    """@n valid UTF-8 text files of @sizes bytes (log-uniform: many small, a few large) in a few
    nested directories."""
    rng = random.Random(seed)
    tm = TextMaker(rng)
    c = Corpus(Path(root))
    lo, hi = math.log(sizes[0]), math.log(sizes[1])
    for i in range(n):
        d = _nested_dir(rng)
        name = f"{prefix}t{i:04d}.txt"
        size = int(round(math.exp(rng.uniform(lo, hi))))
        c.write(f"{d}/{name}" if d else name, tm.prose(size))
    return c


def mixed_utf8_bytes(rng, n_pieces):
    """Random bytes mixing ASCII words, valid multi-byte characters and ill-formed sequences
    (no NUL), for the invalid-utf8=replace tests."""
    out = []
    for _ in range(n_pieces):
        r = rng.random()
        if r < 0.45:
            out.append("".join(rng.choice("abcdefghij klmnop.,") for _ in range(rng.randint(1, 12)))
                       .encode())
        elif r < 0.7:
            out.append(rng.choice(MULTIBYTE_WORDS).encode("utf-8"))
        elif r < 0.9:
            out.append(rng.choice(INVALID_SEQUENCES))
        else:
            out.append(bytes(rng.choice([0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff, 0x41])
                             for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.4:
            out.append(b" ")
    data = b"".join(out)
    assert 0 not in data
    return data


def file_sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def all_files(root):
    """Every regular file under @root, as ids relative to it (for a cross-check of a walk)."""
    root = Path(root)
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            out.append(str((Path(dirpath) / n).relative_to(root)))
    return sorted(out)
