/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-backend-onnx.h — the "onnx" backend: the exporter's static-shape graphs (te-export-cache.h)
 * run by ONNX Runtime through its C API, on the CPU execution provider or on an NPU through a
 * plugin execution provider: QNN (Qualcomm Hexagon HTP) today, from its precompiled context
 * binaries.
 *
 * The runtime is loaded by path at open (option "library"; the default is the onnxruntime wheel
 * tools/setup.sh installs), so a device's own ONNX Runtime build is used unchanged; so is the
 * EP's plugin library ("ep-library") and, for QNN, its backend ("backend_path", libQnnHtp.so).
 * One runtime and one environment serve the whole process and stay loaded until it exits (ONNX
 * Runtime allows one environment per process): every onnx backend in a process must name the
 * same library. Built when meson found onnxruntime_c_api.h (TE_HAVE_ONNXRUNTIME); only the
 * header is needed at build time.
 *
 * Options: see the table in te-backend-onnx.c (te-devices --options onnx, docs/backends.md).
 * ep=cpu runs the "onnx" entries of the dtype; ep=qnn the "qnn-htp" context binaries, which
 * must have been built for the soc_model and htp_arch asked for. With cpu-fallback=false (the
 * default for qnn) a node the EP cannot take is an error rather than a silent run on the CPU.
 * Errors name what is missing: the library, the EP library, the QNN backend, the exported
 * graphs or context binaries (with the tools/te-export.py command that builds them).
 * Synchronous: it computes in the caller's thread (npuencoder's submit worker); concurrent
 * submit() calls are serialised. */
#pragma once

#include "te-backend.h"

G_BEGIN_DECLS

#ifdef TE_HAVE_ONNXRUNTIME
extern const TeBackendClass te_backend_onnx_class;
#endif

G_END_DECLS
