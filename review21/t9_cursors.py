"""R21: more live aggregate contexts than AggStateContext's 8 slots: 12 cursors, each a sorted
GroupAggregate (states made group by group, lazily) and 12 hash aggregates, fetched in turn; answers
must equal one plain query's."""
import psycopg2, hashlib
conn = psycopg2.connect(user='r21_reader', dbname='postgres')
cur = conn.cursor()
Q = """SELECT u, segmentation.window_funnel(ts, ARRAY[a,b,c], '2 days'), segmentation.sequence_next_node(ts, v, a, ARRAY[a,b], 'forward', 'head'),
 segmentation.sequence_count(ts, ARRAY[a,b], '(?1).*(?2)'), segmentation.behavior_agg(ts, f)::text FROM r21_ev WHERE u %% 12 = %d GROUP BY u ORDER BY u"""
ref = {}
for k in range(12):
    cur.execute(Q % k); ref[k] = cur.fetchall()
for mode in ("off", "on"):
    cur.execute("SET enable_hashagg = " + mode)
    for k in range(12):
        cur.execute("DECLARE c%d CURSOR FOR " % k + Q % k)
    got = {k: [] for k in range(12)}
    active = set(range(12))
    while active:
        for k in sorted(active):
            cur.execute("FETCH 7 FROM c%d" % k); rows = cur.fetchall()
            if not rows: active.discard(k)
            got[k] += rows
    bad = [k for k in range(12) if got[k] != ref[k]]
    print("enable_hashagg=%s: %d cursors, mismatching: %s" % (mode, 12, bad or "none"))
    for k in range(12): cur.execute("CLOSE c%d" % k)
conn.rollback()
