/*
 * stubs_cells.c
 *		The backend symbols src/analyses.c links against beyond stubs.c's and
 *		stubs_states.c's, for fuzz_analysis_cells.c.
 *
 * What the state's decoder, encoder and merge reach works as the backend's
 * does, in what the code depends on:
 *	- hash_create/hash_search (dynahash): a chained table of the entries,
 *	  keyed by their first keysize bytes (HASH_BLOBS), allocated in the
 *	  table's context; a new entry's other bytes are garbage (0x7f), as
 *	  dynahash leaves them, not zeros;
 *	- hash_bytes, hash_bytes_extended: a real hash of the bytes (FNV-1a, not common/hashfn.c's:
 *	  the code needs only a function of the bytes, and equal hashes of
 *	  different names are handled by its chains);
 *	- pg_verifymbstr: the database encoding is UTF8, checked as
 *	  pg_utf8_islegal has it (no NUL, no overlong form, no surrogate, nothing
 *	  past U+10FFFF); an invalid string is an error unless noError;
 *	- pg_prng_uint64 on pg_global_prng_state: xoroshiro128** as common/pg_prng.c,
 *	  from a fixed seed (so findings replay).
 * The transition function's jsonb and catalog lookups are never reached from the harness
 * and abort.
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "stubs.h"

#undef fprintf

#define UNREACHED(name) \
	do { fprintf(stderr, "harness bug: %s called\n", name); abort(); } while (0)

/* ---------- never reached from the harness (the transition function's) ---------- */

JsonbValue *
getKeyJsonValueFromContainer(JsonbContainer *container, const char *keyVal, int keyLen, JsonbValue *res)
{
	UNREACHED("getKeyJsonValueFromContainer");
}

JsonbValue *
getIthJsonbValueFromContainer(JsonbContainer *container, uint32 i)
{
	UNREACHED("getIthJsonbValueFromContainer");
}

void
get_typlenbyvalalign(Oid typid, int16 *typlen, bool *typbyval, char *typalign)
{
	UNREACHED("get_typlenbyvalalign");
}

char *
format_type_be(Oid type_oid)
{
	UNREACHED("format_type_be");
}

/* ---------- hash_bytes ---------- */

uint32
hash_bytes(const unsigned char *k, int keylen)
{
	uint32		h = 2166136261u;
	int			i;

	for (i = 0; i < keylen; i++)
	{
		h ^= k[i];
		h *= 16777619u;
	}
	return h;
}

/* the seeded form NameIndex uses (review 33): the same, from the seed */
uint64
hash_bytes_extended(const unsigned char *k, int keylen, uint64 seed)
{
	uint64		h = UINT64CONST(14695981039346656037) ^ seed;
	int			i;

	for (i = 0; i < keylen; i++)
	{
		h ^= k[i];
		h *= UINT64CONST(1099511628211);
	}
	return h;
}

/* ---------- dynahash ---------- */

typedef struct Entry
{
	struct Entry *next;
	uint32		hash;
	/* MAXALIGNed entry follows */
} Entry;

#define ENTRY_HDR	MAXALIGN(sizeof(Entry))
#define ENTRY_DATA(e)	((char *) (e) + ENTRY_HDR)

struct HTAB
{
	Size		keysize;
	Size		entrysize;
	MemoryContext cxt;
	long		nbuckets;
	long		nentries;
	Entry	  **buckets;
};

HTAB *
hash_create(const char *tabname, long nelem, const HASHCTL *info, int flags)
{
	HTAB	   *h;

	if ((flags & (HASH_ELEM | HASH_BLOBS | HASH_CONTEXT)) != (HASH_ELEM | HASH_BLOBS | HASH_CONTEXT) ||
		(flags & ~(HASH_ELEM | HASH_BLOBS | HASH_CONTEXT)) != 0)
		UNREACHED("hash_create (other than HASH_ELEM | HASH_BLOBS | HASH_CONTEXT)");
	h = MemoryContextAllocZero(info->hcxt, sizeof(HTAB));
	h->keysize = info->keysize;
	h->entrysize = info->entrysize;
	h->cxt = info->hcxt;
	h->nbuckets = 16;
	h->buckets = MemoryContextAllocZero(h->cxt, h->nbuckets * sizeof(Entry *));
	return h;
}

