/* gstnpuencoder.c — npuencoder element: batches token-id chunks and runs the encoder backend. */
/**
 * SECTION:element-npuencoder
 * @title: npuencoder
 *
 * Runs the transformer encoder (BERT family) on each chunk of token ids and outputs its last
 * hidden state. Chunks are collected into batches of up to #GstNpuEncoder:batch-size, padded to a
 * length the backend supports (any length on the CPU; fixed buckets on NPUs), masked, and submitted
 * through the backend interface of core/ (te-backend.h). Output order equals input order; at EOS a
 * partial batch is run before EOS is forwarded.
 *
 * Output buffers (caps `application/x-token-embeddings, hidden-size=H, format=F32LE`) hold n·H
 * float32 values for a chunk of n tokens: the hidden state of each real token (padding removed),
 * token-major. The #GstTextChunkMeta, timestamps and offsets of the input are copied over.
 *
 * Input caps carry the tokenizer fingerprint; tokens from a different vocabulary than the
 * encoder's model fail negotiation with an error.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker ! texttokenizer ! npuencoder batch-size=16 backend=cpu ! embedpooler ! embedsink location=out.jsonl
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstnpuencoder.h"
#include "gsttextembedmeta.h"
#include "gsttextembedmodel.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_npu_encoder_debug);
#define GST_CAT_DEFAULT gst_npu_encoder_debug

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_BACKEND,
  PROP_BACKEND_OPTIONS,
  PROP_BATCH_SIZE,
};

#define DEFAULT_BACKEND "cpu"
#define DEFAULT_BATCH_SIZE 8

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("application/x-text-tokens"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-token-embeddings, format = (string) F32LE, "
        "hidden-size = (int) [ 1, MAX ]"));

G_DEFINE_TYPE (GstNpuEncoder, gst_npu_encoder, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (npuencoder, "npuencoder", GST_RANK_NONE, GST_TYPE_NPU_ENCODER);

static void gst_npu_encoder_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_npu_encoder_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_npu_encoder_finalize (GObject * object);
static GstStateChangeReturn gst_npu_encoder_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_npu_encoder_chain (GstPad * pad, GstObject * parent, GstBuffer * buf);
static gboolean gst_npu_encoder_sink_event (GstPad * pad, GstObject * parent, GstEvent * event);

static void
gst_npu_encoder_class_init (GstNpuEncoderClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_npu_encoder_debug, "npuencoder", 0, "Transformer encoder");

  gobject_class->set_property = gst_npu_encoder_set_property;
  gobject_class->get_property = gst_npu_encoder_get_property;
  gobject_class->finalize = gst_npu_encoder_finalize;

  /**
   * GstNpuEncoder:model:
   *
   * Hugging Face model directory (config.json, model.safetensors in fp32/fp16/bf16,
   * tokenizer.json). NULL: the default model.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Hugging Face model directory (NULL = default model)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:backend:
   *
   * Name of the backend that runs the encoder. Built in: "cpu" (OpenBLAS). The list of
   * available names is in the error message for an unknown one.
   */
  g_object_class_install_property (gobject_class, PROP_BACKEND,
      g_param_spec_string ("backend", "Backend", "Encoder backend (cpu)", DEFAULT_BACKEND,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:backend-options:
   *
   * Backend-specific settings as "key=value,key=value". The cpu backend takes "threads"
   * (OpenBLAS threads; 0 = OpenBLAS default).
   */
  g_object_class_install_property (gobject_class, PROP_BACKEND_OPTIONS,
      g_param_spec_string ("backend-options", "Backend options",
          "Backend settings, key=value,key=value", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:batch-size:
   *
   * Chunks per backend call. Larger batches use the hardware better but hold chunks back until the
   * batch is full (or EOS). Clamped to the backend's maximum batch.
   */
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size", "Chunks per backend call", 1, 1024,
          DEFAULT_BATCH_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Transformer encoder",
      "Filter/Analyzer", "Runs a BERT-family encoder on token ids through a CPU or NPU backend",
      "gst-textembed developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_npu_encoder_change_state);
}

static void
gst_npu_encoder_init (GstNpuEncoder * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_npu_encoder_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_npu_encoder_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->backend_name = g_strdup (DEFAULT_BACKEND);
  self->batch_size = DEFAULT_BATCH_SIZE;
  self->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
}

static void
gst_npu_encoder_finalize (GObject * object)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (object);
  g_free (self->model_path);
  g_free (self->backend_name);
  g_free (self->backend_options);
  g_ptr_array_unref (self->pending);
  G_OBJECT_CLASS (gst_npu_encoder_parent_class)->finalize (object);
}

static void
gst_npu_encoder_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_BACKEND:
      g_free (self->backend_name);
      self->backend_name = g_value_dup_string (value);
      break;
    case PROP_BACKEND_OPTIONS:
      g_free (self->backend_options);
      self->backend_options = g_value_dup_string (value);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_npu_encoder_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_BACKEND:
      g_value_set_string (value, self->backend_name);
      break;
    case PROP_BACKEND_OPTIONS:
      g_value_set_string (value, self->backend_options);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, self->batch_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* "a=1,b=2" -> hash table; NULL on a malformed entry. */
static GHashTable *
parse_options (const gchar * s, GError ** error)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!s)
    return h;
  gchar **items = g_strsplit (s, ",", -1);
  for (gchar ** it = items; *it; it++) {
    gchar *item = g_strstrip (*it);
    if (!*item)
      continue;
    gchar *eq = strchr (item, '=');
    if (!eq || eq == item) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "backend-options: \"%s\" is not key=value", item);
      g_strfreev (items);
      g_hash_table_unref (h);
      return NULL;
    }
    *eq = '\0';
    g_hash_table_replace (h, g_strdup (g_strstrip (item)), g_strdup (g_strstrip (eq + 1)));
  }
  g_strfreev (items);
  return h;
}

