#!/usr/bin/python3
"""bench/funnels.py N [RUNS]: window_funnel against the plain SQL that
computes the same funnel (window functions), on N events of N/20 users over
30 days (events a, b, c, d uniform; fixed seed), a 3-step funnel within one
day. Alternating runs, medians, the ratio in one run; both answers checked
equal first. Uses the libpq environment (bench/run.sh funnels starts a
cluster)."""
import statistics
import sys
import time

import psycopg2

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000000
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 3

AGG = """SELECT level, count(*) FROM (
  SELECT user_id, segmentation.window_funnel(ts, ARRAY[ev = 'a', ev = 'b', ev = 'c'], '1 day') AS level
  FROM fev GROUP BY user_id) s GROUP BY level ORDER BY level"""
# a chain reaches step 2 at a b row from the latest a before it, step 3 at a
# c row from the latest start among the b rows before it (ties in step order)
PLAIN = """SELECT level, count(*) FROM (
  SELECT user_id,
         CASE WHEN bool_or(step = 3 AND ts - s2 <= interval '1 day') THEN 3
              WHEN bool_or(step = 2 AND ts - s1 <= interval '1 day') THEN 2
              WHEN bool_or(step = 1) THEN 1 ELSE 0 END AS level
  FROM (SELECT user_id, ts, step, s1,
               max(CASE WHEN step = 2 AND ts - s1 <= interval '1 day' THEN s1 END)
                 OVER (PARTITION BY user_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS s2
        FROM (SELECT user_id, ts, step,
                     max(ts) FILTER (WHERE step = 1)
                       OVER (PARTITION BY user_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING) AS s1
              FROM (SELECT user_id, ts, CASE ev WHEN 'a' THEN 1 WHEN 'b' THEN 2 WHEN 'c' THEN 3 ELSE 0 END AS step
                    FROM fev) e) w1) w2
  GROUP BY user_id) s GROUP BY level ORDER BY level"""

conn = psycopg2.connect(dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SET TIME ZONE 'UTC'")
cur.execute("CREATE EXTENSION IF NOT EXISTS segmentation")
cur.execute("DROP TABLE IF EXISTS fev")
cur.execute("SELECT setseed(0.42)")
cur.execute(f"""CREATE TABLE fev AS
  SELECT (random() * {N // 20})::int AS user_id,
         '2024-01-01'::timestamptz + random() * interval '30 days' AS ts,
         (ARRAY['a','b','c','d'])[1 + (random() * 3.999)::int] AS ev
  FROM generate_series(1, {N})""")
cur.execute("VACUUM ANALYZE fev")
cur.execute("SET work_mem = '1GB'")
cur.execute("SET jit = off")
cur.execute(AGG)
a = cur.fetchall()
cur.execute(PLAIN)
p = cur.fetchall()
assert a == p, (a, p)
print(f"{N} events, {N // 20} users; levels {a}")
times = {"window_funnel": [], "plain SQL (window functions)": []}
for _ in range(RUNS):
    for name, sql in (("window_funnel", AGG), ("plain SQL (window functions)", PLAIN)):
        t = time.perf_counter()
        cur.execute(sql)
        cur.fetchall()
        times[name].append(time.perf_counter() - t)
m = {k: statistics.median(v) for k, v in times.items()}
for k, v in m.items():
    print(f"  {k:32s} {v:7.2f} s")
print(f"  plain SQL / window_funnel: {m['plain SQL (window functions)'] / m['window_funnel']:.1f}x")
cur.execute("DROP TABLE fev")
