-- F13: a column compared with another column is accepted; when their
-- collations differ (both allowed: "C" and "POSIX"), every evaluation raises
-- "could not determine which collation to use" at run time, never at check
\c - r17_admin2
SELECT segmentation.define_feature('same', ARRAY['buy'], $c$plan = event$c$);
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed_before;
\c - r17_owner
ALTER TABLE public.ev ALTER COLUMN plan TYPE text COLLATE "C";
ALTER TABLE public.ev ALTER COLUMN event TYPE text COLLATE "POSIX";
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03');
-- defined that way from the start: accepted at define, fails at refresh
SELECT segmentation.define_feature('same', ARRAY['buy'], $c$lower(plan) > lower(event)$c$);
SELECT segmentation.refresh(as_of => '2024-05-03');
