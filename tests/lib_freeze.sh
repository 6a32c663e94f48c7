# Helpers of the freeze and restore tests (t0440-t0459). Sourced after lib.sh.
: "${THAWSNAP:?THAWSNAP must point at thaw-snapshot (run through ctest)}"
STORE=${STORE:-$T/store}

# fz_freeze NAME [ARGS...]: freezes workspace NAME (control $T/NAME.sock) into
# $STORE; prints the one-line JSON answer.
fz_freeze() {
  local name=$1; shift
  "$THAWSNAP" freeze --store "$STORE" --control "$T/$name.sock" --json "$@"
}

# fz_restore ID NAME REPO [ARGS...]: restores layer ID at $T/NAME with upper
# $T/NAME.up, control $T/NAME.sock and log $T/NAME.log; records the mount.
fz_restore() {
  local id=$1 name=$2 repo=$3; shift 3
  mkdir -p "$T/$name"
  "$THAWSNAP" restore --store "$STORE" "$id" --repo "$repo" --upper "$T/$name.up" \
    --cache "${CACHE:-$T/cache}" --control "$T/$name.sock" --log "$T/$name.log" "$@" "$T/$name" >/dev/null
  MOUNTS+=("$T/$name")
  is_mounted "$T/$name" || fail "$name: not mounted after restore returned"
  local pid
  pid=$(ctl "$T/$name.sock" status | jq -r .pid)
  PIDS+=("$pid")
  echo "$pid" > "$T/$name.pid"
}

# fz_listing DIR [mtime]: one line per entry below DIR (not .git): path, type,
# mode, owner, group, size (not for directories), symlink target, then the
# content's sha256 for regular files and the user.* xattrs; with "mtime" the
# modification time too (nanoseconds).
fz_listing() {
  local dir=$1 fmt='%P\t%y\t%m\t%U\t%G\t%s\t%l'
  [ "${2:-}" = mtime ] && fmt="$fmt\t%T@"
  (
    cd "$dir"
    find . -path ./.git -prune -o ! -path . -printf "$fmt\n" |
      awk -F'\t' 'BEGIN{OFS="\t"} $2=="d"{$6="-"} {print}' | LC_ALL=C sort
    find . -path ./.git -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    find . -path ./.git -prune -o ! -path . -print0 | LC_ALL=C sort -z |
      xargs -0 -r getfattr -h -d -m '^user\.' --absolute-names 2>/dev/null | grep -v '^$' || true
  )
}

# fz_same A B [mtime]: the listings of A and B are equal (diff on failure).
fz_same() {
  local a=$1 b=$2
  fz_listing "$a" "${3:-}" > "$T/list.a"
  fz_listing "$b" "${3:-}" > "$T/list.b"
  if ! cmp -s "$T/list.a" "$T/list.b"; then
    diff "$T/list.a" "$T/list.b" | head -40 >&2
    return 1
  fi
}

# fz_layers: the number of layers in $STORE
fz_layers() { find "$STORE/layers" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l; }
# fz_objects: the number of objects in $STORE
fz_objects() { find "$STORE/objects" -type f 2>/dev/null | wc -l; }
# fz_meta ID FIELD: a metadata field of a layer, from its manifest
fz_meta() {
  "$THAWSNAP" inspect --store "$STORE" --json "$1" | jq -r ".$2"
}
