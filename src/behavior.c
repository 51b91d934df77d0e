/*
 * behavior.c
 *		The behavior type: its in-memory operations, its one on-disk encoding,
 *		the validator every untrusted byte goes through, text and binary I/O,
 *		and the expanded-object methods the aggregates rely on.
 *
 * On-disk body (after the varlena header), all integers as LEB128 varints:
 *
 *	u8 version (2) | u8 flags (1: has value, 2: days as gaps, 4: has events
 *	without a feature, 8: has extra features)
 *	events | zigzag(first_seen) | last_seen - first_seen
 *	[zigzag128(value)]					if flags & 1
 *	days from date(first_seen) to date(last_seen), either as a bitmap of
 *	ceil(nbits / 8) bytes (bit i = day first + i), or as ndays followed by
 *	ndays - 1 gaps between consecutive active days; whichever is shorter,
 *	the bitmap on a tie
 *	[series of the events without a feature]	if flags & 4
 *	nfeatures | per feature, ascending: id - previous id - 1 (the first: id),
 *	its series; with flag 8, each delta is shifted left by one and bit 0 is
 *	set for an extra feature
 *
 * Extra features (behavior_agg_features, for features that may overlap:
 * DESIGN section 4, event conditions) count events that are counted in
 * another series too: the series that are not extra still partition the
 * events, and are checked as below; an extra one is checked on its own (its
 * days active, at most every event, its uses within first and last seen).
 * An id is extra in every behavior it appears in, or in none (merging an
 * extra with a plain series of the same id is an error).
 *
 * A series (EncodeSeries) holds first and last use, exact, and every active
 * day with its event count and value sum.  The series add up to the header:
 * their events to events, their values to value, the union of their days to
 * the active days, their first and last use to first_seen and last_seen;
 * the decoder checks it all.  A feature's count is the sum of its days'.
 *
 * Version 1 (0.1) bytes still decode: the same header and days, then
 * nfeatures | per feature: id delta, count, first - first_seen, last - first;
 * no series of the events without a feature.  Such a behavior has no
 * per-feature days (Behavior.legacy): the accessors that need them raise an
 * error (CheckLegacy), the others answer as in 0.1, and it merges only with
 * another 0.1 behavior (their union is written in version 1, the only form
 * that holds what they know); merging it with a version 2 behavior is an
 * error.  Every other writer writes version 2.
 *
 * The encoding is canonical (the decoder rejects anything the encoder would
 * not have written), so equal behaviors have equal bytes and the text form
 * ("\x" and the hex of the body) round-trips exactly.
 */
#include "postgres.h"

#include <math.h>

#include "behavior.h"
#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/*
 * Under valgrind (test/valgrind.sh), every flat behavior we make is checked
 * for undefined bytes where it is made: they would reach tables and WAL,
 * where memcheck cannot tell them from PostgreSQL's own padding.  Outside
 * valgrind the check is a few instructions.
 */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CHECK_DEFINED(p, n) VALGRIND_CHECK_MEM_IS_DEFINED((p), (n))
#endif
#endif
#ifndef CHECK_DEFINED
#define CHECK_DEFINED(p, n) ((void) 0)
#endif

PG_MODULE_MAGIC;

#define BEHAVIOR_VERSION		2
#define BEHAVIOR_VERSION_0_1	1
#define FLAG_HAS_VALUE			1
#define FLAG_DAYS_AS_GAPS		2
#define FLAG_HAS_NONE			4	/* version 2: events without a feature */
#define FLAG_HAS_EXTRA			8	/* version 2: some feature is an extra one */

/* ---------- days and features in memory ---------- */

/* UTC calendar day of a finite timestamp, counted from 2000-01-01 */
int32
BehaviorDayOf(TimestampTz ts)
{
	int64		d = ts / USECS_PER_DAY;

	if (ts % USECS_PER_DAY < 0)
		d--;
	return (int32) d;
}

/* The 64-day word that holds day: floor(day / 64) */
static inline int32
WordOf(int64 day)
{
	return (int32) (day >= 0 ? day / 64 : -((-day + 63) / 64));
}

/* The bit of day in its word */
static inline uint64
DayBit(int64 day)
{
	return UINT64CONST(1) << (day - 64 * (int64) WordOf(day));
}

/*
 * A sorted array takes a key inside it by a memmove up to this length; past
 * it the key waits in the pending list (behavior.h says why).
 */
#define DIRECT_INSERT_MAX 64

/* An empty series */
static inline void
SeriesInit(FeatureUsage *f)
{
	f->first_seen = f->last_seen = 0;
	f->tail_value = 0;
	f->tail_count = 0;
	f->tail_day = PG_INT32_MIN;
	f->base = 0;
	f->span = 0;
	f->extra = false;
	f->more.sorted = NULL;
}

static inline TimestampTz
DayStart(int32 day)
{
	return (TimestampTz) day * USECS_PER_DAY;
}

void
BehaviorInit(Behavior *b, MemoryContext cxt)
{
	b->events = 0;
	b->first_seen = b->last_seen = 0;
	b->value = 0;
	b->nwords = 0;
	b->maxwords = BEHAVIOR_INLINE_WORDS;
	b->word_ids = b->inline_word_ids;
	b->words = b->inline_words;
	b->nfeatures = 0;
	b->maxfeatures = BEHAVIOR_INLINE_FEATURES;
	b->feature_ids = b->inline_ids;
	b->features = b->inline_features;
	b->cxt = cxt;
	b->npending_words = b->maxpending_words = 0;
	b->npending_features = b->maxpending_features = 0;
	b->pending_words = NULL;
	b->pending_features = NULL;
	b->legacy = false;
	b->pending_days = false;
	SeriesInit(&b->none);
}

/*
 * Index of id in the n ascending keys, or -(insertion point) - 1.  The
 * search narrows without data-dependent branches (one row, one random
 * feature: branches would be mispredicted every time).
 */
static inline int
FindKey(const int32 *keys, int n, int32 id)
{
	const int32 *p = keys;
	int			i;

	if (n == 0)
		return -1;
	while (n > 1)
	{
		int			half = n / 2;

		p = (p[half] <= id) ? p + half : p;
		n -= half;
	}
	i = (int) (p - keys);
	if (*p == id)
		return i;
	return *p < id ? -(i + 1) - 1 : -i - 1;
}

/* Index of the first key >= id (n when there is none) */
static inline int
LowerBound(const int32 *keys, int n, int32 id)
{
	int			i = FindKey(keys, n, id);

	return i >= 0 ? i : -i - 1;
}

/* Room for n words */
static void
ReserveWords(Behavior *b, int32 n)
{
	int32	   *ids;
	uint64	   *words;

	if (n <= b->maxwords)
		return;
	n = Max(n, 2 * b->maxwords);
	ids = MemoryContextAlloc(b->cxt, n * sizeof(int32));
	words = MemoryContextAlloc(b->cxt, n * sizeof(uint64));
	memcpy(ids, b->word_ids, b->nwords * sizeof(int32));
	memcpy(words, b->words, b->nwords * sizeof(uint64));
	if (b->words != b->inline_words)
	{
		pfree(b->word_ids);
		pfree(b->words);
	}
	b->word_ids = ids;
	b->words = words;
	b->maxwords = n;
}

/* Room for n features */
static void
ReserveFeatures(Behavior *b, int32 n)
{
	int32	   *ids;
	FeatureUsage *features;

	if (n <= b->maxfeatures)
		return;
	n = Max(n, Max(2 * b->maxfeatures, 16));
	ids = MemoryContextAlloc(b->cxt, n * sizeof(int32));
	features = MemoryContextAlloc(b->cxt, n * sizeof(FeatureUsage));
	memcpy(ids, b->feature_ids, b->nfeatures * sizeof(int32));
	memcpy(features, b->features, b->nfeatures * sizeof(FeatureUsage));
	if (b->features != b->inline_features)
	{
		pfree(b->feature_ids);
		pfree(b->features);
	}
	b->feature_ids = ids;
	b->features = features;
	b->maxfeatures = n;
}

/* Room for one more pending element in *array (of *max elements of size) */
static void *
ReservePending(MemoryContext cxt, void *array, int32 n, int32 *max, Size size)
{
	if (n < *max)
		return array;
	*max = Max(16, 2 * *max);
	if (array == NULL)
		return MemoryContextAlloc(cxt, *max * size);
	return repalloc(array, *max * size);
}

static int
ComparePendingWords(const void *a, const void *b)
{
	int32		x = ((const PendingWord *) a)->id;
	int32		y = ((const PendingWord *) b)->id;

	return (x > y) - (x < y);
}

static int
ComparePendingFeatures(const void *a, const void *b)
{
	int32		x = ((const PendingFeature *) a)->id;
	int32		y = ((const PendingFeature *) b)->id;

	return (x > y) - (x < y);
}

