-- incremental == full with conditions over an inheritance tree: a child
-- with extra columns, another column order and a dropped-column hole,
-- attached with ALTER TABLE ... INHERIT (rows already in it); writes to the
-- child directly and through the parent (held if 0 pairs differ)
\c - r17_owner
CREATE TABLE public.ev3 (uid bigint, ts timestamptz, event text, amount float8, plan text, n int);
CREATE INDEX ON public.ev3 (uid);
INSERT INTO public.ev3 SELECT u % 20, '2024-04-01'::timestamptz + u * interval '2 hours', CASE WHEN u % 3 = 0 THEN 'buy' ELSE 'view' END,
  u, CASE WHEN u % 2 = 0 THEN 'pro' ELSE 'free' END, u FROM generate_series(1, 100) u;
CREATE TABLE public.ev3_c (junk int, extra1 text DEFAULT 'x', n int, plan text, amount float8, event text, ts timestamptz, uid bigint, extra2 jsonb);
ALTER TABLE public.ev3_c DROP COLUMN junk;
INSERT INTO public.ev3_c (uid, ts, event, amount, plan, n) SELECT u % 20, '2024-04-10'::timestamptz + u * interval '1 hour', 'buy', u, 'pro', u FROM generate_series(1, 30) u;
GRANT SELECT, TRIGGER ON public.ev3 TO r17_admin;
\c - r17_admin
SELECT segmentation.untrack('public.ev');
SELECT segmentation.track('public.ev3','uid','ts','event','amount');
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan = 'pro' AND n < 25$c$);
SELECT segmentation.refresh(as_of => '2024-06-01') IS NOT NULL AS full0;
\c - r17_owner
ALTER TABLE public.ev3_c INHERIT public.ev3;     -- rows already there
\c - r17_admin
SELECT segmentation.refresh(as_of => '2024-06-02') IS NOT NULL AS after_inherit;
\c - r17_owner
INSERT INTO public.ev3_c (uid, ts, event, amount, plan, n) VALUES (3, '2024-05-01', 'buy', 1, 'pro', 1);
UPDATE public.ev3 SET n = 1 WHERE uid IN (4, 5);            -- through the parent: child rows too
UPDATE public.ev3_c SET plan = 'free' WHERE uid = 6;        -- the child directly
DELETE FROM public.ev3 WHERE uid = 7 AND event = 'buy';
\c - postgres
SET session_replication_role = replica;
UPDATE public.ev3_c SET plan = 'pro', n = 2 WHERE uid = 8;
RESET session_replication_role;
\c - r17_admin
SELECT segmentation.refresh(as_of => '2024-06-03') IS NOT NULL AS incremental;
\c - postgres
CREATE TABLE r17_inc AS SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) AS c FROM segmentation.profiles p, segmentation.features f;
\c - r17_admin
SELECT segmentation.refresh(as_of => '2024-06-04', "full" => true) IS NOT NULL AS full1;
\c - postgres
SELECT string_agg(mode, ', ' ORDER BY id) AS modes FROM segmentation.refresh_runs;
SELECT 'incremental vs full, differing (user, feature) pairs' AS check, count(*) FROM (
  (SELECT * FROM r17_inc EXCEPT SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) FROM segmentation.profiles p, segmentation.features f)
  UNION ALL
  (SELECT p.user_id, f.name, segmentation.feature_count(p.behavior, f.id) FROM segmentation.profiles p, segmentation.features f EXCEPT SELECT * FROM r17_inc)) d;
DROP TABLE r17_inc;
