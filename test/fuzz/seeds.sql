-- test/fuzz/seeds.sql: real behavior values for the fuzzer's seed corpus
-- (make_seeds.sh turns each row into one input per target).  name | hex
WITH ev(name, ts, feature, value) AS (
  VALUES
    ('one_event', '2024-03-01 12:00+00'::timestamptz, NULL::int, NULL::float8),
    ('one_feature', '2024-03-01 12:00+00', 3, NULL),
    ('one_value', '2024-03-01 12:00+00', NULL, 19.99),
    ('negative_value', '2024-03-01 12:00+00', 1, -5.5),
    ('before_2000', '1969-07-20 20:17+00', 0, 1),
    ('before_2000', '1969-07-21 02:56+00', 0, 1),
    ('far_past', '4713-01-01 00:00+00 BC', 7, 1e20),
    ('big_feature', '2024-03-01 12:00+00', 2147483647, 0.000000001),
    ('big_feature', '2024-03-02 12:00+00', 0, 1e23)
),
typical AS (  -- 30 active days in 60, 5 features, revenue
  SELECT 'typical' AS name, '2024-01-01'::timestamptz + (i * 2 || ' days')::interval + (i || ' hours')::interval AS ts,
         i % 5 AS feature, CASE WHEN i % 7 = 0 THEN 9.99 END AS value
  FROM generate_series(0, 29) i
),
dense AS (    -- 200 consecutive days (bitmap form, days past the inline words), 12 features
  SELECT 'dense', '2023-01-01'::timestamptz + (i || ' days')::interval, i % 12, i::float8
  FROM generate_series(0, 199) i
),
sparse AS (   -- 6 days over 3 years (gap form)
  SELECT 'sparse', '2021-01-01'::timestamptz + (i * 200 || ' days')::interval, NULL::int, NULL::float8
  FROM generate_series(0, 5) i
),
many_features AS (  -- 40 features in one day
  SELECT 'many_features', '2024-05-05 10:00+00'::timestamptz + (i || ' seconds')::interval, i * 1000, NULL::float8
  FROM generate_series(0, 39) i
),
mixed AS (    -- features over many days, out of order, and events without one; per-day values
  SELECT 'mixed', '2023-06-01'::timestamptz + (i * 7 % 120 || ' days')::interval + (i * 13 || ' minutes')::interval,
         CASE WHEN i % 4 = 0 THEN NULL ELSE i % 3 END, CASE WHEN i % 5 = 0 THEN -i * 0.5 END
  FROM generate_series(1, 150) i
),
long_feature AS (  -- one feature on 90 days (past the direct-insert bound of 64)
  SELECT 'long_feature', '2022-01-01'::timestamptz + (i * 2 || ' days')::interval, 4, NULL::float8
  FROM generate_series(0, 89) i
),
all_events AS (
  SELECT * FROM ev UNION ALL SELECT * FROM typical UNION ALL SELECT * FROM dense
  UNION ALL SELECT * FROM sparse UNION ALL SELECT * FROM many_features
  UNION ALL SELECT * FROM mixed UNION ALL SELECT * FROM long_feature
)
SELECT name, segmentation.behavior_agg(ts, feature, value)::text
FROM all_events GROUP BY name ORDER BY name;
-- features that overlap (event conditions): extra features, flagged series
SELECT 'extra_features', segmentation.behavior_agg_features(ts, feature, extra, value)::text
FROM (VALUES ('2024-03-01 10:00+00'::timestamptz, 0, '{1}'::int4[], 10::float8),
             ('2024-03-02 10:00+00', 0, NULL, 100),
             ('2024-03-02 11:00+00', NULL, '{2,1}', NULL),
             ('2024-03-05 09:00+00', 3, '{2}', -4)) v(ts, feature, extra, value);
