/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-store.c — the SQLite embedding store (te-store.h): schema creation and checks, one
 * transaction per document, resume marks in a TEMP table, streamed brute-force search, merge. */
#include "te-store.h"
#include "te-blas.h"

#include <math.h>
#include <string.h>
#include <sqlite3.h>
#include <glib/gstdio.h>

/* Page size of new stores. A chunk row (1.5 KiB of 384-dim embedding plus up to a few KiB of
 * text) fits in one 16 KiB page of a WITHOUT ROWID b-tree (whose largest in-page record is about
 * a quarter page); with SQLite's default 4 KiB every row would spill into an overflow page
 * (docs/store.md, "Scale"). */
#define STORE_PAGE_SIZE 16384
#define STORE_BUSY_TIMEOUT_MS 5000

G_STATIC_ASSERT (TE_STORE_SCHEMA_VERSION == 2);
static const char schema_sql[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;\n"
    "CREATE TABLE documents (id TEXT PRIMARY KEY, path TEXT, size INTEGER, mtime INTEGER, "
    "hash TEXT, model TEXT, dims INTEGER, prompt TEXT, status TEXT NOT NULL CHECK (status IN "
    "('complete','skipped','deleted')), reason TEXT, chunks INTEGER NOT NULL, tokens INTEGER "
    "NOT NULL, embedding BLOB) WITHOUT ROWID;\n"
    "CREATE TABLE chunks (doc TEXT NOT NULL, idx INTEGER NOT NULL, byte_start INTEGER NOT NULL, "
    "byte_end INTEGER NOT NULL, pts INTEGER, duration INTEGER, tokens INTEGER NOT NULL, "
    "text TEXT, embedding BLOB NOT NULL, PRIMARY KEY (doc, idx)) WITHOUT ROWID;\n"
    "PRAGMA user_version = 2;\n";

/* Version 1 had no documents.embedding (the document vector): a writer adds it, in place. */
static const char migrate_1_to_2_sql[] =
    "ALTER TABLE documents ADD COLUMN embedding BLOB;\n"
    "PRAGMA user_version = 2;\n";

#define DOC_COLUMNS \
    "id, path, size, mtime, hash, model, dims, prompt, status, reason, chunks, tokens, embedding"
#define DOC_N_COLUMNS 13
/* What a reader selects for DOC_COLUMNS: a version-1 store opened read-only has no document
 * vectors. */
#define DOC_COLUMNS_V1 \
    "id, path, size, mtime, hash, model, dims, prompt, status, reason, chunks, tokens, NULL"
#define DOC_SELECT(s) ((s)->version == 1 ? DOC_COLUMNS_V1 : DOC_COLUMNS)
#define CHUNK_COLUMNS "doc, idx, byte_start, byte_end, pts, duration, tokens, text, embedding"
#define CHUNK_N_COLUMNS 9

struct _TeStore {
  sqlite3 *db;
  char *path;
  gboolean readonly;
  gint64 version;            /* the schema's: TE_STORE_SCHEMA_VERSION, or 1 when read-only */

  /* The open document (doc_id NULL when none). */
  char *doc_id;
  guint64 doc_chunks, doc_index_end, doc_tokens;
  guint doc_dims;
  GPtrArray *seen_pending;   /* ids marked seen while the document was open */
  gboolean seen_lost;        /* a seen mark could not be restored after a rollback */

  float *floats;             /* scratch: embeddings in the other byte order */
  gsize floats_len;
  float *doc_floats;         /* the document vector of the row read last (host order) */
  gsize doc_floats_len;

  sqlite3_stmt *st_delete_chunks, *st_insert_chunk, *st_put_doc, *st_seen, *st_is_current;
};

static const char *const status_names[] = { "complete", "skipped", "deleted" };

const char *
te_doc_status_to_string (TeDocStatus status)
{
  if ((guint) status < G_N_ELEMENTS (status_names))
    return status_names[status];
  return "invalid";
}

gboolean
te_doc_status_from_string (const char *s, TeDocStatus * status)
{
  for (guint i = 0; s != NULL && i < G_N_ELEMENTS (status_names); i++) {
    if (strcmp (s, status_names[i]) == 0) {
      if (status)
        *status = (TeDocStatus) i;
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- errors ---- */

static TeError
error_code_for (int rc)
{
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return TE_ERROR_PARSE;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return TE_ERROR_INVALID;
    default:
      return TE_ERROR_IO;
  }
}

/* What the user can do about an SQLite result code. */
static const char *
advice_for (int rc)
{
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return " (free space on the store's file system; the document was rolled back)";
    case SQLITE_IOERR:
      return " (the disk failed to read or write; the transaction was rolled back)";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return " (another process held the store's lock for more than 5 s: run one writer per "
          "store, e.g. one store per shard merged with te-store merge)";
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return " (make the file and its directory writable)";
    case SQLITE_CANTOPEN:
      return " (check that its directory exists and is writable)";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return " (the file is damaged or is not a store)";
    default:
      return "";
  }
}

/* "store PATH: WHAT: sqlite's message (advice)" for the last error on @db. Call before anything
 * else (a ROLLBACK) replaces the message. */
static void G_GNUC_PRINTF (5, 6)
set_db_error (GError ** error, const char *path, sqlite3 * db, int rc, const char *fmt, ...)
{
  va_list ap;
  char *what;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, TE_ERROR, error_code_for (rc), "store %s: %s: %s%s", path, what,
      db ? sqlite3_errmsg (db) : sqlite3_errstr (rc), advice_for (rc));
  g_free (what);
}

#define STORE_ERROR(s, err, rc, ...) set_db_error (err, (s)->path, (s)->db, rc, __VA_ARGS__)

static gboolean
exec (TeStore * s, const char *sql, const char *what, GError ** error)
{
  int rc = sqlite3_exec (s->db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK) {
    STORE_ERROR (s, error, rc, "%s", what);
    return FALSE;
  }
  return TRUE;
}

static sqlite3_stmt *
prepare (TeStore * s, const char *sql, gboolean persistent, GError ** error)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3 (s->db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st,
      NULL);

  if (rc != SQLITE_OK) {
    STORE_ERROR (s, error, rc, "preparing \"%s\"", sql);
    sqlite3_finalize (st);
    return NULL;
  }
  return st;
}

static gboolean
check_writable (TeStore * s, GError ** error)
{
  if (s->readonly) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: opened read-only (te_store_open_readonly); open it with te_store_open to "
        "write", s->path);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_no_doc (TeStore * s, const char *what, GError ** error)
{
  if (s->doc_id) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: cannot %s while document \"%s\" is open: commit or abort it first",
        s->path, what, s->doc_id);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_utf8 (TeStore * s, const char *what, const char *v, GError ** error)
{
  if (v && !g_utf8_validate (v, -1, NULL)) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: %s is not valid UTF-8 (or contains NUL); convert it (e.g. with "
        "g_filename_display_name) before storing it", s->path, what);
    return FALSE;
  }
  return TRUE;
}

/* ---- byte order of the embedding BLOB ---- */

/* @n little-endian float32 at @bytes (any alignment) into @out. */
static void
floats_from_le (const void *bytes, float *out, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  memcpy (out, bytes, n * sizeof (float));
#else
  const guint8 *b = bytes;
  for (gsize i = 0; i < n; i++) {
    guint32 u;
    memcpy (&u, b + 4 * i, 4);
    u = GUINT32_FROM_LE (u);
    memcpy (&out[i], &u, 4);
  }
#endif
}

static float *
scratch_floats (TeStore * s, gsize n)
{
  if (s->floats_len < n) {
    g_free (s->floats);
    s->floats = g_new (float, n);
    s->floats_len = n;
  }
  return s->floats;
}

/* The bytes to store for @n host floats: @v itself on little-endian hosts. */
static const void *
floats_to_le (TeStore * s, const float *v, gsize n)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  return v;
#else
  float *out = scratch_floats (s, n);
  for (gsize i = 0; i < n; i++) {
    guint32 u;
    memcpy (&u, &v[i], 4);
    u = GUINT32_TO_LE (u);
    memcpy (&out[i], &u, 4);
  }
  return out;
#endif
}

/* ---- open / close ---- */

