#!/usr/bin/env bash
# Image builds: a first build from the bare commit (outputs in the layer,
# metadata with the commit and the commands, a restore shows outputs and
# source), then a second build after the origin advanced: it starts from the
# first image, syncs to the new tip, chains on it and holds only its own
# changes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_image.sh"
require_fuse
image_repos
HEAD1=$(git -C "$ORIGIN" rev-parse main)

# ---- first build: no previous image ----
out=$(build --json --cmd 'make -C cproject' \
  --cmd 'mkdir -p node_modules/pkg && echo v1 > node_modules/pkg/index.js' 2>"$T/b1.err") ||
  { cat "$T/b1.err" >&2; fail "first build failed"; }
ID1=$(jq -r .id <<<"$out")
[[ "$ID1" =~ ^[0-9a-f]{40}$ ]] || fail "no image id in: $out"
[ "$(jq -r .commit <<<"$out")" = "$HEAD1" ] || fail "image commit $(jq -r .commit <<<"$out"), origin at $HEAD1"
[ "$(jq -r .files <<<"$out")" -gt 0 ] && [ "$(jq -r .bytes <<<"$out")" -gt 0 ] || fail "empty image: $out"
grep -q '^\[start\] no previous image' "$T/b1.err" || fail "no 'no previous image' progress line"
grep -q '^\[run\] \$ make -C cproject' "$T/b1.err" || fail "no progress line for the command: $(cat "$T/b1.err")"
grep -q '^\[run\] .*-o hello' "$T/b1.err" || fail "the compiler's output is not in the progress"

paths=$(layer_paths "$ID1")
for p in cproject/hello cproject/main.o cproject/util.o node_modules/pkg/index.js; do
  grep -qx "$p" <<<"$paths" || fail "image 1 lacks $p: $paths"
done
! grep -q '^src/' <<<"$paths" || fail "image 1 holds source files it did not change"
ls1=$("$THAWIMAGE" ls --store "$STORE" --json)
[ "$(jq -r '.[0].id' <<<"$ls1")" = "$ID1" ] || fail "ls: $ls1"
[ "$(jq -r '.[0].commit' <<<"$ls1")" = "$HEAD1" ] || fail "ls commit: $ls1"
[ "$(jq -r '.[0].parent' <<<"$ls1")" = null ] || fail "first image has a parent: $ls1"
jq -e '.[0].commands | index("make -C cproject")' <<<"$ls1" >/dev/null || fail "commands not recorded: $ls1"
[ "$(current)" = "$ID1" ] || fail "current image is not $ID1"
"$THAWIMAGE" log --store "$STORE" "${ID1:0:12}" | grep -q '^\[run\] \$ make -C cproject' || fail "build log lacks the command"
[ -s "$STORE/layers/$ID1/build.log" ] || fail "no build.log in the layer directory"
"$THAWIMAGE" ls --store "$STORE" | grep -q "^${ID1:0:12} " || fail "human ls lacks the image"

restore_ws r1 "$ID1"
[ "$("$T/r1/cproject/hello")" = "hello from cproject: sum=10" ] || fail "the built program does not run from the image"
[ "$(cat "$T/r1/node_modules/pkg/index.js")" = v1 ] || fail "node_modules output missing"
cmp -s <(git -C "$ORIGIN" show "main:$DEEP") "$T/r1/$DEEP" || fail "source file differs in the restored image"
fusermount3 -u "$T/r1"

# ---- second build after the origin moved: from image 1 ----
"$GENREPO" --advance "$ORIGIN" --changes 30 --quiet >/dev/null
HEAD2=$(git -C "$ORIGIN" rev-parse main)
[ "$HEAD2" != "$HEAD1" ] || fail "the origin did not advance"
out=$(build --json --cmd 'make -C cproject' --cmd 'echo v2 > node_modules/pkg/v2.txt' 2>"$T/b2.err") ||
  { cat "$T/b2.err" >&2; fail "second build failed"; }
ID2=$(jq -r .id <<<"$out")
[[ "$ID2" =~ ^[0-9a-f]{40}$ ]] && [ "$ID2" != "$ID1" ] || fail "second build: $out"
[ "$(jq -r .commit <<<"$out")" = "$HEAD2" ] || fail "image 2 at $(jq -r .commit <<<"$out"), origin at $HEAD2"
grep -q "^\[mount\] .* with image $ID1" "$T/b2.err" || fail "second build did not start from image 1: $(head -5 "$T/b2.err")"
grep -q "Nothing to be done" "$T/b2.err" || fail "make rebuilt in the second build (outputs of image 1 not seen)"
ls2=$("$THAWIMAGE" ls --store "$STORE" --repo demo --json)
[ "$(jq -r '.[0].id' <<<"$ls2")" = "$ID2" ] || fail "newest image is not image 2: $ls2"
[ "$(jq -r '.[0].parent' <<<"$ls2")" = "$ID1" ] || fail "image 2's parent is not image 1: $ls2"
[ "$(current)" = "$ID2" ] || fail "current image is not $ID2"
paths=$(layer_paths "$ID2")
grep -qx node_modules/pkg/v2.txt <<<"$paths" || fail "image 2 lacks its output: $paths"
bad=$(grep -vxE 'node_modules|node_modules/pkg|node_modules/pkg/v2.txt' <<<"$paths" || true)
[ -z "$bad" ] || fail "image 2 holds entries the commands did not change: $bad"

restore_ws r2 "$ID2"
[ "$(cat "$T/r2/node_modules/pkg/v2.txt")" = v2 ] && [ "$(cat "$T/r2/node_modules/pkg/index.js")" = v1 ] ||
  fail "image 2 does not show both builds' outputs"
[ -x "$T/r2/cproject/hello" ] || fail "image 2 lost image 1's build output"
changed=$(git -C "$ORIGIN" diff --name-only --diff-filter=M "$HEAD1" "$HEAD2" | head -5)
[ -n "$changed" ] || fail "the advance modified nothing"
while IFS= read -r f; do
  cmp -s <(git -C "$ORIGIN" show "main:$f") "$T/r2/$f" || fail "$f is not at the new tip in image 2"
done <<<"$changed"
gone=$(git -C "$ORIGIN" diff --name-only --diff-filter=D "$HEAD1" "$HEAD2" | head -1)
[ -z "$gone" ] || [ ! -e "$T/r2/$gone" ] || fail "$gone was deleted upstream but shows in image 2"
fusermount3 -u "$T/r2"
no_scratch_mounts
log "ok: images $ID1 -> $ID2"
