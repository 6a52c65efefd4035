/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-backend-static.c — a backend running the exporter's static-shape graphs ("openvino", or
 * "onnx" on its CPU execution provider; TE_TEST_BACKEND names it) against the "cpu" backend on
 * the test model
 * (TE_TEST_MODEL): the texts of tests/data/reference_embeddings.json in batches of mixed
 * lengths (two buckets, a padded chunk), pooled and compared by cosine (fp32 >= 0.9999, fp16
 * >= 0.999); caps from the exported shapes; and the errors for a missing or corrupt export.
 * The graphs are exported first with tools/te-export.py (TE_TEST_EXPORT_PYTHON, TE_TEST_EXPORTER,
 * into TE_TEST_EXPORT_CACHE); a machine without them reports "skipped: <what is missing>". */
#include <math.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "te-backend.h"
#include "te-export-cache.h"
#include "te-model.h"
#include "te-pooling.h"

#define SHAPES "4x128,1x256"
#define BATCH 4

static TeModel *model;
static const TeBackendClass *klass;   /* the backend under test */
static const char *kernel_prefix;     /* what its caps.kernel starts with for fp32 */
static const char *corrupt_needle;    /* its error for a graph file that is not ONNX */
static char *cache_dir;
static char *skip_reason;     /* set when the export could not be made here */
static GPtrArray *texts;      /* char * */

/* Export fp32 and fp16 graphs for SHAPES into cache_dir (a cache hit after the first run). */
static void
export_graphs (void)
{
  const char *python = g_getenv ("TE_TEST_EXPORT_PYTHON");
  const char *exporter = g_getenv ("TE_TEST_EXPORTER");
  const char *argv[] = { python, exporter, "--model", te_model_dir (model), "--cache-dir",
    cache_dir, "--shapes", SHAPES, "--dtypes", "fp32,fp16", NULL
  };
  char *out = NULL, *err = NULL;
  GError *error = NULL;
  int status = 0;

  if (python == NULL || !g_file_test (python, G_FILE_TEST_IS_EXECUTABLE)) {
    skip_reason = g_strdup ("skipped: no Python to export the graphs with (.venv/bin/python; "
        "run tools/setup.sh)");
    return;
  }
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
          &status, &error))
    g_error ("spawning %s: %s", exporter, error->message);
  if (!g_spawn_check_wait_status (status, NULL)) {
    if (strstr (err, "No module named") != NULL)
      skip_reason = g_strdup_printf ("skipped: the exporter's Python packages are missing "
          "(run tools/setup.sh): %s", err);
    else
      g_error ("%s failed:\n%s%s", exporter, out, err);
  }
  g_test_message ("te-export: %s", out);
  g_free (out);
  g_free (err);
}

static void
load_texts (void)
{
  char *path = g_build_filename (g_getenv ("TE_TEST_DATA"), "reference_embeddings.json", NULL);
  JsonParser *p = json_parser_new ();
  GError *error = NULL;
  JsonArray *items;

  if (!json_parser_load_from_file (p, path, &error))
    g_error ("%s: %s", path, error->message);
  items = json_object_get_array_member (json_node_get_object (json_parser_get_root (p)),
      "items");
  texts = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (items); i++)
    g_ptr_array_add (texts, g_strdup (json_object_get_string_member (json_array_get_object_element
                (items, i), "text")));
  g_object_unref (p);
  g_free (path);
}

static gpointer
open_backend (const TeBackendClass * k, const char *dtype, const char *dir, GError ** error)
{
  GHashTable *opts = g_hash_table_new (g_str_hash, g_str_equal);
  gpointer state;

  if (dtype)
    g_hash_table_insert (opts, (gpointer) "dtype", (gpointer) dtype);
  if (dir)
    g_hash_table_insert (opts, (gpointer) "cache-dir", (gpointer) dir);
  state = k->open (model, opts, error);
  g_hash_table_unref (opts);
  return state;
}

static void
record_done (TeBatch * batch, const GError * error, gpointer user_data)
{
  g_assert_no_error (error);
  (*(int *) user_data)++;
}

