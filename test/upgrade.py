"""test/upgrade.py: a live 0.1 installation updated to 0.2 in place.

Run by test/upgrade.sh, which installs release 0.1 (its library and script)
into a PostgreSQL tree of its own, starts a cluster with pg_cron and sets
INSTALL_THIS_BUILD to the command that installs this checkout's build over it.

0.1 is filled as a team would: a tracked table, features, two schemes, an
experiment, two refreshes and a pg_cron schedule.  Then, while another
session keeps inserting events (one row and five rows at a time, from a
connection that loaded 0.1's library), 0.2 is installed over 0.1 (a
refresh runs in that window, 0.1's SQL on 0.2's library) and ALTER EXTENSION
segmentation UPDATE runs.  Checked: every write succeeded; the history and
the transitions are kept with their ids, and the current segments; the
extension's catalog is the one a fresh 0.2 install makes; the cron job runs
0.2's refresh; after it each profile is the one a 0.2 recompute from the
events makes (no event lost or doubled); the experiment readout is the same
as 0.1's; pg_dump and pg_restore of the upgraded database work.  Then
each update 0.2 refuses, in a database of its own (OTHERS: what 0.2 would
not run, a transaction that holds a tracked table for more than the 10 s
the capture swap waits, ...): refused naming why, 0.1 left as it was.
"""
import os
import subprocess
import threading
import time

from harness import Suite, connect, drop_database, fresh_database

suite = Suite("upgrade")
check = suite.check
DB = "postgres"   # cron.database_name: pg_cron runs jobs only there


def one(cur, q, args=None):
    cur.execute(q, args)
    row = cur.fetchone()
    return row[0] if row else None


SETUP = """
CREATE TABLE events (user_id bigint, ts timestamptz, event text, amount numeric);
CREATE TABLE events2 (user_id bigint, ts timestamptz, event text, amount numeric);
SELECT setseed(0.25);
INSERT INTO events
SELECT u, now() - interval '60 days' * random(), (ARRAY['login', 'login', 'view', 'buy', 'search'])[1 + floor(random() * 5)::int],
       round((random() * 50)::numeric, 2)
FROM generate_series(1, 600) u, generate_series(1, 12) k
WHERE random() < 0.3 + (u % 7) / 10.0;
CREATE TABLE ab AS SELECT u::bigint AS user_id, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'b' END AS arm, now() - interval '20 days' AS at
FROM generate_series(1, 500) u;
"""
# the same configuration, through 0.1's functions and then 0.2's
CONFIG = """
SELECT segmentation.track('events', 'user_id', 'ts', 'event', 'amount');
SELECT segmentation.track('events2', 'user_id', 'ts', 'event', 'amount');
SELECT segmentation.define_feature('login', ARRAY['login']);
SELECT segmentation.define_feature('buy', ARRAY['buy']);
SELECT segmentation.define_segment('activity', 'busy', 'frequency >= 8', 10);
SELECT segmentation.define_segment('activity', 'buyer', $$'buy' = ANY (features_used)$$, 20, 'bought once');
SELECT segmentation.define_segment('recency', 'recent', 'recency_days < 7');
SELECT segmentation.define_experiment('exp', 'ab', 'user_id', 'arm', 'at', 'control', 'buy');
"""
LIFT_COLUMNS = "users, conversions, conversion_rate, control_rate, abs_lift, p_value"
LIFT = f"""SELECT experiment, scheme, segment, variant, {LIFT_COLUMNS} FROM segmentation.experiment_lift"""

