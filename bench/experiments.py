#!/usr/bin/python3
"""bench/experiments.py: the experiment readout, materialized by refresh.

What reading experiment_lift costs (a table scan), what computing it costs
(define_experiment, and each refresh again), and what it adds to an
incremental refresh.

usage: bench/experiments.py USERS ASSIGNED EVENTS_PER_USER [ROUNDS]   (libpq environment)
"""
import statistics
import sys
import time

import psycopg2


def timed(cur, sql, args=None):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    return time.perf_counter() - t0


def main():
    users, assigned, per_user = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("DROP DATABASE IF EXISTS bench_experiments")
    cur.execute("CREATE DATABASE bench_experiments")
    conn.close()
    conn = psycopg2.connect(dbname="bench_experiments")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("SELECT setseed(0.5)")
    cur.execute("CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric)")
    cur.execute("SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount')")
    cur.execute("""SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signup', activation_event => 'search')""")
    cur.execute("""INSERT INTO ev
                   SELECT u, '2024-01-01'::timestamptz + random() * interval '60 days',
                          (ARRAY['view', 'view', 'search', 'signup', 'purchase'])[1 + (random() * 4.99)::int],
                          CASE WHEN random() < 0.05 THEN 20 END
                   FROM generate_series(1, %s) u, generate_series(1, %s)""", (users, per_user))
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-15')")
    cur.execute("""CREATE TABLE ab AS
                   SELECT u::bigint AS uid, CASE WHEN u %% 2 = 0 THEN 'control' ELSE 'treatment' END AS arm,
                          '2024-02-16'::timestamptz + (u %% 7) * interval '1 hour' AS at
                   FROM generate_series(1, %s) u""", (assigned,))
    cur.execute("""INSERT INTO ev
                   SELECT uid, at + random() * interval '10 days', 'purchase', 20 FROM ab WHERE random() < 0.1""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-01')")
    cur.execute("ANALYZE")
    print(f"{users:,} users, {users * per_user:,} events, {assigned:,} assigned; median of {rounds} rounds")

    define = [timed(cur, "SELECT segmentation.define_experiment('bench', 'ab', 'uid', 'arm', 'at', 'control', 'purchase')")
              for _ in range(rounds)]
    rows = None
    read = []
    for _ in range(rounds * 4):
        read.append(timed(cur, "SELECT * FROM segmentation.experiment_lift"))
        rows = len(cur.fetchall())
    # an incremental refresh of 1,000 new events, with and without the experiment
    with_exp, without = [], []
    day = 2
    for r in range(rounds):
        for has in (True, False):
            if not has:
                cur.execute("DELETE FROM segmentation.experiments WHERE name = 'bench'")
            cur.execute("""INSERT INTO ev SELECT (random() * %s)::bigint + 1, '2024-03-01'::timestamptz + %s * interval '1 hour',
                                                 'view', NULL FROM generate_series(1, 1000)""", (users - 1, day))
            t = timed(cur, "SELECT segmentation.refresh(as_of => '2024-03-01'::timestamptz + %s * interval '1 hour')", (day,))
            day += 1
            (with_exp if has else without).append(t)
            if not has:
                cur.execute("SELECT segmentation.define_experiment('bench', 'ab', 'uid', 'arm', 'at', 'control', 'purchase')")
    m = statistics.median
    print(f"  read experiment_lift ({rows} rows):                 {m(read) * 1000:8.1f} ms")
    print(f"  define_experiment (computes the readout):          {m(define) * 1000:8.1f} ms")
    print(f"  incremental refresh of 1,000 events, no experiment: {m(without) * 1000:8.1f} ms")
    print(f"  the same with the experiment (readout recomputed):  {m(with_exp) * 1000:8.1f} ms"
          f"   ratio {m(with_exp) / m(without):.2f}")
    conn.close()
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    conn.cursor().execute("DROP DATABASE bench_experiments")


if __name__ == "__main__":
    main()
