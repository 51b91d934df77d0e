-- Attacks on the privilege model (issue 13, DESIGN section 7), each performed
-- as the role that would try it: a reader, an admin, a role with no
-- segmentation role at all.  The attacker's payload, regress_att.pwn(),
-- records whoever ran it and makes the attacker a superuser when it runs with
-- a superuser's rights: at the end, it must have run as nobody but the
-- attacker, and the attacker must not be a superuser.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';

CREATE ROLE regress_att_reader IN ROLE segmentation_reader;
CREATE ROLE regress_att_admin IN ROLE segmentation_admin;
CREATE ROLE regress_att_nobody;
CREATE ROLE regress_att_analyst IN ROLE segmentation_analyst;
CREATE SCHEMA regress_att AUTHORIZATION regress_att_admin;
CREATE TABLE att_events (uid bigint, ts timestamptz, ev text, amount float8);
GRANT SELECT, TRIGGER ON att_events TO regress_att_admin;
INSERT INTO att_events SELECT u, '2024-04-01'::timestamptz + u * interval '1 hour', 'view', u
FROM generate_series(1, 20) u;

SET ROLE regress_att_admin;
CREATE TABLE regress_att.pwned (who name, how text);
GRANT ALL ON regress_att.pwned TO PUBLIC;
CREATE FUNCTION regress_att.pwn(how text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	-- (a WARNING, as well as a row: a failing refresh rolls the row back)
	RAISE WARNING 'payload % ran as %', how, current_user;
	INSERT INTO regress_att.pwned VALUES (current_user, how);
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE regress_att_admin SUPERUSER';
	END IF;
	RETURN true;
END $$;
SELECT segmentation.track('att_events', 'uid', 'ts', 'ev', 'amount');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-01') IS NOT NULL AS refreshed;

-- 1. A reader cannot call the internal functions (which once put any value
-- into a row of any relation: a crash or a read of server memory) ...
SET ROLE regress_att_reader;
SELECT segmentation._assign_segments('x'::text, NULL::segmentation.behavior, '{}', now(), '{}', NULL, '{}', '{}',
       'pg_class'::regclass, true, now(), NULL);
SELECT segmentation.check_predicate('true', 'segmentation.scores', 'segmentation', '{}');
SELECT segmentation._sources_sql(true);
SELECT segmentation._create_state('bigint');
RESET ROLE;
-- ... and every C function checks what it is handed, whoever calls it
SELECT segmentation._assign_segments('x'::text, b, '{}', '2024-05-01', '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}', '{s}', '{"''a''"}',
       'segmentation.scores', true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')
FROM (SELECT segmentation.behavior_agg('2024-04-01'::timestamptz) b) x;
SELECT segmentation._assign_segments(1::bigint, b, '{}', '2024-05-01', '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}', '{s}', '{"''a''"}',
       'pg_class', true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')
FROM (SELECT segmentation.behavior_agg('2024-04-01'::timestamptz) b) x;
SELECT segmentation._assign_segments(1::int, b, '{}', '2024-05-01', '{}', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}', '{s}', '{"''a''"}',
       'segmentation.scores', true, '2024-05-01', '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')
FROM (SELECT segmentation.behavior_agg('2024-04-01'::timestamptz) b) x;
SELECT segmentation.check_predicate('true', 'pg_class', 'pg_catalog', '{}');
SELECT segmentation.check_predicate('true', 'segmentation.scores', 'public', '{}');
-- what a role with no segmentation role may execute is the C core, by name;
-- a reader may also read the experiment readout; nothing else
SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) AS executable_by_public
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
  AND has_function_privilege('regress_att_nobody', p.oid, 'EXECUTE');
SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) AS also_executable_by_readers
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
  AND has_function_privilege('regress_att_reader', p.oid, 'EXECUTE')
  AND NOT has_function_privilege('regress_att_nobody', p.oid, 'EXECUTE');
SELECT count(*) AS internal_functions_executable_by_public
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname LIKE '\_%'
  AND has_function_privilege('regress_att_nobody', p.oid, 'EXECUTE');
-- analysts also list a segment's members (raw ids through _members_raw);
-- admins also configure, refresh, erase and opt out
SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) AS also_executable_by_analysts
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
  AND has_function_privilege('regress_att_analyst', p.oid, 'EXECUTE')
  AND NOT has_function_privilege('regress_att_reader', p.oid, 'EXECUTE');
SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) AS also_executable_by_admins
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
  AND has_function_privilege('regress_att_admin', p.oid, 'EXECUTE')
  AND NOT has_function_privilege('regress_att_analyst', p.oid, 'EXECUTE');
SELECT string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) AS analysts_only_not_admins
FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace
  AND has_function_privilege('regress_att_analyst', p.oid, 'EXECUTE')
  AND NOT has_function_privilege('regress_att_admin', p.oid, 'EXECUTE');
-- what each role may read: a reader the aggregate views only; an analyst
-- the per-user results too (not profiles, which keep opted-out users'
-- behavior); nobody but the owner the key or the hashes of forgotten and
-- opted-out users
SELECT r.role, string_agg(c.relname, ' ' ORDER BY c.relname) AS readable
FROM (VALUES ('regress_att_nobody'), ('regress_att_reader'), ('regress_att_analyst'), ('regress_att_admin')) r(role)
CROSS JOIN pg_class c
WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'v', 'p', 'm')
  AND has_table_privilege(r.role, c.oid, 'SELECT')
