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
 * With #GstTextTokenizer:late-chunking, a document's chunks are tokenized together instead, in
 * windows of up to #GstTextTokenizer:window-tokens tokens (by default the model's max_seq_length,
 * within what its positions and the encoder downstream allow: a static-shape backend's largest
 * bucket), so that
 * each chunk's vector, pooled by embedpooler from its own tokens' hidden states in the window,
 * carries the text around it (late chunking). Windows overlap by up to half; a chunk held by two
 * takes its vector from the one where it sits most centrally (core/te-late-chunking.h has the
 * rules). A window buffer holds the window's tokens and one #GstTextChunkMeta per chunk whose
 * vector it gives, with its token rows (`span_first`, `span_n`) and its own timestamps; the
 * buffer's timestamps and offsets span those chunks. The element holds the chunks of about two
 * windows: a window goes out once the windows after it are known, at the latest at the
 * document's end, EOS or a drain. "late-chunking=N" (the window) is added to the document's
 * `chunking` identity. Chunks that overlap (textchunker overlap-tokens) are not repeated in a
 * window.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker ! texttokenizer ! fakesink
 * ]|
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker max-tokens=64 ! texttokenizer late-chunking=true ! npuencoder ! embedpooler ! embedsink location=late.jsonl
 * ]| Chunks of 64 tokens, each embedded in the context of a window of the model's max_seq_length
 * (256 tokens for the default model).
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
  PROP_LATE_CHUNKING,
  PROP_WINDOW_TOKENS,
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
static gboolean gst_text_tokenizer_sink_query (GstPad * pad, GstObject * parent,
    GstQuery * query);
static guint gst_text_tokenizer_decide_window (GstTextTokenizer * self);

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

  /**
   * GstTextTokenizer:late-chunking:
   *
   * Tokenize each document's chunks together, in overlapping windows of
   * #GstTextTokenizer:window-tokens tokens, for late chunking: embedpooler then pools each
   * chunk from its own tokens in the window. Mean or max pooling. Part of the embedding
   * identity.
   */
  g_object_class_install_property (gobject_class, PROP_LATE_CHUNKING,
      g_param_spec_boolean ("late-chunking", "Late chunking", "Encode each document's chunks "
          "together in windows and pool each chunk from its tokens there", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextTokenizer:window-tokens:
   *
   * With #GstTextTokenizer:late-chunking, the most tokens in a window, special tokens and prompt
   * included. 0: the model's max_seq_length (sentence_bert_config.json: 256 for
   * all-MiniLM-L6-v2, 512 for the e5 models), within what the encoder downstream accepts (for a
   * static-shape backend its largest bucket). Up to the model's position table (512 for BERT)
   * and the encoder's limit; more is an error when the first document starts.
   */
  g_object_class_install_property (gobject_class, PROP_WINDOW_TOKENS,
      g_param_spec_uint ("window-tokens", "Window tokens", "Late chunking: tokens per window "
          "(0 = the model's max_seq_length, within the encoder's limit)", 0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

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
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_text_tokenizer_sink_query));
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
  te_late_windows_free (self->windows);
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
    case PROP_LATE_CHUNKING:
      self->late_chunking = g_value_get_boolean (value);
      break;
    case PROP_WINDOW_TOKENS:
      self->window_tokens = g_value_get_uint (value);
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
    case PROP_LATE_CHUNKING:
      g_value_set_boolean (value, self->late_chunking);
      break;
    case PROP_WINDOW_TOKENS:
      g_value_set_uint (value, self->window_tokens);
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
    GST_OBJECT_LOCK (self);
    self->late = self->late_chunking;
    GST_OBJECT_UNLOCK (self);
    self->window = 0;
  }

  ret = GST_ELEMENT_CLASS (gst_text_tokenizer_parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    g_clear_pointer (&self->windows, te_late_windows_free);
    g_clear_pointer (&self->model, gst_text_embed_model_release);
  }
  return ret;
}

