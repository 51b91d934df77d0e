-- The analysis aggregates (src/funnels.c): a case for every mode, ties,
-- NULL conditions, input order, parallel plans and every refused argument.
SET TIME ZONE 'UTC';
SET search_path = public, segmentation;

CREATE TABLE fe (u int, ts timestamptz, ev text);
-- t(s): a time s seconds after midnight
CREATE FUNCTION t(s int) RETURNS timestamptz LANGUAGE sql IMMUTABLE
	AS $$ SELECT '2024-01-01 00:00:00+00'::timestamptz + s * interval '1 second' $$;
INSERT INTO fe VALUES
	-- 1: a b c in order
	(1, t(0), 'a'), (1, t(10), 'b'), (1, t(20), 'c'),
	-- 2: c outside the window of the only a (30 s)
	(2, t(0), 'a'), (2, t(10), 'b'), (2, t(40), 'c'),
	-- 3: a later a opens a chain that fits: the window runs from the chain's first step
	(3, t(0), 'a'), (3, t(35), 'a'), (3, t(40), 'b'), (3, t(50), 'c'),
	-- 4: the strict_increase case of the issue: a@10, a@20, b@20 gives 2
	(4, t(10), 'a'), (4, t(20), 'a'), (4, t(20), 'b'),
	-- 5: an intervening d (matches no step) and a repeated b
	(5, t(0), 'a'), (5, t(5), 'b'), (5, t(6), 'd'), (5, t(7), 'b'), (5, t(8), 'c'),
	-- 6: c before b: out of order
	(6, t(0), 'a'), (6, t(5), 'c'), (6, t(6), 'b'), (6, t(7), 'c'),
	-- 7: one row x matching steps a, b and c at once
	(7, t(0), 'x'),
	-- 8: ties in step order: b and a at the same time, then c
	(8, t(5), 'b'), (8, t(5), 'a'), (8, t(9), 'c'),
	-- 9: NULL event (every condition NULL: false, the row stays) and NULL time (skipped)
	(9, t(0), 'a'), (9, t(1), NULL), (9, NULL, 'b'), (9, t(2), 'b'),
	-- 10: the window is inclusive: c exactly 30 s after a
	(10, t(0), 'a'), (10, t(15), 'b'), (10, t(30), 'c');

-- steps a, b, c (x matches all three); window 30 seconds
CREATE VIEW funnel_modes AS
SELECT u,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds') AS plain,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_deduplication') AS dedup,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_order') AS ord,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_order, allow_reentry') AS reentry,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_increase') AS incr,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_once') AS once
FROM fe GROUP BY u;
SELECT * FROM funnel_modes ORDER BY u;

-- the same in the reverse input order
SELECT u,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds' ORDER BY ts DESC, ev DESC) AS plain,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_increase' ORDER BY ts DESC, ev DESC) AS incr,
	window_funnel(ts, ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x')], '30 seconds', 'strict_order' ORDER BY ts DESC, ev DESC) AS ord
FROM fe GROUP BY u ORDER BY u;

-- strict_once: two rows x at one time serve steps 1 and 2, not one row twice
SELECT window_funnel(ts, ARRAY[ev = 'x', ev = 'x'], '1 minute', 'strict_once') AS one_row,
	window_funnel(ts, ARRAY[ev = 'x', ev = 'x'], '1 minute') AS one_row_plain
FROM (VALUES (t(0), 'x')) v(ts, ev);
SELECT window_funnel(ts, ARRAY[ev = 'x', ev = 'x'], '1 minute', 'strict_once') AS two_rows
FROM (VALUES (t(0), 'x'), (t(0), 'x')) v(ts, ev);

-- no rows, no matching rows
SELECT window_funnel(ts, ARRAY[ev = 'a'], '1 minute') FROM fe WHERE false;
SELECT window_funnel(ts, ARRAY[ev = 'zz'], '1 minute') FROM fe;

-- sequences: (?N), ., .*, time conditions
SELECT u,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1)(?2)') AS ab,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1).*(?3)') AS a_then_c,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1).(?3)') AS a_any_c,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1)(?t<=20)(?3)') AS c_within_20s,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1)(?t>30)(?3)') AS c_after_30s,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1)(?t==30)(?3)') AS c_at_30s,
	sequence_count(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?2)') AS bs,
	sequence_count(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '(?1).*(?2)') AS a_then_b
