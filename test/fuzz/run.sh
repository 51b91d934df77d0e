#!/bin/bash
# test/fuzz/run.sh [SECONDS]: build the libFuzzer harnesses with clang, ASan
# and UBSan, and for each: replay every committed input (its corpus and
# regressions), then fuzz for a bounded time (default 60 s each, or
# $FUZZ_SECONDS) from the corpus.  The harnesses ($FUZZ_TARGETS, default all):
#   behavior    fuzz_behavior.c + src/behavior.c, src/aggregates.c
#               (corpus/, regressions/; open/ and known-open below)
#   event_list  fuzz_event_list.c (includes src/funnels.c): the state type of
#               window_funnel, the sequences, sequence_next_node
#               (corpus_event_list/, regressions_event_list/)
#   rfm_values  fuzz_rfm_values.c (includes src/scores.c): rfm_breakpoints'
#               state type (corpus_rfm_values/, regressions_rfm_values/)
#   analysis_cells  fuzz_analysis_cells.c (includes src/analyses.c; with
#               src/scores.c, stubs_cells.c): _analysis_cells' state type
#               (corpus_analysis_cells/, regressions_analysis_cells/)
# The reproducers of known open findings of the behavior harness (open/,
# listed in known-open) are replayed and reported without failing.
# Exits non-zero on any finding (crash, sanitizer report, internal error,
# broken round trip, memory out of proportion, timeout, out of memory); the
# input that found it is left in $FUZZ_OUT (default test/fuzz/build/) and the
# command that replays it is printed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SECS=${1:-${FUZZ_SECONDS:-60}}
OUT=${FUZZ_OUT:-$HERE/build}
CC=${FUZZ_CC:-clang}
INC=$("$PGBIN/pg_config" --includedir-server)

SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
CFLAGS="-g -O1 -fno-omit-frame-pointer -I$INC -I$ROOT/src -I$HERE -Wall -Wextra -Wno-unused-parameter -Wno-ignored-attributes"

TARGETS=${FUZZ_TARGETS:-behavior event_list rfm_values analysis_cells}

mkdir -p "$OUT"
echo "fuzz: building with $($CC --version | head -1)"
# the harness must be clean; the code under test only warns here (gcc's -Werror build is the judge)
$CC $CFLAGS -Werror $SAN -c "$HERE/fuzz_behavior.c" -o "$OUT/fuzz_behavior.o"
$CC $CFLAGS -Werror $SAN -c "$HERE/stubs.c" -o "$OUT/stubs.o"
$CC $CFLAGS -Werror $SAN -c "$HERE/stubs_states.c" -o "$OUT/stubs_states.o"
$CC $CFLAGS -Werror $SAN -c "$HERE/stubs_cells.c" -o "$OUT/stubs_cells.o"
for f in behavior aggregates; do
	$CC $CFLAGS $SAN -c "$ROOT/src/$f.c" -o "$OUT/$f.o"
done
$CC $SAN "$OUT"/fuzz_behavior.o "$OUT"/stubs.o "$OUT"/behavior.o "$OUT"/aggregates.o -lm -o "$OUT/fuzz_behavior"
# these include the file under test (to reach its static decoder and
# encoder), so they are built without -Werror, as the code under test is
for t in event_list rfm_values; do
	$CC $CFLAGS $SAN -c "$HERE/fuzz_$t.c" -o "$OUT/fuzz_$t.o"
	$CC $SAN "$OUT/fuzz_$t.o" "$OUT"/stubs.o "$OUT"/stubs_states.o "$OUT"/behavior.o "$OUT"/aggregates.o -lm -o "$OUT/fuzz_$t"
done
# analyses.c calls scores.c's PeriodBounds and ActivePeriods
$CC $CFLAGS $SAN -c "$ROOT/src/scores.c" -o "$OUT/scores.o"
$CC $CFLAGS $SAN -c "$HERE/fuzz_analysis_cells.c" -o "$OUT/fuzz_analysis_cells.o"
$CC $SAN "$OUT"/fuzz_analysis_cells.o "$OUT"/stubs.o "$OUT"/stubs_states.o "$OUT"/stubs_cells.o "$OUT"/scores.o \
	"$OUT"/behavior.o "$OUT"/aggregates.o -lm -o "$OUT/fuzz_analysis_cells"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
