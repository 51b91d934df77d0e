/*
 * funnels.c
 *		The analysis aggregates over a group's event stream, with ClickHouse's
 *		semantics made deterministic: window_funnel, sequence_match,
 *		sequence_count and sequence_next_node (their shared event-list state,
 *		the type event_list: its combine function, its expanded form and its
 *		validated text and binary I/O), and retention_flags (a bigint state:
 *		a bit per condition).
 *
 * Determinism: every answer is a function of the set of rows of the group.
 * The transition functions only append; the final functions sort once by
 * (ts, the conditions a row matches in step order: a row matching condition
 * 1 before one that does not, then condition 2, ...), so neither the order
 * rows arrive in nor the way a parallel plan splits them can change a result.
 * A NULL condition is false; a NULL array is a row that matches nothing; a
 * row with a NULL ts is skipped.  doc/analyses.md states each semantics.
 *
 * Memory: window_funnel and the sequences keep only the rows that match some
 * condition (16 bytes each), except that window_funnel under strict_order
 * keeps every row (a row matching no step interrupts the chain there);
 * sequence_next_node keeps every row (the next node may match nothing).
 */
#include "postgres.h"

#include "behavior.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#ifndef UINT32CONST
#define UINT32CONST(x)		((uint32) x##U)
#endif

#define MAX_CONDS			32
#define STATE_VERSION		1
/* a pattern longer than this is refused; bounds the matcher's memory per event */
#define MAX_PATTERN_LEN		1024
/* events (?N) and . in a pattern: the match keeps a count per event and row (review 21, R21-2) */
#define MAX_PATTERN_EVENTS	64
/* (?t op seconds): seconds * 1e6 must fit in int64 */
#define MAX_PATTERN_SECONDS INT64CONST(9000000000000)

typedef enum ListKind
{
	KIND_FUNNEL = 1,
	KIND_SEQUENCE = 2,
	KIND_NEXT_NODE = 3
} ListKind;

/* window_funnel modes */
#define MODE_DEDUP			0x01	/* strict_deduplication */
#define MODE_ORDER			0x02	/* strict_order */
#define MODE_INCREASE		0x04	/* strict_increase */
#define MODE_ONCE			0x08	/* strict_once */
#define MODE_REENTRY		0x10	/* allow_reentry */
#define MODE_ALL			0x1F

/* sequence_next_node: direction in bit 0, base in bits 1-2 */
#define NN_BACKWARD			0x01
#define NN_HEAD				0x00
#define NN_TAIL				0x02
#define NN_FIRST_MATCH		0x04
#define NN_LAST_MATCH		0x06
#define NN_BASE_MASK		0x06

/* one kept row */
typedef struct Event
{
	TimestampTz ts;
	uint32		mask;			/* bit k-1: condition k held */
	uint32		aux;			/* sequence_next_node: index into values */
} Event;

/* sequence_next_node's value of one row */
typedef struct NodeValue
{
	int64		off;			/* into vbuf */
	int32		len;			/* -1: NULL */
	bool		base;			/* base_condition held */
} NodeValue;

/*
 * The state of window_funnel, the sequences and sequence_next_node: a value
 * of the SQL type event_list (a real type, not internal, so that Citus can
 * split the aggregates: it ships states between nodes through the type's
 * text form).  In an aggregate it is a read-write expanded object, appended
 * to in place, in the context all states of the aggregate context share
 * (aggregates.c says why); flat, it is the serialized form below.
 */
typedef struct EventList
{
	ExpandedObjectHeader hdr;	/* valid only in an aggregate's state */
	int32		magic;
	int32		kind;
	int32		nconds;			/* length of the arrays; 0 until one is seen */
	uint32		flags;			/* modes, or direction and base */
	int64		window;			/* window_funnel: microseconds */
	char	   *pattern;		/* sequence_*: the pattern's bytes */
	int32		patlen;
	int64		n;
	int64		cap;
	Event	   *ev;
	NodeValue  *nv;				/* sequence_next_node: cap entries */
	char	   *vbuf;
	int64		vlen;
	int64		vcap;
	MemoryContext cxt;
} EventList;

#define EVENT_LIST_MAGIC	0x5E6B0E01

/* the argument that holds the conditions, for messages */
static const char *
CondsArg(int kind)
{
	return kind == KIND_FUNNEL ? "steps" : "conds";
}

static const char *
KindName(int kind)
{
	switch (kind)
	{
		case KIND_FUNNEL:
			return "window_funnel";
		case KIND_SEQUENCE:
			return "sequence_match";
		default:
			return "sequence_next_node";
	}
}

/* ---------- argument checks ---------- */

static MemoryContext
AggContext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", fname)));
	return aggcxt;
}

/* Bits of a boolean[]: element k (from 1) sets bit k-1; NULL elements are false */
static uint32
ArrayMask(ArrayType *a, const char *argname, int32 *nitems)
{
	int			n;
	bits8	   *nulls;
	const bool *data;
	uint32		mask = 0;
	int			i;

	if (ARR_ELEMTYPE(a) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"%s\" must be a boolean array", argname)));
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname),
				 errdetail("It has %d dimensions.", ARR_NDIM(a))));
	n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	if (n < 1 || n > MAX_CONDS)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must have between 1 and %d conditions", argname, MAX_CONDS),
				 errdetail("It has %d.", n)));
	nulls = ARR_NULLBITMAP(a);
	/* ARR_DATA_PTR, without its signed/unsigned mix */
	data = (const bool *) ((const char *) a +
						   (ARR_HASNULL(a) ? (Size) a->dataoffset : (Size) ARR_OVERHEAD_NONULLS(ARR_NDIM(a))));
	for (i = 0; i < n; i++)
	{
		/* a NULL element takes no room in the data */
		if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
			continue;
		if (*data++)
			mask |= UINT32CONST(1) << i;
	}
	*nitems = n;
	return mask;
}

static void
CheckSameLength(int32 *nconds, int32 n, int kind)
{
	if (*nconds == 0)
		*nconds = n;
	else if (*nconds != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must have the same length on every row of a group", CondsArg(kind)),
				 errdetail("Arrays of %d and %d conditions were found.", *nconds, n)));
}

static TimestampTz
CheckTs(TimestampTz ts)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("argument \"ts\" must be a finite timestamp")));
	return ts;
}

/* window as microseconds; a month is 30 days and a day 24 hours, as in interval comparison */
static int64
WindowArg(FunctionCallInfo fcinfo, int argno)
{
	Interval   *iv;
	int128		v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"window\" must not be NULL")));
	iv = PG_GETARG_INTERVAL_P(argno);
	v = (int128) iv->time + (int128) iv->day * USECS_PER_DAY +
		(int128) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"window\" must not be negative")));
	if (v > PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INTERVAL_FIELD_OVERFLOW),
				 errmsg("argument \"window\" is out of range")));
	return (int64) v;
}

static text *
TextArg(FunctionCallInfo fcinfo, int argno, const char *argname, const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", argname),
				 hint ? errhint("%s", hint) : 0));
	return PG_GETARG_TEXT_PP(argno);
}

/*
 * The text arguments (modes, pattern, direction, base) are the same on
 * almost every call: parse them once per distinct value, and compare bytes on
 * the others.
 */
typedef struct TextCache
{
	char	   *bytes;
	int			len;
	int32		nconds;			/* what the value was checked against */
	uint32		flags;
	bool		valid;
} TextCache;

typedef struct ArgCache
{
	TextCache	c[2];
} ArgCache;

static TextCache *
GetTextCache(FunctionCallInfo fcinfo, int i)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ArgCache));
	return &((ArgCache *) fcinfo->flinfo->fn_extra)->c[i];
}

static bool
TextCacheHit(TextCache *c, text *t, int32 nconds)
{
	return c->valid && c->nconds == nconds && c->len == (int) VARSIZE_ANY_EXHDR(t) &&
		memcmp(c->bytes, VARDATA_ANY(t), c->len) == 0;
}

static void
TextCacheSet(FunctionCallInfo fcinfo, TextCache *c, text *t, int32 nconds, uint32 flags)
{
	if (c->bytes)
		pfree(c->bytes);
	c->len = VARSIZE_ANY_EXHDR(t);
	c->bytes = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, c->len + 1);
	memcpy(c->bytes, VARDATA_ANY(t), c->len);
	c->nconds = nconds;
	c->flags = flags;
	c->valid = true;
}

/* ---------- window_funnel modes ---------- */

static uint32
ParseModes(const char *s, int len)
{
	uint32		flags = 0;
	int			pos = 0;

	while (pos <= len)
	{
		int			end = pos;
		int			a,
					b;
		char	   *word;

		while (end < len && s[end] != ',')
			end++;
		a = pos;
		b = end;
		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		word = pnstrdup(s + a, b - a);
		if (b == a)
		{
			/* '' is no mode; an empty item between commas is a typo */
			if (!(pos == 0 && end == len))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("argument \"modes\" has an empty mode"),
						 errhint("Modes are separated by single commas, e.g. 'strict_order,strict_increase'.")));
		}
		else if (strcmp(word, "strict_deduplication") == 0)
			flags |= MODE_DEDUP;
		else if (strcmp(word, "strict_order") == 0)
			flags |= MODE_ORDER;
		else if (strcmp(word, "strict_increase") == 0)
			flags |= MODE_INCREASE;
		else if (strcmp(word, "strict_once") == 0)
			flags |= MODE_ONCE;
		else if (strcmp(word, "allow_reentry") == 0)
			flags |= MODE_REENTRY;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"modes\" has an unknown mode \"%s\"", word),
					 errhint("Modes are strict_deduplication, strict_order, strict_increase, strict_once and allow_reentry, separated by commas.")));
		pfree(word);
		pos = end + 1;
	}
	if ((flags & MODE_REENTRY) && !(flags & MODE_ORDER))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"modes\": allow_reentry needs strict_order"),
				 errhint("Add strict_order, e.g. 'strict_order,allow_reentry'.")));
	return flags;
}

