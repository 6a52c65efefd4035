#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""te-rknn.py — the RKNN step of tools/te-export.py --target rknn, run with the Python of
.venv-rknn (tools/setup.sh; rknn-toolkit2 pins numpy, onnx, protobuf and torch versions that
conflict with .venv's). Not meant to be run by hand.

    te-rknn.py --onnx G.onnx --out model.rknn --platform rk3588 --batch B --seq S
               [--int8 --dataset dataset.txt] [--check-inputs check.npz --check-out out.npy]

Converts the opset-19 encoder graph G (int32 input_ids / attention_mask / token_type_ids
[B, S]) into an .rknn model for the platform, in fp16 or (with --int8) asymmetric 8-bit
quantisation calibrated on the dataset file (one line per sample: three .npy files, the
inputs in that order). With --check-inputs, runs the rows of check.npz (arrays ids, mask,
types of shape [N, S]) through rknn-toolkit2's simulator of the built model, B rows at a time,
and saves the last hidden states [N, S, hidden] to --check-out. Prints one JSON line with the
toolkit version and timings."""
import argparse
import json
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--platform", default="rk3588")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--quantized-dtype", default="w8a8")
    ap.add_argument("--quantized-algorithm", default="normal")
    ap.add_argument("--auto-hybrid", type=float, default=0.0,
                    help="build with automatic hybrid quantisation: layers whose output's cosine "
                         "to the float model falls below this stay in fp16")
    ap.add_argument("--dataset")
    ap.add_argument("--check-inputs")
    ap.add_argument("--check-out")
    args = ap.parse_args()

    from importlib.metadata import version
    from rknn.api import RKNN

    B, S = args.batch, args.seq
    r = RKNN(verbose=False)
    hybrid = {"auto_hybrid_cos_thresh": args.auto_hybrid} if args.auto_hybrid else {}
    r.config(target_platform=args.platform, quantized_dtype=args.quantized_dtype,
             quantized_algorithm=args.quantized_algorithm, **hybrid)
    t0 = time.monotonic()
    if r.load_onnx(model=args.onnx, inputs=["input_ids", "attention_mask", "token_type_ids"],
                   input_size_list=[[B, S]] * 3) != 0:
        sys.exit(f"te-rknn: rknn-toolkit2 could not load {args.onnx}")
    if r.build(do_quantization=args.int8, dataset=args.dataset if args.int8 else None,
               auto_hybrid=bool(args.auto_hybrid)) != 0:
        sys.exit("te-rknn: rknn-toolkit2 could not build the model")
    if r.export_rknn(args.out) != 0:
        sys.exit(f"te-rknn: could not write {args.out}")
    t_build = time.monotonic() - t0
    t_check = 0.0
    if args.check_inputs:
        t0 = time.monotonic()
        if r.init_runtime(target=None) != 0:  # the x86 simulator
            sys.exit("te-rknn: rknn-toolkit2's simulator did not start")
        data = np.load(args.check_inputs)
        ids, mask, types = data["ids"], data["mask"], data["types"]
        outs = []
        for i in range(0, len(ids), B):
            part = slice(i, i + B)
            n = len(ids[part])
            feed = [np.zeros((B, S), np.int32) for _ in range(3)]
            for f, src in zip(feed, (ids, mask, types)):
                f[:n] = src[part]
            out = r.inference(inputs=feed, data_format=["nchw"] * 3)[0]
            outs.append(np.asarray(out, np.float32)[:n])
        np.save(args.check_out, np.concatenate(outs))
        t_check = time.monotonic() - t0
    r.release()
    print(json.dumps({"rknn_toolkit2": version("rknn-toolkit2"), "build_seconds": t_build,
                      "check_seconds": t_check}))


if __name__ == "__main__":
    main()
