-- bench/suppress_schemes_direct.sql: _suppress_schemes called directly on
-- :c combinations of :s schemes of 5 segments each (segment j of a scheme
-- holds about 2^j shares: sizes differ, as real segments' do), 1 to 3 users
-- per combination.  Run in a database with the extension:
--   psql -X -d DB -v c=COMBINATIONS -v s=SCHEMES -f bench/suppress_schemes_direct.sql
\set ON_ERROR_STOP 1
SELECT setseed(0.5);
CREATE TEMP TABLE z AS
SELECT array_agg(x.c) AS combos, array_agg(x.n) AS users
FROM (SELECT (SELECT jsonb_object_agg('s' || j, 'g' || floor(log(2.0, (1 + 31 * random())::numeric))::int)
              FROM generate_series(1, :s) j WHERE i > 0) AS c,
             1 + floor(3 * random())::bigint AS n
      FROM generate_series(1, :c) i) x;
\timing on
SELECT count(*) AS segments, count(*) FILTER (WHERE suppressed) AS suppressed
FROM z, segmentation._suppress_schemes(z.combos, z.users, NULL, NULL, 10);
\timing off
