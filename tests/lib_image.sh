# shellcheck shell=bash
# Helpers of the image build tests (t0460-t0469), sourced after lib.sh.
: "${THAWIMAGE:?THAWIMAGE must point at thaw-image (run through ctest)}"
: "${THAWSNAP:?THAWSNAP must point at thaw-snapshot (run through ctest)}"
[ -x "$THAWIMAGE" ] || fail "thaw-image not built: $THAWIMAGE"
[ -x "$THAWSNAP" ] || fail "thaw-snapshot not built: $THAWSNAP"
command -v bwrap >/dev/null || fail "bubblewrap (bwrap) is not installed"
command -v sqlite3 >/dev/null || fail "the sqlite3 command is not installed"

STORE=$T/store
CACHE=$T/cache
export DEEP=src/core/engine/detail/impl/deep_file.c  # the generator's file five directories deep

# image_repos [GENREPO-ARGS...]: $ORIGIN (bare, the remote that advances)
# and $MIRROR (a bare clone of it, the repository the builds mount).
image_repos() {
  ORIGIN=$(gen origin.git --bare --files 400 "$@")
  MIRROR=$T/mirror.git
  git clone -q --bare "$ORIGIN" "$MIRROR"
}

# build ARGS...: thaw-image build on $MIRROR syncing from $ORIGIN; the build
# log goes to $T/build-N.log (checked for sanitizer reports by lib.sh).
# $(build ...) runs in a subshell: the build count is kept in a file, and
# last_log names the log of the latest build.
build() {
  local n
  n=$(( $(cat "$T/.builds" 2>/dev/null || echo 0) + 1 ))
  echo "$n" >"$T/.builds"
  mkdir -p "$T/work"
  LC_ALL=C "$THAWIMAGE" build --store "$STORE" --repo "$MIRROR" --remote "$ORIGIN" --branch main --name demo \
    --cache "$CACHE" --workdir "$T/work" --log "$T/build-$n.log" "$@"
}
last_log() { echo "$T/build-$(cat "$T/.builds").log"; }

# Image layers of the store.
layer_count() { find "$STORE/layers" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l; }
# The paths a layer's manifest holds, sorted.
layer_paths() { sqlite3 "file:$STORE/layers/$1/manifest.db?mode=ro" 'SELECT path FROM entries ORDER BY path'; }
current() { "$THAWIMAGE" current --store "$STORE" --repo demo; }

# restore_ws NAME ID: mounts image ID at $T/NAME (fresh upper $T/NAME.upper)
restore_ws() {
  mkdir -p "$T/$1"
  "$THAWSNAP" restore --store "$STORE" "$2" --repo "$MIRROR" --upper "$T/$1.upper" --cache "$CACHE" "$T/$1" \
    2>"$T/$1.restore.err" || { cat "$T/$1.restore.err" >&2; fail "restore of $2 failed"; }
  MOUNTS+=("$T/$1")
  is_mounted "$T/$1" || fail "$1: not mounted after restore"
}

# No mount of this test's scratch directories is left.
no_scratch_mounts() {
  ! grep -q " $T/work" /proc/mounts || fail "a build mount is left: $(grep " $T/work" /proc/mounts)"
  [ -z "$(ls -A "$T/work" 2>/dev/null)" ] || fail "scratch left in $T/work: $(ls -A "$T/work")"
}
