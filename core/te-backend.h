/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend.h — the interface through which every accelerator (CPU, NPUs) runs the encoder.
 * A backend receives fixed-shape batches (ids, mask, token types padded to a length the backend
 * supports), may complete them asynchronously, and reports the shapes and dtypes it supports.
 * The elements only ever talk to this interface (cf. NNStreamer's filter vtable). */
#pragma once

#include <glib.h>
#include "te-common.h"
#include "te-model.h"
#include "te-batch.h"

G_BEGIN_DECLS

#define TE_BACKEND_MAX_BUCKETS 8

typedef struct {
  int max_batch;                       /* largest batch per submit; 0 = any */
  int max_seq_len;                     /* longest sequence it accepts */
  int n_buckets;                       /* 0 = any length up to max_seq_len (dynamic shapes) */
  int buckets[TE_BACKEND_MAX_BUCKETS]; /* ascending fixed sequence lengths (static shapes) */
  double latency_ms;                   /* the backend's own estimate of one full batch's time
                                        * (submit to completion), a hint for the caller's
                                        * latency until it has measured; 0 = unknown */
  char kernel[96];                     /* what computes, for logs and stats, e.g.
                                        * "avx512 fp32, 2 threads"; "" when not said */
} TeBackendCaps;

/* ---- options ----
 * Every backend declares the options it takes in a table. te_backend_new() checks the caller's
 * key=value strings against it (unknown keys, types, ranges, choices), so a backend's open()
 * only ever sees valid values; te-devices, gst-inspect and docs/backends.md print the same
 * table. */
typedef enum {
  TE_OPTION_STRING,   /* any text: paths, device names */
  TE_OPTION_ENUM,     /* one of choices ("a|b|c") */
  TE_OPTION_INT,      /* an integer in [min, max] */
  TE_OPTION_DOUBLE,   /* a number in [min, max] */
  TE_OPTION_BOOL,     /* true/false/1/0 */
} TeOptionType;

typedef struct {
  const char *name;
  TeOptionType type;
  const char *choices;        /* TE_OPTION_ENUM: "|"-separated */
  double min, max;            /* TE_OPTION_INT, TE_OPTION_DOUBLE */
  const char *default_text;   /* the default as a user reads it ("fp32", "the physical cores") */
  const char *doc;            /* one sentence or two */
} TeBackendOption;

/* ---- devices ----
 * What a backend can run on, found without opening a model (te-devices prints them). */
typedef struct {
  char name[64];          /* the value its "device" (or "ep") option takes, or the backend name */
  char description[160];
  gboolean available;     /* usable on this machine now */
  char dtypes[64];        /* comma-separated values of its "dtype" option that work here */
  char note[200];         /* why not available, or a detail ("AVX-512 VNNI") */
} TeBackendDevice;

typedef struct _TeBackend TeBackend;

/* Called exactly once per successful submit, with @error NULL on success: before submit()
 * returns (synchronous backends), or later on a backend thread (asynchronous ones). Callers
 * handle both. */
typedef void (*TeBackendDoneFunc) (TeBatch * batch, const GError * error, gpointer user_data);

typedef struct {
  const char *name;
  const char *description;
  /* The options open() takes, ending with a { NULL } entry. */
  const TeBackendOption *options;
  /* Optional: append the TeBackendDevice entries of this backend to @devices. Must not need a
   * model; a missing runtime is an unavailable device, not an error. */
  void (*list_devices) (GArray * devices);
  /* Prepare to run @model. @options: key=value strings already validated against options
   * (may be NULL). */
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

/* The backend classes in registration order; @n_classes gets their number. */
const TeBackendClass *const *te_backend_classes (guint * n_classes);

/* Check @options (may be NULL) against @klass's table: unknown keys, values of the wrong type,
 * out of range or not among the choices are errors naming the backend, the key and what it
 * takes. te_backend_new() calls it. */
gboolean te_backend_options_validate (const TeBackendClass * klass, GHashTable * options,
    GError ** error);
/* Typed reads of validated options; @def when the key is absent. */
const char *te_backend_option_string (GHashTable * options, const char *key, const char *def);
gint64 te_backend_option_int (GHashTable * options, const char *key, gint64 def);
double te_backend_option_double (GHashTable * options, const char *key, double def);
gboolean te_backend_option_bool (GHashTable * options, const char *key, gboolean def);
/* @klass's options as text: one "name=TYPE  doc (default: ...)" paragraph each, every line
 * starting with @indent; markdown: a table. Free with g_free(). */
char *te_backend_options_describe (const TeBackendClass * klass, const char *indent,
    gboolean markdown);
/* Every backend's devices (TeBackendDevice), in class order; free with g_array_unref(). */
GArray *te_backend_list_devices (const TeBackendClass * klass);

/* A backend of a class outside the registry (tests, out-of-tree backends); options are checked
 * against its table as for te_backend_new(). */
TeBackend *te_backend_new_with_class (const TeBackendClass * klass, const TeModel * model,
    GHashTable * options, GError ** error);
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
