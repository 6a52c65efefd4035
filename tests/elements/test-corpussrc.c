/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-corpussrc.c — GstHarness tests of corpussrc: the exact stream a directory tree, a file
 * list and a JSON Lines corpus give (framing events with every field, the bytes, their offsets),
 * globs, shards (against an FNV-1a computed here), start failures and resume. */
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

/* ---- the corpus on disk -------------------------------------------------------------------- */

static void
write_file (const gchar * dir, const gchar * rel, const gchar * data, gssize len)
{
  gchar *path = g_build_filename (dir, rel, NULL);
  gchar *parent = g_path_get_dirname (path);
  fail_unless_equals_int (g_mkdir_with_parents (parent, 0755), 0);
  GError *err = NULL;
  fail_unless (g_file_set_contents (path, data, len < 0 ? (gssize) strlen (data) : len, &err),
      "%s", err ? err->message : "");
  g_free (parent);
  g_free (path);
}

static void
remove_tree (const gchar * path)
{
  GStatBuf st;
  if (lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const gchar *name;
    while (d && (name = g_dir_read_name (d))) {
      gchar *child = g_build_filename (path, name, NULL);
      remove_tree (child);
      g_free (child);
    }
    if (d)
      g_dir_close (d);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

/* A long text whose 2-, 3- and 4-byte characters straddle every block boundary of a small
 * blocksize. */
static gchar *
long_text (void)
{
  GString *s = g_string_new ("A long file.\n\n");
  for (int i = 0; i < 40; i++)
    g_string_append_printf (s, "%.*scaf\xc3\xa9 \xe2\x82\xac%d \xf0\x9f\x98\x80.\n", i % 5,
        "xxxxx", i);
  return g_string_free (s, FALSE);
}

/* The tree of the directory tests. Every kind of entry: nested directories, an empty file, a
 * binary file, invalid UTF-8 (in the middle, cut by a block boundary, at the very end), a link
 * to a file (read) and a link to a directory (not followed). */
static gchar *
make_tree (void)
{
  gchar *dir = g_dir_make_tmp ("corpussrc-XXXXXX", NULL);
  fail_unless (dir != NULL);
  write_file (dir, "A.txt", "Upper case sorts before lower case.\n", -1);
  write_file (dir, "a.txt", "Hello, world. A short document.\n", -1);
  write_file (dir, "bad.txt", "ok \xff not UTF-8 here\n", -1);
  /* 15 bytes, then a 3-byte sequence cut short across the 16-byte block boundary */
  write_file (dir, "bad-split.txt", "fifteen bytes..\xe2\x82" "A and more\n", -1);
  write_file (dir, "bin.dat", "ab\0cd", 5);
  write_file (dir, "empty.txt", "", 0);
  write_file (dir, "trunc.txt", "abc\xe2\x82", -1);
  gchar *lt = long_text ();
  write_file (dir, "sub/long.txt", lt, -1);
  g_free (lt);
  write_file (dir, "sub/deeper/x.md", "# Title\n\nDeep file, caf\xc3\xa9.\n", -1);
  write_file (dir, "z.txt", "last\n", -1);
  gchar *link = g_build_filename (dir, "link-file", NULL);
  fail_unless_equals_int (symlink ("a.txt", link), 0);
  g_free (link);
  link = g_build_filename (dir, "link-dir", NULL);
  fail_unless_equals_int (symlink ("sub", link), 0);
  g_free (link);
  return dir;
}

/* The documents of make_tree(): every regular file and the link to a file (not what is behind
 * link-dir). */
static const gchar *tree_ids[] = {
  "z.txt", "a.txt", "A.txt", "bad.txt", "bad-split.txt", "bin.dat", "empty.txt", "trunc.txt",
  "sub/long.txt", "sub/deeper/x.md", "link-file", NULL
};

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* @ids (NULL-terminated) in byte order, as a new array of the same strings. */
static GPtrArray *
sorted_ids (const gchar * const *ids)
{
  GPtrArray *a = g_ptr_array_new ();
  for (; *ids; ids++)
    g_ptr_array_add (a, (gpointer) * ids);
  g_ptr_array_sort (a, compare_strings);
  return a;
}

/* ---- running the source -------------------------------------------------------------------- */

/* A corpussrc harness (not started) with a bus and properties given as string pairs (set with
 * gst_util_set_object_arg), NULL-terminated. */
static GstHarness *
corpus_harness (GstBus ** bus, const gchar * first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("corpussrc", NULL);
  fail_unless (e != NULL);
  va_list args;
  va_start (args, first_prop);
  for (const gchar * name = first_prop; name; name = va_arg (args, const gchar *)) {
    const gchar *value = va_arg (args, const gchar *);
    gst_util_set_object_arg (G_OBJECT (e), name, value);
  }
  va_end (args);
  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  GstHarness *h = gst_harness_new_with_element (e, NULL, "src");
  gst_object_unref (e);
  return h;
}

typedef struct
{
  GstStructure *start, *end;
  GByteArray *data;
  guint n_buffers;
} OutDoc;

typedef struct
{
  GPtrArray *docs;              /* OutDoc, in stream order */
  gboolean corpus_end;
  gchar *seq;                   /* as recorded */
} CorpusOut;

static void
out_doc_free (OutDoc * d)
{
  if (d->start)
    gst_structure_free (d->start);
  if (d->end)
    gst_structure_free (d->end);
  g_byte_array_unref (d->data);
  g_free (d);
}

static void
corpus_out_clear (CorpusOut * out)
{
  g_ptr_array_unref (out->docs);
  g_free (out->seq);
}

/* Play @h, take everything up to EOS and check the framing: stream-start, text caps, a TIME
 * segment, then documents as start, buffers, end (ids matching; each buffer's offsets continue
 * the document's bytes, none larger than @blocksize), then corpus-end (when sent) and EOS, and
 * nothing else. */
static CorpusOut
run_corpus (GstHarness * h, GstBus * bus, guint blocksize)
{
  CorpusOut out = { g_ptr_array_new_with_free_func ((GDestroyNotify) out_doc_free), FALSE, NULL };
  TestRecorder *r = test_recorder_new (h->sinkpad, NULL);
  gst_harness_play (h);

  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_event_unref);
  for (;;) {
    GstEvent *ev = gst_harness_pull_event (h);
    fail_unless (ev != NULL, "no EOS from corpussrc");
    g_ptr_array_add (events, ev);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS)
      break;
  }
  out.seq = test_recorder_get (r);
  test_recorder_free (r);
  fail_unless (g_regex_match_simple ("^SCG(<B*>)*\\$?E$", out.seq, 0, 0), "stream %s", out.seq);

  GstEvent *ev = g_ptr_array_index (events, 1);
  GstCaps *caps;
  gst_event_parse_caps (ev, &caps);
  GstCaps *want = gst_caps_from_string ("text/x-raw, format=(string)utf8");
  fail_unless (gst_caps_is_equal (caps, want), "caps %" GST_PTR_FORMAT, caps);
  gst_caps_unref (want);
  const GstSegment *seg;
  gst_event_parse_segment (g_ptr_array_index (events, 2), &seg);
  fail_unless_equals_int (seg->format, GST_FORMAT_TIME);

  guint ei = 3;
  OutDoc *doc = NULL;
  for (const gchar * c = out.seq + 3; *c; c++) {
    if (*c == 'B') {
      GstBuffer *b = gst_harness_try_pull (h);
      fail_unless (b != NULL && doc != NULL);
      gsize size = gst_buffer_get_size (b);
      fail_unless (size > 0 && size <= blocksize, "buffer of %" G_GSIZE_FORMAT " bytes", size);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), doc->data->len);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (b), doc->data->len + size);
      GstMapInfo map;
      fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
      g_byte_array_append (doc->data, map.data, map.size);
      gst_buffer_unmap (b, &map);
      doc->n_buffers++;
      gst_buffer_unref (b);
      continue;
    }
    const GstStructure *s = gst_event_get_structure (g_ptr_array_index (events, ei++));
    if (*c == '<') {
      doc = g_new0 (OutDoc, 1);
      doc->data = g_byte_array_new ();
      doc->start = gst_structure_copy (s);
      g_ptr_array_add (out.docs, doc);
    } else if (*c == '>') {
      fail_unless (doc != NULL);
      fail_unless_equals_string (gst_structure_get_string (s, "id"),
          gst_structure_get_string (doc->start, "id"));
      doc->end = gst_structure_copy (s);
      doc = NULL;
    } else if (*c == '$') {
      out.corpus_end = TRUE;
    }
  }
  fail_unless_equals_int (ei, events->len);
  fail_unless (gst_harness_try_pull (h) == NULL);
  g_ptr_array_unref (events);
  return out;
}

