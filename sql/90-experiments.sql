-- Experiments per segment.

-- ===================================================================
-- Experiments per segment
-- ===================================================================

CREATE TABLE experiments (
	name text PRIMARY KEY,
	assignments regclass NOT NULL,
	user_column name NOT NULL,
	variant_column name NOT NULL,
	assigned_at_column name NOT NULL,
	control text NOT NULL,
	conversion_event text NOT NULL,
	conversion_window interval NOT NULL,
	variants text[],
	weights float8[],
	tracked_by name NOT NULL DEFAULT current_user,
	defined_at timestamptz NOT NULL DEFAULT now(),
	mde float8 NOT NULL DEFAULT 0.1,
	cuped_window interval NOT NULL DEFAULT '28 days'
);
SELECT pg_catalog.pg_extension_config_dump('experiments', '');
CREATE TRIGGER stamp_tracked_by BEFORE INSERT OR UPDATE ON experiments
	FOR EACH ROW EXECUTE FUNCTION _stamp_tracked_by();
COMMENT ON TABLE experiments IS 'A/B tests read out per segment: where the assignments are, the control, the conversion event and window, the design split';
COMMENT ON COLUMN experiments.variants IS 'Variants of the design split (NULL: the variants seen, equal weights)';
COMMENT ON COLUMN experiments.weights IS 'Design weight of each variant, in the order of variants';
COMMENT ON COLUMN experiments.cuped_window IS 'Whole days before the day of assignment in which the CUPED covariate is read from the stored behaviors';
COMMENT ON COLUMN experiments.mde IS 'Minimum detectable effect, relative to the control rate (0.1: a 10% change): enough_data and the mixing variance of sequential_p_value follow it';
COMMENT ON COLUMN experiments.tracked_by IS 'Role that defined the experiment (set by a trigger): the readout reads the assignments only while this role may';

-- An experiment's assignments as the readout reads them: a table the
-- defining role may read safely (_check_readable), the user id of the
-- tracked type, a variant of a built-in type that casts to text with built-in
-- code, a timestamptz; a sane design split.  Checked when defined and before
-- every read, so a row changed in the table later cannot turn the readout.
CREATE FUNCTION _check_experiment(e experiments) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	col name;
	t regtype;
	user_t regtype;
	src regclass;
BEGIN
	IF e.name IS NULL OR e.name = '' OR e.control IS NULL OR e.conversion_event IS NULL THEN
		RAISE EXCEPTION 'arguments "name", "control" and "conversion_event" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF e.name ~ '^\(.*\)$' OR e.control ~ '^\(.*\)$' THEN
		RAISE EXCEPTION 'names in parentheses, such as "%", are reserved for the extension''s own rows', e.name
			USING ERRCODE = 'reserved_name';
	END IF;
	IF e.mde IS NULL OR NOT (e.mde > 0 AND e.mde <= 10) THEN
		RAISE EXCEPTION 'argument "mde" must be a relative effect above 0 and at most 10 (0.1: a 10%% change of the control rate)'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF e.cuped_window IS NULL OR date_part('year', e.cuped_window) <> 0 OR date_part('month', e.cuped_window) <> 0
	   OR date_part('epoch', e.cuped_window) <> date_part('day', e.cuped_window) * 86400
	   OR date_part('day', e.cuped_window) NOT BETWEEN 1 AND 3650 THEN
		RAISE EXCEPTION 'argument "cuped_window" must be a whole number of days from 1 to 3650, such as ''28 days'''
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF e.conversion_window IS NULL OR e.conversion_window <= interval '0' OR e.conversion_window > interval '10 years' THEN
		RAISE EXCEPTION 'argument "conversion_window" must be a positive interval of at most 10 years' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT s.user_type INTO user_t FROM segmentation.sources s LIMIT 1;
	IF user_t IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Conversions are read from the tracked events: call segmentation.track(...) first.';
	END IF;
	PERFORM segmentation._check_readable(e.assignments, e.tracked_by, 'assignments table');
	-- the readout reads the tracked events for the role that defined it, who
	-- would learn their rows from it (a conversion's exact time and value):
	-- that role must be able to read every tracked table itself
	FOR src IN SELECT s.source FROM segmentation.sources s ORDER BY s.id LOOP
		PERFORM segmentation._check_readable(src, e.tracked_by, 'tracked table');
	END LOOP;
	FOREACH col IN ARRAY ARRAY[e.user_column, e.variant_column, e.assigned_at_column] LOOP
		t := NULL;
		SELECT a.atttypid::regtype INTO t FROM pg_attribute a
		WHERE a.attrelid = e.assignments AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF t IS NULL THEN
			RAISE EXCEPTION 'column "%" does not exist in %', col, e.assignments USING ERRCODE = 'undefined_column';
		END IF;
		IF col = e.user_column AND t <> user_t THEN
			RAISE EXCEPTION 'user column "%" of % is %, but tracked events use %', col, e.assignments, t, user_t
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = e.variant_column AND t NOT IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'int2'::regtype,
		                                      'int4'::regtype, 'int8'::regtype, 'bool'::regtype) THEN
			RAISE EXCEPTION 'variant column "%" of % is %, not text, an integer or boolean', col, e.assignments, t
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = e.assigned_at_column AND t <> 'timestamptz'::regtype THEN
			RAISE EXCEPTION 'assignment time column "%" of % is %, not timestamptz', col, e.assignments, t
				USING ERRCODE = 'datatype_mismatch';
		END IF;
	END LOOP;
	IF (e.variants IS NULL) <> (e.weights IS NULL) OR cardinality(e.variants) <> cardinality(e.weights)
	   OR array_position(e.variants, NULL) IS NOT NULL OR array_position(e.weights, NULL) IS NOT NULL
	   OR array_ndims(e.variants) > 1 OR array_ndims(e.weights) > 1 THEN
		RAISE EXCEPTION 'arguments "variants" and "weights" go together, one weight per variant, without NULLs'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- every refresh computes the readout per scheme, segment and variant
	IF cardinality(e.variants) > 100 OR EXISTS (SELECT 1 FROM unnest(e.variants) v WHERE octet_length(v) > 200) THEN
		RAISE EXCEPTION 'argument "variants" may name at most 100 variants of at most 200 bytes each'
			USING ERRCODE = 'program_limit_exceeded';
	END IF;
	-- weights are relative: a sane range keeps the SRM test's arithmetic finite
	IF EXISTS (SELECT 1 FROM unnest(e.weights) w WHERE NOT (w >= 0 AND w <= 1e9)) OR (SELECT sum(w) FROM unnest(e.weights) w) = 0 THEN
		RAISE EXCEPTION 'argument "weights" must be numbers from 0 to 1e9, not all 0' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Weights are relative: {50,50} and {1,1} are the same split.';
	END IF;
	IF e.variants IS NOT NULL AND NOT e.control = ANY (e.variants) THEN
		RAISE EXCEPTION 'control "%" is not one of the variants %', e.control, e.variants USING ERRCODE = 'invalid_parameter_value';
	END IF;
