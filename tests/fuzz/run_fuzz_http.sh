#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_http.c with clang's libFuzzer (+ ASan, UBSan) in
# OUTDIR and runs it for a bounded time over a copy of the committed seed
# corpus. Fails on any crash, leak or sanitizer report. Without clang it
# skips (77), except with CI=true where it fails.
#   run_fuzz_http.sh SRCDIR OUTDIR [SECONDS]
set -euo pipefail
SRC=${1:?SRCDIR}
OUT=${2:?OUTDIR}
SECS=${3:-${FUZZ_SECONDS:-30}}

CLANG=""
for c in clang-14 clang; do
  if command -v "$c" >/dev/null; then CLANG=$c; break; fi
done
if [ -z "$CLANG" ]; then
  if [ "${CI:-}" = true ]; then echo "FAIL: clang missing (CI=true: not skipping)" >&2; exit 1; fi
  echo "SKIP: clang (libFuzzer) not installed: bash scripts/deps.sh" >&2
  exit 77
fi
HP_INC=$(dirname "$(find /usr/include -maxdepth 2 -name http_parser.h | head -1)")

mkdir -p "$OUT"
bin="$OUT/fuzz_http"
# -fno-sanitize-recover: an UBSan report stops the run (and fails it).
"$CLANG" -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
  -Wall -Wextra -Wno-unused-parameter -Werror \
  -I"$SRC/sessiond" -I"$SRC/common" -I"$HP_INC" \
  "$SRC/tests/fuzz/fuzz_http.c" "$SRC/sessiond/http.c" "$SRC/sessiond/http_conn.c" \
  "$SRC/sessiond/http_reply.c" "$SRC/sessiond/router.c" \
  -o "$bin" -luv -ljansson -lhttp_parser

work="$OUT/corpus-work"
rm -rf "$work" && mkdir -p "$work"
cp "$SRC"/tests/fuzz/corpus/http/* "$work/"
log="$OUT/fuzz_http.log"
echo "# fuzz_http: $SECS s over $(ls "$work" | wc -l) seeds" >&2
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$OUT/" "$work" >"$log" 2>&1
rc=$?
set -e
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$log" >&2 || true
if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
  echo "FAIL: fuzz_http found a crash (rc $rc); log $log:" >&2
  grep -A40 -E 'ERROR:|runtime error:' "$log" | head -80 >&2
  ls "$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-* 2>/dev/null >&2 || true
  exit 1
fi
echo "ok: fuzz_http ran $SECS s without a crash" >&2
