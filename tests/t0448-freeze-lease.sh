#!/usr/bin/env bash
# A freeze leased to its connection ({"cmd":"freeze","lease_ms":N}, fs/fs.h)
# never leaves writes parked for good: a freezer killed with SIGKILL (the
# connection closes) reopens the gate at once, a hung one (SIGSTOP) when its
# lease runs out, and thaw-snapshot freeze uses a lease. A plain freeze keeps
# its old meaning (frozen until a thaw), and bad lease values are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 100 --seed 8 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
W=$T/ws S=$T/ws.sock
gate() { ctl "$S" status | jq -r .gate.state; }
parked() { ctl "$S" status | jq -r .gate.parked; }
frozen() { [ "$(gate)" = frozen ]; }
is_open() { [ "$(gate)" = open ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
holds() { [ "$(parked)" -ge 1 ]; }

# holder LEASE_MS: a client that freezes with a lease and keeps its
# connection open (thawfs-ctl --follow); sets HOLDER
holder() {
  "$THAWCTL" --timeout 120 --follow "$S" "{\"cmd\":\"freeze\",\"lease_ms\":$1}" > "$T/holder.out" &
  HOLDER=$!
  PIDS+=("$HOLDER")
  wait_until 20 frozen || fail "the leased freeze did not close the gate"
  grep -q "\"lease_ms\":$1" "$T/holder.out" || fail "freeze answer lacks lease_ms: $(cat "$T/holder.out")"
}
# parked_writer FILE: an append that the gate parks; sets WRITER
parked_writer() {
  (echo "after" >> "$W/$1") &
  WRITER=$!
  PIDS+=("$WRITER")
  wait_until 20 holds || fail "the append was not parked"
  kill -0 "$WRITER" 2>/dev/null || fail "the append finished while frozen"
}

# --- 1. the freezer is killed: the gate reopens when its connection closes
echo before > "$W/a.txt"
holder 600000
[ "$(ctl "$S" status | jq -r '.gate.lease_ms_left')" -gt 500000 ] || fail "status does not show the lease"
parked_writer a.txt
t0=$SECONDS
kill -KILL "$HOLDER"
wait_until 20 gone "$WRITER" || fail "the parked append still waits after the freezer was killed"
[ $((SECONDS - t0)) -lt 20 ] || fail "writes resumed only after $((SECONDS - t0)) s"
is_open || fail "gate $(gate) after the freezer was killed"
[ "$(cat "$W/a.txt")" = "$(printf 'before\nafter')" ] || fail "a.txt: $(cat "$W/a.txt")"
[ "$(ctl "$S" status | jq -r '.gate.lease_ms_left')" = null ] || fail "a lease is left"
grep -q "freeze lease ended (freezer gone)" "$T/ws.log" || fail "the log does not say why the gate reopened"

# --- 2. the freezer hangs: the gate reopens when the lease runs out
holder 1500
kill -STOP "$HOLDER"
parked_writer b.txt
wait_until 30 gone "$WRITER" || fail "the parked append still waits after the lease ran out"
is_open || fail "gate $(gate) after the lease ran out"
grep -q "freeze lease ended (lease expired)" "$T/ws.log" || fail "the log does not say the lease expired"
kill -KILL "$HOLDER"; kill -CONT "$HOLDER" 2>/dev/null || true
wait_until 10 gone "$HOLDER" || fail "holder still alive"
# a renewal on a connection that holds no lease is refused
if ctl "$S" '{"cmd":"freeze","lease_ms":1000,"renew":true}' > "$T/renew.out"; then
  fail "renewal without a lease accepted: $(cat "$T/renew.out")"
fi
grep -q "holds no freeze lease" "$T/renew.out" || fail "renewal refusal: $(cat "$T/renew.out")"
is_open || fail "a refused renewal froze the gate"

# --- 3. bad lease values
for bad in '"abc"' -5 0.5 99999999999; do
  if ctl "$S" "{\"cmd\":\"freeze\",\"lease_ms\":$bad}" > "$T/bad.out"; then
    fail "lease_ms $bad accepted: $(cat "$T/bad.out")"
  fi
  grep -q lease_ms "$T/bad.out" || fail "lease_ms $bad: $(cat "$T/bad.out")"
  is_open || fail "a refused freeze (lease_ms $bad) froze the gate"
done

# --- 4. a plain freeze keeps its meaning: frozen after its connection closed
ctl "$S" freeze > /dev/null || fail "plain freeze failed"
sleep 0.3
frozen || fail "a plain freeze ended with its connection"
ctl "$S" thaw > /dev/null || fail "thaw failed"
is_open || fail "gate $(gate) after thaw"

# --- 5. thaw-snapshot freeze leases its freeze: killed mid-pack, writes resume
# (enough content that the pack takes a while; retried with more if the
# freeze ends before it can be caught frozen)
caught=0
for mib in 48 128 256; do
  rm -rf "$W/big"; mkdir "$W/big"
  for i in $(seq 1 $((mib / 4))); do head -c $((4 << 20)) /dev/urandom > "$W/big/f$i"; done
  rm -rf "$STORE"
  "$THAWSNAP" freeze --store "$STORE" --control "$S" > "$T/fz.out" 2> "$T/fz.err" &
  FZ=$!
  PIDS+=("$FZ")
  if wait_until 30 frozen && kill -STOP "$FZ" 2>/dev/null && frozen; then
    caught=1
    parked_writer c.txt
    kill -KILL "$FZ"; kill -CONT "$FZ" 2>/dev/null || true
    wait_until 20 gone "$WRITER" || fail "the parked append still waits after thaw-snapshot freeze was killed"
    is_open || fail "gate $(gate) after thaw-snapshot freeze was killed"
    [ "$(fz_layers)" = 0 ] || fail "a killed freeze left a layer"
    break
  fi
  kill -CONT "$FZ" 2>/dev/null || true
  wait "$FZ" || true
  is_open || fail "gate $(gate) after a freeze that ran to its end"
done
[ "$caught" = 1 ] || fail "could not catch thaw-snapshot freeze while frozen"
grep -q "freezer gone" "$T/ws.log" || fail "log"
# and a freeze that is not killed still works (the lease is renewed)
out=$(fz_freeze ws) || fail "freeze after the killed one failed"
[ "$(jq -r .files <<<"$out")" -gt 3 ] || fail "freeze: $out"
is_open || fail "gate $(gate) after a freeze"
unmount_ws ws
