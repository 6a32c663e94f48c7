#!/usr/bin/env bash
# A mounted commit is exactly what `git archive REV` extracts: names,
# directories, contents, symlink targets, modes, submodules as empty
# directories; at two revisions, from a bare and from a non-bare repository.
. "$(dirname "$0")/lib.sh"
require_fuse

bare=$(gen bare.git --files 3000 --seed 7 --commits 4 --bare)
work=$(gen work --files 800 --seed 8 --commits 2)

check() { # NAME REPO REV
  local name=$1 repo=$2 rev=$3
  mkdir -p "$T/ref-$name"
  git -C "$repo" -c tar.umask=022 archive "$rev" | tar -x -C "$T/ref-$name"
  mount_ws "$name" --repo "$repo" --commit "$rev"
  diff <(tree_listing "$T/ref-$name") <(tree_listing "$T/$name") > "$T/$name.diff" ||
    { head -20 "$T/$name.diff" >&2; fail "$name: names, types, modes or link targets differ from git archive $rev"; }
  diff -r --no-dereference -x .git "$T/ref-$name" "$T/$name" > "$T/$name.cdiff" ||
    { head -20 "$T/$name.cdiff" >&2; fail "$name: contents differ from git archive $rev"; }
  [ -d "$T/$name/vendor/submod" ] && [ -z "$(ls -A "$T/$name/vendor/submod")" ] ||
    fail "$name: submodule is not an empty directory"
  local n
  n=$(find "$T/ref-$name" -type f | wc -l)
  [ "$n" -gt 100 ] || fail "$name: only $n files in the reference"
  log "$name: $n files identical to git archive $rev"
}

check head "$bare" main
check first "$bare" gen-1
check wt "$work" HEAD
# The two revisions really differ (the check above is not vacuous).
! diff -rq "$T/head" "$T/first" -x .git >/dev/null || fail "gen-1 and main show the same tree"

# Non-ASCII and awkward names reached through the mount.
[ -f "$T/head/docs/données/été.txt" ] || fail "non-ASCII path missing"
unmount_ws head; unmount_ws first; unmount_ws wt
