/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-npuencoder.c — GstHarness tests of npuencoder: batching and padding do not change the
 * result, order is kept, EOS drains a partial batch, errors are clear; and the scheduling with
 * the asynchronous "null" backend: batch formation (batch-size, max-batch-tokens, max-latency),
 * backpressure (max-inflight), flush and state changes while blocked or in flight, backend
 * errors, event order, statistics messages, LATENCY. */
#include <math.h>
#include <string.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

/* GstHarness answers LATENCY queries as live by default, which would turn on npuencoder's
 * automatic max-latency (-1: 100 ms when live); these tests are about offline batching unless
 * they say otherwise, so their harnesses report themselves not live. */
static GstHarness *
offline (GstHarness * h)
{
  gst_harness_set_live (h, FALSE);
  return h;
}

#define test_harness_new(...) offline (test_harness_new (__VA_ARGS__))

/* A token buffer for "[CLS] w w ... [SEP]" of @n tokens, distinct per @seed, chunk @index of
 * document @doc. */
static GstBuffer *
doc_token_buffer (const gchar * doc, guint n, guint seed, guint64 index)
{
  gint32 *data = g_new0 (gint32, 2 * n);
  data[0] = 101;
  for (guint i = 1; i + 1 < n; i++)
    data[i] = 2000 + (seed * 37 + i * 11) % 5000;
  data[n - 1] = 102;
  GstBuffer *b = gst_buffer_new_wrapped (data, 2 * n * sizeof (gint32));
  gst_buffer_add_text_chunk_meta (b, doc, index, index * 10, index * 10 + 10, "x", 1, n);
  return b;
}

static GstBuffer *
token_buffer (guint n, guint seed, guint64 index)
{
  return doc_token_buffer ("doc", n, seed, index);
}

static GstHarness *
encoder_harness (guint batch)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "batch-size", batch, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  return h;
}

static const guint lengths[] = { 5, 40, 3, 17, 128, 9, 64 };

static float **
encode_all (guint batch)
{
  GstHarness *h = encoder_harness (batch);
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    fail_unless_equals_int (gst_harness_push (h, token_buffer (lengths[i], i, i)), GST_FLOW_OK);
  /* a partial batch is held back until EOS */
  if (batch > 1)
    fail_unless (gst_harness_buffers_received (h) < G_N_ELEMENTS (lengths));
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), G_N_ELEMENTS (lengths));

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint hidden;
  fail_unless (gst_structure_get_int (gst_caps_get_structure (caps, 0), "hidden-size",
          &hidden));
  fail_unless_equals_int (hidden, 384);
  gst_caps_unref (caps);

  float **out = g_new0 (float *, G_N_ELEMENTS (lengths));
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless_equals_uint64 (m->index, i);    /* order kept */
    fail_unless_equals_int (gst_buffer_get_size (b), lengths[i] * 384 * sizeof (float));
    out[i] = g_malloc (gst_buffer_get_size (b));
    gst_buffer_extract (b, 0, out[i], gst_buffer_get_size (b));
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
  return out;
}

/* Padding to the longest row of a batch must not change any real token's output. */
GST_START_TEST (test_batching_is_transparent)
{
  float **one = encode_all (1);
  float **four = encode_all (4);
  float **big = encode_all (16);
  double worst = 0;
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    for (guint j = 0; j < lengths[i] * 384; j++) {
      fail_unless (isfinite (one[i][j]));
      worst = MAX (worst, fabs (one[i][j] - four[i][j]));
      worst = MAX (worst, fabs (one[i][j] - big[i][j]));
    }
    g_free (one[i]);
    g_free (four[i]);
    g_free (big[i]);
  }
  GST_INFO ("largest difference batch 1 vs 4/16: %g", worst);
  fail_unless (worst < 1e-4, "batched output differs by %g", worst);
  g_free (one);
  g_free (four);
  g_free (big);
}
GST_END_TEST;

GST_START_TEST (test_unknown_backend)
{
  GstElement *e = gst_element_factory_make ("npuencoder", NULL);
  g_object_set (e, "backend", "warp-drive", NULL);
  gst_util_set_object_arg (G_OBJECT (e), "fallback", "none");
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg && strstr (msg, "warp-drive"), "%s", msg);
  g_free (msg);
  gst_object_unref (e);
}
GST_END_TEST;

