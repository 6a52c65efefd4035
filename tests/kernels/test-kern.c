/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-kern.c — every CPU kernel against its naive double-precision reference, at odd shapes
 * (m, n, k not multiples of any tile; one row; k past a k block), at every level this build has
 * and this CPU runs, with 1 and 3 threads. Plain C and libc, like the kernels: the same file is
 * cross-built for aarch64 and run under qemu-user (tools/cross-aarch64.sh).
 *
 * With TE_CPU_LEVEL set, only that level is tested (and it must be supported). */
#include "te-kern.h"
#include "te-kern-private.h"    /* the levels' activation quantiser */

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures, checks;

static unsigned long long rng = 88172645463325252ULL;

static float
frand (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float) ((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* max |x - ref| over max(1, |ref|): relative for large values, absolute near zero */
static double
max_err (const float *x, const float *ref, size_t n)
{
  double e = 0.0;

  for (size_t i = 0; i < n; i++) {
    double d = fabs ((double) x[i] - ref[i]) / fmax (1.0, fabs (ref[i]));
    if (!(d <= e))
      e = isnan (d) ? INFINITY : d;
  }
  return e;
}

static void
check (int ok, const char *what, TeCpuLevel level, double err, int threads)
{
  checks++;
  if (!ok) {
    failures++;
    printf ("FAIL %s level=%s threads=%d err=%.3g\n", what, te_cpu_level_name (level),
        threads, err);
  }
}

static void
test_linear (TeCpuLevel level, TePool * pool, int m, int n, int k, int with_bias,
    TeKernEpilogue epi)
{
  float *A = malloc (sizeof (float) * ((size_t) m * k + 1));
  float *W = malloc (sizeof (float) * ((size_t) n * k + 1));
  float *bias = malloc (sizeof (float) * n);
  float *C = malloc (sizeof (float) * (size_t) m * n);
  float *R = malloc (sizeof (float) * (size_t) m * n);
  TeKernW *w;
  char what[128];
  double err;

  for (size_t i = 0; i < (size_t) m * k; i++)
    A[i] = frand ();
  for (size_t i = 0; i < (size_t) n * k; i++)
    W[i] = frand () * 0.2f;
  for (int i = 0; i < n; i++)
    bias[i] = frand ();
  w = te_kern_pack (level, W, with_bias ? bias : NULL, n, k);
  if (w == NULL) {
    check (0, "te_kern_pack", level, 0, 0);
    goto out;
  }
  for (size_t i = 0; i < (size_t) m * n; i++)
    C[i] = NAN;                 /* every output must be written */
  check (te_kern_linear (pool, w, A, C, m, epi) == 0, "te_kern_linear returns 0", level, 0,
      te_pool_threads (pool));
  te_kern_linear_ref (A, W, with_bias ? bias : NULL, R, m, n, k, epi);
  err = max_err (C, R, (size_t) m * n);
  snprintf (what, sizeof what, "linear m=%d n=%d k=%d bias=%d gelu=%d", m, n, k, with_bias,
      epi == TE_KERN_EPI_GELU);
  /* fp32 accumulation over k terms of size <= 0.2: a few ulps per term at most */
  check (err < 1e-5 * (1 + k / 64.0), what, level, err, te_pool_threads (pool));
  te_kern_free (w);
out:
  free (A);
  free (W);
  free (bias);
  free (C);
  free (R);
}

/* amp: the inputs' amplitude. 3 gives scores up to ~|d| (a peaked softmax); 12 gives score
 * differences in the hundreds, past exp's clamp at -87 and across its whole exponent range. */
static void
test_attention_amp (TeCpuLevel level, TePool * pool, int s, int h, int heads, float amp)
{
  float *qkv = malloc (sizeof (float) * (size_t) s * 3 * h);
  float *out = malloc (sizeof (float) * (size_t) s * h);
  float *ref = malloc (sizeof (float) * (size_t) s * h);
  char what[96];
  double err;

  for (size_t i = 0; i < (size_t) s * 3 * h; i++)
    qkv[i] = frand () * amp;
  for (size_t i = 0; i < (size_t) s * h; i++)
    out[i] = NAN;
  /* as two sequences: the first s1 rows and the rest */
  {
    size_t seg[3] = { 0, (size_t) s / 3, (size_t) s };
    int rc = te_kern_attention (pool, level, qkv, out, seg, 2, h, heads);
    check (rc == 0, "te_kern_attention returns 0", level, 0, te_pool_threads (pool));
    te_kern_attention_ref (qkv, ref, s / 3, h, heads);
    te_kern_attention_ref (qkv + (size_t) (s / 3) * 3 * h, ref + (size_t) (s / 3) * h,
        s - s / 3, h, heads);
  }
  err = max_err (out, ref, (size_t) s * h);
  snprintf (what, sizeof what, "attention s=%d h=%d heads=%d amp=%g", s, h, heads, amp);
  /* float32 scores carry a relative error, so an absolute one growing as amp^2, which the
   * softmax weights turn into relative errors of the outputs (amp): the bound scales as amp^3 */
  check (err < 2e-5 * powf (amp / 3.0f, 3.0f), what, level, err, te_pool_threads (pool));
  free (qkv);
  free (out);
  free (ref);
}

/* bf16 attention (level amx): against its own arithmetic in double (catches the tiles'
 * indexing: a wrong tile is errors of order 1) and against fp32 attention (bf16's effect:
 * relative L2 error under 1 %) */
static void
test_attention_bf16 (TeCpuLevel level, TePool * pool, int s, int h, int heads)
{
  float *qkv = malloc (sizeof (float) * (size_t) s * 3 * h);
  float *out = malloc (sizeof (float) * (size_t) s * h);
  float *ref = malloc (sizeof (float) * (size_t) s * h);
  float *ref32 = malloc (sizeof (float) * (size_t) s * h);
  size_t seg[3] = { 0, (size_t) s / 3, (size_t) s }, s1 = (size_t) s / 3;
  double err, num = 0.0, den = 0.0;
  char what[128];
  int rc;

  for (size_t i = 0; i < (size_t) s * 3 * h; i++)
    qkv[i] = frand () * 3.0f;
  for (size_t i = 0; i < (size_t) s * h; i++)
    out[i] = NAN;
  rc = te_kern_attention_bf16 (pool, level, qkv, out, seg, 2, h, heads);
  check (rc == 0, "te_kern_attention_bf16 returns 0", level, 0, te_pool_threads (pool));
  te_kern_attention_bf16_ref (qkv, ref, (int) s1, h, heads);
  te_kern_attention_bf16_ref (qkv + s1 * 3 * h, ref + s1 * h, s - (int) s1, h, heads);
  te_kern_attention_ref (qkv, ref32, (int) s1, h, heads);
  te_kern_attention_ref (qkv + s1 * 3 * h, ref32 + s1 * h, s - (int) s1, h, heads);
  err = max_err (out, ref, (size_t) s * h);
  snprintf (what, sizeof what, "attention_bf16 s=%d h=%d heads=%d vs its bf16 reference", s, h,
      heads);
  /* the kernel's scores and exp (4e-5) round a numerator to the neighbouring bf16 now and
   * then: 2^-8 of the output where one key dominates, |v| <= 3 here */
  check (err < 2e-2, what, level, err, te_pool_threads (pool));
  for (size_t i = 0; i < (size_t) s * h; i++) {
    num += ((double) out[i] - ref32[i]) * ((double) out[i] - ref32[i]);
    den += (double) ref32[i] * ref32[i];
  }
  err = isnan (num) ? INFINITY : sqrt (num / (den > 0 ? den : 1));
  snprintf (what, sizeof what, "attention_bf16 s=%d h=%d heads=%d: relative L2 error vs fp32",
      s, h, heads);
  check (err < 1e-2, what, level, err, te_pool_threads (pool));     /* measured 0.2-0.5 % */
  free (qkv);
  free (out);
  free (ref);
  free (ref32);
}

static void
test_attention (TeCpuLevel level, TePool * pool, int s, int h, int heads)
{
  test_attention_amp (level, pool, s, h, heads, 3.0f);
}

/* bf16 (where the CPU has it): the kernel against the reference (the same bf16 inputs, exact
 * products; only the fp32 summation differs), and against fp32 (bf16's 8-bit significand). */
static void
test_linear_bf16 (TeCpuLevel level, TePool * pool, int m, int n, int k, TeKernEpilogue epi)
{
  float *A = malloc (sizeof (float) * ((size_t) m * k + 1));
  float *W = malloc (sizeof (float) * ((size_t) n * k + 1));
  float *bias = malloc (sizeof (float) * n);
  float *C = malloc (sizeof (float) * (size_t) m * n);
  float *R = malloc (sizeof (float) * (size_t) m * n);
  float *F = malloc (sizeof (float) * (size_t) m * n);
  TeKernW *w;
  char what[160];
  double err, num = 0, den = 0;

  for (size_t i = 0; i < (size_t) m * k; i++)
    A[i] = frand ();
  for (size_t i = 0; i < (size_t) n * k; i++)
    W[i] = frand () * 0.2f;
  for (int i = 0; i < n; i++)
    bias[i] = frand ();
  w = te_kern_pack_bf16 (level, W, bias, n, k);
  if (w == NULL) {
    check (0, "te_kern_pack_bf16", level, 0, 0);
    goto out;
  }
  for (size_t i = 0; i < (size_t) m * n; i++)
    C[i] = NAN;
  check (te_kern_linear (pool, w, A, C, m, epi) == 0, "bf16 linear returns 0", level, 0,
      te_pool_threads (pool));
  te_kern_linear_bf16_ref (A, W, bias, R, m, n, k, epi);
  te_kern_linear_ref (A, W, bias, F, m, n, k, epi);
  err = max_err (C, R, (size_t) m * n);
  snprintf (what, sizeof what, "linear_bf16 m=%d n=%d k=%d gelu=%d vs bf16 reference", m, n, k,
      epi == TE_KERN_EPI_GELU);
  check (err < 1e-5 * (1 + k / 64.0), what, level, err, te_pool_threads (pool));
  for (size_t i = 0; i < (size_t) m * n; i++) {
    num += ((double) C[i] - F[i]) * ((double) C[i] - F[i]);
    den += (double) F[i] * F[i];
  }
  snprintf (what, sizeof what, "linear_bf16 m=%d n=%d k=%d: relative L2 error vs fp32", m, n, k);
  check (sqrt (num / den) < 0.01, what, level, sqrt (num / den), te_pool_threads (pool));
  te_kern_free (w);
out:
  free (A);
  free (W);
  free (bias);
  free (C);
  free (R);
  free (F);
}

/* int8: the kernel against the reference (same quantisation, exact integer sums: only the
 * requantisation's rounding differs), and int8 against fp32 (the quantisation error itself,
 * which must stay small for Gaussian-like data). */
static void
test_linear_q8 (TeCpuLevel level, TePool * pool, int m, int n, int k, TeKernEpilogue epi,
    int smoothed)
{
  float *A = malloc (sizeof (float) * ((size_t) m * k + 1));
  float *W = malloc (sizeof (float) * ((size_t) n * k + 1));
  float *bias = malloc (sizeof (float) * n);
  float *C = malloc (sizeof (float) * (size_t) m * n);
  float *R = malloc (sizeof (float) * (size_t) m * n);
  float *F = malloc (sizeof (float) * (size_t) m * n);
  TeKernQ *w;
  char what[160];
  double err, num = 0, den = 0;

  for (size_t i = 0; i < (size_t) m * k; i++)
    A[i] = frand () + frand () + frand ();
  for (size_t i = 0; i < (size_t) n * k; i++)
    W[i] = (frand () + frand ()) * 0.1f;
  for (int i = 0; i < n; i++)
    bias[i] = frand ();
  float *smooth = malloc (sizeof (float) * k);

  if (m > 2)                    /* an all-zero row: scale 0, output = bias */
    memset (A + (size_t) k, 0, sizeof (float) * k);
  /* an outlier channel (as in BERT's LayerNorm outputs), its range shared with the weights as
   * SmoothQuant does (the square root of the ratio) */
  for (int c = 0; c < k; c++)
    smooth[c] = c == 3 ? 3.0f : 0.75f + 0.1f * (c % 5);
  if (smoothed && k > 3)
    for (int i = 0; i < m; i++)
      A[(size_t) i * k + 3] *= 9.0f;
  w = te_kern_pack_q8 (level, W, bias, n, k, smoothed ? smooth : NULL);
  if (w == NULL) {
    check (0, "te_kern_pack_q8", level, 0, 0);
    goto out;
  }
  for (size_t i = 0; i < (size_t) m * n; i++)
    C[i] = NAN;
  check (te_kern_linear_q8 (pool, w, A, C, m, epi) == 0, "te_kern_linear_q8 returns 0", level,
      0, te_pool_threads (pool));
  te_kern_linear_q8_ref (A, W, bias, R, m, n, k, smoothed ? smooth : NULL, epi);
  te_kern_linear_ref (A, W, bias, F, m, n, k, epi);
  err = max_err (C, R, (size_t) m * n);
  snprintf (what, sizeof what, "linear_q8 (%s) m=%d n=%d k=%d gelu=%d smooth=%d vs int8 "
      "reference", te_kern_q8_name (w), m, n, k, epi == TE_KERN_EPI_GELU, smoothed);
  check (err < 1e-5, what, level, err, te_pool_threads (pool));
  for (size_t i = 0; i < (size_t) m * n; i++) {
    num += ((double) C[i] - F[i]) * ((double) C[i] - F[i]);
    den += (double) F[i] * F[i];
  }
  snprintf (what, sizeof what, "linear_q8 (%s) m=%d n=%d k=%d: relative L2 error vs fp32",
      te_kern_q8_name (w), m, n, k);
  check (sqrt (num / den) < 0.02, what, level, sqrt (num / den), te_pool_threads (pool));
  te_kern_q8_free (w);
out:
  free (smooth);
  free (A);
  free (W);
  free (bias);
  free (C);
  free (R);
  free (F);
}

/* The level's activation quantiser gives the reference's integers and scales exactly: rint
 * (x * mul * 127 / max) per group of TE_Q8_GROUP, ties to even (the group whose max is 127
 * has a scale of exactly 1, so x.5 values are exact ties), an all-zero group, the partial
 * group at the end, the padding; s8 and u8. */
static void
test_quantize_act (TeCpuLevel level)
{
  const TeKernOps *ops = te_kern_ops_for (level);
  enum { K = 3 * TE_Q8_GROUP + 21, KP = 4 * TE_Q8_GROUP, NG = KP / TE_Q8_GROUP };
  float x[K], mul[K];
  int bad = 0;

  for (int c = 0; c < K; c++) {
    x[c] = 40.0f * frand ();
    mul[c] = 0.5f + 0.25f * (c % 4);
  }
  x[5] = 127.0f;                /* group 0: max 127 (mul 0.75 where used: not then) */
  for (int c = 6; c < 30; c++)
    x[c] = (float) (c - 18) + 0.5f;     /* ties: -11.5 .. 11.5 */
  for (int c = TE_Q8_GROUP; c < 2 * TE_Q8_GROUP; c++)
    x[c] = 0.0f;                /* group 1: all zero */
  for (int with_mul = 0; with_mul < 2; with_mul++)
    for (int u8 = 0; u8 < 2; u8++) {
      int8_t q[KP];
      float sa[NG];

      memset (q, 0x55, sizeof q);
      ops->quantize_act (x, with_mul ? mul : NULL, K, KP, q, sa, u8);
      for (int g = 0; g < NG; g++) {
        int c0 = g * TE_Q8_GROUP, c1 = c0 + TE_Q8_GROUP < K ? c0 + TE_Q8_GROUP : K;
        float max = 0.0f, inv;

        for (int c = c0; c < c1; c++) {
          float v = with_mul ? x[c] * mul[c] : x[c];
          max = fabsf (v) > max ? fabsf (v) : max;
        }
        inv = max > 0.0f ? 127.0f / max : 0.0f;
        if (c0 < K && sa[g] != max / 127.0f)
          bad++;
        for (int c = c0; c < c0 + TE_Q8_GROUP; c++) {
          int want = c < K ? (int) rintf ((with_mul ? x[c] * mul[c] : x[c]) * inv) : 0;
          int got = u8 ? (uint8_t) q[c] - 128 : q[c];
          if (got != want)
            bad++;
        }
      }
    }
  check (bad == 0, "quantize_act: the reference's integers and scales", level, bad, 1);
}

typedef struct {
  int *hits;
} CountJob;

static void
count_task (void *data, int task, int worker)
{
  CountJob *job = data;

  (void) worker;
  __atomic_fetch_add (&job->hits[task], 1, __ATOMIC_RELAXED);
}

/* Every task of every run done exactly once, whether the workers are still spinning when the
 * next run comes (back to back) or have gone to sleep (a pause longer than the spin). */
static void
test_pool_runs (TeCpuLevel level)
{
  enum { RUNS = 300, TASKS = 7 };
  TePool *pool = te_pool_acquire (3);
  int *hits = calloc (RUNS * TASKS, sizeof (int)), bad = 0;

  for (int r = 0; r < RUNS; r++) {
    CountJob job = { hits + r * TASKS };

    if (r % 50 == 49) {
      struct timespec pause = { 0, 2000000 };   /* 2 ms: longer than the spin */
      nanosleep (&pause, NULL);
    }
    te_pool_run (pool, TASKS, count_task, &job);
  }
  for (int i = 0; i < RUNS * TASKS; i++)
    bad += hits[i] != 1;
  check (bad == 0, "pool: each task of 300 runs once, back to back and after sleeping",
      level, bad, 3);
  te_pool_release (pool);
  free (hits);
}

/* The GELU epilogue's erf and the softmax's exp over their whole useful range. */
static void
test_gelu_range (TeCpuLevel level)
{
  enum { N = 4001 };
  float *A = malloc (sizeof (float) * N), W = 1.0f, *C = malloc (sizeof (float) * N);
  double err = 0;
  TeKernW *w = te_kern_pack (level, &W, NULL, 1, 1);

  for (int i = 0; i < N; i++)
    A[i] = -10.0f + 20.0f * i / (N - 1);
  check (te_kern_linear (NULL, w, A, C, N, TE_KERN_EPI_GELU) == 0, "gelu linear returns 0",
      level, 0, 1);
  for (int i = 0; i < N; i++) {
    double x = A[i], ref = 0.5 * x * (1.0 + erf (x / sqrt (2.0)));
    double e = fabs (C[i] - ref);
    err = e > err || isnan (e) ? (isnan (e) ? INFINITY : e) : err;
  }
  check (err < 1e-6, "gelu over [-10, 10] (absolute)", level, err, 1);
  te_kern_free (w);
  free (A);
  free (C);
}

/* Threads in this process, from /proc/self/status (-1 where there is none). */
static int
process_threads (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  int n = -1;

  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f))
    if (sscanf (line, "Threads: %d", &n) == 1)
      break;
  fclose (f);
  return n;
}

