/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pooling.c — te-pooling on hand-made token embeddings whose pooled values are obvious
 * arithmetic, L2 normalisation, and the pooling-mode names. */
#include <math.h>
#include <glib.h>

#include "te-pooling.h"

/* Three tokens of width 4. */
static const float tokens[3 * 4] = {
  1.0f, -2.0f, 3.0f, 0.0f,
  3.0f, 0.0f, -3.0f, 0.0f,
  5.0f, 8.0f, 6.0f, 0.0f,
};

static void
test_mean (void)
{
  float out[4];
  const float want[4] = { 3.0f, 2.0f, 2.0f, 0.0f };

  te_pool (tokens, 3, 4, TE_POOL_MEAN, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, want[j]);
  /* Only the first n tokens count (padding already dropped by the caller). */
  te_pool (tokens, 2, 4, TE_POOL_MEAN, out);
  g_assert_cmpfloat (out[0], ==, 2.0f);
  g_assert_cmpfloat (out[1], ==, -1.0f);
  g_assert_cmpfloat (out[2], ==, 0.0f);
}

static void
test_cls (void)
{
  float out[4];

  te_pool (tokens, 3, 4, TE_POOL_CLS, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, tokens[j]);
}

static void
test_max (void)
{
  float out[4];
  const float want[4] = { 5.0f, 8.0f, 6.0f, 0.0f };
  const float neg[2 * 2] = { -5.0f, -1.0f, -2.0f, -7.0f };

  te_pool (tokens, 3, 4, TE_POOL_MAX, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, want[j]);
  /* All negative: the max is negative, not a 0 from some initial value. */
  te_pool (neg, 2, 2, TE_POOL_MAX, out);
  g_assert_cmpfloat (out[0], ==, -2.0f);
  g_assert_cmpfloat (out[1], ==, -1.0f);
}

static void
test_normalize (void)
{
  float v[3] = { 3.0f, 0.0f, -4.0f }, z[5] = { 0 };

  te_l2_normalize (v, 3);
  g_assert_cmpfloat (fabsf (v[0] - 0.6f), <, 1e-7);
  g_assert_cmpfloat (v[1], ==, 0.0f);
  g_assert_cmpfloat (fabsf (v[2] + 0.8f), <, 1e-7);

  te_l2_normalize (z, 5);
  for (int j = 0; j < 5; j++) {
    g_assert_false (isnan (z[j]));
    g_assert_cmpfloat (z[j], ==, 0.0f);
  }
}

static void
test_empty (void)
{
  float out[4] = { 9, 9, 9, 9 };

  te_pool (tokens, 0, 4, TE_POOL_MEAN, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, 0.0f);
}

/* te_pool_except: the rows outside the skipped range only. */
static void
test_except (void)
{
  float out[4];

  /* skip row 1: mean of rows 0 and 2, max of them, cls = row 0 */
  te_pool_except (tokens, 3, 4, 1, 1, TE_POOL_MEAN, out);
  g_assert_cmpfloat (out[0], ==, 3.0f);
  g_assert_cmpfloat (out[1], ==, 3.0f);
  g_assert_cmpfloat (out[2], ==, 4.5f);
  te_pool_except (tokens, 3, 4, 1, 1, TE_POOL_MAX, out);
  g_assert_cmpfloat (out[0], ==, 5.0f);
  g_assert_cmpfloat (out[2], ==, 6.0f);
  /* skip row 0: cls takes the first row kept */
  te_pool_except (tokens, 3, 4, 0, 1, TE_POOL_CLS, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, tokens[4 + j]);
  /* nothing skipped = te_pool; a range past the end is clamped; everything skipped = zero */
  float ref[4];
  te_pool (tokens, 3, 4, TE_POOL_MEAN, ref);
  te_pool_except (tokens, 3, 4, 1, 0, TE_POOL_MEAN, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, ref[j]);
  te_pool_except (tokens, 3, 4, 2, 100, TE_POOL_MEAN, out);
  g_assert_cmpfloat (out[0], ==, 2.0f);
  te_pool_except (tokens, 3, 4, 0, 3, TE_POOL_MAX, out);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (out[j], ==, 0.0f);
}

static void
test_names (void)
{
  TePoolMode m;

  g_assert_true (te_pool_mode_from_string ("mean", &m));
  g_assert_cmpint (m, ==, TE_POOL_MEAN);
  g_assert_true (te_pool_mode_from_string ("cls", &m));
  g_assert_cmpint (m, ==, TE_POOL_CLS);
  g_assert_true (te_pool_mode_from_string ("max", &m));
  g_assert_cmpint (m, ==, TE_POOL_MAX);
  g_assert_false (te_pool_mode_from_string ("mean_sqrt_len", &m));
  g_assert_false (te_pool_mode_from_string ("", &m));
  g_assert_false (te_pool_mode_from_string (NULL, &m));
  g_assert_cmpstr (te_pool_mode_to_string (TE_POOL_MEAN), ==, "mean");
  g_assert_cmpstr (te_pool_mode_to_string (TE_POOL_CLS), ==, "cls");
  g_assert_cmpstr (te_pool_mode_to_string (TE_POOL_MAX), ==, "max");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pooling/mean", test_mean);
  g_test_add_func ("/pooling/cls", test_cls);
  g_test_add_func ("/pooling/max", test_max);
  g_test_add_func ("/pooling/except", test_except);
  g_test_add_func ("/pooling/normalize", test_normalize);
  g_test_add_func ("/pooling/empty", test_empty);
  g_test_add_func ("/pooling/names", test_names);
  return g_test_run ();
}
