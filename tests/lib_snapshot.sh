# Helpers of the snapshot store tests (t0400-t0419); source after lib.sh.
: "${THAWSNAP:?THAWSNAP must point at thaw-snapshot (run through ctest)}"
SNAPWRITE=${SNAPWRITE:-$TOOLS/snapwrite}
[ -x "$SNAPWRITE" ] || fail "snapwrite test tool missing at $SNAPWRITE (build the snapwrite target)"

# snap ARGS...: thaw-snapshot with the test's store
snap() { "$THAWSNAP" "$@"; }

# snapwrite_layer TREE ARGS...: writes a layer from TREE into $STORE, prints its id
snapwrite_layer() {
  local tree=$1; shift
  "$SNAPWRITE" --store "$STORE" "$@" "$tree"
}

# count_objects: number of object files in $STORE
count_objects() { find "$STORE/objects" -type f | wc -l; }

# object_path HEX: the file of an object
object_path() { echo "$STORE/objects/${1:0:2}/${1:2}"; }

# expect_exit CODE CMD...: runs CMD, fails unless it exits with CODE; its
# stderr is kept in $T/err
expect_exit() {
  local want=$1; shift
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$T/err" >&2; fail "'$*' exited $rc, expected $want"; }
}
