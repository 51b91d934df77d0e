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
-- tracked user id type (_canonical_user_id), UTF-8.
CREATE FUNCTION _pseudonym(user_id text) RETURNS bytea
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT segmentation._hmac_sha256(
	(SELECT k.key FROM segmentation._pseudonym_key k ORDER BY k.created_at, k.key LIMIT 1),
	segmentation._id_bytes(user_id))
$$;
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

CREATE FUNCTION _is_forgotten(user_id text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT EXISTS (SELECT FROM segmentation.forgotten_users f WHERE f.id_hash OPERATOR(pg_catalog.=) segmentation._pseudonym(user_id))
$$;
COMMENT ON FUNCTION _is_forgotten(text) IS 'Internal: whether forget_user() erased this user (false for NULL)';
CREATE FUNCTION _is_opted_out(user_id text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
SELECT EXISTS (SELECT FROM segmentation.opt_outs o WHERE o.id_hash OPERATOR(pg_catalog.=) segmentation._pseudonym(user_id))
$$;
COMMENT ON FUNCTION _is_opted_out(text) IS 'Internal: whether this user opted out (false for NULL)';

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
	PERFORM segmentation._take_refresh_lock('forget_user');
	h := segmentation._pseudonym(canonical);
	INSERT INTO segmentation.forgotten_users (id_hash) VALUES (h) ON CONFLICT DO NOTHING;
	DELETE FROM segmentation.opt_outs o WHERE o.id_hash = h;
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	-- every table of the state that holds user ids (the views follow)
	EXECUTE format('DELETE FROM segmentation.profiles x WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation.transitions x WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation.pending_events x WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation.dirty_users x WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation._funnel_state x WHERE x.user_id = $1::%s', t) USING canonical;
	DELETE FROM segmentation.rejected_events x WHERE x.user_id = canonical;
	-- a failed run's row may name the user, or quote it in its error text
	UPDATE segmentation.refresh_runs r SET error_user_id = NULL,
		error = CASE WHEN canonical <> '' AND strpos(r.error, canonical) > 0 THEN '(error text removed by forget_user)' ELSE r.error END
	WHERE r.error_user_id = canonical OR (canonical <> '' AND strpos(r.error, canonical) > 0);
	INSERT INTO segmentation.privacy_audit (action) VALUES ('forget_user');
	-- funnel_conversion's counts, without the user
	PERFORM segmentation._materialize_funnels();
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
	s := segmentation._check_source(source_id, true);
	WITH RECURSIVE tree(oid) AS (
		SELECT s.source::oid
		UNION
		SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid)
	SELECT format('%s %s', c.oid::regclass,
	              CASE WHEN c.relrowsecurity THEN 'has row-level security enabled'
	                   WHEN EXISTS (SELECT FROM pg_rewrite r WHERE r.ev_class = c.oid) THEN 'has a rule'
	                   ELSE 'has a trigger that fires on DELETE' END)
	INTO bad
	FROM tree t JOIN pg_class c ON c.oid = t.oid
	WHERE c.relrowsecurity
	   OR EXISTS (SELECT FROM pg_rewrite r WHERE r.ev_class = c.oid)
	   OR EXISTS (SELECT FROM pg_trigger g
	              WHERE g.tgrelid = c.oid AND (g.tgtype & 8) <> 0
	                AND NOT (g.tgname IN ('segmentation_capture_delete', 'segmentation_capture_replica')
	                         AND g.tgfoid = to_regprocedure(format('segmentation.%I()', '_capture_' || s.id))))
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
	PERFORM segmentation._take_refresh_lock('opt_out');
	h := segmentation._pseudonym(canonical);
	-- (a forgotten user is opted out like any other id: saying so would tell
	-- who was forgotten)
	INSERT INTO segmentation.opt_outs (id_hash) VALUES (h) ON CONFLICT DO NOTHING;
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	EXECUTE format('UPDATE segmentation.profiles x SET opted_out = true, segments = ''{}'' WHERE x.user_id = $1::%s', t) USING canonical;
	EXECUTE format('DELETE FROM segmentation.transitions x WHERE x.user_id = $1::%s', t) USING canonical;
	-- out of funnel_conversion now (their funnel state stays, as their behavior)
	PERFORM segmentation._materialize_funnels();
	INSERT INTO segmentation.privacy_audit (action) VALUES ('opt_out');
END $$;
COMMENT ON FUNCTION opt_out(text) IS 'Opt a user out: in no segment, export, transition feed or experiment readout (from the next refresh) until opt_in(); their behavior is kept, the id is stored only as a keyed hash';

CREATE FUNCTION opt_in(user_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	canonical text := segmentation._canonical_user_id(user_id);
	t regtype;
BEGIN
	PERFORM segmentation._take_refresh_lock('opt_in');
	DELETE FROM segmentation.opt_outs o WHERE o.id_hash = segmentation._pseudonym(canonical);
	SELECT a.atttypid::regtype INTO t FROM pg_attribute a
	WHERE a.attrelid = 'segmentation.profiles'::regclass AND a.attname = 'user_id';
	-- the next refresh assigns them again (an empty segments value makes it run their rules)
	EXECUTE format('UPDATE segmentation.profiles x SET opted_out = false WHERE x.user_id = $1::%s', t) USING canonical;
	PERFORM segmentation._materialize_funnels();
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
	IF NOT EXISTS (SELECT FROM segmentation.segments s WHERE s.scheme = _check_members_arguments.scheme) THEN
		RAISE EXCEPTION 'argument "scheme": there is no scheme %', quote_literal(scheme) USING ERRCODE = 'undefined_object';
	END IF;
	IF segment <> 'unsegmented' AND NOT EXISTS (SELECT FROM segmentation.segments s
	                                            WHERE s.scheme = _check_members_arguments.scheme AND s.name = segment) THEN
		RAISE EXCEPTION 'argument "segment": scheme % has no segment %', quote_literal(scheme), quote_literal(segment)
			USING ERRCODE = 'undefined_object';
	END IF;
END $$;
COMMENT ON FUNCTION _check_members_arguments(text, text) IS 'Internal: refuses an unknown scheme or segment';

-- The members, pseudonymized: for whoever may call segment_members.
CREATE FUNCTION _members_pseudonymized(scheme text, segment text) RETURNS TABLE (member text, entered_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM segmentation._check_members_arguments(scheme, segment);
	IF to_regclass('segmentation.profiles') IS NULL THEN
		RETURN;
	END IF;
	-- $1 scheme, $2 segment
	RETURN QUERY EXECUTE $q$
		SELECT pg_catalog.encode(segmentation._pseudonym(p.user_id::text), 'hex'), (p.segments -> $1 ->> 1)::timestamptz
		FROM segmentation.profiles p
		WHERE NOT p.opted_out AND p.segments -> $1 ->> 0 = $2
		ORDER BY 1
	$q$ USING scheme, segment;
END $$;
COMMENT ON FUNCTION _members_pseudonymized(text, text) IS 'Internal: the current members of a segment as keyed hashes (HMAC-SHA-256, hex) of their ids';

-- The members with their ids: granted to segmentation_analyst and
-- segmentation_admin only, and checked by PostgreSQL against the role that
-- calls segment_members (an invoker function).
CREATE FUNCTION _members_raw(scheme text, segment text) RETURNS TABLE (member text, entered_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
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
CREATE FUNCTION _suppress_schemes(combos jsonb[], users bigint[], forced_schemes text[], forced_segments text[], k int)
RETURNS TABLE (scheme text, segment text, suppressed boolean)
-- (a row per segment: tens, not the planner's default thousand, which made
-- every read of the views look costly enough to compile)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE ROWS 20 SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	schemes text[];
	segments text[];
	counts bigint[];
	forced boolean[];
	keys text[];
BEGIN
	WITH cell AS (
		SELECT u.i, e.key AS scheme, e.value #>> '{}' AS segment, u.n
		FROM unnest(combos, users) WITH ORDINALITY u(c, n, i), jsonb_each(u.c) e
		WHERE jsonb_typeof(u.c) = 'object'),
	seg AS (
		SELECT c.scheme, c.segment, sum(c.n)::bigint AS n, sum(sum(c.n)) OVER (PARTITION BY c.scheme) AS total,
		       row_number() OVER (ORDER BY c.scheme, c.segment) AS i
		FROM cell c GROUP BY c.scheme, c.segment),
	pair AS (
		SELECT a.scheme, a.segment, b.scheme AS other_scheme, b.segment AS other_segment, sum(a.n) AS n
		FROM cell a JOIN cell b ON b.i = a.i AND a.scheme < b.scheme
		GROUP BY 1, 2, 3, 4),
	near AS (
		-- apart: the users in one and not the other; the rest of b's scheme
		-- (b.total - b.n users) is b.total - apart users apart from a
		SELECT a.i AS a, b.i AS b, d.apart BETWEEN 1 AND k - 1 OR b.total - d.apart BETWEEN 1 AND k - 1 AS close
		FROM seg a JOIN seg b ON a.scheme < b.scheme
		LEFT JOIN pair x ON x.scheme = a.scheme AND x.segment = a.segment AND x.other_scheme = b.scheme AND x.other_segment = b.segment
		CROSS JOIN LATERAL (SELECT a.n + b.n - 2 * coalesce(x.n, 0) AS apart) d
		WHERE d.apart < k OR b.total - d.apart < k),
	of_cell AS (
		SELECT s.i, array_agg(format('pair %s %s', n.a, n.b) ORDER BY n.a, n.b) FILTER (WHERE n.a IS NOT NULL) AS pairs,
		       coalesce(bool_or(n.close), false) AS close
		FROM seg s LEFT JOIN near n ON s.i IN (n.a, n.b)
		GROUP BY s.i),
	width AS (
		SELECT coalesce(max(cardinality(o.pairs)), 0) AS w FROM of_cell o)
	SELECT array_agg(s.scheme ORDER BY s.i), array_agg(s.segment ORDER BY s.i), array_agg(s.n ORDER BY s.i),
	       array_agg(o.close OR (s.scheme, s.segment) IN (SELECT * FROM unnest(forced_schemes, forced_segments)) ORDER BY s.i),
	       -- (a row per cell: its scheme, its pairs, NULLs to the width of the widest)
	       array_agg(ARRAY[format('scheme %L', s.scheme)] || coalesce(o.pairs, '{}'::text[])
	                 || array_fill(NULL::text, ARRAY[w.w - coalesce(cardinality(o.pairs), 0)]) ORDER BY s.i)
	INTO schemes, segments, counts, forced, keys
	FROM seg s JOIN of_cell o ON o.i = s.i CROSS JOIN width w;
	RETURN QUERY
		SELECT x.scheme, x.segment, x.suppressed
		FROM unnest(schemes, segments, segmentation._suppress_groups(counts, forced, keys, k)) x(scheme, segment, suppressed);
END $$;
COMMENT ON FUNCTION _suppress_schemes(jsonb[], bigint[], text[], text[], int) IS 'Internal: which segments segment_summary (and experiment_lift, per arm) suppresses, from the users per combination of segments: the small ones, with their schemes'' groups, and two segments of two schemes fewer than k users apart (or one and the rest of the other''s scheme), with the segments of the same users alike';
