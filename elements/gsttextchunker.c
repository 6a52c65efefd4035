/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextchunker.c — textchunker element: text document in, token-sized chunks out. */
/**
 * SECTION:element-textchunker
 * @title: textchunker
 *
 * Splits a stream of UTF-8 text into chunks that each fit the encoder: at most #GstTextChunker:max-tokens
 * tokens of the model's own tokenizer, special tokens (and a prompt) included. Chunks break at
 * paragraph, then sentence (the terminals of many scripts: CJK 。！？, the danda, Arabic ؟, Urdu ۔,
 * Armenian, Ethiopic, Myanmar, Khmer, Tibetan...; for Thai, Lao and Khmer a space between
 * phrases), then word boundaries; a run with no boundary at all is split hard, between grapheme
 * clusters (never inside an emoji sequence, a flag or a letter with its marks). Input may arrive in
 * buffers of any size (a UTF-8 sequence split across buffers is reassembled) and memory stays bounded
 * whatever the document length.
 *
 * Each output buffer holds one chunk's text (no NUL) and carries a #GstTextChunkMeta with the
 * document id, chunk index and byte range [start, end) of the document's text. With
 * #GstTextChunker:overlap-tokens 0 the byte ranges tile the text: no byte is dropped.
 * GST_BUFFER_OFFSET / OFFSET_END are the byte range too.
 *
 * ## Input formats
 *
 * `text/x-raw, format=utf8` and `text/plain` (and untyped bytes, e.g. from filesrc) are the text
 * itself, in pieces of any size; a chunk is exactly those source bytes.
 *
 * `text/x-raw, format=pango-markup` (subparse for SRT / WebVTT / SubViewer..., ssaparse for
 * SSA/ASS) is one complete markup fragment per buffer, typically a subtitle cue: tags are
 * removed and the entities &amp;amp; &amp;lt; &amp;gt; &amp;quot; &amp;apos; &amp;#NN; &amp;#xHH;
 * decoded. A cue whose text does not end in whitespace gets a "\n" appended, so that the last word
 * of one cue and the first of the next stay apart. Byte offsets and chunk texts then refer to this
 * stripped text stream (the concatenation of every buffer's stripped text and separators), not to
 * the markup. Malformed markup is kept as literal text: a '<' that starts no complete tag, an
 * unknown or malformed entity.
 *
 * ## Timestamps
 *
 * A chunk's PTS is the PTS of the input buffer holding its first byte; its duration reaches the
 * end of the input buffer holding its last byte. A buffer's end is its PTS + duration; for a
 * buffer with a PTS but no duration, the PTS of the next buffer (or of a GAP event) if that
 * has one, else it is unknown and the chunk gets no duration. A chunk whose first byte came in a
 * buffer without PTS has neither PTS nor duration: untimestamped input gives untimestamped
 * chunks. The times are those of the current (TIME) segment, which is passed downstream
 * unchanged; a non-TIME segment (filesrc's BYTES) becomes an open TIME segment. The element keeps
 * the byte → time map only for bytes that a later chunk can still contain, so it stays small.
 *
 * ## Live input
 *
 * Offline input waits for full chunks. Live input does not wait for a chunk to fill: the pending
 * text is emitted as a (shorter) chunk when
 *
 * - a GAP event arrives (the chunk goes out before the GAP is forwarded);
 * - no new text has arrived for #GstTextChunker:max-latency milliseconds of the element's clock
 *   (by default only when upstream reports itself live in the latency query);
 * - a new SEGMENT event arrives while text is pending (its times belong to the old segment);
 * - EOS or a new STREAM_START ends the document.
 *
 * Such an early chunk does not end the document: indices and byte offsets continue, and with
 * overlap the next chunk repeats its tail. Pending text that is only whitespace is kept for the
 * next chunk rather than sent alone. The latency query answer adds the effective max-latency.
 * docs/time-and-live.md has the details and the reasons.
 *
 * ## Documents
 *
 * Upstream "textembed/document-start" / "textembed/document-end" events (corpussrc) frame the
 * documents of a corpus; without them a document ends at EOS or at a new STREAM_START. The id is
 * the one in upstream's document-start, else the #GstTextChunker:document-id property, else the
 * upstream location (URI query, e.g. filesrc), else "doc-N". Either way the element sends its own
 * document-start before a document's first chunk and document-end after its last (status,
 * reason, chunk and token counts, a SHA-256 of its bytes, its chunking settings), which
 * embedsink uses to commit one document at a time; the fields are listed in gsttextembedmeta.h.
 * A document that yields no chunk (empty, only white space) ends as skipped.
 *
 * Input that is not UTF-8 is handled by #GstTextChunker:invalid-utf8: an error naming the byte
 * offset after the text before it has been delivered (default), U+FFFD, or a skipped document.
 *
 * ## Prompts
 *
 * Models such as E5 want a prefix before each text ("passage: "). #GstTextChunker:prompt,
 * #GstTextChunker:prompt-name or #GstTextChunker:instruction choose it (by default the model's
 * own document prompt from config_sentence_transformers.json, if it declares one). Its tokens
 * count inside #GstTextChunker:max-tokens; the chunks stay source text: the prompt goes in the
 * document-start event, texttokenizer prepends it, embedsink records it once per document, and
 * it is part of the embedding identity a store compares. docs/prompts.md has the details and the
 * settings per model family.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker max-tokens=128 overlap-tokens=16 ! texttokenizer ! npuencoder ! embedpooler ! embedsink location=out.jsonl
 * ]|
 * An E5 model, documents with their prompt:
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker prompt="passage: " ! texttokenizer ! npuencoder ! embedpooler ! embedsink location=out.jsonl
 * ]|
 * Subtitles, one embedding per chunk of cues with the cues' times:
 * |[
 * gst-launch-1.0 filesrc location=movie.srt ! subparse ! textchunker max-tokens=64 ! texttokenizer ! npuencoder ! embedpooler ! embedsink location=subs.jsonl
 * ]|
 * Speech (pocketsphinx emits one text buffer per utterance):
 * |[
 * gst-launch-1.0 -e pulsesrc ! audioconvert ! audioresample ! pocketsphinx ! textchunker max-latency=2000 ! texttokenizer ! npuencoder ! embedpooler ! embedsink location=speech.jsonl
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gsttextchunker.h"
#include "gsttextembedmeta.h"
#include "gsttextembedmodel.h"
#include "te-markup.h"

GST_DEBUG_CATEGORY_STATIC (gst_text_chunker_debug);
#define GST_CAT_DEFAULT gst_text_chunker_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_MAX_TOKENS,
  PROP_OVERLAP_TOKENS,
  PROP_DOCUMENT_ID,
  PROP_MAX_LATENCY,
  PROP_INVALID_UTF8,
  PROP_PROMPT,
  PROP_PROMPT_NAME,
  PROP_INSTRUCTION,
};

#define DEFAULT_INVALID_UTF8 GST_TEXT_CHUNKER_INVALID_UTF8_ERROR

#define GST_TYPE_TEXT_CHUNKER_INVALID_UTF8 (gst_text_chunker_invalid_utf8_get_type ())
static GType
gst_text_chunker_invalid_utf8_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TEXT_CHUNKER_INVALID_UTF8_ERROR, "Emit the chunks before the bad byte, then fail "
          "with an error naming its offset", "error"},
    {GST_TEXT_CHUNKER_INVALID_UTF8_REPLACE, "Replace each ill-formed sequence with U+FFFD "
          "(offsets still count source bytes)", "replace"},
    {GST_TEXT_CHUNKER_INVALID_UTF8_SKIP_DOCUMENT, "Skip the document with a warning and go on "
          "with the next one", "skip-document"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstTextChunkerInvalidUtf8", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define DEFAULT_MAX_TOKENS 0
#define DEFAULT_OVERLAP_TOKENS 0
#define DEFAULT_MAX_LATENCY -1
/* what max-latency=-1 means when upstream is live */
#define AUTO_LIVE_LATENCY_MS 1000

