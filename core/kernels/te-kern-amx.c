/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-amx.c — linear layers and attention on AMX tiles (level amx, te-cpu.h; built with
 * -mamx-tile -mamx-bf16 -mamx-int8 and AVX-512, run only when te-cpu.h says the CPU has them
 * and Linux granted the process the tile state).
 *
 * A tile is a 16-row x 64-byte register; the eight tiles here are configured alike:
 *   tiles 0-3  accumulators, 16 x 16 fp32 or int32 each: a 32 x 32 block of outputs
 *              (0: rows 0-15 x columns 0-15, 1: rows 0-15 x 16-31, 2 and 3 rows 16-31)
 *   tiles 4-5  activations, rows 0-15 and 16-31, 64 bytes of k each (32 bf16 / 64 int8)
 *   tiles 6-7  weights, columns 0-15 and 16-31 of a panel
 * One tdpbf16ps multiplies 16 x 32 by 32 x 16 bf16 into fp32 (8192 multiply-adds); one tdpbssd
 * 16 x 64 by 64 x 16 int8 into int32 (16384).
 *
 * The weights keep the layouts of the zmm kernels, which are already what a weight tile reads:
 * a tile row is 16 columns x 4 bytes (a bf16 pair, or 4 int8 of consecutive k), so a panel of 32
 * columns is two tiles 64 bytes apart, read with a row stride of 128 bytes.
 *
 * bf16: the activations are rounded to bf16 per block of rows into tile order (each 16 x 32
 * piece 1 KB contiguous); the accumulators start at the bias and stay in the tiles for the
 * whole k, then are stored straight into C.
 *
 * int8: an int8 group (64 input channels, each with its own activation scale per token) is
 * exactly one tile's k, so each group's int32 sums leave the tiles (four groups at a time),
 * are scaled by the token's group scale and added to the block's fp32 sums, which live in L1
 * and four rows at a time in registers; the activation tiles are read straight from the
 * quantised rows (the caller pads the rows past the end so that a tile of 16 rows never reads
 * past the buffer; those rows' results are not stored).
 *
 * attention (te_kern_attention_bf16): the end of this file. */
#include "te-kern-private.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TE_VL 16
#include "te-kern-vmath.h"      /* v_gelu */

#define NR 32                   /* columns per panel: two tiles */
#define MR 32                   /* rows per block of outputs: two tiles */

/* tileloadd as GCC's _tile_loadd, but declared to read memory: the intrinsic's asm names no
 * memory operand, so stores before it (the packed activations) could be moved past it. */
#define TILE_LOAD(t, base, stride)                                                          \
  __asm__ volatile ("tileloadd (%0,%1,1), %%tmm" #t                                        \
      :: "r" ((const void *) (base)), "r" ((long) (stride)) : "memory")

/* The LDTILECFG operand (palette 1): per tile its rows and bytes per row. */
typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} __attribute__ ((aligned (64))) TileConfig;

/* Tile state is per thread: configured on entry to each call, released on exit, so a thread
 * that is switched out between calls has no tile data for the kernel to save. */
static void
tiles_configure (void)
{
  TileConfig c;

  memset (&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  __asm__ volatile ("ldtilecfg %0" :: "m" (c));
}

/* ---- bf16 ---- */

/* Rows [0, rows) of A (row stride lda, k columns) rounded to bf16 into tile order:
 * Ap[row tile][k step][16 rows][16 pairs], rows up to a whole tile and pairs up to kp2 zero. */
static void
pack_a_bf16 (const float *A, size_t lda, int rows, int k, int kp2, uint16_t * Ap)
{
  int steps = kp2 / TE_KERN_BF16_KSTEP, row_tiles = (rows + 15) / 16;

  for (int rt = 0; rt < row_tiles; rt++)
    for (int r = 0; r < 16; r++) {
      int i = rt * 16 + r;
      const float *src = A + (size_t) i * lda;

      for (int s = 0; s < steps; s++) {
        uint16_t *dst = Ap + (((size_t) rt * steps + s) * 16 + r) * 32;
        int c0 = s * 32, n = i < rows ? (k - c0 < 32 ? k - c0 : 32) : 0;
        __mmask16 lo = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1);
        __mmask16 hi = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16) ((1u << (n - 16)) - 1);
        __m512 x0 = _mm512_maskz_loadu_ps (lo, src + c0);
        __m512 x1 = _mm512_maskz_loadu_ps (hi, src + c0 + 16);

        /* rounds to nearest even, as te_kern_bf16_round (x1 into the high half) */
        _mm512_storeu_si512 (dst, (__m512i) _mm512_cvtne2ps_pbh (x1, x0));
      }
    }
}

