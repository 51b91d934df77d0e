#!/usr/bin/python3
"""bench/run.py: time behavior_agg against PostgreSQL's own aggregates in
one session, alternating runs, and print medians and ratios.

usage: bench/run.py EVENTS [ROUNDS]   (libpq environment names the server)
Each query consumes every output of the GROUP BY (the planner drops unread
subquery outputs) but prints a single row.
"""
import statistics
import subprocess
import sys
import time
import os

import psycopg2

QUERIES = {
    "hash": "SELECT count(*) FROM (SELECT user_id FROM events GROUP BY user_id) q",
    "a": """SELECT sum(n), max(l), sum(s) FROM (
              SELECT user_id, count(*) n, max(ts) l, sum(amount) s FROM events GROUP BY user_id) q""",
    "b": """SELECT sum(segmentation.event_count(b)) FROM (
              SELECT user_id, segmentation.behavior_agg(ts, feature, amount) b FROM events GROUP BY user_id) q""",
    "c": """SELECT sum(n), min(f), max(l), sum(s), sum(d), sum(cardinality(fs)) FROM (
              SELECT user_id, min(ts) f, max(ts) l, count(*) n, sum(amount) s,
                     count(DISTINCT (ts AT TIME ZONE 'UTC')::date) d, array_agg(DISTINCT feature) fs
              FROM events GROUP BY user_id) q""",
    "d": """INSERT INTO profiles SELECT user_id, segmentation.behavior_agg(ts, feature, amount) FROM events GROUP BY user_id""",
}
LABELS = {
    "hash": "GROUP BY alone (hashing)",
    "a": "(a) count(*), max(ts), sum(value)",
    "b": "(b) behavior_agg(ts, feature, value)",
    "c": "(c) plain SQL: min, max, count, sum, count(distinct day), array_agg(distinct feature)",
    "d": "(d) INSERT ... SELECT behavior_agg into a table",
}


def main():
    events = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"events={events}",
                    "-f", os.path.join(here, "generate.sql")], check=True)
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS segmentation")
    cur.execute("DROP TABLE IF EXISTS profiles")
    cur.execute("CREATE TABLE profiles (user_id bigint, b segmentation.behavior)")
    # room for every group's state in memory: we measure per-row work, not spilling
    cur.execute("SET work_mem = '2GB'")
    cur.execute("SET jit = off")
    for mode, workers in (("serial", 0), ("2 workers", 2)):
        cur.execute(f"SET max_parallel_workers_per_gather = {workers}")
        plans = {}
        for k, q in QUERIES.items():
            cur.execute("EXPLAIN " + q)
            plans[k] = "Gather" in "\n".join(r[0] for r in cur.fetchall())
        times = {k: [] for k in QUERIES}
        for _ in range(rounds):
            for k, q in QUERIES.items():
                if k == "d":
                    cur.execute("TRUNCATE profiles")
                t0 = time.perf_counter()
                cur.execute(q)
                if cur.description:
                    cur.fetchall()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"\n{events:,} events, {mode} (median of {rounds} alternating rounds, ms; ratio to (a))")
        for k in QUERIES:
            par = "parallel" if plans[k] else "serial plan"
            print(f"  {LABELS[k]:<88} {med[k]:9.0f}  {med[k] / med['a']:5.2f}  [{par}]")
        print(f"  (b)/(a) = {med['b'] / med['a']:.2f}   (c)/(a) = {med['c'] / med['a']:.2f}   "
              f"(b)/(c) = {med['b'] / med['c']:.2f}   hash/(a) = {med['hash'] / med['a']:.2f}")
    cur.execute("SELECT count(*), avg(pg_column_size(b))::int, max(pg_column_size(b)) FROM profiles")
    print("  stored behaviors: %s users, avg %s bytes, max %s bytes" % cur.fetchone())

    # The same rows folded onto 500 users, whose states all stay in cache:
    # what the per-row work costs when no cache miss is involved.
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("DROP TABLE IF EXISTS events_500")
    cur.execute("CREATE TABLE events_500 AS SELECT user_id % 500 AS user_id, ts, feature, amount FROM events")
    cur.execute("VACUUM ANALYZE events_500")
    hot = {k: QUERIES[k].replace("FROM events", "FROM events_500") for k in ("a", "b")}
    times = {k: [] for k in hot}
    for _ in range(rounds):
        for k, q in hot.items():
            t0 = time.perf_counter()
            cur.execute(q)
            cur.fetchall()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"\n{events:,} events on 500 users (states stay in cache), serial")
    print(f"  (a) {med['a']:.0f} ms   (b) {med['b']:.0f} ms   (b)/(a) = {med['b'] / med['a']:.2f}")
    cur.execute("DROP TABLE events_500")


if __name__ == "__main__":
    main()
