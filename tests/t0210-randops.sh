#!/usr/bin/env bash
# 10,000 seeded random operations on the workspace and on a plain directory
# in lockstep: same result for every operation, identical trees after every
# batch of 250 (and a remount of the same upper in the middle).
. "$(dirname "$0")/lib.sh"
require_fuse

mkdir -p "$T/src"
( cd "$T/src"
  mkdir -p a/b sub x/y/z
  for f in a/f.txt a/b/g.c sub/h x/y/z/eee c dd; do head -c $((RANDOM % 20000 + 1)) /dev/urandom | base64 > "$f"; done
  ln -s a/f.txt x/lnk
  chmod 755 c )
git -C "$T/src" init -q && git -C "$T/src" add -A && git -C "$T/src" commit -qm base
mkdir -p "$T/ref"
git -C "$T/src" -c tar.umask=022 archive HEAD | tar -x -C "$T/ref"

mount_ws ws --repo "$T/src" --commit HEAD --upper "$T/upper"
for seed in ${RANDOPS_SEEDS:-1 2}; do
  "$TOOLS/randops" --seed $seed --ops 5000 --batch 250 "$T/ws" "$T/ref" || fail "random operations, seed $seed"
  # Remount the same upper: the workspace is the same.
  unmount_ws ws
  mount_ws ws --repo "$T/src" --commit HEAD --upper "$T/upper"
  "$TOOLS/randops" --seed 99 --ops 0 --batch 1 "$T/ws" "$T/ref" || fail "workspace differs after remount (seed $seed)"
done
unmount_ws ws
