#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Build the retrieval benchmark's dataset from the GNU info manuals Debian installs
(/usr/share/info/*.info*): real technical text no one on this team wrote. Each info node is a
document; its section title is the query; the node is the one relevant document.

    python3 bench/retrieval_data.py OUT_DIR [--info-dir /usr/share/info]
        [--manuals all|essential|NAME,NAME...] [--min-chars 200] [--max-queries N --seed 0]

Writes, in BEIR's layout (so any BEIR tool reads it):
  OUT_DIR/corpus.jsonl   {"_id": "<manual>/<node name>", "title": "", "text": <node body>}
  OUT_DIR/queries.jsonl  {"_id": "q<N>", "text": <section title>}
  OUT_DIR/qrels.tsv      "query-id<TAB>corpus-id<TAB>score", one relevant document per query
  OUT_DIR/manifest.json  the .info files used (sha256, Debian package, Essential or not), the
                         options, and the counts (documents, queries, nodes skipped and why)

What a document is. An info file is a list of nodes separated by 0x1F; each node starts with a
header line "File: grep.info,  Node: NAME,  Next: ...". Manuals split over several files
(find.info-1.gz, find.info-2.gz, with find.info.gz holding only the tag table) are read as one
manual. Skipped: everything that is not a node (preamble, Tag Table, Indirect table), Top nodes,
index nodes (the makeinfo index marker, or a name like "Concept Index"), licence texts (the same
GFDL/GPL boilerplate in many manuals), and nodes whose body is shorter than --min-chars after
cleanup (menu-only nodes end up here). Cleanup, and nothing more: the node's own heading ("2.1
Command-line Options" plus its *** / === / --- / ... underline) is removed, otherwise every query
would be found verbatim at the top of its document; "* Menu:" blocks are removed (they list other
nodes' titles); cross references "*Note Node::" / "*note Label: (manual)Node." read "See Node" /
"Label"; makeinfo's NUL-BS markers are removed; runs of blank lines become one. The rest of
the body is kept as it is (indentation, examples, footnotes).

What a query is. The node's section title without its number ("Command-line Options",
"'cat': Concatenate and write files"); the node name when the node has no heading. Dropped: titles
that occur more than once among all documents, case-folded (ambiguous, e.g. "Introduction",
"Reporting Bugs"), and titles that are too generic (2 characters or fewer, or only digits and
punctuation). Their documents stay in the corpus as distractors.

Long documents (--long CHARS, the second benchmark's shape): each manual's nodes, in the order
the manual gives them, are joined (blank line between bodies) into documents of at least CHARS
characters, "<manual>/part<N>" (a manual's last, shorter run joins the document before it). The
queries are the titles (as above) of the nodes whose middle falls in the middle third of their
long document: questions about a long document's middle, whose answer is a small part of it.

Deterministic: documents sorted by _id, queries numbered in that order; --max-queries takes a
seeded sample (queries keep their numbers). Same info files in, byte-identical files out.
Python standard library only.

Counts on Debian 12 (bookworm), with the 25 info files (21 manuals) of the machine this was
written on:
  --manuals all        1,209 documents, 1,069 queries (~3.2 M characters, ~780 k tokens)
  --manuals essential    561 documents,   495 queries (coreutils, diffutils, find, find-maint,
                                                      grep, gzip, sed)
Only the essential manuals are on every Debian 12 system (their packages are Essential: yes, so
always installed); the others come from whatever else is installed (bc, gettext, gnupg, wget,
time, ...). The manifest names the files used and their hashes, so two runs compare only when
their manifests list the same files. Docker's debian:*-slim images exclude /usr/share/info (see
/etc/dpkg/dpkg.cfg.d/docker); there, remove the path-exclude line for it and reinstall the
packages (apt-get install --reinstall coreutils grep sed findutils diffutils gzip).
"""
import argparse
import collections
import gzip
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Packages whose info manuals are present on every Debian 12 system (Essential: yes).
ESSENTIAL_MANUALS = ("coreutils", "diffutils", "find", "find-maint", "grep", "gzip", "sed")

INFO_NAME = re.compile(r"^(?P<manual>.+?)\.info(?:-(?P<part>[0-9]+))?(?:\.gz)?$")
NODE_NAME = re.compile(r"Node:[ \t]*(\x7f[^\x7f]*\x7f|[^,\t\n]*)")
UNDERLINE = re.compile(r"^([*=\-.])\1*[ \t]*$")
SECTION_NUMBER = re.compile(r"^(?:Appendix[ \t]+)?(?:[0-9]+|[A-Z])(?:\.[0-9]+)*\.?[ \t]+")
MAKEINFO_MARKER = re.compile(r"\x00\x08\[[^\x00]*\x00\x08\]")
INDEX_NAME = re.compile(r"(?:^|[ \t])ind(?:ex|ices)$", re.IGNORECASE)
LICENCE_NAME = re.compile(r"free documentation license|general public license|"
                          r"^gnu (?:fdl|gpl|lgpl)$", re.IGNORECASE)
# The preamble every GNU licence text starts with (FDL, GPL, LGPL, any version).
LICENCE_TEXT = re.compile(r"Everyone\s+is\s+permitted\s+to\s+copy\s+and\s+distribute\s+verbatim")
# *Note Node::   *note Label: Node.   *note Label: (manual)Node,   (newlines allowed inside)
XREF_SHORT = re.compile(r"\*([Nn])ote([ \t\n]+)(?:\([^)\n]*\))?([^:*]+?)::")
XREF_LONG = re.compile(r"\*([Nn])ote([ \t\n]+)([^:*]+?):[ \t\n]+(?:\([^)\n]*\))?[^.,:*\t]*?([.,])")
GENERIC_TITLE = re.compile(r"^[\W\d_]*$")


def info_files(info_dir):
    """{manual: [paths in part order]} for every *.info[-N][.gz] in @info_dir."""
    manuals = collections.defaultdict(list)
    for path in sorted(Path(info_dir).iterdir()):
        m = INFO_NAME.match(path.name)
        if m and path.is_file():
            manuals[m.group("manual")].append((int(m.group("part") or 0), path))
    return {k: [p for _, p in sorted(v)] for k, v in sorted(manuals.items())}


def read_text(path):
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # a few old manuals are Latin-1 (their "coding:" trailer says so)
        return data.decode("latin-1")


def debian_package(path):
    """(package, essential, priority) from dpkg, or (None, None, None) without dpkg."""
    if not shutil.which("dpkg"):
        return None, None, None
    p = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        return None, None, None
    pkg = p.stdout.split(":", 1)[0].strip()
    q = subprocess.run(["dpkg-query", "-W", "-f=${Essential}\t${Priority}", pkg],
                       capture_output=True, text=True)
    essential, _, priority = q.stdout.partition("\t")
    return pkg, essential == "yes", priority or None


def nodes(text):
    """Yield (node name, raw body) for every node of one info file."""
    for seg in text.split("\x1f"):
        seg = seg.lstrip("\n")
        if not seg.startswith("File:"):
            continue  # preamble, "Tag Table:", "Indirect:", "End Tag Table", local variables
        header, _, body = seg.partition("\n")
        m = NODE_NAME.search(header)
        if m:
            yield m.group(1).strip("\x7f").strip(), body


def split_heading(lines):
    """(title or None, lines after the heading): the first non-blank line when the next line
    underlines it (makeinfo: *** chapter, === section, --- subsection, ... subsubsection)."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i + 1 < len(lines) and lines[i].strip() and UNDERLINE.match(lines[i + 1]):
        return lines[i].strip(), lines[i + 2:]
    return None, lines[i:]


def strip_menus(lines):
    """Drop every "* Menu:" line and the menu entries (and their continuation lines) after it."""
    out, in_menu = [], False
    for line in lines:
        if line.startswith("* Menu:"):
            in_menu = True
            continue
        if in_menu and (not line.strip() or line.startswith("* ") or line[:1] in " \t"):
            continue
        in_menu = False
        out.append(line)
    return out


def clean(body):
    """(title or None, cleaned body text)."""
    body = MAKEINFO_MARKER.sub("", body)
    title, lines = split_heading(body.split("\n"))
    text = "\n".join(line.rstrip() for line in strip_menus(lines))
    # "*Note" starts a sentence (@xref: "See ..."); "*note" is @ref or @pxref inside one, where
    # the name alone reads right: "covered by the GPL (*note Copying::)" -> "(Copying)".
    see = lambda m: "See" + m.group(2) if m.group(1) == "N" else ""
    text = XREF_SHORT.sub(lambda m: see(m) + m.group(3), text)
    text = XREF_LONG.sub(lambda m: see(m) + m.group(3) + m.group(4), text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return title, text


def query_text(title, node):
    if title:
        title = SECTION_NUMBER.sub("", title).strip()
    return " ".join((title or node).split())


def build(info_dir, manuals_wanted, min_chars):
    found = info_files(info_dir)
    if manuals_wanted == "all":
        names = list(found)
    elif manuals_wanted == "essential":
        names = [m for m in ESSENTIAL_MANUALS if m in found]
    else:
        names = [m.strip() for m in manuals_wanted.split(",") if m.strip()]
        missing = [m for m in names if m not in found]
        if missing:
            sys.exit(f"retrieval_data: no info files for {', '.join(missing)} in {info_dir} "
                     f"(found: {', '.join(found) or 'none'})")
    if not names:
        sys.exit(f"retrieval_data: no GNU info manuals in {info_dir}. On docker's debian slim "
                 "images /usr/share/info is excluded by /etc/dpkg/dpkg.cfg.d/docker; remove that "
                 "path-exclude and reinstall coreutils grep sed findutils diffutils gzip.")

    docs, manifest_manuals = [], []
    skipped = collections.Counter()
    for manual in names:
        files, n_nodes, n_docs = [], 0, 0
        for path in found[manual]:
            pkg, essential, priority = debian_package(path)
            files.append({"name": path.name,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                          "package": pkg, "essential": essential, "priority": priority})
            for node, raw in nodes(read_text(path)):
                n_nodes += 1
                reason = None
                if node == "Top":
                    reason = "top"
                elif "\x00\x08[index\x00\x08]" in raw or INDEX_NAME.search(node):
                    reason = "index"
                elif LICENCE_NAME.search(node) or LICENCE_TEXT.search(raw[:1500]):
                    reason = "licence"
                title, text = clean(raw)
                if reason is None and len(text) < min_chars:
                    reason = "short"
                if reason:
                    skipped[reason] += 1
                    continue
                docs.append({"_id": f"{manual}/{node}", "text": text,
                             "query": query_text(title, node), "heading": title is not None,
                             "manual": manual, "seq": len(docs)})
                n_docs += 1
        manifest_manuals.append({"manual": manual, "files": files, "nodes": n_nodes,
                                 "documents": n_docs})
    docs.sort(key=lambda d: d["_id"])
    ids = [d["_id"] for d in docs]
    if len(set(ids)) != len(ids):
        dup = [k for k, v in collections.Counter(ids).items() if v > 1]
        sys.exit(f"retrieval_data: duplicate node ids {dup[:5]}")

    folded = collections.Counter(d["query"].casefold() for d in docs)
    queries, qskipped = [], collections.Counter()
    for d in docs:
        q = d["query"]
        if len(q) <= 2 or GENERIC_TITLE.match(q):
            qskipped["generic"] += 1
        elif folded[q.casefold()] > 1:
            qskipped["ambiguous"] += 1
        else:
            queries.append({"_id": f"q{len(queries) + 1}", "text": q, "doc": d["_id"]})
    return docs, queries, manifest_manuals, skipped, qskipped


def make_long(docs, queries, min_chars):
    """Join each manual's nodes in order into documents of >= min_chars characters; keep the
    queries of nodes in the middle third of their document, now relevant to it."""
    query_of = {q["doc"]: q for q in queries}
    groups = []
    for d in sorted(docs, key=lambda d: d["seq"]):
        if (groups and groups[-1]["manual"] == d["manual"]
                and groups[-1]["chars"] < min_chars):
            groups[-1]["nodes"].append(d)
            groups[-1]["chars"] += len(d["text"]) + 2
        else:
            groups.append({"manual": d["manual"], "nodes": [d], "chars": len(d["text"])})
    # a manual's short tail joins the document before it
    merged = []
    for g in groups:
        if merged and merged[-1]["manual"] == g["manual"] and g["chars"] < min_chars:
            merged[-1]["nodes"] += g["nodes"]
            merged[-1]["chars"] += g["chars"] + 2
        else:
            merged.append(g)
    long_docs, long_queries, part = [], [], collections.Counter()
    for g in merged:
        part[g["manual"]] += 1
        doc_id = f"{g['manual']}/part{part[g['manual']]:03d}"
        text = "\n\n".join(n["text"] for n in g["nodes"])
        long_docs.append({"_id": doc_id, "text": text, "heading": True})
        at = 0
        for n in g["nodes"]:
            mid = at + len(n["text"]) / 2
            at += len(n["text"]) + 2
            q = query_of.get(n["_id"])
            if q and len(text) / 3 <= mid < 2 * len(text) / 3:
                long_queries.append({"text": q["text"], "doc": doc_id})
    long_docs.sort(key=lambda d: d["_id"])
    for i, q in enumerate(long_queries):
        q["_id"] = f"q{i + 1}"
    return long_docs, long_queries


def main():
    ap = argparse.ArgumentParser(
        description="Build the GNU-info retrieval dataset (BEIR layout) for bench_retrieval.py.",
        epilog="On Debian 12 (the machine it was written on, 21 manuals): 1,209 documents / "
               "1,069 queries with --manuals all, 561 / 495 with --manuals essential. The counts "
               "of each run are printed and written to manifest.json.")
    ap.add_argument("out_dir", help="directory to write corpus.jsonl, queries.jsonl, qrels.tsv, "
                    "manifest.json into (created)")
    ap.add_argument("--info-dir", default="/usr/share/info")
    ap.add_argument("--manuals", default="all",
                    help="'all' (every manual found), 'essential' (only those on every Debian 12 "
                         f"system: {', '.join(ESSENTIAL_MANUALS)}), or a comma list of manual "
                         "names (default: all)")
    ap.add_argument("--min-chars", type=int, default=200,
                    help="skip nodes whose cleaned body is shorter (default 200)")
    ap.add_argument("--max-queries", type=int, default=0,
                    help="keep a seeded random sample of this many queries (default: all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the --max-queries sample")
    ap.add_argument("--long", type=int, default=0, metavar="CHARS",
                    help="long documents: join each manual's nodes into documents of at least "
                         "CHARS characters; queries about their middle third (default: off)")
    a = ap.parse_args()

    docs, queries, manuals, skipped, qskipped = build(a.info_dir, a.manuals, a.min_chars)
    if a.long:
        docs, queries = make_long(docs, queries, a.long)
    n_all_queries = len(queries)
    if a.max_queries and a.max_queries < len(queries):
        keep = set(random.Random(a.seed).sample(range(len(queries)), a.max_queries))
        queries = [q for i, q in enumerate(queries) if i in keep]

    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"_id": d["_id"], "title": "", "text": d["text"]},
                               ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps({"_id": q["_id"], "text": q["text"]}, ensure_ascii=False) + "\n")
    with open(out / "qrels.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in queries:
            f.write(f"{q['_id']}\t{q['doc']}\t1\n")
    chars = [len(d["text"]) for d in docs]
    counts = {
        "documents": len(docs), "queries": len(queries), "queries_before_sampling": n_all_queries,
        "document_chars": {"total": sum(chars), "min": min(chars), "max": max(chars),
                           "median": sorted(chars)[len(chars) // 2]},
        "documents_without_heading": sum(not d["heading"] for d in docs),
        "nodes_skipped": dict(sorted(skipped.items())),
        "queries_dropped": dict(sorted(qskipped.items())),
    }
    manifest = {
        "generator": "bench/retrieval_data.py",
        "info_dir": str(a.info_dir),
        "options": {"manuals": a.manuals, "min_chars": a.min_chars,
                    "max_queries": a.max_queries, "seed": a.seed, "long": a.long},
        "manuals": manuals,
        "essential_manuals": [m["manual"] for m in manuals
                              if m["files"] and all(f["essential"] for f in m["files"])],
        "counts": counts,
    }
    with open(out / "manifest.json", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")

    print(f"retrieval_data: {len(docs)} documents, {len(queries)} queries "
          f"({n_all_queries} before sampling) from {len(manuals)} manuals "
          f"({', '.join(m['manual'] for m in manuals)}) -> {out}", file=sys.stderr)
    print(f"retrieval_data: nodes skipped {dict(skipped)}, queries dropped {dict(qskipped)}; "
          f"Essential-package manuals: {', '.join(manifest['essential_manuals']) or 'none'}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
