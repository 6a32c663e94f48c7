#!/bin/bash
# A burst of concurrent session requests against a warm pool: every request
# gets a workspace (warm while entries last, then cold), the counters agree
# with the answers, every workspace is writable, and the pool refills to its
# spare above the sessions in use.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
. "$(dirname "$0")/lib_pool.sh"
require_fuse

ORIGIN=$(gen origin.git --files 200 --bare)
start_thawd
add_pool_repo demo "$ORIGIN" '"pool_min":0,"pool_max":16,"pool_spare":3'
wait_pool demo '.ready == 3 and .creating == 0' 90

pids=()
for i in $(seq 8); do
  curl -s --max-time 120 --unix-socket "$SOCK" -H 'Content-Type: application/json' \
    --data "{\"repo\":\"demo\",\"author\":{\"name\":\"U$i\",\"email\":\"u$i@example.com\"}}" \
    -o "$T/s$i.json" -w '%{http_code}' http://thawd/v1/sessions >"$T/s$i.code" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a request failed"; done
warm=0
for i in $(seq 8); do
  [ "$(cat "$T/s$i.code")" = 201 ] || fail "request $i answered $(cat "$T/s$i.code"): $(cat "$T/s$i.json")"
  [ "$(jq -r .pool "$T/s$i.json")" = warm ] && warm=$((warm + 1))
done
log "$warm of 8 warm"
[ "$warm" -ge 3 ] || fail "only $warm warm sessions with 3 ready entries"
wait_pool demo ".claims == 8 and .claims_warm == $warm and .cold_fallbacks == $((8 - warm))" 10
# distinct workspaces, all writable once synced
mounts=$(for i in $(seq 8); do jq -r .mount "$T/s$i.json"; done | sort -u | wc -l)
[ "$mounts" = 8 ] || fail "two sessions share a workspace ($mounts distinct mounts)"
for i in $(seq 8); do
  id=$(jq -r .id "$T/s$i.json")
  wait_state "$id" writable 90
  echo "$i" >"$(jq -r .mount "$T/s$i.json")/mine" || fail "session $i not writable"
done
wait_pool demo '.claimed == 8 and .ready == 3 and .creating == 0 and .desired == 11' 120
log ok
