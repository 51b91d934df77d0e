-- segmentation 0.1: behavioral segmentation inside PostgreSQL
\echo Use "CREATE EXTENSION segmentation" to load this file. \quit

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
COMMENT ON FUNCTION quantile_score(double precision, double precision[]) IS '1 + number of breakpoints strictly below x (RFM score from population quantiles)';
COMMENT ON FUNCTION quantile_score(double precision, double precision[], boolean) IS 'As quantile_score(x, breakpoints); descending gives the mirror score, 1 + number of breakpoints >= x';
