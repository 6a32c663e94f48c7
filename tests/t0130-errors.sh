#!/usr/bin/env bash
# Bad input: one-line message, non-zero exit, nothing mounted.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 5 --bare)
mkdir -p "$T/mp" "$T/full"
echo x > "$T/full/file"
touch "$T/plainfile"

expect_error() { # PATTERN ARGS...
  local pat=$1; shift
  set +e
  "$THAWFS" "$@" > "$T/out" 2> "$T/err"
  local rc=$?
  set -e
  [ $rc -ne 0 ] || fail "thawfs $* succeeded"
  [ "$(wc -l < "$T/err")" -eq 1 ] || { cat "$T/err" >&2; fail "expected one line of error for: $*"; }
  grep -q -- "$pat" "$T/err" || fail "error for '$*' was '$(cat "$T/err")', expected /$pat/"
  ! is_mounted "$T/mp" || fail "something is mounted after a failed start"
  log "ok: $(cat "$T/err")"
}
C=(--cache "$T/cache")
expect_error "cannot open repository $T/nope" --repo "$T/nope" --commit main "${C[@]}" "$T/mp"
expect_error "cannot open repository" --repo "$T/full" --commit main "${C[@]}" "$T/mp"
expect_error "unknown revision 'no-such-branch'" --repo "$repo" --commit no-such-branch "${C[@]}" "$T/mp"
expect_error "does not exist" --repo "$repo" --commit main "${C[@]}" "$T/nomp"
expect_error "is not empty" --repo "$repo" --commit main "${C[@]}" "$T/full"
expect_error "is not a directory" --repo "$repo" --commit main "${C[@]}" "$T/plainfile"
expect_error "cache directory $T/plainfile/c cannot be written" --repo "$repo" --commit main --cache "$T/plainfile/c" "$T/mp"
mkdir -p "$T/ro"
mount -t tmpfs -o ro,size=1m tmpfs "$T/ro"
MOUNTS+=("$T/ro")
expect_error "cache directory $T/ro/cache cannot be written" --repo "$repo" --commit main --cache "$T/ro/cache" "$T/mp"
umount "$T/ro"
expect_error "layer $T/nolayer" --repo "$repo" --commit main "${C[@]}" --layer "$T/nolayer" "$T/mp"
expect_error "missing --commit" --repo "$repo" "$T/mp"
expect_error "invalid --cache-size" --repo "$repo" --commit main --cache-size 12Q "$T/mp"

# A live control socket is not stolen.
mount_ws ws --repo "$repo" --commit main
expect_error "in use" --repo "$repo" --commit main "${C[@]}" --control "$T/ws.sock" "$T/mp"
unmount_ws ws
