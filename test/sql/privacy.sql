-- Privacy (DESIGN section 6, doc/privacy.md): the keyed hash, forget_user,
-- opt_out / opt_in, segment_members, min_cell_size, history_retention, and
-- what each role (PUBLIC, reader, analyst, admin, the owner of a tracked
-- table) can and cannot read or call.  Deterministic: UTC, fixed as_of; the
-- key is random, so hashes are compared, never printed.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET client_min_messages = warning;
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;

CREATE ROLE regress_pv_reader IN ROLE segmentation_reader;
CREATE ROLE regress_pv_analyst IN ROLE segmentation_analyst;
CREATE ROLE regress_pv_admin IN ROLE segmentation_admin;
CREATE ROLE regress_pv_nobody;
CREATE ROLE regress_pv_campaign;
CREATE ROLE regress_pv_owner;
CREATE SCHEMA regress_pv AUTHORIZATION regress_pv_owner;
GRANT USAGE ON SCHEMA regress_pv TO regress_pv_admin;

-- the tracked table belongs to another role, who grants the admin what tracking needs
SET ROLE regress_pv_owner;
CREATE TABLE regress_pv.ev (uid text, ts timestamptz, ev text, amount float8);
-- 40 users: user-01 .. user-40, user u with u events (u <= 8: 'buyer' too)
INSERT INTO regress_pv.ev
SELECT format('user-%s', to_char(u, 'FM00')), '2024-04-01'::timestamptz + (u * 7 + e) * interval '1 hour',
       CASE WHEN u <= 8 AND e = 1 THEN 'buy' ELSE 'view' END, u
FROM generate_series(1, 40) u, generate_series(1, u) e;
INSERT INTO regress_pv.ev VALUES ('zq-forget-me', '2024-04-02', 'buy', 5), ('zq-forget-me', '2024-04-03', 'view', 1),
	('zq-forget-me', 'infinity', 'view', 1), ('zq-opt-out', '2024-04-02', 'buy', 9);
GRANT SELECT, TRIGGER ON regress_pv.ev TO regress_pv_admin;
CREATE TABLE regress_pv.pwned (who name, how text);
GRANT ALL ON regress_pv.pwned TO PUBLIC;
CREATE FUNCTION regress_pv.pwn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO regress_pv.pwned VALUES (current_user, TG_NAME);
	RETURN NULL;
END $$;
CREATE FUNCTION regress_pv.spy() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO regress_pv.pwned VALUES (current_user, 'policy');
	RETURN true;
END $$;
RESET ROLE;

SET ROLE regress_pv_admin;
SELECT segmentation.track('regress_pv.ev', 'uid', 'ts', 'ev', 'amount');
SELECT segmentation.define_feature('buy', '{buy}');
SELECT segmentation.define_segment('value', 'buyer', $$'buy' = ANY (features_used)$$, 200);
SELECT segmentation.define_segment('value', 'frequent', 'frequency >= 30');
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS refreshed;
RESET ROLE;

-- 1. The keyed hash is HMAC-SHA-256 (RFC 4231, test case 1) ...
SELECT encode(segmentation._hmac_sha256('\x0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b', convert_to('Hi There', 'UTF8')), 'hex')
	= 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' AS rfc4231_case_1;
SELECT segmentation._hmac_sha256('\x00', 'x');
-- ... keyed with 32 random bytes made at install, which no role but the owner reads
SELECT count(*) AS keys, min(octet_length(key)) AS key_bytes FROM segmentation._pseudonym_key;
SET ROLE regress_pv_admin;
SELECT * FROM segmentation._pseudonym_key;
SELECT segmentation._pseudonym('user-01');
SELECT * FROM segmentation.forgotten_users;
SELECT * FROM segmentation.opt_outs;
RESET ROLE;

