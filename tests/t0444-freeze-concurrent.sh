#!/usr/bin/env bash
# Concurrent freezes of three workspaces into one store: all succeed, all
# layers are valid (every object present) and restore to what was frozen.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 21 --bare)
for n in 1 2 3; do
  mount_ws "ws$n" --repo "$repo" --commit main --upper "$T/ws$n.up"
  W=$T/ws$n
  mkdir -p "$W/mine/sub"
  for i in $(seq 1 60); do head -c $((2000 + i * 97)) /dev/urandom > "$W/mine/sub/f$i"; done
  echo "shared content" > "$W/mine/shared"           # the same object in all three
  head -c 3M /dev/urandom > "$W/mine/large"
  rm "$W/$(git -C "$repo" ls-tree -r --name-only main | sed -n "${n}p")"
done

for n in 1 2 3; do
  fz_freeze "ws$n" > "$T/out$n" 2> "$T/err$n" &
  FP[$n]=$!
done
for n in 1 2 3; do wait "${FP[$n]}" || fail "concurrent freeze $n failed: $(cat "$T/err$n")"; done
ids=$(for n in 1 2 3; do jq -r .id "$T/out$n"; done | sort -u | wc -l)
[ "$ids" = 3 ] || fail "expected three distinct layers, got $ids"
[ "$(fz_layers)" = 3 ] || fail "store holds $(fz_layers) layers"
# "shared" is in the store (each of the concurrent freezes may pack a copy).
hs=$(echo "shared content" | git hash-object --stdin)
fz_has_object "$hs" || fail "shared object missing"

fz_object_ids > "$T/ids"
for n in 1 2 3; do
  id=$(jq -r .id "$T/out$n")
  "$THAWSNAP" check --store "$STORE" "$id" >/dev/null 2>&1 || fail "layer $n ($id) does not check"
  for p in $(sqlite3 "$STORE/layers/$id/manifest.db" "select hex(cid) from entries where cid is not null" | tr A-F a-f); do
    grep -qx "$p" "$T/ids" || fail "layer $n names missing object $p"
  done
  fz_restore "$id" "r$n" "$repo"
  fz_same "$T/ws$n" "$T/r$n" mtime || fail "restore of workspace $n differs"
  unmount_ws "r$n"
done
for n in 1 2 3; do unmount_ws "ws$n"; done
