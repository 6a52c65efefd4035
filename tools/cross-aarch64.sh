#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/cross-aarch64.sh — the CPU kernel library (core/kernels, libc only) and its test,
# cross-built for aarch64 with Debian's gcc-aarch64-linux-gnu and run under qemu-user: the NEON
# path (the target boards' CPU: SM8650, RK3588) is tested on an x86-64 machine.
#
#   tools/cross-aarch64.sh [--install]    (--install: apt-get the cross compiler and qemu-user)
#
# Runs test-kern under qemu-aarch64: with the CPU model qemu emulates by default (max: NEON,
# dotprod, i8mm, bf16) at every level it reports; as a Cortex-A53 (NEON only, checking the
# feature detection); with TE_CPU_LEVEL=portable; and checks that TE_CPU_LEVEL=avx2 is refused.
# Exit status 0 when all pass.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--install" ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  need=()
  command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
  command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
  if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

CC=aarch64-linux-gnu-gcc
OUT=build-aarch64
mkdir -p "$OUT"
K=core/kernels
CFLAGS=(-O3 -g -std=gnu11 -Wall -Wextra -Werror -fno-math-errno -I"$K")
srcs=("$K/te-cpu.c" "$K/te-cpu-peak.c" "$K/te-pool.c" "$K/te-kern.c" "$K/te-kern-portable.c" "$K/te-kern-q8.c"
  "$K/te-kern-neon.c")
# the sdot kernel alone is built for ARMv8.2 + dotprod; it runs only where HWCAP says so
$CC "${CFLAGS[@]}" -march=armv8.2-a+dotprod -c -o "$OUT/te-kern-q8-neon.o" "$K/te-kern-q8-neon.c"
# static: qemu-user needs no aarch64 sysroot at run time
$CC "${CFLAGS[@]}" -static -o "$OUT/test-kern" tests/kernels/test-kern.c "${srcs[@]}" \
  "$OUT/te-kern-q8-neon.o" -lm -lpthread
aarch64-linux-gnu-readelf -h "$OUT/test-kern" | grep -q "Machine: *AArch64" || { echo "not an aarch64 binary"; exit 1; }

rc=0
echo "== qemu-aarch64 $OUT/test-kern (every level the emulated CPU has)"
qemu-aarch64 "$OUT/test-kern" || rc=1
echo "== qemu-aarch64 -cpu cortex-a53 (NEON without dotprod: detected as such)"
qemu-aarch64 -cpu cortex-a53 "$OUT/test-kern" | tee "$OUT/a53.log" | tail -1
grep -q "^cpu features: neon; best level neon" "$OUT/a53.log" && grep -q "0 failed" "$OUT/a53.log" \
  || { echo "FAIL: cortex-a53 features or test"; rc=1; }
echo "== qemu-aarch64 $OUT/test-kern with TE_CPU_LEVEL=portable"
TE_CPU_LEVEL=portable qemu-aarch64 "$OUT/test-kern" || rc=1
echo "== TE_CPU_LEVEL=avx2 must be refused on aarch64"
if TE_CPU_LEVEL=avx2 qemu-aarch64 "$OUT/test-kern" >"$OUT/refused.log" 2>&1; then
  echo "FAIL: avx2 accepted on aarch64"; rc=1
else
  grep -q "does not support" "$OUT/refused.log" && echo "refused: $(head -1 "$OUT/refused.log")" || { cat "$OUT/refused.log"; rc=1; }
fi
exit $rc