static inline int64
AddCount(int64 a, int64 b)
{
	int64		r;

	if (__builtin_add_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("behavior event count out of range")));
	return r;
}

static inline int128
AddValue(int128 a, int128 b)
{
	int128		r;

	if (__builtin_add_overflow(a, b, &r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("behavior value sum out of range")));
	return r;
}

/* ---------- the days of a series ---------- */

/*
 * *mp, a sorted list of days, with room for n days.  Its sizes fill
 * power-of-two chunks, as the allocator hands them out (3, 7, 15... days).
 */
static FeatureDays *
ReserveDays(Behavior *b, FeatureDays **mp, int32 n)
{
	FeatureDays *m = *mp;
	int32		max;

	if (m != NULL && n <= m->max)
		return m;
	max = m ? m->max : 0;
	while (max < n)
		max = 2 * max + 1 + (max == 0 ? 2 : 0);
	if (m == NULL)
	{
		m = MemoryContextAllocExtended(b->cxt, offsetof(FeatureDays, days) + (Size) max * sizeof(FeatureDay),
									   MCXT_ALLOC_HUGE);
		m->n = 0;
		m->pending = NULL;
	}
	else
		m = repalloc_huge(m, offsetof(FeatureDays, days) + (Size) max * sizeof(FeatureDay));
	m->max = max;
	*mp = m;
	return m;
}

static void
FreeDays(FeatureDays *m)
{
	if (m == NULL)
		return;
	if (m->pending)
		pfree(m->pending);
	pfree(m);
}

