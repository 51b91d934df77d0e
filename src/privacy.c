/*
 * privacy.c: the keyed hash behind pseudonyms and forgotten users
 * (DESIGN section 6), and the random key it is keyed with.
 *
 * HMAC-SHA-256 is PostgreSQL's own (common/hmac.h, which SCRAM uses); the
 * key's bytes come from pg_strong_random, the server's cryptographic source.
 *
 * _pseudonym(id), _is_forgotten(id) and _is_opted_out(id) are here, in C,
 * because refresh and the experiment readout call them once per user:
 * as SQL functions (a pinned search_path, a subquery for the key, another
 * for the lookup) they cost about 30 microseconds a call, 30 seconds a
 * full refresh of a million users once anyone was forgotten.  They read
 * the extension's own tables (in the schema of the function called, which
 * only the extension's owner creates in) with the caller's snapshot, after
 * the caller's SELECT privilege on them is checked (and row-level security
 * refused), as the SQL applied them; the key, and a small table of hashes,
 * are read once per call and snapshot (CallCache below).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "behavior.h"

/* the length of a pseudonym key, in bytes (a SHA-256 block is 64; 32 is its output) */
#define PSEUDONYM_KEY_BYTES 32

/* 32 random bytes from the server's cryptographic source */
PG_FUNCTION_INFO_V1(pseudonym_new_key);
Datum
pseudonym_new_key(PG_FUNCTION_ARGS)
{
	bytea	   *result = (bytea *) palloc(VARHDRSZ + PSEUDONYM_KEY_BYTES);

	SET_VARSIZE(result, VARHDRSZ + PSEUDONYM_KEY_BYTES);
	if (!pg_strong_random(VARDATA(result), PSEUDONYM_KEY_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random pseudonym key")));
	PG_RETURN_BYTEA_P(result);
}

/* a bytea of a marker byte (or none, when marker < 0) and len bytes */
static bytea *
Bytes(int marker, const char *data, int len)
{
	int			m = marker < 0 ? 0 : 1;
	bytea	   *result = (bytea *) palloc(VARHDRSZ + m + len);

	SET_VARSIZE(result, VARHDRSZ + m + len);
	if (m)
		((unsigned char *) VARDATA(result))[0] = (unsigned char) marker;
	memcpy(VARDATA(result) + m, data, len);
	return result;
}

/*
 * The bytes a user id is hashed as, whatever the database's encoding: its
 * UTF-8 form, so that a hash is the same in every database; and for an id
 * that has none (an invalid byte in SQL_ASCII, one without a mapping in
 * WIN1252), its own bytes after 0xFF, which UTF-8 never holds.  Never an
 * error: an id the application could write must not stop a refresh.
 */
PG_FUNCTION_INFO_V1(pseudonym_id_bytes);
Datum
pseudonym_id_bytes(PG_FUNCTION_ARGS)
{
	text	   *id = PG_GETARG_TEXT_PP(0);
	const char *src = VARDATA_ANY(id);
	int			len = VARSIZE_ANY_EXHDR(id);
	int			enc = GetDatabaseEncoding();

	if (enc == PG_UTF8)
		PG_RETURN_BYTEA_P(Bytes(-1, src, len));
	if (enc == PG_SQL_ASCII)
		PG_RETURN_BYTEA_P(Bytes(pg_encoding_verifymbstr(PG_UTF8, src, len) == len ? -1 : 0xFF, src, len));
	if (len <= (int) ((MaxAllocSize - 1) / MAX_CONVERSION_GROWTH))
	{
		Oid			proc = FindDefaultConversionProc(enc, PG_UTF8);

		if (OidIsValid(proc))
		{
			int			destlen = len * MAX_CONVERSION_GROWTH + 1;
			unsigned char *dest = palloc(destlen);

			if (pg_do_encoding_conversion_buf(proc, enc, PG_UTF8, (unsigned char *) src, len,
											  dest, destlen, true) == len)
				PG_RETURN_BYTEA_P(Bytes(-1, (const char *) dest, (int) strlen((const char *) dest)));
		}
	}
	PG_RETURN_BYTEA_P(Bytes(0xFF, src, len));
}

/* HMAC-SHA-256 of message with key (RFC 2104), 32 bytes */
PG_FUNCTION_INFO_V1(pseudonym_hmac_sha256);
Datum
pseudonym_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *message = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pg_hmac_ctx *ctx;

	/* a key of the right size only: a short or empty key is a weak pseudonym */
	if (VARSIZE_ANY_EXHDR(key) < 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pseudonym key must be at least 16 bytes, not %d", (int) VARSIZE_ANY_EXHDR(key))));
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0
		|| pg_hmac_update(ctx, (const uint8 *) VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message)) < 0
		|| pg_hmac_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *why = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s", why)));
	}
	pg_hmac_free(ctx);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(result);
}

