/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-q8-avx512vnni.c — the int8 kernel for AVX-512 VNNI (built with -mavx512vnni; called
 * only when te-cpu.h says the CPU has it). A 6 x 32 tile: 12 int32 accumulators for the
 * current group of 64 input channels and 12 float ones for the sum over groups (24 of the 32
 * zmm registers); each vpdpbusd multiplies 4 activation bytes (u8, stored as a + 128) with 4
 * weight bytes (s8) for 16 columns and adds the 4 products to each column's accumulator. A
 * group's accumulators start at -128 * sum(W[n, group]), which takes the +128 back out. */
#include "te-kern-private.h"

#include <immintrin.h>
#include <string.h>

#define TE_VL 16
#include "te-kern-vmath.h"      /* v_gelu */

#define NR 32
#define MR 6

/* acc += a (u8) . b (s8) per 4 bytes. Inline asm rather than _mm512_dpbusd_epi32: with the
 * intrinsic GCC 12 copies every accumulator around each (destructive) vpdpbusd. */
#define DPBUSD(acc, a, b) __asm__ ("vpdpbusd %2, %1, %0" : "+v" (acc) : "v" (a), "v" (b))

static inline __attribute__ ((always_inline)) void
tile (const int MRC, const TeKernQ * w, const int8_t * A, const float *sa, const int8_t * B,
    int n0, float *C, int nr, TeKernEpilogue epi)
{
  __m512 facc[MR][2];
  const int kp = w->kp, ldc = w->n, ng = w->ng;
  const size_t cols = (size_t) w->n_panels * NR;
  __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16) ((1u << nr) - 1);
  __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16) ((1u << (nr - 16)) - 1);
  __m512 s0, s1, b0, b1;

#pragma GCC unroll 6
  for (int i = 0; i < MRC; i++) {
    facc[i][0] = _mm512_setzero_ps ();
    facc[i][1] = _mm512_setzero_ps ();
  }
  for (int g = 0; g < ng; g++) {
    __m512i acc[MR][2];
    __m512i z0 = _mm512_load_si512 (w->acc0 + g * cols + n0);
    __m512i z1 = _mm512_load_si512 (w->acc0 + g * cols + n0 + 16);

#pragma GCC unroll 6
    for (int i = 0; i < MRC; i++) {
      acc[i][0] = z0;
      acc[i][1] = z1;
    }
    for (int kg = g * (TE_Q8_GROUP / 4); kg < (g + 1) * (TE_Q8_GROUP / 4); kg++) {
      __m512i w0 = _mm512_load_si512 (B + (size_t) kg * NR * 4);
      __m512i w1 = _mm512_load_si512 (B + (size_t) kg * NR * 4 + 64);
#pragma GCC unroll 6
      for (int i = 0; i < MRC; i++) {
        int32_t a4;
        __m512i av;
        memcpy (&a4, A + (size_t) i * kp + 4 * kg, 4);
        av = _mm512_set1_epi32 (a4);
        DPBUSD (acc[i][0], av, w0);
        DPBUSD (acc[i][1], av, w1);
      }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MRC; i++) {
      __m512 si = _mm512_set1_ps (sa[(size_t) i * ng + g]);
      facc[i][0] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (acc[i][0]), si, facc[i][0]);
      facc[i][1] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (acc[i][1]), si, facc[i][1]);
    }
  }
  s0 = _mm512_load_ps (w->scale + n0);
  s1 = _mm512_load_ps (w->scale + n0 + 16);
  b0 = _mm512_load_ps (w->bias + n0);
  b1 = _mm512_load_ps (w->bias + n0 + 16);
#pragma GCC unroll 6
  for (int i = 0; i < MRC; i++) {
    __m512 o0 = _mm512_fmadd_ps (facc[i][0], s0, b0), o1 = _mm512_fmadd_ps (facc[i][1], s1, b1);

    if (epi == TE_KERN_EPI_GELU) {
      o0 = (__m512) v_gelu ((vf) o0);
      o1 = (__m512) v_gelu ((vf) o1);
    }
    if (nr == NR) {             /* unmasked: a masked store does not forward to a later load */
      _mm512_storeu_ps (C + (size_t) i * ldc, o0);
      _mm512_storeu_ps (C + (size_t) i * ldc + 16, o1);
    } else {
      _mm512_mask_storeu_ps (C + (size_t) i * ldc, m0, o0);
      _mm512_mask_storeu_ps (C + (size_t) i * ldc + 16, m1, o1);
    }
  }
}

#include "te-kern-q8-panels.h"

const TeKernQOps te_kern_q8_avx512_vnni = {
  .name = "avx512_vnni",
  .nr = NR,
  .mr = MR,
  .act_u8 = 1,
  .panels = panels,
};
