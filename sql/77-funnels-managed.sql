-- Managed funnels (DESIGN section 5): define_funnel, drop_funnel and the
-- view funnel_conversion.  doc/analyses.md explains them.
--
-- State: per funnel and user, the chain they reach the funnel's level with
-- (window_funnel's own scan, then the earliest chain of that level), and
-- what a later refresh needs to carry it on (_funnel_state): the user's
-- rows of the funnel (their times and, per row, a bit per step the row's
-- feature is) within the window before the latest one, window_funnel's scan
-- state where they begin, and maxts, the latest row's time.  Refresh passes
-- the kept rows and the new ones to _funnel_advance (src/funnels.c), which
-- resumes the scan, finds the chain if the level rose, and drops the rows
-- no later chain can use: exact when every new row is later than maxts, or
-- at maxts under modes with no stopping rule (_funnel_ties_merge).  So a
-- user with a new row of a funnel (an event of one of its steps, any event
-- under strict_order) earlier than that (a late event) has their funnel
-- states recomputed from the sources' rows of the funnels' steps (their
-- behavior merges the new events as usual), and a user whose events were
-- updated or deleted is recomputed from the sources, behavior included
-- (sql/70-refresh.sql; a full refresh rebuilds all).  So the state of a user and funnel holds at most the rows of one
-- window (none once a stopping rule ended the scan), and incremental
-- equals full.  Then it aggregates every user's chain with the user's
-- segment at step 1 (membership_history) into _funnel_rows, which
-- funnel_conversion reads: reading scans no event and no per-user row.

CREATE FUNCTION _funnel_chain(ts timestamptz[], masks int[], nsteps int, "window" interval, modes text) RETURNS timestamptz[]
	AS 'MODULE_PATHNAME', 'funnel_chain' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _funnel_chain(timestamptz[], int[], int, interval, text) IS 'Internal: the times of the steps of the chain the rows (ts[i], matching step k when bit k-1 of masks[i] is set) reach window_funnel''s level with: of the chains of that level, the one whose step 1 comes first, then step 2, ...; empty at level 0';

CREATE FUNCTION _funnel_advance(ts timestamptz[], masks int[], nsteps int, "window" interval, modes text, scan bigint[], chain timestamptz[],
	OUT kept_ts timestamptz[], OUT kept_masks int[], OUT new_scan bigint[], OUT new_chain timestamptz[], OUT maxts timestamptz)
	AS 'MODULE_PATHNAME', 'funnel_advance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _funnel_advance(timestamptz[], int[], int, interval, text, bigint[], timestamptz[]) IS 'Internal: a managed funnel''s per-user state moved forward by new rows, all later than the state''s maxts (or at it, with no stopping rule): the rows still needed (those at or after maxts - window; none once a stopping rule ended the scan), window_funnel''s scan state where they begin, the chain, and the latest row''s time';

-- At most this many managed funnels: each one makes a full refresh read
-- every event of its steps (every event under strict_order) once more, and
-- each incremental refresh carry on its state for every user it touches.
CREATE FUNCTION _max_funnels() RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 20';
COMMENT ON FUNCTION _max_funnels() IS 'Internal: the most managed funnels define_funnel allows';

CREATE TABLE funnels (
	id int PRIMARY KEY CHECK (id > 0),
	name text NOT NULL UNIQUE,
	steps text[] NOT NULL CHECK (cardinality(steps) BETWEEN 1 AND 32),
	"window" interval NOT NULL,
	modes text NOT NULL DEFAULT '',
	defined_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('funnels', '');
COMMENT ON TABLE funnels IS 'Managed funnels (define_funnel): steps are feature names, in order, reached within window of step 1, with window_funnel''s modes';
COMMENT ON COLUMN funnels.id IS 'Stable id of the funnel (in the per-user state)';
COMMENT ON COLUMN funnels.name IS 'Funnel name';
COMMENT ON COLUMN funnels.steps IS 'Feature names of the steps, in order';
COMMENT ON COLUMN funnels."window" IS 'Longest time from step 1 to the last step of a chain (inclusive)';
COMMENT ON COLUMN funnels.modes IS 'window_funnel modes, comma-separated ('''' for none)';
COMMENT ON COLUMN funnels.defined_at IS 'When it was (re)defined';

-- what funnel_conversion shows, before suppression: per funnel, scheme,
-- segment at step 1 (and (all)) and step, the users who reached it
CREATE TABLE _funnel_rows (
	funnel_id int NOT NULL,
	scheme text NOT NULL,
	segment text NOT NULL,
	step int NOT NULL,
	users bigint NOT NULL,
	median_seconds double precision,
	PRIMARY KEY (funnel_id, scheme, segment, step)
);
COMMENT ON TABLE _funnel_rows IS 'Internal: the rows of funnel_conversion as the last refresh computed them, before small cells are suppressed';

-- Does a funnel keep every event of its users?  Under strict_order a row of
-- no step interrupts a chain, so it is a row of the funnel too.
CREATE FUNCTION _funnel_keeps_all(modes text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT 'strict_order' OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(pg_catalog.regexp_replace(modes, '[ \t]', '', 'g'), ','))
$$;
COMMENT ON FUNCTION _funnel_keeps_all(text) IS 'Internal: whether a funnel with these modes keeps every event of its users (strict_order: a row of no step interrupts a chain)';

-- Can a funnel's state take new rows at the time of its latest row (maxts),
-- or only later ones?  With no stopping rule, a row added to the rows of a
-- time only adds to what the scan takes there, and _funnel_advance is exact
-- for rows at maxts too (src/funnels.c); strict_order and
-- strict_deduplication stop the scan on a row of that time, which may end a
-- chain the state found before it: the user is recomputed.
CREATE FUNCTION _funnel_ties_merge(modes text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT NOT (pg_catalog.string_to_array(pg_catalog.regexp_replace(modes, '[ \t]', '', 'g'), ',') OPERATOR(pg_catalog.&&) '{strict_order,strict_deduplication}'::text[])
$$;
COMMENT ON FUNCTION _funnel_ties_merge(text) IS 'Internal: whether a funnel with these modes carries its state on with rows at the time of its latest row (no stopping rule), not only with later ones';

CREATE FUNCTION define_funnel(name text, steps text[], "window" interval, modes text DEFAULT '') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fid int;
	unknown record;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'argument "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF steps IS NULL OR array_ndims(steps) IS DISTINCT FROM 1 OR cardinality(steps) NOT BETWEEN 1 AND 32
	   OR array_position(steps, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "steps" must list 1 to 32 feature names, without NULLs' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('Got %s.', coalesce(quote_literal(steps::text), 'NULL'));
	END IF;
	-- (features as committed now, and no condition added to a step's feature
	-- until this commits: define_feature locks features against this)
	LOCK TABLE segmentation.features IN SHARE MODE;
	SELECT u.s, u.i INTO unknown FROM unnest(steps) WITH ORDINALITY u(s, i)
	WHERE NOT EXISTS (SELECT 1 FROM segmentation.features f WHERE f.name = u.s) ORDER BY u.i LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'argument "steps": step % is %, which is not a feature', unknown.i, quote_literal(unknown.s)
			USING ERRCODE = 'undefined_object',
			      HINT = 'Steps are names of segmentation.define_feature(); segmentation.features lists them.';
	END IF;
	-- (a funnel keeps the rows of its steps' event names: a condition on
	-- the row is not evaluated there)
	SELECT u.s, u.i INTO unknown FROM unnest(steps) WITH ORDINALITY u(s, i)
	WHERE EXISTS (SELECT 1 FROM segmentation.features f WHERE f.name = u.s AND f.condition IS NOT NULL) ORDER BY u.i LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'argument "steps": step % is feature %, which has a condition', unknown.i, quote_literal(unknown.s)
			USING ERRCODE = 'feature_not_supported',
			      HINT = 'A managed funnel''s steps are features without a condition: define one for the step''s events.';
	END IF;
	IF define_funnel."window" IS NULL OR define_funnel."window" <= interval '0' THEN
		RAISE EXCEPTION 'argument "window" must be a positive interval' USING ERRCODE = 'invalid_parameter_value',
			DETAIL = format('Got %s.', coalesce(quote_literal(define_funnel."window"::text), 'NULL'));
	END IF;
	IF modes IS NULL THEN
		RAISE EXCEPTION 'argument "modes" must not be NULL' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Pass '''' for no mode.';
	END IF;
	-- window_funnel's own checks of the window and the modes
	PERFORM segmentation._funnel_chain('{}'::timestamptz[], '{}'::int[], cardinality(steps), define_funnel."window", modes);

	-- (one define_funnel at a time, seeing what the last one committed: the
	-- count below stays true)
	PERFORM segmentation._require_read_committed('define_funnel');
	LOCK TABLE segmentation.funnels IN SHARE ROW EXCLUSIVE MODE;
	IF NOT EXISTS (SELECT 1 FROM segmentation.funnels f WHERE f.name = define_funnel.name)
	   AND (SELECT count(*) FROM segmentation.funnels) >= segmentation._max_funnels() THEN
		RAISE EXCEPTION 'there are % managed funnels already', segmentation._max_funnels()
			USING ERRCODE = 'program_limit_exceeded',
			      DETAIL = 'Each funnel makes every full refresh read the events of its steps (all events under strict_order) once more, and every incremental refresh carry its state on for each user it touches.',
			      HINT = 'Drop funnels you no longer use (segmentation.drop_funnel), or redefine one of them; window_funnel() answers ad hoc funnels without a managed state.';
	END IF;
	UPDATE segmentation.funnels f SET steps = define_funnel.steps, "window" = define_funnel."window", modes = define_funnel.modes,
		defined_at = now()
	WHERE f.name = define_funnel.name RETURNING f.id INTO fid;
	IF fid IS NULL THEN
		INSERT INTO segmentation.funnels (id, name, steps, "window", modes)
		SELECT coalesce(max(f.id) + 1, 1), define_funnel.name, define_funnel.steps, define_funnel."window", define_funnel.modes
		FROM segmentation.funnels f
		RETURNING funnels.id INTO fid;
	END IF;
	DELETE FROM segmentation._funnel_rows r WHERE r.funnel_id = fid;
	-- the state holds the rows of the funnel's steps: the next refresh reads
	-- every event again (full) and keeps the new funnel's
	IF to_regclass('segmentation._funnel_state') IS NOT NULL THEN
		DELETE FROM segmentation._funnel_state s WHERE s.funnel_id = fid;
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
END $$;
COMMENT ON FUNCTION define_funnel(text, text[], interval, text) IS 'Define (or redefine) a managed funnel: steps are feature names, reached in order within window of step 1, with window_funnel''s modes; the next refresh (full) computes it; funnel_conversion shows it';

CREATE FUNCTION drop_funnel(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fid int;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	DELETE FROM segmentation.funnels f WHERE f.name = drop_funnel.name RETURNING f.id INTO fid;
	IF fid IS NULL THEN
		RAISE EXCEPTION 'funnel % does not exist', coalesce(quote_literal(name), 'NULL') USING ERRCODE = 'undefined_object';
	END IF;
	DELETE FROM segmentation._funnel_rows r WHERE r.funnel_id = fid;
	IF to_regclass('segmentation._funnel_state') IS NOT NULL THEN
		DELETE FROM segmentation._funnel_state s WHERE s.funnel_id = fid;
	END IF;
END $$;
COMMENT ON FUNCTION drop_funnel(text) IS 'Drop a managed funnel, its per-user state and its rows in funnel_conversion';

-- Refresh's part (in its transaction, as the extension's owner): the rows
-- of the events refresh read this run (temp table _funnel_batch, which
-- refresh created in this run: user_id,
-- ts, event, replace; "replace" rows are all the events of a user
-- recomputed from the sources, or the rows of the funnels' steps of a user
-- with a late event) go into the per-user state, and the chains
-- of the users they touch are computed again.  Users recomputed (the
-- "replace" users of _batch, every user when full) lose their old state
-- first, so a user whose events are gone loses it.
CREATE FUNCTION _refresh_funnels(full_refresh boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
BEGIN
	IF full_refresh THEN
		DELETE FROM segmentation._funnel_state;
	ELSE
		-- (and the users of a late event: their rows read again, "replace"
		-- rows of _funnel_batch, with a row of no time even when none is left)
		DELETE FROM segmentation._funnel_state s WHERE s.user_id IN (SELECT b.user_id FROM _batch b WHERE b.replace
		                                                            UNION SELECT f.user_id FROM _funnel_batch f WHERE f.replace);
	END IF;
	EXECUTE format($q$
		INSERT INTO segmentation._funnel_state AS s (funnel_id, user_id, ts, masks, chain, scan, maxts)
		SELECT n.funnel_id, n.user_id, a.kept_ts, a.kept_masks, a.new_chain, a.new_scan, coalesce(a.maxts, o.maxts, '-infinity')
		FROM (SELECT fm.funnel_id, b.user_id, array_agg(b.ts) AS ts, array_agg(fm.mask) AS masks
		      FROM _funnel_batch b
		      JOIN (SELECT fn.id AS funnel_id, e.event, coalesce(m.mask, 0) AS mask
		            FROM segmentation.funnels fn
		            CROSS JOIN (SELECT DISTINCT x.event FROM _funnel_batch x) e
		            LEFT JOIN (SELECT f.id AS funnel_id, em.event, sum(1 << (st.k - 1)::int)::int AS mask
		                       FROM segmentation.funnels f, unnest(f.steps) WITH ORDINALITY st(name, k),
		                            segmentation.features ft, unnest(ft.event_names) em(event)
		                       WHERE ft.name = st.name
		                       GROUP BY 1, 2) m ON m.funnel_id = fn.id AND m.event = e.event
		            WHERE m.mask IS NOT NULL OR segmentation._funnel_keeps_all(fn.modes)) fm ON fm.event = b.event
		      GROUP BY 1, 2) n
		JOIN segmentation.funnels fn ON fn.id = n.funnel_id
		-- each user's state found by its key (OFFSET 0: not turned into a join
		-- that would read every user's); on Citus, with the state distributed,
		-- a plain join (it refuses a lateral one to a local table's rows)
		%s
		-- (the rows in any order: _funnel_advance sorts them)
		CROSS JOIN LATERAL segmentation._funnel_advance(coalesce(o.ts, '{}') || n.ts, coalesce(o.masks, '{}') || n.masks,
		                                                cardinality(fn.steps), fn."window", fn.modes,
		                                                coalesce(o.scan, '{}'), coalesce(o.chain, '{}')) a
		ON CONFLICT (user_id, funnel_id) DO UPDATE SET ts = EXCLUDED.ts, masks = EXCLUDED.masks, chain = EXCLUDED.chain,
			scan = EXCLUDED.scan, maxts = EXCLUDED.maxts
	$q$, CASE WHEN segmentation._citus_member('segmentation._funnel_state') IS NULL
	          THEN 'LEFT JOIN LATERAL (SELECT o.ts, o.masks, o.scan, o.chain, o.maxts FROM segmentation._funnel_state o
	                WHERE o.user_id = n.user_id AND o.funnel_id = n.funnel_id OFFSET 0) o ON true'
	          ELSE 'LEFT JOIN segmentation._funnel_state o ON o.user_id = n.user_id AND o.funnel_id = n.funnel_id' END);
END $$;
COMMENT ON FUNCTION _refresh_funnels(boolean) IS 'Internal (refresh): appends the rows of the events refresh read to the per-user funnel state and computes the chains of the users they touch again';

-- The rows of funnel_conversion, from every user's chain and the history:
-- refresh computes them after the segments, and forget_user, opt_out and
-- opt_in again.  A user's segment in a scheme is the one at the time of
-- their step 1: the stay in force then, else the first one they entered
-- after it, else (unknown); with no scheme defined, scheme is (none).
-- (jit off: the row estimates of these queries are far too high, and
-- compiling them would cost more than running them; work_mem: the medians
-- sort every user's steps, about 100 bytes each, in memory up to 2M of them)
CREATE FUNCTION _materialize_funnels() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off SET work_mem = '256MB' AS $$
BEGIN
	DELETE FROM segmentation._funnel_rows;
	IF to_regclass('segmentation._funnel_state') IS NULL OR NOT EXISTS (SELECT 1 FROM segmentation.funnels) THEN
		RETURN;
	END IF;
	EXECUTE $q$
		INSERT INTO segmentation._funnel_rows (funnel_id, scheme, segment, step, users, median_seconds)
		WITH st AS (
			SELECT s.funnel_id, s.user_id, s.chain, p.segments
			FROM segmentation._funnel_state s JOIN segmentation.profiles p ON p.user_id = s.user_id
			WHERE cardinality(s.chain) >= 1 AND NOT p.opted_out),
		schemes AS (
			SELECT DISTINCT g.scheme FROM segmentation.segments g
			UNION ALL SELECT '(none)' WHERE NOT EXISTS (SELECT 1 FROM segmentation.segments)),
		-- A user's stays in a scheme follow each other (each ends where the
		-- next begins), so the stay in force at t, or else the first one after
		-- t, is the stay that ends first after t: of the stays that ended
		-- (transitions), the one that ended first after t, else the current one
		-- (profiles.segments).  (membership_history read this way, without
		-- unfolding every user's segments.)
		ended AS (
			SELECT DISTINCT ON (st.funnel_id, st.user_id, t.scheme) st.funnel_id, st.user_id, t.scheme, t.from_segment
			FROM st JOIN segmentation.transitions t ON t.user_id = st.user_id AND t.at > st.chain[1] AND t.from_segment IS NOT NULL
			ORDER BY st.funnel_id, st.user_id, t.scheme, t.at),
		placed AS (
			SELECT st.funnel_id, sc.scheme, coalesce(e.from_segment, st.segments -> sc.scheme ->> 0, '(unknown)') AS segment, st.chain
			FROM st CROSS JOIN schemes sc
			LEFT JOIN ended e ON e.funnel_id = st.funnel_id AND e.user_id = st.user_id AND e.scheme = sc.scheme),
		steps AS (
			SELECT p.funnel_id, p.scheme, p.segment, x.k,
			       CASE WHEN x.k > 1 THEN (extract(epoch FROM x.t) - extract(epoch FROM p.chain[x.k - 1]))::float8 END AS dt
			FROM placed p, unnest(p.chain) WITH ORDINALITY x(t, k)),
		agg AS (
			SELECT s.funnel_id, s.scheme, CASE WHEN GROUPING(s.segment) = 1 THEN '(all)' ELSE s.segment END AS segment, s.k,
			       count(*) AS users, percentile_cont(0.5) WITHIN GROUP (ORDER BY s.dt) AS median_seconds
			FROM steps s
			GROUP BY GROUPING SETS ((s.funnel_id, s.scheme, s.segment, s.k), (s.funnel_id, s.scheme, s.k)))
		-- every step of every group that has users at step 1
		SELECT g.funnel_id, g.scheme, g.segment, k.k, coalesce(a.users, 0), a.median_seconds
		FROM agg g
		JOIN segmentation.funnels fn ON fn.id = g.funnel_id
		CROSS JOIN LATERAL generate_series(1, cardinality(fn.steps)) k(k)
		LEFT JOIN agg a ON a.funnel_id = g.funnel_id AND a.scheme = g.scheme AND a.segment = g.segment AND a.k = k.k
		WHERE g.k = 1
	$q$;
END $$;
COMMENT ON FUNCTION _materialize_funnels() IS 'Internal: computes the rows of funnel_conversion from the per-user chains and membership_history (refresh, forget_user, opt_out, opt_in)';

-- Small cells, at read time (min_cell_size may change between refreshes):
-- the cell of a row is its group, the users of a segment at step 1 (as a
-- cohort is retention_matrix's); the segments of a funnel and scheme add up
-- to its (all) row, so more are suppressed with a small one
-- (_suppress_mask).  A median of fewer than min_cell_size users is not shown
-- either: it is one of their own times.
CREATE VIEW funnel_conversion AS
WITH r AS (
	SELECT fn.name AS funnel, r.scheme, r.segment, r.step, fn.steps[r.step] AS step_name, r.users, r.median_seconds,
	       first_value(r.users) OVER (PARTITION BY r.funnel_id, r.scheme, r.segment ORDER BY r.step) AS start_users,
	       lag(r.users) OVER (PARTITION BY r.funnel_id, r.scheme, r.segment ORDER BY r.step) AS previous_users,
	       k.k
	FROM _funnel_rows r JOIN funnels fn ON fn.id = r.funnel_id CROSS JOIN _cell_size k),
c AS (
	SELECT r.funnel, r.scheme, r.segment,
	       CASE WHEN r.segment = '(all)' THEN r.users < r.k
	            ELSE (_suppress_mask(array_agg(r.users) OVER w, NULL::boolean[], r.k))[row_number() OVER w] END AS suppressed
	FROM r WHERE r.step = 1
	WINDOW w AS (PARTITION BY r.funnel, r.scheme, r.segment = '(all)' ORDER BY r.segment ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
SELECT r.funnel, r.scheme, r.segment, r.step, r.step_name,
       CASE WHEN NOT c.suppressed THEN r.users END AS users,
       CASE WHEN NOT c.suppressed THEN r.users::float8 / r.start_users::float8 END AS rate_from_start,
       CASE WHEN NOT c.suppressed AND r.step > 1 THEN r.users::float8 / nullif(r.previous_users, 0)::float8 END AS rate_from_previous,
       CASE WHEN NOT c.suppressed AND r.users >= r.k THEN r.median_seconds END AS median_seconds_from_previous,
       c.suppressed
FROM r JOIN c ON c.funnel = r.funnel AND c.scheme = r.scheme AND c.segment = r.segment
WHERE _coordinator_only('the funnels');  -- (a worker's copy is empty: review 31)
COMMENT ON VIEW funnel_conversion IS 'Managed funnels per segment: for every step, the users who reached at least it (by window_funnel''s semantics, with the segment they were in at their step 1), rates from step 1 and from the previous step, and the median time from the previous step, as of the last refresh';
COMMENT ON COLUMN funnel_conversion.funnel IS 'Funnel name (define_funnel)';
COMMENT ON COLUMN funnel_conversion.scheme IS 'Scheme the segments are of ((none) when no scheme is defined)';
COMMENT ON COLUMN funnel_conversion.segment IS 'Segment the users were in at the time of their step 1 (the stay in force then, else the first one after it; (unknown) when none), or (all)';
COMMENT ON COLUMN funnel_conversion.step IS 'Step number, from 1';
COMMENT ON COLUMN funnel_conversion.step_name IS 'Feature name of the step';
COMMENT ON COLUMN funnel_conversion.users IS 'Users who reached at least this step (NULL when suppressed)';
COMMENT ON COLUMN funnel_conversion.rate_from_start IS 'users / users at step 1';
COMMENT ON COLUMN funnel_conversion.rate_from_previous IS 'users / users at the previous step; NULL at step 1 (and when no one reached the previous step)';
COMMENT ON COLUMN funnel_conversion.median_seconds_from_previous IS 'Median over the users who reached this step of the seconds from the previous step to it, in the earliest chain that reaches the user''s level; NULL at step 1, and for fewer than min_cell_size users';
COMMENT ON COLUMN funnel_conversion.suppressed IS 'The segment has fewer than min_cell_size users at step 1, or another small segment of the funnel and scheme could be found from it: the numbers are NULL';
