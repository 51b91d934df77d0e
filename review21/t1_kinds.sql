\set ON_ERROR_STOP 0
SET search_path = segmentation, public;
-- R19-1 and variants: every trans x every final
CREATE AGGREGATE pg_temp.wf_nn(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = sequence_next_node_final);
CREATE AGGREGATE pg_temp.wf_sm(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = sequence_match_final);
CREATE AGGREGATE pg_temp.wf_sc(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = sequence_count_final);
CREATE AGGREGATE pg_temp.sq_nn(timestamptz, boolean[], text) (SFUNC = sequence_trans, STYPE = event_list, FINALFUNC = sequence_next_node_final);
CREATE AGGREGATE pg_temp.sq_wf(timestamptz, boolean[], text) (SFUNC = sequence_trans, STYPE = event_list, FINALFUNC = window_funnel_final);
CREATE AGGREGATE pg_temp.nn_wf(timestamptz, text, boolean, boolean[], text, text) (SFUNC = sequence_next_node_trans, STYPE = event_list, FINALFUNC = window_funnel_final);
CREATE AGGREGATE pg_temp.nn_sc(timestamptz, text, boolean, boolean[], text, text) (SFUNC = sequence_next_node_trans, STYPE = event_list, FINALFUNC = sequence_count_final);
SELECT pg_temp.wf_nn(t, ARRAY[true], '1 day') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
SELECT pg_temp.wf_sm(t, ARRAY[true], '1 day') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
SELECT pg_temp.wf_sc(t, ARRAY[true], '1 day') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
SELECT pg_temp.sq_nn(t, ARRAY[true], '(?1)') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
SELECT pg_temp.sq_wf(t, ARRAY[true], '(?1)') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
SELECT pg_temp.nn_wf(t, 'a', true, ARRAY[true], 'forward', 'head') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
SELECT pg_temp.nn_sc(t, 'a', true, ARRAY[true], 'forward', 'head') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
-- mixing trans of two kinds in one state: INITCOND of another kind
CREATE AGGREGATE pg_temp.mix(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = window_funnel_final,
  INITCOND = '\x0103000000010000000000000000000000000000000000000000');
SELECT pg_temp.mix(t, ARRAY[true], '0') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
-- combine as final (returns the state pointer), in GROUP BY and window
CREATE AGGREGATE pg_temp.wf_state(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = event_list_combine, FINALFUNC_EXTRA);
SELECT g, pg_temp.wf_state(t, ARRAY[true, g%2=0], '1 day') FROM generate_series(1,5) g, LATERAL (SELECT '2020-01-01'::timestamptz + g * interval '1 h') x(t) GROUP BY g ORDER BY g;
SELECT g, pg_temp.wf_state(t, ARRAY[true, g%2=0], '1 day') OVER (ORDER BY g) FROM generate_series(1,5) g, LATERAL (SELECT '2020-01-01'::timestamptz + g * interval '1 h') x(t);
-- state of one aggregate fed to another's combine-as-sfunc, no final (RO pointers from subquery)
CREATE AGGREGATE pg_temp.comb(event_list) (SFUNC = event_list_combine, STYPE = event_list);
CREATE AGGREGATE pg_temp.comb_wf(event_list) (SFUNC = event_list_combine, STYPE = event_list, FINALFUNC = window_funnel_final);
CREATE AGGREGATE pg_temp.wf_nofinal(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list);
SELECT pg_temp.comb_wf(s) FROM (SELECT g%3 k, pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') s FROM generate_series(1,30) g GROUP BY 1) z;
SELECT pg_temp.comb_wf(s) OVER (ORDER BY k) FROM (SELECT g%3 k, pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') s FROM generate_series(1,30) g GROUP BY 1) z;
-- a window aggregate whose input is the state of a window aggregate (RO pointer into a live state)
SELECT pg_temp.comb_wf(s) OVER (ORDER BY g ROWS UNBOUNDED PRECEDING) FROM (SELECT g, pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') OVER (ORDER BY g) s FROM generate_series(1,30) g) z;
-- same value twice into combine: state = s, input = s
SELECT pg_temp.comb_wf(s) FROM (SELECT pg_temp.wf_nofinal('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') s FROM generate_series(1,30) g) z, generate_series(1,3);
-- moving aggregate with MINVFUNC = the trans itself
CREATE AGGREGATE pg_temp.wf_mov(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = window_funnel_final,
   MSFUNC = window_funnel_trans, MINVFUNC = window_funnel_trans, MSTYPE = event_list, MFINALFUNC = window_funnel_final);
SELECT g, pg_temp.wf_mov('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') OVER (ORDER BY g ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM generate_series(1,10) g;
CREATE AGGREGATE pg_temp.wf_mov2(timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = window_funnel_final,
   MSFUNC = window_funnel_trans, MINVFUNC = window_funnel_trans, MSTYPE = event_list, MFINALFUNC = event_list_combine, MFINALFUNC_EXTRA);
SELECT g, length(pg_temp.wf_mov2('2020-01-01'::timestamptz + g * interval '1 h', ARRAY[g%2=0, g%2=1], '1 day') OVER (ORDER BY g ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)::text) FROM generate_series(1,10) g;
-- direct calls
SELECT window_funnel_final(NULL); SELECT event_list_combine(NULL, NULL); SELECT sequence_next_node_final('\x0103000000010000000000000000000000000000000000000000');
SELECT 'alive';