/* ---------- sequence patterns ---------- */

/*
 * A pattern is a list of event atoms: (?N) (a row matching condition N) or
 * . (any kept row).  Consecutive atoms match consecutive kept rows, unless
 * .* or time conditions stand between them: then any rows may lie between,
 * and the time from the first atom's row to the second's must satisfy every
 * condition, which together make an interval [lo, hi] of microseconds.
 */
typedef struct Atom
{
	int32		cond;			/* 0-based condition, -1: any row */
	bool		gap;			/* rows may lie between the previous atom and this */
	bool		timed;			/* lo/hi apply */
	int64		lo;
	int64		hi;
} Atom;

typedef struct Pattern
{
	int			natoms;
	Atom		atoms[FLEXIBLE_ARRAY_MEMBER];
} Pattern;

static void PatternError(const char *s, int len, int pos, const char *expected) pg_attribute_noreturn();

static void
PatternError(const char *s, int len, int pos, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"pattern\" is not a valid pattern"),
			 errdetail("Expected %s at position %d of \"%s\".", expected, pos + 1, pnstrdup(s, len)),
			 errhint("A pattern is made of (?N) (a row matching condition N), . (any row), .* (any rows) "
					 "and (?t op seconds) between two events, with op one of <, <=, >, >=, ==; "
					 "e.g. (?1).*(?2)(?t<=3600)(?3).")));
}

/* digits at *pos as an int64 no larger than max; -1 when there are none */
static int64
PatternNumber(const char *s, int len, int *pos, int64 max)
{
	int64		v = 0;
	int			start = *pos;

	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9')
	{
		v = v * 10 + (s[*pos] - '0');
		if (v > max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"pattern\" is not a valid pattern"),
					 errdetail("The number at position %d of \"%s\" is too large.", start + 1, pnstrdup(s, len))));
		(*pos)++;
	}
	return *pos == start ? -1 : v;
}

/* an event atom, with the gap and time conditions that led to it */
typedef struct PendingGap
{
	bool		gap;
	bool		timed;
	int64		lo;
	int64		hi;
} PendingGap;

static void
AddAtom(Pattern *p, int32 cond, PendingGap *g)
{
	Atom	   *a = &p->atoms[p->natoms++];

	a->cond = cond;
	a->gap = g->gap || g->timed;
	a->timed = g->timed;
	a->lo = g->lo;
	a->hi = g->hi;
	g->gap = g->timed = false;
	g->lo = 0;
	g->hi = PG_INT64_MAX;
}

/* nconds 0: condition numbers are checked later, against the arrays */
static Pattern *
ParsePattern(const char *s, int len, int32 nconds)
{
	Pattern    *p;
	int			pos = 0;
	PendingGap	g = {false, false, 0, PG_INT64_MAX};
	bool		after_event = false;	/* the last item was an event or a time condition */

	/* (a state read from bytes with an empty pattern holds none: its errors quote "") */
	if (s == NULL)
		s = "";
	if (len > MAX_PATTERN_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument \"pattern\" is too long"),
				 errdetail("A pattern has at most %d characters; this one has %d.", MAX_PATTERN_LEN, len)));
	p = palloc(offsetof(Pattern, atoms) + (len + 1) * sizeof(Atom));
	p->natoms = 0;
	while (pos < len)
	{
		int			item = pos;

		if (len - pos >= 3 && strncmp(s + pos, "(?t", 3) == 0)
		{
			int64		secs;
			int64		usecs;
			int			op;

			if (!after_event)
				PatternError(s, len, item, "an event (?N) or . before the time condition");
			pos += 3;
			if (len - pos >= 2 && (strncmp(s + pos, "<=", 2) == 0 || strncmp(s + pos, ">=", 2) == 0 ||
								   strncmp(s + pos, "==", 2) == 0))
			{
				op = s[pos] == '=' ? 'e' : (s[pos] == '<' ? 'l' : 'g');
				pos += 2;
			}
			else if (pos < len && (s[pos] == '<' || s[pos] == '>'))
			{
				op = s[pos];
				pos++;
			}
			else
				PatternError(s, len, pos, "one of <, <=, >, >=, == after (?t");
			secs = PatternNumber(s, len, &pos, MAX_PATTERN_SECONDS);
			if (secs < 0)
				PatternError(s, len, pos, "a whole number of seconds");
			if (pos >= len || s[pos] != ')')
				PatternError(s, len, pos, "\")\"");
			pos++;
			usecs = secs * USECS_PER_SEC;
			switch (op)
			{
				case '<':
					g.hi = Min(g.hi, usecs - 1);
					break;
				case 'l':
					g.hi = Min(g.hi, usecs);
					break;
				case '>':
					g.lo = Max(g.lo, usecs + 1);
					break;
				case 'g':
					g.lo = Max(g.lo, usecs);
					break;
				default:
					g.lo = Max(g.lo, usecs);
					g.hi = Min(g.hi, usecs);
					break;
			}
			g.timed = true;
		}
		else if (len - pos >= 2 && strncmp(s + pos, "(?", 2) == 0)
		{
			int64		n;

			pos += 2;
			n = PatternNumber(s, len, &pos, MAX_CONDS);
			if (n < 1)
				PatternError(s, len, pos, "a condition number from 1 (or t) after (?");
			if (nconds > 0 && n > nconds)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("argument \"pattern\" names condition %d, but \"conds\" has %d", (int) n, nconds),
						 errdetail("At position %d of \"%s\".", item + 1, pnstrdup(s, len))));
			if (pos >= len || s[pos] != ')')
				PatternError(s, len, pos, "\")\"");
			pos++;
			AddAtom(p, (int32) n - 1, &g);
			after_event = true;
		}
		else if (len - pos >= 2 && strncmp(s + pos, ".*", 2) == 0)
		{
			if (g.timed)
				PatternError(s, len, pos, "an event (?N) or . after the time condition");
			pos += 2;
			g.gap = true;
			after_event = false;
		}
		else if (s[pos] == '.')
		{
			pos++;
			AddAtom(p, -1, &g);
			after_event = true;
		}
		else
			PatternError(s, len, pos, "(?N), (?t, . or .*");
	}
	if (g.timed)
		PatternError(s, len, len, "an event (?N) or . after the time condition");
	if (p->natoms == 0)
		PatternError(s, len, len, "at least one event (?N) or .");
	if (p->natoms > MAX_PATTERN_EVENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument \"pattern\" has too many events"),
				 errdetail("A pattern has at most %d events (?N) and .; this one has %d.", MAX_PATTERN_EVENTS, p->natoms),
				 errhint("Each (?N) and . is one event; .* stands for any number of rows.")));
	return p;
}

/* ---------- the event-list state ---------- */

static EventList *
NewList(MemoryContext cxt, int kind)
{
	EventList  *s = MemoryContextAllocZero(cxt, sizeof(EventList));

	s->magic = EVENT_LIST_MAGIC;
	s->kind = kind;
	s->cxt = cxt;
	return s;
}

static const ExpandedObjectMethods EventListMethods;

/* a new, empty aggregate state: an expanded object in the shared state context */
static EventList *
NewState(MemoryContext aggcxt, int kind)
{
	MemoryContext cxt = AggStateContext(aggcxt);
	EventList  *s = NewList(cxt, kind);

	EOH_init_header(&s->hdr, &EventListMethods, cxt);
	return s;
}

#define StateDatum(s)	EOHPGetRWDatum(&(s)->hdr)

static EventList *ReadList(const char *bytes, int64 len, EventList *into);

/* the event list of a read-write expanded datum of ours, else NULL */
static EventList *
OwnState(Datum d)
{
	EventList  *s;

	if (!DatumIsReadWriteExpandedObject(d, false, -1))
		return NULL;
	s = (EventList *) DatumGetEOHP(d);
	if (s->magic != EVENT_LIST_MAGIC)
		elog(ERROR, "aggregate state is not an event list");
	return s;
}

/*
 * s must be the state of the aggregate whose function fname is called with
 * it.  The state is a real type, so any role can pair one aggregate's
 * transition function with another's final function in an aggregate of its
 * own (or hand a final a value of another kind): the finals read fields only
 * one kind fills (sequence_next_node's values), so the kind is checked
 * before any of them looks at the rows.
 */
static void
CheckKind(const EventList *s, int kind, const char *fname)
{
	if (s->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("aggregate state is not a %s state", fname),
				 errdetail("It is the state of %s.", KindName(s->kind)),
				 errhint("Pass only the state of the same aggregate.")));
}

static void AppendList(EventList *dst, const EventList *src);

/* a new aggregate state with src's kind and parameters, without its rows */
static EventList *
NewStateLike(MemoryContext aggcxt, const EventList *src)
{
	EventList  *a = NewState(aggcxt, src->kind);

	a->nconds = src->nconds;
	a->flags = src->flags;
	a->window = src->window;
	a->patlen = src->patlen;
	if (src->patlen > 0)
	{
		a->pattern = MemoryContextAlloc(a->cxt, src->patlen + 1);
		memcpy(a->pattern, src->pattern, src->patlen);
	}
	return a;
}

