#!/usr/bin/python3
"""bench/funnels_many.py USERS EVENTS_PER_USER FUNNELS [MODES]: review 9's
R9-2 configuration (review9/02-admin-many-strict-funnels.sql).  USERS users
with EVENTS_PER_USER 'view' events each, a minute apart from 2024-01-01;
FUNNELS funnels ('v' = view, then 'never', which no event is) within one day,
with MODES (default strict_order; '' for none): step 1 is every event, so each
funnel's state would hold every event.  Reports, without funnels and then
with them: a full refresh, and incremental refreshes that bring one new event
per user (later than all the others); the state's rows and size.  With
more funnels than define_funnel allows, it defines as many as it allows.
Uses the libpq environment (bench/run.sh funnels_many starts a cluster)."""
import sys
import time

import psycopg2

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
PER_USER = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
FUNNELS = int(sys.argv[3]) if len(sys.argv) > 3 else 40
MODES = sys.argv[4] if len(sys.argv) > 4 else "strict_order"

conn = psycopg2.connect(dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SET TIME ZONE 'UTC'")
cur.execute("SET client_min_messages = warning")
cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
cur.execute("CREATE EXTENSION segmentation")
cur.execute("DROP TABLE IF EXISTS mfev")
cur.execute("CREATE TABLE mfev (uid bigint, ts timestamptz, ev text)")
cur.execute(f"""INSERT INTO mfev
  SELECT u, '2024-01-01'::timestamptz + d * interval '1 minute' + u * interval '1 second', 'view'
  FROM generate_series(1, {USERS}) u, generate_series(0, {PER_USER} - 1) d""")
cur.execute("VACUUM ANALYZE mfev")
cur.execute("SELECT segmentation.track('mfev', 'uid', 'ts', 'ev')")
cur.execute("SELECT segmentation.define_feature('v', '{view}')")
cur.execute("SELECT segmentation.define_feature('never', '{never_happens}')")


def timed(sql, args=None):
    t = time.perf_counter()
    cur.execute(sql, args)
    rows = cur.fetchall() if cur.description else None
    return time.perf_counter() - t, rows


hour = [0]


def incremental():
    # one new event per user, later than every other
    hour[0] += 1
    cur.execute(f"INSERT INTO mfev SELECT u, '2025-12-31'::timestamptz + %s * interval '1 hour', 'view' FROM generate_series(1, {USERS}) u",
                (hour[0],))
    return timed("SELECT segmentation.refresh(false, '2026-01-01'::timestamptz + %s * interval '1 hour')", (hour[0],))[0]


base_full, _ = timed("SELECT segmentation.refresh(true, '2026-01-01')")
base_inc = incremental()
defined = 0
for i in range(FUNNELS):
    try:
        cur.execute("SELECT segmentation.define_funnel(%s, '{v, never}', '1 day', %s)", (f"f{i + 1}", MODES))
        defined += 1
    except psycopg2.errors.ProgramLimitExceeded:
        break
full, _ = timed("SELECT segmentation.refresh(true, '2026-01-01'::timestamptz + %s * interval '1 hour')", (hour[0],))
_, st = timed("""SELECT count(*), sum(cardinality(ts)), pg_size_pretty(pg_total_relation_size('segmentation._funnel_state'))
                 FROM segmentation._funnel_state""")
inc = [incremental() for _ in range(3)]
_, st2 = timed("SELECT sum(cardinality(ts)) FROM segmentation._funnel_state")
print(f"{USERS} users x {PER_USER} events, {defined} of {FUNNELS} funnels defined, modes {MODES!r}")
print(f"  without funnels: full refresh {base_full:7.3f} s, incremental (1 event per user) {1000 * base_inc:8.1f} ms")
print(f"  with funnels:    full refresh {full:7.3f} s, incremental (1 event per user) "
      + ", ".join(f"{1000 * x:.1f}" for x in inc) + " ms")
print(f"  ratios to without: full {full / base_full:6.1f}x, incremental {min(inc) / base_inc:6.1f}x to {max(inc) / base_inc:6.1f}x")
print(f"  state after the full refresh: {st[0][0]} rows, {st[0][1]} timestamps, {st[0][2]}; after the incrementals: {st2[0][0]} timestamps")
cur.execute("DROP EXTENSION segmentation CASCADE")
cur.execute("DROP TABLE mfev")
