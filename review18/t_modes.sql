-- trigger modes switched inside a transaction: each step is checked (held)
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET ROLE r18_owner;
BEGIN;
ALTER TABLE r18.acct ENABLE REPLICA TRIGGER segmentation_attributes_update;
ROLLBACK;
ALTER TABLE r18.acct ENABLE ALWAYS TRIGGER segmentation_attributes_replica;
ALTER TABLE r18.acct ENABLE TRIGGER segmentation_attributes_truncate;
CREATE TRIGGER zz AFTER UPDATE ON r18.acct FOR EACH STATEMENT EXECUTE FUNCTION segmentation._capture_attributes();
ALTER TRIGGER segmentation_attributes_update ON r18.acct DEPENDS ON EXTENSION segmentation;
RESET ROLE;
