-- Bad input: an error that names the argument, never a crash or wrong data.
SET TIME ZONE 'UTC';
SET search_path = segmentation, public;
\set VERBOSITY default

CREATE TABLE b AS SELECT behavior_agg(ts) b FROM (VALUES ('2024-01-01 10:00+00'::timestamptz)) v(ts);

-- aggregate arguments
SELECT behavior_agg(ts) FROM (VALUES ('infinity'::timestamptz)) v(ts);
SELECT behavior_agg(ts) FROM (VALUES ('-infinity'::timestamptz)) v(ts);
SELECT behavior_agg(now(), -1);
SELECT behavior_agg(now(), 1, 'NaN');
SELECT behavior_agg(now(), 1, 'Infinity');
SELECT behavior_agg(now(), 1, '-Infinity');
SELECT behavior_agg(now(), 1, 1e30);
-- a value sum that would overflow is refused, not wrapped
SELECT behavior_agg(now(), 1, 9e23) FROM generate_series(1, 200000);

-- accessor arguments
SELECT recency_days(b, 'infinity') FROM b;
SELECT tenure_days(b, '-infinity') FROM b;
SELECT active_days(b, 'infinity', '7 days') FROM b;
SELECT active_days(b, now(), '1 month') FROM b;
SELECT active_days(b, now(), '36 hours') FROM b;
SELECT active_days(b, now(), '0 days') FROM b;
SELECT active_days(b, now(), '-7 days') FROM b;
SELECT current_streak(b, 'infinity') FROM b;
SELECT decayed_activity(b, now(), '1 month') FROM b;
SELECT decayed_activity(b, now(), '0 days') FROM b;
SELECT decayed_activity(b, 'infinity', '7 days') FROM b;
SELECT feature_count(b, -1) FROM b;
SELECT feature_last_seen(b, -5) FROM b;
SELECT adoption(b, '{1,NULL}') FROM b;
SELECT adoption(b, '{1,-2}') FROM b;
SELECT quantile_score('NaN', '{1,2}');
SELECT quantile_score(1, '{1,NULL}');
SELECT quantile_score(1, '{1,NaN}');
SELECT quantile_score(1, '{3,2,1}');

-- (corrupted binary input through COPY ... FORMAT binary: test/robustness.py)

DROP TABLE b;

-- support functions called directly, outside an aggregate: an error, or a
-- plain result that leaves its inputs as they were
SELECT behavior_agg_trans(NULL, now());
SELECT behavior_agg_trans(behavior_agg('2024-01-01 00:00+00'::timestamptz), now(), 1, 1.0);
CREATE TABLE kept AS SELECT behavior_agg('2024-01-01 00:00+00'::timestamptz) AS b;
SELECT event_count(behavior_merge(b, b)) AS merged, event_count(b) AS kept FROM kept;
SELECT event_count(b) AS still_kept FROM kept;
DROP TABLE kept;
-- arrays with NULLs or several dimensions
SELECT adoption(behavior_agg('2024-01-01 00:00+00'::timestamptz, 1), '{1,NULL}');
SELECT quantile_score(1, '{1,NULL}');
SELECT srm_test('{{1,2}}', '{{1,1}}');
SELECT srm_test('{1,NULL}', '{1,1}');
