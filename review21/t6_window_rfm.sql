SET search_path = segmentation, public;
CREATE AGGREGATE pg_temp.rfm_nofinal(behavior, timestamptz) (SFUNC = rfm_breakpoints_trans, STYPE = rfm_values, COMBINEFUNC = rfm_breakpoints_combine, PARALLEL = SAFE);
CREATE AGGREGATE pg_temp.rfm_comb(rfm_values) (SFUNC = rfm_breakpoints_combine, STYPE = rfm_values, FINALFUNC = rfm_breakpoints_final);
WITH i AS (SELECT f, u, behavior_agg(ts) b FROM r21_ev GROUP BY f, u),
 w AS (SELECT f, pg_temp.rfm_comb(s) OVER (ORDER BY f) r FROM (SELECT f, pg_temp.rfm_nofinal(b, '2024-03-01') s FROM i GROUP BY f) z),
 d AS (SELECT f0 AS f, (SELECT rfm_breakpoints(b, '2024-03-01') FROM i WHERE i.f <= f0) r FROM generate_series(0,7) f0)
SELECT count(*) FILTER (WHERE w.r IS DISTINCT FROM d.r) mismatches, count(*) FROM w JOIN d USING (f);
