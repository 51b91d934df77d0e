-- Accessors and scores of a behavior (src/scores.c).

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
CREATE FUNCTION active_periods(b behavior, period text) RETURNS date[]
	AS 'MODULE_PATHNAME', 'behavior_active_periods' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION active_periods(b behavior, period text, feature int4) RETURNS date[]
	AS 'MODULE_PATHNAME', 'behavior_active_periods' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION active_days_per_period(b behavior, period text) RETURNS TABLE (period_start date, days int)
	AS 'MODULE_PATHNAME', 'behavior_active_days_per_period' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
CREATE FUNCTION quantile_score(x double precision, breakpoints double precision[]) RETURNS int
	AS 'MODULE_PATHNAME', 'quantile_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION quantile_score(x double precision, breakpoints double precision[], descending boolean) RETURNS int
	AS 'MODULE_PATHNAME', 'quantile_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Per-feature days (version 0.2): feature is a feature id >= 0, or -1 for
-- any event (each event once, with or without a feature).  A window of N
-- whole days holds the UTC days d with date(as_of) - N < d <= date(as_of);
-- without one, every event the behavior holds.
CREATE FUNCTION events_in(b behavior, feature int, as_of timestamptz) RETURNS bigint
	AS 'MODULE_PATHNAME', 'behavior_events_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION events_in(b behavior, feature int, as_of timestamptz, "window" interval) RETURNS bigint
	AS 'MODULE_PATHNAME', 'behavior_events_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION days_in(b behavior, feature int, as_of timestamptz) RETURNS int
	AS 'MODULE_PATHNAME', 'behavior_days_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION days_in(b behavior, feature int, as_of timestamptz, "window" interval) RETURNS int
	AS 'MODULE_PATHNAME', 'behavior_days_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION value_in(b behavior, feature int, as_of timestamptz) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_value_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION value_in(b behavior, feature int, as_of timestamptz, "window" interval) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_value_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION first_use(b behavior, feature int) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'behavior_first_use' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION last_use(b behavior, feature int) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'behavior_last_use' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION days_since(b behavior, feature int, as_of timestamptz) RETURNS double precision
	AS 'MODULE_PATHNAME', 'behavior_days_since' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION periods_with(b behavior, feature int, as_of timestamptz, min_events int, period interval, periods int) RETURNS int
	AS 'MODULE_PATHNAME', 'behavior_periods_with' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- rfm_breakpoints' state holds every user's three values: mergeable, but not
-- small.  Its type is rfm_values, a real type, not internal, so that Citus
-- splits the aggregate (it ships states through the type's text form and
-- refuses internal ones); in memory an expanded object updated in place.
CREATE TYPE rfm_values;
CREATE FUNCTION rfm_values_in(cstring) RETURNS rfm_values
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rfm_values_out(rfm_values) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rfm_values_recv(internal) RETURNS rfm_values
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rfm_values_send(rfm_values) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE rfm_values (
	INPUT = rfm_values_in,
	OUTPUT = rfm_values_out,
	RECEIVE = rfm_values_recv,
	SEND = rfm_values_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);
COMMENT ON TYPE rfm_values IS 'State of rfm_breakpoints: the recency, frequency and monetary value of every behavior aggregated (a real type so that distributed plans can ship it)';
COMMENT ON FUNCTION rfm_values_in(cstring) IS 'Text input of rfm_values: \x and the hex of its binary form, validated (length, finite values)';
COMMENT ON FUNCTION rfm_values_out(rfm_values) IS 'Text output of rfm_values: \x and the hex of its binary form';
COMMENT ON FUNCTION rfm_values_recv(internal) IS 'Binary input of rfm_values, validated like text input';
COMMENT ON FUNCTION rfm_values_send(rfm_values) IS 'Binary output of rfm_values';

CREATE FUNCTION rfm_breakpoints_trans(rfm_values, behavior, timestamptz) RETURNS rfm_values
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rfm_breakpoints_combine(rfm_values, rfm_values) RETURNS rfm_values
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION rfm_breakpoints_final(rfm_values) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- SSPACE 8192, as for the behavior and event-list aggregates (R19-3): the
-- state holds every row's values, far more than the type's 32-byte guess
CREATE AGGREGATE rfm_breakpoints(b behavior, as_of timestamptz) (
	SFUNC = rfm_breakpoints_trans,
	STYPE = rfm_values,
	COMBINEFUNC = rfm_breakpoints_combine,
	FINALFUNC = rfm_breakpoints_final,
	SSPACE = 8192,
	PARALLEL = SAFE
);