/* The documents' ids, in stream order (NULL-terminated, strings owned by @out). */
static const gchar **
out_ids (const CorpusOut * out)
{
  const gchar **ids = g_new0 (const gchar *, out->docs->len + 1);
  for (guint i = 0; i < out->docs->len; i++)
    ids[i] = gst_structure_get_string (((OutDoc *) g_ptr_array_index (out->docs, i))->start,
        "id");
  return ids;
}

static OutDoc *
find_doc (const CorpusOut * out, const gchar * id)
{
  for (guint i = 0; i < out->docs->len; i++) {
    OutDoc *d = g_ptr_array_index (out->docs, i);
    if (!g_strcmp0 (gst_structure_get_string (d->start, "id"), id))
      return d;
  }
  fail ("no document %s", id);
  return NULL;
}

static void
check_ids (const CorpusOut * out, GPtrArray * want)
{
  const gchar **ids = out_ids (out);
  gchar *got = g_strjoinv (" ", (gchar **) ids);
  g_ptr_array_add (want, NULL);
  gchar *expected = g_strjoinv (" ", (gchar **) want->pdata);
  g_ptr_array_remove_index (want, want->len - 1);
  fail_unless_equals_string (got, expected);
  g_free (got);
  g_free (expected);
  g_free (ids);
}

static gint64
get_int64 (const GstStructure * s, const gchar * field)
{
  gint64 v;
  fail_unless (gst_structure_get_int64 (s, field, &v), "no gint64 %s in %" GST_PTR_FORMAT,
      field, s);
  return v;
}

static guint64
get_uint64 (const GstStructure * s, const gchar * field)
{
  guint64 v;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no guint64 %s in %" GST_PTR_FORMAT,
      field, s);
  return v;
}

/* First byte that is not UTF-8 (the whole file at once, not in blocks), -1 if none. */
static gint64
first_bad_utf8 (const gchar * data, gsize len)
{
  const gchar *end;
  return g_utf8_validate_len (data, len, &end) ? -1 : end - data;
}

/* Check one document against the file it came from: the start event's fields, the bytes, and
 * the end (complete; skipped as empty or binary with its reason). */
