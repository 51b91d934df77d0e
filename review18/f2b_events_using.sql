-- F2 on the events side (pre-existing?): ALTER COLUMN amount TYPE numeric USING amount * 10
\set SHOW_CONTEXT never
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
ALTER TABLE ev ALTER COLUMN amount TYPE numeric USING amount * 10;
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SELECT user_id, monetary FROM segmentation.scores ORDER BY 1 LIMIT 3;
SELECT segmentation.refresh(true, as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SELECT user_id, monetary FROM segmentation.scores ORDER BY 1 LIMIT 3;