/* One input buffer's share of the document's text: bytes [start, end) came in a buffer with
 * this PTS and end time (PTS + duration, or the next PTS). Consecutive untimestamped buffers
 * share one span. */
typedef struct
{
  guint64 start, end;
  GstClockTime pts;
  GstClockTime stop;
} GstTextChunkerSpan;

static void gst_text_chunker_clear_document (GstTextChunker * self);
static gboolean gst_text_chunker_sink_query (GstPad * pad, GstObject * parent,
    GstQuery * query);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) { utf8, pango-markup }; text/plain"));

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
static gboolean gst_text_chunker_src_query (GstPad * pad, GstObject * parent, GstQuery * query);

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
   * Largest chunk in tokens, counting the special tokens the encoder adds ([CLS], [SEP]) and
   * the prompt's tokens.
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
   * input exactly. Chunks emitted early (GAP, max-latency) are repeated the same way.
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
  /**
   * GstTextChunker:max-latency:
   *
   * Longest time, in milliseconds of the element's clock (running time), that text may wait
   * for its chunk to fill: when no new text has arrived for this long, the pending text is
   * emitted as a chunk (the document goes on). Measured from the arrival of the last buffer,
   * in PLAYING only. A change applies from the next input buffer on.
   *
   * -1 (default): 1000 ms when upstream is live (it answers the latency query as live, e.g. a
   * capture source), off otherwise, so that offline input (filesrc) keeps full-size chunks
   * however slow downstream is. 0: off. A positive value applies to any input — on offline
   * input it also cuts chunks whenever text arrives more slowly than that.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_LATENCY,
      g_param_spec_int ("max-latency", "Max latency",
          "Emit pending text as a chunk when no text arrived for this many ms "
          "(-1 = 1000 ms if upstream is live, else off; 0 = off)", -1, G_MAXINT,
          DEFAULT_MAX_LATENCY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstTextChunker:invalid-utf8:
   *
   * What input that is not UTF-8 does. `error` (default): the chunks of the text before the
   * bad byte are emitted and delivered first (the element drains downstream), the document
   * ends as skipped, then an element error names the document and the byte offset. `replace`:
   * each maximal ill-formed sequence becomes U+FFFD (as Python's and browsers' decoders do) —
   * the chunk text then differs from the source bytes there, while its byte range and
   * GST_BUFFER_OFFSET still count source bytes. `skip-document`: the document ends as skipped
   * (a warning on the bus names it and the offset; counters in the document-end event), and
   * the next document goes on; chunks already emitted for it are withdrawn by a store
   * (embedsink format=sqlite) and remain in JSON Lines, followed by a status line. When
   * corpussrc has already found the bad byte, a skipped document emits no chunk at all.
   */
  g_object_class_install_property (gobject_class, PROP_INVALID_UTF8,
      g_param_spec_enum ("invalid-utf8", "Invalid UTF-8",
          "What input that is not UTF-8 does: error, replace (U+FFFD) or skip-document",
          GST_TYPE_TEXT_CHUNKER_INVALID_UTF8, DEFAULT_INVALID_UTF8,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstTextChunker:prompt:
   *
   * Text the encoder sees before every chunk, e.g. "passage: " for E5 models. Its tokens count
   * inside #GstTextChunker:max-tokens (prompt + chunk + special tokens never exceed it). The
   * chunk's text and byte range stay the source's: texttokenizer prepends the prompt (it travels
   * in the document-start event) and embedsink records it once per document. "" = no prompt,
   * whatever the model declares. NULL (default): #GstTextChunker:prompt-name decides. Give at
   * most one of prompt, prompt-name and instruction.
   */
  g_object_class_install_property (gobject_class, PROP_PROMPT,
      g_param_spec_string ("prompt", "Prompt",
          "Text prepended to every chunk for the encoder, e.g. \"passage: \" (\"\" = none; "
          "NULL = the model's prompt, see prompt-name)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextChunker:prompt-name:
   *
   * Name of one of the prompts the model declares in config_sentence_transformers.json
   * ("prompts"); an unknown name is an error listing the declared ones. NULL (default): as
   * sentence-transformers' encode_document(): the first of "document", "passage", "corpus" the
   * model declares, else its "default_prompt_name", else no prompt.
   */
  g_object_class_install_property (gobject_class, PROP_PROMPT_NAME,
      g_param_spec_string ("prompt-name", "Prompt name",
          "Name of a prompt in the model's config_sentence_transformers.json (NULL = document, "
          "passage or corpus, else default_prompt_name)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextChunker:instruction:
   *
   * A task description for instruction-tuned models (multilingual-e5-large-instruct, gte-Qwen):
   * the prompt becomes "Instruct: {instruction}\nQuery: ". Those models want it on queries
   * only; documents get no prompt.
   */
  g_object_class_install_property (gobject_class, PROP_INSTRUCTION,
      g_param_spec_string ("instruction", "Instruction",
          "Task description: the prompt becomes \"Instruct: {instruction}\\nQuery: \" "
          "(instruction-tuned models, queries)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

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
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_text_chunker_sink_query));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_text_chunker_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_text_chunker_src_query));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->max_tokens = DEFAULT_MAX_TOKENS;
  self->overlap_tokens = DEFAULT_OVERLAP_TOKENS;
  self->max_latency = DEFAULT_MAX_LATENCY;
  self->invalid_utf8 = DEFAULT_INVALID_UTF8;

  self->text = g_string_new (NULL);
  self->spans = g_array_new (FALSE, FALSE, sizeof (GstTextChunkerSpan));
  g_mutex_init (&self->timer_lock);
  g_cond_init (&self->timer_cond);
  self->deadline = GST_CLOCK_TIME_NONE;
  self->timer_wait = GST_CLOCK_TIME_NONE;
}

static void
gst_text_chunker_finalize (GObject * object)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (object);
  g_free (self->model_path);
  g_free (self->document_id);
  g_free (self->prompt);
  g_free (self->prompt_name);
  g_free (self->instruction);
  g_string_free (self->text, TRUE);
  g_array_unref (self->spans);
  g_mutex_clear (&self->timer_lock);
  g_cond_clear (&self->timer_cond);
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
    case PROP_MAX_LATENCY:
      self->max_latency = g_value_get_int (value);
      break;
    case PROP_INVALID_UTF8:
      self->invalid_utf8 = g_value_get_enum (value);
      break;
    case PROP_PROMPT:
      g_free (self->prompt);
      self->prompt = g_value_dup_string (value);
      break;
    case PROP_PROMPT_NAME:
      g_free (self->prompt_name);
      self->prompt_name = g_value_dup_string (value);
      break;
    case PROP_INSTRUCTION:
      g_free (self->instruction);
      self->instruction = g_value_dup_string (value);
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
    case PROP_MAX_LATENCY:
      g_value_set_int (value, self->max_latency);
      break;
    case PROP_INVALID_UTF8:
      g_value_set_enum (value, self->invalid_utf8);
      break;
    case PROP_PROMPT:
      g_value_set_string (value, self->prompt);
      break;
    case PROP_PROMPT_NAME:
      g_value_set_string (value, self->prompt_name);
      break;
    case PROP_INSTRUCTION:
      g_value_set_string (value, self->instruction);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- the byte -> time map ------------------------------------------------------------------ */

static void
gst_text_chunker_clear_spans (GstTextChunker * self)
{
  g_array_set_size (self->spans, 0);
  self->doc_bytes = 0;
  self->last_span_open = FALSE;
}

/* A new timestamp @ts is known (next buffer's PTS, or a GAP's): it ends the last span if that
 * had a PTS but no duration. Any buffer or GAP closes the question, with or without a PTS. */
static void
gst_text_chunker_close_open_span (GstTextChunker * self, GstClockTime ts)
{
  if (!self->last_span_open)
    return;
  self->last_span_open = FALSE;
  GstTextChunkerSpan *last = &g_array_index (self->spans, GstTextChunkerSpan,
      self->spans->len - 1);
  if (GST_CLOCK_TIME_IS_VALID (ts) && ts >= last->pts) {
    last->stop = ts;
    GST_LOG_OBJECT (self, "bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") end at %"
        GST_TIME_FORMAT " (next timestamp)", last->start, last->end, GST_TIME_ARGS (ts));
  }
}

/* Record that the next @len bytes of text came in a buffer with @pts / @duration. */
static void
gst_text_chunker_add_span (GstTextChunker * self, gsize len, GstClockTime pts,
    GstClockTime duration)
{
  guint64 start = self->doc_bytes;
  self->doc_bytes += len;

  if (!GST_CLOCK_TIME_IS_VALID (pts) && self->spans->len > 0) {
    GstTextChunkerSpan *last = &g_array_index (self->spans, GstTextChunkerSpan,
        self->spans->len - 1);
    if (!GST_CLOCK_TIME_IS_VALID (last->pts) && last->end == start) {
      last->end = self->doc_bytes;
      return;
    }
  }
  GstTextChunkerSpan span = { start, self->doc_bytes, pts, GST_CLOCK_TIME_NONE };
  if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (duration))
    span.stop = pts + duration;
  g_array_append_val (self->spans, span);
  self->last_span_open = GST_CLOCK_TIME_IS_VALID (pts) && !GST_CLOCK_TIME_IS_VALID (duration);
}

/* Forget the spans that no later chunk can reach (before te_chunker_pending_start()). */
static void
gst_text_chunker_prune_spans (GstTextChunker * self)
{
  if (!self->chunker)
    return;
  guint64 keep_from = te_chunker_pending_start (self->chunker);
  guint n = 0;
  while (n < self->spans->len
      && g_array_index (self->spans, GstTextChunkerSpan, n).end <= keep_from)
    n++;
  if (n > 0) {
    g_array_remove_range (self->spans, 0, n);
    if (self->spans->len == 0)
      self->last_span_open = FALSE;
  }
  GST_LOG_OBJECT (self, "span queue: %u spans, bytes from %" G_GUINT64_FORMAT " to %"
      G_GUINT64_FORMAT, self->spans->len, keep_from, self->doc_bytes);
}

/* The span holding byte @offset, NULL if none (offset outside the kept range). */
static const GstTextChunkerSpan *
gst_text_chunker_find_span (GstTextChunker * self, guint64 offset)
{
  guint lo = 0, hi = self->spans->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    const GstTextChunkerSpan *s = &g_array_index (self->spans, GstTextChunkerSpan, mid);
    if (offset < s->start)
      hi = mid;
    else if (offset >= s->end)
      lo = mid + 1;
    else
      return s;
  }
  return NULL;
}

