#!/bin/bash
# bench/suppress_schemes.sh [N [S...]]: bench/suppress_schemes.sql for each S
# (default 100 200 400) over N users (default 500), each in a fresh database
# of the cluster of the libpq environment (PGHOST, PGPORT, PGUSER); prints the
# read times of segment_summary and experiment_lift.
set -euo pipefail
cd "$(dirname "$0")"
n=${1:-500}; shift || true
schemes=${*:-100 200 400}
PSQL=${PGBIN:+$PGBIN/}psql
for s in $schemes; do
	db=bench_suppress_$s
	"$PSQL" -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS bench_reader" -c "CREATE DATABASE $db"
	out=$("$PSQL" -X -d "$db" -v n="$n" -v s="$s" -f suppress_schemes.sql 2>&1)
	summary=$(grep -A3 'segment_summary' <<<"$out" | grep -E '^ *segment_summary' | tr -s ' ')
	lift=$(grep -A3 'experiment_lift' <<<"$out" | grep -E '^ *experiment_lift' | tr -s ' ')
	times=$(grep -E '^Time:' <<<"$out" | sed 's/Time: //; s/ (.*//' | tr '\n' ' ')
	echo "n=$n s=$s | $summary | $lift | read times (summary, lift): $times"
	"$PSQL" -X -q -d postgres -c "DROP DATABASE $db" -c "DROP ROLE bench_reader"
done
