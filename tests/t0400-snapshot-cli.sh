#!/usr/bin/env bash
# thaw-snapshot ls/inspect/diff/export/check/rm/gc over a store built with the
# snapwrite tool: a chain image <- session <- session on a small repository.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_snapshot.sh"

STORE=$T/store
repo=$T/repo
git init -q "$repo"
mkdir -p "$repo/src" "$repo/docs" "$repo/build"
echo "hello" > "$repo/README"
echo "int main(void) { return 0; }" > "$repo/src/main.c"
echo "old" > "$repo/src/old.c"
echo "util" > "$repo/src/util.c"
printf '#!/bin/sh\necho run\n' > "$repo/run.sh"; chmod +x "$repo/run.sh"
echo "guide" > "$repo/docs/guide.md"
echo "out1" > "$repo/build/out1"
echo "out2" > "$repo/build/out2"
ln -s README "$repo/link"
git -C "$repo" add -A
git -C "$repo" commit -qm "initial"
base=$(git -C "$repo" rev-parse HEAD)

# The image: build outputs and a changed README (not source: never exported).
img=$T/img; mkdir -p "$img/node_modules/pkg"
echo "module" > "$img/node_modules/pkg/index.js"
echo "hello from the image" > "$img/README"
image=$(snapwrite_layer "$img" --kind image --repo demo --base "$base" --synced "$base")

# Session 1: edits, a new directory, a deletion, a chmod, a symlink retarget.
s1t=$T/s1; mkdir -p "$s1t/src" "$s1t/new"
echo "int main(void) { return 1; }" > "$s1t/src/main.c"
touch "$s1t/src/.wh.old.c"
echo "new file" > "$s1t/new/file.txt"
cp "$repo/run.sh" "$s1t/run.sh"; chmod 644 "$s1t/run.sh"
ln -s src/main.c "$s1t/link"
s1=$(snapwrite_layer "$s1t" --parent "$image" --repo demo --base "$base" --synced "$base" --author "A U Thor <a@example.com>")

# Session 2 on top: an opaque build directory keeping out2, a non-ASCII name,
# a hard link, the new file deleted again, util.c unchanged.
s2t=$T/s2; mkdir -p "$s2t/build" "$s2t/src" "$s2t/new"
touch "$s2t/build/.wh..wh..opq"
echo "out2" > "$s2t/build/out2"
echo "out3" > "$s2t/build/out3"
echo "été" > "$s2t/docs-été.md"
echo "util" > "$s2t/src/util.c"
ln "$s2t/build/out3" "$s2t/build/out3.link"
touch "$s2t/new/.wh.file.txt"
s2=$(snapwrite_layer "$s2t" --parent "$s1" --repo demo --base "$base" --synced "$base" --author "A U Thor <a@example.com>")

log "ls"
snap ls --store "$STORE" > "$T/ls"
[ "$(grep -c '^[0-9a-f]\{40\} ' "$T/ls")" -eq 3 ] || { cat "$T/ls"; fail "ls: expected 3 layers"; }
[ "$(THAW_STORE=$STORE snap ls --json | jq length)" -eq 3 ] || fail "ls via THAW_STORE"
[ "$(snap ls --store "$STORE" --kind image --json | jq -r '.[].id')" = "$image" ] || fail "ls --kind image"
[ "$(snap ls --store "$STORE" --kind session --json | jq length)" -eq 2 ] || fail "ls --kind session"

log "inspect"
snap inspect --store "$STORE" --json "$s2" > "$T/inspect.json"
[ "$(jq -r '.chain | join(",")' "$T/inspect.json")" = "$s2,$s1,$image" ] || fail "inspect: chain"
[ "$(jq -r .kind "$T/inspect.json")" = session ] || fail "inspect: kind"
[ "$(jq -r .parent "$T/inspect.json")" = "$s1" ] || fail "inspect: parent"
[ "$(jq -r .files "$T/inspect.json")" -eq 9 ] || fail "inspect: files $(jq .files "$T/inspect.json")"
snap inspect --store "$STORE" --entries --json "${s2:0:10}" > "$T/entries.json"
[ "$(jq -r '.entries[] | select(.path == "build") | .opaque' "$T/entries.json")" = true ] || fail "inspect: opaque"
[ "$(jq -r '.entries[] | select(.path == "build/out3.link") | .link' "$T/entries.json")" = build/out3 ] ||
  fail "inspect: hard link"
