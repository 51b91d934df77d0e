#!/bin/bash
# scripts/demo.sh: the main job. Installs what is missing, builds and installs
# the extension, starts a throwaway cluster, generates product events, tracks
# them, installs the engagement ladder and RFM presets, refreshes twice and
# prints segment sizes, moves and a few users' scores.
#
#   bash scripts/demo.sh [--users N] [--port P] [--stop]
#
# The cluster is left running (the psql line to explore it and the command
# that stops it are printed last) unless --stop is given.
source "$(dirname "$0")/lib.sh"

users=20000 port= stop=no
while [ $# -gt 0 ]; do
	case "$1" in
		--users) users=$2; shift 2 ;;
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
say "generating events for $users users (scripts/demo_data.sql)"
psql -X -q -v ON_ERROR_STOP=1 -v users="$users" -f "$ROOT/scripts/demo_data.sql"

say "tracking them, installing the engagement ladder and RFM presets, first refresh"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
SELECT segmentation.track('app_events', 'user_id', 'occurred_at', 'event', 'revenue');
SELECT segmentation.define_feature('search', '{search}');
SELECT segmentation.define_feature('export', '{export}');
SELECT segmentation.define_feature('share', '{share}');
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signed_up', activation_event => 'created_project');
SELECT segmentation.use_preset('rfm');
SELECT segmentation.refresh(as_of => '2024-05-01');
SQL

say "one more day of events, incremental refresh"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
INSERT INTO app_events
SELECT user_id, '2024-05-01 08:00+00'::timestamptz + random() * interval '15 hours', 'view', NULL
FROM (SELECT DISTINCT user_id FROM app_events WHERE occurred_at > '2024-04-20') s WHERE random() < 0.5;
SELECT segmentation.refresh(as_of => '2024-05-02');
SQL

psql -X -v ON_ERROR_STOP=1 <<'SQL'
SET TIME ZONE 'UTC';
\echo
\echo == refresh runs
SELECT id, mode, as_of::date, events_read, users_changed, transitions, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds
FROM segmentation.refresh_runs ORDER BY id;
\echo == segment sizes
SELECT scheme, segment, users, round(share::numeric, 3) AS share, round(mean_recency_days::numeric, 1) AS mean_recency,
       round(mean_frequency::numeric, 1) AS mean_events, round(mean_monetary::numeric, 2) AS mean_revenue
FROM segmentation.segment_summary ORDER BY scheme, users DESC;
\echo == lifecycle moves on 2024-05-02
SELECT from_segment, to_segment, users FROM segmentation.segment_migration
WHERE scheme = 'lifecycle' AND period = '2024-05-02' ORDER BY users DESC LIMIT 10;
\echo == a few users
SELECT user_id, frequency, round(monetary::numeric, 2) AS revenue, round(recency_days::numeric, 1) AS recency,
       active_days_28, current_streak, rfm_cell, lifecycle, rfm
FROM segmentation.user_scores ORDER BY user_id LIMIT 8;
SQL
say "done in $(( $(date +%s) - t0 )) s"
if [ "$stop" = no ]; then
	echo "explore:  psql -h $PGHOST -p $PGPORT -U postgres postgres"
	echo "stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA stop && rm -rf $CLUSTER_DIR"
fi
