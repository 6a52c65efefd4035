/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedbin.c — textembed bin: the whole text → embedding chain behind one element. */
/**
 * SECTION:element-textembed
 * @title: textembed
 *
 * Convenience bin: `textchunker ! texttokenizer ! npuencoder ! embedpooler` with ghost pads,
 * taking UTF-8 text (text/x-raw or text/plain, or untyped bytes from filesrc) and giving one
 * `application/x-embedding` buffer per chunk. The main properties of the inner elements are exposed
 * here; #GstTextEmbedBin:model is set on all four so they always agree.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textembed max-tokens=128 ! embedsink location=out.jsonl
 * ]|
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textembed max-tokens=64 late-chunking=true document-vectors=true ! embedsink location=out.jsonl
 * ]| Late chunking (each 64-token chunk embedded in the context of a window of the model's
 * max_seq_length, 256 tokens for the default model) and a vector for the whole document.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttextembedbin.h"
#include "gstembedpooler.h"

GST_DEBUG_CATEGORY_STATIC (gst_text_embed_bin_debug);
#define GST_CAT_DEFAULT gst_text_embed_bin_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_MAX_TOKENS,
  PROP_OVERLAP_TOKENS,
  PROP_DOCUMENT_ID,
  PROP_BACKEND,
  PROP_BACKEND_OPTIONS,
  PROP_BATCH_SIZE,
  PROP_POOLING,
  PROP_NORMALIZE,
  PROP_DIMENSIONS,
  PROP_EXCLUDE_OVERLAP,
  PROP_DOCUMENT_VECTORS,
  PROP_LATE_CHUNKING,
  PROP_WINDOW_TOKENS,
  PROP_MAX_LATENCY,
  PROP_MAX_BATCH_TOKENS,
  PROP_MAX_INFLIGHT,
  PROP_STATS_INTERVAL,
  PROP_FALLBACK,
  PROP_INVALID_UTF8,
  PROP_PROMPT,
  PROP_PROMPT_NAME,
  PROP_INSTRUCTION,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8; text/plain"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-embedding, format = (string) F32LE, "
        "dimension = (int) [ 1, MAX ], normalized = (boolean) { true, false }"));

G_DEFINE_TYPE (GstTextEmbedBin, gst_text_embed_bin, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE (textembed, "textembed", GST_RANK_NONE, GST_TYPE_TEXT_EMBED_BIN);

/* property id -> (inner element, its property name) */
static GstElement *
inner_for (GstTextEmbedBin * self, guint prop_id, const gchar ** name)
{
  switch (prop_id) {
    case PROP_MAX_TOKENS:
      *name = "max-tokens";
      return self->chunker;
    case PROP_OVERLAP_TOKENS:
      *name = "overlap-tokens";
      return self->chunker;
    case PROP_DOCUMENT_ID:
      *name = "document-id";
      return self->chunker;
    case PROP_BACKEND:
      *name = "backend";
      return self->encoder;
    case PROP_BACKEND_OPTIONS:
      *name = "backend-options";
      return self->encoder;
    case PROP_BATCH_SIZE:
      *name = "batch-size";
      return self->encoder;
    case PROP_MAX_BATCH_TOKENS:
      *name = "max-batch-tokens";
      return self->encoder;
    case PROP_MAX_INFLIGHT:
      *name = "max-inflight";
      return self->encoder;
    case PROP_STATS_INTERVAL:
      *name = "stats-interval";
      return self->encoder;
    case PROP_FALLBACK:
      *name = "fallback";
      return self->encoder;
    case PROP_INVALID_UTF8:
      *name = "invalid-utf8";
      return self->chunker;
    case PROP_PROMPT:
      *name = "prompt";
      return self->chunker;
    case PROP_PROMPT_NAME:
      *name = "prompt-name";
      return self->chunker;
    case PROP_INSTRUCTION:
      *name = "instruction";
      return self->chunker;
    case PROP_MAX_LATENCY:     /* set on both (see set_property); read from the chunker */
      *name = "max-latency";
      return self->chunker;
    case PROP_POOLING:
      *name = "pooling";
      return self->pooler;
    case PROP_NORMALIZE:
      *name = "normalize";
      return self->pooler;
    case PROP_DIMENSIONS:
      *name = "dimensions";
      return self->pooler;
    case PROP_EXCLUDE_OVERLAP:
      *name = "exclude-overlap";
      return self->pooler;
    case PROP_DOCUMENT_VECTORS:
      *name = "document-vectors";
      return self->pooler;
    case PROP_LATE_CHUNKING:
      *name = "late-chunking";
      return self->tokenizer;
    case PROP_WINDOW_TOKENS:
      *name = "window-tokens";
      return self->tokenizer;
    default:
      return NULL;
  }
}

