#!/usr/bin/env bash
# bench/write.sh: write-path benchmark of thawfs beside a native checkout,
# kernel overlayfs and fuse-overlayfs (creates, deletes, copy-up, a large
# fsync'd write, git status after edits, a parallel build), plus the time
# thawfs takes to swap its tree to a branch tip 1,000 files ahead.
# One command; see docs/bench-write.md. Needs root (drop_caches, mount).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
usage: bash bench/write.sh [--quick] [--runs N] [options]

Builds thawfs (Release, build-bench/), generates a test repository (reused
by later runs), and measures with the four setups -- native checkout,
kernel overlayfs, fuse-overlayfs, thawfs -- taking turns in every run:
  1. create and write 10,000 files of 4 KiB in 100 directories, then sync -f
  2. rm -rf of those files
  3. copy-up: append one byte to 1,000 files of the lower tree (cold caches)
  4. dd 1 GiB, bs=1M, conv=fsync
  5. git status --porcelain after appending a line to 100 tracked files
  6. make -j2 of a 200-file C project that is part of the tree
  7. thawfs only: sync to an origin 1,000 changed files ahead (swap time)
Prints a table per step and a summary (stdout), progress on stderr, and
writes every sample to bench/results/write-<timestamp>.json.

options:
  --quick         5,000 files, 3 runs (step 7: 5 runs)
  --runs N        runs per step and setup (default 5; --quick: 3);
                  step 7 makes at least 5
  --files N       files in the generated repository (default 20000;
                  --quick: 5000)
  --seed S        generator seed (default 1)
  --steps LIST    subset of 1..7 (default all; 1 and 2 run together)
  --work DIR      repositories, upper layers, caches, logs
                  (default build-bench/write-work)
  --no-build      use build-bench/ as it is
  --help          this text
EOF
}

QUICK=0 RUNS="" FILES="" SEED=1 STEPS=1,2,3,4,5,6,7 WORK="" BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS=${2:?--runs needs a value}; shift ;;
    --files) FILES=${2:?--files needs a value}; shift ;;
    --seed) SEED=${2:?--seed needs a value}; shift ;;
    --steps) STEPS=${2:?--steps needs a value}; shift ;;
    --work) WORK=${2:?--work needs a value}; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "write.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then : "${RUNS:=3}" "${FILES:=5000}"; fi
: "${RUNS:=5}" "${FILES:=20000}"
for v in "$RUNS" "$FILES" "$SEED"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "write.sh: '$v' is not a positive integer" >&2; exit 2; }
done
[ "$FILES" -ge 2000 ] || { echo "write.sh: --files must be at least 2000 (1,000 copy-up files + 100 edits)" >&2; exit 2; }
[[ "$STEPS" =~ ^[1-7](,[1-7])*$ ]] || { echo "write.sh: --steps wants numbers 1..7, comma-separated" >&2; exit 2; }
RUNS7=$(( RUNS < 5 ? 5 : RUNS ))
has_step() { [[ ",$STEPS," == *",$1,"* ]]; }

# Workload sizes (the figures the targets are about).
N_CREATE=10000 N_CREATE_DIRS=100 CREATE_SIZE=4096
N_COPYUP=1000 N_EDITS=100 DD_MIB=1024 ADV_CHANGES=1000
SETTLE_S=65      # after step 2's deletions (ext4 skips inodes freed < 60 s ago)
PROJ=bench-cproj PROJ_UNITS=200
PROJ_VERSION=1   # bump when gen_project changes: repositories are regenerated

log() { printf '[write %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'write.sh: %s\n' "$*" >&2; exit 1; }
rel() { case "$1" in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) basename "$1" ;; esac; }

[ "$(id -u)" = 0 ] || die "needs root (drop_caches, mount -t overlay); run as root"
[ -c /dev/fuse ] || die "/dev/fuse is missing"

# ---------------------------------------------------------------- tools ----
need=(fusermount3 fuse-overlayfs git jq make cc cmake pkg-config awk mountpoint flock find dd)
missing=0
for c in "${need[@]}"; do command -v "$c" >/dev/null || missing=1; done
if [ $missing = 1 ]; then
  log "installing missing packages (scripts/deps.sh with the benchmark extras)"
  THAW_BENCH_DEPS=1 bash "$ROOT/scripts/deps.sh"
  command -v fuse-overlayfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse-overlayfs >/dev/null
fi
for c in "${need[@]}"; do command -v "$c" >/dev/null || die "missing command: $c"; done
if ! grep -qw overlay /proc/filesystems; then modprobe overlay 2>/dev/null || true; fi
grep -qw overlay /proc/filesystems || die "kernel overlayfs is not available"

