/*
 * fuzz_analysis_cells.c
 *		libFuzzer harness over the type _analysis_cells_state (src/analyses.c):
 *		the state of _analysis_cells, which any role can write (its text or
 *		binary input, a combine's argument) and hand to its support
 *		functions.  It includes src/analyses.c to reach StateRead,
 *		StateWrite, StateNew and StateMerge.
 *
 * The first input byte picks the target (byte % 5); the rest is its input:
 *	0	analysis_cells_state_in on the rest as a C string (syntax errors)
 *	1	analysis_cells_state_in on "\x" and the hex of the rest (upper case
 *		when byte & 0x80)
 *	2	analysis_cells_state_recv on the rest
 *	3	StateRead on the rest, and the checks below on what it accepts
 *	4	two values: 2 bytes give the length of the first, the rest is the
 *		second; both through StateRead, then analysis_cells_combine, called
 *		as in an aggregate, in both orders (a NULL state first)
 *
 * A clean rejection is an ERROR with SQLSTATE invalid_binary_representation
 * (a malformed value) or invalid_parameter_value (a config StateCreate would
 * refuse; states of different configs combined).  A finding is a crash, an
 * ASan/UBSan report, any other error (an internal one, or a bounds check of
 * pq_getmsg* that StateRead's own checks should have come before), or a
 * broken invariant, on whatever StateRead accepts:
 *	- the harness's own reading of the bytes (names deduplicated in order,
 *	  the users of equal cells added up) is what StateWrite writes of the
 *	  decoded state: the same config, names, and cells as a multiset of
 *	  (key, segment name, users), sorted (cell order follows the hash's
 *	  iteration, so bytes are not compared);
 *	- a written form holds distinct names and distinct cells, each cell's
 *	  segment one of its names, (all) and (unknown) first; its length is
 *	  StateFlatSize; StateRead accepts it and writes it again the same
 *	  (decode + encode + decode + encode); the expanded object flattens to
 *	  StateWrite's bytes; out + in and send keep the cells;
 *	- analysis_cells_final, on the flat value (decoded and freed inside it)
 *	  and on the expanded one, answers the same cells: seven arrays of one
 *	  length, each of its element type (the harness's construct_array copies
 *	  the elements as arrayfuncs.c does, so a name freed with a decoded
 *	  state before it is copied is a use after free);
 *	- StateMerge into an empty state of the same config keeps the cells;
 *	  merging it once more doubles every count (or refuses with
 *	  numeric_value_out_of_range exactly when a count would pass a bigint);
 *	- combine of two states of one config holds the cells of both, added
 *	  up, the same in both orders; of two configs it refuses; it leaves a
 *	  read-only (expanded) first argument unchanged;
 *	- memory stays proportional to the input (stubs.c counts it).
 */
/*
 * analysis_cells_final's row of seven arrays: the five calls that build it
 * are the harness's (below), renamed in src/analyses.c alone, so that
 * stubs_states.c's still abort for the other harnesses
 */
#define get_call_result_type FinalResultType
#define BlessTupleDesc FinalBlessTupleDesc
#define construct_array FinalConstructArray
#define heap_form_tuple FinalFormTuple
#define HeapTupleHeaderGetDatum FinalRowDatum
#include "../../src/analyses.c"

#include <stdio.h>
#include <stdlib.h>

#include "stubs.h"

#undef fprintf
#undef vsnprintf
#undef snprintf

/* each state reserves a cell table of 2048 slots (64 kB); an input makes about a dozen */
#define BUDGET_FIXED		(2 * 1024 * 1024)
#define BUDGET_PER_BYTE		512

static const char *
SqlState(int code)
{
	static char buf[6];
	int			i;

	for (i = 0; i < 5; i++, code >>= 6)
		buf[i] = PGUNSIXBIT(code);
	return buf;
}

static void pg_attribute_noreturn()
Finding(const char *what)
{
	fprintf(stderr, "FINDING: %s\n", what);
	if (stub_error_message[0])
		fprintf(stderr, "  last error: SQLSTATE %s: %s; %s\n",
				SqlState(stub_error_sqlstate), stub_error_message, stub_error_detail);
	abort();
}