static void
gst_text_embed_bin_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstTextEmbedBin *self = GST_TEXT_EMBED_BIN (object);
  const gchar *name = NULL;

  if (prop_id == PROP_MODEL) {
    GST_OBJECT_LOCK (self);
    g_free (self->model_path);
    self->model_path = g_value_dup_string (value);
    GST_OBJECT_UNLOCK (self);
    GstElement *all[] = { self->chunker, self->tokenizer, self->encoder, self->pooler };
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      g_object_set_property (G_OBJECT (all[i]), "model", value);
    return;
  }
  if (prop_id == PROP_MAX_LATENCY) {
    g_object_set_property (G_OBJECT (self->chunker), "max-latency", value);
    g_object_set_property (G_OBJECT (self->encoder), "max-latency", value);
    return;
  }
  GstElement *inner = inner_for (self, prop_id, &name);
  if (inner)
    g_object_set_property (G_OBJECT (inner), name, value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gst_text_embed_bin_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstTextEmbedBin *self = GST_TEXT_EMBED_BIN (object);
  const gchar *name = NULL;

  if (prop_id == PROP_MODEL) {
    GST_OBJECT_LOCK (self);
    g_value_set_string (value, self->model_path);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  GstElement *inner = inner_for (self, prop_id, &name);
  if (inner)
    g_object_get_property (G_OBJECT (inner), name, value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gst_text_embed_bin_finalize (GObject * object)
{
  GstTextEmbedBin *self = GST_TEXT_EMBED_BIN (object);
  g_free (self->model_path);
  G_OBJECT_CLASS (gst_text_embed_bin_parent_class)->finalize (object);
}

/* Copy an inner element's param spec (same name, range, default, flags) for the bin. */
static void
proxy_property (GObjectClass * klass, guint prop_id, const gchar * factory, const gchar * name)
{
  GstElement *e = gst_element_factory_make (factory, NULL);
  g_assert (e != NULL);
  GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), name);
  GParamSpec *copy = NULL;
  GParamFlags flags = (p->flags & (G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY |
          GST_PARAM_MUTABLE_PLAYING)) | G_PARAM_STATIC_STRINGS;
  const gchar *nick = g_param_spec_get_nick (p), *blurb = g_param_spec_get_blurb (p);

  if (G_IS_PARAM_SPEC_INT (p)) {
    GParamSpecInt *i = G_PARAM_SPEC_INT (p);
    copy = g_param_spec_int (name, nick, blurb, i->minimum, i->maximum, i->default_value, flags);
  } else if (G_IS_PARAM_SPEC_UINT (p)) {
    GParamSpecUInt *u = G_PARAM_SPEC_UINT (p);
    copy = g_param_spec_uint (name, nick, blurb, u->minimum, u->maximum, u->default_value,
        flags);
  } else if (G_IS_PARAM_SPEC_STRING (p)) {
    copy = g_param_spec_string (name, nick, blurb, G_PARAM_SPEC_STRING (p)->default_value,
        flags);
  } else if (G_IS_PARAM_SPEC_ENUM (p)) {
    GParamSpecEnum *en = G_PARAM_SPEC_ENUM (p);
    copy = g_param_spec_enum (name, nick, blurb, p->value_type, en->default_value, flags);
  } else if (G_IS_PARAM_SPEC_BOOLEAN (p)) {
    copy = g_param_spec_boolean (name, nick, blurb, G_PARAM_SPEC_BOOLEAN (p)->default_value,
        flags);
  }
  g_assert (copy != NULL);
  g_object_class_install_property (klass, prop_id, copy);
  gst_object_unref (e);
}

static void
gst_text_embed_bin_class_init (GstTextEmbedBinClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_text_embed_bin_debug, "textembed", 0,
      "Text to embeddings bin");

  gobject_class->set_property = gst_text_embed_bin_set_property;
  gobject_class->get_property = gst_text_embed_bin_get_property;
  gobject_class->finalize = gst_text_embed_bin_finalize;

  /**
   * GstTextEmbedBin:model:
   *
   * Hugging Face model directory for all inner elements. NULL: the default model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Hugging Face model directory (NULL = default model)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstTextEmbedBin:max-tokens:
   *
   * textchunker's #GstTextChunker:max-tokens.
   */
  proxy_property (gobject_class, PROP_MAX_TOKENS, "textchunker", "max-tokens");
  /**
   * GstTextEmbedBin:overlap-tokens:
   *
   * textchunker's #GstTextChunker:overlap-tokens.
   */
  proxy_property (gobject_class, PROP_OVERLAP_TOKENS, "textchunker", "overlap-tokens");
  /**
   * GstTextEmbedBin:document-id:
   *
   * textchunker's #GstTextChunker:document-id.
   */
  proxy_property (gobject_class, PROP_DOCUMENT_ID, "textchunker", "document-id");
  /**
   * GstTextEmbedBin:backend:
   *
   * npuencoder's #GstNpuEncoder:backend.
   */
  proxy_property (gobject_class, PROP_BACKEND, "npuencoder", "backend");
  /**
   * GstTextEmbedBin:backend-options:
   *
   * npuencoder's #GstNpuEncoder:backend-options.
   */
  proxy_property (gobject_class, PROP_BACKEND_OPTIONS, "npuencoder", "backend-options");
  /**
   * GstTextEmbedBin:batch-size:
   *
   * npuencoder's #GstNpuEncoder:batch-size.
   */
  proxy_property (gobject_class, PROP_BATCH_SIZE, "npuencoder", "batch-size");
  /**
   * GstTextEmbedBin:pooling:
   *
   * embedpooler's #GstEmbedPooler:pooling.
   */
  proxy_property (gobject_class, PROP_POOLING, "embedpooler", "pooling");
  /**
   * GstTextEmbedBin:normalize:
   *
   * embedpooler's #GstEmbedPooler:normalize.
   */
  proxy_property (gobject_class, PROP_NORMALIZE, "embedpooler", "normalize");
  proxy_property (gobject_class, PROP_DIMENSIONS, "embedpooler", "dimensions");
  proxy_property (gobject_class, PROP_EXCLUDE_OVERLAP, "embedpooler", "exclude-overlap");
  /**
   * GstTextEmbedBin:document-vectors:
   *
   * embedpooler's #GstEmbedPooler:document-vectors: one more embedding per document.
   */
  proxy_property (gobject_class, PROP_DOCUMENT_VECTORS, "embedpooler", "document-vectors");
  /**
   * GstTextEmbedBin:late-chunking:
   *
   * texttokenizer's #GstTextTokenizer:late-chunking: each chunk embedded in the context of a
   * window of its document (mean or max pooling).
   */
  proxy_property (gobject_class, PROP_LATE_CHUNKING, "texttokenizer", "late-chunking");
  /**
   * GstTextEmbedBin:window-tokens:
   *
   * texttokenizer's #GstTextTokenizer:window-tokens (late chunking).
   */
  proxy_property (gobject_class, PROP_WINDOW_TOKENS, "texttokenizer", "window-tokens");
  /**
   * GstTextEmbedBin:max-latency:
   *
   * Set on both textchunker (#GstTextChunker:max-latency: how long a partial chunk waits for
   * more text) and npuencoder (#GstNpuEncoder:max-latency: how long a partial batch waits for
   * more chunks), so live text is embedded after at most about twice this. -1: each element's
   * automatic default (on only for live upstreams). Reads return the chunker's value.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_LATENCY,
      g_param_spec_int ("max-latency", "Max latency", "Milliseconds a partial chunk waits for "
          "text and a partial batch for chunks (-1 = automatic: on only for live upstreams; "
          "0 = off)", -1, 3600 * 1000, -1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstTextEmbedBin:max-batch-tokens:
   *
   * npuencoder's #GstNpuEncoder:max-batch-tokens.
   */
  proxy_property (gobject_class, PROP_MAX_BATCH_TOKENS, "npuencoder", "max-batch-tokens");
  /**
   * GstTextEmbedBin:max-inflight:
   *
   * npuencoder's #GstNpuEncoder:max-inflight.
   */
  proxy_property (gobject_class, PROP_MAX_INFLIGHT, "npuencoder", "max-inflight");
  /**
   * GstTextEmbedBin:stats-interval:
   *
   * npuencoder's #GstNpuEncoder:stats-interval.
   */
  proxy_property (gobject_class, PROP_STATS_INTERVAL, "npuencoder", "stats-interval");
  /**
   * GstTextEmbedBin:fallback:
   *
   * npuencoder's #GstNpuEncoder:fallback.
   */
  proxy_property (gobject_class, PROP_FALLBACK, "npuencoder", "fallback");
  /**
   * GstTextEmbedBin:invalid-utf8:
   *
   * textchunker's #GstTextChunker:invalid-utf8.
   */
  proxy_property (gobject_class, PROP_INVALID_UTF8, "textchunker", "invalid-utf8");
  /**
   * GstTextEmbedBin:prompt:
   *
   * textchunker's #GstTextChunker:prompt.
   */
  proxy_property (gobject_class, PROP_PROMPT, "textchunker", "prompt");
  /**
   * GstTextEmbedBin:prompt-name:
   *
   * textchunker's #GstTextChunker:prompt-name.
   */
  proxy_property (gobject_class, PROP_PROMPT_NAME, "textchunker", "prompt-name");
  /**
   * GstTextEmbedBin:instruction:
   *
   * textchunker's #GstTextChunker:instruction.
   */
  proxy_property (gobject_class, PROP_INSTRUCTION, "textchunker", "instruction");

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Text embedder",
      "Filter/Analyzer/Bin", "Chunks, tokenizes, encodes and pools text into embeddings",
      "gst-textembed developers");
}

