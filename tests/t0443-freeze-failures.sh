#!/usr/bin/env bash
# Failures: a freeze into a full store (2 MiB tmpfs) fails with ENOSPC and
# leaves the workspace writable and unchanged, the store without a new layer,
# and gc cleans up; restore refuses a layer with a missing object (naming
# it) and mounts nothing; a corrupt or truncated object is EIO for that file
# only, with the object named in the log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_freeze.sh"
require_fuse

small=$T/small
mkdir -p "$small"
mount -t tmpfs -o size=2m tmpfs "$small" || fail "cannot mount a tmpfs for the full-disk case (needs root)"
trap 'rc=$?; umount -l "$small" 2>/dev/null; (exit $rc); cleanup' EXIT

repo=$(gen repo.git --files 200 --seed 4 --bare)
mount_ws ws --repo "$repo" --commit main --upper "$T/ws.up"
W=$T/ws
echo small > "$W/small.txt"
head -c 10M /dev/urandom > "$W/big.bin"
sum_before=$(sha256sum < "$W/big.bin")

# --- disk full during the freeze ---
STORE=$small/store
if out=$(fz_freeze ws 2> "$T/freeze.err"); then fail "freeze into a 2 MiB store succeeded: $out"; fi
grep -qi "no space left" "$T/freeze.err" || fail "freeze error does not say ENOSPC: $(cat "$T/freeze.err")"
[ "$(wc -l < "$T/freeze.err")" = 1 ] || fail "freeze error is not one line: $(cat "$T/freeze.err")"
[ "$(ctl "$T/ws.sock" status | jq -r .gate.state)" = open ] || fail "gate not reopened after a failed freeze"
echo still > "$W/after.txt" || fail "workspace not writable after a failed freeze"
[ "$(sha256sum < "$W/big.bin")" = "$sum_before" ] || fail "failed freeze changed the workspace"
[ "$(fz_layers)" = 0 ] || fail "failed freeze left a layer"
"$THAWSNAP" gc --store "$STORE" --grace 0 >/dev/null || fail "gc after a failed freeze failed"
[ -z "$(find "$STORE/tmp" -mindepth 1 2>/dev/null)" ] || fail "temporaries left after gc: $(ls "$STORE/tmp")"
[ "$(fz_objects)" = 0 ] || fail "unreferenced objects left after gc"
rm "$W/after.txt"

# The same workspace freezes fine into a store with room.
STORE=$T/store
out=$(fz_freeze ws) || fail "freeze into a roomy store failed after the ENOSPC one"
id=$(jq -r .id <<<"$out")

# --- missing, corrupt and truncated objects ---
# a and b (small) go into the freeze's pack, c (over 4 MiB) is a loose object.
mkdir -p "$W/obj"
for f in a b; do head -c 50000 /dev/urandom > "$W/obj/$f"; done
head -c $((5 << 20)) /dev/urandom > "$W/obj/c"
out=$(fz_freeze ws) || fail "freeze with obj/ failed"
id=$(jq -r .id <<<"$out")
ha=$(git hash-object "$W/obj/a"); hb=$(git hash-object "$W/obj/b"); hc=$(git hash-object "$W/obj/c")
for h in "$ha" "$hb" "$hc"; do fz_has_object "$h" || fail "object $h not in the store under its git blob id"; done
pc="$STORE/objects/${hc:0:2}/${hc:2}"
[ -f "$pc" ] || fail "the large object is not a loose object"
for h in "$ha" "$hb"; do [ ! -f "$STORE/objects/${h:0:2}/${h:2}" ] || fail "small object $h is loose, not packed"; done

mv "$pc" "$T/c.obj"
mkdir -p "$T/r"
if "$THAWSNAP" restore --store "$STORE" "$id" --repo "$repo" --upper "$T/r.up" --cache "$T/cache" \
     "$T/r" 2> "$T/restore.err"; then
  MOUNTS+=("$T/r"); fail "restore with a missing object succeeded"