/* runs stmt under an error handler; code: 0, or the SQLSTATE of the ERROR it raised */
#define CATCH(code, stmt) \
	do { \
		sigjmp_buf	jb_; \
		sigjmp_buf *save_ = stub_error_jump; \
		if (sigsetjmp(jb_, 0) == 0) \
		{ \
			stub_error_jump = &jb_; \
			stmt; \
			stub_error_jump = save_; \
			stub_error_message[0] = '\0'; \
			(code) = 0; \
		} \
		else \
		{ \
			stub_error_jump = save_; \
			(code) = stub_error_sqlstate; \
		} \
	} while (0)

static int
CleanRefusal(int code)
{
	if (code == ERRCODE_INTERNAL_ERROR)
		Finding("internal error (elog) instead of a clean rejection");
	if (code != 0 && code != ERRCODE_INVALID_BINARY_REPRESENTATION && code != ERRCODE_INVALID_PARAMETER_VALUE)
		Finding("refused with another SQLSTATE than invalid_binary_representation or invalid_parameter_value");
	return code;
}

/* ---------- fmgr calls ---------- */

typedef struct Call
{
	PGFunction	fn;
	int			nargs;
	Datum		arg[2];
	bool		argnull[2];
	Datum		result;
	bool		isnull;
} Call;

static void
Invoke(Call *c)
{
	LOCAL_FCINFO(fcinfo, 2);
	FmgrInfo	flinfo;

	memset(&flinfo, 0, sizeof(flinfo));
	flinfo.fn_addr = c->fn;
	flinfo.fn_nargs = c->nargs;
	flinfo.fn_mcxt = CurrentMemoryContext;
	InitFunctionCallInfoData(*fcinfo, &flinfo, c->nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = c->arg[0];
	fcinfo->args[0].isnull = c->argnull[0];
	fcinfo->args[1].value = c->arg[1];
	fcinfo->args[1].isnull = c->argnull[1];
	c->result = c->fn(fcinfo);
	c->isnull = fcinfo->isnull;
}

static int
Try(Call *c)
{
	int			code;

	CATCH(code, Invoke(c));
	if (code == ERRCODE_INTERNAL_ERROR)
		Finding("internal error (elog) instead of a clean rejection");
	return code;
}

static Datum
Must(PGFunction fn, int nargs, Datum a, bool anull, Datum b, bool bnull, const char *what)
{
	Call		c = {.fn = fn, .nargs = nargs, .arg = {a, b}, .argnull = {anull, bnull}};

	if (Try(&c) != 0 || c.isnull)
		Finding(what);
	return c.result;
}

/* ---------- the state ---------- */

/* StateRead under an error handler: the state, or NULL when refused cleanly */
static AnalysisState *
TryRead(const uint8 *bytes, size_t len, MemoryContext parent)
{
	AnalysisState *st = NULL;
	int			code;

	CATCH(code, st = StateRead(parent, (const char *) bytes, (int) len));
	return CleanRefusal(code) == 0 ? st : NULL;
}

static StringInfoData
Write(const AnalysisState *st)
{
	StringInfoData buf;
	int64		size = 0;
	int			code;

	CATCH(code, size = StateFlatSize(st));
	if (code != 0)
		Finding("StateFlatSize failed on a small state");
	initStringInfo(&buf);
	StateWrite(st, &buf);
	if (buf.len != size)
		Finding("StateWrite wrote another length than StateFlatSize");
	return buf;
}

static Datum
FlatDatum(const uint8 *body, size_t len)
{
	struct varlena *v = palloc(VARHDRSZ + len);

	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(VARDATA(v), body, len);
	return PointerGetDatum(v);
}

static bool
SameBytes(Datum d, const uint8 *body, size_t len)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	return VARSIZE_ANY_EXHDR(v) == len && memcmp(VARDATA_ANY(v), body, len) == 0;
}

static char *
Hex(const uint8 *body, size_t len, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char	   *s = palloc(3 + 2 * len);
	size_t		i;

	s[0] = '\\';
	s[1] = 'x';
	for (i = 0; i < len; i++)
	{
		s[2 + 2 * i] = digits[body[i] >> 4];
		s[3 + 2 * i] = digits[body[i] & 15];
	}
	s[2 + 2 * len] = '\0';
	return s;
}

