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

from pipeline import app_events


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
    app_events(cur, users, per_user)
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
