#!/bin/bash
# scripts/demo.sh: the main job. Installs what is missing, builds and installs
# the extension, starts a throwaway cluster (pg_cron preloaded), generates a
# product's events with an A/B test in it, tracks them, installs the
# engagement ladder and RFM presets, refreshes, schedules the refresh with
# pg_cron, and prints segment shares, the moves between two refreshes and the
# experiment's lift per segment.
#
#   bash scripts/demo.sh [--users N] [--port P] [--stop]
#
# Default 50,000 users (about 2 million events). The events end yesterday
# (UTC) and the last refresh is as of midnight UTC today, so the refresh
# pg_cron runs every 15 minutes, as of now(), tells the same story. The cluster
# is left running (the psql line to explore it and the command that stops it
# are printed last) unless --stop is given. --here sets the demo up in the
# running cluster of PGHOST/PGPORT instead (no install, build or new cluster:
# what test/readme.py uses).
source "$(dirname "$0")/lib.sh"

users=50000 port= stop=no here=no
while [ $# -gt 0 ]; do
	case "$1" in
		--users) users=$2; shift 2 ;;
		--port) port=$2; shift 2 ;;
		--stop) stop=yes; shift ;;
		--here) here=yes; shift ;;
		-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
		*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$users" in ''|*[!0-9]*) echo "--users takes a number" >&2; exit 2 ;; esac

# milliseconds since the epoch, without bc or python: bash 5's EPOCHREALTIME
# (its decimal separator follows the locale), else GNU date
clock_ms() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		echo $(( 10#$t / 1000 ))
	else
		echo $(( $(date +%s%N) / 1000000 ))
	fi
}
seconds_since() {   # seconds_since T0_MS: "12.3"
	local ms=$(( $(clock_ms) - $1 ))
	printf '%d.%d' $(( ms / 1000 )) $(( ms % 1000 / 100 ))
}

t_start=$(clock_ms)
if [ "$here" = no ]; then
	ensure_deps
	build_install
	start_cluster $port
	[ "$stop" = yes ] && trap stop_cluster EXIT
	export PGDATABASE=postgres   # cron.database_name of the throwaway cluster
fi
export PGTZ=UTC PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# The story's calendar (UTC): the events end yesterday, the last refresh is as
# of midnight today. Day 0 of scripts/demo_data.sql is today - 122.
today=$(date -u +%F)
day() { date -u -d "$today - $1 days" +%F; }
assigned=$(day 22)     # day 100: the A/B test starts at noon
yesterday=$(day 1)     # day 121: the last day of events

psql() { "$PGBIN/psql" "$@"; }

# step "what" PSQL-ARGS...: run psql (SQL from the arguments or stdin), print how long it took
step() {
	local what=$1 t0
	shift
	say "$what"
	t0=$(clock_ms)
	psql -X -q -v ON_ERROR_STOP=1 -v users="$users" -v today="$today" "$@"
	echo "    ($(seconds_since "$t0") s)" >&2
}
rows() { psql -X -qtA -v ON_ERROR_STOP=1 -c "$1"; }

step "extensions: pg_cron and segmentation" -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION segmentation"
step "generating 100 days of events for $users users, $(day 122) to $(day 23) (scripts/demo_data.sql)" \
	-v stage=history -f "$ROOT/scripts/demo_data.sql"
echo "    $(rows "SELECT count(*) FROM app_events") events, $(rows "SELECT count(DISTINCT user_id) FROM app_events") users with events" >&2

step "tracking app_events, 25 features (24 product features and checkout_completed), engagement ladder and RFM presets, the onboarding funnel, first (full) refresh as of $assigned 12:00" <<SQL
\o /dev/null
SELECT segmentation.track('app_events', 'user_id', 'occurred_at', 'event', 'revenue');
SELECT segmentation.define_feature(event, ARRAY[event]) FROM demo_features ORDER BY f;
SELECT segmentation.define_feature('checkout_completed', '{checkout_completed}');
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signed_up', activation_event => 'created_project');
SELECT segmentation.use_preset('rfm');
-- (the preset named the features of signed_up and created_project signup and activation)
SELECT segmentation.define_funnel('onboarding', ARRAY['signup', 'activation', 'checkout_completed'], '90 days');
SELECT segmentation.refresh(as_of => '$assigned 12:00+00');
SQL

step "A/B test checkout_v2 assigned on $assigned at noon; three more weeks of events arrive, to $(day 2)" \
	-v stage=experiment -f "$ROOT/scripts/demo_data.sql"
echo "    $(rows "SELECT count(*) FROM ab_assignments") users assigned, $(rows "SELECT count(*) FROM segmentation.pending_events") new events queued by the capture triggers" >&2

step "defining the experiment; incremental refresh as of $yesterday" <<SQL
\o /dev/null
-- designed to find a 30% relative change of the conversion rate (mde)
SELECT segmentation.define_experiment('checkout_v2', 'ab_assignments', 'user_id', 'variant', 'assigned_at',
                                      control => 'control', conversion_event => 'checkout_completed', mde => 0.3);
SELECT segmentation.refresh(as_of => '$yesterday');
SQL

step "yesterday's events ($yesterday); incremental refresh as of today ($today, 00:00 UTC); refresh scheduled every 15 minutes with pg_cron" \
	-v stage=lastday -f "$ROOT/scripts/demo_data.sql" -f - <<SQL
\o /dev/null
SELECT segmentation.refresh(as_of => '$today');
SELECT segmentation.schedule_refresh('*/15 * * * *');
SQL

step "roles: metabase reads the views (segmentation_reader), data_engineer runs the pipeline (segmentation_admin)" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'metabase') AS create_metabase,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'data_engineer') AS create_data_engineer \gset
\if :create_metabase
CREATE ROLE metabase LOGIN;
\endif
\if :create_data_engineer
CREATE ROLE data_engineer LOGIN;
\endif
GRANT segmentation_reader TO metabase;
GRANT segmentation_admin TO data_engineer;
SQL

