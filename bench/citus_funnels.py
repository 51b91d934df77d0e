#!/usr/bin/python3
"""bench/citus_funnels.py: the managed funnels' rows (funnel_conversion's
counts and medians, _materialize_funnels) with the events and the state
distributed: by selection over counts, refresh's way on Citus, against the
one-statement percentile_cont over the same steps (what Citus ran before:
every user's steps gathered to the coordinator), and against one node.

usage (through bash bench/run.sh citus_funnels, which starts a coordinator
and two workers with test/citus.sh): bench/citus_funnels.py [USERS [EVENTS_PER_USER [ROUNDS]]]

bench/pipeline.py's data and configuration (app_events: USERS x
EVENTS_PER_USER events over 120 days, features search and export, the
presets engagement_ladder and rfm; default 200,000 x 10), the events table
distributed in 8 shards (4 per worker), two funnels (search then export in
14 days; view, search, export in 30 days) and one full refresh; then the
rows computed ROUNDS times (default 5) each way, medians.  The one node is
a database without Citus on the coordinator.
"""
import statistics
import sys
import time

from citus import COORD, cluster_database, fresh_database
from pipeline import app_events

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
SINGLE = "segmentation_citus_bench_single"
ROWS = "SELECT funnel_id, scheme, segment, step, users, median_seconds::text FROM segmentation._funnel_rows ORDER BY 1, 2, 3, 4"


def timed(cur, sql, args=None):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    return time.perf_counter() - t0


def setup(cur, citus):
    app_events(cur, USERS, PER, distribute=citus)
    cur.execute("""SELECT segmentation.define_feature('viewing', '{view}');
                   SELECT segmentation.define_funnel('search_export', '{search,export}', '14 days');
                   SELECT segmentation.define_funnel('view_search_export', '{viewing,search,export}', '30 days')""")
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT segmentation.refresh(true, '2024-05-01')")
    cur.execute("VACUUM ANALYZE")


def steps_text(cur):
    """the steps query of _materialize_funnels, as it is installed"""
    cur.execute("SELECT p.prosrc FROM pg_proc p WHERE p.oid = 'segmentation._materialize_funnels(int)'::regprocedure")
    src = cur.fetchone()[0]
    return src.split("steps text := $q$", 1)[1].split("$q$;", 1)[0]


def main():
    conn, cur = cluster_database()
    cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    setup(cur, True)
    steps = steps_text(cur)
    # (the steps gathered: Citus refuses GROUPING SETS over the workers' rows)
    gather = f"""WITH s AS MATERIALIZED ({steps})
                 SELECT count(*) FROM (SELECT s.funnel_id, s.scheme, s.segment, s.k, count(*),
                                              percentile_cont(0.5) WITHIN GROUP (ORDER BY s.dt)
                                       FROM s
                                       GROUP BY GROUPING SETS ((s.funnel_id, s.scheme, s.segment, s.k),
                                                               (s.funnel_id, s.scheme, s.k))) a"""
    cur.execute(f"SELECT count(*), count(s.dt) FROM ({steps}) s")
    rows, values = cur.fetchone()
    sel, gat = [], []
    for _ in range(ROUNDS):
        sel.append(timed(cur, "SELECT segmentation._materialize_funnels()"))
        gat.append(timed(cur, gather))
    cur.execute(ROWS)
    citus_rows = cur.fetchall()
    del conn.notices[:]
    cur.execute("SET client_min_messages = debug1; SELECT segmentation._materialize_funnels(); RESET client_min_messages")
    debug = [n.split("DEBUG:")[1].strip() for n in conn.notices if "managed funnels' medians" in n]
    sconn, scur = fresh_database(COORD, SINGLE)
    scur.execute("CREATE EXTENSION segmentation")
    setup(scur, False)
    one = [timed(scur, "SELECT segmentation._materialize_funnels()") for _ in range(ROUNDS)]
    scur.execute(ROWS)
    same = scur.fetchall() == citus_rows
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0])
    print(f"# {USERS:,} users, {USERS * PER:,} events, two funnels: {rows:,} steps of users in groups "
          f"({values:,} with a time from the previous step); medians of {ROUNDS}")
    print(f"# the rows equal one node's, to the last bit: {same}")
    s, g, o = statistics.median(sel), statistics.median(gat), statistics.median(one)
    print(f"Citus, selection over counts (refresh's way):     {s * 1000:7.0f} ms  {s / o:5.2f}x one node")
    print(f"Citus, percentile_cont over the gathered steps:   {g * 1000:7.0f} ms  {g / o:5.2f}x one node")
    print(f"one node, percentile_cont:                        {o * 1000:7.0f} ms")
    print("# to the coordinator, the selection: " + "; ".join(debug))
    print(f"# to the coordinator, percentile_cont: every step ({rows:,} rows of funnel, scheme, segment, step, seconds)")
    conn.close()
    sconn.close()


if __name__ == "__main__":
    main()
