#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Text on standard input, JSON Lines on standard output (embedsink location=-), e.g. in a shell
# pipe: some-transcriber | pipelines/stdin-to-stdout.sh > embeddings.jsonl
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
printf 'The quick brown fox jumps over the lazy dog.\n\nA second paragraph, in another voice.\n' \
  | gst-launch-1.0 -q fdsrc fd=0 ! textembed document-id=stdin ! embedsink location=- \
  > "$OUT_DIR/stdin.jsonl"
