#!/bin/bash
# Image garbage collection in a real thawd (sessiond/image_gc.c): images are
# built repeatedly with --image-max-chain 1 so that every build is flattened;
# image layers nobody uses (not current, no session, no pool entry, no kept
# snapshot's chain) disappear with their objects, while a live session's
# image, a pool entry's image and the chain of a snapshot within the
# retention (or used by a live session) stay and still read correctly. When
# the snapshots expire and the sessions end, their chains go too. The gc
# shows in events and /metrics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
. "$(dirname "$0")/lib_pool.sh"
require_fuse

STORE=$ST/store
ORIGIN=$(gen origin.git --files 200 --bare)
# bad options are refused before anything starts
"$THAWD" --state "$T/bad" --image-max-chain 0 2>"$T/err" && fail "--image-max-chain 0 accepted"
grep -q "image-max-chain" "$T/err" || fail "no message for --image-max-chain 0: $(cat "$T/err")"
"$THAWD" --state "$T/bad" --snapshot-retention 3x 2>"$T/err" && fail "--snapshot-retention 3x accepted"
grep -q "snapshot-retention" "$T/err" || fail "no message for --snapshot-retention 3x"

start_thawd --image-max-chain 1 --image-gc-interval 1 --snapshot-retention 20s --gc-grace 0

# Each build writes a new 5 MB random state.bin (bigger than a pack's
# objects: a loose object file) and prints its content id into the build log.
setup='head -c 5000000 /dev/urandom > state.bin && echo CID=$(git hash-object state.bin)'
body=$(jq -n --arg url "$ORIGIN" --arg s "$setup" \
  '{name:"gc", url:$url, setup:[$s], pool_min:1, pool_max:3, pool_spare:1}')
expect 201 POST /v1/repos "$body" >/dev/null

# build N: the Nth image; prints its id.
build() {
  local NB=$1
  expect 202 POST /v1/repos/gc/images >/dev/null
  wait_until 120 bash -c "curl -s --unix-socket '$SOCK' http://thawd/v1/repos/gc |
    jq -e '.building == false and .builds >= $NB' >/dev/null" ||
    fail "build $NB did not finish: $(api GET /v1/repos/gc) $(tail -5 "$ST"/builds/*.log 2>/dev/null)"
  local r
  r=$(api GET /v1/repos/gc)
  jq -e '.build_failures == 0' <<<"$r" >/dev/null || fail "build $NB failed: $(jq -r .last_error <<<"$r")"
  log "build $NB done at ${SECONDS}s"
  jq -r .image <<<"$r"
}
layer() { [ -f "$STORE/layers/$1/manifest.db" ]; }
parent() { "$THAWSNAP" ls --store "$STORE" --json | jq -r --arg id "$1" '.[] | select(.id == $id) | .parent // ""'; }
cid() { grep -o 'CID=[0-9a-f]\{40\}' "$STORE/layers/$1/build.log" | tail -1 | cut -c5-; }
gc_runs() { api GET /metrics | awk '/^thaw_image_gc_runs_total / {print $2}'; }
obj() { local c=$1; [ -f "$STORE/objects/${c:0:2}/${c:2}" ]; }

I1=$(build 1)
C1=$(cid "$I1")
[ -n "$C1" ] && obj "$C1" || fail "image 1's state.bin ($C1) is not a loose object"
# sessions claim pool entries: wait until every idle entry is of the new image
wait_pool gc ".image == \"$I1\" and .stale == 0 and .creating == 0 and .ready >= 1" 60
A=$(new_session gc Ann ann@example.com)
[ "$(session_field "$A" image)" = "$I1" ] || fail "session A is not on image 1 ($I1): $(api GET /v1/sessions/$A)"
AM=$(session_field "$A" mount)
B=$(new_session gc Bob bob@example.com)
[ "$(session_field "$B" image)" = "$I1" ] || fail "session B is not on image 1"
wait_state "$B" writable
BM=$(session_field "$B" mount)
echo from-bob >"$BM/bob.txt"

I2=$(build 2)   # a chain of 2 > 1: flattened
C2=$(cid "$I2")
[ -z "$(parent "$I2")" ] || fail "image 2 was not flattened (parent $(parent "$I2"))"
I3=$(build 3)   # image 2 is used by nobody now (pool entries of it are drained)
C3=$(cid "$I3")
[ -z "$(parent "$I3")" ] || fail "image 3 was not flattened"
log "images: $I1 $I2 $I3"

log "phase at ${SECONDS}s"
# ---- unused images and their objects go ----
wait_until 60 bash -c "! [ -d '$STORE/layers/$I2' ]" ||
  fail "unused image 2 was not removed (event log: $(api GET /v1/events | grep -c '"gc"'))"
wait_until 30 bash -c "! [ -f '$STORE/objects/${C2:0:2}/${C2:2}' ]" ||
  fail "the object of image 2 is still in the store"
