# Helpers of the HTTP/CLI integration tests (t05xx), sourced after lib.sh.
# A private thawd on $T/state, raw HTTP over its Unix socket with python3.

: "${THAWD:?THAWD must point at thawd (run through ctest)}"
: "${THAW:?THAW must point at the thaw client}"
[ -x "$THAWD" ] || fail "thawd not built: $THAWD"
[ -x "$THAW" ] || fail "thaw not built: $THAW"
command -v python3 >/dev/null || fail "python3 is required"

STATE="$T/state"
SOCK="$STATE/thawd.sock"

# thawd leaves session mounts up when it stops (the next thawd reattaches):
# at exit, every FUSE mount under $T joins MOUNTS before lib.sh's cleanup
# unmounts them and removes $T.
http_cleanup() {
  local rc=$?
  set +e # (exit $rc) below must not end the trap under errexit
  local m
  while read -r m; do MOUNTS+=("$m"); done < <(awk -v t="$T/" 'index($2, t) == 1 && $3 ~ /^fuse/ {print $2}' /proc/mounts)
  (exit $rc)
  cleanup
}
trap http_cleanup EXIT

# start_thawd [ARGS...]: starts thawd on $STATE (log $T/thawd.log), waits
# until /v1/health answers.
start_thawd() {
  mkdir -p "$STATE"
  "$THAWD" --state "$STATE" --foreground --thawfs "$THAWFS" "$@" >>"$T/thawd.log" 2>&1 &
  THAWD_PID=$!
  PIDS+=("$THAWD_PID")
  wait_until 30 bash -c "curl -sf --unix-socket '$SOCK' http://x/v1/health >/dev/null" ||
    fail "thawd did not answer /v1/health within 30 s"
}

# stop_thawd: SIGTERM and wait (its sanitizer report, if any, lands in the log).
stop_thawd() {
  kill "$THAWD_PID" 2>/dev/null || true
  wait_until 30 bash -c "! kill -0 $THAWD_PID 2>/dev/null" || fail "thawd did not exit after SIGTERM"
  wait "$THAWD_PID" 2>/dev/null || true
}

# api METHOD PATH [JSON]: prints the body; the status goes to $T/status.
api() {
  local m=$1 p=$2 data=${3:-}
  local args=(-s --path-as-is -X "$m" --unix-socket "$SOCK" -o "$T/body" -w '%{http_code}' -D "$T/headers")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  curl "${args[@]}" "http://x$p" >"$T/status" || true
  cat "$T/body"
}
status() { cat "$T/status"; }

# expect_status WANT METHOD PATH [JSON]: checks the status and, for errors,
# the JSON error body {"message","code"}.
expect_status() {
  local want=$1; shift
  local body
  body=$(api "$@")
  [ "$(status)" = "$want" ] || fail "$1 $2: status $(status), want $want: $body"
  if [ "$want" -ge 400 ]; then
    echo "$body" | jq -e '(.message|type=="string") and (.code|type=="string")' >/dev/null ||
      fail "$1 $2: error body is not {message, code}: $body"
  fi
}

# raw.py: raw bytes over the socket. Modes:
#   raw.py SOCK send      : stdin as is, then read the answer until EOF (10 s)
#   raw.py SOCK slow MS   : stdin one byte every MS ms, then read until EOF
#   raw.py SOCK stream-drop PATH : GET PATH, read the first event line, close
cat >"$T/raw.py" <<'PY'
import socket, sys, time
sock, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sock)
def read_all():
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError):
        pass
    return out
if mode == "send":
    data = sys.stdin.buffer.read()
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sys.stdout.buffer.write(read_all())
elif mode == "slow":
    delay = int(sys.argv[3]) / 1000.0
    data = sys.stdin.buffer.read()
    t0 = time.monotonic()
    got = b""
    s.setblocking(False)
    for i in range(len(data)):
        try:
            s.send(data[i:i+1])
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(delay)
        try:
            b = s.recv(65536)
            if b == b"":
                break
            got += b
        except BlockingIOError:
            pass
    s.setblocking(True)
    s.settimeout(10)
    got += read_all()
    sys.stdout.buffer.write(got)
    sys.stderr.write("elapsed_ms %d\n" % ((time.monotonic() - t0) * 1000))
elif mode == "stream-drop":
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[3]).encode())
    got = b""
    while b"}\n" not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    sys.stdout.buffer.write(got)
PY
raw() { python3 "$T/raw.py" "$SOCK" "$@"; }
# status line of a raw answer on stdin
raw_status() { awk 'NR == 1 {print $2}'; }
