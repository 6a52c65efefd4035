/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-cpu.c — the built-in CPU backend: synchronous, any batch size and any sequence
 * length up to the model's max_seq_len, fp32.
 *
 * Options:
 *   kernels=auto|native|openblas
 *       native: the project's kernels (core/kernels), weights packed at open, for the level
 *       te-cpu.h picks from the CPU's feature bits (TE_CPU_LEVEL forces one).
 *       openblas: te_bert_forward() on OpenBLAS sgemm (the reference).
 *       auto (default): native when the CPU has a SIMD level (AVX2+FMA, AVX-512, NEON) or
 *       TE_CPU_LEVEL is set; OpenBLAS otherwise.
 *   threads=N
 *       compute threads, default the physical cores. native: the shared pool of N threads
 *       (te-pool.h). openblas: openblas_set_num_threads(), which is process-wide.
 *   dtype=fp32|int8|bf16
 *       int8 (native kernels only): the linear layers' weights quantised at open per output
 *       channel, activations per token, integer dot products (AMX tiles, VNNI, AVX2, NEON
 *       sdot);
 *       attention, LayerNorm and GELU stay fp32. Its vectors differ from fp32 (cosine about
 *       0.99+; docs/cpu.md), so stores see dtype=int8 in the encoder identity.
 *       bf16: the linear layers in bf16 with fp32 accumulation, on AMX tiles or with
 *       AVX512_BF16 (an error elsewhere).
 *
 * On the OpenBLAS path, the core OpenBLAS chose for itself is checked against the CPU's
 * features: Debian's OpenBLAS 0.3.21 runs SSE3 "Prescott" kernels on some AVX-512 VMs. That is
 * warned about once, naming OPENBLAS_CORETYPE as the fix. Likewise dtype=int8 on a CPU where
 * int8 cannot pay (its int8 multiply-add rate measured against fp32's, or no integer dot
 * product at all) is warned about once, naming dtype=fp32. */
#include "te-backend.h"
#include "te-bert.h"
#include "te-blas.h"
#include "te-cpu.h"
#include "te-kern.h"

#include <string.h>

typedef struct {
  /* Borrowed: the caller keeps the model alive (and unchanged) until the backend is freed. */
  const TeModel *model;
  TeBertEngine *engine;         /* NULL: OpenBLAS */
  char kernel[96];
} TeCpuBackend;

/* The instruction-set class of an OpenBLAS x86-64 core name: 2 = AVX-512, 1 = AVX2, 0 = older
 * (SSE/AVX1), -1 = a name this table does not know. */
static int
openblas_core_class (const char *core)
{
  static const char *const avx512[] = { "skylakex", "cooperlake", "sapphirerapids" };
  static const char *const avx2[] = { "haswell", "zen", "excavator" };
  static const char *const older[] = { "katmai", "coppermine", "northwood", "prescott",
    "banias", "atom", "core2", "penryn", "dunnington", "nehalem", "athlon", "opteron",
    "opteron_sse3", "barcelona", "nano", "sandybridge", "bulldozer", "piledriver",
    "steamroller", "generic"
  };

  for (guint i = 0; i < G_N_ELEMENTS (avx512); i++)
    if (g_ascii_strcasecmp (core, avx512[i]) == 0)
      return 2;
  for (guint i = 0; i < G_N_ELEMENTS (avx2); i++)
    if (g_ascii_strcasecmp (core, avx2[i]) == 0)
      return 1;
  for (guint i = 0; i < G_N_ELEMENTS (older); i++)
    if (g_ascii_strcasecmp (core, older[i]) == 0)
      return 0;
  return -1;
}

/* Warns (once per process) when OpenBLAS runs kernels below what this CPU supports. */
static void
check_openblas_core (void)
{
#if defined(__x86_64__)
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    const char *core = te_blas_corename ();
    int have = te_cpu_level_supported (TE_CPU_AVX512) ? 2
        : te_cpu_level_supported (TE_CPU_AVX2) ? 1 : 0;
    int cls = core ? openblas_core_class (core) : -1;

    if (cls >= 0 && cls < have)
      g_warning ("OpenBLAS chose its \"%s\" kernels on a CPU with %s: its sgemm runs several "
          "times slower than it could. Use the cpu backend's native kernels "
          "(backend-options=\"kernels=native\", the default), or set "
          "OPENBLAS_CORETYPE=%s in the environment.", core, have == 2 ? "AVX-512" : "AVX2",
          have == 2 ? "SkylakeX" : "Haswell");
    g_once_init_leave (&once, 1);
  }
