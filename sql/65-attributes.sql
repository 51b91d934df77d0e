-- User attributes (DESIGN section 4): track_users(), untrack_users(), the
-- capture of the attribute table, and what refresh copies from it.
--
-- One attribute table at a time.  Its columns (all of built-in scalar types,
-- or those listed) become columns of segmentation.scores (what predicates
-- read) and of user_scores.  Refresh never lets a rule read the table: it
-- copies the rows of the users whose rows changed (queued by the capture
-- triggers, both keys of an UPDATE) into segmentation.user_attributes, a
-- table of the extension's, through _execute_guarded, after checking the
-- table again (_check_attribute_source); the rules get the user's row of it.
--
-- The table's owner may be hostile.  What refresh reads there is a plain,
-- permanent table with no parent, child or rule, read as the role that
-- tracked it (which row-level security must not filter), columns of
-- built-in scalar types (never a domain, whose CHECK runs code; never a
-- type, operator class or collation of someone's), and a unique index on
-- the user column (one row per user: never a choice between two).  Each of
-- these is checked at track_users, by the event triggers below at the DDL
-- that would change it (which is refused), and again before every read.

-- ===================================================================
-- Configuration
-- ===================================================================

CREATE TABLE attribute_sources (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	source regclass NOT NULL,
	user_column name NOT NULL,
	columns name[] NOT NULL CHECK (cardinality(columns) BETWEEN 1 AND 100),
	tracked_by name NOT NULL DEFAULT current_user,
	tracked_at timestamptz NOT NULL DEFAULT now(),
	attnums int2[],
	column_types regtype[],
	column_typmods int4[]
);
SELECT pg_catalog.pg_extension_config_dump('attribute_sources', '');
COMMENT ON TABLE attribute_sources IS 'The table of user attributes (track_users), one at most: its user column and the columns that are predicate columns and columns of user_scores';
COMMENT ON COLUMN attribute_sources.only_row IS 'Always true: one attribute table at a time';
COMMENT ON COLUMN attribute_sources.source IS 'The table of user attributes';
COMMENT ON COLUMN attribute_sources.user_column IS 'Its column with the user id (of the tracked sources'' type, with a unique index)';
COMMENT ON COLUMN attribute_sources.columns IS 'The attribute columns, in the order of user_scores';
COMMENT ON COLUMN attribute_sources.tracked_by IS 'Role that tracked it (set by a trigger): refresh reads it only while this role may read every row and column of it';
COMMENT ON COLUMN attribute_sources.tracked_at IS 'When';
COMMENT ON COLUMN attribute_sources.attnums IS 'Column numbers of the user column, then of the attribute columns (taken from the table when the row is written)';
COMMENT ON COLUMN attribute_sources.column_types IS 'Their types when tracked: a tracked column may not change type';
COMMENT ON COLUMN attribute_sources.column_typmods IS 'Their type modifiers when tracked';

CREATE TRIGGER stamp_tracked_by BEFORE INSERT OR UPDATE ON attribute_sources
	FOR EACH ROW EXECUTE FUNCTION _stamp_tracked_by();

-- numbers and types from the table, never from the writer (validated before
-- each use anyway); a row written makes the next refresh full
CREATE FUNCTION _attribute_sources_columns() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT array_agg(a.attnum ORDER BY o.k), array_agg(a.atttypid::regtype ORDER BY o.k), array_agg(a.atttypmod ORDER BY o.k)
	INTO NEW.attnums, NEW.column_types, NEW.column_typmods
	FROM unnest(NEW.user_column || NEW.columns) WITH ORDINALITY o(col, k)
	LEFT JOIN pg_attribute a ON a.attrelid = NEW.source AND a.attname = o.col AND a.attnum > 0 AND NOT a.attisdropped;
	IF pg_catalog.to_regclass('segmentation.truncated') IS NOT NULL THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
	RETURN NEW;
END $$;
COMMENT ON FUNCTION _attribute_sources_columns() IS 'Internal: records the numbers, types and type modifiers of the attribute table''s tracked columns, from the table, whenever its row is written; the next refresh is full';
CREATE TRIGGER attribute_sources_columns BEFORE INSERT OR UPDATE ON attribute_sources
	FOR EACH ROW EXECUTE FUNCTION _attribute_sources_columns();

-- The unique indexes on the attribute table's user column, by OID, as the
-- last check found them: a dropped index no longer names its table, so the
-- DDL event trigger recognises one by its OID here.  Not dumped (OIDs do not
-- survive a restore: the next check writes them again).
CREATE TABLE _attribute_indexes (index oid PRIMARY KEY);
COMMENT ON TABLE _attribute_indexes IS 'Internal: the unique indexes on the attribute table''s user column, as the last check found them';

-- Attribute values refresh could not keep (too long to compare cheaply,
-- once per user and rule): kept NULL, and listed here; never silently.
CREATE TABLE rejected_attributes (
	run_id bigint NOT NULL,
	user_id text,
	attribute name NOT NULL,
	reason text NOT NULL,
	rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON rejected_attributes (user_id);
SELECT pg_catalog.pg_extension_config_dump('rejected_attributes', '');
COMMENT ON TABLE rejected_attributes IS 'User attribute values refresh did not keep (longer than 256 bytes as text): the user''s attribute is NULL for the rules and in user_scores; a full refresh rebuilds the list';
COMMENT ON COLUMN rejected_attributes.run_id IS 'The refresh run (refresh_runs.id) that read the value';
COMMENT ON COLUMN rejected_attributes.user_id IS 'User id, as text';
COMMENT ON COLUMN rejected_attributes.attribute IS 'The attribute column';
COMMENT ON COLUMN rejected_attributes.reason IS 'Why it was not kept';
COMMENT ON COLUMN rejected_attributes.rejected_at IS 'When';

-- The types an attribute column may have: built-in scalar types that the
-- predicate checker allows (src/predicate.c, AllowedType), never a domain,
-- enum, array, composite or range (their code, or their owner's, would run).
CREATE FUNCTION _attribute_types() RETURNS regtype[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT ARRAY['pg_catalog.bool', 'pg_catalog.int2', 'pg_catalog.int4', 'pg_catalog.int8', 'pg_catalog.float4',
             'pg_catalog.float8', 'pg_catalog.numeric', 'pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.bpchar',
             'pg_catalog.date', 'pg_catalog.timestamp', 'pg_catalog.timestamptz', 'pg_catalog.interval']::regtype[]
$$;
COMMENT ON FUNCTION _attribute_types() IS 'Internal: the built-in scalar types a user attribute column may have';

-- Why a column of a table cannot be an attribute column, or NULL
CREATE FUNCTION _attribute_column_problem(rel regclass, col int2) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT CASE WHEN a.attname IS NULL THEN 'it does not exist'
            WHEN NOT a.atttypid::regtype = ANY (segmentation._attribute_types())
              THEN pg_catalog.format('its type %s is not a built-in scalar type (boolean, integers, floats, numeric, text, varchar, char, date, timestamp, timestamptz, interval)',
                                     pg_catalog.format_type(a.atttypid, a.atttypmod))
            WHEN a.attcollation <> 0 AND a.attcollation NOT IN (100, 950, 951)
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_collation c
                                 WHERE c.oid = a.attcollation AND c.collnamespace = 'pg_catalog'::regnamespace AND c.collisdeterministic)
              THEN pg_catalog.format('its collation %s is not built in', a.attcollation::regcollation)
       END
FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = $1 AND a.attnum = $2 AND a.attnum > 0 AND NOT a.attisdropped
$$;
COMMENT ON FUNCTION _attribute_column_problem(regclass, int2) IS 'Internal: why a column cannot be a user attribute (not there, not of a built-in scalar type, a collation that is not built in), or NULL';

-- Is a name an attribute column's (define_segment refuses it as a scheme)?
CREATE FUNCTION _is_attribute(col text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT EXISTS (SELECT 1 FROM segmentation.attribute_sources a WHERE col = ANY (a.columns::text[]))
$$;
COMMENT ON FUNCTION _is_attribute(text) IS 'Internal: whether a name is that of a user attribute column (track_users)';

-- Names a column of user_scores has already: user_id, the scores, the schemes
CREATE FUNCTION _attribute_name_taken(col name) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT CASE WHEN col = 'user_id' OR EXISTS (SELECT 1 FROM segmentation.score_columns() c WHERE c.name = col) THEN 'a score column'
            WHEN EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = col) THEN 'a scheme'
       END
$$;
COMMENT ON FUNCTION _attribute_name_taken(name) IS 'Internal: whether a name is taken by a column of user_scores (a score column or a scheme), or NULL';

-- The attribute table as refresh and capture may use it, or an error naming
-- what is wrong and what to do (the table's owner can alter it, and config
-- is not trusted).  With triggers, the capture triggers must be in place
-- (with missing_ok, those there must be as installed).  With ddl (the DDL
-- event trigger), what DDL can change only: not the tracker's privileges
-- nor _check_readable's checks, which a restore grants and builds after the
-- table's constraints and triggers (refresh checks them, loudly).
CREATE FUNCTION _check_attribute_source(triggers boolean, missing_ok boolean DEFAULT false, ddl boolean DEFAULT false)
RETURNS segmentation.attribute_sources
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.attribute_sources;
	rel record;
	state_type regtype;
	fn regprocedure := pg_catalog.to_regprocedure('segmentation._capture_attributes()');
	trig record;
	hint text := 'The attribute table must stay as track_users() checked it: put it back, or call segmentation.untrack_users() (first dropping or redefining the segments that use its attributes) and track_users() again.';
BEGIN
	SELECT * INTO s FROM segmentation.attribute_sources;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no attribute table is tracked' USING ERRCODE = 'undefined_object',
			HINT = 'Call segmentation.track_users(...) first.';
	END IF;
	SELECT c.relkind, c.relpersistence, c.relhasrules, n.nspname, c.relname INTO rel
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = s.source;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the attribute table that track_users() tracked no longer exists (it was dropped)' USING ERRCODE = 'undefined_table',
			HINT = 'Call segmentation.untrack_users() (first dropping or redefining the segments that use its attributes), then track_users() again with the table that holds the attributes now.';
	END IF;
	IF rel.relkind <> 'r' OR rel.relpersistence <> 'p' THEN
		RAISE EXCEPTION 'attribute table %.% is not a permanent plain table', rel.nspname, rel.relname
			USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'A view or foreign table would run its owner''s code; an unlogged or temporary one loses rows unseen; a partitioned one is not supported.', HINT = hint;
	END IF;
	-- (Citus writes the rows of a table it manages on shards, where the
	-- capture triggers would queue into a worker's copy of the extension)
	IF segmentation._citus_member(s.source) IS NOT NULL THEN
		RAISE EXCEPTION 'attribute table %.% is managed by Citus', rel.nspname, rel.relname
			USING ERRCODE = 'feature_not_supported', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'Its rows are written on shards, where no change would reach the queue.', HINT = hint;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = s.source OR i.inhparent = s.source) THEN
		RAISE EXCEPTION 'attribute table %.% has a parent or a child', rel.nspname, rel.relname
			USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'Rows written through a parent or into a child fire no trigger of the table: they would be missed, or read twice.', HINT = hint;
	END IF;
	IF rel.relhasrules OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = s.source) THEN
		RAISE EXCEPTION 'attribute table %.% has rules', rel.nspname, rel.relname
			USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'A rule can turn the application''s writes into others the capture triggers do not see.', HINT = hint;
	END IF;
	IF s.attnums IS NULL OR pg_catalog.cardinality(s.attnums) <> 1 + pg_catalog.cardinality(s.columns)
	   OR pg_catalog.cardinality(s.column_types) <> pg_catalog.cardinality(s.attnums)
	   OR pg_catalog.cardinality(s.column_typmods) <> pg_catalog.cardinality(s.attnums) THEN
		RAISE EXCEPTION 'attribute table %.% has no valid column numbers', rel.nspname, rel.relname
			USING ERRCODE = 'data_corrupted', SCHEMA = rel.nspname, TABLE = rel.relname, HINT = hint;
	END IF;
	-- each column at its number, with its name, type and type modifier,
	-- of an allowed type and collation; the user column of the state's type
	SELECT a.attname, o.name, o.k, pg_catalog.format_type(o.type, o.typmod) AS recorded,
	       CASE WHEN a.attname IS NULL THEN pg_catalog.format('Column number %s of the table was dropped.', o.attnum)
	            WHEN a.attname <> o.name THEN pg_catalog.format('Column number %s is now named "%s".', o.attnum, a.attname)
	            WHEN (a.atttypid, a.atttypmod) IS DISTINCT FROM (o.type::oid, o.typmod)
	              THEN pg_catalog.format('It is now %s, not %s.', pg_catalog.format_type(a.atttypid, a.atttypmod), pg_catalog.format_type(o.type, o.typmod))
	            WHEN o.k = 1 AND NOT a.atttypid::regtype = ANY (segmentation._column_types('user'))
	              THEN pg_catalog.format('A user id is not of type %s.', a.atttypid::regtype)
	            WHEN o.k > 1 THEN (SELECT pg_catalog.upper(pg_catalog.left(x, 1)) || pg_catalog.substr(x, 2) || '.'
	                               FROM segmentation._attribute_column_problem(s.source, o.attnum) x)
	       END AS problem
	INTO trig
	FROM unnest(s.user_column || s.columns, s.attnums, s.column_types, s.column_typmods) WITH ORDINALITY o(name, attnum, type, typmod, k)
	LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = s.source AND a.attnum = o.attnum AND a.attnum > 0 AND NOT a.attisdropped
	WHERE a.attname IS NULL OR a.attname <> o.name OR (a.atttypid, a.atttypmod) IS DISTINCT FROM (o.type::oid, o.typmod)
	   OR (o.k = 1 AND NOT a.atttypid::regtype = ANY (segmentation._column_types('user')))
	   OR (o.k > 1 AND segmentation._attribute_column_problem(s.source, o.attnum) IS NOT NULL)
	ORDER BY o.k LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION '% column "%" of attribute table %.% is not the one track_users() recorded',
			CASE WHEN trig.k = 1 THEN 'user' ELSE 'attribute' END, trig.name, rel.nspname, rel.relname
			USING ERRCODE = 'datatype_mismatch', SCHEMA = rel.nspname, TABLE = rel.relname, DETAIL = trig.problem, HINT = hint;
	END IF;
	SELECT a.atttypid::regtype INTO state_type FROM pg_catalog.pg_attribute a
	WHERE a.attrelid = pg_catalog.to_regclass('segmentation.profiles') AND a.attname = 'user_id';
	IF state_type IS NULL OR s.column_types[1] <> state_type THEN
		RAISE EXCEPTION 'user column "%" of attribute table %.% is %, not the tracked user id type %', s.user_column,
			rel.nspname, rel.relname, s.column_types[1], state_type
			USING ERRCODE = 'datatype_mismatch', SCHEMA = rel.nspname, TABLE = rel.relname, HINT = hint;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_collation c ON c.oid = a.attcollation
	           WHERE a.attrelid = s.source AND a.attnum = s.attnums[1] AND NOT c.collisdeterministic) THEN
		RAISE EXCEPTION 'user column "%" of attribute table %.% has a nondeterministic collation', s.user_column, rel.nspname, rel.relname
			USING ERRCODE = 'datatype_mismatch', SCHEMA = rel.nspname, TABLE = rel.relname,
			      HINT = 'User ids are compared byte for byte: give the column a deterministic collation (the default is).';
	END IF;
	-- names that user_scores has already (a scheme defined by hand since)
	SELECT c.name, segmentation._attribute_name_taken(c.name) AS taken INTO trig FROM unnest(s.columns) c(name)
	WHERE segmentation._attribute_name_taken(c.name) IS NOT NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'attribute column "%" of %.% is named like % of user_scores', trig.name, rel.nspname, rel.relname, trig.taken
			USING ERRCODE = 'duplicate_column', SCHEMA = rel.nspname, TABLE = rel.relname, HINT = hint;
	END IF;
	-- one row per user: a unique index on the user column alone, valid,
	-- checked at once, for every row (no predicate, no expression)
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
	               WHERE x.indrelid = s.source AND x.indisunique AND x.indisvalid AND x.indimmediate AND x.indislive
	                 AND x.indpred IS NULL AND x.indexprs IS NULL AND x.indnkeyatts = 1 AND x.indkey[0] = s.attnums[1]) THEN
		RAISE EXCEPTION 'attribute table %.% has no unique index on its user column "%"', rel.nspname, rel.relname, s.user_column
			USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'A user with two rows would have two sets of attributes.',
			      HINT = pg_catalog.format('Make the user column unique (ALTER TABLE %s ADD PRIMARY KEY (%I), or a unique index).', s.source, s.user_column);
	END IF;
	-- (remembered, for the event trigger)
	DELETE FROM segmentation._attribute_indexes;
	INSERT INTO segmentation._attribute_indexes (index)
	SELECT x.indexrelid FROM pg_catalog.pg_index x
	WHERE x.indrelid = s.source AND x.indisunique AND x.indisvalid AND x.indimmediate AND x.indislive
	  AND x.indpred IS NULL AND x.indexprs IS NULL AND x.indnkeyatts = 1 AND x.indkey[0] = s.attnums[1];
	-- the role that tracked it reads every row and every tracked column
	IF ddl THEN
		NULL;
	ELSIF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = s.tracked_by)
	   OR EXISTS (SELECT 1 FROM unnest(s.user_column || s.columns) c(name)
	              WHERE NOT pg_catalog.has_column_privilege(s.tracked_by, s.source, c.name, 'SELECT')) THEN
		RAISE EXCEPTION 'role % that tracked attribute table %.% may no longer read all of its tracked columns', s.tracked_by, rel.nspname, rel.relname
			USING ERRCODE = 'insufficient_privilege', SCHEMA = rel.nspname, TABLE = rel.relname,
			      HINT = 'Grant SELECT back, or call segmentation.untrack_users().';
	END IF;
	IF segmentation._rls_hides_rows(s.tracked_by, s.source) THEN
		RAISE EXCEPTION 'row-level security on attribute table %.% hides rows from role %, who tracked it', rel.nspname, rel.relname, s.tracked_by
			USING ERRCODE = 'insufficient_privilege', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'What a role cannot read in a source it must not learn through the extension.',
			      HINT = 'Disable row-level security on it, or track it as a role that sees every row (its owner, without FORCE ROW LEVEL SECURITY).';
	END IF;
	-- indexes, constraints and statistics of built-in code only; locked
	-- against DDL until the end of the transaction when run by a superuser.
	-- (With ddl, the code only: the owner's index, statistics or CHECK on a
	-- function of their own is refused when made, not at the next refresh,
	-- review 18 F3.)
	IF NOT ddl THEN
		PERFORM segmentation._check_readable(s.source, s.tracked_by, 'attribute table');
	ELSIF segmentation._foreign_code(s.source) IS NOT NULL THEN
		RAISE EXCEPTION 'attribute table %.% cannot be read safely: %', rel.nspname, rel.relname, segmentation._foreign_code(s.source)
			USING ERRCODE = 'wrong_object_type', SCHEMA = rel.nspname, TABLE = rel.relname,
			      DETAIL = 'Refresh reads the table with the rights of whoever runs it: only built-in access methods, operator classes, functions, operators and types may run then.';
	END IF;
	IF triggers THEN
		SELECT x.name, g.tgenabled, g.tgfoid IS DISTINCT FROM fn AS missing INTO trig
		FROM segmentation._attribute_triggers() x
		LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = s.source AND g.tgname = x.name
		WHERE NOT (missing_ok AND g.oid IS NULL)
		  AND (fn IS NULL OR g.tgfoid IS DISTINCT FROM fn OR g.tgenabled IS DISTINCT FROM x.mode
		       OR (g.tgtype, g.tgoldtable, g.tgnewtable, g.tgqual IS NULL, g.tgnargs, g.tgattr::text)
		          IS DISTINCT FROM (x.type, x.oldtable, x.newtable, true, 0::int2, ''))
		ORDER BY x.name LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'capture trigger % on attribute table %.% is %', trig.name, rel.nspname, rel.relname,
				CASE WHEN trig.missing THEN 'missing' WHEN trig.tgenabled = 'D' THEN 'disabled' ELSE 'not as track_users() installed it' END
				USING ERRCODE = 'object_not_in_prerequisite_state', SCHEMA = rel.nspname, TABLE = rel.relname,
				      DETAIL = 'Changes written meanwhile were not captured.',
				      HINT = 'Call segmentation.untrack_users() and track_users() again (the next refresh is full).';
		END IF;
	END IF;
	RETURN s;
