/*
 * analyses.c
 *		The counts behind the managed analyses (retention_matrix, lifecycle,
 *		stickiness: sql/75-analyses-managed.sql).  _analysis_cells is an
 *		aggregate over users: each row is one user's stored behavior, their
 *		current segment in each scheme and the stays they left (from
 *		transitions); it counts, per period kind (day, week, month), scheme
 *		and segment at the period's start, the users of every retention
 *		cohort, offset and last offset, of every lifecycle status and of
 *		every number of active days (of the periods since analysis_horizon).
 *		Refresh keeps its cells (counting every user or, incremental, the
 *		users whose cells can change, once as of the refresh before to take
 *		theirs out and once as of this one), and the analyses read them, so
 *		that no call reads every behavior.  Its state is a real type,
 *		_analysis_cells_state, not internal, so that parallel plans and
 *		Citus can split it (Citus ships states between nodes through the
 *		type's text form and refuses internal ones: doc/citus-distribution.md,
 *		A1); in an aggregate it is a read-write expanded object updated in
 *		place, with a memory context of its own.
 *
 * A user's segment in a scheme at time t is the stay in force then, else the
 * first one they entered after it, else (unknown).  Stays follow each other
 * (each ends where the next begins), so that is the stay that ends first
 * after t: of the stays that ended, the one that ended first after t, else
 * the current one.
 */
#include "postgres.h"

#include "behavior.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/expandeddatum.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* what a cell counts, and what its k is */
typedef enum CellKind
{
	CELL_COHORT,				/* the users of a cohort (k 0) */
	CELL_RETAINED,				/* ... active in the period k after it */
	CELL_LAST,					/* ... whose last active period is k after it */
	CELL_STATUS,				/* the users of a status in a period: k 0 new,
								 * 1 returning, 2 resurrecting, 3 dormant */
	CELL_DAYS					/* the users active on k days of a period */
} CellKind;

typedef struct CellKey
{
	int32		start;			/* the first day of the period (cohort) */
	int32		k;
	int32		segment;		/* index into the state's names */
	int16		scheme;			/* 0: every user together (counted only when no
								 * scheme is given: each scheme's segments add
								 * up to it); i: the i-th scheme */
	int8		period;			/* PeriodKind */
	int8		kind;			/* CellKind */
} CellKey;

typedef struct Cell
{
	CellKey		key;
	int64		users;
	char		status;			/* simplehash's */
} Cell;

/*
 * Random per process (set by the first state): a state's text form is
 * anyone's to write, so its cells' keys and its segment names may be chosen
 * to collide under a fixed hash, which would make decoding it quadratic
 * (both hashes take it: NameIndex's too, review 33)
 */
static uint64 cell_hash_seed = 0;

static inline uint32
CellHash(CellKey key)
{
	uint64		x = (((uint64) (uint32) key.start | ((uint64) (uint32) key.k << 32)) ^ cell_hash_seed) *
		UINT64CONST(0x9E3779B97F4A7C15);

	x ^= (uint64) (uint32) key.segment | ((uint64) (uint16) key.scheme << 32) |
		((uint64) (uint8) key.period << 48) | ((uint64) (uint8) key.kind << 56);
	x ^= x >> 32;
	x *= UINT64CONST(0xD6E8FEB86659FD93);
	x ^= x >> 32;
	return (uint32) x;
}

#define SH_PREFIX cells
#define SH_ELEMENT_TYPE Cell
#define SH_KEY_TYPE CellKey
#define SH_KEY key
#define SH_HASH_KEY(tb, key) CellHash(key)
#define SH_EQUAL(tb, a, b) ((a).start == (b).start && (a).k == (b).k && (a).segment == (b).segment && \
							(a).scheme == (b).scheme && (a).period == (b).period && (a).kind == (b).kind)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* names[NAME_ALL] and names[NAME_UNKNOWN] */
#define NAME_ALL 0
#define NAME_UNKNOWN 1
#define MAX_SCHEMES 10000

typedef struct NameSlot
{
	uint32		hash;
	int32		first;			/* the first name of this hash (next[] chains) */
} NameSlot;

/* what the arguments that are the same on every row ask for */
typedef struct AnalysisConfig
{
	int32		nschemes;
	int32		nretention;
	int32		nother;
	int32		retention[3];	/* the periods (PeriodKind) of retention cells */
	int32		other[3];		/* ... of lifecycle and stickiness cells */
	int32		as_of_day;
	int32		since_day;		/* cells of periods that start before its period are not counted */
	int32		start_feature;
	int32		return_feature;
} AnalysisConfig;

/* the flat form's first byte, and the expanded object's mark */
#define CELLS_STATE_VERSION 1
#define CELLS_STATE_MAGIC 0x5E6B0A01

typedef struct AnalysisState
{
	ExpandedObjectHeader hdr;
	int32		magic;
	MemoryContext cxt;			/* its own (the expanded object's): cells and names */
	MemoryContext rowcxt;		/* one user's work, reset after each row */
	AnalysisConfig c;
	int32		nschemes;		/* (c's, at hand) */
	text	  **schemes;		/* their names (a state made by the transition
								 * function; NULL in one decoded or combined) */
	int32		start_feature;
	int32		return_feature;
	int32		last_start[3];	/* per PeriodKind: the first day of as_of's period */
	int64		last_index[3];
	int32		since_start[3];	/* ... of since_day's period */
	cells_hash *cells;
	HTAB	   *name_index;		/* hash of a name -> NameSlot */
	int32		nnames;
	int32		maxnames;
	text	  **names;
	int32	   *next;
} AnalysisState;

