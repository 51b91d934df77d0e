-- F03: the caller's array_nulls changes what a condition's array constant
-- means at refresh ('{NULL,pro}' re-read with array_nulls = off holds the
-- string 'NULL'): the same data, two different results
\c - r17_owner
INSERT INTO public.ev VALUES (5, '2024-04-20', 'buy', 1, 'NULL', NULL, 1);
\c - r17_admin2
SELECT segmentation.define_feature('nullplan', ARRAY['buy'], $c$plan = ANY ('{NULL,zzz}')$c$);
SELECT checked_condition FROM segmentation.features WHERE name = 'nullplan';
SELECT segmentation.refresh(as_of => '2024-05-02', "full" => true) IS NOT NULL AS refreshed_default;
\i counts.sql
\c - r17_admin2
SET array_nulls = off;
SELECT segmentation.refresh(as_of => '2024-05-03', "full" => true) IS NOT NULL AS refreshed_array_nulls_off;
\i counts.sql
-- and without any attacker: a backslash in a constant means something else
-- to a session (or database, or role) with standard_conforming_strings off
\c - r17_owner
INSERT INTO public.ev VALUES (6, '2024-04-20', 'buy', 1, 'C:\temp', NULL, 1);
\c - r17_admin2
SELECT segmentation.define_feature('winpath', ARRAY['buy'], $c$plan = 'C:\temp'$c$);
SELECT segmentation.refresh(as_of => '2024-05-04', "full" => true) IS NOT NULL AS refreshed_default;
\i counts.sql
\c - r17_admin2
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT segmentation.refresh(as_of => '2024-05-05', "full" => true) IS NOT NULL AS refreshed_scs_off;
\i counts.sql
