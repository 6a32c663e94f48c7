#!/usr/bin/env bash
# Restore with --remote/--branch: the restored workspace shows the snapshot
# at once, then syncs to the advanced origin's tip: files the origin changed
# take the tip's content, the snapshot's own changes stay on top, and the
# restore metadata (commit) is the snapshot's synced commit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

origin=$(gen origin.git --files 400 --seed 41 --commits 2 --bare)
git clone -q --bare "$origin" "$T/mirror.git"
old=$(git -C "$origin" rev-parse main)

mount_ws ws --repo "$T/mirror.git" --commit main --upper "$T/ws.up"
echo "session work" > "$T/ws/session.txt"
mine=$(git -C "$origin" ls-tree -r --name-only main | awk '/\.md$/ && !n {print; n=1}')
echo "session edit" >> "$T/ws/$mine"
id=$(fz_freeze ws | jq -r .id)
unmount_ws ws
[ "$(fz_meta "$id" synced_commit)" = "$old" ] || fail "snapshot's synced commit is not the mounted one"

"$GENREPO" --advance "$origin" --commits 1 --changes 30 --seed 42 --quiet >/dev/null
new=$(git -C "$origin" rev-parse main)
changed=$(git -C "$origin" diff --name-only --diff-filter=M "$old" "$new" | grep -vx "$mine" | sed -n 1p)
[ -n "$changed" ] || fail "fixture: the advance changed no file"

fz_restore "$id" r "$T/mirror.git" --remote "$origin" --branch main
wait_until 60 bash -c "[ \"\$('$THAWCTL' '$T/r.sock' status | jq -r .sync.synced_commit)\" = $new ]" ||
  fail "restored workspace did not sync: $(ctl "$T/r.sock" status | jq -c .sync)"
[ "$(cat "$T/r/session.txt")" = "session work" ] || fail "the snapshot's new file is gone after the sync"
tail -1 "$T/r/$mine" | grep -qx "session edit" || fail "the snapshot's edit is gone after the sync"
git -C "$origin" show "main:$changed" | cmp -s - "$T/r/$changed" || fail "$changed does not show the tip's content"
echo "after" > "$T/r/after.txt" || fail "restored workspace not writable after the sync"
unmount_ws r
