/* test-embedsink.c — embedsink writes valid JSON Lines with every field, escapes text, and
 * reports write errors. */
#include <string.h>
#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

#define DIM 4

static GstBuffer *
embedding (const gchar * doc, guint64 index, const gchar * text, gboolean timed)
{
  float v[DIM] = { 0.5f, -0.25f, 1e-8f, 3.0f };
  GstBuffer *b = gst_buffer_new_memdup (v, sizeof v);
  gst_buffer_add_text_chunk_meta (b, doc, index, 10 * index, 10 * index + strlen (text), text,
      strlen (text), 7);
  if (timed) {
    GST_BUFFER_PTS (b) = 1500 * GST_MSECOND;
    GST_BUFFER_DURATION (b) = 250 * GST_MSECOND;
  }
  return b;
}

static GstHarness *
sink_harness (const gchar * location, GstBus ** bus)
{
  GstHarness *h = test_harness_new ("embedsink", bus, "location", location, NULL);
  gst_harness_set_src_caps_str (h, "application/x-embedding, format=F32LE, dimension=4, "
      "normalized=false");
  return h;
}

GST_START_TEST (test_jsonl)
{
  gchar *dir = g_dir_make_tmp ("embedsink-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "out.jsonl", NULL);
  GstHarness *h = sink_harness (path, NULL);
  const gchar *tricky = "quote \" backslash \\ newline \n tab \t ctl \x01 caf\xc3\xa9";
  fail_unless_equals_int (gst_harness_push (h, embedding ("a.txt", 0, "plain", FALSE)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, embedding ("a.txt", 1, tricky, TRUE)),
      GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  gst_harness_teardown (h);

  gsize len;
  gchar *contents = test_read_file (path, &len);
  gchar **lines = g_strsplit (contents, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 3);    /* two lines + empty tail */
  fail_unless_equals_string (lines[2], "");
  for (int i = 0; i < 2; i++) {
    JsonParser *p = json_parser_new ();
    GError *err = NULL;
    fail_unless (json_parser_load_from_data (p, lines[i], -1, &err), "line %d: %s", i,
        err ? err->message : "");
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    fail_unless_equals_string (json_object_get_string_member (o, "doc"), "a.txt");
    fail_unless_equals_int (json_object_get_int_member (o, "index"), i);
    fail_unless_equals_int (json_object_get_int_member (o, "start"), 10 * i);
    fail_unless_equals_int (json_object_get_int_member (o, "tokens"), 7);
    fail_unless_equals_string (json_object_get_string_member (o, "text"),
        i ? tricky : "plain");
    fail_unless_equals_int (json_object_get_int_member (o, "end"),
        10 * i + strlen (i ? tricky : "plain"));
    JsonArray *e = json_object_get_array_member (o, "embedding");
    fail_unless_equals_int (json_array_get_length (e), DIM);
    fail_unless (json_array_get_double_element (e, 0) == 0.5);
    fail_unless (json_array_get_double_element (e, 1) == -0.25);
    fail_unless ((float) json_array_get_double_element (e, 2) == 1e-8f);
    fail_unless_equals_int (json_object_has_member (o, "pts"), i == 1);
    if (i == 1) {
      fail_unless_equals_int (json_object_get_int_member (o, "pts"), 1500 * GST_MSECOND);
      fail_unless_equals_int (json_object_get_int_member (o, "duration"), 250 * GST_MSECOND);
    }
    g_object_unref (p);
  }
  g_strfreev (lines);
  g_free (contents);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}
GST_END_TEST;

GST_START_TEST (test_write_error)
{
  GstBus *bus;
  GstHarness *h = sink_harness ("/dev/full", &bus);
  fail_unless_equals_int (gst_harness_push (h, embedding ("d", 0, "x", FALSE)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "Could not write"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_unwritable_location)
{
  GstElement *e = gst_element_factory_make ("embedsink", NULL);
  g_object_set (e, "location", "/nonexistent-dir/out.jsonl", NULL);
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg && strstr (msg, "/nonexistent-dir/out.jsonl"), "%s", msg);
  g_free (msg);
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_nan_refused)
{
  GstBus *bus;
  gchar *dir = g_dir_make_tmp ("embedsink-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "out.jsonl", NULL);
  GstHarness *h = sink_harness (path, &bus);
  float v[DIM] = { 0, NAN, 0, 0 };
  GstBuffer *b = gst_buffer_new_memdup (v, sizeof v);
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "non-finite"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}
GST_END_TEST;

static Suite *
embedsink_suite (void)
{
  Suite *s = suite_create ("embedsink");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);  /* ASan with full malloc stacks on a loaded 2-core machine */
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_jsonl);
  tcase_add_test (tc, test_write_error);
  tcase_add_test (tc, test_unwritable_location);
  tcase_add_test (tc, test_nan_refused);
  return s;
}

GST_CHECK_MAIN (embedsink);