typedef struct {
  gint64 version;
  gint64 n_objects;      /* rows of sqlite_master */
  const char *missing;   /* first of our tables absent, or NULL */
} SchemaInfo;

static gboolean
read_int (TeStore * s, const char *sql, gint64 * out, GError ** error)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2 (s->db, sql, -1, &st, NULL);

  if (rc == SQLITE_OK) {
    rc = sqlite3_step (st);
    if (rc == SQLITE_ROW) {
      *out = sqlite3_column_int64 (st, 0);
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK) {
    if ((rc & 0xff) == SQLITE_NOTADB)
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "%s is not a store: it is not an SQLite database (%s)", s->path,
          sqlite3_errmsg (s->db));
    else
      STORE_ERROR (s, error, rc, "reading its schema");
  }
  sqlite3_finalize (st);
  return rc == SQLITE_OK;
}

static gboolean
schema_info (TeStore * s, SchemaInfo * info, GError ** error)
{
  static const char *const tables[] = { "meta", "documents", "chunks" };

  info->missing = NULL;
  if (!read_int (s, "PRAGMA user_version", &info->version, error)
      || !read_int (s, "SELECT count(*) FROM sqlite_master", &info->n_objects, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (tables) && info->missing == NULL; i++) {
    char *sql = g_strdup_printf ("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
        "AND name = '%s'", tables[i]);
    gint64 n = 0;
    gboolean ok = read_int (s, sql, &n, error);

    g_free (sql);
    if (!ok)
      return FALSE;
    if (n == 0)
      info->missing = tables[i];
  }
  return TRUE;
}

/* A brand-new (empty) database gets the schema; anything else must be a store of our version. */
static gboolean
check_schema (TeStore * s, GError ** error)
{
  SchemaInfo info;

  if (!schema_info (s, &info, error))
    return FALSE;
  if (info.version == 0 && info.n_objects == 0) {
    if (s->readonly) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "%s is not a store: it is an empty file or database (a store is created by "
          "writing to it first)", s->path);
      return FALSE;
    }
    /* The page size only applies before the first write, and must precede WAL. */
    if (!exec (s, "PRAGMA page_size = " G_STRINGIFY (STORE_PAGE_SIZE), "setting the page size",
            error)
        || !exec (s, "PRAGMA journal_mode = WAL", "switching to WAL", error)
        || !exec (s, "BEGIN IMMEDIATE", "creating the schema", error))
      return FALSE;
    /* Another process may have created it meanwhile. */
    if (!schema_info (s, &info, error)) {
      sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
    if (info.version == 0 && info.n_objects == 0) {
      if (!exec (s, schema_sql, "creating the schema", error)) {
        sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
      }
      info.version = TE_STORE_SCHEMA_VERSION;
      info.missing = NULL;
    }
    if (!exec (s, "COMMIT", "creating the schema", error)) {
      sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  }
  if (info.version == 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s is not a store: an SQLite database without a store schema version "
        "(PRAGMA user_version is 0)", s->path);
    return FALSE;
  }
  if (info.version == 1 && !info.missing && !s->readonly) {
    if (!exec (s, "BEGIN IMMEDIATE", "upgrading the schema to version 2", error))
      return FALSE;
    /* another writer may have upgraded it meanwhile */
    if (!schema_info (s, &info, error)
        || (info.version == 1 && !exec (s, migrate_1_to_2_sql, "upgrading the schema to "
                "version 2", error))
        || !exec (s, "COMMIT", "upgrading the schema to version 2", error)) {
      sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
    info.version = TE_STORE_SCHEMA_VERSION;
  }
  s->version = info.version;
  if (info.version == 1 && s->readonly && !info.missing)
    return TRUE;                /* read as it is: no document vectors */
  if (info.version != TE_STORE_SCHEMA_VERSION) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "store %s has schema version %" G_GINT64_FORMAT ", this gst-textembed reads and writes "
        "version %d: %s", s->path, info.version, TE_STORE_SCHEMA_VERSION,
        info.version > TE_STORE_SCHEMA_VERSION ?
        "use the newer gst-textembed that wrote it" :
        "no migration from that version exists; embed the corpus again into a new store");
    return FALSE;
  }
  if (info.missing) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s is not a store: schema version %d but no \"%s\" table", s->path,
        TE_STORE_SCHEMA_VERSION, info.missing);
    return FALSE;
  }
  return TRUE;
}

static gboolean
prepare_statements (TeStore * s, GError ** error)
{
  s->st_is_current = prepare (s, "SELECT 1 FROM documents WHERE id = ?1 AND status = 'complete' "
      "AND hash = ?2 AND model = ?3", TRUE, error);
  if (s->st_is_current == NULL)
    return FALSE;
  if (s->readonly)
    return TRUE;
  if (!exec (s, "CREATE TEMP TABLE seen (id TEXT PRIMARY KEY) WITHOUT ROWID",
          "creating the table of seen documents", error))
    return FALSE;
  s->st_delete_chunks = prepare (s, "DELETE FROM chunks WHERE doc = ?1", TRUE, error);
  if (s->st_delete_chunks)
    s->st_insert_chunk = prepare (s, "INSERT INTO chunks (" CHUNK_COLUMNS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", TRUE, error);
  if (s->st_insert_chunk)
    s->st_put_doc = prepare (s, "INSERT OR REPLACE INTO documents (" DOC_COLUMNS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", TRUE, error);
  if (s->st_put_doc)
    s->st_seen = prepare (s, "INSERT OR IGNORE INTO temp.seen (id) VALUES (?1)", TRUE, error);
  return s->st_seen != NULL;
}

static TeStore *
store_open (const char *path, gboolean readonly, GError ** error)
{
  TeStore *s;
  int rc;

  g_return_val_if_fail (path != NULL, NULL);
  if (readonly && !g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "store %s does not exist", path);
    return NULL;
  }
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO,
        "%s is a directory; a store is a file (e.g. %s/store.db)", path, path);
    return NULL;
  }
  s = g_new0 (TeStore, 1);
  s->path = g_strdup (path);
  s->readonly = readonly;
  s->seen_pending = g_ptr_array_new_with_free_func (g_free);
  rc = sqlite3_open_v2 (path, &s->db, readonly ? SQLITE_OPEN_READONLY :
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc != SQLITE_OK) {
    STORE_ERROR (s, error, rc, "cannot open it");
    te_store_close (s);
    return NULL;
  }
  sqlite3_busy_timeout (s->db, STORE_BUSY_TIMEOUT_MS);
  if (!check_schema (s, error)
      || (!readonly && !exec (s, "PRAGMA journal_mode = WAL", "switching to WAL", error))
      || !exec (s, "PRAGMA synchronous = NORMAL", "setting synchronous", error)
      || !prepare_statements (s, error)) {
    te_store_close (s);
    return NULL;
  }
  return s;
}

TeStore *
te_store_open (const char *path, GError ** error)
{
  return store_open (path, FALSE, error);
}

TeStore *
te_store_open_readonly (const char *path, GError ** error)
{
  return store_open (path, TRUE, error);
}

static void rollback (TeStore * s);

void
te_store_close (TeStore * s)
{
  int rc;

  if (s == NULL)
    return;
  if (s->db) {
    g_ptr_array_set_size (s->seen_pending, 0);
    rollback (s);
    sqlite3_finalize (s->st_delete_chunks);
    sqlite3_finalize (s->st_insert_chunk);
    sqlite3_finalize (s->st_put_doc);
    sqlite3_finalize (s->st_seen);
    sqlite3_finalize (s->st_is_current);
    rc = sqlite3_close (s->db);
    if (rc != SQLITE_OK)
      g_warning ("store %s: closing: %s", s->path, sqlite3_errstr (rc));
  }
  g_ptr_array_free (s->seen_pending, TRUE);
  g_free (s->doc_id);
  g_free (s->floats);
  g_free (s->doc_floats);
  g_free (s->path);
  g_free (s);
}

const char *
te_store_path (const TeStore * store)
{
  g_return_val_if_fail (store != NULL, NULL);
  return store->path;
}

