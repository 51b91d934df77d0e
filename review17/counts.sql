-- (helper, as superuser) per-feature totals over all profiles
\c - postgres
SELECT f.name, sum(segmentation.feature_count(p.behavior, f.id)) AS events, count(*) FILTER (WHERE segmentation.feature_count(p.behavior, f.id) > 0) AS users
FROM segmentation.profiles p, segmentation.features f GROUP BY f.name ORDER BY f.name;
