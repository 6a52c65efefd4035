/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedmeta.h — GstTextChunkMeta: where a buffer's text came from (document, chunk index,
 * byte range, the chunk text, its token count). textchunker attaches it; every later element
 * copies it to its output, so it reaches embedsink or an appsink. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* What a buffer's vector stands for (embedpooler document-vectors). */
typedef enum {
  GST_TEXT_CHUNK_KIND_CHUNK = 0,     /* a chunk of a document (every buffer before embedpooler) */
  GST_TEXT_CHUNK_KIND_DOCUMENT = 1,  /* the whole document: embedpooler's document vector */
} GstTextChunkKind;

typedef struct {
  GstMeta meta;
  gchar *doc_id;        /* document identifier */
  guint64 index;        /* chunk index within the document, from 0 */
  guint64 start, end;   /* byte range [start, end) in the source document */
  gchar *text;          /* the chunk's text, NUL-terminated UTF-8 (text_len bytes) */
  gsize text_len;
  guint n_tokens;       /* tokens the encoder sees, special tokens and prompt included (0 = not
                         * known yet) */
  guint n_prompt_tokens;  /* the leading tokens that are the prompt's, as sentence-transformers
                           * counts them ([CLS] + the prompt's own; 0 = no prompt): what pooling
                           * leaves out when the model's include_prompt is false. Set by
                           * texttokenizer; the text, byte range and offsets never include them. */
  gsize overlap_len;    /* the first bytes of text that the previous chunk of the document also
                         * holds (textchunker overlap-tokens; 0 = none). Set by textchunker. */
  guint overlap_first;  /* the tokens of those bytes: n_overlap_tokens tokens from index */
  guint n_overlap_tokens;  /* overlap_first (after [CLS] and the prompt). Set by texttokenizer;
                            * embedpooler exclude-overlap leaves them out of the pooling. */
  GstTextChunkKind kind;  /* chunk, or (after embedpooler document-vectors) document: then
                           * index is the document's chunk count, start/end span its chunks,
                           * text is empty and n_tokens is the weight of its vector */
  /* Late chunking (texttokenizer late-chunking): a buffer is a window of a document's text and
   * carries one meta per chunk whose vector it gives. The chunk pools the span_n token rows from
   * span_first (its own tokens; the window's first chunk also takes the leading special and
   * prompt tokens, its last the trailing ones); n_prompt_tokens, overlap_first and
   * n_overlap_tokens count rows of the window; window_start and window_end the document bytes
   * the window holds. pts and duration are the chunk's own timestamps
   * (the window buffer's span its chunks'). span_n 0: the buffer is the chunk alone. */
  guint span_first;
  guint span_n;
  guint64 window_start, window_end;  /* the window's byte range in the document */
  GstClockTime pts;
  GstClockTime duration;
} GstTextChunkMeta;

GType gst_text_chunk_meta_api_get_type (void);
#define GST_TEXT_CHUNK_META_API_TYPE (gst_text_chunk_meta_api_get_type ())
const GstMetaInfo *gst_text_chunk_meta_get_info (void);
#define GST_TEXT_CHUNK_META_INFO (gst_text_chunk_meta_get_info ())

#define gst_buffer_get_text_chunk_meta(b) \
  ((GstTextChunkMeta *) gst_buffer_get_meta ((b), GST_TEXT_CHUNK_META_API_TYPE))

GstTextChunkMeta *gst_buffer_add_text_chunk_meta (GstBuffer * buffer, const gchar * doc_id,
    guint64 index, guint64 start, guint64 end, const gchar * text, gsize text_len,
    guint n_tokens);

/* Copy @m onto @dest (all fields); returns the copy. */
GstTextChunkMeta *gst_text_chunk_meta_copy (GstBuffer * dest, const GstTextChunkMeta * m);

/* Copy every GstTextChunkMeta of @src onto @dest (all fields). */
void gst_text_chunk_meta_copy_all (GstBuffer * dest, GstBuffer * src);


