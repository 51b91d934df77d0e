-- F6: untrack the last events table and track it again: the state is recreated
-- without the attributes in segmentation.scores while track_users' config stays
\set SHOW_CONTEXT never
SELECT segmentation.define_segment('tier', 'rich', $$salary > 4500$$);
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT segmentation.untrack('ev');
SELECT to_regclass('segmentation.profiles') AS profiles, to_regclass('segmentation.user_attributes') AS user_attributes,
       (SELECT count(*) FROM segmentation.attribute_sources) AS attribute_sources;
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
SELECT attname FROM pg_attribute WHERE attrelid = 'segmentation.scores'::regclass AND attname IN ('plan', 'salary');
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
