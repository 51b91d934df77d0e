\set ON_ERROR_STOP 0
SET search_path = segmentation, public;
SELECT window_funnel(ts, ARRAY[a,b,c], '2 days' ORDER BY ts DESC) = window_funnel(ts, ARRAY[a,b,c], '2 days') AS order_by_same,
       window_funnel(DISTINCT ts, ARRAY[a,b,c], '2 days') AS distinct_wf,
       sequence_next_node(DISTINCT ts, v, a, ARRAY[a,b], 'forward', 'head') AS distinct_nn
FROM r21_ev WHERE u < 10;
-- ordered-set aggregates built from the support functions
CREATE AGGREGATE pg_temp.os_wf(ORDER BY timestamptz, boolean[], interval) (SFUNC = window_funnel_trans, STYPE = event_list, FINALFUNC = window_funnel_final);
SELECT pg_temp.os_wf() WITHIN GROUP (ORDER BY ts, ARRAY[a,b,c], '2 days'::interval) FROM r21_ev WHERE u < 10;
CREATE AGGREGATE pg_temp.os_comb(ORDER BY event_list) (SFUNC = event_list_combine, STYPE = event_list, FINALFUNC = event_list_combine, FINALFUNC_EXTRA);
SELECT length(pg_temp.os_comb() WITHIN GROUP (ORDER BY s)::text) FROM (SELECT u, (SELECT 1) x, window_funnel_trans_state s FROM (SELECT u, NULL::event_list window_funnel_trans_state FROM generate_series(1,3) u) q) z;
CREATE AGGREGATE pg_temp.os_rfm(ORDER BY rfm_values) (SFUNC = rfm_breakpoints_combine, STYPE = rfm_values, FINALFUNC = rfm_breakpoints_final);
CREATE AGGREGATE pg_temp.rfm_nofinal(behavior, timestamptz) (SFUNC = rfm_breakpoints_trans, STYPE = rfm_values, COMBINEFUNC = rfm_breakpoints_combine, PARALLEL = SAFE);
SELECT pg_temp.os_rfm() WITHIN GROUP (ORDER BY s) FROM (SELECT f, pg_temp.rfm_nofinal(b, '2024-03-01') s FROM (SELECT f, u, behavior_agg(ts) b FROM r21_ev GROUP BY f, u) i GROUP BY f) z;
SELECT pg_temp.os_rfm() WITHIN GROUP (ORDER BY s) = (SELECT rfm_breakpoints(b, '2024-03-01') FROM (SELECT f, u, behavior_agg(ts) b FROM r21_ev GROUP BY f, u) i) FROM (SELECT f, pg_temp.rfm_nofinal(b, '2024-03-01') s FROM (SELECT f, u, behavior_agg(ts) b FROM r21_ev GROUP BY f, u) i GROUP BY f) z;
-- DISTINCT on rfm_values (needs equality: none) and event_list
SELECT count(DISTINCT s) FROM (SELECT pg_temp.rfm_nofinal(b, '2024-03-01') s FROM (SELECT f, u, behavior_agg(ts) b FROM r21_ev GROUP BY f, u) i GROUP BY f) z;
-- rfm state as window aggregate with growing frame, final re-run on the same state
CREATE AGGREGATE pg_temp.rfm_comb(rfm_values) (SFUNC = rfm_breakpoints_combine, STYPE = rfm_values, FINALFUNC = rfm_breakpoints_final);
SELECT f, pg_temp.rfm_comb(s) OVER (ORDER BY f) FROM (SELECT f, pg_temp.rfm_nofinal(b, '2024-03-01') s FROM (SELECT f, u, behavior_agg(ts) b FROM r21_ev GROUP BY f, u) i GROUP BY f) z;
SELECT f, rfm_breakpoints(b, '2024-03-01') OVER (ORDER BY f ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM (SELECT f, behavior_agg(ts) b FROM r21_ev GROUP BY f) z LIMIT 3;
-- rfm trans with INITCOND crafted (1 value), and a zero-row state
CREATE AGGREGATE pg_temp.rfm_init(behavior, timestamptz) (SFUNC = rfm_breakpoints_trans, STYPE = rfm_values, FINALFUNC = rfm_breakpoints_final,
   INITCOND = '\x010000000000000001000000000000000000000000000000000000000000000000');
SELECT pg_temp.rfm_init(b, '2024-03-01') FROM (SELECT behavior_agg(ts) b FROM r21_ev WHERE u < 3 GROUP BY u) z;
SELECT '\x010000000000000000'::rfm_values;
SELECT 'alive';
