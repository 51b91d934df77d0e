#!/bin/bash
# bench/run.sh [EVENTS...]: build, start a throwaway cluster, run bench/run.py
# for each size (default: 1000000 10000000), stop the cluster.
source "$(dirname "$0")/../scripts/lib.sh"
ensure_deps
build_install
start_cluster
trap stop_cluster EXIT
as_postgres psql -X -q -c "ALTER SYSTEM SET max_parallel_workers = 8" -c "SELECT pg_reload_conf()" >/dev/null
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
for n in "${sizes[@]}"; do
	"$PYTHON" "$ROOT/bench/run.py" "$n" 5
done
