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
	-- count below stays true; and after a refresh in progress, review 29 R1)
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
-- of the events refresh read this run (_funnel_batch, a table of the state:
-- user_id, ts, event, replace; "replace" rows are all the events of a user
-- recomputed from the sources, or the rows of the funnels' steps of a user
-- with a late event, marked by a row of no time) go into the per-user
-- state, and the chains of the users they touch are computed again.  Users
-- recomputed (the "replace" users of _batch, every user when full) lose
-- their old state first, so a user whose events are gone loses it.  On
-- Citus both tables are colocated with the events: the statements run on
-- the workers, shard by shard.  (enable_seqscan off: each user's state is
-- found by its key, even when the state was empty when the statement was
-- planned, as it is after define_funnel and an ANALYZE; a scan of the
-- state for each user then read every page the statement had written so
-- far, quadratic in the users.)
CREATE FUNCTION _refresh_funnels(full_refresh boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off SET enable_seqscan = off AS $$
BEGIN
	IF full_refresh THEN
		DELETE FROM segmentation._funnel_state;
	ELSE
		-- (and the users of a late event: their rows read again, "replace"
		-- rows of _funnel_batch, with a row of no time even when none is left)
		DELETE FROM segmentation._funnel_state s WHERE s.user_id IN (SELECT b.user_id FROM segmentation._batch b WHERE b.replace
		                                                            UNION SELECT f.user_id FROM segmentation._funnel_batch f WHERE f.replace);
	END IF;
	EXECUTE format($q$
		INSERT INTO segmentation._funnel_state AS s (funnel_id, user_id, ts, masks, chain, scan, maxts)
		SELECT n.funnel_id, n.user_id, a.kept_ts, a.kept_masks, a.new_chain, a.new_scan, coalesce(a.maxts, o.maxts, '-infinity')
		FROM (SELECT fn.id AS funnel_id, cardinality(fn.steps) AS nsteps, fn."window", fn.modes, x.user_id,
		             array_agg(x.ts) AS ts, array_agg(x.mask) AS masks
		      -- (each row with each funnel it is a step of, its steps a bit
		      -- each; and every row with each funnel that keeps every event,
		      -- with no bit when of no step: the rows of no time mark users
		      -- only.  Not joined with _funnel_batch's distinct event names,
		      -- which Citus gathers; nor every row with every funnel, the
		      -- modes tested for each pair: ten times slower, 1M rows and 20
		      -- funnels)
		      FROM (SELECT m.funnel_id, b.user_id, b.ts, m.mask
		            FROM segmentation._funnel_batch b
		            JOIN (SELECT f.id AS funnel_id, em.event, sum(1 << (st.k - 1)::int)::int AS mask
		                  FROM segmentation.funnels f, unnest(f.steps) WITH ORDINALITY st(name, k),
		                       segmentation.features ft, unnest(ft.event_names) em(event)
		                  WHERE ft.name = st.name AND NOT segmentation._funnel_keeps_all(f.modes)
		                  GROUP BY 1, 2) m ON m.event = b.event
		            UNION ALL
		            SELECT fk.funnel_id, b.user_id, b.ts, coalesce(m.mask, 0)
		            FROM segmentation._funnel_batch b
		            CROSS JOIN (SELECT f.id AS funnel_id FROM segmentation.funnels f WHERE segmentation._funnel_keeps_all(f.modes)) fk
		            LEFT JOIN (SELECT f.id AS funnel_id, em.event, sum(1 << (st.k - 1)::int)::int AS mask
		                       FROM segmentation.funnels f, unnest(f.steps) WITH ORDINALITY st(name, k),
		                            segmentation.features ft, unnest(ft.event_names) em(event)
		                       WHERE ft.name = st.name
		                       GROUP BY 1, 2) m ON m.funnel_id = fk.funnel_id AND m.event = b.event
		            WHERE b.ts IS NOT NULL) x
		      JOIN segmentation.funnels fn ON fn.id = x.funnel_id
		      GROUP BY 1, 2, 3, 4, 5) n
		-- (the funnel's definition carried in n: on Citus, with funnels
		-- joined here, _funnel_advance was given one funnel's masks with
		-- another's steps once two funnels were defined)
		-- each user's state found by its key (OFFSET 0: not turned into a join
		-- that would read every user's); on Citus, with the state distributed,
		-- a plain join (it refuses a lateral one to a local table's rows) to
		-- the states of the batch's users (Citus reads those on the workers:
		-- with the work table colocated, shard by shard)
		%s
		-- (the rows in any order: _funnel_advance sorts them)
		CROSS JOIN LATERAL segmentation._funnel_advance(coalesce(o.ts, '{}') || n.ts, coalesce(o.masks, '{}') || n.masks,
		                                                n.nsteps, n."window", n.modes,
		                                                coalesce(o.scan, '{}'), coalesce(o.chain, '{}')) a
		ON CONFLICT (user_id, funnel_id) DO UPDATE SET ts = EXCLUDED.ts, masks = EXCLUDED.masks, chain = EXCLUDED.chain,
			scan = EXCLUDED.scan, maxts = EXCLUDED.maxts
	$q$, CASE WHEN segmentation._citus_member('segmentation._funnel_state') IS NULL
	          THEN 'LEFT JOIN LATERAL (SELECT o.ts, o.masks, o.scan, o.chain, o.maxts FROM segmentation._funnel_state o
	                WHERE o.user_id = n.user_id AND o.funnel_id = n.funnel_id OFFSET 0) o ON true'
	          ELSE 'LEFT JOIN (SELECT o.* FROM segmentation._funnel_state o
	                           WHERE o.user_id IN (SELECT b.user_id FROM segmentation._funnel_batch b)) o
	                  ON o.user_id = n.user_id AND o.funnel_id = n.funnel_id' END);
END $$;
COMMENT ON FUNCTION _refresh_funnels(boolean) IS 'Internal (refresh): appends the rows of the events refresh read (_funnel_batch) to the per-user funnel state and computes the chains of the users they touch again';

-- The rows of funnel_conversion, from every user's chain and the history:
-- refresh computes them after the segments, and forget_user, opt_out and
-- opt_in again.  A user's segment in a scheme is the one at the time of
-- their step 1: the stay in force then, else the first one they entered
-- after it, else (unknown); with no scheme defined, scheme is (none).
-- A user's stays in a scheme follow each other (each ends where the next
-- begins), so the stay in force at t, or else the first one after t, is
-- the stay that ends first after t: of the stays that ended (transitions),
-- the one that ended first after t, else the current one
-- (profiles.segments); membership_history read this way, without
-- unfolding every user's segments.
--
-- One node takes the medians with percentile_cont.  On Citus, which
-- distributes the state, that would gather every user's steps to the
-- coordinator (percentile_cont has no partial state); there the medians
-- are found by selection over counts, as the RFM breakpoints are
-- (sql/20-scores.sql): round 0 counts each group's users, and its values
-- in 65,536 buckets of the whole range of keys (a group: funnel, scheme,
-- segment or all of the scheme's, step); then each round counts, for the
-- two ranks each median is interpolated between, the keys in the window
-- still holding its value, in buckets of equal width (count(*), min and
-- max, which Citus adds up from the workers); the bucket's keys from min
-- to max are the next window, and a window of no more keys than buckets is
-- counted by whole keys.  A group is known on the workers by a 64-bit hash
-- of its names (two groups of one hash: an error); a row finds its window
-- by _key_window, called in FROM (once a row).  buckets: of a window in a
-- round (NULL: 65,536 in round 0, then 256 to 65,536, as many as 2^20
-- counts a round allow; a test gives a few to have one node take the
-- selection).
-- (jit off: the row estimates of these queries are far too high, and
-- compiling them would cost more than running them; work_mem: the medians
-- sort every user's steps, about 100 bytes each, in memory up to 2M of them)
CREATE FUNCTION _materialize_funnels(buckets int DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off SET work_mem = '256MB' AS $$
DECLARE
	-- every user's steps: funnel, scheme, segment at step 1, step, seconds
	-- from the previous step (one query: Citus runs it on the workers)
	steps text := $q$
		SELECT s.funnel_id, sc.scheme, coalesce(e.from_segment, p.segments -> sc.scheme ->> 0, '(unknown)') AS segment, x.k,
		       CASE WHEN x.k > 1 THEN (extract(epoch FROM x.t) - extract(epoch FROM s.chain[x.k - 1]))::float8 END AS dt
		FROM segmentation._funnel_state s
		JOIN segmentation.profiles p ON p.user_id = s.user_id
		CROSS JOIN unnest(coalesce((SELECT array_agg(DISTINCT g.scheme) FROM segmentation.segments g), '{(none)}')) sc(scheme)
		LEFT JOIN (SELECT DISTINCT ON (f.funnel_id, f.user_id, t.scheme) f.funnel_id, f.user_id, t.scheme, t.from_segment
		           FROM segmentation._funnel_state f
		           JOIN segmentation.transitions t ON t.user_id = f.user_id AND t.at > f.chain[1] AND t.from_segment IS NOT NULL
		           WHERE cardinality(f.chain) >= 1
		           ORDER BY f.funnel_id, f.user_id, t.scheme, t.at) e
		  ON e.funnel_id = s.funnel_id AND e.user_id = s.user_id AND e.scheme = sc.scheme
		CROSS JOIN LATERAL unnest(s.chain) WITH ORDINALITY x(t, k)
		WHERE cardinality(s.chain) >= 1 AND NOT p.opted_out$q$;
	-- each step in its segment's group and in its scheme's (segment NULL),
	-- with the group's hash and the value's key
	keyed text;
	round int := 0;
	b int;
	-- the groups: hash, names, users, values; median
	g_g bigint[];
	g_f int[];
	g_sc text[];
	g_sg text[];
	g_k int[];
	g_users bigint[];
	g_n bigint[];
	g_med double precision[];
	-- round 0's counts: group, names, bucket, users (and in h_: values,
	-- least and greatest key)
	r_g bigint[];
	r_f int[];
	r_sc text[];
	r_sg text[];
	r_k int[];
	r_users bigint[];
	-- the targets, two ranks (from 0) of each group with values: the keys
	-- below their window, the window (keys lo to hi, c of them), the key
	t_g bigint[];
	t_rank bigint[];
	t_below bigint[];
	t_lo bigint[];
	t_hi bigint[];
	t_c bigint[];
	t_key bigint[];
	-- the windows of a round, in order of group and keys
	w_g bigint[];
	w_lo bigint[];
	w_hi bigint[];
	w_c bigint[];
	w_buckets int[];
	-- a round's counts: window, bucket (or whole key), keys, least, greatest
	h_w int[];
	h_b bigint[];
	h_c bigint[];
	h_lo bigint[];
	h_hi bigint[];
	pending bigint;
	hits bigint;
BEGIN
	DELETE FROM segmentation._funnel_rows;
	IF to_regclass('segmentation._funnel_state') IS NULL OR NOT EXISTS (SELECT 1 FROM segmentation.funnels) THEN
		RETURN;
	END IF;
	IF buckets IS NOT NULL AND (buckets < 2 OR buckets > 65536) THEN
		RAISE EXCEPTION 'buckets must be 2 to 65536' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF buckets IS NULL AND segmentation._citus_member('segmentation._funnel_state') IS NULL THEN
		EXECUTE format($q$
			SELECT array_agg(a.funnel_id), array_agg(a.scheme), array_agg(a.segment), array_agg(a.k),
			       array_agg(a.users), array_agg(a.median)
			FROM (SELECT s.funnel_id, s.scheme, CASE WHEN GROUPING(s.segment) = 0 THEN s.segment END AS segment, s.k,
			             count(*) AS users, percentile_cont(0.5) WITHIN GROUP (ORDER BY s.dt) AS median
			      FROM (%s) s
			      GROUP BY GROUPING SETS ((s.funnel_id, s.scheme, s.segment, s.k), (s.funnel_id, s.scheme, s.k))) a$q$, steps)
			INTO g_f, g_sc, g_sg, g_k, g_users, g_med;
	ELSE
		keyed := format($q$
			SELECT s.funnel_id, s.scheme, a.segment, s.k, segmentation._value_key(s.dt) AS key,
			       CASE WHEN a.segment IS NULL THEN hashtextextended(s.scheme, s.funnel_id::bigint << 32 | s.k)
			            ELSE hashtextextended(a.segment, hashtextextended(s.scheme, s.funnel_id::bigint << 32 | s.k)) END AS g
			FROM (%s) s CROSS JOIN LATERAL unnest(ARRAY[s.segment, NULL]) a(segment)$q$, steps);
		-- round 0: each group's users and values, the values counted in
		-- buckets of the whole range of keys (a group's window)
		EXECUTE format($q$
			SELECT array_agg(r.g), array_agg(r.funnel_id), array_agg(r.scheme), array_agg(r.segment), array_agg(r.k),
			       array_agg(r.b), array_agg(r.users), array_agg(r.c), array_agg(r.lo), array_agg(r.hi)
			FROM (SELECT k.g, k.funnel_id, k.scheme, k.segment, k.k,
			             segmentation._key_bucket(k.key, 1, '{-9223372036854775808}', '{9223372036854775807}', ARRAY[$1]) AS b,
			             count(*) AS users, count(k.key) AS c, min(k.key) AS lo, max(k.key) AS hi
			      FROM (%s) k GROUP BY 1, 2, 3, 4, 5, 6) r$q$, keyed)
			INTO r_g, r_f, r_sc, r_sg, r_k, h_b, r_users, h_c, h_lo, h_hi USING coalesce(buckets, 65536);
		SELECT array_agg(x.g ORDER BY x.g), array_agg(x.f ORDER BY x.g), array_agg(x.sc ORDER BY x.g),
		       array_agg(x.sg ORDER BY x.g), array_agg(x.k ORDER BY x.g), array_agg(x.users ORDER BY x.g),
		       array_agg(x.n ORDER BY x.g)
		INTO g_g, g_f, g_sc, g_sg, g_k, g_users, g_n
		FROM (SELECT r.g, r.f, r.sc, r.sg, r.k, sum(r.users) AS users, sum(r.c) AS n
		      FROM unnest(r_g, r_f, r_sc, r_sg, r_k, r_users, h_c) r(g, f, sc, sg, k, users, c)
		      GROUP BY 1, 2, 3, 4, 5) x;
		RAISE DEBUG 'managed funnels'' medians, round 0: % groups, % counts', coalesce(cardinality(g_g), 0), coalesce(cardinality(r_g), 0);
		IF g_g IS NULL THEN
			RETURN;
		END IF;
		IF (SELECT count(DISTINCT x) FROM unnest(g_g) x) <> cardinality(g_g) THEN
			RAISE EXCEPTION 'two groups of the managed funnels have the same hash' USING ERRCODE = 'internal_error';
		END IF;
		-- the targets, in the whole range; the round's windows: one a group
		SELECT array_agg(x.g ORDER BY x.g, r.rank), array_agg(r.rank ORDER BY x.g, r.rank),
		       array_agg(0::bigint ORDER BY x.g, r.rank), array_agg(x.n ORDER BY x.g, r.rank)
		INTO t_g, t_rank, t_below, t_c
		FROM unnest(g_g, g_n) x(g, n)
		CROSS JOIN LATERAL (VALUES ((x.n - 1) / 2), (x.n / 2)) r(rank)
		WHERE x.n >= 1;
		t_lo := array_fill('-9223372036854775808'::bigint, ARRAY[coalesce(cardinality(t_g), 0)]);
		t_hi := array_fill(9223372036854775807, ARRAY[coalesce(cardinality(t_g), 0)]);
		t_key := array_fill(NULL::bigint, ARRAY[coalesce(cardinality(t_g), 0)]);
		SELECT array_agg(x.g ORDER BY x.g) INTO w_g FROM unnest(g_g, g_n) x(g, n) WHERE x.n >= 1;
		w_lo := array_fill('-9223372036854775808'::bigint, ARRAY[coalesce(cardinality(w_g), 0)]);
		w_hi := array_fill(9223372036854775807, ARRAY[coalesce(cardinality(w_g), 0)]);
		-- (each count's window: its group's)
		SELECT array_agg(w.i ORDER BY r.i) INTO h_w
		FROM unnest(r_g) WITH ORDINALITY r(g, i) LEFT JOIN unnest(w_g) WITH ORDINALITY w(g, i) ON w.g = r.g;
		LOOP
			-- each target's bucket: the one holding its rank (the buckets of
			-- its window in order, with the keys before each)
			SELECT array_agg(coalesce(t.key, CASE WHEN h.lo = h.hi THEN h.lo END) ORDER BY t.i),
			       array_agg((t.below + coalesce(h.before, 0))::bigint ORDER BY t.i),
			       array_agg(coalesce(h.lo, t.lo) ORDER BY t.i), array_agg(coalesce(h.hi, t.hi) ORDER BY t.i),
			       array_agg(coalesce(h.c, t.c) ORDER BY t.i),
			       count(*) FILTER (WHERE t.key IS NULL), count(h.c)
			INTO t_key, t_below, t_lo, t_hi, t_c, pending, hits
			FROM unnest(t_g, t_rank, t_below, t_lo, t_hi, t_c, t_key) WITH ORDINALITY t(g, rank, below, lo, hi, c, key, i)
			LEFT JOIN unnest(w_g, w_lo, w_hi) WITH ORDINALITY w(g, lo, hi, i)
			  ON t.key IS NULL AND w.g = t.g AND w.lo = t.lo AND w.hi = t.hi
			LEFT JOIN (SELECT u.w, u.c, u.lo, u.hi, sum(u.c) OVER (PARTITION BY u.w ORDER BY u.b) - u.c AS before
			           FROM unnest(h_w, h_b, h_c, h_lo, h_hi) u(w, b, c, lo, hi) WHERE u.b IS NOT NULL) h
			  ON h.w = w.i AND t.below + h.before <= t.rank AND t.rank < t.below + h.before + h.c;
			IF hits <> pending THEN
				RAISE EXCEPTION 'the medians of the managed funnels could not be found: their rows changed while they were read'
					USING ERRCODE = 'serialization_failure';
			END IF;
			-- the next round's windows: the buckets that hold a rank, from
			-- their least key to their greatest, in order
			SELECT array_agg(w.g ORDER BY w.g, w.lo), array_agg(w.lo ORDER BY w.g, w.lo), array_agg(w.hi ORDER BY w.g, w.lo),
			       array_agg(w.c ORDER BY w.g, w.lo)
			INTO w_g, w_lo, w_hi, w_c
			FROM (SELECT DISTINCT t.g, t.lo, t.hi, t.c FROM unnest(t_g, t_lo, t_hi, t_c, t_key) t(g, lo, hi, c, key)
			      WHERE t.key IS NULL) w;
			EXIT WHEN w_g IS NULL;
			-- (a round narrows a window b times at least: 2^64 keys are one
			-- after 64 rounds of 2 buckets)
			round := round + 1;
			IF round > 66 THEN
				RAISE EXCEPTION 'the medians of the managed funnels could not be found in % rounds', round - 1
					USING ERRCODE = 'internal_error';
			END IF;
			b := coalesce(buckets, greatest(256, least(65536, 1048576 / cardinality(w_g))));
			SELECT array_agg(CASE WHEN u.c <= b THEN 0 ELSE b END ORDER BY u.i) INTO w_buckets
			FROM unnest(w_c) WITH ORDINALITY u(c, i);
			EXECUTE format($q$
				SELECT array_agg(h.w), array_agg(h.b), array_agg(h.c), array_agg(h.lo), array_agg(h.hi)
				FROM (SELECT w.w, segmentation._key_bucket(x.key, w.w, $2, $3, $4) AS b, count(*) AS c,
				             min(x.key) AS lo, max(x.key) AS hi
				      -- (a function in FROM: called once a row)
				      FROM (%s) x CROSS JOIN LATERAL segmentation._key_window(x.g, x.key, $1, $2, $3) w(w)
				      WHERE w.w IS NOT NULL
				      GROUP BY 1, 2) h$q$, keyed)
				INTO h_w, h_b, h_c, h_lo, h_hi USING w_g, w_lo, w_hi, w_buckets;
			RAISE DEBUG 'managed funnels'' medians, round %: % windows, % counts', round, cardinality(w_g), cardinality(h_w);
		END LOOP;
		-- percentile_cont's arithmetic: the value of rank (n - 1) / 2, or
		-- halfway to the next when n is even
		SELECT array_agg(m.median ORDER BY x.i) INTO g_med
		FROM unnest(g_g, g_n) WITH ORDINALITY x(g, n, i)
		LEFT JOIN (SELECT t.g, CASE WHEN max(t.key) = min(t.key) THEN segmentation._key_value(min(t.key))
		                            ELSE segmentation._key_value(min(t.key))
		                                 + 0.5::float8 * (segmentation._key_value(max(t.key)) - segmentation._key_value(min(t.key))) END AS median
		           FROM unnest(t_g, t_key) t(g, key) GROUP BY t.g) m ON m.g = x.g;
	END IF;
	-- every step of every group that has users at step 1
	INSERT INTO segmentation._funnel_rows (funnel_id, scheme, segment, step, users, median_seconds)
	WITH agg AS (
		SELECT a.funnel_id, a.scheme, coalesce(a.segment, '(all)') AS segment, a.k, a.users, a.median
		FROM unnest(g_f, g_sc, g_sg, g_k, g_users, g_med) a(funnel_id, scheme, segment, k, users, median))
	SELECT g.funnel_id, g.scheme, g.segment, k.k, coalesce(a.users, 0), a.median
	FROM agg g
	JOIN segmentation.funnels fn ON fn.id = g.funnel_id
	CROSS JOIN LATERAL generate_series(1, cardinality(fn.steps)) k(k)
	LEFT JOIN agg a ON a.funnel_id = g.funnel_id AND a.scheme = g.scheme AND a.segment = g.segment AND a.k = k.k
	WHERE g.k = 1;
END $$;
COMMENT ON FUNCTION _materialize_funnels(int) IS 'Internal: computes the rows of funnel_conversion from the per-user chains and membership_history (refresh, forget_user, opt_out, opt_in); on Citus, the medians by selection over counts (buckets: of a window in a round, NULL: as many as 2^20 counts a round allow)';

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
