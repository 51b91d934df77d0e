/*
 * fuzz_behavior.c
 *		libFuzzer harness over everything in src/behavior.c that reads bytes
 *		or text from outside: behavior_in (text), behavior_recv (binary),
 *		BehaviorFromDatum (the stored varlena) and, on what they accept,
 *		behavior_out, behavior_send and behavior_merge.
 *
 * The first input byte picks the target (byte % 5); the rest is its input:
 *	0	behavior_in on the rest as a C string (syntax errors)
 *	1	behavior_in on "\x" and the hex of the rest (upper case when byte & 0x80)
 *	2	behavior_recv on the rest
 *	3	BehaviorFromDatum on the rest behind a 4-byte varlena header, and
 *		behind a 1-byte one when it fits
 *	4	two values: 2 bytes give the length of the first, the rest is the
 *		second; both through behavior_recv, then behavior_merge both ways
 *
 * A clean rejection is an ERROR with a SQLSTATE other than XX000 (elog's
 * internal error).  A finding is a crash, an ASan/UBSan report, an internal
 * error, or a broken invariant:
 *	- whatever decodes re-encodes to the same bytes (the encoding is
 *	  canonical), through out/in, send/recv and BehaviorFromDatum +
 *	  BehaviorGetDatum, under both varlena header forms;
 *	- a value once accepted is never rejected later;
 *	- merge is commutative to the byte, its result round-trips, it is
 *	  associative where no intermediate sum overflows, and it fails only
 *	  with a data exception (class 22: a sum out of range) or, for a 0.1
 *	  (version 1) value with a version 2 one, both ways, with
 *	  object_not_in_prerequisite_state;
 *	- memory stays proportional to the input (stubs.c counts it): at most
 *	  BUDGET_FIXED + BUDGET_PER_BYTE * input size per input.  With
 *	  FUZZ_MEMORY=report in the environment (run.sh sets it while
 *	  known-open lists "memory"), going past the budget is counted and
 *	  reported as a known open finding instead of failing.
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "behavior.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "stubs.h"

/* libc's printf family: the code under test calls none of port.h's pg_* versions */
#undef fprintf
#undef vsnprintf
#undef snprintf

extern Datum behavior_in(PG_FUNCTION_ARGS);
extern Datum behavior_out(PG_FUNCTION_ARGS);
extern Datum behavior_recv(PG_FUNCTION_ARGS);
extern Datum behavior_send(PG_FUNCTION_ARGS);
extern Datum behavior_merge(PG_FUNCTION_ARGS);

/* memory budget per input: fixed overhead plus this much per input byte */
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

/* Call a V1 function; a NULL result is a finding */
static Datum
Call(PGFunction fn, int nargs, Datum a0, Datum a1)
{
	LOCAL_FCINFO(fcinfo, 2);
	FmgrInfo	flinfo;
	Datum		result;

	memset(&flinfo, 0, sizeof(flinfo));
	flinfo.fn_addr = fn;
	flinfo.fn_nargs = nargs;
	flinfo.fn_strict = true;
	flinfo.fn_mcxt = CurrentMemoryContext;
	InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = a0;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = a1;
	fcinfo->args[1].isnull = false;
	result = fn(fcinfo);
	if (fcinfo->isnull)
		Finding("a function returned NULL for non-NULL input");
	return result;
}

/* ---------- steps, each run under an error handler ---------- */

typedef struct Step
{
	const char *str;			/* in */
	const uint8 *bytes;			/* in */
	size_t		len;
	Datum		a,
				b;
	Datum		result;			/* out */
	const char *out_str;
} Step;

static void
StepIn(Step *s)
{
	s->result = Call(behavior_in, 1, CStringGetDatum(s->str), 0);
}

static void
StepOut(Step *s)
{
	s->out_str = DatumGetCString(Call(behavior_out, 1, s->a, 0));
}

static void
StepRecv(Step *s)
{
	StringInfoData buf;

	/* as the backend hands it over: a copy with a trailing NUL */
	buf.data = palloc(s->len + 1);
	memcpy(buf.data, s->bytes, s->len);
	buf.data[s->len] = '\0';
	buf.len = buf.maxlen = (int) s->len;
	buf.cursor = 0;
	s->result = Call(behavior_recv, 1, PointerGetDatum(&buf), 0);
}

static void
StepSend(Step *s)
{
	s->result = Call(behavior_send, 1, s->a, 0);
}

static void
StepReencode(Step *s)
{
	Behavior	tmp;

	s->result = BehaviorGetDatum(unconstify(Behavior *, BehaviorFromDatum(s->a, &tmp)));
}

