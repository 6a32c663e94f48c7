#!/usr/bin/env bash
# The write gate during a slow sync: 64 writers are parked (holding no
# worker thread) while readers keep reading; an interrupted writer is
# dropped; after the sync every parked write lands, in order, on the new
# tree. Then the failure policies: open (writes proceed on the stale base)
# and readonly (EROFS).
. "$(dirname "$0")/lib.sh"
require_fuse

origin=$(gen origin.git --files 1500 --seed 81 --commits 1 --bare)
git clone -q --bare "$origin" "$T/image.git"
"$GENREPO" --advance "$origin" --commits 1 --changes 20 --seed 82 --quiet >/dev/null
new=$(git -C "$origin" rev-parse main)

# git daemon on loopback, behind a relay that holds each connection 8 s.
# git daemon cannot report an ephemeral port: pick one (it fails if taken).
port=$(( (RANDOM % 20000) + 30000 ))
git daemon --reuseaddr --listen=127.0.0.1 --port=$port --export-all --base-path="$T" \
  --pid-file="$T/daemon.pid" "$T" &
PIDS+=($!)
wait_until 10 git ls-remote "git://127.0.0.1:$port/origin.git" >/dev/null 2>&1 || fail "git daemon did not start"
"$TOOLS/slowproxy" --to $port --delay-ms 8000 --port-file "$T/proxy.port" &
PIDS+=($!)
wait_until 10 test -s "$T/proxy.port" || fail "relay did not start"
pport=$(cat "$T/proxy.port")

mount_ws ws --repo "$T/image.git" --commit main --upper "$T/upper" \
  --remote "git://127.0.0.1:$pport/origin.git" --branch main --threads 8
W=$T/ws
[ "$(ctl "$T/ws.sock" status | jq -r .gate.state)" = syncing ] ||
  fail "gate not closed while syncing: $(ctl "$T/ws.sock" status | jq -c '{gate, sync}')"

# 64 writers on 64 existing files (creates in one directory would queue in
# the kernel on the directory's lock, not at our gate): more writers than the
# 8 worker threads, so a parked request must not hold one.
git -C "$T/image.git" ls-tree -r --name-only main > "$T/all"
grep '\.c$' "$T/all" | sed -n '1,64p' > "$T/targets"
[ "$(wc -l < "$T/targets")" = 64 ] || fail "fixture: fewer than 64 .c files"
i=0
while IFS= read -r f; do
  i=$((i + 1))
  ( echo "writer $i" >> "$W/$f" ) & WRITERS+=($!)
done < "$T/targets"
wait_until 10 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .gate.parked)\" -ge 64 ]" ||
  fail "writers not parked: $(ctl "$T/ws.sock" status | jq -c .gate)"
# Readers keep reading at full speed while 64 writers wait.
start=$(date +%s%N)
find "$W/src" -type f > "$T/readlist"
sed -n '1,300p' "$T/readlist" | xargs cat > /dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
log "300 files read in $ms ms with 64 writers parked"
[ "$ms" -lt 3000 ] || fail "reads stalled behind parked writers ($ms ms)"
[ "$(ctl "$T/ws.sock" status | jq -r .gate.state)" = syncing ] || fail "sync finished too early for the test"
# An interrupted parked writer is dropped with EINTR.
timeout -s INT 0.5 touch "$W/interrupted" 2>/dev/null && fail "interrupted writer succeeded"
wait_until 10 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .gate.interrupted_total)\" -ge 1 ]" ||
  fail "interrupt not counted"
# The sync lands; every parked writer completes, on the new tree.
for p in "${WRITERS[@]}"; do wait "$p" || fail "a parked writer failed"; done
[ "$(ctl "$T/ws.sock" status | jq -r .sync.synced_commit)" = "$new" ] || fail "writers returned before the sync"
i=0
while IFS= read -r f; do
  i=$((i + 1))
  if git -C "$origin" cat-file -e "main:$f" 2>/dev/null; then
    { git -C "$origin" show "main:$f"; echo "writer $i"; } | cmp - "$W/$f" || fail "$f: the parked append did not land on the new version"
  else
    [ ! -e "$W/$f" ] || fail "$f: deleted by the sync, brought back by a parked write"
  fi
done < "$T/targets"
[ ! -e "$W/interrupted" ] || fail "the interrupted create happened"
[ "$(git -C "$W" rev-parse HEAD)" = "$new" ] || fail "HEAD"
unmount_ws ws

# Failure policies: an unreachable remote.
mount_ws open --repo "$T/image.git" --commit main --upper "$T/up-open" --remote "$T/nowhere.git" --branch main \
  --sync-timeout 1
echo stale-ok > "$T/open/written" || fail "open policy: write failed"
st=$(ctl "$T/open.sock" status)
[ "$(echo "$st" | jq -r .gate.state)" = sync-failed ] || fail "open policy state: $(echo "$st" | jq -c .gate)"
echo "$st" | jq -r .sync.last_error | grep -q nowhere || fail "last_error: $(echo "$st" | jq -r .sync.last_error)"
unmount_ws open
mount_ws ro --repo "$T/image.git" --commit main --upper "$T/up-ro" --remote "$T/nowhere.git" --branch main \
  --sync-timeout 1 --on-sync-failure readonly
if out=$(echo x 2>&1 > "$T/ro/written"); then fail "readonly policy: write succeeded"; fi
echo "$out" | grep -q "Read-only file system" || fail "readonly policy: $out"
[ "$(ctl "$T/ro.sock" status | jq -r .gate.state)" = readonly ] || fail "readonly state"
cat "$T/ro/cproject/Makefile" > /dev/null || fail "reads under the readonly policy"
unmount_ws ro

# A remote that hangs (the relay holds the connection for minutes): the
# policy still applies at --sync-timeout, writes proceed on the stale base.
"$TOOLS/slowproxy" --to $port --delay-ms 600000 --port-file "$T/hang.port" &
hang=$!
PIDS+=($hang)
wait_until 10 test -s "$T/hang.port" || fail "relay did not start"
mount_ws hang --repo "$T/image.git" --commit main --upper "$T/up-hang" \
  --remote "git://127.0.0.1:$(cat "$T/hang.port")/origin.git" --branch main --sync-timeout 1
start=$SECONDS
echo written > "$T/hang/stale-write" || fail "write under a hanging remote"
[ $((SECONDS - start)) -le 10 ] || fail "the policy took $((SECONDS - start)) s with --sync-timeout 1"
[ "$(ctl "$T/hang.sock" status | jq -r .gate.state)" = sync-failed ] || fail "hanging remote: gate state"
kill "$hang"   # the fetch fails now, so the daemon can stop
unmount_ws hang

