#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The cpu backend in int8 (docs/cpu.md): the linear layers with int8 weights and activations,
# integer dot products chosen from the CPU's features (AVX-512 VNNI, AVX2, NEON sdot); about
# 2.5x the fp32 throughput, cosine >= 0.99 to fp32. gst-launch -m prints npuencoder-stats with
# the kernel used, e.g. kernel="avx512_vnni int8, 2 threads".
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
gst-launch-1.0 -m filesrc location=/usr/share/common-licenses/GPL-3 \
  ! textchunker max-tokens=128 \
  ! texttokenizer \
  ! npuencoder backend-options="dtype=int8" stats-interval=60000 \
  ! embedpooler \
  ! embedsink location="$OUT_DIR/gpl-int8.jsonl" | grep -o 'kernel=(string)"[^"]*" *'
