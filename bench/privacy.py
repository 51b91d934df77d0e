#!/usr/bin/python3
"""bench/privacy.py: what forgotten and opted-out users cost a refresh.

Once anyone was forgotten (forget_user) or opted out (opt_out), refresh
tests every user of its batch against their keyed hashes (_is_forgotten,
_is_opted_out: a keyed hash of the id, then a lookup), and the experiment
readout every assignment.  This times a full refresh of USERS users (5
events each, the presets) with nobody forgotten or opted out, against the
same refresh with one user forgotten and one opted out, in alternating
rounds (the hashes are removed between rounds, as the extension's owner),
and prints the medians and their ratio.

usage: bench/privacy.py USERS [ROUNDS]   (libpq environment)
(bench/citus_privacy.py: the same with the events, and so the state,
distributed by Citus)
"""
import statistics
import sys
import time

import psycopg2


def timed(cur, sql):
    t0 = time.perf_counter()
    cur.execute(sql)
    return time.perf_counter() - t0


def measure(cur, users, rounds, distribute=False):
    """the medians of the two refreshes, in a database with the extension
    (the events table distributed by Citus first, when distribute)"""
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE TABLE ev (uid bigint, at timestamptz, name text, amount float8)")
    if distribute:
        cur.execute("SELECT create_distributed_table('ev', 'uid', shard_count => 8)")
    cur.execute("""INSERT INTO ev SELECT u, '2024-04-01'::timestamptz + i * interval '1 hour', 'e' || (i %% 5), 1
                   FROM generate_series(1, %s) u, generate_series(1, 5) i""", (users,))
    cur.execute("SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount')")
    cur.execute("SELECT segmentation.use_preset('engagement_ladder', signup_event => 'e0', activation_event => 'e1')")
    cur.execute("SELECT segmentation.use_preset('rfm')")
    refresh = "SELECT segmentation.refresh(full => true, as_of => '2024-05-01')"
    cur.execute(refresh)
    none, some = [], []
    for _ in range(rounds):
        # (and their copies on every node, on Citus: sql/45-privacy.sql)
        cur.execute("""DELETE FROM segmentation.forgotten_users; DELETE FROM segmentation.opt_outs;
                       DO $$ BEGIN
                           IF to_regclass('segmentation._forgotten_on_nodes') IS NOT NULL THEN
                               DELETE FROM segmentation._forgotten_on_nodes; DELETE FROM segmentation._opt_outs_on_nodes;
                           END IF;
                       END $$""")
        none.append(timed(cur, refresh))
        cur.execute("SELECT segmentation.forget_user(%s), segmentation.opt_out(%s)", (str(users + 1), "1"))
        some.append(timed(cur, refresh))
    return statistics.median(none), statistics.median(some)


def main():
    users = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("DROP DATABASE IF EXISTS bench_privacy")
    cur.execute("CREATE DATABASE bench_privacy")
    conn.close()
    conn = psycopg2.connect(dbname="bench_privacy")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION segmentation")
    a, b = measure(cur, users, rounds)
    print(f"full refresh of {users} users: nobody forgotten or opted out {a * 1000:.0f} ms, "
          f"one of each {b * 1000:.0f} ms: {b / a:.2f}x (medians of {rounds})")
    conn.close()


if __name__ == "__main__":
    main()
