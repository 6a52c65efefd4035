/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern.c — packing, threading and level dispatch of the CPU kernels (te-kern.h). */
#include "te-kern-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const TeKernOps *
te_kern_ops_for (TeCpuLevel level)
{
  switch (level) {
    case TE_CPU_PORTABLE:
      return &te_kern_ops_portable;
#if defined(__x86_64__)
    case TE_CPU_AVX2:
      return &te_kern_ops_avx2;
    case TE_CPU_AVX512:
    case TE_CPU_AMX:             /* amx adds tiles for bf16 and int8; fp32 stays on zmm */
      return &te_kern_ops_avx512;
#endif
#if defined(__aarch64__)
    case TE_CPU_NEON:
      return &te_kern_ops_neon;
#endif
    default:
      return NULL;
  }
}

int
te_kern_level_available (TeCpuLevel level)
{
  return te_kern_ops_for (level) != NULL;
}

void *
te_kern_alloc_aligned (size_t bytes)
{
  void *p = NULL;

  if (posix_memalign (&p, 64, bytes ? bytes : 64) != 0)
    return NULL;
  return p;
}

/* A TeKernW for @ops with @panel_bytes of packed weights per panel and the bias (padded to
 * whole panels, zeros past n) filled in; the caller fills data. NULL when out of memory. */
static TeKernW *
kern_w_new (TeCpuLevel level, const TeKernOps * ops, const float *bias, int n, int k,
    size_t panel_bytes)
{
  TeKernW *w = calloc (1, sizeof *w);

  if (w == NULL)
    return NULL;
  w->level = level;
  w->ops = ops;
  w->n = n;
  w->k = k;
  w->nr = ops->nr;
  w->n_panels = (n + ops->nr - 1) / ops->nr;
  w->bytes = (size_t) w->n_panels * (panel_bytes + ops->nr * sizeof (float));
  w->data = te_kern_alloc_aligned ((size_t) w->n_panels * panel_bytes);
  w->bias = te_kern_alloc_aligned ((size_t) w->n_panels * ops->nr * sizeof (float));
  if (w->data == NULL || w->bias == NULL) {
    te_kern_free (w);
    return NULL;
  }
  for (int col = 0; col < w->n_panels * ops->nr; col++)
    w->bias[col] = bias != NULL && col < n ? bias[col] : 0.0f;
  return w;
}

TeKernW *
te_kern_pack (TeCpuLevel level, const float *W, const float *bias, int n, int k)
{
  const TeKernOps *ops = te_kern_ops_for (level);
  TeKernW *w;
  size_t panel_floats;

  if (ops == NULL || n <= 0 || k < 0)
    return NULL;
  panel_floats = (size_t) k * ops->nr;
  w = kern_w_new (level, ops, bias, n, k, panel_floats * sizeof (float));
  if (w == NULL)
    return NULL;
  /* written in order (the panel's nr columns side by side, k after k), read as nr
   * sequential streams, one per weight row */
  for (int p = 0; p < w->n_panels; p++) {
    float *dst = w->data + (size_t) p * panel_floats;
    int cols = n - p * ops->nr < ops->nr ? n - p * ops->nr : ops->nr;
    const float *src = W + (size_t) p * ops->nr * k;

    for (int kk = 0; kk < k; kk++, dst += ops->nr) {
      int j = 0;
      for (; j < cols; j++)
        dst[j] = src[(size_t) j * k + kk];
      for (; j < ops->nr; j++)
        dst[j] = 0.0f;
    }
  }
  return w;
}

void
te_kern_free (TeKernW * w)
{
  if (w == NULL)
    return;
  free (w->data);
  free (w->bias);
  free (w);
}

size_t
te_kern_bytes (const TeKernW * w)
{
  return w ? w->bytes : 0;
}

/* ---- bf16 ---- */

int
te_kern_bf16_available (TeCpuLevel level)
{
  return te_kern_bf16_name_for (level) != NULL;
}

