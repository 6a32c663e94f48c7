#!/bin/bash
# Warm pools in a real thawd: a claim from a warm pool returns a mounted,
# synced, writable workspace at once with the session's git identity; the
# pool refills after it; an empty pool falls back to a cold mount and counts
# it; POST /v1/warm holds an entry for the right user; bad input.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
. "$(dirname "$0")/lib_pool.sh"
require_fuse

ORIGIN=$(gen origin.git --files 400 --bare)
start_thawd

# ---- bad pool settings ----
expect 400 POST /v1/repos "{\"name\":\"bad\",\"url\":\"$ORIGIN\",\"pool_min\":5,\"pool_max\":2}" |
  jq -e '.code == "bad_request"' >/dev/null
expect 400 POST /v1/repos "{\"name\":\"bad\",\"url\":\"$ORIGIN\",\"pool_max\":\"3\"}" >/dev/null
expect 400 POST /v1/repos "{\"name\":\"bad\",\"url\":\"$ORIGIN\",\"pool_spare\":-1}" >/dev/null
expect 400 POST /v1/repos "{\"name\":\"bad\",\"url\":\"$ORIGIN\",\"pool_max\":100000}" >/dev/null

# ---- a pool of two idle entries (min 1, spare 2) ----
add_pool_repo demo "$ORIGIN" '"pool_min":1,"pool_max":8,"pool_spare":2'
wait_pool demo '.ready == 2 and .creating == 0' 90
api GET /v1/pools | jq -e '.[] | select(.repo == "demo") | .enabled and .min == 1 and .max == 8 and .spare == 2
  and .desired == 2 and .claimed == 0 and .cold_fallbacks == 0 and .refill_p50_ms > 0' >/dev/null ||
  fail "pool fields: $(api GET /v1/pools)"
# every ready entry is mounted and synced
for m in "$ST"/pool/demo/e*/mnt; do is_mounted "$m" || fail "$m is not mounted"; done
[ "$(ls -d "$ST"/pool/demo/e*/entry.json | wc -l)" = 2 ] || fail "expected two ready entries"

# ---- claim: warm, writable, fast ----
t0=$(now_ms)
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Ann Example","email":"ann@example.com"}}')
t1=$(now_ms)
sid=$(jq -r .id <<<"$out")
jq -e '.pool == "warm" and .state == "writable"' <<<"$out" >/dev/null || fail "not a warm writable session: $out"
log "warm POST /v1/sessions took $((t1 - t0)) ms"
[ $((t1 - t0)) -lt 1500 ] || fail "a warm claim took $((t1 - t0)) ms"
mnt=$(jq -r .mount <<<"$out")
case "$mnt" in "$ST"/pool/demo/e*) ;; *) fail "warm session mount $mnt is not a pool entry" ;; esac
cmp -s "$mnt/$DEEP" <(git --git-dir="$ORIGIN" show "main:$DEEP") || fail "deep file differs from the origin"
echo hello >"$mnt/new-file" || fail "cannot write to a warm session"
[ "$(cat "$mnt/new-file")" = hello ] || fail "write not visible"
# the session's identity is bound at claim time
wait_until 10 grep -q 'email = ann@example.com' "$mnt/.git/config" || fail "no author in .git/config"
[ "$(git -C "$mnt" config user.name)" = "Ann Example" ] || fail "git user.name is not the author's"

# ---- refill: one in use + spare 2 -> two idle again ----
wait_pool demo '.ready == 2 and .claimed == 1 and .created == 3 and .claims_warm == 1' 90

# ---- warm-up holds an entry for its user ----
expect 400 POST /v1/warm '{"repo":"demo"}' >/dev/null
expect 400 POST /v1/warm '{"repo":"demo","user":""}' >/dev/null
expect 400 POST /v1/warm '{"repo":"../x","user":"a@x"}' >/dev/null
expect 404 POST /v1/warm '{"repo":"nope","user":"a@x"}' >/dev/null
before=$(now_ms)
w=$(expect 202 POST /v1/warm '{"repo":"demo","user":{"name":"Bob","email":"bob@example.com"}}')
jq -e '.repo == "demo" and .user == "bob@example.com" and (.entry | type) == "number"' <<<"$w" >/dev/null ||
  fail "warm answer: $w"
