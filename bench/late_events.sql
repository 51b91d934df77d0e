-- Late events and managed funnels (review 11, R11-2): incremental refreshes
-- that bring one event per user at or before the latest row of the user's
-- funnel state (maxts).  From review11/04-late-events-funnel-recompute.sql,
-- without its roles, plus step events at maxts and before it (5, 6).
-- psql -X -d DB -v users=2000 -v per=500 -f bench/late_events.sql  (bench/late_events.sh)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
CREATE TABLE public.events (uid bigint, ts timestamptz, ev text, amount float8);
SELECT segmentation.track('public.events', 'uid', 'ts', 'ev', 'amount') IS NULL AS tracked;
INSERT INTO public.events
SELECT u, '2024-04-01 00:00+00'::timestamptz + (i % 20) * interval '1 day' + i * interval '1 second', CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END, 1
FROM generate_series(1, :users) u, generate_series(1, :per) i;
SELECT segmentation.define_feature('fa', ARRAY['a']), segmentation.define_feature('fb', ARRAY['b']);
SELECT segmentation.define_funnel('ab', ARRAY['fa', 'fb'], '1 day');
SELECT segmentation.refresh(full => true, as_of => '2024-05-01') IS NOT NULL AS full_refresh;
\timing on
SELECT segmentation.refresh(full => true, as_of => '2024-05-01') IS NOT NULL AS "0_full_refresh";
\timing off
-- (1) one new event per user (of no step), later than all of the user's events
INSERT INTO public.events SELECT u, '2024-04-30 00:00+00', 'x', 1 FROM generate_series(1, :users) u;
\timing on
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS "1_in_order";
\timing off
-- (2) one event of no step per user at the time of the user's last funnel step
INSERT INTO public.events SELECT uid, max(ts), 'x', 1 FROM public.events WHERE ev IN ('a', 'b') GROUP BY uid;
\timing on
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS "2_no_step_same_ts";
\timing off
-- (3) one event of no step per user, an hour before the user's last funnel step
INSERT INTO public.events SELECT uid, max(ts) - interval '1 hour', 'x', 1 FROM public.events WHERE ev IN ('a', 'b') GROUP BY uid;
\timing on
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS "3_no_step_1h_late";
\timing off
-- (4) a single event of no step, weeks late (one user)
INSERT INTO public.events VALUES (1, '2024-04-02 00:00+00', 'x', 1);
\timing on
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS "4_one_no_step_late";
\timing off
-- (5) one step event per user at the time of the user's last funnel step (a tie)
INSERT INTO public.events SELECT uid, max(ts), 'b', 1 FROM public.events WHERE ev IN ('a', 'b') GROUP BY uid;
\timing on
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS "5_step_same_ts";
\timing off
-- (6) one step event per user, an hour before the user's last funnel step
INSERT INTO public.events SELECT uid, max(ts) - interval '1 hour', 'a', 1 FROM public.events WHERE ev IN ('a', 'b') GROUP BY uid;
\timing on
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS "6_step_1h_late";
\timing off
SELECT id, mode, events_read, users_changed, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS s
FROM segmentation.refresh_runs ORDER BY id;
