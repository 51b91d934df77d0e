-- The managed analyses (sql/75-analyses-managed.sql) on a small data set
-- whose answers can be checked by hand: retention_matrix, lifecycle,
-- stickiness, validate_segments; the accessors behind them; every refused
-- argument; (all) and (unknown) rows; a reader calls them and reads nothing else.
SET TIME ZONE 'UTC';
SET client_min_messages = warning;
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
CREATE ROLE regress_am_reader IN ROLE segmentation_reader;
-- cells of one user, checked by hand: no small-cell suppression here
-- (test/sql/privacy.sql and test/privacy.py test it)
SELECT segmentation.set_setting('min_cell_size', '0');

-- the accessors: periods of the active days (2024-01-01 was a Monday)
SELECT p, segmentation.active_periods(b, p)
FROM (SELECT segmentation.behavior_agg(t) AS b
      FROM unnest('{2024-01-01 00:00, 2024-01-07 23:59:59.999, 2024-01-08, 2024-01-31 12:00, 2024-02-29}'::timestamptz[]) t) s,
     unnest('{day,week,month}'::text[]) p;
SELECT x.* FROM (SELECT segmentation.behavior_agg(t) AS b
                 FROM unnest('{2024-01-01, 2024-01-03, 2024-01-07 23:00, 2024-01-08, 2024-02-29}'::timestamptz[]) t) s,
                segmentation.active_days_per_period(s.b, 'week') x;
-- the calendar's ends: the first month is cut at the first day a date can name
SELECT segmentation.active_periods(segmentation.behavior_agg(t), 'month'), segmentation.active_periods(segmentation.behavior_agg(t), 'week')
FROM unnest('{4714-11-24 00:00:00+00 BC, 294276-12-31 23:59:59+00}'::timestamptz[]) t;
SELECT segmentation.active_periods(segmentation.behavior_agg(now()), 'year');
SELECT segmentation.active_days_per_period(segmentation.behavior_agg(now()), 'Week');

-- before any track(): no rows, no error
SELECT count(*) FROM segmentation.retention_matrix();
SELECT count(*) FROM segmentation.lifecycle('day');
SELECT count(*) FROM segmentation.stickiness('month');

-- six users, refreshed on Monday 2024-01-15 and on Monday 2024-01-29
--   u1: active weeks 1, 2, 4 (2024-01-01, -08, -22), two days in week 1
--   u2: active weeks 1 and 3
--   u3: active week 2 only
--   u4: active weeks 3 and 4, first seen after the first refresh
--   u5: active week 1 only, 5 events
--   u6: active week 4, after the last refresh's as_of, in its week
CREATE TABLE am_ev (uid bigint, ts timestamptz, name text, amount float8);
INSERT INTO am_ev VALUES
	(1, '2024-01-01 10:00', 'view', NULL), (1, '2024-01-02 23:59:59', 'view', NULL), (1, '2024-01-08 00:00', 'buy', 5),
	(2, '2024-01-03 12:00', 'view', NULL),
	(3, '2024-01-09 12:00', 'view', NULL),
	(5, '2024-01-04 09:00', 'view', NULL), (5, '2024-01-04 09:01', 'view', NULL), (5, '2024-01-04 09:02', 'view', NULL),
	(5, '2024-01-05 09:00', 'view', NULL), (5, '2024-01-06 09:00', 'view', NULL);
