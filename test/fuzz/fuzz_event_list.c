/*
 * fuzz_event_list.c
 *		libFuzzer harness over the type event_list (src/funnels.c): the
 *		state of window_funnel, sequence_match, sequence_count and
 *		sequence_next_node, which any role can write (text or binary input,
 *		an INITCOND, a combine's argument) and hand to any of their support
 *		functions.  It includes src/funnels.c to reach ReadList and WriteList.
 *
 * The first input byte picks the target (byte % 5); the rest is its input:
 *	0	event_list_in on the rest as a C string (syntax errors)
 *	1	event_list_in on "\x" and the hex of the rest (upper case when byte & 0x80)
 *	2	event_list_recv on the rest
 *	3	ReadList on the rest; on what it accepts, each of the four final
 *		functions, called as in an aggregate, on the flat value and on a
 *		read-only expanded one
 *	4	two values: 2 bytes give the length of the first, the rest is the
 *		second; both through event_list_recv, then event_list_combine in
 *		both orders (a NULL state first, as for a group's first partial
 *		state), then the final of their kind
 *
 * A clean rejection is an ERROR with a SQLSTATE other than XX000 (elog's
 * internal error).  A finding is a crash, an ASan/UBSan report, an internal
 * error, or a broken invariant:
 *	- whatever decodes re-encodes to the same bytes (the encoding is
 *	  canonical): through out/in, send/recv, ReadList + WriteList, and the
 *	  expanded object's flattening;
 *	- a final function given a state of another kind refuses it with
 *	  datatype_mismatch (review 19, R19-1: sequence_next_node_final read
 *	  another kind's state and crashed); one of its own kind answers or
 *	  refuses cleanly, and answers the same on the flat and the expanded form;
 *	- combine fails only with datatype_mismatch (exactly when the kinds
 *	  differ), invalid_parameter_value or array_subscript_error (other
 *	  parameters, other numbers of conditions), in both orders alike; its
 *	  result holds both inputs' rows, round-trips, and its final answers the
 *	  same in both orders (an answer is a function of the set of rows);
 *	- combine leaves a read-only (expanded) argument unchanged (R19-4);
 *	- memory stays proportional to the input (stubs.c counts it).
 */
#include "../../src/funnels.c"

#include <stdio.h>
#include <stdlib.h>

#include "stubs.h"

/* libc's printf family: the code under test calls none of port.h's pg_* versions */
#undef fprintf
#undef vsnprintf
#undef snprintf

#define BUDGET_FIXED		(256 * 1024)
#define BUDGET_PER_BYTE		256

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

/* ---------- calls, each under an error handler ---------- */

typedef struct Call
{
	PGFunction	fn;
	int			nargs;
	Datum		arg[2];
	bool		argnull[2];
	Datum		result;			/* out */
	bool		isnull;			/* out */
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

/* Call fn; 0 when it returned, else the SQLSTATE of its ERROR */
static int
Try(Call *c)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = stub_error_jump;

	if (sigsetjmp(jb, 0) == 0)
	{
		stub_error_jump = &jb;
		Invoke(c);
		stub_error_jump = save;
		stub_error_message[0] = '\0';
		return 0;
	}
	stub_error_jump = save;
	if (stub_error_sqlstate == ERRCODE_INTERNAL_ERROR)
		Finding("internal error (elog) instead of a clean rejection");
	return stub_error_sqlstate;
}

static Datum
Must1(PGFunction fn, Datum a, const char *what)
{
	Call		c = {.fn = fn, .nargs = 1, .arg = {a, 0}};

	if (Try(&c) != 0 || c.isnull)
		Finding(what);
	return c.result;
}

/* ReadList under an error handler: the list, or NULL when refused */
static EventList *
TryRead(const uint8 *bytes, size_t len, MemoryContext cxt)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = stub_error_jump;
	EventList  *s;

	if (sigsetjmp(jb, 0) == 0)
	{
		stub_error_jump = &jb;
		s = ReadList((const char *) bytes, (int64) len, NewList(cxt, 0));
		stub_error_jump = save;
		return s;
	}
	stub_error_jump = save;
	if (stub_error_sqlstate == ERRCODE_INTERNAL_ERROR)
		Finding("internal error (elog) instead of a clean rejection");
	if (stub_error_sqlstate != ERRCODE_INVALID_BINARY_REPRESENTATION)
		Finding("ReadList refused with another SQLSTATE than invalid_binary_representation");
	return NULL;
}

