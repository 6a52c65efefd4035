/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedbin.h — textembed: textchunker ! texttokenizer ! npuencoder ! embedpooler in one bin. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TEXT_EMBED_BIN (gst_text_embed_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstTextEmbedBin, gst_text_embed_bin, GST, TEXT_EMBED_BIN, GstBin)

struct _GstTextEmbedBin
{
  GstBin parent;

  GstElement *chunker;
  GstElement *tokenizer;
  GstElement *encoder;
  GstElement *pooler;
  gchar *model_path;
};

GST_ELEMENT_REGISTER_DECLARE (textembed);

G_END_DECLS
