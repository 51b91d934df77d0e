#!/usr/bin/python3
"""test/privacy.py: privacy enforced by the database (DESIGN section 6).

* The pseudonyms of segment_members and the hashes of forgotten and
  opted-out users are HMAC-SHA-256 of the user id with the extension's key,
  checked against Python's hmac module (ASCII, non-ASCII, bigint and text
  ids), and stable across calls.
* forget_user and opt_out across incremental and full refreshes while other
  sessions write: an event committed for a forgotten user after forget_user
  (or inserted before it and committed after) is never counted and leaves no
  trace once a refresh ran; an event for an opted-out user is counted in
  their behavior, and they appear in no segment, member list, transition
  feed or experiment readout. After each, every column of every table and
  view of the schema (and of the tracked table, with delete_events) is
  searched for the id, cast to text: a search driven by pg_class and
  pg_attribute, not a list.
* min_cell_size on every view and function segmentation_reader reads
  (segment_summary, segment_migration, experiment_lift, retention_matrix,
  lifecycle, stickiness, validate_segments): as the reader, every cell of
  fewer users is suppressed (its numbers NULL), and within each group whose
  total is known (a scheme; the segments of an (all) row) the suppressed
  cells are none, or two or more holding min_cell_size users together, or
  all of them; the true counts come from min_cell_size 0.
* Differencing, each derivation done as the reader (doc/privacy.md, "What
  is guaranteed"): exact linear algebra over every sum identity of each
  view (lifecycle's statuses from one period to the next, the (new) and
  (gone) moves of a day in two schemes, the (all) rows, the members of the
  segments experiment_lift does not list) finds no suppressed cell; arm
  sizes tried in srm_test do not give srm_p_value's suppressed arm; the
  q-values, heterogeneity and homogeneity p-values are those of the rows
  shown; two schemes whose segments are two users apart do not give those
  users' count and mean; in a scheme of two segments (one a catch-all), or
  of one segment and unsegmented, with a few (unknown) users in every
  scheme, the (all) row less the cell shown does not give the small one.
* pg_dump and restore keep the key (dumped as extension configuration):
  the same pseudonyms, and a forgotten user stays forgotten through a full
  refresh of the restored database.
* Attacks, each as the role that would try it: a reader reading user_scores
  or asking segment_members for raw ids, an admin reading the key or asking
  for a pseudonym of an id of their choosing (an oracle would undo the
  pseudonyms), an admin calling forget_user with crafted ids, an analyst
  erasing.

Uses the libpq environment (PGHOST, PGPORT, PGUSER).
"""
import hashlib
import hmac
import json
import os
import random
import subprocess
import threading
import time

import psycopg2

from harness import Suite, connect, drop_database, fresh_database

DB = "segmentation_privacy"
suite = Suite("privacy suite")
check = suite.check
FORGET = 987654321987      # ids no other value of the data set contains
OPTOUT = 876543219876
VICTIM = 765432198765
K = 10                      # min_cell_size under test


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def error_of(cur, sql, args=None):
    try:
        cur.execute(sql, args)
        cur.fetchall()
        return None
    except psycopg2.Error as e:
        return (e.pgcode, e.pgerror.splitlines()[0] if e.pgerror else "")


def traces(cur, needle, extra=()):
    """(relation, column, hits) of every column of every table and view of
    the schema (and of the extra relations) whose text holds needle."""
    cur.execute("""SELECT c.oid::regclass::text, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                   WHERE (c.relnamespace = 'segmentation'::regnamespace OR c.oid::regclass::text = ANY (%s))
                     AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
                   ORDER BY 1, 2""", (list(extra),))
    found = []
    columns = cur.fetchall()
    for rel, col in columns:
        n = one(cur, f'SELECT count(*) FROM {rel} x WHERE strpos(x."{col}"::text, %s) > 0', (needle,))
        if n:
            found.append((rel, col, n))
    return found, len(columns)


SETUP = """
SET client_min_messages = warning;
CREATE TABLE ev (uid bigint, at timestamptz, name text, amount float8);
CREATE TABLE ab (uid bigint, variant text, at timestamptz);
DROP ROLE IF EXISTS regress_priv_reader, regress_priv_analyst, regress_priv_admin;
CREATE ROLE regress_priv_reader IN ROLE segmentation_reader;
CREATE ROLE regress_priv_analyst IN ROLE segmentation_analyst;
CREATE ROLE regress_priv_admin IN ROLE segmentation_admin;
GRANT SELECT, TRIGGER, DELETE ON ev TO regress_priv_admin;
GRANT SELECT ON ab TO regress_priv_admin;
-- user attributes (track_users): their copy, queue and rejections hold ids too
CREATE TABLE attrs (uid bigint PRIMARY KEY, plan text, note text);
GRANT SELECT, TRIGGER ON attrs TO regress_priv_admin;
"""


def load(cur, rnd, users, days):
    rows = []
    for u in range(1, users + 1):
        for _ in range(rnd.randrange(1, 12)):
            d = rnd.randrange(0, days)
            rows.append((u, "2024-01-01 00:00+00", d, rnd.choice(["view", "view", "buy", "search"]), rnd.choice([None, 5.0, 20.0])))
    for uid in (FORGET, OPTOUT, VICTIM):
        for d in (1, 3, 8, 20):
            rows.append((uid, "2024-01-01 00:00+00", d, "buy", 7.0))
    for uid in (FORGET, OPTOUT):   # (in the funnel view -> buy)
        rows.append((uid, "2024-01-01 00:00+00", 0, "view", None))
    cur.executemany("INSERT INTO ev VALUES (%s, %s::timestamptz + %s * interval '1 day', %s, %s)", rows)
    # every user's attributes; the three users' notes too long to keep (rejected_attributes)
    cur.execute("""INSERT INTO attrs SELECT u, CASE WHEN u %% 3 = 0 THEN 'pro' ELSE 'free' END,
                          CASE WHEN u IN (%s, %s, %s) THEN repeat('n', 300) END
                   FROM generate_series(1, %s) u UNION ALL SELECT x, 'pro', repeat('n', 300) FROM unnest(%s) x""",
                (FORGET, OPTOUT, VICTIM, users, [FORGET, OPTOUT, VICTIM]))


