/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-private.h — what te-kern.c shares with the per-level implementations. */
#pragma once

#include "te-kern.h"

struct TeKernW {
  TeCpuLevel level;
  const struct TeKernOps *ops;
  int n, k;
  int nr;                       /* panel width */
  int n_panels;
  float *data;                  /* [n_panels][k][nr], 64-byte aligned */
  float *bias;                  /* [n_panels * nr], zero-padded */
  size_t bytes;
};

typedef struct TeKernOps {
  int nr;                       /* columns per panel */
  int mr;                       /* rows per register tile */
  /* C rows [0, m), panels [p0, p1): C = A · W^T + bias, then epi. */
  void (*linear_panels) (const TeKernW * w, const float *A, float *C, int m, int p0, int p1,
      TeKernEpilogue epi);
  /* One head of one sequence: q, k, v are [s, d] with row stride ld; out [s, d] with row
   * stride ldo. @scratch: te_kern_attention_scratch (s, d) floats. */
  void (*attention_head) (const float *q, const float *k, const float *v, int ld, float *out,
      int ldo, int s, int d, float scale, float *scratch);
} TeKernOps;

extern const TeKernOps te_kern_ops_portable;
#if defined(__x86_64__)
extern const TeKernOps te_kern_ops_avx2;
extern const TeKernOps te_kern_ops_avx512;
#endif
#if defined(__aarch64__)
extern const TeKernOps te_kern_ops_neon;
#endif

/* Attention processes this many query rows at a time (scores tile: TE_KERN_ATT_TQ x s). */
#define TE_KERN_ATT_TQ 8
