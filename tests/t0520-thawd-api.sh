#!/bin/bash
# thawd's API over its real Unix socket with real mounts: every route's
# happy path and its error cases (400, 404, 405, 409, 413, 429), and a whole
# session: create -> read through the mount -> write once writable ->
# snapshot -> delete (the pre-exit snapshot exists in the store).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

ORIGIN=$(gen origin.git --files 300 --bare)
start_thawd --max-sessions 2

# ---- system routes ----
expect 200 GET /v1/health | jq -e '.ok == true' >/dev/null
expect 200 GET /v1/version | jq -e '.api == "v1" and (.version | length > 0)' >/dev/null
expect 200 GET /metrics | grep -c '^thaw_sessions{state="writable"} 0$' >/dev/null || fail "metrics: no thaw_sessions"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "thawd.sock mode is $(stat -c %a "$SOCK"), not 660"

# ---- routing errors ----
expect 404 GET /v1/nothing | jq -e '.code == "not_found"' >/dev/null
expect 405 PUT /v1/sessions >/dev/null
expect 405 DELETE /v1/repos >/dev/null

# ---- repositories ----
expect 400 POST /v1/repos '{"name":"x"' | jq -e '.code == "bad_request"' >/dev/null   # truncated JSON
expect 400 POST /v1/repos '[1,2]' >/dev/null                                          # not an object
expect 400 POST /v1/repos '{"name":7,"url":"/x"}' >/dev/null                          # wrong type
expect 400 POST /v1/repos '{"name":"../x","url":"/x"}' >/dev/null                     # bad name
expect 400 POST /v1/repos '{"name":".hidden","url":"/x"}' >/dev/null
expect 400 POST /v1/repos '{"name":"r"}' >/dev/null                                   # missing url
expect 400 POST /v1/repos '{"name":"r","url":"http://example.invalid/r.git"}' >/dev/null
expect 502 POST /v1/repos "{\"name\":\"r\",\"url\":\"$T/missing.git\"}" >/dev/null    # nothing to clone
expect 201 POST /v1/repos "{\"name\":\"demo\",\"url\":\"$ORIGIN\",\"setup\":[\"true\"]}" |
  jq -e '.name == "demo" and .branch == "main" and .ready == true' >/dev/null
expect 409 POST /v1/repos "{\"name\":\"demo\",\"url\":\"$ORIGIN\"}" >/dev/null
[ -d "$ST/repos/demo.git/objects" ] || fail "no bare mirror"
expect 200 GET /v1/repos | jq -e 'length == 1 and .[0].name == "demo"' >/dev/null
expect 200 GET /v1/repos/demo | jq -e '.url == "'"$ORIGIN"'"' >/dev/null
expect 404 GET /v1/repos/nope >/dev/null
expect 200 GET /v1/repos/demo/images | jq -e 'length == 0' >/dev/null
expect 404 GET /v1/repos/nope/images >/dev/null

# ---- 413: a body over 1 MiB ----
head -c 1100000 /dev/zero | tr '\0' a | sed 's/^/{"name":"/; s/$/"}/' >"$T/big.json"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: application/json' \
       --data-binary @"$T/big.json" http://thawd/v1/repos)
[ "$code" = 413 ] || fail "oversized body: expected 413, got $code"