/* PTS and duration of the chunk [start, end), by the rules in the SECTION doc. */
static void
gst_text_chunker_chunk_times (GstTextChunker * self, guint64 start, guint64 end,
    GstClockTime * pts, GstClockTime * duration)
{
  *pts = *duration = GST_CLOCK_TIME_NONE;
  if (end <= start)
    return;
  const GstTextChunkerSpan *first = gst_text_chunker_find_span (self, start);
  const GstTextChunkerSpan *last = gst_text_chunker_find_span (self, end - 1);
  if (!first || !GST_CLOCK_TIME_IS_VALID (first->pts))
    return;
  *pts = first->pts;
  if (last && GST_CLOCK_TIME_IS_VALID (last->stop) && last->stop >= first->pts)
    *duration = last->stop - first->pts;
}

/* ---- setup --------------------------------------------------------------------------------- */

static gboolean
gst_text_chunker_start (GstTextChunker * self)
{
  GST_OBJECT_LOCK (self);
  guint max_tokens = self->max_tokens;
  guint overlap = self->overlap_tokens;
  self->eff_invalid_utf8 = self->invalid_utf8;
  gchar *prompt_prop = g_strdup (self->prompt);
  gchar *prompt_name = g_strdup (self->prompt_name);
  gchar *instruction = g_strdup (self->instruction);
  GST_OBJECT_UNLOCK (self);

  self->model = gst_text_embed_model_acquire_for_element (GST_ELEMENT (self), FALSE);
  if (!self->model)
    goto fail;

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
    goto fail;
  }

  /* the prompt: the properties, else the model's document prompt */
  GError *err = NULL;
  gchar *prompt = NULL;
  self->chunker = te_chunker_new (tok, max_tokens, overlap);
  if (!te_model_resolve_prompt (self->model, TE_PROMPT_DOCUMENT, prompt_prop, instruction,
          prompt_name, &prompt, &err)
      || !te_chunker_set_prompt (self->chunker, prompt, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", err->message),
        ("prompt \"%s\", prompt-name %s, instruction %s, max-tokens %u, model %s",
            prompt ? prompt : "(none)", prompt_name ? prompt_name : "(none)",
            instruction ? "given" : "(none)", max_tokens, te_model_dir (self->model)));
    g_clear_error (&err);
    g_free (prompt);
    goto fail;
  }
  guint eff_overlap = te_chunker_overlap (self->chunker);
  if (eff_overlap < overlap)
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("overlap-tokens=%u is more than half a chunk%s; using %u", overlap,
            *prompt ? " (after the prompt)" : "", eff_overlap), (NULL));

  self->eff_max_tokens = max_tokens;
  gchar *chunking = g_strdup_printf ("max-tokens=%u,overlap=%u%s", max_tokens, eff_overlap,
      self->eff_invalid_utf8 == GST_TEXT_CHUNKER_INVALID_UTF8_REPLACE ? ",invalid-utf8=replace"
      : "");
  if (*prompt) {
    /* the prompt is part of the embedding identity: a store re-embeds when it changes */
    gchar *escaped = g_strescape (prompt, NULL);
    gchar *with = g_strdup_printf ("%s,prompt=\"%s\"", chunking, escaped);
    g_free (escaped);
    g_free (chunking);
    chunking = with;
  }
  GST_OBJECT_LOCK (self);       /* the document-status query reads it from another thread */
  g_free (self->chunking);
  self->chunking = chunking;
  GST_OBJECT_UNLOCK (self);
  g_free (self->eff_prompt);
  self->eff_prompt = prompt;
  g_free (prompt_prop);
  g_free (prompt_name);
  g_free (instruction);
  te_chunker_set_invalid_utf8 (self->chunker,
      self->eff_invalid_utf8 == GST_TEXT_CHUNKER_INVALID_UTF8_REPLACE ?
      TE_INVALID_UTF8_REPLACE : TE_INVALID_UTF8_ERROR);
  self->doc_count = 0;
  self->caps_sent = FALSE;
  self->flow = GST_FLOW_OK;
  self->timer_flow = GST_FLOW_OK;
  self->markup = FALSE;
  self->upstream_live = FALSE;
  gst_text_chunker_clear_spans (self);
  GST_INFO_OBJECT (self, "chunks of at most %u tokens (%u special), overlap %u, prompt \"%s\", "
      "model %s", max_tokens, special, eff_overlap, self->eff_prompt, te_model_dir (self->model));
  return TRUE;