void
te_store_set_max_pages (TeStore * store, guint max_pages)
{
  char *sql;

  g_return_if_fail (store != NULL);
  sql = g_strdup_printf ("PRAGMA max_page_count = %u", max_pages);
  if (sqlite3_exec (store->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    g_warning ("store %s: %s: %s", store->path, sql, sqlite3_errmsg (store->db));
  g_free (sql);
}

/* ---- meta ---- */

gboolean
te_store_set_meta (TeStore * s, const char *key, const char *value, GError ** error)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL && key != NULL, FALSE);
  if (!check_writable (s, error) || !check_no_doc (s, "set meta", error)
      || !check_utf8 (s, "the meta key", key, error)
      || !check_utf8 (s, "the meta value", value, error))
    return FALSE;
  st = prepare (s, value ? "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)" :
      "DELETE FROM meta WHERE key = ?1", FALSE, error);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  if (value)
    sqlite3_bind_text (st, 2, value, -1, SQLITE_STATIC);
  rc = sqlite3_step (st);
  if (rc != SQLITE_DONE)
    STORE_ERROR (s, error, rc, "setting meta \"%s\"", key);
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

char *
te_store_get_meta (TeStore * s, const char *key)
{
  sqlite3_stmt *st;
  char *value = NULL;
  int rc;

  g_return_val_if_fail (s != NULL && key != NULL, NULL);
  st = prepare (s, "SELECT value FROM meta WHERE key = ?1", FALSE, NULL);
  if (st == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW && sqlite3_column_type (st, 0) != SQLITE_NULL)
    value = g_strdup ((const char *) sqlite3_column_text (st, 0));
  else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    g_warning ("store %s: reading meta \"%s\": %s", s->path, key, sqlite3_errmsg (s->db));
  sqlite3_finalize (st);
  return value;
}

/* ---- writing ---- */

/* Mark @id seen inside or outside a transaction. */
static int
insert_seen (TeStore * s, const char *id)
{
  int rc;

  sqlite3_bind_text (s->st_seen, 1, id, -1, SQLITE_STATIC);
  rc = sqlite3_step (s->st_seen);
  sqlite3_reset (s->st_seen);
  sqlite3_clear_bindings (s->st_seen);
  return rc;
}

/* Roll back whatever transaction is open and close the document; seen marks given meanwhile
 * are put back (they were undone with it). */
static void
rollback (TeStore * s)
{
  if (!sqlite3_get_autocommit (s->db)) {
    int rc = sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      g_warning ("store %s: rolling back: %s", s->path, sqlite3_errmsg (s->db));
  }
  g_clear_pointer (&s->doc_id, g_free);
  for (guint i = 0; i < s->seen_pending->len; i++) {
    if (insert_seen (s, g_ptr_array_index (s->seen_pending, i)) != SQLITE_DONE)
      s->seen_lost = TRUE;
  }
  g_ptr_array_set_size (s->seen_pending, 0);
}

static void
bind_text_or_null (sqlite3_stmt * st, int i, const char *v)
{
  if (v)
    sqlite3_bind_text (st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (st, i);
}

static void
bind_int_or_null (sqlite3_stmt * st, int i, gint64 v, gboolean null)
{
  if (null)
    sqlite3_bind_null (st, i);
  else
    sqlite3_bind_int64 (st, i, v);
}

static gboolean
validate_doc (TeStore * s, const TeStoreDoc * doc, GError ** error)
{
  if (doc == NULL || doc->id == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "store %s: a document needs an id",
        s->path);
    return FALSE;
  }
  if (!check_utf8 (s, "the document id", doc->id, error)
      || !check_utf8 (s, "the document path", doc->path, error)
      || !check_utf8 (s, "the document hash", doc->hash, error)
      || !check_utf8 (s, "the document model", doc->model, error)
      || !check_utf8 (s, "the document prompt", doc->prompt, error)
      || !check_utf8 (s, "the document reason", doc->reason, error))
    return FALSE;
  if ((guint) doc->status >= G_N_ELEMENTS (status_names)) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "store %s: document \"%s\" has status %d, "
        "not a TeDocStatus", s->path, doc->id, (int) doc->status);
    return FALSE;
  }
  if (doc->n_chunks > G_MAXINT64 || doc->n_tokens > G_MAXINT64) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "store %s: document \"%s\": chunk or token "
        "count beyond 2^63", s->path, doc->id);
    return FALSE;
  }
  return TRUE;
}

/* Bind @doc to st_put_doc and run it. */
static int
put_doc_row (TeStore * s, const TeStoreDoc * doc)
{
  sqlite3_stmt *st = s->st_put_doc;
  int rc;

  bind_text_or_null (st, 1, doc->id);
  bind_text_or_null (st, 2, doc->path);
  bind_int_or_null (st, 3, doc->size, doc->size < 0);
  bind_int_or_null (st, 4, doc->mtime, doc->mtime == -1);
  bind_text_or_null (st, 5, doc->hash);
  bind_text_or_null (st, 6, doc->model);
  sqlite3_bind_int64 (st, 7, doc->dims);
  bind_text_or_null (st, 8, doc->prompt);
  sqlite3_bind_text (st, 9, te_doc_status_to_string (doc->status), -1, SQLITE_STATIC);
  bind_text_or_null (st, 10, doc->reason);
  sqlite3_bind_int64 (st, 11, (gint64) doc->n_chunks);
  sqlite3_bind_int64 (st, 12, (gint64) doc->n_tokens);
  if (doc->embedding && doc->status == TE_DOC_COMPLETE)
    sqlite3_bind_blob64 (st, 13, floats_to_le (s, doc->embedding, doc->dims),
        (sqlite3_uint64) doc->dims * 4, SQLITE_STATIC);
  else
    sqlite3_bind_null (st, 13);
  rc = sqlite3_step (st);
  return rc;
}

static void
reset (sqlite3_stmt * st)
{
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
}

static int
delete_chunks (TeStore * s, const char *id)
{
  int rc;

  sqlite3_bind_text (s->st_delete_chunks, 1, id, -1, SQLITE_STATIC);
  rc = sqlite3_step (s->st_delete_chunks);
  return rc;
}

gboolean
te_store_doc_begin (TeStore * s, const char *id, GError ** error)
{
  int rc;

  g_return_val_if_fail (s != NULL, FALSE);
  if (!check_writable (s, error) || !check_no_doc (s, "begin a document", error))
    return FALSE;
  if (id == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "store %s: a document needs an id",
        s->path);
    return FALSE;
  }
  if (!check_utf8 (s, "the document id", id, error)
      || !exec (s, "BEGIN IMMEDIATE", "beginning a document", error))
    return FALSE;
  rc = delete_chunks (s, id);
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "removing the old chunks of document \"%s\"", id);
    reset (s->st_delete_chunks);
    rollback (s);
    return FALSE;
  }
  reset (s->st_delete_chunks);
  s->doc_id = g_strdup (id);
  s->doc_chunks = s->doc_index_end = s->doc_tokens = 0;
  s->doc_dims = 0;
  return TRUE;
}

static gboolean
no_doc_error (TeStore * s, GError ** error)
{
  g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
      "store %s: no document is open: call te_store_doc_begin() first (an error in "
      "te_store_doc_add_chunk() rolls the document back)", s->path);
  return FALSE;
}

