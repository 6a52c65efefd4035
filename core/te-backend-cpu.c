/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-cpu.c — the built-in CPU backend: te_bert_forward() (OpenBLAS sgemm), synchronous,
 * any batch size and any sequence length up to the model's max_seq_len. */
#include "te-backend.h"
#include "te-bert.h"

#include <stdlib.h>
#include <cblas.h>

typedef struct {
  /* Borrowed: the caller keeps the model alive (and unchanged) until the backend is freed.
   * te_bert_forward() only reads it, so one model can serve several backends/threads. */
  const TeModel *model;
} TeCpuBackend;

/* Option "threads": OpenBLAS thread count. Note that this setting is process-wide in OpenBLAS,
 * not per backend. */
static gboolean
cpu_apply_options (GHashTable * options, GError ** error)
{
  const char *threads;
  char *end = NULL;
  long n;

  if (options == NULL)
    return TRUE;
  threads = g_hash_table_lookup (options, "threads");
  if (threads == NULL)
    return TRUE;
  n = strtol (threads, &end, 10);
  if (end == threads || *end != '\0' || n < 1 || n > 1024) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "cpu backend: option threads=\"%s\" is not a thread count (1..1024)", threads);
    return FALSE;
  }
  openblas_set_num_threads ((int) n);
  return TRUE;
}

static gpointer
cpu_open (const TeModel * model, GHashTable * options, GError ** error)
{
  TeCpuBackend *cpu;

  if (te_model_weights (model) == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "cpu backend: %s was loaded without its weights", te_model_dir (model));
    return NULL;
  }
  if (!cpu_apply_options (options, error))
    return NULL;
  cpu = g_new0 (TeCpuBackend, 1);
  cpu->model = model;
  return cpu;
}

static void
cpu_get_caps (gpointer state, TeBackendCaps * caps)
{
  TeCpuBackend *cpu = state;

  caps->max_batch = 0;
  caps->max_seq_len = te_model_config (cpu->model)->max_seq_len;
  caps->n_buckets = 0;
  caps->dtypes = TE_BACKEND_DTYPE_F32;
  caps->async = FALSE;
}

static gboolean
cpu_submit (gpointer state, TeBatch * batch, TeBackendDoneFunc done, gpointer user_data,
    GError ** error)
{
  TeCpuBackend *cpu = state;

  /* Synchronous: a failed forward pass is reported here, and done() is then not called. */
  if (!te_bert_forward (cpu->model, batch, error))
    return FALSE;
  done (batch, NULL, user_data);
  return TRUE;
}

static void
cpu_close (gpointer state)
{
  /* Nothing in flight: submit() completes before returning. */
  g_free (state);
}

const TeBackendClass te_backend_cpu_class = {
  .name = "cpu",
  .description = "CPU (OpenBLAS sgemm), fp32, dynamic shapes",
  .open = cpu_open,
  .get_caps = cpu_get_caps,
  .submit = cpu_submit,
  .close = cpu_close,
};
