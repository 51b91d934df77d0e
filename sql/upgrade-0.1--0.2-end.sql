-- The upgrade from 0.1, last part: 0.1's rows carried over into 0.2's
-- tables, 0.1's objects (moved aside by sql/upgrade-0.1--0.2-begin.sql)
-- dropped, capture installed again.  Only the extension's own tables are
-- read here (no view, no function of a role's, no tracked table's rows).
--
-- What is kept: the tracked sources (and who tracked them), features and
-- segments (defined again through 0.2's checks), the refresh runs, the
-- experiments (and who defined them), every profile with its current
-- segments, and every transition (the history), with their ids.  The next
-- refresh is full (each source is marked so, as track() does): it reads
-- every event of the sources and rewrites each profile's behavior in 0.2's
-- form, with its per-feature days (0.1 did not keep them, so no conversion
-- can make them), and records moves against the current segments, so the
-- history goes on.  Until it runs, the 0.1 behaviors are read as they are
-- (scores, segments, user_scores).

DO $$
DECLARE
	before oid[];
	r record;
	utype regtype;
	left_over int;
	progress boolean;
	failure text;
	tracked regclass[];
	saved_timeout text;
	deadline timestamptz;
	waited int := 1;
	trying int;
	wait_ms int := 100;
BEGIN
	-- what the install script made: what 0.2's track() and refresh make
	-- below (state tables, views, capture functions) must not be members
	SELECT array_agg(d.objid) INTO before FROM pg_catalog.pg_depend d
	WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'segmentation');

	-- Tracked sources and experiments as they are, with who tracked
	-- (defined) them, not who updates: validated as 0.2 validates them
	-- before each use, below (0.1 let its admins write these rows).
	ALTER TABLE segmentation.sources DISABLE TRIGGER stamp_tracked_by;
	ALTER TABLE segmentation.experiments DISABLE TRIGGER stamp_tracked_by;
	-- (a source whose table is gone is left out: 0.1 kept such rows)
	INSERT INTO segmentation.sources (id, source, user_column, time_column, event_column, value_column, user_type, tracked_by, tracked_at)
	SELECT s.id, s.source, s.user_column, s.time_column, s.event_column, s.value_column, s.user_type, s.tracked_by, s.tracked_at
	FROM _segmentation_0_1.sources s WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.source);
	INSERT INTO segmentation.experiments (name, assignments, user_column, variant_column, assigned_at_column, control,
	                                      conversion_event, conversion_window, variants, weights, tracked_by, defined_at)
	SELECT x.name, x.assignments, x.user_column, x.variant_column, x.assigned_at_column, x.control,
	       x.conversion_event, x.conversion_window, x.variants, x.weights, x.tracked_by, x.defined_at
	FROM _segmentation_0_1.experiments x;
	ALTER TABLE segmentation.sources ENABLE TRIGGER stamp_tracked_by;
	ALTER TABLE segmentation.experiments ENABLE TRIGGER stamp_tracked_by;
	PERFORM pg_catalog.setval('segmentation.sources_id_seq', greatest(pg_catalog.nextval('_segmentation_0_1.sources_id_seq') - 1, 1));
	INSERT INTO segmentation.refresh_runs (id, started_at, finished_at, mode, as_of, events_read, users_changed, transitions, error)
	SELECT x.id, x.started_at, x.finished_at, x.mode, x.as_of, x.events_read, x.users_changed, x.transitions, x.error
	FROM _segmentation_0_1.refresh_runs x;
	PERFORM pg_catalog.setval('segmentation.refresh_runs_id_seq', greatest(pg_catalog.nextval('_segmentation_0_1.refresh_runs_id_seq') - 1, 1));

	-- The materialized state: the tables 0.1's track() made are 0.2's but
	-- for a column, so they move back rather than be copied (no row is
	-- written: the update takes about as long for a million users as for
	-- ten); capture's queues never moved.  With 0.2's privileges and none
	-- other (a grant on a column included); 0.2's track() makes the rest.
	IF to_regclass('_segmentation_0_1.profiles') IS NOT NULL THEN
		SELECT a.atttypid::regtype INTO STRICT utype FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = '_segmentation_0_1.profiles'::regclass AND a.attname = 'user_id';
		PERFORM _segmentation_0_1.revoke_all(CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
		            format('%I.%I', c.relnamespace::regnamespace, c.relname),
		            ARRAY(SELECT a.grantee FROM aclexplode(c.relacl) a
		                  UNION ALL
		                  SELECT a.grantee FROM pg_catalog.pg_attribute t, aclexplode(t.attacl) a WHERE t.attrelid = c.oid),
		            c.relowner, NULL)
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace IN ('segmentation'::regnamespace, '_segmentation_0_1'::regnamespace)
		  AND c.relname IN ('profiles', 'transitions', 'transitions_id_seq', 'score_context', 'pending_events', 'dirty_users', 'truncated');
		FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
		         WHERE c.relnamespace = '_segmentation_0_1'::regnamespace AND c.relname IN ('profiles', 'transitions', 'score_context') LOOP
			EXECUTE format('ALTER TABLE %s SET SCHEMA segmentation', r.rel);
		END LOOP;
		ALTER TABLE segmentation.profiles ADD COLUMN opted_out boolean NOT NULL DEFAULT false;
		PERFORM segmentation._create_state(utype);
		-- the counts of the managed analyses (new in 0.2), as of 0.1's last refresh
		PERFORM segmentation._materialize_analyses();
	END IF;

	-- Features and segments defined again, by 0.2's define_feature and
	-- define_segment, whose checks they must pass (each predicate through
	-- 0.2's checker: a rule 0.2 refuses is never run), in the order of
	-- their ids (the same ids, but where 0.1's had gaps).
	FOR r IN SELECT f.* FROM _segmentation_0_1.features f ORDER BY f.id LOOP
		BEGIN
			PERFORM segmentation.define_feature(r.name, r.event_names);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
			RAISE EXCEPTION 'feature "%" is refused by segmentation 0.2: %', r.name, failure
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'Define it again in 0.1 in a form 0.2 accepts, then update again.';
		END;
	END LOOP;
	FOR r IN SELECT s.* FROM _segmentation_0_1.segments s ORDER BY s.scheme, s.name LOOP
		IF to_regclass('segmentation.scores') IS NULL THEN
			RAISE EXCEPTION 'segment "%" of scheme "%" has no tracked source to be checked against', r.name, r.scheme
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'Drop the segment (segmentation.drop_segment) or track a source in 0.1, then update again.';
		END IF;
		BEGIN
			PERFORM segmentation.define_segment(r.scheme, r.name, r.predicate, r.priority, r.description);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
			RAISE EXCEPTION 'segment "%" of scheme "%" is refused by segmentation 0.2: %', r.name, r.scheme, failure
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'Define it again in 0.1 in a form 0.2 accepts (doc/security.md), or drop it, then update again.';
		END;
		UPDATE segmentation.segments s SET defined_at = r.defined_at WHERE s.scheme = r.scheme AND s.name = r.name;
	END LOOP;
	PERFORM segmentation._check_experiment(x) FROM segmentation.experiments x;

	-- 0.1's objects go, each dropped alone (RESTRICT), so that an object
	-- of yours that depends on one (a view on user_scores, say) stops the
	-- upgrade with PostgreSQL's error naming it, instead of going too
	FOR r IN SELECT x.type, x.identity, d.objid FROM pg_catalog.pg_depend d, LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) x
	         WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e' AND x.schema = '_segmentation_0_1'
	           AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'segmentation') LOOP
		EXECUTE format('ALTER EXTENSION segmentation DROP %s %s', r.type, r.identity);
	END LOOP;
	LOOP
		progress := false;
		left_over := 0;
		FOR r IN SELECT x.type, x.identity FROM (
		             SELECT 'pg_catalog.pg_class'::regclass AS classid, c.oid FROM pg_catalog.pg_class c
		             WHERE c.relnamespace = '_segmentation_0_1'::regnamespace AND c.relkind IN ('r', 'v', 'S')
		             UNION ALL
		             SELECT 'pg_catalog.pg_proc'::regclass, p.oid FROM pg_catalog.pg_proc p
		             WHERE p.pronamespace = '_segmentation_0_1'::regnamespace) o,
		         LATERAL pg_catalog.pg_identify_object(o.classid, o.oid, 0) x
		         ORDER BY o.classid, o.oid DESC LOOP
			BEGIN
				EXECUTE format('DROP %s IF EXISTS %s RESTRICT', r.type, r.identity);
				progress := true;
			EXCEPTION WHEN dependent_objects_still_exist THEN
				GET STACKED DIAGNOSTICS failure = PG_EXCEPTION_DETAIL;
				left_over := left_over + 1;
			END;
		END LOOP;
		EXIT WHEN left_over = 0;
		IF NOT progress THEN
			RAISE EXCEPTION 'objects of yours depend on objects of segmentation 0.1, which the upgrade replaces'
				USING ERRCODE = 'dependent_objects_still_exist', DETAIL = failure,
				      HINT = 'Drop them (DROP ... CASCADE on the object named lists them), update, then create them again.';
		END IF;
	END LOOP;
	DROP SCHEMA _segmentation_0_1;

	-- The capture swap, the only part that holds the tracked tables: their
	-- writes wait for it, then go through 0.2's capture; the next refresh
	-- is full.  All the tables or none, and never waiting for one while
	-- holding another: each try waits for one table, holding none of them,
	-- and takes the others with NOWAIT; short of one, it gives them all
	-- back and the next try waits for that one, for 10 s in all.  A try
	-- waits 100 ms, the next twice as long, up to 1.6 s: transactions that
	-- each hold the table for longer than a wait, one after another, keep
	-- it busy at every instant, while the update's wait holds back those
	-- that would start (holding the first table while waiting 100 ms for
	-- the next lost, in CI, to such transactions that then wrote the
	-- first: the update's wait ended each time by blocking them).  As the
	-- update holds no tracked table while it waits, an application
	-- transaction that writes them waits for the update, never the other
	-- way round; if one ever waits for another lock the update holds, the
	-- update fails at once, rather than let a deadlock check abort it.
	SELECT array_agg(DISTINCT t.tgrelid::regclass) INTO tracked FROM pg_catalog.pg_trigger t
	JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
	JOIN segmentation.sources s ON s.source = t.tgrelid AND p.proname = '_capture_' || s.id
	WHERE p.pronamespace = 'segmentation'::regnamespace AND t.tgparentid = 0
	  AND t.tgname IN ('segmentation_capture_insert', 'segmentation_capture_update', 'segmentation_capture_delete', 'segmentation_capture_truncate');
	saved_timeout := current_setting('lock_timeout');
	deadline := clock_timestamp() + interval '10 s';
	WHILE tracked IS NOT NULL LOOP
		trying := waited;
		BEGIN
			PERFORM set_config('lock_timeout', wait_ms || 'ms', true);
			EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', tracked[waited]);
			FOR j IN 1 .. cardinality(tracked) LOOP
				CONTINUE WHEN j = waited;
				trying := j;
				EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', tracked[j]);
			END LOOP;
			EXIT;
		EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
			IF SQLSTATE = '40P01' THEN
				RAISE EXCEPTION 'a transaction that holds tracked table % waits for a lock the update holds', tracked[trying]
					USING ERRCODE = 'lock_not_available', DETAIL = SQLERRM,
					      HINT = 'The update changed nothing: update again when that transaction has ended.';
			ELSIF clock_timestamp() > deadline THEN
				RAISE EXCEPTION 'the tracked tables were not free together for 10 s, to swap 0.1''s capture for 0.2''s'
					USING ERRCODE = 'lock_not_available', DETAIL = format('The last one waited for: %s.', tracked[trying]),
					      HINT = 'A long transaction on one of them (pg_locks shows it) keeps them busy: update again when it has ended.';
			END IF;
			-- an autovacuum of a tracked table is cancelled, as PostgreSQL
			-- cancels one a lock waits for past deadlock_timeout (never one
			-- that prevents wraparound)
			PERFORM pg_catalog.pg_cancel_backend(a.pid)
			FROM pg_catalog.pg_stat_activity a
			WHERE a.backend_type = 'autovacuum worker' AND a.query NOT LIKE '%to prevent wraparound%'
			  AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND l.granted AND l.relation = ANY (tracked::oid[]));
			waited := trying;
			wait_ms := least(wait_ms * 2, 1600,
			                 greatest(1, ceil(extract(epoch FROM deadline - clock_timestamp()) * 1000)::int));
		END;
	END LOOP;
	PERFORM set_config('lock_timeout', saved_timeout, true);
	-- (a trigger of a role's on 0.1's capture functions, made since the
	-- check at the start, is refused as it was there)
	SELECT string_agg(format('trigger %I on %s', t.tgname, t.tgrelid::regclass), ', ') INTO failure
	FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
	WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname ~ '^_capture_[0-9]+$'
	  AND NOT t.tgrelid = ANY (coalesce(tracked, '{}'));
	IF failure IS NOT NULL THEN
		RAISE EXCEPTION 'triggers that segmentation 0.1 did not make call its capture functions: %', failure
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Revoke EXECUTE on segmentation''s _capture_ functions from PUBLIC (0.1 left it granted), drop these triggers, then update again.';
	END IF;
	FOR r IN SELECT t.tgname, t.tgrelid::regclass AS rel FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
	         WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname ~ '^_capture_[0-9]+$' LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
	END LOOP;
	FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_catalog.pg_proc p
	         WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname ~ '^_capture_[0-9]+$' LOOP
		EXECUTE format('DROP FUNCTION %s', r.fn);
	END LOOP;
	-- 0.1's queue (a row per event) goes now that no 0.1 trigger writes it
	-- (the next refresh is full: it reads every event again); 0.2 queues
	-- packed events (src/capture.c), read through the view pending_events
	IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('segmentation.pending_events')) = 'r' THEN
		DROP TABLE segmentation.pending_events;
		PERFORM segmentation._create_queue((SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
		                                    WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id'));
	END IF;
	-- each source as 0.2 captures it, or an error that says what to do
	-- before updating again (review 14, R14-9: a partition 0.1 tracked made
	-- the update fail with "is now a partition", for one that always was)
	FOR r IN SELECT s.id, s.source FROM segmentation.sources s ORDER BY s.id LOOP
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = r.source) THEN
			SELECT pg_catalog.string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) INTO failure
			FROM pg_catalog.pg_inherits i WHERE i.inhrelid = r.source;
			RAISE EXCEPTION 'segmentation 0.2 does not capture tracked table %: it is a partition or inheritance child of %', r.source, failure
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      DETAIL = 'Rows written through the parent fire no trigger of the child: 0.1 missed them, and 0.2 tracks the parent instead, with every partition and child.',
				      HINT = pg_catalog.format('The update changed nothing. In 0.1, stop tracking it (as a superuser: DELETE FROM segmentation.sources WHERE source = %L::regclass, and DROP TRIGGER segmentation_capture_insert, _update, _delete and _truncate ON %s), update, then track %s; or detach it from its parent first.',
				                               r.source::text, r.source, failure);
		END IF;
		BEGIN
			PERFORM segmentation._install_capture(r.id);
			PERFORM segmentation._check_source(r.id, true);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
			RAISE EXCEPTION 'segmentation 0.2 cannot capture tracked table %: %', r.source, failure
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'The update changed nothing. Put right what the message says, or stop tracking the table in 0.1 (as a superuser: delete its row of segmentation.sources and drop its segmentation_capture_* triggers), then update again.';
		END;
	END LOOP;

	-- what 0.2 makes at run time is not part of the extension (pg_dump
	-- dumps it as data), as in a fresh install
	FOR r IN SELECT x.type, x.identity FROM pg_catalog.pg_depend d, LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) x
	         WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e' AND d.objid <> ALL (before)
	           AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'segmentation') LOOP
		EXECUTE format('ALTER EXTENSION segmentation DROP %s %s', r.type, r.identity);
	END LOOP;
	-- and the privileges it was given here are not the extension's initial
	-- ones (pg_init_privs, which pg_dump subtracts) for what moved back
	FOR r IN SELECT x.type, x.identity FROM pg_catalog.pg_init_privs i, LATERAL pg_catalog.pg_identify_object(i.classoid, i.objoid, 0) x
	         WHERE i.objsubid = 0 AND x.schema = 'segmentation'
	           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = i.classoid AND d.objid = i.objoid AND d.deptype = 'e') LOOP
		EXECUTE format('ALTER EXTENSION segmentation ADD %s %s', r.type, r.identity);
		EXECUTE format('ALTER EXTENSION segmentation DROP %s %s', r.type, r.identity);
	END LOOP;
	-- the caller's lock_timeout again (sql/upgrade-0.1--0.2-begin.sql)
	PERFORM set_config('lock_timeout', current_setting('segmentation_upgrade.lock_timeout'), true);
END $$;