gboolean
te_store_doc_add_chunk (TeStore * s, const TeStoreChunk * c, GError ** error)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL, FALSE);
  if (s->doc_id == NULL)
    return no_doc_error (s, error);
  st = s->st_insert_chunk;
  if (c == NULL || c->embedding == NULL || c->dims == 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: a chunk of document \"%s\" has no embedding", s->path, s->doc_id);
    goto fail;
  }
  if (s->doc_chunks > 0 && c->dims != s->doc_dims) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: chunk %" G_GUINT64_FORMAT " of document \"%s\" has %u dims, its first "
        "chunk %u", s->path, c->index, s->doc_id, c->dims, s->doc_dims);
    goto fail;
  }
  if (c->index > G_MAXINT64 || c->start > c->end || c->end > G_MAXINT64) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: chunk %" G_GUINT64_FORMAT " of document \"%s\" has a bad index or byte range "
        "[%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")", s->path, c->index, s->doc_id,
        c->start, c->end);
    goto fail;
  }
  if (c->text && (c->text_len > G_MAXINT32 || !g_utf8_validate_len (c->text, c->text_len,
              NULL))) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: the text of chunk %" G_GUINT64_FORMAT " of document \"%s\" is not valid "
        "UTF-8 (or contains NUL, or is over 2 GiB)", s->path, c->index, s->doc_id);
    goto fail;
  }

  sqlite3_bind_text (st, 1, s->doc_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, (gint64) c->index);
  sqlite3_bind_int64 (st, 3, (gint64) c->start);
  sqlite3_bind_int64 (st, 4, (gint64) c->end);
  bind_int_or_null (st, 5, c->pts, c->pts < 0);
  bind_int_or_null (st, 6, c->duration, c->duration < 0);
  sqlite3_bind_int64 (st, 7, c->n_tokens);
  if (c->text)
    sqlite3_bind_text64 (st, 8, c->text, c->text_len, SQLITE_STATIC, SQLITE_UTF8);
  else
    sqlite3_bind_null (st, 8);
  sqlite3_bind_blob64 (st, 9, floats_to_le (s, c->embedding, c->dims),
      (sqlite3_uint64) c->dims * 4, SQLITE_STATIC);
  rc = sqlite3_step (st);
  if (rc != SQLITE_DONE) {
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
      STORE_ERROR (s, error, rc, "chunk %" G_GUINT64_FORMAT " of document \"%s\" added twice",
          c->index, s->doc_id);
    else
      STORE_ERROR (s, error, rc, "adding chunk %" G_GUINT64_FORMAT " of document \"%s\"",
          c->index, s->doc_id);
    reset (st);
    goto fail;
  }
  reset (st);
  s->doc_chunks++;
  s->doc_index_end = MAX (s->doc_index_end, c->index + 1);
  s->doc_tokens += c->n_tokens;
  s->doc_dims = c->dims;
  return TRUE;

fail:
  rollback (s);
  return FALSE;
}

/* The row of a committed document must describe the chunks added. */
static gboolean
check_doc_matches_chunks (TeStore * s, const TeStoreDoc * doc, GError ** error)
{
  if (doc->status != TE_DOC_COMPLETE) {
    if (s->doc_chunks == 0)
      return TRUE;
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: document \"%s\" is committed as %s with %" G_GUINT64_FORMAT " chunks added; "
        "only complete documents have chunks (abort, then te_store_put_doc)", s->path, doc->id,
        te_doc_status_to_string (doc->status), s->doc_chunks);
    return FALSE;
  }
  if (doc->n_chunks != s->doc_chunks || s->doc_index_end != s->doc_chunks) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: document \"%s\" says %" G_GUINT64_FORMAT " chunks but %" G_GUINT64_FORMAT
        " were added with indexes up to %" G_GUINT64_FORMAT " (they must be 0..n-1)", s->path,
        doc->id, doc->n_chunks, s->doc_chunks, s->doc_index_end);
    return FALSE;
  }
  if (s->doc_chunks > 0 && doc->dims != s->doc_dims) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: document \"%s\" says %u dims but its chunks have %u", s->path, doc->id,
        doc->dims, s->doc_dims);
    return FALSE;
  }
  if (doc->n_tokens != s->doc_tokens) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: document \"%s\" says %" G_GUINT64_FORMAT " tokens but its chunks sum to %"
        G_GUINT64_FORMAT, s->path, doc->id, doc->n_tokens, s->doc_tokens);
    return FALSE;
  }
  return TRUE;
}

gboolean
te_store_doc_commit (TeStore * s, const TeStoreDoc * doc, GError ** error)
{
  int rc;

  g_return_val_if_fail (s != NULL, FALSE);
  if (s->doc_id == NULL)
    return no_doc_error (s, error);
  if (!validate_doc (s, doc, error))
    goto fail;
  if (strcmp (doc->id, s->doc_id) != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: committing document \"%s\" but \"%s\" is the one begun", s->path, doc->id,
        s->doc_id);
    goto fail;
  }
  if (!check_doc_matches_chunks (s, doc, error))
    goto fail;
  rc = put_doc_row (s, doc);
  reset (s->st_put_doc);
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "writing document \"%s\"", doc->id);
    goto fail;
  }
  rc = insert_seen (s, doc->id);
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "marking document \"%s\" seen", doc->id);
    goto fail;
  }
  rc = sqlite3_exec (s->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    STORE_ERROR (s, error, rc, "committing document \"%s\"", doc->id);
    goto fail;
  }
  g_clear_pointer (&s->doc_id, g_free);
  g_ptr_array_set_size (s->seen_pending, 0);
  return TRUE;

fail:
  rollback (s);
  return FALSE;
}

void
te_store_doc_abort (TeStore * s)
{
  g_return_if_fail (s != NULL);
  if (s->doc_id)
    rollback (s);
}

gboolean
te_store_put_doc (TeStore * s, const TeStoreDoc * doc, GError ** error)
{
  int rc;

  g_return_val_if_fail (s != NULL, FALSE);
  if (!check_writable (s, error) || !check_no_doc (s, "put a document", error)
      || !validate_doc (s, doc, error))
    return FALSE;
  if (doc->status == TE_DOC_COMPLETE || doc->n_chunks != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: document \"%s\" is %s with %" G_GUINT64_FORMAT " chunks; te_store_put_doc "
        "writes documents without chunks (skipped, deleted), complete ones go through "
        "te_store_doc_begin/add_chunk/commit", s->path, doc->id,
        te_doc_status_to_string (doc->status), doc->n_chunks);
    return FALSE;
  }
  if (!exec (s, "BEGIN IMMEDIATE", "beginning a transaction", error))
    return FALSE;
  rc = delete_chunks (s, doc->id);
  reset (s->st_delete_chunks);
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "removing the chunks of document \"%s\"", doc->id);
    goto fail;
  }
  rc = put_doc_row (s, doc);
  reset (s->st_put_doc);
  if (rc == SQLITE_DONE)
    rc = insert_seen (s, doc->id);
  if (rc == SQLITE_DONE)
    rc = sqlite3_exec (s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? SQLITE_DONE :
        sqlite3_errcode (s->db);
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "writing document \"%s\"", doc->id);
    goto fail;
  }
  return TRUE;

fail:
  rollback (s);
  return FALSE;
}

/* ---- resume ---- */

gboolean
te_store_doc_is_current (TeStore * s, const char *id, const char *hash, const char *model)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL, FALSE);
  if (id == NULL || hash == NULL || model == NULL)
    return FALSE;
  st = s->st_is_current;
  sqlite3_bind_text (st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 3, model, -1, SQLITE_STATIC);
  rc = sqlite3_step (st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    g_warning ("store %s: looking up document \"%s\": %s", s->path, id,
        sqlite3_errmsg (s->db));
  reset (st);
  return rc == SQLITE_ROW;
}

gboolean
te_store_mark_seen (TeStore * s, const char *id, GError ** error)
{
  int rc;

  g_return_val_if_fail (s != NULL, FALSE);
  if (!check_writable (s, error))
    return FALSE;
  if (id == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "store %s: mark_seen needs an id",
        s->path);
    return FALSE;
  }
  rc = insert_seen (s, id);
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "marking document \"%s\" seen", id);
    return FALSE;
  }
  /* Inside the open document's transaction: a rollback would undo it, so remember it. */
  if (s->doc_id)
    g_ptr_array_add (s->seen_pending, g_strdup (id));
  return TRUE;
}

gboolean
te_store_mark_unseen_deleted (TeStore * s, guint64 * n_deleted, GError ** error)
{
  int changes;

  g_return_val_if_fail (s != NULL, FALSE);
  if (!check_writable (s, error) || !check_no_doc (s, "mark unseen documents deleted", error))
    return FALSE;
  if (s->seen_lost) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO,
        "store %s: a seen mark was lost after a failed rollback; deleting unseen documents "
        "now could delete listed ones: reopen the store and list the corpus again", s->path);
    return FALSE;
  }
  if (!exec (s, "BEGIN IMMEDIATE", "beginning a transaction", error))
    return FALSE;
  if (!exec (s, "DELETE FROM chunks WHERE doc NOT IN (SELECT id FROM temp.seen)",
          "removing the chunks of unseen documents", error))
    goto fail;
  if (!exec (s, "UPDATE documents SET status = 'deleted', chunks = 0, tokens = 0, dims = 0, "
          "reason = NULL WHERE status <> 'deleted' AND id NOT IN (SELECT id FROM temp.seen)",
          "marking unseen documents deleted", error))
    goto fail;
  changes = sqlite3_changes (s->db);
  if (!exec (s, "COMMIT", "committing the deletions", error))
    goto fail;
  if (n_deleted)
    *n_deleted = (guint64) changes;
  return TRUE;