/*
 * The event list of argument argno: a flat value decoded (and validated)
 * into a new list in cxt, or an expanded object.  For reading (as_state
 * false) the expanded object itself; as a state to update in place
 * (as_state: the caller found it is not our read-write state) a copy, since
 * a read-only pointer may share the object with another value.  A kind
 * other than 0 is the kind the caller (fname) expects.
 */
static EventList *
ListArg(FunctionCallInfo fcinfo, int argno, MemoryContext cxt, bool as_state,
		int kind, const char *fname)
{
	Datum		d = PG_GETARG_DATUM(argno);
	struct varlena *v;
	EventList  *s;

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		s = (EventList *) DatumGetEOHP(d);
		if (s->magic != EVENT_LIST_MAGIC)
			elog(ERROR, "expanded object is not an event list");
		if (kind != 0)
			CheckKind(s, kind, fname);
		if (as_state)
		{
			EventList  *copy = NewStateLike(cxt, s);

			AppendList(copy, s);
			return copy;
		}
		return s;
	}
	v = PG_DETOAST_DATUM_PACKED(d);
	s = as_state ? NewState(cxt, 0) : NewList(cxt, 0);
	ReadList(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), s);
	if (kind != 0)
		CheckKind(s, kind, fname);
	return s;
}

static void
Reserve(EventList *s, int64 more)
{
	int64		need = s->n + more;

	if (need <= s->cap)
		return;
	if (need > (int64) (MaxAllocHugeSize / sizeof(Event)) / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many events in one group for %s", KindName(s->kind))));
	need = Max(need, Max(s->cap * 2, 8));
	if (s->ev == NULL)
		s->ev = MemoryContextAllocExtended(s->cxt, need * sizeof(Event), MCXT_ALLOC_HUGE);
	else
		s->ev = repalloc_huge(s->ev, need * sizeof(Event));
	if (s->kind == KIND_NEXT_NODE)
	{
		if (s->nv == NULL)
			s->nv = MemoryContextAllocExtended(s->cxt, need * sizeof(NodeValue), MCXT_ALLOC_HUGE);
		else
			s->nv = repalloc_huge(s->nv, need * sizeof(NodeValue));
	}
	s->cap = need;
}

static void
AppendValue(EventList *s, const char *v, int32 len, bool base)
{
	NodeValue  *nv = &s->nv[s->n];

	nv->base = base;
	nv->len = len;
	nv->off = s->vlen;
	if (len <= 0)
		return;
	if (s->vlen + len > s->vcap)
	{
		int64		need = Max(s->vlen + len, Max(s->vcap * 2, 256));

		if (need > (int64) MaxAllocHugeSize / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too much value text in one group for sequence_next_node")));
		if (s->vbuf == NULL)
			s->vbuf = MemoryContextAllocExtended(s->cxt, need, MCXT_ALLOC_HUGE);
		else
			s->vbuf = repalloc_huge(s->vbuf, need);
		s->vcap = need;
	}
	memcpy(s->vbuf + s->vlen, v, len);
	s->vlen += len;
}

static void
SameParams(EventList *a, const EventList *b)
{
	if (a->kind != b->kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot combine event_list states of %s and %s", KindName(a->kind), KindName(b->kind)),
				 errhint("Combine only the states of one aggregate.")));
	if (b->nconds > 0)
		CheckSameLength(&a->nconds, b->nconds, a->kind);
	if (a->window != b->window)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"window\" must be the same on every row of a group")));
	if (a->flags != b->flags)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be the same on every row of a group",
						a->kind == KIND_FUNNEL ? "argument \"modes\"" : "arguments \"direction\" and \"base\"")));
	if (a->patlen != b->patlen || (a->patlen > 0 && memcmp(a->pattern, b->pattern, a->patlen) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"pattern\" must be the same on every row of a group")));
}

/* the state of argument 0, or a new one with these parameters */
static EventList *
StateFor(FunctionCallInfo fcinfo, MemoryContext aggcxt, int kind, int64 window, uint32 flags,
		 text *pattern)
{
	EventList  *s;

	if (!PG_ARGISNULL(0))
	{
		/* our own state, or a value given as one (an INITCOND): a copy to update */
		s = OwnState(PG_GETARG_DATUM(0));
		if (s == NULL)
			s = ListArg(fcinfo, 0, aggcxt, true, 0, NULL);
		CheckKind(s, kind, KindName(kind));
		if (s->window != window)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"window\" must be the same on every row of a group")));
		if (s->flags != flags)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be the same on every row of a group",
							kind == KIND_FUNNEL ? "argument \"modes\"" : "arguments \"direction\" and \"base\"")));
		if (pattern && (s->patlen != (int32) VARSIZE_ANY_EXHDR(pattern) ||
						memcmp(s->pattern, VARDATA_ANY(pattern), s->patlen) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"pattern\" must be the same on every row of a group")));
		return s;
	}
	s = NewState(aggcxt, kind);
	s->window = window;
	s->flags = flags;
	if (pattern)
	{
		s->patlen = VARSIZE_ANY_EXHDR(pattern);
		s->pattern = MemoryContextAlloc(s->cxt, s->patlen + 1);
		memcpy(s->pattern, VARDATA_ANY(pattern), s->patlen);
	}
	return s;
}

/* the conditions of a row, its length checked against the group's */
static uint32
RowMask(FunctionCallInfo fcinfo, int argno, EventList *s)
{
	int32		n;
	uint32		mask;

	if (PG_ARGISNULL(argno))
		return 0;
	mask = ArrayMask(PG_GETARG_ARRAYTYPE_P(argno), CondsArg(s->kind), &n);
	CheckSameLength(&s->nconds, n, s->kind);
	return mask;
}

static void
AppendEvent(EventList *s, TimestampTz ts, uint32 mask)
{
	Reserve(s, 1);
	s->ev[s->n].ts = ts;
	s->ev[s->n].mask = mask;
	s->ev[s->n].aux = 0;
	s->n++;
}

/* window_funnel(ts, steps, window [, modes]) transition */
PG_FUNCTION_INFO_V1(window_funnel_trans);
Datum
window_funnel_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggContext(fcinfo, "window_funnel_trans");
	int64		window = WindowArg(fcinfo, 3);
	uint32		flags = 0;
	EventList  *s;
	uint32		mask;

	if (PG_NARGS() > 4)
	{
		text	   *modes = TextArg(fcinfo, 4, "modes", "Pass '' for no mode.");
		TextCache  *c = GetTextCache(fcinfo, 0);

		if (!TextCacheHit(c, modes, 0))
			TextCacheSet(fcinfo, c, modes, 0,
						 ParseModes(VARDATA_ANY(modes), VARSIZE_ANY_EXHDR(modes)));
		flags = c->flags;
	}
	s = StateFor(fcinfo, aggcxt, KIND_FUNNEL, window, flags, NULL);
	mask = RowMask(fcinfo, 2, s);
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(StateDatum(s));
	/* a row matching no step matters only where it can interrupt a chain */
	if (mask != 0 || (flags & MODE_ORDER))
		AppendEvent(s, CheckTs(PG_GETARG_TIMESTAMPTZ(1)), mask);
	PG_RETURN_DATUM(StateDatum(s));
}

/* sequence_match / sequence_count(ts, conds, pattern) transition */
PG_FUNCTION_INFO_V1(sequence_trans);
Datum
sequence_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggContext(fcinfo, "sequence_trans");
	text	   *pattern = TextArg(fcinfo, 3, "pattern", NULL);
	TextCache  *c = GetTextCache(fcinfo, 0);
	EventList  *s;
	uint32		mask;

	s = StateFor(fcinfo, aggcxt, KIND_SEQUENCE, 0, 0, pattern);
	mask = RowMask(fcinfo, 2, s);
	/* the pattern's condition numbers are checked against the arrays' length */
	if (!TextCacheHit(c, pattern, s->nconds))
	{
		pfree(ParsePattern(VARDATA_ANY(pattern), VARSIZE_ANY_EXHDR(pattern), s->nconds));
		TextCacheSet(fcinfo, c, pattern, s->nconds, 0);
	}
	if (PG_ARGISNULL(1) || mask == 0)
		PG_RETURN_DATUM(StateDatum(s));
	AppendEvent(s, CheckTs(PG_GETARG_TIMESTAMPTZ(1)), mask);
	PG_RETURN_DATUM(StateDatum(s));
}

static uint32
ParseDirectionBase(text *direction, text *base)
{
	char	   *d = text_to_cstring(direction);
	char	   *b = text_to_cstring(base);
	uint32		flags;

	if (strcmp(d, "forward") == 0)
		flags = 0;
	else if (strcmp(d, "backward") == 0)
		flags = NN_BACKWARD;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"direction\" must be forward or backward"),
				 errdetail("Got \"%s\".", d)));
	if (strcmp(b, "head") == 0)
		flags |= NN_HEAD;
	else if (strcmp(b, "tail") == 0)
		flags |= NN_TAIL;
	else if (strcmp(b, "first_match") == 0)
		flags |= NN_FIRST_MATCH;
	else if (strcmp(b, "last_match") == 0)
		flags |= NN_LAST_MATCH;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"base\" must be head, tail, first_match or last_match"),
				 errdetail("Got \"%s\".", b)));
	return flags;
}