static void
gst_text_tokenizer_send_caps (GstTextTokenizer * self)
{
  if (self->caps_sent)
    return;
  const TeTokenizer *tok = te_model_tokenizer (self->model);
  /* the longest buffer: the model's max_seq_length, or with late chunking the window */
  gint max_length = te_model_sentence_config (self->model)->max_seq_length;
  if (self->late && gst_text_tokenizer_decide_window (self) > 0)
    max_length = (gint) self->window;
  GstCaps *caps = gst_caps_new_simple ("application/x-text-tokens",
      "tokenizer", G_TYPE_STRING, te_tokenizer_fingerprint (tok),
      "vocab-size", G_TYPE_INT, (gint) te_tokenizer_vocab_size (tok),
      "max-length", G_TYPE_INT, max_length, "late-chunking", G_TYPE_BOOLEAN, self->late, NULL);
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


/* ---- late chunking ---------------------------------------------------------------------- */

/* The window's tokens: window-tokens, else the model's max_seq_length (the input length its
 * sentence-transformers configuration names), at most what the model's position table and the
 * encoder downstream accept. 0 (an error posted) when window-tokens asks for more. */
static guint
gst_text_tokenizer_decide_window (GstTextTokenizer * self)
{
  if (self->window > 0)
    return self->window;
  gint limit = te_model_config (self->model)->max_seq_len;
  const gchar *who = "model's position table";
  GstQuery *q = gst_query_new_custom (GST_QUERY_CUSTOM,
      gst_structure_new_empty (GST_TEXT_EMBED_ENCODER_LIMITS));
  gint enc_max = 0;
  if (gst_pad_peer_query (self->srcpad, q)
      && gst_structure_get_int (gst_query_get_structure (q), "max-length", &enc_max)
      && enc_max > 0 && enc_max < limit) {
    limit = enc_max;
    who = "encoder";
  }
  gst_query_unref (q);
  GST_OBJECT_LOCK (self);
  guint want = self->window_tokens;
  GST_OBJECT_UNLOCK (self);
  if (want > (guint) limit) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("window-tokens=%u, but the %s accepts at most "
            "%d tokens: set at most %d (or 0 for the model's max_seq_length)", want, who, limit,
            limit), ("model %s", te_model_dir (self->model)));
    return 0;
  }
  gint st_max = te_model_sentence_config (self->model)->max_seq_length;
  self->window = want > 0 ? want : (guint) MIN (st_max, limit);
  GST_INFO_OBJECT (self, "late chunking in windows of %u tokens (at most %d: the %s)",
      self->window, limit, who);
  return self->window;
}

