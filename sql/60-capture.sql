-- Capture of the tracked sources, and the public pipeline functions.

-- ===================================================================
-- What a source may be, re-checked before every use
-- ===================================================================

-- The column types each kind of tracked column may have: built-in types
-- whose casts and operators are pg_catalog's (a domain or a type of the
-- table owner's would run their code inside capture and refresh).
CREATE FUNCTION _column_types(kind text) RETURNS regtype[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT CASE kind
	WHEN 'user' THEN ARRAY['pg_catalog.int4', 'pg_catalog.int8', 'pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.uuid']::regtype[]
	WHEN 'time' THEN ARRAY['pg_catalog.timestamptz']::regtype[]
	WHEN 'event' THEN ARRAY['pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.name', 'pg_catalog.bpchar']::regtype[]
	WHEN 'value' THEN ARRAY['pg_catalog.float8', 'pg_catalog.float4', 'pg_catalog.numeric', 'pg_catalog.int2',
	                        'pg_catalog.int4', 'pg_catalog.int8']::regtype[]
END
$$;
COMMENT ON FUNCTION _column_types(text) IS 'Internal: the built-in types a tracked column of a kind (user, time, event, value) may have';

-- Would row-level security hide rows of the table from the role?  (A
-- superuser or BYPASSRLS role sees every row; the owner too, unless FORCE.)
CREATE FUNCTION _rls_hides_rows(role name, rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT c.relrowsecurity
       AND NOT coalesce((SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = role), false)
       AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(role, c.relowner, 'USAGE'))
FROM pg_catalog.pg_class c WHERE c.oid = rel
$$;
COMMENT ON FUNCTION _rls_hides_rows(name, regclass) IS 'Internal: whether row-level security filters the rows of a table for a role';

-- The value column as float8: numbers too large for float8 become infinite
-- (and are rejected by refresh) instead of failing the application's INSERT.
CREATE FUNCTION _value_expr(alias text, col name, t regtype) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT CASE WHEN col IS NULL THEN 'NULL::pg_catalog.float8'
            WHEN t = 'pg_catalog.numeric'::regtype THEN pg_catalog.format(
	'CASE WHEN %1$s.%2$I IS NULL THEN NULL WHEN pg_catalog.abs(%1$s.%2$I) < 1e300 THEN %1$s.%2$I::pg_catalog.float8 WHEN %1$s.%2$I = ''NaN'' THEN ''NaN''::pg_catalog.float8 '
	'WHEN %1$s.%2$I > 0 THEN ''Infinity''::pg_catalog.float8 ELSE ''-Infinity''::pg_catalog.float8 END', alias, col)
            ELSE pg_catalog.format('%s.%I::pg_catalog.float8', alias, col) END
$$;
COMMENT ON FUNCTION _value_expr(text, name, regtype) IS 'Internal: SQL of a tracked value column as float8';

-- A source as refresh and capture may use it, or an error naming what is
-- wrong: sources is config an admin can edit, and the table's owner can
-- alter the table, so nothing recorded is trusted.  It must be a permanent
-- plain or partitioned table; each tracked column must be at its recorded
-- number, with its recorded name and an allowed built-in type (the user id
-- of the state's type); the role that tracked it must still read it, every
-- row of it (no row-level security hiding rows from that role); and with
-- triggers, the capture triggers must be in place and enabled.
CREATE FUNCTION _check_source(source_id int, triggers boolean) RETURNS segmentation.sources
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	rel record;
	att record;
	names name[];
	kinds text[] := ARRAY['user', 'time', 'event', 'value'];
	state_type regtype;
	fn regprocedure;
	trig record;
	args text[];
	arg_bytes bytea;
	why text;
BEGIN
	SELECT * INTO s FROM segmentation.sources WHERE id = source_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'source % is not tracked', source_id USING ERRCODE = 'undefined_object';
	END IF;
	SELECT c.relkind, c.relpersistence, n.nspname, c.relname INTO rel
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = s.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tracked table with oid % no longer exists', s.source::oid USING ERRCODE = 'undefined_table',
			HINT = pg_catalog.format('Call segmentation.untrack(%s).', s.source::oid);
	END IF;
	IF rel.relkind NOT IN ('r', 'p') OR rel.relpersistence = 't' THEN
		RAISE EXCEPTION 'tracked source %.% is not a permanent table', rel.nspname, rel.relname
			USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
			      HINT = 'segmentation.sources was changed outside track(): untrack it and track the table again.';
	END IF;
	-- (before anything else is read through it) on Citus: a table it
	-- distributes as capture supports, with its colocated queue, whose
	-- capture was installed so (its triggers carry the source to the shards)
	IF segmentation._citus_member(s.source) IS NOT NULL THEN
		IF segmentation._citus_member(s.source) <> s.source THEN
			why := pg_catalog.format('%s, in its tree, is a table Citus manages', segmentation._citus_member(s.source));
		ELSE
			why := segmentation._citus_unsupported(s.source, s.user_column);
		END IF;
		IF why IS NULL AND triggers AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
		                                            WHERE g.tgrelid = s.source AND g.tgname = 'segmentation_capture_insert'
		                                              AND g.tgnargs > 0) THEN
			why := 'it was distributed after it was tracked: events written on its shards since were not captured';
		END IF;
		IF why IS NOT NULL THEN
			RAISE EXCEPTION 'tracked table %.% is now managed by Citus: %', rel.nspname, rel.relname, why
				USING ERRCODE = 'feature_not_supported', SCHEMA = rel.nspname, TABLE = rel.relname,
				      HINT = 'Untrack it (segmentation.untrack), and track it again if capture supports it (doc/citus.md, "Capture"): the next refresh is then full. Or, when the message names an owner, have a superuser own it and its schema.';
		END IF;
		IF triggers THEN
			PERFORM segmentation._citus_queue(s.id, false);
		END IF;
	END IF;
	names := ARRAY[s.user_column, s.time_column, s.event_column, s.value_column];
	IF s.attnums IS NULL OR pg_catalog.cardinality(s.attnums) <> 4 OR (s.value_column IS NULL) <> (s.attnums[4] IS NULL)
	   OR s.column_types IS NULL OR pg_catalog.cardinality(s.column_types) <> 4 THEN
		RAISE EXCEPTION 'tracked source %.% has no valid column numbers', rel.nspname, rel.relname
			USING ERRCODE = 'data_corrupted', SCHEMA = rel.nspname, TABLE = rel.relname,
			      HINT = 'segmentation.sources was changed outside track(): untrack it and track the table again.';
	END IF;
	FOR k IN 1 .. 4 LOOP
		CONTINUE WHEN k = 4 AND s.value_column IS NULL;
		SELECT a.attname, a.atttypid::regtype AS type INTO att FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = s.source AND a.attnum = s.attnums[k] AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND OR att.attname IS DISTINCT FROM names[k] OR NOT att.type = ANY (segmentation._column_types(kinds[k]))
		   OR att.type <> s.column_types[k] THEN
			RAISE EXCEPTION '% column "%" of %.% is not the one track() recorded', kinds[k], names[k], rel.nspname, rel.relname
				USING ERRCODE = 'datatype_mismatch', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = CASE WHEN NOT FOUND THEN pg_catalog.format('Column number %s of the table was dropped.', s.attnums[k])
				                    WHEN att.attname IS DISTINCT FROM names[k] THEN pg_catalog.format('Column number %s is now named "%s".', s.attnums[k], att.attname)
				                    ELSE 'Tracked columns keep their number, name and built-in type.' END,
				      HINT = 'The table was altered where capture did not see it, or segmentation.sources was changed outside track(): untrack it and track the table again (the next refresh is full).';
		END IF;
		-- a user id compared by a collation of its own (case-insensitive, say)
		-- would make 'bob' and 'BOB' one user here and two for forget_user
		IF k = 1 AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_collation c ON c.oid = a.attcollation
		                     WHERE a.attrelid = s.source AND a.attnum = s.attnums[1] AND NOT c.collisdeterministic) THEN
			RAISE EXCEPTION 'user column "%" of %.% has a nondeterministic collation', names[k], rel.nspname, rel.relname
				USING ERRCODE = 'datatype_mismatch', SCHEMA = rel.nspname, TABLE = rel.relname,
				      HINT = 'User ids are compared byte for byte: give the column a deterministic collation (the default is).';
		END IF;
		IF k = 1 THEN
			SELECT a.atttypid::regtype INTO state_type FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = pg_catalog.to_regclass('segmentation.profiles') AND a.attname = 'user_id';
			IF att.type <> s.user_type OR att.type <> coalesce(state_type, att.type) THEN
				RAISE EXCEPTION 'user column "%" of %.% is %, not the tracked user id type %', names[k], rel.nspname, rel.relname,
					att.type, coalesce(state_type, s.user_type)
					USING ERRCODE = 'datatype_mismatch', SCHEMA = rel.nspname, TABLE = rel.relname;
			END IF;
		END IF;
	END LOOP;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = s.tracked_by)
	   OR NOT pg_catalog.has_table_privilege(s.tracked_by, s.source, 'SELECT') THEN
		RAISE EXCEPTION 'role % that tracked %.% may no longer read it', s.tracked_by, rel.nspname, rel.relname
			USING ERRCODE = 'insufficient_privilege', SCHEMA = rel.nspname, TABLE = rel.relname,
			      HINT = 'Grant SELECT back, or untrack the table.';
	END IF;
	IF segmentation._rls_hides_rows(s.tracked_by, s.source) THEN
		RAISE EXCEPTION 'row-level security on %.% hides rows from role %, who tracked it', rel.nspname, rel.relname, s.tracked_by
			USING ERRCODE = 'insufficient_privilege', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'What a role cannot read in a source it must not learn through the extension.',
			      HINT = 'Track it as a role that sees every row (its owner, without FORCE ROW LEVEL SECURITY), or untrack it.';
	END IF;
	-- (with the triggers: that no parent's writes go around them)
	IF triggers AND EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = s.source) THEN
		RAISE EXCEPTION 'tracked source %.% is now a partition or child of %', rel.nspname, rel.relname,
			(SELECT pg_catalog.string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno)
			 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = s.source)
			USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'Rows written through the parent fire no trigger of the child, so they would be missed.',
			      HINT = 'Detach it, or untrack it and track the parent.';
	END IF;
	-- partitions and children of its own, indexes and their operator classes
	PERFORM segmentation._check_readable(s.source, s.tracked_by, 'tracked table');
	IF triggers THEN
		-- on every table of the tree, each capture trigger, of this source's
		-- function, enabled in its mode: a missing or disabled one lets
		-- events past capture, one in another mode captures them twice
		fn := pg_catalog.to_regprocedure('segmentation._capture()');
		-- (a temporary member: refresh, in another session, cannot read it;
		-- an unlogged one: a crash empties it unseen, review 14b, R14b-4)
		SELECT c.oid::regclass AS rel, c.relpersistence AS persistence INTO trig FROM pg_catalog.pg_class c
		WHERE c.oid IN (SELECT t.rel FROM segmentation._source_tree(s.source) t) AND c.relpersistence IN ('t', 'u') LIMIT 1;
		IF trig.persistence = 't' THEN
			RAISE EXCEPTION 'temporary table % is in the tree of tracked table %.%', trig.rel, rel.nspname, rel.relname
				USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = 'Its rows are not read by refresh, and vanish with its session.',
				      HINT = 'Drop it, or make it stop inheriting (ALTER TABLE ... NO INHERIT), and run a full refresh.';
		ELSIF trig.persistence = 'u' THEN
			RAISE EXCEPTION 'unlogged table % is in the tree of tracked table %.%', trig.rel, rel.nspname, rel.relname
				USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = 'A crash empties it without firing any trigger: refresh would keep counting its lost events.',
				      HINT = pg_catalog.format('Make it logged (ALTER TABLE %s SET LOGGED) and run a full refresh.', trig.rel);
		END IF;
		-- (a partition whose DETACH ... CONCURRENTLY was interrupted: reads
		-- through the parent, a full refresh's, no longer see it, while
		-- capture still queues its rows; no event trigger ran: review 14, R14-7)
		SELECT i.inhrelid::regclass AS rel, i.inhparent::regclass AS parent INTO trig FROM pg_catalog.pg_inherits i
		WHERE i.inhdetachpending AND i.inhparent IN (SELECT t.rel FROM segmentation._source_tree(s.source) t) LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'partition % of tracked table %.% is being detached', trig.rel, rel.nspname, rel.relname
				USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = 'Its DETACH PARTITION ... CONCURRENTLY was interrupted: reads through the parent no longer see it, capture still does.',
				      HINT = pg_catalog.format('Finish it with ALTER TABLE %s DETACH PARTITION %s FINALIZE (the next refresh is then full).', trig.parent, trig.rel);
		END IF;
		-- each as installed: its function, mode, timing, level, events,
		-- transition tables, no WHEN, arguments or columns
		-- (arguments: none, or on a table Citus distributes the source's)
		args := segmentation._capture_args(s.id);
		arg_bytes := (SELECT coalesce(string_agg(pg_catalog.convert_to(a, pg_catalog.getdatabaseencoding()) || '\x00'::bytea, ''::bytea ORDER BY k), ''::bytea)
		              FROM unnest(args) WITH ORDINALITY x(a, k));
		SELECT t.rel::regclass AS rel, x.name, x.mode, g.tgenabled,
		       g.tgfoid IS DISTINCT FROM fn AS missing,
		       -- (made for a table Citus distributes, on one it no longer does)
		       g.tgnargs > 0 AND pg_catalog.cardinality(args) = 0 AS uncitused,
		       (g.tgtype, g.tgoldtable, g.tgnewtable, g.tgqual IS NULL, g.tgnargs, g.tgargs, g.tgattr::text, g.tgparentid)
		         IS DISTINCT FROM (x.type, x.oldtable, x.newtable, true, pg_catalog.cardinality(args)::int2, arg_bytes, '', 0::oid) AS redefined INTO trig
		FROM segmentation._source_tree(s.source) t JOIN pg_catalog.pg_class c ON c.oid = t.rel
		CROSS JOIN segmentation._source_triggers() x
		LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.rel AND g.tgname = x.name
		WHERE (NOT x.row_level OR c.relkind <> 'p')
		  AND (g.tgfoid IS DISTINCT FROM fn OR g.tgenabled IS DISTINCT FROM x.mode
		       OR (g.tgtype, g.tgoldtable, g.tgnewtable, g.tgqual IS NULL, g.tgnargs, g.tgargs, g.tgattr::text, g.tgparentid)
		          IS DISTINCT FROM (x.type, x.oldtable, x.newtable, true, pg_catalog.cardinality(args)::int2, arg_bytes, '', 0::oid))
		ORDER BY t.depth, t.rel, x.name LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'capture trigger % on % is %', trig.name, trig.rel,
				CASE WHEN trig.missing THEN 'missing' WHEN trig.uncitused THEN 'made for a table Citus distributes, which it no longer is'
				     WHEN trig.redefined THEN 'not as capture installed it'
				     WHEN trig.tgenabled = 'D' THEN 'disabled' ELSE 'enabled in another mode' END
				USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = CASE WHEN trig.missing OR trig.tgenabled = 'D' THEN 'Events written while it was missing or disabled were not captured.'
				                    WHEN trig.uncitused THEN 'The table was undistributed, or restored from a dump of the Citus coordinator: capture refuses its writes.'
				                    WHEN trig.redefined THEN 'Its timing, level, events or transition tables differ: it may skip events, or capture them twice.'
				                    ELSE 'Enabled in another mode it may capture events twice.' END,
				      HINT = CASE WHEN trig.missing THEN pg_catalog.format('A segmentation_admin puts the capture triggers back with segmentation._install_capture(%s) (the next refresh is then full), or untrack the table and track it again.', s.id)
				                  WHEN trig.uncitused THEN 'Untrack the table and track it again (the next refresh is then full): doc/citus.md, "Backup and restore".'
				                  ELSE 'Enable it again (ALTER TABLE ... ENABLE TRIGGER: capture puts it back in its own mode) and run a full refresh, or untrack the table and track it again.' END;
		END IF;
		-- (a table in the trees of two tracked tables: counted by both)
		SELECT t.rel::regclass AS rel, x.source AS other INTO trig
		FROM segmentation._source_tree(s.source) t, segmentation.sources x, segmentation._source_tree(x.source) u
		WHERE x.id <> s.id AND u.rel = t.rel LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'table % is in the trees of two tracked tables, %.% and %', trig.rel, rel.nspname, rel.relname, trig.other
				USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = 'Its events would be counted for both.', HINT = 'Make it inherit from one tracked table only, or untrack one.';
		END IF;
		-- and no other trigger of that function in the tree (it would
		-- capture the same events again)
		SELECT g.tgrelid::regclass AS rel, g.tgname AS name INTO trig
		FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
		WHERE g.tgfoid = fn AND g.tgrelid IN (SELECT t.rel FROM segmentation._source_tree(s.source) t)
		  AND g.tgname NOT IN (SELECT x.name FROM segmentation._source_triggers() x WHERE NOT x.row_level OR c.relkind <> 'p')
		LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'trigger % on % calls the capture function of %.%', trig.name, trig.rel, rel.nspname, rel.relname
				USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = 'It captures the same events again.', HINT = 'Drop it and run a full refresh.';
		END IF;
	END IF;
	RETURN s;
END $$;
COMMENT ON FUNCTION _check_source(int, boolean) IS 'Internal: a tracked source, re-validated (table, columns, types, privileges, row-level security and, with triggers, the capture triggers and no parent that writes around them), or an error';

-- The numbers and types of the tracked columns are taken from the table
-- whenever a source row is written (by track(), by pg_restore into a table
-- whose dropped columns are gone, so numbers differ, or by hand): never from
-- the writer, and validated before each use anyway.
CREATE FUNCTION _sources_columns() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT array_agg(a.attnum ORDER BY o.k), array_agg(a.atttypid::regtype ORDER BY o.k)
	INTO NEW.attnums, NEW.column_types
	FROM unnest(ARRAY[NEW.user_column, NEW.time_column, NEW.event_column, NEW.value_column]) WITH ORDINALITY o(col, k)
	LEFT JOIN pg_attribute a ON a.attrelid = NEW.source AND a.attname = o.col AND a.attnum > 0 AND NOT a.attisdropped;
	-- A row inserted (by track(), which flags it too, or by a restore's
	-- COPY, or by hand): the next refresh is full.  A data-only restore
	-- (pg_restore -a without --disable-triggers) into a tree in a schema
	-- after segmentation's restores this row before the events, whose COPY
	-- the capture triggers then queue on top of the restored profiles
	-- (review 14b, R14b-3: counted twice); a full refresh counts each once.
	IF TG_OP = 'INSERT' AND pg_catalog.to_regclass('segmentation.truncated') IS NOT NULL THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (NEW.id);
	END IF;
	RETURN NEW;
END $$;
COMMENT ON FUNCTION _sources_columns() IS 'Internal: records the numbers and types of a source''s tracked columns, from the table, whenever its row is written; a row inserted makes the next refresh full';
CREATE TRIGGER sources_columns BEFORE INSERT OR UPDATE ON sources FOR EACH ROW EXECUTE FUNCTION _sources_columns();

-- The tables whose rows a source holds: the tracked table and its
-- partitions and inheritance children, at every level (depth 0: itself).
CREATE FUNCTION _source_tree(source regclass) RETURNS TABLE (rel oid, depth int)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE tree(rel, depth) AS (
	SELECT source::oid, 0
	UNION
	SELECT i.inhrelid, t.depth + 1 FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.rel)
SELECT rel, min(depth)::int FROM tree GROUP BY rel
$$;
COMMENT ON FUNCTION _source_tree(regclass) IS 'Internal: a tracked table and its partitions and inheritance children, at every level';

-- The first table of a tracked table's tree that Citus manages (distributed,
-- reference or Citus local: a row of pg_dist_partition) or that is one of
-- the shards of such a table, or NULL; NULL without Citus.  Citus writes
-- such a table's rows on its shards, where no capture trigger fires (with
-- citus.enable_unsafe_triggers the shards get copies that queue nothing the
-- coordinator's refresh reads): every new event would be missed without a
-- word.  A shard (on a worker, or on a coordinator that has shards: hidden
-- from pg_class unless citus.override_table_visibility is off, which
-- anyone may set) holds only some of the table's rows, and Citus drops it
-- and makes another when it moves or splits it (review 25).  The managed
-- pipeline does not run on Citus yet (doc/citus.md), so track() refuses
-- such a table and every refresh refuses a tracked one that became one.
-- (pg_dist_partition and relation_is_a_known_shard are Citus's, in
-- pg_catalog, which only a superuser can create in; the statement is a
-- constant)
CREATE FUNCTION _citus_member(source regclass) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	member regclass;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE 'SELECT t.rel::pg_catalog.regclass FROM segmentation._source_tree($1) t
	         WHERE t.rel IN (SELECT p.logicalrelid FROM pg_catalog.pg_dist_partition p)
	            OR pg_catalog.relation_is_a_known_shard(t.rel::pg_catalog.regclass) ORDER BY t.depth, t.rel LIMIT 1'
		INTO member USING source;
	RETURN member;