static void
check_file_doc (const OutDoc * d, const gchar * id, const gchar * path, guint64 seq,
    gint64 total_docs, gint64 total_bytes)
{
  gsize len;
  gchar *data = test_read_file (path, &len);
  GStatBuf st;
  fail_unless_equals_int (g_stat (path, &st), 0);
  const GstStructure *s = d->start;

  fail_unless_equals_string (gst_structure_get_string (s, "id"), id);
  fail_unless_equals_string (gst_structure_get_string (s, "path"), path);
  fail_unless_equals_int64 (get_int64 (s, "size"), len);
  fail_unless_equals_int64 (get_int64 (s, "mtime"), st.st_mtime);
  fail_unless_equals_uint64 (get_uint64 (s, "seq"), seq);
  fail_unless_equals_int64 (get_int64 (s, "total-documents"), total_docs);
  fail_unless_equals_int64 (get_int64 (s, "total-bytes"), total_bytes);
  fail_unless (d->end != NULL, "%s has no end", id);

  gsize nul = 0;
  while (nul < len && data[nul])
    nul++;
  gchar *reason = len == 0 ? g_strdup ("empty document") : nul < len ?
      g_strdup_printf ("binary (NUL byte at %" G_GSIZE_FORMAT ")", nul) : NULL;
  if (reason) {
    fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
    fail_unless_equals_string (gst_structure_get_string (d->end, "reason"), reason);
    fail_unless_equals_int (d->data->len, 0);
  } else {
    gchar *hash = test_sha256 (data, len);
    fail_unless_equals_string (gst_structure_get_string (s, "hash"), hash);
    g_free (hash);
    fail_unless_equals_int64 (get_int64 (s, "invalid-utf8-offset"), first_bad_utf8 (data, len));
    fail_unless_equals_int (gst_structure_n_fields (s), 9);
    fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
    fail_unless (!gst_structure_has_field (d->end, "reason"));
    fail_unless_equals_int (d->data->len, len);
    fail_unless (memcmp (d->data->data, data, len) == 0, "bytes of %s differ", id);
  }
  g_free (reason);
  g_free (data);
}

static gint64
file_size (const gchar * path)
{
  GStatBuf st;
  fail_unless_equals_int (g_stat (path, &st), 0);
  return st.st_size;
}

/* The documents of the tree in byte order of their ids, each exactly as on disk; the
 * symlinked directory not followed; skipped ones with their reasons and a warning each;
 * corpus-end then EOS; the counters. */
GST_START_TEST (test_directory)
{
  gchar *dir = make_tree ();
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, "blocksize", "16", NULL);
  TestRecorder *warnings = test_recorder_new (h->sinkpad, bus);
  CorpusOut out = run_corpus (h, bus, 16);

  GPtrArray *want = sorted_ids (tree_ids);
  check_ids (&out, want);
  gint64 total_bytes = 0;
  for (guint i = 0; i < want->len; i++) {
    gchar *path = g_build_filename (dir, g_ptr_array_index (want, i), NULL);
    total_bytes += file_size (path);
    g_free (path);
  }
  for (guint i = 0; i < want->len; i++) {
    gchar *path = g_build_filename (dir, g_ptr_array_index (want, i), NULL);
    check_file_doc (g_ptr_array_index (out.docs, i), g_ptr_array_index (want, i), path, i,
        want->len, total_bytes);
    g_free (path);
  }
  fail_unless (out.corpus_end);

  /* the long file came in many blocks; the invalid bytes are where they are (the oracle
   * above validates whole files: these pin the values down) */
  OutDoc *lng = find_doc (&out, "sub/long.txt");
  fail_unless (lng->n_buffers > 20);
  fail_unless_equals_int64 (get_int64 (lng->start, "invalid-utf8-offset"), -1);
  fail_unless_equals_int64 (get_int64 (find_doc (&out, "bad.txt")->start,
          "invalid-utf8-offset"), 3);
  fail_unless_equals_int64 (get_int64 (find_doc (&out, "bad-split.txt")->start,
          "invalid-utf8-offset"), 15);
  fail_unless_equals_int64 (get_int64 (find_doc (&out, "trunc.txt")->start,
          "invalid-utf8-offset"), 3);
  fail_unless_equals_int64 (get_int64 (find_doc (&out, "sub/deeper/x.md")->start,
          "invalid-utf8-offset"), -1);

  /* one warning per skipped document, naming it */
  gchar *w = test_recorder_get (warnings);
  test_recorder_free (warnings);
  fail_unless_equals_int (strlen (w) - strlen (out.seq), 2);
  g_free (w);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "bin.dat") && strstr (msg, "binary (NUL byte at 2)"), "%s",
      msg);
  g_free (msg);
  msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "empty.txt") && strstr (msg, "empty document"), "%s", msg);
  g_free (msg);
  fail_unless (test_pop_message_text (bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR) == NULL);

  gint64 listed, skipped, unchanged;
  g_object_get (h->element, "documents-listed", &listed, "documents-skipped", &skipped,
      "documents-unchanged", &unchanged, NULL);
  fail_unless_equals_int64 (listed, want->len);
  fail_unless_equals_int64 (skipped, 2);
  fail_unless_equals_int64 (unchanged, 0);

  g_ptr_array_unref (want);
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* "Byte order of the path" (docs/corpus.md) also when a directory's name is a prefix of a
 * sibling file's whose next byte sorts before '/' ("b.txt" < "b/c.txt" since '.' < '/'). */
GST_START_TEST (test_directory_byte_order)
{
  gchar *dir = g_dir_make_tmp ("corpussrc-XXXXXX", NULL);
  static const gchar *ids[] = { "b/c.txt", "b.txt", "b-x.txt", "b0.txt", "a", NULL };
  for (const gchar ** id = ids; *id; id++)
    write_file (dir, *id, *id, -1);
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, NULL);
  CorpusOut out = run_corpus (h, bus, 65536);
  GPtrArray *want = sorted_ids (ids);
  check_ids (&out, want);
  for (guint i = 0; i < out.docs->len; i++)
    fail_unless_equals_uint64 (get_uint64 (((OutDoc *) g_ptr_array_index (out.docs,
                    i))->start, "seq"), i);
  g_ptr_array_unref (want);
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* ---- selection ----------------------------------------------------------------------------- */

