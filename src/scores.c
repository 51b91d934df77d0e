/*
 * scores.c
 *		Accessors and scores computed from one behavior value: recency,
 *		frequency, monetary value, active days, streaks, decayed activity,
 *		feature depth and adoption; per feature (or any event), the events,
 *		active days and value sum in a window, first and last use, days
 *		since, and periods with enough events; quantile_score, which turns a number into
 *		an RFM-style score from population breakpoints, and rfm_breakpoints,
 *		the aggregate that finds those breakpoints; ScoresCompute and
 *		behavior_scores, every per-user score of segmentation.scores from one
 *		decoding (predicate.c evaluates segment rules on them), and
 *		ScoresTimeDependent, the few of them that move within a UTC day;
 *		active_periods and active_days_per_period, the periods (days, ISO
 *		weeks, months) of the active days, which the managed analyses read.
 *
 * Days are UTC calendar days; date(as_of) is the UTC day of as_of.
 */
#include "postgres.h"

#include <math.h>

#include "behavior.h"
#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#define GET_BEHAVIOR(n) BehaviorFromDatum(PG_GETARG_DATUM(n), &tmp)
/* for the scores that read only events, first/last event and value sum */
#define GET_HEADER(n) (BehaviorHeaderFromDatum(PG_GETARG_DATUM(n), &tmp), &tmp)

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

/*
 * Days from `from` to `to`, negative when `to` is earlier: the difference in
 * 128 bits, exact, since two timestamps 4714 BC and 294276 AD apart are
 * farther apart than an int64 holds.
 */
static double
DaysBetween(TimestampTz from, TimestampTz to)
{
	return (double) ((int128) to - (int128) from) / USECS_PER_DAY;
}

/* a value sum as a double; whole and fractional parts apart, so 1e23 stays 1e23 */
static double
FixedToDouble(int128 v)
{
	int128		units = (int128) BEHAVIOR_VALUE_SCALE;

	return (double) (v / units) + (double) (v % units) / BEHAVIOR_VALUE_SCALE;
}

static double
ValueSum(const Behavior *b)
{
	return FixedToDouble(b->value);
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
	int			w;

	for (w = 0; w < b->nwords; w++)
	{
		uint64		word = b->words[w];

		while (word != 0)
		{
			int64		d = 64 * (int64) b->word_ids[w] + pg_rightmost_one_pos64(word);

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

	PG_RETURN_TIMESTAMPTZ(GET_HEADER(0)->first_seen);
}

PG_FUNCTION_INFO_V1(behavior_last_seen);
Datum
behavior_last_seen(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_TIMESTAMPTZ(GET_HEADER(0)->last_seen);
}

PG_FUNCTION_INFO_V1(behavior_event_count);
Datum
behavior_event_count(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_INT64(GET_HEADER(0)->events);
}

PG_FUNCTION_INFO_V1(behavior_value_sum);
Datum
behavior_value_sum(PG_FUNCTION_ARGS)
{
	Behavior	tmp;

	PG_RETURN_FLOAT8(ValueSum(GET_HEADER(0)));
}

/* days from the last (recency) or first (tenure) event to as_of; negative when as_of is earlier */
static Datum
DaysTo(FunctionCallInfo fcinfo, bool from_first)
{
	Behavior	tmp;
	const Behavior *b = GET_HEADER(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);

	CheckTimestampArg(as_of, "as_of");
	PG_RETURN_FLOAT8(DaysBetween(from_first ? b->first_seen : b->last_seen, as_of));
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

/*
 * N of a window (or period) of N whole days; anything else is an error that
 * names the argument
 */
int32
WindowDays(Interval *window, const char *argname)
{
	int64		n = window->day + window->time / USECS_PER_DAY;

	if (window->month != 0 || window->time % USECS_PER_DAY != 0 || n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a positive whole number of days", argname),
				 errdetail("Got \"%s\".", IntervalText(window)),
				 errhint("Use an interval such as '7 days' or '28 days'; months and hours do not count whole calendar days.")));
	return (int32) Min(n, PG_INT32_MAX);
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
	n = WindowDays(window, "window");
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

	PG_RETURN_INT64(f ? FeatureCount(f) : 0);
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
 * Periods of the active days, for the managed analyses (retention, lifecycle,
 * stickiness): UTC days, ISO weeks (Monday) or calendar months, each named
 * by its first day.  A day number counts from 2000-01-01, as a date does.
 */

PeriodKind
PeriodArg(FunctionCallInfo fcinfo, int n)
{
	text	   *t = PG_GETARG_TEXT_PP(n);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len == 3 && memcmp(s, "day", 3) == 0)
		return PERIOD_DAY;
	if (len == 4 && memcmp(s, "week", 4) == 0)
		return PERIOD_WEEK;
	if (len == 5 && memcmp(s, "month", 5) == 0)
		return PERIOD_MONTH;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"period\" must be day, week or month"),
			 errdetail("Got \"%s\".", text_to_cstring(t))));
	pg_unreachable();
}

/*
 * The first day of the period that holds day, and the first day of the next
 * period.  The month of the calendar's first day (4714-11-24 BC) starts on
 * that day: a date cannot be earlier.
 */
void
PeriodBounds(PeriodKind kind, int32 day, int64 *start, int64 *next)
{
	int			y,
				m,
				d;

	if (kind == PERIOD_DAY)
	{
		*start = day;
		*next = (int64) day + 1;
	}
	else if (kind == PERIOD_WEEK)
	{
		/* 2000-01-03, day 2, was a Monday; the modulo floors */
		*start = (int64) day - (((int64) day - 2) % 7 + 7) % 7;
		*next = *start + 7;
	}
	else
	{
		j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		*start = Max((int64) date2j(y, m, 1), DATETIME_MIN_JULIAN) - POSTGRES_EPOCH_JDATE;
		*next = (int64) (m == 12 ? date2j(y + 1, 1, 1) : date2j(y, m + 1, 1)) - POSTGRES_EPOCH_JDATE;
	}
}

/* the periods seen so far, growing one day (ascending) at a time */
typedef struct PeriodsAcc
{
	PeriodKind	kind;
	int			n;
	int			max;
	int64		next;			/* first day of the period after the last one */
	int32	   *starts;
	int32	   *days;
} PeriodsAcc;

static void
PeriodsAdd(PeriodsAcc *acc, int32 day)
{
	int64		start;

	if (day < acc->next)
	{
		/* days ascend: still in the period of the last one */
		acc->days[acc->n - 1]++;
		return;
	}
	if (acc->n == acc->max)
	{
		acc->max *= 2;
		acc->starts = repalloc(acc->starts, acc->max * sizeof(int32));
		acc->days = repalloc(acc->days, acc->max * sizeof(int32));
	}
	PeriodBounds(acc->kind, day, &start, &acc->next);
	acc->starts[acc->n] = (int32) start;
	acc->days[acc->n] = 1;
	acc->n++;
}

/*
 * The periods holding active days of feature (BEHAVIOR_ANY_FEATURE: of any
 * event), ascending, and how many such days each holds: *starts and *days
 * (palloc'd, grown as needed: memory in proportion to the periods).  One
 * pass over the set bits of the stored words, or over the feature's days.
 */
int
ActivePeriods(const Behavior *b, PeriodKind kind, int32 feature, int32 **starts, int32 **days)
{
	PeriodsAcc	acc = {kind, 0, 8, PG_INT64_MIN, palloc(8 * sizeof(int32)), palloc(8 * sizeof(int32))};

	if (feature == BEHAVIOR_ANY_FEATURE)
	{
		int			w;

		for (w = 0; w < b->nwords; w++)
		{
			uint64		word = b->words[w];

			while (word != 0)
			{
				PeriodsAdd(&acc, (int32) (64 * (int64) b->word_ids[w] + pg_rightmost_one_pos64(word)));
				word &= word - 1;
			}
		}
	}
	else
	{
		const FeatureUsage *f;
		int32		i;

		CheckLegacy(b, "The active periods of a feature");
		f = BehaviorFindFeature(b, feature);
		for (i = 0; f != NULL && i < FeatureNDays(f); i++)
			PeriodsAdd(&acc, FeatureDayAt(f, i).day);
	}
	*starts = acc.starts;
	*days = acc.days;
	return acc.n;
}

