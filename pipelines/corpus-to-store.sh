#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A small corpus (the short licence texts Debian installs) into an SQLite store, one transaction
# per document; run it twice and the second run finds every document current (resume).
# Needs GST_PLUGIN_PATH to include build/plugin (tools/setup.sh prints it). OUT_DIR: where to write.
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
gst-launch-1.0 -q corpussrc location=/usr/share/common-licenses include="BSD,Artistic,LGPL-3,CC0-1.0" \
  ! textchunker max-tokens=128 invalid-utf8=skip-document \
  ! texttokenizer ! npuencoder ! embedpooler \
  ! embedsink format=sqlite location="$OUT_DIR/licenses.sqlite"