# The extension's objects, described without OIDs: what a fresh install and
# an upgraded one must agree on
CATALOG = r"""
WITH ext AS (SELECT e.oid FROM pg_extension e WHERE e.extname = 'segmentation'),
member AS (SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e')
SELECT format('relation %s %s member=%s acl=%s options=%s comment=%s', c.relname, c.relkind,
              EXISTS (SELECT FROM member m WHERE m.objid = c.oid), (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(c.relacl) x), c.reloptions, obj_description(c.oid, 'pg_class'))
FROM pg_class c WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'i')
UNION ALL
SELECT format('column %s.%s %s notnull=%s default=%s acl=%s comment=%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
              a.attnotnull, pg_get_expr(d.adbin, d.adrelid), (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(a.attacl) x),
              col_description(c.oid, a.attnum))
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'v')
UNION ALL
SELECT format('view %s %s', c.relname, md5(pg_get_viewdef(c.oid)))
FROM pg_class c WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT format('index %s', pg_get_indexdef(i.indexrelid))
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'segmentation'::regnamespace
UNION ALL
SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
FROM pg_constraint WHERE connamespace = 'segmentation'::regnamespace
UNION ALL
SELECT format('function %s member=%s %s %s secdef=%s config=%s acl=%s body=%s comment=%s', p.oid::regprocedure,
              EXISTS (SELECT FROM member m WHERE m.objid = p.oid), p.provolatile, p.proparallel, p.prosecdef, p.proconfig,
              (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(p.proacl) x), md5(p.prosrc), obj_description(p.oid, 'pg_proc'))
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
UNION ALL
SELECT format('trigger %s on %s: %s enabled=%s', t.tgname, t.tgrelid::regclass, pg_get_triggerdef(t.oid), t.tgenabled)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND (c.relnamespace = 'segmentation'::regnamespace OR t.tgname LIKE 'segmentation%')
UNION ALL
SELECT format('event trigger %s %s %s', e.evtname, e.evtevent, e.evtfoid::regproc) FROM pg_event_trigger e
UNION ALL
SELECT format('type %s acl=%s comment=%s', t.typname, (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(t.typacl) x), obj_description(t.oid, 'pg_type'))
FROM pg_type t WHERE t.typnamespace = 'segmentation'::regnamespace AND t.typrelid = 0
UNION ALL
SELECT format('initial privileges %s %s %s', x.type, x.identity, (SELECT array_agg(y::text ORDER BY y::text) FROM unnest(i.initprivs) y))
FROM pg_init_privs i, LATERAL pg_identify_object(i.classoid, i.objoid, i.objsubid) x
WHERE x.schema = 'segmentation' OR x.identity = 'segmentation'
UNION ALL
SELECT format('config %s', c.relname) FROM pg_extension e, unnest(e.extconfig) x(oid) JOIN pg_class c ON c.oid = x.oid
WHERE e.extname = 'segmentation'
UNION ALL
SELECT format('schema %s acl=%s comment=%s', n.nspname, (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(n.nspacl) x), obj_description(n.oid, 'pg_namespace'))
FROM pg_namespace n WHERE n.nspname LIKE '%segmentation%'
"""


class Writer(threading.Thread):
    """Inserts events until stopped, from a connection that loaded 0.1's
    library: one row or five at a time into events; or (both) transactions
    that write events2, wait, then write events, the other order from the
    update's (it locks the tracked tables in the order of their OIDs)."""

    def __init__(self, both=False):
        super().__init__(daemon=True)
        self.both = both
        self.stop = threading.Event()
        self.committed = 0
        self.errors = []
        self.conn = connect(DB)
        self.cur = self.conn.cursor()
        one(self.cur, "SELECT segmentation.event_count(segmentation.behavior_agg(now()))")

    def run(self):
        k = 0
        while not self.stop.is_set():
            k += 1
            n = 5 if k % 10 == 0 else 1
            try:
                if self.both:
                    self.cur.execute("""BEGIN;
                                        INSERT INTO events2 VALUES (300000 + %s, clock_timestamp(), 'view', 1);
                                        SELECT pg_sleep(0.3);
                                        INSERT INTO events VALUES (300000 + %s, clock_timestamp(), 'view', 1);
                                        COMMIT""", (k, k))
                    n = 2
                else:
                    self.cur.execute("""INSERT INTO events SELECT 100000 + %s * 10 + g, clock_timestamp(), 'view', 1
                                        FROM generate_series(1, %s) g""", (k, n))
                self.committed += n
            except Exception as e:  # noqa: BLE001 (any failed write is what this test looks for)
                self.errors.append(str(e))
                if self.both:
                    self.cur.execute("ROLLBACK")
            time.sleep(0.05 if self.both else 0.005)
        self.conn.close()


