#!/usr/bin/env bash
# Background sync: reads are served at once from the mounted commit; the
# base branch is fetched and the tree swapped to its tip; then HEAD, the
# index and the branch point at the tip, git status is clean and hydrates
# nothing, paths keep their inode numbers, and writes land on the new tree.
. "$(dirname "$0")/lib.sh"
require_fuse

origin=$(gen origin.git --files 2000 --seed 71 --commits 2 --bare)
git clone -q --bare "$origin" "$T/image.git"
old=$(git -C "$origin" rev-parse main)
"$GENREPO" --advance "$origin" --commits 2 --changes 40 --seed 72 --quiet >/dev/null
new=$(git -C "$origin" rev-parse main)
[ "$old" != "$new" ] || fail "origin did not move"
changed=$(git -C "$origin" diff --name-only "$old" "$new" | grep -v '^src/core/engine/detail/impl/deep_file.c$' | head -1)
unchanged=cproject/Makefile
git -C "$origin" diff --quiet "$old" "$new" -- "$unchanged" || fail "fixture: $unchanged changed"

mount_ws ws --repo "$T/image.git" --commit main --upper "$T/upper" --remote "$origin"
W=$T/ws
# Reads are served at once, from the old tree (the sync may already be done).
ino_unchanged=$(stat -c %i "$W/$unchanged")
wait_until 60 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .sync.synced_commit)\" = $new ]" ||
  fail "sync did not land: $(ctl "$T/ws.sock" status | jq -c .sync)"
[ "$(ctl "$T/ws.sock" status | jq -r .gate.state)" = open ] || fail "gate not open after sync"
[ "$(stat -c %i "$W/$unchanged")" = "$ino_unchanged" ] || fail "inode of an unchanged path changed across sync"

# The workspace is the new tip, exactly.
mkdir -p "$T/ref"
git -C "$origin" -c tar.umask=022 archive main | tar -x -C "$T/ref"
diff <(tree_listing "$T/ref") <(tree_listing "$W") || fail "tree after sync differs from the tip"
diff -r --no-dereference -x .git "$T/ref" "$W" > /dev/null || fail "contents after sync differ from the tip"
wait_dotgit ws
[ "$(git -C "$W" rev-parse HEAD)" = "$new" ] || fail "HEAD not at the tip"
[ "$(git -C "$W" rev-parse refs/heads/main)" = "$new" ] || fail "branch not at the tip"
h0=$(counter "$T/ws.sock" hydrations)
[ -z "$(git -C "$W" status --porcelain)" ] || fail "git status not clean after sync: $(git -C "$W" status --porcelain | head -3)"
[ "$(counter "$T/ws.sock" hydrations)" = "$h0" ] || fail "git status after sync hydrated files"

# Writes land on the new tree.
printf 'agent line\n' >> "$W/$changed"
{ git -C "$origin" show "main:$changed"; printf 'agent line\n'; } | cmp - "$W/$changed" || fail "append did not land on the new version"
git -C "$W" status --porcelain | grep -q " M $changed" || fail "the change is not reported"

# A second sync that finds nothing new keeps everything.
ctl "$T/ws.sock" sync > /dev/null
wait_until 30 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .sync.running)\" = false ]" || fail "second sync"
{ git -C "$origin" show "main:$changed"; printf 'agent line\n'; } | cmp - "$W/$changed" || fail "second sync lost a write"

# The origin moves again while mounted: sync on request swaps again, and the
# upper layer's version of a changed path wins.
"$GENREPO" --advance "$origin" --commits 1 --changes 30 --seed 73 --quiet >/dev/null
newer=$(git -C "$origin" rev-parse main)
ctl "$T/ws.sock" sync > /dev/null
wait_until 60 bash -c "[ \"\$('$THAWCTL' '$T/ws.sock' status | jq -r .sync.synced_commit)\" = $newer ]" || fail "resync"
{ git -C "$origin" show "$new:$changed"; printf 'agent line\n'; } | cmp - "$W/$changed" || fail "the upper's version was replaced by the sync"
for f in $(git -C "$origin" diff --name-only --diff-filter=AM "$new" "$newer" | grep -vx "$changed" | head -20); do
  git -C "$origin" show "main:$f" | cmp - "$W/$f" || fail "$f not at the newest version"
done
unmount_ws ws
