#!/usr/bin/env bash
# bench/run.sh: the thawfs benchmark, beside git clone, git worktree, kernel
# overlayfs, fuse-overlayfs and a native checkout. One command; see
# docs/bench.md for what each figure means. Needs root (drop_caches, mount).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEEP=src/core/engine/detail/impl/deep_file.c

usage() {
  cat <<'EOF'
usage: bash bench/run.sh [--quick] [--sizes N,N...] [--runs N] [options]

Builds thawfs and the helpers (Release, build-bench/), generates test
repositories (reused on later runs, keyed by size and seed), and measures,
with the setups interleaved run by run:
  a. time to first read (cold caches): thawfs mount + read beside git clone
     --local, git worktree add, fuse-overlayfs, kernel overlayfs, native
  b. first and warm git status: thawfs, native, overlayfs, fuse-overlayfs
  c. warm reads: sequential, fio random 4 KiB, find, whole-tree tar
  d. thawfs CPU time and RSS during whole-tree reads
Prints one table per section (stdout), progress on stderr, and writes every
sample and summary to bench/results/<timestamp>.json.

options:
  --quick             5,000 files only, 5 runs, short fio (a few minutes)
  --sizes LIST        repository sizes in files (default 5000,50000)
  --runs N            runs per measurement (default 20; --quick: 5)
  --fio-runs N        fio runs per setup (default min(runs,5))
  --fio-runtime S     seconds per fio run (default 10; --quick: 3)
  --seq-bytes SIZE    bytes per sequential-read run (default 1G)
  --seed S            generator seed (default 1)
  --sections LIST     subset of a,b,c,d to run (default all; c and d share
                      their mounts, either runs both)
  --work DIR          work directory for repositories and mounts
                      (default bench/work)
  --no-build          use build-bench/ as it is
  --thawfs BIN        benchmark this thawfs binary instead of build-bench's
                      (it is then not built)
  --help              this text
EOF
}

SIZES=5000,50000 RUNS="" FIO_RUNS="" FIO_RUNTIME="" SEQ_BYTES=1G SEED=1
SECTIONS=a,b,c,d WORK=$ROOT/bench/work QUICK=0 BUILD=1 THAWFS_BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --sizes) SIZES=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --fio-runs) FIO_RUNS=${2:?}; shift ;;
    --fio-runtime) FIO_RUNTIME=${2:?}; shift ;;
    --seq-bytes) SEQ_BYTES=${2:?}; shift ;;
    --seed) SEED=${2:?}; shift ;;
    --sections) SECTIONS=${2:?}; shift ;;
    --work) WORK=${2:?}; shift ;;
    --no-build) BUILD=0 ;;
    --thawfs) THAWFS_BIN=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  SIZES=5000
  : "${RUNS:=5}" "${FIO_RUNTIME:=3}"
