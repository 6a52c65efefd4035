#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/onnxruntime-header.sh DEST — print the directory holding ONNX Runtime's C API header
# (onnxruntime_c_api.h) for the onnx backend, fetching it when this Debian release lacks it.
#
#   1. /usr/include/onnxruntime when libonnxruntime-dev is installed;
#   2. else, when the machine's own apt sources carry libonnxruntime-dev, apt-get install it;
#   3. else (Debian 12) download only that package from the next Debian release ("forky"), from
#      the mirror the machine's own apt sources already use, with a private apt configuration
#      under DEST (its own sources list, lists and cache: the system's apt never sees the suite,
#      which is stricter than adding it with a low pin), and unpack it there with dpkg -x.
#      Nothing is installed; only the headers are used (the library comes from the onnxruntime
#      wheel, loaded by path at run time).
# Exits non-zero with a message when none of these works.
set -euo pipefail
DEST=${1:?usage: tools/onnxruntime-header.sh DEST}
SUITE=${TE_ORT_HEADER_SUITE:-forky}
log() { printf '[onnxruntime-header] %s\n' "$*" >&2; }

if [ -f /usr/include/onnxruntime/onnxruntime_c_api.h ]; then
  echo /usr/include/onnxruntime
  exit 0
fi
if [ -f "$DEST/usr/include/onnxruntime/onnxruntime_c_api.h" ]; then
  echo "$DEST/usr/include/onnxruntime"
  exit 0
fi
cand=$(apt-cache policy libonnxruntime-dev 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -n "$cand" ] && [ "$cand" != "(none)" ] && [ "${TE_SKIP_APT:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  log "installing libonnxruntime-dev $cand from this machine's apt sources"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libonnxruntime-dev >/dev/null
  echo /usr/include/onnxruntime
  exit 0
fi

# The mirror of the machine's Debian sources: deb822 (.sources) first, then one-line lists.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) {print $i; exit}}')
fi
if [ -z "$mirror" ]; then
  log "no Debian mirror in /etc/apt/sources*: cannot fetch libonnxruntime-dev"
  exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { log "no $keyring (package debian-archive-keyring)"; exit 1; }

APT="$DEST/apt"
mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$DEST/debs"
echo "deb [signed-by=$keyring] $mirror $SUITE main" > "$APT/sources.list"
apt_private=(-o "Dir::Etc::sourcelist=$APT/sources.list" -o "Dir::Etc::sourceparts=$APT/sources.list.d"
  -o "Dir::State::lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache=" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
log "fetching libonnxruntime-dev from $SUITE ($mirror) into $DEST"
apt-get "${apt_private[@]}" -qq update >&2
( cd "$DEST/debs" && apt-get "${apt_private[@]}" -qq download libonnxruntime-dev >&2 )
deb=$(ls -t "$DEST"/debs/libonnxruntime-dev_*.deb | head -n 1)
dpkg -x "$deb" "$DEST"
[ -f "$DEST/usr/include/onnxruntime/onnxruntime_c_api.h" ] || {
  log "$deb has no usr/include/onnxruntime/onnxruntime_c_api.h"; exit 1; }
log "using $(basename "$deb")"
echo "$DEST/usr/include/onnxruntime"
