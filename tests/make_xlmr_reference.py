#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate tests/data/xlmr_reference.json: transformers' XLMRobertaModel outputs for the
random-weight models of tests/xlmr_models.py (small, e5-small), the ground truth
tests/test_xlmr.py compares our encoder with (cpu, exporter/ONNX, openvino, GStreamer).

For each model: the safetensors sha256 (the test regenerates the weights and refuses to compare
if they hash differently), the id sequences, run as one right-padded batch (pad id 1, attention
mask 0) the way sentence-transformers batches them; the last hidden state at
xlmr_models.stored_positions() of each row; and the mean over each row's real tokens
(sentence-transformers' mean pooling, not normalised).

Needs torch and transformers (.venv-peer; CI does not have them, hence the stored output).
Runs offline:

    .venv-peer/bin/python tests/make_xlmr_reference.py [--out FILE]
"""
import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import xlmr_models  # noqa: E402


def f7(x):
    return float(f"{x:.8g}")


def reference_for(name, tmp):
    import torch
    from transformers import XLMRobertaModel

    d = pathlib.Path(tmp) / name
    sha = xlmr_models.write_model(name, d)
    model, info = XLMRobertaModel.from_pretrained(str(d), dtype=torch.float32,
                                                  output_loading_info=True)
    # Every weight must come from the file (a missing one would be initialised at random).
    bad = {k: v for k, v in info.items() if v}
    if bad:
        sys.exit(f"{name}: transformers did not load the file cleanly: {bad}")
    model.eval()
    rows = xlmr_models.sequences(name)
    S = max(len(r) for r in rows)
    pad = xlmr_models.CONFIGS[name]["pad_token_id"]
    ids = torch.full((len(rows), S), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), S), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1)
    out = {"config": xlmr_models.CONFIGS[name], "safetensors_sha256": sha,
           "batch": {"seq_len": S, "pad_id": pad}, "rows": []}
    for i, r in enumerate(rows):
        pos = xlmr_models.stored_positions(len(r))
        out["rows"].append({
            "ids": r,
            "positions": pos,
            "token_states": [[f7(x) for x in hidden[i, p].tolist()] for p in pos],
            "mean_pooled": [f7(x) for x in pooled[i].tolist()],
        })
    print(f"{name}: {len(rows)} rows, lengths {[len(r) for r in rows]}, sha256 {sha[:16]}",
          file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "data" /
                                         "xlmr_reference.json"))
    args = ap.parse_args()

    import numpy
    import torch
    import transformers

    torch.manual_seed(0)
    torch.set_num_threads(2)
    doc = {
        "about": "transformers XLMRobertaModel on the random-weight models of "
                 "tests/xlmr_models.py; made by tests/make_xlmr_reference.py",
        "generated_with": {"transformers": transformers.__version__,
                           "torch": torch.__version__, "numpy": numpy.__version__,
                           "python": platform.python_version()},
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="xlmr-ref-") as tmp:
        for name in xlmr_models.CONFIGS:
            doc["models"][name] = reference_for(name, tmp)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
