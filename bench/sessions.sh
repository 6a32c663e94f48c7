#!/usr/bin/env bash
# bench/sessions.sh: 200 concurrent sessions on one host (docs/bench-scale.md).
#
# For each repository size (default 5,000 and 50,000 files):
#   thawd  one private thawd (--max-sessions 256), N sessions created PAR at a
#          time through the API; per session: POST -> first byte of the deep
#          file; wall time to create all N; every mount serves the deep file
#          with the committed content; thawfs RSS/PSS after the mount and
#          after a whole-tree read (tar) of every workspace (or of a sample
#          above --tar-all files); thawd RSS; then all deleted (pre-exit
#          snapshots) and the time that takes.
#   peers  `git clone --local` and `git worktree add` for --peers of them
#          (time and disk, extrapolated to N, labelled so); N kernel overlayfs
#          mounts (lowerdir = a checkout: mount time, no daemon so 0 RSS);
#          N fuse-overlayfs processes (mount time, RSS after the mount and
#          after the same whole-tree reads as thawfs).
# Prints a table with ratios; raw figures go to bench/results/sessions-TS.tsv
# and the table to bench/results/sessions-TS.txt (git-ignored).
#
# Needs root (mount -t overlay) and an existing build (default build-rel,
# RelWithDebInfo without sanitizers; --build DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-rel}
SESSIONS=200 SIZES=5000,50000 PAR=20 PEERS=20 TAR_ALL=10000 TAR_SAMPLE=20 TAR_PAR=2 SEED=7 PARTS=thawfs,git,overlays REPORT=""
usage() {
  cat <<EOF
usage: bash bench/sessions.sh [--build DIR] [--sessions 200] [--sizes 5000,50000] [--par 20]
                              [--peers 20] [--tar-all 10000] [--tar-sample 20] [--tar-par 2] [--seed 7]
                              [--parts thawfs,git,overlays] [--report RAW.tsv...]
  --sessions N    workspaces of each kind (thawfs sessions, overlay mounts)
  --par P         session creates (and deletes) in flight at once
  --peers M       git clones and worktrees actually made (figures extrapolated to N)
  --tar-all F     whole-tree read of every workspace when the tree has at most F
                  files, else of --tar-sample of them; --tar-par reads at once
  --parts LIST    what to run (default all): thawfs (thawd and its sessions),
                  git (clones, worktrees), overlays (kernel overlayfs, fuse-overlayfs)
  --report F...   no measurement: print the tables of raw files of earlier runs
                  (several files are merged, e.g. two runs with different --parts)
EOF
}
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --par) PAR=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --tar-all) TAR_ALL=$2; shift 2 ;;
    --tar-sample) TAR_SAMPLE=$2; shift 2 ;;
    --tar-par) TAR_PAR=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --report) shift; REPORT="$*"; set --; break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "sessions.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -n "$REPORT" ]; then
  W=$(mktemp -d "${TMPDIR:-/tmp}/thaw-bsess.XXXXXX")
  trap 'rm -rf "$W"' EXIT
  RAW=$W/merged.tsv
  cat $REPORT | grep -v '^size' >"$RAW"
  REPORT_MODE=1
else
  REPORT_MODE=0
fi
if [ "$REPORT_MODE" = 0 ]; then # ---- measuring: tools, scratch, cleanup
BUILD=$(cd "$BUILD" && pwd)
THAWD=$BUILD/sessiond/thawd THAWFS=$BUILD/fs/thawfs GENREPO=$BUILD/tests/genrepo/thaw-genrepo
for b in "$THAWD" "$THAWFS" "$GENREPO"; do
  [ -x "$b" ] || { echo "sessions.sh: $b missing: cmake --build $BUILD --target thawd thawfs thaw-genrepo" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "sessions.sh: needs root (mount -t overlay)" >&2; exit 1; }
command -v fuse-overlayfs >/dev/null || THAW_BENCH_DEPS=1 bash "$ROOT/scripts/deps.sh"
for c in fuse-overlayfs fusermount3 curl jq git tar; do
  command -v "$c" >/dev/null || { echo "sessions.sh: $c missing (THAW_BENCH_DEPS=1 bash scripts/deps.sh)" >&2; exit 1; }
done
. "$ROOT/bench/lib.sh"