/* Index of the first of the n ascending days >= day */
static inline int
DayLowerBound(const FeatureDay *days, int n, int32 day)
{
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first day >= day of a compacted series (FeatureDayAt order) */
int
BehaviorSeriesLowerBound(const FeatureUsage *f, int32 day)
{
	const FeatureDays *m = f->more.sorted;

	Assert(f->span == 0 && (m == NULL || m->pending == NULL));
	return m ? DayLowerBound(m->days, m->n, day) : 0;
}

static int
CompareFeatureDays(const void *a, const void *b)
{
	int32		x = ((const FeatureDay *) a)->day;
	int32		y = ((const FeatureDay *) b)->day;

	return (x > y) - (x < y);
}

/* Sort the pending days of the list *mp and merge them into its sorted days */
static void
CompactDays(Behavior *b, FeatureDays **mp)
{
	FeatureDays *m = *mp,
			   *out = NULL;
	int32		n,
				p,
				i = 0,
				j = 0;

	const FeatureDay *pend;

	if (m == NULL || m->pending == NULL)
		return;
	n = m->n;
	p = m->pending->n;
	pend = m->pending->days;
	qsort(m->pending->days, p, sizeof(FeatureDay), CompareFeatureDays);
	out = ReserveDays(b, &out, n + p);
	while (i < n || j < p)
	{
		FeatureDay	d;

		/* the sorted days are distinct; the pending ones may repeat them */
		if (j >= p || (i < n && m->days[i].day <= pend[j].day))
			d = m->days[i++];
		else
			d = pend[j++];
		for (; j < p && pend[j].day == d.day; j++)
		{
			d.count = AddCount(d.count, pend[j].count);
			d.value = AddValue(d.value, pend[j].value);
		}
		out->days[out->n++] = d;
	}
	FreeDays(m);
	*mp = out;
}

/*
 * count events of value sum value on day into the sorted list *mp: into its
 * sorted days (a search, and a memmove while they are few), or its pending
 * ones
 */
static void
InsertSorted(Behavior *b, FeatureDays **mp, int32 day, int64 count, int128 value)
{
	FeatureDays *m = *mp;
	int32		n = m ? m->n : 0;
	int			i = m ? DayLowerBound(m->days, n, day) : 0;

	if (i < n && m->days[i].day == day)
	{
		m->days[i].count = AddCount(m->days[i].count, count);
		m->days[i].value = AddValue(m->days[i].value, value);
		return;
	}
	if (i < n && n >= DIRECT_INSERT_MAX)
	{
		PendingDays *pd = m->pending;
		FeatureDay *d;

		if (pd == NULL || pd->n == pd->max)
		{
			int32		max = pd ? 2 * pd->max : 16;

			pd = pd ? repalloc_huge(pd, offsetof(PendingDays, days) + (Size) max * sizeof(FeatureDay))
				: MemoryContextAllocExtended(b->cxt, offsetof(PendingDays, days) + (Size) max * sizeof(FeatureDay),
											 MCXT_ALLOC_HUGE);
			if (m->pending == NULL)
				pd->n = 0;
			pd->max = max;
			m->pending = pd;
		}
		d = &pd->days[pd->n++];
		d->day = day;
		d->count = count;
		d->value = value;
		b->pending_days = true;
		if (pd->n >= n)
			CompactDays(b, mp);
		return;
	}
	m = ReserveDays(b, mp, n + 1);
	memmove(&m->days[i + 1], &m->days[i], (n - i) * sizeof(FeatureDay));
	m->days[i].day = day;
	m->days[i].count = count;
	m->days[i].value = value;
	m->n++;
}

/* ---------- dense windows of days (behavior.h) ---------- */

#define DENSE_RATIO		4
#define DENSE_MIN_SPAN	16
/* fewer sorted days than this stay sorted: a short search, a small memmove */
#define DENSE_MIN_DAYS	8

/* the most slots a window of n days gets: twice the bound it must stay within */
static inline int64
DenseCap(int64 n)
{
	return 2 * (DENSE_RATIO * n + DENSE_MIN_SPAN);
}

static DenseDays *
DenseAlloc(Behavior *b, int64 span)
{
	return MemoryContextAllocExtended(b->cxt, offsetof(DenseDays, counts) + span * sizeof(int32),
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/*
 * The sorted days of f (none pending) as a dense window, when that window
 * would hold at most DENSE_RATIO times their number and every count fits;
 * else false, and nothing changed
 */
static bool
SortedToDense(Behavior *b, FeatureUsage *f)
{
	FeatureDays *m = f->more.sorted;
	DenseDays  *d;
	int64		span;
	int32		i,
				nvalues = 0;

	if (m->pending != NULL || m->n == 0)
		return false;
	span = (int64) m->days[m->n - 1].day - m->days[0].day + 1;
	if (span > DENSE_RATIO * (int64) m->n)
		return false;
	for (i = 0; i < m->n; i++)
	{
		if (m->days[i].count > PG_INT32_MAX)
			return false;
		nvalues += m->days[i].value != 0;
	}
	span = Max(span, Min(2 * span, DenseCap(m->n)));
	d = DenseAlloc(b, span);
	d->n = m->n;
	d->values = NULL;
	if (nvalues > 0)
		ReserveDays(b, &d->values, nvalues);
	for (i = 0; i < m->n; i++)
	{
		d->counts[m->days[i].day - m->days[0].day] = (int32) m->days[i].count;
		if (m->days[i].value != 0)
		{
			FeatureDay *v = &d->values->days[d->values->n++];

			v->day = m->days[i].day;
			v->count = 0;
			v->value = m->days[i].value;
		}
	}
	f->base = m->days[0].day;
	f->span = (int32) span;
	FreeDays(m);
	f->more.dense = d;
	/* BehaviorCompact turns it sorted again */
	b->pending_days = true;
	return true;
}

/* The dense window of f as sorted days */
static void
DenseToSorted(Behavior *b, FeatureUsage *f)
{
	DenseDays  *d = f->more.dense;
	FeatureDays *out = NULL;
	int32		i,
				v = 0;

	CompactDays(b, &d->values);
	ReserveDays(b, &out, Max(d->n, 1));
	for (i = 0; i < f->span; i++)
	{
		FeatureDay *day;

		if (d->counts[i] == 0)
			continue;
		day = &out->days[out->n++];
		day->day = f->base + i;
		day->count = d->counts[i];
		day->value = 0;
		/* the days with a value are days with events */
		if (d->values && v < d->values->n && d->values->days[v].day == day->day)
			day->value = d->values->days[v++].value;
	}
	Assert(out->n == d->n && (d->values == NULL || v == d->values->n));
	FreeDays(d->values);
	pfree(d);
	f->base = 0;
	f->span = 0;
	f->more.sorted = out;
}

/*
 * Widen the dense window of f to hold day; false when it would grow past
 * DENSE_RATIO times the days it holds
 */
static bool
DenseGrow(Behavior *b, FeatureUsage *f, int32 day)
{
	DenseDays  *d = f->more.dense,
			   *nd;
	int32		first = 0,
				last = f->span - 1;
	int64		lo,
				hi,
				need,
				span,
				base;

	/* the days held, not the window: it has room to spare */
	while (d->counts[first] == 0)
		first++;
	while (d->counts[last] == 0)
		last--;
	lo = Min((int64) f->base + first, day);
	hi = Max((int64) f->base + last, day);
	need = hi - lo + 1;
	if (need > DENSE_RATIO * ((int64) d->n + 1) + DENSE_MIN_SPAN)
		return false;
	/*
	 * Room for as much again, up to twice the bound, three quarters of it
	 * toward day and a quarter on the other side: the next growth comes once
	 * the days held span a quarter more, whichever side they come on (days
	 * that alternate around a center, each just outside the window, grew it
	 * at every day when all the room went toward day: O(n^2), review eight)
	 */
	span = Max(need, Min(2 * need, DenseCap(d->n + 1)));
	base = day < f->base ? lo - (span - need) + (span - need) / 4 : lo - (span - need) / 4;
	nd = DenseAlloc(b, span);
	nd->n = d->n;
	nd->values = d->values;
	memcpy(nd->counts + (f->base + first - base), d->counts + first, (last - first + 1) * sizeof(int32));
	pfree(d);
	f->more.dense = nd;
	f->base = (int32) base;
	f->span = (int32) span;
	return true;
}

/* count events of value sum value on day, in the dense window of f; false (nothing changed) when it does not fit */
static inline bool
DenseAdd(Behavior *b, FeatureUsage *f, int32 day, int64 count, int128 value)
{
	int64		slot = (int64) day - f->base;
	DenseDays  *d;

	if (unlikely(slot < 0 || slot >= f->span))
	{
		if (!DenseGrow(b, f, day))
			return false;
		slot = (int64) day - f->base;
	}
	d = f->more.dense;
	if (unlikely(count > PG_INT32_MAX - d->counts[slot]))
		return false;
	if (d->counts[slot] == 0)
		d->n++;
	d->counts[slot] += (int32) count;
	if (value != 0)
		InsertSorted(b, &d->values, day, 0, value);
	return true;
}

/* A day before the tail */
static void
InsertDay(Behavior *b, FeatureUsage *f, int32 day, int64 count, int128 value, bool dense)
{
	FeatureDays *m;

	if (f->span > 0)
	{
		if (DenseAdd(b, f, day, count, value))
			return;
		DenseToSorted(b, f);
	}
	/* sorted days about to grow: dense instead, while that stays small */
	m = f->more.sorted;
	if (dense && m && m->n >= DENSE_MIN_DAYS && m->n + 1 > m->max && SortedToDense(b, f))
	{
		if (DenseAdd(b, f, day, count, value))
			return;
		DenseToSorted(b, f);
	}
	InsertSorted(b, &f->more.sorted, day, count, value);
}

/*
 * count events of value sum value on day, in series f.  Rows mostly come in
 * time order: the tail day, or a new tail after it, costs O(1).  dense: the
 * earlier days may go to a dense window (behavior_agg's rows; merges and
 * the decoder keep them sorted).
 */
static inline void
AddSeriesDay(Behavior *b, FeatureUsage *f, int32 day, int64 count, int128 value, bool dense)
{
	if (likely(day == f->tail_day))
	{
		f->tail_count = AddCount(f->tail_count, count);
		if (value != 0)
			f->tail_value = AddValue(f->tail_value, value);
		return;
	}
	if (day > f->tail_day)
	{
		if (f->tail_count > 0)
		{
			FeatureDays *m = f->more.sorted;

			/* the old tail is after every earlier day: appended when sorted */
			if (f->span > 0 || (dense && m && m->n + 1 > m->max))
				InsertDay(b, f, f->tail_day, f->tail_count, f->tail_value, dense);
			else
			{
				m = ReserveDays(b, &f->more.sorted, (m ? m->n : 0) + 1);
				m->days[m->n].day = f->tail_day;
				m->days[m->n].count = f->tail_count;
				m->days[m->n++].value = f->tail_value;
			}
		}
		f->tail_day = day;
		f->tail_count = count;
		f->tail_value = value;
		return;
	}
	InsertDay(b, f, day, count, value, dense);
}

/* Free the days of f */
static void
FreeSeries(FeatureUsage *f)
{
	if (f->span > 0)
	{
		FreeDays(f->more.dense->values);
		pfree(f->more.dense);
	}
	else
		FreeDays(f->more.sorted);
	f->more.sorted = NULL;
	f->span = 0;
}

/*
 * f := f ∪ u, both sorted with nothing pending, in one pass over both: what
 * merging two partial states of one group costs (each day of u searched in
 * f would cost a search and a memmove)
 */
static void
MergeSortedSeries(Behavior *b, FeatureUsage *f, const FeatureUsage *u)
{
	int32		nf = FeatureNDays(f),
				nu = FeatureNDays(u),
				i = 0,
				j = 0;
	FeatureDays *out = NULL;
	FeatureDay *last;

	ReserveDays(b, &out, nf + nu);
	while (i < nf || j < nu)
	{
		FeatureDay	d;

		if (j >= nu || (i < nf && FeatureDayAt(f, i).day < FeatureDayAt(u, j).day))
			d = FeatureDayAt(f, i++);
		else if (i >= nf || FeatureDayAt(u, j).day < FeatureDayAt(f, i).day)
			d = FeatureDayAt(u, j++);
		else
		{
			FeatureDay	e = FeatureDayAt(u, j++);

			d = FeatureDayAt(f, i++);
			d.count = AddCount(d.count, e.count);
			d.value = AddValue(d.value, e.value);
		}
		out->days[out->n++] = d;
	}
	/* the last day is the tail */
	last = &out->days[--out->n];
	f->tail_day = last->day;
	f->tail_count = last->count;
	f->tail_value = last->value;
	FreeDays(f->more.sorted);
	f->more.sorted = out;
}

/* a feature counted as an event's feature in one place and as an extra in another */
static void pg_attribute_noreturn()
ExtraMismatch(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a feature id is both an event's feature and an extra feature"),
			 errdetail("An extra feature (behavior_agg_features' argument \"extra_features\") counts events that are "
					   "counted in another series too: the same id cannot also be the one feature of events."),
			 errhint("Give each feature id one role: as \"feature\" or in \"extra_features\".")));
}

/*
 * f := f ∪ u (both series of one feature, or both of no feature; u's days
 * sorted).  When owned, u's days are f's to free.
 */
static void
CombineUsage(Behavior *b, FeatureUsage *f, const FeatureUsage *u, bool owned)
{
	const FeatureDays *m = u->more.sorted;
	int32		i;
	bool		merged = false;

	Assert(u->span == 0);
	if (u->tail_count == 0)
		return;
	if (f->tail_count > 0 && f->extra != u->extra)
		ExtraMismatch();
	if (f->tail_count == 0)
	{
		f->extra = u->extra;
		f->first_seen = u->first_seen;
		f->last_seen = u->last_seen;
	}
	else
	{
		f->first_seen = Min(f->first_seen, u->first_seen);
		f->last_seen = Max(f->last_seen, u->last_seen);
	}
	/*
	 * Two sorted series of comparable sizes (u at least an eighth of f):
	 * one pass over both, which its share of days pays for.  A small u goes
	 * day by day (O(log n) amortized each), so that merging many small
	 * behaviors into one large one stays O(n log n).
	 */
	if (m && m->pending == NULL && f->span == 0 && f->tail_count > 0 &&
		(f->more.sorted == NULL || f->more.sorted->pending == NULL) &&
		8 * (int64) FeatureNDays(u) >= FeatureNDays(f))
	{
		MergeSortedSeries(b, f, u);
		merged = true;
	}
	else if (m)
	{
		for (i = 0; i < m->n; i++)
			AddSeriesDay(b, f, m->days[i].day, m->days[i].count, m->days[i].value, false);
		for (i = 0; m->pending && i < m->pending->n; i++)
			AddSeriesDay(b, f, m->pending->days[i].day, m->pending->days[i].count, m->pending->days[i].value, false);
	}
	/* (a 0.1 feature's count is its tail's, on day PG_INT32_MIN: it adds up the same way) */
	if (!merged)
		AddSeriesDay(b, f, u->tail_day, u->tail_count, u->tail_value, false);
	if (owned)
	{
		FeatureUsage dead = *u;

		FreeSeries(&dead);
	}
}

/* A copy of the compacted series u whose days live in b's context */
static FeatureUsage
CopyUsage(Behavior *b, const FeatureUsage *u)
{
	FeatureUsage c = *u;
	const FeatureDays *m = u->more.sorted;

	Assert(u->span == 0 && (m == NULL || m->pending == NULL));
	c.more.sorted = NULL;
	if (m && m->n > 0)
	{
		FeatureDays *cm = ReserveDays(b, &c.more.sorted, m->n);

		memcpy(cm->days, m->days, m->n * sizeof(FeatureDay));
		cm->n = m->n;
	}
	return c;
}

/* One event at ts (on day) of value value, in series f */
static inline void
SeriesAddEvent(Behavior *b, FeatureUsage *f, TimestampTz ts, int32 day, int128 value)
{
	if (f->tail_count == 0)
		f->first_seen = f->last_seen = ts;
	else if (ts < f->first_seen)
		f->first_seen = ts;
	else if (ts > f->last_seen)
		f->last_seen = ts;
	AddSeriesDay(b, f, day, 1, value, true);
}

/* Sort the pending words and merge them into the sorted array: O(n + p log p) */
static void
CompactWords(Behavior *b)
{
	int32		n = b->nwords,
				p = b->npending_words,
				i = 0,
				j = 0,
				k = 0;
	const PendingWord *pend = b->pending_words;
	int32	   *ids;
	uint64	   *words;

	if (p == 0)
		return;
	qsort(b->pending_words, p, sizeof(PendingWord), ComparePendingWords);
	ids = MemoryContextAlloc(b->cxt, (n + p) * sizeof(int32));
	words = MemoryContextAlloc(b->cxt, (n + p) * sizeof(uint64));
	while (i < n || j < p)
	{
		int32		id = (j >= p || (i < n && b->word_ids[i] <= pend[j].id)) ? b->word_ids[i] : pend[j].id;
		uint64		bits = 0;

		if (i < n && b->word_ids[i] == id)
			bits = b->words[i++];
		for (; j < p && pend[j].id == id; j++)
			bits |= pend[j].bits;
		ids[k] = id;
		words[k++] = bits;
	}
	if (b->words != b->inline_words)
	{
		pfree(b->word_ids);
		pfree(b->words);
	}
	b->word_ids = ids;
	b->words = words;
	b->nwords = k;
	b->maxwords = n + p;
	b->npending_words = 0;
}

/* The same for the pending features */
static void
CompactFeatures(Behavior *b)
{
	int32		n = b->nfeatures,
				p = b->npending_features,
				i = 0,
				j = 0,
				k = 0;
	const PendingFeature *pend = b->pending_features;
	int32	   *ids;
	FeatureUsage *features;

	if (p == 0)
		return;
	qsort(b->pending_features, p, sizeof(PendingFeature), ComparePendingFeatures);
	ids = MemoryContextAlloc(b->cxt, (n + p) * sizeof(int32));
	features = MemoryContextAlloc(b->cxt, (n + p) * sizeof(FeatureUsage));
	while (i < n || j < p)
	{
		int32		id;

		if (j >= p || (i < n && b->feature_ids[i] <= pend[j].id))
		{
			id = b->feature_ids[i];
			features[k] = b->features[i++];
		}
		else
		{
			id = pend[j].id;
			features[k] = pend[j++].usage;
		}
		for (; j < p && pend[j].id == id; j++)
			CombineUsage(b, &features[k], &pend[j].usage, true);
		ids[k++] = id;
	}
	if (b->features != b->inline_features)
	{
		pfree(b->feature_ids);
		pfree(b->features);
	}
	b->feature_ids = ids;
	b->features = features;
	b->nfeatures = k;
	b->maxfeatures = n + p;
	b->npending_features = 0;
}

/* The days of f sorted, none pending */
static void
CompactSeries(Behavior *b, FeatureUsage *f)
{
	if (f->span > 0)
		DenseToSorted(b, f);
	else
		CompactDays(b, &f->more.sorted);
}

/* Merge every pending key into its sorted array: what readers need */
void
BehaviorCompact(Behavior *b)
{
	CompactWords(b);
	CompactFeatures(b);
	if (b->pending_days)
	{
		int			i;

		for (i = 0; i < b->nfeatures; i++)
			CompactSeries(b, &b->features[i]);
		CompactSeries(b, &b->none);
		b->pending_days = false;
	}
}

/* words[id] |= bits, adding the word when it is missing (bits != 0) */
static inline void
OrWord(Behavior *b, int32 id, uint64 bits)
{
	int32		n = b->nwords;
	int			i;

	/* days mostly come in time order: the last word, or a new one after it */
	if (likely(n > 0 && b->word_ids[n - 1] == id))
	{
		b->words[n - 1] |= bits;
		return;
	}
	i = n > 0 && id < b->word_ids[n - 1] ? FindKey(b->word_ids, n, id) : -n - 1;
	if (i >= 0)
	{
		b->words[i] |= bits;
		return;
	}
	i = -i - 1;
	if (i < n && n >= DIRECT_INSERT_MAX)
	{
		b->pending_words = ReservePending(b->cxt, b->pending_words, b->npending_words,
										  &b->maxpending_words, sizeof(PendingWord));
		b->pending_words[b->npending_words].id = id;
		b->pending_words[b->npending_words++].bits = bits;
		if (b->npending_words >= n)
			CompactWords(b);
		return;
	}
	ReserveWords(b, n + 1);
	memmove(&b->word_ids[i + 1], &b->word_ids[i], (n - i) * sizeof(int32));
	memmove(&b->words[i + 1], &b->words[i], (n - i) * sizeof(uint64));
	b->word_ids[i] = id;
	b->words[i] = bits;
	b->nwords++;
}

static inline void
SetDay(Behavior *b, int32 day)
{
	OrWord(b, WordOf(day), DayBit(day));
}

bool
BehaviorDayActive(const Behavior *b, int32 day)
{
	int			i = FindKey(b->word_ids, b->nwords, WordOf(day));

	return i >= 0 && (b->words[i] & DayBit(day)) != 0;
}

/* The first active day >= from, or PG_INT32_MAX when there is none */
static int32
NextActiveDay(const Behavior *b, int64 from)
{
	int32		w;
	int			i;

	if (from > PG_INT32_MAX)
		return PG_INT32_MAX;
	w = WordOf(from);
	i = LowerBound(b->word_ids, b->nwords, w);
	if (i < b->nwords && b->word_ids[i] == w)
	{
		uint64		word = b->words[i] & ~(DayBit(from) - 1);

		if (word != 0)
			return (int32) (64 * (int64) w + pg_rightmost_one_pos64(word));
		i++;
	}
	if (i >= b->nwords)
		return PG_INT32_MAX;
	/* stored words are never 0 */
	return (int32) (64 * (int64) b->word_ids[i] + pg_rightmost_one_pos64(b->words[i]));
}

/* Number of active days d with from <= d <= to */
int32
BehaviorCountDays(const Behavior *b, int32 from, int32 to)
{
	int32		wf = WordOf(from),
				wt = WordOf(to);
	int32		n = 0;
	int			i;

	if (from > to)
		return 0;
	for (i = LowerBound(b->word_ids, b->nwords, wf); i < b->nwords && b->word_ids[i] <= wt; i++)
	{
		uint64		word = b->words[i];

		if (b->word_ids[i] == wf)
			word &= ~(DayBit(from) - 1);
		if (b->word_ids[i] == wt)
			word &= DayBit(to) | (DayBit(to) - 1);
		n += pg_popcount64(word);
	}
	return n;
}

const FeatureUsage *
BehaviorFindFeature(const Behavior *b, int32 id)
{
	int			i = FindKey(b->feature_ids, b->nfeatures, id);

	return i >= 0 ? &b->features[i] : NULL;
}

/*
 * Add the use u of feature id, not in the sorted array, whose insertion
 * point there is i
 */
static void
InsertFeature(Behavior *b, int i, int32 id, const FeatureUsage *u)
{
	int32		n = b->nfeatures;

	if (i < n && n >= DIRECT_INSERT_MAX)
	{
		PendingFeature *pf;

		b->pending_features = ReservePending(b->cxt, b->pending_features, b->npending_features,
											 &b->maxpending_features, sizeof(PendingFeature));
		pf = &b->pending_features[b->npending_features++];
		pf->id = id;
		pf->usage = *u;
		if (b->npending_features >= n)
			CompactFeatures(b);
		return;
	}
	ReserveFeatures(b, n + 1);
	memmove(&b->feature_ids[i + 1], &b->feature_ids[i], (n - i) * sizeof(int32));
	memmove(&b->features[i + 1], &b->features[i], (n - i) * sizeof(FeatureUsage));
	b->feature_ids[i] = id;
	b->features[i] = *u;
	b->nfeatures++;
}

/* Add one event; the caller has checked ts, feature and value */
void
BehaviorAddEvent(Behavior *b, TimestampTz ts, bool has_feature, int32 feature,
				 int128 value)
{
	int32		day = BehaviorDayOf(ts);
	int			i;

	Assert(!b->legacy);
	if (b->events == 0)
		b->first_seen = b->last_seen = ts;
	else if (ts < b->first_seen)
		b->first_seen = ts;
	else if (ts > b->last_seen)
		b->last_seen = ts;
	b->events = AddCount(b->events, 1);
	if (value != 0)
		b->value = AddValue(b->value, value);
	SetDay(b, day);

	if (!has_feature)
	{
		SeriesAddEvent(b, &b->none, ts, day, value);
		return;
	}
	i = FindKey(b->feature_ids, b->nfeatures, feature);
	if (i < 0)
	{
		FeatureUsage u;

		SeriesInit(&u);
		SeriesAddEvent(b, &u, ts, day, value);
		InsertFeature(b, -i - 1, feature, &u);
		return;
	}
	if (b->features[i].extra)
		ExtraMismatch();
	SeriesAddEvent(b, &b->features[i], ts, day, value);
}

/*
 * Count the event just added (BehaviorAddEvent, same ts and value) for an
 * extra feature too: its series, flagged extra, and nothing of the totals.
 * Features may then overlap: an event is in exactly one series that is not
 * extra (its feature's, or none) and in any number of extra ones.
 */
void
BehaviorAddExtra(Behavior *b, TimestampTz ts, int32 feature, int128 value)
{
	int32		day = BehaviorDayOf(ts);
	int			i;

	Assert(!b->legacy && b->events > 0);
	i = FindKey(b->feature_ids, b->nfeatures, feature);
	if (i < 0)
	{
		FeatureUsage u;

		SeriesInit(&u);
		u.extra = true;
		SeriesAddEvent(b, &u, ts, day, value);
		InsertFeature(b, -i - 1, feature, &u);
		return;
	}
	if (!b->features[i].extra)
		ExtraMismatch();
	SeriesAddEvent(b, &b->features[i], ts, day, value);
}

/*
 * dst := dst ∪ src, exactly; src has no pending keys.  Each key of src costs
 * a search in dst (and, amortized, its share of a compaction): merging many
 * small behaviors into one is O(n log n) in all their keys.
 */
void
BehaviorMergeInto(Behavior *dst, const Behavior *src)
{
	int			i;

	Assert(src->npending_words == 0 && src->npending_features == 0 && !src->pending_days);
	if (src->events == 0)
		return;
	if (dst->events == 0)
	{
		dst->first_seen = src->first_seen;
		dst->last_seen = src->last_seen;
		dst->legacy = src->legacy;
	}
	else
	{
		if (dst->legacy != src->legacy)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot merge a behavior stored by 0.1 with one that has per-feature days"),
					 errdetail("A behavior stored by 0.1 has no per-feature days: their union would have none either."),
					 errhint("Run a full refresh (segmentation.refresh(true)), or aggregate the events again with behavior_agg.")));
		dst->first_seen = Min(dst->first_seen, src->first_seen);
		dst->last_seen = Max(dst->last_seen, src->last_seen);
	}
	dst->events = AddCount(dst->events, src->events);
	dst->value = AddValue(dst->value, src->value);

	for (i = 0; i < src->nwords; i++)
		OrWord(dst, src->word_ids[i], src->words[i]);
	CombineUsage(dst, &dst->none, &src->none, false);
	for (i = 0; i < src->nfeatures; i++)
	{
		int32		id = src->feature_ids[i];
		int			k = FindKey(dst->feature_ids, dst->nfeatures, id);

		if (k >= 0)
			CombineUsage(dst, &dst->features[k], &src->features[i], false);
		else
		{
			FeatureUsage copy = CopyUsage(dst, &src->features[i]);

			InsertFeature(dst, -k - 1, id, &copy);
		}
	}
}

