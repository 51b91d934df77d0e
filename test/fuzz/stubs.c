/*
 * stubs.c
 *		The few backend symbols src/behavior.c and src/aggregates.c link
 *		against, so the libFuzzer harness can run them outside a server.
 *
 * Kept small and honest:
 *	- memory: every palloc is its own malloc (so AddressSanitizer sees the
 *	  exact bounds of every chunk), linked into its context; deleting a
 *	  context frees its chunks and children.  The harness deletes one root
 *	  context per input.  Bytes allocated per input are counted, and going
 *	  past the harness's budget is reported as a finding (decoding must cost
 *	  memory proportional to the input: DESIGN section 7).
 *	- errors: ereport/elog at ERROR or above record the message and SQLSTATE
 *	  and siglongjmp back to the harness, which decides whether that is a
 *	  clean rejection or a finding.  Below ERROR they are ignored.
 *	- pq_* and StringInfo: the few calls used, with pq_getmsgbytes's bounds
 *	  check as in pqformat.c.
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "nodes/memnodes.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"

#include "stubs.h"

/* libc's printf family: the code under test calls none of port.h's pg_* versions */
#undef fprintf
#undef vsnprintf
#undef snprintf

/* ---------- memory ---------- */

typedef struct Chunk
{
	struct Chunk *next;
	struct Chunk *prev;
	struct StubContext *owner;
	Size		size;
	/* 16-byte aligned payload follows */
} Chunk;

#define CHUNK_HDR	MAXALIGN(sizeof(Chunk) + 8)

typedef struct StubContext
{
	MemoryContextData base;		/* never read by the code under test */
	struct StubContext *parent;
	struct StubContext *firstchild;
	struct StubContext *nextchild;
	Chunk	   *chunks;
	MemoryContextCallback *callbacks;
} StubContext;

MemoryContext CurrentMemoryContext = NULL;
Size		stub_alloc_bytes = 0;
Size		stub_alloc_budget = 0;
bool		stub_alloc_strict = true;
bool		stub_alloc_over_budget = false;

static StubContext *
NewContext(StubContext *parent)
{
	StubContext *c = calloc(1, sizeof(StubContext));

	if (c == NULL)
		abort();
	c->parent = parent;
	if (parent)
	{
		c->nextchild = parent->firstchild;
		parent->firstchild = c;
	}
	return c;
}

MemoryContext
StubRootContext(void)
{
	return (MemoryContext) NewContext(NULL);
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name,
							  Size minContextSize, Size initBlockSize,
							  Size maxBlockSize)
{
	return (MemoryContext) NewContext((StubContext *) parent);
}

