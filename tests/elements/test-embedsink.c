/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-embedsink.c — embedsink writes valid JSON Lines with every field, escapes text, and
 * reports write errors. */
#include <string.h>
#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include "test-util.h"
#include "gsttextembedmeta.h"
#include "te-store.h"

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

/* ---- the SQLite store ---------------------------------------------------------------------- */

#define ENCODER "model=sha256:0123456789abcdef;backend=cpu"
#define IDENTITY ENCODER ";pooling=mean;normalized=1;dims=4"
#define STORE_CAPS "application/x-embedding, format=F32LE, dimension=4, " \
    "encoder=(string)\"" ENCODER "\", pooling=(string)mean, normalized=(boolean)true, " \
    "model-dir=(string)/models/mini"

/* An embedsink writing @path as @format ("sqlite", "jsonl", NULL = auto), only the final
 * progress message, caps as embedpooler sends them after npuencoder. */
static GstHarness *
store_harness (const gchar * path, const gchar * format, GstBus ** bus)
{
  GstElement *e = gst_element_factory_make ("embedsink", NULL);
  g_object_set (e, "location", path, "progress-interval", 0, NULL);
  if (format)
    gst_util_set_object_arg (G_OBJECT (e), "format", format);
  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  GstHarness *h = gst_harness_new_with_element (e, "sink", NULL);
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, STORE_CAPS);
  return h;
}

/* The embedding of chunk @index of a document: DIM floats that differ by document and chunk. */
static void
chunk_vector (const gchar * doc, guint64 index, float v[DIM])
{
  guint h = g_str_hash (doc);
  for (int d = 0; d < DIM; d++)
    v[d] = (float) ((h % 1000) / 1000.0 - 0.5) + 0.125f * index - 0.3f * d + 1.0f / 3.0f;
}

static const gchar *
chunk_text (guint64 index)
{
  static const gchar *texts[] = { "First chunk, caf\xc3\xa9.", "Second chunk.", "Third." };
  return texts[index % 3];
}

static guint
chunk_tokens (guint64 index)
{
  return 5 + index;
}

static GstBuffer *
store_chunk (const gchar * doc, guint64 index)
{
  float v[DIM];
  chunk_vector (doc, index, v);
  GstBuffer *b = gst_buffer_new_memdup (v, sizeof v);
  const gchar *text = chunk_text (index);
  gst_buffer_add_text_chunk_meta (b, doc, index, 10 * index, 10 * index + strlen (text), text,
      strlen (text), chunk_tokens (index));
  if (index == 1) {
    GST_BUFFER_PTS (b) = 2 * GST_SECOND;
    GST_BUFFER_DURATION (b) = 500 * GST_MSECOND;
  }
  return b;
}

static void
push_start (GstHarness * h, const gchar * id, const gchar * hash, gint64 size)
{
  GstStructure *s = gst_structure_new ("textembed/document-start", "id", G_TYPE_STRING, id,
      "path", G_TYPE_STRING, "/corpus/file", "size", G_TYPE_INT64, size, "mtime",
      G_TYPE_INT64, (gint64) 1700000000, "seq", G_TYPE_UINT64, (guint64) 0,
      "total-documents", G_TYPE_INT64, (gint64) 3, "total-bytes", G_TYPE_INT64, (gint64) 100,
      "invalid-utf8-offset", G_TYPE_INT64, (gint64) - 1, NULL);
  if (hash)
    gst_structure_set (s, "hash", G_TYPE_STRING, hash, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              s)));
}

static void
push_end (GstHarness * h, const gchar * id, const gchar * reason, guint64 chunks,
    const gchar * hash)
{
  guint64 tokens = 0;
  for (guint64 i = 0; i < chunks; i++)
    tokens += chunk_tokens (i);
  GstStructure *s = gst_structure_new ("textembed/document-end", "id", G_TYPE_STRING, id,
      "status", G_TYPE_STRING, reason ? "skipped" : "complete", "chunks", G_TYPE_UINT64,
      reason ? 0 : chunks, "tokens", G_TYPE_UINT64, reason ? 0 : tokens, "bytes",
      G_TYPE_UINT64, (guint64) 30, NULL);
  if (reason)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  if (hash)
    gst_structure_set (s, "hash", G_TYPE_STRING, hash, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              s)));
}

/* A whole document: start, @chunks chunks, complete end. */
static void
push_document (GstHarness * h, const gchar * id, const gchar * hash, guint chunks)
{
  push_start (h, id, hash, 30);
  for (guint i = 0; i < chunks; i++)
    fail_unless_equals_int (gst_harness_push (h, store_chunk (id, i)), GST_FLOW_OK);
  push_end (h, id, NULL, chunks, hash);
}