static void
Grow(HTAB *h)
{
	long		n = h->nbuckets * 2;
	Entry	  **b = MemoryContextAllocZero(h->cxt, n * sizeof(Entry *));
	long		i;

	for (i = 0; i < h->nbuckets; i++)
		while (h->buckets[i])
		{
			Entry	   *e = h->buckets[i];

			h->buckets[i] = e->next;
			e->next = b[e->hash % n];
			b[e->hash % n] = e;
		}
	pfree(h->buckets);
	h->buckets = b;
	h->nbuckets = n;
}

void *
hash_search(HTAB *hashp, const void *keyPtr, HASHACTION action, bool *foundPtr)
{
	uint32		hash = hash_bytes(keyPtr, (int) hashp->keysize);
	Entry	  **link = &hashp->buckets[hash % hashp->nbuckets];
	Entry	   *e;

	for (; *link; link = &(*link)->next)
		if ((*link)->hash == hash && memcmp(ENTRY_DATA(*link), keyPtr, hashp->keysize) == 0)
			break;
	if (foundPtr)
		*foundPtr = *link != NULL;
	switch (action)
	{
		case HASH_FIND:
			return *link ? ENTRY_DATA(*link) : NULL;
		case HASH_REMOVE:
			if (*link == NULL)
				return NULL;
			e = *link;
			*link = e->next;
			hashp->nentries--;
			/* (dynahash keeps the entry on its free list: valid until the next enter) */
			return ENTRY_DATA(e);
		case HASH_ENTER:
		case HASH_ENTER_NULL:
			if (*link)
				return ENTRY_DATA(*link);
			e = MemoryContextAlloc(hashp->cxt, ENTRY_HDR + hashp->entrysize);
			memset(ENTRY_DATA(e), 0x7f, hashp->entrysize);
			memcpy(ENTRY_DATA(e), keyPtr, hashp->keysize);
			e->hash = hash;
			e->next = hashp->buckets[hash % hashp->nbuckets];
			hashp->buckets[hash % hashp->nbuckets] = e;
			if (++hashp->nentries > 2 * hashp->nbuckets)
				Grow(hashp);
			return ENTRY_DATA(e);
	}
	return NULL;
}

/* ---------- pg_verifymbstr: UTF8 ---------- */

/* the length of the valid character at s (of at most len bytes), or -1 */
static int
Utf8Char(const unsigned char *s, int len)
{
	int			n,
				i;
	unsigned char lo = 0x80,
				hi = 0xBF;

	if (s[0] == 0)
		return -1;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return -1;
	if (len < n)
		return -1;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return -1;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return -1;
	return n;
}

bool
pg_verifymbstr(const char *mbstr, int len, bool noError)
{
	const unsigned char *s = (const unsigned char *) mbstr;

	while (len > 0)
	{
		int			n = Utf8Char(s, len);

		if (n < 0)
		{
			if (noError)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("invalid byte sequence for encoding \"UTF8\"")));
		}
		s += n;
		len -= n;
	}
	return true;
}

/* ---------- pg_prng ---------- */

pg_prng_state pg_global_prng_state = {UINT64CONST(0x9E3779B97F4A7C15), UINT64CONST(0xBF58476D1CE4E5B9)};

static inline uint64
Rotl(uint64 x, int bits)
{
	return (x << bits) | (x >> (64 - bits));
}

uint64
pg_prng_uint64(pg_prng_state *state)
{
	uint64		s0 = state->s0,
				sv = state->s1;
	uint64		val = Rotl(s0 * 5, 7) * 9;

	sv ^= s0;
	state->s0 = Rotl(s0, 24) ^ sv ^ (sv << 16);
	state->s1 = Rotl(sv, 37);
	return val;
}
