#!/bin/bash
# scripts/test.sh: every test suite, on a throwaway cluster.
#   pg_regress (test/sql, expected/), the property suite (test/property.py),
#   the analyses' property suite (test/funnels.py: against brute-force references)
#   and that of the managed analyses (test/analyses.py: retention_matrix,
#   lifecycle, stickiness, validate_segments against Python references
#   computed from the raw events and membership_history), and that of the
#   managed funnels (test/funnels_managed.py: funnel_conversion against a
#   Python reference from the raw events and membership_history, incremental
#   refreshes with late events = full)
#   the robustness suite (test/robustness.py), the statistics suite
#   (test/stats.py: against mpmath references) and the pipeline suite
#   (test/pipeline.py: concurrency, incremental = full, failures, NOTIFY,
#   pg_dump round trip, pg_cron), the operations suite (test/operations.py:
#   failures that fail, rejected events, timeouts, untrack and DDL, attacks on
#   capture as each hostile role), the BI suite (test/bi.py: every view
#   through a standard driver, docs and comments complete), the privacy
#   suite (test/privacy.py: forget_user and opt_out across refreshes with
#   concurrent writes, a search of every column for an erased id,
#   min_cell_size on every reader view, the HMAC against Python's hmac,
#   attacks as each role), the README
#   suite (test/readme.py: README.md's SQL runs as written on a small demo),
#   and the hardening suites: the fuzzer (test/fuzz/run.sh: libFuzzer over the
#   behavior decoder and I/O and the states event_list, rfm_values and _analysis_cells_state, $FUZZ_SECONDS each, default 60 s) and valgrind
#   (test/valgrind.sh: pg_regress tests against a server under memcheck)
#   and plpgsql_check (test/plpgsql_check.py: every plpgsql function clean),
#   and the upgrade chain (test/upgrade.sh: release 0.1 built from git, filled,
#   scheduled with pg_cron and updated to this build while the application
#   writes, in a cluster and PostgreSQL tree of its own), and the Citus suite
#   (test/citus.sh: builds Citus 13.2 once from ../shared/vendor with
#   ../shared/tools/build-citus when it is not installed, some minutes; says
#   it was skipped when ../shared is absent; starts a coordinator and two
#   workers of its own and runs test/citus.py: every aggregate grouped by the
#   distribution column and split two-phase by other groups, with
#   citus.coordinator_aggregation_strategy = 'disabled', equal to a
#   single-node run on the same rows, the plans checked in EXPLAIN).
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

# plpgsql_check installs into Debian's tree; a relocated $PGBIN tree gets a copy
plpgsql_check_in_tree() {
	local lib share
	lib=$("$PGBIN/pg_config" --pkglibdir) share=$("$PGBIN/pg_config" --sharedir)
	[ -e "$lib/plpgsql_check.so" ] || cp /usr/lib/postgresql/15/lib/plpgsql_check.so "$lib/"
	[ -e "$share/extension/plpgsql_check.control" ] || cp /usr/share/postgresql/15/extension/plpgsql_check* "$share/extension/"
}
plpgsql_check_in_tree

run_suite pg_regress regress
run_suite property "$PYTHON" "$ROOT/test/property.py"
run_suite funnels "$PYTHON" "$ROOT/test/funnels.py"
run_suite analyses "$PYTHON" "$ROOT/test/analyses.py"
run_suite funnels_managed "$PYTHON" "$ROOT/test/funnels_managed.py"
run_suite robustness "$PYTHON" "$ROOT/test/robustness.py"
run_suite statistics "$PYTHON" "$ROOT/test/stats.py"
run_suite pipeline "$PYTHON" "$ROOT/test/pipeline.py"
run_suite operations "$PYTHON" "$ROOT/test/operations.py"
run_suite bi "$PYTHON" "$ROOT/test/bi.py"
run_suite privacy "$PYTHON" "$ROOT/test/privacy.py"
run_suite readme env PGBIN="$PGBIN" "$PYTHON" "$ROOT/test/readme.py"
run_suite fuzz env PGBIN="$PGBIN" bash "$ROOT/test/fuzz/run.sh"
run_suite valgrind env PGBIN="$PGBIN" bash "$ROOT/test/valgrind.sh"
run_suite plpgsql_check "$PYTHON" "$ROOT/test/plpgsql_check.py"
run_suite upgrade env PGBIN="$PGBIN" bash "$ROOT/test/upgrade.sh"
run_suite citus env PGBIN="$PGBIN" bash "$ROOT/test/citus.sh"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
