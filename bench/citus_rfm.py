#!/usr/bin/python3
"""bench/citus_rfm.py: the RFM breakpoints of behaviors Citus distributes,
as refresh takes them there (_rfm_breakpoints_split, sql/20-scores.sql:
selection over counts, which Citus adds up from the workers; no value
reaches the coordinator) against the aggregate rfm_breakpoints split two
phases (each shard's partial state holds the three values of every one of
its behaviors, shipped to the coordinator as text), and the aggregate on one
node over the same behaviors.

usage (through bash bench/run.sh citus_rfm, which starts a coordinator and
two workers with test/citus.sh): bench/citus_rfm.py [USERS [ROUNDS]]

USERS behaviors (default 1,000,000) of 1 to 9 events over 90 days, values
of two decimals, 2% opted out, setseed(0.42); distributed by user id (8
shards, 4 per worker) and in a plain table on the coordinator.  Medians of
ROUNDS (default 5) alternating runs; the three results are checked equal.
"""
import statistics
import sys
import time

from citus import cluster_database, timed

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
AS_OF = "2024-04-01"


def setup():
    conn, cur = cluster_database()
    t0 = time.time()
    cur.execute(f"""
        CREATE TABLE b_local (user_id bigint NOT NULL, behavior segmentation.behavior NOT NULL, opted_out boolean NOT NULL);
        SELECT setseed(0.42);
        INSERT INTO b_local
        SELECT u, segmentation.behavior_agg(ts, NULL::int, v), u % 50 = 0
        FROM (SELECT u, timestamptz '2024-01-01' + floor(random() * 90 * 86400) * interval '1 second' AS ts,
                     round((random() * 100)::numeric, 2)::float8 AS v
              FROM generate_series(1, {USERS}) u, generate_series(1, 1 + u % 9) i) e
        GROUP BY u;
        CREATE TABLE b (LIKE b_local);
        SELECT create_distributed_table('b', 'user_id', shard_count => 8);
        INSERT INTO b SELECT * FROM b_local;
    """)
    cur.execute("VACUUM ANALYZE b_local")
    cur.execute("VACUUM ANALYZE b")
    print(f"# {USERS} behaviors, loaded in {time.time() - t0:.0f} s")
    cur.execute("SET jit = off")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("SET citus.coordinator_aggregation_strategy = 'disabled'")
    cur.execute("SET citus.propagate_set_commands = 'local'")
    return conn, cur


def main():
    conn, cur = setup()
    cur.execute("SELECT version()")
    print("#", cur.fetchone()[0].split(" on ")[0], "| Citus",
          (cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'"), cur.fetchone()[0])[1])
    sqls = {
        "split, Citus": f"SELECT segmentation._rfm_breakpoints_split('b', '{AS_OF}')",
        "aggregate, Citus": f"SELECT segmentation.rfm_breakpoints(behavior, '{AS_OF}') FROM b WHERE NOT opted_out",
        "aggregate, one node": f"SELECT segmentation.rfm_breakpoints(behavior, '{AS_OF}') FROM b_local WHERE NOT opted_out",
    }
    results = set()
    for sql in sqls.values():
        cur.execute(sql)
        results.add(cur.fetchone()[0].__repr__())
    print(f"# the three results equal: {len(results) == 1}")
    times = {k: [] for k in sqls}
    for _ in range(ROUNDS):
        for k, sql in sqls.items():
            times[k].append(timed(cur, sql))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["aggregate, Citus"]
    for k in sqls:
        print(f"{k:20} {med[k] * 1000:7.0f} ms  {med[k] / base:5.2f}x the aggregate on Citus  (median of {ROUNDS})")
    # what reaches the coordinator: the aggregate's partial states (text:
    # \\x and the hex of 1 + 8 + 24 n bytes per shard), the split's counts
    cur.execute("SELECT result::bigint FROM run_command_on_shards('b', $$SELECT count(*) FROM %s WHERE NOT opted_out$$)")
    state_bytes = sum(2 + 2 * (9 + 24 * r[0]) for r in cur.fetchall())
    del conn.notices[:]
    cur.execute("SET client_min_messages = debug1")
    cur.execute(sqls["split, Citus"])
    cur.execute("RESET client_min_messages")
    rounds = [n.strip().split("DEBUG:  ", 1)[1] for n in conn.notices if "RFM breakpoints, round" in n]
    print(f"# aggregate: {state_bytes} bytes of partial states to the coordinator "
          f"({state_bytes / (USERS * 0.98):.1f} per behavior)")
    print("# split: " + "; ".join(rounds) + " (a shard sends at most the counts of its own keys)")
    conn.close()


if __name__ == "__main__":
    main()
