/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstembedsink.c — embedsink element: embeddings to JSON Lines or to an SQLite store. */
/**
 * SECTION:element-embedsink
 * @title: embedsink
 *
 * Writes each embedding (caps `application/x-embedding`, from embedpooler) with its chunk's
 * metadata, as JSON Lines or into an SQLite store (#GstEmbedSink:format).
 *
 * ## JSON Lines
 *
 * One line of JSON per embedding:
 * |[
 * {"doc":"/usr/share/common-licenses/GPL-3","index":0,"start":0,"end":713,"tokens":128,
 *  "text":"GNU GENERAL PUBLIC LICENSE ...","embedding":[0.0123,...]}
 * ]|
 * "doc", "index", "start", "end" (byte offsets [start, end) in the source document), "tokens" and
 * "text" come from the chunk's #GstTextChunkMeta; "pts" and "duration" (nanoseconds) are added
 * when the buffer is timestamped. Floats are written with 9 significant digits, enough to
 * round-trip a float32. A document that ends as skipped (see textchunker's invalid-utf8 and
 * corpussrc) gets one line `{"doc":...,"status":"skipped","reason":...}`; lines of its chunks
 * written before it was given up stay. A document embedded with a prompt (textchunker's prompt,
 * prompt-name, instruction or the model's default) starts with one line
 * `{"doc":...,"prompt":...}`; its chunk lines' "text" is the source text, without the prompt.
 * With late chunking (texttokenizer late-chunking) a chunk line also has "window": the byte
 * range [start, end) of the document text its vector was computed in. With embedpooler
 * document-vectors, each document's chunk lines are followed by one document
 * line `{"doc":...,"kind":"document","chunks":N,"start":...,"end":...,"tokens":W,
 * "embedding":[...]}` (no "index", no "text"; "tokens" is the vector's weight). Readers tell the
 * kinds of line apart by their "kind" ("document"; chunk lines have none), "embedding", "prompt"
 * or "status" member.
 *
 * Every line is written whole with one write() as its buffer arrives, so a killed pipeline leaves
 * only complete lines; the file is fsync()ed at EOS. A write error (disk full...) is an element
 * error. `location=-` (or no location) writes to standard output.
 *
 * ## SQLite store
 *
 * With `format=sqlite` (or a location ending in .sqlite, .sqlite3 or .db) the embeddings go into
 * the store described in docs/store.md: a row per document (id, path, size, mtime, content
 * hash, chunk and token counts, embedding identity, status, and its document vector when
 * embedpooler sends one) and a row per chunk (byte range,
 * times, tokens, text unless #GstEmbedSink:include-text is off, the embedding as a
 * little-endian float32 BLOB). A document's chunks and its row are written in one transaction
 * at its "textembed/document-end" event, so a killed pipeline leaves only whole documents; a
 * skipped document keeps a row with its reason and no chunks — except one that merely could not
 * be read this time ("keep-previous" in its end event), which keeps what the store already has
 * for it. A write failure (disk full,
 * read-only...) is an element error and the store stays valid.
 *
 * The sink answers the "textembed/document-status" query of a source (corpussrc): a document
 * the store already holds complete, with the same content hash and the same embedding identity
 * (model content, backend, pooling, normalisation, dimension), need not be sent again. After a
 * "textembed/corpus-end" event, documents of the store that this run neither listed nor wrote
 * are marked deleted and their chunks removed.
 *
 * ## Progress
 *
 * Every #GstEmbedSink:progress-interval ms, and once at EOS, an element message
 * "textembed-progress" with: documents-done (finished in any way), documents-complete,
 * documents-skipped, documents-unchanged (resumed), documents-deleted, documents-total (-1 if
 * unknown), chunks, tokens, bytes-done, bytes-total (-1 if unknown), elapsed (s),
 * documents-per-second, tokens-per-second, eta (s, -1 if unknown) and final (TRUE at EOS).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=/usr/share/common-licenses/GPL-3 ! textembed ! embedsink location=out.jsonl
 * ]|
 * |[
 * gst-launch-1.0 corpussrc location=corpus/ ! textembed invalid-utf8=skip-document ! embedsink location=corpus.sqlite
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstembedsink.h"
#include "gsttextembedmeta.h"
#include "te-store.h"

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
  PROP_FORMAT,
  PROP_PROGRESS_INTERVAL,
  PROP_PROGRESS,
};

#define DEFAULT_INCLUDE_TEXT TRUE
#define DEFAULT_FORMAT GST_EMBED_SINK_FORMAT_AUTO
#define DEFAULT_PROGRESS_INTERVAL 1000

struct _GstEmbedSink
{
  GstBaseSink parent;

  /* properties, object lock */
  gchar *location;
  gboolean include_text;
  GstEmbedSinkFormat format;
  guint progress_interval;

  /* streaming state */
  GstEmbedSinkFormat eff_format;
  int fd;                       /* jsonl */
  gboolean own_fd;
  gint dim;
  GString *line;
  guint64 n_written;
  GstStructure *caps_fields;    /* the caps' identity fields (encoder, pooling, ...) */
  gchar *doc_identity;          /* the open document's: the caps' fields + its chunking */
  float *doc_vector;            /* the open document's vector (embedpooler document-vectors) */
  gchar *meta_model;            /* the "model" meta last written */
  gchar *model_dir;
  gchar *pooling;               /* from the caps, for te-search */
  gboolean normalized;
  gboolean meta_dirty;          /* caps changed: the store's meta needs writing */

  /* the store, under store_lock (the resume query comes from the source's thread) */
  GMutex store_lock;
  TeStore *store;
  GstStructure *doc;            /* document-start of the open document, NULL if none */
  gboolean doc_begun;           /* its transaction is open (first chunk seen) */
  gboolean doc_implicit;        /* no document events: framed by the meta's doc id */
  /* ids the resume query saw while a document's transaction was open: marked seen only after
   * it ends, so that a rollback cannot forget them (bounded by the pipeline's depth) */
  GPtrArray *pending_seen;
  guint64 doc_chunks, doc_tokens;

  /* progress, under the object lock */
  guint64 docs_complete, docs_skipped, docs_unchanged, docs_deleted;
  guint64 chunks, tokens, bytes_done, bytes_embedded;
  gint64 total_docs, total_bytes;
  gint64 t_start, t_last_report;        /* monotonic us; 0 = not started */
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-embedding, format = (string) F32LE, "
        "dimension = (int) [ 1, MAX ]"));

