-- the owner drops the attribute table while a segment uses an attribute: the admin's way out
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT segmentation.define_segment('tier', 'rich', $$salary > 4500$$);
SELECT segmentation.define_segment('other', 'active', $$frequency > 3$$);
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SET ROLE r18_owner;
DROP TABLE r18.acct;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
SELECT user_id, tier, other FROM segmentation.user_scores ORDER BY 1 LIMIT 2;
SET ROLE r18_admin;
SELECT segmentation.untrack_users();
SELECT segmentation.define_segment('tier', 'rich', $$frequency > 5$$);
SELECT segmentation.untrack_users();
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
SELECT user_id, tier, other FROM segmentation.user_scores ORDER BY 1 LIMIT 8;