/* one user's stays in one scheme that ended: end times ascending, segments */
typedef struct Stays
{
	int			n;
	TimestampTz *ends;
	int32	   *segments;
	int32		current;		/* the current segment, or -1 */
} Stays;

/* Consecutive periods have consecutive indexes (as _period_index's) */
static int64
PeriodIndex(PeriodKind kind, int32 start)
{
	int			y,
				m,
				d;

	if (kind == PERIOD_DAY)
		return start;
	if (kind == PERIOD_WEEK)
		return ((int64) start - 2 - ((((int64) start - 2) % 7 + 7) % 7)) / 7;
	j2date(start + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return (int64) y * 12 + m - 1;
}

static int32
NameIndex(AnalysisState *st, const char *s, int len)
{
	/* (seeded: lookup3 unseeded is invertible, so names of one hash are free to make) */
	uint32		h = (uint32) hash_bytes_extended((const unsigned char *) s, len, cell_hash_seed);
	bool		found;
	NameSlot   *slot = hash_search(st->name_index, &h, HASH_ENTER, &found);
	int32		i;

	if (found)
		for (i = slot->first; i >= 0; i = st->next[i])
			if ((int) VARSIZE_ANY_EXHDR(st->names[i]) == len && memcmp(VARDATA_ANY(st->names[i]), s, len) == 0)
				return i;
	if (st->nnames == st->maxnames)
	{
		st->maxnames *= 2;
		st->names = repalloc(st->names, st->maxnames * sizeof(text *));
		st->next = repalloc(st->next, st->maxnames * sizeof(int32));
	}
	i = st->nnames++;
	st->names[i] = (text *) MemoryContextAlloc(st->cxt, VARHDRSZ + len);
	SET_VARSIZE(st->names[i], VARHDRSZ + len);
	memcpy(VARDATA(st->names[i]), s, len);
	st->next[i] = found ? slot->first : -1;
	slot->first = i;
	return i;
}

/* The elements of a text[] period argument: day, week, month, each once */
static int
PeriodsArg(FunctionCallInfo fcinfo, int argno, const char *argname, int32 *out)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				j;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", argname)));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_ELEMTYPE(a) != TEXTOID || ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a one-dimensional text[]", argname)));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" names a period more than once", argname)));
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not hold NULL", argname)));
		s = TextDatumGetCString(elems[i]);
		if (strcmp(s, "day") == 0)
			out[i] = PERIOD_DAY;
		else if (strcmp(s, "week") == 0)
			out[i] = PERIOD_WEEK;
		else if (strcmp(s, "month") == 0)
			out[i] = PERIOD_MONTH;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" must hold day, week or month", argname),
					 errdetail("Got \"%s\".", s)));
		for (j = 0; j < i; j++)
			if (out[j] == out[i])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("argument \"%s\" names a period more than once", argname)));
	}
	return n;
}

/* a text[] or timestamptz[] or int4[] argument's elements, checked */
static int
ArrayArg(FunctionCallInfo fcinfo, int argno, const char *argname, Oid type, Datum **elems, bool **nulls)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	int16		len;
	bool		byval;
	char		align;
	int			n;

	if (ARR_ELEMTYPE(a) != type || ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a one-dimensional %s[]", argname, format_type_be(type))));
	get_typlenbyvalalign(type, &len, &byval, &align);
	deconstruct_array(a, type, len, byval, align, elems, nulls, &n);
	return n;
}

