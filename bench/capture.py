#!/usr/bin/python3
"""bench/capture.py: what each candidate capture mechanism costs the
application's writes, what finding the new events costs refresh, and which
of them see every committed event exactly once (issue 14).

Candidates (prototypes in a scratch schema `capbench`, except (a)):
  a   the extension as it is: segmentation.track(), statement triggers with
      transition tables, the C capture (src/capture.c) writing
      segmentation.pending_batches, a packed row per statement
  a2  the same statement trigger, ENABLE ALWAYS, writing an UNLOGGED queue
      (a crash empties it: a sentinel row tells refresh to go full)
  b   a row-level AFTER INSERT trigger (PL/pgSQL), ENABLE ALWAYS, writing a queue
  c   partitioned table: statement triggers with transition tables ENABLE
      ALWAYS on the parent and on every partition (COPY via the parent and
      straight into a partition), against an untracked partitioned table
  d   insert watermark: no insert trigger (write cost 1.0 by construction);
      refresh finds rows whose xmin was not visible to the last refresh's
      snapshot: read cost against table size, and counterexamples
  f   the design chosen for triggers (doc/capture-design.md): the statement
      trigger enabled ORIGIN plus a row trigger enabled REPLICA (which does not
      fire for an ordinary writer), against the statement trigger alone
  g   prototypes of the statement trigger written in C (bench/capture_proto,
      built by bench/run.sh capture; no checks, fixed shape): g1 one queue row
      per event written with table_multi_insert (as COPY writes), g2 one queue
      row per statement holding the statement's events packed in a bytea
      (STORAGE EXTERNAL: TOASTed uncompressed), g3 the same compressed (lz4)
  d2  the watermark kept in a column of the table instead of xmin:
      xid8 DEFAULT pg_current_xact_id() with a btree index (write cost measured)
  e   logical decoding (test_decoding, pgoutput): no trigger; write cost 1.0
      by construction with wal_level = logical (WAL bytes measured); decoding
      cost per event, alone and among other tables' writes
  and the chosen trigger design (f) under the logical replication apply
  worker: a subscription in another database of the same cluster writes a
  tracked partitioned table; every replicated event queued once

usage: bench/capture.py [ROUNDS] [SIZES]   (libpq environment; wal_level = logical)
       ROUNDS: alternating rounds of the write cost (default 25)
       SIZES: comma-separated table sizes for the watermark read cost (default 1000000,4000000),
              or "write": the write cost only
"""
import io
import statistics
import sys
import time

import psycopg2

COPY_ROWS = 10000
SINGLES = 200
MULTI_STMTS, MULTI_ROWS = 5, 500


def timed(cur, sql, args=None):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    return time.perf_counter() - t0


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def copy_data(n, seed):
    buf = io.StringIO()
    for i in range(n):
        buf.write(f"{(i * 7919 + seed) % 100000}\t2024-03-01 00:00:00+00\tview\t\\N\n")
    return buf.getvalue()


MULTI_SQL = "INSERT INTO {t} (uid, at, name, amount) VALUES " + ", ".join(
    f"({i * 13 % 100000}, '2024-03-01', 'view', NULL)" for i in range(MULTI_ROWS))

COLS = "uid bigint, at timestamptz, name text, amount numeric"

