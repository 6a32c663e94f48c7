#!/bin/bash
# Crashes: kill -9 of thawd with live sessions, restart: sessions intact and
# their mounts serving (reattached, same thawfs); kill -9 of a thawfs: thawd
# remounts the workspace with the same upper layer, fsync'd data present,
# an event records it; a thawd restarted while a thawfs is dead remounts it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

start_demo 300
A=$(new_session demo "Ann" ann@example.com)
B=$(new_session demo "Ben" ben@example.com)
wait_state "$A" writable
wait_state "$B" writable
MA=$(session_field "$A" mount)
MB=$(session_field "$B" mount)
PA=$(session_field "$A" pid)
PB=$(session_field "$B" pid)
echo "A data" >"$MA/a.txt"
echo "B fsynced" | dd of="$MB/b.txt" conv=fsync status=none

# ---- kill -9 of thawd ----
# the change events are stored (session.db) but newer than the session's row
wait_until 20 bash -c "sqlite3 '$ST/sessions/$A/session.db' \"select count(*) from events where data like '%a.txt%'\" | grep -qv '^0$'" ||
  fail "A: change events not stored"
kill9_thawd
is_mounted "$MA" && is_mounted "$MB" || fail "mounts gone with thawd"
cat "$MA/a.txt" >/dev/null   # still served without thawd
start_thawd
for id in "$A" "$B"; do
  wait_until 20 bash -c "curl -s --unix-socket '$SOCK' http://thawd/v1/sessions/$id | jq -e '.state == \"writable\"' >/dev/null" ||
    fail "$id not writable after the restart"
done
[ "$(session_field "$A" pid)" = "$PA" ] || fail "A: not reattached to thawfs $PA"
[ "$(session_field "$A" restarts)" = 0 ] || fail "A: counted a restart"
grep -qx "A data" "$MA/a.txt" || fail "A: data after the thawd restart"
echo more >>"$MA/a.txt"
expect 200 GET /v1/sessions | jq -e 'length == 2' >/dev/null
# the event log continues where it was: reattached is recorded, numbers go on
curl -sN --max-time 2 --unix-socket "$SOCK" "http://thawd/v1/sessions/$A/events?since=0" >"$T/a.ev" 2>/dev/null || true
awk '/}$/' "$T/a.ev" | jq -s -e 'map(select(.reason == "reattached")) | length == 1' >/dev/null || fail "no reattached event"
awk '/}$/' "$T/a.ev" | jq -s -e 'map(.seq) as $s | $s == [range(1; ($s | length) + 1)]' >/dev/null ||
  fail "A: event numbers after the restart: $(jq -r .seq "$T/a.ev" | tr '\n' ' ')"
# numbers are never reused: the change of a.txt from before the crash is still there
awk '/}$/' "$T/a.ev" | jq -s -e 'map(select(.path == "a.txt" and .op == "create")) | length == 1' >/dev/null ||
  fail "A: events from before the crash were overwritten"

# ---- kill -9 of a thawfs ----
kill -9 "$PB"
wait_until 30 bash -c "p=\$(curl -s --unix-socket '$SOCK' http://thawd/v1/sessions/$B | jq -r .pid); [ \"\$p\" != '$PB' ] && [ \"\$p\" != 0 ] && kill -0 \$p" ||
  fail "B: thawfs not restarted"
wait_state "$B" writable
is_mounted "$MB" || fail "B: not mounted after the remount"
grep -qx "B fsynced" "$MB/b.txt" || fail "B: fsync'd data lost: '$(cat "$MB/b.txt" 2>&1)'"
[ "$(session_field "$B" restarts)" = 1 ] || fail "B: restarts != 1"
echo "after" >"$MB/after.txt"           # writable again
curl -sN --max-time 2 --unix-socket "$SOCK" "http://thawd/v1/sessions/$B/events?since=0" >"$T/b.ev" 2>/dev/null || true
awk '/}$/' "$T/b.ev" | jq -s -e 'map(select(.reason == "remounted")) | length == 1' >/dev/null || fail "no remounted event"
expect 200 GET /metrics | grep -c '^thaw_thawfs_restarts_total 1$' >/dev/null || fail "metrics: restarts"

# ---- thawd down while a thawfs dies: the next thawd remounts ----
kill9_thawd
PA2=$(timeout 5 "$THAWCTL" "$ST/sessions/$A/ctl.sock" status | jq -r .pid)
kill -9 "$PA2"
wait_until 10 bash -c "! kill -0 $PA2 2>/dev/null"
start_thawd
wait_until 30 bash -c "p=\$(curl -s --unix-socket '$SOCK' http://thawd/v1/sessions/$A | jq -r .pid); [ \"\$p\" != '$PA2' ] && kill -0 \$p 2>/dev/null" ||
  fail "A: not remounted after the restart"
wait_state "$A" writable
grep -q "^more$" "$MA/a.txt" || fail "A: data lost across thawd + thawfs crash"
# ---- a hung thawfs (stopped: its control socket never answers) while
# thawd restarts: thawd stops it and remounts with the same upper ----
PB2=$(session_field "$B" pid)
kill9_thawd
kill -STOP "$PB2"
start_thawd
wait_until 40 bash -c "! kill -0 $PB2 2>/dev/null" || { kill -CONT "$PB2"; fail "B: hung thawfs $PB2 not stopped"; }
wait_until 40 bash -c "p=\$(curl -s --unix-socket '$SOCK' http://thawd/v1/sessions | jq -r '.[] | select(.id == \"$B\") | .pid'); [ \"\$p\" != '$PB2' ] && kill -0 \$p 2>/dev/null" ||
  fail "B: not remounted after the hung thawfs"
wait_state "$B" writable
grep -qx "after" "$MB/after.txt" || fail "B: data lost with the hung thawfs"

# ---- DELETE right after a thawfs died: the workspace is remounted first
# (by the tick or by the teardown itself), the pre-exit snapshot holds the
# fsync'd work ----
echo "last words" | dd of="$MB/last.txt" conv=fsync status=none
kill -9 "$(session_field "$B" pid)"
for _ in $(seq 200); do
  api DELETE "/v1/sessions/$B" >"$T/del.json"
  [ "$(status)" = 409 ] || break      # 409: a remount runs, retry
  sleep 0.1
done
[ "$(status)" = 200 ] || fail "B: delete after the crash: $(status) $(cat "$T/del.json")"
PRE=$(jq -r .pre_exit_snapshot "$T/del.json")
[ ${#PRE} = 40 ] || fail "B: no pre-exit snapshot after the crash: $(cat "$T/del.json")"
sqlite3 "$ST/store/layers/$PRE/manifest.db" .dump | grep -q last.txt || fail "B: last.txt not in the pre-exit snapshot"

# clean teardown of A
expect 200 DELETE "/v1/sessions/$A" | jq -e '.pre_exit_snapshot | length == 40' >/dev/null
is_mounted "$MA" && fail "A still mounted"
is_mounted "$MB" && fail "B still mounted"
stop_thawd
echo ok
