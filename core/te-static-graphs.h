/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-static-graphs.h — what every backend running the exporter's fixed-shape graphs
 * (te-export-cache.h: one graph per batch x seq_len) does the same way: caps from the exported
 * shapes, the graph a batch runs on, token checks (every position reaches the graph's Gather),
 * copying rows into a graph's inputs, and its output back into the batch. */
#pragma once

#include "te-backend.h"

G_BEGIN_DECLS

/* One exported shape; backends put this first in their per-graph struct. */
typedef struct {
  int batch;
  int seq_len;
} TeGraphShape;

/* caps from @shapes (TeGraphShape * at the start of each element, sorted by (seq_len, batch)):
 * buckets are the distinct lengths (the TE_BACKEND_MAX_BUCKETS shortest, a warning naming
 * @who beyond), max_seq_len the longest of them, max_batch the largest batch. */
void te_static_caps (GPtrArray * shapes, TeBackendCaps * caps, const char *who);

/* The graph to run the next @rows rows of a batch padded to @seq on: the smallest exported batch
 * that takes them all, else the largest one (the caller loops); NULL when no graph has @seq. */
gpointer te_static_pick (GPtrArray * shapes, int seq, int rows);

/* The batch fits the model: hidden size, every id in the vocabulary (padding included), every
 * token type in range. */
gboolean te_static_check_batch (const TeBatch * batch, int hidden, int vocab, int type_vocab,
    GError ** error);

/* Rows [row0, row0 + n) of @batch into a graph's [g_batch x g_seq] int32 inputs (g_seq >=
 * batch->seq_len; mask values normalised to 0/1); the graph's other positions and rows become
 * padding. @types may be NULL for a graph without token_type_ids. */
void te_static_fill_inputs (const TeBatch * batch, int row0, int n, int g_batch, int g_seq,
    gint32 * ids, gint32 * mask, gint32 * types);

/* A graph's last hidden state [.. x g_seq x hidden] back into rows [row0, row0 + n) of @batch;
 * padded positions come out as zeros, as from the cpu backend. */
void te_static_scatter_output (TeBatch * batch, int row0, int n, int g_seq, const float *hidden);

/* Runs rows [row0, row0 + n) of a batch on graph @g (n <= its batch). */
typedef gboolean (*TeStaticRunFunc) (gpointer backend, gpointer g, TeBatch * batch, int row0,
    int n, GError ** error);

/* The part of such a backend's state that the helpers below run on; the backend embeds it and
 * fills @graphs (sorted by (seq_len, batch), each element starting with a TeGraphShape). */
typedef struct {
  const char *who;        /* the backend's name, for messages */
  gpointer backend;       /* passed to @run */
  TeStaticRunFunc run;
  int hidden, vocab, type_vocab;
  GPtrArray *graphs;
  TeBackendCaps caps;     /* te_static_graphs_ready() fills the shapes; kernel is the caller's */
  GMutex lock;            /* one batch at a time: a graph's buffers are shared */
} TeStaticGraphs;

void te_static_graphs_init (TeStaticGraphs * sg, const char *who, gpointer backend,
    TeStaticRunFunc run, const TeModel * model);
/* After the graphs are in: caps from their shapes (te_static_caps()). */
void te_static_graphs_ready (TeStaticGraphs * sg);
/* submit() of the backend: checks, picks buckets and graphs, runs the batch in chunks under the
 * lock, then calls @done (synchronously); FALSE with @error otherwise. */
gboolean te_static_graphs_submit (TeStaticGraphs * sg, TeBatch * batch, TeBackendDoneFunc done,
    gpointer user_data, GError ** error);
/* Frees the array (its free function, if any, frees the graphs) and the lock. */
void te_static_graphs_clear (TeStaticGraphs * sg);

/* TeBackendClass get_caps and submit for a backend whose state starts with its TeStaticGraphs. */
void te_static_graphs_class_get_caps (gpointer state, TeBackendCaps * caps);
gboolean te_static_graphs_class_submit (gpointer state, TeBatch * batch,
    TeBackendDoneFunc done, gpointer user_data, GError ** error);

G_END_DECLS
