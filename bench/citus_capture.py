#!/usr/bin/python3
"""bench/citus_capture.py: what capture on the shards costs the
application's writes on Citus (doc/citus.md, "Capture"): a table
distributed by user id (8 shards, 4 per worker), tracked, against the same
table untracked, written in turn, each write timed alone (so that the
machine's drift falls on both alike); per round the tracked table's total
time over the untracked one's, medians over ROUNDS rounds:
  4 COPYs of 10,000 rows into each (many users: every shard written);
  1,000 single-row INSERTs into each, each its own transaction;
  20 INSERTs of 500 rows into each.
And what a refresh that merges them costs (incremental, no lock) next to a
full one.

usage (through bash bench/run.sh citus_capture, which starts a coordinator
and two workers with test/citus.sh): bench/citus_capture.py [ROUNDS]
"""
import io
import os
import statistics
import sys
import time

import psycopg2

from citus import cluster_database

DB = "segmentation_citus_capture"
COORD = int(os.environ["CITUS_COORDINATOR"])
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
COPY_ROWS, COPIES, SINGLES, MULTI_STMTS, MULTI_ROWS = 10000, 4, 1000, 20, 500


def connect(port, db=DB):
    conn = psycopg2.connect(dbname=db, port=port)
    conn.autocommit = True
    return conn, conn.cursor()


def setup():
    conn, _ = cluster_database(DB)
    conn.close()
    conn, cur = connect(COORD)
    cur.execute("SET client_min_messages = error")
    for t in ("tracked", "untracked"):
        cur.execute(f"CREATE TABLE {t} (user_id bigint NOT NULL, ts timestamptz, ev text, v float8)")
        cur.execute(f"SELECT create_distributed_table('{t}', 'user_id', shard_count => 8)")
    cur.execute("SELECT segmentation.track('tracked', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("SELECT segmentation.refresh()")
    return conn, cur


def copy_rows(r):
    return "".join(f"{(r * 7919 + i) % 100000}\t2024-01-01 00:00:{i % 60:02d}+00\tev{i % 7}\t{i % 13}\n"
                   for i in range(COPY_ROWS))


def write_copy(cur, table, r, i):
    cur.copy_expert(f"COPY {table} FROM STDIN", io.StringIO(copy_rows(r * 3 + i)))


def write_single(cur, table, r, i):
    cur.execute(f"INSERT INTO {table} VALUES (%s, '2024-01-02', 'single', 1)", ((r * 31 + i) % 100000,))


def write_multi(cur, table, r, i):
    rows = ",".join(f"({(r * 13 + i + k) % 100000}, '2024-01-03', 'multi', 2)" for k in range(MULTI_ROWS))
    cur.execute(f"INSERT INTO {table} VALUES {rows}")


def timed(cur, fn, n, r):
    """n writes into each table, the two in turn (each timed alone, so that
    the machine's drift falls on both alike): tracked time / untracked"""
    t = {"tracked": 0.0, "untracked": 0.0}
    for i in range(n):
        for table in (("tracked", "untracked") if (r + i) % 2 else ("untracked", "tracked")):
            t0 = time.perf_counter()
            fn(cur, table, r, i)
            t[table] += time.perf_counter() - t0
    return t["tracked"] / t["untracked"]


def main():
    conn, cur = setup()
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0], "| Citus",
          (cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'"), cur.fetchone()[0])[1])
    ratios = {k: [] for k in ("COPY 10,000 rows", "single-row INSERT", "INSERT of 500 rows")}
    for r in range(ROUNDS + 1):
        got = {"COPY 10,000 rows": timed(cur, write_copy, COPIES, r),
               "single-row INSERT": timed(cur, write_single, SINGLES, r),
               "INSERT of 500 rows": timed(cur, write_multi, MULTI_STMTS, r)}
        if r > 0:   # (round 0 warms up)
            for k, v in got.items():
                ratios[k].append(v)
    for k, v in ratios.items():
        print(f"{k:20} tracked / untracked: median {statistics.median(v):.2f}x "
              f"(rounds: {min(v):.2f}x to {max(v):.2f}x, {ROUNDS} rounds)")
    cur.execute("SELECT count(*) FROM tracked")
    n = cur.fetchone()[0]
    t0 = time.perf_counter()
    cur.execute("SELECT segmentation.refresh()")
    inc = time.perf_counter() - t0
    cur.execute("SELECT events_read FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    read = cur.fetchone()[0]
    t0 = time.perf_counter()
    cur.execute("SELECT segmentation.refresh(true)")
    full = time.perf_counter() - t0
    print(f"refresh of the {read} queued events: incremental {inc * 1000:.0f} ms, full over {n} rows {full * 1000:.0f} ms")
    conn.close()


main()