static int32 FeatureOrAnyArg(FunctionCallInfo fcinfo, int argno);

/*
 * active_periods(b, period [, feature]): the first days of the periods with
 * an active day (of feature; -1: of any event), ascending
 */
PG_FUNCTION_INFO_V1(behavior_active_periods);
Datum
behavior_active_periods(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_BEHAVIOR(0);
	PeriodKind	kind = PeriodArg(fcinfo, 1);
	int32		feature = PG_NARGS() > 2 ? FeatureOrAnyArg(fcinfo, 2) : BEHAVIOR_ANY_FEATURE;
	int32	   *starts,
			   *days;
	int			n = ActivePeriods(b, kind, feature, &starts, &days);
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = DateADTGetDatum(starts[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, DATEOID, sizeof(DateADT), true, TYPALIGN_INT));
}

/* active_days_per_period(b, period): (period_start, days) per period with an active day, ascending */
PG_FUNCTION_INFO_V1(behavior_active_days_per_period);
Datum
behavior_active_days_per_period(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Behavior	tmp;
	const Behavior *b;
	PeriodKind	kind;
	int32	   *starts,
			   *days;
	int			n,
				i;

	/* checks that the caller takes a set, and the result's two columns */
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != 2 || TupleDescAttr(rsinfo->setDesc, 0)->atttypid != DATEOID ||
		TupleDescAttr(rsinfo->setDesc, 1)->atttypid != INT4OID)
		elog(ERROR, "active_days_per_period must return (date, int)");
	b = GET_BEHAVIOR(0);
	kind = PeriodArg(fcinfo, 1);
	n = ActivePeriods(b, kind, BEHAVIOR_ANY_FEATURE, &starts, &days);
	for (i = 0; i < n; i++)
	{
		Datum		values[2] = {DateADTGetDatum(starts[i]), Int32GetDatum(days[i])};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* 1 + number of the n breakpoints strictly below x; descending: 1 + number >= x */
static int32
QuantileScore(float8 x, const float8 *bp, int n, bool descending)
{
	int			i,
				below = 0;

	for (i = 0; i < n; i++)
		below += bp[i] < x;
	return descending ? n + 1 - below : 1 + below;
}

/* The elements of a float8 array argument, checked: no NULL, no NaN */
static float8 *
Breakpoints(ArrayType *arr, const char *argname, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	float8	   *bp;
	int			i;

	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	bp = palloc(Max(*n, 1) * sizeof(float8));
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not contain NULL", argname)));
		bp[i] = DatumGetFloat8(elems[i]);
		if (isnan(bp[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" must not contain NaN", argname)));
	}
	return bp;
}

static void
CheckAscending(const float8 *bp, int n, const char *argname)
{
	int			i;

	for (i = 1; i < n; i++)
		if (bp[i] < bp[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" must be in ascending order", argname),
					 errhint("Compute them with percentile_cont(array[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY x), "
							 "or with segmentation.rfm_breakpoints().")));
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
	bool		descending = PG_NARGS() > 2 && PG_GETARG_BOOL(2);
	int			n;
	float8	   *bp;

	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"x\" must not be NaN")));
	bp = Breakpoints(PG_GETARG_ARRAYTYPE_P(1), "breakpoints", &n);
	CheckAscending(bp, n, "breakpoints");
	PG_RETURN_INT32(QuantileScore(x, bp, n, descending));
}

/* ---------- per-feature days ---------- */

/*
 * A feature id >= 0, or BEHAVIOR_ANY_FEATURE (-1): every event, once (every
 * event is in exactly one series that is not an extra feature's: its
 * feature's, or b->none).  Day ranges [from, to] are inclusive;
 * [PG_INT32_MIN, PG_INT32_MAX] is "no window": every event b holds.
 */
#define WHOLE_RANGE(from, to) ((from) == PG_INT32_MIN && (to) == PG_INT32_MAX)

/* A value sum past what int128 holds: the sum modulo 2^128 and its wraps */
typedef struct ValueAcc
{
	int128		sum;
	int64		wraps;
} ValueAcc;

static inline void
AccAdd(ValueAcc *a, int128 v)
{
	if (__builtin_add_overflow(a->sum, v, &a->sum))
		a->wraps += v > 0 ? 1 : -1;
}

static double
AccToDouble(const ValueAcc *a)
{
	/* 2^128 units of 1e-9 */
	return FixedToDouble(a->sum) + (double) a->wraps * (3.402823669209384634633746e38 / BEHAVIOR_VALUE_SCALE);
}

/* Events, active days and value sum of series f on the days [from, to] */
static void
SeriesWindow(const FeatureUsage *f, int32 from, int32 to, int64 *events, int32 *days, ValueAcc *value)
{
	int32		nd = FeatureNDays(f);
	int32		i;

	for (i = BehaviorSeriesLowerBound(f, from); i < nd; i++)
	{
		FeatureDay	d = FeatureDayAt(f, i);

		/* (the lower bound skips the sorted days only: the tail may be early) */
		if (d.day < from)
			continue;
		if (d.day > to)
			break;
		*events += d.count;
		(*days)++;
		if (value)
			AccAdd(value, d.value);
	}
}

/* The same summed over the series of feature (every series for any event) */
static void
FeatureWindow(const Behavior *b, int32 feature, int32 from, int32 to, int64 *events, int32 *days, ValueAcc *value)
{
	*events = 0;
	*days = 0;
	if (value)
		value->sum = value->wraps = 0;
	if (feature == BEHAVIOR_ANY_FEATURE)
	{
		int			i;

		/* (extra features' events are in another series too) */
		SeriesWindow(&b->none, from, to, events, days, value);
		for (i = 0; i < b->nfeatures; i++)
			if (!b->features[i].extra)
				SeriesWindow(&b->features[i], from, to, events, days, value);
	}
	else
	{
		const FeatureUsage *f = BehaviorFindFeature(b, feature);

		if (f)
			SeriesWindow(f, from, to, events, days, value);
	}
}

/* Events of feature on the days [from, to] */
int64
BehaviorEventsIn(const Behavior *b, int32 feature, int32 from, int32 to)
{
	int64		events;
	int32		days;

	if (WHOLE_RANGE(from, to))
	{
		const FeatureUsage *f;

		if (feature == BEHAVIOR_ANY_FEATURE)
			return b->events;
		f = BehaviorFindFeature(b, feature);
		return f ? FeatureCount(f) : 0;
	}
	CheckLegacy(b, "A count of events in a window");
	FeatureWindow(b, feature, from, to, &events, &days, NULL);
	return events;
}

/* Active days of feature among [from, to] */
int32
BehaviorDaysIn(const Behavior *b, int32 feature, int32 from, int32 to)
{
	int64		events;
	int32		days;

	/* the active days are the union of the days of the series */
	if (feature == BEHAVIOR_ANY_FEATURE)
		return BehaviorCountDays(b, from, to);
	CheckLegacy(b, "A count of the active days of a feature");
	FeatureWindow(b, feature, from, to, &events, &days, NULL);
	return days;
}

/* Value sum of the events of feature on the days [from, to] */
double
BehaviorValueIn(const Behavior *b, int32 feature, int32 from, int32 to)
{
	int64		events;
	int32		days;
	ValueAcc	value;

	if (feature == BEHAVIOR_ANY_FEATURE && WHOLE_RANGE(from, to))
		return ValueSum(b);
	CheckLegacy(b, "A value sum of a feature or in a window");
	FeatureWindow(b, feature, from, to, &events, &days, &value);
	return AccToDouble(&value);
}