/* A config is what StateCreate makes of arguments, or an error */
static void
ConfigCheck(const AnalysisConfig *c)
{
	int			list,
				i,
				j;

	if (c->nschemes < 0 || c->nschemes > MAX_SCHEMES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"nschemes\" must be between 0 and %d", MAX_SCHEMES)));
	if (c->nretention < 0 || c->nretention > 3 || c->nother < 0 || c->nother > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments \"retention_periods\" and \"other_periods\" name each period at most once")));
	for (list = 0; list < 2; list++)
	{
		const int32 *v = list ? c->other : c->retention;
		int			n = list ? c->nother : c->nretention;

		for (i = 0; i < n; i++)
		{
			if (v[i] < PERIOD_DAY || v[i] > PERIOD_MONTH)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a period must be day, week or month")));
			for (j = 0; j < i; j++)
				if (v[j] == v[i])
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("argument \"%s\" names a period more than once",
									list ? "other_periods" : "retention_periods")));
		}
	}
	if (c->as_of_day < BehaviorDayOf(MIN_TIMESTAMP) || c->as_of_day > BehaviorDayOf(END_TIMESTAMP - 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"as_of\" must be a finite timestamp")));
	if (c->since_day < BehaviorDayOf(MIN_TIMESTAMP) || c->since_day > c->as_of_day)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"since\" must be a finite timestamp no later than as_of")));
	if (c->start_feature < -1 || c->return_feature < -1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments \"start_feature\" and \"return_feature\" must be feature ids or -1 (any event)")));
	if (c->nother > 0 && (c->start_feature != BEHAVIOR_ANY_FEATURE || c->return_feature != BEHAVIOR_ANY_FEATURE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lifecycle and stickiness cells count any event: start_feature and return_feature must be -1")));
}

static const ExpandedObjectMethods CellsMethods;

/* An empty state for a checked config: an expanded object in a context of its own under parent */
static AnalysisState *
StateNew(MemoryContext parent, const AnalysisConfig *c)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "analysis cells", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	AnalysisState *st = palloc0(sizeof(AnalysisState));
	HASHCTL		ctl;
	int			k;

	if (cell_hash_seed == 0)
		cell_hash_seed = pg_prng_uint64(&pg_global_prng_state) | 1;
	EOH_init_header(&st->hdr, &CellsMethods, cxt);
	st->magic = CELLS_STATE_MAGIC;
	st->c = *c;
	st->nschemes = c->nschemes;
	st->start_feature = c->start_feature;
	st->return_feature = c->return_feature;
	for (k = PERIOD_DAY; k <= PERIOD_MONTH; k++)
	{
		int64		start,
					next;

		PeriodBounds((PeriodKind) k, c->as_of_day, &start, &next);
		st->last_start[k] = (int32) start;
		st->last_index[k] = PeriodIndex((PeriodKind) k, (int32) start);
		PeriodBounds((PeriodKind) k, c->since_day, &start, &next);
		st->since_start[k] = (int32) start;
	}
	st->cxt = cxt;
	st->rowcxt = AllocSetContextCreate(cxt, "analysis cells row", ALLOCSET_DEFAULT_SIZES);
	st->cells = cells_create(cxt, 1024, NULL);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(NameSlot);
	ctl.hcxt = cxt;
	st->name_index = hash_create("analysis segment names", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	st->maxnames = 16;
	st->names = palloc(st->maxnames * sizeof(text *));
	st->next = palloc(st->maxnames * sizeof(int32));
	NameIndex(st, "(all)", 5);
	NameIndex(st, "(unknown)", 9);
	MemoryContextSwitchTo(old);
	return st;
}

/* The state, from the arguments that are the same on every row */
static AnalysisState *
StateCreate(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	AnalysisConfig c;
	AnalysisState *st;
	TimestampTz as_of;
	Datum	   *schemes;
	bool	   *nulls;
	int			i;

	memset(&c, 0, sizeof(c));
	if (PG_ARGISNULL(6) || PG_ARGISNULL(7) || PG_ARGISNULL(10) || PG_ARGISNULL(11) || PG_ARGISNULL(12))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"schemes\", \"as_of\", \"start_feature\", \"return_feature\" and \"since\" must not be NULL")));
	c.nschemes = ArrayArg(fcinfo, 6, "schemes", TEXTOID, &schemes, &nulls);
	for (i = 0; i < c.nschemes; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"schemes\" must not hold NULL")));
	as_of = PG_GETARG_TIMESTAMPTZ(7);
	CheckTimestampArg(as_of, "as_of");
	c.as_of_day = BehaviorDayOf(as_of);
	c.nretention = PeriodsArg(fcinfo, 8, "retention_periods", c.retention);
	c.nother = PeriodsArg(fcinfo, 9, "other_periods", c.other);
	c.start_feature = PG_GETARG_INT32(10);
	c.return_feature = PG_GETARG_INT32(11);
	CheckTimestampArg(PG_GETARG_TIMESTAMPTZ(12), "since");
	c.since_day = BehaviorDayOf(PG_GETARG_TIMESTAMPTZ(12));
	ConfigCheck(&c);
	st = StateNew(aggcxt, &c);
	st->schemes = MemoryContextAlloc(st->cxt, Max(c.nschemes, 1) * sizeof(text *));
	for (i = 0; i < c.nschemes; i++)
		st->schemes[i] = (text *) MemoryContextAlloc(st->cxt, VARSIZE_ANY(DatumGetPointer(schemes[i])));
	for (i = 0; i < c.nschemes; i++)
		memcpy(st->schemes[i], DatumGetPointer(schemes[i]), VARSIZE_ANY(DatumGetPointer(schemes[i])));
	return st;
}

static inline void
CellAdd(AnalysisState *st, PeriodKind period, int scheme, int32 segment, CellKind kind, int32 start, int64 k)
{
	CellKey		key;
	Cell	   *c;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.start = start;
	key.k = (int32) k;
	key.segment = segment;
	key.scheme = (int16) scheme;
	key.period = (int8) period;
	key.kind = (int8) kind;
	c = cells_insert(st->cells, key, &found);
	if (!found)
		c->users = 0;
	c->users++;
}

/* The user's segment in scheme s (0: (all)) at the first instant of day */
static int32
SegmentAt(const Stays *stays, int s, int32 day)
{
	const Stays *x;
	TimestampTz t = (TimestampTz) day * USECS_PER_DAY;
	int			lo = 0,
				hi;

	if (s == 0)
		return NAME_ALL;
	x = &stays[s - 1];
	/* the first stay that ended after t */
	hi = x->n;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (x->ends[mid] > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < x->n)
		return x->segments[lo];
	return x->current >= 0 ? x->current : NAME_UNKNOWN;
}

/*
 * The user's stays per scheme: the current one (from profiles.segments), and
 * the stays that ended, each with its end and scheme number, in the order
 * they ended (ties: in the order they were entered).
 */
