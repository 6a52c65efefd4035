/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-bert.c — the BERT-family encoder forward pass on the CPU (BERT, XLM-RoBERTa: the same
 * layers, different position ids), over a whole padded batch at once.
 * Hot path: every linear layer is one matrix product over all the batch's real tokens: OpenBLAS
 * sgemm in te_bert_forward() (the reference), the project's kernels on weights packed once
 * (fp32, int8 or bf16) in a TeBertEngine. */
#include "te-bert.h"
#include "te-kernels.h"
#include "te-kern.h"
#include "te-blas.h"

#include <math.h>
#include <string.h>

typedef struct {
  TeKernW *qkv, *ao, *up, *down;        /* fp32 */
  TeKernQ *qqkv, *qao, *qup, *qdown;    /* int8 */
} PackedLayer;

struct _TeBertEngine {
  const TeModel *model;
  TeCpuLevel level;
  TeBertDType dtype;
  TePool *pool;
  PackedLayer *layers;
  gsize packed_bytes;
  double pack_seconds;
  char describe[96];
  /* int8 and bf16 at level amx: attention's two products in bf16 on AMX tiles
   * (te_kern_attention_bf16), the softmax in fp32. fp32 keeps fp32 attention. */
  gboolean attention_bf16;
  gsize ffn_rows;               /* te_bert_engine_set_ffn_rows (); 0: FFN_BLOCK_BYTES */
  gsize group_tokens;           /* te_bert_engine_set_group_tokens (); 0: group_tokens () */
  /* The forward pass's activations, kept between calls (grown to the largest group, never
   * shrunk): a fresh block per call was mapped and zero-filled by the kernel page by page, up
   * to a tenth of the int8 encoder's time at batch 32. A call that finds it in use (concurrent
   * calls on one engine) allocates its own. */
  GMutex scratch_lock;
  float *scratch;
  gsize scratch_floats;
};

/* The feed-forward block runs on about this many bytes of intermediate activations at a time
 * (te_bert_forward with an engine): 1,024 tokens of MiniLM (I = 1536). A whole batch of
 * 32 x 256 tokens has 48 MB of them, which FFN-down read back from memory; in blocks it runs
 * 8-25 % faster on the Intel AMX VM (int8 and bf16 most). Blocks much smaller than this read
 * the FFN weights again for every block and measured slower at 1,000 tokens. */
#define FFN_BLOCK_BYTES (6u << 20)

/* Padding never enters the computation: the real tokens (mask != 0) of every row are packed
 * into one [T, H] matrix. Linears, LayerNorm and GELU act on tokens independently, and
 * attention runs per row over that row's packed tokens only, which is exactly attention with
 * the padded keys masked out. So the real positions' outputs are those of the padded
 * computation, without its cost when a batch mixes short and long texts. Padded positions of
 * batch->hidden are written as zeros. Position ids depend on the family (position_ids()). */

/* Position id of every column of row @ids[0..S): BERT's are the columns themselves;
 * XLM-RoBERTa's (as transformers' create_position_ids_from_input_ids) count the non-pad ids
 * so far from padding_idx + 1, and a pad id gets padding_idx. All are < the table size when
 * S <= c->max_seq_len. */
static void
position_ids (const TeBertConfig * c, const gint32 * ids, int S, int *pos)
{
  int count = 0;

  for (int s = 0; s < S; s++) {
    if (c->family == TE_FAMILY_BERT) {
      pos[s] = s;
    } else if (ids[s] == c->pad_token_id) {
      pos[s] = c->pad_token_id;
    } else {
      count++;
      pos[s] = c->pad_token_id + count;
    }
  }
}

/* LayerNorm over rows, split across the engine's pool. */
typedef struct {
  float *x;
  const float *res, *g, *b;
  int rows, h, per_task;
  float eps;
} LayerNormJob;

static void
layernorm_task (void *data, int task, int worker)
{
  LayerNormJob *j = data;
  int r0 = task * j->per_task, n = MIN (j->per_task, j->rows - r0);

  te_layernorm (j->x + (gsize) r0 * j->h, j->res ? j->res + (gsize) r0 * j->h : NULL, j->g,
      j->b, n, j->h, j->eps);
}

static void
layernorm (TeBertEngine * e, float *x, const float *res, const float *g, const float *b,
    int rows, int h, float eps)
{
  int threads = e ? te_pool_threads (e->pool) : 1;
  LayerNormJob job = { x, res, g, b, rows, h, (rows + threads - 1) / threads, eps };

  if (threads == 1 || rows < 2 * threads) {
    te_layernorm (x, res, g, b, rows, h, eps);
    return;
  }
  te_pool_run (e->pool, (rows + job.per_task - 1) / job.per_task, layernorm_task, &job);
}