/* sequence_next_node(ts, value, base_condition, conds, direction, base) transition */
PG_FUNCTION_INFO_V1(sequence_next_node_trans);
Datum
sequence_next_node_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggContext(fcinfo, "sequence_next_node_trans");
	text	   *direction = TextArg(fcinfo, 5, "direction", "Pass 'forward' or 'backward'.");
	text	   *base = TextArg(fcinfo, 6, "base", "Pass 'head', 'tail', 'first_match' or 'last_match'.");
	TextCache  *cd = GetTextCache(fcinfo, 0);
	TextCache  *cb = GetTextCache(fcinfo, 1);
	EventList  *s;
	uint32		mask;

	if (!TextCacheHit(cd, direction, 0) || !TextCacheHit(cb, base, 0))
	{
		uint32		flags = ParseDirectionBase(direction, base);

		TextCacheSet(fcinfo, cd, direction, 0, flags);
		TextCacheSet(fcinfo, cb, base, 0, flags);
	}
	s = StateFor(fcinfo, aggcxt, KIND_NEXT_NODE, 0, cd->flags, NULL);
	mask = RowMask(fcinfo, 4, s);
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(StateDatum(s));
	if (s->n >= (int64) PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many events in one group for sequence_next_node")));
	Reserve(s, 1);
	s->ev[s->n].ts = CheckTs(PG_GETARG_TIMESTAMPTZ(1));
	s->ev[s->n].mask = mask;
	s->ev[s->n].aux = (uint32) s->n;
	if (PG_ARGISNULL(2))
		AppendValue(s, NULL, -1, !PG_ARGISNULL(3) && PG_GETARG_BOOL(3));
	else
	{
		text	   *v = PG_GETARG_TEXT_PP(2);

		AppendValue(s, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), !PG_ARGISNULL(3) && PG_GETARG_BOOL(3));
	}
	s->n++;
	PG_RETURN_DATUM(StateDatum(s));
}

/* append src's rows to dst */
static void
AppendList(EventList *dst, const EventList *src)
{
	int64		i;

	Reserve(dst, src->n);
	for (i = 0; i < src->n; i++)
	{
		dst->ev[dst->n] = src->ev[i];
		if (dst->kind == KIND_NEXT_NODE)
		{
			const NodeValue *nv = &src->nv[src->ev[i].aux];

			dst->ev[dst->n].aux = (uint32) dst->n;
			AppendValue(dst, nv->len > 0 ? src->vbuf + nv->off : NULL, nv->len, nv->base);
		}
		dst->n++;
	}
}

/* combine function of the event-list aggregates */
PG_FUNCTION_INFO_V1(event_list_combine);
Datum
event_list_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = AggContext(fcinfo, "event_list_combine");
	EventList  *a;
	EventList  *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
	{
		/*
		 * The group's first partial state (from a parallel worker, from a
		 * Citus worker through the text form): a flat one is decoded
		 * straight into the new state
		 */
		if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(PG_GETARG_DATUM(1))))
			PG_RETURN_DATUM(StateDatum(ListArg(fcinfo, 1, aggcxt, true, 0, NULL)));
		b = ListArg(fcinfo, 1, aggcxt, false, 0, NULL);
		a = NewStateLike(aggcxt, b);
	}
	else
	{
		a = OwnState(PG_GETARG_DATUM(0));
		if (a == NULL)
			a = ListArg(fcinfo, 0, aggcxt, true, 0, NULL);
		b = ListArg(fcinfo, 1, CurrentMemoryContext, false, 0, NULL);
	}
	SameParams(a, b);
	/* one object as both (no SQL path gives one now, review 21 R21-4): append a copy */
	if (a == b)
	{
		b = NewStateLike(CurrentMemoryContext, a);
		AppendList(b, a);
	}
	AppendList(a, b);
	PG_RETURN_DATUM(StateDatum(a));
}

/*
 * The flat form (pq format, network byte order), in a varlena:
 *	u8 version | u8 kind | i32 nconds | i32 flags | i64 window |
 *	i32 patlen, pattern bytes | i64 n | per row: i64 ts, i32 mask
 *	[sequence_next_node: u8 base, i32 len (-1: NULL), len bytes]
 */
#define LIST_HEADER_SIZE	(1 + 1 + 4 + 4 + 8 + 4)

static Size
ListFlatSize(const EventList *s)
{
	Size		size = LIST_HEADER_SIZE + s->patlen + 8;
	int64		i;

	if (s->kind != KIND_NEXT_NODE)
		return size + (Size) s->n * 12;
	for (i = 0; i < s->n; i++)
	{
		const NodeValue *nv = &s->nv[s->ev[i].aux];

		size += 12 + 1 + 4 + Max(nv->len, 0);
	}
	return size;
}

static void
WriteList(const EventList *s, StringInfo buf)
{
	int64		i;

	pq_sendbyte(buf, STATE_VERSION);
	pq_sendbyte(buf, (uint8) s->kind);
	pq_sendint32(buf, s->nconds);
	pq_sendint32(buf, s->flags);
	pq_sendint64(buf, s->window);
	pq_sendint32(buf, s->patlen);
	pq_sendbytes(buf, s->pattern ? s->pattern : "", s->patlen);
	pq_sendint64(buf, s->n);
	for (i = 0; i < s->n; i++)
	{
		pq_sendint64(buf, s->ev[i].ts);
		pq_sendint32(buf, s->ev[i].mask);
		if (s->kind == KIND_NEXT_NODE)
		{
			const NodeValue *nv = &s->nv[s->ev[i].aux];

			pq_sendbyte(buf, nv->base ? 1 : 0);
			pq_sendint32(buf, nv->len);
			if (nv->len > 0)
				pq_sendbytes(buf, s->vbuf + nv->off, nv->len);
		}
	}
}

/* s as a new flat varlena in the current memory context */
static struct varlena *
FlatList(const EventList *s)
{
	StringInfoData buf;

	if (ListFlatSize(s) > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many events in one group for %s to pass on", KindName(s->kind)),
				 errdetail("The state of a group takes %zu bytes; a value has at most 1 GB.", ListFlatSize(s))));
	pq_begintypsend(&buf);
	WriteList(s, &buf);
	return (struct varlena *) pq_endtypsend(&buf);
}

static Size
EventListGetFlatSize(ExpandedObjectHeader *eohptr)
{
	EventList  *s = (EventList *) eohptr;
	Size		size = ListFlatSize(s);

	if (size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many events in one group for %s to pass on", KindName(s->kind)),
				 errdetail("The state of a group takes %zu bytes; a value has at most 1 GB.", size)));
	return VARHDRSZ + size;
}

static void
EventListFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	EventList  *s = (EventList *) eohptr;
	struct varlena *flat = FlatList(s);

	if (VARSIZE(flat) != allocated_size)
		elog(ERROR, "event list flat size changed while flattening");
	memcpy(result, flat, allocated_size);
	pfree(flat);
}

static const ExpandedObjectMethods EventListMethods = {EventListGetFlatSize, EventListFlattenInto};

/* reading untrusted bytes: every read checked against what is left */
typedef struct Reader
{
	const char *p;
	int64		len;
	int64		pos;
} Reader;

static void
BadState(const Reader *r, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid event_list value (the state of an event-list aggregate)"),
			 errdetail("%s (at byte %lld of %lld).", detail, (long long) r->pos, (long long) r->len),
			 errhint("An event_list comes only from window_funnel, sequence_match, sequence_count or sequence_next_node.")));
}