/* fallback=cpu (default): a backend that cannot be opened warns on the bus and the stream
 * continues on the cpu backend, with the cpu backend's results. */
GST_START_TEST (test_fallback_to_cpu)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "backend", "warp-drive",
      "backend-options", "device=NPU", "batch-size", 1, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "warp-drive") && strstr (msg, "cpu backend"), "%s", msg);
  g_free (msg);
  fail_unless_equals_int (gst_harness_push (h, token_buffer (6, 0, 0)), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (b), 6 * 384 * sizeof (float));
  float v;
  gst_buffer_extract (b, 0, &v, sizeof v);
  fail_unless (v != 0.0f && isfinite (v));      /* real encoder output, not zeros */
  gst_buffer_unref (b);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_backend_options)
{
  GstElement *e = gst_element_factory_make ("npuencoder", NULL);
  g_object_set (e, "backend-options", "novalue", NULL);
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg && strstr (msg, "novalue"), "%s", msg);
  g_free (msg);
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_vocab_mismatch)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens, tokenizer=0123abcd");
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "different vocabulary"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_malformed_and_too_long)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "batch-size", 1, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_allocate (NULL, 7, NULL)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "Malformed"), "%s", msg);
  g_free (msg);
  fail_unless_equals_int (gst_harness_push (h, token_buffer (600, 1, 0)), GST_FLOW_ERROR);
  msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "600 tokens"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Token ids outside the vocabulary are rejected by the encoder, not read out of bounds. */
GST_START_TEST (test_out_of_vocab_id)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "batch-size", 1, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  GstBuffer *b = token_buffer (4, 0, 0);
  gint32 bad = 999999;
  gst_buffer_fill (b, 4, &bad, 4);
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "\"doc\"#0"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Flushing drops a pending partial batch. */
GST_START_TEST (test_flush_drops_pending)
{
  GstHarness *h = encoder_harness (4);
  fail_unless_equals_int (gst_harness_push (h, token_buffer (5, 0, 0)), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_flush_start ());
  gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---- scheduling with the asynchronous null backend ---- */

/* Records the order of what reaches the harness's sink pad: B buffer, T stream-start, C caps,
 * S segment, X custom, G gap, E EOS. */
typedef struct
{
  GMutex lock;
  GString *seq;
} Recorder;

static GstPadProbeReturn
record_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Recorder *r = data;
  char c = 0;

  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER) {
    c = 'B';
  } else if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    switch (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info))) {
      case GST_EVENT_STREAM_START:
        c = 'T';
        break;
      case GST_EVENT_CAPS:
        c = 'C';
        break;
      case GST_EVENT_SEGMENT:
        c = 'S';
        break;
      case GST_EVENT_CUSTOM_DOWNSTREAM:
        c = 'X';
        break;
      case GST_EVENT_GAP:
        c = 'G';
        break;
      case GST_EVENT_EOS:
        c = 'E';
        break;
      default:
        break;
    }
  }
  if (c) {
    g_mutex_lock (&r->lock);
    g_string_append_c (r->seq, c);
    g_mutex_unlock (&r->lock);
  }
  return GST_PAD_PROBE_OK;
}

static gchar *
recorder_take (Recorder * r)
{
  g_mutex_lock (&r->lock);
  gchar *s = g_strdup (r->seq->str);
  g_mutex_unlock (&r->lock);
  return s;
}

/* Pushes @n chunks from its own thread, counting the pushes that returned. */
typedef struct
{
  GstHarness *h;
  guint n, len;
  guint64 first_index;
  gint returned;                /* atomic */
  gint done;                    /* atomic */
  GstFlowReturn last;
} Pusher;

static gpointer
pusher_thread (gpointer data)
{
  Pusher *p = data;

  p->last = GST_FLOW_OK;
  for (guint i = 0; i < p->n; i++) {
    GstFlowReturn ret = gst_harness_push (p->h, token_buffer (p->len, i, p->first_index + i));
    g_atomic_int_inc (&p->returned);
    if (ret != GST_FLOW_OK) {
      p->last = ret;
      break;
    }
  }
  g_atomic_int_set (&p->done, 1);
  return NULL;
}

static double
ms_since (gint64 t0)
{
  return (g_get_monotonic_time () - t0) / 1000.0;
}

