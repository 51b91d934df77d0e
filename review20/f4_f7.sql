-- F4: attribute columns named like the internal aliases; F7: rejected_attributes per column
SELECT segmentation.untrack_users();
SET ROLE r20_owner;
CREATE TABLE r20.odd (id bigint PRIMARY KEY, a int, too_long text, r int, s int, c int, p int, v1 int, x text, q text, m int, u int, n int);
INSERT INTO r20.odd SELECT g, g, repeat('z', CASE WHEN g = 3 THEN 300 ELSE 1 END), g, g, g, g, g, 'x', 'q', g, g, g FROM generate_series(1, 8) g;
GRANT SELECT, TRIGGER ON r20.odd TO r20_admin;
GRANT SELECT (id, a) ON r20.odd TO r20_admin2;
RESET ROLE;
SET ROLE r20_admin;
SELECT segmentation.track_users('r20.odd', 'id');
RESET ROLE;
\! psql -X -q -U r20_admin -c "SELECT segmentation.define_segment('oddtier', 'hi', 'a > 4 AND v1 > 4 AND r > 0 AND s > 0 AND c > 0 AND p > 0')"
SELECT segmentation.refresh() IS NOT NULL AS refreshed;
SELECT user_id, a, too_long IS NULL AS too_long_null, oddtier FROM segmentation.user_scores ORDER BY 1;
SELECT user_id, attribute FROM segmentation.rejected_attributes;
\! psql -X -U r20_admin2 -c "SELECT count(*) AS admin2_sees_rejected FROM segmentation.rejected_attributes"
\! psql -X -U r20_admin -c "SELECT count(*) AS admin_sees_rejected FROM segmentation.rejected_attributes"
