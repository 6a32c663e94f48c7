#!/bin/bash
# Lifetimes: a session past its hard limit (timeout_s) and one past its idle
# limit (idle_timeout_s) are torn down by thawd with a pre-exit snapshot and
# a lifecycle event naming the reason; activity (refresh, a connected event
# follower) keeps an idle session alive; POST .../timeout moves the limit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

start_demo 100
# (each session's activity starts right after its creation: the limits are
# short, and the machine may be slow)
HARD=$(new_session demo "Ann" ann@example.com '"timeout_s":4')
wait_state "$HARD" writable
echo "work" >"$(session_field "$HARD" mount)/work.txt"
KEPT=$(new_session demo "Cy" cy@example.com '"idle_timeout_s":4')
# a follower counts as activity for KEPT
curl -sN --unix-socket "$SOCK" "http://thawd/v1/sessions/$KEPT/events" >"$T/kept.ev" 2>/dev/null &
PIDS+=("$!")
FOLLOW=$!
MOVED=$(new_session demo "Di" di@example.com '"timeout_s":3')
expect 200 POST "/v1/sessions/$MOVED/timeout" '{"timeout_s":600}' >/dev/null
IDLE=$(new_session demo "Ben" ben@example.com '"idle_timeout_s":3')
wait_until 10 bash -c "grep -q '\"seq\"' '$T/kept.ev'" || fail "KEPT: follower not connected"

wait_state "$HARD" removed 30
wait_state "$IDLE" removed 30
H=$(api GET "/v1/sessions/$HARD")
jq -e '.pre_exit_snapshot | length == 40' <<<"$H" >/dev/null || fail "hard limit: no pre-exit snapshot: $H"
sqlite3 "$ST/sessions/$HARD/session.db" "select data from events where type='lifecycle'" |
  jq -s -e 'map(select(.state == "removed")) | .[0].reason == "timeout"' >/dev/null || fail "no removed/timeout event"
sqlite3 "$ST/sessions/$IDLE/session.db" "select data from events where type='lifecycle'" |
  jq -s -e 'map(select(.state == "removed")) | .[0].reason == "idle"' >/dev/null || fail "no removed/idle event"
# the snapshot holds the session's work
sqlite3 "$ST/store/layers/$(jq -r .pre_exit_snapshot <<<"$H")/manifest.db" .tables >/dev/null || fail "pre-exit manifest"
[ "$(session_state "$KEPT")" = writable ] || fail "followed session expired"
[ "$(session_state "$MOVED")" = writable ] || fail "moved hard limit ignored"
# the follower leaves: KEPT goes idle
kill "$FOLLOW"
wait_state "$KEPT" removed 30
expect 200 DELETE "/v1/sessions/$MOVED" >/dev/null
[ "$(grep -c " $ST/sessions/" /proc/mounts)" = 0 ] || fail "mounts left"
stop_thawd
echo ok