BUILD_DIR=$ROOT/build-bench
: "${WORK:=$BUILD_DIR/write-work}"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
case "$WORK/" in "$ROOT"/bench/work/*) die "--work must not be under bench/work (bench/run.sh unmounts everything there)" ;; esac
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=$ROOT/bench/results
RUN=$WORK/run
LOGDIR=$WORK/logs
LOG=$LOGDIR/commands.log
SCRATCH="" MNTS="" SOCKDIR="" NAT="" JSON_DONE=0
DAEMONS=()       # fuse daemons this run started (pids)
FAILURES=()
DISTURBED=()     # measurements during which another process dropped the page cache

# ------------------------------------------------------------- cleanup ----
. "$ROOT/bench/lib.sh"
unmount_logged() { local mp; unmount_all_under "$1" | while IFS= read -r mp; do log "unmounted $mp"; done; }
# ours: still one of the daemons this run started (its command line names our
# scratch directory), not a process that got the pid later
ours() { alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$SCRATCH/"; }
restore_native_all() { # back to the committed tree (after an interruption)
  [ -n "$NAT" ] && [ -d "$NAT/.git" ] || return 0
  git -C "$NAT" reset -q --hard 2>>"$LOG" || true
  git -C "$NAT" clean -q -fdx 2>>"$LOG" || true
}
cleanup() {
  local rc=$? p i
  set +e
  trap - EXIT INT TERM
  [ -n "$MNTS" ] && unmount_logged "$MNTS"
  for p in "${DAEMONS[@]}"; do
    for ((i = 0; i < 100; i++)); do alive "$p" || break; sleep 0.05; done
    ours "$p" && kill -TERM "$p" 2>/dev/null
  done
  [ "${NAT_DIRTY:-0}" = 0 ] || restore_native_all
  [ "$JSON_DONE" = 1 ] || [ ! -s "${SAMPLES:-/nonexistent}" ] || write_json 2>/dev/null
  [ -n "$SCRATCH" ] && rm -rf --one-file-system "$SCRATCH"
  rm -rf --one-file-system "$RUN"
  date +%s >"$WORK/.last-delete"   # the next run waits out ext4's window
  [ $rc = 0 ] || log "failed (exit $rc); command log: $LOG"
  exit $rc
}
exec 9>"$WORK/.lock"
flock -n 9 || die "another bench/write.sh is running with work directory $WORK"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -f "$WORK/.scratch" ]; then  # an interrupted run's mounts
  old=$(cat "$WORK/.scratch")
  if [[ "$(basename "$old")" == thawwrite.* ]] && [ -d "$old" ]; then
    unmount_logged "$old"
    rm -rf --one-file-system "$old"
  fi
  rm -f "$WORK/.scratch"
fi
rm -rf --one-file-system "$RUN"
# Mount points and sockets live outside the checkout (tools walking the
# checkout must not wander into the workspaces mid-measurement).
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/thawwrite.XXXXXX")
echo "$SCRATCH" >"$WORK/.scratch"
MNTS=$SCRATCH/mnt SOCKDIR=$SCRATCH/sock
mkdir -p "$MNTS" "$SOCKDIR" "$RUN" "$LOGDIR" "$RESULTS_DIR"
: >"$LOG"
SAMPLES=$RUN/samples.tsv SUMMARY=$RUN/summary.tsv STATUSES=$RUN/status.jsonl
: >"$SAMPLES"; : >"$SUMMARY"; : >"$STATUSES"
T_START=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

export HOME=$WORK/home GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
mkdir -p "$HOME"
git config --global user.name "Thaw Bench"
git config --global user.email "bench@thaw.invalid"
git config --global init.defaultBranch main
git config --global safe.directory '*'
git config --global gc.auto 0
git config --global advice.detachedHead false
git config --global core.quotePath false

# ---------------------------------------------------------------- build ----
if [ "$BUILD" = 1 ]; then
  log "building thawfs, thawfs-ctl, thaw-genrepo (Release) in $(rel "$BUILD_DIR")"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >>"$LOGDIR/build.log" 2>&1 ||
      { tail -30 "$LOGDIR/build.log" >&2; die "cmake configure failed"; }
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target thawfs thawfs-ctl thaw-genrepo >>"$LOGDIR/build.log" 2>&1 ||
    { tail -30 "$LOGDIR/build.log" >&2; die "build failed (log: $LOGDIR/build.log)"; }
fi
THAWFS=$BUILD_DIR/fs/thawfs CTL=$BUILD_DIR/fs/thawfs-ctl GENREPO=$BUILD_DIR/tests/genrepo/thaw-genrepo
for b in "$THAWFS" "$CTL" "$GENREPO"; do [ -x "$b" ] || die "missing $(rel "$b") (build it, or drop --no-build)"; done

# The timed workloads run in a small C helper: no interpreter or fork cost
# inside a measurement.
HELPER=$BUILD_DIR/bench-write/wbench
mkdir -p "$BUILD_DIR/bench-write"
cat >"$RUN/wbench.c" <<'CEOF'
/* wbench: the timed workloads of bench/write.sh (generated by it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("wbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The non-empty lines of a file. */
static char **read_list(const char *file, size_t *count)
{
	FILE *f = fopen(file, "r");
	if (!f)
		die("%s: %s", file, strerror(errno));
	size_t cap = 1024, n = 0;
	char **v = malloc(cap * sizeof(*v));
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	while ((len = getline(&line, &lcap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = 0;
		if (len == 0)
			continue;
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	*count = n;
	return v;
}

/* create DIR NDIRS PERDIR SIZE [SYNCDIR...]: mkdir DIR, NDIRS directories in
 * it, PERDIR files of SIZE bytes in each (one write per file), then syncfs()
 * on each SYNCDIR in order. Prints "total_ms create_ms sync_ms". */
static int cmd_create(int argc, char **argv)
{
	if (argc < 4)
		die("usage: create DIR NDIRS PERDIR SIZE [SYNCDIR...]");
	const char *dir = argv[0];
	int ndirs = atoi(argv[1]), per = atoi(argv[2]);
	size_t size = (size_t)atol(argv[3]);
	char *buf = malloc(size ? size : 1);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)('a' + (i * 7) % 26);
	double t0 = now_ms();
	if (mkdir(dir, 0755) < 0)
		die("mkdir %s: %s", dir, strerror(errno));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die("open %s: %s", dir, strerror(errno));
	char name[64];
	for (int d = 0; d < ndirs; d++) {
		snprintf(name, sizeof(name), "d%03d", d);
		if (mkdirat(dfd, name, 0755) < 0)
			die("mkdir %s/%s: %s", dir, name, strerror(errno));
		int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0)
			die("open %s/%s: %s", dir, name, strerror(errno));
		for (int f = 0; f < per; f++) {
			char fn[32];
			snprintf(fn, sizeof(fn), "f%05d", d * per + f);
			int fd = openat(sfd, fn, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0)
				die("create %s/%s/%s: %s", dir, name, fn, strerror(errno));
			if (size)
				buf[0] = (char)('A' + f % 26);
			if (write_all(fd, buf, size) < 0)
				die("write %s/%s/%s: %s", dir, name, fn, strerror(errno));
			if (close(fd) < 0)
				die("close %s/%s/%s: %s", dir, name, fn, strerror(errno));
		}
		close(sfd);
	}
	close(dfd);
	double t1 = now_ms();
	for (int i = 4; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			die("open %s: %s", argv[i], strerror(errno));
		if (syncfs(fd) < 0)
			die("syncfs %s: %s", argv[i], strerror(errno));
		close(fd);
	}
	double t2 = now_ms();
	printf("%.3f %.3f %.3f\n", t2 - t0, t1 - t0, t2 - t1);
	free(buf);
	return 0;
}

/* append BASEDIR LIST TEXT: appends TEXT to each file of LIST (paths
 * relative to BASEDIR; open O_WRONLY|O_APPEND, one write, close).
 * Prints the time in ms. */
static int cmd_append(int argc, char **argv)
{
	if (argc != 3)
		die("usage: append BASEDIR LIST TEXT");
	size_t n;
	char **v = read_list(argv[1], &n);
	const char *text = argv[2];
	size_t tl = strlen(text);
	int bfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		die("open %s: %s", argv[0], strerror(errno));
	double t0 = now_ms();
	for (size_t i = 0; i < n; i++) {
		int fd = openat(bfd, v[i], O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			die("open %s/%s: %s", argv[0], v[i], strerror(errno));
		if (write_all(fd, text, tl) < 0)
			die("append to %s/%s: %s", argv[0], v[i], strerror(errno));
		if (close(fd) < 0)
			die("close %s/%s: %s", argv[0], v[i], strerror(errno));
	}
	double t1 = now_ms();
	printf("%.3f\n", t1 - t0);
	return 0;
}

/* sizes BASEDIR LIST DELTA: LIST has "size<TAB>path"; counts the paths that
 * are not a regular file of size+DELTA bytes (names the first few on
 * stderr) and prints the count. */
static int cmd_sizes(int argc, char **argv)
{
	if (argc != 3)
		die("usage: sizes BASEDIR LIST DELTA");
	size_t n;
	char **v = read_list(argv[1], &n);
	long long delta = atoll(argv[2]);
	int bfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		die("open %s: %s", argv[0], strerror(errno));
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		char *tab = strchr(v[i], '\t');
		if (!tab)
			die("%s: line %zu has no tab", argv[1], i + 1);
		*tab = 0;
		long long want = atoll(v[i]) + delta;
		const char *p = tab + 1;
		struct stat st;
		if (fstatat(bfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (bad++ < 5)
				fprintf(stderr, "wbench: %s/%s: %s\n", argv[0], p, strerror(errno));
		} else if (!S_ISREG(st.st_mode) || st.st_size != want) {
			if (bad++ < 5)
				fprintf(stderr, "wbench: %s/%s: mode %o size %lld, expected a regular file of %lld bytes\n",
				        argv[0], p, (unsigned)st.st_mode, (long long)st.st_size, want);
		}
	}
	printf("%zu\n", bad);
	return 0;
}

/* truncate BASEDIR LIST: LIST has "size<TAB>path"; truncates each file
 * back to size bytes (undoes appends without freeing the inode). */
static int cmd_truncate(int argc, char **argv)
{
	if (argc != 2)
		die("usage: truncate BASEDIR LIST");
	size_t n;
	char **v = read_list(argv[1], &n);
	int bfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		die("open %s: %s", argv[0], strerror(errno));
	for (size_t i = 0; i < n; i++) {
		char *tab = strchr(v[i], '\t');
		if (!tab)
			die("%s: line %zu has no tab", argv[1], i + 1);
		*tab = 0;
		int fd = openat(bfd, tab + 1, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)atoll(v[i])) < 0)
			die("truncate %s/%s: %s", argv[0], tab + 1, strerror(errno));
		close(fd);
	}
	return 0;
}

/* run [-C DIR] [-o FILE] -- CMD [ARG...]: runs CMD in DIR (its stdout to
 * FILE, else /dev/null), prints its wall time in ms, exits with its status. */
static int cmd_run(int argc, char **argv)
{
	const char *dir = NULL, *out = "/dev/null";
	int i = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "-C") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			die("run: unknown argument %s", argv[i]);
	}
	if (i >= argc)
		die("usage: run [-C DIR] [-o FILE] -- CMD [ARG...]");
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0)
		die("%s: %s", out, strerror(errno));
	fflush(stdout);
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dir && chdir(dir) < 0) {
			fprintf(stderr, "wbench: chdir %s: %s\n", dir, strerror(errno));
			_exit(127);
		}
		dup2(ofd, 1);
		execvp(argv[i], argv + i);
		fprintf(stderr, "wbench: %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	double t1 = now_ms();
	printf("%.3f\n", t1 - t0);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "wbench: %s killed by signal %d\n", argv[i], WTERMSIG(st));
	return 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: wbench create|append|sizes|truncate|run ...");
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc - 2, argv + 2);
	if (!strcmp(argv[1], "append"))
		return cmd_append(argc - 2, argv + 2);
	if (!strcmp(argv[1], "sizes"))
		return cmd_sizes(argc - 2, argv + 2);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "truncate"))
		return cmd_truncate(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
	return 2;
}
CEOF
if [ ! -x "$HELPER" ] || ! cmp -s "$RUN/wbench.c" "$BUILD_DIR/bench-write/wbench.c"; then
  cp "$RUN/wbench.c" "$BUILD_DIR/bench-write/wbench.c"
  cc -O2 -std=c17 -Wall -o "$HELPER" "$BUILD_DIR/bench-write/wbench.c" 2>>"$LOGDIR/build.log" ||
    die "building the helper failed (log: $LOGDIR/build.log)"