# ---- session: bad input ----
expect 400 POST /v1/sessions '{"repo":"demo"}' >/dev/null                                 # no author
expect 400 POST /v1/sessions '{"repo":"demo","author":{"name":"A"}}' >/dev/null          # no email
expect 400 POST /v1/sessions '{"repo":"demo","author":"ann"}' >/dev/null                 # wrong type
expect 400 POST /v1/sessions '{"repo":"demo","author":{"name":"A","email":"a@x"},"timeout_s":"1"}' >/dev/null
expect 400 POST /v1/sessions '{"repo":"demo","author":{"name":"A","email":"a@x"},"from_snapshot":"../../x"}' >/dev/null
expect 400 POST /v1/sessions '{"repo":"demo","author":{"name":"A","email":"a@x"},"parent":"s-zz"}' >/dev/null
expect 404 POST /v1/sessions '{"repo":"nope","author":{"name":"A","email":"a@x"}}' >/dev/null
expect 404 POST /v1/sessions '{"repo":"demo","author":{"name":"A","email":"a@x"},"parent":"s-0000000000000000"}' >/dev/null
expect 400 GET /v1/sessions/s-12 >/dev/null
expect 400 GET /v1/sessions/..%2F..%2Fetc >/dev/null
expect 400 GET '/v1/sessions/s-%00aaaaaaaaaaaaaaa' >/dev/null
expect 404 GET /v1/sessions/s-0000000000000000 >/dev/null
expect 404 DELETE /v1/sessions/s-0000000000000000 >/dev/null
expect 400 GET '/v1/sessions?state=bogus' >/dev/null

# ---- a whole session ----
t0=$(date +%s%N)
ID=$(new_session demo "Ann Author" ann@example.com)
t1=$(date +%s%N)
log "create answered in $(( (t1 - t0) / 1000000 )) ms"
S=$(expect 200 GET "/v1/sessions/$ID")
MNT=$(jq -r .mount <<<"$S")
jq -e '.repo == "demo" and (.state == "ready" or .state == "writable") and .pool == "cold"
       and (.timings.mounted_ms > 0) and (.timings.reads_ready_ms > 0) and (.base_commit | length == 40)' <<<"$S" >/dev/null ||
  fail "session object: $S"
is_mounted "$MNT" || fail "$MNT is not mounted"
# reads at once
git --git-dir="$ORIGIN" show main:README.md | cmp - "$MNT/README.md" || fail "README.md differs from the commit"
wait_state "$ID" writable
jq -e '.timings.writes_ready_ms >= .timings.mounted_ms' <<<"$(api GET "/v1/sessions/$ID")" >/dev/null || fail "writes_ready_ms"
echo "from the session" >"$MNT/new.txt"
echo "changed" >>"$MNT/README.md"
expect 200 GET /v1/sessions | jq -e --arg id "$ID" 'map(.id) | index($id) != null' >/dev/null
expect 200 GET '/v1/sessions?state=writable' | jq -e 'length == 1' >/dev/null
expect 200 GET '/v1/sessions?state=removed' | jq -e 'length == 0' >/dev/null

# timeout, refresh, participants
expect 400 POST "/v1/sessions/$ID/timeout" '{"timeout_s":-5}' >/dev/null
expect 400 POST "/v1/sessions/$ID/timeout" '{}' >/dev/null
before=$(session_field "$ID" expires_at_ms)
expect 200 POST "/v1/sessions/$ID/timeout" '{"timeout_s":600}' | jq -e ".expires_at_ms < $before" >/dev/null
expect 200 POST "/v1/sessions/$ID/refresh" | jq -e '.idle_expires_at_ms > 0' >/dev/null
expect 201 POST "/v1/sessions/$ID/participants" '{"name":"Bo","email":"bo@example.com"}' >/dev/null
expect 409 POST "/v1/sessions/$ID/participants" '{"name":"Bo","email":"bo@example.com"}' >/dev/null
expect 400 POST "/v1/sessions/$ID/participants" '{"name":"Bo"}' >/dev/null
expect 200 GET "/v1/sessions/$ID" | jq -e '.participants | length == 2' >/dev/null

# snapshot
expect 400 POST "/v1/sessions/$ID/snapshots" '{"kind":"image"}' >/dev/null
SNAP=$(expect 201 POST "/v1/sessions/$ID/snapshots" '{}')
jq -e '.kind == "session" and (.id | length == 40) and .files >= 2' <<<"$SNAP" >/dev/null || fail "snapshot: $SNAP"
SID=$(jq -r .id <<<"$SNAP")
[ -f "$ST/store/layers/$SID/manifest.db" ] || fail "snapshot $SID not in the store"
expect 200 GET "/v1/sessions/$ID/snapshots" | jq -e --arg s "$SID" 'length == 1 and .[0].id == $s' >/dev/null

