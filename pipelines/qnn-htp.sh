#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Qualcomm Hexagon NPU (SM8650, HTP v75) from the pipeline: npuencoder backend=onnx runs the
# A16W8 QNN context binary through ONNX Runtime's QNN execution provider. On x86-64 the QNN HTP
# backend of the onnxruntime-qnn wheel is a simulator (about 2 s per 128-token chunk here); on
# a Snapdragon device the same line runs on the NPU with the device's libQnnHtp.so
# (backend_path) and ONNX Runtime (library): docs/npu.md.
#   1. tools/te-export.py builds the context binary into the export cache ("cache hit" when it
#      is there already);
#   2. cpu-fallback=false: ONNX Runtime may not put any node on its CPU EP, and fallback=none:
#      npuencoder may not fall back to the cpu backend: every chunk is computed on the HTP.
# gst-launch -m prints the npuencoder-stats at EOS: the kernel and the backend's load time.
# DOC: the text file to embed (default GPL-3). OUT_DIR: where to write. TE_EXPORT_CACHE: the
# export cache (default the exporter's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${OUT_DIR:-.}
DOC=${DOC:-/usr/share/common-licenses/GPL-3}
PY=${PYTHON:-$ROOT/.venv/bin/python}
CACHE=${TE_EXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/textembed}

"$PY" "$ROOT/tools/te-export.py" --target qnn-htp --soc-model 57 --htp-arch 75 \
  --dtypes a16w8 --shapes 1x128 --cache-dir "$CACHE" 2>&1 | grep -E '^(built|cache hit|rebuilt)'

gst-launch-1.0 -m filesrc location="$DOC" \
  ! textchunker max-tokens=128 \
  ! texttokenizer \
  ! npuencoder backend=onnx fallback=none batch-size=1 stats-interval=3600000 \
      backend-options="ep=qnn,dtype=a16w8,soc_model=57,htp_arch=75,cpu-fallback=false,cache-dir=$CACHE" \
  ! embedpooler \
  ! embedsink location="$OUT_DIR/qnn-htp.jsonl" \
  | grep -o -E '(kernel|backend-open-ms)=\([a-z]+\)("[^"]*"|[0-9.]+)'
