-- Nested segments (issue 15 point 5, DESIGN section 4): in_segment(scheme,
-- segment) in a predicate is the segment the scheme's rules gave the user in
-- the same refresh ('unsegmented': none of them); refresh runs the schemes in
-- dependency order; unknown schemes and segments and cycles are refused when
-- defined; a segment another names is not dropped.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';

CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
SELECT segmentation.define_feature('buy', '{buy}');
-- 12 users: user u has u events, one a day, the last u * 5 hours before
-- 2024-05-10 12:00; every other one a purchase
INSERT INTO ev
SELECT u, '2024-05-10 12:00'::timestamptz - u * interval '5 hours' - k * interval '1 day',
       CASE WHEN k % 2 = 0 THEN 'buy' ELSE 'view' END, 10
FROM generate_series(1, 12) u, generate_series(0, u - 1) k;

-- Three schemes, named against their order: a_top reads m_mid, which reads
-- z_clock (refresh must run z_clock, then m_mid, then a_top)
SELECT segmentation.define_segment('z_clock', 'hot', 'recency_days < 1', 2);
SELECT segmentation.define_segment('z_clock', 'warm', 'recency_days < 2', 1);
SELECT segmentation.define_segment('m_mid', 'hot buyer', $$in_segment('z_clock', 'hot') AND events_in('buy') >= 2$$);
SELECT segmentation.define_segment('m_mid', 'cold', $$in_segment('z_clock', 'unsegmented')$$);
SELECT segmentation.define_segment('a_top', 'vip', $$in_segment('m_mid', 'hot buyer') AND frequency >= 4$$, 2);
SELECT segmentation.define_segment('a_top', 'lapsed', $$segmentation.in_segment('m_mid', 'cold') OR in_segment('z_clock', 'warm')$$, 1);
-- stored qualified, the arguments typed; a call costs little (what it reads
-- is decided by its scheme's rules, costed with that scheme)
SELECT scheme, name, checked_predicate, cost FROM segmentation.segments ORDER BY scheme, name;

-- users on whom a scheme's segment and the same rules in plain SQL disagree
-- (the inner schemes' segments read from user_scores)
CREATE FUNCTION disagree() RETURNS TABLE (scheme text, users bigint, disagree bigint) LANGUAGE sql AS $$
	WITH u AS (SELECT s.user_id, s.frequency, s.recency_days, us.z_clock, us.m_mid, us.a_top,
	                  segmentation.events_in(p.behavior, 0, c.as_of) AS buys
	           FROM segmentation.scores s JOIN segmentation.user_scores us USING (user_id)
	           JOIN segmentation.profiles p USING (user_id), segmentation.score_context c)
	SELECT 'z_clock', count(*), count(*) FILTER (WHERE z_clock IS DISTINCT FROM
	       CASE WHEN recency_days < 1 THEN 'hot' WHEN recency_days < 2 THEN 'warm' ELSE 'unsegmented' END) FROM u
	UNION ALL
	SELECT 'm_mid', count(*), count(*) FILTER (WHERE m_mid IS DISTINCT FROM
	       CASE WHEN z_clock = 'hot' AND buys >= 2 THEN 'hot buyer' WHEN z_clock = 'unsegmented' THEN 'cold' ELSE 'unsegmented' END) FROM u
	UNION ALL
	SELECT 'a_top', count(*), count(*) FILTER (WHERE a_top IS DISTINCT FROM
	       CASE WHEN m_mid = 'hot buyer' AND frequency >= 4 THEN 'vip' WHEN m_mid = 'cold' OR z_clock = 'warm' THEN 'lapsed'
	            ELSE 'unsegmented' END) FROM u
$$;
-- the state a full refresh must give again
CREATE FUNCTION state() RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(concat_ws(':', scheme, user_id, segment, entered_at), ',' ORDER BY scheme, user_id))
	FROM segmentation.memberships
$$;

SELECT segmentation.refresh(as_of => '2024-05-10 12:00') IS NOT NULL AS refreshed;
SELECT * FROM disagree();
SELECT user_id, z_clock, m_mid, a_top FROM segmentation.user_scores ORDER BY user_id;
-- Later the same day, without new events: users cross recency_days 1 and 2.
-- The incremental refresh checks users whose behavior did not change against
-- the last refresh (src/predicate.c); whoever moves in z_clock is evaluated
-- in every scheme, so m_mid and a_top follow in the same refresh.
SELECT segmentation.refresh(as_of => '2024-05-10 20:00') IS NOT NULL AS refreshed;
SELECT * FROM disagree();
SELECT scheme, from_segment, to_segment, count(*) FROM segmentation.transitions
WHERE run_id = (SELECT max(id) FROM segmentation.refresh_runs) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT state() AS incremental \gset
BEGIN;
SELECT segmentation.refresh(true, '2024-05-10 20:00') IS NOT NULL AS refreshed;
SELECT state() = :'incremental' AS incremental_equals_full;
ROLLBACK;
-- a new event, and the next day
INSERT INTO ev VALUES (12, '2024-05-11 05:00', 'buy', 5), (3, '2024-05-11 06:00', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-05-11 07:00') IS NOT NULL AS refreshed;
SELECT * FROM disagree();
SELECT user_id, z_clock, m_mid, a_top FROM segmentation.user_scores WHERE user_id IN (3, 12) ORDER BY user_id;
SELECT state() AS incremental \gset
BEGIN;
SELECT segmentation.refresh(true, '2024-05-11 07:00') IS NOT NULL AS refreshed;
SELECT state() = :'incremental' AS incremental_equals_full;
ROLLBACK;

-- refused when defined: a scheme reading itself, directly or through others
SELECT segmentation.define_segment('a_top', 'x', $$in_segment('a_top', 'vip')$$);
SELECT segmentation.define_segment('z_clock', 'x', $$in_segment('a_top', 'vip')$$);
SELECT segmentation.define_segment('z_clock', 'hot', $$in_segment('m_mid', 'cold')$$, 2);
-- an unknown scheme or segment, named
SELECT segmentation.define_segment('b', 'x', $$in_segment('no_such_scheme', 'vip')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', 'no such segment')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('A_TOP', 'vip')$$);
-- anything but two text constants
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', 'vip', 'lapsed')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', NULL)$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment(NULL::text, 'vip')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', rfm_cell)$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_' || 'top', 'vip')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', (SELECT 'vip'))$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment(scheme => 'a_top', segment => 'vip')$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', 'vip'::varchar)$$);
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', in_segment('m_mid', 'cold')::text)$$);
-- the scheme b reading a_top is fine (the stored form, cast to text, too),
-- and so is 'unsegmented'
SELECT segmentation.define_segment('b', 'x', $$in_segment('a_top', 'vip') = segmentation.in_segment('a_top'::text, 'vip'::text)$$);
SELECT segmentation.define_segment('b', 'x', $$NOT in_segment('a_top', 'unsegmented')$$);
SELECT segmentation.drop_segment('b', 'x');
-- outside a predicate there is no user: the error says where segments are
SELECT segmentation.in_segment('a_top', 'vip');

