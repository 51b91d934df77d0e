-- Event conditions (DESIGN section 4, issue 15 point 4): features whose
-- events count only when a condition holds on the event's row, features
-- that overlap, behavior_agg_features, incremental == full.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET client_min_messages = warning;
SET search_path = public, segmentation;

-- an error as its SQLSTATE and message
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- ===================================================================
-- behavior_agg_features: once in the totals, once per feature
-- ===================================================================
CREATE TABLE fev (uid int, ts timestamptz, f int, extra int4[], v float8);
INSERT INTO fev VALUES
	(1, '2024-01-01 10:00', 0, '{1}', 10),
	(1, '2024-01-01 11:00', 0, NULL, 100),
	(1, '2024-01-03 09:00', NULL, '{1,2,NULL,2}', 5),
	(1, '2024-01-04 09:00', 3, '{3}', 7),       -- extra = its feature: counted once
	(2, '2024-01-02 00:00', NULL, '{}', 1),
	(2, NULL, 0, '{1}', 50),                     -- no ts: no event
	(2, '2024-01-05 00:00', 0, '{1,2}', -3);
SELECT uid, event_count(b) AS events, value_sum(b) AS value, active_days(b) AS days, features(b) AS features,
       feature_count(b, 0) AS f0, feature_count(b, 1) AS f1, feature_count(b, 2) AS f2, feature_count(b, 3) AS f3
FROM (SELECT uid, behavior_agg_features(ts, f, extra, v) b FROM fev GROUP BY uid) x ORDER BY uid;
-- against plain SQL over the rows: totals count each event once; each
-- feature counts the events whose feature or extra features name it
WITH ev AS (SELECT * FROM fev WHERE ts IS NOT NULL),
     per AS (SELECT DISTINCT uid, ts, v, id FROM (SELECT uid, ts, v, f AS id FROM ev UNION ALL
                                                 SELECT uid, ts, v, unnest(extra) FROM ev) u WHERE id IS NOT NULL)
SELECT (SELECT count(*) FROM (
          SELECT uid, count(*), sum(v), count(DISTINCT ts::date) FROM ev GROUP BY uid
          EXCEPT SELECT uid, event_count(b), value_sum(b), active_days(b)
                 FROM (SELECT uid, behavior_agg_features(ts, f, extra, v) b FROM fev GROUP BY uid) x) d) AS totals_differing,
       (SELECT count(*) FROM (
          SELECT uid, id, count(*), sum(v) FROM per GROUP BY uid, id
          EXCEPT SELECT uid, id, feature_count(b, id), value_in(b, id, '2024-01-31')
                 FROM (SELECT uid, behavior_agg_features(ts, f, extra, v) b FROM fev GROUP BY uid) x, unnest(features(b)) id) d)
         AS features_differing;
-- '*' in a window counts each event once
SELECT uid, events_in(b, -1, '2024-01-05', '7 days') AS events_7, value_in(b, -1, '2024-01-05', '7 days') AS value_7,
       periods_with(b, -1, '2024-01-05', 2, '1 day', 5) AS days_with_2
