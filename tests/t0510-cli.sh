#!/usr/bin/env bash
# thaw, the client, against a real thawd: every command family, --json
# parsed with jq, human tables, exit codes (0 ok, 1 API error with a
# one-line message, 2 usage, 3 daemon unreachable).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_http.sh"

# rc CMD...: runs CMD, prints its exit status (output to $T/out, $T/err)
rc() { set +e; "$@" >"$T/out" 2>"$T/err"; echo $?; set -e; }
th() { "$THAW" --state "$STATE" "$@"; }

log "unreachable daemon: exit 3 with a one-line message"
[ "$(rc "$THAW" --state "$T/nowhere" status)" = 3 ] || fail "no daemon: exit $(cat "$T/err")"
grep -q '^thaw: cannot reach thawd at .*nowhere/thawd.sock' "$T/err" || fail "message: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 1 ] || fail "unreachable message is not one line"
[ "$(THAW_STATE="$T/nowhere2" rc "$THAW" session ls)" = 3 ] || fail "THAW_STATE not used"
grep -q 'nowhere2/thawd.sock' "$T/err" || fail "THAW_STATE: $(cat "$T/err")"

log "usage errors: exit 2"
for args in "" "bogus" "session" "session bogus" "session inspect" "session inspect a b" "session create" \
            "session ls --nope" "repo add onlyname" "image build" "warm repo" "session create --repo r --timeout x" \
            "session prompt s-1 text" "--url http://example.com:80 status" "session create --repo r --author nobody"; do
  # shellcheck disable=SC2086
  code=$(rc "$THAW" --state "$T/nowhere" $args)
  [ "$code" = 2 ] || fail "'thaw $args': exit $code, want 2 ($(cat "$T/err"))"
done
[ "$(rc "$THAW" --help)" = 0 ] && grep -q 'session create' "$T/out" || fail "--help"
[ "$(rc "$THAW" session --help)" = 0 ] && grep -q 'restore' "$T/out" || fail "session --help"
[ "$(rc "$THAW" session create --help)" = 0 ] && grep -q -- '--from-snapshot' "$T/out" || fail "session create --help"

start_thawd

log "status"
[ "$(rc th status)" = 0 ] || fail "status: $(cat "$T/err")"
grep -q '^health: *ok' "$T/out" || fail "status output: $(cat "$T/out")"
th --json status | jq -e '.health.ok == true and .version.api == "v1" and .total == 0' >/dev/null || fail "status --json"
# --socket is the same daemon
"$THAW" --socket "$SOCK" --json status | jq -e '.health.ok' >/dev/null || fail "--socket"

log "API errors: exit 1, 'thaw: <message> (<status> <code>)'"
[ "$(rc th session inspect s-0123456789abcdef)" = 1 ] || fail "inspect unknown: exit $(cat "$T/err")"
grep -qE '^thaw: .+ \(404 not_found\)$' "$T/err" || fail "404 message: $(cat "$T/err")"
[ "$(rc th session inspect ../../etc)" = 1 ] || fail "inspect ../../etc"
grep -qE '\((400 bad_request|404 not_found)\)$' "$T/err" || fail "traversal message: $(cat "$T/err")"
[ "$(rc th session create --repo nosuchrepo)" = 1 ] || fail "create on an unknown repo"
[ "$(rc th image ls nosuchrepo)" = 1 ] || fail "image ls unknown repo"

log "repo add / ls"
origin=$(gen origin.git --files 300 --seed 5 --commits 2 --bare)
[ "$(rc th repo add demo "$origin" --branch main --wait)" = 0 ] || fail "repo add: $(cat "$T/err")"
th --json repo ls | jq -e 'length == 1 and .[0].name == "demo" and .[0].ready == true' >/dev/null ||
  fail "repo ls --json: $(th --json repo ls)"
th repo ls >"$T/out"
head -1 "$T/out" | grep -q '^NAME  *BRANCH' || fail "repo ls header: $(cat "$T/out")"
grep -q '^demo  *main' "$T/out" || fail "repo ls row: $(cat "$T/out")"
[ "$(rc th repo add demo "$origin")" = 1 ] || fail "duplicate repo add must fail"
grep -q '(409 conflict)' "$T/err" || fail "duplicate repo: $(cat "$T/err")"
[ "$(rc th repo add a/b "$origin")" = 1 ] && grep -q "(400 bad_request)" "$T/err" || fail "bad repo name must fail: $(cat "$T/err")"

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  [ "${CI:-}" = true ] && fail "FUSE missing (CI=true)"
  log "no FUSE: session commands skipped"
  stop_thawd
  exit 0
fi

log "session create / ls / inspect"
th --json session create --repo demo --author "Ada Lovelace <ada@example.com>" >"$T/s.json" || fail "create: $(cat "$T/s.json")"
ID=$(jq -r .id "$T/s.json")
MNT=$(jq -r .mount "$T/s.json")
[[ "$ID" =~ ^s-[0-9a-f]{16}$ ]] || fail "session id '$ID'"
jq -e '.author.email == "ada@example.com" and (.timings | type == "object")' "$T/s.json" >/dev/null || fail "create json"
wait_until 30 bash -c "[ -n \"\$(ls -A '$MNT' 2>/dev/null)\" ]" || fail "mount $MNT empty"
th session ls >"$T/out"
grep -q "^$ID  *demo" "$T/out" || fail "session ls: $(cat "$T/out")"
th --json session ls | jq -e --arg id "$ID" 'map(select(.id == $id)) | length == 1' >/dev/null || fail "ls --json"
th --json session inspect "$ID" | jq -e --arg id "$ID" '.id == $id and .repo == "demo"' >/dev/null || fail "inspect"
st=$(th --json session inspect "$ID" | jq -r .state)
th --json session ls --state "$st" | jq -e --arg id "$ID" 'any(.[]; .id == $id)' >/dev/null || fail "ls --state $st"
th --json session ls --state removed | jq -e --arg id "$ID" 'all(.[]; .id != $id)' >/dev/null || fail "ls --state removed"
human=$(th session create --repo demo --author "Bob <bob@example.com>")
echo "$human" | grep -q '^id: *s-' || fail "create human output: $human"
ID2=$(echo "$human" | awk '/^id:/ {print $2}')

