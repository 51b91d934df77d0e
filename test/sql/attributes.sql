-- User attributes (issue 15 point 3, DESIGN section 4): track_users(source,
-- user_column, columns) makes the columns of a table of user attributes
-- predicate columns and columns of user_scores; a change to a row
-- re-segments that user at the next refresh.  The table's owner and every
-- role may be hostile (doc/security.md): what refresh reads there is checked
-- at track_users, at DDL and before every read.
SET TIME ZONE 'UTC';
SET datestyle = 'ISO, YMD';
SET client_min_messages = warning;
-- (the errors' CONTEXT lines name line numbers of the functions: not shown)
\set SHOW_CONTEXT never

CREATE ROLE regress_attr_owner;
CREATE ROLE regress_attr_admin IN ROLE segmentation_admin;
CREATE ROLE regress_attr_analyst IN ROLE segmentation_analyst;
CREATE SCHEMA regress_attr AUTHORIZATION regress_attr_owner;
GRANT USAGE ON SCHEMA regress_attr TO regress_attr_admin, regress_attr_analyst;

CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
-- 8 users: user u has u events, one a day, up to 2024-05-10 12:00
INSERT INTO ev SELECT u, '2024-05-10 12:00'::timestamptz - k * interval '1 day', 'view', 1
FROM generate_series(1, 8) u, generate_series(0, u - 1) k;

-- ---------------------------------------------------------------
-- 1. What track_users refuses
-- ---------------------------------------------------------------
SET ROLE regress_attr_owner;
CREATE TABLE regress_attr.acct (id bigint PRIMARY KEY, plan text, seats int, country varchar(2), mrr numeric, signup date,
	tags text[]);
GRANT SELECT, TRIGGER ON regress_attr.acct TO regress_attr_admin;
CREATE VIEW regress_attr.acct_view AS SELECT * FROM regress_attr.acct;
CREATE TABLE regress_attr.nokey (id bigint, plan text);
CREATE TABLE regress_attr.partial (id bigint, plan text);
CREATE UNIQUE INDEX ON regress_attr.partial (id) WHERE plan IS NOT NULL;
CREATE TABLE regress_attr.deferred (id bigint UNIQUE DEFERRABLE INITIALLY DEFERRED, plan text);
CREATE TABLE regress_attr.intid (id int PRIMARY KEY, plan text);
CREATE DOMAIN regress_attr.plan_d AS text CHECK (VALUE <> 'x');
CREATE TYPE regress_attr.tier AS ENUM ('a', 'b');
CREATE TYPE regress_attr.pair AS (a int, b int);
CREATE COLLATION regress_attr.mine (provider = libc, locale = 'C');
CREATE TABLE regress_attr.typed (id bigint PRIMARY KEY, d regress_attr.plan_d, e regress_attr.tier, p regress_attr.pair,
	r int4range, c text COLLATE regress_attr.mine, frequency int, ok text);
CREATE TABLE regress_attr.parted (id bigint, plan text) PARTITION BY RANGE (id);
CREATE TABLE regress_attr.parent (id bigint PRIMARY KEY, plan text);
CREATE TABLE regress_attr.child (id bigint PRIMARY KEY, plan text);
ALTER TABLE regress_attr.child INHERIT regress_attr.parent;
CREATE TABLE regress_attr.ruled (id bigint PRIMARY KEY, plan text);
CREATE TABLE regress_attr.ruled_log (id bigint);
CREATE RULE log_it AS ON INSERT TO regress_attr.ruled DO ALSO INSERT INTO regress_attr.ruled_log VALUES (NEW.id);
CREATE TABLE regress_attr.rls (id bigint PRIMARY KEY, plan text);
ALTER TABLE regress_attr.rls ENABLE ROW LEVEL SECURITY;
GRANT SELECT, TRIGGER ON ALL TABLES IN SCHEMA regress_attr TO regress_attr_admin;
RESET ROLE;

SET ROLE regress_attr_admin;
SELECT segmentation.track_users('regress_attr.acct_view', 'id');
SELECT segmentation.track_users('regress_attr.parted', 'id');
SELECT segmentation.track_users('ev', 'uid');
SELECT segmentation.track_users('regress_attr.acct', 'nope');
-- one row per user: a unique index on the user column alone, immediate, whole
SELECT segmentation.track_users('regress_attr.nokey', 'id');
SELECT segmentation.track_users('regress_attr.partial', 'id');
SELECT segmentation.track_users('regress_attr.deferred', 'id');
-- the user id of the tracked sources' type
SELECT segmentation.track_users('regress_attr.intid', 'id');
-- a domain (its CHECK runs code), an enum, a composite, a range, an array, a
-- collation of someone's: named, refused; the default list skips them
SELECT segmentation.track_users('regress_attr.typed', 'id', '{d}');
SELECT segmentation.track_users('regress_attr.typed', 'id', '{e}');
SELECT segmentation.track_users('regress_attr.typed', 'id', '{p}');
SELECT segmentation.track_users('regress_attr.typed', 'id', '{r}');
SELECT segmentation.track_users('regress_attr.typed', 'id', '{c}');
SELECT segmentation.track_users('regress_attr.acct', 'id', '{tags}');
SELECT segmentation.track_users('regress_attr.acct', 'id', '{id}');
SELECT segmentation.track_users('regress_attr.acct', 'id', '{plan,plan}');
-- names user_scores has: a score column
SELECT segmentation.track_users('regress_attr.typed', 'id', '{frequency}');
SELECT segmentation.track_users('regress_attr.typed', 'id');
-- inheritance, rules, row-level security that hides rows from the tracker
SELECT segmentation.track_users('regress_attr.parent', 'id');
SELECT segmentation.track_users('regress_attr.child', 'id');
SELECT segmentation.track_users('regress_attr.ruled', 'id');
SELECT segmentation.track_users('regress_attr.rls', 'id');
RESET ROLE;
-- nothing was tracked by the refusals
SELECT count(*) FROM segmentation.attribute_sources;
DROP VIEW regress_attr.acct_view;

-- ---------------------------------------------------------------
-- 2. A column name is never SQL (names go through %I, bodies through %L)
-- ---------------------------------------------------------------
CREATE TABLE victim (x int);
CREATE TABLE "odd$f$" ("u$body$;DROP TABLE victim;SELECT $f$;--" bigint PRIMARY KEY, "a$body$;DROP TABLE victim;SELECT $body$" text);
SELECT segmentation.track_users('"odd$f$"', 'u$body$;DROP TABLE victim;SELECT $f$;--');
INSERT INTO "odd$f$" VALUES (1, 'x'), (2, 'y');
UPDATE "odd$f$" SET "a$body$;DROP TABLE victim;SELECT $body$" = 'z' WHERE "u$body$;DROP TABLE victim;SELECT $f$;--" = 2;
SELECT segmentation.define_segment('odd', 'z', $$"a$body$;DROP TABLE victim;SELECT $body$" = 'z'$$);
SELECT segmentation.refresh(as_of => '2024-05-10 12:00') IS NOT NULL AS refreshed;
SELECT user_id, "a$body$;DROP TABLE victim;SELECT $body$" AS a, odd FROM segmentation.user_scores WHERE user_id <= 3 ORDER BY 1;
SELECT to_regclass('victim') IS NOT NULL AS victim_still_there;
SELECT segmentation.drop_segment('odd', 'z');
SELECT segmentation.untrack_users();
DROP TABLE "odd$f$";

-- ---------------------------------------------------------------
-- 3. Tracked: attributes in predicates and in user_scores, re-segmenting
--    the users whose rows change, incremental equal to full
-- ---------------------------------------------------------------
INSERT INTO regress_attr.acct VALUES
	(1, 'pro', 5, 'FR', 99.5, '2024-01-01', NULL), (2, 'free', 1, 'US', 0, '2024-02-01', '{a}'),
	(3, 'pro', 50, 'DE', 1200, NULL, NULL), (5, 'team', 12, 'FR', 300, '2024-03-15', NULL), (42, 'pro', 1, 'FR', 1, NULL, NULL);
SET ROLE regress_attr_admin;
SELECT segmentation.track_users('regress_attr.acct', 'id');
SELECT source, user_column, columns, tracked_by, attnums, column_types FROM segmentation.attribute_sources;
-- a scheme may not take an attribute's name, nor an attribute a scheme's
SELECT segmentation.define_segment('plan', 'x', 'true');
SELECT segmentation.define_segment('tier', 'big', $$plan IN ('pro', 'team') AND seats >= 10$$, 3);
SELECT segmentation.define_segment('tier', 'paying', $$plan <> 'free' AND mrr > 50$$, 2);
SELECT segmentation.define_segment('tier', 'french', $$country = 'FR' AND frequency >= 5$$, 1);
SELECT segmentation.define_segment('tenure', 'early', $$signup < '2024-02-15'$$);
-- an unknown column is still refused, naming it
SELECT segmentation.define_segment('tier', 'bad', $$planz = 'pro'$$);
SELECT scheme, name, checked_predicate FROM segmentation.segments ORDER BY 1, 2;
RESET ROLE;
-- the state a full refresh must give again
CREATE FUNCTION state() RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(concat_ws(':', scheme, user_id, segment, entered_at), ',' ORDER BY scheme, user_id))
	FROM segmentation.memberships
