/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-onnx.c — the "onnx" backend: exported static-shape graphs run by ONNX Runtime's C
 * API (loaded by path), one session per (batch x seq) graph, on the CPU EP or the QNN EP. */
#include "te-backend-onnx.h"
#include "te-export-cache.h"
#include "te-json.h"
#include "te-static-graphs.h"

#include <dlfcn.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include <onnxruntime_c_api.h>

#ifndef TE_ORT_LIBRARY
#define TE_ORT_LIBRARY "libonnxruntime.so"
#endif
#ifndef TE_ORT_QNN_DIR
#define TE_ORT_QNN_DIR ""
#endif

#define QNN_EP_NAME "QNNExecutionProvider"
#define CPU_EP_NAME "CPUExecutionProvider"

static const TeBackendOption onnx_options[] = {
  {"cache-dir", TE_OPTION_STRING, NULL, 0, 0, "$XDG_CACHE_HOME/textembed",
      "the export cache that tools/te-export.py fills"},
  {"dtype", TE_OPTION_ENUM, "fp32|fp16|a16w8", 0, 0, "fp32 (cpu), a16w8 (qnn)",
      "the exported graph variant: a16w8 is QDQ with 8-bit weights, 16-bit activations"},
  {"ep", TE_OPTION_ENUM, "cpu|qnn", 0, 0, "cpu",
      "execution provider: cpu runs the onnx graphs; qnn the QNN HTP context binaries "
      "(tools/te-export.py --target qnn-htp)"},
  {"library", TE_OPTION_STRING, NULL, 0, 0, "the onnxruntime wheel setup installed",
      "path of libonnxruntime.so to load (a device's own ONNX Runtime build)"},
  {"ep-library", TE_OPTION_STRING, NULL, 0, 0, "libonnxruntime_providers_qnn.so of onnxruntime-qnn",
      "ep=qnn: path of the QNN execution provider plugin library"},
  {"backend_path", TE_OPTION_STRING, NULL, 0, 0, "libQnnHtp.so next to the EP library",
      "ep=qnn: the QNN backend library (libQnnHtp.so: the HTP, or its simulator on x86-64)"},
  {"soc_model", TE_OPTION_INT, NULL, 0, 100000, "57 (SM8650)",
      "ep=qnn: QNN SoC model id; the context binaries must have been built for it"},
  {"htp_arch", TE_OPTION_INT, NULL, 68, 1000, "75 (v75)",
      "ep=qnn: Hexagon architecture; the context binaries must have been built for it"},
  {"cpu-fallback", TE_OPTION_BOOL, NULL, 0, 0, "false for qnn, true for cpu",
      "let ONNX Runtime run nodes the EP does not take on its CPU EP; false makes that an "
      "error, so that every node is on the NPU"},
  {"threads", TE_OPTION_INT, NULL, 1, 1024, "ONNX Runtime's (the physical cores)",
      "intra-op threads of the CPU execution provider"},
  {"verify", TE_OPTION_BOOL, NULL, 0, 0, "true",
      "check the graphs' SHA-256 against their manifests"},
  {NULL}
};

/* ---- the runtime: loaded once per process ---- */

typedef struct {
  char *library;
  void *handle;
  const OrtApi *api;
  const char *version;
  OrtEnv *env;
  GHashTable *ep_libraries;   /* registration name -> path */
} OrtRuntime;

static GMutex runtime_lock;
static OrtRuntime *runtime;   /* process lifetime once loaded */

/* ONNX Runtime's log lines into GLib's, domain "onnxruntime": its warnings (e.g. nodes placed
 * on the CPU EP) are INFO here, its errors warnings. */
static void
ort_log (G_GNUC_UNUSED void *param, OrtLoggingLevel severity, const char *category,
    G_GNUC_UNUSED const char *logid, const char *where, const char *message)
{
  GLogLevelFlags level = severity >= ORT_LOGGING_LEVEL_ERROR ? G_LOG_LEVEL_WARNING
      : severity == ORT_LOGGING_LEVEL_WARNING ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_DEBUG;

  g_log ("onnxruntime", level, "%s (%s, %s)", message, category ? category : "",
      where ? where : "");
}

