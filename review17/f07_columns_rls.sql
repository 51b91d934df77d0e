-- column privileges and row-level security of the condition's definer
-- (held unless noted): r17_admin2 may not read ev.secret
\c - r17_admin2
SELECT segmentation.define_feature('s1', ARRAY['buy'], $c$secret = 's3'$c$);
SELECT segmentation.define_feature('s2', ARRAY['buy'], $c$"secret" LIKE 's%'$c$);
SELECT segmentation.define_feature('s3', ARRAY['buy'], $c$CASE SECRET WHEN 's3' THEN true END$c$);
SELECT segmentation.define_feature('s4', ARRAY['buy'], $c$ev.secret = 's3'$c$);
SELECT segmentation.define_feature('s5', ARRAY['buy'], $c$ev IS NOT NULL$c$);
SELECT segmentation.define_feature('s6', ARRAY['buy'], $c$xmin IS NOT NULL$c$);
SELECT segmentation.define_feature('s7', ARRAY['buy'], $c$length(secret) > 2$c$);
-- allowed column; then the owner swaps the names of plan and secret
SELECT segmentation.define_feature('p1', ARRAY['buy'], $c$plan = 'pro'$c$);
\c - r17_owner
ALTER TABLE public.ev RENAME plan TO tmp;
ALTER TABLE public.ev RENAME secret TO plan;
ALTER TABLE public.ev RENAME tmp TO secret;
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-02');
\c - r17_owner
ALTER TABLE public.ev RENAME plan TO tmp;
ALTER TABLE public.ev RENAME secret TO plan;
ALTER TABLE public.ev RENAME tmp TO secret;
-- row-level security hiding rows from the definer, added after define
ALTER TABLE public.ev ENABLE ROW LEVEL SECURITY;
CREATE POLICY p_all ON public.ev TO r17_admin USING (true);
CREATE POLICY p_some ON public.ev TO r17_admin2 USING (uid < 10);
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03');
