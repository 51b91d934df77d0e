SET search_path = segmentation, public;
SET statement_timeout = '1s';
\timing on
-- 1024 atoms (the longest pattern allowed) that never match: 1020 x '.' then (?2), which no row has:
-- one EarliestEnd call, natoms * n steps and natoms * n * 4 bytes, no CHECK_FOR_INTERRUPTS inside
SELECT sequence_count(t, ARRAY[true, false], repeat('.', 1020) || '(?2)') FROM generate_series(1, 300000) g, LATERAL (SELECT '2020-01-01'::timestamptz + g * interval '1 s') x(t);