/* The ids a corpussrc over @dir with @include / @exclude (NULL: unset) sends, checked against
 * @want (NULL-terminated, any order); totals and seq follow the selection. */
static void
check_globs (const gchar * dir, const gchar * include, const gchar * exclude,
    const gchar * const *want_ids)
{
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, include ? "include" : NULL, include,
      exclude ? "exclude" : NULL, exclude, NULL);
  if (!include && exclude)
    gst_util_set_object_arg (G_OBJECT (h->element), "exclude", exclude);
  CorpusOut out = run_corpus (h, bus, 65536);
  GPtrArray *want = sorted_ids (want_ids);
  check_ids (&out, want);
  gint64 total_bytes = 0;
  for (guint i = 0; i < want->len; i++) {
    gchar *path = g_build_filename (dir, g_ptr_array_index (want, i), NULL);
    total_bytes += file_size (path);
    g_free (path);
  }
  for (guint i = 0; i < out.docs->len; i++) {
    OutDoc *d = g_ptr_array_index (out.docs, i);
    fail_unless_equals_uint64 (get_uint64 (d->start, "seq"), i);
    fail_unless_equals_int64 (get_int64 (d->start, "total-documents"), want->len);
    fail_unless_equals_int64 (get_int64 (d->start, "total-bytes"), total_bytes);
  }
  fail_unless (out.corpus_end);
  g_ptr_array_unref (want);
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_START_TEST (test_include_exclude)
{
  gchar *dir = make_tree ();
  /* a glob without '/' also matches the last component: *.txt at any depth */
  static const gchar *txt[] = { "A.txt", "a.txt", "bad.txt", "bad-split.txt", "empty.txt",
    "trunc.txt", "sub/long.txt", "z.txt", NULL
  };
  check_globs (dir, "*.txt", NULL, txt);
  /* '*' also matches '/' */
  static const gchar *sub[] = { "sub/long.txt", "sub/deeper/x.md", NULL };
  check_globs (dir, "sub/*", NULL, sub);
  static const gchar *not_txt[] = { "bin.dat", "link-file", "sub/deeper/x.md", NULL };
  check_globs (dir, NULL, "*.txt", not_txt);
  /* exclude applies after include; lists are comma-separated, blanks around globs ignored */
  static const gchar *txt_top[] = { "A.txt", "a.txt", "empty.txt", "trunc.txt", "z.txt", NULL };
  check_globs (dir, "*.txt", "sub/*, bad*", txt_top);
  static const gchar *some[] = { "sub/deeper/x.md", "z.txt", "link-file", NULL };
  check_globs (dir, " x.md , z.txt,link-?ile", NULL, some);
  static const gchar *none[] = { NULL };
  check_globs (dir, "*.nothing", NULL, none);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* FNV-1a, 64 bits, of the id's bytes: the shard function docs/corpus.md promises. */
static guint64
fnv1a64 (const gchar * s)
{
  guint64 h = G_GUINT64_CONSTANT (14695981039346656037);
  for (const guchar * p = (const guchar *) s; *p; p++)
    h = (h ^ *p) * G_GUINT64_CONSTANT (1099511628211);
  return h;
}

/* Shards of 3 (and 1): each document in exactly the shard its FNV-1a says, every document in
 * one of them, totals and seq per shard. */
GST_START_TEST (test_shards)
{
  /* the published FNV-1a 64 test vectors: the oracle itself is right */
  fail_unless_equals_uint64 (fnv1a64 (""), G_GUINT64_CONSTANT (0xcbf29ce484222325));
  fail_unless_equals_uint64 (fnv1a64 ("a"), G_GUINT64_CONSTANT (0xaf63dc4c8601ec8c));
  fail_unless_equals_uint64 (fnv1a64 ("foobar"), G_GUINT64_CONSTANT (0x85944171f73967e8));

  gchar *dir = g_dir_make_tmp ("corpussrc-XXXXXX", NULL);
  GPtrArray *all = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < 40; i++) {
    gchar *id = i % 3 ? g_strdup_printf ("f%02d.txt", i) :
        g_strdup_printf ("d%d/f%02d.txt", i % 4, i);
    gchar *text = g_strdup_printf ("Document %d.\n", i);
    write_file (dir, id, text, -1);
    g_free (text);
    g_ptr_array_add (all, id);
  }
  const guint n = 3;
  GHashTable *seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint nonempty = 0;
  for (guint shard = 0; shard < n; shard++) {
    gchar *idx = g_strdup_printf ("%u", shard);
    GstBus *bus;
    GstHarness *h = corpus_harness (&bus, "location", dir, "shard-index", idx, "shard-count",
        "3", NULL);
    g_free (idx);
    CorpusOut out = run_corpus (h, bus, 65536);
    guint expected = 0;
    for (guint i = 0; i < all->len; i++)
      expected += fnv1a64 (g_ptr_array_index (all, i)) % n == shard;
    fail_unless_equals_int (out.docs->len, expected);
    nonempty += expected > 0;
    for (guint i = 0; i < out.docs->len; i++) {
      OutDoc *d = g_ptr_array_index (out.docs, i);
      const gchar *id = gst_structure_get_string (d->start, "id");
      fail_unless_equals_uint64 (fnv1a64 (id) % n, shard);
      fail_unless (g_hash_table_add (seen, g_strdup (id)), "%s in two shards", id);
      fail_unless_equals_uint64 (get_uint64 (d->start, "seq"), i);
      fail_unless_equals_int64 (get_int64 (d->start, "total-documents"), expected);
      fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
    }
    fail_unless (out.corpus_end);
    corpus_out_clear (&out);
    gst_object_unref (bus);
    gst_harness_teardown (h);
  }
  fail_unless_equals_int (nonempty, n);
  fail_unless_equals_int (g_hash_table_size (seen), all->len);
  for (guint i = 0; i < all->len; i++)
    fail_unless (g_hash_table_contains (seen, g_ptr_array_index (all, i)));

  /* one shard: everything */
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, "shard-count", "1", NULL);
  CorpusOut out = run_corpus (h, bus, 65536);
  fail_unless_equals_int (out.docs->len, all->len);
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  g_hash_table_unref (seen);
  g_ptr_array_unref (all);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* ---- file list and JSON Lines -------------------------------------------------------------- */

