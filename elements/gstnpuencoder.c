/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstnpuencoder.c — npuencoder element: batches token-id chunks and runs the encoder backend
 * asynchronously, with backpressure (docs/encoder-scheduling.md). */
/**
 * SECTION:element-npuencoder
 * @title: npuencoder
 *
 * Runs the transformer encoder (BERT family) on each chunk of token ids and outputs its last
 * hidden state, through the backend interface of core/ (te-backend.h): "cpu" (the project's
 * kernels for the CPU's instruction set, fp32/int8/bf16; docs/cpu.md) or an accelerator; "null" is an instrumentation backend (a fixed time per batch, zero vectors).
 *
 * The element is a pipelined, batched encoder with three threads, its batching done by
 * core/te-scheduler.h (which te-embed uses too):
 *
 * - the upstream streaming thread (chain) checks each chunk and gives it to the scheduler, which
 *   collects chunks into a batch and, when the batch is complete, pads it into the backend's
 *   tensors;
 * - the scheduler's worker hands formed batches to the backend in order (the cpu backend
 *   computes inside that call; asynchronous backends complete on their own threads) and closes
 *   partial batches that have waited #GstNpuEncoder:max-latency;
 * - a source pad task pushes each completed batch's outputs downstream, in input order.
 *
 * A batch is closed when it holds #GstNpuEncoder:batch-size chunks, when the next chunk would
 * take it past #GstNpuEncoder:max-batch-tokens padded tokens, when its oldest chunk has waited
 * #GstNpuEncoder:max-latency, or at EOS. At most #GstNpuEncoder:max-inflight batches are formed
 * and not yet pushed; when that many are, the chain function blocks until one has been pushed,
 * so a slow encoder slows the source down instead of queueing text: the element holds at most
 * (max-inflight + 1) × batch-size chunks.
 *
 * Serialized events keep their place among the chunks: they travel with the batch being formed
 * (or after the batches in flight) and are pushed between its outputs exactly where they came,
 * without closing the batch. EOS closes the pending batch and is forwarded after every output;
 * the EOS event handler returns once it has been pushed. FLUSH_START/FLUSH_STOP and
 * PAUSED→READY discard pending chunks and batches (batches inside the backend are dropped when
 * they complete). A failing batch is a STREAM/FAILED error naming its chunks (document and
 * chunk index).
 *
 * LATENCY queries add max-latency plus one batch's time in the backend: its hint (the null
 * backend's latency-ms) until batches have completed, then measured; a LATENCY message is
 * posted when the measurement moves by more than a quarter. With
 * #GstNpuEncoder:stats-interval the element posts "npuencoder-stats" element messages (documents,
 * chunks, tokens, batches, throughput, queue depth, batches in flight, the backend and its
 * kernel, e.g. "avx512 fp32, 2 threads"), also one at EOS; the fields are documented in
 * docs/encoder-scheduling.md.
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
 * |[
 * gst-launch-1.0 -m filesrc location=/usr/share/common-licenses/GPL-3 ! textchunker max-tokens=128 ! texttokenizer ! npuencoder backend=null backend-options=latency-ms=20 batch-size=8 ! embedpooler ! fakesink
 * ]| Measures everything but the encoder (zero vectors after 20 ms per batch), printing the
 * statistics messages.
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
  PROP_MAX_BATCH_TOKENS,
  PROP_MAX_INFLIGHT,
  PROP_MAX_LATENCY,
  PROP_STATS_INTERVAL,
  PROP_FALLBACK,
};

#define DEFAULT_BACKEND "cpu"
#define DEFAULT_BATCH_SIZE 8
#define DEFAULT_MAX_BATCH_TOKENS 0
#define DEFAULT_MAX_INFLIGHT 2
#define DEFAULT_MAX_LATENCY -1
/* what max-latency=-1 means when upstream is live */
#define AUTO_LIVE_MAX_LATENCY_MS 100
#define DEFAULT_STATS_INTERVAL 1000

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("application/x-text-tokens"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-token-embeddings, format = (string) F32LE, "
        "hidden-size = (int) [ 1, MAX ]"));

GType
gst_npu_encoder_fallback_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_NPU_ENCODER_FALLBACK_CPU, "Warn and continue on the cpu backend", "cpu"},
    {GST_NPU_ENCODER_FALLBACK_NONE, "Fail with an error", "none"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstNpuEncoderFallback", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE (GstNpuEncoder, gst_npu_encoder, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (npuencoder, "npuencoder", GST_RANK_NONE, GST_TYPE_NPU_ENCODER);

/* "doc"#3, "doc"#4, ... for error messages (the first 32, then how many more) */
static gchar *
describe_chunks (GstBuffer ** rows, guint n)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < n; i++) {
    if (i == 32) {
      g_string_append_printf (s, " and %u more", n - i);
      break;
    }
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (rows[i]);
    if (m)
      g_string_append_printf (s, "%s\"%s\"#%" G_GUINT64_FORMAT, s->len ? ", " : "",
          m->doc_id ? m->doc_id : "", m->index);
    else
      g_string_append_printf (s, "%s(chunk without metadata)", s->len ? ", " : "");
  }
  return g_string_free (s, FALSE);
}

static void gst_npu_encoder_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_npu_encoder_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_npu_encoder_finalize (GObject * object);
static GstStateChangeReturn gst_npu_encoder_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_npu_encoder_chain (GstPad * pad, GstObject * parent, GstBuffer * buf);
static gboolean gst_npu_encoder_sink_event (GstPad * pad, GstObject * parent, GstEvent * event);
static gboolean gst_npu_encoder_sink_query (GstPad * pad, GstObject * parent, GstQuery * query);
static gboolean gst_npu_encoder_src_query (GstPad * pad, GstObject * parent, GstQuery * query);
static gboolean gst_npu_encoder_src_activate_mode (GstPad * pad, GstObject * parent,
    GstPadMode mode, gboolean active);
