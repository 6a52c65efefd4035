/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-embedpooler.c — GstHarness tests of embedpooler: pooling arithmetic on hand-made token
 * embeddings, normalisation, zero vectors, width mismatch, Matryoshka truncation. */
#include <math.h>
#include <string.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

#define H 384

/* Three tokens: token t has value (t + 1) * (d % 5 - 2) in dimension d. */
static GstBuffer *
tokens_buffer (float scale)
{
  float *v = g_new (float, 3 * H);
  for (int t = 0; t < 3; t++)
    for (int d = 0; d < H; d++)
      v[t * H + d] = scale * (t + 1) * (d % 5 - 2);
  GstBuffer *b = gst_buffer_new_wrapped (v, 3 * H * sizeof (float));
  gst_buffer_add_text_chunk_meta (b, "doc", 3, 0, 5, "hello", 5, 3);
  return b;
}

static float *
pool_with (const gchar * pooling, const gchar * normalize, float scale)
{
  GstElement *e = gst_element_factory_make ("embedpooler", NULL);
  gst_util_set_object_arg (G_OBJECT (e), "pooling", pooling);
  gst_util_set_object_arg (G_OBJECT (e), "normalize", normalize);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=384");
  fail_unless_equals_int (gst_harness_push (h, tokens_buffer (scale)), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (out), H * sizeof (float));
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (out);
  fail_unless (m && m->index == 3 && g_str_equal (m->text, "hello"));
  float *v = g_new (float, H);
  gst_buffer_extract (out, 0, v, H * sizeof (float));
  gst_buffer_unref (out);

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint dim;
  gboolean normalized;
  fail_unless (gst_structure_get_int (s, "dimension", &dim) && dim == H);
  fail_unless (gst_structure_get_boolean (s, "normalized", &normalized));
  fail_unless_equals_int (normalized, g_str_equal (normalize, "true")
      || g_str_equal (normalize, "auto"));
  gst_caps_unref (caps);
  gst_harness_teardown (h);
  return v;
}

GST_START_TEST (test_modes)
{
  float *mean = pool_with ("mean", "false", 1);
  float *cls = pool_with ("cls", "false", 1);
  float *max = pool_with ("max", "false", 1);
  for (int d = 0; d < H; d++) {
    float base = d % 5 - 2;
    fail_unless (fabsf (mean[d] - 2 * base) < 1e-6);    /* (1 + 2 + 3) / 3 */
    fail_unless (fabsf (cls[d] - base) < 1e-6);
    fail_unless (fabsf (max[d] - (base >= 0 ? 3 * base : base)) < 1e-6);
  }
  g_free (mean);
  g_free (cls);
  g_free (max);
}
GST_END_TEST;

GST_START_TEST (test_normalize_and_auto)
{
  /* all-MiniLM-L6-v2 declares mean pooling and a Normalize module: auto = mean + L2 */
  float *a = pool_with ("auto", "auto", 1);
  float *b = pool_with ("mean", "true", 1);
  double norm = 0;
  for (int d = 0; d < H; d++) {
    fail_unless (a[d] == b[d]);
    norm += (double) a[d] * a[d];
  }
  fail_unless (fabs (norm - 1.0) < 1e-5, "norm^2 %g", norm);
  g_free (a);
  g_free (b);
}
GST_END_TEST;

GST_START_TEST (test_zero_vector_no_nan)
{
  float *z = pool_with ("mean", "true", 0);
  for (int d = 0; d < H; d++)
    fail_unless (z[d] == 0.0f, "dimension %d is %g", d, z[d]);
  g_free (z);
}
GST_END_TEST;

GST_START_TEST (test_width_mismatch)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("embedpooler", &bus, NULL);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=768");
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "768") && strstr (msg, "384"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_ragged_buffer)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("embedpooler", &bus, NULL);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=384");
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_allocate (NULL, 100, NULL)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "rows"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* dimensions=N: the first N values of the mean, normalised over them; caps and the
 * document-status identity say N; MiniLM's card does not mention Matryoshka: a warning. */
