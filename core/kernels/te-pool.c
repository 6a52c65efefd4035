/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-pool.c — the compute thread pool (te-pool.h). */
#include "te-pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Waiting: a thread that finds nothing to do spins (with the CPU's pause hint) for up to
 * SPIN_NS before it sleeps on a condition variable. Runs come in bursts (one per projection,
 * attention and LayerNorm: tens per forward pass, often under a millisecond apart), and waking
 * a sleeping thread costs a futex call and, in a VM, an inter-processor interrupt through the
 * hypervisor: with sleeping alone that was a fifth of the int8 encoder's time (perf). Between
 * bursts (the next batch) the threads sleep, so an idle encoder holds no core. */
#define SPIN_NS 100000

struct TePool {
  int n_threads;
  int refs;                     /* under registry_lock */
  TePool *next;                 /* registry list */
  pthread_t *threads;
  int n_started;

  pthread_mutex_t run_lock;     /* one run at a time; others run inline */

  /* Publication: the caller writes the run's fields, then bumps generation (seq_cst). A
   * thread going to sleep counts itself in `sleepers` under `lock`, then reads generation
   * again; the caller reads `sleepers` after its bump and broadcasts under `lock` if any. The
   * two seq_cst pairs cannot both miss each other, so no wake-up is lost. The same protocol
   * runs the other way for the caller waiting on `pending`. */
  pthread_mutex_t lock;
  pthread_cond_t wake, done_cond;
  atomic_ulong generation;
  atomic_int quit;
  atomic_int sleepers;          /* workers in (or entering) cond_wait on wake */
  atomic_int caller_sleeping;   /* the caller in (or entering) cond_wait on done_cond */

  /* The current run (written before generation is bumped). */
  TePoolFunc fn;
  void *ctx;
  int n_tasks;
  atomic_int next_task;
  atomic_int pending;           /* workers still in this run */
  atomic_int worker_ids;        /* next worker index handed out in this run */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static TePool *registry;

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#elif defined(__aarch64__)
  __asm__ __volatile__ ("yield");
#endif
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* Spins until done (pool, arg) returns nonzero or about SPIN_NS pass; returns its last answer. */
static int
spin_until (int (*done) (TePool *, unsigned long), TePool * pool, unsigned long arg)
{
  uint64_t t0 = 0;

  for (unsigned i = 0;; i++) {
    if (done (pool, arg))
      return 1;
    cpu_relax ();
    if ((i & 63) == 63) {
      uint64_t t = now_ns ();
      if (t0 == 0)
        t0 = t;
      else if (t - t0 > SPIN_NS)
        return done (pool, arg);
    }
  }
}

static int
new_run (TePool * pool, unsigned long seen)
{
  return atomic_load (&pool->generation) != seen || atomic_load (&pool->quit);
}

static int
run_done (TePool * pool, unsigned long unused)
{
  (void) unused;
  return atomic_load (&pool->pending) == 0;
}

static void
run_tasks (TePool * pool, int worker)
{
  int t;

  while ((t = atomic_fetch_add_explicit (&pool->next_task, 1, memory_order_relaxed))
      < pool->n_tasks)
    pool->fn (pool->ctx, t, worker);
}

static void *
worker_main (void *data)
{
  TePool *pool = data;
  unsigned long seen = 0;

  for (;;) {
    if (!spin_until (new_run, pool, seen)) {
      pthread_mutex_lock (&pool->lock);
      atomic_fetch_add (&pool->sleepers, 1);
      while (!new_run (pool, seen))
        pthread_cond_wait (&pool->wake, &pool->lock);
      atomic_fetch_sub (&pool->sleepers, 1);
      pthread_mutex_unlock (&pool->lock);
    }
    if (atomic_load (&pool->quit))
      break;
    seen = atomic_load (&pool->generation);

    run_tasks (pool, atomic_fetch_add (&pool->worker_ids, 1));

    if (atomic_fetch_sub (&pool->pending, 1) == 1 && atomic_load (&pool->caller_sleeping)) {
      pthread_mutex_lock (&pool->lock);
      pthread_cond_signal (&pool->done_cond);
      pthread_mutex_unlock (&pool->lock);
    }
  }
  return NULL;
}

static void
pool_destroy (TePool * pool)
{
  pthread_mutex_lock (&pool->lock);
  atomic_store (&pool->quit, 1);
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);
  for (int i = 0; i < pool->n_started; i++)
    pthread_join (pool->threads[i], NULL);
  pthread_cond_destroy (&pool->wake);
  pthread_cond_destroy (&pool->done_cond);
  pthread_mutex_destroy (&pool->lock);
  pthread_mutex_destroy (&pool->run_lock);
  free (pool->threads);
  free (pool);
}

