/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-store.h — the SQLite embedding store: one row per document, one per chunk with its
 * embedding, written one document per transaction so that a killed writer leaves only whole
 * documents. Schema and guarantees: docs/store.md. Plain C over libsqlite3 (no GStreamer). */
#pragma once

#include <glib.h>
#include "te-common.h"

G_BEGIN_DECLS

/* PRAGMA user_version of the stores this code writes. Opening a store of another version is an
 * error that names both versions. */
#define TE_STORE_SCHEMA_VERSION 2
/* Version 1 (no document vectors) is upgraded in place when opened for writing, and read as it
 * is when opened read-only. */

typedef enum {
  TE_DOC_COMPLETE,   /* every chunk embedded and committed */
  TE_DOC_SKIPPED,    /* reported and not embedded (unreadable, empty, binary, invalid UTF-8) */
  TE_DOC_DELETED,    /* was in the store, no longer in the corpus; its chunks are gone */
} TeDocStatus;

/* "complete", "skipped", "deleted"; te_doc_status_from_string() returns FALSE for others. */
const char *te_doc_status_to_string (TeDocStatus status);
gboolean te_doc_status_from_string (const char *s, TeDocStatus * status);

/* A document row. Strings may be NULL (stored as NULL); sizes and times -1 when unknown. */
typedef struct {
  const char *id;        /* stable document id (relative path, corpus "_id", ...); required */
  const char *path;      /* file it came from, if any */
  gint64 size;           /* bytes of the document's text as read */
  gint64 mtime;          /* modification time of the file, seconds since the epoch */
  const char *hash;      /* content hash, "sha256:<64 hex>" of the bytes read */
  const char *model;     /* identity of the embedding (model content, backend, pooling, dims) */
  guint dims;            /* embedding dimension (0 for skipped/deleted documents) */
  const char *prompt;    /* prompt prepended to every chunk before embedding, NULL = none */
  TeDocStatus status;
  const char *reason;    /* why skipped, NULL otherwise */
  guint64 n_chunks;
  guint64 n_tokens;      /* sum of the chunks' tokens (special tokens included) */
  const float *embedding;  /* the document vector (embedpooler document-vectors): dims floats,
                            * stored as a little-endian BLOB; NULL = none (and for documents
                            * that are not complete) */
} TeStoreDoc;

/* A chunk row. */
typedef struct {
  guint64 index;          /* within the document, from 0 */
  guint64 start, end;     /* byte range [start, end) in the document as read */
  gint64 pts, duration;   /* nanoseconds, -1 = none */
  guint n_tokens;
  const char *text;       /* chunk text (text_len bytes, UTF-8) or NULL: not stored */
  gsize text_len;
  const float *embedding; /* dims float32, stored as a little-endian BLOB of dims * 4 bytes */
  guint dims;
} TeStoreChunk;

typedef struct _TeStore TeStore;

/* Open (creating it and its schema if missing) the store at @path for reading and writing.
 * WAL journal, synchronous=NORMAL: a killed process loses at most the document in progress;
 * every committed document survives. Errors (not a SQLite file, wrong schema version, cannot
 * create) name the path. A TeStore is not thread-safe: callers serialise access. */
TeStore *te_store_open (const char *path, GError ** error);
/* Open an existing store read-only (te-search, te-store info). */
TeStore *te_store_open_readonly (const char *path, GError ** error);
/* Close; a document begun and not committed is rolled back. */
void te_store_close (TeStore * store);
const char *te_store_path (const TeStore * store);

/* Store-wide settings in the meta table (key/value text): "model" (identity of the last run's
 * embeddings), "model_dir" (directory te-search loads to embed queries), "dims", "pooling",
 * "normalized", "query_prompt". NULL value deletes the key. Each call is its own transaction
 * (not allowed while a document is open). */
gboolean te_store_set_meta (TeStore * store, const char *key, const char *value,
    GError ** error);
/* Newly allocated value, or NULL when the key is absent. */
char *te_store_get_meta (TeStore * store, const char *key);

/* ---- writing, one document per transaction ---- */

/* Begin a document: opens the transaction and deletes any chunks the store holds for @id (a
 * re-embedded document replaces its old rows when it commits). Error if a document is already
 * open. */
gboolean te_store_doc_begin (TeStore * store, const char *id, GError ** error);
/* Add a chunk to the open document. Error if no document is open. Any error (a full disk, a
 * repeated index, dims differing from the document's first chunk, text that is not UTF-8) rolls
 * the whole document back: the store keeps its previous state, and the caller begins again. */
gboolean te_store_doc_add_chunk (TeStore * store, const TeStoreChunk * chunk, GError ** error);
/* Write @doc's row (insert or replace; doc->id must equal the begun id) and commit. On error the
 * transaction is rolled back and the store holds the document's previous state. A complete
 * @doc must describe the chunks added: n_chunks of them, indexes 0..n_chunks-1, each of doc->dims
 * floats, n_tokens their sum; any other status must have had no chunk added. */
gboolean te_store_doc_commit (TeStore * store, const TeStoreDoc * doc, GError ** error);
/* Roll the open document back (no-op when none is open). */
void te_store_doc_abort (TeStore * store);
/* Write a document row with no chunks in its own transaction (skipped documents); deletes any
 * chunks the store held for it. @doc must not be complete and must have n_chunks 0. */
