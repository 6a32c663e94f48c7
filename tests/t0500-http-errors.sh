#!/usr/bin/env bash
# thawd's HTTP layer over its real Unix socket (and loopback TCP): every
# error class gets its status and a {"message","code"} body, bad ids never
# reach a handler, slow clients, pipelining, clients that vanish mid-stream.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_http.sh"

PORT=$((20000 + RANDOM % 40000))
export THAW_HTTP_IDLE_MS=2000
start_thawd --listen "127.0.0.1:$PORT"

log "socket mode 0660, health and version"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK")"
expect_status 200 GET /v1/health
expect_status 200 GET /v1/version
grep -qi '^Content-Type: application/json' "$T/headers" || fail "no JSON content type"
grep -qi '^Content-Length: ' "$T/headers" || fail "no Content-Length"

log "unknown routes 404, wrong methods 405 with Allow"
expect_status 404 GET /v1/nope
expect_status 404 GET /v2/sessions
expect_status 404 GET /
[ "$(api GET /v1/nope | jq -r .code)" = not_found ] || fail "404 code"
expect_status 405 PUT /v1/health
grep -qi '^Allow: GET' "$T/headers" || fail "405 without Allow: $(cat "$T/headers")"
expect_status 405 PATCH /v1/sessions
grep -qi '^Allow: .*POST' "$T/headers" || fail "405 on /v1/sessions without POST in Allow"
[ "$(api DELETE /v1/repos | jq -r .code)" = method_not_allowed ] || fail "405 code"

log "ids with /, .., NUL, bad characters: 400 before any handler"
for p in /v1/sessions/a%2Fb /v1/sessions/.. /v1/sessions/%2e%2e /v1/sessions/%2E /v1/sessions/a%00b \
         /v1/sessions/..%2F..%2Fetc%2Fpasswd /v1/sessions/a%zz /v1/sessions/a%20b "/v1/sessions/a'b" \
         /v1/repos/%2e%2e/images /v1/sessions/%2e%2e/events; do
  expect_status 400 GET "$p"
  [ "$(jq -r .code "$T/body")" = bad_request ] || fail "$p: code $(cat "$T/body")"
done
expect_status 400 DELETE /v1/sessions/..%2F..
expect_status 400 POST /v1/sessions/%00/snapshots '{}'
# a well-formed id that does not exist is a 404 from the handler
expect_status 404 GET /v1/sessions/s-0123456789abcdef

log "malformed JSON, wrong types, missing fields: 400"
expect_status 400 POST /v1/sessions '{"repo":'
expect_status 400 POST /v1/sessions '[1,2]'
expect_status 400 POST /v1/sessions '{"repo": 5}'
expect_status 400 POST /v1/sessions '{}'
expect_status 400 POST /v1/repos '{"name": "../x", "url": "/tmp"}'
expect_status 400 POST /v1/repos 'not json'

log "malformed request lines: 400 and close"
for req in 'HELLO\r\n\r\n' 'GET\r\n\r\n' 'GET /v1/health HTTP/9.9\r\n\r\n' 'GET /v1/health HTTP/1.1\r\nBad Header\r\n\r\n' \
           'GET /v1/health HTTP/1.1\r\nContent-Length: abc\r\n\r\n' 'GET v1/health HTTP/1.1\r\n\r\n'; do
  st=$(printf "$req" | raw send | raw_status)
  [ "$st" = 400 ] || fail "request '$req': status '$st', want 400"
done

log "oversized headers 431, oversized body 413 before it is read"
out=$(python3 -c 'import sys; sys.stdout.write("GET /v1/health HTTP/1.1\r\nX-Big: " + "a"*20000 + "\r\n\r\n")' | raw send)
[ "$(echo "$out" | raw_status)" = 431 ] || fail "20 KiB header: $(echo "$out" | head -1)"
grep -q '"code":"too_large"' <<<"$out" || fail "431 body"
out=$(printf 'POST /v1/sessions HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n' | raw send)
[ "$(echo "$out" | raw_status)" = 413 ] || fail "Content-Length 2000000: $(echo "$out" | head -1)"
grep -qi '^Connection: close' <<<"$out" || fail "413 without Connection: close"
out=$(python3 -c 'import sys; b="x"*(1100*1024); sys.stdout.write("POST /v1/sessions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(b), b))' | raw send)
[ "$(echo "$out" | raw_status)" = 413 ] || fail "chunked 1.1 MiB: $(echo "$out" | head -1)"
# curl: a 1 MiB + 1 body
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' > "$T/big.json"
api POST /v1/repos "@$T/big.json" >/dev/null
[ "$(status)" = 413 ] || fail "curl 1 MiB + 1 body: $(status)"

