/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-bench — throughput of the CPU kernels on an encoder's projection shapes.
 *
 *   te-kern-bench [--threads N] [--seconds S] [--tokens M] [--hidden H] [--intermediate I]
 *
 * For each linear layer of a BERT layer (QKV H->3H, attention output H->H, FFN up H->I, FFN
 * down I->H) on M token rows: fp32 GFLOP/s (te_kern_linear), int8 GOP/s (te_kern_linear_q8,
 * activation quantisation included) and, where the level has bf16 kernels, bf16 GFLOP/s
 * (te_kern_pack_bf16), 2 operations per multiply-add; and attention GFLOP/s for
 * 8 sequences of M/8 tokens. The level is te_cpu_level_select()'s (TE_CPU_LEVEL forces one).
 * First, on x86-64, the instruction peaks those kernels are built from, on every thread at
 * once: fp32 FMAs at the level's vector width, and the int8 kernel's multiply-accumulate
 * sequence (vpmaddubsw + vpmaddwd + vpaddd on AVX2; vpdpbusd with VNNI; tdpbssd on AMX
 * tiles), independent chains so
 * that only throughput counts. They are the hardware's limit that the GEMMs are measured
 * against (numpy's sgemm, bench/bench_cpu.py's other ceiling, includes its own overheads).
 * One JSON object per line on stdout, for bench/bench_cpu.py. Defaults: MiniLM's shape
 * (H 384, I 1536, 12 heads), M 1024, 2 s per case. */
#include "te-kern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void
fill (float *x, size_t n, float amp)
{
  unsigned long long s = 12345;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x[i] = amp * ((float) (s >> 40) / (float) (1 << 24) - 0.5f);
  }
}

/* ---- instruction peaks (x86-64) ---- */

#define PEAK_ITERS 4000000L     /* per task; 16 tasks per thread balance the shared counter */

typedef struct {
  TeCpuProbe probe;
  long ops;                     /* summed over the threads */
} PeakJob;

static void
peak_task (void *data, int task, int worker)
{
  PeakJob *job = data;
  /* an AMX step is 16 cycles: as many operations in about the same time */
  long ops = (long) te_cpu_probe_run (job->probe,
      job->probe == TE_CPU_PROBE_Q8_AMX ? PEAK_ITERS / 64 : PEAK_ITERS);

  (void) task;
  (void) worker;
  __atomic_add_fetch (&job->ops, ops, __ATOMIC_RELAXED);
}

static void
peak (TePool * pool, int threads, int level, bool int8)
{
  TeCpuProbe probe = te_cpu_probe_for (level, int8);
  double best = 0.0;

  /* the best of 5 runs of about 0.3 s: on a shared VM the slower ones measure the neighbours */
  for (int r = 0; r < 5; r++) {
    PeakJob job = { probe, 0 };
    double t0 = now (), rate;

    te_pool_run (pool, 16 * threads, peak_task, &job);
    rate = (double) job.ops / (now () - t0) / 1e9;
    best = rate > best ? rate : best;
  }
  printf ("{\"op\": \"peak\", \"dtype\": \"%s\", \"kernel\": \"%s\", \"threads\": %d, "
      "\"gops\": %.2f}\n", int8 ? "int8" : "fp32", te_cpu_probe_name (probe), threads, best);
  fflush (stdout);
}

/* Runs one linear layer (@w, or int8 @q; n x k) on @m rows for about @seconds and prints its
 * rate. */
static void
time_linear (TePool * pool, const char *op, const char *dtype, const char *kernel,
    const TeKernW * w, const TeKernQ * q, const float *A, float *C, int m, int n, int k,
    double seconds)
{
  double t0, dt;
  long reps;

  for (reps = 0, t0 = now (); (dt = now () - t0) < seconds; reps++)
    if (w)
      te_kern_linear (pool, w, A, C, m, TE_KERN_EPI_NONE);
    else
      te_kern_linear_q8 (pool, q, A, C, m, TE_KERN_EPI_NONE);
  printf ("{\"op\": \"%s\", \"dtype\": \"%s\", \"kernel\": \"%s\", \"m\": %d, \"n\": %d, "
      "\"k\": %d, \"threads\": %d, \"gops\": %.2f}\n", op, dtype, kernel, m, n, k,
      te_pool_threads (pool), 2.0 * m * n * k * reps / dt / 1e9);
}

