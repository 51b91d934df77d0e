#!/bin/bash
# scripts/test.sh: every test suite, on a throwaway cluster.
#   pg_regress (test/sql, expected/), the property suite (test/property.py),
#   the analyses' property suite (test/funnels.py: against brute-force references)
#   the robustness suite (test/robustness.py), the statistics suite
#   (test/stats.py: against mpmath references) and the pipeline suite
#   (test/pipeline.py: concurrency, incremental = full, failures, NOTIFY,
#   pg_dump round trip, pg_cron) and the BI suite (test/bi.py: every view
#   through a standard driver, docs and comments complete).
# Prints "N passed, N failed" (suites) last; exits non-zero when any fails.
source "$(dirname "$0")/lib.sh"

ensure_deps
build_install
start_cluster
trap stop_cluster EXIT

passed=0 failed=0
run_suite() {
	local name=$1; shift
	say "suite: $name"
	if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name" >&2; fi
}
regress() {
	make -C "$ROOT" -s PG_CONFIG="$PGBIN/pg_config" installcheck || { cat "$ROOT/regression.diffs" 2>/dev/null | head -200; return 1; }
}

run_suite pg_regress regress
run_suite property "$PYTHON" "$ROOT/test/property.py"
run_suite funnels "$PYTHON" "$ROOT/test/funnels.py"
run_suite robustness "$PYTHON" "$ROOT/test/robustness.py"
run_suite statistics "$PYTHON" "$ROOT/test/stats.py"
run_suite pipeline "$PYTHON" "$ROOT/test/pipeline.py"
run_suite bi "$PYTHON" "$ROOT/test/bi.py"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
