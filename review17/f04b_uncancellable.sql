-- F04b: the same row as F04, with statement_timeout = 5 s: how long until
-- the refresh gives up? (expression evaluation does not check for interrupts
-- between the array's elements: cancel waits for the whole row)
\set cond `cat f04_cond.txt`
\c - r17_admin2
SELECT segmentation.define_feature('lt_any', ARRAY['buy'], :'cond');
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed_small_rows;
\c - r17_owner
INSERT INTO public.ev VALUES (7, '2024-04-20', 'buy', 1, repeat('b', 10000000), NULL, 1);
\c - r17_admin2
\timing on
SET statement_timeout = '5s';
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed_one_10mb_row;
