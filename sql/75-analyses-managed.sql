-- The managed analyses (DESIGN section 5): retention_matrix, lifecycle,
-- stickiness and validate_segments.  They are computed from the stored
-- behaviors (segmentation.profiles: active days are kept exactly, so no
-- event is scanned again) and membership_history, which their callers
-- cannot read: SECURITY DEFINER, search_path pinned, every argument checked
-- before anything is read, and the queries constant text with the arguments
-- as parameters (nothing is interpolated).  doc/analyses.md explains them.
--
-- Refresh keeps their counts (_analysis_rows: per period, scheme, segment
-- and period start, users; src/analyses.c counts them in one pass over the
-- users), so that a call reads a few thousand counts, not every behavior:
-- lifecycle and stickiness by day, week and month, retention by week and
-- month.  Retention by day (its cells grow with the square of the days) and
-- retention by feature are counted when called, by the same code.
-- validate_segments reads the behaviors of the members at its as_of.
--
-- A user's segment for a period (or cohort) is their segment in the scheme
-- at the period's first instant (00:00 UTC of its first day): the stay in
-- force then, else the first stay they entered after it, else (unknown).
-- Every query below finds it the same way: a user's stays, in the order they
-- were entered, cover [exit of the previous stay, own exit), the first one
-- from the beginning of time and the current one to the end.

