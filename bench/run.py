#!/usr/bin/python3
"""bench/run.py: time behavior_agg against PostgreSQL's own aggregates in
one session, alternating runs, and print medians and ratios.

usage: bench/run.py EVENTS [ROUNDS [skewed|uniform]]   (libpq environment names the server)
skewed: bench/generate.sql (EVENTS / 33 users, power law); uniform: EVENTS / 10
users, 30 uniform features, 120 days, 5% of events with an amount.
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
    "c": """SELECT sum(pairs), sum(n), min(f), max(l), sum(s), sum(cardinality(ns)) FROM (
              SELECT user_id, count(*) pairs, sum(n) n, min(f) f, max(l) l, sum(s) s, array_agg(n) ns FROM (
                SELECT user_id, feature, (ts AT TIME ZONE 'UTC')::date d, count(*) n, sum(amount) s,
                       min(ts) f, max(ts) l
                FROM events GROUP BY 1, 2, 3) x
              GROUP BY user_id) q""",
    "c0": """SELECT sum(n), min(f), max(l), sum(s), sum(d), sum(cardinality(fs)) FROM (
              SELECT user_id, min(ts) f, max(ts) l, count(*) n, sum(amount) s,
                     count(DISTINCT (ts AT TIME ZONE 'UTC')::date) d, array_agg(DISTINCT feature) fs
              FROM events GROUP BY user_id) q""",
    "d": """INSERT INTO profiles SELECT user_id, segmentation.behavior_agg(ts, feature, amount) FROM events GROUP BY user_id""",
}
LABELS = {
    "hash": "GROUP BY alone (hashing)",
    "a": "(a) count(*), max(ts), sum(value)",
    "b": "(b) behavior_agg(ts, feature, value)",
    "c": "(c) plain SQL: per (user, feature, day) count, sum, min, max; then per user",
    "c0": "(c0) plain SQL computing 0.1's: min, max, count, sum, count(distinct day), array_agg(distinct feature)",
    "d": "(d) INSERT ... SELECT behavior_agg into a table",
}


UNIFORM = """
SELECT setseed(0.42);
DROP TABLE IF EXISTS events;
CREATE TABLE events AS
SELECT (floor(random() * %(users)s))::bigint + 1 AS user_id,
       '2024-01-01 00:00+00'::timestamptz + random() * interval '120 days' AS ts,
       (floor(random() * 30))::int AS feature,
       CASE WHEN random() < 0.05 THEN round((random() * 100)::numeric, 2)::float8 END AS amount
FROM generate_series(1, %(events)s);
VACUUM ANALYZE events
"""

# the typical user of the size budget: 90 days, 30 active, 5 features each
# used on 10 of those days (50 events), revenue on the 6 days of one of them
TYPICAL = """
SELECT pg_column_size(segmentation.behavior_agg(ts, f, v)) FROM (
  SELECT '2024-01-01 09:00+00'::timestamptz + d * interval '3 days' AS ts, d % 5 AS f,
         CASE WHEN d % 5 = 4 THEN 19.99 END AS v FROM generate_series(0, 29) d
  UNION ALL
  SELECT '2024-01-01 15:00+00'::timestamptz + d * interval '3 days', (d + 2) % 5, NULL
  FROM generate_series(0, 19) d) e
"""


# 0.1's behavior_agg side by side, when its library is installed as
# segmentation_v01 (bench/README.md says how): the same aggregate as main
# built it, in schema v01, to compare in the same run
V01 = """
DROP SCHEMA IF EXISTS v01 CASCADE;
CREATE SCHEMA v01;
CREATE TYPE v01.behavior;
CREATE FUNCTION v01.behavior_in(cstring) RETURNS v01.behavior
  AS '$libdir/segmentation_v01', 'behavior_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION v01.behavior_out(v01.behavior) RETURNS cstring
  AS '$libdir/segmentation_v01', 'behavior_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE v01.behavior (INPUT = v01.behavior_in, OUTPUT = v01.behavior_out,
  INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = extended);
CREATE FUNCTION v01.behavior_agg_trans(v01.behavior, timestamptz, int4, float8) RETURNS v01.behavior
  AS '$libdir/segmentation_v01', 'behavior_agg_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION v01.behavior_merge(v01.behavior, v01.behavior) RETURNS v01.behavior
  AS '$libdir/segmentation_v01', 'behavior_merge' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION v01.event_count(v01.behavior) RETURNS bigint
  AS '$libdir/segmentation_v01', 'behavior_event_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE v01.behavior_agg(timestamptz, int4, float8) (SFUNC = v01.behavior_agg_trans,
  STYPE = v01.behavior, COMBINEFUNC = v01.behavior_merge, PARALLEL = SAFE);
