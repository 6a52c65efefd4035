/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedmeta.c — GstTextChunkMeta registration, init/free/transform. */
#include "gsttextembedmeta.h"

#include <string.h>

GType
gst_text_chunk_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };   /* no tags: kept across any transformation */

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstTextChunkMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
text_chunk_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstTextChunkMeta *m = (GstTextChunkMeta *) meta;
  m->doc_id = NULL;
  m->text = NULL;
  m->text_len = 0;
  m->index = m->start = m->end = 0;
  m->n_tokens = 0;
  m->n_prompt_tokens = 0;
  m->overlap_len = 0;
  m->overlap_first = m->n_overlap_tokens = 0;
  m->kind = GST_TEXT_CHUNK_KIND_CHUNK;
  m->span_first = m->span_n = 0;
  m->window_start = m->window_end = 0;
  m->pts = m->duration = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static void
text_chunk_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstTextChunkMeta *m = (GstTextChunkMeta *) meta;
  g_free (m->doc_id);
  g_free (m->text);
}

/* The fields gst_buffer_add_text_chunk_meta() does not take. */
static void
copy_token_fields (GstTextChunkMeta * d, const GstTextChunkMeta * m)
{
  if (!d)
    return;
  d->n_prompt_tokens = m->n_prompt_tokens;
  d->overlap_len = m->overlap_len;
  d->overlap_first = m->overlap_first;
  d->n_overlap_tokens = m->n_overlap_tokens;
  d->kind = m->kind;
  d->span_first = m->span_first;
  d->span_n = m->span_n;
  d->window_start = m->window_start;
  d->window_end = m->window_end;
  d->pts = m->pts;
  d->duration = m->duration;
}

static gboolean
text_chunk_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer, GQuark type,
    gpointer data)
{
  GstTextChunkMeta *m = (GstTextChunkMeta *) meta;
  /* The meta describes the whole chunk, whatever happens to the bytes: copy it for copies and
   * for any other transformation alike. */
  return gst_text_chunk_meta_copy (dest, m) != NULL;
}

const GstMetaInfo *
gst_text_chunk_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *mi = gst_meta_register (GST_TEXT_CHUNK_META_API_TYPE,
        "GstTextChunkMeta", sizeof (GstTextChunkMeta), text_chunk_meta_init,
        text_chunk_meta_free, text_chunk_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) mi);
  }
  return info;
}

GstTextChunkMeta *
gst_buffer_add_text_chunk_meta (GstBuffer * buffer, const gchar * doc_id, guint64 index,
    guint64 start, guint64 end, const gchar * text, gsize text_len, guint n_tokens)
{
  GstTextChunkMeta *m = (GstTextChunkMeta *) gst_buffer_add_meta (buffer,
      GST_TEXT_CHUNK_META_INFO, NULL);
  if (!m)
    return NULL;
  m->doc_id = g_strdup (doc_id ? doc_id : "");
  m->index = index;
  m->start = start;
  m->end = end;
  /* not g_strndup: the text may hold NUL bytes (valid UTF-8), text_len is authoritative */
  m->text_len = text ? text_len : 0;
  m->text = g_malloc (m->text_len + 1);
  if (m->text_len)
    memcpy (m->text, text, m->text_len);
  m->text[m->text_len] = '\0';
  m->n_tokens = n_tokens;
  return m;
}

GstTextChunkMeta *
gst_text_chunk_meta_copy (GstBuffer * dest, const GstTextChunkMeta * m)
{
  GstTextChunkMeta *d = gst_buffer_add_text_chunk_meta (dest, m->doc_id, m->index, m->start,
      m->end, m->text, m->text_len, m->n_tokens);
  copy_token_fields (d, m);
  return d;
}

void
gst_text_chunk_meta_copy_all (GstBuffer * dest, GstBuffer * src)
{
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (src, &state, GST_TEXT_CHUNK_META_API_TYPE)))
    gst_text_chunk_meta_copy (dest, (GstTextChunkMeta *) meta);
}

const GstStructure *
gst_text_embed_event_get_document (GstEvent * event, const gchar * name)
{
  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return NULL;
  const GstStructure *s = gst_event_get_structure (event);
  return s && gst_structure_has_name (s, name) ? s : NULL;
}

GstStructure *
gst_text_embed_query_get_document_status (GstQuery * query)
{
  if (GST_QUERY_TYPE (query) != GST_QUERY_CUSTOM)
    return NULL;
  const GstStructure *s = gst_query_get_structure (query);
  if (!s || !gst_structure_has_name (s, GST_TEXT_EMBED_DOCUMENT_STATUS))
    return NULL;
  return gst_query_writable_structure (query);
}

gchar *
gst_text_embed_identity_from_structure (const GstStructure * s)
{
  const gchar *encoder = gst_structure_get_string (s, "encoder");
  if (!encoder)
    return NULL;
  const gchar *pooling = gst_structure_get_string (s, "pooling");
  gboolean normalized = FALSE;
  gint dims = 0;
  gst_structure_get_boolean (s, "normalized", &normalized);
  gst_structure_get_int (s, "dimension", &dims);
  const gchar *chunking = gst_structure_get_string (s, "chunking");
  /* a pooling that leaves the prompt's tokens out (1_Pooling include_prompt=false) gives other
   * vectors: part of the identity, written only then so that other identities stay as before */
  gboolean include_prompt = TRUE, exclude_overlap = FALSE;
  gst_structure_get_boolean (s, "include-prompt", &include_prompt);
  /* likewise embedpooler exclude-overlap and document-vectors */
  gboolean document_vectors = FALSE;
  gst_structure_get_boolean (s, "exclude-overlap", &exclude_overlap);
  gst_structure_get_boolean (s, "document-vectors", &document_vectors);
  return g_strdup_printf ("%s;pooling=%s%s%s%s;normalized=%d;dims=%d%s%s", encoder,
      pooling ? pooling : "?", include_prompt ? "" : ",exclude-prompt",
      exclude_overlap ? ",exclude-overlap" : "",
      document_vectors ? ",document-vectors" : "", normalized ? 1 : 0,
      dims, chunking ? ";chunking=" : "", chunking ? chunking : "");
}