/* One path per line, ids as written, in the list's order; a blank line is nothing; a CR before
 * the newline is not part of the path; a missing file and a directory are skipped documents. */
GST_START_TEST (test_list)
{
  gchar *dir = make_tree ();
  gchar *a = g_build_filename (dir, "a.txt", NULL);
  gchar *z = g_build_filename (dir, "z.txt", NULL);
  gchar *lng = g_build_filename (dir, "sub", "long.txt", NULL);
  gchar *bin = g_build_filename (dir, "bin.dat", NULL);
  gchar *missing = g_build_filename (dir, "missing.txt", NULL);
  gchar *list = g_build_filename (dir, "files.lst", NULL);
  gchar *contents = g_strdup_printf ("%s\n%s\r\n\n%s\n%s\n%s\n", z, a, missing, lng, bin);
  write_file (dir, "files.lst", contents, -1);
  g_free (contents);

  for (int explicit_format = 0; explicit_format < 2; explicit_format++) {
    GstBus *bus;
    GstHarness *h = corpus_harness (&bus, "location", list, "blocksize", "64",
        explicit_format ? "format" : NULL, "list", NULL);
    CorpusOut out = run_corpus (h, bus, 64);
    fail_unless_equals_int (out.docs->len, 5);
    gint64 total = file_size (z) + file_size (a) + file_size (lng) + file_size (bin);
    check_file_doc (g_ptr_array_index (out.docs, 0), z, z, 0, 5, total);
    check_file_doc (g_ptr_array_index (out.docs, 1), a, a, 1, 5, total);
    check_file_doc (g_ptr_array_index (out.docs, 3), lng, lng, 3, 5, total);
    check_file_doc (g_ptr_array_index (out.docs, 4), bin, bin, 4, 5, total);
    OutDoc *m = g_ptr_array_index (out.docs, 2);
    fail_unless_equals_string (gst_structure_get_string (m->start, "id"), missing);
    fail_unless_equals_string (gst_structure_get_string (m->start, "path"), missing);
    fail_unless_equals_int64 (get_int64 (m->start, "size"), -1);
    fail_unless_equals_uint64 (get_uint64 (m->start, "seq"), 2);
    fail_unless_equals_string (gst_structure_get_string (m->end, "status"), "skipped");
    fail_unless_equals_string (gst_structure_get_string (m->end, "reason"),
        "cannot open: No such file or directory");
    fail_unless (out.corpus_end);
    gchar *msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
    fail_unless (msg && strstr (msg, missing), "%s", msg);
    g_free (msg);
    corpus_out_clear (&out);
    gst_object_unref (bus);
    gst_harness_teardown (h);
  }
  g_free (a);
  g_free (z);
  g_free (lng);
  g_free (bin);
  g_free (missing);
  g_free (list);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* A directory named in a list is a skipped document ("not a regular file"); total-bytes (the
 * bytes of the listing) counts the documents' bytes, not the directory's inode size. */
GST_START_TEST (test_list_directory_entry)
{
  gchar *dir = make_tree ();
  gchar *a = g_build_filename (dir, "a.txt", NULL);
  gchar *sub = g_build_filename (dir, "sub", NULL);
  gchar *list = g_build_filename (dir, "files.lst", NULL);
  gchar *contents = g_strdup_printf ("%s\n%s\n", sub, a);
  write_file (dir, "files.lst", contents, -1);
  g_free (contents);
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", list, NULL);
  CorpusOut out = run_corpus (h, bus, 65536);
  fail_unless_equals_int (out.docs->len, 2);
  OutDoc *d = g_ptr_array_index (out.docs, 0);
  fail_unless_equals_string (gst_structure_get_string (d->start, "id"), sub);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  fail_unless_equals_string (gst_structure_get_string (d->end, "reason"), "not a regular file");
  check_file_doc (g_ptr_array_index (out.docs, 1), a, a, 1, 2, file_size (a));
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_free (a);
  g_free (sub);
  g_free (list);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

typedef struct
{
  const gchar *id;
  const gchar *text;            /* NULL: skipped, with reason */
  const gchar *reason;
} JsonlWant;

static void
check_jsonl (const CorpusOut * out, const JsonlWant * want, guint n)
{
  fail_unless_equals_int (out->docs->len, n);
  gint64 total_bytes = 0;
  for (guint i = 0; i < n; i++)
    total_bytes += want[i].text ? strlen (want[i].text) : 0;
  for (guint i = 0; i < n; i++) {
    OutDoc *d = g_ptr_array_index (out->docs, i);
    fail_unless_equals_string (gst_structure_get_string (d->start, "id"), want[i].id);
    fail_unless (!gst_structure_has_field (d->start, "path"));
    fail_unless_equals_int64 (get_int64 (d->start, "mtime"), -1);
    fail_unless_equals_uint64 (get_uint64 (d->start, "seq"), i);
    fail_unless_equals_int64 (get_int64 (d->start, "total-documents"), n);
    fail_unless_equals_int64 (get_int64 (d->start, "total-bytes"), total_bytes);
    if (!want[i].text) {
      fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
      const gchar *reason = gst_structure_get_string (d->end, "reason");
      fail_unless (reason && g_str_has_prefix (reason, want[i].reason), "%s: reason %s",
          want[i].id, reason);
      fail_unless_equals_int (d->data->len, 0);
      continue;
    }
    gsize len = strlen (want[i].text);
    fail_unless_equals_int64 (get_int64 (d->start, "size"), len);
    gchar *hash = test_sha256 (want[i].text, len);
    fail_unless_equals_string (gst_structure_get_string (d->start, "hash"), hash);
    g_free (hash);
    fail_unless_equals_int64 (get_int64 (d->start, "invalid-utf8-offset"), -1);
    fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
    fail_unless_equals_int (d->data->len, len);
    fail_unless (memcmp (d->data->data, want[i].text, len) == 0, "text of %s", want[i].id);
  }
}

/* BEIR-shaped JSON Lines: title, blank line, text; integer ids; blank lines ignored; lines that
 * are not a usable record are skipped documents named by their line number. */
GST_START_TEST (test_jsonl)
{
  gchar *dir = g_dir_make_tmp ("corpussrc-XXXXXX", NULL);
  const gchar *corpus =
      "{\"_id\": \"d1\", \"title\": \"A title\", \"text\": \"The body, caf\\u00e9.\"}\n"
      "{\"_id\": 42, \"text\": \"No title at all.\"}\n"
      "\n"
      "this is not JSON\n"
      "   \n"
      "{\"_id\": \"d3\", \"title\": \"only a title\"}\n"
      "{\"title\": \"x\", \"text\": \"no id\"}\n"
      "[\"an\", \"array\"]\n"
      "{\"_id\": \"d4\", \"title\": \"\", \"text\": \"Empty title: just the text.\"}\r\n"
      "{\"_id\": \"d5\", \"title\": \"T\", \"text\": \"line one\\nline two\"}";
  write_file (dir, "corpus.jsonl", corpus, -1);
  gchar *path = g_build_filename (dir, "corpus.jsonl", NULL);
  const JsonlWant want[] = {
    {"d1", "A title\n\nThe body, caf\xc3\xa9.", NULL},
    {"42", "No title at all.", NULL},
    {"line 4", NULL, "not JSON"},
    {"d3", NULL, "no string \"text\" member"},
    {"line 7", NULL, "no string or integer \"_id\" member"},
    {"line 8", NULL, "not a JSON object"},
    {"d4", "Empty title: just the text.", NULL},
    {"d5", "T\n\nline one\nline two", NULL},
  };
  for (int explicit_format = 0; explicit_format < 2; explicit_format++) {
    GstBus *bus;
    GstHarness *h = corpus_harness (&bus, "location", path, "blocksize", "7",
        explicit_format ? "format" : NULL, "jsonl", NULL);
    CorpusOut out = run_corpus (h, bus, 7);
    check_jsonl (&out, want, G_N_ELEMENTS (want));
    fail_unless (out.corpus_end);
    gint64 skipped;
    g_object_get (h->element, "documents-skipped", &skipped, NULL);
    fail_unless_equals_int64 (skipped, 4);
    corpus_out_clear (&out);
    gst_object_unref (bus);
    gst_harness_teardown (h);
  }
  g_free (path);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* id-field, title-field, text-field name the members; title-field "" means no title. */
GST_START_TEST (test_jsonl_fields)
{
  gchar *dir = g_dir_make_tmp ("corpussrc-XXXXXX", NULL);
  write_file (dir, "c.ndjson", "{\"docid\": 7, \"head\": \"H\", \"body\": \"B\", "
      "\"title\": \"ignored\", \"text\": \"ignored\"}\n"
      "{\"_id\": \"x\", \"text\": \"no docid\"}\n", -1);
  gchar *path = g_build_filename (dir, "c.ndjson", NULL);
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", path, "id-field", "docid", "title-field",
      "head", "text-field", "body", NULL);
  CorpusOut out = run_corpus (h, bus, 65536);
  const JsonlWant want[] = { {"7", "H\n\nB", NULL}, {"line 2", NULL,
          "no string or integer \"docid\" member"}
  };
  check_jsonl (&out, want, G_N_ELEMENTS (want));
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  h = corpus_harness (&bus, "location", path, "id-field", "docid", "title-field", "",
      "text-field", "body", NULL);
  out = run_corpus (h, bus, 65536);
  const JsonlWant want2[] = { {"7", "B", NULL}, {"line 2", NULL, "no string or integer"} };
  check_jsonl (&out, want2, G_N_ELEMENTS (want2));
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_free (path);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* ---- start failures ------------------------------------------------------------------------ */

static gchar *
start_failure (const gchar * first_prop, ...)
{
  GstElement *e = gst_element_factory_make ("corpussrc", NULL);
  va_list args;
  va_start (args, first_prop);
  for (const gchar * name = first_prop; name; name = va_arg (args, const gchar *))
    gst_util_set_object_arg (G_OBJECT (e), name, va_arg (args, const gchar *));
  va_end (args);
  gchar *text = test_start_failure_text (e);
  gst_object_unref (e);
  return text;
}

GST_START_TEST (test_start_failures)
{
  gchar *msg = start_failure (NULL);
  fail_unless (msg && strstr (msg, "No corpus given"), "%s", msg);
  g_free (msg);
  msg = start_failure ("location", "/nonexistent/corpus", NULL);
  fail_unless (msg && strstr (msg, "/nonexistent/corpus"), "%s", msg);
  g_free (msg);
  msg = start_failure ("location", "/nonexistent/corpus", "format", "directory", NULL);
  fail_unless (msg && strstr (msg, "/nonexistent/corpus") && strstr (msg, "not a directory"),
      "%s", msg);
  g_free (msg);
  msg = start_failure ("location", "/nonexistent/corpus.jsonl", NULL);
  fail_unless (msg && strstr (msg, "/nonexistent/corpus.jsonl"), "%s", msg);
  g_free (msg);
  msg = start_failure ("location", "/tmp", "shard-index", "3", "shard-count", "3", NULL);
  fail_unless (msg && strstr (msg, "shard-index=3"), "%s", msg);
  g_free (msg);
}
GST_END_TEST;

/* ---- resume: the document-status query ----------------------------------------------------- */

typedef struct
{
  GstPadQueryFunction harness_query;    /* the harness's own, for every other query */
  GMutex lock;
  GPtrArray *asked;             /* GstStructure copies of the document-status queries */
  const gchar *current_id;      /* answered current=TRUE */
} StatusAnswer;

static StatusAnswer *answer;

static gboolean
answer_status_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstStructure *s = gst_text_embed_query_get_document_status (query);
  if (!s)
    return answer->harness_query (pad, parent, query);
  g_mutex_lock (&answer->lock);
  g_ptr_array_add (answer->asked, gst_structure_copy (s));
  g_mutex_unlock (&answer->lock);
  gst_structure_set (s, "current", G_TYPE_BOOLEAN,
      g_strcmp0 (gst_structure_get_string (s, "id"), answer->current_id) == 0, NULL);
  return TRUE;
}

/* Downstream says "a.txt" is current: it is not sent at all (neither events nor bytes), it is
 * counted as unchanged and keeps its place in seq; every other readable document was asked
 * about with its hash and size; skipped ones are not asked about. With resume=false nobody is
 * asked. */
GST_START_TEST (test_resume_query)
{
  gchar *dir = make_tree ();
  for (int resume = 1; resume >= 0; resume--) {
    StatusAnswer a = { NULL };
    g_mutex_init (&a.lock);
    a.asked = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
    a.current_id = "a.txt";
    answer = &a;
    GstBus *bus;
    GstHarness *h = corpus_harness (&bus, "location", dir, "resume", resume ? "true" : "false",
        NULL);
    a.harness_query = GST_PAD_QUERYFUNC (h->sinkpad);
    gst_pad_set_query_function (h->sinkpad, answer_status_query);
    CorpusOut out = run_corpus (h, bus, 65536);

    GPtrArray *want = sorted_ids (tree_ids);
    for (guint i = 0; resume && i < want->len; i++)
      if (!strcmp (g_ptr_array_index (want, i), "a.txt"))
        g_ptr_array_remove_index (want, i);
    check_ids (&out, want);
    GPtrArray *all = sorted_ids (tree_ids);
    /* seq is the place in the listing: the unchanged document still has one */
    for (guint i = 0; i < out.docs->len; i++) {
      OutDoc *d = g_ptr_array_index (out.docs, i);
      const gchar *id = gst_structure_get_string (d->start, "id");
      guint pos = 0;
      while (strcmp (g_ptr_array_index (all, pos), id) != 0)
        pos++;
      fail_unless_equals_uint64 (get_uint64 (d->start, "seq"), pos);
      fail_unless_equals_int64 (get_int64 (d->start, "total-documents"), all->len);
    }
    if (resume) {
      /* asked: everything readable as text (not the empty and the binary file), in order */
      fail_unless_equals_int (a.asked->len, all->len - 2);
      guint k = 0;
      for (guint i = 0; i < all->len; i++) {
        const gchar *id = g_ptr_array_index (all, i);
        if (!strcmp (id, "empty.txt") || !strcmp (id, "bin.dat"))
          continue;
        const GstStructure *q = g_ptr_array_index (a.asked, k++);
        fail_unless_equals_string (gst_structure_get_string (q, "id"), id);
        gchar *path = g_build_filename (dir, id, NULL);
        gsize len;
        gchar *data = test_read_file (path, &len);
        gchar *hash = test_sha256 (data, len);
        fail_unless_equals_string (gst_structure_get_string (q, "hash"), hash);
        fail_unless_equals_int64 (get_int64 (q, "size"), len);
        g_free (hash);
        g_free (data);
        g_free (path);
      }
    } else {
      fail_unless_equals_int (a.asked->len, 0);
    }
    gint64 unchanged, listed;
    g_object_get (h->element, "documents-unchanged", &unchanged, "documents-listed", &listed,
        NULL);
    fail_unless_equals_int64 (unchanged, resume ? 1 : 0);
    fail_unless_equals_int64 (listed, all->len);
    fail_unless (out.corpus_end);
    g_ptr_array_unref (want);
    g_ptr_array_unref (all);
    corpus_out_clear (&out);
    gst_object_unref (bus);
    gst_harness_teardown (h);
    answer = NULL;
    g_ptr_array_unref (a.asked);
    g_mutex_clear (&a.lock);
  }
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* The status query comes between the hash pass and the send pass: a file changed there (as
 * if by another process) ends as skipped, "changed while being read", after its bytes; one
 * removed there too ("cannot open"); both with a warning, both counted as skipped. */
static gchar *change_dir;

static gboolean
change_files_on_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstStructure *s = gst_text_embed_query_get_document_status (query);
  if (!s)
    return answer->harness_query (pad, parent, query);
  const gchar *id = gst_structure_get_string (s, "id");
  gchar *path = g_build_filename (change_dir, id, NULL);
  if (!strcmp (id, "a.txt"))
    g_file_set_contents (path, "Hello, world. A changed document!\n", -1, NULL);
  else if (!strcmp (id, "z.txt"))
    g_unlink (path);
  g_free (path);
  return FALSE;
}

GST_START_TEST (test_changed_while_read)
{
  gchar *dir = make_tree ();
  change_dir = dir;
  StatusAnswer a = { NULL };
  answer = &a;
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, "include", "a.txt,z.txt,A.txt", NULL);
  a.harness_query = GST_PAD_QUERYFUNC (h->sinkpad);
  gst_pad_set_query_function (h->sinkpad, change_files_on_query);
  CorpusOut out = run_corpus (h, bus, 65536);
  fail_unless_equals_int (out.docs->len, 3);
  OutDoc *d = find_doc (&out, "A.txt");
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
  d = find_doc (&out, "a.txt");
  const gchar *old = "Hello, world. A short document.\n";
  gchar *hash = test_sha256 (old, strlen (old));
  fail_unless_equals_string (gst_structure_get_string (d->start, "hash"), hash);
  g_free (hash);
  fail_unless_equals_int64 (get_int64 (d->start, "size"), strlen (old));
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  fail_unless_equals_string (gst_structure_get_string (d->end, "reason"),
      "changed while being read");
  d = find_doc (&out, "z.txt");
  fail_unless_equals_int (d->data->len, 0);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  fail_unless_equals_string (gst_structure_get_string (d->end, "reason"),
      "cannot open: No such file or directory");
  fail_unless (out.corpus_end);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "a.txt") && strstr (msg, "changed while being read"), "%s",
      msg);
  g_free (msg);
  msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "z.txt"), "%s", msg);
  g_free (msg);
  gint64 skipped;
  g_object_get (h->element, "documents-skipped", &skipped, NULL);
  fail_unless_equals_int64 (skipped, 2);
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  answer = NULL;
  change_dir = NULL;
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* PLAYING -> READY -> PLAYING reads the corpus again from the start, counters reset. */
GST_START_TEST (test_restart)
{
  gchar *dir = make_tree ();
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, "include", "*.txt", NULL);
  CorpusOut run1 = run_corpus (h, bus, 65536);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  /* the harness keeps the first run's sticky events on its pad: drop what it queued */
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (h)))
    gst_event_unref (ev);
  CorpusOut run2 = run_corpus (h, bus, 65536);
  fail_unless_equals_int (run2.docs->len, run1.docs->len);
  fail_unless_equals_string (run2.seq, run1.seq);
  for (guint i = 0; i < run1.docs->len; i++) {
    OutDoc *x = g_ptr_array_index (run1.docs, i), *y = g_ptr_array_index (run2.docs, i);
    fail_unless (gst_structure_is_equal (x->start, y->start));
    fail_unless (gst_structure_is_equal (x->end, y->end));
    fail_unless (x->data->len == y->data->len && (x->data->len == 0
            || !memcmp (x->data->data, y->data->data, x->data->len)));
  }
  gint64 listed, skipped;
  g_object_get (h->element, "documents-listed", &listed, "documents-skipped", &skipped, NULL);
  fail_unless_equals_int64 (listed, run1.docs->len);
  fail_unless_equals_int64 (skipped, 1);
  corpus_out_clear (&run1);
  corpus_out_clear (&run2);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* A JSON Lines text holding U+0000 ("\u0000", valid JSON) is either sent whole or skipped as
 * binary like a file with a NUL byte; never cut at the NUL without a word. */
