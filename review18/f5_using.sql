-- F5: ALTER COLUMN ... TYPE <same type> USING <expr> rewrites the values (or the user ids)
-- without firing any trigger; the event trigger sees the same type and lets it through;
-- incremental refresh keeps the old values: incremental != full, silently
\set SHOW_CONTEXT never
SELECT segmentation.define_segment('tier', 'rich', $$salary > 4500$$);
SELECT segmentation.refresh(as_of => '2024-05-10 12:30') IS NOT NULL AS refreshed;
SELECT user_id, salary, tier FROM segmentation.user_scores ORDER BY 1;
SET ROLE r18_owner;
ALTER TABLE r18.acct ALTER COLUMN salary TYPE int USING salary * 10;      -- every salary x10
ALTER TABLE r18.acct ALTER COLUMN id TYPE bigint USING 9 - id;            -- user ids remapped: 1<->8, 2<->7...
SELECT id, salary FROM r18.acct ORDER BY 1;
RESET ROLE;
SELECT count(*) AS queued FROM segmentation.attribute_queue;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT user_id, salary, tier FROM segmentation.user_scores ORDER BY 1;   -- incremental: stale
SELECT segmentation.refresh(true, as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT user_id, salary, tier FROM segmentation.user_scores ORDER BY 1;   -- full: differs
SELECT segmentation.drop_segment('tier', 'rich');
