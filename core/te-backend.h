/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend.h — the interface through which every accelerator (CPU, NPUs) runs the encoder.
 * A backend receives fixed-shape batches (ids, mask, token types padded to a length the backend
 * supports), may complete them asynchronously, and reports the shapes and dtypes it supports.
 * The elements only ever talk to this interface (cf. NNStreamer's filter vtable). */
#pragma once

#include <glib.h>
#include "te-common.h"
#include "te-model.h"

G_BEGIN_DECLS

/* One padded batch. Inputs are [batch * seq_len], row-major; @hidden is the output, the last
 * hidden state [batch * seq_len * hidden_size]. Padding positions have mask 0 and pad id. */
typedef struct {
  int batch;
  int seq_len;
  int hidden_size;
  gint32 *input_ids;
  gint32 *attention_mask;
  gint32 *token_type_ids;
  float *hidden;
  int *lengths;   /* real tokens per row, [batch] */
  gint32 pad_id;  /* what te_batch_new() / te_batch_set_row() fill padding with */
} TeBatch;

TeBatch *te_batch_new (int batch, int seq_len, int hidden_size, gint32 pad_id);
/* Copy one row's tokens in (n <= seq_len); the rest of the row stays padding. */
void te_batch_set_row (TeBatch * b, int row, const gint32 * ids, const gint32 * type_ids, int n);
void te_batch_free (TeBatch * b);

#define TE_BACKEND_MAX_BUCKETS 8

typedef enum {
  TE_BACKEND_DTYPE_F32 = 1 << 0,
  TE_BACKEND_DTYPE_F16 = 1 << 1,
  TE_BACKEND_DTYPE_INT8 = 1 << 2,
} TeBackendDTypes;

typedef struct {
  int max_batch;                       /* largest batch per submit; 0 = any */
  int max_seq_len;                     /* longest sequence it accepts */
  int n_buckets;                       /* 0 = any length up to max_seq_len (dynamic shapes) */
  int buckets[TE_BACKEND_MAX_BUCKETS]; /* ascending fixed sequence lengths (static shapes) */
  guint dtypes;                        /* TeBackendDTypes it computes in */
  gboolean async;                      /* completion may be called from another thread */
  char kernel[96];                     /* what computes, for logs and stats, e.g.
                                        * "avx512 fp32, 2 threads"; "" when not said */
} TeBackendCaps;

typedef struct _TeBackend TeBackend;

/* Called exactly once per successful submit, with @error NULL on success. May run on a backend
 * thread when caps.async is TRUE, or before submit() returns. */
typedef void (*TeBackendDoneFunc) (TeBatch * batch, const GError * error, gpointer user_data);

typedef struct {
  const char *name;
  const char *description;
  /* Prepare to run @model. @options: backend-specific key=value strings (may be NULL). */
  gpointer (*open) (const TeModel * model, GHashTable * options, GError ** error);
  void (*get_caps) (gpointer state, TeBackendCaps * caps);
  /* Queue @batch; on FALSE (with @error set) @done will not be called. */
  gboolean (*submit) (gpointer state, TeBatch * batch, TeBackendDoneFunc done,
      gpointer user_data, GError ** error);
  /* Returns only after @done has been called for every successful submit (waiting for batches
   * in flight, or completing queued ones early with an error, as "null" does). */
  void (*close) (gpointer state);
} TeBackendClass;

/* Registered backend classes ("cpu", ...). NULL when unknown. */
const TeBackendClass *te_backend_class_lookup (const char *name);
/* Comma-separated list of registered names, for error messages and docs. */
const char *te_backend_class_names (void);

TeBackend *te_backend_new (const char *name, const TeModel * model, GHashTable * options,
    GError ** error);
void te_backend_free (TeBackend * backend);
const char *te_backend_name (const TeBackend * backend);
void te_backend_get_caps (const TeBackend * backend, TeBackendCaps * caps);
gboolean te_backend_submit (TeBackend * backend, TeBatch * batch, TeBackendDoneFunc done,
    gpointer user_data, GError ** error);
/* Submit and wait for completion, whatever the backend's threading. */
gboolean te_backend_run (TeBackend * backend, TeBatch * batch, GError ** error);

/* "key=value,key=value" (blanks around items, keys and values ignored; empty items skipped) ->
 * a table of strings; NULL (with @error) on an item without "=" or with an empty key. @s NULL
 * gives an empty table. */
GHashTable *te_backend_options_parse (const char *s, GError ** error);

/* The padded length to use for a longest row of @n tokens: the smallest bucket >= n, or n for
 * dynamic backends; -1 when n exceeds what the backend accepts. */
int te_backend_caps_seq_len (const TeBackendCaps * caps, int n);

/* The built-in CPU backend (te-backend-cpu.c: the project's kernels, or OpenBLAS sgemm). */
extern const TeBackendClass te_backend_cpu_class;
/* The "null" instrumentation backend (te-backend-null.c): a fixed time per batch (option
 * latency-ms), zero vectors of the model's width, asynchronous, dynamic shapes, no weights needed;
 * option fail-after=N makes every batch after the N-th fail (for tests). close() cancels queued
 * batches (their callbacks get an error) instead of waiting out their latency. Weights, when the
 * model has them, are faulted in once at open so measured memory includes the model. */
extern const TeBackendClass te_backend_null_class;

G_END_DECLS