GST_START_TEST (test_jsonl_nul_not_truncated)
{
  gchar *dir = g_dir_make_tmp ("corpussrc-XXXXXX", NULL);
  write_file (dir, "c.jsonl", "{\"_id\": \"nul\", \"text\": \"abc\\u0000def\"}\n", -1);
  gchar *path = g_build_filename (dir, "c.jsonl", NULL);
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", path, NULL);
  CorpusOut out = run_corpus (h, bus, 65536);
  fail_unless_equals_int (out.docs->len, 1);
  OutDoc *d = g_ptr_array_index (out.docs, 0);
  const gchar *status = gst_structure_get_string (d->end, "status");
  if (!g_strcmp0 (status, "complete")) {
    fail_unless_equals_int64 (get_int64 (d->start, "size"), 7);
    fail_unless (d->data->len == 7 && !memcmp (d->data->data, "abc\0def", 7),
        "text sent as %u bytes \"%.*s\"", d->data->len, (int) d->data->len, d->data->data);
  } else {
    fail_unless_equals_string (status, "skipped");
    fail_unless (strstr (gst_structure_get_string (d->end, "reason"), "NUL"));
  }
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_free (path);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

/* count-total=false: no listing pass, so the totals are unknown (-1) in every start. */
GST_START_TEST (test_no_count_total)
{
  gchar *dir = make_tree ();
  GstBus *bus;
  GstHarness *h = corpus_harness (&bus, "location", dir, "count-total", "false", NULL);
  CorpusOut out = run_corpus (h, bus, 65536);
  GPtrArray *want = sorted_ids (tree_ids);
  check_ids (&out, want);
  for (guint i = 0; i < out.docs->len; i++) {
    OutDoc *d = g_ptr_array_index (out.docs, i);
    fail_unless_equals_int64 (get_int64 (d->start, "total-documents"), -1);
    fail_unless_equals_int64 (get_int64 (d->start, "total-bytes"), -1);
  }
  g_ptr_array_unref (want);
  corpus_out_clear (&out);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  remove_tree (dir);
  g_free (dir);
}
GST_END_TEST;

static Suite *
corpussrc_suite (void)
{
  Suite *s = suite_create ("corpussrc");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_directory);
  tcase_add_test (tc, test_directory_byte_order);
  tcase_add_test (tc, test_include_exclude);
  tcase_add_test (tc, test_shards);
  tcase_add_test (tc, test_list);
  tcase_add_test (tc, test_list_directory_entry);
  tcase_add_test (tc, test_jsonl);
  tcase_add_test (tc, test_jsonl_fields);
  tcase_add_test (tc, test_start_failures);
  tcase_add_test (tc, test_resume_query);
  tcase_add_test (tc, test_changed_while_read);
  tcase_add_test (tc, test_restart);
  tcase_add_test (tc, test_jsonl_nul_not_truncated);
  tcase_add_test (tc, test_no_count_total);
  return s;
}

GST_CHECK_MAIN (corpussrc);