/* Sets @error from a failed OrtStatus (and releases it); TRUE when @st is success. */
static gboolean
ort_ok (const OrtApi * api, OrtStatus * st, const char *what, const char *where,
    GError ** error)
{
  if (st == NULL)
    return TRUE;
  g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: %s%s%s failed: %s", what,
      where ? " " : "", where ? where : "", api->GetErrorMessage (st));
  api->ReleaseStatus (st);
  return FALSE;
}

static OrtRuntime *
runtime_get (const char *library, GError ** error)
{
  OrtRuntime *rt = NULL;
  typedef const OrtApiBase *(*GetApiBase) (void);
  GetApiBase get_base;
  const OrtApiBase *base;
  void *handle;

  g_mutex_lock (&runtime_lock);
  if (runtime) {
    if (strcmp (runtime->library, library) != 0)
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: this process already "
          "runs ONNX Runtime from %s; one runtime per process, cannot also load %s",
          runtime->library, library);
    else
      rt = runtime;
    goto out;
  }
  handle = dlopen (library, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: cannot load the ONNX "
        "Runtime library %s (%s); name it with backend-options library=<path to "
        "libonnxruntime.so>", library, dlerror ());
    goto out;
  }
  get_base = (GetApiBase) dlsym (handle, "OrtGetApiBase");
  base = get_base ? get_base () : NULL;
  if (base == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: %s has no OrtGetApiBase: "
        "not an ONNX Runtime library", library);
    dlclose (handle);
    goto out;
  }
  rt = g_new0 (OrtRuntime, 1);
  rt->api = base->GetApi (ORT_API_VERSION);
  rt->version = base->GetVersionString ();
  if (rt->api == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: ONNX Runtime %s (%s) does "
        "not provide C API version %d, which this build needs (ONNX Runtime 1.%d or newer)",
        rt->version ? rt->version : "?", library, ORT_API_VERSION, ORT_API_VERSION);
    g_free (rt);
    rt = NULL;
    dlclose (handle);
    goto out;
  }
  if (!ort_ok (rt->api, rt->api->CreateEnvWithCustomLogger (ort_log, NULL,
              ORT_LOGGING_LEVEL_WARNING, "textembed", &rt->env), "creating the environment",
          NULL, error)) {
    g_free (rt);
    rt = NULL;
    dlclose (handle);
    goto out;
  }
  rt->handle = handle;
  rt->library = g_strdup (library);
  rt->ep_libraries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  runtime = rt;
  g_info ("onnx backend: ONNX Runtime %s from %s (C API %d)", rt->version, library,
      ORT_API_VERSION);
out:
  g_mutex_unlock (&runtime_lock);
  return rt;
}

/* Registers the plugin EP library @path under @name once per process. */
static gboolean
runtime_register_ep (OrtRuntime * rt, const char *name, const char *path, GError ** error)
{
  gboolean ok = TRUE;
  const char *have;

  g_mutex_lock (&runtime_lock);
  have = g_hash_table_lookup (rt->ep_libraries, name);
  if (have && strcmp (have, path) != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the %s execution provider "
        "is already loaded from %s in this process, cannot also load %s", name, have, path);
    ok = FALSE;
  } else if (have == NULL) {
    if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the %s execution "
          "provider library %s does not exist; install onnxruntime-qnn or name it with "
          "backend-options ep-library=<path>", name, path);
      ok = FALSE;
    } else {
      ok = ort_ok (rt->api, rt->api->RegisterExecutionProviderLibrary (rt->env, name, path),
          "registering the execution provider library", path, error);
      if (ok)
        g_hash_table_insert (rt->ep_libraries, g_strdup (name), g_strdup (path));
    }
  }
  g_mutex_unlock (&runtime_lock);
  return ok;
}