/* One window out: its tokens, and a meta for each chunk whose vector it gives. */
static GstFlowReturn
gst_text_tokenizer_push_window (GstTextTokenizer * self, const TeLateWindow * win)
{
  guint n = win->enc.n;
  GstBuffer *out = gst_buffer_new_allocate (NULL, (gsize) n * 2 * sizeof (gint32), NULL);
  gst_buffer_fill (out, 0, win->enc.ids, n * sizeof (gint32));
  gst_buffer_fill (out, n * sizeof (gint32), win->enc.type_ids, n * sizeof (gint32));
  GstClockTime first_pts = GST_CLOCK_TIME_NONE, last_end = GST_CLOCK_TIME_NONE;
  for (guint k = 0; k < win->n_spans; k++) {
    const TeLateSpan *s = &win->spans[k];
    GstBuffer *cb = s->data;
    GstTextChunkMeta *om = gst_text_chunk_meta_copy (out, gst_buffer_get_text_chunk_meta (cb));
    om->span_first = s->span_first;
    om->span_n = s->span_n;
    om->n_tokens = s->span_n;
    om->n_prompt_tokens = s->n_prompt_tokens;
    om->overlap_first = s->n_overlap > 0 ? s->overlap_first : 0;
    om->n_overlap_tokens = s->n_overlap;
    om->window_start = om->start >= s->text_pos ? om->start - s->text_pos : 0;
    om->window_end = om->window_start + win->text_len;
    om->pts = GST_BUFFER_PTS (cb);
    om->duration = GST_BUFFER_DURATION (cb);
    if (k == 0) {
      first_pts = GST_BUFFER_PTS (cb);
      GST_BUFFER_OFFSET (out) = om->start;
    }
    last_end = GST_BUFFER_PTS_IS_VALID (cb) && GST_BUFFER_DURATION_IS_VALID (cb)
        ? GST_BUFFER_PTS (cb) + GST_BUFFER_DURATION (cb) : GST_BUFFER_PTS (cb);
    GST_BUFFER_OFFSET_END (out) = om->end;
  }
  GST_BUFFER_PTS (out) = first_pts;
  if (GST_CLOCK_TIME_IS_VALID (first_pts) && GST_CLOCK_TIME_IS_VALID (last_end)
      && last_end >= first_pts)
    GST_BUFFER_DURATION (out) = last_end - first_pts;
  GST_LOG_OBJECT (self, "window of chunks %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
      ": %u tokens, %u vectors", win->first_chunk, win->last_chunk, n, win->n_spans);
  gst_text_tokenizer_send_caps (self);
  return gst_pad_push (self->srcpad, out);
}

/* Pushes the windows that are ready (all of them once the document is finished). */
static GstFlowReturn
gst_text_tokenizer_push_windows (GstTextTokenizer * self)
{
  GstFlowReturn ret = GST_FLOW_OK;
  TeLateWindow *win;
  while (self->windows && (win = te_late_windows_pop (self->windows))) {
    if (ret == GST_FLOW_OK)
      ret = gst_text_tokenizer_push_window (self, win);
    for (guint k = 0; k < win->n_spans; k++)
      gst_buffer_unref (win->spans[k].data);
    te_late_window_free (win);
  }
  return ret;
}

static void
gst_text_tokenizer_late_error (GstTextTokenizer * self, const GError * err)
{
  GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Late chunking: %s", err->message),
      ("window of %u tokens", self->window));
  g_clear_pointer (&self->windows, te_late_windows_free);
}

/* The document ended (or the stream): its last windows go out. */
static GstFlowReturn
gst_text_tokenizer_finish_document (GstTextTokenizer * self)
{
  GError *err = NULL;
  if (!self->windows)
    return GST_FLOW_OK;
  if (!te_late_windows_finish (self->windows, &err)) {
    gst_text_tokenizer_late_error (self, err);
    g_error_free (err);
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = gst_text_tokenizer_push_windows (self);
  g_clear_pointer (&self->windows, te_late_windows_free);
  return ret;
}

static GstFlowReturn
gst_text_tokenizer_chain_late (GstTextTokenizer * self, GstBuffer * buf)
{
  GError *err = NULL;
  GstMapInfo map;

  if (!gst_buffer_get_text_chunk_meta (buf)) {
    /* text straight from a source: chunks of an anonymous document */
    buf = gst_buffer_make_writable (buf);
    gsize size = gst_buffer_get_size (buf);
    gchar *text = g_malloc (size + 1);
    gst_buffer_extract (buf, 0, text, size);
    gst_buffer_add_text_chunk_meta (buf, "", self->anon_index, self->anon_offset,
        self->anon_offset + size, text, size, 0);
    g_free (text);
    self->anon_index++;
    self->anon_offset += size;
  }
  if (!self->windows) {
    if (!gst_text_tokenizer_decide_window (self)) {
      gst_buffer_unref (buf);
      return GST_FLOW_ERROR;
    }
    self->windows = te_late_windows_new (te_model_tokenizer (self->model), self->prompt,
        self->window, (GDestroyNotify) gst_buffer_unref, &err);
    if (!self->windows) {
      gst_text_tokenizer_late_error (self, err);
      g_error_free (err);
      gst_buffer_unref (buf);
      return GST_FLOW_ERROR;
    }
  }
  GstTextChunkMeta *meta = gst_buffer_get_text_chunk_meta (buf);
  gsize overlap_len = meta->overlap_len;
  guint64 index = meta->index;
  gchar *doc = g_strdup (meta->doc_id);
  gboolean ok = gst_buffer_map (buf, &map, GST_MAP_READ);
  if (ok) {
    /* the planner copies the text and takes the buffer */
    gst_buffer_ref (buf);
    ok = te_late_windows_push (self->windows, (const char *) map.data, map.size, overlap_len,
        buf, &err);
    gst_buffer_unmap (buf, &map);
  }
  gst_buffer_unref (buf);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Chunk %" G_GUINT64_FORMAT " of \"%s\": %s",
            index, doc, err ? err->message : "could not map the buffer"),
        ("late chunking, window of %u tokens", self->window));
    g_clear_error (&err);
    g_clear_pointer (&self->windows, te_late_windows_free);
    g_free (doc);
    return GST_FLOW_ERROR;
  }
  g_free (doc);
  return gst_text_tokenizer_push_windows (self);
}

