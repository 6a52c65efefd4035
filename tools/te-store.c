/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-store.c — command-line view of embedding stores (core/te-store.h): info (counts, sizes,
 * meta), merge of shards, and a canonical text dump that two stores can be compared with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>

#include "te-store.h"

static const char usage[] =
    "usage: te-store info STORE\n"
    "       te-store merge OUT IN...\n"
    "       te-store dump STORE\n"
    "\n"
    "info   schema version, meta, documents by status, chunks, tokens, file size and bytes\n"
    "       per 1000 chunks.\n"
    "merge  copies every document and its chunks from the IN stores into OUT (created if\n"
    "       missing) in one transaction. A document id in several stores must have identical\n"
    "       rows, and meta keys must agree; otherwise nothing is written and the error names\n"
    "       the id (or key) and both stores.\n"
    "dump   everything in the store as sorted, deterministic text (meta by key, documents by\n"
    "       id, chunks by document and index, embeddings as the stored little-endian hex), so\n"
    "       that `cmp` tells whether two stores hold the same.\n"
    "\n"
    "Exit status: 0 on success, 1 on an error (printed on stderr), 2 on a usage error.\n";

/* ---- info ---- */

static gboolean
print_meta (const char *key, const char *value, gpointer user_data)
{
  printf ("  %s = %s\n", key, value ? value : "(null)");
  return TRUE;
}

static gint64
file_size (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? (gint64) st.st_size : 0;
}

static int
cmd_info (const char *path)
{
  GError *error = NULL;
  TeStore *store = te_store_open_readonly (path, &error);
  TeStoreCounts c;
  char *wal = g_strconcat (path, "-wal", NULL);
  gint64 size, wal_size;
  int ret = 1;

  if (store == NULL || !te_store_counts (store, &c, &error))
    goto out;
  size = file_size (path);
  wal_size = file_size (wal);
  printf ("store:              %s\n", path);
  printf ("schema version:     %d\n", TE_STORE_SCHEMA_VERSION);
  printf ("documents:          %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " complete, %"
      G_GUINT64_FORMAT " skipped, %" G_GUINT64_FORMAT " deleted)\n", c.documents, c.complete,
      c.skipped, c.deleted);
  printf ("chunks:             %" G_GUINT64_FORMAT "\n", c.chunks);
  printf ("tokens:             %" G_GUINT64_FORMAT "\n", c.tokens);
  printf ("file size:          %" G_GINT64_FORMAT " bytes", size);
  if (wal_size > 0)
    printf (" (+ %" G_GINT64_FORMAT " bytes of WAL not yet checkpointed)", wal_size);
  printf ("\n");
  if (c.chunks > 0)
    printf ("bytes/1000 chunks:  %.0f\n", 1000.0 * (double) (size + wal_size) / c.chunks);
  printf ("meta:\n");
  if (!te_store_foreach_meta (store, print_meta, NULL, &error))
    goto out;
  if (fflush (stdout) != 0) {
    fprintf (stderr, "te-store: error writing stdout\n");
    goto out;
  }
  ret = 0;

out:
  if (error)
    fprintf (stderr, "te-store: %s\n", error->message);
  g_clear_error (&error);
  te_store_close (store);
  g_free (wal);
  return ret;
}

/* ---- dump ---- */

/* A string as a C-escaped quoted literal (bytes >= 0x7f in octal), NULL as NULL. */
static void
put_str (GString * line, const char *s, gssize len)
{
  char *copy, *esc;

  if (s == NULL) {
    g_string_append (line, "NULL");
    return;
  }
  copy = len < 0 ? g_strdup (s) : g_strndup (s, len);
  esc = g_strescape (copy, NULL);
  g_string_append_c (line, '"');
  g_string_append (line, esc);
  g_string_append_c (line, '"');
  g_free (esc);
  g_free (copy);
}

static void
put_int (GString * line, gint64 v, gboolean null)
{
  if (null)
    g_string_append (line, "NULL");
  else
    g_string_append_printf (line, "%" G_GINT64_FORMAT, v);
}

static void
emit (GString * line)
{
  g_string_append_c (line, '\n');
  fwrite (line->str, 1, line->len, stdout);
  g_string_truncate (line, 0);
}

static gboolean
dump_meta (const char *key, const char *value, gpointer user_data)
{
  GString *line = user_data;

  g_string_append (line, "meta ");
  put_str (line, key, -1);
  g_string_append_c (line, ' ');
  put_str (line, value, -1);
  emit (line);
  return TRUE;
}

