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
# fz_object_ids: the ids of the objects in $STORE, one per line, sorted,
# loose (objects/XX/YYYY...) and packed (packs/*/objects.idx: 16-byte header,
# then 40-byte records starting with the 20-byte id; see snapshot/objpack.c)
fz_object_ids() {
  local f
  {
    find "$STORE/objects" -type f -printf '%h%f\n' 2>/dev/null | sed 's|.*/objects/||; s|/||'
    for f in "$STORE"/packs/*/objects.idx; do
      [ -f "$f" ] || continue
      od -An -v -t x1 -w40 -j16 "$f" | tr -d ' ' | awk 'length($0) == 80 {print substr($0, 1, 40)}'
    done
  } | LC_ALL=C sort -u
}
# fz_objects: the number of objects in $STORE
fz_objects() { fz_object_ids | wc -l; }
# fz_has_object HEX: the object is in $STORE (loose or packed)
fz_has_object() { fz_object_ids | grep -qx "$1"; }
# fz_damage_object HEX flip|cut: flips a byte in the middle of the object, or
# destroys its second half (a loose object is truncated; a packed one, whose
# frame sits between others, has that half zeroed)
fz_damage_object() {
  local h=$1 how=$2 loose="$STORE/objects/${1:0:2}/${1:2}" f rec off len
  if [ -f "$loose" ]; then
    chmod u+w "$loose"
    len=$(stat -c %s "$loose")
    case $how in
      flip) printf '\xff' | dd of="$loose" bs=1 seek=$((len / 2)) conv=notrunc status=none ;;
      cut) truncate -s $((len / 2)) "$loose" ;;
    esac
    return 0
  fi
  for f in "$STORE"/packs/*/objects.idx; do
    [ -f "$f" ] || continue
    rec=$(od -An -v -t x1 -w40 -j16 "$f" | tr -d ' ' | grep "^$h") || continue
    # offset and length: little-endian 8-byte integers after the id
    off=$(echo "$rec" | cut -c41-56 | sed 's/../& /g' | awk '{s=""; for (i=NF; i>0; i--) s=s $i; print s}')
    len=$(echo "$rec" | cut -c57-72 | sed 's/../& /g' | awk '{s=""; for (i=NF; i>0; i--) s=s $i; print s}')
    off=$((16#$off)); len=$((16#$len))
    chmod u+w "${f%.idx}.pack"
    case $how in
      flip) printf '\xff' | dd of="${f%.idx}.pack" bs=1 seek=$((off + len / 2)) conv=notrunc status=none ;;
      cut) head -c $((len - len / 2)) /dev/zero |
             dd of="${f%.idx}.pack" bs=1 seek=$((off + len / 2)) conv=notrunc status=none ;;
    esac
    return 0
  done
  return 1
}
# fz_meta ID FIELD: a metadata field of a layer, from its manifest
fz_meta() {
  "$THAWSNAP" inspect --store "$STORE" --json "$1" | jq -r ".$2"
}
