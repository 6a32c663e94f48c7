#!/usr/bin/env bash
# Store layers in the merged view: every entry type with its mode, owner,
# mtime, target, rdev and xattrs from the manifest; whiteouts and opaque
# directories over the git tree and over lower layers; layer order; reads
# equal the content; the hydration cache is shared with git for the same
# content; layers given by id, by prefix, by path, mixed with a directory.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fsstore.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 42 --bare)
S=$T/store
wh=$(git -C "$repo" ls-tree -r --name-only main -- src | sed -n 1p)           # hidden by a whiteout
gbig=$(git -C "$repo" ls-tree -r -l main | awk '$1=="100644" && $4 > 8192 && $4 < 2000000 { if (!f) print $5; f = 1 }')
[ -n "$wh" ] && [ -n "$gbig" ] || fail "generated repository lacks the files this test needs"
[ -n "$(git -C "$repo" ls-tree --name-only main -- docs)" ] || fail "no docs/ in the repository"
git -C "$repo" cat-file blob "main:$gbig" > "$T/gitcopy"
head -c 300000 /dev/urandom > "$T/big.bin"

cat > "$T/image.spec" <<SPEC
dir img mode=0750 uid=1234 gid=5678 mtime=1600000000
reg img/a.txt text=image\sa\n mode=0640 uid=1234 gid=5678 mtime=1600000001.5
reg img/big.bin file=$T/big.bin mode=0755
reg img/gitcopy.bin file=$T/gitcopy
symlink img/link target=a.txt
fifo img/pipe mode=0600
chr img/null rdev=1:3 mode=0666
sock img/sock mode=0755
reg img/x.txt text=x xattr=user.color=blue xattr=user.note=two\swords
reg img/gone.txt text=gone
reg img/hl1 text=hard
link img/hl2 to=img/hl1
reg img/empty
reg shadow.txt text=from-image
whiteout $wh
dir opq
reg opq/low.txt text=low
SPEC
cat > "$T/session.spec" <<SPEC
dir img mode=0750 uid=1234 gid=5678 mtime=1600000000
whiteout img/gone.txt
reg shadow.txt text=from-session
dir opq opaque=1
reg opq/top.txt text=top
dir docs opaque=1 mode=0700
reg docs/only.txt text=only
SPEC
L2=$(mklayer "$S" "$T/image.spec" --kind image)
L1=$(mklayer "$S" "$T/session.spec" --kind session --parent "$L2" --synced "$(git -C "$repo" rev-parse main)")
[ ${#L1} = 40 ] && [ ${#L2} = 40 ] || fail "mklayer ids: '$L1' '$L2'"

mount_ws ws --repo "$repo" --commit main --store "$S" --layer "$L1" --layer "${L2:0:12}"
W=$T/ws
st() { stat -c '%F|%a|%u|%g|%Y' "$W/$1"; }
[ "$(st img)" = "directory|750|1234|5678|1600000000" ] || fail "img: $(st img)"
[ "$(st img/a.txt)" = "regular file|640|1234|5678|1600000001" ] || fail "a.txt: $(st img/a.txt)"
[ "$(cat "$W/img/a.txt")" = "image a" ] || fail "a.txt content"
[ "$(stat -c %s "$W/img/a.txt")" = 8 ] || fail "a.txt size"
[ "$(stat -c %a "$W/img/big.bin")" = 755 ] || fail "big.bin mode"
cmp "$W/img/big.bin" "$T/big.bin" || fail "big.bin content differs"
[ "$(readlink "$W/img/link")" = a.txt ] || fail "symlink target: $(readlink "$W/img/link")"
[ "$(cat "$W/img/link")" = "image a" ] || fail "symlink does not resolve"
[ -p "$W/img/pipe" ] && [ "$(stat -c %a "$W/img/pipe")" = 600 ] || fail "fifo: $(st img/pipe)"
[ -c "$W/img/null" ] && [ "$(stat -c '%t:%T|%a' "$W/img/null")" = "1:3|666" ] || fail "chr: $(stat -c '%F %t:%T' "$W/img/null")"
[ -S "$W/img/sock" ] || fail "socket: $(st img/sock)"
[ "$(xattr_get "$W/img/x.txt" user.color)" = blue ] || fail "xattr user.color"
[ "$(xattr_get "$W/img/x.txt" user.note)" = "two words" ] || fail "xattr user.note"
getfattr --absolute-names -d "$W/img/x.txt" | grep -q 'user.note="two words"' || fail "listxattr"
if xattr_get "$W/img/a.txt" user.color; then fail "a.txt has an xattr"; fi
[ "$(cat "$W/img/hl2")" = hard ] && [ "$(cat "$W/img/hl1")" = hard ] || fail "hard links"
[ -f "$W/img/empty" ] && [ ! -s "$W/img/empty" ] || fail "empty file"
# layer order, whiteouts, opaque directories
[ "$(cat "$W/shadow.txt")" = from-session ] || fail "top layer does not win: $(cat "$W/shadow.txt")"
[ ! -e "$W/$wh" ] || fail "whiteout does not hide git file $wh"
ls "$W/$(dirname "$wh")" | grep -qx "$(basename "$wh")" && fail "$wh listed"
[ ! -e "$W/img/gone.txt" ] || fail "whiteout does not hide the lower layer's img/gone.txt"
[ "$(ls "$W/opq")" = top.txt ] || fail "opaque dir over a layer: $(ls "$W/opq" | tr '\n' ' ')"
[ "$(ls "$W/docs")" = only.txt ] || fail "opaque dir over git: $(ls "$W/docs" | tr '\n' ' ')"
[ "$(stat -c %a "$W/docs")" = 700 ] || fail "docs mode"
# git content still there, and git works
cmp "$W/$gbig" "$T/gitcopy" || fail "git file content"
h0=$(counter "$T/ws.sock" hydrations)
cmp "$W/img/gitcopy.bin" "$T/gitcopy" || fail "store copy of a git blob"
[ "$(counter "$T/ws.sock" hydrations)" = "$h0" ] || fail "same content hydrated twice (cache not shared with git)"
[ "$(cid_of "$T/gitcopy")" = "$(git -C "$repo" rev-parse "main:$gbig")" ] || fail "content id is not the blob id"
wait_dotgit ws
git -C "$W" status --porcelain > "$T/status" || fail "git status"
grep -q "^ D $wh\$" "$T/status" || { cat "$T/status" >&2; fail "git status does not show the whiteout as a deletion"; }
# status
ctl "$T/ws.sock" status > "$T/st.json"
[ "$(jq -r .store "$T/st.json")" = "$(realpath "$S")" ] || fail "status .store: $(jq -r .store "$T/st.json")"
[ "$(jq -r '[.layer_info[] | .kind + ":" + .id + ":" + .layer_kind] | join(",")' "$T/st.json")" = "store:$L1:session,store:$L2:image" ] ||
  fail "layer_info: $(jq -c .layer_info "$T/st.json")"
[ "$(jq -r '.layer_info[0].synced_commit' "$T/st.json")" = "$(git -C "$repo" rev-parse main)" ] || fail "synced_commit"
[ "$(jq -r '.layers | length' "$T/st.json")" = 2 ] || fail "layers"
[ "$(jq -r '.layers[0]' "$T/st.json")" = "$(realpath "$S")/layers/$L1" ] || fail "layers[0]: $(jq -r '.layers[0]' "$T/st.json")"
unmount_ws ws

# By path (no --store), below a plain directory layer with OCI whiteouts.
mkdir -p "$T/dirlayer"
echo from-dir > "$T/dirlayer/shadow.txt"
touch "$T/dirlayer/.wh.opq"
mount_ws ws2 --repo "$repo" --commit main --layer "$T/dirlayer" --layer "$S/layers/$L2"
[ "$(cat "$T/ws2/shadow.txt")" = from-dir ] || fail "directory layer above a store layer"
[ ! -e "$T/ws2/opq" ] || fail "OCI whiteout of a store directory"
cmp "$T/ws2/img/big.bin" "$T/big.bin" || fail "store layer by path"
[ "$(ctl "$T/ws2.sock" status | jq -r '([.layer_info[].kind] | join(",")) + ":" + (.store|tostring)')" = "dir,store:null" ] ||
  fail "layer_info of a mixed stack"
unmount_ws ws2

# Relative --store and layer paths work in the daemon (it runs in /).
(cd "$T" && mount_ws ws3 --repo "$repo" --commit main --store store --layer "$L1" --layer "store/layers/$L2")
cmp "$T/ws3/img/big.bin" "$T/big.bin" || fail "relative store paths"
[ "$(cat "$T/ws3/shadow.txt")" = from-session ] || fail "relative store paths: layer order"
unmount_ws ws3
