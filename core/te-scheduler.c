/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-scheduler.c — batching, backpressure and in-order output in front of a backend
 * (te-scheduler.h). One lock guards everything; one condition is broadcast on every change. */
#include "te-scheduler.h"

#include <string.h>

/* ---- clocks ---- */

static gint64
system_now (G_GNUC_UNUSED TeClock * clock)
{
  return g_get_monotonic_time ();
}

static void
system_wait_until (G_GNUC_UNUSED TeClock * clock, GCond * cond, GMutex * mutex, gint64 deadline)
{
  if (deadline == G_MAXINT64)
    g_cond_wait (cond, mutex);
  else
    g_cond_wait_until (cond, mutex, deadline);
}

static TeClock system_clock = { system_now, system_wait_until };

TeClock *
te_clock_system (void)
{
  return &system_clock;
}

typedef struct {
  GCond *cond;
  GMutex *mutex;
  gint64 deadline;
  gboolean woken;
} Sleeper;

typedef struct {
  TeClock base;               /* first */
  GMutex lock;
  GCond changed;              /* a sleeper came or went */
  gint64 now;
  GList *sleepers;            /* Sleeper*, on the sleepers' stacks */
} FakeClock;

static gint64
fake_now (TeClock * clock)
{
  FakeClock *f = (FakeClock *) clock;
  gint64 now;

  g_mutex_lock (&f->lock);
  now = f->now;
  g_mutex_unlock (&f->lock);
  return now;
}

static void
fake_wait_until (TeClock * clock, GCond * cond, GMutex * mutex, gint64 deadline)
{
  FakeClock *f = (FakeClock *) clock;
  Sleeper sl = { cond, mutex, deadline, FALSE };

  if (deadline == G_MAXINT64) {
    g_cond_wait (cond, mutex);
    return;
  }
  g_mutex_lock (&f->lock);
  if (f->now >= deadline) {
    g_mutex_unlock (&f->lock);
    return;
  }
  f->sleepers = g_list_prepend (f->sleepers, &sl);
  g_cond_broadcast (&f->changed);
  g_mutex_unlock (&f->lock);
  /* @mutex is held from registration on: an advance() that passes the deadline takes it
   * before broadcasting, so it cannot signal before this thread waits */
  g_cond_wait (cond, mutex);
  g_mutex_lock (&f->lock);
  f->sleepers = g_list_remove (f->sleepers, &sl);
  g_cond_broadcast (&f->changed);
  g_mutex_unlock (&f->lock);
}

TeClock *
te_clock_fake_new (gint64 start_us)
{
  FakeClock *f = g_new0 (FakeClock, 1);

  f->base.now = fake_now;
  f->base.wait_until = fake_wait_until;
  g_mutex_init (&f->lock);
  g_cond_init (&f->changed);
  f->now = start_us;
  return &f->base;
}

void
te_clock_fake_advance (TeClock * fake, gint64 us)
{
  FakeClock *f = (FakeClock *) fake;
  GPtrArray *wake = g_ptr_array_new ();

  g_return_if_fail (fake != NULL && fake->now == fake_now && us >= 0);
  g_mutex_lock (&f->lock);
  f->now += us;
  for (GList * l = f->sleepers; l; l = l->next) {
    Sleeper *sl = l->data;

    if (!sl->woken && sl->deadline <= f->now) {
      sl->woken = TRUE;
      /* copies: the sleeper's struct lives on its stack, its cond and mutex do not */
      g_ptr_array_add (wake, sl->cond);
      g_ptr_array_add (wake, sl->mutex);
    }
  }
  g_mutex_unlock (&f->lock);
  for (guint i = 0; i < wake->len; i += 2) {
    GMutex *m = g_ptr_array_index (wake, i + 1);

    g_mutex_lock (m);
    g_cond_broadcast (g_ptr_array_index (wake, i));
    g_mutex_unlock (m);
  }
  g_ptr_array_free (wake, TRUE);
}

