/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstembedsink.h — embedsink: writes embeddings with their chunk metadata as JSON Lines or into
 * an SQLite store (one transaction per document, resumable), and reports progress. */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_EMBED_SINK (gst_embed_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstEmbedSink, gst_embed_sink, GST, EMBED_SINK, GstBaseSink)

/* GstEmbedSink:format */
typedef enum {
  GST_EMBED_SINK_FORMAT_AUTO,
  GST_EMBED_SINK_FORMAT_JSONL,
  GST_EMBED_SINK_FORMAT_SQLITE,
} GstEmbedSinkFormat;

GST_ELEMENT_REGISTER_DECLARE (embedsink);

G_END_DECLS