static void gst_npu_encoder_src_loop (gpointer data);
static void gst_npu_encoder_update_timers (GstNpuEncoder * self);

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
   * tokenizer.json). NULL: the default model. The weights are loaded whatever the backend
   * (also for "null", which does not read them), so memory figures measured with the null
   * backend include them as a real deployment does.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model", "Hugging Face model directory (NULL = default model)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:backend:
   *
   * Name of the backend that runs the encoder: "cpu" (the project's CPU kernels, or OpenBLAS
   * with backend-options kernels=openblas; computes synchronously in the element's submit
   * worker), "null" (instrumentation: waits its latency-ms per batch on its own thread and
   * returns zero vectors), and the accelerator backends this build has ("openvino", "onnx").
   * `te-devices` lists them with their devices; an unknown name is an error listing the
   * available ones.
   */
  {
    gchar *blurb = g_strdup_printf ("Encoder backend, one of: %s (te-devices lists their "
        "devices)", te_backend_class_names ());
    g_object_class_install_property (gobject_class, PROP_BACKEND,
        g_param_spec_string ("backend", "Backend", blurb, DEFAULT_BACKEND,
            G_PARAM_READWRITE | G_PARAM_STATIC_NAME | G_PARAM_STATIC_NICK
            | GST_PARAM_MUTABLE_READY));
    g_free (blurb);
  }
  /**
   * GstNpuEncoder:backend-options:
   *
   * Backend settings as "key=value,key=value". Each backend declares its options (name, type,
   * range, default) in one table in core/, which checks them when the backend opens: an
   * unknown key or a bad value is an error naming what the option takes. gst-inspect shows the
   * table of every backend of this build; docs/backends.md prints the same tables.
   */
  {
    GString *blurb = g_string_new ("Backend settings, key=value,key=value. Per backend:");
    guint n;
    const TeBackendClass *const *classes = te_backend_classes (&n);

    for (guint i = 0; i < n; i++) {
      gchar *d = te_backend_options_describe (classes[i], "                           ",
          FALSE);
      g_string_append_printf (blurb, "\n                        %s:\n%s", classes[i]->name, d);
      g_free (d);
    }
    g_object_class_install_property (gobject_class, PROP_BACKEND_OPTIONS,
        g_param_spec_string ("backend-options", "Backend options", blurb->str, NULL,
            G_PARAM_READWRITE | G_PARAM_STATIC_NAME | G_PARAM_STATIC_NICK
            | GST_PARAM_MUTABLE_READY));
    g_string_free (blurb, TRUE);
  }
  /**
   * GstNpuEncoder:batch-size:
   *
   * Most chunks per backend call. Larger batches use the hardware better but hold chunks back
   * until the batch is full (or #GstNpuEncoder:max-latency has passed, or EOS). Clamped to the
   * backend's maximum batch.
   */
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size", "Most chunks per backend call", 1, 1024,
          DEFAULT_BATCH_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:max-batch-tokens:
   *
   * Most padded tokens per backend call: chunks × the padded sequence length (the longest
   * chunk, or the backend's bucket for it on static-shape backends) — the size of the tensors
   * the backend computes, so of its work and memory. A chunk that would take the batch past it
   * starts the next batch; a single chunk larger than the limit is a batch of its own.
   * 0 = no limit (only #GstNpuEncoder:batch-size).
   */
  g_object_class_install_property (gobject_class, PROP_MAX_BATCH_TOKENS,
      g_param_spec_uint ("max-batch-tokens", "Max batch tokens",
          "Most padded tokens (chunks x padded length) per backend call (0 = no limit)", 0,
          G_MAXINT, DEFAULT_MAX_BATCH_TOKENS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:max-inflight:
   *
   * Most batches formed and not yet pushed downstream (queued for the backend, inside it, or
   * having their outputs pushed). When that many are, the chain function blocks until one has
   * been pushed: backpressure on the source. The element holds at most
   * (max-inflight + 1) × batch-size chunks. 2 lets the next batch be ready while one runs.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_INFLIGHT,
      g_param_spec_uint ("max-inflight", "Max in flight",
          "Most batches formed and not yet pushed; more blocks upstream", 1, 64,
          DEFAULT_MAX_INFLIGHT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstNpuEncoder:max-latency:
   *
   * Milliseconds a chunk may wait for its batch to fill: when the oldest chunk of a partial
   * batch has waited this long (monotonic clock, from its arrival in the element), the batch is
   * submitted as it is (once a slot among #GstNpuEncoder:max-inflight is free), so live sources
   * are not held waiting. 0 = never by time: batches wait until full or EOS (right for files,
   * where they fill at once). -1 (default) = 100 ms when upstream answers the LATENCY query as
   * live (asked at the first chunk after start or flush), 0 otherwise. Reported in LATENCY
   * queries. Can be changed while playing.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_LATENCY,
      g_param_spec_int ("max-latency", "Max latency",
          "Milliseconds a partial batch waits for more chunks (0 = until full or EOS, "
          "-1 = 100 ms if upstream is live, else 0)", -1, 3600 * 1000, DEFAULT_MAX_LATENCY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstNpuEncoder:stats-interval:
   *
   * Milliseconds between "npuencoder-stats" element messages while chunks flow (one more is
   * posted at EOS). 0 = no statistics messages. Can be changed while playing.
   */
  g_object_class_install_property (gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_uint ("stats-interval", "Statistics interval",
          "Milliseconds between npuencoder-stats messages (0 = off)", 0, G_MAXINT,
          DEFAULT_STATS_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstNpuEncoder:fallback:
   *
   * What to do when the #GstNpuEncoder:backend cannot be opened (library missing, device absent,
   * graph not exported or not supported): "cpu" (default) posts a WARNING message naming the
   * backend and the reason and continues on the cpu backend; "none" makes it an error.
   */
  g_object_class_install_property (gobject_class, PROP_FALLBACK,
      g_param_spec_enum ("fallback", "Fallback", "Backend to use when the chosen one cannot be "
          "opened", gst_npu_encoder_fallback_get_type (), GST_NPU_ENCODER_FALLBACK_CPU,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  gst_type_mark_as_plugin_api (gst_npu_encoder_fallback_get_type (), 0);

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
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_npu_encoder_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_npu_encoder_src_query));
  gst_pad_set_activatemode_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_npu_encoder_src_activate_mode));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->backend_name = g_strdup (DEFAULT_BACKEND);
  self->batch_size = DEFAULT_BATCH_SIZE;
  self->max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS;
  self->max_inflight = DEFAULT_MAX_INFLIGHT;
  self->max_latency_ms = DEFAULT_MAX_LATENCY;
  self->stats_interval_ms = DEFAULT_STATS_INTERVAL;

  g_mutex_init (&self->lock);
  g_mutex_init (&self->identity_lock);
  g_cond_init (&self->cond);
  self->flushing = TRUE;
  self->srcresult = GST_FLOW_FLUSHING;
}

static void
gst_npu_encoder_finalize (GObject * object)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (object);

  g_free (self->model_path);
  g_free (self->backend_name);
  g_free (self->backend_options);
  g_free (self->last_doc);
  g_cond_clear (&self->cond);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->identity_lock);
  G_OBJECT_CLASS (gst_npu_encoder_parent_class)->finalize (object);
}

static void
gst_npu_encoder_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (object);
  gboolean latency_changed = FALSE, wake = FALSE;

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
    case PROP_MAX_BATCH_TOKENS:
      self->max_batch_tokens = g_value_get_uint (value);
      break;
    case PROP_MAX_INFLIGHT:
      self->max_inflight = g_value_get_uint (value);
      break;
    case PROP_MAX_LATENCY:{
      gint v = g_value_get_int (value);
      latency_changed = v != self->max_latency_ms;
      self->max_latency_ms = v;
      wake = TRUE;
      break;
    }
    case PROP_STATS_INTERVAL:
      self->stats_interval_ms = g_value_get_uint (value);
      wake = TRUE;
      break;
    case PROP_FALLBACK:
      self->fallback = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);

  if (wake)
    gst_npu_encoder_update_timers (self);
  if (latency_changed)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
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
    case PROP_MAX_BATCH_TOKENS:
      g_value_set_uint (value, self->max_batch_tokens);
      break;
    case PROP_MAX_INFLIGHT:
      g_value_set_uint (value, self->max_inflight);
      break;
    case PROP_MAX_LATENCY:
      g_value_set_int (value, self->max_latency_ms);
      break;
    case PROP_STATS_INTERVAL:
      g_value_set_uint (value, self->stats_interval_ms);
      break;
    case PROP_FALLBACK:
      g_value_set_enum (value, self->fallback);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gint64
get_max_latency_us (GstNpuEncoder * self)
{
  gint64 us;

  GST_OBJECT_LOCK (self);
  if (self->max_latency_ms >= 0)
    us = (gint64) self->max_latency_ms * 1000;
  else
    us = self->upstream_live ? AUTO_LIVE_MAX_LATENCY_MS * 1000 : 0;
  GST_OBJECT_UNLOCK (self);
  return us;
}

static gint64
get_stats_interval_us (GstNpuEncoder * self)
{
  gint64 us;

  GST_OBJECT_LOCK (self);
  us = (gint64) self->stats_interval_ms * 1000;
  GST_OBJECT_UNLOCK (self);
  return us;
}

/* ---- scheduling (core/te-scheduler.h) ---- */

/* a marker of our own (never pushed): gst_npu_encoder_drain() waits for the src task to reach
 * it */
#define DRAIN_POINT "npuencoder-drain-point"

static GstFlowReturn
state_ret_locked (GstNpuEncoder * self)
{
  return self->flushing ? GST_FLOW_FLUSHING : self->srcresult;
}

/* max-latency (which follows upstream's liveness when -1) and the stats period, into the
 * scheduler; called when either may have changed. */
static void
gst_npu_encoder_update_timers (GstNpuEncoder * self)
{
  TeScheduler *sched;

  g_mutex_lock (&self->lock);
  sched = self->sched;
  if (sched) {
    te_scheduler_set_max_latency (sched, get_max_latency_us (self));
    te_scheduler_set_tick_interval (sched, get_stats_interval_us (self));
  }
  g_mutex_unlock (&self->lock);
}

static GstMessage *
stats_message_locked (GstNpuEncoder * self, gboolean eos, gint64 now)
{
  double dt = (now - self->st_last_time) / 1e6;
  double dt_all = self->st_first ? (now - self->st_first) / 1e6 : 0.0;
  double tps = dt > 0 ? (self->st_tokens - self->st_last_tokens) / dt : 0.0;
  double tps_all = dt_all > 0 ? self->st_tokens / dt_all : 0.0;
  TeSchedStats ss = { 0 };
  GstStructure *s;

  if (self->sched)
    te_scheduler_get_stats (self->sched, &ss);
  s = gst_structure_new ("npuencoder-stats",
      "documents", G_TYPE_UINT64, self->st_documents,
      "chunks", G_TYPE_UINT64, self->st_chunks,
      "tokens", G_TYPE_UINT64, self->st_tokens,
      "batches", G_TYPE_UINT64, self->st_batches,
      "tokens-per-second", G_TYPE_DOUBLE, tps,
      "tokens-per-second-overall", G_TYPE_DOUBLE, tps_all,
      "queue-depth", G_TYPE_UINT, ss.pending_rows,
      "inflight", G_TYPE_UINT, ss.inflight,
      "elapsed", G_TYPE_UINT64, (guint64) (self->st_first ? (now - self->st_first) * 1000 : 0),
      "backend", G_TYPE_STRING, te_backend_name (self->backend),
      "kernel", G_TYPE_STRING, self->caps.kernel,
      "backend-open-ms", G_TYPE_DOUBLE, self->backend_open_ms,
      "eos", G_TYPE_BOOLEAN, eos, NULL);
  self->st_last_time = now;
  self->st_last_tokens = self->st_tokens;
  return gst_message_new_element (GST_OBJECT (self), s);
}

/* The scheduler's worker, every stats-interval: a periodic message while chunks flow. */
static void
stats_tick (gpointer data)
{
  GstNpuEncoder *self = data;
  GstMessage *msg = NULL;

  g_mutex_lock (&self->lock);
  if (self->stats_active && get_stats_interval_us (self) > 0)
    msg = stats_message_locked (self, FALSE, g_get_monotonic_time ());
  g_mutex_unlock (&self->lock);
  if (msg)
    gst_element_post_message (GST_ELEMENT (self), msg);
}

/* The scheduler measured a batch's time in the backend anew: part of our latency. */
static void
latency_changed (gint64 latency_us, gpointer data)
{
  GstNpuEncoder *self = data;

  GST_OBJECT_LOCK (self);
  self->backend_latency = (GstClockTime) latency_us * GST_USECOND;
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "backend latency now %.1f ms per batch (measured)",
      latency_us / 1000.0);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
}

static void
unref_event (gpointer event)
{
  gst_event_unref (event);
}

static void
unref_buffer (gpointer buffer)
{
  gst_buffer_unref (buffer);
}

/* Stops the src task's pops and the chain's waits after a downstream or backend failure: the
 * stream cannot go on until a flush or a restart. */
static void
gst_npu_encoder_fail_locked (GstNpuEncoder * self, GstFlowReturn ret)
{
  if (self->srcresult == GST_FLOW_OK)
    self->srcresult = ret;
  g_cond_broadcast (&self->cond);
}

/* ---- start / stop ---- */

static gboolean
gst_npu_encoder_start (GstNpuEncoder * self)
{
  GError *err = NULL;

  GST_OBJECT_LOCK (self);
  gchar *backend = g_strdup (self->backend_name ? self->backend_name : DEFAULT_BACKEND);
  gchar *options = g_strdup (self->backend_options);
  guint batch = self->batch_size;
  guint max_tokens = self->max_batch_tokens;
  guint max_inflight = self->max_inflight;
  GstNpuEncoderFallback fallback = self->fallback;
  GST_OBJECT_UNLOCK (self);

  gboolean ok = FALSE;
  GHashTable *opts = NULL;

  self->model = gst_text_embed_model_acquire_for_element (GST_ELEMENT (self), TRUE);
  if (!self->model)
    goto done;
  opts = te_backend_options_parse (options, &err);
  if (!opts) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", err->message), (NULL));
    goto done;
  }
  gint64 t_open = g_get_monotonic_time ();
  self->backend = te_backend_new (backend, self->model, opts, &err);
  if (!self->backend && fallback == GST_NPU_ENCODER_FALLBACK_CPU
      && strcmp (backend, "cpu") != 0) {
    /* the backend-options were for the other backend: the cpu one starts with its defaults */
    GST_ELEMENT_WARNING (self, LIBRARY, INIT, ("Encoder backend \"%s\" is not available (%s); "
            "continuing on the cpu backend", backend, err->message),
        ("available backends: %s; set fallback=none to make this an error",
            te_backend_class_names ()));
    g_clear_error (&err);
    self->backend = te_backend_new ("cpu", self->model, NULL, &err);
  }
  if (!self->backend) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not open encoder backend \"%s\": %s",
            backend, err->message), ("available backends: %s", te_backend_class_names ()));
    goto done;
  }
  self->backend_open_ms = (g_get_monotonic_time () - t_open) / 1000.0;
  te_backend_get_caps (self->backend, &self->caps);
  /* the backend's own estimate of a batch's time until the scheduler has measured some */
  GST_OBJECT_LOCK (self);
  self->backend_latency = (GstClockTime) (self->caps.latency_ms * GST_MSECOND);
  GST_OBJECT_UNLOCK (self);
  /* the identity: the model's content and the backend with the options that change numbers */
  GString *idb = g_string_new ("backend=");
  g_string_append (idb, te_backend_name (self->backend));
  if (strcmp (te_backend_name (self->backend), backend) == 0) {
    static const gchar *numeric_keys[] = { "dtype", "device", "precision" };
    for (guint k = 0; k < G_N_ELEMENTS (numeric_keys); k++)
      if (g_hash_table_contains (opts, numeric_keys[k]))
        g_string_append_printf (idb, ";%s=%s", numeric_keys[k],
            (const gchar *) g_hash_table_lookup (opts, numeric_keys[k]));
  }
  g_mutex_lock (&self->identity_lock);
  self->id_model_dir = g_strdup (te_model_dir (self->model));
  self->id_backend = g_string_free (idb, FALSE);
  g_mutex_unlock (&self->identity_lock);
  self->eff_batch = batch;
  if (self->caps.max_batch > 0 && (guint) self->caps.max_batch < batch) {
    GST_INFO_OBJECT (self, "backend takes at most %d chunks a batch", self->caps.max_batch);
    self->eff_batch = self->caps.max_batch;
  }
  self->eff_max_tokens = max_tokens;
  self->eff_max_inflight = max_inflight;

  TeSchedulerConfig sc = {
    .batch_size = batch,
    .max_batch_tokens = max_tokens,
    .max_inflight = max_inflight,
    .max_latency_us = get_max_latency_us (self),
    .tick_interval_us = get_stats_interval_us (self),
    .tick = stats_tick,
    .latency_changed = latency_changed,
    .user_data = self,
    .free_row = unref_buffer,
    .free_marker = unref_event,
  };
  TeScheduler *sched = te_scheduler_new (self->backend,
      te_model_config (self->model)->hidden_size,
      te_tokenizer_pad_id (te_model_tokenizer (self->model)), &sc);

  g_mutex_lock (&self->lock);
  self->sched = sched;
  self->flushing = FALSE;
  self->srcresult = GST_FLOW_OK;
  self->eos_pending = FALSE;
  self->caps_queued = FALSE;
  self->st_documents = self->st_chunks = self->st_tokens = self->st_batches = 0;
  self->st_first = self->st_last_time = 0;
  self->st_last_tokens = 0;
  self->stats_active = FALSE;
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->last_doc, g_free);

  GST_INFO_OBJECT (self, "backend %s (%s) opened in %.1f ms, batch %u, max-batch-tokens %u, "
      "max-inflight %u, model %s (hidden %d)", te_backend_name (self->backend),
      self->caps.kernel[0] ? self->caps.kernel : "no kernel said", self->backend_open_ms,
      self->eff_batch, self->eff_max_tokens, self->eff_max_inflight,
      te_model_dir (self->model), te_model_config (self->model)->hidden_size);
  ok = TRUE;