typedef struct {
  TePool *pool;
  const TeKernW *w;
  const float *A;
  float *C;
  int m, rounds, rc;
} Runner;

static void *
runner (void *data)
{
  Runner *r = data;
  for (int i = 0; i < r->rounds && r->rc == 0; i++)
    r->rc = te_kern_linear (r->pool, r->w, r->A, r->C, r->m, TE_KERN_EPI_NONE);
  return NULL;
}

/* Two encoders asking for 3 threads share one pool of 2 workers (not 4), and running at the
 * same time both get exact results (the one that finds the pool busy computes alone). */
static void
test_pool_sharing (TeCpuLevel level)
{
  enum { M = 200, N = 96, K = 64 };
  int before = process_threads (), after;
  TePool *a = te_pool_acquire (3), *b = te_pool_acquire (3);
  float *A = malloc (sizeof (float) * M * K), *W = malloc (sizeof (float) * N * K);
  float *C1 = malloc (sizeof (float) * M * N), *C2 = malloc (sizeof (float) * M * N);
  float *R = malloc (sizeof (float) * M * N);
  TeKernW *w;
  Runner r1, r2;
  pthread_t t1, t2;

  after = process_threads ();
  check (a == b, "te_pool_acquire (3) twice: the same pool", level, 0, 3);
  check (before < 0 || after - before <= 2, "one pool of 3 starts at most 2 workers", level,
      after - before, 3);
  for (int i = 0; i < M * K; i++)
    A[i] = frand ();
  for (int i = 0; i < N * K; i++)
    W[i] = frand ();
  w = te_kern_pack (level, W, NULL, N, K);
  te_kern_linear_ref (A, W, NULL, R, M, N, K, TE_KERN_EPI_NONE);
  r1 = (Runner) { a, w, A, C1, M, 200, 0 };
  r2 = (Runner) { b, w, A, C2, M, 200, 0 };
  pthread_create (&t1, NULL, runner, &r1);
  pthread_create (&t2, NULL, runner, &r2);
  pthread_join (t1, NULL);
  pthread_join (t2, NULL);
  check (r1.rc == 0 && r2.rc == 0, "concurrent runs return 0", level, 0, 3);
  check (max_err (C1, R, M * N) < 1e-5 && max_err (C2, R, M * N) < 1e-5,
      "concurrent runs on one pool are exact", level, fmax (max_err (C1, R, M * N),
          max_err (C2, R, M * N)), 3);
  te_kern_free (w);
  te_pool_release (a);
  te_pool_release (b);
  free (A);
  free (W);
  free (C1);
  free (C2);
  free (R);
}