/* The npuencoder-stats message with eos=TRUE (NULL if none); the number of periodic ones and
 * whether one of them showed @depth chunks waiting go to @n_periodic / @saw_depth. */
static GstStructure *
pop_stats (GstBus * bus, guint * n_periodic, guint depth, gboolean * saw_depth)
{
  GstStructure *eos = NULL;
  GstMessage *msg;

  *n_periodic = 0;
  if (saw_depth)
    *saw_depth = FALSE;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL) {
    const GstStructure *s = gst_message_get_structure (msg);
    gboolean is_eos = FALSE;
    guint d = 0;
    if (gst_structure_has_name (s, "npuencoder-stats")) {
      fail_unless (gst_structure_get_boolean (s, "eos", &is_eos));
      fail_unless (gst_structure_get_uint (s, "queue-depth", &d));
      if (is_eos) {
        fail_unless (eos == NULL, "two stats messages at EOS");
        eos = gst_structure_copy (s);
      } else {
        (*n_periodic)++;
        if (saw_depth && d == depth)
          *saw_depth = TRUE;
      }
    }
    gst_message_unref (msg);
  }
  return eos;
}

static guint64
stats_u64 (const GstStructure * s, const gchar * field)
{
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no field %s", field);
  return v;
}

/* Order is kept with the asynchronous backend and chunks of mixed lengths; outputs are zero
 * vectors of the model's width, one per real token. */
GST_START_TEST (test_null_order_mixed_lengths)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "backend", "null", "backend-options", "latency-ms=3",
      "batch-size", 3, "max-inflight", 2, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  const guint n = 3 * G_N_ELEMENTS (lengths);
  for (guint i = 0; i < n; i++)
    fail_unless_equals_int (gst_harness_push (h, token_buffer (lengths[i % G_N_ELEMENTS
                    (lengths)], i, i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), n);
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    guint len = lengths[i % G_N_ELEMENTS (lengths)];
    fail_unless_equals_uint64 (m->index, i);
    fail_unless_equals_int (gst_buffer_get_size (b), len * 384 * sizeof (float));
    float *v = g_malloc (gst_buffer_get_size (b));
    gst_buffer_extract (b, 0, v, gst_buffer_get_size (b));
    for (guint j = 0; j < len * 384; j++)
      fail_unless (v[j] == 0.0f);
    g_free (v);
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-batch-tokens (padded tokens: chunks x longest) closes batches before batch-size does. */
GST_START_TEST (test_max_batch_tokens)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "backend", "null", "batch-size", 8,
      "max-batch-tokens", 64, "stats-interval", 600000, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  /* [32 32] = 64 full | [30 30] + 30 > 64 | [30] + 40 -> 80 | [40] + 10 -> 80 | [10 x6] + 10
   * -> 70 | [10] at EOS: 6 batches */
  static const guint lens[] = { 32, 32, 30, 30, 30, 40, 10, 10, 10, 10, 10, 10, 10 };
  guint64 tokens = 0;
  for (guint i = 0; i < G_N_ELEMENTS (lens); i++) {
    fail_unless_equals_int (gst_harness_push (h, token_buffer (lens[i], i, i)), GST_FLOW_OK);
    tokens += lens[i];
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), G_N_ELEMENTS (lens));
  guint n_periodic;
  GstStructure *s = pop_stats (bus, &n_periodic, 0, NULL);
  fail_unless (s != NULL);
  fail_unless_equals_uint64 (stats_u64 (s, "batches"), 6);
  fail_unless_equals_uint64 (stats_u64 (s, "chunks"), G_N_ELEMENTS (lens));
  fail_unless_equals_uint64 (stats_u64 (s, "tokens"), tokens);
  gst_structure_free (s);
  for (guint i = 0; i < G_N_ELEMENTS (lens); i++) {
    GstBuffer *b = gst_harness_pull (h);
    fail_unless_equals_uint64 (gst_buffer_get_text_chunk_meta (b)->index, i);
    gst_buffer_unref (b);
  }
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-latency reaches the scheduler: a partial batch goes without EOS when set, and with the
 * default (-1) when upstream is live. When exactly, and backpressure, are the scheduler's
 * (tests/core/test-scheduler.c, deterministic on a fake clock). */
