#!/usr/bin/env bash
# The control socket of a writable workspace: status, freeze (mutations
# parked until thaw, in-flight ones finished, upper flushed), thaw, and a
# subscription to file-change events.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 400 --seed 91 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/upper"
W=$T/ws
st=$(ctl "$T/ws.sock" status)
[ "$(echo "$st" | jq -r .writable)" = true ] || fail "writable"
[ "$(echo "$st" | jq -r .gate.state)" = open ] || fail "gate state: $(echo "$st" | jq -c .gate)"
[ "$(echo "$st" | jq -r .sync.writes_ready)" -gt 0 ] || fail "writes_ready timestamp"
[ "$(echo "$st" | jq -r .sync.reads_ready)" -gt 0 ] || fail "reads_ready timestamp"
ctl "$T/ws.sock" '{"cmd":"nope"}' > "$T/bad" && fail "unknown command accepted"
grep -q '"ok":false' "$T/bad" || fail "unknown command: $(cat "$T/bad")"
ctl "$T/ws.sock" sync > "$T/bad" && fail "sync without --remote accepted"

# Events: every change with its path and operation.
"$THAWCTL" --follow --timeout 20 "$T/ws.sock" subscribe > "$T/events" &
PIDS+=($!)
wait_until 10 grep -q subscribed "$T/events" || fail "subscribe"
mkdir "$W/newdir"
echo hello > "$W/newdir/a.txt"
mv "$W/newdir/a.txt" "$W/newdir/b.txt"
echo more >> "$W/cproject/main.c"
rm "$W/cproject/util.h"
for want in '"op":"mkdir","path":"newdir"' '"op":"create","path":"newdir/a.txt"' \
            '"op":"rename-to","path":"newdir/b.txt"' '"op":"write","path":"cproject/main.c"' \
            '"op":"unlink","path":"cproject/util.h"'; do
  wait_until 10 grep -qF "$want" "$T/events" || { cat "$T/events" >&2; fail "event $want missing"; }
done
seqs=$(grep -o '"seq":[0-9]*' "$T/events" | cut -d: -f2)
[ "$(echo "$seqs" | sort -n)" = "$seqs" ] || fail "event sequence numbers out of order"

# Freeze: mutations wait, reads go on; thaw releases them in order.
ctl "$T/ws.sock" freeze | jq -e '.gate.state == "frozen"' > /dev/null || fail "freeze"
( echo frozen-write >> "$W/cproject/Makefile" ) & writer=$!
wait_until 10 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .gate.parked)\" -ge 1 ]" || fail "write not parked while frozen"
cat "$W/cproject/main.c" > /dev/null || fail "read while frozen"
kill -0 $writer 2>/dev/null || fail "the writer finished while frozen"
grep -q frozen-write "$T/upper/cproject/Makefile" 2>/dev/null && fail "write reached the upper while frozen"
ctl "$T/ws.sock" thaw | jq -e '.gate.state == "open"' > /dev/null || fail "thaw"
wait $writer || fail "the parked writer failed"
tail -1 "$W/cproject/Makefile" | grep -q frozen-write || fail "the parked write is missing"
unmount_ws ws