const char *
te_kern_bf16_name_for (TeCpuLevel level)
{
#if defined(__x86_64__)
  if (level == TE_CPU_AMX && te_cpu_level_supported (TE_CPU_AMX))
    return "amx_bf16";
  if (level == TE_CPU_AVX512 && te_cpu_features ()->avx512_bf16)
    return "avx512_bf16";
#endif
  (void) level;
  return NULL;
}

TeKernW *
te_kern_pack_bf16 (TeCpuLevel level, const float *W, const float *bias, int n, int k)
{
#if defined(__x86_64__)
  const TeKernOps *ops = level == TE_CPU_AMX ? &te_kern_ops_amx_bf16 : &te_kern_ops_avx512_bf16;
  TeKernW *w;
  int kp2 = ((k + 1) / 2 + TE_KERN_BF16_KSTEP - 1) / TE_KERN_BF16_KSTEP * TE_KERN_BF16_KSTEP;
  uint32_t *data;

  if (!te_kern_bf16_available (level) || n <= 0 || k <= 0 || k > INT32_MAX - 64)
    return NULL;
  w = kern_w_new (level, ops, bias, n, k, (size_t) kp2 * ops->nr * 4);
  if (w == NULL)
    return NULL;
  w->kp2 = kp2;
  data = (uint32_t *) w->data;
  for (int p = 0; p < w->n_panels; p++)
    for (int j = 0; j < ops->nr; j++) {
      int col = p * ops->nr + j;
      for (int q = 0; q < kp2; q++) {
        uint32_t lo = 0, hi = 0;
        if (col < n && 2 * q < k) {
          lo = te_kern_bf16_round (W[(size_t) col * k + 2 * q]);
          hi = 2 * q + 1 < k ? te_kern_bf16_round (W[(size_t) col * k + 2 * q + 1]) : 0;
        }
        data[((size_t) p * kp2 + q) * ops->nr + j] = lo | hi << 16;
      }
    }
  return w;
#else
  (void) level, (void) W, (void) bias, (void) n, (void) k;
  return NULL;
#endif
}

static double
bf16_value (float x)
{
  uint32_t u = te_kern_bf16_round (x) << 16;
  float f;

  memcpy (&f, &u, 4);
  return f;
}

void
te_kern_linear_bf16_ref (const float *A, const float *W, const float *bias, float *C, int m,
    int n, int k, TeKernEpilogue epi)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (int p = 0; p < k; p++)
        acc += bf16_value (A[(size_t) i * k + p]) * bf16_value (W[(size_t) j * k + p]);
      if (epi == TE_KERN_EPI_GELU)
        acc = 0.5 * acc * (1.0 + erf (acc / sqrt (2.0)));
      C[(size_t) i * n + j] = (float) acc;
    }
}

/* ---- linear: tasks are blocks of rows x runs of column panels ---- */

void
te_kern_split (int threads, int m, int mr, int n_panels, TeKernSplit * split)
{
  int row_tasks = 1;

  split->rows_per_task = m;
  split->panels_per_task = n_panels;
  split->panel_tasks = 1;
  if (threads > 1 && m >= threads * 4 * mr) {
    split->rows_per_task = ((m + threads - 1) / threads + mr - 1) / mr * mr;
    row_tasks = (m + split->rows_per_task - 1) / split->rows_per_task;
  } else if (threads > 1) {
    int tasks = n_panels < threads ? n_panels : threads;
    split->panels_per_task = (n_panels + tasks - 1) / tasks;
    split->panel_tasks = (n_panels + split->panels_per_task - 1) / split->panels_per_task;
  }
  split->tasks = row_tasks * split->panel_tasks;
}

