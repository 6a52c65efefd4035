# SPDX-License-Identifier: LGPL-2.1-or-later
"""Corpus ingestion (docs/corpus.md, issue #10) through the real binaries: te-ingest, te-store,
te-search and gst-launch-1.0 with corpussrc / textchunker invalid-utf8 / embedsink format=sqlite.

Every expectation is computed independently of the code under test: from the generated files
themselves (tests/corpus_gen.py), Python's hashlib, bytes.decode, fnmatch and sqlite3, and the
stored sentence-transformers vectors. The null backend (zero vectors) is used wherever the
embedding values do not matter; the cpu backend only where they do, on small corpora."""
import contextlib
import fnmatch
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

import corpus_gen
from conftest import BUILD, ROOT, gst_env

TOOLS = BUILD / "tools"
DIMS = 384
SUMMARY = re.compile(r"(\d+) documents embedded, (\d+) skipped, (\d+) unchanged, (\d+) marked "
                     r"deleted; (\d+) chunks, (\d+) tokens")


# ---- helpers -------------------------------------------------------------------------------

def run(cmd, check=True, timeout=600, binary=False, **kw):
    kw.setdefault("env", gst_env())
    if binary:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=timeout, **kw)
    else:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=timeout,
                           encoding="utf-8", errors="replace", **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                             f"{p.stdout if not binary else ''}\n{p.stderr}")
    return p


def ingest(src, store, *opts, check=True, **kw):
    """te-ingest SRC STORE with @opts; returns the CompletedProcess."""
    return run([TOOLS / "te-ingest", *opts, src, store], check=check, **kw)


def summary(p):
    """The counts of te-ingest's final summary line (stderr)."""
    m = SUMMARY.search(p.stderr)
    assert m, f"no summary in te-ingest's output:\n{p.stderr}"
    keys = ["embedded", "skipped", "unchanged", "deleted", "chunks", "tokens"]
    return dict(zip(keys, map(int, m.groups())))


def dump(store):
    return run([TOOLS / "te-store", "dump", store], binary=True).stdout


def launch(*elements, check=True, timeout=300, messages=False):
    cmd = ["gst-launch-1.0", "-m" if messages else "-q", *elements]
    return run(cmd, check=check, timeout=timeout)


@contextlib.contextmanager
def connect(store, rows=True):
    """A connection to @store, closed on exit (so that none lingers into the next run)."""
    con = sqlite3.connect(str(store))
    if rows:
        con.row_factory = sqlite3.Row
    try:
        yield con
    finally:
        con.close()


def documents(store):
    with connect(store) as con:
        return {r["id"]: dict(r) for r in con.execute("SELECT * FROM documents")}


def chunk_rows(store, doc=None):
    """doc -> its chunk rows in index order."""
    out = {}
    with connect(store) as con:
        q = "SELECT * FROM chunks" + (" WHERE doc = ?" if doc is not None else "") + \
            " ORDER BY doc, idx"
        for r in con.execute(q, (doc,) if doc is not None else ()):
            out.setdefault(r["doc"], []).append(dict(r))
    return out


def table_contents(store):
    """Every row of every table, sorted: a comparison of two stores that does not rely on
    te-store dump."""
    with connect(store, rows=False) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in ("meta", "documents", "chunks")}


def floats(blob, dims=DIMS):
    assert len(blob) == dims * 4, f"embedding BLOB of {len(blob)} bytes"
    return struct.unpack(f"<{dims}f", blob)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def check_complete(doc_id, row, chunks, data, decode=None):
    """A complete document row and its chunk rows against the document's bytes."""
    assert row["status"] == "complete", (doc_id, row)
    assert row["hash"] == corpus_gen.file_sha256(data), f"{doc_id}: hash"
    assert row["size"] == len(data), f"{doc_id}: size"
    assert chunks, f"{doc_id}: complete without chunks"
    assert [c["idx"] for c in chunks] == list(range(len(chunks))), f"{doc_id}: indexes"
    pos = 0
    for c in chunks:
        assert c["byte_start"] == pos, f"{doc_id} chunk {c['idx']}: starts at " \
            f"{c['byte_start']}, previous ended at {pos}"
        assert c["byte_end"] > c["byte_start"], f"{doc_id} chunk {c['idx']}: empty range"
        want = data[c["byte_start"]:c["byte_end"]]
        want = want.decode("utf-8") if decode is None else decode(want)
        assert c["text"] == want, f"{doc_id} chunk {c['idx']}: text is not the file's bytes " \
            f"[{c['byte_start']}, {c['byte_end']})"
        assert c["tokens"] > 0
        assert len(c["embedding"]) == DIMS * 4
        pos = c["byte_end"]
    assert pos == len(data), f"{doc_id}: chunks end at {pos} of {len(data)} bytes"
    assert row["chunks"] == len(chunks), f"{doc_id}: documents.chunks"
    assert row["tokens"] == sum(c["tokens"] for c in chunks), f"{doc_id}: documents.tokens"
    assert row["dims"] == DIMS