done:
  g_clear_error (&err);
  if (opts)
    g_hash_table_unref (opts);
  g_free (backend);
  g_free (options);
  return ok;
}

/* Called with the pads deactivated (no chain, no src task). */
static void
gst_npu_encoder_stop (GstNpuEncoder * self)
{
  TeScheduler *sched;

  g_mutex_lock (&self->identity_lock);
  g_clear_pointer (&self->id_model_dir, g_free);
  g_clear_pointer (&self->id_backend, g_free);
  g_clear_pointer (&self->identity, g_free);
  g_mutex_unlock (&self->identity_lock);

  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  sched = self->sched;
  self->sched = NULL;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  /* its worker stops (after a synchronous backend's batch in progress) and what is queued is
   * dropped; the backend completes or cancels the batches inside it (their completions free
   * them in the scheduler), then the scheduler goes */
  if (sched)
    te_scheduler_stop (sched);
  g_clear_pointer (&self->backend, te_backend_free);
  te_scheduler_free (sched);
  g_clear_pointer (&self->model, gst_text_embed_model_release);
  g_clear_pointer (&self->last_doc, g_free);
}

/* What decides this encoder's output, for stores that must know whether an embedding is still
 * current: the model's content hash and the backend with the options that change its numbers
 * (dtype, device, precision). Computed on first use (hashing the weights takes a moment), from
 * copies made in start, so it is safe from any thread at any time; NULL when stopped or when the
 * model files cannot be read. */
