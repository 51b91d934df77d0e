-- an owner rewrites a condition's column without DML (ALTER ... TYPE ...
-- USING): the next refresh must be full, and equal a forced full refresh
-- (held if mode is 'full' and 0 pairs differ; counts per user before/after differ)
\c - r17_admin2
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan = 'pro'$c$);
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS full0;
\c - postgres
CREATE TABLE r17_before AS SELECT p.user_id, segmentation.feature_count(p.behavior, 0) AS c FROM segmentation.profiles p;
\c - r17_owner
ALTER TABLE public.ev ALTER COLUMN plan TYPE text USING (CASE WHEN plan = 'pro' THEN 'free' ELSE 'pro' END);
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS after_alter;
\c - postgres
SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
CREATE TABLE r17_after AS SELECT p.user_id, segmentation.feature_count(p.behavior, 0) AS c FROM segmentation.profiles p;
SELECT 'users whose count changed with the ALTER' AS check, count(*) FROM r17_before b JOIN r17_after a USING (user_id) WHERE a.c <> b.c;
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-04', "full" => true) IS NOT NULL AS full1;
\c - postgres
SELECT 'after ALTER vs forced full, differing users' AS check, count(*) FROM r17_after a JOIN segmentation.profiles p USING (user_id)
WHERE a.c <> segmentation.feature_count(p.behavior, 0);
DROP TABLE r17_before, r17_after;
