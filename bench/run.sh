#!/bin/bash
# bench/run.sh [core|citus|citus_capture|citus_experiments|citus_funnels|citus_pipeline|citus_privacy|citus_queue|citus_rfm|funnels|funnels_managed|sspace|funnels_many|analyses|experiments|pipeline|rules_cost|privacy|attributes|capture|upgrade|all]: build, start a throwaway cluster, run the
# benchmarks, stop the cluster. Results go to stdout; bench/README.md has the
# last ones recorded.
#   core:     behavior_agg against PostgreSQL's own aggregates, 1M and 10M skewed events and
#             3M uniform ones (bench/run.py)
#   funnels:  window_funnel against the plain SQL of the same funnel, 2M events (bench/funnels.py)
#   funnels_managed: funnel_conversion at 1M users / 5M events: reading it, what
#             the funnel adds to a refresh (bench/funnels_managed.py)
#   sspace:   a hashed GROUP BY user of window_funnel, sequence_next_node and behavior_agg with
#             SSPACE 8192 (shipped) and without (review 19, R19-3), 1M events (bench/sspace.py)
#   funnels_many: review 9's R9-2 case: 20 users x 10,000 events, as many strict_order
#             funnels as allowed (asks for 40), full and incremental refresh (bench/funnels_many.py)
#   pipeline: write overhead of tracking, and full vs incremental refresh of
#             1M users / 10M events (bench/pipeline.py)
#   capture:  the candidate capture mechanisms (issue 14): write cost of each against an
#             untracked table, the watermark's read cost at 1M/4M/10M rows, logical decoding's
#             cost per event (bench/capture.py; the cluster runs with wal_level = logical);
#             `bench/run.sh capture write`: the write cost only
#   analyses: retention_matrix, lifecycle, stickiness, validate_segments at 1M users (bench/analyses.py)
#   experiments: the materialized readout at 100,000 assignments: reading it,
#             computing it, what it adds to a refresh (bench/experiments.py)
#   upgrade:  ALTER EXTENSION segmentation UPDATE from release 0.1 at 1M users /
#             10M events, and the full refresh after it (bench/upgrade.py; not in all)
#   attributes: refreshes with and without a table of user attributes (track_users),
#             100,000 users / 1M events (bench/attributes.py)
#   citus:    behavior_agg split two-phase on Citus (a coordinator, two workers) against the
#             built-in sum over the same rows and groups, 2M events (bench/citus.py; not in all)
#   citus_capture: what capture on the shards costs writes to a distributed table
#             (bench/citus_capture.py; not in all)
#   citus_experiments: the experiment readout with the events, the assignments and the state
#             distributed, against one node, 200,000 users (bench/citus_experiments.py; not in all)
#   citus_funnels: the managed funnels' medians by selection over counts (refresh's way on
#             Citus) against percentile_cont over the gathered steps and one node
#             (bench/citus_funnels.py; not in all)
#   citus_pipeline: full and incremental refreshes with the events and the state distributed,
#             against one node, 200,000 users (bench/citus_pipeline.py; not in all)
#   citus_privacy: bench/privacy.py with the events and the state distributed: a full
#             refresh with one user forgotten and one opted out against none, 200,000 users
#             (bench/citus_privacy.py; not in all)
#   citus_queue: an incremental refresh with the events queued on the shards aggregated
#             there against moved to the coordinator first, alternating: time and the
#             workers' WAL (bench/citus_queue.py; not in all)
#   citus_rfm: the RFM breakpoints of 1M distributed behaviors by radix selection over
#             counts (refresh's way on Citus) against the split aggregate (bench/citus_rfm.py;
#             not in all)
#   rules_cost: a full refresh with segments that spend the rules' whole cost
#             bound, against the presets only, 10,000 users (bench/rules_cost.py)
#   privacy:  a full refresh with one user forgotten and one opted out, against
#             the same with none, 200,000 users (bench/privacy.py)
source "$(dirname "$0")/../scripts/lib.sh"
what=${1:-all}
if [ "$what" = citus ] || [ "$what" = citus_capture ] || [ "$what" = citus_rfm ] || [ "$what" = citus_pipeline ] || [ "$what" = citus_privacy ] || [ "$what" = citus_queue ] || [ "$what" = citus_funnels ] || [ "$what" = citus_experiments ]; then
	# a coordinator and two workers of their own (test/citus.sh starts them,
	# and builds Citus first when it is not installed); not in all
	ensure_deps
	build_install
	CITUS_SCRIPT=$ROOT/bench/$what.py exec bash "$ROOT/test/citus.sh" "${@:2}"
fi
ensure_deps
build_install
start_cluster
trap stop_cluster EXIT
if [ "$what" = core ] || [ "$what" = all ]; then
	for n in 1000000 10000000; do
		"$PYTHON" "$ROOT/bench/run.py" "$n" 5
	done
	"$PYTHON" "$ROOT/bench/run.py" 3000000 3 uniform
fi
if [ "$what" = funnels ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/funnels.py" 2000000 3
fi
if [ "$what" = analyses ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/analyses.py" 1000000 10 3
fi
if [ "$what" = funnels_managed ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/funnels_managed.py" 1000000 5 5
fi
if [ "$what" = sspace ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/sspace.py" 1000000 100000 3
fi
if [ "$what" = funnels_many ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/funnels_many.py" 20 10000 40
fi
if [ "$what" = experiments ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/experiments.py" 200000 100000 10 5
fi
if [ "$what" = pipeline ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/pipeline.py" 1000000 10 3
fi
if [ "$what" = attributes ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/attributes.py" 100000 10
fi
if [ "$what" = rules_cost ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/rules_cost.py" 10000 3
fi
if [ "$what" = privacy ] || [ "$what" = all ]; then
	"$PYTHON" "$ROOT/bench/privacy.py" 200000 5
fi
if [ "$what" = capture ] || [ "$what" = all ]; then
	# logical decoding needs wal_level = logical: a restart (last: the others run without it)
	echo "wal_level = logical" >>"$PGDATA/postgresql.conf"
	as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$CLUSTER_DIR/server.log" -w restart >/dev/null
	# the C prototypes of (g), a library of their own (not the extension)
	make -s -C "$ROOT/bench/capture_proto" PG_CONFIG="$PGBIN/pg_config" install >/dev/null
	"$PYTHON" "$ROOT/bench/capture.py" 25 "${2:-1000000,4000000,10000000}"
fi
if [ "$what" = upgrade ]; then
	# a cluster of its own, in a PostgreSQL tree with release 0.1 installed
	stop_cluster
	release_0_1_tree
	start_cluster
	"$PYTHON" "$ROOT/bench/upgrade.py" 1000000 10
fi