/* The OrtEpDevice of EP @ep_name (the first one), or NULL with @error. */
static const OrtEpDevice *
runtime_ep_device (OrtRuntime * rt, const char *ep_name, GError ** error)
{
  const OrtEpDevice *const *devices = NULL;
  size_t n = 0;

  if (!ort_ok (rt->api, rt->api->GetEpDevices (rt->env, &devices, &n), "listing EP devices",
          NULL, error))
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp (rt->api->EpDevice_EpName (devices[i]), ep_name) == 0)
      return devices[i];
  g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the %s execution provider "
      "reports no device on this machine", ep_name);
  return NULL;
}

static char *
default_qnn_path (const char *file)
{
  return *TE_ORT_QNN_DIR ? g_build_filename (TE_ORT_QNN_DIR, file, NULL) : g_strdup (file);
}

/* ---- one graph ---- */

enum { IN_IDS, IN_MASK, IN_TYPES, N_IN };
static const char *const input_names[N_IN] = { "input_ids", "attention_mask", "token_type_ids" };

typedef struct {
  TeGraphShape shape;     /* first: te-static-graphs.h */
  OrtSession *session;
  gint32 *in[N_IN];       /* our buffers, [batch x seq]; in[IN_TYPES] NULL without that input */
  float *out;             /* [batch x seq x hidden] */
  OrtValue *in_values[N_IN];
  OrtValue *out_value;
  const char *run_in_names[N_IN];
  OrtValue *run_in[N_IN];
  size_t n_run_in;
  char *out_name;
} OnnxGraph;

typedef struct {
  TeStaticGraphs sg;      /* first (te_static_graphs_class_*); graphs: OnnxGraph (their bound
                           * buffers: one batch at a time) */
  const TeModel *model;   /* borrowed, as in every backend */
  OrtRuntime *rt;
} TeOnnxBackend;

static void
onnx_graph_free (OnnxGraph * g, const OrtApi * api)
{
  for (int k = 0; k < N_IN; k++) {
    if (g->in_values[k])
      api->ReleaseValue (g->in_values[k]);
    g_free (g->in[k]);
  }
  if (g->out_value)
    api->ReleaseValue (g->out_value);
  if (g->session)
    api->ReleaseSession (g->session);
  g_free (g->out);
  g_free (g->out_name);
  g_free (g);
}

/* The tensor type and shape of @info must be @type with dims @dims. */
static gboolean
check_tensor (const OrtApi * api, OrtTypeInfo * info, const char *name,
    ONNXTensorElementDataType type, const int64_t * dims, size_t rank, const char *path,
    GError ** error)
{
  const OrtTensorTypeAndShapeInfo *t = NULL;
  ONNXTensorElementDataType have;
  size_t have_rank = 0;
  int64_t have_dims[8];
  gboolean ok;

  if (!ort_ok (api, api->CastTypeInfoToTensorInfo (info, &t), "reading the type of", name,
          error))
    return FALSE;
  if (t == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: %s: %s is not a tensor",
        path, name);
    return FALSE;
  }
  if (!ort_ok (api, api->GetTensorElementType (t, &have), "reading the type of", name, error)
      || !ort_ok (api, api->GetDimensionsCount (t, &have_rank), "reading the rank of", name,
          error))
    return FALSE;
  ok = have == type && have_rank == rank;
  if (ok && !ort_ok (api, api->GetDimensions (t, have_dims, rank), "reading the shape of",
          name, error))
    return FALSE;
  for (size_t i = 0; ok && i < rank; i++)
    ok = have_dims[i] == dims[i];
  if (!ok)
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "onnx backend: %s: %s is not %s [%" G_GINT64_FORMAT " x %" G_GINT64_FORMAT "%s]; "
        "re-export it with tools/te-export.py", path, name,
        type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 ? "int32" : "float32", (gint64) dims[0],
        (gint64) dims[1], rank == 3 ? " x hidden" : "");
  return ok;
}