$$;
SELECT segmentation.refresh(true, as_of => '2024-05-10 12:00') IS NOT NULL AS refreshed;
SELECT user_id, frequency, plan, seats, country, mrr, signup, tier, tenure FROM segmentation.user_scores ORDER BY 1;
-- users without events (42) are not users of the views; their rows are kept
SELECT count(*) FROM segmentation.user_attributes;
-- inserts, updates (a key changed: both users), deletes
INSERT INTO regress_attr.acct VALUES (4, 'team', 20, 'IT', 10, NULL, NULL);
UPDATE regress_attr.acct SET plan = 'team', seats = 30 WHERE id = 2;
UPDATE regress_attr.acct SET id = 6 WHERE id = 5;
DELETE FROM regress_attr.acct WHERE id = 3;
SELECT user_id FROM segmentation.attribute_queue ORDER BY 1;
SELECT segmentation.refresh(as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT mode, users_changed, transitions FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, plan, seats, tier FROM segmentation.user_scores ORDER BY 1;
SELECT scheme, user_id, from_segment, to_segment FROM segmentation.transitions WHERE at = '2024-05-10 13:00' ORDER BY 1, 2;
SELECT state() AS incremental \gset
SELECT segmentation.refresh(true, as_of => '2024-05-10 13:00') IS NOT NULL AS refreshed;
SELECT state() = :'incremental' AS full_equals_incremental;
-- under session_replication_role = replica (logical replication, restores)
-- the row trigger captures instead
SET session_replication_role = replica;
UPDATE regress_attr.acct SET plan = 'free' WHERE id = 4;
RESET session_replication_role;
SELECT user_id FROM segmentation.attribute_queue;
SELECT segmentation.refresh(as_of => '2024-05-10 13:30') IS NOT NULL AS refreshed;
SELECT user_id, plan, tier FROM segmentation.user_scores WHERE user_id = 4;
-- a truncate makes the next refresh full (and it reads the table again)
BEGIN;
TRUNCATE regress_attr.acct;
SELECT count(*) AS truncated_flags FROM segmentation.truncated;
ROLLBACK;

-- ---------------------------------------------------------------
-- 4. Who reads the attributes: only a role that may read them in the table
-- ---------------------------------------------------------------
SET ROLE regress_attr_analyst;
SELECT user_id, plan, seats, tier FROM segmentation.user_scores WHERE user_id <= 2 ORDER BY 1;
SELECT * FROM segmentation.user_attributes;
RESET ROLE;
GRANT SELECT (id, plan) ON regress_attr.acct TO regress_attr_analyst;
SET ROLE regress_attr_analyst;
SELECT user_id, plan, seats, tier FROM segmentation.user_scores WHERE user_id <= 2 ORDER BY 1;
RESET ROLE;
-- readers see the aggregate views only, as before
SET ROLE regress_attr_admin;
SELECT count(*) FROM segmentation.rejected_attributes;
RESET ROLE;

-- ---------------------------------------------------------------
-- 5. The owner's DDL after tracking: refused, never breaking writes
-- ---------------------------------------------------------------
SET ROLE regress_attr_owner;
ALTER TABLE regress_attr.acct RENAME COLUMN plan TO plan2;
ALTER TABLE regress_attr.acct RENAME COLUMN id TO uid;
ALTER TABLE regress_attr.acct ALTER COLUMN seats TYPE bigint;
ALTER TABLE regress_attr.acct ALTER COLUMN plan TYPE regress_attr.plan_d;
ALTER TABLE regress_attr.acct ALTER COLUMN plan TYPE text COLLATE regress_attr.mine;
ALTER TABLE regress_attr.acct DROP COLUMN seats;
ALTER TABLE regress_attr.acct DROP CONSTRAINT acct_pkey;
ALTER TABLE regress_attr.acct ENABLE ROW LEVEL SECURITY;
ALTER TABLE regress_attr.acct DISABLE TRIGGER segmentation_attributes_update;
ALTER TABLE regress_attr.acct DISABLE TRIGGER ALL;
DROP TRIGGER segmentation_attributes_delete ON regress_attr.acct;
CREATE TABLE regress_attr.acct_child () INHERITS (regress_attr.acct);
CREATE TABLE regress_attr.acct_parent (id bigint, plan text, seats int, country varchar(2), mrr numeric, signup date, tags text[]);
ALTER TABLE regress_attr.acct INHERIT regress_attr.acct_parent;
CREATE RULE r AS ON UPDATE TO regress_attr.acct DO ALSO NOTIFY x;
ALTER TABLE regress_attr.acct SET UNLOGGED;
-- what does not touch a tracked column goes through
ALTER TABLE regress_attr.acct ADD COLUMN note text;
ALTER TABLE regress_attr.acct DROP COLUMN tags;
CREATE INDEX ON regress_attr.acct (plan);
-- and the application's writes go on
INSERT INTO regress_attr.acct VALUES (7, 'pro', 3, 'FR', 80, NULL);
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 14:00') IS NOT NULL AS refreshed;
SELECT user_id, plan, tier FROM segmentation.user_scores WHERE user_id = 7;

-- ---------------------------------------------------------------
-- 6. Nothing the owner or anyone puts on the search_path runs in refresh
-- ---------------------------------------------------------------
SET ROLE regress_attr_owner;
CREATE FUNCTION regress_attr.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	ALTER ROLE regress_attr_owner SUPERUSER;
	RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR regress_attr.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_attr.eq);
