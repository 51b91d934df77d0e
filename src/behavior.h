/*
 * behavior.h
 *		The in-memory form of a behavior value and the calls the C files share.
 *
 * A behavior summarizes one entity's event stream: first and last event,
 * event count, value sum, the exact set of active UTC days and, per feature
 * (and for the events without one), first/last use and the events and value
 * sum of each of its active days.  On disk it is a compact varint encoding
 * (behavior.c); in memory it is the struct below, which the aggregates keep
 * inside an expanded object so that each row updates it in place.
 */
#ifndef SEGMENTATION_BEHAVIOR_H
#define SEGMENTATION_BEHAVIOR_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/expandeddatum.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#ifndef HAVE_INT128
#error "segmentation needs a compiler with a 128-bit integer type"
#endif

/*
 * Values are summed in decimal fixed point, units of 1e-9, in 128 bits: the
 * sum is exact, so merging is associative and commutative to the last bit,
 * and money amounts such as 19.99 add up without binary rounding drift.
 */
#define BEHAVIOR_VALUE_SCALE	1e9
/* |value| of one event stays below 1e24; a sum past 1.7e29 is an error */
#define BEHAVIOR_VALUE_LIMIT	1e24

/*
 * One active day of one feature: its events and the sum of their values.
 * (int128 is 8-aligned in PostgreSQL: 32 bytes.)
 */
typedef struct FeatureDay
{
	int128		value;			/* in BEHAVIOR_VALUE_SCALE units */
	int64		count;			/* >= 1 */
	int32		day;
} FeatureDay;

/*
 * The days of a feature before its last one, in one of two forms.
 *
 * Sorted (FeatureUsage.span 0): days[0..n-1] ascending, and a pending list
 * (unsorted, duplicates allowed, each day before the last sorted one) that
 * is sorted and merged in once it is as long as the sorted part, as for the
 * words and the features below: O(log n) amortized per day, in any order.
 */
typedef struct PendingDays
{
	int32		n;
	int32		max;
	FeatureDay	days[FLEXIBLE_ARRAY_MEMBER];
} PendingDays;

typedef struct FeatureDays
{
	int32		n;
	int32		max;
	PendingDays *pending;		/* NULL while none */
	FeatureDay	days[FLEXIBLE_ARRAY_MEMBER];
} FeatureDays;

/*
 * Dense (FeatureUsage.span > 0): counts[i] is the events of day base + i
 * (0: none), base and span in the FeatureUsage, so that an event on a known
 * day costs one load, without a search or another header; the nonzero value
 * sums apart, sorted (their counts 0).  behavior_agg keeps a feature's days
 * so while the window stays within a few times their number, and its day
 * counts in 32 bits (else, or when merging, they are sorted).
 * BehaviorCompact turns every dense window sorted: readers and the encoder
 * see sorted days only.
 */
typedef struct DenseDays
{
	int32		n;				/* days with events */
	FeatureDays *values;
	int32		counts[FLEXIBLE_ARRAY_MEMBER];
} DenseDays;

/*
 * Use of one feature (the ids are kept apart, in an array of their own), or
 * of no feature (Behavior.none): a "series".  Its last active day (the
 * tail) sits in the struct itself, so the common row (an event on the
 * feature's last day, or on a new last day) touches this struct alone; the
 * earlier days, when there are any, are in more.  Its event count is the
 * sum of its days' (FeatureCount).  An empty series has tail_count 0.  A
 * behavior decoded from version 1 bytes (0.1) has first_seen, last_seen and
 * its count in tail_count, with tail_day PG_INT32_MIN and no other day.
 * 64 bytes.
 */
typedef struct FeatureUsage
{
	TimestampTz first_seen;
	TimestampTz last_seen;
	int128		tail_value;
	int64		tail_count;
	int32		tail_day;
	int32		base;			/* dense: the day of counts[0] */
	int32		span;			/* dense: the slots of counts; 0: sorted */
	bool		extra;			/* an extra feature: its events are in another series too */
	union
	{
		FeatureDays *sorted;
		DenseDays  *dense;
	}			more;
} FeatureUsage;

/*
 * Active days are kept sparse: only the 64-day words that hold an active day,
 * as word ids (word w holds days 64w .. 64w + 63) ascending, with their bits
 * beside them; so a behavior with one event in 4713 BC and one in 294276 AD
 * holds two words, not 1.7 million.
 *
 * Words and features are each a sorted array, searched by binary search.  A
 * key that falls after the last one is appended, and one that falls inside
 * a small array is inserted; inside a large one it waits in an unsorted
 * pending list (duplicates allowed) that is sorted and merged into the
 * array once it is as long as the array.  So adding or merging n keys in
 * any order costs O(n log n), never O(n^2).  Readers see only behaviors
 * without pending keys (BehaviorCompact).
 *
 * An aggregate touches a random group per row, whose state is rarely in
 * cache.  So the fields a row reads sit together, small behaviors keep their
 * words and feature ids inline right after them, and the feature search
 * runs over the ids alone (eight to a cache line half) before it touches a
 * feature's usage.
 */
