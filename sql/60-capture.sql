-- Capture of the tracked sources, and the public pipeline functions.

-- The capture triggers of one source: inserted rows are queued for the next
-- refresh; users whose rows are updated or deleted are recomputed by it; a
-- truncate makes it full.  Statement triggers with transition tables, so a
-- COPY or a multi-row INSERT costs one INSERT ... SELECT.
CREATE FUNCTION _install_capture(source_id int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	fn text := format('segmentation.%I', '_capture_' || source_id);
BEGIN
	SELECT * INTO STRICT s FROM segmentation.sources WHERE id = source_id;
	IF NOT has_table_privilege(s.tracked_by, s.source, 'SELECT') OR NOT has_table_privilege(s.tracked_by, s.source, 'TRIGGER') THEN
		RAISE EXCEPTION 'role % may not track %', s.tracked_by, s.source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Tracking needs SELECT and TRIGGER on the events table.';
	END IF;
	EXECUTE format($f$
		CREATE FUNCTION %1$s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
		BEGIN
			IF TG_OP = 'INSERT' THEN
				INSERT INTO segmentation.pending_events (source_id, user_id, ts, event, value)
				SELECT %2$s, n.%3$I, n.%4$I, n.%5$I::text, %6$s FROM new_rows n;
			ELSIF TG_OP = 'UPDATE' THEN
				INSERT INTO segmentation.dirty_users (user_id)
				SELECT o.%3$I FROM old_rows o UNION SELECT n.%3$I FROM new_rows n;
			ELSIF TG_OP = 'DELETE' THEN
				INSERT INTO segmentation.dirty_users (user_id) SELECT DISTINCT o.%3$I FROM old_rows o;
			ELSE
				INSERT INTO segmentation.truncated (source_id) VALUES (%2$s);
			END IF;
			RETURN NULL;
		END $body$;
		CREATE TRIGGER segmentation_capture_insert AFTER INSERT ON %7$s
			REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
		CREATE TRIGGER segmentation_capture_update AFTER UPDATE ON %7$s
			REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
		CREATE TRIGGER segmentation_capture_delete AFTER DELETE ON %7$s
			REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
		CREATE TRIGGER segmentation_capture_truncate AFTER TRUNCATE ON %7$s
			FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
	$f$, fn, source_id, s.user_column, s.time_column, s.event_column,
		CASE WHEN s.value_column IS NULL THEN 'NULL::float8' ELSE format('n.%I::float8', s.value_column) END,
		s.source);
	EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn, format('Internal: captures changes of %s for refresh', s.source));
	-- the rows already there are read by the next refresh, which is full
	INSERT INTO segmentation.truncated (source_id) VALUES (source_id);
END $$;
COMMENT ON FUNCTION _install_capture(int) IS 'Internal: creates the change-capture triggers of a tracked source';

-- The union of all tracked sources as (user_id, ts, event, value), checking
-- that each one's tracker may still read it.
CREATE FUNCTION _sources_sql() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
	parts text[] := '{}'::text[];
BEGIN
	FOR s IN SELECT * FROM segmentation.sources ORDER BY id LOOP
		IF NOT has_table_privilege(s.tracked_by, s.source, 'SELECT') THEN
			RAISE EXCEPTION 'role % that tracked % may no longer read it', s.tracked_by, s.source
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		parts := parts || format('SELECT t.%I AS user_id, t.%I AS ts, t.%I::text AS event, %s AS value FROM %s t',
			s.user_column, s.time_column, s.event_column,
			CASE WHEN s.value_column IS NULL THEN 'NULL::float8' ELSE format('t.%I::float8', s.value_column) END,
			s.source);
	END LOOP;
	RETURN array_to_string(parts, ' UNION ALL ');
END $$;
COMMENT ON FUNCTION _sources_sql() IS 'Internal: SQL of the union of the tracked sources';

-- ===================================================================
-- Public pipeline functions
-- ===================================================================

