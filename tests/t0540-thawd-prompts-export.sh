#!/bin/bash
# Prompts from two authors, queued in order; the current prompt's author is
# the author of the file changes that follow; stop cancels the queue; an
# export makes a commit per prompting author (author = that person,
# committer = the service) on a new branch of the repository's mirror.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_thawd.sh"
require_fuse

start_demo 200
ID=$(writable_session "Owner" owner@example.com)
MNT=$(session_field "$ID" mount)
P='/v1/sessions/'$ID

expect 400 POST "$P/prompts" '{"text":"x"}' >/dev/null
expect 400 POST "$P/prompts" '{"author":{"name":"A","email":"a@x"},"text":""}' >/dev/null
expect 400 POST "$P/prompts" '{"author":{"name":"A","email":"a@x"},"text":5}' >/dev/null
expect 409 POST "$P/prompts/current/done" >/dev/null          # nothing running

p1=$(expect 201 POST "$P/prompts" '{"author":{"name":"Alice Able","email":"alice@example.com"},"text":"add a.txt"}')
jq -e '.state == "running" and .position == 0' <<<"$p1" >/dev/null || fail "first prompt: $p1"
p2=$(expect 201 POST "$P/prompts" '{"author":{"name":"Bob Baker","email":"bob@example.com"},"text":"add b.txt"}')
jq -e '.state == "queued" and .position == 1' <<<"$p2" >/dev/null || fail "second prompt: $p2"
expect 200 GET "$P" | jq -e '.prompts.queued == 1 and .prompts.current.author.email == "alice@example.com"' >/dev/null

# Alice's turn: a new file, a modified file, a deleted file, a new directory
echo "alice" >"$MNT/a.txt"
echo "alice was here" >>"$MNT/README.md"
mkdir -p "$MNT/alice/dir"
echo deep >"$MNT/alice/dir/deep.txt"
victim=$(cd "$MNT" && git ls-files | grep -v README.md | grep -v -e ' ' -e '^\.' | sed -n 1p)
rm "$MNT/$victim"
sync
# changes are recorded before the prompt is marked done
wait_until 20 bash -c "sqlite3 '$ST/sessions/$ID/session.db' \"select count(*) from journal where path='$victim'\" | grep -qx 1" ||
  fail "journal: no row for the deletion of $victim"
d=$(expect 200 POST "$P/prompts/current/done")
jq -e '.done.id == 1 and .current.author.email == "bob@example.com"' <<<"$d" >/dev/null || fail "done: $d"

# Bob's turn
echo "bob" >"$MNT/b.txt"
ln -s b.txt "$MNT/b.link"
printf '#!/bin/sh\necho hi\n' >"$MNT/run.sh"
chmod +x "$MNT/run.sh"
sync
wait_until 20 bash -c "sqlite3 '$ST/sessions/$ID/session.db' \"select name from journal where path='run.sh'\" | grep -q Bob" ||
  fail "journal: run.sh not by Bob"
sqlite3 "$ST/sessions/$ID/session.db" "select distinct email from journal where path='a.txt'" | grep -qx alice@example.com ||
  fail "journal: a.txt not by Alice"

# stop cancels the running and queued prompts
expect 201 POST "$P/prompts" '{"author":{"name":"Cy","email":"cy@example.com"},"text":"later"}' >/dev/null
expect 200 POST "$P/stop" | jq -e '.cancelled == 2 and .prompts.queued == 0 and .prompts.current == null' >/dev/null ||
  fail "stop"
[ "$(sqlite3 "$ST/sessions/$ID/session.db" "select count(*) from prompts where state='cancelled'")" = 2 ] ||
  fail "session.db: cancelled prompts"
[ "$(sqlite3 "$ST/sessions/$ID/session.db" "select state from prompts where id=1")" = done ] || fail "prompt 1 not done"

# export
expect 400 POST "$P/export" '{"branch":"bad..name"}' >/dev/null
expect 400 POST "$P/export" '{}' >/dev/null
E=$(expect 201 POST "$P/export" '{"branch":"thaw/export-1"}')
jq -e '.commits | length == 2' <<<"$E" >/dev/null || fail "export: $E"
M="$ST/repos/demo.git"
got=$(git --git-dir="$M" log --format='%an %ae|%cn %ce' main..thaw/export-1)
want=$'Bob Baker bob@example.com|Thaw thaw@localhost\nAlice Able alice@example.com|Thaw thaw@localhost'
[ "$got" = "$want" ] || fail "export authors: got '$got'"
# the content: each commit holds its author's files
git --git-dir="$M" show thaw/export-1~1:a.txt | grep -qx alice || fail "a.txt in Alice's commit"
git --git-dir="$M" show thaw/export-1~1:alice/dir/deep.txt | grep -qx deep || fail "deep.txt in Alice's commit"
git --git-dir="$M" cat-file -e "thaw/export-1~1:$victim" 2>/dev/null && fail "$victim not deleted by Alice's commit"
git --git-dir="$M" show thaw/export-1~1:README.md | tail -1 | grep -qx "alice was here" || fail "README.md change"
git --git-dir="$M" cat-file -e thaw/export-1~1:b.txt 2>/dev/null && fail "b.txt is in Alice's commit"
git --git-dir="$M" show thaw/export-1:b.txt | grep -qx bob || fail "b.txt in Bob's commit"
[ "$(git --git-dir="$M" ls-tree thaw/export-1 b.link | cut -c1-6)" = 120000 ] || fail "b.link is not a symlink"
[ "$(git --git-dir="$M" ls-tree thaw/export-1 run.sh | cut -c1-6)" = 100755 ] || fail "run.sh is not executable"
# the parent of the first commit is the session's synced commit
[ "$(git --git-dir="$M" rev-parse thaw/export-1~2)" = "$(session_field "$ID" synced_commit)" ] || fail "export base"
# a branch that exists is a conflict
expect 409 POST "$P/export" '{"branch":"thaw/export-1"}' >/dev/null
expect 200 DELETE "$P" >/dev/null
expect 409 POST "$P/export" '{"branch":"thaw/export-2"}' >/dev/null
stop_thawd
echo ok
