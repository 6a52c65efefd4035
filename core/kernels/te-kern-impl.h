/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-impl.h — the kernels, written once with GCC/clang vector extensions and included by
 * one file per level, which defines:
 *
 *   TE_KERN_OPS  the name of the TeKernOps to define
 *   TE_VL        floats per vector register (4 SSE2/NEON, 8 AVX2, 16 AVX-512)
 *   TE_NV        vectors per panel (panel width NR = TE_VL * TE_NV)
 *   TE_MR        rows per register tile
 *   TE_ATT_NJ    vectors of keys (or of V's columns) per attention step
 *   TE_ATT_TQ    query rows per attention tile (<= TE_KERN_ATT_TQ); TE_ATT_TQ x TE_ATT_NJ
 *                accumulators, so that each loaded vector serves TE_ATT_TQ rows and each
 *                broadcast value TE_ATT_NJ vectors, as in the projection tile
 *
 * and is compiled with that level's instruction-set flags. The register tile is TE_MR x NR
 * accumulators; the loops over it are fully unrolled for every row count 1..TE_MR, so that the
 * accumulators live in registers. */
#include "te-kern-private.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

#define NR (TE_VL * TE_NV)
#if TE_ATT_TQ > TE_KERN_ATT_TQ
#error "TE_ATT_TQ exceeds the scratch that te_kern_attention_scratch() sizes"
#endif
#define KC 256                  /* k block: a panel's KC x NR floats stay in L1/L2 across row tiles */
#define MC (TE_MR * 16)         /* row block: MC x the k block of A stays in L2 across panels */

#include "te-kern-vmath.h"

/* One register tile: C[0..MRC, 0..NR) (row stride ldc) = (first ? bias : C) + A · B, A being
 * MRC rows of kc values in place (row stride lda) and B kc x NR packed. A is not packed: each
 * of its values is one broadcast, from MRC row streams that the hardware prefetches, and
 * packing it (a transpose into k-major micro-panels) cost more than it saved: up to 8 % of the
 * fp32 encoder, most on FFN-down (k = 1536), which runs 10-20 % faster without it. */
INLINE void
tile (const int MRC, int kc, const float *restrict A, int lda, const float *restrict B,
    float *restrict C, int ldc, const float *restrict bias, int first, int last,
    TeKernEpilogue epi)
{
  vf acc[TE_MR][TE_NV];

  UNROLL for (int i = 0; i < MRC; i++)
    UNROLL for (int v = 0; v < TE_NV; v++)
      acc[i][v] = first ? (bias ? *(const vf *) (bias + v * TE_VL) : VSET (0))
          : LOADU (C + (size_t) i * ldc + v * TE_VL);
  for (int p = 0; p < kc; p++) {
    vf b[TE_NV];
    UNROLL for (int v = 0; v < TE_NV; v++)
      b[v] = *(const vf *) (B + (size_t) p * NR + v * TE_VL);
    UNROLL for (int i = 0; i < MRC; i++) {
      float a = A[(size_t) i * lda + p];
      UNROLL for (int v = 0; v < TE_NV; v++)
        acc[i][v] += a * b[v];
    }
  }
  if (last && epi == TE_KERN_EPI_GELU)
    UNROLL for (int i = 0; i < MRC; i++)
      UNROLL for (int v = 0; v < TE_NV; v++)
        acc[i][v] = v_gelu (acc[i][v]);
  UNROLL for (int i = 0; i < MRC; i++)
    UNROLL for (int v = 0; v < TE_NV; v++)
      STOREU (C + (size_t) i * ldc + v * TE_VL, acc[i][v]);
}

/* Dispatch on the row count so each count gets a fully unrolled tile. */
static void
tile_rows (int mr, int kc, const float *A, int lda, const float *B, float *C, int ldc,
    const float *bias, int first, int last, TeKernEpilogue epi)
{
#define CASE(r) case r: tile (r, kc, A, lda, B, C, ldc, bias, first, last, epi); break;
  switch (mr) {
    CASE (1) CASE (2) CASE (3) CASE (4)
#if TE_MR > 4
    CASE (5) CASE (6)
#endif
#if TE_MR > 6
    CASE (7) CASE (8) CASE (9) CASE (10) CASE (11) CASE (12)
#endif
    default: break;
  }
#undef CASE
}

static int
linear_panels (const TeKernW * w, const float *A, float *C, int m, int p0, int p1,
    TeKernEpilogue epi)
{
  const int K = w->k, N = w->n;
  float edge[TE_MR * NR];       /* output tile of the last, partial panel */
  /* k in blocks of KC, but a k of up to 2 KC in one block (MiniLM's k = 384): each split
   * stores the block's outputs and loads them again, and for the wide layers (QKV, FFN-up:
   * 192 rows x 1,152-1,536 outputs, 0.9-1.2 MB) they no longer fit in L2 between the passes */
  const int kcb = K <= 2 * KC ? K : KC;

  /* Row blocks outermost: a block's outputs (MC x the panels) stay in L2 while the k blocks
   * accumulate into them. */
  for (int m0 = 0; m0 < m; m0 += MC) {
    int mc = m - m0 < MC ? m - m0 : MC;

    for (int k0 = 0; k0 < K || k0 == 0; k0 += kcb) {
      int kc = K - k0 < kcb ? K - k0 : kcb;
      int first = k0 == 0, last = k0 + kc >= K;

      for (int p = p0; p < p1; p++) {
        const float *B = w->data + (size_t) p * K * NR + (size_t) k0 * NR;
        const float *bias = w->bias + (size_t) p * NR;
        int n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;

        for (int i0 = m0; i0 < m0 + mc; i0 += TE_MR) {
          int mr = m0 + mc - i0 < TE_MR ? m0 + mc - i0 : TE_MR;
          const float *a = A + (size_t) i0 * K + k0;
          float *c = C + (size_t) i0 * N + n0;

          if (nr == NR) {
            tile_rows (mr, kc, a, K, B, c, N, bias, first, last, epi);
          } else {
            for (int i = 0; i < mr && !first; i++)
              memcpy (edge + i * NR, c + (size_t) i * N, nr * sizeof (float));
            tile_rows (mr, kc, a, K, B, edge, NR, bias, first, last, epi);
            for (int i = 0; i < mr; i++)
              memcpy (c + (size_t) i * N, edge + i * NR, nr * sizeof (float));
          }
        }
      }
      if (K == 0)
        break;
    }
  }
  return 0;
}

/* Attention for one head, TE_KERN_ATT_TQ query rows at a time: their scores against K^T
 * (d x s, transposed once into scratch), softmax, then the weighted sum of V rows. Each loaded
 * vector of K^T or V serves all the tile's rows. Never more than that tile of scores is held. */
static void
attention_head (const float *q, const float *k, const float *v, int ld, float *out, int ldo,
    int s, int d, float scale, float *scratch)
{
  enum { TQ = TE_ATT_TQ };
  int s_pad = (s + TE_VL - 1) / TE_VL * TE_VL;
  float *kt = scratch;                    /* [d][s_pad] */
  float *sc = kt + (size_t) d * s_pad;    /* [TQ][s_pad] */

  /* key by key: each key's d values are one contiguous read, the stores go to d lines that
   * stay in L1 for the next keys (reading a column of keys at a time, each load a new line,
   * took as long as the scores themselves) */
  for (int j = 0; j < s; j++) {
    const float *kj = k + (size_t) j * ld;
    /* the head's rows of q, k and v are d floats every ld (a row of QKV, 4.5 KB for MiniLM):
     * no prefetcher follows that, and the whole of QKV is past L2. Fetch the keys a few rows
     * ahead, and this row's q and v, which the scores and the weighted sum read next. */
    if (j + 8 < s)
      for (int c = 0; c < d; c += 16)
        __builtin_prefetch (kj + 8 * (size_t) ld + c);
    for (int c = 0; c < d; c += 16) {
      __builtin_prefetch (q + (size_t) j * ld + c);
      __builtin_prefetch (v + (size_t) j * ld + c);
    }
    for (int c = 0; c < d; c++)
      kt[(size_t) c * s_pad + j] = kj[c];
  }
  for (int c = 0; c < d; c++)
    for (int j = s; j < s_pad; j++)
      kt[(size_t) c * s_pad + j] = 0.0f;
  for (int i0 = 0; i0 < s; i0 += TQ) {
    int tq = s - i0 < TQ ? s - i0 : TQ;
    float inv[TQ];

    /* scores = scale * q_i . K^T for the tile's rows (rows past tq repeat the last one);
     * TE_ATT_NJ vectors of keys at a time, so each broadcast q value serves them all */
    {
      const float *qr[TQ];
      int j = 0;

      UNROLL for (int r = 0; r < TQ; r++)
        qr[r] = q + (size_t) (i0 + (r < tq ? r : tq - 1)) * ld;
      for (; j + TE_ATT_NJ * TE_VL <= s_pad; j += TE_ATT_NJ * TE_VL) {
        vf acc[TQ][TE_ATT_NJ];

        UNROLL for (int r = 0; r < TQ; r++)
          UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
            acc[r][u] = VSET (0);
        for (int c = 0; c < d; c++) {
          vf kv[TE_ATT_NJ];
          UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
            kv[u] = *(const vf *) (kt + (size_t) c * s_pad + j + u * TE_VL);
          UNROLL for (int r = 0; r < TQ; r++) {
            float qv = qr[r][c];
            UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
              acc[r][u] += qv * kv[u];
          }
        }
        UNROLL for (int r = 0; r < TQ; r++)
          UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
            *(vf *) (sc + (size_t) r * s_pad + j + u * TE_VL) = acc[r][u] * scale;
      }
      for (; j < s_pad; j += TE_VL) {
        vf acc[TQ];

        UNROLL for (int r = 0; r < TQ; r++)
          acc[r] = VSET (0);
        for (int c = 0; c < d; c++) {
          vf kv = *(const vf *) (kt + (size_t) c * s_pad + j);
          UNROLL for (int r = 0; r < TQ; r++)
            acc[r] += qr[r][c] * kv;
        }
        UNROLL for (int r = 0; r < TQ; r++)
          *(vf *) (sc + (size_t) r * s_pad + j) = acc[r] * scale;
      }
    }
    /* softmax numerators, and 1 / their sum */
    for (int r = 0; r < tq; r++) {
      float *row = sc + (size_t) r * s_pad, max = -INFINITY, sum = 0.0f;
      vf vmax = VSET (-INFINITY), vsum = VSET (0);

      for (int j = 0; j + TE_VL <= s; j += TE_VL) {
        vf x = *(vf *) (row + j);
        vi gt = x > vmax;
        vmax = (vf) (((vi) x & gt) | ((vi) vmax & ~gt));
      }
      max = V_HMAX (vmax);
      for (int j = s / TE_VL * TE_VL; j < s; j++)
        max = row[j] > max ? row[j] : max;
      for (int j = 0; j < s_pad; j += TE_VL) {
        vf e = v_exp_neg (*(vf *) (row + j) - max);
        if (j + TE_VL > s)      /* padding columns of the last vector weigh nothing */
          for (int l = s - j; l < TE_VL; l++)
            e[l] = 0.0f;
        *(vf *) (row + j) = e;
        vsum += e;
      }
      sum = V_HSUM (vsum);
      inv[r] = 1.0f / sum;
    }
    /* out_i = sum_j p_ij v_j / sum_i; TE_ATT_NJ vectors of V's columns at a time */
    if (d % TE_VL == 0) {
      int c = 0;

      for (; c + TE_ATT_NJ * TE_VL <= d; c += TE_ATT_NJ * TE_VL) {
        vf acc[TQ][TE_ATT_NJ];

        UNROLL for (int r = 0; r < TQ; r++)
          UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
            acc[r][u] = VSET (0);
        for (int j = 0; j < s; j++) {
          vf vv[TE_ATT_NJ];
          UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
            vv[u] = LOADU (v + (size_t) j * ld + c + u * TE_VL);
          UNROLL for (int r = 0; r < TQ; r++) {
            float p = sc[(size_t) r * s_pad + j];
            UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
              acc[r][u] += p * vv[u];
          }
        }
        for (int r = 0; r < tq; r++)
          UNROLL for (int u = 0; u < TE_ATT_NJ; u++)
            STOREU (out + (size_t) (i0 + r) * ldo + c + u * TE_VL, acc[r][u] * inv[r]);
      }
      for (; c < d; c += TE_VL) {
        vf acc[TQ];

        UNROLL for (int r = 0; r < TQ; r++)
          acc[r] = VSET (0);
        for (int j = 0; j < s; j++) {
          vf vv = LOADU (v + (size_t) j * ld + c);
          UNROLL for (int r = 0; r < TQ; r++)
            acc[r] += sc[(size_t) r * s_pad + j] * vv;
        }
        for (int r = 0; r < tq; r++)
          STOREU (out + (size_t) (i0 + r) * ldo + c, acc[r] * inv[r]);
      }
    } else {
      for (int r = 0; r < tq; r++)
        for (int c = 0; c < d; c++) {
          float acc = 0.0f;
          for (int j = 0; j < s; j++)
            acc += sc[(size_t) r * s_pad + j] * v[(size_t) j * ld + c];
          out[(size_t) (i0 + r) * ldo + c] = acc * inv[r];
        }
    }
  }
}

static void
gelu (float *x, size_t n)
{
  size_t i = 0;

  for (; i + TE_VL <= n; i += TE_VL)
    STOREU (x + i, v_gelu (LOADU (x + i)));
  if (i < n) {
    float tail[TE_VL] = { 0 };
    vf t;
    memcpy (tail, x + i, (n - i) * sizeof (float));
    t = v_gelu (LOADU (tail));
    memcpy (x + i, &t, (n - i) * sizeof (float));
  }
}

/* int8 quantisation of one row, exactly as te-kern-q8.c's reference: max |x| (exact in any
 * order), then rintf (x * (127 / max)) (rounding to nearest even; rintf rather than adding
 * 0.5, which the compiler could fuse into an FMA and round differently). */
/* max (vmax, |x|) lane by lane, and the largest lane of vmax, both by compare and select as
 * the reference's scalar loop does (a NaN never becomes the max), so the scales are its own. */
INLINE vf
v_absmax (vf vmax, vf x)
{
  vf a = (vf) ((vi) x & ((vi) {} + INT32_MAX));
  vi gt = a > vmax;

  return (vf) (((vi) a & gt) | ((vi) vmax & ~gt));
}

INLINE float
lanes_max (vf vmax)
{
  float max = 0.0f;

  for (int l = 0; l < TE_VL; l++)
    max = vmax[l] > max ? vmax[l] : max;
  return max;
}

static float
quantize_row (const float *restrict x, int n, int8_t * restrict q, int u8)
{
  vf vmax = VSET (0);
  float max, inv;
  int j = 0;

  for (; j + TE_VL <= n; j += TE_VL)
    vmax = v_absmax (vmax, LOADU (x + j));
  max = lanes_max (vmax);
  for (; j < n; j++)
    max = fabsf (x[j]) > max ? fabsf (x[j]) : max;
  inv = max > 0.0f ? 127.0f / max : 0.0f;
  if (u8)
    for (j = 0; j < n; j++)
      q[j] = (int8_t) (uint8_t) ((int) rintf (x[j] * inv) + 128);
  else
    for (j = 0; j < n; j++)
      q[j] = (int8_t) (int) rintf (x[j] * inv);
  return max / 127.0f;
}

/* One row of activations for the int8 kernels: x times mul (NULL: 1), quantised group by
 * group into the same integers as quantize_row, without a pass through memory between the
 * steps: a whole group (TE_Q8_GROUP / TE_VL vectors) stays in registers from its load to its
 * bytes. The group past the last whole one goes through quantize_row; q's padding
 * [k, kp) is 0 (128 for u8), which adds nothing. */
static void
quantize_act (const float *restrict x, const float *restrict mul, int k, int kp,
    int8_t * restrict q, float *restrict sa, int u8)
{
  enum { QV = TE_Q8_GROUP / TE_VL };
  typedef int8_t vb __attribute__ ((vector_size (TE_VL)));
  typedef int8_t vbu __attribute__ ((vector_size (TE_VL), aligned (1)));
  int c0 = 0;

  for (; c0 + TE_Q8_GROUP <= k; c0 += TE_Q8_GROUP) {
    vf v[QV], vmax = VSET (0);
    float max, inv;

    UNROLL for (int u = 0; u < QV; u++) {
      v[u] = LOADU (x + c0 + u * TE_VL);
      if (mul != NULL)
        v[u] = v[u] * LOADU (mul + c0 + u * TE_VL);
      vmax = v_absmax (vmax, v[u]);
    }
    max = lanes_max (vmax);
    inv = max > 0.0f ? 127.0f / max : 0.0f;
    sa[c0 / TE_Q8_GROUP] = max / 127.0f;
    UNROLL for (int u = 0; u < QV; u++) {
      vi n = __builtin_convertvector (V_RINT (v[u] * inv), vi);

      if (u8)
        n += 128;
      *(vbu *) (q + c0 + u * TE_VL) = __builtin_convertvector (n, vb);
    }
  }
  if (c0 < k) {
    float tmp[TE_Q8_GROUP];
    int len = k - c0;

    for (int c = 0; c < len; c++)
      tmp[c] = mul != NULL ? x[c0 + c] * mul[c0 + c] : x[c0 + c];
    sa[c0 / TE_Q8_GROUP] = quantize_row (tmp, len, q + c0, u8);
  }
  memset (q + k, u8 ? 128 : 0, (size_t) (kp - k));
}

const TeKernOps TE_KERN_OPS = {
  .quantize_row = quantize_row,
  .quantize_act = quantize_act,
  .nr = NR,
  .mr = TE_MR,
  .linear_panels = linear_panels,
  .attention_head = attention_head,
  .gelu = gelu,
};
