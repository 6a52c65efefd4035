/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttexttokenizer.h — texttokenizer: chunk text to token ids with the model's tokenizer.json. */
#pragma once

#include <gst/gst.h>
#include "te-model.h"
#include "te-late-chunking.h"

G_BEGIN_DECLS

#define GST_TYPE_TEXT_TOKENIZER (gst_text_tokenizer_get_type ())
G_DECLARE_FINAL_TYPE (GstTextTokenizer, gst_text_tokenizer, GST, TEXT_TOKENIZER, GstElement)

struct _GstTextTokenizer
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  gchar *model_path;            /* property, object lock */
  gboolean late_chunking;       /* property, object lock */
  guint window_tokens;          /* property, object lock; 0 = the encoder's limit */

  /* streaming state */
  TeModel *model;
  TeEncoding enc;
  gboolean caps_sent;
  guint64 anon_index;           /* for input without chunk metadata */
  guint64 anon_offset;
  gchar *prompt;                /* the current document's prompt (document-start), NULL = none */
  guint prompt_tokens;          /* its length as sentence-transformers counts it */
  GByteArray *joint;            /* scratch: prompt + chunk text */
  /* late chunking */
  gboolean late;                /* late-chunking, as the element started */
  guint window;                 /* the window's tokens, 0 = not decided yet */
  TeLateWindows *windows;       /* the current document's, NULL between documents */
};

GST_ELEMENT_REGISTER_DECLARE (texttokenizer);

G_END_DECLS
