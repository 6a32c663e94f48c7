#!/usr/bin/env bash
# A failing setup command: no new layer, a message naming the command and its
# status, the previous image stays current, nothing left mounted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_image.sh"
require_fuse
image_repos

ID1=$(build --json --quiet --cmd 'echo ok > built.txt' | jq -r .id)
[[ "$ID1" =~ ^[0-9a-f]{40}$ ]] || fail "first build failed"
n=$(layer_count)

set +e
out=$(build --json --cmd 'echo about to fail; exit 3' 2>"$T/f1.err")
rc=$?
set -e
[ $rc = 1 ] || fail "failed build exited $rc"
tail -1 "$T/f1.err" | grep -q '^thaw-image: build failed: command 1 `echo about to fail; exit 3` exited with status 3' ||
  fail "unexpected message: $(tail -1 "$T/f1.err")"
[ "$(jq -r .exit_status <<<"$out")" = 3 ] || fail "json: $out"
jq -r .error <<<"$out" | grep -q 'about to fail' || fail "the error lacks the last output lines: $out"
[ "$(layer_count)" = "$n" ] || fail "a failed build left a layer"
[ "$(current)" = "$ID1" ] || fail "the previous image is no longer current"
grep -q 'exit status 3' "$(last_log)" || fail "the build log lacks the status"
no_scratch_mounts

# The second of two commands fails after the first changed files.
set +e
build --cmd 'echo fine > a.txt' --cmd false 2>"$T/f2.err"
rc=$?
set -e
[ $rc = 1 ] || fail "second failing build exited $rc"
tail -1 "$T/f2.err" | grep -q 'command 2 `false` exited with status 1' || fail "unexpected: $(tail -1 "$T/f2.err")"
[ "$(layer_count)" = "$n" ] && [ "$(current)" = "$ID1" ] || fail "the second failure changed the store"

# Bad input: an unknown previous image, a snapshot that is not an image, usage.
set +e
build --previous 0123456789abcdef --cmd true 2>"$T/f3.err"; rc=$?
set -e
[ $rc = 1 ] && grep -q 'previous image 0123456789abcdef' "$T/f3.err" || fail "unknown previous: rc $rc $(cat "$T/f3.err")"
set +e
"$THAWIMAGE" build --store "$STORE" --repo "$MIRROR" 2>/dev/null; rc=$?
set -e
[ $rc = 2 ] || fail "a build without a command exited $rc, not 2"
set +e
build --cmd true --repo "$T/nonexistent.git" 2>"$T/f4.err"; rc=$?
set -e
[ $rc = 1 ] && grep -q 'cannot open repository' "$T/f4.err" || fail "missing repository: rc $rc $(cat "$T/f4.err")"
[ "$(layer_count)" = "$n" ] || fail "bad input changed the store"
no_scratch_mounts
log "ok"