static gboolean
dump_doc (const TeStoreDoc * d, gpointer user_data)
{
  GString *line = user_data;

  g_string_append (line, "doc ");
  put_str (line, d->id, -1);
  g_string_append (line, " path=");
  put_str (line, d->path, -1);
  g_string_append (line, " size=");
  put_int (line, d->size, d->size < 0);
  g_string_append (line, " mtime=");
  put_int (line, d->mtime, d->mtime == -1);
  g_string_append (line, " hash=");
  put_str (line, d->hash, -1);
  g_string_append (line, " model=");
  put_str (line, d->model, -1);
  g_string_append_printf (line, " dims=%u prompt=", d->dims);
  put_str (line, d->prompt, -1);
  g_string_append_printf (line, " status=%s reason=", te_doc_status_to_string (d->status));
  put_str (line, d->reason, -1);
  g_string_append_printf (line, " chunks=%" G_GUINT64_FORMAT " tokens=%" G_GUINT64_FORMAT,
      d->n_chunks, d->n_tokens);
  /* the document vector, as stored (little-endian float32), or NULL */
  g_string_append (line, " embedding=");
  if (!d->embedding)
    g_string_append (line, "NULL");
  for (guint i = 0; d->embedding && i < d->dims; i++) {
    guint32 u;

    memcpy (&u, &d->embedding[i], 4);
    g_string_append_printf (line, "%02x%02x%02x%02x", u & 0xff, (u >> 8) & 0xff,
        (u >> 16) & 0xff, u >> 24);
  }
  emit (line);
  return TRUE;
}

static gboolean
dump_chunk (const char *doc, const TeStoreChunk * c, gpointer user_data)
{
  GString *line = user_data;

  g_string_append (line, "chunk ");
  put_str (line, doc, -1);
  g_string_append_printf (line, " index=%" G_GUINT64_FORMAT " start=%" G_GUINT64_FORMAT
      " end=%" G_GUINT64_FORMAT " pts=", c->index, c->start, c->end);
  put_int (line, c->pts, c->pts < 0);
  g_string_append (line, " duration=");
  put_int (line, c->duration, c->duration < 0);
  g_string_append_printf (line, " tokens=%u dims=%u text=", c->n_tokens, c->dims);
  put_str (line, c->text, (gssize) c->text_len);
  g_string_append (line, " embedding=");
  /* The stored bytes: little-endian float32. */
  for (guint i = 0; i < c->dims; i++) {
    guint32 u;

    memcpy (&u, &c->embedding[i], 4);
    g_string_append_printf (line, "%02x%02x%02x%02x", u & 0xff, (u >> 8) & 0xff,
        (u >> 16) & 0xff, u >> 24);
  }
  emit (line);
  return TRUE;
}

static int
cmd_dump (const char *path)
{
  GError *error = NULL;
  TeStore *store = te_store_open_readonly (path, &error);
  GString *line = g_string_new (NULL);
  int ret = 1;

  if (store == NULL)
    goto out;
  printf ("te-store dump, schema version %d\n", TE_STORE_SCHEMA_VERSION);
  if (!te_store_foreach_meta (store, dump_meta, line, &error)
      || !te_store_foreach_doc (store, dump_doc, line, &error)
      || !te_store_foreach_chunk (store, NULL, dump_chunk, line, &error))
    goto out;
  if (fflush (stdout) != 0 || ferror (stdout)) {
    fprintf (stderr, "te-store: error writing stdout\n");
    goto out;
  }
  ret = 0;

out:
  if (error)
    fprintf (stderr, "te-store: %s\n", error->message);
  g_clear_error (&error);
  g_string_free (line, TRUE);
  te_store_close (store);
  return ret;
}

/* ---- merge ---- */

static int
cmd_merge (const char *out, const char *const *inputs, guint n)
{
  GError *error = NULL;

  if (!te_store_merge (out, inputs, n, &error)) {
    fprintf (stderr, "te-store: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0)) {
    fputs (usage, stdout);
    return 0;
  }
  if (argc == 3 && strcmp (argv[1], "info") == 0)
    return cmd_info (argv[2]);
  if (argc == 3 && strcmp (argv[1], "dump") == 0)
    return cmd_dump (argv[2]);
  if (argc >= 4 && strcmp (argv[1], "merge") == 0)
    return cmd_merge (argv[2], (const char *const *) argv + 3, (guint) argc - 3);
  fputs (usage, stderr);
  return 2;
}