def hmac_suite(cur):
    key = bytes(one(cur, "SELECT key FROM segmentation._pseudonym_key ORDER BY created_at, key LIMIT 1"))
    check("the key is 32 bytes", len(key) == 32)
    for text in ["1", "987654321987", "user-01", "jürgen.müller@example.org", "ユーザー", "🙂", "", "a'b\\c"]:
        want = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        got = one(cur, "SELECT encode(segmentation._pseudonym(%s), 'hex')", (text,))
        check(f"_pseudonym({text!r}) is Python's hmac.new(key, id, sha256)", got == want, (got, want))
    # the key is kept with the call for one snapshot (src/privacy.c): an
    # older key restored in the same transaction is in force from the next
    # statement, even at the same call (a PL/pgSQL expression keeps its call
    # for the transaction)
    older = bytes(range(32))
    cur.execute("BEGIN")
    cur.execute("""CREATE FUNCTION pg_temp.twice(older bytea) RETURNS text[] LANGUAGE plpgsql AS $$
                   DECLARE h text[] := '{}';
                   BEGIN
                       FOR i IN 1 .. 2 LOOP
                           h := h || encode(segmentation._pseudonym('x'), 'hex');
                           IF i = 1 THEN
                               INSERT INTO segmentation._pseudonym_key VALUES (older, '2000-01-01');
                           END IF;
                       END LOOP;
                       RETURN h;
                   END $$""")
    got = one(cur, "SELECT pg_temp.twice(%s)", (older,))
    cur.execute("ROLLBACK")
    check("_pseudonym: the key read again in the next statement (an older key, then in force)",
          got == [hmac.new(key, b"x", hashlib.sha256).hexdigest(), hmac.new(older, b"x", hashlib.sha256).hexdigest()], got)
    # ... and a row written in a subtransaction rolled back since is not seen
    # at the same call, though no snapshot tells it (the own transaction's
    # ids are in none): the inner block's abort keeps xmax where it was
    # (review 32: the cache answered true, then true)
    cur.execute("BEGIN")
    cur.execute("""CREATE FUNCTION pg_temp.rolled_back(older bytea) RETURNS text[] LANGUAGE plpgsql AS $$
                   DECLARE r text[] := '{}';
                   BEGIN
                       FOR i IN 1 .. 2 LOOP
                           BEGIN
                               IF i = 1 THEN
                                   INSERT INTO segmentation._pseudonym_key VALUES (older, '2000-01-01');
                                   INSERT INTO segmentation.opt_outs VALUES (segmentation._pseudonym('u1'));
                                   BEGIN
                                       CREATE TEMP TABLE rolled_back_t (a int);
                                       RAISE EXCEPTION 'inner';
                                   EXCEPTION WHEN raise_exception THEN NULL;
                                   END;
                               END IF;
                               r := r || (segmentation._is_opted_out('u1')::text || encode(segmentation._pseudonym('x'), 'hex'));
                               IF i = 1 THEN RAISE EXCEPTION 'outer'; END IF;
                           EXCEPTION WHEN raise_exception THEN NULL;
                           END;
                       END LOOP;
                       RETURN r;
                   END $$""")
    got = one(cur, "SELECT pg_temp.rolled_back(%s)", (older,))
    cur.execute("ROLLBACK")
    check("_is_opted_out, _pseudonym: a row of a subtransaction rolled back is not seen at the same call",
          got == ["true" + hmac.new(older, b"x", hashlib.sha256).hexdigest(), "false" + hmac.new(key, b"x", hashlib.sha256).hexdigest()], got)
    # a statement reads a table of SMALL_SET (1024) hashes at most once and
    # searches it; a larger one is probed through its index: the same answers
    for extra in (0, 1100):
        cur.execute("BEGIN")
        cur.execute("INSERT INTO segmentation.opt_outs SELECT decode(md5(g::text) || md5((-g)::text), 'hex') "
                    "FROM generate_series(1, %s) g", (extra,))
        cur.execute("INSERT INTO segmentation.opt_outs SELECT segmentation._pseudonym(x) FROM unnest('{u7,u2000}'::text[]) x")
        got = one(cur, "SELECT array_agg(g ORDER BY g) FROM generate_series(1, 3000) g "
                       "WHERE segmentation._is_opted_out('u' || g)")
        cur.execute("ROLLBACK")
        check(f"_is_opted_out over 3,000 ids with {extra + 2} hashes in opt_outs finds the 2 opted out", got == [7, 2000], got)
    # the index probed is the primary key on id_hash: one the owner moved to
    # another bytea column is refused (review 32: the small set answered from
    # id_hash, a larger table would have been probed on the other column)
    cur.execute("BEGIN")
    cur.execute("ALTER TABLE segmentation.opt_outs DROP CONSTRAINT opt_outs_pkey")
    cur.execute("ALTER TABLE segmentation.opt_outs ADD COLUMN other bytea PRIMARY KEY DEFAULT decode(md5(random()::text), 'hex')")
    err = error_of(cur, "SELECT segmentation._is_opted_out('u1')")
    cur.execute("ROLLBACK")
    check("_is_opted_out refuses opt_outs whose primary key is on another column", err is not None and err[0] == "XX001", err)
    check("_is_forgotten(NULL) and _is_opted_out(NULL) are false",
          one(cur, "SELECT (segmentation._is_forgotten(NULL), segmentation._is_opted_out(NULL))::text") == "(f,f)")
    # (C reads the tables past their privileges: a role given EXECUTE only is
    # refused, as the SQL functions refused it)
    cur.execute("GRANT EXECUTE ON FUNCTION segmentation._is_forgotten(text), segmentation._pseudonym(text) "
                "TO regress_priv_admin")
    cur.execute("SET ROLE regress_priv_admin")
    for sql in ["SELECT segmentation._pseudonym('1')", "SELECT segmentation._is_forgotten('1')"]:
        err = error_of(cur, sql)
        check(f"{sql}, by a role that may execute it but not read the key, is refused",
              err is not None and err[0] == "42501", err)
    cur.execute("RESET ROLE")
    cur.execute("REVOKE EXECUTE ON FUNCTION segmentation._is_forgotten(text), segmentation._pseudonym(text) "
                "FROM regress_priv_admin")
    # ... and one that may read the tables, but under row-level security that
    # hides their rows, is refused too (a scan in C applies no policy; SQL
    # did: review 32, the C answered true)
    cur.execute("BEGIN")
    cur.execute("INSERT INTO segmentation.opt_outs VALUES (segmentation._pseudonym('rls1'))")
    cur.execute("GRANT USAGE ON SCHEMA segmentation TO regress_priv_admin")
    cur.execute("GRANT SELECT ON segmentation.opt_outs, segmentation._pseudonym_key TO regress_priv_admin")
    cur.execute("GRANT EXECUTE ON FUNCTION segmentation._is_opted_out(text) TO regress_priv_admin")
    cur.execute("ALTER TABLE segmentation.opt_outs ENABLE ROW LEVEL SECURITY")
    cur.execute("CREATE POLICY hidden ON segmentation.opt_outs USING (false)")
    cur.execute("SET ROLE regress_priv_admin")
    err = error_of(cur, "SELECT segmentation._is_opted_out('rls1')")
    cur.execute("ROLLBACK")
    check("_is_opted_out, by a role that reads opt_outs under row-level security, is refused",
          err is not None and err[0] == "42501", err)
    # RFC 4231 test case 2's data with a longer key, and a key longer than a block
    for k, m in [(b"\x0b" * 20, b"Hi There"), (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")]:
        got = bytes(one(cur, "SELECT segmentation._hmac_sha256(%s, %s)", (k, m))).hex()
        check(f"_hmac_sha256 with a {len(k)}-byte key is Python's", got == hmac.new(k, m, hashlib.sha256).hexdigest())
    return key


def members_suite(cur, key):
    cur.execute("SET ROLE regress_priv_analyst")
    cur.execute("SELECT member, entered_at FROM segmentation.segment_members('value', 'buyer', false) ORDER BY 1")
    raw = cur.fetchall()
    cur.execute("SELECT member, entered_at FROM segmentation.segment_members('value', 'buyer') ORDER BY 1")
    pseudo = cur.fetchall()
    cur.execute("SELECT member, entered_at FROM segmentation.segment_members('value', 'buyer') ORDER BY 1")
    again = cur.fetchall()
    cur.execute("RESET ROLE")
    want = sorted((hmac.new(key, m.encode(), hashlib.sha256).hexdigest(), t) for m, t in raw)
    check(f"segment_members: {len(pseudo)} pseudonyms, each the HMAC-SHA-256 of a member's id (Python's hmac)",
          len(pseudo) > 0 and pseudo == want)
    check("segment_members: pseudonyms are stable across calls", pseudo == again)


def attacks(cur):
    cur.execute("SET ROLE regress_priv_reader")
    check("reader: user_scores is refused", (error_of(cur, "SELECT * FROM segmentation.user_scores") or ("",))[0] == "42501")
    check("reader: memberships is refused", (error_of(cur, "SELECT * FROM segmentation.memberships") or ("",))[0] == "42501")
    check("reader: segment_members with pseudonymize => false is refused",
          (error_of(cur, "SELECT * FROM segmentation.segment_members('value', 'buyer', pseudonymize => false)") or ("",))[0] == "42501")
    check("reader: _members_raw is refused",
          (error_of(cur, "SELECT * FROM segmentation._members_raw('value', 'buyer')") or ("",))[0] == "42501")
    cur.execute("RESET ROLE")
    cur.execute("SET ROLE regress_priv_admin")
    for what, sql in [("the key table", "SELECT * FROM segmentation._pseudonym_key"),
                      ("a pseudonym of an id of their choosing", "SELECT segmentation._pseudonym('1')"),
                      ("the HMAC function with a key of their own", "SELECT segmentation._hmac_sha256('\\x0123456789abcdef0123456789abcdef', '1')"),
                      ("forgotten_users", "SELECT * FROM segmentation.forgotten_users"),
                      ("opt_outs", "SELECT * FROM segmentation.opt_outs"),
                      ("writing privacy_audit", "INSERT INTO segmentation.privacy_audit (action) VALUES ('opt_in')"),
                      ("deleting privacy_audit", "DELETE FROM segmentation.privacy_audit")]:
        err = error_of(cur, sql)
        check(f"admin: {what} is refused", err is not None and err[0] == "42501", err)
    before = one(cur, "SELECT count(*) FROM segmentation.profiles")
    for crafted in ["1; DELETE FROM segmentation.profiles", "1 OR true", "%", "1)--", "' OR ''='"]:
        err = error_of(cur, "SELECT segmentation.forget_user(%s, true)", (crafted,))
        check(f"admin: forget_user({crafted!r}) is refused as no bigint id", err is not None and err[0] == "22P02", err)
    err = error_of(cur, "SELECT segmentation.forget_user('-0000000000000000000001')")
    check("admin: forget_user of an id nobody has erases nobody", err is None and
          one(cur, "SELECT count(*) FROM segmentation.profiles") == before, err)
    cur.execute("RESET ROLE")
    cur.execute("SET ROLE regress_priv_analyst")
    for sql in ["SELECT segmentation.forget_user('1')", "SELECT segmentation.opt_out('1')", "SELECT segmentation.opt_in('1')",
                "SELECT * FROM segmentation.profiles", "SELECT * FROM segmentation._pseudonym_key"]:
        err = error_of(cur, sql)
        check(f"analyst: {sql} is refused", err is not None and err[0] == "42501", err)
    cur.execute("RESET ROLE")


def refresh(cur, full, as_of):
    cur.execute("SELECT segmentation.refresh(%s, %s)", (full, as_of))
    return cur.fetchone()[0]


def writer(stop, errors, ids):
    """Another session inserting events, the forgotten and opted-out users' too."""
    try:
        conn = connect(DB)
        cur = conn.cursor()
        rnd = random.Random(7)
        while not stop.is_set():
            uid = rnd.choice(ids)
            cur.execute("INSERT INTO ev VALUES (%s, '2024-01-25'::timestamptz + %s * interval '1 hour', 'buy', 1)",
                        (uid, rnd.randrange(0, 48)))
            time.sleep(0.002)
        conn.close()
    except Exception as e:   # noqa: BLE001 (reported by the main thread)
        errors.append(repr(e))


def erase_and_opt_out(cur):
    """forget_user and opt_out while another session writes, then incremental
    and full refreshes; a transaction left open across forget_user commits
    an event for the forgotten user afterwards."""
    late = connect(DB)
    lcur = late.cursor()
    lcur.execute("BEGIN")
    lcur.execute("INSERT INTO ev VALUES (%s, '2024-01-26', 'buy', 3)", (FORGET,))   # before forget_user, uncommitted
    lcur.execute("UPDATE attrs SET plan = 'team' WHERE uid = %s", (FORGET,))        # (its attributes queued, the same)

    stop, errors = threading.Event(), []
    t = threading.Thread(target=writer, args=(stop, errors, [FORGET, OPTOUT, 1, 2, 3, 4, 5]))
    t.start()
    time.sleep(0.2)
    audit_before = one(cur, "SELECT count(*) FROM segmentation.privacy_audit")
    cur.execute("SET ROLE regress_priv_admin")
    cur.execute("SELECT segmentation.forget_user(%s)", (str(FORGET),))
    cur.execute("SELECT segmentation.opt_out(%s)", (str(OPTOUT),))
    cur.execute("RESET ROLE")
    audit_rows = one(cur, "SELECT count(*) FROM segmentation.privacy_audit") - audit_before
    # at once, before any refresh, the attributes' copy, queue and rejections
    # (the writer's events may still be queued: committed after forget_user,
    # refresh skips them)
    found, n = traces(cur, str(FORGET))
    found = [f for f in found if f[0] in ("segmentation.user_attributes", "segmentation.attribute_queue", "segmentation.rejected_attributes")]
    check("forgotten: right after forget_user, the attributes' copy, queue and rejections do not hold the id", not found, found)
    lcur.execute("COMMIT")         # committed after forget_user
    late.close()
    as_of = ["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04"]
    for i, day in enumerate(as_of):
        time.sleep(0.2)
        refresh(cur, i % 2 == 1, day)
        found, n = traces(cur, str(FORGET))
        check(f"forgotten: after a refresh ({'full' if i % 2 else 'incremental'}) with writes going on, "
              f"no column of the schema's {n} holds the id", not found, found)
    stop.set()
    t.join()
    check("writer: no error", not errors, errors)
    refresh(cur, False, "2024-02-05")
    refresh(cur, True, "2024-02-05")
    found, n = traces(cur, str(FORGET))
    check(f"forgotten: after the writes, an incremental and a full refresh: no column of {n} holds the id", not found, found)
    # (the planner's statistics of refresh's work table would keep the ids
    # of a run's users after it, a forgotten user's among them: review 28)
    stats = one(cur, "SELECT count(*) FROM pg_stats WHERE schemaname = 'segmentation' AND tablename = '_batch'")
    check("forgotten: refresh's work table keeps no column statistics (they would hold a run's user ids)", stats == 0, stats)
    check("forgotten: events for them after forget_user were never counted (no profile, no readout row)",
          one(cur, "SELECT count(*) FROM segmentation.profiles WHERE user_id = %s", (FORGET,)) == 0)
    check("audit: one row per call, by the admin, holding no id",
          audit_rows == 2 and one(cur, "SELECT count(*) FROM segmentation.privacy_audit WHERE active_role = 'regress_priv_admin'") >= 2 and not traces(cur, str(FORGET))[0] and
          not any(str(OPTOUT) in str(r) for r in (cur.execute("SELECT * FROM segmentation.privacy_audit") or cur.fetchall())))

    # the opted-out user: counted in their behavior, seen nowhere
    source = one(cur, "SELECT count(*) FROM ev WHERE uid = %s", (OPTOUT,))
    counted = one(cur, "SELECT segmentation.event_count(behavior) FROM segmentation.profiles WHERE user_id = %s", (OPTOUT,))
    check(f"opted out: every event of theirs ({source}) is counted in their behavior", counted == source, (counted, source))
    nowhere = one(cur, """SELECT (SELECT count(*) FROM segmentation.memberships WHERE user_id = %(u)s)
                                + (SELECT count(*) FROM segmentation.membership_history WHERE user_id = %(u)s)
                                + (SELECT count(*) FROM segmentation.transitions WHERE user_id = %(u)s)
                                + (SELECT count(*) FROM segmentation.user_scores WHERE user_id = %(u)s)
                                + (SELECT count(*) FROM segmentation.segment_members('value', 'buyer', false) WHERE member = %(u)s::text)
                                + (SELECT count(*) FROM segmentation.segment_members('value', 'unsegmented', false) WHERE member = %(u)s::text)""",
                  {"u": OPTOUT})
    check("opted out: in no membership, history, transition, user_scores row or member list", nowhere == 0, nowhere)
    found, _ = traces(cur, str(OPTOUT))
    check("opted out: the id is only in profiles, the funnel state and the attributes' copy and rejections (kept for opt_in)",
          [(r, c) for r, c, _ in found] == [("segmentation._funnel_state", "user_id"), ("segmentation.profiles", "user_id"),
                                            ("segmentation.rejected_attributes", "user_id"), ("segmentation.user_attributes", "user_id")], found)
    cur.execute("SELECT segmentation.set_setting('min_cell_size', '0')")
    in_funnel = one(cur, "SELECT users FROM segmentation.funnel_conversion WHERE scheme = 'value' AND segment = '(all)' AND step = 1")
    cur.execute("SELECT segmentation.set_setting('min_cell_size', NULL)")
    with_buy = one(cur, "SELECT count(DISTINCT uid) FROM ev WHERE name = 'view' AND uid NOT IN (%s, %s)", (FORGET, OPTOUT))
    check("funnel_conversion: the forgotten and the opted-out user are not counted", in_funnel == with_buy, (in_funnel, with_buy))
    # the readout counts neither: its (all) rows hold the assigned users but those two
    assigned = one(cur, "SELECT count(DISTINCT uid) FROM ab WHERE uid NOT IN (%s, %s)", (FORGET, OPTOUT))
    cur.execute("SELECT segmentation.set_setting('min_cell_size', '0')")
    in_readout = one(cur, """SELECT sum(users) FROM segmentation.experiment_lift
                             WHERE experiment = 'e' AND scheme = 'value' AND segment = '(all)'""")
    cur.execute("SELECT segmentation.set_setting('min_cell_size', NULL)")
    check("experiment readout: the forgotten and the opted-out user are in no arm", in_readout == assigned, (in_readout, assigned))
    # opt_in: back at the next refresh, from their behavior
    cur.execute("SELECT segmentation.opt_in(%s)", (str(OPTOUT),))
    refresh(cur, False, "2024-02-06")
    check("opted in: in a segment of every scheme again at the next refresh",
          one(cur, "SELECT count(*) FROM segmentation.memberships WHERE user_id = %s", (OPTOUT,)) ==
          one(cur, "SELECT count(DISTINCT scheme) FROM segmentation.segments"))
    refresh(cur, True, "2024-02-06")
    check("opted in: a full refresh agrees",
          one(cur, "SELECT count(*) FROM segmentation.memberships WHERE user_id = %s", (OPTOUT,)) ==
          one(cur, "SELECT count(DISTINCT scheme) FROM segmentation.segments"))

    # no key (its row deleted by the owner): refresh fails, full or
    # incremental; it never tests the users against no key, which would
    # bring the forgotten user back (review of session 32: the joins with
    # the lists did, where the C lookups raised)
    for full in (False, True):
        cur.execute("BEGIN")
        cur.execute("DELETE FROM segmentation._pseudonym_key")
        err = error_of(cur, "SELECT segmentation.refresh(%s, '2024-02-06 12:00')", (full,))
        cur.execute("ROLLBACK")
        check(f"the key deleted: {'a full' if full else 'an incremental'} refresh fails, saying so",
              err is not None and "the pseudonym key is missing" in err[1], err)

    # delete_events: the user's rows in the tracked table go too, as the admin
    victim = VICTIM
    cur.execute("SET ROLE regress_priv_admin")
    deleted = one(cur, "SELECT segmentation.forget_user(%s, delete_events => true)", (str(victim),))
    cur.execute("RESET ROLE")
    refresh(cur, False, "2024-02-07")
    refresh(cur, True, "2024-02-07")
    found, n = traces(cur, str(victim), extra=["ev"])
    check(f"forgotten with delete_events: {deleted} source rows deleted; no column of {n} (ev's included) holds the id",
          deleted == 4 and not found, (deleted, found))


# the reader's surfaces: (name, SQL, index of the cell's users column, the
# columns that must be NULL when suppressed, group key of a row, is it an (all) row)
def surfaces():
    return [
        ("segment_summary", "SELECT * FROM segmentation.segment_summary", 2, [2, 3, 4, 5, 6, 7, 8],
         lambda r: r[0], lambda r: False),
        ("segment_migration", "SELECT * FROM segmentation.segment_migration", 4, [4],
         lambda r: (r[0], r[3]), lambda r: False),
        ("experiment_lift", "SELECT * FROM segmentation.experiment_lift", 4, list(range(4, 27)),
         lambda r: (r[0], r[1], r[3]), lambda r: r[2] == "(all)"),
        ("retention_matrix", "SELECT * FROM segmentation.retention_matrix('day', 'value')", 3, [3, 4, 5],
         lambda r: (r[0], r[2]), lambda r: r[1] == "(all)"),
        ("lifecycle", "SELECT * FROM segmentation.lifecycle('day', 'value')", 3, [3],
         lambda r: (r[0], r[2]), lambda r: r[1] == "(all)"),
        ("stickiness", "SELECT * FROM segmentation.stickiness('week', 'value')", 3, [3],
         lambda r: (r[0], r[2]), lambda r: r[1] == "(all)"),
        ("validate_segments", "SELECT * FROM segmentation.validate_segments('value', '2024-01-20', '7 days')", 1, [1, 2, 3, 4, 5, 6, 7],
         lambda r: (), lambda r: False),
        # (a funnel's cell is a segment's users at step 1: all its steps are suppressed with it)
        ("funnel_conversion", "SELECT * FROM segmentation.funnel_conversion WHERE step = 1 ORDER BY 1, 2, 3", 5, [5, 6, 7, 8],
         lambda r: (r[0], r[1]), lambda r: r[2] == "(all)"),
    ]


def small_cells(cur):
    """Every reader surface, as the reader, against the true counts."""
    for name, sql, ucol, nulls, group, is_all in surfaces():
        cur.execute("SELECT segmentation.set_setting('min_cell_size', '0')")
        cur.execute(sql)
        true_rows = cur.fetchall()
        cur.execute("SELECT segmentation.set_setting('min_cell_size', %s)", (str(K),))
        cur.execute("SET ROLE regress_priv_reader")
        cur.execute(sql)
        rows = cur.fetchall()
        cols = [d.name for d in cur.description]
        cur.execute("RESET ROLE")
        check(f"{name}: the reader gets {len(rows)} rows, with a suppressed column last",
              len(rows) == len(true_rows) > 0 and cols[-1] == "suppressed")
        small = [r for r, t in zip(rows, true_rows) if t[ucol] is not None and t[ucol] < K]
        check(f"{name}: every cell of fewer than {K} users is suppressed ({len(small)} of {len(rows)})",
              all(r[-1] for r in small))
        check(f"{name}: a suppressed row shows no count, rate or mean",
              all(all(r[i] is None for i in nulls) for r in rows if r[-1]))
        # (experiment_lift's targetable_users, the segment's members now, is a
        # cell of its own: NULL when fewer than K, whatever the row)
        last = -2 if name == "experiment_lift" else -1
        # (what pools several rows pools the rows shown only: differencing() checks it)
        pooled = {"experiment_lift": {15, 16, 17, 21, 24}, "validate_segments": {7, 8}}.get(name, set())
        check(f"{name}: a row shown shows the true numbers",
              all([x for i, x in enumerate(r[:last]) if i not in pooled] == [x for i, x in enumerate(t[:last]) if i not in pooled]
                  for r, t in zip(rows, true_rows) if not r[-1]))
        if name == "experiment_lift":
            check("experiment_lift: targetable_users of fewer than K users is NULL",
                  all(r[-2] is None for r, t in zip(rows, true_rows) if t[-2] is not None and t[-2] < K))
            # a variant's lift is computed from its control's numbers: suppressed with it
            # (experiment e2's control arms are half its treatment arms, so some are small alone)
            control = {(r[0], r[1], r[2]): r[-1] for r in rows if r[3] == "control"}
            forced = [r for r in rows if r[3] != "control" and control.get((r[0], r[1], r[2])) and not r[-1]]
            alone = [r for r, t in zip(rows, true_rows)
                     if r[3] == "control" and r[-1] and any(x[3] != "control" and (x[0], x[1], x[2]) == (r[0], r[1], r[2])
                                                            and y[4] >= K for x, y in zip(rows, true_rows))]
            check(f"experiment_lift: a variant's row is suppressed whenever its control's is ({len(alone)} such controls)",
                  not forced and alone, forced[:3])
        # complementary suppression: within a group (whose total is known),
        # the suppressed cells are none, or all, or two or more holding K together
        # (an (all) row is a cell of its group: when it is suppressed too, the
        # group's total is not known)
        groups = {}
        for r, t in zip(rows, true_rows):
            groups.setdefault(group(r), []).append((r[-1], t[ucol]))
        bad = [g for g, cells in groups.items()
               if any(s for s, _ in cells) and not all(s for s, _ in cells)
               and (sum(1 for s, _ in cells if s) < 2 or sum(u for s, u in cells if s) < K)]
        check(f"{name}: no suppressed cell can be found from its group's total ({len(groups)} groups)", not bad, bad[:3])
    cur.execute("SELECT segmentation.set_setting('min_cell_size', NULL)")


# -------------------------------------------------------------------------
# Differencing: what a reader derives from one view (doc/privacy.md, "What
# is guaranteed").  Each check below is the attack, done as the reader, and
# fails when it recovers a suppressed count.

PRIME = (1 << 61) - 1


def determined(equations, known):
    """The unknowns a linear system pins down.  equations: dicts {var: coef},
    each meaning sum(coef * var) = 0; known: the vars the reader sees.  Exact
    reduced row echelon form over GF(2^61 - 1) (coefficients are small
    integers): an unknown is determined when some row of it is that unknown
    alone."""
    pivots = {}
    for eq in equations:
        row = {}
        for v, c in eq.items():
            if v not in known:
                row[v] = (row.get(v, 0) + c) % PRIME
        row = {v: c for v, c in row.items() if c}
        while True:
            hit = next((v for v in row if v in pivots), None)
            if hit is None:
                break
            c = row[hit]
            for v, pc in pivots[hit].items():
                x = (row.get(v, 0) - c * pc) % PRIME
                if x:
                    row[v] = x
                else:
                    row.pop(v, None)
        if not row:
            continue
        piv = min(row, key=repr)
        inv = pow(row[piv], PRIME - 2, PRIME)
        row = {v: c * inv % PRIME for v, c in row.items()}
        for prow in pivots.values():
            if piv in prow:
                c = prow[piv]
                for v, rc in row.items():
                    x = (prow.get(v, 0) - c * rc) % PRIME
                    if x:
                        prow[v] = x
                    else:
                        prow.pop(v, None)
        pivots[piv] = row
    return {v for v, row in pivots.items() if len(row) == 1}


def as_reader(cur, sql, args=None):
    cur.execute("SET ROLE regress_priv_reader")
    cur.execute(sql, args)
    rows = cur.fetchall()
    cur.execute("RESET ROLE")
    return rows


def truth(cur, sql, args=None):
    cur.execute("SELECT segmentation.set_setting('min_cell_size', '0')")
    cur.execute(sql, args)
    rows = cur.fetchall()
    cur.execute("SELECT segmentation.set_setting('min_cell_size', %s)", (str(K),))
    return rows


def linear_attack(cur, name, sql, key, ucol, identities):
    """As the reader: every exact sum identity of the view (identities(cells)
    gives them as equations over cell keys and unknown totals), the cells
    shown substituted: is a suppressed cell, or an unlisted remainder of
    1 to K - 1 users, determined?"""
    rows = as_reader(cur, sql)
    true_rows = {key(r): r[ucol] for r in truth(cur, sql)}
    cells = {key(r): (r[ucol] if not r[-1] else None) for r in rows}
    known = {k for k, v in cells.items() if v is not None}
    eqs, remainders = identities(cells)
    found = determined(eqs, known)
    leaked = sorted((k, true_rows[k]) for k in found if k in cells and k not in known)
    leaked += sorted((k, remainders[k]) for k in found if k in remainders and 0 < remainders[k] < K)
    suppressed = sum(1 for v in cells.values() if v is None)
    check(f"{name}: no suppressed cell follows from the view's sum identities ({len(eqs)} identities, "
          f"{suppressed} suppressed of {len(cells)})", not leaked and suppressed > 0, leaked[:4])


def lifecycle_identities(period):
    step = {"day": 1, "week": 7}[period]

    def identities(cells):
        eqs = []
        groups = {}
        for (p, seg, st) in cells:
            if seg != "(all)":
                groups.setdefault((p, st), []).append((p, seg, st))
        for (p, st), members in groups.items():
            eq = {m: 1 for m in members}
            eq[(p, "(all)", st)] = -1
            eqs.append(eq)
        # users active in a period are returning or dormant in the next:
        # new + returning + resurrecting (t - 1) = returning + dormant (t)
        periods = sorted({p for p, _, _ in cells})
        import datetime
        t = periods[0]
        while t <= periods[-1]:
            prev = t - datetime.timedelta(days=step)
            eq = {}
            for st in ("new", "returning", "resurrecting"):
                eq[(prev, "(all)", st)] = 1
            eq[(t, "(all)", "returning")] = eq.get((t, "(all)", "returning"), 0) - 1
            eq[(t, "(all)", "dormant")] = -1
            # a cell with no row holds 0 users: known
            eqs.append({k: c for k, c in eq.items() if k in cells})
            t += datetime.timedelta(days=step)
        return eqs, {}
    return identities


def all_rows_identities(group_of, all_of):
    """Cells whose group adds up to an (all) cell (group_of(cell) -> group,
    all_of(group) -> the (all) cell's key)."""
    def identities(cells):
        groups = {}
        for k in cells:
            g = group_of(k)
            if g is not None:
                groups.setdefault(g, []).append(k)
        eqs = []
        for g, members in groups.items():
            eq = {m: 1 for m in members}
            eq[all_of(g)] = -1
            eqs.append(eq)
        return eqs, {}
    return identities


def summary_identities(cells):
    # every user is in every scheme: the segments of each scheme add up to one total
    eqs = {}
    for (scheme, seg) in cells:
        eqs.setdefault(scheme, {("total",): -1})[(scheme, seg)] = 1
    return list(eqs.values()), {}


def migration_identities(cells):
    # a new user makes a (new) move in every scheme, a gone user a (gone) move:
    # per day, the (new) moves of each scheme add up to one number, the (gone) ones too
    eqs = {}
    for (scheme, frm, to, day) in cells:
        if frm == "(new)":
            eqs.setdefault((scheme, day, "new"), {("new", day): -1})[(scheme, frm, to, day)] = 1
        if to == "(gone)":
            eqs.setdefault((scheme, day, "gone"), {("gone", day): -1})[(scheme, frm, to, day)] = 1
    return list(eqs.values()), {}


def differencing(cur):
    """The sixth review's three open paths, and the other derivations from one
    view, each performed as the reader."""
    # 1. sum identities of each view, linear algebra on what is shown
    linear_attack(cur, "segment_summary", "SELECT * FROM segmentation.segment_summary",
                  lambda r: (r[0], r[1]), 2, summary_identities)
    linear_attack(cur, "segment_migration", "SELECT * FROM segmentation.segment_migration",
                  lambda r: (r[0], r[1], r[2], r[3]), 4, migration_identities)
    linear_attack(cur, "lifecycle (day)", "SELECT * FROM segmentation.lifecycle('day', 'value')",
                  lambda r: (r[0], r[1], r[2]), 3, lifecycle_identities("day"))
    linear_attack(cur, "lifecycle (week)", "SELECT * FROM segmentation.lifecycle('week', 'activity')",
                  lambda r: (r[0], r[1], r[2]), 3, lifecycle_identities("week"))
    linear_attack(cur, "lifecycle (day, no scheme)", "SELECT * FROM segmentation.lifecycle('day')",
                  lambda r: (r[0], r[1], r[2]), 3, lifecycle_identities("day"))
    linear_attack(cur, "stickiness", "SELECT * FROM segmentation.stickiness('week', 'value')",
                  lambda r: (r[0], r[1], r[2]), 3,
                  all_rows_identities(lambda k: (k[0], k[2]) if k[1] != "(all)" else None,
                                      lambda g: (g[0], "(all)", g[1])))
    linear_attack(cur, "retention_matrix", "SELECT DISTINCT cohort, segment, cohort_users, suppressed FROM segmentation.retention_matrix('day', 'value')",
                  lambda r: (r[0], r[1]), 2,
                  all_rows_identities(lambda k: k[0] if k[1] != "(all)" else None, lambda g: (g, "(all)")))
    linear_attack(cur, "experiment_lift (arms)", "SELECT * FROM segmentation.experiment_lift",
                  lambda r: (r[0], r[1], r[2], r[3]), 4,
                  lambda cells: (all_rows_identities(lambda k: (k[0], k[1], k[3]) if k[2] != "(all)" else None,
                                                     lambda g: (g[0], g[1], "(all)", g[2]))(cells)[0]
                                 # the (all) arm is the same users in every scheme
                                 + [{k: 1, ("all", k[0], k[3]): -1} for k in cells if k[2] == "(all)"]
                                 # and value's rare is copy's rare too
                                 + [{k: 1, (k[0], "copy", "rare too", k[3]): -1} for k in cells
                                    if k[1:3] == ("value", "rare") and (k[0], "copy", "rare too", k[3]) in cells], {}))

    # experiment_lift.targetable_users: the segments listed, the (all) row, and
    # what the listed ones leave out (the segments nobody was assigned in)
    rows = as_reader(cur, "SELECT experiment, scheme, segment, targetable_users FROM segmentation.experiment_lift")
    true_t = {}
    for e, s, seg, t in truth(cur, "SELECT DISTINCT experiment, scheme, segment, targetable_users FROM segmentation.experiment_lift"):
        true_t[(e, s, seg)] = t
    cells = {(e, s, seg): t for e, s, seg, t in rows if seg != "(unknown)"}
    eqs, rest = {}, {}
    for (e, s, seg) in cells:
        if seg != "(all)":
            eqs.setdefault((e, s), {(e, s, "(all)"): -1, ("rest", e, s): 1})[(e, s, seg)] = 1
    # (value's rare is copy's rare too; rest: the members of the segments not listed)
    eqs = list(eqs.values()) + [{(e, "value", "rare"): 1, (e, "copy", "rare too"): -1} for e in {k[0] for k in cells}
                                if (e, "value", "rare") in cells and (e, "copy", "rare too") in cells]
    for (e, s) in {k[:2] for k in cells}:
        rest[("rest", e, s)] = true_t[(e, s, "(all)")] - sum(true_t[k] for k in cells if k[:2] == (e, s) and k[2] != "(all)")
    known = {k for k, v in cells.items() if v is not None}
    found = determined(eqs, known)
    leaked = [(k, true_t[k]) for k in found if k in cells] + [(k, rest[k]) for k in found if k in rest and 0 < rest[k] < K]
    check("experiment_lift: targetable_users of no segment, nor the users of the segments it does not list, "
          f"follow from the (all) row ({len(rest)} groups)", not leaked, leaked[:4])

    # 2. srm_p_value on a row shown, computed from every arm of the segment: try
    # arm sizes in the public srm_test until it gives the p-value shown
    rows = as_reader(cur, """SELECT experiment, scheme, segment, variant, users, srm_p_value FROM segmentation.experiment_lift
                             ORDER BY experiment, scheme, segment, variant""")
    true_n = {(r[0], r[1], r[2], r[3]): r[4] for r in truth(cur, "SELECT * FROM segmentation.experiment_lift")}
    variants = {}
    for e, s, seg, v, n, p in rows:
        variants.setdefault(e, set()).add(v)
    groups = {}
    for e, s, seg, v, n, p in rows:
        groups.setdefault((e, s, seg), []).append((v, n, p))
    tried, recovered = 0, []
    for (e, s, seg), arms in groups.items():
        p = next((p for _, _, p in arms if p is not None), None)
        hidden = [v for v, n, _ in arms if n is None]
        if p is None or len(hidden) != 1:
            continue
        tried += 1
        order = sorted(variants[e])
        sizes = {v: n for v, n, _ in arms}
        counts = ", ".join("n" if v == hidden[0] else str(sizes.get(v) or 0) for v in order)
        cur.execute("SET ROLE regress_priv_reader")
        cur.execute(f"""SELECT n FROM generate_series(0, 5000) n
                        WHERE segmentation.srm_test(ARRAY[{counts}]::bigint[], array_fill(1.0::float8, ARRAY[{len(order)}])) = %s""", (p,))
        found = [x for (x,) in cur.fetchall()]
        cur.execute("RESET ROLE")
        if found == [true_n[(e, s, seg, hidden[0])]]:
            recovered.append(((e, s, seg, hidden[0]), found[0]))
    check(f"experiment_lift: srm_p_value gives no suppressed arm's size ({tried} segments tried)",
          not recovered, recovered[:4])

    # 3. statistics pooled over a group show nothing of a suppressed cell: the
    # heterogeneity p-value pools the segments of a variant, the q-values the
    # p-values of an experiment and scheme (a double-precision p-value of a few
    # small counts pins them down, as srm_p_value did above)
    cur.execute("SET ROLE regress_priv_reader")
    cur.execute("SELECT * FROM segmentation.experiment_lift")
    cols = [d.name for d in cur.description]
    lift = [dict(zip(cols, r)) for r in cur.fetchall()]
    cur.execute("RESET ROLE")
    controls = {r["experiment"]: "control" for r in lift}
    bad = []
    for r in lift:
        if r["heterogeneity_p_value"] is None:
            continue
        pooled = [x for x in lift if (x["experiment"], x["scheme"], x["variant"]) == (r["experiment"], r["scheme"], r["variant"])
                  and x["segment"] not in ("(all)", "(unknown)")]
        shown = [x for x in pooled if not x["suppressed"]]
        cur.execute("SELECT segmentation.cochran_q_test(%s::float8[], %s::float8[])",
                    ([x["abs_lift"] for x in shown],
                     [x["control_rate"] * (1 - x["control_rate"]) / next(y["users"] for y in lift if (y["experiment"], y["scheme"], y["segment"], y["variant"]) == (x["experiment"], x["scheme"], x["segment"], controls[x["experiment"]]))
                      + x["conversion_rate"] * (1 - x["conversion_rate"]) / x["users"] for x in shown]))
        want = cur.fetchone()[0]
        if want is None or abs(want - r["heterogeneity_p_value"]) > 1e-9:
            bad.append((r["experiment"], r["scheme"], r["segment"], r["variant"], r["heterogeneity_p_value"], want))
    check("experiment_lift: heterogeneity_p_value pools the segments shown only", not bad, bad[:3])
    bad = []
    for col, pcol in (("q_value", "p_value"), ("revenue_q_value", "revenue_p_value")):
        fams = {}
        for r in lift:
            if r["segment"] != "(all)" and r["variant"] != controls[r["experiment"]] and not r["suppressed"]:
                fams.setdefault((r["experiment"], r["scheme"]), []).append(r)
        for fam in fams.values():
            fam.sort(key=lambda x: (x["segment"], x["variant"]))
            cur.execute("SELECT segmentation.bh_adjust(%s::float8[])", ([x[pcol] for x in fam],))
            want = cur.fetchone()[0]
            bad += [(x["experiment"], x["scheme"], x["segment"], col, x[col], w) for x, w in zip(fam, want)
                    if (x[col] is None) != (w is None) or (w is not None and abs(x[col] - w) > 1e-12)]
        bad += [(r["experiment"], r["segment"], col) for r in lift if r["suppressed"] and r[col] is not None]
    check("experiment_lift: q_value and revenue_q_value adjust the p-values shown only", not bad, bad[:3])
    bad = [(r["experiment"], r["scheme"], r["segment"]) for r in lift if r["srm_p_value"] is not None
           and any(x["suppressed"] for x in lift if (x["experiment"], x["scheme"], x["segment"]) == (r["experiment"], r["scheme"], r["segment"]))]
    check("experiment_lift: srm_p_value only where every arm of the segment is shown", not bad, bad[:3])

    # validate_segments: homogeneity_p and q_vs_rest from the segments shown only
    sql = "SELECT * FROM segmentation.validate_segments('value', '2024-01-20', '7 days')"
    rows = as_reader(cur, sql)
    shown = [r for r in rows if not r[-1]]
    cur.execute("SELECT segmentation.bh_adjust(%s::float8[])", ([r[6] for r in shown],))
    want_q = cur.fetchone()[0]
    cur.execute("SELECT segmentation._chi2_homogeneity(%s::bigint[], %s::bigint[])", ([r[2] for r in shown], [r[1] for r in shown]))
    want_h = cur.fetchone()[0]
    check(f"validate_segments: homogeneity_p and q_vs_rest from the segments shown only ({len(rows) - len(shown)} suppressed)",
          len(shown) < len(rows) and all(r[8] == want_h for r in rows)
          and all(abs(r[7] - w) < 1e-12 for r, w in zip(shown, want_q)), (rows, want_h, want_q))


def two_segments(cur):
    """Schemes whose arms are groups of two cells: 'pair' (top, and a
    catch-all rest) and 'lone' (spender and unsegmented), each with a few
    (unknown) users in experiment e5.  Where one cell of a group is
    suppressed and its (all) row shown, the (all) row less the cell shown
    would be the suppressed one: so the other is suppressed too.  The setup
    must make such cells (checked first), or the attacks find nothing
    because there is nothing to find."""
    true_rows = truth(cur, "SELECT * FROM segmentation.experiment_lift")
    shown_all = {r[:4] for r in as_reader(cur, "SELECT * FROM segmentation.experiment_lift WHERE segment = '(all)'") if not r[-1]}
    unknown = [r[:5] for r in true_rows if r[1] in ("pair", "lone") and r[2] == "(unknown)"]
    check(f"two segments: (unknown) arms of fewer than {K} users, in both schemes ({len(unknown)})",
          {r[1] for r in unknown} == {"pair", "lone"} and all(0 < r[4] < K for r in unknown), unknown)
    for scheme in ("pair", "lone"):
        small = [r[:4] for r in true_rows if r[1] == scheme and r[2] not in ("(all)", "(unknown)") and 0 < r[4] < K
                 and (r[0], r[1], "(all)", r[3]) in shown_all]
        check(f"two segments: some arm of a segment of {scheme} holds fewer than {K} users, its (all) row shown ({len(small)})",
              small)

    def arms(cells):
        eqs, _ = all_rows_identities(lambda k: (k[0], k[1], k[3]) if k[2] != "(all)" else None,
                                     lambda g: (g[0], g[1], "(all)", g[2]))(cells)
        # the (all) and (unknown) arms are the same users in both schemes
        return eqs + [{k: 1, (k[2], k[0], k[3]): -1} for k in cells if k[2] in ("(all)", "(unknown)")], {}
    linear_attack(cur, "two segments: experiment_lift",
                  "SELECT * FROM segmentation.experiment_lift WHERE scheme IN ('pair', 'lone')",
                  lambda r: (r[0], r[1], r[2], r[3]), 4, arms)
    for scheme in ("pair", "lone"):
        for name, sql, key, ucol, group, all_of in [
                ("lifecycle", f"SELECT * FROM segmentation.lifecycle('day', '{scheme}')",
                 lambda r: (r[0], r[1], r[2]), 3, lambda k: (k[0], k[2]), lambda g: (g[0], "(all)", g[1])),
                ("stickiness", f"SELECT * FROM segmentation.stickiness('week', '{scheme}')",
                 lambda r: (r[0], r[1], r[2]), 3, lambda k: (k[0], k[2]), lambda g: (g[0], "(all)", g[1])),
                ("retention_matrix", f"SELECT DISTINCT cohort, segment, cohort_users, suppressed FROM segmentation.retention_matrix('day', '{scheme}')",
                 lambda r: (r[0], r[1]), 2, lambda k: k[0], lambda g: (g, "(all)"))]:
            linear_attack(cur, f"two segments: {name} ({scheme})", sql, key, ucol,
                          all_rows_identities(lambda k, group=group: group(k) if "(all)" not in k else None, all_of))


def overlapping_schemes(cur):
    """Two schemes whose segments differ by a few users: the difference of the
    two counts, and of their sums of scores, is those users' (open path three
    of the sixth review).  An admin defines a scheme 'spend' whose 'big'
    segment is activity's 'busy' and the few users of the highest spending
    among the others."""
    cur.execute("SELECT max(monetary) FROM segmentation.user_scores WHERE frequency < 7")
    edge = cur.fetchone()[0]
    cur.execute("""SELECT count(*), avg(monetary) FROM segmentation.user_scores
                   WHERE frequency < 7 AND monetary >= %s""", (edge,))
    few, mean_monetary = cur.fetchone()
    cur.execute("SET ROLE regress_priv_admin")
    cur.execute("SELECT segmentation.define_segment('spend', 'big', %s)", (f"frequency >= 7 OR monetary >= {edge}",))
    cur.execute("RESET ROLE")
    refresh(cur, False, "2024-01-31")
    rows = as_reader(cur, "SELECT scheme, segment, users, mean_monetary, suppressed FROM segmentation.segment_summary")
    cell = {(r[0], r[1]): r for r in rows}
    busy, big = cell.get(("activity", "busy")), cell.get(("spend", "big"))
    derived = None
    if busy and big and busy[2] is not None and big[2] is not None:
        n = big[2] - busy[2]
        derived = (n, (big[2] * big[3] - busy[2] * busy[3]) / n if n else None)
    check(f"two schemes: activity's busy and spend's big, {few} user(s) apart, do not give those users' count and mean monetary",
          0 < few < K and not (derived and derived[0] == few and abs(derived[1] - float(mean_monetary)) < 1e-6),
          (few, derived, float(mean_monetary)))
    # every pair of segments shown, in two schemes: apart by K users or more,
    # and so is one from the other's complement (the scheme's total minus it)
    cur.execute("""WITH m AS (SELECT scheme, segment, user_id FROM segmentation.memberships),
                        n AS (SELECT count(DISTINCT user_id) AS n FROM m)
                   SELECT a.scheme, a.segment, b.scheme, b.segment,
                          (SELECT count(*) FROM ((SELECT user_id FROM m WHERE (scheme, segment) = (a.scheme, a.segment)
                                                  EXCEPT SELECT user_id FROM m WHERE (scheme, segment) = (b.scheme, b.segment))
                                                 UNION ALL (SELECT user_id FROM m WHERE (scheme, segment) = (b.scheme, b.segment)
                                                  EXCEPT SELECT user_id FROM m WHERE (scheme, segment) = (a.scheme, a.segment))) d) AS apart,
                          (SELECT n FROM n) AS total
                   FROM (SELECT DISTINCT scheme, segment FROM m) a, (SELECT DISTINCT scheme, segment FROM m) b
                   WHERE a.scheme < b.scheme""")
    close = [(a, s, b, t, d, total - d) for a, s, b, t, d, total in cur.fetchall()
             if not cell[(a, s)][-1] and not cell[(b, t)][-1] and (0 < d < K or 0 < total - d < K)]
    check(f"two schemes: no two segments shown are fewer than {K} users apart (nor one from the other's complement)",
          not close, close[:3])

    # copy's rare too is value's rare, which is suppressed with value's 3
    # whales: the same users are the same count, so one shown gives the
    # other, and with value's total the whales
    cur.execute("""WITH m AS (SELECT scheme, segment, array_agg(user_id ORDER BY user_id) AS members FROM segmentation.memberships GROUP BY 1, 2)
                   SELECT a.scheme, a.segment, b.scheme, b.segment FROM m a JOIN m b ON a.scheme < b.scheme AND a.members = b.members""")
    same = cur.fetchall()

    def identities(cells):
        eqs, _ = summary_identities(cells)
        return eqs + [{(a, s): 1, (b, t): -1} for a, s, b, t in same], {}
    linear_attack(cur, f"segment_summary, with {len(same)} segment(s) the same in two schemes",
                  "SELECT * FROM segmentation.segment_summary", lambda r: (r[0], r[1]), 2, identities)
    rows = as_reader(cur, "SELECT scheme, segment, suppressed FROM segmentation.segment_summary")
    cell = {(r[0], r[1]): r[2] for r in rows}
    check("two schemes: segments of the same users are suppressed alike",
          same and all(cell[(a, s)] == cell[(b, t)] for a, s, b, t in same), (same, cell))


# _suppress_schemes as it was before review 9 (R9-1): every pair of segments
# of two schemes compared, from a self-join of the combinations on every pair
# of schemes (combinations x S(S-1)/2 rows).  The reference of the property
# check: the function now compares only the pairs whose sizes allow them to
# be close, and must decide the same wherever it stays under its budget.
REFERENCE_SUPPRESS_SCHEMES = r"""
CREATE FUNCTION pg_temp.reference_suppress_schemes(combos jsonb[], users bigint[], forced_schemes text[], forced_segments text[], k int)
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
"""


def random_combinations(rnd, big=False):
    """Arguments of _suppress_schemes: users per combination of segments of
    schemes that mostly copy each other (so that many pairs are near), with
    now and then a combination without some scheme, a NULL segment, a NULL
    or negative count, an entry that is no object, forced segments."""
    atoms = rnd.randint(50, 200) if big else rnd.randint(1, 40)
    weights = [rnd.choice([0, 1, 1, 2, 3, 5, 8, 13, rnd.randint(0, 60)]) for _ in range(atoms)]
    maps = []
    for _ in range(rnd.randint(6, 14) if big else rnd.randint(1, 6)):
        nseg = rnd.randint(1, 5)
        if maps and rnd.random() < 0.6:
            maps.append([x if rnd.random() < 0.85 else rnd.randrange(nseg) for x in rnd.choice(maps)])
        else:
            maps.append([rnd.randrange(nseg) for _ in range(atoms)])
    names = [rnd.choice(["s", "S", "é", "b"]) + str(j) for j in range(len(maps))]
    incomplete = rnd.random() < 0.25
    combos, users = [], []
    for a in range(atoms):
        c = {names[j]: (None if rnd.random() < 0.03 else f"g{m[a]}") for j, m in enumerate(maps)
             if not (incomplete and rnd.random() < 0.15)}
        r = rnd.random()
        combos.append(None if r < 0.01 else "[1]" if r < 0.02 else json.dumps(c))
        r = rnd.random()
        users.append(None if r < 0.03 else -weights[a] if r < 0.04 else weights[a])
    forced = ([rnd.choice(names) for _ in range(3)], [f"g{rnd.randrange(3)}" for _ in range(3)]) if rnd.random() < 0.3 else (None, None)
    return combos, users, forced[0], forced[1], rnd.choice([0, 1, 2, 3, 5, 10, 10, 10, 20])


def suppress_schemes_property(cur):
    """_suppress_schemes decides exactly as the exhaustive reference on random
    inputs (review 9, R9-1: only the pairs of sizes that allow it are compared)."""
    cur.execute(REFERENCE_SUPPRESS_SCHEMES)
    bad, cases = [], 0
    for seed in range(600):
        rnd = random.Random(seed)
        args = random_combinations(rnd, big=seed % 20 == 0)
        got, want = [], []
        for fn, rows in (("segmentation._suppress_schemes", got), ("pg_temp.reference_suppress_schemes", want)):
            cur.execute(f"SELECT * FROM {fn}(%s::jsonb[], %s::bigint[], %s::text[], %s::text[], %s)", args)
            rows.extend(cur.fetchall())
        cases += 1
        if got != want:
            bad.append((seed, got, want))
    check(f"_suppress_schemes: the same segments suppressed as the exhaustive reference on {cases} random inputs",
          not bad, bad[:1])


def many_schemes():
    """Review 9, R9-1: S schemes, each one segment of about half of 500 users
    (a different half in each), made every read of segment_summary compare
    every combination of segments on every pair of schemes (600 schemes:
    about 50 s per read).  Now the read stays far inside a 20 s timeout:
    every pair of segments is a candidate (their sizes are all near 250),
    more than the budget, so every segment with a candidate is suppressed.
    Checked against the members: no two segments shown are near."""
    db = "segmentation_privacy_schemes"
    conn, cur = fresh_database(db)
    cur.execute("""SET client_min_messages = warning;
        CREATE TABLE ev (uid bigint, at timestamptz, name text, amount float8);
        GRANT SELECT, TRIGGER ON ev TO regress_priv_admin;
        INSERT INTO ev SELECT u, '2024-04-01'::timestamptz + (u % 500) * interval '1 hour', 'view', u FROM generate_series(1, 500) u;
        SET ROLE regress_priv_admin;
        SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
        SELECT count(segmentation.define_segment('s' || i, 'a', format('(monetary::bigint * %s) %% 9973 < 4987', 2 * i + 1)))
        FROM generate_series(1, 600) i;
        RESET ROLE""")
    refresh(cur, True, "2024-05-02")
    cur.execute("SET ROLE regress_priv_reader; SET statement_timeout = '20s'")
    t0 = time.monotonic()
    err, rows = None, []
    try:
        cur.execute("SELECT scheme, segment, users, suppressed FROM segmentation.segment_summary")
        rows = cur.fetchall()
    except psycopg2.Error as e:
        err = (e.pgcode, e.pgerror.splitlines()[0] if e.pgerror else "")
    took = time.monotonic() - t0
    cur.execute("RESET statement_timeout; RESET ROLE")
    cur.execute("SELECT scheme, segment, array_agg(user_id) FROM segmentation.memberships GROUP BY 1, 2")
    members = {(a, s): sum(1 << int(u) for u in us) for a, s, us in cur.fetchall()}
    check(f"600 schemes over 500 users, each splitting them in half: segment_summary read as the reader in {took:.1f} s, "
          "inside a 20 s statement_timeout", err is None and {(r[0], r[1]) for r in rows} == set(members), (err, len(rows)))
    total = 500
    shown = {(r[0], r[1]) for r in rows if not r[3]}
    size = {key: m.bit_count() for key, m in members.items()}
    # every segment with a segment of another scheme of a size within K - 1
    # of its own, or of the rest of its scheme, is suppressed (the fallback)
    keys = sorted(members)
    candidates = {x for x in keys if any(y[0] != x[0] and (abs(size[x] - size[y]) < K or abs(size[x] + size[y] - total) < K)
                                         for y in keys)}
    check(f"600 schemes: past the budget, every segment with a candidate pair is suppressed ({len(candidates)} of {len(keys)})",
          rows and candidates and not shown & candidates, sorted(shown & candidates)[:3])
    # and the guarantee: a segment shown is K or more users apart from every
    # segment of another scheme and from the rest of its scheme, or the same
    # users as one shown too
    bad = []
    for x in shown:
        for y in keys:
            apart = (members[x] ^ members[y]).bit_count()
            if y[0] != x[0] and (0 < apart < K or 0 < total - apart < K or ((apart <= 0 or total - apart <= 0) and y not in shown)):
                bad.append((x, y, apart))
    check(f"600 schemes: no segment shown ({len(shown)}) is fewer than {K} users apart from one of another scheme, "
          "nor from the rest of its scheme", rows and not bad, bad[:3])
    conn.close()
    drop_database(db)


def dump_and_restore(cur):
    """The key is dumped as configuration: a restored database keeps the
    pseudonyms, and forgotten users stay forgotten."""
    cur.execute("SELECT member FROM segmentation.segment_members('value', 'regular') ORDER BY 1")
    before = cur.fetchall()
    binary = os.path.join(os.environ["PGBIN"], "pg_dump") if os.environ.get("PGBIN") else "pg_dump"
    restore = os.path.join(os.environ["PGBIN"], "pg_restore") if os.environ.get("PGBIN") else "pg_restore"
    dump = subprocess.run([binary, "-Fc", DB], check=True, capture_output=True).stdout
    rconn, rcur = fresh_database(DB + "_restored", extension=False)
    r = subprocess.run([restore, "--exit-on-error", "-d", DB + "_restored"], input=dump, capture_output=True)
    check("pg_dump | pg_restore succeeds", r.returncode == 0, r.stderr.decode()[-2000:])
    rcur.execute("SET TIME ZONE 'UTC'")
    check("restored: two keys (the install's and the dumped one), the dumped one, older, in force",
          one(rcur, "SELECT count(*) FROM segmentation._pseudonym_key") == 2)
    rcur.execute("SELECT member FROM segmentation.segment_members('value', 'regular') ORDER BY 1")
    check("restored: the same pseudonyms", rcur.fetchall() == before and before)
    rcur.execute("INSERT INTO ev VALUES (%s, '2024-02-08', 'buy', 1)", (FORGET,))
    refresh(rcur, True, "2024-02-09")
    found, n = traces(rcur, str(FORGET))
    check(f"restored: after new events and a full refresh, the forgotten user is in none of {n} columns", not found, found)
    rconn.close()
    drop_database(DB + "_restored")


def sixth_review():
    """The sixth review's findings: an admin learned who was forgotten from
    opt_out's error; an id with no UTF-8 form (SQL_ASCII, WIN1252) stopped
    every refresh once anyone was forgotten; a case-insensitive user column
    let a forgotten user back under another spelling."""
    for enc, bad in [("SQL_ASCII", "\\xff"), ("WIN1252", "\\x81")]:
        db = "segmentation_privacy_" + enc.lower()
        admin = connect("postgres")
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
        admin.cursor().execute(f"CREATE DATABASE {db} ENCODING '{enc}' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
        admin.close()
        c = connect(db)
        cur = c.cursor()
        cur.execute(f"""CREATE EXTENSION segmentation;
            CREATE TABLE ev_t (uid text, ts timestamptz, ev text, amount float8);
            SELECT segmentation.track('ev_t', 'uid', 'ts', 'ev', 'amount');
            INSERT INTO ev_t SELECT 'user' || u, '2024-04-01'::timestamptz + u * interval '1 hour', 'view', 1 FROM generate_series(1, 20) u;
            SELECT segmentation.refresh(true, '2024-05-01');
            INSERT INTO ev_t VALUES (convert_from('{bad}'::bytea, '{enc}'), '2024-04-03', 'view', 1);
            SELECT segmentation.forget_user('user3')""")
        errs = [error_of(cur, "SELECT segmentation.refresh(false, '2024-05-02')"),
                error_of(cur, "SELECT segmentation.refresh(true, '2024-05-02')"),
                error_of(cur, f"SELECT segmentation.forget_user(convert_from('{bad}'::bytea, '{enc}'))")]
        check(f"{enc}: an id with no UTF-8 form neither stops refresh nor escapes forget_user",
              errs == [None, None, None] and one(cur, "SELECT count(*) FROM segmentation.profiles") == 19, errs)
        c.close()
        drop_database(db)
    c = connect(DB)
    cur = c.cursor()
    cur.execute("SET ROLE regress_priv_admin")
    err = error_of(cur, "SELECT segmentation.opt_out(%s)", (str(FORGET),))
    check("admin: opt_out of a forgotten id says nothing of it (no error)", err is None, err)
    cur.execute("RESET ROLE")
    c.close()
    db = "segmentation_privacy_ci"
    admin = connect("postgres")
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
    admin.cursor().execute(f"CREATE DATABASE {db} ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
    admin.close()
    c = connect(db)
    cur = c.cursor()
    cur.execute("""CREATE EXTENSION segmentation;
                   CREATE COLLATION public.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
                   CREATE TABLE ev_ci (uid text COLLATE public.ci, at timestamptz, name text, amount numeric)""")
    err = error_of(cur, "SELECT segmentation.track('ev_ci', 'uid', 'at', 'name', 'amount')")
    check("a user column with a nondeterministic collation is refused (bob and BOB would be one user)",
          err is not None and "nondeterministic collation" in err[1], err)
    c.close()
    drop_database(db)


def main():
    conn, cur = fresh_database(DB)
    cur.execute(SETUP)
    rnd = random.Random(11)
    load(cur, rnd, 400, 28)
    cur.execute("""INSERT INTO ab SELECT u, CASE WHEN u %% 2 = 0 THEN 'control' ELSE 'treatment' END, '2024-01-10'::timestamptz
                   FROM generate_series(1, 300) u UNION ALL SELECT %s, 'control', '2024-01-10' UNION ALL SELECT %s, 'treatment', '2024-01-10'""",
                (FORGET, OPTOUT))
    cur.execute("""CREATE TABLE ab2 AS SELECT uid, CASE WHEN uid % 3 = 0 THEN 'control' ELSE 'treatment' END AS variant, at FROM ab;
                   GRANT SELECT ON ab2 TO regress_priv_admin;
                   -- one treatment user in twelve: its arms are small where the control's are not
                   CREATE TABLE ab3 AS SELECT uid, CASE WHEN uid % 12 = 0 THEN 'treatment' ELSE 'control' END AS variant, at FROM ab;
                   GRANT SELECT ON ab3 TO regress_priv_admin""")
    cur.execute("SET ROLE regress_priv_admin")
    cur.execute("""SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
                   SELECT segmentation.define_feature('buy', '{buy}');
                   SELECT segmentation.define_feature('view', '{view}');
                   SELECT segmentation.define_funnel('view_buy', '{view,buy}', '7 days');
                   SELECT segmentation.define_segment('value', 'buyer', $$'buy' = ANY (features_used) AND frequency >= 8$$, 30);
                   SELECT segmentation.define_segment('value', 'whale', 'monetary >= 150', 40);
                   SELECT segmentation.define_segment('value', 'regular', 'frequency >= 5', 20);
                   SELECT segmentation.define_segment('value', 'rare', 'frequency = 1', 10);
                   SELECT segmentation.define_segment('activity', 'busy', 'frequency >= 7', 20);
                   SELECT segmentation.define_segment('activity', 'quiet', 'frequency <= 2', 10);
                   -- a segment the same in two schemes: value's rare
                   SELECT segmentation.define_segment('copy', 'rare too', 'frequency = 1');
                   -- a scheme of two segments (a few big spenders and everyone
                   -- else), and one of a segment and unsegmented: a group of
                   -- two cells, where the (all) row less one gives the other
                   SELECT segmentation.define_segment('pair', 'top', 'monetary >= 100', 20);
                   SELECT segmentation.define_segment('pair', 'rest', 'true', 10);
                   SELECT segmentation.define_segment('lone', 'spender', 'monetary >= 80');
                   -- (no scheme reads them: the suppression suites below count the schemes' cells)
                   SELECT segmentation.track_users('attrs', 'uid');""")
    cur.execute("RESET ROLE")
    for day in ["2024-01-05", "2024-01-12", "2024-01-20"]:
        refresh(cur, False, day)
    # before the last: 35 new users (buyers and busy, regular, quiet, and 3 rare),
    # and 9 users of 4 events who become regular with a fifth: the moves of a day
    # in two schemes, whose new users are the same
    cur.execute("""INSERT INTO ev SELECT 2000 + u, '2024-01-25'::timestamptz + e * interval '1 minute',
                                         CASE WHEN u <= 12 THEN 'buy' ELSE 'view' END, NULL
                   FROM generate_series(1, 35) u,
                        generate_series(1, CASE WHEN u <= 12 THEN 9 WHEN u <= 22 THEN 5 WHEN u <= 32 THEN 2 ELSE 1 END) e;
                   INSERT INTO ev SELECT uid, '2024-01-28', 'view', NULL FROM ev WHERE uid < 1000
                   GROUP BY uid HAVING count(*) = 4 AND coalesce(sum(amount), 0) < 150 ORDER BY uid LIMIT 9""")
    refresh(cur, False, "2024-01-29")
    # an experiment that assigned no whale: its readout lists value's other
    # segments, whose members now, with the (all) row's, leave the whales'
    cur.execute("""CREATE TABLE ab4 AS SELECT * FROM ab WHERE uid NOT IN
                     (SELECT user_id FROM segmentation.memberships WHERE scheme = 'value' AND segment = 'whale');
                   GRANT SELECT ON ab4 TO regress_priv_admin;
                   -- one user in twenty assigned before the first refresh, in
                   -- no segment yet: a few (unknown) users per arm, the same in
                   -- every scheme
                   CREATE TABLE ab5 AS SELECT uid, variant, CASE WHEN uid % 40 IN (0, 1) THEN '2024-01-02' ELSE at END AS at FROM ab;
                   GRANT SELECT ON ab5 TO regress_priv_admin""")
    cur.execute("SET ROLE regress_priv_admin")
    cur.execute("SELECT segmentation.define_experiment('e', 'ab', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("SELECT segmentation.define_experiment('e2', 'ab2', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("SELECT segmentation.define_experiment('e3', 'ab3', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("SELECT segmentation.define_experiment('e4', 'ab4', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("SELECT segmentation.define_experiment('e5', 'ab5', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("RESET ROLE")
    refresh(cur, False, "2024-01-30")

    key = hmac_suite(cur)
    members_suite(cur, key)
    attacks(cur)
    small_cells(cur)
    differencing(cur)
    two_segments(cur)
    overlapping_schemes(cur)
    suppress_schemes_property(cur)
    erase_and_opt_out(cur)
    dump_and_restore(cur)
    conn.close()
    sixth_review()
    many_schemes()
    drop_database(DB)
    connect("postgres").cursor().execute("DROP ROLE regress_priv_reader, regress_priv_analyst, regress_priv_admin")
    suite.finish()


if __name__ == "__main__":
    main()