# the cap: 2 sessions; the third gets 429 with Retry-After
ID2=$(new_session demo "Cy" cy@example.com)
code=$(curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: application/json' \
  --data-binary '{"repo":"demo","author":{"name":"Di","email":"di@example.com"}}' http://thawd/v1/sessions)
[ "$code" = 429 ] || fail "over the cap: expected 429, got $code"
grep -qi '^Retry-After: [0-9]' "$T/hdr" || fail "429 without Retry-After"
jq -e '.code == "too_many"' "$T/body" >/dev/null

# child sessions are listed on the parent
expect 405 POST "/v1/sessions/$ID2" '{}' >/dev/null
expect 200 DELETE "/v1/sessions/$ID2" | jq -e '.state == "removed"' >/dev/null
CH=$(new_session demo "Cy" cy@example.com "\"parent\":\"$ID\"")
expect 200 GET "/v1/sessions/$ID" | jq -e --arg c "$CH" '.children == [$c]' >/dev/null
expect 200 DELETE "/v1/sessions/$CH" >/dev/null

# delete: pre-exit snapshot first, then unmount; a second delete is 409
D=$(expect 200 DELETE "/v1/sessions/$ID")
jq -e '.state == "removed" and (.pre_exit_snapshot | length == 40)' <<<"$D" >/dev/null || fail "delete: $D"
PRE=$(jq -r .pre_exit_snapshot <<<"$D")
[ -f "$ST/store/layers/$PRE/manifest.db" ] || fail "pre-exit snapshot $PRE not in the store"
is_mounted "$MNT" && fail "$MNT still mounted after delete"
expect 409 DELETE "/v1/sessions/$ID" | jq -e '.code == "conflict"' >/dev/null
expect 409 POST "/v1/sessions/$ID/snapshots" '{}' >/dev/null
expect 200 GET "/v1/sessions/$ID" | jq -e '.state == "removed"' >/dev/null
expect 200 GET "/v1/sessions/$ID/snapshots" | jq -e 'map(.kind) == ["session", "pre-exit"]' >/dev/null
expect 200 GET /metrics | grep -c '^thaw_freeze_duration_seconds_count 4$' >/dev/null || fail "freeze histogram count"

# the session database and thaw.db hold the rows
sqlite3 "$ST/thaw.db" "select state from sessions where id='$ID'" | grep -qx removed || fail "thaw.db row"
[ "$(sqlite3 "$ST/sessions/$ID/session.db" "select count(*) from events where type='snapshot'")" = 2 ] ||
  fail "session.db: snapshot events"

# a second thawd on the same state refuses to start
if "$THAWD" --state "$ST" --thawfs "$THAWFS" 2>"$T/second.err"; then fail "a second thawd started"; fi
grep -q "already runs" "$T/second.err" || fail "second thawd: $(cat "$T/second.err")"

stop_thawd

# loopback TCP: a bearer token (STATE/token, 0600) on every request
PORT=$((20000 + RANDOM % 30000))
start_thawd --listen "127.0.0.1:$PORT"
[ "$(stat -c %a "$ST/token")" = 600 ] || fail "token mode $(stat -c %a "$ST/token")"
TOKEN=$(cat "$ST/token")
[ ${#TOKEN} -ge 32 ] || fail "short token"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/health")
[ "$code" = 401 ] || fail "TCP without a token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong$TOKEN" "http://127.0.0.1:$PORT/v1/health")
[ "$code" = 401 ] || fail "TCP with a wrong token: $code"
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/sessions" | jq -e 'length == 3' >/dev/null ||
  fail "TCP with the token: sessions not listed after the restart"
stop_thawd
echo "ok"
