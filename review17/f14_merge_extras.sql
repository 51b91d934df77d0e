-- incremental == full for users whose stored behavior has a condition's
-- counts and who get new events that no condition lists (merged without
-- recomputing: behavior_agg + union with the stored extra series); held if 0
\c - r17_admin2
SELECT segmentation.define_feature('viewing', ARRAY['view']);
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan = 'pro'$c$);
SELECT segmentation.define_feature('cheap_buy', ARRAY['buy'], $c$amount < 50$c$);
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS full0;
\c - r17_owner
INSERT INTO public.ev SELECT u % 40, '2024-04-25'::timestamptz + u * interval '1 minute', 'view', u, 'pro', 's', u FROM generate_series(1, 100) u;
INSERT INTO public.ev VALUES (1000, '2024-04-26', 'other', 1, 'pro', 's', 1);
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS incremental;
\c - postgres
CREATE TABLE r17_inc AS SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) AS c,
  segmentation.events_in(p.behavior, f.id, '2024-05-04', '30 days') AS w FROM segmentation.profiles p, segmentation.features f;
CREATE TABLE r17_b AS SELECT user_id, behavior::text AS b FROM segmentation.profiles;
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-04', "full" => true) IS NOT NULL AS full1;
\c - postgres
SELECT mode FROM segmentation.refresh_runs ORDER BY id;
SELECT 'incremental vs full, differing rows' AS check, count(*) FROM (
  (SELECT * FROM r17_inc EXCEPT SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id), segmentation.events_in(p.behavior, f.id, '2024-05-04', '30 days') FROM segmentation.profiles p, segmentation.features f)
  UNION ALL
  (SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id), segmentation.events_in(p.behavior, f.id, '2024-05-04', '30 days') FROM segmentation.profiles p, segmentation.features f EXCEPT SELECT * FROM r17_inc)) d;
SELECT 'behaviors identical (incremental vs full)' AS check, count(*) FILTER (WHERE x.b = p.behavior::text) AS same, count(*) AS users
FROM r17_b x FULL JOIN segmentation.profiles p USING (user_id);
DROP TABLE r17_inc, r17_b;
