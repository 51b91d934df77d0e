-- F1: a segmentation_admin who may not read r18.acct.salary defines a segment on it
-- and learns every user's salary through segment membership (binary search)
\set SHOW_CONTEXT never
DROP ROLE IF EXISTS r18_admin2;
CREATE ROLE r18_admin2 LOGIN IN ROLE segmentation_admin;
GRANT USAGE ON SCHEMA r18 TO r18_admin2;
SET ROLE r18_admin2;
SELECT has_column_privilege('r18.acct', 'salary', 'SELECT') AS admin2_may_read_salary;
SELECT user_id, salary FROM segmentation.user_scores ORDER BY 1 LIMIT 3;  -- masked: NULL
SELECT segmentation.define_segment('probe', 'rich', $$salary > 4500$$);
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 12:30') IS NOT NULL AS refreshed;  -- pg_cron does this
SET ROLE r18_admin2;
SELECT user_id, salary, probe FROM segmentation.user_scores ORDER BY 1;
RESET ROLE;
SELECT segmentation.drop_segment('probe', 'rich');