#define GST_TYPE_EMBED_SINK_FORMAT (gst_embed_sink_format_get_type ())
static GType
gst_embed_sink_format_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_EMBED_SINK_FORMAT_AUTO, "sqlite for a location ending in .sqlite, .sqlite3 or .db, "
          "else jsonl", "auto"},
    {GST_EMBED_SINK_FORMAT_JSONL, "JSON Lines, one embedding per line", "jsonl"},
    {GST_EMBED_SINK_FORMAT_SQLITE, "SQLite store (docs/store.md), one transaction per document",
        "sqlite"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEmbedSinkFormat", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

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
static gboolean gst_embed_sink_query (GstBaseSink * sink, GstQuery * query);
static GstStructure *gst_embed_sink_progress_locked (GstEmbedSink * self, gint64 now,
    gboolean final);

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
   * JSON Lines: file to write (created or truncated); NULL or "-": standard output.
   * SQLite: the store (created if missing, else added to and updated).
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Output file: JSON Lines (NULL or - = stdout) or an SQLite store",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstEmbedSink:include-text:
   *
   * Write the chunk's text ("text" field of JSON Lines, text column of the store).
   */
  g_object_class_install_property (gobject_class, PROP_INCLUDE_TEXT,
      g_param_spec_boolean ("include-text", "Include text", "Write each chunk's text",
          DEFAULT_INCLUDE_TEXT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstEmbedSink:format:
   *
   * JSON Lines or the SQLite store; auto decides from the location's extension.
   */
  g_object_class_install_property (gobject_class, PROP_FORMAT,
      g_param_spec_enum ("format", "Format", "Output format: jsonl or sqlite (auto = from the "
          "location's extension)", GST_TYPE_EMBED_SINK_FORMAT, DEFAULT_FORMAT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstEmbedSink:progress-interval:
   *
   * Milliseconds between "textembed-progress" element messages (0 = only the final one at EOS).
   */
  g_object_class_install_property (gobject_class, PROP_PROGRESS_INTERVAL,
      g_param_spec_uint ("progress-interval", "Progress interval",
          "Milliseconds between progress messages (0 = only at EOS)", 0, G_MAXINT,
          DEFAULT_PROGRESS_INTERVAL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  /**
   * GstEmbedSink:progress:
   *
   * The counters of the "textembed-progress" message, now (read-only; final=FALSE). They stay
   * readable after the pipeline stopped, e.g. after an error, until the next start.
   */
  g_object_class_install_property (gobject_class, PROP_PROGRESS,
      g_param_spec_boxed ("progress", "Progress", "The progress counters now, as in the "
          "textembed-progress message", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "Embedding sink",
      "Sink/File", "Writes embeddings and their chunk metadata as JSON Lines or into an "
      "SQLite store", "gst-textembed developers");

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_embed_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_embed_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_embed_sink_set_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_embed_sink_render);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_embed_sink_event);
  basesink_class->query = GST_DEBUG_FUNCPTR (gst_embed_sink_query);
}

static void
gst_embed_sink_init (GstEmbedSink * self)
{
  self->include_text = DEFAULT_INCLUDE_TEXT;
  self->format = DEFAULT_FORMAT;
  self->progress_interval = DEFAULT_PROGRESS_INTERVAL;
  self->fd = -1;
  g_mutex_init (&self->store_lock);
  self->pending_seen = g_ptr_array_new_with_free_func (g_free);
  /* a file writer, not a renderer: do not wait for buffer timestamps */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_embed_sink_finalize (GObject * object)
{
  GstEmbedSink *self = GST_EMBED_SINK (object);
  g_free (self->location);
  g_mutex_clear (&self->store_lock);
  g_ptr_array_unref (self->pending_seen);
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
    case PROP_FORMAT:
      self->format = g_value_get_enum (value);
      break;
    case PROP_PROGRESS_INTERVAL:
      self->progress_interval = g_value_get_uint (value);
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
    case PROP_FORMAT:
      g_value_set_enum (value, self->format);
      break;
    case PROP_PROGRESS_INTERVAL:
      g_value_set_uint (value, self->progress_interval);
      break;
    case PROP_PROGRESS:
      g_value_take_boxed (value, gst_embed_sink_progress_locked (self, g_get_monotonic_time (),
              FALSE));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_embed_sink_reset_progress (GstEmbedSink * self)
{
  GST_OBJECT_LOCK (self);
  self->docs_complete = self->docs_skipped = self->docs_unchanged = self->docs_deleted = 0;
  self->chunks = self->tokens = self->bytes_done = self->bytes_embedded = 0;
  self->total_docs = self->total_bytes = -1;
  self->t_start = self->t_last_report = 0;
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_embed_sink_start (GstBaseSink * sink)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);

  GST_OBJECT_LOCK (self);
  gchar *location = g_strdup (self->location);
  GstEmbedSinkFormat format = self->format;
  GST_OBJECT_UNLOCK (self);

  if (format == GST_EMBED_SINK_FORMAT_AUTO)
    format = location && (g_str_has_suffix (location, ".sqlite")
        || g_str_has_suffix (location, ".sqlite3") || g_str_has_suffix (location, ".db")) ?
        GST_EMBED_SINK_FORMAT_SQLITE : GST_EMBED_SINK_FORMAT_JSONL;
  self->eff_format = format;
  gst_embed_sink_reset_progress (self);
  self->n_written = 0;
  self->dim = 0;

  if (format == GST_EMBED_SINK_FORMAT_SQLITE) {
    GError *err = NULL;
    if (!location || !*location || g_str_equal (location, "-")) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("An SQLite store needs a location"),
          ("set location to the store's file name"));
      g_free (location);
      return FALSE;
    }
    g_mutex_lock (&self->store_lock);
    self->store = te_store_open (location, &err);
    g_mutex_unlock (&self->store_lock);
    if (!self->store) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, ("%s", err->message), (NULL));
      g_error_free (err);
      g_free (location);
      return FALSE;
    }
    g_free (location);
    return TRUE;
  }

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
  return TRUE;
}

/* The document transaction has ended: remember the ids seen meanwhile. Store lock held. */
static void
gst_embed_sink_flush_seen (GstEmbedSink * self)
{
  for (guint i = 0; self->store && i < self->pending_seen->len; i++) {
    GError *err = NULL;
    if (!te_store_mark_seen (self->store, g_ptr_array_index (self->pending_seen, i), &err)) {
      GST_WARNING_OBJECT (self, "could not remember \"%s\": %s",
          (const gchar *) g_ptr_array_index (self->pending_seen, i), err->message);
      g_error_free (err);
    }
  }
  g_ptr_array_set_size (self->pending_seen, 0);
}

/* Drop the open document (flush, stop, error): its transaction is rolled back. */
static void
gst_embed_sink_drop_document (GstEmbedSink * self)
{
  g_mutex_lock (&self->store_lock);
  if (self->store && self->doc_begun)
    te_store_doc_abort (self->store);
  self->doc_begun = FALSE;
  gst_embed_sink_flush_seen (self);
  self->doc_implicit = FALSE;
  g_clear_pointer (&self->doc, gst_structure_free);
  g_clear_pointer (&self->doc_vector, g_free);
  self->doc_chunks = self->doc_tokens = 0;
  g_mutex_unlock (&self->store_lock);
}

static gboolean
gst_embed_sink_stop (GstBaseSink * sink)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);
  gboolean ok = TRUE;

  gst_embed_sink_drop_document (self);
  g_mutex_lock (&self->store_lock);
  g_clear_pointer (&self->store, te_store_close);
  g_mutex_unlock (&self->store_lock);
  g_clear_pointer (&self->caps_fields, gst_structure_free);
  g_clear_pointer (&self->doc_identity, g_free);
  g_clear_pointer (&self->doc_vector, g_free);
  g_clear_pointer (&self->meta_model, g_free);
  g_clear_pointer (&self->model_dir, g_free);
  g_clear_pointer (&self->pooling, g_free);
  if (self->own_fd && self->fd >= 0) {
    if (close (self->fd) != 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, CLOSE, ("Error closing output: %s",
              g_strerror (errno)), (NULL));
      ok = FALSE;
    }
  }
  self->fd = -1;
  self->own_fd = FALSE;
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
  if (!gst_structure_get_int (s, "dimension", &self->dim) || self->dim <= 0)
    return FALSE;
  g_clear_pointer (&self->caps_fields, gst_structure_free);
  self->caps_fields = gst_structure_copy (s);
  gchar *identity = gst_text_embed_identity_from_structure (s);
  g_free (self->model_dir);
  self->model_dir = g_strdup (gst_structure_get_string (s, "model-dir"));
  g_free (self->pooling);
  self->pooling = g_strdup (gst_structure_get_string (s, "pooling"));
  self->normalized = FALSE;
  gst_structure_get_boolean (s, "normalized", &self->normalized);
  self->meta_dirty = TRUE;
  GST_INFO_OBJECT (self, "%d dimensions, identity %s", self->dim,
      identity ? identity : "(none)");
  g_free (identity);
  return TRUE;
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