fi
: "${RUNS:=20}" "${FIO_RUNTIME:=10}"
: "${FIO_RUNS:=$(( RUNS < 5 ? RUNS : 5 ))}"
for v in "$RUNS" "$FIO_RUNS" "$FIO_RUNTIME" "$SEED"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "run.sh: '$v' is not a positive integer" >&2; exit 2; }
done
[[ "$SIZES" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "run.sh: --sizes wants N,N,..." >&2; exit 2; }
[[ "$SEQ_BYTES" =~ ^[0-9]+[KMG]?$ ]] || { echo "run.sh: --seq-bytes wants N[K|M|G]" >&2; exit 2; }
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
has_section() { [[ ",$SECTIONS," == *",$1,"* ]]; }
for x in ${SECTIONS//,/ }; do [[ "$x" =~ ^[abcd]$ ]] || { echo "run.sh: unknown section '$x'" >&2; exit 2; }; done
if has_section c || has_section d; then SECTIONS="${SECTIONS//,c/}"; SECTIONS="${SECTIONS//,d/}"; SECTIONS="${SECTIONS#c}"; SECTIONS="${SECTIONS#d}"; SECTIONS="${SECTIONS#,},c,d"; SECTIONS="${SECTIONS#,}"; fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
# A path for people: relative to the checkout when inside it.
rel() { case "$1" in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) basename "$1" ;; esac; }

[ "$(id -u)" = 0 ] || die "needs root (drop_caches, mount -t overlay); run as root"
[ -c /dev/fuse ] || die "/dev/fuse is missing"

# ---------------------------------------------------------------- tools ----
need=(fusermount3 fuse-overlayfs fio git jq tar find cmake cc pkg-config awk mountpoint flock)
missing=0
for c in "${need[@]}"; do command -v "$c" >/dev/null || missing=1; done
if [ $missing = 1 ]; then
  log "installing missing packages (scripts/deps.sh)"
  THAW_BENCH_DEPS=1 bash "$ROOT/scripts/deps.sh"
fi
for c in "${need[@]}"; do command -v "$c" >/dev/null || die "missing command: $c"; done
KOVL=1
if ! grep -qw overlay /proc/filesystems; then
  modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || { KOVL=0; log "kernel overlayfs unavailable: skipping it"; }
fi

BUILD_DIR=$ROOT/build-bench
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=$ROOT/bench/results
RUN=$WORK/run
LOGDIR=$WORK/logs
LOG=$LOGDIR/commands.log
SCRATCH="" MNTS="" SOCKDIR=""
DAEMONS=()
FAILURES=()

# ------------------------------------------------------------- cleanup ----
. "$ROOT/bench/lib.sh"
unmount_logged() { local mp; unmount_all_under "$1" | while IFS= read -r mp; do echo "unmounted $(rel "$mp")" >&2; done; }
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$MNTS" ] && unmount_logged "$MNTS"
  unmount_logged "$WORK"
  local p
  for p in "${DAEMONS[@]}"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${DAEMONS[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  for d in "$WORK"/repos/*/repo.git; do [ -d "$d" ] && git -C "$d" worktree prune 2>/dev/null; done
  [ -n "$SCRATCH" ] && rm -rf --one-file-system "$SCRATCH" && rm -f "$WORK/.scratch"
  rm -rf --one-file-system "$RUN"
  [ $rc = 0 ] || log "failed (exit $rc); command log: $(rel "$LOG")"
  exit $rc
}
# One run per work directory at a time (taken before the cleanup trap, which
# unmounts everything under the work directory).
exec 9>"$WORK/.lock"
flock -n 9 || die "another bench/run.sh is running in $(rel "$WORK")"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an interrupted earlier run (the lock says it is not running).
if [ -f "$WORK/.scratch" ]; then
  old=$(cat "$WORK/.scratch")
  if [[ "$old" == /tmp/thawbench.* ]] && [ -d "$old" ]; then
    unmount_logged "$old"
    rm -rf --one-file-system "$old"
  fi
  rm -f "$WORK/.scratch"
fi
unmount_logged "$WORK"
rm -rf --one-file-system "$RUN"
# Mount points and control sockets live in a private directory outside the
# checkout: tools that walk the checkout (grep -r, find, indexers) must not
# wander into the workspaces and hydrate them mid-measurement.
SCRATCH=$(mktemp -d /tmp/thawbench.XXXXXX)
echo "$SCRATCH" >"$WORK/.scratch"
MNTS=$SCRATCH/mnt SOCKDIR=$SCRATCH/sock
mkdir -p "$MNTS" "$SOCKDIR" "$RUN" "$LOGDIR" "$RESULTS_DIR"
: >"$LOG"
SAMPLES=$RUN/samples.tsv SUMMARY=$RUN/summary.tsv TARGETS=$RUN/targets.tsv COUNTERS=$RUN/counters.jsonl
: >"$SAMPLES"; : >"$SUMMARY"; : >"$TARGETS"; : >"$COUNTERS"
T_START=$SECONDS

# Git must not read this machine's configuration.
export HOME=$WORK/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
git config --global user.name "Thaw Bench"
git config --global user.email "bench@thaw.invalid"
git config --global init.defaultBranch main
git config --global safe.directory '*'
git config --global gc.auto 0
git config --global advice.detachedHead false

# ---------------------------------------------------------------- build ----
if [ "$BUILD" = 1 ]; then
  log "building (Release) in $(rel "$BUILD_DIR")"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTHAW_WERROR=OFF >>"$LOGDIR/build.log" 2>&1 ||
      { tail -30 "$LOGDIR/build.log" >&2; die "cmake configure failed"; }
  fi
  targets=(ttfr thawfs-ctl readall)
  [ -n "$THAWFS_BIN" ] || targets+=(thawfs)
  if cmake --build "$BUILD_DIR" --target help 2>/dev/null | grep -q 'thaw-genrepo'; then targets+=(thaw-genrepo); fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}" >>"$LOGDIR/build.log" 2>&1 ||
    { tail -30 "$LOGDIR/build.log" >&2; die "build failed (log: $(rel "$LOGDIR/build.log"))"; }
fi
THAWFS=$BUILD_DIR/fs/thawfs
if [ -n "$THAWFS_BIN" ]; then
  THAWFS=$(cd "$(dirname "$THAWFS_BIN")" && pwd)/$(basename "$THAWFS_BIN")
fi
TTFR=$BUILD_DIR/bench/ttfr CTLQ=$BUILD_DIR/fs/thawfs-ctl READALL=$BUILD_DIR/bench/readall
GENREPO=${THAW_GENREPO:-$BUILD_DIR/tests/genrepo/thaw-genrepo}
if [ ! -x "$GENREPO" ]; then
  # The generator's CMake wiring may not exist yet: build it directly.
  GENREPO=$BUILD_DIR/bench/thaw-genrepo
  srcs=("$ROOT"/tests/genrepo/*.c)
  [ -e "${srcs[0]}" ] || die "tests/genrepo/*.c not found: cannot generate repositories"
  if [ ! -x "$GENREPO" ] || [ -n "$(find "${srcs[@]}" -newer "$GENREPO" 2>/dev/null)" ]; then
    log "building thaw-genrepo directly (no CMake target yet)"
    # shellcheck disable=SC2046
    cc -O2 -std=c17 -D_GNU_SOURCE -I"$ROOT/common" "${srcs[@]}" $(pkg-config --cflags --libs libgit2) -o "$GENREPO" \
      >>"$LOGDIR/build.log" 2>&1 || { tail -30 "$LOGDIR/build.log" >&2; die "building thaw-genrepo failed"; }
  fi
fi
for b in "$THAWFS" "$TTFR" "$CTLQ" "$READALL" "$GENREPO"; do [ -x "$b" ] || die "missing $(rel "$b")"; done

# -------------------------------------------------------------- helpers ----
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; MY_DROPS=$((MY_DROPS + 1)); }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", (b-a)*1000}'; }

# sample SIZE SECTION METRIC SETUP RUN VALUE UNIT
sample() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"; }
fail_note() { FAILURES+=("$*"); log "ERROR: $*"; echo "ERROR: $*" >>"$LOG"; }

# stats: values on stdin -> "n median p99 min max mean" (p99: nearest rank)
stats() {
  sort -g | awk '{v[NR]=$1; s+=$1}
    END{ if (NR==0) { print "0 nan nan nan nan nan"; exit }
         n=NR; med=(n%2)? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2
         r=int(0.99*n); if (r<0.99*n) r++; if (r<1) r=1
         printf "%d %.6g %.6g %.6g %.6g %.6g\n", n, med, v[r], v[1], v[n], s/n }'
}
values() { awk -F'\t' -v z="$1" -v m="$2" -v s="$3" '$1==z && $3==m && $4==s {print $6}' "$SAMPLES"; }
# summarize SIZE SECTION METRIC SETUP UNIT -> sets S_N S_MED S_P99 S_MIN S_MAX
# S_MEAN and records the summary (once per size, metric and setup)
declare -A SUMMARIZED=()
summarize() {
  read -r S_N S_MED S_P99 S_MIN S_MAX S_MEAN < <(values "$1" "$3" "$4" | stats)
  [ -z "${SUMMARIZED[$1/$3/$4]:-}" ] || return 0
  SUMMARIZED[$1/$3/$4]=1
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$S_N" "$S_MED" "$S_P99" "$S_MIN" "$S_MAX" "$S_MEAN" "$5" >>"$SUMMARY"
}
fmt() { # a number for a table
  awk -v x="$1" 'BEGIN{ if (x=="" || x=="nan" || x=="-") { printf "-"; exit }
    a=(x<0)?-x:x; if (a>=10000) printf "%.0f", x; else if (a>=100) printf "%.1f", x; else if (a>=10) printf "%.2f", x; else printf "%.3f", x }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan"||b=="nan"||a==""||b==""||b+0==0) print "nan"; else printf "%.4g", a/b }'; }
# target SIZE NAME VALUE OP LIMIT -> prints yes/no and records it
target() {
  local met
  met=$(awk -v v="$3" -v op="$4" -v l="$5" 'BEGIN{ if (v=="nan"||v=="") { print "n/a"; exit }
        ok = (op=="<=") ? (v+0 <= l+0) : (op==">=") ? (v+0 >= l+0) : (v+0 == l+0); print ok ? "yes" : "NO" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$met" >>"$TARGETS"
  echo "$met"
}
hdr() { printf '\n%s\n' "$1"; printf '%-46s %10s %10s %10s  %s\n' setup median p99 "$2" target; }
row() { printf '%-46s %10s %10s %10s  %s\n' "$1" "$(fmt "$2")" "$(fmt "$3")" "$4" "$5"; }

# timed DIR CMD...: runs CMD in DIR through ttfr (no shell), T_MS = wall ms
timed() {
  local dir=$1 out; shift
  out=$("$TTFR" --quiet -C "$dir" -- "$@" 2>>"$LOG") || return 1
  T_MS=${out%% *}
}

ctl_status() { "$CTLQ" --timeout 10 "$1" '{"cmd":"status"}' 2>>"$LOG"; }

# Wait for a daemon to exit after its unmount; EXIT_MS = how long it took.
wait_exit() {
  local pid=$1 t0=$EPOCHREALTIME i=0
  while alive "$pid"; do
    sleep 0.005
    i=$((i + 1))
    if [ $i -gt 6000 ]; then
      fail_note "daemon $pid still alive 30 s after its unmount: killing it"
      kill -TERM "$pid" 2>/dev/null || true; sleep 1; kill -KILL "$pid" 2>/dev/null || true
      break
    fi
  done
  EXIT_MS=$(ms_since "$t0")
}
unmount_fuse() { # MNT PID
  if ! fusermount3 -u "$1" 2>>"$LOG"; then
    fail_note "fusermount3 -u $(rel "$1") failed; lazy unmount"
    fusermount3 -uz "$1" 2>>"$LOG" || true
  fi
  EXIT_MS=nan
  [ -n "${2:-}" ] && wait_exit "$2"
  return 0
}
adopted_pid() { # FILE: APID = the daemon ttfr adopted (recorded for cleanup)
  APID=$(head -n1 "$1" 2>/dev/null || true)
  rm -f "$1"
  [ -n "$APID" ] || return 1
  DAEMONS+=("$APID")
}
fresh_dir() {
  if mountpoint -q "$1" 2>/dev/null; then die "$(rel "$1") is still mounted"; fi
  rm -rf --one-file-system "$1"; mkdir -p "$1"
}

# Mounting for sections b-d (untimed). Sets M_DIR, M_PID (fuse daemons), M_SOCK.
mount_setup() { # SETUP TAG
  local s=$1 tag=$2 out=""
  M_PID="" M_SOCK=""
  case "$s" in
    native) M_DIR=$CO; return 0 ;;
    thawfs|thawfs_r)
      M_DIR=$MNTS/$tag; fresh_dir "$M_DIR"; fresh_dir "$RUN/$tag-cache"
      M_SOCK=$SOCKDIR/$tag.sock
      out=$("$TTFR" --pids-out "$RUN/pids" -- "$THAWFS" --repo "$REPO" --commit main --cache "$RUN/$tag-cache" \
            --control "$M_SOCK" --log "$LOGDIR/thawfs-$tag.log" "$M_DIR" 2>>"$LOG" 9>&-) || return 1
      adopted_pid "$RUN/pids" || return 1
      M_PID=$APID ;;
    fovl)
      M_DIR=$MNTS/$tag; fresh_dir "$M_DIR"; fresh_dir "$RUN/$tag-up"; fresh_dir "$RUN/$tag-wk"
      out=$("$TTFR" --pids-out "$RUN/pids" -- fuse-overlayfs -o "lowerdir=$CO,upperdir=$RUN/$tag-up,workdir=$RUN/$tag-wk" "$M_DIR" 2>>"$LOG" 9>&-) || return 1
      adopted_pid "$RUN/pids" || return 1
      M_PID=$APID ;;
    kovl)
      M_DIR=$MNTS/$tag; fresh_dir "$M_DIR"; fresh_dir "$RUN/$tag-up"; fresh_dir "$RUN/$tag-wk"
      mount -t overlay overlay -o "lowerdir=$CO,upperdir=$RUN/$tag-up,workdir=$RUN/$tag-wk" "$M_DIR" 2>>"$LOG" || return 1 ;;
  esac
}
unmount_setup() { # SETUP DIR PID TAG
  EXIT_MS=nan
  case "$1" in
    native) ;;
    thawfs|thawfs_r|fovl) unmount_fuse "$2" "$3" ;;
    kovl) umount "$2" 2>>"$LOG" || { fail_note "umount $(rel "$2") failed; lazy"; umount -l "$2" || true; } ;;
  esac
  [ "$1" = native ] || rm -rf "$RUN/$4-cache" "$RUN/$4-up" "$RUN/$4-wk"
}
wait_dotgit() { # SOCK: until .git is ready (or failed); prints the state
  local st i=0
  while :; do
    st=$(ctl_status "$1" | jq -r .dotgit) || st=unknown
    [ "$st" = preparing ] || { echo "$st"; return 0; }
    i=$((i + 1)); [ $i -lt 3000 ] || { echo timeout; return 0; }
    sleep 0.02
  done
}
cpu_ticks() { awk '{ s=$0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
vm_kib() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)

declare -A LABEL=(
  [thawfs]="thawfs" [thawfs_r]="thawfs (.git ready)" [clone]="git clone --local" [worktree]="git worktree add"
  [fovl]="fuse-overlayfs" [kovl]="overlayfs" [native]="native"
)

# ---------------------------------------------------- warm measurements ----
# Other processes on the machine may drop the page cache too: a timed warm
# measurement during which the kernel's drop counter moved (beyond our own
# drops) is repeated once after another untimed pass, and counted.
MY_DROPS=0 DROP_BASE=$(awk '/^drop_pagecache/ {print $2}' /proc/vmstat)
DISTURBED=0
foreign_drops() { echo $(( $(awk '/^drop_pagecache/ {print $2}' /proc/vmstat) - DROP_BASE - MY_DROPS )); }
metric_of() { case $1 in seq) echo seq_mib_s ;; fio) echo fio_iops ;; find) echo find_ms ;; tar) echo tar_ms ;; esac; }
warm_once() { # KIND DIR: the untimed pass
  case $1 in
    seq) "$READALL" --bytes "$SEQ_SET_BYTES" --list <(sed "s|^|$2/|" "$RUN/seq.list") >/dev/null 2>>"$LOG" ;;
    fio) cat "$2/$FIO_FILE" >/dev/null ;;
    find) (cd "$2" && find . | wc -l) >/dev/null ;;
    tar) (cd "$2" && tar -cf - . | cat >/dev/null) 2>>"$LOG" ;;
  esac
}
measure_once() { # KIND DIR -> VAL
  local out
  case $1 in
    seq) out=$("$READALL" --bytes "$SEQ_BYTES" --list <(sed "s|^|$2/|" "$RUN/seq.list") 2>>"$LOG") || return 1
         VAL=$(awk '{print $3}' <<<"$out") ;;
    fio) VAL=$(fio --name=randread --rw=randread --bs=4k --ioengine=psync --filename="$2/$FIO_FILE" \
                 --runtime="$FIO_RUNTIME" --time_based --readonly --invalidate=0 --output-format=json 2>>"$LOG" |
               jq -r '.jobs[0].read.iops') || return 1 ;;
    find) timed "$2" sh -c 'find . | wc -l' || return 1; VAL=$T_MS ;;
    tar) timed "$2" sh -c 'tar -cf - . | cat >/dev/null' || return 1; VAL=$T_MS ;;
  esac
}
# WARM_DIRS: the directories of every setup of the current measurement; after
# a foreign drop all of them get an untimed pass again, not only the one
# whose run was disturbed.
WARM_DIRS=() LAST_FOREIGN=0 WM_REWARMED=0 REWARMS=0
rewarm_all() {
  local d
  WM_REWARMED=1 REWARMS=$((REWARMS + 1))
  for d in "${WARM_DIRS[@]}"; do warm_once "$1" "$d" || return 1; done
}
warm_measure() { # KIND DIR WHAT -> VAL; WM_REWARMED=1 if it made untimed passes
  local d0 _
  WM_REWARMED=0
  if [ "$(foreign_drops)" != "$LAST_FOREIGN" ]; then
    log "another process dropped the page cache before $3: untimed passes again"
    rewarm_all "$1" || return 1
    LAST_FOREIGN=$(foreign_drops)
  fi
  for _ in 1 2; do
    d0=$(foreign_drops)
    measure_once "$1" "$2" || return 1
    LAST_FOREIGN=$(foreign_drops)
    [ "$LAST_FOREIGN" != "$d0" ] || return 0
    DISTURBED=$((DISTURBED + 1))
    log "another process dropped the page cache during $3: untimed passes and again"
    rewarm_all "$1" || return 1
  done
  return 0
}

# ------------------------------------------------------------ repository ----
prepare_repo() { # N -> sets REPO CO RDIR
  local n=$1
  RDIR=$WORK/repos/n$n-s$SEED
  REPO=$RDIR/repo.git CO=$RDIR/checkout
  git -C "$REPO" worktree prune 2>/dev/null || true
  if [ -f "$RDIR/.complete" ]; then
    log "n=$n: reusing $(rel "$RDIR")"
    return 0
  fi
  log "n=$n: generating a $n-file repository (seed $SEED) in $(rel "$RDIR")"
  rm -rf "$RDIR"; mkdir -p "$RDIR"
  local t0=$SECONDS
  "$GENREPO" --out "$REPO" --files "$n" --seed "$SEED" --bare --json >"$RDIR/genrepo.json" 2>>"$LOG" ||
    die "thaw-genrepo failed (log: $(rel "$LOG"))"
  git -C "$REPO" rev-parse -q --verify 'main^{commit}' >/dev/null || die "generated repository has no branch main"
  git -C "$REPO" cat-file -e "main:$DEEP" || die "generated repository lacks $DEEP"
  log "n=$n: generated in $((SECONDS - t0)) s; native checkout"
  git clone -q --branch main "$REPO" "$CO" 2>>"$LOG"
  # An index written well after the files: no racily-clean entries, so the
  # native git status reads no content either.
  sleep 1.1
  rm -f "$CO/.git/index"
  git -C "$CO" reset -q
  [ -z "$(git -C "$CO" status --porcelain)" ] || die "fresh checkout is not clean"
  touch "$RDIR/.complete"
}

repo_facts() { # N: facts about the tree (sizes, file sets) -> globals
  local n=$1
  git -C "$REPO" ls-tree -r -l main >"$RUN/tree.txt"
  # mode type oid size<TAB>path
  NFILES=$(awk '$2=="blob"' "$RUN/tree.txt" | wc -l)
  TREE_BYTES=$(awk '$2=="blob" && $1!="120000" {s+=$4} END{print s+0}' "$RUN/tree.txt")
  EXPECT_HYD=$(awk '$2=="blob" && $1!="120000" && $4>2048 {print $3}' "$RUN/tree.txt" | sort -u | wc -l)
  # Sequential set: the tree's big files (>= 1 MiB; the generator's multi-MiB
  # text and binary files), else its 16 largest files.
  awk -F'\t' '{split($1, a, " "); if (a[2]=="blob" && a[1]!="120000" && a[4]>0) print a[4] "\t" $2}' "$RUN/tree.txt" |
    sort -t$'\t' -k1,1nr | awk -F'\t' '$1 >= 1048576 { big++ } { if (NR <= 16) top[NR] = $2 } $1 >= 1048576 { print $2 }
      END { if (!big) for (i = 1; i <= 16 && i in top; i++) print top[i] }' >"$RUN/seq.list"
  SEQ_N=$(wc -l <"$RUN/seq.list")
  SEQ_SET_BYTES=$(awk -F'\t' 'NR==FNR {want[$0]=1; next} {split($1, a, " "); if ($2 in want) s+=a[4]} END{print s+0}' "$RUN/seq.list" "$RUN/tree.txt")
  FIO_FILE=$(head -n1 "$RUN/seq.list")
  FIO_SIZE=$(awk -F'\t' -v p="$FIO_FILE" '$2==p {split($1, a, " "); print a[4]; exit}' "$RUN/tree.txt")
  log "n=$n: $NFILES files, $((TREE_BYTES / 1048576)) MiB; $EXPECT_HYD distinct blobs > 2 KiB; sequential set: $SEQ_N files ($((SEQ_SET_BYTES / 1048576)) MiB); fio file $((FIO_SIZE / 1024)) KiB"
}

# ------------------------------------------------------ a: first read -----
ttfr_one() { # SETUP N RUN
  local s=$1 n=$2 i=$3 out pid st dst mnt
  drop_caches
  case "$s" in
    thawfs)
      mnt=$MNTS/a-thawfs; fresh_dir "$mnt"; fresh_dir "$RUN/a-cache"
      out=$("$TTFR" --pids-out "$RUN/pids" --read "$mnt/$DEEP" -- "$THAWFS" --repo "$REPO" --commit main \
            --cache "$RUN/a-cache" --control "$SOCKDIR/a.sock" --log "$LOGDIR/thawfs-a.log" "$mnt" 2>>"$LOG" 9>&-) ||
        { fail_note "n=$n a run $i: thawfs mount+read failed"; adopted_pid "$RUN/pids" || true; unmount_logged "$MNTS"; return 1; }
      adopted_pid "$RUN/pids" || { fail_note "n=$n a run $i: thawfs daemon pid not found"; unmount_logged "$MNTS"; return 1; }
      pid=$APID
      if st=$(ctl_status "$SOCKDIR/a.sock"); then
        sample "$n" a reads_ready_ms thawfs "$i" "$(jq -r .reads_ready_ms <<<"$st")" ms
        jq -c --argjson n "$n" --argjson i "$i" '{size:$n, section:"a", when:"after first read", run:$i, dotgit, counters}' <<<"$st" >>"$COUNTERS"
      else
        fail_note "n=$n a run $i: thawfs control socket did not answer"
      fi
      unmount_fuse "$mnt" "$pid"
      [ "$EXIT_MS" = nan ] || sample "$n" a exit_after_unmount_ms thawfs "$i" "$EXIT_MS" ms
      rm -rf "$RUN/a-cache" ;;
    clone)
      dst=$RUN/a-clone; rm -rf "$dst"
      out=$("$TTFR" --read "$dst/$DEEP" -- git clone --local -q "$REPO" "$dst" 2>>"$LOG") ||
        { fail_note "n=$n a run $i: git clone failed"; rm -rf "$dst"; return 1; }
      rm -rf "$dst" ;;
    worktree)
      dst=$RUN/a-wt; rm -rf "$dst"
      out=$("$TTFR" --read "$dst/$DEEP" -- git -C "$REPO" worktree add -q --detach "$dst" main 2>>"$LOG") ||
        { fail_note "n=$n a run $i: git worktree add failed"; }
      git -C "$REPO" worktree remove --force "$dst" 2>>"$LOG" || rm -rf "$dst"
      git -C "$REPO" worktree prune
      [ -n "$out" ] || return 1 ;;
    fovl|kovl)
      mnt=$MNTS/a-$s; fresh_dir "$mnt"; fresh_dir "$RUN/a-up"; fresh_dir "$RUN/a-wk"
      local opts="lowerdir=$CO,upperdir=$RUN/a-up,workdir=$RUN/a-wk"
      if [ "$s" = fovl ]; then
        out=$("$TTFR" --pids-out "$RUN/pids" --read "$mnt/$DEEP" -- fuse-overlayfs -o "$opts" "$mnt" 2>>"$LOG" 9>&-) ||
          { fail_note "n=$n a run $i: fuse-overlayfs mount+read failed"; unmount_logged "$MNTS"; return 1; }
        pid=""; adopted_pid "$RUN/pids" && pid=$APID
        unmount_fuse "$mnt" "$pid"
        [ "$EXIT_MS" = nan ] || sample "$n" a exit_after_unmount_ms fovl "$i" "$EXIT_MS" ms
      else
        out=$("$TTFR" --read "$mnt/$DEEP" -- mount -t overlay overlay -o "$opts" "$mnt" 2>>"$LOG") ||
          { fail_note "n=$n a run $i: overlayfs mount+read failed"; unmount_logged "$MNTS"; return 1; }
        umount "$mnt"
      fi
      rm -rf "$RUN/a-up" "$RUN/a-wk" ;;
    native)
      out=$("$TTFR" --read "$CO/$DEEP" 2>>"$LOG") || { fail_note "n=$n a run $i: native read failed"; return 1; } ;;
  esac
  local total setup rd
  read -r total setup rd <<<"$out"
  sample "$n" a ttfr_ms "$s" "$i" "$total" ms
  sample "$n" a ttfr_setup_ms "$s" "$i" "$setup" ms
  sample "$n" a ttfr_read_ms "$s" "$i" "$rd" ms
  LAST=$total
}

section_a() {
  local n=$1 i s line
  local setups=(thawfs clone worktree fovl)
  [ $KOVL = 1 ] && setups+=(kovl)
  setups+=(native)
  log "n=$n a. time to first read: $RUNS runs x ${#setups[@]} setups, caches dropped before each"
  for ((i = 1; i <= RUNS; i++)); do
    line=""
    for s in "${setups[@]}"; do
      LAST=err
      ttfr_one "$s" "$n" "$i" || true
      line+=" $s=$LAST"
    done
    log "n=$n a. run $i/$RUNS (ms):$line"
  done

  hdr "[$n files] a. time to first read of $DEEP (ms; cold caches, fresh thawfs cache; $RUNS runs)" "x native"
  local th_med th_p99 nat_med
  summarize "$n" a ttfr_ms thawfs ms; th_med=$S_MED th_p99=$S_P99
  summarize "$n" a ttfr_ms native ms; nat_med=$S_MED
  local m1 m2
  m1=$(target "$n" "a: thawfs time to first read p50 <= 10 ms" "$th_med" "<=" 10)
  m2=$(target "$n" "a: thawfs time to first read p99 <= 30 ms" "$th_p99" "<=" 30)
  row "thawfs mount + read" "$th_med" "$th_p99" "$(fmt "$(ratio "$th_med" "$nat_med")")x" "p50 <= 10 ms: $m1; p99 <= 30 ms: $m2"
  for s in "${setups[@]}"; do
    [ "$s" = thawfs ] && continue
    summarize "$n" a ttfr_ms "$s" ms
    local sp t=""
    sp=$(ratio "$S_MED" "$th_med")
    case "$s" in
      clone) t="thawfs $(fmt "$sp")x faster; >= 500x (at 50k): $(target "$n" "a: thawfs >= 500x faster than clone+read" "$sp" ">=" 500)" ;;
      native) ;;
      *) t=$(awk -v r="$sp" 'BEGIN{ if (r=="nan") print ""; else if (r>=1) printf "thawfs %.3gx faster", r; else printf "thawfs %.3gx slower", 1/r }') ;;
    esac
    local lab=${LABEL[$s]}
    [ "$s" = native ] && lab="native checkout: open+read" || lab="$lab + read"
    row "$lab" "$S_MED" "$S_P99" "$(fmt "$(ratio "$S_MED" "$nat_med")")x" "$t"
  done
  # Breakdowns, for the record.
  summarize "$n" a ttfr_setup_ms thawfs ms; local su=$S_MED
  summarize "$n" a ttfr_read_ms thawfs ms; local rd=$S_MED
  summarize "$n" a reads_ready_ms thawfs ms; local rr=$S_MED
  summarize "$n" a exit_after_unmount_ms thawfs ms; local ex=$S_MED ex99=$S_P99
  printf '  thawfs breakdown (medians): command until mounted %s ms (in-process start->mount %s ms), open+read %s ms; daemon exit after fusermount3 -u: median %s ms, p99 %s ms\n' \
    "$(fmt "$su")" "$(fmt "$rr")" "$(fmt "$rd")" "$(fmt "$ex")" "$(fmt "$ex99")"
  if values "$n" exit_after_unmount_ms fovl | grep -q .; then
    summarize "$n" a exit_after_unmount_ms fovl ms
    printf '  fuse-overlayfs daemon exit after fusermount3 -u: median %s ms\n' "$(fmt "$S_MED")"
  fi
  local fr
  fr=$(jq -s -r --argjson n "$n" '[.[] | select(.size==$n and .section=="a") | .counters] |
        "  thawfs counters after the first read (last run): hydrations \(.[-1].hydrations), inline_reads \(.[-1].inline_reads), reads \(.[-1].reads), lookups \(.[-1].lookups)"' "$COUNTERS" 2>/dev/null || true)
  [ -n "$fr" ] && echo "$fr"
  return 0
}

# ------------------------------------------------------- b: git status -----
section_b() {
  local n=$1 i s st line
  local setups=(thawfs thawfs_r native)
  [ $KOVL = 1 ] && setups+=(kovl)
  setups+=(fovl)
  log "n=$n b. git status: $RUNS runs x ${#setups[@]} setups (fresh mount, caches dropped, then first and second status)"
  : >"$RUN/b-hyd"
  for ((i = 1; i <= RUNS; i++)); do
    line=""
    for s in "${setups[@]}"; do
      drop_caches
      if ! mount_setup "$s" "b-$s"; then
        fail_note "n=$n b run $i: mounting $s failed"; unmount_logged "$MNTS"; line+=" $s=err"; continue
      fi
      local dir=$M_DIR pid=$M_PID sock=$M_SOCK first=err warm=err
      if [ "$s" = thawfs_r ]; then
        st=$(wait_dotgit "$sock")
        [ "$st" = ready ] || fail_note "n=$n b run $i: thawfs .git state '$st' (expected ready)"
      fi
      if timed "$dir" git status; then first=$T_MS; sample "$n" b status_first_ms "$s" "$i" "$T_MS" ms
      else fail_note "n=$n b run $i: first git status on $s failed"; fi
      if [[ "$s" == thawfs* ]] && st=$(ctl_status "$sock"); then
        jq -c --argjson n "$n" --argjson i "$i" --arg s "$s" '{size:$n, section:"b", setup:$s, when:"after first git status", run:$i, dotgit, index_ms, counters}' <<<"$st" >>"$COUNTERS"
        sample "$n" b hydrations_after_first "$s" "$i" "$(jq -r .counters.hydrations <<<"$st")" count
        sample "$n" b index_ms "$s" "$i" "$(jq -r .index_ms <<<"$st")" ms
        jq -r .counters.hydrations <<<"$st" >>"$RUN/b-hyd"
      fi
      local d0; d0=$(foreign_drops)
      if timed "$dir" git status; then
        if [ "$(foreign_drops)" != "$d0" ]; then
          DISTURBED=$((DISTURBED + 1))
          log "another process dropped the page cache during the warm git status on $s: again"
          timed "$dir" git status || true
          timed "$dir" git status || T_MS=err
        fi
        warm=$T_MS
        [ "$warm" = err ] || sample "$n" b status_warm_ms "$s" "$i" "$T_MS" ms
      else fail_note "n=$n b run $i: second git status on $s failed"; fi
      if [[ "$s" == thawfs* ]] && st=$(ctl_status "$sock"); then
        jq -c --argjson n "$n" --argjson i "$i" --arg s "$s" '{size:$n, section:"b", setup:$s, when:"after second git status", run:$i, dotgit, counters}' <<<"$st" >>"$COUNTERS"
        sample "$n" b hydrations_after_warm "$s" "$i" "$(jq -r .counters.hydrations <<<"$st")" count
      fi
      unmount_setup "$s" "$dir" "$pid" "b-$s"
      [ "$EXIT_MS" = nan ] || sample "$n" b exit_after_unmount_ms "$s" "$i" "$EXIT_MS" ms
      line+=" $s=$first/$warm"
    done
    log "n=$n b. run $i/$RUNS (first/warm ms):$line"
  done

  hdr "[$n files] b. git status (ms; first = caches dropped, fresh mount, then at once; warm = second run; $RUNS runs)" "x native"
  local nat_first nat_warm
  summarize "$n" b status_first_ms native ms; nat_first=$S_MED
  summarize "$n" b status_warm_ms native ms; nat_warm=$S_MED
  for s in "${setups[@]}"; do
    summarize "$n" b status_first_ms "$s" ms
    local r t=""
    r=$(ratio "$S_MED" "$nat_first")
    if [ "$s" = thawfs ]; then
      local hmax
      hmax=$(sort -n "$RUN/b-hyd" | tail -n1); hmax=${hmax:-nan}
      t="<= 2x native: $(target "$n" "b: first git status <= 2x native" "$r" "<=" 2); hydrations = 0: $(target "$n" "b: first git status hydrates nothing (max over runs)" "$hmax" "==" 0) (max $hmax)"
    fi
    row "${LABEL[$s]}, first" "$S_MED" "$S_P99" "$(fmt "$r")x" "$t"
  done
  for s in "${setups[@]}"; do
    summarize "$n" b status_warm_ms "$s" ms
    local r t=""
    r=$(ratio "$S_MED" "$nat_warm")
    [ "$s" = thawfs ] && t="<= 1.5x native: $(target "$n" "b: warm git status <= 1.5x native" "$r" "<=" 1.5)"
    row "${LABEL[$s]}, warm" "$S_MED" "$S_P99" "$(fmt "$r")x" "$t"
  done
  summarize "$n" b hydrations_after_warm thawfs count; local hw=$S_MAX
  summarize "$n" b hydrations_after_warm thawfs_r count; [ "$S_MAX" = nan ] || hw=$(( hw > S_MAX ? hw : S_MAX ))
  summarize "$n" b index_ms thawfs ms; local idx=$S_MED
  local ex=""
  for s in thawfs thawfs_r fovl; do
    summarize "$n" b exit_after_unmount_ms "$s" ms
    [ "$S_N" = 0 ] || ex+="${ex:+, }${LABEL[$s]} median $(fmt "$S_MED") ms, max $(fmt "$S_MAX") ms"
  done
  [ -z "$ex" ] || echo "  daemon exit after fusermount3 -u: $ex"
  printf '  thawfs: hydrations after the first git status (value x runs): %s; after the second: max %s; .git index built in %s ms (median; "thawfs, first" waits for it, "after .git is ready" polls the control socket until it is, untimed)\n' \
    "$(sort -n "$RUN/b-hyd" | uniq -c | awk '{printf "%s%s x%s", (NR>1?", ":""), $2, $1}')" "$hw" "$(fmt "$idx")"
  return 0
}

# ------------------------------------------- c + d: warm reads, CPU, RSS -----
section_cd() {
  local n=$1 i s st
  local setups=(thawfs native)
  [ $KOVL = 1 ] && setups+=(kovl)
  setups+=(fovl)
  declare -A DIR PID
  log "n=$n c. warm reads: mounting ${setups[*]}"
  drop_caches
  for s in "${setups[@]}"; do
    mount_setup "$s" "c-$s" || { fail_note "n=$n c: mounting $s failed"; unmount_logged "$MNTS"; return 1; }
    DIR[$s]=$M_DIR PID[$s]=$M_PID
  done
  local sock=$SOCKDIR/c-thawfs.sock tpid=${PID[thawfs]}
  st=$(wait_dotgit "$sock")
  [ "$st" = ready ] || fail_note "n=$n c: thawfs .git state '$st' (expected ready)"

  # d. The first whole-tree read, caches dropped before each setup.
  log "n=$n d. first whole-tree tar (cold caches) per setup, thawfs CPU and RSS"
  local c0 c1 hwm rss hwm_life
  for s in "${setups[@]}"; do
    drop_caches
    if [ "$s" = thawfs ]; then
      hwm_life=$(vm_kib "$tpid" VmHWM)
      c0=$(cpu_ticks "$tpid")
      echo 5 >"/proc/$tpid/clear_refs"   # resets VmHWM to the current RSS
    fi
    if timed "${DIR[$s]}" sh -c 'tar -cf - . | cat >/dev/null'; then
      sample "$n" d tar_cold_ms "$s" 1 "$T_MS" ms
    else
      fail_note "n=$n d: cold tar on $s failed"
    fi
    if [ "$s" = thawfs ]; then
      c1=$(cpu_ticks "$tpid"); hwm=$(vm_kib "$tpid" VmHWM); rss=$(vm_kib "$tpid" VmRSS)
      sample "$n" d cpu_cold_tar_ms thawfs 1 "$(( (c1 - c0) * 1000 / CLK_TCK ))" ms
      sample "$n" d peak_rss_cold_tar_kib thawfs 1 "$hwm" KiB
      sample "$n" d rss_after_cold_tar_kib thawfs 1 "$rss" KiB
      sample "$n" d peak_rss_before_tar_kib thawfs 1 "$hwm_life" KiB
      st=$(ctl_status "$sock") && jq -c --argjson n "$n" '{size:$n, section:"d", when:"after first whole-tree tar", run:1, dotgit, counters}' <<<"$st" >>"$COUNTERS" &&
        sample "$n" d hydrations_after_tar thawfs 1 "$(jq -r .counters.hydrations <<<"$st")" count
    fi
  done

  # Validation and the untimed warm-up pass (after the drops above).
  log "n=$n c. checks (untimed): paths and git status in every setup"
  local nat_count cnt porc
  for s in "${setups[@]}"; do
    local d=${DIR[$s]}
    cnt=$(cd "$d" && find . -path ./.git -prune -o -print | wc -l)
    porc=$(git -C "$d" status --porcelain 2>>"$LOG" | wc -l) || porc=err
    [ "$s" = native ] && nat_count=$cnt
    printf '%s\t%s\t%s\n' "$s" "$cnt" "$porc" >>"$RUN/c-checks"
    [ "$porc" = 0 ] || fail_note "n=$n c: git status --porcelain on $s lists $porc paths (expected a clean tree)"
  done
  while IFS=$'\t' read -r s cnt porc; do
    [ "$cnt" = "$nat_count" ] || fail_note "n=$n c: $s shows $cnt paths outside .git, native $nat_count"
  done <"$RUN/c-checks"
  rm -f "$RUN/c-checks"

  local st_before="" kind runs unit kdelta=""
  st_before=$(ctl_status "$sock") || st_before=""
  for kind in seq fio find tar; do
    case $kind in
      seq) runs=$RUNS unit="MiB/s" ;;
      fio) runs=$FIO_RUNS unit="IOPS" ;;
      *) runs=$RUNS unit="ms" ;;
    esac
    # Warm means after one untimed pass, right before the timed runs (this
    # machine may page out page cache idle for a minute).
    log "n=$n c. $kind: untimed pass, then $runs runs x ${#setups[@]} setups ($unit)"
    WARM_DIRS=()
    for s in "${setups[@]}"; do WARM_DIRS+=("${DIR[$s]}"); done
    for s in "${setups[@]}"; do warm_once "$kind" "${DIR[$s]}" || fail_note "n=$n c: untimed $kind pass on $s failed"; done
    LAST_FOREIGN=$(foreign_drops)
    local k0 k1
    REWARMS=0
    k0=$(ctl_status "$sock") || k0=""
    for ((i = 1; i <= runs; i++)); do
      local line=""
      for s in "${setups[@]}"; do
        [ "$s" = thawfs ] && c0=$(cpu_ticks "$tpid")
        if warm_measure "$kind" "${DIR[$s]}" "$n/$s/$kind/$i"; then
          sample "$n" c "$(metric_of "$kind")" "$s" "$i" "$VAL" "$unit"
          line+=" $s=$(fmt "$VAL")"
        else
          fail_note "n=$n c run $i: $kind on $s failed"; line+=" $s=err"
        fi
        # (CPU of a run that needed untimed passes again is not recorded.)
        if [ "$s" = thawfs ] && [[ $kind == find || $kind == tar ]] && [ "$WM_REWARMED" = 0 ]; then
          c1=$(cpu_ticks "$tpid")
          sample "$n" d "cpu_warm_${kind}_ms" thawfs "$i" "$(( (c1 - c0) * 1000 / CLK_TCK ))" ms
        fi
      done
      log "n=$n c. $kind run $i/$runs ($unit):$line"
    done
    k1=$(ctl_status "$sock") || k1=""
    if [ -n "$k0" ] && [ -n "$k1" ]; then
      kdelta+="${kdelta:+; }$kind: $(jq -n -r --argjson a "$k0" --argjson b "$k1" \
        '[$b.counters | to_entries[] | select(.key == "lookups" or .key == "getattrs" or .key == "readdirs" or .key == "reads" or .key == "hydrations") | "\(.key) +\(.value - $a.counters[.key])"] | join(" ")')"
      [ "$REWARMS" = 0 ] || kdelta+=" (includes $REWARMS untimed pass(es) over every setup after page cache drops by other processes)"
    fi
  done
  local delta=""
  if st=$(ctl_status "$sock"); then
    jq -c --argjson n "$n" '{size:$n, section:"c", when:"after the warm passes", run:0, dotgit, counters}' <<<"$st" >>"$COUNTERS"
    [ -n "$st_before" ] && delta=$(jq -n -r --argjson a "$st_before" --argjson b "$st" \
      '[$b.counters | to_entries[] | select(.key != "inodes") | "\(.key) +\(.value - $a.counters[.key])"] | join(", ")')
  fi
  sample "$n" d rss_after_warm_kib thawfs 1 "$(vm_kib "$tpid" VmRSS)" KiB
  sample "$n" d peak_rss_lifetime_kib thawfs 1 "$(vm_kib "$tpid" VmHWM)" KiB

  for s in "${setups[@]}"; do
    unmount_setup "$s" "${DIR[$s]}" "${PID[$s]}" "c-$s"
    [ "$EXIT_MS" = nan ] || sample "$n" c exit_after_unmount_ms "$s" 1 "$EXIT_MS" ms
  done

  # ---- tables
  local seq_h
  seq_h="sequential read: $SEQ_BYTES per run as whole-file reads (1 MiB read() calls) of the tree's $SEQ_N $(awk -v b="$SEQ_SET_BYTES" -v n="$SEQ_N" 'BEGIN{print (b/n >= 1048576) ? "files of >= 1 MiB" : "largest files"}') ($((SEQ_SET_BYTES / 1048576)) MiB), repeated"
  hdr "[$n files] c. warm reads (after one untimed pass; $RUNS runs, fio $FIO_RUNS x ${FIO_RUNTIME}s)" "x native"
  echo "  $seq_h"
  echo "  random: fio randread 4 KiB, psync, on the tree's largest file ($((FIO_SIZE / 1024)) KiB), page cache kept (invalidate=0)"
  local metric unit nat lab tname op lim
  for metric in seq_mib_s fio_iops find_ms tar_ms; do
    case $metric in
      seq_mib_s) unit=MiB/s lab="sequential MiB/s" tname="c: warm sequential read >= 0.85x native" op=">=" lim=0.85 ;;
      fio_iops) unit=IOPS lab="random 4k IOPS" tname="c: warm random 4 KiB IOPS >= 0.85x native" op=">=" lim=0.85 ;;
      find_ms) unit=ms lab="find . | wc -l, ms" tname="c: warm find <= 1.5x native" op="<=" lim=1.5 ;;
      tar_ms) unit=ms lab="tar -cf - . | cat, ms" tname="c: warm whole-tree tar <= 1.5x native" op="<=" lim=1.5 ;;
    esac
    summarize "$n" c "$metric" native "$unit"; nat=$S_MED
    for s in "${setups[@]}"; do
      summarize "$n" c "$metric" "$s" "$unit"
      local r t=""
      r=$(ratio "$S_MED" "$nat")
      [ "$s" = thawfs ] && t="$op ${lim}x native: $(target "$n" "$tname" "$r" "$op" "$lim")"
      row "$lab: ${LABEL[$s]}" "$S_MED" "$S_P99" "$(fmt "$r")x" "$t"
    done
  done
  echo "  (warm git status: see b.)"

  hdr "[$n files] d. thawfs CPU and memory during whole-tree reads; first tar per setup (caches dropped before each)" "x native"
  summarize "$n" d tar_cold_ms native ms; local nat_cold=$S_MED
  for s in "${setups[@]}"; do
    summarize "$n" d tar_cold_ms "$s" ms
    row "first tar (cold), ms: ${LABEL[$s]}" "$S_MED" "-" "$(fmt "$(ratio "$S_MED" "$nat_cold")")x" ""
  done
  summarize "$n" d cpu_cold_tar_ms thawfs ms
  row "thawfs CPU (utime+stime), first tar, ms" "$S_MED" "-" "" "(one run; $EXPECT_HYD blobs to hydrate)"
  summarize "$n" d cpu_warm_tar_ms thawfs ms
  row "thawfs CPU per warm tar, ms" "$S_MED" "$S_P99" "" ""
  summarize "$n" d cpu_warm_find_ms thawfs ms
  row "thawfs CPU per warm find, ms" "$S_MED" "$S_P99" "" ""
  summarize "$n" d peak_rss_cold_tar_kib thawfs KiB
  row "thawfs peak RSS during first tar, MiB" "$(awk -v k="$S_MED" 'BEGIN{print k/1024}')" "-" "" "(VmHWM, reset before the tar)"
  summarize "$n" d rss_after_cold_tar_kib thawfs KiB
  local rss_mib; rss_mib=$(awk -v k="$S_MED" 'BEGIN{print k/1024}')
  row "thawfs RSS after first tar, MiB" "$rss_mib" "-" "" "<= 20 MiB: $(target "$n" "d: thawfs RSS <= 20 MiB after the whole-tree read" "$rss_mib" "<=" 20)"
  summarize "$n" d rss_after_warm_kib thawfs KiB
  local rss2; rss2=$(awk -v k="$S_MED" 'BEGIN{print k/1024}')
  row "thawfs RSS after all warm passes, MiB" "$rss2" "-" "" "<= 20 MiB: $(target "$n" "d: thawfs RSS <= 20 MiB after all warm passes" "$rss2" "<=" 20)"
  summarize "$n" d peak_rss_lifetime_kib thawfs KiB
  row "thawfs peak RSS over the mount's life, MiB" "$(awk -v k="$S_MED" 'BEGIN{print k/1024}')" "-" "" ""
  summarize "$n" d hydrations_after_tar thawfs count
  printf '  thawfs hydrations after the first whole-tree tar: %s (distinct blobs > 2 KiB in the tree: %s)\n' "$S_MED" "$EXPECT_HYD"
  jq -s -r --argjson n "$n" '[.[] | select(.size==$n and .section=="c")] | .[-1].counters // empty |
     "  thawfs counters after all passes: lookups \(.lookups), getattrs \(.getattrs), readdirs \(.readdirs), reads \(.reads), bytes_read \(.bytes_read), hydrations \(.hydrations), cache_hits \(.cache_hits), inline_reads \(.inline_reads), io_errors \(.io_errors), erofs \(.erofs), inodes \(.inodes)"' "$COUNTERS"
  [ -z "$delta" ] || echo "  thawfs requests during section c (untimed passes included): $delta"
  [ -z "$kdelta" ] || echo "  thawfs requests during the timed warm runs only ($RUNS runs x each; fio $FIO_RUNS): $kdelta"
  local ex=""
  for s in thawfs fovl; do
    summarize "$n" c exit_after_unmount_ms "$s" ms
    [ "$S_N" = 0 ] || ex+="${ex:+, }${LABEL[$s]} $(fmt "$S_MED") ms"
  done
  [ -z "$ex" ] || echo "  daemon exit after fusermount3 -u at the end of c/d: $ex"
  return 0
}

# ------------------------------------------------------------------ main ----
log "sizes $SIZES, $RUNS runs, fio $FIO_RUNS x ${FIO_RUNTIME}s, sections $SECTIONS, work dir $(rel "$WORK")"
{
  echo "thawfs benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r), $(df -PT "$WORK" | awk 'NR==2 {print $2}') work dir"
  echo "versions: $(git --version), $(fio --version), fuse-overlayfs $(fuse-overlayfs --version 2>/dev/null | awk '/version/ {print $NF; exit}'), thawfs $("$THAWFS" --version | awk '{print $2}') $(if [ -n "$THAWFS_BIN" ]; then echo "(given binary)"; else echo "built from the working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- fs common 2>/dev/null || echo ' with local changes in fs/')"; fi)"
  echo "setups: thawfs = fresh mount of the bare repository at main; overlayfs (kernel) and fuse-overlayfs = lowerdir the native checkout, fresh upper and work dirs; native = a git clone checkout"
  echo "runs: $RUNS per measurement (fio: $FIO_RUNS x ${FIO_RUNTIME}s); setups interleaved run by run; p99 is the nearest-rank 99th percentile (the maximum below 100 runs)"
} | tee "$RUN/header.txt"

for n in "${SIZE_LIST[@]}"; do
  prepare_repo "$n"
  repo_facts "$n"
  printf '\n==== %s files (seed %s): %s files in the tree, %s MiB ====\n' "$n" "$SEED" "$NFILES" "$((TREE_BYTES / 1048576))"
  if has_section a; then section_a "$n"; fi
  if has_section b; then section_b "$n"; fi
  if has_section c; then section_cd "$n" || fail_note "n=$n: section c/d aborted"; fi
done

# Cross-size target: time to first read must not grow with the tree.
if has_section a && [ ${#SIZE_LIST[@]} -ge 2 ]; then
  small=$(printf '%s\n' "${SIZE_LIST[@]}" | sort -n | head -n1)
  big=$(printf '%s\n' "${SIZE_LIST[@]}" | sort -n | tail -n1)
  ms_small=$(awk -F'\t' -v z="$small" '$1==z && $3=="ttfr_ms" && $4=="thawfs" {print $6}' "$SUMMARY" | tail -n1)
  ms_big=$(awk -F'\t' -v z="$big" '$1==z && $3=="ttfr_ms" && $4=="thawfs" {print $6}' "$SUMMARY" | tail -n1)
  r=$(ratio "$ms_big" "$ms_small")
  printf '\n[%s vs %s files] a. thawfs time to first read p50: %s ms vs %s ms = %sx  (target <= 1.5x: %s)\n' \
    "$big" "$small" "$(fmt "$ms_big")" "$(fmt "$ms_small")" "$(fmt "$r")" "$(target "$big" "a: time to first read p50 at $big <= 1.5x at $small" "$r" "<=" 1.5)"
fi

printf '\n==== targets ====\n'
awk -F'\t' '{ printf "%-8s %-60s %10s %s %-6s %s\n", $1, $2, $3, $4, $5, ($6=="yes" ? "met" : $6=="NO" ? "MISSED" : $6) }' "$TARGETS"
if [ ${#FAILURES[@]} -gt 0 ]; then
  printf '\n==== errors during the run (%d) ====\n' "${#FAILURES[@]}"
  printf '%s\n' "${FAILURES[@]}"
fi
printf '\npage cache drops by other processes during the run: %s (warm measurements they disturbed were repeated: %s)\n' "$(foreign_drops)" "$DISTURBED"
ELAPSED=$((SECONDS - T_START))
printf '\nbenchmark time: %dm%02ds\n' $((ELAPSED / 60)) $((ELAPSED % 60))

# ---------------------------------------------------------------- JSON -----
out_json=$RESULTS_DIR/$STAMP.json
tsv2json='split("\n") | map(select(length > 0) | split("\t"))'
{ printf '%s\n' "${FAILURES[@]}"; } >"$RUN/failures.txt"
jq -n \
  --rawfile header "$RUN/header.txt" \
  --rawfile samples "$SAMPLES" --rawfile summary "$SUMMARY" --rawfile targets "$TARGETS" \
  --rawfile failures "$RUN/failures.txt" --slurpfile counters <(cat "$COUNTERS") \
  --arg stamp "$STAMP" --arg sizes "$SIZES" --argjson runs "$RUNS" --argjson fio_runs "$FIO_RUNS" \
  --argjson fio_runtime "$FIO_RUNTIME" --arg seq_bytes "$SEQ_BYTES" --argjson seed "$SEED" \
  --argjson elapsed "$ELAPSED" --argjson foreign_drops "$(foreign_drops)" --argjson disturbed "$DISTURBED" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
  --arg commit "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
  --argjson dirty "$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null && echo false || echo true)" \
  "def num: if . == \"nan\" or . == \"\" then null else tonumber end;
   {
    meta: {timestamp: \$stamp, header: (\$header | split(\"\n\") | map(select(length > 0))),
           sizes: (\$sizes | split(\",\") | map(tonumber)), runs: \$runs, fio_runs: \$fio_runs,
           fio_runtime_s: \$fio_runtime, seq_bytes: \$seq_bytes, seed: \$seed, elapsed_s: \$elapsed,
           kernel: \$kernel, cpus: \$cpus, commit: \$commit, dirty: \$dirty,
           foreign_page_cache_drops: \$foreign_drops, disturbed_warm_samples_repeated: \$disturbed},
    samples: (\$samples | $tsv2json | map({size: (.[0]|tonumber), section: .[1], metric: .[2], setup: .[3],
              run: (.[4]|tonumber), value: (.[5]|num), unit: .[6]})),
    summaries: (\$summary | $tsv2json | map({size: (.[0]|tonumber), section: .[1], metric: .[2], setup: .[3],
              n: (.[4]|tonumber), median: (.[5]|num), p99: (.[6]|num), min: (.[7]|num), max: (.[8]|num),
              mean: (.[9]|num), unit: .[10]})),
    targets: (\$targets | $tsv2json | map({size: (.[0]|tonumber), target: .[1], value: (.[2]|num), op: .[3],
              limit: (.[4]|tonumber), met: (if .[5] == \"yes\" then true elif .[5] == \"NO\" then false else null end)})),
    thawfs_status: \$counters,
    errors: (\$failures | split(\"\n\") | map(select(length > 0)))
   }" >"$out_json"
log "raw samples and summaries: $(rel "$out_json")"
