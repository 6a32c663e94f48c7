#!/usr/bin/env bash
# Deduplication: freezing twice without a change gives the same layer and no
# new object; a small edit adds exactly one object (the changed file); a
# chmod-only change of a git file adds none beyond its blob.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 9 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
W=$T/ws
mkdir -p "$W/work"
for i in $(seq 1 40); do head -c $((1000 + i * 37)) /dev/urandom > "$W/work/f$i"; done
echo same > "$W/work/dup1"; echo same > "$W/work/dup2"   # one object for both

out1=$(fz_freeze ws) || fail "first freeze failed"
id1=$(jq -r .id <<<"$out1")
[ "$(jq -r .new_objects <<<"$out1")" = 41 ] || fail "first freeze: expected 41 new objects: $out1"
objs=$(fz_objects)
[ "$objs" = 41 ] || fail "store holds $objs objects, expected 41"

out2=$(fz_freeze ws) || fail "second freeze failed"
[ "$(jq -r .id <<<"$out2")" = "$id1" ] || fail "unchanged workspace gave a new layer: $out1 / $out2"
[ "$(jq -r .new_objects <<<"$out2")" = 0 ] || fail "unchanged workspace added objects: $out2"
[ "$(fz_objects)" = "$objs" ] || fail "object count changed on an identical freeze"
[ "$(fz_layers)" = 1 ] || fail "identical freezes left $(fz_layers) layers"

# A small edit: one new object, a new layer.
echo edit >> "$W/work/f7"
out3=$(fz_freeze ws) || fail "third freeze failed"
id3=$(jq -r .id <<<"$out3")
[ "$id3" != "$id1" ] || fail "an edit did not change the layer id"
[ "$(jq -r .new_objects <<<"$out3")" = 1 ] || fail "a one-file edit added more than one object: $out3"
[ "$(fz_objects)" = $((objs + 1)) ] || fail "store did not grow by exactly one object"

# The freeze cache (content ids by inode and times, in the upper's
# .thaw-work) never hides a change: an in-place rewrite of the same size right
# after a freeze is read again.
[ -f "$T/ws.up/.thaw-work/freeze-cache" ] || fail "no freeze cache in the upper"
printf 'rewritten-in-place' | dd of="$W/work/f9" bs=1 seek=10 conv=notrunc status=none
outc=$(fz_freeze ws) || fail "freeze after an in-place rewrite failed"
want=$(git hash-object "$W/work/f9" | tr a-f A-F)
[ "$(sqlite3 "$STORE/layers/$(jq -r .id <<<"$outc")/manifest.db" "select hex(cid) from entries where path='work/f9'")" = "$want" ] ||
  fail "the layer does not have f9's new content (stat: $(stat -c '%s %Y %Z' "$T/ws.up/work/f9"))"
[ "$(jq -r .new_objects <<<"$outc")" = 1 ] || fail "in-place rewrite: expected one new object: $outc"
objs=$((objs + 1))

# A chmod of a git file is a metacopy: the only possible new object is its
# blob, copied from the repository (content id = blob id).
gf=$(git -C "$repo" ls-tree -r --name-only main | awk '/\.c$/ && !n {print; n=1}')
chmod 600 "$W/$gf"
out4=$(fz_freeze ws) || fail "freeze after chmod failed"
[ "$(jq -r .new_objects <<<"$out4")" = 1 ] || fail "chmod of a git file: expected its blob as the one new object: $out4"
blob=$(git -C "$repo" rev-parse "main:$gf")
fz_has_object "$blob" || fail "the blob $blob of $gf is not in the store under its id"
out5=$(fz_freeze ws) || fail "freeze after chmod (again) failed"
[ "$(jq -r .new_objects <<<"$out5")" = 0 ] || fail "second freeze after chmod added objects: $out5"
[ "$(jq -r .id <<<"$out5")" = "$(jq -r .id <<<"$out4")" ] || fail "same change, different layer id"
# The layer records the new mode (0600).
[ "$(sqlite3 "$STORE/layers/$(jq -r .id <<<"$out4")/manifest.db" "select mode from entries where path='$gf'")" = 384 ] ||
  fail "chmod not recorded in the layer"
unmount_ws ws
