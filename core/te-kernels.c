/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kernels.c — dense kernels of the encoder (OpenBLAS sgemm for the matrix products, AVX2 for
 * GELU / softmax / LayerNorm when available) and their naive reference versions for the tests. */
#include "te-kernels.h"

#include <math.h>
#include <string.h>
#include "te-blas.h"

/* erff and expf dominate the non-sgemm time (GELU over [tokens, intermediate], softmax over
 * [s, s] per head). glibc >= 2.35 ships 8-lane AVX2 versions of both in libmvec, which -lm
 * already links (libm.so is a linker script naming it AS_NEEDED). They are glibc's own erff and
 * expf, vectorised (a couple of ulps at most), and are used when the CPU has AVX2 + FMA. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ (2, 35)
#define TE_HAVE_AVX2_PATHS 1
#endif
#endif

#ifdef TE_HAVE_AVX2_PATHS
#include <immintrin.h>

/* Everything up to the matching pop is compiled for AVX2+FMA (called only when cpuid says so).
 * clang (the fuzzing build) has no "GCC target" pragma: it spells the same with an attribute. */
#ifdef __clang__
#pragma clang attribute push (__attribute__ ((target ("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target ("avx2,fma")
#endif
/* Vector-function ABI names of erff / expf for 8 floats in a ymm register. */
extern __m256 _ZGVdN8v_erff (__m256 x);
extern __m256 _ZGVdN8v_expf (__m256 x);

static void
gelu_avx2 (float *x, gsize n)
{
  const __m256 half = _mm256_set1_ps (0.5f), one = _mm256_set1_ps (1.0f);
  const __m256 inv_sqrt2 = _mm256_set1_ps (0.70710678118654752f);
  gsize i = 0;

  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps (x + i);
    __m256 e = _ZGVdN8v_erff (_mm256_mul_ps (v, inv_sqrt2));
    _mm256_storeu_ps (x + i, _mm256_mul_ps (_mm256_mul_ps (half, v), _mm256_add_ps (one, e)));
  }
  for (; i < n; i++)
    x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * 0.70710678118654752f));
}

static float
hmax256 (__m256 v)
{
  __m128 m = _mm_max_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  m = _mm_max_ps (m, _mm_movehl_ps (m, m));
  m = _mm_max_ss (m, _mm_shuffle_ps (m, m, 1));
  return _mm_cvtss_f32 (m);
}

static float
hsum256 (__m256 v)
{
  __m128 m = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  m = _mm_add_ps (m, _mm_movehl_ps (m, m));
  m = _mm_add_ss (m, _mm_shuffle_ps (m, m, 1));
  return _mm_cvtss_f32 (m);
}

/* Softmax of row[0..s) in place; masked entries already hold -inf and at least one does not. */
static void
softmax_avx2 (float *row, int s)
{
  __m256 vmax = _mm256_set1_ps (-INFINITY), vsum = _mm256_setzero_ps (), vm, vinv;
  float max, sum, inv;
  int j = 0;

  for (; j + 8 <= s; j += 8)
    vmax = _mm256_max_ps (vmax, _mm256_loadu_ps (row + j));
  max = hmax256 (vmax);
  for (; j < s; j++)
    max = MAX (max, row[j]);
  vm = _mm256_set1_ps (max);
  for (j = 0; j + 8 <= s; j += 8) {
    __m256 e = _ZGVdN8v_expf (_mm256_sub_ps (_mm256_loadu_ps (row + j), vm));
    _mm256_storeu_ps (row + j, e);
    vsum = _mm256_add_ps (vsum, e);
  }
  sum = hsum256 (vsum);
  for (; j < s; j++) {
    row[j] = expf (row[j] - max);
    sum += row[j];
  }
  inv = 1.0f / sum;
  vinv = _mm256_set1_ps (inv);
  for (j = 0; j + 8 <= s; j += 8)
    _mm256_storeu_ps (row + j, _mm256_mul_ps (_mm256_loadu_ps (row + j), vinv));
  for (; j < s; j++)
    row[j] *= inv;
}
static double
hsum256d (__m256d v)
{
  __m128d m = _mm_add_pd (_mm256_castpd256_pd128 (v), _mm256_extractf128_pd (v, 1));
  return _mm_cvtsd_f64 (_mm_add_sd (m, _mm_unpackhi_pd (m, m)));
}