SELECT segmentation.track('am_ev', 'uid', 'ts', 'name', 'amount');
SELECT segmentation.define_feature('buying', '{buy}');
SELECT segmentation.define_segment('eng', 'heavy', 'frequency >= 3', 20);
SELECT segmentation.define_segment('eng', 'recent', 'recency_days < 7', 10);
SELECT segmentation.define_segment('solo', 'everyone', 'true');
-- tracked, never refreshed: no rows
SELECT count(*) FROM segmentation.retention_matrix('week', 'eng');
SELECT count(*) FROM segmentation.validate_segments('eng', '2024-01-01', '7 days');
SELECT segmentation.refresh(as_of => '2024-01-15') IS NOT NULL AS refreshed;
INSERT INTO am_ev VALUES
	(2, '2024-01-16 12:00', 'view', NULL),
	(4, '2024-01-17 12:00', 'view', NULL), (4, '2024-01-23 12:00', 'view', NULL),
	(1, '2024-01-22 12:00', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-01-29') IS NOT NULL AS refreshed;
INSERT INTO am_ev VALUES (6, '2024-01-30 12:00', 'view', NULL), (6, '2024-02-07 12:00', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-01-29 06:00') IS NOT NULL AS refreshed;
SELECT user_id, segment, entered_at, exited_at FROM segmentation.membership_history WHERE scheme = 'eng' ORDER BY 1, 3;

-- retention: cohorts by first week; week 4 (2024-01-29) is the last reported
-- u6's week-5 day (2024-02-07) is after it and left out
SELECT * FROM segmentation.retention_matrix();
SELECT * FROM segmentation.retention_matrix('week', unbounded => true) WHERE cohort = '2024-01-01';
-- per segment at the start of the cohort week: u1, u2, u5 (week 1) had no
-- stay yet, so the first one they entered (on 2024-01-15) counts; so for u4
-- (week 3, 2024-01-15: the refresh of that day did not know u4 yet), whose
-- first stay began on 2024-01-29
SELECT * FROM segmentation.retention_matrix('week', 'eng') WHERE period_offset <= 1;
-- monthly: January is the month of the last refresh, so u6 counts
SELECT * FROM segmentation.retention_matrix('month', 'eng');

-- lifecycle, weekly: (all) and per segment
SELECT * FROM segmentation.lifecycle();
SELECT * FROM segmentation.lifecycle('week', 'eng') WHERE segment <> '(all)';
SELECT * FROM segmentation.lifecycle('month');

-- stickiness: u1 two days in week 1, u5 three
SELECT * FROM segmentation.stickiness();
SELECT * FROM segmentation.stickiness('month', 'eng');

-- a scheme defined after the last refresh: nobody is in it yet, (unknown)
SELECT segmentation.define_segment('later', 'all', 'true');
SELECT * FROM segmentation.stickiness('month', 'later');

-- validate_segments: members on 2024-01-15 exactly, churn in the 14 days after
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15', '14 days');
SELECT segment, users, outcome_users, rate, homogeneity_p FROM segmentation.validate_segments('eng', '2024-01-15', '14 days', 'active');
-- one segment: nothing to compare with (NULL, never NaN)
SELECT * FROM segmentation.validate_segments('solo', '2024-01-15', '7 days');
SELECT segmentation._chi2_homogeneity('{1}', '{5}') AS one_group, segmentation._chi2_homogeneity('{0,0}', '{5,7}') AS no_outcome,
       segmentation._chi2_homogeneity('{5,7}', '{5,7}') AS all_outcome, segmentation._chi2_homogeneity('{0,1000000}', '{1000000,1000000}') AS far_tail,
       segmentation._chi2_homogeneity('{3,6}', '{10,20}') AS equal_rates;
-- before the first refresh: nobody was a member
SELECT count(*) FROM segmentation.validate_segments('eng', '2024-01-14', '1 day');

-- by feature: u1's cohort is the week of its first buy (2024-01-08); it
-- comes back (any event) in the week of 2024-01-22, never buys again
SELECT * FROM segmentation.retention_matrix('week', NULL, 'buying');
SELECT * FROM segmentation.retention_matrix('week', NULL, 'buying', 'buying', unbounded => true);
-- (no start feature: every user's cohort, retained by a buy: u1 in its week 1)
SELECT * FROM segmentation.retention_matrix('week', NULL, '*', 'buying') WHERE retained_users > 0;
-- outcome a feature: the members of 2024-01-15 who bought in the 7 days
-- after it (no one: u1's only buy was on 2024-01-08)
SELECT segment, users, outcome_users FROM segmentation.validate_segments('eng', '2024-01-15', '7 days', 'buying');

-- refused arguments, each naming what is wrong
\set VERBOSITY default
SELECT * FROM segmentation.retention_matrix('year');
SELECT * FROM segmentation.retention_matrix(NULL);
SELECT * FROM segmentation.retention_matrix('week', 'nope');
SELECT * FROM segmentation.retention_matrix('week', NULL, 'nope');
SELECT * FROM segmentation.retention_matrix('week', NULL, NULL, 'nope');
SELECT * FROM segmentation.retention_matrix('week', NULL, unbounded => NULL);
SELECT * FROM segmentation.lifecycle('quarter');
SELECT * FROM segmentation.lifecycle('week', 'nope');
SELECT * FROM segmentation.stickiness('hour');
SELECT * FROM segmentation.stickiness('week', 'nope');
SELECT * FROM segmentation.validate_segments(NULL, '2024-01-15', '7 days');
SELECT * FROM segmentation.validate_segments('nope', '2024-01-15', '7 days');
SELECT * FROM segmentation.validate_segments('eng', NULL, '7 days');
SELECT * FROM segmentation.validate_segments('eng', 'infinity', '7 days');
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15', NULL);
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15', '0 days');
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15', '-3 days');
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15 10:00', '3 hours');
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15', '7 days', NULL);
SELECT * FROM segmentation.validate_segments('eng', '2024-01-15', '7 days', 'nope');
SELECT * FROM segmentation.validate_segments('eng', '2024-01-30', '1 day');
SELECT * FROM segmentation.validate_segments('eng', '2024-01-20', '14 days');
\set VERBOSITY terse

-- a reader calls every analysis and reads nothing behind them
SET ROLE regress_am_reader;
SELECT count(*) > 0 AS reads_retention FROM segmentation.retention_matrix('day', 'eng');
SELECT count(*) > 0 AS reads_lifecycle FROM segmentation.lifecycle('week', 'eng');
SELECT count(*) > 0 AS reads_stickiness FROM segmentation.stickiness('week', 'eng');
SELECT count(*) AS validate_rows FROM segmentation.validate_segments('eng', '2024-01-15', '14 days');
SELECT count(*) FROM segmentation.profiles;
SELECT count(*) FROM segmentation.membership_history;
SELECT segmentation._period_index('2024-01-01', 'week');
SELECT segmentation._chi2_homogeneity('{1,2}', '{3,4}');
SELECT count(*) FROM segmentation._analysis_rows;
SELECT segmentation._materialize_analyses();
SELECT segmentation._analysis_cells(NULL, NULL, NULL, NULL, NULL, '{}', now(), '{}', '{}', -1, -1, '2000-01-01');
RESET ROLE;
-- the privileges and settings of the four
SELECT p.oid::regprocedure, p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public,
       has_function_privilege('segmentation_reader', p.oid, 'EXECUTE') AS reader,
       has_function_privilege('segmentation_admin', p.oid, 'EXECUTE') AS admin,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p
WHERE p.pronamespace = 'segmentation'::regnamespace
  AND p.proname IN ('retention_matrix', 'lifecycle', 'stickiness', 'validate_segments', 'active_periods',
                    'active_days_per_period', '_chi2_homogeneity', '_period_index', '_period_start', '_analysis_last_period',
                    '_analysis_cells', '_analysis_compute', '_materialize_analyses', '_analysis_cells_for')
ORDER BY 1::text;
SELECT has_table_privilege(r, 'segmentation._analysis_rows', 'SELECT') AS reads_analysis_rows
FROM unnest('{segmentation_reader,segmentation_analyst,segmentation_admin}'::name[]) r;

-- refresh keeps the counts; the internal aggregate that counts them checks
-- what it is given (the owner calls it, from _analysis_compute only)
SELECT period, scheme, kind, sum(users) AS users FROM segmentation._analysis_rows
GROUP BY 1, 2, 3 ORDER BY 1, 2 NULLS FIRST, 3;
SELECT segmentation._analysis_cells(b, '{"s": ["x", "2024-01-01"]}', NULL, NULL, NULL, '{s}', '2024-02-01', '{week}', '{}', -1, -1, '2000-01-01') IS NOT NULL AS counted
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, '{"s": "x"}', NULL, NULL, NULL, '{s}', '2024-02-01', '{week}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, '{2024-01-05,2024-01-04}', '{1,1}', '{a,b}', '{s}', '2024-02-01', '{week}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, '{2024-01-05}', '{2}', '{a}', '{s}', '2024-02-01', '{week}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, '{2024-01-05}', NULL, '{a}', '{s}', '2024-02-01', '{week}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, '{2024-01-05}', '{1}', '{a,b}', '{s}', '2024-02-01', '{week}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, NULL, NULL, NULL, '{}', '2024-02-01', '{week,fortnight}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, NULL, NULL, NULL, '{}', '2024-02-01', '{week,week}', '{}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, NULL, NULL, NULL, '{}', '2024-02-01', '{}', '{day}', 3, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, NULL, NULL, NULL, '{}', 'infinity', '{}', '{day}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, NULL, NULL, NULL, '{s,NULL}', '2024-02-01', '{}', '{day}', -1, -1, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
SELECT segmentation._analysis_cells(b, NULL, NULL, NULL, NULL, '{}', '2024-02-01', '{}', '{day}', -1, -2, '2000-01-01')
FROM (SELECT segmentation.behavior_agg('2024-01-03'::timestamptz) b) x;
-- one user (2024-01-03, a Wednesday; and 2024-01-15) in segment a until
-- 2024-01-10, then b: by week as of 2024-01-20, new in the week of 1 January
-- (in a), dormant in the week of 8 January (at its start: still in a), resurrecting
-- in the week of 15 January (b)
SELECT (SELECT array_agg(x ORDER BY x) FROM unnest(c.periods, c.schemes, c.segments, c.kinds, c.starts, c.ks, c.users)
        x(p, s, seg, kind, start, k, users)) AS cells
FROM (SELECT (segmentation._analysis_cells(b, '{"s": ["b", "2024-01-10"]}', '{2024-01-10}', '{1}', '{a}', '{s}', '2024-01-20', '{week}', '{week}', -1, -1, '2000-01-01')).* AS c
      FROM (SELECT segmentation.behavior_agg(t) b FROM unnest('{2024-01-03,2024-01-15}'::timestamptz[]) t) x) c;

-- The state is a real type (Citus ships it between nodes as text): its text
-- form is anyone's to write, so every field is checked.  A state of one
-- scheme, retention by week, as of 2024-02-01 since 2023-01-01: (all)
-- cohort of 2024-01-01 7 users; in segment a 5, retained at offset 1 3
SELECT (SELECT array_agg(x ORDER BY x) FROM unnest(c.periods, c.schemes, c.segments, c.kinds, c.starts, c.ks, c.users)
        x(p, s, seg, kind, start, k, users)) AS cells, round_trip
FROM (SELECT (segmentation._analysis_cells_final(s)).*, s::text = '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000030000223e00000000000000020001010000000000000000050000223e00000001000000020001010100000000000000030000223e0000000000000000000001000000000000000007' AS round_trip
FROM (SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000030000223e00000000000000020001010000000000000000050000223e00000001000000020001010100000000000000030000223e0000000000000000000001000000000000000007'::segmentation._analysis_cells_state s) x) c;
-- the same cell twice: counted together
SELECT (segmentation._analysis_cells_final('\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000020000223e00000000000000020001010000000000000000050000223e0000000000000002000101000000000000000004')).users;
-- refused: another version, a kind out of range, a segment name index out
-- of range, a cell count that does not match the length, a name that is
-- not valid text, the first names not (all) and (unknown), a count past
-- bigint, no names at all, the value cut short, not hex
\set VERBOSITY default
SELECT '\x02000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000030000223e00000000000000020001010000000000000000050000223e00000001000000020001010100000000000000030000223e0000000000000000000001000000000000000007'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000010000223e0000000000000002000101090000000000000005'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000010000223e0000000000000003000101000000000000000005'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000040000223e00000000000000020001010000000000000000050000223e00000001000000020001010100000000000000030000223e0000000000000000000001000000000000000007'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e2900000002fffe0000000000000000'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000020000000928756e6b6e6f776e290000000528616c6c290000000000000000'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000020000223e0000000000000002000101007fffffffffffffff0000223e0000000000000002000101000000000000000001'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000000000000000000000'::segmentation._analysis_cells_state;
SELECT '\x01000000010000000100000001000000000000225d000020d1ffffffffffffffff000000030000000528616c6c290000000928756e6b6e6f776e29000000016100000000000000030000223e00000000000000020001010000000000000000050000223e00000001000000020001010100000000000000030000223e000000000000000000000100000000'::segmentation._analysis_cells_state;
SELECT 'cells'::segmentation._analysis_cells_state;
\set VERBOSITY terse

-- An incremental refresh changes the counts by the users whose cells can
-- change: a cell no user has (a sentinel) stays through it, and a full
-- refresh counts everything again (test/pipeline.py checks the counts
-- against a recount after every refresh of its random workloads)
-- (the scheme "later" is new: the first refresh counts everything)
SELECT segmentation.refresh(as_of => '2024-01-29 07:00') IS NOT NULL AS refreshed;
INSERT INTO segmentation._analysis_rows VALUES ('week', NULL, '(all)', 4, '2023-06-05', 7, 99);
INSERT INTO am_ev VALUES (3, '2024-01-29 03:00', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-01-29 07:30') IS NOT NULL AS refreshed;
SELECT users AS sentinel FROM segmentation._analysis_rows WHERE start = '2023-06-05';
SELECT * FROM segmentation.lifecycle('day', 'eng') WHERE period_start = '2024-01-29';
SELECT segmentation.refresh(true, '2024-01-29 07:30') IS NOT NULL AS refreshed;
SELECT count(*) AS sentinel FROM segmentation._analysis_rows WHERE start = '2023-06-05';
SELECT * FROM segmentation.lifecycle('day', 'eng') WHERE period_start = '2024-01-29';

-- The analyses reach back analysis_horizon (default 2 years) from the last
-- refresh: events spread over thousands of years (an application that
-- writes to a tracked table can) add no cell before it, so a refresh
-- counts no more cells than that span holds (review 22, F1: 300,000 events
-- a week apart from 4000 BC made a refresh write 34M rows, 600,000 fail)
SELECT segmentation.set_setting('analysis_horizon', '1 week');
SELECT segmentation.set_setting('analysis_horizon', '4 years');
SELECT segmentation.set_setting('analysis_horizon', '8 weeks');
INSERT INTO am_ev SELECT 7, '4000-01-01 BC'::timestamptz + make_interval(weeks => w), 'view', NULL FROM generate_series(0, 2000) w;
INSERT INTO am_ev VALUES (7, '2023-12-27 12:00', 'view', NULL), (7, '2023-11-01 12:00', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-01-29 08:00') IS NOT NULL AS refreshed;
SELECT period, min(start), count(*) AS cells FROM segmentation._analysis_rows GROUP BY 1 ORDER BY 1;
SELECT period_start, status, users FROM segmentation.lifecycle('month') ORDER BY 1, 2;
SELECT cohort, period_offset, cohort_users, retained_users FROM segmentation.retention_matrix('month') ORDER BY 1, 2;
SELECT min(cohort) FROM segmentation.retention_matrix('day');
DELETE FROM am_ev WHERE uid = 7;
SELECT segmentation.set_setting('analysis_horizon', NULL);
SELECT segmentation.refresh(as_of => '2024-01-29 09:00') IS NOT NULL AS refreshed;
SELECT period, min(start), count(*) AS cells FROM segmentation._analysis_rows GROUP BY 1 ORDER BY 1;

-- A dropped scheme is not counted by refresh: transitions keep its stays (for
-- ever by default), and counting every scheme ever dropped made each refresh
-- cost more with every drop (review 22, F2; here, the history of 10,001
-- dropped schemes, written as refresh would have)
SELECT segmentation.drop_segment('solo', 'everyone');
SELECT segmentation.refresh(as_of => '2024-02-05') IS NOT NULL AS refreshed;
SELECT count(*) AS solo_rows FROM segmentation._analysis_rows WHERE scheme = 'solo';
INSERT INTO segmentation.transitions (run_id, scheme, user_id, from_segment, from_entered_at, to_segment, at)
SELECT 1, 'gone' || i, 1, 'x', '2024-01-15', NULL, '2024-02-05' FROM generate_series(1, 10001) i;
SELECT segmentation.refresh(as_of => '2024-02-05') IS NOT NULL AS refreshed;
DELETE FROM segmentation.transitions t WHERE t.scheme LIKE 'gone%';
-- defined again before a refresh, its old stays are counted when called:
-- everyone until the drop (2024-02-05 00:00), (unknown) from then on
SELECT segmentation.define_segment('solo', 'everyone', 'true');
SELECT * FROM segmentation.lifecycle('week', 'solo');
SELECT * FROM segmentation.retention_matrix('month', 'solo', unbounded => true);
SELECT * FROM segmentation.stickiness('week', 'solo') WHERE segment <> '(all)';
SELECT segmentation.refresh(as_of => '2024-02-05') IS NOT NULL AS refreshed;

-- parallel plans count the same cells (_analysis_cells' combine, its states
-- passed from the workers flat): 20,000 users in two segments, a table
-- large enough that each worker takes part of it (and the leader none: it
-- would take every row before they start); the digest of every cell,
-- serial, then under a parallel plan
CREATE TABLE am_par AS
SELECT u AS user_id, segmentation.behavior_agg(t) AS behavior,
       jsonb_build_object('s', jsonb_build_array(CASE WHEN u % 3 = 0 THEN 'a' ELSE 'b' END, '2024-01-01')) AS segments
FROM generate_series(1, 20000) u,
     LATERAL (VALUES ('2024-01-01'::timestamptz + (u % 50) * interval '1 day'),
                     ('2024-01-01'::timestamptz + (u % 70) * interval '1 day' + interval '3 hours')) e(t)
GROUP BY u;
ANALYZE am_par;
SET max_parallel_workers_per_gather = 0;
SELECT count(*) AS cells, sum(u.users) AS users, md5(string_agg(u::text, ',' ORDER BY u::text)) AS digest
FROM (SELECT segmentation._analysis_cells(p.behavior, p.segments, NULL, NULL, NULL, '{s}', '2024-04-01',
                                          '{day,week,month}', '{day,week,month}', -1, -1, '2000-01-01') AS x FROM am_par p) a,
     unnest((a.x).periods, (a.x).schemes, (a.x).segments, (a.x).kinds, (a.x).starts, (a.x).ks, (a.x).users) u(p, s, seg, kind, start, k, users);
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT segmentation._analysis_cells(p.behavior, p.segments, NULL, NULL, NULL, '{s}', '2024-04-01',
                                    '{day,week,month}', '{day,week,month}', -1, -1, '2000-01-01') FROM am_par p;
SELECT count(*) AS cells, sum(u.users) AS users, md5(string_agg(u::text, ',' ORDER BY u::text)) AS digest
FROM (SELECT segmentation._analysis_cells(p.behavior, p.segments, NULL, NULL, NULL, '{s}', '2024-04-01',
                                          '{day,week,month}', '{day,week,month}', -1, -1, '2000-01-01') AS x FROM am_par p) a,
     unnest((a.x).periods, (a.x).schemes, (a.x).segments, (a.x).kinds, (a.x).starts, (a.x).ks, (a.x).users) u(p, s, seg, kind, start, k, users);
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET parallel_leader_participation;
DROP TABLE am_par;

-- the answers do not depend on the session's time zone
SET TIME ZONE 'Pacific/Kiritimati';
SELECT * FROM segmentation.lifecycle('day') WHERE period_start BETWEEN '2024-01-01' AND '2024-01-03';
SET TIME ZONE 'UTC';

-- An incremental refresh counts with the horizon the kept rows were
-- counted with, on the UTC calendar (review 23): set from '360 days' to
-- '1 year' (equal for =, five days apart), or refreshed in a session of
-- another time zone, it left the days in between counted for the users of
-- its batch only; and a horizon with a negative part is refused (it passed
-- the bounds, which count a month as 30 days, and reached back decades)
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
CREATE TABLE am_hz (uid bigint, ts timestamptz, name text, amount float8);
INSERT INTO am_hz SELECT u, '2023-01-01 10:00'::timestamptz + u * interval '1 day', 'view', NULL FROM generate_series(1, 20) u;
INSERT INTO am_hz SELECT 100 + u, '2024-10-15 10:00'::timestamptz + u * interval '1 day', 'view', NULL FROM generate_series(1, 20) u;
SELECT segmentation.track('am_hz', 'uid', 'ts', 'name', 'amount');
SELECT segmentation.define_segment('s', 'everyone', 'true');
CREATE TEMP TABLE am_kept AS SELECT * FROM segmentation._analysis_rows WITH NO DATA;
CREATE FUNCTION pg_temp.am_differ() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	TRUNCATE am_kept;
	INSERT INTO am_kept SELECT * FROM segmentation._analysis_rows;
	PERFORM segmentation._materialize_analyses();
	SELECT count(*) INTO n FROM ((TABLE am_kept EXCEPT ALL TABLE segmentation._analysis_rows)
	                             UNION ALL (TABLE segmentation._analysis_rows EXCEPT ALL TABLE am_kept)) d;
	-- (the kept rows back)
	DELETE FROM segmentation._analysis_rows;
	INSERT INTO segmentation._analysis_rows SELECT * FROM am_kept;
	RETURN n;
END $$;
SELECT segmentation.set_setting('analysis_horizon', '360 days');
SELECT segmentation.refresh(as_of => '2024-01-03 12:00') IS NOT NULL AS refreshed;
SELECT segmentation.set_setting('analysis_horizon', '1 year');
INSERT INTO am_hz VALUES (5, '2024-01-03 12:30', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-01-03 13:00') IS NOT NULL AS refreshed;
SELECT pg_temp.am_differ() AS differ;
-- 2024-11-20 00:30 UTC less 4 weeks: 2024-10-23 in UTC, 2024-10-22 in New York
SELECT segmentation.set_setting('analysis_horizon', '4 weeks');
SELECT segmentation.refresh(as_of => '2024-11-20 00:30') IS NOT NULL AS refreshed;
SET TIME ZONE 'America/New_York';
INSERT INTO am_hz VALUES (107, '2024-11-20 00:40+00', 'view', NULL);
SELECT segmentation.refresh(as_of => '2024-11-20 00:50+00') IS NOT NULL AS refreshed;
SELECT pg_temp.am_differ() AS differ;
SET TIME ZONE 'UTC';
SELECT pg_temp.am_differ() AS differ;
SELECT period, min(start) FROM segmentation._analysis_rows GROUP BY 1 ORDER BY 1;
SELECT segmentation.set_setting('analysis_horizon', '70000 mons -2099972 days');
SELECT segmentation.set_setting('analysis_horizon', '1 mon -2 days');
SELECT value FROM segmentation.settings WHERE name = 'analysis_horizon';
DROP TABLE am_hz;

DROP ROLE regress_am_reader;
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
DROP TABLE am_ev;
