/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gstnpuencoder.h — npuencoder: token ids to contextual token embeddings through a backend,
 * batched and asynchronous (see docs/encoder-scheduling.md for the threads and queues). */
#pragma once

#include <gst/gst.h>
#include "te-model.h"
#include "te-backend.h"

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
  GstClockTime backend_latency; /* a batch's time in the backend as reported in LATENCY:
                                 * the backend's hint, then what batch_done() measured */
  gdouble backend_open_ms;      /* te_backend_new() of the running backend (incl. fallback) */
  GstClockTime backend_latency_measured; /* decaying peak of submit-to-completion times */
  GThread *worker;

  /* scheduling state: everything below is guarded by @lock; @cond is broadcast on every
   * change (chunks pending, batch formed/completed/pushed, flushing, stop). Lock order: @lock
   * may be held while taking the object lock, never the reverse. */
  GMutex lock;
  GCond cond;
  GPtrArray *pending;           /* GstBuffer*, chunks forming the next batch */
  GArray *pending_events;       /* serialized events interleaved with @pending */
  guint pending_longest;        /* tokens of the longest pending chunk */
  gint64 pending_since;         /* monotonic µs at which the oldest pending chunk arrived */
  GQueue out_queue;             /* batches and events in stream order, until pushed */
  GQueue submit_queue;          /* formed batches not yet given to the backend, in order */
  guint queued_batches;         /* batches in out_queue */
  gboolean pushing;             /* the src task holds an item popped from out_queue */
  gboolean pushing_batch;       /* ... and it is a batch */
  gboolean flushing;
  GstFlowReturn srcresult;
  gboolean eos_result;          /* what pushing the last EOS downstream returned */
  gboolean worker_stop;
  gboolean caps_queued;         /* our caps event is queued or sent */
  guint64 n_formed;             /* batches formed since start, numbers them in logs */

  /* statistics (under @lock) */
  guint64 st_documents, st_chunks, st_tokens, st_batches;
  gboolean stats_active;        /* chunks arrived since start / the last EOS */
  gint64 st_first;              /* monotonic µs of the first chunk since start, 0 = none yet */
  gint64 st_last_time;          /* monotonic µs of the last stats message */
  guint64 st_last_tokens;       /* st_tokens at the last stats message */
  gint64 stats_next;            /* monotonic µs of the next periodic message */

  /* src task only */
  gchar *last_doc;              /* doc id of the last chunk pushed, for counting documents */
};

GST_ELEMENT_REGISTER_DECLARE (npuencoder);

G_END_DECLS