/* First event of feature into *ts; false when it was never used */
bool
BehaviorFirstUse(const Behavior *b, int32 feature, TimestampTz *ts)
{
	const FeatureUsage *f;

	if (feature == BEHAVIOR_ANY_FEATURE)
	{
		*ts = b->first_seen;
		return true;
	}
	f = BehaviorFindFeature(b, feature);
	if (f)
		*ts = f->first_seen;
	return f != NULL;
}

/* Last event of feature into *ts; false when it was never used */
bool
BehaviorLastUse(const Behavior *b, int32 feature, TimestampTz *ts)
{
	const FeatureUsage *f;

	if (feature == BEHAVIOR_ANY_FEATURE)
	{
		*ts = b->last_seen;
		return true;
	}
	f = BehaviorFindFeature(b, feature);
	if (f)
		*ts = f->last_seen;
	return f != NULL;
}

static int
CompareDayCounts(const void *a, const void *b)
{
	int32		x = ((const FeatureDay *) a)->day;
	int32		y = ((const FeatureDay *) b)->day;

	return (x > y) - (x < y);
}

/* Append the days of series f in [from, to] to *out (*n of *max) */
static void
CollectDays(const FeatureUsage *f, int32 from, int32 to, FeatureDay **out, int32 *n, int32 *max)
{
	int32		nd = FeatureNDays(f);
	int32		i;

	for (i = BehaviorSeriesLowerBound(f, from); i < nd; i++)
	{
		FeatureDay	d = FeatureDayAt(f, i);

		if (d.day < from)
			continue;
		if (d.day > to)
			break;
		if (*n == *max)
		{
			*max = Max(16, 2 * *max);
			*out = *out ? repalloc_huge(*out, (Size) *max * sizeof(FeatureDay))
				: palloc_extended((Size) *max * sizeof(FeatureDay), MCXT_ALLOC_HUGE);
		}
		(*out)[(*n)++] = d;
	}
}

/*
 * How many of the periods periods of period days each, the last ending on
 * day (period k holds the days d with day - (k + 1) * period < d <=
 * day - k * period), hold at least min_events events of feature.  Costs the
 * active days in those periods, not the number of periods.
 */
int32
BehaviorPeriodsWith(const Behavior *b, int32 feature, int32 day, int64 min_events, int32 period, int32 periods)
{
	int64		span = (int64) period * periods;
	int32		from = (int32) Max((int64) day - span + 1, PG_INT32_MIN);
	FeatureDay *days = NULL;
	int32		n = 0,
				max = 0,
				i,
				result = 0;
	int64		bucket = -1,
				sum = 0;

	CheckLegacy(b, "A count of periods with events");
	if (min_events <= 0)
		return periods;
	if (feature == BEHAVIOR_ANY_FEATURE)
	{
		CollectDays(&b->none, from, day, &days, &n, &max);
		for (i = 0; i < b->nfeatures; i++)
			if (!b->features[i].extra)
				CollectDays(&b->features[i], from, day, &days, &n, &max);
		if (n > 1)
			qsort(days, n, sizeof(FeatureDay), CompareDayCounts);
	}
	else
	{
		const FeatureUsage *f = BehaviorFindFeature(b, feature);

		if (f)
			CollectDays(f, from, day, &days, &n, &max);
	}
	/* ascending days: the period index only goes down; sum each run */
	for (i = 0; i < n; i++)
	{
		int64		k = ((int64) day - days[i].day) / period;

		if (k != bucket)
		{
			result += sum >= min_events;
			bucket = k;
			sum = 0;
		}
		sum += days[i].count;
	}
	result += n > 0 && sum >= min_events;
	if (days)
		pfree(days);
	return result;
}

/* argument "feature" of the per-feature accessors: an id >= 0, or -1 */
static int32
FeatureOrAnyArg(FunctionCallInfo fcinfo, int argno)
{
	int32		feature = PG_GETARG_INT32(argno);

	if (feature < BEHAVIOR_ANY_FEATURE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"feature\" must be a feature id >= 0, or -1 for any event"),
				 errdetail("Got %d.", feature)));
	return feature;
}

/* (b, feature, as_of [, window]): the day range of as_of and the window */
static void
RangeArgs(FunctionCallInfo fcinfo, int32 *from, int32 *to)
{
	int32		day = AsOfDay(PG_GETARG_TIMESTAMPTZ(2));
	int32		n;

	if (PG_NARGS() < 4)
	{
		*from = PG_INT32_MIN;
		*to = PG_INT32_MAX;
		return;
	}
	n = WindowDays(PG_GETARG_INTERVAL_P(3), "window");
	*from = (int32) Max((int64) day - n + 1, PG_INT32_MIN);
	*to = day;
}

/* events_in(b, feature, as_of [, window]): events of feature in the window */
PG_FUNCTION_INFO_V1(behavior_events_in);
Datum
behavior_events_in(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	int32		from,
				to;

	RangeArgs(fcinfo, &from, &to);
	PG_RETURN_INT64(BehaviorEventsIn(GET_BEHAVIOR(0), feature, from, to));
}

/* days_in(b, feature, as_of [, window]): active days of feature in the window */
PG_FUNCTION_INFO_V1(behavior_days_in);
Datum
behavior_days_in(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	int32		from,
				to;

	RangeArgs(fcinfo, &from, &to);
	PG_RETURN_INT32(BehaviorDaysIn(GET_BEHAVIOR(0), feature, from, to));
}

/* value_in(b, feature, as_of [, window]): value sum of feature in the window */
PG_FUNCTION_INFO_V1(behavior_value_in);
Datum
behavior_value_in(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	int32		from,
				to;

	RangeArgs(fcinfo, &from, &to);
	PG_RETURN_FLOAT8(BehaviorValueIn(GET_BEHAVIOR(0), feature, from, to));
}

/* first_use(b, feature): NULL when never used */
PG_FUNCTION_INFO_V1(behavior_first_use);
Datum
behavior_first_use(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	TimestampTz ts;

	if (!BehaviorFirstUse(GET_BEHAVIOR(0), feature, &ts))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(ts);
}

/* last_use(b, feature): NULL when never used */
PG_FUNCTION_INFO_V1(behavior_last_use);
Datum
behavior_last_use(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	TimestampTz ts;

	if (!BehaviorLastUse(GET_BEHAVIOR(0), feature, &ts))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(ts);
}

/* days_since(b, feature, as_of): days from the last use to as_of; NULL when never used */
PG_FUNCTION_INFO_V1(behavior_days_since);
Datum
behavior_days_since(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz ts;

	CheckTimestampArg(as_of, "as_of");
	if (!BehaviorLastUse(GET_BEHAVIOR(0), feature, &ts))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(DaysBetween(ts, as_of));
}

/*
 * periods_with(b, feature, as_of, min_events, period, periods): how many of
 * the last periods periods of period whole days, the last ending on
 * date(as_of), hold at least min_events events of feature
 */
PG_FUNCTION_INFO_V1(behavior_periods_with);
Datum
behavior_periods_with(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	int32		feature = FeatureOrAnyArg(fcinfo, 1);
	int32		day = AsOfDay(PG_GETARG_TIMESTAMPTZ(2));
	int32		min_events = PG_GETARG_INT32(3);
	int32		period = WindowDays(PG_GETARG_INTERVAL_P(4), "period");
	int32		periods = PG_GETARG_INT32(5);

	if (min_events < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"min_events\" must not be negative"),
				 errdetail("Got %d.", min_events)));
	if (periods < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"periods\" must be at least 1"),
				 errdetail("Got %d.", periods)));
	PG_RETURN_INT32(BehaviorPeriodsWith(GET_BEHAVIOR(0), feature, day, min_events, period, periods));
}

