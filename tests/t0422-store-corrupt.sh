#!/usr/bin/env bash
# A corrupt, truncated or missing store object fails only its own file with
# EIO (logged once, an error event on the control socket naming the object
# and the path); every other file keeps working; no bad data in the cache.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_fsstore.sh"
require_fuse

repo=$(gen repo.git --files 200 --seed 9 --bare)
S=$T/store
for f in flip trunc gone good; do head -c 100000 /dev/urandom > "$T/$f.bin"; done
printf 'small flip %s\n' "$RANDOM$RANDOM" > "$T/sflip.txt"
printf 'small gone %s\n' "$RANDOM$RANDOM" > "$T/sgone.txt"
{
  for f in flip trunc gone good; do echo "reg $f.bin file=$T/$f.bin"; done
  echo "reg sflip.txt file=$T/sflip.txt"
  echo "reg sgone.txt file=$T/sgone.txt"
} > "$T/l.spec"
L=$(mklayer "$S" "$T/l.spec")

flip() { # flips one byte in the middle of a file
  local p=$1 size
  size=$(stat -c %s "$p")
  chmod u+w "$p"
  python3 - "$p" "$((size / 2))" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x55]))
PY
}
flip "$(obj_path "$S" "$(cid_of "$T/flip.bin")")"
flip "$(obj_path "$S" "$(cid_of "$T/sflip.txt")")"
p=$(obj_path "$S" "$(cid_of "$T/trunc.bin")"); chmod u+w "$p"; truncate -s $(( $(stat -c %s "$p") / 2 )) "$p"
rm -f "$(obj_path "$S" "$(cid_of "$T/gone.bin")")" "$(obj_path "$S" "$(cid_of "$T/sgone.txt")")"

mount_ws ws --repo "$repo" --commit main --store "$S" --layer "$L"
W=$T/ws
follow_events ws
for f in flip.bin trunc.bin gone.bin sflip.txt sgone.txt; do
  [ -e "$W/$f" ] || fail "$f not listed"
  if cat "$W/$f" > /dev/null 2> "$T/cat.err"; then fail "reading corrupt $f succeeded"; fi
  grep -q "Input/output error" "$T/cat.err" || fail "$f: $(cat "$T/cat.err")"
  if cat "$W/$f" > /dev/null 2>&1; then fail "second read of $f succeeded"; fi
done
cmp "$W/good.bin" "$T/good.bin" || fail "a good file is affected"
gf=$(git -C "$repo" ls-tree -r --name-only main | sed -n 1p)
cmp "$W/$gf" <(git -C "$repo" cat-file blob "main:$gf") || fail "a git file is affected"
for f in flip.bin trunc.bin gone.bin sflip.txt sgone.txt; do
  cid=$(cid_of "$T/$f")
  wait_until 10 grep -q "\"path\":\"$f\"" "$T/ws.events" || { cat "$T/ws.events" >&2; fail "no error event for $f"; }
  ev=$(grep "\"path\":\"$f\"" "$T/ws.events")
  [ "$(echo "$ev" | wc -l)" = 1 ] || fail "$f: more than one event"
  [ "$(echo "$ev" | jq -r '.event + "/" + .kind + "/" + .object')" = "error/object/$cid" ] || fail "event for $f: $ev"
  [ -n "$(echo "$ev" | jq -r .error)" ] || fail "event for $f has no error message"
  [ "$(grep -c "$f" "$T/ws.log")" = 1 ] || { cat "$T/ws.log" >&2; fail "EIO of $f not logged exactly once"; }
done
grep "gone.bin" "$T/ws.events" | jq -r .error | grep -qi missing || fail "missing object not called missing: $(grep gone.bin "$T/ws.events")"
[ "$(counter "$T/ws.sock" io_errors)" -ge 5 ] || fail "io_errors counter"
# nothing corrupt was left in the hydration cache under the object's id
for f in flip.bin trunc.bin; do
  cid=$(cid_of "$T/$f")
  [ ! -e "$T/cache/blobs/${cid:0:2}/${cid:2}" ] || fail "a corrupt object reached the cache"
done
unmount_ws ws