static void
alloc_free (const OrtApi * api, OrtAllocator * alloc, void *p)
{
  OrtStatus *st = api->AllocatorFree (alloc, p);

  if (st)
    api->ReleaseStatus (st);
}

/* Checks the session's inputs and output against the graph's shape and binds our buffers. */
static gboolean
graph_bind (TeOnnxBackend * ob, OnnxGraph * g, OrtMemoryInfo * mem, const char *path,
    GError ** error)
{
  const OrtApi *api = ob->rt->api;
  OrtAllocator *alloc = NULL;
  size_t n_in = 0, n_out = 0;
  const gsize nin = (gsize) g->shape.batch * g->shape.seq_len;
  const gsize nout = nin * ob->sg.hidden;
  int64_t in_dims[2] = { g->shape.batch, g->shape.seq_len };
  int64_t out_dims[3] = { g->shape.batch, g->shape.seq_len, ob->sg.hidden };
  gboolean seen[N_IN] = { FALSE, FALSE, FALSE };

  if (!ort_ok (api, api->GetAllocatorWithDefaultOptions (&alloc), "getting the allocator",
          NULL, error)
      || !ort_ok (api, api->SessionGetInputCount (g->session, &n_in), "counting inputs", path,
          error)
      || !ort_ok (api, api->SessionGetOutputCount (g->session, &n_out), "counting outputs",
          path, error))
    return FALSE;
  for (size_t i = 0; i < n_in; i++) {
    char *name = NULL;
    OrtTypeInfo *info = NULL;
    int k;
    gboolean ok;

    if (!ort_ok (api, api->SessionGetInputName (g->session, i, alloc, &name),
            "reading an input name of", path, error))
      return FALSE;
    for (k = 0; k < N_IN && strcmp (name, input_names[k]) != 0; k++);
    if (k == N_IN) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: %s has an input \"%s\" "
          "(expected input_ids, attention_mask, token_type_ids)", path, name);
      alloc_free (api, alloc, name);
      return FALSE;
    }
    alloc_free (api, alloc, name);
    ok = ort_ok (api, api->SessionGetInputTypeInfo (g->session, i, &info),
        "reading the type of", input_names[k], error)
        && check_tensor (api, info, input_names[k], ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
        in_dims, 2, path, error);
    if (info)
      api->ReleaseTypeInfo (info);
    if (!ok)
      return FALSE;
    seen[k] = TRUE;
  }
  if (!seen[IN_IDS] || !seen[IN_MASK]) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: %s lacks input %s", path,
        seen[IN_IDS] ? "attention_mask" : "input_ids");
    return FALSE;
  }
  if (n_out != 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: %s has %zu outputs, "
        "expected last_hidden_state only", path, n_out);
    return FALSE;
  }
  {
    char *name = NULL;
    OrtTypeInfo *info = NULL;
    gboolean ok;

    if (!ort_ok (api, api->SessionGetOutputName (g->session, 0, alloc, &name),
            "reading the output name of", path, error))
      return FALSE;
    g->out_name = g_strdup (name);
    alloc_free (api, alloc, name);
    ok = ort_ok (api, api->SessionGetOutputTypeInfo (g->session, 0, &info),
        "reading the type of", g->out_name, error)
        && check_tensor (api, info, g->out_name, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, out_dims,
        3, path, error);
    if (info)
      api->ReleaseTypeInfo (info);
    if (!ok)
      return FALSE;
  }

  for (int k = 0; k < N_IN; k++) {
    if (!seen[k])
      continue;
    g->in[k] = g_new0 (gint32, nin);
    if (!ort_ok (api, api->CreateTensorWithDataAsOrtValue (mem, g->in[k],
                nin * sizeof (gint32), in_dims, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
                &g->in_values[k]), "binding input", input_names[k], error))
      return FALSE;
    g->run_in_names[g->n_run_in] = input_names[k];
    g->run_in[g->n_run_in++] = g->in_values[k];
  }
  g->out = g_new0 (float, nout);
  return ort_ok (api, api->CreateTensorWithDataAsOrtValue (mem, g->out, nout * sizeof (float),
          out_dims, 3, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &g->out_value), "binding the output",
      NULL, error);
}