static gchar *
gst_npu_encoder_identity (GstNpuEncoder * self)
{
  g_mutex_lock (&self->identity_lock);
  gchar *id = g_strdup (self->identity);
  gchar *dir = id ? NULL : g_strdup (self->id_model_dir);
  g_mutex_unlock (&self->identity_lock);
  if (id || !dir)
    return id;

  GError *err = NULL;
  gchar *hash = gst_text_embed_model_content_hash (dir, &err);
  if (!hash) {
    GST_WARNING_OBJECT (self, "no embedding identity: %s", err->message);
    g_error_free (err);
    g_free (dir);
    return NULL;
  }
  g_mutex_lock (&self->identity_lock);
  if (!self->identity && self->id_backend && g_strcmp0 (self->id_model_dir, dir) == 0)
    self->identity = g_strdup_printf ("model=sha256:%.16s;%s", hash, self->id_backend);
  id = g_strdup (self->identity);
  g_mutex_unlock (&self->identity_lock);
  g_free (hash);
  g_free (dir);
  return id;
}

static GstStateChangeReturn
gst_npu_encoder_change_state (GstElement * element, GstStateChange transition)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      self->live_checked = FALSE;
      if (!gst_npu_encoder_start (self)) {
        gst_npu_encoder_stop (self);
        return GST_STATE_CHANGE_FAILURE;
      }
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* unblock a chain waiting for a slot and an EOS waiting for the drain, so that the pads
       * can be deactivated (that waits for the streaming threads to leave) */
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->cond);
      if (self->sched)
        te_scheduler_set_flushing (self->sched, TRUE);
      g_mutex_unlock (&self->lock);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (gst_npu_encoder_parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " batches, %" G_GUINT64_FORMAT " chunks, %"
        G_GUINT64_FORMAT " tokens", self->st_batches, self->st_chunks, self->st_tokens);
    gst_npu_encoder_stop (self);
  }
  return ret;
}

