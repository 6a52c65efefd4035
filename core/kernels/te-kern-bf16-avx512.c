/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-bf16-avx512.c — bf16 linear layers for CPUs with AVX512_BF16 (built with
 * -mavx512bf16; used only when te-cpu.h says the CPU has it). Weights are rounded to bf16 once
 * at pack time, activations when their block is packed; vdpbf16ps multiplies pairs of bf16 and
 * adds both products to fp32 accumulators: twice the multiply-adds of an fp32 FMA per
 * instruction, with fp32 accumulation. 12 x 32 register tile (24 zmm accumulators). */
#include "te-kern-private.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define NR 32
#define MR 12
#define MC (MR * 16)

/* acc += a . b over bf16 pairs; asm for the same reason as vpdpbusd (te-kern-q8-avx512vnni.c) */
#define DPBF16(acc, a, b) __asm__ ("vdpbf16ps %2, %1, %0" : "+v" (acc) : "v" (a), "v" (b))

static inline __attribute__ ((always_inline)) void
tile (const int MRC, int kp2, const uint32_t * A, const uint32_t * B, float *C, int ldc,
    const float *bias, int nr)
{
  __m512 acc[MR][2];
  __m512 z0 = _mm512_load_ps (bias), z1 = _mm512_load_ps (bias + 16);
  __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16) ((1u << nr) - 1);
  __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16) ((1u << (nr - 16)) - 1);

#pragma GCC unroll 12
  for (int i = 0; i < MRC; i++) {
    acc[i][0] = z0;
    acc[i][1] = z1;
  }
  for (int q = 0; q < kp2; q++) {
    __m512 w0 = _mm512_castsi512_ps (_mm512_load_si512 (B + (size_t) q * NR));
    __m512 w1 = _mm512_castsi512_ps (_mm512_load_si512 (B + (size_t) q * NR + 16));
#pragma GCC unroll 12
    for (int i = 0; i < MRC; i++) {
      __m512 a = _mm512_castsi512_ps (_mm512_set1_epi32 ((int) A[(size_t) q * MR + i]));
      DPBF16 (acc[i][0], a, w0);
      DPBF16 (acc[i][1], a, w1);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MRC; i++) {
    _mm512_mask_storeu_ps (C + (size_t) i * ldc, m0, acc[i][0]);
    _mm512_mask_storeu_ps (C + (size_t) i * ldc + 16, m1, acc[i][1]);
  }
}

/* Rows [0, mc) of A (row stride lda, k columns) as @kp2 bf16 pairs in micro-panels of MR rows:
 * Ap[panel][q][MR], pair q = columns 2q, 2q + 1 (low half: 2q); rows past mc and columns past
 * k are zero. */
static void
pack_a (const float *A, int lda, int mc, int k, int kp2, uint32_t * Ap)
{
  for (int i0 = 0; i0 < mc; i0 += MR) {
    uint32_t *dst = Ap + (size_t) i0 * kp2;
    for (int i = 0; i < MR; i++) {
      const float *src = A + (size_t) (i0 + i) * lda;
      for (int q = 0; q < kp2; q++) {
        uint32_t lo = 0, hi = 0;
        if (i0 + i < mc && 2 * q < k) {
          lo = te_kern_bf16_round (src[2 * q]);
          hi = 2 * q + 1 < k ? te_kern_bf16_round (src[2 * q + 1]) : 0;
        }
        dst[(size_t) q * MR + i] = lo | hi << 16;
      }
    }
  }
}

static int
linear_panels (const TeKernW * w, const float *A, float *C, int m, int p0, int p1,
    TeKernEpilogue epi)
{
  const int K = w->k, N = w->n, kp2 = w->kp2, kq = (K + 1) / 2;     /* kq: pairs with data */
  const uint32_t *data = (const uint32_t *) w->data;
  float edge[MR * NR];
  uint32_t *Ap = aligned_alloc (64, ((size_t) (MC + MR) * kp2 * 4 + 63) / 64 * 64);

  if (Ap == NULL)
    return -1;
  for (int m0 = 0; m0 < m; m0 += MC) {
    int mc = m - m0 < MC ? m - m0 : MC;

    pack_a (A + (size_t) m0 * K, K, mc, K, kp2, Ap);
    for (int p = p0; p < p1; p++) {
      const uint32_t *B = data + (size_t) p * kp2 * NR;
      const float *bias = w->bias + (size_t) p * NR;
      int n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;

      for (int i0 = m0; i0 < m0 + mc; i0 += MR) {
        int mr = m0 + mc - i0 < MR ? m0 + mc - i0 : MR;
        const uint32_t *a = Ap + (size_t) (i0 - m0) * kp2;
        float *c = nr == NR ? C + (size_t) i0 * N + n0 : edge;
        int ldc = nr == NR ? N : NR;

#define CASE(r) case r: tile (r, kq, a, B, c, ldc, bias, nr); break;
        switch (mr) {
          CASE (1) CASE (2) CASE (3) CASE (4) CASE (5) CASE (6)
          CASE (7) CASE (8) CASE (9) CASE (10) CASE (11) CASE (12)
          default: break;
        }
#undef CASE
        if (nr != NR)
          for (int i = 0; i < mr; i++)
            memcpy (C + (size_t) (i0 + i) * N + n0, edge + i * NR, nr * sizeof (float));
        if (epi == TE_KERN_EPI_GELU)
          for (int i = 0; i < mr; i++)
            te_kern_ops_avx512.gelu (C + (size_t) (i0 + i) * N + n0, (size_t) nr);
      }
    }
  }
  free (Ap);
  return 0;
}

const TeKernOps te_kern_ops_avx512_bf16 = {
  .nr = NR,
  .mr = MR,
  .linear_panels = linear_panels,
};
