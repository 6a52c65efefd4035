/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-q8-avx2.c — the int8 kernel for AVX2 (built with -mavx2; called only when te-cpu.h
 * says the CPU has it). vpmaddubsw multiplies unsigned by signed bytes; with |a| as the
 * unsigned operand and sign(a) * w as the signed one, each pair of products is at most
 * 2 * 127 * 127 < 2^15, so nothing saturates. vpmaddwd with ones then sums pairs into int32.
 * A 3 x 16 tile: 6 int32 accumulators for the current group of 64 input channels, 6 float
 * ones for the sum over groups. */
#include "te-kern-private.h"

#include <immintrin.h>
#include <string.h>

#define TE_VL 8
#include "te-kern-vmath.h"      /* v_gelu */

#define NR 16
#define MR 3

static inline __attribute__ ((always_inline)) void
tile (const int MRC, const TeKernQ * w, const int8_t * A, const float *sa, const int8_t * B,
    int n0, float *C, int nr, TeKernEpilogue epi)
{
  __m256 facc[MR][2];
  const __m256i ones = _mm256_set1_epi16 (1);
  const int kp = w->kp, ldc = w->n, ng = w->ng;
  __m256 s0, s1, b0, b1;

#pragma GCC unroll 3
  for (int i = 0; i < MRC; i++) {
    facc[i][0] = _mm256_setzero_ps ();
    facc[i][1] = _mm256_setzero_ps ();
  }
  for (int g = 0; g < ng; g++) {
    __m256i acc[MR][2];

#pragma GCC unroll 3
    for (int i = 0; i < MRC; i++) {
      acc[i][0] = _mm256_setzero_si256 ();
      acc[i][1] = _mm256_setzero_si256 ();
    }
    for (int kg = g * (TE_Q8_GROUP / 4); kg < (g + 1) * (TE_Q8_GROUP / 4); kg++) {
      __m256i w0 = _mm256_load_si256 ((const __m256i *) (B + (size_t) kg * NR * 4));
      __m256i w1 = _mm256_load_si256 ((const __m256i *) (B + (size_t) kg * NR * 4 + 32));
#pragma GCC unroll 3
      for (int i = 0; i < MRC; i++) {
        int32_t a4;
        __m256i av, aa;
        memcpy (&a4, A + (size_t) i * kp + 4 * kg, 4);
        av = _mm256_set1_epi32 (a4);
        aa = _mm256_sign_epi8 (av, av);
        acc[i][0] = _mm256_add_epi32 (acc[i][0], _mm256_madd_epi16 (_mm256_maddubs_epi16 (aa,
                    _mm256_sign_epi8 (w0, av)), ones));
        acc[i][1] = _mm256_add_epi32 (acc[i][1], _mm256_madd_epi16 (_mm256_maddubs_epi16 (aa,
                    _mm256_sign_epi8 (w1, av)), ones));
      }
    }
#pragma GCC unroll 3
    for (int i = 0; i < MRC; i++) {
      __m256 si = _mm256_set1_ps (sa[(size_t) i * ng + g]);
      facc[i][0] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (acc[i][0]), si, facc[i][0]);
      facc[i][1] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (acc[i][1]), si, facc[i][1]);
    }
  }
  s0 = _mm256_load_ps (w->scale + n0);
  s1 = _mm256_load_ps (w->scale + n0 + 8);
  b0 = _mm256_load_ps (w->bias + n0);
  b1 = _mm256_load_ps (w->bias + n0 + 8);
#pragma GCC unroll 3
  for (int i = 0; i < MRC; i++) {
    __m256 o0 = _mm256_fmadd_ps (facc[i][0], s0, b0), o1 = _mm256_fmadd_ps (facc[i][1], s1, b1);

    if (epi == TE_KERN_EPI_GELU) {
      o0 = (__m256) v_gelu ((vf) o0);
      o1 = (__m256) v_gelu ((vf) o1);
    }
    if (nr == NR) {
      _mm256_storeu_ps (C + (size_t) i * ldc, o0);
      _mm256_storeu_ps (C + (size_t) i * ldc + 8, o1);
    } else {
      float out[NR];
      _mm256_storeu_ps (out, o0);
      _mm256_storeu_ps (out + 8, o1);
      memcpy (C + (size_t) i * ldc, out, (size_t) nr * sizeof (float));
    }
  }
}

#include "te-kern-q8-panels.h"

const TeKernQOps te_kern_q8_avx2 = {
  .name = "avx2",
  .nr = NR,
  .mr = MR,
  .act_u8 = 0,
  .panels = panels,
};
