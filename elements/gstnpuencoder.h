/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstnpuencoder.h — npuencoder: token ids to contextual token embeddings through a backend,
 * batched and asynchronous (see docs/encoder-scheduling.md for the threads and queues). */
#pragma once

#include <gst/gst.h>
#include "te-model.h"
#include "te-backend.h"
#include "te-scheduler.h"

G_BEGIN_DECLS

typedef enum {
  GST_NPU_ENCODER_FALLBACK_CPU,
  GST_NPU_ENCODER_FALLBACK_NONE,
} GstNpuEncoderFallback;

GType gst_npu_encoder_fallback_get_type (void);

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
  guint max_batch_tokens;
  guint max_inflight;
  gint fallback;                /* GstNpuEncoderFallback */
  gint max_latency_ms;          /* also read by the worker and LATENCY queries; -1 = auto */
  gboolean upstream_live;       /* answer of the upstream LATENCY query (object lock) */
  gboolean live_checked;        /* streaming thread: upstream asked since start/flush */
  guint stats_interval_ms;      /* also read by the worker */

  /* set on READY->PAUSED, constant while PAUSED/PLAYING */
  TeModel *model;
  TeBackend *backend;
  /* what decides our output, for stores (see gst_npu_encoder_identity()); under identity_lock,
   * set in start, cleared first thing in stop: the query asking for it comes from another
   * thread and must never see the model or backend being freed */
  GMutex identity_lock;
  gchar *id_model_dir;
  gchar *id_backend;            /* "backend=cpu[;dtype=..][;device=..][;precision=..]" */
  gchar *identity;              /* "model=sha256:...;" + id_backend, once computed */
  TeBackendCaps caps;
  guint eff_batch;              /* batch-size clamped to the backend's maximum */
  guint eff_max_tokens;         /* max-batch-tokens, 0 = no limit */
  guint eff_max_inflight;
  GstClockTime backend_latency; /* a batch's time in the backend as reported in LATENCY: the
                                 * backend's hint, then measured by the scheduler (object lock) */
  gdouble backend_open_ms;      /* te_backend_new() of the running backend (incl. fallback) */
  /* batching, the submit worker, max-inflight and max-latency (core/te-scheduler.h): rows are
   * the input GstBuffers, markers serialized GstEvents */
  TeScheduler *sched;

  /* streaming state: guarded by @lock; @cond is broadcast on every change. Lock order: @lock
   * may be held while taking the object lock, never the reverse; never while calling into the
   * scheduler in a way that blocks. */
  GMutex lock;
  GCond cond;
  gboolean flushing;
  GstFlowReturn srcresult;
  gboolean eos_pending;         /* an EOS is queued and the sink's EOS handler waits for it */
  gboolean eos_result;          /* what pushing it downstream returned */
  gboolean caps_queued;         /* our caps event is queued or sent */
  guint64 drain_asked, drain_done;   /* drain points queued / reached by the src task */

  /* statistics (under @lock) */
  guint64 st_documents, st_chunks, st_tokens, st_batches;
  gboolean stats_active;        /* chunks arrived since start / the last EOS */
  gint64 st_first;              /* monotonic µs of the first chunk since start, 0 = none yet */
  gint64 st_last_time;          /* monotonic µs of the last stats message */
  guint64 st_last_tokens;       /* st_tokens at the last stats message */

  /* src task only */
  gchar *last_doc;              /* doc id of the last chunk pushed, for counting documents */
};

GST_ELEMENT_REGISTER_DECLARE (npuencoder);

G_END_DECLS
