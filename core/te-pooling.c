/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-pooling.c — sentence embedding from token embeddings (mean / cls / max) and L2
 * normalisation, as sentence-transformers' Pooling and Normalize modules do. */
#include "te-pooling.h"

#include <math.h>
#include <string.h>

/* Pool the rows [0, a) and [b, n) (a <= b <= n). */
static void
pool_two_ranges (const float *tokens, int n, int h, int a, int b, TePoolMode mode, float *out)
{
  int count = a + (n - b), first = a > 0 ? 0 : b;

  /* No row (cannot happen with special tokens, but be defined): a zero vector. */
  if (count <= 0 || tokens == NULL) {
    memset (out, 0, (gsize) h * sizeof (float));
    return;
  }
  switch (mode) {
    case TE_POOL_CLS:
      memcpy (out, tokens + (gsize) first * h, (gsize) h * sizeof (float));
      break;
    case TE_POOL_MAX:
      memcpy (out, tokens + (gsize) first * h, (gsize) h * sizeof (float));
      for (int t = first + 1; t < n; t++) {
        if (t >= a && t < b)
          continue;
        const float *row = tokens + (gsize) t * h;
        for (int j = 0; j < h; j++)
          if (row[j] > out[j])
            out[j] = row[j];
      }
      break;
    case TE_POOL_MEAN:
    default:
      /* Column sums in double, token-major so the input is read sequentially. */
      {
        double *acc = g_new0 (double, h > 0 ? h : 1);
        for (int t = first; t < n; t++) {
          if (t >= a && t < b)
            continue;
          const float *row = tokens + (gsize) t * h;
          for (int j = 0; j < h; j++)
            acc[j] += row[j];
        }
        for (int j = 0; j < h; j++)
          out[j] = (float) (acc[j] / count);
        g_free (acc);
      }
      break;
  }
}

void
te_pool (const float *tokens, int n, int h, TePoolMode mode, float *out)
{
  g_return_if_fail (out != NULL && h >= 0);
  n = MAX (n, 0);
  pool_two_ranges (tokens, n, h, n, n, mode, out);
}

void
te_pool_except (const float *tokens, int n, int h, int skip_first, int skip_n,
    TePoolMode mode, float *out)
{
  g_return_if_fail (out != NULL && h >= 0);
  n = MAX (n, 0);
  int a = CLAMP (skip_first, 0, n);
  int b = CLAMP ((gint64) skip_first + MAX (skip_n, 0), a, n);
  pool_two_ranges (tokens, n, h, a, b, mode, out);
}

void
te_l2_normalize (float *v, int h)
{
  double sum = 0.0, norm;

  for (int j = 0; j < h; j++)
    sum += (double) v[j] * v[j];
  norm = sqrt (sum);
  /* A zero vector has no direction: leave it zero instead of dividing 0 by 0 (NaN).
   * (torch's F.normalize clamps the norm to 1e-12, which also yields zeros.) */
  if (!(norm > 0.0) || !isfinite (norm))
    return;
  for (int j = 0; j < h; j++)
    v[j] = (float) (v[j] / norm);
}

gboolean
te_pool_mode_from_string (const char *s, TePoolMode * mode)
{
  if (s == NULL || mode == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (s, "mean") == 0)
    *mode = TE_POOL_MEAN;
  else if (g_ascii_strcasecmp (s, "cls") == 0)
    *mode = TE_POOL_CLS;
  else if (g_ascii_strcasecmp (s, "max") == 0)
    *mode = TE_POOL_MAX;
  else
    return FALSE;
  return TRUE;
}

const char *
te_pool_mode_to_string (TePoolMode mode)
{
  switch (mode) {
    case TE_POOL_MEAN:
      return "mean";
    case TE_POOL_CLS:
      return "cls";
    case TE_POOL_MAX:
      return "max";
  }
  return "unknown";
}