/* ---- progress ------------------------------------------------------------------------------ */

/* The progress fields (see the SECTION doc). Object lock held. */
static GstStructure *
gst_embed_sink_progress_locked (GstEmbedSink * self, gint64 now, gboolean final)
{
  gdouble elapsed = self->t_start ? (now - self->t_start) / 1e6 : 0.0;
  guint64 done = self->docs_complete + self->docs_skipped + self->docs_unchanged;
  guint64 embedded_docs = self->docs_complete + self->docs_skipped;
  gdouble eta = -1.0;
  if (elapsed > 0 && self->total_bytes > 0 && self->bytes_embedded > 0) {
    gdouble left = (gdouble) self->total_bytes - (gdouble) self->bytes_done;
    eta = MAX (left, 0.0) / (self->bytes_embedded / elapsed);
  } else if (elapsed > 0 && self->total_docs > 0 && embedded_docs > 0) {
    gdouble left = (gdouble) self->total_docs - (gdouble) done;
    eta = MAX (left, 0.0) / (embedded_docs / elapsed);
  }
  if (final)
    eta = 0.0;
  return gst_structure_new ("textembed-progress",
      "documents-done", G_TYPE_UINT64, done,
      "documents-complete", G_TYPE_UINT64, self->docs_complete,
      "documents-skipped", G_TYPE_UINT64, self->docs_skipped,
      "documents-unchanged", G_TYPE_UINT64, self->docs_unchanged,
      "documents-deleted", G_TYPE_UINT64, self->docs_deleted,
      "documents-total", G_TYPE_INT64, self->total_docs,
      "chunks", G_TYPE_UINT64, self->chunks,
      "tokens", G_TYPE_UINT64, self->tokens,
      "bytes-done", G_TYPE_UINT64, self->bytes_done,
      "bytes-total", G_TYPE_INT64, self->total_bytes,
      "elapsed", G_TYPE_DOUBLE, elapsed,
      "documents-per-second", G_TYPE_DOUBLE, elapsed > 0 ? embedded_docs / elapsed : 0.0,
      "tokens-per-second", G_TYPE_DOUBLE, elapsed > 0 ? self->tokens / elapsed : 0.0,
      "eta", G_TYPE_DOUBLE, eta, "final", G_TYPE_BOOLEAN, final, NULL);
}