static const char *
ReadBytes(Reader *r, int64 n)
{
	const char *p;

	if (n < 0 || n > r->len - r->pos)
		BadState(r, "The state ends too early");
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint64
ReadUint(Reader *r, int size)
{
	const unsigned char *p = (const unsigned char *) ReadBytes(r, size);
	uint64		v = 0;
	int			i;

	for (i = 0; i < size; i++)
		v = (v << 8) | p[i];
	return v;
}

/* the flat form in bytes, validated, into the empty list s (in its context) */
static EventList *
ReadList(const char *bytes, int64 len, EventList *s)
{
	Reader		r = {bytes, len, 0};
	int			kind;
	int64		n;
	int64		i;
	int64		rowsize;

	if (ReadUint(&r, 1) != STATE_VERSION)
		BadState(&r, "Unknown version");
	kind = (int) ReadUint(&r, 1);
	if (kind < KIND_FUNNEL || kind > KIND_NEXT_NODE)
		BadState(&r, "Unknown kind");
	s->kind = kind;
	s->nconds = (int32) ReadUint(&r, 4);
	if (s->nconds < 0 || s->nconds > MAX_CONDS)
		BadState(&r, "Bad number of conditions");
	s->flags = (uint32) ReadUint(&r, 4);
	if ((kind == KIND_FUNNEL && ((s->flags & ~MODE_ALL) || ((s->flags & MODE_REENTRY) && !(s->flags & MODE_ORDER)))) ||
		(kind == KIND_SEQUENCE && s->flags != 0) ||
		(kind == KIND_NEXT_NODE && (s->flags & ~(NN_BACKWARD | NN_BASE_MASK))))
		BadState(&r, "Bad flags");
	s->window = (int64) ReadUint(&r, 8);
	if (s->window < 0 || (kind != KIND_FUNNEL && s->window != 0))
		BadState(&r, "Bad window");
	s->patlen = (int32) ReadUint(&r, 4);
	if (s->patlen < 0 || s->patlen > MAX_PATTERN_LEN || (kind != KIND_SEQUENCE && s->patlen != 0))
		BadState(&r, "Bad pattern length");
	if (s->patlen > 0)
	{
		s->pattern = MemoryContextAlloc(s->cxt, s->patlen + 1);
		memcpy(s->pattern, ReadBytes(&r, s->patlen), s->patlen);
	}
	n = (int64) ReadUint(&r, 8);
	rowsize = kind == KIND_NEXT_NODE ? 17 : 12;
	if (n < 0 || n > (r.len - r.pos) / rowsize)
		BadState(&r, "More rows than bytes");
	Reserve(s, n);
	for (i = 0; i < n; i++)
	{
		TimestampTz ts = (int64) ReadUint(&r, 8);
		uint32		mask = (uint32) ReadUint(&r, 4);

		if (TIMESTAMP_NOT_FINITE(ts))
			BadState(&r, "Infinite timestamp");
		if ((s->nconds < MAX_CONDS && (mask >> s->nconds) != 0) ||
			(mask == 0 && kind == KIND_SEQUENCE) ||
			(mask == 0 && kind == KIND_FUNNEL && !(s->flags & MODE_ORDER)))
			BadState(&r, "Bad condition bits");
		s->ev[i].ts = ts;
		s->ev[i].mask = mask;
		s->ev[i].aux = (uint32) i;
		if (kind == KIND_NEXT_NODE)
		{
			int			base = (int) ReadUint(&r, 1);
			int32		len = (int32) ReadUint(&r, 4);

			if (base > 1)
				BadState(&r, "Bad base flag");
			if (len < -1)
				BadState(&r, "Bad value length");
			s->n = i;
			AppendValue(s, len > 0 ? ReadBytes(&r, len) : NULL, len, base == 1);
		}
		s->n = i + 1;
	}
	if (r.pos != r.len)
		BadState(&r, "Trailing bytes");
	return s;
}

/*
 * The type event_list: the state of the event-list aggregates.  Text form
 * \x and the hex of the flat form (as bytea's); binary form the flat form.
 * Input of either is validated as a worker's state is: Citus ships states
 * between nodes through the text form, and any role can write one.
 */
static int
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

PG_FUNCTION_INFO_V1(event_list_in);
Datum
event_list_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	size_t		slen = strlen(str);
	size_t		nbytes;
	struct varlena *result;
	char	   *out;
	size_t		i;

	if (slen < 2 || str[0] != '\\' || str[1] != 'x' || (slen - 2) % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type event_list"),
				 errdetail("An event_list is written \\x and an even number of hex digits."),
				 errhint("An event_list comes only from window_funnel, sequence_match, sequence_count or sequence_next_node.")));
	nbytes = (slen - 2) / 2;
	result = palloc(VARHDRSZ + nbytes);
	SET_VARSIZE(result, VARHDRSZ + nbytes);
	out = VARDATA(result);
	for (i = 0; i < nbytes; i++)
	{
		int			hi = HexDigit(str[2 + 2 * i]);
		int			lo = HexDigit(str[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type event_list"),
					 errdetail("Character %zu is not a hex digit.", 3 + 2 * i + (hi < 0 ? 0 : 1))));
		out[i] = (char) ((hi << 4) | lo);
	}
	/* validated now, in a throwaway list */
	{
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "event_list_in", ALLOCSET_DEFAULT_SIZES);

		ReadList(VARDATA(result), nbytes, NewList(cxt, 0));
		MemoryContextDelete(cxt);
	}
	PG_RETURN_POINTER(result);
}

/* the flat form of a datum of ours (an expanded one flattened) */
static struct varlena *
FlatArg(FunctionCallInfo fcinfo, int argno)
{
	Datum		d = PG_GETARG_DATUM(argno);

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		EventList  *s = (EventList *) DatumGetEOHP(d);

		if (s->magic != EVENT_LIST_MAGIC)
			elog(ERROR, "expanded object is not an event list");
		return FlatList(s);
	}
	return PG_DETOAST_DATUM_PACKED(d);
}

PG_FUNCTION_INFO_V1(event_list_out);
Datum
event_list_out(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	struct varlena *v = FlatArg(fcinfo, 0);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(v);
	size_t		n = VARSIZE_ANY_EXHDR(v);
	char	   *str;
	size_t		i;

	if (n > (MaxAllocSize - 3) / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event_list value too large for its text form"),
				 errdetail("It has %zu bytes.", n)));
	str = palloc(2 * n + 3);
	str[0] = '\\';
	str[1] = 'x';
	for (i = 0; i < n; i++)
	{
		str[2 + 2 * i] = hex[p[i] >> 4];
		str[3 + 2 * i] = hex[p[i] & 15];
	}
	str[2 + 2 * n] = '\0';
	PG_RETURN_CSTRING(str);
}

PG_FUNCTION_INFO_V1(event_list_recv);
Datum
event_list_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			n = buf->len - buf->cursor;
	struct varlena *result;
	MemoryContext cxt;

	result = palloc(VARHDRSZ + n);
	SET_VARSIZE(result, VARHDRSZ + n);
	pq_copymsgbytes(buf, VARDATA(result), n);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "event_list_recv", ALLOCSET_DEFAULT_SIZES);
	ReadList(VARDATA(result), n, NewList(cxt, 0));
	MemoryContextDelete(cxt);
	PG_RETURN_POINTER(result);
}