/* A context binary's manifest must say it was built for @soc_model / @htp_arch. */
static gboolean
check_qnn_target (const TeExportEntry * e, gint64 soc_model, gint64 htp_arch, GError ** error)
{
  char *path = g_build_filename (e->dir, "manifest.json", NULL);
  JsonParser *parser = json_parser_new ();
  gint64 soc = -1, arch = -1;
  gboolean ok = FALSE;

  if (json_parser_load_from_file (parser, path, NULL)) {
    JsonNode *root = json_parser_get_root (parser);
    JsonObject *key = root && JSON_NODE_HOLDS_OBJECT (root)
        ? te_json_object (json_node_get_object (root), "key") : NULL;

    /* the manifest is untrusted input: lenient lookups, -1 for anything not an integer */
    if (key && !te_json_int (key, "soc_model", &soc))
      soc = -1;
    if (key && !te_json_int (key, "htp_arch", &arch))
      arch = -1;
  }
  if (soc == soc_model && arch == htp_arch)
    ok = TRUE;
  else
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the QNN context binary in "
        "%s was built for soc_model %" G_GINT64_FORMAT " htp_arch %" G_GINT64_FORMAT ", not "
        "soc_model %" G_GINT64_FORMAT " htp_arch %" G_GINT64_FORMAT "; rebuild it with "
        "tools/te-export.py --target qnn-htp --soc-model %" G_GINT64_FORMAT " --htp-arch %"
        G_GINT64_FORMAT, e->dir, soc, arch, soc_model, htp_arch, soc_model, htp_arch);
  g_object_unref (parser);
  g_free (path);
  return ok;
}

static void onnx_close (gpointer state);
static gboolean run_chunk (gpointer backend, gpointer graph, TeBatch * batch, int row0, int n,
    GError ** error);

