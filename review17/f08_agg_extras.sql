-- behavior_agg_features with hostile extra_features (as a role with no
-- segmentation_reader): an error or a value, never a crash
\c - r17_reader
SELECT segmentation.feature_count(segmentation.behavior_agg_features(now(), 1, ARRAY[2147483647], 1.0), 2147483647);
SELECT segmentation.feature_count(segmentation.behavior_agg_features(now(), 1, ARRAY[-5], 1.0), 1);
SELECT segmentation.feature_count(segmentation.behavior_agg_features(now(), 1, ARRAY[1,1,1,NULL,2,2], 1.0), 2);
SELECT segmentation.feature_count(segmentation.behavior_agg_features(now(), 1, ARRAY[[1,2],[3,4]], 1.0), 2);
SELECT segmentation.feature_count(segmentation.behavior_agg_features(ts, 1, CASE WHEN g % 2 = 0 THEN ARRAY[2] END, 1.0), 2)
FROM (SELECT now() - g * interval '1 day' AS ts, g FROM generate_series(1, 10) g) x;
SELECT segmentation.feature_count(segmentation.behavior_agg_features(now(), 1, (SELECT array_agg(g) FROM generate_series(1, 1000) g), 1.0), 999);
SELECT segmentation.feature_count(segmentation.behavior_agg_features(now(), NULL, ARRAY[5], 'NaN'), 5);
SELECT segmentation.feature_count(segmentation.behavior_agg_features('infinity', 1, ARRAY[5], 1), 5);
