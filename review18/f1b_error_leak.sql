-- F1b: the same admin learns a text value verbatim from the refresh error
\set SHOW_CONTEXT never
SET ROLE r18_owner;
UPDATE r18.acct SET plan = 'secret-plan-of-user-3' WHERE id = 3;
RESET ROLE;
SET ROLE r18_admin2;
SELECT segmentation.define_segment('probe2', 'x', $$plan::int > 0$$);

RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
SET ROLE r18_admin2;
SELECT id, left(error, 160) AS error, error_user_id FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, attribute, reason FROM segmentation.rejected_attributes;
RESET ROLE;
SELECT segmentation.drop_segment('probe2', 'x');
