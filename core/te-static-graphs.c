/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-static-graphs.c — shared plumbing of the fixed-shape-graph backends (te-static-graphs.h). */
#include "te-static-graphs.h"

#include <string.h>

void
te_static_caps (GPtrArray * shapes, TeBackendCaps * caps, const char *who)
{
  int n_buckets = 0;

  caps->max_batch = 0;
  for (guint i = 0; i < shapes->len; i++) {
    const TeGraphShape *g = g_ptr_array_index (shapes, i);

    caps->max_batch = MAX (caps->max_batch, g->batch);
    if (n_buckets > 0 && caps->buckets[n_buckets - 1] == g->seq_len)
      continue;
    if (n_buckets == TE_BACKEND_MAX_BUCKETS) {
      g_warning ("%s backend: more than %d exported sequence lengths; using the %d shortest",
          who, TE_BACKEND_MAX_BUCKETS, TE_BACKEND_MAX_BUCKETS);
      break;
    }
    caps->buckets[n_buckets++] = g->seq_len;
  }
  caps->n_buckets = n_buckets;
  caps->max_seq_len = n_buckets ? caps->buckets[n_buckets - 1] : 0;
}

gpointer
te_static_pick (GPtrArray * shapes, int seq, int rows)
{
  gpointer best = NULL;

  for (guint i = 0; i < shapes->len; i++) {
    TeGraphShape *g = g_ptr_array_index (shapes, i);

    if (g->seq_len != seq)
      continue;
    if (g->batch >= rows)
      return g;   /* sorted by batch within a length: the first that fits is the smallest */
    best = g;
  }
  return best;
}

gboolean
te_static_check_batch (const TeBatch * batch, int hidden, int vocab, int type_vocab,
    GError ** error)
{
  if (batch->hidden_size != hidden) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "batch hidden_size %d differs from the model's %d", batch->hidden_size, hidden);
    return FALSE;
  }
  if (batch->pad_id < 0 || batch->pad_id >= vocab) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "pad id %d outside the vocabulary (0..%d)", batch->pad_id, vocab - 1);
    return FALSE;
  }
  for (int b = 0; b < batch->batch; b++) {
    for (int s = 0; s < batch->seq_len; s++) {
      gsize i = (gsize) b * batch->seq_len + s;
      gint32 id = batch->input_ids[i];
      gint32 type = batch->token_type_ids ? batch->token_type_ids[i] : 0;

      if (id < 0 || id >= vocab) {
        g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
            "row %d position %d: token id %d outside the vocabulary (0..%d)", b, s, id,
            vocab - 1);
        return FALSE;
      }
      if (type < 0 || type >= type_vocab) {
        g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
            "row %d position %d: token type id %d outside 0..%d", b, s, type, type_vocab - 1);
        return FALSE;
      }
    }
  }
  return TRUE;
}

void
te_static_fill_inputs (const TeBatch * batch, int row0, int n, int g_batch, int g_seq,
    gint32 * ids, gint32 * mask, gint32 * types)
{
  const int s_in = batch->seq_len;

  for (int r = 0; r < g_batch; r++) {
    gint32 *ri = ids + (gsize) r * g_seq, *rm = mask + (gsize) r * g_seq;
    gint32 *rt = types ? types + (gsize) r * g_seq : NULL;
    int src_len = r < n ? s_in : 0;
    gsize src = (gsize) (row0 + r) * s_in;

    if (src_len > 0) {
      memcpy (ri, batch->input_ids + src, (gsize) s_in * sizeof (gint32));
      /* The graphs compute (mask - 1) * big: any non-zero mask is a real token, as in cpu. */
      for (int s = 0; s < s_in; s++)
        rm[s] = batch->attention_mask[src + s] != 0;
      if (rt && batch->token_type_ids)
        memcpy (rt, batch->token_type_ids + src, (gsize) s_in * sizeof (gint32));
      else if (rt)
        memset (rt, 0, (gsize) s_in * sizeof (gint32));
    }
    for (int s = src_len; s < g_seq; s++) {
      ri[s] = batch->pad_id;
      rm[s] = 0;
      if (rt)
        rt[s] = 0;
    }
  }
}

void
te_static_scatter_output (TeBatch * batch, int row0, int n, int g_seq, const float *hidden)
{
  const int s_in = batch->seq_len, H = batch->hidden_size;

  for (int r = 0; r < n; r++) {
    const float *src = hidden + (gsize) r * g_seq * H;
    float *dst = batch->hidden + (gsize) (row0 + r) * s_in * H;
    const gint32 *mask = batch->attention_mask + (gsize) (row0 + r) * s_in;

    for (int s = 0; s < s_in; s++) {
      if (mask[s] != 0)
        memcpy (dst + (gsize) s * H, src + (gsize) s * H, (gsize) H * sizeof (float));
      else
        memset (dst + (gsize) s * H, 0, (gsize) H * sizeof (float));
    }
  }
}

void
te_static_graphs_init (TeStaticGraphs * sg, const char *who, gpointer backend,
    TeStaticRunFunc run, const TeModel * model)
{
  const TeBertConfig *c = te_model_config (model);

  memset (sg, 0, sizeof (*sg));
  sg->who = who;
  sg->backend = backend;
  sg->run = run;
  sg->hidden = c->hidden_size;
  sg->vocab = c->vocab_size;
  sg->type_vocab = c->type_vocab_size;
  sg->graphs = g_ptr_array_new ();
  g_mutex_init (&sg->lock);
}

void
te_static_graphs_ready (TeStaticGraphs * sg)
{
  te_static_caps (sg->graphs, &sg->caps, sg->who);
}

gboolean
te_static_graphs_submit (TeStaticGraphs * sg, TeBatch * batch, TeBackendDoneFunc done,
    gpointer user_data, GError ** error)
{
  /* A batch padded to less than a bucket is padded up to it here. */
  int seq = te_backend_caps_seq_len (&sg->caps, batch->seq_len);
  gboolean ok = TRUE;

  if (batch->batch < 0 || seq < 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG,
        "%s backend: batch of %d x %d tokens: the exported graphs take at most %d tokens",
        sg->who, batch->batch, batch->seq_len, sg->caps.max_seq_len);
    return FALSE;
  }
  if (!te_static_check_batch (batch, sg->hidden, sg->vocab, sg->type_vocab, error))
    return FALSE;
  g_mutex_lock (&sg->lock);
  for (int row = 0; ok && row < batch->batch;) {
    TeGraphShape *g = te_static_pick (sg->graphs, seq, batch->batch - row);
    int n;

    if (g == NULL) {
      g_set_error (error, TE_ERROR, TE_ERROR_BACKEND, "%s backend: no graph of %d tokens",
          sg->who, seq);
      ok = FALSE;
      break;
    }
    n = MIN (g->batch, batch->batch - row);
    ok = sg->run (sg->backend, g, batch, row, n, error);
    row += n;
  }
  g_mutex_unlock (&sg->lock);
  if (ok)
    done (batch, NULL, user_data);
  return ok;
}

void
te_static_graphs_clear (TeStaticGraphs * sg)
{
  if (sg->graphs)
    g_ptr_array_free (sg->graphs, TRUE);
  sg->graphs = NULL;
  g_mutex_clear (&sg->lock);
}

void
te_static_graphs_class_get_caps (gpointer state, TeBackendCaps * caps)
{
  *caps = ((TeStaticGraphs *) state)->caps;
}

gboolean
te_static_graphs_class_submit (gpointer state, TeBatch * batch, TeBackendDoneFunc done,
    gpointer user_data, GError ** error)
{
  return te_static_graphs_submit (state, batch, done, user_data, error);
}
