/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedplugin.c — registers the textembed plugin's elements (and nothing else). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gsttextchunker.h"
#include "gsttexttokenizer.h"
#include "gstnpuencoder.h"
#include "gstembedpooler.h"
#include "gstembedsink.h"
#include "gsttextembedbin.h"
#include "gstcorpussrc.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (textchunker, plugin);
  ret |= GST_ELEMENT_REGISTER (texttokenizer, plugin);
  ret |= GST_ELEMENT_REGISTER (npuencoder, plugin);
  ret |= GST_ELEMENT_REGISTER (embedpooler, plugin);
  ret |= GST_ELEMENT_REGISTER (embedsink, plugin);
  ret |= GST_ELEMENT_REGISTER (textembed, plugin);
  ret |= GST_ELEMENT_REGISTER (corpussrc, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, textembed,
    "Long text to embeddings on NPUs and the CPU: chunking, tokenization, transformer encoder, "
    "pooling", plugin_init, VERSION, "LGPL", PACKAGE, "https://gstreamer.freedesktop.org")
