/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-null.c — the "null" instrumentation backend: an idealised accelerator that takes a
 * fixed time per batch and returns zero vectors of the model's width. It completes on its own
 * thread, accepts any batch and any sequence length up to the model's maximum
 * (dynamic shapes) and never reads the weights, so it measures everything around the encoder:
 * scheduling, batching, backpressure, pre- and post-processing.
 *
 * Options (key=value):
 *   latency-ms=T   time the "device" spends on each batch, in milliseconds (fractions allowed;
 *                  default 0). Batches run one after another, as on one NPU: a batch starts when
 *                  it has been submitted and the previous one has finished, and completes T ms
 *                  later, so the backend-bound rate is exactly one batch per T ms.
 *   fail-after=N   test option: the first N batches succeed, every later one completes with a
 *                  TE_ERROR_BACKEND error (exercises the callers' error path).
 *
 * close() does not wait out the latency of batches still queued: it completes each of them at
 * once with a TE_ERROR_BACKEND "cancelled" error (their callbacks are still called exactly once,
 * before close() returns).
 *
 * The backend works with a tokenizer-only model (only config.json is used). When the model has
 * its weights, open() reads one value per page of them: fp32 weights are views of the mapped
 * file and would otherwise never become resident, so memory measured with this backend would
 * leave out the model that every real backend holds. */
#include "te-backend.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  TeBatch *batch;
  TeBackendDoneFunc done;
  gpointer user_data;
  gint64 submitted;             /* monotonic µs */
  guint64 index;                /* 0-based submission number */
} NullJob;

typedef struct {
  int hidden_size;
  int max_seq_len;
  gint64 latency_us;
  gint64 fail_after;            /* -1: never */

  GMutex lock;
  GCond cond;
  GQueue jobs;                  /* NullJob*, in submission order */
  gboolean closing;
  guint64 n_submitted;
  gint64 busy_until;            /* monotonic µs at which the device finished its last batch */
  GThread *thread;
} TeNullBackend;

static const TeBackendOption null_options[] = {
  {"latency-ms", TE_OPTION_DOUBLE, NULL, 0, 3600.0 * 1000.0, "0",
      "milliseconds the \"device\" spends on each batch; batches run one after another"},
  {"fail-after", TE_OPTION_INT, NULL, 0, (double) G_MAXINT32, "never",
      "test option: every batch after the first N completes with an error"},
  {NULL}
};

/* The device: runs queued jobs one at a time, each for latency_us. */
static gpointer
null_thread (gpointer data)
{
  TeNullBackend *nb = data;

  g_mutex_lock (&nb->lock);
  for (;;) {
    NullJob *job;
    gint64 end;
    GError *err = NULL;

    while (g_queue_is_empty (&nb->jobs) && !nb->closing)
      g_cond_wait (&nb->cond, &nb->lock);
    job = g_queue_peek_head (&nb->jobs);
    if (job == NULL)
      break;                    /* closing and nothing left */

    end = MAX (job->submitted, nb->busy_until) + nb->latency_us;
    while (!nb->closing && g_get_monotonic_time () < end)
      g_cond_wait_until (&nb->cond, &nb->lock, end);
    g_queue_pop_head (&nb->jobs);

    if (nb->closing) {
      g_set_error (&err, TE_ERROR, TE_ERROR_BACKEND,
          "null backend: batch %" G_GUINT64_FORMAT " cancelled (backend closed)", job->index);
    } else {
      nb->busy_until = end;
      if (nb->fail_after >= 0 && job->index >= (guint64) nb->fail_after)
        g_set_error (&err, TE_ERROR, TE_ERROR_BACKEND,
            "null backend: batch %" G_GUINT64_FORMAT " failed (test option fail-after=%"
            G_GINT64_FORMAT ")", job->index + 1, nb->fail_after);
    }
    g_mutex_unlock (&nb->lock);

    if (err == NULL) {
      TeBatch *b = job->batch;
      memset (b->hidden, 0, (gsize) b->batch * b->seq_len * b->hidden_size * sizeof (float));
    }
    job->done (job->batch, err, job->user_data);
    g_clear_error (&err);
    g_free (job);

    g_mutex_lock (&nb->lock);
  }
  g_mutex_unlock (&nb->lock);
  return NULL;
}

/* Read one value per page of @n floats. */
static float
touch_floats (const float *p, gsize n)
{
  float sum = 0.0f;

  if (p == NULL || n == 0)
    return 0.0f;
  for (gsize i = 0; i < n; i += 4096 / sizeof (float))
    sum += p[i];
  return sum + p[n - 1];
}

/* Weights that are straight views of the mapped safetensors file are resident only once read.
 * A real backend reads them all; fault them in once, so that memory measured with the null
 * backend (peak RSS) includes the model as it would with any other backend. */
