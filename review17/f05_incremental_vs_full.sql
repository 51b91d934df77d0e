-- incremental == full with conditions over a partitioned tree: updates of a
-- condition column, rows moved between partitions, a REPLICA-role writer, a
-- partition with another column order and a dropped-column hole, a direct
-- write to a partition. (Held, if the two snapshots agree.)
\c - postgres
SET TIME ZONE 'UTC';
SET ROLE r17_owner;
CREATE TABLE public.ev2 (uid bigint, ts timestamptz, event text, amount float8, plan text, n int) PARTITION BY RANGE (ts);
CREATE TABLE public.ev2_a PARTITION OF public.ev2 FOR VALUES FROM ('2024-01-01') TO ('2024-04-15');
CREATE TABLE public.ev2_b (junk int, n int, plan text, amount float8, event text, ts timestamptz, uid bigint);
ALTER TABLE public.ev2_b DROP COLUMN junk;
ALTER TABLE public.ev2 ATTACH PARTITION public.ev2_b FOR VALUES FROM ('2024-04-15') TO ('2024-06-01');
CREATE INDEX ON public.ev2 (uid);
INSERT INTO public.ev2 SELECT u % 30, '2024-04-01'::timestamptz + u * interval '3 hours', CASE WHEN u % 3 = 0 THEN 'buy' ELSE 'view' END,
  u, CASE WHEN u % 2 = 0 THEN 'pro' ELSE 'free' END, u FROM generate_series(1, 300) u;
GRANT SELECT, TRIGGER ON public.ev2 TO r17_admin;
RESET ROLE;
\c - r17_admin
SELECT segmentation.untrack('public.ev');
SELECT segmentation.track('public.ev2','uid','ts','event','amount');
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan = 'pro'$c$);
SELECT segmentation.define_feature('big_buy', ARRAY['buy','view'], $c$n > 150 AND lower(plan) LIKE 'p%'$c$);
SELECT segmentation.refresh(as_of => '2024-06-01', "full" => true) IS NOT NULL AS full0;
\c - r17_owner
UPDATE public.ev2 SET plan = 'pro' WHERE uid IN (1, 3) AND plan = 'free';
UPDATE public.ev2 SET ts = ts + interval '20 days', plan = 'free' WHERE uid = 4 AND ts < '2024-04-10';   -- moved a -> b
UPDATE public.ev2_b SET n = n + 200 WHERE uid = 5;                                                       -- a partition directly
INSERT INTO public.ev2_a VALUES (6, '2024-04-02', 'buy', 1, 'pro', 1);
DELETE FROM public.ev2 WHERE uid = 8 AND plan = 'pro';
\c - postgres
SET session_replication_role = replica;
UPDATE public.ev2 SET plan = 'pro' WHERE uid = 9;
UPDATE public.ev2_a SET event = 'buy' WHERE uid = 10;
INSERT INTO public.ev2 VALUES (11, '2024-05-01', 'buy', 1, 'pro', 999);
RESET session_replication_role;
\c - r17_admin
SELECT segmentation.refresh(as_of => '2024-06-02') IS NOT NULL AS incremental;
\c - postgres
CREATE TABLE r17_inc AS SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) AS c FROM segmentation.profiles p, segmentation.features f;
\c - r17_admin
SELECT segmentation.refresh(as_of => '2024-06-03', "full" => true) IS NOT NULL AS full1;
\c - postgres
SELECT 'incremental vs full, differing (user, feature) pairs' AS check, count(*) FROM (
  (SELECT * FROM r17_inc EXCEPT SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) FROM segmentation.profiles p, segmentation.features f)
  UNION ALL
  (SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) FROM segmentation.profiles p, segmentation.features f EXCEPT SELECT * FROM r17_inc)) d;
SELECT mode, count(*) FROM segmentation.refresh_runs GROUP BY 1 ORDER BY 1;
DROP TABLE r17_inc;
