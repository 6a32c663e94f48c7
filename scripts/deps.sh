#!/usr/bin/env bash
# Installs the Debian 12 packages Thaw needs to build, test and benchmark.
# Idempotent and quick when everything is present (no apt-get update then).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libfuse3-dev fuse3 libgit2-dev libjansson-dev libcmocka-dev
  jq attr bubblewrap crun curl
  liblz4-dev libsqlite3-dev sqlite3 lz4 libuv1-dev libhttp-parser-dev
  libcurl4-openssl-dev clang libclang-rt-14-dev libfuzzer-14-dev
)
[ "${THAW_BENCH_DEPS:-0}" = 1 ] && PKGS+=(fuse-overlayfs fio)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
