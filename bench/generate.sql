-- bench/generate.sql: :events events for :events / 33 users over 120 days,
-- with realistic skew (user ids drawn from a power law: a few heavy users,
-- many light ones; features 0-29 skewed toward the first ones; 5% of events
-- carry an amount). Deterministic: setseed.
SELECT setseed(0.42);
DROP TABLE IF EXISTS events;
CREATE TABLE events AS
SELECT (floor(power(random(), 3) * (:events / 33)))::bigint + 1 AS user_id,
       '2024-01-01 00:00+00'::timestamptz + random() * interval '120 days' AS ts,
       (floor(power(random(), 2) * 30))::int AS feature,
       CASE WHEN random() < 0.05 THEN round((random() * 100)::numeric, 2)::float8 END AS amount
FROM generate_series(1, :events);
VACUUM ANALYZE events;
SELECT sum(n) AS events, count(*) AS users,
       max(n) AS heaviest_user_events, percentile_disc(0.5) WITHIN GROUP (ORDER BY n) AS median_user_events
FROM (SELECT user_id, count(*) n FROM events GROUP BY user_id) s;