GROUP BY r.role ORDER BY min(c.relname), r.role;
SELECT count(*) AS readable_key_or_hashes
FROM (VALUES ('regress_att_nobody'), ('regress_att_reader'), ('regress_att_analyst'), ('regress_att_admin')) r(role)
CROSS JOIN unnest(ARRAY['segmentation._pseudonym_key', 'segmentation.forgotten_users', 'segmentation.opt_outs']) t(rel)
WHERE has_table_privilege(r.role, t.rel, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER');

-- 2. An admin cannot make refresh (a superuser, through pg_cron) run code of
-- theirs through a predicate: a literal of their domain runs the domain's
-- CHECK while it is parsed, so type names are checked before parsing
SET ROLE regress_att_admin;
CREATE DOMAIN regress_att.d AS int[] CHECK (regress_att.pwn('domain check'));
SELECT segmentation.define_segment('s', 'a', $$'{1}'::regress_att.d IS NOT NULL$$);
SELECT segmentation.define_segment('s', 'a', $$CAST('{"{1}"}' AS regress_att.d[]) IS NOT NULL$$);
SELECT segmentation.define_segment('s', 'a', $$'{"{1}"}'::regress_att.d[] IS NOT NULL$$);
SELECT segmentation.define_segment('s', 'a', $$regress_att.d('{1}') IS NOT NULL$$);
SET search_path = regress_att, public;
SELECT segmentation.define_segment('s', 'a', $$d '{1}' IS NOT NULL$$);
SELECT segmentation.define_segment('s', 'a', $$pwn('unqualified') AND frequency > 0$$);
SELECT segmentation.define_segment('s', 'a', $$frequency OPERATOR(regress_att.=) 1$$);
RESET search_path;
-- nor through _create_state, which admins may call: a user id type of theirs
-- (its CHECK would run in every capture) is refused, the state made or not
CREATE DOMAIN regress_att.uid AS bigint CHECK (regress_att.pwn('user id domain'));
SELECT segmentation._create_state('regress_att.uid');
-- nor by writing the segments table directly: only the define functions write it
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('s', 'forged', $$'{1}'::regress_att.d IS NOT NULL$$, 'true');
UPDATE segmentation.segments SET predicate = 'false';
RESET ROLE;
-- and were it written anyway (a tampered dump restored), refresh checks every
-- predicate again, before parsing it (0.1 parsed it, and the array literal
-- ran the domain's CHECK as the superuser running refresh)
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('s', 'forged', $$'{"{1}"}'::regress_att.d[] IS NOT NULL$$, 'true');
DO $$
BEGIN
	PERFORM segmentation.refresh(as_of => '2024-05-02');
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'refresh failed: %', SQLERRM;
END $$;
DELETE FROM segmentation.segments WHERE name = 'forged';

-- 8. nor stall it: predicates are bounded in size and use cheap built-ins only
SET ROLE regress_att_admin;
SELECT segmentation.define_segment('s', 'a', 'length(repeat(frequency::text, 30000000)) > 0');
SELECT segmentation.define_segment('s', 'a', $$length(replace(replace(frequency::text, '1', '1111111111'), '1', '1111111111')) > 0$$);
SELECT segmentation.define_segment('s', 'a', 'frequency::numeric * 1e100000 * 1e30000 > 0');
SELECT segmentation.define_segment('s', 'a', 'frequency / 1e100000 > 0');
SELECT segmentation.define_segment('s', 'a', 'power(frequency::numeric, 1e5) > 0');
SELECT segmentation.define_segment('s', 'a', $$rfm_cell ~ '^(a+)+$'$$);
SELECT segmentation.define_segment('s', 'a', $$rfm_cell SIMILAR TO '5%'$$);
-- (functions are allowed by their exact entry, not by name: substring(text, text) is a regex)
SELECT segmentation.define_segment('s', 'a', $$substring(rfm_cell, '^(.*)(.*)\2\1$') IS NULL$$);
SELECT segmentation.define_segment('s', 'a', $$substring(rfm_cell, '5%', '#') IS NULL$$);
-- (nor array containment or overlap, which compare every element with every other)
SELECT segmentation.define_segment('s', 'a', $$ARRAY[active_days, 0, 0] && ARRAY[1, 1, 1]$$);
SELECT segmentation.define_segment('s', 'a', 'frequency > ' || repeat('1 + ', 5000) || '1');
-- (nor what costs the product of two lengths: trimming a set of characters,
-- a LIKE pattern that is not a short constant)
SELECT segmentation.define_segment('s', 'a', $$btrim(rfm_cell || '$$ || repeat('a', 4000) || $$', '$$ || repeat('b', 4000) || $$a') = ''$$);
SELECT segmentation.define_segment('s', 'a', $$rfm_cell || '$$ || repeat('a', 4000) || $$' LIKE '%$$ || repeat('a', 2000) || $$b%'$$);
SELECT segmentation.define_segment('s', 'a', $$'abc' LIKE rfm_cell$$);
SELECT segmentation.define_segment('s', 'a', $$rfm_cell LIKE ANY (ARRAY['1%', '2%'])$$);
SELECT segmentation.define_segment('s', 'a', $$strpos(rfm_cell || '$$ || repeat('0', 4000) || $$', '1$$ || repeat('0', 2000) || $$') > 0$$);
SELECT segmentation.define_segment('s', 'a', $$strpos('abc', rfm_cell) > 0$$);
SELECT segmentation.define_segment('s', 'a', $$right(round(recency_days::numeric, 16383)::text, 16000) = ''$$);
SELECT segmentation.define_segment('s', 'a', $$recency_days::numeric > 1e20000$$);
-- (nor a cast of text to numeric, whose input reads '9e131071' as 131,072 digits:
-- of a constant, of a constant expression, or of a column, once per user)
SELECT segmentation.define_segment('s', 'a', $$strpos(rfm_cell || '9e131071'::text::numeric::text, '1$$ || repeat('0', 99) || $$') > 0$$);
SELECT segmentation.define_segment('s', 'a', $$('9e' || '131071')::numeric > frequency$$);
SELECT segmentation.define_segment('s', 'a', $$strpos((rfm_cell || 'e131071')::numeric::text, '1$$ || repeat('0', 99) || $$') > 0$$);
-- (nor what nests linear functions: lower() 700 deep around a 4,000-byte
-- string lowered 2.8 MB per user at every refresh: review eight)
SELECT segmentation.define_segment('s', 'a', repeat('lower(', 700) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 700) || ' = ''x''');
SELECT segmentation.define_segment('s', 'a', repeat('upper(', 40) || 'rfm_cell || ''' || repeat('A', 5000) || '''' || repeat(')', 40) || ' = ''x''');
SELECT segmentation.define_segment('s', 'a', $$rfm_cell || '$$ || repeat('a', 3000) || $$' LIKE '%$$ || repeat('a', 90) || $$b%'$$);
-- (what folds to a constant costs nothing per user)
SELECT segmentation.define_segment('s', 'a', repeat('lower(', 700) || '''' || repeat('A', 4000) || '''' || repeat(')', 700) || ' = rfm_cell');
SELECT segmentation.drop_segment('s', 'a');
-- (nor many segments, each within that bound: a user who matches none is
-- checked against every one, in every scheme; review nine: 200 segments of
-- lower() 44 deep took refresh of 100 users from 0.01 s to 23 s.  A scheme's
-- segments may cost 1,000,000 together, every scheme's 2,000,000, a scheme
-- has at most 100 segments)
SELECT segmentation.define_segment('cost', 'c' || g, repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''')
FROM generate_series(1, 5) g;
SELECT segmentation.define_segment('cost', 'c6', repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''');
SELECT segmentation.define_segment('cost', 'c1', 'frequency > 1');
SELECT segmentation.define_segment('cost', 'c6', repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''');
SELECT scheme, count(*), sum(cost) <= 1000000 AS within FROM segmentation.segments WHERE scheme = 'cost' GROUP BY 1;
SELECT segmentation.define_segment('cost2', 'c' || g, repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''')
FROM generate_series(1, 5) g;
SELECT segmentation.define_segment('cost3', 'c1', repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''');
SELECT count(*) AS dropped FROM (SELECT segmentation.drop_segment(scheme, name) FROM segmentation.segments WHERE scheme IN ('cost', 'cost2')) d;
-- (and refresh counts again what the stored segments cost: rows written by
-- hand, by a superuser, that define_segment would refuse stop it)
RESET ROLE;
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
SELECT 'cost', 'c' || g, p, segmentation.check_predicate(p, 'segmentation.scores', 'segmentation', segmentation._feature_names())
FROM generate_series(1, 6) g,
     LATERAL (SELECT repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''' AS p) x;
SELECT segmentation.refresh(as_of => '2024-05-02');
DELETE FROM segmentation.segments WHERE scheme = 'cost';
SET ROLE regress_att_admin;
SELECT count(*) AS defined FROM (SELECT segmentation.define_segment('many', 'm' || g, 'frequency > ' || g) FROM generate_series(1, 100) g) d;
SELECT segmentation.define_segment('many', 'm101', 'frequency > 101');
SELECT segmentation.define_segment('many', 'm100', 'frequency > 1000');
SELECT count(*) AS dropped FROM (SELECT segmentation.drop_segment('many', name) FROM segmentation.segments WHERE scheme = 'many') d;
-- (nor at REPEATABLE READ, whose snapshot is older than the definers' lock:
-- review ten stored 200 segments in a scheme from two sessions that way)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT segmentation.define_segment('s', 'rr', 'true');
ROLLBACK;
-- (and what is stored, printed back, is within the limit refresh checks again)
SELECT segmentation.define_segment('s', 'a', 'frequency > ' || repeat('1+', 3000) || '1');
-- short ones are fine
SELECT segmentation.define_segment('s', 'a', $$strpos(rfm_cell, '5') > 0 AND round(recency_days::numeric, 2) > 1$$);
SELECT segmentation.drop_segment('s', 'a');
-- nor depend on who runs it: casts that read the session's settings are refused,
-- and literals are read in UTC whatever the definer's time zone
SELECT segmentation.define_segment('s', 'a', $$last_seen::text LIKE '2024%'$$);
-- (floats print by extra_float_digits, though their output function is
-- marked immutable: review 15)
SELECT segmentation.define_segment('s', 'a', $$monetary::text = '1234567.12345679'$$);
SET TIME ZONE 'America/New_York';
SELECT segmentation.define_segment('s', 'tz', $$last_seen >= '2024-04-01 00:00'$$);
RESET TIME ZONE;
SET TIME ZONE 'UTC';
SELECT checked_predicate FROM segmentation.segments WHERE name = 'tz';
-- what is allowed still reads as before
SELECT segmentation.define_segment('s', 'ok', $$frequency > 1.5 AND rfm_cell LIKE '5%' AND 'x' = ANY (features_used) IS NOT TRUE
                                            AND greatest(recency_days, 0) < 30 AND coalesce(monetary, 0) >= 0
                                            AND round(recency_days) IN (1, 2, 3) IS NOT NULL AND last_seen > '2024-01-01'
                                            AND array_position(features_used, 'x') > 0 AND cardinality(features_used) > 0
                                            AND substring(rfm_cell, 1, 1) = '5'$$);
SELECT checked_predicate FROM segmentation.segments WHERE scheme = 's';
-- nor on how the definer's session parses text (review eight: refresh, under
-- the default settings, read 'a\nb' and x = NULL otherwise, and stopped);
-- and a scheme may hold predicates that add up to more than one may be
SET standard_conforming_strings = off;
SET transform_null_equals = on;
SET array_nulls = off;
SELECT segmentation.define_segment('parse', 'a', $$rfm_cell <> 'a\nb' AND (rfm_cell = NULL) IS NULL AND '{NULL}'::text[] <> features_used$$);
RESET standard_conforming_strings;
RESET transform_null_equals;
RESET array_nulls;
SELECT segmentation.define_segment('parse', 'b' || g, '(rfm_cell <> ''' || repeat('x', 5100) || ''')', g) FROM generate_series(1, 2) g;
SELECT name, left(checked_predicate, 80) FROM segmentation.segments WHERE scheme = 'parse' ORDER BY name;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-02') IS NOT NULL AS refreshed;
SELECT count(*) AS in_parse_a FROM segmentation.memberships WHERE scheme = 'parse' AND segment = 'a';
SET ROLE regress_att_admin;
SELECT segmentation.drop_segment('parse', name) FROM segmentation.segments WHERE scheme = 'parse';

-- 9. ';' and '--' inside a string literal, and a comment at the end, are fine
SELECT segmentation.define_segment('s', 'quoted', $$rfm_cell <> 'a;b' AND rfm_cell <> 'c--d' -- a comment$$);
SELECT segmentation.define_feature('page--view', '{page_view}');
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signed_up', activation_event => 'page_view');
SELECT predicate FROM segmentation.segments WHERE scheme = 'lifecycle' AND name = 'activated';
-- names the views use for their own rows are reserved; scheme names must fit a column name
SELECT segmentation.define_segment('s', '(all)', 'true');
SELECT segmentation.define_segment('(unknown)', 'a', 'true');
SELECT segmentation.define_segment(repeat('x', 63) || 'a', 'a', 'true');
SELECT segmentation.define_segment(repeat('x', 62) || 'é', 'a', 'true');

-- 10. The rule vocabulary: its feature is a constant name, its windows and
-- periods constants of bounded whole days (each is computed per user at
-- every refresh), and its names are the extension's own functions, whatever
-- functions of those names the search_path offers
SELECT segmentation.define_feature('viewing', '{view}');
SELECT segmentation.define_segment('s', 'v', $$events_in(rfm_cell, '7 days') > 0$$);
SELECT segmentation.define_segment('s', 'v', $$events_in('view' || 'ing', '7 days') > 0$$);
SELECT segmentation.define_segment('s', 'v', $$events_in(CASE WHEN frequency > 1 THEN 'viewing' ELSE '*' END) > 0$$);
SELECT segmentation.define_segment('s', 'v', $$events_in('viewing', (SELECT '7 days'::interval)) > 0$$);
SELECT segmentation.define_segment('s', 'v', $$events_in('viewing', make_interval(days => frequency::int)) > 0$$);
SELECT segmentation.define_segment('s', 'v', $$periods_with('viewing', 1, '1 day', 2000000000) > 0$$);
SELECT segmentation.define_segment('s', 'v', $$periods_with('viewing', 1, '2000000000 days', 1) > 0$$);
-- (each call walks the user's active days in its window: it costs the days,
-- the whole history 4,096; '*' walks every feature's: the days times the
-- features, below; review nine: 130 calls a scheme over a year of days added
-- 8 ms per user and 100 schemes)
SELECT segmentation.define_segment('s', 'v', string_agg(format('events_in(''viewing'', ''%s days'') > 0', 36000 + g), ' OR '))
FROM generate_series(1, 49) g;
SELECT segmentation.define_segment('s', 'v', string_agg(format('periods_with(''viewing'', 1, ''%s days'', 1000) > 0', 10 + g), ' OR '))
FROM generate_series(1, 49) g;
SELECT segmentation.define_segment('s', 'v', string_agg(format('events_in(''*'', ''%s days'') > 0', g), ' OR '))
FROM generate_series(1, 49) g;
SELECT segmentation.define_segment('s', 'v', string_agg(format('events_in(''viewing'', ''%s days'') > 0', g), ' OR '))
FROM generate_series(1, 49) g;
SELECT cost < 5000 AS cheap FROM segmentation.segments WHERE scheme = 's' AND name = 'v';
-- ('*' walks the days of every feature, and days_in and periods_with merge
-- them: its cost grows with the features (review ten: 480 calls over 40
-- features added 390 ms per user), so defining a feature is refused when the
-- rules would cost too much with it; feature names have at most 63 bytes
-- (features_used is costed as every name: review ten gave it 4 MB a user)
SELECT floor((100000 - 200) / (8 * (count(*) + 1))) AS d FROM segmentation.features \gset
SELECT count(*) AS defined FROM (SELECT segmentation.define_segment('any', 'a' || g, format('days_in(''*'', ''%s days'') > %s', :d, g)) FROM generate_series(0, 9) g) d;
SELECT sum(cost) <= 1000000 AS within FROM segmentation.segments WHERE scheme = 'any';
SELECT segmentation.define_feature('extra', '{extra}');
SELECT segmentation.define_feature(repeat('x', 64), '{x}');
SELECT count(*) AS dropped FROM (SELECT segmentation.drop_segment('any', name) FROM segmentation.segments WHERE scheme = 'any') d;
SELECT segmentation.define_feature('extra', '{extra}') > 0 AS defined;
CREATE DOMAIN regress_att.di AS interval CHECK (regress_att.pwn('interval domain'));
SELECT segmentation.define_segment('s', 'v', $$events_in('viewing', '7 days'::regress_att.di) > 0$$);
CREATE FUNCTION regress_att.events_in(feature text, w interval) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM regress_att.pwn('events_in of the search_path');
	RETURN 1;
END $$;
SELECT segmentation.define_segment('s', 'v', $$regress_att.events_in('viewing', '7 days') > 0$$);
SET search_path = regress_att, public;
SELECT segmentation.define_segment('s', 'v', $$events_in('viewing', '7 days') >= 0$$, 1000);
RESET search_path;
SELECT checked_predicate FROM segmentation.segments WHERE scheme = 's' AND name = 'v';
RESET ROLE;
-- (refresh, as a superuser whose search_path finds the attacker's function
-- first, runs the extension's: every user is in, none ran the payload)
SET search_path = regress_att, public;
SELECT segmentation.refresh(as_of => '2024-05-02 12:00') IS NOT NULL AS refreshed;
RESET search_path;
SELECT segment, count(*) FROM segmentation.memberships WHERE scheme = 's' GROUP BY 1;
SET ROLE regress_att_admin;
SELECT segmentation.drop_segment('s', 'v');

-- 11. Nested segments: in_segment is the extension's own function, by its
-- OID, whatever functions of that name the search_path offers (the
-- definer's or refresh's); its arguments are two text constants, nothing
-- that runs or reads anything; each call costs a constant; the segments
-- table cannot be written to make a cycle, and one written anyway (by a
-- superuser) stops refresh before any rule runs
SELECT segmentation.define_segment('n_inner', 'viewer', 'frequency >= 1');
CREATE FUNCTION regress_att.in_segment(scheme text, segment text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN regress_att.pwn('in_segment of the search_path');
END $$;
CREATE DOMAIN regress_att.dt AS text CHECK (regress_att.pwn('text domain'));
SELECT segmentation.define_segment('n_outer', 'x', $$regress_att.in_segment('n_inner', 'viewer')$$);
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment('n_inner', (SELECT 'viewer'))$$);
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment('n_inner', (SELECT min(segment) FROM segmentation.memberships))$$);
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment('n_inner', regress_att.pwn('argument')::text)$$);
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment('n_inner', 'viewer'::regress_att.dt)$$);
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment(VARIADIC ARRAY['n_inner', 'viewer'])$$);
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment('n_inner', rfm_cell)$$);
SET search_path = regress_att, public;
SELECT segmentation.define_segment('n_outer', 'x', $$in_segment('n_inner', 'viewer') AND frequency >= 1$$);
RESET search_path;
SELECT checked_predicate, cost FROM segmentation.segments WHERE scheme = 'n_outer';
-- (each call costs a constant: 120 of them, about all the length limit allows, well within the bound)
SELECT segmentation.define_segment('n_many', 'x', string_agg(format('in_segment(''n_inner'', ''%s'')', CASE WHEN g % 2 = 0 THEN 'viewer' ELSE 'unsegmented' END), ' OR '))
FROM generate_series(1, 120) g;
SELECT cost FROM segmentation.segments WHERE scheme = 'n_many';
SELECT segmentation.drop_segment('n_many', 'x');
-- a segment another names is not dropped from under it
SELECT segmentation.drop_segment('n_inner', 'viewer');
-- the table is written by the define functions only
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('n_inner', 'loop', $$in_segment('n_outer', 'x')$$, $$segmentation.in_segment('n_outer'::text, 'x'::text)$$);
UPDATE segmentation.segments SET checked_predicate = $$segmentation.in_segment('n_outer'::text, 'x'::text)$$ WHERE scheme = 'n_inner';
SELECT segmentation.define_segment('n_inner', 'loop', $$in_segment('n_outer', 'x')$$);
RESET ROLE;
-- (refresh, as a superuser whose search_path finds the attacker's
-- in_segment first, runs the extension's: none ran the payload)
SET search_path = regress_att, public;
SELECT segmentation.refresh(as_of => '2024-05-02 13:00') IS NOT NULL AS refreshed;
RESET search_path;
SELECT segment, count(*) FROM segmentation.memberships WHERE scheme = 'n_outer' GROUP BY 1 ORDER BY 1;
-- a cycle written by hand (a tampered dump) stops refresh, named
INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate)
VALUES ('n_inner', 'loop', $$in_segment('n_outer', 'x')$$, $$segmentation.in_segment('n_outer'::text, 'x'::text)$$);
DO $$
BEGIN
	PERFORM segmentation.refresh(as_of => '2024-05-02 14:00');
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'refresh failed: %', SQLERRM;
END $$;
DELETE FROM segmentation.segments WHERE scheme = 'n_inner' AND name = 'loop';
SET ROLE regress_att_admin;
SELECT segmentation.drop_segment('n_outer', 'x');
SELECT segmentation.drop_segment('n_inner', 'viewer');

-- 3. An admin cannot make the readout (computed as the extension's owner by
-- define_experiment and by every refresh) run code of theirs: not through a
-- view, a user type with a cast to text, a table hiding rows by row-level
-- security, or the experiments table edited by hand (the next refresh, run
-- here as the superuser pg_cron would be, checks it again)
CREATE TABLE regress_att.ab (uid bigint, arm text, at timestamptz);
INSERT INTO regress_att.ab SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treatment' END, '2024-04-02'
FROM generate_series(1, 20) u;
CREATE VIEW regress_att.abv AS SELECT * FROM regress_att.ab WHERE regress_att.pwn('view');
SELECT segmentation.define_experiment('e1', 'regress_att.abv', 'uid', 'arm', 'at', 'control', 'view');
CREATE TYPE regress_att.arm AS ENUM ('control', 'treatment');
CREATE FUNCTION regress_att.arm_text(regress_att.arm) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM regress_att.pwn('cast');
	RETURN $1::text;
END $$;
CREATE CAST (regress_att.arm AS text) WITH FUNCTION regress_att.arm_text(regress_att.arm);
CREATE TABLE regress_att.ab2 (uid bigint, arm regress_att.arm, at timestamptz);
SELECT segmentation.define_experiment('e2', 'regress_att.ab2', 'uid', 'arm', 'at', 'control', 'view');
CREATE TABLE regress_att.ab3 (LIKE regress_att.ab);
ALTER TABLE regress_att.ab3 ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY half ON regress_att.ab3 USING (uid < 10);
SELECT segmentation.define_experiment('e3', 'regress_att.ab3', 'uid', 'arm', 'at', 'control', 'view');
SELECT segmentation.define_experiment('e4', 'regress_att.ab', 'uid', 'arm', 'at', 'control', 'view', weights => '{1e308,1e308}', variants => '{control,treatment}');
SELECT segmentation.define_experiment('(all)', 'regress_att.ab', 'uid', 'arm', 'at', 'control', 'view');
-- nor through a temporary table of the name the readout keeps its counts
-- in, with a trigger: the readout makes its own, and fails when one exists
CREATE TEMP TABLE _readout_cells (scheme text, segment text, variant text, segments jsonb, n bigint, x bigint,
                                  npre bigint, npy bigint, mean_rev float8, var_rev float8);
CREATE FUNCTION regress_att.pwn_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM regress_att.pwn('readout temporary table');
	RETURN NEW;
END $$;
CREATE TRIGGER pwn BEFORE INSERT OR DELETE ON _readout_cells FOR EACH ROW EXECUTE FUNCTION regress_att.pwn_row();
SELECT segmentation.define_experiment('good', 'regress_att.ab', 'uid', 'arm', 'at', 'control', 'view');
DROP TABLE _readout_cells;
SELECT segmentation.define_experiment('good', 'regress_att.ab', 'uid', 'arm', 'at', 'control', 'view');
SELECT DISTINCT experiment FROM segmentation.experiment_lift ORDER BY 1;
UPDATE segmentation.experiments SET assignments = 'regress_att.abv' WHERE name = 'good';
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
-- (and says so where an operator looks: pg_cron keeps no warning)
SELECT warnings FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT warnings FROM segmentation.refresh_status;
SET ROLE regress_att_reader;
SELECT count(*) AS readout_rows FROM segmentation.experiment_lift;
RESET ROLE;
SET ROLE regress_att_admin;
UPDATE segmentation.experiments SET assignments = 'regress_att.ab2', variant_column = 'arm' WHERE name = 'good';
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
SELECT warnings FROM segmentation.refresh_status;
SET ROLE regress_att_reader;
SELECT count(*) AS readout_rows FROM segmentation.experiment_lift;
RESET ROLE;
SET ROLE regress_att_admin;
UPDATE segmentation.experiments SET assignments = 'regress_att.ab' WHERE name = 'good';
SELECT segmentation._materialize_experiments('good');
RESET ROLE;
SET ROLE regress_att_reader;
SELECT segment, variant, users FROM segmentation.experiment_lift WHERE scheme = 's' ORDER BY 1, 2;
-- a reader computes nothing: the readout's table is not theirs to read or write
SELECT count(*) FROM segmentation._experiment_lift_rows;
SELECT segmentation._materialize_experiments(NULL);
RESET ROLE;

-- the role recorded as having configured a source or experiment cannot be
-- forged, not even with an operator of the admin's own on the search_path
SET ROLE regress_att_admin;
CREATE FUNCTION regress_att.yes(name, name) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_att.= (LEFTARG = name, RIGHTARG = name, FUNCTION = regress_att.yes);
SET search_path = regress_att, pg_catalog;
INSERT INTO segmentation.experiments (name, assignments, user_column, variant_column, assigned_at_column,
	control, conversion_event, conversion_window, tracked_by)
VALUES ('forged_by', 'regress_att.ab', 'uid', 'arm', 'at', 'control', 'view', '14 days', 'postgres');
RESET search_path;
SELECT tracked_by FROM segmentation.experiments WHERE name = 'forged_by';
DELETE FROM segmentation.experiments WHERE name = 'forged_by';
RESET ROLE;
-- (a superuser's row keeps the role it names: pg_restore writes config as one)
INSERT INTO segmentation.experiments (name, assignments, user_column, variant_column, assigned_at_column,
	control, conversion_event, conversion_window, tracked_by)
VALUES ('restored', 'regress_att.ab', 'uid', 'arm', 'at', 'control', 'view', '14 days', 'regress_att_admin');
SELECT tracked_by FROM segmentation.experiments WHERE name = 'restored';
DELETE FROM segmentation.experiments WHERE name = 'restored';

-- schedule_refresh is for admins (without pg_cron here: the error says how to get it)
SET ROLE regress_att_admin;
SELECT segmentation.schedule_refresh('* * * * *');
RESET ROLE;
SET ROLE regress_att_reader;
SELECT segmentation.schedule_refresh('* * * * *');
RESET ROLE;

-- a dropped assignments table leaves its experiment out, with a warning; the
-- readout goes on for everyone (0.1 showed every reader internal SQL)
DROP TABLE regress_att.ab CASCADE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
SET ROLE regress_att_reader;
SELECT count(*) AS readout_rows FROM segmentation.experiment_lift;
RESET ROLE;

-- Event conditions (issue 15 point 4): a feature's condition runs inside
-- refresh, as a superuser, on the rows of the tracked tables.  Nothing in it
-- may run, resolve or read anything of a less privileged role's.
CREATE ROLE regress_att_admin2 IN ROLE segmentation_admin;
SET ROLE regress_att_admin;
CREATE FUNCTION regress_att.cond_op(float8, int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN regress_att.pwn('condition operator'); END $$;
CREATE OPERATOR regress_att.=== (LEFTARG = float8, RIGHTARG = int, FUNCTION = regress_att.cond_op);
CREATE FUNCTION regress_att.cond_check(text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN regress_att.pwn('domain check'); END $$;
CREATE DOMAIN regress_att.dom AS text CHECK (regress_att.cond_check(VALUE));
CREATE TYPE regress_att.mood AS ENUM ('sad', 'happy');
-- each refused before anything of the attacker's runs
SELECT segmentation.define_feature('c_fn', ARRAY['view'], 'regress_att.pwn(''condition function'')');
SELECT segmentation.define_feature('c_fn2', ARRAY['view'], 'amount > 0 AND regress_att.cond_op(amount, 1)');
SELECT segmentation.define_feature('c_op', ARRAY['view'], 'amount OPERATOR(regress_att.===) 1');
SET search_path = regress_att, pg_catalog;
SELECT segmentation.define_feature('c_op2', ARRAY['view'], 'amount === 1');
RESET search_path;
SELECT segmentation.define_feature('c_sub', ARRAY['view'], 'amount > (SELECT count(*) FROM regress_att.pwned)');
SELECT segmentation.define_feature('c_volatile', ARRAY['view'], 'amount > random()');
SELECT segmentation.define_feature('c_cast', ARRAY['view'], 'ev::regress_att.mood = ''happy''');
SELECT segmentation.define_feature('c_cast2', ARRAY['view'], 'ev::regress_att.dom IS NOT NULL');
SELECT segmentation.define_feature('c_rows', ARRAY['view'], 'att_events IS NOT NULL');
-- a table the attacker owns, tracked with a column of the attacker's domain
CREATE TABLE regress_att.owned (uid bigint, ts timestamptz, ev text, note text, mood regress_att.mood, d regress_att.dom);
SELECT segmentation.track('regress_att.owned', 'uid', 'ts', 'ev');
RESET ROLE;
-- (a condition is checked on every tracked table: att_events has the same
-- columns, of built-in types; the attacker's table, its enum and domain)
ALTER TABLE att_events ADD COLUMN note text, ADD COLUMN mood text, ADD COLUMN d text;
SET ROLE regress_att_admin;
SELECT segmentation.define_feature('c_enum', ARRAY['view'], 'mood = ''happy''');
SELECT segmentation.define_feature('c_domain', ARRAY['view'], 'd IS NOT NULL');
RESET ROLE;
SET ROLE regress_att_admin;
SELECT segmentation.define_feature('noted', ARRAY['view'], 'note = ''x''');
INSERT INTO regress_att.owned VALUES (100, '2024-05-02', 'view', 'x', 'happy', NULL);
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
SELECT user_id, segmentation.feature_count(behavior, f.id) AS noted
FROM segmentation.profiles, segmentation.features f WHERE f.name = 'noted' AND user_id = 100;
-- the owner retypes the condition's column to its domain after define: the
-- event trigger refuses it (review 17, F17: it made every refresh fail)
SET ROLE regress_att_admin;
ALTER TABLE regress_att.owned ALTER COLUMN note TYPE regress_att.dom;
-- and where the event trigger lets it (as during a restore), refresh
-- refuses before running anything of the owner's
SET check_function_bodies = off;
ALTER TABLE regress_att.owned ALTER COLUMN note TYPE regress_att.dom;
RESET check_function_bodies;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
SELECT count(*) AS payload_runs_as_others FROM regress_att.pwned WHERE who <> 'regress_att_admin';
SET ROLE regress_att_admin;
ALTER TABLE regress_att.owned ALTER COLUMN note TYPE text;
-- retyped to the owner's enum with an implicit cast of the owner's to text:
-- the stored text (note = 'x'::text) would run that cast as the superuser
-- running refresh, were the condition not checked again on the table
CREATE FUNCTION regress_att.mood_text(regress_att.mood) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM regress_att.pwn('implicit cast'); RETURN $1::text; END $$;
CREATE CAST (regress_att.mood AS text) WITH FUNCTION regress_att.mood_text(regress_att.mood) AS IMPLICIT;
SET check_function_bodies = off;
ALTER TABLE regress_att.owned ALTER COLUMN note TYPE regress_att.mood USING 'happy';
RESET check_function_bodies;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
SELECT count(*) AS payload_runs_as_others FROM regress_att.pwned WHERE who <> 'regress_att_admin';
SET ROLE regress_att_admin;
ALTER TABLE regress_att.owned ALTER COLUMN note TYPE text USING 'x';
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
-- the column dropped: refused the same way, naming feature and table
SET ROLE regress_att_admin;
SET check_function_bodies = off;
ALTER TABLE regress_att.owned DROP COLUMN note;
RESET check_function_bodies;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
SET ROLE regress_att_admin;
SELECT segmentation.untrack('regress_att.owned');
RESET ROLE;
-- A column the definer may not read: segment membership would tell its
-- values.  Checked for the session's role (define_feature is SECURITY
-- DEFINER: the login role is the one that may always return to itself)
GRANT SELECT (amount) ON att_events TO regress_att_admin2;
SET SESSION AUTHORIZATION regress_att_admin2;
SELECT segmentation.define_feature('secret', ARRAY['view'], 'note = ''x''');
SELECT segmentation.define_feature('costly', ARRAY['view'], 'amount > 10');
RESET SESSION AUTHORIZATION;
SELECT defined_by FROM segmentation.features WHERE name = 'costly';
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
-- and checked again by refresh: the privilege revoked, refresh refuses
REVOKE SELECT (amount) ON att_events FROM regress_att_admin2;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
-- an admin cannot write the condition or who defined it by hand
SET ROLE regress_att_admin;
UPDATE segmentation.features SET defined_by = 'postgres' WHERE name = 'costly';
UPDATE segmentation.features SET checked_condition = 'regress_att.pwn(''forged'')' WHERE name = 'costly';
RESET ROLE;
-- (a superuser's hand-written condition is checked again before it runs)
UPDATE segmentation.features SET condition = 'regress_att.pwn(''forged'')', defined_by = 'postgres' WHERE name = 'costly';
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
DELETE FROM segmentation.features WHERE name IN ('costly', 'noted');
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
DROP ROLE regress_att_admin2;
-- Review 17, F11: a condition is checked for the login role (SECURITY
-- DEFINER hides the caller).  An admin that may not read a column had a role
-- that may (not an admin) run its SECURITY DEFINER function once, and the
-- condition on that column was checked, and kept, for that role.  Now the
-- login role must be an admin itself.
CREATE ROLE regress_att_admin3 IN ROLE segmentation_admin;
GRANT SELECT ON att_events TO regress_att_nobody;
SET SESSION AUTHORIZATION regress_att_admin3;
CREATE FUNCTION pg_temp.report_helper() RETURNS int LANGUAGE sql SECURITY DEFINER
AS $f$ SELECT segmentation.define_feature('lent', ARRAY['view'], 'note = ''x''') $f$;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_att_nobody;
SELECT pg_temp.report_helper();
RESET SESSION AUTHORIZATION;
SELECT count(*) AS lent_features FROM segmentation.features WHERE name = 'lent';
REVOKE SELECT ON att_events FROM regress_att_nobody;
DROP FUNCTION pg_temp.report_helper();
DROP ROLE regress_att_admin3;
-- Review 17, F01 and F03: refresh runs a condition's text, printed back by
-- the checker under fixed settings, under those settings, not the caller's.
-- With standard_conforming_strings off, the '\'' of this constant ended the
-- string early and the rest ran as the extension's owner; with array_nulls
-- off, '{NULL,zzz}' held the string 'NULL'.  Each matches one row, whatever
-- the session that refreshes.
INSERT INTO att_events (uid, ts, ev, amount, note) VALUES
	(41, '2024-04-30', 'view', 1, $n$\')) THEN true END OR (SELECT regress_att.pwn($x$scs$x$)) --$n$),
	(42, '2024-04-30', 'view', 1, 'NULL'), (43, '2024-04-30', 'view', 1, 'C:\temp');
SET ROLE regress_att_admin;
SELECT segmentation.define_feature('c_quote', ARRAY['view'], $c$note = '\'')) THEN true END OR (SELECT regress_att.pwn($x$scs$x$)) --'$c$);
SELECT segmentation.define_feature('c_nulls', ARRAY['view'], $c$note = ANY ('{NULL,zzz}')$c$);
SELECT segmentation.define_feature('c_path', ARRAY['view'], $c$note = 'C:\temp'$c$);
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SET array_nulls = off;
SELECT segmentation.refresh(as_of => '2024-05-03') IS NOT NULL AS refreshed;
RESET standard_conforming_strings;
RESET escape_string_warning;
RESET array_nulls;
RESET ROLE;
SELECT f.name, p.user_id, segmentation.feature_count(p.behavior, f.id) AS events
FROM segmentation.profiles p, segmentation.features f
WHERE f.name IN ('c_quote', 'c_nulls', 'c_path') AND segmentation.feature_count(p.behavior, f.id) > 0 ORDER BY 1, 2;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_att_admin';
DELETE FROM segmentation.features WHERE name IN ('c_quote', 'c_nulls', 'c_path');
DELETE FROM att_events WHERE uid IN (41, 42, 43);
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
-- Row-level security (review 15 F1): a condition may not test a column on
-- the rows RLS hides from the role that defined it (the superuser tracks
-- the table, so tracked_by sees every row); checked at define and again
-- at every refresh
CREATE TABLE att_rls (uid bigint, ts timestamptz, ev text, amount float8, note text);
INSERT INTO att_rls VALUES (1, '2024-05-02', 'buy', 1, 'visible'), (2, '2024-05-02', 'buy', 1, 'SECRET-of-user-2');
ALTER TABLE att_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_user1 ON att_rls FOR SELECT TO regress_att_admin USING (uid = 1);
GRANT SELECT ON att_rls TO regress_att_admin;
SELECT segmentation.track('att_rls', 'uid', 'ts', 'ev', 'amount');
SET SESSION AUTHORIZATION regress_att_admin;
SELECT count(*) AS rows_it_sees FROM att_rls;
SELECT segmentation.define_feature('secret_buy', ARRAY['buy'], 'note LIKE ''SECRET%''');
RESET SESSION AUTHORIZATION;
ALTER TABLE att_rls DISABLE ROW LEVEL SECURITY;
SET SESSION AUTHORIZATION regress_att_admin;
SELECT segmentation.define_feature('secret_buy', ARRAY['buy'], 'note LIKE ''SECRET%''') IS NOT NULL AS defined;
RESET SESSION AUTHORIZATION;
ALTER TABLE att_rls ENABLE ROW LEVEL SECURITY;
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
-- and a failing condition's error names feature, table and SQLSTATE, never
-- the row's values (refresh_runs.error is the admin's to read); a
-- condition that can fail on a row is refused at define (review 15 F4)
ALTER TABLE att_rls DISABLE ROW LEVEL SECURITY;
SET SESSION AUTHORIZATION regress_att_admin;
SELECT segmentation.define_feature('secret_buy', ARRAY['buy'], 'CASE WHEN note <> ''visible'' THEN note::int > 0 END') IS NOT NULL AS defined;
RESET SESSION AUTHORIZATION;
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
SELECT count(*) AS errors_quoting_rows FROM segmentation.refresh_runs WHERE error LIKE '%SECRET%';
DELETE FROM segmentation.features WHERE name = 'secret_buy';
SELECT segmentation._condition_failure(ARRAY['SELECT FROM public.att_rls t WHERE t.note::int > 0'], ARRAY['feature "f" on att_rls'],
       ARRAY['att_rls'::regclass::oid], '22P02');
