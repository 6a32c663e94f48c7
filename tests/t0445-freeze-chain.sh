#!/usr/bin/env bash
# A chain of three snapshots: freeze S1, restore it, change, freeze S2 (parent
# S1), restore, change, freeze S3 (parent S2); restoring S3 shows files from
# all three with every deletion honoured, equal to a plain directory where
# the same operations were made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 31 --bare)
plain=$T/plain; mkdir -p "$plain"
git -C "$repo" -c tar.umask=0022 archive main | tar -x -C "$plain"
files=$(cd "$plain" && find src -type f | LC_ALL=C sort)
g1=$(sed -n 1p <<<"$files"); g2=$(sed -n 2p <<<"$files"); g3=$(sed -n 3p <<<"$files")

step1() { (set -e; cd "$1"; mkdir -p s1/dir; echo one > s1/a; echo keep > s1/keep; echo x > s1/dir/gone
  rm "$g1"; echo changed1 >> "$g2"); }
step2() { (set -e; cd "$1"; echo two > s2.txt; rm s1/a; rm -r s1/dir; echo again >> s1/keep
  echo back > "$g1"; chmod 700 "$g2"); }
step3() { (set -e; cd "$1"; mkdir s3; echo three > s3/t; rm s2.txt; rm "$g3"; ln -s keep s1/lnk
  mkdir -p s1/dir; echo new > s1/dir/new); }

mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
step1 "$T/ws" || fail "step 1 in the workspace"; step1 "$plain" || fail "step 1 in the plain directory"
s1=$(fz_freeze ws | jq -r .id) || fail "freeze S1"
unmount_ws ws

fz_restore "$s1" r1 "$repo"
fz_same "$T/r1" "$plain" || fail "restore of S1 differs"
step2 "$T/r1" || fail "step 2 in r1"; step2 "$plain" || fail "step 2 in the plain directory"
s2=$(fz_freeze r1 | jq -r .id) || fail "freeze S2"
unmount_ws r1
[ "$(sqlite3 "$STORE/layers/$s2/manifest.db" "select value from meta where key='parent'")" = "$s1" ] ||
  fail "S2's parent is not S1"

fz_restore "$s2" r2 "$repo"
fz_same "$T/r2" "$plain" || fail "restore of S2 differs"
step3 "$T/r2" || fail "step 3 in r2"; step3 "$plain" || fail "step 3 in the plain directory"
out3=$(fz_freeze r2) || fail "freeze S3"
s3=$(jq -r .id <<<"$out3")
unmount_ws r2
[ "$(sqlite3 "$STORE/layers/$s3/manifest.db" "select value from meta where key='parent'")" = "$s2" ] ||
  fail "S3's parent is not S2"
# S3 holds only what step 3 changed (not S1's or S2's files again).
[ "$(sqlite3 "$STORE/layers/$s3/manifest.db" "select count(*) from entries where path='s1/keep'")" = 0 ] ||
  fail "S3 repeats an unchanged file of S2"

fz_restore "${s3:0:12}" r3 "$repo"   # a unique prefix names a layer too
fz_same "$T/r3" "$plain" || fail "restore of S3 differs from the expected tree"
[ "$(cat "$T/r3/s1/keep")" = "$(printf 'keep\nagain')" ] || fail "s1/keep lost a change"
[ ! -e "$T/r3/s1/a" ] && [ ! -e "$T/r3/s2.txt" ] && [ ! -e "$T/r3/$g3" ] || fail "a deletion is not honoured"
[ ! -e "$T/r3/s1/dir/gone" ] || fail "a deleted directory's file came back"
unmount_ws r3