fi

# -------------------------------------------------------------- helpers ----
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; MY_DROPS=$((MY_DROPS + 1)); }
# Page cache drops by other processes (another benchmark) disturb the runs:
# counted and reported.
MY_DROPS=0 DROP_BASE=$(awk '/^drop_pagecache/ {print $2}' /proc/vmstat)
foreign_drops() { echo $(( $(awk '/^drop_pagecache/ {print $2}' /proc/vmstat) - DROP_BASE - MY_DROPS )); }
# Reads completed on the disk under the work directory (/proc/diskstats):
# how much of a timed step waited for metadata from the disk.
DISK=$(basename "$(readlink -f "$(findmnt -no SOURCE -T "$WORK" 2>/dev/null)" 2>/dev/null)" 2>/dev/null || true)
grep -q " $DISK " /proc/diskstats 2>/dev/null || DISK=""
disk_reads() { [ -n "$DISK" ] && awk -v d="$DISK" '$3==d {print $4}' /proc/diskstats || echo 0; }
# sample STEP METRIC SETUP RUN VALUE UNIT
sample() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"; }
fail_note() { FAILURES+=("$*"); log "ERROR: $*"; echo "ERROR: $*" >>"$LOG"; }
# stats: values on stdin -> "n median min max"
stats() {
  sort -g | awk '{v[NR]=$1} END{ if (NR==0) { print "0 nan nan nan"; exit }
    n=NR; med=(n%2)? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2; printf "%d %.6g %.6g %.6g\n", n, med, v[1], v[n] }'
}
values() { awk -F'\t' -v st="$1" -v m="$2" -v s="$3" '$1==st && $2==m && $3==s {print $5}' "$SAMPLES"; }
summarize() { # STEP METRIC SETUP UNIT -> S_N S_MED S_MIN S_MAX (recorded once)
  read -r S_N S_MED S_MIN S_MAX < <(values "$1" "$2" "$3" | stats)
  grep -q "^$1"$'\t'"$2"$'\t'"$3"$'\t' "$SUMMARY" ||
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$S_N" "$S_MED" "$S_MIN" "$S_MAX" "$4" >>"$SUMMARY"
}
fmt() {
  awk -v x="$1" 'BEGIN{ if (x=="" || x=="nan" || x=="-") { printf "-"; exit }
    a=(x<0)?-x:x; if (a>=1000) printf "%.0f", x; else if (a>=100) printf "%.1f", x; else if (a>=10) printf "%.2f", x; else printf "%.3f", x }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan"||b=="nan"||a==""||b==""||b+0==0) print "nan"; else printf "%.4g", a/b }'; }
meets() { awk -v v="$1" -v l="$2" 'BEGIN{ if (v=="nan"||v=="") print "n/a"; else print (v+0 <= l+0) ? "yes" : "NO" }'; }

ctl_status() { "$CTL" --timeout 10 "$1" status 2>>"$LOG"; }

SETUPS=(native kovl fovl thawfs)
declare -A LABEL=([native]="native" [kovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [thawfs]="thawfs")

# ext4 does not reuse an inode freed in the last 60 s (6 min while its
# inode table block is still dirty): every new inode is found by scanning past the
# recently freed ones (recently_deleted() in find_inode_bit), so creating
# 10,000 files right after deleting 10,000 takes seconds instead of a tenth
# of one. Untimed clean-up therefore moves directories to $TRASH (a rename:
# no inode is freed), emptied at the end; the only mass deletion is the
# timed rm -rf of step 2, and the next step waits until it no longer counts.
TRASH=$RUN/trash TRASH_N=0
mkdir -p "$TRASH"
trash() {
  local d
  for d in "$@"; do
    [ -e "$d" ] || continue
    TRASH_N=$((TRASH_N + 1))
    mv "$d" "$TRASH/$TRASH_N.$(basename "$d")" 2>>"$LOG" || rm -rf --one-file-system "$d"
  done
}
settle_deletes() { # after mass deletions: sync, then wait out ext4's window
  sync
  log "waiting ${SETTLE_S} s: ext4 scans past inodes freed in the last 60 s on every create (the rm -rf of step 2 freed $((RUNS * ${#SETUPS[@]} * N_CREATE)))"
  sleep "$SETTLE_S"
}
fresh_dir() {
  if mountpoint -q "$1" 2>/dev/null; then die "$1 is still mounted"; fi
  rm -rf --one-file-system "$1"; mkdir -p "$1"
}
wait_mounted() { # MNT PID: until MNT is a mount point (10 s), or PID died
  local i
  for ((i = 0; i < 1000; i++)); do
    mountpoint -q "$1" && return 0
    alive "$2" || return 1
    sleep 0.01
  done
  return 1
}
wait_gone() { # PID: until it exited (30 s; then TERM, KILL)
  local i
  for ((i = 0; i < 3000; i++)); do alive "$1" || return 0; sleep 0.01; done
  fail_note "daemon $1 still alive 30 s after its unmount: killing it"
  ours "$1" && kill -TERM "$1" 2>/dev/null; sleep 1
  ours "$1" && kill -KILL "$1" 2>/dev/null; return 0
}

# mount_setup SETUP TAG [extra thawfs args...]: a fresh workspace (untimed).
# Sets M_DIR (workspace root), M_UP (where its writes land), M_PID (fuse
# daemon), M_SOCK (thawfs control socket).
mount_setup() {
  local s=$1 tag=$2; shift 2
  M_PID="" M_SOCK="" M_UP=""
  case "$s" in
    native) M_DIR=$NAT M_UP=$NAT; return 0 ;;
    kovl)
      M_DIR=$MNTS/$tag M_UP=$RUN/$tag-up
      fresh_dir "$M_DIR"; fresh_dir "$M_UP"; fresh_dir "$RUN/$tag-wk"
      mount -t overlay overlay -o "lowerdir=$CO,upperdir=$M_UP,workdir=$RUN/$tag-wk" "$M_DIR" 2>>"$LOG" || return 1 ;;
    fovl)
      M_DIR=$MNTS/$tag M_UP=$RUN/$tag-up
      fresh_dir "$M_DIR"; fresh_dir "$M_UP"; fresh_dir "$RUN/$tag-wk"
      # Foreground in the background: its pid is ours to wait for.
      fuse-overlayfs -f -o "lowerdir=$CO,upperdir=$M_UP,workdir=$RUN/$tag-wk" "$M_DIR" \
        </dev/null >>"$LOGDIR/fuse-overlayfs.log" 2>&1 9>&- &
      M_PID=$!
      DAEMONS+=("$M_PID")
      wait_mounted "$M_DIR" "$M_PID" || { fail_note "fuse-overlayfs did not mount ($tag)"; return 1; } ;;
    thawfs)
      M_DIR=$MNTS/$tag M_UP=$RUN/$tag-up M_SOCK=$SOCKDIR/$tag.sock
      fresh_dir "$M_DIR"; rm -rf "$M_UP" "$RUN/$tag-cache"; mkdir -p "$RUN/$tag-cache"; rm -f "$M_SOCK"
      "$THAWFS" --repo "${T_REPO:-$REPO}" --commit main --upper "$M_UP" --cache "$RUN/$tag-cache" \
        --control "$M_SOCK" --log "$LOGDIR/thawfs.log" "$@" "$M_DIR" </dev/null >>"$LOG" 2>&1 9>&- ||
        { fail_note "thawfs did not mount ($tag; log: $LOG)"; return 1; }
      local st
      st=$(ctl_status "$M_SOCK") || { fail_note "thawfs control socket did not answer ($tag)"; return 1; }
      M_PID=$(jq -r .pid <<<"$st")
      [[ "$M_PID" =~ ^[0-9]+$ ]] || { fail_note "thawfs status has no pid ($tag)"; M_PID=""; return 1; }
      DAEMONS+=("$M_PID") ;;
  esac
}
unmount_setup() { # SETUP TAG
  local s=$1 tag=$2
  case "$s" in
    native) return 0 ;;
    kovl) umount "$M_DIR" 2>>"$LOG" || { fail_note "umount $M_DIR failed; lazy"; umount -l "$M_DIR" || true; } ;;
    fovl|thawfs)
      if ! fusermount3 -u "$M_DIR" 2>>"$LOG"; then
        fail_note "fusermount3 -u $M_DIR ($s) failed; lazy unmount"
        fusermount3 -uz "$M_DIR" 2>>"$LOG" || true
      fi
      [ -z "$M_PID" ] || wait_gone "$M_PID"
      [ "$s" != fovl ] || [ -z "$M_PID" ] || wait "$M_PID" 2>/dev/null || true ;;
  esac
  trash "$RUN/$tag-up" "$RUN/$tag-wk" "$RUN/$tag-cache"
}
save_status() { # STEP RUN WHEN: a thawfs status snapshot for the JSON
  local st
  [ -n "$M_SOCK" ] || return 0
  st=$(ctl_status "$M_SOCK") || { fail_note "step $1 run $2: thawfs control socket did not answer"; return 0; }
  jq -c --arg step "$1" --argjson run "$2" --arg when "$3" \
    '{step:$step, run:$run, when:$when, gate, sync, counters, dotgit}' <<<"$st" >>"$STATUSES"
}
wait_dotgit() { # SOCK: until the workspace's .git is ready (60 s)
  local st i
  for ((i = 0; i < 3000; i++)); do
    st=$(ctl_status "$1" | jq -r .dotgit) || st=unknown
    [ "$st" = preparing ] || break
    sleep 0.02
  done
  [ "$st" = ready ] || { fail_note "thawfs .git state '$st' (expected ready)"; return 1; }
}

