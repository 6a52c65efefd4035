/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstembedpooler.h — embedpooler: token embeddings to one sentence embedding per chunk. */
#pragma once

#include <gst/gst.h>
#include "te-model.h"

G_BEGIN_DECLS

typedef enum {
  GST_EMBED_POOLER_POOLING_AUTO,
  GST_EMBED_POOLER_POOLING_MEAN,
  GST_EMBED_POOLER_POOLING_CLS,
  GST_EMBED_POOLER_POOLING_MAX,
} GstEmbedPoolerPooling;

typedef enum {
  GST_EMBED_POOLER_NORMALIZE_AUTO,
  GST_EMBED_POOLER_NORMALIZE_TRUE,
  GST_EMBED_POOLER_NORMALIZE_FALSE,
} GstEmbedPoolerNormalize;

#define GST_TYPE_EMBED_POOLER (gst_embed_pooler_get_type ())
G_DECLARE_FINAL_TYPE (GstEmbedPooler, gst_embed_pooler, GST, EMBED_POOLER, GstElement)

struct _GstEmbedPooler
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties, object lock */
  gchar *model_path;
  GstEmbedPoolerPooling pooling;
  GstEmbedPoolerNormalize normalize;
  guint dimensions;             /* 0 = the model's hidden size */
  gboolean exclude_overlap;
  gboolean document_vectors;

  /* streaming state */
  TeModel *model;
  TePoolMode mode;
  gboolean do_normalize;
  gboolean include_prompt;      /* the model's 1_Pooling include_prompt */
  gboolean do_exclude_overlap;  /* exclude-overlap, as started (object lock: the query reads it) */
  gint dim;                     /* from the input caps */
  gint out_dim;                 /* floats per output embedding (dimensions, else dim) */
  float *pooled;                /* [dim] scratch: the pooled vector before truncation */
  gboolean caps_sent;
  /* the identity part a document-status query gets (object lock; another thread reads it):
   * the output dimension while started, 0 when stopped */
  gint id_dims;
  gboolean do_document_vectors; /* document-vectors, as started (object lock) */
  /* the open document's vector (document-vectors): the weighted sum of its chunk vectors */
  gchar *doc_id;                /* NULL: none open */
  double *doc_sum;              /* [out_dim] weighted */
  double *doc_plain;            /* [out_dim] unweighted, when every weight is 0 */
  double doc_weight;
  guint64 doc_chunks;
  guint64 doc_start, doc_end;
  GstClockTime doc_pts, doc_last_end;
};

GType gst_embed_pooler_pooling_get_type (void);
GType gst_embed_pooler_normalize_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (embedpooler);

G_END_DECLS
