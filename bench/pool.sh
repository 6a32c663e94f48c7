#!/usr/bin/env bash
# The pool simulator (bench/pool_sim.c) over two synthetic workloads: the
# default day (peak 2.5 sessions a minute, 4 bursts) and a busy one (peak 6,
# 8 bursts). Prints one table per workload; see docs/bench-pool.md.
#   bash bench/pool.sh [BUILD_DIR]        (default: build)
# With --api, measures time to first read through thawd instead: POST
# /v1/sessions -> first byte of a file five directories deep, N sessions
# (N=50) from a warm pool, N cold (a repository without pool), and git clone
# --local + the same read, in one run (FILES=5000 files).
#   bash bench/pool.sh --api [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --api ]; then
  shift
  build=${1:-$here/build}
  exec bash "$here/bench/pool_api.sh" "$build"
fi
build=${1:-$here/build}
sim=$build/bench/pool_sim
if [ ! -x "$sim" ]; then
  echo "pool.sh: $sim missing: cmake --build $build --target pool_sim" >&2
  exit 1
fi
days=${DAYS:-3}
seed=${SEED:-42}
echo "## default day: peak 2.5/min, 4 bursts of 25, $days days, seed $seed"
"$sim" --days "$days" --seed "$seed" --peak 2.5 --bursts 4
echo
echo "## busy day: peak 6/min, 8 bursts of 25, $days days, seed $seed"
"$sim" --days "$days" --seed "$seed" --peak 6 --bursts 8