# Native checkout: put back the files a step changed, with an index written
# a second later (no racily-clean entries: git status reads no content).
restore_native() { # TSV (size<TAB>path): truncate the appended bytes away
  "$HELPER" truncate "$NAT" "$1" 2>>"$LOG" || fail_note "restoring the native checkout failed"
  fresh_index "$NAT"
  [ -z "$(git -C "$NAT" status --porcelain 2>>"$LOG")" ] || fail_note "native checkout not clean after a restore"
  NAT_DIRTY=0
}

# ------------------------------------------------------------ repository ----
# A C project committed on top of the generated history (step 6 builds it
# from the lower tree, as a workspace would): PROJ_UNITS files src/unit_NNN.c
# of three functions each, a shared header, main.c and a Makefile that puts
# objects in obj/. About 55 ms of gcc -O2 -g per file.
gen_project() { # DIR UNITS
  local dir=$1 units=$2
  mkdir -p "$dir/src" "$dir/include"
  awk -v units="$units" -v dir="$dir" '
  function out(f, s) { print s > f }
  BEGIN {
    h = dir "/include/bench.h"
    out(h, "/* generated by bench/write.sh: a C project for the make -j2 step */")
    out(h, "#ifndef BENCH_H\n#define BENCH_H\n#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n")
    out(h, "struct bench_rec { uint32_t key; double weight; char name[24]; };\n")
    out(h, "static inline uint32_t bench_mix(uint32_t x)\n{\n\tx ^= x >> 16;\n\tx *= 0x7feb352dU;\n\tx ^= x >> 15;\n\tx *= 0x846ca68bU;\n\tx ^= x >> 16;\n\treturn x;\n}\n")
    out(h, "static inline int bench_cmp(const void *a, const void *b)\n{\n\tconst struct bench_rec *x = a, *y = b;\n\treturn x->key < y->key ? -1 : x->key > y->key;\n}\n")
    for (i = 0; i < units; i++) out(h, sprintf("uint32_t unit_%03d(uint32_t seed);", i))
    out(h, "\n#endif")
    close(h)
    for (i = 0; i < units; i++) {
      f = sprintf("%s/src/unit_%03d.c", dir, i)
      out(f, sprintf("/* unit %d of %d, generated */\n#include \"bench.h\"\n", i, units))
      for (k = 0; k < 3; k++) {
        out(f, sprintf("static uint32_t step_%d_%d(struct bench_rec *r, size_t n, uint32_t s)\n{", i, k))
        out(f, "\tuint32_t h = s;")
        out(f, "\tfor (size_t j = 0; j < n; j++) {")
        out(f, sprintf("\t\tr[j].key = bench_mix(s + (uint32_t)j * %uU + %dU);", (i * 31 + k * 7) % 997 + 3, k))
        out(f, sprintf("\t\tr[j].weight = (double)(r[j].key %% %d) / %d.0;", 97 + k, 13 + i % 11))
        out(f, sprintf("\t\tsnprintf(r[j].name, sizeof(r[j].name), \"u%d-%d-%%zu\", j);", i, k))
        out(f, "\t}")
        out(f, "\tqsort(r, n, sizeof(*r), bench_cmp);")
        out(f, "\tfor (size_t j = 0; j < n; j++) {")
        out(f, "\t\tswitch ((r[j].key + j) % 5) {")
        out(f, "\t\tcase 0: h = bench_mix(h ^ r[j].key); break;")
        out(f, sprintf("\t\tcase 1: h += (uint32_t)(r[j].weight * %d.0); break;", 100 + k))
        out(f, sprintf("\t\tcase 2: h ^= (uint32_t)strlen(r[j].name) << %d; break;", k + 1))
        out(f, sprintf("\t\tcase 3: h = h * 33U + (uint32_t)r[j].name[%d]; break;", k % 3))
        out(f, "\t\tdefault: h = bench_mix(h + (uint32_t)j); break;")
        out(f, "\t\t}")
        out(f, "\t}")
        out(f, "\treturn h;\n}\n")
      }
      out(f, sprintf("uint32_t unit_%03d(uint32_t seed)\n{\n\tstruct bench_rec r[%d];\n\tuint32_t h = seed;", i, 16 + i % 17))
      for (k = 0; k < 3; k++) out(f, sprintf("\th = step_%d_%d(r, sizeof(r) / sizeof(r[0]), h);", i, k))
      out(f, "\treturn h;\n}")
      close(f)
    }
    m = dir "/main.c"
    out(m, "/* generated by bench/write.sh */\n#include \"bench.h\"\n\nint main(void)\n{\n\tuint32_t h = 1;")
    for (i = 0; i < units; i++) out(m, sprintf("\th = unit_%03d(h);", i))
    out(m, sprintf("\tprintf(\"bench-cproj: %d units, checksum %%08x\\n\", (unsigned)h);\n\treturn 0;\n}", units))
    close(m)
    mk = dir "/Makefile"
    out(mk, "# generated by bench/write.sh: make -j2 builds app from src/*.c")
    out(mk, "CC = cc\nCFLAGS = -O2 -g -Wall -Iinclude\nSRCS := $(sort $(wildcard src/*.c))\nOBJS := $(SRCS:src/%.c=obj/%.o) obj/main.o\n")
    out(mk, "app: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n")
    out(mk, "obj/%.o: src/%.c include/bench.h | obj\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
    out(mk, "obj/main.o: main.c include/bench.h | obj\n\t$(CC) $(CFLAGS) -c -o $@ main.c\n")
    out(mk, "obj:\n\tmkdir -p obj\n")
    out(mk, "clean:\n\trm -rf obj app\n\n.PHONY: clean")
    close(mk)
    gi = dir "/.gitignore"
    out(gi, "/obj/\n/app")
    close(gi)
  }'
}

fresh_index() { # CHECKOUT: an index written a second after the files
  sleep 1.1
  rm -f "$1/.git/index"
  git -C "$1" reset -q
}

prepare_repo() { # -> REPO CO NAT ORIGIN RDIR OLD TIP
  RDIR=$WORK/repos/n$FILES-s$SEED-p$PROJ_VERSION
  REPO=$RDIR/repo.git CO=$RDIR/lower NAT=$RDIR/native ORIGIN=$RDIR/origin.git
  if [ ! -f "$RDIR/.complete" ]; then
    log "generating a $FILES-file repository (seed $SEED) in $RDIR"
    rm -rf --one-file-system "$RDIR"; mkdir -p "$RDIR"
    local t0=$SECONDS
    "$GENREPO" --out "$REPO" --files "$FILES" --seed "$SEED" --bare --quiet 2>>"$LOG" || die "thaw-genrepo failed (log: $LOG)"
    log "generated in $((SECONDS - t0)) s; committing $PROJ/ ($PROJ_UNITS C files) on main"
    git clone -q "$REPO" "$RDIR/tmp" 2>>"$LOG"
    gen_project "$RDIR/tmp/$PROJ" "$PROJ_UNITS"
    git -C "$RDIR/tmp" add "$PROJ"
    GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" \
      git -C "$RDIR/tmp" commit -q -m "bench: $PROJ, $PROJ_UNITS C files for the make -j2 step"
    git -C "$RDIR/tmp" push -q origin HEAD:main 2>>"$LOG"
    rm -rf "$RDIR/tmp"
    log "checkouts: lower (the overlays' lowerdir, never written) and native"
    git clone -q "$REPO" "$CO" 2>>"$LOG"
    git clone -q "$REPO" "$NAT" 2>>"$LOG"
    fresh_index "$CO"; fresh_index "$NAT"
    log "origin for step 7: a bare clone advanced by $ADV_CHANGES changed files"
    git clone -q --bare "$REPO" "$ORIGIN" 2>>"$LOG"
    "$GENREPO" --advance "$ORIGIN" --commits 1 --changes "$ADV_CHANGES" --seed "$SEED" --quiet 2>>"$LOG" ||
      die "thaw-genrepo --advance failed (log: $LOG)"
    touch "$RDIR/.complete"
  else
    log "reusing $RDIR"
  fi
  OLD=$(git -C "$REPO" rev-parse main) TIP=$(git -C "$ORIGIN" rev-parse main)
  [ "$OLD" != "$TIP" ] || die "origin is not ahead of the repository"
  [ -z "$(git -C "$CO" status --porcelain)" ] || die "$CO is not clean: delete $RDIR to regenerate"
  if [ -n "$(git -C "$NAT" status --porcelain)" ]; then
    log "the native checkout has changes (an interrupted run): resetting it"
    restore_native_all; fresh_index "$NAT"
  fi
  [ -z "$(git -C "$NAT" status --porcelain)" ] || die "$NAT is not clean: delete $RDIR to regenerate"
}

# The file sets of steps 3 and 5: regular files of the tree under 1 MiB
# (the generator's few 2-8 MiB files would dominate a sample of 1,000),
# outside $PROJ and the .git* files, names of [A-Za-z0-9._/-] only (git
# quotes nothing in them); every k-th of
# them in path order. Step 5's set is disjoint from step 3's.
pick_files() {
  git -C "$REPO" ls-tree -r -l main | awk -F'\t' '{ split($1, a, " ")
      if ((a[1]=="100644" || a[1]=="100755") && a[4] < 1048576 && $2 ~ /^[A-Za-z0-9._\/-]+$/ && $2 !~ /(^|\/)\.git/ && $2 !~ /^'"$PROJ"'\//) print a[4] "\t" $2 }' >"$RUN/regular.tsv"
  local n; n=$(wc -l <"$RUN/regular.tsv")
  [ "$n" -ge $((N_COPYUP + N_EDITS)) ] || die "only $n candidate files in the tree"
  awk -v n="$n" -v k="$N_COPYUP" 'BEGIN{ step = n / k } { if (c < k && NR - 1 >= int(c * step)) { print; c++ } }' "$RUN/regular.tsv" >"$RUN/copyup.tsv"
  awk -F'\t' 'NR==FNR { used[$2]=1; next } !($2 in used)' "$RUN/copyup.tsv" "$RUN/regular.tsv" |
    awk -v k="$N_EDITS" '{ v[NR]=$0 } END{ step = NR / k; for (c = 0; c < k; c++) print v[int(c * step) + 1] }' >"$RUN/edits.tsv"
  cut -f2 "$RUN/copyup.tsv" >"$RUN/copyup.list"
  cut -f2 "$RUN/edits.tsv" >"$RUN/edits.list"
  [ "$(wc -l <"$RUN/copyup.list")" = "$N_COPYUP" ] && [ "$(wc -l <"$RUN/edits.list")" = "$N_EDITS" ] || die "picking the file sets failed"
  COPYUP_BYTES=$(awk -F'\t' '{s+=$1} END{print s+0}' "$RUN/copyup.tsv")
  EDIT_BYTES=$(awk -F'\t' '{s+=$1} END{print s+0}' "$RUN/edits.tsv")
}

# ------------------------------------------------------------ the steps ----
# Step 1: create + sync -f in a fresh workspace, which stays mounted for
# step 2 (each run and setup has its own; nothing is deleted in between).
# FUSE does not pass syncfs to the daemon (the kernel sends FUSE_SYNCFS to
# virtiofs only), so sync -f of a FUSE mount does not make the upper's data
# durable; the timed part also syncfs()es the upper directory's filesystem,
# for every setup (for native and overlayfs it then has little left to do).
declare -A K_DIR=() K_UP=() K_PID=() K_SOCK=()
step1_one() { # SETUP RUN
  local s=$1 i=$2 out cnt rd0
  local tag=w1-$s-$i
  mount_setup "$s" "$tag" || { fail_note "step 1 run $i: mounting $s failed"; unmount_logged "$MNTS"; return 1; }
  K_DIR[$s/$i]=$M_DIR K_UP[$s/$i]=$M_UP K_PID[$s/$i]=$M_PID K_SOCK[$s/$i]=$M_SOCK
  [ "$s" != native ] || NAT_DIRTY=1
  sync
  rd0=$(disk_reads)
  if out=$("$HELPER" create "$M_DIR/wbench.$i" "$N_CREATE_DIRS" $((N_CREATE / N_CREATE_DIRS)) "$CREATE_SIZE" "$M_DIR" "$M_UP" 2>>"$LOG"); then
    local total create syncms
    read -r total create syncms <<<"$out"
    sample 1 ms "$s" "$i" "$total" ms
    sample 1 disk_reads "$s" "$i" $(( $(disk_reads) - rd0 )) reads
    sample 1 create_ms "$s" "$i" "$create" ms
    sample 1 syncfs_ms "$s" "$i" "$syncms" ms
    R1=$total
    cnt=$(find "$M_DIR/wbench.$i" -type f -size "${CREATE_SIZE}c" 2>>"$LOG" | wc -l)
    [ "$cnt" = "$N_CREATE" ] || fail_note "step 1 run $i: $s shows $cnt files of $CREATE_SIZE bytes, expected $N_CREATE"
    if [ "$s" != native ]; then
      cnt=$(find "$M_UP/wbench.$i" -type f -size "${CREATE_SIZE}c" 2>/dev/null | wc -l)
      [ "$cnt" = "$N_CREATE" ] || fail_note "step 1 run $i: $s upper has $cnt of the $N_CREATE files"
    fi
    save_status 1 "$i" "after create + sync"
  else
    fail_note "step 1 run $i: creating the files on $s failed"
  fi
}
# Step 2: rm -rf of those files, in the same mount (after a sync).
step2_one() { # SETUP RUN
  local s=$1 i=$2 out cnt rd0
  local tag=w1-$s-$i
  M_DIR=${K_DIR[$s/$i]:-} M_UP=${K_UP[$s/$i]:-} M_PID=${K_PID[$s/$i]:-} M_SOCK=${K_SOCK[$s/$i]:-}
  [ -n "$M_DIR" ] || return 1
  if [ -d "$M_DIR/wbench.$i" ]; then
    sync
    rd0=$(disk_reads)
    if out=$("$HELPER" run -C "$M_DIR" -- rm -rf "wbench.$i" 2>>"$LOG"); then
      sample 2 ms "$s" "$i" "$out" ms
      sample 2 disk_reads "$s" "$i" $(( $(disk_reads) - rd0 )) reads
      R2=$out
      [ ! -e "$M_DIR/wbench.$i" ] || fail_note "step 2 run $i: wbench.$i still exists on $s after rm -rf"
      if [ "$s" != native ]; then  # (a whiteout or an empty directory may stay)
        cnt=$(find "$M_UP/wbench.$i" -type f 2>/dev/null | wc -l)
        [ "$cnt" = 0 ] || fail_note "step 2 run $i: the $s upper still has $cnt files under wbench.$i after rm -rf"
      fi
      save_status 2 "$i" "after rm -rf"
    else
      fail_note "step 2 run $i: rm -rf on $s failed"
    fi
  fi
  [ "$s" != native ] || { trash "$NAT/wbench.$i"; NAT_DIRTY=0; }
  unmount_setup "$s" "$tag"
}

# Step 3: append one byte to 1,000 lower files, caches dropped after the
# mount (thawfs: fresh hydration cache too). Checked: every size, 20 files'
# contents, and (not native) the copies in the upper directory.
step3_one() {
  local s=$1 i=$2 tag=w3 out bad p
  mount_setup "$s" "$tag" || { fail_note "step 3 run $i: mounting $s failed"; unmount_logged "$MNTS"; return 1; }
  [ "$s" != native ] || NAT_DIRTY=1
  drop_caches
  local rd0; rd0=$(disk_reads)
  if out=$("$HELPER" append "$M_DIR" "$RUN/copyup.list" x 2>>"$LOG"); then
    sample 3 ms "$s" "$i" "$out" ms
    sample 3 disk_reads "$s" "$i" $(( $(disk_reads) - rd0 )) reads
    R3=$out
    save_status 3 "$i" "after the appends"
    bad=$("$HELPER" sizes "$M_DIR" "$RUN/copyup.tsv" 1 2>>"$LOG") || bad=err
    [ "$bad" = 0 ] || fail_note "step 3 run $i: $bad of $N_COPYUP files on $s do not have their size + 1 (see $LOG)"
    if [ "$s" != native ]; then
      bad=$("$HELPER" sizes "$M_UP" "$RUN/copyup.tsv" 1 2>>"$LOG") || bad=err
      [ "$bad" = 0 ] || fail_note "step 3 run $i: $bad of $N_COPYUP copied-up files missing or wrong in the $s upper (see $LOG)"
    fi
    bad=0
    while IFS= read -r p; do
      cmp -s <(git -C "$REPO" cat-file blob "main:$p"; printf x) "$M_DIR/$p" || { bad=$((bad + 1)); echo "step 3 $s: content differs: $p" >>"$LOG"; }
    done < <(awk 'NR % 50 == 1' "$RUN/copyup.list")
    [ "$bad" = 0 ] || fail_note "step 3 run $i: $bad of 20 sampled files on $s have wrong content (see $LOG)"
  else
    fail_note "step 3 run $i: appending on $s failed (see $LOG)"
  fi
  unmount_setup "$s" "$tag"
  [ "$s" != native ] || restore_native "$RUN/copyup.tsv"
}

# Step 4: dd 1 GiB with conv=fsync (fsync reaches the daemon on FUSE).
step4_one() {
  local s=$1 i=$2 tag=w4 out sz
  mount_setup "$s" "$tag" || { fail_note "step 4 run $i: mounting $s failed"; unmount_logged "$MNTS"; return 1; }
  sync
  if out=$("$HELPER" run -C "$M_DIR" -- dd if=/dev/zero of=wbench.bin bs=1M count="$DD_MIB" conv=fsync status=none 2>>"$LOG"); then
    sample 4 ms "$s" "$i" "$out" ms
    sample 4 mib_s "$s" "$i" "$(awk -v m="$DD_MIB" -v t="$out" 'BEGIN{printf "%.1f", m / (t / 1000)}')" MiB/s
    R4=$out
    sz=$(stat -c %s "$M_DIR/wbench.bin" 2>>"$LOG") || sz=missing
    [ "$sz" = $((DD_MIB * 1048576)) ] || fail_note "step 4 run $i: the file on $s has $sz bytes"
    if [ "$s" != native ]; then
      sz=$(stat -c %s "$M_UP/wbench.bin" 2>/dev/null) || sz=missing
      [ "$sz" = $((DD_MIB * 1048576)) ] || fail_note "step 4 run $i: the $s upper's copy has $sz bytes"
    fi
    save_status 4 "$i" "after dd"
  else
    fail_note "step 4 run $i: dd on $s failed (see $LOG)"
  fi
  rm -f "$M_DIR/wbench.bin"
  unmount_setup "$s" "$tag"
}

# Step 5: untimed git status (the workspace as it is used: inodes known,
# overlays' index refreshed into the upper), a line appended to 100 tracked
# files, then the timed git status --porcelain; it must list exactly those.
step5_one() {
  local s=$1 i=$2 tag=w5 out n
  mount_setup "$s" "$tag" || { fail_note "step 5 run $i: mounting $s failed"; unmount_logged "$MNTS"; return 1; }
  [ "$s" != thawfs ] || wait_dotgit "$M_SOCK" || true
  if ! git -C "$M_DIR" status --porcelain >"$RUN/st0" 2>>"$LOG"; then
    fail_note "step 5 run $i: first git status on $s failed"
  elif [ -s "$RUN/st0" ]; then
    fail_note "step 5 run $i: the fresh $s workspace is not clean: $(wc -l <"$RUN/st0") paths, e.g. $(head -n1 "$RUN/st0")"
  fi
  [ "$s" != native ] || NAT_DIRTY=1
  if ! "$HELPER" append "$M_DIR" "$RUN/edits.list" $'edited by bench/write.sh\n' >/dev/null 2>>"$LOG"; then
    fail_note "step 5 run $i: editing on $s failed"
  elif out=$("$HELPER" run -C "$M_DIR" -o "$RUN/st1" -- git status --porcelain 2>>"$LOG"); then
    sample 5 ms "$s" "$i" "$out" ms
    R5=$out
    n=$(grep -c '^ M ' "$RUN/st1" || true)
    if [ "$n" != "$N_EDITS" ] || [ "$(wc -l <"$RUN/st1")" != "$N_EDITS" ] ||
       ! diff -q <(cut -c4- "$RUN/st1" | sort) <(sort "$RUN/edits.list") >/dev/null; then
      fail_note "step 5 run $i: git status on $s lists $(wc -l <"$RUN/st1") paths ($n modified), expected exactly the $N_EDITS edited files"
      cp "$RUN/st1" "$LOGDIR/step5-$s-run$i.txt"
    fi
    save_status 5 "$i" "after git status"
  else
    fail_note "step 5 run $i: git status on $s failed"
  fi
  unmount_setup "$s" "$tag"
  [ "$s" != native ] || restore_native "$RUN/edits.tsv"
}

# Step 6: make -j2 of $PROJ (sources in the lower tree, objects written in
# the workspace); the program must print what the native build printed.
step6_one() {
  local s=$1 i=$2 tag=w6 out got
  mount_setup "$s" "$tag" || { fail_note "step 6 run $i: mounting $s failed"; unmount_logged "$MNTS"; return 1; }
  [ "$s" != native ] || NAT_DIRTY=1
  sync
  if out=$("$HELPER" run -C "$M_DIR/$PROJ" -- make -j2 -s 2>>"$LOG"); then
    sample 6 ms "$s" "$i" "$out" ms
    R6=$out
    got=$("$M_DIR/$PROJ/app" 2>>"$LOG") || got="app failed"
    if [ -z "${PROJ_EXPECT:-}" ] && [ "$s" = native ] && [[ "$got" =~ ^bench-cproj:\ $PROJ_UNITS\ units,\ checksum\ [0-9a-f]{8}$ ]]; then
      PROJ_EXPECT=$got
    fi
    [ "$got" = "${PROJ_EXPECT:-}" ] || fail_note "step 6 run $i: the program built on $s printed '$got', expected '${PROJ_EXPECT:-?}'"
    save_status 6 "$i" "after make"
  else
    fail_note "step 6 run $i: make -j2 on $s failed (see $LOG)"
  fi
  if [ "$s" = native ]; then
    trash "$NAT/$PROJ/obj" "$NAT/$PROJ/app"
    [ -z "$(git -C "$NAT" status --porcelain --ignored -- "$PROJ")" ] || fail_note "step 6: native $PROJ not clean after the build"
    NAT_DIRTY=0
  fi
  unmount_setup "$s" "$tag"
}

# Step 7: a fresh bare clone of the repository (objects hard-linked) mounted
# at its main with --remote the origin 1,000 files ahead; the sync starts at
# mount. Variant b: the origin starts at the mounted commit, the whole tree
# is walked (every directory loaded, git status), the origin's main is moved
# to the same tip, and thawfs-ctl sync starts the sync.
wait_synced() { # SOCK TIP: until the gate is open at TIP (120 s) -> ST
  local i g="" c=""
  for ((i = 0; i < 6000; i++)); do
    ST=$(ctl_status "$1") || ST=""
    if [ -n "$ST" ]; then
      g=$(jq -r .gate.state <<<"$ST") c=$(jq -r .sync.synced_commit <<<"$ST")
      [ "$g" = open ] && [ "$c" = "$2" ] && return 0
    fi
    sleep 0.02
  done
  fail_note "thawfs did not reach an open gate at $2 within 120 s (gate $g, synced $c, last error $(jq -r .sync.last_error <<<"$ST" 2>/dev/null))"
  return 1
}
check_synced() { # STEP RUN: the workspace shows the tip
  local head p bad=0
  head=$(git -C "$M_DIR" rev-parse HEAD 2>>"$LOG") || head=err
  [ "$head" = "$TIP" ] || fail_note "step $1 run $2: HEAD in the workspace is $head, expected the tip $TIP"
  [ -z "$(git -C "$M_DIR" status --porcelain 2>>"$LOG")" ] || fail_note "step $1 run $2: git status after the sync is not clean"
  while IFS= read -r p; do
    cmp -s <(git -C "$ORIGIN" cat-file blob "$TIP:$p") "$M_DIR/$p" || { bad=$((bad + 1)); echo "step $1: differs after sync: $p" >>"$LOG"; }
  done <"$RUN/sync-changed.list"
  [ "$bad" = 0 ] || fail_note "step $1 run $2: $bad of $(wc -l <"$RUN/sync-changed.list") changed files differ from the tip (see $LOG)"
  while IFS= read -r p; do
    [ ! -e "$M_DIR/$p" ] || fail_note "step $1 run $2: $p was deleted at the tip but is still there"
  done <"$RUN/sync-deleted.list"
}
step7_one() { # VARIANT(a|b) RUN
  local v=$1 i=$2 tag=w7 step=7 ob
  [ "$v" = a ] || step=7b
  trash "$RUN/w7-repo.git" "$RUN/w7-origin.git"
  git clone -q --bare --local "$REPO" "$RUN/w7-repo.git" 2>>"$LOG" || { fail_note "step $step run $i: clone failed"; return 1; }
  ob=$ORIGIN
  if [ "$v" = b ]; then
    ob=$RUN/w7-origin.git
    git clone -q --bare --local "$ORIGIN" "$ob" 2>>"$LOG" && git -C "$ob" update-ref refs/heads/main "$OLD" ||
      { fail_note "step $step run $i: origin clone failed"; return 1; }
  fi
  T_REPO=$RUN/w7-repo.git
  mount_setup thawfs "$tag" --remote "$ob" --branch main || { T_REPO=""; fail_note "step $step run $i: mounting thawfs failed"; unmount_logged "$MNTS"; return 1; }
  T_REPO=""
  if [ "$v" = b ]; then
    wait_synced "$M_SOCK" "$OLD" || { unmount_setup thawfs "$tag"; return 1; }
    find "$M_DIR" >/dev/null 2>>"$LOG" || fail_note "step 7b run $i: find failed"
    wait_dotgit "$M_SOCK" || true
    git -C "$M_DIR" status --porcelain >/dev/null 2>>"$LOG" || fail_note "step 7b run $i: git status failed"
    git -C "$ob" update-ref refs/heads/main "$TIP"
    "$CTL" "$M_SOCK" sync >>"$LOG" 2>&1 || fail_note "step 7b run $i: thawfs-ctl sync failed"
  fi
  if wait_synced "$M_SOCK" "$TIP"; then
    local swap dur fetch changed rr wr
    read -r swap dur fetch changed rr wr < <(jq -r '.sync | "\(.swap_ms) \(.duration_ms) \(.fetch_ms) \(.changed) \(.reads_ready) \(.writes_ready)"' <<<"$ST")
    sample "$step" swap_ms thawfs "$i" "$swap" ms
    sample "$step" duration_ms thawfs "$i" "$dur" ms
    sample "$step" fetch_ms thawfs "$i" "$fetch" ms
    sample "$step" changed thawfs "$i" "$changed" paths
    [ "$v" = b ] || sample "$step" writes_after_reads_ms thawfs "$i" "$(awk -v a="$rr" -v b="$wr" 'BEGIN{print b - a}')" ms
    R7=$swap
    jq -c --arg step "$step" --argjson run "$i" '{step:$step, run:$run, when:"synced", gate, sync, counters, dotgit}' <<<"$ST" >>"$STATUSES"
    check_synced "$step" "$i"
  fi
  unmount_setup thawfs "$tag"
  trash "$RUN/w7-repo.git" "$RUN/w7-origin.git"
}

# ---------------------------------------------------------------- tables ----
declare -A STEP_NAME=(
  [1]="1. create+write 10,000 x 4 KiB, sync -f"
  [2]="2. rm -rf of those 10,000 files"
  [3]="3. copy-up: 1 byte to 1,000 lower files"
  [4]="4. dd 1 GiB bs=1M conv=fsync"
  [5]="5. git status after 100 edits"
  [6]="6. make -j2, $PROJ_UNITS C files"
  [7]="7. thawfs swap, tip 1,000 files ahead"
  [7b]="7b. same, whole tree loaded first"
)
declare -A LIMIT=([1]=1.5 [2]=3 [3]=2 [4]=1.5 [5]="" [6]=1.3 [7]=100 [7b]=100)
declare -A PEERS=([1]="0.49x / 3.45x" [2]="1.2x / 35x" [3]="4.3x / 4.9x" [4]="1.2x / 2.4x" [5]="" [6]="" [7]="" [7b]="")
SUMROWS=()
step_table() { # STEP: per-setup medians (ms) and ratios, recorded for the summary
  local st=$1 nat r lim met row s
  printf '\n%s (ms; %s runs; median [min-max], x native)\n' "${STEP_NAME[$st]}" "$RUNS"
  summarize "$st" ms native ms; nat=$S_MED
  declare -A MED=()
  for s in "${SETUPS[@]}"; do
    summarize "$st" ms "$s" ms
    MED[$s]=$S_MED
    r=$(ratio "$S_MED" "$nat")
    printf '  %-18s %10s  [%s-%s]  %sx\n' "${LABEL[$s]}" "$(fmt "$S_MED")" "$(fmt "$S_MIN")" "$(fmt "$S_MAX")" "$(fmt "$r")"
  done
  case $st in
    1) for s in "${SETUPS[@]}"; do
         summarize 1 create_ms "$s" ms; local c=$S_MED; summarize 1 syncfs_ms "$s" ms; local y=$S_MED
         summarize 1 disk_reads "$s" reads
         printf '  %-18s create+write %s ms, syncfs %s ms; disk reads meanwhile %.0f\n' "${LABEL[$s]}" "$(fmt "$c")" "$(fmt "$y")" "$S_MED"
       done ;;
    2|3) for s in "${SETUPS[@]}"; do
         summarize "$st" disk_reads "$s" reads
         printf '  %-18s disk reads meanwhile %.0f\n' "${LABEL[$s]}" "$S_MED"
       done ;;
    4) for s in "${SETUPS[@]}"; do summarize 4 mib_s "$s" MiB/s; printf '  %-18s %s MiB/s\n' "${LABEL[$s]}" "$(fmt "$S_MED")"; done ;;
  esac
  r=$(ratio "${MED[thawfs]}" "$nat")
  lim=${LIMIT[$st]}
  local tgt="none given"
  if [ -n "$lim" ]; then met=$(meets "$r" "$lim") tgt="<= ${lim}x"; else met="-"; fi
  row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$st" "${STEP_NAME[$st]}" "${MED[native]}" "${MED[kovl]}" "${MED[fovl]}" "${MED[thawfs]}" \
        "$(fmt "$r")x" "$tgt" "$met" "kovl $(fmt "$(ratio "${MED[kovl]}" "$nat")")x, fovl $(fmt "$(ratio "${MED[fovl]}" "$nat")")x")
  SUMROWS+=("$row")
  printf '  thawfs / native: %sx; target %s: %s%s\n' "$(fmt "$r")" "$tgt" "$met" \
    "${PEERS[$st]:+ (earlier here: kernel overlayfs / fuse-overlayfs ${PEERS[$st]})}"
}
step7_table() { # STEP
  local st=$1 n=$RUNS7
  printf '\n%s (thawfs only, %s runs; median [min-max])\n' "${STEP_NAME[$st]}" "$n"
  summarize "$st" swap_ms thawfs ms; local swap=$S_MED
  printf '  %-44s %10s ms  [%s-%s]\n' "swap (tree diff + swap + re-merge)" "$(fmt "$S_MED")" "$(fmt "$S_MIN")" "$(fmt "$S_MAX")"
  summarize "$st" fetch_ms thawfs ms
  printf '  %-44s %10s ms  [%s-%s]\n' "fetch" "$(fmt "$S_MED")" "$(fmt "$S_MIN")" "$(fmt "$S_MAX")"
  summarize "$st" duration_ms thawfs ms
  printf '  %-44s %10s ms  [%s-%s]\n' "whole sync (duration_ms)" "$(fmt "$S_MED")" "$(fmt "$S_MIN")" "$(fmt "$S_MAX")"
  if [ "$st" = 7 ]; then
    summarize "$st" writes_after_reads_ms thawfs ms
    printf '  %-44s %10s ms  [%s-%s]\n' "writes open after reads (from mount)" "$(fmt "$S_MED")" "$(fmt "$S_MIN")" "$(fmt "$S_MAX")"
  fi
  summarize "$st" changed thawfs paths
  printf '  %-44s %10s\n' "changed paths" "$(fmt "$S_MED")"
  local met; met=$(meets "$swap" "${LIMIT[$st]}")
  printf '  target swap <= %s ms: %s\n' "${LIMIT[$st]}" "$met"
  SUMROWS+=("$(printf '%s\t%s\t-\t-\t-\t%s\t-\t<= %s ms\t%s\t' "$st" "${STEP_NAME[$st]}" "$swap" "${LIMIT[$st]}" "$met")")
}