static gpointer
onnx_open (const TeModel * model, GHashTable * options, GError ** error)
{
  const char *ep = te_backend_option_string (options, "ep", "cpu");
  const gboolean qnn = strcmp (ep, "qnn") == 0;
  const char *dtype = te_backend_option_string (options, "dtype", qnn ? "a16w8" : "fp32");
  const char *library = te_backend_option_string (options, "library", TE_ORT_LIBRARY);
  const gint64 soc_model = te_backend_option_int (options, "soc_model", 57);
  const gint64 htp_arch = te_backend_option_int (options, "htp_arch", 75);
  const gint64 threads = te_backend_option_int (options, "threads", 0);
  const gboolean cpu_fallback = te_backend_option_bool (options, "cpu-fallback", !qnn);
  const gboolean verify = te_backend_option_bool (options, "verify", TRUE);
  const char *target = qnn ? "qnn-htp" : "onnx";
  char *cache_dir = te_export_cache_dir (te_backend_option_string (options, "cache-dir", NULL));
  char *ep_library = NULL, *backend_path = NULL, *hash = NULL, *soc_s = NULL, *arch_s = NULL;
  GPtrArray *entries = NULL;
  TeOnnxBackend *ob = NULL;
  OrtMemoryInfo *mem = NULL;
  const OrtEpDevice *ep_device = NULL;
  const OrtApi *api;
  GError *err = NULL;
  gint64 t0 = g_get_monotonic_time ();

  if (qnn) {
    ep_library = g_strdup (te_backend_option_string (options, "ep-library", NULL));
    if (ep_library == NULL)
      ep_library = default_qnn_path ("libonnxruntime_providers_qnn.so");
    if (!g_file_test (ep_library, G_FILE_TEST_IS_REGULAR)) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the %s execution "
          "provider library %s does not exist; install onnxruntime-qnn or name it with "
          "backend-options ep-library=<path>", QNN_EP_NAME, ep_library);
      goto fail;
    }
    backend_path = g_strdup (te_backend_option_string (options, "backend_path", NULL));
    if (backend_path == NULL) {
      char *dir = g_path_get_dirname (ep_library);

      backend_path = g_build_filename (dir, "libQnnHtp.so", NULL);
      g_free (dir);
    }
    if (!g_file_test (backend_path, G_FILE_TEST_IS_REGULAR)) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the QNN backend library "
          "%s does not exist; name it with backend-options backend_path=<path to "
          "libQnnHtp.so>", backend_path);
      goto fail;
    }
  }

  hash = te_export_model_hash (te_model_dir (model), error);
  if (hash == NULL)
    goto fail;
  entries = te_export_cache_find (cache_dir, hash, target, dtype, verify, &err);
  if (entries == NULL || entries->len == 0) {
    char *cmd = te_export_command (te_model_dir (model), cache_dir, dtype);
    char *more = qnn ? g_strdup_printf (" --target qnn-htp --soc-model %" G_GINT64_FORMAT
        " --htp-arch %" G_GINT64_FORMAT, soc_model, htp_arch) : g_strdup ("");

    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "onnx backend: %s%sno usable %s %s of %s in %s: build them with\n  %s%s", err ?
        err->message : "", err ? "; " : "", dtype,
        qnn ? "QNN context binaries" : "graphs", te_model_dir (model), cache_dir, cmd, more);
    g_free (more);
    g_free (cmd);
    g_clear_error (&err);
    goto fail;
  }
  if (qnn)
    for (guint i = 0; i < entries->len; i++)
      if (!check_qnn_target (g_ptr_array_index (entries, i), soc_model, htp_arch, error))
        goto fail;

  ob = g_new0 (TeOnnxBackend, 1);
  ob->model = model;
  te_static_graphs_init (&ob->sg, "onnx", ob, run_chunk, model);
  ob->rt = runtime_get (library, error);
  if (ob->rt == NULL)
    goto fail;
  api = ob->rt->api;
  if (qnn && (!runtime_register_ep (ob->rt, QNN_EP_NAME, ep_library, error)
          || (ep_device = runtime_ep_device (ob->rt, QNN_EP_NAME, error)) == NULL))
    goto fail;
  if (!ort_ok (api, api->CreateCpuMemoryInfo (OrtDeviceAllocator, OrtMemTypeDefault, &mem),
          "describing CPU memory", NULL, error))
    goto fail;

  soc_s = g_strdup_printf ("%" G_GINT64_FORMAT, soc_model);
  arch_s = g_strdup_printf ("%" G_GINT64_FORMAT, htp_arch);
  for (guint i = 0; i < entries->len; i++) {
    TeExportEntry *e = g_ptr_array_index (entries, i);
    OnnxGraph *g = g_new0 (OnnxGraph, 1);
    OrtSessionOptions *so = NULL;
    gboolean ok;

    g->shape.batch = e->batch;
    g->shape.seq_len = e->seq_len;
    g_ptr_array_add (ob->sg.graphs, g);
    ok = ort_ok (api, api->CreateSessionOptions (&so), "creating session options", NULL,
        error)
        && ort_ok (api, api->SetInterOpNumThreads (so, 1), "setting threads", NULL, error)
        && (threads == 0 || ort_ok (api, api->SetIntraOpNumThreads (so, (int) threads),
            "setting threads", NULL, error))
        && ort_ok (api, api->AddSessionConfigEntry (so, "session.disable_cpu_ep_fallback",
            cpu_fallback ? "0" : "1"), "configuring", "session.disable_cpu_ep_fallback",
        error);
    if (ok && qnn) {
      const char *keys[] = { "backend_path", "soc_model", "htp_arch" };
      const char *vals[] = { backend_path, soc_s, arch_s };

      ok = ort_ok (api, api->SessionOptionsAppendExecutionProvider_V2 (so, ob->rt->env,
              &ep_device, 1, keys, vals, G_N_ELEMENTS (keys)), "adding the QNN execution "
          "provider for", e->artifact, error);
    }
    if (ok)
      ok = ort_ok (api, api->CreateSession (ob->rt->env, e->artifact, so, &g->session),
          qnn ? "loading the QNN context binary" : "loading", e->artifact, error);
    if (so)
      api->ReleaseSessionOptions (so);
    if (!ok || !graph_bind (ob, g, mem, e->artifact, error))
      goto fail;
  }

  te_static_graphs_ready (&ob->sg);
  if (qnn)
    g_snprintf (ob->sg.caps.kernel, sizeof ob->sg.caps.kernel, "onnxruntime %s QNN HTP v%s "
        "soc %s %s%s", ob->rt->version, arch_s, soc_s, dtype, cpu_fallback ? ", CPU fallback"
        : "");
  else if (threads)
    g_snprintf (ob->sg.caps.kernel, sizeof ob->sg.caps.kernel, "onnxruntime %s cpu %s, %"
        G_GINT64_FORMAT " threads", ob->rt->version, dtype, threads);
  else
    g_snprintf (ob->sg.caps.kernel, sizeof ob->sg.caps.kernel, "onnxruntime %s cpu %s",
        ob->rt->version, dtype);
  g_info ("onnx backend: %s: %u %s of %s loaded from the cache %s in %.1f ms%s",
      ob->sg.caps.kernel, entries->len, qnn ? "context binaries" : "graphs",
      te_model_dir (model), cache_dir, (g_get_monotonic_time () - t0) / 1000.0,
      qnn && !cpu_fallback ? " (every node on the NPU)" : "");

  api->ReleaseMemoryInfo (mem);
  g_ptr_array_free (entries, TRUE);
  g_free (cache_dir);
  g_free (hash);
  g_free (ep_library);
  g_free (backend_path);
  g_free (soc_s);
  g_free (arch_s);
  return ob;