/* ---- src task: pushes completed batches and events in order ---- */

static gboolean
gst_npu_encoder_src_activate_mode (GstPad * pad, GstObject * parent, GstPadMode mode,
    gboolean active)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  g_mutex_lock (&self->lock);
  self->flushing = !active;
  self->srcresult = active ? GST_FLOW_OK : GST_FLOW_FLUSHING;
  g_cond_broadcast (&self->cond);
  if (self->sched)
    te_scheduler_set_flushing (self->sched, !active);
  g_mutex_unlock (&self->lock);
  if (active)
    return gst_pad_start_task (pad, gst_npu_encoder_src_loop, self, NULL);
  return gst_pad_stop_task (pad);
}

static GstEvent *
gst_npu_encoder_caps_event (GstNpuEncoder * self)
{
  GstCaps *caps = gst_caps_new_simple ("application/x-token-embeddings",
      "format", G_TYPE_STRING, "F32LE",
      "hidden-size", G_TYPE_INT, te_model_config (self->model)->hidden_size,
      "model-dir", G_TYPE_STRING, te_model_dir (self->model), NULL);
  gchar *identity = gst_npu_encoder_identity (self);
  if (identity)
    gst_caps_set_simple (caps, "encoder", G_TYPE_STRING, identity, NULL);
  g_free (identity);
  GstEvent *event = gst_event_new_caps (caps);

  gst_caps_unref (caps);
  return event;
}

static void
push_row_events (GstNpuEncoder * self, TeSchedOutput * o, guint * next, guint upto)
{
  if (o->markers == NULL)
    return;
  for (; *next < o->markers->len; (*next)++) {
    TeSchedMarker *m = &g_array_index (o->markers, TeSchedMarker, *next);
    if (m->pos > upto)
      break;
    GST_LOG_OBJECT (self, "pushing %s after %u chunks of batch %" G_GUINT64_FORMAT,
        GST_EVENT_TYPE_NAME (m->marker), m->pos, o->number);
    gst_pad_push_event (self->srcpad, m->marker);
    m->marker = NULL;
  }
}