static GstFlowReturn
gst_text_tokenizer_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (parent);
  const TeTokenizer *tok = te_model_tokenizer (self->model);
  GstMapInfo map;
  GError *err = NULL;

  if (self->late)
    return gst_text_tokenizer_chain_late (self, buf);

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

/* The document's chunking identity with late chunking's part: ",late-chunking=W". */
static gchar *
gst_text_tokenizer_late_chunking (GstTextTokenizer * self, const gchar * chunking)
{
  return g_strdup_printf ("%s%slate-chunking=%u", chunking ? chunking : "",
      chunking ? "," : "", self->window);
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
      g_clear_pointer (&self->windows, te_late_windows_free);
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_EOS:
      /* the last windows before EOS (an error was posted if they could not go) */
      gst_text_tokenizer_finish_document (self);
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_CUSTOM_DOWNSTREAM:{
      const GstStructure *s = gst_text_embed_event_get_document (event,
          GST_TEXT_EMBED_DOCUMENT_START);
      if (s || gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_END)) {
        /* a document's windows stay within it */
        GstFlowReturn ret = gst_text_tokenizer_finish_document (self);
        if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING) {
          gst_event_unref (event);
          return FALSE;
        }
      }
      if (s && !gst_text_tokenizer_set_prompt (self, gst_structure_get_string (s, "prompt"))) {
        gst_event_unref (event);
        return FALSE;
      }
      if (s && self->late) {
        if (!gst_text_tokenizer_decide_window (self)) {
          gst_event_unref (event);
          return FALSE;
        }
        event = gst_event_make_writable (event);
        GstStructure *ws = gst_event_writable_structure (event);
        gchar *chunking = gst_text_tokenizer_late_chunking (self,
            gst_structure_get_string (ws, "chunking"));
        gst_structure_set (ws, "chunking", G_TYPE_STRING, chunking, NULL);
        g_free (chunking);
      }
      return gst_pad_event_default (pad, parent, event);
    }
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* A store's document-status query passes: late chunking is part of the chunking identity. */
static gboolean
gst_text_tokenizer_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstTextTokenizer *self = GST_TEXT_TOKENIZER (parent);
  GstStructure *s = gst_text_embed_query_get_document_status (query);
  if (s && self->late && self->model && gst_text_tokenizer_decide_window (self)) {
    gchar *chunking = gst_text_tokenizer_late_chunking (self,
        gst_structure_get_string (s, "chunking"));
    gst_structure_set (s, "chunking", G_TYPE_STRING, chunking, NULL);
    g_free (chunking);
  }
  return gst_pad_query_default (pad, parent, query);
}