FROM (SELECT uid, behavior_agg_features(ts, f, extra, v) b FROM fev GROUP BY uid) x ORDER BY uid;
-- without extra features: the bytes of behavior_agg
SELECT count(*) FILTER (WHERE a::text = b::text) AS identical, count(*) AS groups
FROM (SELECT uid, behavior_agg(ts, f, v) a, behavior_agg_features(ts, f, NULL, v) b FROM fev GROUP BY uid) x;
SELECT behavior_agg(ts, f, v)::text = behavior_agg_features(ts, f, '{}', v)::text AS empty_extra_identical FROM fev;
-- the text form round-trips (the validator accepts what the encoder writes)
SELECT b::text::behavior::text = b::text AS round_trip
FROM (SELECT behavior_agg_features(ts, f, extra, v) b FROM fev) x;
-- merging keeps the extra features apart from the totals
SELECT event_count(behavior_union_agg(b)) AS events, feature_count(behavior_union_agg(b), 1) AS f1
FROM (SELECT uid, behavior_agg_features(ts, f, extra, v) b FROM fev GROUP BY uid) x;
-- errors name the argument
SELECT pg_temp.try($$SELECT behavior_agg_features(now(), 0, '{-1}', 1)$$);
SELECT pg_temp.try($$SELECT behavior_agg_features(now(), 0, '{{1},{2}}', 1)$$);
SELECT pg_temp.try($$SELECT behavior_agg_features(ts, 0, '{1}', 1) FROM (VALUES (now()), ('infinity')) v(ts)$$);
-- an id is an extra feature everywhere or nowhere
SELECT pg_temp.try($$SELECT behavior_agg_features(ts, f, e, 1) FROM (VALUES (now(), 1, NULL::int4[]), (now(), 0, '{1}')) v(ts, f, e)$$);
SELECT pg_temp.try($$SELECT behavior_union_agg(b) FROM (SELECT behavior_agg(now(), 1) b UNION ALL SELECT behavior_agg_features(now(), 0, '{1}', 1)) x$$);
-- a forged value: extra features flagged and none is
SELECT pg_temp.try($$SELECT '\x02080100000100'::behavior$$);
-- forced parallel plans give the bytes of a serial plan
CREATE TABLE fbig AS SELECT uid % 3 AS g, ts + (k * interval '1 hour') AS ts, f, extra, v FROM fev, generate_series(1, 2000) k;
ANALYZE fbig;
CREATE TABLE fserial AS SELECT g, behavior_agg_features(ts, f, extra, v) b FROM fbig GROUP BY g;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT g, behavior_agg_features(ts, f, extra, v) FROM fbig GROUP BY g;
SELECT count(*) AS groups, count(*) FILTER (WHERE p.b::text = s.b::text) AS identical
FROM (SELECT g, behavior_agg_features(ts, f, extra, v) b FROM fbig GROUP BY g) p JOIN fserial s USING (g);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
DROP TABLE fev, fbig, fserial;

-- ===================================================================
-- define_feature with a condition
-- ===================================================================
SELECT segmentation.set_setting('min_cell_size', '0');
CREATE TABLE cev (uid int, at timestamptz, name text, amount numeric, plan text, qty int);
-- nothing tracked yet: nothing to check a condition against
SELECT pg_temp.try($$SELECT define_feature('big_purchase', ARRAY['purchase'], 'amount > 50')$$);
SELECT track('cev', 'uid', 'at', 'name', 'amount');
SELECT define_feature('purchase', ARRAY['purchase']);
SELECT define_feature('big_purchase', ARRAY['purchase'], 'amount > 50');
SELECT define_feature('pro_login', ARRAY['login'], $$plan = 'pro'$$);
SELECT define_feature('login', ARRAY['login']);
-- an event name belongs to one feature without a condition
SELECT pg_temp.try($$SELECT define_feature('buy', ARRAY['purchase'])$$);
SELECT id, name, event_names, condition, checked_condition, defined_by = session_user AS defined_by_caller
FROM features ORDER BY id;
SELECT * FROM _feature_map ORDER BY 1, 2;

