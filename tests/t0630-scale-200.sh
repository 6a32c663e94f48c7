#!/bin/bash
# 200 concurrent sessions on one host (issue 6): a real thawd with a cap of
# 256 over a small generated repository. 200 creates, 20 in flight at a
# time: every one answers 201, every mount is up and serves the deep file
# with the committed content; every session turns writable; writes work in a
# sample of 20 and stay private to their session; thawd and every thawfs are
# healthy (thawd's API: state, gate, restarts, pid; the pid is a live thawfs
# serving that mount); then all are deleted (20 in flight), each with a
# pre-exit snapshot (the sample's snapshots hold the written files), and no
# mount and no thawfs process of this test remains.
# Budget: the whole script must finish within THAW_SCALE_BUDGET_S (default
# 280 s) in the ASan build on a loaded 2-core machine.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

N=${THAW_SCALE_N:-200}
PAR=20
BUDGET=${THAW_SCALE_BUDGET_S:-280}
DEEP=src/core/engine/detail/impl/deep_file.c
START=$SECONDS
ms() { date +%s%3N; }
phase() { log "$(printf '%-34s %6d ms (total %3d s)' "$1" $(($(ms) - P0)) $((SECONDS - START)))"; P0=$(ms); }
P0=$(ms)

ORIGIN=$(gen origin.git --files 300 --commits 2 --bare)
git --git-dir="$ORIGIN" show "main:$DEEP" >"$T/deep.expected"
[ -s "$T/deep.expected" ] || fail "generator made no $DEEP"
start_thawd --max-sessions 256
add_repo demo "$ORIGIN"
wait_until 60 bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://thawd/v1/repos/demo | jq -r .ready)\" = true ]" ||
  fail "repository demo never ready"
phase "setup"

