#!/usr/bin/env bash
# A layer mounted by thawfs from the store: rm is refused while it is
# mounted, gc runs meanwhile and keeps its objects (a file first read after
# gc still hydrates), and once unmounted rm and gc reclaim everything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_snapshot.sh"
require_fuse

STORE=$T/store
repo=$(gen repo.git --files 60 --seed 7 --bare)
commit=$(git -C "$repo" rev-parse main)

tree=$T/layer; mkdir -p "$tree/snap"
head -c 200000 /dev/urandom > "$tree/snap/first.bin"
head -c 300000 /dev/urandom > "$tree/snap/later.bin"
echo "from the layer" > "$tree/snap/note.txt"
id=$(snapwrite_layer "$tree" --repo demo --base "$commit" --synced "$commit")
objects=$(count_objects)
[ "$objects" -eq 3 ] || fail "expected 3 objects, found $objects"

mount_ws ws --repo "$repo" --commit main --store "$STORE" --layer "$id"
cmp "$tree/snap/first.bin" "$T/ws/snap/first.bin" || fail "layer content differs"

log "rm while mounted"
expect_exit 1 snap rm --store "$STORE" "$id"
grep -q "in use" "$T/err" || fail "rm of a mounted layer: $(cat "$T/err")"

log "gc while mounted"
snap gc --store "$STORE" --grace 0 --json > "$T/gc.json"
[ "$(jq .objects_removed "$T/gc.json")" -eq 0 ] || fail "gc removed objects of a mounted layer: $(cat "$T/gc.json")"
[ "$(count_objects)" -eq "$objects" ] || fail "object count changed"
cmp "$tree/snap/later.bin" "$T/ws/snap/later.bin" || fail "a file first read after gc differs"
[ "$(cat "$T/ws/snap/note.txt")" = "from the layer" ] || fail "note.txt"

log "after unmount"
unmount_ws ws
snap rm --store "$STORE" "$id"
[ "$(snap ls --store "$STORE" --json | jq length)" -eq 0 ] || fail "layer still listed"
snap gc --store "$STORE" --grace 0 --json > "$T/gc.json"
[ "$(jq .objects_removed "$T/gc.json")" -eq 3 ] || fail "gc after rm: $(cat "$T/gc.json")"
[ "$(count_objects)" -eq 0 ] || fail "objects left after gc"
log "ok"
