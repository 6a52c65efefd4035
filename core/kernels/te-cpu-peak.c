/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-cpu-peak.c — instruction-throughput probes (te-cpu.h): the multiply-accumulate steps the
 * kernels are built from, in independent chains so that only throughput counts. x86-64 only;
 * each probe is compiled for its own instruction set (target attributes) and run only when
 * te-cpu.h says the CPU has it. Plain C, libc only. */
#include "te-cpu.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>

/* 10 accumulators: more than FMA latency x throughput on any x86 core */
#define FMA10(reg)                                                                          \
  __asm__ volatile ("vfmadd231ps %[b], %[c], %[a0]\n\tvfmadd231ps %[b], %[c], %[a1]\n\t"    \
      "vfmadd231ps %[b], %[c], %[a2]\n\tvfmadd231ps %[b], %[c], %[a3]\n\t"                  \
      "vfmadd231ps %[b], %[c], %[a4]\n\tvfmadd231ps %[b], %[c], %[a5]\n\t"                  \
      "vfmadd231ps %[b], %[c], %[a6]\n\tvfmadd231ps %[b], %[c], %[a7]\n\t"                  \
      "vfmadd231ps %[b], %[c], %[a8]\n\tvfmadd231ps %[b], %[c], %[a9]"                      \
      : [a0] "+" reg (a[0]), [a1] "+" reg (a[1]), [a2] "+" reg (a[2]), [a3] "+" reg (a[3]), \
        [a4] "+" reg (a[4]), [a5] "+" reg (a[5]), [a6] "+" reg (a[6]), [a7] "+" reg (a[7]), \
        [a8] "+" reg (a[8]), [a9] "+" reg (a[9]) : [b] reg (b), [c] reg (c))

__attribute__ ((target ("avx2,fma")))
static double
fma_ymm (long iters)
{
  __m256 a[10], b = _mm256_set1_ps (0.999f), c = _mm256_set1_ps (1e-3f);

  for (int i = 0; i < 10; i++)
    a[i] = _mm256_set1_ps ((float) i);
  for (long it = 0; it < iters; it++)
    FMA10 ("x");
  return (double) iters * 10 * 16 + (a[3][0] > 1e30f);
}

__attribute__ ((target ("avx512f")))
static double
fma_zmm (long iters)
{
  __m512 a[10], b = _mm512_set1_ps (0.999f), c = _mm512_set1_ps (1e-3f);

  for (int i = 0; i < 10; i++)
    a[i] = _mm512_set1_ps ((float) i);
  for (long it = 0; it < iters; it++)
    FMA10 ("v");
  return (double) iters * 10 * 32 + (a[3][0] > 1e30f);
}

/* The AVX2 int8 step (te-kern-q8-avx2.c): 32 u8 x s8 products summed in pairs (vpmaddubsw),
 * pairs of those into int32 (vpmaddwd with ones), accumulated (vpaddd); 5 chains. */
__attribute__ ((target ("avx2")))
static double
q8_avx2 (long iters)
{
  __m256i acc[5], t[5], x = _mm256_set1_epi8 (3), w = _mm256_set1_epi8 (-2),
      ones = _mm256_set1_epi16 (1);
  int32_t out[8];

  for (int i = 0; i < 5; i++)
    acc[i] = _mm256_setzero_si256 ();
  for (long it = 0; it < iters; it++) {
#define STEP(i) "vpmaddubsw %[w], %[x], %[t" #i "]\n\tvpmaddwd %[o], %[t" #i "], %[t" #i "]\n\t" \
    "vpaddd %[t" #i "], %[c" #i "], %[c" #i "]\n\t"
    __asm__ volatile (STEP (0) STEP (1) STEP (2) STEP (3) STEP (4)
        : [c0] "+x" (acc[0]), [c1] "+x" (acc[1]), [c2] "+x" (acc[2]), [c3] "+x" (acc[3]),
          [c4] "+x" (acc[4]), [t0] "=&x" (t[0]), [t1] "=&x" (t[1]), [t2] "=&x" (t[2]),
          [t3] "=&x" (t[3]), [t4] "=&x" (t[4])
        : [x] "x" (x), [w] "x" (w), [o] "x" (ones));
#undef STEP
  }
  _mm256_storeu_si256 ((__m256i *) out, acc[2]);
  return (double) iters * 5 * 64 + (out[0] == 12345);
}

/* vpdpbusd (te-kern-q8-avx512vnni.c): 64 u8 x s8 products into 16 int32 per instruction */
__attribute__ ((target ("avx512f,avx512vnni")))
static double
q8_vnni (long iters)
{
  __m512i a[10], x = _mm512_set1_epi8 (3), w = _mm512_set1_epi8 (-2);
  int32_t out[16];

  for (int i = 0; i < 10; i++)
    a[i] = _mm512_setzero_si512 ();
  for (long it = 0; it < iters; it++) {
#define DP(i) "vpdpbusd %[w], %[x], %[a" #i "]\n\t"
    __asm__ volatile (DP (0) DP (1) DP (2) DP (3) DP (4) DP (5) DP (6) DP (7) DP (8) DP (9)
        : [a0] "+v" (a[0]), [a1] "+v" (a[1]), [a2] "+v" (a[2]), [a3] "+v" (a[3]),
          [a4] "+v" (a[4]), [a5] "+v" (a[5]), [a6] "+v" (a[6]), [a7] "+v" (a[7]),
          [a8] "+v" (a[8]), [a9] "+v" (a[9])
        : [x] "v" (x), [w] "v" (w));
#undef DP
  }
  _mm512_storeu_si512 (out, a[2]);
  return (double) iters * 10 * 128 + (out[0] == 12345);
}