[ "$(jq -r '.entries[] | select(.path == "new/file.txt") | .type' "$T/entries.json")" = whiteout ] ||
  fail "inspect: whiteout"
snap inspect --store "$STORE" "$s2" | grep -q "^kind: *session" || fail "inspect: human output"

log "diff"
snap diff --store "$STORE" --repo "$repo" "$s1" > "$T/diff1"
cat > "$T/want1" <<EOT
M link
A new
A new/file.txt
M run.sh
M src/main.c
D src/old.c
EOT
diff -u "$T/want1" "$T/diff1" || fail "diff of session 1"
snap diff --store "$STORE" --repo "$repo" "$s2" > "$T/diff2"
cat > "$T/want2" <<EOT
D build/out1
A build/out3
A build/out3.link
A docs-été.md
D new/file.txt
EOT
diff -u "$T/want2" "$T/diff2" || fail "diff of session 2"
snap diff --store "$STORE" --repo "$repo" --json "$s2" > "$T/diff2.json"
[ "$(jq -c '[.added, .modified, .deleted]' "$T/diff2.json")" = "[3,0,2]" ] || fail "diff --json counts"
[ "$(jq -r '.changes[0] | .change + " " + .path' "$T/diff2.json")" = "deleted build/out1" ] || fail "diff --json"
# the image's own diff: README modified, node_modules added
snap diff --store "$STORE" --repo "$repo" "$image" > "$T/diffi"
printf 'M README\nA node_modules\nA node_modules/pkg\nA node_modules/pkg/index.js\n' | diff -u - "$T/diffi" ||
  fail "diff of the image"

log "export"
commit=$(snap export --store "$STORE" --repo "$repo" --branch snap/s2 --author "A U Thor <a@example.com>" \
  --committer "Thaw Service <thaw@example.com>" -m "session work" "$s2")
[ "$(git -C "$repo" rev-parse refs/heads/snap/s2)" = "$commit" ] || fail "export: branch not at the commit"
[ "$(git -C "$repo" rev-parse "$commit^")" = "$base" ] || fail "export: parent is not the synced commit"
[ "$(git -C "$repo" log -1 --format='%an <%ae>|%cn <%ce>|%s' "$commit")" = \
  "A U Thor <a@example.com>|Thaw Service <thaw@example.com>|session work" ] || fail "export: author/committer/message"
git -C "$repo" -c core.quotepath=false diff --name-status "$base" "$commit" > "$T/names"
cat > "$T/want_names" <<EOT
D	build/out1
A	build/out3
A	build/out3.link
A	docs-été.md
M	link
M	run.sh
M	src/main.c
D	src/old.c
EOT
diff -u "$T/want_names" "$T/names" || fail "export: changed paths (the image's must not be there)"
git -C "$repo" log -p -1 "$commit" > "$T/logp"
grep -q '^-int main(void) { return 0; }$' "$T/logp" && grep -q '^+int main(void) { return 1; }$' "$T/logp" ||
  fail "export: git log -p lacks the main.c change"
grep -q '^old mode 100755$' "$T/logp" && grep -q '^new mode 100644$' "$T/logp" || fail "export: mode change"
[ "$(git -C "$repo" show "$commit:link")" = src/main.c ] || fail "export: symlink target"
[ "$(git -C "$repo" show "$commit:README")" = hello ] || fail "export: the image's README leaked into the commit"
git -C "$repo" fsck --no-dangling >/dev/null 2>&1 || fail "export: repository not consistent"
expect_exit 1 snap export --store "$STORE" --repo "$repo" --branch snap/s2 --author "A <a@example.com>" "$s2"
grep -q "exists" "$T/err" || fail "export over an existing branch: $(cat "$T/err")"
snap export --store "$STORE" --repo "$repo" --branch snap/s2 --author "A <a@example.com>" --force --json "$s1" > "$T/exp.json"
[ "$(jq -r .commit "$T/exp.json")" = "$(git -C "$repo" rev-parse snap/s2)" ] || fail "export --force --json"
expect_exit 1 snap export --store "$STORE" --repo "$repo" --branch "bad..name" --author "A <a@example.com>" "$s2"
expect_exit 1 snap export --store "$STORE" --repo "$repo" --branch ok --author "no email" "$s2"