fail:
  g_clear_pointer (&self->chunker, te_chunker_free);
  g_clear_pointer (&self->model, gst_text_embed_model_release);
  g_free (prompt_prop);
  g_free (prompt_name);
  g_free (instruction);
  return FALSE;
}

/* ---- max-latency timer --------------------------------------------------------------------- */

/* Effective max-latency in ns for the current stream; 0 = off. */
static GstClockTime
gst_text_chunker_effective_latency (GstTextChunker * self, gboolean live)
{
  GST_OBJECT_LOCK (self);
  gint ms = self->max_latency;
  GST_OBJECT_UNLOCK (self);
  if (ms < 0)
    ms = live ? AUTO_LIVE_LATENCY_MS : 0;
  return (GstClockTime) ms * GST_MSECOND;
}

/* Cancel the pending flush. With @forget the text no longer waits at all (it was emitted or
 * dropped); without, PAUSED->PLAYING re-arms. Call with timer_lock held. */
static void
gst_text_chunker_disarm_locked (GstTextChunker * self, gboolean forget)
{
  self->deadline = GST_CLOCK_TIME_NONE;
  if (forget)
    self->timer_latency = 0;
  if (self->timer_id)
    gst_clock_id_unschedule (self->timer_id);
}

static void
gst_text_chunker_disarm (GstTextChunker * self, gboolean forget)
{
  g_mutex_lock (&self->timer_lock);
  gst_text_chunker_disarm_locked (self, forget);
  g_mutex_unlock (&self->timer_lock);
}

static GstFlowReturn gst_text_chunker_flush_pending (GstTextChunker * self, const gchar * why);

/* The deadline passed: emit the pending text, unless new text moved the deadline meanwhile.
 * Called by the timer thread with the sink pad's stream lock held. */
static void
gst_text_chunker_timer_fired (GstTextChunker * self, GstClockTime deadline)
{
  g_mutex_lock (&self->timer_lock);
  gboolean due = self->deadline == deadline;
  if (due) {
    self->deadline = GST_CLOCK_TIME_NONE;
    self->timer_latency = 0;
  }
  g_mutex_unlock (&self->timer_lock);
  if (!due)
    return;

  GST_OBJECT_LOCK (self->sinkpad);
  gboolean flushing = GST_PAD_IS_FLUSHING (self->sinkpad);
  GST_OBJECT_UNLOCK (self->sinkpad);
  if (flushing || !self->chunker)
    return;

  GstFlowReturn ret = gst_text_chunker_flush_pending (self, "max-latency");
  if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING) {
    GST_DEBUG_OBJECT (self, "max-latency flush: %s", gst_flow_get_name (ret));
    self->timer_flow = ret;
  }
}

