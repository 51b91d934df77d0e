-- behavior_agg, behavior_merge, behavior_union_agg: NULL handling, exact and
-- order-independent merging, parallel plans, window use.
SET TIME ZONE 'UTC';
SET search_path = segmentation, public;

CREATE TABLE ev (user_id int, ts timestamptz, feature int, amount float8, part int);
INSERT INTO ev
SELECT u,
       '2024-01-01 00:00+00'::timestamptz + ((i * 7919 + u * 104729) % (90 * 86400)) * interval '1 second',
       CASE WHEN i % 4 = 0 THEN NULL ELSE (i * 31 + u) % 7 END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE ((i * 13 + u) % 1000) / 100.0 END,
       (i * 17 + u) % 5
FROM generate_series(1, 40) u, generate_series(1, 60 + u) i;

-- three forms of the aggregate
SELECT event_count(behavior_agg(ts)) AS n1,
       features(behavior_agg(ts)) AS f1,
       features(behavior_agg(ts, feature)) AS f2,
       value_sum(behavior_agg(ts, feature)) AS v2,
       value_sum(behavior_agg(ts, feature, amount)) AS v3,
       (SELECT sum(amount) FROM ev) AS plain_sum
FROM ev;

-- NULL ts: row skipped; no rows (or only NULL ts): NULL
SELECT event_count(behavior_agg(ts)) FROM (VALUES (NULL::timestamptz), ('2024-01-01')) v(ts);
SELECT behavior_agg(ts) IS NULL AS all_null FROM (VALUES (NULL::timestamptz)) v(ts);
SELECT behavior_agg(ts) IS NULL AS no_rows FROM ev WHERE false;
-- NULL feature: no feature; NULL value: 0
SELECT features(b), value_sum(b), event_count(b)
FROM (SELECT behavior_agg(ts, f, v) b FROM (VALUES ('2024-01-01'::timestamptz, NULL::int, NULL::float8), ('2024-01-02', 3, 2.5)) x(ts, f, v)) s;

-- union over a partition equals one pass, to the byte, for every user
CREATE TABLE whole AS SELECT user_id, behavior_agg(ts, feature, amount) b FROM ev GROUP BY user_id;
CREATE TABLE parts AS SELECT user_id, part, behavior_agg(ts, feature, amount) b FROM ev GROUP BY user_id, part;
SELECT count(*) AS users,
       count(*) FILTER (WHERE w.b::text = u.b::text) AS identical
FROM whole w JOIN (SELECT user_id, behavior_union_agg(b ORDER BY part DESC) b FROM parts GROUP BY user_id) u USING (user_id);

-- behavior_merge: commutative, associative, NULL is the identity
SELECT bool_and(behavior_merge(a.b, c.b)::text = behavior_merge(c.b, a.b)::text) AS commutative,
       bool_and(behavior_merge(behavior_merge(a.b, c.b), d.b)::text = behavior_merge(a.b, behavior_merge(c.b, d.b))::text) AS associative,
       bool_and(behavior_merge(a.b, NULL)::text = a.b::text AND behavior_merge(NULL, a.b)::text = a.b::text) AS null_identity
FROM parts a JOIN parts c ON c.user_id = a.user_id AND c.part = (a.part + 1) % 5
             JOIN parts d ON d.user_id = a.user_id AND d.part = (a.part + 2) % 5;
SELECT behavior_merge(NULL, NULL) IS NULL AS null_null;
-- merging a behavior with itself doubles counts but not days or features
SELECT event_count(behavior_merge(b, b)) = 2 * event_count(b) AS counts_double,
       active_days(behavior_merge(b, b)) = active_days(b) AS days_same,
       features(behavior_merge(b, b)) = features(b) AS features_same
FROM whole WHERE user_id = 1;

-- merging users of different eras (day bitmaps far apart)
SELECT active_days(b), first_seen(b), last_seen(b), b::text::behavior::text = b::text AS ok
FROM (SELECT behavior_union_agg(b) b FROM (
	SELECT behavior_agg(ts) b FROM (VALUES ('1999-12-31 23:59:59.999999+00'::timestamptz), ('2000-01-01 00:00+00')) v(ts)
	UNION ALL SELECT behavior_agg('2030-06-01 12:00+00'::timestamptz)
	UNION ALL SELECT behavior_agg('1970-01-01 00:00+00'::timestamptz)) s) t;

-- forced parallel plans give the same bytes as a serial plan
CREATE TABLE big AS SELECT user_id % 7 AS g, ts, feature, amount FROM ev, generate_series(1, 20);
ANALYZE big;
CREATE TABLE serial_result AS SELECT g, behavior_agg(ts, feature, amount) b FROM big GROUP BY g;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT g, behavior_agg(ts, feature, amount) FROM big GROUP BY g;
SELECT count(*) AS groups, count(*) FILTER (WHERE p.b::text = s.b::text) AS identical
FROM (SELECT g, behavior_agg(ts, feature, amount) b FROM big GROUP BY g) p JOIN serial_result s USING (g);
EXPLAIN (COSTS OFF) SELECT behavior_union_agg(b) FROM parts;
SELECT behavior_union_agg(b)::text = (SELECT behavior_agg(ts, feature, amount)::text FROM ev) AS parallel_union_ok FROM parts;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- as a window aggregate, each row sees its own running state
SELECT ts, event_count(behavior_agg(ts) OVER (ORDER BY ts)) AS running, active_days(behavior_agg(ts) OVER (ORDER BY ts)) AS days
FROM (VALUES ('2024-01-01 10:00+00'::timestamptz), ('2024-01-01 11:00+00'), ('2024-01-03 00:00+00')) v(ts);

-- the transition function is for aggregates only
SELECT behavior_agg_trans(NULL, now());

DROP TABLE ev, whole, parts, big, serial_result;
