#!/usr/bin/env bash
# Time to first read through thawd's API (run by bench/pool.sh --api): warm
# pool vs cold mount vs git clone --local, in one run. See docs/bench-pool.md.
set -euo pipefail
build=$1
N=${N:-50}
FILES=${FILES:-5000}
for b in sessiond/thawd fs/thawfs fs/thawfs-ctl tests/genrepo/thaw-genrepo bench/pool_ttfr; do
  [ -x "$build/$b" ] || { echo "pool_api.sh: $build/$b missing (build the tree first)" >&2; exit 1; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/thaw-poolbench.XXXXXX")
ST=$W/st
SOCK=$ST/thawd.sock
THAWD_PID=
DEEP=src/core/engine/detail/impl/deep_file.c
cleanup() {
  set +e
  [ -n "$THAWD_PID" ] && kill "$THAWD_PID" 2>/dev/null && wait "$THAWD_PID" 2>/dev/null
  for m in "$ST"/pool/*/e*/mnt "$ST"/sessions/*/mnt; do
    grep -q " $m fuse" /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m"; }
  done
  sleep 0.5
  rm -rf "$W"
}
trap cleanup EXIT
api() { curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' "$@"; }

"$build/tests/genrepo/thaw-genrepo" --out "$W/origin.git" --files "$FILES" --bare --quiet >/dev/null
"$build/sessiond/thawd" --state "$ST" --thawfs "$build/fs/thawfs" >"$W/thawd.log" 2>&1 &
THAWD_PID=$!
for _ in $(seq 300); do api http://thawd/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
api -X POST --data "{\"name\":\"warm\",\"url\":\"$W/origin.git\",\"pool_min\":1,\"pool_spare\":2,\"pool_max\":8}" \
  http://thawd/v1/repos >/dev/null
api -X POST --data "{\"name\":\"cold\",\"url\":\"$W/origin.git\"}" http://thawd/v1/repos >/dev/null
api -X POST --data "{\"name\":\"warmpf\",\"url\":\"$W/origin.git\",\"pool_min\":1,\"pool_spare\":2,\"pool_max\":8,\"pool_trace_window_s\":1}" \
  http://thawd/v1/repos >/dev/null

echo "## time to first read: POST /v1/sessions -> first byte of $DEEP ($FILES files, N=$N)"
"$build/bench/pool_ttfr" --sock "$SOCK" --repo warm --file "$DEEP" --n "$N" --wait-pool --label warm-pool
"$build/bench/pool_ttfr" --sock "$SOCK" --repo cold --file "$DEEP" --n "$N" --label cold-mount
# prefetch: three sessions edit the deep file; once traced, new entries read it ahead
ids=()
for i in 1 2 3; do
  id=$(api -X POST --data "{\"repo\":\"warmpf\",\"author\":{\"name\":\"T$i\",\"email\":\"t$i@bench.invalid\"}}" \
       http://thawd/v1/sessions | jq -r .id)
  m=$(api "http://thawd/v1/sessions/$id" | jq -r .mount)
  echo "// trained" >>"$m/$DEEP"
  ids+=("$id")
done
for _ in $(seq 300); do
  [ "$(api http://thawd/v1/pools | jq '.[] | select(.repo == "warmpf") | .prefetch.sessions')" = 3 ] && break
  sleep 0.1
done
for id in "${ids[@]}"; do api -X DELETE "http://thawd/v1/sessions/$id" >/dev/null; done
# entries made before the list existed go first (not measured)
"$build/bench/pool_ttfr" --sock "$SOCK" --repo warmpf --file "$DEEP" --n 3 --wait-pool --label drain >/dev/null
"$build/bench/pool_ttfr" --sock "$SOCK" --repo warmpf --file "$DEEP" --n "$N" --wait-pool --label warm-prefetch
ts=()
for i in $(seq 5); do
  t0=$(date +%s%N)
  git clone -q --local "$W/origin.git" "$W/clone$i"
  head -c1 "$W/clone$i/$DEEP" >/dev/null
  ts+=($(( ($(date +%s%N) - t0) / 1000 )))
  rm -rf "$W/clone$i"
done
sorted=($(printf '%s\n' "${ts[@]}" | sort -n))
printf '{"label":"git-clone-local","n":5,"p50_ms":%s}\n' "$(awk "BEGIN{print ${sorted[2]}/1000}")"
api http://thawd/v1/pools | jq -c '.[] | select(.repo != "cold") | {repo, refill_p50_ms, refill_p99_ms, claims_warm, cold_fallbacks, prefetch}'
