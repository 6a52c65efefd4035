/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-cpu.h — what the CPU can do, read from its feature bits (cpuid + xgetbv on x86-64,
 * getauxval(AT_HWCAP) on aarch64), never from a vendor or model string; and the kernel level
 * chosen from them.
 *
 * A level is the instruction set the fp32 kernels are compiled for. Features on top of a level
 * (VNNI, BF16, dotprod) select the int8 / bf16 kernels of that level.
 *
 *   portable  plain C (the compiler's baseline: SSE2 on x86-64, scalar elsewhere)
 *   avx2      AVX2 + FMA (x86-64)
 *   avx512    AVX-512 F/BW/DQ/VL (x86-64), with VNNI and BF16 used where present
 *   amx       avx512 with AVX512_BF16 and AMX tiles (AMX-BF16, AMX-INT8; Intel Sapphire Rapids
 *             and later): the fp32 kernels are avx512's, the bf16 and int8 linear layers run
 *             on the tiles. Linux lends a process the tiles' 8 KB of state only on request
 *             (arch_prctl ARCH_REQ_XCOMP_PERM); detection asks, and without it there is no amx.
 *   neon      Advanced SIMD (aarch64), with the dot-product instructions used where present
 *
 * The environment variable TE_CPU_LEVEL=portable|avx2|avx512|amx|neon forces a level, so tests can
 * cover every path the machine supports; asking for one the CPU lacks is an error.
 * Plain C, libc only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TE_CPU_PORTABLE = 0,
  TE_CPU_AVX2,
  TE_CPU_AVX512,
  TE_CPU_NEON,
  TE_CPU_AMX,
  TE_CPU_N_LEVELS
} TeCpuLevel;

typedef struct {
  bool avx2_fma;      /* AVX2 and FMA3, with the OS saving YMM state */
  bool avx512;        /* AVX-512 F, BW, DQ, VL, with the OS saving ZMM state */
  bool avx512_vnni;   /* vpdpbusd on zmm */
  bool avx_vnni;      /* vpdpbusd on ymm (VEX encoding, e.g. Alder Lake) */
  bool avx512_bf16;   /* vdpbf16ps */
  bool amx_bf16;      /* AMX tiles with bf16 (tdpbf16ps), the OS saving and granting tile state */
  bool amx_int8;      /* AMX tiles with int8 (tdpbssd), likewise */
  bool neon;          /* aarch64 Advanced SIMD */
  bool neon_dotprod;  /* sdot / udot */
  bool neon_i8mm;     /* smmla (reported, not used yet) */
  bool neon_bf16;     /* bfdot / bfmmla (reported, not used yet) */
} TeCpuFeatures;

/* The machine's features, detected once (thread-safe). */
const TeCpuFeatures *te_cpu_features (void);

/* The best level the machine supports. */
TeCpuLevel te_cpu_best_level (void);

/* Whether @level runs on this machine. */
bool te_cpu_level_supported (TeCpuLevel level);

/* "portable", "avx2", "avx512", "amx", "neon". */
const char *te_cpu_level_name (TeCpuLevel level);

/* The level named @name; -1 when no such name. */
int te_cpu_level_from_name (const char *name);

/* The level to use: TE_CPU_LEVEL when set, else the best. On a bad or unsupported TE_CPU_LEVEL,
 * returns -1 and writes why into @err (NUL-terminated, at most @err_size bytes). */
int te_cpu_level_select (char *err, size_t err_size);

/* Features as one line, e.g. "avx2 fma avx512 avx512_vnni avx512_bf16"; static storage. */
const char *te_cpu_features_string (void);

/* Physical cores this process may run on (SMT siblings counted once; the affinity mask
 * respected); at least 1. */
int te_cpu_physical_cores (void);

/* ---- instruction-throughput probes (te-cpu-peak.c; x86-64) ----
 * The multiply-accumulate steps the kernels are built from, in independent chains so that only
 * throughput counts: the hardware's limit, for bench/te-kern-bench, and for telling whether
 * int8 pays on this CPU. Some x86 cores run AVX2's integer multiply-adds on one pipe only
 * (AMD Zen 1 and 2), where the int8 step is no faster than an fp32 FMA; others (Intel's AVX2
 * cores) run it on two. No feature bit tells them apart, so it is measured. */
typedef enum {
  TE_CPU_PROBE_NONE = 0,
  TE_CPU_PROBE_FMA_YMM,         /* vfmadd231ps ymm: 16 operations */
  TE_CPU_PROBE_FMA_ZMM,         /* vfmadd231ps zmm: 32 */
  TE_CPU_PROBE_Q8_AVX2,         /* vpmaddubsw + vpmaddwd + vpaddd ymm: 64 */
  TE_CPU_PROBE_Q8_VNNI,         /* vpdpbusd zmm: 128 */
  TE_CPU_PROBE_Q8_AMX,          /* tdpbssd on 16 x 64 tiles: 32768 */
} TeCpuProbe;

/* The probe of @level's fp32 kernels (@int8 false) or int8 kernels (@int8 true);
 * TE_CPU_PROBE_NONE where there is none (not x86-64, portable, or not supported here). */
TeCpuProbe te_cpu_probe_for (TeCpuLevel level, bool int8);

/* E.g. "vfmadd231ps ymm"; static storage. */
const char *te_cpu_probe_name (TeCpuProbe probe);

/* Runs @probe @iters times (10 instructions' worth each) on the calling thread; returns the
 * operations done (2 per multiply-add), 0 for TE_CPU_PROBE_NONE. @probe must be one of
 * te_cpu_probe_for()'s answers for a supported level. */
double te_cpu_probe_run (TeCpuProbe probe, long iters);

/* @level's int8 multiply-accumulate rate over its fp32 FMA rate, measured once per level and
 * process on the calling thread (about 10 ms): ~1 on AMD Zen 1 with AVX2; by the published
 * port counts ~2 on Intel's AVX2 cores, ~4 with VNNI, and tens with AMX. 0 where not measured (not x86-64, or
 * no such probes for @level). */
double te_cpu_int8_speedup (TeCpuLevel level);

/* Below this te_cpu_int8_speedup(), int8 cannot pay here (the cpu backend warns): Zen 1
 * measures ~1.0, Intel's AVX2 cores ~2 by their port counts, so the line is far from both. */
#define TE_CPU_INT8_PAYS 1.5

#ifdef __cplusplus
}
#endif