static void
gst_embed_sink_post_progress (GstEmbedSink * self, gboolean final)
{
  gint64 now = g_get_monotonic_time ();
  GST_OBJECT_LOCK (self);
  if (!final) {
    if (self->progress_interval == 0 || self->t_start == 0
        || now - self->t_last_report < (gint64) self->progress_interval * 1000) {
      GST_OBJECT_UNLOCK (self);
      return;
    }
  }
  self->t_last_report = now;
  GstStructure *s = gst_embed_sink_progress_locked (self, now, final);
  GST_OBJECT_UNLOCK (self);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static void
gst_embed_sink_progress_start (GstEmbedSink * self)
{
  GST_OBJECT_LOCK (self);
  if (self->t_start == 0)
    self->t_start = self->t_last_report = g_get_monotonic_time ();
  GST_OBJECT_UNLOCK (self);
}

/* ---- SQLite -------------------------------------------------------------------------------- */

static GstFlowReturn
gst_embed_sink_store_error (GstEmbedSink * self, const gchar * what, GError * err)
{
  GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not %s: %s", what, err->message),
      ("the store keeps every document committed before this one"));
  g_error_free (err);
  return GST_FLOW_ERROR;
}

/* Store-wide settings from the caps, before a document's transaction opens. Store lock held. */
static gboolean
gst_embed_sink_store_meta (GstEmbedSink * self, GError ** error)
{
  /* the embeddings te-search compares queries with: the latest document's identity */
  if (self->doc_identity && g_strcmp0 (self->meta_model, self->doc_identity) != 0) {
    gchar *old = te_store_get_meta (self->store, "model");
    gboolean same = g_strcmp0 (old, self->doc_identity) == 0;
    g_free (old);
    if (!same && !te_store_set_meta (self->store, "model", self->doc_identity, error))
      return FALSE;
    g_free (self->meta_model);
    self->meta_model = g_strdup (self->doc_identity);
  }
  if (!self->meta_dirty)
    return TRUE;
  gchar *dims = g_strdup_printf ("%d", self->dim);
  gboolean ok = te_store_set_meta (self->store, "dims", dims, error);
  g_free (dims);

  if (ok && self->model_dir)
    ok = te_store_set_meta (self->store, "model_dir", self->model_dir, error);
  if (ok && self->pooling)
    ok = te_store_set_meta (self->store, "pooling", self->pooling, error);
  if (ok)
    ok = te_store_set_meta (self->store, "normalized", self->normalized ? "true" : "false",
        error);
  self->meta_dirty = !ok;
  return ok;
}

