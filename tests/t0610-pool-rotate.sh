#!/bin/bash
# Images on a cadence with a warm pool: the cadence builds the first image,
# skips when the branch did not move, builds again when it moved; each new
# image rotates the pool (idle entries of the old image drained and
# replaced, a claimed session untouched); a failed build keeps serving the
# previous image and is counted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
. "$(dirname "$0")/lib_pool.sh"
require_fuse
command -v bwrap >/dev/null || fail "bubblewrap (bwrap) is not installed"

ORIGIN=$(gen origin.git --files 300 --bare)
git clone -q "$ORIGIN" "$T/work"
push_change() { # push_change FILE TEXT: a commit on the origin's main
  echo "$2" >"$T/work/$1"
  git -C "$T/work" add "$1"
  git -C "$T/work" commit -qm "change $1"
  git -C "$T/work" push -q origin HEAD:main
}
start_thawd

# setup fails once the branch has a file named FAIL; interval 2 s
add_pool_repo demo "$ORIGIN" '"setup":["test ! -e FAIL"],"build_interval_s":2,"pool_min":1,"pool_max":8,"pool_spare":2'

# ---- the cadence builds the first image (there is none) ----
wait_until 120 bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://thawd/v1/repos/demo | jq -r .image)\" != null ]" ||
  fail "no first image: $(api GET /v1/repos/demo)"
IMG1=$(api GET /v1/repos/demo | jq -r .image)
log "image 1: $IMG1"
wait_pool demo ".image == \"$IMG1\" and .ready == 2 and .stale == 0 and .creating == 0" 120
wait_entry_images demo "$IMG1"
[ "$(pool_field demo .cadence.builds)" -ge 1 ] || fail "the cadence did not count its build"

# a claimed session of image 1
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Ann","email":"ann@example.com"}}')
jq -e '.pool == "warm" and .state == "writable"' <<<"$out" >/dev/null || fail "not warm: $out"
SID=$(jq -r .id <<<"$out")
MNT=$(jq -r .mount <<<"$out")
echo mine >"$MNT/ann.txt"
wait_pool demo '.ready == 2 and .claimed == 1' 90
OLD_ENTRIES=$(ls -d "$ST"/pool/demo/e*/entry.json | xargs -n1 dirname | sort)
[ "$(wc -w <<<"$OLD_ENTRIES")" = 2 ] || fail "expected two ready entries: $OLD_ENTRIES"
[ ! -e "$(dirname "$MNT")/entry.json" ] || fail "a claimed entry still looks ready"

# ---- not moved: the next check skips ----
wait_pool demo '.cadence.skips >= 1' 30
[ "$(api GET /v1/repos/demo | jq -r .image)" = "$IMG1" ] || fail "a build ran although the branch did not move"

# ---- moved: a new image, the pool rotates ----
push_change pushed.txt "new content"
wait_until 120 bash -c "img=\$(curl -s --unix-socket '$SOCK' http://thawd/v1/repos/demo | jq -r .image); [ \"\$img\" != null ] && [ \"\$img\" != '$IMG1' ]" ||
  fail "no second image: $(api GET /v1/repos/demo)"
IMG2=$(api GET /v1/repos/demo | jq -r .image)
log "image 2: $IMG2"
wait_pool demo ".image == \"$IMG2\" and .rotations >= 1 and .stale == 0 and .ready == 2 and .creating == 0" 120
wait_entry_images demo "$IMG2"
for d in $OLD_ENTRIES; do
  [ ! -e "$d" ] || wait_until 30 bash -c "[ ! -e '$d' ]" || fail "old entry $d was not drained"
done
# the new entries show the pushed file; the claimed session is untouched
for m in "$ST"/pool/demo/e*/mnt; do
  [ -f "$(dirname "$m")/entry.json" ] || continue
  [ "$(cat "$m/pushed.txt")" = "new content" ] || fail "$m does not show the new commit"
done
[ "$(session_field "$SID" state)" = writable ] || fail "claimed session changed state"
[ "$(cat "$MNT/ann.txt")" = mine ] || fail "claimed session lost its file"
is_mounted "$MNT" || fail "claimed session unmounted by the rotation"

# ---- a failing build keeps the previous image ----
push_change FAIL "boom"
wait_pool demo '.cadence.failures >= 1 and .cadence.last_error != null' 120
r=$(api GET /v1/repos/demo)
[ "$(jq -r .image <<<"$r")" = "$IMG2" ] || fail "the failed build replaced the image: $r"
jq -e '.build_failures >= 1' <<<"$r" >/dev/null || fail "build failure not counted: $r"
wait_pool demo ".image == \"$IMG2\" and .ready == 2" 60
out=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Bob","email":"bob@example.com"}}')
jq -e '.pool == "warm"' <<<"$out" >/dev/null || fail "no warm session after a failed build: $out"
[ "$(cat "$(jq -r .mount <<<"$out")/pushed.txt")" = "new content" ] || fail "warm session after failure is not on image 2"
# the next try is backed off: min(1 min, 4 intervals) = 8 s here, not the 2 s interval
next=$(pool_field demo .cadence.next_check_ms)
[ "$(pool_field demo .cadence.consecutive_failures)" = 1 ] || fail "consecutive failures not 1"
[ "$next" -gt $(( $(now_ms) + 3000 )) ] || fail "no backoff after a failed build (next check $next, now $(now_ms))"
log ok
