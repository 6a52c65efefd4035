/* gstembedsink.h — embedsink: writes embeddings with their chunk metadata as JSON Lines. */
#pragma once

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_EMBED_SINK (gst_embed_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstEmbedSink, gst_embed_sink, GST, EMBED_SINK, GstBaseSink)

struct _GstEmbedSink
{
  GstBaseSink parent;

  /* properties, object lock */
  gchar *location;
  gboolean include_text;

  /* streaming state */
  int fd;
  gboolean own_fd;
  gint dim;
  GString *line;
  guint64 n_written;
};

GST_ELEMENT_REGISTER_DECLARE (embedsink);

G_END_DECLS