SELECT segmentation._condition_failure('{}', '{}', '{}', '22P02');
SELECT segmentation.untrack('att_rls');
DROP TABLE att_rls;
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
-- Collations (review 15 F7): a column's collation is its owner's choice (a
-- nondeterministic one makes 'pro' equal 'PRO' and LIKE fail): a condition
-- column must have the default collation, C, POSIX or a deterministic one
-- of pg_catalog; checked at define and again at every refresh
SET ROLE regress_att_admin;
CREATE COLLATION regress_att.mine FROM "C";
RESET ROLE;
ALTER TABLE att_events ALTER COLUMN note TYPE text COLLATE regress_att.mine;
SET SESSION AUTHORIZATION regress_att_admin;
SELECT segmentation.define_feature('coll', ARRAY['view'], 'note = ''x''');
RESET SESSION AUTHORIZATION;
ALTER TABLE att_events ALTER COLUMN note TYPE text COLLATE "C";
SET SESSION AUTHORIZATION regress_att_admin;
SELECT segmentation.define_feature('coll', ARRAY['view'], 'note = ''x''') IS NOT NULL AS defined;
RESET SESSION AUTHORIZATION;
-- (refused by the event trigger now, review 17 F17; and where it is let
-- through, refresh refuses)
ALTER TABLE att_events ALTER COLUMN note TYPE text COLLATE regress_att.mine;
SET check_function_bodies = off;
ALTER TABLE att_events ALTER COLUMN note TYPE text COLLATE regress_att.mine;
RESET check_function_bodies;
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
ALTER TABLE att_events ALTER COLUMN note TYPE text COLLATE "default";
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
DELETE FROM segmentation.features WHERE name = 'coll';
-- defined_by is a role name, looked up exactly (review 15 F8: to_regrole()
-- case-folded it, so a role "Regress_Att_Mixed" was refused, then checked
-- as regress_att_mixed once that role existed)
CREATE ROLE "Regress_Att_Mixed" IN ROLE segmentation_admin;
GRANT SELECT ON att_events TO "Regress_Att_Mixed";
SET SESSION AUTHORIZATION "Regress_Att_Mixed";
SELECT segmentation.define_feature('mixed', ARRAY['view'], 'note = ''x''') IS NOT NULL AS defined;
RESET SESSION AUTHORIZATION;
SELECT defined_by FROM segmentation.features WHERE name = 'mixed';
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
-- renamed: another role of the folded name does not stand in for it
CREATE ROLE regress_att_mixed;
GRANT SELECT ON att_events TO regress_att_mixed;
ALTER ROLE "Regress_Att_Mixed" RENAME TO "Regress_Att_Other";
SELECT segmentation.refresh(true, '2024-05-03') IS NOT NULL AS refreshed;
DELETE FROM segmentation.features WHERE name = 'mixed';
REVOKE SELECT ON att_events FROM regress_att_mixed, "Regress_Att_Other";
DROP ROLE regress_att_mixed, "Regress_Att_Other";
-- 12. The capture function is written by the extension's owner from the
-- tracked column names, at track() and again when the table's owner renames
-- one: a name that would close a dollar quote stays a name (review 14,
-- R14-10: the owner of a tracked table became superuser so, and an admin
-- could by tracking such a table)
CREATE TABLE public.att_owned (uid bigint, ts timestamptz, "e$body$;ALTER ROLE regress_att_admin SUPERUSER;SELECT $body$" text);
ALTER TABLE public.att_owned OWNER TO regress_att_nobody;
SET ROLE regress_att_nobody;
GRANT SELECT, TRIGGER ON public.att_owned TO regress_att_admin;
RESET ROLE;
SET ROLE regress_att_admin;
SET check_function_bodies = off;
SELECT segmentation.track('public.att_owned', 'uid', 'ts', 'e$body$;ALTER ROLE regress_att_admin SUPERUSER;SELECT $body$');
RESET check_function_bodies;
RESET ROLE;
SET ROLE regress_att_nobody;
SET check_function_bodies = off;
ALTER TABLE public.att_owned RENAME COLUMN uid TO "u$body$;ALTER ROLE regress_att_nobody SUPERUSER;SELECT $body$";
RESET check_function_bodies;
-- (and capture goes on, under the new name)
INSERT INTO public.att_owned VALUES (7, '2024-04-02', 'view');
RESET ROLE;
SELECT user_id, event FROM segmentation.pending_events p JOIN segmentation.sources s ON s.id = p.source_id WHERE s.source = 'public.att_owned'::regclass;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('regress_att_admin', 'regress_att_nobody') ORDER BY 1;
SELECT segmentation.untrack('public.att_owned');
DROP TABLE public.att_owned;

