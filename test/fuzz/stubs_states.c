/*
 * stubs_states.c
 *		The backend symbols src/funnels.c and src/scores.c link against beyond
 *		stubs.c's, for the harnesses of the aggregates' state types
 *		(fuzz_event_list.c, fuzz_rfm_values.c, fuzz_analysis_cells.c).
 *
 * What the decoders, the I/O functions, the combine and final functions
 * reach is implemented as the backend does it (byteain's hex form,
 * cstring_to_text, the pq_getmsg* readers with their bounds checks, date2j
 * and j2date); whatever else the files call (set-returning functions,
 * arrays) is
 * never reached from the harnesses and aborts, so a harness that started to
 * reach it would say so.
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "access/tupdesc.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "stubs.h"

#undef fprintf

volatile sig_atomic_t InterruptPending = false;

void
ProcessInterrupts(void)
{
}

#define UNREACHED(name) \
	do { fprintf(stderr, "harness bug: %s called\n", name); abort(); } while (0)

/* ---------- never reached from the harnesses ---------- */

int
ArrayGetNItems(int ndim, const int *dims)
{
	UNREACHED("ArrayGetNItems");
}

bool
array_contains_nulls(ArrayType *array)
{
	UNREACHED("array_contains_nulls");
}

TupleDesc
BlessTupleDesc(TupleDesc tupdesc)
{
	UNREACHED("BlessTupleDesc");
}

Datum
HeapTupleHeaderGetDatum(HeapTupleHeader tuple)
{
	UNREACHED("HeapTupleHeaderGetDatum");
}

ArrayType *
construct_array(Datum *elems, int nelems, Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	UNREACHED("construct_array");
}

/*
 * rfm_breakpoints_final's float8[3][4]: not a real array, a varlena of the
 * elements (by value, no NULLs) in order, enough to compare two answers
 */
ArrayType *
construct_md_array(Datum *elems, bool *nulls, int ndims, int *dims, int *lbs,
				   Oid elmtype, int elmlen, bool elmbyval, char elmalign)
{
	int			n = 1;
	int			i;
	struct varlena *v;

	if (nulls != NULL || !elmbyval || elmlen != sizeof(Datum))
		UNREACHED("construct_md_array (not by value, or with NULLs)");
	for (i = 0; i < ndims; i++)
		n *= dims[i];
	v = palloc(VARHDRSZ + n * sizeof(Datum));
	SET_VARSIZE(v, VARHDRSZ + n * sizeof(Datum));
	memcpy(VARDATA(v), elems, n * sizeof(Datum));
	return (ArrayType *) v;
}

TypeFuncClass
get_call_result_type(FunctionCallInfo fcinfo, Oid *resultTypeId, TupleDesc *resultTupleDesc)
{
	UNREACHED("get_call_result_type");
}

HeapTuple
heap_form_tuple(TupleDesc tupleDescriptor, Datum *values, bool *isnull)
{
	UNREACHED("heap_form_tuple");
}

TupleDesc
CreateTupleDescCopy(TupleDesc tupdesc)
{
	UNREACHED("CreateTupleDescCopy");
}

void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	UNREACHED("InitMaterializedSRF");
}

void
tuplestore_putvalues(Tuplestorestate *state, TupleDesc tdesc, Datum *values, bool *isnull)
{
	UNREACHED("tuplestore_putvalues");
}

/* utils/adt/datetime.c's (PeriodBounds and the month indexes of src/analyses.c reach them) */
int
date2j(int y, int m, int d)
{
	int			julian;
	int			century;

	if (m > 2)
	{
		m += 1;
		y += 4800;
	}
	else
	{
		m += 13;
		y += 4799;
	}

	century = y / 100;
	julian = y * 365 - 32167;
	julian += y / 4 - century + century / 4;
	julian += 7834 * m / 256 + d;

	return julian;
}

void
j2date(int jd, int *year, int *month, int *day)
{
	unsigned int julian;
	unsigned int quad;
	unsigned int extra;
	int			y;

	julian = jd;
	julian += 32044;
	quad = julian / 146097;
	extra = (julian - quad * 146097) * 4 + 3;
	julian += 60 + quad * 3 + extra / 146097;
	quad = julian / 1461;
	julian -= quad * 1461;
	y = julian * 4 / 1461;
	julian = ((y != 0) ? ((julian + 305) % 365) : ((julian + 306) % 366))
		+ 123;
	y += quad * 4;
	*year = y - 4800;
	quad = julian * 2141 / 65536;
	*day = julian - 7834 * quad / 256;
	*month = (quad + 10) % MONTHS_PER_YEAR + 1;
}

Datum
interval_out(PG_FUNCTION_ARGS)
{
	UNREACHED("interval_out");
}

/* ---------- memory ---------- */

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return MemoryContextAllocExtended(context, size, MCXT_ALLOC_HUGE);
}

void *
palloc_extended(Size size, int flags)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, size, flags);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

/* ---------- text ---------- */

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *result = (text *) palloc(len + VARHDRSZ);

	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), s, len);
	return result;
}

