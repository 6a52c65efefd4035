/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttexttokenizer.c — texttokenizer element: UTF-8 chunks in, token ids out. */
/**
 * SECTION:element-texttokenizer
 * @title: texttokenizer
 *
 * Tokenizes each incoming text buffer with the model's tokenizer.json exactly as Hugging Face
 * `tokenizers` does (BERT's WordPiece and XLM-RoBERTa's SentencePiece Unigram families; the
 * supported components are listed in docs/tokenizers.md), special tokens included. An
 * unsupported tokenizer type is an error naming it.
 *
 * Output buffers (caps `application/x-text-tokens`) hold, for a chunk of n tokens,
 * n int32 token ids followed by n int32 token-type ids, in native byte order (size 8·n bytes).
 * The caps carry `tokenizer` (fingerprint of the vocabulary and rules), `vocab-size` and
 * `max-length` (the model's maximum sequence length).
 *
 * A document whose "textembed/document-start" event (from textchunker) has a `prompt` field is
 * tokenized as the prompt followed by each chunk's text, exactly the string sentence-transformers
 * tokenizes for `encode(texts, prompt=...)`; the token count in the #GstTextChunkMeta includes
 * the prompt's tokens, and `n_prompt_tokens` says how many lead the sequence (for pooling that
 * leaves them out). The meta's text and byte range stay the chunk's source text.
 *
 * Nothing is ever truncated: a buffer with more tokens than the model accepts is an error telling
 * to put textchunker upstream. Input caps from textchunker carry its tokenizer fingerprint; a
 * different one (elements given different models) fails negotiation with an error.
 * The #GstTextChunkMeta of each input buffer is copied to its output; input without one (text
 * straight from a source) gets one, with the buffer's running byte range.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker ! texttokenizer ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttexttokenizer.h"
#include "gsttextembedmeta.h"
#include "gsttextembedmodel.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_text_tokenizer_debug);
#define GST_CAT_DEFAULT gst_text_tokenizer_debug

enum
{
  PROP_0,
  PROP_MODEL,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8; text/plain"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-text-tokens"));

G_DEFINE_TYPE (GstTextTokenizer, gst_text_tokenizer, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (texttokenizer, "texttokenizer", GST_RANK_NONE,
    GST_TYPE_TEXT_TOKENIZER);

static void gst_text_tokenizer_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_text_tokenizer_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_text_tokenizer_finalize (GObject * object);
static GstStateChangeReturn gst_text_tokenizer_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_text_tokenizer_chain (GstPad * pad, GstObject * parent,
    GstBuffer * buf);
static gboolean gst_text_tokenizer_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event);

static void
gst_text_tokenizer_class_init (GstTextTokenizerClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_text_tokenizer_debug, "texttokenizer", 0,
      "Text to token ids");

  gobject_class->set_property = gst_text_tokenizer_set_property;
  gobject_class->get_property = gst_text_tokenizer_get_property;
  gobject_class->finalize = gst_text_tokenizer_finalize;

  /**
   * GstTextTokenizer:model:
   *
   * Hugging Face model directory whose tokenizer.json is used. NULL: the default model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Hugging Face model directory (NULL = default model)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Text tokenizer",
      "Filter/Text", "Turns text into token ids with a Hugging Face tokenizer.json",
      "gst-textembed developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_text_tokenizer_change_state);
}

static void
gst_text_tokenizer_init (GstTextTokenizer * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_text_tokenizer_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_text_tokenizer_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  te_encoding_init (&self->enc);
  self->joint = g_byte_array_new ();
}

static void
gst_text_tokenizer_finalize (GObject * object)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (object);
  g_free (self->model_path);
  g_free (self->prompt);
  g_byte_array_unref (self->joint);
  te_encoding_clear (&self->enc);
  G_OBJECT_CLASS (gst_text_tokenizer_parent_class)->finalize (object);
}

static void
gst_text_tokenizer_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_text_tokenizer_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static GstStateChangeReturn
gst_text_tokenizer_change_state (GstElement * element, GstStateChange transition)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    self->model = gst_text_embed_model_acquire_for_element (element, FALSE);
    if (!self->model)
      return GST_STATE_CHANGE_FAILURE;
    self->caps_sent = FALSE;
    self->anon_index = self->anon_offset = 0;
    g_clear_pointer (&self->prompt, g_free);
    self->prompt_tokens = 0;
  }

  ret = GST_ELEMENT_CLASS (gst_text_tokenizer_parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    g_clear_pointer (&self->model, gst_text_embed_model_release);
  return ret;
}

static void
gst_text_tokenizer_send_caps (GstTextTokenizer * self)
{
  if (self->caps_sent)
    return;
  const TeTokenizer *tok = te_model_tokenizer (self->model);
  GstCaps *caps = gst_caps_new_simple ("application/x-text-tokens",
      "tokenizer", G_TYPE_STRING, te_tokenizer_fingerprint (tok),
      "vocab-size", G_TYPE_INT, (gint) te_tokenizer_vocab_size (tok),
      "max-length", G_TYPE_INT, te_model_sentence_config (self->model)->max_seq_length, NULL);
  gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  self->caps_sent = TRUE;
}

static gboolean
gst_text_tokenizer_check_caps (GstTextTokenizer * self, GstCaps * caps)
{
  GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *fp = gst_structure_get_string (s, "tokenizer");
  const gchar *ours = te_tokenizer_fingerprint (te_model_tokenizer (self->model));
  if (fp && g_strcmp0 (fp, ours) != 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The upstream chunker counts tokens with a different tokenizer than this element's "
            "model (%s); give textchunker and texttokenizer the same model property",
            te_model_dir (self->model)),
        ("upstream tokenizer %s, ours %s", fp, ours));
    return FALSE;
  }
  return TRUE;
}

static GstFlowReturn
gst_text_tokenizer_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (parent);
  const TeTokenizer *tok = te_model_tokenizer (self->model);
  GstMapInfo map;
  GError *err = NULL;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map input buffer"), (NULL));
    return GST_FLOW_ERROR;
  }

  GstTextChunkMeta *meta = gst_buffer_get_text_chunk_meta (buf);
  const char *text = (const char *) map.data;
  gsize text_len = map.size;
  if (self->prompt) {
    /* what sentence-transformers tokenizes: the prompt, then the text */
    g_byte_array_set_size (self->joint, 0);
    g_byte_array_append (self->joint, (const guint8 *) self->prompt, strlen (self->prompt));
    g_byte_array_append (self->joint, map.data, map.size);
    text = (const char *) self->joint->data;
    text_len = self->joint->len;
  }
  gboolean ok = te_tokenizer_encode (tok, text, text_len, TRUE, &self->enc, &err);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Chunk %" G_GUINT64_FORMAT " of \"%s\": %s",
            meta ? meta->index : self->anon_index, meta ? meta->doc_id : "?", err->message),
        (NULL));
    g_error_free (err);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  guint n = self->enc.n;
  gint max_len = te_model_sentence_config (self->model)->max_seq_length;
  if ((gint) n > max_len) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Chunk %" G_GUINT64_FORMAT " of \"%s\" has %u tokens but the model accepts at most %d; "
            "put textchunker (max-tokens <= %d) before texttokenizer — text is never truncated",
            meta ? meta->index : self->anon_index, meta ? meta->doc_id : "?", n, max_len,
            max_len), (NULL));
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  GstBuffer *out = gst_buffer_new_allocate (NULL, (gsize) n * 2 * sizeof (gint32), NULL);
  gst_buffer_fill (out, 0, self->enc.ids, n * sizeof (gint32));
  gst_buffer_fill (out, n * sizeof (gint32), self->enc.type_ids, n * sizeof (gint32));
  gst_buffer_copy_into (out, buf, GST_BUFFER_COPY_TIMESTAMPS | GST_BUFFER_COPY_FLAGS, 0, -1);
  GST_BUFFER_OFFSET (out) = GST_BUFFER_OFFSET (buf);
  GST_BUFFER_OFFSET_END (out) = GST_BUFFER_OFFSET_END (buf);

  GstTextChunkMeta *ometa;
  if (meta) {
    gst_text_chunk_meta_copy_all (out, buf);
    ometa = gst_buffer_get_text_chunk_meta (out);
    ometa->n_tokens = n;
  } else {
    /* text straight from a source: describe it as a chunk of an anonymous document */
    ometa = gst_buffer_add_text_chunk_meta (out, "", self->anon_index, self->anon_offset,
        self->anon_offset + map.size, (const char *) map.data, map.size, n);
    self->anon_index++;
    self->anon_offset += map.size;
  }
  ometa->n_prompt_tokens = self->prompt ? MIN (self->prompt_tokens, n) : 0;
  /* the tokens of the text the previous chunk also holds: those starting in its first
   * overlap_len bytes (after the prompt); they follow [CLS] and the prompt */
  ometa->overlap_first = ometa->n_overlap_tokens = 0;
  if (ometa->overlap_len > 0) {
    gsize plen = self->prompt ? strlen (self->prompt) : 0;
    for (guint i = 0; i < n; i++) {
      if (self->enc.special[i] || self->enc.starts[i] < plen)
        continue;
      if (self->enc.starts[i] - plen >= ometa->overlap_len)
        break;
      if (ometa->n_overlap_tokens == 0)
        ometa->overlap_first = i;
      ometa->n_overlap_tokens++;
    }
  }
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);

  GST_LOG_OBJECT (self, "%u tokens", n);
  gst_text_tokenizer_send_caps (self);
  return gst_pad_push (self->srcpad, out);
}

