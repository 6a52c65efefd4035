/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstcorpussrc.c — corpussrc element: a corpus of documents as one framed text stream. */
/**
 * SECTION:element-corpussrc
 * @title: corpussrc
 *
 * Reads many documents and sends them downstream one after the other as `text/x-raw,
 * format=utf8`, each between a "textembed/document-start" and a "textembed/document-end" event
 * (see gsttextembedmeta.h and docs/corpus.md), so that one pipeline embeds a whole corpus:
 * textchunker chunks each document on its own (indices and byte offsets restart, memory stays
 * flat however large a document is) and embedsink commits one document at a time.
 *
 * #GstCorpusSrc:location names the corpus, read as #GstCorpusSrc:format says:
 *
 * - `directory`: every regular file under the directory, recursively, in byte order of the
 *   path; the document id is the path relative to the directory (a file name byte that is not
 *   UTF-8 is written `\xHH` in ids and stored paths). Symbolic links to files are
 *   read; links to directories are not followed (no cycles).
 * - `list`: a file with one path per line (`-` reads the list from standard input); the id is
 *   the path as written.
 * - `jsonl`: JSON Lines, one document per line, BEIR's shape `{"_id": ..., "title": ...,
 *   "text": ...}` by default (#GstCorpusSrc:id-field, #GstCorpusSrc:title-field,
 *   #GstCorpusSrc:text-field); the document text is the title, a blank line, then the text
 *   (just the text when there is no title), and byte offsets count in that.
 *
 * #GstCorpusSrc:include and #GstCorpusSrc:exclude filter ids with shell globs;
 * #GstCorpusSrc:shard-index / #GstCorpusSrc:shard-count keep a deterministic subset (a hash of
 * the id), so that N processes embed N disjoint parts of one corpus.
 *
 * Every document is read twice: once to hash it (SHA-256), check that it is text and find the
 * first byte that is not UTF-8, then again to send it. Between the two, a "textembed/document-status"
 * query asks downstream whether it already holds the document with that hash and the same
 * embedding setup (embedsink with a store answers it); if so the document is not sent at all
 * (#GstCorpusSrc:resume). A document that cannot be read, is empty, or holds a NUL byte (binary)
 * is reported with a warning on the bus naming it and the reason, counted, and sent as a skipped
 * document (start and end, no text). A file that changes between the two reads ends as skipped.
 * When the cause is the reading, not the content (an I/O or permission error, a change during
 * the read), the end event says "keep-previous": a store keeps what it already has for it.
 * A directory entry that cannot be looked at (other than one that vanished) makes the listing
 * incomplete: then no corpus-end is sent.
 *
 * After the last document, when the whole listing could be read, a "textembed/corpus-end" event
 * tells a store that documents it holds and this run did not list are gone.
 *
 * Document-start events carry the totals of the listing (total-documents, total-bytes; a file
 * list read from standard input has none), from which embedsink's progress messages compute an
 * ETA.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 corpussrc location=/usr/share/doc include="*.txt,*.md" ! textchunker invalid-utf8=skip-document ! texttokenizer ! npuencoder ! embedpooler ! embedsink format=sqlite location=docs.sqlite
 * ]|
 * A BEIR corpus, shard 2 of 8:
 * |[
 * gst-launch-1.0 corpussrc location=corpus.jsonl shard-index=2 shard-count=8 ! textembed invalid-utf8=skip-document ! embedsink format=sqlite location=shard-2.sqlite
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "gstcorpussrc.h"
#include "gsttextembedmeta.h"
#include "te-common.h"
#include "te-json.h"
#include "te-utf8.h"

GST_DEBUG_CATEGORY_STATIC (gst_corpus_src_debug);
#define GST_CAT_DEFAULT gst_corpus_src_debug

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_FORMAT,
  PROP_INCLUDE,
  PROP_EXCLUDE,
  PROP_ID_FIELD,
  PROP_TITLE_FIELD,
  PROP_TEXT_FIELD,
  PROP_SHARD_INDEX,
  PROP_SHARD_COUNT,
  PROP_BLOCKSIZE,
  PROP_RESUME,
  PROP_COUNT_TOTAL,
  PROP_DOCUMENTS_LISTED,
  PROP_DOCUMENTS_SKIPPED,
  PROP_DOCUMENTS_UNCHANGED,
};

#define DEFAULT_FORMAT GST_CORPUS_SRC_FORMAT_AUTO
#define DEFAULT_ID_FIELD "_id"
#define DEFAULT_TITLE_FIELD "title"
#define DEFAULT_TEXT_FIELD "text"
#define DEFAULT_BLOCKSIZE 65536
#define DEFAULT_RESUME TRUE
#define DEFAULT_COUNT_TOTAL TRUE
/* deepest JSON Lines record accepted (BEIR records are 1 level deep) */
#define TE_CORPUS_JSON_MAX_DEPTH 64

/* One directory level of the walk: its sorted entries and where we are in them. */
typedef struct
{
  gchar *rel;                   /* relative path of the directory ("" for the root) */
  GPtrArray *names;             /* sorted entry names */
  guint next;
} WalkLevel;

/* A document as listed: a file (path) or a JSON Lines record (text). */
typedef struct
{
  gchar *id;
  gchar *path;                  /* file to read, NULL for jsonl */
  GBytes *text;                 /* jsonl: the document text */
  gchar *skip_reason;           /* listed but unusable (e.g. a jsonl line without text) */
} CorpusDoc;

struct _GstCorpusSrc
{
  GstElement parent;
  GstPad *srcpad;

  /* properties, under the object lock */
  gchar *location;
  GstCorpusSrcFormat format;
  gchar *include, *exclude;
  gchar *id_field, *title_field, *text_field;
  guint shard_index, shard_count;
  guint blocksize;
  gboolean resume;
  gboolean count_total;

  /* counters, atomic (read-only properties) */
  gint n_listed, n_skipped, n_unchanged;