/* The timer thread: sleeps on timer_cond until a deadline is set, then waits for it on the
 * element's clock (so a GstTestClock drives it in tests), then flushes under the stream lock. */
static gpointer
gst_text_chunker_timer_loop (gpointer data)
{
  GstTextChunker *self = data;

  g_mutex_lock (&self->timer_lock);
  while (!self->timer_quit) {
    GstClockTime deadline = self->deadline;
    if (!GST_CLOCK_TIME_IS_VALID (deadline)) {
      g_cond_wait (&self->timer_cond, &self->timer_lock);
      continue;
    }
    GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
    if (!clock) {
      self->deadline = GST_CLOCK_TIME_NONE;
      continue;
    }
    GstClockID id = gst_clock_new_single_shot_id (clock, deadline);
    gst_object_unref (clock);
    self->timer_id = id;
    self->timer_wait = deadline;
    g_mutex_unlock (&self->timer_lock);

    GST_LOG_OBJECT (self, "waiting for %" GST_TIME_FORMAT, GST_TIME_ARGS (deadline));
    GstClockReturn res = gst_clock_id_wait (id, NULL);

    g_mutex_lock (&self->timer_lock);
    self->timer_id = NULL;
    self->timer_wait = GST_CLOCK_TIME_NONE;
    gst_clock_id_unref (id);
    if (self->timer_quit)
      break;
    /* unscheduled (disarmed, or armed earlier), or new text moved the deadline: look again */
    if ((res != GST_CLOCK_OK && res != GST_CLOCK_EARLY) || self->deadline != deadline)
      continue;
    g_mutex_unlock (&self->timer_lock);

    GST_PAD_STREAM_LOCK (self->sinkpad);
    gst_text_chunker_timer_fired (self, deadline);
    GST_PAD_STREAM_UNLOCK (self->sinkpad);

    g_mutex_lock (&self->timer_lock);
  }
  g_mutex_unlock (&self->timer_lock);
  return NULL;
}

/* Flush @latency after now on the element's clock. Only in PLAYING (@playing: the caller knows
 * it is about to be); otherwise remember it for PAUSED->PLAYING. Call with timer_lock held. */
static void
gst_text_chunker_arm_locked (GstTextChunker * self, GstClockTime latency, gboolean playing)
{
  GstClock *clock = NULL;

  self->timer_latency = latency;
  GST_OBJECT_LOCK (self);
  if (playing || GST_STATE (self) == GST_STATE_PLAYING) {
    clock = GST_ELEMENT_CLOCK (self);
    if (clock)
      gst_object_ref (clock);
  }
  GST_OBJECT_UNLOCK (self);
  if (!clock) {
    self->deadline = GST_CLOCK_TIME_NONE;
    return;
  }
  GstClockTime deadline = gst_clock_get_time (clock) + latency;
  gst_object_unref (clock);

  if (!self->timer_thread) {
    self->timer_quit = FALSE;
    self->timer_thread = g_thread_new ("textchunker-timer", gst_text_chunker_timer_loop, self);
  }
  self->deadline = deadline;
  /* a wait for a later time would be too late (max-latency was lowered): restart it */
  if (self->timer_id && deadline < self->timer_wait)
    gst_clock_id_unschedule (self->timer_id);
  g_cond_signal (&self->timer_cond);
  GST_LOG_OBJECT (self, "pending text flushes at %" GST_TIME_FORMAT " unless more arrives",
      GST_TIME_ARGS (deadline));
}

/* After new input: arm the flush if text is waiting and max-latency applies, else disarm. */
static void
gst_text_chunker_update_timer (GstTextChunker * self)
{
  GstClockTime latency = gst_text_chunker_effective_latency (self, self->upstream_live);
  gboolean waiting = self->chunker && te_chunker_unemitted (self->chunker) > 0;

  g_mutex_lock (&self->timer_lock);
  if (latency > 0 && waiting)
    gst_text_chunker_arm_locked (self, latency, FALSE);
  else
    gst_text_chunker_disarm_locked (self, TRUE);
  g_mutex_unlock (&self->timer_lock);
}

static void
gst_text_chunker_stop_timer (GstTextChunker * self)
{
  g_mutex_lock (&self->timer_lock);
  GThread *thread = self->timer_thread;
  self->timer_thread = NULL;
  self->timer_quit = TRUE;
  gst_text_chunker_disarm_locked (self, TRUE);
  g_cond_signal (&self->timer_cond);
  g_mutex_unlock (&self->timer_lock);
  if (thread)
    g_thread_join (thread);
}

static void
gst_text_chunker_stop (GstTextChunker * self)
{
  gst_text_chunker_stop_timer (self);
  g_clear_pointer (&self->chunker, te_chunker_free);
  g_clear_pointer (&self->model, gst_text_embed_model_release);
  gst_text_chunker_clear_document (self);
  GST_OBJECT_LOCK (self);
  g_clear_pointer (&self->chunking, g_free);
  GST_OBJECT_UNLOCK (self);
  g_clear_pointer (&self->eff_prompt, g_free);
}

static GstStateChangeReturn
gst_text_chunker_change_state (GstElement * element, GstStateChange transition)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!gst_text_chunker_start (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      /* the clock stops for us: keep the text, wait again once PLAYING */
      gst_text_chunker_disarm (self, FALSE);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (gst_text_chunker_parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
      gst_text_chunker_stop (self);
    return ret;
  }

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      g_mutex_lock (&self->timer_lock);
      if (self->timer_latency > 0)
        gst_text_chunker_arm_locked (self, self->timer_latency, TRUE);
      g_mutex_unlock (&self->timer_lock);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* the pads are inactive now: no chain or flush can run */
      gst_text_chunker_stop (self);
      break;
    default:
      break;
  }
  return ret;
}

/* ---- output -------------------------------------------------------------------------------- */

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