char *
text_to_cstring(const text *t)
{
	text	   *tunpacked = pg_detoast_datum_packed(unconstify(text *, t));
	int			len = VARSIZE_ANY_EXHDR(tunpacked);
	char	   *result = palloc(len + 1);

	memcpy(result, VARDATA_ANY(tunpacked), len);
	result[len] = '\0';
	return result;
}

/* ---------- fmgr ---------- */

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, collation, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
	{
		fprintf(stderr, "FINDING: function %p returned NULL\n", (void *) func);
		abort();
	}
	return result;
}

/* ---------- bytea's text form, as varlena.c and encode.c have it ---------- */

static int
HexValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid hexadecimal digit: \"%c\"", c)));
	return 0;
}

/*
 * byteain: the hex form (whitespace between digit pairs allowed, as
 * hex_decode has it); the escape form is not needed (rfm_values_in takes
 * only \x)
 */
Datum
byteain(PG_FUNCTION_ARGS)
{
	char	   *inputText = PG_GETARG_CSTRING(0);
	size_t		len = strlen(inputText);
	bytea	   *result;
	char	   *p;
	const char *s;
	const char *end;

	if (len < 2 || inputText[0] != '\\' || inputText[1] != 'x')
		UNREACHED("byteain (escape form)");
	result = palloc(VARHDRSZ + (len - 2) / 2);
	p = VARDATA(result);
	s = inputText + 2;
	end = inputText + len;
	while (s < end)
	{
		int			hi,
					lo;

		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		{
			s++;
			continue;
		}
		hi = HexValue(*s++);
		if (s >= end)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid hexadecimal data: odd number of digits")));
		lo = HexValue(*s++);
		*p++ = (char) ((hi << 4) | lo);
	}
	SET_VARSIZE(result, p - (char *) result);
	PG_RETURN_BYTEA_P(result);
}

/* byteaout under bytea_output = hex (the default) */
Datum
byteaout(PG_FUNCTION_ARGS)
{
	bytea	   *vlena = PG_GETARG_BYTEA_PP(0);
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(vlena);
	size_t		n = VARSIZE_ANY_EXHDR(vlena);
	char	   *out = palloc(2 * n + 3);
	size_t		i;

	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < n; i++)
	{
		out[2 + 2 * i] = digits[p[i] >> 4];
		out[3 + 2 * i] = digits[p[i] & 15];
	}
	out[2 + 2 * n] = '\0';
	PG_RETURN_CSTRING(out);
}

/* ---------- StringInfo and pq_*, with pqformat.c's bounds checks ---------- */

void
initStringInfo(StringInfo str)
{
	str->data = palloc(1024);
	str->maxlen = 1024;
	str->len = 0;
	str->data[0] = '\0';
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || ((Size) needed) >= (MaxAllocSize - (Size) str->len))
		elog(ERROR, "out of memory");
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
pq_copymsgbytes(StringInfo msg, char *buf, int datalen)
{
	if (datalen < 0 || datalen > (msg->len - msg->cursor))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	memcpy(buf, &msg->data[msg->cursor], datalen);
	msg->cursor += datalen;
}

int
pq_getmsgbyte(StringInfo msg)
{
	if (msg->cursor >= msg->len)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("no data left in message")));
	return (unsigned char) msg->data[msg->cursor++];
}

unsigned int
pq_getmsgint(StringInfo msg, int b)
{
	unsigned char n8;
	uint16		n16;
	uint32		n32;

	switch (b)
	{
		case 1:
			pq_copymsgbytes(msg, (char *) &n8, 1);
			return n8;
		case 2:
			pq_copymsgbytes(msg, (char *) &n16, 2);
			return pg_ntoh16(n16);
		case 4:
			pq_copymsgbytes(msg, (char *) &n32, 4);
			return pg_ntoh32(n32);
	}
	elog(ERROR, "unsupported integer size %d", b);
	return 0;
}

void
pq_getmsgend(StringInfo msg)
{
	if (msg->cursor != msg->len)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("invalid message format")));
}

int64
pq_getmsgint64(StringInfo msg)
{
	uint64		n64;

	pq_copymsgbytes(msg, (char *) &n64, sizeof(n64));
	return pg_ntoh64(n64);
}

float8
pq_getmsgfloat8(StringInfo msg)
{
	union
	{
		float8		f;
		int64		i;
	}			swap;

	swap.i = pq_getmsgint64(msg);
	return swap.f;
}

void
pq_sendfloat8(StringInfo buf, float8 f)
{
	union
	{
		float8		f;
		int64		i;
	}			swap;

	swap.f = f;
	pq_sendint64(buf, swap.i);
}

/* port/qsort_arg.c: glibc's qsort_r stands in */
extern void qsort_r(void *base, size_t nel, size_t elsize,
					int (*cmp) (const void *, const void *, void *), void *arg);

void
qsort_arg(void *base, size_t nel, size_t elsize, qsort_arg_comparator cmp, void *arg)
{
	qsort_r(base, nel, elsize, cmp, arg);
}
