# Helpers of the store layer tests (t0420-t0439); sourced after lib.sh.
MKLAYER=${MKLAYER:-$TOOLS/mklayer}
[ -x "$MKLAYER" ] || fail "mklayer not built at $MKLAYER"

# mklayer STORE SPECFILE [mklayer options...]: writes a layer, prints its id.
mklayer() {
  local store=$1 spec=$2; shift 2
  "$MKLAYER" --store "$store" "$@" "$spec"
}

# obj_path STORE CID: the object file of a content id.
obj_path() { echo "$1/objects/${2:0:2}/${2:2}"; }

# cid_of FILE: the content id (the git blob id) of a file's content.
cid_of() { git hash-object --no-filters "$1"; }

# xattr_get FILE NAME: the value of one xattr (fails when absent).
xattr_get() { getfattr --absolute-names --only-values -n "$2" "$1" 2>/dev/null; }

# follow_events NAME: subscribes to $T/NAME.sock, lines into $T/NAME.events.
follow_events() {
  "$THAWCTL" --follow "$T/$1.sock" subscribe > "$T/$1.events" 2>/dev/null &
  PIDS+=($!)
  wait_until 10 grep -q subscribed "$T/$1.events" || fail "$1: subscribe did not answer"
}
