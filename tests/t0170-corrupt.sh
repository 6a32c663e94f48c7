#!/usr/bin/env bash
# A corrupt or missing object fails only its own file with EIO, logged once
# with its path and object id; every other file keeps working.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 400 --seed 41 --bare --loose)
bad=cproject/util.c
gone=cproject/main.c
bad_id=$(git -C "$repo" rev-parse "main:$bad")
gone_id=$(git -C "$repo" rev-parse "main:$gone")
obj() { echo "$repo/objects/${1:0:2}/${1:2}"; }
[ -f "$(obj "$bad_id")" ] || fail "expected a loose object"
chmod u+w "$(obj "$bad_id")"
printf 'garbage that is not zlib' > "$(obj "$bad_id")"
rm -f "$(obj "$gone_id")"

mount_ws ws --repo "$repo" --commit main --inline-max 0
W=$T/ws
for f in "$bad" "$gone"; do
  if cat "$W/$f" > /dev/null 2> "$T/cat.err"; then fail "reading $f succeeded"; fi
  grep -q "Input/output error" "$T/cat.err" || fail "$f: $(cat "$T/cat.err")"
  cat "$W/$f" > /dev/null 2>&1 && fail "second read of $f succeeded"
done
cmp "$W/cproject/util.h" <(git -C "$repo" cat-file blob main:cproject/util.h) || fail "a good file is affected"
cmp "$W/cproject/Makefile" <(git -C "$repo" cat-file blob main:cproject/Makefile) || fail "a good file is affected"
[ "$(grep -c "$bad" "$T/ws.log")" = 1 ] || { cat "$T/ws.log" >&2; fail "EIO for $bad not logged exactly once"; }
grep -q "$bad_id" "$T/ws.log" || fail "log does not name the object id $bad_id"
grep "$gone" "$T/ws.log" | grep -q "$gone_id" || fail "log does not name $gone and $gone_id"
[ "$(counter "$T/ws.sock" io_errors)" -ge 2 ] || fail "io_errors counter"
unmount_ws ws
