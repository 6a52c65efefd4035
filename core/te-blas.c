/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-blas.c — OpenBLAS through dlopen() (see te-blas.h). */
#include "te-blas.h"
#include "te-common.h"

#include <cblas.h>
#include <dlfcn.h>

#ifndef TE_OPENBLAS_LIBRARY
#define TE_OPENBLAS_LIBRARY "libopenblas.so.0"
#endif

typedef void (*SgemmFn) (CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint,
    blasint, float, const float *, blasint, const float *, blasint, float, float *, blasint);
typedef float (*SdotFn) (blasint, const float *, blasint, const float *, blasint);
typedef char *(*CorenameFn) (void);
typedef void (*SetThreadsFn) (int);

static struct {
  SgemmFn sgemm;
  SdotFn sdot;
  CorenameFn corename;
  SetThreadsFn set_num_threads;
  char *error;      /* why loading failed, or NULL */
} blas;

static gpointer
load_once (gpointer data)
{
  static const char *const paths[] = { TE_OPENBLAS_LIBRARY, "libopenblas.so.0" };
  GString *why = g_string_new (NULL);
  void *lib = NULL;
  guint i;

  (void) data;
  for (i = 0; i < G_N_ELEMENTS (paths); i++) {
    if ((lib = dlopen (paths[i], RTLD_NOW | RTLD_LOCAL)) != NULL)
      break;
    g_string_append_printf (why, "%s%s", why->len ? "; " : "", dlerror ());
  }
  if (lib == NULL) {
    blas.error = g_string_free (why, FALSE);
    return NULL;
  }
  g_string_free (why, TRUE);
  /* never dlclose()d: its threads live as long as the process */
  blas.sgemm = (SgemmFn) dlsym (lib, "cblas_sgemm");
  blas.sdot = (SdotFn) dlsym (lib, "cblas_sdot");
  blas.corename = (CorenameFn) dlsym (lib, "openblas_get_corename");
  blas.set_num_threads = (SetThreadsFn) dlsym (lib, "openblas_set_num_threads");
  if (!blas.sgemm || !blas.sdot || !blas.corename || !blas.set_num_threads)
    blas.error = g_strdup_printf ("%s lacks cblas_sgemm, cblas_sdot, openblas_get_corename or "
        "openblas_set_num_threads (is it OpenBLAS?)", paths[i]);
  return NULL;
}

gboolean
te_blas_load (GError ** error)
{
  static GOnce once = G_ONCE_INIT;

  g_once (&once, load_once, NULL);
  if (blas.error != NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "cannot load OpenBLAS: %s (install "
        "Debian's libopenblas0)", blas.error);
    return FALSE;
  }
  return TRUE;
}

static void
require (void)
{
  GError *err = NULL;

  if (!te_blas_load (&err))
    g_error ("%s", err->message);
}

void
te_blas_sgemm (TeBlasTranspose trans_a, TeBlasTranspose trans_b, int m, int n, int k,
    float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  require ();
  blas.sgemm (CblasRowMajor, trans_a == TE_BLAS_TRANS ? CblasTrans : CblasNoTrans,
      trans_b == TE_BLAS_TRANS ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta,
      C, ldc);
}

float
te_blas_sdot (int n, const float *x, const float *y)
{
  require ();
  return blas.sdot (n, x, 1, y, 1);
}

const char *
te_blas_corename (void)
{
  require ();
  return blas.corename ();
}

void
te_blas_set_num_threads (int n)
{
  require ();
  blas.set_num_threads (n);
}
