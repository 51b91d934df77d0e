-- owner DDL after tracking: each should be refused (held) or harmless
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET ROLE r18_owner;
ALTER TABLE r18.acct DISABLE TRIGGER USER;
ALTER TABLE r18.acct DISABLE TRIGGER segmentation_attributes_update;
DROP TRIGGER segmentation_attributes_update ON r18.acct;
ALTER TABLE r18.acct DROP CONSTRAINT acct_pkey;
ALTER TABLE r18.acct RENAME COLUMN plan TO plan2;
ALTER TABLE r18.acct ALTER COLUMN salary TYPE bigint;
ALTER TABLE r18.acct ALTER COLUMN plan TYPE varchar;
ALTER TABLE r18.acct ENABLE ROW LEVEL SECURITY;
CREATE TABLE r18.kid () INHERITS (r18.acct);
ALTER TABLE r18.acct ALTER COLUMN plan SET DATA TYPE text COLLATE "C";
ALTER TABLE r18.acct DROP COLUMN salary;
BEGIN; ALTER TABLE r18.acct DISABLE TRIGGER ALL; INSERT INTO r18.acct VALUES (50, 'x', 1); ALTER TABLE r18.acct ENABLE TRIGGER ALL; COMMIT;
ALTER TABLE r18.acct SET SCHEMA public;
ALTER TABLE public.acct SET SCHEMA r18;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