/* One LayerNorm row, same arithmetic as the scalar loop below: statistics in double. */
static void
layernorm_row_avx2 (float *row, const float *res, const float *g, const float *b, int h,
    float eps)
{
  __m256d s0 = _mm256_setzero_pd (), s1 = _mm256_setzero_pd (), vmean, vinv;
  double sum, var, mean, inv;
  int i;

  if (res != NULL) {
    for (i = 0; i + 8 <= h; i += 8)
      _mm256_storeu_ps (row + i, _mm256_add_ps (_mm256_loadu_ps (row + i),
              _mm256_loadu_ps (res + i)));
    for (; i < h; i++)
      row[i] += res[i];
  }
  for (i = 0; i + 8 <= h; i += 8) {
    __m256 v = _mm256_loadu_ps (row + i);
    s0 = _mm256_add_pd (s0, _mm256_cvtps_pd (_mm256_castps256_ps128 (v)));
    s1 = _mm256_add_pd (s1, _mm256_cvtps_pd (_mm256_extractf128_ps (v, 1)));
  }
  sum = hsum256d (_mm256_add_pd (s0, s1));
  for (; i < h; i++)
    sum += row[i];
  mean = sum / h;

  vmean = _mm256_set1_pd (mean);
  s0 = s1 = _mm256_setzero_pd ();
  for (i = 0; i + 8 <= h; i += 8) {
    __m256 v = _mm256_loadu_ps (row + i);
    __m256d d0 = _mm256_sub_pd (_mm256_cvtps_pd (_mm256_castps256_ps128 (v)), vmean);
    __m256d d1 = _mm256_sub_pd (_mm256_cvtps_pd (_mm256_extractf128_ps (v, 1)), vmean);
    s0 = _mm256_fmadd_pd (d0, d0, s0);
    s1 = _mm256_fmadd_pd (d1, d1, s1);
  }
  var = hsum256d (_mm256_add_pd (s0, s1));
  for (; i < h; i++)
    var += (row[i] - mean) * (row[i] - mean);
  inv = 1.0 / sqrt (var / h + eps);

  vinv = _mm256_set1_pd (inv);
  for (i = 0; i + 8 <= h; i += 8) {
    __m256 v = _mm256_loadu_ps (row + i);
    __m256d n0 = _mm256_mul_pd (_mm256_sub_pd (_mm256_cvtps_pd (_mm256_castps256_ps128 (v)),
            vmean), vinv);
    __m256d n1 = _mm256_mul_pd (_mm256_sub_pd (_mm256_cvtps_pd (_mm256_extractf128_ps (v, 1)),
            vmean), vinv);
    __m256d g0 = _mm256_cvtps_pd (_mm_loadu_ps (g + i)), g1 = _mm256_cvtps_pd (_mm_loadu_ps (g + i + 4));
    __m256d b0 = _mm256_cvtps_pd (_mm_loadu_ps (b + i)), b1 = _mm256_cvtps_pd (_mm_loadu_ps (b + i + 4));
    /* n * g + b in double (fused), rounded once to float. */
    __m128 lo = _mm256_cvtpd_ps (_mm256_fmadd_pd (n0, g0, b0));
    __m128 hi = _mm256_cvtpd_ps (_mm256_fmadd_pd (n1, g1, b1));
    _mm256_storeu_ps (row + i, _mm256_set_m128 (hi, lo));
  }
  for (; i < h; i++)
    row[i] = (float) ((row[i] - mean) * inv * g[i] + b[i]);
}
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* Decided once per process; TEXTEMBED_NO_SIMD=1 forces the portable scalar code (tests use it
 * to check those paths too). */
