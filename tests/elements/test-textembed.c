/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-textembed.c — the textembed bin end to end in a harness, property proxying, and the
 * model-mismatch guard between separately configured elements. */
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

#define GPL "/usr/share/common-licenses/GPL-3"

GST_START_TEST (test_bin_end_to_end)
{
  GstHarness *h = test_harness_new ("textembed", NULL, "max-tokens", 64, "batch-size", 4,
      "document-id", "gpl", NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);
  gst_harness_set_src_caps_str (h, "text/plain");
  gsize part = 6000;            /* the first 6000 bytes are enough for a dozen chunks */
  fail_unless_equals_int (test_push_pieces (h, text, part, 512), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());

  guint n = gst_harness_buffers_received (h);
  fail_unless (n >= 10, "only %u embeddings", n);
  guint64 expect = 0;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    fail_unless_equals_int (gst_buffer_get_size (b), 384 * sizeof (float));
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless (m != NULL);
    fail_unless_equals_uint64 (m->index, i);
    fail_unless_equals_uint64 (m->start, expect);
    fail_unless (m->n_tokens <= 64);
    expect = m->end;
    float v[384];
    gst_buffer_extract (b, 0, v, sizeof v);
    double norm = 0;
    for (int d = 0; d < 384; d++)
      norm += (double) v[d] * v[d];
    fail_unless (fabs (norm - 1) < 1e-4);
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (expect, part);
  guint bs;
  g_object_get (h->element, "batch-size", &bs, NULL);
  fail_unless_equals_int (bs, 4);
  g_free (text);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_properties_reach_inner_elements)
{
  GstElement *bin = gst_element_factory_make ("textembed", NULL);
  g_object_set (bin, "model", "/some/dir", "overlap-tokens", 9, "max-latency", 250,
      "max-inflight", 3, NULL);
  gst_util_set_object_arg (G_OBJECT (bin), "pooling", "cls");
  GstElement *chunker = gst_bin_get_by_name (GST_BIN (bin), "chunker");
  GstElement *pooler = gst_bin_get_by_name (GST_BIN (bin), "pooler");
  GstElement *encoder = gst_bin_get_by_name (GST_BIN (bin), "encoder");
  gchar *model;
  guint overlap;
  gint pooling;
  g_object_get (chunker, "model", &model, "overlap-tokens", &overlap, NULL);
  fail_unless_equals_string (model, "/some/dir");
  fail_unless_equals_int (overlap, 9);
  g_free (model);
  g_object_get (encoder, "model", &model, NULL);
  fail_unless_equals_string (model, "/some/dir");
  g_free (model);
  gint chunker_latency, encoder_latency;
  guint inflight;
  g_object_get (chunker, "max-latency", &chunker_latency, NULL);
  g_object_get (encoder, "max-latency", &encoder_latency, "max-inflight", &inflight, NULL);
  fail_unless_equals_int (chunker_latency, 250);
  fail_unless_equals_int (encoder_latency, 250);
  fail_unless_equals_int (inflight, 3);
  g_object_get (pooler, "pooling", &pooling, NULL);
  fail_unless_equals_int (pooling, 2);  /* cls */
  gst_object_unref (chunker);
  gst_object_unref (pooler);
  gst_object_unref (encoder);
  gst_object_unref (bin);
}
GST_END_TEST;

/* Elements given different models must not produce garbage: build a second model directory
 * whose vocabulary differs and check negotiation fails with an error naming the fix. */
GST_START_TEST (test_model_mismatch_fails)
{
  const gchar *model = g_getenv ("TE_TEST_MODEL");
  fail_unless (model != NULL, "TE_TEST_MODEL must be set");
  gchar *dir = g_dir_make_tmp ("textembed-model-XXXXXX", NULL);
  const gchar *files[] = { "config.json", "model.safetensors", "modules.json",
    "sentence_bert_config.json", "1_Pooling" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *src = g_build_filename (model, files[i], NULL);
    gchar *dst = g_build_filename (dir, files[i], NULL);
    fail_unless (symlink (src, dst) == 0);
    g_free (src);
    g_free (dst);
  }
  /* same tokenizer but lowercase off: a different fingerprint */
  gchar *tj = g_build_filename (model, "tokenizer.json", NULL);
  gsize len;
  gchar *json = test_read_file (tj, &len);
  gchar **parts = g_strsplit (json, "\"lowercase\":true", -1);
  fail_unless_equals_int (g_strv_length (parts), 2);
  gchar *changed = g_strjoinv ("\"lowercase\":false", parts);
  g_strfreev (parts);
  gchar *dst = g_build_filename (dir, "tokenizer.json", NULL);
  fail_unless (g_file_set_contents (dst, changed, -1, NULL));

  gchar *desc = g_strdup_printf ("fakesrc num-buffers=0 ! textchunker model=%s ! texttokenizer "
      "! fakesink", dir);
  GError *perr = NULL;
  GstElement *p = gst_parse_launch (desc, &perr);
  fail_unless (p != NULL && perr == NULL, "%s", perr ? perr->message : "");
  GstBus *bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
      "expected a negotiation error");
  GError *err = NULL;
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "same model") != NULL, "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);

  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *f = g_build_filename (dir, files[i], NULL);
    g_unlink (f);
    g_free (f);
  }
  g_unlink (dst);
  g_rmdir (dir);
  g_free (desc);
  g_free (dst);
  g_free (changed);
  g_free (json);
  g_free (tj);
  g_free (dir);
}
GST_END_TEST;

static Suite *
textembed_suite (void)
{
  Suite *s = suite_create ("textembed");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_bin_end_to_end);
  tcase_add_test (tc, test_properties_reach_inner_elements);
  tcase_add_test (tc, test_model_mismatch_fails);
  return s;
}

GST_CHECK_MAIN (textembed);