# Small cells: a dashboard (segmentation_reader) sees no count, share or mean
# of a segment with fewer than min_cell_size users (default 10). The demo's
# smallest segment may be larger than that, so it raises min_cell_size just
# past it (at least 10), to show one suppressed, and sets it back to the
# default after the summary. A real deployment keeps the default or sets what
# its privacy policy says.
step "privacy: min_cell_size set just past the smallest segment, so the reader's summary shows one suppressed" <<'SQL'
\o /dev/null
SELECT segmentation.set_setting('min_cell_size', '0');
SELECT segmentation.set_setting('min_cell_size', greatest(10, min(users) + 1)::text) FROM segmentation.segment_summary;
\o
SELECT value AS min_cell_size FROM segmentation.settings WHERE name = 'min_cell_size' \gset
\echo '    min_cell_size =' :min_cell_size
SQL

psql -X -q -v ON_ERROR_STOP=1 -v today="$today" -v yesterday="$yesterday" <<'SQL'
\echo
\echo == refresh runs (segmentation.refresh_runs)
SELECT id, mode, as_of, events_read, users_changed, transitions,
       round(extract(epoch FROM finished_at - started_at)::numeric, 1) AS seconds
FROM segmentation.refresh_runs ORDER BY id;
SQL
"$PYTHON" "$ROOT/scripts/demo_report.py" shares
psql -X -q -v ON_ERROR_STOP=1 -v today="$today" -v yesterday="$yesterday" <<'SQL'
\o /dev/null
-- (back to the default for the rest: the day's moves are mostly smaller than the smallest segment)
SELECT segmentation.set_setting('min_cell_size', NULL);
\o
\echo '   (min_cell_size back to its default, 10, for what follows)'
\echo == lifecycle moves from :yesterday to :today (segmentation.segment_migration)
SELECT from_segment, to_segment, users, suppressed FROM segmentation.segment_migration
WHERE scheme = 'lifecycle' AND period = :'today' ORDER BY users DESC NULLS LAST, from_segment, to_segment LIMIT 10;
\echo == checkout_v2 per lifecycle segment at assignment (segmentation.experiment_lift)
SELECT segment, variant, users, conversions, round(conversion_rate::numeric, 3) AS rate,
       round(abs_lift::numeric, 3) AS abs_lift,
       '[' || round(abs_lift_ci_low::numeric, 3) || ', ' || round(abs_lift_ci_high::numeric, 3) || ']' AS ci95,
       round(q_value::numeric, 4) AS q_value, srm_flag, enough_data
FROM segmentation.experiment_lift
WHERE experiment = 'checkout_v2' AND scheme = 'lifecycle'
ORDER BY segment = '(all)' DESC, segment, variant;
\echo == checkout_v2: do the segments respond differently, what does CUPED (checkouts in the 28 days before) narrow, whom would a rollout reach today?
SELECT segment, round(heterogeneity_p_value::numeric, 4) AS heterogeneity_p,
       '[' || round(cuped_abs_lift_ci_low::numeric, 3) || ', ' || round(cuped_abs_lift_ci_high::numeric, 3) || ']' AS cuped_ci95,
       round(((cuped_abs_lift_ci_high - cuped_abs_lift_ci_low) / (abs_lift_ci_high - abs_lift_ci_low))::numeric, 2) AS cuped_width,
       round(sequential_p_value::numeric, 4) AS sequential_p,
       round(chance_to_win::numeric, 3) AS chance_to_win, targetable_users
FROM segmentation.experiment_lift
WHERE experiment = 'checkout_v2' AND scheme = 'lifecycle' AND variant = 'treatment'
ORDER BY segment = '(all)' DESC, segment;
SQL
"$PYTHON" "$ROOT/scripts/demo_report.py" lift
psql -X -q -v ON_ERROR_STOP=1 -v assigned="$assigned" <<'SQL'
\echo == do the lifecycle segments predict churn? members on :assigned at noon, no event in the 14 days after (segmentation.validate_segments)
SELECT segment, users, round(rate::numeric, 3) AS churn_rate,
       '[' || round(ci_low::numeric, 3) || ', ' || round(ci_high::numeric, 3) || ']' AS ci95,
       round(q_vs_rest::numeric, 4) AS q_vs_rest, round(homogeneity_p::numeric, 4) AS homogeneity_p
FROM segmentation.validate_segments('lifecycle', (:'assigned' || ' 12:00+00')::timestamptz, '14 days')
ORDER BY rate DESC;
\echo == weekly retention of the first three signup cohorts, everyone (segmentation.retention_matrix)
SELECT cohort, max(cohort_users) AS users,
       string_agg(lpad(round(100 * retention) || '%', 4), ' ' ORDER BY period_offset) AS "weeks 0, 1, 2, ... 8"
FROM segmentation.retention_matrix('week')
WHERE period_offset <= 8 AND cohort IN (SELECT DISTINCT cohort FROM segmentation.retention_matrix('week') ORDER BY cohort LIMIT 3)
GROUP BY cohort ORDER BY cohort;
\echo == the onboarding funnel, signup -> activation -> checkout_completed within 90 days, per lifecycle segment at signup (segmentation.funnel_conversion, kept by refresh)
SELECT segment, max(users) FILTER (WHERE step = 1) AS signed_up, max(users) FILTER (WHERE step = 2) AS activated,
       max(users) FILTER (WHERE step = 3) AS checked_out,
       round(max(rate_from_start) FILTER (WHERE step = 3)::numeric, 3) AS conversion,
       round(max(median_seconds_from_previous / 86400) FILTER (WHERE step = 2)::numeric, 1) AS median_days_to_activate,
       round(max(median_seconds_from_previous / 86400) FILTER (WHERE step = 3)::numeric, 1) AS median_days_to_checkout
FROM segmentation.funnel_conversion
WHERE funnel = 'onboarding' AND scheme = 'lifecycle'
GROUP BY segment ORDER BY segment <> '(all)', conversion DESC NULLS LAST;
SQL
cat >&2 <<EOF
The treatment was built to help engaged users only: its interval clears 0, with
q < 0.05, there and in no other segment ((all) is everyone, engaged included),
with enough data to see the 30% change it was designed for; the heterogeneity
test says the segments really respond differently, CUPED (whether a user
checked out in the 28 days before assignment, read from the stored behaviors)
narrows every interval (cuped_width: its width over the plain one), and
targetable_users is how many engaged users a rollout to that segment reaches
today.
pg_cron refreshes every 15 minutes as of now(); the events end at midnight UTC,
so those refreshes only age everyone by the hours since (segmentation.refresh_runs).
EOF
say "done in $(seconds_since "$t_start") s"
if [ "$here" = no ] && [ "$stop" = no ]; then
	echo "explore:  psql -h $PGHOST -p $PGPORT -U postgres postgres      (as the BI tool: -U metabase)"
	echo "stop:     runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA stop && rm -rf $CLUSTER_DIR"
fi