-- The aggregates' support functions are executable by PUBLIC (Citus checks
-- the caller's right to them when it splits an aggregate): outside an
-- aggregate they refuse, and an event_list a role writes is validated
-- wherever it enters: text input, an INITCOND, a combine's argument.
SET ROLE regress_att_analyst;
SELECT segmentation.window_funnel_trans(NULL, now(), ARRAY[true], interval '1 hour');
SELECT segmentation.event_list_combine(NULL, NULL);
SELECT segmentation.sequence_match_final(NULL);
SELECT '\x01'::segmentation.event_list;
SELECT '\x0101000000010000000000000000000000000000000000000000000000zz'::segmentation.event_list;
-- one row whose condition bits name a step beyond nconds (1)
SELECT '\x010100000001000000000000000000000000000000000000000000000001000000000000000000000006'::segmentation.event_list;
CREATE AGGREGATE pg_temp.att_funnel(timestamptz, boolean[], interval) (
	SFUNC = segmentation.window_funnel_trans, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.window_funnel_final,
	INITCOND = '\x010100000001000000000000000000000000000000000000000000000001000000000000000000000006');
CREATE AGGREGATE pg_temp.att_combine(segmentation.event_list) (
	SFUNC = segmentation.event_list_combine, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.window_funnel_final);
