/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-embedder.c — the tools' embedding path: tokenizer → padded batch → backend → pooling. */
#include "te-embedder.h"

#include "te-pooling.h"

#include <string.h>

struct _TeEmbedder {
  const TeModel *model;
  const TeTokenizer *tok;
  TeBackend *backend;
  TeBackendCaps caps;
  TePoolMode pooling;
  gboolean normalize;
  gboolean truncate;
  guint pool_skip;
  int batch_size;
  int max_length;
  int model_max_length;  /* the sentence config's, for the error message */
  int hidden;
  int dims;                     /* floats per embedding (<= hidden) */
  float *pooled;                /* [hidden] scratch of te_embedder_pool() */
  TeEncoding plain;      /* scratch for truncation */
};

void
te_embedder_options_init (TeEmbedderOptions * opts, const TeModel * model)
{
  const TeSentenceConfig *sc = te_model_sentence_config (model);

  opts->backend = "cpu";
  opts->backend_options = NULL;
  opts->pooling = sc->pooling;
  opts->normalize = sc->normalize;
  opts->batch_size = 8;
  opts->max_length = sc->max_seq_length;
  opts->truncate = FALSE;
  opts->pool_skip = 0;
  opts->dims = 0;
}

TeEmbedder *
te_embedder_new (const TeModel * model, const TeEmbedderOptions * opts, GError ** error)
{
  TeEmbedder *e;

  g_return_val_if_fail (model != NULL && opts != NULL, NULL);
  if (opts->batch_size < 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "batch size %d: must be at least 1",
        opts->batch_size);
    return NULL;
  }
  if (opts->max_length < 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "max length %d: must be at least 1",
        opts->max_length);
    return NULL;
  }
  if (opts->dims < 0 || opts->dims > te_model_config (model)->hidden_size) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "%d dimensions asked, but the model %s "
        "gives %d", opts->dims, te_model_dir (model), te_model_config (model)->hidden_size);
    return NULL;
  }
  e = g_new0 (TeEmbedder, 1);
  e->model = model;
  e->tok = te_model_tokenizer (model);
  e->backend = te_backend_new (opts->backend ? opts->backend : "cpu", model,
      opts->backend_options, error);
  if (e->backend == NULL) {
    g_free (e);
    return NULL;
  }
  te_backend_get_caps (e->backend, &e->caps);
  e->pooling = opts->pooling;
  e->normalize = opts->normalize;
  e->truncate = opts->truncate;
  e->pool_skip = opts->pool_skip;
  e->batch_size = opts->batch_size;
  e->model_max_length = te_model_sentence_config (model)->max_seq_length;
  e->max_length = opts->max_length;
  if (e->truncate && e->caps.max_seq_len > 0)
    e->max_length = MIN (e->max_length, e->caps.max_seq_len);
  e->hidden = te_model_config (model)->hidden_size;
  e->dims = opts->dims > 0 ? opts->dims : e->hidden;
  e->pooled = g_new (float, e->hidden);
  te_encoding_init (&e->plain);
  return e;
}

void
te_embedder_free (TeEmbedder * e)
{
  if (e == NULL)
    return;
  te_backend_free (e->backend);
  te_encoding_clear (&e->plain);
  g_free (e->pooled);
  g_free (e);
}

int
te_embedder_dims (const TeEmbedder * e)
{
  return e->dims;
}

int
te_embedder_max_length (const TeEmbedder * e)
{
  return e->max_length;
}

TeBackend *
te_embedder_backend (const TeEmbedder * e)
{
  return e->backend;
}

/* Longer than max_length: cut as sentence-transformers does (truncation of the text's tokens,
 * the special tokens kept), to the longest prefix ending at a token boundary that encodes to
 * at most max_length tokens (re-encoding a prefix can merge or split tokens at its end). */
static gboolean
encode_truncated (TeEmbedder * e, const char *text, gsize len, TeEncoding * enc,
    GError ** error)
{
  guint special = te_tokenizer_num_special_tokens (e->tok);
  gint64 keep;

  if (!te_tokenizer_encode (e->tok, text, len, FALSE, &e->plain, error))
    return FALSE;
  keep = MIN ((gint64) e->max_length - special, (gint64) e->plain.n);
  while (keep > 0) {
    if (!te_tokenizer_encode (e->tok, text, e->plain.ends[keep - 1], TRUE, enc, error))
      return FALSE;
    if ((int) enc->n <= e->max_length)
      return TRUE;
    keep -= MAX ((gint64) enc->n - e->max_length, 1);
  }
  g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG, "cannot truncate the text to %d tokens",
      e->max_length);
  return FALSE;
}