/* The document id: upstream's document-start, the property, upstream location, or doc-N. */
static gchar *
gst_text_chunker_resolve_doc_id (GstTextChunker * self, gchar ** path)
{
  const gchar *framed = self->doc_info ? gst_structure_get_string (self->doc_info, "id") : NULL;
  if (framed)
    return g_strdup (framed);

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
      if (id)
        *path = g_utf8_make_valid (id, -1);
      else
        id = g_strdup (uri);
      g_free (uri);
    }
  }
  gst_query_unref (q);
  if (!id)
    id = g_strdup_printf ("doc-%u", self->doc_count);
  if (!g_utf8_validate (id, -1, NULL)) {
    /* a file name that is not UTF-8: ids go into JSON and stores */
    gchar *valid = g_utf8_make_valid (id, -1);
    g_free (id);
    id = valid;
  }
  return id;
}

/* Forget the current document (after its end, on flush, on stop). */
static void
gst_text_chunker_clear_document (GstTextChunker * self)
{
  g_clear_pointer (&self->doc_id, g_free);
  g_clear_pointer (&self->doc_info, gst_structure_free);
  g_clear_pointer (&self->doc_hash, g_checksum_free);
  self->doc_skipping = FALSE;
  self->doc_keep_previous = FALSE;
  self->doc_chunks = 0;
  self->doc_tokens = 0;
  if (self->chunker)
    te_chunker_reset (self->chunker);
  gst_text_chunker_clear_spans (self);
}

/* Start a document (at upstream's document-start, or at the first byte of unframed input): its
 * id, whether upstream is live (for max-latency=-1), and our document-start downstream. */
static void
gst_text_chunker_start_document (GstTextChunker * self)
{
  gchar *path = NULL;
  self->doc_id = gst_text_chunker_resolve_doc_id (self, &path);
  self->doc_chunks = 0;
  self->doc_tokens = 0;
  self->doc_skipping = FALSE;
  gst_text_chunker_clear_spans (self);
  if (!self->doc_info || !gst_structure_has_field (self->doc_info, "hash"))
    self->doc_hash = g_checksum_new (G_CHECKSUM_SHA256);

  GstQuery *q = gst_query_new_latency ();
  self->upstream_live = FALSE;
  if (gst_pad_peer_query (self->sinkpad, q))
    gst_query_parse_latency (q, &self->upstream_live, NULL, NULL);
  gst_query_unref (q);

  GstClockTime latency = gst_text_chunker_effective_latency (self, self->upstream_live);
  GST_INFO_OBJECT (self, "document %u \"%s\" starts: %s input, upstream %s, max-latency %"
      GST_TIME_FORMAT, self->doc_count, self->doc_id, self->markup ? "pango-markup" : "text",
      self->upstream_live ? "live" : "not live", GST_TIME_ARGS (latency));

  GstStructure *s = self->doc_info ? gst_structure_copy (self->doc_info) :
      gst_structure_new_empty (GST_TEXT_EMBED_DOCUMENT_START);
  gst_structure_set (s, "id", G_TYPE_STRING, self->doc_id, NULL);
  if (path && !gst_structure_has_field (s, "path"))
    gst_structure_set (s, "path", G_TYPE_STRING, path, NULL);
  if (!gst_structure_has_field (s, "seq"))
    gst_structure_set (s, "seq", G_TYPE_UINT64, (guint64) self->doc_count, NULL);
  gst_structure_set (s, "chunking", G_TYPE_STRING, self->chunking, NULL);
  if (self->eff_prompt && *self->eff_prompt)
    gst_structure_set (s, "prompt", G_TYPE_STRING, self->eff_prompt, NULL);
  else
    gst_structure_remove_field (s, "prompt");
  g_free (path);
  gst_text_chunker_send_caps (self);
  gst_pad_push_event (self->srcpad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s));
}

/* Our document-end downstream: @reason NULL = complete (or skipped as empty when no chunk went
 * out), else skipped for @reason. */
static void
gst_text_chunker_send_document_end (GstTextChunker * self, const gchar * reason)
{
  const gchar *status = "complete";
  if (!reason && self->doc_chunks == 0)
    reason = self->doc_bytes == 0 ? "empty document" : "no text (only white space)";
  if (reason)
    status = "skipped";
  GstStructure *s = gst_structure_new (GST_TEXT_EMBED_DOCUMENT_END,
      "id", G_TYPE_STRING, self->doc_id, "status", G_TYPE_STRING, status,
      "chunks", G_TYPE_UINT64, reason ? (guint64) 0 : self->doc_chunks,
      "tokens", G_TYPE_UINT64, reason ? (guint64) 0 : self->doc_tokens,
      "bytes", G_TYPE_UINT64, self->doc_bytes, NULL);
  if (reason)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  if (reason && self->doc_keep_previous)
    gst_structure_set (s, "keep-previous", G_TYPE_BOOLEAN, TRUE, NULL);
  const gchar *hash = self->doc_info ? gst_structure_get_string (self->doc_info, "hash") : NULL;
  if (hash)
    gst_structure_set (s, "hash", G_TYPE_STRING, hash, NULL);
  else if (self->doc_hash && !self->doc_skipping && !reason) {
    gchar *h = g_strconcat ("sha256:", g_checksum_get_string (self->doc_hash), NULL);
    gst_structure_set (s, "hash", G_TYPE_STRING, h, NULL);
    g_free (h);
  }
  GST_INFO_OBJECT (self, "document %u \"%s\" %s: %" G_GUINT64_FORMAT " bytes in %"
      G_GUINT64_FORMAT " chunks%s%s", self->doc_count, self->doc_id, status, self->doc_bytes,
      self->doc_chunks, reason ? ": " : "", reason ? reason : "");
  gst_pad_push_event (self->srcpad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s));
}

