#!/usr/bin/env bash
# The main job on an embedded default: generate a demo repository in a local
# state directory (.thaw-demo/), mount its newest commit with thawfs, read a
# file five directories deep, print the time to first read, unmount.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=$(bash scripts/build.sh release)
state=${THAW_STATE:-.thaw-demo}
files=${THAW_DEMO_FILES:-20000}
mkdir -p "$state"
repo="$state/repo-$files.git"
if [ ! -d "$repo" ]; then
  echo "demo: generating a $files-file repository in $repo" >&2
  "$dir/tests/genrepo/thaw-genrepo" --out "$repo" --files "$files" --seed 1 --bare --quiet
fi
mnt="$state/mnt"
mkdir -p "$mnt"
if grep -q " $(realpath "$mnt") fuse" /proc/mounts; then fusermount3 -u "$mnt"; fi
rm -rf "$state/cache"
deep=src/core/engine/detail/impl/deep_file.c
"$dir/bench/ttfr" --setup "$dir/fs/thawfs --repo $repo --commit main --cache $state/cache --control $state/ctl.sock $mnt" \
  --read "$mnt/$deep" --label "thawfs mount + first read (cold cache)"
echo "demo: workspace at $mnt (git status follows)" >&2
(cd "$mnt" && git status --short --branch | head -5)
"$dir/fs/thawfs-ctl" "$state/ctl.sock" status | jq -c '{commit, dotgit, counters: {hydrations: .counters.hydrations, inline_reads: .counters.inline_reads, reads: .counters.reads}}'
fusermount3 -u "$mnt"
echo "demo: unmounted" >&2
