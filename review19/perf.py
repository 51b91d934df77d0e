import psycopg2, os, time, statistics
def conn(db):
    c = psycopg2.connect(host=os.environ['PGHOST'], port=os.environ['PGPORT'], user='postgres', dbname=db); c.autocommit = True
    cur = c.cursor(); cur.execute("set search_path=public,segmentation; set time zone 'UTC'"); return cur
curs = {'old': conn('olddb'), 'new': conn('postgres')}
for k, cur in []:
    cur.execute("drop table if exists r19p; select setseed(0.7)")
    cur.execute("""create table r19p as select (random()*100000)::int u, '2020-01-01'::timestamptz + ((random()*30*86400)::int||' s')::interval t,
      random()<.3 a, random()<.3 b, random()<.3 c from generate_series(1,1000000)""")
    cur.execute("drop table if exists r19pb; create table r19pb as select u, behavior_agg(t) b from r19p group by u")
    cur.execute("analyze r19p; analyze r19pb")
Q = {'wf_serial': ("set max_parallel_workers_per_gather=0", "select sum(w) from (select window_funnel(t, array[a,b,c], '2 days') w from r19p group by u) z"),
     'wf_parallel': ("set max_parallel_workers_per_gather=2", "select sum(w) from (select window_funnel(t, array[a,b,c], '2 days') w from r19p group by u) z"),
     'wf_sort_serial': ("set max_parallel_workers_per_gather=0; set enable_hashagg=off", "select sum(w) from (select window_funnel(t, array[a,b,c], '2 days') w from r19p group by u) z"),
     'wf_hash_serial': ("set max_parallel_workers_per_gather=0; set enable_sort=off", "select sum(w) from (select window_funnel(t, array[a,b,c], '2 days') w from r19p group by u) z"),
     'nn_serial': ("set max_parallel_workers_per_gather=0", "select count(n) from (select sequence_next_node(t, a::text, b, array[a,c], 'forward', 'first_match') n from r19p group by u) z"),
     'wf_one_group_serial': ("set max_parallel_workers_per_gather=0", "select window_funnel(t, array[a,b,c], '2 days') from r19p"),
     'rfm_serial': ("set max_parallel_workers_per_gather=0", "select rfm_breakpoints(b, '2020-02-01') from r19pb"),
     'rfm_parallel': ("set max_parallel_workers_per_gather=2; set parallel_setup_cost=0; set min_parallel_table_scan_size=0", "select rfm_breakpoints(b, '2020-02-01') from r19pb")}
for qn, (s, q) in Q.items():
    res = {'old': [], 'new': []}; vals = {}
    for r in range(7):
        for k in (('old', 'new') if r % 2 == 0 else ('new', 'old')):
            cur = curs[k]; cur.execute("reset all; set search_path=public,segmentation; set time zone 'UTC'; " + s)
            t0 = time.time(); cur.execute(q); v = cur.fetchall(); res[k].append(time.time() - t0); vals[k] = v
    mo, mn = statistics.median(res['old']), statistics.median(res['new'])
    print(f"{qn}: old {mo:.3f}s new {mn:.3f}s ratio new/old {mn/mo:.2f} same_result={vals['old']==vals['new']}", flush=True)
