#!/usr/bin/env bash
# 10,000 seeded random operations on the workspace and on a plain directory
# in lockstep: same result for every operation, identical trees after every
# batch of 250, a remount of the same upper in the middle; then 5,000 more
# with a sync to a new base landing in the middle of the run.
. "$(dirname "$0")/lib.sh"
require_fuse

mkdir -p "$T/src"
( cd "$T/src"
  mkdir -p a/b sub x/y/z
  for f in a/f.txt a/b/g.c sub/h x/y/z/eee c dd; do head -c $((RANDOM % 20000 + 1)) /dev/urandom | base64 > "$f"; done
  ln -s a/f.txt x/lnk
  chmod 755 c )
git -C "$T/src" init -q && git -C "$T/src" add -A && git -C "$T/src" commit -qm base
mkdir -p "$T/ref"
git -C "$T/src" -c tar.umask=022 archive HEAD | tar -x -C "$T/ref"

mount_ws ws --repo "$T/src" --commit HEAD --upper "$T/upper"
for seed in ${RANDOPS_SEEDS:-1 2}; do
  "$TOOLS/randops" --seed $seed --ops 5000 --batch 250 "$T/ws" "$T/ref" || fail "random operations, seed $seed"
  # Remount the same upper: the workspace is the same.
  unmount_ws ws
  mount_ws ws --repo "$T/src" --commit HEAD --upper "$T/upper"
  "$TOOLS/randops" --seed 99 --ops 0 --batch 1 "$T/ws" "$T/ref" || fail "workspace differs after remount (seed $seed)"
done
unmount_ws ws

# A sync lands in the middle: the base branch gains files (under a name the
# random operations never make), the workspace syncs to it, and the same
# files appear in the reference.
cat > "$T/hook.sh" <<HOOK
set -e
mkdir -p "$T/src/fromsync"
for i in 1 2 3 4 5; do echo "synced \$i" > "$T/src/fromsync/f\$i"; done
git -C "$T/src" add fromsync && git -C "$T/src" commit -qm "upstream change"
cp -r "$T/src/fromsync" "$T/ref/fromsync"
new=\$(git -C "$T/src" rev-parse HEAD)
"$THAWCTL" "$T/ws.sock" sync > /dev/null
for n in \$(seq 1 500); do
  st=\$("$THAWCTL" "$T/ws.sock" status)
  [ "\$(echo "\$st" | jq -r .sync.synced_commit)" = "\$new" ] && [ "\$(echo "\$st" | jq -r .gate.state)" = open ] && exit 0
  sleep 0.02
done
exit 1
HOOK
mount_ws ws --repo "$T/src" --commit HEAD --upper "$T/upper" --remote "$T/src" --branch main
wait_until 30 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .gate.state)\" = open ]" || fail "initial sync"
"$TOOLS/randops" --seed 3 --ops 5000 --batch 250 --hook-at 2500 --hook "bash $T/hook.sh" "$T/ws" "$T/ref" ||
  fail "random operations with a sync in the middle"
[ "$(ctl "$T/ws.sock" status | jq -r .sync.synced_commit)" = "$(git -C "$T/src" rev-parse HEAD)" ] || fail "the sync in the middle did not land"
unmount_ws ws