-- Consecutive periods have consecutive indexes: days since 2000-01-01, ISO
-- weeks since the one of 2000-01-03, months since January of year 0
-- (the year 1 BC: PostgreSQL's calendar has no year 0).
CREATE FUNCTION _period_index(d date, period text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE period
       WHEN 'day' THEN d OPERATOR(pg_catalog.-) '2000-01-01'::pg_catalog.date
       WHEN 'week' THEN (d OPERATOR(pg_catalog.-) '2000-01-03'::pg_catalog.date) OPERATOR(pg_catalog./) 7
       WHEN 'month' THEN (CASE WHEN pg_catalog.date_part('year', d) OPERATOR(pg_catalog.<) 0::pg_catalog.float8
                               THEN pg_catalog.date_part('year', d) OPERATOR(pg_catalog.+) 1::pg_catalog.float8
                               ELSE pg_catalog.date_part('year', d) END OPERATOR(pg_catalog.*) 12::pg_catalog.float8
                          OPERATOR(pg_catalog.+) pg_catalog.date_part('month', d) OPERATOR(pg_catalog.-) 1::pg_catalog.float8)::pg_catalog.int4
       END
$$;
COMMENT ON FUNCTION _period_index(date, text) IS 'Internal: index of the period (day, week, month) that starts on d; consecutive periods have consecutive indexes';

-- The first day of the period of index i (the inverse of _period_index)
CREATE FUNCTION _period_start(i int, period text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE period
       WHEN 'day' THEN '2000-01-01'::pg_catalog.date OPERATOR(pg_catalog.+) i
       WHEN 'week' THEN '2000-01-03'::pg_catalog.date OPERATOR(pg_catalog.+) (i OPERATOR(pg_catalog.*) 7)
       WHEN 'month' THEN pg_catalog.make_date(
           CASE WHEN pg_catalog.div(i, 12) OPERATOR(pg_catalog.<=) 0
                THEN pg_catalog.floor(i::pg_catalog.numeric OPERATOR(pg_catalog./) 12)::pg_catalog.int4 OPERATOR(pg_catalog.-) 1
                ELSE pg_catalog.floor(i::pg_catalog.numeric OPERATOR(pg_catalog./) 12)::pg_catalog.int4 END,
           pg_catalog.mod(pg_catalog.mod(i, 12) OPERATOR(pg_catalog.+) 12, 12) OPERATOR(pg_catalog.+) 1, 1)
       END
$$;
COMMENT ON FUNCTION _period_start(int, text) IS 'Internal: first day of the period (day, week, month) of index i (the inverse of _period_index)';

-- The as_of of the last refresh: NULL before the first track() or refresh
-- (score_context is made by the first track())
CREATE FUNCTION _last_as_of() RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	last_as_of timestamptz;
BEGIN
	PERFORM segmentation._coordinator_only('the last refresh');
	IF to_regclass('segmentation.score_context') IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE 'SELECT c.as_of FROM segmentation.score_context c' INTO last_as_of;
	RETURN last_as_of;
END $$;
COMMENT ON FUNCTION _last_as_of() IS 'Internal: the as_of of the last refresh (NULL before the first track or refresh)';

-- Checks the arguments every analysis shares, and returns the first day of
-- the period of the last refresh's as_of: the last period the analyses
-- report.  NULL when there is nothing to analyze yet (no track(), or no
-- refresh).
CREATE FUNCTION _analysis_last_period(period text, scheme text) RETURNS date
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF period IS NULL OR period NOT IN ('day', 'week', 'month') THEN
		RAISE EXCEPTION 'argument "period" must be day, week or month' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('Got %s.', coalesce(quote_literal(period), 'NULL'));
	END IF;
	IF scheme IS NOT NULL AND NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = _analysis_last_period.scheme) THEN
		RAISE EXCEPTION 'argument "scheme": there is no scheme %', quote_literal(scheme) USING ERRCODE = 'undefined_object',
			HINT = 'Pass the name of a scheme of segmentation.define_segment(), or NULL for every user together.';
	END IF;
	RETURN date_trunc(period, segmentation._last_as_of() AT TIME ZONE 'UTC')::date;
END $$;
COMMENT ON FUNCTION _analysis_last_period(text, text) IS 'Internal: checks period and scheme; the first day of the period of the last refresh''s as_of (NULL before the first track or refresh)';

CREATE FUNCTION _analysis_feature(argname text, feature text) RETURNS int
LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id int;
BEGIN
	IF feature = '*' THEN
		RETURN -1;
	END IF;
	SELECT f.id INTO id FROM segmentation.features f WHERE f.name = feature;
	IF id IS NULL THEN
		RAISE EXCEPTION 'argument "%": there is no feature %', argname, quote_literal(feature)
			USING ERRCODE = 'undefined_object',
			      HINT = 'Pass the name of a feature of segmentation.define_feature(), or ''*'' for any event.';
	END IF;
	RETURN id;
END $$;
COMMENT ON FUNCTION _analysis_feature(text, text) IS 'Internal: the id of a feature named in an analysis argument (-1 for ''*'', any event); an error naming the argument for an unknown name';

-- ===================================================================
-- The counts: _analysis_cells and _analysis_rows
-- ===================================================================

CREATE TYPE _analysis_cell_arrays AS (periods int2[], schemes int4[], segments text[], kinds int2[], starts date[],
	ks int4[], users int8[]);
COMMENT ON TYPE _analysis_cell_arrays IS 'Internal: the cells _analysis_cells counted, as parallel arrays';
-- The state is a real type, not internal, so that parallel plans and Citus
-- can split the aggregate (Citus ships states through the type's text form
-- and refuses internal ones); in memory an expanded object updated in place
CREATE TYPE _analysis_cells_state;
CREATE FUNCTION _analysis_cells_state_in(cstring) RETURNS _analysis_cells_state
	AS 'MODULE_PATHNAME', 'analysis_cells_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _analysis_cells_state_out(_analysis_cells_state) RETURNS cstring
	AS 'MODULE_PATHNAME', 'analysis_cells_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _analysis_cells_state_recv(internal) RETURNS _analysis_cells_state
	AS 'MODULE_PATHNAME', 'analysis_cells_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _analysis_cells_state_send(_analysis_cells_state) RETURNS bytea
	AS 'MODULE_PATHNAME', 'analysis_cells_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE _analysis_cells_state (
	INPUT = _analysis_cells_state_in,
	OUTPUT = _analysis_cells_state_out,
	RECEIVE = _analysis_cells_state_recv,
	SEND = _analysis_cells_state_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);
COMMENT ON TYPE _analysis_cells_state IS 'Internal: the state of _analysis_cells, the users counted per cell (a real type so that distributed plans can ship it)';
COMMENT ON FUNCTION _analysis_cells_state_in(cstring) IS 'Internal: text input of _analysis_cells_state: \x and the hex of its binary form, every field checked';
COMMENT ON FUNCTION _analysis_cells_state_out(_analysis_cells_state) IS 'Internal: text output of _analysis_cells_state: \x and the hex of its binary form';
COMMENT ON FUNCTION _analysis_cells_state_recv(internal) IS 'Internal: binary input of _analysis_cells_state, checked like text input';
COMMENT ON FUNCTION _analysis_cells_state_send(_analysis_cells_state) IS 'Internal: binary output of _analysis_cells_state';
CREATE FUNCTION _analysis_cells_trans(_analysis_cells_state, behavior, jsonb, timestamptz[], int4[], text[], text[], timestamptz,
	text[], text[], int4, int4, timestamptz) RETURNS _analysis_cells_state
	AS 'MODULE_PATHNAME', 'analysis_cells_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _analysis_cells_trans(_analysis_cells_state, behavior, jsonb, timestamptz[], int4[], text[], text[], timestamptz, text[], text[], int4, int4, timestamptz) IS 'Internal: transition function of _analysis_cells';
CREATE FUNCTION _analysis_cells_final(_analysis_cells_state) RETURNS _analysis_cell_arrays
	AS 'MODULE_PATHNAME', 'analysis_cells_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _analysis_cells_final(_analysis_cells_state) IS 'Internal: final function of _analysis_cells';
CREATE FUNCTION _analysis_cells_combine(_analysis_cells_state, _analysis_cells_state) RETURNS _analysis_cells_state
	AS 'MODULE_PATHNAME', 'analysis_cells_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION _analysis_cells_combine(_analysis_cells_state, _analysis_cells_state) IS 'Internal: combine function of _analysis_cells';
-- (b, profiles.segments, the stays that ended: end times ascending, scheme
-- numbers, segments; then the same on every row: the schemes, as_of,
-- ..., and since, the start of the horizon: the periods of retention cells, of lifecycle and
-- stickiness cells, the start and return features (-1: any event))
-- (SSPACE 8192, as for the other variable-length states)
CREATE AGGREGATE _analysis_cells(behavior, jsonb, timestamptz[], int4[], text[], text[], timestamptz, text[], text[], int4, int4, timestamptz) (
	SFUNC = _analysis_cells_trans, STYPE = _analysis_cells_state, FINALFUNC = _analysis_cells_final,
	COMBINEFUNC = _analysis_cells_combine, SSPACE = 8192, PARALLEL = SAFE);
COMMENT ON AGGREGATE _analysis_cells(behavior, jsonb, timestamptz[], int4[], text[], text[], timestamptz, text[], text[], int4, int4, timestamptz) IS 'Internal: counts the users of every cell of the managed analyses (src/analyses.c)';

-- What refresh keeps (the analyses read it; suppression is at read time):
-- kind 0: users of the cohort start (k 0); 1: of them, active in the
-- period k after it; 2: whose last active period is k after it; 3: users of
-- lifecycle status k (0 new, 1 returning, 2 resurrecting, 3 dormant) in the
-- period start; 4: users active on k days of it.  scheme NULL: every user
-- (segment (all)).
CREATE TABLE _analysis_rows (
	period text NOT NULL,
	scheme text,
	segment text NOT NULL,
	kind int2 NOT NULL,
	start date NOT NULL,
	k int NOT NULL,
	users bigint NOT NULL);
CREATE UNIQUE INDEX ON _analysis_rows (period, scheme, kind, segment, start, k) NULLS NOT DISTINCT;
COMMENT ON TABLE _analysis_rows IS 'Internal: the counts behind retention_matrix (by week and month), lifecycle and stickiness as the last refresh computed them, before small cells are suppressed';
SELECT pg_catalog.pg_extension_config_dump('_analysis_rows', '');
-- what _analysis_rows was computed for: refresh changes it by the users
-- whose cells can have changed only when it holds the last refresh's
CREATE TABLE _analysis_state (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	as_of timestamptz NOT NULL,
	schemes text[] NOT NULL,
	horizon interval NOT NULL);
COMMENT ON TABLE _analysis_state IS 'Internal: the as_of, schemes and analysis_horizon _analysis_rows was computed for (one row, none before the first refresh)';
SELECT pg_catalog.pg_extension_config_dump('_analysis_state', '');

-- The first instant of the horizon: as_of less analysis_horizon on the UTC
-- calendar (a month or a day is not the same span in every time zone: a
-- refresh and a recount in sessions of different time zones must cut at
-- the same day)
-- (and never before the calendar's first years: an as_of there counts from
-- itself)
CREATE FUNCTION _analysis_since(as_of timestamptz, horizon interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT least(as_of, ((greatest(as_of, '4710-01-01 00:00:00+00 BC'::timestamptz) AT TIME ZONE 'UTC') - horizon) AT TIME ZONE 'UTC')
$$;
COMMENT ON FUNCTION _analysis_since(timestamptz, interval) IS 'Internal: as_of less the analysis horizon, on the UTC calendar (the first instant the managed analyses count)';

-- The cells of every user not opted out, as of as_of, for the schemes given
-- (their stays read from transitions and profiles.segments, as
-- membership_history does), or with no scheme given, of every user together
-- (scheme NULL, segment (all)).
CREATE FUNCTION _analysis_compute(schemes text[], as_of timestamptz, retention_periods text[], other_periods text[],
	start_feature int, return_feature int, listed boolean DEFAULT false, horizon interval DEFAULT NULL)
RETURNS TABLE (period text, scheme text, segment text, kind int2, start date, k int, users bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
BEGIN
	-- (listed: the users of refresh's work table _analysis_users only;
	-- the text is constant but for that)
	-- (cells of periods before the horizon are not counted: the setting
	-- analysis_horizon, doc/analyses.md, unless the caller read it already)
	RETURN QUERY EXECUTE format($q$
		WITH t AS (
			-- (in the order they ended, then were entered: one sort for the
			-- three arrays; _analysis_cells refuses end times out of order)
			SELECT t.user_id, array_agg(t.at) AS ended_at, array_agg(array_position($1, t.scheme)) AS ended_scheme,
			       array_agg(t.from_segment) AS ended_segment
			FROM (SELECT t.user_id, t.at, t.scheme, t.from_segment FROM segmentation.transitions t
			      WHERE t.from_segment IS NOT NULL AND t.scheme = ANY ($1)%1$s
			      ORDER BY t.user_id, t.at, t.from_entered_at, t.id) t
			GROUP BY t.user_id),
		c AS (
			SELECT segmentation._analysis_cells(p.behavior, p.segments, t.ended_at, t.ended_scheme, t.ended_segment,
			                                    $1, $2, $3, $4, $5, $6, $7) AS c
			FROM segmentation.profiles p LEFT JOIN t ON t.user_id = p.user_id
			WHERE NOT p.opted_out%2$s)
		SELECT (ARRAY['day', 'week', 'month'])[u.p + 1], $1[u.s], u.segment, u.kind, u.start, u.k, u.users
		FROM c, unnest((c.c).periods, (c.c).schemes, (c.c).segments, (c.c).kinds, (c.c).starts, (c.c).ks, (c.c).users)
		     u(p, s, segment, kind, start, k, users)
	$q$, CASE WHEN listed THEN ' AND t.user_id IN (SELECT u.user_id FROM segmentation._analysis_users u)' ELSE '' END,
	     CASE WHEN listed THEN ' AND p.user_id IN (SELECT u.user_id FROM segmentation._analysis_users u)' ELSE '' END)
	USING schemes, as_of, retention_periods, other_periods, start_feature, return_feature,
		segmentation._analysis_since(as_of, coalesce(horizon, segmentation._setting('analysis_horizon')::interval));
END $$;
COMMENT ON FUNCTION _analysis_compute(text[], timestamptz, text[], text[], int, int, boolean, interval) IS 'Internal: the cells of the managed analyses (users per period, scheme, segment at the period''s start and count), computed from every stored behavior and stay (listed: of the users of refresh''s _analysis_users)';

-- The schemes the rows are kept for: those of the last refresh.  Not a
-- scheme dropped before it: transitions keep its stays (for ever, unless
-- history_retention), no analysis can name it while it has no segment, and
-- counting every scheme ever dropped would make each refresh cost more with
-- every drop (review 22, F2).  One defined again since is counted when
-- called (_analysis_cells_for).
CREATE FUNCTION _analysis_schemes() RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	schemes text[];
BEGIN
	PERFORM segmentation._coordinator_only('the last refresh');
	EXECUTE 'SELECT c.schemes FROM segmentation.score_context c' INTO schemes;
	RETURN coalesce(schemes, '{}');
END $$;
COMMENT ON FUNCTION _analysis_schemes() IS 'Internal: the schemes _analysis_rows is kept for (those of the last refresh)';

-- forget_user, opt_out, opt_in (and refresh, when it cannot do less)
-- compute the rows again, as of the last refresh.
CREATE FUNCTION _materialize_analyses() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
	last_as_of timestamptz;
	kept text[];
	horizon interval := segmentation._setting('analysis_horizon')::interval;
BEGIN
	DELETE FROM segmentation._analysis_rows;
	DELETE FROM segmentation._analysis_state;
	last_as_of := segmentation._last_as_of();
	IF last_as_of IS NULL THEN
		RETURN;
	END IF;
	kept := segmentation._analysis_schemes();
	INSERT INTO segmentation._analysis_rows (period, scheme, segment, kind, start, k, users)
	SELECT c.period, c.scheme, c.segment, c.kind, c.start, c.k, c.users
	FROM segmentation._analysis_compute(kept, last_as_of, '{week,month}', '{day,week,month}', -1, -1, false, horizon) c;
	-- every user together: the segments of any one scheme add up to it
	IF cardinality(kept) > 0 THEN
		INSERT INTO segmentation._analysis_rows (period, scheme, segment, kind, start, k, users)
		SELECT r.period, NULL, '(all)', r.kind, r.start, r.k, sum(r.users)
		FROM segmentation._analysis_rows r WHERE r.scheme = kept[1]
		GROUP BY r.period, r.kind, r.start, r.k;
	END IF;
	INSERT INTO segmentation._analysis_state (as_of, schemes, horizon)
	VALUES (last_as_of, kept, horizon);
END $$;
COMMENT ON FUNCTION _materialize_analyses() IS 'Internal: computes the counts behind retention_matrix, lifecycle and stickiness again (refresh, forget_user, opt_out, opt_in)';

-- An incremental refresh changes the rows by the users whose cells can have
-- changed (_analysis_users): their cells as of the last refresh go out
-- before it writes anything (_analysis_delta_begin, right after it read the
-- new events into _batch), and their cells as of this one come in at its
-- end (_analysis_delta_end).  A user's cells are a function of their
-- behavior, their stays, opted_out and as_of, and only cells of period
-- starts up to as_of's day are kept.  So they change for the users whose
-- behavior this run changes (_batch), whose ended stays history_retention
-- purges now, who are in no segment yet (opted in again; new users are in
-- _batch), and, when a period began since the last refresh, who were active
-- since the start of the previous one (their dormant and new cells, and
-- events after the last as_of).  A move changes the segment of the times
-- from as_of on, which no kept cell starts at unless as_of is 00:00 UTC:
-- then, and in a full refresh, everything is counted again.  (The users
-- are in a table of the state, as _batch is: on Citus, colocated with the
-- profiles, so that their ids stay on the workers.)
CREATE FUNCTION _analysis_delta_begin(full_refresh boolean, as_of timestamptz, retention interval) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
	kept record;
	old_as_of timestamptz;
	since timestamptz;
BEGIN
	IF full_refresh THEN
		RETURN false;
	END IF;
	SELECT s.as_of, s.schemes, s.horizon INTO kept FROM segmentation._analysis_state s;
	old_as_of := segmentation._last_as_of();
	IF old_as_of IS NULL OR kept.as_of IS DISTINCT FROM old_as_of OR kept.schemes IS NULL
	   -- (the same interval: '1 year' = '360 days' for =, but they cut at
	   -- different days; the run counts with the one kept throughout,
	   -- whatever a set_setting committed meanwhile says)
	   OR kept.horizon::text IS DISTINCT FROM (segmentation._setting('analysis_horizon')::interval)::text
	   OR (as_of AT TIME ZONE 'UTC')::time = '00:00' THEN
		RETURN false;
	END IF;
	DELETE FROM segmentation._analysis_users;
	INSERT INTO segmentation._analysis_users SELECT b.user_id FROM segmentation._batch b ON CONFLICT DO NOTHING;
	-- (retention: what refresh purges with, read once)
	IF retention IS NOT NULL THEN
		EXECUTE 'INSERT INTO segmentation._analysis_users SELECT DISTINCT t.user_id FROM segmentation.transitions t WHERE t.at < $1
		         ON CONFLICT DO NOTHING' USING as_of - retention;
	END IF;
	-- the first instant of the earliest period (day, week, month) of the
	-- last as_of that has ended since
	SELECT min(date_trunc(p, old_as_of AT TIME ZONE 'UTC')) AT TIME ZONE 'UTC' INTO since
	FROM unnest('{day,week,month}'::text[]) p
	WHERE date_trunc(p, old_as_of AT TIME ZONE 'UTC') <> date_trunc(p, as_of AT TIME ZONE 'UTC');
	IF cardinality(kept.schemes) > 0 THEN
		EXECUTE 'INSERT INTO segmentation._analysis_users SELECT p.user_id FROM segmentation.profiles p
		         WHERE p.segments = ''{}'' AND NOT p.opted_out ON CONFLICT DO NOTHING';
	END IF;
	IF since IS NOT NULL THEN
		EXECUTE 'INSERT INTO segmentation._analysis_users SELECT p.user_id FROM segmentation.profiles p
		         WHERE segmentation.last_seen(p.behavior) >= $1 ON CONFLICT DO NOTHING' USING since;
	END IF;
	-- (its row count for the joins below, as refresh does for _batch)
	ANALYZE segmentation._analysis_users;
	CREATE TEMP TABLE _analysis_delta ON COMMIT DROP AS
	SELECT c.period, c.scheme, c.segment, c.kind, c.start, c.k, -c.users AS users
	FROM segmentation._analysis_compute(kept.schemes, old_as_of, '{week,month}', '{day,week,month}', -1, -1, true, kept.horizon) c;
	RETURN true;
END $$;
COMMENT ON FUNCTION _analysis_delta_begin(boolean, timestamptz, interval) IS 'Internal (refresh): takes the cells of the users whose cells can change in this run out of a delta, as of the last refresh; false when everything must be counted again at the end';

CREATE FUNCTION _analysis_delta_end(as_of timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
	kept text[];
	horizon interval;
BEGIN
	SELECT s.schemes, s.horizon INTO kept, horizon FROM segmentation._analysis_state s;
	IF segmentation._analysis_schemes() IS DISTINCT FROM kept THEN
		DROP TABLE _analysis_delta;
		DELETE FROM segmentation._analysis_users;
		PERFORM segmentation._materialize_analyses();
		RETURN;
	END IF;
	INSERT INTO _analysis_delta
	SELECT c.period, c.scheme, c.segment, c.kind, c.start, c.k, c.users
	FROM segmentation._analysis_compute(kept, as_of, '{week,month}', '{day,week,month}', -1, -1, true, horizon) c;
	INSERT INTO segmentation._analysis_rows AS r (period, scheme, segment, kind, start, k, users)
	SELECT d.period, d.scheme, d.segment, d.kind, d.start, d.k, sum(d.users)
	FROM _analysis_delta d GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d.users) <> 0
	UNION ALL
	-- every user together: the segments of any one scheme add up to it
	SELECT d.period, NULL, '(all)', d.kind, d.start, d.k, sum(d.users)
	FROM _analysis_delta d WHERE cardinality(kept) > 0 AND d.scheme = kept[1]
	GROUP BY 1, 4, 5, 6 HAVING sum(d.users) <> 0
	ON CONFLICT (period, scheme, kind, segment, start, k) DO UPDATE SET users = r.users + EXCLUDED.users;
	DROP TABLE _analysis_delta;
	DELETE FROM segmentation._analysis_users;
	-- (and the periods the horizon left: a cell's count never depends on it)
	DELETE FROM segmentation._analysis_rows r
	WHERE r.users = 0
	   OR r.start < date_trunc(r.period, segmentation._analysis_since(as_of, horizon) AT TIME ZONE 'UTC')::date;
	-- (a count below 0 is a defect: counted again, and said)
	IF EXISTS (SELECT 1 FROM segmentation._analysis_rows r WHERE r.users < 0) THEN
		RAISE WARNING 'the counts of the managed analyses went below zero: they are counted again';
		PERFORM segmentation._materialize_analyses();
		RETURN;
	END IF;
	UPDATE segmentation._analysis_state s SET as_of = _analysis_delta_end.as_of;
END $$;
COMMENT ON FUNCTION _analysis_delta_end(timestamptz) IS 'Internal (refresh): adds the cells of the users _analysis_delta_begin listed as of this run, and the delta to _analysis_rows (everything counted again when the schemes changed)';

-- The cells an analysis reads: the rows refresh kept, or, for retention by
-- day or by feature, counted now.  With no scheme, every user's segment is
-- (unknown), as no stay is in "no scheme"; a scheme defined since the last
-- refresh has no stay either, unless it was dropped and defined again: its
-- old stays (in transitions) are counted now.
CREATE FUNCTION _analysis_cells_for(period text, scheme text, retention boolean, start_feature int, return_feature int)
RETURNS TABLE (segment text, kind int2, start date, k int, users bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	as_of timestamptz;
BEGIN
	IF retention AND (period = 'day' OR start_feature <> -1 OR return_feature <> -1)
	   OR scheme IS NOT NULL AND NOT EXISTS (SELECT 1 FROM segmentation._analysis_rows r
	                                         WHERE r.period = _analysis_cells_for.period AND r.scheme = _analysis_cells_for.scheme)
	                         AND EXISTS (SELECT 1 FROM segmentation.transitions t
	                                     WHERE t.scheme = _analysis_cells_for.scheme AND t.from_segment IS NOT NULL) THEN
		as_of := segmentation._last_as_of();
		RETURN QUERY
			SELECT CASE WHEN _analysis_cells_for.scheme IS NULL THEN '(unknown)' ELSE c.segment END, c.kind, c.start, c.k, c.users
			FROM segmentation._analysis_compute(CASE WHEN _analysis_cells_for.scheme IS NULL THEN '{}'::text[] ELSE ARRAY[_analysis_cells_for.scheme] END,
			                                    as_of, CASE WHEN retention THEN ARRAY[period] ELSE '{}' END,
			                                    CASE WHEN retention THEN '{}' ELSE ARRAY[period] END, start_feature, return_feature) c
			WHERE c.scheme IS NOT DISTINCT FROM _analysis_cells_for.scheme AND (c.kind <= 2) = retention;
	ELSIF scheme IS NULL OR NOT EXISTS (SELECT 1 FROM segmentation._analysis_rows r
	                                     WHERE r.period = _analysis_cells_for.period AND r.scheme = _analysis_cells_for.scheme) THEN
		RETURN QUERY
			SELECT '(unknown)'::text, r.kind, r.start, r.k, r.users
			FROM segmentation._analysis_rows r
			WHERE r.period = _analysis_cells_for.period AND r.scheme IS NULL AND (r.kind <= 2) = retention;
	ELSE
		RETURN QUERY
			SELECT r.segment, r.kind, r.start, r.k, r.users
			FROM segmentation._analysis_rows r
			WHERE r.period = _analysis_cells_for.period AND r.scheme = _analysis_cells_for.scheme AND (r.kind <= 2) = retention;
	END IF;
END $$;
COMMENT ON FUNCTION _analysis_cells_for(text, text, boolean, int, int) IS 'Internal: the cells of one analysis (retention: kinds 0-2; else lifecycle and stickiness, kinds 3-4) for a period and scheme (NULL: every user, in the segment (unknown)), from _analysis_rows or counted now';

-- ===================================================================
-- retention_matrix
-- ===================================================================

CREATE FUNCTION retention_matrix(period text DEFAULT 'week', scheme text DEFAULT NULL, start_feature text DEFAULT NULL,
	return_feature text DEFAULT NULL, unbounded boolean DEFAULT false)
RETURNS TABLE (cohort date, segment text, period_offset int, cohort_users bigint, retained_users bigint,
	retention double precision, suppressed boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	last_period date;
	start_id int;
	return_id int;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	last_period := segmentation._analysis_last_period(period, scheme);
	start_id := coalesce(segmentation._analysis_feature('start_feature', start_feature), -1);
	return_id := coalesce(segmentation._analysis_feature('return_feature', return_feature), -1);
	IF unbounded IS NULL THEN
		RAISE EXCEPTION 'argument "unbounded" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF last_period IS NULL THEN
		RETURN;
	END IF;
	-- $1 period, $2 scheme, $3 last period, $4 unbounded, $5 min_cell_size,
	-- $6 start feature, $7 return feature (-1: any event)
	RETURN QUERY EXECUTE $q$
		WITH c AS (
			SELECT * FROM segmentation._analysis_cells_for($1, $2, true, $6, $7) c WHERE c.start <= $3),
		cohorts AS (
			SELECT c.start AS cohort, CASE WHEN GROUPING(c.segment) = 1 THEN '(all)' ELSE c.segment END AS segment,
			       sum(c.users)::bigint AS n
			FROM c WHERE c.kind = 0
			GROUP BY GROUPING SETS ((c.start, c.segment), (c.start))),
		-- the users active at offset k; unbounded: whose last active offset is k
		hits AS (
			SELECT c.start AS cohort, CASE WHEN GROUPING(c.segment) = 1 THEN '(all)' ELSE c.segment END AS segment, c.k,
			       sum(c.users)::bigint AS n
			FROM c WHERE c.kind = CASE WHEN $4 THEN 2 ELSE 1 END
			GROUP BY GROUPING SETS ((c.start, c.segment, c.k), (c.start, c.k))),
		grid AS (
			SELECT c.cohort, c.segment, g.k, c.n,
			       CASE WHEN $4
			            -- retained at k or later: the users whose last period is k or later
			            THEN sum(coalesce(h.n, 0)) OVER (PARTITION BY c.cohort, c.segment ORDER BY g.k DESC)
			            ELSE coalesce(h.n, 0) END::bigint AS retained
			FROM cohorts c
			CROSS JOIN LATERAL generate_series(0, segmentation._period_index($3, $1) - segmentation._period_index(c.cohort, $1)) g(k)
			LEFT JOIN hits h ON h.cohort = c.cohort AND h.segment = c.segment AND h.k = g.k
			WHERE $2 IS NOT NULL OR c.segment = '(all)'),
		-- a cohort's cell is its users in a segment; the segments of a cohort
		-- add up to its (all) row: suppressed together (_suppress_mask)
		cm AS (
			SELECT c.cohort, c.segment,
			       CASE WHEN c.segment = '(all)' THEN c.n < $5
			            ELSE (segmentation._suppress_mask(array_agg(c.n) OVER w, NULL::boolean[], $5))[row_number() OVER w] END AS suppressed
			FROM cohorts c
			WINDOW w AS (PARTITION BY c.cohort, c.segment = '(all)' ORDER BY c.segment ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
		SELECT g.cohort, g.segment, g.k, CASE WHEN NOT cm.suppressed THEN g.n END,
		       CASE WHEN NOT cm.suppressed THEN g.retained END,
		       CASE WHEN NOT cm.suppressed THEN g.retained::float8 / g.n::float8 END, cm.suppressed
		FROM grid g JOIN cm ON cm.cohort = g.cohort AND cm.segment = g.segment
		ORDER BY g.cohort, g.segment <> '(all)', g.segment, g.k
	$q$ USING period, scheme, last_period, unbounded, segmentation._setting('min_cell_size')::int, start_id, return_id;
END $$;
COMMENT ON FUNCTION retention_matrix(text, text, text, text, boolean) IS 'Cohort retention per segment and (all): users by the period (day, week, month; UTC) of their first event (of start_feature), and how many had an event (of return_feature) in the cohort period and each later one (unbounded: in it or later), up to the period of the last refresh; the segment is the one at the start of the cohort period; features by their define_feature names';

-- ===================================================================
-- lifecycle
-- ===================================================================

CREATE FUNCTION lifecycle(period text DEFAULT 'week', scheme text DEFAULT NULL)
RETURNS TABLE (period_start date, segment text, status text, users bigint, suppressed boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	last_period date;
	starts date[];
	segments text[];
	statuses text[];
	counts bigint[];
	keys text[];
	mask boolean[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	last_period := segmentation._analysis_last_period(period, scheme);
	IF last_period IS NULL THEN
		RETURN;
	END IF;
	-- $1 period, $2 scheme, $3 last period
	EXECUTE $q$
		WITH g AS (
			SELECT c.start AS period_start, CASE WHEN GROUPING(c.segment) = 1 THEN '(all)' ELSE c.segment END AS segment,
			       (ARRAY['new', 'returning', 'resurrecting', 'dormant'])[c.k + 1] AS status, sum(c.users)::bigint AS users,
			       segmentation._period_start(segmentation._period_index(c.start, $1) + 1, $1) AS next_start
			FROM segmentation._analysis_cells_for($1, $2, false, -1, -1) c
			WHERE c.kind = 3 AND c.start <= $3
			GROUP BY GROUPING SETS ((c.start, c.segment, c.k), (c.start, c.k)))
		-- The groups of a cell (_suppress_groups): the segments of a period and
		-- status add up to its (all) row; and the users active in a period are
		-- returning or dormant in the next, so new + returning + resurrecting of
		-- a period and returning + dormant of the next are one sum (exactly for
		-- (all), nearly for a segment, whose users may move)
		SELECT array_agg(g.period_start ORDER BY o), array_agg(g.segment ORDER BY o), array_agg(g.status ORDER BY o),
		       array_agg(g.users ORDER BY o),
		       array_agg(ARRAY[format('status %s %s', g.period_start, g.status),
		                       CASE WHEN g.status IN ('returning', 'dormant') THEN format('periods %L %s', g.segment, g.period_start) END,
		                       CASE WHEN g.status <> 'dormant' AND g.next_start <= $3 THEN format('periods %L %s', g.segment, g.next_start) END]
		                 ORDER BY o)
		FROM g, LATERAL (SELECT ROW(g.period_start, g.segment <> '(all)', g.segment,
		                           array_position(ARRAY['new', 'returning', 'resurrecting', 'dormant'], g.status)) AS o) ord
	$q$ INTO starts, segments, statuses, counts, keys USING period, scheme, last_period;
	mask := segmentation._suppress_groups(counts, NULL, keys, segmentation._setting('min_cell_size')::int);
	RETURN QUERY
		SELECT u.period_start, u.segment, u.status, CASE WHEN NOT u.suppressed THEN u.users END, u.suppressed
		FROM unnest(starts, segments, statuses, counts, mask) WITH ORDINALITY u(period_start, segment, status, users, suppressed, o)
		WHERE lifecycle.scheme IS NOT NULL OR u.segment = '(all)'
		ORDER BY u.o;
END $$;
COMMENT ON FUNCTION lifecycle(text, text) IS 'Users per period (day, week, month; UTC), segment (at the period''s start) and (all), and status: new (first active period), returning (active in it and in the one before), resurrecting (active in it, not in the one before, active earlier), dormant (active in the one before, not in it; a positive count), up to the period of the last refresh; rows of 0 users are left out';

-- ===================================================================
-- stickiness
-- ===================================================================

CREATE FUNCTION stickiness(period text DEFAULT 'week', scheme text DEFAULT NULL)
RETURNS TABLE (period_start date, segment text, active_days int, users bigint, suppressed boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	last_period date;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	last_period := segmentation._analysis_last_period(period, scheme);
	IF last_period IS NULL THEN
		RETURN;
	END IF;
	-- $1 period, $2 scheme, $3 last period
	RETURN QUERY EXECUTE $q$
		WITH placed AS (
			SELECT c.start AS period_start, c.k AS days, c.segment, c.users
			FROM segmentation._analysis_cells_for($1, $2, false, -1, -1) c
			WHERE c.kind = 4 AND c.start <= $3)
		SELECT g.period_start, g.segment, g.days, CASE WHEN NOT g.suppressed THEN g.users END, g.suppressed
		FROM (SELECT g.*,
		             CASE WHEN g.segment = '(all)' THEN g.users < $4
		                  ELSE (segmentation._suppress_mask(array_agg(g.users) OVER w, NULL::boolean[], $4))[row_number() OVER w] END AS suppressed
		      FROM (SELECT pl.period_start, CASE WHEN GROUPING(pl.segment) = 1 THEN '(all)' ELSE pl.segment END AS segment,
		                   pl.days, sum(pl.users)::bigint AS users
		            FROM placed pl
		            GROUP BY GROUPING SETS ((pl.period_start, pl.segment, pl.days), (pl.period_start, pl.days))) g
		      WINDOW w AS (PARTITION BY g.period_start, g.days, g.segment = '(all)' ORDER BY g.segment ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) g
		WHERE $2 IS NOT NULL OR g.segment = '(all)'
		ORDER BY g.period_start, g.segment <> '(all)', g.segment, g.days
	$q$ USING period, scheme, last_period, segmentation._setting('min_cell_size')::int;
END $$;
COMMENT ON FUNCTION stickiness(text, text) IS 'Users per period (day, week, month; UTC), segment (at the period''s start) and (all), by the number of days of the period they were active on (1 or more), up to the period of the last refresh; rows of 0 users are left out';

-- ===================================================================
-- validate_segments
-- ===================================================================

CREATE FUNCTION validate_segments(scheme text, as_of timestamptz, horizon interval, outcome text DEFAULT 'churn')
RETURNS TABLE (segment text, users bigint, outcome_users bigint, rate double precision, ci_low double precision,
	ci_high double precision, p_vs_rest double precision, q_vs_rest double precision, homogeneity_p double precision,
	suppressed boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	first_day date;
	last_day date;
	last_as_of timestamptz;
	outcome_id int := -1;	-- the feature of the outcome; -1: any event
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF scheme IS NULL THEN
		RAISE EXCEPTION 'argument "scheme" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION 'argument "as_of" must be a finite time' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF horizon IS NULL OR horizon <= interval '0' THEN
		RAISE EXCEPTION 'argument "horizon" must be a positive interval' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('Got %s.', coalesce(quote_literal(horizon::text), 'NULL'));
	END IF;
	-- the outcome is read on whole UTC days: date(as_of) < d <= date(as_of + horizon),
	-- with as_of + horizon added on the UTC calendar (behaviors keep days, not times)
	first_day := (as_of AT TIME ZONE 'UTC')::date;
	last_day := ((as_of AT TIME ZONE 'UTC') + horizon)::date;
	IF last_day <= first_day THEN
		RAISE EXCEPTION 'argument "horizon" must reach past the UTC day of as_of' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('as_of + horizon (%s UTC) is on the day of as_of; the outcome is read on the whole UTC days after it.',
				(as_of AT TIME ZONE 'UTC') + horizon),
			HINT = 'Use a horizon of whole days, such as ''30 days''.';
	END IF;
	IF outcome IS NULL THEN
		RAISE EXCEPTION 'argument "outcome" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF outcome NOT IN ('churn', 'active') THEN
		SELECT f.id INTO outcome_id FROM segmentation.features f WHERE f.name = validate_segments.outcome;
	END IF;
	IF outcome NOT IN ('churn', 'active') AND outcome_id IS NULL THEN
		RAISE EXCEPTION 'argument "outcome" must be churn, active or the name of a feature' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('Got %s, which is not a feature either.', quote_literal(outcome)),
			HINT = 'churn: no event in the horizon; active: some event in it.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = validate_segments.scheme) THEN
		RAISE EXCEPTION 'argument "scheme": there is no scheme %', quote_literal(scheme) USING ERRCODE = 'undefined_object',
			HINT = 'Pass the name of a scheme of segmentation.define_segment().';
	END IF;
	last_as_of := segmentation._last_as_of();
	IF last_as_of IS NULL THEN
		RETURN;
	END IF;
	-- no forward look: the members and their outcome must be in the data
	IF as_of > last_as_of THEN
		RAISE EXCEPTION 'argument "as_of" (%) is after the last refresh (as of %)', as_of, last_as_of
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Segments are known up to the as_of of the last refresh: pass an earlier as_of, or refresh first.';
	END IF;
	IF last_day > (last_as_of AT TIME ZONE 'UTC')::date THEN
		RAISE EXCEPTION 'the horizon ends on %, after the day of the last refresh (%)', last_day, (last_as_of AT TIME ZONE 'UTC')::date
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The outcome of days the data does not hold yet is unknown: pass an earlier as_of or a shorter horizon.';
	END IF;
	-- $1 scheme, $2 as_of, $3 last day of the horizon, $4 its days, $5 outcome,
	-- $6 min_cell_size, $7 the outcome's feature (-1: any event)
	RETURN QUERY EXECUTE $q$
		WITH m AS (
			-- members at as_of exactly
			SELECT DISTINCT ON (h.user_id) h.user_id, h.segment
			FROM segmentation.membership_history h
			WHERE h.scheme = $1 AND h.entered_at <= $2 AND (h.exited_at IS NULL OR h.exited_at > $2)
			ORDER BY h.user_id, h.entered_at DESC),
		o AS (
			SELECT m.segment, count(*) AS n,
			       count(*) FILTER (WHERE (coalesce(segmentation.days_in(p.behavior, $7, $3::timestamp AT TIME ZONE 'UTC',
			                                                              make_interval(days => $4)), 0) > 0)
			                              = ($5 <> 'churn')) AS x
			FROM m LEFT JOIN segmentation.profiles p ON p.user_id = m.user_id
			GROUP BY m.segment),
		t AS (
			SELECT sum(o.n)::bigint AS n, sum(o.x)::bigint AS x FROM o),
		r AS (
			SELECT o.segment, o.n, o.x, CASE WHEN t.n > o.n THEN tp.p_value END AS p_value,
			       -- Wilson score interval, 95% (z: the normal quantile of 0.975)
			       (o.x + z.z * z.z / 2) / (o.n + z.z * z.z) AS center,
			       z.z / (o.n + z.z * z.z) * sqrt(o.x::float8 * (o.n - o.x) / o.n + z.z * z.z / 4) AS half
			FROM o CROSS JOIN t CROSS JOIN (SELECT 1.959963984540054::float8 AS z) z
			-- the segment against the rest (none when it is the only one: the
			-- call sees a stand-in of 1 and its answer is not used)
			CROSS JOIN LATERAL segmentation.two_proportion_test(t.x - o.x, greatest(t.n - o.n, 1), o.x, o.n) tp),
		s AS (
			SELECT r.*, (segmentation._suppress_mask(array_agg(r.n) OVER w, NULL::boolean[], $6))[row_number() OVER w] AS suppressed
			FROM r WINDOW w AS (ORDER BY r.segment ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)),
		-- what pools the segments pools those shown only: a p-value of a few
		-- counts would give them
		pooled AS (
			SELECT array_agg(s.segment ORDER BY s.segment) FILTER (WHERE NOT s.suppressed) AS segments,
			       segmentation.bh_adjust(array_agg(s.p_value ORDER BY s.segment) FILTER (WHERE NOT s.suppressed)) AS qs,
			       segmentation._chi2_homogeneity(array_agg(s.x ORDER BY s.segment) FILTER (WHERE NOT s.suppressed),
			                                      array_agg(s.n ORDER BY s.segment) FILTER (WHERE NOT s.suppressed)) AS homogeneity_p
			FROM s),
		q AS (
			SELECT u.segment, u.q FROM pooled z, unnest(z.segments, z.qs) u(segment, q))
		SELECT s.segment, CASE WHEN NOT s.suppressed THEN s.n END, CASE WHEN NOT s.suppressed THEN s.x END,
		       CASE WHEN NOT s.suppressed THEN s.x::float8 / s.n::float8 END,
		       -- (exactly 0 with no outcome and 1 with all: the formula's rounding
		       -- left 7e-18)
		       CASE WHEN NOT s.suppressed THEN CASE WHEN s.x = 0 THEN 0 ELSE greatest(s.center - s.half, 0) END END,
		       CASE WHEN NOT s.suppressed THEN CASE WHEN s.x = s.n THEN 1 ELSE least(s.center + s.half, 1) END END,
		       CASE WHEN NOT s.suppressed THEN s.p_value END, q.q,
		       (SELECT z.homogeneity_p FROM pooled z), s.suppressed
		FROM s LEFT JOIN q ON q.segment = s.segment
		ORDER BY s.segment
	$q$ USING scheme, as_of, last_day, last_day - first_day, outcome, segmentation._setting('min_cell_size')::int, outcome_id;
END $$;
COMMENT ON FUNCTION validate_segments(text, timestamptz, interval, text) IS 'Do the segments of a scheme behave differently? Per segment of the members at as_of exactly (from membership_history): users, those with the outcome (churn: no active day, active: some, a feature name: an event of that feature, on the UTC days d with date(as_of) < d <= date(as_of + horizon)), rate with a Wilson 95% CI, p and BH q of a two-proportion test against all other members, and homogeneity_p, a chi-square test across all segments (the same on every row); as_of + horizon must not pass the day of the last refresh';
