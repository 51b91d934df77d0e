#!/bin/bash
# test/fuzz/run.sh [SECONDS]: build the libFuzzer harness (fuzz_behavior.c,
# stubs.c and src/behavior.c, src/aggregates.c, with clang and ASan + UBSan),
# replay every committed input (corpus/ and regressions/), then fuzz for a
# bounded time (default 120 s, or $FUZZ_SECONDS) from the corpus.  The
# reproducers of known open findings (open/, listed in known-open) are
# replayed and reported without failing.
# Exits non-zero on any finding (crash, sanitizer report, internal error,
# broken round trip, memory out of proportion, timeout, out of memory); the
# input that found it is left in $FUZZ_OUT (default test/fuzz/build/) and the
# command that replays it is printed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SECS=${1:-${FUZZ_SECONDS:-120}}
OUT=${FUZZ_OUT:-$HERE/build}
CC=${FUZZ_CC:-clang}
INC=$("$PGBIN/pg_config" --includedir-server)

SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
CFLAGS="-g -O1 -fno-omit-frame-pointer -I$INC -I$ROOT/src -I$HERE -Wall -Wextra -Wno-unused-parameter -Wno-ignored-attributes"

mkdir -p "$OUT/work"
echo "fuzz: building with $($CC --version | head -1)"
# the harness must be clean; the code under test only warns here (gcc's -Werror build is the judge)
$CC $CFLAGS -Werror $SAN -c "$HERE/fuzz_behavior.c" -o "$OUT/fuzz_behavior.o"
$CC $CFLAGS -Werror $SAN -c "$HERE/stubs.c" -o "$OUT/stubs.o"
for f in behavior aggregates; do
	$CC $CFLAGS $SAN -c "$ROOT/src/$f.c" -o "$OUT/$f.o"
done
$CC $SAN "$OUT"/fuzz_behavior.o "$OUT"/stubs.o "$OUT"/behavior.o "$OUT"/aggregates.o -lm -o "$OUT/fuzz_behavior"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
OPTS=(-rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=4096 -timeout=10 -artifact_prefix="$OUT/")

# known open findings (see known-open): reported, not failing, until fixed
KNOWN=$(grep -v '^#' "$HERE/known-open" 2>/dev/null | grep . || true)
if grep -q '^memory ' <<<"$KNOWN"; then export FUZZ_MEMORY=report; fi
[ -z "$KNOWN" ] || { echo "fuzz: known open findings (not failing the suite):"; sed 's/^/  /' <<<"$KNOWN"; }

# 1. every committed input once: the seeds and the reproducers of past findings
shopt -s nullglob
inputs=("$HERE"/corpus/* "$HERE"/regressions/*)
echo "fuzz: replaying ${#inputs[@]} committed inputs"
"$OUT/fuzz_behavior" "${OPTS[@]}" "${inputs[@]}" >"$OUT/replay.log" 2>&1 || {
	tail -40 "$OUT/replay.log"
	echo "fuzz: FAILED on a committed input (log: $OUT/replay.log)" >&2
	exit 1
}
grep "KNOWN OPEN" "$OUT/replay.log" || { [ -z "$KNOWN" ] || echo "fuzz: NOTE: the known open findings no longer reproduce on regressions/: delete them from test/fuzz/known-open"; }

# open/: reproducers of known open findings, each replayed alone: reported, not failing
for f in "$HERE"/open/*; do
	[ -f "$f" ] || continue
	if "$OUT/fuzz_behavior" "${OPTS[@]}" "$f" >"$OUT/open.log" 2>&1; then
		echo "fuzz: NOTE: open/$(basename "$f") no longer reproduces: move it to regressions/ and delete its line in known-open"
	else
		echo "fuzz: known open finding still reproduces: open/$(basename "$f"): $(grep -m1 -E "FINDING|runtime error|ERROR: " "$OUT/open.log" | sed 's/^.*src\//src\//')"
	fi
done

# 2. fuzz for $SECS seconds, new inputs going to a scratch copy of the corpus
rm -rf "$OUT/work" && mkdir -p "$OUT/work"
echo "fuzz: fuzzing for $SECS s (seed ${FUZZ_SEED:-1}; log: $OUT/fuzz.log)"
if ! "$OUT/fuzz_behavior" "${OPTS[@]}" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECS" \
	-print_final_stats=1 "$OUT/work" "$HERE/corpus" >"$OUT/fuzz.log" 2>&1; then
	grep -E "FINDING|ERROR: |SUMMARY|runtime error|Test unit written" "$OUT/fuzz.log" | head -20
	tail -60 "$OUT/fuzz.log"
	artifact=$(grep -o "Test unit written to [^ ]*" "$OUT/fuzz.log" | tail -1 | sed 's/Test unit written to //')
	echo "fuzz: FAILED; replay with: $OUT/fuzz_behavior ${artifact:-<artifact>}" >&2
	echo "       (commit the input under test/fuzz/regressions/ once understood)" >&2
	exit 1
fi
grep "KNOWN OPEN" "$OUT/fuzz.log" || true
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/fuzz.log" | tr '\n' ' '
echo
echo "fuzz: $(grep -c . <<<"$(ls "$OUT/work")") new corpus entries, no findings"