# --- 200 creates, PAR in flight ---------------------------------------------
mkdir -p "$T/c" "$T/d"
create_one() {
  curl -s -o "$T/c/$1.json" -w '%{http_code} %{time_total}\n' --max-time 120 --unix-socket "$SOCK" \
    -H 'Content-Type: application/json' \
    --data-binary "{\"repo\":\"demo\",\"author\":{\"name\":\"U$1\",\"email\":\"u$1@example.com\"}}" \
    http://thawd/v1/sessions >"$T/c/$1.code" || echo "000 0" >"$T/c/$1.code"
}
delete_one() {
  curl -s -o "$T/d/$1.json" -w '%{http_code} %{time_total}\n' -X DELETE --max-time 180 --unix-socket "$SOCK" \
    "http://thawd/v1/sessions/$(jq -r .id "$T/c/$1.json")" >"$T/d/$1.code" || echo "000 0" >"$T/d/$1.code"
}
export -f create_one delete_one
export T SOCK
seq "$N" | xargs -P "$PAR" -I{} bash -c 'create_one {}'
phase "$N creates ($PAR in flight)"
kill -0 "$THAWD_PID" 2>/dev/null || fail "thawd died during the creates"
bad=$(cat "$T"/c/*.code | awk '$1 != 201' | wc -l)
[ "$bad" = 0 ] || {
  for i in $(seq "$N"); do read -r c _ <"$T/c/$i.code"; [ "$c" = 201 ] || log "create $i: $c $(head -c 300 "$T/c/$i.json")"; done
  fail "$bad of $N creates did not answer 201"
}
log "create latency: $(awk '{print $2 * 1000}' "$T"/c/*.code | sort -n |
  awk '{a[NR] = $1} END {printf "p50 %.0f ms, p99 %.0f ms, max %.0f ms", a[int((NR + 1) / 2)], a[int((NR * 99 + 99) / 100)], a[NR]}')"
for i in $(seq "$N"); do jq -r '[.id, .mount, .upper] | @tsv' "$T/c/$i.json"; done >"$T/sessions.tsv"
[ "$(cut -f1 "$T/sessions.tsv" | sort -u | grep -c '^s-')" = "$N" ] || fail "session ids not $N distinct"
[ "$(cut -f2 "$T/sessions.tsv" | sort -u | wc -l)" = "$N" ] || fail "mount points not $N distinct"

# --- every mount is up and serves the deep file ------------------------------
awk '$3 ~ /^fuse/ {print $2}' /proc/mounts | sort >"$T/mounts.now"
while IFS=$'\t' read -r id m _; do
  grep -qxF "$m" "$T/mounts.now" || fail "$id: $m not mounted"
  cmp -s "$m/$DEEP" "$T/deep.expected" || fail "$id: $m/$DEEP differs from the commit"
done <"$T/sessions.tsv"
phase "$N mounts read"

# --- every session syncs and turns writable ----------------------------------
writable() { [ "$(curl -s --unix-socket "$SOCK" http://thawd/v1/sessions | jq '[.[] | select(.state == "writable")] | length')" = "$N" ]; }
wait_until 150 writable || fail "not all writable: $(curl -s --unix-socket "$SOCK" http://thawd/v1/sessions |
  jq -c 'group_by(.state) | map({(.[0].state): length}) | add')"
phase "$N writable"

# --- writes in a sample of 20, private to their session ----------------------
STEP=$(( N / 20 > 0 ? N / 20 : 1 ))
sample=()
for ((k = 1; k <= N; k += STEP)); do sample+=("$k"); done
for k in "${sample[@]}"; do
  IFS=$'\t' read -r id m up < <(sed -n "${k}p" "$T/sessions.tsv")
  printf 'scale %s %s\n' "$k" "$id" >"$m/scale-$k.txt"
  printf 'appended by %s\n' "$id" >>"$m/$DEEP"
  mkdir -p "$m/scale-dir-$k/sub"
  ln -s "../$DEEP" "$m/scale-dir-$k/link"
done
for k in "${sample[@]}"; do
  IFS=$'\t' read -r id m up < <(sed -n "${k}p" "$T/sessions.tsv")
  [ "$(cat "$m/scale-$k.txt")" = "scale $k $id" ] || fail "$id: written file reads back wrong"
  [ "$(tail -1 "$m/$DEEP")" = "appended by $id" ] || fail "$id: append to the deep file lost"
  [ "$(head -c "$(stat -c %s "$T/deep.expected")" "$m/$DEEP" | cmp - "$T/deep.expected" && echo same)" = same ] ||
    fail "$id: copy-up changed the deep file's old content"
  [ -f "$up/scale-$k.txt" ] || fail "$id: scale-$k.txt not in the upper layer $up"
  [ -d "$m/scale-dir-$k/sub" ] && [ "$(readlink "$m/scale-dir-$k/link")" = "../$DEEP" ] || fail "$id: mkdir/symlink"
  # the next session (not in the sample) sees none of it
  j=$(( k % N + 1 ))
  IFS=$'\t' read -r id2 m2 _ < <(sed -n "${j}p" "$T/sessions.tsv")
  [ ! -e "$m2/scale-$k.txt" ] || fail "$id2 sees $id's file"
  cmp -s "$m2/$DEEP" "$T/deep.expected" || fail "$id2 sees $id's append"
done
phase "writes in ${#sample[@]} sessions"

# --- health: thawd, and each thawfs through thawd's API ----------------------
expect 200 GET /v1/health | jq -e '.ok == true' >/dev/null || fail "health"
api GET /metrics >"$T/metrics"
grep -qx "thaw_sessions{state=\"writable\"} $N" "$T/metrics" ||
  fail "metrics: $(grep '^thaw_sessions' "$T/metrics" | tr '\n' ' ')"
: >"$T/pids"
while IFS=$'\t' read -r id m _; do
  expect 200 GET "/v1/sessions/$id" >"$T/s.json"
  jq -e --arg m "$m" '.state == "writable" and .gate == "open" and .restarts == 0 and .mount == $m and
    .timings.writes_ready_ms != null and (.pid | type) == "number" and .pid > 0' "$T/s.json" >/dev/null ||
    fail "$id unhealthy: $(jq -c '{state, gate, restarts, pid, timings}' "$T/s.json")"
  pid=$(jq -r .pid "$T/s.json")
  [ -r "/proc/$pid/cmdline" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" || fail "$id: thawfs pid $pid not alive"
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "thawfs.* $m" || fail "$id: pid $pid is not the thawfs of $m"
  echo "$pid" >>"$T/pids"
done <"$T/sessions.tsv"
[ "$(sort -u "$T/pids" | wc -l)" = "$N" ] || fail "thawfs pids not $N distinct"
rss=$(while read -r p; do awk '/^VmRSS/ {print $2}' "/proc/$p/status"; done <"$T/pids" | sort -n |
  awk '{a[NR] = $1; s += $1} END {printf "thawfs RSS p50 %.1f MiB, max %.1f MiB, sum %.0f MiB", a[int((NR + 1) / 2)] / 1024, a[NR] / 1024, s / 1024}')
log "$rss; thawd RSS $(awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$THAWD_PID/status")"
phase "health of $N"

# --- delete all, PAR in flight -----------------------------------------------
seq "$N" | xargs -P "$PAR" -I{} bash -c 'delete_one {}'
phase "$N deletes ($PAR in flight)"
kill -0 "$THAWD_PID" 2>/dev/null || fail "thawd died during the deletes"
for i in $(seq "$N"); do
  read -r c _ <"$T/d/$i.code"
  [ "$c" = 200 ] || fail "delete $i: $c $(head -c 300 "$T/d/$i.json")"
  jq -e '.state == "removed" and (.pre_exit_snapshot | type) == "string" and (.pre_exit_snapshot | length) == 40' \
    "$T/d/$i.json" >/dev/null || fail "delete $i: $(jq -c '{state, pre_exit_snapshot}' "$T/d/$i.json")"
done
for k in "${sample[@]}"; do
  id=$(jq -r .id "$T/c/$k.json")
  expect 200 GET "/v1/sessions/$id/snapshots" |
    jq -e '[.[] | select(.kind == "pre-exit" and .files >= 2)] | length == 1' >/dev/null ||
    fail "$id: pre-exit snapshot does not hold the written files: $(api GET "/v1/sessions/$id/snapshots")"
done
expect 200 GET '/v1/sessions?state=removed' | jq -e "length == $N" >/dev/null || fail "not $N removed"
if grep -q " $ST/" /proc/mounts; then fail "mounts left: $(grep " $ST/" /proc/mounts | head -3)"; fi
while read -r p; do
  # teardown waits for thawfs to exit; a pid still alive must not be a thawfs of ours
  if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q "thawfs.* $ST/"; then
    fail "thawfs $p still runs after its session was removed"
  fi
done <"$T/pids"
# any process whose arguments name this test's state directory, other than thawd
for c in $(grep -lsaF -- "$ST/" /proc/[0-9]*/cmdline); do
  p=${c#/proc/}; p=${p%/cmdline}
  [ "$p" = "$THAWD_PID" ] && continue
  if { tr '\0' ' ' <"$c"; } 2>/dev/null | grep -q "thawfs.* $ST/"; then fail "a thawfs of this test remains: pid $p"; fi
done
for l in "$ST"/sessions/*/thawfs.log "$ST"/sessions/*/thawfs.err; do
  [ -f "$l" ] || continue
  if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$l"; then sed -n 1,40p "$l" >&2; fail "sanitizer report in $l"; fi
done
phase "verify teardown"

expect 200 GET /v1/health >/dev/null
stop_thawd
[ $((SECONDS - START)) -le "$BUDGET" ] || fail "took $((SECONDS - START)) s, budget $BUDGET s"
log "total $((SECONDS - START)) s"
echo ok
