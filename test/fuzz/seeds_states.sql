-- test/fuzz/seeds_states.sql: real states of the event-list aggregates and
-- of rfm_breakpoints for the seed corpora of fuzz_event_list and
-- fuzz_rfm_values (make_seeds.sh turns each row into one input per target).
-- name | text form.  The states are the results of copies of the aggregates
-- without a final function.
SET client_min_messages = warning;
CREATE AGGREGATE pg_temp.wf(timestamptz, boolean[], interval, text) (
	SFUNC = segmentation.window_funnel_trans, STYPE = segmentation.event_list);
CREATE AGGREGATE pg_temp.sq(timestamptz, boolean[], text) (
	SFUNC = segmentation.sequence_trans, STYPE = segmentation.event_list);
CREATE AGGREGATE pg_temp.nn(timestamptz, text, boolean, boolean[], text, text) (
	SFUNC = segmentation.sequence_next_node_trans, STYPE = segmentation.event_list);
CREATE AGGREGATE pg_temp.rfm(segmentation.behavior, timestamptz) (
	SFUNC = segmentation.rfm_breakpoints_trans, STYPE = segmentation.rfm_values);
CREATE TEMP TABLE ev AS
SELECT u, '2024-01-01'::timestamptz + (i * 37 % 100 || ' hours')::interval + (i % 3 || ' seconds')::interval AS ts,
       (ARRAY['home', 'product', 'cart', 'buy', NULL, ''])[1 + i % 6] AS page
FROM generate_series(1, 3) u, generate_series(0, 11 + 4 * u) i;
SELECT 'wf_' || m || '_' || u, pg_temp.wf(ts, ARRAY[page = 'home', page = 'product', page = 'cart', page = 'buy'], '1 day', m)::text
FROM ev, unnest(ARRAY['', 'strict_increase', 'strict_once', 'strict_order', 'strict_order,allow_reentry', 'strict_increase,strict_once,strict_order']) m
GROUP BY m, u
UNION ALL
SELECT 'wf_one', pg_temp.wf('2024-01-01', ARRAY[true], '1 hour', '')::text
UNION ALL
SELECT 'sq_' || p.n || '_' || u, pg_temp.sq(ts, ARRAY[page = 'home', page = 'product', page = 'buy'], p.pat)::text
FROM ev, (VALUES (1, '(?1)(?2)'), (2, '(?1).*(?3)'), (3, '(?1)(?t<=3600)(?2)'), (4, '(?1)(?t>60).(?2)(?t==0)(?3)')) p(n, pat)
GROUP BY p.n, u
UNION ALL
SELECT 'nn_' || d || '_' || b || '_' || u, pg_temp.nn(ts, page, page IS NOT NULL, ARRAY[page = 'home', page = 'product'], d, b)::text
FROM ev, unnest(ARRAY['forward', 'backward']) d, unnest(ARRAY['head', 'tail', 'first_match', 'last_match']) b
GROUP BY d, b, u
UNION ALL
SELECT 'rfm_' || k, pg_temp.rfm(b, '2024-02-01')::text
FROM (SELECT u % 3 AS k, segmentation.behavior_agg(ts, i % 4, i * 1.5) AS b
      FROM (SELECT u, g AS i, '2024-01-01'::timestamptz + (g * u || ' hours')::interval AS ts
            FROM generate_series(1, 40) g, generate_series(1, 9) u) x
      GROUP BY u) y
GROUP BY k ORDER BY 1;
