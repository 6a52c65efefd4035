/* gsttextchunker.c — textchunker element: text document in, token-sized chunks out. */
/**
 * SECTION:element-textchunker
 * @title: textchunker
 *
 * Splits a stream of UTF-8 text into chunks that each fit the encoder: at most #GstTextChunker:max-tokens
 * tokens of the model's own tokenizer, special tokens included. Chunks break at paragraph, then
 * sentence, then word boundaries; a run with no boundary at all is split hard. Input may arrive in
 * buffers of any size (a UTF-8 sequence split across buffers is reassembled) and memory stays bounded
 * whatever the document length.
 *
 * Each output buffer holds one chunk's text (exactly the source bytes, no NUL) and carries a
 * #GstTextChunkMeta with the document id, chunk index and byte range [start, end) in the source.
 * With #GstTextChunker:overlap-tokens 0 the byte ranges tile the input: no byte is dropped.
 * GST_BUFFER_OFFSET / OFFSET_END are the byte range too.
 *
 * A document ends at EOS or at a new STREAM_START; the id is the #GstTextChunker:document-id
 * property, else the upstream location (URI query, e.g. filesrc), else "doc-N".
 *
 * Invalid UTF-8 input is an error that names the byte offset.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker max-tokens=128 overlap-tokens=16 ! texttokenizer ! npuencoder ! embedpooler ! embedsink location=out.jsonl
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttextchunker.h"
#include "gsttextembedmeta.h"
#include "gsttextembedmodel.h"

GST_DEBUG_CATEGORY_STATIC (gst_text_chunker_debug);
#define GST_CAT_DEFAULT gst_text_chunker_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_MAX_TOKENS,
  PROP_OVERLAP_TOKENS,
  PROP_DOCUMENT_ID,
};

#define DEFAULT_MAX_TOKENS 0
#define DEFAULT_OVERLAP_TOKENS 0

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8; text/plain"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

G_DEFINE_TYPE (GstTextChunker, gst_text_chunker, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (textchunker, "textchunker", GST_RANK_NONE, GST_TYPE_TEXT_CHUNKER);

static void gst_text_chunker_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_text_chunker_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_text_chunker_finalize (GObject * object);
static GstStateChangeReturn gst_text_chunker_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_text_chunker_chain (GstPad * pad, GstObject * parent, GstBuffer * buf);
static gboolean gst_text_chunker_sink_event (GstPad * pad, GstObject * parent, GstEvent * event);

static void
gst_text_chunker_class_init (GstTextChunkerClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_text_chunker_debug, "textchunker", 0,
      "Text to token-sized chunks");

  gobject_class->set_property = gst_text_chunker_set_property;
  gobject_class->get_property = gst_text_chunker_get_property;
  gobject_class->finalize = gst_text_chunker_finalize;

  /**
   * GstTextChunker:model:
   *
   * Hugging Face model directory whose tokenizer.json counts the tokens. NULL: the default
   * model (sentence-transformers/all-MiniLM-L6-v2 as installed by setup). Give every element of
   * a pipeline the same model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Hugging Face model directory (NULL = default model)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextChunker:max-tokens:
   *
   * Largest chunk in tokens, counting the special tokens the encoder adds ([CLS], [SEP]).
   * 0 means the model's maximum sequence length; a larger value is clamped to it with a
   * warning.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_TOKENS,
      g_param_spec_uint ("max-tokens", "Max tokens",
          "Largest chunk in tokens incl. special tokens (0 = model maximum)", 0, G_MAXINT,
          DEFAULT_MAX_TOKENS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextChunker:overlap-tokens:
   *
   * How many tokens at the end of a chunk the next chunk repeats (rounded down to a word start).
   * At most half of a chunk's text tokens; more is clamped with a warning. 0: chunks tile the
   * input exactly.
   */
  g_object_class_install_property (gobject_class, PROP_OVERLAP_TOKENS,
      g_param_spec_uint ("overlap-tokens", "Overlap tokens",
          "Tokens the next chunk repeats from the end of the previous one", 0, G_MAXINT,
          DEFAULT_OVERLAP_TOKENS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextChunker:document-id:
   *
   * Identifier put in every chunk's metadata. NULL: the upstream location (from a URI query,
   * as filesrc answers it), else "doc-N" counting documents from 0.
   */
  g_object_class_install_property (gobject_class, PROP_DOCUMENT_ID,
      g_param_spec_string ("document-id", "Document id",
          "Document identifier for the chunk metadata (NULL = upstream location)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Text chunker",
      "Filter/Text", "Splits text into chunks of at most max-tokens model tokens at "
      "paragraph, sentence or word boundaries", "gst-textembed developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_text_chunker_change_state);
}

static void
gst_text_chunker_init (GstTextChunker * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_text_chunker_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_text_chunker_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->max_tokens = DEFAULT_MAX_TOKENS;
  self->overlap_tokens = DEFAULT_OVERLAP_TOKENS;
}

static void
gst_text_chunker_finalize (GObject * object)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (object);
  g_free (self->model_path);
  g_free (self->document_id);
  G_OBJECT_CLASS (gst_text_chunker_parent_class)->finalize (object);
}

static void
gst_text_chunker_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_MAX_TOKENS:
      self->max_tokens = g_value_get_uint (value);
      break;
    case PROP_OVERLAP_TOKENS:
      self->overlap_tokens = g_value_get_uint (value);
      break;
    case PROP_DOCUMENT_ID:
      g_free (self->document_id);
      self->document_id = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_text_chunker_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_MAX_TOKENS:
      g_value_set_uint (value, self->max_tokens);
      break;
    case PROP_OVERLAP_TOKENS:
      g_value_set_uint (value, self->overlap_tokens);
      break;
    case PROP_DOCUMENT_ID:
      g_value_set_string (value, self->document_id);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_text_chunker_start (GstTextChunker * self)
{
  GError *err = NULL;

  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->model_path);
  guint max_tokens = self->max_tokens;
  guint overlap = self->overlap_tokens;
  GST_OBJECT_UNLOCK (self);

  self->model = gst_text_embed_model_acquire (path, FALSE, &err);
  if (!self->model) {
    gst_text_embed_model_post_error (GST_ELEMENT (self), path, err);
    g_clear_error (&err);
    g_free (path);
    return FALSE;
  }
  g_free (path);

  const TeTokenizer *tok = te_model_tokenizer (self->model);
  guint model_max = te_model_sentence_config (self->model)->max_seq_length;
  guint special = te_tokenizer_num_special_tokens (tok);

  if (max_tokens == 0) {
    max_tokens = model_max;
  } else if (max_tokens > model_max) {
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("max-tokens=%u is more than the model accepts; using %u", max_tokens, model_max),
        ("model %s: maximum sequence length %u", te_model_dir (self->model), model_max));
    max_tokens = model_max;
  }
  if (max_tokens <= special) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("max-tokens=%u leaves no room for text: the model adds %u special tokens to every "
            "chunk", max_tokens, special), (NULL));
    return FALSE;
  }
  guint budget = max_tokens - special;
  if (overlap > budget / 2) {
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("overlap-tokens=%u is more than half a chunk; using %u", overlap, budget / 2), (NULL));
    overlap = budget / 2;
  }

  self->eff_max_tokens = max_tokens;
  self->chunker = te_chunker_new (tok, max_tokens, overlap);
  self->doc_count = 0;
  self->caps_sent = FALSE;
  self->flow = GST_FLOW_OK;
  GST_INFO_OBJECT (self, "chunks of at most %u tokens (%u special), overlap %u, model %s",
      max_tokens, special, overlap, te_model_dir (self->model));
  return TRUE;
}