FROM fe GROUP BY u ORDER BY u;
-- non-overlapping matches, each the one that ends first
SELECT sequence_count(ts, ARRAY[ev = 'a', ev = 'b'], '(?1).*(?2)') AS count
FROM (VALUES (t(1), 'a'), (t(2), 'a'), (t(3), 'b'), (t(4), 'b'), (t(5), 'a'), (t(6), 'b')) v(ts, ev);
-- ties in step order: a and b at the same time are a then b
SELECT sequence_match(ts, ARRAY[ev = 'a', ev = 'b'], '(?1)(?2)') AS ab,
	sequence_match(ts, ARRAY[ev = 'a', ev = 'b'], '(?2)(?1)') AS ba
FROM (VALUES (t(1), 'b'), (t(1), 'a')) v(ts, ev);

-- sequence_next_node: the page after home -> product
CREATE TABLE pages (u int, ts timestamptz, page text);
INSERT INTO pages VALUES
	(1, t(1), 'home'), (1, t(2), 'product'), (1, t(3), 'cart'), (1, t(4), 'home'), (1, t(5), 'product'), (1, t(6), 'checkout'),
	(2, t(1), 'search'), (2, t(2), 'home'), (2, t(3), 'product'), (2, t(3), 'help');
SELECT u,
	sequence_next_node(ts, page, true, ARRAY[page = 'home', page = 'product'], 'forward', 'first_match') AS fwd_first,
	sequence_next_node(ts, page, true, ARRAY[page = 'home', page = 'product'], 'forward', 'last_match') AS fwd_last,
	sequence_next_node(ts, page, true, ARRAY[page = 'home'], 'forward', 'head') AS fwd_head,
	sequence_next_node(ts, page, true, ARRAY[page IN ('checkout', 'product'), page = 'product'], 'backward', 'tail') AS bwd_tail,
	sequence_next_node(ts, page, page <> 'home', ARRAY[page = 'home'], 'forward', 'first_match') AS base_false
FROM pages GROUP BY u ORDER BY u;

-- retention_flags: [b1, b1 AND b2, b1 AND b3]
SELECT u, retention_flags(ARRAY[ev = 'a', ev = 'b', ev = 'c']) FROM fe GROUP BY u ORDER BY u;
SELECT retention_flags(ARRAY[ev = 'b', ev = 'a']) FROM fe WHERE u = 1;
SELECT retention_flags(ARRAY[true]) FROM fe WHERE false;

-- forced parallel plans: partial aggregates, same answers
CREATE TABLE big AS
SELECT (i % 50) AS u, t((i * 7919) % 600) AS ts, (ARRAY['a','b','c','d'])[1 + (i * 31) % 4] AS ev
FROM generate_series(1, 20000) i;
ANALYZE big;
CREATE TABLE serial_answers AS
SELECT u, window_funnel(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '20 seconds', 'strict_increase') AS f,
	sequence_count(ts, ARRAY[ev = 'a', ev = 'b'], '(?1)(?t<5)(?2)') AS c,
	sequence_next_node(ts, ev, true, ARRAY[ev = 'a'], 'forward', 'first_match') AS n,
	retention_flags(ARRAY[ev = 'a', ev = 'd']) AS r
