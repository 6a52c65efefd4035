/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-vmath.h — vector types and elementwise math of the kernels, written once with
 * GCC/clang vector extensions: included by te-kern-impl.h (the fp32 kernels) and by the int8
 * kernels for their GELU epilogue, after defining TE_VL (floats per vector register), and
 * compiled with that level's instruction-set flags. The types convert to the level's
 * intrinsic types (__m512, float32x4_t, ...) by a cast. */
#pragma once

#include <math.h>
#include <stdint.h>

#ifndef TE_VL
#error "define TE_VL before including te-kern-vmath.h"
#endif

typedef float vf __attribute__ ((vector_size (TE_VL * 4)));
typedef float vfu __attribute__ ((vector_size (TE_VL * 4), aligned (4)));
typedef int32_t vi __attribute__ ((vector_size (TE_VL * 4)));
typedef uint32_t vu __attribute__ ((vector_size (TE_VL * 4)));

#define VSET(c) ((vf) {} + (float) (c))
#define LOADU(p) (*(const vfu *) (p))
#define STOREU(p, v) (*(vfu *) (p) = (v))

#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL _Pragma ("GCC unroll 32")
#else
#define UNROLL _Pragma ("unroll")
#endif
#define INLINE static inline __attribute__ ((always_inline))

/* max (lo, x), NaN kept a NaN: one instruction where the level has one (x86's maxps returns
 * its second operand when either is NaN; NEON's fmax returns NaN), else a compare and select */
#if defined(__AVX512F__) && TE_VL == 16
#include <immintrin.h>
#define V_MAX(lo, x) ((vf) _mm512_max_ps ((__m512) (lo), (__m512) (x)))
#elif defined(__AVX__) && TE_VL == 8
#include <immintrin.h>
#define V_MAX(lo, x) ((vf) _mm256_max_ps ((__m256) (lo), (__m256) (x)))
#elif defined(__SSE2__) && TE_VL == 4
#include <immintrin.h>
#define V_MAX(lo, x) ((vf) _mm_max_ps ((__m128) (lo), (__m128) (x)))
#elif defined(__aarch64__) && TE_VL == 4
#include <arm_neon.h>
#define V_MAX(lo, x) ((vf) vmaxq_f32 ((float32x4_t) (lo), (float32x4_t) (x)))
#else
INLINE vf
V_MAX (vf lo, vf x)
{
  vi m = x < lo;
  return (vf) (((vi) x & ~m) | ((vi) lo & m));
}
#endif

/* The largest lane and the sum of the lanes: a tree of shuffles where the level has one (the
 * scalar loop over lanes was a tenth of the attention kernel at 16 lanes). */
#if defined(__AVX512F__) && TE_VL == 16
#define V_HMAX(x) _mm512_reduce_max_ps ((__m512) (x))
#define V_HSUM(x) _mm512_reduce_add_ps ((__m512) (x))
#elif defined(__AVX__) && TE_VL == 8
INLINE float
V_HMAX (vf x)
{
  __m128 h = _mm_max_ps (_mm256_castps256_ps128 ((__m256) x),
      _mm256_extractf128_ps ((__m256) x, 1));
  h = _mm_max_ps (h, _mm_movehl_ps (h, h));
  return _mm_cvtss_f32 (_mm_max_ss (h, _mm_shuffle_ps (h, h, 1)));
}

INLINE float
V_HSUM (vf x)
{
  __m128 h = _mm_add_ps (_mm256_castps256_ps128 ((__m256) x),
      _mm256_extractf128_ps ((__m256) x, 1));
  h = _mm_add_ps (h, _mm_movehl_ps (h, h));
  return _mm_cvtss_f32 (_mm_add_ss (h, _mm_shuffle_ps (h, h, 1)));
}
#elif defined(__aarch64__) && TE_VL == 4
#define V_HMAX(x) vmaxvq_f32 ((float32x4_t) (x))
#define V_HSUM(x) vaddvq_f32 ((float32x4_t) (x))
#else
INLINE float
V_HMAX (vf x)
{
  float m = x[0];
  for (int l = 1; l < TE_VL; l++)
    m = x[l] > m ? x[l] : m;
  return m;
}

