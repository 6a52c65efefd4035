/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-avx512.c — the kernels for AVX-512 F/BW/DQ/VL (built with those flags; called only
 * when te-cpu.h says the CPU and OS have them). 12 x 32 tile: 24 accumulators of 32 zmm
 * registers. */
#define TE_KERN_OPS te_kern_ops_avx512
#define TE_VL 16
#define TE_NV 2
#define TE_MR 12
#define TE_ATT_NJ 2
#define TE_ATT_TQ 8
#include "te-kern-impl.h"
