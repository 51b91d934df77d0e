#!/bin/bash
# bench/work_table_ab.sh LABEL: 200,000 users with 10 events each, tracked,
# both presets; then 3 times a full refresh, 20,000 new events and an
# incremental refresh, each timed by the client (seconds), VACUUM ANALYZE
# untimed before each.  For an A/B of two builds of the extension on one
# node (session 28: refresh's work table, bench/README.md): install one
# build, run it, install the other, run it, alternating.  With
# PSQLVARS="-v nopk=1", the work table's key is dropped first (a build that
# has one).  Uses the libpq environment (PGHOST, PGPORT, PGUSER).
db=ab_$1
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -XAtq -d $db $PSQLVARS <<'SQL'
CREATE EXTENSION segmentation;
SET TIME ZONE 'UTC';
CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
SELECT setseed(0.5);
INSERT INTO events SELECT u, timestamptz '2024-01-01' + random() * interval '90 days', (ARRAY['signup','login','buy','view'])[1 + floor(random()*4)::int], round((random()*100)::numeric,2)
FROM generate_series(1, 200000) u, generate_series(1, 10) i;
SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v');
SELECT segmentation.use_preset('engagement_ladder', 'signup', 'buy');
SELECT segmentation.use_preset('rfm');
\if :{?nopk}
ALTER TABLE segmentation._batch DROP CONSTRAINT _batch_pkey;
\endif
VACUUM ANALYZE events;
SELECT segmentation.refresh(true, as_of => '2024-04-01');
SQL
for k in 1 2 3; do
	psql -XAtq -d $db -c "VACUUM ANALYZE" >/dev/null
	s=$(date +%s.%N); psql -XAtq -d $db -c "SELECT segmentation.refresh(true, as_of => '2024-04-01'::timestamptz + interval '$k hour')" >/dev/null; e=$(date +%s.%N)
	psql -XAtq -d $db -c "INSERT INTO events SELECT (random()*200000)::bigint + 1, timestamptz '2024-03-25' + random() * interval '6 days', 'login', 1 FROM generate_series(1, 20000)"
	psql -XAtq -d $db -c "VACUUM ANALYZE" >/dev/null
	s2=$(date +%s.%N); psql -XAtq -d $db -c "SELECT segmentation.refresh(as_of => '2024-04-01'::timestamptz + interval '$k hour 30 minutes')" >/dev/null; e2=$(date +%s.%N)
	printf '%s full %.2f incremental %.2f\n' "$1" "$(echo "$e - $s" | bc)" "$(echo "$e2 - $s2" | bc)"
done
psql -XAtq -d postgres -c "DROP DATABASE $db"