def snapshot(store, dest_dir):
    """Copy @store with its -wal file into @dest_dir and return the copy's path: inspecting the
    copy leaves the original, WAL included, for the next te-ingest to recover by itself."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):
        f = Path(str(store) + suffix)
        if f.exists():
            shutil.copy(f, dest_dir / f.name)
    return dest_dir / Path(store).name


def check_crash_consistent(store):
    """Whatever state a store was left in: every complete document has exactly its chunks, no
    other document has any, and no chunk belongs to no document."""
    docs = documents(store)
    chunks = chunk_rows(store)
    for doc_id, row in docs.items():
        got = chunks.get(doc_id, [])
        if row["status"] == "complete":
            assert len(got) == row["chunks"] > 0, f"{doc_id}: {len(got)} chunk rows, " \
                f"documents.chunks={row['chunks']}"
            assert [c["idx"] for c in got] == list(range(len(got)))
            assert row["tokens"] == sum(c["tokens"] for c in got)
        else:
            assert not got, f"{doc_id} is {row['status']} but has {len(got)} chunk rows"
    orphans = set(chunks) - set(docs)
    assert not orphans, f"chunks without a document row: {sorted(orphans)[:5]}"
    return docs


def parse_gst_messages(stdout, name):
    """Structures named @name in gst-launch-1.0 -m output, as dicts of typed values."""
    out = []
    for line in stdout.splitlines():
        m = re.search(r"\): (" + re.escape(name) + r"), (.*);\s*$", line)
        if not m:
            continue
        fields = {}
        for k, typ, v in re.findall(r"([\w-]+)=\((\w+)\)([^,]*)", m.group(2)):
            v = v.strip()
            if typ in ("guint64", "gint64", "int", "uint", "gint", "guint"):
                fields[k] = int(v)
            elif typ in ("double", "gdouble", "float"):
                fields[k] = float(v)
            elif typ in ("boolean", "gboolean"):
                fields[k] = v.lower() in ("true", "1", "yes")
            else:
                fields[k] = v
        out.append(fields)
    return out


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def null_chain(chunker="textchunker", sink=()):
    """textchunker ... ! embedsink with the null backend (fast; embeddings do not matter)."""
    return [*chunker.split(), "!", "texttokenizer", "!", "npuencoder", "backend=null", "!",
            "embedpooler", "!", "embedsink", *sink]


# ---- 1. a generated corpus, all kinds of files ---------------------------------------------

def test_generated_corpus_store_matches_files(tmp_path):
    c = corpus_gen.big_corpus(tmp_path / "corpus", seed=1001)
    assert corpus_gen.all_files(c.root) == sorted(c.files)
    assert len(c.files) >= 2000
    store = tmp_path / "corpus.sqlite"
    p = ingest(c.root, store, "--backend", "null")

    docs = documents(store)
    assert sorted(docs) == sorted(c.files)
    want = Counter(s for s, _ in c.expected.values())
    got = Counter(r["status"] for r in docs.values())
    assert got == want, f"statuses {got}, generated {want}"
    assert want["skipped"] >= 20 and want["complete"] >= 2000

    s = summary(p)
    assert (s["embedded"], s["skipped"], s["unchanged"], s["deleted"]) == \
        (want["complete"], want["skipped"], 0, 0)

    chunks = chunk_rows(store)
    n_chunks = 0
    for doc_id, (status, words) in c.expected.items():
        row, data = docs[doc_id], c.files[doc_id]
        assert Path(row["path"]).read_bytes() == data, f"{doc_id}: path {row['path']}"
        if status == "skipped":
            assert row["reason"], f"{doc_id}: skipped without a reason"
            for w in words:
                assert w.lower() in row["reason"].lower(), \
                    f"{doc_id}: reason {row['reason']!r} does not say {w!r}"
            assert doc_id not in chunks and row["chunks"] == 0 and row["tokens"] == 0
            # a warning on the bus names every skipped document
            assert f'"{doc_id}"' in p.stderr, f"no warning names {doc_id}"
        else:
            check_complete(doc_id, row, chunks.get(doc_id), data)
            n_chunks += len(chunks[doc_id])
    assert s["chunks"] == n_chunks
    large = [d for d in c.files if d.startswith("large/")]
    assert all(len(chunks[d]) > 500 for d in large)


# ---- a moderate corpus embedded once with the cpu backend (tests 2 and 4) -------------------

@pytest.fixture(scope="module")
def cpu_corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("cpu")
    c = corpus_gen.text_corpus(base / "corpus", seed=2002, n=100, sizes=(200, 6000))
    store = base / "A.sqlite"
    t0 = time.monotonic()
    p = ingest(c.root, store, "--backend", "cpu")
    elapsed = time.monotonic() - t0
    s = summary(p)
    assert s["embedded"] == len(c.files) and s["skipped"] == 0
    docs = documents(store)
    chunks = chunk_rows(store)
    for doc_id, data in c.files.items():
        check_complete(doc_id, docs[doc_id], chunks[doc_id], data)
    return {"corpus": c, "store": store, "dump": dump(store), "tables": table_contents(store),
            "seconds": elapsed, "base": base}


# ---- 2. kill -9 at random moments, resume, same store ---------------------------------------

def complete_count(store):
    """Complete documents in @store while another process may be writing it (read-only, never
    creates the file); 0 when it does not exist yet or has no schema."""
    if not Path(store).exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM documents WHERE status = 'complete'"
                               ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def test_kill9_resume_equals_uninterrupted(cpu_corpus, tmp_path):
    c = cpu_corpus["corpus"]
    total = len(c.files)
    store = tmp_path / "B.sqlite"
    rng = random.Random(4242)
    # kill when the store holds at least these many documents, plus a random delay, so that the
    # kills land at different points of the run whatever the machine's speed
    targets = sorted(rng.sample(range(3, total - 25), 4))
    done_after = []
    for k, target in enumerate(targets):
        if done_after:
            target = max(target, done_after[-1] + 3)
        extra = rng.uniform(0.0, 0.5)
        with open(tmp_path / f"kill{k}.err", "wb") as err:
            proc = subprocess.Popen([str(TOOLS / "te-ingest"), "--backend", "cpu", str(c.root),
                                     str(store)], env=gst_env(), stdout=subprocess.DEVNULL,
                                    stderr=err)
            try:
                deadline = time.monotonic() + 300
                while complete_count(store) < target:
                    assert proc.poll() is None, f"kill {k}: te-ingest ended (rc " \
                        f"{proc.returncode}) before {target} documents were stored"
                    assert time.monotonic() < deadline, f"kill {k}: no progress"
                    time.sleep(0.02)
                time.sleep(extra)
                assert proc.poll() is None, f"kill {k}: te-ingest finished before the kill"
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert proc.returncode == -signal.SIGKILL
        # whole documents only, whatever the moment (checked on a copy: the rerun recovers the
        # killed process's WAL itself)
        copy = snapshot(store, tmp_path / f"after-kill{k}")
        with connect(copy, rows=False) as con:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        docs = check_crash_consistent(copy)
        n = sum(r["status"] == "complete" for r in docs.values())
        assert target <= n < total, f"kill {k}: {n} complete documents of {total}"
        chunks = chunk_rows(copy)
        for doc_id, row in docs.items():
            if row["status"] == "complete":
                check_complete(doc_id, row, chunks[doc_id], c.files[doc_id])
        done_after.append(n)
    print(f"complete documents after each kill: {done_after} of {total}")

    p = ingest(c.root, store, "--backend", "cpu")
    s = summary(p)
    assert s["unchanged"] == done_after[-1] > 0
    assert s["embedded"] == total - done_after[-1]
    assert dump(store) == cpu_corpus["dump"]
    assert table_contents(store) == cpu_corpus["tables"]


# ---- 3. a full disk ------------------------------------------------------------------------

SMALL_FS_SCRIPT = r"""
set -u
mount -t tmpfs -o size="$SIZE_K"k tmpfs "$MNT" || exit 97
"$INGEST" --backend null "$CORPUS" "$MNT/store.sqlite" >"$OUT/ingest.out" 2>"$OUT/ingest.err"
echo $? >"$OUT/rc"
mkdir -p "$OUT/fs"
for f in "$MNT"/store.sqlite "$MNT"/store.sqlite-wal; do
  [ -e "$f" ] && cp "$f" "$OUT/fs/"
