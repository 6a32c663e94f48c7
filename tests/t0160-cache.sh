#!/usr/bin/env bash
# The hydration cache stays under its cap (LRU eviction) and keeps serving
# correct data; entries are never partial.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 1500 --seed 31 --big 2 --bare)
ref=$T/ref; mkdir -p "$ref"
git -C "$repo" archive main | tar -x -C "$ref"
CACHE=$T/smallcache mount_ws ws --repo "$repo" --commit main --cache-size 1M
W=$T/ws
# Read everything twice: the second pass needs re-hydration of evicted blobs.
for pass in 1 2; do
  (cd "$ref" && find . -type f -printf '%P\n') | while IFS= read -r f; do
    cmp -s "$ref/$f" "$W/$f" || fail "pass $pass: $f differs"
  done
  echo 3 > /proc/sys/vm/drop_caches
done
ctl "$T/ws.sock" evict > /dev/null
ev=$(counter "$T/ws.sock" evictions)
[ "$ev" -gt 0 ] || fail "nothing was evicted under a 1 MiB cap"
size=$(du -sb "$T/smallcache/blobs" | cut -f1)
# The cap bounds the entries' bytes (directories add a few KiB).
[ "$size" -le $((1024 * 1024 + 300 * 4096)) ] || fail "cache holds $size bytes after eviction, cap 1 MiB"
# No temporary or partial entries are left behind.
[ -z "$(find "$T/smallcache/blobs" -name '.tmp.*')" ] || fail "temporary files left in the cache"
unmount_ws ws
