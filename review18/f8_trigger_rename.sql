-- F8: the owner renames a capture trigger: ddl_command_end checks with missing_ok (for restores),
-- so the rename passes; every refresh then fails ("capture trigger ... is missing")
\set SHOW_CONTEXT never
SET ROLE r18_owner;
ALTER TRIGGER segmentation_attributes_insert ON r18.acct RENAME TO mine;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
-- an admin re-tracking (untrack + track) is the only way out; renaming back also works
SET ROLE r18_owner;
ALTER TRIGGER mine ON r18.acct RENAME TO segmentation_attributes_insert;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