done
exit 0
"""


def test_full_disk_keeps_store_valid_and_resumes(tmp_path):
    c = corpus_gen.text_corpus(tmp_path / "corpus", seed=3003, n=150, sizes=(2000, 12000))
    ref = tmp_path / "ref.sqlite"
    ingest(c.root, ref, "--backend", "null")
    ref_size = ref.stat().st_size
    # room for a few documents' WAL frames (16 KiB pages), far from the whole store
    size_k = 768
    assert ref_size > 3 * size_k * 1024, f"the store ({ref_size} bytes) would fit the tmpfs"

    mnt = tmp_path / "mnt"
    out = tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    env = gst_env()
    env.update(SIZE_K=str(size_k), MNT=str(mnt), OUT=str(out), CORPUS=str(c.root),
               INGEST=str(TOOLS / "te-ingest"))
    root = os.geteuid() == 0
    cmd = ["sh", "-c", SMALL_FS_SCRIPT] if root else ["unshare", "-rm", "sh", "-c",
                                                       SMALL_FS_SCRIPT]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        if root:
            subprocess.run(["umount", str(mnt)], capture_output=True)
    assert p.returncode == 0, f"could not run on a small tmpfs ({p.returncode}): {p.stderr}"
    rc = int((out / "rc").read_text())
    err = (out / "ingest.err").read_text(encoding="utf-8", errors="replace")
    assert rc != 0, f"te-ingest succeeded on a full disk:\n{err}"
    assert "store.sqlite" in err, f"the error does not name the store:\n{err}"
    assert re.search(r"full|no space", err, re.I), f"the error does not say the disk is " \
        f"full:\n{err}"

    # the store left behind is valid and holds whole documents only (checked on a copy)
    assert (out / "fs" / "store.sqlite").exists()
    left = snapshot(out / "fs" / "store.sqlite", tmp_path / "inspect")
    with connect(left, rows=False) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    docs = check_crash_consistent(left)
    complete = [d for d, r in docs.items() if r["status"] == "complete"]
    assert 1 < len(complete) < len(c.files), f"{len(complete)} of {len(c.files)} complete"
    chunks = chunk_rows(left)
    for d in complete:
        check_complete(d, docs[d], chunks[d], c.files[d])

    # finish it on a roomy disk: same as an uninterrupted run
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    for f in (out / "fs").iterdir():
        shutil.copy(f, roomy / f.name)
    p = ingest(c.root, roomy / "store.sqlite", "--backend", "null")
    s = summary(p)
    assert s["unchanged"] == len(complete)
    assert s["embedded"] == len(c.files) - len(complete)
    assert dump(roomy / "store.sqlite") == dump(ref)
    assert table_contents(roomy / "store.sqlite") == table_contents(ref)


def test_failed_run_summary_counts_committed_documents(tmp_path):
    """A run that fails part-way (here: invalid-utf8=error on the last document) says in its
    summary what it did commit, not zeros."""
    c = corpus_gen.text_corpus(tmp_path / "corpus", seed=3004, n=6, sizes=(100, 400))
    c.write("zz-bad.txt", TWO_SENTENCES + b"\xff" + AFTER_BAD, "skipped")
    store = tmp_path / "s.sqlite"
    p = ingest(c.root, store, "--backend", "null", "--invalid-utf8", "error", check=False)
    assert p.returncode != 0
    docs = documents(store)
    n_complete = sum(r["status"] == "complete" for r in docs.values())
    assert n_complete == 6, docs
    s = summary(p)
    assert (s["embedded"], s["skipped"]) == (n_complete, 1), \
        f"the summary of the failed run says {s}, the store holds {n_complete} complete " \
        f"documents and 1 skipped:\n{p.stderr}"


# ---- 4. shards -----------------------------------------------------------------------------

def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_three_shards_merged_equal_one_process(cpu_corpus, tmp_path):
    c = cpu_corpus["corpus"]
    shards = [tmp_path / f"shard-{i}.sqlite" for i in range(3)]
    procs = []
    for i, s in enumerate(shards):
        err = open(tmp_path / f"shard-{i}.err", "w+b")
        procs.append((subprocess.Popen(
            [str(TOOLS / "te-ingest"), "--backend", "cpu", "--shard-index", str(i),
             "--shard-count", "3", str(c.root), str(s)], env=gst_env(),
            stdout=subprocess.DEVNULL, stderr=err), err))
    for proc, err in procs:
        proc.wait(timeout=600)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode(errors="replace")
        err.close()

    ids = [set(documents(s)) for s in shards]
    for i in range(3):
        assert ids[i], f"shard {i} is empty"
        # FNV-1a 64 of the id's bytes, modulo the shard count (docs/corpus.md)
        assert ids[i] == {d for d in c.files if fnv1a64(d) % 3 == i}
        for j in range(i):
            assert not ids[i] & ids[j], f"shards {i} and {j} share {sorted(ids[i] & ids[j])}"
    assert set().union(*ids) == set(c.files)

    merged = tmp_path / "merged.sqlite"
    run([TOOLS / "te-store", "merge", merged, *shards])
    assert dump(merged) == cpu_corpus["dump"]
    assert table_contents(merged) == cpu_corpus["tables"]


# ---- 5. textchunker invalid-utf8 -----------------------------------------------------------

TWO_SENTENCES = (b"The first sentence of this file is perfectly valid text. "
                 b"The second one is valid too, with caf\xc3\xa9 and \xe6\x9d\xb1\xe4\xba\xac.\n")
AFTER_BAD = b" And then the text goes on after the bad byte. One more sentence here.\n"


def chunk_lines(rows):
    return [r for r in rows if "status" not in r]


def test_invalid_utf8_error_keeps_rows_before_the_bad_byte(tmp_path):
    data = TWO_SENTENCES + b"\xff" + AFTER_BAD
    bad = corpus_gen.first_invalid_utf8(data)
    assert bad == len(TWO_SENTENCES)
    src = tmp_path / "bad.txt"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    p = launch("filesrc", f"location={src}", "!",
               *null_chain("textchunker invalid-utf8=error", [f"location={out}"]), check=False)
    assert p.returncode != 0
    assert re.search(rf"\bbyte {bad}\b", p.stderr), f"the error does not name byte {bad}:\n" \
        f"{p.stderr}"
    rows = chunk_lines(read_jsonl(out))
    assert rows, "no rows for the text before the bad byte"
    pos = 0
    for r in rows:
        assert r["start"] == pos
        assert r["text"] == data[r["start"]:r["end"]].decode("utf-8")
        pos = r["end"]
    assert pos == bad, f"rows cover [0, {pos}), the valid text is [0, {bad})"

    # the offset counts from the document's start whatever the buffers: far into the file, in
    # 7-byte buffers, a sequence cut by the end of the file
    rng = random.Random(5004)
    tm = corpus_gen.TextMaker(rng)
    cases = [(tm.prose(150000) + b"\xe2\x82" + b"A" + AFTER_BAD, "65536"),
             (TWO_SENTENCES + b"\xf0\x9f\x98", "7"),
             (TWO_SENTENCES + b"\xed\xa0\x80" + AFTER_BAD, "7")]
    for k, (data, blocksize) in enumerate(cases):
        bad = corpus_gen.first_invalid_utf8(data)
        src = tmp_path / f"bad{k}.txt"
        src.write_bytes(data)
        out = tmp_path / f"out{k}.jsonl"
        p = launch("filesrc", f"location={src}", f"blocksize={blocksize}", "!",
                   *null_chain("textchunker invalid-utf8=error", [f"location={out}"]),
                   check=False)
        assert p.returncode != 0
        assert re.search(rf"\bbyte {bad}\b", p.stderr), f"case {k}: the error does not name " \
            f"byte {bad}:\n{p.stderr}"
        rows = chunk_lines(read_jsonl(out))
        assert rows and rows[0]["start"] == 0 and rows[-1]["end"] == bad, f"case {k}"
        for a, b in zip(rows, rows[1:]):
            assert b["start"] == a["end"]
        for r in rows:
            assert r["text"] == data[r["start"]:r["end"]].decode("utf-8")


def check_replace_rows(rows, data):
    pos = 0
    for r in rows:
        assert r["start"] == pos, f"gap or overlap at {pos}: {r['start']}"
        want = data[r["start"]:r["end"]].decode("utf-8", "replace")
        assert r["text"] == want, f"[{r['start']}, {r['end']}): {r['text']!r} != {want!r}"
        pos = r["end"]
    assert pos == len(data)
    assert "".join(r["text"] for r in rows) == data.decode("utf-8", "replace")


def test_invalid_utf8_replace_matches_python(tmp_path):
    data = TWO_SENTENCES + b"\xff" + AFTER_BAD
    src = tmp_path / "bad.txt"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    launch("filesrc", f"location={src}", "!",
           *null_chain("textchunker invalid-utf8=replace", [f"location={out}"]))
    rows = read_jsonl(out)
    assert all("status" not in r for r in rows)
    check_replace_rows(rows, data)

    rng = random.Random(5005)
    for k in range(8):
        data = corpus_gen.mixed_utf8_bytes(rng, rng.randint(30, 400))
        assert corpus_gen.first_invalid_utf8(data) is not None
        src = tmp_path / f"mixed{k}.bin"
        src.write_bytes(data)
        out = tmp_path / f"mixed{k}.jsonl"
        launch("filesrc", f"location={src}", "blocksize=7", "!",
               *null_chain("textchunker invalid-utf8=replace max-tokens=24",
                           [f"location={out}"]))
        rows = read_jsonl(out)
        assert all("status" not in r for r in rows), f"sample {k}: {src}"
        try:
            check_replace_rows(rows, data)
        except AssertionError as e:
            raise AssertionError(f"sample {k} ({src}, {data!r}): {e}") from None


def test_invalid_utf8_skip_document(tmp_path):
    data = TWO_SENTENCES + b"\xff" + AFTER_BAD
    bad = len(TWO_SENTENCES)
    src = tmp_path / "bad.txt"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    launch("filesrc", f"location={src}", "!",
           *null_chain("textchunker invalid-utf8=skip-document", [f"location={out}"]))
    rows = read_jsonl(out)
    status = [r for r in rows if "status" in r]
    assert len(status) == 1, rows
    assert status[0]["doc"] == str(src) and status[0]["status"] == "skipped"
    assert re.search(rf"\bbyte {bad}\b", status[0]["reason"]), status[0]
    for r in chunk_lines(rows):   # lines written before the bad byte may stay
        assert r["end"] <= bad and r["text"] == data[r["start"]:r["end"]].decode("utf-8")

    store = tmp_path / "out.sqlite"
    launch("filesrc", f"location={src}", "!",
           *null_chain("textchunker invalid-utf8=skip-document",
                       ["format=sqlite", f"location={store}"]))
    docs = documents(store)
    assert list(docs) == [str(src)]
    row = docs[str(src)]
    assert row["status"] == "skipped" and re.search(rf"\bbyte {bad}\b", row["reason"])
    assert row["chunks"] == 0 and row["tokens"] == 0
    assert chunk_rows(store) == {}


def test_ingest_invalid_utf8_replace_over_a_corpus(tmp_path):
    """te-ingest --invalid-utf8 replace: documents with ill-formed UTF-8 are embedded, their
    chunk texts are Python's decode(..., "replace") of their byte ranges, their hash is the
    hash of the raw bytes."""
    rng = random.Random(5006)
    tm = corpus_gen.TextMaker(rng)
    c = corpus_gen.Corpus(tmp_path / "corpus")
    for i, seq in enumerate(corpus_gen.INVALID_SEQUENCES):
        data, bad = tm.invalid(rng.randint(50, 2500), seq)
        assert bad is not None
        c.write(f"bad/{i:02d}.txt", data)
    c.write("good.txt", tm.prose(500))
    store = tmp_path / "s.sqlite"
    s = summary(ingest(c.root, store, "--backend", "null", "--invalid-utf8", "replace"))
    assert (s["embedded"], s["skipped"]) == (len(c.files), 0)
    docs, chunks = documents(store), chunk_rows(store)
    for d, data in c.files.items():
        check_complete(d, docs[d], chunks[d], data,
                       decode=lambda b: b.decode("utf-8", "replace"))


# ---- 6. inputs -----------------------------------------------------------------------------

def glob_match(doc_id, glob):
    """docs/corpus.md: `*` also matches `/`; a glob without `/` is also tried on the last
    path component."""
    if fnmatch.fnmatchcase(doc_id, glob):
        return True
    return "/" not in glob and fnmatch.fnmatchcase(doc_id.rsplit("/", 1)[-1], glob)


def selected(ids, include, exclude):
    inc = [g for g in include.split(",") if g]
    exc = [g for g in exclude.split(",") if g]
    return sorted(i for i in ids if (not inc or any(glob_match(i, g) for g in inc))
                  and not any(glob_match(i, g) for g in exc))


def test_directory_include_exclude(tmp_path):
    rng = random.Random(6006)
    tm = corpus_gen.TextMaker(rng)
    c = corpus_gen.Corpus(tmp_path / "corpus")
    for doc_id in ["a.txt", "b.md", "d1/c.txt", "d1/sub/d.txt", "d1/x.md", "d2/e.txt",
                   "d2/f.rst", "d2/d1/g.txt", "d2/sub/h.md", "d3/e.txt", "d3/e.txt.bak",
                   "d3/deep/er/i.txt", "j.TXT"]:
        c.write(doc_id, tm.prose(rng.randint(50, 300)))
    # a link to a file is read (id: the link's path); a link to a directory is not followed;
    # a FIFO is not a regular file (and must not hang the walk)
    os.symlink("../d1/c.txt", c.root / "d3" / "link.txt")
    c.files["d3/link.txt"] = c.files["d1/c.txt"]
    os.symlink("../d1", c.root / "d3" / "dirlink")
    os.mkfifo(c.root / "d2" / "fifo.txt")
    cases = [("*.txt", "d1/*"), ("*.md,d2/*", "*/sub/*,e.txt"), ("d3/*", "*.bak"), ("", "")]
    for k, (inc, exc) in enumerate(cases):
        want = selected(c.files, inc, exc)
        assert want and (len(want) < len(c.files) or not inc)
        store = tmp_path / f"s{k}.sqlite"
        opts = (["--include", inc] if inc else []) + (["--exclude", exc] if exc else [])
        ingest(c.root, store, "--backend", "null", *opts, timeout=60)
        docs = documents(store)
        fifo = docs.pop("d2/fifo.txt", None)
        assert fifo is None or fifo["status"] == "skipped", fifo
        assert sorted(docs) == want, f"include={inc!r} exclude={exc!r}"
        chunks = chunk_rows(store)
        for d in want:
            check_complete(d, docs[d], chunks[d], c.files[d])


def test_file_list_and_stdin(tmp_path):
    rng = random.Random(6007)
    tm = corpus_gen.TextMaker(rng)
    files = {}
    for rel in ["x/one.txt", "x/two.txt", "y/z/three.md", "four"]:
        p = tmp_path / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        files[rel] = tm.prose(rng.randint(100, 2000))
        p.write_bytes(files[rel])
    # absolute paths and paths relative to the working directory; ids are the paths as written
    listed = {str(tmp_path / "data" / "x/one.txt"): files["x/one.txt"],
              "data/y/z/three.md": files["y/z/three.md"],
              "./data/four": files["four"]}
    missing = str(tmp_path / "data" / "vanished.txt")
    lst = tmp_path / "files.lst"
    lines = [f"{p}\n" for p in listed]
    lines.insert(1, f"{missing}\n")
    lst.write_text("".join(lines))
    for k, (src, stdin) in enumerate([(lst, None), ("-", lst.read_text())]):
        store = tmp_path / f"list{k}.sqlite"
        p = ingest(src, store, "--backend", "null", cwd=tmp_path, input=stdin)
        assert (summary(p)["embedded"], summary(p)["skipped"]) == (len(listed), 1)
        docs = documents(store)
        gone = docs.pop(missing)
        assert gone["status"] == "skipped" and "No such file" in gone["reason"], gone
        assert sorted(docs) == sorted(listed), f"source {src}"
        chunks = chunk_rows(store)
        for d, data in listed.items():
            check_complete(d, docs[d], chunks[d], data)


def test_jsonl_beir_and_custom_fields(tmp_path):
    rng = random.Random(6008)
    tm = corpus_gen.TextMaker(rng)
    long_text = tm.prose(4000).decode("utf-8")
    records = [
        ({"_id": "doc1", "title": "A title", "text": tm.prose(300).decode()}, "doc1"),
        ({"_id": "doc2", "title": "", "text": "No title here: only text, naïve café."}, "doc2"),
        ({"_id": "doc3", "text": "The title member is absent.", "extra": [1, 2]}, "doc3"),
        ({"_id": 42, "title": "Integer id", "text": "東京 and Ελλάδα, a multi-byte text."}, "42"),
        ({"_id": "long", "title": "Long one", "text": long_text}, "long"),
        ({"title": "Only a title", "_id": "no-text"}, "no-text"),
    ]
    lines = []
    expected = {}
    for rec, doc_id in records:
        lines.append(json.dumps(rec, ensure_ascii=rng.random() < 0.5))
        if "text" in rec:
            expected[doc_id] = (rec["title"] + "\n\n" + rec["text"] if rec.get("title")
                                else rec["text"]).encode("utf-8")
    lines.insert(2, "")                      # blank lines are ignored
    lines.insert(4, "   ")
    lines.insert(5, '{"_id": "broken", "text": ')   # not JSON
    bad_line_no = 6                                  # counted from 1, blank lines included
    assert lines[bad_line_no - 1].startswith('{"_id": "broken"')
    lines.append("")
    src = tmp_path / "corpus.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")

    store = tmp_path / "beir.sqlite"
    p = ingest(src, store, "--backend", "null")
    docs = documents(store)
    skipped = {d: r for d, r in docs.items() if r["status"] == "skipped"}
    complete = {d: r for d, r in docs.items() if r["status"] == "complete"}
    assert sorted(complete) == sorted(expected)
    assert len(skipped) == 2, f"skipped rows: {skipped}"
    assert len(docs) == len(expected) + 2, "blank lines must not become documents"
    assert "text" in skipped["no-text"]["reason"], skipped["no-text"]
    (broken_id, broken), = [(d, r) for d, r in skipped.items() if d != "no-text"]
    assert "JSON" in broken["reason"], broken
    assert str(bad_line_no) in broken_id, f"the id {broken_id!r} does not name line " \
        f"{bad_line_no}"
    s = summary(p)
    assert (s["embedded"], s["skipped"]) == (len(expected), 2)
    chunks = chunk_rows(store)
    for d, data in expected.items():
        check_complete(d, complete[d], chunks[d], data)
    assert len(chunks["long"]) > 1

    # custom field names; the default members hold decoys
    custom = tmp_path / "custom.jsonl"
    recs = [{"docid": "c1", "heading": "Heading", "body": "The body text of c1.",
             "_id": "decoy1", "title": "Decoy", "text": "decoy"},
            {"docid": 7, "body": "Body of seven, no heading.", "text": "decoy"},
            {"docid": "c3", "heading": "Only heading", "text": "decoy text"}]
    custom.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    store = tmp_path / "custom.sqlite"
    ingest(custom, store, "--backend", "null", "--id-field", "docid", "--text-field", "body",
           "--title-field", "heading")
    docs = documents(store)
    assert sorted(docs) == ["7", "c1", "c3"]
    assert docs["c3"]["status"] == "skipped" and "body" in docs["c3"]["reason"]
    chunks = chunk_rows(store)
    check_complete("c1", docs["c1"], chunks["c1"], b"Heading\n\nThe body text of c1.")
    check_complete("7", docs["7"], chunks["7"], b"Body of seven, no heading.")

    # include / exclude select JSON Lines ids too
    store = tmp_path / "beir-sel.sqlite"
    ingest(src, store, "--backend", "null", "--include", "doc*,4?", "--exclude", "doc2")
    assert sorted(documents(store)) == ["42", "doc1", "doc3"]


def test_jsonl_hostile_lines_are_skipped_rows(tmp_path):
    """Lines that are not usable documents become skipped rows and the corpus goes on: an empty
    text, an id that is neither string nor integer, and a line of deeply nested brackets (a
    hostile input must not crash the ingestion: 100 kB of "[")."""
    recs = [json.dumps({"_id": "first", "text": "The first document."}),
            json.dumps({"_id": "empty", "text": ""}),
            json.dumps({"_id": 1.5, "text": "A float id."}),
            "[" * 100000,
            json.dumps({"_id": "last", "text": "The last document."})]
    src = tmp_path / "hostile.jsonl"
    src.write_text("\n".join(recs) + "\n", encoding="utf-8")
    store = tmp_path / "hostile.sqlite"
    p = ingest(src, store, "--backend", "null", check=False, timeout=120)
    assert p.returncode == 0, f"te-ingest died ({p.returncode}) on a nested-brackets line:\n" \
        f"{p.stderr[-2000:]}"
    docs = documents(store)
    assert docs["first"]["status"] == docs["last"]["status"] == "complete"
    assert docs["empty"]["status"] == "skipped" and "empty" in docs["empty"]["reason"]
    skipped = sorted(d for d, r in docs.items() if r["status"] == "skipped")
    assert len(skipped) == 3, docs
    for d in skipped:
        assert docs[d]["reason"], d


def test_jsonl_text_with_nul_is_not_truncated(tmp_path):
    """A JSON string may hold U+0000 ("\\u0000"); the document text then holds a NUL byte and
    must be skipped as binary like a file with one (docs/corpus.md), never cut short there."""
    src = tmp_path / "nul.jsonl"
    recs = [{"_id": "nul", "text": "before\u0000after, more text"},
            {"_id": "tnul", "title": "ti\u0000tle", "text": "the text"},
            {"_id": "ok", "text": "an ordinary document"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    store = tmp_path / "nul.sqlite"
    ingest(src, store, "--backend", "null")
    docs = documents(store)
    assert docs["ok"]["status"] == "complete"
    full = {"nul": "before\u0000after, more text".encode(),
            "tnul": "ti\u0000tle\n\nthe text".encode()}
    for d, data in full.items():
        row = docs[d]
        assert row["status"] == "skipped" and "binary" in (row["reason"] or ""), \
            f"{d}: {row['status']} (size {row['size']}, reason {row['reason']!r}); the text " \
            f"is {len(data)} bytes with a NUL at {data.index(0)}"
        # json-glib ends strings at U+0000, so the record is recognised as binary from its JSON
        # text (the offset inside the decoded text is not known there)
        assert "NUL" in row["reason"]


# ---- 7. resume semantics -------------------------------------------------------------------

def test_resume_semantics(tmp_path):
    c = corpus_gen.text_corpus(tmp_path / "corpus", seed=7007, n=10, sizes=(200, 1500))
    rng = random.Random(7008)
    tm = corpus_gen.TextMaker(rng)
    # one file that needs several chunks, to see its old chunks replaced
    c.write("multi.txt", tm.prose(5000))
    store = tmp_path / "s.sqlite"
    s = summary(ingest(c.root, store, "--backend", "null"))
    assert s["embedded"] == len(c.files)
    before_docs, before_chunks = documents(store), chunk_rows(store)
    assert len(before_chunks["multi.txt"]) > 1

    # no change: nothing embedded, every document unchanged, nothing written
    s = summary(ingest(c.root, store, "--backend", "null"))
    assert (s["embedded"], s["unchanged"], s["deleted"]) == (0, len(c.files), 0)
    assert documents(store) == before_docs and chunk_rows(store) == before_chunks

    def others_unchanged(changed):
        docs, chunks = documents(store), chunk_rows(store)
        for d in before_docs:
            if d not in changed:
                assert docs[d] == before_docs[d], d
                assert chunks.get(d) == before_chunks.get(d), d
        return docs, chunks

    # a modified file: only it, its old chunks replaced
    new = b"A short replacement text, one chunk only.\n"
    (c.root / "multi.txt").write_bytes(new)
    c.files["multi.txt"] = new
    s = summary(ingest(c.root, store, "--backend", "null"))
    assert (s["embedded"], s["unchanged"]) == (1, len(c.files) - 1)
    docs, chunks = others_unchanged({"multi.txt"})
    check_complete("multi.txt", docs["multi.txt"], chunks["multi.txt"], new)
    with connect(store) as con:
        assert con.execute("SELECT count(*) FROM chunks WHERE doc = 'multi.txt'").fetchone()[0] \
            == 1
    before_docs, before_chunks = docs, chunks

    # a deleted file: marked deleted, its chunks gone
    gone = sorted(c.files)[3]
    (c.root / gone).unlink()
    del c.files[gone]
    s = summary(ingest(c.root, store, "--backend", "null"))
    assert (s["embedded"], s["unchanged"], s["deleted"]) == (0, len(c.files), 1)
    docs, chunks = others_unchanged({gone})
    assert docs[gone]["status"] == "deleted" and gone not in chunks
    assert docs[gone]["chunks"] == 0 and docs[gone]["tokens"] == 0
    before_docs, before_chunks = docs, chunks

    # an added file: embedded
    c.write("d9/added.txt", tm.prose(700))
    s = summary(ingest(c.root, store, "--backend", "null"))
    assert (s["embedded"], s["unchanged"], s["deleted"]) == (1, len(c.files) - 1, 0)
    docs, chunks = others_unchanged({"d9/added.txt"})
    check_complete("d9/added.txt", docs["d9/added.txt"], chunks["d9/added.txt"],
                   c.files["d9/added.txt"])
    null_models = {d: r["model"] for d, r in docs.items() if r["status"] == "complete"}
    assert len(set(null_models.values())) == 1
    assert "backend=null" in next(iter(null_models.values()))

    # another backend: another identity, everything embedded again
    s = summary(ingest(c.root, store, "--backend", "cpu"))
    assert (s["embedded"], s["unchanged"], s["deleted"]) == (len(c.files), 0, 0)
    docs, chunks = documents(store), chunk_rows(store)
    assert docs[gone]["status"] == "deleted"
    for d, data in c.files.items():
        check_complete(d, docs[d], chunks[d], data)
        assert "backend=cpu" in docs[d]["model"] and docs[d]["model"] != null_models[d]
        for ch in chunks[d]:
            assert abs(math.sqrt(sum(x * x for x in floats(ch["embedding"]))) - 1) < 1e-4
    with connect(store) as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert "backend=cpu" in meta["model"]


def test_resume_document_turning_bad_loses_its_chunks(tmp_path):
    """A complete document that becomes empty, binary or invalid UTF-8 is skipped on the next
    run and its old chunks go; touching a file (same bytes) re-embeds nothing; --no-resume
    re-embeds everything; a single-file run (filesrc) into the store deletes nothing."""
    c = corpus_gen.text_corpus(tmp_path / "corpus", seed=7010, n=8, sizes=(300, 3000))
    store = tmp_path / "s.sqlite"
    ingest(c.root, store, "--backend", "null")
    ids = sorted(c.files)
    turned = {ids[0]: (b"", ["empty"]),
              ids[1]: (c.files[ids[1]][:50] + b"\0" + c.files[ids[1]][50:],
                       ["binary", "NUL byte at 50"]),
              ids[2]: (c.files[ids[2]][:40] + b"\xff" + c.files[ids[2]][40:],
                       ["UTF-8", "byte 40"])}
    for d, (data, _) in turned.items():
        (c.root / d).write_bytes(data)
    touched = c.root / ids[3]
    os.utime(touched, (time.time() + 3600, time.time() + 3600))
    s = summary(ingest(c.root, store, "--backend", "null"))
    assert (s["embedded"], s["skipped"], s["unchanged"]) == (0, 3, len(ids) - 3)
    docs, chunks = documents(store), chunk_rows(store)
    for d, (data, words) in turned.items():
        assert docs[d]["status"] == "skipped", (d, docs[d])
        for w in words:
            assert w in docs[d]["reason"], (d, docs[d]["reason"])
        assert d not in chunks, f"{d} is skipped but keeps {len(chunks[d])} old chunks"
        assert docs[d]["hash"] == corpus_gen.file_sha256(data)
    for d in ids[3:]:
        check_complete(d, docs[d], chunks[d], c.files[d])

    s = summary(ingest(c.root, store, "--backend", "null", "--no-resume"))
    assert (s["embedded"], s["skipped"], s["unchanged"]) == (len(ids) - 3, 3, 0)

    # one file through filesrc: no corpus-end, nothing marked deleted
    single = tmp_path / "single.txt"
    single.write_bytes(b"One lonely document, embedded on its own.\n")
    launch("filesrc", f"location={single}", "!",
           *null_chain("textchunker", ["format=sqlite", f"location={store}"]))
    after = documents(store)
    assert after[str(single)]["status"] == "complete"
    assert {d: r["status"] for d, r in after.items() if d != str(single)} == \
        {d: r["status"] for d, r in docs.items()}


# ---- 8. progress messages ------------------------------------------------------------------

def corpus_pipeline(src, store, backend, interval):
    return ["corpussrc", f"location={src}", "!", "textchunker", "invalid-utf8=skip-document",
            "!", "texttokenizer", "!", "npuencoder", f"backend={backend}", "!", "embedpooler",
            "!", "embedsink", "format=sqlite", f"location={store}",
            f"progress-interval={interval}"]


def test_progress_final_counts_equal_store(tmp_path):
    c = corpus_gen.text_corpus(tmp_path / "corpus", seed=8008, n=30, sizes=(100, 3000))
    c.write("empty.txt", b"", "skipped")
    c.write("bin/blob.dat", b"abc\0def", "skipped")
    c.write("bad.txt", TWO_SENTENCES + b"\xc3(" + AFTER_BAD, "skipped")
    store = tmp_path / "s.sqlite"
    p = launch(*corpus_pipeline(c.root, store, "null", 0), messages=True)
    msgs = parse_gst_messages(p.stdout, "textembed-progress")
    assert len(msgs) == 1, f"{len(msgs)} progress messages with progress-interval=0"
    m = msgs[0]
    assert m["final"] is True

    with connect(store) as con:
        status = dict(con.execute("SELECT status, count(*) FROM documents GROUP BY status"))
        n_chunks, n_tokens = con.execute("SELECT count(*), sum(tokens) FROM chunks").fetchone()
    want = Counter(s for s, _ in c.expected.values())
    assert status == dict(want)
    assert m["documents-complete"] == want["complete"]
    assert m["documents-skipped"] == want["skipped"]
    assert m["documents-total"] == len(c.files)
    assert m["documents-done"] == len(c.files)
    assert m["chunks"] == n_chunks and m["tokens"] == n_tokens
    assert m["bytes-total"] == sum(len(d) for d in c.files.values())

    # a rerun: everything complete is unchanged, nothing embedded; one file removed is deleted
    gone = c.ids("complete")[0]
    (c.root / gone).unlink()
    del c.files[gone], c.expected[gone]
    p = launch(*corpus_pipeline(c.root, store, "null", 0), messages=True)
    m, = parse_gst_messages(p.stdout, "textembed-progress")
    assert m["final"] is True
    assert m["documents-unchanged"] == want["complete"] - 1
    assert (m["documents-complete"], m["chunks"], m["tokens"]) == (0, 0, 0)
    assert m["documents-skipped"] == want["skipped"]
    assert m["documents-deleted"] == 1
    assert m["documents-total"] == len(c.files)

    # documents-total counts the documents this shard selects
    store2 = tmp_path / "shard.sqlite"
    p = launch(*corpus_pipeline(c.root, store2, "null", 0)[:2], "shard-index=1", "shard-count=2",
               "exclude=*.dat", *corpus_pipeline(c.root, store2, "null", 0)[2:], messages=True)
    m, = parse_gst_messages(p.stdout, "textembed-progress")
    want = [d for d in c.files if fnmatch.fnmatchcase(d.rsplit("/", 1)[-1], "*.dat") is False
            and fnv1a64(d) % 2 == 1]
    assert m["documents-total"] == len(want) == len(documents(store2))


def test_progress_periodic_messages_have_eta(tmp_path):
    c = corpus_gen.text_corpus(tmp_path / "corpus", seed=8009, n=16, sizes=(800, 2500))
    store = tmp_path / "s.sqlite"
    p = launch(*corpus_pipeline(c.root, store, "cpu", 100), messages=True)
    msgs = parse_gst_messages(p.stdout, "textembed-progress")
    finals = [m for m in msgs if m["final"]]
    periodic = [m for m in msgs if not m["final"]]
    assert len(finals) == 1 and msgs[-1]["final"]
    assert periodic, f"no periodic message in a {finals[0]['elapsed']:.1f} s run"
    with_eta = [m for m in periodic if math.isfinite(m["eta"]) and m["eta"] >= 0]
    assert with_eta, f"no periodic message has an ETA: {periodic}"
    done = [m["documents-done"] for m in msgs]
    assert done == sorted(done)
    assert all(m["documents-total"] == len(c.files) for m in msgs)
    assert finals[0]["documents-complete"] == len(c.files)


# ---- 9. the embeddings are right -----------------------------------------------------------

def test_embeddings_and_search_match_sentence_transformers(tmp_path):
    ref = json.loads((ROOT / "tests/data/reference_embeddings.json").read_text())
    items = ref["items"]
    src = tmp_path / "ref.jsonl"
    src.write_text("".join(json.dumps({"_id": f"ref{i:02d}", "text": it["text"]}) + "\n"
                           for i, it in enumerate(items)), encoding="utf-8")
    store = tmp_path / "ref.sqlite"
    ingest(src, store, "--backend", "cpu")
    docs, chunks = documents(store), chunk_rows(store)
    compared, bad = 0, []
    for i, it in enumerate(items):
        d = f"ref{i:02d}"
        assert docs[d]["status"] == "complete", docs[d]
        data = it["text"].encode("utf-8")
        check_complete(d, docs[d], chunks[d], data)
        if len(chunks[d]) != 1:
            continue
        c = cosine(floats(chunks[d][0]["embedding"]), it["embedding"])
        compared += 1
        if c < 0.9999:
            bad.append((d, c))
    assert compared >= 20
    assert not bad, f"chunks below cosine 0.9999 with sentence-transformers: {bad}"

    queries = {f"ref{i:02d}": items[i]["text"] for i in (3, 7, 27, 32)}
    p = run([TOOLS / "te-search", "--json", "-k", "3", store, *queries.values()])
    results = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert len(results) == len(queries)
    for (d, text), res in zip(queries.items(), results):
        assert res["query"] == text
        top = res["hits"][0]
        assert top["doc"] == d and top["index"] == 0, (d, res["hits"])
        assert top["score"] >= 0.999, (d, top)


def test_matryoshka_dimensions_store_and_search(tmp_path):
    """te-ingest --dimensions 64: the store holds the first 64 values of sentence-transformers'
    vectors, renormalised (cosine >= 0.9999), its meta says 64, and te-search cuts the queries
    the same way (each reference text finds itself)."""
    ref = json.loads((ROOT / "tests/data/reference_embeddings.json").read_text())
    items = ref["items"][:12]
    src = tmp_path / "ref.jsonl"
    src.write_text("".join(json.dumps({"_id": f"ref{i:02d}", "text": it["text"]}) + "\n"
                           for i, it in enumerate(items)), encoding="utf-8")
    store = tmp_path / "ref64.sqlite"
    p = ingest(src, store, "--backend", "cpu", "--dimensions", "64")
    assert "Matryoshka" in p.stderr, "no warning for a model not trained for truncation"
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'dims'").fetchone()[0] == "64"
    chunks = chunk_rows(store)
    compared = 0
    for i, it in enumerate(items):
        rows = chunks[f"ref{i:02d}"]
        if len(rows) != 1:
            continue
        v = floats(rows[0]["embedding"], 64)
        want = it["embedding"][:64]
        assert cosine(v, want) >= 0.9999, (i, cosine(v, want))
        assert abs(sum(x * x for x in v) - 1.0) < 1e-5
        compared += 1
    assert compared >= 8
    queries = {f"ref{i:02d}": items[i]["text"] for i in (1, 5, 9)}
    p = run([TOOLS / "te-search", "--json", "-k", "1", store, *queries.values()])
    results = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert [r["hits"][0]["doc"] for r in results] == list(queries)


# ---- 10. failures that are not the documents' fault ----------------------------------------

def unprivileged(cmd):
    """@cmd subject to file permissions: root reads everything, so as root it runs without the
    capabilities that bypass them (the files stay root's, so owner bits apply)."""
    if os.geteuid() != 0:
        return [str(c) for c in cmd]
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *map(str, cmd)]


