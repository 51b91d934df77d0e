/*
 * fuzz_rfm_values.c
 *		libFuzzer harness over the type rfm_values (src/scores.c): the state
 *		of rfm_breakpoints, which any role can write (text or binary input,
 *		an INITCOND, a combine's argument) and hand to its support
 *		functions.  It includes src/scores.c to reach RfmRead and RfmWrite.
 *
 * The first input byte picks the target (byte % 5); the rest is its input:
 *	0	rfm_values_in on the rest as a C string (syntax errors)
 *	1	rfm_values_in on "\x" and the hex of the rest (upper case when byte & 0x80)
 *	2	rfm_values_recv on the rest
 *	3	RfmRead on the rest; on what it accepts, rfm_breakpoints_final,
 *		called as in an aggregate, on the flat value, on a read-only
 *		expanded one and on what rfm_breakpoints_deserialize (0.1's
 *		parallel path) makes of it in 0.1's layout
 *	4	two values: 2 bytes give the length of the first, the rest is the
 *		second; both through rfm_values_recv, then rfm_breakpoints_combine
 *		in both orders (a NULL state first), then the final
 *
 * A clean rejection is an ERROR with a SQLSTATE other than XX000.  A finding
 * is a crash, an ASan/UBSan report, an internal error, or a broken
 * invariant:
 *	- whatever decodes re-encodes to the same bytes: through out/in,
 *	  send/recv, RfmRead + RfmWrite, the expanded object's flattening;
 *	  rfm_breakpoints_serialize writes release 0.1's layout (native n and
 *	  values: a 0.1 leader reads its parallel workers' states, R19-6) and
 *	  rfm_breakpoints_deserialize reads it back;
 *	- the final answers on every accepted value, the same on the flat and
 *	  the expanded form;
 *	- combine never fails on two accepted values; its result holds both
 *	  inputs' values, round-trips, and the final answers the same in both
 *	  orders;
 *	- combine leaves a read-only (expanded) argument unchanged (R19-4);
 *	- memory stays proportional to the input (stubs.c counts it).
 */
#include "../../src/scores.c"

#include <stdio.h>
#include <stdlib.h>

#include "stubs.h"

#undef fprintf
#undef vsnprintf
#undef snprintf

/* each state reserves room for at least 1024 behaviors (24 kB); an input makes a few dozen */
#define BUDGET_FIXED		(1024 * 1024)
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
Must(PGFunction fn, int nargs, Datum a, bool anull, Datum b, const char *what)
{
	Call		c = {.fn = fn, .nargs = nargs, .arg = {a, b}, .argnull = {anull, false}};

	if (Try(&c) != 0 || c.isnull)
		Finding(what);
	return c.result;
}

/* RfmRead under an error handler: the values, or NULL when refused */
static RfmValues *
TryRead(const uint8 *bytes, size_t len, MemoryContext cxt)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = stub_error_jump;
	RfmValues  *st;

	if (sigsetjmp(jb, 0) == 0)
	{
		stub_error_jump = &jb;
		st = RfmCreate(cxt);
		RfmRead(st, (const char *) bytes, len);
		stub_error_jump = save;
		return st;
	}
	stub_error_jump = save;
	if (stub_error_sqlstate == ERRCODE_INTERNAL_ERROR)
		Finding("internal error (elog) instead of a clean rejection");
	if (stub_error_sqlstate != ERRCODE_INVALID_BINARY_REPRESENTATION)
		Finding("RfmRead refused with another SQLSTATE than invalid_binary_representation");
	return NULL;
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
	Call		c = {.fn = rfm_values_recv, .nargs = 1};

	buf.data = palloc(len + 1);
	memcpy(buf.data, bytes, len);
	buf.data[len] = '\0';
	buf.len = buf.maxlen = (int) len;
	buf.cursor = 0;
	c.arg[0] = PointerGetDatum(&buf);
	*code = Try(&c);
	return c.result;
}

static Datum
Flatten(RfmValues *st)
{
	Size		size = RfmGetFlatSize(&st->hdr);
	void	   *flat = palloc(size);

	RfmFlattenInto(&st->hdr, flat, size);
	return PointerGetDatum(flat);
}

/* a read-only expanded copy of an accepted flat value, in the aggregate context */
static Datum
ExpandedRO(Datum flat)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(flat);
	RfmValues  *st = RfmCreate(stub_agg_context);

	RfmRead(st, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	return EOHPGetRODatum(&st->hdr);
}

/* release 0.1's serialized state (its rfm_breakpoints_serialize): n, then each score's n values, native */
static Datum
V01Layout(const RfmValues *st)
{
	Size		len = sizeof(int64) + st->n * RFM_SCORES * sizeof(float8);
	struct varlena *v = palloc(VARHDRSZ + len);
	char	   *p = VARDATA(v);
	int			i;

	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(p, &st->n, sizeof(int64));
	p += sizeof(int64);
	for (i = 0; i < RFM_SCORES; i++)
	{
		memcpy(p, st->v[i], st->n * sizeof(float8));
		p += st->n * sizeof(float8);
	}
	return PointerGetDatum(v);
}