static TeStore *
open_store (const gchar * path)
{
  GError *err = NULL;
  TeStore *st = te_store_open_readonly (path, &err);
  fail_unless (st != NULL, "%s", err ? err->message : "");
  return st;
}

static void
check_counts (const gchar * path, guint64 documents, guint64 complete, guint64 skipped,
    guint64 deleted, guint64 chunks)
{
  TeStore *st = open_store (path);
  TeStoreCounts c;
  GError *err = NULL;
  fail_unless (te_store_counts (st, &c, &err), "%s", err ? err->message : "");
  fail_unless_equals_uint64 (c.documents, documents);
  fail_unless_equals_uint64 (c.complete, complete);
  fail_unless_equals_uint64 (c.skipped, skipped);
  fail_unless_equals_uint64 (c.deleted, deleted);
  fail_unless_equals_uint64 (c.chunks, chunks);
  te_store_close (st);
}

/* The row of @id must be complete, written from @chunks chunks with @hash and the identity;
 * its chunk rows hold what was pushed, the embeddings as little-endian float32 BLOBs. */
static void
check_complete_doc (const gchar * path, const gchar * id, const gchar * hash, guint chunks)
{
  TeStore *st = open_store (path);
  TeStoreDoc doc;
  GError *err = NULL;
  fail_unless (te_store_get_doc (st, id, &doc, &err), "no row for %s", id);
  fail_unless_equals_string (doc.id, id);
  fail_unless_equals_string (doc.path, "/corpus/file");
  fail_unless_equals_int64 (doc.size, 30);
  fail_unless_equals_int64 (doc.mtime, 1700000000);
  fail_unless_equals_string (doc.hash, hash);
  fail_unless_equals_string (doc.model, IDENTITY);
  fail_unless_equals_int (doc.dims, DIM);
  fail_unless (doc.prompt == NULL);
  fail_unless_equals_int (doc.status, TE_DOC_COMPLETE);
  fail_unless (doc.reason == NULL);
  fail_unless_equals_uint64 (doc.n_chunks, chunks);
  guint64 tokens = 0;
  for (guint i = 0; i < chunks; i++)
    tokens += chunk_tokens (i);
  fail_unless_equals_uint64 (doc.n_tokens, tokens);
  te_store_doc_clear (&doc);
  te_store_close (st);

  sqlite3 *db;
  fail_unless_equals_int (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *q;
  fail_unless_equals_int (sqlite3_prepare_v2 (db, "SELECT idx, byte_start, byte_end, pts, "
          "duration, tokens, text, embedding FROM chunks WHERE doc = ? ORDER BY idx", -1, &q,
          NULL), SQLITE_OK);
  sqlite3_bind_text (q, 1, id, -1, SQLITE_STATIC);
  guint n = 0;
  while (sqlite3_step (q) == SQLITE_ROW) {
    const gchar *text = chunk_text (n);
    fail_unless_equals_int64 (sqlite3_column_int64 (q, 0), n);
    fail_unless_equals_int64 (sqlite3_column_int64 (q, 1), 10 * n);
    fail_unless_equals_int64 (sqlite3_column_int64 (q, 2), 10 * n + strlen (text));
    if (n == 1) {
      fail_unless_equals_int64 (sqlite3_column_int64 (q, 3), 2 * GST_SECOND);
      fail_unless_equals_int64 (sqlite3_column_int64 (q, 4), 500 * GST_MSECOND);
    } else {
      fail_unless_equals_int (sqlite3_column_type (q, 3), SQLITE_NULL);
      fail_unless_equals_int (sqlite3_column_type (q, 4), SQLITE_NULL);
    }
    fail_unless_equals_int64 (sqlite3_column_int64 (q, 5), chunk_tokens (n));
    fail_unless_equals_string ((const gchar *) sqlite3_column_text (q, 6), text);
    float v[DIM];
    chunk_vector (id, n, v);
    guint8 le[DIM * 4];
    for (int d = 0; d < DIM; d++) {
      guint32 bits;
      memcpy (&bits, &v[d], 4);
      bits = GUINT32_TO_LE (bits);
      memcpy (le + 4 * d, &bits, 4);
    }
    fail_unless_equals_int (sqlite3_column_bytes (q, 7), sizeof le);
    fail_unless (memcmp (sqlite3_column_blob (q, 7), le, sizeof le) == 0, "embedding %u", n);
    n++;
  }
  fail_unless_equals_int (n, chunks);
  sqlite3_finalize (q);
  sqlite3_close (db);
}

static void
check_skipped_doc (const gchar * path, const gchar * id, const gchar * reason)
{
  TeStore *st = open_store (path);
  TeStoreDoc doc;
  fail_unless (te_store_get_doc (st, id, &doc, NULL), "no row for %s", id);
  fail_unless_equals_int (doc.status, TE_DOC_SKIPPED);
  fail_unless_equals_string (doc.reason, reason);
  fail_unless_equals_uint64 (doc.n_chunks, 0);
  fail_unless_equals_uint64 (doc.n_tokens, 0);
  te_store_doc_clear (&doc);
  te_store_close (st);
}

static gboolean
has_doc (const gchar * path, const gchar * id)
{
  TeStore *st = open_store (path);
  TeStoreDoc doc;
  gboolean found = te_store_get_doc (st, id, &doc, NULL);
  if (found)
    te_store_doc_clear (&doc);
  te_store_close (st);
  return found;
}

static gchar *
store_meta (const gchar * path, const gchar * key)
{
  TeStore *st = open_store (path);
  gchar *v = te_store_get_meta (st, key);
  te_store_close (st);
  return v;
}

typedef struct
{
  gchar *dir, *path;
} TmpStore;

static TmpStore
tmp_store (const gchar * name)
{
  TmpStore t;
  t.dir = g_dir_make_tmp ("embedsink-XXXXXX", NULL);
  t.path = g_build_filename (t.dir, name, NULL);
  return t;
}

static void
tmp_store_free (TmpStore * t)
{
  GDir *d = g_dir_open (t->dir, 0, NULL);
  const gchar *name;
  while (d && (name = g_dir_read_name (d))) {
    gchar *p = g_build_filename (t->dir, name, NULL);
    g_unlink (p);
    g_free (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (t->dir);
  g_free (t->dir);
  g_free (t->path);
}

/* A document-status query as corpussrc sends it with the fields npuencoder and embedpooler add
 * on the way; NULL @encoder: no encoder field. Returns whether it was answered, and *current. */
static gboolean
ask_status (GstHarness * h, const gchar * id, const gchar * hash, const gchar * encoder,
    const gchar * pooling, gboolean normalized, gint dims, gboolean * current)
{
  GstStructure *s = gst_structure_new ("textembed/document-status", "id", G_TYPE_STRING, id,
      "hash", G_TYPE_STRING, hash, "size", G_TYPE_INT64, (gint64) 30, "pooling", G_TYPE_STRING,
      pooling, "normalized", G_TYPE_BOOLEAN, normalized, "dimension", G_TYPE_INT, dims, NULL);
  if (encoder)
    gst_structure_set (s, "encoder", G_TYPE_STRING, encoder, NULL);
  GstQuery *q = gst_query_new_custom (GST_QUERY_CUSTOM, s);
  gboolean answered = gst_pad_peer_query (h->srcpad, q);
  *current = FALSE;
  if (answered)
    fail_unless (gst_structure_get_boolean (gst_query_get_structure (q), "current", current),
        "answered without current");
  gst_query_unref (q);
  return answered;
}

static gboolean
is_current (GstHarness * h, const gchar * id, const gchar * hash)
{
  gboolean current;
  fail_unless (ask_status (h, id, hash, ENCODER, "mean", TRUE, DIM, &current));
  return current;
}

#define HASH_A "sha256:aaaa"
#define HASH_A2 "sha256:aaa2"
#define HASH_B "sha256:bbbb"
#define HASH_C "sha256:cccc"

/* The final textembed-progress message (exactly one, at EOS, with final=TRUE; no other progress
 * message with progress-interval=0). Caller frees. */
static GstStructure *
final_progress (GstBus * bus)
{
  GstStructure *final = NULL;
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (m);
    if (gst_structure_has_name (s, "textembed-progress")) {
      gboolean is_final = FALSE;
      fail_unless (gst_structure_get_boolean (s, "final", &is_final));
      fail_unless (is_final, "a progress message before EOS: %" GST_PTR_FORMAT, s);
      fail_unless (final == NULL, "two final progress messages");
      final = gst_structure_copy (s);
    }
    gst_message_unref (m);
  }
  fail_unless (final != NULL, "no final progress message");
  return final;
}

static void
check_progress (const GstStructure * s, guint64 complete, guint64 skipped, guint64 unchanged,
    guint64 deleted, gint64 total, guint64 chunks, guint64 tokens, guint64 bytes_done,
    gint64 bytes_total)
{
  guint64 u;
  gint64 i;
  gdouble d;
#define U(f, want) fail_unless (gst_structure_get_uint64 (s, f, &u), "no %s", f); \
  fail_unless_equals_uint64 (u, want)
  U ("documents-done", complete + skipped + unchanged);
  U ("documents-complete", complete);
  U ("documents-skipped", skipped);
  U ("documents-unchanged", unchanged);
  U ("documents-deleted", deleted);
  U ("chunks", chunks);
  U ("tokens", tokens);
  U ("bytes-done", bytes_done);
#undef U
  fail_unless (gst_structure_get_int64 (s, "documents-total", &i));
  fail_unless_equals_int64 (i, total);
  fail_unless (gst_structure_get_int64 (s, "bytes-total", &i));
  fail_unless_equals_int64 (i, bytes_total);
  fail_unless (gst_structure_get_double (s, "elapsed", &d) && d >= 0);
  fail_unless (gst_structure_get_double (s, "documents-per-second", &d) && d >= 0);
  fail_unless (gst_structure_get_double (s, "tokens-per-second", &d) && d >= 0);
  fail_unless (gst_structure_get_double (s, "eta", &d) && d == 0);
}

/* A framed document is committed at its end with its row, chunks, BLOBs and the identity from
 * the caps; a document started and never ended (before EOS, or before the next start) leaves
 * nothing; the sink answers the status query for what it has just written. */
GST_START_TEST (test_sqlite_documents)
{
  /* format=sqlite with a name that auto would take for JSON Lines */
  TmpStore t = tmp_store ("store.data");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, "sqlite", &bus);
  push_document (h, "a.txt", HASH_A, 3);
  fail_unless (is_current (h, "a.txt", HASH_A));
  /* abandoned by upstream: the next start comes */
  push_start (h, "c.txt", HASH_C, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("c.txt", 0)), GST_FLOW_OK);
  push_document (h, "d.txt", HASH_B, 2);
  /* never ended before EOS */
  push_start (h, "b.txt", HASH_B, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("b.txt", 0)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("b.txt", 1)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* the query above counted a.txt as unchanged as well (corpussrc asks before sending); chunks
   * and tokens count only committed documents (a.txt, d.txt), not the rolled-back ones */
  GstStructure *p = final_progress (bus);
  check_progress (p, 2, 0, 1, 0, 3, 5, 5 + 6 + 7 + 5 + 6, 90, 100);
  gst_structure_free (p);
  fail_unless (test_pop_message_text (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING) == NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  check_counts (t.path, 2, 2, 0, 0, 5);
  check_complete_doc (t.path, "a.txt", HASH_A, 3);
  check_complete_doc (t.path, "d.txt", HASH_B, 2);
  fail_if (has_doc (t.path, "b.txt"));
  fail_if (has_doc (t.path, "c.txt"));
  gchar *v = store_meta (t.path, "model");
  fail_unless_equals_string (v, IDENTITY);
  g_free (v);
  v = store_meta (t.path, "dims");
  fail_unless_equals_string (v, "4");
  g_free (v);
  v = store_meta (t.path, "model_dir");
  fail_unless_equals_string (v, "/models/mini");
  g_free (v);
  tmp_store_free (&t);
}
GST_END_TEST;

/* A skipped document-end writes a skipped row with the reason and no chunks, rolling back the
 * chunks that came before it; it replaces a complete row of an earlier run (its chunks go). */
GST_START_TEST (test_sqlite_skipped)
{
  TmpStore t = tmp_store ("corpus.sqlite");      /* format auto */
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  push_document (h, "was-good.txt", HASH_A, 3);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_object_unref (bus);
  gst_harness_teardown (h);
  check_counts (t.path, 1, 1, 0, 0, 3);

  h = store_harness (t.path, NULL, &bus);
  push_start (h, "bad.txt", HASH_B, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("bad.txt", 0)), GST_FLOW_OK);
  push_end (h, "bad.txt", "input is not valid UTF-8 at byte 12 of the document", 0, NULL);
  push_start (h, "empty.txt", NULL, 0);
  push_end (h, "empty.txt", "empty document", 0, NULL);
  push_start (h, "was-good.txt", HASH_A2, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("was-good.txt", 0)), GST_FLOW_OK);
  push_end (h, "was-good.txt", "changed while being read", 0, NULL);
  /* a complete end with no chunk at all is not a complete document */
  push_start (h, "blank.txt", HASH_C, 30);
  push_end (h, "blank.txt", NULL, 0, HASH_C);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstStructure *p = final_progress (bus);
  guint64 skipped;
  fail_unless (gst_structure_get_uint64 (p, "documents-skipped", &skipped));
  fail_unless_equals_uint64 (skipped, 4);
  gst_structure_free (p);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  check_counts (t.path, 4, 0, 4, 0, 0);
  check_skipped_doc (t.path, "bad.txt", "input is not valid UTF-8 at byte 12 of the document");
  check_skipped_doc (t.path, "empty.txt", "empty document");
  check_skipped_doc (t.path, "was-good.txt", "changed while being read");
  TeStore *st = open_store (t.path);
  TeStoreDoc doc;
  fail_unless (te_store_get_doc (st, "blank.txt", &doc, NULL));
  fail_unless_equals_int (doc.status, TE_DOC_SKIPPED);
  te_store_doc_clear (&doc);
  te_store_close (st);
  tmp_store_free (&t);
}
GST_END_TEST;