END $$;
COMMENT ON FUNCTION _check_experiment(experiments) IS 'Internal: refuses an experiment whose assignments cannot be read safely or whose columns or split are wrong';

CREATE FUNCTION define_experiment(name text, assignments regclass, user_column name, variant_column name,
                                  assigned_at_column name, control text, conversion_event text,
                                  conversion_window interval DEFAULT '14 days',
                                  variants text[] DEFAULT NULL, weights float8[] DEFAULT NULL,
                                  mde float8 DEFAULT 0.1, cuped_window interval DEFAULT '28 days')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM segmentation._check_experiment(ROW(name, assignments, user_column, variant_column, assigned_at_column,
		control, conversion_event, conversion_window, variants, weights, current_user, now(), mde, cuped_window)::segmentation.experiments);
	INSERT INTO segmentation.experiments AS e (name, assignments, user_column, variant_column, assigned_at_column,
		control, conversion_event, conversion_window, variants, weights, mde, cuped_window)
	VALUES (name, assignments, user_column, variant_column, assigned_at_column, control, conversion_event,
		conversion_window, variants, weights, mde, cuped_window)
	ON CONFLICT ON CONSTRAINT experiments_pkey DO UPDATE SET assignments = EXCLUDED.assignments,
		user_column = EXCLUDED.user_column, variant_column = EXCLUDED.variant_column,
		assigned_at_column = EXCLUDED.assigned_at_column, control = EXCLUDED.control,
		conversion_event = EXCLUDED.conversion_event, conversion_window = EXCLUDED.conversion_window,
		variants = EXCLUDED.variants, weights = EXCLUDED.weights, mde = EXCLUDED.mde,
		cuped_window = EXCLUDED.cuped_window, defined_at = now();
	PERFORM segmentation._materialize_experiments(name);
END $$;
COMMENT ON FUNCTION define_experiment(text, regclass, name, name, name, text, text, interval, text[], float8[], float8, interval) IS 'Define (or redefine) an experiment: assignments table and columns, control variant, conversion event and window, optional design split (variants and weights; default equal), minimum detectable effect (relative), CUPED pre-period (whole days); computes its readout now, and every refresh again';

