/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-embedder.c — te_embedder against sentence-transformers: the texts of
 * tests/data/reference_embeddings.json at batch sizes 1, 3 and 8 give the stored vectors
 * (cosine >= 0.9999) and the same vectors whatever the batch; max_length, truncation and the
 * failing index. Needs the real model (TE_TEST_MODEL) and TE_TEST_DATA. */
#include <math.h>
#include <string.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "te-embedder.h"

#define MIN_COSINE 0.9999

static TeModel *model;
static guint n_ref;
static char **ref_texts;
static int *ref_tokens;
static double *ref_vectors;   /* [n_ref * dims] */
static int dims;

static void
load_reference (const char *path)
{
  JsonParser *parser = json_parser_new ();
  GError *err = NULL;
  JsonArray *items;

  json_parser_load_from_file (parser, path, &err);
  g_assert_no_error (err);
  items = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
      "items");
  n_ref = json_array_get_length (items);
  g_assert_cmpuint (n_ref, >=, 24);
  ref_texts = g_new0 (char *, n_ref + 1);
  ref_tokens = g_new (int, n_ref);
  ref_vectors = g_new (double, (gsize) n_ref * dims);
  for (guint i = 0; i < n_ref; i++) {
    JsonObject *it = json_array_get_object_element (items, i);
    JsonArray *v = json_object_get_array_member (it, "embedding");

    ref_texts[i] = g_strdup (json_object_get_string_member (it, "text"));
    ref_tokens[i] = (int) json_object_get_int_member (it, "n_tokens");
    g_assert_cmpuint (json_array_get_length (v), ==, (guint) dims);
    for (int j = 0; j < dims; j++)
      ref_vectors[(gsize) i * dims + j] = json_array_get_double_element (v, j);
  }
  g_object_unref (parser);
}

static double
cosine (const float *a, const double *b, int n)
{
  double ab = 0, aa = 0, bb = 0;

  for (int j = 0; j < n; j++) {
    ab += a[j] * b[j];
    aa += (double) a[j] * a[j];
    bb += b[j] * b[j];
  }
  return ab / (sqrt (aa) * sqrt (bb));
}

static float *
embed_all (int batch)
{
  TeEmbedderOptions opts;
  TeEmbedder *e;
  GError *err = NULL;
  float *out = g_new (float, (gsize) n_ref * dims);
  gboolean *truncated = g_new (gboolean, n_ref);

  te_embedder_options_init (&opts, model);
  opts.batch_size = batch;
  e = te_embedder_new (model, &opts, &err);
  g_assert_no_error (err);
  g_assert_cmpint (te_embedder_dims (e), ==, dims);
  g_assert_true (te_embedder_embed (e, (const char *const *) ref_texts, NULL, n_ref, out,
          truncated, NULL, &err));
  g_assert_no_error (err);
  for (guint i = 0; i < n_ref; i++)
    g_assert_false (truncated[i]);
  te_embedder_free (e);
  g_free (truncated);
  return out;
}

static void
test_reference (void)
{
  const int batches[] = { 1, 3, 8 };
  float *first = NULL;

  for (guint b = 0; b < G_N_ELEMENTS (batches); b++) {
    float *got = embed_all (batches[b]);
    double worst = 1.0;

    for (guint i = 0; i < n_ref; i++) {
      double c = cosine (got + (gsize) i * dims, ref_vectors + (gsize) i * dims, dims);

      if (c < MIN_COSINE)
        g_error ("batch %d, text %u (\"%.40s\"): cosine %.9f < %g", batches[b], i,
            ref_texts[i], c, MIN_COSINE);
      worst = MIN (worst, c);
    }
    g_test_message ("batch %d: min cosine %.9f over %u texts", batches[b], worst, n_ref);
    if (first == NULL) {
      first = got;
      continue;
    }
    /* Padding to a longer batch must not change a text's vector beyond float rounding. */
    for (gsize k = 0; k < (gsize) n_ref * dims; k++)
      g_assert_cmpfloat_with_epsilon (got[k], first[k], 1e-5);
    g_free (got);
  }
  g_free (first);
}

