-- F04: CONDITION_MAX_OPERATIONS counts "plan < ANY (<array>)" as one
-- operation, but a non-hashed ScalarArrayOpExpr (<, <=, >, >=; and = / <>
-- below 9 elements) compares the row's value with every element: one
-- condition within the 10,000-byte limit compares each row ~2,300 times
-- (collation-aware strcoll: each comparison copies and reads the value).
-- Any writer of the tracked table then makes every refresh slow with a few
-- large rows (here 1 row of 10 MB: ~10 s; 400 such rows pass the 1 h timeout).
\set cond `cat f04_cond.txt`
\c - r17_admin2
SELECT segmentation.define_feature('lt_any', ARRAY['buy'], :'cond');
\timing on
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed_small_rows;
\c - r17_owner
INSERT INTO public.ev VALUES (7, '2024-04-20', 'buy', 1, repeat('b', 10000000), NULL, 1);
\c - r17_admin2
\timing on
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed_one_10mb_row;
SELECT segmentation.define_feature('lt_any', ARRAY['buy'], $c$plan < 'a'$c$);
SELECT segmentation.refresh(as_of => '2024-05-04') IS NOT NULL AS refreshed_same_data_one_comparison;
