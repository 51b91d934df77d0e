import psycopg2, os, hashlib
c = psycopg2.connect(host=os.environ['PGHOST'], port=os.environ['PGPORT'], user='postgres', dbname='postgres'); c.autocommit = True
cur = c.cursor()
cur.execute("set search_path=public,segmentation; set time zone 'UTC'")
cur.execute("drop table if exists r19ev; select setseed(0.19)")
cur.execute("""create table r19ev as select (random()*20000)::int u, '2020-01-01'::timestamptz + ((random()*30*86400)::int||' s')::interval t,
  random()<.3 a, random()<.3 b, random()<.3 c, 'v'||(random()*4)::int v from generate_series(1,300000)""")
cur.execute("analyze r19ev")
cur.execute("drop table if exists r19beh; create table r19beh as select u, behavior_agg(t) b from r19ev group by u; analyze r19beh")
Q = {
 'wf': "select u, window_funnel(t, array[a,b,c], '2 days', 'strict_order') from r19ev group by u order by u",
 'wf2': "select u, window_funnel(t, array[a,b,c], '2 days') from r19ev group by u order by u",
 'sc': "select u, sequence_count(t, array[a,b], '(?1)(?2)') , sequence_match(t, array[a,b,c], '(?1).*(?2)(?3)') from r19ev group by u order by u",
 'nn': "select u, sequence_next_node(t, v, a, array[a,b], 'forward', 'first_match') from r19ev group by u order by u",
 'gs': "select u, a, b, window_funnel(t, array[a,b,c], '2 days') from r19ev group by grouping sets ((u),(u,a),(u,b),(a),(b),(a,b),(u,a,b),(u,c),(c),(a,c),()) order by 1,2,3,4",
 'rfm': "select rfm_breakpoints(b, '2020-02-01') from r19beh",
 'rfm_g': "select u % 7, rfm_breakpoints(b, '2020-02-01') from r19beh group by 1 order by 1",
}
MODES = {
 'serial': "set max_parallel_workers_per_gather=0; set enable_hashagg=off; set work_mem='64MB'",
 'hash': "set max_parallel_workers_per_gather=0; set enable_hashagg=on; set enable_sort=off; set work_mem='64MB'",
 'spill': "set max_parallel_workers_per_gather=0; set enable_hashagg=on; set enable_sort=off; set work_mem='64kB'",
 'parallel': "set max_parallel_workers_per_gather=2; set parallel_setup_cost=0; set parallel_tuple_cost=0; set min_parallel_table_scan_size=0; set enable_hashagg=off; set work_mem='64MB'; set force_parallel_mode=on",
 'parallel_spill': "set max_parallel_workers_per_gather=2; set parallel_setup_cost=0; set parallel_tuple_cost=0; set min_parallel_table_scan_size=0; set enable_hashagg=on; set enable_sort=off; set work_mem='64kB'",
}
import time
for qn, q in Q.items():
    ref = None
    for mn, m in MODES.items():
        cur.execute("reset all; set search_path=public,segmentation; set time zone 'UTC'; " + m)
        cur.execute("explain " + q); plan = ' '.join(r[0] for r in cur.fetchall())
        t0 = time.time(); cur.execute(q); rows = cur.fetchall(); dt = time.time() - t0
        h = hashlib.md5(repr(rows).encode()).hexdigest()[:10]
        if ref is None: ref = h
        print(qn, mn, h, 'OK' if h == ref else 'DIFF', '%.2fs' % dt, 'Partial' in plan and 'partial' or '', 'HashAgg' in plan and 'hash' or '', flush=True)
