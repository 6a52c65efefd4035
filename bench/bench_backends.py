#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every backend and dtype of this build on this machine, in one run: quality, speed, memory,
load time; and our ONNX Runtime path against ONNX Runtime's own Python API on the same graph.

    .venv/bin/python bench/bench_backends.py [--threads 2] [--seconds 5] [--qnn-chunks 12]
        [--qnn-seconds 30]
        [--work-dir /tmp/te-bench-backends] [--json out.json]

Inputs: the licences in /usr/share/common-licenses cut into chunks of <= 128 tokens (as
bench_cpu.py), all-MiniLM-L6-v2; graphs exported by tools/te-export.py into --work-dir (8x128
onnx fp32/fp16/a16w8; a 1x128 A16W8 QNN HTP context binary for SM8650 / v75).

Per configuration (te-embed --ids, one process each):
  cosine      min and mean of the pooled, normalised embeddings against the cpu backend fp32
  tokens/s    te-embed --bench (real tokens; batches of 8, of 1 on the QNN context binary)
  peak RSS    of that process (ru_maxrss)
  load        backend open time as te-embed reports it, first run ("cold": OpenVINO compiles
              into an empty model cache; ONNX Runtime optimises the graph) and second run
              ("cached": OpenVINO's compiled blobs; for ONNX Runtime the same work again). For
              QNN the cold number is the context binary's build (the exporter's manifest) and
              the cached one the load of the binary.
The QNN HTP runs on the x86-64 simulator of the onnxruntime-qnn wheel: its speed says nothing
about the NPU, only what the simulator costs in CI; so it runs on --qnn-chunks chunks.

Overhead of our path: the same graph and batches through ONNX Runtime's Python API
(InferenceSession.run, same threads; for QNN the same EP options), tokens/s, in the same run.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cpu  # noqa: E402  (make_chunks, model_dir, cpu_line, the ONNX Runtime runner ORT)

ROOT = bench_cpu.ROOT
BUILD = bench_cpu.BUILD
TE_EMBED = BUILD / "tools" / "te-embed"



def fail(msg):
    sys.exit(f"bench_backends: {msg}")


def timed(cmd, stdin_path=None):
    """@cmd under GNU time (package "time"): (stdout, stderr, peak RSS in MiB)."""
    cmd = ["/usr/bin/time", "-f", "TE_MAXRSS_KB %M", *map(str, cmd)]
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as f:
        p = subprocess.run(cmd, stdin=f, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    m = re.search(r"TE_MAXRSS_KB (\d+)", p.stderr)
    return p.stdout, p.stderr, int(m.group(1)) / 1024 if m else float("nan")


def te_embed(model, ids_path, B, backend, options, bench=None):
    cmd = [TE_EMBED, "--model", model, "--ids", "--batch", B, "--backend", backend]
    if options:
        cmd += ["--backend-options", options]
    if bench:
        cmd += ["--bench", bench]
    return timed(cmd, ids_path)


def vectors(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("[")]


def cosines(a, b):
    res = []
    for x, y in zip(a, b):
        dot = sum(p * q for p, q in zip(x, y))
        res.append(dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y)))
    return res


def export(model, cache, args):
    base = [sys.executable, str(ROOT / "tools" / "te-export.py"), "--model", str(model),
            "--cache-dir", str(cache)]
    for extra in (["--shapes", "8x128", "--dtypes", "fp32,fp16,a16w8"],
                  ["--shapes", "1x128", "--dtypes", "a16w8", "--target", "qnn-htp",
                   "--soc-model", "57", "--htp-arch", "75"]):
        p = subprocess.run(base + extra, capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"te-export.py {' '.join(extra)}:\n{p.stderr[-3000:]}")