END $$;
COMMENT ON FUNCTION _check_attribute_source(boolean, boolean, boolean) IS 'Internal: the attribute table''s config row after checking the table (plain, permanent, no parent, child or rule, tracked columns as recorded and of built-in scalar types and collations, a unique index on the user column, readable in full by the role that tracked it, built-in code only, and with triggers its capture triggers in place), or an error naming the problem';

-- The capture triggers of the attribute table, as _check_source's are: the
-- statement triggers fire unless session_replication_role is replica, the
-- row trigger only when it is, so that every write fires exactly one.
CREATE FUNCTION _attribute_triggers(OUT name name, OUT mode "char", OUT type int2, OUT oldtable name, OUT newtable name)
RETURNS SETOF record LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
VALUES ('segmentation_attributes_insert'::name, 'O'::"char", 4::int2, NULL::name, 'new_rows'::name),
       ('segmentation_attributes_update', 'O', 16, 'old_rows', 'new_rows'),
       ('segmentation_attributes_delete', 'O', 8, 'old_rows', NULL),
       ('segmentation_attributes_truncate', 'A', 32, NULL, NULL),
       ('segmentation_attributes_replica', 'R', 29, NULL, NULL)
$$;
COMMENT ON FUNCTION _attribute_triggers() IS 'Internal: the capture triggers of the attribute table: name, mode (pg_trigger.tgenabled), type (tgtype) and transition tables';

