#!/bin/bash
# 100 concurrent session creates against a small repository with a cap of
# 40: every answer is 201 or 429 (with Retry-After), exactly the cap is
# admitted, every admitted session is mounted and serves reads, thawd does
# not crash; then all are deleted concurrently and every mount is gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

CAP=${THAW_TEST_CAP:-40}
N=100
start_demo 50 --max-sessions "$CAP"

t0=$(date +%s%N)
cpids=()
for i in $(seq $N); do
  curl -s -o "$T/c$i.json" -w '%{http_code}\n' --max-time 120 --unix-socket "$SOCK" -H 'Content-Type: application/json' \
    --data-binary "{\"repo\":\"demo\",\"author\":{\"name\":\"U$i\",\"email\":\"u$i@example.com\"}}" \
    http://thawd/v1/sessions >"$T/c$i.code" &
  cpids+=($!)
done
wait "${cpids[@]}"   # (not a bare wait: thawd is a background job too)
t1=$(date +%s%N)
ok=0 busy=0
for i in $(seq $N); do
  case $(cat "$T/c$i.code") in
    201) ok=$((ok + 1)) ;;
    429) busy=$((busy + 1)); jq -e '.code == "too_many"' "$T/c$i.json" >/dev/null || fail "429 body" ;;
    *) fail "create $i: $(cat "$T/c$i.code") $(cat "$T/c$i.json")" ;;
  esac
done
log "$N creates in $(( (t1 - t0) / 1000000 )) ms: $ok created, $busy at the cap"
[ "$ok" = "$CAP" ] || fail "$ok sessions created, expected the cap $CAP"
[ $((ok + busy)) = $N ] || fail "answers missing"
expect 200 GET /v1/health >/dev/null
# every created session serves reads from its own mount
for f in "$T"/c*.json; do
  jq -e .id "$f" >/dev/null 2>&1 || continue
  m=$(jq -r .mount "$f")
  is_mounted "$m" || fail "$m not mounted"
  [ -s "$m/README.md" ] || fail "$m/README.md unreadable"
done
expect 200 GET /v1/sessions | jq -e "length == $CAP" >/dev/null
# concurrent deletes
cpids=()
for f in "$T"/c*.json; do
  id=$(jq -r '.id // empty' "$f")
  [ -n "$id" ] || continue
  curl -s -o /dev/null -w '%{http_code}\n' -X DELETE --max-time 120 --unix-socket "$SOCK" "http://thawd/v1/sessions/$id" >>"$T/del.codes" &
  cpids+=($!)
done
wait "${cpids[@]}"
[ "$(grep -c '^200$' "$T/del.codes")" = "$CAP" ] || fail "deletes: $(sort "$T/del.codes" | uniq -c | tr '\n' ' ')"
[ "$(grep -c " $ST/sessions/" /proc/mounts)" = 0 ] || fail "mounts left after the deletes"
expect 200 GET '/v1/sessions?state=removed' | jq -e "length == $CAP" >/dev/null
# the cap is free again
new_session demo "Again" again@example.com >/dev/null
stop_thawd
echo ok
