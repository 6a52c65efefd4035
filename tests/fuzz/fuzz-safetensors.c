/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-safetensors.c — libFuzzer target: the input is a model.safetensors file. Opening it must
 * fail with an error or give tensors that all lie inside the file (offset + nbytes within the
 * mapping, nbytes = product(shape) * dtype size, names found again by te_safetensors_find());
 * every F32/F16/BF16 tensor is then read (converted to fp32) and every byte of the others
 * touched, so ASan sees any access outside what the header promised. */
#include <string.h>

#include "fuzz-common.h"
#include "te-model.h"

static char *path;

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  path = g_build_filename (fuzz_scratch_dir (), "model.safetensors", NULL);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  GError *err = NULL;
  TeSafetensors *st;

  fuzz_write_file (path, data, size);
  st = te_safetensors_open (path, &err);
  if (st == NULL) {
    FUZZ_CHECK (err != NULL && err->domain == TE_ERROR && strstr (err->message, path) != NULL,
        "open failed without a TE_ERROR naming the file: %s", err ? err->message : "(none)");
    g_error_free (err);
    return 0;
  }
  FUZZ_CHECK (strcmp (te_safetensors_path (st), path) == 0, "path changed");

  guint n = te_safetensors_n_tensors (st);
  for (guint i = 0; i < n; i++) {
    const TeTensorInfo *t = te_safetensors_tensor (st, i);
    guint64 elems = 1;
    guint8 sum = 0;

    FUZZ_CHECK (t != NULL && t->name != NULL, "tensor %u missing", i);
    FUZZ_CHECK (te_safetensors_find (st, t->name) != NULL, "tensor \"%s\" not found by name",
        t->name);
    FUZZ_CHECK (te_safetensors_dtype_name (t) != NULL, "tensor \"%s\": no dtype name", t->name);
    FUZZ_CHECK (t->ndim >= 0 && t->ndim <= 8, "tensor \"%s\": ndim %d", t->name, t->ndim);
    for (int d = 0; d < t->ndim; d++) {
      FUZZ_CHECK (t->shape[d] >= 0, "tensor \"%s\": dim %d is %" G_GINT64_FORMAT, t->name, d,
          t->shape[d]);
      elems *= (guint64) t->shape[d];
    }
    FUZZ_CHECK (t->offset <= size && t->nbytes <= size - t->offset, "tensor \"%s\": [%"
        G_GSIZE_FORMAT ", +%" G_GSIZE_FORMAT ") outside the %" G_GSIZE_FORMAT "-byte file",
        t->name, t->offset, t->nbytes, (gsize) size);
    if (t->dtype != TE_DTYPE_OTHER)
      FUZZ_CHECK (elems * te_dtype_size (t->dtype) == t->nbytes, "tensor \"%s\": %"
          G_GUINT64_FORMAT " elements of %s in %" G_GSIZE_FORMAT " bytes", t->name, elems,
          te_safetensors_dtype_name (t), t->nbytes);

    const guint8 *raw = te_safetensors_data (st, t);
    for (gsize b = 0; b < t->nbytes; b++)
      sum ^= raw[b];
    FUZZ_CHECK (memcmp (raw, data + t->offset, t->nbytes) == 0, "tensor \"%s\": data differs "
        "from the file's bytes at its offset (xor %u)", t->name, sum);

    float *f = te_safetensors_read_f32 (st, t, &err);
    if (t->dtype == TE_DTYPE_F32 || t->dtype == TE_DTYPE_F16 || t->dtype == TE_DTYPE_BF16) {
      FUZZ_CHECK (f != NULL || t->nbytes == 0, "tensor \"%s\" (%s) unreadable: %s", t->name,
          te_safetensors_dtype_name (t), err ? err->message : "(no error)");
      if (t->dtype == TE_DTYPE_F32 && f != NULL)
        FUZZ_CHECK (memcmp (f, raw, t->nbytes) == 0, "tensor \"%s\": F32 copy differs",
            t->name);
    } else {
      FUZZ_CHECK (f == NULL && g_error_matches (err, TE_ERROR, TE_ERROR_UNSUPPORTED),
          "tensor \"%s\" (%s) read as fp32", t->name, te_safetensors_dtype_name (t));
    }
    g_clear_error (&err);
    g_free (f);
  }
  te_safetensors_close (st);
  return 0;
}
