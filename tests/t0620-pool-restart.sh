#!/bin/bash
# Warm pools across thawd restarts, and prefetch traces: a session's first
# changes become the repository's prefetch list, new pool entries read those
# files ahead of time; after SIGTERM and after kill -9 the next thawd adopts
# the ready entries (same mounts, nothing rebuilt), keeps the prefetch list,
# and replaces an entry whose thawfs died.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
. "$(dirname "$0")/lib_pool.sh"
require_fuse

ORIGIN=$(gen origin.git --files 300 --bare)
start_thawd
add_pool_repo demo "$ORIGIN" '"pool_min":1,"pool_max":8,"pool_spare":2,"pool_trace_window_s":1'
wait_pool demo '.ready == 2 and .creating == 0' 90

# ---- a session's first changes become the prefetch list ----
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Ann","email":"ann@example.com"}}')
SID=$(jq -r .id <<<"$out")
MNT=$(jq -r .mount <<<"$out")
echo "// touched" >>"$MNT/$DEEP"
echo note >"$MNT/notes.txt"
wait_pool demo '.prefetch.sessions == 1 and .prefetch.plan_files == 2 and .prefetch.plan_bytes > 0' 30
[ -s "$ST/pool/demo/prefetch" ] || fail "prefetch table not saved"
grep -q "	$DEEP\$" "$ST/pool/demo/prefetch" || fail "deep file not in the prefetch table: $(cat "$ST/pool/demo/prefetch")"
# entries made from now on read the list: claim one so a new one is made
expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Bob","email":"bob@example.com"}}' >/dev/null
wait_pool demo '.ready == 2 and .creating == 0 and .prefetch.hydrated_files >= 1' 90
newest=$(ls -td "$ST"/pool/demo/e*/ | head -1)
reads=$("$THAWCTL" "$newest/ctl.sock" status | jq -r .counters.reads)
[ "$reads" -ge 1 ] || fail "the newest entry read nothing ahead ($reads reads)"

# ---- SIGTERM: the ready entries are adopted, not rebuilt ----
READY=$(for f in "$ST"/pool/demo/e*/entry.json; do dirname "$f"; done | sort)
[ "$(wc -w <<<"$READY")" = 2 ] || fail "expected two ready entries: $READY"
stop_thawd
for d in $READY; do is_mounted "$d/mnt" || fail "$d was unmounted by a thawd stop"; done
start_thawd
wait_pool demo '.ready == 2 and .created == 0 and .claimed == 2' 30
[ "$(pool_field demo .prefetch.plan_files)" = 2 ] || fail "prefetch list lost across the restart"
now=$(for f in "$ST"/pool/demo/e*/entry.json; do dirname "$f"; done | sort)
[ "$now" = "$READY" ] || fail "entries changed across the restart: $READY -> $now"
wait_state "$SID" writable
[ "$(tail -1 "$MNT/$DEEP")" = "// touched" ] || fail "session lost its change across the restart"
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Cy","email":"cy@example.com"}}')
jq -e '.pool == "warm" and .state == "writable"' <<<"$out" >/dev/null || fail "no warm claim after restart: $out"
c=$(jq -r .mount <<<"$out")
grep -qx "$(dirname "$c")" <<<"$READY" || fail "claim after restart did not use an adopted entry: $c"
echo ok >"$c/after-restart" || fail "adopted entry not writable"
wait_pool demo '.ready == 2 and .creating == 0' 90

# ---- kill -9 of thawd, and one entry's thawfs dies meanwhile ----
READY=$(for f in "$ST"/pool/demo/e*/entry.json; do dirname "$f"; done | sort)
victim=$(head -1 <<<"$READY")
vpid=$("$THAWCTL" "$victim/ctl.sock" status | jq -r .pid)
kill9_thawd
fusermount3 -u "$victim/mnt"
wait_until 20 bash -c "! kill -0 $vpid 2>/dev/null" || fail "thawfs $vpid did not exit"
start_thawd
wait_pool demo '.ready == 2 and .creating == 0 and .created == 1' 90
wait_until 30 bash -c "[ ! -e '$victim' ]" || fail "the dead entry $victim was not removed"
survivor=$(tail -1 <<<"$READY")
[ -f "$survivor/entry.json" ] && is_mounted "$survivor/mnt" || fail "the live entry $survivor was not adopted"
log ok
