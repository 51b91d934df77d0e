-- F3 fix bypass: CONCURRENTLY commands commit before the event trigger refuses them
\set refresh 'SELECT segmentation.refresh() IS NOT NULL AS refreshed;'
\set indexes 'SELECT indexrelid::regclass, indisunique, indisvalid, indisready FROM pg_index WHERE indrelid = ''r20.acct''::regclass ORDER BY 1;'
SET ROLE r20_owner;
CREATE FUNCTION r20.f(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
-- 1. CREATE INDEX CONCURRENTLY on the owner's function: refused, but the index stays (invalid)
CREATE INDEX CONCURRENTLY i3 ON r20.acct (r20.f(plan));
:indexes
RESET ROLE;
:refresh
SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SET ROLE r20_owner;
DROP INDEX r20.i3;
RESET ROLE;
:refresh
-- 2. DROP INDEX CONCURRENTLY of the only unique index on the user column
SET ROLE r20_owner;
CREATE UNIQUE INDEX u2 ON r20.acct (id);
ALTER TABLE r20.acct DROP CONSTRAINT acct_pkey;
RESET ROLE;
:refresh
SET ROLE r20_owner;
DROP INDEX CONCURRENTLY r20.u2;
:indexes
-- the index is no longer maintained: duplicates go in
INSERT INTO r20.acct VALUES (1, 'dup', 1);
SELECT id, count(*) FROM r20.acct GROUP BY id HAVING count(*) > 1;
RESET ROLE;
:refresh
SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