static void
gst_text_chunker_stop (GstTextChunker * self)
{
  g_clear_pointer (&self->chunker, te_chunker_free);
  g_clear_pointer (&self->model, gst_text_embed_model_release);
  g_clear_pointer (&self->doc_id, g_free);
}

static GstStateChangeReturn
gst_text_chunker_change_state (GstElement * element, GstStateChange transition)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_text_chunker_start (self))
    return GST_STATE_CHANGE_FAILURE;

  ret = GST_ELEMENT_CLASS (gst_text_chunker_parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    gst_text_chunker_stop (self);
  return ret;
}

static void
gst_text_chunker_send_caps (GstTextChunker * self)
{
  if (self->caps_sent)
    return;
  GstCaps *caps = gst_caps_new_simple ("text/x-raw",
      "format", G_TYPE_STRING, "utf8",
      "tokenizer", G_TYPE_STRING, te_tokenizer_fingerprint (te_model_tokenizer (self->model)),
      "max-tokens", G_TYPE_INT, (gint) self->eff_max_tokens, NULL);
  gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  self->caps_sent = TRUE;
}

/* The document id for a document's first chunk: property, upstream location, or doc-N. */
static gchar *
gst_text_chunker_resolve_doc_id (GstTextChunker * self)
{
  GST_OBJECT_LOCK (self);
  gchar *id = g_strdup (self->document_id);
  GST_OBJECT_UNLOCK (self);
  if (id)
    return id;

  GstQuery *q = gst_query_new_uri ();
  if (gst_pad_peer_query (self->sinkpad, q)) {
    gchar *uri = NULL;
    gst_query_parse_uri (q, &uri);
    if (uri) {
      id = g_str_has_prefix (uri, "file:") ? g_filename_from_uri (uri, NULL, NULL) : NULL;
      if (!id)
        id = g_strdup (uri);
      g_free (uri);
    }
  }
  gst_query_unref (q);
  if (!id)
    id = g_strdup_printf ("doc-%u", self->doc_count);
  GST_INFO_OBJECT (self, "document %u is \"%s\"", self->doc_count, id);
  return id;
}