/* About this many bytes of bf16 activations per block of rows (at least 32 rows), packed once
 * and passed over by every panel of the task: 64 KB measured 10 % faster than 256 KB on a
 * Sapphire Rapids-class VM (1024 x 384 x 1536, one thread). */
#define BF16_BLOCK_BYTES (64 * 1024)

static int
linear_panels_bf16 (const TeKernW * w, const float *A, float *C, int m, int p0, int p1,
    TeKernEpilogue epi)
{
  const int K = w->k, N = w->n, kp2 = w->kp2, steps = kp2 / TE_KERN_BF16_KSTEP;
  const uint32_t *data = (const uint32_t *) w->data;
  int block = BF16_BLOCK_BYTES / (kp2 * 4) / MR * MR;
  float edge[MR * NR] __attribute__ ((aligned (64)));
  uint16_t *Ap;

  if (block < MR)
    block = MR;
  if (block > (m + MR - 1) / MR * MR)
    block = (m + MR - 1) / MR * MR;
  Ap = te_kern_alloc_aligned ((size_t) block * kp2 * 4);
  if (Ap == NULL)
    return -1;
  tiles_configure ();
  for (int b0 = 0; b0 < m; b0 += block) {
    int rows = m - b0 < block ? m - b0 : block;

    pack_a_bf16 (A + (size_t) b0 * K, K, rows, K, kp2, Ap);
    for (int p = p0; p < p1; p++) {
      const uint32_t *B = data + (size_t) p * kp2 * NR;
      const float *bias = w->bias + (size_t) p * NR;
      int n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;

      for (int i0 = 0; i0 < rows; i0 += MR) {
        int mr = rows - i0 < MR ? rows - i0 : MR, two = mr > 16;
        const uint16_t *a0 = Ap + (size_t) (i0 / 16) * steps * 512;
        const uint16_t *a1 = a0 + (size_t) steps * 512;
        int full = mr == MR && nr == NR;
        float *c = full ? C + (size_t) (b0 + i0) * N + n0 : edge;
        size_t ldc = full ? (size_t) N * 4 : NR * 4;

        /* the bias in every row: a row stride of 0 */
        TILE_LOAD (0, bias, 0);
        TILE_LOAD (1, bias + 16, 0);
        if (two) {
          TILE_LOAD (2, bias, 0);
          TILE_LOAD (3, bias + 16, 0);
        }
        for (int s = 0; s < steps; s++) {
          TILE_LOAD (4, a0 + (size_t) s * 512, 64);
          TILE_LOAD (6, B + (size_t) s * TE_KERN_BF16_KSTEP * NR, NR * 4);
          TILE_LOAD (7, B + (size_t) s * TE_KERN_BF16_KSTEP * NR + 16, NR * 4);
          _tile_dpbf16ps (0, 4, 6);
          _tile_dpbf16ps (1, 4, 7);
          if (two) {
            TILE_LOAD (5, a1 + (size_t) s * 512, 64);
            _tile_dpbf16ps (2, 5, 6);
            _tile_dpbf16ps (3, 5, 7);
          }
        }
        _tile_stored (0, c, ldc);
        _tile_stored (1, c + 16, ldc);
        if (two) {
          _tile_stored (2, (char *) c + 16 * ldc, ldc);
          _tile_stored (3, (char *) c + 16 * ldc + 64, ldc);
        }
        if (epi == TE_KERN_EPI_GELU)     /* on the block while it is in L1 */
          for (int i = 0; i < mr; i++) {
            float *row = (float *) ((char *) c + i * ldc);
            _mm512_storeu_ps (row, (__m512) v_gelu ((vf) _mm512_loadu_ps (row)));
            _mm512_storeu_ps (row + 16, (__m512) v_gelu ((vf) _mm512_loadu_ps (row + 16)));
          }
        if (!full)
          for (int i = 0; i < mr; i++)
            memcpy (C + (size_t) (b0 + i0 + i) * N + n0, edge + i * NR, nr * sizeof (float));
      }
    }
  }
  _tile_release ();
  free (Ap);
  return 0;
}

