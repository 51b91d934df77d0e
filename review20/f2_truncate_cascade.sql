-- TRUNCATE of another table that cascades to the attribute table (a foreign key)
SET ROLE r20_owner;
CREATE TABLE r20.plans (name text PRIMARY KEY);
INSERT INTO r20.plans VALUES ('free'), ('pro');
ALTER TABLE r20.acct ADD FOREIGN KEY (plan) REFERENCES r20.plans;
RESET ROLE;
SELECT segmentation.refresh() IS NOT NULL AS refreshed;
SET ROLE r20_owner;
TRUNCATE r20.plans CASCADE;
SELECT count(*) AS acct_rows FROM r20.acct;
RESET ROLE;
SELECT segmentation.refresh() IS NOT NULL AS refreshed;
SELECT (SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1) AS last_mode, count(*) AS mismatches FROM r20.acct a FULL JOIN segmentation.user_attributes u ON u.user_id = a.id WHERE (a.id, a.plan, a.salary) IS DISTINCT FROM (u.user_id, u.plan, u.salary);