static gboolean
gst_npu_encoder_start (GstNpuEncoder * self)
{
  GError *err = NULL;

  GST_OBJECT_LOCK (self);
  gchar *path = g_strdup (self->model_path);
  gchar *backend = g_strdup (self->backend_name);
  gchar *options = g_strdup (self->backend_options);
  guint batch = self->batch_size;
  GST_OBJECT_UNLOCK (self);

  gboolean ok = FALSE;
  GHashTable *opts = NULL;

  self->model = gst_text_embed_model_acquire (path, TRUE, &err);
  if (!self->model) {
    gst_text_embed_model_post_error (GST_ELEMENT (self), path, err);
    goto done;
  }
  opts = parse_options (options, &err);
  if (!opts) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", err->message), (NULL));
    goto done;
  }
  self->backend = te_backend_new (backend ? backend : DEFAULT_BACKEND, self->model, opts, &err);
  if (!self->backend) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not open encoder backend \"%s\": %s",
            backend, err->message), ("available backends: %s", te_backend_class_names ()));
    goto done;
  }
  te_backend_get_caps (self->backend, &self->caps);
  self->eff_batch = batch;
  if (self->caps.max_batch > 0 && (guint) self->caps.max_batch < batch) {
    GST_INFO_OBJECT (self, "backend takes at most %d chunks a batch", self->caps.max_batch);
    self->eff_batch = self->caps.max_batch;
  }
  self->caps_sent = FALSE;
  self->n_batches = self->n_chunks = self->n_tokens = 0;
  GST_INFO_OBJECT (self, "backend %s, batch %u, model %s (hidden %d)", backend, self->eff_batch,
      te_model_dir (self->model), te_model_config (self->model)->hidden_size);
  ok = TRUE;

done:
  g_clear_error (&err);
  if (opts)
    g_hash_table_unref (opts);
  g_free (path);
  g_free (backend);
  g_free (options);
  return ok;
}

static void
gst_npu_encoder_stop (GstNpuEncoder * self)
{
  g_ptr_array_set_size (self->pending, 0);
  g_clear_pointer (&self->backend, te_backend_free);
  g_clear_pointer (&self->model, gst_text_embed_model_release);
}

static GstStateChangeReturn
gst_npu_encoder_change_state (GstElement * element, GstStateChange transition)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_npu_encoder_start (self)) {
    gst_npu_encoder_stop (self);
    return GST_STATE_CHANGE_FAILURE;
  }

  ret = GST_ELEMENT_CLASS (gst_npu_encoder_parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " batches, %" G_GUINT64_FORMAT " chunks, %"
        G_GUINT64_FORMAT " tokens", self->n_batches, self->n_chunks, self->n_tokens);
    gst_npu_encoder_stop (self);
  }
  return ret;
}

static void
gst_npu_encoder_send_caps (GstNpuEncoder * self)
{
  if (self->caps_sent)
    return;
  GstCaps *caps = gst_caps_new_simple ("application/x-token-embeddings",
      "format", G_TYPE_STRING, "F32LE",
      "hidden-size", G_TYPE_INT, te_model_config (self->model)->hidden_size, NULL);
  gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  self->caps_sent = TRUE;
}

static void
describe_chunk (GstBuffer * buf, GString * s)
{
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (buf);
  if (m)
    g_string_append_printf (s, "%s\"%s\"#%" G_GUINT64_FORMAT, s->len ? ", " : "", m->doc_id,
        m->index);
}

