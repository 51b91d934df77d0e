-- The rule vocabulary inside segment predicates (issue 15 point 2, DESIGN
-- section 4): events_in, days_in, value_in, first_use, last_use, days_since
-- and periods_with, a feature named by its define_feature name or '*',
-- evaluated at the refresh's as_of; each predicate's members are those a
-- hand-written query over the raw events selects.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';

CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
SELECT segmentation.define_feature('login', '{login}');
SELECT segmentation.define_feature('core_workflow', '{create_report,share_report}');
SELECT segmentation.define_feature('purchase', '{purchase}');
-- 12 users, 3u events each, spaced u + 5 hours back from 2024-05-10 18:00
-- (after as_of, 12:00, on the same UTC day: windows are whole days and count
-- them, as active_days does)
INSERT INTO ev
SELECT u, '2024-05-10 18:00'::timestamptz - k * (u + 5) * interval '1 hour',
       (ARRAY['login', 'login', 'create_report', 'purchase', 'view', 'share_report'])[1 + (u * k) % 6],
       CASE WHEN (u * k) % 6 = 3 THEN ((u * k) % 7) * 10.5 END
FROM generate_series(1, 12) u, generate_series(1, 3 * u) k;

-- the first segment a product team asks for
SELECT segmentation.define_segment('team', 'engaged',
       $$events_in('login', '7 days') >= 3 AND events_in('core_workflow', '7 days') >= 1$$);
-- one scheme per part of the vocabulary
SELECT segmentation.define_segment('v_events', 'yes', $$events_in('login', '3 days') >= 2$$);
SELECT segmentation.define_segment('v_days', 'yes', $$days_in('*', '10 days') >= 4$$);
SELECT segmentation.define_segment('v_value', 'yes', $$value_in('purchase', '14 days') > 40$$);
SELECT segmentation.define_segment('v_first', 'yes', $$first_use('core_workflow') < '2024-05-05'$$);
SELECT segmentation.define_segment('v_last', 'never', $$last_use('purchase') IS NULL$$);
SELECT segmentation.define_segment('v_since', 'yes', $$days_since('login') < 1.2$$);
SELECT segmentation.define_segment('v_periods', 'yes', $$periods_with('*', 2, '3 days', 4) >= 3$$);
SELECT segmentation.define_segment('v_all_time', 'yes',
       $$events_in('core_workflow') >= 5 AND days_in('login') >= 3 AND value_in('*') > 100$$);
-- stored as checked: qualified, with constants typed (what refresh checks again)
SELECT scheme, checked_predicate FROM segmentation.segments ORDER BY scheme;

-- the same questions in plain SQL over the raw events, as of d
CREATE FUNCTION expected(d timestamptz) RETURNS TABLE (scheme text, user_id bigint) LANGUAGE sql AS $$
	WITH e AS (SELECT uid, at, at::date AS day, d::date AS today, name, coalesce(amount, 0) AS amount,
	                  CASE WHEN name = 'login' THEN 'login' WHEN name IN ('create_report', 'share_report') THEN 'core_workflow'
	                       WHEN name = 'purchase' THEN 'purchase' END AS feature FROM ev)
	SELECT 'team', uid FROM e GROUP BY uid
	HAVING count(*) FILTER (WHERE feature = 'login' AND day > today - 7 AND day <= today) >= 3
	   AND count(*) FILTER (WHERE feature = 'core_workflow' AND day > today - 7 AND day <= today) >= 1
	UNION ALL
	SELECT 'v_events', uid FROM e GROUP BY uid
	HAVING count(*) FILTER (WHERE feature = 'login' AND day > today - 3 AND day <= today) >= 2
	UNION ALL
	SELECT 'v_days', uid FROM e GROUP BY uid
	HAVING count(DISTINCT day) FILTER (WHERE day > today - 10 AND day <= today) >= 4
	UNION ALL
	SELECT 'v_value', uid FROM e GROUP BY uid
	HAVING sum(amount) FILTER (WHERE feature = 'purchase' AND day > today - 14 AND day <= today) > 40
	UNION ALL
	SELECT 'v_first', uid FROM e GROUP BY uid
	HAVING min(at) FILTER (WHERE feature = 'core_workflow') < '2024-05-05'
	UNION ALL
	SELECT 'v_last', uid FROM e GROUP BY uid HAVING count(*) FILTER (WHERE feature = 'purchase') = 0
	UNION ALL
	SELECT 'v_since', uid FROM e GROUP BY uid
	HAVING extract(epoch FROM d - max(at) FILTER (WHERE feature = 'login')) / 86400 < 1.2
	UNION ALL
	SELECT 'v_periods', uid FROM (
		SELECT uid, (today - day) / 3 AS k, count(*) AS n FROM e
		WHERE day > today - 12 AND day <= today GROUP BY 1, 2) p
	WHERE n >= 2 GROUP BY uid HAVING count(*) >= 3
	UNION ALL
	SELECT 'v_all_time', uid FROM e GROUP BY uid
	HAVING count(*) FILTER (WHERE feature = 'core_workflow') >= 5
	   AND count(DISTINCT day) FILTER (WHERE feature = 'login') >= 3 AND sum(amount) > 100
$$;
-- members per scheme, and users on whom the segments and the SQL disagree
CREATE FUNCTION compare(d timestamptz) RETURNS TABLE (scheme text, members bigint, disagree bigint) LANGUAGE sql AS $$
	SELECT s.scheme, count(*) FILTER (WHERE m.segment <> 'unsegmented'),
	       count(*) FILTER (WHERE (m.segment <> 'unsegmented') IS DISTINCT FROM (x.user_id IS NOT NULL))
	FROM (SELECT DISTINCT s.scheme FROM segmentation.segments s) s
	JOIN segmentation.memberships m ON m.scheme = s.scheme
	LEFT JOIN expected(d) x ON x.scheme = s.scheme AND x.user_id = m.user_id
	GROUP BY 1 ORDER BY 1
