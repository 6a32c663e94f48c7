# Helpers of the pool tests (sourced after lib.sh and lib_thawd.sh): pool
# entries live in $ST/pool/NAME/eID-STAMP/ and stay mounted when thawd stops
# (the next thawd adopts them), so lib_thawd.sh's cleanup also unmounts those
# and stops their thawfs.
DEEP=src/core/engine/detail/impl/deep_file.c

THAWD_WS_GLOBS+=("pool/*/e*")

# add_pool_repo NAME URL EXTRA-JSON: registers a repository with pool fields.
add_pool_repo() {
  expect 201 POST /v1/repos "{\"name\":\"$1\",\"url\":\"$2\"${3:+,$3}}" >/dev/null
}

# pool_field REPO JQ: a field of the repository's entry in GET /v1/pools.
pool_field() { api GET /v1/pools | jq -r ".[] | select(.repo == \"$1\") | $2"; }

# wait_pool REPO JQ-CONDITION [SECONDS]: until the pool's object satisfies it.
wait_pool() {
  wait_until "${3:-60}" bash -c "curl -s --unix-socket '$SOCK' http://thawd/v1/pools |
    jq -e '.[] | select(.repo == \"$1\") | $2' >/dev/null" ||
    fail "pool $1: never $2: $(api GET /v1/pools | jq -c ".[] | select(.repo == \"$1\")")"
}

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# entry_images REPO: the images of the ready (unclaimed) entries, sorted, unique.
entry_images() {
  local f
  for f in "$ST"/pool/"$1"/e*/entry.json; do
    jq -r .image "$f" 2>/dev/null
  done | sort -u
}

# wait_entry_images REPO IMAGE [SECONDS]: until every ready entry is of IMAGE.
wait_entry_images() {
  local end=$((SECONDS + ${3:-30}))
  until [ "$(entry_images "$1")" = "$2" ]; do
    [ $SECONDS -lt $end ] || fail "ready entries of $1 not all of $2: $(entry_images "$1" | tr '\n' ' ')"
    sleep 0.1
  done
}
