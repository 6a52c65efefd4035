#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Speech to embeddings: espeak-ng speaks a few sentences into a WAV file, pocketsphinx
# (gstreamer1.0-pocketsphinx + pocketsphinx-en-us, Debian) transcribes them — one text/plain buffer
# per utterance — and the transcript goes through the five elements into $OUT_DIR/speech.jsonl.
# Needs GST_PLUGIN_PATH to include build/plugin (tools/setup.sh prints it). OUT_DIR: where to write.
#
# Live: add "! identity sync=true" after wavparse to play the file in real time (identity then
# answers as a live source) and textchunker emits each utterance about max-latency (1000 ms by
# default) after it is recognised instead of waiting for a full chunk. From a microphone (stop
# with Ctrl-C; -e sends EOS so the last text is embedded too):
#   gst-launch-1.0 -e pulsesrc ! audioconvert ! audioresample ! pocketsphinx \
#     ! textchunker ! texttokenizer ! npuencoder ! embedpooler ! embedsink location=speech.jsonl
set -euo pipefail
OUT_DIR=${OUT_DIR:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

espeak-ng -v en-us -s 130 -m -w "$tmp/speech.wav" \
  'The weather today is sunny and warm. <break time="1500ms"/>
   We will go to the park tomorrow. <break time="1500ms"/>
   Please bring some water and a hat.'

# pocketsphinx prints its whole configuration on stderr: keep it out of sight unless we fail
if ! gst-launch-1.0 -q filesrc location="$tmp/speech.wav" ! wavparse ! audioconvert ! audioresample \
    ! pocketsphinx ! textchunker ! texttokenizer ! npuencoder ! embedpooler \
    ! embedsink location="$OUT_DIR/speech.jsonl" 2> "$tmp/stderr.log"; then
  cat "$tmp/stderr.log" >&2
  exit 1
fi
