-- Managed funnels (sql/77-funnels-managed.sql) on a small data set whose
-- answers can be checked by hand: define_funnel and every refused argument,
-- drop_funnel, funnel_conversion after incremental and full refreshes (late
-- events, strict_order, the segment at step 1, (all)), the earliest chain,
-- and what a reader may and may not do.  test/funnels_managed.py compares
-- every row with a reference on random data.
SET TIME ZONE 'UTC';
SET client_min_messages = warning;
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
CREATE ROLE regress_fm_reader IN ROLE segmentation_reader;
CREATE ROLE regress_fm_admin IN ROLE segmentation_admin;
-- cells of one user, checked by hand: no small-cell suppression until the end
SELECT segmentation.set_setting('min_cell_size', '0');

-- the chain: of the chains that reach the level, the earliest (step 1
-- first, then step 2, ...): from the first view that leads to the cart
-- within the window, not from the last view before it
SELECT segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 00:02, 2024-01-01 00:03}', '{1, 1, 2}', 2, '10 minutes', '');
SELECT segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 00:05, 2024-01-01 00:12}', '{1, 1, 2}', 2, '10 minutes', '');
-- the level is window_funnel's, on the same rows
SELECT segmentation.window_funnel(t, ARRAY[m & 1 <> 0, m & 2 <> 0, m & 4 <> 0], '10 minutes')
FROM unnest('{2024-01-01 00:00, 2024-01-01 00:01, 2024-01-01 00:11}'::timestamptz[], '{1, 2, 4}'::int[]) u(t, m);
SELECT segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 00:01, 2024-01-01 00:11}', '{1, 2, 4}', 3, '10 minutes', '');
-- strict_order: a row of no step (mask 0) ends the scan after step 1
SELECT segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 00:01, 2024-01-01 00:02}', '{1, 0, 2}', 2, '1 hour', 'strict_order');
SELECT segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 00:01, 2024-01-01 00:02}', '{1, 0, 2}', 2, '1 hour', '');
-- strict_once: one row serves one step; two rows at one time serve two
SELECT segmentation._funnel_chain('{2024-01-01 00:00}', '{3}', 2, '1 hour', 'strict_once');
SELECT segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 00:00}', '{3, 3}', 2, '1 hour', 'strict_once');
-- refused
SELECT segmentation._funnel_chain('{2024-01-01}', '{8}', 3, '1 hour', '');
SELECT segmentation._funnel_chain('{2024-01-01}', '{1, 2}', 3, '1 hour', '');
SELECT segmentation._funnel_chain('{2024-01-01}', '{1}', 33, '1 hour', '');

-- the state carried on (_funnel_advance): rows within the window before the
-- latest one are kept, the older ones dropped, with the scan's state where
-- the kept ones begin; view at 00:00 (dropped), view at 05:00, cart at 05:30
SELECT * FROM segmentation._funnel_advance('{2024-01-01 05:30, 2024-01-01 00:00, 2024-01-01 05:00}', '{2, 1, 1}', 3, '1 hour', '', '{}', '{}');
-- carried on with a buy at 05:50: the same chain as from all the rows
SELECT a.new_chain, a.kept_ts, segmentation._funnel_chain('{2024-01-01 00:00, 2024-01-01 05:00, 2024-01-01 05:30, 2024-01-01 05:50}', '{1, 1, 2, 4}', 3, '1 hour', '') AS from_all
FROM segmentation._funnel_advance('{2024-01-01 05:30, 2024-01-01 00:00, 2024-01-01 05:00}', '{2, 1, 1}', 3, '1 hour', '', '{}', '{}') x,
     segmentation._funnel_advance(x.kept_ts || '{2024-01-01 05:50}'::timestamptz[], x.kept_masks || 4, 3, '1 hour', '', x.new_scan, x.new_chain) a;
