/* gsttextembedmeta.h — GstTextChunkMeta: where a buffer's text came from (document, chunk index,
 * byte range, the chunk text, its token count). textchunker attaches it; every later element
 * copies it to its output, so it reaches embedsink or an appsink. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  GstMeta meta;
  gchar *doc_id;        /* document identifier */
  guint64 index;        /* chunk index within the document, from 0 */
  guint64 start, end;   /* byte range [start, end) in the source document */
  gchar *text;          /* the chunk's text, NUL-terminated UTF-8 (text_len bytes) */
  gsize text_len;
  guint n_tokens;       /* tokens the encoder sees, special tokens included (0 = not known yet) */
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

/* Copy every GstTextChunkMeta of @src onto @dest. */
void gst_text_chunk_meta_copy_all (GstBuffer * dest, GstBuffer * src);

G_END_DECLS
