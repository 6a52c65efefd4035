/* test-textchunker.c — GstHarness tests of textchunker. */
#include <string.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

#define GPL "/usr/share/common-licenses/GPL-3"

/* Push GPL-3 in 1000-byte pieces (which split UTF-8 nowhere here, but split words everywhere),
 * EOS, and check the chunks tile the document with metadata, caps and offsets. */
GST_START_TEST (test_tiles_document)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 128, "document-id",
      "gpl", NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);

  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless_equals_int (test_push_pieces (h, text, len, 1000), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "text/x-raw"));
  fail_unless (gst_structure_get_string (s, "tokenizer") != NULL);
  gint mt;
  fail_unless (gst_structure_get_int (s, "max-tokens", &mt));
  fail_unless_equals_int (mt, 128);
  gst_caps_unref (caps);

  guint n = gst_harness_buffers_received (h);
  fail_unless (n > 10);
  guint64 expect_start = 0;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless (m != NULL);
    fail_unless_equals_string (m->doc_id, "gpl");
    fail_unless_equals_uint64 (m->index, i);
    fail_unless_equals_uint64 (m->start, expect_start);
    fail_unless (m->n_tokens <= 128 && m->n_tokens > 2);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), m->start);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (b), m->end);
    fail_unless_equals_uint64 (gst_buffer_get_size (b), m->end - m->start);
    fail_unless (gst_buffer_memcmp (b, 0, text + m->start, m->end - m->start) == 0);
    fail_unless (memcmp (m->text, text + m->start, m->text_len) == 0);
    expect_start = m->end;
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (expect_start, len);
  g_free (text);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The document id defaults to the upstream location when the source answers the URI query. */
GST_START_TEST (test_doc_id_from_filesrc)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch ("filesrc location=" GPL " ! textchunker ! appsink "
      "name=out sync=false", &err);
  fail_unless (p != NULL && err == NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "out");
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstSample *sample = NULL;
  g_signal_emit_by_name (sink, "pull-sample", &sample);
  fail_unless (sample != NULL);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (gst_sample_get_buffer (sample));
  fail_unless (m != NULL);
  fail_unless_equals_string (m->doc_id, GPL);
  gst_sample_unref (sample);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_overlap)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 128, "overlap-tokens",
      16, NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (test_push_pieces (h, text, len, 4096), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  guint n = gst_harness_buffers_received (h);
  guint64 prev_end = 0;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    if (i > 0)
      fail_unless (m->start < prev_end, "chunk %u does not overlap the previous one", i);
    fail_unless (m->end > prev_end);
    prev_end = m->end;
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (prev_end, len);
  g_free (text);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-tokens above the model's limit is clamped, with a warning on the bus. */
GST_START_TEST (test_max_tokens_clamped)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("textchunker", &bus, "max-tokens", 100000, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  gchar *warning = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  fail_unless (strstr (warning, "max-tokens=100000") != NULL, "%s", warning);
  g_free (warning);
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("Some words.")), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint mt;
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "max-tokens", &mt);
  fail_unless_equals_int (mt, 256);     /* all-MiniLM-L6-v2's max_seq_length */
  gst_caps_unref (caps);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_invalid_utf8_is_error)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("textchunker", &bus, "document-id", "bad", NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("fine text ")), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup ("ab\xff", 3)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  fail_unless (strstr (msg, "not valid UTF-8 at byte 12") != NULL, "%s", msg);
  fail_unless (strstr (msg, "bad") != NULL, "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A UTF-8 character split between two buffers comes out whole. */
GST_START_TEST (test_split_utf8)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_src_caps_str (h, "text/plain");
  const gchar *t = "caf\xc3\xa9 \xf0\x9f\x98\x80 end";
  gsize len = strlen (t);
  fail_unless_equals_int (test_push_pieces (h, t, len, 1), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (b), len);
  fail_unless (gst_buffer_memcmp (b, 0, t, len) == 0);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Flushing drops the pending text; the next document starts at index 0. */
GST_START_TEST (test_flush_resets)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("pending words ")),
      GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_flush_start ());
  gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("after flush")), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_uint64 (m->index, 0);
  fail_unless_equals_uint64 (m->start, 0);
  fail_unless_equals_string (m->text, "after flush");
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_model_is_error)
{
  GstElement *e = gst_element_factory_make ("textchunker", NULL);
  g_object_set (e, "model", "/nonexistent/model", NULL);
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg != NULL);
  fail_unless (strstr (msg, "/nonexistent/model") != NULL, "%s", msg);
  g_free (msg);
  gst_object_unref (e);
}
GST_END_TEST;

static Suite *
textchunker_suite (void)
{
  Suite *s = suite_create ("textchunker");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_tiles_document);
  tcase_add_test (tc, test_doc_id_from_filesrc);
  tcase_add_test (tc, test_overlap);
  tcase_add_test (tc, test_max_tokens_clamped);
  tcase_add_test (tc, test_invalid_utf8_is_error);
  tcase_add_test (tc, test_split_utf8);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_bad_model_is_error);
  return s;
}

GST_CHECK_MAIN (textchunker);