CREATE FUNCTION regress_attr.octet_length(text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	ALTER ROLE regress_attr_owner SUPERUSER;
	RETURN 0;
END $$;
RESET ROLE;
SET search_path = regress_attr, public, pg_catalog;
UPDATE regress_attr.acct SET plan = 'team' WHERE id = 1;
SELECT segmentation.refresh(as_of => '2024-05-10 14:30') IS NOT NULL AS refreshed;
SELECT segmentation.refresh(true, as_of => '2024-05-10 14:30') IS NOT NULL AS refreshed;
RESET search_path;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_attr_owner';

-- ---------------------------------------------------------------
-- 7. Bad values: a predicate error for one user fails the refresh as any
--    predicate error does (but neither its message, which may quote a
--    value, nor the user is shown: the scheme reads attributes, review 20
--    N2); a long value is kept NULL, listed, and the refresh goes on
-- ---------------------------------------------------------------
SELECT segmentation.define_segment('ratio', 'high', $$1000 / seats > 10$$);
UPDATE regress_attr.acct SET seats = 0 WHERE id = 6;
\set VERBOSITY terse
SELECT segmentation.refresh(as_of => '2024-05-10 15:00') IS NOT NULL AS refreshed;
\set VERBOSITY default
SELECT mode, error, error_source, error_user_id FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
-- the previous state is kept
SELECT user_id, seats, tier FROM segmentation.user_scores WHERE user_id = 6;
SELECT segmentation.define_segment('ratio', 'high', $$1000 / nullif(seats, 0) > 10$$);
SELECT segmentation.refresh(as_of => '2024-05-10 15:00') IS NOT NULL AS refreshed;
SELECT user_id, seats, ratio FROM segmentation.user_scores WHERE user_id IN (1, 6) ORDER BY 1;
UPDATE regress_attr.acct SET plan = repeat('p', 300), country = 'US' WHERE id = 1;
SELECT segmentation.refresh(as_of => '2024-05-10 15:30') IS NOT NULL AS refreshed;
SELECT user_id, plan, country FROM segmentation.user_scores WHERE user_id = 1;
SELECT user_id, attribute, reason FROM segmentation.rejected_attributes;
-- a predicate's cost counts an attribute string as up to 256 bytes
SELECT name, cost FROM segmentation.segments WHERE scheme = 'tier' ORDER BY name;
SELECT segmentation.drop_segment('ratio', 'high');

-- ---------------------------------------------------------------
-- 7b. Review 18: what a segment reads, its definer may read (F1, F7); an
--     ALTER of the table makes the next refresh full (F2); capture
--     triggers keep their names (F8); the owner's code is refused when it
--     is made, not at the next refresh (F3)
-- ---------------------------------------------------------------
CREATE ROLE regress_attr_admin2 IN ROLE segmentation_admin;
GRANT USAGE ON SCHEMA regress_attr TO regress_attr_admin2;
GRANT SELECT (id, plan) ON regress_attr.acct TO regress_attr_admin2;
-- (the definer is the login role: SET ROLE would leave it the superuser)
SET SESSION AUTHORIZATION regress_attr_admin2;
SELECT user_id, plan, seats FROM segmentation.user_scores WHERE user_id = 6;
SELECT segmentation.define_segment('probe', 'many', $$seats > 10$$);
SELECT segmentation.define_segment('probe', 'pro', $$plan = 'pro'$$);
SELECT count(*) AS rejected_plan_seen FROM segmentation.rejected_attributes;
RESET SESSION AUTHORIZATION;
SELECT scheme, name, defined_by FROM segmentation.segments WHERE scheme = 'probe';
-- SELECT taken back: refresh refuses the segment, and the rejected values
-- of the column are no longer listed to that admin
REVOKE SELECT (id, plan) ON regress_attr.acct FROM regress_attr_admin2;
\set VERBOSITY terse
SELECT segmentation.refresh(as_of => '2024-05-10 15:40') IS NOT NULL AS refreshed;
\set VERBOSITY default
SET ROLE regress_attr_admin2;
SELECT count(*) AS rejected_plan_seen FROM segmentation.rejected_attributes;
RESET ROLE;
SELECT segmentation.drop_segment('probe', 'pro');
SELECT segmentation.refresh(as_of => '2024-05-10 15:40') IS NOT NULL AS refreshed;
-- ALTER ... TYPE ... USING rewrites values without a write: the next
-- refresh is full, and reads them
SET ROLE regress_attr_owner;
ALTER TABLE regress_attr.acct ALTER COLUMN seats TYPE int USING seats * 10;
RESET ROLE;
SELECT count(*) AS next_is_full FROM segmentation.truncated;
SELECT segmentation.refresh(as_of => '2024-05-10 15:50') IS NOT NULL AS refreshed;
SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, seats FROM segmentation.user_scores WHERE user_id IN (1, 6) ORDER BY 1;
-- a capture trigger renamed (then disabled under its new name, writes
-- would pass unseen): refused; and found by refresh if event triggers were off
SET ROLE regress_attr_owner;
ALTER TRIGGER segmentation_attributes_update ON regress_attr.acct RENAME TO hidden;
RESET ROLE;
ALTER EVENT TRIGGER segmentation_attributes_ddl DISABLE;
ALTER TRIGGER segmentation_attributes_update ON regress_attr.acct RENAME TO hidden;
ALTER EVENT TRIGGER segmentation_attributes_ddl ENABLE ALWAYS;
\set VERBOSITY terse
SELECT segmentation.refresh(as_of => '2024-05-10 15:55') IS NOT NULL AS refreshed;
\set VERBOSITY default
ALTER EVENT TRIGGER segmentation_attributes_ddl DISABLE;
ALTER TRIGGER hidden ON regress_attr.acct RENAME TO segmentation_attributes_update;
ALTER EVENT TRIGGER segmentation_attributes_ddl ENABLE ALWAYS;
-- the owner's function in an index, statistics or a CHECK: refused at once
SET ROLE regress_attr_owner;
CREATE FUNCTION regress_attr.f(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE INDEX acct_f ON regress_attr.acct (regress_attr.f(plan));
CREATE STATISTICS regress_attr.st ON (regress_attr.f(plan)), seats FROM regress_attr.acct;
ALTER TABLE regress_attr.acct ADD CONSTRAINT c CHECK (regress_attr.f(plan) IS NOT NULL) NOT VALID;
-- CONCURRENTLY commits before the event trigger can refuse it (review 20,
-- N1): the index stays, invalid, which no read plans; refresh goes on
CREATE INDEX CONCURRENTLY acct_fc ON regress_attr.acct (regress_attr.f(plan));
SELECT indisvalid FROM pg_index WHERE indexrelid = 'regress_attr.acct_fc'::regclass;
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 15:55') IS NOT NULL AS refreshed;
SET ROLE regress_attr_owner;
DROP INDEX regress_attr.acct_fc;
RESET ROLE;
DROP OWNED BY regress_attr_admin2;
DROP ROLE regress_attr_admin2;

-- ---------------------------------------------------------------
-- 8. Privacy: forget_user erases the copy and the queue; opted-out users
--    stay out
-- ---------------------------------------------------------------
UPDATE regress_attr.acct SET plan = 'pro' WHERE id = 2;
SELECT segmentation.forget_user('2') IS NOT NULL AS forgotten;
SELECT count(*) FROM segmentation.user_attributes WHERE user_id = 2;
SELECT count(*) FROM segmentation.attribute_queue WHERE user_id = 2;
UPDATE regress_attr.acct SET plan = 'free' WHERE id = 2;
SELECT count(*) FROM segmentation.attribute_queue WHERE user_id = 2;
SELECT segmentation.refresh(true, as_of => '2024-05-10 16:00') IS NOT NULL AS refreshed;
SELECT count(*) FROM segmentation.user_attributes WHERE user_id = 2;
SELECT segmentation.opt_out('4');
SELECT count(*) FROM segmentation.user_scores WHERE user_id = 4;

-- ---------------------------------------------------------------
-- 9. untrack_users: refused while a segment uses an attribute
-- ---------------------------------------------------------------
SET ROLE regress_attr_admin;
SELECT segmentation.untrack_users();
SELECT segmentation.drop_segment('tier', 'big');
SELECT segmentation.drop_segment('tier', 'paying');
SELECT segmentation.drop_segment('tier', 'french');
SELECT segmentation.drop_segment('tenure', 'early');
SELECT segmentation.untrack_users();
RESET ROLE;
SELECT count(*) AS attribute_triggers FROM pg_trigger WHERE tgrelid = 'regress_attr.acct'::regclass AND tgname LIKE 'segmentation_attributes%';
SELECT to_regclass('segmentation.user_attributes') IS NULL AS state_gone;
SELECT column_name FROM information_schema.columns WHERE table_schema = 'segmentation' AND table_name = 'user_scores' AND column_name IN ('plan', 'seats');

-- row-level security that hides rows from a reader, not from the tracker
-- (the table's owner, an admin here): that reader sees no attribute
GRANT segmentation_admin TO regress_attr_owner;
SET ROLE regress_attr_owner;
CREATE TABLE regress_attr.rlsattr (id bigint PRIMARY KEY, plan text);
INSERT INTO regress_attr.rlsattr VALUES (1, 'pro'), (2, 'free');
ALTER TABLE regress_attr.rlsattr ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_pro ON regress_attr.rlsattr USING (plan = 'pro');
GRANT SELECT ON regress_attr.rlsattr TO regress_attr_analyst;
SELECT segmentation.track_users('regress_attr.rlsattr', 'id');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 16:10') IS NOT NULL AS refreshed;
SET ROLE regress_attr_analyst;
SELECT * FROM regress_attr.rlsattr;
SELECT user_id, plan FROM segmentation.user_scores WHERE user_id <= 2 ORDER BY 1;
RESET ROLE;
SELECT user_id, plan FROM segmentation.user_scores WHERE user_id <= 2 ORDER BY 1;
-- FORCE makes it hide rows from the owner too: refused
SET ROLE regress_attr_owner;
ALTER TABLE regress_attr.rlsattr FORCE ROW LEVEL SECURITY;
SELECT segmentation.untrack_users();
RESET ROLE;
REVOKE segmentation_admin FROM regress_attr_owner;

-- config written by hand (an admin may insert it) is checked before use
SET ROLE regress_attr_admin;
INSERT INTO segmentation.attribute_sources (source, user_column, columns) VALUES ('regress_attr.typed', 'id', '{d}');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 16:30') IS NOT NULL AS refreshed;
DELETE FROM segmentation.attribute_sources;

-- a dropped attribute table: refresh says so and what to do
SELECT segmentation.track_users('regress_attr.acct', 'id', '{plan}');
DROP TABLE regress_attr.acct;
SELECT segmentation.refresh(as_of => '2024-05-10 17:00') IS NOT NULL AS refreshed;
SELECT mode, error, error_source FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT segmentation.untrack_users();
SELECT segmentation.refresh(as_of => '2024-05-10 17:00') IS NOT NULL AS refreshed;

-- columns named like what refresh names inside its queries (review 18, F4)
CREATE TABLE regress_attr.names (id bigint PRIMARY KEY, a text, too_long int, c text, p text, r text, s text, v1 text);
INSERT INTO regress_attr.names VALUES (1, 'x', 5, 'c', 'p', 'r', 's', 'v'), (3, 'y', 7, NULL, NULL, NULL, NULL, NULL);
SELECT segmentation.track_users('regress_attr.names', 'id');
SELECT segmentation.define_segment('named', 'x', $$a = 'x' AND too_long = 5 AND c IS DISTINCT FROM 'z'$$);
SELECT segmentation.refresh(as_of => '2024-05-10 17:10') IS NOT NULL AS refreshed;
UPDATE regress_attr.names SET a = 'x', too_long = 5 WHERE id = 3;
SELECT segmentation.refresh(as_of => '2024-05-10 17:20') IS NOT NULL AS refreshed;
SELECT user_id, a, too_long, c, p, r, s, v1, named FROM segmentation.user_scores WHERE user_id IN (1, 3) ORDER BY 1;
SELECT state() AS incremental \gset
SELECT segmentation.refresh(true, as_of => '2024-05-10 17:20') IS NOT NULL AS refreshed;
SELECT state() = :'incremental' AS full_equals_incremental;
SELECT segmentation.drop_segment('named', 'x');
SELECT segmentation.untrack_users();

DROP FUNCTION state();
DROP EXTENSION segmentation CASCADE;
DROP SCHEMA regress_attr CASCADE;
DROP TABLE ev, victim;
DROP ROLE regress_attr_owner, regress_attr_admin, regress_attr_analyst;
CREATE EXTENSION segmentation;
