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
import os
import random
import subprocess
import threading
import time

import psycopg2

from harness import Suite, connect, drop_database, fresh_database

DB = "segmentation_privacy"
suite = Suite("privacy suite", stop_on_failure=False)
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
"""


def load(cur, rnd, users, days):
    rows = []
    for u in range(1, users + 1):
        for _ in range(rnd.randrange(1, 12)):
            d = rnd.randrange(0, days)
            rows.append((u, f"2024-01-01 00:00+00", d, rnd.choice(["view", "view", "buy", "search"]), rnd.choice([None, 5.0, 20.0])))
    for uid in (FORGET, OPTOUT, VICTIM):
        for d in (1, 3, 8, 20):
            rows.append((uid, "2024-01-01 00:00+00", d, "buy", 7.0))
    for uid in (FORGET, OPTOUT):   # (in the funnel view -> buy)
        rows.append((uid, "2024-01-01 00:00+00", 0, "view", None))
    cur.executemany("INSERT INTO ev VALUES (%s, %s::timestamptz + %s * interval '1 day', %s, %s)", rows)


def hmac_suite(cur):
    key = bytes(one(cur, "SELECT key FROM segmentation._pseudonym_key ORDER BY created_at, key LIMIT 1"))
    check("the key is 32 bytes", len(key) == 32)
    for text in ["1", "987654321987", "user-01", "jürgen.müller@example.org", "ユーザー", "🙂", "", "a'b\\c"]:
        want = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        got = one(cur, "SELECT encode(segmentation._pseudonym(%s), 'hex')", (text,))
        check(f"_pseudonym({text!r}) is Python's hmac.new(key, id, sha256)", got == want, (got, want))
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
    check("opted out: the id is only in profiles and the funnel state (kept for opt_in)",
          [(r, c) for r, c, _ in found] == [("segmentation._funnel_state", "user_id"), ("segmentation.profiles", "user_id")], found)
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
        check(f"{name}: a row shown shows the true numbers",
              all(r[:last] == t[:last] for r, t in zip(rows, true_rows) if not r[-1]))
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
        groups = {}
        for r, t in zip(rows, true_rows):
            if not is_all(r):
                groups.setdefault(group(r), []).append((r[-1], t[ucol]))
        bad = [g for g, cells in groups.items()
               if any(s for s, _ in cells) and not all(s for s, _ in cells)
               and (sum(1 for s, _ in cells if s) < 2 or sum(u for s, u in cells if s) < K)]
        check(f"{name}: no suppressed cell can be found from its group's total ({len(groups)} groups)", not bad, bad[:3])
    cur.execute("SELECT segmentation.set_setting('min_cell_size', NULL)")


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
                   GRANT SELECT ON ab2 TO regress_priv_admin""")
    cur.execute("SET ROLE regress_priv_admin")
    cur.execute("""SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
                   SELECT segmentation.define_feature('buy', '{buy}');
                   SELECT segmentation.define_feature('view', '{view}');
                   SELECT segmentation.define_funnel('view_buy', '{view,buy}', '7 days');
                   SELECT segmentation.define_segment('value', 'buyer', $$'buy' = ANY (features_used) AND frequency >= 8$$, 30);
                   SELECT segmentation.define_segment('value', 'whale', 'monetary >= 150', 40);
                   SELECT segmentation.define_segment('value', 'regular', 'frequency >= 5', 20);
                   SELECT segmentation.define_segment('value', 'rare', 'frequency = 1', 10);""")
    cur.execute("RESET ROLE")
    for day in ["2024-01-05", "2024-01-12", "2024-01-20", "2024-01-29"]:
        refresh(cur, False, day)
    cur.execute("SET ROLE regress_priv_admin")
    cur.execute("SELECT segmentation.define_experiment('e', 'ab', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("SELECT segmentation.define_experiment('e2', 'ab2', 'uid', 'variant', 'at', 'control', 'buy')")
    cur.execute("RESET ROLE")
    refresh(cur, False, "2024-01-30")

    key = hmac_suite(cur)
    members_suite(cur, key)
    attacks(cur)
    small_cells(cur)
    erase_and_opt_out(cur)
    dump_and_restore(cur)
    conn.close()
    sixth_review()
    drop_database(DB)
    connect("postgres").cursor().execute("DROP ROLE regress_priv_reader, regress_priv_analyst, regress_priv_admin")
    suite.finish()


if __name__ == "__main__":
    main()
