import psycopg2, os, time, statistics
c = psycopg2.connect(host=os.environ['PGHOST'], port=os.environ['PGPORT'], user='postgres', dbname='postgres'); c.autocommit = True
cur = c.cursor(); cur.execute("set search_path=public,segmentation; set max_parallel_workers_per_gather=0")
res = {}
for r in range(5):
    for f in ['window_funnel', 'wf_ss', 'wf_ss1k']:
        t0 = time.time(); cur.execute(f"select sum(w) from (select {f}(t, array[a,b,c], '2 days') w from r19p group by u) z"); v = cur.fetchone(); res.setdefault(f, []).append(time.time() - t0)
for f, l in res.items(): print(f, '%.3f' % statistics.median(l), v)
for f in ['window_funnel', 'wf_ss', 'wf_ss1k']:
    cur.execute(f"explain (analyze, costs off, timing off, summary off) select sum(w) from (select {f}(t, array[a,b,c], '2 days') w from r19p group by u) z")
    print(f, [r[0].strip() for r in cur.fetchall() if 'Batches' in r[0] or 'Aggregate' in r[0]])