/* current=TRUE only for the same id, hash and identity (encoder, pooling, normalisation,
 * dimension) of a complete document; JSON Lines does not answer. */
GST_START_TEST (test_sqlite_status_query)
{
  TmpStore t = tmp_store ("corpus.sqlite");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  push_document (h, "a.txt", HASH_A, 2);
  push_start (h, "bad.txt", HASH_B, 30);
  push_end (h, "bad.txt", "binary (NUL byte at 3)", 0, HASH_B);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_object_unref (bus);
  gst_harness_teardown (h);

  h = store_harness (t.path, NULL, &bus);
  gboolean current;
  fail_unless (ask_status (h, "a.txt", HASH_A, ENCODER, "mean", TRUE, DIM, &current));
  fail_unless (current);
  fail_unless (ask_status (h, "a.txt", HASH_A2, ENCODER, "mean", TRUE, DIM, &current));
  fail_if (current, "another hash");
  fail_unless (ask_status (h, "a.txt", HASH_A, "model=sha256:0123456789abcdef;backend=openvino",
          "mean", TRUE, DIM, &current));
  fail_if (current, "another backend");
  fail_unless (ask_status (h, "a.txt", HASH_A, "model=sha256:fedcba9876543210;backend=cpu",
          "mean", TRUE, DIM, &current));
  fail_if (current, "another model");
  fail_unless (ask_status (h, "a.txt", HASH_A, ENCODER, "cls", TRUE, DIM, &current));
  fail_if (current, "another pooling");
  fail_unless (ask_status (h, "a.txt", HASH_A, ENCODER, "mean", FALSE, DIM, &current));
  fail_if (current, "not normalised");
  fail_unless (ask_status (h, "a.txt", HASH_A, ENCODER, "mean", TRUE, 8, &current));
  fail_if (current, "another dimension");
  if (ask_status (h, "a.txt", HASH_A, NULL, "mean", TRUE, DIM, &current))
    fail_if (current, "no encoder in the query");
  fail_unless (ask_status (h, "other.txt", HASH_A, ENCODER, "mean", TRUE, DIM, &current));
  fail_if (current, "unknown id");
  fail_unless (ask_status (h, "bad.txt", HASH_B, ENCODER, "mean", TRUE, DIM, &current));
  fail_if (current, "a skipped document");
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstStructure *p = final_progress (bus);
  guint64 unchanged;
  fail_unless (gst_structure_get_uint64 (p, "documents-unchanged", &unchanged));
  fail_unless_equals_uint64 (unchanged, 1);
  gst_structure_free (p);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  gchar *jsonl = g_build_filename (t.dir, "out.jsonl", NULL);
  h = store_harness (jsonl, NULL, &bus);
  fail_if (ask_status (h, "a.txt", HASH_A, ENCODER, "mean", TRUE, DIM, &current));
  gst_object_unref (bus);
  gst_harness_teardown (h);
  g_free (jsonl);
  tmp_store_free (&t);
}
GST_END_TEST;