def snapshot(cur):
    cur.execute("SELECT id, run_id, scheme, user_id, from_segment, from_entered_at, to_segment, at FROM segmentation.transitions ORDER BY id")
    transitions = cur.fetchall()
    cur.execute("SELECT scheme, user_id, segment, entered_at FROM segmentation.memberships ORDER BY 1, 2")
    memberships = cur.fetchall()
    cur.execute("""SELECT (SELECT array_agg(format('%s|%s|%s|%s|%s|%s', source, user_column, time_column, event_column, value_column, tracked_by) ORDER BY id) FROM segmentation.sources),
                          (SELECT array_agg(format('%s|%s|%s', id, name, event_names) ORDER BY id) FROM segmentation.features),
                          (SELECT array_agg(format('%s|%s|%s|%s|%s', scheme, name, predicate, priority, description) ORDER BY scheme, name) FROM segmentation.segments),
                          (SELECT array_agg(format('%s|%s|%s|%s', name, assignments, conversion_event, tracked_by) ORDER BY name) FROM segmentation.experiments),
                          (SELECT array_agg(format('%s|%s|%s', id, mode, as_of) ORDER BY id) FROM segmentation.refresh_runs)""")
    return transitions, memberships, cur.fetchone()


def fill_0_1(cur):
    cur.execute("CREATE EXTENSION pg_cron")
    cur.execute("CREATE EXTENSION segmentation VERSION '0.1'")
    cur.execute(SETUP)
    cur.execute(CONFIG)
    one(cur, "SELECT segmentation.refresh(as_of => now() - interval '1 day')")
    cur.execute("""INSERT INTO events SELECT u, now() - interval '3 hours', 'buy', 5 FROM generate_series(1, 600, 3) u""")
    one(cur, "SELECT segmentation.refresh()")
    one(cur, "SELECT segmentation.schedule_refresh('* * * * *')")
    # grants made by hand: not 0.2's, so not kept (the catalog check)
    cur.execute("""GRANT SELECT (user_id) ON segmentation.transitions TO PUBLIC;
                   GRANT SELECT ON segmentation.profiles TO segmentation_reader;
                   GRANT CREATE ON SCHEMA segmentation TO segmentation_admin""")
    check("0.1 is installed, filled and scheduled",
          one(cur, "SELECT extversion FROM pg_extension WHERE extname = 'segmentation'") == "0.1"
          and one(cur, "SELECT count(*) FROM segmentation.transitions") > 600
          and one(cur, "SELECT count(*) FROM segmentation.experiment_lift") > 0)


# databases with 0.1 that the upgrade must refuse (and leave as they were),
# and one with 0.1 and nothing in it
OTHERS = {
    "segmentation_rule": ("SELECT segmentation.define_segment('s', 'wide', 'frequency::text::numeric > 0')",
                          "is refused by segmentation 0.2"),
    "segmentation_stray": ("CREATE VIEW segmentation.mine AS SELECT 1 AS one", "did not make: relation mine"),
    "segmentation_depends": ("CREATE VIEW public.mine AS SELECT user_id FROM segmentation.user_scores", "public.mine"),
    "segmentation_partition": ("""CREATE TABLE pev (user_id bigint, ts timestamptz, event text, amount numeric) PARTITION BY RANGE (ts);
                                  CREATE TABLE pev_all PARTITION OF pev FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
                                  SELECT segmentation.track('pev_all', 'user_id', 'ts', 'event', 'amount')""",
                               "segmentation 0.2 does not capture tracked table public.pev_all: it is a partition or inheritance child of public.pev"),
    # 0.1 let its admins write sources' rows: one naming a table its writer
    # may not read must not be tracked by the update (run by a superuser)
    "segmentation_forged": ("""CREATE ROLE upgrade_hostile_admin IN ROLE segmentation_admin;
                               CREATE TABLE secrets (user_id bigint, ts timestamptz, event text, amount numeric);
                               SET ROLE upgrade_hostile_admin;
                               INSERT INTO segmentation.sources (source, user_column, time_column, event_column, value_column, user_type)
                               VALUES ('secrets', 'user_id', 'ts', 'event', 'amount', 'bigint');
                               RESET ROLE""",
                            "role upgrade_hostile_admin that tracked public.secrets may no longer read it"),
    # a trigger of a role's on 0.1's capture function (executable by PUBLIC in 0.1)
    "segmentation_trigger": ("""CREATE TABLE mine (a int);
                                CREATE TRIGGER x AFTER INSERT ON mine FOR EACH STATEMENT EXECUTE FUNCTION segmentation._capture_1()""",
                             "triggers that segmentation 0.1 did not make call its capture functions: trigger x on public.mine"),
    "segmentation_rowtype": ("CREATE TABLE mine (p segmentation.profiles)", "use the row types of segmentation 0.1's tables: column p of public.mine"),
    # 0.1's refresh lock, held by any session: the update fails in lock_timeout
    "segmentation_advisory": ("SELECT 1", "holds segmentation 0.1's refresh lock: pid"),
    # a transaction that holds a tracked table all along (uncommitted rows):
    # the capture swap gives up after 10 s, naming the table, and changes nothing
    "segmentation_busy": ("SELECT 1", "the tracked tables were not free together for 10 s, to swap 0.1's capture "
                                      "for 0.2's\nDETAIL:  The last one waited for: public.events."),
    "segmentation_empty": (None, None),
}


