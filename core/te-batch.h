/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-batch.h — one padded batch of token rows, the unit every backend (te-backend.h) computes:
 * inputs [batch x seq_len] row-major, the last hidden state [batch x seq_len x hidden_size] as
 * output. Padding positions have mask 0, token type 0 and the pad id. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  int batch;
  int seq_len;
  int hidden_size;
  gint32 *input_ids;
  gint32 *attention_mask;
  gint32 *token_type_ids;
  float *hidden;
  int *lengths;   /* real tokens per row, [batch] */
  gint32 pad_id;  /* what te_batch_new() / te_batch_set_row() fill padding with */
} TeBatch;

/* A batch of @batch rows of @seq_len padding tokens, @hidden zeroed. */
TeBatch *te_batch_new (int batch, int seq_len, int hidden_size, gint32 pad_id);
/* Copy one row's tokens in (n <= seq_len); the rest of the row stays padding. */
void te_batch_set_row (TeBatch * b, int row, const gint32 * ids, const gint32 * type_ids, int n);
void te_batch_free (TeBatch * b);

G_END_DECLS
