/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-private.h — what te-kern.c shares with the per-level implementations. */
#pragma once

#include "te-kern.h"

#include <string.h>

struct TeKernW {
  TeCpuLevel level;
  const struct TeKernOps *ops;
  int n, k;
  int nr;                       /* panel width */
  int n_panels;
  int kp2;                      /* bf16: pairs of k per panel row, (k + 1) / 2 rounded up to
                                 * TE_KERN_BF16_KSTEP (zeros past k) */
  float *data;                  /* [n_panels][k][nr], 64-byte aligned */
  float *bias;                  /* [n_panels * nr], zero-padded */
  size_t bytes;
};

typedef struct TeKernOps {
  int nr;                       /* columns per panel */
  int mr;                       /* rows per register tile */
  /* C rows [0, m), panels [p0, p1): C = A · W^T + bias, then epi. -1 when out of memory for
   * a packed block of A (the bf16 kernel rounds A into one; fp32 reads A in place). */
  int (*linear_panels) (const TeKernW * w, const float *A, float *C, int m, int p0, int p1,
      TeKernEpilogue epi);
  /* One head of one sequence: q, k, v are [s, d] with row stride ld; out [s, d] with row
   * stride ldo. @scratch: te_kern_attention_scratch (s, d) floats. */
  void (*attention_head) (const float *q, const float *k, const float *v, int ld, float *out,
      int ldo, int s, int d, float scale, float *scratch);
  /* q = rint (x * 127 / max|x|) (+ 128 with u8), returns max|x| / 127. */
  float (*quantize_row) (const float *x, int n, int8_t * q, int u8);
  /* One row of the int8 kernels' activations: x[0..k) times mul[0..k) (the inverse SmoothQuant
   * factors; NULL: none), each group of TE_Q8_GROUP channels quantised as by quantize_row into
   * q[0..k), its scale into sa[group]; q[k..kp) set to what multiplies as 0 (0; 128 with u8). */
  void (*quantize_act) (const float *x, const float *mul, int k, int kp, int8_t * q,
      float *sa, int u8);
  /* In place GELU of x[0..n) (the same as the linear epilogue's). */
  void (*gelu) (float *x, size_t n);
} TeKernOps;

/* Activations are quantised per token in groups of this many input channels, each group with
 * its own scale, so an outlier channel (BERT has them, largest on [CLS] / [SEP] tokens) only
 * coarsens its own group. The kernels sum each group in int32 and add it to a float
 * accumulator times the group's scale. */
#define TE_Q8_GROUP 64

/* The int8 kernels take rows in blocks of about this many bytes of quantised activations, so
 * that a block stays in L2 while every panel passes over it: a batch of 32 x 256 tokens is
 * 8 MB of FFN-down input, which each of the 12 panels read again from L3 without the blocks. */
#define TE_Q8_BLOCK_BYTES (256 * 1024)

/* Int8 weights: [n_panels][kp / 4][nr][4] bytes, kp = k rounded up to TE_Q8_GROUP. */
struct TeKernQ {
  const struct TeKernQOps *ops;
  const TeKernOps *f32;         /* the level's fp32 ops (GELU epilogue) */
  int n, k, kp, ng, nr, n_panels;       /* ng = kp / TE_Q8_GROUP */
  int8_t *data;
  float *scale;                 /* [n_panels * nr] per output channel */
  float *bias;                  /* [n_panels * nr] */
  int32_t *acc0;                /* [ng][n_panels * nr] each group's accumulator start:
                                 * -128 * sum over the group of Wq[n, :] for u8 activations,
                                 * else 0 */
  float *act_mul;               /* [k] 1 / smooth, or NULL */
  size_t bytes;
};

typedef struct TeKernQOps {
  const char *name;
  int nr, mr;
  int act_u8;                   /* activations stored as a + 128 (vpdpbusd) */
  int pad_rows;                 /* rows of quantised activations the kernel may read past m
                                 * (zeros; an AMX tile loads 16 rows) */
  /* Rows [0, m) of Aq (m x kp bytes; sa: m x ng group scales), panels [p0, p1):
   * C = sum over groups of acc * sa, times the channel scale, + bias, then epi (the level's
   * fp32 GELU, tile by tile). */
  void (*panels) (const TeKernQ * w, const int8_t * Aq, const float *sa, float *C, int m,
      int p0, int p1, TeKernEpilogue epi);
} TeKernQOps;

extern const TeKernQOps te_kern_q8_portable;
#if defined(__x86_64__)
extern const TeKernQOps te_kern_q8_avx2;
extern const TeKernQOps te_kern_q8_avx512_vnni;
#endif
#if defined(__aarch64__)
extern const TeKernQOps te_kern_q8_neon_dotprod;
#endif

extern const TeKernOps te_kern_ops_portable;
#if defined(__x86_64__)
extern const TeKernOps te_kern_ops_avx2;
extern const TeKernOps te_kern_ops_avx512;
/* linear layers only: bf16 weights (TeKernW.data holds [n_panels][kp2][32] bf16 pairs, pair q
 * = columns 2q, 2q + 1, the low half 2q): the layout of vdpbf16ps's broadcasts and of an AMX
 * B tile (16 pairs x 16 columns, read with a 128-byte row stride) alike */
extern const TeKernOps te_kern_ops_avx512_bf16;
extern const TeKernOps te_kern_ops_amx_bf16;
extern const TeKernQOps te_kern_q8_amx;
/* attention with bf16 products on AMX tiles (te_kern_attention_bf16), d % 32 == 0, d <= 64;
 * scratch: te_kern_amx_attention_scratch (s, d) floats, 64-byte aligned */
void te_kern_amx_attention_head (const float *q, const float *k, const float *v, int ld,
    float *out, int ldo, int s, int d, float scale, float *scratch);
size_t te_kern_amx_attention_scratch (int s, int d);
#endif

/* bf16 weights are padded to whole steps of 16 pairs: the K of one AMX tile */
#define TE_KERN_BF16_KSTEP 16

/* The fp32 ops of @level, NULL when not compiled in (te-kern.c). */
const TeKernOps *te_kern_ops_for (TeCpuLevel level);
/* posix_memalign to 64 bytes (free() releases it); NULL when out of memory. */
void *te_kern_alloc_aligned (size_t bytes);

/* How a linear layer's m rows x n_panels panels are spread over tasks (te-kern.c):
 * whole row ranges (multiples of the tile's rows) when there are at least 4 tiles of rows per
 * thread — each thread then streams its own rows of A once and shares the weights — otherwise
 * runs of column panels (a short batch, e.g. one query). */
typedef struct {
  int rows_per_task, panels_per_task, panel_tasks, tasks;
} TeKernSplit;

void te_kern_split (int threads, int m, int mr, int n_panels, TeKernSplit * split);
/* Task @task's rows [*m0, *m1) and panels [*p0, *p1). */
void te_kern_split_task (const TeKernSplit * split, int task, int m, int n_panels, int *m0,
    int *m1, int *p0, int *p1);

/* fp32 -> bf16, rounding to nearest even (NaN kept a NaN). */
static inline uint32_t
te_kern_bf16_round (float x)
{
  uint32_t u;

  memcpy (&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (u >> 16) | 0x40;
  return (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
}
#if defined(__aarch64__)
extern const TeKernOps te_kern_ops_neon;
#endif

/* Attention processes at most this many query rows at a time (scores tile: TE_KERN_ATT_TQ x s);
 * each level's TE_ATT_TQ (te-kern-impl.h) is at most this. */
#define TE_KERN_ATT_TQ 8
