#!/usr/bin/env bash
# POSIX behaviour of the writable workspace (pjdfstest groups: chmod, chown,
# link, mkdir, mkfifo, open, rename, rmdir, symlink, truncate, ftruncate,
# unlink, utimensat, plus xattrs) on entries that exist only in the lower
# layers, only in the upper, and in both. The same suite runs on a plain
# directory first: the assertions themselves are checked there.
. "$(dirname "$0")/lib.sh"
require_fuse

fixture() { # DIR: the lower fixture posix_suite expects
  mkdir -p "$1/lower/d0" "$1/lower/d1/sub"
  for i in 0 1 2 3 4 5 6 7 8 9; do printf 'lower f%s\n' $i > "$1/lower/f$i"; done
  printf '#!/bin/sh\n' > "$1/lower/x"; chmod 755 "$1/lower/x"
  printf 'lower d0/a\n' > "$1/lower/d0/a"; printf 'lower d0/b\n' > "$1/lower/d0/b"
  printf 'c\n' > "$1/lower/d1/sub/c"
  ln -s f0 "$1/lower/ln"
}
# The control run on a plain directory.
mkdir -p "$T/native"
fixture "$T/native"; mkdir "$T/native/lower/empty"
"$TOOLS/posix_suite" "$T/native" || fail "the suite fails on a plain directory: the test itself is wrong"

# The repository holds the fixture; an empty directory comes from a layer.
mkdir -p "$T/src"
fixture "$T/src"
git -C "$T/src" init -q && git -C "$T/src" add -A && git -C "$T/src" commit -qm fixture
mkdir -p "$T/layer/lower/empty"
mount_ws ws --repo "$T/src" --commit HEAD --layer "$T/layer" --upper "$T/upper"
"$TOOLS/posix_suite" "$T/ws" || fail "POSIX suite on the workspace"

# The workspace shows the same as the plain directory after the same run.
diff <(tree_listing "$T/native") <(tree_listing "$T/ws") || fail "workspace and plain directory differ after the suite"
diff -r --no-dereference -x .git "$T/native" "$T/ws" || fail "contents differ after the suite"
# The lower layers are untouched.
[ "$(git -C "$T/src" status --porcelain)" = "" ] || fail "the repository's checkout changed"
[ -d "$T/layer/lower/empty" ] || fail "the layer changed"

# Names longer than 255 bytes: ENAMETOOLONG; paths near PATH_MAX work.
long=$(printf 'n%.0s' $(seq 1 256))
if out=$(touch "$T/ws/$long" 2>&1); then fail "256-byte name accepted"; fi
echo "$out" | grep -q "File name too long" || fail "256-byte name: $out"
deep="$T/ws/deep"
comp=$(printf 'd%.0s' $(seq 1 200))
mkdir -p "$deep"
( cd "$deep"
  for i in $(seq 1 19); do mkdir "$comp"; cd "$comp"; done
  echo "deep content" > leaf
  [ "$(cat leaf)" = "deep content" ] || exit 1
  mv leaf leaf2 && [ -f leaf2 ] || exit 1
) || fail "paths near PATH_MAX"
unmount_ws ws