void
te_clock_fake_wait_for_sleepers (TeClock * fake, guint n)
{
  FakeClock *f = (FakeClock *) fake;

  g_return_if_fail (fake != NULL && fake->now == fake_now);
  g_mutex_lock (&f->lock);
  for (;;) {
    guint asleep = 0;

    for (GList * l = f->sleepers; l; l = l->next)
      asleep += !((Sleeper *) l->data)->woken;
    if (asleep >= n)
      break;
    g_cond_wait (&f->changed, &f->lock);
  }
  g_mutex_unlock (&f->lock);
}

void
te_clock_fake_free (TeClock * fake)
{
  FakeClock *f = (FakeClock *) fake;

  if (fake == NULL)
    return;
  g_return_if_fail (fake->now == fake_now && f->sleepers == NULL);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->changed);
  g_free (f);
}

/* ---- the scheduler ---- */

typedef struct {
  gint32 *ids;                /* ids then types, one allocation */
  int n;
  gpointer user;
} Row;

typedef enum {
  ITEM_QUEUED,                /* formed, in submit_queue */
  ITEM_SUBMITTED,             /* the backend has it: only its completion may free it */
  ITEM_DONE,                  /* completed (batch), or a marker */
} ItemState;

typedef struct {
  TeSchedOutput out;          /* first: what pop() hands out */
  TeScheduler *s;
  ItemState state;
  gboolean orphaned;          /* dropped while in the backend: its completion frees it */
} Item;

struct _TeScheduler {
  TeBackend *backend;
  TeBackendCaps caps;
  int hidden;
  gint32 pad_id;
  TeSchedulerConfig cfg;
  TeClock *clock;

  GMutex lock;
  GCond cond;
  GPtrArray *pending;         /* Row* */
  GArray *pending_markers;    /* TeSchedMarker */
  int pending_longest;
  gint64 pending_since;
  GQueue out_queue;           /* Item*, stream order, until popped */
  GQueue submit_queue;        /* Item* formed and not yet submitted */
  guint queued_batches;       /* batches in out_queue */
  guint held;                 /* batches popped and not yet freed */
  guint in_backend;           /* submitted and not completed, orphans included */
  gboolean flushing;
  gboolean stop;
  guint64 n_formed;
  gint64 latency_measured, latency_reported;
  gint64 next_tick;
  GThread *worker;
};

static void
row_free (TeScheduler * s, Row * r)
{
  if (r->user && s->cfg.free_row)
    s->cfg.free_row (r->user);
  g_free (r->ids);
  g_free (r);
}

static void
markers_free (TeScheduler * s, GArray * markers)
{
  if (markers == NULL)
    return;
  for (guint i = 0; i < markers->len; i++) {
    gpointer m = g_array_index (markers, TeSchedMarker, i).marker;

    if (m && s->cfg.free_marker)
      s->cfg.free_marker (m);
  }
  g_array_unref (markers);
}

static void
output_clear (TeScheduler * s, TeSchedOutput * o)
{
  if (o->marker && s->cfg.free_marker)
    s->cfg.free_marker (o->marker);
  if (o->rows && s->cfg.free_row)
    for (int i = 0; o->batch && i < o->batch->batch; i++)
      if (o->rows[i])
        s->cfg.free_row (o->rows[i]);
  g_free (o->rows);
  markers_free (s, o->markers);
  te_batch_free (o->batch);
  g_clear_error (&o->error);
}

void
te_sched_output_free (TeScheduler * s, TeSchedOutput * out)
{
  Item *item = (Item *) out;

  if (out == NULL)
    return;
  if (out->batch) {
    g_mutex_lock (&s->lock);
    s->held--;
    g_cond_broadcast (&s->cond);
    g_mutex_unlock (&s->lock);
  }
  output_clear (s, out);
  g_free (item);
}

static guint
inflight_locked (TeScheduler * s)
{
  return s->queued_batches + s->held;
}

static guint64
padded_tokens (TeScheduler * s, guint rows, int longest)
{
  int seq = te_backend_caps_seq_len (&s->caps, longest);

  return (guint64) rows * (guint64) MAX (seq, 0);
}

