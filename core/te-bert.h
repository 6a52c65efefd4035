/* te-bert.h — the BERT-family encoder forward pass on the CPU: embeddings (word + position +
 * token type), LayerNorm, masked multi-head self-attention, exact-erf GELU feed-forward. */
#pragma once

#include <glib.h>
#include "te-model.h"
#include "te-backend.h"

G_BEGIN_DECLS

/* Run the whole encoder on @batch, writing batch->hidden. Rows longer than the model's
 * max_position_embeddings or ids outside the vocabulary are a TE_ERROR_INVALID error. */
gboolean te_bert_forward (const TeModel * model, TeBatch * batch, GError ** error);

G_END_DECLS
