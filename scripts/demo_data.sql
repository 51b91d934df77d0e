-- scripts/demo_data.sql: a product's events, in three stages, ending on the
-- day the demo runs.
--
--   psql -v stage=history|experiment|lastday -v users=N -v today=YYYY-MM-DD -f scripts/demo_data.sql
--
-- Day 0 is :today - 122 days (UTC). Every random draw is a hash of the user,
-- the day, the event and a fixed salt (demo_uniform below): the data depend
-- on nothing else, not on the plan, the order of rows or the session, so a
-- given :users gives the same events, shifted to end on :today, every time.
--
-- :stage = 'history': :users users arrive over days 0-99; 60% sign up, half
--   of those activate (create a project); each has an activity level (power,
--   engaged, casual, rare); a third stop at some point and a fifth of those
--   come back later (resurrection). Active days bring 1-4 events over 24
--   product features (feature_00 .. feature_23, table demo_features);
--   purchases carry revenue. Events of days 0-99.
-- :stage = 'experiment': users active in the 28 days before day 100 are
--   assigned 50/50 to checkout_v2 on day 100 at noon (table ab_assignments);
--   events go on over days 100-120. Checkouts (the conversion) happen at 8%
--   within 13 days, 30% for the quarter of users who are shoppers (they
--   checked out on a quarter of their active days before: what CUPED reads),
--   2% for the others, 7 points more for treated users who were "engaged"
--   when assigned (read from segmentation.memberships, refreshed as of the
--   assignment): the new checkout helps them only.
-- :stage = 'lastday': the events of day 121, yesterday.
SET client_min_messages = warning;
SET TIME ZONE 'UTC';

-- the day of day 0, as a timestamptz at midnight UTC
SELECT (:'today'::date - 122)::timestamp AT TIME ZONE 'UTC' AS day0 \gset

SELECT :'stage' = 'history' AS history, :'stage' = 'experiment' AS experiment,
       :'stage' = 'lastday' AS lastday \gset
\if :history
-- demo_uniform(salt, a, b): a uniform draw in [0, 1) from the 53 low bits of
-- a hash of (a, b) seeded with salt; one salt per kind of draw
CREATE FUNCTION demo_uniform(salt bigint, a bigint, b bigint DEFAULT 0) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (hashint8extended(b, hashint8extended(a, salt)) & 9007199254740991)::float8 / 9007199254740992.0;

CREATE TABLE app_events (user_id bigint, occurred_at timestamptz, event text, revenue numeric(10, 2));
CREATE TABLE demo_users AS
SELECT id,
       floor(demo_uniform(1, id) * 100)::int AS start_day,
       (ARRAY[0.03, 0.12, 0.4, 0.75])[1 + floor(power(demo_uniform(2, id), 1.7) * 4)::int] AS daily_p,
       CASE WHEN demo_uniform(3, id) < 0.35 THEN 10 + floor(demo_uniform(4, id) * 61)::int ELSE 1000 END AS stops_after,
       CASE WHEN demo_uniform(5, id) < 0.2 THEN 25 + floor(demo_uniform(6, id) * 31)::int ELSE 1000 END AS pause,
       demo_uniform(7, id) < 0.6 AS signs_up,
       demo_uniform(8, id) < 0.5 AS activates,
       demo_uniform(9, id) < 0.25 AS shopper
FROM generate_series(1, :users) id;
CREATE TABLE demo_features AS
SELECT f, 'feature_' || lpad(f::text, 2, '0') AS event
FROM generate_series(0, 23) f;
\set first_day 0
\set last_day 99
\elif :experiment
\set first_day 100
\set last_day 120
\elif :lastday
\set first_day 121
\set last_day 121
\else
DO $$BEGIN RAISE EXCEPTION 'stage must be history, experiment or lastday'; END$$;
\endif

-- activity: on each day a user is active (churned users stop, some of them
-- resume after a pause), 1-4 events: views, features (skewed towards the
-- first ones) and purchases with revenue
INSERT INTO app_events
SELECT u.id, :'day0'::timestamptz + d * interval '1 day' + demo_uniform(13, u.id, d * 8 + k) * interval '23 hours',
       CASE WHEN r < 0.35 THEN 'view'
            WHEN r < 0.97 THEN 'feature_' || lpad(least(23, floor(-ln(1 - (r - 0.35) / 0.62) * 5))::int::text, 2, '0')
            ELSE 'purchase' END,
       CASE WHEN r >= 0.97 THEN round((5 + demo_uniform(14, u.id, d * 8 + k) * 95)::numeric, 2) END
FROM demo_users u,
     generate_series(greatest(u.start_day, :first_day), :last_day) d,
     generate_series(1, 1 + floor(demo_uniform(11, u.id, d) * 4)::int) k,
     LATERAL (SELECT demo_uniform(12, u.id, d * 8 + k) AS r) e
WHERE (d < u.start_day + u.stops_after OR d >= u.start_day + u.stops_after + u.pause)
  AND demo_uniform(10, u.id, d) < u.daily_p;

\if :history
INSERT INTO app_events
SELECT id, :'day0'::timestamptz + start_day * interval '1 day' + interval '1 minute', 'signed_up', NULL::numeric
FROM demo_users WHERE signs_up
UNION ALL
SELECT id, :'day0'::timestamptz + (start_day + 1) * interval '1 day', 'created_project', NULL
FROM demo_users WHERE signs_up AND activates
UNION ALL
-- shoppers check out on a quarter of their active days (the old checkout)
SELECT user_id, occurred_at + interval '30 seconds', 'checkout_completed', round((10 + demo_uniform(15, user_id, d) * 90)::numeric, 2)
FROM (SELECT DISTINCT ON (e.user_id, 2) e.user_id, floor(extract(epoch FROM e.occurred_at - :'day0'::timestamptz) / 86400)::bigint AS d,
             e.occurred_at
      FROM app_events e JOIN demo_users u ON u.id = e.user_id AND u.shopper
      ORDER BY e.user_id, 2, e.occurred_at) s
WHERE demo_uniform(16, user_id, d) < 0.25;
CREATE INDEX ON app_events (user_id);
\elif :experiment
-- the experiment: assigned on day 100 at noon among the users active in the 28 days before
CREATE TABLE ab_assignments AS
SELECT user_id, CASE WHEN demo_uniform(20, user_id) < 0.5 THEN 'control' ELSE 'treatment' END AS variant,
       :'day0'::timestamptz + interval '100 days 12 hours' AS assigned_at
FROM (SELECT DISTINCT user_id FROM app_events
      WHERE occurred_at >= :'day0'::timestamptz + interval '72 days'
        AND occurred_at < :'day0'::timestamptz + interval '100 days') s;
-- checkouts in the 13 days after assignment: shoppers (who checked out
-- before) at 30%, the others at 2%; the treatment adds 7 points for engaged
-- users only
INSERT INTO app_events
SELECT a.user_id, a.assigned_at + demo_uniform(22, a.user_id) * interval '13 days', 'checkout_completed',
       round((10 + demo_uniform(23, a.user_id) * 90)::numeric, 2)
FROM ab_assignments a
JOIN demo_users u ON u.id = a.user_id
LEFT JOIN segmentation.memberships m ON m.user_id = a.user_id AND m.scheme = 'lifecycle'
WHERE demo_uniform(21, a.user_id) < CASE WHEN u.shopper THEN 0.30 ELSE 0.02 END
                                    + CASE WHEN a.variant = 'treatment' AND m.segment = 'engaged' THEN 0.07 ELSE 0 END;
\endif
ANALYZE app_events;