fail:
  if (mem)
    ob->rt->api->ReleaseMemoryInfo (mem);
  if (entries)
    g_ptr_array_free (entries, TRUE);
  if (ob)
    onnx_close (ob);
  g_free (cache_dir);
  g_free (hash);
  g_free (ep_library);
  g_free (backend_path);
  g_free (soc_s);
  g_free (arch_s);
  return NULL;
}

static gboolean
run_chunk (gpointer backend, gpointer graph, TeBatch * batch, int row0, int n,
    GError ** error)
{
  TeOnnxBackend *ob = backend;
  OnnxGraph *g = graph;
  const OrtApi *api = ob->rt->api;
  const char *out_names[1] = { g->out_name };
  OrtValue *outs[1] = { g->out_value };

  te_static_fill_inputs (batch, row0, n, g->shape.batch, g->shape.seq_len, g->in[IN_IDS],
      g->in[IN_MASK], g->in[IN_TYPES]);
  if (!ort_ok (api, api->Run (g->session, NULL, g->run_in_names,
              (const OrtValue * const *) g->run_in, g->n_run_in, out_names, 1, outs),
          "running", NULL, error))
    return FALSE;
  /* the output was bound to our buffer: ORT must not have replaced it */
  if (outs[0] != g->out_value) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "onnx backend: the runtime did not write "
        "into the bound output");
    api->ReleaseValue (outs[0]);
    return FALSE;
  }
  te_static_scatter_output (batch, row0, n, g->shape.seq_len, g->out);
  return TRUE;
}

static void
onnx_close (gpointer state)
{
  TeOnnxBackend *ob = state;

  if (ob == NULL)
    return;
  /* Synchronous: nothing in flight. The runtime stays loaded for the process. */
  /* the graphs need the runtime's API to be freed: no free function on the array */
  for (guint i = 0; i < ob->sg.graphs->len; i++)
    onnx_graph_free (g_ptr_array_index (ob->sg.graphs, i), ob->rt->api);
  te_static_graphs_clear (&ob->sg);
  g_free (ob);
}