GST_START_TEST (test_dimensions)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("embedpooler", &bus, "dimensions", 16,
      "normalize", 1 /* true */ , "pooling", 1 /* mean */ , NULL);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=384");
  gchar *warn = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (warn && strstr (warn, "16 of 384") && strstr (warn, "Matryoshka"), "%s", warn);
  g_free (warn);
  fail_unless_equals_int (gst_harness_push (h, tokens_buffer (1)), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (out), 16 * sizeof (float));
  float v[16];
  gst_buffer_extract (out, 0, v, sizeof v);
  gst_buffer_unref (out);
  /* the mean is 2 * (d % 5 - 2); its first 16 values normalised */
  double norm = 0;
  for (int d = 0; d < 16; d++)
    norm += 4.0 * (d % 5 - 2) * (d % 5 - 2);
  for (int d = 0; d < 16; d++)
    fail_unless (fabs (v[d] - 2 * (d % 5 - 2) / sqrt (norm)) < 1e-6, "%d: %g", d, v[d]);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint dim = 0;
  fail_unless (gst_structure_get_int (gst_caps_get_structure (caps, 0), "dimension", &dim));
  fail_unless_equals_int (dim, 16);
  gst_caps_unref (caps);
  GstQuery *q = gst_query_new_custom (GST_QUERY_CUSTOM,
      gst_structure_new (GST_TEXT_EMBED_DOCUMENT_STATUS, "id", G_TYPE_STRING, "doc", NULL));
  gst_pad_peer_query (h->srcpad, q);    /* (nothing downstream answers; the part is added) */
  gint qdim = 0;
  fail_unless (gst_structure_get_int (gst_text_embed_query_get_document_status (q),
          "dimension", &qdim));
  fail_unless_equals_int (qdim, 16);
  gst_query_unref (q);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  /* more than the model has: an error naming both numbers when the element starts */
  GstElement *e = gst_element_factory_make ("embedpooler", NULL);
  g_object_set (e, "dimensions", 385, NULL);
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg && strstr (msg, "dimensions=385") && strstr (msg, "384"), "%s", msg);
  g_free (msg);
  gst_object_unref (e);
}
GST_END_TEST;

/* exclude-overlap: the n_overlap_tokens from overlap_first are left out of the mean */
GST_START_TEST (test_exclude_overlap)
{
  GstHarness *h = test_harness_new ("embedpooler", NULL, "exclude-overlap", TRUE,
      "normalize", 2 /* false */ , "pooling", 1 /* mean */ , NULL);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=384");
  GstBuffer *in = tokens_buffer (1);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (in);
  m->overlap_len = 2;
  m->overlap_first = 1;
  m->n_overlap_tokens = 1;
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  float v[H];
  gst_buffer_extract (out, 0, v, sizeof v);
  /* rows 0 and 2 (1 and 3 times the base): their mean is 2 * base, as without the exclusion;
   * the second buffer tells them apart */
  for (int d = 0; d < H; d++)
    fail_unless (fabsf (v[d] - 2 * (d % 5 - 2)) < 1e-6);
  GstTextChunkMeta *om = gst_buffer_get_text_chunk_meta (out);
  fail_unless (om && om->n_overlap_tokens == 1 && om->overlap_first == 1 && om->overlap_len == 2);
  gst_buffer_unref (out);
  in = tokens_buffer (1);
  m = gst_buffer_get_text_chunk_meta (in);
  m->overlap_first = 1;
  m->n_overlap_tokens = 2;      /* only row 0 (value 1 x base) is left */
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  out = gst_harness_pull (h);
  gst_buffer_extract (out, 0, v, sizeof v);
  for (int d = 0; d < H; d++)
    fail_unless (fabsf (v[d] - (d % 5 - 2)) < 1e-6);
  gst_buffer_unref (out);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gboolean ex = FALSE;
  fail_unless (gst_structure_get_boolean (gst_caps_get_structure (caps, 0), "exclude-overlap",
          &ex) && ex);
  gst_caps_unref (caps);
  gst_harness_teardown (h);
  /* the identity a store keeps says so, so that switching it re-embeds */
  GstStructure *st = gst_structure_new ("x", "encoder", G_TYPE_STRING, "model=m;backend=cpu",
      "pooling", G_TYPE_STRING, "mean", "exclude-overlap", G_TYPE_BOOLEAN, TRUE,
      "normalized", G_TYPE_BOOLEAN, TRUE, "dimension", G_TYPE_INT, 384, NULL);
  gchar *id = gst_text_embed_identity_from_structure (st);
  fail_unless_equals_string (id, "model=m;backend=cpu;pooling=mean,exclude-overlap;"
      "normalized=1;dims=384");
  g_free (id);
  gst_structure_free (st);
}
GST_END_TEST;


