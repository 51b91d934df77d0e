-- The managed pipeline: track, features, segments, refresh, history,
-- transitions, views, presets, scheduling without pg_cron.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET client_min_messages = warning;
-- small cells, checked by hand: no small-cell suppression here
-- (test/sql/privacy.sql and test/privacy.py test it)
SELECT segmentation.set_setting('min_cell_size', '0');

CREATE TABLE app_events (uid bigint, at timestamptz, name text, revenue numeric, note text);
-- 60 users over 120 days: user u is active every (u % 6 + 1)th day from day u % 10,
-- and stops after day 120 - u; users 1-20 sign up, 1-10 create a project, every 4th event is a purchase
INSERT INTO app_events
SELECT u, '2024-01-01'::timestamptz + d * interval '1 day' + (u * 7 % 24) * interval '1 hour',
       CASE WHEN d = u % 10 AND u <= 20 THEN 'signed_up'
            WHEN d = u % 10 + (u % 6 + 1) AND u <= 10 THEN 'created_project'
            WHEN (d / (u % 6 + 1)) % 4 = 3 THEN 'purchase'
            ELSE 'view' END,
       CASE WHEN (d / (u % 6 + 1)) % 4 = 3 THEN 10 + u % 7 END, NULL
FROM generate_series(1, 60) u, generate_series(0, 119) d
WHERE d >= u % 10 AND d % (u % 6 + 1) = 0 AND d <= 120 - u;

-- nothing tracked yet
SELECT segmentation.refresh();
SELECT segmentation.define_segment('lifecycle', 'x', 'true');

-- track: errors name the problem
SELECT segmentation.track('app_events', 'nope', 'at', 'name');
SELECT segmentation.track('app_events', 'uid', 'name', 'name');
SELECT segmentation.track('app_events', 'uid', 'at', 'revenue');
SELECT segmentation.track('app_events', 'uid', 'at', 'name', 'note');
CREATE VIEW app_view AS SELECT * FROM app_events;
SELECT segmentation.track('app_view', 'uid', 'at', 'name');
-- an admin without TRIGGER on the table cannot track it
CREATE ROLE regress_tracker IN ROLE segmentation_admin;
GRANT SELECT ON app_events TO regress_tracker;
SET ROLE regress_tracker;
SELECT segmentation.track('app_events', 'uid', 'at', 'name', 'revenue');
RESET ROLE;
DROP OWNED BY regress_tracker;
DROP ROLE regress_tracker;
SELECT segmentation.track('app_events', 'uid', 'at', 'name', 'revenue');
SELECT segmentation.track('app_events', 'uid', 'at', 'name', 'revenue');
CREATE TABLE other_events (account text, at timestamptz, name text);
SELECT segmentation.track('other_events', 'account', 'at', 'name');
SELECT source, user_column, time_column, event_column, value_column, user_type, tracked_by FROM segmentation.sources;

-- features: stable ids, one feature per event name
SELECT segmentation.define_feature('export', '{export_csv,export_pdf}');
SELECT segmentation.define_feature('purchase', '{purchase}');
SELECT segmentation.define_feature('export', '{export_csv}');
SELECT segmentation.define_feature('billing', '{purchase}');
SELECT segmentation.define_feature('empty', '{}');
SELECT id, name, event_names FROM segmentation.features ORDER BY id;

-- predicates are checked when defined
SELECT segmentation.define_segment('s', 'a', 'frequency > (SELECT 1)');
SELECT segmentation.define_segment('s', 'a', 'random() > 0.5');
SELECT segmentation.define_segment('s', 'a', 'now() > last_seen');
SELECT segmentation.define_segment('s', 'a', 'no_such_column > 1');
SELECT segmentation.define_segment('s', 'a', 'frequency >');
SELECT segmentation.define_segment('s', 'a', 'true; DROP TABLE app_events');
SELECT segmentation.define_segment('s', 'a', 'true) FROM segmentation.profiles WHERE (true');
SELECT segmentation.define_segment('s', 'a', 'frequency');
SELECT segmentation.define_segment('s', 'a', 'count(*) > 1');
SELECT segmentation.define_segment('s', 'a', 'frequency > 1 -- comment');
SELECT segmentation.define_segment('s', 'a', 'pg_catalog.pg_sleep(1) IS NULL');
SELECT segmentation.define_segment('s', 'a', 'txid_current() > 0');
SELECT segmentation.define_segment('s', 'unsegmented', 'true');
SELECT segmentation.define_segment('frequency', 'a', 'true');
SELECT segmentation.define_segment('s', 'a', NULL);

