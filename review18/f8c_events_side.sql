-- F8c: the same trick on a tracked events table (track(), pre-existing code in 60-capture.sql)
\set SHOW_CONTEXT never
SELECT segmentation.refresh(as_of => '2024-05-10 15:00') IS NOT NULL AS refreshed;
BEGIN;
ALTER TRIGGER segmentation_capture_insert ON ev RENAME TO hidden;
ALTER TABLE ev DISABLE TRIGGER hidden;
INSERT INTO ev VALUES (1, '2024-05-10 11:00', 'view', 1000);
ALTER TABLE ev ENABLE TRIGGER hidden;
ALTER TRIGGER hidden ON ev RENAME TO segmentation_capture_insert;
COMMIT;
SELECT count(*) AS pending FROM segmentation.pending_events;
SELECT segmentation.refresh(as_of => '2024-05-10 15:30') IS NOT NULL AS refreshed;
SELECT user_id, frequency, monetary FROM segmentation.scores WHERE user_id = 1;
SELECT segmentation.refresh(true, as_of => '2024-05-10 15:30') IS NOT NULL AS refreshed;
SELECT user_id, frequency, monetary FROM segmentation.scores WHERE user_id = 1;
