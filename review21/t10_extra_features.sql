SET search_path = segmentation, public;
SET statement_timeout = '1s';
\timing on
-- one row, extra_features = 100000 distinct ids in descending order: ExtraFeatures' insertion sort is quadratic, no interrupt check
SELECT event_count(behavior_agg_features(now(), 1, (SELECT array_agg(g ORDER BY g DESC) FROM generate_series(1, 100000) g), 1.0));
SELECT event_count(behavior_agg_features(now(), 1, (SELECT array_agg(g ORDER BY g) FROM generate_series(1, 100000) g), 1.0));
SELECT event_count(behavior_agg_features(now(), 1, (SELECT array_agg(g ORDER BY g DESC) FROM generate_series(1, 200000) g), 1.0));