/* ---------- RFM breakpoints of a population ---------- */

#define RFM_SCORES 3			/* recency, frequency, monetary */
#define RFM_BREAKS 4			/* quintiles: 20th, 40th, 60th, 80th percentile */

/*
 * rfm_breakpoints' state: every user's three values.  A value of the SQL
 * type rfm_values (a real type, not internal, so that Citus can split the
 * aggregate: it ships states between nodes through the type's text form);
 * in an aggregate a read-write expanded object, appended to in place, in
 * the context all states of the aggregate context share (aggregates.c).
 * Flat: u8 version | i64 n | the n values of each score in turn, float8,
 * network byte order (pq format).
 */
#define RFM_STATE_VERSION 1
#define RFM_VALUES_MAGIC 0x5E6B0F01

typedef struct RfmValues
{
	ExpandedObjectHeader hdr;
	int32		magic;
	int64		n;
	int64		size;
	float8	   *v[RFM_SCORES];
	MemoryContext cxt;
} RfmValues;

static const ExpandedObjectMethods RfmMethods;

/* a new, empty state, an expanded object in cxt */
static RfmValues *
RfmCreate(MemoryContext cxt)
{
	RfmValues  *st = MemoryContextAllocZero(cxt, sizeof(RfmValues));

	EOH_init_header(&st->hdr, &RfmMethods, cxt);
	st->magic = RFM_VALUES_MAGIC;
	st->cxt = cxt;
	return st;
}

/* room for extra more values */
static void
RfmReserve(RfmValues *st, int64 extra)
{
	int			i;

	if (extra > (int64) (MaxAllocHugeSize / sizeof(float8)) / 2 - st->n)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many behaviors for rfm_breakpoints")));
	if (st->n + extra <= st->size)
		return;
	st->size = Max(Max(st->size * 2, st->n + extra), 1024);
	for (i = 0; i < RFM_SCORES; i++)
		st->v[i] = st->v[i] ? repalloc_huge(st->v[i], st->size * sizeof(float8))
			: MemoryContextAllocHuge(st->cxt, st->size * sizeof(float8));
}

static Size
RfmFlatBodySize(const RfmValues *st)
{
	return 1 + sizeof(int64) + (Size) st->n * RFM_SCORES * sizeof(float8);
}

static void
RfmCheckFlatSize(const RfmValues *st)
{
	if (st->n > (int64) ((MaxAllocSize - VARHDRSZ - 9) / (RFM_SCORES * sizeof(float8))))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many behaviors for rfm_breakpoints to pass its state on"),
				 errdetail("The state holds %lld behaviors; a value has at most 1 GB.", (long long) st->n)));
}

static void
RfmWrite(const RfmValues *st, StringInfo buf)
{
	int64		k;
	int			i;

	pq_sendbyte(buf, RFM_STATE_VERSION);
	pq_sendint64(buf, st->n);
	for (i = 0; i < RFM_SCORES; i++)
		for (k = 0; k < st->n; k++)
			pq_sendfloat8(buf, st->v[i][k]);
}

static Size
RfmGetFlatSize(ExpandedObjectHeader *eohptr)
{
	RfmValues  *st = (RfmValues *) eohptr;

	RfmCheckFlatSize(st);
	return VARHDRSZ + RfmFlatBodySize(st);
}

static void
RfmFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	RfmValues  *st = (RfmValues *) eohptr;
	StringInfoData buf;

	pq_begintypsend(&buf);
	RfmWrite(st, &buf);
	if ((Size) buf.len != allocated_size)
		elog(ERROR, "rfm_values flat size changed while flattening");
	memcpy(result, buf.data, allocated_size);
	SET_VARSIZE(result, allocated_size);
	pfree(buf.data);
}

static const ExpandedObjectMethods RfmMethods = {RfmGetFlatSize, RfmFlattenInto};

static void
RfmBad(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid rfm_values value (the state of rfm_breakpoints)"),
			 errdetail("%s", detail),
			 errhint("An rfm_values comes only from rfm_breakpoints.")));
}

/* the flat body (len bytes), validated, appended to st */
static void
RfmRead(RfmValues *st, const char *p, Size len)
{
	StringInfoData buf;
	int64		n;
	int64		k;
	int			i;

	if (len < 1 + sizeof(int64))
		RfmBad("The value ends too early.");
	buf.data = (char *) p;
	buf.len = (int) len;
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (pq_getmsgbyte(&buf) != RFM_STATE_VERSION)
		RfmBad("Unknown version.");
	n = pq_getmsgint64(&buf);
	if (n < 1 || (Size) n > (len - 1 - sizeof(int64)) / (RFM_SCORES * sizeof(float8)) ||
		len != 1 + sizeof(int64) + (Size) n * RFM_SCORES * sizeof(float8))
		RfmBad("The number of behaviors does not match the length.");
	RfmReserve(st, n);
	for (i = 0; i < RFM_SCORES; i++)
		for (k = 0; k < n; k++)
		{
			float8		v = pq_getmsgfloat8(&buf);

			/* (a NaN would send the selection beyond the array) */
			if (isnan(v) || isinf(v))
				RfmBad("A value is not finite.");
			st->v[i][st->n + k] = v;
		}
	st->n += n;
}

/* the state of argument argno to read: the expanded object, or a flat one decoded into cxt */
static RfmValues *
RfmArg(FunctionCallInfo fcinfo, int argno, MemoryContext cxt)
{
	Datum		d = PG_GETARG_DATUM(argno);
	struct varlena *v;
	RfmValues  *st;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		st = (RfmValues *) DatumGetEOHP(d);
		if (st->magic != RFM_VALUES_MAGIC)
			elog(ERROR, "expanded object is not an rfm_values");
		return st;
	}
	v = PG_DETOAST_DATUM_PACKED(d);
	st = RfmCreate(cxt);
	RfmRead(st, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	return st;
}

/* argument 0 as the state to update in place: ours, or a copy of a value given as one */
static RfmValues *
RfmStateArg(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	Datum		d;
	RfmValues  *st;

	if (PG_ARGISNULL(0))
		return RfmCreate(AggStateContext(aggcxt));
	d = PG_GETARG_DATUM(0);
	if (DatumIsReadWriteExpandedObject(d, false, -1))
	{
		st = (RfmValues *) DatumGetEOHP(d);
		if (st->magic != RFM_VALUES_MAGIC)
			elog(ERROR, "aggregate state is not an rfm_values");
		return st;
	}
	st = RfmArg(fcinfo, 0, AggStateContext(aggcxt));
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		/* a read-only pointer may share the object with another value: a copy */
		RfmValues  *copy = RfmCreate(AggStateContext(aggcxt));
		int			i;

		RfmReserve(copy, st->n);
		for (i = 0; i < RFM_SCORES; i++)
			memcpy(copy->v[i], st->v[i], st->n * sizeof(float8));
		copy->n = st->n;
		return copy;
	}
	return st;
}

static MemoryContext
RfmAggContext(FunctionCallInfo fcinfo)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rfm_breakpoints support function called outside an aggregate")));
	return aggcxt;
}

static void
SiftDown(float8 *v, int64 root, int64 n)
{
	for (;;)
	{
		int64		child = 2 * root + 1;
		float8		t;

		if (child >= n)
			return;
		if (child + 1 < n && v[child + 1] > v[child])
			child++;
		if (v[root] >= v[child])
			return;
		t = v[root];
		v[root] = v[child];
		v[child] = t;
		root = child;
	}
}