write_json() {
  local out=$RESULTS_DIR/write-$STAMP.json
  local tsv2json='split("\n") | map(select(length > 0) | split("\t"))'
  printf '%s\n' "${FAILURES[@]}" >"$RUN/failures.txt"
  printf '%s\n' "${SUMROWS[@]}" >"$RUN/sumrows.tsv"
  jq -n \
    --rawfile samples "$SAMPLES" --rawfile summary "$SUMMARY" --rawfile rows "$RUN/sumrows.tsv" \
    --rawfile failures "$RUN/failures.txt" --slurpfile statuses "$STATUSES" \
    --arg stamp "$STAMP" --argjson files "$FILES" --argjson runs "$RUNS" --argjson runs7 "$RUNS7" \
    --argjson seed "$SEED" --arg steps "$STEPS" --argjson elapsed "$((SECONDS - T_START))" \
    --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --arg load_start "$LOAD_START" \
    --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson foreign_drops "$(foreign_drops)" \
    --arg commit "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
    --argjson dirty "$(git -C "$ROOT" diff --quiet HEAD -- fs common 2>/dev/null && echo false || echo true)" \
    --arg git "$(git --version)" --arg fovl "$(fuse-overlayfs --version 2>/dev/null | awk '/^fuse-overlayfs/ {print $NF; exit}')" \
    --argjson copyup_bytes "${COPYUP_BYTES:-0}" --argjson edit_bytes "${EDIT_BYTES:-0}" \
    "def num: if . == \"nan\" or . == \"\" or . == \"-\" then null else tonumber end;
     {
      meta: {timestamp: \$stamp, files: \$files, runs: \$runs, runs_step7: \$runs7, seed: \$seed, steps: \$steps,
             elapsed_s: \$elapsed, kernel: \$kernel, cpus: \$cpus, loadavg_start: \$load_start, loadavg_end: \$load_end, foreign_page_cache_drops: \$foreign_drops,
             commit: \$commit, fs_dirty: \$dirty, git: \$git, fuse_overlayfs: \$fovl,
             workloads: {create_files: $N_CREATE, create_dirs: $N_CREATE_DIRS, create_size: $CREATE_SIZE,
                         copyup_files: $N_COPYUP, copyup_bytes: \$copyup_bytes, edits: $N_EDITS, edit_bytes: \$edit_bytes,
                         dd_mib: $DD_MIB, make_units: $PROJ_UNITS, advance_changes: $ADV_CHANGES}},
      samples: (\$samples | $tsv2json | map({step: .[0], metric: .[1], setup: .[2], run: (.[3]|tonumber),
                value: (.[4]|num), unit: .[5]})),
      summaries: (\$summary | $tsv2json | map({step: .[0], metric: .[1], setup: .[2], n: (.[3]|tonumber),
                median: (.[4]|num), min: (.[5]|num), max: (.[6]|num), unit: .[7]})),
      table: (\$rows | $tsv2json | map({step: .[0], name: .[1], native_ms: (.[2]|num), kovl_ms: (.[3]|num),
                fovl_ms: (.[4]|num), thawfs_ms: (.[5]|num), thawfs_ratio: .[6], target: .[7], met: .[8]})),
      thawfs_status: \$statuses,
      errors: (\$failures | split(\"\n\") | map(select(length > 0)))
     }" >"$out"
  JSON_DONE=1
  log "raw samples: $(rel "$out")"
}

# ------------------------------------------------------------------ main ----
prepare_repo
pick_files
NFILES=$(git -C "$REPO" ls-tree -r main | wc -l)
{
  echo "thawfs write benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r), $(df -PT "$WORK" | awk 'NR==2 {print $2}') work directory, load average at start $LOAD_START"
  echo "versions: $(git --version), fuse-overlayfs $(fuse-overlayfs --version 2>/dev/null | awk '/^fuse-overlayfs/ {print $NF; exit}'), thawfs $("$THAWFS" --version 2>/dev/null | awk '{print $2}') built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- fs common 2>/dev/null || echo ' with local changes in fs/')"
  echo "repository: $FILES generated files (seed $SEED) + $PROJ/ ($PROJ_UNITS C files): $NFILES entries at main"
  echo "setups: native = a checkout; kernel overlayfs and fuse-overlayfs = lowerdir another checkout, fresh upper and work dirs per run; thawfs = the bare repository at main, fresh --upper and --cache per run"
  echo "runs: $RUNS per step and setup (step 7: $RUNS7), setups taking turns in each run; copy-up set: $N_COPYUP files, $((COPYUP_BYTES / 1024)) KiB; edit set: $N_EDITS files"
} | tee "$RUN/header.txt"

run_step() { # STEP FUNC: RUNS runs x the four setups, interleaved
  local st=$1 fn=$2 i s line d0
  log "step ${STEP_NAME[$st]}: $RUNS runs x ${#SETUPS[@]} setups"
  for ((i = 1; i <= RUNS; i++)); do
    line=""
    for s in "${SETUPS[@]}"; do
      # shellcheck disable=SC2034  # read through ${!v} below
      R1=err R2=err R3=err R4=err R5=err R6=err
      d0=$(foreign_drops)
      "$fn" "$s" "$i" || true
      local v="R$st"
      line+=" $s=$(fmt "${!v}")"
      if [ "$(foreign_drops)" != "$d0" ]; then
        DISTURBED+=("step $st run $i $s")
        line+="(*)"
      fi
    done
    log "step $st run $i/$RUNS (ms):$line$([[ "$line" == *'(*)'* ]] && echo '  (*) another process dropped the page cache meanwhile')"
  done
}

if has_step 1 || has_step 2; then
  # A previous run's clean-up (its trash) freed many inodes: wait until ext4
  # no longer scans past them.
  last=$(cat "$WORK/.last-delete" 2>/dev/null || echo 0)
  wait_s=$(( last + SETTLE_S - $(date +%s) ))
  if [[ "$last" =~ ^[0-9]+$ ]] && [ "$wait_s" -gt 0 ] && [ "$wait_s" -le "$SETTLE_S" ]; then
    log "waiting $wait_s s: the previous run's clean-up freed many inodes (ext4 scans past them for 60 s)"
    sleep "$wait_s"
  fi
  run_step 1 step1_one
  run_step 2 step2_one
  step_table 1; step_table 2
  if has_step 3 || has_step 4 || has_step 5 || has_step 6 || has_step 7; then settle_deletes; fi
fi
if has_step 3; then run_step 3 step3_one; step_table 3; fi
if has_step 4; then run_step 4 step4_one; step_table 4; fi
if has_step 5; then run_step 5 step5_one; step_table 5; fi
if has_step 6; then run_step 6 step6_one; step_table 6; fi
if has_step 7; then
  git -C "$ORIGIN" diff --name-only --diff-filter=M "$OLD" "$TIP" | awk 'NR % 100 == 1' >"$RUN/sync-changed.list"
  git -C "$ORIGIN" diff --name-only --no-renames --diff-filter=D "$OLD" "$TIP" | head -n 5 >"$RUN/sync-deleted.list"
  for v in a b; do
    log "step 7$([ $v = b ] && echo b): $RUNS7 runs"
    for ((i = 1; i <= RUNS7; i++)); do
      R7=err
      step7_one "$v" "$i" || true
      log "step 7$([ $v = b ] && echo b) run $i/$RUNS7: swap $(fmt "$R7") ms"
    done
  done
  step7_table 7
  step7_table 7b
fi

printf '\n==== summary (medians, ms; ratio = thawfs / native) ====\n'
printf '%-40s %9s %9s %9s %9s %9s  %-10s %-5s %s\n' step native "k-ovl" "fuse-ovl" thawfs ratio target "met?" "peers x native"
for row in "${SUMROWS[@]}"; do
  IFS=$'\t' read -r _ name a b c d r t m p <<<"$row"
  printf '%-40s %9s %9s %9s %9s %9s  %-10s %-5s %s\n' "$name" "$(fmt "$a")" "$(fmt "$b")" "$(fmt "$c")" "$(fmt "$d")" "$r" "$t" "$m" "$p"
done
if [ ${#DISTURBED[@]} -gt 0 ]; then
  printf '\nmeasurements during which another process dropped the page cache (%d): %s\n' "${#DISTURBED[@]}" "$(IFS=,; echo "${DISTURBED[*]}" | sed 's/,/, /g')"
fi
if [ ${#FAILURES[@]} -gt 0 ]; then
  printf '\n==== errors during the run (%d) ====\n' "${#FAILURES[@]}"
  printf '%s\n' "${FAILURES[@]}"
fi
ELAPSED=$((SECONDS - T_START))
printf '\nload average at the start: %s, at the end: %s; page cache drops by other processes during the run: %s\n' \
  "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(foreign_drops)"
printf 'benchmark time: %dm%02ds\n' $((ELAPSED / 60)) $((ELAPSED % 60))
write_json