void
te_kern_split_task (const TeKernSplit * split, int task, int m, int n_panels, int *m0,
    int *m1, int *p0, int *p1)
{
  int r = task / split->panel_tasks, c = task % split->panel_tasks;

  *m0 = r * split->rows_per_task;
  *m1 = *m0 + split->rows_per_task < m ? *m0 + split->rows_per_task : m;
  *p0 = c * split->panels_per_task;
  *p1 = *p0 + split->panels_per_task < n_panels ? *p0 + split->panels_per_task : n_panels;
}

typedef struct {
  const TeKernW *w;
  const float *A;
  float *C;
  int m;
  TeKernSplit split;
  TeKernEpilogue epi;
  int failed;
} LinearJob;

static void
linear_task (void *data, int task, int worker)
{
  LinearJob *job = data;
  const TeKernW *w = job->w;
  int m0, m1, p0, p1;

  (void) worker;
  te_kern_split_task (&job->split, task, job->m, w->n_panels, &m0, &m1, &p0, &p1);
  if (w->ops->linear_panels (w, job->A + (size_t) m0 * w->k, job->C + (size_t) m0 * w->n,
          m1 - m0, p0, p1, job->epi) != 0)
    job->failed = 1;
}

int
te_kern_linear (TePool * pool, const TeKernW * w, const float *A, float *C, int m,
    TeKernEpilogue epi)
{
  LinearJob job = { .w = w, .A = A, .C = C, .m = m, .epi = epi };

  if (m <= 0)
    return 0;
  te_kern_split (te_pool_threads (pool), m, w->ops->mr, w->n_panels, &job.split);
  te_pool_run (pool, job.split.tasks, linear_task, &job);
  return job.failed ? -1 : 0;
}

/* ---- attention: tasks are (sequence, head) pairs; here one sequence ---- */

size_t
te_kern_attention_scratch (int s, int d)
{
  size_t s_pad = ((size_t) s + 15) / 16 * 16;   /* the widest vector's multiple */
  return (size_t) d * s_pad + (size_t) TE_KERN_ATT_TQ * s_pad;
}

typedef void (*AttentionHeadFn) (const float *q, const float *k, const float *v, int ld,
    float *out, int ldo, int s, int d, float scale, float *scratch);

typedef struct {
  AttentionHeadFn head;
  const float *qkv;
  float *out;
  const size_t *seg;
  int h, heads;
  float *scratch;               /* one block of `per_worker` floats per pool thread */
  size_t per_worker;
} AttentionJob;

static void
attention_task (void *data, int task, int worker)
{
  AttentionJob *job = data;
  int b = task / job->heads, head = task % job->heads;
  int d = job->h / job->heads, ld = 3 * job->h;
  int s = (int) (job->seg[b + 1] - job->seg[b]);
  const float *qkv = job->qkv + job->seg[b] * ld;

  if (s <= 0)
    return;
  job->head (qkv + head * d, qkv + job->h + head * d,
      qkv + 2 * job->h + head * d, ld, job->out + job->seg[b] * job->h + head * d, job->h, s,
      d, 1.0f / sqrtf ((float) d), job->scratch + (size_t) worker * job->per_worker);
}

static int
attention_run (TePool * pool, AttentionHeadFn head, size_t (*scratch) (int s, int d),
    const float *qkv, float *out, const size_t *seg, int n_seqs, int h, int heads)
{
  AttentionJob job = { head, qkv, out, seg, h, heads, NULL, 0 };
  size_t longest = 0;

  for (int b = 0; b < n_seqs; b++)
    longest = seg[b + 1] - seg[b] > longest ? seg[b + 1] - seg[b] : longest;
  if (longest == 0)
    return 0;
  /* whole cache lines per worker, so the blocks stay 64-byte aligned */
  job.per_worker = (scratch ((int) longest, h / heads) + 15) / 16 * 16;
  job.scratch = te_kern_alloc_aligned (job.per_worker * te_pool_threads (pool)
      * sizeof (float));
  if (job.scratch == NULL)
    return -1;
  te_pool_run (pool, n_seqs * heads, attention_task, &job);
  free (job.scratch);
  return 0;
}

