-- F3: attribute columns named "a" or "too_long" (ordinary names) break every refresh
\set SHOW_CONTEXT never
SELECT segmentation.untrack_users();
SET ROLE r18_owner;
CREATE TABLE r18.acct2 (id bigint PRIMARY KEY, a text, plan text);
INSERT INTO r18.acct2 SELECT u, 'x' || u, 'pro' FROM generate_series(1, 8) u;
GRANT SELECT, TRIGGER ON r18.acct2 TO r18_admin;
RESET ROLE;
SET ROLE r18_admin;
SELECT segmentation.track_users('r18.acct2', 'id');
SELECT segmentation.define_segment('s3', 'pro', $$plan = 'pro'$$);
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SELECT segmentation.drop_segment('s3', 'pro');
SELECT segmentation.untrack_users();
SET ROLE r18_owner;
CREATE TABLE r18.acct3 (id bigint PRIMARY KEY, too_long text, plan text);
INSERT INTO r18.acct3 SELECT u, 'x' || u, 'pro' FROM generate_series(1, 8) u;
GRANT SELECT, TRIGGER ON r18.acct3 TO r18_admin;
RESET ROLE;
SET ROLE r18_admin;
SELECT segmentation.track_users('r18.acct3', 'id');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SELECT segmentation.untrack_users();
