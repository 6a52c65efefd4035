/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-bert.h — the BERT-family encoder forward pass on the CPU: embeddings (word + position +
 * token type), LayerNorm, masked multi-head self-attention, exact-erf GELU feed-forward.
 * BERT and XLM-RoBERTa share it; only their position ids differ (see TeBertConfig). */
#pragma once

#include <glib.h>
#include "te-model.h"
#include "te-backend.h"

G_BEGIN_DECLS

/* Run the whole encoder on @batch, writing batch->hidden. Rows longer than the model's
 * max_seq_len or ids outside the vocabulary are a TE_ERROR_INVALID error.
 * Only positions with attention_mask != 0 are computed (packed into one matrix, so padding
 * costs nothing); padded positions of batch->hidden are set to 0. Thread-safe: several threads
 * may run batches on one model at once (scratch memory is per call). */
gboolean te_bert_forward (const TeModel * model, TeBatch * batch, GError ** error);

G_END_DECLS