static gint64
structure_int64 (const GstStructure * s, const gchar * field, gint64 fallback)
{
  gint64 v;
  return s && gst_structure_get_int64 (s, field, &v) ? v : fallback;
}

/* Commit the open document as complete, or (with @reason) write it as skipped. Store lock held.
 * @end: the document-end fields (may be NULL for implicit framing). */
static GstFlowReturn
gst_embed_sink_store_finish (GstEmbedSink * self, const GstStructure * end, const gchar * reason)
{
  GError *err = NULL;
  const GstStructure *start = self->doc;
  /* the document's vector, if one came, is this document's only */
  g_autofree float *doc_vector = g_steal_pointer (&self->doc_vector);
  const gchar *id = start ? gst_structure_get_string (start, "id") : NULL;
  if (!id && end)
    id = gst_structure_get_string (end, "id");
  if (!id)
    return GST_FLOW_OK;
  const gchar *hash = end ? gst_structure_get_string (end, "hash") : NULL;
  if (!hash && start)
    hash = gst_structure_get_string (start, "hash");
  guint64 bytes = 0;
  gint64 size = structure_int64 (start, "size", -1);
  if (size < 0 && end && gst_structure_get_uint64 (end, "bytes", &bytes))
    size = (gint64) bytes;
  if (!reason && self->doc_chunks == 0)
    reason = "no chunks";
  gboolean keep_previous = FALSE;
  if (reason && end)
    gst_structure_get_boolean (end, "keep-previous", &keep_previous);
  if (keep_previous) {
    /* could not be read this time: what the store has for it stays (it is still part of the
     * corpus); a document the store does not have gets its skipped row */
    TeStoreDoc old;
    if (self->doc_begun)
      te_store_doc_abort (self->store);
    self->doc_begun = FALSE;
    gst_embed_sink_flush_seen (self);
    if (te_store_get_doc (self->store, id, &old, NULL)) {
      te_store_doc_clear (&old);
      if (!te_store_mark_seen (self->store, id, &err))
        return gst_embed_sink_store_error (self, "remember the document", err);
      GST_INFO_OBJECT (self, "document \"%s\" unreadable now (%s): its stored rows stay", id,
          reason);
      GST_OBJECT_LOCK (self);
      self->docs_skipped++;
      GST_OBJECT_UNLOCK (self);
      return GST_FLOW_OK;
    }
  }
  TeStoreDoc doc = {
    .id = id,
    .path = start ? gst_structure_get_string (start, "path") : NULL,
    .size = size,
    .mtime = structure_int64 (start, "mtime", -1),
    .hash = hash,
    .model = reason ? NULL : self->doc_identity,
    .dims = reason ? 0 : (guint) self->dim,
    .prompt = start ? gst_structure_get_string (start, "prompt") : NULL,
    .status = reason ? TE_DOC_SKIPPED : TE_DOC_COMPLETE,
    .reason = reason,
    .n_chunks = reason ? 0 : self->doc_chunks,
    .n_tokens = reason ? 0 : self->doc_tokens,
    .embedding = reason ? NULL : doc_vector,
  };
  gboolean ok;
  if (reason) {
    if (self->doc_begun)
      te_store_doc_abort (self->store);
    ok = te_store_put_doc (self->store, &doc, &err);
  } else {
    ok = te_store_doc_commit (self->store, &doc, &err);
  }
  self->doc_begun = FALSE;
  gst_embed_sink_flush_seen (self);
  if (!ok)
    return gst_embed_sink_store_error (self, "write the document", err);
  GST_DEBUG_OBJECT (self, "document \"%s\" %s: %" G_GUINT64_FORMAT " chunks", id,
      reason ? "skipped" : "committed", doc.n_chunks);
  GST_OBJECT_LOCK (self);
  if (reason) {
    self->docs_skipped++;
  } else {
    self->docs_complete++;
    self->chunks += doc.n_chunks;
    self->tokens += doc.n_tokens;
  }
  if (size > 0) {
    self->bytes_done += size;
    self->bytes_embedded += size;
  }
  GST_OBJECT_UNLOCK (self);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_embed_sink_render_sqlite (GstEmbedSink * self, GstBuffer * buf, GstTextChunkMeta * m,
    gboolean include_text)
{
  GError *err = NULL;
  GstFlowReturn ret = GST_FLOW_OK;

  if (!m) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Embedding without chunk metadata"),
        ("a store needs each chunk's document and index (GstTextChunkMeta)"));
    return GST_FLOW_ERROR;
  }
  gst_embed_sink_progress_start (self);
  g_mutex_lock (&self->store_lock);
  const gchar *open_id = self->doc ? gst_structure_get_string (self->doc, "id") : NULL;
  if (m->kind == GST_TEXT_CHUNK_KIND_DOCUMENT) {
    /* the document vector: written in its row when the document commits */
    if (!self->doc_begun || g_strcmp0 (open_id, m->doc_id) != 0) {
      g_mutex_unlock (&self->store_lock);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Document vector of \"%s\" outside its "
              "document (%s)", m->doc_id, open_id ? open_id : "none open"),
          ("embedpooler sends it after the document's chunks, before its end"));
      return GST_FLOW_ERROR;
    }
    g_free (self->doc_vector);
    self->doc_vector = g_new (float, self->dim);
    gst_buffer_extract (buf, 0, self->doc_vector, (gsize) self->dim * sizeof (float));
    g_mutex_unlock (&self->store_lock);
    return GST_FLOW_OK;
  }
  if (open_id && g_strcmp0 (open_id, m->doc_id) != 0) {
    if (!self->doc_implicit) {
      g_mutex_unlock (&self->store_lock);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Chunk of \"%s\" inside document \"%s\"",
              m->doc_id, open_id), (NULL));
      return GST_FLOW_ERROR;
    }
    /* implicit framing: a new id ends the previous document */
    ret = gst_embed_sink_store_finish (self, NULL, NULL);
    g_clear_pointer (&self->doc, gst_structure_free);
    open_id = NULL;
  }
  if (ret == GST_FLOW_OK && !self->doc) {
    /* no document events (a pipeline without textchunker): frame by the meta's id */
    self->doc = gst_structure_new (GST_TEXT_EMBED_DOCUMENT_START, "id", G_TYPE_STRING,
        m->doc_id, NULL);
    self->doc_implicit = TRUE;
    self->doc_chunks = self->doc_tokens = 0;
  }
  if (ret == GST_FLOW_OK && !self->doc_begun) {
    /* the identity as the document-status query composes it: the caps' fields and the
     * chunker's settings, through the one formatter */
    const gchar *chunking = gst_structure_get_string (self->doc, "chunking");
    GstStructure *fields = gst_structure_copy (self->caps_fields);
    if (chunking)
      gst_structure_set (fields, "chunking", G_TYPE_STRING, chunking, NULL);
    g_free (self->doc_identity);
    self->doc_identity = gst_text_embed_identity_from_structure (fields);
    gst_structure_free (fields);
    if (!gst_embed_sink_store_meta (self, &err)
        || !te_store_doc_begin (self->store, m->doc_id, &err))
      ret = gst_embed_sink_store_error (self, "begin the document", err);
    else
      self->doc_begun = TRUE;
  }
  if (ret == GST_FLOW_OK) {
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    TeStoreChunk chunk = {
      .index = m->index, .start = m->start, .end = m->end,
      .pts = GST_BUFFER_PTS_IS_VALID (buf) ? (gint64) GST_BUFFER_PTS (buf) : -1,
      .duration = GST_BUFFER_DURATION_IS_VALID (buf) ? (gint64) GST_BUFFER_DURATION (buf) : -1,
      .n_tokens = m->n_tokens,
      .text = include_text ? m->text : NULL, .text_len = include_text ? m->text_len : 0,
      .embedding = (const float *) map.data, .dims = (guint) self->dim,
    };
    if (!te_store_doc_add_chunk (self->store, &chunk, &err))
      ret = gst_embed_sink_store_error (self, "write a chunk", err);
    gst_buffer_unmap (buf, &map);
  }
  if (ret == GST_FLOW_OK) {
    self->doc_chunks++;
    self->doc_tokens += m->n_tokens;
  }
  g_mutex_unlock (&self->store_lock);
  if (ret == GST_FLOW_OK) {
    /* chunks and tokens count in the progress once their document commits */
    self->n_written++;
    gst_embed_sink_post_progress (self, FALSE);
  }
  return ret;
}

