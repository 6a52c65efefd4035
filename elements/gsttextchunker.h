/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextchunker.h — textchunker: streams a text document into token-sized chunks. */
#pragma once

#include <gst/gst.h>
#include "te-chunker.h"
#include "te-model.h"

G_BEGIN_DECLS

#define GST_TYPE_TEXT_CHUNKER (gst_text_chunker_get_type ())
G_DECLARE_FINAL_TYPE (GstTextChunker, gst_text_chunker, GST, TEXT_CHUNKER, GstElement)

/* What textchunker does with input that is not UTF-8 (GstTextChunker:invalid-utf8). */
typedef enum {
  GST_TEXT_CHUNKER_INVALID_UTF8_ERROR,
  GST_TEXT_CHUNKER_INVALID_UTF8_REPLACE,
  GST_TEXT_CHUNKER_INVALID_UTF8_SKIP_DOCUMENT,
} GstTextChunkerInvalidUtf8;

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
  gint max_latency;             /* ms; -1 = auto (only when upstream is live), 0 = off */
  GstTextChunkerInvalidUtf8 invalid_utf8;
  gchar *prompt;                /* literal prompt, NULL = not given */
  gchar *prompt_name;           /* a name in the model's prompts, NULL = not given */
  gchar *instruction;           /* task for "Instruct: {task}\nQuery: ", NULL = not given */

  /* streaming state: set up in READY->PAUSED, then used only with the sink pad's stream lock
   * held (the chain function, serialized events, the max-latency flush) */
  TeModel *model;
  TeChunker *chunker;
  guint eff_max_tokens;
  gchar *doc_id;                /* id of the document being chunked, NULL before its first byte */
  guint doc_count;
  gboolean caps_sent;
  GstFlowReturn flow;           /* last downstream result, seen from the chunk callback */
  gboolean markup;              /* input is text/x-raw,format=pango-markup */
  GString *text;                /* scratch: one buffer's text after markup stripping */
  GArray *spans;                /* byte range -> input buffer time, oldest first (bounded) */
  guint64 doc_bytes;            /* text bytes of the current document pushed so far */
  gboolean last_span_open;      /* last span had a PTS but no duration: next PTS ends it */
  gboolean upstream_live;       /* upstream answered the latency query as live */
  guint64 doc_chunks;           /* chunks pushed for the current document */
  GstFlowReturn timer_flow;     /* a failed push of the max-latency flush, for the next chain */
  GstStructure *doc_info;       /* upstream's document-start fields for this document, or NULL */
  gboolean doc_skipping;        /* document given up (skipped): drop its bytes until its end */
  gboolean doc_keep_previous;   /* upstream could not read it this time: stores keep what they have */
  GChecksum *doc_hash;          /* SHA-256 of the document's bytes as received */
  guint64 doc_tokens;           /* tokens of the chunks pushed for the current document */
  GstTextChunkerInvalidUtf8 eff_invalid_utf8;
  gchar *chunking;              /* the settings that decide chunk boundaries and texts, for stores */
  gchar *eff_prompt;            /* the prompt in use ("" = none), resolved at READY->PAUSED */

  /* max-latency timer: a thread waiting on the element's clock; fields under timer_lock */
  GMutex timer_lock;
  GCond timer_cond;
  GThread *timer_thread;
  gboolean timer_quit;
  GstClockTime deadline;        /* absolute clock time of the pending flush; NONE = none */
  GstClockID timer_id;          /* the clock wait in progress, NULL if none */
  GstClockTime timer_wait;      /* the time timer_id waits for */
  GstClockTime timer_latency;   /* latency to re-arm with on PAUSED->PLAYING; 0 = nothing waits */
};

GST_ELEMENT_REGISTER_DECLARE (textchunker);

G_END_DECLS