GST_START_TEST (test_max_latency_partial_batch)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "backend", "null", "batch-size", 4,
      "max-latency", 100, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  fail_unless_equals_int (gst_harness_push (h, token_buffer (5, 0, 0)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, token_buffer (7, 1, 1)), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);  /* waits up to 60 s */
  fail_unless (b != NULL);
  fail_unless_equals_uint64 (gst_buffer_get_text_chunk_meta (b)->index, 0);
  gst_buffer_unref (b);
  b = gst_harness_pull (h);
  fail_unless_equals_uint64 (gst_buffer_get_text_chunk_meta (b)->index, 1);
  gst_buffer_unref (b);
  gst_harness_teardown (h);

  /* default max-latency (-1) with a live upstream: 100 ms */
  h = test_harness_new ("npuencoder", NULL, "backend", "null", "batch-size", 4, NULL);
  gst_harness_set_live (h, TRUE);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  fail_unless_equals_int (gst_harness_push (h, token_buffer (5, 0, 0)), GST_FLOW_OK);
  b = gst_harness_pull (h);
  fail_unless (b != NULL);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* FLUSH_START unblocks a chain waiting for a slot (no deadlock) and drops everything pending,
 * including the batch inside the backend; the stream goes on after FLUSH_STOP. */
GST_START_TEST (test_flush_while_blocked)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "backend", "null", "backend-options", "latency-ms=800",
      "batch-size", 2, "max-inflight", 1, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  Pusher p = { h, 4, 6, 0 };
  GThread *t = g_thread_new ("pusher", pusher_thread, &p);
  g_usleep (100 * 1000);
  fail_unless_equals_int (g_atomic_int_get (&p.returned), 3);       /* the 4th push blocks */

  gint64 t0 = g_get_monotonic_time ();
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_thread_join (t);
  fail_unless (ms_since (t0) < 400.0, "flush took %.1f ms", ms_since (t0));
  fail_unless_equals_int (p.last, GST_FLOW_FLUSHING);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));

  fail_unless_equals_int (gst_harness_push (h, token_buffer (9, 1, 100)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* only the chunk pushed after the flush */
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_uint64 (gst_buffer_get_text_chunk_meta (b)->index, 100);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* PAUSED->READY with batches inside the backend and the chain blocked: returns promptly,
 * unblocks the chain, leaks nothing (LeakSanitizer in build-asan). */
GST_START_TEST (test_stop_with_batches_in_flight)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "backend", "null", "backend-options", "latency-ms=2000",
      "batch-size", 2, "max-inflight", 2, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  Pusher p = { h, 6, 12, 0 };
  GThread *t = g_thread_new ("pusher", pusher_thread, &p);
  g_usleep (100 * 1000);
  /* two batches in flight, one chunk pending, the 6th push blocks */
  fail_unless_equals_int (g_atomic_int_get (&p.returned), 5);

  gint64 t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  g_thread_join (t);
  fail_unless (ms_since (t0) < 1000.0, "stopping took %.1f ms", ms_since (t0));
  fail_unless_equals_int (p.last, GST_FLOW_FLUSHING);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A failing batch is an element error naming its chunks; earlier batches are delivered, later
 * pushes fail, EOS still reaches downstream. */
GST_START_TEST (test_backend_error)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "backend", "null", "backend-options",
      "fail-after=1", "batch-size", 2, "stats-interval", 0, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  for (guint i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, token_buffer (6, i, i)), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "\"doc\"#2, \"doc\"#3") && strstr (msg, "null"), "%s", msg);
  g_free (msg);
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  GstEvent *ev;
  gboolean got_eos = FALSE;
  while ((ev = gst_harness_try_pull_event (h)) != NULL) {
    got_eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (got_eos);
  /* stats-interval=0: no statistics messages at all */
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (m == NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* EOS: every chunk is pushed, then EOS, before the EOS event handler returns. */
GST_START_TEST (test_eos_drains_all)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "backend", "null", "backend-options", "latency-ms=50",
      "batch-size", 4, "max-inflight", 2, NULL);
  Recorder r = { 0 };
  g_mutex_init (&r.lock);
  r.seq = g_string_new (NULL);
  gulong probe = gst_pad_add_probe (h->sinkpad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, record_probe, &r, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  for (guint i = 0; i < 10; i++)
    fail_unless_equals_int (gst_harness_push (h, token_buffer (4 + i, i, i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 10);
  gchar *seq = recorder_take (&r);
  fail_unless_equals_string (seq, "TCSBBBBBBBBBBE");
  g_free (seq);
  gst_pad_remove_probe (h->sinkpad, probe);
  gst_harness_teardown (h);
  g_string_free (r.seq, TRUE);
  g_mutex_clear (&r.lock);
}
GST_END_TEST;

/* Serialized events keep their place among the chunks, and GAP/custom events do not close the
 * batch being formed. */
GST_START_TEST (test_events_keep_order)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "backend", "null", "backend-options", "latency-ms=5",
      "batch-size", 4, "stats-interval", 600000, NULL);
  Recorder r = { 0 };
  g_mutex_init (&r.lock);
  r.seq = g_string_new (NULL);
  gulong probe = gst_pad_add_probe (h->sinkpad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, record_probe, &r, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  const gchar *input = "XBBXBGBBBBXBBG";
  guint64 index = 0;
  for (const gchar * c = input; *c; c++) {
    if (*c == 'B') {
      fail_unless_equals_int (gst_harness_push (h, token_buffer (5, index, index)), GST_FLOW_OK);
      index++;
    } else if (*c == 'X') {
      fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                  gst_structure_new_empty ("test-marker"))));
    } else {
      fail_unless (gst_harness_push_event (h, gst_event_new_gap (index * GST_SECOND,
                  GST_SECOND)));
    }
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gchar *seq = recorder_take (&r);
  gchar *expected = g_strdup_printf ("TCS%sE", input);
  fail_unless_equals_string (seq, expected);
  g_free (seq);
  g_free (expected);
  /* 9 chunks, batch-size 4: the events did not close any batch */
  guint n_periodic;
  GstStructure *s = pop_stats (bus, &n_periodic, 0, NULL);
  fail_unless (s != NULL);
  fail_unless_equals_uint64 (stats_u64 (s, "batches"), 3);
  gst_structure_free (s);
  gst_pad_remove_probe (h->sinkpad, probe);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_string_free (r.seq, TRUE);
  g_mutex_clear (&r.lock);
}
GST_END_TEST;