PG_FUNCTION_INFO_V1(event_list_send);
Datum
event_list_send(PG_FUNCTION_ARGS)
{
	struct varlena *v = FlatArg(fcinfo, 0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------- the final step: sort once, then scan ---------- */

/* rows at the same time in step order: the lowest condition where they differ decides */
static inline int
MaskOrder(uint32 a, uint32 b)
{
	uint32		d = a ^ b;

	if (d == 0)
		return 0;
	return (a & d & (~d + 1)) ? -1 : 1;
}

static int
EventCmp(const void *x, const void *y)
{
	const Event *a = x;
	const Event *b = y;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return MaskOrder(a->mask, b->mask);
}

/* sequence_next_node: then the value (bytes, NULL last), then base_condition true first */
static int
NodeCmp(const void *x, const void *y, void *arg)
{
	const Event *a = x;
	const Event *b = y;
	const EventList *s = arg;
	const NodeValue *va,
			   *vb;
	int			c = EventCmp(a, b);

	if (c != 0)
		return c;
	va = &s->nv[a->aux];
	vb = &s->nv[b->aux];
	if ((va->len < 0) != (vb->len < 0))
		return va->len < 0 ? 1 : -1;
	if (va->len >= 0)
	{
		/* (no buffer when every value is empty: no pointer into it then) */
		c = Min(va->len, vb->len) > 0 ? memcmp(s->vbuf + va->off, s->vbuf + vb->off, Min(va->len, vb->len)) : 0;
		if (c != 0)
			return c;
		if (va->len != vb->len)
			return va->len < vb->len ? -1 : 1;
	}
	if (va->base != vb->base)
		return va->base ? -1 : 1;
	return 0;
}

static void
SortList(EventList *s)
{
	if (s->kind == KIND_NEXT_NODE)
		qsort_arg(s->ev, s->n, sizeof(Event), NodeCmp, s);
	else
		qsort(s->ev, s->n, sizeof(Event), EventCmp);
}

/*
 * strict_once: maxk[j] = the last step k such that steps j..k can be matched
 * to distinct rows of one timestamp (j - 1 when step j cannot).  Bipartite
 * matching, steps to rows; a step needs no more than MAX_CONDS candidate
 * rows (with that many, one is always free), so a huge tie stays cheap.
 */
typedef struct OnceMatch
{
	uint32		rows[MAX_CONDS * MAX_CONDS];
	int			nrows;
	int			owner[MAX_CONDS * MAX_CONDS];	/* step matched to a row, -1 */
	bool		seen[MAX_CONDS * MAX_CONDS];
} OnceMatch;

static bool
Augment(OnceMatch *m, int step)
{
	int			r;

	for (r = 0; r < m->nrows; r++)
	{
		if (m->seen[r] || !(m->rows[r] & (UINT32CONST(1) << step)))
			continue;
		m->seen[r] = true;
		if (m->owner[r] < 0 || Augment(m, m->owner[r]))
		{
			m->owner[r] = step;
			return true;
		}
	}
	return false;
}

static void
OnceFeasibility(const Event *ev, int64 n, int nsteps, int *maxk)
{
	OnceMatch  *m = palloc(sizeof(OnceMatch));
	int			per_step[MAX_CONDS] = {0};
	int64		i;
	int			j,
				k;

	m->nrows = 0;
	for (i = 0; i < n; i++)
	{
		bool		useful = false;

		for (k = 0; k < nsteps; k++)
			if ((ev[i].mask & (UINT32CONST(1) << k)) && per_step[k] < MAX_CONDS)
				useful = true;
		if (!useful)
			continue;
		for (k = 0; k < nsteps; k++)
			if (ev[i].mask & (UINT32CONST(1) << k))
				per_step[k]++;
		m->rows[m->nrows++] = ev[i].mask;
	}
	for (j = 0; j < nsteps; j++)
	{
		for (i = 0; i < m->nrows; i++)
			m->owner[i] = -1;
		for (k = j; k < nsteps; k++)
		{
			memset(m->seen, 0, m->nrows * sizeof(bool));
			if (!Augment(m, k))
				break;
		}
		maxk[j] = k - 1;
	}
	pfree(m);
}

/*
 * What the scan of the chain search needs: per timestamp of the scanned
 * rows, where its rows are and which steps the scan took there (the steps
 * a chain may use at that time: neither skipped by allow_reentry nor at or
 * after the row that stopped the scan).
 */
typedef struct FunnelGroup
{
	TimestampTz ts;
	int64		first;			/* index of its first row in the sorted list */
	int64		nrows;
	uint32		usable;			/* bit k-1: step k taken at this time */
} FunnelGroup;

/*
 * The scan's state between two timestamps: what a managed funnel keeps of
 * the rows it dropped (_funnel_advance), so that the scan of the rows it
 * kept, resumed from it, is the scan of all the rows.
 */
typedef struct FunnelScanState
{
	int64		best[MAX_CONDS];
	uint32		has;			/* bit k: best[k] is set */
	bool		seen_first;
	bool		stopped;		/* a stopping rule ended the scan */
} FunnelScanState;

/*
 * The highest step reached.  best[k] is the latest start of a chain that
 * reaches step k + 1 (the latest start leaves the most room in the window);
 * rows are taken a timestamp at a time, and within one timestamp step by
 * step, so ties never depend on arrival order.
 *
 * With groups (room for one per row), the scan also records the steps it
 * took at each timestamp, and goes on after the last step is reached (up
 * to the end, or to a row that stops it): a chain that starts earlier may
 * end later.  The level is the same either way.
 */
/* the scan's state into *out: the steps reached, their latest starts */
static void
SnapScan(FunnelScanState *out, int nsteps, const bool *has, const int64 *best, bool seen_first, bool stopped)
{
	int			k;

	out->has = 0;
	for (k = 0; k < nsteps; k++)
	{
		out->best[k] = has[k] ? best[k] : 0;
		if (has[k])
			out->has |= UINT32CONST(1) << k;
	}
	out->seen_first = seen_first;
	out->stopped = stopped;
}

static int
FunnelScan(EventList *s, FunnelGroup *groups, int64 *ngroups,
		   const FunnelScanState *init, TimestampTz cutoff, FunnelScanState *snapout)
{
	int			nsteps = s->nconds;
	uint32		flags = s->flags;
	int64		best[MAX_CONDS];
	bool		has[MAX_CONDS] = {false};
	int64		snap[MAX_CONDS];
	bool		snaphas[MAX_CONDS];
	int			maxk[MAX_CONDS];
	bool		seen_first = false;
	bool		stopped = false;
	bool		snapped = false;
	int64		i = 0;
	int			k;

	if (ngroups)
		*ngroups = 0;
	if (init)
	{
		/* resumed: the state the dropped rows left */
		for (k = 0; k < nsteps; k++)
		{
			has[k] = (init->has >> k) & 1;
			best[k] = init->best[k];
		}
		seen_first = init->seen_first;
		stopped = init->stopped;
	}
	if (s->n == 0 || nsteps == 0)
		goto done;
	SortList(s);
	while (i < s->n && !stopped)
	{
		TimestampTz t = s->ev[i].ts;
		int64		j = i;
		uint32		uni = 0;
		bool		zero = false;
		bool		per_step;
		bool		matching;

		while (j < s->n && s->ev[j].ts == t)
		{
			uni |= s->ev[j].mask;
			zero |= s->ev[j].mask == 0;
			j++;
		}
		/* the state before the first time at or after the cutoff */
		if (snapout && !snapped && t >= cutoff)
		{
			snapped = true;
			SnapScan(snapout, nsteps, has, best, seen_first, false);
		}
		/* strict_order: a row matching no step, once step 1 was seen, ends the scan */
		if ((flags & MODE_ORDER) && zero && seen_first)
		{
			stopped = true;
			break;
		}
		if (groups)
		{
			groups[*ngroups].ts = t;
			groups[*ngroups].first = i;
			groups[*ngroups].nrows = j - i;
			groups[*ngroups].usable = 0;
			(*ngroups)++;
		}
		memcpy(snap, best, sizeof(best));
		memcpy(snaphas, has, sizeof(has));
		/* a step per timestamp: strict_increase, or strict_once with one row here */
		per_step = (flags & MODE_INCREASE) || ((flags & MODE_ONCE) && j - i == 1);
		matching = (flags & MODE_ONCE) && !per_step;
		if (matching)
			OnceFeasibility(s->ev + i, j - i, nsteps, maxk);
		for (k = 1; k <= nsteps; k++)
		{
			int			jj;

			if (!(uni & (UINT32CONST(1) << (k - 1))))
				continue;
			if (k >= 2)
			{
				/* strict_deduplication: a step already reached, met again, ends the scan */
				if ((flags & MODE_DEDUP) && has[k - 1])
				{
					stopped = true;
					goto done;
				}
				/* strict_order: a step whose previous step was never reached */
				if ((flags & MODE_ORDER) && seen_first && !has[k - 2])
				{
					if (flags & MODE_REENTRY)
						continue;
					stopped = true;
					goto done;
				}
			}
			if (groups)
				groups[*ngroups - 1].usable |= UINT32CONST(1) << (k - 1);
			/* chains ending with step k here: steps jj..k all at time t */
			for (jj = per_step ? k : 1; jj <= k; jj++)
			{
				int64		start;

				if (matching)
				{
					/* strict_once: distinct rows for steps jj..k */
					if (maxk[jj - 1] < k - 1)
						continue;
				}
				else if (!per_step)
				{
					/* otherwise one row may serve several steps */
					uint32		need = (k - jj + 1 == 32) ? ~UINT32CONST(0) :
						((UINT32CONST(1) << (k - jj + 1)) - 1) << (jj - 1);

					if ((uni & need) != need)
						continue;
				}
				if (jj == 1)
					start = t;
				else if (snaphas[jj - 2])
					start = snap[jj - 2];
				else
					continue;
				if ((int128) t - start > s->window)
					continue;
				if (!has[k - 1] || start > best[k - 1])
				{
					best[k - 1] = start;
					has[k - 1] = true;
				}
			}
			if (k == 1)
				seen_first = true;
			if (has[nsteps - 1] && !groups)
				goto done;
		}
		i = j;
	}
done:
	/*
	 * Stopped, the scan's answer is final: no later row can change it.  Or
	 * no row at or after the cutoff: the state at the end.
	 */
	if (snapout && (stopped || !snapped))
		SnapScan(snapout, nsteps, has, best, seen_first, stopped);
	for (k = nsteps; k > 0; k--)
		if (has[k - 1])
			return k;
	return 0;
}

PG_FUNCTION_INFO_V1(window_funnel_final);
Datum
window_funnel_final(PG_FUNCTION_ARGS)
{
	AggContext(fcinfo, "window_funnel_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_INT32(0);
	PG_RETURN_INT32(FunnelScan(ListArg(fcinfo, 0, CurrentMemoryContext, false, KIND_FUNNEL, "window_funnel"), NULL, NULL, NULL, 0, NULL));
}

/*
 * strict_once: can steps from..to be matched to distinct rows of the group,
 * each row serving only steps the scan took at that time?
 */
static bool
OnceRun(const EventList *s, const FunnelGroup *g, int from, int to)
{
	Event	   *rows = palloc(sizeof(Event) * g->nrows);
	int			maxk[MAX_CONDS];
	int64		i;

	for (i = 0; i < g->nrows; i++)
	{
		rows[i] = s->ev[g->first + i];
		rows[i].mask &= g->usable;
	}
	OnceFeasibility(rows, g->nrows, s->nconds, maxk);
	pfree(rows);
	return maxk[from - 1] >= to - 1;
}

/*
 * The chain the group reaches its level with: of the chains that reach it
 * (in the rows the scan took), the earliest, i.e. the one whose step 1 comes
 * first, then whose step 2 comes first, and so on.  Fills chain[0 .. level
 * - 1] with the times of its steps and returns the level.
 *
 * For a start, the earliest time of each next step is also the one that
 * leaves the most room for the steps after it (the window runs from the
 * start): so the first start from which this greedy walk reaches the level
 * gives the earliest chain.  Under strict_once, a step joins the steps
 * already at the same time only when distinct rows can serve them all.
 */
static void
FunnelChainOf(EventList *s, const FunnelGroup *g, int64 ng, int level, TimestampTz *chain)
{
	int64		a;
	bool		once = (s->flags & MODE_ONCE) != 0;
	bool		increase = (s->flags & MODE_INCREASE) != 0;

	for (a = 0; a < ng; a++)
	{
		int64		pos = a;
		int			runstart = 1;	/* the first step at the time of pos */
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (!(g[a].usable & 1))
			continue;
		chain[0] = g[a].ts;
		for (k = 2; k <= level; k++)
		{
			uint32		bit = UINT32CONST(1) << (k - 1);
			int64		q;

			/* at the time of step k - 1, where one row may serve several steps */
			if (!increase && (g[pos].usable & bit) && (!once || OnceRun(s, &g[pos], runstart, k)))
			{
				chain[k - 1] = g[pos].ts;
				continue;
			}
			for (q = pos + 1; q < ng; q++)
			{
				if ((int128) g[q].ts - chain[0] > s->window)
					q = ng - 1;
				else if (g[q].usable & bit)
					break;
			}
			if (q >= ng)
				break;
			pos = q;
			runstart = k;
			chain[k - 1] = g[q].ts;
		}
		if (k > level)
			return;
	}
	elog(ERROR, "window_funnel found no chain of its level %d", level);
}

static int
FunnelChain(EventList *s, TimestampTz *chain)
{
	FunnelGroup *g;
	int64		ng;
	int			level;

	if (s->n == 0 || s->nconds == 0)
		return 0;
	g = palloc(sizeof(FunnelGroup) * s->n);
	level = FunnelScan(s, g, &ng, NULL, 0, NULL);
	if (level > 0)
		FunnelChainOf(s, g, ng, level, chain);
	pfree(g);
	return level;
}

/*
 * The rows of a managed funnel's per-user state: row i is at ts[i] and
 * matches step k when bit k - 1 of masks[i] is set (arguments 0 and 1).
 */
static EventList *
FunnelRows(FunctionCallInfo fcinfo, int32 nsteps, uint32 flags, int64 window)
{
	ArrayType  *ta;
	ArrayType  *ma;
	Datum	   *tsv;
	bool	   *tsn;
	int			nts;
	Datum	   *mv;
	int			nm;
	EventList  *s;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"ts\", \"masks\" and \"nsteps\" must not be NULL")));
	ta = PG_GETARG_ARRAYTYPE_P(0);
	ma = PG_GETARG_ARRAYTYPE_P(1);
	if (nsteps < 1 || nsteps > MAX_CONDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"nsteps\" must be between 1 and %d", MAX_CONDS)));
	if (ARR_ELEMTYPE(ta) != TIMESTAMPTZOID || ARR_ELEMTYPE(ma) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("arguments \"ts\" and \"masks\" must be timestamptz[] and integer[]")));
	if (ARR_NDIM(ta) > 1 || ARR_NDIM(ma) > 1 || ARR_HASNULL(ma))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("arguments \"ts\" and \"masks\" must be one-dimensional, and \"masks\" without NULLs")));
	deconstruct_array(ta, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &tsv, &tsn, &nts);
	deconstruct_array(ma, INT4OID, sizeof(int32), true, TYPALIGN_INT, &mv, NULL, &nm);
	if (nm != nts)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("arguments \"ts\" and \"masks\" must have the same length"),
				 errdetail("They have %d and %d elements.", nts, nm)));
	s = NewList(CurrentMemoryContext, KIND_FUNNEL);
	s->window = window;
	s->flags = flags;
	s->nconds = nsteps;
	for (i = 0; i < nts; i++)
	{
		uint32		mask = (uint32) DatumGetInt32(mv[i]);

		if (nsteps < MAX_CONDS && (mask >> nsteps) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"masks\" names a step beyond %d", nsteps)));
		/* a NULL time is skipped, as by window_funnel */
		if (tsn[i])
			continue;
		if (mask != 0 || (flags & MODE_ORDER))
			AppendEvent(s, CheckTs(DatumGetTimestampTz(tsv[i])), mask);
	}
	return s;
}