SETUP = f"""
DROP SCHEMA IF EXISTS capbench CASCADE;
CREATE SCHEMA capbench;
SET search_path = capbench, public;
CREATE TABLE q (source_id int, user_id bigint, ts timestamptz, event text, value float8);
CREATE UNLOGGED TABLE q_unlogged (source_id int, user_id bigint, ts timestamptz, event text, value float8);

-- untracked
CREATE TABLE plain ({COLS});
-- (a) tracked by the extension
CREATE TABLE a_track ({COLS});
-- (a2) statement trigger, unlogged queue
CREATE TABLE a2_unlogged ({COLS});
CREATE FUNCTION cap_stmt_unlogged() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO capbench.q_unlogged SELECT 1, n.uid, n.at, n.name::text, n.amount::float8 FROM new_rows n;
    RETURN NULL;
END $$;
CREATE TRIGGER cap AFTER INSERT ON a2_unlogged REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cap_stmt_unlogged();
ALTER TABLE a2_unlogged ENABLE ALWAYS TRIGGER cap;
-- (b) row trigger
CREATE TABLE b_row ({COLS});
CREATE FUNCTION cap_row() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO capbench.q VALUES (2, NEW.uid, NEW.at, NEW.name::text, NEW.amount::float8);
    RETURN NULL;
END $$;
CREATE TRIGGER cap AFTER INSERT ON b_row FOR EACH ROW EXECUTE FUNCTION cap_row();
ALTER TABLE b_row ENABLE ALWAYS TRIGGER cap;
-- (c) partitioned, untracked and with statement triggers on every level
CREATE TABLE up ({COLS}) PARTITION BY HASH (uid);
CREATE TABLE cp ({COLS}) PARTITION BY HASH (uid);
CREATE FUNCTION cap_stmt() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO capbench.q SELECT 3, n.uid, n.at, n.name::text, n.amount::float8 FROM new_rows n;
    RETURN NULL;
END $$;
DO $$
DECLARE
    t text;
BEGIN
    FOR i IN 0 .. 3 LOOP
        EXECUTE format('CREATE TABLE capbench.up_%s PARTITION OF capbench.up FOR VALUES WITH (MODULUS 4, REMAINDER %s)', i, i);
        EXECUTE format('CREATE TABLE capbench.cp_%s PARTITION OF capbench.cp FOR VALUES WITH (MODULUS 4, REMAINDER %s)', i, i);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['cp', 'cp_0', 'cp_1', 'cp_2', 'cp_3'] LOOP
        EXECUTE format('CREATE TRIGGER cap AFTER INSERT ON capbench.%I REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION capbench.cap_stmt()', t);
        EXECUTE format('ALTER TABLE capbench.%I ENABLE ALWAYS TRIGGER cap', t);
    END LOOP;
END $$;
-- (f) the chosen design: the statement trigger (ORIGIN) plus a row trigger
-- enabled REPLICA, which does not fire for an ordinary writer; against the
-- statement trigger alone
CREATE TABLE f_stmt ({COLS});
CREATE TRIGGER cap AFTER INSERT ON f_stmt REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cap_stmt();
CREATE TABLE f_stmt_r ({COLS});
CREATE TRIGGER cap AFTER INSERT ON f_stmt_r REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cap_stmt();
CREATE TRIGGER cap_r AFTER INSERT OR UPDATE OR DELETE ON f_stmt_r FOR EACH ROW EXECUTE FUNCTION cap_row();
ALTER TABLE f_stmt_r ENABLE REPLICA TRIGGER cap_r;
-- (d2) watermark column
CREATE TABLE d2_xid ({COLS}, ins_xid xid8 NOT NULL DEFAULT pg_current_xact_id());
CREATE INDEX ON d2_xid (ins_xid);
"""

# (g) the C prototypes (bench/capture_proto), when installed
SETUP_C = f"""
SET search_path = capbench, public;
CREATE FUNCTION cap_c_rows() RETURNS trigger LANGUAGE c AS '$libdir/capture_proto', 'capture_proto_rows';
CREATE FUNCTION cap_c_batch() RETURNS trigger LANGUAGE c AS '$libdir/capture_proto', 'capture_proto_batch';
CREATE TABLE q_batch (source_id int, batch bytea);
ALTER TABLE q_batch ALTER COLUMN batch SET STORAGE EXTERNAL;
CREATE TABLE q_batch_lz4 (source_id int, batch bytea COMPRESSION lz4);
CREATE TABLE g1_c_rows ({COLS});
CREATE TRIGGER cap AFTER INSERT ON g1_c_rows REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cap_c_rows('capbench.q');
CREATE TABLE g2_c_batch ({COLS});
CREATE TRIGGER cap AFTER INSERT ON g2_c_batch REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cap_c_batch('capbench.q_batch');
CREATE TABLE g3_c_batch_lz4 ({COLS});
CREATE TRIGGER cap AFTER INSERT ON g3_c_batch_lz4 REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cap_c_batch('capbench.q_batch_lz4');
CREATE FUNCTION cap_c_checked() RETURNS trigger LANGUAGE c AS '$libdir/capture_proto', 'capture_proto_checked';
CREATE TABLE g4_c_checked ({COLS});
DO $$
DECLARE
    id int;
BEGIN
    -- a source row of its own (no capture of the extension's on it)
    INSERT INTO segmentation.sources (source, user_column, time_column, event_column, value_column, user_type)
    VALUES ('capbench.g4_c_checked', 'uid', 'at', 'name', 'amount', 'bigint') RETURNING sources.id INTO id;
    EXECUTE format('CREATE TRIGGER cap AFTER INSERT ON capbench.g4_c_checked REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION capbench.cap_c_checked(%L, %L)', 'capbench.q_batch_lz4', id);
END $$;
"""