/* v[0..n-1] sorted ascending in place: heapsort, n log n whatever the input */
static void
HeapSort(float8 *v, int64 n)
{
	int64		i;

	for (i = n / 2 - 1; i >= 0; i--)
		SiftDown(v, i, n);
	for (i = n - 1; i > 0; i--)
	{
		float8		t = v[0];

		v[0] = v[i];
		v[i] = t;
		SiftDown(v, 0, i);
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The element of rank k of v[lo..hi] in place (v[lo..k-1] <= v[k] <=
 * v[k+1..hi]): quickselect, which a state made to defeat its pivots (any
 * role can write an rfm_values) would make quadratic (review 21, R21-1); so
 * after 2 log2 n rounds without an answer the rest is heapsorted.
 */
static float8
Select(float8 *v, int64 lo, int64 hi, int64 k)
{
	int			rounds = 0;
	int			limit = 2;
	int64		len;

	for (len = hi - lo + 1; len > 1; len >>= 1)
		limit += 2;
	while (lo < hi)
	{
		float8		pivot = v[lo + (hi - lo) / 2];
		int64		i = lo,
					j = hi;

		CHECK_FOR_INTERRUPTS();
		if (++rounds > limit)
		{
			HeapSort(v + lo, hi - lo + 1);
			break;
		}

		while (i <= j)
		{
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j)
			{
				float8		t = v[i];

				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/*
 * The 20/40/60/80th percentiles of v[0..n-1] exactly as percentile_cont
 * computes them: rank p * (n - 1), interpolated between its two neighbours.
 */
static float8
QuintilePos(int64 n, int q)
{
	static const float8 fractions[RFM_BREAKS] = {0.2, 0.4, 0.6, 0.8};

	return fractions[q] * (n - 1);
}

/* quintile q from the values of ranks floor(pos) and the next, a and b */
static float8
QuintileOf(int64 n, int q, float8 a, float8 b)
{
	float8		pos = QuintilePos(n, q);
	int64		first = (int64) floor(pos);

	if ((int64) ceil(pos) == first)
		b = a;
	return a + (pos - first) * (b - a);
}

static void
Quintiles(float8 *v, int64 n, float8 *out)
{
	int64		from = 0;
	int			q;

	for (q = 0; q < RFM_BREAKS; q++)
	{
		float8		pos = QuintilePos(n, q);
		int64		first = (int64) floor(pos);
		int64		second = (int64) ceil(pos);
		float8		a = Select(v, from, n - 1, first),
					b = a;
		int64		i;

		/* v[first + 1..] >= a: the next rank is their minimum */
		if (second > first)
		{
			b = v[first + 1];
			for (i = first + 2; i < n; i++)
				b = Min(b, v[i]);
		}
		out[q] = QuintileOf(n, q, a, b);
		from = first;
	}
}

/*
 * rfm_breakpoints(b, as_of): aggregate of the population's RFM breakpoints,
 * a float8[3][4]: the 20/40/60/80th percentiles (percentile_cont) of
 * recency_days(b, as_of), of event_count(b) and of value_sum(b), in that
 * order; what quantile_score and behavior_scores take.  Reads only the
 * header of each behavior.
 */
PG_FUNCTION_INFO_V1(rfm_breakpoints_trans);
Datum
rfm_breakpoints_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = RfmAggContext(fcinfo);
	RfmValues  *st;
	Behavior	tmp;
	const Behavior *b;
	TimestampTz as_of;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"as_of\" must not be NULL")));
	as_of = PG_GETARG_TIMESTAMPTZ(2);
	CheckTimestampArg(as_of, "as_of");
	b = GET_HEADER(1);

	st = RfmStateArg(fcinfo, aggcxt);
	RfmReserve(st, 1);
	st->v[0][st->n] = DaysBetween(b->last_seen, as_of);
	st->v[1][st->n] = (double) b->events;
	st->v[2][st->n] = ValueSum(b);
	st->n++;
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

/* combine: the values of both, for parallel and distributed plans */
PG_FUNCTION_INFO_V1(rfm_breakpoints_combine);
Datum
rfm_breakpoints_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = RfmAggContext(fcinfo);
	RfmValues  *a;
	RfmValues  *b;
	int			i;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	/* the group's first partial state, flat: decoded straight into the new state */
	if (PG_ARGISNULL(0) && !VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(PG_GETARG_DATUM(1))))
		PG_RETURN_DATUM(EOHPGetRWDatum(&RfmArg(fcinfo, 1, AggStateContext(aggcxt))->hdr));
	a = RfmStateArg(fcinfo, aggcxt);
	b = RfmArg(fcinfo, 1, CurrentMemoryContext);
	RfmReserve(a, b->n);
	for (i = 0; i < RFM_SCORES; i++)
		memcpy(a->v[i] + a->n, b->v[i], b->n * sizeof(float8));
	a->n += b->n;
	PG_RETURN_DATUM(EOHPGetRWDatum(&a->hdr));
}

/*
 * serialize / deserialize: what release 0.1's rfm_breakpoints (state
 * internal) calls in parallel plans, between installing this library and
 * ALTER EXTENSION UPDATE; 0.2's aggregate needs neither (its state is a
 * real type).  The bytes are 0.1's, not rfm_values' flat form: n, then the
 * n values of each score in turn, native order.  A backend that loaded 0.1's
 * library before this one was installed may lead a parallel plan whose
 * workers load this one (review 19, R19-6): both sides must read the other's
 * states.  Read as untrusted: n and the length must agree, every value
 * finite.
 */
#define RFM_V01_SIZE(n)	(sizeof(int64) + (Size) (n) * RFM_SCORES * sizeof(float8))

PG_FUNCTION_INFO_V1(rfm_breakpoints_serialize);
Datum
rfm_breakpoints_serialize(PG_FUNCTION_ARGS)
{
	RfmValues  *st;
	bytea	   *out;
	char	   *p;
	int			i;

	(void) RfmAggContext(fcinfo);
	st = RfmArg(fcinfo, 0, CurrentMemoryContext);
	RfmCheckFlatSize(st);
	out = palloc_extended(VARHDRSZ + RFM_V01_SIZE(st->n), MCXT_ALLOC_HUGE);
	SET_VARSIZE(out, VARHDRSZ + RFM_V01_SIZE(st->n));
	p = VARDATA(out);
	memcpy(p, &st->n, sizeof(int64));
	p += sizeof(int64);
	for (i = 0; i < RFM_SCORES; i++)
	{
		memcpy(p, st->v[i], st->n * sizeof(float8));
		p += st->n * sizeof(float8);
	}
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(rfm_breakpoints_deserialize);
Datum
rfm_breakpoints_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = RfmAggContext(fcinfo);
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	int64		n;
	int64		k;
	RfmValues  *st;
	int			i;

	if (len < sizeof(int64))
		RfmBad("The value ends too early.");
	memcpy(&n, p, sizeof(int64));
	if (n < 1 || (Size) n > (len - sizeof(int64)) / (RFM_SCORES * sizeof(float8)) ||
		len != RFM_V01_SIZE(n))
		RfmBad("The number of behaviors does not match the length.");
	p += sizeof(int64);
	st = RfmCreate(AggStateContext(aggcxt));
	RfmReserve(st, n);
	for (i = 0; i < RFM_SCORES; i++)
	{
		memcpy(st->v[i], p, n * sizeof(float8));
		p += n * sizeof(float8);
		for (k = 0; k < n; k++)
			if (isnan(st->v[i][k]) || isinf(st->v[i][k]))
				RfmBad("A value is not finite.");
	}
	st->n = n;
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

PG_FUNCTION_INFO_V1(rfm_breakpoints_final);
Datum
rfm_breakpoints_final(PG_FUNCTION_ARGS)
{
	RfmValues  *st;
	Datum		elems[RFM_SCORES * RFM_BREAKS];
	float8		out[RFM_BREAKS];
	int			dims[2] = {RFM_SCORES, RFM_BREAKS};
	int			lbs[2] = {1, 1};
	int			i,
				q;

	(void) RfmAggContext(fcinfo);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = RfmArg(fcinfo, 0, CurrentMemoryContext);
	if (st->n == 0)
		PG_RETURN_NULL();
	for (i = 0; i < RFM_SCORES; i++)
	{
		/* selection reorders the values: work on a copy, the state may be finalized again */
		float8	   *v = palloc_extended(st->n * sizeof(float8), MCXT_ALLOC_HUGE);

		memcpy(v, st->v[i], st->n * sizeof(float8));
		Quintiles(v, st->n, out);
		pfree(v);
		for (q = 0; q < RFM_BREAKS; q++)
			elems[i * RFM_BREAKS + q] = Float8GetDatum(out[q]);
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 2, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* rfm_values' text form: \x and the hex of its flat body; binary: the body */
PG_FUNCTION_INFO_V1(rfm_values_in);
Datum
rfm_values_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	size_t		slen = strlen(str);
	bytea	   *bytes;
	MemoryContext cxt;

	if (slen < 2 || str[0] != '\\' || str[1] != 'x')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type rfm_values"),
				 errdetail("An rfm_values is written \\x and hex digits."),
				 errhint("An rfm_values comes only from rfm_breakpoints.")));
	/* byteain checks the hex digits */
	bytes = DatumGetByteaPP(DirectFunctionCall1(byteain, CStringGetDatum(str)));
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rfm_values_in", ALLOCSET_DEFAULT_SIZES);
	RfmRead(RfmCreate(cxt), VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
	MemoryContextDelete(cxt);
	PG_RETURN_BYTEA_P(bytes);
}

/* the flat form of argument 0 (an expanded one flattened) */
static bytea *
RfmFlatArg(FunctionCallInfo fcinfo)
{
	Datum		d = PG_GETARG_DATUM(0);

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		RfmValues  *st = (RfmValues *) DatumGetEOHP(d);
		StringInfoData buf;

		if (st->magic != RFM_VALUES_MAGIC)
			elog(ERROR, "expanded object is not an rfm_values");
		RfmCheckFlatSize(st);
		pq_begintypsend(&buf);
		RfmWrite(st, &buf);
		return pq_endtypsend(&buf);
	}
	return DatumGetByteaPP(d);
}

