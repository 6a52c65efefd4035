/* gsttextchunker.h — textchunker: streams a text document into token-sized chunks. */
#pragma once

#include <gst/gst.h>
#include "te-chunker.h"
#include "te-model.h"

G_BEGIN_DECLS

#define GST_TYPE_TEXT_CHUNKER (gst_text_chunker_get_type ())
G_DECLARE_FINAL_TYPE (GstTextChunker, gst_text_chunker, GST, TEXT_CHUNKER, GstElement)

struct _GstTextChunker
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties, under the object lock */
  gchar *model_path;
  guint max_tokens;
  guint overlap_tokens;
  gchar *document_id;

  /* streaming state, streaming thread only (set up in READY->PAUSED) */
  TeModel *model;
  TeChunker *chunker;
  guint eff_max_tokens;
  gchar *doc_id;                /* id of the document being chunked, NULL before its first byte */
  guint doc_count;
  gboolean caps_sent;
  GstFlowReturn flow;           /* last downstream result, seen from the chunk callback */
};

GST_ELEMENT_REGISTER_DECLARE (textchunker);

G_END_DECLS
