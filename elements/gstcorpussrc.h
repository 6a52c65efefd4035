/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstcorpussrc.h — corpussrc: many documents (a directory tree, a file list, a JSON Lines corpus)
 * as one text stream, each framed by document-start/end events that textchunker understands. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_CORPUS_SRC (gst_corpus_src_get_type ())
G_DECLARE_FINAL_TYPE (GstCorpusSrc, gst_corpus_src, GST, CORPUS_SRC, GstElement)

typedef enum {
  GST_CORPUS_SRC_FORMAT_AUTO,
  GST_CORPUS_SRC_FORMAT_DIRECTORY,
  GST_CORPUS_SRC_FORMAT_LIST,
  GST_CORPUS_SRC_FORMAT_JSONL,
} GstCorpusSrcFormat;

/* Shard of a document id: FNV-1a 64-bit of its UTF-8 bytes, modulo @shard_count. Stable across
 * machines and runs (exposed for tests and tools). */
guint gst_corpus_src_shard_of (const gchar * id, guint shard_count);

GST_ELEMENT_REGISTER_DECLARE (corpussrc);

G_END_DECLS
