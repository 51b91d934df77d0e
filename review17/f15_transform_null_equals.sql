-- the caller's transform_null_equals at refresh (held if both counts are 0)
\c - r17_owner
INSERT INTO public.ev VALUES (5, '2024-04-20', 'buy', 1, NULL, NULL, 1);
\c - r17_admin2
SELECT segmentation.define_feature('eqnull', ARRAY['buy'], $c$plan = NULL$c$);
SELECT checked_condition FROM segmentation.features;
SELECT segmentation.refresh(as_of => '2024-05-02', "full" => true) IS NOT NULL AS refreshed_default;
\i counts.sql
\c - r17_admin2
SET transform_null_equals = on;
SELECT segmentation.refresh(as_of => '2024-05-03', "full" => true) IS NOT NULL AS refreshed_transform_on;
\i counts.sql
