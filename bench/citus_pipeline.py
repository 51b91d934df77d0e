#!/usr/bin/python3
"""bench/citus_pipeline.py: a full and an incremental refresh with the
events distributed by user id, and so the per-user state (track() does it:
doc/citus.md), against the same on one node, in one run; and where one
incremental refresh's time goes on Citus, statement by statement.

usage (through bash bench/run.sh citus_pipeline, which starts a coordinator
and two workers with test/citus.sh): bench/citus_pipeline.py [USERS [EVENTS_PER_USER [ROUNDS]]]

bench/pipeline.py's data and configuration (app_events: USERS x
EVENTS_PER_USER events over 120 days, two features, the presets
engagement_ladder and rfm; default 200,000 x 10), the events table
distributed in 8 shards (4 per worker); then ROUNDS (default 3) rounds of
1% new events and a full refresh, 1% new events and an incremental one
(BENCH_NEW_PERCENT=10: 10%).  BENCH_FUNNELS=1: with bench/citus_funnels.py's
two managed funnels (search then export in 14 days; view, search, export
in 30 days), whose steps' rows every refresh keeps, and whose late events
(the new 'view' events come at random times of the last 12 days) have
their users' rows read again.  The one node is a database without Citus on
the coordinator.
"""
import os
import statistics
import sys
import time

import psycopg2

from citus import COORD, cluster_database, fresh_database
from pipeline import app_events

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
NEW_PERCENT = float(os.environ.get("BENCH_NEW_PERCENT", "1"))
FUNNELS = os.environ.get("BENCH_FUNNELS") == "1"
SINGLE = "segmentation_citus_bench_single"


def timed(cur, sql, args=None):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    return time.perf_counter() - t0


def run(cur, citus):
    app_events(cur, USERS, PER, distribute=citus)
    if FUNNELS:
        cur.execute("""SELECT segmentation.define_feature('viewing', '{view}');
                       SELECT segmentation.define_funnel('search_export', '{search, export}', '14 days');
                       SELECT segmentation.define_funnel('view_search_export', '{viewing, search, export}', '30 days')""")
    cur.execute("VACUUM ANALYZE")
    first = timed(cur, "SELECT segmentation.refresh(true, '2024-05-01')")
    step = [0]

    def refresh(full):
        step[0] += 1
        cur.execute("""INSERT INTO app_events
            SELECT (random() * %s)::bigint + 1, '2024-04-18'::timestamptz + random() * interval '12 days', 'view', NULL
            FROM generate_series(1, %s)""", (USERS - 1, int(USERS * PER * NEW_PERCENT / 100)))
        cur.execute("VACUUM ANALYZE")
        return timed(cur, "SELECT segmentation.refresh(%s, '2024-05-01'::timestamptz + %s * interval '1 hour')", (full, step[0]))

    full, inc = [], []
    for _ in range(ROUNDS):
        full.append(refresh(True))
        inc.append(refresh(False))
    return first, statistics.median(full), statistics.median(inc), step


def main():
    conn, cur = cluster_database()
    cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    c_first, c_full, c_inc, step = run(cur, True)
    sconn, scur = fresh_database(COORD, SINGLE)
    scur.execute("CREATE EXTENSION segmentation")
    s_first, s_full, s_inc, _ = run(scur, False)
    scur.execute("SELECT count(*) FROM segmentation.profiles")
    users = scur.fetchone()[0]
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0])
    print(f"# {users:,} users, {USERS * PER:,} events; medians of {ROUNDS} rounds of {NEW_PERCENT:g}% new events"
          + ("; two managed funnels" if FUNNELS else ""))
    print(f"first full refresh:  Citus {c_first:6.1f} s   one node {s_first:6.1f} s   {c_first / s_first:5.2f}x")
    print(f"full refresh:        Citus {c_full:6.1f} s   one node {s_full:6.1f} s   {c_full / s_full:5.2f}x")
    print(f"incremental refresh: Citus {c_inc:6.1f} s   one node {s_inc:6.1f} s   {c_inc / s_inc:5.2f}x")
    # where one more incremental refresh goes on Citus (auto_explain's
    # durations, statements over 100 ms), rolled back
    cur.execute("""INSERT INTO app_events
        SELECT (random() * %s)::bigint + 1, '2024-04-18'::timestamptz + random() * interval '12 days', 'view', NULL
        FROM generate_series(1, %s)""", (USERS - 1, int(USERS * PER * NEW_PERCENT / 100)))
    cur.execute("LOAD 'auto_explain'")
    for setting in ("auto_explain.log_nested_statements = on", "auto_explain.log_level = notice",
                    "client_min_messages = notice"):
        cur.execute("SET " + setting)
    cur.execute("BEGIN")
    cur.execute("SET LOCAL auto_explain.log_min_duration = 100")
    del conn.notices[:]
    try:
        cur.execute("SELECT segmentation.refresh(false, '2024-05-01'::timestamptz + %s * interval '1 hour')", (step[0] + 1,))
    except psycopg2.Error as e:
        # (Citus could not EXPLAIN some of refresh's statements before session 30: doc/citus.md, "Logging plans")
        print("one more incremental refresh on Citus under auto_explain failed:", str(e).split("\n")[0])
    cur.execute("ROLLBACK")
    print("one more incremental refresh on Citus, its statements over 100 ms (auto_explain):")
    for n in conn.notices:
        if "duration:" in n and "Query Text:" in n:
            ms = float(n.split("duration:")[1].split("ms")[0])
            text = " ".join(n.split("Query Text:")[1].split())[:100]
            print(f"  {ms:8.0f} ms  {text}")
    conn.close()
    sconn.close()


if __name__ == "__main__":
    main()
