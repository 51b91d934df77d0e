#!/usr/bin/python3
"""bench/citus_experiments.py: the experiment readout with the events, the
assignments and so the per-user state distributed by user id, against the
same on one node, in one run.

usage (through bash bench/run.sh citus_experiments, which starts a
coordinator and two workers with test/citus.sh):
bench/citus_experiments.py [USERS [EVENTS_PER_USER [ASSIGNED [ROUNDS]]]]

bench/pipeline.py's data and configuration (app_events: USERS x
EVENTS_PER_USER events over 120 days, two features, the presets
engagement_ladder and rfm; default 200,000 x 10), the events table
distributed in 8 shards (4 per worker); a refresh; ASSIGNED users (default
100,000) assigned to two arms on 2024-04-20 (the table colocated with the
events). Then ROUNDS (default 5) computations of the readout
(define_experiment computes it, as every refresh does again). The one node
is a database without Citus on the coordinator.
"""
import statistics
import sys
import time

from citus import COORD, cluster_database, fresh_database
from pipeline import app_events

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ASSIGNED = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 5
SINGLE = "segmentation_citus_bench_single"
DEFINE = "SELECT segmentation.define_experiment('bench', 'ab', 'uid', 'arm', 'at', 'control', 'purchase')"


def run(cur, citus):
    app_events(cur, USERS, PER, distribute=citus)
    cur.execute("""CREATE TABLE ab AS
                   SELECT u::bigint AS uid, CASE WHEN u %% 2 = 0 THEN 'control' ELSE 'treatment' END AS arm,
                          '2024-04-20'::timestamptz + (u %% 7) * interval '1 hour' AS at
                   FROM generate_series(1, %s) u""", (ASSIGNED,))
    if citus:
        cur.execute("SELECT create_distributed_table('ab', 'uid', colocate_with => 'app_events')")
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT segmentation.refresh(true, '2024-05-01')")
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        cur.execute(DEFINE)
        times.append(time.perf_counter() - t0)
    cur.execute("SELECT count(*) FROM segmentation.experiment_lift")
    return statistics.median(times), cur.fetchone()[0]


def main():
    conn, cur = cluster_database()
    cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    c_time, c_rows = run(cur, True)
    sconn, scur = fresh_database(COORD, SINGLE)
    scur.execute("CREATE EXTENSION segmentation")
    s_time, s_rows = run(scur, False)
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0])
    print(f"# {USERS:,} users, {USERS * PER:,} events, {ASSIGNED:,} assigned; medians of {ROUNDS} rounds")
    print(f"the readout ({c_rows} rows on Citus, {s_rows} on one node): "
          f"Citus {c_time * 1000:8.0f} ms   one node {s_time * 1000:8.0f} ms   {c_time / s_time:5.2f}x")
    conn.close()
    sconn.close()


if __name__ == "__main__":
    main()
