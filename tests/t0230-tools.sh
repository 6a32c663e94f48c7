#!/usr/bin/env bash
# Real tools in a writable workspace: git status, diff, add, commit (with
# --git-author), checkout -b, stash, rebase; make of a C project; a tar
# round trip; a remount of the same upper shows the same workspace.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 1500 --seed 51 --commits 3 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/upper" --git-author "Ada Lovelace <ada@thaw.invalid>"
W=$T/ws
wait_dotgit ws
cd "$W"
[ -z "$(git status --porcelain)" ] || fail "fresh workspace not clean"
[ "$(counter "$T/ws.sock" hydrations)" = 0 ] || fail "git status hydrated files"

# Edit, diff, add, commit.
echo "// edited" >> cproject/main.c
echo "new file" > NEWS.txt
git status --porcelain | grep -q '^ M cproject/main.c$' || fail "modified file not reported"
git status --porcelain | grep -q '^?? NEWS.txt$' || fail "untracked file not reported"
git diff | grep -q '^+// edited$' || fail "git diff"
git add -A
git commit -qm "agent change"
[ "$(git log -1 --format='%an <%ae>')" = "Ada Lovelace <ada@thaw.invalid>" ] || fail "author: $(git log -1 --format='%an <%ae>')"
[ -z "$(git status --porcelain)" ] || fail "not clean after commit: $(git status --porcelain | head -3)"
[ "$(git rev-parse HEAD~1)" = "$(git -C "$repo" rev-parse main)" ] || fail "commit parent"
git show --stat HEAD | grep -q NEWS.txt || fail "commit content"

# Branches, stash, rebase.
git checkout -q -b feature
echo "feature work" >> README.md
git commit -qam "feature"
git checkout -q main
echo "main work" > MAIN.txt
git add MAIN.txt && git commit -qm "main"
git checkout -q feature
echo "uncommitted" >> LICENSE
git stash -q
[ -z "$(git status --porcelain)" ] || fail "stash did not clean"
git rebase -q main || fail "rebase"
git stash pop -q
grep -q uncommitted LICENSE || fail "stash pop"
[ -f MAIN.txt ] || fail "rebase did not bring main's file"
[ "$(git log --format=%s -3 | tr '\n' ,)" = "feature,main,agent change," ] || fail "history after rebase: $(git log --format=%s -3 | tr '\n' ,)"
git checkout -q -- LICENSE

# Build the C project in place, in parallel.
make -s -C cproject -j2 >/dev/null || fail "make"
[ -x cproject/hello ] && [ -f cproject/main.o ] || fail "make produced no program"
[ -n "$(cproject/hello)" ] || fail "the program built in the workspace prints nothing"
make -s -C cproject clean >/dev/null || fail "make clean"
[ ! -e cproject/hello ] || fail "make clean left the program" 

# tar round trip: pack a subtree of the workspace, unpack it into the
# workspace, compare.
tar -C "$W/src" -cf "$T/src.tar" .
mkdir "$W/unpacked"
tar -C "$W/unpacked" -xf "$T/src.tar"
diff -r --no-dereference "$W/src" "$W/unpacked" || fail "tar round trip"
rm -rf "$W/unpacked"

# Remount the same upper: same workspace, same history.
cd /
head=$(git -C "$W" rev-parse HEAD)
tree_listing "$W" > "$T/before"
find "$W" -path "$W/.git" -prune -o -type f -print0 | sort -z | xargs -0 sha1sum | sed "s|$W||" > "$T/before.sum"
unmount_ws ws
mount_ws ws --repo "$repo" --commit main --upper "$T/upper"
[ "$(git -C "$W" rev-parse HEAD)" = "$head" ] || fail "HEAD after remount"
tree_listing "$W" | diff "$T/before" - || fail "tree after remount"
find "$W" -path "$W/.git" -prune -o -type f -print0 | sort -z | xargs -0 sha1sum | sed "s|$W||" | diff "$T/before.sum" - ||
  fail "contents after remount"
[ -z "$(git -C "$W" status --porcelain)" ] || fail "not clean after remount: $(git -C "$W" status --porcelain | head -3)"
unmount_ws ws
