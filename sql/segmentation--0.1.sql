-- segmentation 0.1: behavioral segmentation inside PostgreSQL
\echo Use "CREATE EXTENSION segmentation" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION ... CASCADE also
-- removes what track() created in it (tables, views, capture triggers).
CREATE SCHEMA segmentation;
COMMENT ON SCHEMA segmentation IS 'Behavioral segmentation: behavior type, scores, segments and experiment lift';
SET LOCAL search_path = segmentation, pg_catalog;

-- ===================================================================
-- The behavior type (src/behavior.c)
-- ===================================================================

CREATE TYPE behavior;

CREATE FUNCTION behavior_in(cstring) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION behavior_out(behavior) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION behavior_recv(internal) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION behavior_send(behavior) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE behavior (
	INPUT = behavior_in,
	OUTPUT = behavior_out,
	RECEIVE = behavior_recv,
	SEND = behavior_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

COMMENT ON TYPE behavior IS 'Mergeable summary of one entity''s events: first/last seen, event count, value sum, exact active UTC days, per-feature count and first/last use';
COMMENT ON FUNCTION behavior_in(cstring) IS 'Text input of behavior: \x and the hex of its binary form, validated';
COMMENT ON FUNCTION behavior_out(behavior) IS 'Text output of behavior: \x and the hex of its binary form';
COMMENT ON FUNCTION behavior_recv(internal) IS 'Binary input of behavior, validated like text input';
COMMENT ON FUNCTION behavior_send(behavior) IS 'Binary output of behavior';

-- ===================================================================
-- Aggregates (src/aggregates.c)
-- ===================================================================

-- Transition and combine functions are not strict: they handle NULLs in C.
CREATE FUNCTION behavior_agg_trans(behavior, timestamptz) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION behavior_agg_trans(behavior, timestamptz, int4) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION behavior_agg_trans(behavior, timestamptz, int4, float8) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION behavior_merge(a behavior, b behavior) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION behavior_agg_trans(behavior, timestamptz) IS 'Transition function of behavior_agg(ts)';
COMMENT ON FUNCTION behavior_agg_trans(behavior, timestamptz, int4) IS 'Transition function of behavior_agg(ts, feature)';
COMMENT ON FUNCTION behavior_agg_trans(behavior, timestamptz, int4, float8) IS 'Transition function of behavior_agg(ts, feature, value)';
COMMENT ON FUNCTION behavior_merge(behavior, behavior) IS 'Exact union of two behaviors (a NULL side is no events); also the combine function of the behavior aggregates';

CREATE AGGREGATE behavior_agg(ts timestamptz) (
	SFUNC = behavior_agg_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	PARALLEL = SAFE
);
CREATE AGGREGATE behavior_agg(ts timestamptz, feature int4) (
	SFUNC = behavior_agg_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	PARALLEL = SAFE
);
CREATE AGGREGATE behavior_agg(ts timestamptz, feature int4, value float8) (
	SFUNC = behavior_agg_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	PARALLEL = SAFE
);
CREATE AGGREGATE behavior_union_agg(behavior) (
	SFUNC = behavior_merge,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE behavior_agg(timestamptz) IS 'Behavior of the events in the group; rows with NULL ts are skipped';
COMMENT ON AGGREGATE behavior_agg(timestamptz, int4) IS 'Behavior of the events in the group, with feature ids (NULL: no feature)';
COMMENT ON AGGREGATE behavior_agg(timestamptz, int4, float8) IS 'Behavior of the events in the group, with feature ids and values (NULL value: 0)';
COMMENT ON AGGREGATE behavior_union_agg(behavior) IS 'Exact union of the behaviors in the group (rollup of stored behaviors)';

-- ===================================================================
-- Accessors and scores (src/scores.c)
-- ===================================================================

CREATE FUNCTION first_seen(b behavior) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'behavior_first_seen' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION last_seen(b behavior) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'behavior_last_seen' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION event_count(b behavior) RETURNS bigint
	AS 'MODULE_PATHNAME', 'behavior_event_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION value_sum(b behavior) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_value_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recency_days(b behavior, as_of timestamptz) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_recency_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tenure_days(b behavior, as_of timestamptz) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_tenure_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION active_days(b behavior) RETURNS int
	AS 'MODULE_PATHNAME', 'behavior_active_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION active_days(b behavior, as_of timestamptz, "window" interval) RETURNS int
	AS 'MODULE_PATHNAME', 'behavior_active_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION current_streak(b behavior, as_of timestamptz) RETURNS int
	AS 'MODULE_PATHNAME', 'behavior_current_streak' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION decayed_activity(b behavior, as_of timestamptz, half_life interval) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_decayed_activity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION features(b behavior) RETURNS int[]
	AS 'MODULE_PATHNAME', 'behavior_features' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION feature_count(b behavior, feature int) RETURNS bigint
	AS 'MODULE_PATHNAME', 'behavior_feature_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION feature_last_seen(b behavior, feature int) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'behavior_feature_last_seen' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION adoption(b behavior, features int[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_adoption' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantile_score(x double precision, breakpoints double precision[]) RETURNS int
	AS 'MODULE_PATHNAME', 'quantile_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantile_score(x double precision, breakpoints double precision[], descending boolean) RETURNS int
	AS 'MODULE_PATHNAME', 'quantile_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION rfm_breakpoints_trans(internal, behavior, timestamptz) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rfm_breakpoints_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rfm_breakpoints_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rfm_breakpoints_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rfm_breakpoints_final(internal) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- the state holds every user's three values: mergeable, but not small
CREATE AGGREGATE rfm_breakpoints(b behavior, as_of timestamptz) (
	SFUNC = rfm_breakpoints_trans,
	STYPE = internal,
	COMBINEFUNC = rfm_breakpoints_combine,
	SERIALFUNC = rfm_breakpoints_serialize,
	DESERIALFUNC = rfm_breakpoints_deserialize,
	FINALFUNC = rfm_breakpoints_final,
	PARALLEL = SAFE
);

-- not STRICT: without rfm_breakpoints the RFM scores are NULL, the others are not
CREATE FUNCTION behavior_scores(b behavior, as_of timestamptz, feature_names text[] DEFAULT '{}',
	rfm_breakpoints double precision[] DEFAULT NULL,
	OUT first_seen timestamptz, OUT last_seen timestamptz, OUT recency_days double precision,
	OUT tenure_days double precision, OUT frequency bigint, OUT monetary double precision,
	OUT active_days int, OUT active_days_7 int, OUT active_days_28 int, OUT active_days_prev_28 int,
	OUT current_streak int, OUT decayed_activity double precision, OUT features_adopted int,
	OUT adoption_rate double precision, OUT r_score int, OUT f_score int, OUT m_score int,
	OUT rfm_cell text, OUT features_used text[])
	AS 'MODULE_PATHNAME', 'behavior_scores' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;

COMMENT ON FUNCTION first_seen(behavior) IS 'Time of the first event';
COMMENT ON FUNCTION last_seen(behavior) IS 'Time of the last event';
COMMENT ON FUNCTION event_count(behavior) IS 'Number of events (frequency)';
COMMENT ON FUNCTION value_sum(behavior) IS 'Sum of event values (monetary), summed exactly in units of 1e-9';
COMMENT ON FUNCTION recency_days(behavior, timestamptz) IS 'Days from last_seen to as_of, fractional; negative when as_of is earlier';
COMMENT ON FUNCTION tenure_days(behavior, timestamptz) IS 'Days from first_seen to as_of, fractional; negative when as_of is earlier';
COMMENT ON FUNCTION active_days(behavior) IS 'Number of distinct UTC days with at least one event';
COMMENT ON FUNCTION active_days(behavior, timestamptz, interval) IS 'Active UTC days d with date(as_of) - N < d <= date(as_of), for a window of N whole days';
COMMENT ON FUNCTION current_streak(behavior, timestamptz) IS 'Consecutive active UTC days ending at date(as_of), or at the day before when date(as_of) is idle; else 0';
COMMENT ON FUNCTION decayed_activity(behavior, timestamptz, interval) IS 'Sum over active days d <= date(as_of) of 0.5 ^ ((date(as_of) - d) / half_life in days)';
COMMENT ON FUNCTION features(behavior) IS 'Feature ids used at least once, ascending';
COMMENT ON FUNCTION feature_count(behavior, int) IS 'Number of events with this feature id (0 when unused)';
COMMENT ON FUNCTION feature_last_seen(behavior, int) IS 'Time of the last event with this feature id (NULL when unused)';
COMMENT ON FUNCTION adoption(behavior, int[]) IS 'Share of the distinct listed features used at least once (NULL for an empty list)';
COMMENT ON FUNCTION behavior_scores(behavior, timestamptz, text[], double precision[]) IS 'Every score of segmentation.scores from one decoding of b: windows of 7 and 28 days and the 28 before, streak, 7-day decayed activity; feature_names[i] names feature id i - 1 for features_used, features_adopted and adoption_rate; RFM scores from rfm_breakpoints (NULL without)';
COMMENT ON AGGREGATE rfm_breakpoints(behavior, timestamptz) IS 'RFM breakpoints of the population as a float8[3][4]: the 20/40/60/80th percentiles (percentile_cont) of recency_days(b, as_of), event_count(b) and value_sum(b)';
COMMENT ON FUNCTION rfm_breakpoints_trans(internal, behavior, timestamptz) IS 'Internal: transition function of rfm_breakpoints';
COMMENT ON FUNCTION rfm_breakpoints_final(internal) IS 'Internal: final function of rfm_breakpoints';
COMMENT ON FUNCTION rfm_breakpoints_combine(internal, internal) IS 'Internal: combine function of rfm_breakpoints';
COMMENT ON FUNCTION rfm_breakpoints_serialize(internal) IS 'Internal: serialize function of rfm_breakpoints';
COMMENT ON FUNCTION rfm_breakpoints_deserialize(bytea, internal) IS 'Internal: deserialize function of rfm_breakpoints';
COMMENT ON FUNCTION quantile_score(double precision, double precision[]) IS '1 + number of breakpoints strictly below x (RFM score from population quantiles)';
COMMENT ON FUNCTION quantile_score(double precision, double precision[], boolean) IS 'As quantile_score(x, breakpoints); descending gives the mirror score, 1 + number of breakpoints >= x';

-- ===================================================================
-- Statistics (src/stats.c)
-- ===================================================================

CREATE FUNCTION normal_cdf(x double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_quantile(p double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION students_t_cdf(t double precision, df double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION students_t_quantile(p double precision, df double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION chi2_cdf(x double precision, k double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION two_proportion_test(x1 bigint, n1 bigint, x2 bigint, n2 bigint,
	OUT control_rate double precision, OUT treatment_rate double precision, OUT abs_lift double precision,
	OUT z double precision, OUT p_value double precision,
	OUT abs_ci_low double precision, OUT abs_ci_high double precision,
	OUT rel_lift double precision, OUT rel_ci_low double precision, OUT rel_ci_high double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION welch_test(n1 bigint, mean1 double precision, var1 double precision,
	n2 bigint, mean2 double precision, var2 double precision,
	OUT diff double precision, OUT t double precision, OUT df double precision, OUT p_value double precision,
	OUT ci_low double precision, OUT ci_high double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION srm_test(counts bigint[], weights double precision[]) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bh_adjust(p double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sample_size_two_proportions(baseline double precision, mde double precision,
	alpha double precision DEFAULT 0.05, power double precision DEFAULT 0.8) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION normal_cdf(double precision) IS 'P(Z <= x) for the standard normal';
COMMENT ON FUNCTION normal_quantile(double precision) IS 'x with P(Z <= x) = p for the standard normal; -Infinity at 0, Infinity at 1';
COMMENT ON FUNCTION students_t_cdf(double precision, double precision) IS 'P(T <= t) for Student''s t with df > 0 (real) degrees of freedom';
COMMENT ON FUNCTION students_t_quantile(double precision, double precision) IS 't with P(T <= t) = p for Student''s t with df degrees of freedom';
COMMENT ON FUNCTION chi2_cdf(double precision, double precision) IS 'P(X <= x) for the chi-square distribution with k degrees of freedom';
COMMENT ON FUNCTION two_proportion_test(bigint, bigint, bigint, bigint) IS 'Two-proportion z test, group 1 = control: rates, abs_lift = p2 - p1 with unpooled Wald 95% CI, pooled z and two-sided p, rel_lift = p2/p1 - 1 with delta-method 95% CI; NULL where undefined';
COMMENT ON FUNCTION welch_test(bigint, double precision, double precision, bigint, double precision, double precision) IS 'Welch''s t test of mean2 - mean1: t, Welch-Satterthwaite df, two-sided p, 95% CI; NULL when a group has n < 2 or both variances are 0';
COMMENT ON FUNCTION srm_test(bigint[], double precision[]) IS 'Sample ratio mismatch: p-value of Pearson''s chi-square of arm sizes against design weights (weight-0 arms left out)';
COMMENT ON FUNCTION bh_adjust(double precision[]) IS 'Benjamini-Hochberg adjusted p-values (q-values), in input order; NULLs kept and not counted';
COMMENT ON FUNCTION sample_size_two_proportions(double precision, double precision, double precision, double precision) IS 'Users per arm to detect baseline -> baseline + mde (two-sided, pooled variance, no continuity correction); round up';

-- ===================================================================
-- Segment predicates (src/predicate.c)
-- ===================================================================

CREATE FUNCTION check_predicate(predicate text, scores regclass, schema regnamespace) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION check_predicate(text, regclass, regnamespace) IS 'Parse and check a segment predicate over the columns of the scores table; returns it deparsed, or raises an error naming what is not allowed';
-- STABLE: parses the rules against the catalog
CREATE FUNCTION _assign_segments(user_id anyelement, b behavior, current jsonb, as_of timestamptz,
	feature_names text[], rfm_breakpoints double precision[], schemes text[], rules text[], scores regclass,
	behavior_changed boolean, last_as_of timestamptz, last_breakpoints double precision[])
	RETURNS TABLE (segments jsonb, scheme text, from_segment text, from_entered_at timestamptz, to_segment text)
	AS 'MODULE_PATHNAME', 'assign_segments' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 1000 ROWS 1;
COMMENT ON FUNCTION _assign_segments(anyelement, behavior, jsonb, timestamptz, text[], double precision[], text[], text[], regclass, boolean, timestamptz, double precision[]) IS 'Internal: a user''s moves, rules[k] (checked like a predicate) deciding schemes[k] from the user''s scores: a row per scheme whose segment changes or that is gone (to_segment NULL), in byte order of the scheme names, the first with the user''s segments from now on, {"scheme": ["segment", "since"]}; no row when current holds them already, which (unless behavior_changed) is what the same rules gave at last_as_of with last_breakpoints';

-- ===================================================================
-- The managed pipeline: configuration
-- ===================================================================

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'segmentation_admin') THEN
		CREATE ROLE segmentation_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'segmentation_reader') THEN
		CREATE ROLE segmentation_reader NOLOGIN;
	END IF;
END $$;

CREATE TABLE sources (
	id serial PRIMARY KEY,
	source regclass NOT NULL UNIQUE,
	user_column name NOT NULL,
	time_column name NOT NULL,
	event_column name NOT NULL,
	value_column name,
	user_type regtype NOT NULL,
	tracked_by name NOT NULL DEFAULT current_user,
	tracked_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE features (
	id int PRIMARY KEY CHECK (id >= 0),
	name text NOT NULL UNIQUE,
	event_names text[] NOT NULL CHECK (cardinality(event_names) > 0)
);
CREATE TABLE segments (
	scheme text NOT NULL,
	name text NOT NULL,
	predicate text NOT NULL,
	checked_predicate text NOT NULL,
	priority int NOT NULL DEFAULT 100,
	description text,
	defined_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (scheme, name)
);
CREATE TABLE refresh_runs (
	id bigserial PRIMARY KEY,
	started_at timestamptz NOT NULL,
	finished_at timestamptz,
	mode text NOT NULL CHECK (mode IN ('full', 'incremental')),
	as_of timestamptz NOT NULL,
	events_read bigint,
	users_changed bigint,
	transitions bigint,
	error text
);

SELECT pg_catalog.pg_extension_config_dump('sources', '');
SELECT pg_catalog.pg_extension_config_dump('sources_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('features', '');
SELECT pg_catalog.pg_extension_config_dump('segments', '');
SELECT pg_catalog.pg_extension_config_dump('refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('refresh_runs_id_seq', '');

COMMENT ON TABLE sources IS 'Tracked events tables: which columns hold the user, the time, the event name and the value';
COMMENT ON TABLE features IS 'Product features: each is one or more event names; ids are stable and used in behavior values';
COMMENT ON TABLE segments IS 'Segment definitions: inside a scheme each user is in the matching segment of highest priority, else in unsegmented';
COMMENT ON TABLE refresh_runs IS 'One row per refresh: times, mode, events read, users changed, transitions, error';
COMMENT ON COLUMN sources.source IS 'The events table';
COMMENT ON COLUMN sources.user_column IS 'Column with the user id';
COMMENT ON COLUMN sources.time_column IS 'Column with the event time (timestamptz)';
COMMENT ON COLUMN sources.event_column IS 'Column with the event name';
COMMENT ON COLUMN sources.value_column IS 'Column with the event value (numeric), or NULL';
COMMENT ON COLUMN sources.user_type IS 'Type of the user id, the same for every source';
COMMENT ON COLUMN sources.tracked_by IS 'Role that tracked the source (set by a trigger, not by the caller): refresh reads the source only while this role may';
COMMENT ON COLUMN features.event_names IS 'Event names that count as a use of this feature';
COMMENT ON COLUMN segments.predicate IS 'The predicate as written';
COMMENT ON COLUMN segments.checked_predicate IS 'The predicate as checked and deparsed: what refresh evaluates';
COMMENT ON COLUMN refresh_runs.events_read IS 'Events merged or recomputed by this run';
COMMENT ON COLUMN refresh_runs.users_changed IS 'Users whose behavior changed';
COMMENT ON COLUMN refresh_runs.transitions IS 'Segment moves recorded in transitions';
COMMENT ON COLUMN refresh_runs.error IS 'Error text when the run failed (the previous state is kept)';

-- the score columns a predicate may use, and that user_scores shows
CREATE FUNCTION score_columns() RETURNS TABLE (name text, type text, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
VALUES ('first_seen', 'timestamptz', 'First event'),
       ('last_seen', 'timestamptz', 'Last event'),
       ('recency_days', 'double precision', 'Days since the last event, as of the refresh'),
       ('tenure_days', 'double precision', 'Days since the first event, as of the refresh'),
       ('frequency', 'bigint', 'Number of events'),
       ('monetary', 'double precision', 'Sum of event values'),
       ('active_days', 'integer', 'Distinct active UTC days, all time'),
       ('active_days_7', 'integer', 'Active days in the 7 days up to the refresh'),
       ('active_days_28', 'integer', 'Active days in the 28 days up to the refresh'),
       ('active_days_prev_28', 'integer', 'Active days in the 28 days before those'),
       ('current_streak', 'integer', 'Consecutive active days up to the refresh'),
       ('decayed_activity', 'double precision', 'Active days weighted by a 7-day half-life'),
       ('features_adopted', 'integer', 'Defined features used at least once'),
       ('adoption_rate', 'double precision', 'Share of the defined features used at least once'),
       ('r_score', 'integer', 'Recency quintile score, 5 = most recent'),
       ('f_score', 'integer', 'Frequency quintile score, 5 = most frequent'),
       ('m_score', 'integer', 'Monetary quintile score, 5 = highest value'),
       ('rfm_cell', 'text', 'The three scores, e.g. 545'),
       ('features_used', 'text[]', 'Names of the defined features used (predicates only; not in user_scores)')
$$;
COMMENT ON FUNCTION score_columns() IS 'The columns of segmentation.scores (besides user_id): what segment predicates may use';

-- tracked_by is whoever inserts or updates the row: a plain (not SECURITY
-- DEFINER) trigger sees the real current_user, so it cannot be forged.
CREATE FUNCTION _stamp_tracked_by() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.tracked_by := current_user;
	RETURN NEW;
END $$;
COMMENT ON FUNCTION _stamp_tracked_by() IS 'Internal: records which role tracked a source';
CREATE TRIGGER stamp_tracked_by BEFORE INSERT OR UPDATE ON sources
	FOR EACH ROW EXECUTE FUNCTION _stamp_tracked_by();

-- event name -> feature id
CREATE VIEW _feature_map AS
	SELECT e.event, f.id FROM features f, unnest(f.event_names) AS e(event);
COMMENT ON VIEW _feature_map IS 'Internal: which feature each event name counts for';

-- ===================================================================
-- Materialized state, created by the first track() with the user id type
-- ===================================================================

CREATE FUNCTION _create_state(user_type regtype) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t text := user_type::text;
	r record;
BEGIN
	IF to_regclass('segmentation.profiles') IS NOT NULL THEN
		RETURN;
	END IF;
	EXECUTE format($ddl$
		-- free space in every page, so that a refresh's updates stay on their page (HOT)
		CREATE TABLE segmentation.profiles (
			user_id %1$s PRIMARY KEY, behavior segmentation.behavior NOT NULL,
			segments jsonb NOT NULL DEFAULT '{}', changed_run bigint NOT NULL) WITH (fillfactor = 80);
		-- a move also records since when the user was in the segment left: the
		-- outbox is the history of every stay that ended, written once
		CREATE TABLE segmentation.transitions (
			id bigserial PRIMARY KEY, run_id bigint, scheme text NOT NULL, user_id %1$s NOT NULL,
			from_segment text, from_entered_at timestamptz, to_segment text, at timestamptz NOT NULL);
		CREATE TABLE segmentation.pending_events (source_id int, user_id %1$s, ts timestamptz, event text, value float8);
		CREATE TABLE segmentation.dirty_users (user_id %1$s);
		CREATE TABLE segmentation.truncated (source_id int);
	$ddl$, t);
	CREATE TABLE segmentation.score_context (
		only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
		as_of timestamptz,
		feature_names text[] NOT NULL DEFAULT '{}',
		rfm_breakpoints float8[],
		schemes text[] NOT NULL DEFAULT '{}',
		rules text[]);
	INSERT INTO segmentation.score_context DEFAULT VALUES;

	-- Scores are not stored: they are computed from the stored behaviors with
	-- the context of the last refresh whenever they are read, so a refresh
	-- writes only the users who changed.
	CREATE VIEW segmentation._user_state AS
	SELECT p.user_id, s.*, p.segments
	FROM segmentation.profiles p,
	     LATERAL segmentation.behavior_scores(p.behavior,
	         (SELECT c.as_of FROM segmentation.score_context c),
	         (SELECT c.feature_names FROM segmentation.score_context c),
	         (SELECT c.rfm_breakpoints FROM segmentation.score_context c)) s;
	EXECUTE format('CREATE VIEW segmentation.scores AS SELECT user_id, %s FROM segmentation._user_state',
		(SELECT string_agg(format('%I', c.name), ', ') FROM segmentation.score_columns() c));
	-- A user's current segments live in their profile, so that a refresh
	-- compares and writes one row per user who moved; transitions keeps the
	-- stays they left.
	CREATE VIEW segmentation.memberships AS
	SELECT m.key AS scheme, p.user_id, m.value ->> 0 AS segment, (m.value ->> 1)::timestamptz AS entered_at
	FROM segmentation.profiles p, jsonb_each(p.segments) m;
	CREATE VIEW segmentation.membership_history AS
	SELECT t.scheme, t.user_id, t.from_segment AS segment, t.from_entered_at AS entered_at, t.at AS exited_at
	FROM segmentation.transitions t
	WHERE t.from_segment IS NOT NULL
	UNION ALL
	SELECT m.scheme, m.user_id, m.segment, m.entered_at, NULL::timestamptz FROM segmentation.memberships m;

	COMMENT ON TABLE segmentation.profiles IS 'One behavior per user, merged from every tracked source, and the user''s current segment in every scheme';
	COMMENT ON COLUMN segmentation.profiles.segments IS 'Current segment per scheme and since when: {"scheme": ["segment", "entered_at"]}';
	COMMENT ON COLUMN segmentation.profiles.changed_run IS 'The refresh run (refresh_runs.id) that last changed the behavior';
	COMMENT ON TABLE segmentation.score_context IS 'What the scores and segments of the last refresh were computed with: as_of, feature names, RFM breakpoints, schemes and their rules (one row)';
	COMMENT ON VIEW segmentation._user_state IS 'Internal: scores and current segments of every user, as of the last refresh';
	COMMENT ON VIEW segmentation.scores IS 'Scores of every user as of the last refresh, computed from profiles and score_context: what segment predicates read';
	COMMENT ON VIEW segmentation.memberships IS 'Current segment of every user in every scheme (from profiles.segments)';
	COMMENT ON COLUMN segmentation.memberships.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.memberships.user_id IS 'User id';
	COMMENT ON COLUMN segmentation.memberships.segment IS 'Segment the user is in now';
	COMMENT ON COLUMN segmentation.memberships.entered_at IS 'as_of of the refresh that put the user there';
	COMMENT ON COLUMN segmentation.scores.user_id IS 'User id, of the tracked sources'' type';
	FOR r IN SELECT c.name, c.description FROM segmentation.score_columns() c LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.scores.%I IS %L', r.name, r.description);
	END LOOP;
	COMMENT ON VIEW segmentation.membership_history IS 'Who was in which segment when: the stays that ended (from transitions) and the current ones (memberships), whose exited_at is NULL';
	COMMENT ON COLUMN segmentation.membership_history.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.membership_history.user_id IS 'User id';
	COMMENT ON COLUMN segmentation.membership_history.segment IS 'Segment';
	COMMENT ON COLUMN segmentation.membership_history.entered_at IS 'as_of of the refresh that put the user there';
	COMMENT ON COLUMN segmentation.membership_history.exited_at IS 'as_of of the refresh that moved the user out; NULL while the user is in it';
	COMMENT ON TABLE segmentation.transitions IS 'Append-only outbox of segment moves (from_segment NULL: a new user; to_segment NULL: a user gone), announced by NOTIFY segmentation_transitions; also the history of the stays that ended';
	COMMENT ON COLUMN segmentation.transitions.from_entered_at IS 'When the user entered from_segment: with at, the stay this move ended';
	COMMENT ON TABLE segmentation.pending_events IS 'Internal: events inserted into tracked sources since the last refresh';
	COMMENT ON TABLE segmentation.dirty_users IS 'Internal: users whose events were updated or deleted since the last refresh';
	COMMENT ON TABLE segmentation.truncated IS 'Internal: sources truncated or newly tracked since the last refresh (next refresh is full)';

	GRANT SELECT ON segmentation.profiles, segmentation.score_context, segmentation.scores, segmentation.memberships,
		segmentation.membership_history, segmentation.transitions TO segmentation_admin;
	GRANT INSERT ON segmentation.truncated TO segmentation_admin;

	CREATE VIEW segmentation.segment_summary AS
	SELECT m.key AS scheme, m.value ->> 0 AS segment, count(*)::bigint AS users,
	       count(*)::float8 / sum(count(*)) OVER (PARTITION BY m.key)::float8 AS share,
	       avg(u.recency_days)::float8 AS mean_recency_days,
	       avg(u.frequency)::float8 AS mean_frequency,
	       avg(u.monetary)::float8 AS mean_monetary,
	       avg(u.active_days_28)::float8 AS mean_active_days_28,
	       avg(u.adoption_rate)::float8 AS mean_adoption_rate
	FROM segmentation._user_state u, jsonb_each(u.segments) m
	GROUP BY m.key, m.value ->> 0;
	CREATE VIEW segmentation.segment_migration AS
	SELECT scheme, coalesce(from_segment, '(new)') AS from_segment, coalesce(to_segment, '(gone)') AS to_segment,
	       date_trunc('day', at, 'UTC') AS period, count(DISTINCT user_id)::bigint AS users
	FROM segmentation.transitions
	GROUP BY 1, 2, 3, 4;
	COMMENT ON VIEW segmentation.segment_summary IS 'Size and mean scores of every segment of every scheme';
	COMMENT ON COLUMN segmentation.segment_summary.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.segment_summary.segment IS 'Segment (unsegmented: no predicate matched)';
	COMMENT ON COLUMN segmentation.segment_summary.users IS 'Users in the segment';
	COMMENT ON COLUMN segmentation.segment_summary.share IS 'Share of the scheme''s users';
	COMMENT ON COLUMN segmentation.segment_summary.mean_recency_days IS 'Mean days since last event';
	COMMENT ON COLUMN segmentation.segment_summary.mean_frequency IS 'Mean number of events';
	COMMENT ON COLUMN segmentation.segment_summary.mean_monetary IS 'Mean value sum';
	COMMENT ON COLUMN segmentation.segment_summary.mean_active_days_28 IS 'Mean active days in the last 28 days';
	COMMENT ON COLUMN segmentation.segment_summary.mean_adoption_rate IS 'Mean share of features adopted';
	COMMENT ON VIEW segmentation.segment_migration IS 'Users who moved between segments, per scheme and UTC day';
	COMMENT ON COLUMN segmentation.segment_migration.scheme IS 'Scheme';
	COMMENT ON COLUMN segmentation.segment_migration.from_segment IS 'Segment left ((new): first segment of a new user)';
	COMMENT ON COLUMN segmentation.segment_migration.to_segment IS 'Segment entered ((gone): the user has no events any more)';
	COMMENT ON COLUMN segmentation.segment_migration.period IS 'UTC day of the move (the as_of of the refresh)';
	COMMENT ON COLUMN segmentation.segment_migration.users IS 'Users who made this move that day';
	GRANT SELECT ON segmentation.segment_summary, segmentation.segment_migration TO segmentation_reader, segmentation_admin;
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION _create_state(regtype) IS 'Internal: creates the materialized tables and views for a user id type';

-- user_scores has one column per scheme, so it is rebuilt when schemes change
CREATE FUNCTION _rebuild_views() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	IF to_regclass('segmentation._user_state') IS NULL THEN
		RETURN;
	END IF;
	IF to_regclass('segmentation.user_scores') IS NOT NULL THEN
		DROP VIEW segmentation.user_scores;
	END IF;
	EXECUTE format('CREATE VIEW segmentation.user_scores AS SELECT u.user_id%s%s FROM segmentation._user_state u',
		(SELECT string_agg(format(', u.%I', name), '') FROM segmentation.score_columns() WHERE name <> 'features_used'),
		coalesce((SELECT string_agg(format(', coalesce(u.segments -> %L ->> 0, %L) AS %I', scheme, 'unsegmented', scheme), '' ORDER BY scheme)
		          FROM (SELECT DISTINCT s.scheme FROM segmentation.segments s) d), ''));
	COMMENT ON VIEW segmentation.user_scores IS 'One row per user: behavior scores as of the last refresh and the segment in every scheme';
	COMMENT ON COLUMN segmentation.user_scores.user_id IS 'User id, of the tracked sources'' type';
	FOR r IN SELECT name, description FROM segmentation.score_columns() WHERE name <> 'features_used' LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.user_scores.%I IS %L', r.name, r.description);
	END LOOP;
	FOR r IN SELECT DISTINCT scheme FROM segmentation.segments LOOP
		EXECUTE format('COMMENT ON COLUMN segmentation.user_scores.%I IS %L', r.scheme,
			format('Segment in scheme %s', r.scheme));
	END LOOP;
	GRANT SELECT ON segmentation.user_scores TO segmentation_reader, segmentation_admin;
END $$;
COMMENT ON FUNCTION _rebuild_views() IS 'Internal: recreates user_scores with one column per scheme';

-- The capture triggers of one source: inserted rows are queued for the next
-- refresh; users whose rows are updated or deleted are recomputed by it; a
-- truncate makes it full.  Statement triggers with transition tables, so a
-- COPY or a multi-row INSERT costs one INSERT ... SELECT.
CREATE FUNCTION _install_capture(source_id int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s segmentation.sources;
	fn text := format('segmentation.%I', '_capture_' || source_id);
BEGIN
	SELECT * INTO STRICT s FROM segmentation.sources WHERE id = source_id;
	IF NOT has_table_privilege(s.tracked_by, s.source, 'SELECT') OR NOT has_table_privilege(s.tracked_by, s.source, 'TRIGGER') THEN
		RAISE EXCEPTION 'role % may not track %', s.tracked_by, s.source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Tracking needs SELECT and TRIGGER on the events table.';
	END IF;
	EXECUTE format($f$
		CREATE FUNCTION %1$s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
		BEGIN
			IF TG_OP = 'INSERT' THEN
				INSERT INTO segmentation.pending_events (source_id, user_id, ts, event, value)
				SELECT %2$s, n.%3$I, n.%4$I, n.%5$I::text, %6$s FROM new_rows n;
			ELSIF TG_OP = 'UPDATE' THEN
				INSERT INTO segmentation.dirty_users (user_id)
				SELECT o.%3$I FROM old_rows o UNION SELECT n.%3$I FROM new_rows n;
			ELSIF TG_OP = 'DELETE' THEN
				INSERT INTO segmentation.dirty_users (user_id) SELECT DISTINCT o.%3$I FROM old_rows o;
			ELSE
				INSERT INTO segmentation.truncated (source_id) VALUES (%2$s);
			END IF;
			RETURN NULL;
		END $body$;
		CREATE TRIGGER segmentation_capture_insert AFTER INSERT ON %7$s
			REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
		CREATE TRIGGER segmentation_capture_update AFTER UPDATE ON %7$s
			REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
		CREATE TRIGGER segmentation_capture_delete AFTER DELETE ON %7$s
			REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
		CREATE TRIGGER segmentation_capture_truncate AFTER TRUNCATE ON %7$s
			FOR EACH STATEMENT EXECUTE FUNCTION %1$s();
	$f$, fn, source_id, s.user_column, s.time_column, s.event_column,
		CASE WHEN s.value_column IS NULL THEN 'NULL::float8' ELSE format('n.%I::float8', s.value_column) END,
		s.source);
	EXECUTE format('COMMENT ON FUNCTION %s() IS %L', fn, format('Internal: captures changes of %s for refresh', s.source));
	-- the rows already there are read by the next refresh, which is full
	INSERT INTO segmentation.truncated (source_id) VALUES (source_id);
END $$;
COMMENT ON FUNCTION _install_capture(int) IS 'Internal: creates the change-capture triggers of a tracked source';

-- The union of all tracked sources as (user_id, ts, event, value), checking
-- that each one's tracker may still read it.
CREATE FUNCTION _sources_sql() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
	parts text[] := '{}';
BEGIN
	FOR s IN SELECT * FROM segmentation.sources ORDER BY id LOOP
		IF NOT has_table_privilege(s.tracked_by, s.source, 'SELECT') THEN
			RAISE EXCEPTION 'role % that tracked % may no longer read it', s.tracked_by, s.source
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		parts := parts || format('SELECT t.%I AS user_id, t.%I AS ts, t.%I::text AS event, %s AS value FROM %s t',
			s.user_column, s.time_column, s.event_column,
			CASE WHEN s.value_column IS NULL THEN 'NULL::float8' ELSE format('t.%I::float8', s.value_column) END,
			s.source);
	END LOOP;
	RETURN array_to_string(parts, ' UNION ALL ');
END $$;
COMMENT ON FUNCTION _sources_sql() IS 'Internal: SQL of the union of the tracked sources';

-- ===================================================================
-- Public pipeline functions
-- ===================================================================

CREATE FUNCTION track(source regclass, user_column name, time_column name, event_column name, value_column name DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kind "char";
	user_t regtype;
	existing regtype;
	id int;
	col name;
	t regtype;
BEGIN
	SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = source;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'cannot track %: it is not a table', source
			USING ERRCODE = 'wrong_object_type', HINT = 'Track the table the application inserts into, not a view.';
	END IF;
	IF NOT has_table_privilege(source, 'SELECT') OR NOT has_table_privilege(source, 'TRIGGER') THEN
		RAISE EXCEPTION 'permission denied to track %', source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Tracking needs SELECT and TRIGGER on the events table.';
	END IF;
	FOREACH col IN ARRAY ARRAY[user_column, time_column, event_column, value_column] LOOP
		CONTINUE WHEN col IS NULL;
		SELECT a.atttypid::regtype INTO t FROM pg_attribute a
		WHERE a.attrelid = source AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF t IS NULL THEN
			RAISE EXCEPTION 'column "%" does not exist in %', col, source USING ERRCODE = 'undefined_column';
		END IF;
		IF col = time_column AND t <> 'timestamptz'::regtype THEN
			RAISE EXCEPTION 'time column "%" of % is %, not timestamptz', col, source, t
				USING ERRCODE = 'datatype_mismatch', HINT = 'Event times must be timestamp with time zone.';
		END IF;
		IF col = event_column AND t NOT IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype, 'bpchar'::regtype) THEN
			RAISE EXCEPTION 'event column "%" of % is %, not text', col, source, t USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = value_column AND t NOT IN ('float8'::regtype, 'float4'::regtype, 'numeric'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
			RAISE EXCEPTION 'value column "%" of % is %, not a number', col, source, t USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = user_column THEN
			user_t := t;
		END IF;
	END LOOP;
	SELECT s.user_type INTO existing FROM segmentation.sources s LIMIT 1;
	IF existing IS NOT NULL AND existing <> user_t THEN
		RAISE EXCEPTION 'user column "%" of % is %, but tracked sources use %', user_column, source, user_t, existing
			USING ERRCODE = 'datatype_mismatch', HINT = 'Sources are unioned by user id, so every source needs the same user id type.';
	END IF;
	IF EXISTS (SELECT FROM segmentation.sources s WHERE s.source = track.source) THEN
		RAISE EXCEPTION '% is already tracked', source USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO segmentation.sources (source, user_column, time_column, event_column, value_column, user_type)
	VALUES (source, user_column, time_column, event_column, value_column, user_t)
	RETURNING sources.id INTO id;
	PERFORM segmentation._create_state(user_t);
	PERFORM segmentation._install_capture(id);
END $$;
COMMENT ON FUNCTION track(regclass, name, name, name, name) IS 'Track an events table: its inserts, updates, deletes and truncates reach the next refresh; the first refresh after it is full';

CREATE FUNCTION define_feature(name text, event_names text[]) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fid int;
	clash record;
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'argument "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF event_names IS NULL OR cardinality(event_names) = 0 OR array_position(event_names, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "event_names" must list at least one event name, without NULLs' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT m.event, f.name AS feature INTO clash FROM segmentation._feature_map m JOIN segmentation.features f ON f.id = m.id
	WHERE m.event = ANY (define_feature.event_names) AND f.name <> define_feature.name LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'event "%" already counts for feature "%"', clash.event, clash.feature
			USING ERRCODE = 'duplicate_object', HINT = 'An event name belongs to one feature.';
	END IF;
	UPDATE segmentation.features f SET event_names = define_feature.event_names WHERE f.name = define_feature.name RETURNING f.id INTO fid;
	IF fid IS NULL THEN
		INSERT INTO segmentation.features (id, name, event_names)
		SELECT coalesce(max(f.id) + 1, 0), define_feature.name, define_feature.event_names FROM segmentation.features f
		RETURNING features.id INTO fid;
	END IF;
	-- stored behaviors carry feature ids: the next refresh recomputes them
	IF to_regclass('segmentation.truncated') IS NOT NULL THEN
		INSERT INTO segmentation.truncated (source_id) VALUES (NULL);
	END IF;
	RETURN fid;
END $$;
COMMENT ON FUNCTION define_feature(text, text[]) IS 'Define (or redefine) a product feature as one or more event names; returns its stable id; the next refresh is full';

CREATE FUNCTION define_segment(scheme text, name text, predicate text, priority int DEFAULT 100, description text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	checked text;
BEGIN
	IF scheme IS NULL OR scheme = '' OR name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'arguments "scheme" and "name" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF name = 'unsegmented' THEN
		RAISE EXCEPTION 'segment name "unsegmented" is reserved' USING ERRCODE = 'reserved_name',
			HINT = 'Users that match no predicate of a scheme are in unsegmented.';
	END IF;
	IF scheme = 'user_id' OR EXISTS (SELECT FROM segmentation.score_columns() c WHERE c.name = scheme) THEN
		RAISE EXCEPTION 'scheme name "%" is taken by a column of user_scores', scheme USING ERRCODE = 'reserved_name';
	END IF;
	IF predicate IS NULL OR priority IS NULL THEN
		RAISE EXCEPTION 'arguments "predicate" and "priority" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF to_regclass('segmentation.scores') IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Call segmentation.track(...) first: predicates are checked against its user id type.';
	END IF;
	checked := segmentation.check_predicate(predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace);
	INSERT INTO segmentation.segments AS s (scheme, name, predicate, checked_predicate, priority, description)
	VALUES (scheme, name, predicate, checked, priority, description)
	ON CONFLICT ON CONSTRAINT segments_pkey DO UPDATE
		SET predicate = EXCLUDED.predicate, checked_predicate = EXCLUDED.checked_predicate,
		    priority = EXCLUDED.priority, description = EXCLUDED.description, defined_at = now();
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION define_segment(text, text, text, int, text) IS 'Define (or replace) a segment of a scheme: a checked boolean predicate over the columns of segmentation.scores; the highest priority match wins';

CREATE FUNCTION drop_segment(scheme text, name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM segmentation.segments s WHERE s.scheme = drop_segment.scheme AND s.name = drop_segment.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'segment "%" of scheme "%" does not exist', name, scheme USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM segmentation._rebuild_views();
END $$;
COMMENT ON FUNCTION drop_segment(text, text) IS 'Drop a segment; its users move at the next refresh';

-- ===================================================================
-- refresh
-- ===================================================================

CREATE FUNCTION refresh(full boolean DEFAULT false, as_of timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	do_full boolean := $1;	-- "full" is a keyword inside expressions
	run bigint;
	utype text;
	src text;
	n_events bigint := 0;
	n_users bigint := 0;
	n_moves bigint := 0;
	sch text;
	k int;
	seg record;
	cases text;
	new_rules text[];
	names text[];
	breaks float8[];
	old_schemes text[];
	new_schemes text[];
	last_as_of timestamptz;
	last_names text[];
	last_breaks float8[];
	last_rules text[];
	prune boolean;
	saved_hashjoin text;
	saved_mergejoin text;
	first_id bigint;
	last_id bigint;
	n bigint;
BEGIN
	IF do_full IS NULL OR as_of IS NULL OR NOT isfinite(as_of) THEN
		RAISE EXCEPTION 'arguments "full" and "as_of" must not be NULL, and "as_of" must be finite' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- one refresh at a time; a second one returns at once
	IF NOT pg_try_advisory_xact_lock(hashtext('segmentation.refresh')) THEN
		RAISE NOTICE 'another segmentation.refresh() is running; this one did nothing'
			USING HINT = 'The running refresh will pick up every event committed before it started; the next one picks up the rest.';
		RETURN NULL;
	END IF;
	IF to_regclass('segmentation.profiles') IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Call segmentation.track(...) first.';
	END IF;
	do_full := do_full OR EXISTS (SELECT FROM segmentation.truncated)
		OR NOT EXISTS (SELECT FROM segmentation.refresh_runs r WHERE r.error IS NULL AND r.finished_at IS NOT NULL);
	INSERT INTO segmentation.refresh_runs (started_at, mode, as_of)
	VALUES (clock_timestamp(), CASE WHEN do_full THEN 'full' ELSE 'incremental' END, as_of)
	RETURNING id INTO run;

	BEGIN
		SELECT s.user_type::text INTO utype FROM segmentation.sources s LIMIT 1;
		src := segmentation._sources_sql();
		EXECUTE format('CREATE TEMP TABLE _batch (user_id %s, b segmentation.behavior, replace boolean, n bigint) ON COMMIT DROP', utype);

		-- One statement, so one snapshot: the queued events it consumes, the
		-- users it recomputes and the source rows it reads are the same
		-- moment's.  An event committed later stays queued for the next run.
		IF do_full THEN
			EXECUTE format($q$
				WITH c AS (DELETE FROM segmentation.pending_events RETURNING 1),
				     d AS (DELETE FROM segmentation.dirty_users RETURNING 1),
				     t AS (DELETE FROM segmentation.truncated RETURNING 1)
				INSERT INTO _batch
				SELECT e.user_id, segmentation.behavior_agg(e.ts, fm.id, e.value), true, count(*)
				FROM (%s) e LEFT JOIN segmentation._feature_map fm ON fm.event = e.event
				WHERE e.user_id IS NOT NULL
				GROUP BY e.user_id
			$q$, src);
			INSERT INTO _batch SELECT p.user_id, NULL, true, 0 FROM segmentation.profiles p
			WHERE NOT EXISTS (SELECT FROM _batch b WHERE b.user_id = p.user_id);
		ELSE
			EXECUTE format($q$
				WITH c AS (DELETE FROM segmentation.pending_events RETURNING user_id, ts, event, value),
				     d AS (DELETE FROM segmentation.dirty_users RETURNING user_id),
				     dd AS (SELECT DISTINCT user_id FROM d WHERE user_id IS NOT NULL),
				     r AS (SELECT e.user_id, segmentation.behavior_agg(e.ts, fm.id, e.value) AS b, count(*) AS n
				           FROM (%s) e LEFT JOIN segmentation._feature_map fm ON fm.event = e.event
				           WHERE e.user_id IN (SELECT user_id FROM dd)
				           GROUP BY e.user_id)
				INSERT INTO _batch
				SELECT c.user_id, segmentation.behavior_agg(c.ts, fm.id, c.value), false, count(*)
				FROM c LEFT JOIN segmentation._feature_map fm ON fm.event = c.event
				WHERE c.user_id IS NOT NULL AND NOT EXISTS (SELECT FROM dd WHERE dd.user_id = c.user_id)
				GROUP BY c.user_id
				UNION ALL
				SELECT dd.user_id, r.b, true, coalesce(r.n, 0) FROM dd LEFT JOIN r USING (user_id)
			$q$, src);
		END IF;
		ANALYZE _batch;
		SELECT coalesce(sum(b.n), 0) INTO n_events FROM _batch b;

		-- Merge new events into stored behaviors, or add the new users: each
		-- profile found through the index, in key order (the index pages and
		-- rows each one touches come in order; a hash join would read every
		-- profile).  MERGE: one index lookup and one write per user, where
		-- INSERT ... ON CONFLICT also locks the row first (0.1 to 0.4 s more
		-- per 100,000 users).  Only refresh writes profiles, one at a time.
		saved_hashjoin := current_setting('enable_hashjoin');
		saved_mergejoin := current_setting('enable_mergejoin');
		PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
		MERGE INTO segmentation.profiles p
		USING (SELECT b.user_id, b.b FROM _batch b WHERE b.b IS NOT NULL AND NOT b.replace ORDER BY b.user_id) b
		ON p.user_id = b.user_id
		WHEN MATCHED THEN UPDATE SET behavior = segmentation.behavior_merge(p.behavior, b.b), changed_run = run
		WHEN NOT MATCHED THEN INSERT (user_id, behavior, changed_run) VALUES (b.user_id, b.b, run);
		GET DIAGNOSTICS n_users = ROW_COUNT;
		PERFORM set_config('enable_hashjoin', saved_hashjoin, true), set_config('enable_mergejoin', saved_mergejoin, true);
		-- replace recomputed ones (in key order)
		INSERT INTO segmentation.profiles AS p (user_id, behavior, changed_run)
		SELECT b.user_id, b.b, run FROM _batch b WHERE b.b IS NOT NULL AND b.replace ORDER BY b.user_id
		ON CONFLICT (user_id) DO UPDATE SET behavior = EXCLUDED.behavior, changed_run = EXCLUDED.changed_run
			WHERE p.behavior::text <> EXCLUDED.behavior::text;
		GET DIAGNOSTICS n = ROW_COUNT;
		n_users := n_users + n;

		-- users with no event left leave every scheme
		EXECUTE format('CREATE TEMP TABLE _gone (user_id %s, segments jsonb) ON COMMIT DROP', utype);
		WITH gone AS (DELETE FROM segmentation.profiles p USING _batch b
		              WHERE b.replace AND b.b IS NULL AND p.user_id = b.user_id
		              RETURNING p.user_id, p.segments)
		INSERT INTO _gone SELECT * FROM gone;
		GET DIAGNOSTICS n = ROW_COUNT;
		n_users := n_users + n;

		-- Segments: in each scheme, the matching predicate of highest priority.
		SELECT coalesce(array_agg(DISTINCT s.scheme ORDER BY s.scheme), '{}') INTO new_schemes FROM segmentation.segments s;
		new_rules := '{}';
		FOR k IN 1 .. cardinality(new_schemes) LOOP
			sch := new_schemes[k];
			cases := '';
			FOR seg IN SELECT * FROM segmentation.segments s WHERE s.scheme = sch ORDER BY s.priority DESC, s.name LOOP
				-- the stored text is checked again: refresh runs only what passes the checker
				IF segmentation.check_predicate(seg.predicate, 'segmentation.scores'::regclass, 'segmentation'::regnamespace)
				   IS DISTINCT FROM seg.checked_predicate THEN
					RAISE EXCEPTION 'segment "%" of scheme "%" was changed outside define_segment', seg.name, seg.scheme
						USING ERRCODE = 'data_corrupted', HINT = 'Define it again with segmentation.define_segment().';
				END IF;
				cases := cases || format(' WHEN (%s) THEN %L', seg.checked_predicate, seg.name);
			END LOOP;
			new_rules := new_rules || format('CASE%s ELSE %L END', cases, 'unsegmented');
		END LOOP;

		-- the context the scores are computed with from now on (the scores
		-- view reads it): as_of, feature names, population RFM breakpoints;
		-- and what the stored segments were computed with
		SELECT c.as_of, c.feature_names, c.rfm_breakpoints, c.schemes, c.rules
		INTO last_as_of, last_names, last_breaks, old_schemes, last_rules FROM segmentation.score_context c;
		-- (EXECUTE: a plan run to its end, so it may use parallel workers)
		EXECUTE 'SELECT segmentation.rfm_breakpoints(p.behavior, $1) FROM segmentation.profiles p' INTO breaks USING as_of;
		UPDATE segmentation.score_context c SET
			as_of = refresh.as_of,
			feature_names = (SELECT coalesce(array_agg(f.name ORDER BY g.id), '{}')
			                 FROM generate_series(0, (SELECT coalesce(max(id), -1) FROM segmentation.features)) g(id)
			                 LEFT JOIN segmentation.features f ON f.id = g.id),
			rfm_breakpoints = breaks,
			schemes = new_schemes,
			rules = new_rules
		RETURNING c.feature_names INTO names;

		-- One pass over every user (a parallel one when it pays): the rules of
		-- every scheme run on the user's scores with the new context, and only
		-- users whose segment changed in some scheme come out.  The context goes
		-- in as parameters, so that _assign_segments sets it up once.  Unless
		-- full, users whose behavior this run did not change are checked first
		-- against the last run's context, and most of them need no rules run:
		-- their stored segments are what the rules give (src/predicate.c).
		IF new_schemes = '{}' THEN
			-- everyone leaves every scheme
			CREATE TEMP TABLE _moved ON COMMIT DROP AS
			SELECT NULL::tid AS row_id, p.user_id, NULL::jsonb AS new_segments, e.key AS scheme,
			       e.value ->> 0 AS from_segment, (e.value ->> 1)::timestamptz AS from_entered_at, NULL::text AS to_segment
			FROM segmentation.profiles p, jsonb_each(p.segments) e;
			UPDATE segmentation.profiles p SET segments = '{}' WHERE p.segments <> '{}';
		ELSE
			prune := NOT do_full AND last_as_of IS NOT NULL AND last_breaks IS NOT NULL
				AND last_rules = new_rules AND last_names = names AND old_schemes = new_schemes;
			-- _assign_segments returns a row per move, the first of a user
			-- with the user's new segments; none for a user who stays.  (The
			-- subquery keeps it to one call per user: the planner does not
			-- pull up a subquery with a set-returning function.)
			EXECUTE $q$
				CREATE TEMP TABLE _moved ON COMMIT DROP AS
				SELECT row_id, user_id, (m).segments AS new_segments, (m).scheme, (m).from_segment,
				       (m).from_entered_at, (m).to_segment
				FROM (SELECT p.ctid AS row_id, p.user_id,
				             segmentation._assign_segments(p.user_id, p.behavior, p.segments, $1, $2, $3, $4, $5,
				                 'segmentation.scores', NOT $6 OR p.changed_run = $7, $8, $9) AS m
				      FROM segmentation.profiles p) s
			$q$ USING as_of, names, breaks, new_schemes, new_rules, prune, run,
				coalesce(last_as_of, as_of), coalesce(last_breaks, breaks);
		END IF;
		-- Write the movers' segments, each found by the row the pass read
		-- (nothing else writes profiles meanwhile): a few random rows are
		-- cheaper fetched one by one than found by scanning every profile.
		PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
		UPDATE segmentation.profiles p SET segments = m.new_segments FROM _moved m
		WHERE p.ctid = m.row_id AND m.new_segments IS NOT NULL;
		PERFORM set_config('enable_hashjoin', saved_hashjoin, true), set_config('enable_mergejoin', saved_mergejoin, true);

		-- the moves, in every scheme a user entered or left (users gone leave
		-- all of theirs); only refresh writes transitions, one at a time:
		-- this run's ids are the ones above the largest before it
		INSERT INTO _moved (user_id, scheme, from_segment, from_entered_at)
		SELECT g.user_id, e.key, e.value ->> 0, (e.value ->> 1)::timestamptz FROM _gone g, jsonb_each(g.segments) e;
		SELECT coalesce(max(t.id), 0) INTO last_id FROM segmentation.transitions t;
		INSERT INTO segmentation.transitions (run_id, scheme, user_id, from_segment, from_entered_at, to_segment, at)
		SELECT run, m.scheme, m.user_id, m.from_segment, m.from_entered_at, m.to_segment, as_of
		FROM _moved m ORDER BY m.user_id, m.scheme COLLATE "C";
		GET DIAGNOSTICS n_moves = ROW_COUNT;
		SELECT min(t.id), max(t.id) INTO first_id, last_id FROM segmentation.transitions t WHERE t.id > last_id;
		IF n_moves > 0 THEN
			PERFORM pg_notify('segmentation_transitions',
				json_build_object('run_id', run, 'transitions', n_moves, 'first_id', first_id, 'last_id', last_id)::text);
		END IF;
		DROP TABLE _batch, _gone, _moved;

		UPDATE segmentation.refresh_runs r SET finished_at = clock_timestamp(), events_read = n_events,
			users_changed = n_users, transitions = n_moves
		WHERE r.id = run;
	EXCEPTION WHEN OTHERS THEN
		-- the block's changes are rolled back: the previous state stays
		UPDATE segmentation.refresh_runs r SET finished_at = clock_timestamp(), error = SQLERRM WHERE r.id = run;
		RAISE WARNING 'segmentation.refresh() failed, previous state kept: %', SQLERRM;
	END;
	RETURN run;
END $$;
COMMENT ON FUNCTION refresh(boolean, timestamptz) IS 'Bring profiles, scores, memberships, history and transitions up to date: incremental (new events only) unless full; as_of is the time scores and moves are computed for';

-- ===================================================================
-- Presets
-- ===================================================================

-- the feature an event counts for; a new feature named default_name when none
CREATE FUNCTION _feature_of(event text, default_name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	feature text;
BEGIN
	SELECT f.name INTO feature FROM segmentation._feature_map m JOIN segmentation.features f ON f.id = m.id
	WHERE m.event = _feature_of.event;
	IF feature IS NULL THEN
		feature := default_name;
		PERFORM segmentation.define_feature(feature, ARRAY[event]);
	END IF;
	RETURN feature;
END $$;
COMMENT ON FUNCTION _feature_of(text, text) IS 'Internal: the feature an event counts for, defined under default_name when there is none';

CREATE FUNCTION use_preset(name text, signup_event text DEFAULT NULL, activation_event text DEFAULT NULL,
                           engaged_days int DEFAULT 8, power_days int DEFAULT 16,
                           churn_days int DEFAULT 30, at_risk_drop float8 DEFAULT 0.5)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	signup_feature text;
	activation_feature text;
BEGIN
	IF name = 'engagement_ladder' THEN
		IF signup_event IS NULL OR activation_event IS NULL THEN
			RAISE EXCEPTION 'preset engagement_ladder needs "signup_event" and "activation_event"'
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'e.g. segmentation.use_preset(''engagement_ladder'', signup_event => ''signed_up'', activation_event => ''first_project'')';
		END IF;
		IF engaged_days IS NULL OR power_days IS NULL OR churn_days IS NULL OR at_risk_drop IS NULL
		   OR engaged_days < 1 OR power_days <= engaged_days OR power_days > 28 OR churn_days < 1
		   OR at_risk_drop <= 0 OR at_risk_drop >= 1 THEN
			RAISE EXCEPTION 'invalid engagement_ladder thresholds'
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('Need 1 <= engaged_days (%s) < power_days (%s) <= 28, churn_days (%s) >= 1, 0 < at_risk_drop (%s) < 1.',
				                      engaged_days, power_days, churn_days, at_risk_drop);
		END IF;
		signup_feature := segmentation._feature_of(signup_event, 'signup');
		activation_feature := segmentation._feature_of(activation_event, 'activation');
		PERFORM segmentation.define_segment('lifecycle', 'churned', format('recency_days > %s', churn_days), 700,
			format('No event for more than %s days', churn_days));
		PERFORM segmentation.define_segment('lifecycle', 'at risk',
			format('active_days_prev_28 >= 4 AND active_days_28 <= active_days_prev_28 * %s::float8', at_risk_drop), 600,
			format('Active on at least 4 days in the 28 before last, and on at most %s of as many in the last 28', at_risk_drop));
		PERFORM segmentation.define_segment('lifecycle', 'power user', format('active_days_28 >= %s', power_days), 500,
			format('Active on at least %s of the last 28 days', power_days));
		PERFORM segmentation.define_segment('lifecycle', 'engaged', format('active_days_28 >= %s', engaged_days), 400,
			format('Active on at least %s of the last 28 days', engaged_days));
		PERFORM segmentation.define_segment('lifecycle', 'activated', format('%L = ANY (features_used)', activation_feature), 300,
			format('Did %s at least once', activation_event));
		PERFORM segmentation.define_segment('lifecycle', 'signed up', format('%L = ANY (features_used)', signup_feature), 200,
			format('Did %s, not yet %s', signup_event, activation_event));
		PERFORM segmentation.define_segment('lifecycle', 'visitor', 'true', 100, 'Seen, never signed up');
	ELSIF name = 'rfm' THEN
		-- the classic ordered RFM map on r and fm = round((f + m) / 2), first match
		-- wins; fm >= k is written f + m >= 2k - 1 (integers, no numeric rounding)
		PERFORM segmentation.define_segment('rfm', s.seg, s.pred, 1200 - 100 * s.ord, s.descr)
		FROM (VALUES
			(1, 'Champions', 'r_score >= 4 AND f_score + m_score >= 7', 'Bought recently, buy often and spend the most'),
			(2, 'Loyal Customers', 'r_score >= 3 AND f_score + m_score >= 7', 'Buy often and spend a lot'),
			(3, 'Potential Loyalist', 'r_score >= 4 AND f_score + m_score >= 3', 'Recent customers with average frequency'),
			(4, 'New Customers', 'r_score = 5 AND f_score + m_score <= 2', 'Bought most recently, not often'),
			(5, 'Promising', 'r_score = 4 AND f_score + m_score <= 2', 'Recent shoppers who have not spent much'),
			(6, 'Need Attention', 'r_score = 3 AND f_score + m_score >= 3', 'Above average recency, frequency and value'),
			(7, 'About To Sleep', 'r_score = 3 AND f_score + m_score <= 2', 'Below average recency and frequency'),
			(8, 'At Risk', 'r_score <= 2 AND f_score + m_score BETWEEN 5 AND 8', 'Spent a lot and often, but long ago'),
			(9, 'Can''t Lose Them', 'r_score <= 2 AND f_score + m_score >= 9', 'Made the biggest purchases and often, but long ago'),
			(10, 'Hibernating', 'r_score = 2 AND f_score + m_score <= 4', 'Last purchase long ago, low spenders'),
			(11, 'Lost', 'true', 'Lowest recency, frequency and value')) AS s(ord, seg, pred, descr);
	ELSE
		RAISE EXCEPTION 'unknown preset "%"', name USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Presets are engagement_ladder and rfm.';
	END IF;
END $$;
COMMENT ON FUNCTION use_preset(text, text, text, int, int, int, float8) IS 'Install a preset scheme: engagement_ladder (scheme lifecycle; needs the signup and activation event names) or rfm (scheme rfm)';

-- ===================================================================
-- Scheduling with pg_cron
-- ===================================================================

CREATE FUNCTION schedule_refresh(schedule text DEFAULT '*/15 * * * *') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'feature_not_supported',
			HINT = 'Install it (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = '''
			       || current_database() || ''' in postgresql.conf, restart, then CREATE EXTENSION pg_cron.';
	END IF;
	-- a named job: scheduling again replaces it
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
		USING 'segmentation-refresh', schedule, 'SELECT segmentation.refresh()';
	RETURN job;
END $$;
COMMENT ON FUNCTION schedule_refresh(text) IS 'Run segmentation.refresh() on a cron schedule through pg_cron (job segmentation-refresh); scheduling again replaces the job';

CREATE FUNCTION unschedule_refresh() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	done boolean;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'feature_not_supported',
			HINT = 'Nothing can be scheduled without it; see segmentation.schedule_refresh().';
	END IF;
	IF NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'segmentation-refresh') THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' INTO done USING 'segmentation-refresh';
	RETURN done;
END $$;
COMMENT ON FUNCTION unschedule_refresh() IS 'Remove the pg_cron job of schedule_refresh(); false when there was none';

-- ===================================================================
-- Privileges
-- ===================================================================

GRANT USAGE ON SCHEMA segmentation TO segmentation_admin, segmentation_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON sources, features, segments TO segmentation_admin;
GRANT USAGE ON SEQUENCE sources_id_seq TO segmentation_admin;
GRANT SELECT ON refresh_runs, _feature_map TO segmentation_admin;
REVOKE EXECUTE ON FUNCTION refresh(boolean, timestamptz), _create_state(regtype), _rebuild_views(),
	_install_capture(int), track(regclass, name, name, name, name), define_feature(text, text[]),
	define_segment(text, text, text, int, text), drop_segment(text, text),
	use_preset(text, text, text, int, int, int, float8), schedule_refresh(text), unschedule_refresh()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh(boolean, timestamptz), _create_state(regtype), _rebuild_views(),
	_install_capture(int), track(regclass, name, name, name, name), define_feature(text, text[]),
	define_segment(text, text, text, int, text), drop_segment(text, text),
	use_preset(text, text, text, int, int, int, float8), schedule_refresh(text), unschedule_refresh()
	TO segmentation_admin;

COMMENT ON SEQUENCE sources_id_seq IS 'Ids of tracked sources';
COMMENT ON SEQUENCE refresh_runs_id_seq IS 'Ids of refresh runs';

-- ===================================================================
-- Experiments per segment
-- ===================================================================

CREATE TABLE experiments (
	name text PRIMARY KEY,
	assignments regclass NOT NULL,
	user_column name NOT NULL,
	variant_column name NOT NULL,
	assigned_at_column name NOT NULL,
	control text NOT NULL,
	conversion_event text NOT NULL,
	conversion_window interval NOT NULL,
	variants text[],
	weights float8[],
	tracked_by name NOT NULL DEFAULT current_user,
	defined_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('experiments', '');
CREATE TRIGGER stamp_tracked_by BEFORE INSERT OR UPDATE ON experiments
	FOR EACH ROW EXECUTE FUNCTION _stamp_tracked_by();
COMMENT ON TABLE experiments IS 'A/B tests read out per segment: where the assignments are, the control, the conversion event and window, the design split';
COMMENT ON COLUMN experiments.variants IS 'Variants of the design split (NULL: the variants seen, equal weights)';
COMMENT ON COLUMN experiments.weights IS 'Design weight of each variant, in the order of variants';
COMMENT ON COLUMN experiments.tracked_by IS 'Role that defined the experiment (set by a trigger): the readout reads the assignments only while this role may';
GRANT SELECT, INSERT, UPDATE, DELETE ON experiments TO segmentation_admin;

CREATE FUNCTION define_experiment(name text, assignments regclass, user_column name, variant_column name,
                                  assigned_at_column name, control text, conversion_event text,
                                  conversion_window interval DEFAULT '14 days',
                                  variants text[] DEFAULT NULL, weights float8[] DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	col name;
	t regtype;
	user_t regtype;
BEGIN
	IF name IS NULL OR name = '' OR control IS NULL OR conversion_event IS NULL THEN
		RAISE EXCEPTION 'arguments "name", "control" and "conversion_event" must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF conversion_window IS NULL OR conversion_window <= interval '0' THEN
		RAISE EXCEPTION 'argument "conversion_window" must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT has_table_privilege(assignments, 'SELECT') THEN
		RAISE EXCEPTION 'permission denied to read %', assignments USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT s.user_type INTO user_t FROM segmentation.sources s LIMIT 1;
	IF user_t IS NULL THEN
		RAISE EXCEPTION 'no events table is tracked yet' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Conversions are read from the tracked events: call segmentation.track(...) first.';
	END IF;
	FOREACH col IN ARRAY ARRAY[user_column, variant_column, assigned_at_column] LOOP
		SELECT a.atttypid::regtype INTO t FROM pg_attribute a
		WHERE a.attrelid = assignments AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF t IS NULL THEN
			RAISE EXCEPTION 'column "%" does not exist in %', col, assignments USING ERRCODE = 'undefined_column';
		END IF;
		IF col = user_column AND t <> user_t THEN
			RAISE EXCEPTION 'user column "%" of % is %, but tracked events use %', col, assignments, t, user_t
				USING ERRCODE = 'datatype_mismatch';
		END IF;
		IF col = assigned_at_column AND t <> 'timestamptz'::regtype THEN
			RAISE EXCEPTION 'assignment time column "%" of % is %, not timestamptz', col, assignments, t
				USING ERRCODE = 'datatype_mismatch';
		END IF;
	END LOOP;
	IF (variants IS NULL) <> (weights IS NULL) OR cardinality(variants) <> cardinality(weights)
	   OR array_position(variants, NULL) IS NOT NULL OR array_position(weights, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'arguments "variants" and "weights" go together, one weight per variant, without NULLs'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM unnest(weights) w WHERE NOT (w >= 0 AND w < 'Infinity')) OR (SELECT sum(w) FROM unnest(weights) w) = 0 THEN
		RAISE EXCEPTION 'argument "weights" must be finite, >= 0, and not all 0' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF variants IS NOT NULL AND NOT control = ANY (variants) THEN
		RAISE EXCEPTION 'control "%" is not one of the variants %', control, variants USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO segmentation.experiments AS e (name, assignments, user_column, variant_column, assigned_at_column,
		control, conversion_event, conversion_window, variants, weights)
	VALUES (name, assignments, user_column, variant_column, assigned_at_column, control, conversion_event,
		conversion_window, variants, weights)
	ON CONFLICT ON CONSTRAINT experiments_pkey DO UPDATE SET assignments = EXCLUDED.assignments,
		user_column = EXCLUDED.user_column, variant_column = EXCLUDED.variant_column,
		assigned_at_column = EXCLUDED.assigned_at_column, control = EXCLUDED.control,
		conversion_event = EXCLUDED.conversion_event, conversion_window = EXCLUDED.conversion_window,
		variants = EXCLUDED.variants, weights = EXCLUDED.weights, defined_at = now();
END $$;
COMMENT ON FUNCTION define_experiment(text, regclass, name, name, name, text, text, interval, text[], float8[]) IS 'Define (or redefine) an experiment: assignments table and columns, control variant, conversion event and window, optional design split (variants and weights; default equal)';

CREATE FUNCTION _experiment_lift() RETURNS TABLE (
	experiment text, scheme text, segment text, variant text, users bigint, conversions bigint,
	conversion_rate double precision, control_rate double precision,
	abs_lift double precision, abs_lift_ci_low double precision, abs_lift_ci_high double precision,
	rel_lift double precision, rel_lift_ci_low double precision, rel_lift_ci_high double precision,
	p_value double precision, q_value double precision, srm_p_value double precision, srm_flag boolean,
	revenue_per_user double precision, revenue_p_value double precision, enough_data boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	e record;
	src text;
BEGIN
	IF to_regclass('segmentation.membership_history') IS NULL THEN
		RETURN;
	END IF;
	src := segmentation._sources_sql();
	FOR e IN SELECT * FROM segmentation.experiments x ORDER BY x.name LOOP
		IF NOT has_table_privilege(e.tracked_by, e.assignments, 'SELECT') THEN
			RAISE EXCEPTION 'role % that defined experiment % may no longer read %', e.tracked_by, e.name, e.assignments
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		RETURN QUERY EXECUTE format($q$
		WITH ass AS (
			-- a user's first assignment counts
			SELECT DISTINCT ON (a.%1$I) a.%1$I AS user_id, a.%2$I::text AS variant, a.%3$I AS assigned_at
			FROM %4$s a
			WHERE a.%1$I IS NOT NULL AND a.%2$I IS NOT NULL AND a.%3$I IS NOT NULL
			ORDER BY a.%1$I, a.%3$I),
		outcome AS (
			SELECT ass.user_id, ass.variant, ass.assigned_at,
			       coalesce(bool_or(ev.event = %5$L), false) AS converted,
			       coalesce(sum(ev.value), 0)::float8 AS revenue
			FROM ass LEFT JOIN (%6$s) ev
			  ON ev.user_id = ass.user_id AND ev.ts >= ass.assigned_at AND ev.ts < ass.assigned_at + %7$L::interval
			GROUP BY 1, 2, 3),
		schemes AS (
			SELECT DISTINCT s.scheme FROM segmentation.segments s
			UNION ALL SELECT '(none)' WHERE NOT EXISTS (SELECT FROM segmentation.segments)),
		at_assignment AS (
			-- the segment the user was in when assigned, never the current one
			-- (one join over the history: transitions has no index by user)
			SELECT DISTINCT ON (h.scheme, h.user_id) h.scheme, h.user_id, h.segment
			FROM segmentation.membership_history h JOIN outcome o ON o.user_id = h.user_id
			WHERE h.entered_at <= o.assigned_at AND (h.exited_at IS NULL OR h.exited_at > o.assigned_at)
			ORDER BY h.scheme, h.user_id, h.entered_at DESC),
		placed AS (
			SELECT sc.scheme, o.*, coalesce(h.segment, '(unknown)') AS segment
			FROM outcome o CROSS JOIN schemes sc
			LEFT JOIN at_assignment h ON h.scheme = sc.scheme AND h.user_id = o.user_id),
		g AS (
			SELECT p.scheme, CASE WHEN GROUPING(p.segment) = 1 THEN '(all)' ELSE p.segment END AS segment, p.variant,
			       count(*) AS n, count(*) FILTER (WHERE p.converted) AS x,
			       avg(p.revenue) AS mean_rev, coalesce(var_samp(p.revenue), 0) AS var_rev
			FROM placed p
			GROUP BY GROUPING SETS ((p.scheme, p.segment, p.variant), (p.scheme, p.variant))),
		design AS (
			SELECT d.variant, d.weight FROM unnest(%8$L::text[], %9$L::float8[]) AS d(variant, weight)
			WHERE %8$L::text[] IS NOT NULL
			UNION ALL
			SELECT DISTINCT o.variant, 1.0 FROM outcome o WHERE %8$L::text[] IS NULL),
		srm AS (
			SELECT c.scheme, c.segment,
			       segmentation.srm_test(array_agg(coalesce(g.n, 0) ORDER BY d.variant), array_agg(d.weight ORDER BY d.variant)) AS p
			FROM (SELECT DISTINCT g.scheme, g.segment FROM g) c CROSS JOIN design d
			LEFT JOIN g ON g.scheme = c.scheme AND g.segment = c.segment AND g.variant = d.variant
			GROUP BY c.scheme, c.segment),
		rows AS (
			SELECT g.scheme, g.segment, g.variant, g.n, g.x, g.n::float8 AS nf,
			       c.n AS cn, c.x AS cx, tp.*, wt.p_value AS revenue_p, g.mean_rev,
			       -- users per arm to see a 10%% relative change of the control rate (none for a
			       -- 0%% control rate or one that +10%% would take past 100%%)
			       CASE WHEN c.x > 0 AND 1.1 * c.x < c.n
			            THEN segmentation.sample_size_two_proportions(c.x::float8 / c.n, 0.1 * c.x / c.n) END AS needed
			FROM g
			LEFT JOIN g c ON c.scheme = g.scheme AND c.segment = g.segment AND c.variant = %10$L
			LEFT JOIN LATERAL segmentation.two_proportion_test(c.x, c.n, g.x, g.n) tp ON g.variant <> %10$L
			LEFT JOIN LATERAL segmentation.welch_test(c.n, c.mean_rev, c.var_rev, g.n, g.mean_rev, g.var_rev) wt ON g.variant <> %10$L),
		q AS (
			SELECT r.scheme, u.segment, u.variant, u.q
			FROM (SELECT scheme, array_agg(p_value ORDER BY segment, variant) AS ps,
			             array_agg(segment ORDER BY segment, variant) AS segs,
			             array_agg(variant ORDER BY segment, variant) AS vars
			      FROM rows WHERE segment <> '(all)' AND variant <> %10$L GROUP BY scheme) r,
			     unnest(segmentation.bh_adjust(r.ps), r.segs, r.vars) AS u(q, segment, variant))
		SELECT %11$L::text, r.scheme, r.segment, r.variant, r.n, r.x, r.x / r.nf,
		       CASE WHEN r.cn > 0 THEN r.cx::float8 / r.cn END,
		       r.abs_lift, r.abs_ci_low, r.abs_ci_high, r.rel_lift, r.rel_ci_low, r.rel_ci_high,
		       r.p_value, q.q, srm.p, srm.p < 0.001, r.mean_rev, r.revenue_p,
		       coalesce(least(r.n, r.cn) >= ceil(r.needed), false)
		FROM rows r
		LEFT JOIN q ON q.scheme = r.scheme AND q.segment = r.segment AND q.variant = r.variant
		LEFT JOIN srm ON srm.scheme = r.scheme AND srm.segment = r.segment
		ORDER BY r.scheme, r.segment = '(all)' DESC, r.segment, r.variant <> %10$L, r.variant
		$q$, e.user_column, e.variant_column, e.assigned_at_column, e.assignments, e.conversion_event, src,
			e.conversion_window, e.variants, e.weights, e.control, e.name);
	END LOOP;
END $$;
COMMENT ON FUNCTION _experiment_lift() IS 'Internal: the rows of the experiment_lift view';

CREATE VIEW experiment_lift AS SELECT * FROM _experiment_lift();
COMMENT ON VIEW experiment_lift IS 'Experiment readout per scheme, segment (at assignment time; (all) = everyone) and variant, with honest statistics';
COMMENT ON COLUMN experiment_lift.experiment IS 'Experiment';
COMMENT ON COLUMN experiment_lift.scheme IS 'Scheme whose segments split the readout';
COMMENT ON COLUMN experiment_lift.segment IS 'Segment the users were in when assigned ((all): every user; (unknown): assigned before any refresh saw them)';
COMMENT ON COLUMN experiment_lift.variant IS 'Variant';
COMMENT ON COLUMN experiment_lift.users IS 'Users assigned to this variant in this segment';
COMMENT ON COLUMN experiment_lift.conversions IS 'Users with the conversion event within the window after assignment';
COMMENT ON COLUMN experiment_lift.conversion_rate IS 'conversions / users';
COMMENT ON COLUMN experiment_lift.control_rate IS 'Conversion rate of the control in this segment';
COMMENT ON COLUMN experiment_lift.abs_lift IS 'conversion_rate - control_rate (NULL on the control row)';
COMMENT ON COLUMN experiment_lift.abs_lift_ci_low IS 'Lower end of the 95% CI of abs_lift (unpooled Wald)';
COMMENT ON COLUMN experiment_lift.abs_lift_ci_high IS 'Upper end of the 95% CI of abs_lift';
COMMENT ON COLUMN experiment_lift.rel_lift IS 'conversion_rate / control_rate - 1 (NULL when the control rate is 0)';
COMMENT ON COLUMN experiment_lift.rel_lift_ci_low IS 'Lower end of the 95% CI of rel_lift (delta method)';
COMMENT ON COLUMN experiment_lift.rel_lift_ci_high IS 'Upper end of the 95% CI of rel_lift';
COMMENT ON COLUMN experiment_lift.p_value IS 'Two-sided p-value of the pooled two-proportion z test against the control';
COMMENT ON COLUMN experiment_lift.q_value IS 'Benjamini-Hochberg adjusted p-value across the segments and variants of this experiment and scheme ((all) excluded)';
COMMENT ON COLUMN experiment_lift.srm_p_value IS 'Sample ratio mismatch p-value of this segment''s arm sizes against the design split';
COMMENT ON COLUMN experiment_lift.srm_flag IS 'srm_p_value < 0.001: the split is broken here, do not trust the lift';
COMMENT ON COLUMN experiment_lift.revenue_per_user IS 'Mean value of the tracked events within the window after assignment';
COMMENT ON COLUMN experiment_lift.revenue_p_value IS 'Welch t test p-value of revenue per user against the control';
COMMENT ON COLUMN experiment_lift.enough_data IS 'Both arms reach the users needed to detect a 10% relative change of the control rate (alpha 0.05, power 0.8)';
GRANT SELECT ON experiment_lift TO segmentation_reader, segmentation_admin;
REVOKE EXECUTE ON FUNCTION _experiment_lift(), define_experiment(text, regclass, name, name, name, text, text, interval, text[], float8[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION _experiment_lift() TO segmentation_reader, segmentation_admin;
GRANT EXECUTE ON FUNCTION define_experiment(text, regclass, name, name, name, text, text, interval, text[], float8[]) TO segmentation_admin;