static gboolean
have_avx2 (void)
{
  static gsize once = 0;
  static gboolean avx2;

  if (g_once_init_enter (&once)) {
    avx2 = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma")
        && g_strcmp0 (g_getenv ("TEXTEMBED_NO_SIMD"), "1") != 0;
    g_once_init_leave (&once, 1);
  }
  return avx2;
}
#endif

/* ---- linear ---- */

void
te_linear (const float *A, const float *W, const float *bias, float *C, int m, int n, int k)
{
  float beta = 0.0f;

  if (m <= 0 || n <= 0)
    return;
  if (bias != NULL) {
    /* Seed C with the bias and let sgemm accumulate onto it (beta = 1). */
    for (int i = 0; i < m; i++)
      memcpy (C + (gsize) i * n, bias, (gsize) n * sizeof (float));
    beta = 1.0f;
  }
  if (k <= 0) {
    if (bias == NULL)
      memset (C, 0, (gsize) m * n * sizeof (float));
    return;
  }
  /* Row-major C[m,n] = A[m,k] · W[n,k]^T: W stays in PyTorch's [out, in] layout. */
  te_blas_sgemm (TE_BLAS_NO_TRANS, TE_BLAS_TRANS, m, n, k, 1.0f, A, k, W, k, beta, C, n);
}

void
te_linear_ref (const float *A, const float *W, const float *bias, float *C, int m, int n, int k)
{
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (int p = 0; p < k; p++)
        acc += (double) A[(gsize) i * k + p] * W[(gsize) j * k + p];
      C[(gsize) i * n + j] = (float) acc;
    }
  }
}

/* ---- layernorm ---- */

/* Statistics in double (two passes: mean, then centred variance) so that rows with a large
 * common offset do not lose precision; the output itself is float. */
void
te_layernorm (float *x, const float *residual, const float *g, const float *b, int rows,
    int h, float eps)
{
#ifdef TE_HAVE_AVX2_PATHS
  if (have_avx2 ()) {
    for (int r = 0; r < rows; r++)
      layernorm_row_avx2 (x + (gsize) r * h, residual ? residual + (gsize) r * h : NULL, g, b,
          h, eps);
    return;
  }
#endif
  for (int r = 0; r < rows; r++) {
    float *row = x + (gsize) r * h;
    double sum = 0.0, var = 0.0, mean, inv;

    if (residual != NULL) {
      const float *res = residual + (gsize) r * h;
      for (int i = 0; i < h; i++)
        row[i] += res[i];
    }
    for (int i = 0; i < h; i++)
      sum += row[i];
    mean = sum / h;
    for (int i = 0; i < h; i++) {
      double d = row[i] - mean;
      var += d * d;
    }
    inv = 1.0 / sqrt (var / h + eps);
    /* A constant row has var 0: every output is exactly b (0 * inv), never NaN. */
    for (int i = 0; i < h; i++)
      row[i] = (float) ((row[i] - mean) * inv * g[i] + b[i]);
  }
}

void
te_layernorm_ref (float *x, const float *residual, const float *g, const float *b, int rows,
    int h, float eps)
{
  for (int r = 0; r < rows; r++) {
    float *row = x + (gsize) r * h;
    double mean = 0.0, var = 0.0;

    /* The sum x + residual is a float hidden state (as in PyTorch); the rest is double. */
    if (residual != NULL)
      for (int i = 0; i < h; i++)
        row[i] = row[i] + residual[(gsize) r * h + i];
    for (int i = 0; i < h; i++)
      mean += row[i];
    mean /= h;
    for (int i = 0; i < h; i++)
      var += (row[i] - mean) * (row[i] - mean);
    var /= h;
    for (int i = 0; i < h; i++)
      row[i] = (float) ((row[i] - mean) / sqrt (var + eps) * g[i] + b[i]);
  }
}

/* ---- GELU ---- */

void
te_gelu_erf (float *x, gsize n)
{
  const float inv_sqrt2 = 0.70710678118654752f;

#ifdef TE_HAVE_AVX2_PATHS
  if (have_avx2 ()) {
    gelu_avx2 (x, n);
    return;
  }
#endif
  for (gsize i = 0; i < n; i++) {
    float v = x[i];
    x[i] = 0.5f * v * (1.0f + erff (v * inv_sqrt2));
  }
}

