/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-kernels.c — every fast encoder kernel against its naive _ref twin on random data of
 * several shapes (odd sizes, padding masks), plus GELU, LayerNorm and pooling edge cases. */
#include <math.h>
#include <float.h>
#include <string.h>
#include <glib.h>

#include "te-kernels.h"
#include "te-pooling.h"

static float *
random_floats (GRand * rng, gsize n, double lo, double hi)
{
  float *v = g_new (float, n + 1);
  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rng, lo, hi);
  return v;
}

static void
test_linear (void)
{
  static const int shapes[][3] = {
    {1, 1, 1}, {1, 7, 3}, {3, 5, 7}, {17, 33, 65}, {64, 384, 384}, {5, 1152, 384},
    {31, 384, 1536}, {2, 1, 513}, {13, 45, 300}, {3, 33, 512},
  };
  GRand *rng = g_rand_new_with_seed (1);

  for (guint si = 0; si < G_N_ELEMENTS (shapes); si++) {
    int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
    float *A = random_floats (rng, (gsize) m * k, -1, 1);
    float *W = random_floats (rng, (gsize) n * k, -1, 1);
    float *bias = random_floats (rng, n, -1, 1);

    for (int with_bias = 0; with_bias < 2; with_bias++) {
      float *C = g_new (float, (gsize) m * n);
      float *R = g_new (float, (gsize) m * n);
      double max_err = 0.0;

      /* Garbage in C: te_linear must overwrite, not accumulate. */
      for (gsize i = 0; i < (gsize) m * n; i++)
        C[i] = 1e30f;
      te_linear (A, W, with_bias ? bias : NULL, C, m, n, k);
      te_linear_ref (A, W, with_bias ? bias : NULL, R, m, n, k);
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          /* Rigorous float summation bound: k eps sum |a w| (+ the bias term). */
          double mag = with_bias ? fabs (bias[j]) : 0.0, err;
          for (int p = 0; p < k; p++)
            mag += fabs ((double) A[(gsize) i * k + p] * W[(gsize) j * k + p]);
          err = fabs ((double) C[(gsize) i * n + j] - R[(gsize) i * n + j]);
          g_assert_cmpfloat (err, <=, (k + 1) * FLT_EPSILON * mag + 1e-30);
          max_err = MAX (max_err, err);
        }
      }
      /* And in practice far better than the bound. */
      g_assert_cmpfloat (max_err, <, 1e-4);
      g_test_message ("linear m=%d n=%d k=%d bias=%d: max abs err %.3g", m, n, k, with_bias,
          max_err);
      g_free (C);
      g_free (R);
    }
    g_free (A);
    g_free (W);
    g_free (bias);
  }
  g_rand_free (rng);
}

static void
test_layernorm (void)
{
  static const int shapes[][2] = { {1, 1}, {1, 5}, {3, 7}, {7, 384}, {2, 1000}, {64, 384} };
  static const double offsets[] = { 0.0, 1000.0 };
  GRand *rng = g_rand_new_with_seed (2);

  for (guint si = 0; si < G_N_ELEMENTS (shapes); si++) {
    for (guint oi = 0; oi < G_N_ELEMENTS (offsets); oi++) {
      for (int with_res = 0; with_res < 2; with_res++) {
        int rows = shapes[si][0], h = shapes[si][1];
        gsize n = (gsize) rows * h;
        double off = offsets[oi], max_err = 0.0;
        float *x = random_floats (rng, n, off - 2, off + 2);
        float *res = with_res ? random_floats (rng, n, -1, 1) : NULL;
        float *g = random_floats (rng, h, 0.5, 1.5);
        float *b = random_floats (rng, h, -0.5, 0.5);
        float *y = g_memdup2 (x, n * sizeof (float));

        te_layernorm (x, res, g, b, rows, h, 1e-12f);
        te_layernorm_ref (y, res, g, b, rows, h, 1e-12f);
        for (gsize i = 0; i < n; i++) {
          g_assert_true (isfinite (x[i]));
          max_err = MAX (max_err, fabs ((double) x[i] - y[i]));
        }
        g_test_message ("layernorm rows=%d h=%d offset=%g residual=%d: max abs err %.3g", rows,
            h, off, with_res, max_err);
        g_assert_cmpfloat (max_err, <, 2e-5);
        g_free (x);
        g_free (y);
        g_free (res);
        g_free (g);
        g_free (b);
      }
    }
  }
  g_rand_free (rng);
}

/* A constant row has zero variance: the result must be exactly the bias, no NaN/inf, for the
 * tiny eps BERT uses too. */