/* Post-processing: one output buffer per chunk, padding removed, metadata copied. */
static GstFlowReturn
gst_npu_encoder_push_batch (GstNpuEncoder * self, TeSchedOutput * o)
{
  TeBatch *tb = o->batch;
  int h = tb->hidden_size, seq = tb->seq_len;
  GstFlowReturn ret = GST_FLOW_OK;
  guint next_event = 0, pushed = 0, n_rows = (guint) tb->batch;
  guint64 tokens = 0, docs = 0;

  for (guint i = 0; i < n_rows && ret == GST_FLOW_OK; i++) {
    GstBuffer *in = o->rows[i];
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (in);
    const gchar *doc = m && m->doc_id ? m->doc_id : "";
    int n = tb->lengths[i];
    gsize bytes = (gsize) n * h * sizeof (float);
    GstBuffer *out;

    push_row_events (self, o, &next_event, i);
    out = gst_buffer_new_allocate (NULL, bytes, NULL);
    gst_buffer_fill (out, 0, tb->hidden + (gsize) i * seq * h, bytes);
    gst_buffer_copy_into (out, in, GST_BUFFER_COPY_TIMESTAMPS | GST_BUFFER_COPY_FLAGS, 0, -1);
    GST_BUFFER_OFFSET (out) = GST_BUFFER_OFFSET (in);
    GST_BUFFER_OFFSET_END (out) = GST_BUFFER_OFFSET_END (in);
    gst_text_chunk_meta_copy_all (out, in);
    if (self->last_doc == NULL || strcmp (self->last_doc, doc) != 0) {
      g_free (self->last_doc);
      self->last_doc = g_strdup (doc);
      docs++;
    }
    tokens += n;
    pushed++;
    ret = gst_pad_push (self->srcpad, out);
  }
  if (ret == GST_FLOW_OK)
    push_row_events (self, o, &next_event, G_MAXUINT);

  GST_DEBUG_OBJECT (self, "batch %" G_GUINT64_FORMAT " (%s: %u chunks, %" G_GUINT64_FORMAT
      " tokens, padded to %d) pushed (%u chunks): %s; its first chunk waited %.1f ms for the "
      "batch, %.1f ms for the backend, computed in %.1f ms", o->number, o->why, n_rows,
      o->n_tokens, seq, pushed, gst_flow_get_name (ret), (o->t_formed - o->t_first) / 1000.0,
      (o->t_submitted - o->t_formed) / 1000.0, (o->t_done - o->t_submitted) / 1000.0);

  g_mutex_lock (&self->lock);
  self->st_documents += docs;
  self->st_chunks += pushed;
  self->st_tokens += tokens;
  if (ret == GST_FLOW_OK)
    self->st_batches++;
  g_mutex_unlock (&self->lock);
  return ret;
}

static void
gst_npu_encoder_src_loop (gpointer data)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (data);
  GstFlowReturn ret = GST_FLOW_OK;
  gboolean posted_error = FALSE;
  TeSchedOutput *o = NULL;
  TeScheduler *sched;

  g_mutex_lock (&self->lock);
  sched = self->sched;
  ret = state_ret_locked (self);
  g_mutex_unlock (&self->lock);
  /* the scheduler lives from start to stop, and stop runs with this task stopped */
  if (ret != GST_FLOW_OK || sched == NULL
      || te_scheduler_pop (sched, &o, TRUE) != TE_SCHED_OK) {
    GST_DEBUG_OBJECT (self, "pausing task (%s)", gst_flow_get_name (ret != GST_FLOW_OK ? ret
            : GST_FLOW_FLUSHING));
    gst_pad_pause_task (self->srcpad);
    return;
  }

  if (o->marker && gst_event_has_name (o->marker, DRAIN_POINT)) {
    g_mutex_lock (&self->lock);
    self->drain_done++;
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
  } else if (o->marker) {
    GstEvent *event = o->marker;
    gboolean is_eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS, ok;
    GstMessage *stats = NULL;

    o->marker = NULL;
    if (is_eos) {
      GST_INFO_OBJECT (self, "all chunks pushed, forwarding EOS");
      g_mutex_lock (&self->lock);
      if (get_stats_interval_us (self) > 0)
        stats = stats_message_locked (self, TRUE, g_get_monotonic_time ());
      self->stats_active = FALSE;
      g_mutex_unlock (&self->lock);
      if (stats)
        gst_element_post_message (GST_ELEMENT (self), stats);
    }
    ok = gst_pad_push_event (self->srcpad, event);
    if (is_eos) {
      g_mutex_lock (&self->lock);
      self->eos_result = ok;
      self->eos_pending = FALSE;
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
    }
  } else if (o->error) {
    gchar *which = describe_chunks ((GstBuffer **) o->rows, (guint) o->batch->batch);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Encoder backend \"%s\" failed on chunks %s: %s",
            te_backend_name (self->backend), which, o->error->message),
        ("batch %" G_GUINT64_FORMAT " of %d chunks, %d x %d tokens", o->number,
            o->batch->batch, o->batch->batch, o->batch->seq_len));
    g_free (which);
    posted_error = TRUE;
    ret = GST_FLOW_ERROR;
  } else {
    ret = gst_npu_encoder_push_batch (self, o);
  }
  te_sched_output_free (sched, o);

  if (ret != GST_FLOW_OK) {
    GST_DEBUG_OBJECT (self, "pausing task: %s", gst_flow_get_name (ret));
    g_mutex_lock (&self->lock);
    gst_npu_encoder_fail_locked (self, ret);
    g_mutex_unlock (&self->lock);
    /* wakes a chain waiting for a slot: nothing more goes downstream until a flush */
    te_scheduler_set_flushing (sched, TRUE);
    if (!posted_error && (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS))
      GST_ELEMENT_FLOW_ERROR (self, ret);
    gst_pad_pause_task (self->srcpad);
  }
}

/* ---- sink pad ---- */

/* Every id inside the embedding tables: the backend would otherwise read out of bounds (or
 * fail the whole batch); checked here so the error names exactly the chunk. */
static gboolean
gst_npu_encoder_check_ids (GstNpuEncoder * self, GstBuffer * buf, GstTextChunkMeta * m)
{
  const TeBertConfig *c = te_model_config (self->model);
  GstMapInfo map;
  gboolean ok = TRUE;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a token buffer"), (NULL));
    return FALSE;
  }
  guint n = map.size / 8;
  const gint32 *ids = (const gint32 *) map.data, *types = ids + n;
  for (guint i = 0; i < n && ok; i++) {
    if (ids[i] < 0 || ids[i] >= c->vocab_size) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Chunk \"%s\"#%" G_GUINT64_FORMAT " has token id %d at position %u, outside the "
              "vocabulary (0..%d)", m ? m->doc_id : "?", m ? m->index : 0, ids[i], i,
              c->vocab_size - 1), ("give texttokenizer and npuencoder the same model"));
      ok = FALSE;
    } else if (types[i] < 0 || types[i] >= c->type_vocab_size) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Chunk \"%s\"#%" G_GUINT64_FORMAT " has token type id %d at position %u, outside "
              "0..%d", m ? m->doc_id : "?", m ? m->index : 0, types[i], i,
              c->type_vocab_size - 1), (NULL));
      ok = FALSE;
    }
  }
  gst_buffer_unmap (buf, &map);
  return ok;
}