gboolean te_store_put_doc (TeStore * store, const TeStoreDoc * doc, GError ** error);

/* ---- resume ---- */

/* TRUE when the store holds @id as complete with exactly @hash and @model (the document need
 * not be read again). */
gboolean te_store_doc_is_current (TeStore * store, const char *id, const char *hash,
    const char *model);
/* Remember that @id is part of the current corpus listing (kept in a TEMP table, so memory does
 * not grow with the corpus). Documents committed or put in this session count as seen. */
gboolean te_store_mark_seen (TeStore * store, const char *id, GError ** error);
/* After a complete corpus listing: every document not seen in this session and not already
 * deleted becomes TE_DOC_DELETED (its chunks are removed; its chunks, tokens and dims become 0,
 * its reason NULL), in one transaction. @n_deleted gets how many. Seen marks given while a
 * document was open survive that document's rollback. */
gboolean te_store_mark_unseen_deleted (TeStore * store, guint64 * n_deleted, GError ** error);

/* ---- reading ---- */

typedef struct {
  guint64 documents;      /* rows of any status */
  guint64 complete, skipped, deleted;
  guint64 chunks;
  guint64 tokens;         /* sum over complete documents */
} TeStoreCounts;

gboolean te_store_counts (TeStore * store, TeStoreCounts * counts, GError ** error);

/* Look a document up; FALSE when absent. Strings and the embedding in @doc are newly
 * allocated: free them with te_store_doc_clear(). te_store_foreach_doc()'s rows point into the
 * store (valid during the call only). */
gboolean te_store_get_doc (TeStore * store, const char *id, TeStoreDoc * doc, GError ** error);
void te_store_doc_clear (TeStoreDoc * doc);

/* One search hit: a chunk of a complete document. */
typedef struct {
  char *doc;
  guint64 index, start, end;
  float score;            /* cosine similarity with the query */
  char *text;             /* NULL when the store has no text for it */
} TeStoreHit;

void te_store_hit_clear (TeStoreHit * hit);

/* Brute-force cosine search: one pass over the chunks of complete documents whose model equals
 * @model (NULL: the store's "model" meta; when that is absent too, every complete document),
 * keeping the @k best chunks for each of the @n_queries
 * query vectors (@dims floats each, @queries row-major). @hits receives n_queries arrays of up to
 * @k hits, best first (ties: lower doc id, then lower index), as a GPtrArray of GArray of
 * TeStoreHit. Memory: the hits only; the embeddings are streamed. A zero query or chunk vector
 * scores 0. An embedding that is not @dims floats is an error naming the document and chunk. */
GPtrArray *te_store_search (TeStore * store, const char *model, const float *queries,
    guint n_queries, guint dims, guint k, GError ** error);

/* te_store_search() over the document vectors instead of the chunks: documents without one are
 * left out; a hit's index is the document's chunk count, its byte range [0, size), its text
 * NULL. A version-1 store (read-only) is TE_ERROR_UNSUPPORTED. */
GPtrArray *te_store_search_documents (TeStore * store, const char *model, const float *queries,
    guint n_queries, guint dims, guint k, GError ** error);

/* ---- listing (te-store info, dump) ---- */

/* Callbacks return FALSE to stop the iteration early (not an error). */
typedef gboolean (*TeStoreMetaFunc) (const char *key, const char *value, gpointer user_data);
typedef gboolean (*TeStoreDocFunc) (const TeStoreDoc * doc, gpointer user_data);
/* @chunk->embedding is in host byte order, valid during the call only. */
typedef gboolean (*TeStoreChunkFunc) (const char *doc, const TeStoreChunk * chunk,
    gpointer user_data);

/* Every meta key in bytewise order of key. */
gboolean te_store_foreach_meta (TeStore * store, TeStoreMetaFunc func, gpointer user_data,
    GError ** error);
/* Every document row, any status, in bytewise order of id. */
gboolean te_store_foreach_doc (TeStore * store, TeStoreDocFunc func, gpointer user_data,
    GError ** error);
/* Every chunk of @doc (NULL: of every document) in order of (document id, index). */
gboolean te_store_foreach_chunk (TeStore * store, const char *doc, TeStoreChunkFunc func,
    gpointer user_data, GError ** error);

/* ---- shards ---- */

/* Merge the stores @inputs into @out (created if missing). Every document row and its chunks are
 * copied as they are. A document id present in several inputs (or already in @out) must be
 * identical everywhere, else it is an error naming the id and both stores; meta keys must agree
 * too. One transaction: on error @out is unchanged (and not left behind if this call created
 * it). "Identical" compares the document rows (every column); the chunks of a document already
 * in @out are kept, not compared. Any number of inputs (each is read on its own connection). */
gboolean te_store_merge (const char *out, const char *const *inputs, guint n_inputs,
    GError ** error);

/* ---- for tests ---- */

/* PRAGMA max_page_count: makes writes beyond @max_pages pages fail with SQLITE_FULL, as a full
 * disk would. SQLite never lowers it below the current size. */
void te_store_set_max_pages (TeStore * store, guint max_pages);

G_END_DECLS