static gboolean forward (const TeModel * model, TeBertEngine * e, TeBatch * batch,
    int row0, GError ** error);

gboolean
te_bert_forward (const TeModel * model, TeBatch * batch, GError ** error)
{
  g_return_val_if_fail (model != NULL && batch != NULL, FALSE);
  if (!te_blas_load (error))
    return FALSE;
  return forward (model, NULL, batch, 0, error);
}

/* The sequences of one batch never meet: the engine runs the whole encoder on groups of
 * consecutive rows, each group's activations (wide + 3H floats a token: QKV or the
 * intermediate, then ctx, tmp and x) about GROUP_BYTES_PER_THREAD times the pool's threads,
 * so that one layer's output is still in the cores' L2 when the next reads it, and every
 * thread still has rows of its own to compute. A row is never split; a row longer than the
 * budget is a group alone. Every token's arithmetic is the same whatever the grouping
 * (te_bert_forward's contract holds bit for bit). Measured on a 2-vCPU Zen 4 (1 MB L2 a core;
 * 2 threads, best of 4 interleaved runs, docs/cpu.md): fp32 +4-8 % at 128 and 256 tokens,
 * batches 8 and 32; int8 at 128 x 32 +16 %. */
#define GROUP_BYTES_PER_THREAD (2u << 20)

static gsize
group_tokens (const TeBertEngine * e)
{
  const TeBertConfig *c = te_model_config (e->model);
  gsize wide = MAX (3 * (gsize) c->hidden_size, (gsize) c->intermediate_size);

  if (e->group_tokens > 0)
    return e->group_tokens;
  return MAX ((gsize) GROUP_BYTES_PER_THREAD * te_pool_threads (e->pool)
      / ((wide + 3 * (gsize) c->hidden_size) * sizeof (float)), 1);
}

gboolean
te_bert_engine_forward (TeBertEngine * engine, TeBatch * batch, GError ** error)
{
  gsize limit;

  g_return_val_if_fail (engine != NULL && batch != NULL, FALSE);
  if (batch->batch <= 1 || batch->seq_len <= 0 || batch->attention_mask == NULL)
    return forward (engine->model, engine, batch, 0, error);
  limit = group_tokens (engine);
  for (int b0 = 0; b0 < batch->batch;) {
    TeBatch sub = *batch;
    gsize tokens = 0, row = (gsize) batch->seq_len;
    int b1 = b0;

    for (; b1 < batch->batch; b1++) {
      gsize n = 0;

      for (gsize s = 0; s < row; s++)
        n += batch->attention_mask[b1 * row + s] != 0;
      if (b1 > b0 && tokens + n > limit)
        break;
      tokens += n;
    }
    sub.batch = b1 - b0;
    sub.input_ids = batch->input_ids + b0 * row;
    sub.attention_mask = batch->attention_mask + b0 * row;
    sub.token_type_ids = batch->token_type_ids ? batch->token_type_ids + b0 * row : NULL;
    sub.hidden = batch->hidden + b0 * row * batch->hidden_size;
    sub.lengths = batch->lengths ? batch->lengths + b0 : NULL;
    if (!forward (engine->model, engine, &sub, b0, error))
      return FALSE;
    b0 = b1;
  }
  return TRUE;
}

/* With @e, the project's kernels on packed weights; without, OpenBLAS on the model's. @batch
 * may be rows of a larger one, from @row0 on (error messages name the larger one's rows). */
