-- The analysis aggregates over event streams (src/funnels.c): window_funnel,
-- sequence_match, sequence_count, sequence_next_node, retention_flags.
-- ClickHouse's semantics made deterministic; doc/analyses.md states them.

-- Support functions are not strict (NULLs are handled in C) and fail outside
-- an aggregate.  window_funnel and the sequences share one event-list state,
-- of the type event_list: a real type, not internal, so that Citus splits
-- these aggregates (partial states on the workers, combined on the
-- coordinator: it ships states through the type's text form, and refuses
-- internal ones); in memory an expanded object updated in place.
-- retention_flags' state is a bigint.
CREATE TYPE event_list;
CREATE FUNCTION event_list_in(cstring) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION event_list_out(event_list) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION event_list_recv(internal) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION event_list_send(event_list) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE event_list (
	INPUT = event_list_in,
	OUTPUT = event_list_out,
	RECEIVE = event_list_recv,
	SEND = event_list_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);
COMMENT ON TYPE event_list IS 'State of window_funnel, sequence_match, sequence_count and sequence_next_node: the rows of a group that matter to them (a real type so that distributed plans can ship it)';
COMMENT ON FUNCTION event_list_in(cstring) IS 'Text input of event_list: \x and the hex of its binary form, validated (lengths, counts, condition bits)';
COMMENT ON FUNCTION event_list_out(event_list) IS 'Text output of event_list: \x and the hex of its binary form';
COMMENT ON FUNCTION event_list_recv(internal) IS 'Binary input of event_list, validated like text input';
COMMENT ON FUNCTION event_list_send(event_list) IS 'Binary output of event_list';

CREATE FUNCTION window_funnel_trans(event_list, timestamptz, boolean[], interval) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_trans(event_list, timestamptz, boolean[], interval, text) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION window_funnel_final(event_list) RETURNS int
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sequence_trans(event_list, timestamptz, boolean[], text) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sequence_match_final(event_list) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sequence_count_final(event_list) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sequence_next_node_trans(event_list, timestamptz, text, boolean, boolean[], text, text) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sequence_next_node_final(event_list) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION event_list_combine(event_list, event_list) RETURNS event_list
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retention_flags_trans(bigint, boolean[]) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retention_flags_combine(bigint, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retention_flags_final(bigint) RETURNS int[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION window_funnel_trans(event_list, timestamptz, boolean[], interval) IS 'Transition function of window_funnel(ts, steps, window)';
COMMENT ON FUNCTION window_funnel_trans(event_list, timestamptz, boolean[], interval, text) IS 'Transition function of window_funnel(ts, steps, window, modes)';
COMMENT ON FUNCTION window_funnel_final(event_list) IS 'Final function of window_funnel: the highest step reached';
COMMENT ON FUNCTION sequence_trans(event_list, timestamptz, boolean[], text) IS 'Transition function of sequence_match and sequence_count';
COMMENT ON FUNCTION sequence_match_final(event_list) IS 'Final function of sequence_match: whether the pattern matches';
COMMENT ON FUNCTION sequence_count_final(event_list) IS 'Final function of sequence_count: non-overlapping matches of the pattern';
COMMENT ON FUNCTION sequence_next_node_trans(event_list, timestamptz, text, boolean, boolean[], text, text) IS 'Transition function of sequence_next_node';
COMMENT ON FUNCTION sequence_next_node_final(event_list) IS 'Final function of sequence_next_node: the value of the row after the chain';
COMMENT ON FUNCTION event_list_combine(event_list, event_list) IS 'Combine function of window_funnel, sequence_match, sequence_count and sequence_next_node';
COMMENT ON FUNCTION retention_flags_trans(bigint, boolean[]) IS 'Transition function of retention_flags: a bit per condition that held on some row';
COMMENT ON FUNCTION retention_flags_combine(bigint, bigint) IS 'Combine function of retention_flags';
COMMENT ON FUNCTION retention_flags_final(bigint) IS 'Final function of retention_flags: [b1, b1 AND b2, ..., b1 AND bN]';

-- SSPACE 8192 (as for an internal state): a hashed GROUP BY then takes
-- groups in batches that stay in cache.  With the type's 32-byte guess it
-- kept every group in one table, past hash_mem, and was up to 2.6x slower
-- than with 8192 at 100k-500k groups
-- (review 19, R19-3; bench/README.md, "SSPACE").
CREATE AGGREGATE window_funnel(ts timestamptz, steps boolean[], "window" interval) (
	SFUNC = window_funnel_trans,
	STYPE = event_list,
	FINALFUNC = window_funnel_final,
	COMBINEFUNC = event_list_combine,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE window_funnel(ts timestamptz, steps boolean[], "window" interval, modes text) (
	SFUNC = window_funnel_trans,
	STYPE = event_list,
	FINALFUNC = window_funnel_final,
	COMBINEFUNC = event_list_combine,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE sequence_match(ts timestamptz, conds boolean[], pattern text) (
	SFUNC = sequence_trans,
	STYPE = event_list,
	FINALFUNC = sequence_match_final,
	COMBINEFUNC = event_list_combine,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE sequence_count(ts timestamptz, conds boolean[], pattern text) (
	SFUNC = sequence_trans,
	STYPE = event_list,
	FINALFUNC = sequence_count_final,
	COMBINEFUNC = event_list_combine,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE sequence_next_node(ts timestamptz, value text, base_condition boolean, conds boolean[],
									direction text, base text) (
	SFUNC = sequence_next_node_trans,
	STYPE = event_list,
	FINALFUNC = sequence_next_node_final,
	COMBINEFUNC = event_list_combine,
	SSPACE = 8192,
	PARALLEL = SAFE
);
CREATE AGGREGATE retention_flags(conds boolean[]) (
	SFUNC = retention_flags_trans,
	STYPE = bigint,
	FINALFUNC = retention_flags_final,
	COMBINEFUNC = retention_flags_combine,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE window_funnel(timestamptz, boolean[], interval) IS 'Highest funnel step reached by a chain of steps 1, 2, ... within window of its first step (ClickHouse windowFunnel, deterministic)';
COMMENT ON AGGREGATE window_funnel(timestamptz, boolean[], interval, text) IS 'window_funnel with comma-separated modes: strict_deduplication, strict_order, strict_increase, strict_once, allow_reentry';
COMMENT ON AGGREGATE sequence_match(timestamptz, boolean[], text) IS 'Whether the rows match a pattern of (?N), ., .* and (?t op seconds) (ClickHouse sequenceMatch, deterministic)';
COMMENT ON AGGREGATE sequence_count(timestamptz, boolean[], text) IS 'Number of non-overlapping matches of the pattern, each ending first (ClickHouse sequenceCount)';
COMMENT ON AGGREGATE sequence_next_node(timestamptz, text, boolean, boolean[], text, text) IS 'Value of the row after the chain of conditions from the base row (ClickHouse sequenceNextNode); direction forward/backward, base head/tail/first_match/last_match';
COMMENT ON AGGREGATE retention_flags(boolean[]) IS 'Retention flags of a group: [b1, b1 AND b2, ..., b1 AND bN], bk = some row had condition k (ClickHouse retention), as 0/1';
