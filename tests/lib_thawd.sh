# Helpers of the thawd tests (sourced after lib.sh): a private thawd on
# $T/st, requests over its Unix socket with curl, and a cleanup that stops
# only this thawd, unmounts only its workspaces and kills only their thawfs.
: "${THAWD:?THAWD must point at thawd (run through ctest)}"
command -v curl >/dev/null || fail "curl is required (scripts/deps.sh installs it)"
command -v jq >/dev/null || fail "jq is required"

ST=$T/st
SOCK=$ST/thawd.sock
THAWD_PID=

# start_thawd [ARGS...]: starts thawd on $ST, waits until /v1/health answers.
start_thawd() {
  "$THAWD" --state "$ST" --thawfs "$THAWFS" "$@" >>"$T/thawd.log" 2>&1 &
  THAWD_PID=$!
  wait_until 30 api_ok GET /v1/health || fail "thawd did not answer /v1/health (log: $(tail -3 "$T/thawd.log"))"
}

stop_thawd() {
  [ -n "$THAWD_PID" ] || return 0
  kill "$THAWD_PID" 2>/dev/null
  wait_until 30 bash -c "! kill -0 $THAWD_PID 2>/dev/null" || fail "thawd $THAWD_PID did not stop"
  wait "$THAWD_PID" 2>/dev/null || true
  THAWD_PID=
}

kill9_thawd() {
  kill -9 "$THAWD_PID"
  wait "$THAWD_PID" 2>/dev/null || true
  THAWD_PID=
}

# api METHOD PATH [BODY]: prints the body; the status code goes to $T/status.
api() {
  local m=$1 p=$2 body=${3-}
  local args=(-s -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" --max-time 120)
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  rm -f "$T/body"
  curl "${args[@]}" "http://thawd$p" >"$T/status" || echo 000 >"$T/status"
  cat "$T/body" 2>/dev/null || true
}
status() { cat "$T/status"; }
api_ok() { api "$@" >/dev/null; [ "$(status)" = 200 ]; }

# expect CODE METHOD PATH [BODY]: the request answers CODE; prints the body.
expect() {
  local code=$1; shift
  local out
  out=$(api "$@")
  [ "$(status)" = "$code" ] || fail "$1 $2: expected $code, got $(status): $out"
  printf '%s' "$out"
}

# add_repo NAME PATH: registers a repository (bare mirror of PATH).
add_repo() {
  expect 201 POST /v1/repos "{\"name\":\"$1\",\"url\":\"$2\"}" >/dev/null
}

# start_demo FILES [THAWD-ARGS...]: generates $ORIGIN (a bare repository of
# FILES files), starts thawd with THAWD-ARGS and registers ORIGIN as "demo".
start_demo() {
  local files=$1; shift
  ORIGIN=$(gen origin.git --files "$files" --bare)
  start_thawd "$@"
  add_repo demo "$ORIGIN"
}

# new_session REPO NAME EMAIL [EXTRA-JSON-FIELDS]: prints the session id.
new_session() {
  local extra=${4:+,$4}
  expect 201 POST /v1/sessions "{\"repo\":\"$1\",\"author\":{\"name\":\"$2\",\"email\":\"$3\"}$extra}" | jq -r .id
}

session_field() { api GET "/v1/sessions/$1" | jq -r ".$2"; }
# The state from the listing: GET /v1/sessions/ID counts as activity (idle
# clock), the listing does not.
session_state() { curl -s --unix-socket "$SOCK" http://thawd/v1/sessions | jq -r --arg id "$1" '.[] | select(.id == $id) | .state'; }
wait_state() {
  local id=$1 want=$2
  wait_until "${3:-60}" bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://thawd/v1/sessions | jq -r '.[] | select(.id == \"$id\") | .state')\" = '$want' ]" ||
    fail "$id: not $want (is $(session_state "$id"))"
}

# writable_session NAME EMAIL [EXTRA-JSON-FIELDS]: a new session of "demo",
# once writable; prints its id.
writable_session() {
  local id
  id=$(new_session demo "$@")
  wait_state "$id" writable
  echo "$id"
}

# Workspace directories below $ST (globs; each with ctl.sock and mnt/) that
# the cleanup unmounts and whose thawfs it stops: the sessions' here, and
# lib_pool.sh adds the pool entries' (they outlive thawd).
THAWD_WS_GLOBS=("sessions/*")

# stop_workspaces DIR...: unmounts DIR/mnt and stops the thawfs serving
# DIR/ctl.sock (asked for its pid first; it exits by itself once unmounted,
# else it is killed after 5 s).
stop_workspaces() {
  local d p pids=()
  for d in "$@"; do
    [ -S "$d/ctl.sock" ] || continue
    p=$(timeout 3 "$THAWCTL" --timeout 2 "$d/ctl.sock" status 2>/dev/null | jq -r '.pid // empty')
    [ -n "$p" ] && pids+=("$p")
  done
  for d in "$@"; do
    is_mounted "$d/mnt" && { fusermount3 -u "$d/mnt" 2>/dev/null || fusermount3 -u -z "$d/mnt" 2>/dev/null; }
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill "$p" 2>/dev/null
  done
}

thawd_cleanup() {
  local rc=$?
  set +e
  [ -n "$THAWD_PID" ] && kill "$THAWD_PID" 2>/dev/null && wait "$THAWD_PID" 2>/dev/null
  THAWD_PID=
  local g d dirs=()
  for g in "${THAWD_WS_GLOBS[@]}"; do
    for d in "$ST"/$g; do dirs+=("$d"); done
  done
  stop_workspaces "${dirs[@]}"
  # The workspaces' thawfs logs (sanitizer reports of thawd's children land
  # there, not in $T/*.log, which lib.sh's cleanup checks).
  local l
  for d in "${dirs[@]}"; do
    for l in "$d"/*.log; do
      [ -f "$l" ] || continue
      if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$l"; then
        echo "FAIL: sanitizer report in ${l#"$T"/}:" >&2
        sed -n '1,60p' "$l" >&2
        rc=1
      fi
    done
  done
  _rc() { return "$rc"; }
  _rc
  cleanup
}
trap thawd_cleanup EXIT
