-- F: an analyst without SELECT on the attribute column segments on it and reads the members
\set SHOW_CONTEXT never
SET ROLE r18_analyst;
SELECT user_id, plan, salary FROM segmentation.user_scores ORDER BY 1 LIMIT 3;  -- NULLs: masked
SELECT has_column_privilege('r18.acct', 'salary', 'SELECT') AS analyst_may_read_salary;
SELECT segmentation.define_segment('probe', 'rich', $$salary > 4500$$);
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 12:30') IS NOT NULL AS refreshed;
SET ROLE r18_analyst;
SELECT user_id, salary, probe FROM segmentation.user_scores ORDER BY 1;
RESET ROLE;