-- ===================================================================
-- Capture, state, views
-- ===================================================================

-- The capture function and triggers, the state tables and the views, for
-- the row of attribute_sources just checked (as the extension's owner).
CREATE FUNCTION _install_attributes() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET check_function_bodies = on AS $$
DECLARE
	s segmentation.attribute_sources;
	utype text;
	x record;
	saved_mode text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	s := segmentation._check_attribute_source(false);
	IF NOT has_table_privilege(s.tracked_by, s.source, 'TRIGGER') THEN
		RAISE EXCEPTION 'role % may not track %', s.tracked_by, s.source
			USING ERRCODE = 'insufficient_privilege', HINT = 'track_users() needs SELECT and TRIGGER on the attribute table.';
	END IF;
	utype := s.column_types[1]::text;
	-- the state: the users' attributes as refresh copied them, the queue of
	-- users whose rows changed (typed as in the table, but varchar and char
	-- as text, which predicates compare with lists of text constants (IN);
	-- collatable columns compare by the database's default collation)
	IF to_regclass('segmentation.user_attributes') IS NOT NULL THEN
		DROP TABLE segmentation.user_attributes;
	END IF;
	IF to_regclass('segmentation.attribute_queue') IS NOT NULL THEN
		DROP TABLE segmentation.attribute_queue;
	END IF;
	EXECUTE format('CREATE TABLE segmentation.user_attributes (user_id %s PRIMARY KEY%s)', utype,
		(SELECT string_agg(format(', %I %s%s', c.name,
		                          CASE WHEN c.type IN ('varchar'::regtype, 'bpchar'::regtype) THEN 'text' ELSE format_type(c.type, c.typmod) END,
		                          CASE WHEN t.typcollation <> 0 THEN ' COLLATE pg_catalog."default"' ELSE '' END), '' ORDER BY c.k)
		 FROM unnest(s.columns, s.column_types[2:], s.column_typmods[2:]) WITH ORDINALITY c(name, type, typmod, k)
		 JOIN pg_type t ON t.oid = c.type));
	EXECUTE format('CREATE TABLE segmentation.attribute_queue (user_id %s)', utype);
	-- On Citus, with the state distributed (doc/citus.md): user_attributes
	-- too, colocated with profiles, so that the segment pass joins them on
	-- the workers and the scores view, which reads it, is made there too.
	-- (Sequential, as _create_state: the functions _rebuild_scores makes
	-- must reach each worker over the connection that made the shards.)
	IF segmentation._citus_member('segmentation.profiles') IS NOT NULL THEN
		saved_mode := current_setting('citus.multi_shard_modify_mode');
		PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
		PERFORM pg_catalog.create_distributed_table('segmentation.user_attributes', 'user_id', colocate_with => 'segmentation.profiles');
	END IF;
	COMMENT ON TABLE segmentation.user_attributes IS 'The user attributes the rules read: the rows of the attribute table (track_users) as the last refresh copied them, one per user';
	COMMENT ON COLUMN segmentation.user_attributes.user_id IS 'User id';
	FOR x IN SELECT c.name FROM unnest(s.columns) c(name) LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.user_attributes.%I IS %L', x.name, format('Attribute %s of the user', x.name));
	END LOOP;
	COMMENT ON TABLE segmentation.attribute_queue IS 'Internal: users whose row of the attribute table was inserted, updated or deleted since the last refresh';
	DELETE FROM segmentation.rejected_attributes;
	-- The capture function: the body goes in as a literal (%L), and the
	-- user column's name only through %I (a name is its owner's choice)
	EXECUTE format('CREATE OR REPLACE FUNCTION segmentation._capture_attributes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET citus.explain_distributed_queries = off AS %L',
		format($f$
		DECLARE
			ids %2$s[];
		BEGIN
			-- only as _install_attributes declares it, and only on the
			-- attribute table (a trigger left on another table, by a restore
			-- of the schema alone, does nothing)
			IF TG_WHEN IS DISTINCT FROM 'AFTER'
			   OR NOT EXISTS (
				SELECT 1 FROM pg_catalog.pg_trigger g
				WHERE g.tgrelid = TG_RELID AND g.tgname = TG_NAME AND g.tgfoid = 'segmentation._capture_attributes()'::pg_catalog.regprocedure
				  AND g.tgtype = CASE WHEN TG_LEVEL = 'ROW' THEN 29 WHEN TG_OP = 'INSERT' THEN 4 WHEN TG_OP = 'UPDATE' THEN 16
				                      WHEN TG_OP = 'DELETE' THEN 8 ELSE 32 END
				  AND g.tgoldtable IS NOT DISTINCT FROM (CASE WHEN TG_LEVEL = 'STATEMENT' AND TG_OP IN ('UPDATE', 'DELETE') THEN 'old_rows' END)::pg_catalog.name
				  AND g.tgnewtable IS NOT DISTINCT FROM (CASE WHEN TG_LEVEL = 'STATEMENT' AND TG_OP IN ('INSERT', 'UPDATE') THEN 'new_rows' END)::pg_catalog.name
				  AND g.tgqual IS NULL AND g.tgnargs = 0 AND g.tgattr::pg_catalog.text = '') THEN
				RAISE EXCEPTION 'segmentation capture function %% fired by a trigger not as track_users installed it', TG_NAME
					USING ERRCODE = 'insufficient_privilege';
			END IF;
			IF NOT EXISTS (SELECT 1 FROM segmentation.attribute_sources a WHERE a.source = TG_RELID) THEN
				RETURN NULL;
			END IF;
			-- both keys of an update; users forget_user() erased are skipped
			IF TG_LEVEL = 'ROW' THEN
				ids := ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.%1$I END, CASE WHEN TG_OP <> 'DELETE' THEN NEW.%1$I END];
			ELSIF TG_OP = 'INSERT' THEN
				SELECT pg_catalog.array_agg(n.%1$I) INTO ids FROM new_rows n;
			ELSIF TG_OP = 'UPDATE' THEN
				SELECT pg_catalog.array_agg(u.id) INTO ids FROM (SELECT o.%1$I AS id FROM old_rows o UNION ALL SELECT n.%1$I FROM new_rows n) u;
			ELSIF TG_OP = 'DELETE' THEN
				SELECT pg_catalog.array_agg(o.%1$I) INTO ids FROM old_rows o;
			END IF;
			IF TG_OP <> 'TRUNCATE' THEN
				INSERT INTO segmentation.attribute_queue (user_id)
				SELECT DISTINCT u.id FROM pg_catalog.unnest(ids) u(id)
				WHERE u.id IS NOT NULL
				  AND ((SELECT NOT EXISTS (SELECT 1 FROM segmentation.forgotten_users))
				       OR NOT segmentation._is_forgotten(u.id::pg_catalog.text));
			ELSE
				-- a truncate: the next refresh reads the table again, whole
				INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
			END IF;
			RETURN NULL;
		END
	$f$, s.user_column, utype));
	COMMENT ON FUNCTION segmentation._capture_attributes() IS 'Internal: queues the users whose row of the attribute table changed, for refresh';
	REVOKE ALL ON FUNCTION segmentation._capture_attributes() FROM PUBLIC;
	-- the triggers (again: dropped and created, each in its mode)
	INSERT INTO segmentation._capture_installing VALUES (pg_backend_pid(), pg_current_xact_id());
	FOR x IN SELECT * FROM segmentation._attribute_triggers() LOOP
		IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = s.source AND g.tgname = x.name) THEN
			EXECUTE format('DROP TRIGGER %I ON %s', x.name, s.source);
		END IF;
		EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s%s FOR EACH %s EXECUTE FUNCTION segmentation._capture_attributes()',
			x.name, CASE x.type WHEN 4 THEN 'INSERT' WHEN 16 THEN 'UPDATE' WHEN 8 THEN 'DELETE' WHEN 32 THEN 'TRUNCATE'
			                    ELSE 'INSERT OR UPDATE OR DELETE' END,
			s.source,
			CASE WHEN x.oldtable IS NOT NULL OR x.newtable IS NOT NULL THEN ' REFERENCING'
			          || CASE WHEN x.oldtable IS NOT NULL THEN ' OLD TABLE AS old_rows' ELSE '' END
			          || CASE WHEN x.newtable IS NOT NULL THEN ' NEW TABLE AS new_rows' ELSE '' END ELSE '' END,
			CASE WHEN x.type = 29 THEN 'ROW' ELSE 'STATEMENT' END);
		IF x.mode <> 'O' THEN
			EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', s.source, CASE x.mode WHEN 'A' THEN 'ALWAYS' ELSE 'REPLICA' END, x.name);
		END IF;
	END LOOP;
	DELETE FROM segmentation._capture_installing c WHERE c.backend = pg_backend_pid() AND c.xact = pg_current_xact_id();
	PERFORM segmentation._check_attribute_source(true);
	-- the rows already there are read by the next refresh, which is full
	INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	PERFORM segmentation._rebuild_scores();
	IF saved_mode IS NOT NULL THEN
		PERFORM set_config('citus.multi_shard_modify_mode', saved_mode, true);
	END IF;
