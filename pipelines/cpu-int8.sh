#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The cpu backend in int8 (docs/cpu.md): the linear layers with int8 weights and activations,
# integer dot products chosen from the CPU's features (AVX-512 VNNI, AVX2, NEON sdot); cosine
# >= 0.99 to fp32. It pays where the CPU multiplies int8 faster than fp32: 2.2-2.7x the fp32
# throughput with VNNI on a Zen 4; none on an AVX2-only Zen 1, where the backend warns that
# dtype=fp32 is faster (docs/cpu.md). gst-launch -m prints npuencoder-stats with the kernel used,
# e.g. kernel="avx512_vnni int8, 2 threads".
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
gst-launch-1.0 -m filesrc location=/usr/share/common-licenses/GPL-3 \
  ! textchunker max-tokens=128 \
  ! texttokenizer \
  ! npuencoder backend-options="dtype=int8" stats-interval=60000 \
  ! embedpooler \
  ! embedsink location="$OUT_DIR/gpl-int8.jsonl" | grep -o 'kernel=(string)"[^"]*" *'
