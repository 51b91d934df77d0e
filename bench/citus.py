#!/usr/bin/python3
"""bench/citus.py: behavior_agg(ts, feature, value) split two-phase on Citus
against PostgreSQL's built-in sum over the same rows and groups, in one
session, alternating runs, medians and ratios; and the same two on one node
(the same rows in a plain table on the coordinator) for reference.

usage (through bash bench/run.sh citus, which starts a coordinator and two
workers with test/citus.sh): bench/citus.py [USERS [EVENTS_PER_USER [ROUNDS]]]

Rows: USERS users (default 200,000) with EVENTS_PER_USER events each
(default 10) over 90 days, 20 features and NULLs, setseed(0.42); the table
is distributed by user id (8 shards, 4 per worker).  Groups that are not
the distribution column, so Citus must split the aggregate (partial on the
workers: worker_partial_agg, which wraps the three arguments in ROW() and
calls the transition function with a new FmgrInfo per row; combined on the
coordinator from the states' text form):
  few:    37 cohorts (54,000 rows each);
  medium: user_id % 20011 (about 100 rows each, a dozen per shard);
  many:   the minute of ts (about 130,000 groups of 15 rows, each on every shard).
Each query returns one boolean per group (the aggregate is computed and
combined in full; the client reads little).  Besides sum (which Citus
splits itself: sum on the workers, sum of sums on the coordinator), the
same sum as an aggregate Citus does not know, bench_sum(float8) (float8pl as
transition and combine function): what Citus's worker_partial_agg path
costs by itself, whatever the aggregate.  BENCH_SHAPES=few,many picks shapes.
"""
import os
import statistics
import sys
import time

import psycopg2

DB = "segmentation_citus_bench"
COORD = int(os.environ["CITUS_COORDINATOR"])
WORKERS = [int(p) for p in os.environ["CITUS_WORKERS"].split(",")]
USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5

GROUPS = {"few": "cohort", "medium": "user_id % 20011", "many": "date_trunc('minute', ts)"}
SHAPES = os.environ.get("BENCH_SHAPES", ",".join(GROUPS)).split(",")
AGGS = {"sum": "sum(value)", "behavior_agg": "segmentation.behavior_agg(ts, feature, value)",
        "bench_sum": "bench_sum(value)"}


def connect(port, db=DB):
    conn = psycopg2.connect(dbname=db, port=port)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    return conn, cur


def fresh_database(port, db):
    """The database db made anew on the node at port: a connection to it"""
    conn, cur = connect(port, "postgres")
    cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    cur.execute(f"CREATE DATABASE {db}")
    conn.close()
    return connect(port, db)


def cluster_database(db=DB):
    """The database db made anew on every node, with Citus, the workers
    added and segmentation created on the coordinator: a connection to it
    there, and its cursor (bench/citus_capture.py, citus_rfm.py and
    citus_pipeline.py too)."""
    for port in [COORD] + WORKERS:
        conn, cur = fresh_database(port, db)
        cur.execute("CREATE EXTENSION citus")
        conn.close()
    conn, cur = connect(COORD, db)
    cur.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (COORD,))
    for port in WORKERS:
        cur.execute("SELECT citus_add_node('127.0.0.1', %s)", (port,))
    cur.execute("CREATE EXTENSION segmentation")
    return conn, cur


def setup():
    conn, cur = cluster_database()
    cur.execute("CREATE AGGREGATE bench_sum(float8) (SFUNC = float8pl, STYPE = float8, COMBINEFUNC = float8pl)")
    cur.execute("SELECT result FROM run_command_on_workers($$SELECT count(*) FROM pg_proc WHERE proname = 'bench_sum'$$)")
    if [r[0] for r in cur.fetchall()] != ["1", "1"]:
        cur.execute("SELECT run_command_on_workers($$CREATE AGGREGATE bench_sum(float8) "
                    "(SFUNC = float8pl, STYPE = float8, COMBINEFUNC = float8pl)$$)")
    t0 = time.time()
    cur.execute(f"""
        CREATE TABLE events_local (user_id bigint NOT NULL, cohort int NOT NULL, ts timestamptz,
                                   feature int, value float8);
        SELECT setseed(0.42);
        INSERT INTO events_local
        SELECT u, (u * 7919) % 37,
               timestamptz '2024-01-01' + floor(random() * 90 * 86400) * interval '1 second',
               CASE WHEN random() < 0.1 THEN NULL ELSE floor(random() * 20)::int END,
               round((random() * 100)::numeric, 2)::float8
        FROM generate_series(1, {USERS}) u, generate_series(1, {PER}) i;
        CREATE TABLE events (LIKE events_local);
        SELECT create_distributed_table('events', 'user_id', shard_count => 8);
        INSERT INTO events SELECT * FROM events_local;
    """)
    cur.execute("VACUUM ANALYZE events_local")
    cur.execute("VACUUM ANALYZE events")
    print(f"# {USERS * PER} events, {USERS} users, loaded in {time.time() - t0:.0f} s")
    # every group's state in memory on both sides: we measure per-row work
    cur.execute("SET work_mem = '1GB'")
    cur.execute("SET jit = off")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    cur.execute("SET citus.propagate_set_commands = 'local'")
    return conn, cur


def timed(cur, sql):
    cur.execute("BEGIN")
    # (SET LOCAL reaches the workers' sessions under propagate_set_commands)
    cur.execute("SET LOCAL work_mem = '1GB'")
    cur.execute("SET LOCAL jit = off")
    t0 = time.perf_counter()
    cur.execute(sql)
    cur.fetchall()
    t = time.perf_counter() - t0
    cur.execute("COMMIT")
    return t


def main():
    conn, cur = setup()
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0], "| Citus",
          (cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'"), cur.fetchone()[0])[1])
    results = {}
    for where, table in (("citus", "events"), ("one node", "events_local")):
        for gname in SHAPES:
            g = GROUPS[gname]
            sqls = {a: f"SELECT {g} AS g, ({expr}) IS NOT NULL FROM {table} GROUP BY 1" for a, expr in AGGS.items()}
            for sql in sqls.values():   # warm up
                timed(cur, sql)
            times = {a: [] for a in sqls}
            for _ in range(ROUNDS):
                for a, sql in sqls.items():
                    times[a].append(timed(cur, sql))
            med = {a: statistics.median(v) for a, v in times.items()}
            cur.execute(f"SELECT count(DISTINCT {g}) FROM events_local")
            ngroups = cur.fetchone()[0]
            results[(where, gname)] = (med, ngroups)
            print(f"{where:9} {gname:6} ({ngroups:6} groups): sum {med['sum'] * 1000:6.0f} ms   "
                  f"behavior_agg {med['behavior_agg'] * 1000:6.0f} ms {med['behavior_agg'] / med['sum']:5.2f}x   "
                  f"bench_sum {med['bench_sum'] * 1000:6.0f} ms {med['bench_sum'] / med['sum']:5.2f}x   "
                  f"(medians of {ROUNDS})", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
