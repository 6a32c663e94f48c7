# Shared helpers of the integration tests (sourced). Each test gets a private
# work directory, a cleanup trap that unmounts its own mounts and kills only
# its own processes, and bounded waits on readiness conditions.
set -euo pipefail

: "${THAWFS:?THAWFS must point at the thawfs binary (run through ctest)}"
: "${THAWCTL:?THAWCTL must point at thawfs-ctl}"
: "${GENREPO:?GENREPO must point at thaw-genrepo}"
TOOLS=${TOOLS:-$(dirname "$THAWFS")/../tests/tools}

T=$(mktemp -d "${TMPDIR:-/tmp}/thaw-test.XXXXXX")
MOUNTS=()
PIDS=()
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
git config --global user.name "Thaw Test"
git config --global user.email "test@thaw.invalid"
git config --global init.defaultBranch main
git config --global safe.directory '*'

log() { printf '# %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

is_mounted() { grep -q " $1 fuse" /proc/mounts; }

cleanup() {
  local rc=$?
  set +e
  for m in "${MOUNTS[@]}"; do
    is_mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  # Sanitizer reports land in the mounts' logs.
  for l in "$T"/*.log; do
    [ -f "$l" ] || continue
    if [ $rc -ne 0 ] && [ -s "$l" ]; then
      echo "# log $(basename "$l"):" >&2; tail -20 "$l" | sed 's/^/#   /' >&2
    fi
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$l"; then
      echo "FAIL: sanitizer report in $(basename "$l"):" >&2
      sed -n '1,60p' "$l" >&2
      rc=1
    fi
  done
  [ -n "${KEEP_T:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

# FUSE is required. Outside CI a machine without it skips (77); in CI it fails.
require_fuse() {
  if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    if [ "${CI:-}" = true ]; then fail "/dev/fuse or fusermount3 missing (CI=true: not skipping)"; fi
    echo "SKIP: no FUSE on this machine" >&2
    exit 77
  fi
}

# wait_until SECONDS CMD...: polls CMD every 20 ms until it succeeds.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt "$end" ] || return 1
    sleep 0.02
  done
}

ctl() { "$THAWCTL" "$@"; }
counter() { ctl "$1" status | jq -r ".counters.$2"; }

# gen NAME ARGS...: a generated repository at $T/NAME
gen() {
  local name=$1; shift
  "$GENREPO" --out "$T/$name" --quiet "$@" >/dev/null
  echo "$T/$name"
}

# mount_ws NAME THAWFS-ARGS...: mounts at $T/NAME with control socket
# $T/NAME.sock and log $T/NAME.log; records the mount and the daemon's pid.
mount_ws() {
  local name=$1; shift
  mkdir -p "$T/$name"
  "$THAWFS" --cache "${CACHE:-$T/cache}" --control "$T/$name.sock" --log "$T/$name.log" "$@" "$T/$name"
  MOUNTS+=("$T/$name")
  is_mounted "$T/$name" || fail "$name: not mounted after thawfs returned"
  local pid
  pid=$(ctl "$T/$name.sock" status | jq -r .pid)
  PIDS+=("$pid")
  echo "$pid" > "$T/$name.pid"
}

unmount_ws() {
  local name=$1 pid
  pid=$(cat "$T/$name.pid")
  fusermount3 -u "$T/$name"
  wait_until 20 bash -c "! kill -0 $pid 2>/dev/null" || fail "$name: thawfs $pid did not exit after unmount"
}

# wait_dotgit NAME: the synthesized index is written
wait_dotgit() {
  wait_until 60 bash -c "[ \"\$('$THAWCTL' '$T/$1.sock' status | jq -r .dotgit)\" = ready ]" ||
    fail "$1: .git not ready"
}

# tree_listing DIR: one line per entry: path, type, mode, symlink target.
tree_listing() {
  (cd "$1" && find . -path ./.git -prune -o -printf '%P\t%y\t%m\t%l\n' | LC_ALL=C sort)
}
