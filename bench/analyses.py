#!/usr/bin/python3
"""bench/analyses.py USERS PER_USER [RUNS]: the managed analyses read from the
stored behaviors and membership history, at USERS users with PER_USER events
each over 120 days (uniform users; the engagement ladder and RFM presets).
Three refreshes (as of days 60, 90 and 120) give the history its moves; then
each analysis is called RUNS times, alternating, and the median printed.
Uses the libpq environment (bench/run.sh analyses starts a cluster)."""
import statistics
import sys
import time

import psycopg2

from pipeline import app_events

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
PER_USER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 3

CALLS = [
    "retention_matrix('week')",
    "retention_matrix('week', 'lifecycle')",
    "retention_matrix('week', NULL, 'search', 'search')",
    "retention_matrix('day', 'lifecycle')",
    "lifecycle('week')",
    "lifecycle('week', 'lifecycle')",
    "stickiness('week', 'lifecycle')",
    "validate_segments('lifecycle', '2024-03-31', '28 days')",
]


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET jit = off")
    cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
    cur.execute("CREATE EXTENSION segmentation")
    app_events(cur, USERS, PER_USER)
    t0 = time.perf_counter()
    for day in (60, 90, 120):
        cur.execute("SELECT segmentation.refresh(%s, '2024-01-01'::timestamptz + %s * interval '1 day')", (day == 60, day))
    setup = time.perf_counter() - t0
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT count(*), (SELECT count(*) FROM segmentation.membership_history) FROM segmentation.profiles")
    users, stays = cur.fetchone()
    print(f"{users:,} users, {USERS * PER_USER:,} events, {stays:,} stays in membership_history; "
          f"three refreshes {setup:.1f} s; median of {RUNS} runs")
    # What the counts cost a refresh: every user counted again
    # (_materialize_analyses: a full refresh, forget_user, opt_out), and an
    # incremental refresh of 1% new events (users drawn at random, in the hour
    # before it: no period begins) with the counts changed by their users
    # only, against the same refresh counting every user again (made to by
    # forgetting what the counts were computed for)
    t = time.perf_counter()
    cur.execute("SELECT segmentation._materialize_analyses()")
    print(f"  _materialize_analyses() (every user counted again)         {(time.perf_counter() - t) * 1000:9.1f} ms")
    new = USERS * PER_USER // 100
    for label, recount in (("incremental refresh, 1% new events (counts: delta)", False),
                           ("the same refresh, every user counted again", True)):
        cur.execute("BEGIN")
        cur.execute("SELECT setseed(0.25)")
        cur.execute("""INSERT INTO app_events SELECT (random() * %s)::bigint + 1, '2024-04-30 01:00'::timestamptz + random() * interval '59 minutes',
                       'view', NULL FROM generate_series(1, %s)""", (USERS - 1, new))
        if recount:
            cur.execute("DELETE FROM segmentation._analysis_state")
        t = time.perf_counter()
        cur.execute("SELECT segmentation.refresh(as_of => '2024-04-30 02:00')")
        print(f"  {label:<58} {(time.perf_counter() - t) * 1000:9.1f} ms")
        cur.execute("ROLLBACK")
    times = {c: [] for c in CALLS}
    rows = {}
    for _ in range(RUNS):
        for c in CALLS:
            t = time.perf_counter()
            cur.execute(f"SELECT count(*) FROM segmentation.{c}")
            times[c].append(time.perf_counter() - t)
            rows[c] = cur.fetchone()[0]
    for c in CALLS:
        print(f"  {c:<58} {statistics.median(times[c]) * 1000:9.1f} ms  ({rows[c]:,} rows)")
    cur.execute("DROP EXTENSION segmentation CASCADE")
    cur.execute("DROP TABLE app_events")


if __name__ == "__main__":
    main()