-- the scan's state says step 2 was reached before the kept rows: under
-- strict_deduplication a cart then ends the scan (and the state keeps no row)
SELECT * FROM segmentation._funnel_advance('{2024-01-01 05:00, 2024-01-01 05:10, 2024-01-01 05:20}', '{1, 2, 4}', 3, '1 hour', 'strict_deduplication', '{4294967299, 0, 0, 0}', '{2024-01-01 00:00, 2024-01-01 00:10}');
-- strict_order: a row of no step after step 1 ends the scan: the answer is final, no row is kept
SELECT * FROM segmentation._funnel_advance('{2024-01-01 00:00, 2024-01-01 00:01, 2024-01-01 00:02}', '{1, 0, 2}', 2, '1 hour', 'strict_order', '{}', '{}');
-- refused
SELECT * FROM segmentation._funnel_advance('{2024-01-01}', '{1}', 2, '1 hour', '', '{0, 0}', '{}');
SELECT * FROM segmentation._funnel_advance('{2024-01-01}', '{1}', 2, '1 hour', '', '{17179869184, 0, 0}', '{}');
SELECT * FROM segmentation._funnel_advance('{2024-01-01}', '{1}', 1, '1 hour', '', '{}', '{2024-01-01, 2024-01-02}');

-- before track(): defining a funnel needs its features only
SELECT segmentation.define_feature('view', '{view, page}');
SELECT segmentation.define_feature('cart', '{cart}');
SELECT segmentation.define_feature('buy', '{buy}');
SELECT segmentation.define_funnel('shop', '{view, cart, buy}', '1 day');
SELECT * FROM segmentation.funnel_conversion;

-- every refused argument
SELECT segmentation.define_funnel('bad', '{view, checkout, buy}', '1 day');
SELECT segmentation.define_funnel('bad', '{}', '1 day');
SELECT segmentation.define_funnel('bad', NULL, '1 day');
SELECT segmentation.define_funnel('bad', '{view, NULL}', '1 day');
SELECT segmentation.define_funnel('bad', array_fill('view'::text, ARRAY[33]), '1 day');
SELECT segmentation.define_funnel('bad', '{{view}, {buy}}', '1 day');
SELECT segmentation.define_funnel('bad', '{view, buy}', '0 seconds');
SELECT segmentation.define_funnel('bad', '{view, buy}', '-1 day');
SELECT segmentation.define_funnel('bad', '{view, buy}', NULL);
SELECT segmentation.define_funnel('bad', '{view, buy}', '1 day', 'strict_ordr');
SELECT segmentation.define_funnel('bad', '{view, buy}', '1 day', 'allow_reentry');
SELECT segmentation.define_funnel('bad', '{view, buy}', '1 day', NULL);
SELECT segmentation.define_funnel('', '{view, buy}', '1 day');
SELECT segmentation.drop_funnel('nope');
-- at most 20 funnels (each costs every full refresh a read of its steps'
-- events); redefining one at the limit is allowed
SELECT count(segmentation.define_funnel('cap' || i, '{view, buy}', '1 day'))
FROM generate_series(1, 20 - (SELECT count(*) FROM segmentation.funnels)::int) i;
SELECT segmentation.define_funnel('cap_over', '{view, buy}', '1 day');
DO $$ BEGIN
	PERFORM segmentation.define_funnel('cap_over', '{view, buy}', '1 day');
EXCEPTION WHEN program_limit_exceeded THEN
	RAISE WARNING 'refused with program_limit_exceeded';
END $$;
SELECT segmentation.define_funnel('cap1', '{view, cart}', '1 day');
SELECT count(*) AS funnels FROM segmentation.funnels;
SELECT count(segmentation.drop_funnel(name)) FROM segmentation.funnels WHERE name LIKE 'cap%';
SELECT name, steps, "window", modes FROM segmentation.funnels ORDER BY id;

-- four users, refreshed on 2024-01-03 and 2024-01-06
--   u1: view, cart 5 minutes later, buy 1 hour later: steps 1-3
--   u2: view, other, cart: 2 steps (strict_order: 1, "other" interrupts)
--   u3: cart only at first; a late view before it arrives after the first refresh
--   u4: page (a view) twice, then buy: step 1 only (no cart)
CREATE TABLE fm_ev (uid bigint, ts timestamptz, name text);
SELECT segmentation.track('fm_ev', 'uid', 'ts', 'name');
SELECT segmentation.define_funnel('shop_order', '{view, cart, buy}', '1 day', 'strict_order');
SELECT segmentation.define_funnel('twice', '{view, view}', '2 days', 'strict_once');
-- users with 3 or more events are "frequent" at each refresh
SELECT segmentation.define_segment('s', 'frequent', 'frequency >= 3');
INSERT INTO fm_ev VALUES
  (1, '2024-01-01 10:00', 'view'), (1, '2024-01-01 10:05', 'cart'), (1, '2024-01-01 11:05', 'buy'),
  (2, '2024-01-01 10:00', 'view'), (2, '2024-01-01 10:30', 'other'), (2, '2024-01-01 10:40', 'cart'),
  (3, '2024-01-02 10:00', 'cart'),
  (4, '2024-01-01 09:00', 'page'), (4, '2024-01-01 12:00', 'page'), (4, '2024-01-02 12:00', 'buy');
