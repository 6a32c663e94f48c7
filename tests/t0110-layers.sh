#!/usr/bin/env bash
# --layer: overlay semantics with OCI whiteouts and opaque directories; the
# first layer given is topmost.
. "$(dirname "$0")/lib.sh"
require_fuse

repo=$(gen repo.git --files 600 --seed 3 --bare)
ref=$T/ref; mkdir -p "$ref"
git -C "$repo" archive main | tar -x -C "$ref"

# Pick real paths of the tree.
file_a=$(cd "$ref" && find src -type f | LC_ALL=C sort | sed -n 1p)      # hidden by a whiteout
dir_b=$(cd "$ref" && find . -mindepth 2 -type d -path './lib/*' | LC_ALL=C sort | sed -n 1p); dir_b=${dir_b#./}
file_c=$(cd "$ref" && find docs -type f | LC_ALL=C sort | sed -n 1p)     # replaced by a directory
file_d=$(cd "$ref" && find tests -type f | LC_ALL=C sort | sed -n 1p)    # content replaced
[ -n "$file_a" ] && [ -n "$dir_b" ] && [ -n "$file_c" ] && [ -n "$file_d" ] || fail "generated tree lacks the paths this test needs"

top=$T/top; low=$T/low
mkdir -p "$top" "$low"
# lower layer: replaces file_d's content, adds a file, and a file hidden again by top
mkdir -p "$low/$(dirname "$file_d")" "$low/extra"
echo "from low" > "$low/$file_d"
echo "low only" > "$low/extra/low.txt"
echo "hidden by top" > "$low/extra/gone.txt"
# top layer
mkdir -p "$top/$(dirname "$file_a")" "$top/$dir_b" "$top/$file_c" "$top/extra"
touch "$top/$(dirname "$file_a")/.wh.$(basename "$file_a")"
touch "$top/$dir_b/.wh..wh..opq"
echo "only file of the opaque dir" > "$top/$dir_b/new.txt"
echo "inside the replacing dir" > "$top/$file_c/inner.txt"
touch "$top/extra/.wh.gone.txt"

mount_ws ws --repo "$repo" --commit main --layer "$top" --layer "$low"
W=$T/ws
[ ! -e "$W/$file_a" ] || fail "whiteout: $file_a still visible"
ls "$W/$(dirname "$file_a")" | grep -qx "$(basename "$file_a")" && fail "whiteout: $file_a listed"
[ "$(ls -A "$W/$dir_b")" = "new.txt" ] || fail "opaque dir $dir_b shows: $(ls -A "$W/$dir_b" | head -3 | tr '\n' ' ')"
[ -d "$W/$file_c" ] && [ "$(cat "$W/$file_c/inner.txt")" = "inside the replacing dir" ] || fail "file replaced by a directory"
[ "$(cat "$W/$file_d")" = "from low" ] || fail "lower layer file does not hide the git file"
[ "$(cat "$W/extra/low.txt")" = "low only" ] || fail "lower layer file missing"
[ ! -e "$W/extra/gone.txt" ] || fail "top whiteout does not hide the lower layer's file"
ls -A "$W/extra" | grep -q '^\.wh\.' && fail "whiteout files are visible"
# Untouched paths still come from git.
other=$(cd "$ref" && find cproject -type f | sed -n 1p)
cmp "$ref/$other" "$W/$other" || fail "untouched git file differs"
# git sees what the layers did.
wait_dotgit ws
st=$(cd "$W" && git status --porcelain)
echo "$st" | grep -q "^ D $file_a\$" || fail "git status does not report the whited-out file: $st"
echo "$st" | grep -q "^ M $file_d\$" || fail "git status does not report the layer's change: $st"
unmount_ws ws
