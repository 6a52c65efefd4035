/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-scheduler.h — batching in front of a backend, without GStreamer: rows of token ids come in,
 * are grouped into padded batches (at most batch-size rows, at most max-batch-tokens padded
 * tokens, a partial batch when its oldest row has waited max-latency, or on drain), submitted
 * to the backend from the scheduler's worker thread, and come out in the order they went in,
 * interleaved with the caller's markers (opaque pointers: npuencoder's serialized events).
 * At most max-inflight batches are formed and not yet taken out: push_row() blocks beyond that
 * (backpressure). Time comes from a TeClock, so that tests can drive it (te_clock_fake_new()).
 *
 * Threads: push_row / push_marker / drain from one producer thread, pop from one consumer
 * thread (they may be the same when pushes do not block), set_flushing from any. */
#pragma once

#include <glib.h>
#include "te-backend.h"

G_BEGIN_DECLS

/* ---- clocks ---- */

typedef struct _TeClock TeClock;
struct _TeClock {
  /* monotonic microseconds */
  gint64 (*now) (TeClock * clock);
  /* Block on @cond (@mutex held) until it is signalled or now() reaches @deadline (G_MAXINT64:
   * no deadline). May return early; callers re-check their condition. */
  void (*wait_until) (TeClock * clock, GCond * cond, GMutex * mutex, gint64 deadline);
};

/* g_get_monotonic_time() and g_cond_wait_until(); static, never freed. */
TeClock *te_clock_system (void);
/* A clock that moves only with te_clock_fake_advance(), which also wakes every wait whose
 * deadline it passes. */
TeClock *te_clock_fake_new (gint64 start_us);
void te_clock_fake_advance (TeClock * fake, gint64 us);
/* Block until at least @n threads wait on @fake with a deadline (for tests that must know the
 * worker has armed its timer). */
void te_clock_fake_wait_for_sleepers (TeClock * fake, guint n);
void te_clock_fake_free (TeClock * fake);

/* ---- the scheduler ---- */

typedef struct _TeScheduler TeScheduler;

typedef struct {
  guint batch_size;           /* most rows per batch (>= 1; clamped to the backend's maximum) */
  guint max_batch_tokens;     /* most padded tokens per batch (rows x padded length); 0 = any */
  guint max_inflight;         /* most batches formed and not yet popped (>= 1) */
  gint64 max_latency_us;      /* a partial batch goes when its oldest row waited this long;
                               * 0 = only when full or drained */
  TeClock *clock;             /* NULL: te_clock_system () */
  /* Called by the worker every tick_interval_us (0 = never) without any lock held, for
   * periodic statistics. */
  gint64 tick_interval_us;
  void (*tick) (gpointer user_data);
  /* Called (no lock held) with the measured time of a batch in the backend (a peak decaying
   * by 1/8 per batch, submit to completion, µs) when it has moved by more than a quarter and
   * 1 ms from what was last reported (at first: the backend's caps.latency_ms). */
  void (*latency_changed) (gint64 latency_us, gpointer user_data);
  gpointer user_data;
  /* Frees a row's or a marker's user pointer when the scheduler drops it (flush, free). */
  GDestroyNotify free_row;
  GDestroyNotify free_marker;
} TeSchedulerConfig;

typedef enum {
  TE_SCHED_OK,
  TE_SCHED_WOULD_BLOCK,       /* non-blocking call that would have waited */
  TE_SCHED_FLUSHING,          /* set_flushing (TRUE) is in effect */
} TeSchedResult;

typedef struct {
  guint pos;                  /* the marker came after this many rows of the batch */
  gpointer marker;
} TeSchedMarker;

