-- the owner drops a condition's column (a tracked column's drop is refused
-- by the event trigger; a condition's is not): every refresh then fails
\c - r17_admin2
SELECT segmentation.define_feature('pro_buy', ARRAY['buy'], $c$plan = 'pro'$c$);
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed_before;
\c - r17_owner
ALTER TABLE public.ev DROP COLUMN amount;   -- tracked (value column): refused
ALTER TABLE public.ev DROP COLUMN plan;     -- the condition's: accepted
\c - r17_admin2
SELECT segmentation.refresh(as_of => '2024-05-03');