export GIT_CONFIG_NOSYSTEM=1
REPOS=$ROOT/bench/work/scale
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$REPOS" "$ROOT/bench/results"
RAW=$ROOT/bench/results/sessions-$STAMP.tsv TXT=$ROOT/bench/results/sessions-$STAMP.txt
# Mounts, state and scratch live outside the checkout (tools walking the
# checkout must not wander into 200 workspaces); the state path stays short
# (control sockets under it must fit a Unix socket address).
W=$(mktemp -d "${TMPDIR:-/tmp}/thaw-bsess.XXXXXX")
export HOME=$W/home
mkdir -p "$HOME"
git config --global user.name Bench; git config --global user.email bench@thaw.invalid
git config --global safe.directory '*'
TPID="" FOVL_PIDS=() THAWFS_PIDS=() WTREES=()
printf 'size\tsetup\tmetric\tindex\tvalue\tunit\n' >"$RAW"

note() { printf '# %s\n' "$*" >&2; }
now_ns() { date +%s%N; }
raw() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; } # size setup metric index value unit
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/${3:-status}" 2>/dev/null || true; }

finish() {
  local rc=$?
  set +e
  if [ -n "$TPID" ]; then kill "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; fi
  unmount_all_under "$W" >/dev/null
  local p
  for p in "${THAWFS_PIDS[@]}" "${FOVL_PIDS[@]}"; do
    for _ in $(seq 100); do alive "$p" || break; sleep 0.05; done
    alive "$p" && kill "$p" 2>/dev/null
  done
  for p in "${WTREES[@]}"; do git -C "${p%%|*}" worktree remove --force "${p#*|}" 2>/dev/null; done
  [ ${#WTREES[@]} -gt 0 ] && for p in "$REPOS"/n*.git; do git -C "$p" worktree prune 2>/dev/null; done
  rm -rf "$W"
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM
cc -O2 -Wall -Wextra -Werror -pthread -o "$W/rss" "$ROOT/bench/rss.c" -ljansson
fi

# stats FILE: "n p50 p99 max sum" of one number per line (nearest rank)
stats() {
  sort -n "$1" | awk '{a[NR] = $1; s += $1} END {
    if (!NR) { print "0 nan nan nan 0"; exit }
    i = int((NR * 99 + 99) / 100); if (i > NR) i = NR
    printf "%d %.1f %.1f %.1f %.1f\n", NR, a[int((NR + 1) / 2)], a[i], a[NR], s }'
}
col() { awk -v c="$2" '{print $c}' <<<"$1"; }

# pool_run P FUNC ARGS...: runs FUNC ARG for each ARG, P at once
pool_run() {
  local p=$1 f=$2; shift 2
  printf '%s\n' "$@" | xargs -P "$p" -I{} bash -c "$f {}"
}

delete_one() {
  curl -s -o "$W/d/$1.json" -w '%{http_code}\n' -X DELETE --max-time 300 --unix-socket "$SOCK" \
    "http://thawd/v1/sessions/$(jq -r .id "$W/c/$1.json")" >"$W/d/$1.code" || echo 000 >"$W/d/$1.code"
}
tar_one() { # DIR TAG: whole-tree read (GNU tar skips the data when writing to /dev/null itself)
  local t0 t1
  t0=$(date +%s%N)
  if tar -C "$1" --exclude=./.git -cf - . 2>>"$W/tar.err" | cat >/dev/null && [ "${PIPESTATUS[0]}" = 0 ]; then
    t1=$(date +%s%N); echo "$2 $(( (t1 - t0) / 1000000 ))" >>"$W/tar.times"
  else
    echo "$2 fail" >>"$W/tar.times"
  fi
}
export -f delete_one tar_one
export W SOCK DEEP

# ---------------------------------------------------------------- thawfs ----
bench_thawd() { # N
  local n=$1 i t0 t1 s sample=()
  SOCK=$W/st/thawd.sock
  rm -rf "$W/st" "$W/c" "$W/d" "$W/tar.times" "$W/tar.err"; mkdir -p "$W/st" "$W/c" "$W/d"
  "$THAWD" --state "$W/st" --thawfs "$THAWFS" --max-sessions 256 >"$W/thawd-$n.log" 2>&1 &
  TPID=$!
  for _ in $(seq 300); do curl -sf --unix-socket "$SOCK" http://thawd/v1/health >/dev/null && break; sleep 0.05; done
  curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
    -d "{\"name\":\"r\",\"url\":\"$R\",\"branch\":\"main\"}" http://thawd/v1/repos >/dev/null
  for _ in $(seq 1200); do
    [ "$(curl -sf --unix-socket "$SOCK" http://thawd/v1/repos/r | jq -r .ready)" = true ] && break; sleep 0.1
  done
  raw "$n" thawd rss_idle_kib 0 "$(kib "$TPID" VmRSS)" KiB

  note "n=$n thawfs: $SESSIONS sessions, $PAR creates in flight"
  "$W/rss" create "$SOCK" r "$DEEP" "$SESSIONS" "$PAR" "$W/c" >"$W/create.out" 2>"$W/create.err" ||
    { head -5 "$W/create.err" >&2; echo "sessions.sh: creates failed" >&2; exit 1; }
  T_CREATE_ALL=$(awk '$1 == "all_ms" {printf "%.0f", $2}' "$W/create.out")
  raw "$n" thawfs create_all_ms 0 "$T_CREATE_ALL" ms
  for i in $(seq "$SESSIONS"); do
    read -r _ _ ct tt < <(awk -v i="$i" '$1 == i' "$W/create.out")
    raw "$n" thawfs create_ms "$i" "$ct" ms
    raw "$n" thawfs create_first_byte_ms "$i" "$tt" ms
    jq -r '[.id, .mount, .pid] | @tsv' "$W/c/$i.json"
  done >"$W/sess.tsv"
  cut -f3 "$W/sess.tsv" >"$W/thawfs.pids"
  mapfile -t THAWFS_PIDS <"$W/thawfs.pids"
  # every mount serves the deep file with the committed content
  local serving=0
  while IFS=$'\t' read -r _ m _; do cmp -s "$m/$DEEP" "$W/deep.$n" && serving=$((serving + 1)); done <"$W/sess.tsv"
  SERVING_AFTER_CREATE=$serving
  raw "$n" thawfs serving_after_create 0 "$serving" count
  # memory after the mount (and the deep read)
  i=0
  "$W/rss" mem $(cat "$W/thawfs.pids") | while read -r _ rss _ pss anon; do
    i=$((i + 1))
    raw "$n" thawfs rss_mount_kib "$i" "$rss" KiB
    raw "$n" thawfs pss_mount_kib "$i" "$pss" KiB
    raw "$n" thawfs anon_mount_kib "$i" "$anon" KiB
  done
  raw "$n" thawd rss_sessions_kib 0 "$(kib "$TPID" VmRSS)" KiB

  # whole-tree reads
  if [ "$n" -le "$TAR_ALL" ]; then sample=($(seq "$SESSIONS")); else sample=($(seq 1 $(( SESSIONS / TAR_SAMPLE )) "$SESSIONS" | awk -v m="$TAR_SAMPLE" 'NR <= m')); fi
  note "n=$n thawfs: whole-tree read of ${#sample[@]} workspaces, $TAR_PAR at once"
  local args=()
  for i in "${sample[@]}"; do args+=("$(sed -n "${i}p" "$W/sess.tsv" | cut -f2) $i"); done
  t0=$(now_ns)
  pool_run "$TAR_PAR" tar_one "${args[@]}"
  t1=$(now_ns)
  raw "$n" thawfs tar_all_ms 0 $(( (t1 - t0) / 1000000 )) ms
  raw "$n" thawfs tar_count 0 "${#sample[@]}" count
  if grep -q fail "$W/tar.times"; then echo "sessions.sh: a whole-tree read failed: $(head -3 "$W/tar.err")" >&2; exit 1; fi
  while read -r i ms; do raw "$n" thawfs tar_ms "$i" "$ms" ms; done <"$W/tar.times"
  for i in "${sample[@]}"; do
    read -r _ rss hwm pss anon < <("$W/rss" mem "$(sed -n "${i}p" "$W/thawfs.pids")")
    raw "$n" thawfs rss_tar_kib "$i" "$rss" KiB
    raw "$n" thawfs hwm_tar_kib "$i" "$hwm" KiB
    raw "$n" thawfs pss_tar_kib "$i" "$pss" KiB
    raw "$n" thawfs anon_tar_kib "$i" "$anon" KiB
  done
  raw "$n" thawd rss_after_tar_kib 0 "$(kib "$TPID" VmRSS)" KiB
  raw "$n" thawfs cache_kib 0 "$(du -sk "$W/st/cache" | cut -f1)" KiB
  serving=0
  while IFS=$'\t' read -r _ m _; do cmp -s "$m/$DEEP" "$W/deep.$n" && serving=$((serving + 1)); done <"$W/sess.tsv"
  raw "$n" thawfs serving_after_tar 0 "$serving" count
  local hs
  hs=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://thawd/v1/health)
  raw "$n" thawd health_code 0 "$hs" code
  raw "$n" thawd writable 0 "$(curl -s --unix-socket "$SOCK" http://thawd/v1/sessions | jq '[.[] | select(.state == "writable")] | length')" count

  note "n=$n thawfs: deleting $SESSIONS sessions (pre-exit snapshots), $PAR in flight"
  t0=$(now_ns)
  pool_run "$PAR" delete_one $(seq "$SESSIONS")
  t1=$(now_ns)
  raw "$n" thawfs delete_all_ms 0 $(( (t1 - t0) / 1000000 )) ms
  raw "$n" thawfs delete_ok 0 "$(grep -c '^200$' "$W"/d/*.code | awk -F: '{s += $2} END {print s}')" count
  raw "$n" thawfs mounts_left 0 "$(mounts_under "$W/st" | wc -l)" count
  kill "$TPID"; wait "$TPID" 2>/dev/null || true; TPID=""
  local left=0
  while read -r p; do
    for _ in $(seq 200); do alive "$p" || break; sleep 0.05; done
    alive "$p" && left=$((left + 1))
  done <"$W/thawfs.pids"
  raw "$n" thawfs processes_left 0 "$left" count
  THAWFS_PIDS=()
  rm -rf "$W/st"
}

# ----------------------------------------------------------------- peers ----
bench_git() { # N
  local n=$1 i t0 t1 dst
  note "n=$n git clone --local x $PEERS, git worktree add x $PEERS"
  for i in $(seq "$PEERS"); do
    dst=$W/clone$i
    t0=$(now_ns); git clone -q --local "$R" "$dst"; head -c1 "$dst/$DEEP" >/dev/null; t1=$(now_ns)
    raw "$n" clone first_byte_ms "$i" $(( (t1 - t0) / 1000000 )) ms
    raw "$n" clone disk_kib "$i" "$(du -sk "$dst" | cut -f1)" KiB
    rm -rf "$dst"
  done
  for i in $(seq "$PEERS"); do
    dst=$W/wt$i
    WTREES+=("$R|$dst")
    t0=$(now_ns); git -C "$R" worktree add -q --detach "$dst" main; head -c1 "$dst/$DEEP" >/dev/null; t1=$(now_ns)
    raw "$n" worktree first_byte_ms "$i" $(( (t1 - t0) / 1000000 )) ms
    raw "$n" worktree disk_kib "$i" "$(du -sk "$dst" | cut -f1)" KiB
    git -C "$R" worktree remove --force "$dst"
  done
  WTREES=()
  git -C "$R" worktree prune
}

bench_overlays() { # N
  local n=$1 i t0 t1 mnt p left
  note "n=$n kernel overlayfs x $SESSIONS"
  mkdir -p "$W/ov"
  for i in $(seq "$SESSIONS"); do
    mnt=$W/ov/k$i; mkdir -p "$mnt" "$W/ov/k$i-up" "$W/ov/k$i-wk"
    t0=$(now_ns)
    mount -t overlay overlay -o "lowerdir=$CO,upperdir=$W/ov/k$i-up,workdir=$W/ov/k$i-wk" "$mnt"
    head -c1 "$mnt/$DEEP" >/dev/null
    t1=$(now_ns)
    raw "$n" kovl first_byte_ms "$i" "$(awk -v u=$(( (t1 - t0) / 1000 )) 'BEGIN {printf "%.2f", u / 1000}')" ms
  done
  raw "$n" kovl mount_all_ms 0 "$(awk '$1 == '"$n"' && $2 == "kovl" && $3 == "first_byte_ms" {s += $5} END {printf "%.0f", s}' "$RAW")" ms
  rm -f "$W/tar.times" "$W/tar.err"
  local args=()
  for i in $(seq 1 $(( SESSIONS / TAR_SAMPLE )) "$SESSIONS" | awk -v m="$TAR_SAMPLE" 'NR <= m'); do args+=("$W/ov/k$i $i"); done
  pool_run "$TAR_PAR" tar_one "${args[@]}"
  if grep -q fail "$W/tar.times"; then echo "sessions.sh: a tar of kernel overlayfs failed" >&2; exit 1; fi
  while read -r i ms; do raw "$n" kovl tar_ms "$i" "$ms" ms; done <"$W/tar.times"
  for i in $(seq "$SESSIONS"); do umount "$W/ov/k$i"; done

  note "n=$n fuse-overlayfs x $SESSIONS"
  FOVL_PIDS=()
  for i in $(seq "$SESSIONS"); do
    mnt=$W/ov/f$i; mkdir -p "$mnt" "$W/ov/f$i-up" "$W/ov/f$i-wk"
    t0=$(now_ns)
    fuse-overlayfs -o "lowerdir=$CO,upperdir=$W/ov/f$i-up,workdir=$W/ov/f$i-wk" "$mnt" 2>>"$W/fovl.err"
    head -c1 "$mnt/$DEEP" >/dev/null
    t1=$(now_ns)
    raw "$n" fovl first_byte_ms "$i" "$(awk -v u=$(( (t1 - t0) / 1000 )) 'BEGIN {printf "%.2f", u / 1000}')" ms
    # the daemon: the one process whose arguments name this mount point
    p=$({ grep -lsaF -- "upperdir=$W/ov/f$i-up," /proc/[0-9]*/cmdline || true; } | sed -n 's,^/proc/\([0-9]*\)/cmdline$,\1,p' |
      while read -r q; do if [ "$(cat "/proc/$q/comm" 2>/dev/null)" = fuse-overlayfs ]; then echo "$q"; fi; done | awk 'NR == 1')
    [ -n "$p" ] || { echo "sessions.sh: no fuse-overlayfs process for $mnt" >&2; exit 1; }
    FOVL_PIDS+=("$p")
  done
  raw "$n" fovl mount_all_ms 0 "$(awk '$1 == '"$n"' && $2 == "fovl" && $3 == "first_byte_ms" {s += $5} END {printf "%.0f", s}' "$RAW")" ms
  i=0
  "$W/rss" mem "${FOVL_PIDS[@]}" | while read -r _ rss _ pss anon; do
    i=$((i + 1))
    raw "$n" fovl rss_mount_kib "$i" "$rss" KiB
    raw "$n" fovl pss_mount_kib "$i" "$pss" KiB
    raw "$n" fovl anon_mount_kib "$i" "$anon" KiB
  done
  local sample=()
  if [ "$n" -le "$TAR_ALL" ]; then sample=($(seq "$SESSIONS")); else sample=($(seq 1 $(( SESSIONS / TAR_SAMPLE )) "$SESSIONS" | awk -v m="$TAR_SAMPLE" 'NR <= m')); fi
  rm -f "$W/tar.times" "$W/tar.err"
  args=()
  for i in "${sample[@]}"; do args+=("$W/ov/f$i $i"); done
  note "n=$n fuse-overlayfs: whole-tree read of ${#sample[@]} workspaces, $TAR_PAR at once"
  t0=$(now_ns)
  pool_run "$TAR_PAR" tar_one "${args[@]}"
  t1=$(now_ns)
  raw "$n" fovl tar_all_ms 0 $(( (t1 - t0) / 1000000 )) ms
  raw "$n" fovl tar_count 0 "${#sample[@]}" count
  if grep -q fail "$W/tar.times"; then echo "sessions.sh: a tar of fuse-overlayfs failed" >&2; exit 1; fi
  while read -r i ms; do raw "$n" fovl tar_ms "$i" "$ms" ms; done <"$W/tar.times"
  for i in "${sample[@]}"; do
    read -r _ rss hwm pss anon < <("$W/rss" mem "${FOVL_PIDS[$((i - 1))]}")
    raw "$n" fovl rss_tar_kib "$i" "$rss" KiB
    raw "$n" fovl hwm_tar_kib "$i" "$hwm" KiB
    raw "$n" fovl pss_tar_kib "$i" "$pss" KiB
    raw "$n" fovl anon_tar_kib "$i" "$anon" KiB
  done
  for i in $(seq "$SESSIONS"); do fusermount3 -u "$W/ov/f$i"; done
  left=0
  for p in "${FOVL_PIDS[@]}"; do
    for _ in $(seq 200); do alive "$p" || break; sleep 0.05; done
    alive "$p" && left=$((left + 1))
  done
  raw "$n" fovl processes_left 0 "$left" count
  FOVL_PIDS=()
  rm -rf "$W/ov"
}

# ----------------------------------------------------------------- table ----
v() { awk -v n="$1" -v s="$2" -v m="$3" '$1 == n && $2 == s && $3 == m {print $5; exit}' "$RAW"; }
sfile() { awk -v n="$1" -v s="$2" -v m="$3" '$1 == n && $2 == s && $3 == m {print $5}' "$RAW" >"$W/vals"; stats "$W/vals"; }
mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "nan") print "-"; else printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf(a / b < 0.95 ? "%.2fx" : "%.1fx", a / b); else print "-" }'; }