END $$;
COMMENT ON FUNCTION _citus_member(regclass) IS 'Internal: the first table of a tracked table tree that Citus manages, or that is a Citus shard (its rows are written on shards, where capture does not fire), or NULL';

-- Who may change what the extension reads from the shards of a table
-- Citus manages: the rows are read there, on each node that holds a shard,
-- as whoever reads them (refresh and the experiment readout: the
-- extension's owner), and the coordinator cannot check what is there. The
-- owner of a table may change its shards (a view put in a shard's place ran
-- its owner's function as the reader), the owner of its schema may drop a
-- shard and put such a view in its place, and a worker's schema need not be
-- the coordinator's (a role that may create schemas there made it first);
-- the owner of a worker's database owns its schema public and sets the
-- defaults of the extension's connections there (attack reviews, session
-- 26).  So superusers must own every table of the tree and its schema, on
-- the coordinator and, by name, on every worker (a schema of
-- pg_database_owner, such as public, is the database owner's), and each
-- worker's database.  The workers are asked with run_command_on_workers
-- (Citus's, in pg_catalog); the statement names the schemas as a quoted
-- literal (format's %L: an E'' string when it holds a backslash, so it reads
-- the same whatever standard_conforming_strings is there).  NULL when they
-- do, else who does not; a worker that does not answer is an answer.
CREATE FUNCTION _citus_owners(rel regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	bad text;
	schemas name[];
	everywhere boolean;
BEGIN
	SELECT CASE WHEN x.kind = 'table' THEN 'its owner is not a superuser'
	            ELSE format('the owner of its schema %I is not a superuser', x.name) END INTO bad
	FROM (SELECT 1 AS k, 'table' AS kind, c.relname::text AS name, c.relowner AS owner
	      FROM segmentation._source_tree(rel) t JOIN pg_class c ON c.oid = t.rel
	      UNION ALL
	      SELECT 2, 'schema', n.nspname::text,
	             CASE WHEN n.nspowner = 'pg_database_owner'::regrole
	                  THEN (SELECT d.datdba FROM pg_database d WHERE d.datname = current_database()) ELSE n.nspowner END
	      FROM segmentation._source_tree(rel) t JOIN pg_class c ON c.oid = t.rel JOIN pg_namespace n ON n.oid = c.relnamespace) x
	JOIN pg_roles r ON r.oid = x.owner
	WHERE NOT r.rolsuper ORDER BY x.k, x.name LIMIT 1;
	IF bad IS NOT NULL THEN
		RETURN bad || ' (the extension reads its shards on the Citus nodes, where the coordinator cannot check what the owners put there)';
	END IF;
	SELECT array_agg(DISTINCT n.nspname) INTO schemas
	FROM segmentation._source_tree(rel) t JOIN pg_class c ON c.oid = t.rel JOIN pg_namespace n ON n.oid = c.relnamespace;
	EXECUTE format($c$SELECT coalesce(bool_and(coalesce(w.success AND w.result = 't', false)), true)
	                 FROM pg_catalog.run_command_on_workers(%L) w$c$,
	               format($w$SELECT (SELECT r.rolsuper FROM pg_catalog.pg_database d
	                                 JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) d.datdba
	                                 WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
	                          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
	                                          JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	                                          WHERE n.nspname OPERATOR(pg_catalog.=) ANY (%L::pg_catalog.name[])
	                                            AND NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) 'pg_database_owner')$w$,
	                      schemas)) INTO everywhere;
	IF everywhere IS NOT TRUE THEN
		RETURN format('on a Citus worker, its database or its schema (%s) is not a superuser''s, or the worker did not answer'
		              ' (the extension reads its shards there, where the coordinator cannot check what the owners put there)',
		              array_to_string(schemas, ', '));
	END IF;
	RETURN NULL;
END $$;
COMMENT ON FUNCTION _citus_owners(regclass) IS 'Internal: NULL when superusers own every table of a tree Citus manages and its schemas, on the coordinator and on every worker, and every worker''s database, else who does not';

-- A table Citus distributes that capture supports (doc/citus.md,
-- "Capture"): NULL, else why not.  Capture runs on its shards (src/capture.c,
-- "Citus"), into a queue colocated with it, so it must be hash-distributed
-- by the user id; a table alone (no partitions, children or parents: their
-- shards are Citus's to route); its name short enough for Citus to name a
-- shard after it unshortened (capture finds the table from the shard's
-- name); and it and its schema a superuser's (_citus_owners): refresh reads
-- its shards on the workers as the extension's owner, and the coordinator
-- cannot check what an owner put on a shard there (an index, a policy, a
-- column's type, a view in its place), nor that the shards keep their
-- capture triggers, as it checks the table's own.
CREATE FUNCTION _citus_unsupported(source regclass, user_column name) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	d record;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN 'Citus is not installed';
	END IF;
	-- (a worker has the distributed table too, but no configuration)
	EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO d;
	IF NOT d.citus_is_coordinator THEN
		RETURN 'this node is not the Citus coordinator';
	END IF;
	EXECUTE 'SELECT p.partmethod, pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) AS col
	         FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1'
		INTO d USING source;
	IF d IS NULL OR d.partmethod <> 'h' THEN
		RETURN 'it is not a hash-distributed table (a reference or Citus local table, or a shard)';
	ELSIF d.col IS DISTINCT FROM user_column THEN
		RETURN pg_catalog.format('it is distributed by column %I, not by the user id column %I', d.col, user_column);
	ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = source OR i.inhparent = source)
	      OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = source) <> 'r' THEN
		RETURN 'it has partitions, children or parents';
	ELSIF (SELECT pg_catalog.octet_length(c.relname) FROM pg_catalog.pg_class c WHERE c.oid = source) > 42 THEN
		RETURN 'its name is longer than 42 bytes (Citus would shorten its shards'' names)';
	END IF;
	RETURN segmentation._citus_owners(source);
END $$;
COMMENT ON FUNCTION _citus_unsupported(regclass, name) IS 'Internal: NULL when capture supports a table Citus distributes (hash, by the user id, alone, short name, it and its schema a superuser''s), else why not';

-- The arguments of a source's capture triggers: none, or on a table Citus
-- distributes its id and tracked columns (a worker has no segmentation.sources)
CREATE FUNCTION _capture_args(source_id int) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT CASE WHEN segmentation._citus_member(s.source) IS NULL THEN '{}'::text[]
            ELSE ARRAY[s.id::text, s.user_column::text, s.time_column::text, s.event_column::text, coalesce(s.value_column::text, '')] END
FROM segmentation.sources s WHERE s.id = source_id
$$;
COMMENT ON FUNCTION _capture_args(int) IS 'Internal: the arguments of a source''s capture triggers (on a table Citus distributes: its id and tracked columns)';

-- The queue of a source Citus distributes: segmentation.citus_queue_<id>,
-- distributed by user id and colocated with the tracked table; its rows are
-- written by capture on the shards (src/capture.c, "Citus") and consumed by
-- refresh: claimed (_claim_citus_queues) and aggregated on the workers
-- (_absorb_citus_queues), or moved into pending_batches, dirty_users and
-- truncated (_drain_citus_queues).
CREATE FUNCTION _citus_queue(source_id int, make boolean) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	q regclass;
BEGIN
	SELECT * INTO s FROM segmentation.sources x WHERE x.id = source_id;
	q := pg_catalog.to_regclass(pg_catalog.format('segmentation.%I', 'citus_queue_' || source_id));
	IF q IS NULL AND NOT make THEN
		RAISE EXCEPTION 'the queue of tracked table %, segmentation.%, is missing', s.source, 'citus_queue_' || source_id
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Untrack the table and track it again.';
	ELSIF q IS NULL THEN
		EXECUTE pg_catalog.format('CREATE TABLE segmentation.%I (user_id %s, events int NOT NULL, batch bytea, run bigint)',
			'citus_queue_' || source_id, s.user_type);
		q := pg_catalog.format('segmentation.%I', 'citus_queue_' || source_id)::regclass;
		-- (Citus moves and splits a shard by logical replication, during which
		-- refresh's DELETE of its rows needs a replica identity; capture
		-- writes it without an index)
		EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', q);
		EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', q,
			pg_catalog.format('Internal: what capture queued on the shards of %s, colocated with it (a batch of events, a user updated or deleted, a truncate); consumed by refresh (run: the one that claimed it)', s.source));
		PERFORM pg_catalog.create_distributed_table(q, 'user_id', colocate_with => s.source::text);
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p, pg_catalog.pg_dist_partition t
	               WHERE p.logicalrelid = q AND t.logicalrelid = s.source AND p.colocationid = t.colocationid AND p.partmethod = 'h') THEN
		RAISE EXCEPTION 'the queue of tracked table %, %, is not colocated with it', s.source, q
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Untrack the table and track it again.';
	END IF;
	RETURN q;
END $$;
COMMENT ON FUNCTION _citus_queue(int, boolean) IS 'Internal: the queue of a tracked table Citus distributes, checked to be colocated with it (with make, made and distributed the first time)';