# 0.1 tracking a partitioned table (0.1's triggers on the parent only) and an
# inheritance parent with a child: 0.2 puts capture on every table of each
# tree, each trigger in its mode, as its track() does
TREE = """
CREATE TABLE pev (user_id bigint, ts timestamptz, event text, amount numeric) PARTITION BY RANGE (ts);
CREATE TABLE pev_old PARTITION OF pev FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE pev_new PARTITION OF pev FOR VALUES FROM ('2024-01-01') TO (MAXVALUE) PARTITION BY HASH (user_id);
CREATE TABLE pev_new_0 PARTITION OF pev_new FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pev_new_1 PARTITION OF pev_new FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE iev (user_id bigint, ts timestamptz, event text, amount numeric);
CREATE TABLE iev_child (extra int) INHERITS (iev);
INSERT INTO pev SELECT u, '2023-10-01'::timestamptz + u * interval '1 day', 'login', 1 FROM generate_series(1, 400) u;
INSERT INTO iev SELECT u, '2024-03-01', 'view', 2 FROM generate_series(1, 50) u;
INSERT INTO iev_child SELECT u, '2024-03-02', 'buy', 3, 7 FROM generate_series(51, 80) u;
SELECT segmentation.track('pev', 'user_id', 'ts', 'event', 'amount');
SELECT segmentation.track('iev', 'user_id', 'ts', 'event', 'amount');
"""


def fill_tree():
    conn, cur = fresh_database("segmentation_tree", extension=False)
    cur.execute("CREATE EXTENSION segmentation VERSION '0.1'")
    cur.execute(TREE)
    one(cur, "SELECT segmentation.refresh()")
    conn.close()