/* npuencoder-stats: periodic messages while chunks flow, one at EOS with the right counts. */
GST_START_TEST (test_stats_messages)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "backend", "null", "backend-options", "latency-ms=20",
      "batch-size", 2, "stats-interval", 50, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  fail_unless_equals_int (gst_harness_push (h, doc_token_buffer ("a", 5, 0, 0)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, doc_token_buffer ("a", 6, 1, 1)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, doc_token_buffer ("a", 7, 2, 2)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, doc_token_buffer ("b", 8, 3, 0)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, doc_token_buffer ("b", 9, 4, 1)), GST_FLOW_OK);
  /* two batches run; "b"#1 waits for EOS: periodic messages show it as queue depth 1 */
  g_usleep (300 * 1000);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  guint n_periodic;
  gboolean saw_depth;
  GstStructure *s = pop_stats (bus, &n_periodic, 1, &saw_depth);
  fail_unless (n_periodic >= 2, "%u periodic messages", n_periodic);
  fail_unless (saw_depth);
  fail_unless (s != NULL);
  fail_unless_equals_uint64 (stats_u64 (s, "documents"), 2);
  fail_unless_equals_uint64 (stats_u64 (s, "chunks"), 5);
  fail_unless_equals_uint64 (stats_u64 (s, "tokens"), 5 + 6 + 7 + 8 + 9);
  fail_unless_equals_uint64 (stats_u64 (s, "batches"), 3);
  guint depth = 99, inflight = 99;
  double tps = -1, tps_all = -1;
  fail_unless (gst_structure_get_uint (s, "queue-depth", &depth));
  fail_unless (gst_structure_get_uint (s, "inflight", &inflight));
  fail_unless (gst_structure_get_double (s, "tokens-per-second", &tps));
  fail_unless (gst_structure_get_double (s, "tokens-per-second-overall", &tps_all));
  fail_unless_equals_int (depth, 0);
  fail_unless_equals_int (inflight, 0);
  fail_unless (tps >= 0 && tps_all > 0, "%g %g", tps, tps_all);
  fail_unless (stats_u64 (s, "elapsed") >= 300 * GST_MSECOND);
  gst_structure_free (s);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* LATENCY: upstream's plus max-latency plus the null backend's time per batch; follows a
 * max-latency change while playing. */