/* ---------- the harness's own reading of a flat form ---------- */

typedef struct RCell
{
	int32		start;
	int32		k;
	int16		scheme;
	int8		period;
	int8		kind;
	const char *name;			/* the segment's name */
	int32		namelen;
	int64		users;
} RCell;

typedef struct Canon
{
	int32		config[8 + 6];	/* nschemes, nretention, retention, nother, other, as_of, since, features */
	int32		nconfig;
	int32		nnames;
	const char **names;
	int32	   *namelens;
	int64		ncells;
	RCell	   *cells;			/* sorted; equal keys added up */
} Canon;

static int
RCellKeyCmp(const void *pa, const void *pb)
{
	const RCell *a = pa,
			   *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	if (a->scheme != b->scheme)
		return a->scheme < b->scheme ? -1 : 1;
	if (a->period != b->period)
		return a->period < b->period ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->namelen != b->namelen)
		return a->namelen < b->namelen ? -1 : 1;
	return memcmp(a->name, b->name, a->namelen);
}

/*
 * Sorts the cells and adds up the users of equal ones (strict: a duplicate
 * is a finding); false when a sum passes a bigint
 */
static bool
CanonSort(Canon *c, bool strict)
{
	int64		i,
				n = 0;

	if (c->ncells > 0)
		qsort(c->cells, c->ncells, sizeof(RCell), RCellKeyCmp);
	for (i = 0; i < c->ncells; i++)
	{
		if (n > 0 && RCellKeyCmp(&c->cells[n - 1], &c->cells[i]) == 0)
		{
			if (strict)
				Finding("a written state holds the same cell twice");
			if (pg_add_s64_overflow(c->cells[n - 1].users, c->cells[i].users, &c->cells[n - 1].users))
				return false;
		}
		else
			c->cells[n++] = c->cells[i];
	}
	c->ncells = n;
	return true;
}

static uint32
Get(const uint8 *p, size_t *pos, int bytes)
{
	uint32		v = 0;
	int			i;

	for (i = 0; i < bytes; i++)
		v = v << 8 | p[(*pos)++];
	return v;
}

/*
 * The flat form's fields (the layout of the comment above StateFlatSize),
 * names deduplicated in order of first appearance, cells sorted and added
 * up.  strict (a written form): a duplicate name or cell, a cell whose
 * segment is no name, a wrong first two names are findings.  false when the
 * bytes do not have the layout.
 */