fi
grep -q "$hc" "$T/restore.err" || fail "restore error does not name the missing object: $(cat "$T/restore.err")"
! is_mounted "$T/r" || fail "a refused restore mounted something"
[ ! -e "$T/r.up" ] || fail "a refused restore created the upper"
mv "$T/c.obj" "$pc"

# Unknown layer id.
if "$THAWSNAP" restore --store "$STORE" 0123456789abcdef0123456789abcdef01234567 --repo "$repo" \
     --upper "$T/r.up" "$T/r" 2> "$T/restore.err"; then fail "restore of an unknown id succeeded"; fi
[ -s "$T/restore.err" ] || fail "no message for an unknown id"

# A repository without the snapshot's synced commit.
other=$(gen other.git --files 50 --seed 99 --bare)
if "$THAWSNAP" restore --store "$STORE" "$id" --repo "$other" --upper "$T/r.up" "$T/r" 2> "$T/restore.err"; then
  fail "restore against a repository without the commit succeeded"
fi
grep -q "commit $(git -C "$repo" rev-parse main)" "$T/restore.err" || fail "missing commit not named: $(cat "$T/restore.err")"
! is_mounted "$T/r" || fail "a refused restore mounted something"

# Non-empty upper.
mkdir -p "$T/busy.up"; touch "$T/busy.up/x"
if "$THAWSNAP" restore --store "$STORE" "$id" --repo "$repo" --upper "$T/busy.up" "$T/r" 2> "$T/restore.err"; then
  fail "restore into a non-empty upper succeeded"
fi
grep -q "not empty" "$T/restore.err" || fail "non-empty upper: $(cat "$T/restore.err")"

# Corrupt a (a flipped byte) and truncate b: restore mounts (objects exist),
# each of them is EIO, c reads fine, the log names the objects.
fz_damage_object "$ha" flip || fail "cannot find object a"
fz_damage_object "$hb" cut || fail "cannot find object b"
fz_restore "$id" r "$repo"
cmp -s "$W/obj/c" "$T/r/obj/c" || fail "intact object c does not read back"
if cat "$T/r/obj/a" > /dev/null 2> "$T/cat.err"; then fail "corrupt object served as data"; fi
grep -q "Input/output error" "$T/cat.err" || fail "corrupt object: not EIO: $(cat "$T/cat.err")"
if cat "$T/r/obj/b" > /dev/null 2> "$T/cat.err"; then fail "truncated object served as data"; fi
grep -q "Input/output error" "$T/cat.err" || fail "truncated object: not EIO: $(cat "$T/cat.err")"
wait_until 10 grep -q "$ha" "$T/r.log" || fail "the log does not name the corrupt object $ha"
cmp -s "$W/small.txt" "$T/r/small.txt" || fail "other files of the restored workspace are affected"
unmount_ws r
unmount_ws ws

# A workspace over a plain directory layer cannot become a chain, and a
# read-only one has nothing to freeze: clear errors, nothing parked.
mkdir -p "$T/dirlayer"; echo l > "$T/dirlayer/l.txt"
mount_ws wd --repo "$repo" --commit main --layer "$T/dirlayer" --upper "$T/wd.up"
echo x > "$T/wd/x.txt"
if fz_freeze wd > /dev/null 2> "$T/freeze.err"; then fail "freeze over a plain directory layer succeeded"; fi
grep -q "plain directory layer" "$T/freeze.err" || fail "plain layer: $(cat "$T/freeze.err")"
[ "$(ctl "$T/wd.sock" status | jq -r .gate.state)" = open ] || fail "gate not open after a refused freeze"
unmount_ws wd
mount_ws ro --repo "$repo" --commit main
if fz_freeze ro > /dev/null 2> "$T/freeze.err"; then fail "freeze of a read-only workspace succeeded"; fi
grep -q "read-only" "$T/freeze.err" || fail "read-only: $(cat "$T/freeze.err")"
unmount_ws ro
# No control socket at all.
if "$THAWSNAP" freeze --store "$STORE" --control "$T/nothing.sock" 2> "$T/freeze.err"; then fail "freeze without a socket"; fi
grep -q "cannot connect" "$T/freeze.err" || fail "missing socket: $(cat "$T/freeze.err")"