GST_START_TEST (test_latency_query)
{
  GstHarness *h = test_harness_new ("npuencoder", NULL, "backend", "null", "backend-options", "latency-ms=25",
      "max-latency", 40, NULL);
  gst_harness_set_live (h, TRUE);       /* this test is about a live upstream */
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);

  GstQuery *q = gst_query_new_latency ();
  gboolean live;
  GstClockTime min, max;
  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 75 * GST_MSECOND);
  fail_unless (!GST_CLOCK_TIME_IS_VALID (max) || max >= min);
  gst_query_unref (q);

  g_object_set (h->element, "max-latency", 100, NULL);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 135 * GST_MSECOND);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The backend's latency is a hint until batches complete, then measured: null batches queue
 * behind each other (one device), so with four in flight the later ones take about 2-4x the
 * 40 ms hint from submit to completion. The element posts a LATENCY message and the query
 * reports the measurement (with max-latency 0 it is the backend's time alone). */
GST_START_TEST (test_latency_measured)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("npuencoder", &bus, "backend", "null", "backend-options",
      "latency-ms=40", "max-latency", 0, "batch-size", 1, "max-inflight", 4, NULL);
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  gst_harness_set_upstream_latency (h, 0);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 40 * GST_MSECOND);

  for (guint i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, token_buffer (5, i, i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  for (guint i = 0; i < 4; i++)
    gst_buffer_unref (gst_harness_pull (h));

  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_LATENCY);
  fail_unless (m != NULL, "no LATENCY message after the measurement moved");
  fail_unless (GST_MESSAGE_SRC (m) == GST_OBJECT (h->element));
  gst_message_unref (m);
  GstClockTime lat = gst_harness_query_latency (h);
  fail_unless (lat >= 80 * GST_MSECOND, "latency %" GST_TIME_FORMAT " not measured",
      GST_TIME_ARGS (lat));
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Zero vectors from the null backend through embedpooler's L2 normalisation stay zero. */
GST_START_TEST (test_null_through_pooler_no_nan)
{
  GstHarness *h = gst_harness_new_parse ("npuencoder backend=null backend-options=latency-ms=1 "
      "batch-size=3 ! embedpooler normalize=true");
  gst_harness_set_src_caps_str (h, "application/x-text-tokens");
  for (guint i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, token_buffer (5 + i, i, i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 4);
  for (guint i = 0; i < 4; i++) {
    GstBuffer *b = gst_harness_pull (h);
    float v[384];
    fail_unless_equals_int (gst_buffer_get_size (b), sizeof (v));
    gst_buffer_extract (b, 0, v, sizeof (v));
    for (guint j = 0; j < 384; j++)
      fail_unless (isfinite (v[j]) && v[j] == 0.0f, "value %g at %u", v[j], j);
    fail_unless_equals_uint64 (gst_buffer_get_text_chunk_meta (b)->index, i);
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
npuencoder_suite (void)
{
  Suite *s = suite_create ("npuencoder");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_batching_is_transparent);
  tcase_add_test (tc, test_unknown_backend);
  tcase_add_test (tc, test_fallback_to_cpu);
  tcase_add_test (tc, test_bad_backend_options);
  tcase_add_test (tc, test_vocab_mismatch);
  tcase_add_test (tc, test_malformed_and_too_long);
  tcase_add_test (tc, test_out_of_vocab_id);
  tcase_add_test (tc, test_flush_drops_pending);
  tcase_add_test (tc, test_null_order_mixed_lengths);
  tcase_add_test (tc, test_max_batch_tokens);
  tcase_add_test (tc, test_max_latency_partial_batch);
  tcase_add_test (tc, test_flush_while_blocked);
  tcase_add_test (tc, test_stop_with_batches_in_flight);
  tcase_add_test (tc, test_backend_error);
  tcase_add_test (tc, test_eos_drains_all);
  tcase_add_test (tc, test_events_keep_order);
  tcase_add_test (tc, test_stats_messages);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_latency_measured);
  tcase_add_test (tc, test_null_through_pooler_no_nan);
  return s;
}

GST_CHECK_MAIN (npuencoder);