static void *
Alloc(MemoryContext context, Size size, bool zero)
{
	StubContext *c = (StubContext *) context;
	Chunk	   *ch;

	if (!AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	stub_alloc_bytes += size;
	if (stub_alloc_budget != 0 && stub_alloc_bytes > stub_alloc_budget && !stub_alloc_strict)
		stub_alloc_over_budget = true;
	else if (stub_alloc_budget != 0 && stub_alloc_bytes > stub_alloc_budget)
	{
		fprintf(stderr, "FINDING: memory not proportional to the input: %zu bytes allocated "
				"(this request %zu), budget %zu\n", stub_alloc_bytes, size, stub_alloc_budget);
		abort();
	}
	ch = malloc(CHUNK_HDR + size);
	if (ch == NULL)
		abort();
	ch->owner = c;
	ch->size = size;
	ch->prev = NULL;
	ch->next = c->chunks;
	if (c->chunks)
		c->chunks->prev = ch;
	c->chunks = ch;
	if (zero)
		memset((char *) ch + CHUNK_HDR, 0, size);
	return (char *) ch + CHUNK_HDR;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return Alloc(context, size, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return Alloc(context, size, true);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return Alloc(context, size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
palloc(Size size)
{
	return Alloc(CurrentMemoryContext, size, false);
}

void *
palloc0(Size size)
{
	return Alloc(CurrentMemoryContext, size, true);
}

void
pfree(void *pointer)
{
	Chunk	   *ch = (Chunk *) ((char *) pointer - CHUNK_HDR);
	StubContext *c = ch->owner;

	if (ch->prev)
		ch->prev->next = ch->next;
	else
		c->chunks = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	free(ch);
}

void *
repalloc(void *pointer, Size size)
{
	Chunk	   *ch = (Chunk *) ((char *) pointer - CHUNK_HDR);
	void	   *n = Alloc((MemoryContext) ch->owner, size, false);

	memcpy(n, pointer, Min(size, ch->size));
	pfree(pointer);
	return n;
}

void *
repalloc_huge(void *pointer, Size size)
{
	return repalloc(pointer, size);
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	StubContext *c = (StubContext *) context;

	cb->next = c->callbacks;
	c->callbacks = cb;
}

/* as mcxt.c's: the children deleted, the callbacks run, every chunk freed; the context stays */
void
MemoryContextReset(MemoryContext context)
{
	StubContext *c = (StubContext *) context;

	while (c->firstchild)
		MemoryContextDelete((MemoryContext) c->firstchild);
	while (c->callbacks)
	{
		MemoryContextCallback *cb = c->callbacks;

		c->callbacks = cb->next;
		cb->func(cb->arg);
	}
	while (c->chunks)
	{
		Chunk	   *ch = c->chunks;

		c->chunks = ch->next;
		free(ch);
	}
}

void
MemoryContextDelete(MemoryContext context)
{
	StubContext *c = (StubContext *) context;
	StubContext **link;

	MemoryContextReset(context);
	if (c->parent)
	{
		for (link = &c->parent->firstchild; *link != c; link = &(*link)->nextchild)
			;
		*link = c->nextchild;
	}
	if (CurrentMemoryContext == context)
		CurrentMemoryContext = (MemoryContext) c->parent;
	free(c);
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char		tmp[1];
	int			n;
	char	   *s;

	va_start(args, fmt);
	n = vsnprintf(tmp, 0, fmt, args);
	va_end(args);
	s = palloc(n + 1);
	va_start(args, fmt);
	vsnprintf(s, n + 1, fmt, args);
	va_end(args);
	return s;
}

/* ---------- errors ---------- */

sigjmp_buf *stub_error_jump = NULL;
int			stub_error_sqlstate = 0;
char		stub_error_message[1024];
char		stub_error_detail[1024];
static int	cur_elevel;

bool
errstart(int elevel, const char *domain)
{
	cur_elevel = elevel;
	if (elevel < ERROR)
		return false;
	/* what elog() leaves for an internal error: ERRCODE_INTERNAL_ERROR */
	stub_error_sqlstate = ERRCODE_INTERNAL_ERROR;
	stub_error_message[0] = stub_error_detail[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (cur_elevel < ERROR)
		return;
	if (cur_elevel > ERROR || stub_error_jump == NULL)
	{
		fprintf(stderr, "FINDING: %s outside an error handler: %s (%s:%d)\n",
				cur_elevel > ERROR ? "FATAL/PANIC" : "ERROR", stub_error_message, filename, lineno);
		abort();
	}
	siglongjmp(*stub_error_jump, 1);
}

int
errcode(int sqlerrcode)
{
	stub_error_sqlstate = sqlerrcode;
	return 0;
}

#define FORMAT_INTO(buf, fmt) \
	do { va_list args; va_start(args, fmt); vsnprintf(buf, sizeof(buf), fmt, args); va_end(args); } while (0)

int
errmsg(const char *fmt,...)
{
	FORMAT_INTO(stub_error_message, fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_INTO(stub_error_message, fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_INTO(stub_error_detail, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

/* ---------- fmgr, varlena, expanded objects, aggregates ---------- */

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	/* the harness hands over only plain inline values (4-byte or 1-byte headers) */
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
	{
		fprintf(stderr, "harness bug: toasted datum\n");
		abort();
	}
	return datum;
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return pg_detoast_datum_packed(datum);
}

/* (behavior_agg_features' array argument: the harness calls no aggregate) */
void
deconstruct_array(ArrayType *array, Oid elmtype, int elmlen, bool elmbyval, char elmalign,
				  Datum **elemsp, bool **nullsp, int *nelemsp)
{
	fprintf(stderr, "harness bug: deconstruct_array called\n");
	abort();
}

ExpandedObjectHeader *
DatumGetEOHP(Datum d)
{
	varattrib_1b_e *datum = (varattrib_1b_e *) DatumGetPointer(d);
	varatt_expanded ptr;

	Assert(VARATT_IS_EXTERNAL_EXPANDED(datum));
	memcpy(&ptr, datum->va_data, sizeof(ptr));
	return ptr.eohptr;
}

void
EOH_init_header(ExpandedObjectHeader *eohptr, const ExpandedObjectMethods *methods,
				MemoryContext obj_context)
{
	varatt_expanded ptr;

	eohptr->vl_len_ = EOH_HEADER_MAGIC;
	eohptr->eoh_methods = methods;
	eohptr->eoh_context = obj_context;
	ptr.eohptr = eohptr;
	SET_VARTAG_EXTERNAL(eohptr->eoh_rw_ptr, VARTAG_EXPANDED_RW);
	memcpy(VARDATA_EXTERNAL(eohptr->eoh_rw_ptr), &ptr, sizeof(ptr));
	SET_VARTAG_EXTERNAL(eohptr->eoh_ro_ptr, VARTAG_EXPANDED_RO);
	memcpy(VARDATA_EXTERNAL(eohptr->eoh_ro_ptr), &ptr, sizeof(ptr));
}

/*
 * Called as an aggregate's support function when the harness set
 * stub_agg_context (the aggregate context), else not in an aggregate
 */
MemoryContext stub_agg_context = NULL;

int
AggCheckCallContext(FunctionCallInfo fcinfo, MemoryContext *aggcontext)
{
	if (aggcontext)
		*aggcontext = stub_agg_context;
	return stub_agg_context ? AGG_CONTEXT_AGGREGATE : 0;
}

#ifdef TRY_POPCNT_FAST
static int
Popcount64(uint64 word)
{
	return __builtin_popcountll(word);
}
int			(*pg_popcount64) (uint64 word) = Popcount64;
#else
int
pg_popcount64(uint64 word)
{
	return __builtin_popcountll(word);
}
#endif

/* ---------- StringInfo and pq_* ---------- */

static void
Enlarge(StringInfo buf, int needed)
{
	if (needed < 0 || (Size) buf->len + needed >= MaxAllocSize)
		elog(ERROR, "out of memory");
	if (buf->len + needed + 1 > buf->maxlen)
	{
		int			newlen = Max(2 * buf->maxlen, buf->len + needed + 1);

		buf->data = repalloc(buf->data, newlen);
		buf->maxlen = newlen;
	}
}

void
pq_begintypsend(StringInfo buf)
{
	buf->data = palloc(1024);
	buf->maxlen = 1024;
	buf->len = VARHDRSZ;		/* room for the varlena header */
	buf->cursor = 0;
	buf->data[buf->len] = '\0';
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

void
pq_sendbytes(StringInfo buf, const char *data, int datalen)
{
	Enlarge(buf, datalen);
	memcpy(buf->data + buf->len, data, datalen);
	buf->len += datalen;
	buf->data[buf->len] = '\0';
}

const char *
pq_getmsgbytes(StringInfo msg, int datalen)
{
	const char *result;

	if (datalen < 0 || datalen > (msg->len - msg->cursor))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	result = &msg->data[msg->cursor];
	msg->cursor += datalen;
	return result;
}

/* port/qsort.c: libc's qsort stands in (postgres.h maps qsort to pg_qsort) */
#undef qsort
void
pg_qsort(void *base, size_t nel, size_t elsize, int (*cmp) (const void *, const void *))
{
	qsort(base, nel, elsize, cmp);
}