END $$;
COMMENT ON FUNCTION _install_attributes() IS 'Internal: creates user_attributes, the capture function and triggers of the attribute table, and the views with its columns; the next refresh is full';

-- May the role read the attribute column in the attribute table (every
-- row of it)?  user_scores and scores show an attribute only to a role that
-- may: what a role cannot read in a source it must not learn through the
-- extension (DESIGN section 6).
CREATE FUNCTION _attribute_readable(role name, col name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
SELECT coalesce((
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role)
	       AND pg_catalog.has_schema_privilege(role, c.relnamespace, 'USAGE')
	       AND pg_catalog.has_column_privilege(role, a.source, a.user_column, 'SELECT')
	       AND pg_catalog.has_column_privilege(role, a.source, col, 'SELECT')
	       AND NOT segmentation._rls_hides_rows(role, a.source)
	FROM segmentation.attribute_sources a JOIN pg_catalog.pg_class c ON c.oid = a.source
	WHERE col = ANY (a.columns)), false)
$$;
COMMENT ON FUNCTION _attribute_readable(name, name) IS 'Internal: whether a role may read an attribute column (and the user column) of the attribute table, every row of it (the views show the attribute to it only then)';

-- A segment whose predicate reads user attributes tells whoever reads its
-- members what they hold: the role that defined it (the login role, as for a
-- feature's condition: SECURITY DEFINER hides the caller, review 17 F11)
-- must be an admin that may read each of them (review 18, F1).  Checked by
-- define_segment, and by refresh before every run of the rules.
CREATE FUNCTION _check_segment_attributes(scheme text, segment text, predicate text, who name) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	col name;
BEGIN
	FOR col IN
		SELECT c FROM unnest(segmentation._predicate_columns(predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace,
		                                                       segmentation._feature_names())) c
		WHERE segmentation._is_attribute(c) ORDER BY c
	LOOP
		IF who IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = who)
		   OR NOT pg_catalog.pg_has_role(who, 'segmentation_admin', 'USAGE') THEN
			RAISE EXCEPTION 'segment "%" of scheme "%" reads user attribute "%", and role % that defines it is not a member of segmentation_admin',
				segment, scheme, col, coalesce(pg_catalog.quote_ident(who), 'NULL')
				USING ERRCODE = 'insufficient_privilege',
				      DETAIL = 'A predicate on user attributes is checked, and run at every refresh, for the role that logged in when it was defined.',
				      HINT = 'Define the segment again, logged in as a member of segmentation_admin that may read the attribute.';
		END IF;
		IF NOT segmentation._attribute_readable(who, col) THEN
			RAISE EXCEPTION 'segment "%" of scheme "%" reads user attribute "%", which role % may not read in the attribute table',
				segment, scheme, col, pg_catalog.quote_ident(who)
				USING ERRCODE = 'insufficient_privilege',
				      DETAIL = 'Its members would tell that role what the attribute holds.',
				      HINT = 'Grant the role SELECT on the column (and on the user column), or define the segment again without it, as a role that may.';
		END IF;
	END LOOP;
