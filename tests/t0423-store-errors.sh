#!/usr/bin/env bash
# Bad store layers at start: one line on stderr, exit 1, nothing mounted
# (unknown id, ambiguous or too short prefix, missing store, corrupt
# manifest, an id without --store).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fsstore.sh"
require_fuse

repo=$(gen repo.git --files 100 --seed 5 --bare)
S=$T/store
printf 'reg a.txt text=a\n' > "$T/a.spec"
L=$(mklayer "$S" "$T/a.spec")
mkdir -p "$T/mp"

expect_error() { # PATTERN ARGS...
  local pat=$1; shift
  set +e
  "$THAWFS" --cache "$T/cache" "$@" "$T/mp" > "$T/out" 2> "$T/err"
  local rc=$?
  set -e
  [ $rc = 1 ] || { cat "$T/err" >&2; fail "thawfs $* exited $rc, expected 1"; }
  [ "$(wc -l < "$T/err")" -eq 1 ] || { cat "$T/err" >&2; fail "expected one line of error for: $*"; }
  grep -q -- "$pat" "$T/err" || fail "error for '$*' was '$(cat "$T/err")', expected /$pat/"
  ! is_mounted "$T/mp" || fail "something is mounted after a failed start"
  log "ok: $(cat "$T/err")"
}
G=(--repo "$repo" --commit main)
expect_error "layer 0123456789abcdef: no layer 0123456789abcdef" "${G[@]}" --store "$S" --layer 0123456789abcdef
expect_error "layer ${L:0:5}: .*not a layer id" "${G[@]}" --store "$S" --layer "${L:0:5}"
# Two layer directories sharing a 10-digit prefix make the prefix ambiguous.
twin=${L:0:10}$(printf '%030d' 0)
[ "$twin" != "$L" ] || twin=${L:0:10}$(printf '%030d' 1)
cp -a "$S/layers/$L" "$S/layers/$twin"
expect_error "ambiguous" "${G[@]}" --store "$S" --layer "${L:0:10}"
rm -rf "${S:?}/layers/$twin"
expect_error "store $T/nostore" "${G[@]}" --store "$T/nostore" --layer "$L"
expect_error "layer $L: " "${G[@]}" --layer "$L"
# A corrupt manifest, given by path.
[ "$(mklayer "$T/bad" "$T/a.spec")" = "$L" ] || fail "same spec, another id"
chmod u+w "$T/bad/layers/$L/manifest.db"
head -c 4096 /dev/urandom > "$T/bad/layers/$L/manifest.db"
expect_error "layer $T/bad/layers/$L: " "${G[@]}" --layer "$T/bad/layers/$L"
# The good layer mounts (the checks above are not failing for another reason).
mount_ws ws "${G[@]}" --store "$S" --layer "${L:0:8}"
[ "$(cat "$T/ws/a.txt")" = a ] || fail "good layer"
unmount_ws ws