static void
test_layernorm_constant (void)
{
  const int h = 384;
  float *x = g_new (float, 3 * h), *g = g_new (float, h), *b = g_new (float, h);
  static const float consts[] = { 0.0f, 3.25f, -1e6f };

  for (int i = 0; i < h; i++) {
    g[i] = 1.0f + i * 0.01f;
    b[i] = i * 0.001f - 0.1f;
  }
  for (guint ci = 0; ci < G_N_ELEMENTS (consts); ci++) {
    for (int i = 0; i < 3 * h; i++)
      x[i] = consts[ci];
    te_layernorm (x, NULL, g, b, 3, h, 1e-12f);
    for (int i = 0; i < 3 * h; i++)
      g_assert_cmpfloat (x[i], ==, b[i % h]);
    for (int i = 0; i < 3 * h; i++)
      x[i] = consts[ci];
    te_layernorm_ref (x, NULL, g, b, 3, h, 1e-12f);
    for (int i = 0; i < 3 * h; i++)
      g_assert_cmpfloat (x[i], ==, b[i % h]);
  }
  g_free (x);
  g_free (g);
  g_free (b);
}

static void
test_gelu (void)
{
  GRand *rng = g_rand_new_with_seed (3);
  gsize n = 100000;
  float *x = random_floats (rng, n, -12, 12), *y, *r;
  double max_err = 0.0;
  static const float special[] = { 0.0f, -0.0f, 1.0f, -1.0f, 1e-30f, -1e-30f, 30.0f, -30.0f,
    1e30f, -1e30f, 3.4e38f, -3.4e38f
  };

  memcpy (x, special, sizeof (special));
  y = g_memdup2 (x, n * sizeof (float));
  r = g_memdup2 (x, n * sizeof (float));
  te_gelu_erf (y, n);
  te_gelu_erf_ref (r, n);
  for (gsize i = 0; i < n; i++) {
    /* Independent double-precision exact GELU. */
    double v = x[i], want = 0.5 * v * (1.0 + erf (v / sqrt (2.0)));
    double err = fabs (y[i] - want);
    g_assert_true (isfinite (y[i]));
    /* erff is within a couple of ulps; 1 + erf loses relative (not absolute) precision for
     * negative inputs, as in PyTorch's float GELU. */
    g_assert_cmpfloat (err, <=, 1e-6 * MAX (1.0, fabs (v)));
    g_assert_cmpfloat (fabs (r[i] - want), <=, 1e-7 * MAX (1.0, fabs (want)));
    if (fabs (v) < 100)
      max_err = MAX (max_err, err);
  }
  g_assert_cmpfloat (y[0], ==, 0.0f);
  g_assert_cmpfloat (y[6], ==, 30.0f);
  g_assert_cmpfloat (y[7], ==, 0.0f);
  g_test_message ("gelu: max abs err vs double erf %.3g", max_err);
  g_free (x);
  g_free (y);
  g_free (r);
  g_rand_free (rng);
}

static void
check_attention (GRand * rng, int s, int h, int heads, const gint32 * mask)
{
  gsize n = (gsize) s * 3 * h;
  float *qkv = random_floats (rng, n, -2, 2);
  float *out = g_new (float, (gsize) s * h), *ref = g_new (float, (gsize) s * h);
  float *scratch = g_new (float, (gsize) s * s);
  double max_err = 0.0;

  te_attention (qkv, mask, out, s, h, heads, scratch);
  te_attention_ref (qkv, mask, ref, s, h, heads);
  for (gsize i = 0; i < (gsize) s * h; i++) {
    g_assert_true (isfinite (out[i]));
    max_err = MAX (max_err, fabs ((double) out[i] - ref[i]));
  }
  g_test_message ("attention s=%d h=%d heads=%d: max abs err %.3g", s, h, heads, max_err);
  g_assert_cmpfloat (max_err, <, 1e-5);

  /* Masked keys really get no weight: changing their K and V must not change anything. */
  for (int j = 0; j < s; j++) {
    if (mask[j] == 0) {
      for (int c = h; c < 3 * h; c++)
        qkv[(gsize) j * 3 * h + c] = 1000.0f;
    }
  }
  te_attention (qkv, mask, ref, s, h, heads, scratch);
  for (gsize i = 0; i < (gsize) s * h; i++)
    g_assert_cmpfloat (out[i], ==, ref[i]);

  g_free (qkv);
  g_free (out);
  g_free (ref);
  g_free (scratch);
}

static void
test_attention (void)
{
  static const int shapes[][3] = {
    {1, 8, 2}, {2, 6, 1}, {5, 12, 3}, {17, 64, 4}, {33, 384, 12}, {128, 384, 12}, {7, 30, 5},
  };
  GRand *rng = g_rand_new_with_seed (4);

  for (guint si = 0; si < G_N_ELEMENTS (shapes); si++) {
    int s = shapes[si][0], h = shapes[si][1], heads = shapes[si][2];
    gint32 *mask = g_new (gint32, s);
    /* All real; right padding of several lengths (down to one real token); a scattered mask. */
    int lens[] = { s, s - 1, s / 2, 1 };

    for (guint li = 0; li < G_N_ELEMENTS (lens); li++) {
      if (lens[li] < 1)
        continue;
      for (int j = 0; j < s; j++)
        mask[j] = j < lens[li];
      check_attention (rng, s, h, heads, mask);
    }
    for (int j = 0; j < s; j++)
      mask[j] = (j % 3) != 1;
    check_attention (rng, s, h, heads, mask);
    g_free (mask);
  }
  g_rand_free (rng);
}