END $$;
COMMENT ON FUNCTION _check_segment_attributes(text, text, text, name) IS 'Internal: refuses a segment predicate that reads a user attribute the role that defined it (an admin) may not read in the attribute table';

-- Does a segment of the scheme read a user attribute?  (refresh: an error
-- of its rules is then logged without its message; in doubt, yes)
CREATE FUNCTION _scheme_reads_attributes(scheme text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM segmentation.attribute_sources) THEN
		RETURN false;
	END IF;
	RETURN EXISTS (
		SELECT 1 FROM segmentation.segments s,
		     unnest(segmentation._predicate_columns(s.checked_predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace,
		                                            segmentation._feature_names())) c
		WHERE s.scheme = _scheme_reads_attributes.scheme AND segmentation._is_attribute(c));
EXCEPTION WHEN OTHERS THEN
	RETURN true;
END $$;
COMMENT ON FUNCTION _scheme_reads_attributes(text) IS 'Internal: whether a segment of the scheme reads a user attribute (true when that cannot be told)';

-- segmentation.scores: the scores, then the attributes (what predicates
-- read, by name and type; refresh's rules get the values from
-- user_attributes, src/predicate.c).  user_scores follows.
CREATE FUNCTION _rebuild_scores() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.attribute_sources;
	r record;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF to_regclass('segmentation._user_state') IS NULL THEN
		RETURN;
	END IF;
	SELECT * INTO s FROM segmentation.attribute_sources;
	IF to_regclass('segmentation.user_attributes') IS NULL THEN
		s := NULL;
	END IF;
	IF to_regclass('segmentation.user_scores') IS NOT NULL THEN
		BEGIN
			DROP VIEW segmentation.user_scores;
		EXCEPTION WHEN dependent_objects_still_exist THEN
			RAISE EXCEPTION 'segmentation.user_scores cannot be rebuilt with the attributes: views of yours depend on it'
				USING ERRCODE = 'dependent_objects_still_exist',
				      HINT = 'Drop the views built on it first (DROP VIEW segmentation.user_scores lists them), then create them again.';
		END;
	END IF;
	BEGIN
		DROP VIEW segmentation.scores;
	EXCEPTION WHEN dependent_objects_still_exist THEN
		RAISE EXCEPTION 'segmentation.scores cannot be rebuilt with the attributes: views of yours depend on it'
			USING ERRCODE = 'dependent_objects_still_exist',
			      HINT = 'Drop the views built on it first (DROP VIEW segmentation.scores lists them), then create them again.';
	END;
	EXECUTE format('CREATE VIEW segmentation.scores AS SELECT u.user_id%s%s FROM segmentation._user_state u%s',
		(SELECT string_agg(format(', u.%I', c.name), '') FROM segmentation.score_columns() c),
		coalesce((SELECT string_agg(format(', CASE WHEN (SELECT segmentation._attribute_readable(CURRENT_USER, %L)) THEN a.%I END AS %I',
		                                   c, c, c), '' ORDER BY k)
		          FROM unnest(s.columns) WITH ORDINALITY x(c, k)), ''),
		CASE WHEN s.source IS NOT NULL THEN ' LEFT JOIN segmentation.user_attributes a ON a.user_id OPERATOR(pg_catalog.=) u.user_id' ELSE '' END);
	COMMENT ON VIEW segmentation.scores IS 'Scores of every user as of the last refresh, computed from profiles and score_context, and their attributes (track_users): what segment predicates read';
	COMMENT ON COLUMN segmentation.scores.user_id IS 'User id, of the tracked sources'' type';
	FOR r IN SELECT c.name, c.description FROM segmentation.score_columns() c LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.scores.%I IS %L', r.name, r.description);
	END LOOP;
	FOR r IN SELECT c FROM unnest(s.columns) c LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.scores.%I IS %L', r.c,
			format('User attribute %s, from %s (NULL for a role that may not read it there)', r.c, s.source));
	END LOOP;
	GRANT SELECT ON segmentation.scores TO segmentation_admin;
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION _rebuild_scores() IS 'Internal: recreates the scores view (the score columns, then the user attributes) and user_scores';