static gboolean
push_chunk (const TeChunk * chunk, gpointer user_data)
{
  GstTextChunker *self = user_data;
  GstBuffer *buf = gst_buffer_new_memdup (chunk->text, chunk->len);
  GstClockTime pts, duration;

  gst_text_chunker_chunk_times (self, chunk->start, chunk->end, &pts, &duration);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  GST_BUFFER_OFFSET (buf) = chunk->start;
  GST_BUFFER_OFFSET_END (buf) = chunk->end;
  GstTextChunkMeta *meta = gst_buffer_add_text_chunk_meta (buf, self->doc_id, chunk->index,
      chunk->start, chunk->end, chunk->text, chunk->len, chunk->n_tokens);
  meta->overlap_len = chunk->overlap_len;
  GST_DEBUG_OBJECT (self, "chunk %" G_GUINT64_FORMAT " [%" G_GUINT64_FORMAT ", %"
      G_GUINT64_FORMAT ") %u tokens, pts %" GST_TIME_FORMAT " duration %" GST_TIME_FORMAT,
      chunk->index, chunk->start, chunk->end, chunk->n_tokens, GST_TIME_ARGS (pts),
      GST_TIME_ARGS (duration));

  gst_text_chunker_send_caps (self);
  self->doc_chunks++;
  self->doc_tokens += chunk->n_tokens;
  self->flow = gst_pad_push (self->srcpad, buf);
  return self->flow == GST_FLOW_OK;
}

/* The chunker failed on the current document (invalid UTF-8): what came before it has gone
 * out. End the document as skipped, then by the invalid-utf8 policy either go on with the next
 * document (warning) or deliver what is in flight and fail (error). */
static GstFlowReturn
gst_text_chunker_post_chunker_error (GstTextChunker * self, GError * err)
{
  const gchar *id = self->doc_id ? self->doc_id : "?";
  GstFlowReturn ret = GST_FLOW_OK;

  if (self->doc_id && !self->doc_skipping)
    gst_text_chunker_send_document_end (self, err->message);
  self->doc_skipping = TRUE;
  if (self->eff_invalid_utf8 == GST_TEXT_CHUNKER_INVALID_UTF8_SKIP_DOCUMENT) {
    GST_ELEMENT_WARNING_WITH_DETAILS (self, STREAM, DECODE,
        ("Document \"%s\" skipped: %s", id, err->message), (NULL),
        ("document", G_TYPE_STRING, id, "reason", G_TYPE_STRING, err->message, NULL));
  } else {
    /* every chunk before the bad byte reaches the sink before the pipeline stops */
    GstQuery *drain = gst_query_new_drain ();
    gst_pad_peer_query (self->srcpad, drain);
    gst_query_unref (drain);
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Document \"%s\": %s", id, err->message),
        ("set invalid-utf8=replace or invalid-utf8=skip-document to go on"));
    ret = GST_FLOW_ERROR;
  }
  g_error_free (err);
  return ret;
}

/* Emit the pending text now as a chunk, without ending the document (GAP, max-latency, new
 * segment). Stream lock held. */
static GstFlowReturn
gst_text_chunker_flush_pending (GstTextChunker * self, const gchar * why)
{
  GError *err = NULL;

  if (!self->doc_id || !self->chunker || self->doc_skipping)
    return GST_FLOW_OK;
  gsize n = te_chunker_unemitted (self->chunker);
  if (n == 0)
    return GST_FLOW_OK;

  GST_INFO_OBJECT (self, "%s: flushing %" G_GSIZE_FORMAT " pending bytes of \"%s\"", why, n,
      self->doc_id);
  self->flow = GST_FLOW_OK;
  gboolean ok = te_chunker_flush (self->chunker, push_chunk, self, &err);
  GstFlowReturn ret = self->flow;
  gst_text_chunker_prune_spans (self);
  if (!ok && err)
    ret = gst_text_chunker_post_chunker_error (self, err);
  return ret;
}

/* End of one document: emit what is pending, then the document-end. @upstream_reason: upstream
 * ended it as skipped (e.g. unreadable). */
static GstFlowReturn
gst_text_chunker_finish_document (GstTextChunker * self, const gchar * upstream_reason)
{
  GError *err = NULL;
  GstFlowReturn ret = GST_FLOW_OK;

  gst_text_chunker_disarm (self, TRUE);
  if (!self->doc_id)
    return GST_FLOW_OK;         /* nothing was received */
  if (!self->doc_skipping) {
    if (upstream_reason) {
      gst_text_chunker_send_document_end (self, upstream_reason);
    } else {
      self->flow = GST_FLOW_OK;
      gboolean ok = te_chunker_finish (self->chunker, push_chunk, self, &err);
      ret = self->flow;
      if (!ok && err)
        ret = gst_text_chunker_post_chunker_error (self, err);
      else if (ret == GST_FLOW_OK)
        gst_text_chunker_send_document_end (self, NULL);
    }
  }
  gst_text_chunker_clear_document (self);
  self->doc_count++;
  return ret;
}

/* ---- input --------------------------------------------------------------------------------- */

static GstFlowReturn
gst_text_chunker_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (parent);
  GstMapInfo map;
  GError *err = NULL;

  if (self->timer_flow != GST_FLOW_OK) {
    /* the last max-latency flush failed downstream: tell upstream now */
    GstFlowReturn ret = self->timer_flow;
    self->timer_flow = GST_FLOW_OK;
    gst_buffer_unref (buf);
    return ret;
  }

  if (!self->doc_id)
    gst_text_chunker_start_document (self);

  if (self->doc_skipping) {
    /* the rest of a skipped document */
    self->doc_bytes += gst_buffer_get_size (buf);
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map input buffer"), (NULL));
    return GST_FLOW_ERROR;
  }

  const char *data = (const char *) map.data;
  gsize len = map.size;
  if (self->doc_hash)
    g_checksum_update (self->doc_hash, map.data, map.size);
  if (self->markup) {
    g_string_truncate (self->text, 0);
    te_markup_to_text (data, len, self->text);
    if (self->text->len > 0 && !g_ascii_isspace (self->text->str[self->text->len - 1]))
      g_string_append_c (self->text, '\n');
    data = self->text->str;
    len = self->text->len;
  }

  GstClockTime pts = GST_BUFFER_PTS (buf);
  GST_LOG_OBJECT (self, "%" G_GSIZE_FORMAT " bytes of text at %" G_GUINT64_FORMAT ", pts %"
      GST_TIME_FORMAT " duration %" GST_TIME_FORMAT, len, self->doc_bytes,
      GST_TIME_ARGS (pts), GST_TIME_ARGS (GST_BUFFER_DURATION (buf)));
  gst_text_chunker_close_open_span (self, pts);
  if (len > 0)
    gst_text_chunker_add_span (self, len, pts, GST_BUFFER_DURATION (buf));

  self->flow = GST_FLOW_OK;
  gboolean ok = te_chunker_push (self->chunker, data, len, push_chunk, self, &err);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  gst_text_chunker_prune_spans (self);

  if (!ok && err)
    return gst_text_chunker_post_chunker_error (self, err);
  if (self->flow == GST_FLOW_OK)
    gst_text_chunker_update_timer (self);
  return self->flow;
}