int
main (int argc, char **argv)
{
  int threads = 2, m = 1024, H = 384, I = 1536, heads = 12;
  double seconds = 2.0;
  char err[256];
  int level;
  TePool *pool;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp (argv[i], "--threads"))
      threads = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--seconds"))
      seconds = atof (argv[i + 1]);
    else if (!strcmp (argv[i], "--tokens"))
      m = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--hidden"))
      H = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--intermediate"))
      I = atoi (argv[i + 1]);
    else {
      fprintf (stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  level = te_cpu_level_select (err, sizeof err);
  if (level < 0 || threads < 1 || m < 8 || H < heads || I < 1) {
    fprintf (stderr, "%s\n", level < 0 ? err : "bad arguments");
    return 2;
  }
  pool = te_pool_acquire (threads);
  for (int int8 = 0; int8 <= 1; int8++)
    if (te_cpu_probe_for (level, int8) != TE_CPU_PROBE_NONE)
      peak (pool, threads, level, int8);
  {
    const struct { const char *name; int n, k; } shapes[] = {
      {"qkv", 3 * H, H}, {"attn_out", H, H}, {"ffn_up", I, H}, {"ffn_down", H, I},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      int n = shapes[s].n, k = shapes[s].k;
      float *A = malloc (sizeof (float) * (size_t) m * k);
      float *W = malloc (sizeof (float) * (size_t) n * k);
      float *B = malloc (sizeof (float) * n);
      float *C = malloc (sizeof (float) * (size_t) m * n);
      TeKernW *w, *wb = NULL;
      TeKernQ *q;

      fill (A, (size_t) m * k, 2.0f);
      fill (W, (size_t) n * k, 0.2f);
      fill (B, n, 0.1f);
      w = te_kern_pack (level, W, B, n, k);
      q = te_kern_pack_q8 (level, W, B, n, k, NULL);
      if (!w || !q)
        return 1;
      if (te_kern_linear (pool, w, A, C, m, TE_KERN_EPI_NONE) != 0
          || te_kern_linear_q8 (pool, q, A, C, m, TE_KERN_EPI_NONE) != 0)
        return 1;
      time_linear (pool, shapes[s].name, "fp32", te_cpu_level_name (level), w, NULL, A, C, m, n,
          k, seconds);
      time_linear (pool, shapes[s].name, "int8", te_kern_q8_name (q), NULL, q, A, C, m, n, k,
          seconds);
      if (te_kern_bf16_available (level)) {
        if ((wb = te_kern_pack_bf16 (level, W, B, n, k)) == NULL
            || te_kern_linear (pool, wb, A, C, m, TE_KERN_EPI_NONE) != 0)
          return 1;
        time_linear (pool, shapes[s].name, "bf16", te_kern_bf16_name_for (level), wb, NULL, A,
            C, m, n, k, seconds);
      }
      fflush (stdout);
      te_kern_free (w);
      te_kern_free (wb);
      te_kern_q8_free (q);
      free (A);
      free (W);
      free (B);
      free (C);
    }
  }
  {
    int seqs = 8, s = m / 8;
    size_t seg[9];
    float *qkv = malloc (sizeof (float) * (size_t) m * 3 * H);
    float *out = malloc (sizeof (float) * (size_t) m * H);
    double ops = 4.0 * seqs * (double) s * s * H, t0, dt;
    long reps;

    for (int b = 0; b <= seqs; b++)
      seg[b] = (size_t) b * s;
    fill (qkv, (size_t) m * 3 * H, 2.0f);
    te_kern_attention (pool, level, qkv, out, seg, seqs, H, heads);
    for (reps = 0, t0 = now (); (dt = now () - t0) < seconds; reps++)
      te_kern_attention (pool, level, qkv, out, seg, seqs, H, heads);
    printf ("{\"op\": \"attention\", \"dtype\": \"fp32\", \"kernel\": \"%s\", \"seqs\": %d, "
        "\"seq\": %d, \"h\": %d, \"heads\": %d, \"threads\": %d, \"gops\": %.2f}\n",
        te_cpu_level_name (level), seqs, s, H, heads, threads, ops * reps / dt / 1e9);
    free (qkv);
    free (out);
  }
  te_pool_release (pool);
  return 0;
}