static void
gst_text_embed_bin_init (GstTextEmbedBin * self)
{
  self->chunker = gst_element_factory_make ("textchunker", "chunker");
  self->tokenizer = gst_element_factory_make ("texttokenizer", "tokenizer");
  self->encoder = gst_element_factory_make ("npuencoder", "encoder");
  self->pooler = gst_element_factory_make ("embedpooler", "pooler");
  g_assert (self->chunker && self->tokenizer && self->encoder && self->pooler);

  gst_bin_add_many (GST_BIN (self), self->chunker, self->tokenizer, self->encoder,
      self->pooler, NULL);
  if (!gst_element_link_many (self->chunker, self->tokenizer, self->encoder, self->pooler,
          NULL))
    g_critical ("textembed: could not link the inner elements");

  GstPad *pad = gst_element_get_static_pad (self->chunker, "sink");
  GstPad *ghost = gst_ghost_pad_new_from_template ("sink", pad,
      gst_static_pad_template_get (&sink_template));
  gst_element_add_pad (GST_ELEMENT (self), ghost);
  gst_object_unref (pad);

  pad = gst_element_get_static_pad (self->pooler, "src");
  ghost = gst_ghost_pad_new_from_template ("src", pad,
      gst_static_pad_template_get (&src_template));
  gst_element_add_pad (GST_ELEMENT (self), ghost);
  gst_object_unref (pad);
}