static gboolean
gst_text_chunker_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (parent);

  GST_DEBUG_OBJECT (self, "event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      /* a new stream is a new document: finish the previous one if it had no EOS */
      gst_text_chunker_finish_document (self, NULL);
      if (!gst_pad_push_event (self->srcpad, event))
        return FALSE;
      /* our caps do not depend on the input's: announce them now, so a model mismatch
       * downstream shows at negotiation even before the first chunk */
      gst_text_chunker_send_caps (self);
      return TRUE;
    case GST_EVENT_CAPS:{
      /* input caps are text; ours carry the tokenizer */
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      const GstStructure *s = gst_caps_get_structure (caps, 0);
      self->markup = gst_structure_has_name (s, "text/x-raw")
          && g_strcmp0 (gst_structure_get_string (s, "format"), "pango-markup") == 0;
      GST_INFO_OBJECT (self, "input is %s", self->markup ? "pango-markup" : "plain text");
      gst_event_unref (event);
      gst_text_chunker_send_caps (self);
      return TRUE;
    }
    case GST_EVENT_SEGMENT:{
      const GstSegment *in;
      gst_event_parse_segment (event, &in);
      /* pending text has times of the previous segment: send it out under that one */
      gst_text_chunker_flush_pending (self, "new segment");
      gst_text_chunker_update_timer (self);
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
    case GST_EVENT_GAP:{
      GstClockTime ts, duration;
      gst_event_parse_gap (event, &ts, &duration);
      GST_DEBUG_OBJECT (self, "gap at %" GST_TIME_FORMAT " for %" GST_TIME_FORMAT,
          GST_TIME_ARGS (ts), GST_TIME_ARGS (duration));
      /* no text for a while: the text before it ends here and goes out now */
      gst_text_chunker_close_open_span (self, ts);
      gst_text_chunker_flush_pending (self, "gap");
      gst_text_chunker_update_timer (self);
      gst_text_chunker_send_caps (self);
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_EOS:{
      GstFlowReturn ret = gst_text_chunker_finish_document (self, NULL);
      if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING && ret != GST_FLOW_EOS)
        GST_DEBUG_OBJECT (self, "finishing the document gave %s", gst_flow_get_name (ret));
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_FLUSH_START:
      gst_text_chunker_disarm (self, TRUE);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      gst_text_chunker_disarm (self, TRUE);
      gst_text_chunker_clear_document (self);
      self->timer_flow = GST_FLOW_OK;
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_CUSTOM_DOWNSTREAM:{
      const GstStructure *st;
      if ((st = gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_START))) {
        /* a framed document: ours goes downstream with upstream's fields and our counts */
        gst_text_chunker_finish_document (self, NULL);
        self->doc_info = gst_structure_copy (st);
        gst_event_unref (event);
        gst_text_chunker_start_document (self);
        gint64 bad = -1;
        if (gst_structure_get_int64 (self->doc_info, "invalid-utf8-offset", &bad) && bad >= 0
            && self->eff_invalid_utf8 == GST_TEXT_CHUNKER_INVALID_UTF8_SKIP_DOCUMENT) {
          gchar *reason = g_strdup_printf ("input is not valid UTF-8 at byte %" G_GINT64_FORMAT
              " of the document", bad);
          GST_ELEMENT_WARNING_WITH_DETAILS (self, STREAM, DECODE,
              ("Document \"%s\" skipped: %s", self->doc_id, reason), (NULL),
              ("document", G_TYPE_STRING, self->doc_id, "reason", G_TYPE_STRING, reason,
                  NULL));
          gst_text_chunker_send_document_end (self, reason);
          self->doc_skipping = TRUE;
          g_free (reason);
        }
        return TRUE;
      }
      if ((st = gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_END))) {
        const gchar *status = gst_structure_get_string (st, "status");
        const gchar *reason = NULL;
        if (g_strcmp0 (status, "skipped") == 0) {
          reason = gst_structure_get_string (st, "reason");
          if (!reason)
            reason = "skipped by upstream";
        }
        if (!self->doc_id && reason) {
          /* an end without start (or after a flush): still report the document */
          self->doc_info = gst_structure_copy (st);
          gst_structure_set_name (self->doc_info, GST_TEXT_EMBED_DOCUMENT_START);
          gst_text_chunker_start_document (self);
        }
        gchar *why = g_strdup (reason);
        gboolean keep = FALSE;
        if (reason && gst_structure_get_boolean (st, "keep-previous", &keep))
          self->doc_keep_previous = keep;
        gst_event_unref (event);
        GstFlowReturn ret = gst_text_chunker_finish_document (self, why);
        g_free (why);
        return ret == GST_FLOW_OK || ret == GST_FLOW_FLUSHING;
      }
      return gst_pad_event_default (pad, parent, event);
    }
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* A store's document-status query passes: the chunking settings are part of the identity (other
 * settings give other chunks). */
static gboolean
gst_text_chunker_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (parent);
  GstStructure *s = gst_text_embed_query_get_document_status (query);
  if (s) {
    GST_OBJECT_LOCK (self);
    gchar *chunking = g_strdup (self->chunking);
    GST_OBJECT_UNLOCK (self);
    if (chunking)
      gst_structure_set (s, "chunking", G_TYPE_STRING, chunking, NULL);
    g_free (chunking);
  }
  return gst_pad_query_default (pad, parent, query);
}

static gboolean
gst_text_chunker_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstTextChunker *self = GST_TEXT_CHUNKER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gboolean live;
      GstClockTime min, max;
      gst_query_parse_latency (query, &live, &min, &max);
      /* text may wait up to max-latency before it goes out */
      GstClockTime latency = gst_text_chunker_effective_latency (self, live);
      if (latency > 0) {
        min += latency;
        if (GST_CLOCK_TIME_IS_VALID (max))
          max += latency;
        gst_query_set_latency (query, live, min, max);
      }
      GST_DEBUG_OBJECT (self, "latency: live %d, min %" GST_TIME_FORMAT ", max %"
          GST_TIME_FORMAT, live, GST_TIME_ARGS (min), GST_TIME_ARGS (max));
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}
