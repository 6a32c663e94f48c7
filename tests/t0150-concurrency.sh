#!/usr/bin/env bash
# 8 threads reading the same not-yet-hydrated large file get identical,
# correct bytes and the blob is hydrated once; many files read in parallel.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 3000 --seed 21 --big 3 --bare)
ref=$T/ref; mkdir -p "$ref"
git -C "$repo" archive main | tar -x -C "$ref"
big=$(cd "$ref" && find . -type f -size +2M -printf '%P\n' | LC_ALL=C sort | head -1)
[ -n "$big" ] || fail "no multi-MiB file in the generated tree"
mount_ws ws --repo "$repo" --commit main
W=$T/ws
"$TOOLS/preader" --threads 8 --same "$W/$big" --expect "$ref/$big" || fail "parallel readers of one file"
h=$(counter "$T/ws.sock" hydrations)
[ "$h" = 1 ] || fail "the big file was hydrated $h times"

# Many readers of many files: every byte equals git archive's.
(cd "$ref" && find . -type f -printf '%P\n') > "$T/list"
"$TOOLS/preader" --threads 8 --list "$T/list" --root "$W" --expect-root "$ref" || fail "parallel readers of many files"
[ "$(counter "$T/ws.sock" io_errors)" = 0 ] || fail "io errors during parallel reads"

# A second mount sharing the cache reuses the hydrated blobs.
mount_ws ws2 --repo "$repo" --commit main
cmp "$W/$big" "$T/ws2/$big" || fail "second mount reads different bytes"
[ "$(counter "$T/ws2.sock" hydrations)" = 0 ] || fail "second mount hydrated again"
[ "$(counter "$T/ws2.sock" cache_hits)" -ge 1 ] || fail "second mount did not hit the cache"
unmount_ws ws; unmount_ws ws2