/* ---- rendering ----------------------------------------------------------------------------- */

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

  /* no NaN or infinity reaches either output */
  gst_buffer_map (buf, &map, GST_MAP_READ);
  const float *vals = (const float *) map.data;
  for (gint i = 0; i < self->dim; i++) {
    if (!isfinite (vals[i])) {
      gst_buffer_unmap (buf, &map);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Embedding %" G_GUINT64_FORMAT " of \"%s\" has "
              "a non-finite value at %d; refusing to write it", m ? m->index : 0,
              m ? m->doc_id : "?", i), (NULL));
      return GST_FLOW_ERROR;
    }
  }
  gst_buffer_unmap (buf, &map);

  if (self->eff_format == GST_EMBED_SINK_FORMAT_SQLITE)
    return gst_embed_sink_render_sqlite (self, buf, m, include_text);
  gst_embed_sink_progress_start (self);

  g_string_truncate (l, 0);
  g_string_append (l, "{\"doc\":");
  if (m)
    append_json_string (l, m->doc_id, strlen (m->doc_id));
  else
    g_string_append (l, "null");
  gboolean is_doc = m && m->kind == GST_TEXT_CHUNK_KIND_DOCUMENT;
  if (is_doc)
    g_string_append_printf (l, ",\"kind\":\"document\",\"chunks\":%" G_GUINT64_FORMAT
        ",\"start\":%" G_GUINT64_FORMAT ",\"end\":%" G_GUINT64_FORMAT ",\"tokens\":%u",
        m->index, m->start, m->end, m->n_tokens);
  else if (m)
    g_string_append_printf (l, ",\"index\":%" G_GUINT64_FORMAT ",\"start\":%" G_GUINT64_FORMAT
        ",\"end\":%" G_GUINT64_FORMAT ",\"tokens\":%u", m->index, m->start, m->end,
        m->n_tokens);
  if (m && m->span_n > 0)
    g_string_append_printf (l, ",\"window\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]",
        m->window_start, m->window_end);
  if (GST_BUFFER_PTS_IS_VALID (buf))
    g_string_append_printf (l, ",\"pts\":%" G_GUINT64_FORMAT, GST_BUFFER_PTS (buf));
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    g_string_append_printf (l, ",\"duration\":%" G_GUINT64_FORMAT, GST_BUFFER_DURATION (buf));
  if (include_text && m && !is_doc) {
    g_string_append (l, ",\"text\":");
    append_json_string (l, m->text, m->text_len);
  }
  g_string_append (l, ",\"embedding\":[");
  gst_buffer_map (buf, &map, GST_MAP_READ);
  const float *v = (const float *) map.data;
  for (gint i = 0; i < self->dim; i++) {
    gchar num[G_ASCII_DTOSTR_BUF_SIZE];
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
  if (!is_doc) {
    GST_OBJECT_LOCK (self);
    self->chunks++;
    self->tokens += m ? m->n_tokens : 0;
    GST_OBJECT_UNLOCK (self);
  }
  gst_embed_sink_post_progress (self, FALSE);
  return GST_FLOW_OK;
}

