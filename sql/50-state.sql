-- The materialized state: tables and views created by the first track();
-- the tables of refresh's operations, created with the extension.

-- One row, locked (FOR UPDATE) by the refresh that runs: no role but the
-- extension's owner has any privilege on it, so no other role can hold the
-- lock and stop refreshes (an advisory lock anyone can take).
CREATE TABLE _refresh_lock (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row));
INSERT INTO _refresh_lock DEFAULT VALUES;
COMMENT ON TABLE _refresh_lock IS 'Internal: its one row is locked by the running refresh (one at a time)';

-- Events a refresh could not use, with why; a full refresh rebuilds the
-- list from the sources, an incremental one adds the new ones.
CREATE TABLE rejected_events (
	run_id bigint NOT NULL,
	source text,
	user_id text,
	ts timestamptz,
	event text,
	value float8,
	reason text NOT NULL,
	rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON rejected_events (user_id);
SELECT pg_catalog.pg_extension_config_dump('rejected_events', '');
COMMENT ON TABLE rejected_events IS 'Events that refresh could not use (NaN, infinite or out-of-range value, infinite or NULL time, NULL user): kept here, never silently dropped; the other events are refreshed';
COMMENT ON COLUMN rejected_events.run_id IS 'The refresh run (refresh_runs.id) that rejected it';
COMMENT ON COLUMN rejected_events.source IS 'The tracked table it came from';
COMMENT ON COLUMN rejected_events.user_id IS 'User id, as text (NULL for one longer than 1000 bytes)';
COMMENT ON COLUMN rejected_events.ts IS 'Event time';
COMMENT ON COLUMN rejected_events.event IS 'Event name';
COMMENT ON COLUMN rejected_events.value IS 'Event value, as float8';
COMMENT ON COLUMN rejected_events.reason IS 'Why it was rejected';
COMMENT ON COLUMN rejected_events.rejected_at IS 'When';

-- Why an event cannot be used, or NULL: what behavior_agg would refuse
-- (src/behavior.c: finite times, finite values), what has no user, a user id
-- too long for the index of profiles, and a value of 1e15 or more (behavior_agg
-- takes values under 1e24, but 171,000 of those sum past the 1.7e29 a behavior
-- holds; under 1e15 that takes 1.7e14 events of one user): each of these
-- would stop every refresh.  user_bytes: the user id's length as text, NULL
-- for no user.
CREATE FUNCTION _reject_reason(user_bytes int, ts timestamptz, value float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN user_bytes IS NULL THEN 'user id is NULL'
            WHEN user_bytes OPERATOR(pg_catalog.>) 1000 THEN 'user id is longer than 1000 bytes'
            WHEN ts IS NULL THEN 'time is NULL'
            WHEN NOT pg_catalog.isfinite(ts) THEN 'time is infinite'
            WHEN value IS NULL THEN NULL
            WHEN value OPERATOR(pg_catalog.=) 'NaN'::pg_catalog.float8 THEN 'value is NaN'
            WHEN pg_catalog.abs(value) OPERATOR(pg_catalog.=) 'Infinity'::pg_catalog.float8 THEN 'value is infinite'
            WHEN pg_catalog.abs(value) OPERATOR(pg_catalog.>=) 1e15::pg_catalog.float8 THEN 'value is out of range (1e15 or more)'
       END
$$;
COMMENT ON FUNCTION _reject_reason(int, timestamptz, float8) IS 'Internal: why refresh rejects an event, or NULL';

-- ===================================================================
-- Materialized state, created by the first track() with the user id type
-- ===================================================================

-- Capture's queue of new events (src/capture.c): a row per INSERT
-- statement (or per 65,536 or 16 MB of its events), the events packed; and
-- the view that reads them back, with the user id in its type.  Made with the state (and by the
-- update from 0.1 once 0.1's queue is gone: sql/upgrade-0.1--0.2-end.sql).
CREATE FUNCTION _create_queue(user_type regtype) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF user_type IS NULL OR NOT user_type = ANY (segmentation._column_types('user')) THEN
		RAISE EXCEPTION 'user id type % is not supported', user_type USING ERRCODE = 'datatype_mismatch';
	END IF;
	IF to_regclass('segmentation.pending_batches') IS NULL THEN
		CREATE TABLE segmentation.pending_batches (source_id int NOT NULL, events int NOT NULL, batch bytea NOT NULL);
		-- (lz4 where the server has it: the cheapest write, bench/README.md)
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_settings g WHERE g.name = 'default_toast_compression' AND 'lz4' = ANY (g.enumvals)) THEN
			ALTER TABLE segmentation.pending_batches ALTER COLUMN batch SET COMPRESSION lz4;
		END IF;
		COMMENT ON TABLE segmentation.pending_batches IS 'Internal: events inserted into tracked sources since the last refresh, a row per INSERT statement (or per 65,536 or 16 MB of its events), packed by the capture trigger (src/capture.c); read through pending_events';
	END IF;
	IF to_regclass('segmentation.pending_events') IS NULL THEN
		EXECUTE format($v$
			CREATE VIEW segmentation.pending_events AS
			SELECT b.source_id, e.user_id::%s AS user_id, e.ts, e.event, e.value
			FROM segmentation.pending_batches b, segmentation._queued_events(b.batch) e
		$v$, user_type);
		COMMENT ON VIEW segmentation.pending_events IS 'Internal: the events captured since the last refresh, one row each (unpacked from pending_batches)';
		COMMENT ON COLUMN segmentation.pending_events.source_id IS 'The tracked source (sources.id)';
		COMMENT ON COLUMN segmentation.pending_events.user_id IS 'User id';
		COMMENT ON COLUMN segmentation.pending_events.ts IS 'Event time';
		COMMENT ON COLUMN segmentation.pending_events.event IS 'Event name';
		COMMENT ON COLUMN segmentation.pending_events.value IS 'Value, as float8';
	END IF;
END $$;
COMMENT ON FUNCTION _create_queue(regtype) IS 'Internal: makes capture''s queue (pending_batches) and the view that unpacks it (pending_events)';

-- The body of a read path function (_read_paths, below): its query, run on
-- the coordinator only (Citus makes the function on the workers too, where
-- the settings and the score context are a copy: there, an error), with the
-- workers' settings its owner's, not the caller's (_clean_citus_settings).
-- The guard runs before the query, not in it, where Citus would send it to
-- the workers with the rest.
CREATE FUNCTION _read_path_body(query text, what text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
SELECT format(E'#variable_conflict use_column\nBEGIN\n\tPERFORM segmentation._coordinator_only(%L);\n\tPERFORM segmentation._clean_citus_settings();\n\tRETURN QUERY %s;\nEND', what, query)
$$;
COMMENT ON FUNCTION _read_path_body(text, text) IS 'Internal: the body of a read path function of _read_paths (the query, on the Citus coordinator only)';

-- The views that segmentation_analyst and segmentation_reader read over the
-- per-user state.  On one node they are plain views, which PostgreSQL
-- inlines (an analyst's WHERE user_id = 42 is an index probe) and reads with
-- the view owner's rights.  Citus sends a distributed table's shard queries
-- to the workers as the calling role, whatever the view (Citus issues 1683
-- and 6161), and the roles have no right on the state tables (profiles keeps
-- opted-out users' behavior: DESIGN 6).  So when a state table is one Citus
-- manages, each view reads a SECURITY DEFINER function instead (the
-- extension's owner reads the shards) that runs the same query, filters
-- (opt-outs, min_cell_size) included, and that only the roles that may read
-- the view can call: it has no argument and returns what the view returns
-- (doc/citus-distribution.md, section 11).  Both are built from one query
-- text, with the same columns, so CREATE OR REPLACE VIEW keeps the views
-- that users built on them, their grants and comments.  Returns whether the
-- views read through the functions.  Called by _create_state and
-- _rebuild_views; does nothing when the views are already of the right kind.
CREATE FUNCTION _read_paths() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	distributed boolean;
	v record;
	cols text;
BEGIN
	-- (one way: a state Citus no longer manages reads well through the
	-- functions too)
	IF to_regprocedure('segmentation._memberships_rows()') IS NOT NULL THEN
		RETURN true;
	END IF;
	SELECT coalesce(bool_or(segmentation._citus_member(to_regclass(t.n)) IS NOT NULL), false) INTO distributed
	FROM unnest(ARRAY['segmentation.profiles', 'segmentation.transitions', 'segmentation._funnel_state',
	                  'segmentation.user_attributes']) t(n)
	WHERE to_regclass(t.n) IS NOT NULL;
	IF to_regclass('segmentation.memberships') IS NOT NULL AND NOT distributed THEN
		RETURN false;
	END IF;
	FOR v IN SELECT * FROM (VALUES
		(1, 'memberships', 'segmentation_analyst, segmentation_admin', $q$
		SELECT m.key AS scheme, p.user_id, m.value ->> 0 AS segment, (m.value ->> 1)::timestamptz AS entered_at
		FROM segmentation.profiles p, jsonb_each(p.segments) m$q$),
		(2, 'membership_history', 'segmentation_analyst, segmentation_admin', $q$
		SELECT t.scheme, t.user_id, t.from_segment AS segment, t.from_entered_at AS entered_at, t.at AS exited_at
		FROM segmentation.transitions t
		WHERE t.from_segment IS NOT NULL
		UNION ALL
		-- (memberships' query, not the view: on Citus, over a table of one
		-- shard, the whole query runs on a worker, where the view's function
		-- is an error)
		SELECT m.key, p.user_id, m.value ->> 0, (m.value ->> 1)::timestamptz, NULL::timestamptz
		FROM segmentation.profiles p, jsonb_each(p.segments) m$q$),
		-- Cells of fewer than min_cell_size users show no numbers (suppressed),
		-- with more cells of the scheme suppressed so that none can be found
		-- from the others (every user is in every scheme: the total is known),
		-- and segments of two schemes nearly the same or the same suppressed
		-- together (_suppress_schemes)
		(3, 'segment_summary', 'segmentation_reader, segmentation_analyst, segmentation_admin', $q$
		WITH u AS (
			-- users per combination of segments (one per scheme, in the order of
			-- the keys), with the sums of their scores: one row per user read
			SELECT jsonb_path_query_array(u.segments, '$.keyvalue().key') AS schemes,
			       jsonb_path_query_array(u.segments, '$.*[0]') AS segments, count(*)::bigint AS users,
			       sum(u.recency_days) AS recency_days, count(u.recency_days) AS n_recency_days,
			       sum(u.frequency) AS frequency, count(u.frequency) AS n_frequency,
			       sum(u.monetary) AS monetary, count(u.monetary) AS n_monetary,
			       sum(u.active_days_28) AS active_days_28, count(u.active_days_28) AS n_active_days_28,
			       sum(u.adoption_rate) AS adoption_rate, count(u.adoption_rate) AS n_adoption_rate
			FROM segmentation._user_state u
			GROUP BY 1, 2),
		combo AS (
			SELECT u.*, jsonb_object(ARRAY(SELECT jsonb_array_elements_text(u.schemes)),
			                         ARRAY(SELECT jsonb_array_elements_text(u.segments))) AS combination
			FROM u),
		c AS (
			SELECT x.scheme, x.segment, sum(o.users)::bigint AS users,
			       (sum(o.recency_days) / sum(o.n_recency_days))::float8 AS mean_recency_days,
			       (sum(o.frequency) / sum(o.n_frequency))::float8 AS mean_frequency,
			       (sum(o.monetary) / sum(o.n_monetary))::float8 AS mean_monetary,
			       (sum(o.active_days_28)::numeric / sum(o.n_active_days_28))::float8 AS mean_active_days_28,
			       (sum(o.adoption_rate) / sum(o.n_adoption_rate))::float8 AS mean_adoption_rate
			FROM combo o, jsonb_each_text(o.combination) x(scheme, segment)
			GROUP BY x.scheme, x.segment),
		mask AS (
			SELECT x.scheme, x.segment, x.suppressed
			FROM (SELECT array_agg(o.combination) AS segments, array_agg(o.users) AS users FROM combo o) z
			CROSS JOIN segmentation._cell_size k
			CROSS JOIN LATERAL segmentation._suppress_schemes(z.segments, z.users, NULL, NULL, k.k) x),
		s AS (
			SELECT c.*, sum(c.users) OVER (PARTITION BY c.scheme) AS total, coalesce(m.suppressed, true) AS suppressed
			FROM c LEFT JOIN mask m ON m.scheme = c.scheme AND m.segment = c.segment)
		SELECT s.scheme, s.segment,
		       CASE WHEN NOT s.suppressed THEN s.users END AS users,
		       CASE WHEN NOT s.suppressed THEN s.users::float8 / s.total::float8 END AS share,
		       CASE WHEN NOT s.suppressed THEN s.mean_recency_days END AS mean_recency_days,
		       CASE WHEN NOT s.suppressed THEN s.mean_frequency END AS mean_frequency,
		       CASE WHEN NOT s.suppressed THEN s.mean_monetary END AS mean_monetary,
		       CASE WHEN NOT s.suppressed THEN s.mean_active_days_28 END AS mean_active_days_28,
		       CASE WHEN NOT s.suppressed THEN s.mean_adoption_rate END AS mean_adoption_rate,
		       s.suppressed
		FROM s$q$),
		-- The moves of a scheme on one day are one group; in it, the (new) moves
		-- are another, and the (gone) moves another: a user new (or gone) that
		-- day makes one in every scheme, so their sum is the same in every scheme
		-- and known from any scheme that shows them all (_suppress_groups)
		(4, 'segment_migration', 'segmentation_reader, segmentation_analyst, segmentation_admin', $q$
		WITH c AS (
			SELECT scheme, coalesce(from_segment, '(new)') AS from_segment, coalesce(to_segment, '(gone)') AS to_segment,
			       date_trunc('day', at, 'UTC') AS period, count(DISTINCT user_id)::bigint AS users
			FROM segmentation.transitions
			GROUP BY 1, 2, 3, 4),
		g AS (
			SELECT c.scheme, c.period, array_agg(c.from_segment ORDER BY c.from_segment, c.to_segment) AS froms,
			       array_agg(c.to_segment ORDER BY c.from_segment, c.to_segment) AS tos,
			       array_agg(c.users ORDER BY c.from_segment, c.to_segment) AS users,
			       segmentation._suppress_groups(array_agg(c.users ORDER BY c.from_segment, c.to_segment), NULL,
			           array_agg(ARRAY['day', CASE WHEN c.from_segment = '(new)' THEN 'new' END, CASE WHEN c.to_segment = '(gone)' THEN 'gone' END]
			                     ORDER BY c.from_segment, c.to_segment), k.k) AS suppressed
			FROM c CROSS JOIN segmentation._cell_size k
			GROUP BY c.scheme, c.period, k.k)
		SELECT g.scheme, s.from_segment, s.to_segment, g.period, CASE WHEN NOT s.suppressed THEN s.users END AS users, s.suppressed
		FROM g, unnest(g.froms, g.tos, g.users, g.suppressed) s(from_segment, to_segment, users, suppressed)$q$)
	) x(k, name, grantees, query) ORDER BY k LOOP
		IF to_regclass(format('segmentation.%I', v.name)) IS NULL THEN
			EXECUTE format('CREATE VIEW segmentation.%I AS %s', v.name, v.query);
		END IF;
		IF distributed THEN
			-- the view's columns, as the function's
			SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
			INTO cols
			FROM pg_attribute a
			WHERE a.attrelid = to_regclass(format('segmentation.%I', v.name)) AND a.attnum > 0 AND NOT a.attisdropped;
			EXECUTE format('CREATE FUNCTION segmentation.%I() RETURNS TABLE (%s) LANGUAGE plpgsql STABLE SECURITY DEFINER
			                SET search_path = pg_catalog, pg_temp SET citus.explain_distributed_queries = off AS %L', '_' || v.name || '_rows', cols,
				segmentation._read_path_body(v.query, 'the view ' || v.name));
			EXECUTE format('REVOKE ALL ON FUNCTION segmentation.%I() FROM PUBLIC', '_' || v.name || '_rows');
			EXECUTE format('GRANT EXECUTE ON FUNCTION segmentation.%I() TO %s', '_' || v.name || '_rows', v.grantees);
			EXECUTE format('COMMENT ON FUNCTION segmentation.%I() IS %L', '_' || v.name || '_rows',
				format('Internal: the rows of the view %s, read with the extension owner''s rights (the state is distributed by Citus)', v.name));
			EXECUTE format('CREATE OR REPLACE VIEW segmentation.%I AS SELECT * FROM segmentation.%I()', v.name, '_' || v.name || '_rows');
		END IF;
	END LOOP;
	RETURN distributed;
END $$;
COMMENT ON FUNCTION _read_paths() IS 'Internal: makes memberships, membership_history, segment_summary and segment_migration plain views, or, once Citus manages a state table, views over SECURITY DEFINER functions of the same query; returns whether they read through the functions';

CREATE FUNCTION _create_state(user_type regtype) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t text := user_type::text;
	r record;
	citus_src regclass;
	saved_mode text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	-- every later INSERT into a tracked table writes values of this type
	-- with elevated rights: a built-in type only, never a domain (whose
	-- CHECK would run as the extension's owner)
	IF user_type IS NULL OR NOT user_type = ANY (segmentation._column_types('user')) THEN
		RAISE EXCEPTION 'user id type % is not supported', user_type USING ERRCODE = 'datatype_mismatch',
			HINT = 'User ids are integer, bigint, text, varchar or uuid (built-in types, not domains).';
	END IF;
	IF to_regclass('segmentation._user_state') IS NOT NULL THEN
		RETURN;
	END IF;
	-- (the update from 0.1 moves back the tables 0.1 made, all but
	-- _funnel_state: sql/upgrade-0.1--0.2-end.sql; a fresh install has none)
	IF to_regclass('segmentation.profiles') IS NULL THEN
		EXECUTE format($ddl$
			-- free space in every page, so that a refresh's updates stay on their page (HOT)
			CREATE TABLE segmentation.profiles (
				user_id %1$s PRIMARY KEY, behavior segmentation.behavior NOT NULL,
				segments jsonb NOT NULL DEFAULT '{}', changed_run bigint NOT NULL,
				opted_out boolean NOT NULL DEFAULT false) WITH (fillfactor = 80);
			-- a move also records since when the user was in the segment left: the
			-- outbox is the history of every stay that ended, written once
			CREATE TABLE segmentation.transitions (
				id bigserial PRIMARY KEY, run_id bigint, scheme text NOT NULL, user_id %1$s NOT NULL,
				from_segment text, from_entered_at timestamptz, to_segment text, at timestamptz NOT NULL);
			CREATE TABLE segmentation.dirty_users (user_id %1$s);
			CREATE TABLE segmentation.truncated (source_id int);
		$ddl$, t);
		CREATE TABLE segmentation.score_context (
			only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
			as_of timestamptz,
			feature_names text[] NOT NULL DEFAULT '{}',
			rfm_breakpoints float8[],
			schemes text[] NOT NULL DEFAULT '{}',
			rules text[]);
		INSERT INTO segmentation.score_context DEFAULT VALUES;
	END IF;
	PERFORM segmentation._create_queue(user_type);
	-- per managed funnel and user: the user's rows of the funnel and their chain (sql/77-funnels-managed.sql)
	EXECUTE format($ddl$
		CREATE TABLE segmentation._funnel_state (
			funnel_id int NOT NULL, user_id %1$s NOT NULL, ts timestamptz[] NOT NULL, masks int[] NOT NULL,
			chain timestamptz[] NOT NULL, scan bigint[] NOT NULL, maxts timestamptz NOT NULL, PRIMARY KEY (user_id, funnel_id));
		-- refresh's work table: the behaviors of the users a run changes,
		-- empty between runs (sql/70-refresh.sql); a table of the state, so
		-- that on Citus it is colocated with the events and the profiles and
		-- the behaviors never pass through the coordinator (unlogged: a
		-- crash empties it, as it is between runs; logged on Citus, below).
		-- A user is in it once (no key on one node: its index cost a full
		-- refresh 13%%, bench/README.md).  No column statistics: they would
		-- keep the ids of a run's users (a forgotten one's too) after the
		-- run; ANALYZE still counts its rows for the planner
		CREATE UNLOGGED TABLE segmentation._batch (user_id %1$s, b segmentation.behavior, replace boolean NOT NULL, n bigint NOT NULL);
		ALTER TABLE segmentation._batch ALTER COLUMN user_id SET STATISTICS 0, ALTER COLUMN b SET STATISTICS 0,
			ALTER COLUMN replace SET STATISTICS 0, ALTER COLUMN n SET STATISTICS 0;
		-- and the rows of the managed funnels' steps that a run reads
		-- (sql/77-funnels-managed.sql), kept as _batch is, but for the
		-- null fraction of ts, which counts the users a run marks (a row of
		-- no time): without it the planner took them for 0.5%% of the rows,
		-- and on Citus read their rows from each shard of the tracked table
		-- by a nested loop, 2 s a shard of 250,000 rows for what a hash
		-- join does in 40 ms (review of session 31).  (STATISTICS 1 keeps
		-- no user id: at most one event time and the sample's first and last)
		CREATE UNLOGGED TABLE segmentation._funnel_batch (user_id %1$s, ts timestamptz, event text, replace boolean NOT NULL);
		ALTER TABLE segmentation._funnel_batch ALTER COLUMN user_id SET STATISTICS 0, ALTER COLUMN ts SET STATISTICS 1,
			ALTER COLUMN event SET STATISTICS 0, ALTER COLUMN replace SET STATISTICS 0;
		-- and the users whose cells of the managed analyses a run counts
		-- again (sql/75-analyses-managed.sql)
		CREATE UNLOGGED TABLE segmentation._analysis_users (user_id %1$s PRIMARY KEY);
		ALTER TABLE segmentation._analysis_users ALTER COLUMN user_id SET STATISTICS 0;
	$ddl$, t);

	-- On Citus, when the table tracked first is one Citus distributes: the
	-- per-user tables distributed by user id, colocated with it, and the
	-- score context a reference table, so that the views over them (scores,
	-- whose row type the segment pass reads on the workers) are made on
	-- every node too (doc/citus.md, "The state on the workers").  transitions
	-- is keyed by (user_id, id): its ids still come from the coordinator's
	-- sequence, the moves being written there.  (Sequential: the functions
	-- made below must reach each worker over the connection that made the
	-- shards.)
	-- (a new state only: one the update from 0.1 moved back, with its rows,
	-- stays where it is; and the source re-validated, since an admin may
	-- write a row of sources by hand: _check_source)
	IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM segmentation.profiles) AND NOT EXISTS (SELECT 1 FROM segmentation.transitions) THEN
		SELECT x.id, x.source INTO r FROM segmentation.sources x
		WHERE segmentation._citus_member(x.source) = x.source
		  AND segmentation._citus_unsupported(x.source, x.user_column) IS NULL
		ORDER BY x.id LIMIT 1;
		IF r.source IS NOT NULL THEN
			PERFORM segmentation._check_source(r.id, false);
			citus_src := r.source;
		END IF;
	END IF;
	IF citus_src IS NOT NULL THEN
		saved_mode := current_setting('citus.multi_shard_modify_mode');
		PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
		BEGIN
			PERFORM pg_catalog.create_distributed_table('segmentation.profiles', 'user_id', colocate_with => citus_src::text);
		EXCEPTION WHEN internal_error THEN
			IF SQLERRM NOT LIKE '%in sequential mode because a parallel query was executed in this transaction%' THEN
				RAISE;
			END IF;
			RAISE EXCEPTION 'the first track() of a table Citus distributes must not follow a parallel query on a distributed table in its transaction'
				USING ERRCODE = 'active_sql_transaction',
				      DETAIL = pg_catalog.format('It distributes the extension''s state colocated with %s, which Citus then does over one connection per node.', citus_src),
				      HINT = 'Call track() in a transaction of its own, or before the statements that write distributed tables.';
		END;
		ALTER TABLE segmentation.transitions DROP CONSTRAINT transitions_pkey;
		PERFORM pg_catalog.create_distributed_table('segmentation.transitions', 'user_id', colocate_with => citus_src::text);
		ALTER TABLE segmentation.transitions ADD PRIMARY KEY (user_id, id);
		-- (refresh finds its run's moves by id)
		CREATE INDEX transitions_id ON segmentation.transitions (id);
		PERFORM pg_catalog.create_distributed_table('segmentation._funnel_state', 'user_id', colocate_with => citus_src::text);
		-- (logged, with a key: Citus moves and splits the shards of a
		-- colocation group together, by logical replication, which
		-- publishes no unlogged table and applies DELETEs by the replica
		-- identity, the key; a full one needs an equality of behavior,
		-- which has none)
		ALTER TABLE segmentation._batch SET LOGGED, ADD PRIMARY KEY (user_id);
		PERFORM pg_catalog.create_distributed_table('segmentation._batch', 'user_id', colocate_with => citus_src::text);
		-- the parts of _batch that an incremental run's queued events make
		-- on the workers (_absorb_citus_queues, sql/60-capture.sql): per
		-- user and batch (part_of: its first user), empty between runs;
		-- kept as _batch is
		EXECUTE format($ddl$
			CREATE TABLE segmentation._batch_parts (user_id %1$s NOT NULL, part_of %1$s NOT NULL, b segmentation.behavior NOT NULL,
				n bigint NOT NULL, PRIMARY KEY (user_id, part_of));
			ALTER TABLE segmentation._batch_parts ALTER COLUMN user_id SET STATISTICS 0, ALTER COLUMN part_of SET STATISTICS 0,
				ALTER COLUMN b SET STATISTICS 0, ALTER COLUMN n SET STATISTICS 0;
			COMMENT ON TABLE segmentation._batch_parts IS 'Internal: refresh''s work table on Citus, empty between runs: per user and batch of events queued on a shard (part_of: its first user), the events'' behavior, summed up into _batch';
		$ddl$, t);
		PERFORM pg_catalog.create_distributed_table('segmentation._batch_parts', 'user_id', colocate_with => citus_src::text);
		-- (no key: a user's rows may repeat; the whole row identifies one
		-- for the logical replication of a shard move, as for the queues)
		ALTER TABLE segmentation._funnel_batch SET LOGGED, REPLICA IDENTITY FULL;
		PERFORM pg_catalog.create_distributed_table('segmentation._funnel_batch', 'user_id', colocate_with => citus_src::text);
		ALTER TABLE segmentation._analysis_users SET LOGGED;
		PERFORM pg_catalog.create_distributed_table('segmentation._analysis_users', 'user_id', colocate_with => citus_src::text);
		PERFORM pg_catalog.create_reference_table('segmentation.score_context');
		-- the key in force and the keyed hashes of forgotten and opted-out
		-- users, copied to every node (reference tables), so that refresh
		-- tests its users' hashes on the workers, in a join
		-- (sql/45-privacy.sql, _sync_on_nodes); no grant, on any node: the
		-- owner's only, as the originals; no column statistics, which an
		-- ANALYZE would keep the key and the hashes in
		CREATE TABLE segmentation._key_on_nodes (key bytea NOT NULL CHECK (octet_length(key) = 32));
		CREATE TABLE segmentation._forgotten_on_nodes (id_hash bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32));
		CREATE TABLE segmentation._opt_outs_on_nodes (id_hash bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32));
		ALTER TABLE segmentation._key_on_nodes ALTER COLUMN key SET STATISTICS 0;
		ALTER TABLE segmentation._forgotten_on_nodes ALTER COLUMN id_hash SET STATISTICS 0;
		ALTER TABLE segmentation._opt_outs_on_nodes ALTER COLUMN id_hash SET STATISTICS 0;
		COMMENT ON TABLE segmentation._key_on_nodes IS 'Internal (Citus): a copy on every node of the pseudonym key in force (_pseudonym_key), for the keyed hashes refresh makes on the workers; no role but the extension''s owner reads it';
		COMMENT ON TABLE segmentation._forgotten_on_nodes IS 'Internal (Citus): a copy on every node of forgotten_users';
		COMMENT ON TABLE segmentation._opt_outs_on_nodes IS 'Internal (Citus): a copy on every node of opt_outs';
		PERFORM pg_catalog.create_reference_table('segmentation._key_on_nodes');
		PERFORM pg_catalog.create_reference_table('segmentation._forgotten_on_nodes');
		PERFORM pg_catalog.create_reference_table('segmentation._opt_outs_on_nodes');
		PERFORM segmentation._sync_on_nodes();
	END IF;

	-- Scores are not stored: they are computed from the stored behaviors with
	-- the context of the last refresh whenever they are read, so a refresh
	-- writes only the users who changed.
	CREATE VIEW segmentation._user_state AS
	SELECT p.user_id, s.*, p.segments
	FROM segmentation.profiles p,
	     LATERAL segmentation.behavior_scores(p.behavior,
	         (SELECT c.as_of FROM segmentation.score_context c),
	         (SELECT c.feature_names FROM segmentation.score_context c),
	         (SELECT c.rfm_breakpoints FROM segmentation.score_context c)) s
	WHERE NOT p.opted_out;
	EXECUTE format('CREATE VIEW segmentation.scores AS SELECT user_id, %s FROM segmentation._user_state',
		(SELECT string_agg(format('%I', c.name), ', ') FROM segmentation.score_columns() c));
	-- A user's current segments live in their profile, so that a refresh
	-- compares and writes one row per user who moved; transitions keeps the
	-- stays they left.
	PERFORM segmentation._read_paths();
	COMMENT ON TABLE segmentation.profiles IS 'One behavior per user, merged from every tracked source, and the user''s current segment in every scheme';
	COMMENT ON COLUMN segmentation.profiles.segments IS 'Current segment per scheme and since when: {"scheme": ["segment", "entered_at"]}';
	COMMENT ON COLUMN segmentation.profiles.changed_run IS 'The refresh run (refresh_runs.id) that last changed the behavior, or the user''s attributes (track_users)';
	COMMENT ON COLUMN segmentation.profiles.opted_out IS 'The user opted out (opt_out()): behavior kept, in no segment, view, export or readout';
	COMMENT ON TABLE segmentation.score_context IS 'What the scores and segments of the last refresh were computed with: as_of, feature names, RFM breakpoints, schemes and their rules (one row)';
	COMMENT ON VIEW segmentation._user_state IS 'Internal: scores and current segments of every user, as of the last refresh';
	COMMENT ON VIEW segmentation.scores IS 'Scores of every user as of the last refresh, computed from profiles and score_context: what segment predicates read';
	COMMENT ON VIEW segmentation.memberships IS 'Current segment of every user in every scheme (from profiles.segments)';
	COMMENT ON COLUMN segmentation.memberships.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.memberships.user_id IS 'User id';
	COMMENT ON COLUMN segmentation.memberships.segment IS 'Segment the user is in now';
	COMMENT ON COLUMN segmentation.memberships.entered_at IS 'as_of of the refresh that put the user there';
	COMMENT ON COLUMN segmentation.scores.user_id IS 'User id, of the tracked sources'' type';
	FOR r IN SELECT c.name, c.description FROM segmentation.score_columns() c LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.scores.%I IS %L', r.name, r.description);
	END LOOP;
	COMMENT ON VIEW segmentation.membership_history IS 'Who was in which segment when: the stays that ended (from transitions) and the current ones (memberships), whose exited_at is NULL';
	COMMENT ON COLUMN segmentation.membership_history.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.membership_history.user_id IS 'User id';
	COMMENT ON COLUMN segmentation.membership_history.segment IS 'Segment';
	COMMENT ON COLUMN segmentation.membership_history.entered_at IS 'as_of of the refresh that put the user there';
	COMMENT ON COLUMN segmentation.membership_history.exited_at IS 'as_of of the refresh that moved the user out; NULL while the user is in it';
	COMMENT ON TABLE segmentation.transitions IS 'Append-only outbox of segment moves (from_segment NULL: a new user; to_segment NULL: a user gone), announced by NOTIFY segmentation_transitions; also the history of the stays that ended';
	COMMENT ON COLUMN segmentation.transitions.from_entered_at IS 'When the user entered from_segment: with at, the stay this move ended';
	COMMENT ON TABLE segmentation.dirty_users IS 'Internal: users whose events were updated or deleted since the last refresh';
	COMMENT ON TABLE segmentation._funnel_state IS 'Internal: per managed funnel and user, the times of the steps of the chain they reach the funnel''s level with, and what refresh needs to carry it on: the user''s rows of the funnel within its window before maxts (ts[i], and masks[i] with bit k-1 set when the row is of step k''s feature; under strict_order every event; none once a stopping rule ended the scan), window_funnel''s scan state where they begin (scan) and the latest row''s time (maxts)';
	COMMENT ON TABLE segmentation._analysis_users IS 'Internal: refresh''s work table, empty between runs: the users whose cells of the managed analyses an incremental run counts again';
	COMMENT ON TABLE segmentation._funnel_batch IS 'Internal: refresh''s work table, empty between runs: the rows (user, time, event name) of the managed funnels'' steps the run read (every event under strict_order), new ones (replace false) or all of a user recomputed (replace true; a row of no time marks a user whose funnel states are recomputed)';
	COMMENT ON TABLE segmentation._batch IS 'Internal: refresh''s work table, empty between runs: per user whose behavior the run changes, the new events'' behavior (replace false) or the whole new behavior (replace true; NULL: no event left), and the events read';
	COMMENT ON TABLE segmentation.truncated IS 'Internal: sources truncated or newly tracked since the last refresh (next refresh is full)';

	GRANT SELECT ON segmentation.profiles, segmentation.score_context, segmentation.scores, segmentation.memberships,
		segmentation.membership_history, segmentation.transitions TO segmentation_admin;
	-- per-user results, without opted-out users (profiles keeps their behavior: not the analyst's)
	GRANT SELECT ON segmentation.memberships, segmentation.membership_history, segmentation.transitions TO segmentation_analyst;
	GRANT INSERT ON segmentation.truncated TO segmentation_admin;

	COMMENT ON VIEW segmentation.segment_summary IS 'Size and mean scores of every segment of every scheme';
	COMMENT ON COLUMN segmentation.segment_summary.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.segment_summary.segment IS 'Segment (unsegmented: no predicate matched)';
	COMMENT ON COLUMN segmentation.segment_summary.users IS 'Users in the segment';
	COMMENT ON COLUMN segmentation.segment_summary.share IS 'Share of the scheme''s users';
	COMMENT ON COLUMN segmentation.segment_summary.mean_recency_days IS 'Mean days since last event';
	COMMENT ON COLUMN segmentation.segment_summary.mean_frequency IS 'Mean number of events';
	COMMENT ON COLUMN segmentation.segment_summary.mean_monetary IS 'Mean value sum';
	COMMENT ON COLUMN segmentation.segment_summary.mean_active_days_28 IS 'Mean active days in the last 28 days';
	COMMENT ON COLUMN segmentation.segment_summary.mean_adoption_rate IS 'Mean share of features adopted';
	COMMENT ON VIEW segmentation.segment_migration IS 'Users who moved between segments, per scheme and UTC day';
	COMMENT ON COLUMN segmentation.segment_migration.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.segment_migration.from_segment IS 'Segment left ((new): first segment of a new user)';
	COMMENT ON COLUMN segmentation.segment_migration.to_segment IS 'Segment entered ((gone): the user has no events any more)';
	COMMENT ON COLUMN segmentation.segment_migration.period IS 'UTC day of the move (the as_of of the refresh)';
	COMMENT ON COLUMN segmentation.segment_migration.users IS 'Users who made this move that day (NULL when suppressed)';
	COMMENT ON COLUMN segmentation.segment_migration.suppressed IS 'Fewer than min_cell_size users made this move that day, or another small cell of the day could be found from this one: users is NULL';
	COMMENT ON COLUMN segmentation.segment_summary.suppressed IS 'Fewer than min_cell_size users are in this segment, or another small segment of the scheme could be found from this one: the numbers are NULL';
	GRANT SELECT ON segmentation.segment_summary, segmentation.segment_migration
		TO segmentation_reader, segmentation_analyst, segmentation_admin;
	PERFORM segmentation._rebuild_views();
	IF citus_src IS NOT NULL THEN
		PERFORM set_config('citus.multi_shard_modify_mode', saved_mode, true);
	END IF;
END $$;
COMMENT ON FUNCTION _create_state(regtype) IS 'Internal: creates the materialized tables and views for a user id type';

-- user_scores has one column per scheme, so it is rebuilt when schemes change
CREATE FUNCTION _rebuild_views() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
	attrs name[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF to_regclass('segmentation._user_state') IS NULL THEN
		RETURN;
	END IF;
	-- the user attributes (track_users, sql/65-attributes.sql), each shown
	-- only to a role that may read it in the attribute table
	IF to_regclass('segmentation.user_attributes') IS NOT NULL THEN
		SELECT a.columns INTO attrs FROM segmentation.attribute_sources a;
	END IF;
	IF to_regclass('segmentation.user_scores') IS NOT NULL THEN
		BEGIN
			DROP VIEW segmentation.user_scores;
		EXCEPTION WHEN dependent_objects_still_exist THEN
			RAISE EXCEPTION 'segmentation.user_scores cannot be rebuilt with the new schemes: views of yours depend on it'
				USING ERRCODE = 'dependent_objects_still_exist',
				      HINT = 'user_scores has one column per scheme, so it is rebuilt when schemes change: drop the views built on it first (they are listed by DROP VIEW segmentation.user_scores), then create them again.';
		END;
	END IF;
	-- On Citus, the rows user_scores shows are read by the extension's owner
	-- (_read_paths), in _user_scores_as(caller), a SECURITY DEFINER function
	-- no role may call, with each attribute shown only when the caller may
	-- read it in the attribute table; the roles call _user_scores_rows()
	-- (src/node.c), which passes it the calling role.  Both return records,
	-- whose columns (the attributes' too) the view lists: replaced, never
	-- dropped, whatever a role built over them.
	IF segmentation._read_paths() THEN
		EXECUTE format('CREATE OR REPLACE FUNCTION segmentation._user_scores_as(caller oid) RETURNS SETOF record
		                LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET citus.explain_distributed_queries = off AS %L',
			format(E'DECLARE\n\tsee boolean[];\nBEGIN\n\tPERFORM segmentation._coordinator_only(%L);\n'
			       '\tPERFORM segmentation._clean_citus_settings();\n'
			       -- (what the caller may read, found here: as a qual of the
			       -- query Citus would send it to the workers)
			       '\tsee := ARRAY(SELECT segmentation._attribute_readable(r.rolname, x.c) FROM pg_catalog.pg_roles r, '
			       'pg_catalog.unnest(%L::pg_catalog.name[]) WITH ORDINALITY x(c, k) WHERE r.oid = caller ORDER BY x.k);\n'
			       '\tRETURN QUERY SELECT u.user_id%s%s, u.segments FROM segmentation._user_state u%s;\nEND',
			       'the view user_scores', coalesce(attrs, '{}'),
			       (SELECT string_agg(format(', u.%I', name), '') FROM segmentation.score_columns() WHERE name <> 'features_used'),
			       coalesce((SELECT string_agg(format(', CASE WHEN see[%s] THEN a.%I END', k, c), '' ORDER BY k)
			                 FROM unnest(attrs) WITH ORDINALITY x(c, k)), ''),
			       CASE WHEN attrs IS NOT NULL THEN ' LEFT JOIN segmentation.user_attributes a ON a.user_id OPERATOR(pg_catalog.=) u.user_id' ELSE '' END));
		REVOKE ALL ON FUNCTION segmentation._user_scores_as(oid) FROM PUBLIC;
		COMMENT ON FUNCTION segmentation._user_scores_as(oid) IS 'Internal: the rows user_scores shows to the role caller, read with the extension owner''s rights (the state is distributed by Citus); called only through _user_scores_rows()';
		CREATE OR REPLACE FUNCTION segmentation._user_scores_rows() RETURNS SETOF record
			AS '$libdir/segmentation', 'user_scores_rows' LANGUAGE C STABLE;
		REVOKE ALL ON FUNCTION segmentation._user_scores_rows() FROM PUBLIC;
		GRANT EXECUTE ON FUNCTION segmentation._user_scores_rows() TO segmentation_analyst, segmentation_admin;
		COMMENT ON FUNCTION segmentation._user_scores_rows() IS 'Internal: the rows user_scores shows to the calling role (the state is distributed by Citus): _user_scores_as of that role';
		-- (the record's columns named c1, c2, ... in the view: an attribute
		-- may be named segments)
		SELECT string_agg(format('u.c%s AS %I', k, n), ', ' ORDER BY k) FILTER (WHERE n IS NOT NULL) AS sel,
		       string_agg(format('c%s %s', k, t), ', ' ORDER BY k) AS coldef, max(k) AS last
		INTO r
		FROM unnest(ARRAY['user_id'::name]
		            || ARRAY(SELECT c.name::name FROM segmentation.score_columns() WITH ORDINALITY c(name, type, description, k)
		                     WHERE c.name <> 'features_used' ORDER BY c.k)
		            || coalesce(attrs, '{}') || ARRAY[NULL::name],
		            ARRAY[(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		                   WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id')]
		            || ARRAY(SELECT c.type FROM segmentation.score_columns() WITH ORDINALITY c(name, type, description, k)
		                     WHERE c.name <> 'features_used' ORDER BY c.k)
		            || ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM unnest(attrs) WITH ORDINALITY x(c, k)
		                     JOIN pg_attribute a ON a.attrelid = to_regclass('segmentation.user_attributes') AND a.attname = x.c ORDER BY x.k)
		            || ARRAY['jsonb']) WITH ORDINALITY x(n, t, k);
		EXECUTE format('CREATE VIEW segmentation.user_scores AS SELECT %s%s FROM segmentation._user_scores_rows() AS u (%s)',
			r.sel,
			coalesce((SELECT string_agg(format(', coalesce(u.c%s -> %L ->> 0, %L) AS %I', r.last, scheme, 'unsegmented', scheme), '' ORDER BY scheme)
			          FROM (SELECT DISTINCT s.scheme FROM segmentation.segments s) d), ''),
			r.coldef);
	ELSE
		-- (one node: a plain view, each attribute shown by the rights of the
		-- role reading it)
		EXECUTE format('CREATE VIEW segmentation.user_scores AS SELECT u.user_id%s%s%s FROM segmentation._user_state u%s',
			(SELECT string_agg(format(', u.%I', name), '') FROM segmentation.score_columns() WHERE name <> 'features_used'),
			coalesce((SELECT string_agg(format(', CASE WHEN (SELECT segmentation._attribute_readable(CURRENT_USER, %L)) THEN a.%I END AS %I',
			                                   c, c, c), '' ORDER BY k)
			          FROM unnest(attrs) WITH ORDINALITY x(c, k)), ''),
			coalesce((SELECT string_agg(format(', coalesce(u.segments -> %L ->> 0, %L) AS %I', scheme, 'unsegmented', scheme), '' ORDER BY scheme)
			          FROM (SELECT DISTINCT s.scheme FROM segmentation.segments s) d), ''),
			CASE WHEN attrs IS NOT NULL THEN ' LEFT JOIN segmentation.user_attributes a ON a.user_id OPERATOR(pg_catalog.=) u.user_id' ELSE '' END);
	END IF;
	COMMENT ON VIEW segmentation.user_scores IS 'One row per user: behavior scores as of the last refresh and the segment in every scheme';
	COMMENT ON COLUMN segmentation.user_scores.user_id IS 'User id, of the tracked sources'' type';
	FOR r IN SELECT name, description FROM segmentation.score_columns() WHERE name <> 'features_used' LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.user_scores.%I IS %L', r.name, r.description);
	END LOOP;
	FOR r IN SELECT DISTINCT scheme FROM segmentation.segments LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.user_scores.%I IS %L', r.scheme,
			format('Segment in scheme %s', r.scheme));
	END LOOP;
	FOR r IN SELECT c FROM unnest(attrs) c LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.user_scores.%I IS %L', r.c,
			format('User attribute %s (track_users); NULL for a role that may not read it in the attribute table', r.c));
	END LOOP;
	-- one row per user: not for readers (doc/privacy.md)
	GRANT SELECT ON segmentation.user_scores TO segmentation_analyst, segmentation_admin;
END $$;
COMMENT ON FUNCTION _rebuild_views() IS 'Internal: recreates user_scores with one column per scheme';
