#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Late chunking and a document vector: chunks of 64 tokens, each embedded in the context of a
# window of up to 256 tokens of the licence (texttokenizer late-chunking), then one more line
# for the whole document ("kind":"document", embedpooler document-vectors).
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
gst-launch-1.0 -q filesrc location=/usr/share/common-licenses/GPL-3 \
  ! textchunker max-tokens=64 \
  ! texttokenizer late-chunking=true window-tokens=256 \
  ! npuencoder \
  ! embedpooler document-vectors=true \
  ! embedsink location="$OUT_DIR/gpl-late.jsonl"
