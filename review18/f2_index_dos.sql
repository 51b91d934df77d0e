-- F2: the owner of the attribute table adds an index on an expression of its own function:
-- the DDL event trigger lets it through (ddl => skips _check_readable), and every refresh fails
\set SHOW_CONTEXT never
SET ROLE r18_owner;
CREATE FUNCTION r18.f(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE INDEX acct_f ON r18.acct (r18.f(plan));
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT id, mode, left(error, 200) AS error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
-- variants that are equally cheap: statistics on an expression, a CHECK constraint
SET ROLE r18_owner;
DROP INDEX r18.acct_f;
CREATE STATISTICS r18.st ON (r18.f(plan)), salary FROM r18.acct;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SET ROLE r18_owner;
DROP STATISTICS r18.st;
ALTER TABLE r18.acct ADD CONSTRAINT c CHECK (r18.f(plan) IS NOT NULL) NOT VALID;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SET ROLE r18_owner;
ALTER TABLE r18.acct DROP CONSTRAINT c;
-- the owner revokes the tracker's SELECT (or a column of it): same effect
REVOKE SELECT (salary) ON r18.acct FROM r18_admin;
REVOKE SELECT ON r18.acct FROM r18_admin;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SET ROLE r18_owner;
GRANT SELECT ON r18.acct TO r18_admin;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
