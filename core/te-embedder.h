/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-embedder.h — texts to sentence embeddings without GStreamer: tokenize, batch, pad to the
 * backend's length, run the encoder, pool, normalise. The tools' one embedding path. */
#pragma once

#include <glib.h>
#include "te-common.h"
#include "te-model.h"
#include "te-backend.h"
#include "te-tokenizer.h"

G_BEGIN_DECLS

typedef struct _TeEmbedder TeEmbedder;

typedef struct {
  const char *backend;         /* backend class name; NULL = "cpu" */
  GHashTable *backend_options; /* key=value strings for the backend (may be NULL) */
  TePoolMode pooling;
  gboolean normalize;          /* L2-normalise each embedding */
  int batch_size;              /* texts per te_backend_run() in te_embedder_embed(), >= 1 */
  /* Longest encoding, special tokens included. A longer text is an error (TE_ERROR_TOO_LONG),
   * or, with @truncate, cut to the longest token-boundary prefix that fits, special tokens
   * kept, as sentence-transformers does. With @truncate the backend's max_seq_len also
   * bounds it. */
  int max_length;
  gboolean truncate;
  /* Leading tokens of every text left out of the pooling: the prompt's (te_tokenizer_prompt_length)
   * for a model whose pooling has include_prompt=false, else 0. */
  guint pool_skip;
  /* Floats per embedding: the first @dims of the pooled vector (Matryoshka truncation), then
   * the L2 normalisation when @normalize; 0 = all of them (the hidden size). More than the
   * hidden size is TE_ERROR_INVALID. */
  int dims;
} TeEmbedderOptions;

/* Defaults from @model: backend "cpu", the sentence-transformers pooling / normalize /
 * max_seq_length, batch 8, no truncation. */
void te_embedder_options_init (TeEmbedderOptions * opts, const TeModel * model);

/* Opens the backend on @model (which must outlive the embedder). One thread at a time uses an
 * embedder (it keeps scratch encodings). */
TeEmbedder *te_embedder_new (const TeModel * model, const TeEmbedderOptions * opts,
    GError ** error);
void te_embedder_free (TeEmbedder * e);

int te_embedder_dims (const TeEmbedder * e);          /* floats per embedding */
int te_embedder_max_length (const TeEmbedder * e);    /* the effective max_length */
TeBackend *te_embedder_backend (const TeEmbedder * e);

/* All of it: @n texts (@lens bytes each; NULL @lens = NUL-terminated) to @out, [n * dims]
 * floats, batch_size texts per encoder run. @truncated (n entries, may be NULL) says which
 * texts were cut. On failure, @failed (may be NULL) is the index of the text that failed to
 * encode, or @n when an encoder run failed. */
gboolean te_embedder_embed (TeEmbedder * e, const char *const *texts, const gsize * lens,
    guint n, float *out, gboolean * truncated, guint * failed, GError ** error);

/* The steps of te_embedder_embed(), for callers that keep batches (benchmarks) or encode as
 * input arrives. */

/* Tokenize one text into @enc under the max_length rule; @truncated may be NULL. */
gboolean te_embedder_encode (TeEmbedder * e, const char *text, gsize len, TeEncoding * enc,
    gboolean * truncated, GError ** error);
/* Pre-tokenized input: @n token ids (special tokens included, as the encoder sees them) into
 * @enc with token types 0 and empty offsets. More than max_length ids is TE_ERROR_TOO_LONG
 * (never truncated), none or ids outside the model's vocabulary TE_ERROR_INVALID. */
gboolean te_embedder_encode_ids (TeEmbedder * e, const gint32 * ids, guint n, TeEncoding * enc,
    GError ** error);
/* @n encodings in one batch padded to te_backend_caps_seq_len() of the longest. */
TeBatch *te_embedder_make_batch (TeEmbedder * e, const TeEncoding * encs, int n,
    GError ** error);
/* Pool (and normalise) every row of a batch te_backend_run() has computed: @out gets
 * [batch->batch * dims] floats. */
void te_embedder_pool (const TeEmbedder * e, const TeBatch * batch, float *out);

G_END_DECLS
