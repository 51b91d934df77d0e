#!/usr/bin/python3
"""Citus suite (DESIGN section 8): every aggregate of the extension on a
table distributed by user id, equal to a single-node run on the same rows.

test/citus.sh starts a coordinator and two workers and runs this with
CITUS_COORDINATOR (port) and CITUS_WORKERS (ports, comma-separated) set and
PGHOST the directory of their sockets.  In its own database on every node:
Citus, the extension (created on the coordinator, propagated), an events
table distributed by user id with fixed-seed rows (uniform users and a few
heavy ones) and the same rows in a plain table on the coordinator.

For every aggregate, with citus.coordinator_aggregation_strategy = 'disabled'
(so that Citus may not gather rows to the coordinator and aggregate there):
  * grouped by user id, the whole aggregate runs on the workers (EXPLAIN: the
    aggregate is in the workers' query, no aggregation on the coordinator);
  * grouped by something else (a cohort, a day), Citus splits it: partial
    states on the workers (worker_partial_agg), combined on the coordinator
    (coord_combine_agg) through the state type's text form;
  * and over the whole table (no GROUP BY), split the same way;
each equal, group for group, to the plain table's answer.
An aggregate Citus cannot split (an internal state, no combine function)
fails here: none is skipped.

Then capture_refused and shards_and_dependents: a table Citus manages that
capture cannot follow (here: owned by a role that is not a superuser,
distributed after it was tracked, a shard, a Citus local table) is refused
by track() and by refresh, never missed without a word.

Then the fn_extra check (src/aggregates.c): Citus calls the transition
function with a new FmgrInfo for every row, so the states' shared memory
context must be found without fn_extra: over many groups per shard, the
workers' partial aggregation takes about the memory of the plain aggregate
on that shard (with a context per group it took several times more, and
spilled).

Then the managed pipeline on a table Citus distributes (capture on the
shards, doc/citus.md "Capture"), each in databases of its own:
pipeline_vs_single_node (the same steps on a single node and on Citus,
every table and view compared after each refresh), read_paths_distributed
(profiles and transitions distributed by the test: every role reads through
every view what it read before, through SECURITY DEFINER functions that are
an error on a worker), exactly_once_on_citus (writers, refreshes, shard
moves and a split at once; a failed refresh), citus_refusals (what capture
on the shards cannot follow).
"""
import collections
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite  # noqa: E402

DB = "segmentation_citus"
COORD = int(os.environ["CITUS_COORDINATOR"])
WORKERS = [int(p) for p in os.environ["CITUS_WORKERS"].split(",")]

suite = Suite("citus suite", stop_on_failure=False)
check = suite.check

CONDS3 = "ARRAY[ev = 'a', ev = 'b', ev = 'c']"
# (name, expression over events, wrapper to compare by): every aggregate
AGGREGATES = [
    ("behavior_agg(ts)", "segmentation.behavior_agg(ts)::text"),
    ("behavior_agg(ts, feature)", "segmentation.behavior_agg(ts, feature)::text"),
    ("behavior_agg(ts, feature, value)", "segmentation.behavior_agg(ts, feature, value)::text"),
    ("behavior_agg_features", "segmentation.behavior_agg_features(ts, feature, "
     "ARRAY[CASE WHEN ev = 'x' THEN 100 END, CASE WHEN value > 50 THEN 101 END], value)::text"),
    ("window_funnel(3 args)", f"segmentation.window_funnel(ts, {CONDS3}, interval '2 days')"),
    ("window_funnel(modes)", f"segmentation.window_funnel(ts, {CONDS3}, interval '2 days', 'strict_order')"),
    ("sequence_match", "segmentation.sequence_match(ts, ARRAY[ev = 'a', ev = 'b'], '(?1)(?t<=3600)(?2)')"),
    ("sequence_count", "segmentation.sequence_count(ts, ARRAY[ev = 'a', ev = 'b'], '(?1).*(?2)')"),
    ("sequence_next_node", "segmentation.sequence_next_node(ts, ev, ev = 'a', ARRAY[ev = 'a', ev = 'b'], "
     "'forward', 'first_match')"),
    ("retention_flags", f"segmentation.retention_flags({CONDS3})::text"),
]
# over stored behaviors: one per user and day
STORED = [
    ("behavior_union_agg", "segmentation.behavior_union_agg(b)::text"),
    ("rfm_breakpoints", "segmentation.rfm_breakpoints(b, timestamptz '2024-04-01')::text"),
]


def connect(port, db=DB):
    conn = psycopg2.connect(dbname=db, port=port)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    return conn, cur


def setup():
    for port in [COORD] + WORKERS:
        conn, cur = connect(port, "postgres")
        cur.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB}")
        conn.close()
        conn, cur = connect(port)
        cur.execute("CREATE EXTENSION citus")
        conn.close()
    conn, cur = connect(COORD)
    cur.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (COORD,))
    for port in WORKERS:
        cur.execute("SELECT citus_add_node('127.0.0.1', %s)", (port,))
    # created on the coordinator: Citus creates it on the workers too
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("SELECT result FROM run_command_on_workers("
                "$$SELECT extversion FROM pg_extension WHERE extname = 'segmentation'$$)")
    versions = [r[0] for r in cur.fetchall()]
    check("CREATE EXTENSION segmentation on the coordinator reaches both workers",
          versions == ["0.2", "0.2"], versions)

    # fixed-seed rows: 2000 uniform users (50 events each), 40 heavy ones
    # (1000 each) and one very heavy (20000), 90 days, NULL features
    cur.execute("""
        CREATE TABLE events_local (user_id bigint NOT NULL, cohort int NOT NULL, ts timestamptz,
                                   feature int, value float8, ev text);
        SELECT setseed(0.42);
        INSERT INTO events_local
        SELECT u, (u * 7919) % 37,
               timestamptz '2024-01-01' + floor(random() * 90 * 86400) * interval '1 second',
               CASE WHEN random() < 0.1 THEN NULL ELSE floor(random() * 20)::int END,
               round((random() * 100)::numeric, 2)::float8,
               (ARRAY['a', 'b', 'c', 'x', 'y', 'z'])[1 + floor(random() * 6)::int]
        FROM generate_series(1, 2000) u, generate_series(1, 50) i;
        INSERT INTO events_local
        SELECT u, (u * 7919) % 37,
               timestamptz '2024-01-01' + floor(random() * 90 * 86400) * interval '1 second',
               floor(random() * 5)::int, round((random() * 10)::numeric, 2)::float8,
               (ARRAY['a', 'b', 'c', 'x'])[1 + floor(random() * 4)::int]
        FROM generate_series(3001, 3040) u, generate_series(1, 1000) i;
        INSERT INTO events_local
        SELECT 5000, 5000 % 37, timestamptz '2024-01-01' + i * interval '6 minutes', i % 7, 1.5,
               (ARRAY['a', 'b', 'c'])[1 + i % 3]
        FROM generate_series(1, 20000) i;
        INSERT INTO events_local VALUES (1, 1, NULL, 3, 1, 'a');  -- a row without a time
        CREATE TABLE events (LIKE events_local);
        SELECT create_distributed_table('events', 'user_id', shard_count => 8);
        INSERT INTO events SELECT * FROM events_local;
        CREATE TABLE daily_local AS
        SELECT user_id, cohort, ts::date AS day, segmentation.behavior_agg(ts, feature, value) AS b
        FROM events_local WHERE ts IS NOT NULL GROUP BY 1, 2, 3;
        CREATE TABLE daily (LIKE daily_local);
        SELECT create_distributed_table('daily', 'user_id', colocate_with => 'events');
        INSERT INTO daily SELECT user_id, cohort, ts::date, segmentation.behavior_agg(ts, feature, value)
        FROM events WHERE ts IS NOT NULL GROUP BY 1, 2, 3;
    """)
    cur.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events_local)")
    n, nl = cur.fetchone()
    check("the distributed table holds the same rows", n == nl and n > 100000, f"{n} vs {nl}")
    cur.execute("SELECT (SELECT count(*) FROM daily), (SELECT count(*) FROM daily_local), "
                "(SELECT count(*) FROM (SELECT user_id, cohort, day, b::text FROM daily_local "
                "EXCEPT SELECT user_id, cohort, day, b::text FROM daily) d)")
    n, nl, diff = cur.fetchone()
    check("per-user behaviors computed on the workers equal the single-node ones",
          n == nl and diff == 0, f"{n} vs {nl}, {diff} differ")
    return conn, cur


def explain(cur, sql):
    cur.execute("EXPLAIN (VERBOSE, COSTS OFF) " + sql)
    return "\n".join(r[0] for r in cur.fetchall())


def coordinator_part(plan):
    """The plan's lines above Citus's custom scan: what the coordinator runs."""
    lines = plan.split("\n")
    for i, line in enumerate(lines):
        if "Custom Scan (Citus" in line:
            return lines[:i]
    return lines


def run_aggregates(cur, name, expr, table):
    local = table + "_local"
    shapes = [
        ("by user id", "user_id", "pushdown"),
        ("by cohort", "cohort", "split"),
        ("by day", "ts::date" if table == "events" else "day", "split"),
        ("over the whole table", None, "split"),
    ]
    for label, key, how in shapes:
        if key:
            sql = f"SELECT {key} AS g, {expr} AS r FROM {{t}} GROUP BY 1 ORDER BY 1"
        else:
            sql = f"SELECT 0 AS g, {expr} AS r FROM {{t}}"
        what = f"{name} {label}"
        try:
            cur.execute(sql.format(t=local))
            want = cur.fetchall()
            cur.execute(sql.format(t=table))
            got = cur.fetchall()
        except psycopg2.Error as e:
            check(f"{what}: runs on Citus without gathering rows", False, str(e).strip().split("\n")[0])
            continue
        check(f"{what}: equal to the single-node answer ({len(want)} groups)", got == want,
              f"{sum(1 for a, b in zip(got, want) if a != b)} groups differ, {len(got)} vs {len(want)}")
        plan = explain(cur, sql.format(t=table))
        coord = "\n".join(coordinator_part(plan))
        if how == "pushdown":
            ok = "Aggregate" not in coord and re.search(r"GROUP BY .*user_id", plan) is not None
            check(f"{what}: EXPLAIN shows it run whole on the workers", ok, plan)
        else:
            ok = "worker_partial_agg" in plan and "coord_combine_agg" in coord
            check(f"{what}: EXPLAIN shows it split (partial states on the workers, combined on the coordinator)",
                  ok, plan)


ANALYSIS_CELLS = (
    "segmentation._analysis_cells(b, jsonb_build_object('s', jsonb_build_array("
    "CASE WHEN user_id % 3 = 0 THEN 'a' ELSE 'b' END, '2024-01-01')), "
    "CASE WHEN user_id % 5 = 0 THEN ARRAY[timestamptz '2024-02-01'] END, "
    "CASE WHEN user_id % 5 = 0 THEN ARRAY[1] END, CASE WHEN user_id % 5 = 0 THEN ARRAY['c'] END, "
    "ARRAY['s'], timestamptz '2024-04-01', ARRAY['day', 'week', 'month'], ARRAY['day', 'week', 'month'], "
    "-1, -1, timestamptz '2023-01-01')")


def analysis_cells(cur):
    """_analysis_cells, refresh's count of the managed analyses' cells over
    every profile (src/analyses.c), split like the others: its state is a
    real type (_analysis_cells_state), so Citus runs it on the workers and
    combines their states on the coordinator (an internal state: "unsupported
    aggregate function", doc/citus-distribution.md A1).  Over the stored
    behaviors of `daily`, each row counted as a user in scheme s (a or b,
    and c until 2024-02-01 for every fifth), every cell equal to the single
    node's."""
    for label, key in [("by cohort", "cohort"), ("over the whole table", None)]:
        inner = f"SELECT {key or 0} AS g, {ANALYSIS_CELLS} AS c FROM {{t}}" + (" GROUP BY 1" if key else "")
        sql = ("WITH a AS MATERIALIZED (" + inner + ") "
               "SELECT a.g, u.* FROM a, unnest((a.c).periods, (a.c).schemes, (a.c).segments, (a.c).kinds, "
               "(a.c).starts, (a.c).ks, (a.c).users) u ORDER BY 1, 2, 3, 4, 5, 6, 7, 8")
        what = f"_analysis_cells {label}"
        try:
            cur.execute(sql.format(t="daily_local"))
            want = cur.fetchall()
            cur.execute(sql.format(t="daily"))
            got = cur.fetchall()
        except psycopg2.Error as e:
            check(f"{what}: runs on Citus without gathering rows", False, str(e).strip().split("\n")[0])
            continue
        check(f"{what}: every cell equal to the single-node count ({len(want)} cells)",
              got == want and len(want) > 1000, f"{len(got)} vs {len(want)} cells")
        plan = explain(cur, inner.format(t="daily"))
        coord = "\n".join(coordinator_part(plan))
        check(f"{what}: EXPLAIN shows it split (partial states on the workers, combined on the coordinator)",
              "worker_partial_agg" in plan and "coord_combine_agg" in coord, plan)


def hash_memory(cur, query):
    """(groups, kB, batches) of the HashAggregate of query"""
    cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + query)
    plan = "\n".join(r[0] for r in cur.fetchall())
    m = re.search(r"HashAggregate \(actual rows=(\d+).*\n.*\n\s*Batches: (\d+)\s+Memory Usage: (\d+)kB", plan)
    if not m:
        return None, None, plan
    return int(m.group(1)), int(m.group(3)), int(m.group(2))


def state_memory(cur):
    """Many groups per shard: the workers' partial aggregation of
    behavior_agg (Citus's worker_partial_agg, which calls the transition
    function with a new FmgrInfo for every row) keeps all its states in one
    memory context, found without fn_extra: it takes about the memory of
    the plain aggregate over the same shard, not a context (8 kB at least)
    per group more, which spilled to disk in 0.1.  Run on a worker, as Citus
    sends it (EXPLAIN ANALYZE through Citus cannot show a partial
    aggregate's plan)."""
    sql = ("SELECT date_trunc('hour', ts) AS g, segmentation.behavior_agg(ts, feature, value) "
           "FROM events GROUP BY 1")
    plan = explain(cur, sql)
    query = re.search(r"Query: (.*)", plan)
    node = re.search(r"Node: host=\S+ port=(\d+)", plan)
    shard = re.search(r"FROM public\.(events_\d+) events", query.group(1) if query else "")
    if not (query and node and shard and "worker_partial_agg" in query.group(1)):
        check("behavior_agg split over many groups: the workers' query found", False, plan)
        return
    wconn, wcur = connect(int(node.group(1)))
    wcur.execute("SET work_mem = '256MB'")
    wcur.execute("SET enable_sort = off")
    wcur.execute("SET max_parallel_workers_per_gather = 0")
    groups, kb, batches = hash_memory(wcur, query.group(1))
    pgroups, pkb, _ = hash_memory(wcur, f"SELECT date_trunc('hour', ts) AS g, "
                                  f"segmentation.behavior_agg(ts, feature, value) FROM {shard.group(1)} GROUP BY 1")
    wconn.close()
    check(f"behavior_agg split over {groups} groups on one shard: the worker's partial states take "
          f"{kb} kB, the plain aggregate's {pkb} kB (no memory context per group)",
          groups is not None and pgroups == groups and groups > 1000 and batches == 1 and kb < 1.5 * pkb,
          f"{groups} {kb} {batches} / {pgroups} {pkb}")


def as_plain_role(cur):
    """Citus's worker_partial_agg and coord_combine_agg check that the
    calling role may execute the aggregate's transition, combine and final
    functions (PostgreSQL checks only the aggregate's owner): a role that
    may call the aggregates but owns nothing gets the split ones too."""
    cur.execute("DROP ROLE IF EXISTS citus_analyst")
    cur.execute("CREATE ROLE citus_analyst LOGIN")
    cur.execute("GRANT USAGE ON SCHEMA segmentation TO citus_analyst")
    # (the extension's schema is not a Citus-distributed object: its grants
    # are not propagated; doc/citus.md says to grant on every node)
    cur.execute("SELECT bool_and(success) FROM run_command_on_workers("
                "$$GRANT USAGE ON SCHEMA segmentation TO citus_analyst$$)")
    check("GRANT USAGE ON SCHEMA segmentation on the workers", cur.fetchone()[0])
    cur.execute("GRANT SELECT ON events, daily TO citus_analyst")
    conn = psycopg2.connect(dbname=DB, port=COORD, user="citus_analyst")
    conn.autocommit = True
    rcur = conn.cursor()
    rcur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    for name, expr in AGGREGATES + STORED:
        table = "daily" if (name, expr) in STORED else "events"
        try:
            rcur.execute(f"SELECT cohort, {expr} FROM {table} GROUP BY 1")
            check(f"{name} split, as a role with only USAGE and SELECT", True)
        except psycopg2.Error as e:
            check(f"{name} split, as a role with only USAGE and SELECT", False, str(e).strip().split("\n")[0])
    conn.close()


def error_of(cur, sql, args=None):
    """(sqlstate, message) of the error sql raises, or None"""
    try:
        cur.execute(sql, args)
    except psycopg2.Error as e:
        return e.pgcode, e.pgerror.strip().split("\n")[0]
    return None


def in_thread(cur, sql, errors):
    """cur runs sql in a thread of its own (its error into errors): the thread"""
    def run():
        try:
            cur.execute(sql)
        except psycopg2.Error as e:
            errors.append(str(e))
    t = threading.Thread(target=run)
    t.start()
    return t


def waits_for(cur, relation, thread):
    """whether a session waits for a lock on relation (on cur's node) before
    thread ends: polled, no timed wait"""
    while thread.is_alive():
        cur.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE relation = %s::regclass AND NOT granted)", (relation,))
        if cur.fetchone()[0]:
            return True
        time.sleep(0.05)
    return False


