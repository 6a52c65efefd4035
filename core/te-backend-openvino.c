/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-openvino.c — the "openvino" backend: exported static-shape ONNX graphs compiled by
 * OpenVINO for one device, one infer request per (batch x seq) graph, run synchronously. */
#include "te-backend-openvino.h"
#include "te-export-cache.h"
#include "te-static-graphs.h"

#include <stdlib.h>
#include <string.h>
/* OpenVINO's C API names its enum values OK, F32, I32...: keep it to this file. */
#include <openvino/c/openvino.h>

typedef struct {
  TeGraphShape shape;     /* first: te-static-graphs.h */
  ov_compiled_model_t *compiled;
  ov_infer_request_t *request;
} OvGraph;

typedef struct {
  TeStaticGraphs sg;      /* first (te_static_graphs_class_*); graphs: OvGraph (infer requests
                           * are not re-entrant: sg.lock) */
  const TeModel *model;   /* borrowed, as in every backend */
  ov_core_t *core;
} TeOvBackend;

static const char *const input_names[3] = { "input_ids", "attention_mask", "token_type_ids" };

static gboolean
ov_check (ov_status_e status, const char *what, const char *where, GError ** error)
{
  const char *last;
  char *msg;

  if (status == OK)
    return TRUE;
  /* The last message is OpenVINO's (thread-local); copy it before anything else runs. */
  last = ov_get_last_err_msg ();
  msg = g_strstrip (g_strdup (last ? last : ""));
  g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "openvino backend: %s%s%s failed: %s%s%s",
      what, where ? " " : "", where ? where : "", ov_get_error_info (status),
      *msg ? ": " : "", msg);
  g_free (msg);
  return FALSE;
}

static void
ov_graph_free (OvGraph * g)
{
  if (g == NULL)
    return;
  if (g->request)
    ov_infer_request_free (g->request);
  if (g->compiled)
    ov_compiled_model_free (g->compiled);
  g_free (g);
}

/* The compiled graph's port @name must be @type with shape [dims...]. */
static gboolean
check_port (const ov_output_const_port_t * port, const char *name, ov_element_type_e type,
    const int64_t * dims, int rank, const char *path, GError ** error)
{
  ov_element_type_e have_type;
  ov_shape_t shape = { 0 };
  gboolean ok;

  if (!ov_check (ov_port_get_element_type (port, &have_type), "reading the type of", name,
          error)
      || !ov_check (ov_const_port_get_shape (port, &shape), "reading the shape of", name, error))
    return FALSE;
  ok = have_type == type && shape.rank == rank;
  for (int i = 0; ok && i < rank; i++)
    ok = shape.dims[i] == dims[i];
  ov_shape_free (&shape);
  if (!ok)
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "openvino backend: %s: %s is not %s [%" G_GINT64_FORMAT " x %" G_GINT64_FORMAT
        "%s]; re-export it with tools/te-export.py", path, name,
        type == I32 ? "int32" : "float32", (gint64) dims[0], (gint64) dims[1],
        rank == 3 ? " x hidden" : "");
  return ok;
}

static gboolean
graph_check_io (OvGraph * g, int hidden, const char *path, GError ** error)
{
  int64_t in_dims[2] = { g->shape.batch, g->shape.seq_len };
  int64_t out_dims[3] = { g->shape.batch, g->shape.seq_len, hidden };
  ov_output_const_port_t *port = NULL;
  size_t n_out = 0;
  gboolean ok;

  for (guint i = 0; i < G_N_ELEMENTS (input_names); i++) {
    if (!ov_check (ov_compiled_model_input_by_name (g->compiled, input_names[i], &port),
            "finding input", input_names[i], error))
      return FALSE;
    ok = check_port (port, input_names[i], I32, in_dims, 2, path, error);
    ov_output_const_port_free (port);
    if (!ok)
      return FALSE;
  }
  if (!ov_check (ov_compiled_model_outputs_size (g->compiled, &n_out), "counting outputs", NULL,
          error))
    return FALSE;
  if (n_out != 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "openvino backend: %s has %zu outputs, expected last_hidden_state only", path, n_out);
    return FALSE;
  }
  if (!ov_check (ov_compiled_model_output_by_index (g->compiled, 0, &port), "finding output",
          NULL, error))
    return FALSE;
  ok = check_port (port, "last_hidden_state", F32, out_dims, 3, path, error);
  ov_output_const_port_free (port);
  return ok;
}

