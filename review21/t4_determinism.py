"""R21: every event-list aggregate, rfm_breakpoints and behavior_agg in ONE query (one aggregate
context, one shared state context), under serial sort, hash, hash spilling, parallel, and a
grouping-sets query with more than 8 sets; md5 of the answers must agree."""
import psycopg2, hashlib
conn = psycopg2.connect(dbname='postgres'); conn.autocommit = True
cur = conn.cursor()
cur.execute("DROP TABLE IF EXISTS r21_ev; CREATE TABLE r21_ev AS SELECT (random()*3000)::int u, (random()*7)::int f, "
            "'2024-01-01'::timestamptz + ((random()*86400*30)::int) * interval '1 s' ts, random() < 0.3 a, random() < 0.3 b, random() < 0.3 c, "
            "'n' || (random()*5)::int v FROM generate_series(1, 200000); ANALYZE r21_ev; GRANT SELECT ON r21_ev TO PUBLIC")
Q = """SELECT u, segmentation.window_funnel(ts, ARRAY[a,b,c], '2 days'),
  segmentation.window_funnel(ts, ARRAY[a,b,c], '2 days', 'strict_once,strict_order'),
  segmentation.sequence_count(ts, ARRAY[a,b,c], '(?1).*(?2)(?t<=3600)(?3)'),
  segmentation.sequence_match(ts, ARRAY[a,b], '(?1)(?2)'),
  segmentation.sequence_next_node(ts, v, a, ARRAY[a,b], 'forward', 'first_match'),
  segmentation.sequence_next_node(ts, v, true, ARRAY[b], 'backward', 'tail'),
  segmentation.retention_flags(ARRAY[a,b,c]),
  segmentation.behavior_agg(ts, f, 1.0)::text
 FROM r21_ev GROUP BY u"""
R = "SELECT segmentation.rfm_breakpoints(b, '2024-03-01') FROM (SELECT u, segmentation.behavior_agg(ts, f, f::float8) b FROM r21_ev GROUP BY u) z"
G = """SELECT f, u % 3 AS m, (u % 5) AS q, segmentation.window_funnel(ts, ARRAY[a,b,c], '2 days'), segmentation.sequence_count(ts, ARRAY[a,b], '(?1).*(?2)'),
 segmentation.sequence_next_node(ts, v, a, ARRAY[a,b], 'forward', 'head') FROM r21_ev
 GROUP BY GROUPING SETS ((f),(u%3),(u%5),(f,u%3),(f,u%5),(u%3,u%5),(f,u%3,u%5),(),(u%7),(u%11),(f,u%7),(u%13),(u%17))"""
modes = {
 'serial_sort': "SET enable_hashagg=off; SET max_parallel_workers_per_gather=0",
 'serial_hash': "SET enable_hashagg=on; SET enable_sort=off; SET max_parallel_workers_per_gather=0",
 'hash_spill': "SET enable_hashagg=on; SET enable_sort=off; SET work_mem='64kB'; SET hash_mem_multiplier=1; SET max_parallel_workers_per_gather=0",
 'parallel': "SET parallel_setup_cost=0; SET parallel_tuple_cost=0; SET min_parallel_table_scan_size=0; SET max_parallel_workers_per_gather=2; SET force_parallel_mode=on",
 'parallel_spill': "SET parallel_setup_cost=0; SET parallel_tuple_cost=0; SET min_parallel_table_scan_size=0; SET max_parallel_workers_per_gather=2; SET work_mem='64kB'; SET hash_mem_multiplier=1; SET enable_sort=off",
}
for qn, q in (('all_aggs', Q), ('rfm', R), ('grouping_sets', G)):
    for m, s in modes.items():
        cur.execute("RESET ALL; SET ROLE r21_reader; " + s)
        cur.execute("EXPLAIN (COSTS OFF) " + q); plan = [r[0] for r in cur.fetchall()]
        top = ' / '.join(l.strip() for l in plan if 'Agg' in l or 'Gather' in l)[:140]
        cur.execute(q); rows = sorted(repr(r) for r in cur.fetchall())
        print(qn, m, hashlib.md5('\n'.join(rows).encode()).hexdigest(), len(rows), '|', top)
        cur.execute("RESET ROLE")