/* ---------- values ---------- */

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

static bool
SameDatum(Datum a, Datum b)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(b);

	return SameBytes(a, (const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
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

static Datum
Recv(const uint8 *bytes, size_t len, int *code)
{
	StringInfoData buf;
	Call		c = {.fn = event_list_recv, .nargs = 1};

	/* as the backend hands it over: a copy with a trailing NUL */
	buf.data = palloc(len + 1);
	memcpy(buf.data, bytes, len);
	buf.data[len] = '\0';
	buf.len = buf.maxlen = (int) len;
	buf.cursor = 0;
	c.arg[0] = PointerGetDatum(&buf);
	*code = Try(&c);
	return c.result;
}

/* the flat form of an expanded list, through its flattening methods */
static Datum
Flatten(EventList *s)
{
	Size		size = EventListGetFlatSize(&s->hdr);
	void	   *flat = palloc(size);

	EventListFlattenInto(&s->hdr, flat, size);
	return PointerGetDatum(flat);
}

/* a read-only expanded copy of an accepted flat value, in the aggregate context */
static Datum
ExpandedRO(Datum flat)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(flat);
	EventList  *s = NewState(stub_agg_context, 0);

	ReadList(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), s);
	return EOHPGetRODatum(&s->hdr);
}

/* body was accepted: every other way in and out gives the same bytes */
static void
RoundTrip(const uint8 *body, size_t len)
{
	Datum		flat = FlatDatum(body, len);
	Datum		d;
	char	   *str;
	struct varlena *sent;
	EventList  *s;
	StringInfoData buf;
	int			code;

	str = DatumGetCString(Must1(event_list_out, flat, "event_list_out failed on an accepted value"));
	if (strcmp(str, Hex(body, len, false)) != 0)
		Finding("event_list_out is not \\x and the hex of the bytes");
	d = Must1(event_list_in, CStringGetDatum(str), "event_list_in refused the output of event_list_out");
	if (!SameBytes(d, body, len))
		Finding("text round trip changed the bytes");

	sent = (struct varlena *) DatumGetPointer(Must1(event_list_send, flat, "event_list_send failed on an accepted value"));
	if (!SameBytes(PointerGetDatum(sent), body, len))
		Finding("event_list_send is not the bytes");
	d = Recv((const uint8 *) VARDATA(sent), VARSIZE(sent) - VARHDRSZ, &code);
	if (code != 0)
		Finding("event_list_recv refused the output of event_list_send");
	if (!SameBytes(d, body, len))
		Finding("binary round trip changed the bytes");

	s = TryRead(body, len, CurrentMemoryContext);
	if (s == NULL)
		Finding("ReadList refused an accepted value");
	initStringInfo(&buf);
	WriteList(s, &buf);
	if ((size_t) buf.len != len || memcmp(buf.data, body, len) != 0)
		Finding("ReadList + WriteList changed the bytes (encoding not canonical)");
	if (ListFlatSize(s) != len)
		Finding("ListFlatSize is not the length of the flat form");

	/* an expanded state: flattened, and through out and send */
	s = TryRead(body, len, CurrentMemoryContext);
	EOH_init_header(&s->hdr, &EventListMethods, CurrentMemoryContext);
	if (!SameBytes(Flatten(s), body, len))
		Finding("the expanded object flattens to other bytes");
	str = DatumGetCString(Must1(event_list_out, EOHPGetRODatum(&s->hdr), "event_list_out failed on an expanded value"));
	if (strcmp(str, Hex(body, len, false)) != 0)
		Finding("event_list_out of the expanded object is not the hex of the bytes");
}

/* ---------- finals ---------- */

