#!/usr/bin/env bash
# Flattening: when a new image's chain would pass THAW_IMAGE_MAX_CHAIN
# layers, the chain's merged view is written as one layer without parent.
# The same two builds are made into a second store without flattening: both
# top images must show exactly the same tree (names, types, modes, targets,
# contents), with the second build's deletions (whiteouts of git and of
# image files, an opaque directory) and a hard link carried over.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_image.sh"
require_fuse
image_repos

CMDS1=(--cmd 'make -C cproject'
       --cmd 'mkdir -p out/keep out/gone out/opq/old && echo k > out/keep/k && ln out/keep/k out/keep/k2 &&
              echo g > out/gone/g && echo o > out/opq/old/o && echo x > out/opq/x')
CMDS2=(--cmd 'rm -rf out/gone README.md docs && rm -rf out/opq && mkdir -p out/opq/new && echo n > out/opq/new/n'
       --cmd 'echo v2 > out/keep/v2')

# chained (default limit)
STORE=$T/chained
C1=$(build --json --quiet "${CMDS1[@]}" | jq -r .id)
C2=$(build --json --quiet "${CMDS2[@]}" | jq -r .id)
[[ "$C2" =~ ^[0-9a-f]{40}$ ]] || fail "chained builds failed"
[ "$("$THAWIMAGE" ls --store "$STORE" --json | jq -r '.[0].parent')" = "$C1" ] || fail "chained image 2 has no parent"

# flattened (THAW_IMAGE_MAX_CHAIN=1: the second build's chain of 2 is flattened)
STORE=$T/flat
F1=$(build --json --quiet "${CMDS1[@]}" | jq -r .id)
[[ "$F1" =~ ^[0-9a-f]{40}$ ]] || fail "first build into the second store failed"
out=$(THAW_IMAGE_MAX_CHAIN=1 build --json "${CMDS2[@]}" 2>"$T/flat.err") || { cat "$T/flat.err" >&2; fail "flattening build failed"; }
F2=$(jq -r .id <<<"$out")
[[ "$F2" =~ ^[0-9a-f]{40}$ ]] || fail "flattening build: $out"
grep -q '^\[flatten\] image' "$T/flat.err" || fail "no flatten step in the progress"
ls2=$("$THAWIMAGE" ls --store "$STORE" --json)
[ "$(jq -r '.[0].id' <<<"$ls2")" = "$F2" ] && [ "$(jq -r '.[0].parent' <<<"$ls2")" = null ] ||
  fail "the flattened image is not current or has a parent: $ls2"
[ "$(layer_count)" = 2 ] || fail "the chained intermediate layer was not removed ($(layer_count) layers)"
[ "$(current)" = "$F2" ] || fail "current is not the flattened image"
paths=$(layer_paths "$F2")
for p in cproject/hello out/keep/k out/keep/k2 out/keep/v2 out/opq/new/n README.md docs; do
  grep -qx "$p" <<<"$paths" || fail "flattened layer lacks $p"
done
for p in out/gone/g out/opq/old out/opq/old/o out/opq/x; do
  ! grep -qx "$p" <<<"$paths" || fail "flattened layer still has $p (hidden by the second build)"
done
gone=$(sqlite3 "file:$STORE/layers/$F2/manifest.db?mode=ro" "SELECT type FROM entries WHERE path='out/gone'")
[ -z "$gone" ] || [ "$gone" = 7 ] || fail "out/gone is type $gone in the flattened layer, not absent or a whiteout"
[ "$(sqlite3 "file:$STORE/layers/$F2/manifest.db?mode=ro" "SELECT opaque FROM entries WHERE path='out/opq'")" = 1 ] ||
  fail "out/opq is not opaque in the flattened layer"
[ "$(sqlite3 "file:$STORE/layers/$F2/manifest.db?mode=ro" "SELECT type FROM entries WHERE path='README.md'")" = 7 ] ||
  fail "README.md is not a whiteout in the flattened layer"

# Both views are the same.
STORE=$T/chained; restore_ws rc "$C2"
STORE=$T/flat; restore_ws rf "$F2"
view() { tree_listing "$1"; (cd "$1" && find . -path ./.git -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum); }
view "$T/rc" >"$T/rc.view"; view "$T/rf" >"$T/rf.view"
diff "$T/rc.view" "$T/rf.view" >&2 || fail "the flattened image shows a different tree than the chain"
[ ! -e "$T/rf/README.md" ] && [ ! -e "$T/rf/docs" ] && [ ! -e "$T/rf/out/opq/x" ] && [ -f "$T/rf/LICENSE" ] ||
  fail "deletions or git files wrong in the flattened image"
[ "$(stat -c %i "$T/rf/out/keep/k")" = "$(stat -c %i "$T/rf/out/keep/k2")" ] ||
  log "note: the hard link shows as two inodes in the restored mount"
fusermount3 -u "$T/rc"; fusermount3 -u "$T/rf"

# A build on the flattened image chains on it again.
F3=$(build --json --quiet --cmd 'echo v3 > out/v3' | jq -r .id)
[ "$("$THAWIMAGE" ls --store "$STORE" --json | jq -r '.[0].parent')" = "$F2" ] || fail "build 3 does not chain on the flattened image"
no_scratch_mounts
log "ok: $C1 -> $C2 chained, $F2 flattened, $F3 on it"