table() { # N
  local n=$1 ex
  local c cf rm rt hm pm pt fm ft fh fpm fpt kv ktar ttar ftar cl wt cld wtd
  c=$(sfile "$n" thawfs create_ms); cf=$(sfile "$n" thawfs create_first_byte_ms)
  rm=$(sfile "$n" thawfs rss_mount_kib); rt=$(sfile "$n" thawfs rss_tar_kib); hm=$(sfile "$n" thawfs hwm_tar_kib)
  pm=$(sfile "$n" thawfs pss_mount_kib); pt=$(sfile "$n" thawfs pss_tar_kib)
  fm=$(sfile "$n" fovl rss_mount_kib); ft=$(sfile "$n" fovl rss_tar_kib); fh=$(sfile "$n" fovl hwm_tar_kib)
  fpm=$(sfile "$n" fovl pss_mount_kib); fpt=$(sfile "$n" fovl pss_tar_kib)
  local am at fam fat
  am=$(sfile "$n" thawfs anon_mount_kib); at=$(sfile "$n" thawfs anon_tar_kib)
  fam=$(sfile "$n" fovl anon_mount_kib); fat=$(sfile "$n" fovl anon_tar_kib)
  kv=$(sfile "$n" kovl first_byte_ms); fv=$(sfile "$n" fovl first_byte_ms)
  ttar=$(sfile "$n" thawfs tar_ms); ftar=$(sfile "$n" fovl tar_ms); ktar=$(sfile "$n" kovl tar_ms)
  cl=$(sfile "$n" clone first_byte_ms); wt=$(sfile "$n" worktree first_byte_ms)
  cld=$(sfile "$n" clone disk_kib); wtd=$(sfile "$n" worktree disk_kib)
  local peers
  peers=$(col "$cl" 1); [ "$peers" -gt 0 ] || peers=1
  ex=$(awk -v s="$SESSIONS" -v p="$peers" 'BEGIN {printf "%.3g", s / p}')
  echo
  echo "== $n files, $SESSIONS workspaces ($(nproc) cores) =="
  printf '%-58s %14s %14s %14s\n' "" thawfs fuse-overlayfs "thawfs/fovl"
  printf '%-58s %14s %14s %14s\n' "RSS per process after mount, p50 (MiB)" "$(mib "$(col "$rm" 2)")" "$(mib "$(col "$fm" 2)")" "$(ratio "$(col "$rm" 2)" "$(col "$fm" 2)")"
  printf '%-58s %14s %14s %14s\n' "RSS per process after mount, max (MiB)" "$(mib "$(col "$rm" 4)")" "$(mib "$(col "$fm" 4)")" "$(ratio "$(col "$rm" 4)" "$(col "$fm" 4)")"
  printf '%-58s %14s %14s %14s\n' "RSS after whole-tree read, p50 (MiB; $(col "$rt" 1) of $SESSIONS)" "$(mib "$(col "$rt" 2)")" "$(mib "$(col "$ft" 2)")" "$(ratio "$(col "$rt" 2)" "$(col "$ft" 2)")"
  printf '%-58s %14s %14s %14s\n' "RSS after whole-tree read, max (MiB)" "$(mib "$(col "$rt" 4)")" "$(mib "$(col "$ft" 4)")" "$(ratio "$(col "$rt" 4)" "$(col "$ft" 4)")"
  printf '%-58s %14s %14s %14s\n' "peak RSS (VmHWM) over the read, max (MiB)" "$(mib "$(col "$hm" 4)")" "$(mib "$(col "$fh" 4)")" "$(ratio "$(col "$hm" 4)" "$(col "$fh" 4)")"
  printf '%-58s %14s %14s %14s\n' "PSS sum of all $SESSIONS after mount (MiB)" "$(mib "$(col "$pm" 5)")" "$(mib "$(col "$fpm" 5)")" "$(ratio "$(col "$pm" 5)" "$(col "$fpm" 5)")"
  printf '%-58s %14s %14s %14s\n' "PSS p50 after whole-tree read (MiB)" "$(mib "$(col "$pt" 2)")" "$(mib "$(col "$fpt" 2)")" "$(ratio "$(col "$pt" 2)" "$(col "$fpt" 2)")"
  printf '%-58s %14s %14s %14s\n' "RssAnon (own memory) after mount, p50 (MiB)" "$(mib "$(col "$am" 2)")" "$(mib "$(col "$fam" 2)")" "$(ratio "$(col "$am" 2)" "$(col "$fam" 2)")"
  printf '%-58s %14s %14s %14s\n' "RssAnon after whole-tree read, p50 / max (MiB)" "$(mib "$(col "$at" 2)") / $(mib "$(col "$at" 4)")" "$(mib "$(col "$fat" 2)") / $(mib "$(col "$fat" 4)")" "$(ratio "$(col "$at" 2)" "$(col "$fat" 2)")"
  printf '%-58s %14s %14s %14s\n' "whole-tree read (tar, no .git) per workspace, p50 (ms)" "$(col "$ttar" 2)" "$(col "$ftar" 2)" "$(ratio "$(col "$ttar" 2)" "$(col "$ftar" 2)")"
  printf '%-58s %14s\n' "thawd RSS: idle / $SESSIONS sessions / after the reads (MiB)" \
    "$(mib "$(v "$n" thawd rss_idle_kib)") / $(mib "$(v "$n" thawd rss_sessions_kib)") / $(mib "$(v "$n" thawd rss_after_tar_kib)")"
  printf '%-58s %14s\n' "shared hydration cache on disk after the reads (MiB)" "$(mib "$(v "$n" thawfs cache_kib)")"
  echo
  printf '%-46s %12s %12s %12s %14s\n' "making $SESSIONS workspaces" "p50 ms" "p99 ms" "all (s)" "all vs thawfs"
  local all_t all_k all_f all_c all_w
  all_t=$(awk -v x="$(v "$n" thawfs create_all_ms)" 'BEGIN {printf "%.1f", x / 1000}')
  all_k=$(awk -v x="$(v "$n" kovl mount_all_ms)" 'BEGIN {printf "%.1f", x / 1000}')
  all_f=$(awk -v x="$(v "$n" fovl mount_all_ms)" 'BEGIN {printf "%.1f", x / 1000}')
  all_c=$(awk -v x="$(col "$cl" 5)" -v s="$SESSIONS" -v p="$peers" 'BEGIN {printf "%.1f", x * s / p / 1000}')
  all_w=$(awk -v x="$(col "$wt" 5)" -v s="$SESSIONS" -v p="$peers" 'BEGIN {printf "%.1f", x * s / p / 1000}')
  printf '%-46s %12s %12s %12s %14s\n' "thawfs: POST /v1/sessions -> first byte ($PAR in flight)" "$(col "$cf" 2)" "$(col "$cf" 3)" "$all_t" "1.0x"
  printf '%-46s %12s %12s %12s %14s\n' "  of which POST /v1/sessions (answer read)" "$(col "$c" 2)" "$(col "$c" 3)" "" ""
  printf '%-46s %12s %12s %12s %14s\n' "kernel overlayfs: mount + first byte (serial)" "$(col "$kv" 2)" "$(col "$kv" 3)" "$all_k" "$(ratio "$all_k" "$all_t")"
  printf '%-46s %12s %12s %12s %14s\n' "fuse-overlayfs: mount + first byte (serial)" "$(col "$fv" 2)" "$(col "$fv" 3)" "$all_f" "$(ratio "$all_f" "$all_t")"
  printf '%-46s %12s %12s %12s %14s\n' "git clone --local + first byte (x$peers, all = x$ex)" "$(col "$cl" 2)" "$(col "$cl" 3)" "~$all_c" "$(ratio "$all_c" "$all_t")"
  printf '%-46s %12s %12s %12s %14s\n' "git worktree add + first byte (x$peers, all = x$ex)" "$(col "$wt" 2)" "$(col "$wt" 3)" "~$all_w" "$(ratio "$all_w" "$all_t")"
  echo
  printf '%-58s %s\n' "memory of the peers" "kernel overlayfs: no daemon (0 RSS); clone/worktree: no process"
  printf '%-58s %s\n' "disk per workspace: clone / worktree (MiB, p50)" "$(mib "$(col "$cld" 2)") / $(mib "$(col "$wtd" 2)") (x$SESSIONS: ~$(mib "$(awk -v a="$(col "$cld" 2)" -v s="$SESSIONS" 'BEGIN {print a * s}')") / ~$(mib "$(awk -v a="$(col "$wtd" 2)" -v s="$SESSIONS" 'BEGIN {print a * s}')") MiB, extrapolated)"
  printf '%-58s %s\n' "whole-tree read p50, kernel overlayfs ($(col "$ktar" 1) of them)" "$(col "$ktar" 2) ms"
  printf '%-58s %s\n' "thawfs: mounts serving the deep file after create / after reads" "$(v "$n" thawfs serving_after_create) / $(v "$n" thawfs serving_after_tar) of $SESSIONS"
  printf '%-58s %s\n' "thawfs: writable sessions / thawd health" "$(v "$n" thawd writable) / HTTP $(v "$n" thawd health_code)"
  printf '%-58s %s\n' "thawfs: delete all (pre-exit snapshots, $PAR in flight)" "$(awk -v x="$(v "$n" thawfs delete_all_ms)" 'BEGIN {printf "%.1f s", x / 1000}'), $(v "$n" thawfs delete_ok) of $SESSIONS answered 200"
  printf '%-58s %s\n' "left after: thawfs mounts / processes, fuse-overlayfs processes" "$(v "$n" thawfs mounts_left) / $(v "$n" thawfs processes_left), $(v "$n" fovl processes_left)"
  local target
  target=$(awk -v k="$(col "$rt" 4)" 'BEGIN {print (k == "nan") ? "not measured" : (k + 0 <= 20 * 1024) ? "met" : "MISSED"}')
  printf '%-58s %s\n' "target: thawfs RSS <= 20 MiB after a whole-tree read" "$target (max $(mib "$(col "$rt" 4)") MiB)"
}