SELECT pg_temp.att_combine(x::segmentation.event_list)
FROM (VALUES ('\x010100000001000000000000000000000000000000000000000000000001000000000000000000000001')) v(x);
-- a well-formed state from another kind of aggregate is refused, not misread
SELECT pg_temp.att_combine(x::segmentation.event_list)
FROM (VALUES ('\x010100000001000000000000000000000000000000000000000000000000'),
             ('\x01020000000100000000000000000000000000000004283f31290000000000000000')) v(x);
DROP AGGREGATE pg_temp.att_combine(segmentation.event_list);
-- one aggregate's transition or combine function with another's final (any
-- role, in pg_temp): the final refuses a state of another kind.  It read it:
-- sequence_next_node_final followed values only its own kind keeps (the
-- server crashed), window_funnel_final on a sequence_next_node state said 1.
RESET ROLE;
SET ROLE regress_att_reader;
CREATE AGGREGATE pg_temp.att_evil_nn(timestamptz, boolean[], interval) (
	SFUNC = segmentation.window_funnel_trans, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.sequence_next_node_final);
SELECT pg_temp.att_evil_nn(t, ARRAY[true], '1 day') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
CREATE AGGREGATE pg_temp.att_evil_nn2(segmentation.event_list) (
	SFUNC = segmentation.event_list_combine, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.sequence_next_node_final);