$$;

SELECT segmentation.refresh(as_of => '2024-05-10 12:00') IS NOT NULL AS refreshed;
SELECT * FROM compare('2024-05-10 12:00');
-- the seed example, member for member
SELECT user_id FROM segmentation.memberships WHERE scheme = 'team' AND segment = 'engaged' ORDER BY 1;
-- later the same day (users who did not change are checked against the last
-- refresh), then on later days (windows move), with and without new events
SELECT segmentation.refresh(as_of => '2024-05-10 23:00') IS NOT NULL AS refreshed;
SELECT * FROM compare('2024-05-10 23:00');
SELECT segmentation.refresh(as_of => '2024-05-12 06:00') IS NOT NULL AS refreshed;
SELECT * FROM compare('2024-05-12 06:00');
INSERT INTO ev VALUES (1, '2024-05-12 05:00', 'login', NULL), (1, '2024-05-11 05:00', 'login', NULL),
                      (2, '2024-05-12 05:00', 'share_report', NULL), (3, '2024-04-01 05:00', 'purchase', 99);
SELECT segmentation.refresh(as_of => '2024-05-12 07:00') IS NOT NULL AS refreshed;
SELECT * FROM compare('2024-05-12 07:00');
SELECT segmentation.refresh(as_of => '2024-06-30 07:00') IS NOT NULL AS refreshed;
SELECT * FROM compare('2024-06-30 07:00');
-- the accessors of a behavior answer the same, with a feature id and an as_of
SELECT p.user_id, segmentation.events_in(p.behavior, f.id, '2024-06-30 07:00', '60 days') AS logins_60_days,
       segmentation.days_since(p.behavior, f.id, '2024-06-30 07:00') AS days_since_login
FROM segmentation.profiles p, segmentation.features f WHERE f.name = 'login' AND p.user_id <= 3 ORDER BY 1;

-- refused when defined, with the argument named
SELECT segmentation.define_segment('bad', 'x', $$events_in('logins', '7 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$first_use('Login') IS NOT NULL$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in(rfm_cell, '7 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('log' || 'in', '7 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in(NULL, '7 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('login', '36 hours') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('login', '1 month') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$days_in('login', '0 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$value_in('login', '-7 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('login', '36526 days') >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('login', '7 days'::interval * 2) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('login', NULL) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$periods_with('login', 1, '7 days', 1001) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$periods_with('login', 1, '7 days', 0) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$periods_with('login', -1, '7 days', 4) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$periods_with('login', frequency::int, '7 days', 4) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$periods_with('login', 1, '1 week 1 hour', 4) >= 1$$);
SELECT segmentation.define_segment('bad', 'x', $$events_in('login', 7) >= 1$$);
-- (the largest window and count are fine; '1 week' is 7 days)
SELECT segmentation.define_segment('ok', 'x', $$events_in('login', '36525 days') >= 1 AND periods_with('*', 0, '1 week', 1000) >= 1$$);
SELECT checked_predicate FROM segmentation.segments WHERE scheme = 'ok';
SELECT segmentation.drop_segment('ok', 'x');
-- '*' is any event, never a feature's name
SELECT segmentation.define_feature('*', '{anything}');
-- outside a predicate there is no user and no as_of: the error says what to call
SELECT segmentation.events_in('login', '7 days');
SELECT segmentation.periods_with('login', 3, '7 days', 5);

-- A feature a segment names cannot be renamed or deleted (only the tables'
-- owner could: there is no function for it); one no segment names can
SELECT segmentation.define_feature('unused', '{nothing}');
UPDATE segmentation.features SET name = 'signin' WHERE name = 'login';
DELETE FROM segmentation.features WHERE name = 'purchase';
TRUNCATE segmentation.features;
UPDATE segmentation.features SET name = 'still_unused' WHERE name = 'unused';
DELETE FROM segmentation.features WHERE name = 'still_unused';
-- (what a segment names can be redefined: its events change, its name stays)
SELECT segmentation.define_feature('login', '{login,sso_login}');
-- with the segments that name it gone, a feature can go
SELECT segmentation.drop_segment('v_value', 'yes');
DELETE FROM segmentation.features WHERE name = 'purchase';
SELECT segmentation.drop_segment('v_last', 'never');
DELETE FROM segmentation.features WHERE name = 'purchase';
SELECT id, name FROM segmentation.features ORDER BY id;
-- and were one removed anyway (the trigger disabled by the owner), refresh
-- stops and names the segment and the feature
ALTER TABLE segmentation.features DISABLE TRIGGER features_used;
UPDATE segmentation.features SET name = 'signin' WHERE name = 'login';
ALTER TABLE segmentation.features ENABLE TRIGGER features_used;
SELECT segmentation.refresh(as_of => '2024-06-30 08:00');
UPDATE segmentation.features SET name = 'login' WHERE name = 'signin';
SELECT segmentation.refresh(as_of => '2024-06-30 08:00') IS NOT NULL AS refreshed;
SELECT * FROM compare('2024-06-30 08:00');

DROP FUNCTION compare(timestamptz), expected(timestamptz);
DROP EXTENSION segmentation CASCADE;
DROP TABLE ev;
CREATE EXTENSION segmentation;