def update_tree():
    conn = connect("segmentation_tree")
    cur = conn.cursor()
    try:
        cur.execute("ALTER EXTENSION segmentation UPDATE")
        error = None
    except Exception as e:  # noqa: BLE001
        error = str(e)
    cur.execute(CATALOG)
    upgraded = {r[0] for r in cur.fetchall()}
    fconn, fcur = fresh_database("segmentation_fresh")
    fcur.execute(TREE)
    fcur.execute(CATALOG)
    fresh = {r[0] for r in fcur.fetchall()}
    fconn.close()
    drop_database("segmentation_fresh")
    check("trees: 0.1 tracking a partitioned table and an inheritance parent updates to a fresh 0.2 install's catalog "
          "(capture triggers on every partition and child, in their modes)",
          error is None and upgraded == fresh and any(" on pev_new_1: " in r for r in upgraded)
          and any(" on iev_child: " in r for r in upgraded),
          (error, sorted(upgraded - fresh)[:5], sorted(fresh - upgraded)[:5]))
    run_id = one(cur, "SELECT segmentation.refresh()")
    run = one(cur, "SELECT mode FROM segmentation.refresh_runs WHERE id = %s", (run_id,))
    # every write path into the trees, once each: straight into partitions
    # and the child, and in replica role
    cur.execute("""INSERT INTO pev_old VALUES (1001, '2023-01-01', 'buy', 1);
                   INSERT INTO pev_new VALUES (1002, '2024-05-01', 'buy', 1), (1003, '2024-05-01', 'buy', 1);
                   INSERT INTO iev_child VALUES (1004, '2024-05-01', 'buy', 1, 0);
                   SET session_replication_role = replica;
                   INSERT INTO pev VALUES (1005, '2024-05-01', 'buy', 1), (1006, '2023-02-01', 'buy', 1);
                   INSERT INTO iev_child VALUES (1007, '2024-05-01', 'buy', 1, 0);
                   RESET session_replication_role""")
    run_id = one(cur, "SELECT segmentation.refresh()")
    cur.execute("SELECT mode, events_read FROM segmentation.refresh_runs WHERE id = %s", (run_id,))
    after = cur.fetchone()
    counted = one(cur, "SELECT sum(segmentation.event_count(behavior)) FROM segmentation.profiles")
    total = one(cur, "SELECT (SELECT count(*) FROM pev) + (SELECT count(*) FROM iev)")
    check("trees: after the update, writes straight into partitions and the child, and in replica role, are captured once",
          run == "full" and after == ("incremental", 7) and counted == total, (run, after, counted, total))
    conn.close()
    drop_database("segmentation_tree")


def fill_others():
    for db, (sql, _) in OTHERS.items():
        conn, cur = fresh_database(db, extension=False)
        cur.execute("CREATE EXTENSION segmentation VERSION '0.1'")
        if sql:
            cur.execute("CREATE TABLE events (user_id bigint, ts timestamptz, event text, amount numeric)")
            cur.execute("INSERT INTO events VALUES (1, now(), 'login', 1)")
            cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'event', 'amount')")
            cur.execute(sql)
        conn.close()


def update_others():
    for db, (_, refusal) in OTHERS.items():
        conn = connect(db)
        cur = conn.cursor()
        holder = connect(db) if db in ("segmentation_advisory", "segmentation_busy") else None
        if db == "segmentation_advisory":
            one(holder.cursor(), "SELECT pg_advisory_lock(hashtext('segmentation.refresh'))")
        elif holder:
            holder.cursor().execute("BEGIN; INSERT INTO events VALUES (2, now(), 'login', 1)")
        try:
            cur.execute("ALTER EXTENSION segmentation UPDATE")
            error = None
        except Exception as e:  # noqa: BLE001
            error = str(e)
        if holder:
            holder.close()
        version = one(cur, "SELECT extversion FROM pg_extension WHERE extname = 'segmentation'")
        if refusal:
            check(f"{db}: the upgrade is refused, naming why, and 0.1 stays as it was",
                  error is not None and refusal in error and version == "0.1"
                  and one(cur, "SELECT count(*) FROM segmentation.sources") >= 1, error)
            if db == "segmentation_busy":
                # what its hint says: the transaction has ended (holder closed), update again
                try:
                    cur.execute("ALTER EXTENSION segmentation UPDATE")
                    cur.execute("INSERT INTO events VALUES (3, now(), 'login', 1)")
                    followed = (one(cur, "SELECT extversion FROM pg_extension WHERE extname = 'segmentation'"),
                                one(cur, "SELECT count(*) FROM segmentation.pending_events WHERE user_id = 3"))
                except Exception as e:  # noqa: BLE001
                    followed = str(e)
                check(f"{db}: the hint followed (the transaction ended), the update goes through and captures",
                      followed == ("0.2", 1), followed)
            if db == "segmentation_partition":
                # what its hint says: stop tracking it in 0.1, update, track the parent
                try:
                    cur.execute("""DELETE FROM segmentation.sources WHERE source = 'pev_all'::regclass;
                                   DROP TRIGGER segmentation_capture_insert ON pev_all; DROP TRIGGER segmentation_capture_update ON pev_all;
                                   DROP TRIGGER segmentation_capture_delete ON pev_all; DROP TRIGGER segmentation_capture_truncate ON pev_all""")
                    cur.execute("ALTER EXTENSION segmentation UPDATE")
                    cur.execute("SELECT segmentation.track('pev', 'user_id', 'ts', 'event', 'amount')")
                    cur.execute("INSERT INTO pev VALUES (2, now(), 'login', 1)")
                    followed = one(cur, "SELECT count(*) FROM segmentation.pending_events WHERE user_id = 2")
                except Exception as e:  # noqa: BLE001
                    followed = str(e)
                check(f"{db}: the refusal's hint followed (untracked in 0.1), the update goes through and the parent "
                      "is tracked", followed == 1, followed)
        else:
            cur.execute(CATALOG)
            upgraded = {r[0] for r in cur.fetchall()}
            fconn, fcur = fresh_database("segmentation_fresh")
            fcur.execute(CATALOG)
            fresh = {r[0] for r in fcur.fetchall()}
            fconn.close()
            drop_database("segmentation_fresh")
            check(f"{db}: an empty 0.1 updates to a fresh 0.2 install's catalog", error is None and upgraded == fresh,
                  (error, sorted(upgraded - fresh)[:5], sorted(fresh - upgraded)[:5]))
        conn.close()
        drop_database(db)
    connect(DB).cursor().execute("DROP ROLE upgrade_hostile_admin")