static TePool *
pool_create (int n_threads)
{
  TePool *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  pool->n_threads = n_threads;
  pthread_mutex_init (&pool->run_lock, NULL);
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->wake, NULL);
  pthread_cond_init (&pool->done_cond, NULL);
  atomic_init (&pool->next_task, 0);
  atomic_init (&pool->generation, 0);
  atomic_init (&pool->quit, 0);
  atomic_init (&pool->sleepers, 0);
  atomic_init (&pool->caller_sleeping, 0);
  atomic_init (&pool->pending, 0);
  atomic_init (&pool->worker_ids, 0);
  pool->threads = calloc (n_threads > 1 ? n_threads - 1 : 1, sizeof (pthread_t));
  if (pool->threads == NULL) {
    pool_destroy (pool);
    return NULL;
  }
  for (int i = 0; i < n_threads - 1; i++) {
    if (pthread_create (&pool->threads[i], NULL, worker_main, pool) != 0) {
      pool_destroy (pool);
      return NULL;
    }
    pool->n_started++;
  }
  return pool;
}

TePool *
te_pool_acquire (int n_threads)
{
  TePool *pool;

  if (n_threads < 1)
    n_threads = 1;
  pthread_mutex_lock (&registry_lock);
  for (pool = registry; pool != NULL; pool = pool->next)
    if (pool->n_threads == n_threads)
      break;
  if (pool == NULL) {
    pool = pool_create (n_threads);
    if (pool != NULL) {
      pool->next = registry;
      registry = pool;
    }
  }
  if (pool != NULL)
    pool->refs++;
  pthread_mutex_unlock (&registry_lock);
  return pool;
}

void
te_pool_release (TePool * pool)
{
  TePool **link;

  if (pool == NULL)
    return;
  pthread_mutex_lock (&registry_lock);
  if (--pool->refs > 0) {
    pthread_mutex_unlock (&registry_lock);
    return;
  }
  for (link = &registry; *link != NULL; link = &(*link)->next)
    if (*link == pool) {
      *link = pool->next;
      break;
    }
  pthread_mutex_unlock (&registry_lock);
  pool_destroy (pool);
}

int
te_pool_threads (const TePool * pool)
{
  return pool != NULL ? pool->n_threads : 1;
}

void
te_pool_run (TePool * pool, int n_tasks, TePoolFunc fn, void *ctx)
{
  if (n_tasks <= 0)
    return;
  if (pool == NULL || pool->n_threads <= 1 || n_tasks == 1
      || pthread_mutex_trylock (&pool->run_lock) != 0) {
    /* No pool, nothing to share, or another encoder is using it: run here. */
    for (int t = 0; t < n_tasks; t++)
      fn (ctx, t, 0);
    return;
  }
  /* no worker is in a run (the last one ended with pending at 0), so these are ours */
  pool->fn = fn;
  pool->ctx = ctx;
  pool->n_tasks = n_tasks;
  atomic_store_explicit (&pool->next_task, 0, memory_order_relaxed);
  atomic_store (&pool->pending, pool->n_started);
  atomic_store (&pool->worker_ids, 1);
  atomic_fetch_add (&pool->generation, 1);
  if (atomic_load (&pool->sleepers) > 0) {
    pthread_mutex_lock (&pool->lock);
    pthread_cond_broadcast (&pool->wake);
    pthread_mutex_unlock (&pool->lock);
  }

  run_tasks (pool, 0);

  if (!spin_until (run_done, pool, 0)) {
    pthread_mutex_lock (&pool->lock);
    atomic_store (&pool->caller_sleeping, 1);
    while (!run_done (pool, 0))
      pthread_cond_wait (&pool->done_cond, &pool->lock);
    atomic_store (&pool->caller_sleeping, 0);
    pthread_mutex_unlock (&pool->lock);
  }
  pthread_mutex_unlock (&pool->run_lock);
}
