/* gstembedsink.c — embedsink element: one JSON object per embedding, one per line. */
/**
 * SECTION:element-embedsink
 * @title: embedsink
 *
 * Writes each embedding (caps `application/x-embedding`, from embedpooler) as one line of JSON:
 * |[
 * {"doc":"/usr/share/common-licenses/GPL-3","index":0,"start":0,"end":713,"tokens":128,
 *  "text":"GNU GENERAL PUBLIC LICENSE ...","embedding":[0.0123,...]}
 * ]|
 * "doc", "index", "start", "end" (byte offsets [start, end) in the source document), "tokens" and
 * "text" come from the chunk's #GstTextChunkMeta; "pts" and "duration" (nanoseconds) are added
 * when the buffer is timestamped. Floats are written with 9 significant digits, enough to
 * round-trip a float32.
 *
 * Every line is written whole with one write() as its buffer arrives, so a killed pipeline leaves
 * only complete lines; the file is fsync()ed at EOS. A write error (disk full...) is an element
 * error. `location=-` (or no location) writes to standard output.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textembed ! embedsink location=out.jsonl
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstembedsink.h"
#include "gsttextembedmeta.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

GST_DEBUG_CATEGORY_STATIC (gst_embed_sink_debug);
#define GST_CAT_DEFAULT gst_embed_sink_debug

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_INCLUDE_TEXT,
};

#define DEFAULT_INCLUDE_TEXT TRUE

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-embedding, format = (string) F32LE, "
        "dimension = (int) [ 1, MAX ]"));

G_DEFINE_TYPE (GstEmbedSink, gst_embed_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (embedsink, "embedsink", GST_RANK_NONE, GST_TYPE_EMBED_SINK);

static void gst_embed_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_embed_sink_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_embed_sink_finalize (GObject * object);
static gboolean gst_embed_sink_start (GstBaseSink * sink);
static gboolean gst_embed_sink_stop (GstBaseSink * sink);
static gboolean gst_embed_sink_set_caps (GstBaseSink * sink, GstCaps * caps);
static GstFlowReturn gst_embed_sink_render (GstBaseSink * sink, GstBuffer * buf);
static gboolean gst_embed_sink_event (GstBaseSink * sink, GstEvent * event);

static void
gst_embed_sink_class_init (GstEmbedSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_embed_sink_debug, "embedsink", 0, "Embeddings to JSON Lines");

  gobject_class->set_property = gst_embed_sink_set_property;
  gobject_class->get_property = gst_embed_sink_get_property;
  gobject_class->finalize = gst_embed_sink_finalize;

  /**
   * GstEmbedSink:location:
   *
   * File to write (created or truncated). NULL or "-": standard output.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location", "JSON Lines output file (NULL or - = stdout)",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstEmbedSink:include-text:
   *
   * Write the chunk's text in the "text" field.
   */
  g_object_class_install_property (gobject_class, PROP_INCLUDE_TEXT,
      g_param_spec_boolean ("include-text", "Include text", "Write each chunk's text",
          DEFAULT_INCLUDE_TEXT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "Embedding sink",
      "Sink/File", "Writes embeddings and their chunk metadata as JSON Lines",
      "gst-textembed developers");

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_embed_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_embed_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_embed_sink_set_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_embed_sink_render);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_embed_sink_event);
}

static void
gst_embed_sink_init (GstEmbedSink * self)
{
  self->include_text = DEFAULT_INCLUDE_TEXT;
  self->fd = -1;
  /* a file writer, not a renderer: do not wait for buffer timestamps */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_embed_sink_finalize (GObject * object)
{
  GstEmbedSink *self = GST_EMBED_SINK (object);
  g_free (self->location);
  G_OBJECT_CLASS (gst_embed_sink_parent_class)->finalize (object);
}

static void
gst_embed_sink_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstEmbedSink *self = GST_EMBED_SINK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      break;
    case PROP_INCLUDE_TEXT:
      self->include_text = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_embed_sink_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEmbedSink *self = GST_EMBED_SINK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_INCLUDE_TEXT:
      g_value_set_boolean (value, self->include_text);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_embed_sink_start (GstBaseSink * sink)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);

  GST_OBJECT_LOCK (self);
  gchar *location = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);

  if (!location || !*location || g_str_equal (location, "-")) {
    self->fd = STDOUT_FILENO;
    self->own_fd = FALSE;
  } else {
    self->fd = g_open (location, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (self->fd < 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open \"%s\" for writing: %s", location, g_strerror (errno)), (NULL));
      g_free (location);
      return FALSE;
    }
    self->own_fd = TRUE;
  }
  g_free (location);
  self->line = g_string_sized_new (8192);
  self->n_written = 0;
  self->dim = 0;
  return TRUE;
}

