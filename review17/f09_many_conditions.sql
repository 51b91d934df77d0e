-- F09: no bound on the total cost of all conditions: 1000 features each with
-- a 32-operation condition, all listing the common event, cost 32,000
-- operations per row of that event at every full refresh (the per-condition
-- bound is 32; predicates have a cost model, conditions' sum has none)
\set cond `cat f09_cond.txt`
\c - r17_owner
INSERT INTO public.ev SELECT u % 1000, '2024-04-01'::timestamptz + u * interval '1 minute', 'view', u, repeat('pro', 300), 's', u
FROM generate_series(1, 20000) u;
\c - r17_admin2
\timing on
SELECT segmentation.refresh(as_of => '2024-05-02', "full" => true) IS NOT NULL AS full_without_conditions;
SELECT count(segmentation.define_feature('f' || i, ARRAY['view'], :'cond')) FROM generate_series(1, 1000) i;
SELECT segmentation.refresh(as_of => '2024-05-03', "full" => true) IS NOT NULL AS full_with_1000_conditions;
