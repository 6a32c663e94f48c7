#!/usr/bin/env bash
# Until the writable layer exists, every mutation answers EROFS and changes
# nothing.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 300 --seed 9 --bare)
mount_ws ws --repo "$repo" --commit main
W=$T/ws
f=cproject/main.c
before=$(sha1sum < "$W/$f")
try() { # DESCRIPTION CMD...
  local d=$1; shift
  if out=$("$@" 2>&1); then fail "$d succeeded"; fi
  echo "$out" | grep -q "Read-only file system" || fail "$d: '$out' is not EROFS"
}
try "create" touch "$W/newfile"
try "write" bash -c "echo x > '$W/$f'"
try "append" bash -c "echo x >> '$W/$f'"
try "truncate" truncate -s 0 "$W/$f"
try "unlink" rm -f "$W/$f"
try "mkdir" mkdir "$W/newdir"
try "rmdir" rmdir "$W/cproject"
try "rename" mv "$W/$f" "$W/cproject/x.c"
try "symlink" ln -s x "$W/newlink"
try "link" ln "$W/$f" "$W/hard"
try "chmod" chmod 600 "$W/$f"
try "utimens" touch -d 2001-01-01 "$W/$f"
try "setxattr" setfattr -n user.x -v 1 "$W/$f"
[ "$(sha1sum < "$W/$f")" = "$before" ] || fail "content changed"
[ "$(counter "$T/ws.sock" erofs)" -ge 10 ] || fail "erofs counter did not count"
unmount_ws ws