static gboolean
forward (const TeModel * model, TeBertEngine * e, TeBatch * batch, int row0, GError ** error)
{
  const TeBertConfig *c;
  const TeBertWeights *W;
  int B, S, H, I, heads;
  gsize BS, T = 0, t, wide, ffn_rows;
  gsize *src = NULL;            /* packed token t -> flat index b * S + s in the batch */
  gsize *seg = NULL;            /* row b's packed tokens are [seg[b], seg[b + 1]) */
  int *pos = NULL;              /* packed token t's position id */
  int *row_pos = NULL;          /* position ids of one row's columns */
  float *x, *wide_buf, *ctx, *tmp, *att, *block = NULL;
  gsize block_floats;
  gboolean scratch_locked = FALSE;
  gint32 *ones = NULL;
  gsize max_len = 0;
  gboolean ok = FALSE;

  c = te_model_config (model);
  W = te_model_weights (model);
  if (W == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: the model was loaded without its weights", te_model_dir (model));
    return FALSE;
  }
  B = batch->batch;
  S = batch->seq_len;
  H = c->hidden_size;
  I = c->intermediate_size;
  heads = c->num_heads;
  if (B < 0 || S < 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "batch of %d x %d tokens", B, S);
    return FALSE;
  }
  if (batch->hidden_size != H) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "batch hidden_size %d differs from the model's %d", batch->hidden_size, H);
    return FALSE;
  }
  if (S > c->max_seq_len) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "sequence length %d exceeds the model's limit of %d tokens (max_position_embeddings "
        "%d%s)", S, c->max_seq_len, c->max_position_embeddings,
        c->family == TE_FAMILY_XLM_ROBERTA ? ", positions start after padding_idx" : "");
    return FALSE;
  }
  BS = (gsize) B * S;
  if (BS == 0)
    return TRUE;
  if (BS > G_MAXINT) {          /* row counts are BLAS ints */
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "batch of %d x %d tokens is too large", B,
        S);
    return FALSE;
  }

  /* Pack and validate. */
  src = g_new (gsize, BS);
  seg = g_new (gsize, B + 1);
  pos = g_new (int, BS);
  row_pos = g_new (int, S);
  for (int b = 0; b < B; b++) {
    seg[b] = T;
    position_ids (c, batch->input_ids + (gsize) b * S, S, row_pos);
    for (int s = 0; s < S; s++) {
      gsize i = (gsize) b * S + s;
      gint32 id, type;

      if (batch->attention_mask[i] == 0)
        continue;
      id = batch->input_ids[i];
      type = batch->token_type_ids ? batch->token_type_ids[i] : 0;
      if (id < 0 || id >= c->vocab_size) {
        g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
            "row %d position %d: token id %d outside the vocabulary (0..%d)", row0 + b, s, id,
            c->vocab_size - 1);
        goto out;
      }
      if (type < 0 || type >= c->type_vocab_size) {
        g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
            "row %d position %d: token type id %d outside 0..%d", row0 + b, s, type,
            c->type_vocab_size - 1);
        goto out;
      }
      pos[T] = row_pos[s];
      src[T++] = i;
    }
    max_len = MAX (max_len, T - seg[b]);
  }
  seg[B] = T;

  if (T == 0) {
    memset (batch->hidden, 0, BS * H * sizeof (float));
    ok = TRUE;
    goto out;
  }

  /* Scratch: the engine's block, or one per call (the reference path, or the engine's block in
   * use by a concurrent call: concurrent calls on one model or engine are fine).
   * The QKV projection and the intermediate activation are never live at the same time, so
   * they share the widest buffer. Without padding, x is batch->hidden itself. */
  wide = MAX (3 * (gsize) H, (gsize) I);
  ffn_rows = e != NULL && e->ffn_rows > 0 ? e->ffn_rows
      : MAX (FFN_BLOCK_BYTES / (I * sizeof (float)) / 32 * 32, 32);
  block_floats = T * (wide + 2 * (gsize) H) + (e ? 0 : max_len * max_len)
      + (T == BS ? 0 : T * (gsize) H);
  if (e != NULL && g_mutex_trylock (&e->scratch_lock)) {
    if (e->scratch_floats < block_floats) {
      g_free (e->scratch);
      e->scratch = g_new (float, block_floats);
      e->scratch_floats = block_floats;
    }
    wide_buf = e->scratch;
    scratch_locked = TRUE;
  } else {
    wide_buf = block = g_new (float, block_floats);
  }
  ctx = wide_buf + T * wide;
  tmp = ctx + T * H;
  att = tmp + T * H;
  x = T == BS ? batch->hidden : att + (e ? 0 : max_len * max_len);
  if (e == NULL) {              /* te_attention()'s mask: every packed token is real */
    ones = g_new (gint32, max_len);
    for (gsize i = 0; i < max_len; i++)
      ones[i] = 1;
  }

  /* Embeddings: word + position + token type, then LayerNorm. */
  for (t = 0; t < T; t++) {
    gsize i = src[t];
    const float *we = W->word_emb + (gsize) batch->input_ids[i] * H;
    const float *pe = W->pos_emb + (gsize) pos[t] * H;
    const float *te = W->type_emb
        + (gsize) (batch->token_type_ids ? batch->token_type_ids[i] : 0) * H;
    float *row = x + t * H;

    for (int j = 0; j < H; j++)
      row[j] = we[j] + pe[j] + te[j];
  }
  layernorm (e, x, NULL, W->emb_ln_g, W->emb_ln_b, (int) T, H, c->layer_norm_eps);

  for (int l = 0; l < c->num_layers; l++) {
    const TeBertLayer *L = &W->layers[l];
    float *qkv = wide_buf, *inter = wide_buf;

    if (e != NULL) {
      const PackedLayer *P = &e->layers[l];
      gboolean q8 = e->dtype == TE_BERT_INT8;
      int rc = 0;

#define LINEAR_ROWS(fp, q, in, out_, rows, epi) \
      (q8 ? te_kern_linear_q8 (e->pool, P->q, in, out_, (int) (rows), epi) \
          : te_kern_linear (e->pool, P->fp, in, out_, (int) (rows), epi))
#define LINEAR(fp, q, in, out_, epi) LINEAR_ROWS (fp, q, in, out_, T, epi)
      rc |= LINEAR (qkv, qqkv, x, qkv, TE_KERN_EPI_NONE);
      rc |= e->attention_bf16
          ? te_kern_attention_bf16 (e->pool, e->level, qkv, ctx, seg, B, H, heads)
          : te_kern_attention (e->pool, e->level, qkv, ctx, seg, B, H, heads);
      rc |= LINEAR (ao, qao, ctx, tmp, TE_KERN_EPI_NONE);
      layernorm (e, x, tmp, L->ln1_g, L->ln1_b, (int) T, H, c->layer_norm_eps);
      /* the feed-forward block in blocks of rows, so that a block's intermediate activations
       * (I floats a token) are still in cache when FFN-down reads them: a batch of 32 x 256
       * tokens has 48 MB of them */
      for (gsize r0 = 0; r0 < T; r0 += ffn_rows) {
        gsize rows = MIN (ffn_rows, T - r0);
        rc |= LINEAR_ROWS (up, qup, x + r0 * H, inter, rows, TE_KERN_EPI_GELU);
        rc |= LINEAR_ROWS (down, qdown, inter, tmp + r0 * H, rows, TE_KERN_EPI_NONE);
      }
#undef LINEAR
#undef LINEAR_ROWS
      layernorm (e, x, tmp, L->ln2_g, L->ln2_b, (int) T, H, c->layer_norm_eps);
      if (rc != 0) {
        g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
            "out of memory for the encoder's scratch (%" G_GSIZE_FORMAT " tokens)", T);
        goto out;
      }
      continue;
    }
    te_linear (x, L->qkv_w, L->qkv_b, qkv, (int) T, 3 * H, H);
    for (int b = 0; b < B; b++) {
      gsize n = seg[b + 1] - seg[b];
      if (n > 0)
        te_attention (qkv + seg[b] * 3 * H, ones, ctx + seg[b] * H, (int) n, H, heads, att);
    }
    te_linear (ctx, L->ao_w, L->ao_b, tmp, (int) T, H, H);
    te_layernorm (x, tmp, L->ln1_g, L->ln1_b, (int) T, H, c->layer_norm_eps);

    te_linear (x, L->i_w, L->i_b, inter, (int) T, I, H);
    te_gelu_erf (inter, T * I);
    te_linear (inter, L->o_w, L->o_b, tmp, (int) T, H, I);
    te_layernorm (x, tmp, L->ln2_g, L->ln2_b, (int) T, H, c->layer_norm_eps);
  }

  if (x != batch->hidden) {
    memset (batch->hidden, 0, BS * H * sizeof (float));
    for (t = 0; t < T; t++)
      memcpy (batch->hidden + src[t] * H, x + t * H, H * sizeof (float));
  }
  ok = TRUE;