static gboolean
pending_full_locked (TeScheduler * s)
{
  guint n = s->pending->len;

  if (n == 0)
    return FALSE;
  if (n >= s->cfg.batch_size)
    return TRUE;
  return s->cfg.max_batch_tokens > 0
      && padded_tokens (s, n, s->pending_longest) >= s->cfg.max_batch_tokens;
}

/* Would a row of @n tokens still fit into the pending batch? */
static gboolean
pending_fits_locked (TeScheduler * s, int n)
{
  if (s->pending->len + 1 > s->cfg.batch_size)
    return FALSE;
  return s->cfg.max_batch_tokens == 0
      || padded_tokens (s, s->pending->len + 1, MAX (s->pending_longest, n))
      <= s->cfg.max_batch_tokens;
}

/* The pending rows become a padded batch, queued for the worker and, in stream order, for
 * pop(). The caller made sure a slot is free. */
static void
form_batch_locked (TeScheduler * s, const char *why)
{
  guint n = s->pending->len;
  int seq = te_backend_caps_seq_len (&s->caps, s->pending_longest);
  Item *item = g_new0 (Item, 1);
  TeSchedOutput *o = &item->out;

  g_assert (n > 0 && seq > 0);        /* lengths are the caller's to check */
  item->s = s;
  item->state = ITEM_QUEUED;
  o->number = s->n_formed++;
  o->why = why;
  o->t_first = s->pending_since;
  o->t_formed = s->clock->now (s->clock);
  o->batch = te_batch_new ((int) n, seq, s->hidden, s->pad_id);
  o->rows = g_new0 (gpointer, n + 1);
  for (guint i = 0; i < n; i++) {
    Row *r = g_ptr_array_index (s->pending, i);

    te_batch_set_row (o->batch, (int) i, r->ids, r->ids + r->n, r->n);
    o->n_tokens += (guint64) r->n;
    o->rows[i] = r->user;
    r->user = NULL;
    row_free (s, r);
  }
  g_ptr_array_set_size (s->pending, 0);
  if (s->pending_markers->len > 0) {
    o->markers = s->pending_markers;
    s->pending_markers = g_array_new (FALSE, FALSE, sizeof (TeSchedMarker));
  }
  s->pending_longest = 0;

  g_queue_push_tail (&s->out_queue, item);
  g_queue_push_tail (&s->submit_queue, item);
  s->queued_batches++;
  g_cond_broadcast (&s->cond);
}

/* Drop everything pending and queued; batches inside the backend are orphaned. */
static void
discard_locked (TeScheduler * s)
{
  Item *item;

  for (guint i = 0; i < s->pending->len; i++)
    row_free (s, g_ptr_array_index (s->pending, i));
  g_ptr_array_set_size (s->pending, 0);
  for (guint i = 0; i < s->pending_markers->len; i++) {
    gpointer m = g_array_index (s->pending_markers, TeSchedMarker, i).marker;

    if (s->cfg.free_marker)
      s->cfg.free_marker (m);
  }
  g_array_set_size (s->pending_markers, 0);
  s->pending_longest = 0;
  g_queue_clear (&s->submit_queue);
  while ((item = g_queue_pop_head (&s->out_queue)) != NULL) {
    if (item->state == ITEM_SUBMITTED) {
      item->orphaned = TRUE;
    } else {
      output_clear (s, &item->out);
      g_free (item);
    }
  }
  s->queued_batches = 0;
  g_cond_broadcast (&s->cond);
}