SELECT pg_temp.att_evil_nn2(x::segmentation.event_list)
FROM (VALUES ('\x01010000000200000000000000141dd7600000000000000000000000000200023e0786c260000000000100023e1ba499c00000000002')) v(x);
CREATE AGGREGATE pg_temp.att_evil_wf(timestamptz, text, boolean, boolean[], text, text) (
	SFUNC = segmentation.sequence_next_node_trans, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.window_funnel_final);
SELECT pg_temp.att_evil_wf(t, 'x', true, ARRAY[true,false], 'forward', 'head') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
CREATE AGGREGATE pg_temp.att_evil_sc(timestamptz, boolean[], interval) (
	SFUNC = segmentation.window_funnel_trans, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.sequence_count_final);
SELECT pg_temp.att_evil_sc(t, ARRAY[true], '1 day') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
CREATE AGGREGATE pg_temp.att_evil_sm(segmentation.event_list) (
	SFUNC = segmentation.event_list_combine, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.sequence_match_final);
SELECT pg_temp.att_evil_sm(x::segmentation.event_list)
FROM (VALUES ('\x01010000000200000000000000141dd7600000000000000000000000000200023e0786c260000000000100023e1ba499c00000000002')) v(x);
-- the matching final still answers
CREATE AGGREGATE pg_temp.att_good_wf(segmentation.event_list) (
	SFUNC = segmentation.event_list_combine, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.window_funnel_final);
