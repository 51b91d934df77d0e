-- Privacy, enforced by the database (DESIGN section 6; doc/privacy.md):
-- the pseudonym key and keyed hash, forgotten and opted-out users, the audit
-- of both, small-cell suppression, and forget_user, opt_out, opt_in and
-- segment_members.  The state (profiles, ...) is created later, by the first
-- track(): the functions below reach it with plpgsql, at run time.

-- ===================================================================
-- The key and the keyed hash (src/privacy.c)
-- ===================================================================

CREATE FUNCTION _new_pseudonym_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'pseudonym_new_key' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION _new_pseudonym_key() IS 'Internal: 32 random bytes from the server''s cryptographic source (pg_strong_random)';
CREATE FUNCTION _id_bytes(user_id text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pseudonym_id_bytes' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _id_bytes(text) IS 'Internal: the bytes a user id is hashed as: UTF-8, or (what has no UTF-8 form in the database''s encoding) its own bytes after a 0xFF byte, which UTF-8 never holds';
CREATE FUNCTION _hmac_sha256(key bytea, message bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pseudonym_hmac_sha256' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _hmac_sha256(bytea, bytea) IS 'Internal: HMAC-SHA-256 of message with key (RFC 2104), 32 bytes';

-- The key: made at install, readable by the extension's owner only (no
-- grant; every function that uses it runs as the owner).  Dumped as
-- extension config, so a restored database keeps its pseudonyms and its
-- forgotten users: backups hold the key (doc/privacy.md).  A restore runs
-- CREATE EXTENSION, which makes a new key, then restores the dumped one,
-- which is older: the oldest key is the one in force.
CREATE TABLE _pseudonym_key (
	key bytea NOT NULL CHECK (octet_length(key) = 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO _pseudonym_key (key) VALUES (_new_pseudonym_key());
SELECT pg_catalog.pg_extension_config_dump('_pseudonym_key', '');
COMMENT ON TABLE _pseudonym_key IS 'Internal: the key of pseudonyms and of the hashes of forgotten and opted-out users; no role but the extension''s owner reads it (the oldest row is in force)';

-- The keyed hash of a user id, as text in the canonical form of the
-- tracked user id type (_canonical_user_id), UTF-8, with the key in force
-- (in C, src/privacy.c: refresh calls it once per user; an error on a
-- Citus worker, whose copy of the key is another, src/node.c).
CREATE FUNCTION _pseudonym(user_id text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'pseudonym_of' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _pseudonym(text) IS 'Internal: HMAC-SHA-256 of a user id (its UTF-8 bytes, _id_bytes) with the extension''s key';

-- ===================================================================
-- Forgotten and opted-out users, and the audit of both
-- ===================================================================

-- Keyed hashes only, never the ids (a list of ids would be personal data of
-- its own), and no time: nothing links a row here to an audit row.
CREATE TABLE forgotten_users (id_hash bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32));
SELECT pg_catalog.pg_extension_config_dump('forgotten_users', '');
COMMENT ON TABLE forgotten_users IS 'Keyed hashes (HMAC-SHA-256) of the users forget_user() erased: capture and refresh skip their events, so no refresh brings them back';
COMMENT ON COLUMN forgotten_users.id_hash IS 'HMAC-SHA-256 of the user id with the extension''s key';
CREATE TABLE opt_outs (id_hash bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32));
SELECT pg_catalog.pg_extension_config_dump('opt_outs', '');
COMMENT ON TABLE opt_outs IS 'Keyed hashes (HMAC-SHA-256) of the users who opted out (opt_out()): in no segment, export, transition or readout until opt_in()';
COMMENT ON COLUMN opt_outs.id_hash IS 'HMAC-SHA-256 of the user id with the extension''s key';

CREATE TABLE privacy_audit (
	id bigserial PRIMARY KEY,
	action text NOT NULL CHECK (action IN ('forget_user', 'opt_out', 'opt_in')),
	at timestamptz NOT NULL DEFAULT now(),
	session_role name NOT NULL DEFAULT session_user,
	active_role text NOT NULL DEFAULT pg_catalog.current_setting('role')
);
SELECT pg_catalog.pg_extension_config_dump('privacy_audit', '');
SELECT pg_catalog.pg_extension_config_dump('privacy_audit_id_seq', '');
COMMENT ON SEQUENCE privacy_audit_id_seq IS 'Ids of privacy_audit rows';
COMMENT ON TABLE privacy_audit IS 'One row per forget_user, opt_out and opt_in: when and by whom, never which user';
COMMENT ON COLUMN privacy_audit.action IS 'forget_user, opt_out or opt_in';
COMMENT ON COLUMN privacy_audit.at IS 'When (the transaction''s start)';
COMMENT ON COLUMN privacy_audit.session_role IS 'The session (login) role that called it';
COMMENT ON COLUMN privacy_audit.active_role IS 'The role set with SET ROLE in that session, or none';

-- (in C too, src/privacy.c: a binary search of the table's hashes, read once
-- per call and snapshot when they are 1,024 at most, else a probe of its
-- primary key)
CREATE FUNCTION _is_forgotten(user_id text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pseudonym_forgotten' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION _is_forgotten(text) IS 'Internal: whether forget_user() erased this user (false for NULL)';
CREATE FUNCTION _is_opted_out(user_id text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pseudonym_opted_out' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION _is_opted_out(text) IS 'Internal: whether this user opted out (false for NULL)';

-- On Citus, refresh tests its users' hashes on the workers, in a join with
-- copies of the key in force and of both lists that every node holds
-- (reference tables made with the state, sql/50-state.sql: decision 2 of
-- doc/citus-distribution.md), so that no id goes to the coordinator to be
-- hashed.  forget_user, opt_out and opt_in write the copies as they write
-- the lists, in their transaction; refresh calls this first, which makes
-- them equal again where they are not (a restore, a hand edit by the
-- owner): the key compared by its hash of no bytes, and written by INSERT
-- ... SELECT, which Citus sends to the nodes by COPY, so it is never in a
-- query's text; a list by its count and the sum of a 64-bit hash of each
-- of its hashes.  (What it reads is one placement of each copy, the
-- coordinator's when it holds one: another node's that changed, by that
-- node's superuser, is not seen; one that lost the key fails refresh's
-- statements there.)
CREATE FUNCTION _sync_on_nodes() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	copy_name name;
	list_name name;
	differ boolean;
	n int;
BEGIN
	-- (reference tables, exactly: of a Citus table of another kind, Citus
	-- would read the key on one node and send it to the others as a file)
	EXECUTE $q$SELECT count(*) FROM pg_catalog.pg_dist_partition p
	           WHERE p.logicalrelid IN (to_regclass('segmentation._key_on_nodes'), to_regclass('segmentation._forgotten_on_nodes'),
	                                    to_regclass('segmentation._opt_outs_on_nodes'))
	             AND p.partmethod = 'n' AND p.repmodel = 't'$q$ INTO n;
	IF n <> 3 THEN
		RAISE EXCEPTION 'segmentation._key_on_nodes, _forgotten_on_nodes and _opt_outs_on_nodes are not Citus reference tables'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'With the state distributed, refresh tests the keyed hashes of its users on the workers, against those copies.',
			      HINT = 'After a restore, call create_reference_table() on each (doc/citus.md, "Backup and restore").';
	END IF;
	IF (SELECT array_agg(segmentation._hmac_sha256(k.key, segmentation._id_bytes(''))) FROM segmentation._key_on_nodes k)
	   IS DISTINCT FROM ARRAY[segmentation._pseudonym('')] THEN
		DELETE FROM segmentation._key_on_nodes;
		-- (the key in force, as src/privacy.c takes it: the oldest, then the least)
		INSERT INTO segmentation._key_on_nodes (key)
		SELECT k.key FROM segmentation._pseudonym_key k ORDER BY k.created_at, k.key LIMIT 1;
	END IF;
	FOR copy_name, list_name IN VALUES ('_forgotten_on_nodes', 'forgotten_users'), ('_opt_outs_on_nodes', 'opt_outs') LOOP
		EXECUTE format($q$SELECT (SELECT (count(*), sum(hashtextextended(encode(h.id_hash, 'hex'), 0)::numeric))
		                          FROM segmentation.%1$I h)
		                  IS DISTINCT FROM
		                  (SELECT (count(*), sum(hashtextextended(encode(h.id_hash, 'hex'), 0)::numeric))
		                   FROM segmentation.%2$I h)$q$, copy_name, list_name) INTO differ;
		IF differ THEN
			EXECUTE format('DELETE FROM segmentation.%I', copy_name);
			EXECUTE format('INSERT INTO segmentation.%I (id_hash) SELECT h.id_hash FROM segmentation.%I h', copy_name, list_name);
		END IF;
	END LOOP;
END $$;
COMMENT ON FUNCTION _sync_on_nodes() IS 'Internal (Citus): makes the copies on every node of the key in force and of forgotten_users and opt_outs equal to them where they differ';

-- The pieces of dynamic SQL with which a statement over every user (refresh,
-- the experiment readout) leaves the forgotten and opted-out users out: the
-- key in force as a scalar subquery (no key: no bytes, which the HMAC
-- refuses, never a match of nothing), and the relations of the two lists'
-- keyed hashes.  On Citus (dist), the copies every node holds, which
-- _sync_on_nodes makes equal first, so that each shard's users are tested
-- where they are; else the key as src/privacy.c takes it (the oldest, then
-- the least) and the lists themselves.  Constants only.
CREATE FUNCTION _hidden_users_sql(dist boolean, OUT hash_key text, OUT forgotten text, OUT opted_out text)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT CASE WHEN dist THEN 'coalesce((SELECT k.key FROM segmentation._key_on_nodes k), ''''::bytea)'
            ELSE 'coalesce((SELECT k.key FROM segmentation._pseudonym_key k ORDER BY k.created_at, k.key LIMIT 1), ''''::bytea)' END,
       CASE WHEN dist THEN 'segmentation._forgotten_on_nodes' ELSE 'segmentation.forgotten_users' END,
       CASE WHEN dist THEN 'segmentation._opt_outs_on_nodes' ELSE 'segmentation.opt_outs' END
$$;
COMMENT ON FUNCTION _hidden_users_sql(boolean) IS 'Internal: the key in force (a scalar subquery) and the relations of the forgotten and opted-out users'' keyed hashes, for refresh''s and the readout''s statements; on Citus (true) the copies on every node';

-- A user id given as text, in the canonical text form of the tracked user
-- id type (bigint '007' is '7', a uuid is lower case): what is hashed, and
-- what is compared with user_id::text.  An error when it is not one.
CREATE FUNCTION _canonical_user_id(user_id text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t regtype;
	canonical text;
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'argument "user_id" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = to_regclass('segmentation.profiles') AND a.attname = 'user_id';
	IF t IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'User ids are of the tracked tables'' user id type: call segmentation.track(...) first.';
	END IF;
	-- (built-in types only, _column_types('user'): their input functions are pg_catalog's)
	IF NOT t = ANY (segmentation._column_types('user')) THEN
		RAISE EXCEPTION 'user id type % is not supported', t USING ERRCODE = 'datatype_mismatch';
	END IF;
	BEGIN
		EXECUTE format('SELECT $1::%s::pg_catalog.text', t) INTO canonical USING user_id;
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'argument "user_id" is not a valid user id of type %', t USING ERRCODE = 'invalid_text_representation',
			DETAIL = 'The tracked tables'' user ids are of that type.';
	END;
	RETURN canonical;
END $$;
COMMENT ON FUNCTION _canonical_user_id(text) IS 'Internal: a user id in the canonical text form of the tracked user id type, or an error';

-- The privacy functions change what refresh computes: one at a time with
-- refresh, by its lock (a refresh that read the user's events cannot write
-- them back after they were erased).
CREATE FUNCTION _take_refresh_lock(what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM set_config('lock_timeout', segmentation._setting_ms('refresh_lock_timeout')::text, true);
	BEGIN
		PERFORM FROM segmentation._refresh_lock FOR UPDATE;
	EXCEPTION WHEN lock_not_available THEN
		RAISE EXCEPTION 'a refresh has run for longer than refresh_lock_timeout (%): % waits for it', segmentation._setting('refresh_lock_timeout'), what
			USING ERRCODE = 'lock_not_available', HINT = 'Try again when it is done: refresh_status shows the runs.';
	END;
END $$;
COMMENT ON FUNCTION _take_refresh_lock(text) IS 'Internal: waits (refresh_lock_timeout at most) for the running refresh, and keeps refreshes out until the end of the transaction';

-- ===================================================================
-- forget_user
-- ===================================================================

-- Everything forget_user does in the extension's own tables, as the
-- extension's owner: the id's hash joins forgotten_users, every row that
-- holds the id goes, and the experiment readout is computed again without
-- the user.  Returns the id in canonical form.
CREATE FUNCTION _forget_user(user_id text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	canonical text := segmentation._canonical_user_id(user_id);
	h bytea;
	t regtype;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._take_refresh_lock('forget_user');
	h := segmentation._pseudonym(canonical);
	INSERT INTO segmentation.forgotten_users (id_hash) VALUES (h) ON CONFLICT DO NOTHING;
	-- (and their copies on every node, with the state distributed
	-- (_sync_on_nodes): from the lists' own rows, which Citus sends to the
	-- nodes by COPY, never as a value in a command's text, where a worker's
	-- log would pair the hash with the id the user's rows are deleted by)
	IF to_regclass('segmentation._forgotten_on_nodes') IS NOT NULL THEN
		EXECUTE 'INSERT INTO segmentation._forgotten_on_nodes (id_hash)
		         SELECT f.id_hash FROM segmentation.forgotten_users f WHERE f.id_hash = $1 ON CONFLICT DO NOTHING' USING h;
		EXECUTE 'DELETE FROM segmentation._opt_outs_on_nodes c
		         WHERE c.id_hash IN (SELECT o.id_hash FROM segmentation.opt_outs o WHERE o.id_hash = $1)' USING h;
	END IF;
	DELETE FROM segmentation.opt_outs o WHERE o.id_hash = h;
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	-- every table of the state that holds user ids (the views follow)
	EXECUTE format('DELETE FROM segmentation.profiles x WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation.transitions x WHERE x.user_id = $1::%s', t) USING canonical;
	-- (capture's queue packs events: each batch is rewritten without the
	-- user's; what capture queued on the shards of a table Citus
	-- distributes is moved into it first)
	PERFORM segmentation._drain_citus_queues();
	WITH w AS (SELECT x.ctid, segmentation._queued_without(x.batch, canonical) AS batch FROM segmentation.pending_batches x),
	     d AS (DELETE FROM segmentation.pending_batches x USING w WHERE x.ctid = w.ctid AND w.batch IS NULL)
	UPDATE segmentation.pending_batches x
	SET batch = w.batch, events = (SELECT count(*) FROM segmentation._queued_events(w.batch))
	FROM w WHERE x.ctid = w.ctid AND w.batch IS NOT NULL AND w.batch IS DISTINCT FROM x.batch;
	EXECUTE format('DELETE FROM segmentation.dirty_users x WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation._funnel_state x WHERE x.user_id = $1::%s', t) USING canonical;
	DELETE FROM segmentation.rejected_events x WHERE x.user_id = canonical;
	-- the user attributes refresh copied (sql/65-attributes.sql); the
	-- attribute table's row stays, and refresh skips it from now on
	IF to_regclass('segmentation.user_attributes') IS NOT NULL THEN
		EXECUTE format('DELETE FROM segmentation.user_attributes x WHERE x.user_id = $1::%s', t) USING canonical;
		EXECUTE format('DELETE FROM segmentation.attribute_queue x WHERE x.user_id = $1::%s', t) USING canonical;
	END IF;
	DELETE FROM segmentation.rejected_attributes x WHERE x.user_id = canonical;
	-- a failed run's row may name the user, or quote it in its error text
	UPDATE segmentation.refresh_runs r SET error_user_id = NULL,
		error = CASE WHEN canonical <> '' AND strpos(r.error, canonical) > 0 THEN '(error text removed by forget_user)' ELSE r.error END
	WHERE r.error_user_id = canonical OR (canonical <> '' AND strpos(r.error, canonical) > 0);
	INSERT INTO segmentation.privacy_audit (action) VALUES ('forget_user');
	-- funnel_conversion's counts and the analyses', without the user
	PERFORM segmentation._materialize_funnels();
	PERFORM segmentation._materialize_analyses();
	-- The readout's aggregates are computed again without the user (it skips
	-- forgotten users).  A table's owner must not be able to block an
	-- erasure by breaking their table (which fails the readout): then the
	-- readout is emptied instead, until the next refresh computes it.
	BEGIN
		PERFORM segmentation._materialize_experiments(NULL);
	EXCEPTION WHEN OTHERS THEN
		DELETE FROM segmentation._experiment_lift_rows;
		DELETE FROM segmentation._experiment_lift_combos;
		RAISE WARNING 'the experiment readout could not be computed again without the forgotten user: it is empty until the next refresh'
			USING DETAIL = SQLERRM;
	END;
	RETURN canonical;
END $$;
COMMENT ON FUNCTION _forget_user(text) IS 'Internal: erases a user from the extension''s tables and keeps the keyed hash of the id so that no refresh brings the user back';

-- Before forget_user deletes a user's rows from a tracked table, as its
-- caller: the table is re-validated and locked (_check_source, which locks
-- the table and its partitions and children in SHARE UPDATE EXCLUSIVE mode
-- until the end of the transaction, so no trigger, rule or policy can be
-- added before the DELETE), and then refused if deleting from it would run
-- anything its owner controls: a trigger that fires on DELETE other than the
-- extension's capture trigger (internal ones included: an ON DELETE action
-- of a foreign key runs another table's triggers), a rule, or row-level
-- security (whose policies would also hide rows from the delete).
CREATE FUNCTION _check_deletable(source_id int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	bad text;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	s := segmentation._check_source(source_id, true);
	WITH RECURSIVE tree(oid) AS (
		SELECT s.source::oid
		UNION
		SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid)
	SELECT format('%s %s', c.oid::regclass,
	              CASE WHEN c.relrowsecurity THEN 'has row-level security enabled'
	                   WHEN EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid) THEN 'has a rule'
	                   ELSE 'has a trigger that fires on DELETE' END)
	INTO bad
	FROM tree t JOIN pg_class c ON c.oid = t.oid
	WHERE c.relrowsecurity
	   OR EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid)
	   OR EXISTS (SELECT 1 FROM pg_trigger g
	              WHERE g.tgrelid = c.oid AND (g.tgtype & 8) <> 0
	                AND NOT ((g.tgname, g.tgtype) IN (('segmentation_capture_delete', 8), ('segmentation_capture_replica', 29))
	                         AND g.tgfoid = to_regprocedure('segmentation._capture()')))
	ORDER BY 1 LIMIT 1;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'forget_user will not delete from %: %', s.source, bad USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'Deleting would run code of the table''s owner with the rights of the caller of forget_user.',
			HINT = 'Delete the user''s rows yourself, as a role that trusts the table''s owner, or call forget_user without delete_events.';
	END IF;
END $$;
COMMENT ON FUNCTION _check_deletable(int) IS 'Internal: locks a tracked table and refuses it when deleting from it would run its owner''s triggers, rules or policies';

-- SECURITY INVOKER: the deletes in the tracked tables run as the caller,
-- with the caller's privileges (the extension never deletes from another
-- role's table with its owner's rights); the rest is _forget_user's.
CREATE FUNCTION forget_user(user_id text, delete_events boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	canonical text;
	s record;
	deleted bigint := 0;
BEGIN
	IF delete_events IS NULL THEN
		RAISE EXCEPTION 'argument "delete_events" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- Citus: _forget_user empties the queue on the shards of a tracked
	-- distributed table as the extension's owner, and the caller's DELETE
	-- would then write colocated shards as another role in the same
	-- transaction, which Citus refuses with an error of its own.  Said
	-- before anything is erased, with the way that works.
	IF delete_events AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
	                                 WHERE p.oid = 'segmentation._forget_user(text)'::pg_catalog.regprocedure
	                                   AND pg_catalog.pg_get_userbyid(p.proowner) OPERATOR(pg_catalog.=) current_user) THEN
		SELECT x.source INTO s FROM segmentation._citus_queues() x LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'forget_user cannot delete from %, a table Citus distributes, as a role other than the extension''s owner', s.source
				USING ERRCODE = 'feature_not_supported',
				DETAIL = 'Citus refuses a transaction that writes colocated shards as two roles: the extension''s queue as its owner, the table as the caller.',
				HINT = 'Call forget_user(user_id) without delete_events, then delete the user''s rows in a transaction of their own (refresh skips a forgotten user''s events meanwhile).';
		END IF;
	END IF;
	canonical := segmentation._forget_user(user_id);
	IF delete_events THEN
		-- every table checked and locked before any row goes
		FOR s IN SELECT x.id, x.source FROM segmentation.sources x ORDER BY x.id LOOP
			IF NOT has_table_privilege(s.source, 'DELETE') THEN
				RAISE EXCEPTION 'permission denied to delete from %', s.source USING ERRCODE = 'insufficient_privilege',
					HINT = 'forget_user deletes from the tracked tables as its caller: grant DELETE on them, or call it without delete_events.';
			END IF;
			PERFORM segmentation._check_deletable(s.id);
		END LOOP;
		-- the table is named by text: planned under the guard, so that a name
		-- that names another table now (a schema renamed while this waited
		-- for the owner's lock) deletes nothing and runs nothing of theirs
		FOR s IN SELECT x.source, x.user_column, x.user_type FROM segmentation.sources x ORDER BY x.id LOOP
			deleted := deleted + segmentation._execute_guarded(
				format('DELETE FROM %s t WHERE t.%I OPERATOR(pg_catalog.=) $1::%s', s.source, s.user_column, s.user_type),
				ARRAY[s.source::oid], canonical);
		END LOOP;
	END IF;
	RETURN deleted;
END $$;
COMMENT ON FUNCTION forget_user(text, boolean) IS 'Erase a user: every row of the extension that holds the id goes, in this transaction, and later refreshes skip the user''s events (a keyed hash of the id is kept, never the id); with delete_events, the user''s rows in the tracked tables are deleted too, as the caller. Returns the tracked rows deleted';

-- ===================================================================
-- opt_out, opt_in
-- ===================================================================

-- Opting out takes the user out of every segment and the transition feed at
-- once (their stays and moves go), and refresh keeps them out: their
-- behavior stays in profiles (opted_out), so opting in restores them from it.
CREATE FUNCTION opt_out(user_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	canonical text := segmentation._canonical_user_id(user_id);
	h bytea;
	t regtype;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._take_refresh_lock('opt_out');
	h := segmentation._pseudonym(canonical);
	-- (a forgotten user is opted out like any other id: saying so would tell
	-- who was forgotten)
	INSERT INTO segmentation.opt_outs (id_hash) VALUES (h) ON CONFLICT DO NOTHING;
	-- (and its copy on every node, as forget_user writes it)
	IF to_regclass('segmentation._opt_outs_on_nodes') IS NOT NULL THEN
		EXECUTE 'INSERT INTO segmentation._opt_outs_on_nodes (id_hash)
		         SELECT o.id_hash FROM segmentation.opt_outs o WHERE o.id_hash = $1 ON CONFLICT DO NOTHING' USING h;
	END IF;
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	EXECUTE format('UPDATE segmentation.profiles x SET opted_out = true, segments = ''{}'' WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation.transitions x WHERE x.user_id = $1::%s', t) USING canonical;
	-- out of funnel_conversion and the analyses now (their funnel state
	-- stays, as their behavior)
	PERFORM segmentation._materialize_funnels();
	PERFORM segmentation._materialize_analyses();
	INSERT INTO segmentation.privacy_audit (action) VALUES ('opt_out');
END $$;
COMMENT ON FUNCTION opt_out(text) IS 'Opt a user out: in no segment, export, transition feed or experiment readout (from the next refresh) until opt_in(); their behavior is kept, the id is stored only as a keyed hash';

CREATE FUNCTION opt_in(user_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	canonical text := segmentation._canonical_user_id(user_id);
	h bytea;
	t regtype;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._take_refresh_lock('opt_in');
	h := segmentation._pseudonym(canonical);
	-- (its copy on every node first, as forget_user deletes it)
	IF to_regclass('segmentation._opt_outs_on_nodes') IS NOT NULL THEN
		EXECUTE 'DELETE FROM segmentation._opt_outs_on_nodes c
		         WHERE c.id_hash IN (SELECT o.id_hash FROM segmentation.opt_outs o WHERE o.id_hash = $1)' USING h;
	END IF;
	DELETE FROM segmentation.opt_outs o WHERE o.id_hash = h;
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	-- the next refresh assigns them again (an empty segments value makes it run their rules)
	EXECUTE format('UPDATE segmentation.profiles x SET opted_out = false WHERE x.user_id = $1::%s', t) USING canonical;
	PERFORM segmentation._materialize_funnels();
	PERFORM segmentation._materialize_analyses();
	INSERT INTO segmentation.privacy_audit (action) VALUES ('opt_in');
END $$;
COMMENT ON FUNCTION opt_in(text) IS 'Undo opt_out(): the next refresh segments the user again from their behavior';

-- ===================================================================
-- segment_members
-- ===================================================================

CREATE FUNCTION _check_members_arguments(scheme text, segment text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF scheme IS NULL OR segment IS NULL THEN
		RAISE EXCEPTION 'arguments "scheme" and "segment" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM segmentation.segments s WHERE s.scheme = _check_members_arguments.scheme) THEN
		RAISE EXCEPTION 'argument "scheme": there is no scheme %', quote_literal(scheme) USING ERRCODE = 'undefined_object';
	END IF;
	IF segment <> 'unsegmented' AND NOT EXISTS (SELECT 1 FROM segmentation.segments s
	                                            WHERE s.scheme = _check_members_arguments.scheme AND s.name = segment) THEN
		RAISE EXCEPTION 'argument "segment": scheme % has no segment %', quote_literal(scheme), quote_literal(segment)
			USING ERRCODE = 'undefined_object';
	END IF;
END $$;
COMMENT ON FUNCTION _check_members_arguments(text, text) IS 'Internal: refuses an unknown scheme or segment';

-- The members, pseudonymized: for whoever may call segment_members.
CREATE FUNCTION _members_pseudonymized(scheme text, segment text) RETURNS TABLE (member text, entered_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ids text[];
	entered timestamptz[];
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._check_members_arguments(scheme, segment);
	IF to_regclass('segmentation.profiles') IS NULL THEN
		RETURN;
	END IF;
	-- $1 scheme, $2 segment; the members first, then their hashes, in a
	-- statement of its own: with the key, where the key is (on Citus, the
	-- coordinator; a worker's copy of the extension has none, and Citus
	-- runs a whole statement over a table of one shard on its worker)
	EXECUTE $q$
		SELECT array_agg(p.user_id::text), array_agg((p.segments -> $1 ->> 1)::timestamptz)
		FROM segmentation.profiles p
		WHERE NOT p.opted_out AND p.segments -> $1 ->> 0 = $2
	$q$ INTO ids, entered USING scheme, segment;
	RETURN QUERY
		SELECT pg_catalog.encode(segmentation._pseudonym(m.user_id), 'hex'), m.entered_at
		FROM unnest(ids, entered) m(user_id, entered_at)
		ORDER BY 1;
END $$;
COMMENT ON FUNCTION _members_pseudonymized(text, text) IS 'Internal: the current members of a segment as keyed hashes (HMAC-SHA-256, hex) of their ids';

-- The members with their ids: granted to segmentation_analyst and
-- segmentation_admin only, and checked by PostgreSQL against the role that
-- calls segment_members (an invoker function).
CREATE FUNCTION _members_raw(scheme text, segment text) RETURNS TABLE (member text, entered_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._check_members_arguments(scheme, segment);
	IF to_regclass('segmentation.profiles') IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE $q$
		SELECT p.user_id::text, (p.segments -> $1 ->> 1)::timestamptz
		FROM segmentation.profiles p
		WHERE NOT p.opted_out AND p.segments -> $1 ->> 0 = $2
		ORDER BY p.user_id
	$q$ USING scheme, segment;
END $$;
COMMENT ON FUNCTION _members_raw(text, text) IS 'Internal: the current members of a segment with their user ids (segmentation_analyst and segmentation_admin only)';

CREATE FUNCTION segment_members(scheme text, segment text, pseudonymize boolean DEFAULT true)
RETURNS TABLE (member text, entered_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF pseudonymize IS NULL THEN
		RAISE EXCEPTION 'argument "pseudonymize" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pseudonymize THEN
		RETURN QUERY SELECT m.member, m.entered_at FROM segmentation._members_pseudonymized(scheme, segment) m;
	ELSIF NOT has_function_privilege('segmentation._members_raw(text, text)', 'EXECUTE') THEN
		RAISE EXCEPTION 'permission denied for raw user ids' USING ERRCODE = 'insufficient_privilege',
			HINT = 'Only segmentation_analyst and segmentation_admin see raw user ids: call it with pseudonymize => true.';
	ELSE
		RETURN QUERY SELECT m.member, m.entered_at FROM segmentation._members_raw(scheme, segment) m;
	END IF;
END $$;
COMMENT ON FUNCTION segment_members(text, text, boolean) IS 'The current members of a segment (opted-out users never), for a campaign: as keyed hashes (HMAC-SHA-256 of the id, hex; stable) unless pseudonymize is false, which only segmentation_analyst and segmentation_admin may ask';

-- ===================================================================
-- Small cells
-- ===================================================================

-- min_cell_size, for the views (a view reads _setting_values with its
-- owner's rights; a function it called would run with the reader's).  The
-- default is _setting_defaults()'s.
CREATE VIEW _cell_size AS
SELECT coalesce((SELECT v.value::int FROM _setting_values v WHERE v.name = 'min_cell_size'), 10) AS k;
COMMENT ON VIEW _cell_size IS 'Internal: the min_cell_size setting in force';

-- Which cells of one group to suppress: every cell of fewer than k users
-- (or forced), and then, if any is, the smallest others (first in the
-- order given, on ties) until the suppressed cells are at least two and
-- hold at least k users together, or all are suppressed.  A group is a set
-- of cells whose sum is published or derivable (the (all) row, the total of
-- a scheme): its total minus the cells shown gives only the sum of the
-- suppressed ones, which is k or more.
CREATE FUNCTION _suppress_mask(users bigint[], forced boolean[], k int) RETURNS boolean[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := coalesce(cardinality(users), 0);
	m boolean[];
	cnt int := 0;
	total numeric := 0;
	best int;
BEGIN
	IF n = 0 THEN
		RETURN '{}'::boolean[];
	END IF;
	m := array_fill(false, ARRAY[n]);
	FOR i IN 1 .. n LOOP
		IF users[i] IS NULL OR users[i] < k OR coalesce(forced[i], false) THEN
			m[i] := true;
			cnt := cnt + 1;
			total := total + coalesce(users[i], 0);
		END IF;
	END LOOP;
	WHILE cnt > 0 AND cnt < n AND (cnt < 2 OR total < k) LOOP
		best := NULL;
		FOR i IN 1 .. n LOOP
			IF NOT m[i] AND (best IS NULL OR users[i] < users[best]) THEN
				best := i;
			END IF;
		END LOOP;
		m[best] := true;
		cnt := cnt + 1;
		total := total + users[best];
	END LOOP;
	RETURN m;
END $$;
COMMENT ON FUNCTION _suppress_mask(bigint[], boolean[], int) IS 'Internal: which cells of a group are suppressed: those of fewer than k users or forced, and the smallest others until the suppressed ones are two or more and hold k users or more (complementary suppression)';

-- Which cells to suppress when a cell is in several groups whose sums are
-- published or derivable (linked tables: lifecycle's statuses add up per
-- segment and follow each other from period to period; a day's moves hold
-- the (new) moves, which add up to the same number in every scheme): cell
-- i is in the groups named by the non-NULL keys[i][1..], and _suppress_mask
-- is applied to every group, with what is suppressed already forced, until
-- nothing changes.  So every group ends with no cell suppressed, or two or
-- more holding k users or more, or all; ties go to the earlier cell.  A
-- cell of fewer than k users is suppressed, and so is a forced one.
CREATE FUNCTION _suppress_groups(users bigint[], forced boolean[], keys text[], k int) RETURNS boolean[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := coalesce(cardinality(users), 0);
	w int;
	m boolean[];
	cg int[];       -- the groups of each cell, w per cell (0: none)
	cs int[];       -- the cells of each group, group after group
	gs int[];       -- the group of each of those
	first int[];    -- where each group's cells start in cs
	dirty boolean[];
	ng int;
	sub bigint[];
	f boolean[];
	r boolean[];
	changed boolean := true;
	c int;
BEGIN
	IF n = 0 THEN
		RETURN '{}'::boolean[];
	END IF;
	IF array_ndims(keys) <> 2 OR array_length(keys, 1) <> n THEN
		RAISE EXCEPTION 'keys must be a two-dimensional array with a row per cell' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	w := array_length(keys, 2);
	m := array_fill(false, ARRAY[n]);
	FOR i IN 1 .. n LOOP
		m[i] := users[i] IS NULL OR users[i] < k OR coalesce(forced[i], false);
	END LOOP;
	-- groups as numbers (a subscript of a text array is not constant time;
	-- unnest reads keys in row-major order)
	WITH x AS (
		SELECT u.key, u.e, ((u.e - 1) / w + 1)::int AS c,
		       CASE WHEN u.key IS NOT NULL THEN dense_rank() OVER (ORDER BY u.key) END::int AS g
		FROM unnest(keys) WITH ORDINALITY u(key, e))
	SELECT array_agg(coalesce(x.g, 0) ORDER BY x.e),
	       array_agg(x.c ORDER BY x.g, x.c) FILTER (WHERE x.g IS NOT NULL),
	       array_agg(x.g ORDER BY x.g, x.c) FILTER (WHERE x.g IS NOT NULL)
	INTO cg, cs, gs FROM x;
	IF cs IS NULL THEN
		RETURN m;
	END IF;
	ng := gs[cardinality(gs)];
	first := array_fill(0, ARRAY[ng + 1]);
	FOR i IN REVERSE cardinality(gs) .. 1 LOOP
		first[gs[i]] := i;
	END LOOP;
	first[ng + 1] := cardinality(cs) + 1;
	-- a group is looked at again only when one of its cells was suppressed
	dirty := array_fill(true, ARRAY[ng]);
	WHILE changed LOOP
		changed := false;
		FOR g IN 1 .. ng LOOP
			CONTINUE WHEN NOT dirty[g];
			dirty[g] := false;
			sub := '{}';
			f := '{}';
			FOR i IN first[g] .. first[g + 1] - 1 LOOP
				sub := sub || users[cs[i]];
				f := f || m[cs[i]];
			END LOOP;
			CONTINUE WHEN NOT (true = ANY (f) AND false = ANY (f));
			r := segmentation._suppress_mask(sub, f, k);
			FOR i IN first[g] .. first[g + 1] - 1 LOOP
				c := cs[i];
				IF r[i - first[g] + 1] AND NOT m[c] THEN
					m[c] := true;
					changed := true;
					FOR j IN 1 .. w LOOP
						IF cg[(c - 1) * w + j] > 0 THEN
							dirty[cg[(c - 1) * w + j]] := true;
						END IF;
					END LOOP;
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
	RETURN m;
END $$;
COMMENT ON FUNCTION _suppress_groups(bigint[], boolean[], text[], int) IS 'Internal: which cells are suppressed when cells are in several groups (keys[i]: the groups of cell i): _suppress_mask on every group, again until nothing changes';

-- Which segments segment_summary suppresses.  Every user is in every
-- scheme: the segments of a scheme add up to a total that is known, a
-- group.  And two segments of two schemes whose users are nearly the same
-- (fewer than k apart), or one and the rest of the other's scheme, give by
-- difference the count of those few users, and from the means the sums of
-- their scores: both are suppressed.  Two segments of the same users (or
-- one and the rest of the other's scheme) show the same count: they are a
-- group of two, suppressed alike.  From the users per combination of
-- segments (combos[i]: {"scheme": "segment", ...}, users[i] of them), with
-- the segments forced_schemes[j], forced_segments[j] suppressed whatever
-- their size; a pure function of its arguments, which segment_summary and
-- experiment_lift call as their reader.
--
-- Cost.  Only pairs whose sizes allow it are compared (candidates): with
-- n_a, n_b the sizes and I the users of both, apart = n_a + n_b - 2 I is at
-- least |n_a - n_b| (I <= min(n_a, n_b)), so apart < k needs n_b within
-- k - 1 of n_a; and total_B - apart < k (the rest of b's scheme) needs
-- n_a + n_b within [total_B - (k - 1), total_B + 2 M_B + (k - 1)], M_B the
-- users of combinations without scheme B (I >= 0, and I >= n_a + n_b -
-- total_B - M_B): with every scheme in every combination, n_a within k - 1
-- of total_B - n_b.  The candidates are found by binary search in the
-- sizes sorted (width_bucket), counted before they are listed, and I is
-- summed for them only, from the side with fewer combinations.  When the
-- positions visited, or the combinations read for I, would pass the
-- budget, 200,000 plus the number of (combination, scheme) cells,
-- nothing is compared: every segment that has a candidate in another
-- scheme (sizes as above, with the widest total of any scheme) is
-- suppressed (conservative; doc/privacy.md, "Limits").  With negative
-- counts (never from the views) every pair is a candidate.
CREATE FUNCTION _suppress_schemes(combos jsonb[], users bigint[], forced_schemes text[], forced_segments text[], k int)
RETURNS TABLE (scheme text, segment text, suppressed boolean)
-- (a row per segment: tens, not the planner's default thousand, which made
-- every read of the views look costly enough to compile)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE ROWS 20 SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	-- per segment, in the order of (scheme, segment): its number i
	schemes text[];
	segments text[];
	sno int[];          -- its scheme, numbered in the order of the names
	counts bigint[];
	totals numeric[];   -- its scheme's users
	cells bigint[];     -- the combinations it is in
	f1 int[];           -- where its candidates start and end in the sizes
	l1 int[];           -- sorted: 1, of a size within k - 1 of its own;
	f2 int[];           -- 2, of a size near the rest of its scheme
	l2 int[];
	partnered boolean[]; -- a candidate in another scheme (for the fallback)
	ids int[];          -- the segments in the order of their sizes
	ncells bigint;
	slots bigint;
	budget bigint;
	work bigint;
	cand_a int[];
	cand_b int[];
	near_a int[];
	near_b int[];
	near_close boolean[];
	fallback boolean := false;
	forced boolean[];
	keys text[];
BEGIN
	WITH u AS (
		SELECT u.c, u.n, u.i
		FROM unnest(combos, users) WITH ORDINALITY u(c, n, i)
		WHERE jsonb_typeof(u.c) = 'object'),
	cell AS (
		SELECT u.i, e.key AS scheme, e.value #>> '{}' AS segment, u.n
		FROM u, jsonb_each(u.c) e),
	seg AS (
		SELECT c.scheme, c.segment, sum(c.n)::bigint AS n, sum(sum(c.n)) OVER (PARTITION BY c.scheme) AS total,
		       count(*) AS cells, row_number() OVER (ORDER BY c.scheme, c.segment)::int AS i,
		       dense_rank() OVER (ORDER BY c.scheme)::int AS sno
		FROM cell c GROUP BY c.scheme, c.segment),
	g AS (
		-- every combination's users (of those with a segment), and the
		-- fewest and most of any scheme
		SELECT (SELECT sum(u.n) FROM u WHERE u.c <> '{}') AS t_all,
		       coalesce((SELECT bool_or(u.n < 0) FROM u WHERE u.c <> '{}'), false) AS neg,
		       min(s.total) AS t_min, sum(s.cells) AS ncells,
		       -- the schemes of a NULL segment (compared by =, it has no users
		       -- in common with any other: every other is its candidate)
		       min(s.sno) FILTER (WHERE s.segment IS NULL AND s.n IS NOT NULL) AS nul_first,
		       max(s.sno) FILTER (WHERE s.segment IS NULL AND s.n IS NOT NULL) AS nul_last
		FROM seg s),
	sorted AS (
		SELECT array_agg(s.n::numeric ORDER BY s.n, s.i) AS ns, array_agg(s.i ORDER BY s.n, s.i) AS ids
		FROM seg s WHERE s.n IS NOT NULL),
	by_scheme AS (
		SELECT s.sno, array_agg(s.n::numeric ORDER BY s.n) AS ns
		FROM seg s WHERE s.n IS NOT NULL GROUP BY s.sno),
	w AS (
		-- the windows of sizes: 1, apart < k; 2, the rest of s's scheme;
		-- 3, the rest of any scheme, either way (2 and its converse)
		SELECT s.*, x.*
		FROM seg s CROSS JOIN g
		CROSS JOIN LATERAL (
			SELECT CASE WHEN g.neg OR s.segment IS NULL THEN '-Infinity'::numeric ELSE s.n::numeric - (k - 1) END AS lo1,
			       CASE WHEN g.neg OR s.segment IS NULL THEN 'Infinity'::numeric ELSE s.n::numeric + (k - 1) END AS hi1,
			       CASE WHEN g.neg THEN '-Infinity'::numeric ELSE s.total - s.n - (k - 1) END AS lo2,
			       CASE WHEN g.neg THEN 'Infinity'::numeric ELSE 2 * g.t_all - s.total - s.n + (k - 1) END AS hi2,
			       CASE WHEN g.neg THEN '-Infinity'::numeric ELSE g.t_min - s.n - (k - 1) END AS lo3,
			       CASE WHEN g.neg THEN 'Infinity'::numeric ELSE 2 * g.t_all - g.t_min - s.n + (k - 1) END AS hi3) x),
	pos AS (
		-- positions in the sorted sizes (width_bucket: how many are <= x),
		-- of every segment and of the segment's own scheme
		SELECT w.*,
		       width_bucket(w.lo1 - 1, o.ns) + 1 AS f1, width_bucket(w.hi1, o.ns) AS l1,
		       width_bucket(w.lo2 - 1, o.ns) + 1 AS f2, width_bucket(w.hi2, o.ns) AS l2,
		       width_bucket(w.hi1, o.ns) - width_bucket(w.lo1 - 1, o.ns)
		         - (width_bucket(w.hi1, b.ns) - width_bucket(w.lo1 - 1, b.ns)) AS other1,
		       width_bucket(w.hi3, o.ns) - width_bucket(w.lo3 - 1, o.ns)
		         - (width_bucket(w.hi3, b.ns) - width_bucket(w.lo3 - 1, b.ns)) AS other3
		FROM w CROSS JOIN sorted o LEFT JOIN by_scheme b ON b.sno = w.sno)
	SELECT array_agg(p.scheme ORDER BY p.i), array_agg(p.segment ORDER BY p.i), array_agg(p.sno ORDER BY p.i),
	       array_agg(p.n ORDER BY p.i), array_agg(p.total ORDER BY p.i), array_agg(p.cells ORDER BY p.i),
	       array_agg(coalesce(p.f1, 1) ORDER BY p.i), array_agg(coalesce(p.l1, 0) ORDER BY p.i),
	       array_agg(coalesce(p.f2, 1) ORDER BY p.i), array_agg(coalesce(p.l2, 0) ORDER BY p.i),
	       array_agg(coalesce(p.other1 > 0 OR p.other3 > 0, false)
	                 OR (p.n IS NOT NULL AND (SELECT g.nul_first <> p.sno OR g.nul_last <> p.sno FROM g)) ORDER BY p.i),
	       coalesce(sum(greatest(coalesce(p.l1 - p.f1 + 1, 0), 0) + greatest(coalesce(p.l2 - p.f2 + 1, 0), 0)), 0),
	       (SELECT g.ncells FROM g), (SELECT o.ids FROM sorted o)
	INTO schemes, segments, sno, counts, totals, cells, f1, l1, f2, l2, partnered, slots, ncells, ids
	FROM pos p;
	IF schemes IS NULL THEN
		RETURN;
	END IF;
	-- (what one read of the combinations costs, and as much again at most)
	budget := 200000 + ncells;
	fallback := slots > budget;
	IF NOT fallback THEN
		-- the candidates (a, b), a's scheme before b's (b's total is the one
		-- compared, as for every pair), and the combinations to read for them
		SELECT array_agg(c.a ORDER BY c.a, c.b), array_agg(c.b ORDER BY c.a, c.b),
		       coalesce(sum(least(cells[c.a], cells[c.b])), 0)
		INTO cand_a, cand_b, work
		FROM (SELECT DISTINCT least(x.i, s.i) AS a, greatest(x.i, s.i) AS b
		      FROM generate_subscripts(schemes, 1) s(i)
		      CROSS JOIN LATERAL (SELECT generate_series(f1[s.i], l1[s.i])
		                          UNION ALL SELECT generate_series(f2[s.i], l2[s.i])) q(p)
		      CROSS JOIN LATERAL (SELECT ids[q.p] AS i) x
		      WHERE sno[x.i] <> sno[s.i]) c;
		fallback := work > budget;
	END IF;
	IF NOT fallback AND cand_a IS NOT NULL THEN
		-- the users of both, from the combinations of the one in fewer
		WITH cand AS (
			SELECT x.a, x.b, CASE WHEN cells[x.a] <= cells[x.b] THEN x.a ELSE x.b END AS s1,
			       CASE WHEN cells[x.a] <= cells[x.b] THEN x.b ELSE x.a END AS s2
			FROM unnest(cand_a, cand_b) x(a, b)),
		wanted AS (
			SELECT s.scheme, s.segment, s.i::int AS i
			FROM unnest(schemes, segments) WITH ORDINALITY s(scheme, segment, i)
			WHERE s.i IN (SELECT c.a FROM cand c UNION SELECT c.b FROM cand c)),
		cell AS (
			-- (looked up in the schemes of the candidates only)
			SELECT u.i, w.i AS g, u.n
			FROM unnest(combos, users) WITH ORDINALITY u(c, n, i)
			CROSS JOIN (SELECT DISTINCT w.scheme FROM wanted w) h
			JOIN wanted w ON w.scheme = h.scheme AND w.segment = u.c ->> h.scheme
			WHERE jsonb_typeof(u.c) = 'object'),
		both_ AS (
			SELECT c.a, c.b, sum(x.n) AS n
			FROM cand c JOIN cell x ON x.g = c.s1 JOIN cell y ON y.i = x.i AND y.g = c.s2
			GROUP BY c.a, c.b)
		-- apart: the users in one and not the other; the rest of b's scheme
		-- (b's total - b's users) is b's total - apart users apart from a
		SELECT array_agg(c.a ORDER BY c.a, c.b), array_agg(c.b ORDER BY c.a, c.b),
		       array_agg(d.apart BETWEEN 1 AND k - 1 OR totals[c.b] - d.apart BETWEEN 1 AND k - 1 ORDER BY c.a, c.b)
		INTO near_a, near_b, near_close
		FROM cand c LEFT JOIN both_ x ON x.a = c.a AND x.b = c.b
		CROSS JOIN LATERAL (SELECT counts[c.a] + counts[c.b] - 2 * coalesce(x.n, 0) AS apart) d
		WHERE d.apart < k OR totals[c.b] - d.apart < k;
	END IF;
	WITH near AS (
		SELECT * FROM unnest(near_a, near_b, near_close) n(a, b, close)),
	ends AS (
		SELECT n.a AS i, n.a, n.b, n.close FROM near n
		UNION ALL
		SELECT n.b, n.a, n.b, n.close FROM near n),
	of_cell AS (
		SELECT e.i, array_agg(format('pair %s %s', e.a, e.b) ORDER BY e.a, e.b) AS pairs, bool_or(e.close) AS close
		FROM ends e GROUP BY e.i),
	width AS (
		SELECT coalesce(max(cardinality(o.pairs)), 0) AS w FROM of_cell o)
	SELECT array_agg((coalesce(o.close, false) OR (fallback AND partnered[s.i]))
	                 OR (s.scheme, s.segment) IN (SELECT * FROM unnest(forced_schemes, forced_segments)) ORDER BY s.i),
	       -- (a row per cell: its scheme, its pairs, NULLs to the width of the widest)
	       array_agg(ARRAY[format('scheme %L', s.scheme)] || coalesce(o.pairs, '{}'::text[])
	                 || array_fill(NULL::text, ARRAY[w.w - coalesce(cardinality(o.pairs), 0)]) ORDER BY s.i)
	INTO forced, keys
	FROM unnest(schemes, segments) WITH ORDINALITY s(scheme, segment, i)
	LEFT JOIN of_cell o ON o.i = s.i CROSS JOIN width w;
	RETURN QUERY
		SELECT x.scheme, x.segment, x.suppressed
		FROM unnest(schemes, segments, segmentation._suppress_groups(counts, forced, keys, k)) x(scheme, segment, suppressed);
END $$;
COMMENT ON FUNCTION _suppress_schemes(jsonb[], bigint[], text[], text[], int) IS 'Internal: which segments segment_summary (and experiment_lift, per arm) suppresses, from the users per combination of segments: the small ones, with their schemes'' groups, and two segments of two schemes fewer than k users apart (or one and the rest of the other''s scheme), with the segments of the same users alike; only pairs whose sizes allow it are compared, and past a budget of work (200,000 plus the combinations times the schemes) every segment with such a pair is suppressed';