/* JSON Lines: a document line {"doc": id, "<key>": value[, "<key2>": value2]}, written whole. */
static gboolean
gst_embed_sink_jsonl_doc_line (GstEmbedSink * self, const gchar * id, const gchar * key,
    const gchar * value, const gchar * key2, const gchar * value2)
{
  g_string_truncate (self->line, 0);
  g_string_append (self->line, "{\"doc\":");
  append_json_string (self->line, id, strlen (id));
  g_string_append_printf (self->line, ",\"%s\":", key);
  append_json_string (self->line, value, strlen (value));
  if (key2) {
    g_string_append_printf (self->line, ",\"%s\":", key2);
    append_json_string (self->line, value2, strlen (value2));
  }
  g_string_append (self->line, "}\n");
  if (!write_all (self->fd, self->line->str, self->line->len)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not write: %s", g_strerror (errno)),
        (NULL));
    return FALSE;
  }
  return TRUE;
}

/* JSON Lines: a document with a prompt starts with a line naming it (once per document, before
 * its chunks; the chunk lines' "text" is the source text without it). */
static gboolean
gst_embed_sink_jsonl_prompt (GstEmbedSink * self, const gchar * id, const gchar * prompt)
{
  return gst_embed_sink_jsonl_doc_line (self, id, "prompt", prompt, NULL, NULL);
}

/* JSON Lines: a skipped document gets a status line. */
static gboolean
gst_embed_sink_jsonl_skipped (GstEmbedSink * self, const gchar * id, const gchar * reason)
{
  return gst_embed_sink_jsonl_doc_line (self, id, "status", "skipped", "reason", reason);
}

static gboolean
gst_embed_sink_document_event (GstEmbedSink * self, GstEvent * event)
{
  const GstStructure *st;
  gboolean ok = TRUE;

  if ((st = gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_START))) {
    gst_embed_sink_progress_start (self);
    GST_OBJECT_LOCK (self);
    gint64 v;
    if (gst_structure_get_int64 (st, "total-documents", &v))
      self->total_docs = v;
    if (gst_structure_get_int64 (st, "total-bytes", &v))
      self->total_bytes = v;
    GST_OBJECT_UNLOCK (self);
    g_mutex_lock (&self->store_lock);
    if (self->doc_implicit && self->store)
      ok = gst_embed_sink_store_finish (self, NULL, NULL) == GST_FLOW_OK;
    else if (self->doc_begun)
      te_store_doc_abort (self->store);   /* a start without end: upstream gave it up */
    self->doc_begun = FALSE;
    gst_embed_sink_flush_seen (self);
    self->doc_implicit = FALSE;
    g_clear_pointer (&self->doc, gst_structure_free);
    self->doc = gst_structure_copy (st);
    self->doc_chunks = self->doc_tokens = 0;
    g_mutex_unlock (&self->store_lock);
    const gchar *id = gst_structure_get_string (st, "id");
    const gchar *prompt = gst_structure_get_string (st, "prompt");
    if (ok && self->eff_format != GST_EMBED_SINK_FORMAT_SQLITE && id && prompt && *prompt)
      ok = gst_embed_sink_jsonl_prompt (self, id, prompt);
    return ok;
  }
  if ((st = gst_text_embed_event_get_document (event, GST_TEXT_EMBED_DOCUMENT_END))) {
    const gchar *status = gst_structure_get_string (st, "status");
    const gchar *reason = NULL;
    if (g_strcmp0 (status, "complete") != 0) {
      reason = gst_structure_get_string (st, "reason");
      if (!reason)
        reason = status ? status : "no status";
    }
    if (self->eff_format == GST_EMBED_SINK_FORMAT_SQLITE) {
      g_mutex_lock (&self->store_lock);
      ok = gst_embed_sink_store_finish (self, st, reason) == GST_FLOW_OK;
      g_clear_pointer (&self->doc, gst_structure_free);
      self->doc_chunks = self->doc_tokens = 0;
      g_mutex_unlock (&self->store_lock);
    } else {
      const gchar *id = gst_structure_get_string (st, "id");
      guint64 bytes = 0;
      gst_structure_get_uint64 (st, "bytes", &bytes);
      if (reason && id)
        ok = gst_embed_sink_jsonl_skipped (self, id, reason);
      GST_OBJECT_LOCK (self);
      if (reason)
        self->docs_skipped++;
      else
        self->docs_complete++;
      self->bytes_done += bytes;
      self->bytes_embedded += bytes;
      GST_OBJECT_UNLOCK (self);
    }
    gst_embed_sink_post_progress (self, FALSE);
    return ok;
  }
  if ((st = gst_text_embed_event_get_document (event, GST_TEXT_EMBED_CORPUS_END))) {
    if (self->eff_format != GST_EMBED_SINK_FORMAT_SQLITE)
      return TRUE;
    GError *err = NULL;
    guint64 n = 0;
    g_mutex_lock (&self->store_lock);
    ok = te_store_mark_unseen_deleted (self->store, &n, &err);
    g_mutex_unlock (&self->store_lock);
    if (!ok)
      return gst_embed_sink_store_error (self, "mark deleted documents", err) == GST_FLOW_OK;
    GST_INFO_OBJECT (self, "corpus complete: %" G_GUINT64_FORMAT " documents gone from it "
        "marked deleted", n);
    GST_OBJECT_LOCK (self);
    self->docs_deleted += n;
    GST_OBJECT_UNLOCK (self);
    return TRUE;
  }
  return TRUE;
}

