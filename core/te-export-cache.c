/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-export-cache.c — find and verify the graphs tools/te-export.py exported for a model.
 * Layout: <cache>/<model hash[:16]>/<target>-<dtype>-<batch>x<seq>/{manifest.json, files}. */
#include "te-export-cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "te-json.h"

#define MANIFEST_MAX_BYTES (1 << 20)
#define MANIFEST_MAX_DEPTH 16

void
te_export_entry_free (TeExportEntry * entry)
{
  if (entry == NULL)
    return;
  g_free (entry->dtype);
  g_free (entry->target);
  g_free (entry->dir);
  g_free (entry->artifact);
  g_free (entry);
}

/* SHA-256 (hex) of a whole file, read in blocks: a mapping would add the whole file to the
 * process's resident set while it is hashed (the weights are already in memory as fp32). */
static char *
sha256_file (const char *path, gint64 * size, GError ** error)
{
  FILE *f = fopen (path, "rb");
  if (!f) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "cannot open %s: %s", path,
        g_strerror (e));
    return NULL;
  }
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  guchar *block = g_malloc (1 << 20);
  gint64 total = 0;
  size_t n;
  while ((n = fread (block, 1, 1 << 20, f)) > 0) {
    g_checksum_update (sum, block, n);
    total += n;
  }
  gboolean failed = ferror (f);
  int e = errno;
  fclose (f);
  g_free (block);
  if (failed) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "cannot read %s: %s", path,
        g_strerror (e));
    g_checksum_free (sum);
    return NULL;
  }
  char *hex = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  if (size)
    *size = total;
  return hex;
}

char *
te_export_model_hash (const char *model_dir, GError ** error)
{
  static const char *const files[] = { "config.json", "tokenizer.json", "model.safetensors" };
  GString *text = g_string_new (NULL);
  char *hex = NULL;

  g_return_val_if_fail (model_dir != NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    char *path = g_build_filename (model_dir, files[i], NULL);
    char *h = sha256_file (path, NULL, error);

    g_free (path);
    if (h == NULL)
      goto out;
    g_string_append_printf (text, "%s:%s\n", files[i], h);
    g_free (h);
  }
  hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text->str, text->len);

out:
  g_string_free (text, TRUE);
  return hex;
}

char *
te_export_cache_dir (const char *cache_dir)
{
  /* g_get_user_cache_dir() is $XDG_CACHE_HOME, else ~/.cache: the exporter's rule. */
  if (cache_dir != NULL && cache_dir[0] != '\0')
    return g_strdup (cache_dir);
  return g_build_filename (g_get_user_cache_dir (), "textembed", NULL);
}

char *
te_export_command (const char *model_dir, const char *cache_dir, const char *dtype)
{
  char *qm = g_shell_quote (model_dir), *qc = g_shell_quote (cache_dir);
  char *cmd = g_strdup_printf (".venv/bin/python tools/te-export.py --model %s "
      "--cache-dir %s --dtypes %s", qm, qc, dtype);

  g_free (qm);
  g_free (qc);
  return cmd;
}

/* "<target>-<dtype>-<B>x<S>" -> B, S when target and dtype match. */
static gboolean
parse_entry_name (const char *name, const char *target, const char *dtype, int *batch,
    int *seq)
{
  char *prefix = g_strdup_printf ("%s-%s-", target, dtype);
  const char *p;
  char *end;
  gint64 b, s;
  gboolean ok = FALSE;

  if (!g_str_has_prefix (name, prefix))
    goto out;
  p = name + strlen (prefix);
  if (!g_ascii_isdigit (*p))
    goto out;
  errno = 0;
  b = g_ascii_strtoll (p, &end, 10);
  if (errno || *end != 'x' || !g_ascii_isdigit (end[1]))
    goto out;
  s = g_ascii_strtoll (end + 1, &end, 10);
  if (errno || *end != '\0' || b < 1 || b > 65536 || s < 1 || s > 65536)
    goto out;
  *batch = (int) b;
  *seq = (int) s;
  ok = TRUE;
out:
  g_free (prefix);
  return ok;
}

/* Read @dir/manifest.json and check it against what the directory name says; with @verify,
 * check every listed file's size and SHA-256. */