static gboolean
push_chunk (const TeChunk * chunk, gpointer user_data)
{
  GstTextChunker *self = user_data;
  GstBuffer *buf = gst_buffer_new_memdup (chunk->text, chunk->len);

  GST_BUFFER_OFFSET (buf) = chunk->start;
  GST_BUFFER_OFFSET_END (buf) = chunk->end;
  gst_buffer_add_text_chunk_meta (buf, self->doc_id, chunk->index, chunk->start, chunk->end,
      chunk->text, chunk->len, chunk->n_tokens);
  GST_LOG_OBJECT (self, "chunk %" G_GUINT64_FORMAT " [%" G_GUINT64_FORMAT ", %"
      G_GUINT64_FORMAT ") %u tokens", chunk->index, chunk->start, chunk->end, chunk->n_tokens);

  gst_text_chunker_send_caps (self);
  self->flow = gst_pad_push (self->srcpad, buf);
  return self->flow == GST_FLOW_OK;
}

static GstFlowReturn
gst_text_chunker_post_chunker_error (GstTextChunker * self, GError * err)
{
  GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Document \"%s\": %s",
          self->doc_id ? self->doc_id : "?", err->message), (NULL));
  g_error_free (err);
  return GST_FLOW_ERROR;
}

static GstFlowReturn
gst_text_chunker_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (parent);
  GstMapInfo map;
  GError *err = NULL;

  if (!self->doc_id)
    self->doc_id = gst_text_chunker_resolve_doc_id (self);

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map input buffer"), (NULL));
    return GST_FLOW_ERROR;
  }
  self->flow = GST_FLOW_OK;
  gboolean ok = te_chunker_push (self->chunker, (const char *) map.data, map.size, push_chunk,
      self, &err);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);

  if (!ok && err)
    return gst_text_chunker_post_chunker_error (self, err);
  return self->flow;
}

/* End of one document: emit what is pending. */
static GstFlowReturn
gst_text_chunker_finish_document (GstTextChunker * self)
{
  GError *err = NULL;
  if (!self->doc_id)
    return GST_FLOW_OK;         /* nothing was received */
  self->flow = GST_FLOW_OK;
  gboolean ok = te_chunker_finish (self->chunker, push_chunk, self, &err);
  GstFlowReturn ret = self->flow;
  if (!ok && err)
    ret = gst_text_chunker_post_chunker_error (self, err);
  g_clear_pointer (&self->doc_id, g_free);
  self->doc_count++;
  return ret;
}

static gboolean
gst_text_chunker_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (parent);

  GST_DEBUG_OBJECT (self, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      /* a new stream is a new document: finish the previous one if it had no EOS */
      gst_text_chunker_finish_document (self);
      if (!gst_pad_push_event (self->srcpad, event))
        return FALSE;
      /* our caps do not depend on the input's: announce them now, so a model mismatch
       * downstream shows at negotiation even before the first chunk */
      gst_text_chunker_send_caps (self);
      return TRUE;
    case GST_EVENT_CAPS:
      /* input caps are fixed by the template (utf8 text); ours carry the tokenizer */
      gst_event_unref (event);
      gst_text_chunker_send_caps (self);
      return TRUE;
    case GST_EVENT_SEGMENT:{
      const GstSegment *in;
      gst_event_parse_segment (event, &in);
      gst_text_chunker_send_caps (self);
      if (in->format == GST_FORMAT_TIME)
        return gst_pad_push_event (self->srcpad, event);
      /* bytes in, chunks out: downstream gets an open TIME segment, as parsers do */
      GstSegment seg;
      gst_segment_init (&seg, GST_FORMAT_TIME);
      GstEvent *out = gst_event_new_segment (&seg);
      gst_event_set_seqnum (out, gst_event_get_seqnum (event));
      gst_event_unref (event);
      return gst_pad_push_event (self->srcpad, out);
    }
    case GST_EVENT_EOS:{
      GstFlowReturn ret = gst_text_chunker_finish_document (self);
      if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING && ret != GST_FLOW_EOS)
        GST_DEBUG_OBJECT (self, "finishing the document gave %s", gst_flow_get_name (ret));
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_FLUSH_STOP:
      if (self->chunker)
        te_chunker_reset (self->chunker);
      g_clear_pointer (&self->doc_id, g_free);
      return gst_pad_push_event (self->srcpad, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}
