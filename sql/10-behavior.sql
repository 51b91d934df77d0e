-- The behavior type and its aggregates (src/behavior.c, src/aggregates.c).

-- ===================================================================
-- The behavior type (src/behavior.c)
-- ===================================================================

-- >>> made by 0.1 already: not in the upgrade script (Makefile), so that the
-- values stored by 0.1 keep their type (src/behavior.c reads them)
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
-- <<<

COMMENT ON TYPE behavior IS 'Mergeable summary of one entity''s events: first/last seen, event count, value sum, exact active UTC days, per feature first/last use and the events and value sum of each of its active days';
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

-- SSPACE 8192 (as for an internal state): a hashed GROUP BY then takes
-- groups in batches that stay in cache.  With the type's 32-byte guess it
-- kept every group in one table, past hash_mem, and was up to 2.6x slower
-- than with 8192 at 100k-500k groups
-- (as for the event-list aggregates, R19-3; bench/README.md, "SSPACE").
CREATE AGGREGATE behavior_agg(ts timestamptz) (
	SFUNC = behavior_agg_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE behavior_agg(ts timestamptz, feature int4) (
	SFUNC = behavior_agg_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE behavior_agg(ts timestamptz, feature int4, value float8) (
	SFUNC = behavior_agg_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	SSPACE = 8192,
	PARALLEL = SAFE
);
-- Features that overlap (event conditions, DESIGN section 4): the event
-- counts once in the totals and for feature, as in behavior_agg, and once
-- more for each extra feature (src/aggregates.c).  Four arguments: a
-- behavior_agg(ts, int4[], float8) would make behavior_agg(ts, NULL, v)
-- ambiguous.
CREATE FUNCTION behavior_agg_features_trans(behavior, timestamptz, int4, int4[], float8) RETURNS behavior
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION behavior_agg_features_trans(behavior, timestamptz, int4, int4[], float8) IS 'Transition function of behavior_agg_features(ts, feature, extra_features, value)';
CREATE AGGREGATE behavior_agg_features(ts timestamptz, feature int4, extra_features int4[], value float8) (
	SFUNC = behavior_agg_features_trans,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	SSPACE = 8192,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE behavior_agg_features(timestamptz, int4, int4[], float8) IS 'Behavior of the events in the group where an event may count for several features: once in the totals and for feature (NULL: no feature), as behavior_agg, and once more for each distinct id of extra_features (NULL elements skipped); an id is an extra feature in every row or in none';

CREATE AGGREGATE behavior_union_agg(behavior) (
	SFUNC = behavior_merge,
	STYPE = behavior,
	COMBINEFUNC = behavior_merge,
	SSPACE = 8192,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE behavior_agg(timestamptz) IS 'Behavior of the events in the group; rows with NULL ts are skipped';
COMMENT ON AGGREGATE behavior_agg(timestamptz, int4) IS 'Behavior of the events in the group, with feature ids (NULL: no feature)';
COMMENT ON AGGREGATE behavior_agg(timestamptz, int4, float8) IS 'Behavior of the events in the group, with feature ids and values (NULL value: 0)';
COMMENT ON AGGREGATE behavior_union_agg(behavior) IS 'Exact union of the behaviors in the group (rollup of stored behaviors)';
