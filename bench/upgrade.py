#!/usr/bin/python3
"""bench/upgrade.py: what ALTER EXTENSION segmentation UPDATE from 0.1 costs
at scale, and the full refresh that follows it (0.1's behaviors rewritten in
0.2's form), against a full refresh of 0.2 on the same rows, in one run.

usage: bench/upgrade.py USERS EVENTS_PER_USER   (libpq environment; release
0.1 installed, INSTALL_THIS_BUILD set: bench/run.sh upgrade)
"""
import os
import subprocess
import sys
import time

import psycopg2


def connect():
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    return conn, cur


def timed(cur, sql):
    t0 = time.perf_counter()
    cur.execute(sql)
    return time.perf_counter() - t0


def main():
    users, per_user = int(sys.argv[1]), int(sys.argv[2])
    conn, cur = connect()
    cur.execute("CREATE EXTENSION segmentation VERSION '0.1'")
    cur.execute("SELECT setseed(0.5)")
    cur.execute("""CREATE TABLE app_events AS
        SELECT (random() * %s)::bigint + 1 AS uid,
               '2024-01-01'::timestamptz + random() * interval '120 days' AS at,
               (ARRAY['view','view','view','search','share','export','signup','create_project','purchase'])[1 + (random() * 8)::int] AS name,
               CASE WHEN random() < 0.05 THEN round((random() * 100)::numeric, 2) END AS amount
        FROM generate_series(1, %s)""", (users - 1, users * per_user))
    cur.execute("SELECT segmentation.track('app_events', 'uid', 'at', 'name', 'amount')")
    cur.execute("SELECT segmentation.define_feature('search', '{search}'), segmentation.define_feature('export', '{export}')")
    cur.execute("SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signup', activation_event => 'create_project')")
    cur.execute("SELECT segmentation.use_preset('rfm')")
    t01 = timed(cur, "SELECT segmentation.refresh(true, '2024-05-01')")
    cur.execute("""INSERT INTO app_events SELECT (random() * %s)::bigint + 1, '2024-05-01 12:00', 'view', NULL
                   FROM generate_series(1, %s)""", (users - 1, users * per_user // 100))
    cur.execute("SELECT segmentation.refresh(false, '2024-05-02')")
    cur.execute("SELECT (SELECT count(*) FROM segmentation.profiles), (SELECT count(*) FROM segmentation.transitions)")
    profiles, transitions = cur.fetchone()
    conn.close()

    subprocess.run(os.environ["INSTALL_THIS_BUILD"], shell=True, check=True)
    conn, cur = connect()   # a session that has not loaded 0.1's library
    t_alter = timed(cur, "ALTER EXTENSION segmentation UPDATE")
    t_first = timed(cur, "SELECT segmentation.refresh(false, '2024-05-03')")
    cur.execute("SELECT mode, error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    mode, error = cur.fetchone()
    assert mode == "full" and error is None, (mode, error)
    t_full = timed(cur, "SELECT segmentation.refresh(true, '2024-05-03')")
    conn.close()
    print(f"{users:,} users, {users * per_user:,} events; {profiles:,} profiles and {transitions:,} transitions stored by 0.1")
    print(f"  0.1 full refresh:                            {t01:7.2f} s")
    print(f"  ALTER EXTENSION segmentation UPDATE:         {t_alter:7.2f} s  ({t_alter / t_full:.2f}x a 0.2 full refresh)")
    print(f"  first refresh after it (full, by itself):    {t_first:7.2f} s  ({t_first / t_full:.2f}x)")
    print(f"  0.2 full refresh, same rows:                 {t_full:7.2f} s")


if __name__ == "__main__":
    main()
