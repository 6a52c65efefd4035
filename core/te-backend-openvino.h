/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-openvino.h — the "openvino" backend: the static-shape ONNX encoder graphs that
 * tools/te-export.py puts in the export cache (te-export-cache.h), compiled and run by OpenVINO
 * through its C API (from the PyPI openvino wheel) on a chosen device: CPU here, NPU or GPU
 * where the machine has one. Built only when meson found OpenVINO (TE_HAVE_OPENVINO). */
#pragma once

#include "te-backend.h"

G_BEGIN_DECLS

#ifdef TE_HAVE_OPENVINO
/* Options (all optional):
 *   cache-dir     the export cache (default: te_export_cache_dir (NULL))
 *   dtype         fp32 (default), fp16 or a16w8 (QDQ, 8-bit weights, 16-bit activations): the
 *                 exported variant to load
 *   device        OpenVINO device name: CPU (default), NPU, GPU, AUTO:NPU,CPU, ...
 *   ov-cache-dir  OpenVINO's own compiled-model cache (default <cache-dir>/openvino; "" = off)
 *   threads       INFERENCE_NUM_THREADS (CPU device)
 *   precision     INFERENCE_PRECISION_HINT: f32, f16, bf16, or "default" for the device's own
 *                 choice (default: f32 for fp32 graphs on CPU, whose plugin would otherwise
 *                 compute in bf16 on processors with AVX512_BF16/AMX; the device's otherwise)
 *   verify        "false" skips the SHA-256 check of the graphs against their manifests
 * Every exported batch x seq entry of the model and dtype is compiled. caps.buckets are the
 * exported sequence lengths (the TE_BACKEND_MAX_BUCKETS shortest), caps.max_batch the largest
 * exported batch; a batch runs as chunks of the batch sizes exported for its length, the last
 * chunk padded with empty rows. Padded positions of batch->hidden come out as zeros, as with
 * "cpu". With nothing exported, open() fails naming the tools/te-export.py command to run.
 * Synchronous (caps.async FALSE); concurrent submit() calls are serialised. */
extern const TeBackendClass te_backend_openvino_class;
#endif

G_END_DECLS