CREATE FUNCTION track(source regclass, user_column name, time_column name, event_column name, value_column name DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kind "char";
	user_t regtype;
	existing regtype;
	id int;
	col name;
	t regtype;
BEGIN
	SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = source;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot track %: it is not a table', source
			USING ERRCODE = 'wrong_object_type', HINT = 'Track the table the application inserts into, not a view.';
	END IF;
	IF NOT has_table_privilege(source, 'SELECT') OR NOT has_table_privilege(source, 'TRIGGER') THEN
		RAISE EXCEPTION 'permission denied to track %', source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Tracking needs SELECT and TRIGGER on the events table.';
	END IF;
	FOREACH col IN ARRAY ARRAY[user_column, time_column, event_column, value_column] LOOP
		CONTINUE WHEN col IS NULL;
		SELECT a.atttypid::regtype INTO t FROM pg_attribute a
		WHERE a.attrelid = source AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF t IS NULL THEN
			RAISE EXCEPTION 'column "%" does not exist in %', col, source USING ERRCODE = 'undefined_column';
		END IF;
		IF col = time_column AND t <> 'timestamptz'::regtype THEN
			RAISE EXCEPTION 'time column "%" of % is %, not timestamptz', col, source, t
				USING ERRCODE = 'datatype_mismatch', HINT = 'Event times must be timestamp with time zone.';
		END IF;
		IF col = event_column AND t NOT IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype, 'bpchar'::regtype) THEN
			RAISE EXCEPTION 'event column "%" of % is %, not text', col, source, t USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = value_column AND t NOT IN ('float8'::regtype, 'float4'::regtype, 'numeric'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
			RAISE EXCEPTION 'value column "%" of % is %, not a number', col, source, t USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = user_column THEN
			user_t := t;
		END IF;
	END LOOP;
	SELECT s.user_type INTO existing FROM segmentation.sources s LIMIT 1;
	IF existing IS NOT NULL AND existing <> user_t THEN
		RAISE EXCEPTION 'user column "%" of % is %, but tracked sources use %', user_column, source, user_t, existing
			USING ERRCODE = 'datatype_mismatch', HINT = 'Sources are unioned by user id, so every source needs the same user id type.';
	END IF;
	IF EXISTS (SELECT FROM segmentation.sources s WHERE s.source = track.source) THEN
		RAISE EXCEPTION '% is already tracked', source USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO segmentation.sources (source, user_column, time_column, event_column, value_column, user_type)
	VALUES (source, user_column, time_column, event_column, value_column, user_t)
	RETURNING sources.id INTO id;
	PERFORM segmentation._create_state(user_t);
	PERFORM segmentation._install_capture(id);
END $$;
COMMENT ON FUNCTION track(regclass, name, name, name, name) IS 'Track an events table: its inserts, updates, deletes and truncates reach the next refresh; the first refresh after it is full';

CREATE FUNCTION define_feature(name text, event_names text[]) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fid int;
	clash record;
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'argument "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF event_names IS NULL OR cardinality(event_names) = 0 OR array_position(event_names, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "event_names" must list at least one event name, without NULLs' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT m.event, f.name AS feature INTO clash FROM segmentation._feature_map m JOIN segmentation.features f ON f.id = m.id
	WHERE m.event = ANY (define_feature.event_names) AND f.name <> define_feature.name LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'event "%" already counts for feature "%"', clash.event, clash.feature
			USING ERRCODE = 'duplicate_object', HINT = 'An event name belongs to one feature.';
	END IF;
	UPDATE segmentation.features f SET event_names = define_feature.event_names WHERE f.name = define_feature.name RETURNING f.id INTO fid;
	IF fid IS NULL THEN
		INSERT INTO segmentation.features (id, name, event_names)
		SELECT coalesce(max(f.id) + 1, 0), define_feature.name, define_feature.event_names FROM segmentation.features f
		RETURNING features.id INTO fid;
	END IF;
	-- stored behaviors carry feature ids: the next refresh recomputes them
	IF to_regclass('segmentation.truncated') IS NOT NULL THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
	RETURN fid;
END $$;
COMMENT ON FUNCTION define_feature(text, text[]) IS 'Define (or redefine) a product feature as one or more event names; returns its stable id; the next refresh is full';

CREATE FUNCTION define_segment(scheme text, name text, predicate text, priority int DEFAULT 100, description text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	checked text;
BEGIN
	IF scheme IS NULL OR scheme = '' OR name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'arguments "scheme" and "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF name = 'unsegmented' THEN
		RAISE EXCEPTION 'segment name "unsegmented" is reserved' USING ERRCODE = 'reserved_name',
			HINT = 'Users that match no predicate of a scheme are in unsegmented.';
	END IF;
	IF scheme = 'user_id' OR EXISTS (SELECT FROM segmentation.score_columns() c WHERE c.name = scheme) THEN
		RAISE EXCEPTION 'scheme name "%" is taken by a column of user_scores', scheme USING ERRCODE = 'reserved_name';
	END IF;
	IF predicate IS NULL OR priority IS NULL THEN
		RAISE EXCEPTION 'arguments "predicate" and "priority" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF to_regclass('segmentation.scores') IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Call segmentation.track(...) first: predicates are checked against its user id type.';
	END IF;
	checked := segmentation.check_predicate(predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace);
	INSERT INTO segmentation.segments AS s (scheme, name, predicate, checked_predicate, priority, description)
	VALUES (scheme, name, predicate, checked, priority, description)
	ON CONFLICT ON CONSTRAINT segments_pkey DO UPDATE
		SET predicate = EXCLUDED.predicate, checked_predicate = EXCLUDED.checked_predicate,
		    priority = EXCLUDED.priority, description = EXCLUDED.description, defined_at = now();
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION define_segment(text, text, text, int, text) IS 'Define (or replace) a segment of a scheme: a checked boolean predicate over the columns of segmentation.scores; the highest priority match wins';

CREATE FUNCTION drop_segment(scheme text, name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM segmentation.segments s WHERE s.scheme = drop_segment.scheme AND s.name = drop_segment.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'segment "%" of scheme "%" does not exist', name, scheme USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION drop_segment(text, text) IS 'Drop a segment; its users move at the next refresh';