-- ===================================================================
-- track_users, untrack_users
-- ===================================================================

-- As its caller (who needs SELECT and TRIGGER on the table, and is recorded
-- as tracked_by); what needs the extension's owner is _install_attributes.
CREATE FUNCTION track_users(source regclass, user_column name, columns name[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kind "char";
	ucol int2;
	cols name[];
	skipped text;
	bad record;
BEGIN
	IF source IS NULL OR user_column IS NULL THEN
		RAISE EXCEPTION 'arguments "source" and "user_column" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF to_regclass('segmentation.profiles') IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Call segmentation.track(...) first: user ids are of the tracked tables'' type.';
	END IF;
	IF EXISTS (SELECT 1 FROM segmentation.attribute_sources) THEN
		RAISE EXCEPTION 'an attribute table is tracked already: %', (SELECT a.source FROM segmentation.attribute_sources a)
			USING ERRCODE = 'duplicate_object',
			      HINT = 'One attribute table at a time: call segmentation.untrack_users() first, or join your attributes in one table.';
	END IF;
	IF EXISTS (SELECT 1 FROM segmentation.sources s WHERE s.source = track_users.source) THEN
		RAISE EXCEPTION 'cannot track % for user attributes: it is a tracked events table', source
			USING ERRCODE = 'wrong_object_type', HINT = 'Attributes are one row per user, in a table of their own.';
	END IF;
	SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = source;
	IF kind IS DISTINCT FROM 'r' THEN
		RAISE EXCEPTION 'cannot track % for user attributes: it is not a plain table', source
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'A view or foreign table would run its owner''s code as refresh; a partitioned table is not supported.';
	END IF;
	-- (its capture triggers would be the coordinator's table's only)
	IF segmentation._citus_member(source) IS NOT NULL THEN
		RAISE EXCEPTION 'cannot track % for user attributes: Citus manages it', source
			USING ERRCODE = 'feature_not_supported',
			      HINT = 'Track a plain table of the coordinator: capture triggers do not follow the rows Citus writes on shards.';
	END IF;
	IF NOT has_table_privilege(source, 'SELECT') OR NOT has_table_privilege(source, 'TRIGGER') THEN
		RAISE EXCEPTION 'permission denied to track %', source
			USING ERRCODE = 'insufficient_privilege', HINT = 'track_users() needs SELECT and TRIGGER on the attribute table.';
	END IF;
	SELECT a.attnum INTO ucol FROM pg_attribute a WHERE a.attrelid = source AND a.attname = user_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF ucol IS NULL THEN
		RAISE EXCEPTION 'column "%" does not exist in %', user_column, source USING ERRCODE = 'undefined_column';
	END IF;
	IF columns IS NULL THEN
		-- every column of a built-in scalar type and collation; the others
		-- are named in a notice
		SELECT array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE segmentation._attribute_column_problem(source, a.attnum) IS NULL),
		       string_agg(format('"%s" (%s)', a.attname, segmentation._attribute_column_problem(source, a.attnum)), ', ' ORDER BY a.attnum)
		         FILTER (WHERE segmentation._attribute_column_problem(source, a.attnum) IS NOT NULL)
		INTO cols, skipped
		FROM pg_attribute a WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND a.attnum <> ucol;
		IF skipped IS NOT NULL THEN
			RAISE NOTICE 'columns of % that are not attributes: %', source, skipped
				USING HINT = 'Only columns of built-in scalar types and collations are; list the columns to make it an error.';
		END IF;
		IF cols IS NULL THEN
			RAISE EXCEPTION '% has no column that can be a user attribute', source USING ERRCODE = 'datatype_mismatch',
				DETAIL = coalesce(format('Not attributes: %s.', skipped), 'It has no column but the user column.');
		END IF;
	ELSE
		IF cardinality(columns) = 0 OR array_position(columns, NULL) IS NOT NULL THEN
			RAISE EXCEPTION 'argument "columns" must list at least one column, and no NULL' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		cols := columns;
		SELECT c.name, CASE WHEN a.attnum IS NULL THEN 'it does not exist'
		                    WHEN a.attnum = ucol THEN 'it is the user column'
		                    ELSE segmentation._attribute_column_problem(source, a.attnum) END AS problem INTO bad
		FROM unnest(cols) WITH ORDINALITY c(name, k)
		LEFT JOIN pg_attribute a ON a.attrelid = source AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
		WHERE a.attnum IS NULL OR a.attnum = ucol OR segmentation._attribute_column_problem(source, a.attnum) IS NOT NULL
		ORDER BY c.k LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'column "%" of % cannot be a user attribute: %', bad.name, source, bad.problem
				USING ERRCODE = CASE WHEN bad.problem = 'it does not exist' THEN 'undefined_column' ELSE 'datatype_mismatch' END,
				      HINT = 'Attributes are columns of built-in scalar types (a domain, enum, array or type of someone''s would run its owner''s code) with a built-in collation.';
		END IF;
		IF (SELECT count(DISTINCT c) FROM unnest(cols) c) <> cardinality(cols) THEN
			RAISE EXCEPTION 'argument "columns" names a column twice' USING ERRCODE = 'duplicate_column';
		END IF;
	END IF;
	IF cardinality(cols) > 100 THEN
		RAISE EXCEPTION '% would have % attribute columns; at most 100 are allowed', source, cardinality(cols)
			USING ERRCODE = 'program_limit_exceeded', HINT = 'List the columns the segments need (argument "columns").';
	END IF;
	SELECT c.name, segmentation._attribute_name_taken(c.name) AS taken INTO bad FROM unnest(cols) c(name)
	WHERE segmentation._attribute_name_taken(c.name) IS NOT NULL LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'attribute column "%" of % is named like % of user_scores', bad.name, source, bad.taken
			USING ERRCODE = 'duplicate_column',
			      HINT = 'Attributes are columns of user_scores beside the scores and one column per scheme: list the other columns (argument "columns"), or rename it.';
	END IF;
	IF segmentation._rls_hides_rows(current_user, source) THEN
		RAISE EXCEPTION 'cannot track %: row-level security hides some of its rows from role %', source, current_user
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'What a role cannot read in a source it must not learn through the extension.',
			      HINT = 'Track it as a role that sees every row (its owner, without FORCE ROW LEVEL SECURITY).';
	END IF;
	INSERT INTO segmentation.attribute_sources (source, user_column, columns) VALUES (source, user_column, cols);
	PERFORM segmentation._install_attributes();
END $$;
COMMENT ON FUNCTION track_users(regclass, name, name[]) IS 'Track a table of user attributes (one row per user, a unique index on the user column): its columns of built-in scalar types, or those listed, become predicate columns and columns of user_scores; a change to a row re-segments that user at the next refresh; the first refresh after it is full';

-- Stops it.  Refused while a segment's predicate reads an attribute: the
-- segments are never silently changed (the admin drops or redefines them).
CREATE FUNCTION untrack_users() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.attribute_sources;
	seg record;
	users text := NULL;
	names text[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._require_read_committed('untrack_users');
	LOCK TABLE segmentation.segments IN SHARE ROW EXCLUSIVE MODE;
	SELECT * INTO s FROM segmentation.attribute_sources;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no attribute table is tracked' USING ERRCODE = 'undefined_object';
	END IF;
	-- the views without the attributes, then every predicate checked
	-- against them: one that names an attribute fails (and so this does,
	-- with everything undone)
	DELETE FROM segmentation.attribute_sources;
	PERFORM segmentation._rebuild_scores();
	names := segmentation._feature_names();
	FOR seg IN SELECT * FROM segmentation.segments x ORDER BY x.scheme, x.name LOOP
		BEGIN
			PERFORM segmentation.check_predicate(seg.predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace, names);
		EXCEPTION WHEN undefined_column THEN
			users := coalesce(users || ', ', '') || format('segment "%s" of scheme "%s"', seg.name, seg.scheme);
		END;
	END LOOP;
	IF users IS NOT NULL THEN
		RAISE EXCEPTION 'cannot untrack %: segments use its attributes',
			CASE WHEN EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.source) THEN s.source::text ELSE 'the dropped attribute table' END
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = format('Used by %s.', users),
			      HINT = 'Drop those segments (segmentation.drop_segment) or define them again without the attributes first: nothing is changed along with it.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.source) THEN
		EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', s.source);
	END IF;
	PERFORM segmentation._drop_attribute_capture();
	IF to_regclass('segmentation.user_attributes') IS NOT NULL THEN
		DROP TABLE segmentation.user_attributes, segmentation.attribute_queue;
	END IF;
	DELETE FROM segmentation.rejected_attributes;
	-- (the views were rebuilt without them; the rules read no attribute, so
	-- no segment changes: no full refresh is needed)
END $$;
COMMENT ON FUNCTION untrack_users() IS 'Stop tracking the attribute table: its capture triggers go, and its columns leave scores and user_scores; refused while a segment''s predicate uses an attribute';

CREATE FUNCTION _drop_attribute_capture() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	trig record;
BEGIN
	FOR trig IN
		SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
		WHERE g.tgfoid = to_regprocedure('segmentation._capture_attributes()') AND g.tgparentid = 0
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', trig.tgname, trig.rel);
	END LOOP;
	IF to_regprocedure('segmentation._capture_attributes()') IS NOT NULL THEN
		DROP FUNCTION segmentation._capture_attributes();
	END IF;
END $$;
COMMENT ON FUNCTION _drop_attribute_capture() IS 'Internal: drops the capture triggers and function of the attribute table';

-- ===================================================================
-- Refresh: the attributes of the users whose rows changed (every user's
-- in a full refresh), copied into user_attributes
-- ===================================================================

-- Longer values (as text) are kept NULL and listed in rejected_attributes:
-- the cost bound of predicates assumes it (src/predicate.c, ATTRIBUTE_TEXT_LEN)
CREATE FUNCTION _attribute_max_bytes() RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 256';
COMMENT ON FUNCTION _attribute_max_bytes() IS 'Internal: the longest attribute value (as text, in bytes) refresh keeps';

-- Fills the temporary table _attr_changed (created by refresh) with the
-- users whose attributes this run copied again (with full, every user's
-- attributes are copied, and _attr_changed stays empty: every user's rules
-- run anyway).
-- The queue is consumed first, in its own statement, then the table read
-- in a later snapshot: a change committed in between is read now and read
-- again by the next run (its queued id stays), never lost.
CREATE FUNCTION _refresh_attributes(do_full boolean, run bigint) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.attribute_sources;
	cols text;
	picked text;
	vals text;
	too_long text;
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM segmentation.attribute_sources) THEN
		RETURN 0;
	END IF;
	s := segmentation._check_attribute_source(true);
	IF to_regclass('segmentation.user_attributes') IS NULL OR to_regclass('segmentation.attribute_queue') IS NULL THEN
		RAISE EXCEPTION 'the state of the attribute table % is missing', s.source USING ERRCODE = 'data_corrupted',
			HINT = 'Call segmentation.untrack_users() and track_users() again.';
	END IF;
	-- (r's columns are user_id, v1, v2, ... and too_long: no attribute
	-- column's name can clash with them, review 18 F4)
	SELECT string_agg(format(', %I', c), '' ORDER BY k),
	       string_agg(format(', r.v%s', k), '' ORDER BY k),
	       string_agg(CASE WHEN t = ANY (ARRAY['pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.bpchar', 'pg_catalog.numeric']::regtype[])
	                       THEN format(', CASE WHEN pg_catalog.octet_length(s.%1$I::pg_catalog.text) OPERATOR(pg_catalog.<=) %2$s THEN s.%1$I%3$s END AS v%4$s', c,
	                                   segmentation._attribute_max_bytes(),
	                                   CASE WHEN t = ANY (ARRAY['pg_catalog.varchar', 'pg_catalog.bpchar']::regtype[]) THEN '::pg_catalog.text' ELSE '' END, k)
	                       ELSE format(', s.%I AS v%s', c, k) END, '' ORDER BY k),
	       string_agg(CASE WHEN t = ANY (ARRAY['pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.bpchar', 'pg_catalog.numeric']::regtype[])
	                       THEN format(', CASE WHEN pg_catalog.octet_length(s.%1$I::pg_catalog.text) OPERATOR(pg_catalog.>) %2$s THEN %3$L END', c,
	                                   segmentation._attribute_max_bytes(), c) END, '' ORDER BY k)
	INTO cols, picked, vals, too_long
	FROM unnest(s.columns, s.column_types[2:]) WITH ORDINALITY x(c, t, k);
	IF do_full THEN
		DELETE FROM segmentation.attribute_queue;
		DELETE FROM segmentation.user_attributes;
		DELETE FROM segmentation.rejected_attributes;
	ELSE
		WITH q AS (DELETE FROM segmentation.attribute_queue RETURNING user_id)
		INSERT INTO _attr_changed SELECT DISTINCT q.user_id FROM q WHERE q.user_id IS NOT NULL;
		IF NOT EXISTS (SELECT 1 FROM _attr_changed) THEN
			RETURN 0;
		END IF;
		DELETE FROM segmentation.user_attributes a USING _attr_changed c WHERE a.user_id = c.user_id;
		DELETE FROM segmentation.rejected_attributes r WHERE r.user_id IN (SELECT c.user_id::text FROM _attr_changed c);
	END IF;
	-- the table's rows (of the changed users), under the guard: only it, the
	-- extension's tables and this session's temporary ones may be planned
	n := segmentation._execute_guarded(format($q$
		WITH r AS (
			SELECT s.%1$I AS user_id%2$s, ARRAY[NULL::pg_catalog.text%3$s] AS too_long
			FROM %4$s s%5$s
			WHERE s.%1$I IS NOT NULL
			  AND ((SELECT NOT EXISTS (SELECT 1 FROM segmentation.forgotten_users))
			       OR NOT segmentation._is_forgotten(s.%1$I::pg_catalog.text))),
		rj AS (INSERT INTO segmentation.rejected_attributes (run_id, user_id, attribute, reason)
		       SELECT $1, r.user_id::pg_catalog.text, x.col, %6$L
		       FROM r, unnest(r.too_long) x(col) WHERE x.col IS NOT NULL)
		INSERT INTO segmentation.user_attributes (user_id%7$s)
		SELECT r.user_id%8$s FROM r
	$q$, s.user_column, vals, coalesce(too_long, ''), s.source,
	     CASE WHEN do_full THEN '' ELSE format(' JOIN _attr_changed c ON s.%I OPERATOR(pg_catalog.=) c.user_id', s.user_column) END,
	     format('longer than %s bytes', segmentation._attribute_max_bytes()),
	     cols, picked),
	  ARRAY[s.source::oid], run);
	-- Their rules run again: their profiles are marked changed by this run,
	-- as a new event would (a full refresh runs every user's rules anyway).
	-- (Not a temporary table read by the pass over every user: that would
	-- keep the rules out of its parallel workers.)
	IF NOT do_full THEN
		UPDATE segmentation.profiles p SET changed_run = run FROM _attr_changed c
		WHERE p.user_id = c.user_id AND p.changed_run <> run;
	END IF;
	RETURN n;
END $$;
COMMENT ON FUNCTION _refresh_attributes(boolean, bigint) IS 'Internal (refresh): copies the attribute table''s rows of the users whose rows changed (with full, every row) into user_attributes, values too long kept NULL and listed in rejected_attributes, and, unless full, lists those users in _attr_changed and marks their profiles changed by this run (changed_run); returns the rows copied';

-- ===================================================================
-- DDL on the attribute table (event triggers)
-- ===================================================================

-- A command that touched the attribute table (or made it a parent or a
-- child, or gave it a rule) is refused when the table no longer passes
-- _check_attribute_source: a tracked column renamed, retyped or dropped,
-- the unique index dropped, row-level security that hides rows, a capture
-- trigger disabled, a parent, child or rule.  The application's writes go
-- on as before.  A dropped table is left to refresh, which names it and
-- says what to do (untrack_users).  It acts only on commands that touched
-- the table (or dropped an index, trigger, rule or policy: those no longer
-- name their table when dropped), so a table broken otherwise blocks
-- nobody's DDL elsewhere; refresh refuses it anyway, loudly.
CREATE FUNCTION _on_attribute_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.attribute_sources;
	touched boolean;
	e_message text;
	e_detail text;
BEGIN
	IF to_regclass('segmentation.attribute_sources') IS NULL THEN
		RETURN;
	END IF;
	SELECT * INTO s FROM segmentation.attribute_sources;
	IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.source) THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM segmentation._capture_installing c WHERE c.backend = pg_backend_pid() AND c.xact = pg_current_xact_id()) THEN
		RETURN;
	END IF;
	IF TG_EVENT = 'sql_drop' THEN
		-- a column of the table, one of its unique indexes on the user
		-- column, or a trigger, constraint, rule or policy on it (named
		-- "... on <table>")
		SELECT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
		               WHERE (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.source::oid)
		                  OR (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid IN (SELECT i.index FROM segmentation._attribute_indexes i))
		                  OR (d.object_type IN ('trigger', 'rule', 'policy', 'table constraint')
		                      AND right(d.object_identity, length(' on ' || (pg_identify_object('pg_catalog.pg_class'::regclass, s.source, 0)).identity))
		                          = ' on ' || (pg_identify_object('pg_catalog.pg_class'::regclass, s.source, 0)).identity))
		INTO touched;
	ELSE
		SELECT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
		               WHERE (c.classid = 'pg_catalog.pg_class'::regclass
		                      AND (c.objid = s.source::oid
		                           OR EXISTS (SELECT 1 FROM pg_inherits i
		                                      WHERE (i.inhrelid = c.objid AND i.inhparent = s.source)
		                                         OR (i.inhparent = c.objid AND i.inhrelid = s.source))))
		                  OR (c.classid = 'pg_catalog.pg_class'::regclass
		                      AND EXISTS (SELECT 1 FROM pg_index x WHERE x.indexrelid = c.objid AND x.indrelid = s.source))
		                  OR (c.classid = 'pg_catalog.pg_rewrite'::regclass
		                      AND EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.oid = c.objid AND r.ev_class = s.source))
		                  OR (c.classid = 'pg_catalog.pg_trigger'::regclass
		                      AND EXISTS (SELECT 1 FROM pg_trigger g WHERE g.oid = c.objid AND g.tgrelid = s.source))
		                  OR (c.classid = 'pg_catalog.pg_statistic_ext'::regclass
		                      AND EXISTS (SELECT 1 FROM pg_statistic_ext st WHERE st.oid = c.objid AND st.stxrelid = s.source)))
		INTO touched;
		-- A capture trigger keeps its name (as on the events side): renamed,
		-- then disabled under its new name, it would let writes past
		-- capture unseen (review 18, F8)
		IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c JOIN pg_trigger g ON g.oid = c.objid
		           WHERE c.classid = 'pg_catalog.pg_trigger'::regclass AND c.command_tag = 'ALTER TRIGGER'
		             AND g.tgfoid = to_regprocedure('segmentation._capture_attributes()')) THEN
			RAISE EXCEPTION 'capture triggers of attribute table % cannot be renamed', s.source
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      DETAIL = 'Capture triggers keep the names segmentation gave them.',
				      HINT = 'Leave their names; a segmentation_admin stops the capture with segmentation.untrack_users().';
		END IF;
	END IF;
	IF NOT touched THEN
		RETURN;
	END IF;
	BEGIN
		-- (a missing capture trigger: refused when dropped, by sql_drop; a
		-- restore creates them one by one, each enabled in its mode)
		PERFORM segmentation._check_attribute_source(true, TG_EVENT <> 'sql_drop', true);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT, e_detail = PG_EXCEPTION_DETAIL;
		RAISE EXCEPTION 'this change to attribute table % is refused: %', s.source, e_message
			USING ERRCODE = 'object_in_use', DETAIL = coalesce(nullif(e_detail, ''), 'It no longer passes the checks of track_users().'),
			      HINT = 'segmentation reads the table as track_users() checked it: call segmentation.untrack_users() first (dropping or redefining the segments that use its attributes), then track_users() again.';
	END;
	-- An ALTER of the table may have changed values or user ids without a
	-- write (ALTER COLUMN ... TYPE ... USING, review 18 F2): the next
	-- refresh is full, as after an ALTER of a tracked events table
	IF TG_EVENT = 'ddl_command_end'
	   AND EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
	               WHERE c.classid = 'pg_catalog.pg_class'::regclass AND c.objid = s.source::oid AND c.command_tag = 'ALTER TABLE') THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
