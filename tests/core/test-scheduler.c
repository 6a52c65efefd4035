/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-scheduler.c — core/te-scheduler on a fake clock and a backend the test completes by
 * hand ("gate"), so that every decision is deterministic: batch-size, max-batch-tokens (also a
 * row larger than the budget), max-latency to the microsecond, drain, backpressure (blocking
 * and not), markers in stream order (alone and between a batch's rows), outputs in order when
 * the backend completes out of order, backend errors, flushing (nothing leaks, everything
 * refused until resumed) and the measured latency. */
#include <string.h>
#include <glib.h>

#include "te-scheduler.h"

/* ---- the gate backend: dynamic shapes, asynchronous, completes when the test says ---- */

typedef struct {
  TeBatch *batch;
  TeBackendDoneFunc done;
  gpointer user_data;
} Gated;

typedef struct {
  GMutex lock;
  GCond cond;
  GPtrArray *gated;           /* Gated*, submitted and not released */
  int max_seq_len;
  guint submitted;
} Gate;

static Gate *the_gate;        /* the one open gate (tests open one at a time) */

static gpointer
gate_open (const TeModel * model, G_GNUC_UNUSED GHashTable * options,
    G_GNUC_UNUSED GError ** error)
{
  Gate *g = g_new0 (Gate, 1);

  g_mutex_init (&g->lock);
  g_cond_init (&g->cond);
  g->gated = g_ptr_array_new ();
  g->max_seq_len = te_model_config (model)->max_seq_len;
  the_gate = g;
  return g;
}

static void
gate_caps (gpointer state, TeBackendCaps * caps)
{
  Gate *g = state;

  caps->max_seq_len = g->max_seq_len;
  caps->latency_ms = 2.0;
}

static gboolean
gate_submit (gpointer state, TeBatch * batch, TeBackendDoneFunc done, gpointer user_data,
    G_GNUC_UNUSED GError ** error)
{
  Gate *g = state;
  Gated *x = g_new (Gated, 1);

  x->batch = batch;
  x->done = done;
  x->user_data = user_data;
  g_mutex_lock (&g->lock);
  g_ptr_array_add (g->gated, x);
  g->submitted++;
  g_cond_broadcast (&g->cond);
  g_mutex_unlock (&g->lock);
  return TRUE;
}

/* Wait until @n batches have been submitted in all. */
static void
gate_wait_submitted (guint n)
{
  Gate *g = the_gate;

  g_mutex_lock (&g->lock);
  while (g->submitted < n)
    g_cond_wait (&g->cond, &g->lock);
  g_mutex_unlock (&g->lock);
}

/* Complete the @i-th batch still gated: hidden[row][pos][0] = first id of the row, so outputs
 * can be told apart; @fail: with an error instead. */
static void
gate_release (guint i, gboolean fail)
{
  Gate *g = the_gate;
  Gated *x;

  g_mutex_lock (&g->lock);
  g_assert_cmpuint (i, <, g->gated->len);
  x = g_ptr_array_steal_index (g->gated, i);
  g_mutex_unlock (&g->lock);
  if (fail) {
    GError *e = g_error_new (TE_ERROR, TE_ERROR_BACKEND, "gate: failed on purpose");
    x->done (x->batch, e, x->user_data);
    g_error_free (e);
  } else {
    for (int r = 0; r < x->batch->batch; r++)
      x->batch->hidden[(gsize) r * x->batch->seq_len * x->batch->hidden_size] =
          (float) x->batch->input_ids[(gsize) r * x->batch->seq_len];
    x->done (x->batch, NULL, x->user_data);
  }
  g_free (x);
}

static void
gate_close (gpointer state)
{
  Gate *g = state;

  /* nothing may be left inside: the scheduler waits for its orphans before it goes */
  g_assert_cmpuint (g->gated->len, ==, 0);
  g_ptr_array_free (g->gated, TRUE);
  g_mutex_clear (&g->lock);
  g_cond_clear (&g->cond);
  g_free (g);
  the_gate = NULL;
}

static const TeBackendOption gate_options[] = { {NULL} };

static const TeBackendClass gate_class = {
  .name = "gate",
  .description = "test backend completing batches when the test says",
  .options = gate_options,
  .open = gate_open,
  .get_caps = gate_caps,
  .submit = gate_submit,
  .close = gate_close,
};

/* ---- fixture ---- */

static TeModel *model;
static int freed_rows, freed_markers, latency_calls;

static void
free_row (gpointer p)
{
  g_free (p);
  g_atomic_int_inc (&freed_rows);
}

static void
free_marker (gpointer p)
{
  g_free (p);
  g_atomic_int_inc (&freed_markers);
}

static gint64 latency_seen;

static void
on_latency (gint64 us, G_GNUC_UNUSED gpointer data)
{
  latency_seen = us;
  g_atomic_int_inc (&latency_calls);
}

typedef struct {
  TeClock *clock;
  TeBackend *backend;
  TeScheduler *s;
} Fx;

static void
fx_init (Fx * fx, guint batch, guint max_tokens, guint inflight, gint64 latency_us)
{
  TeSchedulerConfig cfg = { 0 };
  GError *err = NULL;

  freed_rows = freed_markers = latency_calls = 0;
  fx->clock = te_clock_fake_new (0);
  fx->backend = te_backend_new_with_class (&gate_class, model, NULL, &err);
  g_assert_no_error (err);
  cfg.batch_size = batch;
  cfg.max_batch_tokens = max_tokens;
  cfg.max_inflight = inflight;
  cfg.max_latency_us = latency_us;
  cfg.clock = fx->clock;
  cfg.free_row = free_row;
  cfg.free_marker = free_marker;
  cfg.latency_changed = on_latency;
  fx->s = te_scheduler_new (fx->backend, te_model_config (model)->hidden_size, 0, &cfg);
}

static void
fx_clear (Fx * fx)
{
  /* release whatever is still gated so that the scheduler's orphans complete */
  while (the_gate && the_gate->gated->len > 0)
    gate_release (0, FALSE);
  te_scheduler_free (fx->s);
  te_backend_free (fx->backend);
  te_clock_fake_free (fx->clock);
}

/* A row whose first id is @tag, @n tokens long; its user pointer a string "r<tag>". */
static TeSchedResult
push (Fx * fx, int tag, int n, gboolean block)
{
  gint32 ids[512];
  char *user = g_strdup_printf ("r%d", tag);
  TeSchedResult r;

  g_assert_cmpint (n, <=, 512);
  for (int i = 0; i < n; i++)
    ids[i] = tag + i;
  r = te_scheduler_push_row (fx->s, ids, NULL, n, user, block);
  if (r == TE_SCHED_WOULD_BLOCK)
    g_free (user);              /* not taken: still ours */
  return r;
}

static TeSchedOutput *
pop (Fx * fx)
{
  TeSchedOutput *o = NULL;

  g_assert_cmpint (te_scheduler_pop (fx->s, &o, TRUE), ==, TE_SCHED_OK);
  return o;
}

static TeSchedStats
stats (Fx * fx)
{
  TeSchedStats st;

  te_scheduler_get_stats (fx->s, &st);
  return st;
}

/* The popped batch has rows with these tags, in order, and the gate's output for them. */
static void
check_batch (Fx * fx, TeSchedOutput * o, const char *why, const int *tags, int n)
{
  g_assert_null (o->marker);
  g_assert_nonnull (o->batch);
  g_assert_no_error (o->error);
  g_assert_cmpstr (o->why, ==, why);
  g_assert_cmpint (o->batch->batch, ==, n);
  for (int i = 0; i < n; i++) {
    char *want = g_strdup_printf ("r%d", tags[i]);

    g_assert_cmpstr (o->rows[i], ==, want);
    g_assert_cmpfloat (o->batch->hidden[(gsize) i * o->batch->seq_len * o->batch->hidden_size],
        ==, (float) tags[i]);
    g_free (want);
  }
  te_sched_output_free (fx->s, o);
}

/* ---- tests ---- */

static void
test_batch_size (void)
{
  Fx fx;
  TeSchedOutput *o;
  static const int tags[] = { 100, 200, 300 };

  fx_init (&fx, 3, 0, 2, 0);
  g_assert_cmpint (push (&fx, 100, 5, TRUE), ==, TE_SCHED_OK);
  g_assert_cmpint (push (&fx, 200, 9, TRUE), ==, TE_SCHED_OK);
  g_assert_cmpuint (stats (&fx).formed, ==, 0);
  g_assert_cmpint (push (&fx, 300, 2, TRUE), ==, TE_SCHED_OK);
  g_assert_cmpuint (stats (&fx).formed, ==, 1);
  gate_wait_submitted (1);
  g_assert_cmpint (te_scheduler_pop (fx.s, &o, FALSE), ==, TE_SCHED_WOULD_BLOCK);
  gate_release (0, FALSE);
  o = pop (&fx);
  g_assert_cmpint (o->batch->seq_len, ==, 9);       /* padded to the longest row */
  g_assert_cmpint (o->batch->lengths[0], ==, 5);
  g_assert_cmpuint (o->n_tokens, ==, 16);
  g_assert_cmpint (o->batch->attention_mask[5], ==, 0);
  check_batch (&fx, o, "batch-size", tags, 3);
  g_assert_cmpint (freed_rows, ==, 3);      /* each row once, with its output */
  fx_clear (&fx);
  g_assert_cmpint (freed_rows, ==, 3);
}

/* A partial batch goes exactly max-latency after its first row arrived, not a microsecond
 * before; the timer starts again with the next batch's first row. */
static void
test_max_latency (void)
{
  Fx fx;
  TeSchedOutput *o;
  static const int ab[] = { 1, 2 }, c[] = { 3 };

  fx_init (&fx, 4, 0, 2, 100000);
  te_clock_fake_advance (fx.clock, 1000);
  push (&fx, 1, 4, TRUE);
  te_clock_fake_wait_for_sleepers (fx.clock, 1);  /* the worker armed its timer */
  te_clock_fake_advance (fx.clock, 50000);
  push (&fx, 2, 4, TRUE);
  te_clock_fake_advance (fx.clock, 49999);         /* 1 µs short */
  te_clock_fake_wait_for_sleepers (fx.clock, 1);
  g_assert_cmpuint (stats (&fx).formed, ==, 0);
  g_assert_cmpuint (stats (&fx).pending_rows, ==, 2);
  te_clock_fake_advance (fx.clock, 1);
  gate_wait_submitted (1);
  gate_release (0, FALSE);
  o = pop (&fx);
  g_assert_cmpint (o->t_first, ==, 1000);
  g_assert_cmpint (o->t_formed, ==, 101000);
  check_batch (&fx, o, "max-latency", ab, 2);

  te_clock_fake_advance (fx.clock, 30000);
  push (&fx, 3, 4, TRUE);
  te_clock_fake_wait_for_sleepers (fx.clock, 1);
  te_clock_fake_advance (fx.clock, 99999);
  te_clock_fake_wait_for_sleepers (fx.clock, 1);
  g_assert_cmpuint (stats (&fx).formed, ==, 1);
  te_clock_fake_advance (fx.clock, 1);
  gate_wait_submitted (2);
  gate_release (0, FALSE);
  o = pop (&fx);
  g_assert_cmpint (o->t_formed - o->t_first, ==, 100000);
  check_batch (&fx, o, "max-latency", c, 1);

  /* max-latency 0: a partial batch waits for drain */
  te_scheduler_set_max_latency (fx.s, 0);
  push (&fx, 4, 4, TRUE);
  te_clock_fake_advance (fx.clock, 10 * G_USEC_PER_SEC);
  g_assert_cmpuint (stats (&fx).formed, ==, 2);
  g_assert_cmpint (te_scheduler_drain (fx.s, TRUE), ==, TE_SCHED_OK);
  gate_wait_submitted (3);
  gate_release (0, FALSE);
  o = pop (&fx);
  g_assert_cmpstr (o->why, ==, "drain");
  te_sched_output_free (fx.s, o);
  fx_clear (&fx);
}

/* Padded tokens (rows x longest) never exceed max-batch-tokens, except a single row that is
 * larger by itself, which is a batch of its own. */
static void
test_max_batch_tokens (void)
{
  Fx fx;
  static const int abc[] = { 1, 2, 3 }, d[] = { 4 }, e[] = { 5 }, big[] = { 6 };

  fx_init (&fx, 8, 100, 8, 0);
  push (&fx, 1, 30, TRUE);
  push (&fx, 2, 30, TRUE);
  push (&fx, 3, 30, TRUE);          /* 90 */
  g_assert_cmpuint (stats (&fx).formed, ==, 0);
  push (&fx, 4, 30, TRUE);          /* 4 x 30 = 120 > 100: closes 1..3 */
  g_assert_cmpuint (stats (&fx).formed, ==, 1);
  push (&fx, 5, 60, TRUE);          /* 2 x 60 = 120 > 100: closes 4 */
  g_assert_cmpuint (stats (&fx).formed, ==, 2);
  push (&fx, 6, 200, TRUE);         /* larger than the budget: closes 5, and goes alone */
  g_assert_cmpuint (stats (&fx).formed, ==, 4);
  gate_wait_submitted (4);
  for (int i = 0; i < 4; i++)
    gate_release (0, FALSE);
  check_batch (&fx, pop (&fx), "max-batch-tokens", abc, 3);
  check_batch (&fx, pop (&fx), "max-batch-tokens", d, 1);
  check_batch (&fx, pop (&fx), "max-batch-tokens", e, 1);
  check_batch (&fx, pop (&fx), "max-batch-tokens", big, 1);
  fx_clear (&fx);
}

/* Markers keep their place: alone between batches, or with the batch they arrived in, after
 * the row count they arrived after. */
static void
test_markers (void)
{
  Fx fx;
  TeSchedOutput *o;

  fx_init (&fx, 3, 0, 4, 0);
  te_scheduler_push_marker (fx.s, g_strdup ("m0"));
  push (&fx, 1, 3, TRUE);
  te_scheduler_push_marker (fx.s, g_strdup ("m1"));
  te_scheduler_push_marker (fx.s, g_strdup ("m1b"));
  push (&fx, 2, 3, TRUE);
  push (&fx, 3, 3, TRUE);           /* full: formed */
  te_scheduler_push_marker (fx.s, g_strdup ("m3"));
  gate_wait_submitted (1);
  gate_release (0, FALSE);

  o = pop (&fx);
  g_assert_cmpstr (o->marker, ==, "m0");
  te_sched_output_free (fx.s, o);
  o = pop (&fx);
  g_assert_nonnull (o->markers);
  g_assert_cmpuint (o->markers->len, ==, 2);
  g_assert_cmpuint (g_array_index (o->markers, TeSchedMarker, 0).pos, ==, 1);
  g_assert_cmpstr (g_array_index (o->markers, TeSchedMarker, 0).marker, ==, "m1");
  g_assert_cmpstr (g_array_index (o->markers, TeSchedMarker, 1).marker, ==, "m1b");
  {
    static const int t[] = { 1, 2, 3 };
    check_batch (&fx, o, "batch-size", t, 3);       /* frees m1, m1b with it */
  }
  g_assert_cmpint (freed_markers, ==, 3);           /* m0 too */
  o = pop (&fx);
  g_assert_cmpstr (o->marker, ==, "m3");
  te_sched_output_free (fx.s, o);
  g_assert_cmpint (freed_markers, ==, 4);
  fx_clear (&fx);
}

/* The backend completes the second batch first: outputs still come in stream order, and a
 * failed batch comes out with its error in its place. */
static void
test_order_and_errors (void)
{
  Fx fx;
  TeSchedOutput *o;
  static const int a[] = { 1 }, c[] = { 3 };

  fx_init (&fx, 1, 0, 4, 0);
  push (&fx, 1, 2, TRUE);
  push (&fx, 2, 2, TRUE);
  push (&fx, 3, 2, TRUE);
  gate_wait_submitted (3);
  gate_release (2, FALSE);          /* the third */
  gate_release (1, TRUE);           /* the second fails */
  g_assert_cmpint (te_scheduler_pop (fx.s, &o, FALSE), ==, TE_SCHED_WOULD_BLOCK);
  gate_release (0, FALSE);
  check_batch (&fx, pop (&fx), "batch-size", a, 1);
  o = pop (&fx);
  g_assert_error (o->error, TE_ERROR, TE_ERROR_BACKEND);
  g_assert_cmpstr (o->rows[0], ==, "r2");
  te_sched_output_free (fx.s, o);
  check_batch (&fx, pop (&fx), "batch-size", c, 1);
  fx_clear (&fx);
}

typedef struct {
  Fx *fx;
  int tag;
  TeSchedResult r;
} PushArgs;

static gpointer
push_thread (gpointer data)
{
  PushArgs *a = data;

  a->r = push (a->fx, a->tag, 2, TRUE);
  return NULL;
}

/* max-inflight counts batches formed and not yet freed by the consumer: a producer blocks (or
 * gets TE_SCHED_WOULD_BLOCK) until one is. */
static void
test_backpressure (void)
{
  Fx fx;
  TeSchedOutput *o;
  PushArgs args = { 0 };
  GThread *t;

  fx_init (&fx, 1, 0, 2, 0);
  push (&fx, 1, 2, FALSE);
  push (&fx, 2, 2, FALSE);
  g_assert_cmpuint (stats (&fx).inflight, ==, 2);
  /* row 3 is accepted and waits, pending, for a slot; row 4 cannot get in behind it */
  g_assert_cmpint (push (&fx, 3, 2, FALSE), ==, TE_SCHED_OK);
  g_assert_cmpuint (stats (&fx).pending_rows, ==, 1);
  g_assert_cmpint (push (&fx, 4, 2, FALSE), ==, TE_SCHED_WOULD_BLOCK);
  g_assert_cmpint (freed_rows, ==, 0);

  /* a blocking producer waits */
  args.fx = &fx;
  args.tag = 4;
  args.r = -1;
  t = g_thread_new ("producer", push_thread, &args);
  gate_wait_submitted (2);
  gate_release (0, FALSE);
  o = pop (&fx);                    /* popped but held: still in flight */
  g_assert_cmpuint (stats (&fx).inflight, ==, 2);
  g_assert_cmpint ((int) args.r, ==, -1);     /* still blocked: the popped batch is held */
  te_sched_output_free (fx.s, o);   /* a slot: the worker forms row 3's batch */
  gate_wait_submitted (3);
  gate_release (0, FALSE);
  te_sched_output_free (fx.s, pop (&fx));
  g_thread_join (t);
  g_assert_cmpint (args.r, ==, TE_SCHED_OK);
  gate_wait_submitted (4);
  gate_release (0, FALSE);
  gate_release (0, FALSE);
  te_sched_output_free (fx.s, pop (&fx));
  te_sched_output_free (fx.s, pop (&fx));
  g_assert_cmpuint (stats (&fx).formed, ==, 4);
  fx_clear (&fx);
  g_assert_cmpint (freed_rows, ==, 4);
}

/* Flushing drops everything (each row and marker freed once, batches inside the backend when
 * they complete), refuses and wakes everyone until it is turned off. */
static void
test_flushing (void)
{
  Fx fx;
  TeSchedOutput *o;

  fx_init (&fx, 2, 0, 1, 0);
  push (&fx, 1, 2, TRUE);
  push (&fx, 2, 2, TRUE);           /* batch 0, in the backend */
  gate_wait_submitted (1);
  push (&fx, 3, 2, TRUE);
  te_scheduler_push_marker (fx.s, g_strdup ("m"));
  te_scheduler_set_flushing (fx.s, TRUE);
  g_assert_cmpint (freed_rows, ==, 1);      /* r3; r1 and r2 are inside the backend */
  g_assert_cmpint (freed_markers, ==, 1);
  g_assert_cmpint (te_scheduler_pop (fx.s, &o, TRUE), ==, TE_SCHED_FLUSHING);
  g_assert_cmpint (push (&fx, 4, 2, TRUE), ==, TE_SCHED_FLUSHING);
  g_assert_cmpint (freed_rows, ==, 2);
  g_assert_cmpint (te_scheduler_push_marker (fx.s, g_strdup ("x")), ==, TE_SCHED_FLUSHING);
  g_assert_cmpint (freed_markers, ==, 2);
  gate_release (0, FALSE);          /* the orphan completes and is freed */
  g_assert_cmpint (freed_rows, ==, 4);

  te_scheduler_set_flushing (fx.s, FALSE);
  push (&fx, 5, 2, TRUE);
  push (&fx, 6, 2, TRUE);
  gate_wait_submitted (2);
  gate_release (0, FALSE);
  {
    static const int t[] = { 5, 6 };
    check_batch (&fx, pop (&fx), "batch-size", t, 2);
  }
  fx_clear (&fx);
}

/* The backend's latency: its hint first, then measured on the scheduler's clock. */
static void
test_latency (void)
{
  Fx fx;

  fx_init (&fx, 1, 0, 4, 0);
  g_assert_cmpint (stats (&fx).backend_latency_us, ==, 2000);       /* the gate's hint */
  push (&fx, 1, 2, TRUE);
  gate_wait_submitted (1);
  te_clock_fake_advance (fx.clock, 20000);
  gate_release (0, FALSE);
  te_sched_output_free (fx.s, pop (&fx));
  g_assert_cmpint (stats (&fx).backend_latency_us, ==, 20000);
  g_assert_cmpint (latency_calls, ==, 1);
  g_assert_cmpint (latency_seen, ==, 20000);
  /* 18 ms is within a quarter of 20: not reported */
  push (&fx, 2, 2, TRUE);
  gate_wait_submitted (2);
  te_clock_fake_advance (fx.clock, 18000);
  gate_release (0, FALSE);
  te_sched_output_free (fx.s, pop (&fx));
  g_assert_cmpint (stats (&fx).backend_latency_us, ==, 20000);
  g_assert_cmpint (latency_calls, ==, 1);
  fx_clear (&fx);
}

static int ticks;

static void
on_tick (G_GNUC_UNUSED gpointer data)
{
  g_atomic_int_inc (&ticks);
}

/* The periodic tick (npuencoder's statistics) comes every interval of the scheduler's clock. */
static void
test_tick (void)
{
  TeClock *clock = te_clock_fake_new (0);
  TeSchedulerConfig cfg = { .batch_size = 4, .max_inflight = 2, .clock = clock,
    .tick_interval_us = 1000, .tick = on_tick, .free_row = free_row
  };
  GError *err = NULL;
  TeBackend *b = te_backend_new_with_class (&gate_class, model, NULL, &err);
  TeScheduler *s;

  g_assert_no_error (err);
  ticks = 0;
  s = te_scheduler_new (b, te_model_config (model)->hidden_size, 0, &cfg);
  te_clock_fake_wait_for_sleepers (clock, 1);
  g_assert_cmpint (g_atomic_int_get (&ticks), ==, 0);
  for (int i = 1; i <= 3; i++) {
    te_clock_fake_advance (clock, 1000);
    te_clock_fake_wait_for_sleepers (clock, 1);       /* ticked, and asleep again */
    g_assert_cmpint (g_atomic_int_get (&ticks), ==, i);
  }
  te_scheduler_set_tick_interval (s, 0);
  te_clock_fake_advance (clock, 10000);
  g_assert_cmpint (g_atomic_int_get (&ticks), ==, 3);
  te_scheduler_free (s);
  te_backend_free (b);
  te_clock_fake_free (clock);
}

int
main (int argc, char **argv)
{
  const char *dir = g_getenv ("TE_TEST_MODEL");
  GError *err = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  if (dir == NULL) {
    g_printerr ("TE_TEST_MODEL must be set\n");
    return 1;
  }
  model = te_model_load_tokenizer_only (dir, &err);
  g_assert_no_error (err);
  g_test_add_func ("/scheduler/batch-size", test_batch_size);
  g_test_add_func ("/scheduler/max-latency", test_max_latency);
  g_test_add_func ("/scheduler/max-batch-tokens", test_max_batch_tokens);
  g_test_add_func ("/scheduler/markers", test_markers);
  g_test_add_func ("/scheduler/order-and-errors", test_order_and_errors);
  g_test_add_func ("/scheduler/backpressure", test_backpressure);
  g_test_add_func ("/scheduler/flushing", test_flushing);
  g_test_add_func ("/scheduler/latency", test_latency);
  g_test_add_func ("/scheduler/tick", test_tick);
  ret = g_test_run ();
  te_model_free (model);
  return ret;
}