static Stays *
UserStays(AnalysisState *st, FunctionCallInfo fcinfo)
{
	Stays	   *stays = palloc0(Max(st->nschemes, 1) * sizeof(Stays));
	Datum	   *at,
			   *sch,
			   *from;
	bool	   *atnull,
			   *schnull,
			   *fromnull;
	int			n,
				i;

	for (i = 0; i < st->nschemes; i++)
		stays[i].current = -1;
	/* profiles.segments: {"scheme": ["segment", "entered_at"], ...} */
	if (!PG_ARGISNULL(2))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(2);

		if (!JB_ROOT_IS_OBJECT(jb))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"segments\" must be a JSON object")));
		for (i = 0; i < st->nschemes; i++)
		{
			JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, VARDATA_ANY(st->schemes[i]),
														 VARSIZE_ANY_EXHDR(st->schemes[i]), NULL);
			JsonbValue *seg = NULL;

			if (v == NULL)
				continue;
			if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
				seg = getIthJsonbValueFromContainer(v->val.binary.data, 0);
			if (seg == NULL || seg->type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("argument \"segments\" must map each scheme to [segment, entered_at]")));
			stays[i].current = NameIndex(st, seg->val.string.val, seg->val.string.len);
		}
	}
	if (PG_ARGISNULL(3) && PG_ARGISNULL(4) && PG_ARGISNULL(5))
		return stays;
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"ended_at\", \"ended_scheme\" and \"ended_segment\" must be all NULL or none")));
	n = ArrayArg(fcinfo, 3, "ended_at", TIMESTAMPTZOID, &at, &atnull);
	if (ArrayArg(fcinfo, 4, "ended_scheme", INT4OID, &sch, &schnull) != n ||
		ArrayArg(fcinfo, 5, "ended_segment", TEXTOID, &from, &fromnull) != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments \"ended_at\", \"ended_scheme\" and \"ended_segment\" must have as many elements")));
	for (i = 0; i < n; i++)
	{
		int32		s;

		if (atnull[i] || schnull[i] || fromnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments \"ended_at\", \"ended_scheme\" and \"ended_segment\" must not hold NULL")));
		s = DatumGetInt32(sch[i]);
		if (s < 1 || s > st->nschemes)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"ended_scheme\" must hold scheme numbers from 1 to %d", st->nschemes)));
		if (i > 0 && DatumGetTimestampTz(at[i]) < DatumGetTimestampTz(at[i - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"ended_at\" must be in ascending order")));
		stays[s - 1].n++;
	}
	for (i = 0; i < st->nschemes; i++)
	{
		stays[i].ends = palloc(Max(stays[i].n, 1) * sizeof(TimestampTz));
		stays[i].segments = palloc(Max(stays[i].n, 1) * sizeof(int32));
		stays[i].n = 0;
	}
	for (i = 0; i < n; i++)
	{
		Stays	   *x = &stays[DatumGetInt32(sch[i]) - 1];

		x->ends[x->n] = DatumGetTimestampTz(at[i]);
		x->segments[x->n] = NameIndex(st, VARDATA_ANY(DatumGetPointer(from[i])),
									  VARSIZE_ANY_EXHDR(DatumGetPointer(from[i])));
		x->n++;
	}
	return stays;
}

/*
 * Retention: the cohort is the first period with an active day of the start
 * feature; the user is retained at each offset k >= 0 with an active day of
 * the return feature, and their last such offset counts for unbounded.
 */
static void
AddRetention(AnalysisState *st, const Behavior *b, const Stays *stays, PeriodKind kind)
{
	int32	   *rstarts,
			   *rdays,
			   *cstarts,
			   *cdays;
	int			nr = ActivePeriods(b, kind, st->return_feature, &rstarts, &rdays);
	int			nc = st->start_feature == st->return_feature ? nr
		: ActivePeriods(b, kind, st->start_feature, &cstarts, &cdays);
	int32		cohort;
	int64		ci,
				kmax;
	int			s,
				i;

	if (st->start_feature == st->return_feature)
		cstarts = rstarts;
	if (nc == 0 || cstarts[0] > st->last_start[kind] || cstarts[0] < st->since_start[kind])
		return;
	cohort = cstarts[0];
	ci = PeriodIndex(kind, cohort);
	for (s = st->nschemes > 0; s <= st->nschemes; s++)
	{
		int32		seg = SegmentAt(stays, s, cohort);

		kmax = -1;
		CellAdd(st, kind, s, seg, CELL_COHORT, cohort, 0);
		for (i = 0; i < nr && rstarts[i] <= st->last_start[kind]; i++)
		{
			if (rstarts[i] < cohort)
				continue;
			kmax = PeriodIndex(kind, rstarts[i]) - ci;
			CellAdd(st, kind, s, seg, CELL_RETAINED, cohort, kmax);
		}
		if (kmax >= 0)
			CellAdd(st, kind, s, seg, CELL_LAST, cohort, kmax);
	}
}

/*
 * Lifecycle and stickiness: in each period with an active day, new (the
 * first), returning (active in the one before) or resurrecting, and the
 * days active; in the period after one with an active day, when it has none
 * and has begun, dormant.
 */
