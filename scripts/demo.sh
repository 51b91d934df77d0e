#!/bin/bash
# scripts/demo.sh: the main job. Installs what is missing, builds and installs
# the extension, starts a throwaway cluster, generates product events and
# prints per-user behavior scores computed by the extension.
#
#   bash scripts/demo.sh [--events N] [--port P] [--stop]
#
# The cluster is left running (the psql line to explore it and the command
# that stops it are printed last) unless --stop is given.
source "$(dirname "$0")/lib.sh"

events=300000 port= stop=no
while [ $# -gt 0 ]; do
	case "$1" in
		--events) events=$2; shift 2 ;;
		--port) port=$2; shift 2 ;;
		--stop) stop=yes; shift ;;
		-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
		*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

ensure_deps
build_install
start_cluster $port
[ "$stop" = yes ] && trap stop_cluster EXIT
export PGDATABASE=postgres

t0=$(date +%s)
say "generating $events events (bench/generate.sql)"
psql -X -q -v ON_ERROR_STOP=1 -v events="$events" -f "$ROOT/bench/generate.sql"
say "creating the extension and one behavior per user"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION segmentation;
\timing on
CREATE TABLE profiles AS
SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id;
\timing off
SQL

say "scores of the ten heaviest users and five light ones, as of 2024-05-01"
psql -X -v ON_ERROR_STOP=1 <<'SQL'
SET TIME ZONE 'UTC';
WITH scored AS (
  SELECT user_id, b,
         segmentation.event_count(b) AS frequency,
         segmentation.value_sum(b) AS monetary,
         round(segmentation.recency_days(b, '2024-05-01')::numeric, 1) AS recency_days,
         segmentation.active_days(b, '2024-05-01', '28 days') AS active_28d,
         segmentation.current_streak(b, '2024-05-01') AS streak,
         round(segmentation.decayed_activity(b, '2024-05-01', '7 days')::numeric, 2) AS decayed_7d,
         cardinality(segmentation.features(b)) AS features_used,
         pg_column_size(b) AS bytes
  FROM profiles),
breakpoints AS (
  SELECT percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY frequency) AS f,
         percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency_days) AS r
  FROM scored)
SELECT user_id, frequency, monetary, recency_days, active_28d, streak, decayed_7d, features_used, bytes,
       segmentation.quantile_score(recency_days, r, true) AS r_score,
       segmentation.quantile_score(frequency, f) AS f_score
FROM scored, breakpoints
WHERE user_id <= 10 OR user_id IN (SELECT max(user_id) - g FROM profiles, generate_series(0, 4) g GROUP BY g)
ORDER BY frequency DESC;
SQL
say "done in $(( $(date +%s) - t0 )) s"
if [ "$stop" = no ]; then
	echo "explore:  psql -h $PGHOST -p $PGPORT -U postgres postgres"
	echo "stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA stop && rm -rf $CLUSTER_DIR"
fi