-- A segment another names is not dropped, nor the last segment of a scheme
-- another reads (its 'unsegmented' would be gone); the error names them all
SELECT segmentation.drop_segment('m_mid', 'cold');
SELECT segmentation.drop_segment('z_clock', 'warm');
SELECT segmentation.define_segment('c', 'y', $$in_segment('z_clock', 'unsegmented')$$);
SELECT segmentation.drop_segment('z_clock', 'hot');
SELECT segmentation.define_segment('z_clock', 'hot', 'recency_days < 1', 2);
-- (at READ COMMITTED only, as the definers: it must see a segment defined
-- meanwhile that names the one it drops)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT segmentation.drop_segment('c', 'y');
ROLLBACK;
SELECT segmentation.drop_segment('c', 'y');
-- with the users gone first, a segment can go
SELECT segmentation.drop_segment('a_top', 'vip');
SELECT segmentation.drop_segment('m_mid', 'hot buyer');
SELECT scheme, name FROM segmentation.segments ORDER BY 1, 2;

-- in_segment is recognised by its OID, as the extension's own function: one
-- that is not the extension's (here, taken out of it) is not in_segment
ALTER EXTENSION segmentation DROP FUNCTION segmentation.in_segment(text, text);
SELECT segmentation.define_segment('b', 'x', $$in_segment('z_clock', 'hot')$$);
ALTER EXTENSION segmentation ADD FUNCTION segmentation.in_segment(text, text);
SELECT segmentation.define_segment('b', 'x', $$in_segment('z_clock', 'hot')$$);
SELECT segmentation.drop_segment('b', 'x');

