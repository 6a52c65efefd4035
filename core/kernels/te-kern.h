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

/* Whether this build has kernels for @level (x86-64 builds have portable/avx2/avx512,
 * aarch64 builds portable/neon). */
int te_kern_level_available (TeCpuLevel level);

/* C[m, n] (row stride n) = A[m, k] (row stride k) · W^T + bias, then @epi; threads from @pool
 * (NULL: the caller alone). Returns 0, or -1 when out of memory for a thread's packed block of
 * A (MC x KC floats, about 200 KB); C is then incomplete. */
int te_kern_linear (TePool * pool, const TeKernW * w, const float *A, float *C, int m,
    TeKernEpilogue epi);

/* Attention of @n_seqs sequences packed one after the other: sequence b is rows
 * [seg[b], seg[b + 1]) of @qkv [rows, 3h] (q | k | v per row) and of @out [rows, h]. Every row
 * is a real token (the caller packs out padding). Tasks are (sequence, head) pairs spread over
 * @pool, each pool thread with one scratch block (te_kern_attention_scratch () of the longest
 * sequence) for the call. Returns 0, or -1 when out of memory or the shapes are wrong (h not a
 * multiple of heads, level not compiled in). */
int te_kern_attention (TePool * pool, TeCpuLevel level, const float *qkv, float *out,
    const size_t *seg, int n_seqs, int h, int heads);

/* Scratch floats one attention task needs for a sequence of @s tokens and head size @d. */
size_t te_kern_attention_scratch (int s, int d);

/* As te_kern_attention(), with q, k and v rounded to bf16 and the two products (scores, the
 * weighted sum of V) on AMX tiles, accumulated in fp32; the softmax stays fp32 (its numerators
 * rounded to bf16 for the weighted sum). For the reduced-precision dtypes: its outputs differ
 * from fp32 attention by bf16 rounding (relative error about 1e-3). Level amx, head sizes 32
 * and 64 (te_kern_attention_bf16_available); -1 otherwise, or when out of memory. */
int te_kern_attention_bf16_available (TeCpuLevel level, int head_size);
int te_kern_attention_bf16 (TePool * pool, TeCpuLevel level, const float *qkv, float *out,
    const size_t *seg, int n_seqs, int h, int heads);

/* ---- bf16 ----
 * Linear layers with weights and activations rounded to bf16 (8 significant bits, fp32's
 * range) and products accumulated in fp32:
 *   amx_bf16     level amx: tdpbf16ps on AMX tiles, 32 x 32 outputs per step of 32 k
 *   avx512_bf16  level avx512 on CPUs with AVX512_BF16: vdpbf16ps on zmm registers */

/* Whether this build and CPU have bf16 kernels for @level. */
int te_kern_bf16_available (TeCpuLevel level);
/* "amx_bf16", "avx512_bf16", or NULL where @level has none. */
const char *te_kern_bf16_name_for (TeCpuLevel level);
/* Packs @W [n, k] rounded to bf16, and @bias (fp32, may be NULL); run with te_kern_linear().
 * NULL when out of memory or !te_kern_bf16_available (level). */
TeKernW *te_kern_pack_bf16 (TeCpuLevel level, const float *W, const float *bias, int n, int k);
/* A and W rounded to bf16 as the kernel does, then exact products summed in double. */
void te_kern_linear_bf16_ref (const float *A, const float *W, const float *bias, float *C,
    int m, int n, int k, TeKernEpilogue epi);

/* ---- int8 ----
 * Linear layers with int8 weights, quantised once at load per output channel (symmetric:
 * scale_n = max |W[n, :]| / 127), and int8 activations quantised per token on the fly, in
 * groups of 64 input channels (symmetric: scale_tg = max |A[t, group g]| / 127). Products
 * accumulate in int32 per group (exact), groups in fp32:
 * C = scale_n * sum_g acc_g * scale_tg + bias.
 *
 * The integer dot product of each level:
 *   amx_int8     tdpbssd on AMX tiles (s8 x s8 -> s32), 16 x 64 by 64 x 16: a group is one
 *                tile's k, so each group's sums leave the tiles to be scaled
 *   avx512_vnni  vpdpbusd (u8 x s8 -> s32): activations stored as a + 128, the 128 * sum(W)
 *                this adds taken back through the accumulator's start value
 *   avx2         vpmaddubsw on |a| and sign(a) * w (no saturation: |a|, |w| <= 127), vpmaddwd
 *   neon_dotprod sdot (s8 x s8 -> s32)
 *   portable     plain C
 * An AVX-512 CPU without VNNI uses the avx2 one; NEON without dotprod the portable one. */
typedef struct TeKernQ TeKernQ;

/* Quantises and packs @W [n, k] (and @bias, may be NULL) for the int8 kernel that goes with
 * fp32 level @level on this CPU. NULL when out of memory, k > 65536 (int32 accumulators could
 * overflow) or the level is not compiled in.
 *
 * @smooth (may be NULL): k positive factors moving the range of input channels from the
 * activations into the weights (SmoothQuant): W[:, c] * smooth[c] is quantised, and each
 * activation A[t, c] / smooth[c]. The product is the same; per-token quantisation then no
 * longer spends its 8 bits on a few outlier channels (BERT's LayerNorm outputs have them). */
TeKernQ *te_kern_pack_q8 (TeCpuLevel level, const float *W, const float *bias, int n, int k,
    const float *smooth);
void te_kern_q8_free (TeKernQ * w);
size_t te_kern_q8_bytes (const TeKernQ * w);
/* "amx_int8", "avx512_vnni", "avx2", "neon_dotprod" or "portable". */
const char *te_kern_q8_name (const TeKernQ * w);
/* The int8 kernel te_kern_pack_q8() picks for @level on this CPU. */
const char *te_kern_q8_name_for (TeCpuLevel level);

/* As te_kern_linear(), with int8 weights and activations. Returns 0, or -1 when out of memory
 * for the quantised activations. */
int te_kern_linear_q8 (TePool * pool, const TeKernQ * w, const float *A, float *C, int m,
    TeKernEpilogue epi);

/* The same arithmetic in plain C from @W as given: quantisation of both operands as above, then
 * exact integer dot products (the reference for every int8 kernel, which must match it up to
 * float rounding of the requantisation). */
void te_kern_linear_q8_ref (const float *A, const float *W, const float *bias, float *C, int m,
    int n, int k, const float *smooth, TeKernEpilogue epi);

/* Reference versions in plain C with double accumulation, for tests. */
void te_kern_linear_ref (const float *A, const float *W, const float *bias, float *C, int m,
    int n, int k, TeKernEpilogue epi);
void te_kern_attention_ref (const float *qkv, float *out, int s, int h, int heads);
/* te_kern_attention_bf16's arithmetic in double: q, k, v and the softmax numerators rounded to
 * bf16 (the denominators from the unrounded numerators). */
void te_kern_attention_bf16_ref (const float *qkv, float *out, int s, int h, int heads);

#ifdef __cplusplus
}
#endif