FROM big GROUP BY u;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT u, window_funnel(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '20 seconds', 'strict_increase'),
	sequence_count(ts, ARRAY[ev = 'a', ev = 'b'], '(?1)(?t<5)(?2)'),
	sequence_next_node(ts, ev, true, ARRAY[ev = 'a'], 'forward', 'first_match'),
	retention_flags(ARRAY[ev = 'a', ev = 'd'])
FROM big GROUP BY u;
SELECT count(*) AS groups, count(*) FILTER (WHERE s.f IS DISTINCT FROM p.f OR s.c IS DISTINCT FROM p.c
                                            OR s.n IS DISTINCT FROM p.n OR s.r IS DISTINCT FROM p.r) AS differ
FROM serial_answers s JOIN (
	SELECT u, window_funnel(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '20 seconds', 'strict_increase') AS f,
		sequence_count(ts, ARRAY[ev = 'a', ev = 'b'], '(?1)(?t<5)(?2)') AS c,
		sequence_next_node(ts, ev, true, ARRAY[ev = 'a'], 'forward', 'first_match') AS n,
		retention_flags(ARRAY[ev = 'a', ev = 'd']) AS r
	FROM big GROUP BY u) p USING (u);
RESET ALL;
SET TIME ZONE 'UTC';
SET search_path = public, segmentation;

-- refused arguments
SELECT window_funnel(ts, ARRAY[ev = 'a'], NULL) FROM fe;
SELECT window_funnel(ts, ARRAY[ev = 'a'], '-1 second') FROM fe;
SELECT window_funnel(ts, ARRAY[ev = 'a'], '1 minute', 'strict_order,bogus') FROM fe;
SELECT window_funnel(ts, ARRAY[ev = 'a'], '1 minute', 'allow_reentry') FROM fe;
SELECT window_funnel(ts, ARRAY[ev = 'a'], '1 minute', 'strict_order,,strict_once') FROM fe;
SELECT window_funnel(ts, ARRAY[ev = 'a'], '1 minute', NULL) FROM fe;
SELECT window_funnel(ts, CASE WHEN u = 1 THEN ARRAY[ev = 'a'] ELSE ARRAY[ev = 'a', ev = 'b'] END, '1 minute') FROM fe;
SELECT window_funnel(ts, ARRAY[[true], [false]], '1 minute') FROM fe;
SELECT window_funnel(ts, '{}'::boolean[], '1 minute') FROM fe;
SELECT window_funnel(ts, array_fill(true, ARRAY[33]), '1 minute') FROM fe;
SELECT window_funnel(ts, ARRAY[true], CASE WHEN u = 1 THEN interval '1 minute' ELSE interval '2 minutes' END) FROM fe;
SELECT window_funnel('infinity', ARRAY[true], '1 minute');
SELECT sequence_match(ts, ARRAY[ev = 'a'], NULL) FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1)(?2)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?0)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1)(?t!=5)(?1)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1)(?t<x)(?1)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?t<5)(?1)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1)(?t<5)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1)(?t<5).*(?1)') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '.*') FROM fe;
SELECT sequence_match(ts, ARRAY[ev = 'a'], '(?1) (?1)') FROM fe;
SELECT sequence_count(ts, ARRAY[ev = 'a'], '(?1)(?t<99999999999999)(?1)') FROM fe;
SELECT sequence_next_node(ts, ev, true, ARRAY[ev = 'a'], 'sideways', 'head') FROM fe;
SELECT sequence_next_node(ts, ev, true, ARRAY[ev = 'a'], 'forward', 'middle') FROM fe;
SELECT sequence_next_node(ts, ev, true, ARRAY[ev = 'a'], NULL, 'head') FROM fe;
SELECT retention_flags(CASE WHEN u = 1 THEN ARRAY[true] ELSE ARRAY[true, false] END) FROM fe;
-- support functions outside an aggregate

SELECT retention_flags_trans(NULL::bigint, ARRAY[true]);

DROP VIEW funnel_modes;
DROP TABLE fe, pages, big, serial_answers;
DROP FUNCTION t(int);
