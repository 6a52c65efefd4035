/* gstnpuencoder.h — npuencoder: token ids to contextual token embeddings through a backend. */
#pragma once

#include <gst/gst.h>
#include "te-model.h"
#include "te-backend.h"

G_BEGIN_DECLS

#define GST_TYPE_NPU_ENCODER (gst_npu_encoder_get_type ())
G_DECLARE_FINAL_TYPE (GstNpuEncoder, gst_npu_encoder, GST, NPU_ENCODER, GstElement)

struct _GstNpuEncoder
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties, object lock */
  gchar *model_path;
  gchar *backend_name;
  gchar *backend_options;
  guint batch_size;

  /* streaming state */
  TeModel *model;
  TeBackend *backend;
  TeBackendCaps caps;
  guint eff_batch;
  GPtrArray *pending;           /* GstBuffer*, chunks waiting to fill a batch */
  gboolean caps_sent;
  guint64 n_batches, n_chunks, n_tokens;
};

GST_ELEMENT_REGISTER_DECLARE (npuencoder);

G_END_DECLS