"""


def main():
    events = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    kind = sys.argv[3] if len(sys.argv) > 3 else "skewed"
    here = os.path.dirname(os.path.abspath(__file__))
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    if kind == "uniform":
        for stmt in UNIFORM.split(";"):
            if stmt.strip():
                cur.execute(stmt, {"users": events // 10, "events": events})
        cur.execute("""SELECT sum(n), count(*), max(n), percentile_disc(0.5) WITHIN GROUP (ORDER BY n)
                       FROM (SELECT user_id, count(*) n FROM events GROUP BY user_id) s""")
        print("uniform: %s events, %s users, heaviest user %s events, median user %s" % cur.fetchone())
    else:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"events={events}",
                        "-f", os.path.join(here, "generate.sql")], check=True)
    cur.execute("CREATE EXTENSION IF NOT EXISTS segmentation")
    # 0.2's library first: 0.1's, linked -Bsymbolic, then binds its own symbols only
    cur.execute("SELECT segmentation.event_count(segmentation.behavior_agg(now()))")
    cur.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
    if os.path.exists(os.path.join(cur.fetchone()[0], "segmentation_v01.so")):
        cur.execute(V01)
        QUERIES["b01"] = QUERIES["b"].replace("segmentation.", "v01.")
        LABELS["b01"] = "(b01) 0.1's behavior_agg(ts, feature, value), same run"
    cur.execute("DROP TABLE IF EXISTS profiles")
    cur.execute("CREATE TABLE profiles (user_id bigint, b segmentation.behavior)")
    # room for every group's state in memory: we measure per-row work, not spilling
    cur.execute("SET work_mem = '2GB'")
    cur.execute("SET jit = off")
    medians = {}
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
        medians[mode] = med
        print(f"\n{events:,} events ({kind}), {mode} (median of {rounds} alternating rounds, ms; ratio to (a))")
        for k in QUERIES:
            par = "parallel" if plans[k] else "serial plan"
            print(f"  {LABELS[k]:<88} {med[k]:9.0f}  {med[k] / med['a']:5.2f}  [{par}]")
        print(f"  (b)/(a) = {med['b'] / med['a']:.2f}   (c)/(a) = {med['c'] / med['a']:.2f}   "
              f"(b)/(c) = {med['b'] / med['c']:.2f}   (b)/(c0) = {med['b'] / med['c0']:.2f}   "
              f"hash/(a) = {med['hash'] / med['a']:.2f}")
        if "b01" in med:
            print(f"  0.1 in the same run: (b01)/(a) = {med['b01'] / med['a']:.2f}   (b)/(b01) = {med['b'] / med['b01']:.2f}")
    print(f"  (b) with 2 workers / (b) serial = {medians['2 workers']['b'] / medians['serial']['b']:.2f}")
    cur.execute("SELECT count(*), avg(pg_column_size(b))::int, max(pg_column_size(b)) FROM profiles")
    print("  stored behaviors: %s users, avg %s bytes, max %s bytes" % cur.fetchone())
    cur.execute(TYPICAL)
    print("  typical user (90 days, 30 active, 5 features x 10 days, revenue on 6): %s bytes" % cur.fetchone())
    if kind == "uniform":
        return

    # The same rows folded onto 500 users, whose states all stay in cache:
    # what the per-row work costs when no cache miss is involved.
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("DROP TABLE IF EXISTS events_500")
    cur.execute("CREATE TABLE events_500 AS SELECT user_id % 500 AS user_id, ts, feature, amount FROM events")
    cur.execute("VACUUM ANALYZE events_500")
    hot = {k: QUERIES[k].replace("FROM events", "FROM events_500") for k in ("a", "b", "b01") if k in QUERIES}
    times = {k: [] for k in hot}
    for _ in range(rounds):
        for k, q in hot.items():
            t0 = time.perf_counter()
            cur.execute(q)
            cur.fetchall()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"\n{events:,} events on 500 users (states stay in cache), serial")
    print(f"  (a) {med['a']:.0f} ms   (b) {med['b']:.0f} ms   (b)/(a) = {med['b'] / med['a']:.2f}"
          + (f"   (b01) {med['b01']:.0f} ms   (b01)/(a) = {med['b01'] / med['a']:.2f}" if "b01" in med else ""))
    cur.execute("DROP TABLE events_500")


if __name__ == "__main__":
    main()