-- The queues that exist, with their sources, in the order of the sources
-- (none where Citus is absent): what refresh, forget_user and
-- refresh_status go through.
CREATE FUNCTION _citus_queues() RETURNS TABLE (source_id int, source regclass, queue regclass)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT x.id, x.source, q.queue
FROM segmentation.sources x,
     LATERAL (SELECT pg_catalog.to_regclass(pg_catalog.format('segmentation.%I', 'citus_queue_' || x.id)) AS queue) q
WHERE q.queue IS NOT NULL
ORDER BY x.id
$$;
COMMENT ON FUNCTION _citus_queues() IS 'Internal: the queues on the shards of tracked tables Citus distributes that exist, with their sources';

-- Moves rows of a queue on the shards into this node's queue: a batch of
-- events into pending_batches, a user updated or deleted into dirty_users,
-- a truncate into truncated.  run NULL: every row; else those of the rows
-- the run claimed that cannot stay on the workers (_claim_citus_queues).
CREATE FUNCTION _move_citus_queue(source_id int, queue regclass, run bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE pg_catalog.format($q$
		WITH d AS (DELETE FROM %1$s q%3$s RETURNING q.user_id, q.events, q.batch),
		     b AS (INSERT INTO segmentation.pending_batches (source_id, events, batch)
		           SELECT %2$s, d.events, d.batch FROM d WHERE d.batch IS NOT NULL),
		     u AS (INSERT INTO segmentation.dirty_users (user_id)
		           SELECT d.user_id FROM d WHERE d.batch IS NULL AND d.events = 0 AND d.user_id IS NOT NULL)
		INSERT INTO segmentation.truncated (source_id) SELECT %2$s FROM d WHERE d.batch IS NULL AND d.events <> 0 LIMIT 1
	$q$, queue, source_id,
	CASE WHEN run IS NULL THEN ''
	     ELSE pg_catalog.format(' WHERE q.run = %s AND (q.batch IS NULL OR q.user_id IS NULL OR octet_length(q.user_id::text) > 1000)', run) END);
END $$;
COMMENT ON FUNCTION _move_citus_queue(int, regclass, bigint) IS 'Internal: moves the rows of a queue on the shards (every one, or what a run claimed that cannot stay there) into pending_batches, dirty_users and truncated';

-- Moves what capture queued on the shards of tracked tables Citus
-- distributes into pending_batches, dirty_users and truncated, in the
-- caller's transaction (refresh's, forget_user's: Citus commits it on every
-- node with two-phase commit, so a row is moved exactly once, or not).
-- discard: a full refresh, which reads every event from the tables (locked
-- against writes: _lock_citus_sources), deletes them where they are.
CREATE FUNCTION _drain_citus_queues(discard boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN;
	END IF;
	FOR s IN SELECT * FROM segmentation._citus_queues() LOOP
		IF discard THEN
			EXECUTE pg_catalog.format('DELETE FROM %s', s.queue);
		ELSE
			PERFORM segmentation._move_citus_queue(s.source_id, s.queue, NULL);
		END IF;
	END LOOP;
END $$;
COMMENT ON FUNCTION _drain_citus_queues(boolean) IS 'Internal: moves what capture queued on the shards of tracked tables Citus distributes into pending_batches, dirty_users and truncated (the caller''s transaction); with discard (a full refresh), deletes it';

-- (Here and below, the run's and the source's ids are written into the
-- statements' text, not passed as parameters: on Citus, the EXPLAIN of an
-- INSERT ... SELECT it repartitions plans the SELECT again without them,
-- and fails, so auto_explain's log of a nested statement failed refresh;
-- citus.explain_distributed_queries, off in these functions, does not
-- reach that EXPLAIN: the ids must stay in the text.)
--
-- With the state distributed (colocated with the events), refresh first
-- claims every row the queues hold (run: its own), then moves the users
-- updated or deleted and the truncates into dirty_users and truncated,
-- which decide how the run reads, and the batches whose first user id is
-- NULL or over 1000 bytes (a refused event, which cannot key the parts of
-- _absorb_citus_queues: an index entry holds 2,704 bytes at most, review
-- of session 29, F1) into pending_batches.  The other batches stay on the workers, and are
-- aggregated there (_absorb_citus_queues), the rows of the managed
-- funnels' steps kept there, unless a managed funnel needs the events
-- on the coordinator (a plain table tracked too, or the funnels' work
-- table this node's: sql/70-refresh.sql): then they are moved there
-- (_take_citus_queues).  Each statement on Citus
-- has per-worker snapshots of its own: the claim makes the later ones
-- consume the rows this one saw, and leaves any committed since for the
-- next run (a run that reads the tables claims again once they are locked
-- against writes).  All in refresh's transaction (a failed or cancelled
-- run's claims are undone).
CREATE FUNCTION _claim_citus_queues(run bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT * FROM segmentation._citus_queues() LOOP
		EXECUTE pg_catalog.format('UPDATE %s q SET run = %s WHERE q.run IS DISTINCT FROM %2$s', s.queue, run);
		PERFORM segmentation._move_citus_queue(s.source_id, s.queue, run);
	END LOOP;
END $$;
COMMENT ON FUNCTION _claim_citus_queues(bigint) IS 'Internal (refresh, the state distributed): claims the rows of the queues on the shards of tracked tables Citus distributes for the run, and moves those that are not batches of events into dirty_users and truncated';

-- What refresh does with the queues once the tracked tables are locked
-- against writes (_lock_citus_sources): a full run deletes them where they
-- are (it reads every event from the tables); one that aggregates them on
-- the workers claims what was committed since its first claim; any other
-- moves them all to the coordinator.
CREATE FUNCTION _take_citus_queues(run bigint, full_run boolean, on_workers boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF full_run OR NOT on_workers THEN
		PERFORM segmentation._drain_citus_queues(full_run);
	ELSE
		PERFORM segmentation._claim_citus_queues(run);
	END IF;
END $$;
COMMENT ON FUNCTION _take_citus_queues(bigint, boolean, boolean) IS 'Internal (refresh, the tracked tables locked): deletes the queues on the shards (a full run), claims them (a run that aggregates them there) or moves them to the coordinator';

-- Before the run's statement, of the batches a run claimed on the shards:
-- the events refresh cannot use, into rejected_events (filtered on the
-- workers: only they come to the coordinator; the statement deletes the
-- rows of the users it recomputes from the tables, and finds them there
-- again), and the users of an event a feature with a condition lists
-- (condition_events), into dirty_users: the condition is on the table's
-- row, which they are recomputed from.
CREATE FUNCTION _absorb_citus_begin(run bigint, user_type regtype, condition_events text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT * FROM segmentation._citus_queues() LOOP
		IF pg_catalog.cardinality(condition_events) > 0 THEN
			EXECUTE pg_catalog.format($q$
				INSERT INTO segmentation.dirty_users (user_id)
				SELECT DISTINCT e.user_id::%2$s
				FROM %1$s q CROSS JOIN LATERAL segmentation._queued_events(q.batch) e
				WHERE q.run = %3$s AND e.event = ANY (%4$L::text[]) AND e.user_id IS NOT NULL
			$q$, s.queue, user_type, run, condition_events);
		END IF;
		EXECUTE pg_catalog.format($q$
			INSERT INTO segmentation.rejected_events (run_id, source, user_id, ts, event, value, reason)
			SELECT %4$s, %2$L, CASE WHEN octet_length(e.user_id::text) <= 1000 THEN e.user_id::text END, e.ts, e.event, e.value, e.reason
			FROM (SELECT e.user_id::%3$s AS user_id, e.ts, e.event, e.value,
			             segmentation._reject_reason(octet_length(e.user_id::%3$s::text), e.ts, e.value) AS reason
			      FROM %1$s q CROSS JOIN LATERAL segmentation._queued_events(q.batch) e WHERE q.run = %4$s) e
			WHERE e.reason IS NOT NULL
		$q$, s.queue, s.source, user_type, run);
	END LOOP;
END $$;
COMMENT ON FUNCTION _absorb_citus_begin(bigint, regtype, text[]) IS 'Internal (refresh, the state distributed): of the batches the run claimed on the shards, the events refresh cannot use into rejected_events, and the users of an event a feature with a condition lists into dirty_users';

-- The batches a run claimed, aggregated on the workers into its work table
-- (_batch), never passing through the coordinator.  A batch holds users of
-- one shard, its first user's, which Citus routes it by: grouped by the
-- batch's user and the event's user, on the shard (the events of a user
-- that several batches hold are parts, summed up in _batch_parts,
-- colocated: Citus's INSERT ... SELECT "repartition", from a shard to the
-- same hash range's); then the parts of each user merged into _batch, where
-- the coordinator's own queue may have put the user already, but not into
-- the row of a user the run recomputes from the tables (replace), whose
-- queued events are there.  With managed funnels, their steps' rows
-- (funnel_events; NULL: every event) go into _funnel_batch the same way,
-- by the event's user (refresh then drops those of the users it
-- recomputes).  Then the claimed rows go.
CREATE FUNCTION _absorb_citus_queues(run bigint, user_type regtype, funnels boolean, funnel_events text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	-- (only this run's parts: none is left by another, but the table is
	-- summed whole)
	DELETE FROM segmentation._batch_parts;
	FOR s IN SELECT * FROM segmentation._citus_queues() LOOP
		EXECUTE pg_catalog.format($q$
			INSERT INTO segmentation._batch_parts (user_id, part_of, b, n)
			SELECT e.user_id::%2$s, q.user_id, segmentation.behavior_agg(e.ts, fm.id, e.value), count(*)
			FROM %1$s q CROSS JOIN LATERAL segmentation._queued_events(q.batch) e
			     LEFT JOIN segmentation._feature_map fm ON fm.event = e.event
			WHERE q.run = %3$s AND segmentation._reject_reason(octet_length(e.user_id::%2$s::text), e.ts, e.value) IS NULL
			GROUP BY q.user_id, e.user_id::%2$s
		$q$, s.queue, user_type, run);
		INSERT INTO segmentation._batch AS t (user_id, b, replace, n)
		SELECT p.user_id, segmentation.behavior_union_agg(p.b), false, sum(p.n) FROM segmentation._batch_parts p
		GROUP BY p.user_id
		ON CONFLICT (user_id) DO UPDATE SET b = segmentation.behavior_merge(t.b, EXCLUDED.b), n = t.n + EXCLUDED.n
			WHERE NOT t.replace;
		DELETE FROM segmentation._batch_parts;
		IF funnels THEN
			EXECUTE pg_catalog.format($q$
				INSERT INTO segmentation._funnel_batch (user_id, ts, event, replace)
				SELECT e.user_id::%2$s, e.ts, e.event, false
				FROM %1$s q CROSS JOIN LATERAL segmentation._queued_events(q.batch) e
				WHERE q.run = %3$s AND segmentation._reject_reason(octet_length(e.user_id::%2$s::text), e.ts, e.value) IS NULL%4$s
			$q$, s.queue, user_type, run,
			CASE WHEN funnel_events IS NULL THEN '' ELSE pg_catalog.format(' AND e.event = ANY (%L::text[])', funnel_events) END);
		END IF;
		EXECUTE pg_catalog.format('DELETE FROM %s q WHERE q.run = %s', s.queue, run);
	END LOOP;
END $$;
COMMENT ON FUNCTION _absorb_citus_queues(bigint, regtype, boolean, text[]) IS 'Internal (refresh, the state distributed): aggregates the batches the run claimed on the shards of tracked tables Citus distributes into _batch on the workers (but for the users it recomputes), with funnels keeps the rows of their steps'' events in _funnel_batch there, and deletes them';

-- lock_timeout, here and on the workers: Citus takes a lock on the workers
-- over its own connections, where refresh's lock_timeout, set by
-- set_config, was not (a writer through a worker that kept its transaction
-- open kept refresh waiting past refresh_lock_timeout, and every writer of
-- the table behind it: review 29, R29-1).  Citus sends it, as a SET LOCAL
-- it propagates, to the transaction's connections and to those it opens
-- later (src/node.c).
CREATE FUNCTION _citus_lock_timeout(wait text) RETURNS void
	AS 'MODULE_PATHNAME', 'citus_lock_timeout' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION _citus_lock_timeout(text) IS 'Internal: sets lock_timeout for the transaction here and on the Citus workers it uses';

-- Refresh reads a tracked table (a full run; users it recomputes, updated
-- or deleted, of a feature with a condition, of a managed funnel's late
-- events) in another statement than the one that moves its queue, and on
-- Citus each worker reads with a snapshot of its own (review 28, R28-2): an
-- event committed in between would be read from the table and stay queued,
-- counted twice.  So, when it will read them, the tracked tables Citus
-- distributes are locked against writes (SHARE: Citus takes the lock on
-- every node; writers wait until the refresh ends), and refresh then
-- consumes what was queued before (_take_citus_queues).  True when it
-- locked any.
CREATE FUNCTION _lock_citus_sources(reads boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	names text[];
	tables regclass[];
	wait text := pg_catalog.current_setting('lock_timeout');
	total bigint := segmentation._setting_ms('refresh_lock_timeout');
	deadline timestamptz;
	failure text;
	waited int := 1;
	trying int;
	try_ms bigint;
	tried_at timestamptz;
BEGIN
	IF NOT reads THEN
		RETURN false;
	END IF;
	-- (by name, so that Citus takes it on the workers too; a name that
	-- names another table by then is refused: it locked nothing else)
	SELECT pg_catalog.array_agg(x.source::text ORDER BY x.source_id), pg_catalog.array_agg(x.source ORDER BY x.source_id)
	INTO names, tables FROM segmentation._citus_queues() x;
	IF names IS NULL THEN
		RETURN false;
	END IF;
	-- One: a wait of refresh_lock_timeout.  Several: all at once or none,
	-- and never waiting for one while holding another.  Holding one while
	-- waiting for the next deadlocked with a writer through a worker that
	-- held the next and then wrote the first (review 30, F8): with a wait of
	-- 100 ms, Citus's deadlock detector still saw the cycle now and then and
	-- cancelled the writer.  So each try waits (100 ms at most) for one
	-- table, holding none, and takes the others with NOWAIT; short of one,
	-- it gives them all back (the block's subtransaction, on every node) and
	-- the next try waits for that one, until refresh_lock_timeout.
	try_ms := CASE WHEN pg_catalog.cardinality(names) = 1 THEN total ELSE 100 END;
	deadline := pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => total / 1000.0);
	LOOP
		tried_at := pg_catalog.clock_timestamp();
		trying := waited;
		BEGIN
			PERFORM segmentation._citus_lock_timeout(try_ms || 'ms');
			EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', names[waited]);
			FOR k IN 1 .. pg_catalog.cardinality(names) LOOP
				CONTINUE WHEN k = waited;
				trying := k;
				EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE NOWAIT', names[k]);
			END LOOP;
			EXIT;
		EXCEPTION WHEN lock_not_available OR deadlock_detected OR internal_error THEN
			-- (Citus reports a lock not free on a worker as the failure of
			-- its connection there: one that came before the wait was over,
			-- or any other internal error, is raised as it is)
			GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
			IF SQLSTATE = 'XX000' AND (failure NOT LIKE 'failure on connection marked as essential%'
			                           OR (trying = waited AND (try_ms = 0 OR pg_catalog.clock_timestamp() - tried_at
			                                                    < pg_catalog.make_interval(secs => try_ms / 1000.0)))) THEN
				RAISE;
			END IF;
			IF pg_catalog.cardinality(names) = 1 OR (total > 0 AND pg_catalog.clock_timestamp() >= deadline) THEN
				RAISE EXCEPTION '% within refresh_lock_timeout (%)',
					CASE WHEN pg_catalog.cardinality(names) = 1 THEN pg_catalog.format('tracked table %s was not free', names[1])
					     ELSE 'the tracked tables Citus distributes were not all free' END,
					segmentation._setting('refresh_lock_timeout')
					USING ERRCODE = 'lock_not_available', DETAIL = pg_catalog.format('The last one waited for: %s (%s).', names[trying], failure),
					      HINT = 'A transaction that writes them held one of them: refresh locks them all at once, against writes, when it reads them.';
			END IF;
			waited := trying;
		END;
	END LOOP;
	PERFORM segmentation._citus_lock_timeout(wait);
	FOR k IN 1 .. pg_catalog.cardinality(names) LOOP
		IF pg_catalog.to_regclass(names[k]) IS DISTINCT FROM tables[k] THEN
			RAISE EXCEPTION 'tracked table % was renamed while refresh locked it', tables[k]
				USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
	END LOOP;
	RETURN true;
END $$;
COMMENT ON FUNCTION _lock_citus_sources(boolean) IS 'Internal: when refresh will read the tracked tables, locks those Citus distributes against writes (on every node); true when it locked any';

-- A refresh that reads the tracked tables Citus distributes and a move of
-- their shards by logical replication (citus_move_shard_placement, the
-- rebalancer) deadlocked when the refresh had written on a worker (its
-- claim of the queues, a copy _sync_on_nodes made equal) before it waited
-- for a table the move held: the move's replication slot waited for the
-- refresh's transaction there, across nodes, where no deadlock detector
-- sees it (the refresh failed at refresh_lock_timeout), or the move's last
-- step for the claim's lock on a queue shard (the move was cancelled).  So
-- such a refresh holds Citus's own lock on moving the tables' colocation
-- groups (src/node.c, _shard_moves_lock) from before it writes on any
-- worker until it has locked the tables (_lock_citus_sources; a move then
-- waits for those until the refresh ends, as it always did).  wait: it
-- has written on no worker yet, so it waits for a running move
-- (refresh_lock_timeout at most); else (it learnt that it reads only from
-- what it claimed, or a table tracked since it took them) a running move
-- fails it at once, nothing lost.  A move or split started while it holds
-- the lock fails at once (Citus's message: "could not acquire the lock
-- required to move ..." or "... to split ..."); the rebalancer tries its
-- task again later.  held: the groups held already (refresh gives them back
-- itself, at the level it took them: _shard_moves_lock).
CREATE FUNCTION _shard_moves_lock(colocation_id int, hold boolean, wait boolean) RETURNS boolean
	AS 'MODULE_PATHNAME', 'shard_moves_lock' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION _shard_moves_lock(int, boolean, boolean) IS 'Internal: takes (waiting or not) or gives back Citus''s lock on moving and splitting the shards of a colocation group, in SHARE mode, for the transaction';

CREATE FUNCTION _hold_citus_moves(held int[], wait boolean) RETURNS int[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	colocation int;
	source text;
BEGIN
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
		RETURN held;
	END IF;
	-- (ascending, as Citus never takes two; a move holds one)
	FOR colocation, source IN
		SELECT p.colocationid, pg_catalog.min(q.source::text)
		FROM segmentation._citus_queues() q, pg_catalog.pg_dist_partition p
		WHERE p.logicalrelid = q.source AND p.colocationid > 0 AND p.colocationid <> ALL (held)
		GROUP BY p.colocationid ORDER BY p.colocationid LOOP
		BEGIN
			IF segmentation._shard_moves_lock(colocation, true, wait) THEN
				held := held || colocation;
				CONTINUE;
			END IF;
		EXCEPTION WHEN lock_not_available THEN
			NULL;
		END;
		RAISE EXCEPTION 'a shard move or split of tracked table % (or of a table colocated with it) is running%', source,
			CASE WHEN wait THEN pg_catalog.format(', for longer than refresh_lock_timeout (%s)', segmentation._setting('refresh_lock_timeout')) ELSE '' END
			USING ERRCODE = 'lock_not_available',
			      DETAIL = 'A refresh that reads the tracked tables does not run while Citus moves their shards (the two would deadlock).',
			      HINT = 'Nothing was lost: run the refresh again once the move is done (citus_rebalance_status() or pg_stat_activity shows it).';
	END LOOP;
	RETURN held;
END $$;
COMMENT ON FUNCTION _hold_citus_moves(int[], boolean) IS 'Internal: keeps Citus from moving or splitting the shards of the tracked tables it distributes (their colocation groups) but those held already, waiting or not for a move running; returns every group held';

-- The capture triggers of a source, on each table of its tree, the mode
-- each must be enabled in (pg_trigger.tgenabled) and its definition
-- (pg_trigger.tgtype: AFTER, its level and events; its transition tables):
-- the statement triggers fire unless session_replication_role is replica
-- ('O'), the row trigger only when it is ('R'), so that every write fires
-- exactly one of them; a truncate, which no row trigger sees, fires always
-- ('A': twice is harmless).  The row trigger is on the tables that hold rows
-- only (row_level: never on a partitioned table, whose row triggers
-- PostgreSQL would clone onto new partitions only if their owner could
-- execute the function, and nobody but the extension's owner may).
CREATE FUNCTION _source_triggers(OUT name name, OUT mode "char", OUT type int2, OUT oldtable name, OUT newtable name,
                                 OUT row_level boolean)
RETURNS SETOF record LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
VALUES ('segmentation_capture_insert'::name, 'O'::"char", 4::int2, NULL::name, 'new_rows'::name, false),
       ('segmentation_capture_update', 'O', 16::int2, 'old_rows', 'new_rows', false),
       ('segmentation_capture_delete', 'O', 8::int2, 'old_rows', NULL, false),
       ('segmentation_capture_truncate', 'A', 32::int2, NULL, NULL, false),
       ('segmentation_capture_replica', 'R', 29::int2, NULL, NULL, true)
$$;
COMMENT ON FUNCTION _source_triggers() IS 'Internal: the capture triggers every table of a tracked tree has, and the mode each is enabled in';

-- Set while _install_capture_triggers runs: the ALTER TABLE it issues to
-- enable its triggers is its own, not DDL the event trigger must look at.
-- (A table: no other role can write it, as they could a setting.)
CREATE TABLE _capture_installing (backend int, xact xid8);
COMMENT ON TABLE _capture_installing IS 'Internal: the transactions installing capture triggers right now';

-- The tables of each source's tree, by OID, as _install_capture_triggers
-- last saw them: a dropped table is recognised by its OID here, not by the
-- names of the triggers dropped with it (review 14b, R14b-1: the owner
-- renamed them first; R14b-2: any role's temporary table with a trigger so
-- named forced a full refresh).  Not dumped (OIDs do not survive a
-- restore): a restore's ALTER TABLE ... ENABLE ... TRIGGER on the tree, and
-- any later DDL on it, rebuilds it through _install_capture_triggers.
CREATE TABLE _capture_members (source_id int NOT NULL, rel oid NOT NULL, PRIMARY KEY (source_id, rel));
REVOKE ALL ON _capture_members FROM PUBLIC;
COMMENT ON TABLE _capture_members IS 'Internal: the tables of each tracked tree, by OID (a dropped one makes the next refresh full)';

-- The capture triggers of one source, on the tracked table and on every
-- partition and inheritance child (present ones; future ones through the
-- event trigger below), each enabled in its mode; those left on a table
-- that has left the tree (detached, no longer inheriting) are dropped.  A
-- mode the table's owner changed is put back, except a disabled trigger,
-- which stays disabled: refresh refuses to run on it, loudly.  A trigger of
-- that name with another function is left for refresh to refuse.  The row
-- trigger created on a partitioned table is cloned by PostgreSQL onto its
-- partitions, present and future, with its mode.  A trigger created on a
-- table that is not among created (the tables the calling DDL created,
-- empty) was missing while that table could be written (dropped by its
-- owner, or the table made where the event trigger did not look): the next
-- refresh is full (review 14, R14-5).  Without repair (the event trigger
-- during a restore) no trigger is created on a table outside created.
CREATE FUNCTION _install_capture_triggers(source_id int, created oid[] DEFAULT NULL, repair boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src regclass;
	fn regprocedure;
	member record;
	trig record;
	current "char";
	repaired boolean := false;
	args text[];
	arg_list text;
	citus text[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	SELECT s.source INTO src FROM segmentation.sources s WHERE s.id = source_id;
	fn := to_regprocedure('segmentation._capture()');
	IF src IS NULL OR fn IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = src) THEN
		RETURN;
	END IF;
	-- A member capture cannot hold to exactly once is refused: the track,
	-- the update from 0.1, or the DDL that brings it (CREATE ... PARTITION
	-- OF or INHERITS, ATTACH, INHERIT, SET UNLOGGED) fails here, through the
	-- event trigger.
	-- * temporary: refresh, in another session, cannot read it, and its
	--   rows vanish with its session;
	-- * unlogged: a crash empties it and fires no trigger, so refresh would
	--   keep counting events that are gone (review 14b, R14b-4);
	-- * foreign: its rows are on another server, written there past any
	--   trigger of ours, and PostgreSQL puts no trigger with transition
	--   tables on it.
	SELECT c.oid::regclass AS rel, c.relpersistence AS persistence, c.relkind AS kind INTO member FROM pg_class c
	WHERE c.oid IN (SELECT t.rel FROM segmentation._source_tree(src) t)
	  AND (c.relpersistence IN ('t', 'u') OR c.relkind = 'f') LIMIT 1;
	IF member.kind = 'f' THEN
		RAISE EXCEPTION 'foreign table % cannot be in the tracked tree of %', member.rel, src
			USING ERRCODE = 'wrong_object_type',
			      DETAIL = 'Its rows are on another server: writes there fire no trigger here, so refresh could not count them exactly once.',
			      HINT = 'Keep foreign tables out of a tracked tree, or track the table where its rows are written.';
	ELSIF member.persistence = 't' THEN
		RAISE EXCEPTION 'temporary table % cannot join the tracked tree of %', member.rel, src
			USING ERRCODE = 'wrong_object_type', DETAIL = 'Refresh, in another session, could not read its rows.',
			      HINT = 'Make it a permanent table, or do not inherit from a tracked table.';
	ELSIF member.persistence = 'u' THEN
		RAISE EXCEPTION 'unlogged table % cannot be in the tracked tree of %', member.rel, src
			USING ERRCODE = 'wrong_object_type',
			      DETAIL = 'A crash empties it without firing any trigger: refresh would keep counting its lost events.',
			      HINT = format('Make it logged (ALTER TABLE %s SET LOGGED), or keep it out of the tree.', member.rel);
	END IF;
	-- On a table Citus distributes: its queue, and triggers that carry the
	-- source's id and columns to the shards (created there by Citus, with
	-- citus.enable_unsafe_triggers, set back as it was at the end)
	args := segmentation._capture_args(source_id);
	arg_list := (SELECT string_agg(quote_literal(a), ', ' ORDER BY k) FROM unnest(args) WITH ORDINALITY x(a, k));
	IF cardinality(args) > 0 THEN
		IF segmentation._citus_unsupported(src, args[2]::name) IS NOT NULL THEN
			RAISE EXCEPTION 'capture cannot run on the shards of tracked table %: %', src, segmentation._citus_unsupported(src, args[2]::name)
				USING ERRCODE = 'feature_not_supported', HINT = 'doc/citus.md, "Capture", says what is supported and why.';
		END IF;
		PERFORM segmentation._citus_queue(source_id, true);
		citus := ARRAY[pg_catalog.current_setting('citus.enable_unsafe_triggers')];
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
	END IF;
	INSERT INTO segmentation._capture_installing VALUES (pg_backend_pid(), pg_current_xact_id());
	-- Nobody but the extension's owner may execute the capture function (a
	-- role that may could declare a trigger of it without the transition
	-- tables the function reads, and have it read a relation of its own):
	-- grants made by installs before review 12 are revoked.
	FOR trig IN SELECT a.grantee FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = fn AND a.grantee <> p.proowner LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %s', fn,
			CASE WHEN trig.grantee = 0 THEN 'PUBLIC' ELSE trig.grantee::regrole::text END);
	END LOOP;
	-- No row trigger on a partitioned table (installs before review 12 put
	-- one there, which PostgreSQL cloned): each table that holds rows has
	-- its own, put there by the extension's owner, here.
	FOR trig IN
		SELECT g.tgrelid::regclass AS rel, g.tgname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE g.tgfoid = fn AND g.tgparentid = 0 AND c.relkind = 'p'
		  AND g.tgname IN (SELECT x.name FROM segmentation._source_triggers() x WHERE x.row_level)
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', trig.tgname, trig.rel);
	END LOOP;
	FOR member IN SELECT t.rel::regclass AS rel, c.relkind FROM segmentation._source_tree(src) t JOIN pg_class c ON c.oid = t.rel
	              ORDER BY t.depth, t.rel LOOP
		-- (a table inheriting from two tracked tables would be counted by
		-- both: refused; capture refuses to fire on one too)
		IF EXISTS (SELECT 1 FROM segmentation.sources x, segmentation._source_tree(x.source) u
		           WHERE x.id <> source_id AND u.rel = member.rel) THEN
			RAISE EXCEPTION 'table % cannot be in the trees of two tracked tables', member.rel
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      DETAIL = pg_catalog.format('It is already in the tree of another tracked table; %s tracks it too.', src),
				      HINT = 'Inherit from one tracked table only.';
		END IF;
		FOR trig IN SELECT * FROM segmentation._source_triggers() x WHERE NOT x.row_level OR member.relkind <> 'p' LOOP
			SELECT g.tgenabled INTO current FROM pg_trigger g WHERE g.tgrelid = member.rel AND g.tgname = trig.name AND g.tgfoid = fn;
			IF NOT FOUND THEN
				-- (not repair: during a restore, on a table that was there
				-- already, the dump's own CREATE TRIGGER is still to come)
				CONTINUE WHEN NOT repair AND NOT member.rel::oid = ANY (coalesce(created, '{}'));
				CONTINUE WHEN EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = member.rel AND g.tgname = trig.name);
				CASE trig.name
				WHEN 'segmentation_capture_insert' THEN
					EXECUTE format('CREATE TRIGGER segmentation_capture_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
					                FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)', member.rel, fn::oid::regproc, arg_list);
				WHEN 'segmentation_capture_update' THEN
					EXECUTE format('CREATE TRIGGER segmentation_capture_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows
					                NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)', member.rel, fn::oid::regproc, arg_list);
				WHEN 'segmentation_capture_delete' THEN
					EXECUTE format('CREATE TRIGGER segmentation_capture_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
					                FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)', member.rel, fn::oid::regproc, arg_list);
				WHEN 'segmentation_capture_truncate' THEN
					EXECUTE format('CREATE TRIGGER segmentation_capture_truncate AFTER TRUNCATE ON %s
					                FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)', member.rel, fn::oid::regproc, arg_list);
				ELSE
					EXECUTE format('CREATE TRIGGER segmentation_capture_replica AFTER INSERT OR UPDATE OR DELETE ON %s
					                FOR EACH ROW EXECUTE FUNCTION %s(%s)', member.rel, fn::oid::regproc, arg_list);
				END CASE;
				current := 'O';
				repaired := repaired OR NOT member.rel::oid = ANY (coalesce(created, '{}'));
			END IF;
			IF current <> trig.mode AND current <> 'D' THEN
				EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', member.rel,
					CASE trig.mode WHEN 'A' THEN 'ALWAYS' WHEN 'R' THEN 'REPLICA' ELSE '' END, trig.name);
			END IF;
		END LOOP;
	END LOOP;
	-- (the tables capture was last installed on that are no longer in the
	-- tree: its other members keep theirs)
	FOR trig IN
		SELECT g.tgrelid::regclass AS rel, g.tgname FROM pg_trigger g
		WHERE g.tgfoid = fn AND g.tgparentid = 0 AND g.tgrelid NOT IN (SELECT t.rel FROM segmentation._source_tree(src) t)
		  AND g.tgrelid IN (SELECT m.rel FROM segmentation._capture_members m WHERE m.source_id = _install_capture_triggers.source_id)
		  AND g.tgname IN (SELECT x.name FROM segmentation._source_triggers() x)
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', trig.tgname, trig.rel);
	END LOOP;
	IF repaired THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (source_id);
	END IF;
	DELETE FROM segmentation._capture_members m WHERE m.source_id = _install_capture_triggers.source_id;
	INSERT INTO segmentation._capture_members (source_id, rel)
	SELECT DISTINCT _install_capture_triggers.source_id, t.rel FROM segmentation._source_tree(src) t;
	DELETE FROM segmentation._capture_installing c WHERE c.backend = pg_backend_pid() AND c.xact = pg_current_xact_id();
	IF citus IS NOT NULL THEN
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', citus[1], true);
	END IF;
END $$;
COMMENT ON FUNCTION _install_capture_triggers(int, oid[], boolean) IS 'Internal: puts the capture triggers of a source on every table of its tree, each in its mode (a trigger missing on a table the calling DDL did not create makes the next refresh full; not repair: not created there), and drops those on tables that left it';

-- A TRUNCATE straight into a shard of a tracked distributed table (on its
-- node, by a role with TRUNCATE on the table, after SET
-- citus.enable_manual_changes_to_shards, which any role may set) fires no
-- trigger of the table's: Citus puts the table's TRUNCATE triggers on none
-- of the shards it makes with the table (only on those it makes later, by a
-- move or a split, from the table's own).  Its events stayed counted until
-- a full refresh.  So track, and every refresh full from its start (the
-- first after a track among them), put capture's on each shard of the
-- table that lacks it, named as Citus names the copies
-- (segmentation_capture_truncate_<shard id>), with the source's arguments,
-- enabled ALWAYS: capture records the TRUNCATE on the shard's node, and the
-- next refresh is full (src/capture.c, "Citus").  A shard truncated before
-- it has one is read by the full refresh that follows a track.  False when
-- a shard has none yet: the refresh then makes the next run full, which
-- tries again (and says so).
-- Citus runs the statements over connections of their own
-- (master_run_on_worker), which commit at once, and which no deadlock
-- detector sees waiting for the calling transaction: so each placement is
-- asked first (a read, which waits for nothing) whether it has the trigger,
-- and whether the calling transaction holds the shard (its backends on the
-- nodes, known by Citus's global process id: a write to the table or an
-- untrack earlier in it) or made it (a new connection does not see it);
-- nothing is put on such a shard.  Those that miss it get it, each
-- statement waiting 10 s at most for another transaction's lock (at most
-- refresh_lock_timeout; track, not wait, for none), by CREATE OR REPLACE
-- TRIGGER (a trigger of the name left by an earlier source is replaced; a
-- constraint trigger of the name, which a role with TRIGGER on the table
-- may make on a shard, is not: its full refreshes then say so, as a role
-- that may make triggers on the table can break its writes anyway).  The
-- statements are sent hex-encoded inside a DO block, so nothing of a
-- column name is read as SQL there.
CREATE FUNCTION _citus_shard_truncate_triggers(source_id int, wait boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	src regclass;
	user_column name;
	args text[];
	gpid bigint;
	nodes text[];
	ports int[];
	checks text[];
	commands text[];
	answers text[];
	created boolean;
BEGIN
	SELECT s.source, s.user_column INTO src, user_column FROM segmentation.sources s WHERE s.id = source_id;
	args := segmentation._capture_args(source_id);
	-- (a table capture cannot follow: nothing is done on its shards, and
	-- its caller refuses it, saying why)
	IF src IS NULL OR pg_catalog.cardinality(args) = 0 OR segmentation._citus_unsupported(src, user_column) IS NOT NULL THEN
		RETURN true;
	END IF;
	-- (this backend's number across the cluster: that of the backends that
	-- run its transaction's statements on the nodes)
	EXECUTE 'SELECT pg_catalog.citus_backend_gpid()' INTO gpid;
	-- each placement of each shard: the question, and the statement that
	-- makes the trigger (the arguments compared in the node's encoding, as
	-- it stores them)
	EXECUTE $q$
		WITH p AS (
			SELECT p.placementid, p.nodename::text AS node, p.nodeport::int AS port,
			       pg_catalog.shard_name(d.logicalrelid, d.shardid, false) AS shard,
			       'segmentation_capture_truncate_' || p.shardid AS trigger
			FROM pg_catalog.pg_dist_shard d JOIN pg_catalog.pg_dist_shard_placement p ON p.shardid = d.shardid
			WHERE d.logicalrelid = $1 AND p.shardstate = 1),
		     a AS (
			SELECT pg_catalog.string_agg(pg_catalog.quote_literal(x.a), ', ' ORDER BY x.k) AS list
			FROM unnest($2) WITH ORDINALITY x(a, k))
		SELECT array_agg(p.node ORDER BY p.placementid), array_agg(p.port ORDER BY p.placementid),
		       array_agg(pg_catalog.format(
		           'SELECT CASE WHEN pg_catalog.to_regclass(%1$L) IS NULL THEN ''held'''
		           ' WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t'
		           ' WHERE t.tgrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%1$L) AND t.tgname OPERATOR(pg_catalog.=) %2$L'
		           ' AND t.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(''segmentation._capture()'')'
		           ' AND t.tgtype OPERATOR(pg_catalog.=) 32 AND t.tgenabled OPERATOR(pg_catalog.=) ''A'' AND t.tgqual IS NULL'
		           ' AND t.tgconstraint OPERATOR(pg_catalog.=) 0 AND t.tgnargs OPERATOR(pg_catalog.=) %3$s'
		           ' AND t.tgargs OPERATOR(pg_catalog.=) (SELECT pg_catalog.string_agg(pg_catalog.convert_to(x.a, pg_catalog.getdatabaseencoding())'
		           ' OPERATOR(pg_catalog.||) pg_catalog.decode(''00'', ''hex''), ''''::pg_catalog.bytea ORDER BY x.k)'
		           ' FROM pg_catalog.unnest(%4$L::pg_catalog.text[]) WITH ORDINALITY x(a, k))) THEN ''ok'''
		           ' WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l JOIN pg_catalog.get_all_active_transactions() x'
		           ' ON x.process_id OPERATOR(pg_catalog.=) l.pid WHERE l.relation OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%1$L)'
		           ' AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d'
		           ' WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())'
		           ' AND l.granted AND l.mode OPERATOR(pg_catalog.<>) ALL (ARRAY[''AccessShareLock'', ''RowShareLock''])'
		           ' AND x.global_pid OPERATOR(pg_catalog.=) %5$s) THEN ''held'' ELSE ''missing'' END',
		           p.shard, p.trigger, pg_catalog.cardinality($2), $2::text, $4)
		           ORDER BY p.placementid),
		       array_agg(pg_catalog.format(
		           'DO $d$BEGIN SET LOCAL lock_timeout = %s; '
		           'EXECUTE pg_catalog.convert_from(pg_catalog.decode(%L, ''hex''), ''UTF8''); '
		           'EXECUTE pg_catalog.convert_from(pg_catalog.decode(%L, ''hex''), ''UTF8''); END$d$',
		           $3,
		           pg_catalog.encode(pg_catalog.convert_to(pg_catalog.format(
		               'CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION segmentation._capture(%s)',
		               p.trigger, p.shard, (SELECT a.list FROM a)), 'UTF8'), 'hex'),
		           pg_catalog.encode(pg_catalog.convert_to(pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p.shard, p.trigger),
		                                                   'UTF8'), 'hex'))
		           ORDER BY p.placementid)
		FROM p$q$
	INTO nodes, ports, checks, commands
	USING src, args, CASE WHEN wait THEN LEAST(NULLIF(segmentation._setting_ms('refresh_lock_timeout'), 0), 10000)
	                      ELSE 1 END, gpid;
	IF nodes IS NULL THEN
		RETURN true;
	END IF;
	-- (master_run_on_worker answers in the order it is asked)
	EXECUTE 'SELECT array_agg(CASE WHEN r.success THEN r.result ELSE ''failed'' END ORDER BY r.k)
	         FROM pg_catalog.master_run_on_worker($1, $2, $3, true) WITH ORDINALITY r(node_name, node_port, success, result, k)'
	INTO answers USING nodes, ports, checks;
	IF NOT 'missing' = ANY (answers) THEN
		RETURN NOT EXISTS (SELECT 1 FROM unnest(answers) x WHERE x <> 'ok');
	END IF;
	-- (on the placements that miss it and that this transaction does not hold)
	EXECUTE 'SELECT bool_and(r.success)
	         FROM pg_catalog.master_run_on_worker($1, $2, $3, true) WITH ORDINALITY r(node_name, node_port, success, result, k)'
	INTO created
	USING (SELECT array_agg(nodes[k] ORDER BY k) FROM generate_subscripts(answers, 1) k WHERE answers[k] = 'missing'),
	      (SELECT array_agg(ports[k] ORDER BY k) FROM generate_subscripts(answers, 1) k WHERE answers[k] = 'missing'),
	      (SELECT array_agg(commands[k] ORDER BY k) FROM generate_subscripts(answers, 1) k WHERE answers[k] = 'missing');
	RETURN created AND NOT EXISTS (SELECT 1 FROM unnest(answers) x WHERE x NOT IN ('ok', 'missing'));
END $$;
COMMENT ON FUNCTION _citus_shard_truncate_triggers(int, boolean) IS 'Internal (Citus): puts capture''s TRUNCATE trigger on each shard of a tracked distributed table that lacks it (Citus puts the table''s on none of the shards it makes with it), waiting for a shard 10 s at most (wait) or not; called by track and by full refreshes; false: not on every shard yet (a shard this transaction holds, one busy, a node that failed)';

-- The capture of one source: its triggers, of segmentation._capture()
-- (below), on every table of its tree.  Called again (a repair, or the
-- update from 0.1), it puts missing ones back.
CREATE FUNCTION _install_capture(source_id int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	s := segmentation._check_source(source_id, false);
	IF NOT has_table_privilege(s.tracked_by, s.source, 'TRIGGER') THEN
		RAISE EXCEPTION 'role % may not track %', s.tracked_by, s.source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Tracking needs SELECT and TRIGGER on the events table.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = s.source AND t.tgname = 'segmentation_capture_insert') THEN
		-- the rows already there are read by the next refresh, which is full
		INSERT INTO segmentation.truncated (source_id) VALUES (source_id);
		-- (on Citus, before the transaction touches the shards: the shards'
		-- TRUNCATE triggers, else the full refresh that follows)
		PERFORM segmentation._citus_shard_truncate_triggers(source_id, false);
	END IF;
	PERFORM segmentation._install_capture_triggers(source_id);
END $$;
COMMENT ON FUNCTION _install_capture(int) IS 'Internal: puts the capture triggers of a tracked source on every table of its tree (the first time: the next refresh is full)';

-- The capture trigger function of every tracked source (src/capture.c):
-- inserted rows are queued for the next refresh, packed, a queue row per
-- statement (pending_batches); users whose rows are updated or deleted are
-- recomputed by it (dirty_users); a truncate makes it full.  Statement
-- triggers with transition tables, so a COPY or a multi-row INSERT costs
-- one queue row; the row trigger, which fires only under
-- session_replication_role = replica (where no statement trigger fires: the
-- logical replication apply worker, restores), queues row by row.  In C, no
-- SQL planned or run as anyone: a COPY costs about 1.2x and a single-row
-- INSERT about 1.1x an untracked one (bench/README.md, "Capture
-- mechanisms").  Executable by nobody (only the extension's owner creates
-- its triggers), and dropped with the extension only.
-- Its library is named '$libdir/./segmentation', the same file as
-- MODULE_PATHNAME by another name: a session that loaded the library of an
-- earlier release before the new one was installed (an application's
-- pooled connection that called an extension function) keeps that copy,
-- found by its name, and would not find capture_trigger in it: every write
-- of it to a tracked table would fail after the update.  By this name
-- PostgreSQL finds no library loaded (neither the name nor, the file having
-- been replaced, its inode), and loads the installed one beside the old;
-- in any other session the inode is the loaded library's, which is used.
-- (test/upgrade.py: writers that loaded 0.1's library write on through the
-- update.)
CREATE FUNCTION _capture() RETURNS trigger AS '$libdir/./segmentation', 'capture_trigger' LANGUAGE C;
COMMENT ON FUNCTION _capture() IS 'Internal: the capture trigger of the tracked tables (queues their changes for refresh)';

-- Capture's queue read back (src/capture.c): the events of a batch, the
-- user id as text (refresh casts it to the tracked type), and a batch
-- without one user's events (forget_user).
CREATE FUNCTION _queued_events(batch bytea, OUT user_id text, OUT ts timestamptz, OUT event text, OUT value float8)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'capture_queued_events' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _queued_events(bytea) IS 'Internal: the events of a batch of capture''s queue (pending_batches.batch), validated';
CREATE FUNCTION _queued_without(batch bytea, user_id text) RETURNS bytea
AS 'MODULE_PATHNAME', 'capture_queued_without' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _queued_without(bytea, text) IS 'Internal: a batch of capture''s queue without the events of one user id (its canonical text), NULL when none is left';

-- The union of all tracked sources as (source_id, user_id, ts, event,
-- value, extra), each source re-validated first, and the OIDs it checked:
-- the statement that reads the SQL runs through _execute_guarded with them,
-- so that a name which comes to name another table is refused
-- (src/guard.c).  extra (int4[]) holds the ids of the features with a
-- condition that the row counts for (NULL elements: those it does not),
-- each condition checked again on each source, for the role that defined
-- it (_condition_on), after the source is locked and checked: NULL::int4[]
-- when no feature has a condition, or conditions is false (the experiment
-- readout reads no feature).  conditional: whether one has;
-- condition_events: the event names such features list; probes and labels:
-- a statement per (feature, source) that evaluates the condition on the
-- rows of its events, to tell which one failed when refresh fails.
CREATE FUNCTION _sources_sql(conditions boolean, OUT sql text, OUT checked oid[], OUT conditional boolean, OUT condition_events text[],
	OUT probes text[], OUT labels text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int;
	s segmentation.sources;
	f record;
	value_type regtype;
	parts text[] := '{}'::text[];
	extra text;
	cond text;
	guard text;
BEGIN
	checked := '{}';
	probes := '{}';
	labels := '{}';
	SELECT count(*) > 0, coalesce(array_agg(DISTINCT e.event), '{}') INTO conditional, condition_events
	FROM segmentation.features x LEFT JOIN LATERAL unnest(x.event_names) e(event) ON true
	WHERE x.condition IS NOT NULL AND _sources_sql.conditions;
	FOR id IN SELECT x.id FROM segmentation.sources x ORDER BY x.id LOOP
		s := segmentation._check_source(id, true);
		SELECT a.atttypid INTO value_type FROM pg_attribute a WHERE a.attrelid = s.source AND a.attnum = s.attnums[4];
		extra := 'NULL::pg_catalog.int4[]';
		IF conditional THEN
			extra := '';
			FOR f IN SELECT * FROM segmentation.features x WHERE x.condition IS NOT NULL ORDER BY x.id LOOP
				-- (the checker's output for this table, for who defined it)
				cond := segmentation._condition_on(f.name, f.condition, s.source, f.defined_by);
				-- and only on values of its text columns up to 1 MB: each
				-- operation reads (detoasts) the value again and keeps the
				-- copy until the next row, and lower(), upper() and ILIKE
				-- fail at 256 MB (review 17, F16, F04, F02); octet_length
				-- reads the size from the value's header.  A larger value
				-- leaves the condition unknown: the row does not count for
				-- the feature (for its other features and the totals, yes)
				SELECT coalesce(string_agg(format('pg_catalog.octet_length(t.%I) <= 1048576', a.attname), ' AND '), 'true')
				INTO guard
				FROM segmentation._check_condition(f.condition, s.source) x, unnest(x.columns) c(col)
				JOIN pg_attribute a ON a.attrelid = s.source AND a.attname = c.col
				WHERE a.atttypid IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype, 'pg_catalog.bpchar'::regtype);
				-- the condition runs only on the rows of the feature's events
				extra := extra || CASE WHEN extra = '' THEN '' ELSE ', ' END
					|| format('CASE WHEN t.%I::pg_catalog.text = ANY (%L::pg_catalog.text[]) THEN CASE WHEN %s THEN CASE WHEN (%s) THEN %s END END END',
					          s.event_column, f.event_names, guard, cond, f.id);
				probes := probes || format('SELECT 1 FROM %s t WHERE t.%I::pg_catalog.text = ANY (%L::pg_catalog.text[]) AND CASE WHEN %s THEN CASE WHEN (%s) THEN true END END',
					s.source, s.event_column, f.event_names, guard, cond);
				labels := labels || format('feature "%s" on %s', f.name, s.source);
			END LOOP;
			extra := format('ARRAY[%s]::pg_catalog.int4[]', extra);
		END IF;
		parts := parts || format('SELECT %s AS source_id, t.%I AS user_id, t.%I AS ts, t.%I::text AS event, %s AS value, %s AS extra FROM %s t',
			s.id, s.user_column, s.time_column, s.event_column, segmentation._value_expr('t', s.value_column, value_type), extra, s.source);
		checked := checked || s.source::oid;
	END LOOP;
	IF parts = '{}' THEN
		-- nothing tracked any more: no events, of the state's user id type
		sql := format('SELECT NULL::int AS source_id, NULL::%s AS user_id, NULL::timestamptz AS ts, NULL::text AS event, NULL::float8 AS value, NULL::int4[] AS extra WHERE false',
			(SELECT a.atttypid::regtype FROM pg_attribute a WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id'));
		RETURN;
	END IF;
	sql := array_to_string(parts, ' UNION ALL ');
END $$;
COMMENT ON FUNCTION _sources_sql(boolean) IS 'Internal: SQL of the union of the tracked sources, each re-validated, with (unless conditions is false: NULL) the ids of the features with a condition each row counts for (each condition checked again), and the OIDs of the tables it checked';

-- ===================================================================
-- Public pipeline functions
-- ===================================================================

CREATE FUNCTION track(source regclass, user_column name, time_column name, event_column name, value_column name DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kind "char";
	persistence "char";
	user_t regtype;
	existing regtype;
	id int;
	col name;
	t regtype;
	nums int2[];
	types regtype[];
BEGIN
	SELECT c.relkind, c.relpersistence INTO kind, persistence FROM pg_class c WHERE c.oid = source;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot track %: it is not a table', source
			USING ERRCODE = 'wrong_object_type', HINT = 'Track the table the application inserts into, not a view.';
	END IF;
	IF persistence = 't' THEN
		RAISE EXCEPTION 'cannot track %: it is a temporary table', source USING ERRCODE = 'wrong_object_type';
	END IF;
	-- (rows written through a parent fire no trigger of the child: review twelve)
	IF EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = source) THEN
		RAISE EXCEPTION 'cannot track %: it is a partition or child of %', source,
			(SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = source)
			USING ERRCODE = 'wrong_object_type',
			      DETAIL = 'Rows written through the parent fire no trigger of the child, so they would be missed.',
			      HINT = 'Track the table the application writes to.';
	END IF;
	-- (on Citus: a table it distributes by the user id, captured on its
	-- shards; any other it manages is refused)
	IF segmentation._citus_member(source) IS NOT NULL
	   AND (segmentation._citus_member(source) <> source OR segmentation._citus_unsupported(source, user_column) IS NOT NULL) THEN
		RAISE EXCEPTION 'cannot track %: % is managed by Citus, and %', source, segmentation._citus_member(source),
			coalesce(segmentation._citus_unsupported(segmentation._citus_member(source), user_column), 'it is in the tree of the table')
			USING ERRCODE = 'feature_not_supported',
			      DETAIL = 'Capture runs on the shards of a table Citus distributes by the user id, alone, named in 42 bytes at most, it, its schema and the database owned by superusers on every node; Citus writes the rows of any other table it manages on shards no capture trigger of its can follow, and new events would be missed.',
			      HINT = 'doc/citus.md, "Capture", says what is supported and why.';
	END IF;
	IF NOT has_table_privilege(source, 'SELECT') OR NOT has_table_privilege(source, 'TRIGGER') THEN
		RAISE EXCEPTION 'permission denied to track %', source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Tracking needs SELECT and TRIGGER on the events table.';
	END IF;
	IF segmentation._rls_hides_rows(current_user, source) THEN
		RAISE EXCEPTION 'cannot track %: row-level security hides some of its rows from role %', source, current_user
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'What a role cannot read in a source it must not learn through the extension.',
			      HINT = 'Track it as a role that sees every row (its owner, without FORCE ROW LEVEL SECURITY).';
	END IF;
	FOREACH col IN ARRAY ARRAY[user_column, time_column, event_column, value_column] LOOP
		CONTINUE WHEN col IS NULL;
		t := NULL;
		SELECT a.atttypid::regtype INTO t FROM pg_attribute a
		WHERE a.attrelid = source AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF t IS NULL THEN
			RAISE EXCEPTION 'column "%" does not exist in %', col, source USING ERRCODE = 'undefined_column';
		END IF;
		IF col = time_column AND NOT t = ANY (segmentation._column_types('time')) THEN
			RAISE EXCEPTION 'time column "%" of % is %, not timestamptz', col, source, t
				USING ERRCODE = 'datatype_mismatch', HINT = 'Event times must be timestamp with time zone.';
		END IF;
		IF col = event_column AND NOT t = ANY (segmentation._column_types('event')) THEN
			RAISE EXCEPTION 'event column "%" of % is %, not text', col, source, t USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = value_column AND NOT t = ANY (segmentation._column_types('value')) THEN
			RAISE EXCEPTION 'value column "%" of % is %, not a number', col, source, t USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = user_column THEN
			IF NOT t = ANY (segmentation._column_types('user')) THEN
				RAISE EXCEPTION 'user column "%" of % is %, not a supported user id type', col, source, t
					USING ERRCODE = 'datatype_mismatch', HINT = 'User ids are integer, bigint, text, varchar or uuid (built-in types, not domains).';
			END IF;
			user_t := t;
		END IF;
	END LOOP;
	SELECT array_agg(a.attnum ORDER BY o.k), array_agg(a.atttypid::regtype ORDER BY o.k) INTO nums, types
	FROM unnest(ARRAY[user_column, time_column, event_column, value_column]) WITH ORDINALITY o(col, k)
	LEFT JOIN pg_attribute a ON a.attrelid = source AND a.attname = o.col AND a.attnum > 0 AND NOT a.attisdropped;
	SELECT s.user_type INTO existing FROM segmentation.sources s LIMIT 1;
	IF existing IS NULL AND to_regclass('segmentation.profiles') IS NOT NULL THEN
		SELECT a.atttypid::regtype INTO existing FROM pg_attribute a WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	END IF;
	IF existing IS NOT NULL AND existing <> user_t THEN
		IF EXISTS (SELECT 1 FROM segmentation.sources) THEN
			RAISE EXCEPTION 'user column "%" of % is %, but tracked sources use %', user_column, source, user_t, existing
				USING ERRCODE = 'datatype_mismatch', HINT = 'Sources are unioned by user id, so every source needs the same user id type.';
		END IF;
		-- (nothing tracked now: the state of the sources tracked before keeps its type)
		RAISE EXCEPTION 'user column "%" of % is %, but the extension''s state keeps user ids of type %', user_column, source, user_t, existing
			USING ERRCODE = 'datatype_mismatch',
			      DETAIL = 'The profiles, history and moves of the sources tracked before keep the user id type of the first one.',
			      HINT = 'Track a table whose user ids are of that type, or DROP EXTENSION segmentation and CREATE it again (its state and history are lost).';
	END IF;
	IF EXISTS (SELECT 1 FROM segmentation.sources s WHERE s.source = track.source) THEN
		RAISE EXCEPTION '% is already tracked', source USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO segmentation.sources (source, user_column, time_column, event_column, value_column, user_type, attnums, column_types)
	VALUES (source, user_column, time_column, event_column, value_column, user_t, nums, types)
	RETURNING sources.id INTO id;
	-- every feature's condition must check on the new table too
	PERFORM segmentation._check_conditions(id);
	PERFORM segmentation._create_state(user_t);
	PERFORM segmentation._install_capture(id);
END $$;
COMMENT ON FUNCTION track(regclass, name, name, name, name) IS 'Track an events table: its inserts, updates, deletes and truncates reach the next refresh; the first refresh after it is full';

-- Forget a source: its capture stops, its queued events go, and the next
-- refresh is full, so it recomputes every user without its events.
CREATE FUNCTION _untrack(source_id int, drop_triggers boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	trig record;
	src regclass;
	citus text[];
	members oid[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	-- the tree locked first (LOCK recurses into partitions and children):
	-- a partition being created waits, or is done and listed below
	SELECT x.source INTO src FROM segmentation.sources x WHERE x.id = source_id;
	IF drop_triggers AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = src) THEN
		EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', src);
	END IF;
	-- (its tables: the tree now, and those capture last installed it on)
	members := ARRAY(SELECT m.rel FROM segmentation._capture_members m WHERE m.source_id = _untrack.source_id
	                 UNION SELECT t.rel FROM segmentation._source_tree(src) t WHERE src IS NOT NULL);
	DELETE FROM segmentation._capture_members m WHERE m.source_id = _untrack.source_id;
	DELETE FROM segmentation.sources x WHERE x.id = source_id RETURNING * INTO s;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	-- (a table Citus came to manage, refused by refresh: Citus drops a
	-- trigger of a distributed table, and its shards' copies, only with
	-- citus.enable_unsafe_triggers, over the connections of the statement:
	-- both set back as they were right after)
	IF segmentation._citus_member(s.source) IS NOT NULL THEN
		citus := ARRAY[pg_catalog.current_setting('citus.enable_unsafe_triggers'),
		               pg_catalog.current_setting('citus.multi_shard_modify_mode')];
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
		PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
	END IF;
	-- its triggers, wherever they are (on the tree's tables; a partition's
	-- clone goes with its parent's trigger); those of a dropped table are
	-- gone with it
	FOR trig IN
		SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
		WHERE g.tgfoid = to_regprocedure('segmentation._capture()') AND g.tgparentid = 0
		  AND g.tgrelid IN (SELECT m.rel FROM unnest(members) m(rel))
		  AND (drop_triggers OR g.tgrelid <> s.source)
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', trig.tgname, trig.rel);
	END LOOP;
	IF citus IS NOT NULL THEN
		PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', citus[1], true);
		PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', citus[2], true);
	END IF;
	-- (the queue on its shards, of a table Citus distributes, goes too;
	-- CASCADE: any role that may use the schema can make a view or a
	-- function over it with no privilege on it, which blocked untrack and
	-- DROP TABLE of the tracked table (review 28, R28-5); it goes with it)
	IF to_regclass(format('segmentation.%I', 'citus_queue_' || source_id)) IS NOT NULL THEN
		EXECUTE format('DROP TABLE segmentation.%I CASCADE', 'citus_queue_' || source_id);
	END IF;
	IF to_regclass('segmentation.pending_batches') IS NOT NULL THEN
		DELETE FROM segmentation.pending_batches p WHERE p.source_id = _untrack.source_id;
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
END $$;
COMMENT ON FUNCTION _untrack(int, boolean) IS 'Internal: removes a source, its capture triggers and function and its queued events; the next refresh is full';

CREATE FUNCTION untrack(source regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	SELECT s.id INTO id FROM segmentation.sources s WHERE s.source = untrack.source;
	IF id IS NULL THEN
		RAISE EXCEPTION '% is not tracked', source USING ERRCODE = 'undefined_object',
			HINT = 'segmentation.sources lists the tracked tables.';
	END IF;
	PERFORM segmentation._untrack(id, true);
END $$;
COMMENT ON FUNCTION untrack(regclass) IS 'Stop tracking an events table: its capture triggers go, and the next refresh (full) recomputes every user without its events';

-- ===================================================================
-- DDL on tracked tables (event triggers)
-- ===================================================================

-- A tracked table that is dropped is untracked.  A tracked column dropped
-- by another command than ALTER TABLE (DROP COLLATION, DROP TYPE ...
-- CASCADE: review 14, R14-1) is refused, as ALTER TABLE ... DROP COLUMN is:
-- the capture function reads it, so every write would fail.  Only that
-- command fails.  SECURITY DEFINER (whoever drops the table may not write
-- sources); it reads only the catalog.
CREATE FUNCTION _on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int;
	col record;
BEGIN
	IF to_regclass('segmentation.sources') IS NULL THEN
		RETURN;	-- the extension itself is being dropped
	END IF;
	SELECT s.source, d.objsubid, k.name INTO col
	FROM pg_event_trigger_dropped_objects() d
	JOIN segmentation.sources s ON s.source::oid = d.objid
	CROSS JOIN LATERAL unnest(s.attnums, ARRAY[s.user_column, s.time_column, s.event_column, s.value_column]) k(attnum, name)
	WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid > 0 AND d.objsubid = k.attnum
	  AND NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() t
	                  WHERE t.classid = 'pg_catalog.pg_class'::regclass AND t.objid = d.objid AND t.objsubid = 0)
	LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'column "%" of % is tracked by segmentation', col.name, col.source
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = 'Dropping it would break capture of the application''s writes.',
			      HINT = format('Call segmentation.untrack(%L) first, then track the table again.', col.source::text);
	END IF;
	-- A table of a tracked tree dropped (a partition expired: DROP TABLE,
	-- DROP SCHEMA ... CASCADE, DROP OWNED BY) took events refresh had
	-- counted: the next refresh is full (review 14, R14-3; which users they
	-- were is not known any more).  Recognised by its OID among the trees'
	-- members (review 14b, R14b-1, R14b-2: not by the names of the triggers
	-- dropped with it, which its owner can rename and anyone can copy).
	IF to_regclass('segmentation.truncated') IS NOT NULL THEN
		INSERT INTO segmentation.truncated (source_id)
		SELECT DISTINCT m.source_id FROM segmentation._capture_members m
		WHERE m.rel IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
		                WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0);
	END IF;
	DELETE FROM segmentation._capture_members m
	WHERE m.rel IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
	                WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0);
	FOR id IN
		SELECT s.id FROM segmentation.sources s
		WHERE s.source::oid IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
		                        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0)
	LOOP
		PERFORM segmentation._untrack(id, false);
	END LOOP;
END $$;
COMMENT ON FUNCTION _on_sql_drop() IS 'Internal (event trigger): untracks a tracked table that is dropped; a dropped partition or child makes the next refresh full; refuses dropping a tracked column by another command than ALTER TABLE';

-- DDL on a tracked tree (ALTER TABLE, CREATE TABLE ... PARTITION OF or
-- INHERITS, and the other commands that can rename a table's column or
-- create a table: ALTER VIEW, ALTER MATERIALIZED VIEW, ALTER FOREIGN TABLE
-- and ALTER TYPE ... RENAME ATTRIBUTE accept a table; CREATE SCHEMA runs
-- CREATE TABLE as a sub-command): a renamed tracked column is followed
-- (sources and the capture function take the new name); a dropped or
-- retyped one is refused, so the application's writes never break and
-- capture never reads a column of another type.  The column is recognised
-- by its number.  Runs as the extension's owner and resolves nothing the
-- table's owner controls: names are only quoted into the capture function,
-- whose types are the built-in ones recorded.
--
-- It acts on, and can fail, only a command that touched a tracked tree:
-- one of the tables it names or creates is in the tree, or is a parent of
-- the tracked table (review 14, R14-1: a source broken by its owner, a
-- column dropped by DROP COLLATION ... CASCADE or SELECT revoked, made every
-- CREATE TABLE in the database fail, for every role).  A source broken
-- otherwise is refresh's to refuse (_check_source), loudly.
CREATE FUNCTION _on_alter_table() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	att record;
	names name[];
	renamed boolean;
	touched boolean;
	altered boolean;
	created oid[];
	fn regprocedure;
	f record;
	e_message text;
BEGIN
	IF to_regclass('segmentation.sources') IS NULL THEN
		RETURN;
	END IF;
	-- (the ALTER TABLE that _install_capture_triggers issues to enable its
	-- own triggers)
	IF EXISTS (SELECT 1 FROM segmentation._capture_installing c WHERE c.backend = pg_backend_pid() AND c.xact = pg_current_xact_id()) THEN
		RETURN;
	END IF;
	-- A capture trigger keeps its name: refresh checks it by name, and an
	-- owner who renamed one could drop its table unseen by name (review
	-- 14b, R14b-1).  ALTER TRIGGER of one is refused.
	SELECT g.tgname, g.tgrelid::regclass AS rel, coalesce(x.name, g.tgname) AS capture_name INTO att
	FROM pg_event_trigger_ddl_commands() c JOIN pg_trigger g ON g.oid = c.objid
	LEFT JOIN segmentation._source_triggers() x ON x.type = g.tgtype
	WHERE c.classid = 'pg_catalog.pg_trigger'::regclass AND c.command_tag = 'ALTER TRIGGER'
	  AND g.tgfoid = to_regprocedure('segmentation._capture()')
	LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'capture trigger % on % cannot be renamed', att.capture_name, att.rel
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('It was renamed to %I; capture triggers keep the names segmentation gave them.', att.tgname),
			      HINT = 'Leave its name; a segmentation_admin removes the capture of a tree with segmentation.untrack() of the tracked table.';
	END IF;
	-- the tables this command created (empty: no row can have missed capture)
	SELECT coalesce(array_agg(DISTINCT c.objid), '{}') INTO created FROM pg_event_trigger_ddl_commands() c
	WHERE c.classid = 'pg_catalog.pg_class'::regclass AND c.command_tag IN ('CREATE TABLE', 'CREATE FOREIGN TABLE')
	  AND c.object_type IN ('table', 'foreign table');
	-- The sources whose capture is in place and whose tree the command
	-- touched: a table it names or creates is in the tree, or is a parent
	-- of the tracked table (ALTER TABLE on an inheritance parent recurses
	-- into its children without naming them), or was in the tree when
	-- capture was last installed (it has just left it: _capture_members).  (A row of sources without its
	-- capture triggers, written by hand, blocks nobody's DDL.)
	FOR s IN
		SELECT * FROM segmentation.sources x
		WHERE EXISTS (SELECT 1 FROM pg_trigger t
		              WHERE t.tgrelid = x.source AND t.tgname = 'segmentation_capture_insert'
		                AND t.tgfoid = to_regprocedure('segmentation._capture()'))
		ORDER BY x.id
	LOOP
		CONTINUE WHEN s.attnums IS NULL OR s.column_types IS NULL;
		fn := to_regprocedure('segmentation._capture()');
		-- An ALTER (of any kind) of the table, its partitions or children, or
		-- its parents (triggers disabled and enabled again, partitions
		-- attached or detached, inheritance changed, columns renamed) may have
		-- let rows past capture: the next refresh is full.  A table created
		-- as a new partition or child is empty: its triggers are put on it, no
		-- more.  Either way the tree's capture triggers are put back in place
		-- (on new members, in their modes) and dropped from tables that left it.
		WITH RECURSIVE down(oid) AS (
			SELECT s.source::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN down d ON i.inhparent = d.oid),
		up(oid) AS (
			SELECT s.source::oid UNION SELECT i.inhparent FROM pg_inherits i JOIN up u ON i.inhrelid = u.oid)
		SELECT count(*) > 0, coalesce(bool_or(NOT c.objid = ANY (created)), false) INTO touched, altered
		FROM pg_event_trigger_ddl_commands() c
		WHERE c.classid = 'pg_catalog.pg_class'::regclass
		  AND (c.objid IN (SELECT oid FROM down) OR c.objid IN (SELECT oid FROM up)
		       OR c.objid IN (SELECT m.rel FROM segmentation._capture_members m WHERE m.source_id = s.id));
		CONTINUE WHEN NOT touched;
		IF altered THEN
			INSERT INTO segmentation.truncated (source_id) VALUES (s.id);
		END IF;
		names := ARRAY[s.user_column, s.time_column, s.event_column, s.value_column];
		renamed := false;
		FOR k IN 1 .. 4 LOOP
			CONTINUE WHEN s.attnums[k] IS NULL;
			SELECT a.attname, a.atttypid, a.attisdropped INTO att FROM pg_attribute a
			WHERE a.attrelid = s.source AND a.attnum = s.attnums[k];
			IF NOT FOUND OR att.attisdropped OR att.atttypid IS DISTINCT FROM s.column_types[k] THEN
				RAISE EXCEPTION 'column "%" of % is tracked by segmentation', names[k], s.source
					USING ERRCODE = 'dependent_objects_still_exist',
					      DETAIL = 'Dropping it or changing its type would break capture of the application''s writes.',
					      HINT = format('Call segmentation.untrack(%L) first, then track the table again.', s.source::text);
			END IF;
			IF att.attname <> names[k] THEN
				-- (on Citus the shards' triggers name the tracked columns)
				IF cardinality(segmentation._capture_args(s.id)) > 0 THEN
					RAISE EXCEPTION 'column "%" of % is tracked by segmentation', names[k], s.source
						USING ERRCODE = 'dependent_objects_still_exist',
						      DETAIL = 'On a table Citus distributes, capture on the shards names the tracked columns: renaming one is refused.',
						      HINT = format('Call segmentation.untrack(%L) first, then track the table again.', s.source::text);
				END IF;
				names[k] := att.attname;
				renamed := true;
			END IF;
		END LOOP;
		-- (only once the tracked table itself has all five: pg_restore
		-- creates the triggers it dumped one by one, by name, and enables
		-- some with an ALTER TABLE that fires this; the tracked table's
		-- last one, segmentation_capture_update, is created without one)
		IF (SELECT count(*) FROM pg_trigger g
		    WHERE g.tgrelid = s.source AND g.tgfoid = fn AND g.tgname IN (SELECT x.name FROM segmentation._source_triggers() x))
		   = (SELECT count(*) FROM segmentation._source_triggers() x, pg_class c
		      WHERE c.oid = s.source AND (NOT x.row_level OR c.relkind <> 'p')) THEN
			-- During a restore (pg_dump's scripts set check_function_bodies
			-- off), nothing is created on a table that was there: the dump
			-- creates the triggers itself, by schema and name, so a partition
			-- in a schema after the tracked table's gets them after the
			-- tracked table's ALTERs fire this (review 14, R14-8).  A session
			-- that sets it off otherwise leaves a table it attached without
			-- triggers: refresh refuses it, naming the missing trigger.
			PERFORM segmentation._install_capture_triggers(s.id, created,
				current_setting('check_function_bodies') <> 'off');
		END IF;
		-- a column a feature's condition names stays what the condition was
		-- checked on: dropping, renaming or retyping it made every refresh
		-- fail (review 17, F17); refused here, naming the feature (only the
		-- condition's own check: a definer's lost privilege is refresh's to
		-- report, and must not block the owner's DDL)
		IF current_setting('check_function_bodies') <> 'off' THEN
			FOR f IN SELECT x.name, x.condition FROM segmentation.features x WHERE x.condition IS NOT NULL ORDER BY x.id LOOP
				BEGIN
					PERFORM segmentation._check_condition(f.condition, s.source);
				EXCEPTION WHEN OTHERS THEN
					GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT;
					RAISE EXCEPTION 'the condition of feature "%" would no longer check on tracked table %', f.name, s.source
						USING ERRCODE = 'dependent_objects_still_exist', DETAIL = e_message,
						      HINT = 'Define the feature again without that column (segmentation.define_feature), then change the table.';
				END;
			END LOOP;
		END IF;
		IF renamed THEN
			-- (as the extension's owner, a superuser: the row keeps its
			-- tracked_by); rows written since the column was renamed were
			-- captured by the old names, perhaps from another column, if a
			-- rename went unseen: the next refresh is full (review 14, R14-2)
			UPDATE segmentation.sources x SET user_column = names[1], time_column = names[2], event_column = names[3],
				value_column = names[4]
			WHERE x.id = s.id;
			INSERT INTO segmentation.truncated (source_id) VALUES (s.id);
			PERFORM segmentation._install_capture(s.id);
		END IF;
	END LOOP;
END $$;
COMMENT ON FUNCTION _on_alter_table() IS 'Internal (event trigger): on DDL that touches a tracked tree, follows a renamed tracked column, refuses dropping or retyping one, puts capture triggers on new partitions and children';

CREATE EVENT TRIGGER segmentation_sql_drop ON sql_drop EXECUTE FUNCTION _on_sql_drop();
-- (every command that can rename a table's column, or create a table:
-- PostgreSQL's renameatt accepts a table whatever the statement's object
-- type, so ALTER VIEW, ALTER MATERIALIZED VIEW and ALTER FOREIGN TABLE ...
-- RENAME COLUMN and ALTER TYPE ... RENAME ATTRIBUTE rename a table's column
-- under their own tags: review 14, R14-2; CREATE SCHEMA ... CREATE TABLE
-- creates tables as sub-commands, listed by pg_event_trigger_ddl_commands
-- under the CREATE SCHEMA event: R14-5)
CREATE EVENT TRIGGER segmentation_alter_table ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE', 'ALTER TYPE',
	             'CREATE FOREIGN TABLE', 'CREATE SCHEMA', 'ALTER TRIGGER')
	EXECUTE FUNCTION _on_alter_table();
-- ALWAYS: PostgreSQL skips an event trigger enabled ORIGIN (the default)
-- under session_replication_role = replica, where DDL on a tree (a capture
-- trigger disabled, a partition detached) would go unseen (review 14, R14-4)
ALTER EVENT TRIGGER segmentation_sql_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER segmentation_alter_table ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER segmentation_sql_drop IS 'Untracks a tracked table that is dropped; a dropped partition or child makes the next refresh full; refuses dropping a tracked column';
COMMENT ON EVENT TRIGGER segmentation_alter_table IS 'Follows a renamed tracked column; refuses dropping or retyping one; puts capture triggers on new partitions and children';

-- A feature's condition, checked against one tracked source for the role
-- that defined it: what refresh runs on that table's rows (the checker's
-- output, src/predicate.c), or an error naming the feature and the table.
-- Every column it names must be of an allowed built-in type and readable by
-- that role (else segment membership would tell it values it cannot read).
CREATE FUNCTION _condition_on(feature text, condition text, source regclass, who name) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
	col name;
	e_state text;
	e_message text;
	e_detail text;
	e_hint text;
BEGIN
	BEGIN
		SELECT * INTO c FROM segmentation._check_condition(condition, source);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL,
			e_hint = PG_EXCEPTION_HINT;
		RAISE EXCEPTION 'condition of feature "%" does not check on tracked table %: %', feature, source, e_message
			USING ERRCODE = e_state, DETAIL = coalesce(nullif(e_detail, ''), 'It must check on every tracked table.'),
			      HINT = coalesce(nullif(e_hint, ''), 'Define the feature again with a condition every tracked table passes.');
	END;
	-- (the role by its exact name: to_regrole() would read it as an
	-- identifier, case-folded, review 15 F8)
	IF who IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = who) THEN
		RAISE EXCEPTION 'role % that defined the condition of feature "%" no longer exists', coalesce(quote_ident(who), 'NULL'), feature
			USING ERRCODE = 'undefined_object',
			      HINT = 'Define the feature again (as a role that may read its columns), or without a condition.';
	END IF;
	-- The role is the login role (SECURITY DEFINER hides the caller): it
	-- must be an admin itself, or any role that runs an admin's SECURITY
	-- DEFINER function once would lend that admin its column privileges
	-- (review 17, F11)
	IF NOT pg_has_role(who, 'segmentation_admin', 'USAGE') THEN
		RAISE EXCEPTION 'role % that defines the condition of feature "%" is not a member of segmentation_admin', quote_ident(who), feature
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'A condition is checked, and run at every refresh, for the role that logged in when it was defined: a role that only runs an admin''s function would lend that admin its privileges.',
			      HINT = 'Define the feature again, logged in as a member of segmentation_admin.';
	END IF;
	FOREACH col IN ARRAY c.columns LOOP
		IF NOT has_column_privilege(who, source, col, 'SELECT') THEN
			RAISE EXCEPTION 'condition of feature "%" reads column "%" of %, which role % may not read', feature, col, source, who
				USING ERRCODE = 'insufficient_privilege',
				      DETAIL = 'Segments built on the condition would tell that role what the column holds.',
				      HINT = 'Grant it SELECT on the column, or define the feature again without it (as a role that may).';
		END IF;
	END LOOP;
	-- nor may it test a column on rows row-level security hides from it
	-- (the same rule as for the role that tracked the table, _check_source)
	IF segmentation._rls_hides_rows(who, source) THEN
		RAISE EXCEPTION 'condition of feature "%" reads %, on which row-level security hides rows from role %', feature, source, who
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Segments built on the condition would tell that role what the hidden rows hold.',
			      HINT = 'Define the feature again as a role that sees every row of the table, or without a condition.';
	END IF;
	RETURN c.checked;
END $$;
COMMENT ON FUNCTION _condition_on(text, text, regclass, name) IS 'Internal: a feature''s condition checked against a tracked table for the role that defined it (columns readable by it): the SQL refresh runs on that table''s rows, or an error naming feature and table';

-- Every condition checked against one source (track(): a source on which a
-- condition does not check is refused), or against every source
CREATE FUNCTION _check_conditions(source_id int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f record;
	s record;
BEGIN
	FOR f IN SELECT * FROM segmentation.features x WHERE x.condition IS NOT NULL ORDER BY x.id LOOP
		FOR s IN SELECT * FROM segmentation.sources x WHERE source_id IS NULL OR x.id = source_id ORDER BY x.id LOOP
			PERFORM segmentation._condition_on(f.name, f.condition, s.source, f.defined_by);
		END LOOP;
	END LOOP;
END $$;
COMMENT ON FUNCTION _check_conditions(int) IS 'Internal: checks every feature''s condition against a tracked source (NULL: every one), or raises an error naming the feature and the table';

-- The operations a condition makes on a row (_check_condition), checked
-- against the first tracked table (a condition checks on every one); one
-- that no longer checks counts as the most a condition may make.
CREATE FUNCTION _condition_operations(condition text) RETURNS int
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN (SELECT (segmentation._check_condition(condition, s.source)).operations
	        FROM segmentation.sources s ORDER BY s.id LIMIT 1);
EXCEPTION WHEN OTHERS THEN
	RETURN 32;
END $$;
COMMENT ON FUNCTION _condition_operations(text) IS 'Internal: the operations a feature''s condition makes on a row (32, the most, when it no longer checks)';

-- (planned for each call's names: PostgreSQL hashes a constant list for
-- = ANY, not a parameter, and the clash check below reads every feature's
-- names: a generic plan made 100 calls of 1,000 names 200 s, review 13)
CREATE FUNCTION define_feature(name text, event_names text[], condition text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	fid int;
	clash record;
	checked text;
	one text;
	s record;
	funnel text;
	budget record;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	-- (on a Citus worker it would define it in the worker's copy and say done: review 31)
	PERFORM segmentation._coordinator_only('the features');
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'argument "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF name = '*' THEN
		RAISE EXCEPTION 'feature name "*" is reserved' USING ERRCODE = 'reserved_name',
			HINT = 'In a segment predicate, ''*'' names any event, e.g. events_in(''*'', ''7 days'').';
	END IF;
	-- (a predicate's cost counts features_used as every name: review ten
	-- made it megabytes per user with names of 200,000 bytes)
	IF octet_length(name) > 63 THEN
		RAISE EXCEPTION 'feature name "%..." is longer than 63 bytes', left(name, 20) USING ERRCODE = 'name_too_long';
	END IF;
	IF condition IS NOT NULL AND btrim(condition, E' \t\r\n') = '' THEN
		RAISE EXCEPTION 'argument "condition" must not be empty' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass NULL (or leave it out) for a feature without a condition.';
	END IF;
	-- one definer at a time (the rules' costs are checked again with the features)
	PERFORM segmentation._require_read_committed('define_feature');
	LOCK TABLE segmentation.features IN SHARE ROW EXCLUSIVE MODE;
	IF NOT EXISTS (SELECT 1 FROM segmentation.features f WHERE f.name = define_feature.name)
	   AND (SELECT count(*) FROM segmentation.features) >= 1000 THEN
		RAISE EXCEPTION 'there are 1000 features already' USING ERRCODE = 'program_limit_exceeded',
			HINT = 'A feature groups event names: give one feature several events (define_feature(name, ARRAY[...])).';
	END IF;
	IF event_names IS NULL OR cardinality(event_names) = 0 OR array_position(event_names, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "event_names" must list at least one event name, without NULLs' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- An event name belongs to one feature without a condition; a feature
	-- with a condition may list names others list (features then overlap)
	IF condition IS NULL THEN
		SELECT m.event, f.name AS feature INTO clash FROM segmentation._feature_map m JOIN segmentation.features f ON f.id = m.id
		WHERE m.event = ANY (define_feature.event_names) AND f.name <> define_feature.name LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'event "%" already counts for feature "%"', clash.event, clash.feature
				USING ERRCODE = 'duplicate_object',
				      HINT = 'An event name belongs to one feature without a condition; a feature with a condition (argument "condition") may list it too.';
		END IF;
	ELSE
		-- checked against every tracked table, for the caller (the login
		-- role: SECURITY DEFINER hides the role that called, and the
		-- session's role may always return to it)
		IF NOT EXISTS (SELECT 1 FROM segmentation.sources) THEN
			RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
				HINT = 'Call segmentation.track(...) first: a condition is checked against the tracked tables'' columns.';
		END IF;
		FOR s IN SELECT x.source, x.user_column, x.attnums FROM segmentation.sources x ORDER BY x.id LOOP
			one := segmentation._condition_on(define_feature.name, define_feature.condition, s.source, session_user);
			checked := coalesce(checked, one);
			-- an incremental refresh reads again every row of the users of a
			-- queued event this feature lists (review 15 F5): by index, or
			-- by reading the whole table
			IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = s.source AND i.indkey[0] = s.attnums[1]) THEN
				RAISE NOTICE 'tracked table % has no index whose first column is its user column "%"', s.source, s.user_column
					USING DETAIL = 'With a condition, an incremental refresh reads again every row of each user with a queued event the feature lists: without such an index, the whole table, at every refresh.',
					      HINT = format('CREATE INDEX ON %s (%I);', s.source, s.user_column);
			END IF;
		END LOOP;
		-- the conditions that run on the rows of one event name make at most
		-- 256 operations in all (review 17, F09: 1,000 features of 32 on one
		-- event took a refresh of 20,000 rows from 190 ms to over 15 min)
		SELECT e.event, sum(x.ops) AS ops INTO budget
		FROM unnest(define_feature.event_names) e(event),
		     LATERAL (SELECT segmentation._condition_operations(f.condition) AS ops FROM segmentation.features f
		              WHERE f.condition IS NOT NULL AND f.name <> define_feature.name AND e.event = ANY (f.event_names)
		              UNION ALL SELECT segmentation._condition_operations(define_feature.condition)) x
		GROUP BY e.event HAVING sum(x.ops) > 256 ORDER BY 1 LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'the conditions on event "%" would make % operations on each of its rows, more than 256', budget.event, budget.ops
				USING ERRCODE = 'program_limit_exceeded',
				      DETAIL = 'Every condition of a feature that lists an event runs on each row of it at every refresh.',
				      HINT = 'Fewer or shorter conditions on that event: an IN list of 9 or more constants is one operation.';
		END IF;
		-- a managed funnel keeps its steps' rows by event name alone
		SELECT f.name INTO funnel FROM segmentation.funnels f WHERE define_feature.name = ANY (f.steps) ORDER BY f.name LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'feature "%" is a step of managed funnel "%": a step cannot have a condition', name, funnel
				USING ERRCODE = 'feature_not_supported',
				      HINT = 'Define another feature with the condition, or drop the funnel (segmentation.drop_funnel) first.';
		END IF;
	END IF;
	UPDATE segmentation.features f SET event_names = define_feature.event_names, condition = define_feature.condition,
		checked_condition = checked, defined_by = CASE WHEN define_feature.condition IS NOT NULL THEN session_user END
	WHERE f.name = define_feature.name RETURNING f.id INTO fid;
	IF fid IS NULL THEN
		INSERT INTO segmentation.features (id, name, event_names, condition, checked_condition, defined_by)
		SELECT coalesce(max(f.id) + 1, 0), define_feature.name, define_feature.event_names, define_feature.condition, checked,
		       CASE WHEN define_feature.condition IS NOT NULL THEN session_user END
		FROM segmentation.features f
		RETURNING features.id INTO fid;
	END IF;
	-- stored behaviors carry feature ids: the next refresh recomputes them
	IF to_regclass('segmentation.truncated') IS NOT NULL THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
	RETURN fid;
END $$;
COMMENT ON FUNCTION define_feature(text, text[], text) IS 'Define (or redefine) a product feature as one or more event names and, optionally, a condition on the event''s row (a checked boolean expression over the tracked tables'' columns); returns its stable id; the next refresh is full';

CREATE FUNCTION define_segment(scheme text, name text, predicate text, priority int DEFAULT 100, description text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	checked text;
	pcost float8;
	names text[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF scheme IS NULL OR scheme = '' OR name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'arguments "scheme" and "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF name = 'unsegmented' THEN
		RAISE EXCEPTION 'segment name "unsegmented" is reserved' USING ERRCODE = 'reserved_name',
			HINT = 'Users that match no predicate of a scheme are in unsegmented.';
	END IF;
	IF scheme ~ '^\(.*\)$' OR name ~ '^\(.*\)$' THEN
		RAISE EXCEPTION 'names in parentheses, such as "%", are reserved', CASE WHEN name ~ '^\(.*\)$' THEN name ELSE scheme END
			USING ERRCODE = 'reserved_name', HINT = 'The views use (all), (unknown), (none), (new) and (gone) for rows of their own.';
	END IF;
	-- each scheme is a column of user_scores: a name PostgreSQL keeps whole,
	-- and a number of columns it allows
	IF octet_length(scheme) >= 64 THEN
		RAISE EXCEPTION 'scheme name "%" is longer than 63 bytes', scheme USING ERRCODE = 'name_too_long',
			HINT = 'Each scheme is a column of segmentation.user_scores, and PostgreSQL names have at most 63 bytes.';
	END IF;
	-- one definer at a time, on the features and segments of now (READ
	-- COMMITTED: the next statement sees what the last definer committed)
	PERFORM segmentation._require_read_committed('define_segment');
	LOCK TABLE segmentation.features IN SHARE MODE;
	LOCK TABLE segmentation.segments IN SHARE ROW EXCLUSIVE MODE;
	IF NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = define_segment.scheme)
	   AND (SELECT count(DISTINCT s.scheme) FROM segmentation.segments s) >= 1000 THEN
		RAISE EXCEPTION 'there are 1000 schemes already' USING ERRCODE = 'program_limit_exceeded',
			HINT = 'Each scheme is a column of segmentation.user_scores, which PostgreSQL limits to 1600 columns; drop schemes you no longer use.';
	END IF;
	IF scheme = 'user_id' OR EXISTS (SELECT 1 FROM segmentation.score_columns() c WHERE c.name = scheme) OR segmentation._is_attribute(scheme) THEN
		RAISE EXCEPTION 'scheme name "%" is taken by a % of user_scores', scheme, CASE WHEN segmentation._is_attribute(scheme) THEN 'user attribute column (track_users)' ELSE 'column' END USING ERRCODE = 'reserved_name';
	END IF;
	IF predicate IS NULL OR priority IS NULL THEN
		RAISE EXCEPTION 'arguments "predicate" and "priority" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF to_regclass('segmentation.scores') IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Call segmentation.track(...) first: predicates are checked against its user id type.';
	END IF;
	names := segmentation._feature_names();
	checked := segmentation.check_predicate(predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace, names);
	pcost := segmentation._predicate_cost(checked, 'segmentation.scores'::regclass, 'segmentation'::regnamespace, names);
	-- the user attributes it reads, readable by the role defining it
	PERFORM segmentation._check_segment_attributes(define_segment.scheme, define_segment.name, checked, session_user);
	INSERT INTO segmentation.segments AS s (scheme, name, predicate, checked_predicate, cost, priority, description, defined_by)
	VALUES (scheme, name, predicate, checked, pcost, priority, description, session_user)
	ON CONFLICT ON CONSTRAINT segments_pkey DO UPDATE
		SET predicate = EXCLUDED.predicate, checked_predicate = EXCLUDED.checked_predicate, cost = EXCLUDED.cost,
		    priority = EXCLUDED.priority, description = EXCLUDED.description, defined_at = now(), defined_by = EXCLUDED.defined_by;
	-- nested segments: what in_segment names exists, and no scheme reads
	-- itself (only a predicate that calls it can add a use)
	IF strpos(checked, 'in_segment') > 0 THEN
		PERFORM segmentation._check_segment_uses(define_segment.scheme, define_segment.name);
	END IF;
	PERFORM segmentation._check_rule_costs(false);
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION define_segment(text, text, text, int, text) IS 'Define (or replace) a segment of a scheme: a checked boolean predicate over the columns of segmentation.scores; the highest priority match wins';

CREATE FUNCTION drop_segment(scheme text, name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	users text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	-- one definer at a time: a segment defined meanwhile could name this one
	PERFORM segmentation._require_read_committed('drop_segment');
	LOCK TABLE segmentation.segments IN SHARE ROW EXCLUSIVE MODE;
	DELETE FROM segmentation.segments s WHERE s.scheme = drop_segment.scheme AND s.name = drop_segment.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'segment "%" of scheme "%" does not exist', name, scheme USING ERRCODE = 'undefined_object';
	END IF;
	-- Nested segments: a segment that another names (in_segment) stays, and
	-- so does the last of a scheme that another reads (its 'unsegmented'
	-- too); nothing is dropped along with it
	SELECT string_agg(format('segment "%s" of scheme "%s" (in_segment(%L, %L))', u.name, u.scheme, u.used_scheme, u.used_segment),
	                  ', ' ORDER BY u.scheme, u.name, u.used_segment)
	INTO users
	FROM segmentation._segment_uses() u
	WHERE u.used_scheme = drop_segment.scheme
	  AND (u.used_segment = drop_segment.name
	       OR NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = drop_segment.scheme));
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop segment "%" of scheme "%": other segments use it', name, scheme
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = format('Used by %s.', users),
			      HINT = 'Drop those segments, or define them again without it, first: nothing is dropped along with it.';
	END IF;
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION drop_segment(text, text) IS 'Drop a segment; its users move at the next refresh; refused while another segment names it (in_segment), or names its scheme when it is the last of it';