SELECT segmentation.refresh(false, '2024-01-03');
SELECT funnel, scheme, segment, step, step_name, users, rate_from_start, rate_from_previous, median_seconds_from_previous, suppressed
FROM segmentation.funnel_conversion ORDER BY funnel, scheme, segment <> '(all)', segment, step;
-- u3's view arrives late, before their cart; u3 is unsegmented at the
-- first refresh (one event), in no stay yet at the time of that view: the
-- first stay after it counts
INSERT INTO fm_ev VALUES (3, '2024-01-02 09:00', 'view'), (3, '2024-01-05 09:00', 'buy');
SELECT segmentation.refresh(false, '2024-01-06');
SELECT funnel, scheme, segment, step, step_name, users, rate_from_start, rate_from_previous, median_seconds_from_previous
FROM segmentation.funnel_conversion ORDER BY funnel, scheme, segment <> '(all)', segment, step;
-- a full refresh gives the same rows
CREATE TEMP TABLE fm_inc AS SELECT * FROM segmentation.funnel_conversion;
SELECT segmentation.refresh(true, '2024-01-06');
SELECT count(*) AS rows, count(*) FILTER (WHERE i IS NULL) AS differ
FROM segmentation.funnel_conversion f LEFT JOIN fm_inc i USING (funnel, scheme, segment, step, step_name, users, rate_from_start, suppressed);

-- redefining a funnel empties its rows until the next refresh (full)
SELECT segmentation.define_funnel('twice', '{view, view}', '1 hour', 'strict_once');
SELECT count(*) FROM segmentation.funnel_conversion WHERE funnel = 'twice';
SELECT segmentation.refresh(false, '2024-01-06');
SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT step, users FROM segmentation.funnel_conversion WHERE funnel = 'twice' AND segment = '(all)' ORDER BY step;

-- opted-out users are left out at once
SELECT segmentation.opt_out('1');
SELECT step, users FROM segmentation.funnel_conversion WHERE funnel = 'shop' AND segment = '(all)' ORDER BY step;
SELECT segmentation.opt_in('1');

-- the reader: the view, suppressed; nothing behind it
SELECT segmentation.set_setting('min_cell_size', '2');
SET ROLE regress_fm_reader;
SELECT funnel, segment, step, users, rate_from_start, median_seconds_from_previous, suppressed
FROM segmentation.funnel_conversion WHERE funnel = 'shop' ORDER BY segment <> '(all)', segment, step;
SELECT * FROM segmentation._funnel_state;
SELECT * FROM segmentation._funnel_rows;
SELECT segmentation.define_funnel('mine', '{view}', '1 day');
SELECT segmentation._funnel_chain('{}', '{}', 1, '1 day', '');
RESET ROLE;
-- the admin defines and drops
SET ROLE regress_fm_admin;
SELECT segmentation.define_funnel('mine', '{view, buy}', '1 day');
SELECT segmentation.drop_funnel('mine');
SELECT * FROM segmentation._funnel_state;
RESET ROLE;

-- drop_funnel: its rows and state go
SELECT segmentation.drop_funnel('shop_order');
SELECT count(*) FROM segmentation.funnel_conversion WHERE funnel = 'shop_order';
SELECT count(*) FROM segmentation._funnel_state s WHERE NOT EXISTS (SELECT FROM segmentation.funnels f WHERE f.id = s.funnel_id);

-- forget_user: the user's state goes, and the counts without them
SELECT segmentation.set_setting('min_cell_size', '0');
SELECT segmentation.forget_user('1');
SELECT count(*) FROM segmentation._funnel_state WHERE user_id = 1;
SELECT step, users FROM segmentation.funnel_conversion WHERE funnel = 'shop' AND segment = '(all)' ORDER BY step;