out:
  if (scratch_locked)
    g_mutex_unlock (&e->scratch_lock);
  g_free (ones);
  g_free (block);
  g_free (row_pos);
  g_free (pos);
  g_free (seg);
  g_free (src);
  return ok;
}

/* ---- engine ---- */

/* SmoothQuant's per-input-channel factors, without calibration data: a LayerNorm output's
 * channel c is n * g[c] + b[c] with n of unit scale, so |g[c]| + |b[c]| stands for its range.
 * s[c] = sqrt (range[c] / max_n |W[n, c]|) (alpha = 1/2) balances the two operands' ranges;
 * a constant factor on every s[c] changes nothing after per-token and per-channel scaling. */
static float *
smooth_factors (const float *g, const float *b, const float *W, int n, int k)
{
  float *s = g_new0 (float, k);  /* max_n |W[n, c]| first, row by row (W is [n, k]) */

  for (int j = 0; j < n; j++)
    for (int c = 0; c < k; c++)
      s[c] = MAX (s[c], fabsf (W[(gsize) j * k + c]));
  for (int c = 0; c < k; c++) {
    float wmax = s[c], range = fabsf (g[c]) + fabsf (b[c]);
    s[c] = wmax > 0.0f && range > 0.0f && isfinite (range) ? sqrtf (range / wmax) : 1.0f;
    if (!(s[c] > 0.0f) || !isfinite (s[c]))
      s[c] = 1.0f;
  }
  return s;
}