/* corpus-end: documents of the store that this run neither asked about nor wrote become
 * deleted (chunks removed); asked-about and rewritten ones stay; a changed document's old
 * chunks are replaced. Without corpus-end nothing is deleted. The final progress counts it. */
GST_START_TEST (test_sqlite_corpus_end)
{
  TmpStore t = tmp_store ("corpus.sqlite");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  push_document (h, "a.txt", HASH_A, 2);
  push_document (h, "b.txt", HASH_B, 3);
  push_document (h, "c.txt", HASH_C, 2);
  push_start (h, "s.txt", NULL, 30);
  push_end (h, "s.txt", "empty document", 0, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_object_unref (bus);
  gst_harness_teardown (h);
  check_counts (t.path, 4, 3, 1, 0, 7);

  /* a run that stops before its corpus-end (or a single file) deletes nothing */
  h = store_harness (t.path, NULL, &bus);
  fail_unless (is_current (h, "a.txt", HASH_A));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_object_unref (bus);
  gst_harness_teardown (h);
  check_counts (t.path, 4, 3, 1, 0, 7);

  h = store_harness (t.path, NULL, &bus);
  fail_unless (is_current (h, "a.txt", HASH_A));        /* unchanged: not sent */
  fail_if (is_current (h, "b.txt", HASH_A2));   /* changed: sent again */
  push_document (h, "b.txt", HASH_A2, 2);
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/corpus-end")));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstStructure *p = final_progress (bus);
  check_progress (p, 1, 0, 1, 2, 3, 2, 5 + 6, 60, 100);
  gst_structure_free (p);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  check_counts (t.path, 4, 2, 0, 2, 4);
  check_complete_doc (t.path, "a.txt", HASH_A, 2);
  check_complete_doc (t.path, "b.txt", HASH_A2, 2);
  TeStore *st = open_store (t.path);
  const gchar *gone[] = { "c.txt", "s.txt" };
  for (guint i = 0; i < 2; i++) {
    TeStoreDoc doc;
    fail_unless (te_store_get_doc (st, gone[i], &doc, NULL));
    fail_unless_equals_int (doc.status, TE_DOC_DELETED);
    fail_unless_equals_uint64 (doc.n_chunks, 0);
    te_store_doc_clear (&doc);
  }
  te_store_close (st);
  tmp_store_free (&t);
}
GST_END_TEST;

/* The final progress message of a corpus with complete, skipped (without chunks) documents. */
GST_START_TEST (test_progress_final)
{
  TmpStore t = tmp_store ("corpus.sqlite");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  push_document (h, "a.txt", HASH_A, 3);
  push_start (h, "empty.txt", NULL, 20);
  push_end (h, "empty.txt", "empty document", 0, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstStructure *p = final_progress (bus);
  check_progress (p, 1, 1, 0, 0, 3, 3, 5 + 6 + 7, 50, 100);
  gst_structure_free (p);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  tmp_store_free (&t);
}
GST_END_TEST;

/* JSON Lines: a skipped document's chunk lines stay and a status line follows; the progress
 * counts both documents. */
GST_START_TEST (test_jsonl_skipped_line)
{
  TmpStore t = tmp_store ("out.jsonl");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  push_document (h, "a.txt", HASH_A, 2);
  push_start (h, "bad \"quoted\".txt", NULL, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("bad \"quoted\".txt", 0)),
      GST_FLOW_OK);
  push_end (h, "bad \"quoted\".txt", "input is not valid UTF-8 at byte 12", 0, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstStructure *p = final_progress (bus);
  guint64 complete, skipped;
  fail_unless (gst_structure_get_uint64 (p, "documents-complete", &complete));
  fail_unless (gst_structure_get_uint64 (p, "documents-skipped", &skipped));
  fail_unless_equals_uint64 (complete, 1);
  fail_unless_equals_uint64 (skipped, 1);
  gst_structure_free (p);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  gsize len;
  gchar *contents = test_read_file (t.path, &len);
  gchar **lines = g_strsplit (contents, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), 5);
  fail_unless_equals_string (lines[4], "");
  const gchar *docs[] = { "a.txt", "a.txt", "bad \"quoted\".txt", "bad \"quoted\".txt" };
  for (int i = 0; i < 4; i++) {
    JsonParser *jp = json_parser_new ();
    fail_unless (json_parser_load_from_data (jp, lines[i], -1, NULL), "%s", lines[i]);
    JsonObject *o = json_node_get_object (json_parser_get_root (jp));
    fail_unless_equals_string (json_object_get_string_member (o, "doc"), docs[i]);
    if (i < 3) {
      fail_unless (json_object_has_member (o, "embedding"));
    } else {
      fail_unless_equals_int (json_object_get_size (o), 3);
      fail_unless_equals_string (json_object_get_string_member (o, "status"), "skipped");
      fail_unless_equals_string (json_object_get_string_member (o, "reason"),
          "input is not valid UTF-8 at byte 12");
    }
    g_object_unref (jp);
  }
  g_strfreev (lines);
  g_free (contents);
  tmp_store_free (&t);
}
GST_END_TEST;

/* corpussrc asks about the next documents while an earlier one is still on its way: those
 * seen marks survive the open document's commit and its rollback, so corpus-end keeps them. */
GST_START_TEST (test_sqlite_seen_during_document)
{
  TmpStore t = tmp_store ("corpus.sqlite");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  push_document (h, "a.txt", HASH_A, 2);
  push_document (h, "b.txt", HASH_B, 2);
  push_document (h, "c.txt", HASH_C, 1);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_object_unref (bus);
  gst_harness_teardown (h);

  h = store_harness (t.path, NULL, &bus);
  fail_if (is_current (h, "new.txt", HASH_A));
  push_start (h, "new.txt", HASH_A, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("new.txt", 0)), GST_FLOW_OK);
  fail_unless (is_current (h, "a.txt", HASH_A));        /* asked while new.txt is open */
  push_end (h, "new.txt", NULL, 1, HASH_A);
  fail_if (is_current (h, "gone-bad.txt", HASH_C));
  push_start (h, "gone-bad.txt", HASH_C, 30);
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("gone-bad.txt", 0)), GST_FLOW_OK);
  fail_unless (is_current (h, "b.txt", HASH_B));        /* asked while gone-bad.txt is open */
  push_end (h, "gone-bad.txt", "changed while being read", 0, NULL);
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/corpus-end")));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  GstStructure *p = final_progress (bus);
  guint64 deleted;
  fail_unless (gst_structure_get_uint64 (p, "documents-deleted", &deleted));
  fail_unless_equals_uint64 (deleted, 1);
  gst_structure_free (p);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  check_complete_doc (t.path, "a.txt", HASH_A, 2);
  check_complete_doc (t.path, "b.txt", HASH_B, 2);
  check_complete_doc (t.path, "new.txt", HASH_A, 1);
  check_skipped_doc (t.path, "gone-bad.txt", "changed while being read");
  TeStore *st = open_store (t.path);
  TeStoreDoc doc;
  fail_unless (te_store_get_doc (st, "c.txt", &doc, NULL));
  fail_unless_equals_int (doc.status, TE_DOC_DELETED);
  te_store_doc_clear (&doc);
  te_store_close (st);
  tmp_store_free (&t);
}
GST_END_TEST;

