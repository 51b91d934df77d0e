-- incremental == full when the condition's column changes through MERGE
-- (UPDATE, DELETE and INSERT actions in one statement) and INSERT ... ON
-- CONFLICT DO UPDATE (held, if the last count is 0)
\c - r17_owner
CREATE UNIQUE INDEX ev_uid_ts ON public.ev (uid, ts);
\c - r17_admin2
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan = 'pro'$c$);
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS full0;
\c - r17_owner
CREATE TEMP TABLE src AS SELECT uid, ts, event, amount, plan, n FROM public.ev WHERE uid IN (1, 2, 3) AND event = 'buy';
INSERT INTO src VALUES (33, '2024-04-29', 'buy', 1, 'pro', 1);
MERGE INTO public.ev e USING src s ON e.uid = s.uid AND e.ts = s.ts
WHEN MATCHED AND s.uid = 1 THEN UPDATE SET plan = CASE WHEN e.plan = 'pro' THEN 'free' ELSE 'pro' END
WHEN MATCHED AND s.uid = 2 THEN DELETE
WHEN NOT MATCHED THEN INSERT VALUES (s.uid, s.ts, s.event, s.amount, s.plan, NULL, s.n);
INSERT INTO public.ev SELECT uid, ts, event, amount, 'pro', secret, n FROM public.ev WHERE uid = 4 AND event = 'buy'
ON CONFLICT (uid, ts) DO UPDATE SET plan = 'pro';
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS incremental;
\c - postgres
CREATE TABLE r17_inc AS SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) AS c FROM segmentation.profiles p, segmentation.features f;
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-04', "full" => true) IS NOT NULL AS full1;
\c - postgres
SELECT mode FROM segmentation.refresh_runs ORDER BY id;
SELECT 'incremental vs full, differing (user, feature) pairs' AS check, count(*) FROM (
  (SELECT * FROM r17_inc EXCEPT SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) FROM segmentation.profiles p, segmentation.features f)
  UNION ALL
  (SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) FROM segmentation.profiles p, segmentation.features f EXCEPT SELECT * FROM r17_inc)) d;
DROP TABLE r17_inc;