# ---- used ones stay: image 1 (sessions A and B), the current image 3 ----
for l in "$I1" "$I3"; do layer "$l" || fail "layer $l was removed but is in use: $(ls "$STORE/layers")"; done
for c in "$C1" "$C3"; do obj "$c" || fail "object $c of a kept image was removed"; done
[ "$(git hash-object "$AM/state.bin")" = "$C1" ] || fail "session A no longer reads image 1's state.bin"
cmp -s "$AM/$DEEP" <(git --git-dir="$ORIGIN" show "main:$DEEP") || fail "session A: deep file differs"
# every pool entry's image is still there and reads
# (an entry being destroyed may vanish under the loop: only entries still
# mounted after the read count)
n_entries=0
for f in "$ST"/pool/gc/e*/entry.json; do
  img=$(jq -r .image "$f" 2>/dev/null) || continue
  m=$(dirname "$f")/mnt
  h=$(git hash-object "$m/state.bin" 2>/dev/null) || h=
  [ -f "$f" ] && is_mounted "$m" || continue
  n_entries=$((n_entries + 1))
  layer "$img" || fail "pool entry $(dirname "$f") is on image $img, which was removed"
  [ "$h" = "$(cid "$img")" ] || fail "pool entry $m does not read its image $img"
done
[ "$n_entries" -ge 1 ] || fail "no pool entry to check"

# ---- the event and the metrics ----
ev=$(curl -s --max-time 5 --unix-socket "$SOCK" "http://thawd/v1/events?since=0" | grep '"op":"gc"' || true)
grep -q "$I2" <<<"$ev" || fail "no image gc event names $I2: $ev"
grep -q '"objects_removed":[1-9]' <<<"$ev" || fail "no gc event with objects removed: $ev"
log "gc passes that removed something: $(jq -c '{removed: (.removed | length), snapshots: (.snapshots_removed | length), objects_removed, bytes, kept, duration_ms}' <<<"$ev" | tr '\n' ' ')"
m=$(api GET /metrics)
awk '/^thaw_image_gc_layers_removed_total\{kind="image"\}/ {exit !($2 >= 1)}' <<<"$m" ||
  fail "metrics: $(grep thaw_image_gc_layers <<<"$m")"
awk '/^thaw_image_gc_objects_removed_total / {exit !($2 >= 1)}' <<<"$m" || fail "metrics: objects removed"
grep -q '^thaw_image_gc_runs_total [1-9]' <<<"$m" || fail "metrics: no gc run"

log "phase at ${SECONDS}s"
# ---- B ends: its snapshots stay within the retention ----
SB=$(expect 201 POST "/v1/sessions/$B/snapshots" '{}' | jq -r .id)
layer "$SB" || fail "snapshot $SB is not in the store"
expect 200 DELETE "/v1/sessions/$B" >/dev/null
wait_state "$B" removed
PB=$(session_field "$B" pre_exit_snapshot)
layer "$PB" || fail "pre-exit snapshot of B ($PB) is not in the store"
runs=$(gc_runs)
wait_until 30 bash -c "[ \$(curl -s --unix-socket '$SOCK' http://thawd/metrics | awk '/^thaw_image_gc_runs_total / {print \$2}') -ge $((runs + 2)) ]" ||
  fail "no two gc passes after B ended"
for l in "$I1" "$SB" "$PB" "$I3"; do layer "$l" || fail "layer $l was removed within the retention"; done
"$THAWSNAP" check --store "$STORE" "$SB" >/dev/null || fail "the chain of snapshot $SB is not complete"

log "phase at ${SECONDS}s"
# ---- a live session keeps a snapshot past the retention ----
Cs=$(new_session gc Cat cat@example.com "\"from_snapshot\":\"$SB\"")
CM=$(session_field "$Cs" mount)
[ "$(cat "$CM/bob.txt")" = from-bob ] || fail "session from snapshot $SB does not show bob.txt"
# A ends too: image 1 is now used only through the chain of SB (session C)
expect 200 DELETE "/v1/sessions/$A" >/dev/null
wait_state "$A" removed
PA=$(session_field "$A" pre_exit_snapshot)
# PB and PA (retention 20 s: long enough for a slow ASan run to restore SB first; nobody uses them) go; SB (session C) and its image 1 stay
wait_until 40 bash -c "! [ -d '$STORE/layers/$PB' ] && ! [ -d '$STORE/layers/$PA' ]" ||
  fail "expired pre-exit snapshots $PB $PA were not removed"
for l in "$SB" "$I1" "$I3"; do layer "$l" || fail "layer $l was removed while in use"; done
[ "$(git hash-object "$CM/state.bin")" = "$C1" ] || fail "session C does not read image 1's state.bin"

log "phase at ${SECONDS}s"
# ---- sessions end: after the retention their whole chains go ----
expect 200 DELETE "/v1/sessions/$Cs" >/dev/null
wait_state "$Cs" removed
wait_until 45 bash -c "! [ -d '$STORE/layers/$I1' ] && ! [ -d '$STORE/layers/$SB' ]" ||
  fail "the chains of ended sessions were not removed: $(ls "$STORE/layers")"
wait_until 20 bash -c "! [ -f '$STORE/objects/${C1:0:2}/${C1:2}' ]" ||
  fail "the object of image 1 is still there"
layer "$I3" && obj "$C3" || fail "the current image was removed"
"$THAWSNAP" check --store "$STORE" "$I3" >/dev/null || fail "the current image is incomplete"
log "phase at ${SECONDS}s"
stop_thawd
log "ok"
