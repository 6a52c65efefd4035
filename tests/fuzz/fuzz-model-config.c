/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-model-config.c — libFuzzer target: a model directory whose JSON files come from the
 * input, split at NUL bytes: config.json, modules.json, sentence_bert_config.json,
 * 1_Pooling/config.json (a missing part: no such file). tokenizer.json and model.safetensors are
 * those of the tiny generated BERT model in $TE_FUZZ_MODEL_DIR (tools/fuzz-seeds.py), so a
 * config that matches it loads weights too. te_model_load() must fail with an error naming a
 * file, or give a model whose numbers are inside the bounds the loader promises. */
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "fuzz-common.h"
#include "te-model.h"

static const char *const parts[] = {
  "config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
};
static char *dir;
static char *paths[G_N_ELEMENTS (parts)];

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  const char *fixture = g_getenv ("TE_FUZZ_MODEL_DIR");
  static const char *const linked[] = { "tokenizer.json", "model.safetensors" };

  fuzz_init ();
  if (fixture == NULL || *fixture == '\0')
    fuzz_fail (__FILE__, __LINE__, "TE_FUZZ_MODEL_DIR", "not set: point it at the tiny model "
        "tools/fuzz-seeds.py generates");
  dir = g_build_filename (fuzz_scratch_dir (), "model", NULL);
  g_mkdir_with_parents (dir, 0700);
  for (guint i = 0; i < G_N_ELEMENTS (linked); i++) {
    char *src = g_build_filename (fixture, linked[i], NULL);
    char *dst = g_build_filename (dir, linked[i], NULL);
    if (!g_file_test (src, G_FILE_TEST_IS_REGULAR) || symlink (src, dst) != 0)
      fuzz_fail (__FILE__, __LINE__, "fixture", "cannot link %s", src);
    g_free (src);
    g_free (dst);
  }
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    paths[i] = g_build_filename (dir, parts[i], NULL);
    char *parent = g_path_get_dirname (paths[i]);
    g_mkdir_with_parents (parent, 0700);
    g_free (parent);
  }
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  const uint8_t *p = data, *end = data + size;
  GError *err = NULL;
  TeModel *m;

  gboolean more = TRUE;          /* a part starts at p (config.json always: maybe empty) */
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    if (!more) {
      g_unlink (paths[i]);
      continue;
    }
    const uint8_t *nul = memchr (p, 0, end - p);
    const uint8_t *stop = nul ? nul : end;
    fuzz_write_file (paths[i], p, stop - p);
    more = nul != NULL;
    p = nul ? nul + 1 : end;
  }

  m = te_model_load (dir, &err);
  if (m == NULL) {
    FUZZ_CHECK (err != NULL && err->domain == TE_ERROR && strstr (err->message, dir) != NULL,
        "load failed without a TE_ERROR naming a file of the model: %s",
        err ? err->message : "(none)");
    g_error_free (err);
    return 0;
  }
  const TeBertConfig *c = te_model_config (m);
  const TeSentenceConfig *s = te_model_sentence_config (m);
  FUZZ_CHECK (c->vocab_size > 0 && c->hidden_size > 0 && c->num_layers > 0 && c->num_heads > 0
      && c->hidden_size % c->num_heads == 0 && c->intermediate_size > 0
      && c->max_position_embeddings > 0 && c->type_vocab_size > 0, "config out of bounds");
  FUZZ_CHECK (c->layer_norm_eps > 0.0f && c->layer_norm_eps < 1.0f, "eps %g", c->layer_norm_eps);
  FUZZ_CHECK (s->max_seq_length > 0 && s->max_seq_length <= c->max_position_embeddings,
      "max_seq_length %d, max_position_embeddings %d", s->max_seq_length,
      c->max_position_embeddings);
  FUZZ_CHECK (s->pooling == TE_POOL_MEAN || s->pooling == TE_POOL_CLS
      || s->pooling == TE_POOL_MAX, "pooling %d", s->pooling);
  FUZZ_CHECK (te_tokenizer_vocab_size (te_model_tokenizer (m)) <= (guint) c->vocab_size,
      "vocabulary larger than vocab_size");
  const TeBertWeights *w = te_model_weights (m);
  FUZZ_CHECK (w != NULL && w->word_emb != NULL && w->layers != NULL
      && w->layers[c->num_layers - 1].ln2_b != NULL, "weights missing");
  FUZZ_CHECK (te_model_weights_size (m) > 0, "no weight bytes");
  te_model_free (m);
  return 0;
}
