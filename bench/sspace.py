#!/usr/bin/python3
"""bench/sspace.py N USERS [RUNS [WORK_MEM]]: a hashed GROUP BY user of
window_funnel, sequence_next_node and behavior_agg, as shipped (SSPACE =
8192) against copies of them without SSPACE (the planner then takes the
state type's 32-byte guess: review 19, R19-3), each as planned, with hashing
forced (enable_sort off) and with sorting forced (enable_hashagg off).  N
events of USERS users over 30 days (fixed seed), serial plans, jit off.
Prints each HashAggregate's batches and memory, then medians of alternating
rounds and each time over the sorted plan of the copy without SSPACE, in the
same run; the answers are checked equal first.  Uses the libpq environment
(bench/run.sh starts a cluster; or start one with scripts/lib.sh)."""
import statistics
import sys
import time

import psycopg2

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
USERS = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
WORK_MEM = sys.argv[4] if len(sys.argv) > 4 else "64MB"

AGGS = {
    "window_funnel": (
        """CREATE AGGREGATE sspace_bench.window_funnel(timestamptz, boolean[], interval) (
             SFUNC = segmentation.window_funnel_trans, STYPE = segmentation.event_list,
             FINALFUNC = segmentation.window_funnel_final, COMBINEFUNC = segmentation.event_list_combine,
             PARALLEL = SAFE)""",
        "SELECT sum(w), count(*) FROM (SELECT {s}.window_funnel(t, ARRAY[a, b, c], '2 days') w FROM ssev GROUP BY u) z"),
    "sequence_next_node": (
        """CREATE AGGREGATE sspace_bench.sequence_next_node(timestamptz, text, boolean, boolean[], text, text) (
             SFUNC = segmentation.sequence_next_node_trans, STYPE = segmentation.event_list,
             FINALFUNC = segmentation.sequence_next_node_final, COMBINEFUNC = segmentation.event_list_combine,
             PARALLEL = SAFE)""",
        "SELECT count(n), count(*) FROM (SELECT {s}.sequence_next_node(t, a::text, b, ARRAY[a, c], 'forward', 'first_match') n FROM ssev GROUP BY u) z"),
    "behavior_agg": (
        """CREATE AGGREGATE sspace_bench.behavior_agg(timestamptz) (
             SFUNC = segmentation.behavior_agg_trans, STYPE = segmentation.behavior,
             COMBINEFUNC = segmentation.behavior_merge, PARALLEL = SAFE)""",
        "SELECT sum(segmentation.event_count(b)), count(*) FROM (SELECT {s}.behavior_agg(t) b FROM ssev GROUP BY u) z"),
}
VARIANTS = {"SSPACE 8192 (shipped)": "segmentation", "no SSPACE": "sspace_bench"}
MODES = {"as planned": "", "hash forced": "SET enable_sort = off", "sort forced": "SET enable_hashagg = off"}

conn = psycopg2.connect(dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SET client_min_messages = warning")
cur.execute("CREATE EXTENSION IF NOT EXISTS segmentation")
cur.execute("DROP SCHEMA IF EXISTS sspace_bench CASCADE")
cur.execute("CREATE SCHEMA sspace_bench")
for create, _ in AGGS.values():
    cur.execute(create)
cur.execute("DROP TABLE IF EXISTS ssev")
cur.execute("SELECT setseed(0.7)")
cur.execute(f"""CREATE TABLE ssev AS SELECT (random() * {USERS})::int u,
  '2020-01-01'::timestamptz + ((random() * 30 * 86400)::int || ' s')::interval t,
  random() < .3 a, random() < .3 b, random() < .3 c FROM generate_series(1, {N})""")
cur.execute("VACUUM ANALYZE ssev")
cur.execute(f"SET work_mem = '{WORK_MEM}'")
cur.execute("SET jit = off")
cur.execute("SET max_parallel_workers_per_gather = 0")


def setup(mode):
    cur.execute("RESET enable_sort")
    cur.execute("RESET enable_hashagg")
    if MODES[mode]:
        cur.execute(MODES[mode])


print(f"{N} events, {USERS} users, work_mem {WORK_MEM}")
for agg, (_, q) in AGGS.items():
    answer = None
    for var, schema in VARIANTS.items():
        for mode in MODES:
            setup(mode)
            cur.execute("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF) " + q.format(s=schema))
            lines = [r[0].strip() for r in cur.fetchall()]
            node = [l.split("  (")[0].lstrip("-> ") for l in lines if "Aggregate" in l][1:2]
            info = [l for l in lines if "Batches" in l]
            print(f"  {agg} {var}, {mode}: {' '.join(node)} {' '.join(info)}")
            cur.execute(q.format(s=schema))
            a = cur.fetchall()
            assert answer is None or a == answer, (agg, var, mode, a, answer)
            answer = a
    times = {}
    order = [(v, m) for v in VARIANTS for m in MODES]
    for r in range(RUNS):
        for var, mode in (order if r % 2 == 0 else order[::-1]):
            setup(mode)
            t = time.perf_counter()
            cur.execute(q.format(s=VARIANTS[var]))
            cur.fetchall()
            times.setdefault((var, mode), []).append(time.perf_counter() - t)
    base = statistics.median(times[("no SSPACE", "sort forced")])
    print(f"{agg} (answer {answer})")
    for (var, mode), v in times.items():
        m = statistics.median(v)
        print(f"  {var:22s} {mode:12s} {m:6.3f} s  {m / base:5.2f}")
cur.execute("DROP SCHEMA sspace_bench CASCADE")
cur.execute("DROP TABLE ssev")