fail:
  rollback (s);
  return FALSE;
}

/* ---- reading ---- */

gboolean
te_store_counts (TeStore * s, TeStoreCounts * counts, GError ** error)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL && counts != NULL, FALSE);
  memset (counts, 0, sizeof (*counts));
  /* From the document rows: commit checks that a complete row's chunks column equals the chunk
   * rows written, so this needs no pass over the chunks. */
  st = prepare (s, "SELECT count(*), coalesce(sum(status = 'complete'), 0), "
      "coalesce(sum(status = 'skipped'), 0), coalesce(sum(status = 'deleted'), 0), "
      "coalesce(sum(CASE WHEN status = 'complete' THEN chunks ELSE 0 END), 0), "
      "coalesce(sum(CASE WHEN status = 'complete' THEN tokens ELSE 0 END), 0) "
      "FROM documents", FALSE, error);
  if (st == NULL)
    return FALSE;
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    counts->documents = sqlite3_column_int64 (st, 0);
    counts->complete = sqlite3_column_int64 (st, 1);
    counts->skipped = sqlite3_column_int64 (st, 2);
    counts->deleted = sqlite3_column_int64 (st, 3);
    counts->chunks = sqlite3_column_int64 (st, 4);
    counts->tokens = sqlite3_column_int64 (st, 5);
  } else {
    STORE_ERROR (s, error, rc, "counting documents");
  }
  sqlite3_finalize (st);
  return rc == SQLITE_ROW;
}

static const char *
column_text_or_null (sqlite3_stmt * st, int i)
{
  if (sqlite3_column_type (st, i) == SQLITE_NULL)
    return NULL;
  return (const char *) sqlite3_column_text (st, i);
}

static gint64
column_int_or (sqlite3_stmt * st, int i, gint64 null_value)
{
  if (sqlite3_column_type (st, i) == SQLITE_NULL)
    return null_value;
  return sqlite3_column_int64 (st, i);
}

/* A row of DOC_COLUMNS into @doc (strings point into the statement). */
static gboolean
doc_from_row (TeStore * s, sqlite3_stmt * st, TeStoreDoc * doc, GError ** error)
{
  memset (doc, 0, sizeof (*doc));
  doc->id = column_text_or_null (st, 0);
  doc->path = column_text_or_null (st, 1);
  doc->size = column_int_or (st, 2, -1);
  doc->mtime = column_int_or (st, 3, -1);
  doc->hash = column_text_or_null (st, 4);
  doc->model = column_text_or_null (st, 5);
  doc->dims = (guint) column_int_or (st, 6, 0);
  doc->prompt = column_text_or_null (st, 7);
  doc->reason = column_text_or_null (st, 9);
  doc->n_chunks = (guint64) sqlite3_column_int64 (st, 10);
  doc->n_tokens = (guint64) sqlite3_column_int64 (st, 11);
  if (!te_doc_status_from_string (column_text_or_null (st, 8), &doc->status)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "store %s: document \"%s\" has status \"%s\"",
        s->path, doc->id ? doc->id : "(null)", column_text_or_null (st, 8));
    return FALSE;
  }
  if (sqlite3_column_type (st, 12) != SQLITE_NULL) {
    const void *blob = sqlite3_column_blob (st, 12);
    gsize bytes = (gsize) sqlite3_column_bytes (st, 12);
    if (blob == NULL || doc->dims == 0 || bytes != (gsize) doc->dims * 4) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "store %s: document \"%s\" has a document "
          "vector of %" G_GSIZE_FORMAT " bytes for %u dims: the store is damaged", s->path,
          doc->id ? doc->id : "(null)", bytes, doc->dims);
      return FALSE;
    }
    if (s->doc_floats_len < doc->dims) {
      g_free (s->doc_floats);
      s->doc_floats = g_new (float, doc->dims);
      s->doc_floats_len = doc->dims;
    }
    floats_from_le (blob, s->doc_floats, doc->dims);
    doc->embedding = s->doc_floats;
  }
  return TRUE;
}

gboolean
te_store_get_doc (TeStore * s, const char *id, TeStoreDoc * doc, GError ** error)
{
  sqlite3_stmt *st;
  gboolean found = FALSE;
  int rc;

  g_return_val_if_fail (s != NULL && id != NULL && doc != NULL, FALSE);
  memset (doc, 0, sizeof (*doc));
  gchar *sql = g_strdup_printf ("SELECT %s FROM documents WHERE id = ?1", DOC_SELECT (s));
  st = prepare (s, sql, FALSE, error);
  g_free (sql);
  if (st == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, id, -1, SQLITE_STATIC);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW) {
    TeStoreDoc row;

    if (doc_from_row (s, st, &row, error)) {
      *doc = row;
      doc->id = g_strdup (row.id);
      doc->path = g_strdup (row.path);
      doc->hash = g_strdup (row.hash);
      doc->model = g_strdup (row.model);
      doc->prompt = g_strdup (row.prompt);
      doc->reason = g_strdup (row.reason);
      doc->embedding = row.embedding ? g_memdup2 (row.embedding, row.dims * sizeof (float))
          : NULL;
      found = TRUE;
    }
  } else if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "reading document \"%s\"", id);
  }
  sqlite3_finalize (st);
  return found;
}

void
te_store_doc_clear (TeStoreDoc * doc)
{
  if (doc == NULL)
    return;
  g_free ((char *) doc->id);
  g_free ((char *) doc->path);
  g_free ((char *) doc->hash);
  g_free ((char *) doc->model);
  g_free ((char *) doc->prompt);
  g_free ((char *) doc->reason);
  g_free ((float *) doc->embedding);
  memset (doc, 0, sizeof (*doc));
}

void
te_store_hit_clear (TeStoreHit * hit)
{
  if (hit == NULL)
    return;
  g_clear_pointer (&hit->doc, g_free);
  g_clear_pointer (&hit->text, g_free);
}

/* ---- search ---- */

/* A candidate hit; @doc is a GRefString shared by the chunks of one document. */
typedef struct {
  float score;
  char *doc;
  guint64 index, start, end;
} Cand;

/* Best first: higher score, then lower doc id, then lower index; NaN scores last. */
static gboolean
cand_better (const Cand * a, const Cand * b)
{
  gboolean an = isnan (a->score), bn = isnan (b->score);
  int c;

  if (an != bn)
    return bn;
  if (!an && a->score != b->score)
    return a->score > b->score;
  c = strcmp (a->doc, b->doc);
  if (c != 0)
    return c < 0;
  return a->index < b->index;
}

static int
cand_cmp (const void *a, const void *b)
{
  return cand_better (a, b) ? -1 : cand_better (b, a) ? 1 : 0;
}

static void
cand_swap (Cand * v, guint i, guint j)
{
  Cand t = v[i];
  v[i] = v[j];
  v[j] = t;
}

/* @heap keeps the @k best candidates with the worst at the root. */
static void
heap_offer (GArray * heap, guint k, const Cand * c)
{
  Cand *v = (Cand *) heap->data;
  guint i, n = heap->len;

  if (n < k) {
    Cand copy = *c;

    copy.doc = g_ref_string_acquire (c->doc);
    g_array_append_val (heap, copy);
    v = (Cand *) heap->data;
    for (i = n; i > 0;) {
      guint p = (i - 1) / 2;
      if (!cand_better (&v[p], &v[i]))
        break;
      cand_swap (v, p, i);
      i = p;
    }
    return;
  }
  if (k == 0 || !cand_better (c, &v[0]))
    return;
  g_ref_string_release (v[0].doc);
  v[0] = *c;
  v[0].doc = g_ref_string_acquire (c->doc);
  for (i = 0;;) {
    guint l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && cand_better (&v[w], &v[l]))
      w = l;
    if (r < n && cand_better (&v[w], &v[r]))
      w = r;
    if (w == i)
      break;
    cand_swap (v, i, w);
    i = w;
  }
}

