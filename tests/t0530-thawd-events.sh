#!/bin/bash
# Event streams: two followers of one session see the same events live; a
# follower that disconnects and reconnects with since=N gets exactly the
# events it missed (replayed from session.db), then the live stream; the
# daemon-wide stream /v1/events numbers every event; a follower that goes
# away mid-stream is dropped cleanly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

start_demo 200
ID=$(writable_session "Ann" ann@example.com)
MNT=$(session_field "$ID" mount)

expect 400 GET "/v1/sessions/$ID/events?since=abc" >/dev/null
expect 400 GET "/v1/sessions/$ID/events?since=-1" >/dev/null
expect 404 GET "/v1/sessions/s-0000000000000000/events" >/dev/null

follow() { # follow NAME SINCE: curl in the background, lines to $T/NAME.ev
  curl -sN --unix-socket "$SOCK" "http://thawd/v1/sessions/$ID/events?since=$2" >"$T/$1.ev" 2>/dev/null &
  echo $! >"$T/$1.pid"
  PIDS+=("$!")
}
# the complete lines of a stream still being written
ev() { awk '/}$/' "$T/$1.ev"; }
last_seq() { ev "$1" | tail -1 | jq -r .seq; }
seqs() { ev "$1" | jq -r .seq | tr '\n' ' '; }

follow a 0
follow b 0
# replay: both see the history (starting .. writable) at once
wait_until 20 bash -c "[ \$(wc -l <'$T/a.ev') -ge 3 ] && [ \$(wc -l <'$T/b.ev') -ge 3 ]" || fail "no replay"
ev a | sed -n 1p | jq -e '.seq == 1 and .type == "lifecycle" and .state == "starting"' >/dev/null || fail "seq 1 is not starting"

# live: changes reach both followers
for i in 1 2 3; do echo "$i" >"$MNT/live$i.txt"; done
wait_until 20 bash -c "grep -q live3.txt '$T/a.ev' && grep -q live3.txt '$T/b.ev'" || fail "live events missing"
# b disconnects; remember its last number
kill "$(cat "$T/b.pid")"
wait_until 10 bash -c "! kill -0 $(cat "$T/b.pid") 2>/dev/null"
N=$(last_seq b)
log "b stopped at seq $N"
# events b misses
for i in 4 5 6 7; do echo "$i" >"$MNT/missed$i.txt"; done
expect 201 POST "/v1/sessions/$ID/prompts" '{"author":{"name":"Bo","email":"bo@example.com"},"text":"go"}' >/dev/null
wait_until 20 bash -c "grep -q '\"prompt\"' '$T/a.ev' && grep -q missed7.txt '$T/a.ev'" || fail "a: missed events"
# b reconnects with since=N: exactly the events after N, no gap, no duplicate
follow b2 "$N"
A_LAST=$(last_seq a)
wait_until 20 bash -c "[ \"\$(awk '/}\$/' '$T/b2.ev' | tail -1 | jq -r .seq)\" = '$A_LAST' ]" || fail "b2 did not catch up to $A_LAST"
expected=$(ev a | jq -r "select(.seq > $N) | .seq" | tr '\n' ' ')
[ "$(seqs b2)" = "$expected" ] || fail "replay after $N: got '$(seqs b2)', expected '$expected'"
# ... and then the live stream on the same connection
echo x >"$MNT/after.txt"
wait_until 20 bash -c "grep -q after.txt '$T/b2.ev'" || fail "b2: no live events after the replay"
# every follower saw consecutive numbers
for f in a b2; do
  ev $f | jq -s -e 'map(.seq) as $s | [range(1; $s | length)] | all(. as $i | $s[$i] == $s[$i - 1] + 1)' >/dev/null ||
    fail "$f: sequence numbers not consecutive: $(seqs $f)"
done
# change events carry the author of the current prompt (Bo's prompt runs)
ev b2 | jq -s -e 'map(select(.path == "after.txt" and .op == "create")) | length == 1 and .[0].author.email == "bo@example.com"' >/dev/null ||
  fail "after.txt: author is not the prompt's"
ev a | jq -s -e 'map(select(.path == "live1.txt" and .op == "create")) | length == 1 and .[0].author.email == "ann@example.com"' >/dev/null ||
  fail "live1.txt: author is not the session's"
expect 200 GET "/v1/sessions/$ID" | jq -e '.followers == 2' >/dev/null || fail "followers count"

# the daemon-wide stream: replay of everything, daemon-wide numbers
curl -sN --max-time 3 --unix-socket "$SOCK" "http://thawd/v1/events?since=0" >"$T/all.ev" 2>/dev/null || true
awk '/}$/' "$T/all.ev" | jq -s -e --arg id "$ID" 'map(select(.session == $id)) | length >= 10' >/dev/null || fail "/v1/events"
awk '/}$/' "$T/all.ev" | jq -s -e 'map(.seq) as $s | $s == ($s | sort) and ($s | unique | length) == ($s | length)' >/dev/null ||
  fail "/v1/events: numbers not increasing"

# many followers come and go mid-stream; thawd keeps serving
for i in $(seq 20); do
  curl -sN --max-time 0.3 --unix-socket "$SOCK" "http://thawd/v1/sessions/$ID/events?since=0" >/dev/null 2>&1 &
done
wait_until 10 bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://thawd/v1/sessions/$ID | jq .followers)\" = 2 ]" ||
  fail "followers that left were not dropped"
expect 200 GET /v1/health >/dev/null

# delete: the followers' streams end after the removed event
expect 200 DELETE "/v1/sessions/$ID" >/dev/null
wait_until 20 bash -c "! kill -0 $(cat "$T/a.pid") 2>/dev/null" || fail "a's stream did not end at removal"
ev a | tail -1 | jq -e '.type == "lifecycle" and .state == "removed"' >/dev/null || fail "last event is not removed"
stop_thawd
echo ok