-- a definer cannot smuggle code into refresh: an "immutable" function of its
-- own, which would run with the privileges of whoever runs refresh (a
-- superuser, through pg_cron), is refused, as is an operator built on one
CREATE ROLE regress_definer LOGIN IN ROLE segmentation_admin;
CREATE SCHEMA regress_definer AUTHORIZATION regress_definer;
SET ROLE regress_definer;
CREATE FUNCTION regress_definer.sneaky(x bigint) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	EXECUTE 'ALTER ROLE regress_definer SUPERUSER';
	RETURN true;
END $$;
CREATE FUNCTION regress_definer.sneaky_op(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT regress_definer.sneaky($1)';
CREATE OPERATOR regress_definer.>>> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_definer.sneaky_op);
SELECT segmentation.define_segment('s', 'a', 'regress_definer.sneaky(frequency)');
SELECT segmentation.define_segment('s', 'a', 'frequency OPERATOR(regress_definer.>>>) 1');
SELECT segmentation.define_segment('s', 'a', 'sneaky(frequency)');
-- nor by writing the segments table directly (only the define functions may),
-- and refresh checks every predicate again (here a row written as superuser)
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('s', 'forged', 'true', 'regress_definer.sneaky(frequency)');
RESET ROLE;
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('s', 'forged', 'true', 'regress_definer.sneaky(frequency)');
SELECT segmentation.refresh(as_of => '2024-05-01');
SELECT mode, error FROM segmentation.refresh_runs ORDER BY id;
SELECT count(*) AS profiles_after_failed_refresh FROM segmentation.profiles;
SELECT rolsuper AS definer_became_superuser FROM pg_roles WHERE rolname = 'regress_definer';
-- and the rules refresh runs are checked again where they run
-- (_assign_segments), whoever calls it
SELECT segmentation._assign_segments(1::bigint, b, '{}', '2024-05-01', '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
       ARRAY['s'], ARRAY['CASE WHEN regress_definer.sneaky(frequency) THEN ''a'' ELSE ''b'' END'], 'segmentation.scores',
       true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')
FROM (SELECT segmentation.behavior_agg(t) b FROM (VALUES ('2024-04-01'::timestamptz)) v(t)) x;
SELECT rolsuper AS definer_became_superuser FROM pg_roles WHERE rolname = 'regress_definer';
-- a good rule: a row per move, in byte order of the schemes, the first with
-- the user's segments from now on; none when the user is in them already; a
-- scheme that is gone is left
CREATE TEMP TABLE assign_cases (n int, c jsonb);
INSERT INTO assign_cases VALUES (1, '{}'), (2, '{"s": ["b", "2024-04-01"], "t": ["old", "2024-04-01"]}'),
  (3, '{"s": ["b", "2024-04-01"]}'), (4, '{"s": "b", "t": {"old": 1}}'),
  (5, '{"s": ["b", "2024-04-01"], "T": ["x", "2024-03-01"], "t": ["young", "2024-04-02"]}');
SELECT j.n, m.*
FROM (SELECT segmentation.behavior_agg(t) b FROM (VALUES ('2024-04-01'::timestamptz)) v(t)) x, assign_cases j,
     LATERAL segmentation._assign_segments(1::bigint, b, c, '2024-05-01', '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
       ARRAY['s', 't'], ARRAY['CASE WHEN frequency > 1 THEN ''a'' ELSE ''b'' END', 'CASE WHEN r_score = 1 THEN ''old'' END'],
       'segmentation.scores', true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}') m
ORDER BY j.n;
-- the same rows from the select list, as refresh calls it (one call per row,
-- no function scan); a set cut short by LIMIT is not resumed for the next user
SELECT n, (m).scheme, (m).to_segment
FROM (SELECT j.n, segmentation._assign_segments(1::bigint, b, c, '2024-05-01', '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
       ARRAY['s', 't'], ARRAY['CASE WHEN frequency > 1 THEN ''a'' ELSE ''b'' END', 'CASE WHEN r_score = 1 THEN ''old'' END'],
       'segmentation.scores', true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}') m
      FROM (SELECT segmentation.behavior_agg(t) b FROM (VALUES ('2024-04-01'::timestamptz)) v(t)) x, assign_cases j) s
ORDER BY n, (m).scheme COLLATE "C";
SELECT j.n, z.scheme
FROM (SELECT segmentation.behavior_agg(t) b FROM (VALUES ('2024-04-01'::timestamptz)) v(t)) x, assign_cases j,
     LATERAL (SELECT (m).scheme FROM (SELECT segmentation._assign_segments(1::bigint, b, c, '2024-05-01', '{}',
       '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}', ARRAY['s', 't'],
       ARRAY['CASE WHEN frequency > 1 THEN ''a'' ELSE ''b'' END', 'CASE WHEN r_score = 1 THEN ''old'' END'],
       'segmentation.scores', true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}') m) s LIMIT 1) z
ORDER BY j.n;
SELECT segmentation._assign_segments(1::bigint, segmentation.behavior_agg(now()), '["s"]', now(), '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
       ARRAY['s'], ARRAY['''b'''], 'segmentation.scores', true, now(), '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}');
-- A user whose behavior did not change is not evaluated when the rules
-- provably give what they gave at the last refresh (current, here made wrong
-- on purpose to show which users were evaluated): same UTC day, every
-- comparison of recency_days (30.04 to 30.42 days), tenure_days or
-- days_since(feature) with a constant, and the RFM scores, come out the
-- same; on a later UTC day, also the user's last event is before every window
-- the rules read (their longest: active_days_prev_28 spans 56 days,
-- periods_with periods x period) and no rule reads decayed_activity.
CREATE TEMP TABLE prune_cases (label text, changed boolean, last_as_of timestamptz, as_of timestamptz, last_breaks float8[], rule text);
INSERT INTO prune_cases VALUES
  ('same day, no threshold crossed: trusted', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN recency_days > 30.5 THEN ''old'' WHEN 3 >= tenure_days THEN ''young'' ELSE ''new'' END'),
  ('behavior changed: evaluated', true, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN recency_days > 30.5 THEN ''old'' WHEN 3 >= tenure_days THEN ''young'' ELSE ''new'' END'),
  ('threshold crossed: evaluated', false, '2024-05-01 01:00', '2024-05-01 13:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN recency_days > 30.5 THEN ''old'' WHEN 3 >= tenure_days THEN ''young'' ELSE ''new'' END'),
  ('constant on the left, crossed: evaluated', false, '2024-05-01 01:00', '2024-05-01 13:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN 30.5 < recency_days THEN ''old'' ELSE ''new'' END'),
  ('another UTC day, no window read: trusted', false, '2024-04-30 23:00', '2024-05-01 01:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN recency_days > 30.5 THEN ''old'' ELSE ''new'' END'),
  ('another UTC day, no event in the longest window: trusted', false, '2024-04-30 23:00', '2024-05-01 01:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN active_days_28 > 0 OR current_streak > 0 OR events_in(''*'', ''29 days'') > 0 THEN ''old'' ELSE ''new'' END'),
  ('another UTC day, the last event in active_days_prev_28: evaluated', false, '2024-04-30 23:00', '2024-05-01 01:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN active_days_prev_28 > 0 THEN ''old'' ELSE ''new'' END'),
  ('another UTC day, the last event in a window of events_in: evaluated', false, '2024-04-30 23:00', '2024-05-01 01:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN events_in(''*'', ''30 days'') > 5 THEN ''old'' ELSE ''new'' END'),
  ('another UTC day, the last event in the span of periods_with: evaluated', false, '2024-04-30 23:00', '2024-05-01 01:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN periods_with(''*'', 1, ''10 days'', 3) > 5 THEN ''old'' ELSE ''new'' END'),
  ('another UTC day, decayed_activity: evaluated', false, '2024-04-30 23:00', '2024-05-01 01:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN decayed_activity > 100 THEN ''old'' ELSE ''new'' END'),
  ('same day, windows of the vocabulary: trusted', false, '2024-05-01 01:00', '2024-05-01 23:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN events_in(''*'', ''31 days'') > 5 OR days_in(''*'', ''31 days'') > 5 OR value_in(''*'', ''31 days'') > 5 OR periods_with(''*'', 1, ''31 days'', 1) > 5 THEN ''old'' ELSE ''new'' END'),
  ('same day, days_since(feature) not crossed: trusted', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN days_since(''*'') > 30.5 THEN ''old'' ELSE ''new'' END'),
  ('same day, days_since(feature) crossed: evaluated', false, '2024-05-01 01:00', '2024-05-01 13:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN 30.5 < days_since(''*'') THEN ''old'' ELSE ''new'' END'),
  ('days_since read otherwise: evaluated', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN round(days_since(''*'')) > 40 THEN ''old'' ELSE ''new'' END'),
  ('recency_days read otherwise: evaluated', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN round(recency_days) > 40 THEN ''old'' ELSE ''new'' END'),
  ('r_score unchanged: trusted', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,30},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN r_score = 5 THEN ''old'' ELSE ''new'' END'),
  ('r_score changed with the breakpoints: evaluated', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,30.2},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN r_score = 5 THEN ''old'' ELSE ''new'' END'),
  ('breakpoints changed, not read: trusted', false, '2024-05-01 01:00', '2024-05-01 10:00', '{{1,2,3,30.2},{1,2,3,4},{1,2,3,4}}',
   'CASE WHEN frequency > 0 THEN ''old'' ELSE ''new'' END');
SELECT c.label, (SELECT s.segments FROM segmentation._assign_segments(1::bigint, x.b, '{"s": ["wrong", "2024-04-01"]}', c.as_of, '{}',
       '{{1,2,3,30.3},{1,2,3,4},{1,2,3,4}}', ARRAY['s'], ARRAY[c.rule], 'segmentation.scores',
       c.changed, c.last_as_of, c.last_breaks) s) AS segments
FROM (SELECT segmentation.behavior_agg(t) b FROM (VALUES ('2024-04-01'::timestamptz)) v(t)) x, prune_cases c;
DELETE FROM segmentation.segments WHERE scheme = 's';

-- good predicates, stored as checked
SELECT segmentation.define_segment('activity', 'daily', 'active_days_7 >= 6', 300, 'Active most days');
SELECT segmentation.define_segment('activity', 'weekly', 'active_days_28 >= 4 AND recency_days < 7', 200);
SELECT segmentation.define_segment('activity', 'buyer', 'monetary > 0 AND ''purchase'' = ANY (features_used)', 100);
SELECT segmentation.define_segment('activity', 'deep', 'CASE WHEN frequency > 50 THEN abs(monetary) >= 0 ELSE false END', 50);
SELECT scheme, name, priority, checked_predicate FROM segmentation.segments ORDER BY scheme, priority DESC;

-- the presets
SELECT segmentation.use_preset('engagement_ladder');
SELECT segmentation.use_preset('engagement_ladder', 'signed_up', 'created_project', engaged_days => 30);
SELECT segmentation.use_preset('nope');
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signed_up', activation_event => 'created_project');
SELECT segmentation.use_preset('rfm');
SELECT scheme, count(*) FROM segmentation.segments GROUP BY 1 ORDER BY 1;

-- the first refresh is full
SELECT segmentation.refresh(as_of => '2024-05-01 12:00+00') IS NOT NULL AS ran;
SELECT mode, events_read, users_changed, transitions, error FROM segmentation.refresh_runs WHERE error IS NULL ORDER BY id;
SELECT (SELECT count(*) FROM app_events) AS source_events,
       (SELECT sum(segmentation.event_count(behavior)) FROM segmentation.profiles) AS profiled_events;
SELECT scheme, segment, users, round(share::numeric, 3) AS share FROM segmentation.segment_summary ORDER BY 1, 2;
SELECT user_id, frequency, round(recency_days::numeric, 2) AS recency, active_days_28, active_days_prev_28, rfm_cell, activity, lifecycle, rfm
FROM segmentation.user_scores WHERE user_id IN (1, 2, 5, 11, 30, 59) ORDER BY user_id;

-- incremental: new events (one late, with an old timestamp), a new user, a deleted user
INSERT INTO app_events VALUES (1, '2024-05-01 08:00+00', 'purchase', 99, NULL),
                              (30, '2024-01-02 00:00+00', 'view', NULL, NULL),
                              (1000, '2024-05-02 09:00+00', 'signed_up', NULL, NULL);
DELETE FROM app_events WHERE uid = 59;
UPDATE app_events SET revenue = 1000 WHERE uid = 2 AND revenue IS NOT NULL AND at = (SELECT max(at) FROM app_events WHERE uid = 2 AND revenue IS NOT NULL);
SELECT count(*) AS queued FROM segmentation.pending_events;
-- (one INSERT statement, one packed queue row: src/capture.c)
SELECT count(*) AS batches, sum(events) AS events FROM segmentation.pending_batches;
SELECT source_id, user_id, ts, event, value FROM segmentation.pending_events ORDER BY user_id, ts;
SELECT user_id FROM segmentation.dirty_users ORDER BY 1;
-- the queue's decoder trusts no byte: a batch cut anywhere, or with an
-- unknown flag, a length past its end, or text not of the database's
-- encoding, is an error (data_corrupted), never a crash or an over-read
SELECT b.batch FROM segmentation.pending_batches b \gset
DO $$
DECLARE
	whole bytea := (SELECT b.batch FROM segmentation.pending_batches b LIMIT 1);
	refused int := 0;
	accepted int := 0;
BEGIN
	FOR n IN 0 .. octet_length(whole) - 1 LOOP
		BEGIN
			PERFORM count(*) FROM segmentation._queued_events(substring(whole FROM 1 FOR n));
			accepted := accepted + 1;
		EXCEPTION WHEN data_corrupted THEN
			refused := refused + 1;
		END;
	END LOOP;
	RAISE WARNING 'prefixes of the batch: % refused, % accepted (those that end on an event)', refused, accepted;
END $$;
SELECT segmentation._queued_events('\x80'::bytea);
SELECT segmentation._queued_events('\x30'::bytea);
SELECT segmentation._queued_events('\x1001'::bytea);
SELECT segmentation._queued_events('\x00ffffffff'::bytea);
SELECT segmentation._queued_events('\x0e0000000241ff'::bytea);
SELECT segmentation._queued_events('\x0e00000002410a'::bytea);
SELECT * FROM segmentation._queued_events('\x0f'::bytea);
-- (numbers in network byte order, whatever the server's: the queue is
-- dumped with the state and may be restored on another machine)
SELECT * FROM segmentation._queued_events('\x0000000001370000000000000000000000017a3ff0000000000000'::bytea);
SELECT segmentation._queued_without(:'batch'::bytea, '1') IS NULL AS all_gone,
       (SELECT count(*) FROM segmentation._queued_events(segmentation._queued_without(:'batch'::bytea, '1'))) AS left_after_user_1;
SELECT segmentation.refresh(as_of => '2024-05-02 12:00+00') IS NOT NULL AS ran;
SELECT mode, events_read, users_changed, error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT count(*) AS queued_after FROM segmentation.pending_events;
-- the stored behaviors equal a recompute from the source, to the byte
SELECT count(*) AS users, count(*) FILTER (WHERE p.behavior::text = s.b::text) AS identical
FROM segmentation.profiles p FULL JOIN (
	SELECT uid, segmentation.behavior_agg(at, f.id, revenue::float8) b
	FROM app_events LEFT JOIN segmentation._feature_map f ON f.event = name GROUP BY uid) s ON s.uid = p.user_id;
SELECT user_id, frequency, monetary, lifecycle FROM segmentation.user_scores WHERE user_id IN (1, 2, 30, 59, 1000) ORDER BY 1;

-- moves: transitions, history, migration
SELECT scheme, user_id, from_segment, to_segment, at FROM segmentation.transitions
WHERE run_id = (SELECT max(id) FROM segmentation.refresh_runs) ORDER BY scheme, user_id;
SELECT user_id, segment, entered_at, exited_at FROM segmentation.membership_history
WHERE scheme = 'lifecycle' AND user_id IN (59, 1000) ORDER BY user_id, entered_at;
-- how many were in "churned" at each refresh
SELECT d::date, count(*) FROM segmentation.membership_history h, (VALUES ('2024-05-01 12:00+00'::timestamptz), ('2024-05-02 12:00+00')) v(d)
WHERE scheme = 'lifecycle' AND segment = 'churned' AND entered_at <= d AND (exited_at IS NULL OR exited_at > d) GROUP BY 1 ORDER BY 1;
SELECT * FROM segmentation.segment_migration WHERE scheme = 'lifecycle' AND period = '2024-05-02' ORDER BY 2, 3;

-- the same as_of twice: nothing moves
SELECT segmentation.refresh(as_of => '2024-05-02 12:00+00') IS NOT NULL AS ran;
SELECT events_read, users_changed, transitions FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;

-- time alone moves users (recency recomputed from stored behaviors, no event read)
SELECT segmentation.refresh(as_of => '2024-06-01 00:00+00') IS NOT NULL AS ran;
SELECT events_read, users_changed, transitions > 0 AS moved FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT segment, users FROM segmentation.segment_summary WHERE scheme = 'lifecycle' ORDER BY 1;

-- a full refresh agrees with the incremental state
CREATE TEMP TABLE before AS SELECT * FROM segmentation.user_scores;
SELECT segmentation.refresh(true, '2024-06-01 00:00+00') IS NOT NULL AS ran;
SELECT mode, events_read, users_changed, transitions FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT count(*) AS differing FROM (SELECT * FROM before EXCEPT SELECT * FROM segmentation.user_scores) d;

-- a new scheme is entered by everyone; a scheme whose last segment is
-- dropped is left by everyone: its stays end, the moves go to the outbox
SELECT segmentation.define_segment('tier', 'all', 'true');
SELECT segmentation.refresh(as_of => '2024-06-01 00:00+00') IS NOT NULL AS ran;
SELECT scheme, count(*) FROM segmentation.memberships GROUP BY 1 ORDER BY 1;
SELECT segmentation.drop_segment('tier', 'all');
SELECT segmentation.refresh(as_of => '2024-06-01 00:00+00') IS NOT NULL AS ran;
SELECT scheme, count(*) FROM segmentation.memberships GROUP BY 1 ORDER BY 1;
SELECT coalesce(from_segment, '-') AS from_segment, coalesce(to_segment, '-') AS to_segment, count(*)
FROM segmentation.transitions WHERE scheme = 'tier' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE exited_at IS NULL) AS current, count(*) AS stays,
       count(*) FILTER (WHERE segment = 'all') AS in_all FROM segmentation.membership_history WHERE scheme = 'tier';
SELECT count(*) AS profiles_still_in_tier FROM segmentation.profiles WHERE segments ? 'tier';

-- without any segment, everyone leaves every scheme, ending the stay they
-- were in (rolled back)
BEGIN;
CREATE TEMP TABLE stays_before ON COMMIT DROP AS SELECT * FROM segmentation.memberships;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT scheme, name FROM segmentation.segments LOOP
		PERFORM segmentation.drop_segment(r.scheme, r.name);
	END LOOP;
END $$;
SELECT count(*) AS segments_left FROM segmentation.segments;
SELECT segmentation.refresh(as_of => '2024-06-02 00:00+00') IS NOT NULL AS ran;
SELECT (SELECT count(*) FROM stays_before) AS stays_before,
       (SELECT count(*) FROM segmentation.memberships) AS memberships,
       (SELECT count(*) FROM segmentation.profiles WHERE segments <> '{}') AS profiles_with_segments,
       (SELECT count(*) FROM segmentation.transitions t JOIN stays_before s USING (scheme, user_id)
        WHERE t.run_id = (SELECT max(id) FROM segmentation.refresh_runs) AND t.from_segment = s.segment
          AND t.from_entered_at = s.entered_at AND t.to_segment IS NULL AND t.at = '2024-06-02 00:00+00') AS stays_ended;
ROLLBACK;

-- TRUNCATE makes the next refresh full; dropping a segment moves its users
CREATE TEMP TABLE stays_before AS SELECT * FROM segmentation.memberships;
TRUNCATE app_events;
SELECT segmentation.drop_segment('activity', 'deep');
SELECT segmentation.drop_segment('activity', 'deep');
SELECT segmentation.refresh(as_of => '2024-06-01 00:00+00') IS NOT NULL AS ran;
SELECT mode, events_read, transitions FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT count(*) AS profiles, (SELECT count(*) FROM segmentation.memberships) AS memberships FROM segmentation.profiles;
-- users with no event left leave every scheme, ending the stay they were in
SELECT (SELECT count(*) FROM stays_before) AS stays_before,
       (SELECT count(*) FROM segmentation.transitions t JOIN stays_before s USING (scheme, user_id)
        WHERE t.run_id = (SELECT max(id) FROM segmentation.refresh_runs) AND t.from_segment = s.segment
          AND t.from_entered_at = s.entered_at AND t.to_segment IS NULL) AS stays_ended;

-- the BI views expose standard types only, and every view and column is commented
SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'segmentation' AND table_name IN ('user_scores', 'segment_summary', 'segment_migration')
  AND data_type NOT IN ('bigint', 'integer', 'double precision', 'text', 'timestamp with time zone', 'boolean')
ORDER BY 1, 2;
SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind = 'v' AND c.relname NOT LIKE '\_%'
  AND (col_description(c.oid, a.attnum) IS NULL OR obj_description(c.oid, 'pg_class') IS NULL);

-- roles: a reader reads the aggregate views and nothing else (user_scores,
-- one row per user, is the analyst's); an admin defines and refreshes
CREATE ROLE regress_reader LOGIN IN ROLE segmentation_reader;
SET ROLE regress_reader;
SELECT count(*) >= 0 AS reads_user_scores FROM segmentation.user_scores;
SELECT count(*) >= 0 AS reads_segment_summary FROM segmentation.segment_summary;
SELECT count(*) >= 0 AS reads_segment_migration FROM segmentation.segment_migration;
SELECT count(*) FROM segmentation.profiles;
SELECT count(*) FROM segmentation.segments;
SELECT count(*) FROM segmentation.membership_history;
SELECT count(*) FROM public.app_events;
SELECT segmentation.refresh();
SELECT segmentation.define_segment('activity', 'x', 'true');
RESET ROLE;
SET ROLE regress_definer;
SELECT segmentation.define_segment('activity', 'everyone', 'frequency >= 0', 1);
SELECT segmentation.refresh(as_of => '2024-06-02') IS NOT NULL AS admin_refreshed;
SELECT count(*) FROM public.app_events;
RESET ROLE;
SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;

-- the views the roles read have flat standard column types only (BI tools
-- read no custom type: DESIGN "Who uses it"), and the user id the source's
-- (but scores: the columns predicates read, for the admins who write
-- them, not a BI view; settings.set_by was a name)
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind = 'v'
  AND (has_table_privilege('segmentation_reader', c.oid, 'SELECT') OR has_table_privilege('segmentation_analyst', c.oid, 'SELECT')
       OR has_table_privilege('segmentation_admin', c.oid, 'SELECT'))
  AND a.atttypid NOT IN ('bigint'::regtype, 'integer'::regtype, 'double precision'::regtype, 'text'::regtype,
                         'timestamptz'::regtype, 'boolean'::regtype, 'date'::regtype)
ORDER BY 1, 2;

-- without pg_cron, scheduling explains how to get it
SELECT segmentation.schedule_refresh();
SELECT segmentation.unschedule_refresh();

DROP SCHEMA regress_definer CASCADE;
DROP OWNED BY regress_definer, regress_reader;
DROP ROLE regress_definer, regress_reader;

-- leave the database as the next test expects it
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
DROP TABLE app_events, other_events CASCADE;