static void
heap_free (gpointer p)
{
  GArray *heap = p;

  for (guint i = 0; i < heap->len; i++)
    g_ref_string_release (g_array_index (heap, Cand, i).doc);
  g_array_free (heap, TRUE);
}

/* Chunks scored together with one sgemm. */
typedef struct {
  guint cap, n;
  float *emb;       /* [cap * dims] */
  float *norm;      /* [cap] */
  Cand *rows;       /* [cap], score unused */
  float *dot;       /* [n_queries * cap] */
} Block;

static void
block_flush (Block * b, const float *queries, const float *qnorm, guint n_queries, guint dims,
    GPtrArray * heaps, guint k)
{
  if (b->n == 0)
    return;
  te_blas_sgemm (TE_BLAS_NO_TRANS, TE_BLAS_TRANS, (int) n_queries, (int) b->n, (int) dims, 1.0f,
      queries, (int) dims, b->emb, (int) dims, 0.0f, b->dot, (int) b->n);
  for (guint q = 0; q < n_queries && k > 0; q++) {
    GArray *heap = g_ptr_array_index (heaps, q);
    const float *dot = b->dot + (gsize) q * b->n;

    for (guint r = 0; r < b->n; r++) {
      float den = qnorm[q] * b->norm[r];
      float score = den > 0.0f ? dot[r] / den : 0.0f;
      Cand c;

      /* Most chunks lose to the worst kept hit: skip them without building a candidate. */
      if (heap->len == k && score < g_array_index (heap, Cand, 0).score)
        continue;
      c = b->rows[r];
      c.score = score;
      heap_offer (heap, k, &c);
    }
  }
  for (guint r = 0; r < b->n; r++)
    g_ref_string_release (b->rows[r].doc);
  b->n = 0;
}

static float
norm_of (const float *v, guint n)
{
  return sqrtf (te_blas_sdot ((int) n, v, v));
}

/* Final hits of one query, best first, with their text. */
static GArray *
heap_to_hits (TeStore * s, GArray * heap, sqlite3_stmt * text_st, GError ** error)
{
  GArray *hits = g_array_sized_new (FALSE, TRUE, sizeof (TeStoreHit), heap->len);

  g_array_set_clear_func (hits, (GDestroyNotify) te_store_hit_clear);
  if (heap->len > 1)
    qsort (heap->data, heap->len, sizeof (Cand), cand_cmp);
  for (guint i = 0; i < heap->len; i++) {
    const Cand *c = &g_array_index (heap, Cand, i);
    TeStoreHit hit = { 0 };
    int rc;

    hit.doc = g_strdup (c->doc);
    hit.index = c->index;
    hit.start = c->start;
    hit.end = c->end;
    hit.score = c->score;
    if (text_st == NULL) {      /* document vectors: no text */
      g_array_append_val (hits, hit);
      continue;
    }
    sqlite3_bind_text (text_st, 1, c->doc, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (text_st, 2, (gint64) c->index);
    rc = sqlite3_step (text_st);
    if (rc == SQLITE_ROW) {
      if (sqlite3_column_type (text_st, 0) != SQLITE_NULL)
        hit.text = g_strndup ((const char *) sqlite3_column_text (text_st, 0),
            sqlite3_column_bytes (text_st, 0));
    } else {
      STORE_ERROR (s, error, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
          "reading the text of chunk %" G_GUINT64_FORMAT " of document \"%s\"", c->index,
          c->doc);
    }
    reset (text_st);
    g_array_append_val (hits, hit);
    if (rc != SQLITE_ROW) {
      g_array_unref (hits);
      return NULL;
    }
  }
  return hits;
}

static GPtrArray *
store_search (TeStore * s, gboolean documents, const char *model, const float *queries,
    guint n_queries, guint dims, guint k, GError ** error)
{
  GPtrArray *heaps = NULL, *result = NULL;
  sqlite3_stmt *scan = NULL, *text_st = NULL;
  char *meta_model = NULL, *cur_doc = NULL;
  float *qnorm = NULL;
  Block b = { 0 };
  gboolean own_txn = FALSE, ok = FALSE;
  int rc;

  g_return_val_if_fail (s != NULL, NULL);
  g_return_val_if_fail (queries != NULL || n_queries == 0, NULL);
  if (!te_blas_load (error))   /* the scoring sgemm */
    return NULL;
  if (dims == 0 || dims > G_MAXINT / 4 || n_queries > G_MAXINT / dims) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "store %s: search with %u queries of %u dims: out of range", s->path, n_queries, dims);
    return NULL;
  }
  if (model == NULL)
    model = meta_model = te_store_get_meta (s, "model");

  heaps = g_ptr_array_new_with_free_func (heap_free);
  for (guint q = 0; q < n_queries; q++)
    g_ptr_array_add (heaps, g_array_new (FALSE, FALSE, sizeof (Cand)));
  qnorm = g_new (float, MAX (n_queries, 1));
  for (guint q = 0; q < n_queries; q++)
    qnorm[q] = norm_of (queries + (gsize) q * dims, dims);
  /* Bounded scratch: at most 4 Mi dot products per sgemm. */
  b.cap = CLAMP ((4u << 20) / MAX (n_queries, 1), 1, 256);
  b.emb = g_new (float, (gsize) b.cap * dims);
  b.norm = g_new (float, b.cap);
  b.rows = g_new0 (Cand, b.cap);
  b.dot = g_new (float, (gsize) b.cap * MAX (n_queries, 1));

  if (sqlite3_get_autocommit (s->db)) {
    /* One read snapshot for the scan and the text lookups. */
    if (!exec (s, "BEGIN", "beginning a read transaction", error))
      goto out;
    own_txn = TRUE;
  }
  if (documents && s->version < 2) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED, "store %s has schema version %"
        G_GINT64_FORMAT ", without document vectors", s->path, s->version);
    goto out;
  }
  if (documents)
    scan = prepare (s, model ?
        "SELECT d.id, d.chunks, 0, coalesce(d.size, 0), d.embedding, d.dims FROM documents d "
        "WHERE d.status = 'complete' AND d.embedding IS NOT NULL AND d.model = ?1" :
        "SELECT d.id, d.chunks, 0, coalesce(d.size, 0), d.embedding, d.dims FROM documents d "
        "WHERE d.status = 'complete' AND d.embedding IS NOT NULL", FALSE, error);
  else
    scan = prepare (s, model ?
        "SELECT c.doc, c.idx, c.byte_start, c.byte_end, c.embedding, d.dims FROM chunks c "
        "JOIN documents d ON d.id = c.doc WHERE d.status = 'complete' AND d.model = ?1" :
        "SELECT c.doc, c.idx, c.byte_start, c.byte_end, c.embedding, d.dims FROM chunks c "
        "JOIN documents d ON d.id = c.doc WHERE d.status = 'complete'", FALSE, error);
  if (scan == NULL)
    goto out;
  if (model)
    sqlite3_bind_text (scan, 1, model, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (scan)) == SQLITE_ROW) {
    const char *doc = (const char *) sqlite3_column_text (scan, 0);
    const void *blob = sqlite3_column_blob (scan, 4);
    int bytes = sqlite3_column_bytes (scan, 4);
    Cand *row;

    if (doc == NULL)
      doc = "";
    if (bytes != (int) dims * 4 || blob == NULL) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "store %s: %s %" G_GINT64_FORMAT " of document \"%s\" has an embedding of %d "
          "bytes (its document says %" G_GINT64_FORMAT " dims), the query has %u dims (%u "
          "bytes): search with the store's model, or the store is damaged", s->path,
          documents ? "the vector of the" : "chunk",
          documents ? (gint64) 0 : (gint64) sqlite3_column_int64 (scan, 1), doc, bytes,
          (gint64) sqlite3_column_int64 (scan, 5), dims,
          dims * 4);
      goto out;
    }
    if (cur_doc == NULL || strcmp (cur_doc, doc) != 0) {
      g_clear_pointer (&cur_doc, g_ref_string_release);
      cur_doc = g_ref_string_new (doc);
    }
    row = &b.rows[b.n];
    row->doc = g_ref_string_acquire (cur_doc);
    row->index = (guint64) sqlite3_column_int64 (scan, 1);
    row->start = (guint64) sqlite3_column_int64 (scan, 2);
    row->end = (guint64) sqlite3_column_int64 (scan, 3);
    floats_from_le (blob, b.emb + (gsize) b.n * dims, dims);
    b.norm[b.n] = norm_of (b.emb + (gsize) b.n * dims, dims);
    if (++b.n == b.cap)
      block_flush (&b, queries, qnorm, n_queries, dims, heaps, k);
  }
  if (rc != SQLITE_DONE) {
    STORE_ERROR (s, error, rc, "reading the chunks");
    goto out;
  }
  block_flush (&b, queries, qnorm, n_queries, dims, heaps, k);
  g_clear_pointer (&scan, sqlite3_finalize);

  text_st = documents ? NULL : prepare (s, "SELECT text FROM chunks WHERE doc = ?1 AND "
      "idx = ?2", FALSE, error);
  if (text_st == NULL && !documents)
    goto out;
  result = g_ptr_array_new_full (n_queries, (GDestroyNotify) g_array_unref);
  for (guint q = 0; q < n_queries; q++) {
    GArray *hits = heap_to_hits (s, g_ptr_array_index (heaps, q), text_st, error);

    if (hits == NULL)
      goto out;
    g_ptr_array_add (result, hits);
  }
  ok = TRUE;

