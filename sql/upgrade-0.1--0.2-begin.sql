-- The upgrade from 0.1, first part: every object of 0.1 moves aside.
--
-- The upgrade script is the 0.2 install script (the pieces sql/[0-9]*.sql)
-- between this file and sql/upgrade-0.1--0.2-end.sql, without what 0.1 made
-- already: the schema and the behavior type, whose values 0.1 stored (0.2
-- reads them, src/behavior.c).  Everything else of 0.1 moves to the schema
-- _segmentation_0_1 here, so the pieces make 0.2's objects exactly as a
-- fresh install does; the end carries the rows of 0.1's tables over and
-- drops what was moved.  One transaction: a failure leaves 0.1 as it was.

SET LOCAL search_path = segmentation, pg_catalog;

DO $$
DECLARE
	r record;
	strays text;
BEGIN
	-- Only what 0.1 made moves (and goes at the end): the extension's
	-- members, and what 0.1's track() made in the schema.  Anything else
	-- there stops the upgrade, rather than go with it.
	WITH member AS (
		SELECT d.objid FROM pg_catalog.pg_depend d
		WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
		  AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'segmentation'))
	SELECT string_agg(x.what, ', ' ORDER BY x.what) INTO strays FROM (
		SELECT format('relation %s', c.oid::regclass) AS what FROM pg_catalog.pg_class c
		WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind NOT IN ('i', 't')
		  AND c.oid NOT IN (SELECT objid FROM member)
		  AND c.relname NOT IN ('profiles', 'transitions', 'transitions_id_seq', 'pending_events', 'dirty_users', 'truncated',
		                        'score_context', '_user_state', 'scores', 'memberships', 'membership_history',
		                        'segment_summary', 'segment_migration', 'user_scores')
		UNION ALL
		SELECT format('function %s', p.oid::regprocedure) FROM pg_catalog.pg_proc p
		WHERE p.pronamespace = 'segmentation'::regnamespace AND p.oid NOT IN (SELECT objid FROM member)
		  AND NOT (p.proname ~ '^_capture_[0-9]+$' AND p.pronargs = 0)
		UNION ALL
		SELECT format('type %s', t.oid::regtype) FROM pg_catalog.pg_type t
		WHERE t.typnamespace = 'segmentation'::regnamespace AND t.typrelid = 0 AND t.typname NOT IN ('behavior', '_behavior')
		  AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0)
		UNION ALL
		SELECT format('operator %s', o.oid::regoperator) FROM pg_catalog.pg_operator o
		WHERE o.oprnamespace = 'segmentation'::regnamespace) x;
	IF strays IS NOT NULL THEN
		RAISE EXCEPTION 'schema segmentation holds objects that segmentation 0.1 did not make: %', strays
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'The upgrade replaces every object in the schema: move these to another schema (ALTER ... SET SCHEMA), then update again.';
	END IF;

	-- The application's writes to the tracked tables wait (never fail)
	-- until the upgrade commits: what is written before goes through 0.1's
	-- capture, what is written after through 0.2's.  Locked first, before
	-- anything a writer's capture trigger needs.  (The tables that carry
	-- 0.1's capture triggers, found in the catalog: sources' rows were
	-- 0.1 admins' to write.)
	FOR r IN SELECT DISTINCT t.tgrelid::regclass AS rel FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
	         WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname ~ '^_capture_[0-9]+$' ORDER BY 1 LOOP
		EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', r.rel);
	END LOOP;
	-- a 0.1 refresh that runs is waited for; one that starts later returns
	-- at once (0.1's one-at-a-time lock)
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('segmentation.refresh'));

	CREATE SCHEMA _segmentation_0_1;
	-- tables (with their indexes and sequences) and views, made by the
	-- install script or by track()
	FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_catalog.pg_class c
	         WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'v', 'S')
	           AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_catalog.pg_depend d
	                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
	         ORDER BY c.oid LOOP
		EXECUTE format('ALTER %s %s SET SCHEMA _segmentation_0_1',
			CASE r.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' ELSE 'SEQUENCE' END, r.rel);
	END LOOP;
	-- functions and aggregates, but the behavior type's own
	FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_catalog.pg_proc p
	         WHERE p.pronamespace = 'segmentation'::regnamespace
	           AND p.oid NOT IN ('segmentation.behavior_in(cstring)'::regprocedure, 'segmentation.behavior_out(segmentation.behavior)'::regprocedure,
	                             'segmentation.behavior_recv(internal)'::regprocedure, 'segmentation.behavior_send(segmentation.behavior)'::regprocedure)
	         ORDER BY p.oid LOOP
		EXECUTE format('ALTER %s %s SET SCHEMA _segmentation_0_1', CASE WHEN r.prokind = 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, r.fn);
	END LOOP;
END $$;