void
te_gelu_erf_ref (float *x, gsize n)
{
  for (gsize i = 0; i < n; i++) {
    double v = x[i];
    x[i] = (float) (0.5 * v * (1.0 + erf (v / G_SQRT2)));
  }
}

/* ---- attention ---- */

/* Softmax of @row[0..s) in place, over the keys with mask != 0 only; the others get 0.
 * A row whose keys are all padding comes out all zero rather than NaN. */
static void
masked_softmax_row (float *row, const gint32 * mask, int s)
{
  float max = -INFINITY, sum = 0.0f, inv;

  for (int j = 0; j < s; j++) {
    if (mask[j] == 0)
      row[j] = -INFINITY;       /* exp(-inf - max) = 0: padded keys drop out */
    else if (row[j] > max)
      max = row[j];
  }
  if (max == -INFINITY) {
    memset (row, 0, (gsize) s * sizeof (float));
    return;
  }
#ifdef TE_HAVE_AVX2_PATHS
  if (have_avx2 ()) {
    softmax_avx2 (row, s);
    return;
  }
#endif
  for (int j = 0; j < s; j++) {
    /* Subtracting the max keeps every exp <= 1: no overflow whatever the scores. */
    float e = expf (row[j] - max);
    row[j] = e;
    sum += e;
  }
  inv = 1.0f / sum;
  for (int j = 0; j < s; j++)
    row[j] *= inv;
}

void
te_attention (const float *qkv, const gint32 * mask, float *out, int s, int h, int heads,
    float *scratch)
{
  int d = h / heads;
  int ld = 3 * h;
  float scale = 1.0f / sqrtf ((float) d);

  if (s <= 0)
    return;
  for (int hd = 0; hd < heads; hd++) {
    const float *q = qkv + hd * d;
    const float *k = qkv + h + hd * d;
    const float *v = qkv + 2 * h + hd * d;

    /* scores[s,s] = scale · Q_h · K_h^T, Q_h and K_h being [s,d] column slices of qkv. */
    te_blas_sgemm (TE_BLAS_NO_TRANS, TE_BLAS_TRANS, s, s, d, scale, q, ld, k, ld, 0.0f, scratch,
        s);
    for (int i = 0; i < s; i++)
      masked_softmax_row (scratch + (gsize) i * s, mask, s);
    /* out[:, head slice] = P · V_h */
    te_blas_sgemm (TE_BLAS_NO_TRANS, TE_BLAS_NO_TRANS, s, d, s, 1.0f, scratch, s, v, ld, 0.0f,
        out + hd * d, h);
  }
}

void
te_attention_ref (const float *qkv, const gint32 * mask, float *out, int s, int h, int heads)
{
  int d = h / heads;
  int ld = 3 * h;
  double scale = 1.0 / sqrt ((double) d);
  double *p = g_new (double, s > 0 ? s : 1);

  for (int hd = 0; hd < heads; hd++) {
    for (int i = 0; i < s; i++) {
      double max = -INFINITY, sum = 0.0;

      for (int j = 0; j < s; j++) {
        double dot = 0.0;
        for (int c = 0; c < d; c++)
          dot += (double) qkv[(gsize) i * ld + hd * d + c] * qkv[(gsize) j * ld + h + hd * d + c];
        p[j] = mask[j] ? dot * scale : -INFINITY;
        if (p[j] > max)
          max = p[j];
      }
      for (int j = 0; j < s; j++) {
        p[j] = mask[j] ? exp (p[j] - max) : 0.0;
        sum += p[j];
      }
      for (int c = 0; c < d; c++) {
        double acc = 0.0;
        for (int j = 0; j < s; j++)
          acc += p[j] * qkv[(gsize) j * ld + 2 * h + hd * d + c];
        out[(gsize) i * h + hd * d + c] = sum > 0.0 ? (float) (acc / sum) : 0.0f;
      }
    }
  }
  g_free (p);
}