/* Batch of texts[first .. first + n), padded as @caps says. */
static TeBatch *
make_batch (const TeBackendCaps * caps, guint first, guint n)
{
  const TeTokenizer *tok = te_model_tokenizer (model);
  TeEncoding *encs = g_new (TeEncoding, n);
  guint longest = 0;
  TeBatch *batch;
  int seq;

  for (guint i = 0; i < n; i++) {
    const char *t = g_ptr_array_index (texts, first + i);
    GError *error = NULL;

    te_encoding_init (&encs[i]);
    g_assert_true (te_tokenizer_encode (tok, t, strlen (t), TRUE, &encs[i], &error));
    g_assert_no_error (error);
    longest = MAX (longest, encs[i].n);
  }
  seq = te_backend_caps_seq_len (caps, (int) longest);
  g_assert_cmpint (seq, >, 0);
  batch = te_batch_new ((int) n, seq, te_model_config (model)->hidden_size,
      te_tokenizer_pad_id (tok));
  for (guint i = 0; i < n; i++) {
    te_batch_set_row (batch, (int) i, encs[i].ids, encs[i].type_ids, (int) encs[i].n);
    te_encoding_clear (&encs[i]);
  }
  g_free (encs);
  return batch;
}

static double
run (const TeBackendClass * k, gpointer state, TeBatch * batch)
{
  GError *error = NULL;
  int calls = 0;
  gint64 t0 = g_get_monotonic_time ();

  g_assert_true (k->submit (state, batch, record_done, &calls, &error));
  g_assert_no_error (error);
  g_assert_cmpint (calls, ==, 1);
  return (g_get_monotonic_time () - t0) / 1e6;
}

static void
pooled (const TeBatch * b, int row, float *out)
{
  const TeSentenceConfig *sc = te_model_sentence_config (model);
  int h = b->hidden_size;

  te_pool (b->hidden + (gsize) row * b->seq_len * h, b->lengths[row], h, sc->pooling, out);
  te_l2_normalize (out, h);
}

static void
compare_with_cpu (const char *dtype, double min_cosine)
{
  const TeBackendClass *ov_class = klass;
  const TeBackendClass *cpu_class = &te_backend_cpu_class;
  int h = te_model_config (model)->hidden_size;
  gpointer ov, cpu;
  TeBackendCaps ov_caps = { 0 }, cpu_caps = { 0 };
  GError *error = NULL;
  float *a = g_new (float, h), *b = g_new (float, h);
  double worst = 1.0, t_ov = 0.0, t_cpu = 0.0;
  guint64 tokens = 0;
  gboolean saw_long = FALSE;

  if (skip_reason) {
    g_test_skip (skip_reason);
    goto out;
  }
  ov = open_backend (ov_class, dtype, cache_dir, &error);
  g_assert_no_error (error);
  cpu = open_backend (cpu_class, NULL, NULL, &error);
  g_assert_no_error (error);
  ov_class->get_caps (ov, &ov_caps);
  cpu_class->get_caps (cpu, &cpu_caps);

  for (guint first = 0; first < texts->len; first += BATCH) {
    guint n = MIN (BATCH, texts->len - first);
    TeBatch *x = make_batch (&ov_caps, first, n), *y = make_batch (&cpu_caps, first, n);

    saw_long |= x->seq_len == 256;
    run (ov_class, ov, x);      /* warm-up (OpenVINO compiles lazily on some devices) */
    t_ov += run (ov_class, ov, x);
    run (cpu_class, cpu, y);
    t_cpu += run (cpu_class, cpu, y);
    for (int r = 0; r < x->batch; r++) {
      double dot = 0.0, na = 0.0, nb = 0.0, cosine;

      tokens += (guint64) x->lengths[r];
      pooled (x, r, a);
      pooled (y, r, b);
      for (int j = 0; j < h; j++) {
        dot += (double) a[j] * b[j];
        na += (double) a[j] * a[j];
        nb += (double) b[j] * b[j];
      }
      cosine = dot / sqrt (na * nb);
      if (cosine < min_cosine)
        g_test_message ("%s: text %u: cosine %.7f", dtype, first + r, cosine);
      worst = MIN (worst, cosine);
      /* Padded positions are zeros, as the cpu backend writes them. */
      for (int s = x->lengths[r]; s < x->seq_len; s++)
        for (int j = 0; j < h; j++)
          g_assert_cmpfloat (x->hidden[((gsize) r * x->seq_len + s) * h + j], ==, 0.0f);
    }
    te_batch_free (x);
    te_batch_free (y);
  }
  g_assert_true (saw_long);     /* the 191-token text went to the 256 bucket */
  g_test_message ("%s: min cosine vs cpu %.7f (1 - min %.1e) over %u texts (threshold %g); "
      "encoder %s %.0f tokens/s, cpu %.0f tokens/s (batches of %d, padded to the "
      "buckets for %s, to the longest row for cpu)", dtype, worst, 1.0 - worst,
      texts->len, min_cosine, klass->name, tokens / t_ov, tokens / t_cpu, BATCH, klass->name);
  g_assert_cmpfloat (worst, >=, min_cosine);

  ov_class->close (ov);
  cpu_class->close (cpu);
out:
  g_free (a);
  g_free (b);
}