# (label, table written, table of the same shape untracked, how rows go in)
WRITE_CASES = [
    ("untracked", "plain", "plain"),
    ("(a) the extension: statement trigger, transition table, C, packed batch", "a_track", "plain"),
    ("(a2) statement trigger, ALWAYS, UNLOGGED queue", "a2_unlogged", "plain"),
    ("(b) row trigger (PL/pgSQL), ALWAYS", "b_row", "plain"),
    ("(c) partitioned, untracked, via the parent", "up", "up"),
    ("(c) partitioned, triggers on every level, via the parent", "cp", "up"),
    ("(c) partitioned, untracked, straight into a partition", "up_1", "up_1"),
    ("(c) partitioned, triggers on every level, straight into a partition", "cp_1", "up_1"),
    ("(f) statement trigger (ORIGIN) alone", "f_stmt", "plain"),
    ("(f) statement trigger (ORIGIN) + row trigger (REPLICA, not firing)", "f_stmt_r", "plain"),
    ("(d2) xid8 DEFAULT pg_current_xact_id() column + btree index", "d2_xid", "plain"),
]
WRITE_CASES_C = [
    ("(g1) C statement trigger, a queue row per event, multi-insert", "g1_c_rows", "plain"),
    ("(g2) C statement trigger, a queue row per statement, packed", "g2_c_batch", "plain"),
    ("(g3) C statement trigger, a queue row per statement, packed, lz4", "g3_c_batch_lz4", "plain"),
    ("(g4) g3 + the per-statement checks, user id as text", "g4_c_checked", "plain"),
]


def write_cost(cur, rounds):
    cur.execute(SETUP)
    cases = list(WRITE_CASES)
    try:
        cur.execute(SETUP_C)
        cases += WRITE_CASES_C
    except psycopg2.Error as e:
        print(f"  (g) skipped: the C prototypes are not installed (make -C bench/capture_proto install): {e.pgerror.strip()}")
        cur.execute("SET search_path = capbench, public")
    cur.execute("SELECT segmentation.track('capbench.a_track', 'uid', 'at', 'name', 'amount')")
    tables = [t for _, t, _ in cases]
    data = copy_data(COPY_ROWS, 1)
    # data for a single partition: only the rows that hash into up_1/cp_1
    cur.execute("CREATE TEMP TABLE _u AS SELECT g AS uid FROM generate_series(0, 99999) g")
    cur.execute("INSERT INTO capbench.up SELECT uid, '2024-03-01', 'view', NULL FROM _u")
    cur.execute("SELECT array_agg(uid ORDER BY uid) FROM capbench.up_1")
    part_uids = cur.fetchone()[0]
    cur.execute("TRUNCATE capbench.up")
    part_data = "".join(f"{part_uids[i * 7919 % len(part_uids)]}\t2024-03-01 00:00:00+00\tview\t\\N\n" for i in range(COPY_ROWS))
    part_single = [part_uids[i * 31 % len(part_uids)] for i in range(SINGLES)]
    part_multi = "INSERT INTO {t} (uid, at, name, amount) VALUES " + ", ".join(
        f"({part_uids[i * 13 % len(part_uids)]}, '2024-03-01', 'view', NULL)" for i in range(MULTI_ROWS))
    res = {t: {"copy": [], "single": [], "multi": [], "wal": []} for t in tables}
    for r in range(rounds):
        if r % 5 == 0:
            cur.execute("TRUNCATE " + ", ".join("capbench." + t for t in tables if t not in ("up_1", "cp_1")))
            cur.execute("TRUNCATE capbench.q, capbench.q_unlogged, segmentation.pending_batches, segmentation.truncated")
            if cases != WRITE_CASES:
                cur.execute("TRUNCATE capbench.q_batch, capbench.q_batch_lz4")
            cur.execute("CHECKPOINT")
        order = tables[r % len(tables):] + tables[:r % len(tables)]
        if r % 2:
            order.reverse()
        for t in order:
            part = t in ("up_1", "cp_1")
            lsn0 = one(cur, "SELECT pg_current_wal_insert_lsn()")
            t0 = time.perf_counter()
            cur.copy_expert(f"COPY capbench.{t} (uid, at, name, amount) FROM STDIN", io.StringIO(part_data if part else data))
            res[t]["copy"].append(time.perf_counter() - t0)
            res[t]["wal"].append(one(cur, "SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", (lsn0,)))
            sql = f"INSERT INTO capbench.{t} (uid, at, name, amount) VALUES (%s, '2024-03-01', 'view', NULL)"
            t0 = time.perf_counter()
            for i in range(SINGLES):
                cur.execute(sql, (part_single[i] if part else i,))
            res[t]["single"].append((time.perf_counter() - t0) / SINGLES)
            msql = (part_multi if part else MULTI_SQL).format(t="capbench." + t)
            t0 = time.perf_counter()
            for i in range(MULTI_STMTS):
                cur.execute(msql)
            res[t]["multi"].append((time.perf_counter() - t0) / MULTI_STMTS)
    med = {t: {k: statistics.median(v) for k, v in d.items()} for t, d in res.items()}
    # the ratio of each round (to the untracked table written in the same
    # round, moments apart), then the median over the rounds: drift of the
    # shared machine between rounds cancels
    ratio = {t: {k: statistics.median(a / b for a, b in zip(res[t][k], res[base][k])) for k in ("copy", "single", "multi")}
             for _, t, base in cases}
    print(f"write cost, {rounds} alternating rounds: median time, and median over the rounds of the ratio to the untracked "
          "table of the same shape written in the same round")
    print(f"  {'':70s} {'COPY 10,000 rows':>22s} {'single-row INSERT':>20s} {'INSERT of 500 rows':>21s} {'WAL/COPY':>10s}")
    for label, t, base in cases:
        m, q = med[t], ratio[t]
        print(f"  {label:70s} {m['copy'] * 1000:7.1f} ms {q['copy']:5.2f}x   "
              f"{m['single'] * 1e6:6.0f} us {q['single']:5.2f}x   "
              f"{m['multi'] * 1000:6.2f} ms {q['multi']:5.2f}x   {m['wal'] / 1024:6.0f} kB")
    print("  (d) insert watermark and (e) logical decoding: no trigger, so the write is the untracked one (1.00x);")
    print("      wal_level = logical in this cluster for every row above")