static const struct
{
	PGFunction	fn;
	int			kind;
}			finals[] =
{
	{window_funnel_final, KIND_FUNNEL},
	{sequence_match_final, KIND_SEQUENCE},
	{sequence_count_final, KIND_SEQUENCE},
	{sequence_next_node_final, KIND_NEXT_NODE},
};

/*
 * Final i on state d (of kind `kind`): refuses another kind with
 * datatype_mismatch; on its own kind, 0 or the SQLSTATE of a clean refusal.
 * *result and *isnull: its answer.
 */
static int
Final(int i, Datum d, int kind, Datum *result, bool *isnull)
{
	Call		c = {.fn = finals[i].fn, .nargs = 1, .arg = {d, 0}};
	int			code = Try(&c);

	if (finals[i].kind != kind)
	{
		if (code == 0)
			Finding("a final function answered on the state of another kind");
		if (code != ERRCODE_DATATYPE_MISMATCH)
			Finding("a final function refused the state of another kind with another SQLSTATE than datatype_mismatch");
		return code;
	}
	*result = c.result;
	*isnull = c.isnull;
	return code;
}

static bool
SameAnswer(int i, Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull == bnull;
	if (finals[i].fn == sequence_next_node_final)
		return SameDatum(a, b);
	return a == b;				/* int4, bool, int8: by value */
}

static void
Finals(const uint8 *body, size_t len)
{
	EventList  *s = TryRead(body, len, CurrentMemoryContext);
	int			i;

	if (s == NULL)
		return;
	RoundTrip(body, len);
	for (i = 0; i < (int) lengthof(finals); i++)
	{
		Datum		r1 = 0,
					r2 = 0;
		bool		n1 = false,
					n2 = false;
		int			c1 = Final(i, FlatDatum(body, len), s->kind, &r1, &n1);
		int			c2 = Final(i, ExpandedRO(FlatDatum(body, len)), s->kind, &r2, &n2);

		if (c1 != c2)
			Finding("a final function answered on the flat form and refused the expanded one, or the reverse");
		if (c1 == 0 && !SameAnswer(i, r1, n1, r2, n2))
			Finding("a final function answered differently on the flat and the expanded form");
	}
}

/* ---------- combine ---------- */

static int
Combine(Datum a, bool anull, Datum b, Datum *result)
{
	Call		c = {.fn = event_list_combine, .nargs = 2, .arg = {a, b}, .argnull = {anull, false}};
	int			code = Try(&c);

	if (code != 0 && code != ERRCODE_DATATYPE_MISMATCH && code != ERRCODE_INVALID_PARAMETER_VALUE &&
		code != ERRCODE_ARRAY_SUBSCRIPT_ERROR)
		Finding("event_list_combine failed with something other than datatype_mismatch, invalid_parameter_value or array_subscript_error");
	if (code == 0 && c.isnull)
		Finding("event_list_combine returned NULL for non-NULL input");
	*result = c.result;
	return code;
}

/* combine(combine(NULL, x), y): 0 or the SQLSTATE of its refusal */
static int
CombineTwo(Datum x, Datum y, Datum *result)
{
	Datum		first;
	int			code = Combine(0, true, x, &first);

	if (code != 0)
		Finding("event_list_combine refused an accepted value as the group's first state");
	return Combine(first, false, y, result);
}