gboolean
te_embedder_encode (TeEmbedder * e, const char *text, gsize len, TeEncoding * enc,
    gboolean * truncated, GError ** error)
{
  if (truncated)
    *truncated = FALSE;
  if (!te_tokenizer_encode (e->tok, text, len, TRUE, enc, error))
    return FALSE;
  if ((int) enc->n <= e->max_length)
    return TRUE;
  if (!e->truncate) {
    g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG, "text is %u tokens long (special tokens "
        "included), more than the %s of %d tokens; split it first", enc->n,
        e->max_length == e->model_max_length ? "model's max_seq_length" : "maximum length",
        e->max_length);
    return FALSE;
  }
  if (!encode_truncated (e, text, len, enc, error))
    return FALSE;
  if (truncated)
    *truncated = TRUE;
  return TRUE;
}

gboolean
te_embedder_encode_ids (TeEmbedder * e, const gint32 * ids, guint n, TeEncoding * enc,
    GError ** error)
{
  int vocab = te_model_config (e->model)->vocab_size;

  if (n == 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "no token ids");
    return FALSE;
  }
  if (n > (guint) e->max_length) {
    g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG, "%u token ids, more than the %s of %d "
        "tokens", n, e->max_length == e->model_max_length ? "model's max_seq_length" :
        "maximum length", e->max_length);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "token id %d (position %u) outside the vocabulary (0..%d)", ids[i], i, vocab - 1);
      return FALSE;
    }
  }
  te_encoding_clear (enc);
  enc->ids = g_memdup2 (ids, n * sizeof (gint32));
  enc->type_ids = g_new0 (gint32, n);
  enc->starts = g_new0 (guint32, n);
  enc->ends = g_new0 (guint32, n);
  enc->special = g_new0 (guint8, n);
  enc->n = enc->capacity = n;
  return TRUE;
}

TeBatch *
te_embedder_make_batch (TeEmbedder * e, const TeEncoding * encs, int n, GError ** error)
{
  TeBatch *batch;
  guint longest = 0;
  int seq;

  for (int i = 0; i < n; i++)
    longest = MAX (longest, encs[i].n);
  seq = te_backend_caps_seq_len (&e->caps, (int) longest);
  if (seq < 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG,
        "%u tokens is more than the %s backend accepts", longest,
        te_backend_name (e->backend));
    return NULL;
  }
  batch = te_batch_new (n, seq, e->hidden, te_tokenizer_pad_id (e->tok));
  for (int i = 0; i < n; i++)
    te_batch_set_row (batch, i, encs[i].ids, encs[i].type_ids, (int) encs[i].n);
  return batch;
}

void
te_embedder_pool (const TeEmbedder * e, const TeBatch * batch, float *out)
{
  for (int r = 0; r < batch->batch; r++) {
    float *v = e->pooled;

    /* te_batch_set_row() puts the real tokens first in the row. */
    int skip = (int) MIN (e->pool_skip, (guint) batch->lengths[r]);
    if (skip < batch->lengths[r])
      te_pool (batch->hidden + ((gsize) r * batch->seq_len + skip) * e->hidden,
          batch->lengths[r] - skip, e->hidden, e->pooling, v);
    else
      memset (v, 0, sizeof (float) * e->hidden);  /* nothing but the prompt: a zero mean */
    /* the first dims values (all of them unless truncated), then the normalisation */
    memcpy (out + (gsize) r * e->dims, v, sizeof (float) * e->dims);
    if (e->normalize)
      te_l2_normalize (out + (gsize) r * e->dims, e->dims);
  }
}

gboolean
te_embedder_embed (TeEmbedder * e, const char *const *texts, const gsize * lens, guint n,
    float *out, gboolean * truncated, guint * failed, GError ** error)
{
  int cap = (int) MIN ((guint) e->batch_size, MAX (n, 1));
  TeEncoding *encs = g_new (TeEncoding, cap);
  gboolean ok = FALSE;
  guint done = 0;

  for (int i = 0; i < cap; i++)
    te_encoding_init (&encs[i]);
  while (done < n) {
    int m = (int) MIN ((guint) cap, n - done);
    TeBatch *batch;

    for (int i = 0; i < m; i++) {
      const char *t = texts[done + i];

      if (!te_embedder_encode (e, t, lens ? lens[done + i] : strlen (t), &encs[i],
              truncated ? &truncated[done + i] : NULL, error)) {
        if (failed)
          *failed = done + i;
        goto out;
      }
    }
    batch = te_embedder_make_batch (e, encs, m, error);
    if (batch == NULL || !te_backend_run (e->backend, batch, error)) {
      if (batch)
        te_batch_free (batch);
      if (failed)
        *failed = n;
      goto out;
    }
    te_embedder_pool (e, batch, out + (gsize) done * e->dims);
    te_batch_free (batch);
    done += m;
  }
  ok = TRUE;

out:
  for (int i = 0; i < cap; i++)
    te_encoding_clear (&encs[i]);
  g_free (encs);
  return ok;
}