static gboolean
gst_embed_sink_stop (GstBaseSink * sink)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);
  gboolean ok = TRUE;

  if (self->own_fd && self->fd >= 0) {
    if (close (self->fd) != 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, CLOSE, ("Error closing output: %s",
              g_strerror (errno)), (NULL));
      ok = FALSE;
    }
  }
  self->fd = -1;
  if (self->line)
    g_string_free (self->line, TRUE);
  self->line = NULL;
  GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " embeddings written", self->n_written);
  return ok;
}

static gboolean
gst_embed_sink_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  return gst_structure_get_int (s, "dimension", &self->dim) && self->dim > 0;
}

/* JSON string literal for @len bytes of UTF-8 @s. */
static void
append_json_string (GString * out, const gchar * s, gsize len)
{
  g_string_append_c (out, '"');
  for (gsize i = 0; i < len; i++) {
    guchar c = s[i];
    switch (c) {
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      case '\r':
        g_string_append (out, "\\r");
        break;
      case '\t':
        g_string_append (out, "\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f)
          g_string_append_printf (out, "\\u%04x", c);
        else
          g_string_append_c (out, c);   /* UTF-8 passes through: the chunker validated it */
    }
  }
  g_string_append_c (out, '"');
}

static gboolean
write_all (int fd, const gchar * data, gsize len)
{
  while (len > 0) {
    ssize_t w = write (fd, data, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return FALSE;
    }
    data += w;
    len -= w;
  }
  return TRUE;
}

static GstFlowReturn
gst_embed_sink_render (GstBaseSink * sink, GstBuffer * buf)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (buf);
  GstMapInfo map;
  GString *l = self->line;

  gsize expected = (gsize) self->dim * sizeof (float);
  if (gst_buffer_get_size (buf) != expected) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Embedding buffer of %" G_GSIZE_FORMAT
            " bytes; caps say %d floats", gst_buffer_get_size (buf), self->dim), (NULL));
    return GST_FLOW_ERROR;
  }

  GST_OBJECT_LOCK (self);
  gboolean include_text = self->include_text;
  GST_OBJECT_UNLOCK (self);

  g_string_truncate (l, 0);
  g_string_append (l, "{\"doc\":");
  if (m)
    append_json_string (l, m->doc_id, strlen (m->doc_id));
  else
    g_string_append (l, "null");
  if (m)
    g_string_append_printf (l, ",\"index\":%" G_GUINT64_FORMAT ",\"start\":%" G_GUINT64_FORMAT
        ",\"end\":%" G_GUINT64_FORMAT ",\"tokens\":%u", m->index, m->start, m->end,
        m->n_tokens);
  if (GST_BUFFER_PTS_IS_VALID (buf))
    g_string_append_printf (l, ",\"pts\":%" G_GUINT64_FORMAT, GST_BUFFER_PTS (buf));
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    g_string_append_printf (l, ",\"duration\":%" G_GUINT64_FORMAT, GST_BUFFER_DURATION (buf));
  if (include_text && m) {
    g_string_append (l, ",\"text\":");
    append_json_string (l, m->text, m->text_len);
  }
  g_string_append (l, ",\"embedding\":[");
  gst_buffer_map (buf, &map, GST_MAP_READ);
  const float *v = (const float *) map.data;
  for (gint i = 0; i < self->dim; i++) {
    gchar num[G_ASCII_DTOSTR_BUF_SIZE];
    if (!isfinite (v[i])) {
      gst_buffer_unmap (buf, &map);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Embedding %" G_GUINT64_FORMAT " of \"%s\" has "
              "a non-finite value at %d; refusing to write invalid JSON", m ? m->index : 0,
              m ? m->doc_id : "?", i), (NULL));
      return GST_FLOW_ERROR;
    }
    /* %.9g round-trips float32; g_ascii_formatd is locale-independent */
    g_ascii_formatd (num, sizeof num, "%.9g", v[i]);
    if (i)
      g_string_append_c (l, ',');
    g_string_append (l, num);
  }
  gst_buffer_unmap (buf, &map);
  g_string_append (l, "]}\n");

  if (!write_all (self->fd, l->str, l->len)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not write embeddings: %s",
            g_strerror (errno)), (NULL));
    return GST_FLOW_ERROR;
  }
  self->n_written++;
  return GST_FLOW_OK;
}

static gboolean
gst_embed_sink_event (GstBaseSink * sink, GstEvent * event)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->own_fd && self->fd >= 0) {
    if (fsync (self->fd) != 0 && errno != EINVAL)
      GST_ELEMENT_WARNING (self, RESOURCE, SYNC, ("Could not sync output: %s",
              g_strerror (errno)), (NULL));
  }
  return GST_BASE_SINK_CLASS (gst_embed_sink_parent_class)->event (sink, event);
}