int
main (void)
{
  static const int shapes[][3] = {
    {1, 1, 1}, {4, 40, 17}, {2, 3, 4}, {1, 33, 7}, {5, 17, 3}, {13, 31, 29}, {12, 32, 256}, {25, 65, 257},
    {7, 100, 384}, {37, 383, 385}, {130, 97, 600}, {3, 1536, 384}, {64, 384, 1536},
    {401, 40, 1536},            /* past the int8 kernels' row block (256 KB of activations) */
  };
  int only = -1;
  char err[256];

  if (getenv ("TE_CPU_LEVEL") != NULL) {
    only = te_cpu_level_select (err, sizeof err);
    if (only < 0) {
      printf ("FAIL %s\n", err);
      return 1;
    }
  }
  printf ("cpu features: %s; best level %s\n", te_cpu_features_string (),
      te_cpu_level_name (te_cpu_best_level ()));
  for (int level = 0; level < TE_CPU_N_LEVELS; level++) {
    static const int thread_counts[] = { 1, 3 };

    if (only >= 0 && level != only)
      continue;
    if (!te_kern_level_available (level) || !te_cpu_level_supported (level)) {
      printf ("level %s: not on this build/CPU\n", te_cpu_level_name (level));
      continue;
    }
    printf ("level %s (int8 kernel %s, bf16 kernel %s)\n", te_cpu_level_name (level),
        te_kern_q8_name_for (level),
        te_kern_bf16_available (level) ? te_kern_bf16_name_for (level) : "none");
    for (int t = 0; t < 2; t++) {
      TePool *pool = te_pool_acquire (thread_counts[t]);

      for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        test_linear (level, pool, shapes[i][0], shapes[i][1], shapes[i][2], 1,
            TE_KERN_EPI_NONE);
        test_linear (level, pool, shapes[i][0], shapes[i][1], shapes[i][2], 0,
            TE_KERN_EPI_GELU);
        test_linear_q8 (level, pool, shapes[i][0], shapes[i][1], shapes[i][2],
            i % 2 ? TE_KERN_EPI_GELU : TE_KERN_EPI_NONE, i % 3 == 0);
        if (te_kern_bf16_available (level))
          test_linear_bf16 (level, pool, shapes[i][0], shapes[i][1], shapes[i][2],
              i % 2 ? TE_KERN_EPI_GELU : TE_KERN_EPI_NONE);
      }
      test_attention (level, pool, 1, 64, 2);
      test_attention (level, pool, 5, 48, 3);   /* d = 16 */
      test_attention (level, pool, 17, 36, 3);  /* d = 12: not a vector multiple */
      test_attention (level, pool, 128, 384, 12);
      test_attention (level, pool, 77, 384, 12);
      test_attention (level, pool, 300, 64, 2);
      test_attention_amp (level, pool, 77, 384, 12, 12.0f);
      test_attention_amp (level, pool, 40, 64, 2, 12.0f);
      if (te_kern_attention_bf16_available (level, 32)) {
        test_attention_bf16 (level, pool, 3, 64, 2);    /* d = 32, one key block */
        test_attention_bf16 (level, pool, 77, 384, 12); /* MiniLM's heads */
        test_attention_bf16 (level, pool, 300, 128, 2); /* d = 64; odd blocks of keys */
        test_attention_bf16 (level, pool, 49, 768, 12); /* BERT-base's heads */
      } else {
        check (te_kern_attention_bf16 (pool, level, NULL, NULL, NULL, 0, 64, 2) == -1,
            "te_kern_attention_bf16 refused where unavailable", level, 0, 1);
      }
      check (!te_kern_attention_bf16_available (level, 48),
          "no bf16 attention for head size 48", level, 0, 1);
      te_pool_release (pool);
    }
    test_gelu_range (level);
    test_quantize_act (level);
    test_pool_sharing (level);
    test_pool_runs (level);
  }
  printf ("%d checks, %d failed\n", checks, failures);
  return failures == 0 && checks > 0 ? 0 : 1;
}
