#!/usr/bin/env bash
# bench/snapshot.sh: the snapshot benchmark. Freeze and restore-to-first-read
# of a session's changes (1,000 files, 10 MiB) in repositories of 5,000 and
# 50,000 files, beside `tar | lz4` and `cp -a` on the same data; pack and
# unpack throughput; the dedup ratio of 10 snapshots of a session making small
# edits. One command; see docs/bench-snapshot.md. Needs root (drop_caches).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEEP=src/core/engine/detail/impl/deep_file.c

usage() {
  cat <<'EOF'
usage: bash bench/snapshot.sh [--quick] [--sizes N,N...] [--runs N] [options]

Builds thawfs, thaw-snapshot and the helpers (Release, build-bench/ unless
--build-dir), generates test repositories (reused by later runs), and per
repository size, run by run:
  1. mounts a workspace with an upper layer and changes 1,000 files, 10 MiB
     (512 new files of 16 KiB, 488 appends of 4 KiB to files of the tree,
     the deep file among them);
  2. packs the changes three ways, in turns: thaw-snapshot freeze (into an
     empty store), tar -c upper | lz4, cp -a upper;
  3. restores them three ways with cold caches, in turns, timed from the
     start to the first byte of the deep file (five directories down):
     thaw-snapshot restore + read, lz4 -d | tar -x + read, cp -a + read;
     then reads every changed file of the restored thawfs mount (unpack
     throughput); as references, a plain thawfs mount of the same commit
     (no layer) + read, and both again with warm caches;
  4. once per size: 10 snapshots of one session making small edits (dedup).
Prints tables with the targets (stdout), progress on stderr, and writes every
sample to bench/results/snapshot-<timestamp>.json.

options:
  --quick           5,000 files only, 3 runs (about 2 minutes)
  --sizes LIST      repository sizes in files (default 5000,50000)
  --runs N          runs per size (default 5; --quick: 3)
  --seed S          generator seed (default 1)
  --work DIR        repositories and stores (default BUILD/snapshot-work)
  --build-dir DIR   build tree to use and build in (default build-bench)
  --no-build        use the build tree as it is
  --help            this text
EOF
}

QUICK=0 SIZES=5000,50000 RUNS="" SEED=1 WORK="" BUILD=1 BUILD_DIR=$ROOT/build-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --sizes) SIZES=${2:?--sizes needs a value}; shift ;;
    --runs) RUNS=${2:?--runs needs a value}; shift ;;
    --seed) SEED=${2:?--seed needs a value}; shift ;;
    --work) WORK=${2:?--work needs a value}; shift ;;
    --build-dir) BUILD_DIR=${2:?--build-dir needs a value}; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "snapshot.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then SIZES=5000; : "${RUNS:=3}"; fi