/* Late chunking: a window of 3 token rows whose two metas give two chunks (rows 0..1 and 2),
 * each pooled over its rows only, with its own meta, times and byte range. */
GST_START_TEST (test_window_spans)
{
  GstHarness *h = test_harness_new ("embedpooler", NULL, "normalize", 2 /* false */ ,
      "pooling", 1 /* mean */ , NULL);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=384");
  GstBuffer *in = tokens_buffer (1);
  /* tokens_buffer's own meta is a plain chunk: replace it by the window's two */
  gst_buffer_remove_meta (in, (GstMeta *) gst_buffer_get_text_chunk_meta (in));
  GstTextChunkMeta *a = gst_buffer_add_text_chunk_meta (in, "doc", 0, 0, 5, "hello", 5, 2);
  a->span_first = 0;
  a->span_n = 2;
  a->pts = 1 * GST_SECOND;
  a->duration = GST_SECOND;
  GstTextChunkMeta *b = gst_buffer_add_text_chunk_meta (in, "doc", 1, 5, 11, " world", 6, 1);
  b->span_first = 2;
  b->span_n = 1;
  b->pts = 2 * GST_SECOND;
  b->duration = 3 * GST_SECOND;
  GST_BUFFER_PTS (in) = GST_SECOND;
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  const float want[2] = { 1.5f, 3.0f };       /* mean of rows 0,1; row 2 */
  for (int k = 0; k < 2; k++) {
    GstBuffer *out = gst_harness_pull (h);
    float v[H];
    gst_buffer_extract (out, 0, v, sizeof v);
    for (int d = 0; d < H; d++)
      fail_unless (fabsf (v[d] - want[k] * (d % 5 - 2)) < 1e-6);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (out);
    fail_unless (m && m->index == (guint64) k);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), (k + 1) * GST_SECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), (k ? 3 : 1) * GST_SECOND);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), k ? 5 : 0);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A span past the window's rows is an error; cls pooling of a window is an error. */
GST_START_TEST (test_window_errors)
{
  for (int mode = 0; mode < 2; mode++) {
    GstBus *bus;
    GstHarness *h = test_harness_new ("embedpooler", &bus, "pooling", mode ? 2 /* cls */ : 1,
        NULL);
    gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
        "hidden-size=384");
    GstBuffer *in = tokens_buffer (1);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (in);
    m->span_first = mode ? 0 : 2;
    m->span_n = 2;
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_ERROR);
    gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
    fail_unless (msg && strstr (msg, mode ? "Late chunking needs mean or max" :
            "token rows 2..3"), "%s", msg);
    g_free (msg);
    gst_harness_teardown (h);
    gst_object_unref (bus);
  }
}
GST_END_TEST;

/* document-vectors: after the document's chunks, before its end event, the mean of its chunk
 * vectors weighted by their tokens (rows pooled, less the overlap's), renormalised; a second
 * document starts afresh. */
