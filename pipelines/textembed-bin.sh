#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The same through the convenience bin, one document id, CLS pooling without normalisation.
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
gst-launch-1.0 -q filesrc location=/usr/share/common-licenses/Apache-2.0 \
  ! textembed document-id=apache-2.0 max-tokens=256 pooling=cls normalize=false \
  ! embedsink location="$OUT_DIR/apache.jsonl" include-text=false
