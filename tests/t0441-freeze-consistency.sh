#!/usr/bin/env bash
# Freeze during heavy concurrent writes is a consistent point: each writer's
# stream in the layer is a whole-record prefix; every record acknowledged
# before the freeze started is in it; every record not in it was
# acknowledged only after the gate reopened (it was parked); writers go on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 200 --seed 5 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
W=$T/ws
mkdir "$W/streams"
NW=4

# writer N: appends "wN SEQ" records; after each append returns, logs
# "SEQ MICROSECONDS" (wall clock) outside the workspace.
writer() {
  local n=$1 i=0 t
  while [ ! -e "$T/stop" ]; do
    printf 'w%d %08d\n' "$n" "$i" >> "$W/streams/s$n" || { echo "write failed at $i" > "$T/err.$n"; return 1; }
    t=$EPOCHREALTIME
    echo "$i ${t/./}" >> "$T/ack.$n"
    i=$((i + 1))
  done
}
WPIDS=()
for n in $(seq 1 $NW); do
  writer "$n" &
  WPIDS+=($!)
  PIDS+=($!)
done
# Let every writer get going.
wait_until 30 bash -c "for n in \$(seq 1 $NW); do [ \$(wc -l < '$T/ack.'\$n 2>/dev/null || echo 0) -ge 50 ] || exit 1; done" ||
  fail "writers did not start"

out=$(fz_freeze ws) || fail "freeze during writes failed"
id=$(jq -r .id <<<"$out")
started=$(jq -r .started_us <<<"$out")
thawed=$(jq -r .thaw_us <<<"$out")
[ "$thawed" -gt "$started" ] || fail "freeze reported no thaw time: $out"
log "freeze: $(jq -c '{ms,park_ms,pack_ms,files}' <<<"$out")"

# Writers continue after the thaw.
for n in $(seq 1 $NW); do
  before=$(wc -l < "$T/ack.$n")
  wait_until 30 bash -c "[ \$(wc -l < '$T/ack.$n') -gt $((before + 20)) ]" || fail "writer $n stuck after thaw"
done
touch "$T/stop"
for n in $(seq 1 $NW); do wait "${WPIDS[$n - 1]}" 2>/dev/null || true; done
for n in $(seq 1 $NW); do [ ! -e "$T/err.$n" ] || fail "writer $n: $(cat "$T/err.$n")"; done

fz_restore "$id" r "$repo"
for n in $(seq 1 $NW); do
  s=$T/r/streams/s$n
  [ -f "$s" ] || fail "stream $n missing from the layer"
  k=$(wc -l < "$s")
  # A whole-record prefix of the writer's stream.
  awk -v n="$n" '{ if ($0 != sprintf("w%d %08d", n, NR - 1)) { print "record " NR ": " $0; exit 1 } }' "$s" ||
    fail "stream $n in the layer is not a clean prefix"
  [ "$(tail -c 1 "$s" | od -An -c | tr -d ' ')" = '\n' ] || fail "stream $n ends in a torn record"
  # Every record acknowledged before the freeze started is in the layer.
  late=$(awk -v k="$k" -v s="$started" '$2 < s && $1 >= k { print; exit }' "$T/ack.$n")
  [ -z "$late" ] || fail "stream $n: record acknowledged before the freeze missing from the layer (k=$k): $late"
  # Every record not in the layer was acknowledged after the gate reopened.
  early=$(awk -v k="$k" -v t="$thawed" '$1 >= k && $2 < t { print; exit }' "$T/ack.$n")
  [ -z "$early" ] || fail "stream $n: record acknowledged while frozen is not in the layer (k=$k, thaw $thawed): $early"
  # The layer is a prefix of what the workspace holds now.
  head -n "$k" "$W/streams/s$n" | cmp -s - "$s" || fail "stream $n: layer is not a prefix of the workspace's stream"
  total=$(wc -l < "$W/streams/s$n")
  [ "$total" -gt "$k" ] || fail "stream $n did not grow after the freeze"
  log "writer $n: $k records in the layer, $total in the end"
done
unmount_ws r
unmount_ws ws