PG_FUNCTION_INFO_V1(rfm_values_out);
Datum
rfm_values_out(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(byteaout, PointerGetDatum(RfmFlatArg(fcinfo)));
}

PG_FUNCTION_INFO_V1(rfm_values_recv);
Datum
rfm_values_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			n = buf->len - buf->cursor;
	bytea	   *result = palloc(VARHDRSZ + n);
	MemoryContext cxt;

	SET_VARSIZE(result, VARHDRSZ + n);
	pq_copymsgbytes(buf, VARDATA(result), n);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "rfm_values_recv", ALLOCSET_DEFAULT_SIZES);
	RfmRead(RfmCreate(cxt), VARDATA(result), n);
	MemoryContextDelete(cxt);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(rfm_values_send);
Datum
rfm_values_send(PG_FUNCTION_ARGS)
{
	bytea	   *v = RfmFlatArg(fcinfo);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- RFM breakpoints without gathering the values ---------- */

/*
 * With the profiles on Citus's workers, rfm_breakpoints would ship every
 * user's three values to the coordinator (its state holds them all).
 * Refresh there finds the same breakpoints by selection over counts instead
 * (_rfm_breakpoints_split, sql/20-scores.sql): each value has a 64-bit key
 * that orders as the values do; a round counts the keys of each window (a
 * score and the range of keys that holds a rank's value) in 65,536 buckets
 * of equal width, with count(*), min and max, which Citus adds up from the
 * workers itself; the next window is the bucket's keys from min to max, so
 * it is narrower by 65,536 times at least; a window of few keys is counted
 * by whole keys.  Its C: the keys (_rfm_keys), the buckets (_key_bucket),
 * the ranks (_rfm_ranks) and the breakpoints from the values of those ranks
 * (_rfm_breaks), by rfm_breakpoints_final's arithmetic (QuintileOf).
 */
#define RFM_RANKS (2 * RFM_BREAKS)		/* per score: each quintile's rank and the next */
#define RFM_SIGN UINT64CONST(0x8000000000000000)

/* a value's key, an int8 that orders as the values do (-0 as 0) */
static int64
RfmKey(float8 v)
{
	uint64		u;

	if (v == 0)
		v = 0;
	memcpy(&u, &v, sizeof(u));
	return (int64) ((u & RFM_SIGN) ? u ^ ~RFM_SIGN : u);
}

static float8
RfmKeyValue(int64 k)
{
	uint64		u = (uint64) k;
	float8		v;

	if (u & RFM_SIGN)
		u ^= ~RFM_SIGN;
	memcpy(&v, &u, sizeof(v));
	return v;
}

/* a one-dimensional array argument of elemtype without NULLs, of n elements */
static void *
RfmArrayArg(FunctionCallInfo fcinfo, int argno, Oid elemtype, int n, const char *name)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);

	if (ARR_ELEMTYPE(a) != elemtype || ARR_NDIM(a) != 1 || array_contains_nulls(a) ||
		ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be an array of %d elements without NULL", name, n)));
	/* (a bitmap may be there without a NULL: the data after it) */
	return (char *) a + (ARR_HASNULL(a) ? ARR_OVERHEAD_WITHNULLS(1, n) : ARR_OVERHEAD_NONULLS(1));
}

/*
 * _rfm_keys(b, as_of, scores int4[], lo int8[], hi int8[]): for each
 * window k (a score 1..3, recency, frequency, monetary, and the keys
 * lo[k]..hi[k]), the behavior's key of that score, or NULL when it is not
 * in the window; NULL when it is in none.
 */
PG_FUNCTION_INFO_V1(rfm_keys);
Datum
rfm_keys(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	const Behavior *b = GET_HEADER(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	ArrayType  *scores_arg = PG_GETARG_ARRAYTYPE_P(2);
	int			n = ArrayGetNItems(ARR_NDIM(scores_arg), ARR_DIMS(scores_arg));
	int32	   *scores;
	int64	   *lo;
	int64	   *hi;
	int64		keys[RFM_SCORES];
	Datum	   *out;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1] = {1};
	int			k;
	bool		found = false;

	/* (an install script of another version declared it otherwise) */
	if (PG_NARGS() != 5)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segmentation._rfm_keys is declared with %d arguments, not 5", PG_NARGS()),
				 errhint("ALTER EXTENSION segmentation UPDATE.")));
	CheckTimestampArg(as_of, "as_of");
	if (n > RFM_SCORES * RFM_RANKS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"scores\" must have at most %d elements", RFM_SCORES * RFM_RANKS)));
	scores = RfmArrayArg(fcinfo, 2, INT4OID, n, "scores");
	lo = RfmArrayArg(fcinfo, 3, INT8OID, n, "lo");
	hi = RfmArrayArg(fcinfo, 4, INT8OID, n, "hi");
	keys[0] = RfmKey(DaysBetween(b->last_seen, as_of));
	keys[1] = RfmKey((double) b->events);
	keys[2] = RfmKey(ValueSum(b));
	out = palloc(Max(n, 1) * sizeof(Datum));
	nulls = palloc(Max(n, 1) * sizeof(bool));
	for (k = 0; k < n; k++)
	{
		if (scores[k] < 1 || scores[k] > RFM_SCORES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"scores\" must hold 1, 2 or 3")));
		out[k] = Int64GetDatum(keys[scores[k] - 1]);
		nulls[k] = keys[scores[k] - 1] < lo[k] || keys[scores[k] - 1] > hi[k];
		found |= !nulls[k];
	}
	/* (in none: NULL, no row to unnest, as for most behaviors after a round) */
	if (!found)
		PG_RETURN_NULL();
	dims[0] = n;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(out, nulls, 1, dims, lbs, INT8OID, sizeof(int64),
											 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * _value_key(v float8): v's key; _key_value(k int8): the value of a key.
 * (The managed funnels' medians on Citus: _materialize_funnels.)
 */
PG_FUNCTION_INFO_V1(value_key);
Datum
value_key(PG_FUNCTION_ARGS)
{
	float8		v = PG_GETARG_FLOAT8(0);

	if (isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"v\" must not be NaN")));
	PG_RETURN_INT64(RfmKey(v));
}

