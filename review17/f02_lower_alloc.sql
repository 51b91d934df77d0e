-- F02: a condition using lower()/upper()/ILIKE raises on one large row
-- (str_tolower allocates 4 bytes per input byte: > 1 GB for a value of 256 MB)
-- in a database whose LC_CTYPE is not C (here C.UTF-8): any writer of the
-- tracked table stops every refresh with one row.
\c - r17_admin2
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$lower(plan) = 'pro'$c$);
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed_before;
\c - r17_owner
INSERT INTO public.ev VALUES (7, '2024-04-20', 'buy', 1, repeat('x', 270000000), NULL, 1);
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03');
-- ILIKE goes through lower() too
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan ILIKE 'pro'$c$);
SELECT segmentation.refresh(as_of => '2024-05-03');