static bool
Parse(const uint8 *p, size_t len, Canon *c, bool strict)
{
	size_t		pos = 0;
	int32		i,
				j,
				n,
				nnames,
			   *map;
	int64		ncells,
				x;

#define NEED(n) do { if ((size_t) (n) > len - pos) return false; } while (0)
	memset(c, 0, sizeof(*c));
	NEED(9);
	if (p[pos++] != CELLS_STATE_VERSION)
		return false;
	c->config[c->nconfig++] = (int32) Get(p, &pos, 4);
	for (j = 0; j < 2; j++)
	{
		NEED(4);
		n = (int32) Get(p, &pos, 4);
		if (n < 0 || n > 3)
			return false;
		c->config[c->nconfig++] = n;
		NEED(4 * n);
		for (i = 0; i < n; i++)
			c->config[c->nconfig++] = (int32) Get(p, &pos, 4);
	}
	NEED(20);
	for (i = 0; i < 4; i++)
		c->config[c->nconfig++] = (int32) Get(p, &pos, 4);
	nnames = (int32) Get(p, &pos, 4);
	if (nnames < 0 || (size_t) nnames > (len - pos) / 4)
		return false;
	c->names = palloc(Max(nnames, 1) * sizeof(char *));
	c->namelens = palloc(Max(nnames, 1) * sizeof(int32));
	map = palloc(Max(nnames, 1) * sizeof(int32));
	for (i = 0; i < nnames; i++)
	{
		int32		l;

		NEED(4);
		l = (int32) Get(p, &pos, 4);
		if (l < 0)
			return false;
		NEED(l);
		for (j = 0; j < c->nnames; j++)
			if (c->namelens[j] == l && memcmp(c->names[j], p + pos, l) == 0)
				break;
		if (j == c->nnames)
		{
			c->names[j] = (const char *) p + pos;
			c->namelens[j] = l;
			c->nnames++;
		}
		else if (strict)
			Finding("a written state holds the same name twice");
		map[i] = j;
		pos += l;
	}
	if (strict && (c->nnames < 2 || c->namelens[0] != 5 || memcmp(c->names[0], "(all)", 5) != 0 ||
				   c->namelens[1] != 9 || memcmp(c->names[1], "(unknown)", 9) != 0))
		Finding("a written state does not name (all) and (unknown) first");
	NEED(8);
	ncells = (int64) ((uint64) Get(p, &pos, 4) << 32);
	ncells |= Get(p, &pos, 4);
	if (ncells < 0 || (uint64) ncells != (len - pos) / 24 || (len - pos) % 24 != 0)
		return false;
	c->cells = palloc(Max(ncells, 1) * sizeof(RCell));
	for (x = 0; x < ncells; x++)
	{
		RCell	   *r = &c->cells[x];
		int32		seg;

		r->start = (int32) Get(p, &pos, 4);
		r->k = (int32) Get(p, &pos, 4);
		seg = (int32) Get(p, &pos, 4);
		r->scheme = (int16) Get(p, &pos, 2);
		r->period = (int8) Get(p, &pos, 1);
		r->kind = (int8) Get(p, &pos, 1);
		r->users = (int64) ((uint64) Get(p, &pos, 4) << 32);
		r->users |= Get(p, &pos, 4);
		if (seg < 0 || seg >= nnames)
		{
			if (strict)
				Finding("a written cell's segment is no name of its state");
			return false;
		}
		r->name = c->names[map[seg]];
		r->namelen = c->namelens[map[seg]];
	}
	c->ncells = ncells;
#undef NEED
	return CanonSort(c, strict);
}

static Canon
ParseWritten(const StringInfoData *buf)
{
	Canon		c;

	if (!Parse((const uint8 *) buf->data, buf->len, &c, true))
		Finding("a written state does not have the documented layout");
	return c;
}

static bool
SameCells(const Canon *a, const Canon *b)
{
	int64		i;

	if (a->ncells != b->ncells)
		return false;
	for (i = 0; i < a->ncells; i++)
		if (RCellKeyCmp(&a->cells[i], &b->cells[i]) != 0 || a->cells[i].users != b->cells[i].users)
			return false;
	return true;
}

static bool
SameState(const Canon *a, const Canon *b)
{
	int32		i;

	if (a->nconfig != b->nconfig || memcmp(a->config, b->config, a->nconfig * sizeof(int32)) != 0 ||
		a->nnames != b->nnames)
		return false;
	for (i = 0; i < a->nnames; i++)
		if (a->namelens[i] != b->namelens[i] || memcmp(a->names[i], b->names[i], a->namelens[i]) != 0)
			return false;
	return SameCells(a, b);
}

/* the cells of a and b added up (the config and names of a); false when a count passes a bigint */
static bool
CanonSum(const Canon *a, const Canon *b, Canon *sum)
{
	*sum = *a;
	sum->ncells = a->ncells + b->ncells;
	sum->cells = palloc(Max(sum->ncells, 1) * sizeof(RCell));
	if (a->ncells > 0)
		memcpy(sum->cells, a->cells, a->ncells * sizeof(RCell));
	if (b->ncells > 0)
		memcpy(sum->cells + a->ncells, b->cells, b->ncells * sizeof(RCell));
	return CanonSort(sum, false);
}

static Canon
CanonOf(const AnalysisState *st)
{
	StringInfoData buf = Write(st);

	return ParseWritten(&buf);
}

/* ---------- the final's row ---------- */

static const Oid final_types[7] = {INT2ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT2ARRAYOID, DATEARRAYOID, INT4ARRAYOID, INT8ARRAYOID};