out:
  for (guint r = 0; r < b.n; r++)
    g_ref_string_release (b.rows[r].doc);
  g_clear_pointer (&cur_doc, g_ref_string_release);
  sqlite3_finalize (scan);
  sqlite3_finalize (text_st);
  if (own_txn)
    sqlite3_exec (s->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
  if (!ok)
    g_clear_pointer (&result, g_ptr_array_unref);
  g_ptr_array_unref (heaps);
  g_free (b.emb);
  g_free (b.norm);
  g_free (b.rows);
  g_free (b.dot);
  g_free (qnorm);
  g_free (meta_model);
  return result;
}

GPtrArray *
te_store_search (TeStore * s, const char *model, const float *queries, guint n_queries,
    guint dims, guint k, GError ** error)
{
  return store_search (s, FALSE, model, queries, n_queries, dims, k, error);
}

GPtrArray *
te_store_search_documents (TeStore * s, const char *model, const float *queries,
    guint n_queries, guint dims, guint k, GError ** error)
{
  return store_search (s, TRUE, model, queries, n_queries, dims, k, error);
}

/* ---- listing ---- */

gboolean
te_store_foreach_meta (TeStore * s, TeStoreMetaFunc func, gpointer user_data, GError ** error)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL && func != NULL, FALSE);
  st = prepare (s, "SELECT key, value FROM meta ORDER BY key", FALSE, error);
  if (st == NULL)
    return FALSE;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    if (!func (column_text_or_null (st, 0), column_text_or_null (st, 1), user_data)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE)
    STORE_ERROR (s, error, rc, "reading meta");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

gboolean
te_store_foreach_doc (TeStore * s, TeStoreDocFunc func, gpointer user_data, GError ** error)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL && func != NULL, FALSE);
  gchar *sql = g_strdup_printf ("SELECT %s FROM documents ORDER BY id", DOC_SELECT (s));
  st = prepare (s, sql, FALSE, error);
  g_free (sql);
  if (st == NULL)
    return FALSE;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    TeStoreDoc doc;

    if (!doc_from_row (s, st, &doc, error)) {
      sqlite3_finalize (st);
      return FALSE;
    }
    if (!func (&doc, user_data)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE)
    STORE_ERROR (s, error, rc, "reading documents");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

gboolean
te_store_foreach_chunk (TeStore * s, const char *doc, TeStoreChunkFunc func,
    gpointer user_data, GError ** error)
{
  sqlite3_stmt *st;
  int rc;

  g_return_val_if_fail (s != NULL && func != NULL, FALSE);
  st = prepare (s, doc ?
      "SELECT " CHUNK_COLUMNS " FROM chunks WHERE doc = ?1 ORDER BY doc, idx" :
      "SELECT " CHUNK_COLUMNS " FROM chunks ORDER BY doc, idx", FALSE, error);
  if (st == NULL)
    return FALSE;
  if (doc)
    sqlite3_bind_text (st, 1, doc, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    TeStoreChunk c = { 0 };
    const char *id = column_text_or_null (st, 0);
    const void *blob = sqlite3_column_blob (st, 8);
    int bytes = sqlite3_column_bytes (st, 8);

    c.index = (guint64) sqlite3_column_int64 (st, 1);
    c.start = (guint64) sqlite3_column_int64 (st, 2);
    c.end = (guint64) sqlite3_column_int64 (st, 3);
    c.pts = column_int_or (st, 4, -1);
    c.duration = column_int_or (st, 5, -1);
    c.n_tokens = (guint) sqlite3_column_int64 (st, 6);
    c.text = column_text_or_null (st, 7);
    c.text_len = c.text ? (gsize) sqlite3_column_bytes (st, 7) : 0;
    if (bytes % 4 != 0 || bytes == 0 || blob == NULL) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "store %s: chunk %" G_GUINT64_FORMAT
          " of document \"%s\" has an embedding of %d bytes, not a whole number of float32",
          s->path, c.index, id ? id : "(null)", bytes);
      sqlite3_finalize (st);
      return FALSE;
    }
    c.dims = (guint) bytes / 4;
    c.embedding = scratch_floats (s, c.dims);
    floats_from_le (blob, s->floats, c.dims);
    if (!func (id, &c, user_data)) {
      rc = SQLITE_DONE;
      break;
    }
  }
  if (rc != SQLITE_DONE)
    STORE_ERROR (s, error, rc, "reading chunks");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

/* ---- merge ---- */

/* Column @i of two rows equal (type and value; NULL equals NULL). */
static gboolean
columns_equal (sqlite3_stmt * a, sqlite3_stmt * b, int i)
{
  int t = sqlite3_column_type (a, i);

  if (t != sqlite3_column_type (b, i))
    return FALSE;
  switch (t) {
    case SQLITE_NULL:
      return TRUE;
    case SQLITE_INTEGER:
      return sqlite3_column_int64 (a, i) == sqlite3_column_int64 (b, i);
    case SQLITE_FLOAT:
      return sqlite3_column_double (a, i) == sqlite3_column_double (b, i);
    default:{
      const void *pa = sqlite3_column_blob (a, i), *pb = sqlite3_column_blob (b, i);
      int na = sqlite3_column_bytes (a, i), nb = sqlite3_column_bytes (b, i);
      return na == nb && (na == 0 || memcmp (pa, pb, na) == 0);
    }
  }
}

/* Which store gave @out the row @sql (one ?1 parameter, @key) that input @i disagrees with:
 * the first earlier input holding it, else @out itself. */
static const char *
origin_of (const char *out_path, const char *const *inputs, guint i, const char *sql,
    const char *key)
{
  for (guint j = 0; j < i; j++) {
    TeStore *in = te_store_open_readonly (inputs[j], NULL);
    sqlite3_stmt *st = in ? prepare (in, sql, FALSE, NULL) : NULL;
    gboolean found = FALSE;

    if (st) {
      sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
      found = sqlite3_step (st) == SQLITE_ROW;
    }
    sqlite3_finalize (st);
    te_store_close (in);
    if (found)
      return inputs[j];
  }
  return out_path;
}

typedef struct {
  TeStore *out;
  const char *out_path;
  const char *const *inputs;
  sqlite3_stmt *find_meta, *ins_meta, *find_doc, *ins_doc, *ins_chunk;
} Merge;

