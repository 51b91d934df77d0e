/*
 * scores.c
 *		Accessors and scores computed from one behavior value: recency,
 *		frequency, monetary value, active days, streaks, decayed activity,
 *		feature depth and adoption; behavior_scores, all of refresh's per-user
 *		scores from one decoding; and quantile_score, which turns a number into
 *		an RFM-style score from population breakpoints.
 *
 * Days are UTC calendar days; date(as_of) is the UTC day of as_of.
 */
#include "postgres.h"

#include <math.h>

#include "behavior.h"
#include "catalog/pg_type.h"
#include "port/pg_bitutils.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#define GET_BEHAVIOR(n) BehaviorFromDatum(PG_GETARG_DATUM(n), &tmp)

static int32
AsOfDay(TimestampTz as_of)
{
	CheckTimestampArg(as_of, "as_of");
	return BehaviorDayOf(as_of);
}

static char *
IntervalText(Interval *iv)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)));
}

/* a value sum as a double; whole and fractional parts apart, so 1e23 stays 1e23 */
static double
ValueSum(const Behavior *b)
{
	int128		units = (int128) BEHAVIOR_VALUE_SCALE;

	return (double) (b->value / units) + (double) (b->value % units) / BEHAVIOR_VALUE_SCALE;
}

/* consecutive active days ending at day, or at the day before it */
static int32
Streak(const Behavior *b, int32 day)
{
	int32		streak = 0;

	if (!BehaviorDayActive(b, day))
		day--;
	while (BehaviorDayActive(b, day))
	{
		streak++;
		day--;
	}
	return streak;
}

/* sum over active days d <= day of 0.5 ^ ((day - d) / h), in ascending d */
static double
Decayed(const Behavior *b, int32 day, double h)
{
	double		sum = 0;
	int32		w;

	for (w = 0; w < b->nwords; w++)
	{
		uint64		word = b->days[w];

		while (word != 0)
		{
			int64		d = (int64) b->day_base + 64 * (int64) w + pg_rightmost_one_pos64(word);

			if (d > day)
				return sum;
			sum += exp2(-(double) (day - d) / h);
			word &= word - 1;
		}
	}
	return sum;
}

PG_FUNCTION_INFO_V1(behavior_first_seen);
Datum
behavior_first_seen(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_TIMESTAMPTZ(GET_BEHAVIOR(0)->first_seen);
}

PG_FUNCTION_INFO_V1(behavior_last_seen);
Datum
behavior_last_seen(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_TIMESTAMPTZ(GET_BEHAVIOR(0)->last_seen);
}

PG_FUNCTION_INFO_V1(behavior_event_count);
Datum
behavior_event_count(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_INT64(GET_BEHAVIOR(0)->events);
}

PG_FUNCTION_INFO_V1(behavior_value_sum);
Datum
behavior_value_sum(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_FLOAT8(ValueSum(GET_BEHAVIOR(0)));
}

/* days from the last (recency) or first (tenure) event to as_of; negative when as_of is earlier */
static Datum
DaysTo(FunctionCallInfo fcinfo, bool from_first)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);

	CheckTimestampArg(as_of, "as_of");
	PG_RETURN_FLOAT8((double) (as_of - (from_first ? b->first_seen : b->last_seen)) / USECS_PER_DAY);
}

PG_FUNCTION_INFO_V1(behavior_recency_days);
Datum
behavior_recency_days(PG_FUNCTION_ARGS)
{
	return DaysTo(fcinfo, false);
}

PG_FUNCTION_INFO_V1(behavior_tenure_days);
Datum
behavior_tenure_days(PG_FUNCTION_ARGS)
{
	return DaysTo(fcinfo, true);
}

/* active_days(b): all time; active_days(b, as_of, window): date(as_of) - N < d <= date(as_of) */
PG_FUNCTION_INFO_V1(behavior_active_days);
Datum
behavior_active_days(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	int32		day;
	Interval   *window;
	int64		n;

	if (PG_NARGS() == 1)
		PG_RETURN_INT32(BehaviorCountDays(b, PG_INT32_MIN, PG_INT32_MAX));

	day = AsOfDay(PG_GETARG_TIMESTAMPTZ(1));
	window = PG_GETARG_INTERVAL_P(2);
	n = window->day + window->time / USECS_PER_DAY;
	if (window->month != 0 || window->time % USECS_PER_DAY != 0 || n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"window\" must be a positive whole number of days"),
				 errdetail("Got \"%s\".", IntervalText(window)),
				 errhint("Use a window such as '7 days' or '28 days'; months and hours do not count whole calendar days.")));
	PG_RETURN_INT32(BehaviorCountDays(b, (int32) Max((int64) day - n + 1, PG_INT32_MIN), day));
}

/* consecutive active days ending at date(as_of), or at the day before it */
PG_FUNCTION_INFO_V1(behavior_current_streak);
Datum
behavior_current_streak(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	int32		day = AsOfDay(PG_GETARG_TIMESTAMPTZ(1));

	PG_RETURN_INT32(Streak(b, day));
}

/* sum over active days d <= date(as_of) of 0.5 ^ ((date(as_of) - d) / half_life) */
PG_FUNCTION_INFO_V1(behavior_decayed_activity);
Datum
behavior_decayed_activity(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	int32		day = AsOfDay(PG_GETARG_TIMESTAMPTZ(1));
	Interval   *half_life = PG_GETARG_INTERVAL_P(2);
	double		h = ((double) half_life->day * USECS_PER_DAY + half_life->time) / USECS_PER_DAY;

	if (half_life->month != 0 || h <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"half_life\" must be a positive interval of days or hours"),
				 errdetail("Got \"%s\".", IntervalText(half_life)),
				 errhint("Use an interval such as '7 days'; months have no fixed length.")));

	PG_RETURN_FLOAT8(Decayed(b, day, h));
}

