#!/usr/bin/env bash
# bench/api.sh: thawd's API figures (docs/bench-api.md).
#   1. GET /v1/sessions/ID latency and throughput under C concurrent
#      keep-alive clients (bench/apiload.c over the Unix socket)
#   2. POST /v1/sessions -> first byte read from the returned mount, cold
#      (no pool, no image: thawfs starts and projects the git tree), p50/p99
#      over N sessions, beside `git clone --local` + read of the same file.
# Uses an existing build (default build-rel, RelWithDebInfo, no sanitizers).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-rel}
CONNS=100 REQUESTS=20000 SESSIONS=50 CLONES=10 FILES=5000
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --clones) CLONES=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    -h|--help)
      echo "usage: bash bench/api.sh [--build DIR] [--conns 100] [--requests 20000] [--sessions 50] [--clones 10] [--files 5000]"
      exit 0 ;;
    *) echo "api.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
THAWD=$BUILD/sessiond/thawd THAWFS=$BUILD/fs/thawfs GENREPO=$BUILD/tests/genrepo/thaw-genrepo
for b in "$THAWD" "$THAWFS" "$GENREPO"; do
  [ -x "$b" ] || { echo "api.sh: $b missing: cmake --build $BUILD --target thawd thawfs thaw-genrepo" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/thaw-bench-api.XXXXXX")
TPID=""
finish() {
  set +e
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
  awk -v w="$W/" 'index($2, w) == 1 && $3 ~ /^fuse/ {print $2}' /proc/mounts | while read -r m; do
    fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf "$W"
}
trap finish EXIT

cc -O2 -D_GNU_SOURCE -o "$W/apiload" "$ROOT/bench/apiload.c" -ljansson
echo "# generating a $FILES-file repository" >&2
"$GENREPO" --out "$W/origin.git" --files "$FILES" --seed 7 --commits 2 --bare --quiet
DEEP=$(git -C "$W/origin.git" ls-tree -r --name-only main | awk -F/ '{print NF, $0}' | sort -rn | awk 'NR == 1 {print $2}')

STATE=$W/state SOCK=$W/state/thawd.sock
mkdir -p "$STATE"
"$THAWD" --state "$STATE" --foreground --thawfs "$THAWFS" --max-sessions 1024 >"$W/thawd.log" 2>&1 &
TPID=$!
for _ in $(seq 1 300); do curl -sf --unix-socket "$SOCK" http://x/v1/health >/dev/null && break; sleep 0.05; done
curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
  -d "{\"name\":\"demo\",\"url\":\"$W/origin.git\",\"branch\":\"main\"}" http://x/v1/repos >/dev/null
for _ in $(seq 1 600); do
  [ "$(curl -sf --unix-socket "$SOCK" http://x/v1/repos/demo | jq -r .ready)" = true ] && break; sleep 0.1
done
BODY='{"repo":"demo","author":{"name":"Bench","email":"bench@thaw.invalid"}}'

echo "# 1. GET /v1/sessions/ID, $CONNS connections, $REQUESTS requests" >&2
ID=$(curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' -d "$BODY" http://x/v1/sessions | jq -r .id)
"$W/apiload" get "$SOCK" "/v1/sessions/$ID" "$CONNS" 2000 >/dev/null # warm-up
GET=$("$W/apiload" get "$SOCK" "/v1/sessions/$ID" "$CONNS" "$REQUESTS")
curl -sf --unix-socket "$SOCK" -X DELETE "http://x/v1/sessions/$ID" >/dev/null

echo "# 2. POST /v1/sessions -> first byte of $DEEP, $SESSIONS sessions (cold: no pool, no image)" >&2
CREATE=$("$W/apiload" create "$SOCK" "$BODY" "$DEEP" "$SESSIONS")

echo "# 3. git clone --local + read of the same file, $CLONES runs" >&2
clone_ms=()
for i in $(seq 1 "$CLONES"); do
  t0=$(date +%s%N)
  git clone -q --local "$W/origin.git" "$W/clone$i"
  head -c1 "$W/clone$i/$DEEP" >/dev/null
  t1=$(date +%s%N)
  clone_ms+=($(( (t1 - t0) / 1000 )))
  rm -rf "$W/clone$i"
done
CLONE_P50=$(printf '%s\n' "${clone_ms[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}')

get() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i+1)}' <<<"$1"; }
echo
echo "thawd API ($(nproc) cores, $FILES-file repository)"
printf '%-52s %s\n' "GET /v1/sessions/ID, $CONNS conns: req/s" "$(get "$GET" rps)"
printf '%-52s %s / %s ms\n' "GET /v1/sessions/ID p50 / p99" "$(get "$GET" p50_ms)" "$(get "$GET" p99_ms)"
printf '%-52s %s / %s ms\n' "POST /v1/sessions -> first byte, cold: p50 / p99" "$(get "$CREATE" p50_ms)" "$(get "$CREATE" p99_ms)"
printf '%-52s %s ms\n' "git clone --local + first byte: p50" "$CLONE_P50"
awk -v a="$CLONE_P50" -v b="$(get "$CREATE" p50_ms)" 'BEGIN {printf "%-52s %.0fx\n", "speed-up (p50)", a / b}'
echo "raw: $GET"
echo "raw: $CREATE"
