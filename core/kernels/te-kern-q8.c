/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-q8.c — int8 linear layers: weight quantisation and packing, per-token activation
 * quantisation, threading, the portable kernel and the reference (te-kern.h). */
#include "te-kern-private.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KMAX 65536              /* 65536 * 255 * 127 < 2^31: int32 sums cannot overflow */

/* q[j] = rint (x[j] * 127 / max|x|) (|q| <= 127: the max maps to exactly 127), returns the
 * scale max|x| / 127 (0 for an all-zero row). The reference; each level's quantize_row
 * (te-kern-impl.h) computes the same integers, vectorised. */
static float
quantize_row (const float *x, int n, int8_t * q, int u8)
{
  float max = 0.0f, inv;

  for (int j = 0; j < n; j++) {
    float a = fabsf (x[j]);
    max = a > max ? a : max;
  }
  inv = max > 0.0f ? 127.0f / max : 0.0f;
  for (int j = 0; j < n; j++) {
    int v = (int) rintf (x[j] * inv);
    q[j] = (int8_t) (u8 ? (uint8_t) (v + 128) : v);
  }
  return max / 127.0f;
}

static const TeKernQOps *
q8_ops_for (TeCpuLevel level)
{
  const TeCpuFeatures *f = te_cpu_features ();

  switch (level) {
#if defined(__x86_64__)
    case TE_CPU_AMX:
      return te_cpu_level_supported (TE_CPU_AMX) ? &te_kern_q8_amx : NULL;
    case TE_CPU_AVX512:
      return f->avx512_vnni ? &te_kern_q8_avx512_vnni : &te_kern_q8_avx2;
    case TE_CPU_AVX2:
      return &te_kern_q8_avx2;
#endif
#if defined(__aarch64__)
    case TE_CPU_NEON:
      return f->neon_dotprod ? &te_kern_q8_neon_dotprod : &te_kern_q8_portable;
#endif
    case TE_CPU_PORTABLE:
      (void) f;
      return &te_kern_q8_portable;
    default:
      (void) f;
      return NULL;
  }
}

const char *
te_kern_q8_name_for (TeCpuLevel level)
{
  const TeKernQOps *ops = q8_ops_for (level);
  return ops ? ops->name : "none";
}

TeKernQ *
te_kern_pack_q8 (TeCpuLevel level, const float *W, const float *bias, int n, int k,
    const float *smooth)
{
  const TeKernQOps *ops = q8_ops_for (level);
  TeKernQ *w;
  int8_t *row;
  float *wrow = NULL;
  size_t cols;

  if (ops == NULL || n <= 0 || k <= 0 || k > KMAX)
    return NULL;
  for (int c = 0; smooth != NULL && c < k; c++)
    if (!(smooth[c] > 0.0f) || !isfinite (smooth[c]))
      return NULL;
  w = calloc (1, sizeof *w);
  if (w == NULL)
    return NULL;
  w->ops = ops;
  w->f32 = te_kern_ops_for (level);
  w->n = n;
  w->k = k;
  w->kp = (k + TE_Q8_GROUP - 1) / TE_Q8_GROUP * TE_Q8_GROUP;
  w->ng = w->kp / TE_Q8_GROUP;
  w->nr = ops->nr;
  w->n_panels = (n + ops->nr - 1) / ops->nr;
  cols = (size_t) w->n_panels * ops->nr;
  w->data = te_kern_alloc_aligned (cols * w->kp);
  w->scale = te_kern_alloc_aligned (cols * sizeof (float));
  w->bias = te_kern_alloc_aligned (cols * sizeof (float));
  w->acc0 = te_kern_alloc_aligned ((size_t) w->ng * cols * sizeof (int32_t));
  row = malloc (w->kp);
  if (smooth != NULL) {
    w->act_mul = malloc (sizeof (float) * k);
    wrow = malloc (sizeof (float) * k);
  }
  if (!w->data || !w->scale || !w->bias || !w->acc0 || !row
      || (smooth != NULL && (!w->act_mul || !wrow))) {
    free (row);
    free (wrow);
    te_kern_q8_free (w);
    return NULL;
  }
  for (int c = 0; smooth != NULL && c < k; c++)
    w->act_mul[c] = 1.0f / smooth[c];
  w->bytes = cols * (w->kp + 2 * sizeof (float) + w->ng * sizeof (int32_t));
  for (size_t col = 0; col < cols; col++) {
    int p = (int) (col / ops->nr), j = (int) (col % ops->nr);
    int8_t *panel = w->data + (size_t) p * w->kp * ops->nr;

    memset (row, 0, w->kp);
    /* the level's vectorised copy of quantize_row: the same integers as the reference, whose
     * rintf is a libc call when built for baseline x86-64 (most of the start-up) */
    if (col < (size_t) n && smooth != NULL) {
      for (int c = 0; c < k; c++)
        wrow[c] = W[col * k + c] * smooth[c];
      w->scale[col] = w->f32->quantize_row (wrow, k, row, 0);
    } else {
      w->scale[col] = col < (size_t) n ? w->f32->quantize_row (W + col * k, k, row, 0) : 0.0f;
    }
    w->bias[col] = bias != NULL && col < (size_t) n ? bias[col] : 0.0f;
    /* column j's 4 consecutive k of each quad, side by side with the panel's other columns */
    for (int q = 0; q < w->kp / 4; q++)
      memcpy (panel + ((size_t) q * ops->nr + j) * 4, row + 4 * q, 4);
    for (int g = 0; g < w->ng; g++) {
      int32_t sum = 0;
      for (int kk = g * TE_Q8_GROUP; kk < (g + 1) * TE_Q8_GROUP; kk++)
        sum += row[kk];
      w->acc0[(size_t) g * cols + col] = ops->act_u8 ? -128 * sum : 0;
    }
  }
  free (row);
  free (wrow);
  return w;
}