/* feature ids used, ascending */
PG_FUNCTION_INFO_V1(behavior_features);
Datum
behavior_features(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	Datum	   *ids = palloc(Max(b->nfeatures, 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < b->nfeatures; i++)
		ids[i] = Int32GetDatum(b->feature_ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(ids, b->nfeatures, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

/* the use of the feature named by argument 1, or NULL when unused */
static const FeatureUsage *
FeatureArg(FunctionCallInfo fcinfo, Behavior *tmp)
{
	const Behavior *b = BehaviorFromDatum(PG_GETARG_DATUM(0), tmp);
	int32		feature = PG_GETARG_INT32(1);

	CheckFeatureArg(feature, "feature");
	return BehaviorFindFeature(b, feature);
}

PG_FUNCTION_INFO_V1(behavior_feature_count);
Datum
behavior_feature_count(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const FeatureUsage *f = FeatureArg(fcinfo, &tmp);

	PG_RETURN_INT64(f ? f->count : 0);
}

PG_FUNCTION_INFO_V1(behavior_feature_last_seen);
Datum
behavior_feature_last_seen(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const FeatureUsage *f = FeatureArg(fcinfo, &tmp);

	if (f == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(f->last_seen);
}

static int
CompareInt32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/* share of the distinct listed features used at least once; NULL for an empty list */
PG_FUNCTION_INFO_V1(behavior_adoption);
Datum
behavior_adoption(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				distinct = 0,
				used = 0;
	int32	   *ids;

	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		PG_RETURN_NULL();
	ids = palloc(n * sizeof(int32));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"features\" must not contain NULL")));
		ids[i] = DatumGetInt32(elems[i]);
		CheckFeatureArg(ids[i], "features");
	}
	qsort(ids, n, sizeof(int32), CompareInt32);
	for (i = 0; i < n; i++)
	{
		if (i > 0 && ids[i] == ids[i - 1])
			continue;
		distinct++;
		if (BehaviorFindFeature(b, ids[i]))
			used++;
	}
	PG_RETURN_FLOAT8((double) used / distinct);
}

/*
 * quantile_score(x, breakpoints [, descending]): 1 + number of breakpoints
 * strictly below x; descending mirrors it (n + 2 - that), i.e. 1 + number of
 * breakpoints >= x.
 */
PG_FUNCTION_INFO_V1(quantile_score);
Datum
quantile_score(PG_FUNCTION_ARGS)
{
	float8		x = PG_GETARG_FLOAT8(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	bool		descending = PG_NARGS() > 2 && PG_GETARG_BOOL(2);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				below = 0;

	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"x\" must not be NaN")));
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		float8		bp;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"breakpoints\" must not contain NULL")));
		bp = DatumGetFloat8(elems[i]);
		if (isnan(bp))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"breakpoints\" must not contain NaN")));
		if (i > 0 && bp < DatumGetFloat8(elems[i - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"breakpoints\" must be in ascending order"),
					 errhint("Compute them with percentile_cont(array[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x).")));
		if (bp < x)
			below++;
	}
	PG_RETURN_INT32(descending ? n + 1 - below : 1 + below);
}

/*
 * behavior_scores(b, as_of, feature_names): every per-user score refresh
 * stores, from one decoding of b.  feature_names[i] names feature id i - 1
 * (NULL where no feature has that id): features_used lists the names of the
 * defined features used, features_adopted counts them, adoption_rate is
 * their share of the defined features (NULL when none is defined).
 */
PG_FUNCTION_INFO_V1(behavior_scores);
Datum
behavior_scores(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	ArrayType  *names_arr = PG_GETARG_ARRAYTYPE_P(2);
	int32		day = AsOfDay(as_of);
	TupleDesc	tupdesc;
	Datum		values[15];
	bool		nulls[15] = {false};
	Datum	   *names;
	bool	   *name_nulls;
	Datum	   *used_names;
	int			nnames,
				defined = 0,
				used = 0,
				i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "behavior_scores must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	deconstruct_array(names_arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &name_nulls, &nnames);
	used_names = palloc(Max(nnames, 1) * sizeof(Datum));
	for (i = 0; i < nnames; i++)
		if (!name_nulls[i])
		{
			defined++;
			if (BehaviorFindFeature(b, i))
				used_names[used++] = names[i];
		}

	values[0] = TimestampTzGetDatum(b->first_seen);
	values[1] = TimestampTzGetDatum(b->last_seen);
	values[2] = Float8GetDatum((double) (as_of - b->last_seen) / USECS_PER_DAY);
	values[3] = Float8GetDatum((double) (as_of - b->first_seen) / USECS_PER_DAY);
	values[4] = Int64GetDatum(b->events);
	values[5] = Float8GetDatum(ValueSum(b));
	values[6] = Int32GetDatum(BehaviorCountDays(b, PG_INT32_MIN, PG_INT32_MAX));
	values[7] = Int32GetDatum(BehaviorCountDays(b, day - 6, day));
	values[8] = Int32GetDatum(BehaviorCountDays(b, day - 27, day));
	values[9] = Int32GetDatum(BehaviorCountDays(b, day - 55, day - 28));
	values[10] = Int32GetDatum(Streak(b, day));
	values[11] = Float8GetDatum(Decayed(b, day, 7.0));
	values[12] = Int32GetDatum(used);
	values[13] = Float8GetDatum(defined > 0 ? (double) used / defined : 0);
	nulls[13] = defined == 0;
	values[14] = PointerGetDatum(construct_array(used_names, used, TEXTOID, -1, false, TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
