-- scripts/demo_data.sql: product events for :users users over 120 days up to
-- 2024-05-01 (fixed seed). Users arrive over time; a share signs up, some of
-- those activate (create a project); each has an activity level (power,
-- engaged, casual, rare) and a third of them stop at some point. Active days
-- bring 1-4 events: views, searches, exports, shares; purchases carry revenue.
SELECT setseed(0.20240501) \gset
SET client_min_messages = warning;
DROP TABLE IF EXISTS app_events;
CREATE TABLE app_events (user_id bigint, occurred_at timestamptz, event text, revenue numeric(10, 2));

CREATE TEMP TABLE demo_users AS
SELECT id,
       (random() * 110)::int AS start_day,
       (ARRAY[0.03, 0.12, 0.4, 0.75])[1 + (power(random(), 1.7) * 3.99)::int] AS daily_p,
       CASE WHEN random() < 0.35 THEN 10 + (random() * 80)::int ELSE 1000 END AS stops_after,
       random() < 0.6 AS signs_up,
       random() < 0.5 AS activates
FROM generate_series(1, :users) id;

INSERT INTO app_events
SELECT u.id, '2024-01-01 00:00+00'::timestamptz + d * interval '1 day' + random() * interval '23 hours',
       CASE WHEN k.r < 0.55 THEN 'view' WHEN k.r < 0.75 THEN 'search' WHEN k.r < 0.85 THEN 'export'
            WHEN k.r < 0.95 THEN 'share' ELSE 'purchase' END,
       CASE WHEN k.r >= 0.95 THEN round((5 + random() * 95)::numeric, 2) END
FROM demo_users u, generate_series(u.start_day, 119) d,
     LATERAL (SELECT random() + 0 * d AS r FROM generate_series(1, 1 + (random() * 3)::int + 0 * d)) k
WHERE d < u.start_day + u.stops_after AND random() < u.daily_p;

INSERT INTO app_events
SELECT id, '2024-01-01 00:00+00'::timestamptz + start_day * interval '1 day' + interval '1 minute', 'signed_up', NULL::numeric
FROM demo_users WHERE signs_up
UNION ALL
SELECT id, '2024-01-01 00:00+00'::timestamptz + (start_day + 1) * interval '1 day', 'created_project', NULL
FROM demo_users WHERE signs_up AND activates AND start_day < 119;

CREATE INDEX ON app_events (user_id);
ANALYZE app_events;
SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM app_events;