-- refresh's work tables of funnel rows and of the users whose analysis
-- cells it counts again are the extension's (segmentation._funnel_batch,
-- segmentation._analysis_users): an admin's temporary tables of those
-- names are neither written nor read, with no funnel or with one
SELECT segmentation.drop_funnel(name) FROM segmentation.funnels;
-- (a full refresh first: define_funnel('mine') above made the next one full)
SELECT segmentation.refresh(false, '2024-01-06') > 0 AS refreshed;
SET ROLE regress_fm_admin;
CREATE TEMP TABLE _funnel_batch (user_id bigint, ts timestamptz, event text, replace boolean);
INSERT INTO _funnel_batch VALUES (2, '2024-01-07 10:30', 'buy', true), (3, NULL, NULL, true);
CREATE TEMP TABLE _analysis_users (user_id bigint);
INSERT INTO _analysis_users VALUES (1);
RESET ROLE;
INSERT INTO fm_ev VALUES (2, '2024-01-06 10:00', 'buy');
SET ROLE regress_fm_admin;
SELECT segmentation.refresh(false, '2024-01-07') > 0 AS refreshed;
SELECT segmentation.refresh(true, '2024-01-07') > 0 AS refreshed;
SELECT string_agg(mode, ', ' ORDER BY id) AS modes FROM (SELECT * FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 3) r;
SELECT count(*) AS rows_kept FROM _funnel_batch;
RESET ROLE;
SELECT segmentation.define_funnel('again', '{view, buy}', '1 day');
SET ROLE regress_fm_admin;
SELECT segmentation.refresh(false, '2024-01-07') > 0 AS refreshed;
RESET ROLE;
INSERT INTO fm_ev VALUES (2, '2024-01-07 10:00', 'view'), (2, '2024-01-07 11:00', 'buy');
SET ROLE regress_fm_admin;
-- (not at midnight: the managed analyses' cells are counted again for
-- the users listed in _analysis_users only)
SELECT segmentation.refresh(false, '2024-01-07 12:00') > 0 AS refreshed;
SELECT mode, events_read FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT count(*) AS rows_kept FROM _funnel_batch;
DROP TABLE _funnel_batch, _analysis_users;
RESET ROLE;
SELECT step, users FROM segmentation.funnel_conversion WHERE funnel = 'again' AND segment = '(all)' ORDER BY step;
-- (the cells counted again equal a count of every user's)
CREATE TEMP TABLE fm_cells AS SELECT * FROM segmentation._analysis_rows;
SELECT segmentation._materialize_analyses();
SELECT (SELECT count(*) FROM fm_cells) > 0 AS cells,
       (SELECT count(*) FROM ((TABLE fm_cells EXCEPT ALL SELECT * FROM segmentation._analysis_rows)
                              UNION ALL (SELECT * FROM segmentation._analysis_rows EXCEPT ALL TABLE fm_cells)) x) AS differing;
DROP TABLE fm_cells;

-- a row of no event name is a row of no step: under strict_order it ends
-- a chain, as window_funnel says of the same rows, incremental or full
-- (before session 31 the funnel's state left it out)
SELECT segmentation.define_funnel('strict', '{view, buy}', '1 day', 'strict_order');
SELECT segmentation.refresh(false, '2024-01-08') > 0 AS refreshed;
INSERT INTO fm_ev VALUES (50, '2024-01-08 01:00', 'view'), (50, '2024-01-08 02:00', NULL), (50, '2024-01-08 03:00', 'buy'),
                         (51, '2024-01-08 01:00', 'view'), (51, '2024-01-08 03:00', 'buy');
SELECT segmentation.refresh(false, '2024-01-08 12:00') > 0 AS refreshed;
SELECT s.uid, cardinality(s.chain) AS level FROM (SELECT s.user_id AS uid, s.chain FROM segmentation._funnel_state s
  JOIN segmentation.funnels f ON f.id = s.funnel_id WHERE f.name = 'strict' AND s.user_id IN (50, 51)) s ORDER BY 1;
SELECT e.uid, segmentation.window_funnel(e.ts, ARRAY[coalesce(e.name = 'view', false), coalesce(e.name = 'buy', false)], '1 day', 'strict_order') AS level
FROM fm_ev e WHERE e.uid IN (50, 51) GROUP BY 1 ORDER BY 1;
SELECT segmentation.refresh(true, '2024-01-08 12:00') > 0 AS refreshed;
SELECT s.uid, cardinality(s.chain) AS level FROM (SELECT s.user_id AS uid, s.chain FROM segmentation._funnel_state s
  JOIN segmentation.funnels f ON f.id = s.funnel_id WHERE f.name = 'strict' AND s.user_id IN (50, 51)) s ORDER BY 1;

DROP ROLE regress_fm_reader, regress_fm_admin;
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
DROP TABLE fm_ev;
