/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-portable.c — the kernels for the compiler's baseline instruction set (SSE2 on
 * x86-64; on other architectures whatever the default target has). */
#define TE_KERN_OPS te_kern_ops_portable
#define TE_VL 4
#define TE_NV 2
#define TE_MR 4
#define TE_ATT_NJ 1
#define TE_ATT_TQ 8
#include "te-kern-impl.h"