/* ---------- argument checks ---------- */

void
CheckTimestampArg(TimestampTz ts, const char *argname)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("argument \"%s\" must be a finite timestamp", argname),
				 errdetail("An infinite timestamp has no calendar day.")));
}

void
CheckFeatureArg(int32 feature, const char *argname)
{
	if (feature < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be negative", argname),
				 errdetail("Feature ids are int4 values >= 0; got %d.", feature)));
}

/* Per-feature days are needed and b, from 0.1, has none */
void
CheckLegacy(const Behavior *b, const char *what)
{
	if (b->legacy)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this behavior was stored by 0.1 and has no per-feature days; run a full refresh"),
				 errdetail("%s needs the events of each active day of a feature, which 0.1 did not keep.", what),
				 errhint("segmentation.refresh(true) rebuilds the stored behaviors from the events; "
						 "behavior_agg over the events does the same by hand.")));
}

int128
ValueToFixed(float8 value, const char *argname)
{
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a finite number", argname),
				 errdetail("Got %s.", isnan(value) ? "NaN" : "an infinite value"),
				 errhint("Pass NULL for an event without a value.")));
	if (fabs(value) >= BEHAVIOR_VALUE_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("argument \"%s\" is out of range", argname),
				 errdetail("Values must be smaller than 1e24 in absolute value.")));
	return (int128) rint(value * BEHAVIOR_VALUE_SCALE);
}