PG_FUNCTION_INFO_V1(key_value);
Datum
key_value(PG_FUNCTION_ARGS)
{
	float8		v = RfmKeyValue(PG_GETARG_INT64(0));

	if (isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"k\" must be the key of a value, not of NaN")));
	PG_RETURN_FLOAT8(v);
}

/*
 * _key_window(g int8, key int8, gs int8[], lo int8[], hi int8[]): the
 * window (1 to n) of group g that holds the key, or NULL; the windows in
 * the order of (gs, lo), those of a group apart.  Checked once for the
 * arrays of a call site (a query's constants: every row passes the same).
 */
typedef struct KeyWindows
{
	int64	   *gs;				/* the arrays last checked here */
	int64	   *lo;
	int64	   *hi;
	int			n;
} KeyWindows;

PG_FUNCTION_INFO_V1(key_window);
Datum
key_window(PG_FUNCTION_ARGS)
{
	int64		g = PG_GETARG_INT64(0);
	int64		key = PG_GETARG_INT64(1);
	ArrayType  *gs_arg = PG_GETARG_ARRAYTYPE_P(2);
	KeyWindows *cache = fcinfo->flinfo->fn_extra;
	int			n = ArrayGetNItems(ARR_NDIM(gs_arg), ARR_DIMS(gs_arg));
	int64	   *gs = RfmArrayArg(fcinfo, 2, INT8OID, n, "gs");
	int64	   *lo = RfmArrayArg(fcinfo, 3, INT8OID, n, "lo");
	int64	   *hi = RfmArrayArg(fcinfo, 4, INT8OID, n, "hi");
	int			a = 0,
				b = n;

	if (cache == NULL || cache->gs != gs || cache->lo != lo || cache->hi != hi || cache->n != n)
	{
		int			i;

		for (i = 0; i < n; i++)
			if (lo[i] > hi[i] ||
				(i > 0 && (gs[i] < gs[i - 1] || (gs[i] == gs[i - 1] && lo[i] <= hi[i - 1]))))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("arguments \"gs\", \"lo\" and \"hi\" must be windows in order, those of a group apart")));
		if (cache == NULL)
			cache = fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(KeyWindows));
		cache->gs = gs;
		cache->lo = lo;
		cache->hi = hi;
		cache->n = n;
	}
	/* the first window of g whose hi is not below the key */
	while (a < b)
	{
		int			m = a + (b - a) / 2;

		if (gs[m] < g || (gs[m] == g && hi[m] < key))
			a = m + 1;
		else
			b = m;
	}
	if (a < n && gs[a] == g && lo[a] <= key)
		PG_RETURN_INT32(a + 1);
	PG_RETURN_NULL();
}

/*
 * _key_bucket(key, w, lo int8[], hi int8[], buckets int4[]): of the key in
 * window w, its whole key when buckets[w] is 0, else which of buckets[w]
 * buckets of equal width (2 to 65,536), lo[w]..hi[w] cut in order, holds
 * it (from 0): a bucket of a window of fewer keys than that holds one key.
 */
PG_FUNCTION_INFO_V1(key_bucket);
Datum
key_bucket(PG_FUNCTION_ARGS)
{
	int64		key = PG_GETARG_INT64(0);
	int32		w = PG_GETARG_INT32(1);
	ArrayType  *lo_arg = PG_GETARG_ARRAYTYPE_P(2);
	int			n = ArrayGetNItems(ARR_NDIM(lo_arg), ARR_DIMS(lo_arg));
	int64	   *lo = RfmArrayArg(fcinfo, 2, INT8OID, n, "lo");
	int64	   *hi = RfmArrayArg(fcinfo, 3, INT8OID, n, "hi");
	int32	   *buckets = RfmArrayArg(fcinfo, 4, INT4OID, n, "buckets");
	uint64		ulo;

	if (w < 1 || w > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"w\" must be a window, 1 to %d", n)));
	w--;
	if (key < lo[w] || key > hi[w])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"key\" must be in window \"w\"")));
	if (buckets[w] == 0)
		PG_RETURN_INT64(key);
	if (buckets[w] < 2 || buckets[w] > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"buckets\" must hold 0 (whole keys) or 2 to 65536")));
	ulo = (uint64) lo[w] ^ RFM_SIGN;	/* unsigned, in the same order */
	PG_RETURN_INT64((int64) ((((uint64) key ^ RFM_SIGN) - ulo) / ((((uint64) hi[w] ^ RFM_SIGN) - ulo) / (uint64) buckets[w] + 1)));
}

/*
 * _rfm_ranks(n): the ranks (from 0) of the values the breakpoints of n
 * values are interpolated between: for each quintile, floor(p (n - 1)) and
 * the next (the same, at the last rank).
 */
PG_FUNCTION_INFO_V1(rfm_ranks);
Datum
rfm_ranks(PG_FUNCTION_ARGS)
{
	int64		n = PG_GETARG_INT64(0);
	Datum		out[RFM_RANKS];
	int			q;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"n\" must be at least 1")));
	for (q = 0; q < RFM_BREAKS; q++)
	{
		int64		first = (int64) floor(QuintilePos(n, q));

		out[2 * q] = Int64GetDatum(first);
		out[2 * q + 1] = Int64GetDatum(Min(first + 1, n - 1));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(out, RFM_RANKS, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * _rfm_breaks(n, keys int8[]): rfm_breakpoints of n values from the keys of
 * the values of _rfm_ranks(n), score by score (24 keys).
 */
PG_FUNCTION_INFO_V1(rfm_breaks);
Datum
rfm_breaks(PG_FUNCTION_ARGS)
{
	int64		n = PG_GETARG_INT64(0);
	int64	   *keys = RfmArrayArg(fcinfo, 1, INT8OID, RFM_SCORES * RFM_RANKS, "keys");
	Datum		elems[RFM_SCORES * RFM_BREAKS];
	int			dims[2] = {RFM_SCORES, RFM_BREAKS};
	int			lbs[2] = {1, 1};
	int			i,
				q;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"n\" must be at least 1")));
	for (i = 0; i < RFM_SCORES; i++)
		for (q = 0; q < RFM_BREAKS; q++)
		{
			float8		a = RfmKeyValue(keys[i * RFM_RANKS + 2 * q]);
			float8		b = RfmKeyValue(keys[i * RFM_RANKS + 2 * q + 1]);

			if (isnan(a) || isnan(b) || b < a)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("argument \"keys\" must hold the keys of ordered values")));
			elems[i * RFM_BREAKS + q] = Float8GetDatum(QuintileOf(n, q, a, b));
		}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 2, dims, lbs, FLOAT8OID,
											 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---------- all scores at once ---------- */

/*
 * What ScoresCompute keeps across the calls of one query: the last feature
 * names and breakpoints it was given and what was derived from them (every
 * row usually passes the same ones), and behavior_scores' tuple descriptor.
 */
struct ScoresCache
{
	MemoryContext cxt;			/* where the cache lives: the caller's fn_mcxt */
	TupleDesc	tupdesc;
	struct varlena *names_raw;	/* copy of the last feature_names */
	int			nnames;
	Datum	   *names;
	bool	   *name_nulls;
	int			defined;
	bool		have_breaks;
	struct varlena *breaks_raw; /* copy of the last rfm_breakpoints */
	float8		breaks[RFM_SCORES][RFM_BREAKS];
};

