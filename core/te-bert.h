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

/* The fast path: the model's linear weights packed once for the CPU's kernel level
 * (core/kernels/te-kern.h), and a compute pool. te_bert_forward() above is the OpenBLAS
 * reference; an engine computes the same function with the project's kernels.
 *
 * @level: a TeCpuLevel, or -1 for te_cpu_level_select() (TE_CPU_LEVEL, else the best the CPU
 * has). @threads: compute threads (>= 1), or 0 for the physical cores. The engine borrows
 * @model, which must outlive it. Packing copies the linear weights (the model's mapping is
 * then only read for embeddings and LayerNorm parameters). */
typedef struct _TeBertEngine TeBertEngine;

typedef enum {
  TE_BERT_FP32 = 0,
  /* the four linear layers of every encoder layer in int8 (te_kern_pack_q8: weights per output
   * channel, activations per token); embeddings, LayerNorm, attention and GELU stay fp32 */
  TE_BERT_INT8,
  /* the four linear layers with bf16 weights and activations, fp32 accumulation
   * (te_kern_pack_bf16: AMX tiles, or CPUs with AVX512_BF16); at level amx attention's
   * products too (te_kern_attention_bf16, as for int8); everything else fp32 */
  TE_BERT_BF16,
} TeBertDType;

TeBertEngine *te_bert_engine_new (const TeModel * model, int level, int threads,
    TeBertDType dtype, GError ** error);
void te_bert_engine_free (TeBertEngine * engine);
/* Same contract as te_bert_forward(). Thread-safe; concurrent calls share the pool (a call
 * that finds it busy computes on its own thread: te-pool.h). */
gboolean te_bert_engine_forward (TeBertEngine * engine, TeBatch * batch, GError ** error);
/* The feed-forward block (FFN-up, GELU, FFN-down) runs on @rows tokens at a time, so that
 * their intermediate activations stay in cache; 0 (the default): about 6 MB of them (1,024
 * tokens of MiniLM). For tests of the blocking. Not thread-safe against a running forward. */
void te_bert_engine_set_ffn_rows (TeBertEngine * engine, gsize rows);
/* te_bert_engine_forward() runs the whole encoder on groups of consecutive rows of about
 * @tokens real tokens (a row longer than that alone), so that a group's activations stay in
 * the cores' L2 from one layer to the next; 0 (the default): about 2 MB of them per thread
 * (390 tokens of MiniLM on 2 threads). The output does not depend on it. For tests and
 * tuning. Not thread-safe against a running forward. */
void te_bert_engine_set_group_tokens (TeBertEngine * engine, gsize tokens);
/* e.g. "avx512 fp32, 2 threads", "avx512_vnni int8, 2 threads",
 * "amx_int8 int8, 2 threads, attention amx_bf16" */
const char *te_bert_engine_describe (const TeBertEngine * engine);
int te_bert_engine_level (const TeBertEngine * engine);
int te_bert_engine_threads (const TeBertEngine * engine);
TeBertDType te_bert_engine_dtype (const TeBertEngine * engine);
/* Bytes of packed weights, and the time packing took (open to ready, in seconds). */
gsize te_bert_engine_packed_bytes (const TeBertEngine * engine);
double te_bert_engine_pack_seconds (const TeBertEngine * engine);

G_END_DECLS
