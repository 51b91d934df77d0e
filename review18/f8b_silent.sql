-- F8b: rename + disable + write + enable + rename back, in one transaction: every DDL passes,
-- the write is never captured, refresh succeeds: incremental != full, silently
\set SHOW_CONTEXT never
SELECT segmentation.define_segment('tier', 'rich', $$salary > 4500$$);
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SET ROLE r18_owner;
BEGIN;
ALTER TRIGGER segmentation_attributes_update ON r18.acct RENAME TO hidden;
ALTER TABLE r18.acct DISABLE TRIGGER hidden;
UPDATE r18.acct SET salary = 99999 WHERE id = 1;
ALTER TABLE r18.acct ENABLE TRIGGER hidden;
ALTER TRIGGER hidden ON r18.acct RENAME TO segmentation_attributes_update;
COMMIT;
RESET ROLE;
SELECT count(*) AS queued FROM segmentation.attribute_queue;
SELECT segmentation.refresh(as_of => '2024-05-10 14:30') IS NOT NULL AS refreshed;
SELECT user_id, salary, tier FROM segmentation.user_scores WHERE user_id = 1;   -- incremental: 1000, unsegmented
SELECT segmentation.refresh(true, as_of => '2024-05-10 14:30') IS NOT NULL AS refreshed;
SELECT user_id, salary, tier FROM segmentation.user_scores WHERE user_id = 1;   -- full: 99999, rich
SELECT segmentation.drop_segment('tier', 'rich');
