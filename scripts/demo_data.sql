-- scripts/demo_data.sql: a product's events, in two stages (fixed seed).
--
-- :stage = 'history': :users users arrive between 2024-01-01 and 2024-04-10;
--   60% sign up, half of those activate (create a project); each has an
--   activity level (power, engaged, casual, rare); a third stop at some
--   point and a fifth of those come back later (resurrection). Active days
--   bring 1-4 events over 24 product features; purchases carry revenue.
-- :stage = 'experiment': users active in the 28 days before 2024-04-10 are
--   assigned 50/50 to checkout_v2 (table ab_assignments); then events go on
--   until 2024-05-01. Checkouts (the conversion) happen at 8% a fortnight,
--   15% for treated users who were "engaged" when assigned: the new checkout
--   helps them only.
SET client_min_messages = warning;

SELECT setseed(CASE WHEN :'stage' = 'history' THEN 0.20240410 ELSE 0.20240501 END) \gset

SELECT :'stage' = 'history' AS history \gset
\if :history
CREATE TABLE app_events (user_id bigint, occurred_at timestamptz, event text, revenue numeric(10, 2));
CREATE TABLE demo_users AS
SELECT id,
       (random() * 100)::int AS start_day,
       (ARRAY[0.03, 0.12, 0.4, 0.75])[1 + (power(random(), 1.7) * 3.99)::int] AS daily_p,
       CASE WHEN random() < 0.35 THEN 10 + (random() * 60)::int ELSE 1000 END AS stops_after,
       CASE WHEN random() < 0.2 THEN 25 + (random() * 30)::int ELSE 1000 END AS pause,
       random() < 0.6 AS signs_up,
       random() < 0.5 AS activates
FROM generate_series(1, :users) id;
CREATE TABLE demo_features AS
SELECT f, 'feature_' || lpad(f::text, 2, '0') AS event, 1.0 / (f + 1) AS weight
FROM generate_series(0, 23) f;
\set first_day 0
\set last_day 99
\else
\set first_day 100
\set last_day 120
\endif

-- activity: one row per active day, 1-4 events each; churned users stop,
-- some of them resume after a pause
INSERT INTO app_events
SELECT u.id, '2024-01-01 00:00+00'::timestamptz + d * interval '1 day' + random() * interval '23 hours',
       CASE WHEN k.r < 0.35 THEN 'view'
            WHEN k.r < 0.97 THEN 'feature_' || lpad(least(23, floor(-ln(1 - (k.r - 0.35) / 0.62) * 5))::int::text, 2, '0')
            ELSE 'purchase' END,
       CASE WHEN k.r >= 0.97 THEN round((5 + random() * 95)::numeric, 2) END
FROM demo_users u, generate_series(greatest(u.start_day, :first_day), :last_day) d,
     LATERAL (SELECT random() + 0 * d AS r FROM generate_series(1, 1 + (random() * 3)::int + 0 * d)) k
WHERE (d < u.start_day + u.stops_after OR d >= u.start_day + u.stops_after + u.pause)
  AND random() < u.daily_p;

\if :history
INSERT INTO app_events
SELECT id, '2024-01-01 00:00+00'::timestamptz + start_day * interval '1 day' + interval '1 minute', 'signed_up', NULL::numeric
FROM demo_users WHERE signs_up
UNION ALL
SELECT id, '2024-01-01 00:00+00'::timestamptz + (start_day + 1) * interval '1 day', 'created_project', NULL
FROM demo_users WHERE signs_up AND activates;
CREATE INDEX ON app_events (user_id);
\else
-- the experiment: assigned on 10 April among the users active in the 28 days before
CREATE TABLE ab_assignments AS
SELECT DISTINCT ON (user_id) user_id, CASE WHEN random() < 0.5 THEN 'control' ELSE 'treatment' END AS variant,
       '2024-04-10 12:00+00'::timestamptz AS assigned_at
FROM app_events WHERE occurred_at >= '2024-03-13' AND occurred_at < '2024-04-10'
ORDER BY user_id;
-- checkouts in the 14 days after assignment: the treatment helps engaged users only
INSERT INTO app_events
SELECT a.user_id, a.assigned_at + random() * interval '13 days', 'checkout_completed', round((10 + random() * 90)::numeric, 2)
FROM ab_assignments a
LEFT JOIN segmentation.memberships m ON m.user_id = a.user_id AND m.scheme = 'lifecycle'
WHERE random() < CASE WHEN a.variant = 'treatment' AND m.segment = 'engaged' THEN 0.15 ELSE 0.08 END;
\endif
ANALYZE app_events;
