-- F2 and other ways values change: is user_attributes == the table after an incremental refresh?
\set diff 'SELECT (SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1) AS last_mode, count(*) AS mismatches FROM r20.acct a FULL JOIN segmentation.user_attributes u ON u.user_id = a.id WHERE (a.id, a.plan, a.salary) IS DISTINCT FROM (u.user_id, u.plan, u.salary)'
\set refresh 'SELECT segmentation.refresh() IS NOT NULL AS refreshed'
-- 1. F2: ALTER ... TYPE same USING
SET ROLE r20_owner;
ALTER TABLE r20.acct ALTER COLUMN salary TYPE int USING salary * 10;
RESET ROLE;
:refresh;
:diff;
-- 2. a foreign key ON UPDATE CASCADE: the owner updates the parent table, plan changes in acct
SET ROLE r20_owner;
CREATE TABLE r20.plans (name text PRIMARY KEY);
INSERT INTO r20.plans VALUES ('free'), ('pro');
ALTER TABLE r20.acct ADD FOREIGN KEY (plan) REFERENCES r20.plans ON UPDATE CASCADE ON DELETE SET NULL;
RESET ROLE;
:refresh;
SET ROLE r20_owner;
UPDATE r20.plans SET name = 'gold' WHERE name = 'pro';
DELETE FROM r20.plans WHERE name = 'free';
RESET ROLE;
SELECT count(*) AS queued FROM segmentation.attribute_queue;
:refresh;
:diff;
-- 3. writes through an automatically updatable view (writer's view)
SET ROLE r20_owner;
CREATE VIEW r20.v AS SELECT * FROM r20.acct WHERE id > 2;
UPDATE r20.v SET salary = 1 WHERE id = 3;
INSERT INTO r20.v VALUES (42, NULL, 42);
RESET ROLE;
SELECT count(*) AS queued FROM segmentation.attribute_queue;
:refresh;
:diff;
-- 4. COPY FROM STDIN by the writer
SET ROLE r20_writer;
COPY r20.acct (id, plan, salary) FROM STDIN;
43	\N	43
\.
RESET ROLE;
:refresh;
:diff;
-- 5. a key update through ON CONFLICT and a MERGE that deletes
SET ROLE r20_writer;
INSERT INTO r20.acct VALUES (1, NULL, 1) ON CONFLICT (id) DO UPDATE SET id = 100;
RESET ROLE;
SET ROLE r20_owner;
MERGE INTO r20.acct a USING (VALUES (2), (44)) x(id) ON a.id = x.id
WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (x.id, NULL, 44);
RESET ROLE;
:refresh;
:diff;
-- 6. a deferred constraint trigger of the owner's that updates at commit
SET ROLE r20_owner;
CREATE FUNCTION r20.late() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE r20.acct SET salary = 777 WHERE id = 4 AND salary <> 777; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER late AFTER INSERT ON r20.acct DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION r20.late();
INSERT INTO r20.acct VALUES (45, NULL, 45);
RESET ROLE;
:refresh;
:diff;
-- 7. rows deleted and the table refilled, in one transaction, with TRUNCATE
SET ROLE r20_owner;
BEGIN; TRUNCATE r20.acct CASCADE; INSERT INTO r20.acct VALUES (1, NULL, 5); COMMIT;
RESET ROLE;
:refresh;
:diff;
