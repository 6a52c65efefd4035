#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/demo.sh — README command 1: set everything up, then embed a long document (the GPL-3
# text) through the five-element pipeline with the default model, writing out.jsonl.
# Usage: tools/demo.sh [FILE [OUT]]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
IN=${1:-/usr/share/common-licenses/GPL-3}
OUT=${2:-out.jsonl}
export GST_PLUGIN_PATH="$PWD/build/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
set -x
gst-launch-1.0 -q filesrc location="$IN" \
  ! textchunker max-tokens=128 overlap-tokens=16 \
  ! texttokenizer ! npuencoder ! embedpooler \
  ! embedsink location="$OUT"
set +x
.venv/bin/python - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
dim = len(rows[0]["embedding"]) if rows else 0
print(f"{sys.argv[1]}: {len(rows)} chunks of {rows[0]['doc'] if rows else '?'}, "
      f"{sum(r['tokens'] for r in rows)} tokens, embedding dimension {dim}")
PY