static void
null_touch_weights (const TeModel * model)
{
  const TeBertWeights *w = te_model_weights (model);
  const TeBertConfig *c = te_model_config (model);
  gsize h = c->hidden_size, inter = c->intermediate_size;
  volatile float sink;
  float sum;

  if (w == NULL)
    return;
  sum = touch_floats (w->word_emb, (gsize) c->vocab_size * h)
      + touch_floats (w->pos_emb, (gsize) c->max_position_embeddings * h)
      + touch_floats (w->type_emb, (gsize) c->type_vocab_size * h)
      + touch_floats (w->emb_ln_g, h) + touch_floats (w->emb_ln_b, h);
  for (int i = 0; i < c->num_layers; i++) {
    const TeBertLayer *L = &w->layers[i];
    sum += touch_floats (L->qkv_w, 3 * h * h) + touch_floats (L->qkv_b, 3 * h)
        + touch_floats (L->ao_w, h * h) + touch_floats (L->ao_b, h)
        + touch_floats (L->ln1_g, h) + touch_floats (L->ln1_b, h)
        + touch_floats (L->i_w, inter * h) + touch_floats (L->i_b, inter)
        + touch_floats (L->o_w, h * inter) + touch_floats (L->o_b, h)
        + touch_floats (L->ln2_g, h) + touch_floats (L->ln2_b, h);
  }
  sink = sum;
  (void) sink;
}

static gpointer
null_open (const TeModel * model, GHashTable * options, G_GNUC_UNUSED GError ** error)
{
  TeNullBackend *nb = g_new0 (TeNullBackend, 1);

  /* Only the config is needed: a tokenizer-only model (no weights) is enough. */
  nb->hidden_size = te_model_config (model)->hidden_size;
  nb->max_seq_len = te_model_config (model)->max_seq_len;
  nb->latency_us = (gint64) (te_backend_option_double (options, "latency-ms", 0) * 1000.0 + 0.5);
  nb->fail_after = te_backend_option_int (options, "fail-after", -1);
  null_touch_weights (model);
  g_mutex_init (&nb->lock);
  g_cond_init (&nb->cond);
  g_queue_init (&nb->jobs);
  nb->thread = g_thread_new ("te-null-backend", null_thread, nb);
  return nb;
}

static void
null_get_caps (gpointer state, TeBackendCaps * caps)
{
  TeNullBackend *nb = state;

  caps->max_batch = 0;
  caps->max_seq_len = nb->max_seq_len;
  caps->n_buckets = 0;
  caps->latency_ms = nb->latency_us / 1000.0;
}

static gboolean
null_submit (gpointer state, TeBatch * batch, TeBackendDoneFunc done, gpointer user_data,
    GError ** error)
{
  TeNullBackend *nb = state;
  NullJob *job;

  if (batch->hidden_size != nb->hidden_size) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "null backend: batch hidden size %d, model's %d", batch->hidden_size, nb->hidden_size);
    return FALSE;
  }
  if (batch->seq_len > nb->max_seq_len) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "null backend: sequence length %d exceeds the model's %d", batch->seq_len,
        nb->max_seq_len);
    return FALSE;
  }

  job = g_new0 (NullJob, 1);
  job->batch = batch;
  job->done = done;
  job->user_data = user_data;
  job->submitted = g_get_monotonic_time ();

  g_mutex_lock (&nb->lock);
  job->index = nb->n_submitted++;
  g_queue_push_tail (&nb->jobs, job);
  g_cond_signal (&nb->cond);
  g_mutex_unlock (&nb->lock);
  return TRUE;
}

static void
null_close (gpointer state)
{
  TeNullBackend *nb = state;

  g_mutex_lock (&nb->lock);
  nb->closing = TRUE;
  g_cond_signal (&nb->cond);
  g_mutex_unlock (&nb->lock);
  /* the thread completes (cancels) every queued job before it exits */
  g_thread_join (nb->thread);

  g_queue_clear (&nb->jobs);
  g_cond_clear (&nb->cond);
  g_mutex_clear (&nb->lock);
  g_free (nb);
}

static void
null_list_devices (GArray * devices)
{
  TeBackendDevice d = { 0 };

  g_strlcpy (d.name, "null", sizeof d.name);
  g_strlcpy (d.description, "instrumentation: a fixed time per batch, zero vectors",
      sizeof d.description);
  d.available = TRUE;
  g_strlcpy (d.dtypes, "fp32", sizeof d.dtypes);
  g_array_append_val (devices, d);
}

const TeBackendClass te_backend_null_class = {
  .name = "null",
  .description = "instrumentation: fixed latency per batch, zero vectors, asynchronous, "
      "dynamic shapes, no weights needed",
  .options = null_options,
  .list_devices = null_list_devices,
  .open = null_open,
  .get_caps = null_get_caps,
  .submit = null_submit,
  .close = null_close,
};
