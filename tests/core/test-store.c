/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-store.c — te-store: schema and its checks, one transaction per document (commit, abort,
 * replace, a full disk), resume marks, search against a naive reference, merge of shards. */
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sqlite3.h>

#include "te-store.h"

static char *tmpdir;

/* A new path in the test directory. */
static char *
tmp_path (const char *name)
{
  static guint n;
  char *base = g_strdup_printf ("%u-%s", n++, name);
  char *path = g_build_filename (tmpdir, base, NULL);

  g_free (base);
  return path;
}

/* ---- direct SQLite access, independent of te-store.c ---- */

static sqlite3 *
raw_open (const char *path)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  return db;
}

static void
raw_exec (const char *path, const char *sql)
{
  sqlite3 *db = raw_open (path);
  char *msg = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
    g_error ("%s: %s", sql, msg);
  sqlite3_close (db);
}

/* First column of the first row of @sql as text ("" when none, "NULL" for NULL). */
static char *
raw_text (const char *path, const char *sql)
{
  sqlite3 *db = raw_open (path);
  sqlite3_stmt *st = NULL;
  char *out;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  if (sqlite3_step (st) == SQLITE_ROW)
    out = sqlite3_column_type (st, 0) == SQLITE_NULL ? g_strdup ("NULL") :
        g_strdup ((const char *) sqlite3_column_text (st, 0));
  else
    out = g_strdup ("");
  sqlite3_finalize (st);
  sqlite3_close (db);
  return out;
}

static gint64
raw_int (const char *path, const char *sql)
{
  char *t = raw_text (path, sql);
  gint64 v = g_ascii_strtoll (t, NULL, 10);

  g_free (t);
  return v;
}

/* Every row of every table, sorted, blobs in hex: two stores with equal dumps hold the same. */
static char *
raw_dump (const char *path)
{
  static const char *const queries[] = {
    "SELECT 'meta', * FROM meta ORDER BY key",
    "SELECT 'doc', * FROM documents ORDER BY id",
    "SELECT 'chunk', * FROM chunks ORDER BY doc, idx",
  };
  sqlite3 *db = raw_open (path);
  GString *out = g_string_new (NULL);

  g_string_append_printf (out, "version %" G_GINT64_FORMAT "\n",
      raw_int (path, "PRAGMA user_version"));
  for (guint q = 0; q < G_N_ELEMENTS (queries); q++) {
    sqlite3_stmt *st = NULL;

    g_assert_cmpint (sqlite3_prepare_v2 (db, queries[q], -1, &st, NULL), ==, SQLITE_OK);
    while (sqlite3_step (st) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count (st); c++) {
        const guint8 *b;
        int n;

        switch (sqlite3_column_type (st, c)) {
          case SQLITE_NULL:
            g_string_append (out, "|NULL");
            break;
          case SQLITE_INTEGER:
            g_string_append_printf (out, "|%lld", (long long) sqlite3_column_int64 (st, c));
            break;
          case SQLITE_TEXT:
            g_string_append_printf (out, "|'%s'", sqlite3_column_text (st, c));
            break;
          default:
            b = sqlite3_column_blob (st, c);
            n = sqlite3_column_bytes (st, c);
            g_string_append (out, "|x");
            for (int i = 0; i < n; i++)
              g_string_append_printf (out, "%02x", b[i]);
        }
      }
      g_string_append_c (out, '\n');
    }
    sqlite3_finalize (st);
  }
  sqlite3_close (db);
  return g_string_free (out, FALSE);
}

static void
assert_integrity_ok (const char *path)
{
  char *r = raw_text (path, "PRAGMA integrity_check");

  g_assert_cmpstr (r, ==, "ok");
  g_free (r);
}

/* ---- documents made up for the tests ---- */

typedef struct {
  char *id;
  char *model;
  char *hash;
  guint n, dims;
  float *emb;        /* [n * dims] */
  char **texts;      /* [n], NULL entries: no text */
} Doc;

static Doc *
doc_new (const char *id, const char *model, guint n, guint dims, GRand * rand)
{
  Doc *d = g_new0 (Doc, 1);

  d->id = g_strdup (id);
  d->model = g_strdup (model);
  d->hash = g_strdup_printf ("sha256:%08x", g_rand_int (rand));
  d->n = n;
  d->dims = dims;
  d->emb = g_new (float, (gsize) n * dims);
  d->texts = g_new0 (char *, n + 1);
  for (guint i = 0; i < n * dims; i++)
    d->emb[i] = (float) g_rand_double_range (rand, -1.0, 1.0);
  for (guint i = 0; i < n; i++)
    d->texts[i] = i % 3 == 2 ? NULL : g_strdup_printf ("chunk %u of %s \xc3\xa9\n", i, id);
  return d;
}

static void
doc_free (gpointer p)
{
  Doc *d = p;

  g_free (d->id);
  g_free (d->model);
  g_free (d->hash);
  g_free (d->emb);
  for (guint i = 0; i < d->n; i++)
    g_free (d->texts[i]);
  g_free (d->texts);
  g_free (d);
}

static TeStoreDoc
doc_row (const Doc * d)
{
  TeStoreDoc row = { 0 };

  row.id = d->id;
  row.path = d->id;
  row.size = 1000 + d->n;
  row.mtime = 1700000000;
  row.hash = d->hash;
  row.model = d->model;
  row.dims = d->dims;
  row.prompt = NULL;
  row.status = TE_DOC_COMPLETE;
  row.n_chunks = d->n;
  row.n_tokens = 0;
  for (guint i = 0; i < d->n; i++)
    row.n_tokens += 10 + i;
  return row;
}

static TeStoreChunk
doc_chunk (const Doc * d, guint i)
{
  TeStoreChunk c = { 0 };

  c.index = i;
  c.start = 100 * i;
  c.end = 100 * i + 100;
  c.pts = i % 2 ? -1 : (gint64) i * 1000000000;
  c.duration = i % 2 ? -1 : 1000000000;
  c.n_tokens = 10 + i;
  c.text = d->texts[i];
  c.text_len = d->texts[i] ? strlen (d->texts[i]) : 0;
  c.embedding = d->emb + (gsize) i * d->dims;
  c.dims = d->dims;
  return c;
}