def small_tree(tmp_path):
    """A small corpus and a place for its store."""
    root = tmp_path / "nb"
    (root / "c" / "sub").mkdir(parents=True)
    (root / "c" / "top.txt").write_text("A document at the top of the tree.\n")
    for i in range(3):
        (root / "c" / "sub" / f"f{i}.txt").write_text(f"Document {i} lives in a subdirectory.\n")
    (root / "out").mkdir()
    return root / "c", root / "out" / "s.sqlite"


def test_unsearchable_directory_deletes_nothing(tmp_path):
    """A directory that can be listed but not searched (r without x) hides its files: that is a
    warning and an incomplete listing, never 'these documents are gone'."""
    corpus, store = small_tree(tmp_path)
    run(unprivileged([TOOLS / "te-ingest", "-q", "--backend", "null", corpus, store]))
    assert sum(d["status"] == "complete" for d in documents(store).values()) == 4
    os.chmod(corpus / "sub", 0o666)
    try:
        p = run(unprivileged([TOOLS / "te-ingest", "--backend", "null", corpus, store]))
    finally:
        os.chmod(corpus / "sub", 0o777)
    assert "Permission denied" in p.stderr and "incomplete" in p.stderr, p.stderr
    assert summary(p)["deleted"] == 0
    docs = documents(store)
    assert all(d["status"] == "complete" for d in docs.values()), docs
    assert len(chunk_rows(store)) == 4