/* No real key at all (a fully padded row): zeros, not NaN. */
static void
test_attention_all_masked (void)
{
  int s = 4, h = 8, heads = 2;
  gint32 mask[4] = { 0, 0, 0, 0 };
  GRand *rng = g_rand_new_with_seed (5);
  float *qkv = random_floats (rng, (gsize) s * 3 * h, -1, 1);
  float out[32], ref[32], scratch[16];

  te_attention (qkv, mask, out, s, h, heads, scratch);
  te_attention_ref (qkv, mask, ref, s, h, heads);
  for (int i = 0; i < s * h; i++) {
    g_assert_cmpfloat (out[i], ==, 0.0f);
    g_assert_cmpfloat (ref[i], ==, 0.0f);
  }
  g_free (qkv);
  g_rand_free (rng);
}

static void
test_pooling_modes (void)
{
  GRand *rng = g_rand_new_with_seed (6);
  int n = 9, h = 384;
  float *tok = random_floats (rng, (gsize) n * h, -3, 3);
  float *out = g_new (float, h);

  te_pool (tok, n, h, TE_POOL_MEAN, out);
  for (int j = 0; j < h; j++) {
    double want = 0.0;
    for (int t = 0; t < n; t++)
      want += tok[(gsize) t * h + j];
    g_assert_cmpfloat (fabs (out[j] - want / n), <, 1e-6);
  }
  te_pool (tok, n, h, TE_POOL_CLS, out);
  g_assert_cmpmem (out, h * sizeof (float), tok, h * sizeof (float));
  te_pool (tok, n, h, TE_POOL_MAX, out);
  for (int j = 0; j < h; j++) {
    float want = -INFINITY;
    for (int t = 0; t < n; t++)
      want = MAX (want, tok[(gsize) t * h + j]);
    g_assert_cmpfloat (out[j], ==, want);
  }

  /* Normalised: unit length. */
  te_l2_normalize (out, h);
  {
    double sum = 0.0;
    for (int j = 0; j < h; j++)
      sum += (double) out[j] * out[j];
    g_assert_cmpfloat (fabs (sqrt (sum) - 1.0), <, 1e-6);
  }
  g_free (tok);
  g_free (out);
  g_rand_free (rng);
}

static void
test_normalize_zero (void)
{
  float v[384] = { 0 }, tiny[3] = { 1e-30f, 0.0f, -1e-30f };

  te_l2_normalize (v, 384);
  for (int j = 0; j < 384; j++) {
    g_assert_false (isnan (v[j]));
    g_assert_cmpfloat (v[j], ==, 0.0f);
  }
  /* Squares underflow in float but not in double: still a proper unit vector. */
  te_l2_normalize (tiny, 3);
  g_assert_cmpfloat (fabs (tiny[0] - 0.70710678f), <, 1e-6);
  g_assert_cmpfloat (fabs (tiny[2] + 0.70710678f), <, 1e-6);
  g_assert_cmpfloat (tiny[1], ==, 0.0f);
  /* Zero tokens pooled: zeros, and normalising them keeps zeros. */
  te_pool (NULL, 0, 384, TE_POOL_MEAN, v);
  te_l2_normalize (v, 384);
  for (int j = 0; j < 384; j++)
    g_assert_cmpfloat (v[j], ==, 0.0f);
}

/* The same checks with the portable scalar code (TEXTEMBED_NO_SIMD=1 is read once per process,
 * hence a subprocess). */
static void
test_scalar_subprocess (void)
{
  if (g_test_subprocess ()) {
    g_assert_cmpstr (g_getenv ("TEXTEMBED_NO_SIMD"), ==, "1");
    test_linear ();
    test_layernorm ();
    test_layernorm_constant ();
    test_gelu ();
    test_attention ();
    test_attention_all_masked ();
    return;
  }
  g_setenv ("TEXTEMBED_NO_SIMD", "1", TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv ("TEXTEMBED_NO_SIMD");
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kernels/linear", test_linear);
  g_test_add_func ("/kernels/layernorm", test_layernorm);
  g_test_add_func ("/kernels/layernorm-constant", test_layernorm_constant);
  g_test_add_func ("/kernels/gelu", test_gelu);
  g_test_add_func ("/kernels/attention", test_attention);
  g_test_add_func ("/kernels/attention-all-masked", test_attention_all_masked);
  g_test_add_func ("/kernels/pooling-modes", test_pooling_modes);
  g_test_add_func ("/kernels/normalize-zero", test_normalize_zero);
  g_test_add_func ("/kernels/scalar-paths", test_scalar_subprocess);
  return g_test_run ();
}