static void
AddLifecycle(AnalysisState *st, const Behavior *b, const Stays *stays, PeriodKind kind)
{
	int32	   *starts,
			   *days;
	int			n = ActivePeriods(b, kind, BEHAVIOR_ANY_FEATURE, &starts, &days);
	int			i,
				s;

	for (i = 0; i < n && starts[i] <= st->last_start[kind]; i++)
	{
		int64		pi = PeriodIndex(kind, starts[i]);
		int			status = i == 0 ? 0 : PeriodIndex(kind, starts[i - 1]) == pi - 1 ? 1 : 2;
		bool		dormant_next = (i + 1 == n || PeriodIndex(kind, starts[i + 1]) > pi + 1) &&
			pi + 1 <= st->last_index[kind];
		int64		first,
					next = 0;

		if (dormant_next)
			PeriodBounds(kind, starts[i], &first, &next);
		for (s = st->nschemes > 0; s <= st->nschemes; s++)
		{
			if (starts[i] >= st->since_start[kind])
			{
				int32		seg = SegmentAt(stays, s, starts[i]);

				CellAdd(st, kind, s, seg, CELL_STATUS, starts[i], status);
				CellAdd(st, kind, s, seg, CELL_DAYS, starts[i], days[i]);
			}
			if (dormant_next && next >= st->since_start[kind])
				CellAdd(st, kind, s, SegmentAt(stays, s, (int32) next), CELL_STATUS, (int32) next, 3);
		}
	}
}

/* ---------- the state: flat form, expanded object, arguments ---------- */

/*
 * The flat form (the type's binary form; its text form is \x and the hex
 * of it): u8 version | i32 nschemes | i32 nretention, its periods | i32
 * nother, its periods | i32 as_of_day, since_day, start_feature,
 * return_feature | i32 nnames, each: i32 length, bytes | i64 ncells, each:
 * i32 start, i32 k, i32 segment, i16 scheme, i8 period, i8 kind, i64 users;
 * network byte order
 */
static int64
StateFlatSize(const AnalysisState *st)
{
	int64		size = 1 + 4 + 4 + 4 * st->c.nretention + 4 + 4 * st->c.nother + 16 + 4 + 8 +
		(int64) st->cells->members * 24;
	int			i;

	for (i = 0; i < st->nnames; i++)
		size += 4 + VARSIZE(st->names[i]) - VARHDRSZ;
	if (size > (int64) (MaxAllocSize - VARHDRSZ))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many analysis cells to pass on: the state would take %lld bytes", (long long) size),
				 errhint("Lower the setting analysis_horizon.")));
	return size;
}

static void
StateWrite(const AnalysisState *st, StringInfo buf)
{
	cells_iterator it;
	Cell	   *c;
	int			i;

	pq_sendbyte(buf, CELLS_STATE_VERSION);
	pq_sendint32(buf, st->c.nschemes);
	pq_sendint32(buf, st->c.nretention);
	for (i = 0; i < st->c.nretention; i++)
		pq_sendint32(buf, st->c.retention[i]);
	pq_sendint32(buf, st->c.nother);
	for (i = 0; i < st->c.nother; i++)
		pq_sendint32(buf, st->c.other[i]);
	pq_sendint32(buf, st->c.as_of_day);
	pq_sendint32(buf, st->c.since_day);
	pq_sendint32(buf, st->c.start_feature);
	pq_sendint32(buf, st->c.return_feature);
	pq_sendint32(buf, st->nnames);
	for (i = 0; i < st->nnames; i++)
	{
		pq_sendint32(buf, VARSIZE(st->names[i]) - VARHDRSZ);
		pq_sendbytes(buf, VARDATA(st->names[i]), VARSIZE(st->names[i]) - VARHDRSZ);
	}
	pq_sendint64(buf, (int64) st->cells->members);
	cells_start_iterate(st->cells, &it);
	while ((c = cells_iterate(st->cells, &it)) != NULL)
	{
		pq_sendint32(buf, c->key.start);
		pq_sendint32(buf, c->key.k);
		pq_sendint32(buf, c->key.segment);
		pq_sendint16(buf, c->key.scheme);
		pq_sendint8(buf, c->key.period);
		pq_sendint8(buf, c->key.kind);
		pq_sendint64(buf, c->users);
	}
}

static Size
CellsGetFlatSize(ExpandedObjectHeader *eohptr)
{
	return VARHDRSZ + (Size) StateFlatSize((AnalysisState *) eohptr);
}

static void
CellsFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	StateWrite((AnalysisState *) eohptr, &buf);
	if ((Size) buf.len != allocated_size)
		elog(ERROR, "_analysis_cells_state flat size changed while flattening");
	memcpy(result, buf.data, allocated_size);
	SET_VARSIZE(result, allocated_size);
	pfree(buf.data);
}

static const ExpandedObjectMethods CellsMethods = {CellsGetFlatSize, CellsFlattenInto};

static void
CellsBad(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid _analysis_cells_state value (the state of _analysis_cells)"),
			 errdetail("%s", detail)));
}

/* bytes left in buf: at least n, or an error */
static void
CellsNeed(StringInfo buf, int64 n)
{
	if (n > (int64) (buf->len - buf->cursor))
		CellsBad("The value ends too early.");
}

/*
 * The flat form (len bytes at p) as a new state under parent, every field
 * checked: what it decodes takes time and memory in proportion to len
 */