log "check, rm and gc"
snap check --store "$STORE" "$s2" > /dev/null || fail "check of a complete chain"
expect_exit 1 snap rm --store "$STORE" "$s1"
grep -q "parent" "$T/err" || fail "rm of a parent: $(cat "$T/err")"
before=$(count_objects)
snap gc --store "$STORE" --grace 0 --json > "$T/gc.json"
[ "$(jq .objects_removed "$T/gc.json")" -eq 0 ] || fail "gc removed referenced objects"
[ "$(count_objects)" -eq "$before" ] || fail "gc changed the object count"
out3=$(git hash-object "$s2t/build/out3")
snap rm --store "$STORE" "$s2"
snap gc --store "$STORE" --grace 0 --dry-run --json > "$T/gc.json"
[ "$(jq .objects_removed "$T/gc.json")" -ge 2 ] || fail "gc --dry-run: $(cat "$T/gc.json")"
[ "$(count_objects)" -eq "$before" ] || fail "gc --dry-run removed objects"
[ -f "$(object_path "$out3")" ] || fail "out3's object is missing before gc"
snap gc --store "$STORE" --grace 3600 > /dev/null
[ -f "$(object_path "$out3")" ] || fail "gc ignored the grace period"
snap gc --store "$STORE" --grace 0 > "$T/gc.txt"
grep -q "objects removed" "$T/gc.txt" || fail "gc: human output"
[ ! -e "$(object_path "$out3")" ] || fail "gc kept out3's object after its layer was removed"
snap check --store "$STORE" "$s1" > /dev/null || fail "check after gc"

log "missing and corrupt objects"
main1=$(git hash-object "$s1t/src/main.c")
chmod u+w "$(object_path "$main1")"
printf 'garbage' | dd of="$(object_path "$main1")" bs=1 seek=20 conv=notrunc status=none
snap check --store "$STORE" "$s1" > /dev/null || fail "check (existence only) of a corrupt object"
expect_exit 1 snap check --store "$STORE" --verify "$s1"
grep -q "src/main.c: object $main1 is corrupt" "$T/err" || fail "check --verify: $(cat "$T/err")"
snap check --store "$STORE" --verify --json "$image" > "$T/check.json"
[ "$(jq -c '[.ok, .verified_objects, .corrupt_objects]' "$T/check.json")" = "[true,2,0]" ] ||
  fail "check --verify --json: $(cat "$T/check.json")"
git -C "$repo" branch -D snap/s2 > /dev/null
# the repository now has the blob (earlier export); a fresh clone does not
git clone -q --no-local "$repo" "$T/clone" 2> /dev/null
git -C "$T/clone" checkout -q --detach
git -C "$T/clone" gc -q --prune=now 2> /dev/null
git -C "$T/clone" cat-file -e "$main1" 2> /dev/null && fail "test setup: the clone has the blob"
expect_exit 1 snap export --store "$STORE" --repo "$T/clone" --branch x --author "A <a@example.com>" "$s1"
grep -q "object $main1 is corrupt" "$T/err" || fail "export of a corrupt object: $(cat "$T/err")"
rm -f "$(object_path "$main1")"
expect_exit 1 snap check --store "$STORE" "$s1"
grep -q "missing" "$T/err" || fail "check of a missing object: $(cat "$T/err")"

log "usage errors"
expect_exit 2 env -u THAW_STORE "$THAWSNAP" ls
grep -q -- "--store" "$T/err" || fail "no store: $(cat "$T/err")"
expect_exit 2 snap ls --store "$STORE" --bogus
expect_exit 2 snap diff --store "$STORE" "$s1"
expect_exit 2 snap nosuchcommand
expect_exit 1 snap inspect --store "$STORE" 0123456789abcdef
expect_exit 1 snap ls --store "$T/nostore"
expect_exit 1 snap inspect --store "$STORE" --json 0123456789abcdef
jq -e .error "$T/out" > /dev/null || fail "--json error object"
for c in ls inspect diff export gc rm check; do
  snap "$c" --help | grep -q "usage: thaw-snapshot $c" || fail "$c --help"
done
log "ok"