# ---------------------------------------------------------------------------
# (d) the insert watermark: what refresh pays to find the new rows

# xmin (32 bits) as xid8, relative to the xmax of the current snapshot (every
# xmin a snapshot can see is below it and, unless frozen, within 2^31 of it)
XMIN8 = "((s.xmax8 - 1 - ((s.xmax8 - 1 - t.xmin::text::bigint) & 4294967295))::text::xid8)"


# the new rows of capbench.wm: a cheap prefilter per row (age() of the raw
# xmin against the age of the stored snapshot's xmin, both relative to the
# current xid), then the exact test on the few rows that pass it; the
# snapshot's numbers are computed once, as refresh would, and passed in
WM_PARAMS = """SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                      age(pg_snapshot_xmin(w.snap)::text::bigint::bit(32)::int::text::xid), w.snap::text
               FROM capbench.wm_snap w"""
WM_XMIN = """SELECT count(*), count(DISTINCT t.uid) FROM capbench.wm t
             WHERE age(t.xmin) <= %(age)s
               AND NOT pg_visible_in_snapshot(((%(xmax8)s - 1 - ((%(xmax8)s - 1 - t.xmin::text::bigint) & 4294967295))::text::xid8),
                                              %(snap)s::pg_snapshot)"""


def watermark_read(cur, sizes, rounds):
    print("(d) insert watermark, read cost at refresh: find 1% new rows (committed after the stored snapshot)")
    print(f"  {'rows in table':>14s} {'seq scan, no filter':>20s} {'xmin not in snapshot':>21s} {'xid8 column, index':>19s} {'queue (a/b), DELETE':>20s}")
    for n in sizes:
        k = n // 100
        cur.execute("DROP TABLE IF EXISTS capbench.wm, capbench.wm_q")
        cur.execute(f"CREATE TABLE capbench.wm ({COLS}, ins_xid xid8 NOT NULL DEFAULT pg_current_xact_id())")
        cur.execute("CREATE TABLE capbench.wm_q (source_id int, user_id bigint, ts timestamptz, event text, value float8)")
        cur.execute("""INSERT INTO capbench.wm (uid, at, name, amount)
                       SELECT g %% 100000, '2024-03-01', 'view', NULL FROM generate_series(1, %s) g""", (n - k,))
        cur.execute("CREATE INDEX ON capbench.wm (ins_xid)")
        cur.execute("CREATE TABLE capbench.wm_snap AS SELECT pg_current_snapshot() AS snap")
        # the new rows, in 100 transactions (as the application would commit them)
        for i in range(100):
            cur.execute("""INSERT INTO capbench.wm (uid, at, name, amount)
                           SELECT g %% 100000, '2024-03-02', 'view', NULL FROM generate_series(1, %s) g""", (k // 100,))
        cur.execute("""INSERT INTO capbench.wm_q SELECT 1, uid, at, name, amount FROM capbench.wm
                       WHERE at = '2024-03-02'""")
        cur.execute("VACUUM ANALYZE capbench.wm")
        cur.execute("VACUUM ANALYZE capbench.wm_q")
        seq, filt, idx, q = [], [], [], []
        for r in range(rounds):
            seq.append(timed(cur, "SELECT count(*) FROM capbench.wm t"))
            t0 = time.perf_counter()
            cur.execute(WM_PARAMS)
            xmax8, age, snap = cur.fetchone()
            cur.execute(WM_XMIN, {"xmax8": xmax8, "age": age, "snap": snap})
            found = cur.fetchone()[0]
            filt.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cur.execute("""SELECT count(*), count(DISTINCT t.uid) FROM capbench.wm t
                           WHERE t.ins_xid >= (SELECT pg_snapshot_xmin(w.snap) FROM capbench.wm_snap w)
                             AND NOT pg_visible_in_snapshot(t.ins_xid, (SELECT w.snap FROM capbench.wm_snap w))""")
            found2 = cur.fetchone()[0]
            idx.append(time.perf_counter() - t0)
            cur.execute("BEGIN")
            t0 = time.perf_counter()
            cur.execute("WITH c AS (DELETE FROM capbench.wm_q RETURNING user_id) SELECT count(*), count(DISTINCT user_id) FROM c")
            found3 = cur.fetchone()[0]
            q.append(time.perf_counter() - t0)
            cur.execute("ROLLBACK")
            assert found == found2 == found3 == k, (found, found2, found3, k)
        print(f"  {n:>14,d} {statistics.median(seq) * 1000:17.0f} ms {statistics.median(filt) * 1000:18.0f} ms "
              f"{statistics.median(idx) * 1000:16.0f} ms {statistics.median(q) * 1000:17.0f} ms   ({k:,} new rows)")
        cur.execute("DROP TABLE capbench.wm, capbench.wm_q, capbench.wm_snap")


def watermark_counterexamples(dsn):
    """Exactly once with the xmin watermark, tried: a transaction in flight
    across the stored snapshot (found once), one whose rows were inserted in
    a subtransaction (lost), rows frozen by VACUUM FREEZE before the next
    refresh (lost); and the same with the xid8 column (found)."""
    a = psycopg2.connect(dsn)
    a.autocommit = True
    ca = a.cursor()
    w = psycopg2.connect(dsn)
    w.autocommit = True
    cw = w.cursor()
    ca.execute(f"""DROP TABLE IF EXISTS capbench.cx, capbench.cx_snap, capbench.cx_other;
                   CREATE TABLE capbench.cx ({COLS}, ins_xid xid8 NOT NULL DEFAULT pg_current_xact_id());
                   CREATE TABLE capbench.cx_snap (snap pg_snapshot);
                   CREATE TABLE IF NOT EXISTS capbench.cx_other (i int);
                   INSERT INTO capbench.cx (uid, at, name) SELECT g, '2024-01-01', 'old' FROM generate_series(1, 1000) g;
                   INSERT INTO capbench.cx_snap VALUES (NULL)""")

    def refresh():
        """consume: the rows not visible to the stored snapshot, by xmin and by
        the xid8 column; store this statement's snapshot"""
        cur = w.cursor()
        cur.execute(f"""WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax8, w.snap FROM capbench.cx_snap w),
                 u AS (UPDATE capbench.cx_snap SET snap = pg_current_snapshot() RETURNING 1)
            SELECT coalesce(array_agg(t.name ORDER BY t.name) FILTER (WHERE s.snap IS NULL OR NOT pg_visible_in_snapshot({XMIN8}, s.snap)), '{{}}'),
                   coalesce(array_agg(t.name ORDER BY t.name) FILTER (WHERE s.snap IS NULL OR NOT pg_visible_in_snapshot(t.ins_xid, s.snap)), '{{}}'),
                   (SELECT count(*) FROM u)
            FROM capbench.cx t, s WHERE t.name <> 'old'""")
        by_xmin, by_col, _ = cur.fetchone()
        return by_xmin, by_col

    refresh()   # the first refresh: everything so far
    seen_xmin, seen_col = [], []

    def take():
        x, c = refresh()
        seen_xmin.extend(x)
        seen_col.extend(c)

    # 1. in flight across a refresh (top-level xid assigned before it, commits after)
    ca.execute("BEGIN")
    ca.execute("INSERT INTO capbench.cx (uid, at, name) VALUES (1, '2024-02-01', 'inflight')")
    take()
    ca.execute("COMMIT")
    # 2. started before, first write after the refresh's snapshot
    ca.execute("BEGIN")
    ca.execute("SELECT 1")
    take()
    ca.execute("INSERT INTO capbench.cx (uid, at, name) VALUES (2, '2024-02-01', 'late_xid')")
    ca.execute("COMMIT")
    take()
    # 3. inserted in a subtransaction, committed after a refresh
    ca.execute("BEGIN")
    ca.execute("SAVEPOINT s1")
    ca.execute("INSERT INTO capbench.cx (uid, at, name) VALUES (3, '2024-02-01', 'subxact')")
    ca.execute("RELEASE s1")
    # (any other transaction that commits meanwhile: the usual case)
    cw.execute("INSERT INTO capbench.cx_other VALUES (1)")
    take()
    ca.execute("COMMIT")
    take()
    # 4. committed after a refresh, frozen before the next one (the xmin
    # column keeps the raw xid: found; what freezing breaks is the epoch,
    # after 2^32 transactions: see doc/capture-design.md)
    ca.execute("INSERT INTO capbench.cx (uid, at, name) VALUES (4, '2024-02-01', 'frozen')")
    ca.execute("VACUUM (FREEZE) capbench.cx")
    take()
    # 5. a plain autocommit insert (control)
    ca.execute("INSERT INTO capbench.cx (uid, at, name) VALUES (5, '2024-02-01', 'plain')")
    take()
    take()
    expected = ["frozen", "inflight", "late_xid", "plain", "subxact"]
    print("(d) exactly once, tried with concurrent transactions (each event should be consumed once):")
    for label, seen in (("xmin watermark", seen_xmin), ("xid8 column watermark", seen_col)):
        counts = {e: seen.count(e) for e in expected}
        bad = {e: c for e, c in counts.items() if c != 1}
        print(f"  {label:22s} consumed: {counts}  -> {'exactly once' if not bad else 'WRONG: ' + str(bad)}")
    a.close()
    w.close()
    cw.close()


# ---------------------------------------------------------------------------
# (e) logical decoding

def decoding(cur, rounds):
    print("(e) logical decoding, consuming K committed inserts (10 per transaction) through a slot on this database")
    cur.execute("DROP PUBLICATION IF EXISTS capbench_pub")
    cur.execute(f"DROP TABLE IF EXISTS capbench.lt, capbench.other; CREATE TABLE capbench.lt ({COLS}); CREATE TABLE capbench.other ({COLS})")
    cur.execute("CREATE PUBLICATION capbench_pub FOR TABLE capbench.lt")
    for s in ("capbench_td", "capbench_po"):
        cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (s,))
        if cur.fetchone()[0]:
            cur.execute("SELECT pg_drop_replication_slot(%s)", (s,))
    cur.execute("SELECT pg_create_logical_replication_slot('capbench_td', 'test_decoding')")
    cur.execute("SELECT pg_create_logical_replication_slot('capbench_po', 'pgoutput')")
    k = 100000
    # (a commit is decoded once its WAL is flushed: the cluster runs with
    # synchronous_commit = off)
    cur.execute("SET synchronous_commit = on")

    def write(other_factor):
        cur.execute("""DO $$ BEGIN FOR i IN 1 .. %s LOOP
                         INSERT INTO capbench.lt SELECT g %% 100000, '2024-03-01', 'view', NULL FROM generate_series(1, 10) g;
                         IF %s > 0 THEN
                           INSERT INTO capbench.other SELECT g, '2024-03-01', 'view', NULL FROM generate_series(1, 10 * %s) g;
                         END IF;
                         COMMIT; END LOOP; END $$""", (k // 10, other_factor, other_factor))

    # a refresh that takes the changes and then fails: with get_changes the
    # slot has moved on, the events are gone
    write(0)
    cur.execute("BEGIN")
    got = one(cur, "SELECT count(*) FROM pg_logical_slot_get_changes('capbench_td', NULL, NULL, 'skip-empty-xacts', '1') WHERE data LIKE 'table capbench.lt: INSERT%%'")
    cur.execute("ROLLBACK")
    again = one(cur, "SELECT count(*) FROM pg_logical_slot_peek_changes('capbench_td', NULL, NULL, 'skip-empty-xacts', '1') WHERE data LIKE 'table capbench.lt: INSERT%%'")
    print(f"  get_changes inside a refresh that rolls back: {got:,} of {k:,} events taken, {again:,} in the slot afterwards:"
          f" {k - again:,} lost. Consume by peek; advance only to what a committed refresh recorded")
    cur.execute("SELECT pg_replication_slot_advance('capbench_po', pg_current_wal_lsn())")
    for other in (0, 4):
        td, po, wal = [], [], []
        for r in range(rounds):
            lsn0 = one(cur, "SELECT pg_current_wal_insert_lsn()")
            write(other)
            wal.append(one(cur, "SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", (lsn0,)))
            t0 = time.perf_counter()
            n = one(cur, """SELECT count(*) FROM pg_logical_slot_get_changes('capbench_td', NULL, NULL, 'skip-empty-xacts', '1',
                                                                             'include-xids', '0')
                            WHERE data LIKE 'table capbench.lt: INSERT%%'""")
            td.append(time.perf_counter() - t0)
            assert n == k, n
            t0 = time.perf_counter()
            n = one(cur, """SELECT count(*) FROM pg_logical_slot_get_binary_changes('capbench_po', NULL, NULL, 'proto_version', '1',
                                                                                    'publication_names', 'capbench_pub')
                            WHERE get_byte(data, 0) = 73""")   # 'I'
            po.append(time.perf_counter() - t0)
            assert n == k, n
        ktd, kpo = statistics.median(td), statistics.median(po)
        print(f"  {k:,} tracked inserts{f' among {other * k:,} inserts into another table' if other else ''} "
              f"(WAL {statistics.median(wal) / 2**20:.0f} MB): test_decoding {ktd * 1000:.0f} ms ({ktd / k * 1e6:.1f} us/event), "
              f"pgoutput {kpo * 1000:.0f} ms ({kpo / k * 1e6:.1f} us/event)")
    cur.execute("SELECT pg_drop_replication_slot('capbench_td'), pg_drop_replication_slot('capbench_po')")
    cur.execute("DROP PUBLICATION capbench_pub")
    cur.execute("DROP TABLE capbench.lt, capbench.other")


# ---------------------------------------------------------------------------
# The logical replication apply worker writing a tracked tree (the design
# chosen for triggers): no statement trigger fires there, the row trigger
# enabled REPLICA does; the initial table sync is a COPY in replica role

TREE_DDL = """CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric) PARTITION BY RANGE (uid);
              CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (0) TO (1000);
              CREATE TABLE ev2 PARTITION OF ev FOR VALUES FROM (1000) TO (2000)"""


def apply_worker(cur):
    dsn = psycopg2.connect("").get_dsn_parameters()
    cur.execute("SELECT count(*) FROM pg_subscription WHERE subname = 'capbench'")
    if cur.fetchone()[0]:
        sys.exit("a subscription capbench is left from an earlier run: drop it first (in database capbench_sub)")
    for db in ("capbench_sub", "capbench_pub"):
        cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'capbench_sub'")
    if cur.fetchone()[0]:
        cur.execute("SELECT pg_drop_replication_slot('capbench_sub')")
    cur.execute("CREATE DATABASE capbench_pub")
    cur.execute("CREATE DATABASE capbench_sub")
    pub = psycopg2.connect(dbname="capbench_pub")
    pub.autocommit = True
    p = pub.cursor()
    p.execute(TREE_DDL)
    p.execute("ALTER TABLE ev1 REPLICA IDENTITY FULL; ALTER TABLE ev2 REPLICA IDENTITY FULL")
    p.execute("CREATE PUBLICATION capbench FOR TABLE ev")
    p.execute("INSERT INTO ev SELECT g, '2024-01-01', 'before', g FROM generate_series(1, 1999, 2) g")   # 1,000 rows, copied by the sync
    p.execute("SELECT pg_create_logical_replication_slot('capbench_sub', 'pgoutput')")
    sub = psycopg2.connect(dbname="capbench_sub")
    sub.autocommit = True
    s = sub.cursor()
    s.execute("SET client_min_messages = warning")
    s.execute("CREATE EXTENSION segmentation")
    s.execute(TREE_DDL)
    s.execute("SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount')")
    s.execute("SELECT segmentation.refresh()")
    conninfo = f"host={dsn['host']} port={dsn['port']} user={dsn['user']} dbname=capbench_pub"
    s.execute(f"""CREATE SUBSCRIPTION capbench CONNECTION '{conninfo}' PUBLICATION capbench
                  WITH (create_slot = false, slot_name = 'capbench_sub')""")

    def wait_for(n):
        for _ in range(600):
            if one(s, "SELECT count(*) FROM ev") == n:
                return True
            time.sleep(0.1)
        return False
    synced = wait_for(1000)
    queued_sync = one(s, "SELECT count(*) FROM segmentation.pending_events")
    # after the sync: multi-row INSERT via the parent, straight into a
    # partition, COPY, an update and a delete
    p.execute("INSERT INTO ev SELECT g, '2024-01-02', 'after', g FROM generate_series(2, 1998, 2) g")    # 999 rows
    p.execute("INSERT INTO ev1 VALUES (0, '2024-01-02', 'after', 0)")
    p.copy_expert("COPY ev FROM STDIN", io.StringIO("".join(f"{g}\t2024-01-03\tcopy\t1\n" for g in range(1000, 1100))))
    p.execute("UPDATE ev SET amount = -1 WHERE uid = 1; DELETE FROM ev WHERE uid = 3")
    applied = wait_for(1000 + 999 + 1 + 100 - 1) and one(s, "SELECT amount FROM ev WHERE uid = 1") == -1
    s.execute("SELECT count(*), count(DISTINCT (user_id, ts, event)) FROM segmentation.pending_events")
    queued, distinct = s.fetchone()
    s.execute("SELECT array_agg(DISTINCT user_id ORDER BY user_id) FROM segmentation.dirty_users")
    dirty = s.fetchone()[0]
    s.execute("SELECT segmentation.refresh()")
    inc = one(s, "SELECT md5(string_agg(user_id::text || behavior::text, ',' ORDER BY user_id)) FROM segmentation.profiles")
    s.execute("SELECT segmentation.refresh(full => true)")
    full = one(s, "SELECT md5(string_agg(user_id::text || behavior::text, ',' ORDER BY user_id)) FROM segmentation.profiles")
    print("logical replication apply worker writing a tracked partitioned table (statement triggers ORIGIN + row trigger REPLICA):")
    print(f"  initial sync of 1,000 rows: {'done' if synced else 'NOT DONE'}, {queued_sync:,} events queued")
    print(f"  then 1,100 rows applied (multi-row INSERT via the parent, INSERT into a partition, COPY), an UPDATE and a DELETE: "
          f"{'done' if applied else 'NOT DONE'}; {queued:,} events queued ({distinct:,} distinct), users recomputed {dirty}")
    print(f"  incremental refresh equals full: {inc == full}")
    s.execute("ALTER SUBSCRIPTION capbench DISABLE")
    s.execute("ALTER SUBSCRIPTION capbench SET (slot_name = NONE)")
    s.execute("DROP SUBSCRIPTION capbench")
    sub.close()
    p.execute("SELECT pg_drop_replication_slot('capbench_sub')")
    pub.close()
    for db in ("capbench_sub", "capbench_pub"):
        cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    sizes = ("write" if sys.argv[2] == "write" else [int(x) for x in sys.argv[2].split(",")]) if len(sys.argv) > 2 else [1000000, 4000000]
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    if one(cur, "SHOW wal_level") != "logical":
        sys.exit("bench/capture.py needs wal_level = logical (bench/run.sh capture sets it)")
    cur.execute("SET client_min_messages = warning")
    cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("SET jit = off")
    write_cost(cur, rounds)
    if sizes == "write":
        cur.execute("DROP SCHEMA capbench CASCADE")
        return
    watermark_counterexamples(conn.dsn)
    watermark_read(cur, sizes, 3)
    decoding(cur, 3)
    apply_worker(cur)
    cur.execute("DROP SCHEMA capbench CASCADE")
    cur.execute("DROP EXTENSION segmentation CASCADE")


if __name__ == "__main__":
    main()