#endif
}

/* dtype=int8 pays only where the CPU multiplies and adds int8 faster than fp32: with VNNI or
 * dotprod, or on AVX2 cores with two integer multiply pipes. AMD Zen 1 and 2 have one, where
 * the AVX2 int8 step runs at the FMA's rate and our int8 is slower than fp32 (docs/cpu.md).
 * No feature bit tells those cores apart, so the rate is measured (te_cpu_int8_speedup) and a
 * user asking for int8 where it cannot pay is told once per process, with the fix. */
static void
check_int8_pays (TeCpuLevel level)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    double r = te_cpu_int8_speedup (level);
    const char *q8 = te_kern_q8_name_for (level);

    if (r > 0.0 && r < TE_CPU_INT8_PAYS)
      g_warning ("cpu backend: dtype=int8 gains nothing on this CPU: its int8 multiply-adds "
          "(%s) run at %.2fx the rate of its fp32 ones (%s), measured, so the int8 kernel is "
          "slower than fp32 and less accurate. Use dtype=fp32 (the default); int8 pays on CPUs "
          "with VNNI or ARM dotprod.", te_cpu_probe_name (te_cpu_probe_for (level, true)), r,
          te_cpu_probe_name (te_cpu_probe_for (level, false)));
    else if (level != TE_CPU_PORTABLE && strcmp (q8, "portable") == 0)
      g_warning ("cpu backend: dtype=int8 runs the portable C int8 kernel on this CPU (it has "
          "no integer dot-product instructions: %s), slower than the %s fp32 kernels. Use "
          "dtype=fp32 (the default).", te_cpu_features_string (), te_cpu_level_name (level));
    g_once_init_leave (&once, 1);
  }
}

static const TeBackendOption cpu_options[] = {
  {"kernels", TE_OPTION_ENUM, "auto|native|openblas", 0, 0, "auto",
      "native: the project's kernels for the CPU's instruction set (TE_CPU_LEVEL forces one); "
      "openblas: OpenBLAS sgemm (the reference); auto: native on a CPU with AVX2+FMA, AVX-512 "
      "or NEON, or when TE_CPU_LEVEL is set, else OpenBLAS"},
  {"dtype", TE_OPTION_ENUM, "fp32|int8|bf16", 0, 0, "fp32",
      "int8: weights per output channel, activations per token, integer dot products (native "
      "kernels); bf16: bf16 weights and activations, fp32 sums, on CPUs with AMX or AVX512_BF16"},
  {"threads", TE_OPTION_INT, NULL, 1, 1024, "the physical cores",
      "compute threads (native: the process-wide pool of that size; openblas: its global "
      "thread count)"},
  {NULL}
};

static TeBertDType
dtype_from_name (const char *name)
{
  return strcmp (name, "int8") == 0 ? TE_BERT_INT8
      : strcmp (name, "bf16") == 0 ? TE_BERT_BF16 : TE_BERT_FP32;
}