held=$(jq -r .entry <<<"$w")
until=$(jq -r .held_until_ms <<<"$w")
[ "$until" -gt $((before + 30000)) ] || fail "held_until_ms $until is not about a minute ahead"
# warming again extends the same hold
w2=$(expect 202 POST /v1/warm '{"repo":"demo","user":"Bob <bob@example.com>"}')
[ "$(jq -r .entry <<<"$w2")" = "$held" ] || fail "a second warm moved the hold: $w2"
wait_pool demo '.held == 1'
# the hold is demand: another idle entry is made beside it
wait_pool demo '.held == 1 and .ready == 2' 90
# Carol does not get Bob's entry
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Carol","email":"carol@example.com"}}')
case "$(jq -r .mount <<<"$out")" in */e"$held"-*) fail "Carol got Bob's held entry" ;; esac
# Bob does
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Bob","email":"bob@example.com"}}')
jq -e '.pool == "warm"' <<<"$out" >/dev/null || fail "Bob's session is not warm"
case "$(jq -r .mount <<<"$out")" in */e"$held"-*) ;; *) fail "Bob did not get his held entry: $out" ;; esac
wait_pool demo '.claims_held == 1 and .held == 0 and .claimed == 3'

# ---- cold fallback: a pool that keeps nothing idle ----
add_pool_repo lean "$ORIGIN" '"pool_min":0,"pool_max":4,"pool_spare":0'
wait_pool lean '.enabled and .ready == 0'
out=$(expect 201 POST /v1/sessions '{"repo":"lean","author":{"name":"Dan","email":"dan@example.com"}}')
jq -e '.pool == "cold"' <<<"$out" >/dev/null || fail "expected a cold session: $out"
wait_pool lean '.cold_fallbacks == 1 and .claims == 1 and .claims_warm == 0'
dsid=$(jq -r .id <<<"$out")
wait_state "$dsid" writable
echo x >"$(jq -r .mount <<<"$out")/f" || fail "cold session not writable"

# a repository without pool settings has no pool: warm is a conflict
add_repo plain "$ORIGIN"
expect 409 POST /v1/warm '{"repo":"plain","user":"a@x"}' | jq -e '.code == "conflict"' >/dev/null
out=$(expect 201 POST /v1/sessions '{"repo":"plain","author":{"name":"E","email":"e@example.com"}}')
jq -e '.pool == "cold"' <<<"$out" >/dev/null || fail "plain repository session should be cold"

# ---- events ----
curl -s --max-time 3 --unix-socket "$SOCK" "http://thawd/v1/events?since=0" >"$T/events" || true
grep -q '"phase":"claim"' "$T/events" || fail "no pool claim event"
grep -q '"phase":"cold-fallback"' "$T/events" || fail "no cold-fallback event"

# ---- deleting a warm session: its entry directory goes too, unless the
# pre-exit snapshot failed (then the daemon keeps the upper: never lost) ----
out=$(expect 200 DELETE "/v1/sessions/$sid")
jq -e '.state == "removed"' <<<"$out" >/dev/null || fail "not removed: $out"
if [ "$(jq -r .pre_exit_snapshot <<<"$out")" != null ]; then
  wait_until 40 bash -c "[ ! -e '$(dirname "$mnt")' ]" || fail "the ended session's entry $(dirname "$mnt") was never removed"
else
  log "pre-exit snapshot failed (not the pool's): the upper must stay"
  sleep 12 # one scan of the pool directories
  [ -f "$(dirname "$mnt")/upper/new-file" ] || fail "the pool removed an upper the daemon kept"
fi
log "ok"