static gboolean
gst_embed_sink_event (GstBaseSink * sink, GstEvent * event)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      if (!gst_embed_sink_document_event (self, event)) {
        gst_event_unref (event);
        return FALSE;
      }
      break;
    case GST_EVENT_EOS:
      if (self->eff_format == GST_EMBED_SINK_FORMAT_SQLITE) {
        g_mutex_lock (&self->store_lock);
        gboolean ok = TRUE;
        if (self->doc_implicit)
          ok = gst_embed_sink_store_finish (self, NULL, NULL) == GST_FLOW_OK;
        else if (self->doc_begun)
          te_store_doc_abort (self->store);     /* never ended: not complete */
        self->doc_begun = self->doc_implicit = FALSE;
        gst_embed_sink_flush_seen (self);
        g_clear_pointer (&self->doc, gst_structure_free);
        g_mutex_unlock (&self->store_lock);
        if (!ok) {
          gst_event_unref (event);
          return FALSE;
        }
      } else if (self->own_fd && self->fd >= 0) {
        if (fsync (self->fd) != 0 && errno != EINVAL)
          GST_ELEMENT_WARNING (self, RESOURCE, SYNC, ("Could not sync output: %s",
                  g_strerror (errno)), (NULL));
      }
      gst_embed_sink_post_progress (self, TRUE);
      break;
    case GST_EVENT_FLUSH_STOP:
      gst_embed_sink_drop_document (self);
      break;
    default:
      break;
  }
  return GST_BASE_SINK_CLASS (gst_embed_sink_parent_class)->event (sink, event);
}

/* corpussrc's "is this document already here?" */
static gboolean
gst_embed_sink_query (GstBaseSink * sink, GstQuery * query)
{
  GstEmbedSink *self = GST_EMBED_SINK (sink);
  GstStructure *s = gst_text_embed_query_get_document_status (query);

  if (!s)
    return GST_BASE_SINK_CLASS (gst_embed_sink_parent_class)->query (sink, query);
  if (self->eff_format != GST_EMBED_SINK_FORMAT_SQLITE)
    return FALSE;
  const gchar *id = gst_structure_get_string (s, "id");
  const gchar *hash = gst_structure_get_string (s, "hash");
  gchar *identity = gst_text_embed_identity_from_structure (s);
  gboolean current = FALSE;
  GError *err = NULL;
  g_mutex_lock (&self->store_lock);
  if (self->store && id) {
    if (self->doc_begun) {
      g_ptr_array_add (self->pending_seen, g_strdup (id));
    } else if (!te_store_mark_seen (self->store, id, &err)) {
      GST_WARNING_OBJECT (self, "could not remember \"%s\": %s", id, err->message);
      g_clear_error (&err);
    }
    current = hash && identity && te_store_doc_is_current (self->store, id, hash, identity);
  }
  g_mutex_unlock (&self->store_lock);
  GST_DEBUG_OBJECT (self, "document-status \"%s\" %s (identity %s): %s", id, hash,
      identity ? identity : "unknown", current ? "current" : "to embed");
  g_free (identity);
  gst_structure_set (s, "current", G_TYPE_BOOLEAN, current, NULL);
  if (current) {
    gint64 size = -1;
    gst_structure_get_int64 (s, "size", &size);
    gst_embed_sink_progress_start (self);
    GST_OBJECT_LOCK (self);
    self->docs_unchanged++;
    if (size > 0)
      self->bytes_done += size;
    GST_OBJECT_UNLOCK (self);
    gst_embed_sink_post_progress (self, FALSE);
  }
  return TRUE;
}
