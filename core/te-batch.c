/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-batch.c — padded batches (te-batch.h). */
#include "te-batch.h"


TeBatch *
te_batch_new (int batch, int seq_len, int hidden_size, gint32 pad_id)
{
  TeBatch *b;
  gsize n;

  g_return_val_if_fail (batch >= 0 && seq_len >= 0 && hidden_size >= 0, NULL);

  n = (gsize) batch * (gsize) seq_len;
  b = g_new0 (TeBatch, 1);
  b->batch = batch;
  b->seq_len = seq_len;
  b->hidden_size = hidden_size;
  b->pad_id = pad_id;
  /* +1 everywhere: a 0-sized batch still gets valid (non-NULL) arrays. g_new* abort on
   * overflow of count * element size. */
  b->input_ids = g_new (gint32, n + 1);
  for (gsize i = 0; i < n; i++)
    b->input_ids[i] = pad_id;
  b->attention_mask = g_new0 (gint32, n + 1);
  b->token_type_ids = g_new0 (gint32, n + 1);
  b->hidden = g_new0 (float, n * (gsize) hidden_size + 1);
  b->lengths = g_new0 (int, (gsize) batch + 1);
  return b;
}

void
te_batch_set_row (TeBatch * b, int row, const gint32 * ids, const gint32 * type_ids, int n)
{
  gsize base;

  g_return_if_fail (b != NULL && row >= 0 && row < b->batch);
  g_return_if_fail (n >= 0 && n <= b->seq_len && (n == 0 || ids != NULL));

  base = (gsize) row * b->seq_len;
  for (int i = 0; i < b->seq_len; i++) {
    gboolean real = i < n;
    b->input_ids[base + i] = real ? ids[i] : b->pad_id;
    b->token_type_ids[base + i] = real && type_ids ? type_ids[i] : 0;
    b->attention_mask[base + i] = real ? 1 : 0;
  }
  b->lengths[row] = n;
}

void
te_batch_free (TeBatch * b)
{
  if (b == NULL)
    return;
  g_free (b->input_ids);
  g_free (b->attention_mask);
  g_free (b->token_type_ids);
  g_free (b->hidden);
  g_free (b->lengths);
  g_free (b);
}