void
te_kern_q8_free (TeKernQ * w)
{
  if (w == NULL)
    return;
  free (w->data);
  free (w->scale);
  free (w->bias);
  free (w->acc0);
  free (w->act_mul);
  free (w);
}

size_t
te_kern_q8_bytes (const TeKernQ * w)
{
  return w ? w->bytes : 0;
}

const char *
te_kern_q8_name (const TeKernQ * w)
{
  return w->ops->name;
}

/* ---- the portable kernel: one row at a time, a panel's accumulators in an array ---- */

#define PNR 8

static void
q8_panels_portable (const TeKernQ * w, const int8_t * Aq, const float *sa, float *C, int m,
    int p0, int p1, TeKernEpilogue epi)
{
  size_t cols = (size_t) w->n_panels * PNR;

  for (int p = p0; p < p1; p++) {
    const int8_t *B = w->data + (size_t) p * w->kp * PNR;
    int n0 = p * PNR, nr = w->n - n0 < PNR ? w->n - n0 : PNR;

    for (int i = 0; i < m; i++) {
      const int8_t *a = Aq + (size_t) i * w->kp;
      float facc[PNR] = { 0 };

      for (int g = 0; g < w->ng; g++) {
        int32_t acc[PNR];
        float s = sa[(size_t) i * w->ng + g];

        for (int j = 0; j < PNR; j++)
          acc[j] = w->acc0[g * cols + n0 + j];
        for (int kg = g * TE_Q8_GROUP / 4; kg < (g + 1) * TE_Q8_GROUP / 4; kg++)
          for (int j = 0; j < PNR; j++)
            for (int t = 0; t < 4; t++)
              acc[j] += a[4 * kg + t] * B[((size_t) kg * PNR + j) * 4 + t];
        for (int j = 0; j < PNR; j++)
          facc[j] += (float) acc[j] * s;
      }
      for (int j = 0; j < nr; j++)
        C[(size_t) i * w->n + n0 + j] = facc[j] * w->scale[n0 + j] + w->bias[n0 + j];
      if (epi == TE_KERN_EPI_GELU)
        w->f32->gelu (C + (size_t) i * w->n + n0, (size_t) nr);
    }
  }
}

const TeKernQOps te_kern_q8_portable = {
  .name = "portable",
  .nr = PNR,
  .mr = 1,
  .act_u8 = 0,
  .panels = q8_panels_portable,
};

/* ---- threading: quantise rows, then panels x rows as for fp32 ---- */

typedef struct {
  const TeKernQ *w;
  const float *A;
  int8_t *Aq;
  float *sa;
  float *C;
  int m, rows_per_task;         /* of the quantisation */
  TeKernSplit split;            /* of the products */
  TeKernEpilogue epi;
} Q8Job;

static void
quant_task (void *data, int task, int worker)
{
  Q8Job *job = data;
  const TeKernQ *w = job->w;
  int r0 = task * job->rows_per_task;
  int r1 = r0 + job->rows_per_task < job->m ? r0 + job->rows_per_task : job->m;

  (void) worker;
  for (int r = r0; r < r1; r++)
    w->f32->quantize_act (job->A + (size_t) r * w->k, w->act_mul, w->k, w->kp,
        job->Aq + (size_t) r * w->kp, job->sa + (size_t) r * w->ng, w->ops->act_u8);
}

static void
q8_task (void *data, int task, int worker)
{
  Q8Job *job = data;
  const TeKernQ *w = job->w;
  int m0, m1, p0, p1;

  (void) worker;
  te_kern_split_task (&job->split, task, job->m, w->n_panels, &m0, &m1, &p0, &p1);
  w->ops->panels (w, job->Aq + (size_t) m0 * w->kp, job->sa + (size_t) m0 * w->ng,
      job->C + (size_t) m0 * w->n, m1 - m0, p0, p1, job->epi);
}

