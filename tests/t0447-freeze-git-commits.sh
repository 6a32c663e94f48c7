#!/usr/bin/env bash
# A session's local git commits survive freeze + restore: the commit made in
# the workspace (objects, ref, index in the upper's .git) is HEAD of the
# restored workspace, and its status is clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 51 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
W=$T/ws
wait_dotgit ws
f=$(git -C "$repo" ls-tree -r --name-only main | awk '/\.c$/ && !n {print; n=1}')
echo "// session change" >> "$W/$f"
echo "new file" > "$W/added.txt"
git -C "$W" add -A
git -C "$W" commit -q -m "session commit" || fail "git commit in the workspace failed"
head=$(git -C "$W" rev-parse HEAD)
echo "uncommitted" > "$W/dirty.txt"

id=$(fz_freeze ws | jq -r .id) || fail "freeze failed"
unmount_ws ws
fz_restore "$id" r "$repo"
wait_dotgit r
[ "$(git -C "$T/r" rev-parse HEAD)" = "$head" ] || fail "restored HEAD is not the session's commit"
[ "$(git -C "$T/r" log -1 --format=%s)" = "session commit" ] || fail "commit message lost"
git -C "$T/r" show --stat HEAD | grep -q "added.txt" || fail "the commit's tree lost added.txt"
st=$(git -C "$T/r" status --porcelain)
[ "$st" = "?? dirty.txt" ] || fail "restored status is not 'dirty.txt untracked': $st"
unmount_ws r
