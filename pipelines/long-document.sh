#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A long document through the five elements, chunks of at most 128 tokens overlapping by 16.
# Needs GST_PLUGIN_PATH to include build/plugin (tools/setup.sh prints it). OUT_DIR: where to write.
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
gst-launch-1.0 -q filesrc location=/usr/share/common-licenses/GPL-3 \
  ! textchunker max-tokens=128 overlap-tokens=16 \
  ! texttokenizer ! npuencoder batch-size=8 ! embedpooler \
  ! embedsink location="$OUT_DIR/gpl3.jsonl"