: "${RUNS:=5}"
for v in "$RUNS" "$SEED"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "snapshot.sh: '$v' is not a positive integer" >&2; exit 2; }
done
[[ "$SIZES" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "snapshot.sh: --sizes wants N,N,..." >&2; exit 2; }
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for n in "${SIZE_LIST[@]}"; do
  [ "$n" -ge 2000 ] || { echo "snapshot.sh: sizes must be at least 2000 files (488 appends)" >&2; exit 2; }
done

# The workload (what the targets are about).
N_NEW=512 NEW_SIZE=16384 N_APPEND=488 APPEND_SIZE=4096
DEDUP_SNAPS=10 DEDUP_EDITS=20 DEDUP_EDIT_BYTES=100

log() { printf '[snapshot %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'snapshot.sh: %s\n' "$*" >&2; exit 1; }
rel() { case "$1" in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) basename "$1" ;; esac; }

[ "$(id -u)" = 0 ] || die "needs root (drop_caches); run as root"
[ -c /dev/fuse ] || die "/dev/fuse is missing"
for c in fusermount3 git jq lz4 tar cp cmake awk base64 split flock du; do
  command -v "$c" >/dev/null || die "missing command: $c (Debian: apt-get install lz4 jq ...)"
done

BUILD_DIR=$(mkdir -p "$BUILD_DIR" && cd "$BUILD_DIR" && pwd -P)
: "${WORK:=$BUILD_DIR/snapshot-work}"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=$ROOT/bench/results
RUN=$WORK/run LOGDIR=$WORK/logs
LOG=$LOGDIR/commands.log
SCRATCH=""
DAEMONS=()

. "$ROOT/bench/lib.sh"
cleanup() {
  local rc=$? p
  set +e
  trap - EXIT INT TERM
  [ -n "$SCRATCH" ] && unmount_all_under "$SCRATCH" >/dev/null
  for p in "${DAEMONS[@]}"; do
    alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$SCRATCH/" && kill -TERM "$p" 2>/dev/null
  done
  [ -n "$SCRATCH" ] && rm -rf --one-file-system "$SCRATCH"
  rm -rf --one-file-system "$RUN"
  [ $rc = 0 ] || log "failed (exit $rc); command log: $LOG"
  exit $rc
}
exec 9>"$WORK/.lock"
flock -n 9 || die "another bench/snapshot.sh is running with work directory $WORK"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rm -rf --one-file-system "$RUN"
# Mounts, stores and sockets live outside the checkout, on one filesystem.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/thawsnapbench.XXXXXX")
mkdir -p "$RUN" "$LOGDIR" "$RESULTS_DIR"
: >"$LOG"
SAMPLES=$RUN/samples.tsv TARGETS=$RUN/targets.tsv
: >"$SAMPLES"; : >"$TARGETS"
T_START=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
export HOME=$WORK/home GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
mkdir -p "$HOME"

# ---------------------------------------------------------------- build ----
if [ "$BUILD" = 1 ]; then
  log "building (Release) in $(rel "$BUILD_DIR")"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$LOGDIR/build.log" 2>&1 ||
      { tail -30 "$LOGDIR/build.log" >&2; die "cmake configure failed"; }
  fi
  cmake --build "$BUILD_DIR" -j2 --target thawfs thawfs-ctl thaw-genrepo thaw-snapshot ttfr readall \
    >>"$LOGDIR/build.log" 2>&1 || { tail -30 "$LOGDIR/build.log" >&2; die "build failed (log: $LOGDIR/build.log)"; }
fi
THAWFS=$BUILD_DIR/fs/thawfs CTL=$BUILD_DIR/fs/thawfs-ctl SNAP=$BUILD_DIR/snapshot/thaw-snapshot
GENREPO=$BUILD_DIR/tests/genrepo/thaw-genrepo TTFR=$BUILD_DIR/bench/ttfr READALL=$BUILD_DIR/bench/readall
for b in "$THAWFS" "$CTL" "$SNAP" "$GENREPO" "$TTFR" "$READALL"; do
  [ -x "$b" ] || die "missing $(rel "$b") (build it, or drop --no-build)"
done

# -------------------------------------------------------------- helpers ----
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
sample() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"; } # SIZE METRIC SETUP RUN VALUE UNIT
stats() { # values on stdin -> "n median min max"
  sort -g | awk '{v[NR]=$1} END{ if (NR==0) { print "0 nan nan nan"; exit }
    n=NR; med=(n%2)? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2; printf "%d %.10g %.10g %.10g\n", n, med, v[1], v[n] }'
}
values() { awk -F'\t' -v z="$1" -v m="$2" -v s="$3" '$1==z && $2==m && $3==s {print $5}' "$SAMPLES"; }
median() { values "$@" | stats | awk '{print $2}'; }
fmt() {
  awk -v x="$1" 'BEGIN{ if (x=="" || x=="nan") { printf "-"; exit }
    a=(x<0)?-x:x; if (a>=10000) printf "%.0f", x; else if (a>=100) printf "%.1f", x; else if (a>=10) printf "%.2f", x; else printf "%.3f", x }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan"||b=="nan"||a==""||b==""||b+0==0) print "nan"; else printf "%.4g", a/b }'; }