/* Run the pending chunks as one batch and push their outputs in order. */
static GstFlowReturn
gst_npu_encoder_flush_batch (GstNpuEncoder * self)
{
  GPtrArray *rows = self->pending;
  guint nrows = rows->len;
  GstFlowReturn ret = GST_FLOW_OK;
  GError *err = NULL;

  if (nrows == 0)
    return GST_FLOW_OK;

  int h = te_model_config (self->model)->hidden_size;
  int longest = 0;
  for (guint i = 0; i < nrows; i++)
    longest = MAX (longest, (int) (gst_buffer_get_size (rows->pdata[i]) / 8));
  int seq = te_backend_caps_seq_len (&self->caps, longest);
  g_assert (seq > 0);           /* lengths were checked in chain */

  TeBatch *batch = te_batch_new (nrows, seq, h, te_tokenizer_pad_id (te_model_tokenizer
          (self->model)));
  for (guint i = 0; i < nrows; i++) {
    GstMapInfo map;
    gst_buffer_map (rows->pdata[i], &map, GST_MAP_READ);
    int n = map.size / 8;
    const gint32 *ids = (const gint32 *) map.data;
    te_batch_set_row (batch, i, ids, ids + n, n);
    gst_buffer_unmap (rows->pdata[i], &map);
  }

  GST_DEBUG_OBJECT (self, "batch of %u, padded to %d", nrows, seq);
  if (!te_backend_run (self->backend, batch, &err)) {
    GString *which = g_string_new (NULL);
    for (guint i = 0; i < nrows; i++)
      describe_chunk (rows->pdata[i], which);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Encoder backend \"%s\" failed on chunks %s: %s",
            te_backend_name (self->backend), which->str, err->message), (NULL));
    g_string_free (which, TRUE);
    g_error_free (err);
    te_batch_free (batch);
    g_ptr_array_set_size (rows, 0);
    return GST_FLOW_ERROR;
  }
  self->n_batches++;

  /* take the rows out so the array is empty whatever happens downstream */
  GstBuffer **in = (GstBuffer **) g_ptr_array_steal (rows, NULL);
  for (guint i = 0; i < nrows; i++) {
    if (ret == GST_FLOW_OK) {
      int n = batch->lengths[i];
      gsize bytes = (gsize) n * h * sizeof (float);
      GstBuffer *out = gst_buffer_new_allocate (NULL, bytes, NULL);
      gst_buffer_fill (out, 0, batch->hidden + (gsize) i * seq * h, bytes);
      gst_buffer_copy_into (out, in[i], GST_BUFFER_COPY_TIMESTAMPS | GST_BUFFER_COPY_FLAGS, 0,
          -1);
      GST_BUFFER_OFFSET (out) = GST_BUFFER_OFFSET (in[i]);
      GST_BUFFER_OFFSET_END (out) = GST_BUFFER_OFFSET_END (in[i]);
      gst_text_chunk_meta_copy_all (out, in[i]);
      self->n_chunks++;
      self->n_tokens += n;
      gst_npu_encoder_send_caps (self);
      ret = gst_pad_push (self->srcpad, out);
    }
    gst_buffer_unref (in[i]);
  }
  g_free (in);
  te_batch_free (batch);
  return ret;
}

static GstFlowReturn
gst_npu_encoder_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);
  gsize size = gst_buffer_get_size (buf);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (buf);

  if (size == 0 || size % 8 != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Malformed token buffer of %" G_GSIZE_FORMAT " bytes (expected 8 bytes per token: "
            "int32 id + int32 type id); link npuencoder after texttokenizer", size), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  int n = size / 8;
  if (te_backend_caps_seq_len (&self->caps, n) < 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Chunk %" G_GUINT64_FORMAT " of \"%s\" has %d tokens; backend \"%s\" accepts at most "
            "%d. Lower textchunker's max-tokens.", m ? m->index : 0, m ? m->doc_id : "?", n,
            te_backend_name (self->backend), self->caps.max_seq_len), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  g_ptr_array_add (self->pending, buf);
  if (self->pending->len >= self->eff_batch)
    return gst_npu_encoder_flush_batch (self);
  return GST_FLOW_OK;
}

static gboolean
gst_npu_encoder_check_caps (GstNpuEncoder * self, GstCaps * caps)
{
  GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *fp = gst_structure_get_string (s, "tokenizer");
  const gchar *ours = te_tokenizer_fingerprint (te_model_tokenizer (self->model));
  if (fp && g_strcmp0 (fp, ours) != 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The token ids come from a different vocabulary than the encoder's model (%s); give "
            "texttokenizer and npuencoder the same model property", te_model_dir (self->model)),
        ("upstream tokenizer %s, encoder's %s", fp, ours));
    return FALSE;
  }
  gint vocab = 0;
  if (gst_structure_get_int (s, "vocab-size", &vocab)
      && vocab > te_model_config (self->model)->vocab_size) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The tokenizer's vocabulary (%d) is larger than the encoder's embedding table (%d)",
            vocab, te_model_config (self->model)->vocab_size), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_npu_encoder_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
      g_ptr_array_set_size (self->pending, 0);
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      gboolean ok = gst_npu_encoder_check_caps (self, caps);
      gst_event_unref (event);
      if (ok)
        gst_npu_encoder_send_caps (self);
      return ok;
    }
    default:
      break;
  }

  /* keep order: chunks received before a serialized event (EOS, segment, stream-start...)
   * go out before it */
  if (GST_EVENT_IS_SERIALIZED (event) && self->pending->len > 0) {
    GstFlowReturn ret = gst_npu_encoder_flush_batch (self);
    if (ret != GST_FLOW_OK)
      GST_DEBUG_OBJECT (self, "draining before %s: %s", GST_EVENT_TYPE_NAME (event),
          gst_flow_get_name (ret));
  }
  return gst_pad_event_default (pad, parent, event);
}
