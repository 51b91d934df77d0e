-- Accessors and scores: exact semantics at the edges of UTC days.
SET TIME ZONE 'UTC';
SET search_path = segmentation, public;

-- active on 2024-02-27, 02-28, 02-29 (leap day), 03-01 and 03-05 (UTC days)
CREATE TABLE b AS
SELECT behavior_agg(ts, f, v) AS b
FROM (VALUES ('2024-02-27 00:00:00+00'::timestamptz, 1, 10.0::float8),
             ('2024-02-28 23:59:59.999999+00', 2, NULL),
             ('2024-02-29 12:00:00+00', 1, 0.5),
             ('2024-03-01 00:00:00+00', NULL, NULL),
             ('2024-03-05 23:59:59.999999+00', 2147483647, 1.25)) x(ts, f, v);

SELECT first_seen(b), last_seen(b), event_count(b), value_sum(b), active_days(b), features(b) FROM b;

-- recency and tenure are fractional days; as_of before first_seen is negative
SELECT recency_days(b, '2024-03-06 12:00:00+00') AS recency,
       tenure_days(b, '2024-03-06 12:00:00+00') AS tenure,
       recency_days(b, '2024-02-01 00:00:00+00') AS recency_before,
       tenure_days(b, '2024-02-01 00:00:00+00') AS tenure_before
FROM b;

-- windows of N whole days: date(as_of) - N < d <= date(as_of)
SELECT w, active_days(b, '2024-03-05 00:00:00+00', w::interval) AS at_midnight,
          active_days(b, '2024-03-05 23:59:59.999999+00', w::interval) AS at_end_of_day,
          active_days(b, '2024-03-01 06:00:00+00', w::interval) AS on_march_1
FROM b, unnest(ARRAY['1 day', '2 days', '5 days', '7 days', '8 days', '9 days', '28 days', '48 hours']) w;
-- days after as_of are not counted
SELECT active_days(b, '2024-02-28 00:00:00+00', '365 days') FROM b;

-- streaks: ending at date(as_of), or at the day before when date(as_of) is idle
SELECT as_of, current_streak(b, as_of::timestamptz)
FROM b, unnest(ARRAY['2024-03-01 00:00:00+00', '2024-03-01 23:59:59.999999+00', '2024-03-02 12:00:00+00',
                     '2024-03-03 00:00:00+00', '2024-02-29 00:00:00+00', '2024-03-05 01:00:00+00',
                     '2024-03-06 00:00:00+00', '2024-03-07 00:00:00+00', '2024-02-26 00:00:00+00']) as_of;

-- decayed activity: active days 4, 5, 6, 7, 11 days back from 2024-03-09 with a 7-day half-life,
-- against the formula written out in SQL
SELECT round(decayed_activity(b, '2024-03-09 18:00:00+00', '7 days')::numeric, 12) AS decayed,
       round((0.5 ^ (4 / 7.0) + 0.5 ^ (8 / 7.0) + 0.5 ^ (9 / 7.0) + 0.5 ^ (10 / 7.0) + 0.5 ^ (11 / 7.0))::numeric, 12) AS formula,
       decayed_activity(b, '2024-03-01 00:00:00+00', '1 day') AS march_1_half_life_1,
       decayed_activity(b, '2024-03-01 00:00:00+00', '36 hours') AS march_1_half_life_36h,
       decayed_activity(b, '2024-02-01 00:00:00+00', '7 days') AS before_any
FROM b;

-- features
SELECT feature_count(b, 1) AS f1, feature_count(b, 2) AS f2, feature_count(b, 2147483647) AS fmax,
       feature_count(b, 3) AS unused,
       feature_last_seen(b, 1) AS f1_last, feature_last_seen(b, 3) AS unused_last
FROM b;
SELECT adoption(b, '{1,2,3,4}') AS half, adoption(b, '{1,1,2}') AS duplicates_count_once,
       adoption(b, '{2147483647}') AS huge_id, adoption(b, '{}') AS empty_list
FROM b;

-- DST does not move UTC days: the same answers under another session time zone
SET TIME ZONE 'America/New_York';
SELECT active_days(b), active_days(b, '2024-03-10 02:30:00-05', '14 days'),
       current_streak(b, '2024-02-29 23:00:00-05') AS streak_on_utc_march_1
FROM b;
-- an event at 23:30 New York time on 2024-11-03 (DST ends) is on UTC day 2024-11-04
SELECT active_days(x, '2024-11-04 00:00:00+00', '1 day') AS on_utc_nov_4,
       active_days(x, '2024-11-03 12:00:00+00', '1 day') AS on_utc_nov_3
FROM (SELECT behavior_agg('2024-11-03 23:30:00 America/New_York'::timestamptz) x) s;
SET TIME ZONE 'UTC';