def built(name):
    return subprocess.run([TE_EMBED.parent / "te-devices", name],
                          capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--qnn-chunks", type=int, default=12)
    ap.add_argument("--qnn-seconds", type=float, default=30.0,
                    help="measuring time on the QNN simulator (about 2 s per chunk)")
    ap.add_argument("--work-dir", default="/tmp/te-bench-backends")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    model = bench_cpu.model_dir()
    chunks = bench_cpu.make_chunks(model, 128)
    ids_path = work / "ids-128.jsonl"
    ids_path.write_text("".join(json.dumps(c) + "\n" for c in chunks))
    qnn_ids = work / "ids-128-qnn.jsonl"
    qnn_ids.write_text("".join(json.dumps(c) + "\n" for c in chunks[:args.qnn_chunks]))
    export(model, cache, args)
    secs = str(args.seconds)
    T = args.threads

    print(f"machine: {bench_cpu.cpu_line()}; {len(chunks)} chunks of <= 128 tokens; "
          f"{T} threads", flush=True)
    ref_out, _, _ = te_embed(model, ids_path, 8, "cpu", f"threads={T}")
    ref = vectors(ref_out)

    configs = [("cpu", "fp32", f"threads={T}", 8), ("cpu", "int8", f"threads={T},dtype=int8", 8)]
    if built("onnx"):
        for d in ("fp32", "fp16", "a16w8"):
            configs.append(("onnx", d, f"ep=cpu,dtype={d},threads={T},cache-dir={cache}", 8))
        configs.append(("onnx", "qnn a16w8",
                        f"ep=qnn,dtype=a16w8,cpu-fallback=false,cache-dir={cache}", 1))
    if built("openvino"):
        for d in ("fp32", "fp16", "a16w8"):
            configs.append(("openvino", d, f"dtype={d},threads={T},cache-dir={cache},"
                            f"ov-cache-dir={work / ('ov-' + d)}", 8))

    results = []
    for backend, label, opts, B in configs:
        qnn = "qnn" in label
        ids = qnn_ids if qnn else ids_path
        if backend == "openvino":
            subprocess.run(["rm", "-rf", str(work / ("ov-" + label))])
        # the first ("cold") open: OpenVINO into an empty model cache; the QNN context binary's
        # build, as the exporter recorded it
        if qnn:
            man = next(cache.glob("*/qnn-htp-a16w8-1x128/manifest.json"))
            cold = json.loads(man.read_text())["build_seconds"] * 1000
        else:
            _, e, _ = te_embed(model, ids, B, backend, opts, bench="0.01")
            cold = float(re.search(r"backend open ([\d.]+) ms", e).group(1))
        # quality
        out, _, _ = te_embed(model, ids, B, backend, opts)
        got = vectors(out)
        cos = cosines(got, ref[:len(got)])
        # speed, memory, the second ("cached") open
        _, err, rss = te_embed(model, ids, B, backend, opts,
                               bench=str(args.qnn_seconds) if qnn else secs)
        tps = float(re.search(r"encoder: ([\d.]+) tokens/s", err).group(1))
        cached = float(re.search(r"backend open ([\d.]+) ms", err).group(1))
        kernel = re.search(r"^te-embed bench: kernel (.*)$", err, re.M).group(1).strip()
        r = {"backend": backend, "dtype": label, "batch": B, "kernel": kernel,
             "min_cosine": min(cos), "mean_cosine": sum(cos) / len(cos), "chunks": len(cos),
             "tokens_per_s": tps, "peak_rss_mib": rss, "open_cold_ms": cold,
             "open_cached_ms": cached}
        results.append(r)
        print(f"{backend:9} {label:10} B={B}  min cos {r['min_cosine']:.6f} mean "
              f"{r['mean_cosine']:.6f} ({len(cos)} chunks)  {tps:9.0f} tokens/s  peak RSS "
              f"{rss:6.0f} MiB  open cold {cold:8.0f} ms, cached {cached:6.0f} ms"
              f"  [{kernel}]", flush=True)

    # our ONNX Runtime path vs ONNX Runtime's Python API, same graph, same batches
    overhead = []
    if built("onnx"):
        for ep, B, ids, pattern, opts in (
                ("cpu", 8, ids_path, "*/onnx-fp32-8x128/model.onnx",
                 f"ep=cpu,dtype=fp32,threads={T},cache-dir={cache}"),
                ("qnn", 1, qnn_ids, "*/qnn-htp-a16w8-1x128/model_ctx.onnx",
                 f"ep=qnn,dtype=a16w8,cpu-fallback=false,cache-dir={cache}")):
            graph = next(cache.glob(pattern))
            s = str(args.qnn_seconds) if ep == "qnn" else secs
            p = subprocess.run([sys.executable, "-c", bench_cpu.ORT, str(graph), str(ids), str(B),
                                "128", s, str(T), ep], capture_output=True, text=True)
            if p.returncode != 0:
                fail(f"ONNX Runtime Python on {graph}:\n{p.stderr[-3000:]}")
            py = json.loads(p.stdout.strip().splitlines()[-1])["tokens_per_s"]
            _, err, _ = te_embed(model, ids, B, "onnx", opts, bench=s)
            ours = float(re.search(r"encoder: ([\d.]+) tokens/s", err).group(1))
            overhead.append({"ep": ep, "graph": str(graph.relative_to(cache)), "batch": B,
                             "ours_tokens_per_s": ours, "python_tokens_per_s": py,
                             "ratio": ours / py})
            print(f"onnx {ep} {graph.parent.name}: ours {ours:.0f} tokens/s, ONNX Runtime Python "
                  f"{py:.0f} tokens/s: ratio {ours / py:.3f}", flush=True)

    if args.json:
        Path(args.json).write_text(json.dumps({"machine": bench_cpu.cpu_line(),
                                               "results": results, "overhead": overhead},
                                              indent=1))


if __name__ == "__main__":
    main()
