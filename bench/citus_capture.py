#!/usr/bin/python3
"""bench/citus_capture.py: what capture on the shards costs the
application's writes on Citus (doc/citus.md, "Capture"): a table
distributed by user id (8 shards, 4 per worker), tracked, against the same
table untracked, written in the same round, alternating; ratios of the
medians over ROUNDS rounds:
  COPY of 10,000 rows (many users: every shard written);
  200 single-row INSERTs, each its own transaction;
  5 INSERTs of 500 rows.
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

DB = "segmentation_citus_capture"
COORD = int(os.environ["CITUS_COORDINATOR"])
WORKERS = [int(p) for p in os.environ["CITUS_WORKERS"].split(",")]
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
COPY_ROWS, SINGLES, MULTI_STMTS, MULTI_ROWS = 10000, 200, 5, 500


def connect(port, db=DB):
    conn = psycopg2.connect(dbname=db, port=port)
    conn.autocommit = True
    return conn, conn.cursor()


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
    cur.execute("SET client_min_messages = error")
    cur.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (COORD,))
    for port in WORKERS:
        cur.execute("SELECT citus_add_node('127.0.0.1', %s)", (port,))
    cur.execute("CREATE EXTENSION segmentation")
    for t in ("tracked", "untracked"):
        cur.execute(f"CREATE TABLE {t} (user_id bigint NOT NULL, ts timestamptz, ev text, v float8)")
        cur.execute(f"SELECT create_distributed_table('{t}', 'user_id', shard_count => 8)")
    cur.execute("SELECT segmentation.track('tracked', 'user_id', 'ts', 'ev', 'v')")
    cur.execute("SELECT segmentation.refresh()")
    return conn, cur


def copy_rows(r):
    return "".join(f"{(r * 7919 + i) % 100000}\t2024-01-01 00:00:{i % 60:02d}+00\tev{i % 7}\t{i % 13}\n"
                   for i in range(COPY_ROWS))


def write_copy(cur, table, r):
    t0 = time.perf_counter()
    cur.copy_expert(f"COPY {table} FROM STDIN", io.StringIO(copy_rows(r)))
    return time.perf_counter() - t0


def write_singles(cur, table, r):
    t0 = time.perf_counter()
    for i in range(SINGLES):
        cur.execute(f"INSERT INTO {table} VALUES (%s, '2024-01-02', 'single', 1)", ((r * 31 + i) % 100000,))
    return time.perf_counter() - t0


def write_multi(cur, table, r):
    rows = ",".join(f"({(r * 13 + i) % 100000}, '2024-01-03', 'multi', 2)" for i in range(MULTI_ROWS))
    t0 = time.perf_counter()
    for _ in range(MULTI_STMTS):
        cur.execute(f"INSERT INTO {table} VALUES {rows}")
    return time.perf_counter() - t0


def main():
    conn, cur = setup()
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0], "| Citus",
          (cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'"), cur.fetchone()[0])[1])
    ratios = {k: [] for k in ("COPY 10,000 rows", "single-row INSERT", "INSERT of 500 rows")}
    for r in range(ROUNDS + 1):
        got = {}
        for name, fn in (("COPY 10,000 rows", write_copy), ("single-row INSERT", write_singles),
                         ("INSERT of 500 rows", write_multi)):
            order = ("tracked", "untracked") if r % 2 else ("untracked", "tracked")
            t = {table: fn(cur, table, r) for table in order}
            got[name] = t["tracked"] / t["untracked"]
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