-- Rows written by hand (only a superuser can: a tampered dump) that make a
-- cycle or name what is not there stop the refresh, which names them
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('z_clock', 'loop', $$in_segment('m_mid', 'cold')$$, $$segmentation.in_segment('m_mid'::text, 'cold'::text)$$);
SELECT segmentation.refresh(as_of => '2024-05-11 08:00');
UPDATE segmentation.segments SET predicate = $$in_segment('m_mid', 'gone')$$,
	checked_predicate = $$segmentation.in_segment('m_mid'::text, 'gone'::text)$$ WHERE name = 'loop';
SELECT segmentation.refresh(as_of => '2024-05-11 08:00');
DELETE FROM segmentation.segments WHERE name = 'loop';
SELECT error FROM segmentation.refresh_runs WHERE error IS NOT NULL ORDER BY id;
-- and the rules themselves, handed to _assign_segments (as the owner: it is
-- internal), run in dependency order and refuse a cycle or an unknown scheme
CREATE FUNCTION moves(schemes text[], rules text[]) RETURNS TABLE (user_id bigint, scheme text, segment text) LANGUAGE sql AS $$
	SELECT p.user_id, (m).scheme, (m).to_segment
	FROM (SELECT p.user_id, segmentation._assign_segments(p.user_id, p.behavior, '{}', c.as_of, c.feature_names,
	                 c.rfm_breakpoints, $1, $2, 'segmentation.scores', true, c.as_of, c.rfm_breakpoints) AS m
	      FROM segmentation.profiles p, segmentation.score_context c WHERE p.user_id <= 2) p
	ORDER BY 1, 2
$$;
SELECT * FROM moves('{p,q}', ARRAY[$$CASE WHEN in_segment('q', 'y') THEN 'x' ELSE 'unsegmented' END$$,
                                   $$CASE WHEN recency_days < 1.5 THEN 'y' ELSE 'unsegmented' END$$]);
SELECT * FROM moves('{p,q}', ARRAY[$$CASE WHEN in_segment('q', 'y') THEN 'x' ELSE 'unsegmented' END$$,
                                   $$CASE WHEN in_segment('p', 'x') THEN 'y' ELSE 'unsegmented' END$$]);
SELECT * FROM moves('{p,q}', ARRAY[$$CASE WHEN in_segment('p', 'x') THEN 'x' ELSE 'unsegmented' END$$, $$'y'$$]);
SELECT * FROM moves('{p,q}', ARRAY[$$CASE WHEN in_segment('r', 'x') THEN 'x' ELSE 'unsegmented' END$$, $$'y'$$]);
DROP FUNCTION moves(text[], text[]);
SELECT segmentation.refresh(as_of => '2024-05-11 08:00') IS NOT NULL AS refreshed;
SELECT count(*) AS users, count(*) FILTER (WHERE a_top = 'lapsed') AS lapsed FROM segmentation.user_scores;

DROP FUNCTION disagree(), state();
DROP EXTENSION segmentation CASCADE;
DROP TABLE ev;
CREATE EXTENSION segmentation;
