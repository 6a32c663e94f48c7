#!/bin/bash
# The client's pool commands against a real thawd with a pool-enabled
# repository: `thaw pool ls` (table and --json), `thaw warm REPO --user U`
# (holds an entry the user's next session gets; errors: no pool, unknown
# repository, missing --user), and the pool metrics of GET /metrics
# (ready, claims warm/cold, cold fallbacks, refill summary).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
. "$(dirname "$0")/lib_pool.sh"
require_fuse
: "${THAW:?THAW must point at the thaw client}"

ORIGIN=$(gen origin.git --files 300 --bare)
start_thawd
thaw() { "$THAW" --state "$ST" "$@"; }
metric() { api GET /metrics | awk -v k="$1" '$1 == k {print $2}'; }

add_pool_repo demo "$ORIGIN" '"pool_min":1,"pool_max":4,"pool_spare":2'
add_repo plain "$ORIGIN"
wait_pool demo '.ready == 2 and .creating == 0' 90

# ---- pool ls: the table ----
out=$(thaw pool ls) || fail "thaw pool ls failed: $out"
head -1 <<<"$out" | grep -q 'REPO *IMAGE *READY *SYNCING *IN USE *DESIRED *WARM *COLD' || fail "pool ls header: $out"
row=$(grep '^demo ' <<<"$out") || fail "no demo row: $out"
read -r _ img ready syncing inuse desired warm cold <<<"$(sed 's/IN USE/IN_USE/' <<<"$row")"
[ "$ready" = 2 ] && [ "$syncing" = 0 ] && [ "$inuse" = 0 ] && [ "$desired" = 2 ] && [ "$warm" = 0 ] && [ "$cold" = 0 ] ||
  fail "demo row: $row"
grep -q '^plain .*no pool' <<<"$out" || fail "repository without a pool: $out"
# --json is the API's answer
thaw --json pool ls | jq -e 'map(select(.repo == "demo"))[0] | .enabled and .ready == 2 and .max == 4' >/dev/null ||
  fail "pool ls --json: $(thaw --json pool ls)"
# usage errors exit 2
set +e
thaw pool >/dev/null 2>&1; rc1=$?
thaw pool ls extra >/dev/null 2>&1; rc2=$?
set -e
[ "$rc1" = 2 ] && [ "$rc2" = 2 ] || fail "pool usage errors: exit $rc1 $rc2"

# ---- metrics of a warm pool ----
[ "$(metric 'thaw_pool_ready{repo="demo"}')" = 2 ] || fail "thaw_pool_ready: $(api GET /metrics | grep thaw_pool_ready)"
awk '{exit !($1 > 0)}' <<<"$(metric 'thaw_pool_refill_seconds{repo="demo",quantile="0.5"}')" ||
  fail "refill p50: $(api GET /metrics | grep thaw_pool_refill)"
[ "$(metric 'thaw_pool_refill_seconds_count{repo="demo"}')" -ge 2 ] || fail "refill count"

# ---- warm: an entry held for Bob ----
out=$(thaw warm demo --user "Bob <bob@example.com>") || fail "thaw warm failed: $out"
grep -Eq '^warm demo for bob@example.com: entry [0-9]+ held for [0-9]+ s$' <<<"$out" || fail "warm output: $out"
held=$(grep -Eo 'entry [0-9]+' <<<"$out" | cut -d' ' -f2)
wait_pool demo '.held == 1 and .warms == 1'
# --json: the API's answer; a second warm keeps the same entry
j=$(thaw --json warm demo --user bob@example.com) || fail "thaw --json warm failed"
[ "$(jq -r .entry <<<"$j")" = "$held" ] || fail "a second warm moved the hold: $j"
[ "$(metric 'thaw_pool_warms_total{repo="demo"}')" = 2 ] || fail "warms metric"
# Bob's session gets the held entry
s=$(expect 201 POST /v1/sessions '{"repo":"demo","author":{"name":"Bob","email":"bob@example.com"}}')
jq -e '.pool == "warm"' <<<"$s" >/dev/null || fail "Bob's session is not warm: $s"
case "$(jq -r .mount <<<"$s")" in */e"$held"-*) ;; *) fail "Bob did not get the held entry $held: $s" ;; esac
[ "$(metric 'thaw_pool_claims_total{repo="demo",kind="warm"}')" = 1 ] || fail "warm claims metric"
wait_pool demo '.claimed == 1 and .ready == 2' 90
row=$(thaw pool ls | grep '^demo ')
read -r _ _ ready _ inuse desired warm cold <<<"$row"
[ "$ready" = 2 ] && [ "$inuse" = 1 ] && [ "$desired" = 3 ] && [ "$warm" = 1 ] && [ "$cold" = 0 ] ||
  fail "demo row after a claim: $row"

# ---- warm errors ----
set +e
err=$(thaw warm demo 2>&1); rc=$?
[ "$rc" = 2 ] || fail "warm without --user: exit $rc ($err)"
err=$(thaw warm plain --user a@example.com 2>&1); rc=$?
[ "$rc" = 1 ] || fail "warm of a repository without a pool: exit $rc ($err)"
grep -qi 'pool' <<<"$err" || fail "no message for a repository without a pool: $err"
err=$(thaw warm nope --user a@example.com 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "nope" <<<"$err" || fail "warm of an unknown repository: exit $rc ($err)"
set -e

# ---- cold fallbacks show in pool ls and the metrics ----
add_pool_repo lean "$ORIGIN" '"pool_min":0,"pool_max":4,"pool_spare":0'
wait_pool lean '.enabled and .ready == 0'
s=$(expect 201 POST /v1/sessions '{"repo":"lean","author":{"name":"Cy","email":"cy@example.com"}}')
jq -e '.pool != "warm"' <<<"$s" >/dev/null || fail "lean session should be cold: $s"
[ "$(metric 'thaw_pool_cold_fallbacks_total{repo="lean"}')" = 1 ] || fail "cold fallback metric"
[ "$(metric 'thaw_pool_claims_total{repo="lean",kind="cold"}')" = 1 ] || fail "cold claims metric"
row=$(thaw pool ls | grep '^lean ')
read -r _ _ ready _ inuse _ warm cold <<<"$row"
[ "$ready" = 0 ] && [ "$inuse" = 1 ] && [ "$warm" = 0 ] && [ "$cold" = 1 ] || fail "lean row: $row"
stop_thawd
log ok