-- The readout, materialized: refresh (and define_experiment, for its
-- experiment) computes it into _experiment_lift_rows, and experiment_lift
-- reads that table.  So a reader runs nothing and reads or locks no table of
-- another role (a reader who held the readout open in a transaction held
-- every tracked table's lock, and every refresh failed), and reading is a
-- table scan however many assignments there are.
CREATE TABLE _experiment_lift_rows (
	experiment text NOT NULL REFERENCES experiments (name) ON DELETE CASCADE ON UPDATE CASCADE,
	ord bigint NOT NULL,
	scheme text, segment text, variant text, users bigint, conversions bigint,
	conversion_rate double precision, control_rate double precision,
	abs_lift double precision, abs_lift_ci_low double precision, abs_lift_ci_high double precision,
	rel_lift double precision, rel_lift_ci_low double precision, rel_lift_ci_high double precision,
	p_value double precision, srm_p_value double precision, srm_flag boolean,
	revenue_per_user double precision, revenue_p_value double precision, enough_data boolean,
	diff_var double precision, revenue_ci_low double precision, revenue_ci_high double precision,
	sequential_p_value double precision, chance_to_win double precision,
	targetable_users bigint,
	cuped_abs_lift double precision, cuped_abs_lift_ci_low double precision, cuped_abs_lift_ci_high double precision,
	cuped_p_value double precision,
	PRIMARY KEY (experiment, ord)
);
SELECT pg_catalog.pg_extension_config_dump('_experiment_lift_rows', '');
COMMENT ON TABLE _experiment_lift_rows IS 'Internal: the rows of experiment_lift, as the last refresh or define_experiment computed them (ord: their order within the experiment); what pools several rows (q-values, heterogeneity) is computed by the view, from the rows it shows';
-- The users of each arm per combination of their segments (one per scheme,
-- at assignment), and (variant NULL) every user's now: what experiment_lift
-- suppresses by (_suppress_schemes), at read time.
CREATE TABLE _experiment_lift_combos (
	experiment text NOT NULL REFERENCES experiments (name) ON DELETE CASCADE ON UPDATE CASCADE,
	variant text,
	segments jsonb NOT NULL,
	users bigint NOT NULL
);
CREATE INDEX ON _experiment_lift_combos (experiment, variant);
SELECT pg_catalog.pg_extension_config_dump('_experiment_lift_combos', '');
COMMENT ON TABLE _experiment_lift_combos IS 'Internal: users per combination of segments ({"scheme": "segment", ...}) of each arm at assignment, and of every user now (variant NULL), as the last refresh or define_experiment computed them: what experiment_lift suppresses by';
COMMENT ON COLUMN _experiment_lift_rows.diff_var IS 'Unpooled variance of abs_lift: the weight of the row in the heterogeneity test';

-- Computes the readout of one experiment (or of all, when NULL) into
-- _experiment_lift_rows, as the extension's owner: each experiment is
-- checked again first (_check_experiment, which locks what it checks), and
-- one that cannot be read safely is left out with a warning, not the others.
-- One writer at a time: it takes the refresh lock (refresh holds it already).
CREATE FUNCTION _materialize_experiments(only_experiment text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	e segmentation.experiments;
	src text;
	checked oid[];
	saved_lock_timeout text := current_setting('lock_timeout');
	warnings text[] := ARRAY[]::text[];
	dist boolean;	-- Citus manages the per-user state
	schemes text[];
	hidden text := '';
	hash_key text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	-- it locks the tables it reads (_check_readable): wait for them no longer
	-- than a refresh would
	PERFORM set_config('lock_timeout', segmentation._setting_ms('refresh_lock_timeout')::text, true);
	BEGIN
		PERFORM FROM segmentation._refresh_lock FOR UPDATE;
	EXCEPTION WHEN lock_not_available THEN
		RAISE EXCEPTION 'a refresh has run for longer than refresh_lock_timeout (%): the experiment readout was not computed',
			segmentation._setting('refresh_lock_timeout') USING ERRCODE = 'lock_not_available',
			HINT = 'Try again when it is done: refresh_status shows the runs.';
	END;
	DELETE FROM segmentation._experiment_lift_rows r WHERE only_experiment IS NULL OR r.experiment = only_experiment;
	DELETE FROM segmentation._experiment_lift_combos r WHERE only_experiment IS NULL OR r.experiment = only_experiment;
	IF to_regclass('segmentation.membership_history') IS NOT NULL THEN
		dist := segmentation._citus_member('segmentation.profiles') IS NOT NULL;
		SELECT x.sql, x.checked INTO src, checked FROM segmentation._sources_sql(false) x;
		-- the schemes a user is placed in (every user is in each)
		SELECT coalesce(array_agg(DISTINCT g.scheme ORDER BY g.scheme), '{(none)}') INTO schemes FROM segmentation.segments g;
		-- forgotten and opted-out users are in no readout: their keyed
		-- hashes, joined as refresh joins them (on Citus, with the copies on
		-- every node, so that each shard's assigned users are tested there;
		-- only when there are such users: a hash per assignment)
		IF EXISTS (SELECT 1 FROM segmentation.forgotten_users) OR EXISTS (SELECT 1 FROM segmentation.opt_outs) THEN
			-- (an error without the key, or with a list the owner cannot read
			-- whole, as refresh: never no match)
			PERFORM segmentation._is_forgotten(''), segmentation._is_opted_out('');
			IF dist THEN
				PERFORM segmentation._sync_on_nodes();
			END IF;
			SELECT h.hash_key, format(' LEFT JOIN %s f ON f.id_hash = a.h LEFT JOIN %s o ON o.id_hash = a.h'
			                          ' WHERE f.id_hash IS NULL AND o.id_hash IS NULL', h.forgotten, h.opted_out)
			INTO hash_key, hidden FROM segmentation._hidden_users_sql(dist) h;
		END IF;
		-- what the first statement leaves for the second: the counts and
		-- sums of each scheme, segment and arm (segments NULL), and the users
		-- of each arm per combination of their segments at assignment
		CREATE TEMP TABLE _readout_cells (scheme text, segment text, variant text, segments jsonb, n bigint, x bigint,
		                                  npre bigint, npy bigint, mean_rev float8, var_rev float8) ON COMMIT DROP;
		FOR e IN SELECT x.* FROM segmentation.experiments x
		         WHERE only_experiment IS NULL OR x.name = only_experiment ORDER BY x.name LOOP
			BEGIN
				PERFORM segmentation._check_experiment(e);
				DELETE FROM pg_temp._readout_cells;
				-- Every assigned user, in one statement that Citus runs on the
				-- workers, shard by shard (the assignments, the events, the
				-- profiles and the history colocated by user id), sending only
				-- counts and sums: its WITH queries are not materialized there
				-- (a statement that writes a distributed table, or holds a
				-- WITH query that writes, would have Citus gather each of them
				-- whole, every assigned user's row), and are on one node, where
				-- they are computed once.
				-- (reads only what was checked: the sources and the assignments)
				PERFORM segmentation._execute_guarded(format($q$
					INSERT INTO pg_temp._readout_cells (scheme, segment, variant, segments, n, x, npre, npy, mean_rev, var_rev)
					WITH ass AS %12$s (
						-- a user's first assignment counts (of two at once, the
						-- least variant: the same on every run)
						SELECT DISTINCT ON (a.user_id) a.user_id, a.variant, a.assigned_at
						FROM (SELECT a.%1$I AS user_id, a.%2$I::text AS variant, a.%3$I AS assigned_at%10$s
						      FROM %4$s a
						      WHERE a.%1$I IS NOT NULL AND a.%2$I IS NOT NULL AND a.%3$I IS NOT NULL) a%11$s
						ORDER BY a.user_id, a.assigned_at, a.variant),
					placed AS %12$s (
						-- one row per user and scheme
						SELECT o.user_id, o.variant, o.converted::int AS y, o.revenue, sc.scheme,
						       -- CUPED's covariate: the conversion's feature (or any event) in the
						       -- whole days before the day of assignment, from the stored behavior
						       (coalesce(segmentation.events_in(p.behavior, %8$s, o.assigned_at - interval '1 day',
						                                        %9$L::interval), 0) > 0)::int AS pre,
						       -- the segment the user was in when assigned, never the current
						       -- one: the stay that held that moment, the current one or one
						       -- that ended (at most one holds it), else '(unknown)'
						       -- (membership_history's two halves, not the view: on Citus the
						       -- view's function would gather every stay; nor their UNION ALL,
						       -- which Citus would gather beside the profiles' join)
						       coalesce(CASE WHEN (p.segments -> sc.scheme ->> 1)::timestamptz <= o.assigned_at
						                     THEN p.segments -> sc.scheme ->> 0 END,
						                h.segment, '(unknown)') AS segment
						FROM (SELECT ass.user_id, ass.variant, ass.assigned_at,
						             coalesce(bool_or(ev.event = %5$L), false) AS converted,
						             coalesce(sum(ev.value), 0)::float8 AS revenue
						      FROM ass LEFT JOIN (SELECT * FROM (%6$s) e
						                          WHERE segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) IS NULL) ev
						        ON ev.user_id = ass.user_id AND ev.ts >= ass.assigned_at AND ev.ts < ass.assigned_at + %7$L::interval
						      GROUP BY 1, 2, 3) o
						LEFT JOIN segmentation.profiles p ON p.user_id = o.user_id
						CROSS JOIN unnest(%13$L::text[]) sc(scheme)
						LEFT JOIN (SELECT DISTINCT ON (t.user_id, t.scheme) t.user_id, t.scheme, t.from_segment AS segment
						           FROM segmentation.transitions t JOIN ass a ON a.user_id = t.user_id
						           WHERE t.from_segment IS NOT NULL AND t.from_entered_at <= a.assigned_at AND t.at > a.assigned_at
						           ORDER BY t.user_id, t.scheme, t.from_entered_at DESC) h
						  ON h.user_id = o.user_id AND h.scheme = sc.scheme)
					SELECT u.scheme, u.segment, u.variant, NULL::jsonb, count(*), sum(u.y), sum(u.pre), sum(u.pre * u.y),
					       avg(u.revenue), coalesce(var_samp(u.revenue), 0)
					FROM placed u
					GROUP BY 1, 2, 3
					UNION ALL
					-- (each scheme's (all): counted again, not combined from the
					-- segments', whose float arithmetic SQL would refuse on
					-- underflow, review of session 33)
					SELECT u.scheme, '(all)', u.variant, NULL::jsonb, count(*), sum(u.y), sum(u.pre), sum(u.pre * u.y),
					       avg(u.revenue), coalesce(var_samp(u.revenue), 0)
					FROM placed u
					GROUP BY 1, 3
					UNION ALL
					SELECT NULL, NULL, x.variant, x.segments, count(*), NULL, NULL, NULL, NULL, NULL
					FROM (SELECT u.user_id, u.variant, jsonb_object_agg(u.scheme, u.segment) AS segments
					      FROM placed u GROUP BY u.user_id, u.variant) x
					GROUP BY x.variant, x.segments
				$q$, e.user_column, e.variant_column, e.assigned_at_column, e.assignments, e.conversion_event, src,
					e.conversion_window,
					coalesce((SELECT min(fm.id) FROM segmentation._feature_map fm WHERE fm.event = e.conversion_event), -1),
					e.cuped_window,
					CASE WHEN hidden <> '' THEN format(', segmentation._hmac_sha256(%s, segmentation._id_bytes(a.%I::pg_catalog.text)) AS h',
					                                   hash_key, e.user_column) ELSE '' END,
					hidden,
					CASE WHEN dist THEN 'NOT MATERIALIZED' ELSE 'MATERIALIZED' END,
					schemes),
					checked || e.assignments::oid, NULL);
				-- The statistics, from those counts (small: here)
				PERFORM segmentation._execute_guarded(format($q$
					WITH gs AS (
						-- each segment's arms, and each scheme's (all)
						SELECT c.scheme, c.segment, c.variant, c.n, c.x, c.npre, c.npy, c.mean_rev,
						       -- (a variance within rounding of none is none: the same
						       -- revenue for every user of a cell left 1e-34, which
						       -- welch_test took for a difference, review of session 33)
						       CASE WHEN sqrt(c.var_rev) * 1e12 <= abs(c.mean_rev) THEN 0 ELSE c.var_rev END AS var_rev
						FROM pg_temp._readout_cells c WHERE c.segments IS NULL),
					theta AS (
						-- one coefficient per segment, pooled over the arms:
						-- covar_samp(pre, y) / var_samp(pre), of 0/1 values
						SELECT t.scheme, t.segment,
						       CASE WHEN t.n > 1 AND t.npre > 0 AND t.npre < t.n
						            THEN (t.n::float8 * t.npy - t.npre::float8 * t.x) / (t.npre::float8 * (t.n - t.npre)) END AS theta
						FROM (SELECT gs.scheme, gs.segment, sum(gs.n)::bigint AS n, sum(gs.x)::bigint AS x,
						             sum(gs.npre)::bigint AS npre, sum(gs.npy)::bigint AS npy
						      FROM gs GROUP BY 1, 2) t),
					g AS (
						-- var_samp and covar_samp of the 0/1 conversions and covariates
						SELECT gs.scheme, gs.segment, gs.variant, gs.n, gs.x, gs.mean_rev, gs.var_rev,
						       CASE WHEN gs.n > 1 THEN gs.x::float8 * (gs.n - gs.x) / (gs.n::float8 * (gs.n - 1)) ELSE 0 END AS var_y,
						       gs.npre::float8 / gs.n AS mean_pre,
						       CASE WHEN gs.n > 1 THEN gs.npre::float8 * (gs.n - gs.npre) / (gs.n::float8 * (gs.n - 1)) ELSE 0 END AS var_pre,
						       CASE WHEN gs.n > 1 THEN (gs.npy - gs.npre::float8 * gs.x / gs.n) / (gs.n - 1) ELSE 0 END AS cov_pre_y
						FROM gs),
					design AS (
						SELECT d.variant, d.weight FROM unnest(%1$L::text[], %2$L::float8[]) AS d(variant, weight)
						WHERE %1$L::text[] IS NOT NULL
						UNION ALL
						SELECT DISTINCT gs.variant, 1.0 FROM gs WHERE %1$L::text[] IS NULL),
					srm AS (
						SELECT c.scheme, c.segment,
						       segmentation.srm_test(array_agg(coalesce(g.n, 0) ORDER BY d.variant), array_agg(d.weight ORDER BY d.variant)) AS p
						FROM (SELECT DISTINCT g.scheme, g.segment FROM g) c CROSS JOIN design d
						LEFT JOIN g ON g.scheme = c.scheme AND g.segment = c.segment AND g.variant = d.variant
						GROUP BY c.scheme, c.segment),
					rows AS (
						SELECT g.scheme, g.segment, g.variant, g.n, g.x, g.n::float8 AS nf,
						       c.n AS cn, c.x AS cx, tp.*, wt.p_value AS revenue_p, wt.ci_low AS revenue_ci_low,
						       wt.ci_high AS revenue_ci_high, g.mean_rev,
						       -- users per arm to see the mde's relative change of the control rate (none for a
						       -- 0%% control rate or one that the change would take past 100%%)
						       CASE WHEN c.x > 0 AND (1 + %5$L::float8) * c.x < c.n
						            THEN segmentation.sample_size_two_proportions(c.x::float8 / c.n, %5$L::float8 * c.x / c.n) END AS needed,
						       -- the unpooled variance of the difference of the rates, and the pooled variance
						       -- of one conversion with the users per arm it holds for (harmonic mean of the arms)
						       CASE WHEN g.variant <> %3$L AND c.n > 0
						            THEN c.x::float8 / c.n * (1 - c.x::float8 / c.n) / c.n + g.x::float8 / g.n * (1 - g.x::float8 / g.n) / g.n END AS diff_var,
						       (c.x + g.x)::float8 / (c.n + g.n) * (1 - (c.x + g.x)::float8 / (c.n + g.n)) AS pooled_var,
						       2.0 * c.n * g.n / (c.n + g.n) AS n_harmonic,
						       -- CUPED: each arm's rate less theta times its covariate's distance from
						       -- the segment's mean, and that variable's variance; theta = 0 (no
						       -- adjustment) when it would not narrow the interval
						       g.x::float8 / g.n - c.x::float8 / c.n - th.theta * (g.mean_pre - c.mean_pre) AS cuped_lift,
						       (g.var_y + th.theta ^ 2 * g.var_pre - 2 * th.theta * g.cov_pre_y) / g.n
						         + (c.var_y + th.theta ^ 2 * c.var_pre - 2 * th.theta * c.cov_pre_y) / c.n AS cuped_var,
						       -- (the size of its terms: a variance within rounding of it is none,
						       -- as when the covariate predicts the conversion exactly, which the
						       -- rows' order made 0, 1e-18 or -1e-18)
						       (g.var_y + th.theta ^ 2 * g.var_pre + 2 * abs(th.theta * g.cov_pre_y)) / g.n
						         + (c.var_y + th.theta ^ 2 * c.var_pre + 2 * abs(th.theta * c.cov_pre_y)) / c.n AS cuped_scale
						FROM g
						LEFT JOIN theta th ON th.scheme = g.scheme AND th.segment = g.segment
						LEFT JOIN g c ON c.scheme = g.scheme AND c.segment = g.segment AND c.variant = %3$L
						LEFT JOIN LATERAL segmentation.two_proportion_test(c.x, c.n, g.x, g.n) tp ON g.variant <> %3$L
						LEFT JOIN LATERAL segmentation.welch_test(c.n, c.mean_rev, c.var_rev, g.n, g.mean_rev, g.var_rev) wt ON g.variant <> %3$L),
					-- (the users per segment and per combination of segments now
					-- are counted where the profiles are, the memberships' query
					-- without the view: on Citus on the workers, which send
					-- counts; the view's function gathered every membership)
					targetable AS (
						SELECT c.scheme, CASE WHEN GROUPING(c.segment) = 1 THEN '(all)' ELSE c.segment END AS segment,
						       sum(c.n)::bigint AS n
						FROM (SELECT m.key AS scheme, m.value ->> 0 AS segment, count(*) AS n
						      FROM segmentation.profiles p, jsonb_each(p.segments) m GROUP BY 1, 2) c
						GROUP BY GROUPING SETS ((c.scheme, c.segment), (c.scheme))),
					combos AS (
						-- the users per combination of segments: of each arm at
						-- assignment, and (variant NULL) of every user now
						INSERT INTO segmentation._experiment_lift_combos (experiment, variant, segments, users)
						SELECT %4$L::text, c.variant, c.segments, c.n
						FROM pg_temp._readout_cells c WHERE c.segments IS NOT NULL
						UNION ALL
						SELECT %4$L::text, NULL, jsonb_object(ARRAY(SELECT jsonb_array_elements_text(y.schemes)),
						                                       ARRAY(SELECT jsonb_array_elements_text(y.segments))), y.n
						FROM (SELECT jsonb_path_query_array(p.segments, '$.keyvalue().key') AS schemes,
						             jsonb_path_query_array(p.segments, '$.*[0]') AS segments, count(*) AS n
						      FROM segmentation.profiles p WHERE p.segments <> '{}' GROUP BY 1, 2) y
						RETURNING 1)
					INSERT INTO segmentation._experiment_lift_rows
					SELECT %4$L::text,
					       row_number() OVER (ORDER BY r.scheme, r.segment = '(all)' DESC, r.segment, r.variant <> %3$L, r.variant),
					       r.scheme, r.segment, r.variant, r.n, r.x, r.x / r.nf,
					       CASE WHEN r.cn > 0 THEN r.cx::float8 / r.cn END,
					       r.abs_lift, r.abs_ci_low, r.abs_ci_high, r.rel_lift, r.rel_ci_low, r.rel_ci_high,
					       r.p_value, srm.p, srm.p < 0.001, r.mean_rev, r.revenue_p,
					       coalesce(least(r.n, r.cn) >= ceil(r.needed), false),
					       r.diff_var, r.revenue_ci_low, r.revenue_ci_high,
					       -- mixing variance: the square of the absolute effect the mde names
					       CASE WHEN r.variant <> %3$L AND r.pooled_var > 0 AND r.cx > 0
					            THEN segmentation.msprt_p_value(r.abs_lift, r.pooled_var,
					                     (%5$L::float8 * r.cx / r.cn) ^ 2, r.n_harmonic) END,
					       CASE WHEN r.diff_var > 0 THEN segmentation.normal_cdf(r.abs_lift / sqrt(r.diff_var)) END,
					       t.n,
					       cu.lift, cu.lift - 1.959963984540054 * sqrt(cu.var), cu.lift + 1.959963984540054 * sqrt(cu.var),
					       CASE WHEN cu.var > 0 THEN 2 * segmentation.normal_cdf(-abs(cu.lift) / sqrt(cu.var)) END
					FROM rows r
					LEFT JOIN LATERAL (
						SELECT CASE WHEN v.var <= r.diff_var THEN r.cuped_lift ELSE r.abs_lift END AS lift,
						       CASE WHEN v.var <= r.diff_var THEN v.var ELSE r.diff_var END AS var
						FROM (SELECT CASE WHEN r.cuped_var <= 1e-12 * r.cuped_scale THEN 0 ELSE r.cuped_var END AS var) v
						WHERE r.variant <> %3$L AND r.cn > 1 AND r.n > 1) cu ON true
					LEFT JOIN targetable t ON t.scheme = r.scheme AND t.segment = r.segment
					LEFT JOIN srm ON srm.scheme = r.scheme AND srm.segment = r.segment
				$q$, e.variants, e.weights, e.control, e.name, e.mde),
					'{}'::oid[], NULL);
			EXCEPTION WHEN OTHERS THEN
				-- (refresh keeps it in refresh_runs.warnings: pg_cron does not
				-- keep a warning, and an experiment gone from experiment_lift
				-- must say why where the operator looks)
				warnings := warnings || format('experiment "%s" left out of experiment_lift: %s', e.name, SQLERRM);
				RAISE WARNING 'experiment "%" left out of experiment_lift: %', e.name, SQLERRM
					USING HINT = 'Define it again with segmentation.define_experiment(), or delete it from segmentation.experiments.';
			END;
		END LOOP;
		DROP TABLE pg_temp._readout_cells;
	END IF;
	PERFORM set_config('lock_timeout', saved_lock_timeout, true);
	RETURN nullif(array_to_string(warnings, E'\n'), '');
END $$;
COMMENT ON FUNCTION _materialize_experiments(text) IS 'Internal: computes the experiment_lift rows of one experiment, or of all when NULL (refresh and define_experiment call it); returns the warnings of those it left out, one a line (NULL: none)';

-- Small cells, at read time (min_cell_size may change between refreshes):
-- an arm of a segment of fewer than min_cell_size users shows no numbers;
-- the segments of an experiment, scheme and variant add up to its (all)
-- row, so more are suppressed with it, and an arm's segments of two schemes
-- that are nearly or exactly the same users are suppressed together, from
-- the users per combination of segments (_suppress_schemes, as
-- segment_summary); a variant's row compares with the control's of the
-- same segment, so it is suppressed whenever the control's is (forced).
-- targetable_users, the segment's members now, are suppressed as
-- segment_summary suppresses the segment, from the combinations of every
-- user's segments now.  What pools several rows shows nothing of a row
-- suppressed (a double-precision p-value of a few counts pins them down):
-- q-values adjust the p-values shown, the heterogeneity test pools the
-- segments shown, and the sample ratio test, which needs every arm, is
-- shown only where every arm of the segment is.
CREATE VIEW experiment_lift AS
WITH r AS (
	SELECT r.*, r.variant = e.control AS is_control, e.control, k.k
	FROM _experiment_lift_rows r JOIN experiments e ON e.name = r.experiment CROSS JOIN _cell_size k),
arms AS (
	SELECT c.experiment, c.variant, c.variant = e.control AS is_control,
	       array_agg(c.segments) AS segments, array_agg(c.users) AS users
	FROM _experiment_lift_combos c JOIN experiments e ON e.name = c.experiment
	WHERE c.variant IS NOT NULL
	GROUP BY c.experiment, c.variant, e.control),
c AS (
	-- the control's arms
	SELECT a.experiment, x.scheme, x.segment, x.suppressed
	FROM arms a CROSS JOIN _cell_size k
	CROSS JOIN LATERAL _suppress_schemes(a.segments, a.users, NULL, NULL, k.k) x
	WHERE a.is_control),
v AS (
	-- every arm, those whose control's is suppressed forced
	SELECT a.experiment, a.variant, x.scheme, x.segment, x.suppressed
	FROM arms a CROSS JOIN _cell_size k
	CROSS JOIN LATERAL (SELECT array_agg(c.scheme) AS schemes, array_agg(c.segment) AS segments
	                    FROM c WHERE c.experiment = a.experiment AND c.suppressed) f
	CROSS JOIN LATERAL _suppress_schemes(a.segments, a.users, f.schemes, f.segments, k.k) x),
t AS (
	-- the members now
	SELECT z.experiment, x.scheme, x.segment, x.suppressed
	FROM (SELECT c.experiment, array_agg(c.segments) AS segments, array_agg(c.users) AS users
	      FROM _experiment_lift_combos c WHERE c.variant IS NULL GROUP BY c.experiment) z
	CROSS JOIN _cell_size k
	CROSS JOIN LATERAL _suppress_schemes(z.segments, z.users, NULL, NULL, k.k) x),
m AS (
	SELECT r.*,
	       CASE WHEN r.segment = '(all)'
	            THEN r.users < r.k OR coalesce((SELECT x.users < r.k FROM r x
	                                            WHERE (x.experiment, x.scheme, x.segment, x.variant) = (r.experiment, r.scheme, r.segment, r.control)), false)
	            ELSE coalesce(v.suppressed, true) END AS suppressed,
	       CASE WHEN r.segment = '(all)' THEN r.targetable_users < r.k ELSE coalesce(t.suppressed, true) END AS targetable_suppressed
	FROM r
	LEFT JOIN v ON v.experiment = r.experiment AND v.variant = r.variant AND v.scheme = r.scheme AND v.segment = r.segment
	LEFT JOIN t ON t.experiment = r.experiment AND t.scheme = r.scheme AND t.segment = r.segment),
p AS (
	-- the pooled statistics, from the rows shown
	SELECT m.*,
	       NOT m.suppressed AND m.segment <> '(all)' AND NOT m.is_control AS in_family,
	       NOT m.suppressed AND m.segment NOT IN ('(all)', '(unknown)') AND NOT m.is_control AS in_het,
	       bool_or(m.suppressed) OVER (PARTITION BY m.experiment, m.scheme, m.segment) AS arm_suppressed
	FROM m),
q AS (
	SELECT p.*,
	       CASE WHEN p.in_family THEN (bh_adjust(array_agg(p.p_value) OVER fam))[row_number() OVER fam] END AS q_value,
	       CASE WHEN p.in_family THEN (bh_adjust(array_agg(p.revenue_p_value) OVER fam))[row_number() OVER fam] END AS revenue_q_value,
	       cochran_q_test(array_agg(p.abs_lift) FILTER (WHERE p.in_het) OVER het,
	                      array_agg(p.diff_var) FILTER (WHERE p.in_het) OVER het) AS heterogeneity_p_value
	FROM p
	WINDOW fam AS (PARTITION BY p.experiment, p.scheme, p.in_family ORDER BY p.segment, p.variant
	               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING),
	       het AS (PARTITION BY p.experiment, p.scheme, p.variant ORDER BY p.segment
	               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
SELECT m.experiment, m.scheme, m.segment, m.variant,
       CASE WHEN NOT m.suppressed THEN m.users END AS users,
       CASE WHEN NOT m.suppressed THEN m.conversions END AS conversions,
       CASE WHEN NOT m.suppressed THEN m.conversion_rate END AS conversion_rate,
       CASE WHEN NOT m.suppressed THEN m.control_rate END AS control_rate,
       CASE WHEN NOT m.suppressed THEN m.abs_lift END AS abs_lift,
       CASE WHEN NOT m.suppressed THEN m.abs_lift_ci_low END AS abs_lift_ci_low,
       CASE WHEN NOT m.suppressed THEN m.abs_lift_ci_high END AS abs_lift_ci_high,
       CASE WHEN NOT m.suppressed THEN m.rel_lift END AS rel_lift,
       CASE WHEN NOT m.suppressed THEN m.rel_lift_ci_low END AS rel_lift_ci_low,
       CASE WHEN NOT m.suppressed THEN m.rel_lift_ci_high END AS rel_lift_ci_high,
       CASE WHEN NOT m.suppressed THEN m.p_value END AS p_value,
       m.q_value,
       CASE WHEN NOT m.arm_suppressed THEN m.srm_p_value END AS srm_p_value,
       CASE WHEN NOT m.arm_suppressed THEN m.srm_flag END AS srm_flag,
       CASE WHEN NOT m.suppressed THEN m.revenue_per_user END AS revenue_per_user,
       CASE WHEN NOT m.suppressed THEN m.revenue_p_value END AS revenue_p_value,
       CASE WHEN NOT m.suppressed THEN m.enough_data END AS enough_data,
       CASE WHEN NOT m.suppressed AND NOT m.is_control THEN m.heterogeneity_p_value END AS heterogeneity_p_value,
       CASE WHEN NOT m.suppressed THEN m.revenue_ci_low END AS revenue_ci_low,
       CASE WHEN NOT m.suppressed THEN m.revenue_ci_high END AS revenue_ci_high,
       m.revenue_q_value,
       CASE WHEN NOT m.suppressed THEN m.sequential_p_value END AS sequential_p_value,
       CASE WHEN NOT m.suppressed THEN m.chance_to_win END AS chance_to_win,
       CASE WHEN NOT m.suppressed THEN m.cuped_abs_lift END AS cuped_abs_lift,
       CASE WHEN NOT m.suppressed THEN m.cuped_abs_lift_ci_low END AS cuped_abs_lift_ci_low,
       CASE WHEN NOT m.suppressed THEN m.cuped_abs_lift_ci_high END AS cuped_abs_lift_ci_high,
       CASE WHEN NOT m.suppressed THEN m.cuped_p_value END AS cuped_p_value,
       CASE WHEN NOT m.targetable_suppressed THEN m.targetable_users END AS targetable_users,
       m.suppressed
FROM q m
WHERE _coordinator_only('the experiment readout')  -- (a worker's copy is empty: review 31)
ORDER BY m.experiment, m.ord;
COMMENT ON VIEW experiment_lift IS 'Experiment readout per scheme, segment (at assignment time; (all) = everyone) and variant, with honest statistics; computed by the last refresh (or define_experiment)';
COMMENT ON COLUMN experiment_lift.experiment IS 'Experiment';
COMMENT ON COLUMN experiment_lift.scheme IS 'Scheme whose segments split the readout';
COMMENT ON COLUMN experiment_lift.segment IS 'Segment the users were in when assigned ((all): every user; (unknown): assigned before any refresh saw them)';
COMMENT ON COLUMN experiment_lift.variant IS 'Variant';
COMMENT ON COLUMN experiment_lift.users IS 'Users assigned to this variant in this segment';
COMMENT ON COLUMN experiment_lift.conversions IS 'Users with the conversion event within the window after assignment';
COMMENT ON COLUMN experiment_lift.conversion_rate IS 'conversions / users';
COMMENT ON COLUMN experiment_lift.control_rate IS 'Conversion rate of the control in this segment';
COMMENT ON COLUMN experiment_lift.abs_lift IS 'conversion_rate - control_rate (NULL on the control row)';
COMMENT ON COLUMN experiment_lift.abs_lift_ci_low IS 'Lower end of the 95% CI of abs_lift (unpooled Wald)';
COMMENT ON COLUMN experiment_lift.abs_lift_ci_high IS 'Upper end of the 95% CI of abs_lift';
COMMENT ON COLUMN experiment_lift.rel_lift IS 'conversion_rate / control_rate - 1 (NULL when the control rate is 0)';
COMMENT ON COLUMN experiment_lift.rel_lift_ci_low IS 'Lower end of the 95% CI of rel_lift (delta method)';
COMMENT ON COLUMN experiment_lift.rel_lift_ci_high IS 'Upper end of the 95% CI of rel_lift';
COMMENT ON COLUMN experiment_lift.p_value IS 'Two-sided p-value of the pooled two-proportion z test against the control';
COMMENT ON COLUMN experiment_lift.q_value IS 'Benjamini-Hochberg adjusted p-value across the segments and variants of this experiment and scheme shown ((all) and suppressed rows excluded)';
COMMENT ON COLUMN experiment_lift.srm_p_value IS 'Sample ratio mismatch p-value of this segment''s arm sizes against the design split (NULL when an arm of the segment is suppressed: it would give that arm''s size)';
COMMENT ON COLUMN experiment_lift.srm_flag IS 'srm_p_value < 0.001: the split is broken here, do not trust the lift';
COMMENT ON COLUMN experiment_lift.revenue_per_user IS 'Mean value of the tracked events within the window after assignment';
COMMENT ON COLUMN experiment_lift.revenue_p_value IS 'Welch t test p-value of revenue per user against the control';
COMMENT ON COLUMN experiment_lift.enough_data IS 'Both arms reach the users needed to detect the experiment''s mde (a relative change of the control rate; default 10%) with alpha 0.05 and power 0.8';
COMMENT ON COLUMN experiment_lift.heterogeneity_p_value IS 'Does the lift differ between the segments of this scheme? Cochran''s Q on the per-segment abs_lift, inverse-variance weights, over the segments shown ((all), (unknown) and suppressed rows left out); the same on every row of the experiment, scheme and variant';
COMMENT ON COLUMN experiment_lift.revenue_ci_low IS 'Lower end of the 95% CI of revenue per user minus the control''s (Welch)';
COMMENT ON COLUMN experiment_lift.revenue_ci_high IS 'Upper end of the 95% CI of revenue per user minus the control''s (Welch)';
COMMENT ON COLUMN experiment_lift.revenue_q_value IS 'Benjamini-Hochberg adjusted revenue_p_value across the segments and variants of this experiment and scheme shown ((all) and suppressed rows excluded)';
COMMENT ON COLUMN experiment_lift.sequential_p_value IS 'Always-valid p-value of abs_lift (mSPRT, normal mixture with mixing variance (mde x control_rate)^2): safe to watch continuously and stop when it is small';
COMMENT ON COLUMN experiment_lift.chance_to_win IS 'Probability that this variant converts better than the control (normal approximation of the posterior, flat prior)';
COMMENT ON COLUMN experiment_lift.cuped_abs_lift IS 'abs_lift adjusted by CUPED (variance reduction with a pre-experiment covariate): the covariate is whether the user had the conversion''s feature (any event, when no feature holds the conversion event) in the cuped_window of whole days before the day of assignment, read from the stored behaviors; one coefficient per segment, pooled over the arms; equal to abs_lift, with its interval, when the adjustment would not narrow the interval';
COMMENT ON COLUMN experiment_lift.cuped_abs_lift_ci_low IS 'Lower end of the 95% CI of cuped_abs_lift (normal)';
COMMENT ON COLUMN experiment_lift.cuped_abs_lift_ci_high IS 'Upper end of the 95% CI of cuped_abs_lift (normal)';
COMMENT ON COLUMN experiment_lift.cuped_p_value IS 'Two-sided p-value of cuped_abs_lift (normal)';
COMMENT ON COLUMN experiment_lift.targetable_users IS 'Users in this segment now (as of the last refresh): who a rollout to this segment reaches (NULL when segment_summary would suppress the segment: fewer than min_cell_size, or suppressed with such a segment)';
COMMENT ON COLUMN experiment_lift.suppressed IS 'This arm of the segment, or its control, has fewer than min_cell_size users, or another small arm could be found from it: the numbers are NULL';