static void
test_fp32 (void)
{
  compare_with_cpu ("fp32", 0.9999);
}

static void
test_fp16 (void)
{
  compare_with_cpu ("fp16", 0.999);
}

static void
test_caps (void)
{
  const TeBackendClass *k = klass;
  TeBackendCaps caps = { 0 };
  GError *error = NULL;
  gpointer ov;

  if (skip_reason) {
    g_test_skip (skip_reason);
    return;
  }
  ov = open_backend (k, "fp32", cache_dir, &error);
  g_assert_no_error (error);
  k->get_caps (ov, &caps);
  g_assert_cmpint (caps.n_buckets, ==, 2);
  g_assert_cmpint (caps.buckets[0], ==, 128);
  g_assert_cmpint (caps.buckets[1], ==, 256);
  g_assert_cmpint (caps.max_batch, ==, 4);
  g_assert_cmpint (caps.max_seq_len, ==, 256);
  if (!g_str_has_prefix (caps.kernel, kernel_prefix) || !strstr (caps.kernel, "fp32"))
    g_error ("kernel \"%s\" is not \"%s... fp32\"", caps.kernel, kernel_prefix);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 3), ==, 128);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 129), ==, 256);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 257), ==, -1);
  k->close (ov);
}

/* A batch longer than every bucket, and out-of-vocabulary ids, are errors, not crashes. */
static void
test_bad_batches (void)
{
  const TeBackendClass *k = klass;
  int h = te_model_config (model)->hidden_size, calls = 0;
  GError *error = NULL;
  gint32 ids[3] = { 101, 7592, 102 };
  TeBatch *b;
  gpointer ov;

  if (skip_reason) {
    g_test_skip (skip_reason);
    return;
  }
  ov = open_backend (k, "fp32", cache_dir, &error);
  g_assert_no_error (error);

  b = te_batch_new (1, 300, h, 0);
  g_assert_false (k->submit (ov, b, record_done, &calls, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_TOO_LONG);
  g_clear_error (&error);
  te_batch_free (b);

  b = te_batch_new (2, 128, h, 0);
  te_batch_set_row (b, 0, ids, NULL, 3);
  ids[1] = te_model_config (model)->vocab_size;
  te_batch_set_row (b, 1, ids, NULL, 3);
  g_assert_false (k->submit (ov, b, record_done, &calls, &error));
  g_assert_error (error, TE_ERROR, TE_ERROR_INVALID);
  g_clear_error (&error);
  te_batch_free (b);

  /* Empty batch: completes with nothing to do. */
  b = te_batch_new (0, 128, h, 0);
  g_assert_true (k->submit (ov, b, record_done, &calls, &error));
  g_assert_no_error (error);
  te_batch_free (b);
  g_assert_cmpint (calls, ==, 1);
  k->close (ov);
}

/* The model hash is the exporter's: the exported entries are found under it. */
static void
test_model_hash (void)
{
  GError *error = NULL;
  char *hash = te_export_model_hash (te_model_dir (model), &error);
  GPtrArray *entries;

  g_assert_no_error (error);
  g_assert_cmpuint (strlen (hash), ==, 64);
  if (skip_reason) {
    g_free (hash);
    g_test_skip (skip_reason);
    return;
  }
  entries = te_export_cache_find (cache_dir, hash, "onnx", "fp32", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpint (((TeExportEntry *) g_ptr_array_index (entries, 0))->seq_len, ==, 128);
  g_assert_cmpint (((TeExportEntry *) g_ptr_array_index (entries, 0))->batch, ==, 4);
  g_ptr_array_free (entries, TRUE);
  g_free (hash);
}

/* Nothing exported: the error names the exporter command. */
static void
test_missing_export (void)
{
  char *empty = g_dir_make_tmp ("te-static-empty-XXXXXX", NULL);
  GError *error = NULL;
  gpointer ov;

  ov = open_backend (klass, "fp32", empty, &error);
  g_assert_null (ov);
  g_assert_error (error, TE_ERROR, TE_ERROR_BACKEND);
  g_assert_nonnull (strstr (error->message, "tools/te-export.py"));
  g_assert_nonnull (strstr (error->message, empty));
  g_clear_error (&error);

  ov = open_backend (klass, "int4", empty, &error);
  g_assert_null (ov);
  g_assert_error (error, TE_ERROR, TE_ERROR_BACKEND);
  g_clear_error (&error);
  g_rmdir (empty);
  g_free (empty);
}

/* A hand-made entry whose file does not match its manifest (truncated) is refused, naming it;
 * one that matches but is not ONNX fails to compile with OpenVINO's message. */
static void
test_corrupt_entry (void)
{
  char *tmp = g_dir_make_tmp ("te-static-corrupt-XXXXXX", NULL);
  GError *error = NULL;
  char *hash = te_export_model_hash (te_model_dir (model), &error);
  char *short_hash = g_strndup (hash, 16);
  char *dir = g_build_filename (tmp, short_hash, "onnx-fp32-1x128", NULL);
  char *onnx = g_build_filename (dir, "model.onnx", NULL);
  char *manifest = g_build_filename (dir, "manifest.json", NULL);
  const char *junk = "not an onnx model";
  char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, junk, -1);
  char *text;
  gpointer ov;

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (onnx, junk, -1, NULL));
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: the recorded size is larger (a truncated file); pass 1: it all matches. */
    text = g_strdup_printf ("{\"key\": {\"model_sha256\": \"%s\", \"target\": \"onnx\", "
        "\"dtype\": \"fp32\", \"batch\": 1, \"seq_len\": 128, \"input_dtype\": \"int32\"}, "
        "\"artifact\": \"model.onnx\", \"files\": {\"model.onnx\": {\"sha256\": \"%s\", "
        "\"size\": %d}}}", hash, sum, (int) strlen (junk) + (pass == 0 ? 100 : 0));
    g_assert_true (g_file_set_contents (manifest, text, -1, NULL));
    g_free (text);
    ov = open_backend (klass, "fp32", tmp, &error);
    g_assert_null (ov);
    g_assert_error (error, TE_ERROR, TE_ERROR_BACKEND);
    if (pass == 0) {
      g_assert_nonnull (strstr (error->message, "not usable"));
      g_assert_nonnull (strstr (error->message, "tools/te-export.py"));
    } else {
      g_assert_nonnull (strstr (error->message, corrupt_needle));
    }
    g_test_message ("pass %d: %s", pass, error->message);
    g_clear_error (&error);
  }
  g_remove (manifest);
  g_remove (onnx);
  g_rmdir (dir);
  text = g_build_filename (tmp, short_hash, NULL);
  g_rmdir (text);
  g_free (text);
  g_rmdir (tmp);
  g_free (sum);
  g_free (manifest);
  g_free (onnx);
  g_free (dir);
  g_free (short_hash);
  g_free (hash);
  g_free (tmp);
}