GST_START_TEST (test_document_vector)
{
  GstHarness *h = test_harness_new ("embedpooler", NULL, "document-vectors", TRUE,
      "pooling", 1 /* mean */ , NULL);
  gst_harness_set_src_caps_str (h, "application/x-token-embeddings, format=F32LE, "
      "hidden-size=384");
  gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
          gst_structure_new (GST_TEXT_EMBED_DOCUMENT_START, "id", G_TYPE_STRING, "doc",
              NULL)));
  /* chunk 0: 3 rows, mean 2 x base -> unit u (weight 3); chunk 1: 3 rows of which 1 is the
   * overlap, scaled -1 -> -u (weight 2); weighted mean (3u - 2u) / 5 -> u */
  GstBuffer *c0 = tokens_buffer (1);
  GST_BUFFER_PTS (c0) = 0;
  GST_BUFFER_DURATION (c0) = GST_SECOND;
  GstBuffer *c1 = tokens_buffer (-1);
  GstTextChunkMeta *m1 = gst_buffer_get_text_chunk_meta (c1);
  m1->index = 4;
  m1->start = 3;
  m1->end = 9;
  m1->overlap_first = 1;
  m1->n_overlap_tokens = 1;
  GST_BUFFER_PTS (c1) = GST_SECOND;
  GST_BUFFER_DURATION (c1) = 2 * GST_SECOND;
  fail_unless_equals_int (gst_harness_push (h, c0), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, c1), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
          gst_structure_new (GST_TEXT_EMBED_DOCUMENT_END, "id", G_TYPE_STRING, "doc",
              NULL)));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 3);
  GstBuffer *u = gst_harness_pull (h);
  gst_buffer_unref (gst_harness_pull (h));
  GstBuffer *doc = gst_harness_pull (h);
  float vu[H], vd[H];
  gst_buffer_extract (u, 0, vu, sizeof vu);
  gst_buffer_extract (doc, 0, vd, sizeof vd);
  for (int d = 0; d < H; d++)
    fail_unless (fabsf (vd[d] - vu[d]) < 1e-6);
  GstTextChunkMeta *dm = gst_buffer_get_text_chunk_meta (doc);
  fail_unless (dm && dm->kind == GST_TEXT_CHUNK_KIND_DOCUMENT);
  fail_unless_equals_string (dm->doc_id, "doc");
  fail_unless_equals_uint64 (dm->index, 2);     /* its chunk count */
  fail_unless_equals_int (dm->n_tokens, 5);
  fail_unless_equals_uint64 (dm->start, 0);
  fail_unless_equals_uint64 (dm->end, 9);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (doc), 0);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (doc), 3 * GST_SECOND);
  gst_buffer_unref (u);
  gst_buffer_unref (doc);
  /* the end event comes after the vector */
  GstEvent *ev;
  gboolean saw_end = FALSE;
  while ((ev = gst_harness_try_pull_event (h))) {
    saw_end |= gst_text_embed_event_get_document (ev, GST_TEXT_EMBED_DOCUMENT_END) != NULL;
    gst_event_unref (ev);
  }
  fail_unless (saw_end);
  /* a document without an end event: its vector at EOS */
  fail_unless_equals_int (gst_harness_push (h, tokens_buffer (1)), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  gst_buffer_unref (gst_harness_pull (h));
  doc = gst_harness_pull (h);
  dm = gst_buffer_get_text_chunk_meta (doc);
  fail_unless (dm && dm->kind == GST_TEXT_CHUNK_KIND_DOCUMENT && dm->index == 1
      && dm->n_tokens == 3);
  fail_unless_equals_uint64 (dm->end, 5);       /* this document's, not the previous one's */
  gst_buffer_unref (doc);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
embedpooler_suite (void)
{
  Suite *s = suite_create ("embedpooler");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);  /* ASan with full malloc stacks on a loaded 2-core machine */
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_modes);
  tcase_add_test (tc, test_normalize_and_auto);
  tcase_add_test (tc, test_zero_vector_no_nan);
  tcase_add_test (tc, test_width_mismatch);
  tcase_add_test (tc, test_ragged_buffer);
  tcase_add_test (tc, test_dimensions);
  tcase_add_test (tc, test_exclude_overlap);
  tcase_add_test (tc, test_window_spans);
  tcase_add_test (tc, test_window_errors);
  tcase_add_test (tc, test_document_vector);
  return s;
}

GST_CHECK_MAIN (embedpooler);