TypeFuncClass
FinalResultType(FunctionCallInfo fcinfo, Oid *resultTypeId, TupleDesc *resultTupleDesc)
{
	TupleDesc	t = palloc0(offsetof(struct TupleDescData, attrs) + 7 * sizeof(FormData_pg_attribute));
	int			j;

	t->natts = 7;
	t->tdtypeid = RECORDOID;
	t->tdtypmod = -1;
	for (j = 0; j < 7; j++)
		TupleDescAttr(t, j)->atttypid = final_types[j];
	if (resultTypeId)
		*resultTypeId = RECORDOID;
	*resultTupleDesc = t;
	return TYPEFUNC_COMPOSITE;
}

TupleDesc
FinalBlessTupleDesc(TupleDesc tupdesc)
{
	return tupdesc;
}

/* not an ArrayType: the element type and the elements, by-reference ones copied (as construct_array does) */
typedef struct FinalArray
{
	int32		vl_len_;
	Oid			elmtype;
	int			n;
	Datum	   *elems;
} FinalArray;

ArrayType *
FinalConstructArray(Datum *elems, int nelems, Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	FinalArray *a = palloc0(sizeof(FinalArray));
	int			i;
	bool		ok;

	switch (elmtype)
	{
		case INT2OID:
			ok = elmlen == 2 && elmbyval && elmalign == TYPALIGN_SHORT;
			break;
		case INT4OID:
		case DATEOID:
			ok = elmlen == 4 && elmbyval && elmalign == TYPALIGN_INT;
			break;
		case INT8OID:
			ok = elmlen == 8 && elmbyval == FLOAT8PASSBYVAL && elmalign == TYPALIGN_DOUBLE;
			break;
		case TEXTOID:
			ok = elmlen == -1 && !elmbyval && elmalign == TYPALIGN_INT;
			break;
		default:
			ok = false;
	}
	if (!ok || nelems < 0)
		Finding("construct_array called with an element layout that is not its type's");
	a->elmtype = elmtype;
	a->n = nelems;
	a->elems = palloc(Max(nelems, 1) * sizeof(Datum));
	for (i = 0; i < nelems; i++)
	{
		if (elmbyval)
			a->elems[i] = elems[i];
		else
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(elems[i]);
			struct varlena *copy = palloc(VARSIZE_ANY(v));

			memcpy(copy, v, VARSIZE_ANY(v));
			a->elems[i] = PointerGetDatum(copy);
		}
	}
	return (ArrayType *) a;
}

typedef struct FinalRow
{
	int32		vl_len_;
	Datum		values[7];
} FinalRow;

HeapTuple
FinalFormTuple(TupleDesc tupleDescriptor, Datum *values, bool *isnull)
{
	HeapTuple	t = palloc0(sizeof(HeapTupleData));
	FinalRow   *row = palloc0(sizeof(FinalRow));
	int			j;

	if (tupleDescriptor->natts != 7)
		Finding("the final's row does not have seven columns");
	for (j = 0; j < 7; j++)
	{
		if (isnull[j])
			Finding("the final's row has a NULL column");
		row->values[j] = values[j];
	}
	t->t_data = (HeapTupleHeader) row;
	return t;
}

Datum
FinalRowDatum(HeapTupleHeader tuple)
{
	return PointerGetDatum(tuple);
}

/* the final's answer on d as cells (strict: a cell twice is a finding) */
static Canon
FinalCells(Datum d, bool isnull)
{
	static const Oid elmtypes[7] = {INT2OID, INT4OID, TEXTOID, INT2OID, DATEOID, INT4OID, INT8OID};
	FinalRow   *row = (FinalRow *) DatumGetPointer(Must(analysis_cells_final, 1, d, isnull, 0, true,
														"analysis_cells_final failed on an accepted state"));
	FinalArray *col[7];
	Canon		c;
	int			i,
				j;

	memset(&c, 0, sizeof(c));
	for (j = 0; j < 7; j++)
	{
		col[j] = (FinalArray *) DatumGetPointer(row->values[j]);
		if (col[j]->elmtype != elmtypes[j] || col[j]->n != col[0]->n)
			Finding("the final's arrays are not of their types, or not of one length");
	}
	c.ncells = col[0]->n;
	c.cells = palloc(Max(c.ncells, 1) * sizeof(RCell));
	for (i = 0; i < col[0]->n; i++)
	{
		RCell	   *r = &c.cells[i];
		struct varlena *name = (struct varlena *) DatumGetPointer(col[2]->elems[i]);

		r->period = (int8) DatumGetInt16(col[0]->elems[i]);
		r->scheme = (int16) DatumGetInt32(col[1]->elems[i]);
		r->name = VARDATA_ANY(name);
		r->namelen = VARSIZE_ANY_EXHDR(name);
		r->kind = (int8) DatumGetInt16(col[3]->elems[i]);
		r->start = DatumGetDateADT(col[4]->elems[i]);
		r->k = DatumGetInt32(col[5]->elems[i]);
		r->users = DatumGetInt64(col[6]->elems[i]);
	}
	CanonSort(&c, true);
	return c;
}