static TeExportEntry *
load_entry (const char *dir, const char *model_hash, const char *target, const char *dtype,
    int batch, int seq, gboolean verify, GError ** error)
{
  char *path = g_build_filename (dir, "manifest.json", NULL);
  char *text = NULL;
  gsize len = 0;
  JsonParser *parser = NULL;
  JsonObject *root, *key, *files;
  const char *artifact, *s;
  gint64 b, q;
  TeExportEntry *e = NULL;
  GError *err = NULL;
  const char *problem = NULL;

  if (!g_file_get_contents (path, &text, &len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "%s: %s", path, err->message);
    g_clear_error (&err);
    goto out;
  }
  if (len > MANIFEST_MAX_BYTES || !te_json_nesting_ok (text, len, MANIFEST_MAX_DEPTH)) {
    problem = "too large or too deeply nested";
    goto bad;
  }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, (gssize) len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: %s", path, err->message);
    g_clear_error (&err);
    goto out;
  }
  root = JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))
      ? json_node_get_object (json_parser_get_root (parser)) : NULL;
  key = te_json_object (root, "key");
  files = te_json_object (root, "files");
  artifact = te_json_string (root, "artifact");
  if (key == NULL || files == NULL || artifact == NULL) {
    problem = "no key, files or artifact";
    goto bad;
  }
  if (!(s = te_json_string (key, "model_sha256")) || strcmp (s, model_hash) != 0) {
    problem = "it is for another model";
    goto bad;
  }
  if (!(s = te_json_string (key, "target")) || strcmp (s, target) != 0
      || !(s = te_json_string (key, "dtype")) || strcmp (s, dtype) != 0
      || !te_json_int (key, "batch", &b) || b != batch
      || !te_json_int (key, "seq_len", &q) || q != seq) {
    problem = "its key disagrees with its directory name";
    goto bad;
  }
  if ((s = te_json_string (key, "input_dtype")) == NULL || strcmp (s, "int32") != 0) {
    problem = "its inputs are not int32";
    goto bad;
  }
  if (strchr (artifact, '/') != NULL || strcmp (artifact, "..") == 0
      || !json_object_has_member (files, artifact)) {
    problem = "its artifact is not one of its files";
    goto bad;
  }
  if (verify) {
    GList *names = json_object_get_members (files);

    for (GList * l = names; l != NULL && problem == NULL; l = l->next) {
      const char *name = l->data;
      JsonObject *f = te_json_object (files, name);
      const char *want = te_json_string (f, "sha256");
      char *fpath, *have;
      gint64 want_size, have_size = -1;

      if (strchr (name, '/') != NULL || want == NULL || !te_json_int (f, "size", &want_size)) {
        problem = "a file entry is malformed";
        break;
      }
      fpath = g_build_filename (dir, name, NULL);
      have = sha256_file (fpath, &have_size, NULL);
      if (have == NULL)
        problem = "a file is missing";
      else if (have_size != want_size)
        problem = "a file has another size than recorded (truncated?)";
      else if (g_ascii_strcasecmp (have, want) != 0)
        problem = "a file does not match its recorded SHA-256";
      g_free (have);
      g_free (fpath);
    }
    g_list_free (names);
    if (problem)
      goto bad;
  }

  e = g_new0 (TeExportEntry, 1);
  e->batch = batch;
  e->seq_len = seq;
  e->dtype = g_strdup (dtype);
  e->target = g_strdup (target);
  e->dir = g_strdup (dir);
  e->artifact = g_build_filename (dir, artifact, NULL);
  goto out;

bad:
  g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "export cache entry %s is not usable: %s",
      dir, problem);
out:
  if (parser)
    g_object_unref (parser);
  g_free (text);
  g_free (path);
  return e;
}

static gint
compare_entries (gconstpointer a, gconstpointer b)
{
  const TeExportEntry *x = *(TeExportEntry * const *) a, *y = *(TeExportEntry * const *) b;

  if (x->seq_len != y->seq_len)
    return x->seq_len < y->seq_len ? -1 : 1;
  return x->batch < y->batch ? -1 : x->batch > y->batch;
}

GPtrArray *
te_export_cache_find (const char *cache_dir, const char *model_hash, const char *target,
    const char *dtype, gboolean verify, GError ** error)
{
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) te_export_entry_free);
  char *short_hash, *model_dir;
  GDir *d;
  const char *name;

  g_return_val_if_fail (cache_dir && model_hash && target && dtype, NULL);

  short_hash = g_strndup (model_hash, 16);
  model_dir = g_build_filename (cache_dir, short_hash, NULL);
  g_free (short_hash);
  d = g_dir_open (model_dir, 0, NULL);
  if (d == NULL) {
    g_free (model_dir);
    return entries;   /* nothing exported for this model */
  }
  while ((name = g_dir_read_name (d)) != NULL) {
    int batch, seq;
    char *dir;
    TeExportEntry *e;

    /* Hidden names are the exporter's temporary directories. */
    if (name[0] == '.' || !parse_entry_name (name, target, dtype, &batch, &seq))
      continue;
    dir = g_build_filename (model_dir, name, NULL);
    e = load_entry (dir, model_hash, target, dtype, batch, seq, verify, error);
    g_free (dir);
    if (e == NULL) {
      g_ptr_array_free (entries, TRUE);
      entries = NULL;
      break;
    }
    g_ptr_array_add (entries, e);
  }
  g_dir_close (d);
  g_free (model_dir);
  if (entries)
    g_ptr_array_sort (entries, compare_entries);
  return entries;
}