-- bad conditions, each with its errcode
SELECT c, pg_temp.try(format('SELECT segmentation.define_feature(%L, ARRAY[%L], %L)', 'x', 'purchase', c))
FROM unnest(ARRAY[
	'',
	'amount',                              -- not boolean
	'nope > 1',                            -- no such column
	'cev IS NULL',                         -- the row itself
	'ctid IS NULL',                        -- a system column
	'amount > (SELECT 1)',                 -- a subquery
	$$events_in('purchase') > 1$$,         -- the rule vocabulary
	$$segmentation.in_segment('a', 'b')$$,
	'random() > 0.5',                      -- volatile
	'amount::text::numeric > 1',           -- a cast to numeric from text
	'public.f(amount)',                    -- a function of another schema
	'amount OPERATOR(public.===) 1',       -- an operator of another schema
	'amount / 2 > 1',                      -- arithmetic: no operator but comparisons
	-- review 15: nothing that can raise on a row (F4), grow with it (F3)
	-- or print it by the session's settings (F6)
	'100 / qty > 10',                      -- division by zero
	'qty + 1 > 2',                         -- overflow
	'plan::int > 5',                       -- text input
	'amount::float8 > 1',                  -- an explicit cast of a column
	'qty::int2 > 1',                       -- narrowing
	'amount::text = ''0.3''',              -- output by the session's settings
	'length(plan || plan) > 0',            -- concatenation
	$$repeat(plan, 2) = 'x'$$,
	$$substr(plan, 1, 2) = 'pr'$$,         -- a function of the predicates' list
	$$plan ~ 'p'$$,                        -- a regular expression
	$$plan LIKE 'pro\'$$,                 -- LIKE raises when it reaches the end
	$$plan LIKE 'p#%' ESCAPE '#'$$,
	'greatest(amount, qty) > 1',
	'amount > 2 * 3',                      -- a computation on constants
	'x.amount > 1',                        -- qualified
	'amount > 1; SELECT 1'
]) c;
SELECT pg_temp.try($$SELECT define_feature('x', ARRAY['purchase'], NULL::text)$$) AS unconditional_clash;

-- ===================================================================
-- refresh: overlap counted right, NULL condition = false
-- ===================================================================
INSERT INTO cev VALUES
	(1, '2024-03-01 10:00', 'purchase', 10, 'free', 1),
	(1, '2024-03-02 10:00', 'purchase', 100, 'free', 1),
	(1, '2024-03-02 11:00', 'login', NULL, 'pro', NULL),
	(2, '2024-03-03 10:00', 'login', NULL, NULL, NULL),     -- NULL plan: not pro_login
	(2, '2024-03-03 11:00', 'purchase', NULL, NULL, 2),     -- NULL amount: not big
	(3, '2024-03-04 10:00', 'purchase', 51, 'pro', 1),
	(3, '2024-03-04 12:00', 'view', 999, 'pro', 1);
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
SELECT mode FROM refresh_runs ORDER BY id DESC LIMIT 1;
SELECT define_segment('buyers', 'big', $$events_in('big_purchase') >= 1$$);
SELECT define_segment('activity', 'three', $$events_in('*') >= 3$$);
SELECT define_segment('pro', 'yes', $$events_in('pro_login', '30 days') >= 1$$);
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
SELECT p.user_id, event_count(p.behavior) AS events, value_sum(p.behavior) AS value,
       feature_count(p.behavior, 0) AS purchase, feature_count(p.behavior, 1) AS big_purchase,
       feature_count(p.behavior, 2) AS pro_login, feature_count(p.behavior, 3) AS login,
       events_in(p.behavior, -1, '2024-03-10', '30 days') AS all_30, p.segments ->> 'buyers' AS buyers
FROM profiles p ORDER BY 1;
-- the same from plain SQL over the raw events
SELECT uid, count(*) AS events, count(*) FILTER (WHERE name = 'purchase') AS purchase,
       count(*) FILTER (WHERE name = 'purchase' AND amount > 50) AS big_purchase,
       count(*) FILTER (WHERE name = 'login' AND plan = 'pro') AS pro_login
FROM cev GROUP BY uid ORDER BY uid;
SELECT user_id, frequency, features_used FROM scores ORDER BY 1;