/* ---------- the checks on an accepted value ---------- */

static void
Check(const uint8 *body, size_t len)
{
	AnalysisState *st1,
			   *st2,
			   *st3;
	StringInfoData w1,
				w2;
	Canon		ref,
				c1,
				c2,
				c3,
				twice;
	Datum		d;
	char	   *str;
	struct varlena *flat;
	Size		flatsize;
	int			code;
	bool		fits;

	st1 = TryRead(body, len, CurrentMemoryContext);
	if (st1 == NULL)
		return;
	if (!Parse(body, len, &ref, false))
		Finding("StateRead accepted bytes that do not have the documented layout");

	/* decode + encode: the cells of the input, added up; once more: the same */
	w1 = Write(st1);
	c1 = ParseWritten(&w1);
	if (!SameState(&ref, &c1))
		Finding("decode + encode changed the config, names or cells");
	st2 = TryRead((const uint8 *) w1.data, w1.len, CurrentMemoryContext);
	if (st2 == NULL)
		Finding("StateRead refused what StateWrite wrote");
	w2 = Write(st2);
	c2 = ParseWritten(&w2);
	if (!SameState(&c1, &c2))
		Finding("decode + encode + decode + encode changed the config, names or cells");

	/* the expanded object flattens to StateWrite's bytes */
	flatsize = CellsGetFlatSize(&st1->hdr);
	flat = palloc(flatsize);
	CellsFlattenInto(&st1->hdr, flat, flatsize);
	if (!SameBytes(PointerGetDatum(flat), (const uint8 *) w1.data, w1.len))
		Finding("the expanded object flattens to other bytes than StateWrite's");

	/* out + in, of the expanded state; send of the flat one */
	str = DatumGetCString(Must(analysis_cells_state_out, 1, EOHPGetRODatum(&st1->hdr), false, 0, true,
							   "_analysis_cells_state_out failed on an accepted state"));
	d = Must(analysis_cells_state_in, 1, CStringGetDatum(str), false, 0, true,
			 "_analysis_cells_state_in refused the output of _analysis_cells_state_out");
	st3 = TryRead((const uint8 *) VARDATA_ANY(DatumGetPointer(d)), VARSIZE_ANY_EXHDR(DatumGetPointer(d)), CurrentMemoryContext);
	if (st3 == NULL || !SameState(&c1, (c3 = CanonOf(st3), &c3)))
		Finding("out + in changed the cells");
	d = Must(analysis_cells_state_send, 1, FlatDatum(body, len), false, 0, true,
			 "_analysis_cells_state_send failed on an accepted value");
	if (!SameBytes(d, body, len))
		Finding("_analysis_cells_state_send is not the bytes");

	/* the final, on the flat value (decoded inside) and the expanded one: the cells */
	c3 = FinalCells(FlatDatum(body, len), false);
	if (!SameCells(&c1, &c3))
		Finding("the final on the flat value does not answer the decoded cells");
	c3 = FinalCells(EOHPGetRODatum(&st1->hdr), false);
	if (!SameCells(&c1, &c3))
		Finding("the final on the expanded value does not answer its cells");

	/* StateMerge into an empty state of the config: the same cells; once more: twice the counts */
	st3 = StateNew(CurrentMemoryContext, &st1->c);
	CATCH(code, StateMerge(st3, st1));
	if (code != 0)
		Finding("StateMerge into an empty state of the same config failed");
	c3 = CanonOf(st3);
	if (!SameState(&c1, &c3))
		Finding("StateMerge into an empty state changed the cells");
	fits = CanonSum(&c1, &c1, &twice);
	CATCH(code, StateMerge(st3, st1));
	if (code != 0 && (fits || code != ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE))
		Finding("merging a state twice failed other than on a count past a bigint");
	if (code == 0 && !fits)
		Finding("merging a state twice passed a bigint without an error");
	if (code == 0 && !SameCells(&twice, (c3 = CanonOf(st3), &c3)))
		Finding("merging a state twice did not double its counts");
}

