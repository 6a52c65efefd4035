/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend.c — padded batches, the registry of backend classes, and the generic
 * submit / run-and-wait wrappers every element uses whatever the backend's threading. */
#include "te-backend.h"
#ifdef TE_HAVE_OPENVINO
#include "te-backend-openvino.h"
#endif
#ifdef TE_HAVE_ONNXRUNTIME
#include "te-backend-onnx.h"
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- registry ---- */

/* Every built-in backend class; adding one ("null", "onnx", "openvino"...) is one line here,
 * guarded by its build option where it has external dependencies. */
static const TeBackendClass *const backend_classes[] = {
  &te_backend_cpu_class,
  &te_backend_null_class,
#ifdef TE_HAVE_OPENVINO
  &te_backend_openvino_class,
#endif
#ifdef TE_HAVE_ONNXRUNTIME
  &te_backend_onnx_class,
#endif
};

const TeBackendClass *const *
te_backend_classes (guint * n_classes)
{
  if (n_classes)
    *n_classes = G_N_ELEMENTS (backend_classes);
  return backend_classes;
}

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

  g_return_val_if_fail (name != NULL && model != NULL, NULL);

  klass = te_backend_class_lookup (name);
  if (klass == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "unknown backend \"%s\" (available: %s)", name, te_backend_class_names ());
    return NULL;
  }
  return te_backend_new_with_class (klass, model, options, error);
}

TeBackend *
te_backend_new_with_class (const TeBackendClass * klass, const TeModel * model,
    GHashTable * options, GError ** error)
{
  TeBackend *backend;
  gpointer state;

  g_return_val_if_fail (klass != NULL && model != NULL, NULL);
  if (!te_backend_options_validate (klass, options, error))
    return NULL;
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

/* ---- options ---- */

static const TeBackendOption *
option_find (const TeBackendClass * klass, const char *key)
{
  for (const TeBackendOption * o = klass->options; o && o->name; o++)
    if (strcmp (o->name, key) == 0)
      return o;
  return NULL;
}

static gboolean
parse_bool (const char *v, gboolean * out)
{
  if (g_ascii_strcasecmp (v, "true") == 0 || strcmp (v, "1") == 0
      || g_ascii_strcasecmp (v, "yes") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (v, "false") == 0 || strcmp (v, "0") == 0
      || g_ascii_strcasecmp (v, "no") == 0)
    *out = FALSE;
  else
    return FALSE;
  return TRUE;
}

static gboolean
enum_has (const char *choices, const char *v)
{
  gsize n = strlen (v);

  for (const char *p = choices; p && *p;) {
    const char *bar = strchr (p, '|');
    gsize len = bar ? (gsize) (bar - p) : strlen (p);

    if (len == n && strncmp (p, v, n) == 0)
      return TRUE;
    p = bar ? bar + 1 : NULL;
  }
  return FALSE;
}

static char *
option_names (const TeBackendClass * klass)
{
  GString *s = g_string_new (NULL);

  for (const TeBackendOption * o = klass->options; o && o->name; o++)
    g_string_append_printf (s, "%s%s", s->len ? ", " : "", o->name);
  if (s->len == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

static gboolean
option_check (const TeBackendClass * klass, const TeBackendOption * o, const char *v,
    GError ** error)
{
  char *end = NULL;
  gboolean b;

  switch (o->type) {
    case TE_OPTION_STRING:
      return TRUE;
    case TE_OPTION_ENUM:
      if (enum_has (o->choices, v))
        return TRUE;
      {
        char **names = g_strsplit (o->choices, "|", -1);
        char *list = g_strjoinv (", ", names);

        g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
            "%s backend: option %s=\"%s\" is not one of %s", klass->name, o->name, v, list);
        g_free (list);
        g_strfreev (names);
      }
      return FALSE;
    case TE_OPTION_INT:{
      gint64 n = g_ascii_strtoll (v, &end, 10);

      if (end != v && *end == '\0' && (double) n >= o->min && (double) n <= o->max)
        return TRUE;
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
          "%s backend: option %s=\"%s\" is not an integer in %.0f..%.0f", klass->name,
          o->name, v, o->min, o->max);
      return FALSE;
    }
    case TE_OPTION_DOUBLE:{
      double d = g_ascii_strtod (v, &end);

      if (end != v && *end == '\0' && isfinite (d) && d >= o->min && d <= o->max)
        return TRUE;
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
          "%s backend: option %s=\"%s\" is not a number in %.15g..%.15g", klass->name, o->name,
          v, o->min, o->max);
      return FALSE;
    }
    case TE_OPTION_BOOL:
      if (parse_bool (v, &b))
        return TRUE;
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
          "%s backend: option %s=\"%s\" is not true or false", klass->name, o->name, v);
      return FALSE;
  }
  return FALSE;
}

