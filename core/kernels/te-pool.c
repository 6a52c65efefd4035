/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-pool.c — the compute thread pool (te-pool.h). */
#include "te-pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct TePool {
  int n_threads;
  int refs;                     /* under registry_lock */
  TePool *next;                 /* registry list */
  pthread_t *threads;
  int n_started;

  pthread_mutex_t run_lock;     /* one run at a time; others run inline */

  pthread_mutex_t lock;
  pthread_cond_t wake, done_cond;
  unsigned long generation;     /* bumped per run, under lock */
  int quit;

  /* The current run (written before generation is bumped). */
  TePoolFunc fn;
  void *ctx;
  int n_tasks;
  atomic_int next_task;
  int pending;                  /* workers still in this run, under lock */
  int worker_ids;               /* next worker index handed out in this run, under lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static TePool *registry;

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

  pthread_mutex_lock (&pool->lock);
  for (;;) {
    int id;

    while (pool->generation == seen && !pool->quit)
      pthread_cond_wait (&pool->wake, &pool->lock);
    if (pool->quit)
      break;
    seen = pool->generation;
    id = pool->worker_ids++;
    pthread_mutex_unlock (&pool->lock);

    run_tasks (pool, id);

    pthread_mutex_lock (&pool->lock);
    if (--pool->pending == 0)
      pthread_cond_signal (&pool->done_cond);
  }
  pthread_mutex_unlock (&pool->lock);
  return NULL;
}

static void
pool_destroy (TePool * pool)
{
  pthread_mutex_lock (&pool->lock);
  pool->quit = 1;
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
  pthread_mutex_lock (&pool->lock);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->n_tasks = n_tasks;
  atomic_store_explicit (&pool->next_task, 0, memory_order_relaxed);
  pool->pending = pool->n_started;
  pool->worker_ids = 1;
  pool->generation++;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);

  run_tasks (pool, 0);

  pthread_mutex_lock (&pool->lock);
  while (pool->pending > 0)
    pthread_cond_wait (&pool->done_cond, &pool->lock);
  pthread_mutex_unlock (&pool->lock);
  pthread_mutex_unlock (&pool->run_lock);
}