/* Packing is one pool task per weight matrix (4 per layer, the largest first), so that it
 * runs on the engine's threads: it is most of the backend's start-up. */
typedef struct {
  const TeBertConfig *c;
  const TeBertWeights *W;
  TeBertEngine *e;
} PackJob;

static void
pack_task (void *ctx, int task, int worker)
{
  const PackJob *job = ctx;
  const TeBertWeights *W = job->W;
  int l = task / 4, which = task % 4;
  int H = job->c->hidden_size, I = job->c->intermediate_size;
  const TeBertLayer *L = &W->layers[l];
  PackedLayer *P = &job->e->layers[l];
  TeCpuLevel level = job->e->level;
  static const int order[4] = { 2, 3, 0, 1 };   /* up, down, qkv, attention output */
  /* per matrix: weights, bias, rows n, columns k */
  const float *w[4] = { L->qkv_w, L->ao_w, L->i_w, L->o_w };
  const float *b[4] = { L->qkv_b, L->ao_b, L->i_b, L->o_b };
  const int n[4] = { 3 * H, H, I, H }, k[4] = { H, H, H, I };

  (void) worker;
  which = order[which];
  switch (job->e->dtype) {
    case TE_BERT_INT8:{
      /* the QKV and FFN-up inputs are LayerNorm outputs: smoothed (see smooth_factors) */
      TeKernQ **dst[4] = { &P->qqkv, &P->qao, &P->qup, &P->qdown };
      float *smooth = NULL;

      if (which == 0)
        smooth = smooth_factors (l == 0 ? W->emb_ln_g : W->layers[l - 1].ln2_g,
            l == 0 ? W->emb_ln_b : W->layers[l - 1].ln2_b, L->qkv_w, 3 * H, H);
      else if (which == 2)
        smooth = smooth_factors (L->ln1_g, L->ln1_b, L->i_w, I, H);
      *dst[which] = te_kern_pack_q8 (level, w[which], b[which], n[which], k[which], smooth);
      g_free (smooth);
      break;
    }
    case TE_BERT_BF16:{
      TeKernW **dst[4] = { &P->qkv, &P->ao, &P->up, &P->down };
      *dst[which] = te_kern_pack_bf16 (level, w[which], b[which], n[which], k[which]);
      break;
    }
    default:{
      TeKernW **dst[4] = { &P->qkv, &P->ao, &P->up, &P->down };
      *dst[which] = te_kern_pack (level, w[which], b[which], n[which], k[which]);
      break;
    }
  }
}

void
te_bert_engine_free (TeBertEngine * engine)
{
  if (engine == NULL)
    return;
  for (int l = 0; engine->layers != NULL && l < te_model_config (engine->model)->num_layers;
      l++) {
    te_kern_free (engine->layers[l].qkv);
    te_kern_free (engine->layers[l].ao);
    te_kern_free (engine->layers[l].up);
    te_kern_free (engine->layers[l].down);
    te_kern_q8_free (engine->layers[l].qqkv);
    te_kern_q8_free (engine->layers[l].qao);
    te_kern_q8_free (engine->layers[l].qup);
    te_kern_q8_free (engine->layers[l].qdown);
  }
  g_free (engine->layers);
  g_free (engine->scratch);
  g_mutex_clear (&engine->scratch_lock);
  te_pool_release (engine->pool);
  g_free (engine);
}

