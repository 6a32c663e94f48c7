#!/bin/bash
# Images and restores through thawd: POST /v1/repos/NAME/images builds an
# image in the background (202, events, GET lists it); new sessions mount
# the newest image (its files are there); a session's snapshot restores
# into a new session (from_snapshot); an unknown snapshot is 404; a failing
# build keeps the previous image and shows in the listing and the metrics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

ORIGIN=$(gen origin.git --files 200 --bare)
start_thawd
expect 201 POST /v1/repos "{\"name\":\"demo\",\"url\":\"$ORIGIN\",\"setup\":[\"echo built > built.txt\"]}" >/dev/null
expect 202 POST /v1/repos/demo/images | jq -e '.building == true' >/dev/null
expect 409 POST /v1/repos/demo/images >/dev/null                  # one build at a time
expect 404 POST /v1/repos/nope/images >/dev/null
wait_until 120 bash -c "curl -s --unix-socket '$SOCK' http://thawd/v1/repos/demo | jq -e '.building == false' >/dev/null" ||
  fail "build did not finish"
IMGS=$(expect 200 GET /v1/repos/demo/images)
jq -e 'length == 1 and .[0].status == "ok" and (.[0].id | length == 40)' <<<"$IMGS" >/dev/null || fail "images: $IMGS"
IMG=$(jq -r '.[0].id' <<<"$IMGS")
expect 200 GET /v1/repos/demo | jq -e --arg i "$IMG" '.image == $i and .image_age_s >= 0' >/dev/null

# a session mounts the image
ID=$(new_session demo "Ann" ann@example.com)
jq -e --arg i "$IMG" '.image == $i' <<<"$(api GET "/v1/sessions/$ID")" >/dev/null || fail "session not on the image"
MNT=$(session_field "$ID" mount)
grep -qx built "$MNT/built.txt" || fail "image file missing in the session"
wait_state "$ID" writable
echo "session work" >"$MNT/work.txt"
SNAP=$(expect 201 POST "/v1/sessions/$ID/snapshots" | jq -r .id)

# restore into a new session
R=$(new_session demo "Ann" ann@example.com "\"from_snapshot\":\"$SNAP\"")
RM=$(session_field "$R" mount)
grep -qx "session work" "$RM/work.txt" || fail "restored session lacks work.txt"
grep -qx built "$RM/built.txt" || fail "restored session lacks the image's file"
[ "$(session_field "$R" from_snapshot)" = "$SNAP" ] || fail "from_snapshot"
expect 404 POST /v1/sessions '{"repo":"demo","author":{"name":"A","email":"a@x"},"from_snapshot":"deadbeefdeadbeef"}' >/dev/null

# a failing build: the previous image stays
api POST /v1/repos '{"name":"broken","url":"'"$ORIGIN"'","setup":["exit 3"]}' >/dev/null
[ "$(status)" = 201 ] || fail "repo broken"
expect 202 POST /v1/repos/broken/images >/dev/null
wait_until 120 bash -c "curl -s --unix-socket '$SOCK' http://thawd/v1/repos/broken | jq -e '.building == false' >/dev/null" ||
  fail "failing build did not finish"
expect 200 GET /v1/repos/broken/images | jq -e '.[0].status == "failed" and (.[0].error | length > 0)' >/dev/null ||
  fail "failed build not listed"
expect 200 GET /v1/repos/broken | jq -e '.image == null and .build_failures == 1' >/dev/null || fail "broken repo state"
expect 200 GET /metrics | grep -c '^thaw_image_build_failures_total{repo="broken"} 1$' >/dev/null || fail "failure metric"
expect 200 GET /metrics | grep -c '^thaw_image_age_seconds{repo="demo"} [0-9]' >/dev/null || fail "age metric"
# sessions of a repository without an image mount the branch tip
B=$(new_session broken "Ben" ben@example.com)
[ "$(session_field "$B" image)" = null ] || fail "broken: session has an image"
for s in "$ID" "$R" "$B"; do expect 200 DELETE "/v1/sessions/$s" >/dev/null; done
stop_thawd
echo ok
