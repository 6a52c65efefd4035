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
