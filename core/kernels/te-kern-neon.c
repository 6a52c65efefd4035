/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-neon.c — the kernels for aarch64 Advanced SIMD. 6 x 16 tile: 24 accumulators of 32
 * q registers. */
#define TE_KERN_OPS te_kern_ops_neon
#define TE_VL 4
#define TE_NV 4
#define TE_MR 6
#define TE_ATT_NJ 2
#define TE_ATT_TQ 8
#include "te-kern-impl.h"
