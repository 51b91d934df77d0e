-- refresh().

-- ===================================================================
-- refresh
-- ===================================================================

-- A refresh whose reading of the sources failed, with features with a
-- condition: each condition is run again on the rows of its events, each
-- in a subtransaction, and the first that fails names its feature and
-- table in the error.  Never the failure's own message: it can quote the
-- row's values (invalid input syntax for type integer: "..."), which the
-- admin reading refresh_runs.error may not be allowed to read (review 15
-- F1): its SQLSTATE only.  When no probe fails, a data exception (class
-- 22) is raised the same way, without its message; any other error is left
-- to the caller.
CREATE FUNCTION _condition_failure(probes text[], labels text[], checked oid[], state text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	e_state text;
BEGIN
	FOR k IN 1 .. coalesce(cardinality(probes), 0) LOOP
		BEGIN
			PERFORM segmentation._execute_guarded(probes[k], checked, NULL::bigint);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE;
			RAISE EXCEPTION 'the condition of % failed on a row (SQLSTATE %)', labels[k], e_state
				USING ERRCODE = e_state,
				      DETAIL = 'The message of the failure is not shown: it may quote the row''s values.',
				      HINT = 'Define the feature again with a condition that holds for every row.';
		END;
	END LOOP;
	IF state LIKE '22%' THEN
		RAISE EXCEPTION 'reading the tracked tables failed with a data exception (SQLSTATE %) while features have conditions', state
			USING ERRCODE = state,
			      DETAIL = 'The message of the failure is not shown: it may quote a row''s values.',
			      HINT = 'Check the features'' conditions (segmentation.features), and refresh again.';
	END IF;
END $$;
COMMENT ON FUNCTION _condition_failure(text[], text[], oid[], text) IS 'Internal: after a refresh failed reading the sources (with SQLSTATE state), raises an error naming the first feature whose condition fails on a row of a table, or for a data exception, without the failure''s message (it may quote row values)';

-- The settings that change how SQL text is read are pinned to the values
-- the conditions were checked and printed back under (src/predicate.c,
-- PinSettings): refresh runs their text, and the caller's
-- standard_conforming_strings = off made a constant's '\'' end the string
-- early and run the rest as the extension's owner; array_nulls = off made
-- '{NULL,...}' hold the string 'NULL' (review 17, F01, F03).
CREATE FUNCTION refresh(full boolean DEFAULT false, as_of timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on SET array_nulls = on SET transform_null_equals = off SET backslash_quote = on
SET DateStyle = 'ISO, YMD' SET IntervalStyle = postgres AS $$
DECLARE
	do_full boolean := $1;	-- "full" is a keyword inside expressions
	run bigint;
	utype text;
	src text;
	checked oid[];
	n_events bigint := 0;
	n_users bigint := 0;
	n_moves bigint := 0;
	sch text;
	seg record;
	cases text;
	new_rules text[];
	names text[];
	breaks float8[];
	old_schemes text[];
	new_schemes text[];
	last_as_of timestamptz;
	last_names text[];
	last_breaks float8[];
	last_rules text[];
	prune boolean;
	saved_hashjoin text;
	saved_mergejoin text;
	first_id bigint;
	last_id bigint;
	n bigint;
	started timestamptz := clock_timestamp();
	run_mode text;
	last_success_as_of timestamptz;
	e_message text;
	e_state text;
	e_schema text;
	e_table text;
	e_context text;
	checked_text text;
	logged boolean;
	scrubbed boolean;
	retention interval;
	funnel_rows text := '';
	funnel_events text[];	-- the events of the funnels' steps (NULL: every event, under strict_order)
	funnel_batch boolean := false;
	analysis_delta boolean;
	conditional boolean;
	condition_events text[];
	probes text[];
	labels text[];
	agg text;
	bad_step record; attrs boolean;
	reads boolean; moves int[]; warnings text;
	no_truncate_triggers text;	-- tracked tables whose shards' TRUNCATE triggers the next run puts there
	full_at_start boolean;
	sources_read int[];	-- the sources the run read, when full
	dist boolean;	-- Citus manages the per-user state (doc/citus-distribution.md)
	on_shards boolean;	-- and the work table's parts: queued events aggregated on the workers
	on_workers boolean;	-- this run does (no managed funnel, or every one's rows on the workers too)
	hash_key text;	-- the key in force (a scalar subquery), and the hashes of the forgotten and opted-out users (relations)
	forgotten_list text;
	opted_out_list text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF do_full IS NULL OR as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION 'arguments "full" and "as_of" must not be NULL, and "as_of" must be finite' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- (a refresh as of a future time would block every scheduled refresh
	-- until then: as_of never goes back)
	IF as_of > clock_timestamp() THEN
		RAISE EXCEPTION 'argument "as_of" (%) is in the future', as_of USING ERRCODE = 'invalid_parameter_value',
			HINT = 'A refresh is as of now (the default) or an earlier time.';
	END IF;
	IF to_regclass('segmentation.profiles') IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Call segmentation.track(...) first.';
	END IF;
	dist := segmentation._citus_member('segmentation.profiles') IS NOT NULL;
	-- (a state restored from a single node's dump has no parts table, and
	-- its work table may lack the key the parts are merged by)
	on_shards := dist AND to_regclass('segmentation._batch_parts') IS NOT NULL
	             AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = 'segmentation._batch'::regclass AND i.indisprimary);
	-- bounded waits for locks (a tracked table locked by its owner, say)
	PERFORM set_config('lock_timeout', segmentation._setting_ms('refresh_lock_timeout')::text, true);
	-- One refresh at a time, by a row lock no other role can take.  A second
	-- one waits for the first (refresh_lock_timeout at most), then runs on
	-- what it left; past that it fails, loudly and logged: a refresh held
	-- open in a transaction must not make the scheduled ones silently do
	-- nothing.
	BEGIN
		PERFORM FROM segmentation._refresh_lock FOR UPDATE;
	EXCEPTION WHEN lock_not_available THEN
		e_message := format('another segmentation.refresh() has held the refresh lock for longer than refresh_lock_timeout (%s)',
			segmentation._setting('refresh_lock_timeout'));
		BEGIN
			logged := segmentation._log_failed_run(nextval('segmentation.refresh_runs_id_seq'), clock_timestamp(),
				CASE WHEN do_full THEN 'full' ELSE 'incremental' END, as_of, e_message, NULL, NULL, NULL);
		EXCEPTION WHEN OTHERS THEN
			logged := false;
		END;
		RAISE EXCEPTION '%', e_message USING ERRCODE = 'lock_not_available',
			HINT = 'A refresh runs in its caller''s transaction: a session that called refresh() and left its transaction open holds the lock (pg_stat_activity shows it).';
	END;
	-- as_of never goes back: history stays consistent
	SELECT max(r.as_of) INTO last_success_as_of FROM segmentation.refresh_runs r WHERE r.error IS NULL AND r.finished_at IS NOT NULL;
	IF as_of < last_success_as_of THEN
		RAISE EXCEPTION 'argument "as_of" (%) is earlier than the as_of of the last successful refresh (%)', as_of, last_success_as_of
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'History only goes forward: refresh as of that time or later (the default, now(), usually is).';
	END IF;
	do_full := do_full OR EXISTS (SELECT 1 FROM segmentation.truncated)
		OR NOT EXISTS (SELECT 1 FROM segmentation.refresh_runs r WHERE r.error IS NULL AND r.finished_at IS NOT NULL);
	run_mode := CASE WHEN do_full THEN 'full' ELSE 'incremental' END;
	-- the run's row is written when it ends: by this transaction when it
	-- succeeds, by a background worker's own transaction when it fails
	run := nextval('segmentation.refresh_runs_id_seq');
	-- the longest it may run, from now (statement_timeout set here would
	-- not arm the timer of the statement already running)
	PERFORM segmentation._refresh_timeout_begin(
		segmentation._setting_ms('refresh_statement_timeout'));

	BEGIN
		-- the key and the keyed hashes of forgotten and opted-out users that
		-- the run's users are tested against, below: on Citus their copies
		-- on every node, made equal to them first (_sync_on_nodes), so that
		-- each shard's users are tested where they are.  The key is a
		-- scalar subquery (one row, else an error): joined, a placement
		-- never counted by ANALYZE was taken for 1,360 rows, each shard's
		-- join for millions, which JIT compiled, about 1 s a shard (by hand,
		-- bench/citus_privacy.py's data); with LIMIT, Citus would read the
		-- key on the coordinator and send it to the workers.
		-- Without a key they must fail, never match nothing (a forgotten
		-- user would come back): the C functions read the key and both
		-- lists here first, as they would test a user (an error when the key
		-- is missing, or a table has row security for the owner), and on a
		-- node whose copy of the key is missing the statements' HMAC refuses
		-- an empty key.
		PERFORM segmentation._is_forgotten(''), segmentation._is_opted_out('');
		-- (a run that will read the tracked tables Citus distributes: no
		-- move of their shards from before it writes on a worker until it
		-- has locked them, else the two deadlocked, _hold_citus_moves; one
		-- that learns it reads from what it claims holds it from then)
		IF do_full OR EXISTS (SELECT 1 FROM segmentation.features f WHERE f.condition IS NOT NULL)
		   OR EXISTS (SELECT 1 FROM segmentation.funnels) THEN
			moves := segmentation._hold_citus_moves('{}', true);
		END IF;
		-- (a full run: capture's TRUNCATE trigger on each shard of the
		-- tracked tables Citus distributes that lacks it, before the run
		-- writes on a worker, the moves held; left to the next run, full
		-- then, when a shard could not have it now)
		full_at_start := do_full;
		IF do_full THEN
			SELECT string_agg(q.source::text, ', ' ORDER BY q.source_id) INTO no_truncate_triggers
			FROM segmentation._citus_queues() q WHERE NOT segmentation._citus_shard_truncate_triggers(q.source_id, true);
		END IF;
		IF dist THEN
			PERFORM segmentation._sync_on_nodes();
		END IF;
		SELECT h.hash_key, h.forgotten, h.opted_out INTO hash_key, forgotten_list, opted_out_list
		FROM segmentation._hidden_users_sql(dist) h;
		-- what capture queued on the shards of tracked tables Citus
		-- distributes, in this transaction: with the state distributed,
		-- claimed by this run, its batches of events left on the workers
		-- (the users updated or deleted and the truncates moved into
		-- dirty_users and truncated); else all moved into this node's queue
		-- (a truncate among it: the run is full)
		-- (a full run: none, it deletes them once it has locked the tables)
		IF do_full THEN
			NULL;
		ELSIF on_shards THEN
			PERFORM segmentation._claim_citus_queues(run);
		ELSE
			PERFORM segmentation._drain_citus_queues();
		END IF;
		IF NOT do_full AND EXISTS (SELECT 1 FROM segmentation.truncated) THEN
			do_full := true;
			run_mode := 'full';
		END IF;
		SELECT a.atttypid::regtype::text INTO utype FROM pg_attribute a
		WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
		-- The features and funnels as of one moment for the whole run:
		-- _sources_sql reads the features for the conditions, the main
		-- statement (a later snapshot) for _feature_map, and a define_feature
		-- committed in between would mix an old condition with a new map and
		-- have its full-refresh marker (truncated) consumed by this run
		-- (review 15 F2); a define_funnel, have a funnel computed from part
		-- of the run's events (review 29, R1).  SHARE: define_feature,
		-- define_funnel and drop_funnel wait for this refresh, and it for
		-- one in progress (refresh_lock_timeout at most).
		LOCK TABLE segmentation.features, segmentation.funnels IN SHARE MODE;
		-- (on Citus, a run that will read the tracked tables: their writers
		-- wait until it ends, so that what it reads and what it consumes of
		-- the shards' queues are the same events; a truncate among them: full)
		-- (called by itself: an expression's operands need not all be evaluated)
		reads := do_full OR EXISTS (SELECT 1 FROM segmentation.dirty_users)
		         OR EXISTS (SELECT 1 FROM segmentation.features f WHERE f.condition IS NOT NULL)
		         OR EXISTS (SELECT 1 FROM segmentation.funnels);
		-- (the queued batches are aggregated on the workers, and the rows
		-- of the managed funnels' steps among them kept there, unless the
		-- funnels' work table is this node's (a state restored from one
		-- node's dump) or a tracked table is one Citus does not distribute:
		-- the late users' rows are read in another statement than the one
		-- that consumes the queue, the same events only when every tracked
		-- table is locked against writes (_lock_citus_sources); then the
		-- run's statement reads them from this node's queue)
		on_workers := on_shards AND (NOT EXISTS (SELECT 1 FROM segmentation.funnels)
		                             OR (segmentation._citus_member('segmentation._funnel_batch') IS NOT NULL
		                                 AND NOT EXISTS (SELECT 1 FROM segmentation.sources x
		                                                 WHERE x.id NOT IN (SELECT q.source_id FROM segmentation._citus_queues() q))));
		IF reads THEN
			-- (claimed already: a move running fails the run, at once; so do
			-- those of a table tracked since)
			moves := segmentation._hold_citus_moves(coalesce(moves, '{}'), false);
		END IF;
		IF segmentation._lock_citus_sources(reads) THEN
			PERFORM segmentation._take_citus_queues(run, do_full, on_workers);
		END IF;
		IF NOT do_full AND EXISTS (SELECT 1 FROM segmentation.truncated) THEN
			do_full := true;
			run_mode := 'full';
			-- (a define_feature, define_funnel or TRUNCATE committed while
			-- this run waited for the features' lock: the run reads the
			-- tables now, under their lock too, else an event written
			-- meanwhile was read and left queued on its shard, counted
			-- twice, review 30)
			IF NOT reads THEN
				reads := true;
				moves := segmentation._hold_citus_moves(coalesce(moves, '{}'), false);
				IF segmentation._lock_citus_sources(true) THEN
					PERFORM segmentation._take_citus_queues(run, true, on_workers);
				END IF;
			ELSE
				-- (locked already: what the run claimed on the shards goes
				-- too, else the next run would count it again)
				PERFORM segmentation._drain_citus_queues(true);
			END IF;
		END IF;
		-- (the tables locked: a move now waits for them until the run ends)
		PERFORM segmentation._shard_moves_lock(g, false, false) FROM unnest(moves) g;
		-- (the tables it names are read by _execute_guarded: those it checked, only)
		SELECT array_agg(s.id) INTO sources_read FROM segmentation.sources s;
		SELECT x.sql, x.checked, x.conditional, x.condition_events, x.probes, x.labels
		INTO src, checked, conditional, condition_events, probes, labels FROM segmentation._sources_sql(true) x;
		-- Features with a condition (DESIGN section 4): a row counts for the
		-- features without one by its event name (_feature_map) and for
		-- those with one it satisfies (extra, an int4[] evaluated per row by
		-- the sources' SQL), once in the totals (behavior_agg_features).
		-- Without such features, the aggregate of every refresh before them.
		agg := CASE WHEN conditional THEN 'segmentation.behavior_agg_features(e.ts, fm.id, e.extra, e.value)'
		            ELSE 'segmentation.behavior_agg(e.ts, fm.id, e.value)' END;
		-- (a managed funnel keeps its steps' rows by event name alone:
		-- define_funnel and define_feature refuse a step with a condition)
		SELECT f.name, st.name AS step INTO bad_step FROM segmentation.funnels f, unnest(f.steps) st(name), segmentation.features ft
		WHERE ft.name = st.name AND ft.condition IS NOT NULL ORDER BY f.name LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'step "%" of managed funnel "%" is a feature with a condition', bad_step.step, bad_step.name
				USING ERRCODE = 'feature_not_supported',
				      HINT = 'Drop the funnel (segmentation.drop_funnel), or define the feature again without a condition.';
		END IF;
		-- the run's work table (a table of the state: on Citus, colocated
		-- with the events, so the behaviors stay on the workers; empty
		-- between runs, and a failed run's rows go with its transaction).
		-- (DELETE, not TRUNCATE, whose lock on every shard deadlocked with
		-- Citus moving a shard of the colocation group)
		DELETE FROM segmentation._batch;
		-- managed funnels keep the rows of their steps' events (every event
		-- under strict_order): the same statement writes them to
		-- _funnel_batch (a table of the state, as _batch is)
		IF EXISTS (SELECT 1 FROM segmentation.funnels) THEN
			DELETE FROM segmentation._funnel_batch;
			funnel_batch := true;
			IF NOT EXISTS (SELECT 1 FROM segmentation.funnels f WHERE segmentation._funnel_keeps_all(f.modes)) THEN
				SELECT array_agg(DISTINCT em.event ORDER BY em.event) INTO funnel_events
				FROM segmentation.funnels f, unnest(f.steps) st(name), segmentation.features ft, unnest(ft.event_names) em(event)
				WHERE ft.name = st.name;
				funnel_events := coalesce(funnel_events, '{}');
				funnel_rows := format(' AND e.event = ANY (%L::text[])', funnel_events);
			END IF;
		END IF;

		-- One statement, so one snapshot: the queued events it consumes, the
		-- users it recomputes and the source rows it reads are the same
		-- moment's.  An event committed later stays queued for the next run.
		-- (On Citus, with the queues consumed on the workers, later
		-- statements consume and read too: every tracked table is locked
		-- against writes then, above.)
		-- (the run's id written into the text, not passed as a parameter:
		-- on Citus, the EXPLAIN of an INSERT ... SELECT it repartitions
		-- plans the SELECT again without the parameters and fails, whatever
		-- citus.explain_distributed_queries says: keep the ids in the text)
		-- Events refresh cannot use (segmentation._reject_reason) go to
		-- rejected_events, in the same statement; the others are refreshed.
		-- (a condition that fails on a row, dividing by zero say, fails the
		-- refresh: the error then names the feature and the table)
		-- (the batches claimed on the shards: their refused events first,
		-- which the statement deletes again for the users it recomputes,
		-- and the users it recomputes for a feature with a condition)
		IF on_workers AND NOT do_full THEN
			PERFORM segmentation._absorb_citus_begin(run, utype::regtype, CASE WHEN conditional THEN condition_events ELSE '{}' END);
		END IF;
		BEGIN
		IF do_full THEN
			-- the sources are read twice, in the same snapshot: once for the
			-- rejected rows, once for the aggregate
			PERFORM segmentation._execute_guarded(format($q$
				WITH c AS (DELETE FROM segmentation.pending_batches RETURNING 1),
				     d AS (DELETE FROM segmentation.dirty_users RETURNING 1),
				     t AS (DELETE FROM segmentation.truncated RETURNING 1),
				     x AS (DELETE FROM segmentation.rejected_events RETURNING 1),
				     rj AS (INSERT INTO segmentation.rejected_events (run_id, source, user_id, ts, event, value, reason)
				            SELECT %4$s, s.name, CASE WHEN octet_length(e.user_id::text) <= 1000 THEN e.user_id::text END, e.ts, e.event, e.value, e.reason
				            FROM (SELECT e.*, segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) AS reason FROM (%1$s) e) e
				            -- (the table's name made here: on Citus the join may run
				            -- on a worker, where the OID names nothing)
				            LEFT JOIN (SELECT x.id, x.source::text AS name FROM segmentation.sources x) s ON s.id = e.source_id
				            WHERE e.reason IS NOT NULL)%2$s
				INSERT INTO segmentation._batch
				SELECT e.user_id, %3$s, true, count(*)
				FROM (%1$s) e LEFT JOIN segmentation._feature_map fm ON fm.event = e.event
				WHERE segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) IS NULL
				GROUP BY e.user_id
			$q$, src, CASE WHEN NOT funnel_batch THEN '' ELSE format($f$,
				     fb AS (INSERT INTO segmentation._funnel_batch (user_id, ts, event, replace)
				            SELECT e.user_id, e.ts, e.event, true FROM (%1$s) e
				            WHERE segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) IS NULL%2$s)$f$, src, funnel_rows) END,
				agg, run),
				checked, NULL::bigint);
			-- (an anti-join Citus plans with profiles distributed: it refuses
			-- a NOT EXISTS between a distributed and a local table)
			INSERT INTO segmentation._batch SELECT p.user_id, NULL, true, 0
			FROM segmentation.profiles p LEFT JOIN segmentation._batch b ON b.user_id = p.user_id
			WHERE b.user_id IS NULL;
		ELSIF NOT reads THEN
			-- Only new events to merge (no user to recompute, no feature with
			-- a condition, no managed funnel): the queue alone is read, no
			-- tracked table (on Citus, a statement that named a distributed
			-- table had Citus write each of its parts, the queued events
			-- among them, to files and read them back: eight times the full
			-- refresh's time).  A user queued for recomputing since it was
			-- checked above stays queued for the next run.
			PERFORM segmentation._execute_guarded(format($q$
				WITH cb AS (DELETE FROM segmentation.pending_batches RETURNING source_id, batch),
				     c AS (SELECT cb.source_id, e.user_id::%1$s AS user_id, e.ts, e.event, e.value
				           FROM cb, segmentation._queued_events(cb.batch) e),
				     cr AS (SELECT c.*, segmentation._reject_reason(octet_length(c.user_id::text), c.ts, c.value) AS reason FROM c),
				     rj AS (INSERT INTO segmentation.rejected_events (run_id, source, user_id, ts, event, value, reason)
				            SELECT %2$s, s.name, CASE WHEN octet_length(e.user_id::text) <= 1000 THEN e.user_id::text END, e.ts, e.event, e.value, e.reason
				            FROM cr e LEFT JOIN (SELECT x.id, x.source::text AS name FROM segmentation.sources x) s ON s.id = e.source_id
				            WHERE e.reason IS NOT NULL)
				INSERT INTO segmentation._batch
				SELECT c.user_id, segmentation.behavior_agg(c.ts, fm.id, c.value), false, count(*)
				FROM cr c LEFT JOIN segmentation._feature_map fm ON fm.event = c.event
				WHERE c.reason IS NULL
				GROUP BY c.user_id
			$q$, utype, run), checked, NULL::bigint);
		ELSE
			PERFORM segmentation._execute_guarded(format($q$
				WITH cb AS (DELETE FROM segmentation.pending_batches RETURNING source_id, batch),
				     c AS (SELECT cb.source_id, e.user_id::%5$s AS user_id, e.ts, e.event, e.value
				           FROM cb, segmentation._queued_events(cb.batch) e),
				     cr AS (SELECT c.*, segmentation._reject_reason(octet_length(c.user_id::text), c.ts, c.value) AS reason FROM c),
				     d AS (DELETE FROM segmentation.dirty_users RETURNING user_id),
				     -- (and, with features with a condition, the users of a
				     -- queued event such a feature lists: the condition is on
				     -- the source row, which they are recomputed from)
				     -- (not a user whose id is over 1000 bytes: every event of
				     -- theirs is refused, so there is nothing to recompute,
				     -- and their refused rows, kept without the id, could not
				     -- be found again: each was written once more a run; on
				     -- Citus their row failed _batch's key, review 29b)
				     dd AS (SELECT user_id FROM (SELECT user_id FROM d%4$s) x
				            WHERE user_id IS NOT NULL AND octet_length(user_id::text) <= 1000 GROUP BY user_id),
				     er AS (SELECT e.*, segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) AS reason
				            FROM (%1$s) e WHERE e.user_id IN (SELECT user_id FROM dd)),
				     r AS (SELECT e.user_id, %3$s AS b, count(*) AS n
				           FROM er e LEFT JOIN segmentation._feature_map fm ON fm.event = e.event
				           WHERE e.reason IS NULL
				           GROUP BY e.user_id),
				     -- recomputed users' rejected rows are found again in the sources
				     x AS (DELETE FROM segmentation.rejected_events j WHERE j.user_id IN (SELECT dd.user_id::text FROM dd)),
				     rj AS (INSERT INTO segmentation.rejected_events (run_id, source, user_id, ts, event, value, reason)
				            SELECT %6$s, s.name, CASE WHEN octet_length(e.user_id::text) <= 1000 THEN e.user_id::text END, e.ts, e.event, e.value, e.reason
				            FROM (SELECT cr.source_id, cr.user_id, cr.ts, cr.event, cr.value, cr.reason FROM cr
				                  WHERE cr.reason IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dd WHERE dd.user_id = cr.user_id)
				                  UNION ALL
				                  SELECT er.source_id, er.user_id, er.ts, er.event, er.value, er.reason FROM er
				                  WHERE er.reason IS NOT NULL) e
				            LEFT JOIN (SELECT x.id, x.source::text AS name FROM segmentation.sources x) s ON s.id = e.source_id)%2$s
				INSERT INTO segmentation._batch
				SELECT c.user_id, segmentation.behavior_agg(c.ts, fm.id, c.value), false, count(*)
				FROM cr c LEFT JOIN segmentation._feature_map fm ON fm.event = c.event
				WHERE c.reason IS NULL AND NOT EXISTS (SELECT 1 FROM dd WHERE dd.user_id = c.user_id)
				GROUP BY c.user_id
				UNION ALL
				SELECT dd.user_id, r.b, true, coalesce(r.n, 0) FROM dd LEFT JOIN r USING (user_id)
			$q$, src, CASE WHEN NOT funnel_batch THEN ''
			               -- (the queues on the shards consumed there: refresh
			               -- finds the users of a late event among all the new
			               -- rows after this statement, the tables locked)
			               WHEN on_workers THEN format($f$,
				     fb AS (INSERT INTO segmentation._funnel_batch (user_id, ts, event, replace)
				            SELECT e.user_id, e.ts, e.event, false FROM cr e
				            WHERE e.reason IS NULL AND NOT EXISTS (SELECT 1 FROM dd WHERE dd.user_id = e.user_id)%1$s
				            UNION ALL
				            SELECT e.user_id, e.ts, e.event, true FROM er e WHERE e.reason IS NULL%1$s)$f$, funnel_rows)
			               ELSE format($f$,
				     -- A managed funnel's state carries on only with rows no
				     -- earlier than the latest it saw (maxts; with
				     -- strict_order or strict_deduplication, later than it:
				     -- sql/77-funnels-managed.sql).  A user with an earlier
				     -- row of one of their funnels (a late event: an event
				     -- of one of its steps, any event under strict_order)
				     -- has their funnel states recomputed from the sources'
				     -- rows of the funnels' steps; their behavior merges the
				     -- new events as any user's does.  Events of no step of
				     -- a funnel are never late for it.
				     fl AS (SELECT DISTINCT l.user_id
				            FROM (SELECT c.user_id, m.funnel_id, min(c.ts) AS ts
				                  FROM cr c
				                  JOIN (SELECT f.id AS funnel_id, em.event
				                        FROM segmentation.funnels f, unnest(f.steps) st(name), segmentation.features ft,
				                             unnest(ft.event_names) em(event)
				                        WHERE ft.name = st.name AND NOT segmentation._funnel_keeps_all(f.modes)) m ON m.event = c.event
				                  WHERE c.reason IS NULL
				                  GROUP BY 1, 2
				                  UNION ALL
				                  SELECT c.user_id, f.id, min(c.ts)
				                  FROM cr c CROSS JOIN segmentation.funnels f
				                  WHERE c.reason IS NULL AND segmentation._funnel_keeps_all(f.modes)
				                  GROUP BY 1, 2) l
				            JOIN segmentation.funnels f ON f.id = l.funnel_id
				            -- (a join, at most one state per user and funnel: Citus
				            -- refuses an EXISTS of a distributed table in a local query)
				            JOIN segmentation._funnel_state s ON s.user_id = l.user_id AND s.funnel_id = l.funnel_id
				                 AND (s.maxts > l.ts OR (s.maxts = l.ts AND NOT segmentation._funnel_ties_merge(f.modes)))
				            WHERE NOT EXISTS (SELECT 1 FROM dd WHERE dd.user_id = l.user_id)),
				     fb AS (INSERT INTO segmentation._funnel_batch (user_id, ts, event, replace)
				            -- (the late users' new rows too, deleted after the
				            -- statement: an anti-join with fl here, whose rows
				            -- the planner takes for a handful, was a nested loop
				            -- over both, quadratic, review of session 31)
				            SELECT e.user_id, e.ts, e.event, false FROM cr e
				            WHERE e.reason IS NULL AND NOT EXISTS (SELECT 1 FROM dd WHERE dd.user_id = e.user_id)%2$s
				            UNION ALL
				            SELECT e.user_id, e.ts, e.event, true FROM er e WHERE e.reason IS NULL%2$s
				            UNION ALL
				            -- (the late users' rows, in the same snapshot: their
				            -- new events are among them)
				            SELECT e.user_id, e.ts, e.event, true FROM (%1$s) e
				            -- (IS TRUE: a hashed subplan, whatever the planner
				            -- thinks fl holds; as a semi-join it was a nested loop
				            -- over every row of the tables and fl, quadratic)
				            WHERE (e.user_id IN (SELECT fl.user_id FROM fl)) IS TRUE
				              AND segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) IS NULL%2$s
				            UNION ALL
				            -- and a row of no time and no event per late user: their
				            -- funnel states are recomputed even with no row left
				            SELECT fl.user_id, NULL, NULL, true FROM fl)$f$, src, funnel_rows) END,
				agg,
				CASE WHEN conditional THEN format(' UNION ALL SELECT c.user_id FROM c WHERE c.event = ANY (%L::text[])', condition_events) ELSE '' END,
				utype, run),
				checked, NULL::bigint);
		END IF;
		EXCEPTION WHEN OTHERS THEN
			IF conditional THEN
				PERFORM segmentation._condition_failure(probes, labels, checked, SQLSTATE);
			END IF;
			RAISE;
		END;
		-- (and their events, aggregated there, merged with the batch; the
		-- rows of the managed funnels' steps among them kept there)
		IF on_workers AND NOT do_full THEN
			PERFORM segmentation._absorb_citus_queues(run, utype::regtype, funnel_batch, funnel_events);
		END IF;
		-- The users of a late event (above): on one node the statement
		-- marked them (a row of no time) and read their rows of the
		-- funnels' steps; on Citus, with the queues consumed on the workers,
		-- they are found now among every new row, there: a user recomputed
		-- keeps the rows read from the tables only; a user with a row of a
		-- funnel earlier than the latest its state saw (at it, under a
		-- stopping rule) is marked and has those rows read from the tables
		-- again, which are locked against writes (_lock_citus_sources), the
		-- run having claimed again after the lock: everything it consumes
		-- was committed before it, the same events.  Either way the new
		-- rows of a marked user go (their rows read again hold them).
		IF funnel_batch AND NOT do_full THEN
			-- (its row count, as for _batch below: the pages an earlier run
			-- left, counted by a plain ANALYZE with no row in them, made a
			-- join of two scans of it quadratic, review of session 31)
			ANALYZE segmentation._funnel_batch;
			IF on_workers THEN
				DELETE FROM segmentation._funnel_batch b
				WHERE NOT b.replace AND b.user_id IN (SELECT x.user_id FROM segmentation._batch x WHERE x.replace);
				INSERT INTO segmentation._funnel_batch (user_id, ts, event, replace)
				SELECT b.user_id, NULL, NULL, true
				FROM segmentation._funnel_batch b
				JOIN segmentation._funnel_state s ON s.user_id = b.user_id
				-- (the modes read once a funnel, not for each row: OFFSET 0)
				JOIN (SELECT fs.id, segmentation._funnel_keeps_all(fs.modes) AS keeps_all,
				             segmentation._funnel_ties_merge(fs.modes) AS ties_merge
				      FROM segmentation.funnels fs OFFSET 0) f ON f.id = s.funnel_id
				LEFT JOIN (SELECT DISTINCT fs.id AS funnel_id, em.event
				           FROM segmentation.funnels fs, unnest(fs.steps) st(name), segmentation.features ft, unnest(ft.event_names) em(event)
				           WHERE ft.name = st.name) m ON m.funnel_id = f.id AND m.event = b.event
				WHERE NOT b.replace AND (m.event IS NOT NULL OR f.keeps_all)
				  AND (s.maxts > b.ts OR (s.maxts = b.ts AND NOT f.ties_merge))
				GROUP BY b.user_id;
				ANALYZE segmentation._funnel_batch;
			END IF;
			DELETE FROM segmentation._funnel_batch b
			WHERE NOT b.replace AND b.user_id IN (SELECT m.user_id FROM segmentation._funnel_batch m WHERE m.ts IS NULL);
			IF on_workers AND EXISTS (SELECT 1 FROM segmentation._funnel_batch m WHERE m.ts IS NULL) THEN
				BEGIN
					PERFORM segmentation._execute_guarded(format($q$
						INSERT INTO segmentation._funnel_batch (user_id, ts, event, replace)
						SELECT e.user_id, e.ts, e.event, true FROM (%1$s) e
						WHERE e.user_id IN (SELECT m.user_id FROM segmentation._funnel_batch m WHERE m.ts IS NULL)
						  AND segmentation._reject_reason(octet_length(e.user_id::text), e.ts, e.value) IS NULL%2$s
					$q$, src, funnel_rows), checked, NULL::bigint);
				-- (a condition that fails on a late user's row: named as above)
				EXCEPTION WHEN OTHERS THEN
					IF conditional THEN
						PERFORM segmentation._condition_failure(probes, labels, checked, SQLSTATE);
					END IF;
					RAISE;
				END;
			END IF;
		END IF;
		-- users forget_user() erased never come back, full refresh or not:
		-- their events (still in the sources without delete_events, or
		-- committed since) are skipped, one keyed hash per user of the batch
		-- (and of _funnel_batch's rows), joined with the hashes of the list
		-- (on Citus, on each shard: no id goes to the coordinator)
		IF EXISTS (SELECT 1 FROM segmentation.forgotten_users) THEN
			EXECUTE format($q$DELETE FROM segmentation._batch b USING %s f
				WHERE f.id_hash = segmentation._hmac_sha256(%s, segmentation._id_bytes(b.user_id::pg_catalog.text))$q$,
				forgotten_list, hash_key);
			IF funnel_batch THEN
				EXECUTE format($q$DELETE FROM segmentation._funnel_batch b USING %s f
					WHERE f.id_hash = segmentation._hmac_sha256(%s, segmentation._id_bytes(b.user_id::pg_catalog.text))$q$,
					forgotten_list, hash_key);
			END IF;
			DELETE FROM segmentation.rejected_events j WHERE j.run_id = run AND segmentation._is_forgotten(j.user_id);
		END IF;
		ANALYZE segmentation._batch;
		IF funnel_batch THEN
			ANALYZE segmentation._funnel_batch;
		END IF;
		-- the counts of the managed analyses change by the users whose cells can change: their
		-- cells as of the last refresh go out now, before anything is written (sql/75-analyses-managed.sql)
		retention := nullif(segmentation._setting('history_retention'), 'none')::interval;
		analysis_delta := segmentation._analysis_delta_begin(do_full, as_of, retention);
		SELECT coalesce(sum(b.n), 0) INTO n_events FROM segmentation._batch b;
		-- and the rows read again for the users of a late event (their mark:
		-- a row of no time, which no event has)
		IF funnel_batch AND NOT do_full THEN
			n_events := n_events + (SELECT count(*) FROM segmentation._funnel_batch f
			                        WHERE f.replace AND f.ts IS NOT NULL
			                          AND f.user_id IN (SELECT m.user_id FROM segmentation._funnel_batch m WHERE m.replace AND m.ts IS NULL));
		END IF;
		-- the managed funnels' per-user state (sql/77-funnels-managed.sql)
		-- (a funnel defined since the batch was read makes the next refresh full)
		IF funnel_batch THEN
			PERFORM segmentation._refresh_funnels(do_full);
		END IF;

		-- Merge new events into stored behaviors, or add the new users: each
		-- profile found through the index, in key order (the index pages and
		-- rows each one touches come in order; a hash join would read every
		-- profile).  MERGE: one index lookup and one write per user, where
		-- INSERT ... ON CONFLICT also locks the row first (0.1 to 0.4 s more
		-- per 100,000 users).  Only refresh writes profiles, one at a time.
		saved_hashjoin := current_setting('enable_hashjoin');
		saved_mergejoin := current_setting('enable_mergejoin');
		PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
		IF NOT dist THEN
			MERGE INTO segmentation.profiles p
			USING (SELECT b.user_id, b.b FROM segmentation._batch b WHERE b.b IS NOT NULL AND NOT b.replace ORDER BY b.user_id) b
			ON p.user_id = b.user_id
			WHEN MATCHED THEN UPDATE SET behavior = segmentation.behavior_merge(p.behavior, b.b), changed_run = run
			WHEN NOT MATCHED THEN INSERT (user_id, behavior, changed_run) VALUES (b.user_id, b.b, run);
		ELSE
			-- (Citus cannot MERGE into a distributed table from a local one)
			INSERT INTO segmentation.profiles AS p (user_id, behavior, changed_run)
			SELECT b.user_id, b.b, run FROM segmentation._batch b WHERE b.b IS NOT NULL AND NOT b.replace
			ON CONFLICT (user_id) DO UPDATE SET behavior = segmentation.behavior_merge(p.behavior, EXCLUDED.behavior),
				changed_run = EXCLUDED.changed_run;
		END IF;
		GET DIAGNOSTICS n_users = ROW_COUNT;
		PERFORM set_config('enable_hashjoin', saved_hashjoin, true), set_config('enable_mergejoin', saved_mergejoin, true);
		-- replace recomputed ones (in key order); the rows written counted
		-- by RETURNING (Citus's row count has the rows its WHERE skipped)
		WITH w AS (
			INSERT INTO segmentation.profiles AS p (user_id, behavior, changed_run)
			SELECT b.user_id, b.b, run FROM segmentation._batch b WHERE b.b IS NOT NULL AND b.replace ORDER BY b.user_id
			ON CONFLICT (user_id) DO UPDATE SET behavior = EXCLUDED.behavior, changed_run = EXCLUDED.changed_run
				WHERE p.behavior::text <> EXCLUDED.behavior::text
			RETURNING 1)
		SELECT count(*) INTO n FROM w;
		n_users := n_users + n;

		-- Opted-out users keep their behavior, flagged: opt_out() and opt_in()
		-- set the flag of the users they name; a user first seen now, or
		-- every user in a full refresh, takes it from opt_outs (one keyed hash
		-- per user, and none while nobody opted out).  The hashes are of the
		-- users in _batch (every profile's, when full), joined with the
		-- list's as above.
		IF do_full THEN
			UPDATE segmentation.profiles p SET opted_out = false WHERE p.opted_out;
		END IF;
		IF EXISTS (SELECT 1 FROM segmentation.opt_outs) THEN
			EXECUTE format($q$UPDATE segmentation.profiles p SET opted_out = true
				WHERE NOT p.opted_out
				  AND p.user_id IN (SELECT b.user_id FROM segmentation._batch b, %s o
				                    WHERE o.id_hash = segmentation._hmac_sha256(%s, segmentation._id_bytes(b.user_id::pg_catalog.text)))$q$,
				opted_out_list, hash_key);
		END IF;

		-- users with no event left leave every scheme
		EXECUTE format('CREATE TEMP TABLE _gone (user_id %s, segments jsonb) ON COMMIT DROP', utype);
		WITH gone AS (DELETE FROM segmentation.profiles p USING segmentation._batch b
		              WHERE b.replace AND b.b IS NULL AND p.user_id = b.user_id
		              RETURNING p.user_id, p.segments)
		INSERT INTO _gone SELECT * FROM gone;
		GET DIAGNOSTICS n = ROW_COUNT;
		n_users := n_users + n;

		-- Segments: in each scheme, the matching predicate of highest priority.
		-- (predicates name features: by the names of this run)
		names := segmentation._feature_names();
		SELECT coalesce(array_agg(DISTINCT s.scheme ORDER BY s.scheme), '{}') INTO new_schemes FROM segmentation.segments s;
		new_rules := '{}';
		FOR k IN 1 .. cardinality(new_schemes) LOOP
			sch := new_schemes[k];
			cases := '';
			FOR seg IN SELECT * FROM segmentation.segments s WHERE s.scheme = sch ORDER BY s.priority DESC, s.name LOOP
				-- the stored text is checked again: refresh runs only what passes the checker
				BEGIN
					checked_text := segmentation.check_predicate(seg.predicate, 'segmentation.scores'::regclass,
						'segmentation'::regnamespace, names);
				EXCEPTION WHEN OTHERS THEN
					GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT;
					RAISE EXCEPTION 'segment "%" of scheme "%" does not pass the predicate checker: %', seg.name, seg.scheme, e_message
						USING ERRCODE = 'data_corrupted', HINT = 'Define it again with segmentation.define_segment(), or drop it.';
				END;
				IF checked_text IS DISTINCT FROM seg.checked_predicate THEN
					RAISE EXCEPTION 'segment "%" of scheme "%" was changed outside define_segment', seg.name, seg.scheme
						USING ERRCODE = 'data_corrupted', HINT = 'Define it again with segmentation.define_segment().';
				END IF;
				PERFORM segmentation._check_segment_attributes(seg.scheme, seg.name, seg.checked_predicate, seg.defined_by);
				cases := cases || format(' WHEN (%s) THEN %L', seg.checked_predicate, seg.name);
			END LOOP;
			new_rules := new_rules || format('CASE%s ELSE %L END', cases, 'unsegmented');
		END LOOP;
		-- and so is what they name with in_segment, without a cycle (the C
		-- runs the schemes in dependency order, and refuses a cycle too)
		PERFORM segmentation._check_segment_uses(NULL, NULL);
		-- and so is what the rules cost together (define_segment's bounds)
		PERFORM segmentation._check_rule_costs(true);

		-- the context the scores are computed with from now on (the scores
		-- view reads it): as_of, feature names, population RFM breakpoints;
		-- and what the stored segments were computed with
		SELECT c.as_of, c.feature_names, c.rfm_breakpoints, c.schemes, c.rules
		INTO last_as_of, last_names, last_breaks, old_schemes, last_rules FROM segmentation.score_context c;
		-- (EXECUTE: a plan run to its end, so it may use parallel workers;
		-- on Citus, counts instead of every user's values to the coordinator)
		IF NOT dist THEN
			EXECUTE 'SELECT segmentation.rfm_breakpoints(p.behavior, $1) FROM segmentation.profiles p WHERE NOT p.opted_out'
				INTO breaks USING as_of;
		ELSE
			breaks := segmentation._rfm_breakpoints_split('segmentation.profiles', as_of);
		END IF;
		UPDATE segmentation.score_context c SET
			as_of = refresh.as_of,
			feature_names = names,
			rfm_breakpoints = breaks,
			schemes = new_schemes,
			rules = new_rules;

		-- One pass over every user (a parallel one when it pays): the rules of
		-- every scheme run on the user's scores with the new context, and only
		-- users whose segment changed in some scheme come out.  The context goes
		-- in as parameters, so that _assign_segments sets it up once.  Unless
		-- full, users whose behavior this run did not change are checked first
		-- against the last run's context, and most of them need no rules run:
		-- their stored segments are what the rules give (src/predicate.c).
		-- User attributes (track_users, sql/65-attributes.sql): the rows of
		-- the users whose rows changed (every row, when full) copied into
		-- user_attributes, which the rules read; their profiles are marked
		-- changed by this run (changed_run), so their rules run again below
		EXECUTE format('CREATE TEMP TABLE _attr_changed (user_id %s) ON COMMIT DROP', utype);
		attrs := segmentation._refresh_attributes(do_full, run) IS NOT NULL
			AND to_regclass('segmentation.user_attributes') IS NOT NULL AND EXISTS (SELECT 1 FROM segmentation.attribute_sources);
		IF new_schemes = '{}' THEN
			-- everyone leaves every scheme
			CREATE TEMP TABLE _moved ON COMMIT DROP AS
			SELECT NULL::tid AS row_id, p.user_id, NULL::jsonb AS new_segments, e.key AS scheme,
			       e.value ->> 0 AS from_segment, (e.value ->> 1)::timestamptz AS from_entered_at, NULL::text AS to_segment
			FROM segmentation.profiles p, jsonb_each(p.segments) e;
			UPDATE segmentation.profiles p SET segments = '{}' WHERE p.segments <> '{}';
		ELSE
			prune := NOT do_full AND last_as_of IS NOT NULL AND last_breaks IS NOT NULL
				AND last_rules = new_rules AND last_names = names AND old_schemes = new_schemes;
			-- _assign_segments returns a row per move, the first of a user
			-- with the user's new segments; none for a user who stays.  (The
			-- subquery keeps it to one call per user: the planner does not
			-- pull up a subquery with a set-returning function.)
			-- (with user attributes, each user's row of user_attributes goes
			-- in too: a.*, which no attribute column named "a" can shadow)
			EXECUTE format($q$
				CREATE TEMP TABLE _moved ON COMMIT DROP AS
				SELECT row_id, user_id, (m).segments AS new_segments, (m).scheme, (m).from_segment,
				       (m).from_entered_at, (m).to_segment
				FROM (SELECT p.ctid AS row_id, p.user_id,
				             segmentation._assign_segments(p.user_id, p.behavior, p.segments, $1, $2, $3, $4, $5,
				                 'segmentation.scores', NOT $6 OR p.changed_run = $7 OR p.segments = '{}', $8, $9%s) AS m
				      FROM segmentation.profiles p%s
				      -- (opted-out users are in no scheme; one who opted in again has
				      -- no segments, and is assigned as if new)
				      WHERE NOT p.opted_out) s
			$q$, CASE WHEN attrs THEN ', a.*' ELSE '' END,
			     CASE WHEN attrs THEN ' LEFT JOIN segmentation.user_attributes a ON a.user_id = p.user_id' ELSE '' END)
			USING as_of, names, breaks, new_schemes, new_rules, prune, run,
				coalesce(last_as_of, as_of), coalesce(last_breaks, breaks);
		END IF;
		-- Write the movers' segments, each found by the row the pass read
		-- (nothing else writes profiles meanwhile): a few random rows are
		-- cheaper fetched one by one than found by scanning every profile.
		IF NOT dist THEN
			PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
			UPDATE segmentation.profiles p SET segments = m.new_segments FROM _moved m
			WHERE p.ctid = m.row_id AND m.new_segments IS NOT NULL;
			PERFORM set_config('enable_hashjoin', saved_hashjoin, true), set_config('enable_mergejoin', saved_mergejoin, true);
		ELSE
			-- (a row of a shard is found by its key: Citus refuses ctid)
			UPDATE segmentation.profiles p SET segments = m.new_segments FROM _moved m
			WHERE p.user_id = m.user_id AND m.new_segments IS NOT NULL;
		END IF;
		-- users found opted out by this run leave every scheme without a move
		-- in the feed, and their history goes (opt_out() does the same)
		WITH o AS (UPDATE segmentation.profiles p SET segments = '{}' WHERE p.opted_out AND p.segments <> '{}' RETURNING p.user_id)
		DELETE FROM segmentation.transitions t USING o WHERE t.user_id = o.user_id;
		DELETE FROM _gone g WHERE g.segments = '{}';

		-- the moves, in every scheme a user entered or left (users gone leave
		-- all of theirs); only refresh writes transitions, one at a time:
		-- this run's ids are the ones above the largest before it
		INSERT INTO _moved (user_id, scheme, from_segment, from_entered_at)
		SELECT g.user_id, e.key, e.value ->> 0, (e.value ->> 1)::timestamptz FROM _gone g, jsonb_each(g.segments) e;
		SELECT coalesce(max(t.id), 0) INTO last_id FROM segmentation.transitions t;
		INSERT INTO segmentation.transitions (run_id, scheme, user_id, from_segment, from_entered_at, to_segment, at)
		SELECT run, m.scheme, m.user_id, m.from_segment, m.from_entered_at, m.to_segment, as_of
		FROM _moved m ORDER BY m.user_id, m.scheme COLLATE "C";
		GET DIAGNOSTICS n_moves = ROW_COUNT;
		SELECT min(t.id), max(t.id) INTO first_id, last_id FROM segmentation.transitions t WHERE t.id > last_id;
		-- moves older than history_retention go (as read above: the delta
		-- listed the users whose moves go)
		IF retention IS NOT NULL THEN
			DELETE FROM segmentation.transitions t WHERE t.at < as_of - retention;
		END IF;
		IF n_moves > 0 THEN
			PERFORM pg_notify('segmentation_transitions',
				json_build_object('run_id', run, 'transitions', n_moves, 'first_id', first_id, 'last_id', last_id)::text);
		END IF;
		DELETE FROM segmentation._batch;
		DROP TABLE _gone, _moved, _attr_changed;
		IF funnel_batch THEN
			DELETE FROM segmentation._funnel_batch;
		END IF;
		-- funnel_conversion, from the chains and the new history
		PERFORM segmentation._materialize_funnels();
		-- the counts of retention_matrix, lifecycle and stickiness, as of now
		IF analysis_delta THEN
			PERFORM segmentation._analysis_delta_end(as_of);
		ELSE
			PERFORM segmentation._materialize_analyses();
		END IF;
		-- the experiment readout, from the new history and events
		warnings := segmentation._materialize_experiments(NULL);
		-- (the trees' members by OID, which a restore does not carry: a
		-- table dropped from a tree later makes the next refresh full)
		INSERT INTO segmentation._capture_members (source_id, rel)
		SELECT s.id, t.rel FROM segmentation.sources s, segmentation._source_tree(s.source) t
		ON CONFLICT DO NOTHING;
		-- The next run is full: when a shard could not have capture's
		-- TRUNCATE trigger; when this one turned full after it started (a
		-- track, a define_feature or a TRUNCATE committed meanwhile: it put
		-- none there); when a source was tracked after it read them (its
		-- full-refresh marker is consumed by this run's, which did not
		-- read its table)
		IF no_truncate_triggers IS NOT NULL
		   OR (do_full AND NOT full_at_start AND EXISTS (SELECT 1 FROM segmentation._citus_queues()))
		   OR (do_full AND EXISTS (SELECT 1 FROM segmentation.sources s WHERE NOT s.id = ANY (coalesce(sources_read, '{}')))) THEN
			INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
		END IF;
		IF no_truncate_triggers IS NOT NULL THEN
			warnings := concat_ws(E'\n', warnings, format(
				'capture''s TRUNCATE trigger is not on every shard of %s yet (this refresh ran in a transaction that had '
				'written to the table or changed it, or a shard was busy): the next refresh is full and puts it there',
				no_truncate_triggers));
		END IF;

		INSERT INTO segmentation.refresh_runs (id, started_at, finished_at, mode, as_of, events_read, users_changed, transitions, warnings)
		VALUES (run, started, clock_timestamp(), run_mode, as_of, n_events, n_users, n_moves, warnings);
		PERFORM segmentation._refresh_timeout_end();
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- The block's changes are rolled back, and so will be the caller's
		-- transaction: the previous state stays.  The run's row is written
		-- by a background worker, in a transaction of its own, and the
		-- error goes to the caller (pg_cron logs the job as failed).
		GET STACKED DIAGNOSTICS e_message = MESSAGE_TEXT, e_schema = SCHEMA_NAME, e_table = TABLE_NAME,
			e_context = PG_EXCEPTION_CONTEXT, e_state = RETURNED_SQLSTATE;
		PERFORM segmentation._refresh_timeout_end();
		-- The rules of a scheme that reads user attributes failed: the
		-- message may quote an attribute's value (a failed cast), and the
		-- user which value failed (a division by zero) tells it too, to
		-- every admin reading refresh_runs and to whoever runs refresh, who
		-- may not read that attribute (review 20, N2): the scheme and the
		-- SQLSTATE only.
		sch := substring(e_context FROM '(?n)^segment rules of scheme "(.*)" for user .*$');
		scrubbed := sch IS NOT NULL AND segmentation._scheme_reads_attributes(sch);
		IF scrubbed THEN
			e_message := format('the segment rules of scheme "%s" failed on a user''s attributes (SQLSTATE %s)', sch, e_state);
		END IF;
		BEGIN
			-- where it came from: the table an error names, the user whose
			-- segment rules failed (src/predicate.c writes that context line;
			-- a bad event never fails a refresh: it goes to rejected_events)
			logged := segmentation._log_failed_run(run, started, run_mode, as_of, e_message,
				CASE WHEN e_table <> '' THEN format('%I.%I', e_schema, e_table) END,
				CASE WHEN NOT scrubbed THEN substring(e_context FROM '(?n)^segment rules of scheme ".*" for user (.*)$') END, NULL);
		EXCEPTION WHEN OTHERS THEN
			logged := false;
		END;
		IF NOT logged THEN
			RAISE WARNING 'segmentation.refresh() failed and its refresh_runs row is missing: %', e_message
				USING HINT = 'A background worker writes that row: check max_worker_processes and the server log.';
		END IF;
		IF scrubbed THEN
			RAISE EXCEPTION '%', e_message USING ERRCODE = e_state,
				DETAIL = 'Its message and the user are not shown: the scheme reads user attributes, which the roles that read refresh_runs may not be allowed to read.',
				HINT = 'An admin that may read the attributes can find the user with a query of the attribute table; write the predicate so that it holds for every value (nullif, CASE).';
		END IF;
		RAISE;
	END;
	RETURN run;
END $$;
COMMENT ON FUNCTION refresh(boolean, timestamptz) IS 'Bring profiles, scores, memberships, history and transitions up to date: incremental (new events only) unless full; as_of is the time scores and moves are computed for, never earlier than the last one; a failure raises its error after logging it in refresh_runs';

-- ===================================================================
-- Operations: the failed run's row, the statement timeout, the status
-- ===================================================================

CREATE FUNCTION _log_failed_run(run bigint, started_at timestamptz, mode text, as_of timestamptz, error text,
	error_source text, error_user_id text, error_event_time timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'log_failed_run' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION _log_failed_run(bigint, timestamptz, text, timestamptz, text, text, text, timestamptz) IS 'Internal: writes the refresh_runs row of a failed refresh from a background worker, in a transaction of its own (it stays when the caller''s is rolled back); false when it could not';
CREATE FUNCTION _refresh_timeout_begin(milliseconds bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'refresh_timeout_begin' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION _refresh_timeout_begin(bigint) IS 'Internal: arms the statement timeout for the running refresh (0: none), unless an earlier one is due';
CREATE FUNCTION _refresh_timeout_end() RETURNS void
	AS 'MODULE_PATHNAME', 'refresh_timeout_end' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION _refresh_timeout_end() IS 'Internal: puts the statement timeout back as it was before _refresh_timeout_begin';

CREATE FUNCTION _refresh_status(OUT last_success_at timestamptz, OUT last_as_of timestamptz, OUT last_failure_at timestamptz,
	OUT last_error text, OUT pending_events bigint, OUT rejected_events bigint, OUT schedule text,
	OUT seconds_since_success double precision, OUT warnings text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	q record;
BEGIN
	PERFORM segmentation._coordinator_only('the refresh runs');
	PERFORM segmentation._clean_citus_settings();  -- (it sums the queue's shards on the workers)
	SELECT r.finished_at, r.as_of, r.warnings INTO last_success_at, last_as_of, warnings FROM segmentation.refresh_runs r
	WHERE r.error IS NULL AND r.finished_at IS NOT NULL ORDER BY r.id DESC LIMIT 1;
	SELECT r.finished_at INTO last_failure_at FROM segmentation.refresh_runs r WHERE r.error IS NOT NULL ORDER BY r.id DESC LIMIT 1;
	SELECT r.error INTO last_error FROM segmentation.refresh_runs r ORDER BY r.id DESC LIMIT 1;
	pending_events := 0;
	IF to_regclass('segmentation.pending_batches') IS NOT NULL THEN
		SELECT coalesce(sum(b.events), 0) INTO pending_events FROM segmentation.pending_batches b;
	END IF;
	-- (and on the shards of tracked tables Citus distributes)
	FOR q IN SELECT x.queue FROM segmentation._citus_queues() x LOOP
		EXECUTE pg_catalog.format('SELECT $1 + coalesce(sum(b.events), 0) FROM %s b WHERE b.batch IS NOT NULL', q.queue)
			INTO pending_events USING pending_events;
	END LOOP;
	SELECT count(*) INTO rejected_events FROM segmentation.rejected_events;
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		EXECUTE 'SELECT j.schedule FROM cron.job j WHERE j.jobname = $1 AND j.database = current_database() ORDER BY j.jobid LIMIT 1'
			INTO schedule USING 'segmentation-refresh';
	END IF;
	seconds_since_success := extract(epoch FROM clock_timestamp() - last_success_at)::double precision;
END $$;
COMMENT ON FUNCTION _refresh_status() IS 'Internal: the one row of refresh_status';

CREATE VIEW refresh_status AS SELECT * FROM _refresh_status();
COMMENT ON VIEW refresh_status IS 'Is refresh keeping up? One row: the last success and failure, what waits and what was rejected, the pg_cron schedule';
COMMENT ON COLUMN refresh_status.last_success_at IS 'When the last successful refresh finished (NULL: none yet)';
COMMENT ON COLUMN refresh_status.last_as_of IS 'as_of of the last successful refresh: what the scores and segments are as of';
COMMENT ON COLUMN refresh_status.last_failure_at IS 'When the last failed refresh ended (NULL: none)';
COMMENT ON COLUMN refresh_status.last_error IS 'Error of the last refresh, when it failed; NULL when it succeeded';
COMMENT ON COLUMN refresh_status.pending_events IS 'Events captured and waiting for the next refresh';
COMMENT ON COLUMN refresh_status.rejected_events IS 'Rows in rejected_events';
COMMENT ON COLUMN refresh_status.schedule IS 'The pg_cron schedule of job segmentation-refresh, or NULL';
COMMENT ON COLUMN refresh_status.warnings IS 'What the last successful refresh left out, one a line (an experiment whose readout could not be computed, and why); NULL: nothing';
COMMENT ON COLUMN refresh_status.seconds_since_success IS 'Seconds since the last successful refresh finished';