/* tdpbssd (te-kern-amx.c): 16 x 64 by 64 x 16 int8 into 16 x 16 int32, 16384 multiply-adds,
 * into 4 accumulator tiles in turn */
__attribute__ ((target ("amx-tile,amx-int8")))
static double
q8_amx (long iters)
{
  struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
  } __attribute__ ((aligned (64))) cfg = { .palette = 1 };
  static const int8_t src[16 * 64] __attribute__ ((aligned (64)));

  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  /* not _tile_loadconfig: GCC 12's names only 8 bytes of its operand, so the stores of the
   * rows and widths can be dropped as dead */
  __asm__ volatile ("ldtilecfg %0" :: "m" (cfg));
  _tile_zero (0);
  _tile_zero (1);
  _tile_zero (2);
  _tile_zero (3);
  _tile_loadd (4, src, 64);
  _tile_loadd (6, src, 64);
  for (long it = 0; it < iters; it++) {
    _tile_dpbssd (0, 4, 6);
    _tile_dpbssd (1, 4, 6);
    _tile_dpbssd (2, 4, 6);
    _tile_dpbssd (3, 4, 6);
    _tile_dpbssd (0, 4, 6);
    _tile_dpbssd (1, 4, 6);
    _tile_dpbssd (2, 4, 6);
    _tile_dpbssd (3, 4, 6);
    _tile_dpbssd (0, 4, 6);
    _tile_dpbssd (1, 4, 6);
  }
  _tile_release ();
  return (double) iters * 10 * 32768;
}
#endif

const char *
te_cpu_probe_name (TeCpuProbe probe)
{
  switch (probe) {
    case TE_CPU_PROBE_FMA_YMM:
      return "vfmadd231ps ymm";
    case TE_CPU_PROBE_FMA_ZMM:
      return "vfmadd231ps zmm";
    case TE_CPU_PROBE_Q8_AVX2:
      return "vpmaddubsw+vpmaddwd+vpaddd ymm";
    case TE_CPU_PROBE_Q8_VNNI:
      return "vpdpbusd zmm";
    case TE_CPU_PROBE_Q8_AMX:
      return "tdpbssd";
    default:
      return "none";
  }
}

TeCpuProbe
te_cpu_probe_for (TeCpuLevel level, bool int8)
{
  const TeCpuFeatures *f = te_cpu_features ();

  if (!te_cpu_level_supported (level))
    return TE_CPU_PROBE_NONE;
  switch (level) {
    case TE_CPU_AVX2:
      return int8 ? TE_CPU_PROBE_Q8_AVX2 : TE_CPU_PROBE_FMA_YMM;
    case TE_CPU_AVX512:
      /* the int8 kernel of this level (te-kern-q8.c): vpdpbusd with VNNI, else AVX2's */
      return !int8 ? TE_CPU_PROBE_FMA_ZMM
          : f->avx512_vnni ? TE_CPU_PROBE_Q8_VNNI : TE_CPU_PROBE_Q8_AVX2;
    case TE_CPU_AMX:
      return int8 ? TE_CPU_PROBE_Q8_AMX : TE_CPU_PROBE_FMA_ZMM;
    default:
      return TE_CPU_PROBE_NONE;
  }
}

double
te_cpu_probe_run (TeCpuProbe probe, long iters)
{
#if defined(__x86_64__)
  switch (probe) {
    case TE_CPU_PROBE_FMA_YMM:
      return fma_ymm (iters);
    case TE_CPU_PROBE_FMA_ZMM:
      return fma_zmm (iters);
    case TE_CPU_PROBE_Q8_AVX2:
      return q8_avx2 (iters);
    case TE_CPU_PROBE_Q8_VNNI:
      return q8_vnni (iters);
    case TE_CPU_PROBE_Q8_AMX:
      return q8_amx (iters);
    default:
      return 0.0;
  }
#else
  (void) probe;
  (void) iters;
  return 0.0;
#endif
}

static double
now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* operations per second of one run of about 1 ms on this thread (an AMX step is 16 cycles) */
static double
rate (TeCpuProbe probe)
{
  long iters = probe == TE_CPU_PROBE_Q8_AMX ? 6000 : 100000;
  double t0 = now (), ops = te_cpu_probe_run (probe, iters), dt = now () - t0;
  return dt > 0 ? ops / dt : 0.0;
}

double
te_cpu_int8_speedup (TeCpuLevel level)
{
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static double cached[TE_CPU_N_LEVELS];
  static bool done[TE_CPU_N_LEVELS];
  TeCpuProbe f = te_cpu_probe_for (level, false), q = te_cpu_probe_for (level, true);
  double r;

  if (f == TE_CPU_PROBE_NONE || q == TE_CPU_PROBE_NONE)
    return 0.0;
  pthread_mutex_lock (&lock);
  if (!done[level]) {
    double rf = 0.0, rq = 0.0;

    /* the best of 5 runs of each, interleaved, so that a neighbour's burst on a shared VM
     * slows runs of both rather than all of one (about 10 ms in all) */
    for (int i = 0; i < 5; i++) {
      double a = rate (f), b = rate (q);
      rf = a > rf ? a : rf;
      rq = b > rq ? b : rq;
    }
    cached[level] = rf > 0 ? rq / rf : 0.0;
    done[level] = true;
  }
  r = cached[level];
  pthread_mutex_unlock (&lock);
  return r;
}