static GstFlowReturn
gst_npu_encoder_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);
  gsize size = gst_buffer_get_size (buf);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (buf);
  GstFlowReturn ret;

  if (size == 0 || size % 8 != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Malformed token buffer of %" G_GSIZE_FORMAT " bytes (expected 8 bytes per token: "
            "int32 id + int32 type id); link npuencoder after texttokenizer", size), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  guint n = size / 8;
  if (n > G_MAXINT || te_backend_caps_seq_len (&self->caps, (int) n) < 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Chunk %" G_GUINT64_FORMAT " of \"%s\" has %u tokens; backend \"%s\" accepts at most "
            "%d. Lower textchunker's max-tokens.", m ? m->index : 0, m ? m->doc_id : "?", n,
            te_backend_name (self->backend), self->caps.max_seq_len), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  if (!gst_npu_encoder_check_ids (self, buf, m)) {
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  if (!self->live_checked) {
    /* max-latency=-1 follows upstream's liveness (not under our lock: the query goes up) */
    GstQuery *q = gst_query_new_latency ();
    gboolean live = FALSE;
    if (gst_pad_peer_query (self->sinkpad, q))
      gst_query_parse_latency (q, &live, NULL, NULL);
    gst_query_unref (q);
    GST_OBJECT_LOCK (self);
    self->upstream_live = live;
    GST_OBJECT_UNLOCK (self);
    self->live_checked = TRUE;
    GST_INFO_OBJECT (self, "upstream is %s", live ? "live" : "not live");
    gst_npu_encoder_update_timers (self);       /* max-latency -1 follows liveness */
  }

  g_mutex_lock (&self->lock);
  ret = state_ret_locked (self);
  if (ret != GST_FLOW_OK) {
    g_mutex_unlock (&self->lock);
    GST_DEBUG_OBJECT (self, "refusing chunk: %s", gst_flow_get_name (ret));
    gst_buffer_unref (buf);
    return ret;
  }
  gint64 now = g_get_monotonic_time ();
  if (!self->stats_active) {
    self->stats_active = TRUE;
    if (self->st_first == 0)
      self->st_first = now;
    self->st_last_time = now;
    self->st_last_tokens = self->st_tokens;
  }
  TeScheduler *sched = self->sched;
  g_mutex_unlock (&self->lock);
  GST_LOG_OBJECT (self, "chunk %" G_GUINT64_FORMAT " of \"%s\", %u tokens", m ? m->index : 0,
      m ? m->doc_id : "", n);

  /* The scheduler copies the ids and owns the buffer from here (its metadata goes out with the
   * embedding); it blocks while max-inflight batches are out: backpressure. */
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a token buffer"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  gst_buffer_ref (buf);         /* for the unmap: the scheduler may drop its reference */
  TeSchedResult r = te_scheduler_push_row (sched, (const gint32 *) map.data,
      (const gint32 *) map.data + n, (int) n, buf, TRUE);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  if (r == TE_SCHED_OK)
    return GST_FLOW_OK;
  /* flushing, or stopped after a downstream or backend failure: the chunk went with the rest */
  g_mutex_lock (&self->lock);
  ret = state_ret_locked (self);
  g_mutex_unlock (&self->lock);
  return ret != GST_FLOW_OK ? ret : GST_FLOW_FLUSHING;
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

/* Close the pending batch (waiting for a slot) and wait until everything before this call has
 * gone downstream: a drain-point marker the src task consumes. FALSE when interrupted by
 * flushing or a failure. */
static gboolean
gst_npu_encoder_drain (GstNpuEncoder * self)
{
  TeScheduler *sched;
  guint64 ticket;
  gboolean ok;

  g_mutex_lock (&self->lock);
  sched = self->sched;
  ticket = ++self->drain_asked;
  ok = !self->flushing && self->srcresult == GST_FLOW_OK;
  g_mutex_unlock (&self->lock);
  if (!ok || te_scheduler_drain (sched, TRUE) != TE_SCHED_OK
      || te_scheduler_push_marker (sched, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              gst_structure_new_empty (DRAIN_POINT))) != TE_SCHED_OK)
    return FALSE;
  g_mutex_lock (&self->lock);
  while (self->drain_done < ticket && !self->flushing && self->srcresult == GST_FLOW_OK)
    g_cond_wait (&self->cond, &self->lock);
  ok = self->drain_done >= ticket;
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
gst_npu_encoder_handle_eos (GstNpuEncoder * self, GstEvent * event)
{
  GstFlowReturn fr;
  TeScheduler *sched;
  gboolean ok;

  g_mutex_lock (&self->lock);
  if (self->flushing)
    goto drop;
  sched = self->sched;
  if (self->srcresult == GST_FLOW_OK) {
    self->eos_pending = TRUE;
    self->eos_result = FALSE;
    g_mutex_unlock (&self->lock);
    /* close the partial batch (waiting for a slot), then EOS after every output: the handler
     * returns once it has gone downstream */
    if (te_scheduler_drain (sched, TRUE) == TE_SCHED_OK)
      te_scheduler_push_marker (sched, gst_event_ref (event));
    g_mutex_lock (&self->lock);
    GST_DEBUG_OBJECT (self, "EOS: draining");
    while (self->eos_pending && !self->flushing && self->srcresult == GST_FLOW_OK)
      g_cond_wait (&self->cond, &self->lock);
    if (!self->eos_pending) {
      ok = self->eos_result;
      g_mutex_unlock (&self->lock);
      gst_event_unref (event);
      return ok;
    }
    self->eos_pending = FALSE;
    if (self->flushing)
      goto drop;
  }
  /* the src task stopped on a failure: still let downstream finish on a fatal one (the
   * task no longer pushes anything) */
  fr = self->srcresult;
  g_mutex_unlock (&self->lock);
  if (fr == GST_FLOW_NOT_LINKED || fr < GST_FLOW_EOS) {
    GST_DEBUG_OBJECT (self, "forwarding EOS after %s", gst_flow_get_name (fr));
    return gst_pad_push_event (self->srcpad, event);
  }
  gst_event_unref (event);
  return FALSE;

drop:
  g_mutex_unlock (&self->lock);
  gst_event_unref (event);
  return FALSE;
}

/* After a flush, sticky events dropped before reaching the src pad must still precede the new
 * data: stream-start and our caps are not sent again by upstream. */
static void
gst_npu_encoder_requeue_sticky (GstNpuEncoder * self)
{
  GstEvent *in = gst_pad_get_sticky_event (self->sinkpad, GST_EVENT_STREAM_START, 0);
  GstEvent *out = gst_pad_get_sticky_event (self->srcpad, GST_EVENT_STREAM_START, 0);
  gboolean caps_in = gst_pad_has_current_caps (self->sinkpad);
  gboolean caps_out = gst_pad_has_current_caps (self->srcpad);

  if (in) {
    const gchar *a = NULL, *b = NULL;
    gst_event_parse_stream_start (in, &a);
    if (out)
      gst_event_parse_stream_start (out, &b);
    if (out == NULL || g_strcmp0 (a, b) != 0) {
      te_scheduler_push_marker (self->sched, in);
      in = NULL;
    }
  }
  g_mutex_lock (&self->lock);
  self->caps_queued = caps_out || caps_in;
  g_mutex_unlock (&self->lock);
  if (caps_in && !caps_out)
    te_scheduler_push_marker (self->sched, gst_npu_encoder_caps_event (self));
  if (in)
    gst_event_unref (in);
  if (out)
    gst_event_unref (out);
}

static gboolean
gst_npu_encoder_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);
  gboolean ret;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      /* unblock the chain (slot wait), the EOS/drain waiters and the src task */
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->cond);
      if (self->sched)
        te_scheduler_set_flushing (self->sched, TRUE);
      g_mutex_unlock (&self->lock);
      ret = gst_pad_push_event (self->srcpad, event);
      gst_pad_pause_task (self->srcpad);
      GST_DEBUG_OBJECT (self, "flush started");
      return ret;
    case GST_EVENT_FLUSH_STOP:
      self->live_checked = FALSE;
      ret = gst_pad_push_event (self->srcpad, event);
      g_mutex_lock (&self->lock);
      self->flushing = FALSE;
      self->srcresult = GST_FLOW_OK;
      if (self->sched) {
        te_scheduler_set_flushing (self->sched, TRUE);    /* whatever came in meanwhile */
        te_scheduler_set_flushing (self->sched, FALSE);
      }
      g_mutex_unlock (&self->lock);
      gst_npu_encoder_requeue_sticky (self);
      gst_pad_start_task (self->srcpad, gst_npu_encoder_src_loop, self, NULL);
      GST_DEBUG_OBJECT (self, "flush stopped");
      return ret;
    case GST_EVENT_EOS:
      return gst_npu_encoder_handle_eos (self, event);
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gboolean queue_caps;

      gst_event_parse_caps (event, &caps);
      ret = gst_npu_encoder_check_caps (self, caps);
      gst_event_unref (event);
      if (!ret)
        return FALSE;
      /* our caps depend only on the model: send them once, in order with the stream */
      g_mutex_lock (&self->lock);
      queue_caps = !self->caps_queued;
      self->caps_queued = TRUE;
      g_mutex_unlock (&self->lock);
      if (!queue_caps)
        return TRUE;
      event = gst_npu_encoder_caps_event (self);
      break;
    }
    default:
      break;
  }

  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_event_default (pad, parent, event);

  /* Serialized events keep their place among the chunks without closing the batch being
   * formed: they travel with it and go out between its outputs where they came. */
  g_mutex_lock (&self->lock);
  if (self->flushing || self->srcresult != GST_FLOW_OK) {
    GST_DEBUG_OBJECT (self, "dropping %s (%s)", GST_EVENT_TYPE_NAME (event),
        gst_flow_get_name (state_ret_locked (self)));
    g_mutex_unlock (&self->lock);
    gst_event_unref (event);
    return FALSE;
  }
  TeScheduler *sched = self->sched;
  g_mutex_unlock (&self->lock);
  /* with the pending batch when it has chunks (between its outputs where it came), else on
   * its own */
  return te_scheduler_push_marker (sched, event) == TE_SCHED_OK;
}

