-- F01/F03 suggested fix, tried in the throwaway cluster only: pin the
-- parse-affecting settings on refresh(); the payload must not run and the
-- results must not depend on the caller's settings
\c - postgres
ALTER FUNCTION segmentation.refresh(boolean, timestamptz) SET standard_conforming_strings = on SET array_nulls = on;
\c - r17_admin2
CREATE FUNCTION pg_temp.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'payload ran as %', current_user;
	RETURN true;
END $$;
SELECT segmentation.define_feature('inj', ARRAY['buy'],
  $c$plan = '\'')) THEN true END OR (SELECT pg_temp.pwn()) --'$c$);
SELECT segmentation.define_feature('nullplan', ARRAY['buy'], $c$plan = ANY ('{NULL,pro}')$c$);
SET standard_conforming_strings = off;
SET array_nulls = off;
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed;
\i counts.sql