static AnalysisState *
StateRead(MemoryContext parent, const char *p, int len)
{
	StringInfoData buf;
	AnalysisConfig c;
	AnalysisState *st;
	int32		nnames,
			   *map;
	int64		ncells,
				i;

	buf.data = (char *) p;
	buf.len = len;
	buf.maxlen = len;
	buf.cursor = 0;
	memset(&c, 0, sizeof(c));
	CellsNeed(&buf, 1 + 8);
	if (pq_getmsgbyte(&buf) != CELLS_STATE_VERSION)
		CellsBad("Unknown version.");
	c.nschemes = pq_getmsgint(&buf, 4);
	c.nretention = pq_getmsgint(&buf, 4);
	if (c.nretention < 0 || c.nretention > 3)
		CellsBad("The number of retention periods is out of range.");
	CellsNeed(&buf, 4 * c.nretention + 4);
	for (i = 0; i < c.nretention; i++)
		c.retention[i] = pq_getmsgint(&buf, 4);
	c.nother = pq_getmsgint(&buf, 4);
	if (c.nother < 0 || c.nother > 3)
		CellsBad("The number of other periods is out of range.");
	CellsNeed(&buf, 4 * c.nother + 16 + 4);
	for (i = 0; i < c.nother; i++)
		c.other[i] = pq_getmsgint(&buf, 4);
	c.as_of_day = pq_getmsgint(&buf, 4);
	c.since_day = pq_getmsgint(&buf, 4);
	c.start_feature = pq_getmsgint(&buf, 4);
	c.return_feature = pq_getmsgint(&buf, 4);
	ConfigCheck(&c);
	nnames = pq_getmsgint(&buf, 4);
	/* (the first two are (all) and (unknown), as in every state; a name takes 4 bytes at least) */
	if (nnames < 2 || nnames > (buf.len - buf.cursor) / 4)
		CellsBad("The number of segment names is out of range.");
	st = StateNew(parent, &c);
	map = MemoryContextAlloc(st->rowcxt, nnames * sizeof(int32));
	for (i = 0; i < nnames; i++)
	{
		int32		nlen;
		const char *name;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		CellsNeed(&buf, 4);
		nlen = pq_getmsgint(&buf, 4);
		if (nlen < 0)
			CellsBad("A segment name has a negative length.");
		CellsNeed(&buf, nlen);
		name = pq_getmsgbytes(&buf, nlen);
		/* (names come out as text: in the database's encoding, no NUL) */
		if (!pg_verifymbstr(name, nlen, true))
			CellsBad("A segment name is not valid text in the database's encoding.");
		map[i] = NameIndex(st, name, nlen);
	}
	if (map[0] != NAME_ALL || map[1] != NAME_UNKNOWN)
		CellsBad("The first segment names must be (all) and (unknown).");
	CellsNeed(&buf, 8);
	ncells = pq_getmsgint64(&buf);
	if (ncells < 0 || ncells != (buf.len - buf.cursor) / 24 || (buf.len - buf.cursor) % 24 != 0)
		CellsBad("The number of cells does not match the length.");
	for (i = 0; i < ncells; i++)
	{
		CellKey		key;
		Cell	   *d;
		int64		users;
		bool		found;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		memset(&key, 0, sizeof(key));
		key.start = pq_getmsgint(&buf, 4);
		key.k = pq_getmsgint(&buf, 4);
		key.segment = pq_getmsgint(&buf, 4);
		key.scheme = pq_getmsgint(&buf, 2);
		key.period = pq_getmsgint(&buf, 1);
		key.kind = pq_getmsgint(&buf, 1);
		users = pq_getmsgint64(&buf);
		if (key.segment < 0 || key.segment >= nnames || key.scheme < 0 || key.scheme > c.nschemes ||
			key.period < PERIOD_DAY || key.period > PERIOD_MONTH || key.kind < CELL_COHORT ||
			key.kind > CELL_DAYS || key.k < 0 || users < 1 ||
			key.start < BehaviorDayOf(MIN_TIMESTAMP) || key.start > BehaviorDayOf(END_TIMESTAMP - 1))
			CellsBad("A cell is out of range.");
		key.segment = map[key.segment];
		d = cells_insert(st->cells, key, &found);
		if (!found)
			d->users = 0;
		if (pg_add_s64_overflow(d->users, users, &d->users))
			CellsBad("A cell counts more users than a bigint holds.");
	}
	pq_getmsgend(&buf);
	MemoryContextReset(st->rowcxt);
	return st;
}