const TeKernOps te_kern_ops_amx_bf16 = {
  .nr = NR,
  .mr = MR,
  .linear_panels = linear_panels_bf16,
};

/* ---- int8 ---- */

/* groups whose int32 tiles are stored before they are scaled (4 KB each, on the stack) */
#define Q8_CHUNK 4

/* The products of groups [g0, g0 + gn) for a 32 x 32 block: rows of @a (quantised, row stride
 * kp; 32 rows readable, or 16 when !two), weight panel @b (row stride NR * 4). Each group's
 * four int32 tiles go to @isum ([group][tile][16 x 16]). */
static inline __attribute__ ((always_inline)) void
products_q8 (const int8_t * a, const int8_t * b, int kp, int g0, int gn, int two,
    int32_t * isum)
{
  for (int g = g0; g < g0 + gn; g++) {
    int32_t *o = isum + (size_t) (g - g0) * 1024;

    _tile_zero (0);
    _tile_zero (1);
    TILE_LOAD (4, a + (size_t) g * TE_Q8_GROUP, kp);
    TILE_LOAD (6, b + (size_t) g * TE_Q8_GROUP * NR, NR * 4);
    TILE_LOAD (7, b + (size_t) g * TE_Q8_GROUP * NR + 64, NR * 4);
    _tile_dpbssd (0, 4, 6);
    _tile_dpbssd (1, 4, 7);
    if (two) {
      _tile_zero (2);
      _tile_zero (3);
      TILE_LOAD (5, a + (size_t) 16 * kp + (size_t) g * TE_Q8_GROUP, kp);
      _tile_dpbssd (2, 5, 6);
      _tile_dpbssd (3, 5, 7);
    }
    _tile_stored (0, o, 64);
    _tile_stored (1, o + 256, 64);
    if (two) {
      _tile_stored (2, o + 512, 64);
      _tile_stored (3, o + 768, 64);
    }
  }
}

/* f[row][0..32) += sum over the chunk's groups of isum * the row's group scale, rows [0, mr)
 * four at a time (eight independent sums) */
static inline __attribute__ ((always_inline)) void
scale_add_q8 (const int32_t * isum, const float *s, int ng, int gn, int mr, float *f)
{
  for (int r0 = 0; r0 < mr; r0 += 4) {
    __m512 acc[4][2];

#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      acc[r][0] = _mm512_load_ps (f + (r0 + r) * NR);
      acc[r][1] = _mm512_load_ps (f + (r0 + r) * NR + 16);
    }
    for (int g = 0; g < gn; g++) {
      const int32_t *t = isum + (size_t) g * 1024 + (r0 >= 16 ? 512 : 0) + (r0 % 16) * 16;
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++) {
        __m512 sr = _mm512_set1_ps (s[(size_t) (r0 + r) * ng + g]);
        acc[r][0] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (_mm512_load_si512 (t + r * 16)), sr,
            acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (_mm512_load_si512 (t + 256 + r * 16)),
            sr, acc[r][1]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      _mm512_store_ps (f + (r0 + r) * NR, acc[r][0]);
      _mm512_store_ps (f + (r0 + r) * NR + 16, acc[r][1]);
    }
  }
}

