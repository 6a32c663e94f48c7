#!/usr/bin/env bash
# Configures and builds one flavour: release (build/) or asan (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=build; extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; extra=(-DCMAKE_BUILD_TYPE=Debug -DTHAW_ASAN=ON) ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${extra[@]}" >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir"