INLINE float
V_HSUM (vf x)
{
  float t = 0.0f;
  for (int l = 0; l < TE_VL; l++)
    t += x[l];
  return t;
}
#endif

/* rint (x) lane by lane (to nearest, ties to even): one instruction where the level has one,
 * else libm's rintf per lane. Being an instruction rather than an add of 1.5 * 2^23, the
 * product it rounds cannot be fused into an FMA and rounded differently. */
#if defined(__AVX512F__) && TE_VL == 16
#define V_RINT(x) ((vf) _mm512_roundscale_ps ((__m512) (x), \
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
#elif defined(__AVX__) && TE_VL == 8
#define V_RINT(x) ((vf) _mm256_round_ps ((__m256) (x), \
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
#elif defined(__aarch64__) && TE_VL == 4
#define V_RINT(x) ((vf) vrndnq_f32 ((float32x4_t) (x)))
#else
INLINE vf
V_RINT (vf x)
{
  for (int l = 0; l < TE_VL; l++)
    x[l] = rintf (x[l]);
  return x;
}
#endif

/* e^x for x <= 0 (softmax after subtracting the row max; erf's e^(-x^2)). Range reduction
 * x = n ln2 + r with |r| <= ln2/2, Cephes' polynomial for e^r (about 1 ulp), 2^n from
 * the exponent bits. Inputs below -87 give 2^-126 (a weight of ~1e-38: nothing).
 * Written for throughput, since softmax and GELU evaluate it for every score and every FFN
 * activation: n is rounded by adding 1.5 * 2^23 (n lands in the low mantissa bits, so no
 * float <-> int conversions, which x86 runs on one port), and the polynomial by Estrin's
 * scheme rather than Horner's (16 cycles of FMA latency instead of 38). */
INLINE vf
v_exp_neg (vf x)
{
  const float magic = 12582912.0f;      /* 1.5 * 2^23: its ulp is 1 */
  vf fn, nf, r, r2, r4, p;
  vu bits;

  x = V_MAX (VSET (-87.0f), x);
  fn = x * 1.44269504088896341f + magic;        /* magic + round (x log2 e) */
  nf = fn - magic;
  r = x - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  r2 = r * r;
  r4 = r2 * r2;
  p = (r * 1.9875691500e-4f + 1.3981999507e-3f) * r4
      + ((r * 8.3334519073e-3f + 4.1665795894e-2f) * r2
      + (r * 1.6666665459e-1f + 5.0000001201e-1f));
  p = p * r2 + (r + 1.0f);
  /* fn's bits are those of magic plus n; shifted into the exponent field, magic's drop out */
  bits = ((vu) fn + 127u) << 23;
  return p * (vf) bits;
}

/* GELU with erf (BERT's "gelu"): 0.5 x (1 + erf(x / sqrt 2)). erf by Abramowitz & Stegun
 * 7.1.26 (absolute error <= 1.5e-7, below float resolution of 1 + erf). */
INLINE vf
v_gelu (vf x)
{
  const vi sign_bit = (vi) {} + INT32_MIN;     /* not VSET (-0.0f): 0 + -0 is +0 */
  vf z = x * 0.70710678118654752f;
  vi sign = (vi) z & sign_bit;
  vf az = (vf) ((vi) z & ~sign_bit);
  vf t = 1.0f / (az * 0.3275911f + 1.0f);
  vf poly = VSET (1.061405429f);
  vf erf_abs;

  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  poly = poly * t;
  erf_abs = 1.0f - poly * v_exp_neg (-(az * az));
  return 0.5f * x * (1.0f + (vf) ((vi) erf_abs | sign));
}
