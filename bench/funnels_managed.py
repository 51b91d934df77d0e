#!/usr/bin/python3
"""bench/funnels_managed.py USERS [EVENTS_PER_USER] [RUNS]: the managed
funnel (define_funnel, funnel_conversion) at USERS users with about
EVENTS_PER_USER events each over 30 days (events a, b, c, d uniform; fixed
seed), a 3-step funnel within one day, a scheme of 3 segments.  Reports:
the first (full) refresh with the funnel; reading funnel_conversion (the
median of RUNS reads); an incremental refresh of 1% new events (a quarter of
them late, with old times) with the funnel, and the same refresh without it
(after drop_funnel): what the funnel adds to a refresh; and recomputing the
view's rows alone (_materialize_funnels, what forget_user, opt_out and
opt_in pay).  Uses the libpq environment (bench/run.sh funnels_managed
starts a cluster)."""
import statistics
import sys
import time

import psycopg2

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
PER_USER = int(sys.argv[2]) if len(sys.argv) > 2 else 5
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
N = USERS * PER_USER

conn = psycopg2.connect(dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SET TIME ZONE 'UTC'")
cur.execute("SET client_min_messages = warning")
cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
cur.execute("CREATE EXTENSION segmentation")
cur.execute("DROP TABLE IF EXISTS mfev")
cur.execute("CREATE TABLE mfev (user_id bigint, ts timestamptz, ev text)")
cur.execute("SELECT setseed(0.42)")
cur.execute(f"""INSERT INTO mfev
  SELECT 1 + (random() * ({USERS} - 1))::bigint, '2024-01-01'::timestamptz + random() * interval '30 days',
         (ARRAY['a','b','c','d'])[1 + (random() * 3.999)::int]
  FROM generate_series(1, {N})""")
cur.execute("VACUUM ANALYZE mfev")
cur.execute("SELECT segmentation.track('mfev', 'user_id', 'ts', 'ev')")
for f in "abcd":
    cur.execute("SELECT segmentation.define_feature(%s, %s)", (f, [f]))
cur.execute("SELECT segmentation.define_segment('s', 'many', 'frequency >= 7', 30)")
cur.execute("SELECT segmentation.define_segment('s', 'recent', 'recency_days < 3', 20)")
cur.execute("SELECT segmentation.define_funnel('abc', '{a, b, c}', '1 day')")


def timed(sql, args=None):
    t = time.perf_counter()
    cur.execute(sql, args)
    rows = cur.fetchall() if cur.description else None
    return time.perf_counter() - t, rows


full, _ = timed("SELECT segmentation.refresh(true, '2024-02-01')")
_, n = timed("SELECT count(*) FROM segmentation._funnel_state")
_, rows = timed("SELECT count(*) FROM segmentation.funnel_conversion")
print(f"{USERS} users, {N} events; funnel state of {n[0][0]} users; funnel_conversion: {rows[0][0]} rows")
print(f"  full refresh with the funnel:            {full:7.2f} s")
reads = [timed("SELECT * FROM segmentation.funnel_conversion")[0] for _ in range(RUNS)]
print(f"  reading funnel_conversion (median of {RUNS}): {1000 * statistics.median(reads):7.2f} ms")
mat = [timed("SELECT segmentation._materialize_funnels()")[0] for _ in range(max(1, RUNS // 2))]
print(f"  _materialize_funnels alone:              {statistics.median(mat):7.2f} s")


def new_events(day):
    # 1% new events: three quarters on the new day, a quarter late (old times)
    cur.execute(f"""INSERT INTO mfev
      SELECT 1 + (random() * ({USERS} - 1))::bigint,
             CASE WHEN random() < 0.75 THEN '{day}'::timestamptz + random() * interval '1 day'
                  ELSE '2024-01-01'::timestamptz + random() * interval '30 days' END,
             (ARRAY['a','b','c','d'])[1 + (random() * 3.999)::int]
      FROM generate_series(1, {N // 100})""")


new_events("2024-02-01")
with_funnel, _ = timed("SELECT segmentation.refresh(false, '2024-02-02')")
cur.execute("SELECT segmentation.drop_funnel('abc')")
new_events("2024-02-02")
without, _ = timed("SELECT segmentation.refresh(false, '2024-02-03')")
print(f"  incremental refresh, {N // 100} new events, with the funnel:    {with_funnel:7.2f} s")
print(f"  incremental refresh, {N // 100} new events, without a funnel:   {without:7.2f} s")
cur.execute("DROP EXTENSION segmentation CASCADE")
cur.execute("DROP TABLE mfev")