static void
panels_q8 (const TeKernQ * w, const int8_t * Aq, const float *sa, float *C, int m, int p0,
    int p1, TeKernEpilogue epi)
{
  const int kp = w->kp, ng = w->ng, N = w->n;
  int block = TE_Q8_BLOCK_BYTES / kp / MR * MR;      /* as the zmm kernels */
  int32_t isum[Q8_CHUNK * 1024] __attribute__ ((aligned (64)));
  float f[MR * NR] __attribute__ ((aligned (64)));

  if (block < MR)
    block = MR;
  tiles_configure ();
  for (int b0 = 0; b0 < m; b0 += block) {
    int b1 = m - b0 < block ? m : b0 + block;

    for (int p = p0; p < p1; p++) {
      const int8_t *B = w->data + (size_t) p * kp * NR;
      int n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;
      __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16) ((1u << nr) - 1);
      __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16) ((1u << (nr - 16)) - 1);
      __m512 s0 = _mm512_load_ps (w->scale + n0), s1 = _mm512_load_ps (w->scale + n0 + 16);
      __m512 bb0 = _mm512_load_ps (w->bias + n0), bb1 = _mm512_load_ps (w->bias + n0 + 16);

      for (int i0 = b0; i0 < b1; i0 += MR) {
        int mr = b1 - i0 < MR ? b1 - i0 : MR;
        /* rows past mr (up to a multiple of 4) are summed too, from the padding, not stored */
        int mr4 = (mr + 3) / 4 * 4;

        memset (f, 0, sizeof (float) * mr4 * NR);
        for (int g0 = 0; g0 < ng; g0 += Q8_CHUNK) {
          int gn = ng - g0 < Q8_CHUNK ? ng - g0 : Q8_CHUNK;

          products_q8 (Aq + (size_t) i0 * kp, B, kp, g0, gn, mr > 16, isum);
          scale_add_q8 (isum, sa + (size_t) i0 * ng + g0, ng, gn, mr4, f);
        }
        for (int i = 0; i < mr; i++) {
          __m512 o0 = _mm512_fmadd_ps (_mm512_load_ps (f + i * NR), s0, bb0);
          __m512 o1 = _mm512_fmadd_ps (_mm512_load_ps (f + i * NR + 16), s1, bb1);
          float *c = C + (size_t) (i0 + i) * N + n0;

          if (epi == TE_KERN_EPI_GELU) {
            o0 = (__m512) v_gelu ((vf) o0);
            o1 = (__m512) v_gelu ((vf) o1);
          }
          if (nr == NR) {
            _mm512_storeu_ps (c, o0);
            _mm512_storeu_ps (c + 16, o1);
          } else {
            _mm512_mask_storeu_ps (c, m0, o0);
            _mm512_mask_storeu_ps (c + 16, m1, o1);
          }
        }
      }
    }
  }
  _tile_release ();
}

const TeKernQOps te_kern_q8_amx = {
  .name = "amx_int8",
  .nr = NR,
  .mr = MR,
  .act_u8 = 0,
  .pad_rows = 16,
  .panels = panels_q8,
};

/* ---- attention: bf16 products on tiles, softmax in fp32 ---- */

size_t
te_kern_amx_attention_scratch (int s, int d)
{
  size_t s16 = ((size_t) s + 15) / 16 * 16, s32 = ((size_t) s + 31) / 32 * 32;

  /* in floats: bf16 Q and K^T (s16 x d each) and V (s32 x d); fp32 scores and bf16
   * probabilities of 16 queries (16 x s32 each); 16 x d fp32 outputs. Every part is whole
   * cache lines (d is a multiple of 32). */
  return (2 * s16 * d + s32 * d) / 2 + 16 * s32 + 16 * s32 / 2 + 16 * (size_t) d;
}

/* vpermw indices interleaving the two halves of a 32 x bf16 register: x[c], x[16 + c] side by
 * side, a pair of keys for one column of V */
static const uint16_t interleave_idx[32] __attribute__ ((aligned (64))) = {
  0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
  8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31,
};

/* e^x for x <= 0, to about 4e-5 relative: enough for numerators rounded to bf16 next
 * (2^-9 relative). n = round (x log2 e), r = x - n ln 2 (|r| <= ln 2 / 2), e^r by its Taylor
 * polynomial of degree 4, scaled by 2^n with vscalefps (which also takes x below -87 to 0).
 * Half the instructions of v_exp_neg: with head size 32 the softmax's exponentials, not the
 * tiles' products, are most of AMX attention's time. */
