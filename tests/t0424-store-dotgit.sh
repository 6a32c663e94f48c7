#!/usr/bin/env bash
# .git from a store layer: a session commits in its workspace; its upper
# layer (including .git: objects, refs, index, logs) is packed into a store
# layer; a new workspace mounted from that layer shows the session's HEAD,
# log and a clean status, above the synthesized .git.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fsstore.sh"
require_fuse

repo=$(gen repo.git --files 120 --seed 11 --bare)
base=$(git -C "$repo" rev-parse main)
S=$T/store
mount_ws ws1 --repo "$repo" --commit main --upper "$T/u1"
wait_dotgit ws1
W=$T/ws1
echo "session work" > "$W/SESSION.txt"
f=$(git -C "$repo" ls-tree -r --name-only main -- src | sed -n 1p)
echo "// edited" >> "$W/$f"
git -C "$W" add -A
git -C "$W" commit -q -m "session commit"
want=$(git -C "$W" rev-parse HEAD)
[ "$want" != "$base" ] || fail "commit did not move HEAD"
unmount_ws ws1

# Pack the upper layer as a freeze would (every entry; whiteouts as such).
spec=$T/u1.spec
: > "$spec"
(cd "$T/u1" && find . -mindepth 1 -path ./.thaw-work -prune -o -printf '%y %P %m\n') | while read -r y p m; do
  [ -z "$(getfattr --absolute-names --only-values -n user.thaw.origin "$T/u1/$p" 2>/dev/null)" ] || fail "metacopy in u1: $p"
  case $y in
    d) echo "dir $p mode=$m" ;;
    f) echo "reg $p file=$T/u1/$p mode=$m" ;;
    l) echo "symlink $p target=$(readlink "$T/u1/$p")" ;;
    c) echo "whiteout $p" ;;
    *) fail "unexpected entry $y $p" ;;
  esac
done >> "$spec"
grep -q "^reg .git/refs/heads/main " "$spec" || { cat "$spec" >&2; fail "the upper has no .git/refs/heads/main"; }
L=$(mklayer "$S" "$spec" --kind session --synced "$base")

mount_ws ws2 --repo "$repo" --commit main --store "$S" --layer "$L" --upper "$T/u2"
wait_dotgit ws2
W=$T/ws2
[ "$(git -C "$W" rev-parse HEAD)" = "$want" ] || fail "restored HEAD is $(git -C "$W" rev-parse HEAD), expected $want"
[ "$(git -C "$W" log -1 --format=%s)" = "session commit" ] || fail "restored log"
[ "$(cat "$W/SESSION.txt")" = "session work" ] || fail "restored file"
git -C "$W" status --porcelain > "$T/status"
[ ! -s "$T/status" ] || { cat "$T/status" >&2; fail "restored workspace is not clean"; }
git -C "$W" show --stat HEAD | grep -q SESSION.txt || fail "git show of the session's commit"
# The session goes on: a new commit on top works.
echo more >> "$W/SESSION.txt"
git -C "$W" commit -q -am "second"
[ "$(git -C "$W" rev-parse HEAD~1)" = "$want" ] || fail "second commit's parent"
unmount_ws ws2
