/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-blas.h — OpenBLAS, loaded with dlopen() on first use rather than linked.
 *
 * Only the reference encoder (te_bert_forward(): the cpu backend's kernels=openblas, and the
 * tests) and the store's search call it; the native kernels never do. A linked OpenBLAS starts
 * its worker threads when the library loads, in every process that loads the plugin, and they
 * spin in sched_yield() for OpenBLAS's thread timeout, taking a core from the encoder's start-up.
 * Loaded here, that happens only in the processes that use it.
 *
 * The library is the one the build found (pkg-config openblas, TE_OPENBLAS_LIBRARY), else the
 * dynamic linker's "libopenblas.so.0". te_blas_sgemm is row-major cblas_sgemm. (OpenBLAS's
 * cblas.h stays out of this header: it includes complex.h, whose I macro breaks callers.) */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  TE_BLAS_NO_TRANS,
  TE_BLAS_TRANS,
} TeBlasTranspose;

/* Loads OpenBLAS once (thread-safe). FALSE with TE_ERROR_BACKEND naming the library and
 * dlopen's reason when it cannot be loaded or lacks a function. */
gboolean te_blas_load (GError ** error);

/* These load the library if needed; call te_blas_load() first where an error can be returned:
 * if it cannot be loaded here, they abort naming it (a broken installation, as a missing linked
 * library would be at start). */
void te_blas_sgemm (TeBlasTranspose trans_a, TeBlasTranspose trans_b, int m, int n, int k,
    float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
float te_blas_sdot (int n, const float *x, const float *y);
/* OpenBLAS's name for the kernels it chose ("Haswell", "Prescott", ...). */
const char *te_blas_corename (void);
void te_blas_set_num_threads (int n);

G_END_DECLS