/* A document starts: its prompt (NULL or "" = none) precedes every chunk of it. */
static gboolean
gst_text_tokenizer_set_prompt (GstTextTokenizer * self, const gchar * prompt)
{
  if (prompt && !*prompt)
    prompt = NULL;
  if (g_strcmp0 (prompt, self->prompt) == 0)
    return TRUE;
  g_clear_pointer (&self->prompt, g_free);
  self->prompt_tokens = 0;
  if (!prompt)
    return TRUE;
  GError *err = NULL;
  if (!te_tokenizer_prompt_length (te_model_tokenizer (self->model), prompt,
          &self->prompt_tokens, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("The document's prompt: %s", err->message),
        (NULL));
    g_error_free (err);
    return FALSE;
  }
  self->prompt = g_strdup (prompt);
  GST_DEBUG_OBJECT (self, "prompt \"%s\" (%u tokens)", prompt, self->prompt_tokens);
  return TRUE;
}

static gboolean
gst_text_tokenizer_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      gboolean ok = gst_text_tokenizer_check_caps (self, caps);
      gst_event_unref (event);
      if (ok)
        gst_text_tokenizer_send_caps (self);
      return ok;
    }
    case GST_EVENT_SEGMENT:
      gst_text_tokenizer_send_caps (self);
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_FLUSH_STOP:
      self->anon_index = self->anon_offset = 0;
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_CUSTOM_DOWNSTREAM:{
      const GstStructure *s = gst_text_embed_event_get_document (event,
          GST_TEXT_EMBED_DOCUMENT_START);
      if (s && !gst_text_tokenizer_set_prompt (self, gst_structure_get_string (s, "prompt"))) {
        gst_event_unref (event);
        return FALSE;
      }
      return gst_pad_event_default (pad, parent, event);
    }
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}