-- 2. segment_members: pseudonyms (stable, keyed), raw ids for analysts and admins only
SET ROLE regress_pv_analyst;
SELECT count(*) AS members, count(DISTINCT member) AS distinct_members, bool_and(member ~ '^[0-9a-f]{64}$') AS hex
FROM segmentation.segment_members('value', 'buyer');
SELECT member, entered_at FROM segmentation.segment_members('value', 'buyer', pseudonymize => false) ORDER BY 1 LIMIT 3;
CREATE TEMP TABLE first_call AS SELECT * FROM segmentation.segment_members('value', 'buyer');
SELECT count(*) AS differing FROM (SELECT * FROM first_call EXCEPT SELECT * FROM segmentation.segment_members('value', 'buyer')) d;
DROP TABLE first_call;
SELECT count(*) AS user_scores_rows FROM segmentation.user_scores;
SELECT segmentation.segment_members('value', 'nope');
SELECT segmentation.segment_members('nope', 'buyer');
SELECT segmentation.segment_members('value', 'buyer', NULL);
RESET ROLE;
-- (the pseudonym is the HMAC of the id with the key: test/privacy.py checks it against Python's hmac)
SELECT count(*) AS pseudonyms_matching
FROM segmentation.segment_members('value', 'buyer', false) r
JOIN segmentation.segment_members('value', 'buyer') p ON p.member = encode(segmentation._pseudonym(r.member), 'hex');
-- a reader (a dashboard's role) sees aggregates only: no per-user view, no member list
SET ROLE regress_pv_reader;
SELECT count(*) FROM segmentation.user_scores;
SELECT count(*) FROM segmentation.memberships;
SELECT count(*) FROM segmentation.segment_members('value', 'buyer');
SELECT count(*) FROM segmentation.segment_members('value', 'buyer', pseudonymize => false);
SELECT count(*) FROM segmentation._members_raw('value', 'buyer');
SELECT count(*) FROM segmentation._members_pseudonymized('value', 'buyer');
SELECT segmentation.forget_user('user-01');
SELECT segmentation.opt_out('user-01');
SELECT count(*) >= 0 AS reads_summary FROM segmentation.segment_summary;
RESET ROLE;
-- nor does PUBLIC
SET ROLE regress_pv_nobody;
SELECT count(*) FROM segmentation.segment_summary;
SELECT count(*) FROM segmentation.segment_members('value', 'buyer');
RESET ROLE;
-- a campaign tool's role granted the pseudonymized list gets pseudonyms, never ids
GRANT USAGE ON SCHEMA segmentation TO regress_pv_campaign;
GRANT EXECUTE ON FUNCTION segmentation.segment_members(text, text, boolean),
	segmentation._members_pseudonymized(text, text) TO regress_pv_campaign;
SET ROLE regress_pv_campaign;
SELECT count(*) AS members FROM segmentation.segment_members('value', 'buyer');
SELECT count(*) FROM segmentation.segment_members('value', 'buyer', pseudonymize => false);
SELECT count(*) FROM segmentation._members_raw('value', 'buyer');
RESET ROLE;
REVOKE ALL ON FUNCTION segmentation.segment_members(text, text, boolean),
	segmentation._members_pseudonymized(text, text) FROM regress_pv_campaign;
REVOKE USAGE ON SCHEMA segmentation FROM regress_pv_campaign;

-- 3. Small cells: with min_cell_size 10 (the default), buyer (10 users),
-- frequent (11) and unsegmented (21) are shown
SELECT scheme, segment, users, round(share::numeric, 3) AS share, round(mean_frequency::numeric, 2) AS mean_frequency, suppressed
FROM segmentation.segment_summary ORDER BY 1, 2;
-- with 11, buyer is too small, and frequent goes with it: else the scheme's
-- total (from the shares) minus the others would give buyer's size
SET ROLE regress_pv_admin;
SELECT segmentation.set_setting('min_cell_size', '11');
SET ROLE regress_pv_reader;
SELECT scheme, segment, users, share, mean_frequency, suppressed FROM segmentation.segment_summary ORDER BY 1, 2;
SELECT scheme, from_segment, to_segment, users, suppressed FROM segmentation.segment_migration ORDER BY 1, 2, 3;
SELECT segment, count(*) AS rows, bool_and(suppressed = (cohort_users IS NULL)) AS consistent, bool_or(suppressed) AS any_suppressed
FROM segmentation.retention_matrix('week', 'value') GROUP BY 1 ORDER BY 1;
RESET ROLE;
-- the mask: cells under k, then the smallest others until two or more hold k or more
SELECT segmentation._suppress_mask('{12, 3, 40, 9}', NULL, 10) AS one_small,
       segmentation._suppress_mask('{12, 3, 40, 2}', NULL, 10) AS two_small_under_k,
       segmentation._suppress_mask('{12, 30, 40}', '{f,t,f}', 10) AS forced,
       segmentation._suppress_mask('{12, 30, 40}', NULL, 10) AS none,
       segmentation._suppress_mask('{1, 2}', NULL, 0) AS off;
-- linked groups: a cell in two groups; suppression goes on until every group
-- has none, or two or more holding k, or all (5 takes 20 with it in a, and
-- that 20 takes 30 in b)
SELECT segmentation._suppress_groups('{5, 20, 30, 20}', NULL, '{{a,NULL},{a,b},{NULL,b},{NULL,NULL}}', 10) AS linked,
       segmentation._suppress_groups('{12, 3, 40, 9}', NULL, '{{a},{a},{a},{a}}', 10) AS one_group_as_the_mask,
       segmentation._suppress_groups('{12, 30, 40}', '{f,t,f}', '{{a},{a},{a}}', 10) AS forced;
-- segment_summary's, from the users per combination of segments: s1's x
-- (30) and s2's y (32) are 2 users apart, so are s1's w (42) and s2's z
-- (40): all four are suppressed, and v and u, the same 50 users, are shown
-- alike
SELECT * FROM segmentation._suppress_schemes(
	ARRAY['{"s1": "x", "s2": "y"}', '{"s1": "w", "s2": "y"}', '{"s1": "w", "s2": "z"}', '{"s1": "v", "s2": "u"}']::jsonb[],
	'{30, 2, 40, 50}', NULL, NULL, 10) ORDER BY 1, 2;

-- 4. forget_user: an admin's crafted ids erase nobody else
SET ROLE regress_pv_admin;
SELECT segmentation.set_setting('min_cell_size', NULL);
SELECT segmentation.forget_user('%');
SELECT segmentation.forget_user($$user-01'); DELETE FROM segmentation.profiles; --$$);
SELECT segmentation.forget_user(NULL);
SELECT segmentation.forget_user('user-01', NULL);
SELECT count(*) AS profiles_left FROM segmentation.profiles;
-- the user is gone from every table in one transaction, and no refresh brings them back
SELECT count(*) AS rejected_rows FROM segmentation.rejected_events WHERE user_id = 'zq-forget-me';
SELECT segmentation.forget_user('zq-forget-me');
SELECT action, session_role, active_role FROM segmentation.privacy_audit ORDER BY id;
RESET ROLE;
-- events committed for the user later are not captured
INSERT INTO regress_pv.ev VALUES ('zq-forget-me', '2024-04-04', 'buy', 1);
SELECT count(*) AS pending_for_forgotten FROM segmentation.pending_events WHERE user_id = 'zq-forget-me';
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS incremental;
SELECT segmentation.refresh(true, as_of => '2024-05-02') IS NOT NULL AS full;
-- Every column of every table and view of the schema, cast to text, searched
-- for the id (driven by the catalog, not a list)
CREATE FUNCTION pg_temp.traces(needle text, rels regclass[]) RETURNS TABLE (rel text, col name, hits bigint)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT c.oid::regclass AS rel, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
	         WHERE (c.oid = ANY (rels) OR c.relnamespace = 'segmentation'::regnamespace)
	           AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
	         ORDER BY 1, 2 LOOP
		rel := r.rel::text;
		col := r.attname;
		EXECUTE format('SELECT count(*) FROM %s x WHERE strpos(x.%I::text, $1) > 0', r.rel, r.attname) INTO hits USING needle;
		IF hits > 0 THEN
			RETURN NEXT;
		END IF;
	END LOOP;
END $$;
SELECT count(*) AS columns_searched FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped;
SELECT * FROM pg_temp.traces('zq-forget-me', '{}');
-- (the search finds an id that is there)
SELECT * FROM pg_temp.traces('user-02', '{}') WHERE rel IN ('segmentation.profiles', 'segmentation.transitions') ORDER BY 1, 2;
-- the source rows stay without delete_events
SELECT count(*) AS source_rows FROM regress_pv.ev WHERE uid = 'zq-forget-me';
-- a table's owner cannot block an erasure by breaking their table (row-level
-- security now fails every read of it, and so the readout): the readout is
-- emptied, with a warning, and the user erased
SET ROLE regress_pv_owner;
ALTER TABLE regress_pv.ev ENABLE ROW LEVEL SECURITY;
RESET ROLE;
SET ROLE regress_pv_admin;
SET client_min_messages = warning;
SELECT segmentation.forget_user('user-39');
RESET ROLE;
SELECT count(*) AS profiles_of_user_39 FROM segmentation.profiles WHERE user_id = 'user-39';
SET ROLE regress_pv_owner;
ALTER TABLE regress_pv.ev DISABLE ROW LEVEL SECURITY;
RESET ROLE;

-- 5. delete_events: as the caller, only from a table whose deletes run
-- nothing of its owner's.  The admin may not delete from the table yet:
SET ROLE regress_pv_admin;
SELECT segmentation.forget_user('user-40', delete_events => true);
RESET ROLE;
SET ROLE regress_pv_owner;
GRANT DELETE ON regress_pv.ev TO regress_pv_admin;
-- the owner plants a trigger that fires on DELETE: refused
CREATE TRIGGER planted AFTER DELETE ON regress_pv.ev FOR EACH ROW EXECUTE FUNCTION regress_pv.pwn();
RESET ROLE;
SET ROLE regress_pv_admin;
SELECT segmentation.forget_user('user-40', delete_events => true);
RESET ROLE;
-- a superuser (a DBA answering an erasure request) is refused the same way
SELECT segmentation.forget_user('user-40', delete_events => true);
SET ROLE regress_pv_owner;
DROP TRIGGER planted ON regress_pv.ev;
CREATE RULE planted AS ON DELETE TO regress_pv.ev DO ALSO INSERT INTO regress_pv.pwned VALUES (current_user, 'rule');
RESET ROLE;
SELECT segmentation.forget_user('user-40', delete_events => true);
SET ROLE regress_pv_owner;
DROP RULE planted ON regress_pv.ev;
ALTER TABLE regress_pv.ev ENABLE ROW LEVEL SECURITY;
CREATE POLICY everything ON regress_pv.ev USING (regress_pv.spy());
RESET ROLE;
-- (refused before forget_user's own check: row-level security would hide
-- rows from the role that tracked the table, and every read refuses that)
SELECT segmentation.forget_user('user-40', delete_events => true);
SET ROLE regress_pv_owner;
DROP POLICY everything ON regress_pv.ev;
ALTER TABLE regress_pv.ev DISABLE ROW LEVEL SECURITY;
-- a trigger that does not fire on DELETE is no concern
CREATE TRIGGER on_insert AFTER INSERT ON regress_pv.ev FOR EACH STATEMENT EXECUTE FUNCTION regress_pv.pwn();
RESET ROLE;
SET ROLE regress_pv_admin;
SELECT segmentation.forget_user('user-40', delete_events => true) AS source_rows_deleted;
RESET ROLE;
SELECT count(*) AS source_rows_left FROM regress_pv.ev WHERE uid = 'user-40';
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS incremental;
SELECT segmentation.refresh(true, as_of => '2024-05-03') IS NOT NULL AS full;
SELECT * FROM pg_temp.traces('user-40', '{regress_pv.ev}');
-- the owner's code never ran
SELECT who, how FROM regress_pv.pwned;

-- 6. opt_out: in no segment, export, transition or readout; behavior kept; opt_in restores
SET ROLE regress_pv_admin;
SELECT segmentation.opt_out('zq-opt-out');
RESET ROLE;
INSERT INTO regress_pv.ev VALUES ('zq-opt-out', '2024-04-05', 'view', 1);
SELECT segmentation.refresh(as_of => '2024-05-04') IS NOT NULL AS incremental;
SELECT segmentation.event_count(behavior) AS events_counted, opted_out, segments FROM segmentation.profiles WHERE user_id = 'zq-opt-out';
SELECT (SELECT count(*) FROM segmentation.memberships WHERE user_id = 'zq-opt-out') AS memberships,
       (SELECT count(*) FROM segmentation.membership_history WHERE user_id = 'zq-opt-out') AS history,
       (SELECT count(*) FROM segmentation.transitions WHERE user_id = 'zq-opt-out') AS transitions,
       (SELECT count(*) FROM segmentation.user_scores WHERE user_id = 'zq-opt-out') AS user_scores,
       (SELECT count(*) FROM segmentation.segment_members('value', 'buyer', false) WHERE member = 'zq-opt-out') AS members;
SELECT segmentation.refresh(true, as_of => '2024-05-04') IS NOT NULL AS full;
SELECT opted_out, segments FROM segmentation.profiles WHERE user_id = 'zq-opt-out';
SELECT * FROM pg_temp.traces('zq-opt-out', '{}') ORDER BY 1, 2;
-- (opt_outs holds the keyed hash, not the id)
SELECT count(*) AS opt_outs, bool_and(id_hash = segmentation._pseudonym('zq-opt-out')) AS hashed FROM segmentation.opt_outs;
SET ROLE regress_pv_admin;
SELECT segmentation.opt_in('zq-opt-out');
SELECT segmentation.opt_out('zq-forget-me');
SELECT segmentation.opt_out('not a user yet');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-05') IS NOT NULL AS incremental;
SELECT scheme, segment, entered_at FROM segmentation.memberships WHERE user_id = 'zq-opt-out';
SELECT count(*) AS opt_outs FROM segmentation.opt_outs;

-- 7. history_retention: moves older than it are purged by refresh
SELECT count(*) AS moves, min(at) AS oldest FROM segmentation.transitions;
SELECT segmentation.set_setting('history_retention', '2 days');
SELECT segmentation.refresh(as_of => '2024-05-05') IS NOT NULL AS refreshed;
SELECT count(*) AS moves, min(at) AS oldest FROM segmentation.transitions;
SELECT segmentation.set_setting('history_retention', NULL);

DROP EXTENSION segmentation CASCADE;
DROP SCHEMA regress_pv CASCADE;
DROP ROLE regress_pv_reader, regress_pv_analyst, regress_pv_admin, regress_pv_nobody, regress_pv_campaign, regress_pv_owner;
CREATE EXTENSION segmentation;