int
main (int argc, char **argv)
{
  const char *dir = g_getenv ("TE_TEST_MODEL");
  GError *error = NULL;
  int ret;

  const char *name = g_getenv ("TE_TEST_BACKEND");
  static const struct {
    const char *name;
    GTestFunc func;
  } tests[] = {
    {"model-hash", test_model_hash}, {"caps", test_caps}, {"fp32-vs-cpu", test_fp32},
    {"fp16-vs-cpu", test_fp16}, {"bad-batches", test_bad_batches},
    {"missing-export", test_missing_export}, {"corrupt-entry", test_corrupt_entry},
  };
  char *path;

  g_test_init (&argc, &argv, NULL);
  if (dir == NULL || g_getenv ("TE_TEST_DATA") == NULL || name == NULL) {
    g_printerr ("TE_TEST_MODEL, TE_TEST_DATA and TE_TEST_BACKEND must be set\n");
    return 1;
  }
  klass = te_backend_class_lookup (name);
  if (klass == NULL) {
    g_printerr ("backend %s is not in this build (%s)\n", name, te_backend_class_names ());
    return 1;
  }
  kernel_prefix = strcmp (name, "onnx") == 0 ? "onnxruntime " : "openvino CPU";
  corrupt_needle = strcmp (name, "onnx") == 0 ? "loading" : "compiling";
  model = te_model_load (dir, &error);
  g_assert_no_error (error);
  cache_dir = te_export_cache_dir (g_getenv ("TE_TEST_EXPORT_CACHE"));
  load_texts ();
  export_graphs ();

  for (guint i = 0; i < G_N_ELEMENTS (tests); i++) {
    path = g_strdup_printf ("/%s/%s", name, tests[i].name);
    g_test_add_func (path, tests[i].func);
    g_free (path);
  }
  ret = g_test_run ();

  g_ptr_array_free (texts, TRUE);
  g_free (skip_reason);
  g_free (cache_dir);
  te_model_free (model);
  return ret;
}
