#!/bin/bash
# scripts/demo.sh: the main job. Installs what is missing, builds and installs
# the extension, starts a throwaway cluster (pg_cron preloaded), generates a
# product's events with an A/B test in it, tracks them, installs the
# engagement ladder and RFM presets, refreshes, schedules the refresh with
# pg_cron, and prints segment sizes, the moves between two refreshes and the
# experiment's lift per segment.
#
#   bash scripts/demo.sh [--users N] [--port P] [--stop]
#
# Default 50,000 users (about 2 million events). The cluster is left running
# (the psql line to explore it and the command that stops it are printed
# last) unless --stop is given.
source "$(dirname "$0")/lib.sh"

users=50000 port= stop=no
while [ $# -gt 0 ]; do
	case "$1" in
		--users) users=$2; shift 2 ;;
		--port) port=$2; shift 2 ;;
		--stop) stop=yes; shift ;;
		-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
		*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$users" in ''|*[!0-9]*) echo "--users takes a number" >&2; exit 2 ;; esac

t_start=$(date +%s)
ensure_deps
build_install
start_cluster $port
[ "$stop" = yes ] && trap stop_cluster EXIT
export PGDATABASE=postgres   # cron.database_name of the throwaway cluster

# step "what" SQL...: run SQL, print how long it took
step() {
	local what=$1 t0 t1
	shift
	say "$what"
	t0=$(date +%s.%N)
	psql -X -q -v ON_ERROR_STOP=1 "$@"
	t1=$(date +%s.%N)
	printf '    (%.1f s)\n' "$(echo "$t1 - $t0" | bc 2>/dev/null || echo 0)" >&2
}
rows() { psql -X -qtA -c "$1"; }

step "extensions: pg_cron and segmentation" -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION segmentation"
step "generating 100 days of events for $users users (scripts/demo_data.sql)" \
	-v stage=history -v users="$users" -f "$ROOT/scripts/demo_data.sql"
echo "    $(rows "SELECT count(*) FROM app_events") events, $(rows "SELECT count(DISTINCT user_id) FROM app_events") users" >&2

step "tracking app_events, 24 features, engagement ladder and RFM presets, first (full) refresh as of 10 April" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
SELECT segmentation.track('app_events', 'user_id', 'occurred_at', 'event', 'revenue');
SELECT segmentation.define_feature(event, ARRAY[event]) FROM demo_features ORDER BY f;
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signed_up', activation_event => 'created_project');
SELECT segmentation.use_preset('rfm');
SELECT segmentation.refresh(as_of => '2024-04-10 12:00+00');
SQL

step "A/B test checkout_v2 assigned on 10 April; three more weeks of events arrive" \
	-v stage=experiment -v users="$users" -f "$ROOT/scripts/demo_data.sql"
echo "    $(rows "SELECT count(*) FROM ab_assignments") users assigned, $(rows "SELECT count(*) FROM segmentation.pending_events") new events queued by the capture triggers" >&2

step "defining the experiment; incremental refresh as of 1 May" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
SELECT segmentation.define_experiment('checkout_v2', 'ab_assignments', 'user_id', 'variant', 'assigned_at',
                                      'control', 'checkout_completed', '14 days', '{control,treatment}', '{0.5,0.5}');
SELECT segmentation.refresh(as_of => '2024-05-01');
SQL

step "one more day of events; incremental refresh as of 2 May; refresh scheduled every 15 minutes with pg_cron" <<'SQL'
SET client_min_messages = warning;
\o /dev/null
INSERT INTO app_events
SELECT user_id, '2024-05-01 08:00+00'::timestamptz + random() * interval '15 hours', 'feature_00', NULL
FROM (SELECT DISTINCT user_id FROM app_events WHERE occurred_at > '2024-04-20') s WHERE random() < 0.5;
SELECT segmentation.refresh(as_of => '2024-05-02');
SELECT segmentation.schedule_refresh('*/15 * * * *');
SQL

psql -X -v ON_ERROR_STOP=1 <<'SQL'
SET TIME ZONE 'UTC';
\echo
\echo == refresh runs (segmentation.refresh_runs)
SELECT id, mode, as_of::date, events_read, users_changed, transitions,
       round(extract(epoch FROM finished_at - started_at)::numeric, 1) AS seconds
FROM segmentation.refresh_runs ORDER BY id;
\echo == segment sizes (segmentation.segment_summary)
SELECT scheme, segment, users, round(share::numeric, 3) AS share, round(mean_recency_days::numeric, 1) AS mean_recency,
       round(mean_frequency::numeric, 1) AS mean_events, round(mean_monetary::numeric, 2) AS mean_revenue
FROM segmentation.segment_summary ORDER BY scheme, users DESC;
\echo == lifecycle moves from 1 to 2 May (segmentation.segment_migration)
SELECT from_segment, to_segment, users FROM segmentation.segment_migration
WHERE scheme = 'lifecycle' AND period = '2024-05-02' ORDER BY users DESC LIMIT 10;
\echo == checkout_v2 lift per lifecycle segment at assignment (segmentation.experiment_lift)
SELECT segment, variant, users, conversions, round(conversion_rate::numeric, 3) AS rate,
       round(abs_lift::numeric, 3) AS abs_lift,
       '[' || round(abs_lift_ci_low::numeric, 3) || ', ' || round(abs_lift_ci_high::numeric, 3) || ']' AS ci95,
       round(q_value::numeric, 4) AS q_value, srm_flag, enough_data
FROM segmentation.experiment_lift
WHERE experiment = 'checkout_v2' AND scheme = 'lifecycle'
ORDER BY segment = '(all)' DESC, segment, variant;
\echo The treatment was built to help engaged users only: look for q_value < 0.05 there, and nowhere else.
SQL
say "done in $(( $(date +%s) - t_start )) s"
if [ "$stop" = no ]; then
	echo "explore:  psql -h $PGHOST -p $PGPORT -U postgres postgres"
	echo "stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA stop && rm -rf $CLUSTER_DIR"
fi