#define BEHAVIOR_INLINE_WORDS		2
#define BEHAVIOR_INLINE_FEATURES	4

/* a key waiting to be merged into a sorted array */
typedef struct PendingWord
{
	int32		id;
	uint64		bits;
} PendingWord;

typedef struct PendingFeature
{
	int32		id;
	FeatureUsage usage;
} PendingFeature;

typedef struct Behavior
{
	int64		events;			/* 0 only for a behavior still being built */
	TimestampTz first_seen;
	TimestampTz last_seen;
	int32		nwords;
	int32		maxwords;
	int32		nfeatures;
	int32		maxfeatures;
	int32	   *word_ids;		/* ascending; inline_word_ids or an array in cxt */
	uint64	   *words;			/* words[i]: bit k is day 64 * word_ids[i] + k */
	int32	   *feature_ids;	/* ascending; inline_ids or an array in cxt */
	FeatureUsage *features;		/* features[i] is the use of feature_ids[i] */
	int32		inline_word_ids[BEHAVIOR_INLINE_WORDS];
	int32		inline_ids[BEHAVIOR_INLINE_FEATURES];
	uint64		inline_words[BEHAVIOR_INLINE_WORDS];
	int128		value;			/* sum of values in BEHAVIOR_VALUE_SCALE units */
	MemoryContext cxt;			/* where larger arrays go */
	bool		legacy;			/* decoded from 0.1 bytes: features have no days */
	bool		pending_days;	/* some series has pending days */
	FeatureUsage none;			/* the events without a feature */
	int32		npending_words;
	int32		maxpending_words;
	int32		npending_features;
	int32		maxpending_features;
	PendingWord *pending_words;
	PendingFeature *pending_features;
	FeatureUsage inline_features[BEHAVIOR_INLINE_FEATURES];
} Behavior;

/* A behavior inside an expanded object: the aggregates' state */
typedef struct ExpandedBehavior
{
	ExpandedObjectHeader hdr;
	int			magic;
	Behavior	b;
} ExpandedBehavior;

#define EXPANDED_BEHAVIOR_MAGIC 0x5E6B0001

/* behavior.c */
extern void BehaviorInit(Behavior *b, MemoryContext cxt);
extern void BehaviorAddEvent(Behavior *b, TimestampTz ts, bool has_feature,
							 int32 feature, int128 value);
extern void BehaviorAddExtra(Behavior *b, TimestampTz ts, int32 feature, int128 value);
extern void BehaviorMergeInto(Behavior *dst, const Behavior *src);
extern void BehaviorCompact(Behavior *b);
extern const Behavior *BehaviorFromDatum(Datum d, Behavior *tmp);
extern void BehaviorHeaderFromDatum(Datum d, Behavior *b);
extern const Behavior *BehaviorDaysFromDatum(Datum d, Behavior *tmp);
extern void BehaviorDecodeInto(Datum d, Behavior *b);
extern ExpandedBehavior *ExpandedBehaviorCreate(MemoryContext cxt);

/* aggregates.c: the context all states of one aggregate context share */
extern MemoryContext AggStateContext(MemoryContext aggcxt);
extern Datum BehaviorGetDatum(Behavior *b);
extern const FeatureUsage *BehaviorFindFeature(const Behavior *b, int32 id);
extern int BehaviorSeriesLowerBound(const FeatureUsage *f, int32 day);
extern int32 BehaviorDayOf(TimestampTz ts);
extern bool BehaviorDayActive(const Behavior *b, int32 day);
extern int32 BehaviorCountDays(const Behavior *b, int32 from, int32 to);

/*
 * The days of a compacted series (no pending days): FeatureNDays(f) of them,
 * FeatureDayAt(f, i) ascending; the last one is the tail.
 */
static inline int32
FeatureNDays(const FeatureUsage *f)
{
	return (f->tail_count > 0) + (f->more.sorted ? f->more.sorted->n : 0);
}

static inline FeatureDay
FeatureDayAt(const FeatureUsage *f, int32 i)
{
	FeatureDay	d;

	if (f->more.sorted && i < f->more.sorted->n)
		return f->more.sorted->days[i];
	d.value = f->tail_value;
	d.count = f->tail_count;
	d.day = f->tail_day;
	return d;
}

