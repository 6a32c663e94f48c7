#!/usr/bin/env bash
# kill -9 of thawfs after fsync'd writes: remount the same upper, every
# fsync'd byte is there (new files, appends to lower files, renames).
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 500 --seed 61 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/upper"
W=$T/ws
mkdir -p "$W/out"
for i in $(seq 1 50); do head -c $((i * 1000)) /dev/urandom > "$T/ref.$i"; done
for i in $(seq 1 50); do
  dd if="$T/ref.$i" of="$W/out/f$i" bs=64k conv=fsync status=none
done
cp "$W/cproject/main.c" "$T/main.c.ref"
printf 'appended line\n' >> "$T/main.c.ref"
printf 'appended line\n' | dd of="$W/cproject/main.c" oflag=append conv=notrunc,fsync status=none
mv "$W/out/f1" "$W/out/renamed"
sync -f "$W/out"
pid=$(cat "$T/ws.pid")
kill -9 "$pid"
wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || fail "thawfs did not die"
fusermount3 -u "$W" 2>/dev/null || umount -l "$W"

mount_ws ws --repo "$repo" --commit main --upper "$T/upper"
cmp "$T/ref.1" "$W/out/renamed" || fail "renamed file"
for i in $(seq 2 50); do cmp "$T/ref.$i" "$W/out/f$i" || fail "f$i lost fsync'd data"; done
cmp "$T/main.c.ref" "$W/cproject/main.c" || fail "append to a lower file"
[ ! -e "$W/out/f1" ] || fail "rename undone"
unmount_ws ws
