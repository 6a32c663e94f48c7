#!/usr/bin/env bash
# A build that runs past --timeout: killed at the deadline (the whole process
# group inside the sandbox), no stray processes, no new layer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_image.sh"
require_fuse
image_repos

tok="sleeper-$$-$RANDOM"
t0=$SECONDS
set +e
out=$(build --json --no-previous --timeout 3 --cmd "cp /bin/sleep ./$tok && ./$tok 600" 2>"$T/t.err")
rc=$?
set -e
elapsed=$((SECONDS - t0))
[ $rc = 1 ] || fail "timed-out build exited $rc"
[ $elapsed -le 15 ] || fail "timed-out build took $elapsed s (timeout 3 s)"
tail -1 "$T/t.err" | grep -q '^thaw-image: build failed: timed out after 3 s' || fail "unexpected: $(tail -1 "$T/t.err")"
[ "$(jq -r .exit_status <<<"$out")" = -1 ] || fail "json: $out"
if grep -q "^\[run\] \\\$ cp /bin/sleep" "$(last_log)"; then
  log "the command ran and was killed at the deadline"
else
  log "the deadline passed before the command started (loaded machine)"
fi
# "[s]leeper...": the pattern does not match the command line of pgrep's own shell
pat="[${tok:0:1}]${tok:1}"
wait_until 10 bash -c "! pgrep -f '$pat' >/dev/null" || fail "stray processes: $(pgrep -af "$pat")"
[ "$(layer_count)" = 0 ] || fail "a timed-out build left a layer"
no_scratch_mounts
log "first timeout ok in $elapsed s"

# A command that closes its output and keeps running: the deadline still applies.
t0=$SECONDS
set +e
build --no-previous --timeout 4 --cmd "exec >/dev/null 2>&1; cp /bin/sleep ./$tok; exec ./$tok 600" 2>"$T/t2.err"
rc=$?
set -e
elapsed=$((SECONDS - t0))
[ $rc = 1 ] && [ $elapsed -le 20 ] || fail "silent command: exit $rc after $elapsed s"
tail -1 "$T/t2.err" | grep -q 'timed out after 4 s' || fail "unexpected: $(tail -1 "$T/t2.err")"
wait_until 10 bash -c "! pgrep -f '$pat' >/dev/null" || fail "stray processes: $(pgrep -af "$pat")"
[ "$(layer_count)" = 0 ] || fail "a timed-out build left a layer"
no_scratch_mounts
log "ok: silent command killed after $elapsed s"
