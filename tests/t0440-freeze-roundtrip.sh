#!/usr/bin/env bash
# Freeze and restore: round-trip fidelity. Every kind of change made in a
# mounted workspace (file types, modes, owners, xattrs, hard links, whiteouts,
# an opaque directory, an empty directory, sparse and large files, non-ASCII
# names, metacopy changes of git files) survives freeze + restore exactly,
# and matches the same operations made in a plain directory.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 11 --bare)
plain=$T/plain; mkdir -p "$plain"
git -C "$repo" -c tar.umask=0022 archive main | tar -x -C "$plain"

pick() { (cd "$plain" && find "$@" | LC_ALL=C sort | sed -n 1p); }
f_chmod=$(pick src -type f -name '*.c')
f_chown=$(pick docs -type f)
f_touch=$(pick tests -type f)
f_edit=$(pick cproject -type f)
f_rm=$(pick src -type f -name '*.h')
d_opq=$(cd "$plain" && find lib -mindepth 1 -type d | LC_ALL=C sort | sed -n 1p)
for v in "$f_chmod" "$f_chown" "$f_touch" "$f_edit" "$f_rm" "$d_opq"; do
  [ -n "$v" ] || fail "generated tree lacks the paths this test needs"
done
head -c 20M /dev/urandom > "$T/big.src"

ops() {
  local D=$1
  (
    set -e
    cd "$D"
    chmod 600 "$f_chmod"                       # metacopy: mode only
    chown 1000:1000 "$f_chown"                 # metacopy: owner only
    touch -d '2001-02-03 04:05:06.123456789' "$f_touch"   # metacopy: times only
    echo appended >> "$f_edit"                 # data copy-up
    rm "$f_rm"                                 # whiteout
    rm -rf "$d_opq"; mkdir "$d_opq"; echo fresh > "$d_opq/only.txt"   # opaque directory
    mkdir -p new/empty new/deep/a/b/c
    mkdir new/sgid; chmod 2775 new/sgid
    echo secret > new/zero; chmod 0000 new/zero
    echo mine > new/owned; chown 1000:1000 new/owned
    echo suid > new/suid; chmod 4755 new/suid
    echo x > new/xa; setfattr -n user.color -v blue new/xa; setfattr -n user.empty new/xa
    setfattr -n user.dir -v yes new/deep
    echo linked > new/h1; ln new/h1 new/h2; ln new/h1 new/deep/h3
    truncate -s 100M new/sparse
    printf hello | dd of=new/sparse bs=1 seek=50000000 conv=notrunc status=none
    cp "$T/big.src" new/big
    echo 'ünï' > 'new/ünïcødé 日本.txt'
    ln -s "../$f_edit" new/link; ln -s /nonexistent/target new/dangling
    mkfifo new/fifo
    mknod new/chr c 1 3
    touch -d '2002-03-04 05:06:07' new/deep/a/b/c
  )
}

mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
W=$T/ws
ops "$W" || fail "operations in the workspace failed"
ops "$plain" || fail "operations in the plain directory failed"
fz_same "$W" "$plain" || fail "the workspace differs from the plain directory before the freeze"

out=$(fz_freeze ws) || fail "freeze failed"
id=$(jq -r .id <<<"$out")
[[ $id =~ ^[0-9a-f]{40}$ ]] || fail "freeze printed no layer id: $out"
[ "$(jq -r .files <<<"$out")" -gt 20 ] || fail "too few entries in the layer: $out"
[ "$(ctl "$T/ws.sock" status | jq -r .gate.state)" = open ] || fail "gate not reopened after the freeze"
echo after > "$W/after-freeze" || fail "workspace not writable after the freeze"
rm "$W/after-freeze"

# What the manifest says.
db=$STORE/layers/$id/manifest.db
[ -f "$db" ] || fail "no manifest at layers/$id"
q() { sqlite3 "$db" "$1"; }
[ "$(q "select type from entries where path='$f_rm'")" = 7 ] || fail "$f_rm is not a whiteout in the layer"
[ "$(q "select opaque from entries where path='$d_opq'")" = 1 ] || fail "$d_opq is not opaque in the layer"
[ "$(q "select count(*) from entries where path like '.thaw-work%'")" = 0 ] || fail ".thaw-work leaked into the layer"
# The group's smallest path (bytes) is the entry, the other names link to it.
[ "$(q "select group_concat(path) from entries where link='new/deep/h3' order by path")" = new/h1,new/h2 ] ||
  fail "new/h1 and new/h2 are not hard links to new/deep/h3"
[ -z "$(q "select link from entries where path='new/deep/h3'")" ] || fail "new/deep/h3 should be the group's entry"
[ "$(q "select hex(cid) from entries where path='$f_chmod'")" = \
  "$(git -C "$repo" rev-parse "main:$f_chmod" | tr a-f A-F)" ] || fail "metacopy of $f_chmod does not keep its blob id"
[ "$(q "select size from entries where path='new/sparse'")" = 104857600 ] || fail "sparse file size"
# Nothing the workspace did not change is in the layer (cost follows the upper).
total=$(git -C "$repo" ls-tree -r main | wc -l)
[ "$(q "select count(*) from entries")" -lt "$((total / 2))" ] || fail "the layer holds more than the changes"

fz_restore "$id" r "$repo"
R=$T/r
fz_same "$W" "$R" mtime || fail "the restored workspace differs from the frozen one"
fz_same "$R" "$plain" || fail "the restored workspace differs from the plain directory"
# Hard links: one inode if the mount supports it, else the same content.
if [ "$(stat -c %i "$R/new/h1")" = "$(stat -c %i "$R/new/h2")" ]; then
  [ "$(stat -c %h "$R/new/h1")" = 3 ] || fail "hard link count in the restored mount"
else
  log "restored hard links are separate inodes (store layers map links to copies)"
  cmp "$R/new/h1" "$R/new/deep/h3" || fail "hard link content differs"
fi
# The restored workspace is writable, and its writes go to its own upper.
echo more >> "$R/new/h1" || fail "restored workspace not writable"
[ -f "$T/r.up/new/h1" ] || fail "write to the restored workspace did not land in its upper"
[ "$(tail -1 "$W/new/h1")" = linked ] || fail "write in the restored workspace changed the original"
unmount_ws r
unmount_ws ws
