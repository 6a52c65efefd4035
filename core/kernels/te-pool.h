/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-pool.h — a fixed pool of compute threads for the CPU kernels.
 *
 * te_pool_run() hands tasks 0..n-1 to the pool's threads and the calling thread (which counts as
 * one of them) and returns when all are done. Tasks are taken in order from a shared counter, so
 * uneven tasks balance out.
 *
 * Threading policy (docs/cpu.md): pools are shared process-wide by size. te_pool_acquire(n)
 * returns the one pool of n threads, creating it on first use, so any number of encoders asking
 * for the same count (the default: the physical cores) share n - 1 worker threads. A run that
 * finds its pool busy with another encoder's run does not queue behind it and does not start
 * threads: it runs its tasks on its own calling thread. Compute threads are then at most
 * the pool's plus one per concurrent caller, never encoders × threads.
 * Between runs the threads spin for up to 100 µs (a forward pass is tens of runs in quick
 * succession), then sleep: an idle pool holds no core.
 * Plain C, libc (pthreads) only. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TePool TePool;

/* Called for each task; @worker in [0, threads) is the thread's index in this run (0: the
 * caller), for per-thread scratch. */
typedef void (*TePoolFunc) (void *ctx, int task, int worker);

/* The shared pool of @n_threads (>= 1; 1 = no worker thread), referenced; NULL when a thread
 * cannot be created. */
TePool *te_pool_acquire (int n_threads);
void te_pool_release (TePool * pool);
int te_pool_threads (const TePool * pool);

/* Runs @fn for every task in [0, @n_tasks). @pool may be NULL (all on the caller). */
void te_pool_run (TePool * pool, int n_tasks, TePoolFunc fn, void *ctx);

#ifdef __cplusplus
}
#endif
