#!/usr/bin/env bash
# The test command: installs what it needs, builds the release and the
# ASan+UBSan flavours, and runs every test (unit and integration) under both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
status=0
for flavour in release asan; do
  dir=$(bash scripts/build.sh "$flavour")
  echo "== tests ($flavour) =="
  (cd "$dir" && ctest --output-on-failure --timeout 900 -j2) || status=1
done
exit $status