static void
Merge(const uint8 *data, size_t size)
{
	Datum		a,
				b,
				ab,
				ba,
				ro,
				dummy;
	EventList  *sa,
			   *sb,
			   *sab,
			   *sba,
			   *sro;
	size_t		la;
	int			code,
				code2,
				i;
	int64		n_before;

	if (size < 2)
		return;
	la = ((size_t) data[0] << 8 | data[1]) % (size - 1);
	a = Recv(data + 2, la, &code);
	if (code != 0)
		return;
	b = Recv(data + 2 + la, size - 2 - la, &code);
	if (code != 0)
		return;
	sa = TryRead((const uint8 *) VARDATA_ANY(DatumGetPointer(a)), VARSIZE_ANY_EXHDR(DatumGetPointer(a)), CurrentMemoryContext);
	sb = TryRead((const uint8 *) VARDATA_ANY(DatumGetPointer(b)), VARSIZE_ANY_EXHDR(DatumGetPointer(b)), CurrentMemoryContext);

	code = CombineTwo(a, b, &ab);
	code2 = CombineTwo(b, a, &ba);
	if ((code == 0) != (code2 == 0))
		Finding("combine(a, b) and combine(b, a) disagree on whether they combine");
	if (sa->kind != sb->kind && code != ERRCODE_DATATYPE_MISMATCH)
		Finding("combine of two kinds did not fail with datatype_mismatch");
	if (sa->kind == sb->kind && code == ERRCODE_DATATYPE_MISMATCH)
		Finding("combine of one kind failed with datatype_mismatch");
	if (code != 0)
		return;
	sab = (EventList *) DatumGetEOHP(ab);
	sba = (EventList *) DatumGetEOHP(ba);
	if (sab->n != sa->n + sb->n || sba->n != sa->n + sb->n)
		Finding("the combined state does not hold both inputs' rows");
	{
		Datum		fab = Flatten(sab);
		Datum		fba = Flatten(sba);

		if (TryRead((const uint8 *) VARDATA(DatumGetPointer(fab)), VARSIZE(DatumGetPointer(fab)) - VARHDRSZ, CurrentMemoryContext) == NULL)
			Finding("the combined state's flat form is refused");
		RoundTrip((const uint8 *) VARDATA(DatumGetPointer(fab)), VARSIZE(DatumGetPointer(fab)) - VARHDRSZ);
		for (i = 0; i < (int) lengthof(finals); i++)
		{
			Datum		r1 = 0,
						r2 = 0;
			bool		n1 = false,
						n2 = false;
			int			c1,
						c2;

			if (finals[i].kind != sab->kind)
				continue;
			c1 = Final(i, fab, sab->kind, &r1, &n1);
			c2 = Final(i, fba, sab->kind, &r2, &n2);
			if (c1 != c2 || (c1 == 0 && !SameAnswer(i, r1, n1, r2, n2)))
				Finding("the final answers differently on combine(a, b) and combine(b, a)");
		}
	}

	/* R19-4: a read-only expanded argument is not updated in place */
	ro = ExpandedRO(a);
	sro = (EventList *) DatumGetEOHP(ro);
	n_before = sro->n;
	if (Combine(ro, false, b, &dummy) != 0)
		Finding("combine of a read-only expanded state failed where the flat one combined");
	if (sro->n != n_before)
		Finding("combine appended to a read-only expanded argument in place");
}

/* ---------- entry ---------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemoryContext root;
	const uint8 *rest = data + 1;
	size_t		n = size - 1;
	Call		c = {.fn = event_list_in, .nargs = 1};
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
			if (Try(&c) == 0)
			{
				struct varlena *v = (struct varlena *) DatumGetPointer(c.result);

				RoundTrip((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
			}
			break;
		case 1:
			c.arg[0] = CStringGetDatum(Hex(rest, n, (data[0] & 0x80) != 0));
			code = Try(&c);
			if ((code == 0) != (TryRead(rest, n, CurrentMemoryContext) != NULL))
				Finding("event_list_in and ReadList disagree");
			if (code == 0)
			{
				if (!SameBytes(c.result, rest, n))
					Finding("event_list_in stored other bytes than it was given");
				RoundTrip(rest, n);
			}
			break;
		case 2:
			d = Recv(rest, n, &code);
			if ((code == 0) != (TryRead(rest, n, CurrentMemoryContext) != NULL))
				Finding("event_list_recv and ReadList disagree");
			if (code == 0)
			{
				if (!SameBytes(d, rest, n))
					Finding("event_list_recv stored other bytes than it was given");
				RoundTrip(rest, n);
			}
			break;
		case 3:
			Finals(rest, n);
			break;
		case 4:
			Merge(rest, n);
			break;
	}

	stub_agg_context = NULL;
	MemoryContextDelete(root);
	CurrentMemoryContext = NULL;
	return 0;
}