log "keep-alive and pipelining on one connection"
out=$(printf 'GET /v1/health HTTP/1.1\r\n\r\nGET /v1/nope HTTP/1.1\r\n\r\nGET /v1/version HTTP/1.1\r\nConnection: close\r\n\r\n' | raw send)
# (bodies have no trailing newline: the next status line follows on the same line)
got=$(echo "$out" | grep -o 'HTTP/1.1 [0-9]*' | awk '{print $2}' | tr '\n' ' ')
[ "$got" = "200 404 200 " ] || fail "pipelining: statuses '$got', want '200 404 200 '"

log "slow client: one byte every 10 ms completes; a stalled one gets 408"
req='GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n'
out=$(printf "$req" | raw slow 10 2>/dev/null)
[ "$(echo "$out" | raw_status)" = 200 ] || fail "slow client: $(echo "$out" | head -1)"
out=$(printf "$req" | raw slow 300 2>"$T/slow.err")
[ "$(echo "$out" | raw_status)" = 408 ] || fail "stalled client: $(echo "$out" | head -1)"
ms=$(awk '/elapsed_ms/ {print $2}' "$T/slow.err")
[ "$ms" -lt 6000 ] || fail "408 took $ms ms (deadline 2000)"

log "clients vanishing mid-stream"
for i in $(seq 1 20); do
  out=$(raw stream-drop '/v1/events?since=0')
  grep -q '"seq":' <<<"$out" || fail "event stream $i: no event: $out"
done
# and one that never reads: connect, request, close at once
for i in $(seq 1 20); do
  printf 'GET /v1/events?since=0 HTTP/1.1\r\n\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); s.close()' "$SOCK"
done
expect_status 200 GET /v1/health
kill -0 "$THAWD_PID" || fail "thawd died"

log "loopback TCP: bearer token required"
TOKEN=$(cat "$STATE/token")
[ "$(stat -c %a "$STATE/token")" = 600 ] || fail "token mode $(stat -c %a "$STATE/token")"
st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/health")
[ "$st" = 401 ] || fail "TCP without token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" "http://127.0.0.1:$PORT/v1/health")
[ "$st" = 401 ] || fail "TCP with a wrong token: $st"
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/health")
[ "$st" = 200 ] || fail "TCP with the token: $st"

# the client over TCP: the token file, the default STATE/token, a wrong token
"$THAW" --url "http://127.0.0.1:$PORT" --token-file "$STATE/token" --json status | jq -e '.health.ok' >/dev/null ||
  fail "thaw --url --token-file"
"$THAW" --state "$STATE" --url "http://127.0.0.1:$PORT/" status | grep -q '^health: *ok' || fail "thaw --url, STATE/token"
echo wrong >"$T/badtoken"
set +e
"$THAW" --url "http://127.0.0.1:$PORT" --token-file "$T/badtoken" status 2>"$T/err"
code=$?
set -e
[ "$code" = 1 ] && grep -q '(401 unauthorized)$' "$T/err" || fail "thaw with a wrong token: exit $code: $(cat "$T/err")"

log "metrics count the requests"
api GET /metrics >"$T/metrics"
[ "$(status)" = 200 ] || fail "metrics: $(status)"
n=$(awk '/^thaw_http_requests_total / {print $2}' "$T/metrics")
[ "${n:-0}" -ge 40 ] || fail "thaw_http_requests_total '$n' after more than 40 answered requests"
e4=$(awk '/^thaw_http_errors_total\{class="4xx"\}/ {print $2}' "$T/metrics")
[ "${e4:-0}" -ge 30 ] || fail "4xx counter '$e4'"
inf=$(awk '/^thaw_http_request_duration_seconds_bucket\{le="\+Inf"\}/ {print $2}' "$T/metrics")
cnt=$(awk '/^thaw_http_request_duration_seconds_count / {print $2}' "$T/metrics")
[ -n "$inf" ] && [ "$inf" = "$cnt" ] || fail "latency histogram: +Inf '$inf' count '$cnt'"

stop_thawd
log "ok"