static gboolean
merge_meta (Merge * m, TeStore * in, guint i, GError ** error)
{
  sqlite3_stmt *st = prepare (in, "SELECT key, value FROM meta ORDER BY key", FALSE, error);
  int rc;

  if (st == NULL)
    return FALSE;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
    const char *key = column_text_or_null (st, 0);
    int frc;

    sqlite3_bind_value (m->find_meta, 1, sqlite3_column_value (st, 0));
    frc = sqlite3_step (m->find_meta);
    if (frc == SQLITE_ROW) {
      if (!columns_equal (st, m->find_meta, 1)) {
        const char *where = origin_of (m->out_path, m->inputs, i,
            "SELECT 1 FROM meta WHERE key = ?1", key);
        g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
            "cannot merge %s into %s: meta \"%s\" is \"%s\" in %s but \"%s\" in %s; stores "
            "made with different settings cannot be merged", m->inputs[i], m->out_path, key,
            column_text_or_null (st, 1) ? column_text_or_null (st, 1) : "(null)", m->inputs[i],
            column_text_or_null (m->find_meta, 1) ? column_text_or_null (m->find_meta, 1) :
            "(null)", where);
        reset (m->find_meta);
        sqlite3_finalize (st);
        return FALSE;
      }
      reset (m->find_meta);
      continue;
    }
    reset (m->find_meta);
    if (frc == SQLITE_DONE) {
      sqlite3_bind_value (m->ins_meta, 1, sqlite3_column_value (st, 0));
      sqlite3_bind_value (m->ins_meta, 2, sqlite3_column_value (st, 1));
      frc = sqlite3_step (m->ins_meta);
      reset (m->ins_meta);
    }
    if (frc != SQLITE_DONE) {
      STORE_ERROR (m->out, error, frc, "copying meta \"%s\" from %s", key, m->inputs[i]);
      sqlite3_finalize (st);
      return FALSE;
    }
  }
  if (rc != SQLITE_DONE)
    STORE_ERROR (in, error, rc, "reading meta");
  sqlite3_finalize (st);
  return rc == SQLITE_DONE;
}

static gboolean
merge_chunks (Merge * m, TeStore * in, sqlite3_stmt * chunks, const char *id, guint i,
    GError ** error)
{
  int rc;

  sqlite3_bind_text (chunks, 1, id, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (chunks)) == SQLITE_ROW) {
    int wrc;

    for (int c = 0; c < CHUNK_N_COLUMNS; c++)
      sqlite3_bind_value (m->ins_chunk, c + 1, sqlite3_column_value (chunks, c));
    wrc = sqlite3_step (m->ins_chunk);
    reset (m->ins_chunk);
    if (wrc != SQLITE_DONE) {
      STORE_ERROR (m->out, error, wrc, "copying chunk %" G_GINT64_FORMAT " of document \"%s\" "
          "from %s", (gint64) sqlite3_column_int64 (chunks, 1), id, m->inputs[i]);
      reset (chunks);
      return FALSE;
    }
  }
  if (rc != SQLITE_DONE)
    STORE_ERROR (in, error, rc, "reading the chunks of document \"%s\"", id);
  reset (chunks);
  return rc == SQLITE_DONE;
}

static gboolean
merge_docs (Merge * m, TeStore * in, guint i, GError ** error)
{
  gchar *sql = g_strdup_printf ("SELECT %s FROM documents ORDER BY id", DOC_SELECT (in));
  sqlite3_stmt *docs = prepare (in, sql, FALSE, error);
  g_free (sql);
  sqlite3_stmt *chunks = docs ? prepare (in, "SELECT " CHUNK_COLUMNS " FROM chunks "
      "WHERE doc = ?1 ORDER BY idx", FALSE, error) : NULL;
  gboolean ok = FALSE;
  int rc = SQLITE_ERROR;

  if (chunks == NULL)
    goto out;
  while ((rc = sqlite3_step (docs)) == SQLITE_ROW) {
    const char *id = column_text_or_null (docs, 0);
    int frc;

    if (id == NULL)
      continue;         /* the PRIMARY KEY of a WITHOUT ROWID table is NOT NULL */
    sqlite3_bind_text (m->find_doc, 1, id, -1, SQLITE_STATIC);
    frc = sqlite3_step (m->find_doc);
    if (frc == SQLITE_ROW) {
      for (int c = 0; c < DOC_N_COLUMNS; c++) {
        if (!columns_equal (docs, m->find_doc, c)) {
          const char *where = origin_of (m->out_path, m->inputs, i,
              "SELECT 1 FROM documents WHERE id = ?1", id);
          g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
              "cannot merge %s into %s: document \"%s\" is in both %s and %s with different "
              "rows (its %s differs); each document must come from one shard, or be "
              "identical", m->inputs[i], m->out_path, id, m->inputs[i], where,
              sqlite3_column_name (docs, c));
          reset (m->find_doc);
          goto out;
        }
      }
      reset (m->find_doc);
      continue;
    }
    reset (m->find_doc);
    if (frc != SQLITE_DONE) {
      STORE_ERROR (m->out, error, frc, "looking up document \"%s\"", id);
      goto out;
    }
    for (int c = 0; c < DOC_N_COLUMNS; c++)
      sqlite3_bind_value (m->ins_doc, c + 1, sqlite3_column_value (docs, c));
    frc = sqlite3_step (m->ins_doc);
    reset (m->ins_doc);
    if (frc != SQLITE_DONE) {
      STORE_ERROR (m->out, error, frc, "copying document \"%s\" from %s", id, m->inputs[i]);
      goto out;
    }
    if (!merge_chunks (m, in, chunks, id, i, error))
      goto out;
  }
  if (rc != SQLITE_DONE) {
    STORE_ERROR (in, error, rc, "reading documents");
    goto out;
  }
  ok = TRUE;

out:
  sqlite3_finalize (docs);
  sqlite3_finalize (chunks);
  return ok;
}

static void
remove_store_files (const char *path)
{
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    char *p = g_strconcat (path, suffixes[i], NULL);
    g_unlink (p);
    g_free (p);
  }
}

gboolean
te_store_merge (const char *out_path, const char *const *inputs, guint n_inputs,
    GError ** error)
{
  Merge m = { 0 };
  gboolean existed, ok = FALSE;

  g_return_val_if_fail (out_path != NULL && (inputs != NULL || n_inputs == 0), FALSE);
  existed = g_file_test (out_path, G_FILE_TEST_EXISTS);
  m.out_path = out_path;
  m.inputs = inputs;
  m.out = te_store_open (out_path, error);
  if (m.out == NULL)
    goto out;
  if (!exec (m.out, "BEGIN IMMEDIATE", "beginning the merge", error))
    goto out;
  m.find_meta = prepare (m.out, "SELECT key, value FROM meta WHERE key = ?1", FALSE, error);
  m.ins_meta = m.find_meta ? prepare (m.out, "INSERT INTO meta (key, value) VALUES (?1, ?2)",
      FALSE, error) : NULL;
  m.find_doc = m.ins_meta ? prepare (m.out, "SELECT " DOC_COLUMNS " FROM documents "
      "WHERE id = ?1", FALSE, error) : NULL;
  m.ins_doc = m.find_doc ? prepare (m.out, "INSERT INTO documents (" DOC_COLUMNS ") VALUES "
      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", FALSE, error) : NULL;
  m.ins_chunk = m.ins_doc ? prepare (m.out, "INSERT INTO chunks (" CHUNK_COLUMNS ") VALUES "
      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", FALSE, error) : NULL;
  if (m.ins_chunk == NULL)
    goto out;

  for (guint i = 0; i < n_inputs; i++) {
    TeStore *in = te_store_open_readonly (inputs[i], error);
    gboolean in_ok;

    if (in == NULL) {
      g_prefix_error (error, "cannot merge into %s: ", out_path);
      goto out;
    }
    /* One read snapshot of the input. */
    in_ok = exec (in, "BEGIN", "beginning a read transaction", error)
        && merge_meta (&m, in, i, error) && merge_docs (&m, in, i, error);
    te_store_close (in);
    if (!in_ok)
      goto out;
  }
  ok = exec (m.out, "COMMIT", "committing the merge", error);

out:
  sqlite3_finalize (m.find_meta);
  sqlite3_finalize (m.ins_meta);
  sqlite3_finalize (m.find_doc);
  sqlite3_finalize (m.ins_doc);
  sqlite3_finalize (m.ins_chunk);
  /* te_store_close() rolls back what is still open. */
  te_store_close (m.out);
  if (!ok && !existed)
    remove_store_files (out_path);
  return ok;
}
