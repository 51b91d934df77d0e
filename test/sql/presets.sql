-- The engagement_ladder preset's activation milestone (issue 15 point 6):
-- with activation_days, "activated" means the activation feature was used
-- within that many days of the first signup (or before it), in the rule
-- vocabulary; without it, at any time.  Members are checked against a
-- hand-written query over the raw events.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';

CREATE TABLE ev (uid bigint, at timestamptz, name text);
SELECT segmentation.track('ev', 'uid', 'at', 'name');
-- user u signs up on 2024-04-01 and creates a project u - 3 days later
-- (u = 1, 2: before signing up; u = 11: never); everyone views daily for
-- the last 3 days, so nobody is churned, engaged or power
INSERT INTO ev
SELECT u, '2024-04-01 10:00'::timestamptz, 'signed_up' FROM generate_series(1, 12) u
UNION ALL
SELECT u, '2024-04-01 10:00'::timestamptz + (u - 3) * interval '1 day' + interval '1 hour', 'created_project'
FROM generate_series(1, 12) u WHERE u <> 11
UNION ALL
SELECT u, '2024-04-20 09:00'::timestamptz + k * interval '1 day', 'view' FROM generate_series(1, 12) u, generate_series(0, 2) k;

-- bad thresholds name themselves
SELECT segmentation.use_preset('engagement_ladder', 'signed_up', 'created_project', activation_days => -1);

SELECT segmentation.use_preset('engagement_ladder', 'signed_up', 'created_project', activation_days => 7);
SELECT name, priority, checked_predicate, description FROM segmentation.segments WHERE name IN ('activated', 'signed up') ORDER BY priority DESC;
SELECT segmentation.refresh(as_of => '2024-04-23 12:00') IS NOT NULL AS refreshed;

-- activated: the first created_project at most 7 days after the first signed_up
CREATE FUNCTION expected(days int) RETURNS TABLE (user_id bigint, segment text) LANGUAGE sql AS $$
SELECT s.uid, CASE WHEN a.at - s.at <= days * interval '1 day' THEN 'activated' ELSE 'signed up' END
FROM (SELECT uid, min(at) AS at FROM ev WHERE name = 'signed_up' GROUP BY uid) s
LEFT JOIN (SELECT uid, min(at) AS at FROM ev WHERE name = 'created_project' GROUP BY uid) a USING (uid)
$$;
SELECT m.user_id, m.segment, e.segment AS expected FROM segmentation.memberships m FULL JOIN expected(7) e USING (user_id)
WHERE m.scheme = 'lifecycle' AND m.segment IS DISTINCT FROM e.segment;
SELECT segment, count(*) FROM segmentation.memberships WHERE scheme = 'lifecycle' GROUP BY 1 ORDER BY 1;

-- a late activation moves a user at the next (incremental) refresh; a
-- later one does not
INSERT INTO ev VALUES (11, '2024-04-20 00:00', 'created_project'), (12, '2024-04-03 00:00', 'created_project');
SELECT segmentation.refresh(as_of => '2024-04-23 13:00') IS NOT NULL AS refreshed;
SELECT user_id, from_segment, to_segment FROM segmentation.transitions WHERE scheme = 'lifecycle' AND at = '2024-04-23 13:00' ORDER BY 1;
SELECT m.user_id, m.segment, e.segment AS expected FROM segmentation.memberships m FULL JOIN expected(7) e USING (user_id)
WHERE m.scheme = 'lifecycle' AND m.segment IS DISTINCT FROM e.segment;

-- without activation_days, any activation counts (as before)
SELECT segmentation.use_preset('engagement_ladder', 'signed_up', 'created_project');
SELECT checked_predicate FROM segmentation.segments WHERE name = 'activated';
SELECT segmentation.refresh(as_of => '2024-04-23 14:00') IS NOT NULL AS refreshed;
SELECT segment, count(*) FROM segmentation.memberships WHERE scheme = 'lifecycle' GROUP BY 1 ORDER BY 1;

DROP FUNCTION expected(int);
DROP EXTENSION segmentation CASCADE;
DROP TABLE ev;
CREATE EXTENSION segmentation;