# ------------------------------------------------------------------ main ----
if [ "$REPORT_MODE" = 1 ]; then
  for n in $(cut -f1 "$RAW" | sort -un); do table "$n"; done
  exit 0
fi
T_START=$SECONDS
IFS=, read -ra sizes <<<"$SIZES"
for n in "${sizes[@]}"; do
  R=$REPOS/n$n-s$SEED.git CO=$REPOS/n$n-s$SEED.co
  if [ ! -f "$R/.complete" ]; then
    note "generating a $n-file repository in $R"
    rm -rf "$R" "$CO"
    "$GENREPO" --out "$R" --files "$n" --seed "$SEED" --commits 2 --bare --quiet
    touch "$R/.complete"
  fi
  if [ ! -f "$CO/.git/.complete" ]; then
    rm -rf "$CO"; git clone -q "$R" "$CO"; touch "$CO/.git/.complete"
  fi
  DEEP=src/core/engine/detail/impl/deep_file.c
  git --git-dir="$R" show "main:$DEEP" >"$W/deep.$n"
  export DEEP
  case ",$PARTS," in *,thawfs,*) bench_thawd "$n" ;; esac
  case ",$PARTS," in *,git,*) bench_git "$n" ;; esac
  case ",$PARTS," in *,overlays,*) bench_overlays "$n" ;; esac
done
{
  echo "bench/sessions.sh $(date -u +%FT%TZ): $PARTS; $SESSIONS sessions, sizes $SIZES, build $(basename "$BUILD"), $PAR creates in flight, tar of all up to $TAR_ALL files else $TAR_SAMPLE, $TAR_PAR at once"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  for n in "${sizes[@]}"; do table "$n"; done
  echo
  echo "total $((SECONDS - T_START)) s; raw figures: bench/results/$(basename "$RAW")"
} | tee "$TXT"