/* The events of a compacted series (or of a 0.1 feature) */
static inline int64
FeatureCount(const FeatureUsage *f)
{
	int64		n = f->tail_count;
	int32		i;

	if (f->more.sorted)
		for (i = 0; i < f->more.sorted->n; i++)
			n += f->more.sorted->days[i].count;
	return n;
}

/* argument checks shared by the aggregates, the scores and the decoder */
extern void CheckTimestampArg(TimestampTz ts, const char *argname);
extern void CheckFeatureArg(int32 feature, const char *argname);
extern void CheckLegacy(const Behavior *b, const char *what);
extern int128 ValueToFixed(float8 value, const char *argname);

/*
 * scores.c: every score of segmentation.scores (the columns after user_id,
 * in order), for behavior_scores and for the segment rules of predicate.c
 */
#define SCORE_COLUMNS 19
/* the columns that change with as_of or the breakpoints within a UTC day */
#define SCORE_RECENCY_DAYS 2
#define SCORE_TENURE_DAYS 3
/* the columns that change with the UTC day of as_of, besides those */
#define SCORE_ACTIVE_DAYS_7 7
#define SCORE_ACTIVE_DAYS_28 8
#define SCORE_ACTIVE_DAYS_PREV_28 9
#define SCORE_CURRENT_STREAK 10
#define SCORE_DECAYED_ACTIVITY 11
#define SCORE_R 14
#define SCORE_F 15
#define SCORE_M 16
#define SCORE_RFM_CELL 17
/*
 * The per-feature accessors (scores.c), for SQL and for the segment rules.
 * feature is a feature id >= 0 or BEHAVIOR_ANY_FEATURE (every event, once);
 * [from, to] an inclusive range of UTC days (PG_INT32_MIN, PG_INT32_MAX:
 * every event).  They raise an error on a 0.1 value where that has no days.
 */
#define BEHAVIOR_ANY_FEATURE (-1)
extern int64 BehaviorEventsIn(const Behavior *b, int32 feature, int32 from, int32 to);
extern int32 BehaviorDaysIn(const Behavior *b, int32 feature, int32 from, int32 to);
extern double BehaviorValueIn(const Behavior *b, int32 feature, int32 from, int32 to);
extern bool BehaviorFirstUse(const Behavior *b, int32 feature, TimestampTz *ts);
extern bool BehaviorLastUse(const Behavior *b, int32 feature, TimestampTz *ts);
extern int32 BehaviorPeriodsWith(const Behavior *b, int32 feature, int32 day, int64 min_events,
								 int32 period, int32 periods);
extern int32 WindowDays(Interval *window, const char *argname);

/*
 * Periods (scores.c): UTC days, ISO weeks (Monday) and months.  PeriodArg
 * reads a period argument ('day', 'week', 'month'; else an error naming it);
 * PeriodBounds gives the first day of the period holding day and of the
 * next; ActivePeriods the periods with active days of feature (or
 * BEHAVIOR_ANY_FEATURE), ascending, and the active days of each.
 */
typedef enum PeriodKind
{
	PERIOD_DAY,
	PERIOD_WEEK,
	PERIOD_MONTH
} PeriodKind;

extern PeriodKind PeriodArg(FunctionCallInfo fcinfo, int n);
extern void PeriodBounds(PeriodKind kind, int32 day, int64 *start, int64 *next);
extern int ActivePeriods(const Behavior *b, PeriodKind kind, int32 feature, int32 **starts, int32 **days);

typedef struct ScoresCache ScoresCache;
extern ScoresCache *ScoresCacheCreate(MemoryContext cxt);
extern void ScoresSetContext(ScoresCache *c, Datum feature_names, Datum breakpoints, bool breaks_null);
extern void ScoresCompute(ScoresCache *c, const Behavior *b, TimestampTz as_of, Datum *values, bool *nulls);
extern void ScoresTimeDependent(ScoresCache *c, const Behavior *b, TimestampTz as_of, Datum *values, bool *nulls);
extern bool SameVarlena(Datum d, struct varlena *cached);

/* The keyed hash of user ids (privacy.c), which capture (capture.c) also computes */
extern Datum pseudonym_id_bytes(PG_FUNCTION_ARGS);
extern Datum pseudonym_hmac_sha256(PG_FUNCTION_ARGS);
extern bytea *PseudonymKey(Relation keys, Snapshot snapshot);

/* Which Citus node this is (node.c): an error on a worker */
extern void RequireCoordinator(const char *what);
extern void InstallCitusSetGuard(void);

#endif