static void
StepMerge(Step *s)
{
	s->result = Call(behavior_merge, 2, s->a, s->b);
}

/* Run a step; 0 when it returned, else the SQLSTATE of its ERROR */
static int
Try(void (*fn) (Step *), Step *s)
{
	sigjmp_buf	jb;
	sigjmp_buf *save = stub_error_jump;

	if (sigsetjmp(jb, 0) == 0)
	{
		stub_error_jump = &jb;
		fn(s);
		stub_error_jump = save;
		stub_error_message[0] = '\0';
		return 0;
	}
	stub_error_jump = save;
	if (stub_error_sqlstate == ERRCODE_INTERNAL_ERROR)
		Finding("internal error (elog) instead of a clean rejection");
	return stub_error_sqlstate;
}

/* Run a step that must succeed */
static void
Must(void (*fn) (Step *), Step *s, const char *what)
{
	if (Try(fn, s) != 0)
		Finding(what);
}

/* ---------- checks ---------- */

static Datum
FlatDatum(const uint8 *body, size_t len, bool short_header)
{
	if (short_header)
	{
		uint8	   *v = palloc(VARHDRSZ_SHORT + len);

		SET_VARSIZE_SHORT(v, VARHDRSZ_SHORT + len);
		memcpy(v + VARHDRSZ_SHORT, body, len);
		return PointerGetDatum(v);
	}
	else
	{
		struct varlena *v = palloc(VARHDRSZ + len);

		SET_VARSIZE(v, VARHDRSZ + len);
		memcpy(VARDATA(v), body, len);
		return PointerGetDatum(v);
	}
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

/* body was accepted: every other way in and out must give the same bytes */
static void
RoundTrip(const uint8 *body, size_t len)
{
	Step		s = {0};
	struct varlena *sent;

	s.a = FlatDatum(body, len, false);
	Must(StepOut, &s, "behavior_out failed on an accepted value");
	if (strcmp(s.out_str, Hex(body, len, false)) != 0)
		Finding("behavior_out is not \\x and the hex of the stored bytes");
	s.str = s.out_str;
	Must(StepIn, &s, "behavior_in rejected the output of behavior_out");
	if (!SameBytes(s.result, body, len))
		Finding("text round trip changed the bytes");

	Must(StepSend, &s, "behavior_send failed on an accepted value");
	sent = (struct varlena *) DatumGetPointer(s.result);
	if (VARSIZE(sent) - VARHDRSZ != len || memcmp(VARDATA(sent), body, len) != 0)
		Finding("behavior_send is not the stored bytes");
	s.bytes = (const uint8 *) VARDATA(sent);
	s.len = VARSIZE(sent) - VARHDRSZ;
	Must(StepRecv, &s, "behavior_recv rejected the output of behavior_send");
	if (!SameBytes(s.result, body, len))
		Finding("binary round trip changed the bytes");

	Must(StepReencode, &s, "BehaviorFromDatum rejected an accepted value");
	if (!SameBytes(s.result, body, len))
		Finding("decode and re-encode changed the bytes (encoding not canonical)");
	if (VARHDRSZ_SHORT + len <= VARATT_SHORT_MAX)
	{
		s.a = FlatDatum(body, len, true);
		Must(StepReencode, &s, "BehaviorFromDatum rejected an accepted value behind a 1-byte header");
		if (!SameBytes(s.result, body, len))
			Finding("decode and re-encode behind a 1-byte header changed the bytes");
	}
}

static void
AcceptedDatum(Datum d)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	RoundTrip((const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

/* the format version of a flat value: 1 (0.1, no per-feature days) or 2 */
static uint8
Version(Datum d)
{
	return *(const uint8 *) VARDATA_ANY(DatumGetPointer(d));
}

/*
 * merge may fail only with a data exception (a sum out of range), or, when
 * one side is a 0.1 value and the other is not, with
 * object_not_in_prerequisite_state
 */
static bool
TryMerge(Step *s)
{
	int			code = Try(StepMerge, s);

	if (code == 0)
		return true;
	if (code == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE && Version(s->a) != Version(s->b))
		return false;
	if (ERRCODE_TO_CATEGORY(code) != ERRCODE_DATA_EXCEPTION)
		Finding("behavior_merge failed with something other than a data exception");
	return false;
}

static void
Merge(const uint8 *data, size_t size)
{
	Step		s = {0};
	Datum		a,
				b,
				ab,
				ba,
				bb;
	size_t		la;

	if (size < 2)
		return;
	la = ((size_t) data[0] << 8 | data[1]) % (size - 1);
	s.bytes = data + 2;
	s.len = la;
	if (Try(StepRecv, &s) != 0)
		return;
	a = s.result;
	s.bytes = data + 2 + la;
	s.len = size - 2 - la;
	if (Try(StepRecv, &s) != 0)
		return;
	b = s.result;

	s.a = a;
	s.b = b;
	if (!TryMerge(&s))
	{
		/* a 0.1 value merges with another one only, both ways */
		s.a = b;
		s.b = a;
		if (Try(StepMerge, &s) == 0)
			Finding("merge(a, b) failed but merge(b, a) succeeded");
		return;
	}
	ab = s.result;
	s.a = b;
	s.b = a;
	if (!TryMerge(&s))
		Finding("merge(a, b) succeeded but merge(b, a) failed");
	ba = s.result;
	if (VARSIZE(ab) != VARSIZE(ba) || memcmp(DatumGetPointer(ab), DatumGetPointer(ba), VARSIZE(ab)) != 0)
		Finding("merge is not commutative");
	AcceptedDatum(ab);

	/* (a ∪ b) ∪ b = a ∪ (b ∪ b) */
	s.a = b;
	s.b = b;
	if (!TryMerge(&s))
		return;
	bb = s.result;
	s.a = ab;
	s.b = b;
	if (!TryMerge(&s))
		return;
	ab = s.result;
	s.a = a;
	s.b = bb;
	if (!TryMerge(&s))
		return;
	if (VARSIZE(ab) != VARSIZE(s.result) || memcmp(DatumGetPointer(ab), DatumGetPointer(s.result), VARSIZE(ab)) != 0)
		Finding("merge is not associative");
}

static long over_budget_inputs = 0;
static Size over_budget_worst = 0;
static size_t over_budget_worst_size = 0;

static void
ReportOverBudget(void)
{
	if (over_budget_inputs > 0)
		fprintf(stderr, "KNOWN OPEN FINDING reproduced: memory not proportional to the input in %ld inputs "
				"(worst: %zu bytes for a %zu-byte input)\n",
				over_budget_inputs, over_budget_worst, over_budget_worst_size);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *mode = getenv("FUZZ_MEMORY");

	if (mode != NULL && strcmp(mode, "report") == 0)
	{
		stub_alloc_strict = false;
		atexit(ReportOverBudget);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemoryContext root;
	Step		s = {0};
	const uint8 *rest = data + 1;
	size_t		n = size - 1;
	char	   *str;

	if (size < 1)
		return 0;
	root = StubRootContext();
	CurrentMemoryContext = root;
	stub_alloc_bytes = 0;
	stub_alloc_over_budget = false;
	stub_alloc_budget = BUDGET_FIXED + BUDGET_PER_BYTE * size;

	switch (data[0] % 5)
	{
		case 0:
			str = palloc(n + 1);
			memcpy(str, rest, n);
			str[n] = '\0';
			s.str = str;
			if (Try(StepIn, &s) == 0)
				AcceptedDatum(s.result);
			break;
		case 1:
			s.str = Hex(rest, n, (data[0] & 0x80) != 0);
			if (Try(StepIn, &s) == 0)
			{
				if (!SameBytes(s.result, rest, n))
					Finding("behavior_in stored other bytes than it was given");
				RoundTrip(rest, n);
			}
			break;
		case 2:
			s.bytes = rest;
			s.len = n;
			if (Try(StepRecv, &s) == 0)
			{
				if (!SameBytes(s.result, rest, n))
					Finding("behavior_recv stored other bytes than it was given");
				RoundTrip(rest, n);
			}
			break;
		case 3:
			s.a = FlatDatum(rest, n, false);
			if (Try(StepReencode, &s) == 0)
				RoundTrip(rest, n);
			else if (VARHDRSZ_SHORT + n <= VARATT_SHORT_MAX)
			{
				s.a = FlatDatum(rest, n, true);
				if (Try(StepReencode, &s) == 0)
					Finding("accepted behind a 1-byte header, rejected behind a 4-byte one");
			}
			break;
		case 4:
			Merge(rest, n);
			break;
	}

	if (stub_alloc_over_budget)
	{
		over_budget_inputs++;
		if (stub_alloc_bytes > over_budget_worst)
		{
			over_budget_worst = stub_alloc_bytes;
			over_budget_worst_size = size;
		}
	}
	MemoryContextDelete(root);
	CurrentMemoryContext = NULL;
	return 0;
}
