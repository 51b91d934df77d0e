-- bench/suppress_schemes.sql: one read of segment_summary and of experiment_lift
-- as a reader, with S schemes over N users, each scheme's one segment 'a' taking
-- about half the users, a different half in each scheme (review 9, R9-1: the
-- pairs of _suppress_schemes).  Run as a superuser in a fresh database:
--   psql -X -d DB -v n=USERS -v s=SCHEMES -f bench/suppress_schemes.sql
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
CREATE ROLE bench_reader LOGIN IN ROLE segmentation_reader;
CREATE TABLE public.events (uid bigint, ts timestamptz, ev text, amount float8);
INSERT INTO public.events
SELECT u, '2024-04-01'::timestamptz + (u % 500) * interval '1 hour', 'view', u FROM generate_series(1, :n) u;
SELECT segmentation.track('public.events', 'uid', 'ts', 'ev', 'amount') IS NULL AS tracked;
-- scheme i: segment 'a' = users whose monetary * (2i+1) mod 9973 is under 4987, the rest unsegmented
SELECT count(segmentation.define_segment('s' || i, 'a', format('(monetary::bigint * %s) %% 9973 < 4987', 2 * i + 1)))
FROM generate_series(1, :s) i;
SELECT segmentation.refresh(full => true, as_of => '2024-05-02') IS NOT NULL AS refresh_ok;
-- an experiment of two arms over every user, assigned once they are in their segments
CREATE TABLE public.ab (user_id bigint, variant text, assigned_at timestamptz);
INSERT INTO public.ab SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treatment' END, '2024-05-02 12:00' FROM generate_series(1, :n) u;
SELECT segmentation.define_experiment(name => 'e1', assignments => 'public.ab', user_column => 'user_id',
    variant_column => 'variant', assigned_at_column => 'assigned_at', control => 'control', conversion_event => 'view') IS NULL;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refresh_ok;
SELECT variant, count(*) AS combinations FROM segmentation._experiment_lift_combos GROUP BY 1 ORDER BY 1;
SELECT count(DISTINCT segments) AS distinct_combinations, count(*) AS users FROM segmentation._user_state;
SET ROLE bench_reader;
SET statement_timeout = '600s';
\timing on
SELECT 'segment_summary' AS view, count(*) AS rows, count(*) FILTER (WHERE suppressed) AS suppressed FROM segmentation.segment_summary;
SELECT 'experiment_lift' AS view, count(*) AS rows, count(*) FILTER (WHERE suppressed) AS suppressed FROM segmentation.experiment_lift;
\timing off
RESET ROLE;