mbps() { awk -v b="$1" -v ms="$2" 'BEGIN{ if (ms+0<=0) print "nan"; else printf "%.4g", b/1048576/(ms/1000) }'; }
target() { # SIZE NAME VALUE OP LIMIT -> yes/NO, recorded
  local met
  met=$(awk -v v="$3" -v op="$4" -v l="$5" 'BEGIN{ if (v=="nan"||v=="") { print "n/a"; exit }
        ok = (op=="<=") ? (v+0 <= l+0) : (v+0 >= l+0); print ok ? "yes" : "NO" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" "$met" >>"$TARGETS"
  echo "$met"
}
# timed CMD...: T_MS = wall ms of CMD run by ttfr (no shell); its stdout in $RUN/out
timed() {
  local out
  out=$("$TTFR" -- "$@" 2>"$RUN/out") || { cat "$RUN/out" >>"$LOG"; return 1; }
  T_MS=${out%% *}
}
# timed_read PIDFILE PATH CMD...: start of CMD to the first byte of PATH
timed_read() {
  local pf=$1 path=$2 out; shift 2
  out=$("$TTFR" --quiet --pids-out "$pf" --read "$path" -- "$@" 2>>"$LOG") || return 1
  T_MS=${out%% *}
}
wait_gone() { # PID: up to 30 s
  local i
  for ((i = 0; i < 3000; i++)); do alive "$1" || return 0; sleep 0.01; done
  log "process $1 still alive 30 s after its unmount: killing it"; kill -KILL "$1" 2>/dev/null || true
}
unmount_pid() { # MNT PID
  fusermount3 -u "$1" 2>>"$LOG" || { log "fusermount3 -u $1 failed: lazy"; fusermount3 -uz "$1" 2>>"$LOG" || true; }
  [ -z "${2:-}" ] || wait_gone "$2"
}
fresh() { rm -rf --one-file-system "$@"; mkdir -p "$@"; }
# store_bytes STORE: bytes of its objects, loose (objects/) and packed (packs/)
store_bytes() { du -scb --apparent-size "$1/objects" "$1"/packs 2>/dev/null | tail -1 | cut -f1; }

# mount_ws MNT UPPER CACHE SOCK: a workspace at main with an upper; WS_PID
mount_ws() {
  fresh "$1" "$2"
  mkdir -p "$3"
  "$THAWFS" --repo "$REPO" --commit main --upper "$2" --cache "$3" --control "$4" \
    --log "$LOGDIR/thawfs-$(basename "$1").log" "$1" 2>>"$LOG" || die "thawfs failed to mount (log: $LOG)"
  WS_PID=$("$CTL" "$4" status | jq -r .pid)
  DAEMONS+=("$WS_PID")
}

# make_changes MNT: 1,000 files and 10 MiB: new files and appends (random
# base64 text, new in every run so nothing dedups against an earlier run).
make_changes() {
  local mnt=$1 f
  head -c $(( (N_NEW * NEW_SIZE + N_APPEND * APPEND_SIZE) * 3 / 4 + 4096 )) /dev/urandom | base64 -w 100 >"$RUN/payload"
  mkdir -p "$mnt/bench-new/a/b"
  head -c $((N_NEW * NEW_SIZE)) "$RUN/payload" | split -b $NEW_SIZE -a 3 -d - "$mnt/bench-new/a/b/f-"
  exec 3<"$RUN/payload"
  head -c $((N_NEW * NEW_SIZE)) <&3 >/dev/null
  while IFS= read -r f; do head -c $APPEND_SIZE <&3 >>"$mnt/$f"; done <"$APPENDS"
  exec 3<&-
}

# ------------------------------------------------------------ the sizes ----
declare -A UPPER_BYTES=()
for n in "${SIZE_LIST[@]}"; do
  REPO=$WORK/repos/$n-s$SEED/repo.git
  if [ ! -f "$WORK/repos/$n-s$SEED/.done" ]; then
    log "generating a $n-file repository (once; reused by later runs)"
    rm -rf "$WORK/repos/$n-s$SEED"; mkdir -p "$WORK/repos/$n-s$SEED"
    "$GENREPO" --out "$REPO" --files "$n" --seed "$SEED" --bare --quiet >>"$LOG" 2>&1 || die "thaw-genrepo failed"
    touch "$WORK/repos/$n-s$SEED/.done"
  fi
  # Files to append to: the deep file and text files of the tree (not big ones).
  APPENDS=$RUN/appends-$n
  { echo "$DEEP"
    git -C "$REPO" ls-tree -r -l main | awk -v d="$DEEP" '$1=="100644" && $4+0 < 65536 && $5 ~ /\.(c|h|py|md|sh|txt)$/ && $5 != d && $5 !~ / / {print $5}' |
      awk -v max=$((N_APPEND - 1)) 'c < max {print; c++}'
  } >"$APPENDS"
  [ "$(wc -l <"$APPENDS")" = $N_APPEND ] || die "only $(wc -l <"$APPENDS") files to append to in the $n-file repository"

  for ((r = 1; r <= RUNS; r++)); do
    log "size $n, run $r/$RUNS"
    S=$SCRATCH/s$n-r$r; mkdir -p "$S"
    WS=$S/ws UP=$S/upper SOCK=$S/ws.sock STORE=$S/store
    mount_ws "$WS" "$UP" "$S/cache" "$SOCK"
    make_changes "$WS"
    sync
    bytes=$(du -sb --apparent-size --exclude=.thaw-work "$UP" | cut -f1)
    UPPER_BYTES[$n]=$bytes
    # pack: three setups in turns (rotated each run)
    order=(freeze tarlz4 cpa); rot=$(( (r - 1) % 3 )); order=("${order[@]:$rot}" "${order[@]:0:$rot}")
    for setup in "${order[@]}"; do
      case $setup in
        freeze)
          timed "$SNAP" freeze --store "$STORE" --control "$SOCK" --json || die "freeze failed (log: $LOG)"
          fj=$(grep '^{' "$RUN/out" | tail -1)
          ID=$(jq -r .id <<<"$fj")
          [[ "$ID" =~ ^[0-9a-f]{40}$ ]] || die "freeze printed no id: $(cat "$RUN/out")"
          sample "$n" freeze_ms thaw "$r" "$T_MS" ms
          sample "$n" freeze_inner_ms thaw "$r" "$(jq -r '.ms // "nan"' <<<"$fj")" ms
          sample "$n" freeze_park_ms thaw "$r" "$(jq -r '.park_ms // "nan"' <<<"$fj")" ms
          sample "$n" freeze_pack_ms thaw "$r" "$(jq -r '.pack_ms // "nan"' <<<"$fj")" ms
          sample "$n" pack_mb_s thaw "$r" "$(mbps "$bytes" "$T_MS")" MiB/s
          sample "$n" stored_bytes thaw "$r" "$(store_bytes "$STORE")" B ;;
        tarlz4)
          timed sh -c "tar -C '$UP' --exclude=./.thaw-work -cf - . | lz4 -1 -q - '$S/upper.tar.lz4'" || die "tar | lz4 failed"
          sample "$n" freeze_ms tar_lz4 "$r" "$T_MS" ms
          sample "$n" pack_mb_s tar_lz4 "$r" "$(mbps "$bytes" "$T_MS")" MiB/s
          sample "$n" stored_bytes tar_lz4 "$r" "$(stat -c %s "$S/upper.tar.lz4")" B ;;
        cpa)
          timed cp -a "$UP" "$S/upper.copy" || die "cp -a failed"
          sample "$n" freeze_ms cp_a "$r" "$T_MS" ms
          sample "$n" pack_mb_s cp_a "$r" "$(mbps "$bytes" "$T_MS")" MiB/s ;;
      esac
    done
    unmount_pid "$WS" "$WS_PID"
    # restore to first read, cold: three setups in turns, and a plain thawfs
    # mount of the same commit (no layer) as the reference
    for setup in "${order[@]}" mount; do
      drop_caches
      case $setup in
        freeze)
          RM=$S/restored; fresh "$RM"; rm -rf "$S/rupper" "$S/rcache"
          timed_read "$RUN/pids" "$RM/$DEEP" "$SNAP" restore --store "$STORE" "$ID" --repo "$REPO" \
            --upper "$S/rupper" --cache "$S/rcache" "$RM" || die "restore + read failed (log: $LOG)"
          RPID=$(head -n1 "$RUN/pids" 2>/dev/null || true); [ -z "$RPID" ] || DAEMONS+=("$RPID")
          sample "$n" restore_first_read_ms thaw "$r" "$T_MS" ms
          # unpack: every changed file through the restored mount (hydrating from the store)
          (cd "$UP" && find . -path ./.thaw-work -prune -o -type f -print) | sed "s|^\./|$RM/|" >"$RUN/files"
          out=$("$READALL" --bytes "$bytes" --list "$RUN/files" 2>>"$LOG") || die "readall failed"
          sample "$n" unpack_mb_s thaw "$r" "$(awk '{print $3}' <<<"$out")" MiB/s
          unmount_pid "$RM" "$RPID"
          # again with warm caches (binaries, manifest, objects cached): the
          # cost inside the processes
          fresh "$RM"; rm -rf "$S/rupper" "$S/rcache"
          timed_read "$RUN/pids" "$RM/$DEEP" "$SNAP" restore --store "$STORE" "$ID" --repo "$REPO" \
            --upper "$S/rupper" --cache "$S/rcache" "$RM" || die "warm restore + read failed (log: $LOG)"
          RPID=$(head -n1 "$RUN/pids" 2>/dev/null || true); [ -z "$RPID" ] || DAEMONS+=("$RPID")
          sample "$n" restore_first_read_ms thaw_warm "$r" "$T_MS" ms
          unmount_pid "$RM" "$RPID" ;;
        mount)
          PM=$S/plain; fresh "$PM"; rm -rf "$S/pcache"
          timed_read "$RUN/pids" "$PM/$DEEP" "$THAWFS" --repo "$REPO" --commit main --cache "$S/pcache" \
            --log "$LOGDIR/thawfs-plain.log" "$PM" || die "plain mount + read failed (log: $LOG)"
          PPID_=$(head -n1 "$RUN/pids" 2>/dev/null || true); [ -z "$PPID_" ] || DAEMONS+=("$PPID_")
          sample "$n" restore_first_read_ms plain_mount "$r" "$T_MS" ms
          unmount_pid "$PM" "$PPID_"
          fresh "$PM"; rm -rf "$S/pcache"
          timed_read "$RUN/pids" "$PM/$DEEP" "$THAWFS" --repo "$REPO" --commit main --cache "$S/pcache" \
            --log "$LOGDIR/thawfs-plain.log" "$PM" || die "warm plain mount + read failed (log: $LOG)"
          PPID_=$(head -n1 "$RUN/pids" 2>/dev/null || true); [ -z "$PPID_" ] || DAEMONS+=("$PPID_")
          sample "$n" restore_first_read_ms plain_warm "$r" "$T_MS" ms
          unmount_pid "$PM" "$PPID_" ;;
        tarlz4)
          D=$S/untar; fresh "$D"
          timed_read /dev/null "$D/$DEEP" sh -c "lz4 -dc '$S/upper.tar.lz4' | tar -xf - -C '$D'" || die "lz4 | tar failed"
          sample "$n" restore_first_read_ms tar_lz4 "$r" "$T_MS" ms
          sample "$n" unpack_mb_s tar_lz4 "$r" "$(mbps "$bytes" "$T_MS")" MiB/s ;;
        cpa)
          rm -rf "$S/copyback"
          timed_read /dev/null "$S/copyback/$DEEP" cp -a "$S/upper.copy" "$S/copyback" || die "cp -a back failed"
          sample "$n" restore_first_read_ms cp_a "$r" "$T_MS" ms
          sample "$n" unpack_mb_s cp_a "$r" "$(mbps "$bytes" "$T_MS")" MiB/s ;;
      esac
    done
    rm -rf --one-file-system "$S"
  done

  # dedup: one session, 10 snapshots of small edits
  log "size $n: dedup over $DEDUP_SNAPS snapshots"
  S=$SCRATCH/s$n-dedup; mkdir -p "$S"
  mount_ws "$S/ws" "$S/upper" "$S/cache" "$S/ws.sock"
  logical=0 tarsum=0
  for ((k = 1; k <= DEDUP_SNAPS; k++)); do
    # edit DEDUP_EDITS files: overwrite DEDUP_EDIT_BYTES bytes in the middle
    sed -n "$(( (k - 1) * DEDUP_EDITS + 2 )),$(( k * DEDUP_EDITS + 1 ))p" "$APPENDS" | while IFS= read -r f; do
      e=""; while [ ${#e} -lt $DEDUP_EDIT_BYTES ]; do e+=$RANDOM; done
      printf '%s' "${e:0:$DEDUP_EDIT_BYTES}" | dd of="$S/ws/$f" bs=$DEDUP_EDIT_BYTES seek=200 oflag=seek_bytes conv=notrunc status=none
    done
    fj=$("$SNAP" freeze --store "$S/store" --control "$S/ws.sock" --json 2>>"$LOG") || die "dedup freeze $k failed"
    lb=$(jq -r .bytes <<<"$fj")
    logical=$((logical + lb))
    tar -C "$S/upper" --exclude=./.thaw-work -cf - . | lz4 -1 -q >"$S/snap-$k.tar.lz4"
    tarsum=$((tarsum + $(stat -c %s "$S/snap-$k.tar.lz4")))
  done
  stored=$(store_bytes "$S/store")
  sample "$n" dedup_logical_bytes thaw 1 "$logical" B
  sample "$n" dedup_stored_bytes thaw 1 "$stored" B
  sample "$n" dedup_stored_bytes tar_lz4 1 "$tarsum" B
  sample "$n" dedup_ratio thaw 1 "$(ratio "$stored" "$logical")" x
  sample "$n" dedup_ratio tar_lz4 1 "$(ratio "$tarsum" "$logical")" x
  unmount_pid "$S/ws" "$WS_PID"
  rm -rf --one-file-system "$S"
done

# --------------------------------------------------------------- tables ----
declare -A LABEL=([thaw]="thaw-snapshot" [tar_lz4]="tar | lz4 (-1)" [cp_a]="cp -a"
  [plain_mount]="thawfs mount, no layer (reference)" [thaw_warm]="thaw-snapshot, warm caches"
  [plain_warm]="thawfs mount, no layer, warm caches")
FIRST=${SIZE_LIST[0]} LAST=${SIZE_LIST[-1]}
printf '\nsnapshot benchmark: %s runs per size, changes of 1,000 files (%s new of %s B, %s appends of %s B)\n' \
  "$RUNS" "$N_NEW" "$NEW_SIZE" "$N_APPEND" "$APPEND_SIZE"
for n in "${SIZE_LIST[@]}"; do
  printf '\n== %s files (upper: %s bytes)\n' "$n" "${UPPER_BYTES[$n]:-?}"
  printf '%-38s %10s %10s %10s  %s\n' "pack (warm page cache)" "median ms" "min" "max" "target"
  for s in thaw tar_lz4 cp_a; do
    read -r _ med mn mx < <(values "$n" freeze_ms "$s" | stats)
    tg=""; [ "$s" = thaw ] && tg="<= 200 ms: $(target "$n" freeze_ms "$med" "<=" 200)"
    printf '%-38s %10s %10s %10s  %s\n' "${LABEL[$s]}" "$(fmt "$med")" "$(fmt "$mn")" "$(fmt "$mx")" "$tg"
  done
  printf '%-38s %10s  (park %s, pack %s)\n' "  (freeze's own figure, ms)" "$(fmt "$(median "$n" freeze_inner_ms thaw)")" \
    "$(fmt "$(median "$n" freeze_park_ms thaw)")" "$(fmt "$(median "$n" freeze_pack_ms thaw)")"
  printf '%-38s %10s %10s %10s  %s\n' "restore to first read (cold)" "median ms" "min" "max" "target"
  for s in thaw tar_lz4 cp_a plain_mount thaw_warm plain_warm; do
    read -r _ med mn mx < <(values "$n" restore_first_read_ms "$s" | stats)
    tg=""; [ "$s" = thaw ] && tg="<= 10 ms: $(target "$n" restore_first_read_ms "$med" "<=" 10)"
    printf '%-38s %10s %10s %10s  %s\n' "${LABEL[$s]}" "$(fmt "$med")" "$(fmt "$mn")" "$(fmt "$mx")" "$tg"
  done
  printf '%-38s %10s %10s %12s\n' "throughput (MiB/s, median)" "pack" "unpack" "stored B"
  for s in thaw tar_lz4 cp_a; do
    st=$(median "$n" stored_bytes "$s"); [ "$s" = cp_a ] && st=${UPPER_BYTES[$n]:-nan}
    printf '%-38s %10s %10s %12.0f\n' "${LABEL[$s]}" "$(fmt "$(median "$n" pack_mb_s "$s")")" \
      "$(fmt "$(median "$n" unpack_mb_s "$s")")" "$st"
  done
  printf '%-38s %10s %12s %10s\n' "dedup, $DEDUP_SNAPS snapshots of small edits" "stored B" "logical B" "ratio"
  lg=$(median "$n" dedup_logical_bytes thaw)
  for s in thaw tar_lz4; do
    printf '%-38s %10.0f %12.0f %10s\n' "${LABEL[$s]}" "$(median "$n" dedup_stored_bytes "$s")" "$lg" "$(median "$n" dedup_ratio "$s")"
  done
done
if [ "$FIRST" != "$LAST" ]; then
  printf '\n== flat in repository size (%s files / %s files, medians)\n' "$LAST" "$FIRST"
  for m in freeze_ms restore_first_read_ms; do
    rt=$(ratio "$(median "$LAST" "$m" thaw)" "$(median "$FIRST" "$m" thaw)")
    printf '%-38s %10s  <= 1.5x: %s\n' "$m" "$rt" "$(target "$LAST/$FIRST" "${m}_ratio" "$rt" "<=" 1.5)"
  done
fi

# ---------------------------------------------------------------- JSON ----
out_json=$RESULTS_DIR/snapshot-$STAMP.json
tsv2json='split("\n") | map(select(length > 0) | split("\t"))'
jq -n --rawfile samples "$SAMPLES" --rawfile targets "$TARGETS" \
  --arg stamp "$STAMP" --arg sizes "$SIZES" --argjson runs "$RUNS" --argjson seed "$SEED" \
  --argjson elapsed $((SECONDS - T_START)) --arg load_start "$LOAD_START" --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "{stamp: \$stamp, commit: \$commit, sizes: \$sizes, runs: \$runs, seed: \$seed, elapsed_s: \$elapsed,
    load_start: \$load_start, load_end: \$load_end,
    samples: (\$samples | $tsv2json | map({size: .[0], metric: .[1], setup: .[2], run: (.[3]|tonumber),
              value: (.[4]|tonumber? // null), unit: .[5]})),
    targets: (\$targets | $tsv2json | map({size: .[0], target: .[1], value: (.[2]|tonumber? // null), op: .[3],
              limit: (.[4]|tonumber), met: .[5]}))}" >"$out_json"
log "done in $((SECONDS - T_START)) s; samples: $(rel "$out_json")"