-- rfm_breakpoints over a table Citus distributes ships every behavior's
-- three values to the coordinator, in the partial states.  Refresh there
-- finds the same breakpoints by selection over counts (src/scores.c): a
-- round counts, for each rank a breakpoint needs, the keys (64 bits that
-- order as the values do) in the window still holding its value, in 65,536
-- buckets, with count(*), min and max (which Citus adds up from the workers
-- itself); the next window is the bucket's keys from min to max, 65,536
-- times narrower at least, and a bucket of one key is the answer; a window
-- of at most whole_below keys is counted by whole keys.  What reaches the
-- coordinator is counts, not values.  rel: a table of behavior and
-- opted_out columns (refresh: segmentation.profiles), read as this
-- function's caller.
CREATE FUNCTION _rfm_keys(b behavior, as_of timestamptz, scores int[], lo bigint[], hi bigint[]) RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'rfm_keys' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _rfm_keys(behavior, timestamptz, int[], bigint[], bigint[]) IS 'Internal (_rfm_breakpoints_split): for each window (a score, 1 to 3, and a range of keys), the behavior''s key of that score, NULL when not in the window (NULL when in none)';
CREATE FUNCTION _key_bucket(key bigint, w int, lo bigint[], hi bigint[], buckets int[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'key_bucket' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _key_bucket(bigint, int, bigint[], bigint[], int[]) IS 'Internal (selection over counts: _rfm_breakpoints_split, _materialize_funnels): of a key in window w, the whole key when buckets[w] is 0, else which of buckets[w] buckets of equal width of the keys lo[w] to hi[w] holds it';
CREATE FUNCTION _key_window(g bigint, key bigint, gs bigint[], lo bigint[], hi bigint[]) RETURNS int
	AS 'MODULE_PATHNAME', 'key_window' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _key_window(bigint, bigint, bigint[], bigint[], bigint[]) IS 'Internal (selection over counts: _materialize_funnels): the window of group g holding the key (the windows in order of group and keys, those of a group apart), NULL when none does';
CREATE FUNCTION _value_key(v double precision) RETURNS bigint
	AS 'MODULE_PATHNAME', 'value_key' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _value_key(double precision) IS 'Internal (selection over counts): the key of a value, a bigint in the values'' order (-0 as 0)';
CREATE FUNCTION _key_value(k bigint) RETURNS double precision
	AS 'MODULE_PATHNAME', 'key_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _key_value(bigint) IS 'Internal (selection over counts): the value of a key';
CREATE FUNCTION _rfm_ranks(n bigint) RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'rfm_ranks' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _rfm_ranks(bigint) IS 'Internal (_rfm_breakpoints_split): the ranks (from 0) of the values the RFM breakpoints of n values are interpolated between, two per quintile';
CREATE FUNCTION _rfm_breaks(n bigint, keys bigint[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'rfm_breaks' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _rfm_breaks(bigint, bigint[]) IS 'Internal (_rfm_breakpoints_split): the RFM breakpoints of n values, from the keys of the values of the ranks _rfm_ranks(n) gives, score by score';

CREATE FUNCTION _rfm_breakpoints_split(rel regclass, as_of timestamptz, whole_below bigint DEFAULT 10000)
RETURNS double precision[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	-- the round's counts: window, bucket (or whole key), keys, their least and greatest
	q text := format($q$
		SELECT array_agg(k.w), array_agg(k.b), array_agg(k.c), array_agg(k.lo), array_agg(k.hi)
		FROM (SELECT x.w::int AS w, segmentation._key_bucket(x.k, x.w::int, $3, $4, $5) AS b,
		             count(*) AS c, min(x.k) AS lo, max(x.k) AS hi
		      FROM %s p, unnest(segmentation._rfm_keys(p.behavior, $1, $2, $3, $4)) WITH ORDINALITY x(k, w)
		      WHERE NOT p.opted_out AND x.k IS NOT NULL%%s
		      GROUP BY 1, 2) k$q$, rel);
	round int := 1;
	n bigint;
	-- the windows of the round: score, keys from lo to hi, buckets (0: whole keys)
	w_score int[] := ARRAY[1, 2, 3];
	w_lo bigint[] := array_fill(-9223372036854775808, ARRAY[3]);
	w_hi bigint[] := array_fill(9223372036854775807, ARRAY[3]);
	w_buckets int[] := ARRAY[65536, 65536, 65536];
	h_w int[];
	h_b bigint[];
	h_c bigint[];
	h_lo bigint[];
	h_hi bigint[];
	-- the targets, score by score, rank by rank (_rfm_ranks): its window,
	-- the keys below the window, the window next, its key once known
	t_score int[];
	t_rank bigint[];
	t_w int[];
	t_below bigint[];
	t_lo bigint[];
	t_hi bigint[];
	t_buckets int[];
	t_key bigint[];
	k int;
	x record;
	pending int;
	hits int;
BEGIN
	IF rel IS NULL OR as_of IS NULL OR whole_below IS NULL THEN
		RAISE EXCEPTION 'arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	LOOP
		-- (after the first round most behaviors are in no window: found so
		-- first, before the function scan that would unnest their keys)
		EXECUTE format(q, CASE WHEN round > 1 THEN ' AND segmentation._rfm_keys(p.behavior, $1, $2, $3, $4) IS NOT NULL' ELSE '' END)
			INTO h_w, h_b, h_c, h_lo, h_hi USING as_of, w_score, w_lo, w_hi, w_buckets;
		RAISE DEBUG 'RFM breakpoints, round %: % windows, % counts', round, cardinality(w_score), cardinality(h_w);
		IF round = 1 THEN
			-- every behavior has the three scores: n is the first window's count
			SELECT sum(u.c) INTO n FROM unnest(h_w, h_c) u(w, c) WHERE u.w = 1;
			IF n IS NULL THEN
				RETURN NULL;
			END IF;
			SELECT array_agg(s ORDER BY s, r.k), array_agg(r.rank ORDER BY s, r.k) INTO t_score, t_rank
			FROM generate_series(1, 3) s, unnest(segmentation._rfm_ranks(n)) WITH ORDINALITY r(rank, k);
			t_w := t_score;
			t_below := array_fill(0::bigint, ARRAY[24]);
			t_lo := array_fill(NULL::bigint, ARRAY[24]);
			t_hi := array_fill(NULL::bigint, ARRAY[24]);
			t_buckets := array_fill(65536, ARRAY[24]);
			t_key := array_fill(NULL::bigint, ARRAY[24]);
		END IF;
		-- each target's bucket: the one holding its rank (the buckets of a
		-- window in order, with the keys before each)
		pending := cardinality(t_key) - cardinality(array_remove(t_key, NULL));
		hits := 0;
		FOR x IN
			SELECT t.t, h.c, h.lo, h.hi, h.before
			FROM unnest(t_w, t_rank, t_below, t_key) WITH ORDINALITY t(w, rank, below, key, t)
			JOIN (SELECT u.w, u.c, u.lo, u.hi, sum(u.c) OVER (PARTITION BY u.w ORDER BY u.b) - u.c AS before
			      FROM unnest(h_w, h_b, h_c, h_lo, h_hi) u(w, b, c, lo, hi)) h
			  ON h.w = t.w AND t.below + h.before <= t.rank AND t.rank < t.below + h.before + h.c
			WHERE t.key IS NULL
		LOOP
			hits := hits + 1;
			IF x.lo = x.hi THEN
				t_key[x.t] := x.lo;
			ELSE
				t_below[x.t] := t_below[x.t] + x.before;
				t_lo[x.t] := x.lo;
				t_hi[x.t] := x.hi;
				t_buckets[x.t] := CASE WHEN x.c <= whole_below THEN 0 ELSE 65536 END;
			END IF;
		END LOOP;
		IF hits <> pending THEN
			RAISE EXCEPTION 'the RFM breakpoints of % could not be found: its rows changed while they were read', rel
				USING ERRCODE = 'serialization_failure';
		END IF;
		EXIT WHEN array_position(t_key, NULL) IS NULL;
		-- (every round narrows a window 65,536 times at least: a window of
		-- 2^64 keys is one key after four)
		IF round >= 5 THEN
			RAISE EXCEPTION 'the RFM breakpoints of % could not be found in % rounds', rel, round USING ERRCODE = 'internal_error';
		END IF;
		-- the next round's windows, one per score and range
		round := round + 1;
		w_score := ARRAY[]::int[];
		w_lo := ARRAY[]::bigint[];
		w_hi := ARRAY[]::bigint[];
		w_buckets := ARRAY[]::int[];
		FOR t IN 1 .. 24 LOOP
			CONTINUE WHEN t_key[t] IS NOT NULL;
			k := (SELECT min(i) FROM generate_subscripts(w_score, 1) i
			      WHERE w_score[i] = t_score[t] AND w_lo[i] = t_lo[t] AND w_hi[i] = t_hi[t] AND w_buckets[i] = t_buckets[t]);
			IF k IS NULL THEN
				w_score := w_score || t_score[t];
				w_lo := w_lo || t_lo[t];
				w_hi := w_hi || t_hi[t];
				w_buckets := w_buckets || t_buckets[t];
				k := cardinality(w_score);
			END IF;
			t_w[t] := k;
		END LOOP;
	END LOOP;
	RETURN segmentation._rfm_breaks(n, t_key);
END $$;
COMMENT ON FUNCTION _rfm_breakpoints_split(regclass, timestamptz, bigint) IS 'Internal (refresh, when Citus distributes profiles): rfm_breakpoints of the behaviors of rel''s rows not opted out, found by selection over counts, so that no value is gathered to the coordinator';

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
COMMENT ON FUNCTION active_periods(behavior, text) IS 'First days of the periods (period: day, week = ISO week from Monday, or month; UTC) that hold an active day, ascending';
COMMENT ON FUNCTION active_periods(behavior, text, int4) IS 'First days of the periods (day, week = ISO week from Monday, or month; UTC) that hold an event of the feature (-1: of any event), ascending';
COMMENT ON FUNCTION active_days_per_period(behavior, text) IS 'Per period (day, week = ISO week from Monday, or month; UTC) that holds an active day, ascending: its first day and its number of active days';
COMMENT ON FUNCTION current_streak(behavior, timestamptz) IS 'Consecutive active UTC days ending at date(as_of), or at the day before when date(as_of) is idle; else 0';
COMMENT ON FUNCTION decayed_activity(behavior, timestamptz, interval) IS 'Sum over active days d <= date(as_of) of 0.5 ^ ((date(as_of) - d) / half_life in days)';
COMMENT ON FUNCTION features(behavior) IS 'Feature ids used at least once, ascending';
COMMENT ON FUNCTION feature_count(behavior, int) IS 'Number of events with this feature id (0 when unused)';
COMMENT ON FUNCTION feature_last_seen(behavior, int) IS 'Time of the last event with this feature id (NULL when unused)';
COMMENT ON FUNCTION adoption(behavior, int[]) IS 'Share of the distinct listed features used at least once (NULL for an empty list)';
COMMENT ON FUNCTION behavior_scores(behavior, timestamptz, text[], double precision[]) IS 'Every score of segmentation.scores from one decoding of b: windows of 7 and 28 days and the 28 before, streak, 7-day decayed activity; feature_names[i] names feature id i - 1 for features_used, features_adopted and adoption_rate; RFM scores from rfm_breakpoints (NULL without)';
COMMENT ON FUNCTION events_in(behavior, int, timestamptz) IS 'Events of the feature (-1: every event), all the behavior holds; as_of is only checked';
COMMENT ON FUNCTION events_in(behavior, int, timestamptz, interval) IS 'Events of the feature (-1: every event) on the UTC days d with date(as_of) - N < d <= date(as_of), for a window of N whole days';
COMMENT ON FUNCTION days_in(behavior, int, timestamptz) IS 'Active UTC days of the feature (-1: of any event), all the behavior holds';
COMMENT ON FUNCTION days_in(behavior, int, timestamptz, interval) IS 'Active UTC days of the feature (-1: of any event) d with date(as_of) - N < d <= date(as_of), for a window of N whole days';
COMMENT ON FUNCTION value_in(behavior, int, timestamptz) IS 'Value sum of the events of the feature (-1: every event), all the behavior holds';
COMMENT ON FUNCTION value_in(behavior, int, timestamptz, interval) IS 'Value sum of the events of the feature (-1: every event) on the UTC days d with date(as_of) - N < d <= date(as_of), for a window of N whole days';
COMMENT ON FUNCTION first_use(behavior, int) IS 'Time of the first event of the feature (-1: first_seen); NULL when never used';
COMMENT ON FUNCTION last_use(behavior, int) IS 'Time of the last event of the feature (-1: last_seen); NULL when never used';
COMMENT ON FUNCTION days_since(behavior, int, timestamptz) IS 'Days from the last event of the feature (-1: any event) to as_of, fractional, negative when as_of is earlier; NULL when never used';
COMMENT ON FUNCTION periods_with(behavior, int, timestamptz, int, interval, int) IS 'How many of the last `periods` periods of `period` whole UTC days each, the last ending on date(as_of), hold at least min_events events of the feature (-1: any event)';
COMMENT ON AGGREGATE rfm_breakpoints(behavior, timestamptz) IS 'RFM breakpoints of the population as a float8[3][4]: the 20/40/60/80th percentiles (percentile_cont) of recency_days(b, as_of), event_count(b) and value_sum(b)';
COMMENT ON FUNCTION rfm_breakpoints_trans(rfm_values, behavior, timestamptz) IS 'Transition function of rfm_breakpoints';
COMMENT ON FUNCTION rfm_breakpoints_final(rfm_values) IS 'Final function of rfm_breakpoints';
COMMENT ON FUNCTION rfm_breakpoints_combine(rfm_values, rfm_values) IS 'Combine function of rfm_breakpoints';
COMMENT ON FUNCTION quantile_score(double precision, double precision[]) IS '1 + number of breakpoints strictly below x (RFM score from population quantiles)';
COMMENT ON FUNCTION quantile_score(double precision, double precision[], boolean) IS 'As quantile_score(x, breakpoints); descending gives the mirror score, 1 + number of breakpoints >= x';