/* ---------- combine ---------- */

static AnalysisState *
StateOf(Datum d)
{
	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
		Finding("combine did not answer an expanded state");
	return (AnalysisState *) DatumGetEOHP(d);
}

/* combine(combine(NULL, x), y), or NULL when refused (the SQLSTATE in *code) */
static AnalysisState *
CombineTwo(Datum x, Datum y, int *code)
{
	Datum		first = Must(analysis_cells_combine, 2, 0, true, x, false,
							 "combine refused an accepted value as the first state");
	Call		c = {.fn = analysis_cells_combine, .nargs = 2, .arg = {first, y}};

	*code = Try(&c);
	if (*code != 0)
		return NULL;
	if (c.isnull)
		Finding("combine of two states answered NULL");
	return StateOf(c.result);
}

static void
Combine(const uint8 *data, size_t size)
{
	size_t		la;
	Datum		a,
				b,
				ro;
	AnalysisState *sa,
			   *sb,
			   *ab,
			   *ba,
			   *sro;
	Canon		ca,
				cb,
				sum,
				cab,
				cba,
				before,
				after;
	bool		same_config,
				fits;
	int			code_ab,
				code_ba,
				code;
	Call		c;

	if (size < 2)
		return;
	la = ((size_t) data[0] << 8 | data[1]) % (size - 1);
	data += 2;
	size -= 2;
	if ((sa = TryRead(data, la, CurrentMemoryContext)) == NULL ||
		(sb = TryRead(data + la, size - la, CurrentMemoryContext)) == NULL)
		return;
	Check(data, la);
	Check(data + la, size - la);
	a = FlatDatum(data, la);
	b = FlatDatum(data + la, size - la);
	ca = CanonOf(sa);
	cb = CanonOf(sb);
	same_config = memcmp(&sa->c, &sb->c, sizeof(AnalysisConfig)) == 0;
	fits = CanonSum(&ca, &cb, &sum);

	/* NULL, then a flat state: the state; NULL second: the first */
	c = (Call) {.fn = analysis_cells_combine, .nargs = 2, .arg = {0, a}, .argnull = {true, false}};
	if (Try(&c) != 0 || c.isnull || !SameState(&ca, (cab = CanonOf(StateOf(c.result)), &cab)))
		Finding("combine(NULL, a) is not a");
	c = (Call) {.fn = analysis_cells_combine, .nargs = 2, .arg = {c.result, 0}, .argnull = {false, true}};
	if (Try(&c) != 0 || c.isnull || !SameState(&ca, (cab = CanonOf(StateOf(c.result)), &cab)))
		Finding("combine(a, NULL) is not a");

	ab = CombineTwo(a, b, &code_ab);
	ba = CombineTwo(b, a, &code_ba);
	if (!same_config)
	{
		if (code_ab != ERRCODE_INVALID_PARAMETER_VALUE || code_ba != ERRCODE_INVALID_PARAMETER_VALUE)
			Finding("combine of states of two configs did not refuse with invalid_parameter_value");
		return;
	}
	if (!fits)
	{
		if (code_ab != ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE || code_ba != ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
			Finding("combine of states whose counts add up past a bigint did not refuse with numeric_value_out_of_range");
		return;
	}
	if (code_ab != 0 || code_ba != 0)
		Finding("combine refused two accepted states of one config");
	cab = CanonOf(ab);
	cba = CanonOf(ba);
	if (!SameCells(&sum, &cab) || !SameCells(&sum, &cba))
		Finding("combine(a, b) or combine(b, a) does not hold the cells of both, added up");

	/* R19-4: a read-only expanded first argument is not updated in place */
	sro = TryRead(data, la, stub_agg_context);
	ro = EOHPGetRODatum(&sro->hdr);
	before = CanonOf(sro);
	c = (Call) {.fn = analysis_cells_combine, .nargs = 2, .arg = {ro, b}};
	code = Try(&c);
	if (code != 0 || c.isnull || StateOf(c.result) == sro)
		Finding("combine of a read-only expanded state failed, or answered it");
	after = CanonOf(sro);
	if (!SameState(&before, &after))
		Finding("combine updated a read-only expanded argument in place");
	if (!SameCells(&sum, (cab = CanonOf(StateOf(c.result)), &cab)))
		Finding("combine(read-only a, b) does not hold the cells of both, added up");
	if (!SameCells(&sum, (cab = FinalCells(c.result, false), &cab)))
		Finding("the final of combine(read-only a, b) does not answer the cells of both, added up");
}

/* ---------- the input ---------- */

static Datum
Recv(const uint8 *bytes, size_t len, int *code)
{
	StringInfoData buf;
	Call		c = {.fn = analysis_cells_state_recv, .nargs = 1};

	buf.data = palloc(len + 1);
	memcpy(buf.data, bytes, len);
	buf.data[len] = '\0';
	buf.len = buf.maxlen = (int) len;
	buf.cursor = 0;
	c.arg[0] = PointerGetDatum(&buf);
	*code = CleanRefusal(Try(&c));
	return c.result;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemoryContext root;
	const uint8 *rest = data + 1;
	size_t		n = size - 1;
	Call		c = {.fn = analysis_cells_state_in, .nargs = 1};
	char	   *str;
	int			code;
	Datum		d;

	if (size < 1)
		return 0;
	root = StubRootContext();
	CurrentMemoryContext = root;
	stub_agg_context = AllocSetContextCreate(root, "aggregate", ALLOCSET_DEFAULT_SIZES);
	stub_alloc_bytes = 0;
	stub_alloc_over_budget = false;
	stub_alloc_budget = BUDGET_FIXED + BUDGET_PER_BYTE * size;

	switch (data[0] % 5)
	{
		case 0:
			str = palloc(n + 1);
			memcpy(str, rest, n);
			str[n] = '\0';
			c.arg[0] = CStringGetDatum(str);
			code = Try(&c);
			if (code != ERRCODE_INVALID_TEXT_REPRESENTATION && code != ERRCODE_INVALID_PARAMETER_VALUE)
				CleanRefusal(code);
			if (code == 0)
			{
				struct varlena *v = (struct varlena *) DatumGetPointer(c.result);

				Check((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
			}
			break;
		case 1:
			c.arg[0] = CStringGetDatum(Hex(rest, n, (data[0] & 0x80) != 0));
			code = CleanRefusal(Try(&c));
			if ((code == 0) != (TryRead(rest, n, CurrentMemoryContext) != NULL))
				Finding("_analysis_cells_state_in and StateRead disagree");
			if (code == 0)
			{
				if (!SameBytes(c.result, rest, n))
					Finding("_analysis_cells_state_in stored other bytes than it was given");
				Check(rest, n);
			}
			break;
		case 2:
			d = Recv(rest, n, &code);
			if ((code == 0) != (TryRead(rest, n, CurrentMemoryContext) != NULL))
				Finding("_analysis_cells_state_recv and StateRead disagree");
			if (code == 0)
			{
				if (!SameBytes(d, rest, n))
					Finding("_analysis_cells_state_recv stored other bytes than it was given");
				Check(rest, n);
			}
			break;
		case 3:
			if (n == 0 && FinalCells(0, true).ncells != 0)
				Finding("the final of NULL answers cells");
			Check(rest, n);
			break;
		case 4:
			Combine(rest, n);
			break;
	}

	stub_agg_context = NULL;
	MemoryContextDelete(root);
	CurrentMemoryContext = NULL;
	return 0;
}