static inline __m512
exp_neg_bf16 (__m512 x)
{
  __m512 n = _mm512_roundscale_ps (_mm512_mul_ps (x, _mm512_set1_ps (1.44269504f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps (n, _mm512_set1_ps (0.693147181f), x);
  __m512 p = _mm512_fmadd_ps (r, _mm512_set1_ps (1.0f / 24), _mm512_set1_ps (1.0f / 6));

  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (0.5f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  return _mm512_scalef_ps (p, n);
}

/* 16 floats from @p, zeros where @valid is false */
static inline __m512
load16 (const float *p, int valid)
{
  return valid ? _mm512_loadu_ps (p) : _mm512_setzero_ps ();
}

/* One head of one sequence (te_kern_attention's contract), d a multiple of 32 up to 64.
 * Q, K and V are rounded to bf16: Q in tile order (16 queries x 32 of d per tile), K
 * transposed into weight-tile order (16 pairs of d x 16 keys), V into pairs of keys
 * (16 pairs of keys x 16 columns). Per 16 queries: the scores S = Q K^T on tiles, two blocks
 * of 16 keys at a time; softmax per row in fp32 (the numerators rounded to bf16); then P V on
 * tiles, divided by the row's sum on the way out. Four blocks of keys at a time, or two chains
 * of accumulation in P V, measured no faster: with d = 32 the exponentials dominate. */
void
te_kern_amx_attention_head (const float *q, const float *k, const float *v, int ld,
    float *out, int ldo, int s, int d, float scale, float *scratch)
{
  const int s16 = (s + 15) / 16 * 16, s32 = (s + 31) / 32 * 32, dsteps = d / 32;
  const int dcols = d / 16;
  uint16_t *Qb = (uint16_t *) scratch;  /* [s16 / 16][dsteps][16][32] */
  uint32_t *Kt = (uint32_t *) (Qb + (size_t) s16 * d);  /* [s16 / 16][dsteps][16][16] */
  uint32_t *Vp = Kt + (size_t) s16 * d / 2;     /* [s32 / 32][dcols][16][16] */
  float *S = (float *) (Vp + (size_t) s32 * d / 2);     /* [16][s32] */
  uint16_t *P = (uint16_t *) (S + (size_t) 16 * s32);   /* [16][s32] */
  float *O = (float *) (P + (size_t) 16 * s32); /* [16][d] */
  const __m512i perm = _mm512_load_si512 (interleave_idx);

  for (int i = 0; i < s16; i++)
    for (int ds = 0; ds < dsteps; ds++) {
      const float *src = q + (size_t) i * ld + ds * 32;
      __m512bh x = _mm512_cvtne2ps_pbh (load16 (src + 16, i < s), load16 (src, i < s));
      _mm512_storeu_si512 (Qb + (((size_t) (i / 16) * dsteps + ds) * 16 + i % 16) * 32,
          (__m512i) x);
    }
  for (int kb = 0; kb < s16 / 16; kb++)
    for (int ds = 0; ds < dsteps; ds++) {
      uint32_t tmp[16][16] __attribute__ ((aligned (64)));
      uint32_t *dst = Kt + ((size_t) kb * dsteps + ds) * 256;

      for (int j = 0; j < 16; j++) {
        const float *src = k + (size_t) (kb * 16 + j) * ld + ds * 32;
        int ok = kb * 16 + j < s;
        _mm512_store_si512 (tmp[j], (__m512i) _mm512_cvtne2ps_pbh (load16 (src + 16, ok),
                load16 (src, ok)));
      }
      for (int p = 0; p < 16; p++)
        for (int j = 0; j < 16; j++)
          dst[p * 16 + j] = tmp[j][p];
    }
  for (int kp = 0; kp < s32 / 2; kp++)        /* pairs of keys */
    for (int dc = 0; dc < dcols; dc++) {
      int k0 = 2 * kp, ks = k0 / 32, p = kp % 16;
      const float *r0 = v + (size_t) k0 * ld + dc * 16;
      __m512bh x = _mm512_cvtne2ps_pbh (load16 (r0 + ld, k0 + 1 < s), load16 (r0, k0 < s));
      _mm512_storeu_si512 (Vp + (((size_t) ks * dcols + dc) * 16 + p) * 16,
          _mm512_permutexvar_epi16 (perm, (__m512i) x));
    }

  tiles_configure ();
  for (int i0 = 0; i0 < s; i0 += 16) {
    const uint16_t *qa = Qb + (size_t) (i0 / 16) * dsteps * 512;
    float inv[16];

    /* scores, two blocks of 16 keys at a time */
    for (int kb = 0; kb < s16 / 16; kb += 2) {
      int two = kb + 1 < s16 / 16;

      _tile_zero (0);
      _tile_zero (1);
      for (int ds = 0; ds < dsteps; ds++) {
        TILE_LOAD (4, qa + (size_t) ds * 512, 64);
        TILE_LOAD (6, Kt + ((size_t) kb * dsteps + ds) * 256, 64);
        _tile_dpbf16ps (0, 4, 6);
        if (two) {
          TILE_LOAD (7, Kt + ((size_t) (kb + 1) * dsteps + ds) * 256, 64);
          _tile_dpbf16ps (1, 4, 7);
        }
      }
      _tile_stored (0, S + kb * 16, s32 * 4);
      if (two)
        _tile_stored (1, S + kb * 16 + 16, s32 * 4);
    }
    /* softmax numerators in bf16 (zero past s), 1 / their sum */
    for (int r = 0; r < 16; r++) {
      float *row = S + (size_t) r * s32;
      __m512 vmax = _mm512_set1_ps (-INFINITY), vsum = _mm512_setzero_ps ();
      float max;
      int j;

      for (j = 0; j + 16 <= s; j += 16)
        vmax = _mm512_max_ps (vmax, _mm512_loadu_ps (row + j));
      if (j < s)
        vmax = _mm512_mask_max_ps (vmax, (__mmask16) ((1u << (s - j)) - 1), vmax,
            _mm512_loadu_ps (row + j));
      max = _mm512_reduce_max_ps (vmax);
      for (j = 0; j < s32; j += 32) {
        __m512 e[2];
        for (int h = 0; h < 2; h++) {
          int n = s - (j + 16 * h);
          __mmask16 m = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1);
          __m512 x = _mm512_maskz_loadu_ps (m, row + j + 16 * h);
          e[h] = _mm512_maskz_mov_ps (m, exp_neg_bf16 (_mm512_mul_ps (_mm512_sub_ps (x,
                      _mm512_set1_ps (max)), _mm512_set1_ps (scale))));
          vsum = _mm512_add_ps (vsum, e[h]);
        }
        _mm512_storeu_si512 (P + (size_t) r * s32 + j, (__m512i) _mm512_cvtne2ps_pbh (e[1],
                e[0]));
      }
      inv[r] = 1.0f / _mm512_reduce_add_ps (vsum);
    }
    /* P V: d / 16 accumulators, 32 keys a step */
    for (int dc = 0; dc < dcols; dc += 2) {
      _tile_zero (0);
      _tile_zero (1);
      for (int ks = 0; ks < s32 / 32; ks++) {
        TILE_LOAD (4, P + ks * 32, s32 * 2);
        TILE_LOAD (6, Vp + ((size_t) ks * dcols + dc) * 256, 64);
        TILE_LOAD (7, Vp + ((size_t) ks * dcols + dc + 1) * 256, 64);
        _tile_dpbf16ps (0, 4, 6);
        _tile_dpbf16ps (1, 4, 7);
      }
      _tile_stored (0, O + dc * 16, d * 4);
      _tile_stored (1, O + dc * 16 + 16, d * 4);
    }
    for (int r = 0; r < 16 && i0 + r < s; r++)
      for (int c = 0; c < d; c += 16)
        _mm512_storeu_ps (out + (size_t) (i0 + r) * ldo + c,
            _mm512_mul_ps (_mm512_loadu_ps (O + (size_t) r * d + c), _mm512_set1_ps (inv[r])));
  }
  _tile_release ();
}
