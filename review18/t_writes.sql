-- writes of all kinds, then an incremental refresh: user_attributes must equal the table
\set SHOW_CONTEXT never
SET ROLE r18_owner;
MERGE INTO r18.acct t USING (VALUES (1, 'm1'), (2, 'm2'), (20, 'm20')) v(id, plan) ON t.id = v.id
WHEN MATCHED AND v.id = 1 THEN UPDATE SET plan = v.plan
WHEN MATCHED AND v.id = 2 THEN DELETE
WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.plan, 0);
INSERT INTO r18.acct VALUES (3, 'c3', 3), (21, 'c21', 21) ON CONFLICT (id) DO UPDATE SET plan = 'oc' || EXCLUDED.plan;
UPDATE r18.acct SET id = 30 WHERE id = 4;
UPDATE r18.acct SET id = CASE id WHEN 5 THEN 6 ELSE 5 END WHERE id IN (5, 6);
COPY r18.acct FROM PROGRAM 'echo 40,copy,1' WITH (FORMAT csv);
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT 'missing or different' AS problem, * FROM (SELECT id, plan, salary FROM r18.acct EXCEPT SELECT user_id, plan, salary FROM segmentation.user_attributes) x
UNION ALL
SELECT 'extra', * FROM (SELECT user_id, plan, salary FROM segmentation.user_attributes EXCEPT SELECT id, plan, salary FROM r18.acct) y;
