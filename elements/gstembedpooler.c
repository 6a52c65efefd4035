/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstembedpooler.c — embedpooler element: pools token embeddings and L2-normalises. */
/**
 * SECTION:element-embedpooler
 * @title: embedpooler
 *
 * Turns the token embeddings of a chunk (from npuencoder) into one embedding: mean over the real
 * tokens (padding was already removed by the encoder, so the mean is mask-aware), the first ([CLS])
 * token, or the element-wise max; then optional L2 normalisation. With the properties on "auto" the
 * model's sentence-transformers configuration decides (1_Pooling/config.json, a Normalize module in
 * modules.json); a plain transformers directory gets mean pooling without normalisation.
 * A zero vector stays zero under normalisation (no NaN). #GstEmbedPooler:exclude-overlap pools
 * only a chunk's own tokens, leaving out those of the text it shares with the previous chunk
 * (textchunker overlap-tokens). #GstEmbedPooler:dimensions keeps only
 * the first N values of the pooled vector (Matryoshka truncation), normalised after the cut:
 * meaningful only for models trained for it (docs/elements.md lists some); for a model whose
 * README.md does not mention Matryoshka a warning says so on the bus. A model whose 1_Pooling/config.json says
 * `include_prompt: false` has the prompt's tokens (#GstTextChunkMeta `n_prompt_tokens`, set by
 * texttokenizer) left out of the pooling, as sentence-transformers does; otherwise they are pooled
 * with the text's.
 *
 * Output buffers (caps `application/x-embedding, format=F32LE, dimension=D, normalized=B`) hold
 * exactly D float32 values in native byte order; the #GstTextChunkMeta (document, index, byte range,
 * text), timestamps and offsets of the chunk are kept, so an appsink can use them directly.
 *
 * Late chunking (texttokenizer late-chunking): an input buffer is then a window of a document
 * whose #GstTextChunkMeta list the chunks it gives vectors for, each with its token rows
 * (`span_first`, `span_n`): one output buffer per chunk, pooled over those rows only, with that
 * chunk's meta, timestamps and byte range. Mean and max pooling; cls pooling is an error (a
 * chunk inside a window has no [CLS] of its own).
 *
 * With #GstEmbedPooler:document-vectors, each document ends with one more buffer: the mean of
 * its chunk vectors weighted by their tokens (the tokens a chunk shares with the previous one
 * through overlap are counted once, with the previous chunk; the prompt's are not counted when
 * the pooling leaves them out), normalised when the element normalises. Its meta has `kind`
 * GST_TEXT_CHUNK_KIND_DOCUMENT, `index` the document's chunk count, `start`/`end` and the
 * timestamps spanning its chunks, no text, and `n_tokens` the total weight. It goes out before
 * the document's "textembed/document-end" event, or when the next document's chunks begin, or
 * at EOS.
 *
 * The #GstEmbedPooler:model property only supplies defaults; its hidden size must match the
 * encoder's (else negotiation fails with an error).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker ! texttokenizer ! npuencoder ! embedpooler pooling=cls normalize=false ! embedsink location=out.jsonl
 * ]|
 * |[
 * gst-launch-1.0 filesrc location=doc.txt ! textchunker model=DIR ! texttokenizer model=DIR ! npuencoder model=DIR ! embedpooler model=DIR dimensions=256 ! embedsink location=out.jsonl
 * ]| (DIR a Matryoshka-trained model such as nomic-embed-text-v1.5: 256 of its 768 dimensions)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstembedpooler.h"
#include "gsttextembedmeta.h"
#include "gsttextembedmodel.h"
#include "te-pooling.h"

GST_DEBUG_CATEGORY_STATIC (gst_embed_pooler_debug);
#define GST_CAT_DEFAULT gst_embed_pooler_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_POOLING,
  PROP_NORMALIZE,
  PROP_DIMENSIONS,
  PROP_EXCLUDE_OVERLAP,
  PROP_DOCUMENT_VECTORS,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-token-embeddings, format = (string) F32LE, "
        "hidden-size = (int) [ 1, MAX ]"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-embedding, format = (string) F32LE, "
        "dimension = (int) [ 1, MAX ], normalized = (boolean) { true, false }"));

GType
gst_embed_pooler_pooling_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_EMBED_POOLER_POOLING_AUTO, "From the model's sentence-transformers config (else mean)",
        "auto"},
    {GST_EMBED_POOLER_POOLING_MEAN, "Mean over real tokens", "mean"},
    {GST_EMBED_POOLER_POOLING_CLS, "First ([CLS]) token", "cls"},
    {GST_EMBED_POOLER_POOLING_MAX, "Element-wise max over real tokens", "max"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmbedPoolerPooling", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_embed_pooler_normalize_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_EMBED_POOLER_NORMALIZE_AUTO, "As the model's sentence-transformers modules say "
          "(else no)", "auto"},
    {GST_EMBED_POOLER_NORMALIZE_TRUE, "L2-normalise", "true"},
    {GST_EMBED_POOLER_NORMALIZE_FALSE, "Leave unnormalised", "false"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmbedPoolerNormalize", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE (GstEmbedPooler, gst_embed_pooler, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (embedpooler, "embedpooler", GST_RANK_NONE, GST_TYPE_EMBED_POOLER);

static void gst_embed_pooler_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_embed_pooler_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_embed_pooler_finalize (GObject * object);
static GstStateChangeReturn gst_embed_pooler_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_embed_pooler_chain (GstPad * pad, GstObject * parent, GstBuffer * buf);
static gboolean gst_embed_pooler_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event);

static void
gst_embed_pooler_class_init (GstEmbedPoolerClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_embed_pooler_debug, "embedpooler", 0,
      "Token embeddings to sentence embeddings");

  gobject_class->set_property = gst_embed_pooler_set_property;
  gobject_class->get_property = gst_embed_pooler_get_property;
  gobject_class->finalize = gst_embed_pooler_finalize;

  /**
   * GstEmbedPooler:model:
   *
   * Model directory whose sentence-transformers configuration gives the "auto" defaults.
   * NULL: the default model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Hugging Face model directory (NULL = default model)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstEmbedPooler:pooling:
   *
   * How token embeddings become one vector: auto (the model's config), mean, cls or max.
   */
  g_object_class_install_property (gobject_class, PROP_POOLING,
      g_param_spec_enum ("pooling", "Pooling", "Pooling mode",
          gst_embed_pooler_pooling_get_type (), GST_EMBED_POOLER_POOLING_AUTO,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstEmbedPooler:normalize:
   *
   * L2-normalise the pooled vector: auto (the model's modules.json), true or false.
   */
  g_object_class_install_property (gobject_class, PROP_NORMALIZE,
      g_param_spec_enum ("normalize", "Normalize", "L2 normalisation",
          gst_embed_pooler_normalize_get_type (), GST_EMBED_POOLER_NORMALIZE_AUTO,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstEmbedPooler:dimensions:
   *
   * Keep the first N values of each pooled vector, then normalise (when #GstEmbedPooler:normalize
   * does): Matryoshka truncation, for models trained so that a prefix of the embedding is an
   * embedding. 0: all of them (the model's hidden size). More than the hidden size is an error
   * when the element starts; a model whose README.md does not mention Matryoshka gets a warning.
   * The output caps' dimension and the store's embedding identity follow it.
   */
  g_object_class_install_property (gobject_class, PROP_DIMENSIONS,
      g_param_spec_uint ("dimensions", "Dimensions", "Keep the first N values of each "
          "embedding, then normalise (Matryoshka models); 0 = all", 0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstEmbedPooler:exclude-overlap:
   *
   * Pool only a chunk's own tokens: leave out the tokens of the text the previous chunk of the
   * document also holds (textchunker overlap-tokens; #GstTextChunkMeta `n_overlap_tokens`, set
   * by texttokenizer), so that overlapping chunks do not count them twice. Mean and max
   * pooling; [CLS] and [SEP] stay. Part of the embedding identity.
   */
  g_object_class_install_property (gobject_class, PROP_EXCLUDE_OVERLAP,
      g_param_spec_boolean ("exclude-overlap", "Exclude overlap", "Pool only each chunk's own "
          "tokens, not those it shares with the previous chunk (overlap-tokens)", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstEmbedPooler:document-vectors:
   *
   * At each document's end, emit one more embedding for the whole document: the token-weighted
   * mean of its chunk vectors, normalised when the element normalises, marked
   * GST_TEXT_CHUNK_KIND_DOCUMENT in its #GstTextChunkMeta. embedsink writes it as a "document"
   * line (JSON Lines) or in the document's row (SQLite). Part of the embedding identity.
   */
  g_object_class_install_property (gobject_class, PROP_DOCUMENT_VECTORS,
      g_param_spec_boolean ("document-vectors", "Document vectors", "Also emit one embedding "
          "per document: the token-weighted mean of its chunk vectors", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Embedding pooler",
      "Filter/Analyzer", "Pools token embeddings into one (normalised) embedding per chunk",
      "gst-textembed developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_embed_pooler_change_state);

  gst_type_mark_as_plugin_api (gst_embed_pooler_pooling_get_type (), 0);
  gst_type_mark_as_plugin_api (gst_embed_pooler_normalize_get_type (), 0);
}

/* A store's document-status query passes: our part of the embedding identity. */
static gboolean
gst_embed_pooler_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (parent);
  GstStructure *s = gst_text_embed_query_get_document_status (query);
  if (s) {
    GST_OBJECT_LOCK (self);
    gint dims = self->id_dims;
    TePoolMode mode = self->mode;
    gboolean normalize = self->do_normalize;
    gboolean include_prompt = self->include_prompt;
    gboolean exclude_overlap = self->do_exclude_overlap;
    gboolean document_vectors = self->do_document_vectors;
    GST_OBJECT_UNLOCK (self);
    if (dims > 0)
      gst_structure_set (s, "pooling", G_TYPE_STRING, te_pool_mode_to_string (mode),
          "normalized", G_TYPE_BOOLEAN, normalize, "dimension", G_TYPE_INT, dims,
          "include-prompt", G_TYPE_BOOLEAN, include_prompt,
          "exclude-overlap", G_TYPE_BOOLEAN, exclude_overlap,
          "document-vectors", G_TYPE_BOOLEAN, document_vectors, NULL);
  }
  return gst_pad_query_default (pad, parent, query);
}

static void
gst_embed_pooler_init (GstEmbedPooler * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_embed_pooler_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_embed_pooler_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_embed_pooler_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}

static void
gst_embed_pooler_finalize (GObject * object)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (object);
  g_free (self->model_path);
  g_free (self->pooled);
  g_free (self->doc_id);
  g_free (self->doc_sum);
  g_free (self->doc_plain);
  G_OBJECT_CLASS (gst_embed_pooler_parent_class)->finalize (object);
}

static void
gst_embed_pooler_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_POOLING:
      self->pooling = g_value_get_enum (value);
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_enum (value);
      break;
    case PROP_DIMENSIONS:
      self->dimensions = g_value_get_uint (value);
      break;
    case PROP_EXCLUDE_OVERLAP:
      self->exclude_overlap = g_value_get_boolean (value);
      break;
    case PROP_DOCUMENT_VECTORS:
      self->document_vectors = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_embed_pooler_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_POOLING:
      g_value_set_enum (value, self->pooling);
      break;
    case PROP_NORMALIZE:
      g_value_set_enum (value, self->normalize);
      break;
    case PROP_DIMENSIONS:
      g_value_set_uint (value, self->dimensions);
      break;
    case PROP_EXCLUDE_OVERLAP:
      g_value_set_boolean (value, self->exclude_overlap);
      break;
    case PROP_DOCUMENT_VECTORS:
      g_value_set_boolean (value, self->document_vectors);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_embed_pooler_start (GstEmbedPooler * self)
{
  GST_OBJECT_LOCK (self);
  GstEmbedPoolerPooling pooling = self->pooling;
  GstEmbedPoolerNormalize normalize = self->normalize;
  guint dimensions = self->dimensions;
  gboolean exclude_overlap = self->exclude_overlap;
  gboolean document_vectors = self->document_vectors;
  GST_OBJECT_UNLOCK (self);

  self->model = gst_text_embed_model_acquire_for_element (GST_ELEMENT (self), FALSE);
  if (!self->model)
    return FALSE;
  gint hidden = te_model_config (self->model)->hidden_size;
  if (dimensions > (guint) hidden) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("dimensions=%u, but the model %s gives %d: "
            "set at most %d (or 0 for all)", dimensions, te_model_dir (self->model), hidden,
            hidden), (NULL));
    g_clear_pointer (&self->model, gst_text_embed_model_release);
    return FALSE;
  }
  if (dimensions > 0 && dimensions < (guint) hidden
      && !te_model_says_matryoshka (self->model)) {
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS, ("Truncating to %u of %d dimensions, but the "
            "model %s does not say it was trained for it (no \"Matryoshka\" in its README.md): "
            "its embeddings may lose much of their quality", dimensions, hidden,
            te_model_dir (self->model)), ("only models trained with a Matryoshka loss keep "
            "their meaning in a prefix; docs/elements.md lists some"));
  }

  const TeSentenceConfig *sc = te_model_sentence_config (self->model);
  switch (pooling) {
    case GST_EMBED_POOLER_POOLING_MEAN:
      self->mode = TE_POOL_MEAN;
      break;
    case GST_EMBED_POOLER_POOLING_CLS:
      self->mode = TE_POOL_CLS;
      break;
    case GST_EMBED_POOLER_POOLING_MAX:
      self->mode = TE_POOL_MAX;
      break;
    default:
      self->mode = sc->pooling;
      break;
  }
  GST_OBJECT_LOCK (self);
  self->do_normalize = normalize == GST_EMBED_POOLER_NORMALIZE_AUTO ? sc->normalize
      : normalize == GST_EMBED_POOLER_NORMALIZE_TRUE;
  self->out_dim = dimensions > 0 ? (gint) dimensions : hidden;
  self->id_dims = self->out_dim;
  self->include_prompt = sc->include_prompt;
  self->do_exclude_overlap = exclude_overlap;
  self->do_document_vectors = document_vectors;
  GST_OBJECT_UNLOCK (self);
  g_free (self->doc_sum);
  g_free (self->doc_plain);
  self->doc_sum = g_new0 (double, self->out_dim);
  self->doc_plain = g_new0 (double, self->out_dim);
  g_clear_pointer (&self->doc_id, g_free);
  self->dim = 0;
  self->caps_sent = FALSE;
  GST_INFO_OBJECT (self, "pooling %s, normalize %s, %d of %d dimensions",
      te_pool_mode_to_string (self->mode), self->do_normalize ? "yes" : "no", self->out_dim,
      hidden);
  return TRUE;
}

static GstStateChangeReturn
gst_embed_pooler_change_state (GstElement * element, GstStateChange transition)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_embed_pooler_start (self))
    return GST_STATE_CHANGE_FAILURE;

  ret = GST_ELEMENT_CLASS (gst_embed_pooler_parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    GST_OBJECT_LOCK (self);
    self->id_dims = 0;
    GST_OBJECT_UNLOCK (self);
    g_clear_pointer (&self->model, gst_text_embed_model_release);
  }
  return ret;
}

static gboolean
gst_embed_pooler_set_caps (GstEmbedPooler * self, GstCaps * caps)
{
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint h = 0;
  if (!gst_structure_get_int (s, "hidden-size", &h) || h <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Input caps have no hidden-size"),
        ("%" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  gint ours = te_model_config (self->model)->hidden_size;
  if (h != ours) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The encoder's embeddings are %d wide but the pooler's model (%s) is %d wide; give "
            "npuencoder and embedpooler the same model property", h,
            te_model_dir (self->model), ours), (NULL));
    return FALSE;
  }
  self->dim = h;
  g_free (self->pooled);
  self->pooled = g_new (float, h);
  GstCaps *out = gst_caps_new_simple ("application/x-embedding",
      "format", G_TYPE_STRING, "F32LE",
      "dimension", G_TYPE_INT, self->out_dim, "normalized", G_TYPE_BOOLEAN, self->do_normalize,
      "pooling", G_TYPE_STRING, te_pool_mode_to_string (self->mode),
      "include-prompt", G_TYPE_BOOLEAN, self->include_prompt,
      "exclude-overlap", G_TYPE_BOOLEAN, self->do_exclude_overlap,
      "document-vectors", G_TYPE_BOOLEAN, self->do_document_vectors, NULL);
  /* what the encoder says about itself travels on, for stores (see gsttextembedmeta.h) */
  const gchar *encoder = gst_structure_get_string (s, "encoder");
  const gchar *model_dir = gst_structure_get_string (s, "model-dir");
  if (encoder)
    gst_caps_set_simple (out, "encoder", G_TYPE_STRING, encoder, NULL);
  if (model_dir)
    gst_caps_set_simple (out, "model-dir", G_TYPE_STRING, model_dir, NULL);
  gboolean ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (out));
  gst_caps_unref (out);
  self->caps_sent = ok;
  return ok;
}

/* The open document's vector goes out (document-vectors), if it has chunks. */
static GstFlowReturn
gst_embed_pooler_push_document (GstEmbedPooler * self)
{
  if (!self->doc_id)
    return GST_FLOW_OK;
  GstBuffer *out = gst_buffer_new_allocate (NULL, (gsize) self->out_dim * sizeof (float), NULL);
  GstMapInfo omap;
  gst_buffer_map (out, &omap, GST_MAP_WRITE);
  float *v = (float *) omap.data;
  /* every weight 0 (chunks of nothing but shared tokens): the plain mean */
  const double *sum = self->doc_weight > 0 ? self->doc_sum : self->doc_plain;
  double total = self->doc_weight > 0 ? self->doc_weight : (double) self->doc_chunks;
  for (gint i = 0; i < self->out_dim; i++)
    v[i] = (float) (sum[i] / total);
  if (self->do_normalize)
    te_l2_normalize (v, self->out_dim);
  gst_buffer_unmap (out, &omap);
  GstTextChunkMeta *m = gst_buffer_add_text_chunk_meta (out, self->doc_id, self->doc_chunks,
      self->doc_start, self->doc_end, "", 0, (guint) MIN (self->doc_weight, G_MAXUINT));
  m->kind = GST_TEXT_CHUNK_KIND_DOCUMENT;
  GST_BUFFER_OFFSET (out) = self->doc_start;
  GST_BUFFER_OFFSET_END (out) = self->doc_end;
  GST_BUFFER_PTS (out) = self->doc_pts;
  if (GST_CLOCK_TIME_IS_VALID (self->doc_pts) && GST_CLOCK_TIME_IS_VALID (self->doc_last_end)
      && self->doc_last_end >= self->doc_pts)
    GST_BUFFER_DURATION (out) = self->doc_last_end - self->doc_pts;
  GST_DEBUG_OBJECT (self, "document \"%s\": %" G_GUINT64_FORMAT " chunks, weight %.0f",
      self->doc_id, self->doc_chunks, self->doc_weight);
  g_clear_pointer (&self->doc_id, g_free);
  return gst_pad_push (self->srcpad, out);
}

/* Adds a chunk vector to its document's (document-vectors); a new document id first sends the
 * previous document's vector. */
static GstFlowReturn
gst_embed_pooler_add_to_document (GstEmbedPooler * self, const GstTextChunkMeta * m,
    const float *v, double weight, GstClockTime pts, GstClockTime duration)
{
  GstFlowReturn ret = GST_FLOW_OK;
  const gchar *id = m ? m->doc_id : "";
  if (self->doc_id && strcmp (self->doc_id, id) != 0)
    ret = gst_embed_pooler_push_document (self);
  if (!self->doc_id) {
    self->doc_id = g_strdup (id);
    memset (self->doc_sum, 0, (gsize) self->out_dim * sizeof (double));
    memset (self->doc_plain, 0, (gsize) self->out_dim * sizeof (double));
    self->doc_weight = 0;
    self->doc_chunks = 0;
    self->doc_start = m ? m->start : 0;
    self->doc_end = m ? m->end : 0;
    self->doc_pts = pts;
    self->doc_last_end = GST_CLOCK_TIME_NONE;
  }
  for (gint i = 0; i < self->out_dim; i++) {
    self->doc_sum[i] += weight * v[i];
    self->doc_plain[i] += v[i];
  }
  self->doc_weight += weight;
  self->doc_chunks++;
  if (m)
    self->doc_end = MAX (self->doc_end, m->end);
  if (!GST_CLOCK_TIME_IS_VALID (self->doc_pts))
    self->doc_pts = pts;
  if (GST_CLOCK_TIME_IS_VALID (pts))
    self->doc_last_end = GST_CLOCK_TIME_IS_VALID (duration) ? pts + duration : pts;
  return ret;
}

/* Pools @n token rows (@base: their first row in the buffer, which the meta's row numbers
 * count from) into @out_buf's out_dim floats; returns the chunk's weight in its document: the
 * rows pooled for it, less the prompt's when left out and the overlap's (the previous chunk's). */
static double
gst_embed_pooler_pool (GstEmbedPooler * self, const float *rows, gsize n, gsize base,
    const GstTextChunkMeta * meta, float *out)
{
  float *v = self->pooled;
  gsize skip = 0;
  if (!self->include_prompt && meta)
    skip = MIN (meta->n_prompt_tokens, n);
  /* the overlap's tokens (after [CLS] and the prompt), relative to the rows pooled */
  gsize ov_first = 0, ov_n = 0;
  if (meta && meta->n_overlap_tokens > 0 && meta->overlap_first >= base + skip) {
    ov_first = MIN (meta->overlap_first - base - skip, n - skip);
    ov_n = MIN (meta->n_overlap_tokens, n - skip - ov_first);
  }
  if (skip < n)
    te_pool_except (rows + skip * self->dim, n - skip, self->dim,
        self->do_exclude_overlap ? (int) ov_first : 0,
        self->do_exclude_overlap ? (int) ov_n : 0, self->mode, v);
  else
    memset (v, 0, (gsize) self->dim * sizeof (float));  /* nothing but the prompt: zero */
  /* the first out_dim values (all unless truncated), then the normalisation */
  memcpy (out, v, (gsize) self->out_dim * sizeof (float));
  if (self->do_normalize)
    te_l2_normalize (out, self->out_dim);
  return (double) (n - skip - ov_n);
}

static GstFlowReturn
gst_embed_pooler_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (parent);
  GstMapInfo map;
  GstFlowReturn ret = GST_FLOW_OK;

  if (!self->caps_sent) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before data"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  gsize row = (gsize) self->dim * sizeof (float);
  gsize size = gst_buffer_get_size (buf);
  if (size == 0 || size % row != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Token embedding buffer of %" G_GSIZE_FORMAT " bytes is not a whole number of "
            "%d-float rows", size, self->dim), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  gsize n = size / row;

  /* late chunking: the metas with token rows are the chunks this window gives */
  GPtrArray *spans = g_ptr_array_new ();
  gpointer state = NULL;
  GstMeta *gm;
  while ((gm = gst_buffer_iterate_meta_filtered (buf, &state, GST_TEXT_CHUNK_META_API_TYPE))) {
    GstTextChunkMeta *m = (GstTextChunkMeta *) gm;
    if (m->span_n == 0)
      continue;
    if ((gsize) m->span_first + m->span_n > n) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Chunk %" G_GUINT64_FORMAT " of \"%s\" pools "
              "token rows %u..%u of a window of %" G_GSIZE_FORMAT, m->index, m->doc_id,
              m->span_first, m->span_first + m->span_n - 1, n), (NULL));
      ret = GST_FLOW_ERROR;
      break;
    }
    g_ptr_array_add (spans, m);
  }
  if (ret == GST_FLOW_OK && spans->len > 0 && self->mode == TE_POOL_CLS) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Late chunking needs mean or max pooling: a "
            "chunk inside a window has no [CLS] token of its own"),
        ("set embedpooler pooling=mean (or max), or texttokenizer late-chunking=false"));
    ret = GST_FLOW_ERROR;
  }
  if (ret != GST_FLOW_OK) {
    g_ptr_array_unref (spans);
    gst_buffer_unref (buf);
    return ret;
  }

  gst_buffer_map (buf, &map, GST_MAP_READ);
  const float *rows = (const float *) map.data;
  guint n_out = spans->len > 0 ? spans->len : 1;
  for (guint k = 0; k < n_out && ret == GST_FLOW_OK; k++) {
    GstTextChunkMeta *m = spans->len > 0 ? g_ptr_array_index (spans, k)
        : gst_buffer_get_text_chunk_meta (buf);
    gsize first = spans->len > 0 ? m->span_first : 0;
    gsize count = spans->len > 0 ? m->span_n : n;
    GstBuffer *out = gst_buffer_new_allocate (NULL, (gsize) self->out_dim * sizeof (float),
        NULL);
    GstMapInfo omap;
    gst_buffer_map (out, &omap, GST_MAP_WRITE);
    double weight = gst_embed_pooler_pool (self, rows + first * self->dim, count, first, m,
        (float *) omap.data);
    if (spans->len > 0) {
      /* one of the window's chunks: its own meta, times and byte range */
      gst_text_chunk_meta_copy (out, m);
      GST_BUFFER_PTS (out) = m->pts;
      GST_BUFFER_DURATION (out) = m->duration;
      GST_BUFFER_OFFSET (out) = m->start;
      GST_BUFFER_OFFSET_END (out) = m->end;
    } else {
      gst_buffer_copy_into (out, buf, GST_BUFFER_COPY_TIMESTAMPS | GST_BUFFER_COPY_FLAGS, 0,
          -1);
      GST_BUFFER_OFFSET (out) = GST_BUFFER_OFFSET (buf);
      GST_BUFFER_OFFSET_END (out) = GST_BUFFER_OFFSET_END (buf);
      gst_text_chunk_meta_copy_all (out, buf);
    }
    if (self->do_document_vectors)
      ret = gst_embed_pooler_add_to_document (self, m, (const float *) omap.data, weight,
          GST_BUFFER_PTS (out), GST_BUFFER_DURATION (out));
    gst_buffer_unmap (out, &omap);
    if (ret == GST_FLOW_OK)
      ret = gst_pad_push (self->srcpad, out);
    else
      gst_buffer_unref (out);
  }
  gst_buffer_unmap (buf, &map);
  g_ptr_array_unref (spans);
  gst_buffer_unref (buf);
  return ret;
}

static gboolean
gst_embed_pooler_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstEmbedPooler *self = GST_EMBED_POOLER (parent);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    gboolean ok = gst_embed_pooler_set_caps (self, caps);
    gst_event_unref (event);
    return ok;
  }
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      gst_embed_pooler_push_document (self);
      break;
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      /* the document's vector goes before its end (and before the next one starts) */
      if (gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_END)
          || gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_START)) {
        GstFlowReturn ret = gst_embed_pooler_push_document (self);
        if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING) {
          gst_event_unref (event);
          return FALSE;
        }
      }
      break;
    case GST_EVENT_FLUSH_STOP:
      g_clear_pointer (&self->doc_id, g_free);
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}
