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
  return TRUE;
}

static void
text_chunk_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstTextChunkMeta *m = (GstTextChunkMeta *) meta;
  g_free (m->doc_id);
  g_free (m->text);
}

static gboolean
text_chunk_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer, GQuark type,
    gpointer data)
{
  GstTextChunkMeta *m = (GstTextChunkMeta *) meta;
  /* The meta describes the whole chunk, whatever happens to the bytes: copy it for copies and
   * for any other transformation alike. */
  return gst_buffer_add_text_chunk_meta (dest, m->doc_id, m->index, m->start, m->end, m->text,
      m->text_len, m->n_tokens) != NULL;
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

void
gst_text_chunk_meta_copy_all (GstBuffer * dest, GstBuffer * src)
{
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (src, &state, GST_TEXT_CHUNK_META_API_TYPE))) {
    GstTextChunkMeta *m = (GstTextChunkMeta *) meta;
    gst_buffer_add_text_chunk_meta (dest, m->doc_id, m->index, m->start, m->end, m->text,
        m->text_len, m->n_tokens);
  }
}
