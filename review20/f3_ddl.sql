-- F3/F8 variants: the owner's DDL; after each, does refresh still run?
\set refresh 'SELECT segmentation.refresh() IS NOT NULL AS refreshed;'
SET ROLE r20_owner;
CREATE FUNCTION r20.f(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE NOTICE 'r20.f runs as %', current_user; RETURN $1; END $$;
CREATE FUNCTION r20.fi(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RAISE NOTICE 'r20.fi runs as %', current_user; RETURN $1; END $$;
-- F8: rename a capture trigger; rename the table and its schema
ALTER TRIGGER segmentation_attributes_update ON r20.acct RENAME TO hidden;
ALTER TABLE r20.acct RENAME TO acct2;
ALTER TABLE r20.acct2 RENAME TO acct;
RESET ROLE;
ALTER SCHEMA r20 RENAME TO r20b;
ALTER SCHEMA r20b RENAME TO r20;
:refresh
-- F3: index, statistics, CHECK, exclusion with the owner's function
SET ROLE r20_owner;
CREATE INDEX i1 ON r20.acct (r20.f(plan));
CREATE STATISTICS r20.st ON (r20.f(plan)), salary FROM r20.acct;
ALTER TABLE r20.acct ADD CONSTRAINT c CHECK (r20.f(plan) IS NOT NULL) NOT VALID;
CREATE UNIQUE INDEX i2 ON r20.acct (id) WHERE r20.fi(salary) > 0;
-- harmless ones, expected accepted
ALTER INDEX r20.acct_pkey ALTER COLUMN 1 SET STATISTICS 500;
ALTER TABLE r20.acct ALTER COLUMN plan SET (n_distinct = 5);
ALTER TABLE r20.acct ALTER COLUMN plan SET DEFAULT r20.f('x');
ALTER TABLE r20.acct ADD COLUMN g int GENERATED ALWAYS AS (r20.fi(salary)) STORED;
RESET ROLE;
:refresh
-- CREATE INDEX CONCURRENTLY: refused at its end, after its transactions committed?
SET ROLE r20_owner;
CREATE INDEX CONCURRENTLY i3 ON r20.acct (r20.f(plan));
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indrelid = 'r20.acct'::regclass;
RESET ROLE;
:refresh
SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