END $$;
COMMENT ON FUNCTION _on_attribute_ddl() IS 'Internal (event trigger): refuses DDL that leaves the attribute table unlike what track_users() checked (tracked column renamed, retyped or dropped, unique index dropped, row-level security, capture trigger disabled, parent, child or rule)';
CREATE EVENT TRIGGER segmentation_attributes_ddl ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE', 'ALTER TYPE',
	             'CREATE FOREIGN TABLE', 'CREATE SCHEMA', 'ALTER TRIGGER', 'CREATE RULE', 'CREATE INDEX', 'ALTER INDEX', 'ALTER POLICY', 'CREATE POLICY',
	             'CREATE STATISTICS', 'ALTER STATISTICS')
	EXECUTE FUNCTION _on_attribute_ddl();
CREATE EVENT TRIGGER segmentation_attributes_drop ON sql_drop EXECUTE FUNCTION _on_attribute_ddl();
ALTER EVENT TRIGGER segmentation_attributes_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER segmentation_attributes_drop ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER segmentation_attributes_ddl IS 'Refuses DDL that leaves the attribute table (track_users) unlike what track_users() checked';
COMMENT ON EVENT TRIGGER segmentation_attributes_drop IS 'Refuses dropping a tracked column, the unique index on the user column or a capture trigger of the attribute table (track_users)';