/* the state of argument argno to read: the expanded object, or a flat one decoded under cxt (*decoded) */
static AnalysisState *
StateArg(FunctionCallInfo fcinfo, int argno, MemoryContext cxt, bool *decoded)
{
	Datum		d = PG_GETARG_DATUM(argno);
	struct varlena *v;

	*decoded = !VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d));
	if (!*decoded)
	{
		AnalysisState *st = (AnalysisState *) DatumGetEOHP(d);

		if (st->magic != CELLS_STATE_MAGIC)
			elog(ERROR, "expanded object is not an _analysis_cells_state");
		return st;
	}
	v = PG_DETOAST_DATUM_PACKED(d);
	return StateRead(cxt, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

/* argument argno, when it is a read-write expanded state of ours (the aggregate's own, to update), else NULL */
static AnalysisState *
StateOwnArg(FunctionCallInfo fcinfo, int argno)
{
	AnalysisState *st;

	if (PG_ARGISNULL(argno) || !DatumIsReadWriteExpandedObject(PG_GETARG_DATUM(argno), false, -1))
		return NULL;
	st = (AnalysisState *) DatumGetEOHP(PG_GETARG_DATUM(argno));
	if (st->magic != CELLS_STATE_MAGIC)
		elog(ERROR, "aggregate state is not an _analysis_cells_state");
	return st;
}

/* Adds the cells of src to dst (the same config), its names mapped to dst's */
static void
StateMerge(AnalysisState *dst, const AnalysisState *src)
{
	int32	   *map = palloc(src->nnames * sizeof(int32));
	cells_iterator it;
	Cell	   *c;
	int			i;

	if (memcmp(&dst->c, &src->c, sizeof(AnalysisConfig)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("_analysis_cells: states of different arguments cannot be combined")));
	for (i = 0; i < src->nnames; i++)
		map[i] = NameIndex(dst, VARDATA(src->names[i]), VARSIZE(src->names[i]) - VARHDRSZ);
	cells_start_iterate(src->cells, &it);
	while ((c = cells_iterate(src->cells, &it)) != NULL)
	{
		CellKey		key = c->key;
		Cell	   *d;
		bool		found;

		key.segment = map[key.segment];
		d = cells_insert(dst->cells, key, &found);
		if (!found)
			d->users = 0;
		if (pg_add_s64_overflow(d->users, c->users, &d->users))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("_analysis_cells: a cell counts more users than a bigint holds")));
	}
	pfree(map);
}

static MemoryContext
CellsAggContext(FunctionCallInfo fcinfo, const char *what)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called outside an aggregate", what)));
	return aggcxt;
}

/* ---------- the aggregate ---------- */

/*
 * _analysis_cells_trans(state, behavior, segments jsonb, ended_at
 * timestamptz[], ended_scheme int[], ended_segment text[], schemes text[],
 * as_of, retention_periods text[], other_periods text[], start_feature,
 * return_feature, since): adds one user.  The last seven arguments must be
 * the same on every row (the first row's are used).  Cells of periods (and
 * cohorts) that start before since's are not counted: what an analysis
 * shows ends analysis_horizon back, so that events years apart cannot make
 * a refresh count more cells than that span holds.
 */
PG_FUNCTION_INFO_V1(analysis_cells_trans);
Datum
analysis_cells_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = CellsAggContext(fcinfo, "_analysis_cells_trans"),
				old;
	AnalysisState *st;
	Behavior	tmp;
	const Behavior *b;
	Stays	   *stays;
	int			i;

	if (PG_NARGS() != 13)
		elog(ERROR, "_analysis_cells_trans takes 13 arguments");
	st = StateOwnArg(fcinfo, 0);
	if (st == NULL || st->schemes == NULL)
	{
		/* the first row; or a state not made here: a new one, its cells added */
		AnalysisState *given = NULL;
		bool		decoded = false;

		if (!PG_ARGISNULL(0))
			given = st ? st : StateArg(fcinfo, 0, CurrentMemoryContext, &decoded);
		st = StateCreate(fcinfo, aggcxt);
		if (given)
			StateMerge(st, given);
		if (decoded)
			MemoryContextDelete(given->cxt);
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
	old = MemoryContextSwitchTo(st->rowcxt);
	/* (counts of any event read the active days alone) */
	b = st->start_feature == BEHAVIOR_ANY_FEATURE && st->return_feature == BEHAVIOR_ANY_FEATURE
		? BehaviorDaysFromDatum(PG_GETARG_DATUM(1), &tmp) : BehaviorFromDatum(PG_GETARG_DATUM(1), &tmp);
	stays = UserStays(st, fcinfo);
	for (i = 0; i < st->c.nretention; i++)
		AddRetention(st, b, stays, (PeriodKind) st->c.retention[i]);
	for (i = 0; i < st->c.nother; i++)
		AddLifecycle(st, b, stays, (PeriodKind) st->c.other[i]);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
	PG_RETURN_DATUM(EOHPGetRWDatum(&st->hdr));
}

/* _analysis_cells_combine(state, state): for parallel and distributed plans */
PG_FUNCTION_INFO_V1(analysis_cells_combine);
Datum
analysis_cells_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = CellsAggContext(fcinfo, "_analysis_cells_combine");
	AnalysisState *a,
			   *b;
	bool		decoded;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	/* the first partial state, flat (from another node): decoded straight into the new state */
	if (PG_ARGISNULL(0) && !VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(PG_GETARG_DATUM(1))))
		PG_RETURN_DATUM(EOHPGetRWDatum(&StateArg(fcinfo, 1, aggcxt, &decoded)->hdr));
	b = StateArg(fcinfo, 1, CurrentMemoryContext, &decoded);
	a = StateOwnArg(fcinfo, 0);
	if (a == NULL)
	{
		/* (a flat or read-only first state: copied, it may be another value's) */
		a = StateNew(aggcxt, &b->c);
		if (!PG_ARGISNULL(0))
		{
			bool		first_decoded;
			AnalysisState *first = StateArg(fcinfo, 0, CurrentMemoryContext, &first_decoded);

			StateMerge(a, first);
			if (first_decoded)
				MemoryContextDelete(first->cxt);
		}
	}
	StateMerge(a, b);
	if (decoded)
		MemoryContextDelete(b->cxt);
	PG_RETURN_DATUM(EOHPGetRWDatum(&a->hdr));
}

