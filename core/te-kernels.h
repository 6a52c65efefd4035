/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kernels.h — the dense kernels of the encoder. Each fast kernel has a plain C reference
 * (suffix _ref) beside it; tests compare the two. On x86-64 with AVX2 + FMA, GELU, softmax and
 * LayerNorm use vector code; TEXTEMBED_NO_SIMD=1 in the environment selects the scalar code. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* C[m,n] = A[m,k] · W[n,k]^T + bias[n] (bias may be NULL). PyTorch Linear layout for W. */
void te_linear (const float *A, const float *W, const float *bias, float *C, int m, int n, int k);
void te_linear_ref (const float *A, const float *W, const float *bias, float *C, int m, int n,
    int k);

/* x[r,:] = LayerNorm(x[r,:] + residual[r,:]) * g + b for each of @rows rows of width @h.
 * @residual may be NULL. */
void te_layernorm (float *x, const float *residual, const float *g, const float *b, int rows,
    int h, float eps);
void te_layernorm_ref (float *x, const float *residual, const float *g, const float *b, int rows,
    int h, float eps);

/* In place x = 0.5 x (1 + erf(x / sqrt 2)). */
void te_gelu_erf (float *x, gsize n);
void te_gelu_erf_ref (float *x, gsize n);

/* Masked multi-head self-attention for one sequence.
 * qkv: [s, 3h] with q | k | v blocks per row; out: [s, h]; mask: [s] (1 real, 0 pad);
 * scratch: at least s*s floats. Padded keys get no weight; padded query rows are computed too
 * (their values are never used). */
void te_attention (const float *qkv, const gint32 * mask, float *out, int s, int h, int heads,
    float *scratch);
void te_attention_ref (const float *qkv, const gint32 * mask, float *out, int s, int h,
    int heads);

G_END_DECLS