-- quantile_score: 1 + breakpoints strictly below x; descending mirrors it
SELECT x, quantile_score(x, '{10,20,30,40}') AS asc_score, quantile_score(x, '{10,20,30,40}', true) AS desc_score
FROM unnest(ARRAY[-1e300, 5, 10, 10.5, 20, 40, 41, 'Infinity'::float8]) x;
SELECT quantile_score(3, '{}') AS no_breakpoints, quantile_score(3, '{1,1,1,5}') AS ties,
       quantile_score(1, '{1,1,1,5}', true) AS ties_desc, quantile_score(3, '{1,2}', false) AS explicit_asc;

-- a single event
SELECT event_count(x), active_days(x), current_streak(x, '2024-01-01 00:00+00'), features(x), value_sum(x)
FROM (SELECT behavior_agg('2024-01-01 00:00+00'::timestamptz) x) s;

-- STRICT: NULL arguments give NULL
SELECT recency_days(NULL, now()) IS NULL AS a, recency_days(b, NULL) IS NULL AS c,
       quantile_score(NULL, '{1}') IS NULL AS d, quantile_score(1, '{1}', NULL) IS NULL AS e
FROM b;

-- rfm_breakpoints: the quintiles of recency, frequency and monetary value,
-- as percentile_cont computes them (five users: 1..5 events, value = 10 x events)
CREATE TABLE five AS
SELECT u, behavior_agg(('2024-01-01'::date + u * 3 + e)::timestamptz, NULL::int, 10.0::float8) AS b
FROM generate_series(1, 5) u, generate_series(1, u) e GROUP BY u;
SELECT rfm_breakpoints(b, '2024-02-01 00:00+00') FROM five;
SELECT rfm_breakpoints(b, '2024-02-01 00:00+00') FROM five WHERE false;   -- no users: NULL
-- behavior_scores: every score in one call; RFM scores only with breakpoints
SELECT u, s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score, s.rfm_cell, s.features_used
FROM five, (SELECT rfm_breakpoints(b, '2024-02-01 00:00+00') AS bp FROM five) x,
     LATERAL behavior_scores(b, '2024-02-01 00:00+00', '{}', x.bp) s ORDER BY u;
SELECT s.frequency, s.r_score IS NULL AND s.rfm_cell IS NULL AS no_rfm, s.features_used, s.features_adopted, s.adoption_rate
FROM five, LATERAL behavior_scores(b, '2024-02-01 00:00+00', '{NULL,view}') s WHERE u = 2;
SELECT behavior_scores(NULL, now()) IS NULL AS null_behavior;
SELECT behavior_scores(b, '2024-02-01', '{}', '{1,2,3,4}') FROM five WHERE u = 1;
SELECT behavior_scores(b, '2024-02-01', '{}', '{{1,2,3,4},{1,2,3,4},{4,3,2,1}}') FROM five WHERE u = 1;
SELECT rfm_breakpoints(b, NULL) FROM five;
-- the same breakpoints by selection over counts (refresh on Citus:
-- sql/20-scores.sql), counting whole keys at once, after a round, or only
-- when a bucket holds one key; ties, negative values, one user, none
ALTER TABLE five RENAME b TO behavior;
ALTER TABLE five ADD opted_out boolean DEFAULT false;
INSERT INTO five SELECT 10 + u, behavior_agg(('2024-01-10'::date + u % 3)::timestamptz, NULL::int, -2.5 * (u % 4)), u % 5 = 0
FROM generate_series(1, 12) u, generate_series(1, u % 3 + 1) e GROUP BY u;
SELECT g, segmentation._rfm_breakpoints_split('five', '2024-02-01 00:00+00', g)
        = (SELECT rfm_breakpoints(behavior, '2024-02-01 00:00+00') FROM five WHERE NOT opted_out) AS same
FROM unnest(ARRAY[0, 1, 3, 10000]) g;
SELECT segmentation._rfm_breakpoints_split('five', '2024-02-01 00:00+00');
UPDATE five SET opted_out = u <> 3;
SELECT g, segmentation._rfm_breakpoints_split('five', '2024-02-01 00:00+00', g) AS one_user FROM unnest(ARRAY[0, 10000]) g;
UPDATE five SET opted_out = true;
SELECT segmentation._rfm_breakpoints_split('five', '2024-02-01 00:00+00') IS NULL AS no_users;
-- its C takes only what it makes
SELECT segmentation._rfm_keys(behavior, '2024-02-01', '{1,2,3}', '{0,0,0}', '{0,0,9223372036854775807}') FROM five WHERE u = 1;
SELECT segmentation._rfm_keys(behavior, '2024-02-01', '{1,2}', '{0,0}', '{0,0}') IS NULL AS in_no_window FROM five WHERE u = 1;
SELECT segmentation._rfm_keys(behavior, '2024-02-01', '{1,4}', '{0,0}', '{0,0}') FROM five WHERE u = 1;
SELECT segmentation._rfm_keys(behavior, '2024-02-01', '{1,2}', '{0}', '{0,0}') FROM five WHERE u = 1;
SELECT segmentation._rfm_keys(behavior, 'infinity', '{1}', '{0}', '{0}') FROM five WHERE u = 1;
SELECT segmentation._key_bucket(-9223372036854775808, 1, w.lo, w.hi, w.buckets) AS first,
       segmentation._key_bucket(9223372036854775807, 1, w.lo, w.hi, w.buckets) AS last,
       segmentation._key_bucket(-1, 1, w.lo, w.hi, w.buckets) AS below_zero,
       segmentation._key_bucket(7, 2, w.lo, w.hi, w.buckets) AS one_key_each,
       segmentation._key_bucket(7, 3, w.lo, w.hi, w.buckets) AS whole,
       segmentation._key_bucket(7, 4, w.lo, w.hi, w.buckets) AS of_two,
       segmentation._key_bucket(4, 4, w.lo, w.hi, w.buckets) AS of_two_first