static void
RoundTrip(const uint8 *body, size_t len)
{
	Datum		flat = FlatDatum(body, len);
	Datum		d;
	char	   *str;
	struct varlena *sent;
	RfmValues  *st;
	StringInfoData buf;
	int			code;

	str = DatumGetCString(Must(rfm_values_out, 1, flat, false, 0, "rfm_values_out failed on an accepted value"));
	if (strcmp(str, Hex(body, len, false)) != 0)
		Finding("rfm_values_out is not \\x and the hex of the bytes");
	d = Must(rfm_values_in, 1, CStringGetDatum(str), false, 0, "rfm_values_in refused the output of rfm_values_out");
	if (!SameBytes(d, body, len))
		Finding("text round trip changed the bytes");

	sent = (struct varlena *) DatumGetPointer(Must(rfm_values_send, 1, flat, false, 0, "rfm_values_send failed on an accepted value"));
	if (!SameBytes(PointerGetDatum(sent), body, len))
		Finding("rfm_values_send is not the bytes");
	d = Recv((const uint8 *) VARDATA(sent), VARSIZE(sent) - VARHDRSZ, &code);
	if (code != 0)
		Finding("rfm_values_recv refused the output of rfm_values_send");
	if (!SameBytes(d, body, len))
		Finding("binary round trip changed the bytes");

	st = TryRead(body, len, CurrentMemoryContext);
	if (st == NULL)
		Finding("RfmRead refused an accepted value");
	initStringInfo(&buf);
	RfmWrite(st, &buf);
	if ((size_t) buf.len != len || memcmp(buf.data, body, len) != 0)
		Finding("RfmRead + RfmWrite changed the bytes (encoding not canonical)");
	if (RfmFlatBodySize(st) != len)
		Finding("RfmFlatBodySize is not the length of the flat form");
	if (!SameBytes(Flatten(st), body, len))
		Finding("the expanded object flattens to other bytes");
	str = DatumGetCString(Must(rfm_values_out, 1, EOHPGetRODatum(&st->hdr), false, 0, "rfm_values_out failed on an expanded value"));
	if (strcmp(str, Hex(body, len, false)) != 0)
		Finding("rfm_values_out of the expanded object is not the hex of the bytes");
	/*
	 * 0.1's parallel path: serialize writes 0.1's layout (R19-6: a leader
	 * on 0.1's library reads it), and deserialize reads it back
	 */
	d = Must(rfm_breakpoints_serialize, 1, EOHPGetRODatum(&st->hdr), false, 0, "rfm_breakpoints_serialize failed");
	if (!SameDatum(d, V01Layout(st)))
		Finding("rfm_breakpoints_serialize does not write 0.1's layout");
	d = Must(rfm_breakpoints_deserialize, 1, d, false, 0, "rfm_breakpoints_deserialize refused serialize's output");
	if (!SameBytes(Flatten((RfmValues *) DatumGetEOHP(d)), body, len))
		Finding("serialize + deserialize changed the values");
}

static Datum
Final(Datum d)
{
	return Must(rfm_breakpoints_final, 1, d, false, 0, "rfm_breakpoints_final failed on an accepted value");
}

static void
Finals(const uint8 *body, size_t len)
{
	Datum		r1,
				r2,
				r3;

	if (TryRead(body, len, CurrentMemoryContext) == NULL)
		return;
	RoundTrip(body, len);
	r1 = Final(FlatDatum(body, len));
	r2 = Final(ExpandedRO(FlatDatum(body, len)));
	r3 = Final(Must(rfm_breakpoints_deserialize, 1, V01Layout(TryRead(body, len, CurrentMemoryContext)), false, 0,
					"rfm_breakpoints_deserialize refused an accepted value in 0.1's layout"));
	if (!SameDatum(r1, r2) || !SameDatum(r1, r3))
		Finding("the final answers differently on the flat, expanded and deserialized forms");
}

static Datum
CombineTwo(Datum x, Datum y)
{
	Datum		first = Must(rfm_breakpoints_combine, 2, 0, true, x, "combine refused an accepted value as the first state");

	return Must(rfm_breakpoints_combine, 2, first, false, y, "combine refused two accepted values");
}

static void
Merge(const uint8 *data, size_t size)
{
	Datum		a,
				b,
				ab,
				ba,
				ro,
				fab,
				fba;
	RfmValues  *sa,
			   *sb,
			   *sro;
	size_t		la;
	int			code;
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

	ab = CombineTwo(a, b);
	ba = CombineTwo(b, a);
	if (((RfmValues *) DatumGetEOHP(ab))->n != sa->n + sb->n ||
		((RfmValues *) DatumGetEOHP(ba))->n != sa->n + sb->n)
		Finding("the combined state does not hold both inputs' values");
	fab = Flatten((RfmValues *) DatumGetEOHP(ab));
	fba = Flatten((RfmValues *) DatumGetEOHP(ba));
	RoundTrip((const uint8 *) VARDATA(DatumGetPointer(fab)), VARSIZE(DatumGetPointer(fab)) - VARHDRSZ);
	if (!SameDatum(Final(fab), Final(fba)))
		Finding("the final answers differently on combine(a, b) and combine(b, a)");

	/* R19-4: a read-only expanded argument is not updated in place */
	ro = ExpandedRO(a);
	sro = (RfmValues *) DatumGetEOHP(ro);
	n_before = sro->n;
	(void) Must(rfm_breakpoints_combine, 2, ro, false, b, "combine of a read-only expanded state failed");
	if (sro->n != n_before)
		Finding("combine appended to a read-only expanded argument in place");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemoryContext root;
	const uint8 *rest = data + 1;
	size_t		n = size - 1;
	Call		c = {.fn = rfm_values_in, .nargs = 1};
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
				Finding("rfm_values_in and RfmRead disagree");
			if (code == 0)
			{
				if (!SameBytes(c.result, rest, n))
					Finding("rfm_values_in stored other bytes than it was given");
				RoundTrip(rest, n);
			}
			break;
		case 2:
			d = Recv(rest, n, &code);
			if ((code == 0) != (TryRead(rest, n, CurrentMemoryContext) != NULL))
				Finding("rfm_values_recv and RfmRead disagree");
			if (code == 0)
			{
				if (!SameBytes(d, rest, n))
					Finding("rfm_values_recv stored other bytes than it was given");
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
