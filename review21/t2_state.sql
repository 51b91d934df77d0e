\set ON_ERROR_STOP 0
SET search_path = segmentation, public;
CREATE AGGREGATE pg_temp.wf_nofinal(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list);
CREATE AGGREGATE pg_temp.nn_nofinal(timestamptz, text, boolean, boolean[], text, text) (SFUNC = sequence_next_node_trans, STYPE = event_list);
CREATE AGGREGATE pg_temp.comb_self(event_list) (SFUNC = event_list_combine, STYPE = event_list, FINALFUNC = event_list_combine, FINALFUNC_EXTRA);
CREATE AGGREGATE pg_temp.comb_nn(event_list) (SFUNC = event_list_combine, STYPE = event_list, FINALFUNC = sequence_next_node_final);
SELECT pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') FROM generate_series(1,3) g;
SELECT pg_temp.nn_nofinal('2020-01-01'::timestamptz + g * interval '1 h', 'v'||g, true, ARRAY[g%2=1, g%2=0], 'forward', 'head') FROM generate_series(1,3) g;
-- final returning the state itself, grouped / window / window with frame
SELECT k, length(pg_temp.comb_self(s)::text) FROM (SELECT g%3 k, pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') s FROM generate_series(1,30) g GROUP BY 1) z GROUP BY k ORDER BY k;
SELECT k, length(pg_temp.comb_self(s) OVER (ORDER BY k)::text) FROM (SELECT g%3 k, pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') s FROM generate_series(1,30) g GROUP BY 1) z;
-- output of a final-returns-state fed into another aggregate as input, and as INITCOND-like value
SELECT pg_temp.comb_nn(x) FROM (SELECT pg_temp.comb_self(s) OVER (ORDER BY g ROWS UNBOUNDED PRECEDING) x FROM (SELECT g, pg_temp.nn_nofinal('2020-01-01'::timestamptz + g * interval '1 h', 'v'||g, true, ARRAY[g%2=1, g%2=0], 'forward', 'head') OVER (ORDER BY g) s FROM generate_series(1,20) g) z) y;
SELECT pg_temp.comb_nn(x) OVER (ORDER BY 1) FROM (SELECT pg_temp.comb_self(s) OVER (ORDER BY g ROWS UNBOUNDED PRECEDING) x FROM (SELECT g, pg_temp.nn_nofinal('2020-01-01'::timestamptz + g * interval '1 h', 'v'||g, true, ARRAY[g%2=1, g%2=0], 'forward', 'head') OVER (ORDER BY g) s FROM generate_series(1,20) g) z) y LIMIT 3;
-- repeated final on same nn state (window, growing frame): compare with recomputation
SELECT count(*) FILTER (WHERE a IS DISTINCT FROM b) AS mismatches FROM (
 SELECT g, sequence_next_node(ts, v, base, c, 'backward', 'tail') OVER (ORDER BY g) a,
   (SELECT sequence_next_node(ts2, v2, base2, c2, 'backward', 'tail') FROM (SELECT '2020-01-01'::timestamptz + (h%5) * interval '1 h' ts2, 'v'||(h%4) v2, h%3<>0 base2, ARRAY[h%2=1, h%3=0] c2 FROM generate_series(1,g) h) q) b
 FROM (SELECT g, '2020-01-01'::timestamptz + (g%5) * interval '1 h' ts, 'v'||(g%4) v, g%3<>0 base, ARRAY[g%2=1, g%3=0] c FROM generate_series(1,200) g) t) u;
SELECT 'alive';