SELECT pg_temp.att_good_wf(x::segmentation.event_list)
FROM (VALUES ('\x01010000000200000000000000141dd7600000000000000000000000000200023e0786c260000000000100023e1ba499c00000000002')) v(x);
DROP AGGREGATE pg_temp.att_evil_nn(timestamptz, boolean[], interval);
DROP AGGREGATE pg_temp.att_evil_nn2(segmentation.event_list);
DROP AGGREGATE pg_temp.att_evil_wf(timestamptz, text, boolean, boolean[], text, text);
DROP AGGREGATE pg_temp.att_evil_sc(timestamptz, boolean[], interval);
DROP AGGREGATE pg_temp.att_evil_sm(segmentation.event_list);
DROP AGGREGATE pg_temp.att_good_wf(segmentation.event_list);
RESET ROLE;
SET ROLE regress_att_analyst;
-- rfm_breakpoints' state likewise: a NaN (which would send the selection
-- beyond its array) or a count the bytes do not hold is refused
SELECT '\x0100000000000000017ff80000000000003ff00000000000003ff0000000000000'::segmentation.rfm_values;
SELECT '\x0100000000000000023ff00000000000003ff00000000000003ff0000000000000'::segmentation.rfm_values;
CREATE AGGREGATE pg_temp.att_rfm(segmentation.behavior, timestamptz) (
	SFUNC = segmentation.rfm_breakpoints_trans, STYPE = segmentation.rfm_values,
	FINALFUNC = segmentation.rfm_breakpoints_final, INITCOND = '\x0100000000000000017ff80000000000003ff00000000000003ff0000000000000');