int
te_kern_attention (TePool * pool, TeCpuLevel level, const float *qkv, float *out,
    const size_t *seg, int n_seqs, int h, int heads)
{
  const TeKernOps *ops = te_kern_ops_for (level);

  if (ops == NULL || heads <= 0 || h % heads != 0)
    return -1;
  return attention_run (pool, ops->attention_head, te_kern_attention_scratch, qkv, out, seg,
      n_seqs, h, heads);
}

int
te_kern_attention_bf16_available (TeCpuLevel level, int head_size)
{
#if defined(__x86_64__)
  return level == TE_CPU_AMX && te_cpu_level_supported (TE_CPU_AMX) && head_size > 0
      && head_size % 32 == 0 && head_size <= 64;
#else
  (void) level, (void) head_size;
  return 0;
#endif
}

int
te_kern_attention_bf16 (TePool * pool, TeCpuLevel level, const float *qkv, float *out,
    const size_t *seg, int n_seqs, int h, int heads)
{
  if (heads <= 0 || h % heads != 0 || !te_kern_attention_bf16_available (level, h / heads))
    return -1;
#if defined(__x86_64__)
  return attention_run (pool, te_kern_amx_attention_head, te_kern_amx_attention_scratch, qkv,
      out, seg, n_seqs, h, heads);
#else
  (void) pool, (void) qkv, (void) out, (void) seg, (void) n_seqs;
  return -1;
#endif
}

/* ---- references ---- */

void
te_kern_linear_ref (const float *A, const float *W, const float *bias, float *C, int m, int n,
    int k, TeKernEpilogue epi)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (int p = 0; p < k; p++)
        acc += (double) A[(size_t) i * k + p] * W[(size_t) j * k + p];
      if (epi == TE_KERN_EPI_GELU)
        acc = 0.5 * acc * (1.0 + erf (acc / sqrt (2.0)));
      C[(size_t) i * n + j] = (float) acc;
    }
}

/* Attention in double; with @bf16, q, k, v and the softmax numerators rounded to bf16 first
 * (the denominators from the unrounded numerators), te_kern_attention_bf16's arithmetic. */
static void
attention_ref (const float *qkv, float *out, int s, int h, int heads, int bf16)
{
  int d = h / heads, ld = 3 * h;
  double scale = 1.0 / sqrt ((double) d);
  double *p = malloc ((s > 0 ? s : 1) * sizeof (double));

#define IN(x) (bf16 ? bf16_value (x) : (double) (x))
  if (p == NULL)
    return;
  for (int hd = 0; hd < heads; hd++)
    for (int i = 0; i < s; i++) {
      double max = -INFINITY, sum = 0.0;

      for (int j = 0; j < s; j++) {
        double dot = 0.0;
        for (int c = 0; c < d; c++)
          dot += IN (qkv[(size_t) i * ld + hd * d + c]) * IN (qkv[(size_t) j * ld + h + hd * d
                  + c]);
        p[j] = dot * scale;
        max = p[j] > max ? p[j] : max;
      }
      for (int j = 0; j < s; j++) {
        p[j] = exp (p[j] - max);
        sum += p[j];
      }
      for (int c = 0; c < d; c++) {
        double acc = 0.0;
        for (int j = 0; j < s; j++)
          acc += (bf16 ? bf16_value ((float) p[j]) : p[j])
              * IN (qkv[(size_t) j * ld + 2 * h + hd * d + c]);
        out[(size_t) i * h + hd * d + c] = (float) (acc / sum);
      }
    }
#undef IN
  free (p);
}

void
te_kern_attention_ref (const float *qkv, float *out, int s, int h, int heads)
{
  attention_ref (qkv, out, s, h, heads, 0);
}

void
te_kern_attention_bf16_ref (const float *qkv, float *out, int s, int h, int heads)
{
  attention_ref (qkv, out, s, h, heads, 1);
}