static gboolean
gst_npu_encoder_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_ALLOCATION:
      /* our output buffers are not upstream's: nothing to share downstream */
      return FALSE;
    case GST_QUERY_CUSTOM:{
      const GstStructure *qs = gst_query_get_structure (query);
      if (qs && gst_structure_has_name (qs, GST_TEXT_EMBED_ENCODER_LIMITS)) {
        /* texttokenizer's late-chunking windows: the longest sequence the backend takes (for a
         * static-shape backend its largest bucket, TeBackendCaps.max_seq_len) */
        g_mutex_lock (&self->identity_lock);
        gint max = self->id_backend ? self->caps.max_seq_len : 0;
        g_mutex_unlock (&self->identity_lock);
        if (max <= 0)
          return FALSE;
        gst_structure_set (gst_query_writable_structure (query), "max-length", G_TYPE_INT, max,
            NULL);
        return TRUE;
      }
      /* a store asks whether a document is current: our part of the identity */
      GstStructure *s = gst_text_embed_query_get_document_status (query);
      gchar *identity = s ? gst_npu_encoder_identity (self) : NULL;
      if (identity)
        gst_structure_set (s, "encoder", G_TYPE_STRING, identity, NULL);
      g_free (identity);
      break;
    }
    default:
      break;
  }
  if (GST_QUERY_IS_SERIALIZED (query)) {
    /* e.g. DRAIN: answer after everything before it has gone out */
    if (!gst_npu_encoder_drain (self))
      return FALSE;
  }
  return gst_pad_query_default (pad, parent, query);
}

static gboolean
gst_npu_encoder_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstNpuEncoder *self = GST_NPU_ENCODER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime min, max, ours;

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      /* a chunk waits up to max-latency for its batch, then one batch's time in the backend
       * (its hint, then measured) */
      ours = (GstClockTime) get_max_latency_us (self) * GST_USECOND;
      GST_OBJECT_LOCK (self);
      ours += self->backend_latency;
      GST_OBJECT_UNLOCK (self);
      GST_DEBUG_OBJECT (self, "upstream latency min %" GST_TIME_FORMAT " max %"
          GST_TIME_FORMAT ", ours %" GST_TIME_FORMAT, GST_TIME_ARGS (min), GST_TIME_ARGS (max),
          GST_TIME_ARGS (ours));
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += ours;
      gst_query_set_latency (query, live, min, max);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}
