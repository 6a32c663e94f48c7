#!/usr/bin/env bash
# The workspace is a git working tree: git status is clean and hydrates
# nothing; git log -p and git diff show what the repository shows.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 2500 --seed 11 --commits 3 --bare)
mount_ws ws --repo "$repo" --commit main
W=$T/ws
wait_dotgit ws
[ "$(cat "$W/.git/HEAD")" = "ref: refs/heads/main" ] || fail "HEAD: $(cat "$W/.git/HEAD")"
h0=$(counter "$T/ws.sock" hydrations)
[ "$h0" = 0 ] || fail "hydrations before git status: $h0"
out=$(cd "$W" && git status --porcelain)
[ -z "$out" ] || fail "git status not clean: $(echo "$out" | head -5)"
h1=$(counter "$T/ws.sock" hydrations)
[ "$h1" = 0 ] || fail "git status hydrated $h1 files"
(cd "$W" && git status | grep -q "nothing to commit, working tree clean") || fail "git status long form"
[ "$(cd "$W" && git rev-parse HEAD)" = "$(git -C "$repo" rev-parse main)" ] || fail "HEAD is not the mounted commit"
# Compare with a plain checkout: the workspace's .gitattributes (diff drivers)
# apply in both.
git clone -q "$repo" "$T/clone"
diff <(cd "$W" && git log -p -1) <(git -C "$T/clone" log -p -1) > "$T/log.diff" ||
  { head "$T/log.diff" >&2; fail "git log -p -1 differs"; }
[ -n "$(cd "$W" && git log -p -1 | head -3)" ] || fail "git log -p -1 printed nothing"
diff <(cd "$W" && git diff HEAD~1) <(git -C "$T/clone" diff HEAD~1) > "$T/diff.diff" ||
  { head "$T/diff.diff" >&2; fail "git diff HEAD~1 differs"; }
[ -n "$(cd "$W" && git diff HEAD~1 --stat)" ] || fail "git diff HEAD~1 is empty: the test would prove nothing"
# A detached revision gives a detached HEAD.
mount_ws det --repo "$repo" --commit gen-1
wait_dotgit det
[ "$(cat "$T/det/.git/HEAD")" = "$(git -C "$repo" rev-parse gen-1)" ] || fail "detached HEAD"
[ -z "$(cd "$T/det" && git status --porcelain)" ] || fail "detached workspace not clean"
unmount_ws ws; unmount_ws det