/* The quantised activations of one call (m x kp bytes, then m x ng scales), in a buffer kept
 * per calling thread between calls and grown to the largest: a fresh one per call was mapped
 * and zero-filled by the kernel page by page (several MB at batch 32). Freed when the thread
 * exits. */
typedef struct {
  void *data;
  size_t bytes;
} Q8Scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void
scratch_free (void *data)
{
  Q8Scratch *s = data;

  free (s->data);
  free (s);
}

static void
scratch_key_create (void)
{
  scratch_key_ok = pthread_key_create (&scratch_key, scratch_free) == 0;
}

/* @bytes of 64-byte aligned scratch for the calling thread, NULL when out of memory. */
static void *
scratch_get (size_t bytes)
{
  Q8Scratch *s;

  pthread_once (&scratch_once, scratch_key_create);
  if (!scratch_key_ok)
    return NULL;
  s = pthread_getspecific (scratch_key);
  if (s == NULL) {
    if ((s = calloc (1, sizeof *s)) == NULL)
      return NULL;
    if (pthread_setspecific (scratch_key, s) != 0) {
      free (s);
      return NULL;
    }
  }
  if (s->bytes < bytes) {
    free (s->data);
    s->bytes = 0;
    if ((s->data = te_kern_alloc_aligned (bytes)) == NULL)
      return NULL;
    s->bytes = bytes;
  }
  return s->data;
}

int
te_kern_linear_q8 (TePool * pool, const TeKernQ * w, const float *A, float *C, int m,
    TeKernEpilogue epi)
{
  Q8Job job = { .w = w, .A = A, .C = C, .m = m, .epi = epi };
  int threads = te_pool_threads (pool);
  size_t aq_bytes = ((size_t) (m + w->ops->pad_rows) * w->kp + 63) / 64 * 64;
  char *scratch;

  if (m <= 0)
    return 0;
  scratch = scratch_get (aq_bytes + (size_t) (m + w->ops->pad_rows) * w->ng * sizeof (float));
  if (scratch == NULL)
    return -1;
  job.Aq = (int8_t *) scratch;
  job.sa = (float *) (scratch + aq_bytes);
  memset (job.Aq + (size_t) m * w->kp, 0, (size_t) w->ops->pad_rows * w->kp);
  memset (job.sa + (size_t) m * w->ng, 0, (size_t) w->ops->pad_rows * w->ng * sizeof (float));
  job.rows_per_task = (m + threads - 1) / threads;
  te_pool_run (pool, (m + job.rows_per_task - 1) / job.rows_per_task, quant_task, &job);
  te_kern_split (threads, m, w->ops->mr, w->n_panels, &job.split);
  te_pool_run (pool, job.split.tasks, q8_task, &job);
  return 0;
}

void
te_kern_linear_q8_ref (const float *A, const float *W, const float *bias, float *C, int m,
    int n, int k, const float *smooth, TeKernEpilogue epi)
{
  size_t kk = k > 0 ? k : 1;
  int8_t *aq = malloc (kk), *wq = malloc ((size_t) (n > 0 ? n : 1) * kk);
  float *sw = malloc (sizeof (float) * (n > 0 ? n : 1)), *tmp = malloc (sizeof (float) * kk);
  float *sag = malloc (sizeof (float) * (kk + TE_Q8_GROUP - 1) / TE_Q8_GROUP);

  if (!aq || !wq || !sw || !tmp || !sag)
    goto out;
  for (int j = 0; j < n; j++) {
    for (int c = 0; c < k; c++)
      tmp[c] = W[(size_t) j * k + c] * (smooth ? smooth[c] : 1.0f);
    sw[j] = quantize_row (tmp, k, wq + (size_t) j * k, 0);
  }
  for (int i = 0; i < m; i++) {
    for (int c = 0; c < k; c++)
      tmp[c] = smooth ? A[(size_t) i * k + c] * (1.0f / smooth[c]) : A[(size_t) i * k + c];
    for (int c0 = 0; c0 < k; c0 += TE_Q8_GROUP)
      sag[c0 / TE_Q8_GROUP] = quantize_row (tmp + c0,
          k - c0 < TE_Q8_GROUP ? k - c0 : TE_Q8_GROUP, aq + c0, 0);
    for (int j = 0; j < n; j++) {
      double y = 0.0;
      for (int c0 = 0; c0 < k; c0 += TE_Q8_GROUP) {
        int64_t acc = 0;
        for (int p = c0; p < k && p < c0 + TE_Q8_GROUP; p++)
          acc += aq[p] * wq[(size_t) j * k + p];
        y += (double) acc * sag[c0 / TE_Q8_GROUP];
      }
      y = y * sw[j] + (bias ? bias[j] : 0.0);
      if (epi == TE_KERN_EPI_GELU)
        y = 0.5 * y * (1.0 + erf (y / sqrt (2.0)));
      C[(size_t) i * n + j] = (float) y;
    }
  }
out:
  free (aq);
  free (wq);
  free (sw);
  free (tmp);
  free (sag);
}