/* The execution providers the default runtime offers here (QNN registered when its plugin is
 * installed), without a model. */
static void
onnx_list_devices (GArray * devices)
{
  GError *err = NULL;
  OrtRuntime *rt = runtime_get (TE_ORT_LIBRARY, &err);
  char *qnn_lib = default_qnn_path ("libonnxruntime_providers_qnn.so");
  const OrtEpDevice *const *eps = NULL;
  size_t n = 0;
  gboolean have_qnn = FALSE;

  if (rt == NULL) {
    TeBackendDevice d = { 0 };

    g_strlcpy (d.name, "cpu", sizeof d.name);
    g_strlcpy (d.description, "ONNX Runtime CPU execution provider", sizeof d.description);
    g_strlcpy (d.note, err->message, sizeof d.note);
    g_array_append_val (devices, d);
    g_clear_error (&err);
    g_free (qnn_lib);
    return;
  }
  if (g_file_test (qnn_lib, G_FILE_TEST_IS_REGULAR)
      && !runtime_register_ep (rt, QNN_EP_NAME, qnn_lib, &err)) {
    g_info ("onnx backend: %s", err->message);
    g_clear_error (&err);
  }
  if (ort_ok (rt->api, rt->api->GetEpDevices (rt->env, &eps, &n), "listing EP devices", NULL,
          &err)) {
    for (size_t i = 0; i < n; i++) {
      const char *name = rt->api->EpDevice_EpName (eps[i]);
      const OrtHardwareDevice *hw = rt->api->EpDevice_Device (eps[i]);
      OrtHardwareDeviceType type = rt->api->HardwareDevice_Type (hw);
      gboolean is_qnn = strcmp (name, QNN_EP_NAME) == 0;
      TeBackendDevice d = { 0 };

      if (!is_qnn && strcmp (name, CPU_EP_NAME) != 0)
        continue;       /* an EP this backend has no option for */
      have_qnn |= is_qnn;
      g_strlcpy (d.name, is_qnn ? "qnn" : "cpu", sizeof d.name);
      g_snprintf (d.description, sizeof d.description, "ONNX Runtime %s: %s, %s (%s)",
          rt->version, name, type == OrtHardwareDeviceType_NPU ? "NPU"
          : type == OrtHardwareDeviceType_GPU ? "GPU" : "CPU",
          rt->api->HardwareDevice_Vendor (hw));
      d.available = TRUE;
      g_strlcpy (d.dtypes, is_qnn ? "a16w8,fp16" : "fp32,fp16,a16w8", sizeof d.dtypes);
#if defined(__x86_64__)
      if (is_qnn)
        g_strlcpy (d.note, "x86-64: the HTP simulator in libQnnHtp.so", sizeof d.note);
#endif
      g_array_append_val (devices, d);
    }
  } else {
    g_info ("%s", err->message);
    g_clear_error (&err);
  }
  if (!have_qnn) {
    TeBackendDevice d = { 0 };

    g_strlcpy (d.name, "qnn", sizeof d.name);
    g_strlcpy (d.description, "QNN execution provider", sizeof d.description);
    g_snprintf (d.note, sizeof d.note, "not available: %s",
        g_file_test (qnn_lib, G_FILE_TEST_IS_REGULAR) ? "it reports no device"
        : "no onnxruntime-qnn plugin (ep-library)");
    g_array_append_val (devices, d);
  }
  g_free (qnn_lib);
}

const TeBackendClass te_backend_onnx_class = {
  .name = "onnx",
  .description = "ONNX Runtime (CPU EP; QNN HTP EP from context binaries) on static-shape "
      "graphs from tools/te-export.py",
  .options = onnx_options,
  .list_devices = onnx_list_devices,
  .open = onnx_open,
  .get_caps = te_static_graphs_class_get_caps,
  .submit = te_static_graphs_class_submit,
  .close = onnx_close,
};
