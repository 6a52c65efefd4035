/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-avx2.c — the kernels for AVX2 + FMA (built with -mavx2 -mfma; called only when
 * te-cpu.h says the CPU has them). 6 x 16 tiles, for the projections and for attention: 12
 * accumulators of the 16 ymm registers. */
#define TE_KERN_OPS te_kern_ops_avx2
#define TE_VL 8
#define TE_NV 2
#define TE_MR 6
#define TE_ATT_NJ 2
#define TE_ATT_TQ 6
#include "te-kern-impl.h"
