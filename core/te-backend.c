/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend.c — padded batches, the registry of backend classes, and the generic
 * submit / run-and-wait wrappers every element uses whatever the backend's threading. */
#include "te-backend.h"
#ifdef TE_HAVE_OPENVINO
#include "te-backend-openvino.h"
#endif

#include <string.h>

/* ---- batches ---- */

TeBatch *
te_batch_new (int batch, int seq_len, int hidden_size, gint32 pad_id)
{
  TeBatch *b;
  gsize n;

  g_return_val_if_fail (batch >= 0 && seq_len >= 0 && hidden_size >= 0, NULL);

  n = (gsize) batch * (gsize) seq_len;
  b = g_new0 (TeBatch, 1);
  b->batch = batch;
  b->seq_len = seq_len;
  b->hidden_size = hidden_size;
  b->pad_id = pad_id;
  /* +1 everywhere: a 0-sized batch still gets valid (non-NULL) arrays. g_new* abort on
   * overflow of count * element size. */
  b->input_ids = g_new (gint32, n + 1);
  for (gsize i = 0; i < n; i++)
    b->input_ids[i] = pad_id;
  b->attention_mask = g_new0 (gint32, n + 1);
  b->token_type_ids = g_new0 (gint32, n + 1);
  b->hidden = g_new0 (float, n * (gsize) hidden_size + 1);
  b->lengths = g_new0 (int, (gsize) batch + 1);
  return b;
}

void
te_batch_set_row (TeBatch * b, int row, const gint32 * ids, const gint32 * type_ids, int n)
{
  gsize base;

  g_return_if_fail (b != NULL && row >= 0 && row < b->batch);
  g_return_if_fail (n >= 0 && n <= b->seq_len && (n == 0 || ids != NULL));

  base = (gsize) row * b->seq_len;
  for (int i = 0; i < b->seq_len; i++) {
    gboolean real = i < n;
    b->input_ids[base + i] = real ? ids[i] : b->pad_id;
    b->token_type_ids[base + i] = real && type_ids ? type_ids[i] : 0;
    b->attention_mask[base + i] = real ? 1 : 0;
  }
  b->lengths[row] = n;
}

void
te_batch_free (TeBatch * b)
{
  if (b == NULL)
    return;
  g_free (b->input_ids);
  g_free (b->attention_mask);
  g_free (b->token_type_ids);
  g_free (b->hidden);
  g_free (b->lengths);
  g_free (b);
}

/* ---- registry ---- */

/* Every built-in backend class; adding one ("null", "onnx", "openvino"...) is one line here,
 * guarded by its build option where it has external dependencies. */
static const TeBackendClass *const backend_classes[] = {
  &te_backend_cpu_class,
  &te_backend_null_class,
#ifdef TE_HAVE_OPENVINO
  &te_backend_openvino_class,
#endif
};

const TeBackendClass *
te_backend_class_lookup (const char *name)
{
  if (name == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (backend_classes); i++)
    if (strcmp (backend_classes[i]->name, name) == 0)
      return backend_classes[i];
  return NULL;
}

const char *
te_backend_class_names (void)
{
  static gsize init = 0;
  static char *names;

  if (g_once_init_enter (&init)) {
    GString *s = g_string_new (NULL);
    for (gsize i = 0; i < G_N_ELEMENTS (backend_classes); i++)
      g_string_append_printf (s, "%s%s", i ? "," : "", backend_classes[i]->name);
    names = g_string_free (s, FALSE);   /* lives as long as the process, like the table */
    g_once_init_leave (&init, 1);
  }
  return names;
}

/* ---- instances ---- */

struct _TeBackend {
  const TeBackendClass *klass;
  gpointer state;
};

TeBackend *
te_backend_new (const char *name, const TeModel * model, GHashTable * options, GError ** error)
{
  const TeBackendClass *klass;
  TeBackend *backend;
  gpointer state;

  g_return_val_if_fail (name != NULL && model != NULL, NULL);

  klass = te_backend_class_lookup (name);
  if (klass == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "unknown backend \"%s\" (available: %s)", name, te_backend_class_names ());
    return NULL;
  }
  state = klass->open (model, options, error);
  if (state == NULL)
    return NULL;
  backend = g_new0 (TeBackend, 1);
  backend->klass = klass;
  backend->state = state;
  return backend;
}

void
te_backend_free (TeBackend * backend)
{
  if (backend == NULL)
    return;
  backend->klass->close (backend->state);
  g_free (backend);
}

const char *
te_backend_name (const TeBackend * backend)
{
  g_return_val_if_fail (backend != NULL, NULL);
  return backend->klass->name;
}

void
te_backend_get_caps (const TeBackend * backend, TeBackendCaps * caps)
{
  g_return_if_fail (backend != NULL && caps != NULL);
  memset (caps, 0, sizeof (*caps));
  backend->klass->get_caps (backend->state, caps);
}

gboolean
te_backend_submit (TeBackend * backend, TeBatch * batch, TeBackendDoneFunc done,
    gpointer user_data, GError ** error)
{
  g_return_val_if_fail (backend != NULL && batch != NULL && done != NULL, FALSE);
  return backend->klass->submit (backend->state, batch, done, user_data, error);
}

/* te_backend_run(): completion may come from a backend thread, or from inside submit() itself,
 * so the waiter sleeps on a condition guarded by a flag, never on the callback's thread. */
typedef struct {
  GMutex lock;
  GCond cond;
  gboolean done;
  GError *error;
} RunWait;

static void
run_done (TeBatch * batch, const GError * error, gpointer user_data)
{
  RunWait *w = user_data;

  g_mutex_lock (&w->lock);
  if (error != NULL)
    w->error = g_error_copy (error);
  w->done = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

gboolean
te_backend_run (TeBackend * backend, TeBatch * batch, GError ** error)
{
  RunWait w = { 0 };
  gboolean ok;

  g_return_val_if_fail (backend != NULL && batch != NULL, FALSE);

  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  ok = te_backend_submit (backend, batch, run_done, &w, error);
  if (ok) {
    g_mutex_lock (&w.lock);
    while (!w.done)
      g_cond_wait (&w.cond, &w.lock);
    g_mutex_unlock (&w.lock);
    if (w.error != NULL) {
      g_propagate_error (error, w.error);
      ok = FALSE;
    }
  }
  g_cond_clear (&w.cond);
  g_mutex_clear (&w.lock);
  return ok;
}

int
te_backend_caps_seq_len (const TeBackendCaps * caps, int n)
{
  g_return_val_if_fail (caps != NULL, -1);

  if (n < 0 || (caps->max_seq_len > 0 && n > caps->max_seq_len))
    return -1;
  if (caps->n_buckets <= 0)
    return n;
  for (int i = 0; i < caps->n_buckets && i < TE_BACKEND_MAX_BUCKETS; i++)
    if (caps->buckets[i] >= n)
      return caps->buckets[i];
  return -1;
}

GHashTable *
te_backend_options_parse (const char *s, GError ** error)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  char **items;

  if (s == NULL)
    return h;
  items = g_strsplit (s, ",", -1);
  for (char **it = items; *it != NULL; it++) {
    char *item = g_strstrip (*it), *eq;

    if (*item == '\0')
      continue;
    eq = strchr (item, '=');
    if (eq == NULL || eq == item) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "backend-options: \"%s\" is not key=value", item);
      g_strfreev (items);
      g_hash_table_unref (h);
      return NULL;
    }
    *eq = '\0';
    g_hash_table_replace (h, g_strdup (g_strstrip (item)), g_strdup (g_strstrip (eq + 1)));
  }
  g_strfreev (items);
  return h;
}