static const TeBackendOption ov_options[] = {
  {"cache-dir", TE_OPTION_STRING, NULL, 0, 0, "$XDG_CACHE_HOME/textembed",
      "the export cache that tools/te-export.py fills"},
  {"dtype", TE_OPTION_ENUM, "fp32|fp16|a16w8", 0, 0, "fp32",
      "the exported graph variant: a16w8 is QDQ with 8-bit weights, 16-bit activations"},
  {"device", TE_OPTION_STRING, NULL, 0, 0, "CPU",
      "OpenVINO device: CPU, NPU, GPU, AUTO:NPU,CPU... (te-devices lists them)"},
  {"ov-cache-dir", TE_OPTION_STRING, NULL, 0, 0, "<cache-dir>/openvino",
      "OpenVINO's compiled-model cache; empty: off"},
  {"threads", TE_OPTION_INT, NULL, 1, 1024, "the device's choice",
      "INFERENCE_NUM_THREADS (CPU device)"},
  {"precision", TE_OPTION_ENUM, "f32|f16|bf16|default", 0, 0, "f32 for fp32 graphs on CPU",
      "INFERENCE_PRECISION_HINT; default: the device's own choice (bf16 on CPUs with "
      "AVX512_BF16 or AMX)"},
  {"verify", TE_OPTION_BOOL, NULL, 0, 0, "true",
      "check the graphs' SHA-256 against their manifests"},
  {NULL}
};

static void ov_close (gpointer state);
static gboolean run_chunk (gpointer backend, gpointer graph, TeBatch * batch, int row0, int n,
    GError ** error);

static gpointer
ov_open (const TeModel * model, GHashTable * options, GError ** error)
{
  const char *dtype = te_backend_option_string (options, "dtype", "fp32");
  const char *device = te_backend_option_string (options, "device", "CPU");
  const char *threads = te_backend_option_string (options, "threads", NULL);
  const char *ov_cache = te_backend_option_string (options, "ov-cache-dir", NULL);
  const char *precision = te_backend_option_string (options, "precision", NULL);
  const char *keys[4] = { NULL, NULL, NULL, NULL }, *vals[4] = { NULL, NULL, NULL, NULL };
  int n_props = 0;
  char *cache_dir = te_export_cache_dir (te_backend_option_string (options, "cache-dir", NULL));
  char *ov_cache_dir = NULL, *hash = NULL;
  GPtrArray *entries = NULL;
  TeOvBackend *ov = NULL;
  GError *err = NULL;
  gboolean verify;


  verify = te_backend_option_bool (options, "verify", TRUE);

  hash = te_export_model_hash (te_model_dir (model), error);
  if (hash == NULL)
    goto fail;
  entries = te_export_cache_find (cache_dir, hash, "onnx", dtype, verify, &err);
  if (entries == NULL || entries->len == 0) {
    char *cmd = te_export_command (te_model_dir (model), cache_dir, dtype);

    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "openvino backend: %s%sno usable %s graphs of %s in %s: export them with\n  %s",
        err ? err->message : "", err ? "; " : "", dtype, te_model_dir (model), cache_dir, cmd);
    g_free (cmd);
    g_clear_error (&err);
    goto fail;
  }

  ov = g_new0 (TeOvBackend, 1);
  ov->model = model;
  te_static_graphs_init (&ov->sg, "openvino", ov, run_chunk, model);
  g_ptr_array_set_free_func (ov->sg.graphs, (GDestroyNotify) ov_graph_free);
  if (!ov_check (ov_core_create (&ov->core), "creating the core", NULL, error))
    goto fail;

  if (ov_cache == NULL)
    ov_cache_dir = g_build_filename (cache_dir, "openvino", NULL);
  else if (ov_cache[0] != '\0')
    ov_cache_dir = g_strdup (ov_cache);

  /* Compile properties, passed as the first n_props pairs of a fixed argument list. LATENCY:
   * one request uses the whole device, the way submit() runs them. The CPU plugin computes in
   * bf16 by default where the processor has AVX512_BF16 or AMX: fp32 graphs ask for f32. */
  keys[n_props] = ov_property_key_hint_performance_mode;
  vals[n_props++] = "LATENCY";
  if (ov_cache_dir) {
    keys[n_props] = ov_property_key_cache_dir;
    vals[n_props++] = ov_cache_dir;
  }
  if (threads) {
    keys[n_props] = ov_property_key_inference_num_threads;
    vals[n_props++] = threads;
  }
  if (precision == NULL && strcmp (dtype, "fp32") == 0 && g_str_has_prefix (device, "CPU"))
    precision = "f32";
  if (precision && strcmp (precision, "default") != 0) {
    keys[n_props] = ov_property_key_hint_inference_precision;
    vals[n_props++] = precision;
  }

  for (guint i = 0; i < entries->len; i++) {
    TeExportEntry *e = g_ptr_array_index (entries, i);
    OvGraph *g = g_new0 (OvGraph, 1);
    ov_status_e st;

    g->shape.batch = e->batch;
    g->shape.seq_len = e->seq_len;
    g_ptr_array_add (ov->sg.graphs, g);
    st = ov_core_compile_model_from_file (ov->core, e->artifact, device, 2 * n_props,
        &g->compiled, keys[0], vals[0], keys[1], vals[1], keys[2], vals[2], keys[3], vals[3]);
    if (!ov_check (st, "compiling", e->artifact, error))
      goto fail;
    if (!graph_check_io (g, ov->sg.hidden, e->artifact, error))
      goto fail;
    if (!ov_check (ov_compiled_model_create_infer_request (g->compiled, &g->request),
            "creating an infer request for", e->artifact, error))
      goto fail;
  }

  te_static_graphs_ready (&ov->sg);
  g_snprintf (ov->sg.caps.kernel, sizeof ov->sg.caps.kernel, "openvino %s %s%s%s%s", device, dtype,
      threads ? ", " : "", threads ? threads : "", threads ? " threads" : "");

  g_ptr_array_free (entries, TRUE);
  g_free (ov_cache_dir);
  g_free (cache_dir);
  g_free (hash);
  return ov;