static void
write_doc (TeStore * store, const Doc * d)
{
  GError *error = NULL;
  TeStoreDoc row = doc_row (d);

  g_assert_true (te_store_doc_begin (store, d->id, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < d->n; i++) {
    TeStoreChunk c = doc_chunk (d, i);
    g_assert_true (te_store_doc_add_chunk (store, &c, &error));
    g_assert_no_error (error);
  }
  g_assert_true (te_store_doc_commit (store, &row, &error));
  g_assert_no_error (error);
}

static TeStore *
open_new (const char *name, char **path)
{
  GError *error = NULL;
  TeStore *store;

  *path = tmp_path (name);
  store = te_store_open (*path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

/* ---- tests ---- */

static void
test_status_names (void)
{
  TeDocStatus st;

  g_assert_cmpstr (te_doc_status_to_string (TE_DOC_COMPLETE), ==, "complete");
  g_assert_cmpstr (te_doc_status_to_string (TE_DOC_SKIPPED), ==, "skipped");
  g_assert_cmpstr (te_doc_status_to_string (TE_DOC_DELETED), ==, "deleted");
  g_assert_true (te_doc_status_from_string ("deleted", &st));
  g_assert_cmpint (st, ==, TE_DOC_DELETED);
  g_assert_false (te_doc_status_from_string ("Complete", &st));
  g_assert_false (te_doc_status_from_string (NULL, &st));
}

/* The schema exactly as docs/store.md gives it. */
static const char *const want_tables[][2] = {
  {"meta", "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID"},
  {"documents", "CREATE TABLE documents (id TEXT PRIMARY KEY, path TEXT, size INTEGER, "
        "mtime INTEGER, hash TEXT, model TEXT, dims INTEGER, prompt TEXT, status TEXT NOT NULL "
        "CHECK (status IN ('complete','skipped','deleted')), reason TEXT, chunks INTEGER NOT "
        "NULL, tokens INTEGER NOT NULL, embedding BLOB) WITHOUT ROWID"},
  {"chunks", "CREATE TABLE chunks (doc TEXT NOT NULL, idx INTEGER NOT NULL, byte_start INTEGER "
        "NOT NULL, byte_end INTEGER NOT NULL, pts INTEGER, duration INTEGER, tokens INTEGER NOT "
        "NULL, text TEXT, embedding BLOB NOT NULL, PRIMARY KEY (doc, idx)) WITHOUT ROWID"},
};

/* Document vectors (schema version 2): written with the row, read back bit for bit by
 * te_store_get_doc and te_store_foreach_doc, searched by te_store_search_documents; a
 * version-1 store is read as it is and upgraded in place by a writer. */
static gboolean
collect_doc_vector (const TeStoreDoc * d, gpointer user_data)
{
  if (d->embedding)
    g_ptr_array_add (user_data, g_memdup2 (d->embedding, d->dims * sizeof (float)));
  return TRUE;
}

static void
test_document_vectors (void)
{
  GError *error = NULL;
  char *path;
  TeStore *store = open_new ("docvec.db", &path);
  const guint dims = 4;
  float emb[4 * 2] = { 1, 0, 0, 0, 0, 1, 0, 0 };
  const float vec_a[4] = { 0.5f, -0.25f, 0.125f, 3.0f }, vec_b[4] = { -1, 2, -3, 4 };
  const char *ids[] = { "a", "b" };
  const float *vecs[] = { vec_a, vec_b };

  for (guint d = 0; d < 2; d++) {
    g_assert_true (te_store_doc_begin (store, ids[d], &error));
    TeStoreChunk c = { .index = 0, .start = 0, .end = 1, .pts = -1, .duration = -1,
      .n_tokens = 3, .embedding = emb + d * dims, .dims = dims };
    g_assert_true (te_store_doc_add_chunk (store, &c, &error));
    TeStoreDoc row = { .id = ids[d], .size = 1, .mtime = -1, .model = "m", .dims = dims,
      .status = TE_DOC_COMPLETE, .n_chunks = 1, .n_tokens = 3, .embedding = vecs[d] };
    g_assert_true (te_store_doc_commit (store, &row, &error));
    g_assert_no_error (error);
  }
  TeStoreDoc got;
  g_assert_true (te_store_get_doc (store, "b", &got, &error));
  g_assert_nonnull (got.embedding);
  g_assert_cmpmem (got.embedding, dims * 4, vec_b, dims * 4);
  te_store_doc_clear (&got);
  GPtrArray *all = g_ptr_array_new_with_free_func (g_free);
  g_assert_true (te_store_foreach_doc (store, collect_doc_vector, all, &error));
  g_assert_cmpuint (all->len, ==, 2);
  g_assert_cmpmem (all->pdata[0], dims * 4, vec_a, dims * 4);
  g_ptr_array_unref (all);
  /* the query is vec_b itself: b first, scored 1 */
  GPtrArray *res = te_store_search_documents (store, "m", vec_b, 1, dims, 2, &error);
  g_assert_no_error (error);
  GArray *hits = g_ptr_array_index (res, 0);
  g_assert_cmpuint (hits->len, ==, 2);
  g_assert_cmpstr (g_array_index (hits, TeStoreHit, 0).doc, ==, "b");
  g_assert_cmpfloat_with_epsilon (g_array_index (hits, TeStoreHit, 0).score, 1.0, 1e-6);
  g_assert_cmpuint (g_array_index (hits, TeStoreHit, 0).index, ==, 1);
  g_assert_null (g_array_index (hits, TeStoreHit, 0).text);
  g_ptr_array_unref (res);
  te_store_close (store);
  /* stored little-endian, dims * 4 bytes */
  char *hex = raw_text (path, "SELECT hex(embedding) FROM documents WHERE id = 'a'");
  g_assert_cmpstr (hex, ==, "0000003F000080BE0000003E00004040");
  g_free (hex);

  /* a damaged vector is an error naming the document */
  raw_exec (path, "UPDATE documents SET embedding = x'0001' WHERE id = 'a'");
  store = te_store_open_readonly (path, &error);
  g_assert_false (te_store_get_doc (store, "a", &got, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "\"a\""));
  g_clear_error (&error);
  te_store_close (store);

  /* version 1: read-only as it is (no vectors), upgraded by a writer */
  raw_exec (path, "ALTER TABLE documents DROP COLUMN embedding; PRAGMA user_version = 1");
  store = te_store_open_readonly (path, &error);
  g_assert_no_error (error);
  g_assert_true (te_store_get_doc (store, "b", &got, &error));
  g_assert_null (got.embedding);
  g_assert_cmpuint (got.n_chunks, ==, 1);
  te_store_doc_clear (&got);
  g_assert_null (te_store_search_documents (store, NULL, vec_b, 1, dims, 2, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  res = te_store_search (store, NULL, emb, 1, dims, 2, &error);
  g_assert_no_error (error);
  g_ptr_array_unref (res);
  te_store_close (store);
  g_assert_cmpint (raw_int (path, "PRAGMA user_version"), ==, 1);
  store = te_store_open (path, &error);
  g_assert_no_error (error);
  te_store_close (store);
  g_assert_cmpint (raw_int (path, "PRAGMA user_version"), ==, 2);
  hex = raw_text (path, "SELECT count(*) FROM documents WHERE embedding IS NULL");
  g_assert_cmpstr (hex, ==, "2");
  g_free (hex);
  /* the upgraded table is the one a new store gets */
  hex = raw_text (path, "SELECT sql FROM sqlite_master WHERE name = 'documents'");
  g_assert_cmpstr (hex, ==, want_tables[1][1]);
  g_free (hex);
  g_free (path);
}

static void
test_create_reopen (void)
{
  GError *error = NULL;
  char *path, *v, *empty;
  TeStore *store = open_new ("create.db", &path);
  TeStoreCounts counts;

  g_assert_cmpstr (te_store_path (store), ==, path);
  g_assert_true (te_store_set_meta (store, "model", "m1", &error));
  g_assert_true (te_store_set_meta (store, "dims", "16", &error));
  g_assert_true (te_store_set_meta (store, "gone", "x", &error));
  g_assert_true (te_store_set_meta (store, "gone", NULL, &error));
  g_assert_no_error (error);
  te_store_close (store);

  g_assert_cmpint (raw_int (path, "PRAGMA user_version"), ==, 2);
  v = raw_text (path, "PRAGMA journal_mode");
  g_assert_cmpstr (v, ==, "wal");
  g_free (v);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"),
      ==, 3);
  for (guint i = 0; i < G_N_ELEMENTS (want_tables); i++) {
    char *sql = g_strdup_printf ("SELECT sql FROM sqlite_master WHERE name = '%s'",
        want_tables[i][0]);
    v = raw_text (path, sql);
    g_assert_cmpstr (v, ==, want_tables[i][1]);
    g_free (v);
    g_free (sql);
  }

  store = te_store_open (path, &error);
  g_assert_no_error (error);
  v = te_store_get_meta (store, "model");
  g_assert_cmpstr (v, ==, "m1");
  g_free (v);
  g_assert_null (te_store_get_meta (store, "gone"));
  g_assert_true (te_store_counts (store, &counts, &error));
  g_assert_cmpuint (counts.documents + counts.chunks + counts.tokens, ==, 0);
  te_store_close (store);

  /* Read-only: reads, refuses writes. */
  store = te_store_open_readonly (path, &error);
  g_assert_no_error (error);
  v = te_store_get_meta (store, "dims");
  g_assert_cmpstr (v, ==, "16");
  g_free (v);
  g_assert_false (te_store_set_meta (store, "a", "b", &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "read-only"));
  g_clear_error (&error);
  g_assert_false (te_store_doc_begin (store, "x", &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  te_store_close (store);

  /* A missing store is an error for readers, names the path. */
  v = tmp_path ("missing.db");
  g_assert_null (te_store_open_readonly (v, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, v));
  g_assert_false (g_file_test (v, G_FILE_TEST_EXISTS));
  g_clear_error (&error);
  g_free (v);

  /* A fresh empty file gets the schema. */
  empty = tmp_path ("empty.db");
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  store = te_store_open (empty, &error);
  g_assert_no_error (error);
  te_store_close (store);
  g_assert_cmpint (raw_int (empty, "PRAGMA user_version"), ==, 2);
  g_free (empty);
  g_free (path);
}

static void
test_version_mismatch (void)
{
  GError *error = NULL;
  char *path;
  TeStore *store = open_new ("version.db", &path);

  te_store_close (store);
  raw_exec (path, "PRAGMA user_version = 7");
  g_assert_null (te_store_open (path, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "version 7"));
  g_assert_nonnull (strstr (error->message, "version 2"));
  g_clear_error (&error);
  g_assert_null (te_store_open_readonly (path, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_cmpint (raw_int (path, "PRAGMA user_version"), ==, 7);
  g_free (path);

  /* Another application's SQLite database: not a store, left alone. */
  path = tmp_path ("other-app.db");
  {
    sqlite3 *db;
    g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE t (x)", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close (db);
  }
  g_assert_null (te_store_open (path, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_PARSE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "not a store"));
  g_clear_error (&error);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM sqlite_master"), ==, 1);
  g_free (path);
}

static void
test_not_sqlite (void)
{
  GError *error = NULL;
  char *path = tmp_path ("text.db");
  GString *junk = g_string_new (NULL);
  char *back;
  gsize len;

  while (junk->len < 8192)
    g_string_append (junk, "This is a text file, not an SQLite database.\n");
  g_assert_true (g_file_set_contents (path, junk->str, junk->len, NULL));
  g_assert_null (te_store_open (path, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_PARSE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "not a store"));
  g_clear_error (&error);
  g_assert_null (te_store_open_readonly (path, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_PARSE);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  /* Untouched. */
  g_assert_true (g_file_get_contents (path, &back, &len, NULL));
  g_assert_cmpmem (back, len, junk->str, junk->len);
  g_free (back);
  g_string_free (junk, TRUE);
  g_free (path);
}

typedef struct {
  guint n;
  guint64 last_index;
  const Doc *doc;
} ChunkCheck;

static gboolean
check_chunk (const char *doc, const TeStoreChunk * c, gpointer user_data)
{
  ChunkCheck *cc = user_data;
  TeStoreChunk want = doc_chunk (cc->doc, cc->n);

  g_assert_cmpstr (doc, ==, cc->doc->id);
  g_assert_cmpuint (c->index, ==, want.index);
  g_assert_cmpuint (c->start, ==, want.start);
  g_assert_cmpuint (c->end, ==, want.end);
  g_assert_cmpint (c->pts, ==, want.pts);
  g_assert_cmpint (c->duration, ==, want.duration);
  g_assert_cmpuint (c->n_tokens, ==, want.n_tokens);
  g_assert_cmpuint (c->dims, ==, want.dims);
  g_assert_cmpmem (c->embedding, c->dims * 4, want.embedding, want.dims * 4);
  if (want.text)
    g_assert_cmpmem (c->text, c->text_len, want.text, want.text_len);
  else
    g_assert_null (c->text);
  cc->n++;
  return TRUE;
}

static void
assert_doc_stored (TeStore * store, const Doc * d)
{
  GError *error = NULL;
  TeStoreDoc got, want = doc_row (d);
  ChunkCheck cc = { 0, 0, d };

  g_assert_true (te_store_get_doc (store, d->id, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (got.id, ==, want.id);
  g_assert_cmpstr (got.path, ==, want.path);
  g_assert_cmpint (got.size, ==, want.size);
  g_assert_cmpint (got.mtime, ==, want.mtime);
  g_assert_cmpstr (got.hash, ==, want.hash);
  g_assert_cmpstr (got.model, ==, want.model);
  g_assert_cmpuint (got.dims, ==, want.dims);
  g_assert_null (got.prompt);
  g_assert_cmpint (got.status, ==, TE_DOC_COMPLETE);
  g_assert_null (got.reason);
  g_assert_cmpuint (got.n_chunks, ==, want.n_chunks);
  g_assert_cmpuint (got.n_tokens, ==, want.n_tokens);
  te_store_doc_clear (&got);
  g_assert_true (te_store_foreach_chunk (store, d->id, check_chunk, &cc, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (cc.n, ==, d->n);
}

static void
test_write_read (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (1);
  char *path, *sql, *v;
  TeStore *store = open_new ("write.db", &path);
  Doc *d = doc_new ("dir/a.txt", "model-1", 5, 16, rand);
  TeStoreCounts counts;
  TeStoreDoc none;
  guint8 want[16 * 4];

  write_doc (store, d);
  assert_doc_stored (store, d);
  g_assert_false (te_store_get_doc (store, "nope", &none, &error));
  g_assert_no_error (error);
  g_assert_true (te_store_counts (store, &counts, &error));
  g_assert_cmpuint (counts.documents, ==, 1);
  g_assert_cmpuint (counts.complete, ==, 1);
  g_assert_cmpuint (counts.chunks, ==, 5);
  g_assert_cmpuint (counts.tokens, ==, 10 + 11 + 12 + 13 + 14);
  te_store_close (store);

  /* The BLOB is the little-endian float32 bytes, whatever the host. */
  for (guint j = 0; j < 16; j++) {
    guint32 u;
    memcpy (&u, &d->emb[3 * 16 + j], 4);
    for (int b = 0; b < 4; b++)
      want[4 * j + b] = (u >> (8 * b)) & 0xff;
  }
  {
    sqlite3 *db = raw_open (path);
    sqlite3_stmt *st;
    g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT embedding, pts, duration, text FROM chunks "
            "WHERE doc = 'dir/a.txt' AND idx = 3", -1, &st, NULL), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
    g_assert_cmpmem (sqlite3_column_blob (st, 0), sqlite3_column_bytes (st, 0), want,
        sizeof (want));
    /* index 3: pts -1 -> NULL */
    g_assert_cmpint (sqlite3_column_type (st, 1), ==, SQLITE_NULL);
    g_assert_cmpint (sqlite3_column_type (st, 2), ==, SQLITE_NULL);
    g_assert_cmpstr ((const char *) sqlite3_column_text (st, 3), ==, d->texts[3]);
    sqlite3_finalize (st);
    sqlite3_close (db);
  }
  sql = g_strdup ("SELECT pts FROM chunks WHERE doc = 'dir/a.txt' AND idx = 2");
  g_assert_cmpint (raw_int (path, sql), ==, 2000000000);
  g_free (sql);
  v = raw_text (path, "SELECT text FROM chunks WHERE doc = 'dir/a.txt' AND idx = 2");
  g_assert_cmpstr (v, ==, "NULL");
  g_free (v);

  /* Reopened: the same. */
  store = te_store_open_readonly (path, &error);
  g_assert_no_error (error);
  assert_doc_stored (store, d);
  te_store_close (store);

  /* Unknown size and mtime are NULL. */
  store = te_store_open (path, &error);
  {
    TeStoreDoc row = { .id = "skip.bin", .size = -1, .mtime = -1, .status = TE_DOC_SKIPPED,
      .reason = "binary"
    };
    TeStoreDoc got;
    g_assert_true (te_store_put_doc (store, &row, &error));
    g_assert_no_error (error);
    g_assert_true (te_store_get_doc (store, "skip.bin", &got, &error));
    g_assert_cmpint (got.size, ==, -1);
    g_assert_cmpint (got.mtime, ==, -1);
    g_assert_cmpstr (got.reason, ==, "binary");
    g_assert_null (got.hash);
    te_store_doc_clear (&got);
  }
  te_store_close (store);
  v = raw_text (path, "SELECT size || ',' || coalesce(mtime, 'null') FROM documents "
      "WHERE id = 'skip.bin'");
  g_assert_cmpstr (v, ==, "NULL");
  g_free (v);
  g_assert_cmpint (raw_int (path, "SELECT mtime IS NULL AND size IS NULL FROM documents "
          "WHERE id = 'skip.bin'"), ==, 1);

  doc_free (d);
  g_rand_free (rand);
  g_free (path);
}

static void
test_misuse (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (2);
  char *path;
  TeStore *store = open_new ("misuse.db", &path);
  Doc *d = doc_new ("a", "m", 3, 4, rand);
  TeStoreChunk c = doc_chunk (d, 0);
  TeStoreDoc row = doc_row (d);
  TeStoreCounts counts;

  /* No document open. */
  g_assert_false (te_store_doc_add_chunk (store, &c, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_false (te_store_doc_commit (store, &row, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* Two documents at once, meta while open. */
  g_assert_true (te_store_doc_begin (store, "a", &error));
  g_assert_false (te_store_doc_begin (store, "b", &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "\"a\""));
  g_clear_error (&error);
  g_assert_false (te_store_set_meta (store, "k", "v", &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* A repeated index rolls the document back. */
  g_assert_true (te_store_doc_add_chunk (store, &c, &error));
  g_assert_false (te_store_doc_add_chunk (store, &c, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "twice"));
  g_clear_error (&error);
  g_assert_false (te_store_doc_commit (store, &row, &error));
  g_clear_error (&error);

  /* Commit checks the row against the chunks. */
  g_assert_true (te_store_doc_begin (store, "a", &error));
  for (guint i = 0; i < 2; i++) {
    c = doc_chunk (d, i);
    g_assert_true (te_store_doc_add_chunk (store, &c, &error));
  }
  g_assert_false (te_store_doc_commit (store, &row, &error));  /* says 3 chunks */
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "3 chunks"));
  g_clear_error (&error);

  /* Dims differing inside a document, text that is not UTF-8. */
  g_assert_true (te_store_doc_begin (store, "a", &error));
  c = doc_chunk (d, 0);
  g_assert_true (te_store_doc_add_chunk (store, &c, &error));
  c = doc_chunk (d, 1);
  c.dims = 3;
  g_assert_false (te_store_doc_add_chunk (store, &c, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_true (te_store_doc_begin (store, "a", &error));
  c = doc_chunk (d, 0);
  c.text = "bad \xff";
  c.text_len = 5;
  g_assert_false (te_store_doc_add_chunk (store, &c, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "UTF-8"));
  g_clear_error (&error);

  /* A complete document is not put without chunks. */
  g_assert_false (te_store_put_doc (store, &row, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  g_assert_true (te_store_counts (store, &counts, &error));
  g_assert_cmpuint (counts.documents, ==, 0);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks"), ==, 0);
  te_store_close (store);
  doc_free (d);
  g_rand_free (rand);
  g_free (path);
}

static void
test_abort (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (3);
  char *path, *before;
  TeStore *store = open_new ("abort.db", &path);
  Doc *v1 = doc_new ("a", "m", 4, 8, rand), *v2 = doc_new ("a", "m", 2, 8, rand);

  write_doc (store, v1);
  te_store_close (store);
  before = raw_dump (path);

  store = te_store_open (path, &error);
  g_assert_true (te_store_doc_begin (store, "a", &error));
  for (guint i = 0; i < v2->n; i++) {
    TeStoreChunk c = doc_chunk (v2, i);
    g_assert_true (te_store_doc_add_chunk (store, &c, &error));
  }
  te_store_doc_abort (store);
  te_store_doc_abort (store);   /* no-op */
  assert_doc_stored (store, v1);

  /* Closing with a document open rolls it back too. */
  g_assert_true (te_store_doc_begin (store, "a", &error));
  {
    TeStoreChunk c = doc_chunk (v2, 0);
    g_assert_true (te_store_doc_add_chunk (store, &c, &error));
  }
  te_store_close (store);
  {
    char *after = raw_dump (path);
    g_assert_cmpstr (after, ==, before);
    g_free (after);
  }
  g_free (before);
  doc_free (v1);
  doc_free (v2);
  g_rand_free (rand);
  g_free (path);
}

static void
test_replace_and_skip (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (4);
  char *path;
  TeStore *store = open_new ("replace.db", &path);
  Doc *v1 = doc_new ("a", "m", 5, 8, rand), *v2 = doc_new ("a", "m", 2, 8, rand);
  Doc *b = doc_new ("b", "m", 3, 8, rand);
  TeStoreDoc skipped = { .id = "a", .path = "a", .size = 10, .mtime = 5, .hash = "sha256:00",
    .status = TE_DOC_SKIPPED, .reason = "invalid UTF-8 at byte 3"
  };
  TeStoreDoc got;
  TeStoreCounts counts;

  write_doc (store, v1);
  write_doc (store, b);
  write_doc (store, v2);
  assert_doc_stored (store, v2);
  assert_doc_stored (store, b);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks WHERE doc = 'a'"), ==, 2);

  g_assert_true (te_store_put_doc (store, &skipped, &error));
  g_assert_no_error (error);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks WHERE doc = 'a'"), ==, 0);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks WHERE doc = 'b'"), ==, 3);
  g_assert_true (te_store_get_doc (store, "a", &got, &error));
  g_assert_cmpint (got.status, ==, TE_DOC_SKIPPED);
  g_assert_cmpstr (got.reason, ==, "invalid UTF-8 at byte 3");
  g_assert_cmpuint (got.n_chunks, ==, 0);
  te_store_doc_clear (&got);
  g_assert_true (te_store_counts (store, &counts, &error));
  g_assert_cmpuint (counts.documents, ==, 2);
  g_assert_cmpuint (counts.complete, ==, 1);
  g_assert_cmpuint (counts.skipped, ==, 1);
  g_assert_cmpuint (counts.chunks, ==, 3);
  g_assert_cmpuint (counts.tokens, ==, 10 + 11 + 12);
  te_store_close (store);
  doc_free (v1);
  doc_free (v2);
  doc_free (b);
  g_rand_free (rand);
  g_free (path);
}

static void
test_is_current (void)
{
  GRand *rand = g_rand_new_with_seed (5);
  GError *error = NULL;
  char *path;
  TeStore *store = open_new ("current.db", &path);
  Doc *a = doc_new ("a", "m1", 2, 4, rand);
  TeStoreDoc skipped = { .id = "s", .hash = "sha256:11", .model = "m1",
    .status = TE_DOC_SKIPPED
  };

  write_doc (store, a);
  g_assert_true (te_store_put_doc (store, &skipped, &error));
  g_assert_true (te_store_doc_is_current (store, "a", a->hash, "m1"));
  g_assert_false (te_store_doc_is_current (store, "a", "sha256:other", "m1"));
  g_assert_false (te_store_doc_is_current (store, "a", a->hash, "m2"));
  g_assert_false (te_store_doc_is_current (store, "a", NULL, "m1"));
  g_assert_false (te_store_doc_is_current (store, "a", a->hash, NULL));
  g_assert_false (te_store_doc_is_current (store, "b", a->hash, "m1"));
  /* Skipped documents are never current (they are tried again). */
  g_assert_false (te_store_doc_is_current (store, "s", "sha256:11", "m1"));
  te_store_close (store);

  /* Deleted ones neither; readers can ask too. */
  store = te_store_open (path, &error);
  g_assert_true (te_store_mark_unseen_deleted (store, NULL, &error));
  g_assert_false (te_store_doc_is_current (store, "a", a->hash, "m1"));
  te_store_close (store);
  store = te_store_open_readonly (path, &error);
  g_assert_false (te_store_doc_is_current (store, "a", a->hash, "m1"));
  te_store_close (store);
  doc_free (a);
  g_rand_free (rand);
  g_free (path);
}

static TeDocStatus
status_of (TeStore * store, const char *id)
{
  TeStoreDoc d;
  GError *error = NULL;
  TeDocStatus st;

  g_assert_true (te_store_get_doc (store, id, &d, &error));
  st = d.status;
  te_store_doc_clear (&d);
  return st;
}

static void
test_seen_deleted (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (6);
  char *path;
  TeStore *store = open_new ("seen.db", &path);
  GPtrArray *docs = g_ptr_array_new_with_free_func (doc_free);
  TeStoreDoc skip = { .id = "d", .status = TE_DOC_SKIPPED, .reason = "empty" };
  TeStoreDoc del = { .id = "e", .status = TE_DOC_DELETED };
  TeStoreDoc got;
  TeStoreCounts counts;
  guint64 n = 99;

  for (char id[2] = "a"; id[0] <= 'c'; id[0]++) {
    g_ptr_array_add (docs, doc_new (id, "m", 3, 4, rand));
    write_doc (store, g_ptr_array_index (docs, docs->len - 1));
  }
  g_assert_true (te_store_put_doc (store, &skip, &error));
  g_assert_true (te_store_put_doc (store, &del, &error));
  g_assert_no_error (error);
  te_store_close (store);

  /* A new session lists a and d: b and c are gone, e already was. */
  store = te_store_open (path, &error);
  g_assert_true (te_store_mark_seen (store, "a", &error));
  g_assert_true (te_store_mark_seen (store, "d", &error));
  g_assert_true (te_store_mark_seen (store, "a", &error));  /* twice is fine */
  g_assert_true (te_store_mark_seen (store, "zzz", &error));        /* unknown is fine */
  g_assert_true (te_store_mark_unseen_deleted (store, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (status_of (store, "a"), ==, TE_DOC_COMPLETE);
  g_assert_cmpint (status_of (store, "b"), ==, TE_DOC_DELETED);
  g_assert_cmpint (status_of (store, "c"), ==, TE_DOC_DELETED);
  g_assert_cmpint (status_of (store, "d"), ==, TE_DOC_SKIPPED);
  g_assert_cmpint (status_of (store, "e"), ==, TE_DOC_DELETED);
  g_assert_true (te_store_get_doc (store, "b", &got, &error));
  g_assert_cmpuint (got.n_chunks, ==, 0);
  g_assert_cmpuint (got.dims, ==, 0);
  g_assert_cmpstr (got.hash, ==, ((Doc *) g_ptr_array_index (docs, 1))->hash);
  te_store_doc_clear (&got);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks WHERE doc IN ('b', 'c')"), ==,
      0);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks WHERE doc = 'a'"), ==, 3);
  g_assert_true (te_store_counts (store, &counts, &error));
  g_assert_cmpuint (counts.documents, ==, 5);
  g_assert_cmpuint (counts.complete, ==, 1);
  g_assert_cmpuint (counts.skipped, ==, 1);
  g_assert_cmpuint (counts.deleted, ==, 3);
  g_assert_cmpuint (counts.chunks, ==, 3);
  /* Again in the same session: nothing more. */
  g_assert_true (te_store_mark_unseen_deleted (store, &n, &error));
  g_assert_cmpuint (n, ==, 0);
  te_store_close (store);

  /* Next session: f is committed (counts as seen), a is marked while g is open and g is
   * aborted (the mark survives), d is not listed. */
  store = te_store_open (path, &error);
  g_ptr_array_add (docs, doc_new ("f", "m", 2, 4, rand));
  write_doc (store, g_ptr_array_index (docs, docs->len - 1));
  g_assert_true (te_store_doc_begin (store, "g", &error));
  g_assert_true (te_store_mark_seen (store, "a", &error));
  te_store_doc_abort (store);
  g_assert_true (te_store_mark_unseen_deleted (store, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpint (status_of (store, "a"), ==, TE_DOC_COMPLETE);
  g_assert_cmpint (status_of (store, "d"), ==, TE_DOC_DELETED);
  g_assert_cmpint (status_of (store, "f"), ==, TE_DOC_COMPLETE);
  te_store_close (store);

  g_ptr_array_unref (docs);
  g_rand_free (rand);
  g_free (path);
}

/* ---- search ---- */

typedef struct {
  double score;
  const char *doc;
  guint64 index;
  const char *text;
} Ref;

static int
ref_cmp (const void *pa, const void *pb)
{
  const Ref *a = pa, *b = pb;
  int c;

  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  c = strcmp (a->doc, b->doc);
  if (c != 0)
    return c;
  return a->index < b->index ? -1 : a->index > b->index;
}

static double
cosine (const float *a, const float *b, guint n)
{
  double ab = 0, aa = 0, bb = 0;

  for (guint i = 0; i < n; i++) {
    ab += (double) a[i] * b[i];
    aa += (double) a[i] * a[i];
    bb += (double) b[i] * b[i];
  }
  if (aa == 0 || bb == 0)
    return 0;
  return ab / (sqrt (aa) * sqrt (bb));
}

static void
check_against_reference (GPtrArray * hits, GPtrArray * docs, const float *queries,
    guint n_queries, guint dims, guint k)
{
  guint total = 0;

  for (guint i = 0; i < docs->len; i++)
    total += ((Doc *) g_ptr_array_index (docs, i))->n;
  g_assert_cmpuint (hits->len, ==, n_queries);
  for (guint q = 0; q < n_queries; q++) {
    GArray *got = g_ptr_array_index (hits, q);
    Ref *ref = g_new (Ref, total);
    GHashTable *score_of = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    guint n = 0;

    for (guint i = 0; i < docs->len; i++) {
      Doc *d = g_ptr_array_index (docs, i);
      for (guint c = 0; c < d->n; c++) {
        ref[n] = (Ref) {
        cosine (queries + (gsize) q * dims, d->emb + (gsize) c * dims, dims), d->id, c,
              d->texts[c]};
        g_hash_table_insert (score_of, g_strdup_printf ("%s#%u", d->id, c),
            g_memdup2 (&ref[n].score, sizeof (double)));
        n++;
      }
    }
    qsort (ref, n, sizeof (Ref), ref_cmp);
    g_assert_cmpuint (got->len, ==, MIN (k, n));
    for (guint r = 0; r < got->len; r++) {
      TeStoreHit *h = &g_array_index (got, TeStoreHit, r);
      char *key = g_strdup_printf ("%s#%" G_GUINT64_FORMAT, h->doc, h->index);
      double *s = g_hash_table_lookup (score_of, key);

      /* The hit is the reference's r-th, or ties with it within float rounding. */
      g_assert_nonnull (s);
      g_assert_cmpfloat_with_epsilon (*s, ref[r].score, 1e-5);
      g_assert_cmpfloat_with_epsilon (h->score, ref[r].score, 1e-5);
      g_assert_cmpuint (h->start, ==, 100 * h->index);
      g_assert_cmpuint (h->end, ==, 100 * h->index + 100);
      /* Each chunk once. */
      g_assert_true (g_hash_table_remove (score_of, key));
      if (strcmp (h->doc, ref[r].doc) == 0 && h->index == ref[r].index)
        g_assert_cmpstr (h->text, ==, ref[r].text);
      g_free (key);
    }
    g_hash_table_unref (score_of);
    g_free (ref);
  }
}

static void
test_search_random (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (7);
  const guint dims = 24, n_queries = 7;
  char *path;
  TeStore *store = open_new ("search.db", &path);
  GPtrArray *docs = g_ptr_array_new_with_free_func (doc_free);
  Doc *other = doc_new ("other-model", "m2", 5, dims, rand);
  float *queries = g_new (float, n_queries * dims);
  const guint ks[] = { 0, 1, 3, 17, 100000 };
  TeStoreDoc skip = { .id = "skipped", .status = TE_DOC_SKIPPED };
  guint total = 0;

  /* 600 chunks: more than one scoring block. */
  for (guint i = 0; i < 40; i++) {
    char *id = g_strdup_printf ("doc-%02u", (i * 7) % 40);
    Doc *d = doc_new (id, "m1", 1 + g_rand_int_range (rand, 0, 29), dims, rand);
    write_doc (store, d);
    total += d->n;
    g_ptr_array_add (docs, d);
    g_free (id);
  }
  write_doc (store, other);
  g_assert_true (te_store_put_doc (store, &skip, &error));
  g_assert_true (te_store_set_meta (store, "model", "m1", &error));
  g_assert_no_error (error);
  for (guint i = 0; i < n_queries * dims; i++)
    queries[i] = (float) g_rand_double_range (rand, -1.0, 1.0);
  /* A query equal to a stored chunk finds it first with score 1. */
  memcpy (queries + dims, ((Doc *) g_ptr_array_index (docs, 5))->emb + 2 * dims,
      dims * sizeof (float));

  for (guint i = 0; i < G_N_ELEMENTS (ks); i++) {
    GPtrArray *hits = te_store_search (store, NULL, queries, n_queries, dims, ks[i], &error);

    g_assert_no_error (error);
    check_against_reference (hits, docs, queries, n_queries, dims, ks[i]);
    if (ks[i] > 0) {
      TeStoreHit *h = &g_array_index ((GArray *) g_ptr_array_index (hits, 1), TeStoreHit, 0);
      g_assert_cmpstr (h->doc, ==, ((Doc *) g_ptr_array_index (docs, 5))->id);
      g_assert_cmpuint (h->index, ==, 2);
      g_assert_cmpfloat_with_epsilon (h->score, 1.0, 1e-6);
    }
    g_ptr_array_unref (hits);
  }
  g_assert_cmpuint (total, >, 256);

  /* An explicit model: only its documents. */
  {
    GPtrArray *only = g_ptr_array_new ();
    GPtrArray *hits = te_store_search (store, "m2", queries, n_queries, dims, 3, &error);

    g_assert_no_error (error);
    g_ptr_array_add (only, other);
    check_against_reference (hits, only, queries, n_queries, dims, 3);
    g_ptr_array_unref (hits);
    g_ptr_array_unref (only);
  }
  /* Zero queries: zero result arrays. */
  {
    GPtrArray *hits = te_store_search (store, NULL, queries, 0, dims, 3, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (hits->len, ==, 0);
    g_ptr_array_unref (hits);
  }
  /* Deleted documents are not searched. */
  te_store_close (store);
  store = te_store_open (path, &error);
  for (guint i = 1; i < docs->len; i++)
    g_assert_true (te_store_mark_seen (store, ((Doc *) g_ptr_array_index (docs, i))->id,
            &error));
  g_assert_true (te_store_mark_unseen_deleted (store, NULL, &error));
  g_ptr_array_remove_index (docs, 0);
  {
    GPtrArray *hits = te_store_search (store, NULL, queries, n_queries, dims, 50, &error);
    g_assert_no_error (error);
    check_against_reference (hits, docs, queries, n_queries, dims, 50);
    g_ptr_array_unref (hits);
  }
  /* Query dims differing from the store's: an error naming a chunk. */
  g_assert_null (te_store_search (store, NULL, queries, 1, dims - 1, 3, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "dims"));
  g_clear_error (&error);
  te_store_close (store);

  /* A malformed BLOB: an error naming the document and chunk. */
  raw_exec (path, "UPDATE chunks SET embedding = x'00010203040506' WHERE doc = 'doc-10' "
      "AND idx = 0");
  store = te_store_open_readonly (path, &error);
  g_assert_null (te_store_search (store, NULL, queries, n_queries, dims, 3, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "chunk 0 of document \"doc-10\""));
  g_assert_nonnull (strstr (error->message, "7 bytes"));
  g_clear_error (&error);
  te_store_close (store);

  g_free (queries);
  doc_free (other);
  g_ptr_array_unref (docs);
  g_rand_free (rand);
  g_free (path);
}

/* Exact ties, hand-computed: every cosine here is exactly -1, 0 or 1 in float arithmetic. */
static void
test_search_ties (void)
{
  static const struct {
    const char *doc;
    guint index;
    float v[4];
  } rows[] = {
    {"b", 0, {2, 0, 0, 0}},      /* 1 */
    {"b", 1, {-1, 0, 0, 0}},     /* -1 */
    {"a", 0, {3, 0, 0, 0}},      /* 1 */
    {"a", 1, {1, 0, 0, 0}},      /* 1 */
    {"a", 2, {0, 0, 0, 0}},      /* zero vector: 0 */
    {"c", 0, {0, 5, 0, 0}},      /* 0 */
  };
  /* best first: score, then doc, then index */
  static const struct {
    const char *doc;
    guint index;
    float score;
  } want[] = {
    {"a", 0, 1}, {"a", 1, 1}, {"b", 0, 1}, {"a", 2, 0}, {"c", 0, 0}, {"b", 1, -1},
  };
  static const float queries[2 * 4] = { 1, 0, 0, 0, 0, 0, 0, 0 };
  GError *error = NULL;
  char *path;
  TeStore *store = open_new ("ties.db", &path);
  GPtrArray *hits;

  for (const char *d = "b"; d; d = d[0] == 'b' ? "a" : d[0] == 'a' ? "c" : NULL) {
    TeStoreDoc row = { .id = d, .model = "m", .dims = 4, .status = TE_DOC_COMPLETE };

    g_assert_true (te_store_doc_begin (store, d, &error));
    for (guint i = 0; i < G_N_ELEMENTS (rows); i++) {
      TeStoreChunk c = { .index = rows[i].index, .pts = -1, .duration = -1, .n_tokens = 1,
        .embedding = rows[i].v, .dims = 4
      };
      if (strcmp (rows[i].doc, d) != 0)
        continue;
      g_assert_true (te_store_doc_add_chunk (store, &c, &error));
      row.n_chunks++;
      row.n_tokens++;
    }
    g_assert_true (te_store_doc_commit (store, &row, &error));
    g_assert_no_error (error);
  }
  for (guint k = 1; k <= G_N_ELEMENTS (want) + 1; k++) {
    GArray *h;

    hits = te_store_search (store, "m", queries, 2, 4, k, &error);
    g_assert_no_error (error);
    h = g_ptr_array_index (hits, 0);
    g_assert_cmpuint (h->len, ==, MIN (k, G_N_ELEMENTS (want)));
    for (guint r = 0; r < h->len; r++) {
      TeStoreHit *hit = &g_array_index (h, TeStoreHit, r);
      g_assert_cmpstr (hit->doc, ==, want[r].doc);
      g_assert_cmpuint (hit->index, ==, want[r].index);
      g_assert_cmpfloat (hit->score, ==, want[r].score);
      g_assert_null (hit->text);
    }
    /* The zero query scores 0 everywhere: doc, then index order. */
    h = g_ptr_array_index (hits, 1);
    for (guint r = 0; r < h->len; r++) {
      TeStoreHit *hit = &g_array_index (h, TeStoreHit, r);
      static const char *order[] = { "a0", "a1", "a2", "b0", "b1", "c0" };
      char *name = g_strdup_printf ("%s%" G_GUINT64_FORMAT, hit->doc, hit->index);
      g_assert_cmpstr (name, ==, order[r]);
      g_assert_cmpfloat (hit->score, ==, 0.0f);
      g_free (name);
    }
    g_ptr_array_unref (hits);
  }
  te_store_close (store);
  g_free (path);
}

/* ---- merge ---- */

static void
set_common_meta (TeStore * store)
{
  GError *error = NULL;

  g_assert_true (te_store_set_meta (store, "model", "m", &error));
  g_assert_true (te_store_set_meta (store, "dims", "8", &error));
  g_assert_no_error (error);
}

static void
test_merge (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (8);
  GPtrArray *docs = g_ptr_array_new_with_free_func (doc_free);
  char *single_path, *shard[3], *out, *single_dump, *out_dump, *before;
  TeStore *single = open_new ("single.db", &single_path), *s[3];
  TeStoreDoc skip = { .id = "skipped", .size = -1, .mtime = -1, .status = TE_DOC_SKIPPED,
    .reason = "binary"
  };

  set_common_meta (single);
  for (guint i = 0; i < 3; i++) {
    s[i] = open_new ("shard.db", &shard[i]);
    set_common_meta (s[i]);
  }
  /* Documents dealt to shards; the single store gets all of them. */
  for (guint i = 0; i < 12; i++) {
    char *id = g_strdup_printf ("doc-%02u", i);
    Doc *d = doc_new (id, "m", 1 + i % 4, 8, rand);

    write_doc (single, d);
    write_doc (s[i % 3], d);
    g_ptr_array_add (docs, d);
    g_free (id);
  }
  g_assert_true (te_store_put_doc (single, &skip, &error));
  g_assert_true (te_store_put_doc (s[1], &skip, &error));
  /* An identical duplicate in two shards is fine. */
  write_doc (s[2], g_ptr_array_index (docs, 0));
  g_assert_true (te_store_set_meta (s[2], "query_prompt", "query: ", &error));
  g_assert_true (te_store_set_meta (single, "query_prompt", "query: ", &error));
  g_assert_no_error (error);
  te_store_close (single);
  for (guint i = 0; i < 3; i++)
    te_store_close (s[i]);

  out = tmp_path ("merged.db");
  g_assert_true (te_store_merge (out, (const char *const *) shard, 3, &error));
  g_assert_no_error (error);
  single_dump = raw_dump (single_path);
  out_dump = raw_dump (out);
  g_assert_cmpstr (out_dump, ==, single_dump);
  assert_integrity_ok (out);
  /* Merging again changes nothing (every row is an identical duplicate). */
  g_assert_true (te_store_merge (out, (const char *const *) shard, 3, &error));
  g_assert_no_error (error);
  g_free (out_dump);
  out_dump = raw_dump (out);
  g_assert_cmpstr (out_dump, ==, single_dump);
  g_free (out_dump);

  /* A conflicting row: an error naming the id and both stores; out unchanged. */
  {
    char *bad = NULL;
    TeStore *b = open_new ("bad.db", &bad);
    Doc *d = doc_new ("doc-04", "m", 2, 8, rand);
    const char *inputs[2] = { shard[0], NULL };

    set_common_meta (b);
    write_doc (b, d);
    te_store_close (b);
    inputs[1] = bad;
    before = raw_dump (out);
    g_assert_false (te_store_merge (out, inputs, 2, &error));
    g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "\"doc-04\""));
    g_assert_nonnull (strstr (error->message, bad));
    /* doc-04 went to shard 1; out held it before this merge. */
    g_assert_nonnull (strstr (error->message, out));
    g_clear_error (&error);
    out_dump = raw_dump (out);
    g_assert_cmpstr (out_dump, ==, before);
    g_free (out_dump);
    g_free (before);
    assert_integrity_ok (out);

    /* Into a new store: shard 1 then bad; the error names shard 1, and no file is left. */
    {
      char *fresh = tmp_path ("fresh.db");
      const char *in2[2] = { shard[1], bad };

      g_assert_false (te_store_merge (fresh, in2, 2, &error));
      g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, shard[1]));
      g_assert_nonnull (strstr (error->message, bad));
      g_clear_error (&error);
      g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));
      g_free (fresh);
    }
    doc_free (d);
    g_free (bad);
  }

  /* Meta must agree. */
  {
    char *other = NULL;
    TeStore *o = open_new ("other-meta.db", &other);
    const char *inputs[1] = { other };

    g_assert_true (te_store_set_meta (o, "model", "not-m", &error));
    te_store_close (o);
    before = raw_dump (out);
    g_assert_false (te_store_merge (out, inputs, 1, &error));
    g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "\"model\""));
    g_assert_nonnull (strstr (error->message, "not-m"));
    g_clear_error (&error);
    out_dump = raw_dump (out);
    g_assert_cmpstr (out_dump, ==, before);
    g_free (out_dump);
    g_free (before);
    g_free (other);
  }

  /* An input that is not a store. */
  {
    char *junk = tmp_path ("junk.db");
    const char *inputs[1] = { junk };

    g_assert_true (g_file_set_contents (junk, "not a database at all, no. not at all. no.\n"
            "not a database at all, no. not at all. no.\nnot a database at all, no.\n", -1,
            NULL));
    g_assert_false (te_store_merge (out, inputs, 1, &error));
    g_assert_error (error, TE_ERROR, TE_ERROR_PARSE);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, junk));
    g_clear_error (&error);
    g_free (junk);
  }

  g_free (single_dump);
  g_free (out);
  g_free (single_path);
  for (guint i = 0; i < 3; i++)
    g_free (shard[i]);
  g_ptr_array_unref (docs);
  g_rand_free (rand);
}

/* ---- a full disk ---- */

static void
test_full (void)
{
  GError *error = NULL;
  GRand *rand = g_rand_new_with_seed (9);
  char *path, *before, *after;
  TeStore *store = open_new ("full.db", &path);
  Doc *a = doc_new ("a", "m", 3, 8, rand);
  Doc *big = doc_new ("big", "m", 1, 8, rand);
  GString *huge = g_string_new (NULL);
  guint pages;
  gboolean failed = FALSE;

  write_doc (store, a);
  te_store_close (store);
  before = raw_dump (path);
  while (huge->len < 1 << 20)
    g_string_append (huge, "all work and no play makes a long chunk. ");
  g_free (big->texts[0]);
  big->texts[0] = g_strdup (huge->str);

  /* add_chunk fails: a 1 MiB text cannot fit without new pages. */
  store = te_store_open (path, &error);
  pages = (guint) raw_int (path, "PRAGMA page_count");
  te_store_set_max_pages (store, pages);
  g_assert_true (te_store_doc_begin (store, "big", &error));
  {
    TeStoreChunk c = doc_chunk (big, 0);
    failed = !te_store_doc_add_chunk (store, &c, &error);
  }
  g_assert_true (failed);
  g_assert_error (error, TE_ERROR, TE_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "full"));
  g_clear_error (&error);
  /* The document was rolled back: committing it is an error, the store is as before. */
  {
    TeStoreDoc row = doc_row (big);
    g_assert_false (te_store_doc_commit (store, &row, &error));
    g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
    g_test_message ("%s", error->message);
    g_clear_error (&error);
  }
  assert_doc_stored (store, a);

  /* commit fails: small chunks fit in the free space of existing pages, the 1 MiB path of the
   * document row does not. */
  {
    Doc *a2 = doc_new ("a", "m", 1, 8, rand);
    TeStoreChunk c = doc_chunk (a2, 0);
    TeStoreDoc row = doc_row (a2);

    row.path = huge->str;
    g_assert_true (te_store_doc_begin (store, "a", &error));
    g_assert_true (te_store_doc_add_chunk (store, &c, &error));
    g_assert_no_error (error);
    g_assert_false (te_store_doc_commit (store, &row, &error));
    g_assert_error (error, TE_ERROR, TE_ERROR_IO);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "full"));
    g_clear_error (&error);
    assert_doc_stored (store, a);
    doc_free (a2);
  }
  /* Still usable for what fits. */
  {
    TeStoreDoc skip = { .id = "s", .status = TE_DOC_SKIPPED, .reason = "empty" };
    g_assert_true (te_store_put_doc (store, &skip, &error));
    g_assert_no_error (error);
  }
  te_store_close (store);

  assert_integrity_ok (path);
  raw_exec (path, "DELETE FROM documents WHERE id = 's'");
  after = raw_dump (path);
  g_assert_cmpstr (after, ==, before);
  store = te_store_open (path, &error);
  g_assert_no_error (error);
  write_doc (store, big);      /* no limit on a new connection */
  assert_doc_stored (store, big);
  te_store_close (store);
  assert_integrity_ok (path);

  g_free (after);
  g_free (before);
  g_string_free (huge, TRUE);
  doc_free (a);
  doc_free (big);
  g_rand_free (rand);
  g_free (path);
}

/* ---- a killed writer ---- */

/* A writer killed at an arbitrary point leaves whole documents only. */
static void
test_killed_writer (void)
{
  GError *error = NULL;
  char *path = tmp_path ("killed.db");
  int fds[2];
  pid_t pid;
  char buf[3];
  int status;

  g_assert_cmpint (pipe (fds), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    GRand *rand = g_rand_new_with_seed (10);
    TeStore *store = te_store_open (path, NULL);

    close (fds[0]);
    if (store == NULL)
      _exit (3);
    for (guint i = 0;; i++) {
      char *id = g_strdup_printf ("doc-%05u", i % 50);   /* later rounds replace documents */
      Doc *d = doc_new (id, "m", 50 + i % 150, 64, rand);

      write_doc (store, d);
      doc_free (d);
      g_free (id);
      if (write (fds[1], "x", 1) != 1)
        _exit (4);
    }
  }
  close (fds[1]);
  /* Three documents committed, then a kill somewhere in the following ones. */
  for (int got = 0; got < 3;) {
    ssize_t r = read (fds[0], buf, 3 - got);
    g_assert_cmpint (r, >, 0);
    got += (int) r;
  }
  g_usleep (g_random_int_range (1000, 30000));
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  close (fds[0]);

  assert_integrity_ok (path);
  {
    TeStore *store = te_store_open (path, &error);
    TeStoreCounts counts;

    g_assert_no_error (error);
    g_assert_true (te_store_counts (store, &counts, &error));
    g_test_message ("%" G_GUINT64_FORMAT " documents survived the kill", counts.documents);
    g_assert_cmpuint (counts.documents, >=, 3);
    te_store_close (store);
  }
  /* Every row matches its chunks, and no chunk lacks its row. */
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM documents d WHERE d.chunks <> "
          "(SELECT count(*) FROM chunks c WHERE c.doc = d.id) OR d.tokens <> "
          "(SELECT coalesce(sum(tokens), 0) FROM chunks c WHERE c.doc = d.id)"), ==, 0);
  g_assert_cmpint (raw_int (path, "SELECT count(*) FROM chunks WHERE doc NOT IN "
          "(SELECT id FROM documents)"), ==, 0);
  g_free (path);
}

static void
remove_tmpdir (void)
{
  GDir *dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir))) {
    char *p = g_build_filename (tmpdir, name, NULL);
    g_unlink (p);
    g_free (p);
  }
  if (dir)
    g_dir_close (dir);
  g_rmdir (tmpdir);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("test-store-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  g_test_add_func ("/store/status-names", test_status_names);
  g_test_add_func ("/store/create-reopen", test_create_reopen);
  g_test_add_func ("/store/version-mismatch", test_version_mismatch);
  g_test_add_func ("/store/not-sqlite", test_not_sqlite);
  g_test_add_func ("/store/write-read", test_write_read);
  g_test_add_func ("/store/document-vectors", test_document_vectors);
  g_test_add_func ("/store/misuse", test_misuse);
  g_test_add_func ("/store/abort", test_abort);
  g_test_add_func ("/store/replace-and-skip", test_replace_and_skip);
  g_test_add_func ("/store/is-current", test_is_current);
  g_test_add_func ("/store/seen-deleted", test_seen_deleted);
  g_test_add_func ("/store/search-random", test_search_random);
  g_test_add_func ("/store/search-ties", test_search_ties);
  g_test_add_func ("/store/merge", test_merge);
  g_test_add_func ("/store/full", test_full);
  g_test_add_func ("/store/killed-writer", test_killed_writer);
  ret = g_test_run ();
  remove_tmpdir ();
  g_free (tmpdir);
  return ret;
}