  /* streaming state: set up in READY->PAUSED, then used only by the task */
  GstCorpusSrcFormat eff_format;
  gchar *root;                  /* directory (format directory) */
  gchar **includes, **excludes; /* compiled from the properties */
  GPtrArray *include_specs, *exclude_specs;
  GPtrArray *walk;              /* WalkLevel stack */
  FILE *list;                   /* list or jsonl input */
  gboolean list_is_stdin;
  GString *stdin_buf;           /* list on stdin: bytes read, not yet returned as lines */
  gboolean stdin_eof;
  gboolean stopping;            /* the task was woken to stop: no corpus-end, no EOS */
  guint64 line_no;
  JsonParser *parser;
  gboolean started;             /* stream-start, caps and segment sent */
  gboolean listing_complete;    /* no listing error so far */
  gboolean counting;            /* the totals pass: its listing problems are reported later */
  guint64 seq;
  gint64 total_docs, total_bytes;
  guchar *block;
  gsize block_size;             /* blocksize when streaming started (the block's size) */
  int wake[2];                  /* self-pipe: stop a read of standard input (list on stdin) */
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

#define GST_TYPE_CORPUS_SRC_FORMAT (gst_corpus_src_format_get_type ())
static GType
gst_corpus_src_format_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_CORPUS_SRC_FORMAT_AUTO, "A directory is a tree, *.jsonl / *.ndjson is JSON Lines, "
          "anything else (and -) a file list", "auto"},
    {GST_CORPUS_SRC_FORMAT_DIRECTORY, "Every file under a directory, recursively", "directory"},
    {GST_CORPUS_SRC_FORMAT_LIST, "One path per line (- = standard input)", "list"},
    {GST_CORPUS_SRC_FORMAT_JSONL, "One JSON document per line ({\"_id\", \"title\", \"text\"})",
        "jsonl"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstCorpusSrcFormat", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE (GstCorpusSrc, gst_corpus_src, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (corpussrc, "corpussrc", GST_RANK_NONE, GST_TYPE_CORPUS_SRC);

static void gst_corpus_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_corpus_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_corpus_src_finalize (GObject * object);
static GstStateChangeReturn gst_corpus_src_change_state (GstElement * element,
    GstStateChange transition);
static gboolean gst_corpus_src_activate_mode (GstPad * pad, GstObject * parent,
    GstPadMode mode, gboolean active);
static gboolean gst_corpus_src_src_query (GstPad * pad, GstObject * parent, GstQuery * query);
static gboolean gst_corpus_src_src_event (GstPad * pad, GstObject * parent, GstEvent * event);
static void gst_corpus_src_loop (gpointer user_data);

guint
gst_corpus_src_shard_of (const gchar * id, guint shard_count)
{
  guint64 h = 0xcbf29ce484222325ULL;
  for (const guchar * p = (const guchar *) id; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  return shard_count > 1 ? (guint) (h % shard_count) : 0;
}

static void
gst_corpus_src_class_init (GstCorpusSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_corpus_src_debug, "corpussrc", 0, "Corpus of documents");

  gobject_class->set_property = gst_corpus_src_set_property;
  gobject_class->get_property = gst_corpus_src_get_property;
  gobject_class->finalize = gst_corpus_src_finalize;

  /**
   * GstCorpusSrc:location:
   *
   * The corpus: a directory, a file list, a JSON Lines file, or `-` for a file list on
   * standard input.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Directory, file list, JSON Lines corpus, or - (file list on standard input)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:format:
   *
   * How #GstCorpusSrc:location is read; auto decides from what it is (a directory, a name
   * ending in .jsonl or .ndjson, else a file list).
   */
  g_object_class_install_property (gobject_class, PROP_FORMAT,
      g_param_spec_enum ("format", "Format", "How location is read",
          GST_TYPE_CORPUS_SRC_FORMAT, DEFAULT_FORMAT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:include:
   *
   * Comma-separated shell globs (`*`, `?`; `*` also matches `/`) over document ids; only
   * matching documents are read. NULL or empty: all. A glob without `/` is matched against
   * the id's last component as well, so `*.txt` finds text files at any depth.
   */
  g_object_class_install_property (gobject_class, PROP_INCLUDE,
      g_param_spec_string ("include", "Include", "Comma-separated globs of ids to read "
          "(NULL = all)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:exclude:
   *
   * Comma-separated shell globs over document ids to leave out (applied after include).
   */
  g_object_class_install_property (gobject_class, PROP_EXCLUDE,
      g_param_spec_string ("exclude", "Exclude", "Comma-separated globs of ids to leave out",
          NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:id-field:
   *
   * JSON Lines: member holding the document id (a string or a number).
   */
  g_object_class_install_property (gobject_class, PROP_ID_FIELD,
      g_param_spec_string ("id-field", "Id field", "JSON Lines member with the document id",
          DEFAULT_ID_FIELD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:title-field:
   *
   * JSON Lines: member holding the title (optional in each record; empty string = no title).
   */
  g_object_class_install_property (gobject_class, PROP_TITLE_FIELD,
      g_param_spec_string ("title-field", "Title field",
          "JSON Lines member with the title (\"\" = none)", DEFAULT_TITLE_FIELD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:text-field:
   *
   * JSON Lines: member holding the document text (required in each record).
   */
  g_object_class_install_property (gobject_class, PROP_TEXT_FIELD,
      g_param_spec_string ("text-field", "Text field", "JSON Lines member with the text",
          DEFAULT_TEXT_FIELD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:shard-index:
   *
   * Which shard to read, from 0 to #GstCorpusSrc:shard-count - 1: the documents whose id
   * hashes (FNV-1a 64) to it modulo the shard count.
   */
  g_object_class_install_property (gobject_class, PROP_SHARD_INDEX,
      g_param_spec_uint ("shard-index", "Shard index", "Shard to read (0 .. shard-count - 1)",
          0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:shard-count:
   *
   * Number of shards the corpus is split into; 1 reads everything.
   */
  g_object_class_install_property (gobject_class, PROP_SHARD_COUNT,
      g_param_spec_uint ("shard-count", "Shard count", "Shards the corpus is split into",
          1, G_MAXINT, 1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:blocksize:
   *
   * Bytes per output buffer.
   */
  g_object_class_install_property (gobject_class, PROP_BLOCKSIZE,
      g_param_spec_uint ("blocksize", "Block size", "Bytes per output buffer", 1,
          64 * 1024 * 1024, DEFAULT_BLOCKSIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:resume:
   *
   * Ask downstream (a "textembed/document-status" query, answered by embedsink with a store)
   * whether it already holds each document with the same content hash and embedding setup,
   * and skip those.
   */
  g_object_class_install_property (gobject_class, PROP_RESUME,
      g_param_spec_boolean ("resume", "Resume",
          "Skip documents downstream already holds with the same hash and model",
          DEFAULT_RESUME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:count-total:
   *
   * List the corpus once before reading it, to put its totals (documents, bytes) in the
   * document events for progress and ETA. A file list on standard input is never counted.
   */
  g_object_class_install_property (gobject_class, PROP_COUNT_TOTAL,
      g_param_spec_boolean ("count-total", "Count total",
          "Count documents and bytes first, for progress and ETA", DEFAULT_COUNT_TOTAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  /**
   * GstCorpusSrc:documents-listed:
   *
   * Documents of this shard listed so far (read-only).
   */
  g_object_class_install_property (gobject_class, PROP_DOCUMENTS_LISTED,
      g_param_spec_int64 ("documents-listed", "Documents listed",
          "Documents of this shard listed so far", 0, G_MAXINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstCorpusSrc:documents-skipped:
   *
   * Documents reported and skipped: unreadable, empty, binary, changed while read (read-only).
   */
  g_object_class_install_property (gobject_class, PROP_DOCUMENTS_SKIPPED,
      g_param_spec_int64 ("documents-skipped", "Documents skipped",
          "Documents skipped as unreadable, empty or binary", 0, G_MAXINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstCorpusSrc:documents-unchanged:
   *
   * Documents not sent because downstream already holds them (#GstCorpusSrc:resume; read-only).
   */
  g_object_class_install_property (gobject_class, PROP_DOCUMENTS_UNCHANGED,
      g_param_spec_int64 ("documents-unchanged", "Documents unchanged",
          "Documents downstream already held (not sent)", 0, G_MAXINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Corpus source",
      "Source/File/Text", "Reads a directory tree, a file list or a JSON Lines corpus as "
      "documents framed for textchunker", "gst-textembed developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_corpus_src_change_state);
}

static void
gst_corpus_src_init (GstCorpusSrc * self)
{
  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_activatemode_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_corpus_src_activate_mode));
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_corpus_src_src_query));
  gst_pad_set_event_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_corpus_src_src_event));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->format = DEFAULT_FORMAT;
  self->id_field = g_strdup (DEFAULT_ID_FIELD);
  self->title_field = g_strdup (DEFAULT_TITLE_FIELD);
  self->text_field = g_strdup (DEFAULT_TEXT_FIELD);
  self->shard_count = 1;
  self->blocksize = DEFAULT_BLOCKSIZE;
  self->resume = DEFAULT_RESUME;
  self->count_total = DEFAULT_COUNT_TOTAL;
  self->walk = g_ptr_array_new ();
  self->wake[0] = self->wake[1] = -1;
}

static void
gst_corpus_src_finalize (GObject * object)
{
  GstCorpusSrc *self = GST_CORPUS_SRC (object);
  g_free (self->location);
  g_free (self->include);
  g_free (self->exclude);
  g_free (self->id_field);
  g_free (self->title_field);
  g_free (self->text_field);
  g_ptr_array_unref (self->walk);
  G_OBJECT_CLASS (gst_corpus_src_parent_class)->finalize (object);
}

static void
replace_string (gchar ** field, const GValue * value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

static void
gst_corpus_src_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstCorpusSrc *self = GST_CORPUS_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      replace_string (&self->location, value);
      break;
    case PROP_FORMAT:
      self->format = g_value_get_enum (value);
      break;
    case PROP_INCLUDE:
      replace_string (&self->include, value);
      break;
    case PROP_EXCLUDE:
      replace_string (&self->exclude, value);
      break;
    case PROP_ID_FIELD:
      replace_string (&self->id_field, value);
      break;
    case PROP_TITLE_FIELD:
      replace_string (&self->title_field, value);
      break;
    case PROP_TEXT_FIELD:
      replace_string (&self->text_field, value);
      break;
    case PROP_SHARD_INDEX:
      self->shard_index = g_value_get_uint (value);
      break;
    case PROP_SHARD_COUNT:
      self->shard_count = g_value_get_uint (value);
      break;
    case PROP_BLOCKSIZE:
      self->blocksize = g_value_get_uint (value);
      break;
    case PROP_RESUME:
      self->resume = g_value_get_boolean (value);
      break;
    case PROP_COUNT_TOTAL:
      self->count_total = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_corpus_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstCorpusSrc *self = GST_CORPUS_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_FORMAT:
      g_value_set_enum (value, self->format);
      break;
    case PROP_INCLUDE:
      g_value_set_string (value, self->include);
      break;
    case PROP_EXCLUDE:
      g_value_set_string (value, self->exclude);
      break;
    case PROP_ID_FIELD:
      g_value_set_string (value, self->id_field);
      break;
    case PROP_TITLE_FIELD:
      g_value_set_string (value, self->title_field);
      break;
    case PROP_TEXT_FIELD:
      g_value_set_string (value, self->text_field);
      break;
    case PROP_SHARD_INDEX:
      g_value_set_uint (value, self->shard_index);
      break;
    case PROP_SHARD_COUNT:
      g_value_set_uint (value, self->shard_count);
      break;
    case PROP_BLOCKSIZE:
      g_value_set_uint (value, self->blocksize);
      break;
    case PROP_RESUME:
      g_value_set_boolean (value, self->resume);
      break;
    case PROP_COUNT_TOTAL:
      g_value_set_boolean (value, self->count_total);
      break;
    case PROP_DOCUMENTS_LISTED:
      g_value_set_int64 (value, g_atomic_int_get (&self->n_listed));
      break;
    case PROP_DOCUMENTS_SKIPPED:
      g_value_set_int64 (value, g_atomic_int_get (&self->n_skipped));
      break;
    case PROP_DOCUMENTS_UNCHANGED:
      g_value_set_int64 (value, g_atomic_int_get (&self->n_unchanged));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- selection: globs and shards ------------------------------------------------------------ */

static GPtrArray *
compile_globs (const gchar * list)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_pattern_spec_free);
  if (!list)
    return specs;
  gchar **parts = g_strsplit (list, ",", -1);
  for (gchar ** p = parts; *p; p++) {
    gchar *g = g_strstrip (*p);
    if (*g)
      g_ptr_array_add (specs, g_pattern_spec_new (g));
  }
  g_strfreev (parts);
  return specs;
}

static gboolean
globs_match (GPtrArray * specs, const gchar * id)
{
  const gchar *base = strrchr (id, '/');
  base = base ? base + 1 : id;
  for (guint i = 0; i < specs->len; i++) {
    GPatternSpec *spec = g_ptr_array_index (specs, i);
    if (g_pattern_spec_match_string (spec, id) || g_pattern_spec_match_string (spec, base))
      return TRUE;
  }
  return FALSE;
}

static gboolean
gst_corpus_src_selected (GstCorpusSrc * self, const gchar * id)
{
  if (self->include_specs->len > 0 && !globs_match (self->include_specs, id))
    return FALSE;
  if (self->exclude_specs->len > 0 && globs_match (self->exclude_specs, id))
    return FALSE;
  return gst_corpus_src_shard_of (id, self->shard_count) == self->shard_index;
}

/* ---- listing ------------------------------------------------------------------------------- */

/* File names need not be UTF-8, ids and stored paths must be: a byte that is not part of valid
 * UTF-8 is written "\\xHH". Newly allocated. */
static gchar *
utf8_name (const gchar * name)
{
  if (g_utf8_validate (name, -1, NULL))
    return g_strdup (name);
  GString *out = g_string_new (NULL);
  const gchar *p = name;
  while (*p) {
    const gchar *end;
    if (g_utf8_validate (p, -1, &end)) {
      g_string_append (out, p);
      break;
    }
    g_string_append_len (out, p, end - p);
    g_string_append_printf (out, "\\x%02X", (guchar) * end);
    p = end + 1;
  }
  return g_string_free (out, FALSE);
}

static void
corpus_doc_clear (CorpusDoc * doc)
{
  g_clear_pointer (&doc->id, g_free);
  g_clear_pointer (&doc->path, g_free);
  g_clear_pointer (&doc->text, g_bytes_unref);
  g_clear_pointer (&doc->skip_reason, g_free);
}

static void
walk_level_free (WalkLevel * level)
{
  g_free (level->rel);
  g_ptr_array_unref (level->names);
  g_free (level);
}

/* Entries sort by their sort key: the name, with "/" appended for a directory, so that a
 * depth-first walk lists paths in plain byte order ("b-x" < "b.txt" < "b/c" < "b0"). */
static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* Push a directory level onto @walk; FALSE (with a warning) if it cannot be listed. */
static gboolean
walk_push (GstCorpusSrc * self, GPtrArray * walk, const gchar * root, const gchar * rel)
{
  gchar *full = *rel ? g_build_filename (root, rel, NULL) : g_strdup (root);
  GError *err = NULL;
  GDir *dir = g_dir_open (full, 0, &err);
  if (!dir) {
    if (!self->counting)
      GST_ELEMENT_WARNING (self, RESOURCE, READ, ("Cannot list directory \"%s\": %s; the "
              "corpus listing is incomplete, so no document is marked deleted in this run", full,
              err->message), (NULL));
    g_error_free (err);
    g_free (full);
    self->listing_complete = FALSE;
    return FALSE;
  }
  WalkLevel *level = g_new0 (WalkLevel, 1);
  level->rel = g_strdup (rel);
  level->names = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;
  while ((name = g_dir_read_name (dir))) {
    gchar *child = g_build_filename (full, name, NULL);
    struct stat lst;
    gboolean is_dir = lstat (child, &lst) == 0 && S_ISDIR (lst.st_mode);
    g_free (child);
    g_ptr_array_add (level->names, g_strconcat (name, is_dir ? "/" : "", NULL));
  }
  g_dir_close (dir);
  g_ptr_array_sort (level->names, compare_names);
  g_ptr_array_add (walk, level);
  g_free (full);
  return TRUE;
}

/* Next regular file of the tree (relative path in *@rel, size in *@size), depth first in byte
 * order; FALSE at the end. */
static gboolean
walk_next (GstCorpusSrc * self, GPtrArray * walk, const gchar * root, gchar ** rel,
    gint64 * size)
{
  while (walk->len > 0) {
    WalkLevel *level = g_ptr_array_index (walk, walk->len - 1);
    if (level->next >= level->names->len) {
      walk_level_free (level);
      g_ptr_array_remove_index (walk, walk->len - 1);
      continue;
    }
    const gchar *key = g_ptr_array_index (level->names, level->next++);
    gsize klen = strlen (key);
    gchar *name = g_strndup (key, klen > 0 && key[klen - 1] == '/' ? klen - 1 : klen);
    gchar *r = *level->rel ? g_strconcat (level->rel, "/", name, NULL) : g_strdup (name);
    g_free (name);
    gchar *full = g_build_filename (root, r, NULL);
    struct stat lst, st;
    if (lstat (full, &lst) != 0) {
      if (errno != ENOENT) {
        /* e.g. a directory we may list but not search: its documents are not gone, so the
         * listing is incomplete and nothing may be marked deleted */
        if (!self->counting)
          GST_ELEMENT_WARNING (self, RESOURCE, READ, ("Cannot look at \"%s\": %s; the corpus "
                  "listing is incomplete, so no document is marked deleted in this run", full,
                  g_strerror (errno)), (NULL));
        self->listing_complete = FALSE;
      }
      g_free (full);
      g_free (r);
      continue;                 /* vanished since the listing */
    }
    if (S_ISDIR (lst.st_mode)) {
      walk_push (self, walk, root, r);
      g_free (full);
      g_free (r);
      continue;
    }
    /* regular files, and links to regular files; not directories behind links, devices... */
    if (S_ISREG (lst.st_mode) || (S_ISLNK (lst.st_mode) && stat (full, &st) == 0
            && S_ISREG (st.st_mode))) {
      if (S_ISLNK (lst.st_mode))
        lst = st;
      *size = lst.st_size;
      g_free (full);
      *rel = r;
      return TRUE;
    }
    g_free (full);
    g_free (r);
  }
  return FALSE;
}

/* One line of @f without its newline (or CR LF), or NULL at the end. */
static gchar *
read_line (FILE * f)
{
  char *buf = NULL;
  size_t cap = 0;
  ssize_t n = getline (&buf, &cap, f);
  if (n < 0) {
    free (buf);
    return NULL;
  }
  if (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  if (n > 0 && buf[n - 1] == '\r')
    buf[--n] = '\0';
  gchar *line = g_strndup (buf, n);
  free (buf);
  return line;
}

/* One line of standard input, or NULL at its end, on a read error (errno set) or when the
 * element is stopping (self->stopping). A read of stdin can block for ever (a slow `find`), so it
 * waits in poll() together with the wake-up pipe that deactivation writes to. */
static gchar *
stdin_read_line (GstCorpusSrc * self)
{
  for (;;) {
    gchar *nl = memchr (self->stdin_buf->str, '\n', self->stdin_buf->len);
    if (nl || (self->stdin_eof && self->stdin_buf->len > 0)) {
      gsize n = nl ? (gsize) (nl - self->stdin_buf->str) : self->stdin_buf->len;
      gchar *line = g_strndup (self->stdin_buf->str, n);
      g_string_erase (self->stdin_buf, 0, nl ? n + 1 : n);
      if (n > 0 && line[n - 1] == '\r')
        line[n - 1] = '\0';
      return line;
    }
    if (self->stdin_eof)
      return NULL;
    struct pollfd fds[2] = { {STDIN_FILENO, POLLIN, 0}, {self->wake[0], POLLIN, 0} };
    if (poll (fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return NULL;
    }
    if (fds[1].revents) {
      self->stopping = TRUE;
      return NULL;
    }
    gchar tmp[65536];
    ssize_t r = read (STDIN_FILENO, tmp, sizeof tmp);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return NULL;
    }
    if (r == 0)
      self->stdin_eof = TRUE;
    else
      g_string_append_len (self->stdin_buf, tmp, r);
  }
}

/* Does the JSON text hold an escaped NUL character (\u0000, not an escaped backslash followed by
 * "u0000")? json-glib's strings end at a NUL, so such a text would be cut short. */
static gboolean
json_has_nul (const gchar * line)
{
  for (const gchar * p = strstr (line, "u0000"); p; p = strstr (p + 1, "u0000")) {
    gsize backslashes = 0;
    for (const gchar * q = p; q > line && q[-1] == '\\'; q--)
      backslashes++;
    if (backslashes % 2 == 1)
      return TRUE;
  }
  return FALSE;
}

/* Parse one JSON Lines record into @doc. FALSE for a blank line. */
static gboolean
parse_jsonl_line (GstCorpusSrc * self, const gchar * line, CorpusDoc * doc)
{
  GError *err = NULL;
  if (!*g_strstrip ((gchar *) line))
    return FALSE;
  if (!te_json_nesting_ok (line, strlen (line), TE_CORPUS_JSON_MAX_DEPTH)) {
    /* json-glib's parser is recursive: hostile nesting would overflow the stack */
    doc->id = g_strdup_printf ("line %" G_GUINT64_FORMAT, self->line_no);
    doc->skip_reason = g_strdup_printf ("JSON nested more than %d levels deep",
        TE_CORPUS_JSON_MAX_DEPTH);
    return TRUE;
  }
  if (!json_parser_load_from_data (self->parser, line, -1, &err)) {
    doc->id = g_strdup_printf ("line %" G_GUINT64_FORMAT, self->line_no);
    doc->skip_reason = g_strdup_printf ("not JSON: %s", err->message);
    g_error_free (err);
    return TRUE;
  }
  JsonNode *root = json_parser_get_root (self->parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    doc->id = g_strdup_printf ("line %" G_GUINT64_FORMAT, self->line_no);
    doc->skip_reason = g_strdup ("not a JSON object");
    return TRUE;
  }
  JsonObject *obj = json_node_get_object (root);
  GST_OBJECT_LOCK (self);
  doc->id = te_json_id (obj, self->id_field);
  gchar *title = g_strdup (te_json_string (obj, self->title_field));
  gchar *text = g_strdup (te_json_string (obj, self->text_field));
  gchar *id_field = g_strdup (self->id_field), *text_field = g_strdup (self->text_field);
  GST_OBJECT_UNLOCK (self);
  if (!doc->id) {
    doc->id = g_strdup_printf ("line %" G_GUINT64_FORMAT, self->line_no);
    doc->skip_reason = g_strdup_printf ("no string or integer \"%s\" member", id_field);
  } else if (json_has_nul (line)) {
    doc->skip_reason = g_strdup ("binary (a NUL character, \\u0000, in the record)");
  } else if (!text) {
    doc->skip_reason = g_strdup_printf ("no string \"%s\" member", text_field);
  } else {
    gchar *full = title && *title ? g_strconcat (title, "\n\n", text, NULL) : g_strdup (text);
    gsize len = strlen (full);
    doc->text = g_bytes_new_take (full, len);
  }
  g_free (id_field);
  g_free (text_field);
  g_free (title);
  g_free (text);
  return TRUE;
}

/* The next selected document of the corpus, FALSE at the end. */
static gboolean
gst_corpus_src_next (GstCorpusSrc * self, CorpusDoc * doc)
{
  memset (doc, 0, sizeof (*doc));
  for (;;) {
    if (self->eff_format == GST_CORPUS_SRC_FORMAT_DIRECTORY) {
      gchar *rel = NULL;
      gint64 size;
      if (!walk_next (self, self->walk, self->root, &rel, &size))
        return FALSE;
      doc->id = utf8_name (rel);
      if (!gst_corpus_src_selected (self, doc->id)) {
        g_free (rel);
        corpus_doc_clear (doc);
        continue;
      }
      doc->path = g_build_filename (self->root, rel, NULL);
      g_free (rel);
      return TRUE;
    }
    errno = 0;
    gchar *line = self->list_is_stdin ? stdin_read_line (self) : read_line (self->list);
    if (!line) {
      if (self->stopping)
        return FALSE;
      if (self->list_is_stdin ? !self->stdin_eof : ferror (self->list)) {
        GST_ELEMENT_WARNING (self, RESOURCE, READ, ("Cannot read \"%s\": %s",
                self->list_is_stdin ? "standard input" : self->location, g_strerror (errno)),
            (NULL));
        self->listing_complete = FALSE;
      }
      return FALSE;
    }
    self->line_no++;
    if (self->eff_format == GST_CORPUS_SRC_FORMAT_LIST) {
      doc->id = utf8_name (line);
      if (!*line || !gst_corpus_src_selected (self, doc->id)) {
        g_free (line);
        corpus_doc_clear (doc);
        continue;
      }
      doc->path = line;
      return TRUE;
    }
    gboolean got = parse_jsonl_line (self, line, doc);
    g_free (line);
    if (!got)
      continue;
    if (!gst_corpus_src_selected (self, doc->id)) {
      corpus_doc_clear (doc);
      continue;
    }
    return TRUE;
  }
}

/* Totals of the listing (a second, cheap pass: names and sizes only). */
static void
gst_corpus_src_count (GstCorpusSrc * self)
{
  self->total_docs = 0;
  self->total_bytes = 0;
  if (self->eff_format == GST_CORPUS_SRC_FORMAT_DIRECTORY) {
    GPtrArray *walk = g_ptr_array_new ();
    gboolean complete = self->listing_complete;
    self->counting = TRUE;
    if (walk_push (self, walk, self->root, "")) {
      gchar *rel;
      gint64 size;
      while (walk_next (self, walk, self->root, &rel, &size)) {
        gchar *id = utf8_name (rel);
        gboolean selected = gst_corpus_src_selected (self, id);
        g_free (id);
        if (selected) {
          self->total_docs++;
          self->total_bytes += size;
        }
        g_free (rel);
      }
    }
    g_ptr_array_unref (walk);
    self->counting = FALSE;
    self->listing_complete = complete;  /* the real walk reports its own problems */
    return;
  }
  if (self->list_is_stdin) {
    self->total_docs = self->total_bytes = -1;
    return;
  }
  FILE *f = fopen (self->location, "rb");
  if (!f) {
    self->total_docs = self->total_bytes = -1;
    return;
  }
  gchar *line;
  guint64 saved_line = self->line_no;
  while ((line = read_line (f))) {
    self->line_no++;
    if (self->eff_format == GST_CORPUS_SRC_FORMAT_LIST) {
      GStatBuf st;
      gchar *id = utf8_name (line);
      gboolean selected = *line && gst_corpus_src_selected (self, id);
      g_free (id);
      if (selected) {
        self->total_docs++;
        if (g_stat (line, &st) == 0 && S_ISREG (st.st_mode))
          self->total_bytes += st.st_size;
      }
    } else {
      CorpusDoc doc;
      memset (&doc, 0, sizeof (doc));
      if (parse_jsonl_line (self, line, &doc) && gst_corpus_src_selected (self, doc.id)) {
        self->total_docs++;
        if (doc.text)
          self->total_bytes += g_bytes_get_size (doc.text);
      }
      corpus_doc_clear (&doc);
    }
    g_free (line);
  }
  self->line_no = saved_line;
  fclose (f);
}

/* ---- state ------------------------------------------------------------------------------- */

static gboolean
gst_corpus_src_open (GstCorpusSrc * self)
{
  GST_OBJECT_LOCK (self);
  gchar *location = g_strdup (self->location);
  GstCorpusSrcFormat format = self->format;
  self->include_specs = compile_globs (self->include);
  self->exclude_specs = compile_globs (self->exclude);
  guint shard_index = self->shard_index, shard_count = self->shard_count;
  GST_OBJECT_UNLOCK (self);

  if (!location || !*location) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No corpus given"),
        ("set location to a directory, a file list, a JSON Lines file or -"));
    g_free (location);
    return FALSE;
  }
  if (shard_index >= shard_count) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("shard-index=%u is not below shard-count=%u",
            shard_index, shard_count), (NULL));
    g_free (location);
    return FALSE;
  }
  gboolean is_dir = g_file_test (location, G_FILE_TEST_IS_DIR);
  if (format == GST_CORPUS_SRC_FORMAT_AUTO) {
    if (is_dir)
      format = GST_CORPUS_SRC_FORMAT_DIRECTORY;
    else if (g_str_has_suffix (location, ".jsonl") || g_str_has_suffix (location, ".ndjson"))
      format = GST_CORPUS_SRC_FORMAT_JSONL;
    else
      format = GST_CORPUS_SRC_FORMAT_LIST;
  }
  self->eff_format = format;
  self->listing_complete = TRUE;
  self->stopping = FALSE;
  self->line_no = 0;
  self->seq = 0;
  self->started = FALSE;
  g_atomic_int_set (&self->n_listed, 0);
  g_atomic_int_set (&self->n_skipped, 0);
  g_atomic_int_set (&self->n_unchanged, 0);

  if (format == GST_CORPUS_SRC_FORMAT_DIRECTORY) {
    if (!is_dir) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("\"%s\" is not a directory", location),
          (NULL));
      g_free (location);
      return FALSE;
    }
    self->root = location;
    if (!walk_push (self, self->walk, self->root, "")) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Cannot list directory \"%s\"",
              location), (NULL));
      return FALSE;
    }
  } else {
    self->list_is_stdin = format == GST_CORPUS_SRC_FORMAT_LIST && strcmp (location, "-") == 0;
    self->list = self->list_is_stdin ? stdin : fopen (location, "rb");
    if (self->list_is_stdin) {
      GError *perr = NULL;
      if (!g_unix_open_pipe (self->wake, FD_CLOEXEC, &perr)) {
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Cannot read standard input: %s",
                perr->message), (NULL));
        g_error_free (perr);
        g_free (location);
        return FALSE;
      }
      self->stdin_buf = g_string_new (NULL);
      self->stdin_eof = FALSE;
    }
    if (!self->list) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Cannot open \"%s\": %s", location,
              g_strerror (errno)), (NULL));
      g_free (location);
      return FALSE;
    }
    if (format == GST_CORPUS_SRC_FORMAT_JSONL)
      self->parser = json_parser_new_immutable ();
    g_free (location);
  }

  GST_OBJECT_LOCK (self);
  gboolean count = self->count_total;
  guint blocksize = self->blocksize;
  GST_OBJECT_UNLOCK (self);
  self->block_size = blocksize;
  self->block = g_malloc (blocksize);
  self->total_docs = self->total_bytes = -1;
  if (count)
    gst_corpus_src_count (self);
  GST_INFO_OBJECT (self, "corpus %s (%s), shard %u/%u: %" G_GINT64_FORMAT " documents, %"
      G_GINT64_FORMAT " bytes", self->root ? self->root : "list",
      format == GST_CORPUS_SRC_FORMAT_DIRECTORY ? "directory" :
      format == GST_CORPUS_SRC_FORMAT_JSONL ? "jsonl" : "list", shard_index, shard_count,
      self->total_docs, self->total_bytes);
  return TRUE;
}

static void
gst_corpus_src_close (GstCorpusSrc * self)
{
  while (self->walk->len > 0) {
    walk_level_free (g_ptr_array_index (self->walk, self->walk->len - 1));
    g_ptr_array_remove_index (self->walk, self->walk->len - 1);
  }
  g_clear_pointer (&self->root, g_free);
  if (self->list && !self->list_is_stdin)
    fclose (self->list);
  self->list = NULL;
  if (self->stdin_buf) {
    g_string_free (self->stdin_buf, TRUE);
    self->stdin_buf = NULL;
    close (self->wake[0]);
    close (self->wake[1]);
    self->wake[0] = self->wake[1] = -1;
  }
  g_clear_object (&self->parser);
  g_clear_pointer (&self->include_specs, g_ptr_array_unref);
  g_clear_pointer (&self->exclude_specs, g_ptr_array_unref);
  g_clear_pointer (&self->block, g_free);
}

static GstStateChangeReturn
gst_corpus_src_change_state (GstElement * element, GstStateChange transition)
{
  GstCorpusSrc *self = GST_CORPUS_SRC (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_corpus_src_open (self)) {
    gst_corpus_src_close (self);
    return GST_STATE_CHANGE_FAILURE;
  }
  ret = GST_ELEMENT_CLASS (gst_corpus_src_parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE && transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    gst_corpus_src_close (self);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    gst_corpus_src_close (self);        /* the pad is inactive: the task has stopped */
  return ret;
}

static gboolean
gst_corpus_src_activate_mode (GstPad * pad, GstObject * parent, GstPadMode mode,
    gboolean active)
{
  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  GstCorpusSrc *self = GST_CORPUS_SRC (parent);
  if (active)
    return gst_pad_start_task (pad, gst_corpus_src_loop, parent, NULL);
  /* a task waiting for a line of standard input must not keep us waiting */
  if (self->stdin_buf) {
    ssize_t w;
    do
      w = write (self->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
  }
  return gst_pad_stop_task (pad);
}

static gboolean
gst_corpus_src_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_SCHEDULING:
      gst_query_set_scheduling (query, GST_SCHEDULING_FLAG_SEQUENTIAL, 1, -1, 0);
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    case GST_QUERY_LATENCY:
      gst_query_set_latency (query, FALSE, 0, GST_CLOCK_TIME_NONE);
      return TRUE;
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_corpus_src_src_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEEK:
      /* a corpus is read once, front to back; resume replaces seeking */
      gst_event_unref (event);
      return FALSE;
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* ---- streaming ----------------------------------------------------------------------------- */

static void
push_document_event (GstCorpusSrc * self, GstStructure * s)
{
  gst_pad_push_event (self->srcpad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s));
}

/* A listed document that is not sent: warn, count, and frame it as skipped. @transient: the
 * document could not be read this time (an I/O error, it changed while read): a store keeps what
 * it has for it ("keep-previous" in the end event) rather than replace it with a skipped row. */
static void
gst_corpus_src_skip (GstCorpusSrc * self, const CorpusDoc * doc, gint64 size, gint64 mtime,
    const gchar * hash, const gchar * reason, gboolean transient)
{
  GST_ELEMENT_WARNING_WITH_DETAILS (self, RESOURCE, READ,
      ("Document \"%s\" skipped: %s", doc->id, reason), (NULL),
      ("document", G_TYPE_STRING, doc->id, "reason", G_TYPE_STRING, reason, NULL));
  g_atomic_int_inc (&self->n_skipped);
  GstStructure *start = gst_structure_new (GST_TEXT_EMBED_DOCUMENT_START,
      "id", G_TYPE_STRING, doc->id, "size", G_TYPE_INT64, size, "mtime", G_TYPE_INT64, mtime,
      "seq", G_TYPE_UINT64, self->seq, "total-documents", G_TYPE_INT64, self->total_docs,
      "total-bytes", G_TYPE_INT64, self->total_bytes, NULL);
  if (doc->path) {
    gchar *p = utf8_name (doc->path);
    gst_structure_set (start, "path", G_TYPE_STRING, p, NULL);
    g_free (p);
  }
  if (hash)
    gst_structure_set (start, "hash", G_TYPE_STRING, hash, NULL);
  push_document_event (self, start);
  push_document_event (self, gst_structure_new (GST_TEXT_EMBED_DOCUMENT_END,
          "id", G_TYPE_STRING, doc->id, "status", G_TYPE_STRING, "skipped",
          "reason", G_TYPE_STRING, reason, "keep-previous", G_TYPE_BOOLEAN, transient, NULL));
}

/* First pass over a file: SHA-256, NUL bytes, first invalid UTF-8 byte. FALSE with @reason when
 * it cannot be read. */
static gboolean
gst_corpus_src_scan_file (GstCorpusSrc * self, const gchar * path, gchar ** hash,
    gint64 * bytes, gint64 * nul_at, gint64 * bad_utf8, gchar ** reason)
{
  FILE *f = fopen (path, "rb");
  if (!f) {
    *reason = g_strdup_printf ("cannot open: %s", g_strerror (errno));
    return FALSE;
  }
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  TeUtf8Scan sc;
  te_utf8_scan_init (&sc);
  gsize n;
  *bytes = 0;
  *nul_at = -1;
  gsize bs = self->block_size;
  while ((n = fread (self->block, 1, bs, f)) > 0) {
    g_checksum_update (sum, self->block, n);
    if (*nul_at < 0) {
      const guint8 *z = memchr (self->block, 0, n);
      if (z)
        *nul_at = *bytes + (z - self->block);
    }
    te_utf8_scan_push (&sc, self->block, n);
    *bytes += n;
  }
  gboolean ok = !ferror (f);
  if (!ok)
    *reason = g_strdup_printf ("cannot read: %s", g_strerror (errno));
  fclose (f);
  *bad_utf8 = te_utf8_scan_finish (&sc);
  *hash = g_strconcat ("sha256:", g_checksum_get_string (sum), NULL);
  g_checksum_free (sum);
  return ok;
}

/* Downstream already holds @id with @hash and the same embedding setup? */
static gboolean
gst_corpus_src_is_current (GstCorpusSrc * self, const gchar * id, const gchar * hash,
    gint64 size)
{
  GstStructure *s = gst_structure_new (GST_TEXT_EMBED_DOCUMENT_STATUS, "id", G_TYPE_STRING, id,
      "hash", G_TYPE_STRING, hash, "size", G_TYPE_INT64, size, NULL);
  GstQuery *q = gst_query_new_custom (GST_QUERY_CUSTOM, s);
  gboolean current = FALSE;
  if (gst_pad_peer_query (self->srcpad, q))
    gst_structure_get_boolean (gst_query_get_structure (q), "current", &current);
  gst_query_unref (q);
  return current;
}

static GstFlowReturn
push_bytes (GstCorpusSrc * self, const guint8 * data, gsize len, guint64 offset)
{
  GstBuffer *buf = gst_buffer_new_memdup (data, len);
  GST_BUFFER_OFFSET (buf) = offset;
  GST_BUFFER_OFFSET_END (buf) = offset + len;
  return gst_pad_push (self->srcpad, buf);
}

/* Send one document: start event, its text, end event. */
static GstFlowReturn
gst_corpus_src_send (GstCorpusSrc * self, CorpusDoc * doc)
{
  gint64 size = -1, mtime = -1, nul_at = -1, bad_utf8 = -1;
  gchar *hash = NULL, *reason = NULL;
  GstFlowReturn ret = GST_FLOW_OK;

  if (doc->skip_reason) {
    gst_corpus_src_skip (self, doc, -1, -1, NULL, doc->skip_reason, FALSE);
    return GST_FLOW_OK;
  }
  gboolean transient = FALSE;
  if (doc->path) {
    GStatBuf st;
    if (g_stat (doc->path, &st) != 0) {
      reason = g_strdup_printf ("cannot open: %s", g_strerror (errno));
      transient = TRUE;
    } else if (!S_ISREG (st.st_mode)) {
      reason = g_strdup ("not a regular file");
    } else {
      mtime = st.st_mtime;
      transient = !gst_corpus_src_scan_file (self, doc->path, &hash, &size, &nul_at, &bad_utf8,
          &reason);
    }
  } else {
    gsize len;
    const guint8 *data = g_bytes_get_data (doc->text, &len);
    GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
    g_checksum_update (sum, data, len);
    hash = g_strconcat ("sha256:", g_checksum_get_string (sum), NULL);
    g_checksum_free (sum);
    size = len;
    const guint8 *z = memchr (data, 0, len);
    nul_at = z ? z - data : -1;
    gsize bad = 0;
    bad_utf8 = te_utf8_validate (data, len, &bad) ? -1 : (gint64) bad;
  }
  if (!reason && size == 0)
    reason = g_strdup ("empty document");
  if (!reason && nul_at >= 0)
    reason = g_strdup_printf ("binary (NUL byte at %" G_GINT64_FORMAT ")", nul_at);
  if (reason) {
    gst_corpus_src_skip (self, doc, size, mtime, hash, reason, transient);
    g_free (reason);
    g_free (hash);
    return GST_FLOW_OK;
  }

  GST_OBJECT_LOCK (self);
  gboolean resume = self->resume;
  GST_OBJECT_UNLOCK (self);
  if (resume && gst_corpus_src_is_current (self, doc->id, hash, size)) {
    GST_DEBUG_OBJECT (self, "\"%s\" unchanged (%s): not sent", doc->id, hash);
    g_atomic_int_inc (&self->n_unchanged);
    g_free (hash);
    return GST_FLOW_OK;
  }

  GstStructure *start = gst_structure_new (GST_TEXT_EMBED_DOCUMENT_START,
      "id", G_TYPE_STRING, doc->id, "size", G_TYPE_INT64, size, "mtime", G_TYPE_INT64, mtime,
      "hash", G_TYPE_STRING, hash, "seq", G_TYPE_UINT64, self->seq,
      "total-documents", G_TYPE_INT64, self->total_docs,
      "total-bytes", G_TYPE_INT64, self->total_bytes,
      "invalid-utf8-offset", G_TYPE_INT64, bad_utf8, NULL);
  if (doc->path) {
    gchar *p = utf8_name (doc->path);
    gst_structure_set (start, "path", G_TYPE_STRING, p, NULL);
    g_free (p);
  }
  push_document_event (self, start);

  const gchar *end_status = "complete";
  if (doc->path) {
    /* second pass: send, and check that it is still what was hashed */
    FILE *f = fopen (doc->path, "rb");
    GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
    guint64 off = 0;
    if (!f) {
      reason = g_strdup_printf ("cannot open: %s", g_strerror (errno));
    } else {
      gsize bs = self->block_size, n;
      while (ret == GST_FLOW_OK && (n = fread (self->block, 1, bs, f)) > 0) {
        g_checksum_update (sum, self->block, n);
        ret = push_bytes (self, self->block, n, off);
        off += n;
      }
      if (ret == GST_FLOW_OK && ferror (f))
        reason = g_strdup_printf ("cannot read: %s", g_strerror (errno));
      fclose (f);
    }
    if (ret == GST_FLOW_OK && !reason) {
      gchar *again = g_strconcat ("sha256:", g_checksum_get_string (sum), NULL);
      if (strcmp (again, hash) != 0)
        reason = g_strdup ("changed while being read");
      g_free (again);
    }
    g_checksum_free (sum);
  } else {
    gsize len, off = 0;
    gsize bs = self->block_size;
    const guint8 *data = g_bytes_get_data (doc->text, &len);
    while (ret == GST_FLOW_OK && off < len) {
      gsize n = MIN (bs, len - off);
      ret = push_bytes (self, data + off, n, off);
      off += n;
    }
  }
  g_free (hash);
  if (ret != GST_FLOW_OK) {
    g_free (reason);
    return ret;
  }
  if (reason) {
    GST_ELEMENT_WARNING_WITH_DETAILS (self, RESOURCE, READ,
        ("Document \"%s\" skipped: %s", doc->id, reason), (NULL),
        ("document", G_TYPE_STRING, doc->id, "reason", G_TYPE_STRING, reason, NULL));
    g_atomic_int_inc (&self->n_skipped);
    end_status = "skipped";
  }
  GstStructure *end = gst_structure_new (GST_TEXT_EMBED_DOCUMENT_END, "id", G_TYPE_STRING,
      doc->id, "status", G_TYPE_STRING, end_status, NULL);
  if (reason)         /* unreadable now or changed while read: not a verdict on its content */
    gst_structure_set (end, "reason", G_TYPE_STRING, reason, "keep-previous", G_TYPE_BOOLEAN,
        TRUE, NULL);
  push_document_event (self, end);
  g_free (reason);
  return GST_FLOW_OK;
}

static void
gst_corpus_src_start_stream (GstCorpusSrc * self)
{
  gchar *stream_id = gst_pad_create_stream_id (self->srcpad, GST_ELEMENT (self), "corpus");
  GstEvent *ev = gst_event_new_stream_start (stream_id);
  gst_event_set_group_id (ev, gst_util_group_id_next ());
  gst_pad_push_event (self->srcpad, ev);
  g_free (stream_id);
  GstCaps *caps = gst_caps_new_simple ("text/x-raw", "format", G_TYPE_STRING, "utf8", NULL);
  gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_pad_push_event (self->srcpad, gst_event_new_segment (&seg));
  self->started = TRUE;
}

static void
gst_corpus_src_loop (gpointer user_data)
{
  GstCorpusSrc *self = GST_CORPUS_SRC (user_data);
  CorpusDoc doc;
  GstFlowReturn ret;

  if (!self->started)
    gst_corpus_src_start_stream (self);

  if (!gst_corpus_src_next (self, &doc)) {
    if (self->stopping) {
      gst_pad_pause_task (self->srcpad);
      return;
    }
    GST_INFO_OBJECT (self, "end of corpus: %d listed, %d skipped, %d unchanged (listing %s)",
        g_atomic_int_get (&self->n_listed), g_atomic_int_get (&self->n_skipped),
        g_atomic_int_get (&self->n_unchanged), self->listing_complete ? "complete" : "incomplete");
    if (self->listing_complete)
      push_document_event (self, gst_structure_new_empty (GST_TEXT_EMBED_CORPUS_END));
    gst_pad_push_event (self->srcpad, gst_event_new_eos ());
    gst_pad_pause_task (self->srcpad);
    return;
  }
  g_atomic_int_inc (&self->n_listed);
  ret = gst_corpus_src_send (self, &doc);
  self->seq++;
  corpus_doc_clear (&doc);
  if (ret == GST_FLOW_OK)
    return;

  GST_DEBUG_OBJECT (self, "pausing: %s", gst_flow_get_name (ret));
  gst_pad_pause_task (self->srcpad);
  if (ret == GST_FLOW_EOS) {
    gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  } else if (ret == GST_FLOW_NOT_LINKED || ret < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR (self, ret);
    gst_pad_push_event (self->srcpad, gst_event_new_eos ());
  }
}