/* ---------- encoding ---------- */

typedef struct Writer
{
	uint8	   *buf;			/* NULL: only count */
	Size		len;
} Writer;

static inline void
PutByte(Writer *w, uint8 v)
{
	if (w->buf)
		w->buf[w->len] = v;
	w->len++;
}

static inline void
PutVarint(Writer *w, uint128 v)
{
	while (v >= 0x80)
	{
		PutByte(w, (uint8) (v | 0x80));
		v >>= 7;
	}
	PutByte(w, (uint8) v);
}

static inline int
VarintSize(uint64 v)
{
	int			n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint64
ZigZag(int64 v)
{
	return ((uint64) v << 1) ^ (uint64) (v >> 63);
}

static inline uint128
ZigZag128(int128 v)
{
	return ((uint128) v << 1) ^ (uint128) (v >> 127);
}

/*
 * Size of the gap form of the days in [fd, ld]: ndays and the gaps.
 * Also returns the number of active days.
 */
static Size
GapFormSize(const Behavior *b, int32 fd, int32 ld, int64 *ndays)
{
	Size		size = 0;
	int64		n = 0;
	int32		prev = fd;
	int32		d;

	for (d = NextActiveDay(b, fd); d <= ld; d = NextActiveDay(b, (int64) d + 1))
	{
		if (n > 0)
			size += VarintSize((uint64) (d - prev));
		prev = d;
		n++;
	}
	*ndays = n;
	return size + VarintSize((uint64) n);
}

/*
 * A series (version 2): first_seen - b's first_seen; ndays - 1; per day
 * ascending, gap * 4 + (count > 1) * 2 + (value sum != 0), where gap is the
 * distance from the day before (0 for the first day, which is the day of
 * first_seen), then count - 2 when count > 1 and zigzag(value sum) when it
 * is not 0; last, last_seen - the start of its day (- first_seen when there
 * is only one day).  A day of one event without a value is one byte.
 */
static void
EncodeSeries(const Behavior *b, const FeatureUsage *f, Writer *w)
{
	int32		nd = FeatureNDays(f);
	int32		i,
				prev = 0;

	Assert(nd > 0 && FeatureDayAt(f, 0).day == BehaviorDayOf(f->first_seen) &&
		   FeatureDayAt(f, nd - 1).day == BehaviorDayOf(f->last_seen));
	PutVarint(w, (uint64) f->first_seen - (uint64) b->first_seen);
	PutVarint(w, (uint64) (nd - 1));
	for (i = 0; i < nd; i++)
	{
		FeatureDay	d = FeatureDayAt(f, i);
		uint64		gap = i > 0 ? (uint64) (d.day - prev) : 0;

		PutVarint(w, gap << 2 | (d.count > 1 ? 2 : 0) | (d.value != 0 ? 1 : 0));
		if (d.count > 1)
			PutVarint(w, (uint64) (d.count - 2));
		if (d.value != 0)
			PutVarint(w, ZigZag128(d.value));
		prev = d.day;
	}
	PutVarint(w, (uint64) f->last_seen - (uint64) (nd == 1 ? f->first_seen : DayStart(prev)));
}

/* Write the body of b (or count it when w->buf is NULL) */
static void
Encode(const Behavior *b, Writer *w)
{
	int32		fd = BehaviorDayOf(b->first_seen);
	int32		ld = BehaviorDayOf(b->last_seen);
	int64		nbits = (int64) ld - fd + 1;
	Size		bitmap_size = (nbits + 7) / 8;
	int64		ndays;
	Size		gap_size = GapFormSize(b, fd, ld, &ndays);
	bool		gaps = gap_size < bitmap_size;
	int32		prev;
	int			i;

	bool		extra = false;

	Assert(b->events > 0 && b->npending_words == 0 && b->npending_features == 0 && !b->pending_days);
	for (i = 0; i < b->nfeatures && !extra; i++)
		extra = b->features[i].extra;
	PutByte(w, b->legacy ? BEHAVIOR_VERSION_0_1 : BEHAVIOR_VERSION);
	PutByte(w, (b->value != 0 ? FLAG_HAS_VALUE : 0) | (gaps ? FLAG_DAYS_AS_GAPS : 0) |
			(b->none.tail_count > 0 ? FLAG_HAS_NONE : 0) | (extra ? FLAG_HAS_EXTRA : 0));
	PutVarint(w, (uint64) b->events);
	PutVarint(w, ZigZag(b->first_seen));
	PutVarint(w, (uint64) b->last_seen - (uint64) b->first_seen);
	if (b->value != 0)
		PutVarint(w, ZigZag128(b->value));

	if (gaps)
	{
		int32		d;

		PutVarint(w, (uint64) ndays);
		prev = fd;
		for (d = NextActiveDay(b, (int64) fd + 1); d <= ld; d = NextActiveDay(b, (int64) d + 1))
		{
			PutVarint(w, (uint64) (d - prev));
			prev = d;
		}
	}
	else if (w->buf == NULL)
		w->len += bitmap_size;
	else
	{
		int32		d;

		memset(w->buf + w->len, 0, bitmap_size);
		for (d = NextActiveDay(b, fd); d <= ld; d = NextActiveDay(b, (int64) d + 1))
			w->buf[w->len + (d - fd) / 8] |= 1 << ((d - fd) % 8);
		w->len += bitmap_size;
	}

	if (b->none.tail_count > 0)
		EncodeSeries(b, &b->none, w);
	PutVarint(w, (uint64) b->nfeatures);
	for (i = 0; i < b->nfeatures; i++)
	{
		const FeatureUsage *f = &b->features[i];

		uint64		delta = (uint64) (i == 0 ? b->feature_ids[0] : b->feature_ids[i] - b->feature_ids[i - 1] - 1);

		/* (with extra features, each id's delta carries its flag in bit 0) */
		PutVarint(w, extra ? (delta << 1) | (f->extra ? 1 : 0) : delta);
		if (!b->legacy)
		{
			EncodeSeries(b, f, w);
			continue;
		}
		PutVarint(w, (uint64) f->tail_count);
		PutVarint(w, (uint64) f->first_seen - (uint64) b->first_seen);
		PutVarint(w, (uint64) f->last_seen - (uint64) f->first_seen);
	}
}

/* A flat behavior value (palloc'd in the current context) */
Datum
BehaviorGetDatum(Behavior *b)
{
	Writer		w = {NULL, 0};
	struct varlena *result;

	BehaviorCompact(b);
	Encode(b, &w);
	result = palloc(VARHDRSZ + w.len);
	SET_VARSIZE(result, VARHDRSZ + w.len);
	w.buf = (uint8 *) VARDATA(result);
	w.len = 0;
	Encode(b, &w);
	CHECK_DEFINED(result, VARSIZE(result));
	return PointerGetDatum(result);
}

/* ---------- decoding and validation ---------- */

typedef struct Reader
{
	const uint8 *buf;
	Size		len;
	Size		pos;
	int			errcode;
} Reader;

static void pg_attribute_noreturn()
Corrupt(Reader *r, const char *detail)
{
	ereport(ERROR,
			(errcode(r->errcode),
			 errmsg("invalid behavior value"),
			 errdetail("%s (at byte %zu of %zu).", detail, r->pos, r->len)));
}

/* An unsigned LEB128 integer of at most bits bits, minimally encoded */
static uint128
GetVarintBits(Reader *r, int bits, const char *what)
{
	uint128		v = 0;
	int			shift = 0;

	for (;;)
	{
		uint8		byte;

		if (r->pos >= r->len)
			Corrupt(r, psprintf("Truncated while reading %s", what));
		byte = r->buf[r->pos++];
		if (shift >= bits || (shift + 7 > bits && ((byte & 0x7F) >> (bits - shift)) != 0))
			Corrupt(r, psprintf("Integer overflow in %s", what));
		v |= (uint128) (byte & 0x7F) << shift;
		if (!(byte & 0x80))
		{
			if (byte == 0 && shift > 0)
				Corrupt(r, psprintf("Non-minimal integer encoding in %s", what));
			return v;
		}
		shift += 7;
	}
}

/* The same for at most 64 bits, in 64-bit arithmetic: most of a value's integers */
static inline uint64
GetVarint(Reader *r, const char *what)
{
	uint64		v = 0;
	int			shift = 0;

	for (;;)
	{
		uint8		byte;

		if (unlikely(r->pos >= r->len))
			Corrupt(r, psprintf("Truncated while reading %s", what));
		byte = r->buf[r->pos++];
		if (likely(!(byte & 0x80)))
		{
			if (shift == 0)
				return byte;
			if (byte == 0)
				Corrupt(r, psprintf("Non-minimal integer encoding in %s", what));
			if (shift == 63 && byte > 1)
				Corrupt(r, psprintf("Integer overflow in %s", what));
			return v | (uint64) byte << shift;
		}
		if (shift == 63)
			Corrupt(r, psprintf("Integer overflow in %s", what));
		v |= (uint64) (byte & 0x7F) << shift;
		shift += 7;
	}
}

/* A non-negative int64 */
static int64
GetCount(Reader *r, const char *what)
{
	uint64		v = GetVarint(r, what);

	if (v > (uint64) PG_INT64_MAX)
		Corrupt(r, psprintf("Out of range %s", what));
	return (int64) v;
}

/* A timestamp offset by a non-negative delta, which must stay <= limit */
static TimestampTz
GetTimeAfter(Reader *r, TimestampTz base, TimestampTz limit, const char *what)
{
	uint64		delta = GetVarint(r, what);

	if (delta > (uint64) limit - (uint64) base)
		Corrupt(r, psprintf("%s out of range", what));
	return (TimestampTz) ((uint64) base + delta);
}

/*
 * The header: version, flags, event count, first and last event, value sum.
 * Returns the flags; r->pos is left at the active days.  Version 1 (0.1)
 * sets b->legacy.
 */
static uint8
DecodeHeader(Reader *r, Behavior *b)
{
	uint8		flags;
	uint64		zz;

	if (r->len < 2)
		Corrupt(r, "Too short");
	if (r->buf[0] != BEHAVIOR_VERSION && r->buf[0] != BEHAVIOR_VERSION_0_1)
		Corrupt(r, psprintf("Unknown format version %d", r->buf[0]));
	b->legacy = r->buf[0] == BEHAVIOR_VERSION_0_1;
	flags = r->buf[1];
	r->pos = 2;
	if (flags & ~(FLAG_HAS_VALUE | FLAG_DAYS_AS_GAPS | (b->legacy ? 0 : FLAG_HAS_NONE | FLAG_HAS_EXTRA)))
		Corrupt(r, "Unknown flags");

	b->events = GetCount(r, "event count");
	if (b->events < 1)
		Corrupt(r, "Event count must be at least 1");
	zz = GetVarint(r, "first_seen");
	b->first_seen = (int64) (zz >> 1) ^ -(int64) (zz & 1);
	if (!IS_VALID_TIMESTAMP(b->first_seen))
		Corrupt(r, "first_seen out of range");
	b->last_seen = GetTimeAfter(r, b->first_seen, END_TIMESTAMP - 1, "last_seen");
	if (b->events == 1 && b->last_seen != b->first_seen)
		Corrupt(r, "A single event has one timestamp");

	if (flags & FLAG_HAS_VALUE)
	{
		uint128		v = GetVarintBits(r, 128, "value sum");

		b->value = (int128) (v >> 1) ^ -(int128) (v & 1);
		if (b->value == 0)
			Corrupt(r, "A zero value sum is not stored");
	}
	return flags;
}

/* The feature id delta after prev (-1 before the first) */
static int32
FeatureIdAfter(Reader *r, int32 prev, uint64 delta)
{
	/* (no id can follow PG_INT32_MAX: the bound is then negative) */
	if (prev == PG_INT32_MAX || delta > (uint64) ((int64) PG_INT32_MAX - prev - 1))
		Corrupt(r, "Feature id out of range");
	return (int32) ((int64) prev + 1 + (int64) delta);
}

/* The next feature id after prev (-1 before the first) */
static int32
GetFeatureId(Reader *r, int32 prev)
{
	return FeatureIdAfter(r, prev, GetVarint(r, "feature id"));
}

/* Version 1 features: id, count, first and last use; no days */
static void
DecodeFeatures01(Reader *r, Behavior *b)
{
	int64		nfeat,
				feature_events = 0,
				i;
	int32		prev_id = -1;

	/* each takes at least 4 bytes: bound nfeat before allocating */
	nfeat = GetCount(r, "feature count");
	if (nfeat > b->events || nfeat > (int64) (r->len - r->pos) / 4)
		Corrupt(r, "Impossible feature count");
	ReserveFeatures(b, (int32) nfeat);
	for (i = 0; i < nfeat; i++)
	{
		FeatureUsage *f = &b->features[i];

		SeriesInit(f);
		prev_id = b->feature_ids[i] = GetFeatureId(r, prev_id);
		/* its count in the tail, on no day (behavior.h) */
		f->tail_count = GetCount(r, "feature count");
		if (f->tail_count < 1)
			Corrupt(r, "Feature used zero times");
		if (f->tail_count > b->events - feature_events)
			Corrupt(r, "Features used more often than there are events");
		feature_events += f->tail_count;
		f->first_seen = GetTimeAfter(r, b->first_seen, b->last_seen, "feature first_seen");
		f->last_seen = GetTimeAfter(r, f->first_seen, b->last_seen, "feature last_seen");
		if (f->tail_count == 1 && f->first_seen != f->last_seen)
			Corrupt(r, "A feature used once has one timestamp");
		if (!BehaviorDayActive(b, BehaviorDayOf(f->first_seen)) ||
			!BehaviorDayActive(b, BehaviorDayOf(f->last_seen)))
			Corrupt(r, "A feature was used on a day that is not active");
		b->nfeatures++;
	}
}

/* What the series of a version 2 value add up to, checked against the header */
typedef struct SeriesSums
{
	int64		events;
	int128		value;			/* modulo 2^128 ... */
	int64		wraps;			/* ... and how often it wrapped, signed */
	TimestampTz first_seen;
	TimestampTz last_seen;
	Behavior	days;			/* the union of their days (words only) */
} SeriesSums;

/* One series (EncodeSeries) into the empty f */
static void
DecodeSeries(Reader *r, Behavior *b, FeatureUsage *f, SeriesSums *sums)
{
	int32		ld = BehaviorDayOf(b->last_seen);
	TimestampTz first = GetTimeAfter(r, b->first_seen, b->last_seen, "feature first_seen");
	uint64		more = GetVarint(r, "feature day count");
	int64		ndays,
				events = 0,
				i;
	int32		day = BehaviorDayOf(first);
	TimestampTz base,
				limit;
	uint64		delta;

	/* every day takes at least a byte: bound ndays before allocating */
	if (more >= (uint64) (r->len - r->pos))
		Corrupt(r, "Impossible feature day count");
	ndays = (int64) more + 1;
	f->first_seen = first;
	for (i = 0; i < ndays; i++)
	{
		uint64		h = GetVarint(r, "feature day");
		uint64		gap = h >> 2;
		int64		count = 1;
		int128		value = 0;

		if (i == 0 ? gap != 0 : (gap < 1 || gap > (uint64) (ld - day)))
			Corrupt(r, "Feature days out of order or out of range");
		day += (int32) gap;
		if (!BehaviorDayActive(b, day))
			Corrupt(r, "A feature was used on a day that is not active");
		if (h & 2)
		{
			uint64		c = GetVarint(r, "feature day events");

			if (c > (uint64) (PG_INT64_MAX - 2))
				Corrupt(r, "Out of range feature day events");
			count = (int64) c + 2;
		}
		if (count > b->events - sums->events)
			Corrupt(r, "Features used more often than there are events");
		sums->events += count;
		if (h & 1)
		{
			uint128		v = GetVarintBits(r, 128, "feature day value");

			value = (int128) (v >> 1) ^ -(int128) (v & 1);
			if (value == 0)
				Corrupt(r, "A zero value sum is not stored");
			if (__builtin_add_overflow(sums->value, value, &sums->value))
				sums->wraps += value > 0 ? 1 : -1;
		}
		/* ascending days: each is a new tail, O(1) */
		AddSeriesDay(b, f, day, count, value, false);
		events += count;
		SetDay(&sums->days, day);
	}

	/* last_seen: on the last day, after first_seen, not after the behavior's */
	base = ndays == 1 ? first : DayStart(day);
	limit = Min(b->last_seen, DayStart(day) + USECS_PER_DAY - 1);
	delta = GetVarint(r, "feature last_seen");
	if (delta > (uint64) limit - (uint64) base)
		Corrupt(r, "feature last_seen out of range");
	f->last_seen = (TimestampTz) ((uint64) base + delta);
	if (events == 1 && delta != 0)
		Corrupt(r, "A feature used once has one timestamp");
	sums->first_seen = Min(sums->first_seen, f->first_seen);
	sums->last_seen = Max(sums->last_seen, f->last_seen);
}

/* the words of a SeriesSums' days */
static void
FreeSumsDays(Behavior *days)
{
	if (days->words != days->inline_words)
	{
		pfree(days->word_ids);
		pfree(days->words);
	}
	if (days->pending_words)
		pfree(days->pending_words);
}

/*
 * Version 2: the events without a feature (when flagged), then the features,
 * each a series; together they must make up the header's totals and days.
 */
static void
DecodeFeatures(Reader *r, Behavior *b, uint8 flags)
{
	SeriesSums	sums,
				extra_sums;
	int64		nfeat,
				i,
				nextra = 0;
	int32		prev_id = -1;

	sums.events = 0;
	sums.value = 0;
	sums.wraps = 0;
	sums.first_seen = b->last_seen;
	sums.last_seen = b->first_seen;
	BehaviorInit(&sums.days, b->cxt);

	if (flags & FLAG_HAS_NONE)
		DecodeSeries(r, b, &b->none, &sums);
	/* each takes at least 5 bytes: bound nfeat before allocating */
	nfeat = GetCount(r, "feature count");
	if ((nfeat > b->events && !(flags & FLAG_HAS_EXTRA)) || nfeat > (int64) (r->len - r->pos) / 5)
		Corrupt(r, "Impossible feature count");
	ReserveFeatures(b, (int32) nfeat);
	for (i = 0; i < nfeat; i++)
	{
		SeriesInit(&b->features[i]);
		if (flags & FLAG_HAS_EXTRA)
		{
			uint64		v = GetVarint(r, "feature id");

			prev_id = b->feature_ids[i] = FeatureIdAfter(r, prev_id, v >> 1);
			b->features[i].extra = (v & 1) != 0;
			nextra += (v & 1);
		}
		else
			prev_id = b->feature_ids[i] = GetFeatureId(r, prev_id);
		b->nfeatures++;
		if (!b->features[i].extra)
		{
			DecodeSeries(r, b, &b->features[i], &sums);
			continue;
		}

		/*
		 * An extra feature's events are counted in another series too: on
		 * its own within the header (each day active, at most every event,
		 * its first and last use within first_seen and last_seen); its
		 * values cannot be checked against the value sum
		 */
		extra_sums.events = 0;
		extra_sums.value = 0;
		extra_sums.wraps = 0;
		extra_sums.first_seen = b->last_seen;
		extra_sums.last_seen = b->first_seen;
		BehaviorInit(&extra_sums.days, b->cxt);
		DecodeSeries(r, b, &b->features[i], &extra_sums);
		FreeSumsDays(&extra_sums.days);
	}
	if ((flags & FLAG_HAS_EXTRA) && nextra == 0)
		Corrupt(r, "Extra features flagged, and none is");

	if (sums.events != b->events)
		Corrupt(r, "The events of the features and of no feature are not the event count");
	if (sums.wraps != 0 || sums.value != b->value)
		Corrupt(r, "The value sums of the features and of no feature are not the value sum");
	if (sums.first_seen != b->first_seen || sums.last_seen != b->last_seen)
		Corrupt(r, "first_seen or last_seen is not that of a feature or of no feature");
	CompactWords(&sums.days);
	CompactWords(b);
	if (sums.days.nwords != b->nwords ||
		memcmp(sums.days.word_ids, b->word_ids, b->nwords * sizeof(int32)) != 0 ||
		memcmp(sums.days.words, b->words, b->nwords * sizeof(uint64)) != 0)
		Corrupt(r, "An active day without events");
	FreeSumsDays(&sums.days);
}

/*
 * Decode and validate a body into b (whose cxt is set).  Everything that
 * could not have come out of Encode() is an error with the given errcode.
 * days_only: the header and the active days, not the features.
 */
static void
Decode(const uint8 *buf, Size len, Behavior *b, int errcode, bool days_only)
{
	Reader		r = {buf, len, 0, errcode};
	uint8		flags = DecodeHeader(&r, b);
	int32		fd,
				ld;
	int64		nbits,
				ndays,
				gap_form,
				bitmap_form,
				i;

	/* active days */
	fd = BehaviorDayOf(b->first_seen);
	ld = BehaviorDayOf(b->last_seen);
	nbits = (int64) ld - fd + 1;
	bitmap_form = (nbits + 7) / 8;
	if (flags & FLAG_DAYS_AS_GAPS)
	{
		int32		d = fd;

		ndays = GetCount(&r, "active day count");
		/* every gap takes a byte: bound ndays before allocating */
		if (ndays < 1 || ndays > nbits || ndays > b->events ||
			ndays - 1 > (int64) (len - r.pos))
			Corrupt(&r, "Impossible active day count");
		SetDay(b, fd);
		gap_form = VarintSize((uint64) ndays);
		for (i = 1; i < ndays; i++)
		{
			uint64		gap = GetVarint(&r, "day gap");

			if (gap < 1 || gap > (uint64) (ld - d))
				Corrupt(&r, "Active days out of order or out of range");
			d += (int32) gap;
			SetDay(b, d);
			gap_form += VarintSize(gap);
		}
		if (d != ld)
			Corrupt(&r, "The last active day is not the day of last_seen");
		if (gap_form >= bitmap_form)
			Corrupt(&r, "Days not in their shortest form");
	}
	else
	{
		const uint8 *bits = buf + r.pos;
		int64		k;

		if (bitmap_form > (int64) (len - r.pos))
			Corrupt(&r, "Truncated day bitmap");
		if (nbits % 8 != 0 && (bits[bitmap_form - 1] >> (nbits % 8)) != 0)
			Corrupt(&r, "Day bitmap has bits past last_seen");
		/* bit k is day fd + k; zero bytes add nothing (and no word) */
		for (k = 0; k < bitmap_form; k++)
		{
			int64		day = (int64) fd + 8 * k;
			int32		w = WordOf(day);
			int			off = (int) (day - 64 * (int64) w);

			if (bits[k] == 0)
				continue;
			/* (stored words are never 0: a byte that straddles two words may
			 * have bits in the second only) */
			if (((uint64) bits[k] << off) != 0)
				OrWord(b, w, (uint64) bits[k] << off);
			if (off > 56 && (bits[k] >> (64 - off)) != 0)
				OrWord(b, w + 1, (uint64) bits[k] >> (64 - off));
		}
		r.pos += bitmap_form;
		if (!BehaviorDayActive(b, fd) || !BehaviorDayActive(b, ld))
			Corrupt(&r, "The days of first_seen and last_seen must be active");
		gap_form = GapFormSize(b, fd, ld, &ndays);
		if (ndays > b->events)
			Corrupt(&r, "More active days than events");
		if (gap_form < bitmap_form)
			Corrupt(&r, "Days not in their shortest form");
	}

	if (days_only)
		return;
	if (b->legacy)
		DecodeFeatures01(&r, b);
	else
		DecodeFeatures(&r, b, flags);
	if (r.pos != len)
		Corrupt(&r, "Trailing bytes");
}

/* Validate a body and return it as a new flat value */
static Datum
FlatFromBody(const uint8 *body, Size len, int errcode)
{
	Behavior	tmp;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "behavior validation",
											  ALLOCSET_SMALL_SIZES);
	struct varlena *result;

	BehaviorInit(&tmp, cxt);
	Decode(body, len, &tmp, errcode, false);
	MemoryContextDelete(cxt);

	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), body, len);
	CHECK_DEFINED(result, VARHDRSZ + len);
	return PointerGetDatum(result);
}