gboolean
te_backend_options_validate (const TeBackendClass * klass, GHashTable * options,
    GError ** error)
{
  GHashTableIter it;
  gpointer key, value;

  g_return_val_if_fail (klass != NULL, FALSE);
  if (options == NULL)
    return TRUE;
  g_hash_table_iter_init (&it, options);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    const TeBackendOption *o = option_find (klass, key);

    if (o == NULL) {
      char *known = option_names (klass);

      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
          "%s backend: unknown option \"%s\" (known: %s)", klass->name, (const char *) key,
          known);
      g_free (known);
      return FALSE;
    }
    if (!option_check (klass, o, value, error))
      return FALSE;
  }
  return TRUE;
}

const char *
te_backend_option_string (GHashTable * options, const char *key, const char *def)
{
  const char *v = options ? g_hash_table_lookup (options, key) : NULL;

  return v ? v : def;
}

gint64
te_backend_option_int (GHashTable * options, const char *key, gint64 def)
{
  const char *v = te_backend_option_string (options, key, NULL);

  return v ? g_ascii_strtoll (v, NULL, 10) : def;
}

double
te_backend_option_double (GHashTable * options, const char *key, double def)
{
  const char *v = te_backend_option_string (options, key, NULL);

  return v ? g_ascii_strtod (v, NULL) : def;
}

gboolean
te_backend_option_bool (GHashTable * options, const char *key, gboolean def)
{
  const char *v = te_backend_option_string (options, key, NULL);
  gboolean b = def;

  if (v && !parse_bool (v, &b))
    return def;
  return b;
}

static char *
option_type_text (const TeBackendOption * o)
{
  switch (o->type) {
    case TE_OPTION_ENUM:
      return g_strdup (o->choices);
    case TE_OPTION_INT:
      return g_strdup_printf ("integer %.0f..%.0f", o->min, o->max);
    case TE_OPTION_DOUBLE:
      return g_strdup_printf ("number %.15g..%.15g", o->min, o->max);
    case TE_OPTION_BOOL:
      return g_strdup ("true|false");
    case TE_OPTION_STRING:
    default:
      return g_strdup ("text");
  }
}

char *
te_backend_options_describe (const TeBackendClass * klass, const char *indent,
    gboolean markdown)
{
  GString *s = g_string_new (NULL);

  g_return_val_if_fail (klass != NULL, NULL);
  if (indent == NULL)
    indent = "";
  if (markdown)
    g_string_append_printf (s, "%s| option | takes | default | meaning |\n%s|---|---|---|---|\n",
        indent, indent);
  for (const TeBackendOption * o = klass->options; o && o->name; o++) {
    char *type = option_type_text (o);

    if (markdown) {
      char **parts = g_strsplit (type, "|", -1);
      char *t = g_strjoinv ("\\|", parts);     /* a | inside a table cell */

      g_strfreev (parts);
      g_string_append_printf (s, "%s| `%s` | %s | %s | %s |\n", indent, o->name, t,
          o->default_text ? o->default_text : "", o->doc);
      g_free (t);
    } else {
      g_string_append_printf (s, "%s%s=<%s>: %s%s%s%s\n", indent, o->name, type, o->doc,
          o->default_text ? " (default: " : "", o->default_text ? o->default_text : "",
          o->default_text ? ")" : "");
    }
    g_free (type);
  }
  if (klass->options == NULL || klass->options->name == NULL)
    g_string_append_printf (s, "%s(no options)\n", indent);
  return g_string_free (s, FALSE);
}

GArray *
te_backend_list_devices (const TeBackendClass * klass)
{
  GArray *devices = g_array_new (FALSE, TRUE, sizeof (TeBackendDevice));

  g_return_val_if_fail (klass != NULL, devices);
  if (klass->list_devices)
    klass->list_devices (devices);
  return devices;
}
