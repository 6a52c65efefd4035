/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern.h — the encoder's CPU kernels: linear layers on weights packed once at load, and
 * attention tiled per head. One implementation per level (te-cpu.h), compiled for that level's
 * instruction set from the same source (te-kern-impl.h); the caller picks the level once.
 *
 * Linear layers compute C[m, n] = A[m, k] · W[n, k]^T + bias (PyTorch's Linear layout for W).
 * te_kern_pack() copies W into panels of the level's register-tile width, k-major within a
 * panel, zero-padded to whole panels. Work is split by column panels, so threads never write
 * the same output.
 *
 * Plain C, libc only: the same sources build for aarch64 (NEON) with Debian's cross compiler,
 * and their tests run under qemu-user (tools/cross-aarch64.sh). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "te-cpu.h"
#include "te-pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TE_KERN_EPI_NONE = 0,
  TE_KERN_EPI_GELU,             /* y = 0.5 x (1 + erf(x / sqrt 2)) applied to the output */
} TeKernEpilogue;

typedef struct TeKernW TeKernW;

/* Packs @W [n, k] and @bias [n] (may be NULL) for @level's fp32 kernels. NULL when out of
 * memory or for a level not compiled in (te_kern_level_available()). */
TeKernW *te_kern_pack (TeCpuLevel level, const float *W, const float *bias, int n, int k);
void te_kern_free (TeKernW * w);
size_t te_kern_bytes (const TeKernW * w);
int te_kern_n (const TeKernW * w);
int te_kern_k (const TeKernW * w);

/* Whether this build has kernels for @level (x86-64 builds have portable/avx2/avx512,
 * aarch64 builds portable/neon). */
int te_kern_level_available (TeCpuLevel level);

/* C[m, n] (row stride n) = A[m, k] (row stride k) · W^T + bias, then @epi; threads from @pool
 * (NULL: the caller alone). */
void te_kern_linear (TePool * pool, const TeKernW * w, const float *A, float *C, int m,
    TeKernEpilogue epi);

/* Attention of @n_seqs sequences packed one after the other: sequence b is rows
 * [seg[b], seg[b + 1]) of @qkv [rows, 3h] (q | k | v per row) and of @out [rows, h]. Every row
 * is a real token (the caller packs out padding). Tasks are (sequence, head) pairs spread over
 * @pool. Returns 0, or -1 when out of memory or the shapes are wrong (h not a multiple of
 * heads, level not compiled in). */
int te_kern_attention (TePool * pool, TeCpuLevel level, const float *qkv, float *out,
    const size_t *seg, int n_seqs, int h, int heads);

/* Scratch floats one attention task needs for a sequence of @s tokens and head size @d. */
size_t te_kern_attention_scratch (int s, int d);

/* Reference versions in plain C with double accumulation, for tests. */
void te_kern_linear_ref (const float *A, const float *W, const float *bias, float *C, int m,
    int n, int k, TeKernEpilogue epi);
void te_kern_attention_ref (const float *qkv, float *out, int s, int h, int heads);

#ifdef __cplusplus
}
#endif