/*
 * _analysis_cells_final(state): the cells as a row of parallel arrays
 * (periods int2[]: 0 day, 1 week, 2 month; schemes int4[]: 0 every user,
 * i the i-th scheme; segments text[]; kinds int2[] (CellKind); starts
 * date[]; ks int4[]; users int8[]), in no particular order.
 */
PG_FUNCTION_INFO_V1(analysis_cells_final);
Datum
analysis_cells_final(PG_FUNCTION_ARGS)
{
	static const Oid types[7] = {INT2ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT2ARRAYOID, DATEARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	bool		decoded = false;
	AnalysisState *st = PG_ARGISNULL(0) ? NULL : StateArg(fcinfo, 0, CurrentMemoryContext, &decoded);
	TupleDesc	tupdesc;
	long		n = st ? (long) st->cells->members : 0;
	Datum	   *cols[7];
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	cells_iterator it;
	Cell	   *c;
	long		i = 0;
	int			j;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE || tupdesc->natts != 7)
		elog(ERROR, "_analysis_cells_final must return a row of seven arrays");
	for (j = 0; j < 7; j++)
	{
		if (TupleDescAttr(tupdesc, j)->atttypid != types[j])
			elog(ERROR, "_analysis_cells_final: column %d has the wrong type", j + 1);
		cols[j] = palloc(Max(n, 1) * sizeof(Datum));
	}
	tupdesc = BlessTupleDesc(tupdesc);
	if (st)
	{
		cells_start_iterate(st->cells, &it);
		while ((c = cells_iterate(st->cells, &it)) != NULL)
		{
			cols[0][i] = Int16GetDatum(c->key.period);
			cols[1][i] = Int32GetDatum(c->key.scheme);
			cols[2][i] = PointerGetDatum(st->names[c->key.segment]);
			cols[3][i] = Int16GetDatum(c->key.kind);
			cols[4][i] = DateADTGetDatum(c->key.start);
			cols[5][i] = Int32GetDatum(c->key.k);
			cols[6][i] = Int64GetDatum(c->users);
			i++;
		}
	}
	values[0] = PointerGetDatum(construct_array(cols[0], n, INT2OID, sizeof(int16), true, TYPALIGN_SHORT));
	values[1] = PointerGetDatum(construct_array(cols[1], n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(cols[2], n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(cols[3], n, INT2OID, sizeof(int16), true, TYPALIGN_SHORT));
	values[4] = PointerGetDatum(construct_array(cols[4], n, DATEOID, sizeof(DateADT), true, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(cols[5], n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(cols[6], n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (decoded)
		MemoryContextDelete(st->cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------- the type's input and output ---------- */

/* the flat form of argument 0 (an expanded one flattened) */
static bytea *
StateFlatArg(FunctionCallInfo fcinfo)
{
	Datum		d = PG_GETARG_DATUM(0);

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		AnalysisState *st = (AnalysisState *) DatumGetEOHP(d);
		StringInfoData buf;

		if (st->magic != CELLS_STATE_MAGIC)
			elog(ERROR, "expanded object is not an _analysis_cells_state");
		(void) StateFlatSize(st);
		pq_begintypsend(&buf);
		StateWrite(st, &buf);
		return pq_endtypsend(&buf);
	}
	return DatumGetByteaPP(d);
}

/* the flat form's len bytes at p, checked (decoded, then freed) */
static void
StateCheck(const char *p, int len)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "_analysis_cells_state check", ALLOCSET_DEFAULT_SIZES);

	(void) StateRead(cxt, p, len);
	MemoryContextDelete(cxt);
}

/* text form: \x and the hex of the flat form */
PG_FUNCTION_INFO_V1(analysis_cells_state_in);
Datum
analysis_cells_state_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	bytea	   *bytes;

	if (strlen(str) < 2 || str[0] != '\\' || str[1] != 'x')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type _analysis_cells_state"),
				 errdetail("An _analysis_cells_state is written \\x and hex digits.")));
	/* byteain checks the hex digits */
	bytes = DatumGetByteaPP(DirectFunctionCall1(byteain, CStringGetDatum(str)));
	StateCheck(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
	PG_RETURN_BYTEA_P(bytes);
}

PG_FUNCTION_INFO_V1(analysis_cells_state_out);
Datum
analysis_cells_state_out(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(byteaout, PointerGetDatum(StateFlatArg(fcinfo)));
}

PG_FUNCTION_INFO_V1(analysis_cells_state_recv);
Datum
analysis_cells_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			n = buf->len - buf->cursor;
	bytea	   *result = palloc(VARHDRSZ + n);

	SET_VARSIZE(result, VARHDRSZ + n);
	pq_copymsgbytes(buf, VARDATA(result), n);
	StateCheck(VARDATA(result), n);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(analysis_cells_state_send);
Datum
analysis_cells_state_send(PG_FUNCTION_ARGS)
{
	bytea	   *v = StateFlatArg(fcinfo);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}
