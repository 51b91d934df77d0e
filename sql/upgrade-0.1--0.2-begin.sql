-- The upgrade from 0.1, first part: 0.1's objects move aside.
--
-- The upgrade script is the 0.2 install script (the pieces sql/[0-9]*.sql)
-- between this file and sql/upgrade-0.1--0.2-end.sql, without what 0.1 made
-- already: the schema and the behavior type, whose values 0.1 stored (0.2
-- reads them, src/behavior.c).  0.1's objects move to the schema
-- _segmentation_0_1 here, so the pieces make 0.2's objects exactly as a
-- fresh install does; the end carries the rows of 0.1's tables over and
-- drops what was moved.  One transaction: a failure leaves 0.1 as it was.
--
-- The application's writes to the tracked tables go on meanwhile: what they
-- reach of 0.1 (its capture functions, the queues they write: 0.2's have
-- the same columns) stays in place until the end, which locks the tracked
-- tables only to swap 0.1's capture for 0.2's.

SET LOCAL search_path = segmentation, pg_catalog;

DO $$
DECLARE
	r record;
	found text;
BEGIN
	-- A lock the update waits for makes it fail, to be run again, rather
	-- than wait with what it holds (a DBA's own lock_timeout is kept)
	PERFORM set_config('segmentation_upgrade.lock_timeout', current_setting('lock_timeout'), true);
	IF current_setting('lock_timeout') = '0' THEN
		PERFORM set_config('lock_timeout', '5s', true);
	END IF;
	-- A 0.1 refresh that runs is waited for; one that starts later returns
	-- at once (0.1's one-at-a-time lock, an advisory lock any role can
	-- take: so bounded, and before anything else)
	BEGIN
		PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('segmentation.refresh'));
	EXCEPTION WHEN lock_not_available THEN
		SELECT string_agg(format('pid %s (role %s)', a.pid, a.usename), ', ') INTO found
		FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
		  AND l.objid = pg_catalog.hashtext('segmentation.refresh')::oid;
		RAISE EXCEPTION 'a session holds segmentation 0.1''s refresh lock: %', coalesce(found, 'gone since')
			USING ERRCODE = 'lock_not_available',
			      HINT = 'Wait for the refresh to end, or end that session (pg_terminate_backend), then update again.';
	END;

	-- Only what 0.1 made moves (and goes at the end): the extension's
	-- members, and what 0.1's track() made in the schema.  Anything else
	-- there stops the upgrade, rather than go with it.
	WITH member AS (
		SELECT d.objid FROM pg_catalog.pg_depend d
		WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
		  AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'segmentation'))
	SELECT string_agg(x.what, ', ' ORDER BY x.what) INTO found FROM (
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
		  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0)
		UNION ALL
		SELECT format('operator %s', o.oid::regoperator) FROM pg_catalog.pg_operator o
		WHERE o.oprnamespace = 'segmentation'::regnamespace) x;
	IF found IS NOT NULL THEN
		RAISE EXCEPTION 'schema segmentation holds objects that segmentation 0.1 did not make: %', found
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'The upgrade replaces every object in the schema: move these to another schema (ALTER ... SET SCHEMA), then update again.';
	END IF;
	-- 0.1's capture functions were executable by PUBLIC: a trigger of a
	-- role's on one is not 0.1's capture, and the update will not drop it
	SELECT string_agg(format('trigger %I on %s', t.tgname, t.tgrelid::regclass), ', ') INTO found
	FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
	WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname ~ '^_capture_[0-9]+$'
	  AND NOT (t.tgparentid = 0
	           AND t.tgname IN ('segmentation_capture_insert', 'segmentation_capture_update', 'segmentation_capture_delete', 'segmentation_capture_truncate')
	           AND EXISTS (SELECT 1 FROM segmentation.sources s WHERE s.source = t.tgrelid AND p.proname = '_capture_' || s.id));
	IF found IS NOT NULL THEN
		RAISE EXCEPTION 'triggers that segmentation 0.1 did not make call its capture functions: %', found
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Drop them (they fed 0.1''s queue events of their own), then update again.';
	END IF;
	-- the tables that move back keep their row types: nothing else may use them
	SELECT string_agg(format('column %I of %s', a.attname, a.attrelid::regclass), ', ') INTO found
	FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
	WHERE NOT a.attisdropped AND a.attnum > 0 AND c.relnamespace <> 'segmentation'::regnamespace
	  AND a.atttypid IN (SELECT t.oid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class k ON k.oid = t.typrelid
	                     WHERE k.relnamespace = 'segmentation'::regnamespace
	                     UNION ALL
	                     SELECT t.oid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type e ON e.oid = t.typelem
	                     JOIN pg_catalog.pg_class k ON k.oid = e.typrelid WHERE k.relnamespace = 'segmentation'::regnamespace);
	IF found IS NOT NULL THEN
		RAISE EXCEPTION 'objects of yours use the row types of segmentation 0.1''s tables: %', found
			USING ERRCODE = 'dependent_objects_still_exist',
			      HINT = 'Drop them (or change their type), update, then create them again.';
	END IF;

	CREATE SCHEMA _segmentation_0_1;
	-- what the update grants is 0.2's alone: each grantee but the owner
	-- loses its privileges, then PUBLIC gets back PostgreSQL's default
	-- where there is one (dropped with the schema at the end)
	CREATE FUNCTION _segmentation_0_1.revoke_all(objtype text, obj text, grantees oid[], owner oid, public_default text)
	RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
	DECLARE
		g oid;
	BEGIN
		FOR g IN SELECT DISTINCT x.g FROM unnest(grantees) x(g) WHERE x.g <> owner LOOP
			EXECUTE format('REVOKE ALL ON %s %s FROM %s CASCADE', objtype, obj,
				CASE WHEN g = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g)) END);
		END LOOP;
		IF public_default IS NOT NULL THEN
			EXECUTE format('GRANT %s ON %s %s TO PUBLIC', public_default, objtype, obj);
		END IF;
	END $f$;
	-- tables (with their indexes and sequences) and views, made by the
	-- install script or by track(), but the queues capture writes
	FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_catalog.pg_class c
	         WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'v', 'S')
	           AND c.relname NOT IN ('pending_events', 'dirty_users', 'truncated')
	           AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
	                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
	         ORDER BY c.oid LOOP
		EXECUTE format('ALTER %s %s SET SCHEMA _segmentation_0_1',
			CASE r.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' ELSE 'SEQUENCE' END, r.rel);
	END LOOP;
	-- functions and aggregates, but the behavior type's own and capture's
	FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_catalog.pg_proc p
	         WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname !~ '^_capture_[0-9]+$'
	           AND p.oid NOT IN ('segmentation.behavior_in(cstring)'::regprocedure, 'segmentation.behavior_out(segmentation.behavior)'::regprocedure,
	                             'segmentation.behavior_recv(internal)'::regprocedure, 'segmentation.behavior_send(segmentation.behavior)'::regprocedure)
	         ORDER BY p.oid LOOP
		EXECUTE format('ALTER %s %s SET SCHEMA _segmentation_0_1', CASE WHEN r.prokind = 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, r.fn);
	END LOOP;
	-- privileges: 0.2's only (the pieces grant them), on what stays too
	PERFORM _segmentation_0_1.revoke_all(x.objtype, x.obj, ARRAY(SELECT a.grantee FROM aclexplode(x.acl) a), x.owner, x.public_default)
	FROM (SELECT 'SCHEMA' AS objtype, 'segmentation' AS obj, n.nspacl AS acl, n.nspowner AS owner, NULL AS public_default
	      FROM pg_catalog.pg_namespace n WHERE n.nspname = 'segmentation'
	      UNION ALL
	      SELECT 'TYPE', 'segmentation.behavior', t.typacl, t.typowner, 'USAGE' FROM pg_catalog.pg_type t WHERE t.oid = 'segmentation.behavior'::regtype
	      UNION ALL
	      SELECT 'FUNCTION', format('segmentation.%I(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
	             p.proacl, p.proowner, 'EXECUTE' FROM pg_catalog.pg_proc p
	      WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname IN ('behavior_in', 'behavior_out', 'behavior_recv', 'behavior_send')) x
	WHERE x.acl IS NOT NULL;
END $$;