/*
 * _funnel_chain(ts timestamptz[], masks int[], nsteps int, window interval,
 * modes text) -> timestamptz[]: the times of the steps of the chain the rows
 * reach window_funnel's level with (empty at level 0).
 */
PG_FUNCTION_INFO_V1(funnel_chain);
Datum
funnel_chain(PG_FUNCTION_ARGS)
{
	int64		window = WindowArg(fcinfo, 3);
	text	   *modes = TextArg(fcinfo, 4, "modes", "Pass '' for no mode.");
	uint32		flags;
	EventList  *s;
	TimestampTz chain[MAX_CONDS];
	Datum		out[MAX_CONDS];
	int			level;
	int			i;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"ts\", \"masks\" and \"nsteps\" must not be NULL")));
	flags = ParseModes(VARDATA_ANY(modes), VARSIZE_ANY_EXHDR(modes));
	s = FunnelRows(fcinfo, PG_GETARG_INT32(2), flags, window);
	level = FunnelChain(s, chain);
	for (i = 0; i < level; i++)
		out[i] = TimestampTzGetDatum(chain[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, level, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}

/*
 * _funnel_advance(ts timestamptz[], masks int[], nsteps int, window
 * interval, modes text, scan bigint[], chain timestamptz[]) -> (ts, masks,
 * scan, chain, maxts): a managed funnel's per-user state moved forward.
 *
 * In: the rows the state kept and the user's new rows (ts, masks, in any
 * order), the scan's state where the kept rows begin (scan: '{}' when no
 * row was ever dropped) and the chain found so far.  Every new row must be
 * later than every row seen before, maxts, or at maxts when the modes have
 * no stopping rule (neither strict_order nor strict_deduplication): refresh
 * recomputes from the sources a user with an earlier row (a late event).
 * Then the scan of the kept and new rows, resumed from scan, is
 * window_funnel's scan of all the user's rows: every dropped row is earlier
 * than the cutoff, every kept or new row at or after it, and the rows kept
 * include every old row of maxts, so the rows of each time are complete.
 * And
 *
 *  - a level higher than the old chain's is reached only by chains with a
 *    step at a new row's time (at maxts or later: chains of earlier times
 *    use old rows only, which reach the old level), so that start within
 *    window before it, at or after the cutoff the rows were dropped at: the
 *    earliest of them is found in the rows kept;
 *  - at the old level, the old chain C stays the earliest.  A chain C'
 *    earlier than C has a first step i with C'[i] < C[i] <= maxts, so its
 *    steps 1..i are at times before maxts, whose rows are all old; with
 *    C's steps after i it makes a chain of old rows (C[i+1] >= C[i] >
 *    C'[i], and C[level] - C'[1] = C[level] - C[1] <= window) earlier than
 *    C, which the old search would have found.  This needs C still to be a
 *    chain: new rows at maxts change what the scan takes at maxts, and with
 *    no stopping rule they only add to it (allow_reentry's skipped steps
 *    need strict_order; strict_once's matching only gains rows), so C's
 *    steps stay taken and the level does not fall.  A stopping rule may
 *    instead stop the scan on a new row of maxts, before a step of C there:
 *    hence later rows only under strict_order and strict_deduplication (a
 *    stopped state then holds no row, and nothing after its stop counts).
 *
 * Out: the rows at or after maxts - window (a later row starts no chain
 * with an earlier one; none when a stopping rule ended the scan, whose
 * answer is then final), the scan's state where they begin, the chain, and
 * maxts, the latest row's time.  scan is {flags, best[1..nsteps]}: flags
 * bits 0-31 are the steps reached (has), bit 32 seen_first, bit 33 stopped.
 */
PG_FUNCTION_INFO_V1(funnel_advance);
Datum
funnel_advance(PG_FUNCTION_ARGS)
{
	int64		window = WindowArg(fcinfo, 3);
	text	   *modes = TextArg(fcinfo, 4, "modes", "Pass '' for no mode.");
	uint32		flags;
	int32		nsteps;
	EventList  *s;
	FunnelScanState	init;
	FunnelScanState	snap;
	bool		have_init = false;
	int			oldlevel = 0;
	TimestampTz oldchain[MAX_CONDS];
	TimestampTz chain[MAX_CONDS];
	int			level;
	TimestampTz maxts = 0;
	TimestampTz cutoff = 0;
	FunnelGroup *g;
	int64		ng;
	int64		i;
	int64		nkeep;
	int64		first;
	Datum	   *kts;
	Datum	   *kmasks;
	Datum		out[MAX_CONDS + 1];
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"ts\", \"masks\" and \"nsteps\" must not be NULL")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_funnel_advance must return a row");
	tupdesc = BlessTupleDesc(tupdesc);
	nsteps = PG_GETARG_INT32(2);
	flags = ParseModes(VARDATA_ANY(modes), VARSIZE_ANY_EXHDR(modes));
	s = FunnelRows(fcinfo, nsteps, flags, window);
	memset(&init, 0, sizeof(init));
	memset(&snap, 0, sizeof(snap));
	if (PG_ARGISNULL(5) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"scan\" and \"chain\" must not be NULL"),
				 errhint("Pass '{}' for a state that never dropped a row.")));
	if (ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(5)), ARR_DIMS(PG_GETARG_ARRAYTYPE_P(5))) > 0)
	{
		ArrayType  *sa = PG_GETARG_ARRAYTYPE_P(5);
		Datum	   *sv;
		int			ns;
		int64		f;
		int			k;

		if (ARR_ELEMTYPE(sa) != INT8OID || ARR_NDIM(sa) > 1 || ARR_HASNULL(sa))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"scan\" must be a bigint[] without NULLs")));
		deconstruct_array(sa, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &sv, NULL, &ns);
		if (ns != nsteps + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"scan\" must have %d elements", nsteps + 1)));
		f = DatumGetInt64(sv[0]);
		if ((f >> 34) != 0 || (nsteps < MAX_CONDS && ((f & INT64CONST(0xFFFFFFFF)) >> nsteps) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"scan\" has unknown flags")));
		init.has = (uint32) (f & INT64CONST(0xFFFFFFFF));
		init.seen_first = (f >> 32) & 1;
		init.stopped = (f >> 33) & 1;
		for (k = 0; k < nsteps; k++)
			init.best[k] = DatumGetInt64(sv[k + 1]);
		have_init = true;
	}
	{
		ArrayType  *ca = PG_GETARG_ARRAYTYPE_P(6);
		Datum	   *cv;
		bool	   *cn;
		int			nc;

		if (ARR_ELEMTYPE(ca) != TIMESTAMPTZOID || ARR_NDIM(ca) > 1 || ARR_HASNULL(ca))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"chain\" must be a timestamptz[] without NULLs")));
		deconstruct_array(ca, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &cv, &cn, &nc);
		if (nc > nsteps)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"chain\" has more than %d steps", nsteps)));
		for (i = 0; i < nc; i++)
			oldchain[i] = DatumGetTimestampTz(cv[i]);
		oldlevel = nc;
	}
	/* the cutoff: maxts - window (saturated) */
	for (i = 0; i < s->n; i++)
		if (i == 0 || s->ev[i].ts > maxts)
			maxts = s->ev[i].ts;
	if (s->n > 0)
		cutoff = ((int128) maxts - window < (int128) PG_INT64_MIN) ? PG_INT64_MIN : maxts - window;
	g = palloc(sizeof(FunnelGroup) * Max(s->n, 1));
	level = FunnelScan(s, g, &ng, have_init ? &init : NULL, cutoff, &snap);
	if (level < oldlevel)
		elog(ERROR, "_funnel_advance: the scan reached step %d, below the chain's %d", level, oldlevel);
	if (level == oldlevel)
		memcpy(chain, oldchain, sizeof(TimestampTz) * oldlevel);
	else
		FunnelChainOf(s, g, ng, level, chain);
	pfree(g);

	/* the rows kept: sorted (FunnelScan sorted them), from the cutoff */
	first = s->n;
	if (!snap.stopped)
		for (first = 0; first < s->n && s->ev[first].ts < cutoff; first++)
			;
	nkeep = s->n - first;
	kts = palloc(sizeof(Datum) * Max(nkeep, 1));
	kmasks = palloc(sizeof(Datum) * Max(nkeep, 1));
	for (i = 0; i < nkeep; i++)
	{
		kts[i] = TimestampTzGetDatum(s->ev[first + i].ts);
		kmasks[i] = Int32GetDatum((int32) s->ev[first + i].mask);
	}
	values[0] = PointerGetDatum(construct_array(kts, (int) nkeep, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(kmasks, (int) nkeep, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	out[0] = Int64GetDatum((int64) snap.has | ((int64) snap.seen_first << 32) | ((int64) snap.stopped << 33));
	for (i = 0; i < nsteps; i++)
		out[i + 1] = Int64GetDatum(snap.best[i]);
	values[2] = PointerGetDatum(construct_array(out, nsteps + 1, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	for (i = 0; i < level; i++)
		out[i] = TimestampTzGetDatum(chain[i]);
	values[3] = PointerGetDatum(construct_array(out, level, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[4] = TimestampTzGetDatum(maxts);
	nulls[4] = s->n == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * The end of the match of p that ends first among the rows from start on,
 * or -1.  Row by row, for each atom, whether it can match that row as the
 * end of a match of the atoms up to it; cnt[a] counts those rows for atom a
 * (prefix sums), which answers "is there an earlier row for the previous
 * atom" for adjacent atoms, for gaps, and for time windows (a range of rows
 * found by two pointers: rows are sorted by time).
 */
static int64
EarliestEnd(const Pattern *p, const Event *ev, int64 n, int64 start, int32 *cnt, int64 *lop, int64 *hip)
{
	int			A = p->natoms;
	int64		i;
	int			a;

	for (a = 0; a < A; a++)
	{
		cnt[a * (n + 1) + start] = 0;
		lop[a] = hip[a] = start;
	}
	for (i = start; i < n; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (a = 0; a < A; a++)
		{
			const Atom *at = &p->atoms[a];
			int32	   *c = cnt + a * (n + 1);
			bool		ok = at->cond < 0 || (ev[i].mask & (UINT32CONST(1) << at->cond));

			if (ok && a > 0)
			{
				const int32 *pc = cnt + (a - 1) * (n + 1);

				if (!at->gap)
					ok = i > start && pc[i] > pc[i - 1];
				else if (!at->timed)
					ok = pc[i] > 0;
				else
				{
					while (lop[a] < i && (int128) ev[i].ts - ev[lop[a]].ts > at->hi)
						lop[a]++;
					if (hip[a] < lop[a])
						hip[a] = lop[a];
					while (hip[a] < i && (int128) ev[i].ts - ev[hip[a]].ts >= at->lo)
						hip[a]++;
					ok = pc[hip[a]] > pc[lop[a]];
				}
			}
			c[i + 1] = c[i] + (ok ? 1 : 0);
			if (ok && a == A - 1)
				return i;
		}
	}
	return -1;
}

/* number of non-overlapping matches (at most `limit`) */
static int64
SequenceMatches(EventList *s, int64 limit)
{
	Pattern    *p;
	int32	   *cnt;
	int64	   *lop,
			   *hip;
	int64		start = 0;
	int64		count = 0;
	int64		end;

	if (s->n == 0)
		return 0;
	p = ParsePattern(s->pattern, s->patlen, s->nconds);
	SortList(s);
	cnt = MemoryContextAllocExtended(CurrentMemoryContext,
									 (Size) p->natoms * (s->n + 1) * sizeof(int32), MCXT_ALLOC_HUGE);
	lop = palloc(p->natoms * sizeof(int64));
	hip = palloc(p->natoms * sizeof(int64));
	while (count < limit && start < s->n &&
		   (end = EarliestEnd(p, s->ev, s->n, start, cnt, lop, hip)) >= 0)
	{
		count++;
		start = end + 1;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(cnt);
	pfree(lop);
	pfree(hip);
	pfree(p);
	return count;
}

PG_FUNCTION_INFO_V1(sequence_match_final);
Datum
sequence_match_final(PG_FUNCTION_ARGS)
{
	AggContext(fcinfo, "sequence_match_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(SequenceMatches(ListArg(fcinfo, 0, CurrentMemoryContext, false, KIND_SEQUENCE, "sequence_match"), 1) > 0);
}

PG_FUNCTION_INFO_V1(sequence_count_final);
Datum
sequence_count_final(PG_FUNCTION_ARGS)
{
	AggContext(fcinfo, "sequence_count_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_INT64(0);
	PG_RETURN_INT64(SequenceMatches(ListArg(fcinfo, 0, CurrentMemoryContext, false, KIND_SEQUENCE, "sequence_count"), PG_INT64_MAX));
}

PG_FUNCTION_INFO_V1(sequence_next_node_final);
Datum
sequence_next_node_final(PG_FUNCTION_ARGS)
{
	EventList  *s;
	int64		n;
	int64		base = -1;
	int64		i;
	int64		next;
	bool		backward;
	const NodeValue *nv;

	AggContext(fcinfo, "sequence_next_node_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = ListArg(fcinfo, 0, CurrentMemoryContext, false, KIND_NEXT_NODE, "sequence_next_node");
	n = s->n;
	if (n == 0 || s->nconds == 0)
		PG_RETURN_NULL();
	SortList(s);
	backward = (s->flags & NN_BACKWARD) != 0;
	switch (s->flags & NN_BASE_MASK)
	{
		case NN_HEAD:
			base = 0;
			break;
		case NN_TAIL:
			base = n - 1;
			break;
		case NN_FIRST_MATCH:
			for (i = 0; i < n && base < 0; i++)
				if ((s->ev[i].mask & 1) && s->nv[s->ev[i].aux].base)
					base = i;
			break;
		default:
			for (i = n - 1; i >= 0 && base < 0; i--)
				if ((s->ev[i].mask & 1) && s->nv[s->ev[i].aux].base)
					base = i;
			break;
	}
	/* head and tail: the row there must satisfy base_condition */
	if (base < 0 || !s->nv[s->ev[base].aux].base)
		PG_RETURN_NULL();
	/* rows base, base +- 1, ... match conditions 1, 2, ...; the answer is the row after */
	for (i = 0; i < s->nconds; i++)
	{
		int64		at = backward ? base - i : base + i;

		if (at < 0 || at >= n || !(s->ev[at].mask & (UINT32CONST(1) << i)))
			PG_RETURN_NULL();
	}
	next = backward ? base - s->nconds : base + s->nconds;
	if (next < 0 || next >= n)
		PG_RETURN_NULL();
	nv = &s->nv[s->ev[next].aux];
	if (nv->len < 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(nv->len > 0 ? s->vbuf + nv->off : "", nv->len));
}

/* ---------- retention_flags ---------- */

/*
 * The state is a bigint: bit k-1 = some row had condition k; bits 32-39 =
 * the number of conditions.  A real type, so Citus could split it too.
 */
#define RET_N(st)		((int32) (((uint64) (st)) >> 32))
#define RET_BITS(st)	((uint32) ((uint64) (st) & 0xFFFFFFFF))

static int64
RetentionState(int32 n, uint32 bits)
{
	return (int64) (((uint64) n << 32) | bits);
}

PG_FUNCTION_INFO_V1(retention_flags_trans);
Datum
retention_flags_trans(PG_FUNCTION_ARGS)
{
	int32		n;
	int32		have = 0;
	uint32		mask;
	uint32		bits = 0;

	AggContext(fcinfo, "retention_flags_trans");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_INT64(PG_GETARG_INT64(0));
	}
	mask = ArrayMask(PG_GETARG_ARRAYTYPE_P(1), "conds", &n);
	if (!PG_ARGISNULL(0))
	{
		have = RET_N(PG_GETARG_INT64(0));
		bits = RET_BITS(PG_GETARG_INT64(0));
	}
	CheckSameLength(&have, n, KIND_SEQUENCE);
	PG_RETURN_INT64(RetentionState(n, bits | mask));
}

static int64
CheckRetentionState(int64 st)
{
	int32		n = RET_N(st);

	if (n < 1 || n > MAX_CONDS || (n < MAX_CONDS && (RET_BITS(st) >> n) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid retention_flags state")));
	return st;
}

PG_FUNCTION_INFO_V1(retention_flags_combine);
Datum
retention_flags_combine(PG_FUNCTION_ARGS)
{
	int64		a,
				b;
	int32		n;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_INT64(CheckRetentionState(PG_GETARG_INT64(0)));
	}
	b = CheckRetentionState(PG_GETARG_INT64(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_INT64(b);
	a = CheckRetentionState(PG_GETARG_INT64(0));
	n = RET_N(a);
	CheckSameLength(&n, RET_N(b), KIND_SEQUENCE);
	PG_RETURN_INT64(RetentionState(n, RET_BITS(a) | RET_BITS(b)));
}

PG_FUNCTION_INFO_V1(retention_flags_final);
Datum
retention_flags_final(PG_FUNCTION_ARGS)
{
	int64		st;
	int32		n;
	uint32		bits;
	Datum		out[MAX_CONDS];
	int			k;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = CheckRetentionState(PG_GETARG_INT64(0));
	n = RET_N(st);
	bits = RET_BITS(st);
	for (k = 0; k < n; k++)
		out[k] = Int32GetDatum((bits & 1) && (bits & (UINT32CONST(1) << k)) ? 1 : 0);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}