/* What te_scheduler_pop() gives: a marker, or a computed (or failed) batch. */
typedef struct {
  gpointer marker;            /* non-NULL: a marker, and nothing else is set */
  guint64 number;             /* batches are numbered from 0 in formation order */
  TeBatch *batch;             /* rows padded; batch->hidden is the output when !error */
  gpointer *rows;             /* the rows' user pointers, [batch->batch] */
  GArray *markers;            /* TeSchedMarker in ascending pos, that came between its rows;
                               * NULL when none */
  guint64 n_tokens;           /* real tokens */
  const char *why;            /* what closed it: "batch-size", "max-batch-tokens",
                               * "max-latency", "drain" */
  GError *error;              /* the backend's error */
  gint64 t_first, t_formed, t_submitted, t_done;   /* clock times (µs) */
} TeSchedOutput;

/* Frees the output; rows and markers still set are freed with the free functions. A caller
 * that keeps one sets its pointer to NULL first. */
void te_sched_output_free (TeScheduler * s, TeSchedOutput * out);

typedef struct {
  guint pending_rows;         /* rows not yet in a batch */
  guint inflight;             /* batches formed and not yet popped */
  guint64 formed;             /* batches formed since creation */
  gint64 backend_latency_us;  /* measured (see latency_changed), 0 before the first batch */
} TeSchedStats;

/* @hidden and @pad_id: the model's width and padding id. The backend is borrowed and must
 * outlive the scheduler. Starts the worker thread. */
TeScheduler *te_scheduler_new (TeBackend * backend, int hidden, gint32 pad_id,
    const TeSchedulerConfig * config);
/* Stops the worker (after a batch it is submitting) and drops everything queued; batches
 * inside an asynchronous backend are orphaned, freed when they complete. Then free the backend
 * (te_backend_free() completes or cancels what is inside it) and the scheduler, in that order,
 * so that no one waits out the backend's latency. */
void te_scheduler_stop (TeScheduler * s);
/* Stops it if that was not done, waits for batches still inside the backend, frees. */
void te_scheduler_free (TeScheduler * s);

/* Changes take effect at the next decision. */
void te_scheduler_set_max_latency (TeScheduler * s, gint64 us);
void te_scheduler_set_tick_interval (TeScheduler * s, gint64 us);

/* One row of @n tokens (1 <= n <= the backend's max_seq_len: the caller checks), @types may be
 * NULL (all 0); the ids are copied. A row that does not fit the pending batch (batch-size, or
 * the token budget) closes that batch first, which needs a free slot: waited for (@block), or
 * TE_SCHED_WOULD_BLOCK, the row not taken (pop, then push it again). Then the row is accepted:
 * the scheduler owns @user from here (and on TE_SCHED_FLUSHING) and frees it with free_row
 * unless it comes out of pop(). A row that fills the batch forms it when a slot is free:
 * waited for when @block (the backpressure point: the row is accepted either way), else the
 * worker forms it as soon as one is. */
TeSchedResult te_scheduler_push_row (TeScheduler * s, const gint32 * ids, const gint32 * types,
    int n, gpointer user, gboolean block);
/* A marker in stream order: with the pending batch when it has rows (between them on output),
 * else on its own. Never blocks. The scheduler owns @marker from here (TE_SCHED_FLUSHING: it is
 * freed with free_marker at once). */
TeSchedResult te_scheduler_push_marker (TeScheduler * s, gpointer marker);
/* Close the pending batch now (end of stream), waiting for a slot like push_row. */
TeSchedResult te_scheduler_drain (TeScheduler * s, gboolean block);
/* The next output in stream order; a batch only once the backend has completed it. */
TeSchedResult te_scheduler_pop (TeScheduler * s, TeSchedOutput ** out, gboolean block);

/* TRUE: drop every pending row, queued batch and marker (batches inside the backend are dropped
 * when they complete), and make push/drain/pop return TE_SCHED_FLUSHING, waking the blocked
 * ones. FALSE: accept again. */
void te_scheduler_set_flushing (TeScheduler * s, gboolean flushing);

void te_scheduler_get_stats (TeScheduler * s, TeSchedStats * stats);

G_END_DECLS
