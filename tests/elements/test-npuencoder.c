/* test-npuencoder.c — GstHarness tests of npuencoder: batching and padding do not change the
 * result, order is kept, EOS drains a partial batch, errors are clear. */
#include <math.h>
#include <string.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

/* A token buffer for "[CLS] w w ... [SEP]" of @n tokens, distinct per @seed. */
static GstBuffer *
token_buffer (guint n, guint seed, guint64 index)
{
  gint32 *data = g_new0 (gint32, 2 * n);
  data[0] = 101;
  for (guint i = 1; i + 1 < n; i++)
    data[i] = 2000 + (seed * 37 + i * 11) % 5000;
  data[n - 1] = 102;
  GstBuffer *b = gst_buffer_new_wrapped (data, 2 * n * sizeof (gint32));
  gst_buffer_add_text_chunk_meta (b, "doc", index, index * 10, index * 10 + 10, "x", 1, n);
  return b;
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
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg && strstr (msg, "warp-drive"), "%s", msg);
  g_free (msg);
  gst_object_unref (e);
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

static Suite *
npuencoder_suite (void)
{
  Suite *s = suite_create ("npuencoder");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_batching_is_transparent);
  tcase_add_test (tc, test_unknown_backend);
  tcase_add_test (tc, test_bad_backend_options);
  tcase_add_test (tc, test_vocab_mismatch);
  tcase_add_test (tc, test_malformed_and_too_long);
  tcase_add_test (tc, test_out_of_vocab_id);
  tcase_add_test (tc, test_flush_drops_pending);
  return s;
}

GST_CHECK_MAIN (npuencoder);