static void
test_token_counts (void)
{
  TeEmbedderOptions opts;
  TeEmbedder *e;
  TeEncoding enc;
  GError *err = NULL;

  te_embedder_options_init (&opts, model);
  e = te_embedder_new (model, &opts, &err);
  g_assert_no_error (err);
  te_encoding_init (&enc);
  for (guint i = 0; i < n_ref; i++) {
    g_assert_true (te_embedder_encode (e, ref_texts[i], strlen (ref_texts[i]), &enc, NULL,
            &err));
    g_assert_cmpint ((int) enc.n, ==, ref_tokens[i]);
  }
  te_encoding_clear (&enc);
  te_embedder_free (e);
}

/* The longest reference text against a max_length below its length: an error naming the
 * text's index without truncation; with it, a prefix of at most max_length tokens. */
static void
test_max_length (void)
{
  TeEmbedderOptions opts;
  TeEmbedder *e;
  TeEncoding enc;
  GError *err = NULL;
  guint longest = 0, failed = G_MAXUINT;
  float *out = g_new (float, (gsize) n_ref * dims);
  gboolean *truncated = g_new (gboolean, n_ref);

  for (guint i = 1; i < n_ref; i++)
    if (ref_tokens[i] > ref_tokens[longest])
      longest = i;
  g_assert_cmpint (ref_tokens[longest], >, 40);

  te_embedder_options_init (&opts, model);
  opts.max_length = 40;
  opts.batch_size = 4;
  e = te_embedder_new (model, &opts, &err);
  g_assert_no_error (err);
  g_assert_false (te_embedder_embed (e, (const char *const *) ref_texts, NULL, n_ref, out,
          NULL, &failed, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_TOO_LONG);
  g_clear_error (&err);
  for (guint i = 0; i < n_ref; i++)
    if (ref_tokens[i] > 40) {
      g_assert_cmpuint (failed, ==, i);
      break;
    }
  te_embedder_free (e);

  opts.truncate = TRUE;
  e = te_embedder_new (model, &opts, &err);
  g_assert_no_error (err);
  g_assert_cmpint (te_embedder_max_length (e), ==, 40);
  g_assert_true (te_embedder_embed (e, (const char *const *) ref_texts, NULL, n_ref, out,
          truncated, &failed, &err));
  g_assert_no_error (err);
  for (guint i = 0; i < n_ref; i++)
    g_assert_cmpint (truncated[i], ==, ref_tokens[i] > 40);
  te_encoding_init (&enc);
  g_assert_true (te_embedder_encode (e, ref_texts[longest], strlen (ref_texts[longest]), &enc,
          NULL, &err));
  g_assert_cmpuint (enc.n, <=, 40);
  g_assert_cmpuint (enc.n, >=, 30);
  te_encoding_clear (&enc);
  te_embedder_free (e);
  g_free (out);
  g_free (truncated);
}

int
main (int argc, char **argv)
{
  const char *dir = g_getenv ("TE_TEST_MODEL"), *data = g_getenv ("TE_TEST_DATA");
  GError *err = NULL;
  char *path;
  int ret;

  g_test_init (&argc, &argv, NULL);
  if (dir == NULL || data == NULL) {
    g_printerr ("TE_TEST_MODEL and TE_TEST_DATA must be set\n");
    return 1;
  }
  model = te_model_load (dir, &err);
  g_assert_no_error (err);
  dims = te_model_config (model)->hidden_size;
  path = g_build_filename (data, "reference_embeddings.json", NULL);
  load_reference (path);
  g_free (path);

  g_test_add_func ("/embedder/reference", test_reference);
  g_test_add_func ("/embedder/token-counts", test_token_counts);
  g_test_add_func ("/embedder/max-length", test_max_length);
  ret = g_test_run ();
  g_strfreev (ref_texts);
  g_free (ref_tokens);
  g_free (ref_vectors);
  te_model_free (model);
  return ret;
}
