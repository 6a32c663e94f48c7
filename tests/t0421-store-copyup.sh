#!/usr/bin/env bash
# Copy-up of store layer files: chmod makes a metacopy whose origin is the
# content id (cid:<40 hex>), xattrs go with it; an append then copies the
# data from the store object; a remount with the layers in another order
# still reads the metacopy's data by content id; a symlink, a fifo and a
# directory of a store layer copy up too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fsstore.sh"
require_fuse

repo=$(gen repo.git --files 200 --seed 7 --bare)
S=$T/store
head -c 200000 /dev/urandom > "$T/data.bin"
head -c 100000 /dev/urandom > "$T/meta.bin"
cat > "$T/a.spec" <<SPEC
dir d mode=0755 xattr=user.dir=yes
reg d/data.bin file=$T/data.bin mode=0644
reg d/meta.bin file=$T/meta.bin mode=0644 xattr=user.keep=me
reg d/small.txt text=small\n mode=0600
symlink d/link target=data.bin
fifo d/pipe
SPEC
cat > "$T/b.spec" <<SPEC
reg other.txt text=other
SPEC
A=$(mklayer "$S" "$T/a.spec")
B=$(mklayer "$S" "$T/b.spec")
U=$T/upper
mount_ws ws --repo "$repo" --commit main --store "$S" --layer "$B" --layer "$A" --upper "$U"
W=$T/ws

chmod 0700 "$W/d/meta.bin"
[ "$(stat -c %a "$W/d/meta.bin")" = 700 ] || fail "chmod"
cid=$(cid_of "$T/meta.bin")
[ "$(xattr_get "$U/d/meta.bin" user.thaw.origin)" = "cid:$cid" ] || fail "origin: '$(xattr_get "$U/d/meta.bin" user.thaw.origin)', expected cid:$cid"
[ "$(du -k "$U/d/meta.bin" | cut -f1)" -lt 16 ] || fail "chmod copied the data (metacopy expected)"
[ "$(xattr_get "$U/d/meta.bin" user.keep)" = me ] || fail "xattr not copied up with the file"
[ "$(xattr_get "$U/d" user.dir)" = yes ] || fail "xattr not copied up with the directory"
cmp "$W/d/meta.bin" "$T/meta.bin" || fail "metacopy reads differ"

printf 'appended' >> "$W/d/data.bin"
cat "$T/data.bin" > "$T/expect" && printf 'appended' >> "$T/expect"
cmp "$W/d/data.bin" "$T/expect" || fail "append to a store file"
cmp "$U/d/data.bin" "$T/expect" || fail "upper copy after append"
if xattr_get "$U/d/data.bin" user.thaw.origin; then fail "origin left after a data copy-up"; fi
echo more >> "$W/d/small.txt"
[ "$(cat "$W/d/small.txt")" = "$(printf 'small\nmore')" ] || fail "append to a small store file"
[ "$(stat -c %a "$U/d/small.txt")" = 600 ] || fail "mode of the copied-up small file"
# the metacopy's data copy-up comes from the store too
printf 'x' >> "$W/d/meta.bin"
cat "$T/meta.bin" > "$T/expect2" && printf 'x' >> "$T/expect2"
cmp "$W/d/meta.bin" "$T/expect2" || fail "append to a metacopy of a store file"
chmod 0644 "$W/d/meta.bin"
# symlink, fifo, rename of a store directory (copies its subtree up as metacopies)
touch -h -d @1500000000 "$W/d/link"
[ "$(readlink "$U/d/link")" = data.bin ] || fail "symlink copy-up"
chmod 0640 "$W/d/pipe"
[ -p "$U/d/pipe" ] || fail "fifo copy-up"
mkdir "$W/e"
mv "$W/d" "$W/e/d"
cmp "$W/e/d/data.bin" "$T/expect" || fail "renamed directory"
chmod 0600 "$W/e/d/meta.bin"
unmount_ws ws

# Remount with the layers reversed and a fresh cache: the metacopy (if any)
# still finds its data by content id.
rm -rf "$T/cache"
mount_ws ws --repo "$repo" --commit main --store "$S" --layer "$A" --layer "$B" --upper "$U"
cmp "$W/e/d/meta.bin" "$T/expect2" || fail "meta.bin after remount"
cmp "$W/e/d/data.bin" "$T/expect" || fail "data.bin after remount"
[ "$(stat -c %a "$W/e/d/meta.bin")" = 600 ] || fail "mode after remount"
[ ! -e "$W/d" ] || fail "renamed directory reappeared"
unmount_ws ws

# A metacopy by content id reads from the store even in a mount without the
# layer: here from the git object database when the content is a blob.
mkdir -p "$T/u2"
gf=$(git -C "$repo" ls-tree -r -l main | awk '$1=="100644" && $4 > 4096 { if (!f) print $5; f = 1 }')
git -C "$repo" cat-file blob "main:$gf" > "$T/g.bin"
printf 'reg g.bin file=%s\n' "$T/g.bin" > "$T/g.spec"
G=$(mklayer "$S" "$T/g.spec")
mount_ws ws3 --repo "$repo" --commit main --store "$S" --layer "$G" --upper "$T/u2"
chmod 0600 "$T/ws3/g.bin"
unmount_ws ws3
[ "$(xattr_get "$T/u2/g.bin" user.thaw.origin)" = "cid:$(git -C "$repo" rev-parse "main:$gf")" ] || fail "origin of g.bin"
rm -rf "$T/cache"
mount_ws ws4 --repo "$repo" --commit main --upper "$T/u2"
cmp "$T/ws4/g.bin" "$T/g.bin" || fail "cid origin served from git without the layer"
unmount_ws ws4
