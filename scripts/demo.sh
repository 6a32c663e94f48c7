#!/usr/bin/env bash
# The main job on an embedded default. Everything lives in a local state
# directory (.thaw-demo/, or $THAW_STATE):
#   1. generate a demo git repository (20,000 files, a small C project);
#   2. start thawd on .thaw-demo/state and register the repository with a
#      setup command (`make -C cproject`);
#   3. build its image (mount, sync, run the setup in bubblewrap, freeze),
#      and let the warm pool mount a workspace of it;
#   4. create a session (claimed from the pool) and time the API call to the
#      first byte of a file five directories deep;
#   5. write in the workspace once it is writable, snapshot it, remove the
#      session (a pre-exit snapshot is taken), restore the snapshot into a
#      new session and read the write back;
#   6. stop thawd and unmount the pool's warm workspaces.
# Idempotent: a second run reuses the repository and the built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=$(bash scripts/build.sh release)
top=${THAW_STATE:-.thaw-demo}
files=${THAW_DEMO_FILES:-20000}
mkdir -p "$top"
top=$(realpath "$top")
repo="$top/repo-$files.git"
state="$top/state"
THAW=("$dir/sessiond/thaw" --state "$state")
step() { printf '\n== %s\n' "$*" >&2; }

if [ ! -d "$repo" ]; then
  step "generating a $files-file repository in ${repo#"$PWD"/}"
  "$dir/tests/genrepo/thaw-genrepo" --out "$repo" --files "$files" --seed 1 --bare --quiet
fi

# A fresh daemon state each run (the repository is kept).
if [ -f "$state/thawd.pid" ] && kill -0 "$(cat "$state/thawd.pid")" 2>/dev/null; then
  echo "demo: a thawd from an earlier run is still up (pid $(cat "$state/thawd.pid")); stop it first" >&2
  exit 1
fi
# Unmounts every workspace under the demo's state (warm pool entries outlive
# thawd on purpose: a restarted daemon adopts them).
unmount_all() {
  { grep " $state/" /proc/mounts || true; } | awk '{print $2}' | while read -r m; do
    fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
  done
}
unmount_all
rm -rf "$state"
mkdir -p "$state"

step "starting thawd (state ${state#"$PWD"/})"
"$dir/sessiond/thawd" --state "$state" --thawfs "$dir/fs/thawfs" --foreground --log "$state/thawd.log" &
thawd_pid=$!
stop_thawd() {
  kill "$thawd_pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$thawd_pid" 2>/dev/null || break; sleep 0.1; done
  unmount_all
}
trap stop_thawd EXIT
for _ in $(seq 1 200); do
  "${THAW[@]}" status >/dev/null 2>&1 && break
  kill -0 "$thawd_pid" 2>/dev/null || { echo "demo: thawd exited; see $state/thawd.log" >&2; exit 1; }
  sleep 0.05
done
"${THAW[@]}" status

step "registering the repository (setup: make -C cproject; a warm pool of 1 + 1 spare)"
"${THAW[@]}" repo add demo "$repo" --branch main --setup "make -C cproject" --pool-min 1 --pool-spare 1 --wait

step "building the image"
"${THAW[@]}" image build demo --wait
"${THAW[@]}" image ls demo
image=$("${THAW[@]}" --json image ls demo | jq -r '.[0].id')

step "waiting for a warm workspace of the new image in the pool"
for _ in $(seq 1 600); do
  "${THAW[@]}" --json pool ls | jq -e --arg img "$image" \
    '.[] | select(.repo == "demo" and .ready >= 1 and .image == $img)' >/dev/null && break
  sleep 0.05
done
"${THAW[@]}" pool ls

step "creating a session and reading a file five directories deep"
deep=src/core/engine/detail/impl/deep_file.c
t0=$(date +%s%N)
sess=$("${THAW[@]}" --json session create --repo demo --author "Demo User <demo@thaw.invalid>")
mnt=$(jq -r .mount <<<"$sess")
head -c 1 "$mnt/$deep" >/dev/null
t1=$(date +%s%N)
id=$(jq -r .id <<<"$sess")
awk -v ns=$((t1 - t0)) -v f="$deep" -v p="$(jq -r .pool <<<"$sess")" \
  'BEGIN { printf "demo: POST /v1/sessions -> first byte of %s: %.1f ms (pool: %s)\n", f, ns / 1e6, p }' >&2
ls "$mnt/cproject" | head -5
"${THAW[@]}" session inspect "$id" | jq -c '{id, state, timings}'

step "writing once the workspace is writable, then snapshot and remove"
for _ in $(seq 1 600); do
  st=$("${THAW[@]}" --json session inspect "$id" | jq -r .state)
  [ "$st" = writable ] || [ "$st" = sync-failed ] && break
  sleep 0.05
done
echo "written by the demo at $(date -u +%FT%TZ)" > "$mnt/DEMO_NOTE.txt"
snap=$("${THAW[@]}" session snapshot "$id")
echo "demo: snapshot $snap" >&2
"${THAW[@]}" session rm "$id"

step "restoring the snapshot into a new session"
sess2=$("${THAW[@]}" --json session restore "$snap" --repo demo)
mnt2=$(jq -r .mount <<<"$sess2")
echo "demo: restored: $(cat "$mnt2/DEMO_NOTE.txt")" >&2
"${THAW[@]}" session ls
"${THAW[@]}" session rm "$(jq -r .id <<<"$sess2")"

step "stopping thawd and unmounting the warm pool"
stop_thawd
trap - EXIT
echo "demo: done (daemon log: ${state#"$PWD"/}/thawd.log)" >&2