/* textchunker's own framing of plain input (filesrc) has no size in its start: the row's size
 * is the end's byte count. Embeddings without any document event are framed by the meta's
 * document id: a new id commits the previous document, EOS the last. */
GST_START_TEST (test_sqlite_unframed_input)
{
  TmpStore t = tmp_store ("corpus.sqlite");
  GstBus *bus;
  GstHarness *h = store_harness (t.path, NULL, &bus);
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-start, "
              "id=(string)/data/file.txt, path=(string)/data/file.txt, seq=(guint64)0")));
  fail_unless_equals_int (gst_harness_push (h, store_chunk ("/data/file.txt", 0)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-end, "
              "id=(string)/data/file.txt, status=(string)complete, chunks=(guint64)1, "
              "tokens=(guint64)5, bytes=(guint64)4321, hash=(string)sha256:ffff")));
  for (guint i = 0; i < 3; i++)
    fail_unless_equals_int (gst_harness_push (h, store_chunk ("x", i)), GST_FLOW_OK);
  for (guint i = 0; i < 2; i++)
    fail_unless_equals_int (gst_harness_push (h, store_chunk ("y", i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_object_unref (bus);
  gst_harness_teardown (h);

  check_counts (t.path, 3, 3, 0, 0, 6);
  TeStore *st = open_store (t.path);
  TeStoreDoc doc;
  fail_unless (te_store_get_doc (st, "/data/file.txt", &doc, NULL));
  fail_unless_equals_int64 (doc.size, 4321);
  fail_unless_equals_string (doc.hash, "sha256:ffff");
  fail_unless_equals_int (doc.status, TE_DOC_COMPLETE);
  te_store_doc_clear (&doc);
  fail_unless (te_store_get_doc (st, "x", &doc, NULL));
  fail_unless_equals_uint64 (doc.n_chunks, 3);
  fail_unless_equals_string (doc.model, IDENTITY);
  te_store_doc_clear (&doc);
  fail_unless (te_store_get_doc (st, "y", &doc, NULL));
  fail_unless_equals_uint64 (doc.n_chunks, 2);
  te_store_doc_clear (&doc);
  te_store_close (st);
  tmp_store_free (&t);
}
GST_END_TEST;

/* The embedding identity through the real elements: npuencoder and embedpooler put it in their
 * caps (rows written) and in the document-status query (question asked), and both give the
 * same string, so a document embedded once is current for the next run. */
GST_START_TEST (test_identity_through_pipeline)
{
  TmpStore t = tmp_store ("corpus.sqlite");
  gchar *launch = g_strdup_printf ("textchunker max-tokens=32 ! texttokenizer ! npuencoder "
      "backend=cpu ! embedpooler ! embedsink progress-interval=0 location=%s", t.path);
  GstHarness *h = gst_harness_new_parse (launch);
  g_free (launch);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  const gchar *text = "An embedded document. It has two sentences and a few words more.";
  gchar *hash = test_sha256 (text, strlen (text));
  gchar *start = g_strdup_printf ("textembed/document-start, id=(string)doc, "
      "hash=(string)%s, size=(gint64)%" G_GSIZE_FORMAT ", seq=(guint64)0", hash, strlen (text));
  fail_unless (gst_harness_push_event (h, test_document_event (start)));
  g_free (start);
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer (text)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-end, "
              "id=(string)doc, status=(string)complete")));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* embedsink's final progress message: the document went through and was committed */
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    fail_unless (m != NULL, "no final progress message");
    fail_unless (GST_MESSAGE_TYPE (m) != GST_MESSAGE_ERROR, "error %" GST_PTR_FORMAT, m);
    const GstStructure *s = gst_message_get_structure (m);
    gboolean final = FALSE;
    gboolean done = gst_structure_has_name (s, "textembed-progress")
        && gst_structure_get_boolean (s, "final", &final) && final;
    gst_message_unref (m);
    if (done)
      break;
  }

  /* what the caps carried, as the store keeps it */
  TeStore *st = open_store (t.path);
  TeStoreDoc doc;
  fail_unless (te_store_get_doc (st, "doc", &doc, NULL));
  fail_unless_equals_int (doc.status, TE_DOC_COMPLETE);
  fail_unless_equals_string (doc.hash, hash);
  fail_unless (doc.n_chunks >= 1);
  fail_unless_equals_int (doc.dims, 384);
  gchar *written = g_strdup (doc.model);
  te_store_doc_clear (&doc);
  te_store_close (st);
  fail_unless (written && g_regex_match_simple ("^model=sha256:[0-9a-f]{16};backend=cpu"
          "(;dtype=[a-z0-9]+)?;pooling=mean;normalized=1;dims=384;chunking=max-tokens=[0-9]+,"
          "overlap=[0-9]+$", written, 0, 0), "%s",
      written);

  /* the question asked on the way down */
  GstQuery *q = gst_query_new_custom (GST_QUERY_CUSTOM, gst_structure_new
      ("textembed/document-status", "id", G_TYPE_STRING, "doc", "hash", G_TYPE_STRING, hash,
          "size", G_TYPE_INT64, (gint64) strlen (text), NULL));
  fail_unless (gst_pad_peer_query (h->srcpad, q));
  const GstStructure *qs = gst_query_get_structure (q);
  gboolean current = FALSE, normalized = FALSE;
  gint dims = 0;
  fail_unless (gst_structure_get_boolean (qs, "current", &current));
  fail_unless_equals_string (gst_structure_get_string (qs, "pooling"), "mean");
  fail_unless (gst_structure_get_boolean (qs, "normalized", &normalized) && normalized);
  fail_unless (gst_structure_get_int (qs, "dimension", &dims) && dims == 384);
  gchar *asked = gst_text_embed_identity_from_structure (qs);
  fail_unless_equals_string (asked, written);
  fail_unless (current, "an embedded document is not current: %" GST_PTR_FORMAT, qs);
  g_free (asked);
  gst_query_unref (q);

  q = gst_query_new_custom (GST_QUERY_CUSTOM, gst_structure_new ("textembed/document-status",
          "id", G_TYPE_STRING, "doc", "hash", G_TYPE_STRING, "sha256:other", NULL));
  fail_unless (gst_pad_peer_query (h->srcpad, q));
  fail_unless (gst_structure_get_boolean (gst_query_get_structure (q), "current", &current));
  fail_if (current);
  gst_query_unref (q);

  g_free (written);
  g_free (hash);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  tmp_store_free (&t);
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
  tcase_add_test (tc, test_sqlite_documents);
  tcase_add_test (tc, test_sqlite_skipped);
  tcase_add_test (tc, test_sqlite_status_query);
  tcase_add_test (tc, test_sqlite_corpus_end);
  tcase_add_test (tc, test_progress_final);
  tcase_add_test (tc, test_jsonl_skipped_line);
  tcase_add_test (tc, test_sqlite_seen_during_document);
  tcase_add_test (tc, test_sqlite_unframed_input);
  tcase_add_test (tc, test_identity_through_pipeline);
  return s;
}

GST_CHECK_MAIN (embedsink);