ScoresCache *
ScoresCacheCreate(MemoryContext cxt)
{
	ScoresCache *c = MemoryContextAllocZero(cxt, sizeof(ScoresCache));

	c->cxt = cxt;
	return c;
}

/* whether d is the value cached (compared as bytes, without a copy) */
bool
SameVarlena(Datum d, struct varlena *cached)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

	return cached != NULL && VARSIZE(cached) - VARHDRSZ == VARSIZE_ANY_EXHDR(v) &&
		memcmp(VARDATA(cached), VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)) == 0;
}

static struct varlena *
CopyVarlena(MemoryContext cxt, struct varlena *v)
{
	struct varlena *copy = MemoryContextAlloc(cxt, VARSIZE(v));

	memcpy(copy, v, VARSIZE(v));
	return copy;
}

static void
CacheNames(ScoresCache *c, ArrayType *arr)
{
	MemoryContext old = MemoryContextSwitchTo(c->cxt);
	int			i;

	c->names_raw = CopyVarlena(c->cxt, (struct varlena *) arr);
	deconstruct_array((ArrayType *) c->names_raw, TEXTOID, -1, false, TYPALIGN_INT,
					  &c->names, &c->name_nulls, &c->nnames);
	c->defined = 0;
	for (i = 0; i < c->nnames; i++)
		c->defined += !c->name_nulls[i];
	MemoryContextSwitchTo(old);
}

static void
CacheBreaks(ScoresCache *c, ArrayType *arr)
{
	int			n,
				i;
	float8	   *bp;

	if (ARR_NDIM(arr) != 2 || ARR_DIMS(arr)[0] != RFM_SCORES || ARR_DIMS(arr)[1] != RFM_BREAKS)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"rfm_breakpoints\" must be a float8[3][4]"),
				 errhint("Compute it with the aggregate segmentation.rfm_breakpoints(behavior, as_of).")));
	bp = Breakpoints(arr, "rfm_breakpoints", &n);
	for (i = 0; i < RFM_SCORES; i++)
	{
		CheckAscending(bp + i * RFM_BREAKS, RFM_BREAKS, "rfm_breakpoints");
		memcpy(c->breaks[i], bp + i * RFM_BREAKS, RFM_BREAKS * sizeof(float8));
	}
	c->breaks_raw = CopyVarlena(c->cxt, (struct varlena *) arr);
}

/*
 * The context scores are computed with: feature_names[i] names feature id
 * i - 1 (NULL where no feature has that id); rfm_breakpoints may be NULL.
 */
void
ScoresSetContext(ScoresCache *c, Datum feature_names, Datum breakpoints, bool breaks_null)
{
	if (!SameVarlena(feature_names, c->names_raw))
		CacheNames(c, DatumGetArrayTypeP(feature_names));
	c->have_breaks = !breaks_null;
	if (!breaks_null && !SameVarlena(breakpoints, c->breaks_raw))
		CacheBreaks(c, DatumGetArrayTypeP(breakpoints));
}

/*
 * The scores that change while the behavior and the UTC day of as_of stay:
 * recency_days and tenure_days (with as_of), r_score, f_score and m_score
 * (with as_of and the breakpoints), at their columns of ScoresCompute; the
 * other columns are left alone.  b needs only its header.
 */
void
ScoresTimeDependent(ScoresCache *c, const Behavior *b, TimestampTz as_of, Datum *values, bool *nulls)
{
	double		recency = DaysBetween(b->last_seen, as_of);

	values[SCORE_RECENCY_DAYS] = Float8GetDatum(recency);
	values[SCORE_TENURE_DAYS] = Float8GetDatum(DaysBetween(b->first_seen, as_of));
	nulls[SCORE_RECENCY_DAYS] = nulls[SCORE_TENURE_DAYS] = false;
	nulls[SCORE_R] = nulls[SCORE_F] = nulls[SCORE_M] = !c->have_breaks;
	if (c->have_breaks)
	{
		values[SCORE_R] = Int32GetDatum(QuantileScore(recency, c->breaks[0], RFM_BREAKS, true));
		values[SCORE_F] = Int32GetDatum(QuantileScore((double) b->events, c->breaks[1], RFM_BREAKS, false));
		values[SCORE_M] = Int32GetDatum(QuantileScore(ValueSum(b), c->breaks[2], RFM_BREAKS, false));
	}
}

/*
 * Every score of segmentation.scores, in its column order (after user_id),
 * from one decoding of b.  features_used lists the names of the defined
 * features used, features_adopted counts them, adoption_rate is their share
 * of the defined features (NULL when none is defined).  r_score, f_score,
 * m_score and rfm_cell are NULL without breakpoints.
 */
void
ScoresCompute(ScoresCache *c, const Behavior *b, TimestampTz as_of, Datum *values, bool *nulls)
{
	int32		day = AsOfDay(as_of);
	Datum	   *used_names = palloc(Max(c->nnames, 1) * sizeof(Datum));
	int			used = 0,
				i;

	for (i = 0; i < c->nnames; i++)
		if (!c->name_nulls[i] && BehaviorFindFeature(b, i))
			used_names[used++] = c->names[i];

	memset(nulls, 0, SCORE_COLUMNS * sizeof(bool));
	ScoresTimeDependent(c, b, as_of, values, nulls);
	values[0] = TimestampTzGetDatum(b->first_seen);
	values[1] = TimestampTzGetDatum(b->last_seen);
	values[4] = Int64GetDatum(b->events);
	values[5] = Float8GetDatum(ValueSum(b));
	values[6] = Int32GetDatum(BehaviorCountDays(b, PG_INT32_MIN, PG_INT32_MAX));
	values[7] = Int32GetDatum(BehaviorCountDays(b, day - 6, day));
	values[8] = Int32GetDatum(BehaviorCountDays(b, day - 27, day));
	values[9] = Int32GetDatum(BehaviorCountDays(b, day - 55, day - 28));
	values[10] = Int32GetDatum(Streak(b, day));
	values[11] = Float8GetDatum(Decayed(b, day, 7.0));
	values[12] = Int32GetDatum(used);
	values[13] = Float8GetDatum(c->defined > 0 ? (double) used / c->defined : 0);
	nulls[13] = c->defined == 0;
	nulls[SCORE_RFM_CELL] = !c->have_breaks;
	if (c->have_breaks)
	{
		/* scores are 1..5 */
		char		cell[3] = {'0' + DatumGetInt32(values[SCORE_R]), '0' + DatumGetInt32(values[SCORE_F]),
		'0' + DatumGetInt32(values[SCORE_M])};

		values[SCORE_RFM_CELL] = PointerGetDatum(cstring_to_text_with_len(cell, 3));
	}
	values[18] = PointerGetDatum(construct_array(used_names, used, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * behavior_scores(b, as_of, feature_names, rfm_breakpoints): ScoresCompute
 * as a record.
 */
PG_FUNCTION_INFO_V1(behavior_scores);
Datum
behavior_scores(PG_FUNCTION_ARGS)
{
	Behavior	tmp;
	ScoresCache *c = (ScoresCache *) fcinfo->flinfo->fn_extra;
	Datum		values[SCORE_COLUMNS];
	bool		nulls[SCORE_COLUMNS];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	if (c == NULL)
	{
		TupleDesc	tupdesc;
		MemoryContext old;

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("behavior_scores must be called where a record is expected")));
		c = ScoresCacheCreate(fcinfo->flinfo->fn_mcxt);
		old = MemoryContextSwitchTo(c->cxt);
		c->tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = c;
	}
	ScoresSetContext(c, PG_GETARG_DATUM(2), PG_GETARG_DATUM(3), PG_ARGISNULL(3));
	ScoresCompute(c, GET_BEHAVIOR(0), PG_GETARG_TIMESTAMPTZ(1), values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(c->tupdesc, values, nulls)));
}
