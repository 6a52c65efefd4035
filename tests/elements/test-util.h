/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-util.h — small helpers shared by the element tests. */
#pragma once

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

/* Text of the first message of @type on @bus (NULL if none); caller frees. */
static inline gchar *
test_pop_message_text (GstBus * bus, GstMessageType type)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, type);
  if (!msg)
    return NULL;
  GError *err = NULL;
  gchar *dbg = NULL;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error (msg, &err, &dbg);
  else
    gst_message_parse_warning (msg, &err, &dbg);
  gchar *text = g_strdup (err->message);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (msg);
  return text;
}

static inline GstBuffer *
test_text_buffer (const gchar * text)
{
  return gst_buffer_new_memdup (text, strlen (text));
}

static inline gchar *
test_read_file (const gchar * path, gsize * len)
{
  gchar *text = NULL;
  GError *err = NULL;
  g_file_get_contents (path, &text, len, &err);
  fail_unless (err == NULL, "could not read %s", path);
  return text;
}

/* Push @len bytes as buffers of @piece bytes; returns the first non-OK flow. */
static inline GstFlowReturn
test_push_pieces (GstHarness * h, const gchar * text, gsize len, gsize piece)
{
  for (gsize off = 0; off < len; off += piece) {
    GstFlowReturn ret = gst_harness_push (h, gst_buffer_new_memdup (text + off,
            MIN (piece, len - off)));
    if (ret != GST_FLOW_OK)
      return ret;
  }
  return GST_FLOW_OK;
}

/* A harness around a new @factory element whose properties are set (and bus attached, when
 * @bus is not NULL) BEFORE the harness starts it: READY-mutable properties and start-time
 * messages need that. NULL-terminated property list as for g_object_set(). */
static inline GstHarness *
test_harness_new (const gchar * factory, GstBus ** bus, const gchar * first_prop, ...)
{
  GstElement *e = gst_element_factory_make (factory, NULL);
  fail_unless (e != NULL, "no element %s", factory);
  if (first_prop) {
    va_list args;
    va_start (args, first_prop);
    g_object_set_valist (G_OBJECT (e), first_prop, args);
    va_end (args);
  }
  if (bus) {
    *bus = gst_bus_new ();
    gst_element_set_bus (e, *bus);
  }
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  return h;
}

/* Set @e (not in a harness) to PAUSED expecting failure; return the error text posted. */
static inline gchar *
test_start_failure_text (GstElement * e)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  GstStateChangeReturn ret = gst_element_set_state (e, GST_STATE_PAUSED);
  fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
  gchar *text = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  return text;
}

/* ---- the order of what leaves an element --------------------------------------------------- */

/* One letter per buffer or downstream event reaching a pad, in arrival order, and per error or
 * warning posted on a bus, so a test can check the exact interleaving that GstHarness's
 * separate buffer and event queues lose:
 *   S stream-start  C caps  G segment  g gap  E EOS  B buffer
 *   < textembed/document-start  > textembed/document-end  $ textembed/corpus-end
 *   ! error message  ~ warning message  ? any other event */
typedef struct
{
  GMutex lock;
  GString *seq;
  GstPad *pad;
  gulong probe;
  GstBus *bus;
} TestRecorder;

static inline gchar
test_event_letter (GstEvent * ev)
{
  const GstStructure *s;
  switch (GST_EVENT_TYPE (ev)) {
    case GST_EVENT_STREAM_START:
      return 'S';
    case GST_EVENT_CAPS:
      return 'C';
    case GST_EVENT_SEGMENT:
      return 'G';
    case GST_EVENT_GAP:
      return 'g';
    case GST_EVENT_EOS:
      return 'E';
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      s = gst_event_get_structure (ev);
      if (s && gst_structure_has_name (s, "textembed/document-start"))
        return '<';
      if (s && gst_structure_has_name (s, "textembed/document-end"))
        return '>';
      if (s && gst_structure_has_name (s, "textembed/corpus-end"))
        return '$';
      return '?';
    default:
      return '?';
  }
}

static inline void
test_recorder_add (TestRecorder * r, gchar c)
{
  g_mutex_lock (&r->lock);
  g_string_append_c (r->seq, c);
  g_mutex_unlock (&r->lock);
}

static inline GstPadProbeReturn
test_recorder_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    test_recorder_add (user_data, 'B');
  else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    test_recorder_add (user_data, 'B');
  else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    test_recorder_add (user_data, test_event_letter (GST_PAD_PROBE_INFO_EVENT (info)));
  return GST_PAD_PROBE_OK;
}

static inline GstBusSyncReply
test_recorder_bus (GstBus * bus, GstMessage * msg, gpointer user_data)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    test_recorder_add (user_data, '!');
  else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING)
    test_recorder_add (user_data, '~');
  return GST_BUS_PASS;
}

/* Record what reaches @pad (e.g. a harness's sinkpad) and, when @bus is not NULL, the errors
 * and warnings posted on it. Free before the harness is torn down. */
static inline TestRecorder *
test_recorder_new (GstPad * pad, GstBus * bus)
{
  TestRecorder *r = g_new0 (TestRecorder, 1);
  g_mutex_init (&r->lock);
  r->seq = g_string_new (NULL);
  r->pad = gst_object_ref (pad);
  r->probe = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      test_recorder_probe, r, NULL);
  if (bus) {
    r->bus = gst_object_ref (bus);
    gst_bus_set_sync_handler (bus, test_recorder_bus, r, NULL);
  }
  return r;
}

/* What was recorded so far; caller frees. */
static inline gchar *
test_recorder_get (TestRecorder * r)
{
  g_mutex_lock (&r->lock);
  gchar *s = g_strdup (r->seq->str);
  g_mutex_unlock (&r->lock);
  return s;
}

static inline void
test_recorder_free (TestRecorder * r)
{
  gst_pad_remove_probe (r->pad, r->probe);
  gst_object_unref (r->pad);
  if (r->bus) {
    gst_bus_set_sync_handler (r->bus, NULL, NULL, NULL);
    gst_object_unref (r->bus);
  }
  g_string_free (r->seq, TRUE);
  g_mutex_clear (&r->lock);
  g_free (r);
}

/* "sha256:" + the SHA-256 of @len bytes, as the document events spell a content hash. */
static inline gchar *
test_sha256 (const void *data, gsize len)
{
  gchar *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
  gchar *s = g_strconcat ("sha256:", hex, NULL);
  g_free (hex);
  return s;
}

/* A custom downstream event (document-start/end, corpus-end) from a structure string such as
 * "textembed/document-end, id=(string)a, status=(string)complete". */
static inline GstEvent *
test_document_event (const gchar * structure)
{
  GstStructure *s = gst_structure_from_string (structure, NULL);
  fail_unless (s != NULL, "cannot parse %s", structure);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}
