-- review17 common setup (as superuser): login roles, an events table owned by
-- a table owner, tracked by the admin, one refresh
SET TIME ZONE 'UTC';
CREATE EXTENSION IF NOT EXISTS segmentation;
CREATE ROLE r17_admin LOGIN IN ROLE segmentation_admin;
CREATE ROLE r17_owner LOGIN;
CREATE ROLE r17_admin2 LOGIN IN ROLE segmentation_admin;
CREATE ROLE r17_analyst LOGIN IN ROLE segmentation_analyst;
CREATE ROLE r17_reader LOGIN IN ROLE segmentation_reader;
GRANT CREATE ON SCHEMA public TO r17_owner;
SET ROLE r17_owner;
CREATE TABLE public.ev (uid bigint, ts timestamptz, event text, amount float8, plan text, secret text, n int);
CREATE INDEX ON public.ev (uid);
INSERT INTO public.ev SELECT u % 40, '2024-04-01'::timestamptz + u * interval '1 hour', CASE WHEN u % 3 = 0 THEN 'buy' ELSE 'view' END,
  u, CASE WHEN u % 2 = 0 THEN 'pro' ELSE 'free' END, 's' || u, u FROM generate_series(1, 200) u;
GRANT SELECT, TRIGGER ON public.ev TO r17_admin;

GRANT SELECT (uid, ts, event, amount, plan, n) ON public.ev TO r17_admin2;
RESET ROLE;
\c - r17_admin
SELECT segmentation.track('public.ev','uid','ts','event','amount');
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS refreshed;