def tracked_events(cur, table):
    """a table distributed by user id (4 shards), tracked, 20 users with 3
    events each, refreshed"""
    cur.execute("SET client_min_messages = error")
    cur.execute(f"CREATE TABLE {table} (user_id bigint, ts timestamptz, ev text, v float8)")
    cur.execute(f"SELECT create_distributed_table('{table}', 'user_id', shard_count => 4)")
    cur.execute(f"SELECT segmentation.track('{table}', 'user_id', 'ts', 'ev', 'v')")
    cur.execute(f"""INSERT INTO {table} SELECT u, '2024-01-01'::timestamptz + i * interval '1 hour', 'a', 1
                    FROM generate_series(1, 20) u, generate_series(1, 3) i""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")


def counted(cur, table, users):
    """(events the profiles of users count, rows of theirs in table)"""
    cur.execute("SELECT coalesce(sum(segmentation.event_count(p.behavior)), 0) FROM segmentation.profiles p "
                "WHERE p.user_id = ANY(%s)", (users,))
    n = cur.fetchone()[0]
    cur.execute(f"SELECT count(*) FROM {table} WHERE user_id = ANY(%s)", (users,))
    return n, cur.fetchone()[0]


def on_every_node(cur, sql):
    """sql's one value on the coordinator and on each worker"""
    cur.execute(sql)
    values = [cur.fetchone()[0]]
    cur.execute("SELECT result FROM run_command_on_workers(%s) ORDER BY nodeport", (sql,))
    return values + [r[0] for r in cur.fetchall()]


def capture_refused(cur):
    """Citus writes a distributed table's rows on its shards; capture
    follows them there only for a table installed so (doc/citus.md,
    "Capture").  track() refuses a distributed table whose owner is not a
    superuser; a plain table tracked, then distributed (its shards' triggers
    carry no source: every new event was missed without a word) is refused
    by refresh, untrack() of it works; making a tracked table a Citus local
    table fails (its shard's copies of the capture triggers get other
    names, which capture refuses)."""
    quiet = "SET client_min_messages = error"  # Citus's notices about the extension's views
    cur.execute(quiet)
    cur.execute("DROP ROLE IF EXISTS citus_tracker")
    cur.execute("CREATE ROLE citus_tracker LOGIN IN ROLE segmentation_admin")
    cur.execute("""CREATE TABLE tracked_dist (user_id bigint, ts timestamptz, ev text, v float8);
                   ALTER TABLE tracked_dist OWNER TO citus_tracker;
                   SELECT create_distributed_table('tracked_dist', 'user_id')""")
    for unsafe in ("off", "on"):
        cur.execute(f"SET citus.enable_unsafe_triggers = {unsafe}")
        cur.execute("SET ROLE citus_tracker")
        err = error_of(cur, "SELECT segmentation.track('tracked_dist', 'user_id', 'ts', 'ev', 'v')")
        cur.execute("RESET ROLE")
        check(f"track() of a distributed table refused, citus.enable_unsafe_triggers {unsafe} (as a segmentation_admin "
              "that owns it)", err is not None and err[0] == "0A000" and "managed by Citus" in err[1], err)
    cur.execute("RESET citus.enable_unsafe_triggers")
    cur.execute("SELECT count(*) FROM segmentation.sources")
    n = cur.fetchone()[0]
    check("... and nothing was tracked, no trigger on any node", n == 0 and on_every_node(
        cur, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'segmentation_capture%'") == [0, "0", "0"], n)

    # a tracked plain table that a superuser distributes later
    cur.execute("""CREATE TABLE tracked_later (user_id bigint, ts timestamptz, ev text, v float8);
                   SELECT segmentation.track('tracked_later', 'user_id', 'ts', 'ev', 'v');
                   INSERT INTO tracked_later VALUES (1, '2024-01-01', 'a', 1), (2, '2024-01-02', 'b', 2)""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-01')")
    cur.execute("SELECT count(*) FROM segmentation.profiles")
    check("a tracked plain table on the coordinator refreshes", cur.fetchone()[0] == 2)
    cur.execute("""SET citus.enable_unsafe_triggers = on;
                   SELECT create_distributed_table('tracked_later', 'user_id');
                   RESET citus.enable_unsafe_triggers""")
    err = error_of(cur, "INSERT INTO tracked_later VALUES (3, '2024-01-03', 'c', 3)")
    check("distributed with citus.enable_unsafe_triggers, the application's writes go on", err is None, err)
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-02-02')")
    check("... and refresh refuses it, loudly (no event missed without a word)",
          err is not None and err[0] == "0A000" and "now managed by Citus" in err[1], err)
    cur.execute("SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    last = cur.fetchone()[0]
    check("... with the error in refresh_runs", last is not None and "managed by Citus" in last, last)
    err = error_of(cur, "SELECT segmentation.untrack('tracked_later')")
    check("untrack() of a tracked table Citus came to manage works", err is None, err)
    cur.execute("SHOW citus.enable_unsafe_triggers")
    unsafe = cur.fetchone()[0]
    cur.execute("SHOW citus.multi_shard_modify_mode")
    mode = cur.fetchone()[0]
    check("... and leaves citus.enable_unsafe_triggers and multi_shard_modify_mode as they were",
          (unsafe, mode) == ("off", "parallel"), (unsafe, mode))
    # (Citus drops the shards' copies of a trigger with it, but for TRUNCATE
    # triggers: those stay, and capture, finding no tracked table on the
    # worker, does nothing when they fire)
    triggers = on_every_node(cur, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'segmentation_capture%' "
                             "AND tgname NOT LIKE 'segmentation_capture_truncate%'")
    check("... and no capture trigger is left on any node, shards included (but the shards' TRUNCATE ones)",
          triggers == [0, "0", "0"], triggers)
    err = error_of(cur, "INSERT INTO tracked_later VALUES (4, '2024-01-04', 'd', 4)")
    check("... the application's writes go on", err is None, err)
    err = error_of(cur, "TRUNCATE tracked_later")
    leftover = on_every_node(cur, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'segmentation_capture_truncate%'")
    check("... and a TRUNCATE, which fires the shards' leftover TRUNCATE triggers (no tracked table there), works",
          err is None and int(leftover[1]) + int(leftover[2]) > 0, (err, leftover))
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-02-03')")
    check("... and refresh runs again", err is None, err)

    # a tracked table made a Citus local table
    cur.execute("""CREATE TABLE tracked_local (user_id bigint, ts timestamptz, ev text, v float8);
                   SELECT segmentation.track('tracked_local', 'user_id', 'ts', 'ev', 'v')""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-04')")
    for unsafe in ("off", "on"):
        cur.execute(f"SET citus.enable_unsafe_triggers = {unsafe}")
        err = error_of(cur, "SELECT citus_add_local_table_to_metadata('tracked_local')")
        cur.execute("RESET citus.enable_unsafe_triggers")
        cur.execute("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'tracked_local'::regclass")
        managed = cur.fetchone()[0]
        check(f"a tracked table cannot be made a Citus local table (citus.enable_unsafe_triggers {unsafe})",
              err is not None and managed == 0, (err, managed))
    cur.execute("INSERT INTO tracked_local VALUES (5, '2024-01-05', 'e', 5)")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-05')")
    cur.execute("SELECT mode, events_read FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    run = cur.fetchone()
    check("... and it stays captured: the next refresh is incremental and reads its new event",
          run == ("incremental", 1), run)
    cur.execute("SELECT segmentation.untrack('tracked_local'); RESET client_min_messages")


def shards_and_dependents(cur):
    """Review 25.  A Citus shard (on a worker, or on a coordinator that has
    shards; hidden from pg_class unless citus.override_table_visibility is
    off, which any role may set) holds some of a distributed table's rows,
    and Citus drops it when it moves or splits it: track() refuses it.
    The capture function, segmentation._capture(), is one for every source
    and never dropped but with the extension: an object of another role that
    depends on it (a segmentation_reader may use the schema) neither blocks
    untrack() of a tracked table Citus came to manage nor is dropped by it,
    on the coordinator or a worker.  And refresh's hint says what to do:
    untrack, undistribute_table (which, as a DROP TABLE would, untracks the
    table it replaces), track again."""
    cur.execute("SET client_min_messages = error")
    cur.execute("""CREATE TABLE r25_dist (user_id bigint, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('r25_dist', 'user_id')""")
    cur.execute("SELECT shard_name, nodeport FROM citus_shards WHERE table_name = 'r25_dist'::regclass ORDER BY shardid LIMIT 1")
    shard, port = cur.fetchone()
    wconn, wcur = connect(port)
    # (any role may set both: with DDL propagation, Citus refuses the
    # capture function's CREATE on a worker anyway)
    wcur.execute("SET client_min_messages = error; SET citus.override_table_visibility = off; "
                 "SET citus.enable_ddl_propagation = off")
    for table in (shard, "r25_dist"):
        err = error_of(wcur, "SELECT segmentation.track(%s, 'user_id', 'ts', 'ev', 'v')", (table,))
        check(f"track() of {'a shard' if table == shard else 'a distributed table'} on a worker refused",
              err is not None and err[0] == "0A000" and "managed by Citus" in err[1], err)
    wcur.execute("RESET citus.enable_ddl_propagation; SELECT count(*) FROM segmentation.sources")
    n = wcur.fetchone()[0]
    check("... and nothing tracked on the worker", n == 0, n)

    cur.execute("""CREATE TABLE r25_later (user_id bigint, ts timestamptz, ev text, v float8);
                   SELECT segmentation.track('r25_later', 'user_id', 'ts', 'ev', 'v');
                   INSERT INTO r25_later VALUES (1, '2024-01-01', 'a', 1);
                   SET citus.enable_unsafe_triggers = on;
                   SELECT create_distributed_table('r25_later', 'user_id');
                   RESET citus.enable_unsafe_triggers""")
    fn = "segmentation._capture()"
    hint = None
    try:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-01')")
    except psycopg2.Error as e:
        hint = e.diag.message_hint
    check("refresh's hint says to untrack it and track it again",
          hint is not None and "Untrack it" in hint and "track it again" in hint, hint)

    cur.execute("DROP ROLE IF EXISTS r25_reader")
    cur.execute("CREATE ROLE r25_reader LOGIN IN ROLE segmentation_reader")
    cur.execute("CREATE SCHEMA r25_hs AUTHORIZATION r25_reader")
    cur.execute(f"""SET ROLE r25_reader; SET citus.enable_ddl_propagation = off;
                    CREATE VIEW r25_hs.v AS SELECT {fn} IS NULL AS x;
                    RESET citus.enable_ddl_propagation; RESET ROLE""")
    wcur.execute(f"""SET ROLE r25_reader; SET citus.enable_ddl_propagation = off;
                     CREATE FUNCTION r25_hs.f() RETURNS boolean LANGUAGE sql BEGIN ATOMIC SELECT {fn} IS NULL; END;
                     RESET ROLE""")
    cur.execute("SET citus.enable_ddl_propagation = off; CREATE VIEW r25_victim AS SELECT * FROM r25_hs.v; "
                "RESET citus.enable_ddl_propagation")
    err = error_of(cur, "SELECT segmentation.untrack('r25_later')")
    cur.execute("SELECT to_regclass('r25_victim') IS NOT NULL AND to_regclass('r25_hs.v') IS NOT NULL")
    kept = cur.fetchone()[0]
    wcur.execute("SELECT to_regprocedure('r25_hs.f()') IS NOT NULL")
    kept_w = wcur.fetchone()[0]
    check("untrack() of it works, and keeps another role's objects that depend on the capture function "
          "(on the coordinator and on a worker)", err is None and kept and kept_w, (err, kept, kept_w))
    cur.execute("SET citus.enable_ddl_propagation = off; DROP VIEW r25_victim, r25_hs.v; RESET citus.enable_ddl_propagation")
    wcur.execute("SET citus.enable_ddl_propagation = off; DROP FUNCTION r25_hs.f()")
    wconn.close()
    cur.execute("SELECT undistribute_table('r25_later')")
    cur.execute("""SELECT segmentation.track('r25_later', 'user_id', 'ts', 'ev', 'v');
                   INSERT INTO r25_later VALUES (2, '2024-01-02', 'b', 1)""")
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-03-02')")
    cur.execute("SELECT count(*) FROM segmentation.profiles WHERE user_id IN (1, 2)")
    n = cur.fetchone()[0]
    check("... then undistribute_table and track() again: refresh counts its events", err is None and n == 2,
          (err, n))
    cur.execute("SELECT segmentation.untrack('r25_later'); DROP TABLE r25_later, r25_dist; DROP SCHEMA r25_hs; "
                "DROP ROLE r25_reader; RESET client_min_messages")


def review28(cur):
    """Review 28: capture on the shards of a table Citus distributes.
    R28-1: Citus moves and splits a shard with logical replication: its
    apply worker writes the rows written meanwhile on the old shard into
    the new one with session_replication_role = replica, which fires the
    shard's copy of segmentation_capture_replica (enabled REPLICA): an event
    written during a citus_move_shard_placement was queued twice and
    counted twice.  Capture now skips Citus's own shard transfers (by the
    subscription's name: exactly_once_on_citus moves shards under writers);
    a row a superuser writes on a shard in replica mode is still captured,
    once.
    R28-2: refresh drains the shards' queues in one statement and reads the
    source's shards in a later one (READ COMMITTED: another snapshot on each
    worker): an event committed in between was read from the table by a
    full run, or by an incremental run for a user it recomputes, and stayed
    queued for the next run, which counted it again.  Such a run now locks
    the distributed sources against writes first (the writer waits)."""
    tracked_events(cur, "r28_ev")

    # R28-1: a row applied on a shard in replica mode, as Citus's apply worker does
    cur.execute("SELECT s.shard_name, s.nodeport FROM citus_shards s WHERE s.table_name = 'r28_ev'::regclass "
                "AND s.shardid = get_shard_id_for_distribution_column('r28_ev', 1)")
    shard, port = cur.fetchone()
    cur.execute("SELECT format('segmentation.%I', 'citus_queue_' || id) FROM segmentation.sources "
                "WHERE source = 'r28_ev'::regclass")
    queue = cur.fetchone()[0]
    wconn, wcur = connect(port)
    wcur.execute("SET citus.override_table_visibility = off; SET session_replication_role = replica")
    wcur.execute(f"INSERT INTO {shard} VALUES (1, '2024-01-10', 'moved', 1)")
    wconn.close()
    cur.execute(f"SELECT count(*) FROM {queue}")
    queued = cur.fetchone()[0]
    check("R28-1: a row a superuser writes on a shard in replica mode (not Citus moving a shard) is queued once",
          queued == 1, queued)
    wconn, wcur = connect(port)
    wcur.execute("SET citus.override_table_visibility = off; SET session_replication_role = replica")
    wcur.execute(f"DELETE FROM {shard} WHERE ev = 'moved'")
    wconn.close()
    cur.execute(f"DELETE FROM {queue}")

    # R28-3: a shard on the coordinator (a coordinator with shards, or one a
    # move or split put there): Citus plans its read there, in refresh's
    # guarded statement (src/guard.c), which took it for an unchecked table
    cur.execute("SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.table_name = 'r28_ev'::regclass "
                "AND s.shardid = get_shard_id_for_distribution_column('r28_ev', 4)")
    shardid, port = cur.fetchone()
    cur.execute("SELECT citus_set_node_property('127.0.0.1', %s, 'shouldhaveshards', true)", (COORD,))
    cur.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, "
                "shard_transfer_mode => 'block_writes')", (shardid, port, COORD))
    cur.execute("INSERT INTO r28_ev VALUES (4, '2024-01-13', 'b', 1); UPDATE r28_ev SET v = 3 WHERE user_id = 4")
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
    n = counted(cur, "r28_ev", [4])
    check("R28-3: refresh reads a tracked table with a shard on the coordinator", err is None and n[0] == n[1], (err, n))
    cur.execute("TRUNCATE segmentation.truncated; INSERT INTO segmentation.truncated (source_id) VALUES (NULL)")
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
    n = counted(cur, "r28_ev", [4])
    check("R28-3: ... a full refresh too", err is None and n[0] == n[1], (err, n))
    cur.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, "
                "shard_transfer_mode => 'block_writes')", (shardid, COORD, port))
    cur.execute("SELECT citus_set_node_property('127.0.0.1', %s, 'shouldhaveshards', false)", (COORD,))

    # R28-4: Citus keeps a shard's TRUNCATE trigger when the table's goes (a
    # shard it moved or split has one, with the source's id): after untrack,
    # each TRUNCATE of the table failed for want of the source's queue
    cur.execute("CREATE TABLE r28_t (user_id bigint, ts timestamptz, ev text, v float8)")
    cur.execute("SELECT create_distributed_table('r28_t', 'user_id', shard_count => 2)")
    cur.execute("SELECT segmentation.track('r28_t', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.table_name = 'r28_t'::regclass ORDER BY 1 LIMIT 1")
    shardid, port = cur.fetchone()
    cur.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, "
                "shard_transfer_mode => 'block_writes')", (shardid, port, [w for w in WORKERS if w != port][0]))
    cur.execute("INSERT INTO r28_t SELECT u, '2024-01-01', 'a', 1 FROM generate_series(1, 10) u")
    cur.execute("SELECT segmentation.untrack('r28_t')")
    left = on_every_node(cur, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'segmentation_capture_truncate%'")
    err = error_of(cur, "TRUNCATE r28_t")
    check("R28-4: after untrack, TRUNCATE of a table whose shard Citus moved works (its shard's TRUNCATE "
          "trigger is left)", err is None, (err, left))
    err = error_of(cur, "INSERT INTO r28_t VALUES (1, '2024-01-01', 'a', 1)")
    check("R28-4: ... and so do the application's writes", err is None, err)
    cur.execute("DROP TABLE r28_t")

    # R28-5: a role with USAGE on the extension's schema (segmentation_reader)
    # may create a view or a function over a source's queue without any
    # privilege on it: untrack's DROP TABLE of the queue, and so untrack
    # and DROP TABLE of the tracked table, failed
    cur.execute("DROP ROLE IF EXISTS r28_reader")
    cur.execute("CREATE ROLE r28_reader LOGIN IN ROLE segmentation_reader")
    cur.execute("CREATE SCHEMA r28_hs AUTHORIZATION r28_reader")
    cur.execute("CREATE TABLE r28_d (user_id bigint, ts timestamptz, ev text, v float8)")
    cur.execute("SELECT create_distributed_table('r28_d', 'user_id', shard_count => 2)")
    for how, sql in (("untrack", "SELECT segmentation.untrack('r28_d')"), ("DROP TABLE", "DROP TABLE r28_d")):
        cur.execute("SELECT segmentation.track('r28_d', 'user_id', 'ts', 'ev', 'v')")
        cur.execute("SELECT format('segmentation.%I', 'citus_queue_' || id) FROM segmentation.sources "
                    "WHERE source = 'r28_d'::regclass")
        queue = cur.fetchone()[0]
        cur.execute(f"""SET ROLE r28_reader; SET citus.enable_ddl_propagation = off;
                        CREATE VIEW r28_hs.v AS SELECT * FROM {queue};
                        CREATE FUNCTION r28_hs.f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM {queue}; END;
                        RESET citus.enable_ddl_propagation; RESET ROLE""")
        err = error_of(cur, sql)
        cur.execute("SELECT count(*) FROM segmentation.sources WHERE source::text = 'r28_d'")
        left = cur.fetchone()[0]
        check(f"R28-5: {how} of a tracked distributed table works with another role's objects over its queue",
              err is None and left == 0, (err, left))
        cur.execute("SET citus.enable_ddl_propagation = off; DROP VIEW IF EXISTS r28_hs.v; "
                    "DROP FUNCTION IF EXISTS r28_hs.f(); RESET citus.enable_ddl_propagation")
        cur.execute("SELECT segmentation.untrack(source) FROM segmentation.sources WHERE source::text = 'r28_d'")
    cur.execute("DROP TABLE IF EXISTS r28_d; DROP SCHEMA r28_hs; DROP ROLE r28_reader")

    # R28-2: an event committed between the drain and the main statement
    def window(write, label):
        lconn, lcur = connect(COORD)
        lcur.execute("BEGIN; LOCK TABLE segmentation.features IN EXCLUSIVE MODE")
        rconn, rcur = connect(COORD)
        rcur.execute("SELECT pg_backend_pid()")
        pid = rcur.fetchone()[0]
        errors = []
        t = in_thread(rcur, "SELECT segmentation.refresh(as_of => '2024-04-01')", errors)
        deadline = time.time() + 60
        while True:  # refresh drained, and waits for the lock
            cur.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted)", (pid,))
            if cur.fetchone()[0]:
                break
            if time.time() > deadline or not t.is_alive():
                raise RuntimeError(f"{label}: the refresh never waited for the features' lock ({errors})")
            time.sleep(0.02)
        # (the write commits while the refresh waits, or, once it has locked
        # the table, waits for it to end)
        wconn, wcur = connect(COORD)
        w = in_thread(wcur, write, errors)
        w.join(0.5)
        lcur.execute("COMMIT")
        t.join()
        w.join()
        for c in (lconn, rconn, wconn):
            c.close()
        cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
        return errors

    cur.execute("TRUNCATE segmentation.truncated; INSERT INTO segmentation.truncated (source_id) VALUES (NULL)")
    errors = window("INSERT INTO r28_ev VALUES (2, '2024-01-11', 'late', 1)", "full")
    n = counted(cur, "r28_ev", [2])
    check("R28-2: an event committed while a full refresh runs (after its drain) is counted once",
          not errors and n[0] == n[1], (errors, n))
    cur.execute("UPDATE r28_ev SET v = 2 WHERE user_id = 3")
    errors = window("INSERT INTO r28_ev VALUES (3, '2024-01-12', 'late', 1)", "incremental")
    n = counted(cur, "r28_ev", [3])
    check("R28-2: an event of a user an incremental refresh recomputes, committed while it runs, is counted once",
          not errors and n[0] == n[1], (errors, n))
    cur.execute("SELECT segmentation.untrack('r28_ev'); DROP TABLE r28_ev; RESET client_min_messages")


# ---------------------------------------------------------------------------
# The managed pipeline on Citus (issue 14 point 3, first part: capture on the
# shards; doc/citus.md, "Capture")

PIPE_DB = "segmentation_pipeline"
SINGLE_DB = "segmentation_single"
# (every table and view of the state a role reads, each row rounded where it
# holds floats: a mean over the same users summed in another order may differ
# in its last bit)
COMPARED = [
    ("profiles", "SELECT user_id, behavior::text FROM segmentation.profiles"),
    ("memberships", "SELECT scheme, user_id, segment, entered_at FROM segmentation.memberships"),
    ("membership_history", "SELECT scheme, user_id, segment, entered_at, exited_at FROM segmentation.membership_history"),
    ("transitions", "SELECT scheme, user_id, from_segment, to_segment, at FROM segmentation.transitions"),
    ("user_scores", "SELECT * FROM segmentation.user_scores"),
    ("user_attributes", "SELECT * FROM segmentation.user_attributes"),
    # (to the last bit: on Citus found by selection over counts)
    ("rfm_breakpoints", "SELECT c.as_of, c.rfm_breakpoints::text FROM segmentation.score_context c"),
    ("segment_summary", "SELECT * FROM segmentation.segment_summary"),
    ("segment_migration", "SELECT * FROM segmentation.segment_migration"),
    ("experiment_lift", "SELECT * FROM segmentation.experiment_lift"),
    ("rejected_events", "SELECT source, user_id, ts, event, value, reason FROM segmentation.rejected_events"),
    ("funnel_conversion", "SELECT * FROM segmentation.funnel_conversion"),
    # (to the last bit: on Citus found by selection over counts)
    ("funnel_medians", "SELECT funnel_id, scheme, segment, step, users, median_seconds::text FROM segmentation._funnel_rows"),
    ("retention_matrix", "SELECT * FROM segmentation.retention_matrix('week', 'lifecycle')"),
    ("lifecycle", "SELECT * FROM segmentation.lifecycle('week', 'lifecycle')"),
    ("stickiness", "SELECT * FROM segmentation.stickiness('week', 'lifecycle')"),
    # (once the refreshes hold the horizon)
    ("validate_segments", "SELECT v.* FROM (SELECT max(as_of) AS m FROM segmentation.refresh_runs WHERE error IS NULL) r, "
                          "LATERAL (SELECT * FROM segmentation.validate_segments('lifecycle', '2024-03-01', '2 days') "
                          "WHERE r.m >= '2024-03-03') v"),
    ("segment_members", "SELECT * FROM segmentation.segment_members('custom', 'buyers', false)"),
    ("refresh_runs", "SELECT id, mode, as_of, events_read, users_changed, transitions, error FROM segmentation.refresh_runs"),
    ("refresh_status", "SELECT last_as_of, last_error, pending_events, rejected_events FROM segmentation.refresh_status"),
]


def rounded(rows):
    """rows sorted, floats as their first 6 digits in the sort key (NaN a string)"""
    def one(v):
        return "NaN" if isinstance(v, float) and math.isnan(v) else v

    def key(r):
        return repr(tuple(f"{v:.6g}" if isinstance(v, float) else v for v in r))
    return sorted((tuple(one(v) for v in r) for r in rows), key=key)


def same(a, b):
    """rows equal, floats to 1e-9 (relative) or 1e-12 (absolute)"""
    def eq(x, y):
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        return x == y
    return len(a) == len(b) and all(len(r) == len(t) and all(eq(x, y) for x, y in zip(r, t)) for r, t in zip(a, b))


def database(name, citus):
    """(conn, cur) to a new database on the coordinator with the extension;
    with citus, on every node, with Citus and the two workers"""
    ports = [COORD] + (WORKERS if citus else [])
    for port in ports:
        conn, cur = connect(port, "postgres")
        cur.execute("SET client_min_messages = error")
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        if citus:
            conn, cur = connect(port, name)
            cur.execute("CREATE EXTENSION citus")
            conn.close()
    conn, cur = connect(COORD, name)
    cur.execute("SET client_min_messages = error")
    if citus:
        cur.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (COORD,))
        for port in WORKERS:
            cur.execute("SELECT citus_add_node('127.0.0.1', %s)", (port,))
        # nothing gathered to the coordinator: a query that would is refused
        cur.execute(f"ALTER DATABASE {name} SET citus.coordinator_aggregation_strategy = 'disabled'")
        conn.close()
        conn, cur = connect(COORD, name)
        cur.execute("SET client_min_messages = error")
    cur.execute("CREATE EXTENSION segmentation")
    return conn, cur


def writer_rows(w, i):
    """the rows writer w writes in its transaction i (the same on both runs)"""
    return [((w * 7919 + i * 31 + k * 17) % 260, f"2024-02-{1 + (i + k) % 27:02d} {(w + k) % 24:02d}:{(i * 7) % 60:02d}:00+00",
             ["signup", "login", "buy", "view"][(w + i + k) % 4], float((i * k) % 23))
            for k in range(1 + (i % 5) * 20)]


def write(cur, w, i, how):
    rows = writer_rows(w, i)
    if how == "copy":
        import io
        buf = io.StringIO("".join(f"{u}\t{t}\t{e}\t{v}\n" for u, t, e, v in rows))
        cur.copy_expert("COPY events (user_id, ts, ev, v) FROM STDIN", buf)
    elif how == "single":
        cur.execute("BEGIN")
        for r in rows:
            cur.execute("INSERT INTO events (user_id, ts, ev, v) VALUES (%s, %s, %s, %s)", r)
        cur.execute("COMMIT")
    else:
        args = ",".join(cur.mogrify("(%s, %s, %s, %s)", r).decode() for r in rows)
        cur.execute("INSERT INTO events (user_id, ts, ev, v) VALUES " + args)


HOWS = ["multi", "copy", "single"]
WRITERS, TRANSACTIONS = 4, 24


# what track() of a table Citus distributes makes of the per-user state
# (sql/50-state.sql, _create_state): table, kind, colocated with events,
# and whether each worker has the scores view (the segment pass reads its
# row type there)
STATE_DISTRIBUTED = [("no statistics of _analysis_users on the shards", "-", True),
                     ("no statistics of _batch on the shards", "-", True),
                     ("no statistics of _batch_parts on the shards", "-", True),
                     ("no statistics of _funnel_batch on the shards", "-", True), ("scores on the workers", "-", True),
                     ("segmentation._analysis_users", "h", True),
                     ("segmentation._batch", "h", True), ("segmentation._batch_parts", "h", True),
                     ("segmentation._forgotten_on_nodes", "n", False),
                     ("segmentation._funnel_batch", "h", True), ("segmentation._funnel_state", "h", True),
                     ("segmentation._key_on_nodes", "n", False), ("segmentation._opt_outs_on_nodes", "n", False),
                     ("segmentation.profiles", "h", True), ("segmentation.score_context", "n", False),
                     ("segmentation.transitions", "h", True),
                     ("the copies of the key and the lists on every node, the owner's only", "-", True),
                     ("the null fraction of _funnel_batch.ts on the shards", "-", True), ("transitions found by id", "-", True)]


def state_distribution(cur):
    cur.execute("""SELECT p.logicalrelid::regclass::text, p.partmethod::text, p.colocationid = e.colocationid
                   FROM pg_dist_partition p, pg_dist_partition e
                   WHERE e.logicalrelid = 'events'::regclass AND p.logicalrelid::regclass::text IN
                         ('segmentation.profiles', 'segmentation.transitions', 'segmentation._funnel_state', 'segmentation._batch',
                          'segmentation._batch_parts', 'segmentation._funnel_batch', 'segmentation._analysis_users',
                          'segmentation.score_context', 'segmentation._key_on_nodes', 'segmentation._forgotten_on_nodes',
                          'segmentation._opt_outs_on_nodes', 'segmentation.user_attributes')
                   UNION ALL
                   SELECT 'no statistics of ' || t || ' on the shards', '-', bool_and(success AND result = '0')
                   FROM unnest(ARRAY['_batch', '_batch_parts', '_funnel_batch', '_analysis_users']) t,
                        run_command_on_shards('segmentation.' || t, $$SELECT max(attstattarget) FROM pg_attribute
                                                                       WHERE attrelid = '%s'::regclass AND attnum > 0
                                                                         AND attname <> 'ts'$$)
                   GROUP BY t
                   UNION ALL
                   -- (the users a run marks, counted: sql/50-state.sql)
                   SELECT 'the null fraction of _funnel_batch.ts on the shards', '-', bool_and(success AND result = '1')
                   FROM run_command_on_shards('segmentation._funnel_batch', $$SELECT attstattarget FROM pg_attribute
                                                                             WHERE attrelid = '%s'::regclass AND attname = 'ts'$$)
                   UNION ALL
                   -- (a placement on each of the three nodes, which no role
                   -- of the extension's, nor PUBLIC, may read or write)
                   SELECT 'the copies of the key and the lists on every node, the owner''s only', '-',
                          bool_and(success AND result = 'f') AND count(*) = 9
                   FROM unnest(ARRAY['_key_on_nodes', '_forgotten_on_nodes', '_opt_outs_on_nodes']) t,
                        run_command_on_placements('segmentation.' || t, $$SELECT bool_or(has_table_privilege(r, '%s',
                                                      'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
                                                  FROM unnest(ARRAY['public', 'segmentation_admin', 'segmentation_analyst',
                                                                    'segmentation_reader']) r$$)
                   UNION ALL
                   SELECT 'scores on the workers', '-', bool_and(success AND result = 'segmentation.scores')
                   FROM run_command_on_workers($$SELECT to_regclass('segmentation.scores')$$)
                   UNION ALL
                   -- (refresh's lookups of its run's moves)
                   SELECT 'transitions found by id', '-', EXISTS (SELECT 1 FROM pg_index i
                       WHERE i.indrelid = 'segmentation.transitions'::regclass AND i.indkey::text = (
                           SELECT a.attnum::text FROM pg_attribute a
                           WHERE a.attrelid = 'segmentation.transitions'::regclass AND a.attname = 'id'))
                   ORDER BY 1""")
    return cur.fetchall()


def copies_on_nodes(cur):
    """whether every node's copies of the key in force and of the lists
    of forgotten and opted-out users are the coordinator's (the key by its
    keyed hash of no bytes: sql/45-privacy.sql, _sync_on_nodes)"""
    cur.execute("""SELECT bool_and(success AND result = c.want) AND count(*) = 9
                   FROM (VALUES ('_key_on_nodes', 'encode(segmentation._hmac_sha256(key, ''''), ''hex'')',
                                 encode(segmentation._pseudonym(''), 'hex')),
                                ('_forgotten_on_nodes', 'coalesce(string_agg(encode(id_hash, ''hex''), '','' ORDER BY id_hash), '''')',
                                 (SELECT coalesce(string_agg(encode(id_hash, 'hex'), ',' ORDER BY id_hash), '')
                                  FROM segmentation.forgotten_users)),
                                ('_opt_outs_on_nodes', 'coalesce(string_agg(encode(id_hash, ''hex''), '','' ORDER BY id_hash), '''')',
                                 (SELECT coalesce(string_agg(encode(id_hash, 'hex'), ',' ORDER BY id_hash), '')
                                  FROM segmentation.opt_outs))) c(t, expr, want),
                        run_command_on_placements('segmentation.' || c.t, 'SELECT ' || c.expr || ' FROM %s')""")
    return cur.fetchone()[0]


def shard_queries(cur, sql):
    """the commands Citus sends to the nodes while sql runs"""
    notices, cur.connection.notices = cur.connection.notices, collections.deque()
    cur.execute("SET citus.log_remote_commands = on; SET client_min_messages = log; " + sql +
                "; RESET citus.log_remote_commands; RESET client_min_messages")
    sent = [n for n in cur.connection.notices if "issuing" in n]
    cur.connection.notices = notices
    return sent


def moved(sent):
    """the shard queries that return the queue's batches of events to the
    coordinator (those of no user id aside: sql/60-capture.sql)"""
    return [n for n in sent if re.search(r"DELETE FROM segmentation\.citus_queue_\d+_\d+\b.*RETURNING", n)
            and "(batch IS NULL) OR (user_id IS NULL)" not in n]


def absorbed(sent):
    """the shard queries that aggregate the queue's batches of events into
    the work table's parts on the workers, and merge those into it"""
    parts = [n for n in sent if "worker_partition_query_result" in n and "_queued_events(q.batch)" in n and "behavior_agg(" in n]
    merged = [n for n in sent if re.search(r"INSERT INTO segmentation\._batch_\d+ AS t .* FROM segmentation\._batch_parts_\d+ p", n)]
    return parts + merged if parts and merged else []


def funnel_work(sent):
    """the shard queries that keep the managed funnels' rows read from a
    tracked table in their work table, compute their states from it and
    write them, and those that gather either table to the coordinator"""
    kept = [n for n in sent if re.search(r"INSERT INTO segmentation\._funnel_batch_\d+ .*FROM \(SELECT \d+ AS source_id, t\.user_id", n)]
    computed = [n for n in sent if "worker_partition_query_result" in n and "_funnel_advance(" in n
                and re.search(r"FROM \(+segmentation\._funnel_batch_\d+ b", n)]
    written = [n for n in sent if re.search(r"INSERT INTO segmentation\._funnel_state_\d+ AS s", n)]
    gathered = [n for n in sent if re.search(r"FROM segmentation\._funnel_(batch|state)_\d+ \w+ WHERE true", n)]
    return kept, computed, written, gathered


def pipeline_steps(cur, citus, between=None):
    """The same steps on the single node and on Citus; compare after each
    refresh (between(step) is called there, with both states ready)."""
    cur.execute("""SET TIME ZONE 'UTC';
        CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8)""")
    if citus:
        # (the assignments too: an experiment's users are the events' users)
        cur.execute("""SELECT create_distributed_table('events', 'user_id', shard_count => 8);
                       CREATE TABLE assign (user_id bigint, variant text, at timestamptz);
                       SELECT create_distributed_table('assign', 'user_id', colocate_with => 'events')""")
    else:
        cur.execute("CREATE TABLE assign (user_id bigint, variant text, at timestamptz)")
    cur.execute("""
        INSERT INTO events
        SELECT g % 240, timestamptz '2024-01-01' + g * interval '37 minutes',
               (ARRAY['signup', 'login', 'buy', 'view'])[1 + (g + g / 240) % 4], (g % 17)::float8
        FROM generate_series(1, 4000) g;
        INSERT INTO events VALUES (7, 'infinity', 'login', 1), (8, '2024-01-03', 'buy', 'NaN');
        INSERT INTO assign SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treat' END,
                                  CASE WHEN u % 3 = 0 THEN timestamptz '2024-03-01 12:00' ELSE '2024-01-20' END FROM generate_series(0, 259) u""")
    # (a third of the users assigned after the first refresh: read out in
    # the segment they were in then, the current one or one they left)
    if citus:
        # (the first track of a distributed table distributes the state: not
        # after a parallel query on a distributed table in its transaction)
        err = error_of(cur, "INSERT INTO events SELECT g, '2024-01-01', 'view', 0 FROM generate_series(1000, 1100) g; "
                            "SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
        check("Citus: the first track() after a parallel query in its transaction is refused, with the reason",
              err is not None and err[0] == "25001" and "must not follow a parallel query" in err[1], err)
    cur.execute("""SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')""")
    if citus:
        check("Citus: track() of a distributed table distributes the per-user state colocated with it, "
              "the score context to every node, and the scores view is on every worker",
              state_distribution(cur) == STATE_DISTRIBUTED, state_distribution(cur))
    # user attributes (a plain table: on Citus, user_attributes is
    # distributed with the state; its own statement there); one named like
    # the column of the segments that user_scores' function returns on Citus
    # (attack review, session 24: refused there, by the column list)
    cur.execute("""CREATE TABLE accounts (user_id bigint PRIMARY KEY, plan text, seats int, segments text);
                   INSERT INTO accounts SELECT u, (ARRAY['free', 'pro', 'team'])[1 + u % 3], u % 7, 's' || u % 5
                   FROM generate_series(0, 199) u""")
    cur.execute("SELECT segmentation.track_users('accounts', 'user_id')")
    if citus:
        check("Citus: track_users with the state distributed distributes user_attributes colocated with profiles",
              ("segmentation.user_attributes", "h", True) in state_distribution(cur), state_distribution(cur))
    cur.execute("""
        SELECT segmentation.use_preset('engagement_ladder', 'signup', 'buy');
        SELECT segmentation.use_preset('rfm');
        SELECT segmentation.define_feature('viewing', ARRAY['view']);
        SELECT segmentation.define_segment('custom', 'buyers', 'frequency >= 20', 10);
        SELECT segmentation.define_segment('plans', 'paying', $$plan IN ('pro', 'team') AND seats >= 2$$, 10);
        SELECT segmentation.define_experiment('exp1', 'assign', 'user_id', 'variant', 'at', 'control', 'buy');
        SELECT segmentation.set_setting('min_cell_size', '3');
        SELECT segmentation.refresh(as_of => '2024-03-01')""")
    between("full refresh of the first rows")
    if citus:
        # writers at once, in transactions of their own: rows of many users
        # each, so every statement writes several shards; writer 0 through a
        # worker (Citus 11+ takes writes on any node)
        errors = []

        def run(w):
            try:
                conn, wcur = connect(WORKERS[0] if w == 0 else COORD, PIPE_DB)
                for i in range(TRANSACTIONS):
                    write(wcur, w, i, HOWS[(w + i) % 3])
                conn.close()
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check("concurrent writers on Citus (COPY, multi-row and single-row INSERTs, one through a worker) all commit",
              not errors, errors[:2])
        # the experiment readout runs on the workers: each shard's assigned
        # users joined there with their events, profile and history, and
        # only counts and sums sent (it gathered every profile, then every
        # assigned user's, their events, their stays: session 33)
        sent = shard_queries(cur, "SET track_functions = 'all'; SELECT segmentation.refresh(as_of => '2024-03-02'); "
                                  "CREATE TEMP TABLE memberships_reads AS SELECT f.calls FROM pg_stat_xact_user_functions f "
                                  "WHERE f.schemaname = 'segmentation' AND f.funcname = '_memberships_rows'; RESET track_functions")
        whole = [n for n in sent if re.search(r"FROM segmentation\.profiles_\d+ p WHERE true", n)]
        readout = [n for n in sent if re.search(r"public\.assign_\d+", n)]
        joined = [n for n in readout if re.search(r"public\.events_\d+", n) and re.search(r"segmentation\.profiles_\d+", n)]
        history = [n for n in joined if re.search(r"segmentation\.transitions_\d+", n)]
        alone = [n for n in sent if re.search(r"public\.(events|assign)_\d+", n) and n not in joined]
        check("Citus: an incremental refresh's experiment readout runs on the workers (each shard's assigned users "
              "joined there with their events, profiles and history, counts and sums sent), and gathers nothing per user",
              not whole and len(joined) >= 24 and len(history) >= 16 and not alone,
              (whole[:1], len(joined), len(history), [n[:400] for n in alone][:2]))
        # its users per segment and per combination of segments now are
        # counted on the workers (it read memberships through the view's
        # function, which gathers every user's segments, twice)
        cur.execute("SELECT coalesce(sum(r.calls), 0) FROM memberships_reads r")
        reads = cur.fetchone()[0]
        counted = [n for n in sent if re.search(r"FROM segmentation\.profiles_\d+ p WHERE \(segments OPERATOR\(pg_catalog\.<>\) "
                                                r"'\{\}'::jsonb\) GROUP BY \(jsonb_path_query_array", n)]
        check("Citus: an incremental refresh counts the experiment's segment sizes on the workers (no membership gathered)",
              reads == 0 and counted, (reads, len(counted)))
        # the writers' events, queued on the shards, aggregated there into
        # the work table (they were moved to the coordinator's queue first)
        check("Citus: an incremental refresh aggregates the events queued on the shards there, none moved to the coordinator",
              absorbed(sent) and not moved(sent), (len(absorbed(sent)), [n[:300] for n in moved(sent)][:1]))
    else:
        for w in range(WRITERS):
            for i in range(TRANSACTIONS):
                write(cur, w, i, HOWS[(w + i) % 3])
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
    between("incremental refresh after concurrent writers")
    # updates and deletes (recomputed users), late events, an erasure
    sent = (shard_queries if citus else lambda c, sql: c.execute(sql))(cur, """
        UPDATE accounts SET plan = 'pro', seats = 3 WHERE user_id IN (0, 3);
        DELETE FROM accounts WHERE user_id = 8;
        INSERT INTO accounts VALUES (230, 'team', 5);
        UPDATE events SET ev = 'buy' WHERE user_id IN (3, 4, 5) AND ev = 'view';
        DELETE FROM events WHERE user_id IN (6, 9) AND ev = 'login';
        INSERT INTO events VALUES (10, '2023-12-01', 'buy', 100), (300, '2024-02-28', 'signup', 0), (11, '2024-02-28', 'buy', 5);
        SELECT segmentation.opt_out('11');
        SELECT segmentation.forget_user('11');
        SELECT segmentation.opt_out('12');
        SELECT segmentation.opt_out('13');
        SELECT segmentation.opt_in('13');
        -- (after forget_user, which moves the shards' queues to the coordinator)
        INSERT INTO events VALUES (17, '2024-02-28', 'buy', 3), (5, '2024-02-27', 'buy', 'NaN'), (16, '2024-02-27', 'buy', 'NaN')""")
    if citus:
        # (the hashes sent by COPY, never in a command's text, where a
        # worker's log would pair them with the ids of the users' rows
        # deleted or flagged in the same transaction: review of session 32)
        hashes = [r[0] for r in fetch(cur, "SELECT encode(segmentation._pseudonym(x), 'hex') FROM unnest('{11,12,13}'::text[]) x")]
        check("Citus: forget_user, opt_out and opt_in write the copies of their lists on every node, no hash in a "
              "command's text", copies_on_nodes(cur) and len(sent) > 0 and not [n for n in sent if any(h in n for h in hashes)],
              [n[:300] for n in sent if any(h in n for h in hashes)][:2])
        # a run that recomputes users from the table (updated, deleted) with
        # no feature with a condition or managed funnel: the others' queued
        # events aggregated on the workers too (a refused event of a
        # recomputed user is kept once: rejected_events is compared)
        sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-03-03')")
        check("Citus: a refresh that recomputes updated users aggregates the other events queued on the shards there, "
              "none moved to the coordinator", absorbed(sent) and not moved(sent),
              (len(absorbed(sent)), [n[:300] for n in moved(sent)][:1]))
    else:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-03')")
    between("incremental refresh after updates, deletes, late events, forget_user and opt_out")
    # a feature with a condition (on the table's row: its users' events are
    # read from the table when one of its events is queued)
    cur.execute("SELECT segmentation.define_feature('big_buy', ARRAY['buy'], 'v > 10')")
    if citus:
        # the copies on every node made unlike the key and the lists by hand
        # (as a restore or the owner may): refresh makes them equal again
        # before it tests its users against them, and the key is never in a
        # query's text
        cur.execute("""DELETE FROM segmentation._forgotten_on_nodes; DELETE FROM segmentation._opt_outs_on_nodes;
                       DELETE FROM segmentation._key_on_nodes;
                       INSERT INTO segmentation._key_on_nodes SELECT segmentation._new_pseudonym_key();
                       SELECT encode(k.key, 'hex') FROM segmentation._pseudonym_key k""")
        keys = [r[0] for r in cur.fetchall()]
        # (refresh takes the RFM breakpoints by selection over counts here)
        sent = shard_queries(cur, """SET track_functions = 'all'; SELECT segmentation.refresh(true, as_of => '2024-03-04');
                       CREATE TEMP TABLE rfm_calls AS SELECT coalesce(sum(f.calls), 0) AS calls FROM pg_stat_xact_user_functions f
                       WHERE f.schemaname = 'segmentation' AND f.funcname = '_rfm_breakpoints_split'; RESET track_functions""")
        cur.execute("SELECT calls FROM rfm_calls")
        calls = cur.fetchone()[0]
        cur.execute("DROP TABLE rfm_calls")
        check("Citus: refresh finds the RFM breakpoints by selection over counts", calls == 1, calls)
        check("Citus: refresh makes the copies of the key and the lists on every node equal to them again, "
              "the key sent by COPY, never in a query's text",
              copies_on_nodes(cur) and [n for n in sent if re.search(r"COPY segmentation\._key_on_nodes_\d+ ", n)]
              and not [n for n in sent if any(k in n for k in keys)], [n[:300] for n in sent if "_on_nodes" in n][:6])
        # the users of the batch tested against the forgotten and the opted-out
        # on the workers, in a join with the copies: no id to the coordinator
        tested = [n for n in sent if re.search(r"DELETE FROM segmentation\._batch_\d+ b USING segmentation\._forgotten_on_nodes_\d+ f "
                                               r"WHERE .*\(SELECT k\.key FROM segmentation\._key_on_nodes_\d+ k\)", n)]
        flagged = [n for n in sent if re.search(r"UPDATE segmentation\.profiles_\d+ p SET opted_out = true .*"
                                                r"segmentation\._batch_\d+ b, segmentation\._opt_outs_on_nodes_\d+ o .*"
                                                r"\(SELECT k\.key FROM segmentation\._key_on_nodes_\d+ k\)", n)]
        ids = [n for n in sent if re.search(r"SELECT (b\.)?user_id FROM segmentation\._batch_\d+ b WHERE true", n)]
        check("Citus: a full refresh tests its users against the forgotten and the opted-out users on the workers, "
              "no id gathered to the coordinator", len(tested) >= 8 and len(flagged) >= 8 and not ids,
              (len(tested), len(flagged), [n[:300] for n in ids[:1]]))
        # the behaviors aggregated into the work table on the workers and
        # written to the profiles there
        aggs = [n for n in sent if re.search(r"behavior_agg(_features)?\(", n)]
        gathered = [n for n in aggs if "worker_partition_query_result" not in n
                    and not re.search(r"INSERT INTO segmentation\._batch_\d+", n)]
        check("Citus: a full refresh aggregates the behaviors into its work table on the workers (none gathered)",
              aggs and not gathered, (len(aggs), [n[:400] for n in gathered[:1]]))
        written = [n for n in sent if re.search(r"INSERT INTO segmentation\.profiles_\d+ AS p .*FROM segmentation\._batch_\d+", n)]
        shipped = [n for n in sent if re.search(r"COPY segmentation\.profiles_\d+|INSERT INTO segmentation\.profiles_\d+ AS p .*VALUES", n)]
        check("Citus: a full refresh writes the profiles from its work table on the workers (none shipped)",
              written and not shipped, (len(written), [n[:400] for n in shipped[:1]]))
        check("Citus: a full refresh deletes the events queued on the shards there (it reads the tables), none moved",
              not moved(sent) and [n for n in sent if re.search(r"DELETE FROM segmentation\.citus_queue_\d+_\d+ citus_queue_\d+\s*(\n|$)", n)],
              [n[:300] for n in moved(sent)][:1])
    else:
        cur.execute("SELECT segmentation.refresh(true, as_of => '2024-03-04')")
    between("full refresh")
    cur.execute("""INSERT INTO events VALUES (30, '2024-03-03', 'buy', 20), (31, '2024-03-03', 'buy', 5), (32, '2024-03-03', 'view', 1),
                                             (30, '2024-03-03 01:00', 'view', 2), (33, '2024-03-03', 'buy', 'NaN')""")
    if citus:
        sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-03-04 03:00')")
        check("Citus: a refresh with a feature with a condition aggregates the events queued on the shards there (the "
              "users of the feature's events recomputed from the table), none moved to the coordinator",
              absorbed(sent) and not moved(sent), (len(absorbed(sent)), [n[:300] for n in moved(sent)][:1]))
    else:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-04 03:00')")
    between("incremental refresh with a feature with a condition")
    # a managed funnel (its steps' rows read from the table), then new and late events
    cur.execute("""SELECT segmentation.define_feature('logging', ARRAY['login']);
                   SELECT segmentation.define_funnel('f1', ARRAY['logging', 'viewing'], '7 days');
                   SELECT segmentation.define_funnel('f2', ARRAY['viewing', 'logging', 'viewing'], '30 days')""")
    if citus:
        # (a full refresh: the funnels' rows kept, and their states computed
        # and written, on the workers, shard by shard; none gathered)
        sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-03-04 06:00')")
        kept, computed, written, gathered = funnel_work(sent)
        check("Citus: a full refresh with managed funnels keeps their steps' rows and computes their states on the "
              "workers, none gathered", kept and computed and written and not gathered,
              (len(kept), len(computed), len(written), [n[:300] for n in gathered[:1]]))
    else:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-04 06:00')")
    between("refresh with a managed funnel")
    cur.execute("""INSERT INTO events VALUES (20, '2024-03-03', 'login', 1), (20, '2024-03-04', 'view', 1),
                                             (21, '2024-01-05', 'view', 1), (22, '2024-03-04', 'login', 1)""")
    if citus:
        # the events queued on the shards aggregated there and the funnels'
        # rows among them kept there (they were moved to the coordinator's
        # queue); the late user's (21) rows read from the table there; the
        # funnel states of the batch's users read and written there, shard by
        # shard (the shard queries Citus sends)
        sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-03-04 12:00')")
        late, computed, written, gathered = funnel_work(sent)
        queued = [n for n in sent if "worker_partition_query_result" in n and "_queued_events(q.batch)" in n
                  and "false AS replace" in n]
        reads = [n for n in sent if re.search(r"FROM segmentation\._funnel_state_\d+ o(_1)?\b", n)]
        check("Citus: an incremental refresh with managed funnels aggregates the events queued on the shards there "
              "and keeps the funnels' rows there, none moved to the coordinator",
              absorbed(sent) and queued and not moved(sent), (len(absorbed(sent)), len(queued), [n[:300] for n in moved(sent)][:1]))
        check("Citus: ... reads a late user's rows from the table and its users' funnel states on the workers, computes "
              "their states there, none gathered",
              late and computed and written and not gathered and reads
              and all(re.search(r"ANY \(SELECT b\.user_id FROM segmentation\._funnel_batch_\d+ b\)", n) for n in reads),
              (len(late), len(computed), len(written), [n[:300] for n in gathered[:1]], [n[:300] for n in reads[:1]]))
        # and the cells of the managed analyses of the users whose cells can
        # change are counted on the workers, the users listed there (their
        # ids went to the coordinator and back)
        cells = [n for n in sent if "_analysis_cells(" in n]
        check("Citus: an incremental refresh counts the changed users' cells of the managed analyses on the workers, "
              "the users listed there",
              len([n for n in cells if re.search(r"\(SELECT u\.user_id FROM segmentation\._analysis_users_\d+ u\)", n)]) >= 8
              and not [n for n in cells if "intermediate_result" in n],
              (len(cells), [n[:400] for n in cells if "intermediate_result" in n][:1]))
    else:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-04 12:00')")
    between("incremental refresh with a managed funnel, new and late events")
    cur.execute("""INSERT INTO events VALUES (13, '2024-03-01', 'buy', 1);
                   TRUNCATE events;
                   INSERT INTO events VALUES (14, '2024-03-01', 'buy', 1), (15, '2024-03-02', 'login', 1);
                   SELECT segmentation.refresh(as_of => '2024-03-05')""")
    between("refresh after a TRUNCATE (full)")


def pipeline_vs_single_node():
    """The whole pipeline on a table Citus distributes, equal to a single
    node: the same steps (track, presets, a feature, a segment, an
    experiment, refreshes full and incremental, concurrent writers, updates,
    deletes, late events, forget_user, opt_out, a TRUNCATE) on a plain table
    in a database without Citus and on a distributed one, every table and
    view of the state compared after each refresh."""
    sconn, scur = database(SINGLE_DB, citus=False)
    states = {}

    def keep(step):
        states[step] = {name: rounded(fetch(scur, sql)) for name, sql in COMPARED}

    pipeline_steps(scur, citus=False, between=keep)
    sconn.close()
    # (what is compared holds rows: an empty readout on both sides is no test)
    empty = [name for name, _ in COMPARED if not any(states[step][name] for step in states)]
    check("Citus: every table and view compared holds rows at some step", not empty, empty)
    conn, cur = database(PIPE_DB, citus=True)
    lconn, lcur = connect(COORD, PIPE_DB)
    lcur.execute("LISTEN segmentation_transitions")

    def compare(step):
        differ = [name for name, sql in COMPARED if not same(rounded(fetch(cur, sql)), states[step][name])]
        rows = sum(len(v) for v in states[step].values())
        check(f"Citus: {step}: every table and view equals the single node's ({rows} rows)", not differ,
              [(name, [r for r in rounded(fetch(cur, sql)) if r not in states[step][name]][:3],
                [r for r in states[step][name] if r not in rounded(fetch(cur, sql))][:3]) for name, sql in COMPARED if name in differ][:2])
        # (pseudonyms differ between the two databases: each has its own key;
        # the profiles are on the workers, the key on the coordinator)
        cur.execute("""SELECT count(*), count(s.member) FILTER (WHERE r.member IS NOT NULL)
                       FROM segmentation.segment_members('custom', 'buyers') s
                       FULL JOIN segmentation.segment_members('custom', 'buyers', false) r
                         ON s.member = encode(segmentation._pseudonym(r.member), 'hex')""")
        got = cur.fetchone()
        check(f"Citus: {step}: segment_members' pseudonyms are the coordinator's keyed hashes of the members",
              got[0] == got[1] and got[0] == len(states[step]["segment_members"]), got)
        # the RFM breakpoints by selection over counts (refresh's way
        # here: no value gathered) equal the aggregate's over the shards,
        # counting whole keys at once or only buckets of one key
        cur.execute("SELECT c.as_of FROM segmentation.score_context c")
        as_of = cur.fetchone()[0]
        cur.execute("""SELECT array_agg(g) FILTER (WHERE segmentation._rfm_breakpoints_split('segmentation.profiles', %s, g)
                                                         IS DISTINCT FROM a.agg), min(a.agg::text)
                       FROM unnest(ARRAY[0, 10000]) g,
                            (SELECT segmentation.rfm_breakpoints(p.behavior, %s) AS agg
                             FROM segmentation.profiles p WHERE NOT p.opted_out) a""", (as_of, as_of))
        got = cur.fetchone()
        check(f"Citus: {step}: the RFM breakpoints by selection over counts equal rfm_breakpoints over the shards",
              got[0] is None and got[1] is not None, got)
        # the managed funnels' medians by selection over counts too (equal to
        # one node's percentile_cont above: funnel_medians)
        cur.execute("SELECT count(*) FROM segmentation.funnels")
        if cur.fetchone()[0]:
            notices, cur.connection.notices = cur.connection.notices, collections.deque()
            cur.execute("SET client_min_messages = debug1; SELECT segmentation._materialize_funnels(); "
                        "RESET client_min_messages")
            counted = [n.strip() for n in cur.connection.notices if "managed funnels' medians, round 0:" in n]
            rounds = [n.strip() for n in cur.connection.notices if "managed funnels' medians, round" in n
                      and "round 0:" not in n]
            cur.connection.notices = notices
            check(f"Citus: {step}: the managed funnels' medians are found by selection over counts",
                  len(counted) == 1 and len(rounds) <= 3 and same(rounded(fetch(cur, dict(COMPARED)["funnel_medians"])),
                                                states[step]["funnel_medians"]), counted + rounds)

    pipeline_steps(cur, citus=True, between=compare)
    lconn.poll()
    notes = [n.payload for n in lconn.notifies]
    check("Citus: refresh sends NOTIFY segmentation_transitions", len(notes) >= 3, notes)
    lconn.close()
    # (the refused track() above took id 1)
    cur.execute("SELECT count(*) FROM segmentation.citus_queue_2")
    check("Citus: refresh left nothing in the queue on the shards", cur.fetchone()[0] == 0)
    conn.close()


def fetch(cur, sql):
    cur.execute(sql)
    return cur.fetchall()


def exactly_once_on_citus():
    """Exactly once under concurrent writers and refreshes on Citus: writers
    commit (some roll back) while refreshes run; after a last refresh every
    committed event is counted once (the profiles' event counts equal the
    table's rows per user), and equal a full refresh."""
    conn, cur = database(PIPE_DB, citus=True)
    cur.execute("""SET TIME ZONE 'UTC';
        CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
        SELECT create_distributed_table('events', 'user_id', shard_count => 8)""")
    # (track in a transaction of its own: it distributes the state)
    cur.execute("""SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v');
                   SELECT segmentation.refresh(as_of => '2024-03-01')""")
    errors = []
    done = threading.Event()
    moves_done = threading.Event()

    def run(w):
        try:
            wconn, wcur = connect(WORKERS[w % 2] if w < 2 else COORD, PIPE_DB)
            i = 0
            while i < 30 or not moves_done.is_set():
                i += 1
                if i % 7 == 3:
                    wcur.execute("BEGIN")
                    wcur.execute("INSERT INTO events VALUES (1, now(), 'x', 1), (2, now(), 'x', 1)")
                    wcur.execute("ROLLBACK")
                write(wcur, w, i, HOWS[(w + i) % 3])
            wconn.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    def refresher():
        rconn, rcur = connect(COORD, PIPE_DB)
        k = 0
        while not done.is_set():
            k += 1
            try:
                rcur.execute("SELECT segmentation.refresh()")
            except psycopg2.Error as e:
                errors.append(str(e).split("\n")[0])
        rconn.close()
    def mover():
        # shards moved and split by logical replication while writers write:
        # Citus's apply worker copies rows (and their queue rows) that were
        # captured on the source shard already
        mconn, mcur = connect(COORD, PIPE_DB)
        try:
            for k in range(2):
                mcur.execute("SELECT shardid, nodeport FROM citus_shards WHERE table_name = 'events'::regclass "
                             "ORDER BY shardid LIMIT 1 OFFSET %s", (k,))
                shard, port = mcur.fetchone()
                target = WORKERS[1] if port == WORKERS[0] else WORKERS[0]
                mcur.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, 'force_logical')",
                             (shard, port, target))
                moved.append(shard)
        except psycopg2.Error as e:
            errors.append("move: " + str(e).split("\n")[0])
        moves_done.set()
        mconn.close()
    def at_once(others):
        """the four writers and others, the refresher until they are done"""
        threads = [threading.Thread(target=run, args=(w,)) for w in range(4)] + others
        r = threading.Thread(target=refresher)
        r.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        r.join()
    moved = []
    at_once([threading.Thread(target=mover)])
    check("Citus: writers and refreshes at once, two shards moved meanwhile (logical replication: Citus's "
          "apply worker copies rows captured on the source shard already), no error", not errors and len(moved) == 2,
          (errors[:3], moved))
    # a shard split (the queue's is split with it): capture on the new
    # shards goes to the queue's new shards of the same ranges
    cur.execute("SELECT shardid, shardminvalue::int, shardmaxvalue::int FROM pg_dist_shard "
                "WHERE logicalrelid = 'events'::regclass ORDER BY shardid DESC LIMIT 1")
    shard, lo, hi = cur.fetchone()
    cur.execute("SELECT array_agg(nodeid ORDER BY nodeport) FROM pg_dist_node WHERE nodeport = ANY (%s)", (WORKERS,))
    nodes = cur.fetchone()[0]
    err = error_of(cur, "SELECT citus_split_shard_by_split_points(%s, ARRAY[%s::text], %s, 'block_writes')",
                   (shard, str(lo + (hi - lo) // 2), nodes))
    for w in range(4):
        write(cur, w, 1000, HOWS[w % 3])
    cur.execute("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'segmentation.citus_queue_1'::regclass")
    queue_shards = cur.fetchone()[0]
    check("Citus: a shard split (the queue's with it), then writes to the new shards", err is None and queue_shards == 9,
          (err, queue_shards))
    cur.execute("SELECT count(*) FROM segmentation.refresh_runs WHERE mode = 'incremental' AND events_read > 0")
    runs = cur.fetchone()[0]
    cur.execute("SELECT segmentation.refresh()")
    counted = dict(fetch(cur, "SELECT user_id, segmentation.event_count(behavior) FROM segmentation.profiles"))
    written = dict(fetch(cur, "SELECT user_id, count(*) FROM events GROUP BY 1"))
    check(f"Citus: after {runs} incremental refreshes that read events while writers wrote, every committed event "
          f"is counted once ({sum(written.values())} events of {len(written)} users)",
          runs >= 2 and counted == written and sum(written.values()) > 3000,
          (runs, sum(counted.values()), sum(written.values())))
    before = sorted(fetch(cur, "SELECT user_id, behavior::text FROM segmentation.profiles"))
    cur.execute("SELECT segmentation.refresh(true)")
    check("Citus: ... and the incremental state equals a full refresh",
          before == sorted(fetch(cur, "SELECT user_id, behavior::text FROM segmentation.profiles")))

    # Then with managed funnels, one that keeps every event (strict_order):
    # writers and refreshes at once again (no shard move: a run with a
    # managed funnel locks the tables, and a logical move at the same time
    # fails one of them, doc/citus.md); the writers' rows come in any order
    # of time, so late events abound, found on the workers
    cur.execute("""SELECT segmentation.define_feature('logging', ARRAY['login']);
                   SELECT segmentation.define_feature('buying', ARRAY['buy']);
                   SELECT segmentation.define_funnel('f1', ARRAY['logging', 'buying'], '3 days');
                   SELECT segmentation.define_funnel('f2', ARRAY['logging', 'buying'], '5 days', 'strict_order');
                   SELECT segmentation.refresh()""")
    cur.execute("SELECT max(id) FROM segmentation.refresh_runs")
    last_run = cur.fetchone()[0]
    errors.clear()
    done.clear()
    moves_done.set()
    at_once([])
    cur.execute("SELECT segmentation.refresh()")
    cur.execute("SELECT count(*) FROM segmentation.refresh_runs WHERE id > %s AND mode = 'incremental' AND events_read > 0",
                (last_run,))
    runs = cur.fetchone()[0]
    state = ("SELECT user_id, behavior::text FROM segmentation.profiles", FUNNEL_STATE)
    before = [sorted(fetch(cur, sql)) for sql in state]
    cur.execute("SELECT segmentation.refresh(true)")
    after = [sorted(fetch(cur, sql)) for sql in state]
    check(f"Citus: with managed funnels, writers and {runs} incremental refreshes at once, no error, and the "
          f"incremental state, behaviors and funnels ({len(before[1])} funnel states), equals a full refresh",
          not errors and runs >= 2 and before == after and len(before[1]) > 100,
          (errors[:3], runs, len(before[1]), len(after[1]), [r for r in before[1] if r not in after[1]][:2]))

    # a refresh that fails after moving the queue (it cannot lock the
    # tracked table, which another session holds) or is cancelled keeps it:
    # the move rolls back
    cur.execute("INSERT INTO events VALUES (500, now(), 'x', 1), (501, now(), 'x', 0)")
    cur.execute("SELECT segmentation.refresh()")
    cur.execute("INSERT INTO events VALUES (502, now(), 'x', 1), (503, now(), 'x', 0)")
    cur.execute("SELECT count(*) FROM segmentation.citus_queue_1")
    queued = cur.fetchone()[0]
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', '300ms')")
    hconn, hcur = connect(COORD, PIPE_DB)
    hcur.execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    err = error_of(cur, "SELECT segmentation.refresh()")
    hcur.execute("ROLLBACK")
    hconn.close()
    cur.execute("SELECT count(*) FROM segmentation.citus_queue_1")
    still = cur.fetchone()[0]
    cur.execute("SET statement_timeout = 1")
    err2 = error_of(cur, "SELECT segmentation.refresh()")
    cur.execute("RESET statement_timeout")
    cur.execute("SELECT count(*) FROM segmentation.citus_queue_1")
    still2 = cur.fetchone()[0]
    check("Citus: a refresh that fails or is cancelled leaves the events queued on the shards",
          err is not None and err2 is not None and queued > 0 and still == queued and still2 == queued,
          (err, err2, queued, still, still2))
    cur.execute("SELECT segmentation.refresh()")
    cur.execute("SELECT count(*) FROM segmentation.profiles WHERE user_id IN (500, 501, 502, 503)")
    check("Citus: ... and the next refresh counts them", cur.fetchone()[0] == 4)

    # TRUNCATE on a worker: refused (capture records it on the coordinator)
    wconn, wcur = connect(WORKERS[0], PIPE_DB)
    err = error_of(wcur, "TRUNCATE events")
    check("Citus: TRUNCATE of a tracked table on a worker is refused, naming the coordinator",
          err is not None and err[0] == "0A000" and "coordinator" in err[1], err)
    wconn.close()
    conn.close()


FUNNEL_STATE = ("SELECT funnel_id, user_id, ts::text, masks::text, chain::text, scan::text, maxts "
                "FROM segmentation._funnel_state ORDER BY 1, 2")


def funnels_beside_plain_table():
    """Managed funnels on Citus (session 31): an incremental refresh keeps
    their rows on the workers and reads a late user's rows from the tables
    in another statement than the one that consumes the queues, so it needs
    every tracked table locked against writes.  A plain table tracked
    beside a distributed one is not: then the run moves the shards' queued
    events to the coordinator and finds the late users in its statement, as
    on one node.  Both ways equal a full refresh."""
    db = "segmentation_citus_fp"
    conn, cur = database(db, citus=True)
    cur.execute("""SET TIME ZONE 'UTC';
        CREATE TABLE fp_ev (user_id bigint, ts timestamptz, ev text, v float8);
        SELECT create_distributed_table('fp_ev', 'user_id', shard_count => 4);
        CREATE TABLE fp_local (user_id bigint, ts timestamptz, ev text, v float8)""")
    cur.execute("SELECT segmentation.track('fp_ev', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("""SELECT segmentation.track('fp_local', 'user_id', 'ts', 'ev', 'v');
        SELECT segmentation.define_feature('fp_a', ARRAY['a']);
        SELECT segmentation.define_feature('fp_b', ARRAY['b']);
        SELECT segmentation.define_funnel('fp', ARRAY['fp_a', 'fp_b'], '2 days');
        SELECT segmentation.define_funnel('fp_all', ARRAY['fp_a', 'fp_b'], '2 days', 'strict_order');
        INSERT INTO fp_ev SELECT u, '2024-01-01'::timestamptz + i * interval '5 hours', (ARRAY['a', 'b', 'c'])[1 + (u + i) % 3], 1
        FROM generate_series(1, 40) u, generate_series(1, 6) i;
        SELECT segmentation.refresh(as_of => '2024-04-01')""")

    def incremental(label, workers, drained=False):
        # new rows in both tables, some late (earlier than the users' latest)
        cur.execute("""INSERT INTO fp_ev VALUES (1, '2024-01-03 05:00', 'b', 1), (2, '2023-12-31', 'a', 1), (5, '2024-01-01 01:00', 'c', 1);
                       INSERT INTO fp_local VALUES (3, '2024-01-03 06:00', 'b', 1), (1, '2023-12-30', 'a', 1), (41, '2024-01-02', 'a', 1)""")
        if drained:
            # (forget_user moves the shards' queues to the coordinator's)
            cur.execute("SELECT segmentation.forget_user('999')")
        sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
        got = fetch(cur, FUNNEL_STATE)
        cur.execute("SELECT segmentation.refresh(true, as_of => '2024-04-01')")
        full = fetch(cur, FUNNEL_STATE)
        check(f"Citus: managed funnels, {label}: " + ("nothing moved" if drained else "the queued events aggregated and "
              "the funnels' rows kept on the workers" if workers else "the queued events moved to the coordinator")
              + ", equal to a full refresh",
              (drained or bool(absorbed(sent)) == workers) and bool(moved(sent)) != workers
              and got == full and len(got) > 40,
              (len(absorbed(sent)), len(moved(sent)), len(got), [r for r in got if r not in full][:2]))
    incremental("a plain table tracked beside a distributed one", False)
    cur.execute("SELECT segmentation.untrack('fp_local')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    incremental("the distributed table alone", True)
    # late events in the coordinator's own queue on the workers' path: found
    # by the same join on the workers
    incremental("the distributed table alone, its late events in the coordinator's queue", True, drained=True)
    # a funnel's step of event names that are SQL, an admin's: written into
    # the statements on the workers as literals, they run nothing
    names = ["x'); DROP TABLE public.fp_ev; --", 'y"}, {z', "NULL", "w$$;$q$\\"]
    cur.execute("SELECT segmentation.define_feature('fp_odd', %s)", (names,))
    cur.execute("SELECT segmentation.define_funnel('fp_odd', ARRAY['fp_a', 'fp_odd'], '30 days')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    cur.execute("INSERT INTO fp_ev SELECT 7, '2024-01-02'::timestamptz + k * interval '1 minute', n, 1 "
                "FROM unnest(%s::text[]) WITH ORDINALITY u(n, k)", (names,))
    sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
    cur.execute("SELECT to_regclass('public.fp_ev') IS NOT NULL, s.maxts, cardinality(s.chain) "
                "FROM segmentation._funnel_state s JOIN segmentation.funnels f ON f.id = s.funnel_id "
                "WHERE f.name = 'fp_odd' AND s.user_id = 7")
    got = cur.fetchone()
    check("Citus: a managed funnel whose step's event names are SQL, an admin's: the incremental refresh keeps their "
          "rows on the workers, the names run nothing, and the funnel reaches its step 2 with them",
          bool(absorbed(sent)) and not moved(sent) and got is not None and got[0] and got[2] == 2,
          (len(absorbed(sent)), got))
    conn.close()


def review_session29():
    """Review of session 29 (the queue consumed on the workers).  F1: a
    batch whose first user id is over 1000 bytes (a refused event) keyed the
    parts of the work table, whose index entry holds 2,704 bytes at most:
    every incremental refresh failed, and the other events waited; such a
    batch now goes to the coordinator, its event refused, the others
    counted.  F2: a row left in the parts is not counted."""
    db = "segmentation_citus_r29"
    conn, cur = database(db, citus=True)
    cur.execute("""SET TIME ZONE 'UTC';
        CREATE TABLE tev (user_id text, ts timestamptz, ev text, v float8);
        SELECT create_distributed_table('tev', 'user_id', shard_count => 4)""")
    cur.execute("SELECT segmentation.track('tev', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("INSERT INTO tev VALUES ('a', '2024-01-01', 'e1', 1); SELECT segmentation.refresh(as_of => '2024-03-01')")
    # 3,200 bytes pglz cannot shorten, and a user of the same shard after
    # it in one statement (one batch, the long id first)
    long_id = "".join(hashlib.md5(str(g).encode()).hexdigest() for g in range(100))
    cur.execute("""SELECT u FROM (SELECT 'u' || g AS u FROM generate_series(1, 1000) g) x
                   WHERE get_shard_id_for_distribution_column('tev', u) = get_shard_id_for_distribution_column('tev', %s)
                   LIMIT 1""", (long_id,))
    peer = cur.fetchone()[0]
    cur.execute("INSERT INTO tev VALUES (%s, '2024-02-01', 'e1', 1), (%s, '2024-02-01', 'e1', 1)", (long_id, peer))
    cur.execute("INSERT INTO tev VALUES ('b', '2024-02-02', 'e1', 1)")
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-03-02')")
    counted = dict(fetch(cur, "SELECT user_id, segmentation.event_count(behavior) FROM segmentation.profiles"))
    rejected = fetch(cur, "SELECT reason FROM segmentation.rejected_events")
    check("Citus (review 29, F1): a batch queued on a shard whose first user id is over 1000 bytes: the event is refused, "
          "the batch's other user and the run's other events counted", err is None and counted == {"a": 1, peer: 1, "b": 1}
          and rejected == [("user id is longer than 1000 bytes",)], (err, counted, rejected))
    cur.execute("""INSERT INTO segmentation._batch_parts
                   SELECT 'stray', 'stray', segmentation.behavior_agg('2024-02-03'::timestamptz, NULL::int, 1::float8), 5;
                   INSERT INTO tev VALUES ('c', '2024-02-03', 'e1', 1);
                   SELECT segmentation.refresh(as_of => '2024-03-03')""")
    counted = dict(fetch(cur, "SELECT user_id, segmentation.event_count(behavior) FROM segmentation.profiles"))
    check("Citus (review 29, F2): a row left in the parts of the work table is not counted",
          counted == {"a": 1, peer: 1, "b": 1, "c": 1}, counted)
    # second review, D1 and D2: a user whose id is over 1000 bytes, updated
    # (recomputed), with a refused event of theirs queued in another user's
    # batch: recomputing them failed _batch's key, and (with a shorter id)
    # their refused rows were written once more a run
    cur.execute("INSERT INTO tev VALUES (%s, '2024-02-04', 'e1', 1), (%s, '2024-02-04', 'e1', 1)", (peer, long_id))
    cur.execute("UPDATE tev SET v = 2 WHERE user_id = %s", (long_id,))
    errors = [error_of(cur, "SELECT segmentation.refresh(as_of => '2024-03-04')")]
    cur.execute("UPDATE tev SET v = 3 WHERE user_id = %s", (long_id,))
    errors.append(error_of(cur, "SELECT segmentation.refresh(as_of => '2024-03-05')"))
    long_rows = fetch(cur, "SELECT count(*) FROM segmentation.rejected_events WHERE reason = 'user id is longer than 1000 bytes'")
    check("Citus (review 29b, D1, D2): a user whose id is over 1000 bytes, updated, with a refused event queued in another "
          "user's batch: refresh works, and each of their events is refused once", errors == [None, None]
          and long_rows == [(2,)], (errors, long_rows))
    # an admin's feature with a condition whose event names are SQL: the
    # worker path writes them into the text of its statements (%L), and
    # the users of their events are recomputed there
    hostile = ["x'); DROP TABLE public.tev; --", "y$$;$q$\\", "z\"; DROP TABLE public.tev; --"]
    cur.execute("""DROP ROLE IF EXISTS r29_admin; CREATE ROLE r29_admin LOGIN IN ROLE segmentation_admin;
                   GRANT SELECT ON tev TO r29_admin""")
    aconn = psycopg2.connect(dbname=db, port=COORD, user="r29_admin")
    aconn.autocommit = True
    aconn.cursor().execute("SELECT segmentation.define_feature('hostile', %s, 'v > 0')", (hostile,))
    aconn.close()
    cur.execute("SELECT segmentation.refresh(true, as_of => '2024-03-06')")
    cur.execute("INSERT INTO tev SELECT 'h' || g, '2024-02-05', (%s::text[])[1 + g %% 3], 1 FROM generate_series(1, 6) g",
                (hostile,))
    sent = shard_queries(cur, "SELECT segmentation.refresh(as_of => '2024-03-07')")
    counted = fetch(cur, "SELECT count(*), sum(segmentation.event_count(behavior)) FROM segmentation.profiles "
                         "WHERE user_id LIKE 'h%' AND segmentation.features(behavior) <> '{}'")
    check("Citus (review 29): a feature with a condition whose event names are SQL, an admin's: the incremental refresh "
          "takes the workers' path, the names run nothing (the table is there), and their events are counted",
          absorbed(sent) and not moved(sent) and fetch(cur, "SELECT to_regclass('public.tev') IS NOT NULL") == [(True,)]
          and counted == [(6, 6)], (len(absorbed(sent)), len(moved(sent)), counted))
    conn.close()
    drop_everywhere([db], ["r29_admin"])


def citus_refusals():
    """What capture on the shards cannot follow is refused by track(), with
    the reason: a table distributed by another column, a reference table, a
    distributed partitioned table, a name Citus would shorten on its shards,
    a table whose owner is not a superuser (refresh reads its shards on the
    workers, where the coordinator cannot check what the owner put there);
    and renaming a tracked column of a tracked distributed table."""
    conn, cur = database(PIPE_DB, citus=True)
    cur.execute("DROP ROLE IF EXISTS citus_owner")
    cur.execute("CREATE ROLE citus_owner")
    long = "e" * 43
    cur.execute(f"""
        CREATE TABLE by_other (user_id bigint, ts timestamptz, ev text, shop int);
        SELECT create_distributed_table('by_other', 'shop');
        CREATE TABLE ref (user_id bigint, ts timestamptz, ev text);
        SELECT create_reference_table('ref');
        CREATE TABLE parted (user_id bigint, ts timestamptz, ev text) PARTITION BY RANGE (ts);
        CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        SELECT create_distributed_table('parted', 'user_id');
        CREATE TABLE {long} (user_id bigint, ts timestamptz, ev text);
        SELECT create_distributed_table('{long}', 'user_id');
        CREATE TABLE owned (user_id bigint, ts timestamptz, ev text);
        ALTER TABLE owned OWNER TO citus_owner;
        SELECT create_distributed_table('owned', 'user_id')""")
    for table, why in [("by_other", "distributed by column shop"), ("ref", "not a hash-distributed table"),
                       ("parted", "partitions"), (long, "longer than 42 bytes"), ("owned", "not a superuser")]:
        err = error_of(cur, "SELECT segmentation.track(%s, 'user_id', 'ts', 'ev')", (table,))
        check(f"Citus: track() refuses {table[:12]}: {why}", err is not None and err[0] == "0A000" and why in err[1], err)
    cur.execute("SELECT count(*) FROM segmentation.sources")
    check("Citus: ... and tracks none of them", cur.fetchone()[0] == 0)
    cur.execute("""CREATE TABLE events (user_id bigint, ts timestamptz, ev text);
                   SELECT create_distributed_table('events', 'user_id')""")
    # (any role may turn off what makes Citus create objects on every node:
    # the capture triggers and the state would be the coordinator's only,
    # and the shards' events missed without a word; attack review, session 23)
    for setting in ("citus.enable_ddl_propagation", "citus.enable_metadata_sync"):
        err = error_of(cur, f"SET {setting} = off; SELECT segmentation.track('events', 'user_id', 'ts', 'ev')")
        check(f"Citus: track() of a distributed table with {setting} off is refused, with the reason",
              err is not None and err[0] == "55000" and f"{setting} is off" in err[1], err)
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev')")
    err = error_of(cur, "ALTER TABLE events RENAME COLUMN ev TO event")
    check("Citus: renaming a tracked column of a tracked distributed table is refused",
          err is not None and err[0] == "2BP01", err)
    # (capture triggers on an attribute table Citus manages would be its shell's only)
    cur.execute("""CREATE TABLE accounts (user_id bigint PRIMARY KEY, plan text);
                   SELECT create_distributed_table('accounts', 'user_id')""")
    err = error_of(cur, "SELECT segmentation.track_users('accounts', 'user_id')")
    check("Citus: track_users of a table Citus manages is refused, with the reason",
          err is not None and err[0] == "0A000" and "Citus manages it" in err[1], err)
    # and one distributed since (Citus takes it, triggers and all, with
    # citus.enable_unsafe_triggers): its changes would be queued on the
    # workers, in their copies of the extension, and missed
    cur.execute("""CREATE TABLE accounts2 (user_id bigint PRIMARY KEY, plan text); INSERT INTO accounts2 VALUES (1, 'x')""")
    cur.execute("SELECT segmentation.track_users('accounts2', 'user_id')")
    cur.execute("SET citus.enable_unsafe_triggers = on; SELECT create_distributed_table('accounts2', 'user_id'); "
                "RESET citus.enable_unsafe_triggers")
    err = error_of(cur, "SELECT segmentation.refresh()")
    check("Citus: refresh refuses an attribute table Citus distributed since track_users, with the reason",
          err is not None and err[0] == "0A000" and "managed by Citus" in err[1], err)
    # (the hint's way: untrack it, here once Citus gave it back as a new table)
    cur.execute("SET citus.enable_unsafe_triggers = on; SELECT undistribute_table('accounts2'); "
                "RESET citus.enable_unsafe_triggers")
    err = error_of(cur, "SELECT segmentation.untrack_users()")
    err = err or error_of(cur, "SELECT segmentation.refresh()")
    check("Citus: ... and once untrack_users has dropped it, refresh works", err is None, err)
    err = error_of(cur, "ALTER TABLE events OWNER TO citus_owner")
    check("Citus: giving a tracked distributed table to an owner who is not a superuser is refused",
          err is not None and err[0] == "0A000" and "not a superuser" in err[1], err)
    # (a superuser owner who stops being one: refresh refuses, says why)
    cur.execute("DROP ROLE IF EXISTS citus_super")
    cur.execute("CREATE ROLE citus_super SUPERUSER")
    cur.execute("SELECT bool_and(success) FROM run_command_on_workers($$CREATE ROLE citus_super SUPERUSER$$)")
    cur.execute("ALTER TABLE events OWNER TO citus_super")
    cur.execute("SELECT segmentation.refresh()")
    cur.execute("ALTER ROLE citus_super NOSUPERUSER")
    err = error_of(cur, "SELECT segmentation.refresh()")
    last = fetch(cur, "SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")[0][0]
    check("Citus: a tracked distributed table whose owner is no longer a superuser: refresh refuses it, and says why",
          err is not None and err[0] == "0A000" and last is not None and "managed by Citus" in last, (err, last))
    cur.execute("SELECT segmentation.untrack('events')")
    cur.execute("SELECT to_regclass('segmentation.citus_queue_1') IS NULL")
    check("Citus: untrack() drops the queue on the shards", cur.fetchone()[0])
    for sql in ("ALTER TABLE events OWNER TO postgres", "DROP ROLE citus_super", "DROP TABLE owned", "DROP ROLE citus_owner"):
        cur.execute(sql)
    cur.execute("SELECT bool_and(success) FROM run_command_on_workers($$DROP ROLE IF EXISTS citus_super$$)")
    conn.close()
    for port in [COORD] + WORKERS:
        conn, cur = connect(port, "postgres")
        cur.execute(f"DROP DATABASE IF EXISTS {PIPE_DB} WITH (FORCE)")
        cur.execute(f"DROP DATABASE IF EXISTS {SINGLE_DB} WITH (FORCE)")
        conn.close()


def replace_shard(db, table, role, port_not=None, drop=False):
    """On a worker, as role: one shard of table made a view that calls
    role's function, which notes who ran it (in a table of role's on that
    worker, in schema m). drop: the shard dropped (its schema's owner may), else renamed
    (its owner may). Returns a cursor there, for ran()."""
    conn, cur = connect(COORD, db)
    cur.execute("""SELECT n.nodeport, shard_name(%s::regclass, s.shardid) FROM pg_dist_shard s
                   JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
                   WHERE s.logicalrelid = %s::regclass AND n.nodeport <> %s ORDER BY 2 LIMIT 1""",
                (table, table, port_not or COORD))
    port, shard = cur.fetchone()
    shard = shard if "." in shard else "public." + shard
    conn.close()
    wconn = psycopg2.connect(dbname=db, port=port, user=role)
    wconn.autocommit = True
    w = wconn.cursor()
    w.execute(f"""SET citus.enable_manual_changes_to_shards = on; SET citus.enable_ddl_propagation = off;
        CREATE TABLE IF NOT EXISTS m.{role}_ran (who name, super boolean);
        CREATE OR REPLACE FUNCTION m.{role}_note() RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO m.{role}_ran SELECT current_user, r.rolsuper FROM pg_roles r WHERE r.rolname = current_user;
            RETURN true;
        END $$;""")
    cols = "user_id, variant, at" if "ab" in table else "user_id, ts, ev, v"
    if drop:
        w.execute(f"""DROP TABLE {shard} CASCADE; CREATE VIEW {shard} AS
                      SELECT {', '.join(f'NULL::{t} AS {c}' for c, t in zip(cols.split(', '), (
                          ['bigint', 'text', 'timestamptz'] if 'ab' in table else ['bigint', 'timestamptz', 'text', 'float8'])))}
                      WHERE m.{role}_note()""")
    else:
        w.execute(f"ALTER TABLE {shard} RENAME TO {role}_real; "
                  f"CREATE VIEW {shard} AS SELECT {cols} FROM m.{role}_real WHERE m.{role}_note()")
    return w


def superuser_runs(w, role):
    """how many times the function of replace_shard ran as a superuser"""
    w.execute(f"SELECT count(*) FROM m.{role}_ran WHERE super")
    return w.fetchone()[0]


def citus_owners():
    """A table Citus manages is read from its shards, on the nodes, as the
    extension's owner, where the coordinator cannot check them. Attacks
    (attack review, session 26), each of which ran the attacker's function
    as the superuser before: a segmentation admin who owns a distributed
    assignments table makes one of its shards on a worker a view calling
    their function (define_experiment and every refresh ran it); the admin
    given the schema of a superuser's tracked distributed table drops a
    shard there and puts such a view in its place (a full refresh ran it);
    the admin who made on a worker the schema a superuser made later (Citus
    keeps the worker's) could do the same there (track() took the table);
    the admin owning a worker's database, and so its schema public, does
    the same to the tracked table in public, and sets the database's
    standard_conforming_strings off there, so that a backslash in a segment
    name ended the literal of segment_members' shard query and the rest ran
    as SQL. Refused: the tables and their schemas must be superusers', on
    the coordinator and on every worker, and every worker's database (a
    schema of pg_database_owner is the database's); refresh fails on a
    tracked table, and leaves an experiment out, saying why in
    refresh_runs.warnings; and the extension's queries on the workers run
    with the settings that change how their text reads pinned
    (_clean_citus_settings)."""
    db = "segmentation_owners"
    conn, cur = database(db, citus=True)
    cur.execute("DROP ROLE IF EXISTS owners_admin")
    cur.execute("CREATE ROLE owners_admin LOGIN IN ROLE segmentation_admin")
    cur.execute("""CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('events', 'user_id', shard_count => 4)""")
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("""INSERT INTO events SELECT g % 50, '2024-01-01'::timestamptz + g * interval '1 hour',
                                           (ARRAY['buy', 'view'])[1 + g % 2], 1 FROM generate_series(1, 500) g""")
    cur.execute("SELECT segmentation.use_preset('rfm')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-01')")
    cur.execute("""CREATE SCHEMA m AUTHORIZATION owners_admin; GRANT SELECT ON events TO owners_admin;
                   ALTER ROLE owners_admin SET search_path = m""")
    mconn = psycopg2.connect(dbname=db, port=COORD, user="owners_admin")
    mconn.autocommit = True
    m = mconn.cursor()
    # 1. the admin's assignments, distributed after define_experiment
    m.execute("""CREATE TABLE m.ab (user_id bigint, variant text, at timestamptz);
                 INSERT INTO m.ab SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treat' END, '2024-01-10'
                 FROM generate_series(0, 49) u""")
    m.execute("SELECT segmentation.define_experiment('mx', 'm.ab', 'user_id', 'variant', 'at', 'control', 'buy')")
    m.execute("SELECT create_distributed_table('m.ab', 'user_id', colocate_with => 'public.events')")
    w = replace_shard(db, "m.ab", "owners_admin")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-02')")
    warnings = fetch(cur, "SELECT warnings FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")[0][0]
    err = error_of(m, "SELECT segmentation.define_experiment('mx', 'm.ab', 'user_id', 'variant', 'at', 'control', 'buy')")
    check("Citus: an assignments table Citus manages whose owner is not a superuser: refresh leaves the experiment "
          "out, saying why, and runs nothing of its owner's on a shard",
          superuser_runs(w, "owners_admin") == 0 and warnings is not None and "its owner is not a superuser" in warnings,
          (superuser_runs(w, "owners_admin"), warnings))
    check("Citus: ... and define_experiment refuses it, with the reason",
          err is not None and err[0] == "42501" and "its owner is not a superuser" in err[1], err)
    cur.execute("SELECT count(*) FROM segmentation._experiment_lift_rows")
    check("Citus: ... and its readout is gone", cur.fetchone()[0] == 0)
    cur.execute("DELETE FROM segmentation.experiments")
    # 2. a superuser's tracked table and assignments in a schema given to the admin
    cur.execute("""CREATE SCHEMA s; CREATE TABLE s.ev2 (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('s.ev2', 'user_id', colocate_with => 'events')""")
    cur.execute("SELECT segmentation.track('s.ev2', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("""INSERT INTO s.ev2 SELECT g % 50, '2024-01-01'::timestamptz + g * interval '1 hour', 'buy', 1
                   FROM generate_series(1, 100) g;
                   CREATE TABLE s.ab2 (user_id bigint, variant text, at timestamptz);
                   SELECT create_distributed_table('s.ab2', 'user_id', colocate_with => 'events');
                   GRANT USAGE ON SCHEMA s TO owners_admin; GRANT SELECT ON s.ev2, s.ab2 TO owners_admin""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-03')")
    cur.execute("ALTER SCHEMA s OWNER TO owners_admin")
    w = replace_shard(db, "s.ev2", "owners_admin", drop=True)
    err = error_of(cur, "SELECT segmentation.refresh(true, as_of => '2024-02-04')")
    check("Citus: a superuser's tracked table in a schema whose owner is not a superuser: refresh refuses it, "
          "saying why, and runs nothing of the schema owner's on a shard",
          superuser_runs(w, "owners_admin") == 0 and err is not None and err[0] == "0A000"
          and "the owner of its schema s is not a superuser" in fetch(
              cur, "SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")[0][0],
          (superuser_runs(w, "owners_admin"), err))
    err = error_of(cur, "SELECT segmentation.define_experiment('sx', 's.ab2', 'user_id', 'variant', 'at', 'control', 'buy')")
    check("Citus: ... and define_experiment refuses a superuser's assignments there, with the reason",
          err is not None and err[0] == "42501" and "the owner of its schema s is not a superuser" in err[1], err)
    cur.execute("""CREATE TABLE s.ev3 (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('s.ev3', 'user_id', colocate_with => 'events')""")
    err = error_of(cur, "SELECT segmentation.track('s.ev3', 'user_id', 'ts', 'ev', 'v')")
    check("Citus: ... and track() refuses a superuser's table there, with the reason",
          err is not None and err[0] == "0A000" and "the owner of its schema s is not a superuser" in err[1], err)
    # 5. a reader's SET LOCAL, which Citus (citus.propagate_set_commands =
    # local) sends as the text of its whole command to the transaction's
    # worker connections, the owner's that a read path opened included: a
    # DO block after it ran there as the superuser, whether the SET came
    # before the extension's function in the transaction or after it
    cur.execute("DROP ROLE IF EXISTS owners_reader")
    cur.execute("CREATE ROLE owners_reader LOGIN IN ROLE segmentation_reader")
    cur.execute("SELECT run_command_on_workers($$GRANT USAGE ON SCHEMA segmentation TO owners_reader$$)")
    do = ("DO $d$ BEGIN IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN "
          "PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true); "
          "EXECUTE 'ALTER ROLE owners_reader SUPERUSER'; END IF; END $d$")
    read = "SELECT count(*) FROM segmentation.segment_summary"
    rconn = psycopg2.connect(dbname=db, port=COORD, user="owners_reader")
    rconn.autocommit = True
    r = rconn.cursor()
    before = error_of(r, f"BEGIN; SET LOCAL citus.propagate_set_commands = local; SET LOCAL work_mem = '65MB'; {do}; {read}")
    r.execute("COMMIT")
    r.execute("BEGIN")
    r.execute(read)
    after = error_of(r, f"SET LOCAL citus.propagate_set_commands = local; SET LOCAL work_mem = '65MB'; {do}")
    r.execute("COMMIT")
    rconn.close()
    # (pieces Citus keeps apart, each only settings, which it glues into one
    # command: a comment at the end of one hid the start of the next line)
    rconn = psycopg2.connect(dbname=db, port=COORD, user="owners_reader")
    r = rconn.cursor()
    glued = None
    try:
        for step in ("SET LOCAL citus.propagate_set_commands = local", "SET LOCAL work_mem = '65MB'; --",
                     "SAVEPOINT a", "SET LOCAL myapp.y = '\n" + do.replace("'", "$q$") + "; SAVEPOINT savepoint_2; SELECT 1 --'",
                     read):
            r.execute(step)
        r.execute("COMMIT")
    except psycopg2.Error as e:
        glued = (e.pgcode, str(e).strip().split("\n")[0])
    rconn.close()
    cur.execute("SELECT result FROM run_command_on_workers($$SELECT rolsuper FROM pg_roles WHERE rolname = 'owners_reader'$$)")
    supers = [row[0] for row in cur.fetchall()]
    check("Citus: ... and so does one whose SET LOCALs, each of settings only, Citus glues into one command "
          "across a savepoint (refused, with the reason)",
          supers == ["f", "f"] and glued is not None and glued[0] == "42501", (supers, glued))
    check("Citus: a reader's command with a SET LOCAL Citus propagates runs nothing as the superuser on a worker, "
          "before the extension's function in its transaction or after it (each refused, with the reason)",
          supers == ["f", "f"] and before is not None and before[0] == "42501" and after is not None and after[0] == "42501",
          (supers, before, after))
    # deny by default: a propagated SET in a command of its own, of settings
    # only, is refused too, before the call and after it (a check of the
    # text by its grammar was bypassed twice); the extension's own SET LOCAL
    # lock_timeout, which refresh has Citus propagate, is not (R29-1 below)
    rconn = psycopg2.connect(dbname=db, port=COORD, user="owners_reader")
    r = rconn.cursor()
    plain = []
    for steps in ((["SET LOCAL citus.propagate_set_commands = local", "SET LOCAL work_mem = '65MB'", read]),
                  ([read, "SET LOCAL citus.propagate_set_commands = local", "SET LOCAL work_mem = '65MB'"])):
        try:
            for step in steps:
                r.execute(step)
            r.execute("COMMIT")
            plain.append(None)
        except psycopg2.Error as e:
            plain.append((e.pgcode, str(e).strip().split("\n")[0]))
            rconn.rollback()
    # (a SET LOCAL that Citus does not propagate is not refused)
    r.execute("SET LOCAL work_mem = '65MB'")
    r.execute(read)
    alone = r.fetchall()
    rconn.rollback()
    rconn.close()
    check("Citus: ... and so is a SET LOCAL Citus propagates in a command of its own, before the extension's "
          "function in its transaction or after it; one it does not propagate is not",
          all(p is not None and p[0] == "42501" for p in plain) and len(alone) == 1, (plain, alone))
    # 4. a schema the admin made on a worker before the superuser made it
    # on the coordinator (Citus keeps a worker's schema of that name)
    cur.execute("GRANT CREATE ON DATABASE segmentation_owners TO owners_admin")
    pconn = psycopg2.connect(dbname=db, port=WORKERS[0], user="owners_admin")
    pconn.autocommit = True
    pconn.cursor().execute("SET citus.enable_ddl_propagation = off; CREATE SCHEMA pre")
    pconn.close()
    cur.execute("""CREATE SCHEMA IF NOT EXISTS pre;
                   CREATE TABLE pre.ev4 (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('pre.ev4', 'user_id', colocate_with => 'events')""")
    err = error_of(cur, "SELECT segmentation.track('pre.ev4', 'user_id', 'ts', 'ev', 'v')")
    check("Citus: track() refuses a superuser's table in a schema that is another role's on a worker, with the reason",
          err is not None and err[0] == "0A000" and "on a Citus worker, its database or its schema (pre)" in err[1], err)
    # 3. a worker's database owned by the admin: its schema public is theirs
    # (s.ev2, whose shard is gone, out of the way)
    cur.execute("DELETE FROM segmentation.sources WHERE source = 's.ev2'::regclass")
    cur.execute("SELECT segmentation.refresh(true, as_of => '2024-02-05')")
    wconn, wcur = connect(WORKERS[1], db)
    wcur.execute("SET citus.enable_ddl_propagation = off; ALTER DATABASE segmentation_owners OWNER TO owners_admin")
    w = replace_shard(db, "events", "owners_admin", port_not=WORKERS[0], drop=True)
    err = error_of(cur, "SELECT segmentation.refresh(true, as_of => '2024-02-06')")
    last = fetch(cur, "SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")[0][0]
    check("Citus: a tracked table in public of a database a worker's owner is not a superuser of: refresh refuses it, "
          "saying why, and runs nothing of the database owner's on a shard",
          superuser_runs(w, "owners_admin") == 0 and err is not None and err[0] == "0A000"
          and "on a Citus worker, its database or its schema (public) is not a superuser's" in (last or ""),
          (superuser_runs(w, "owners_admin"), err, last))
    # and sets its defaults there: with standard_conforming_strings off, a
    # backslash in a string Citus quoted for the coordinator ended the
    # literal on the worker, and the rest of a segment's name ran as the
    # superuser in segment_members' shard queries
    w.execute("SET citus.enable_ddl_propagation = off; ALTER DATABASE segmentation_owners SET standard_conforming_strings = off")
    errors = []
    sconn = psycopg2.connect(dbname=db, port=COORD, user="owners_admin")   # (new connections to the workers)
    sconn.autocommit = True
    for k in range(4):
        name = "x\\'" + ")" * k + " OR m.owners_admin_note() --"
        sconn.cursor().execute("SELECT segmentation.define_segment('inj', %s, 'true')", (name,))
        errors.append(error_of(sconn.cursor(), "SELECT count(*) FROM segmentation.segment_members('inj', %s, false)", (name,)))
    sconn.close()
    check("Citus: a worker's database owner's standard_conforming_strings = off turns no string the extension sends "
          "into SQL run as the superuser (segment names read by segment_members)",
          superuser_runs(w, "owners_admin") == 0 and errors == [None] * 4, (superuser_runs(w, "owners_admin"), errors))
    wcur.execute("ALTER DATABASE segmentation_owners OWNER TO postgres")
    wconn.close()
    # a superuser's schema whose name holds a quote and a backslash: the
    # workers are asked for its owner by name, which must read the same
    # there with standard_conforming_strings off (still the worker's default)
    nconn, ncur = connect(COORD, db)   # (new connections to the workers)
    ncur.execute("""CREATE SCHEMA "o'we\\ird";
                    CREATE TABLE "o'we\\ird".ev5 (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                    SELECT create_distributed_table('"o''we\\ird".ev5', 'user_id', colocate_with => 'events')""")
    err = error_of(ncur, """SELECT segmentation.track('"o''we\\ird".ev5', 'user_id', 'ts', 'ev', 'v')""")
    check("Citus: track() accepts a superuser's table in a superuser's schema whose name holds a quote and a "
          "backslash, a worker's standard_conforming_strings off", err is None, err)
    nconn.close()
    for c in (m, w):
        c.connection.close()
    conn.close()
    drop_everywhere([db], ["owners_admin", "owners_reader"])


def drop_everywhere(databases, roles=()):
    """a test's databases dropped on every node, then its roles"""
    for port in [COORD] + WORKERS:
        pconn, pcur = connect(port, "postgres")
        for name in databases:
            pcur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pconn.close()
    conn, cur = connect(COORD, "postgres")
    for role in roles:
        cur.execute(f"DROP ROLE {role}")
    conn.close()


def shard_cache(cur):
    """Capture on a shard keeps the shard's table and the queue's shard for
    the session (src/capture.c, CachedShard): the same sessions (one on a
    worker writing through the table, and the Citus connections it and the
    coordinator keep open) go on writing while the table is untracked and
    tracked again (a new queue), rolled back, and its shards moved between
    the nodes and split; every event committed while tracked is counted
    once."""
    cur.execute("SET client_min_messages = error")
    cur.execute("CREATE TABLE sc_ev (user_id bigint, ts timestamptz, ev text, v float8)")
    cur.execute("SELECT create_distributed_table('sc_ev', 'user_id', shard_count => 4)")
    cur.execute("SELECT segmentation.track('sc_ev', 'user_id', 'ts', 'ev', 'v')")
    wconn, wcur = connect(WORKERS[0])
    n = [0]

    def write(c):
        n[0] += 1
        c.execute("INSERT INTO sc_ev SELECT u, '2024-01-01'::timestamptz + %s * interval '1 hour', 'a', 1 "
                  "FROM generate_series(1, 40) u", (n[0],))

    def counted(label):
        cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
        cur.execute("SELECT coalesce(sum(segmentation.event_count(p.behavior)), 0) FROM segmentation.profiles p")
        got = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM sc_ev")
        want = cur.fetchone()[0]
        cur.execute("SELECT segmentation.refresh(true, as_of => '2024-04-01')")
        cur.execute("SELECT coalesce(sum(segmentation.event_count(p.behavior)), 0) FROM segmentation.profiles p")
        check(f"capture's cache of shards: {label}: every event counted once", got == want == cur.fetchone()[0], (got, want))

    for c in (wcur, cur, wcur):
        write(c)
    counted("written through a worker and the coordinator")
    cur.execute("SELECT segmentation.untrack('sc_ev')")
    write(wcur)  # (not tracked: a full refresh after track counts it)
    cur.execute("SELECT segmentation.track('sc_ev', 'user_id', 'ts', 'ev', 'v')")
    write(wcur)
    write(cur)
    counted("untracked and tracked again (a new queue)")
    cur.execute("BEGIN; SELECT segmentation.untrack('sc_ev'); SELECT segmentation.track('sc_ev', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("ROLLBACK")
    write(wcur)
    write(cur)
    counted("an untrack and track rolled back")
    cur.execute("SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.table_name = 'sc_ev'::regclass ORDER BY s.shardid")
    for shardid, port in cur.fetchall()[:2]:
        other = [w for w in WORKERS if w != port][0]
        cur.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, "
                    "shard_transfer_mode => 'block_writes')", (shardid, port, other))
        write(wcur)
    write(cur)
    counted("two shards moved to the other worker")
    cur.execute("SELECT s.shardid, s.nodeport FROM citus_shards s WHERE s.table_name = 'sc_ev'::regclass ORDER BY s.shardid LIMIT 1")
    shardid, port = cur.fetchone()
    cur.execute("SELECT nodeid FROM pg_dist_node WHERE nodeport = %s", (port,))
    node = cur.fetchone()[0]
    cur.execute("SELECT citus_split_shard_by_split_points(%s, ARRAY[(SELECT ((shardminvalue::bigint + shardmaxvalue::bigint) / 2)::text "
                "FROM pg_dist_shard WHERE shardid = %s)], ARRAY[%s, %s], 'block_writes')", (shardid, shardid, node, node))
    write(wcur)
    write(cur)
    counted("a shard split")
    wconn.close()
    cur.execute("SELECT segmentation.untrack('sc_ev'); DROP TABLE sc_ev; RESET client_min_messages")


def review29(cur):
    """Review 29: the lock of a refresh that reads a distributed source.
    R29-1: Citus takes refresh's LOCK TABLE ... IN SHARE MODE on the workers
    over its own connections, where refresh's lock_timeout (set_config) was
    not set: a writer through a worker that kept its transaction open kept
    refresh waiting past refresh_lock_timeout (up to
    refresh_statement_timeout, an hour by default), and every writer of the
    table queued behind it.
    R29-2: on a worker Citus locks the table, not its shards: a row written
    directly into a shard while such a run read the table was read and
    queued both, counted twice.
    R29-3: src/guard.c took any relation named <table>_<shard id> in the
    table's schema for a shard of an allowed table: a role that may create
    in that schema made one on the coordinator, where the shard is not."""
    tracked_events(cur, "r29_ev")
    cur.execute("DROP ROLE IF EXISTS r29_writer")
    cur.execute("CREATE ROLE r29_writer LOGIN")
    cur.execute("GRANT SELECT, INSERT ON r29_ev TO r29_writer")
    cur.execute("SELECT segmentation._setting('refresh_lock_timeout'), segmentation._setting('refresh_statement_timeout')")
    lock_timeout, statement_timeout = cur.fetchone()

    def shard_of(user):
        cur.execute("SELECT s.shard_name, s.shardid, s.nodeport FROM citus_shards s WHERE s.table_name = 'r29_ev'::regclass "
                    "AND s.shardid = get_shard_id_for_distribution_column('r29_ev', %s)", (user,))
        return cur.fetchone()

    # R29-1: a writer through a worker, its transaction open
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', '1 second'), "
                "segmentation.set_setting('refresh_statement_timeout', '30 seconds')")
    cur.execute("UPDATE r29_ev SET v = 2 WHERE user_id = 3")  # (a user to recompute: the run reads the table)
    wconn = psycopg2.connect(dbname=DB, port=WORKERS[0], user="r29_writer")
    wcur = wconn.cursor()
    wcur.execute("INSERT INTO r29_ev VALUES (5, '2024-01-05', 'open', 1)")
    err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
    wconn.rollback()
    wconn.close()
    check("R29-1: refresh waits for a writer through a worker refresh_lock_timeout at most "
          "(not until refresh_statement_timeout), and says so (not as Citus's failure on connection)",
          err is not None and err[0] == "55P03" and "r29_ev was not free within refresh_lock_timeout" in err[1], err)
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', %s), "
                "segmentation.set_setting('refresh_statement_timeout', %s)", (lock_timeout, statement_timeout))
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")

    # R29-2: a write straight into a shard while a refresh that reads the
    # table runs (held, after its lock and its drain, by a lock on a shard
    # of the other worker) waits for it, and is counted once
    held_shard, _, held_port = shard_of(9)
    user = next(u for u in range(1, 200) if shard_of(u)[2] != held_port)
    shard, _, port = shard_of(user)
    lconn, lcur = connect(held_port)
    # (Citus refuses a write to a shard unless the session says otherwise,
    # which any role may)
    lcur.execute("SET citus.enable_manual_changes_to_shards = on")
    lcur.execute(f"BEGIN; LOCK TABLE public.{held_shard} IN ACCESS EXCLUSIVE MODE")
    rconn, rcur = connect(COORD)
    wconn = psycopg2.connect(dbname=DB, port=port, user="r29_writer")
    wconn.autocommit = True
    wcur = wconn.cursor()
    wcur.execute("SET citus.enable_manual_changes_to_shards = on")
    errors = []
    t = in_thread(rcur, "SELECT segmentation.refresh(true, as_of => '2024-04-01')", errors)
    waits_for(lcur, f"public.{held_shard}", t)  # the refresh waits for the held shard
    w = in_thread(wcur, cur.mogrify(f"INSERT INTO public.{shard} VALUES (%s, '2024-01-20', 'direct', 1)", (user,)).decode(),
                  errors)
    # (done, or waiting for the table's lock on its node)
    pconn, pcur = connect(port)
    waited = waits_for(pcur, "r29_ev", w)
    lcur.execute("COMMIT")
    t.join()
    w.join()
    for c in (pconn, lconn, rconn, wconn):
        c.close()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    check("R29-2: a write straight into a shard waits while a refresh that reads the table runs",
          waited and not errors, errors)
    n = counted(cur, "r29_ev", [user])
    check("R29-2: ... and is counted once", n[0] == n[1], n)

    # R29-3: a table named as a shard that is on a worker, made on the
    # coordinator by a role that may create in the table's schema
    _, shardid, _ = shard_of(9)
    cur.execute("GRANT CREATE ON SCHEMA public TO r29_writer")
    cur.execute(f"""SET ROLE r29_writer; SET citus.enable_ddl_propagation = off;
                    CREATE TABLE public.r29_ev_{shardid} (user_id bigint, ts timestamptz, ev text, v float8);
                    RESET citus.enable_ddl_propagation; RESET ROLE""")
    err = error_of(cur, f"SELECT segmentation._execute_guarded('SELECT count(*) FROM public.r29_ev_{shardid}', "
                        "ARRAY['r29_ev'::regclass::oid], 0::bigint)")
    check("R29-3: refresh's guard refuses another role's table named as a shard of an allowed table",
          err is not None and err[0] == "42501", err)
    cur.execute(f"SET citus.enable_ddl_propagation = off; DROP TABLE public.r29_ev_{shardid}; "
                "RESET citus.enable_ddl_propagation; REVOKE CREATE ON SCHEMA public FROM r29_writer")

    cur.execute("SELECT segmentation.untrack('r29_ev'); DROP TABLE r29_ev; DROP ROLE r29_writer; RESET client_min_messages")


def coordinator_only(cur):
    """Every worker has a copy of the extension (CREATE EXTENSION is
    propagated) with its own random pseudonym key, no opted-out or forgotten
    users, default settings and no features: the functions that read that
    state refuse to run on a worker (src/node.c), whether called there or
    pushed down by Citus in a statement over a distributed table, where
    they would answer from the copy without a word."""
    tracked_events(cur, "co_ev")
    cur.execute("SELECT segmentation.opt_out('3'), segmentation.forget_user('4')")
    cur.execute("SELECT segmentation._is_opted_out('3'), segmentation._is_forgotten('4'), "
                "segmentation._setting('min_cell_size'), segmentation._pseudonym('3') IS NOT NULL")
    check("on the coordinator the state's functions answer", cur.fetchone() == (True, True, "10", True))
    for what, sql in [
            ("an opted-out user looked up on the shards",
             "SELECT count(*) FROM co_ev WHERE segmentation._is_opted_out(user_id::text)"),
            ("a forgotten user looked up on the shards",
             "SELECT count(*) FROM co_ev WHERE segmentation._is_forgotten(user_id::text)"),
            ("a pseudonym computed on a shard",
             "SELECT DISTINCT segmentation._pseudonym(user_id::text) FROM co_ev WHERE user_id = 3"),
            ("a setting read on the shards",
             "SELECT count(*) FROM co_ev WHERE segmentation._setting('min_cell_size') = ev")]:
        e = error_of(cur, sql)
        check(f"pushed down by Citus, {what} is an error, not the workers' copy",
              e is not None and e[0] == "55000" and "kept on the Citus coordinator only" in e[1], e)
    for port in WORKERS:
        _, wcur = connect(port)
        for sql in ["SELECT segmentation._is_opted_out('3')", "SELECT segmentation._is_forgotten('4')",
                    "SELECT segmentation._pseudonym('3')", "SELECT segmentation._setting('min_cell_size')",
                    "SELECT segmentation._feature_names()", "SELECT segmentation._last_as_of()",
                    "SELECT segmentation._analysis_schemes()", "SELECT segmentation.refresh()",
                    "SELECT * FROM segmentation.settings", "SELECT * FROM segmentation.refresh_status",
                    "SELECT * FROM segmentation.experiment_lift", "SELECT * FROM segmentation.funnel_conversion",
                    "SELECT segmentation.opt_in('3')"]:
            e = error_of(wcur, sql)
            check(f"on worker {port}, {sql} is refused", e is not None and e[0] == "55000", e)
        # review 31: what writes the state is refused there too: a setting
        # (min_cell_size, the suppression threshold) or a feature set on a
        # worker went into its copy, said done, and the coordinator never had it
        for sql in ["SELECT segmentation.set_setting('min_cell_size', '50')",
                    "SELECT segmentation.define_feature('co_f', ARRAY['a'])"]:
            e = error_of(wcur, sql)
            check(f"review 31: on worker {port}, {sql} is refused, not written to the worker's copy",
                  e is not None and e[0] == "55000" and "kept on the Citus coordinator only" in e[1], e)
    cur.execute("SELECT segmentation.opt_in('3'), segmentation.untrack('co_ev'); DROP TABLE co_ev; "
                "RESET client_min_messages")


def shard_truncate(cur):
    """A TRUNCATE straight into a shard (on its node, by a role with TRUNCATE
    on the table, after SET citus.enable_manual_changes_to_shards) of a
    shard Citus made with the table: Citus puts the table's TRUNCATE
    triggers on no such shard, so its events stayed counted, silently, until
    a full refresh.  track, and a full refresh (the first after a track),
    put capture's on every shard."""
    cur.execute("SET client_min_messages = error")
    cur.execute("CREATE TABLE st_ev (user_id bigint, ts timestamptz, ev text, v float8)")
    cur.execute("SELECT create_distributed_table('st_ev', 'user_id', shard_count => 4)")
    cur.execute("SELECT segmentation.track('st_ev', 'user_id', 'ts', 'ev', 'v')")
    sql = ("SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
           "WHERE c.relname ~ '^st_ev_[0-9]+$' AND t.tgname = 'segmentation_capture_truncate_' || substring(c.relname from '[0-9]+$') "
           "AND t.tgtype & 32 <> 0 AND t.tgenabled = 'A'")
    per_node = on_every_node(cur, sql)
    check("shard TRUNCATE: track puts capture's TRUNCATE trigger on every shard Citus made with the table, "
          "enabled ALWAYS", sum(int(n) for n in per_node) == 4, per_node)
    cur.execute("""INSERT INTO st_ev SELECT u, '2024-01-01'::timestamptz + i * interval '1 hour', 'a', 1
                   FROM generate_series(1, 20) u, generate_series(1, 3) i""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    cur.execute("DROP ROLE IF EXISTS st_truncator")
    cur.execute("CREATE ROLE st_truncator LOGIN; GRANT SELECT, TRUNCATE ON st_ev TO st_truncator")
    users = list(range(1, 21))
    for round_ in ("tracked", "tracked again"):
        cur.execute("SELECT s.shard_name, s.nodeport FROM citus_shards s WHERE s.table_name = 'st_ev'::regclass "
                    "AND s.shardid = get_shard_id_for_distribution_column('st_ev', %s)", (3 if round_ == "tracked" else 4,))
        shard, port = cur.fetchone()
        cur.execute("SELECT count(*) FROM st_ev")
        before = cur.fetchone()[0]
        tconn, tcur = connect(port)
        tcur.execute("SET ROLE st_truncator; SET citus.enable_manual_changes_to_shards = on")
        err = error_of(tcur, f"TRUNCATE public.{shard}")
        tconn.close()
        cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
        n = counted(cur, "st_ev", users)
        cur.execute("SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
        mode = cur.fetchone()[0]
        check(f"shard TRUNCATE ({round_}): a role's TRUNCATE straight into a shard is captured: the next refresh is "
              "full, and counts the events left", err is None and n[0] == n[1] < before and mode == "full", (err, n, before, mode))
        if round_ == "tracked":
            # a full refresh whose shards have theirs changes nothing there
            # (asked first: no lock taken on a shard, no catalog row written)
            rows = ("SELECT string_agg(t.xmin::text, ',' ORDER BY t.oid) FROM pg_trigger t "
                    "WHERE t.tgname LIKE 'segmentation_capture_truncate_%'")
            xmins = on_every_node(cur, rows)
            cur.execute("SELECT segmentation.refresh(true, as_of => '2024-04-01')")
            check("shard TRUNCATE: a full refresh whose shards have the trigger leaves it untouched",
                  on_every_node(cur, rows) == xmins and any(xmins), xmins)
            # untrack leaves the shards' TRUNCATE triggers (Citus keeps them);
            # the full refresh after the track again gives them the new
            # source's id (untrack and track in one transaction: untrack
            # holds the shards, and track leaves them to the refresh)
            cur.execute("BEGIN")
            cur.execute("SELECT segmentation.untrack('st_ev')")
            cur.execute("SELECT segmentation.track('st_ev', 'user_id', 'ts', 'ev', 'v')")
            cur.execute("COMMIT")
            cur.execute("INSERT INTO st_ev SELECT u, '2024-01-02', 'a', 1 FROM generate_series(1, 20) u")
            cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    cur.execute("SELECT segmentation.untrack('st_ev'); DROP TABLE st_ev; DROP ROLE st_truncator")
    # the triggers are put there over connections of their own, which would
    # wait forever for the caller's transaction: one that holds the shards
    # (a write, track, refresh, in one transaction) leaves them to the next
    # run, full, and says so
    for made in ("before", "in the transaction"):
        make = ("CREATE TABLE st_w (user_id bigint, ts timestamptz, ev text, v float8); "
                "SELECT create_distributed_table('st_w', 'user_id', shard_count => 2)")
        if made == "before":
            cur.execute(make)
        cur.execute("BEGIN")
        if made != "before":
            cur.execute(make)
        cur.execute("INSERT INTO st_w SELECT u, '2024-01-01', 'a', 1 FROM generate_series(1, 10) u")
        cur.execute("SELECT segmentation.track('st_w', 'user_id', 'ts', 'ev', 'v')")
        t0 = time.time()
        err = error_of(cur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
        took = time.time() - t0
        cur.execute("COMMIT" if err is None else "ROLLBACK")
        cur.execute("SELECT warnings FROM segmentation.refresh_status")
        warned = cur.fetchone()[0] or ""
        sql_w = sql.replace("st_ev", "st_w")
        before = sum(int(n) for n in on_every_node(cur, sql_w))
        cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
        cur.execute("SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
        mode = cur.fetchone()[0]
        after = sum(int(n) for n in on_every_node(cur, sql_w))
        cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
        cur.execute("SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
        then = cur.fetchone()[0]
        check(f"shard TRUNCATE: a write, track and refresh in one transaction (the table made {made}): the run leaves "
              "the shards' TRUNCATE triggers to the next, full, which puts them there, and says so (at once, no "
              "wait); the run after, finding them, is incremental",
              err is None and took < 20 and "TRUNCATE trigger is not on every shard of public.st_w" in warned
              and before == 0 and mode == "full" and after == 2 and then == "incremental",
              (err, took, warned, before, mode, after, then))
        cur.execute("SELECT segmentation.untrack(s.source) FROM segmentation.sources s WHERE s.source = 'st_w'::regclass")
        cur.execute("DROP TABLE st_w")
    cur.execute("RESET client_min_messages")


def review30(cur):
    """Review 30: a run that was not to read the tables (no user to
    recompute, no feature with a condition, no managed funnel: it took no
    lock on them) became full when a define_feature (or a TRUNCATE, a
    define_funnel) committed while it waited for the features' lock; it
    then read the distributed table without the lock, and an event written
    through a worker meanwhile was read and left queued on its shard:
    counted twice by the next run."""
    tracked_events(cur, "r30_ev")

    dconn, dcur = connect(COORD)
    dcur.execute("BEGIN; SELECT segmentation.define_feature('r30_feature', ARRAY['r30_no_such_event'])")
    rconn, rcur = connect(COORD)
    errors = []
    t = in_thread(rcur, "SELECT segmentation.refresh(as_of => '2024-04-01')", errors)
    waits_for(cur, "segmentation.features", t)  # the run waits for the features' lock
    wconn, wcur = connect(WORKERS[0])
    wcur.execute("INSERT INTO r30_ev VALUES (7, '2024-02-01', 'a', 1)")
    wconn.close()
    dcur.execute("COMMIT")
    t.join()
    dconn.close()
    rconn.close()
    # (that run, full only once started, put no TRUNCATE trigger on the
    # shards, which a track it passed may have left without one: the next
    # is full, and does)
    cur.execute("SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    late = cur.fetchone()[0]
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    cur.execute("SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    after_late = cur.fetchone()[0]
    check("a run that turned full once started (a define_feature committed while it waited) makes the next full "
          "(it put no shard's TRUNCATE trigger)", late == "full" and after_late == "full", (late, after_late))
    n = counted(cur, "r30_ev", list(range(1, 21)))
    check("review 30: a run made full by a define_feature committed while it waited locks the distributed "
          "tables: an event written meanwhile is counted once", not errors and n[0] == n[1], (errors, n))

    # A TRUNCATE straight into a shard that has a TRUNCATE trigger (one
    # Citus moved: it gets the table's), while a refresh that locked the
    # table is about to read it: the TRUNCATE holds the shard's ACCESS
    # EXCLUSIVE lock when its capture fires; capture waited there for the
    # table's lock, the refresh's read for the shard: a distributed
    # deadlock, the refresh cancelled
    cur.execute("SELECT s.shard_name, s.shardid, s.nodeport FROM citus_shards s WHERE s.table_name = 'r30_ev'::regclass "
                "ORDER BY s.shardid LIMIT 1")
    shard, shardid, port = cur.fetchone()
    other = [w for w in WORKERS if w != port][0]
    cur.execute("SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s, "
                "shard_transfer_mode => 'block_writes')", (shardid, port, other))
    tconn, tcur = connect(other)
    tcur.execute("SET citus.enable_manual_changes_to_shards = on")
    tcur.execute("SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = %s::regclass AND t.tgtype & 32 <> 0",
                 (f"public.{shard}",))
    check("review 30: (a shard Citus moved has a TRUNCATE capture trigger)", tcur.fetchone()[0] == 1)
    hconn, hcur = connect(COORD)
    # (the refresh held after its lock and its drain, before its read)
    hcur.execute("BEGIN; LOCK TABLE segmentation.rejected_events IN EXCLUSIVE MODE")
    rconn, rcur = connect(COORD)
    errors = []
    t = in_thread(rcur, "SELECT segmentation.refresh(true, as_of => '2024-04-01')", errors)
    waits_for(cur, "segmentation.rejected_events", t)
    w = in_thread(tcur, f"TRUNCATE public.{shard}", errors)
    wconn, wcur = connect(other)
    waits_for(wcur, "r30_ev", w)  # (done, or waiting for the table's lock)
    hcur.execute("COMMIT")
    t.join()
    w.join()
    for c in (wconn, tconn, hconn, rconn):
        c.close()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    n = counted(cur, "r30_ev", list(range(1, 21)))
    check("review 30: a TRUNCATE straight into a shard while a refresh that locked the table runs "
          "does not deadlock with it, and is followed", not errors and n[0] == n[1], (errors, n))

    # F8: two tracked distributed tables, a refresh that reads them, and a
    # writer through a worker that wrote the second in a transaction still
    # open, then writes the first: the refresh held the first while it
    # waited for the second, a deadlock (Citus cancelled one of them)
    tracked_events(cur, "r30_b")
    wconn, wcur = connect(WORKERS[0])
    wcur.execute("BEGIN; INSERT INTO r30_b VALUES (3, '2024-02-02', 'b', 1)")
    pconn, pcur = connect(WORKERS[0])
    rconn, rcur = connect(COORD)
    errors = []
    t = in_thread(rcur, "SELECT segmentation.refresh(true, as_of => '2024-04-01')", errors)
    waits_for(pcur, "r30_b", t)  # the refresh waits for the second
    try:
        wcur.execute("INSERT INTO r30_ev VALUES (3, '2024-02-02', 'a', 1); COMMIT")
    except psycopg2.Error as e:
        errors.append(f"writer: {e}")
    t.join()
    for c in (wconn, pconn, rconn):
        c.close()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    n, m = counted(cur, "r30_ev", [3]), counted(cur, "r30_b", [3])
    check("review 30 (F8): a refresh that reads two distributed tables and a writer that holds one and writes the "
          "other do not deadlock: both succeed, every event counted once",
          not errors and n[0] == n[1] + m[1], (errors, n, m))
    cur.execute("SELECT segmentation.untrack('r30_b'); DROP TABLE r30_b")
    cur.execute("SELECT segmentation.untrack('r30_ev'); DROP TABLE r30_ev; RESET client_min_messages")


MOVES_DB = "segmentation_citus_moves"


def shard_moves():
    """Shard moves by logical replication against refreshes that read the
    tracked table (each one, with a managed funnel).  A refresh claimed the
    queues on the workers (a transaction there) and then waited for the
    table, which a move held from its start: the move's replication slot
    waited for the refresh's transaction on the worker, the refresh for the
    move, until refresh_lock_timeout (session 31, doc/citus.md).  Now such a
    refresh holds Citus's lock on moving the table's shards from before it
    writes on a worker until it has locked the table: it waits for a move
    running, a move started meanwhile fails at once, and one started once it
    has the table waits for it."""
    conn, cur = database(MOVES_DB, citus=True)
    conn.autocommit = True
    cur.execute("SET TIME ZONE 'UTC'")
    tracked_events(cur, "mv_ev")
    cur.execute("""SELECT segmentation.define_feature('mv_a', ARRAY['a']);
                   SELECT segmentation.define_feature('mv_b', ARRAY['b']);
                   SELECT segmentation.define_funnel('mv_f', ARRAY['mv_a', 'mv_b'], '7 days');
                   SELECT segmentation.set_setting('refresh_lock_timeout', '20s');
                   SELECT segmentation.refresh(as_of => '2024-04-01')""")

    def shard_on(port):
        cur.execute("SELECT shardid FROM citus_shards WHERE table_name = 'mv_ev'::regclass AND nodeport = %s "
                    "ORDER BY shardid LIMIT 1", (port,))
        return cur.fetchone()[0]

    def move_sql(shard, source):
        target = [w for w in WORKERS if w != source][0]
        return (f"SELECT citus_move_shard_placement({shard}, '127.0.0.1', {source}, '127.0.0.1', {target}, "
                "'force_logical')")

    def new_events(day):
        # (every user: queued on every shard, so that a claim writes on each worker)
        cur.execute(f"INSERT INTO mv_ev SELECT u, '2024-02-{day:02d}', 'b', 1 FROM generate_series(1, 20) u")

    def polled(port, sql, thread):
        """whether sql (one boolean, on port's node) is true before thread ends"""
        pconn, pcur = connect(port, MOVES_DB)
        try:
            while thread.is_alive():
                pcur.execute(sql)
                if pcur.fetchone()[0]:
                    return True
                time.sleep(0.05)
            return False
        finally:
            pconn.close()

    # 1. A move running (its slot waits for a transaction open on the
    # worker), then a refresh: it waits for the move, before it claims
    new_events(2)
    hconn, hcur = connect(WORKERS[0], MOVES_DB)
    hcur.execute("BEGIN; SELECT pg_current_xact_id()")
    mconn, mcur = connect(COORD, MOVES_DB)
    errors = []
    m = in_thread(mcur, move_sql(shard_on(WORKERS[0]), WORKERS[0]), errors)
    slot_waits = polled(WORKERS[0], "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted)", m)
    rconn, rcur = connect(COORD, MOVES_DB)
    r = in_thread(rcur, "SELECT segmentation.refresh(as_of => '2024-04-01')", errors)
    refresh_waits = polled(COORD, "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 13 "
                                  "AND NOT granted)", r)
    hcur.execute("COMMIT")
    m.join()
    r.join()
    check("shard moves: a refresh that reads the table, started while a move of its shards runs, waits for the "
          "move (Citus's lock on moving the group), and both succeed",
          slot_waits and refresh_waits and not errors, (slot_waits, refresh_waits, errors))

    # 2. A refresh holding that lock (waiting for the features' lock, before
    # it locks the table): a move started then fails at once
    new_events(3)
    dconn, dcur = connect(COORD, MOVES_DB)
    dcur.execute("BEGIN; SELECT segmentation.define_feature('mv_c', ARRAY['c'])")
    errors = []
    r = in_thread(rcur, "SELECT segmentation.refresh(as_of => '2024-04-01')", errors)
    waits = waits_for(cur, "segmentation.features", r)
    err = error_of(mcur, move_sql(shard_on(WORKERS[1]), WORKERS[1]))
    dcur.execute("COMMIT")
    r.join()
    check("shard moves: a move started while a refresh that reads the table holds Citus's lock on moving its "
          "shards fails at once, saying so; the refresh succeeds",
          waits and err is not None and "could not acquire the lock required to move" in err[1] and not errors,
          (waits, err, errors))

    # 3. A refresh that has locked the table (waiting after it): a move
    # started then waits for it, and both succeed
    new_events(4)
    dcur.execute("BEGIN; LOCK TABLE segmentation.rejected_events IN EXCLUSIVE MODE")
    errors = []
    r = in_thread(rcur, "SELECT segmentation.refresh(true, as_of => '2024-04-01')", errors)
    waits = waits_for(cur, "segmentation.rejected_events", r)
    m = in_thread(mcur, move_sql(shard_on(WORKERS[1]), WORKERS[1]), errors)
    move_waits = waits_for(cur, "mv_ev", m)
    dcur.execute("COMMIT")
    r.join()
    m.join()
    check("shard moves: a move started once a refresh that reads the table has locked it waits for the refresh "
          "(the lock on moving given back), and both succeed", waits and move_waits and not errors,
          (waits, move_waits, errors))

    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    n = counted(cur, "mv_ev", list(range(1, 21)))
    cur.execute("SELECT count(*) FROM segmentation.refresh_runs WHERE error IS NOT NULL")
    failed = cur.fetchone()[0]
    check("shard moves: after the two moves, every event counted once (6 of each of 20 users), no refresh failed",
          n[0] == n[1] == 20 * 6 and failed == 0, (n, failed))

    # 5. A table tracked while such a refresh waits (after its claim, for
    # the features' lock; track does not wait for refresh): a move of that
    # table's shards, whose slot waits for the refresh's transaction on the
    # worker, fails the refresh at once when it gets to lock the table, and
    # the move succeeds (the refresh waited for the table, the move for the
    # refresh, until refresh_lock_timeout: review of session 33)
    cur.execute("""CREATE TABLE mv_t2 (user_id bigint, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('mv_t2', 'user_id', shard_count => 2, colocate_with => 'none')""")
    new_events(6)
    dcur.execute("BEGIN; SELECT segmentation.define_feature('mv_d', ARRAY['d'])")
    errors = []
    r = in_thread(rcur, "SELECT segmentation.refresh(as_of => '2024-04-01')", errors)
    waits = waits_for(cur, "segmentation.features", r)
    cur.execute("SELECT segmentation.track('mv_t2', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("SELECT shardid, nodeport FROM citus_shards WHERE table_name = 'mv_t2'::regclass ORDER BY shardid LIMIT 1")
    t2_shard, t2_port = cur.fetchone()
    move_errors = []
    m = in_thread(mcur, move_sql(t2_shard, t2_port), move_errors)
    slot_waits = polled(t2_port, "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted)", m)
    dcur.execute("COMMIT")
    r.join()
    m.join()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    n = counted(cur, "mv_ev", list(range(1, 21)))
    check("shard moves: a table tracked while a refresh that reads waits, its shard moved meanwhile: the refresh "
          "fails at once when it gets to lock it, saying so; the move succeeds; the next refresh counts every event once",
          waits and slot_waits and len(errors) == 1 and "a shard move or split of tracked table public.mv_t2" in errors[0]
          and "for longer than" not in errors[0] and not move_errors and n[0] == n[1] == 20 * 7,
          (waits, slot_waits, errors, move_errors, n))
    cur.execute("SELECT segmentation.untrack('mv_t2'); DROP TABLE mv_t2")

    # 4. Without a funnel, a refresh reads the table only for the users it
    # learns from its claim were updated or deleted: with a move running
    # then, it fails at once (it would wait for the move, which waits for
    # its claim), nothing lost
    cur.execute("SELECT segmentation.drop_funnel('mv_f')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    new_events(5)
    cur.execute("DELETE FROM mv_ev WHERE user_id = 3 AND ts = '2024-02-05'")
    hcur.execute("BEGIN; SELECT pg_current_xact_id()")
    errors = []
    m = in_thread(mcur, move_sql(shard_on(WORKERS[0]), WORKERS[0]), errors)
    slot_waits = polled(WORKERS[0], "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted)", m)
    err = error_of(rcur, "SELECT segmentation.refresh(as_of => '2024-04-01')")
    # (and a full one waits for the move, refresh_lock_timeout at most)
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', '1s')")
    waited = error_of(rcur, "SELECT segmentation.refresh(true, as_of => '2024-04-01')")
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', '20s')")
    hcur.execute("COMMIT")
    m.join()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-04-01')")
    n = counted(cur, "mv_ev", list(range(1, 21)))
    check("shard moves: a refresh that learns from its claim that it reads the table, while a move runs, fails at "
          "once, saying so; the move succeeds; the next refresh counts every event once",
          slot_waits and err is not None and err[0] == "55P03" and "a shard move or split of tracked table public.mv_ev"
          in err[1] and "for longer than" not in err[1] and not errors and n[0] == n[1] == 20 * 8 - 1,
          (slot_waits, err, errors, n))
    check("shard moves: a full refresh started while a move runs waits for it, refresh_lock_timeout at most, "
          "then fails, saying so",
          waited is not None and waited[0] == "55P03" and "is running, for longer than refresh_lock_timeout" in waited[1],
          waited)
    for c in (hconn, mconn, rconn, dconn, conn):
        c.close()
    drop_everywhere([MOVES_DB])


READ_DB = "segmentation_citus_read"
# the views the roles read over the per-user state (sql/50-state.sql, _read_paths)
READ_VIEWS = ["memberships", "membership_history", "segment_summary", "segment_migration", "user_scores"]
READ_ROLES = {"owner": None, "analyst": "segmentation_analyst", "reader": "segmentation_reader",
              "admin": "segmentation_admin", "public": None}


# the settings of the read paths' functions (sql/50-state.sql): the search
# path pinned, Citus's EXPLAIN of the workers' plans off (sql/99-privileges.sql)
READ_PATH_SETTINGS = ["search_path=pg_catalog, pg_temp", "citus.explain_distributed_queries=off"]


def read_as(cur, role, sql):
    """rows of sql as a role of READ_ROLES (a login role in it), or the
    error's SQLSTATE and first line"""
    try:
        if role != "owner":
            cur.execute(f"SET ROLE read_{role}")
        cur.execute(sql)
        return rounded(cur.fetchall())
    except psycopg2.Error as e:
        return (e.pgcode, str(e).strip().split("\n")[0])
    finally:
        cur.execute("RESET ROLE")


def hijack_functions(cur, role):
    """as read_<role>, in a schema of its own: functions named like built-ins
    that the shard queries of the read paths and of refresh call unqualified,
    each an error naming the role it ran as"""
    cur.execute(f"SET ROLE read_{role}")
    cur.execute(f"""CREATE SCHEMA evil_{role};
        CREATE FUNCTION evil_{role}.jsonb_each(j jsonb, OUT key text, OUT value jsonb) RETURNS SETOF record
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked: ran as %', current_user; END $$;
        CREATE FUNCTION evil_{role}.jsonb_path_query_array(target jsonb, path jsonpath, vars jsonb DEFAULT '{{}}',
                                                          silent boolean DEFAULT false) RETURNS jsonb
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked: ran as %', current_user; END $$;
        CREATE FUNCTION evil_{role}.octet_length(text) RETURNS integer
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked: ran as %', current_user; END $$;
        CREATE FUNCTION evil_{role}.hijack_final(bigint[]) RETURNS bigint
        LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked: ran as %', current_user; END $$;
        CREATE AGGREGATE evil_{role}.sum(integer) (sfunc = int4_avg_accum, stype = bigint[], initcond = '{{0,0}}',
                                                  finalfunc = evil_{role}.hijack_final)""")
    cur.execute("RESET ROLE")
    cur.execute(f"""SELECT array_agg(result) FROM run_command_on_workers($$
                        SELECT string_agg(DISTINCT proname, ',' ORDER BY proname) FROM pg_proc
                        WHERE pronamespace = 'evil_{role}'::regnamespace$$)""")
    got = cur.fetchone()[0]
    check(f"hijack: read_{role}'s functions named like built-ins are on every worker (Citus made them there)",
          got == ["hijack_final,jsonb_each,jsonb_path_query_array,octet_length,sum"] * len(WORKERS), got)


def hijacked(cur, role, sql, savepoint=False):
    """sql run by read_<role> after SET LOCAL search_path = its schema, sent to
    the workers (citus.propagate_set_commands = local): rows, or the error;
    with savepoint, after the views were read once (the owner's connections
    open) and the SET LOCALs were made in a subtransaction since released
    (Citus forgets them, the connections keep them): either way refused now"""
    sets = (f"SET LOCAL citus.propagate_set_commands = 'local'; "
            f"SET LOCAL search_path = evil_{role}, pg_catalog;")
    try:
        cur.execute(f"SET ROLE read_{role}")
        cur.execute("BEGIN")
        if savepoint:
            cur.execute(f"SELECT count(*) FROM ({sql}) q")
            cur.execute("SAVEPOINT s")
            cur.execute(sets)
            cur.execute("RELEASE SAVEPOINT s")
        else:
            cur.execute(sets)
        cur.execute(sql)
        rows = rounded(cur.fetchall())
        cur.execute("COMMIT")
        return rows
    except psycopg2.Error as e:
        cur.execute("ROLLBACK")
        return (e.pgcode, str(e).strip().split("\n")[0])
    finally:
        cur.execute("RESET ROLE")


def read_setup(cur, citus):
    """the state read_paths_distributed reads: on a table Citus distributes
    (track() distributes the state with it), or on one node"""
    cur.execute("""SET TIME ZONE 'UTC';
        CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8)""")
    if citus:
        cur.execute("SELECT create_distributed_table('events', 'user_id', shard_count => 8)")
    cur.execute("""
        INSERT INTO events
        SELECT g % 240, timestamptz '2024-01-01' + g * interval '37 minutes',
               (ARRAY['signup', 'login', 'buy', 'view'])[1 + (g + g / 240) % 4], (g % 17)::float8
        FROM generate_series(1, 4000) g""")
    # (in a transaction of its own: on Citus it distributes the state)
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
    # user attributes: the analyst may read plan in the table, not secret;
    # user_scores shows each attribute to a role that may read it there
    cur.execute("""CREATE TABLE accounts (user_id bigint PRIMARY KEY, plan text, secret text);
                   INSERT INTO accounts SELECT u, (ARRAY['free', 'pro'])[1 + u % 2], 'x' || u FROM generate_series(0, 239) u;
                   GRANT SELECT (user_id, plan) ON accounts TO read_analyst""")
    cur.execute("SELECT segmentation.track_users('accounts', 'user_id')")
    cur.execute("""
        SELECT segmentation.use_preset('engagement_ladder', 'signup', 'buy');
        SELECT segmentation.use_preset('rfm');
        SELECT segmentation.define_segment('custom', 'buyers', 'frequency >= 17', 10);
        SELECT segmentation.set_setting('min_cell_size', '50');
        SELECT segmentation.refresh(as_of => '2024-03-01');
        SELECT segmentation.refresh(as_of => '2024-03-20');
        SELECT segmentation.opt_out('12');
        -- a view of the application's over one of them
        CREATE VIEW my_members AS SELECT scheme, count(*) AS users FROM segmentation.memberships GROUP BY 1;
        GRANT SELECT ON my_members TO read_analyst;
        INSERT INTO events VALUES (3, '2024-03-19', 'buy', 2)""")


def read_paths_distributed():
    """doc/citus-distribution.md steps 2 and 3 (section 11, decision 1):
    Citus sends a distributed table's shard queries to the workers as the
    calling role, so once the state is distributed (track() of a table
    Citus distributes does it) an analyst or a reader could read no view
    over it (permission denied for the shard). _read_paths then builds
    those views over SECURITY DEFINER functions of the same query. Here
    every role reads through every view exactly what it reads on one node,
    suppression and opt-outs included, and no more."""
    conn, cur = database(READ_DB, citus=True)
    for role, member_of in READ_ROLES.items():
        if role == "owner":
            continue
        cur.execute(f"""DO $$ BEGIN
                            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'read_{role}') THEN
                                CREATE ROLE read_{role} LOGIN;
                            END IF;
                        END $$""")
        if member_of:
            cur.execute(f"GRANT {member_of} TO read_{role}")
    # (a role with a schema of its own, as many warehouses give)
    cur.execute(f"GRANT CREATE ON DATABASE {READ_DB} TO read_admin, read_analyst, read_reader")
    read_setup(cur, citus=True)
    sconn, scur = database(READ_DB + "_single", citus=False)
    read_setup(scur, citus=False)
    scur.execute("SELECT segmentation.refresh(true, as_of => '2024-03-20')")
    # An admin's SET LOCAL search_path, sent to the workers, must not reach
    # refresh's queries there, which run as the extension's owner (they call
    # octet_length unqualified): before _clean_citus_settings, its function
    # ran as the superuser on every worker; then the SET was reset there;
    # now it is refused (42501), before the call or after it
    for role in ("admin", "analyst", "reader"):
        hijack_functions(cur, role)
    for savepoint in (False, True):
        got = hijacked(cur, "admin", "SELECT segmentation.refresh(true, as_of => '2024-03-20') IS NOT NULL", savepoint)
        check(f"hijack: a full refresh by an admin whose SET LOCAL search_path goes to the workers{' (in a released savepoint)' if savepoint else ''} "
              "runs none of the admin's functions there (refused)", isinstance(got, tuple) and got[0] == "42501", got)
    # refresh_status sums the queue's shards (review of the fix: an admin's sum ran there)
    for savepoint in (False, True):
        got = hijacked(cur, "admin", "SELECT pending_events IS NOT NULL FROM segmentation.refresh_status", savepoint)
        check(f"hijack: refresh_status read by an admin whose SET LOCAL search_path goes to the workers"
              f"{' (in a released savepoint)' if savepoint else ''} runs none of the admin's functions there (refused)",
              isinstance(got, tuple) and got[0] == "42501", got)
    # A role that may create a schema named like the extension's owner
    # (Citus makes it on every worker too), which leads a worker's default
    # search path ("$user", public), put there overloads of built-ins the
    # shard queries name unqualified that match better than pg_catalog's
    # polymorphic ones: unnest(bigint[]) (refresh's RFM breakpoints),
    # array_agg (the managed analyses' cells), which ran as the owner, a
    # superuser, on every worker; _clean_citus_settings pins the workers'
    # search path now (attack review, session 24)
    cur.execute("SELECT current_user")
    owner = cur.fetchone()[0]
    cur.execute("SET ROLE read_reader")
    cur.execute(f"""CREATE SCHEMA {owner};
        CREATE FUNCTION {owner}.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
            BEGIN
                IF current_user = '{owner}' THEN RAISE EXCEPTION 'hijacked: ran as %', current_user; END IF;
                RETURN QUERY SELECT pg_catalog.unnest($1);
            END $$;
        CREATE FUNCTION {owner}.acc(anyarray, anyelement) RETURNS anyarray LANGUAGE plpgsql AS $$
            BEGIN
                IF current_user = '{owner}' THEN RAISE EXCEPTION 'hijacked: ran as %', current_user; END IF;
                RETURN pg_catalog.array_append($1, $2);
            END $$;
        CREATE AGGREGATE {owner}.array_agg(timestamptz) (sfunc = {owner}.acc, stype = timestamptz[]);
        CREATE AGGREGATE {owner}.array_agg(integer) (sfunc = {owner}.acc, stype = integer[]);
        CREATE AGGREGATE {owner}.array_agg(text) (sfunc = {owner}.acc, stype = text[])""")
    cur.execute("RESET ROLE")
    got = read_as(cur, "admin", "SELECT segmentation.refresh(true, as_of => '2024-03-20') IS NOT NULL")
    cur.execute(f"SET ROLE read_reader; DROP SCHEMA {owner} CASCADE; RESET ROLE")
    check("hijack: overloads of built-ins in a schema named like the extension's owner (first in a worker's default "
          "search path) run nowhere as the owner in a full refresh", got == [(True,)], got)
    # and what reads the state through the definer functions of sql/75 and 45
    reads = dict({v: f"SELECT * FROM segmentation.{v}" for v in READ_VIEWS}, **{
        "my_members": "SELECT * FROM my_members",
        # (a table the analyst may read: Citus gives its shards the table's grants)
        "transitions": "SELECT scheme, user_id, from_segment, to_segment, at FROM segmentation.transitions",
        "retention_matrix": "SELECT * FROM segmentation.retention_matrix('week', 'lifecycle')",
        "lifecycle": "SELECT * FROM segmentation.lifecycle('week', 'lifecycle')",
        "stickiness": "SELECT * FROM segmentation.stickiness('week', 'lifecycle')",
        "validate_segments": "SELECT * FROM segmentation.validate_segments('lifecycle', '2024-03-01', '7 days')",
        "segment_members raw": "SELECT * FROM segmentation.segment_members('custom', 'buyers', false)"})

    def everything(c):
        return {(role, v): read_as(c, role, sql) for role in READ_ROLES for v, sql in reads.items()}
    comments = """SELECT c.relname, a.attname, col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class')
                  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                  WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relname = ANY (%s)"""
    scur.execute(comments, (READ_VIEWS,))
    described = sorted(scur.fetchall())
    before = everything(scur)
    sconn.close()
    empty = [v for v in reads if not before[("owner", v)] or isinstance(before[("owner", v)], tuple)]
    check("read paths: every read holds rows for the owner", not empty, empty)
    summary = before[("owner", "segment_summary")]
    check("read paths: the state has moves, some cells suppressed and some shown, an opted-out user",
          before[("owner", "membership_history")] != before[("owner", "memberships")]
          and any(r[-1] for r in summary) and not all(r[-1] for r in summary)
          and not any(r[1] == 12 for r in before[("owner", "memberships")]),
          str(summary)[:300])
    denied = {k for k, v in before.items() if isinstance(v, tuple) and k[1] in READ_VIEWS + ["my_members"]}
    check("read paths: on one node's views a reader reads only the aggregate views, PUBLIC none",
          denied == {(r, v) for r in ("reader", "public") for v in ("memberships", "membership_history", "user_scores",
                                                                      "my_members")}
          | {("public", "segment_summary"), ("public", "segment_migration"), ("admin", "my_members")},
          sorted(denied))
    got = read_as(cur, "owner", "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'segmentation.profiles'::regclass")
    check("read paths: track() distributed the state", got == [(1,)], got)
    after = everything(cur)
    differ = [k for k in before if not (before[k] == after[k] or (isinstance(before[k], list) and same(before[k], after[k])))]
    check("read paths: with the state distributed, every role reads through every view and analysis what it "
          f"read on one node ({len(before)} reads), refusals included", not differ,
          [(k, [r for r in before[k] if r not in after[k]][:2], [r for r in after[k] if r not in before[k]][:2])
           if isinstance(before[k], list) and isinstance(after[k], list) else (k, before[k], after[k]) for k in differ][:3])
    cur.execute(comments, (READ_VIEWS,))
    got = sorted(cur.fetchall())
    check("read paths: the views have the comments and their columns' of one node's",
          got == described and all(r[2] and r[3] for r in got), [r for r in got if r not in described][:3])
    # the same through the read paths, as the analyst and the reader (their
    # shard queries call jsonb_each and jsonb_path_query_array unqualified)
    for role, view in (("analyst", "memberships"), ("reader", "segment_summary")):
        for savepoint in (False, True):
            got = hijacked(cur, role, f"SELECT * FROM segmentation.{view}", savepoint)
            check(f"hijack: {view} read by the {role} after a SET LOCAL search_path sent to the workers"
                  f"{' (in a released savepoint)' if savepoint else ''} runs none of its functions there (refused)",
                  isinstance(got, tuple) and got[0] == "42501", str(got)[:300])
    cur.execute("""SELECT p.proname, p.prosecdef, p.proconfig, has_function_privilege('read_public', p.oid, 'EXECUTE'),
                          has_function_privilege('read_reader', p.oid, 'EXECUTE'),
                          has_function_privilege('read_analyst', p.oid, 'EXECUTE')
                   FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname LIKE '%\_rows'
                     AND p.proname NOT IN ('_rls_hides_rows', '_user_scores_rows')
                   ORDER BY 1""")
    fns = cur.fetchall()
    check("read paths: one SECURITY DEFINER function per view, search_path pinned, no argument; PUBLIC may call "
          "none, the reader only the aggregate ones, the analyst all",
          [f[0] for f in fns] == sorted(f"_{v}_rows" for v in READ_VIEWS if v != "user_scores")
          and all(f[1] and f[2] == READ_PATH_SETTINGS and not f[3] and f[5]
                  and f[4] == (f[0] in ("_segment_summary_rows", "_segment_migration_rows")) for f in fns), fns)
    # user_scores: the rows each role may see, attributes as it may read them in the table: read as the
    # owner by _user_scores_as(caller), which no role may call, through _user_scores_rows(), a plain C
    # function the analyst and the admin may call, which passes it the role calling (src/node.c)
    cur.execute("""SELECT p.proname, p.prosecdef, p.proconfig, has_function_privilege('read_public', p.oid, 'EXECUTE'),
                          has_function_privilege('read_reader', p.oid, 'EXECUTE'),
                          has_function_privilege('read_analyst', p.oid, 'EXECUTE'),
                          has_function_privilege('read_admin', p.oid, 'EXECUTE')
                   FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
                     AND p.proname IN ('_user_scores_rows', '_user_scores_as') ORDER BY 1""")
    fns = cur.fetchall()
    check("read paths: user_scores reads _user_scores_rows() (the analyst and the admin may call it), which calls "
          "_user_scores_as (SECURITY DEFINER, search_path pinned, no role may call it)",
          fns == [("_user_scores_as", True, READ_PATH_SETTINGS, False, False, False, False),
                  ("_user_scores_rows", False, None, False, False, True, True)], fns)
    cur.execute("SELECT current_user::regrole::oid")
    owner_oid = cur.fetchone()[0]
    for role in ("analyst", "admin", "reader"):
        got = read_as(cur, role, f"SELECT * FROM segmentation._user_scores_as({owner_oid}) AS u (user_id bigint)")
        check(f"read paths: the {role} may not call _user_scores_as (the rows another role may see)",
              isinstance(got, tuple) and got[0] == "42501", str(got)[:200])
    rows = after[("analyst", "user_scores")]
    got = read_as(cur, "analyst", "SELECT count(plan), count(secret), count(*) FROM segmentation.user_scores")
    want = read_as(cur, "owner", "SELECT count(plan), count(secret), count(*) FROM segmentation.user_scores")
    check("read paths: user_scores shows the analyst the attribute it may read in the table (plan), not the other "
          "(secret), as the owner sees both", len(rows) > 0 and got[0][0] == got[0][2] and got[0][1] == 0
          and want[0][0] == want[0][1] == want[0][2] == got[0][2], (got, want))
    for v in READ_VIEWS:
        got = read_as(cur, "reader", f"SELECT * FROM segmentation._{v}_rows()" + (" AS u (user_id bigint)" if v == "user_scores" else ""))
        want = before[("reader", v)] if v in ("segment_summary", "segment_migration") else "refused"
        check(f"read paths: the reader calling _{v}_rows() itself gets what the view shows it",
              same(got, want) if want != "refused" else isinstance(got, tuple) and got[0] == "42501", str(got)[:300])
    # a define_segment rebuilds user_scores (a column per scheme), over the function still,
    # whatever view a role made over that function (attack review: it blocked the rebuild)
    cur.execute("SET ROLE read_reader; CREATE VIEW evil_reader.v AS SELECT * FROM segmentation._user_scores_rows() AS u (user_id bigint); RESET ROLE")
    err = error_of(cur, "SELECT segmentation.define_segment('custom2', 'all', 'true')")
    check("read paths: define_segment works though the reader made a view over _user_scores_rows()", err is None, err)
    got = read_as(cur, "analyst", "SELECT user_id, custom2 FROM segmentation.user_scores")
    check("read paths: define_segment rebuilds user_scores over the function (the analyst reads the new column)",
          not isinstance(got, tuple) and len(got) == len(before[("analyst", "user_scores")])
          and {r[1] for r in got} == {"unsegmented"}, str(got)[:200])
    # Citus makes the functions on the workers too (with the view over them): the same rights there,
    # and there an error (a worker's settings are a copy: min_cell_size 10, not 50)
    cur.execute("""SELECT bool_and(success AND result = 't') FROM run_command_on_workers($$
                       SELECT count(*) = 6 AND bool_and((p.prosecdef OR p.proname = '_user_scores_rows') AND p.proacl IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
                       FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
                         AND (p.proname LIKE '%\\_rows' OR p.proname = '_user_scores_as') AND p.proname <> '_rls_hides_rows'$$)""")
    check("read paths: on each worker the six functions exist (Citus made them) and PUBLIC may call none",
          cur.fetchone()[0])
    wconn, wcur = connect(WORKERS[0], READ_DB)
    for v in READ_VIEWS:
        got = read_as(wcur, "owner" if v != "segment_summary" else "reader",
                      f"SELECT * FROM segmentation._{v}_rows()" + (" AS u (user_id bigint)" if v == "user_scores" else ""))
        check(f"read paths: _{v}_rows() on a worker is an error, not rows from the worker's copy",
              isinstance(got, tuple) and "kept on the Citus coordinator only" in got[1], str(got)[:300])
    wconn.close()
    conn.close()


FORGET_DB = "segmentation_citus_forget"


def single_shard():
    """A tracked table of one shard: Citus runs a whole statement over it
    (and the state colocated with it) on its worker, where the state's
    functions are an error; segment_members and membership_history read
    what they must on the coordinator (attack review, session 23: both
    failed)."""
    conn, cur = database(FORGET_DB, citus=True)
    cur.execute("""SET TIME ZONE 'UTC';
                   CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('events', 'user_id', shard_count => 1);
                   INSERT INTO events SELECT g % 40, timestamptz '2024-01-01' + g * interval '1 hour', 'login', g % 7
                   FROM generate_series(1, 400) g""")
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("""SELECT segmentation.use_preset('rfm');
                   SELECT segmentation.define_segment('custom', 'many', 'frequency >= 12', 10);
                   SELECT segmentation.refresh(as_of => '2024-01-10');
                   INSERT INTO events SELECT g % 10, '2024-01-15', 'login', 1 FROM generate_series(1, 30) g;
                   SELECT segmentation.refresh(as_of => '2024-01-20')""")
    got = error_of(cur, """SELECT count(*), count(s.member) FILTER (WHERE r.member IS NOT NULL)
                           FROM segmentation.segment_members('custom', 'many') s
                           FULL JOIN segmentation.segment_members('custom', 'many', false) r
                             ON s.member = encode(segmentation._pseudonym(r.member), 'hex')""") or cur.fetchone()
    check("Citus, one shard: segment_members' pseudonyms are the coordinator's keyed hashes of the members",
          got[0] == 10 and got[1] == 10, got)
    got = error_of(cur, """SELECT (SELECT count(*) FROM segmentation.membership_history WHERE exited_at IS NULL),
                                  (SELECT count(*) FROM segmentation.memberships),
                                  (SELECT count(*) FROM segmentation.membership_history WHERE exited_at IS NOT NULL)""") \
        or cur.fetchone()
    check("Citus, one shard: membership_history reads the stays that ended and the current ones",
          got[0] == got[1] and got[1] > 0 and got[2] > 0, got)
    conn.close()


def forget_distributed():
    """forget_user with delete_events of a user of a table Citus
    distributes: as the extension's owner it erases the user and deletes
    their rows; as an admin it cannot (Citus refuses a transaction that
    writes colocated shards as two roles: the queue as the owner, the table
    as the caller), so it is refused before anything is erased, with the
    way that works, and that way works."""
    conn, cur = database(FORGET_DB, citus=True)
    cur.execute("""DO $$ BEGIN
                       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'forget_admin') THEN
                           CREATE ROLE forget_admin LOGIN;
                       END IF;
                   END $$;
                   GRANT segmentation_admin TO forget_admin;
                   SET TIME ZONE 'UTC';
                   CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
                   SELECT create_distributed_table('events', 'user_id', shard_count => 8);
                   GRANT SELECT, DELETE ON events TO forget_admin;
                   INSERT INTO events SELECT g % 40, timestamptz '2024-01-01' + g * interval '1 hour', 'login', 1
                   FROM generate_series(1, 400) g""")
    cur.execute("""SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v');
                   SELECT segmentation.refresh(as_of => '2024-02-01');
                   -- (queued on the shards, not yet refreshed: forget_user removes them from the queue)
                   INSERT INTO events VALUES (5, '2024-01-30', 'buy', 3), (6, '2024-01-30', 'buy', 3), (7, '2024-01-30', 'buy', 3)""")

    def state(user):
        return fetch(cur, f"""SELECT (SELECT count(*) FROM events WHERE user_id = {user}),
                                     (SELECT count(*) FROM segmentation.profiles WHERE user_id = {user}),
                                     (SELECT count(*) FROM segmentation.forgotten_users)""")[0]
    cur.execute("SET ROLE forget_admin")
    err = error_of(cur, "SELECT segmentation.forget_user('5', true)")
    cur.execute("RESET ROLE")
    check("Citus: forget_user(id, delete_events => true) by an admin is refused with the reason, before anything is erased",
          err is not None and err[0] == "0A000" and "a table Citus distributes, as a role other than the extension's owner"
          in err[1] and state(5) == (11, 1, 0), (err, state(5)))
    # the way the hint gives: erase, then delete the rows in a transaction of their own
    cur.execute("SET ROLE forget_admin")
    # (one execute is one transaction: three here)
    err = next(filter(None, (error_of(cur, sql) for sql in (
        "SELECT segmentation.forget_user('5')", "DELETE FROM events WHERE user_id = 5",
        "SELECT segmentation.refresh(as_of => '2024-02-02')"))), None)
    cur.execute("RESET ROLE")
    check("Citus: ... the hint's way works for the admin: forget_user without delete_events, then the DELETE, then refresh",
          err is None and state(5) == (0, 0, 1), (err, state(5)))
    cur.execute("SELECT segmentation.forget_user('6', true)")
    deleted = cur.fetchone()[0]
    check("Citus: forget_user(id, delete_events => true) by the extension's owner deletes the user's rows on the shards",
          deleted == 11 and state(6) == (0, 0, 2), (deleted, state(6)))
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-03')")
    got = fetch(cur, """SELECT (SELECT count(*) FROM segmentation.profiles WHERE user_id IN (5, 6)),
                               (SELECT count(*) FROM segmentation.profiles),
                               (SELECT segmentation.event_count(behavior) FROM segmentation.profiles WHERE user_id = 7),
                               (SELECT count(*) FROM segmentation.citus_queue_1)""")[0]
    check("Citus: ... and a refresh after brings neither back, counts the others' queued events, empties the queue",
          got == (0, 38, 11, 0), got)
    conn.close()
    for port in [COORD] + WORKERS:
        conn, cur = connect(port, "postgres")
        cur.execute(f"DROP DATABASE IF EXISTS {FORGET_DB} WITH (FORCE)")
        conn.close()


def backup_restore():
    """A tracked table Citus no longer manages (lifecycle probe, session 27):
    a dump of the coordinator restored into a new Citus database gives it
    as a plain table with the capture triggers Citus's shards need, and so
    does undistribute_table. Tracked, its writes are refused with the cause
    and the cure, refresh says the same, and untrack + track counts every
    event once; not tracked (undistribute_table made a new table, and the
    old one's drop untracked it), the triggers are leftovers and the
    application's writes go on."""
    db = "segmentation_backup"
    conn, cur = database(db, citus=True)
    cur.execute("""SET TIME ZONE 'UTC';
        CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
        SELECT create_distributed_table('events', 'user_id', shard_count => 4);
        INSERT INTO events SELECT g % 50, timestamptz '2024-01-01' + g * interval '1 hour', 'buy', 1 FROM generate_series(1, 400) g""")
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("SELECT segmentation.use_preset('rfm')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-01')")
    dump = tempfile.mkdtemp(prefix="segmentation-dump.") + "/backup.dump"
    bin_dir = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
    subprocess.run([f"{bin_dir}/pg_dump", "-h", "127.0.0.1", "-p", str(COORD), "-U", "postgres", "-Fc", "-f", dump, db],
                   check=True, capture_output=True)
    largest = fetch(cur, "SELECT segment FROM segmentation.memberships WHERE scheme = 'rfm' "
                         "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][0]
    members = f"SELECT * FROM segmentation.segment_members('rfm', '{largest}') ORDER BY 1"
    before = {"memberships": fetch(cur, "SELECT * FROM segmentation.memberships ORDER BY 1, 2"),
              "members": fetch(cur, members)}
    source_id = fetch(cur, "SELECT id FROM segmentation.sources")[0][0]

    def restore(name, *options):
        rconn, _ = database(name, citus=True)
        rconn.cursor().execute("DROP EXTENSION segmentation CASCADE")
        rconn.close()
        return subprocess.run([f"{bin_dir}/pg_restore", "-h", "127.0.0.1", "-p", str(COORD), "-U", "postgres",
                               "-d", name, *options, dump], capture_output=True, text=True)
    # the three steps that keep the state distributed (doc/citus.md)
    steps = [restore(db + "_c", "--schema-only")]
    cconn, ccur = connect(COORD, db + "_c")
    ccur.execute("""SET citus.enable_unsafe_triggers = on;
                    SELECT create_distributed_table('events', 'user_id', shard_count => 4);
                    RESET citus.enable_unsafe_triggers""")
    for table in (f"segmentation.citus_queue_{source_id}", "segmentation.profiles", "segmentation.transitions",
                  "segmentation._funnel_state", "segmentation._batch", "segmentation._batch_parts", "segmentation._funnel_batch",
                  "segmentation._analysis_users"):
        ccur.execute(f"SELECT create_distributed_table('{table}', 'user_id', colocate_with => 'events')")
    ccur.execute("SELECT create_reference_table('segmentation.score_context')")
    steps.append(subprocess.run([f"{bin_dir}/pg_restore", "-h", "127.0.0.1", "-p", str(COORD), "-U", "postgres",
                                 "-d", db + "_c", "--data-only", dump], capture_output=True, text=True))
    after = {"memberships": fetch(ccur, "SELECT * FROM segmentation.memberships ORDER BY 1, 2"),
             "members": fetch(ccur, members)}
    ccur.execute("INSERT INTO events VALUES (78, '2024-02-02', 'buy', 1)")
    # (the copies of the key and the lists left plain tables: refused, with
    # the hint; made reference tables after the data, they take its rows)
    refused = error_of(ccur, "SELECT segmentation.refresh(as_of => '2024-02-03')")
    check("backup: restored without the copies of the key and the lists made reference tables, refresh is refused, "
          "saying which",
          refused is not None and refused[0] == "55000" and "are not Citus reference tables" in refused[1], refused)
    for table in ("segmentation._key_on_nodes", "segmentation._forgotten_on_nodes", "segmentation._opt_outs_on_nodes"):
        ccur.execute(f"SELECT create_reference_table('{table}')")
    ccur.execute("SELECT segmentation.refresh(as_of => '2024-02-03')")
    ccur.execute("INSERT INTO events VALUES (79, '2024-02-03', 'buy', 1)")
    ccur.execute("SELECT segmentation.refresh(as_of => '2024-02-04')")
    runs = fetch(ccur, "SELECT mode, events_read FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 2")
    got = fetch(ccur, "SELECT count(*), sum(segmentation.event_count(behavior)) FROM segmentation.profiles")
    dist = fetch(ccur, "SELECT logicalrelid::text, partmethod FROM pg_dist_partition WHERE logicalrelid::text "
                       "IN ('segmentation.profiles', 'segmentation.transitions', 'segmentation.score_context') ORDER BY 1")
    cconn.close()
    check("backup: restored in three steps (schema, the tables distributed as track() had, data), the state is "
          "distributed, memberships and pseudonyms are the original's, and refresh counts every event once "
          "(full, then incremental)",
          all(r.returncode == 0 for r in steps) and after == before and len(before["members"]) > 0
          and dist == [("segmentation.profiles", "h"), ("segmentation.score_context", "n"),
                                          ("segmentation.transitions", "h")] and got == [(52, 402)] and [r[0] for r in runs] == ["incremental", "full"],
          ([r.stderr[-300:] for r in steps], after == before, dist, got, runs))
    restored = restore(db + "_restored")
    shutil.rmtree(os.path.dirname(dump))
    rconn, rcur = connect(COORD, db + "_restored")
    rcur.execute("SET TIME ZONE 'UTC'")
    written = error_of(rcur, "INSERT INTO events VALUES (7, '2024-02-02', 'buy', 1)")
    refreshed = error_of(rcur, "SELECT segmentation.refresh(as_of => '2024-02-03')")
    check("backup: restored from a dump of the coordinator, a tracked table Citus no longer distributes refuses "
          "writes it cannot capture, saying why and what to do; refresh says the same",
          restored.returncode == 0 and written is not None and written[0] == "55000"
          and "events is no longer a table Citus distributes or a shard of one" in written[1]
          and refreshed is not None and "made for a table Citus distributes, which it no longer is" in refreshed[1],
          (restored.returncode, restored.stderr[-300:], written, refreshed))
    rcur.execute("SELECT segmentation.untrack('events')")
    rcur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
    rcur.execute("INSERT INTO events VALUES (77, '2024-02-02', 'buy', 1)")
    rcur.execute("SELECT segmentation.refresh(as_of => '2024-02-03')")
    got = fetch(rcur, "SELECT count(*), sum(segmentation.event_count(behavior)) FROM segmentation.profiles")
    check("backup: ... and after untrack and track, every event is counted once", got == [(51, 401)], got)
    rconn.close()
    # a shard renamed on a worker (its rows out of Citus's reach, until
    # renamed back): its writes are refused, not let through uncaptured
    wconn, wcur = connect(WORKERS[0], db)
    wcur.execute("SET citus.override_table_visibility = off")
    shard = fetch(wcur, "SELECT relname FROM pg_class WHERE relname ~ '^events_[0-9]+$' ORDER BY 1 LIMIT 1")[0][0]
    wcur.execute(f"SET citus.enable_manual_changes_to_shards = on; ALTER TABLE {shard} RENAME TO renamed_shard")
    written = error_of(wcur, "INSERT INTO renamed_shard VALUES (9, '2024-02-02', 'buy', 1)")
    wcur.execute(f"ALTER TABLE renamed_shard RENAME TO {shard}")
    wconn.close()
    check("backup: a shard of a tracked table renamed on a worker refuses writes capture cannot count",
          written is not None and written[0] == "55000" and "no longer a table Citus distributes" in written[1], written)
    # a row written straight into a shard that does not hold its user's
    # hash: Citus's queries of that user never read it (forget_user's delete
    # of their events left it: attack review, session 27)
    home = fetch(cur, "SELECT get_shard_id_for_distribution_column('events', 7)")[0][0]
    wconn, wcur = connect(WORKERS[0], db)
    wcur.execute("SET citus.override_table_visibility = off")
    other = fetch(wcur, f"SELECT relname FROM pg_class WHERE relname ~ '^events_[0-9]+$' AND relname <> 'events_{home}' "
                        "ORDER BY 1 LIMIT 1")[0][0]
    stray = error_of(wcur, f"INSERT INTO {other} VALUES (7, '2024-02-02', 'buy', 1)")
    own = fetch(cur, f"SELECT u FROM generate_series(1, 1000) u WHERE get_shard_id_for_distribution_column('events', u) "
                     f"= {other.rsplit('_', 1)[1]} LIMIT 1")[0][0]
    fits = error_of(wcur, f"INSERT INTO {other} VALUES ({own}, '2024-02-02', 'buy', 1)")
    # (and an UPDATE there that moves a row to another user's hash: through
    # the table Citus refuses it, straight into the shard nothing did)
    moved = error_of(wcur, f"UPDATE {other} SET user_id = 7 WHERE user_id = {own}")
    wconn.close()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-03')")
    counted = fetch(cur, f"SELECT segmentation.event_count(behavior) FROM segmentation.profiles WHERE user_id = {own}")
    check("backup: a row written straight into a shard that does not hold its user's hash is refused, by an INSERT "
          "or an UPDATE; one of a user it holds is captured",
          stray is not None and stray[0] == "23514" and moved is not None and moved[0] == "23514"
          and fits is None and counted == [(9,)], (stray, moved, fits, counted))
    # undistribute_table: a new table, the old one dropped (and untracked)
    cur.execute("SET citus.enable_unsafe_triggers = on")
    cur.execute("SELECT undistribute_table('events')")
    written = error_of(cur, "INSERT INTO events VALUES (8, '2024-02-02', 'buy', 1)")
    left = fetch(cur, "SELECT count(*) FROM segmentation.sources")
    check("backup: undistribute_table of a tracked table leaves it untracked, and the application's writes go on",
          written is None and left == [(0,)], (written, left))
    conn.close()
    drop_everywhere([db, db + "_restored", db + "_c"])


# events of 240 users distributed, and their accounts (a table of user
# attributes), for session_settings and nested_auto_explain
SMALL_TABLES = """
        CREATE TABLE events (user_id bigint NOT NULL, ts timestamptz, ev text, v float8);
        SELECT create_distributed_table('events', 'user_id', shard_count => 8);
        INSERT INTO events SELECT g % 240, timestamptz '2024-01-01' + g * interval '37 minutes',
               (ARRAY['signup', 'login', 'buy', 'view'])[1 + (g + g / 240) % 4], (g % 17)::float8
        FROM generate_series(1, 4000) g;
        CREATE TABLE accounts (user_id bigint PRIMARY KEY, plan text);
        INSERT INTO accounts SELECT u, (ARRAY['free', 'pro'])[1 + u % 2] FROM generate_series(0, 239) u"""


def session_settings():
    """An admin's session settings on the coordinator, which the extension's
    SECURITY DEFINER functions run under (attack review, session 27): with
    citus.enable_ddl_propagation or citus.enable_metadata_sync off,
    define_segment, untrack_users and untrack made or dropped the state's
    views, the attribute table and the capture triggers on the coordinator
    only (the workers' copies left behind: later calls or every refresh
    failing); extra_float_digits = -15 sent refresh's RFM breakpoints to the
    workers rounded (wrong segments written, no error); a DateStyle of DMY
    had opt_out recount the analyses as of another day."""
    db = "segmentation_settings"
    conn, cur = database(db, citus=True)
    cur.execute("""DROP ROLE IF EXISTS settings_admin; CREATE ROLE settings_admin LOGIN IN ROLE segmentation_admin;
        SET TIME ZONE 'UTC';""" + SMALL_TABLES)
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("""SELECT segmentation.track_users('accounts', 'user_id');
        SELECT segmentation.use_preset('engagement_ladder', 'signup', 'buy');
        SELECT segmentation.use_preset('rfm');
        SELECT segmentation.set_setting('min_cell_size', '1');
        SELECT segmentation.refresh(true, as_of => '2024-03-05')""")
    aconn = psycopg2.connect(dbname=db, port=COORD, user="settings_admin")
    aconn.autocommit = True
    a = aconn.cursor()
    state = ("SELECT (SELECT string_agg(x.seg || ' ' || x.n, ',' ORDER BY x.seg) FROM (SELECT segments -> 'rfm' ->> 0 AS seg, "
             "count(*) AS n FROM segmentation.profiles GROUP BY 1) x), (SELECT count(*) FROM segmentation.transitions)")
    a.execute("SELECT segmentation.refresh(true, as_of => '2024-03-10')")
    plain = fetch(cur, state)
    a.execute("SET extra_float_digits = -15; SELECT segmentation.refresh(true, as_of => '2024-03-10')")
    a.execute("RESET ALL")
    rounded = fetch(cur, state)
    check("settings: an admin's extra_float_digits = -15 changes no segment a full refresh writes on the workers "
          "(nor adds a move)", rounded == plain, (plain, rounded))
    rows = "SELECT count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM segmentation._analysis_rows r"
    a.execute("SELECT segmentation.opt_out('5'); SELECT segmentation.opt_in('5')")
    plain = fetch(cur, rows)
    # (as of 2024-03-10: printed 10/03/2024, read as October 3 there)
    err = error_of(a, "SET DateStyle = 'SQL, DMY'; SELECT segmentation.opt_out('5'); SELECT segmentation.opt_in('5')")
    a.execute("RESET ALL")
    dmy = fetch(cur, rows)
    check("settings: an admin's DateStyle of DMY changes no cell that opt_out and opt_in recount on the workers",
          err is None and dmy == plain, (err, plain, dmy))
    # (last: before the fix, these broke the state)
    refused = []
    for setting in ("citus.enable_ddl_propagation", "citus.enable_metadata_sync"):
        for sql in ("SELECT segmentation.define_segment('newscheme', 'a', 'frequency >= 1', 1)",
                    "SELECT segmentation.untrack_users()", "SELECT segmentation.untrack('events')"):
            err = error_of(a, f"SET {setting} = off; {sql}")
            a.execute("RESET ALL")
            refused.append(err is not None and err[0] == "55000" and f"{setting} is off" in err[1] or (setting, sql, err))
    views = "SELECT md5(pg_get_viewdef('segmentation.user_scores'::regclass))"
    here = fetch(cur, views)[0][0]
    there = [r[0] for r in fetch(cur, f"SELECT result FROM run_command_on_workers($$ {views} $$)")]
    check("settings: with Citus's DDL propagation or metadata sync off, an admin's define_segment, untrack_users "
          "and untrack are refused, and the views stay the same on every node",
          all(r is True for r in refused) and there == [here] * len(WORKERS), ([r for r in refused if r is not True], here, there))
    aconn.close()
    conn.close()
    drop_everywhere([db], ["settings_admin"])


def nested_auto_explain():
    """auto_explain with log_nested_statements on logs the plan of every
    statement of refresh and of the other functions (forget_user's DELETE of
    the user's events runs as the caller, with the caller's settings: a
    statement with a full array of parameters, which Citus explains as it
    should).  Citus 13.2 explains a
    distributed statement of a PL/pgSQL function with parameters it reads
    past the end of (PL/pgSQL fills them on demand), so a refresh failed
    ("cache lookup failed for type", "array size exceeds the maximum
    allowed") or crashed the server (session 30): every PL/pgSQL function of
    the extension, those it makes later too, runs with
    citus.explain_distributed_queries off (sql/99-privileges.sql).  With
    log_analyze on, Citus runs each distributed statement as EXPLAIN ANALYZE
    on the workers, which it refuses for an INSERT ... SELECT it repartitions
    (every refresh failed) and for which it reads those parameters too
    (review of session 30): the extension's functions turn log_analyze off
    while they run (_clean_citus_settings)."""
    db = "segmentation_explain"
    conn, cur = database(db, citus=True)
    cur.execute("SET TIME ZONE 'UTC';" + SMALL_TABLES)
    for sql in ("SELECT segmentation.track('events', 'user_id', 'ts', 'ev', 'v')",
                # (the attributes: user_scores reads them through a function track_users makes)
                "SELECT segmentation.track_users('accounts', 'user_id')",
                "SELECT segmentation.use_preset('engagement_ladder', 'signup', 'buy')",
                "SELECT segmentation.use_preset('rfm')", "SELECT segmentation.set_setting('min_cell_size', '1')",
                "SELECT segmentation.refresh(true, as_of => '2024-03-05')"):
        cur.execute(sql)
    unset = fetch(cur, """SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
          AND NOT 'citus.explain_distributed_queries=off' = ANY (coalesce(p.proconfig, '{}'))""")
    check("Citus: every PL/pgSQL function of the extension, those it made for the distributed state and the "
          "attributes too, runs with citus.explain_distributed_queries off", unset == [], unset)
    started = fetch(cur, "SELECT pg_postmaster_start_time()")
    new = ("INSERT INTO events SELECT g % 300, timestamptz '{}' + g * interval '1 minute', "
           "(ARRAY['signup', 'buy'])[1 + g % 2], 2 FROM generate_series(1, 500) g")

    def steps(day, user, analyze):
        # (the test's own writes of the table, a statement of the caller's,
        # not instrumented: Citus refuses EXPLAIN ANALYZE of an INSERT ... SELECT through the coordinator)
        def plain(sql):
            return f"SET auto_explain.log_analyze = off; {sql}; SET auto_explain.log_analyze = {analyze}"
        return [
            "SELECT segmentation.define_funnel('signup_to_buy', '{signup,activation}', interval '30 days')",
            f"SELECT segmentation.refresh(true, as_of => '2024-03-{day:02d}')",
            # (an incremental refresh with a managed funnel: the queue moved to the coordinator)
            plain(new.format(f"2024-03-{day:02d}")), f"SELECT segmentation.refresh(as_of => '2024-03-{day + 1:02d}')",
            "SELECT segmentation.drop_funnel('signup_to_buy')",
            # (without: the queue aggregated on the workers, an updated user recomputed)
            plain(new.format(f"2024-03-{day + 1:02d}")), plain(f"UPDATE events SET v = 3 WHERE user_id = {user}"),
            f"SELECT segmentation.refresh(as_of => '2024-03-{day + 2:02d}')",
            f"SELECT segmentation.forget_user('{user + 1}')", f"SELECT segmentation.forget_user('{user + 3}', true)",
            f"SELECT segmentation.opt_out('{user + 2}')",
            f"SELECT segmentation.opt_in('{user + 2}')",
            f"SELECT segmentation.define_segment('spend{day}', 'big', 'monetary > 100')",
            "SELECT count(*) FROM segmentation.segment_members('rfm', 'Champions')",
            "SELECT count(*) FROM segmentation.user_scores", "SELECT count(*) FROM segmentation.segment_summary",
            "SELECT count(*) FROM segmentation.retention_matrix('week')",
            f"SELECT segmentation.refresh(as_of => '2024-03-{day + 3:02d}')"]
    for analyze, day, user in (("off", 6, 7), ("on", 10, 17)):
        # (psycopg2 keeps the last 50 notices of a list: a deque of them all)
        notices = collections.deque()
        conn.notices = notices
        cur.execute(f"""LOAD 'auto_explain'; SET auto_explain.log_nested_statements = on;
                        SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = {analyze};
                        SET auto_explain.log_level = notice; SET client_min_messages = notice""")
        errors = [(sql, e) for sql in steps(day, user, analyze) for e in [error_of(cur, sql)] if e is not None]
        # (back as the function returns, not at the end of the transaction: one transaction)
        after = fetch(cur, "SELECT segmentation.opt_in('99'); SHOW auto_explain.log_analyze")
        cur.execute("SET auto_explain.log_min_duration = -1; SET client_min_messages = error")
        conn.notices = []
        explained = sum("Citus Adaptive" in n and "citus.explain_distributed_queries: false" in n for n in notices)
        check(f"Citus: under auto_explain with log_nested_statements (log_analyze {analyze}), refresh (with a managed "
              "funnel and without, full and incremental), forget_user, opt_out, opt_in, define_segment and the "
              "readouts go through, the server never restarted, and their statements on distributed tables are "
              "logged with the coordinator's plan" + (", and log_analyze is on again as each returns" if analyze == "on" else ""),
              errors == [] and fetch(cur, "SELECT pg_postmaster_start_time()") == started and explained > 20
              and after == [(analyze,)], (errors[:3], explained, after))
    check("Citus: ... and a caller's own statement, outside the extension's functions, keeps Citus's EXPLAIN",
          any("Task Count" in r[0] for r in fetch(cur, "EXPLAIN SELECT count(*) FROM segmentation.profiles")))
    conn.close()
    drop_everywhere([db])


def citus_own_connections():
    """Citus 13.2 opens connections of its own as a superuser in a role's
    transaction (a new colocation group of create_distributed_table, the
    drop of a group's last table) and sends there the whole command a SET
    LOCAL it propagates (citus.propagate_set_commands = local) came in: a
    role that owns a schema, calling no function of the extension, ran a DO
    block as the superuser on every worker (attack review, session 27).
    With the extension's library preloaded (test/citus.sh, doc/citus.md),
    such a SET is refused to a role that is not a superuser."""
    db = "segmentation_own_connections"
    conn, cur = database(db, citus=True)
    cur.execute("DROP ROLE IF EXISTS schema_owner; CREATE ROLE schema_owner LOGIN; "
                "CREATE SCHEMA p AUTHORIZATION schema_owner")
    do = ("DO $d$ BEGIN IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) "
          "AND current_user <> 'schema_owner' THEN "
          "PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true); "
          "EXECUTE 'ALTER ROLE schema_owner SUPERUSER'; END IF; END $d$")
    errors = []
    for steps in (["CREATE TABLE p.t1 (a int, b text)", "SELECT create_distributed_table('p.t1', 'a', shard_count => 5)"],
                  ["DROP TABLE p.t2"]):
        if steps == ["DROP TABLE p.t2"]:
            cur.execute("SET ROLE schema_owner; CREATE TABLE p.t2 (a int, b text); "
                        "SELECT create_distributed_table('p.t2', 'a', shard_count => 7); RESET ROLE")
        oconn = psycopg2.connect(dbname=db, port=COORD, user="schema_owner")
        o = oconn.cursor()
        try:
            for step in ["SET LOCAL citus.propagate_set_commands = local", f"SET LOCAL work_mem = '65MB'; {do}"] + steps:
                o.execute(step)
            oconn.commit()
            errors.append(None)
        except psycopg2.Error as e:
            errors.append((e.pgcode, str(e).strip().split("\n")[0]))
        oconn.close()
    supers = [r[0] for r in fetch(cur, "SELECT result FROM run_command_on_workers($$SELECT rolsuper FROM pg_roles "
                                       "WHERE rolname = 'schema_owner'$$)")]
    # what Citus does not propagate is not refused: outside a transaction
    # block (a pooler's RESET ALL), or in a database without Citus
    cur.execute(f"DROP DATABASE IF EXISTS {db}_plain")
    cur.execute(f"CREATE DATABASE {db}_plain")
    passed = []
    for name, steps in ((db, ["SET citus.propagate_set_commands = local", "RESET ALL", "RESET statement_timeout"]),
                        (db + "_plain", ["SET citus.propagate_set_commands = local", "BEGIN", "SET LOCAL work_mem = '65MB'",
                                         "COMMIT"])):
        oconn = psycopg2.connect(dbname=name, port=COORD, user="schema_owner")
        oconn.autocommit = True
        passed += [error_of(oconn.cursor(), step) for step in steps]
        oconn.close()
    check("Citus: ... and a SET Citus would not propagate is not refused (outside a transaction block, or in a "
          "database without Citus)", passed == [None] * 7, passed)
    check("Citus: a schema owner's SET LOCAL that Citus propagates, sent on Citus's own superuser connections "
          "(a new colocation group, the drop of its last table), runs nothing as the superuser on a worker (refused)",
          supers == ["f"] * len(WORKERS) and all(e is not None and e[0] == "42501" for e in errors), (supers, errors))
    conn.close()
    drop_everywhere([db, db + "_plain"], ["schema_owner"])


def main():
    # (CITUS_ONLY=pipeline or reviews: those tests alone, while working on them)
    if os.environ.get("CITUS_ONLY") == "read":
        read_paths_distributed()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "state":
        pipeline_vs_single_node()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "forget":
        forget_distributed()
        single_shard()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "owners":
        citus_owners()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "moves":
        shard_moves()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "backup":
        backup_restore()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "settings":
        nested_auto_explain()
        session_settings()
        citus_own_connections()
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "pipeline":
        pipeline_vs_single_node()
        exactly_once_on_citus()
        review_session29()
        funnels_beside_plain_table()
        citus_refusals()
        suite.finish()
    conn, cur = setup()
    if os.environ.get("CITUS_ONLY") == "cells":
        cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
        analysis_cells(cur)
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "truncate":
        shard_truncate(cur)
        suite.finish()
    if os.environ.get("CITUS_ONLY") == "reviews":
        shard_cache(cur)
        review28(cur)
        review29(cur)
        review30(cur)
        shard_truncate(cur)
        coordinator_only(cur)
        suite.finish()
    capture_refused(cur)
    shards_and_dependents(cur)
    as_plain_role(cur)
    cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    for name, expr in AGGREGATES:
        run_aggregates(cur, name, expr, "events")
    for name, expr in STORED:
        run_aggregates(cur, name, expr, "daily")
    analysis_cells(cur)
    state_memory(cur)
    shard_cache(cur)
    review28(cur)
    review29(cur)
    review30(cur)
    shard_truncate(cur)
    coordinator_only(cur)
    conn.close()
    pipeline_vs_single_node()
    read_paths_distributed()
    forget_distributed()
    single_shard()
    exactly_once_on_citus()
    shard_moves()
    review_session29()
    funnels_beside_plain_table()
    citus_refusals()
    citus_owners()
    backup_restore()
    nested_auto_explain()
    session_settings()
    citus_own_connections()
    suite.finish()


main()