FROM (SELECT '{-9223372036854775808,0,0,0}'::bigint[] AS lo, '{9223372036854775807,10,10,9}'::bigint[] AS hi,
             '{65536,65536,0,2}'::int[] AS buckets) w;
SELECT segmentation._key_bucket(5, 1, '{6}', '{10}', '{65536}');
SELECT segmentation._key_bucket(5, 2, '{0}', '{10}', '{65536}');
SELECT segmentation._key_bucket(5, 1, '{0}', '{10}', '{65536,65536}');
SELECT segmentation._key_bucket(5, 1, '{0}', '{10}', '{1}');
SELECT segmentation._key_bucket(5, 1, '{0}', '{10}', '{65537}');
-- the keys order as the values do, and give them back
SELECT array_agg(v ORDER BY segmentation._value_key(v)) AS by_key,
       bool_and(segmentation._key_value(segmentation._value_key(v)) = v) AS round_trip,
       segmentation._value_key('-0') = segmentation._value_key(0) AS minus_zero
FROM unnest('{3.5,-1e300,0,-2,1e-300,-1e-300,Infinity,-Infinity,2}'::float8[]) v;
SELECT segmentation._value_key('NaN');
SELECT segmentation._key_value(segmentation._value_key('Infinity') + 1);
-- a key's window: the windows in order of group and keys
SELECT k, segmentation._key_window(g, k, '{-5,7,7,9}', '{0,0,20,0}', '{9,10,30,0}') AS w
FROM (VALUES (7::bigint, 10::bigint), (7, 15), (7, 20), (7, 31), (-5, 0), (8, 0), (9, 0), (10, 0)) x(g, k);
SELECT segmentation._key_window(7, 1, '{7,7}', '{0,5}', '{5,9}');
SELECT segmentation._key_window(7, 1, '{8,7}', '{0,0}', '{5,9}');
SELECT segmentation._key_window(7, 1, '{7}', '{6}', '{5}');
SELECT segmentation._key_window(7, 1, '{7}', '{0,1}', '{5}');
SELECT segmentation._rfm_ranks(0);
SELECT segmentation._rfm_ranks(1), segmentation._rfm_ranks(7);
SELECT segmentation._rfm_breaks(7, array_fill(0::bigint, ARRAY[23]));
SELECT segmentation._rfm_breaks(7, array_fill(NULL::bigint, ARRAY[24]));
SELECT segmentation._rfm_breaks(7, array_fill(1::bigint, ARRAY[23]) || 0::bigint);
DROP TABLE five;

-- recency and tenure across the whole timestamp range: no int64 wrap
-- (the range is 109,203,528 days less a microsecond)
CREATE TABLE ends AS SELECT behavior_agg(ts) AS b FROM (VALUES
	('4714-11-24 00:00:00+00 BC'::timestamptz), ('294276-12-31 23:59:59.999999+00')) v(ts);
SELECT recency_days(b, '4714-11-24 00:00:00+00 BC') AS recency_back,
       tenure_days(b, '294276-12-31 23:59:59.999999+00') AS tenure_forward,
       tenure_days(b, '4714-11-24 00:00:00+00 BC') AS zero,
       recency_days(b, '294276-12-31 23:59:59.999999+00') AS zero_too
FROM ends;
SELECT s.recency_days, s.tenure_days
FROM ends, LATERAL behavior_scores(b, '4714-11-24 00:00:00+00 BC') s;
SELECT recency_days(behavior_agg('294276-12-31 23:59:59.999999+00'::timestamptz), '4714-11-24 00:00:00+00 BC')
     = -(tenure_days(behavior_agg('4714-11-24 00:00:00+00 BC'::timestamptz), '294276-12-31 23:59:59.999999+00')) AS symmetric;
SELECT rfm_breakpoints(b, '294276-12-31 23:59:59.999999+00') FROM ends;
CREATE VIEW ends_split AS SELECT b AS behavior, false AS opted_out FROM ends
UNION ALL SELECT behavior_agg('294276-12-31 23:59:59.999999+00'::timestamptz), false;
SELECT g, segmentation._rfm_breakpoints_split('ends_split', a, g) = (SELECT rfm_breakpoints(behavior, a) FROM ends_split) AS same
FROM unnest(ARRAY[0, 10000]) g, unnest(ARRAY['4714-11-24 00:00:00+00 BC', '294276-12-31 23:59:59.999999+00']::timestamptz[]) a;
DROP VIEW ends_split;
DROP TABLE ends;

DROP TABLE b;