/* ---- Document boundaries and resume ---------------------------------------------------------
 *
 * A stream may carry many documents (a corpus). Each is framed by two serialized custom
 * downstream events, in order with its text buffers:
 *
 *   "textembed/document-start": id (string, required), path (string), size (gint64, bytes of the
 *     text, -1 unknown), mtime (gint64, seconds, -1 unknown), hash (string "sha256:<hex>"),
 *     seq (guint64, 0-based position in the listing), total-documents and total-bytes (gint64,
 *     -1 unknown), invalid-utf8-offset (gint64: first byte that is not UTF-8, -1 none, absent
 *     when not checked); textchunker adds chunking (string: its settings that decide the chunks,
 *     the prompt included) and prompt (string, only when there is one: the text the encoder sees
 *     before every chunk of the document; texttokenizer prepends it, embedsink records it).
 *   "textembed/document-end": id, status ("complete" or "skipped"), reason (string, when
 *     skipped), keep-previous (boolean: skipped because it could not be read this time, so a
 *     store keeps what it already has for it), chunks, tokens, bytes (guint64), hash (string,
 *     when known).
 *
 * corpussrc sends both around each document (a document it cannot read is a start immediately
 * followed by a skipped end). textchunker consumes its input's pair and sends its own pair around
 * the chunks of every document — also for plain input without events (filesrc), where it makes
 * them up — with the fields above, chunk/token counts and hash filled in. Later elements pass
 * them on in order; embedsink commits one document per document-end.
 *
 * "textembed/corpus-end" (no fields, before EOS): the listing was complete, so documents a store
 * holds but this run did not list are gone (embedsink marks them deleted).
 *
 * "textembed/document-status" is a custom downstream query a source sends before reading a
 * document: fields id, hash, size in; each element that decides the embedding adds its part of
 * the identity on the way (textchunker: chunking; npuencoder: encoder; embedpooler: pooling,
 * normalized, dimension, include-prompt);
 * embedsink answers current=TRUE when its store already holds the document complete with that
 * hash and identity. No answer means "not current". */

#define GST_TEXT_EMBED_DOCUMENT_START "textembed/document-start"
#define GST_TEXT_EMBED_DOCUMENT_END "textembed/document-end"
#define GST_TEXT_EMBED_CORPUS_END "textembed/corpus-end"
#define GST_TEXT_EMBED_DOCUMENT_STATUS "textembed/document-status"

/* "textembed/encoder-limits": a custom query texttokenizer sends downstream before late
 * chunking; npuencoder answers "max-length" (int): the longest token sequence its backend takes
 * (a static-shape backend's largest bucket). */
#define GST_TEXT_EMBED_ENCODER_LIMITS "textembed/encoder-limits"

/* The named structure of @event if it is one of the custom events above, else NULL. */
const GstStructure *gst_text_embed_event_get_document (GstEvent * event, const gchar * name);

/* The writable structure of @query if it is a document-status query, else NULL. */
GstStructure *gst_text_embed_query_get_document_status (GstQuery * query);

/* The embedding identity string from the fields textchunker, npuencoder and embedpooler put in a
 * document-status query or in their caps and events ("encoder", "pooling", "include-prompt",
 * "normalized", "dimension", "exclude-overlap", "document-vectors", and "chunking" when present,
 * last): "<encoder>;pooling=P[,exclude-prompt][,exclude-overlap][,document-vectors];
 * normalized=N;dims=D[;chunking=C]" (",exclude-prompt" when include-prompt is FALSE: the model's
 * pooling leaves a prompt's tokens out; ",exclude-overlap" when embedpooler leaves the overlap's
 * tokens out; ",document-vectors" when it adds a vector per document; texttokenizer
 * late-chunking adds ",late-chunking=W" to the chunking). NULL when
 * "encoder" is missing. */
gchar *gst_text_embed_identity_from_structure (const GstStructure * s);

G_END_DECLS