log "prompt, events (replay, --since, --follow)"
th session prompt "$ID" --author "Ada Lovelace <ada@example.com>" "add a README" >"$T/out" || fail "prompt: $(cat "$T/err")"
wait_until 20 bash -c "'$THAW' --state '$STATE' --json session events '$ID' | grep -q '\"type\":\"prompt\"'" ||
  fail "no prompt event: $(th --json session events "$ID")"
th --json session events "$ID" >"$T/ev"
jq -s -e 'length >= 2 and (map(.seq) | . == (sort)) and all(.[]; .session != null)' "$T/ev" >/dev/null ||
  fail "events --json: $(cat "$T/ev")"
n=$(wc -l <"$T/ev")
th --json session events "$ID" --since 1 >"$T/ev2"
[ "$(wc -l <"$T/ev2")" = $((n - 1)) ] || fail "--since 1: $(wc -l <"$T/ev2") events, want $((n - 1))"
jq -s -e 'all(.[]; .seq > 1)' "$T/ev2" >/dev/null || fail "--since 1 replays seq <= 1"
th session events "$ID" >"$T/evh"
head -1 "$T/evh" | grep -qE '^1 +[0-9:.]+ +lifecycle' || fail "human events: $(head -2 "$T/evh")"
# --follow streams live events until we stop it
"$THAW" --state "$STATE" --json session events "$ID" --follow >"$T/follow" 2>&1 &
FPID=$!
PIDS+=("$FPID")
wait_until 20 bash -c "[ \$(wc -l <'$T/follow') -ge $n ]" || fail "follow: replay missing"
th session prompt "$ID" --author "Bob <bob@example.com>" "second" >/dev/null
wait_until 20 bash -c "grep -q 'second' '$T/follow'" || fail "follow: live prompt missing: $(cat "$T/follow")"
kill "$FPID"

log "export: one commit per prompting author"
MNT1=$(th --json session inspect "$ID" | jq -r .mount)
wait_until 30 bash -c "[ \"\$('$THAW' --state '$STATE' --json session inspect '$ID' | jq -r .state)\" = writable ]" ||
  fail "session never writable"
echo "from ada" >"$MNT1/ada.txt"
th --json session export "$ID" --branch feature >"$T/x.json" || fail "export: $(cat "$T/x.json")"
jq -e '.branch == "feature" and (.commits | length) >= 1 and .commits[0].author.email == "ada@example.com"' "$T/x.json" >/dev/null ||
  fail "export json: $(cat "$T/x.json")"
git -C "$STATE/repos/demo.git" log -1 --format='%an <%ae>' feature 2>/dev/null | grep -q 'ada@example.com' ||
  git --git-dir="$origin" log -1 --format='%an <%ae>' feature | grep -q 'ada@example.com' ||
  fail "branch feature has no commit by ada"
[ "$(rc th session export "$ID")" = 2 ] || fail "export without --branch: exit $(cat "$T/err")"

log "snapshot, restore"
SNAP=$(th session snapshot "$ID") || fail "snapshot: $SNAP"
[[ "$SNAP" =~ ^[0-9a-f]{40}$ ]] || fail "snapshot id '$SNAP'"
th --json session restore "$SNAP" --repo demo >"$T/r.json" || fail "restore: $(cat "$T/r.json")"
jq -e --arg s "$SNAP" '.from_snapshot == $s' "$T/r.json" >/dev/null || fail "restore json: $(cat "$T/r.json")"
ID3=$(jq -r .id "$T/r.json")

log "rm"
th session rm "$ID2" >"$T/out" || fail "rm: $(cat "$T/err")"
grep -q "^removed $ID2" "$T/out" || fail "rm output: $(cat "$T/out")"
[ "$(th --json session inspect "$ID2" | jq -r .state)" = removed ] || fail "state after rm"
for id in "$ID" "$ID3"; do th --json session rm "$id" | jq -e '.state == "removed"' >/dev/null || fail "rm $id"; done

log "image build --wait (progress on stderr), image ls"
th image build demo --wait >"$T/img" 2>"$T/img.err" || fail "image build: $(cat "$T/img.err")"
IMG=$(cat "$T/img")
[[ "$IMG" =~ ^[0-9a-f]{40}$ ]] || fail "image build printed '$IMG'"
grep -q "^thaw: image $IMG ready" "$T/img.err" || fail "no progress on stderr: $(cat "$T/img.err")"
th --json image ls demo | jq -e --arg i "$IMG" '.[0].id == $i' >/dev/null || fail "image ls: newest is not $IMG"
th --json repo ls | jq -e --arg i "$IMG" '.[0].image == $i' >/dev/null || fail "repo ls: image not $IMG"

log "pool ls"
# (the pool's routes exist only when thawd links pool/; otherwise a clean 404)
code=$(rc th pool ls)
if [ "$code" = 0 ]; then
  head -1 "$T/out" | grep -q '^REPO  *IMAGE' || fail "pool ls header: $(cat "$T/out")"
else
  [ "$code" = 1 ] && grep -q '(404 not_found)$' "$T/err" || fail "pool ls: exit $code: $(cat "$T/err")"
fi

stop_thawd
[ "$(rc th status)" = 3 ] || fail "status after thawd stopped: exit $(cat "$T/err")"
log "ok"