/* ---------- expanded object ---------- */

static Size
EBGetFlatSize(ExpandedObjectHeader *eohptr)
{
	ExpandedBehavior *eb = (ExpandedBehavior *) eohptr;
	Writer		w = {NULL, 0};

	BehaviorCompact(&eb->b);
	Encode(&eb->b, &w);
	return VARHDRSZ + w.len;
}

static void
EBFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	ExpandedBehavior *eb = (ExpandedBehavior *) eohptr;
	Writer		w = {(uint8 *) VARDATA(result), 0};

	Encode(&eb->b, &w);
	if (VARHDRSZ + w.len != allocated_size)
		elog(ERROR, "behavior flat size changed while flattening");
	SET_VARSIZE(result, allocated_size);
	CHECK_DEFINED(result, allocated_size);
}

static const ExpandedObjectMethods EBMethods = {EBGetFlatSize, EBFlattenInto};

/*
 * A new, empty behavior allocated in cxt, which also becomes its eoh_context.
 * The aggregates pass one context shared by all their groups (aggregates.c
 * says why); nothing ever deletes or transfers such an object on its own.
 */
ExpandedBehavior *
ExpandedBehaviorCreate(MemoryContext cxt)
{
	ExpandedBehavior *eb = MemoryContextAlloc(cxt, sizeof(ExpandedBehavior));

	EOH_init_header(&eb->hdr, &EBMethods, cxt);
	eb->magic = EXPANDED_BEHAVIOR_MAGIC;
	BehaviorInit(&eb->b, cxt);
	return eb;
}