/*
 * The key in force: the oldest row of _pseudonym_key (by created_at, then
 * by key), copied into the current memory context; NULL when it has none.
 * (Capture reads it the same way, src/capture.c.)
 */
bytea *
PseudonymKey(Relation keys, Snapshot snapshot)
{
	TupleDesc	desc = RelationGetDescr(keys);
	TableScanDesc scan = table_beginscan(keys, snapshot, 0, NULL);
	HeapTuple	tuple;
	TimestampTz best_at = 0;
	bytea	   *best = NULL;

	if (desc->natts != 2 || TupleDescAttr(desc, 0)->atttypid != BYTEAOID
		|| TupleDescAttr(desc, 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation.%s is not as the extension made it", RelationGetRelationName(keys))));
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		knull,
					anull;
		Datum		k = heap_getattr(tuple, 1, desc, &knull);
		Datum		at = heap_getattr(tuple, 2, desc, &anull);
		bytea	   *key;

		if (knull || anull)
			continue;
		key = DatumGetByteaPP(k);
		if (best == NULL || DatumGetTimestampTz(at) < best_at
			|| (DatumGetTimestampTz(at) == best_at
				&& DatumGetInt32(DirectFunctionCall2(byteacmp, PointerGetDatum(key), PointerGetDatum(best))) < 0))
		{
			best = DatumGetByteaPCopy(k);
			best_at = DatumGetTimestampTz(at);
		}
	}
	table_endscan(scan);
	return best;
}

/* one of the extension's tables, opened for the caller, who may read it */
static Relation
OpenOwn(FunctionCallInfo fcinfo, const char *name)
{
	Oid			rel = get_relname_relid(name, get_func_namespace(fcinfo->flinfo->fn_oid));
	AclResult	acl;

	if (!OidIsValid(rel) || get_rel_relkind(rel) != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation segmentation.%s does not exist", name)));
	acl = pg_class_aclcheck(rel, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, name);
	/* (a scan here applies no row security: refused where SQL would apply it) */
	if (check_enable_rls(rel, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("segmentation.%s has row-level security for this role", name)));
	return table_open(rel, AccessShareLock);
}

/*
 * What a call keeps (fn_extra) while the snapshot sees what the one it read
 * them with saw: the key and, for the lookups, the table's hashes when it
 * holds SMALL_SET at most (refresh tests every user of its batch: a binary
 * search each, not an index probe).  The same transaction, command and
 * role, in the same subtransaction (the rows of one aborted since, which
 * no snapshot tells, are not seen any more), and an MVCC snapshot with the
 * same xmin, xmax and the same transactions in progress (compared one by
 * one, not counted: a prepared transaction is in the array twice for a
 * moment): the same transactions visible.
 */
#define SMALL_SET 1024
#define HASH_BYTES PG_SHA256_DIGEST_LENGTH

typedef struct CallCache
{
	LocalTransactionId lxid;
	CommandId	cid;
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;
	SubTransactionId subxid;	/* the subtransaction the call was in */
	TransactionId *xip;			/* the snapshot's xip, subxip (in fn_mcxt) */
	TransactionId *subxip;
	uint32		xip_room;
	uint32		subxip_room;
	Oid			user;			/* who read them (OpenOwn checks its privileges) */
	bytea	   *key;
	bool		set_read;		/* the table was read: */
	int			nset;			/* its hashes, sorted, or -1: more than SMALL_SET */
	uint8		(*set)[HASH_BYTES];
} CallCache;

static bool
SameSnapshot(CallCache *cache, Snapshot snapshot)
{
	return cache->key != NULL && snapshot->snapshot_type == SNAPSHOT_MVCC && !snapshot->suboverflowed
		&& cache->lxid == MyProc->lxid && cache->cid == snapshot->curcid && cache->user == GetUserId()
		&& TransactionIdEquals(cache->xmin, snapshot->xmin) && TransactionIdEquals(cache->xmax, snapshot->xmax)
		&& cache->xcnt == snapshot->xcnt && cache->subxcnt == snapshot->subxcnt
		&& cache->subxid == GetCurrentSubTransactionId()
		&& (snapshot->xcnt == 0 || memcmp(cache->xip, snapshot->xip, snapshot->xcnt * sizeof(TransactionId)) == 0)
		&& (snapshot->subxcnt == 0 || memcmp(cache->subxip, snapshot->subxip, snapshot->subxcnt * sizeof(TransactionId)) == 0);
}

/* a copy of n transaction ids in *copy (room for *room), in cxt */
static void
KeepXids(MemoryContext cxt, TransactionId **copy, uint32 *room, const TransactionId *xids, uint32 n)
{
	if (n > *room)
	{
		if (*copy != NULL)
			pfree(*copy);
		*copy = MemoryContextAlloc(cxt, n * sizeof(TransactionId));
		*room = n;
	}
	if (n > 0)
		memcpy(*copy, xids, n * sizeof(TransactionId));
}

/* the keyed hash of a user id (its canonical text) */
static Datum
Pseudonym(FunctionCallInfo fcinfo, text *id)
{
	CallCache  *cache;
	Snapshot	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();

	RequireCoordinator("the pseudonym key");
	if (fcinfo->flinfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the keyed hash must be called as a function of the extension's")));
	cache = (CallCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL)
		cache = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallCache));
	if (!SameSnapshot(cache, snapshot))
	{
		Relation	keys = OpenOwn(fcinfo, "_pseudonym_key");
		bytea	   *key = PseudonymKey(keys, snapshot);

		/* (read in the call's memory, which ends with the row: the key kept) */
		table_close(keys, AccessShareLock);
		if (key == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the pseudonym key is missing")));
		if (cache->key != NULL)
			pfree(cache->key);
		cache->key = NULL;		/* (invalid until all is kept) */
		KeepXids(fcinfo->flinfo->fn_mcxt, &cache->xip, &cache->xip_room, snapshot->xip, snapshot->xcnt);
		KeepXids(fcinfo->flinfo->fn_mcxt, &cache->subxip, &cache->subxip_room, snapshot->subxip, (uint32) Max(snapshot->subxcnt, 0));
		cache->subxid = GetCurrentSubTransactionId();
		cache->key = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(key));
		memcpy(cache->key, key, VARSIZE(key));
		cache->lxid = MyProc->lxid;
		cache->cid = snapshot->curcid;
		cache->xmin = snapshot->xmin;
		cache->xmax = snapshot->xmax;
		cache->xcnt = snapshot->xcnt;
		cache->subxcnt = snapshot->subxcnt;
		cache->user = GetUserId();
		cache->set_read = false;
	}
	return DirectFunctionCall2(pseudonym_hmac_sha256, PointerGetDatum(cache->key),
							   DirectFunctionCall1(pseudonym_id_bytes, PointerGetDatum(id)));
}

static int
CompareHashes(const void *a, const void *b)
{
	return memcmp(a, b, HASH_BYTES);
}

/*
 * Whether the keyed hash of a user id is in the extension's table of them
 * (forgotten_users, opt_outs: a primary key on the hash, 32 bytes).
 */
static bool
Listed(FunctionCallInfo fcinfo, const char *table, const char *what)
{
	Datum		hash;
	CallCache  *cache;
	Snapshot	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	Relation	rel;
	Oid			index;
	Relation	irel;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skey;
	bool		found;

	RequireCoordinator(what);
	if (PG_ARGISNULL(0))
		return false;
	hash = Pseudonym(fcinfo, PG_GETARG_TEXT_PP(0));
	cache = (CallCache *) fcinfo->flinfo->fn_extra;
	if (cache->set_read && cache->nset >= 0)
		return bsearch(VARDATA_ANY(DatumGetByteaPP(hash)), cache->set, cache->nset, HASH_BYTES, CompareHashes) != NULL;
	rel = OpenOwn(fcinfo, table);
	index = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(index))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation.%s has no primary key", table)));
	irel = index_open(index, AccessShareLock);
	if (irel->rd_index->indnatts != 1 || irel->rd_index->indkey.values[0] != 1
		|| TupleDescAttr(RelationGetDescr(irel), 0)->atttypid != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation.%s is not as the extension made it", table)));
	slot = table_slot_create(rel, NULL);
	if (!cache->set_read && SameSnapshot(cache, snapshot))
	{
		/* (read once per snapshot: SMALL_SET hashes and one more at most) */
		int			n = 0;

		if (cache->set == NULL)
			cache->set = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, SMALL_SET * HASH_BYTES);
		scan = index_beginscan(rel, irel, snapshot, 0, 0);
		index_rescan(scan, NULL, 0, NULL, 0);
		while (n <= SMALL_SET && index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		d = slot_getattr(slot, 1, &isnull);
			bytea	   *h = isnull ? NULL : DatumGetByteaPP(d);

			if (h == NULL || VARSIZE_ANY_EXHDR(h) != HASH_BYTES)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("segmentation.%s holds a hash that is not %d bytes", table, HASH_BYTES)));
			if (n < SMALL_SET)
				memcpy(cache->set[n], VARDATA_ANY(h), HASH_BYTES);
			n++;
		}
		index_endscan(scan);
		cache->nset = n <= SMALL_SET ? n : -1;
		if (cache->nset > 0)
			qsort(cache->set, cache->nset, HASH_BYTES, CompareHashes);
		cache->set_read = true;
	}
	if (cache->set_read && cache->nset >= 0)
		found = bsearch(VARDATA_ANY(DatumGetByteaPP(hash)), cache->set, cache->nset, HASH_BYTES, CompareHashes) != NULL;
	else
	{
		ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_BYTEAEQ, hash);
		scan = index_beginscan(rel, irel, snapshot, 1, 0);
		index_rescan(scan, &skey, 1, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, slot);
		index_endscan(scan);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(irel, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/* _pseudonym(user_id text): HMAC-SHA-256 of the id with the key in force */
PG_FUNCTION_INFO_V1(pseudonym_of);
Datum
pseudonym_of(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(Pseudonym(fcinfo, PG_GETARG_TEXT_PP(0)));
}

/* _is_forgotten(user_id text): whether forget_user() erased it (false for NULL) */
PG_FUNCTION_INFO_V1(pseudonym_forgotten);
Datum
pseudonym_forgotten(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(Listed(fcinfo, "forgotten_users", "the forgotten users"));
}

/* _is_opted_out(user_id text): whether it opted out (false for NULL) */
PG_FUNCTION_INFO_V1(pseudonym_opted_out);
Datum
pseudonym_opted_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(Listed(fcinfo, "opt_outs", "the opted-out users"));
}
