-- F4: text user ids; the owner gives the user column the built-in collation "C"
-- (same type: the event trigger lets it through); every incremental refresh then fails
\set SHOW_CONTEXT never
SET ROLE r18_owner;
ALTER TABLE r18.acct ALTER COLUMN id TYPE text COLLATE "C";
UPDATE r18.acct SET plan = 'changed' WHERE id = '1';
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SET ROLE r18_owner;
UPDATE r18.acct SET plan = 'changed again' WHERE id = '1';
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