/*
 * The behavior behind a datum: the expanded object's own when it is one,
 * else decoded into *tmp (in the current memory context).
 */
const Behavior *
BehaviorFromDatum(Datum d, Behavior *tmp)
{
	struct varlena *v;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedBehavior *eb = (ExpandedBehavior *) DatumGetEOHP(d);

		if (eb->magic != EXPANDED_BEHAVIOR_MAGIC)
			elog(ERROR, "expanded object is not a behavior");
		/* the same value, its pending keys merged: what readers expect */
		BehaviorCompact(&eb->b);
		return &eb->b;
	}
	v = PG_DETOAST_DATUM_PACKED(d);
	BehaviorInit(tmp, CurrentMemoryContext);
	Decode((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), tmp,
		   ERRCODE_DATA_CORRUPTED, false);
	return tmp;
}

/* The flat behavior d decoded into the empty b (in b's context) */
void
BehaviorDecodeInto(Datum d, Behavior *b)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

	Assert(b->events == 0);
	Decode((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), b, ERRCODE_DATA_CORRUPTED, false);
}

/*
 * Only the header of the behavior behind a datum (events, first_seen,
 * last_seen, value; no days, no features) into *b: what the scores that
 * need nothing else read, without decoding the rest.  The header is checked
 * as Decode checks it.
 */
