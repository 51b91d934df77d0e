-- F16: each of a condition's operations detoasts the value again and keeps
-- the copy until the next row: 32 LIKEs on one compressible 100 MB value
-- hold ~3.2 GB in the refresh's backend (a 1 GB value: ~32 GB: out of
-- memory, or the kernel's OOM killer, which restarts the whole server).
-- Run with f16_memory.sh, which samples the backend's peak RSS (VmHWM).
\set cond `cat f16_cond.txt`
\c - r17_admin2
SELECT segmentation.define_feature('plans', ARRAY['buy'], :'cond');
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed_small_rows;
\c - r17_owner
INSERT INTO public.ev VALUES (7, '2024-04-20', 'buy', 1, repeat('z', 100000000), NULL, 1);
\c - r17_admin2
SELECT pg_sleep(3);
\timing on
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed_one_100mb_row;
