-- release 0.1's rfm_breakpoints declarations (internal state, serialize/deserialize) bound to this build's
-- library, as between installing 0.2's library and ALTER EXTENSION UPDATE: serial, parallel, spill; same answer as 0.2's
CREATE SCHEMA IF NOT EXISTS s01;
CREATE OR REPLACE FUNCTION s01.rfm_breakpoints_trans(internal, segmentation.behavior, timestamptz) RETURNS internal AS '$libdir/segmentation' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION s01.rfm_breakpoints_combine(internal, internal) RETURNS internal AS '$libdir/segmentation' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE OR REPLACE FUNCTION s01.rfm_breakpoints_serialize(internal) RETURNS bytea AS '$libdir/segmentation' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION s01.rfm_breakpoints_deserialize(bytea, internal) RETURNS internal AS '$libdir/segmentation' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION s01.rfm_breakpoints_final(internal) RETURNS double precision[] AS '$libdir/segmentation' LANGUAGE C IMMUTABLE PARALLEL SAFE;
DROP AGGREGATE IF EXISTS s01.rfm_breakpoints(segmentation.behavior, timestamptz);
CREATE AGGREGATE s01.rfm_breakpoints(b segmentation.behavior, as_of timestamptz) (SFUNC = s01.rfm_breakpoints_trans, STYPE = internal,
  COMBINEFUNC = s01.rfm_breakpoints_combine, SERIALFUNC = s01.rfm_breakpoints_serialize, DESERIALFUNC = s01.rfm_breakpoints_deserialize,
  FINALFUNC = s01.rfm_breakpoints_final, PARALLEL = SAFE);
DROP TABLE IF EXISTS r21_beh;
CREATE TABLE r21_beh AS SELECT u, segmentation.behavior_agg(ts, f, f::float8) b FROM r21_ev GROUP BY u;
INSERT INTO r21_beh SELECT u, b FROM r21_beh, generate_series(1, 30); ANALYZE r21_beh;
SELECT md5(segmentation.rfm_breakpoints(b, '2024-03-01')::text) v02_serial FROM r21_beh;
SELECT md5(s01.rfm_breakpoints(b, '2024-03-01')::text) v01_serial FROM r21_beh;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT s01.rfm_breakpoints(b, '2024-03-01') FROM r21_beh;
SELECT md5(s01.rfm_breakpoints(b, '2024-03-01')::text) v01_parallel FROM r21_beh;
EXPLAIN (COSTS OFF) SELECT segmentation.rfm_breakpoints(b, '2024-03-01') FROM r21_beh;
SELECT md5(segmentation.rfm_breakpoints(b, '2024-03-01')::text) v02_parallel FROM r21_beh;
SELECT md5(string_agg(r::text, ',' ORDER BY g)) v01_grouped_parallel, md5(string_agg(r2::text, ',' ORDER BY g)) v02_grouped_parallel FROM (SELECT u % 7 g, s01.rfm_breakpoints(b, '2024-03-01') r, segmentation.rfm_breakpoints(b, '2024-03-01') r2 FROM r21_beh GROUP BY 1) z;