void
BehaviorHeaderFromDatum(Datum d, Behavior *b)
{
	struct varlena *v;
	Reader		r;

	BehaviorInit(b, CurrentMemoryContext);
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		Behavior	tmp;
		const Behavior *full = BehaviorFromDatum(d, &tmp);

		b->events = full->events;
		b->first_seen = full->first_seen;
		b->last_seen = full->last_seen;
		b->value = full->value;
		return;
	}
	v = PG_DETOAST_DATUM_PACKED(d);
	r.buf = (const uint8 *) VARDATA_ANY(v);
	r.len = VARSIZE_ANY_EXHDR(v);
	r.pos = 0;
	r.errcode = ERRCODE_DATA_CORRUPTED;
	(void) DecodeHeader(&r, b);
}

/*
 * The header and the active days of the behavior behind a datum into *b,
 * not its features (checked as Decode checks them): what the readers of
 * days alone (the managed analyses' cells) need.
 */
const Behavior *
BehaviorDaysFromDatum(Datum d, Behavior *tmp)
{
	struct varlena *v;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
		return BehaviorFromDatum(d, tmp);
	v = PG_DETOAST_DATUM_PACKED(d);
	BehaviorInit(tmp, CurrentMemoryContext);
	Decode((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), tmp, ERRCODE_DATA_CORRUPTED, true);
	return tmp;
}

/* The flat form of a datum, without decoding it when it is already flat */
static struct varlena *
FlatFromDatum(Datum d)
{
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		Behavior	tmp;

		/* an expanded behavior comes back compacted: encoding it changes nothing */
		return (struct varlena *) DatumGetPointer(BehaviorGetDatum(unconstify(Behavior *, BehaviorFromDatum(d, &tmp))));
	}
	return PG_DETOAST_DATUM_PACKED(d);
}

/* ---------- I/O ---------- */

static inline int
HexDigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Text input: "\x" followed by the hex of the body */
PG_FUNCTION_INFO_V1(behavior_in);
Datum
behavior_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		slen = strlen(str);
	size_t		len,
				i;
	uint8	   *body;

	if (slen < 2 || str[0] != '\\' || str[1] != 'x' || slen % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type behavior"),
				 errdetail("A behavior is written as \\x followed by an even number of hex digits.")));
	len = (slen - 2) / 2;
	body = palloc(Max(len, 1));
	for (i = 0; i < len; i++)
	{
		int			hi = HexDigit(str[2 + 2 * i]);
		int			lo = HexDigit(str[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type behavior"),
					 errdetail("Invalid hex digit at position %zu.", 2 + 2 * i + (hi < 0 ? 1 : 2))));
		body[i] = (uint8) (hi << 4 | lo);
	}
	PG_RETURN_DATUM(FlatFromBody(body, len, ERRCODE_INVALID_TEXT_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(behavior_out);
Datum
behavior_out(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	struct varlena *v = FlatFromDatum(PG_GETARG_DATUM(0));
	const uint8 *body = (const uint8 *) VARDATA_ANY(v);
	size_t		len = VARSIZE_ANY_EXHDR(v);
	char	   *out = palloc(3 + 2 * len);
	size_t		i;

	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < len; i++)
	{
		out[2 + 2 * i] = hex[body[i] >> 4];
		out[3 + 2 * i] = hex[body[i] & 0xF];
	}
	out[2 + 2 * len] = '\0';
	PG_RETURN_CSTRING(out);
}

/* Binary input: the body bytes, validated like text input */
PG_FUNCTION_INFO_V1(behavior_recv);
Datum
behavior_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *body = pq_getmsgbytes(buf, len);

	PG_RETURN_DATUM(FlatFromBody((const uint8 *) body, len,
								 ERRCODE_INVALID_BINARY_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(behavior_send);
Datum
behavior_send(PG_FUNCTION_ARGS)
{
	struct varlena *v = FlatFromDatum(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