SELECT '\x01000000000000000140000000000000003ff00000000000003ff0000000000000'::segmentation.rfm_values::text;
SELECT segmentation.rfm_breakpoints_final('\x01000000000000000140000000000000003ff00000000000003ff0000000000000');
-- work bounded by what a reader writes (review 21): a pattern keeps a count
-- per event and row, so at most 64 events; extra_features is sorted by
-- insertion, so at most 1024 elements
SELECT segmentation.sequence_count(t, ARRAY[true], repeat('.', 64)) FROM (VALUES ('2024-01-01'::timestamptz)) v(t);
SELECT segmentation.sequence_count(t, ARRAY[true], repeat('.', 65)) FROM (VALUES ('2024-01-01'::timestamptz)) v(t);
SELECT segmentation.event_count(segmentation.behavior_agg_features(t, 1, (SELECT array_agg(g) FROM generate_series(1, 1024) g), 1.0))
FROM (VALUES ('2024-01-01'::timestamptz)) v(t);
SELECT segmentation.behavior_agg_features(t, 1, (SELECT array_agg(g) FROM generate_series(1, 1025) g), 1.0)
FROM (VALUES ('2024-01-01'::timestamptz)) v(t);
RESET ROLE;

-- the payload ran as nobody but the attacker, who is no superuser
SELECT who, how FROM regress_att.pwned WHERE who <> 'regress_att_admin';
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_att_admin';

DROP EXTENSION segmentation CASCADE;
DROP SCHEMA regress_att CASCADE;
DROP TABLE att_events;
DROP ROLE regress_att_reader, regress_att_admin, regress_att_nobody, regress_att_analyst;
CREATE EXTENSION segmentation;