static gpointer
cpu_open (const TeModel * model, GHashTable * options, GError ** error)
{
  TeCpuBackend *cpu;
  const char *kernels = te_backend_option_string (options, "kernels", "auto");
  int threads = (int) te_backend_option_int (options, "threads", 0);
  TeBertDType dtype = dtype_from_name (te_backend_option_string (options, "dtype", "fp32"));
  gboolean native;

  if (te_model_weights (model) == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "cpu backend: %s was loaded without its weights", te_model_dir (model));
    return NULL;
  }
  if (strcmp (kernels, "auto") == 0)
    native = te_cpu_best_level () != TE_CPU_PORTABLE || g_getenv ("TE_CPU_LEVEL") != NULL
        || dtype != TE_BERT_FP32;
  else
    native = strcmp (kernels, "native") == 0;
  if (!native && dtype != TE_BERT_FP32) {
    g_set_error (error, TE_ERROR, TE_ERROR_BACKEND,
        "cpu backend: dtype=%s needs the native kernels, not kernels=openblas",
        dtype == TE_BERT_INT8 ? "int8" : "bf16");
    return NULL;
  }

  cpu = g_new0 (TeCpuBackend, 1);
  cpu->model = model;
  if (native) {
    GError *err = NULL;

    cpu->engine = te_bert_engine_new (model, -1, threads, dtype, &err);
    if (cpu->engine == NULL) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "cpu backend: %s", err->message);
      g_error_free (err);
      g_free (cpu);
      return NULL;
    }
    g_snprintf (cpu->kernel, sizeof cpu->kernel, "%s",
        te_bert_engine_describe (cpu->engine));
    if (dtype == TE_BERT_INT8)
      check_int8_pays (te_bert_engine_level (cpu->engine));
    g_info ("cpu backend: %s kernels (CPU features: %s), %.1f MiB of weights packed in "
        "%.1f ms", cpu->kernel, te_cpu_features_string (),
        te_bert_engine_packed_bytes (cpu->engine) / 1048576.0,
        te_bert_engine_pack_seconds (cpu->engine) * 1e3);
  } else {
    if (!te_blas_load (error)) {
      g_prefix_error (error, "cpu backend, kernels=openblas: ");
      g_free (cpu);
      return NULL;
    }
    if (threads == 0)
      threads = te_cpu_physical_cores ();
    te_blas_set_num_threads (threads);
    check_openblas_core ();
    g_snprintf (cpu->kernel, sizeof cpu->kernel, "openblas-%s fp32, %d thread%s",
        te_blas_corename (), threads, threads == 1 ? "" : "s");
    g_info ("cpu backend: %s kernels (CPU features: %s)", cpu->kernel,
        te_cpu_features_string ());
  }
  return cpu;
}

static void
cpu_get_caps (gpointer state, TeBackendCaps * caps)
{
  TeCpuBackend *cpu = state;

  caps->max_batch = 0;
  caps->max_seq_len = te_model_config (cpu->model)->max_seq_len;
  caps->n_buckets = 0;
  g_strlcpy (caps->kernel, cpu->kernel, sizeof caps->kernel);
}

static gboolean
cpu_submit (gpointer state, TeBatch * batch, TeBackendDoneFunc done, gpointer user_data,
    GError ** error)
{
  TeCpuBackend *cpu = state;
  gboolean ok;

  /* Synchronous: a failed forward pass is reported here, and done() is then not called. */
  if (cpu->engine != NULL)
    ok = te_bert_engine_forward (cpu->engine, batch, error);
  else
    ok = te_bert_forward (cpu->model, batch, error);
  if (!ok)
    return FALSE;
  done (batch, NULL, user_data);
  return TRUE;
}

static void
cpu_close (gpointer state)
{
  TeCpuBackend *cpu = state;

  /* Nothing in flight: submit() completes before returning. */
  te_bert_engine_free (cpu->engine);
  g_free (cpu);
}

static void
cpu_list_devices (GArray * devices)
{
  TeBackendDevice d = { 0 };

  g_strlcpy (d.name, "cpu", sizeof d.name);
  g_snprintf (d.description, sizeof d.description, "%d physical core%s, kernels: %s",
      te_cpu_physical_cores (), te_cpu_physical_cores () == 1 ? "" : "s",
      te_cpu_level_name (te_cpu_best_level ()));
  d.available = TRUE;
  g_snprintf (d.dtypes, sizeof d.dtypes, "fp32,int8%s",
      te_kern_bf16_available (te_cpu_best_level ()) ? ",bf16" : "");
  g_snprintf (d.note, sizeof d.note, "CPU features: %s", te_cpu_features_string ());
  g_array_append_val (devices, d);
}

const TeBackendClass te_backend_cpu_class = {
  .name = "cpu",
  .description = "CPU, fp32, int8 or bf16, dynamic shapes: the project's kernels chosen from "
      "the CPU's features (AMX, AVX-512 with VNNI, AVX2, NEON with sdot, portable C), or "
      "OpenBLAS sgemm",
  .options = cpu_options,
  .list_devices = cpu_list_devices,
  .open = cpu_open,
  .get_caps = cpu_get_caps,
  .submit = cpu_submit,
  .close = cpu_close,
};