def main():
    fill_others()
    fill_tree()
    conn = connect(DB)
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    fill_0_1(cur)
    initial = one(cur, "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM events2)")

    # three writers of both tables, out of step, so that one of them holds
    # events2 at every instant: the update must wait for it holding neither
    # table (CI saw one such writer starve the update's locking, which held
    # events while it waited 100 ms for events2 each time)
    writer = Writer()
    writer.start()
    both = [Writer(both=True) for _ in range(3)]
    for w in both:
        w.start()
        time.sleep(0.12)
    time.sleep(1)
    subprocess.run(os.environ["INSTALL_THIS_BUILD"], shell=True, check=True)
    # a scheduled refresh between the package and ALTER EXTENSION: 0.1's SQL
    # on 0.2's library
    other = connect(DB)
    try:
        one(other.cursor(), "SELECT segmentation.refresh()")
        window = "ran"
    except Exception as e:  # noqa: BLE001
        window = f"failed: {e}"
    other.close()
    other = connect(DB)
    try:
        one(other.cursor(), "SELECT segmentation.check_predicate('true', 'segmentation.scores', 'segmentation')")
        called = "returned"
    except Exception as e:  # noqa: BLE001
        called = str(e)
    other.close()
    check("0.1's check_predicate (three arguments) on 0.2's library (four) is an error, not a crash",
          "older than its library" in called and one(cur, "SELECT 1") == 1, called)
    check("a 0.1 refresh on 0.2's library runs, or fails with an error (the server stays up)",
          one(cur, "SELECT 1") == 1, window)
    print(f"     (the refresh between them {window})")
    update_others()
    update_tree()
    # from a session opened after the package was installed (one that loaded
    # 0.1's library keeps it: README.md, Upgrading); one transaction, so that
    # no 0.1 refresh (pg_cron's) slips between the snapshot and the update
    uconn = connect(DB)
    uconn.autocommit = False
    ucur = uconn.cursor()
    ucur.execute("SET TIME ZONE 'UTC'")
    ucur.execute("SELECT pg_advisory_xact_lock(hashtext('segmentation.refresh'))")
    transitions, memberships, config = snapshot(ucur)
    ucur.execute(LIFT)
    lift_0_1 = {tuple(r[:4]): r[4:] for r in ucur.fetchall()}
    t0 = time.time()
    ucur.execute("ALTER EXTENSION segmentation UPDATE")
    seconds = time.time() - t0
    after = snapshot(ucur)
    # (before the commit: a refresh of pg_cron's may start right after it)
    upgraded_at = one(ucur, "SELECT clock_timestamp()")
    uconn.commit()
    uconn.close()
    conn.close()
    conn = connect(DB)
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    print(f"     (ALTER EXTENSION segmentation UPDATE: {seconds:.2f} s, {len(memberships)} memberships, {len(transitions)} transitions)")
    check("the extension is 0.2", one(cur, "SELECT extversion FROM pg_extension WHERE extname = 'segmentation'") == "0.2")
    check("the transitions (the history) are kept, with their ids", after[0] == transitions, (len(after[0]), len(transitions)))
    check("the current segments are kept", after[1] == memberships, (len(after[1]), len(memberships)))
    check("sources (and who tracked them), features, segments, experiments and refresh runs are kept",
          after[2] == config, (after[2], config))
    check("0.1's objects are gone", one(cur, "SELECT count(*) FROM pg_namespace WHERE nspname = '_segmentation_0_1'") == 0)
    check("the next refresh is full (it rewrites the behaviors in 0.2's form)",
          one(cur, "SELECT count(*) FROM segmentation.truncated") >= 1)

    time.sleep(2)
    writer.stop.set()
    for w in both:
        w.stop.set()
    writer.join()
    for w in both:
        w.join()
    committed = writer.committed + sum(w.committed for w in both)
    check("every write during the upgrade succeeded (no deadlock with a transaction writing both tracked tables)",
          writer.errors == [] and all(w.errors == [] for w in both) and writer.committed > 50
          and all(w.committed > 4 for w in both),
          (writer.committed, [w.committed for w in both], writer.errors[:3], [w.errors[:3] for w in both]))
    check("no event lost or doubled in the tables",
          one(cur, "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM events2)") == initial + committed)

    # pg_cron runs 0.2's refresh, as the job it had
    deadline = time.time() + 150
    while time.time() < deadline and one(cur, "SELECT count(*) FROM segmentation.refresh_runs WHERE started_at > %s", (upgraded_at,)) == 0:
        time.sleep(2)
    cur.execute("SELECT mode, error FROM segmentation.refresh_runs WHERE started_at > %s ORDER BY id LIMIT 1", (upgraded_at,))
    run = cur.fetchone()
    check("the pg_cron job ran 0.2's refresh after the upgrade, full and without error",
          run is not None and run == ("full", None), run)
    # (pg_cron writes the job's status in a transaction of its own, after
    # the job's: wait for it to say how the run ended)
    status = None
    while time.time() < deadline and status is None:
        status = one(cur, """SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                            WHERE j.jobname = 'segmentation-refresh' AND d.start_time > %s
                              AND d.status IN ('succeeded', 'failed') ORDER BY d.runid LIMIT 1""", (upgraded_at,))
        if status is None:
            time.sleep(1)
    check("pg_cron recorded it as succeeded", status == "succeeded", status)
    one(cur, "SELECT segmentation.unschedule_refresh()")
    one(cur, "SELECT segmentation.refresh()")

    # every profile is what 0.2 computes from the events: each event once
    cur.execute("""SELECT count(*) FILTER (WHERE p.behavior::text IS DISTINCT FROM r.b::text), count(*),
                          (SELECT sum(segmentation.event_count(behavior)) FROM segmentation.profiles)
                   FROM segmentation.profiles p
                   FULL JOIN (SELECT e.user_id, segmentation.behavior_agg(e.ts, fm.id, e.amount::float8) AS b
                              FROM (SELECT * FROM events UNION ALL SELECT * FROM events2) e
                              LEFT JOIN segmentation._feature_map fm ON fm.event = e.event GROUP BY 1) r USING (user_id)""")
    differ, users, events = cur.fetchone()
    check("every profile equals 0.2's recompute from the events (0.2's form)", differ == 0 and users > 600, (differ, users))
    check("every event counted once", events == initial + committed, (events, initial + committed))
    cur.execute("SELECT id, run_id, scheme, user_id, from_segment, from_entered_at, to_segment, at FROM segmentation.transitions WHERE id <= %s ORDER BY id",
                (transitions[-1][0],))
    check("refreshes after the upgrade add to the history", cur.fetchall() == transitions)

    cur.execute(LIFT)
    lift_0_2 = {tuple(r[:4]): r[4:] for r in cur.fetchall()}
    compared = [k for k in lift_0_1 if lift_0_2.get(k) and lift_0_2[k][0] is not None]
    same = all(all(a == b or (isinstance(a, float) and b is not None and abs(a - b) <= 1e-9 * max(1, abs(a)))
                   for a, b in zip(lift_0_1[k], lift_0_2[k])) for k in compared)
    check("the experiment readout is 0.1's (its inputs unchanged)", len(compared) >= 4 and same,
          [(k, lift_0_1[k], lift_0_2.get(k)) for k in compared][:4])

    # the catalog is a fresh install's, given the same configuration
    fconn, fcur = fresh_database("segmentation_fresh")
    fcur.execute("CREATE TABLE events (user_id bigint, ts timestamptz, event text, amount numeric); "
                 "CREATE TABLE events2 (user_id bigint, ts timestamptz, event text, amount numeric); CREATE TABLE ab (user_id bigint, arm text, at timestamptz)")
    fcur.execute(CONFIG)
    fcur.execute(CATALOG)
    fresh = {r[0] for r in fcur.fetchall()}
    fconn.close()
    drop_database("segmentation_fresh")
    cur.execute(CATALOG)
    upgraded = {r[0] for r in cur.fetchall()}
    check("the upgraded catalog is a fresh 0.2 install's", fresh == upgraded,
          ("only upgraded:", sorted(upgraded - fresh)[:8], "only fresh:", sorted(fresh - upgraded)[:8]))

    # pg_dump and pg_restore (pg_cron's objects stay behind: it installs in its own database only)
    dump = subprocess.run(["pg_dump", "-Fc", DB], check=True, capture_output=True).stdout
    listing = subprocess.run(["pg_restore", "-l"], input=dump, check=True, capture_output=True).stdout.decode()
    keep = "\n".join(line for line in listing.splitlines() if "cron" not in line)
    with open("/tmp/segmentation-upgrade-restore.list", "w") as f:
        f.write(keep)
    fresh_database("segmentation_restored", extension=False)
    r = subprocess.run(["pg_restore", "--exit-on-error", "-L", "/tmp/segmentation-upgrade-restore.list", "-d", "segmentation_restored"],
                       input=dump, capture_output=True)
    check("pg_dump | pg_restore of the upgraded database succeeds", r.returncode == 0, r.stderr.decode()[-2000:])
    rconn = connect("segmentation_restored")
    rcur = rconn.cursor()
    rcur.execute("SET TIME ZONE 'UTC'")
    check("restored: the same configuration, history and profiles", snapshot(rcur) == snapshot(cur)
          and one(rcur, "SELECT count(*) FROM segmentation.profiles") == users)
    rcur.execute("INSERT INTO events VALUES (4242, now(), 'login', NULL)")
    one(rcur, "SELECT segmentation.refresh()")
    check("restored: capture and refresh work",
          one(rcur, "SELECT count(*) FROM segmentation.user_scores WHERE user_id = 4242") == 1)
    rconn.close()
    drop_database("segmentation_restored")

    # what 0.2 adds works on the upgraded installation: user attributes
    cur.execute("""CREATE TABLE acct (user_id bigint PRIMARY KEY, plan text);
                   INSERT INTO acct SELECT DISTINCT user_id, CASE WHEN user_id % 2 = 0 THEN 'pro' ELSE 'free' END
                   FROM events WHERE user_id IS NOT NULL;
                   SELECT segmentation.track_users('acct', 'user_id');
                   SELECT segmentation.define_segment('plan_tier', 'pro', $$plan = 'pro'$$)""")
    one(cur, "SELECT segmentation.refresh()")
    check("upgraded: track_users, a segment on an attribute and a refresh work",
          one(cur, """SELECT count(*) FROM segmentation.user_scores u JOIN acct a USING (user_id)
                       WHERE (u.plan_tier = 'pro') IS DISTINCT FROM (a.plan = 'pro')""") == 0
          and one(cur, "SELECT count(*) FROM segmentation.user_scores WHERE plan_tier = 'pro'") > 0)
    suite.finish()


if __name__ == "__main__":
    main()