TeBertEngine *
te_bert_engine_new (const TeModel * model, int level, int threads, TeBertDType dtype,
    GError ** error)
{
  const TeBertConfig *c;
  const TeBertWeights *W;
  TeBertEngine *e;
  char why[256];
  gint64 t0 = g_get_monotonic_time ();

  g_return_val_if_fail (model != NULL, NULL);
  c = te_model_config (model);
  W = te_model_weights (model);
  if (W == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: the model was loaded without its weights", te_model_dir (model));
    return NULL;
  }
  if (level < 0) {
    level = te_cpu_level_select (why, sizeof why);
    if (level < 0) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "%s", why);
      return NULL;
    }
  } else if (!te_cpu_level_supported (level) || !te_kern_level_available (level)) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "kernel level %s: %s", te_cpu_level_name (level),
        te_kern_level_available (level) ? "this CPU does not support it"
        : "not built for this architecture");
    return NULL;
  }
  if (c->hidden_size % c->num_heads != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: hidden_size %d is not a multiple of num_attention_heads %d",
        te_model_dir (model), c->hidden_size, c->num_heads);
    return NULL;
  }
  if (dtype == TE_BERT_BF16 && !te_kern_bf16_available (level)) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "bf16 needs the amx level, or the avx512 level on a CPU with AVX512_BF16 (this one has: "
        "%s; level %s)",
        te_cpu_features_string (), te_cpu_level_name (level));
    return NULL;
  }
  if (threads <= 0)
    threads = te_cpu_physical_cores ();
  e = g_new0 (TeBertEngine, 1);
  g_mutex_init (&e->scratch_lock);
  e->model = model;
  e->level = level;
  e->dtype = dtype;
  e->pool = te_pool_acquire (threads);
  if (e->pool == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "cannot start %d compute threads",
        threads);
    te_bert_engine_free (e);
    return NULL;
  }
  e->layers = g_new0 (PackedLayer, c->num_layers);
  {
    PackJob job = { c, W, e };
    te_pool_run (e->pool, 4 * c->num_layers, pack_task, &job);
  }
  for (int l = 0; l < c->num_layers; l++) {
    const PackedLayer *P = &e->layers[l];

    if (dtype == TE_BERT_INT8 ? !P->qqkv || !P->qao || !P->qup || !P->qdown
        : !P->qkv || !P->ao || !P->up || !P->down) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "out of memory %s the weights of layer %d",
          dtype == TE_BERT_INT8 ? "quantising" : "packing", l);
      te_bert_engine_free (e);
      return NULL;
    }
    if (dtype == TE_BERT_INT8)
      e->packed_bytes += te_kern_q8_bytes (P->qqkv) + te_kern_q8_bytes (P->qao)
          + te_kern_q8_bytes (P->qup) + te_kern_q8_bytes (P->qdown);
    else
      e->packed_bytes += te_kern_bytes (P->qkv) + te_kern_bytes (P->ao)
          + te_kern_bytes (P->up) + te_kern_bytes (P->down);
  }
  e->pack_seconds = (g_get_monotonic_time () - t0) / 1e6;
  e->attention_bf16 = dtype != TE_BERT_FP32
      && te_kern_attention_bf16_available (level, c->hidden_size / c->num_heads);
  if (dtype == TE_BERT_INT8)
    g_snprintf (e->describe, sizeof e->describe, "%s int8, %d thread%s%s",
        te_kern_q8_name_for (level), threads, threads == 1 ? "" : "s",
        e->attention_bf16 ? ", attention amx_bf16" : "");
  else if (dtype == TE_BERT_BF16)
    g_snprintf (e->describe, sizeof e->describe, "%s bf16, %d thread%s%s",
        te_kern_bf16_name_for (level), threads, threads == 1 ? "" : "s",
        e->attention_bf16 ? ", attention amx_bf16" : "");
  else
    g_snprintf (e->describe, sizeof e->describe, "%s fp32, %d thread%s",
        te_cpu_level_name (level), threads, threads == 1 ? "" : "s");
  return e;
}

void
te_bert_engine_set_ffn_rows (TeBertEngine * engine, gsize rows)
{
  engine->ffn_rows = rows;
}

void
te_bert_engine_set_group_tokens (TeBertEngine * engine, gsize tokens)
{
  g_return_if_fail (engine != NULL);
  engine->group_tokens = tokens;
}

const char *
te_bert_engine_describe (const TeBertEngine * engine)
{
  return engine->describe;
}

int
te_bert_engine_level (const TeBertEngine * engine)
{
  return engine->level;
}

TeBertDType
te_bert_engine_dtype (const TeBertEngine * engine)
{
  return engine->dtype;
}

int
te_bert_engine_threads (const TeBertEngine * engine)
{
  return te_pool_threads (engine->pool);
}

gsize
te_bert_engine_packed_bytes (const TeBertEngine * engine)
{
  return engine->packed_bytes;
}

double
te_bert_engine_pack_seconds (const TeBertEngine * engine)
{
  return engine->pack_seconds;
}
