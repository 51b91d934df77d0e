#!/bin/bash
# bench/late_events.sh ROOT... : for each checkout ROOT, in this order, build
# and install it into $PGBIN's PostgreSQL, start a throwaway cluster and run
# bench/late_events.sql (of this tree) with USERS users x PER events (default
# 2000 x 500); prints its timings and refresh_runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
users=${USERS:-2000}; per=${PER:-500}
for root in "$@"; do
	echo "=== $root ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || cat "$root/COMMIT" 2>/dev/null || echo '?'))"
	(
		cd "$root"
		source scripts/lib.sh
		build_install >/dev/null
		start_cluster
		trap stop_cluster EXIT
		"$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE bench_late"
		"$PGBIN/psql" -X -d bench_late -v users="$users" -v per="$per" -f "$here/late_events.sql" 2>&1 \
			| grep -E '^Time:|^ *[0-9]+ \| (full|incremental)|^ *id \|' 
	)
done