def test_unreadable_document_keeps_its_rows(tmp_path):
    """A document the store holds that cannot be read this time keeps its rows (and is not
    marked deleted); a new unreadable one gets a skipped row with the reason."""
    corpus, store = small_tree(tmp_path)
    run(unprivileged([TOOLS / "te-ingest", "-q", "--backend", "null", corpus, store]))
    before = table_contents(store)["chunks"]
    (corpus / "new.txt").write_text("A new document that cannot be read.\n")
    os.chmod(corpus / "top.txt", 0o000)
    os.chmod(corpus / "new.txt", 0o000)
    try:
        p = run(unprivileged([TOOLS / "te-ingest", "--backend", "null", corpus, store]))
    finally:
        os.chmod(corpus / "top.txt", 0o666)
        os.chmod(corpus / "new.txt", 0o666)
    s = summary(p)
    assert s["skipped"] == 2 and s["deleted"] == 0 and s["unchanged"] == 3, p.stderr
    docs = documents(store)
    assert docs["top.txt"]["status"] == "complete" and docs["top.txt"]["chunks"] == 1
    assert docs["new.txt"]["status"] == "skipped"
    assert "Permission denied" in docs["new.txt"]["reason"]
    assert table_contents(store)["chunks"] == before


def test_interrupt_while_reading_the_list_from_stdin(tmp_path):
    """A list on standard input that is slow to come (a `find` still running) must not keep
    te-ingest from stopping on SIGINT."""
    fifo = tmp_path / "list"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"sleep 60 > {fifo}"])
    try:
        with open(fifo, "rb", buffering=0) as rd:
            p = subprocess.Popen([str(TOOLS / "te-ingest"), "--backend", "null", "-",
                                  str(tmp_path / "s.sqlite")], stdin=rd, env=gst_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(2)
            assert p.poll() is None
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=20)
            assert time.monotonic() - t0 < 10, "te-ingest waited for standard input"
        assert p.returncode == 130, err
        assert "interrupted" in err
    finally:
        writer.kill()
        writer.wait()