-- incremental == full: after INSERT (a late event too) and after UPDATE
-- of a condition column
CREATE FUNCTION pg_temp.incremental_equals_full(as_of timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	inc text;
	full_ text;
	m text;
BEGIN
	PERFORM segmentation.refresh(false, as_of);
	SELECT mode INTO m FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
	SELECT string_agg(format('%s:%s:%s', p.user_id, p.behavior, p.segments - '{}'::text[]), ' ' ORDER BY p.user_id) INTO inc
	FROM (SELECT user_id, behavior, (SELECT jsonb_object_agg(k, v -> 0) FROM jsonb_each(segments) e(k, v)) AS segments
	      FROM segmentation.profiles) p;
	PERFORM segmentation.refresh(true, as_of);
	SELECT string_agg(format('%s:%s:%s', p.user_id, p.behavior, p.segments - '{}'::text[]), ' ' ORDER BY p.user_id) INTO full_
	FROM (SELECT user_id, behavior, (SELECT jsonb_object_agg(k, v -> 0) FROM jsonb_each(segments) e(k, v)) AS segments
	      FROM segmentation.profiles) p;
	RETURN m || CASE WHEN inc = full_ THEN ', equal' ELSE ', DIFFERENT: ' || inc || ' / ' || full_ END;
END $$;
INSERT INTO cev VALUES (2, '2024-03-01 09:00', 'purchase', 75, NULL, 1),   -- late, big
                       (4, '2024-03-05 10:00', 'login', NULL, 'pro', NULL),
                       (4, '2024-03-05 11:00', 'view', NULL, 'pro', NULL);
SELECT pg_temp.incremental_equals_full('2024-03-10');
SELECT user_id, feature_count(behavior, 1) AS big_purchase, feature_count(behavior, 2) AS pro_login, segments ->> 'buyers' AS buyers
FROM profiles ORDER BY 1;
-- the users of a queued event that a feature with a condition lists are
-- read again from the sources (events_read counts their rows)
INSERT INTO cev VALUES (3, '2024-03-06 10:00', 'purchase', 20, 'pro', 1);
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
SELECT mode, events_read, users_changed FROM refresh_runs ORDER BY id DESC LIMIT 1;
-- an event no condition looks at is merged as before
INSERT INTO cev VALUES (4, '2024-03-06 10:00', 'view', NULL, NULL, NULL);
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
SELECT mode, events_read, users_changed FROM refresh_runs ORDER BY id DESC LIMIT 1;
-- UPDATE of a condition column moves the user out of the segment
UPDATE cev SET amount = 5 WHERE uid = 1 AND amount = 100;
SELECT pg_temp.incremental_equals_full('2024-03-10');
SELECT user_id, feature_count(behavior, 1) AS big_purchase, segments ->> 'buyers' AS buyers FROM profiles ORDER BY 1;
UPDATE cev SET plan = 'pro' WHERE uid = 2 AND name = 'login';
DELETE FROM cev WHERE uid = 3 AND amount = 51;
SELECT pg_temp.incremental_equals_full('2024-03-10');
SELECT user_id, feature_count(behavior, 1) AS big_purchase, feature_count(behavior, 2) AS pro_login FROM profiles ORDER BY 1;

-- redefining a condition makes the next refresh full
SELECT define_feature('big_purchase', ARRAY['purchase'], 'amount >= 75');
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
SELECT mode FROM refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, feature_count(behavior, 1) AS big_purchase FROM profiles ORDER BY 1;
-- a feature that loses its condition may not keep a name another one has
SELECT pg_temp.try($$SELECT segmentation.define_feature('pro_login', ARRAY['login'], NULL)$$) AS pro_login_unconditional;
SELECT define_feature('pro_login', ARRAY['signup'], NULL);
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
SELECT mode FROM refresh_runs ORDER BY id DESC LIMIT 1;
SELECT define_feature('pro_login', ARRAY['login'], $$plan = 'pro'$$);
SELECT pg_temp.incremental_equals_full('2024-03-10');

-- what a condition may say: a filter of comparisons (each checked, and
-- printed back as refresh runs it)
SELECT c, (SELECT checked FROM _check_condition(c, 'cev')) AS checked
FROM unnest(ARRAY[
	'amount > 50', $$plan = 'pro'$$, $$plan IN ('fr', 'de')$$, $$name LIKE 'checkout%'$$, $$plan NOT ILIKE 'P%'$$,
	'amount BETWEEN 10 AND 100 AND NOT (qty IS NULL)', $$lower(plan) = 'pro'$$, 'plan IS NULL', 'qty > 1.5',
	'coalesce(amount, 0) >= 40', $$CASE plan WHEN 'pro' THEN qty > 1 ELSE amount > 3 END$$, 'plan IS DISTINCT FROM name',
	$$length(btrim(plan)) <> 3$$, $$at >= '2024-03-01 12:00+02'$$, $$plan LIKE 'a\\'$$
]) c;

-- no index on the user column: with a condition, an incremental refresh
-- reads the whole table for the users of queued events (review 15 F5): a
-- NOTICE says so, with the CREATE INDEX; none once the index exists
SET client_min_messages = notice;
SELECT define_feature('big_purchase', ARRAY['purchase'], 'amount >= 75') AS id;
CREATE INDEX cev_uid ON cev (uid, at);
SELECT define_feature('big_purchase', ARRAY['purchase'], 'amount >= 75') AS id;
DROP INDEX cev_uid;
SET client_min_messages = warning;

-- a writer of a tracked table cannot make a condition fail on its row
-- (review 15 F4: the first such row stopped every refresh): a division
-- is refused at define, and rows of any values refresh
SELECT pg_temp.try($$SELECT segmentation.define_feature('per_item', ARRAY['purchase'], 'amount > 0 AND 100 / qty > 10')$$);
SELECT define_feature('per_item', ARRAY['purchase'], 'amount > 0 AND qty < 10');
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
INSERT INTO cev VALUES (5, '2024-03-07 10:00', 'purchase', 20, 'n/a\', 0);
SELECT refresh(as_of => '2024-03-10') IS NOT NULL AS ran;
UPDATE cev SET qty = 1 WHERE uid = 5;
SELECT pg_temp.incremental_equals_full('2024-03-10');

-- ===================================================================
-- tracking another table: every condition must check on it too
-- ===================================================================
CREATE TABLE cev2 (uid int, at timestamptz, name text, amount numeric);
SELECT pg_temp.try($$SELECT segmentation.track('cev2', 'uid', 'at', 'name')$$);
ALTER TABLE cev2 ADD COLUMN plan text, ADD COLUMN qty int;
SELECT track('cev2', 'uid', 'at', 'name');
INSERT INTO cev2 VALUES (6, '2024-03-08 10:00', 'purchase', 80, 'pro', 1), (6, '2024-03-08 11:00', 'login', NULL, 'pro', NULL);
SELECT pg_temp.incremental_equals_full('2024-03-10');
SELECT user_id, feature_count(behavior, 0) AS purchase, feature_count(behavior, 1) AS big_purchase,
       feature_count(behavior, 2) AS pro_login FROM profiles WHERE user_id = 6;

-- ===================================================================
-- managed funnels: a step cannot have a condition
-- ===================================================================
SELECT pg_temp.try($$SELECT segmentation.define_funnel('f', ARRAY['login', 'big_purchase'], '7 days')$$);
SELECT define_funnel('f', ARRAY['login', 'purchase'], '7 days');
SELECT pg_temp.try($$SELECT segmentation.define_feature('purchase', ARRAY['purchase'], 'amount > 1')$$);
-- (rows written by hand are refused by refresh)
UPDATE funnels SET steps = ARRAY['login', 'big_purchase'] WHERE name = 'f';
SELECT pg_temp.try($$SELECT segmentation.refresh(as_of => '2024-03-10')$$);
SELECT drop_funnel('f');

DROP EXTENSION segmentation CASCADE;
DROP TABLE cev, cev2;
CREATE EXTENSION segmentation;