void
te_scheduler_set_tick_interval (TeScheduler * s, gint64 us)
{
  g_mutex_lock (&s->lock);
  s->cfg.tick_interval_us = MAX (us, 0);
  s->next_tick = s->clock->now (s->clock) + s->cfg.tick_interval_us;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

/* Wait until the pending batch can be closed (a slot is free) or no longer needs to be (the
 * worker closed it): TE_SCHED_OK, FLUSHING, or WOULD_BLOCK when !@block. @must_close: whether
 * the pending batch still has to be closed (re-evaluated after every wake). */
static TeSchedResult
wait_to_close_locked (TeScheduler * s, gboolean block,
    gboolean (*must_close) (TeScheduler * s, int n), int n)
{
  for (;;) {
    if (s->flushing)
      return TE_SCHED_FLUSHING;
    if (!must_close (s, n) || inflight_locked (s) < s->cfg.max_inflight)
      return TE_SCHED_OK;
    if (!block)
      return TE_SCHED_WOULD_BLOCK;
    s->clock->wait_until (s->clock, &s->cond, &s->lock, G_MAXINT64);
  }
}

static gboolean
must_close_for_row (TeScheduler * s, int n)
{
  return s->pending->len > 0 && !pending_fits_locked (s, n);
}

static gboolean
must_close_full (TeScheduler * s, G_GNUC_UNUSED int n)
{
  return pending_full_locked (s);
}

static gboolean
must_close_any (TeScheduler * s, G_GNUC_UNUSED int n)
{
  return s->pending->len > 0;
}

static const char *
close_reason (TeScheduler * s)
{
  return s->pending->len >= s->cfg.batch_size ? "batch-size" : "max-batch-tokens";
}

static void
batch_done (TeBatch * batch, const GError * error, gpointer user_data)
{
  Item *item = user_data;
  TeScheduler *s = item->s;
  void (*notify) (gint64, gpointer) = NULL;
  gpointer notify_data = s->cfg.user_data;
  gint64 now = s->clock->now (s->clock), reported = 0;

  (void) batch;
  /* te_scheduler_free() may free @s as soon as in_backend reaches 0 and the lock is released:
   * nothing below the unlock touches @s */
  g_mutex_lock (&s->lock);
  s->in_backend--;
  if (item->orphaned) {
    output_clear (s, &item->out);
    g_free (item);
    g_cond_broadcast (&s->cond);
    g_mutex_unlock (&s->lock);
    return;
  }
  if (error)
    item->out.error = g_error_copy (error);
  item->state = ITEM_DONE;
  item->out.t_done = now;
  if (!error) {
    /* a peak that decays by 1/8 per batch: one slow batch raises it at once */
    gint64 took = now - item->out.t_submitted, m, r;

    m = MAX (took, s->latency_measured - s->latency_measured / 8);
    s->latency_measured = m;
    r = s->latency_reported;
    if (m > r + r / 4 + 1000 || m + 1000 < r - r / 4) {
      s->latency_reported = reported = m;
      notify = s->cfg.latency_changed;
    }
  }
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  if (notify)
    notify (reported, notify_data);
}

static gpointer
worker (gpointer data)
{
  TeScheduler *s = data;

  g_mutex_lock (&s->lock);
  while (!s->stop) {
    Item *item = g_queue_pop_head (&s->submit_queue);
    gint64 now, wake = G_MAXINT64;

    if (item) {
      GError *err = NULL;

      item->state = ITEM_SUBMITTED;
      item->out.t_submitted = s->clock->now (s->clock);
      s->in_backend++;
      g_mutex_unlock (&s->lock);
      /* the item is the backend's until batch_done(); a synchronous backend computes here */
      if (!te_backend_submit (s->backend, item->out.batch, batch_done, item, &err)) {
        g_mutex_lock (&s->lock);
        s->in_backend--;
        if (item->orphaned) {
          output_clear (s, &item->out);
          g_free (item);
        } else {
          item->state = ITEM_DONE;
          item->out.error = err;
          err = NULL;
          item->out.t_done = s->clock->now (s->clock);
        }
        g_cond_broadcast (&s->cond);
        g_mutex_unlock (&s->lock);
        g_clear_error (&err);
      }
      g_mutex_lock (&s->lock);
      continue;
    }

    now = s->clock->now (s->clock);
    if (!s->flushing && s->pending->len > 0) {
      /* a full batch a non-blocking producer left for a free slot */
      gboolean slot = inflight_locked (s) < s->cfg.max_inflight;

      if (pending_full_locked (s) && slot) {
        form_batch_locked (s, close_reason (s));
        continue;
      }
      /* a partial batch whose oldest row has waited max-latency goes as it is */
      if (s->cfg.max_latency_us > 0) {
        gint64 due = s->pending_since + s->cfg.max_latency_us;

        if (now < due)
          wake = due;
        else if (slot) {
          form_batch_locked (s, "max-latency");
          continue;
        }
        /* else every slot is taken: freeing one broadcasts the condition */
      }
    }
    if (s->cfg.tick_interval_us > 0 && s->cfg.tick) {
      if (now >= s->next_tick) {
        s->next_tick = MAX (s->next_tick + s->cfg.tick_interval_us,
            now + s->cfg.tick_interval_us / 2);
        g_mutex_unlock (&s->lock);
        s->cfg.tick (s->cfg.user_data);
        g_mutex_lock (&s->lock);
        continue;
      }
      wake = MIN (wake, s->next_tick);
    }
    s->clock->wait_until (s->clock, &s->cond, &s->lock, wake);
  }
  g_mutex_unlock (&s->lock);
  return NULL;
}

TeScheduler *
te_scheduler_new (TeBackend * backend, int hidden, gint32 pad_id,
    const TeSchedulerConfig * config)
{
  TeScheduler *s;

  g_return_val_if_fail (backend != NULL && config != NULL && hidden > 0, NULL);
  s = g_new0 (TeScheduler, 1);
  s->backend = backend;
  te_backend_get_caps (backend, &s->caps);
  s->hidden = hidden;
  s->pad_id = pad_id;
  s->cfg = *config;
  s->cfg.batch_size = MAX (s->cfg.batch_size, 1);
  if (s->caps.max_batch > 0)
    s->cfg.batch_size = MIN (s->cfg.batch_size, (guint) s->caps.max_batch);
  s->cfg.max_inflight = MAX (s->cfg.max_inflight, 1);
  s->clock = config->clock ? config->clock : te_clock_system ();
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->pending = g_ptr_array_new ();
  s->pending_markers = g_array_new (FALSE, FALSE, sizeof (TeSchedMarker));
  g_queue_init (&s->out_queue);
  g_queue_init (&s->submit_queue);
  s->latency_reported = (gint64) (s->caps.latency_ms * 1000.0);
  s->next_tick = s->clock->now (s->clock) + s->cfg.tick_interval_us;
  s->worker = g_thread_new ("te-scheduler", worker, s);
  return s;
}

void
te_scheduler_stop (TeScheduler * s)
{
  GThread *w;

  g_mutex_lock (&s->lock);
  s->stop = TRUE;
  s->flushing = TRUE;
  w = s->worker;
  s->worker = NULL;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  if (w)
    g_thread_join (w);          /* after a synchronous submit in progress */
  g_mutex_lock (&s->lock);
  discard_locked (s);
  g_mutex_unlock (&s->lock);
}

void
te_scheduler_free (TeScheduler * s)
{
  if (s == NULL)
    return;
  te_scheduler_stop (s);
  g_mutex_lock (&s->lock);
  /* orphans complete before the scheduler they point to goes */
  while (s->in_backend > 0)
    g_cond_wait (&s->cond, &s->lock);
  g_mutex_unlock (&s->lock);
  g_warn_if_fail (s->held == 0);
  g_ptr_array_free (s->pending, TRUE);
  g_array_unref (s->pending_markers);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}

void
te_scheduler_set_max_latency (TeScheduler * s, gint64 us)
{
  g_mutex_lock (&s->lock);
  s->cfg.max_latency_us = MAX (us, 0);
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

TeSchedResult
te_scheduler_push_row (TeScheduler * s, const gint32 * ids, const gint32 * types, int n,
    gpointer user, gboolean block)
{
  TeSchedResult r = TE_SCHED_OK;
  Row *row;

  g_return_val_if_fail (s != NULL && ids != NULL && n > 0, TE_SCHED_FLUSHING);
  g_mutex_lock (&s->lock);
  /* the row would take the pending batch past its size or token budget: close that first */
  r = wait_to_close_locked (s, block, must_close_for_row, n);
  if (r == TE_SCHED_OK && must_close_for_row (s, n))
    form_batch_locked (s, close_reason (s));
  if (r != TE_SCHED_OK) {
    g_mutex_unlock (&s->lock);
    if (r == TE_SCHED_FLUSHING && user && s->cfg.free_row)
      s->cfg.free_row (user);
    return r;
  }

  row = g_new (Row, 1);
  row->ids = g_new (gint32, 2 * (gsize) n);
  memcpy (row->ids, ids, (gsize) n * sizeof (gint32));
  if (types)
    memcpy (row->ids + n, types, (gsize) n * sizeof (gint32));
  else
    memset (row->ids + n, 0, (gsize) n * sizeof (gint32));
  row->n = n;
  row->user = user;
  if (s->pending->len == 0) {
    s->pending_since = s->clock->now (s->clock);
    g_cond_broadcast (&s->cond);        /* arms the worker's max-latency timer */
  }
  g_ptr_array_add (s->pending, row);
  s->pending_longest = MAX (s->pending_longest, n);

  /* accepted; a full batch goes when a slot is free (here, or by the worker for a
   * non-blocking producer) */
  r = wait_to_close_locked (s, block, must_close_full, n);
  if (r == TE_SCHED_OK && pending_full_locked (s))
    form_batch_locked (s, close_reason (s));
  if (r == TE_SCHED_WOULD_BLOCK)
    r = TE_SCHED_OK;
  g_mutex_unlock (&s->lock);
  return r;
}

TeSchedResult
te_scheduler_push_marker (TeScheduler * s, gpointer marker)
{
  g_return_val_if_fail (s != NULL && marker != NULL, TE_SCHED_FLUSHING);
  g_mutex_lock (&s->lock);
  if (s->flushing) {
    g_mutex_unlock (&s->lock);
    if (s->cfg.free_marker)
      s->cfg.free_marker (marker);
    return TE_SCHED_FLUSHING;
  }
  if (s->pending->len > 0) {
    TeSchedMarker m = { s->pending->len, marker };

    g_array_append_val (s->pending_markers, m);
  } else {
    Item *item = g_new0 (Item, 1);

    item->s = s;
    item->state = ITEM_DONE;
    item->out.marker = marker;
    g_queue_push_tail (&s->out_queue, item);
    g_cond_broadcast (&s->cond);
  }
  g_mutex_unlock (&s->lock);
  return TE_SCHED_OK;
}

TeSchedResult
te_scheduler_drain (TeScheduler * s, gboolean block)
{
  TeSchedResult r = TE_SCHED_OK;

  g_mutex_lock (&s->lock);
  r = wait_to_close_locked (s, block, must_close_any, 0);
  if (r == TE_SCHED_OK && s->pending->len > 0)
    form_batch_locked (s, "drain");
  g_mutex_unlock (&s->lock);
  return r;
}

TeSchedResult
te_scheduler_pop (TeScheduler * s, TeSchedOutput ** out, gboolean block)
{
  TeSchedResult r;

  g_return_val_if_fail (s != NULL && out != NULL, TE_SCHED_FLUSHING);
  *out = NULL;
  g_mutex_lock (&s->lock);
  for (;;) {
    Item *head;

    if (s->flushing) {
      r = TE_SCHED_FLUSHING;
      break;
    }
    head = g_queue_peek_head (&s->out_queue);
    if (head && head->state == ITEM_DONE) {
      g_queue_pop_head (&s->out_queue);
      if (head->out.batch) {
        s->queued_batches--;
        s->held++;
      }
      *out = &head->out;
      g_cond_broadcast (&s->cond);
      r = TE_SCHED_OK;
      break;
    }
    if (!block) {
      r = TE_SCHED_WOULD_BLOCK;
      break;
    }
    s->clock->wait_until (s->clock, &s->cond, &s->lock, G_MAXINT64);
  }
  g_mutex_unlock (&s->lock);
  return r;
}

void
te_scheduler_set_flushing (TeScheduler * s, gboolean flushing)
{
  g_mutex_lock (&s->lock);
  s->flushing = flushing;
  if (flushing)
    discard_locked (s);
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

void
te_scheduler_get_stats (TeScheduler * s, TeSchedStats * stats)
{
  g_mutex_lock (&s->lock);
  stats->pending_rows = s->pending->len;
  stats->inflight = inflight_locked (s);
  stats->formed = s->n_formed;
  stats->backend_latency_us = s->latency_reported;
  g_mutex_unlock (&s->lock);
}