fail:
  if (entries)
    g_ptr_array_free (entries, TRUE);
  if (ov)
    ov_close (ov);
  g_free (ov_cache_dir);
  g_free (cache_dir);
  g_free (hash);
  return NULL;
}

/* Rows [row0, row0 + n) of @batch through graph @g (n <= g->batch; the graph's other rows are
 * padding), outputs into batch->hidden. */
static gboolean
run_chunk (gpointer backend, gpointer graph, TeBatch * batch, int row0, int n,
    GError ** error)
{
  OvGraph *g = graph;
  const int S = g->shape.seq_len;
  gint32 *in[3];
  ov_tensor_t *t[3] = { NULL, NULL, NULL }, *out = NULL;
  float *hidden;
  gboolean ok = FALSE;

  (void) backend;
  for (int k = 0; k < 3; k++) {
    if (!ov_check (ov_infer_request_get_tensor (g->request, input_names[k], &t[k]),
            "getting input", input_names[k], error)
        || !ov_check (ov_tensor_data (t[k], (void **) &in[k]), "mapping input",
            input_names[k], error))
      goto out;
  }
  te_static_fill_inputs (batch, row0, n, g->shape.batch, S, in[0], in[1], in[2]);
  if (!ov_check (ov_infer_request_infer (g->request), "running", NULL, error)
      || !ov_check (ov_infer_request_get_output_tensor_by_index (g->request, 0, &out),
          "getting the output", NULL, error)
      || !ov_check (ov_tensor_data (out, (void **) &hidden), "mapping the output", NULL, error))
    goto out;
  te_static_scatter_output (batch, row0, n, S, hidden);
  ok = TRUE;

out:
  for (int k = 0; k < 3; k++)
    if (t[k])
      ov_tensor_free (t[k]);
  if (out)
    ov_tensor_free (out);
  return ok;
}

static void
ov_close (gpointer state)
{
  TeOvBackend *ov = state;

  if (ov == NULL)
    return;
  /* Synchronous: nothing in flight. Requests before compiled models before the core. */
  if (ov->sg.graphs)
    te_static_graphs_clear (&ov->sg);
  if (ov->core)
    ov_core_free (ov->core);
  g_free (ov);
}

static void
ov_list_devices (GArray * devices)
{
  ov_core_t *core = NULL;
  ov_available_devices_t avail = { 0 };
  GError *err = NULL;

  if (!ov_check (ov_core_create (&core), "creating the core", NULL, &err)
      || !ov_check (ov_core_get_available_devices (core, &avail), "listing devices", NULL,
          &err)) {
    TeBackendDevice d = { 0 };

    g_strlcpy (d.name, "CPU", sizeof d.name);
    g_strlcpy (d.description, "OpenVINO", sizeof d.description);
    g_strlcpy (d.note, err->message, sizeof d.note);
    g_array_append_val (devices, d);
    g_error_free (err);
  } else {
    for (size_t i = 0; i < avail.size; i++) {
      TeBackendDevice d = { 0 };
      char *full = NULL;

      g_strlcpy (d.name, avail.devices[i], sizeof d.name);
      if (ov_core_get_property (core, avail.devices[i], ov_property_key_device_full_name,
              &full) == OK && full) {
        g_strlcpy (d.description, full, sizeof d.description);
        ov_free (full);
      }
      d.available = TRUE;
      /* the exported variants this backend loads; a16w8 and fp16 need the device to take
       * them, which every OpenVINO device plugin does (computing in its own precision) */
      g_strlcpy (d.dtypes, "fp32,fp16,a16w8", sizeof d.dtypes);
      g_array_append_val (devices, d);
    }
    ov_available_devices_free (&avail);
  }
  if (core)
    ov_core_free (core);
}

const TeBackendClass te_backend_openvino_class = {
  .name = "openvino",
  .description = "OpenVINO (CPU, NPU, GPU) on static-shape graphs from tools/te-export.py",
  .options = ov_options,
  .list_devices = ov_list_devices,
  .open = ov_open,
  .get_caps = te_static_graphs_class_get_caps,
  .submit = te_static_graphs_class_submit,
  .close = ov_close,
};
