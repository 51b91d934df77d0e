-- Segment predicates (src/predicate.c), roles and the configuration tables.

-- ===================================================================
-- Segment predicates (src/predicate.c)
-- ===================================================================

CREATE FUNCTION check_predicate(predicate text, scores regclass, schema regnamespace, feature_names text[]) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION check_predicate(text, regclass, regnamespace, text[]) IS 'Parse and check a segment predicate over the columns of the scores table and the rule vocabulary (feature_names[i] names feature id i - 1, as _feature_names() gives them); returns it deparsed, or raises an error naming what is not allowed';
CREATE FUNCTION _predicate_cost(predicate text, scores regclass, schema regnamespace, feature_names text[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'predicate_cost' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _predicate_cost(text, regclass, regnamespace, text[]) IS 'Internal: what a predicate that check_predicate accepts costs per user, in bytes read (an upper bound; a call of the rule vocabulary counts the days of its window): define_segment bounds the sum over a scheme and over every scheme';

-- A feature's event condition (DESIGN section 4): checked like a predicate
-- (the same allowlist), over the columns of a tracked table instead, each
-- of an allowed built-in type, without the rule vocabulary (src/predicate.c)
CREATE FUNCTION _check_condition(condition text, source regclass, OUT checked text, OUT columns name[], OUT operations int)
	AS 'MODULE_PATHNAME', 'check_condition' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _check_condition(text, regclass) IS 'Internal: parse and check a feature''s condition over the columns of a tracked table: returns it deparsed (what refresh runs on that table''s rows), the columns it reads and the operations it makes on them, or raises an error naming what is not allowed';

-- The rule vocabulary (version 0.2): what a predicate may say of a feature,
-- named by its define_feature name or '*' for any event, as of the
-- refresh's as_of.  Windows and periods are whole UTC days ending on
-- date(as_of).  These parse inside a predicate, where refresh computes them
-- per user (src/predicate.c); called anywhere else they raise an error that
-- names the behavior accessor of the same name to call instead.
CREATE FUNCTION events_in(feature text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION events_in(feature text, "window" interval) RETURNS bigint
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION days_in(feature text) RETURNS int
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION days_in(feature text, "window" interval) RETURNS int
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION value_in(feature text) RETURNS double precision
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION value_in(feature text, "window" interval) RETURNS double precision
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION first_use(feature text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION last_use(feature text) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION days_since(feature text) RETURNS double precision
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION periods_with(feature text, min_events int, period interval, periods int) RETURNS int
	AS 'MODULE_PATHNAME', 'rule_vocabulary' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION events_in(text) IS 'In a segment predicate: the user''s events of the feature (''*'': every event), all time';
COMMENT ON FUNCTION events_in(text, interval) IS 'In a segment predicate: the user''s events of the feature (''*'': every event) on the UTC days d with date(as_of) - N < d <= date(as_of), for a window of N whole days';
COMMENT ON FUNCTION days_in(text) IS 'In a segment predicate: the UTC days on which the user used the feature (''*'': was active), all time';
COMMENT ON FUNCTION days_in(text, interval) IS 'In a segment predicate: the UTC days on which the user used the feature (''*'': was active) among the last N days ending on date(as_of)';
COMMENT ON FUNCTION value_in(text) IS 'In a segment predicate: the sum of the values of the user''s events of the feature (''*'': every event), all time';
COMMENT ON FUNCTION value_in(text, interval) IS 'In a segment predicate: the sum of the values of the user''s events of the feature (''*'': every event) on the last N UTC days ending on date(as_of)';
COMMENT ON FUNCTION first_use(text) IS 'In a segment predicate: the time of the user''s first event of the feature (''*'': first_seen); NULL if never';
COMMENT ON FUNCTION last_use(text) IS 'In a segment predicate: the time of the user''s last event of the feature (''*'': last_seen); NULL if never';
COMMENT ON FUNCTION days_since(text) IS 'In a segment predicate: days from the user''s last event of the feature (''*'': any event) to as_of, fractional; NULL if never';
COMMENT ON FUNCTION periods_with(text, int, interval, int) IS 'In a segment predicate: how many of the last `periods` periods of `period` whole UTC days each, the last ending on date(as_of), hold at least min_events events of the feature (''*'': any event), e.g. periods_with(''login'', 3, ''7 days'', 5) >= 3';
-- Nested segments (DESIGN section 4): in_segment('lifecycle', 'engaged') is
-- true for the users the rules of scheme lifecycle put in segment engaged in
-- the same refresh ('unsegmented': in none of its segments).  Like the
-- vocabulary it parses inside a predicate only, recognised by its OID (the
-- extension's own function, src/predicate.c); both arguments are text
-- constants, and define_segment refuses an unknown scheme or segment and a
-- cycle.  Refresh runs the schemes' rules in dependency order.
CREATE FUNCTION in_segment(scheme text, segment text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'rule_in_segment' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION in_segment(text, text) IS 'In a segment predicate: whether the rules of the scheme put the user in the segment in the same refresh (''unsegmented'': in none of its segments); both arguments text constants; a scheme may not read itself, directly or through others';
CREATE FUNCTION _predicate_uses(predicate text, scores regclass, schema regnamespace, feature_names text[])
	RETURNS TABLE (scheme text, segment text)
	AS 'MODULE_PATHNAME', 'predicate_uses' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _predicate_uses(text, regclass, regnamespace, text[]) IS 'Internal: the (scheme, segment) pairs the calls of in_segment of a predicate that check_predicate accepts name, one row per call';
CREATE FUNCTION _predicate_columns(predicate text, scores regclass, schema regnamespace, feature_names text[])
	RETURNS text[]
	AS 'MODULE_PATHNAME', 'predicate_columns' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _predicate_columns(text, regclass, regnamespace, text[]) IS 'Internal: the columns of the scores table a predicate that check_predicate accepts reads, in column order';

-- STABLE: parses the rules against the catalog
CREATE FUNCTION _assign_segments(user_id anyelement, b behavior, current jsonb, as_of timestamptz,
	feature_names text[], rfm_breakpoints double precision[], schemes text[], rules text[], scores regclass,
	behavior_changed boolean, last_as_of timestamptz, last_breakpoints double precision[], attributes record DEFAULT NULL)
	RETURNS TABLE (segments jsonb, scheme text, from_segment text, from_entered_at timestamptz, to_segment text)
	AS 'MODULE_PATHNAME', 'assign_segments' LANGUAGE C STABLE PARALLEL SAFE COST 1000 ROWS 1;
COMMENT ON FUNCTION _assign_segments(anyelement, behavior, jsonb, timestamptz, text[], double precision[], text[], text[], regclass, boolean, timestamptz, double precision[], record) IS 'Internal: a user''s moves, rules[k] (checked like a predicate) deciding schemes[k] from the user''s scores and attributes (the user''s row of user_attributes, NULL for none; not STRICT for it: a NULL among the other arguments gives no row), the schemes in dependency order (in_segment reads what the rules of another scheme gave the same user): a row per scheme whose segment changes or that is gone (to_segment NULL), in byte order of the scheme names, the first with the user''s segments from now on, {"scheme": ["segment", "since"]}; no row when current holds them already, which (unless behavior_changed) is what the same rules gave at last_as_of with last_breakpoints';

-- ===================================================================
-- The managed pipeline: configuration
-- ===================================================================

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segmentation_admin') THEN
		CREATE ROLE segmentation_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segmentation_reader') THEN
		CREATE ROLE segmentation_reader NOLOGIN;
	END IF;
	-- per-user results (doc/privacy.md): a dashboard's role is a reader, never this
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segmentation_analyst') THEN
		CREATE ROLE segmentation_analyst NOLOGIN;
	END IF;
END $$;

CREATE TABLE sources (
	id serial PRIMARY KEY,
	source regclass NOT NULL UNIQUE,
	user_column name NOT NULL,
	time_column name NOT NULL,
	event_column name NOT NULL,
	value_column name,
	user_type regtype NOT NULL,
	tracked_by name NOT NULL DEFAULT current_user,
	tracked_at timestamptz NOT NULL DEFAULT now(),
	attnums int2[],
	column_types regtype[]
);
CREATE TABLE features (
	id int PRIMARY KEY CHECK (id >= 0),
	name text NOT NULL UNIQUE,
	event_names text[] NOT NULL CHECK (cardinality(event_names) > 0),
	condition text,
	checked_condition text,
	defined_by name,
	CHECK ((condition IS NULL) = (checked_condition IS NULL) AND (condition IS NULL OR defined_by IS NOT NULL))
);
CREATE TABLE segments (
	scheme text NOT NULL,
	name text NOT NULL,
	predicate text NOT NULL,
	checked_predicate text NOT NULL,
	cost double precision NOT NULL DEFAULT 0,
	priority int NOT NULL DEFAULT 100,
	description text,
	defined_at timestamptz NOT NULL DEFAULT now(),
	defined_by name,
	PRIMARY KEY (scheme, name)
);
CREATE TABLE refresh_runs (
	id bigserial PRIMARY KEY,
	started_at timestamptz NOT NULL,
	finished_at timestamptz,
	mode text NOT NULL CHECK (mode IN ('full', 'incremental')),
	as_of timestamptz NOT NULL,
	events_read bigint,
	users_changed bigint,
	transitions bigint,
	error text,
	error_source text,
	error_user_id text,
	error_event_time timestamptz,
	warnings text
);

-- feature names by id, as predicates and the scores take them: element
-- i names feature id i - 1 (NULL where no feature has that id)
CREATE FUNCTION _feature_names() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(array_agg(f.name ORDER BY g.id), '{}')
	FROM generate_series(0, (SELECT coalesce(max(x.id), -1) FROM segmentation.features x)) g(id)
	LEFT JOIN segmentation.features f ON f.id = g.id
	WHERE segmentation._coordinator_only('the features')
$$;
COMMENT ON FUNCTION _feature_names() IS 'Internal: the feature names by id (element i names feature id i - 1), what predicates resolve feature names with';

-- The definers count what is defined (segments, features, funnels) under a
-- lock, and must see what the last one committed: at REPEATABLE READ the
-- snapshot is older than the lock (review ten stored 200 segments in a
-- scheme that way, and every refresh failed)
CREATE FUNCTION _require_read_committed(caller text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION '% must run at isolation level READ COMMITTED', caller
			USING ERRCODE = 'active_sql_transaction',
			      DETAIL = format('The transaction is %s.', upper(current_setting('transaction_isolation'))),
			      HINT = 'Call it in its own transaction, or one begun with BEGIN ISOLATION LEVEL READ COMMITTED.';
	END IF;
END $$;
COMMENT ON FUNCTION _require_read_committed(text) IS 'Internal: refuses unless the transaction is READ COMMITTED (the definers count what is defined under a lock)';

-- What the rules cost per user together (src/predicate.c: each predicate's
-- cost is an upper bound on the bytes it reads): a user who matches no
-- segment of a scheme is checked against all of them, in every scheme
-- (review nine: 200 segments, each within its own bound, took a refresh of
-- 100 users from 0.01 s to 23 s).  At most 100 segments a scheme, 1,000,000
-- a scheme's together and 2,000,000 every scheme's.  With recost, each
-- segment's cost is computed again first, with the features defined now;
-- define_segment, define_feature (the trigger below) and refresh call it.
CREATE FUNCTION _check_rule_costs(recost boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	names text[];
	over record;
BEGIN
	IF recost AND to_regclass('segmentation.scores') IS NOT NULL THEN
		names := segmentation._feature_names();
		UPDATE segmentation.segments s SET cost = c.cost
		FROM (SELECT x.scheme, x.name, segmentation._predicate_cost(x.checked_predicate, 'segmentation.scores'::regclass,
		                                  'segmentation'::regnamespace, names) AS cost
		      FROM segmentation.segments x) c
		WHERE s.scheme = c.scheme AND s.name = c.name AND s.cost IS DISTINCT FROM c.cost;
	END IF;
	SELECT x.scheme, x.n, x.cost, x.total INTO over
	FROM (SELECT s.scheme, count(*) AS n, sum(s.cost) AS cost, sum(sum(s.cost)) OVER () AS total
	      FROM segmentation.segments s GROUP BY s.scheme) x
	WHERE x.n > 100 OR x.cost > 1000000 OR x.total > 2000000
	ORDER BY x.n > 100 DESC, x.cost DESC LIMIT 1;
	IF FOUND AND over.n > 100 THEN
		RAISE EXCEPTION 'scheme "%" would have % segments; at most 100 are allowed', over.scheme, over.n
			USING ERRCODE = 'program_limit_exceeded',
			      HINT = 'A user who matches none is checked against every one at each refresh; drop segments you no longer use.';
	ELSIF FOUND THEN
		RAISE EXCEPTION 'the rules would be too costly to run for every user'
			USING ERRCODE = 'program_limit_exceeded',
			      DETAIL = format('The segments of scheme "%s" would cost %s (at most 1000000), every scheme''s %s (at most 2000000), in bytes read per user at each refresh.',
			                      over.scheme, over.cost, over.total),
			      HINT = 'segmentation.segments.cost gives each predicate''s cost: drop or simplify costly segments (long strings, nested string functions, the vocabulary''s long windows and ''*'', which walks every feature''s days).';
	END IF;
END $$;
COMMENT ON FUNCTION _check_rule_costs(boolean) IS 'Internal: refuses segments beyond the rules'' bounds (100 a scheme; a cost per user of 1,000,000 a scheme and 2,000,000 in all), each segment''s cost computed again first when recost';

-- Nested segments: which segment names which (in_segment), from the checked
-- predicates; only those that spell in_segment are parsed
CREATE FUNCTION _segment_uses() RETURNS TABLE (scheme text, name text, used_scheme text, used_segment text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT DISTINCT s.scheme, s.name, u.scheme, u.segment
	FROM (SELECT segmentation._feature_names() AS names) f, segmentation.segments s,
	     segmentation._predicate_uses(s.checked_predicate, to_regclass('segmentation.scores'), 'segmentation'::regnamespace, f.names) u
	WHERE strpos(s.checked_predicate, 'in_segment') > 0
$$;
COMMENT ON FUNCTION _segment_uses() IS 'Internal: (scheme, name) of each segment whose predicate calls in_segment, with the scheme and segment it names';

-- Refuses uses of in_segment that name no segment, or that make a scheme
-- read itself, directly or through others.  With a scheme and name, the
-- segment just defined (its errors name it first); with NULLs, every
-- segment (refresh: rows written by hand).  A cycle is found by a walk from
-- each scheme that reads others, along the uses, which names the schemes on
-- the way back; the walk visits a scheme once (no path enumeration).
CREATE FUNCTION _check_segment_uses(scheme text, name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	bad record;
	uses record;
	froms text[];
	tos text[];
	start text;
	frontier text[];
	seen jsonb;
	closing text;
	step jsonb;
	path text[];
	node text;
BEGIN
	IF to_regclass('segmentation.scores') IS NULL THEN
		RETURN;
	END IF;
	-- every use, once (each predicate that calls in_segment is parsed)
	SELECT array_agg(u.scheme) AS schemes, array_agg(u.name) AS names, array_agg(u.used_scheme) AS used_schemes,
	       array_agg(u.used_segment) AS used_segments INTO uses
	FROM segmentation._segment_uses() u;
	-- scheme froms[i] reads scheme tos[i]
	SELECT array_agg(x.scheme), array_agg(x.used_scheme) INTO froms, tos
	FROM (SELECT DISTINCT u.scheme, u.used_scheme FROM unnest(uses.schemes, uses.used_schemes) u(scheme, used_scheme)) x;
	-- the segment of its own scheme, an unknown scheme, an unknown segment
	SELECT u.*, NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = u.used_scheme) AS no_scheme INTO bad
	FROM unnest(uses.schemes, uses.names, uses.used_schemes, uses.used_segments) u(scheme, name, used_scheme, used_segment)
	WHERE (_check_segment_uses.scheme IS NULL OR (u.scheme = _check_segment_uses.scheme AND u.name = _check_segment_uses.name))
	  AND (u.used_scheme = u.scheme
	       OR NOT EXISTS (SELECT 1 FROM segmentation.segments s
	                      WHERE s.scheme = u.used_scheme AND (s.name = u.used_segment OR u.used_segment = 'unsegmented')))
	ORDER BY u.scheme, u.name, u.used_scheme, u.used_segment LIMIT 1;
	IF FOUND AND bad.used_scheme = bad.scheme THEN
		RAISE EXCEPTION 'segment "%" of scheme "%" reads its own scheme: in_segment(%, %)', bad.name, bad.scheme,
			quote_literal(bad.used_scheme), quote_literal(bad.used_segment)
			USING ERRCODE = 'invalid_recursion',
			      DETAIL = 'The segments of a scheme are decided together: a predicate cannot depend on the scheme it decides.',
			      HINT = 'Put the segment in another scheme, or write the condition itself.';
	ELSIF FOUND AND bad.no_scheme THEN
		RAISE EXCEPTION 'segment "%" of scheme "%" names an unknown scheme "%" (in in_segment)', bad.name, bad.scheme, bad.used_scheme
			USING ERRCODE = 'undefined_object',
			      HINT = 'Name a scheme of segmentation.segments: define its segments first.';
	ELSIF FOUND THEN
		RAISE EXCEPTION 'segment "%" of scheme "%" names an unknown segment "%" of scheme "%" (in in_segment)',
			bad.name, bad.scheme, bad.used_segment, bad.used_scheme
			USING ERRCODE = 'undefined_object',
			      DETAIL = format('Scheme "%s" has segments %s, and unsegmented.', bad.used_scheme,
			                      (SELECT string_agg(format('"%s"', s.name), ', ' ORDER BY s.name)
			                       FROM segmentation.segments s WHERE s.scheme = bad.used_scheme)),
			      HINT = 'Name a segment of segmentation.segments, or unsegmented (users in none of the scheme''s segments).';
	END IF;
	-- a cycle through the scheme defined (the others had none), or any
	FOR start IN SELECT DISTINCT f FROM unnest(froms) f
	             WHERE _check_segment_uses.scheme IS NULL OR f = _check_segment_uses.scheme ORDER BY 1 LOOP
		-- breadth first from start; seen: scheme -> the scheme it was reached from
		frontier := ARRAY[start];
		seen := jsonb_build_object(start, NULL);
		closing := NULL;
		WHILE closing IS NULL AND cardinality(frontier) > 0 LOOP
			SELECT e.f INTO closing FROM unnest(froms, tos) e(f, t) WHERE e.f = ANY (frontier) AND e.t = start
			ORDER BY e.f LIMIT 1;
			EXIT WHEN closing IS NOT NULL;
			SELECT coalesce(jsonb_object_agg(x.t, x.f), '{}'), coalesce(array_agg(x.t), '{}') INTO step, frontier
			FROM (SELECT DISTINCT ON (e.t) e.t, e.f FROM unnest(froms, tos) e(f, t)
			      WHERE e.f = ANY (frontier) AND NOT seen ? e.t ORDER BY e.t, e.f) x;
			seen := seen || step;
		END LOOP;
		IF closing IS NOT NULL THEN
			path := ARRAY[start];
			node := closing;
			WHILE node <> start LOOP
				path := node || path;
				node := seen ->> node;
			END LOOP;
			path := start || path;
			RAISE EXCEPTION 'scheme "%" would read itself through in_segment: %', start,
				(SELECT string_agg(format('"%s"', p), ' reads ') FROM unnest(path) p)
				USING ERRCODE = 'invalid_recursion',
				      DETAIL = 'Refresh decides a scheme after the schemes it reads: a cycle has no order.',
				      HINT = 'Define one of those segments without in_segment, or drop it.';
		END IF;
	END LOOP;
END $$;
COMMENT ON FUNCTION _check_segment_uses(text, text) IS 'Internal: refuses a segment whose in_segment names its own scheme, an unknown scheme or segment, or makes a cycle of schemes (with NULLs: every segment)';

-- A feature a segment names cannot be renamed or deleted from under it
-- (there is no function to do either: only the tables' owner can, by hand)
CREATE FUNCTION _check_features_used() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
	names text[];
	e_message text;
BEGIN
	IF to_regclass('segmentation.scores') IS NULL OR NOT EXISTS (SELECT 1 FROM segmentation.segments) THEN
		RETURN NULL;
	END IF;
	names := segmentation._feature_names();
	FOR s IN SELECT * FROM segmentation.segments x ORDER BY x.scheme, x.name LOOP
		BEGIN
			PERFORM segmentation.check_predicate(s.predicate, 'segmentation.scores'::regclass,
				'segmentation'::regnamespace, names);
		EXCEPTION WHEN undefined_object THEN
			GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT;
			RAISE EXCEPTION 'cannot rename or delete a feature that segment "%" of scheme "%" names', s.name, s.scheme
				USING ERRCODE = 'dependent_objects_still_exist', DETAIL = e_message,
				      HINT = 'Drop the segment (segmentation.drop_segment) or define it again without that feature first.';
		END;
	END LOOP;
	-- ('*' and features_used cost more with every feature)
	PERFORM segmentation._check_rule_costs(true);
	RETURN NULL;
END $$;
COMMENT ON FUNCTION _check_features_used() IS 'Internal (trigger): refuses to rename or delete a feature that a segment predicate names, and a feature more than the rules'' cost bounds allow (_check_rule_costs)';
CREATE TRIGGER features_used AFTER INSERT OR UPDATE OF name OR DELETE ON features
	FOR EACH STATEMENT EXECUTE FUNCTION _check_features_used();
CREATE TRIGGER features_used_truncate AFTER TRUNCATE ON features
	FOR EACH STATEMENT EXECUTE FUNCTION _check_features_used();

SELECT pg_catalog.pg_extension_config_dump('sources', '');
SELECT pg_catalog.pg_extension_config_dump('sources_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('features', '');
SELECT pg_catalog.pg_extension_config_dump('segments', '');
SELECT pg_catalog.pg_extension_config_dump('refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('refresh_runs_id_seq', '');

-- ===================================================================
-- Where the state is (src/node.c)
-- ===================================================================

-- On a Citus worker the extension's tables are an empty copy (its own key,
-- no opted-out users, default settings): every function below that reads
-- the state calls this first, so that running there, directly or pushed
-- down by Citus, is an error and never an answer from the copy.
CREATE FUNCTION _coordinator_only(what text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'coordinator_only' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _coordinator_only(text) IS 'Internal: true, or an error naming what on a Citus worker, whose copy of the extension''s tables is not the state';

-- What every SECURITY DEFINER function that a role calls does first: on
-- Citus, the transaction's worker connections go back to their default
-- settings, now and for those opened later, so that no SET LOCAL of the
-- caller's (sent there with citus.propagate_set_commands = local) applies
-- to the queries the function runs there as the extension's owner; without
-- Citus, nothing (src/node.c)
CREATE FUNCTION _clean_citus_settings() RETURNS void
	AS 'MODULE_PATHNAME', 'clean_citus_settings' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION _clean_citus_settings() IS 'Internal: on Citus, has the transaction''s worker connections reset to their default settings (RESET ALL there, not here), so that a caller''s SET LOCAL does not reach the owner''s queries on the workers';

-- Settings: a value set with set_setting() overrides the default of a known
-- name; nothing else is read (names and values are checked by set_setting).
CREATE TABLE _setting_values (
	name text PRIMARY KEY,
	value text NOT NULL,
	set_by name NOT NULL DEFAULT current_user,
	set_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('_setting_values', '');
COMMENT ON TABLE _setting_values IS 'Internal: the settings changed with set_setting() (see the settings view)';

-- the known settings: name, type of the value, default, what it does
CREATE FUNCTION _setting_defaults() RETURNS TABLE (name text, type text, default_value text, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
VALUES ('refresh_statement_timeout', 'interval', '1 hour',
        'Longest a refresh may run (statement_timeout inside refresh); 0 for no limit'),
       ('refresh_lock_timeout', 'interval', '1 minute',
        'Longest a refresh waits for a lock on a tracked table or the extension''s tables (lock_timeout inside refresh); 0 for no limit'),
       ('min_cell_size', 'integer', '10',
        'Cells of fewer users show no count, rate or mean in the views and analyses segmentation_reader reads (suppressed = true; more cells are suppressed so that none can be recovered by differencing); 0 or 1: none'),
       ('history_retention', 'retention', 'none',
        'Segment moves (transitions, membership_history) older than this are purged by refresh; none: kept for ever'),
       ('analysis_horizon', 'horizon', '2 years',
        'How far back retention_matrix, lifecycle and stickiness go from the last refresh''s as_of: periods (and cohorts) that start earlier are left out; from 4 weeks to 3 years')
$$;
COMMENT ON FUNCTION _setting_defaults() IS 'Internal: the known settings, their types and defaults';

CREATE VIEW settings AS
SELECT d.name, coalesce(v.value, d.default_value) AS value, d.default_value, v.name IS NULL AS is_default,
       d.description, v.set_by::text AS set_by, v.set_at
FROM _setting_defaults() d LEFT JOIN _setting_values v ON v.name = d.name
WHERE _coordinator_only('the settings');  -- (a worker's copy shows defaults: review 31)
COMMENT ON VIEW settings IS 'Every setting of the extension with its value (set_setting() changes it)';
COMMENT ON COLUMN settings.name IS 'Setting';
COMMENT ON COLUMN settings.value IS 'Value in force';
COMMENT ON COLUMN settings.default_value IS 'Value when not set';
COMMENT ON COLUMN settings.is_default IS 'Not changed by set_setting()';
COMMENT ON COLUMN settings.description IS 'What it does';
COMMENT ON COLUMN settings.set_by IS 'Session (login) role that set it last';
COMMENT ON COLUMN settings.set_at IS 'When it was set last';

-- the value of a setting, for the extension's own functions
CREATE FUNCTION _setting(setting text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT coalesce(v.value, d.default_value)
FROM segmentation._setting_defaults() d LEFT JOIN segmentation._setting_values v ON v.name = d.name
WHERE segmentation._coordinator_only('the settings') AND d.name = setting
$$;
COMMENT ON FUNCTION _setting(text) IS 'Internal: the value of a setting';

-- an interval setting in milliseconds, as lock_timeout and the timers take it
CREATE FUNCTION _setting_ms(setting text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT (extract(epoch FROM segmentation._setting(setting)::interval) * 1000)::bigint
$$;
COMMENT ON FUNCTION _setting_ms(text) IS 'Internal: an interval setting in milliseconds';

CREATE FUNCTION set_setting(name text, value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET IntervalStyle = postgres AS $$
DECLARE
	known record;
	lo text;
	hi text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	-- (on a Citus worker it would set the worker's copy and say done: review 31)
	PERFORM segmentation._coordinator_only('the settings');
	SELECT * INTO known FROM segmentation._setting_defaults() d WHERE d.name = set_setting.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'unknown setting "%"', name USING ERRCODE = 'undefined_object',
			HINT = format('Settings are %s.', (SELECT string_agg(d.name, ', ' ORDER BY d.name) FROM segmentation._setting_defaults() d));
	END IF;
	IF value IS NULL THEN
		DELETE FROM segmentation._setting_values v WHERE v.name = set_setting.name;
		RETURN;
	END IF;
	IF known.type = 'integer' THEN
		IF value !~ '^\s*[0-9]{1,7}\s*$' OR btrim(value)::int > 1000000 THEN
			RAISE EXCEPTION 'setting "%" must be a whole number from 0 to 1000000, not "%"', name, value
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		value := (btrim(value)::int)::text;
	END IF;
	IF known.type = 'retention' AND lower(btrim(value)) = 'none' THEN
		value := 'none';
	ELSIF known.type IN ('interval', 'retention', 'horizon') THEN
		-- (the bounds of each type of interval, as the error says them)
		SELECT b.lo, b.hi INTO lo, hi
		FROM (VALUES ('interval', '0', '1 week'), ('retention', '1 day', '1000 years'), ('horizon', '4 weeks', '3 years')) b(type, lo, hi)
		WHERE b.type = known.type;
		BEGIN
			-- (a horizon with no part below 0: '70000 mons -2099972 days' is
			-- 28 days for < and >, but 84 years back from as_of; review 23 F4)
			IF value::interval < lo::interval OR value::interval > hi::interval
			   OR (known.type = 'horizon' AND (value::interval)::text LIKE '%-%') THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value';
			END IF;
			value := (value::interval)::text;
		EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_parameter_value OR interval_field_overflow THEN
			IF known.type = 'horizon' THEN
				RAISE EXCEPTION 'setting "%" must be an interval from % to %, not "%"', name, lo, hi, value
					USING ERRCODE = 'invalid_parameter_value',
					      DETAIL = 'No part of it (years, months, days, time) may be negative.';
			END IF;
			RAISE EXCEPTION 'setting "%" must be %an interval from % to %, not "%"', name,
				CASE WHEN known.type = 'retention' THEN 'none or ' ELSE '' END, lo, hi, value
				USING ERRCODE = 'invalid_parameter_value';
		END;
	END IF;
	INSERT INTO segmentation._setting_values AS v (name, value, set_by) VALUES (set_setting.name, value, session_user)
	ON CONFLICT ON CONSTRAINT _setting_values_pkey DO UPDATE SET value = EXCLUDED.value, set_by = EXCLUDED.set_by, set_at = now();
END $$;
COMMENT ON FUNCTION set_setting(text, text) IS 'Change a setting (NULL: back to its default); see the settings view';

COMMENT ON TABLE sources IS 'Tracked events tables: which columns hold the user, the time, the event name and the value';
COMMENT ON TABLE features IS 'Product features: each is one or more event names; ids are stable and used in behavior values';
COMMENT ON TABLE segments IS 'Segment definitions: inside a scheme each user is in the matching segment of highest priority, else in unsegmented';
COMMENT ON TABLE refresh_runs IS 'One row per refresh: times, mode, events read, users changed, transitions, error';
COMMENT ON COLUMN sources.source IS 'The events table';
COMMENT ON COLUMN sources.user_column IS 'Column with the user id';
COMMENT ON COLUMN sources.time_column IS 'Column with the event time (timestamptz)';
COMMENT ON COLUMN sources.event_column IS 'Column with the event name';
COMMENT ON COLUMN sources.value_column IS 'Column with the event value (numeric), or NULL';
COMMENT ON COLUMN sources.user_type IS 'Type of the user id, the same for every source';
COMMENT ON COLUMN sources.tracked_by IS 'Role that tracked the source (set by a trigger, not by the caller): refresh reads the source only while this role may';
COMMENT ON COLUMN features.event_names IS 'Event names that count as a use of this feature';
COMMENT ON COLUMN features.condition IS 'Event condition as written (NULL: none): a boolean expression over the tracked tables'' columns; an event counts for the feature when its name is listed and the condition holds on its row';
COMMENT ON COLUMN features.checked_condition IS 'The condition as checked and deparsed against the first tracked table; refresh checks condition again against each tracked table and runs what the checker returns';
COMMENT ON COLUMN features.defined_by IS 'Session role that defined the condition (define_feature records session_user): refresh runs the condition only while this role may read each column it names in every tracked table';
COMMENT ON COLUMN segments.predicate IS 'The predicate as written';
COMMENT ON COLUMN segments.checked_predicate IS 'The predicate as checked and deparsed: what refresh evaluates';
COMMENT ON COLUMN segments.defined_by IS 'Session role that defined the segment (define_segment records session_user): refresh runs a predicate that reads user attributes only while this role may read each of them in the attribute table';
COMMENT ON COLUMN segments.cost IS 'What the predicate costs per user at refresh, in bytes read (an upper bound, which grows with the features): at most 200,000, at most 1,000,000 over a scheme''s segments and 2,000,000 over every scheme''s (_check_rule_costs)';
COMMENT ON COLUMN refresh_runs.events_read IS 'Events merged or recomputed by this run';
COMMENT ON COLUMN refresh_runs.users_changed IS 'Users whose behavior changed';
COMMENT ON COLUMN refresh_runs.transitions IS 'Segment moves recorded in transitions';
COMMENT ON COLUMN sources.column_types IS 'Types of the user, time, event and value columns when tracked: a tracked column may not change type';
COMMENT ON COLUMN sources.attnums IS 'Column numbers of the user, time, event and value columns: what capture follows when a column is renamed';
COMMENT ON COLUMN refresh_runs.error_source IS 'The tracked table the error came from, when one did';
COMMENT ON COLUMN refresh_runs.error_user_id IS 'The user whose event or segment rule caused the error, when one did';
COMMENT ON COLUMN refresh_runs.error_event_time IS 'The time of the event that caused the error, when one did';
COMMENT ON COLUMN refresh_runs.error IS 'Error text when the run failed (the previous state is kept)';
COMMENT ON COLUMN refresh_runs.warnings IS 'What a successful run left out, one a line (an experiment whose readout could not be computed, and why); NULL: nothing';

-- the score columns a predicate may use, and that user_scores shows
CREATE FUNCTION score_columns() RETURNS TABLE (name text, type text, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
VALUES ('first_seen', 'timestamptz', 'First event'),
       ('last_seen', 'timestamptz', 'Last event'),
       ('recency_days', 'double precision', 'Days since the last event, as of the refresh'),
       ('tenure_days', 'double precision', 'Days since the first event, as of the refresh'),
       ('frequency', 'bigint', 'Number of events'),
       ('monetary', 'double precision', 'Sum of event values'),
       ('active_days', 'integer', 'Distinct active UTC days, all time'),
       ('active_days_7', 'integer', 'Active days in the 7 days up to the refresh'),
       ('active_days_28', 'integer', 'Active days in the 28 days up to the refresh'),
       ('active_days_prev_28', 'integer', 'Active days in the 28 days before those'),
       ('current_streak', 'integer', 'Consecutive active days up to the refresh'),
       ('decayed_activity', 'double precision', 'Active days weighted by a 7-day half-life'),
       ('features_adopted', 'integer', 'Defined features used at least once'),
       ('adoption_rate', 'double precision', 'Share of the defined features used at least once'),
       ('r_score', 'integer', 'Recency quintile score, 5 = most recent'),
       ('f_score', 'integer', 'Frequency quintile score, 5 = most frequent'),
       ('m_score', 'integer', 'Monetary quintile score, 5 = highest value'),
       ('rfm_cell', 'text', 'The three scores, e.g. 545'),
       ('features_used', 'text[]', 'Names of the defined features used (predicates only; not in user_scores)')
$$;
COMMENT ON FUNCTION score_columns() IS 'The columns of segmentation.scores (besides user_id): what segment predicates may use';

-- tracked_by is whoever inserts or updates the row: a plain (not SECURITY
-- DEFINER) trigger sees the real current_user, so it cannot be forged.
-- A superuser's row keeps the role it names (pg_restore inserts the rows of
-- a dump as a superuser: they keep who configured them).
CREATE FUNCTION _stamp_tracked_by() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.tracked_by IS NULL OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		NEW.tracked_by := current_user;
	END IF;
	RETURN NEW;
END $$;
COMMENT ON FUNCTION _stamp_tracked_by() IS 'Internal: records which role tracked a source';
CREATE TRIGGER stamp_tracked_by BEFORE INSERT OR UPDATE ON sources
	FOR EACH ROW EXECUTE FUNCTION _stamp_tracked_by();

-- event name -> feature id, for the features without a condition: an event
-- name belongs to one of them at most (a feature with a condition may list
-- names that others list: refresh evaluates it per row, _sources_sql)
CREATE VIEW _feature_map AS
	SELECT e.event, f.id FROM features f, unnest(f.event_names) AS e(event) WHERE f.condition IS NULL;
COMMENT ON VIEW _feature_map IS 'Internal: which feature without a condition each event name counts for';

-- ===================================================================
-- Tables of other roles that the extension reads with elevated rights
-- ===================================================================

-- Refresh and the experiment readout read tables that other roles own
-- (tracked events, assignments) with the rights of the extension's owner.
-- Reading a plain table runs nothing of its owner's, except through what
-- this refuses: a view or foreign table (its definition or wrapper), an
-- index or partition key whose operator class is not built in (its support
-- functions run during a scan), and row-level security that would hide rows
-- from the role that configured the read (its readers would learn them).
-- Checked before every read: config and catalogs may have changed since.
--
-- Run with a superuser's rights (refresh, the readout), it first locks the
-- relation and its partitions and children in SHARE UPDATE EXCLUSIVE mode,
-- until the end of the transaction: the application's writes go on, but
-- nothing this checks can change between the check and the read (CREATE
-- INDEX, CREATE STATISTICS, constraints, triggers, ATTACH, INHERIT, ALTER all
-- wait), so an owner cannot add what it refuses while the read waits for its
-- lock.
-- (src/guard.c: locks by OID, and runs one statement that may plan only
-- the relations it is given, the extension's own and temporary ones)
CREATE FUNCTION _lock_relation(rel oid) RETURNS boolean
	AS 'MODULE_PATHNAME', 'lock_relation' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION _lock_relation(oid) IS 'Internal: locks a relation by OID in SHARE UPDATE EXCLUSIVE mode to the end of the transaction; false when it no longer exists';
CREATE FUNCTION _execute_guarded(sql text, allowed oid[], param bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'execute_guarded' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION _execute_guarded(sql text, allowed oid[], param text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'execute_guarded' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION _execute_guarded(text, oid[], text) IS 'Internal: _execute_guarded with a text parameter';
COMMENT ON FUNCTION _execute_guarded(text, oid[], bigint) IS 'Internal: runs one statement ($1 = param) in which only the allowed relations, the extension''s own and this session''s temporary ones may be planned; the rows it processed';

-- What in a table (or the tree under it) would run code that is not built
-- in when the table is planned or read: a member that is not a table, an
-- access method, operator class, or an index, statistics, constraint or
-- partition key that calls a function, operator or type not built in.  NULL
-- when nothing does.  (An invalid index, which CREATE INDEX CONCURRENTLY
-- leaves when it fails or is refused at its end, is never planned: the
-- planner skips it, and reading runs none of its code.)  _check_readable
-- refuses such a table; the DDL event trigger of the attribute table
-- refuses the command that makes one.
CREATE FUNCTION _foreign_code(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE tree(oid) AS (
	SELECT rel::oid
	UNION
	SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid)
SELECT format('%s is %s', c.oid::regclass,
              CASE WHEN c.relkind NOT IN ('r', 'p') THEN 'not a table'
                   ELSE 'indexed, partitioned, constrained or given statistics with an operator class, '
                        'access method, function, operator or type that is not built in' END)
FROM tree t JOIN pg_class c ON c.oid = t.oid
WHERE c.relkind NOT IN ('r', 'p')
   OR c.relam >= 16384
   OR EXISTS (SELECT 1 FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
              WHERE x.indrelid = c.oid AND x.indisvalid
                AND (ic.relam >= 16384 OR EXISTS (SELECT 1 FROM unnest(x.indclass::oid[]) oc WHERE oc >= 16384)))
   OR EXISTS (SELECT 1 FROM pg_partitioned_table pt
              WHERE pt.partrelid = c.oid AND EXISTS (SELECT 1 FROM unnest(pt.partclass::oid[]) oc WHERE oc >= 16384))
   -- the planner folds index expressions and predicates, statistics
   -- expressions, CHECK constraints and partition keys: what they call
   -- (their dependencies) must be built in
   OR EXISTS (SELECT 1 FROM pg_depend d
              WHERE d.refobjid >= 16384
                AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_type'::regclass)
                AND ((d.classid = 'pg_class'::regclass AND d.objsubid = 0
                      AND (d.objid = c.oid OR d.objid IN (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = c.oid AND x.indisvalid)))
                     OR (d.classid = 'pg_statistic_ext'::regclass
                         AND d.objid IN (SELECT st.oid FROM pg_statistic_ext st WHERE st.stxrelid = c.oid))
                     OR (d.classid = 'pg_constraint'::regclass
                         AND d.objid IN (SELECT k.oid FROM pg_constraint k WHERE k.conrelid = c.oid))))
LIMIT 1
$$;
COMMENT ON FUNCTION _foreign_code(regclass) IS 'Internal: what in a table (or its partitions and children) would run code that is not built in when it is read (an access method, operator class, or the dependencies of an index, statistics, constraint or partition key), or NULL';

CREATE FUNCTION _check_readable(rel regclass, reader name, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	top pg_class;
	bad text;
	part oid;
	locked oid[];
	fresh oid[];
BEGIN
	IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		-- the catalog this reads must be the one the planner will use: in a
		-- REPEATABLE READ or SERIALIZABLE transaction it is an older snapshot
		IF current_setting('transaction_isolation') <> 'read committed' THEN
			RAISE EXCEPTION 'the % % is read only in a READ COMMITTED transaction', what, rel
				USING ERRCODE = 'object_not_in_prerequisite_state',
				      HINT = 'Call it outside a REPEATABLE READ or SERIALIZABLE transaction.';
		END IF;
		-- nothing is locked that the reader may not read
		IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = rel AND c.relkind IN ('r', 'p'))
		   OR NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = reader)
		   OR NOT has_table_privilege(reader, rel, 'SELECT') THEN
			NULL;	-- refused below, before anything is locked
		ELSE
			-- Lock each relation before listing its children, level by level
			-- (find_all_inheritors does the same): a child or grandchild
			-- cannot be attached or inherited, nor anything added to one,
			-- while it is not yet locked and already listed.
			-- (by OID: LOCK TABLE would look the name up again, and a schema
			-- rename, which locks no table, could point it elsewhere)
			IF NOT segmentation._lock_relation(rel) THEN
				RAISE EXCEPTION 'the % no longer exists (it was dropped)', what USING ERRCODE = 'undefined_table';
			END IF;
			locked := ARRAY[rel::oid];
			LOOP
				SELECT array_agg(DISTINCT i.inhrelid) INTO fresh FROM pg_inherits i
				WHERE i.inhparent = ANY (locked) AND NOT i.inhrelid = ANY (locked);
				EXIT WHEN fresh IS NULL;
				FOREACH part IN ARRAY fresh LOOP
					IF NOT segmentation._lock_relation(part) THEN
						RAISE EXCEPTION 'the % % changed while it was being read', what, rel
							USING ERRCODE = 'object_not_in_prerequisite_state';
					END IF;
				END LOOP;
				locked := locked || fresh;
			END LOOP;
		END IF;
	END IF;
	SELECT * INTO top FROM pg_class c WHERE c.oid = rel;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the % no longer exists (it was dropped)', what USING ERRCODE = 'undefined_table';
	END IF;
	IF top.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'the % % is not a table', what, rel USING ERRCODE = 'wrong_object_type',
			HINT = 'Only plain and partitioned tables are read: a view or foreign table would run its owner''s code with the reader''s rights.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = reader) OR NOT has_table_privilege(reader, rel, 'SELECT')
	   OR NOT has_schema_privilege(reader, top.relnamespace, 'USAGE') THEN
		RAISE EXCEPTION 'role % may not read the % %', reader, what, rel USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF top.relrowsecurity AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = reader AND (r.rolsuper OR r.rolbypassrls))
	   AND (top.relforcerowsecurity OR NOT pg_has_role(reader, top.relowner, 'USAGE')) THEN
		RAISE EXCEPTION 'row-level security on the % % hides rows from role %', what, rel, reader
			USING ERRCODE = 'insufficient_privilege',
			      HINT = 'The extension would show every row to its readers: configure it as a role that sees every row (the table''s owner or a role with BYPASSRLS), or disable row-level security.';
	END IF;
	bad := segmentation._foreign_code(rel);
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'the % % cannot be read safely: %', what, rel, bad USING ERRCODE = 'wrong_object_type',
			HINT = 'Only built-in access methods and operator classes run while the extension reads it.';
	END IF;
	-- A table Citus manages is read from its shards, on the nodes that hold
	-- them, where their owners can change them and the coordinator cannot
	-- check it: only a superuser's, in a superuser's schema (_citus_owners)
	IF segmentation._citus_member(rel) IS NOT NULL THEN
		bad := segmentation._citus_owners(rel);
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'the % % cannot be read safely: Citus manages it, and %', what, rel, bad
				USING ERRCODE = 'insufficient_privilege',
				      HINT = 'Have a superuser own it and its schema, or keep it a plain table on the coordinator.';
		END IF;
	END IF;
END $$;
COMMENT ON FUNCTION _check_readable(regclass, name, text) IS 'Internal: refuses to read a relation whose reading could run code of a less privileged role or leak rows hidden by row-level security';