OPTS=(-rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=4096 -timeout=10 -artifact_prefix="$OUT/")

# known open findings (see known-open): reported, not failing, until fixed
KNOWN=$(grep -v '^#' "$HERE/known-open" 2>/dev/null | grep . || true)
if grep -q '^memory ' <<<"$KNOWN"; then export FUZZ_MEMORY=report; fi
[ -z "$KNOWN" ] || { echo "fuzz: known open findings (not failing the suite):"; sed 's/^/  /' <<<"$KNOWN"; }

# corpus and regressions of a target
corpus_of() { [ "$1" = behavior ] && echo "$HERE/corpus" || echo "$HERE/corpus_$1"; }
regressions_of() { [ "$1" = behavior ] && echo "$HERE/regressions" || echo "$HERE/regressions_$1"; }

shopt -s nullglob
for t in $TARGETS; do
	BIN="$OUT/fuzz_$t"
	CORPUS=$(corpus_of "$t")
	REGRESSIONS=$(regressions_of "$t")
	[ -x "$BIN" ] || { echo "fuzz: unknown target $t" >&2; exit 2; }

	# 1. every committed input once: the seeds and the reproducers of past findings
	inputs=("$CORPUS"/* "$REGRESSIONS"/*)
	echo "fuzz[$t]: replaying ${#inputs[@]} committed inputs"
	"$BIN" "${OPTS[@]}" "${inputs[@]}" >"$OUT/replay-$t.log" 2>&1 || {
		tail -40 "$OUT/replay-$t.log"
		echo "fuzz[$t]: FAILED on a committed input (log: $OUT/replay-$t.log)" >&2
		exit 1
	}
	if [ "$t" = behavior ]; then
		grep "KNOWN OPEN" "$OUT/replay-$t.log" || { [ -z "$KNOWN" ] || echo "fuzz: NOTE: the known open findings no longer reproduce on regressions/: delete them from test/fuzz/known-open"; }

		# open/: reproducers of known open findings, each replayed alone: reported, not failing
		for f in "$HERE"/open/*; do
			[ -f "$f" ] || continue
			if "$BIN" "${OPTS[@]}" "$f" >"$OUT/open.log" 2>&1; then
				echo "fuzz: NOTE: open/$(basename "$f") no longer reproduces: move it to regressions/ and delete its line in known-open"
			else
				echo "fuzz: known open finding still reproduces: open/$(basename "$f"): $(grep -m1 -E "FINDING|runtime error|ERROR: " "$OUT/open.log" | sed 's/^.*src\//src\//')"
			fi
		done
	fi

	# 2. fuzz for $SECS seconds, new inputs going to a scratch copy of the corpus
	rm -rf "$OUT/work-$t" && mkdir -p "$OUT/work-$t"
	echo "fuzz[$t]: fuzzing for $SECS s (seed ${FUZZ_SEED:-1}; log: $OUT/fuzz-$t.log)"
	if ! "$BIN" "${OPTS[@]}" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECS" \
		-print_final_stats=1 "$OUT/work-$t" "$CORPUS" >"$OUT/fuzz-$t.log" 2>&1; then
		grep -E "FINDING|ERROR: |SUMMARY|runtime error|Test unit written" "$OUT/fuzz-$t.log" | head -20
		tail -60 "$OUT/fuzz-$t.log"
		artifact=$(grep -o "Test unit written to [^ ]*" "$OUT/fuzz-$t.log" | tail -1 | sed 's/Test unit written to //')
		echo "fuzz[$t]: FAILED; replay with: $BIN ${artifact:-<artifact>}" >&2
		echo "       (commit the input under $(basename "$REGRESSIONS")/ once understood)" >&2
		exit 1
	fi
	[ "$t" != behavior ] || grep "KNOWN OPEN" "$OUT/fuzz-$t.log" || true
	grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/fuzz-$t.log" | tr '\n' ' '
	echo
	echo "fuzz[$t]: $(ls "$OUT/work-$t" | wc -l) new corpus entries, no findings"
done
