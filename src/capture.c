/*
 * capture.c
 *		The capture trigger of a tracked table, and the queue it writes
 *		(issue 14; doc/capture-design.md, "What capture does").
 *
 * sql/60-capture.sql declares it as segmentation._capture() and puts its
 * triggers on every table of each tracked tree: statement triggers with
 * transition tables for INSERT, UPDATE, DELETE (enabled ORIGIN) and TRUNCATE
 * (ALWAYS), and a row trigger (enabled REPLICA) for replica-role writers.
 * Each write fires exactly one of them.  The source is the tracked table
 * whose tree holds the table it fires on (segmentation.sources; a table in
 * two trees is refused); none: the trigger stays from an untracked table or
 * a schema-only restore, and the write goes on uncaptured, as it should.
 *
 * What it writes, in the writer's transaction (so it commits if and only if
 * the events do):
 *	INSERT: the statement's events packed into one row of
 *		segmentation.pending_batches (source_id, events, batch), a row per
 *		BATCH_EVENTS events or BATCH_BYTES bytes: one heap tuple, TOASTed
 *		(lz4 where the server has it), instead of a queue row per event,
 *		which doubled the cost of a COPY (bench/README.md, "Capture
 *		mechanisms");
 *	UPDATE, DELETE: the user ids of the old and new rows, one row each of
 *		segmentation.dirty_users (refresh recomputes them from the sources);
 *	TRUNCATE: the source's id into segmentation.truncated (refresh goes full).
 * Users forget_user() erased are skipped (their keyed hash is in
 * segmentation.forgotten_users), as refresh skips them.
 *
 * Trust: the trigger runs as the writer, any role that may write a tracked
 * table.  It resolves nothing by name through a search path, calls no
 * function or operator of a role's (the tracked columns' types are checked
 * against the built-in ones track() allows, whose output functions are
 * PostgreSQL's), reads the transition tables from its TriggerData (never by
 * name), and writes the extension's tables directly (heap_insert: no
 * privilege, trigger, rule or policy of theirs applies, and they have no
 * index).  It refuses to run for a trigger not declared as capture declares
 * it.  Nobody but the extension's owner may create a trigger of it (no
 * EXECUTE is granted); it is never dropped but with the extension, so no
 * object of a role's that refers to it can stand in the way of untrack or
 * of a DROP TABLE (review 25).
 *
 * Loaded by another name (sql/60-capture.sql: '$libdir/./segmentation'), so
 * that a session holding an earlier release's copy of the library loads the
 * installed one beside it: so this file calls no function of the library's
 * own but the pseudonym ones of privacy.c (a second copy's calls to a name
 * both copies define could reach the first copy's), none of which 0.1 had.
 *
 * The packed form, read back by _queued_events (the bytes are the
 * extension's own, but decoded as if they were not: every length checked,
 * every text checked against the database's encoding): for each event a
 * flags byte (1: user id NULL, 2: time NULL, 4: event NULL, 8: value NULL;
 * 16, 32, 64: the user id is an int4, an int8, a uuid, in binary, else it
 * is text; no other bit), then the user id (4, 8 or 16 bytes, or uint32
 * length and bytes), the time (int64 microseconds), the event (uint32
 * length, bytes) and the value (float8), each only when not NULL; numbers
 * in network byte order (the queue is dumped with the state, and may be
 * restored on another machine).  The user id is read back as its canonical
 * text (user_id::text), which refresh casts to the tracked type; capture
 * makes that text only to test a forgotten user.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "behavior.h"
#include "catalog/indexing.h"
#include "common/hashfn.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "replication/logicalworker.h"
#include "replication/worker_internal.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

/*
 * events per row of pending_batches: a statement of many rows writes several;
 * and bytes: 65,536 events of long event names (16 kB each) would pass the
 * 1 GB a bytea (and a palloc) may hold, and the application's INSERT failed
 * with "out of memory" (review 26)
 */
#define BATCH_EVENTS 65536
#define BATCH_BYTES (16 * 1024 * 1024)

#define QF_USER_NULL	1
#define QF_TS_NULL		2
#define QF_EVENT_NULL	4
#define QF_VALUE_NULL	8
#define QF_USER_INT4	16		/* the user id as an int4, not text */
#define QF_USER_INT8	32		/* as an int8 */
#define QF_USER_UUID	64		/* as the 16 bytes of a uuid */
#define QF_USER_KINDS	(QF_USER_INT4 | QF_USER_INT8 | QF_USER_UUID)
#define QF_ALL			127

/* trigger types as pg_trigger.tgtype holds them (AFTER: no timing bit) */
#define CT_ROW		1
#define CT_INSERT	4
#define CT_DELETE	8
#define CT_UPDATE	16
#define CT_TRUNCATE 32

/* what one firing needs: the source and the firing table's tracked columns */
typedef struct Capture
{
	Oid			ns;				/* the extension's schema */
	int32		source_id;
	Oid			source;			/* the tracked table */
	Oid			user_type;		/* the tracked user id type */
	NameData	cols[4];		/* user, time, event, value column names */
	bool		has_value;
	AttrNumber	att[4];			/* their numbers in the firing table */
	Oid			types[4];
	FmgrInfo	user_out;		/* the user id type's output function, once needed */
	Datum		numeric_bound;	/* numeric 1e300, once a numeric value is converted */
	Snapshot	snapshot;
	bool		own_rows;		/* FindSource read a row this transaction wrote */
	/* forgotten users: whether any, and what testing one takes */
	bool		any_forgotten;
	bytea	   *key;
	Relation	forgotten;
	Relation	forgotten_index;
	TupleTableSlot *forgotten_slot;
	/*
	 * UPDATE, DELETE: the user ids queued so far by this firing, in
	 * seen_cxt (a child of cxt), and about the memory they take
	 */
	HTAB	   *dirty_seen;
	MemoryContext seen_cxt;
	Size		seen_bytes;
	MemoryContext cxt;
	/*
	 * On a Citus shard: the queue's shard on this node that the events go
	 * to (src/capture.c, "Citus"), and the first user id of the batch being
	 * packed, its distribution column value
	 */
	Relation	citus_queue;
	Datum		batch_user;
	bool		batch_user_null;
	int32		hash_min;		/* the shard's hash range, which each row's */
	int32		hash_max;		/* user id must hash into */
} Capture;

static List *Ancestors(Oid rel);
extern Oid segmentation_citus_shard_table(Oid relid);	/* for src/guard.c */

/* a user id's text, the key of Capture.dirty_seen */
typedef struct SeenKey
{
	uint32		len;
	const char *data;
} SeenKey;

static uint32
SeenHash(const void *key, Size keysize)
{
	const SeenKey *k = (const SeenKey *) key;

	return hash_bytes((const unsigned char *) k->data, k->len);
}

static int
SeenMatch(const void *a, const void *b, Size keysize)
{
	const SeenKey *x = (const SeenKey *) a;
	const SeenKey *y = (const SeenKey *) b;

	return x->len == y->len && memcmp(x->data, y->data, x->len) == 0 ? 0 : 1;
}

/*
 * Whether this firing queued the user id already (else remember it).  At
 * most work_mem of them are remembered (about 80 bytes a user id: an UPDATE
 * or DELETE of 100 million users would have taken 8 GB, where the SQL of
 * the PL/pgSQL capture spilled to disk; review 26): past it the set starts
 * again empty, and a user id may be queued twice (refresh groups them).
 */
static bool
SeenBefore(Capture *c, const char *data, int len)
{
	SeenKey		key;
	bool		found;

	if (c->dirty_seen != NULL && c->seen_bytes > (Size) work_mem * 1024)
	{
		MemoryContextReset(c->seen_cxt);
		c->dirty_seen = NULL;
		c->seen_bytes = 0;
	}
	if (c->dirty_seen == NULL)
	{
		HASHCTL		ctl;

		if (c->seen_cxt == NULL)
			c->seen_cxt = AllocSetContextCreate(c->cxt, "segmentation capture users", ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(SeenKey);
		ctl.entrysize = sizeof(SeenKey);
		ctl.hash = SeenHash;
		ctl.match = SeenMatch;
		ctl.hcxt = c->seen_cxt;
		c->dirty_seen = hash_create("segmentation capture users", 256, &ctl,
									HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	key.len = len;
	key.data = data;
	hash_search(c->dirty_seen, &key, HASH_FIND, &found);
	if (!found)
	{
		SeenKey    *entry;

		key.data = MemoryContextAlloc(c->seen_cxt, len);
		memcpy((char *) key.data, data, len);
		entry = (SeenKey *) hash_search(c->dirty_seen, &key, HASH_ENTER, NULL);
		*entry = key;
		c->seen_bytes += 64 + MAXALIGN(len);
	}
	return found;
}

static Oid
OwnRelation(Capture *c, const char *name)
{
	Oid			rel = get_relname_relid(name, c->ns);

	if (!OidIsValid(rel))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("segmentation capture: relation segmentation.%s does not exist", name),
				 errhint("Track a table first (segmentation.track), which makes the state capture writes.")));
	return rel;
}

/*
 * The function must be segmentation._capture(); the extension's schema.
 * (Checked once a session for a function's OID: a function keeps its OID,
 * and only the extension's owner could rename it.)
 */
static Oid
CheckFunction(Oid fn)
{
	static Oid	checked_fn = InvalidOid;
	static Oid	checked_ns = InvalidOid;
	char	   *name;
	Oid			ns;

	if (fn == checked_fn && OidIsValid(fn))
		return checked_ns;
	name = get_func_name(fn);
	ns = get_namespace_oid("segmentation", true);
	if (name == NULL || !OidIsValid(ns) || get_func_namespace(fn) != ns || strcmp(name, "_capture") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("capture_trigger may only be the function segmentation._capture()")));
	checked_fn = fn;
	checked_ns = ns;
	return ns;
}

/*
 * The trigger must be declared as _install_capture_triggers declares it:
 * AFTER, of this function, of its level and events, with its transition
 * tables (and so handed them), no WHEN or column list, and no arguments
 * but, on a table Citus distributes, the CITUS_NARGS it is given there.
 */
static void
CheckDeclared(TriggerData *td, Oid fn, int op, int nargs)
{
	Trigger    *tg = td->tg_trigger;
	bool		row = TRIGGER_FIRED_FOR_ROW(td->tg_event);
	int16		type = row ? (CT_ROW | CT_INSERT | CT_DELETE | CT_UPDATE) : op;
	const char *oldtable = (!row && (op == CT_UPDATE || op == CT_DELETE)) ? "old_rows" : NULL;
	const char *newtable = (!row && (op == CT_INSERT || op == CT_UPDATE)) ? "new_rows" : NULL;

	if (!TRIGGER_FIRED_AFTER(td->tg_event) || (row && op == CT_TRUNCATE) || tg->tgfoid != fn || tg->tgtype != type
		|| tg->tgqual != NULL || tg->tgnargs != nargs || tg->tgnattr != 0
		|| (tg->tgoldtable == NULL) != (oldtable == NULL) || (oldtable && strcmp(tg->tgoldtable, oldtable) != 0)
		|| (tg->tgnewtable == NULL) != (newtable == NULL) || (newtable && strcmp(tg->tgnewtable, newtable) != 0)
		|| (oldtable && td->tg_oldtable == NULL) || (newtable && td->tg_newtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("segmentation capture function %s fired by a trigger not as capture installed it", tg->tgname)));
}

/* the unique index of rel on its column attnum alone, or an error */
static Oid
UniqueIndexOn(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (form->indisunique && form->indisvalid && form->indnatts == 1 && form->indkey.values[0] == attnum
			&& RelationGetIndexExpressions(index) == NIL && RelationGetIndexPredicate(index) == NIL
			&& index->rd_rel->relam == BTREE_AM_OID)
			found = RelationGetRelid(index);
		index_close(index, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation.%s is not as the extension made it", RelationGetRelationName(rel)),
				 errdetail("Its unique index on column %d is missing.", attnum)));
	return found;
}

/* a row of segmentation.sources, as FindSource reads it */
typedef struct SourceRow
{
	Oid			source;
	int32		id;
	Oid			user_type;
	bool		has_value;
	NameData	cols[4];
} SourceRow;

static void
TwoTrees(Oid rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table %s is in the trees of two tracked tables", get_rel_name(rel)),
			 errhint("Inherit from one tracked table only.")));
}

/*
 * Whether the row in slot was written by this transaction (or one of its
 * subtransactions): a source found from it is not kept for the session
 * (CachedTable), since a rollback need not invalidate the table.
 */
static bool
WrittenHere(TupleTableSlot *slot)
{
	bool		isnull;
	Datum		xmin = slot_getsysattr(slot, MinTransactionIdAttributeNumber, &isnull);

	return !isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin));
}

/* whether capture of source_id was installed on rel (_capture_members) */
static bool
Installed(Capture *c, int32 source_id, Oid rel)
{
	Relation	members = table_open(OwnRelation(c, "_capture_members"), AccessShareLock);
	Oid			pk = RelationGetPrimaryKeyIndex(members);
	Relation	index;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	if (!OidIsValid(pk))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation._capture_members has no primary key")));
	index = index_open(pk, AccessShareLock);
	if (index->rd_index->indnatts != 2 || index->rd_index->indkey.values[0] != 1 || index->rd_index->indkey.values[1] != 2
		|| TupleDescAttr(RelationGetDescr(members), 0)->atttypid != INT4OID
		|| TupleDescAttr(RelationGetDescr(members), 1)->atttypid != OIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation._capture_members is not as the extension made it")));
	slot = table_slot_create(members, NULL);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(source_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(rel));
	scan = index_beginscan(members, index, c->snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found && WrittenHere(slot))
		c->own_rows = true;
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(members, AccessShareLock);
	return found;
}

/*
 * The source whose tree holds rel: the tracked table itself, else the one
 * of its ancestors (up through pg_inherits, by OID) that is tracked; false
 * when none is; of two, the one whose capture was installed on rel.  Its
 * row of segmentation.sources (found through the unique index on source: no
 * scan of the table), read as the extension made it (refresh validates the
 * rest before using it).
 */
static bool
FindSource(Capture *c, Oid rel)
{
	Relation	sources = table_open(OwnRelation(c, "sources"), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(sources);
	Relation	index;
	TupleTableSlot *slot = table_slot_create(sources, NULL);
	List	   *candidates;
	ListCell   *lc;
	SourceRow	rows[8];
	int			nrows = 0,
				chosen = 0;
	const char *attrs[] = {"user_column", "time_column", "event_column", "value_column"};
	int			id_att = -1,
				source_att = -1,
				type_att = -1,
				col_att[4] = {-1, -1, -1, -1};

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		if (strcmp(NameStr(a->attname), "id") == 0 && a->atttypid == INT4OID)
			id_att = i + 1;
		else if (strcmp(NameStr(a->attname), "source") == 0 && a->atttypid == REGCLASSOID)
			source_att = i + 1;
		else if (strcmp(NameStr(a->attname), "user_type") == 0 && a->atttypid == REGTYPEOID)
			type_att = i + 1;
		for (int k = 0; k < 4; k++)
			if (strcmp(NameStr(a->attname), attrs[k]) == 0 && a->atttypid == NAMEOID)
				col_att[k] = i + 1;
	}
	if (id_att < 0 || source_att < 0 || type_att < 0 || col_att[0] < 0 || col_att[1] < 0 || col_att[2] < 0 || col_att[3] < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation.sources is not as the extension made it")));
	index = index_open(UniqueIndexOn(sources, source_att), AccessShareLock);
	/* every row of the table and its ancestors, then the one chosen */
	candidates = Ancestors(rel);
	foreach(lc, candidates)
	{
		ScanKeyData key;
		IndexScanDesc scan;
		bool		isnull;
		Datum		d;
		SourceRow  *row;

		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(lfirst_oid(lc)));
		scan = index_beginscan(sources, index, c->snapshot, 1, 0);
		index_rescan(scan, &key, 1, NULL, 0);
		if (!index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			index_endscan(scan);
			continue;
		}
		index_endscan(scan);
		if (nrows == lengthof(rows))
			TwoTrees(rel);
		row = &rows[nrows++];
		slot_getallattrs(slot);
		if (WrittenHere(slot))
			c->own_rows = true;
		row->source = lfirst_oid(lc);
		d = slot_getattr(slot, id_att, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("segmentation capture: a source has no id")));
		row->id = DatumGetInt32(d);
		d = slot_getattr(slot, type_att, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("segmentation capture: source %d has no user_type", row->id)));
		row->user_type = DatumGetObjectId(d);
		for (int k = 0; k < 4; k++)
		{
			d = slot_getattr(slot, col_att[k], &isnull);
			if (k == 3)
				row->has_value = !isnull;
			else if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("segmentation capture: source %d has no %s", row->id, attrs[k])));
			if (!isnull)
				namestrcpy(&row->cols[k], NameStr(*DatumGetName(d)));
		}
	}
	list_free(candidates);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(sources, AccessShareLock);
	if (nrows == 0)
		return false;
	/*
	 * Two rows: one is not track's.  A segmentation_admin may INSERT into
	 * sources (track runs as the caller): a row for a partition of a
	 * tracked tree, columns of their choice, made capture queue the
	 * partition's events under it (any column of it the admin may not read,
	 * as the event), never under the tracked table (review 26).  The row
	 * whose capture was installed on the table (_capture_members, the
	 * extension's owner's only) is chosen; else the table's own.
	 */
	if (nrows > 1)
	{
		int			installed = -1;

		for (int i = 0; i < nrows; i++)
			if (Installed(c, rows[i].id, rel))
			{
				if (installed >= 0)
					TwoTrees(rel);
				installed = i;
			}
		if (installed < 0 && rows[0].source != rel)
			TwoTrees(rel);
		chosen = installed >= 0 ? installed : 0;
	}
	c->source = rows[chosen].source;
	c->source_id = rows[chosen].id;
	c->user_type = rows[chosen].user_type;
	c->has_value = rows[chosen].has_value;
	memcpy(c->cols, rows[chosen].cols, sizeof(c->cols));
	return true;
}

/*
 * rel and its ancestors at every level (partitioned parents, inheritance
 * parents), up through pg_inherits, by OID.
 */
static List *
Ancestors(Oid rel)
{
	List	   *seen = list_make1_oid(rel);
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);

	for (int i = 0; i < list_length(seen); i++)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(list_nth_oid(seen, i)));
		scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
		while ((tuple = systable_getnext(scan)) != NULL)
		{
			Oid			parent = ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent;

			if (!list_member_oid(seen, parent))
				seen = lappend_oid(seen, parent);
		}
		systable_endscan(scan);
	}
	table_close(inherits, AccessShareLock);
	return seen;
}

static bool
TypeAllowed(int kind, Oid type)
{
	switch (kind)
	{
		case 0:
			return type == INT4OID || type == INT8OID || type == TEXTOID || type == VARCHAROID || type == UUIDOID;
		case 1:
			return type == TIMESTAMPTZOID;
		case 2:
			return type == TEXTOID || type == VARCHAROID || type == NAMEOID || type == BPCHAROID;
		default:
			return type == FLOAT8OID || type == FLOAT4OID || type == NUMERICOID || type == INT2OID
				|| type == INT4OID || type == INT8OID;
	}
}

/* the tracked columns in the firing table: by name, of an allowed built-in type */
static void
FindColumns(Capture *c, Relation rel)
{
	static const char *const kinds[] = {"user", "time", "event", "value"};
	TupleDesc	desc = RelationGetDescr(rel);

	for (int k = 0; k < 4; k++)
	{
		AttrNumber	att;
		Oid			type;

		if (k == 3 && !c->has_value)
			continue;
		att = get_attnum(RelationGetRelid(rel), NameStr(c->cols[k]));
		if (att <= 0 || att > desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s column \"%s\" of tracked table %s is missing", kinds[k], NameStr(c->cols[k]),
							RelationGetRelationName(rel))));
		type = TupleDescAttr(desc, att - 1)->atttypid;
		if (!TypeAllowed(k, type) || (k == 0 && type != c->user_type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s column \"%s\" of tracked table %s is of type %s, which capture does not take",
							kinds[k], NameStr(c->cols[k]), RelationGetRelationName(rel), format_type_be(type))));
		c->att[k] = att;
		c->types[k] = type;
	}
}

/*
 * Whether forget_user() erased anyone; if so, the key (the oldest row of
 * _pseudonym_key, as _pseudonym() takes it) and the index to probe.
 */
static void
PrepareForgotten(Capture *c)
{
	Relation	rel = table_open(OwnRelation(c, "forgotten_users"), AccessShareLock);
	Oid			index = RelationGetPrimaryKeyIndex(rel);
	IndexScanDesc scan;

	if (!OidIsValid(index))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation.forgotten_users has no primary key")));
	/* (any row, through the index: no scan of the table, which asks its size) */
	c->forgotten = rel;
	c->forgotten_index = index_open(index, AccessShareLock);
	c->forgotten_slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, c->forgotten_index, c->snapshot, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	c->any_forgotten = index_getnext_slot(scan, ForwardScanDirection, c->forgotten_slot);
	index_endscan(scan);
	if (!c->any_forgotten)
		return;
	{
		Relation	keys = table_open(OwnRelation(c, "_pseudonym_key"), AccessShareLock);

		c->key = PseudonymKey(keys, c->snapshot);
		table_close(keys, AccessShareLock);
		if (c->key == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("segmentation capture: the pseudonym key is missing")));
	}
}

/* whether forget_user() erased this user id (its canonical text) */
static bool
IsForgotten(Capture *c, const char *id, int len)
{
	Datum		hash;
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	if (!c->any_forgotten)
		return false;
	hash = DirectFunctionCall2(pseudonym_hmac_sha256, PointerGetDatum(c->key),
							   DirectFunctionCall1(pseudonym_id_bytes, PointerGetDatum(cstring_to_text_with_len(id, len))));
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ, hash);
	scan = index_beginscan(c->forgotten, c->forgotten_index, c->snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, c->forgotten_slot);
	index_endscan(scan);
	return found;
}

static void
FinishForgotten(Capture *c)
{
	if (c->forgotten == NULL)
		return;
	ExecDropSingleTupleTableSlot(c->forgotten_slot);
	index_close(c->forgotten_index, AccessShareLock);
	table_close(c->forgotten, AccessShareLock);
}

/*
 * The numbers of the packed form, in network byte order: pending_batches is
 * dumped with the state (pg_dump dumps the tables the extension made at
 * run time), and a dump restored on a server of the other byte order would
 * have read every queued event wrong or refused it (review 26).
 */
static void
AppendUint32(StringInfo buf, uint32 n)
{
	n = pg_hton32(n);
	appendBinaryStringInfo(buf, (char *) &n, 4);
}

static void
AppendUint64(StringInfo buf, uint64 n)
{
	n = pg_hton64(n);
	appendBinaryStringInfo(buf, (char *) &n, 8);
}

static uint32
ReadUint32(const char *p)
{
	uint32		n;

	memcpy(&n, p, 4);
	return pg_ntoh32(n);
}

static uint64
ReadUint64(const char *p)
{
	uint64		n;

	memcpy(&n, p, 8);
	return pg_ntoh64(n);
}

/* the user id of a row as canonical text (user_id::text), or NULL */
static char *
UserText(Capture *c, TupleTableSlot *slot, int *len)
{
	Datum		d;
	char	   *s;

	if (slot->tts_isnull[c->att[0] - 1])
		return NULL;
	d = slot->tts_values[c->att[0] - 1];
	if (c->types[0] == TEXTOID || c->types[0] == VARCHAROID)
	{
		text	   *t = DatumGetTextPP(d);

		*len = VARSIZE_ANY_EXHDR(t);
		return VARDATA_ANY(t);
	}
	if (c->user_out.fn_oid == InvalidOid)
	{
		Oid			out;
		bool		varlena;

		getTypeOutputInfo(c->types[0], &out, &varlena);
		fmgr_info_cxt(out, &c->user_out, c->cxt);
	}
	s = OutputFunctionCall(&c->user_out, d);
	*len = strlen(s);
	return s;
}

/* the value column as float8, as _value_expr (sql/60-capture.sql) converts it */
static double
ValueOf(Capture *c, Datum d)
{
	switch (c->types[3])
	{
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case FLOAT4OID:
			return (double) DatumGetFloat4(d);
		case INT2OID:
			return (double) DatumGetInt16(d);
		case INT4OID:
			return (double) DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		default:
			/* numeric: beyond 1e300 (or infinite) an infinity, which refresh rejects */
			if (numeric_is_nan(DatumGetNumeric(d)))
				return get_float8_nan();
			if (c->numeric_bound == (Datum) 0)
			{
				/* (made once a firing, in its context, not the row's) */
				MemoryContext old = MemoryContextSwitchTo(c->cxt);

				c->numeric_bound = DirectFunctionCall3(numeric_in, CStringGetDatum("1e300"),
													   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
				MemoryContextSwitchTo(old);
			}
			if (DatumGetBool(DirectFunctionCall2(numeric_lt, DirectFunctionCall1(numeric_abs, d), c->numeric_bound)))
				return DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
			return DatumGetBool(DirectFunctionCall2(numeric_gt, d, NumericGetDatum(int64_to_numeric(0))))
				? get_float8_infinity() : -get_float8_infinity();
	}
}

/* append one event of the slot to buf; false when its user was forgotten */
static bool
PackEvent(Capture *c, TupleTableSlot *slot, StringInfo buf)
{
	uint8		flags = 0;
	bool	   *isnull = slot->tts_isnull;
	Datum	   *values = slot->tts_values;
	Datum		user = values[c->att[0] - 1];

	if (isnull[c->att[0] - 1])
		flags |= QF_USER_NULL;
	else
	{
		if (c->any_forgotten)
		{
			int			ulen = 0;
			char	   *text = UserText(c, slot, &ulen);

			if (IsForgotten(c, text, ulen))
				return false;
		}
		flags |= c->types[0] == INT4OID ? QF_USER_INT4 : c->types[0] == INT8OID ? QF_USER_INT8
			: c->types[0] == UUIDOID ? QF_USER_UUID : 0;
	}
	if (isnull[c->att[1] - 1])
		flags |= QF_TS_NULL;
	if (isnull[c->att[2] - 1])
		flags |= QF_EVENT_NULL;
	if (!c->has_value || isnull[c->att[3] - 1])
		flags |= QF_VALUE_NULL;
	appendBinaryStringInfo(buf, (char *) &flags, 1);
	if (flags & QF_USER_INT4)
	{
		AppendUint32(buf, (uint32) DatumGetInt32(user));
	}
	else if (flags & QF_USER_INT8)
	{
		AppendUint64(buf, (uint64) DatumGetInt64(user));
	}
	else if (flags & QF_USER_UUID)
		appendBinaryStringInfo(buf, (char *) DatumGetUUIDP(user)->data, UUID_LEN);
	else if (!(flags & QF_USER_NULL))
	{
		int			ulen = 0;
		char	   *text = UserText(c, slot, &ulen);
		uint32		n = ulen;

		AppendUint32(buf, n);
		appendBinaryStringInfo(buf, text, ulen);
	}
	if (!(flags & QF_TS_NULL))
	{
		int64		ts = DatumGetTimestampTz(values[c->att[1] - 1]);

		AppendUint64(buf, (uint64) ts);
	}
	if (!(flags & QF_EVENT_NULL))
	{
		Datum		d = values[c->att[2] - 1];
		const char *s;
		uint32		n;

		if (c->types[2] == NAMEOID)
		{
			s = NameStr(*DatumGetName(d));
			n = strlen(s);
		}
		else
		{
			text	   *t = DatumGetTextPP(d);

			s = VARDATA_ANY(t);
			n = VARSIZE_ANY_EXHDR(t);
			/* bpchar::text drops the trailing blanks */
			if (c->types[2] == BPCHAROID)
				while (n > 0 && s[n - 1] == ' ')
					n--;
		}
		AppendUint32(buf, n);
		appendBinaryStringInfo(buf, s, n);
	}
	if (!(flags & QF_VALUE_NULL))
	{
		double		v = ValueOf(c, values[c->att[3] - 1]);

		AppendUint64(buf, DatumGetUInt64(Float8GetDatum(v)));
	}
	return true;
}

/*
 * one row of pending_batches: (source_id, events, batch); on a Citus shard,
 * of its queue's shard: (user_id, events, batch, run), the batch's first
 * user id as the distribution column's value (all of a shard's hash to it),
 * no run (refresh claims the row with its own)
 */
static void
WriteBatch(Capture *c, Relation queue, StringInfo buf, int32 events)
{
	Datum		values[4] = {0, 0, 0, 0};
	bool		nulls[4] = {false, false, false, true};
	HeapTuple	tuple;
	bytea	   *batch = (bytea *) palloc(VARHDRSZ + buf->len);

	SET_VARSIZE(batch, VARHDRSZ + buf->len);
	memcpy(VARDATA(batch), buf->data, buf->len);
	values[0] = c->citus_queue ? c->batch_user : Int32GetDatum(c->source_id);
	nulls[0] = c->citus_queue ? c->batch_user_null : false;
	values[1] = Int32GetDatum(events);
	values[2] = PointerGetDatum(batch);
	tuple = heap_form_tuple(RelationGetDescr(queue), values, nulls);
	heap_insert(queue, tuple, GetCurrentCommandId(true), 0, NULL);
	heap_freetuple(tuple);
	pfree(batch);
}

/* a table of the extension's that capture writes directly: as made, no index */
static Relation
OpenQueue(Capture *c, const char *name, int natts)
{
	Relation	rel = table_open(OwnRelation(c, name), RowExclusiveLock);

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasindex
		|| RelationGetDescr(rel)->natts != natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation.%s is not as the extension made it", name)));
	return rel;
}

/*
 * The first row of a transition table, read through a read pointer of our
 * own from its start.  The tuplestore is shared by every AFTER trigger of the
 * statement that has a transition table of that event; another one that
 * fired before (an application's audit trigger named "audit", which fires
 * first: triggers fire in the order of their names) read it through a read
 * pointer of its own (a NamedTuplestoreScan), left active at the end:
 * reading on from the active one would have queued nothing (review 26).
 */
static bool
FirstRow(Tuplestorestate *rows, TupleTableSlot *slot)
{
	tuplestore_select_read_pointer(rows, tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND));
	tuplestore_rescan(rows);
	return tuplestore_gettupleslot(rows, true, false, slot);
}

/*
 * A row written straight into a shard (INSERT INTO events_102008, which
 * Citus lets a role that may write the table do) whose user id does not
 * hash into the shard's range: Citus's queries of that user, which it
 * routes to the user's shard, never see it (forget_user's delete of the
 * user's events left it: an attack review, session 27), while a read of
 * the whole table does.  Refused, as the hash Citus routes with, the user
 * column type's standard hash function in its collation, says.
 */
static void
CheckShardHash(Capture *c, Relation rel, Form_pg_attribute user_att, Datum user)
{
	TypeCacheEntry *type = lookup_type_cache(user_att->atttypid, TYPECACHE_HASH_PROC_FINFO);
	int32		hash;

	if (!OidIsValid(type->hash_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("segmentation capture: the user id type %s has no hash function", format_type_be(user_att->atttypid))));
	hash = DatumGetInt32(FunctionCall1Coll(&type->hash_proc_finfo, user_att->attcollation, user));
	if (hash < c->hash_min || hash > c->hash_max)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("segmentation capture: a row written to shard %s is of a user whose hash the shard's range does not hold",
						RelationGetRelationName(rel)),
				 errdetail("Citus reads that user's rows from another shard: this one would be counted by a full read of the table only."),
				 errhint("Write through the distributed table: Citus puts each row in its user's shard.")));
}

/* INSERT: the events of a tuplestore (statement) or of one row */
static void
CaptureInserts(Capture *c, Relation rel, Tuplestorestate *rows, TupleTableSlot *row)
{
	Relation	queue = c->citus_queue ? c->citus_queue : OpenQueue(c, "pending_batches", 3);
	TupleTableSlot *slot = row ? row : MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	Form_pg_attribute user_att = TupleDescAttr(RelationGetDescr(rel), c->att[0] - 1);
	MemoryContext per_row = AllocSetContextCreate(CurrentMemoryContext, "segmentation capture", ALLOCSET_SMALL_SIZES);
	StringInfoData buf;
	int32		events = 0;
	int			natts = 0;
	bool		more;

	for (int k = 0; k < 4; k++)
		if (k < 3 || c->has_value)
			natts = Max(natts, c->att[k]);
	initStringInfo(&buf);
	more = row != NULL || FirstRow(rows, slot);
	while (more)
	{
		MemoryContext old;
		bool		kept;

		slot_getsomeattrs(slot, natts);
		if (c->citus_queue && !slot->tts_isnull[c->att[0] - 1])
			CheckShardHash(c, rel, user_att, slot->tts_values[c->att[0] - 1]);
		if (events == 0 && c->citus_queue)
		{
			/* (in the firing's context: kept until the batch is written) */
			Datum		user = slot->tts_values[c->att[0] - 1];

			c->batch_user_null = slot->tts_isnull[c->att[0] - 1];
			if (!c->batch_user_null && user_att->attlen == -1)
				user = PointerGetDatum(PG_DETOAST_DATUM_PACKED(user));
			c->batch_user = c->batch_user_null ? (Datum) 0 : datumCopy(user, user_att->attbyval, user_att->attlen);
		}
		old = MemoryContextSwitchTo(per_row);
		kept = PackEvent(c, slot, &buf);
		MemoryContextSwitchTo(old);
		MemoryContextReset(per_row);
		if (kept && (++events == BATCH_EVENTS || buf.len >= BATCH_BYTES))
		{
			WriteBatch(c, queue, &buf, events);
			resetStringInfo(&buf);
			events = 0;
		}
		more = row == NULL && tuplestore_gettupleslot(rows, true, false, slot);
	}
	if (events > 0)
		WriteBatch(c, queue, &buf, events);
	pfree(buf.data);
	MemoryContextDelete(per_row);
	if (row == NULL)
		ExecDropSingleTupleTableSlot(slot);
	if (queue != c->citus_queue)
		table_close(queue, NoLock);
}

/*
 * UPDATE, DELETE: the user ids of the rows, into dirty_users; an UPDATE's
 * new rows on a Citus shard checked against its hash range (new_rows), as an
 * INSERT's: through the distributed table Citus refuses a change of the
 * user id, not straight into a shard, where one moved a user's rows out of
 * Citus's reach (an attack review, session 27)
 */
static void
CaptureChanges(Capture *c, Relation rel, Tuplestorestate *rows, TupleTableSlot *row, Relation dirty, bool new_rows)
{
	TupleTableSlot *slot = row ? row : MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	MemoryContext per_row = AllocSetContextCreate(CurrentMemoryContext, "segmentation capture", ALLOCSET_SMALL_SIZES);
	bool		more = row != NULL || FirstRow(rows, slot);

	while (more)
	{
		MemoryContext old;
		int			len = 0;
		char	   *user;

		slot_getsomeattrs(slot, c->att[0]);
		if (new_rows && c->citus_queue && !slot->tts_isnull[c->att[0] - 1])
			CheckShardHash(c, rel, TupleDescAttr(RelationGetDescr(rel), c->att[0] - 1), slot->tts_values[c->att[0] - 1]);
		old = MemoryContextSwitchTo(per_row);
		user = UserText(c, slot, &len);
		if (user != NULL && !SeenBefore(c, user, len) && !IsForgotten(c, user, len))
		{
			/* (on a Citus shard, a row of its queue: the user id, 0, no batch, no run) */
			Datum		values[4] = {slot->tts_values[c->att[0] - 1], Int32GetDatum(0), (Datum) 0, (Datum) 0};
			bool		nulls[4] = {false, false, true, true};
			HeapTuple	tuple;

			/* (a long text id may be TOASTed in the table's own storage) */
			if (c->types[0] == TEXTOID || c->types[0] == VARCHAROID)
				values[0] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(values[0]));
			tuple = heap_form_tuple(RelationGetDescr(dirty), values, nulls);
			heap_insert(dirty, tuple, GetCurrentCommandId(true), 0, NULL);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(per_row);
		more = row == NULL && tuplestore_gettupleslot(rows, true, false, slot);
	}
	MemoryContextDelete(per_row);
	if (row == NULL)
		ExecDropSingleTupleTableSlot(slot);
}

/* UPDATE, DELETE: the user ids of the old rows and, of an UPDATE, the new */
static void
CaptureChangesOf(Capture *c, TriggerData *td, int op, Relation dirty)
{
	if (TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		CaptureChanges(c, td->tg_relation, NULL, td->tg_trigslot, dirty, false);
		if (op == CT_UPDATE)
			CaptureChanges(c, td->tg_relation, NULL, td->tg_newslot, dirty, true);
	}
	else
	{
		CaptureChanges(c, td->tg_relation, td->tg_oldtable, NULL, dirty, false);
		if (op == CT_UPDATE)
			CaptureChanges(c, td->tg_relation, td->tg_newtable, NULL, dirty, true);
	}
}

/* ---------------------------------------------------------------------
 * Citus (issue 14 point 3; doc/citus.md, "Capture")
 *
 * A table Citus distributes by the user id keeps its rows in shards, on the
 * workers (and on a coordinator that has shards); the copies of the capture
 * triggers that Citus put on each shard fire where the rows are written,
 * the distributed table's own (empty) only for a TRUNCATE run on its node.
 * On a shard the events go to the shard of the same hash range, on the
 * same node, of the source's queue, segmentation.citus_queue_<id> (user_id,
 * events, batch, run): distributed by user id, colocated with the tracked
 * table (moved with it), a row per statement's batch (user_id: its first
 * event's, whose hash all of a shard's share), per updated or deleted user
 * (events 0, no batch), per TRUNCATE of the shard itself (no user, events
 * -1); run is refresh's, which claims the rows it consumes.  Refresh, on
 * the coordinator, consumes them in its own transaction (Citus commits it
 * on every node with two-phase commit), each exactly once: the batches'
 * events aggregated on the workers, or moved into pending_batches, the
 * other rows into dirty_users and truncated (sql/60-capture.sql).
 *
 * A worker has no configuration (segmentation.sources is the
 * coordinator's): the trigger's arguments give the source's id and tracked
 * columns, as track put them there; only the extension's owner may create
 * a trigger of this function, on any node.  A shard is known from Citus's
 * catalogs (in pg_catalog: a superuser's), by OID and shard id.  Forgotten
 * users are skipped by refresh: their keyed hashes are on the coordinator.
 * --------------------------------------------------------------------- */

/* the arguments of a capture trigger on a distributed table: id, columns */
#define CITUS_NARGS 5

/* a catalog (or index) of Citus's in pg_catalog, InvalidOid without Citus */
static Oid
CitusCatalog(const char *name)
{
	return get_relname_relid(name, PG_CATALOG_NAMESPACE);
}

/* the number of a catalog's column, checked to be of its type */
static AttrNumber
CatalogColumn(Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0 && a->atttypid == type)
			return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("segmentation capture: Citus's catalog %s has no column %s of type %s",
					RelationGetRelationName(rel), name, format_type_be(type))));
	return 0;
}

/*
 * A row of pg_dist_shard, found through its index on one column: the shard
 * of an id (by_shard), or the shard of a distributed table whose hash range
 * starts at want_min.
 */
typedef struct CitusShard
{
	Oid			table;
	int64		shardid;
	char	   *minvalue;		/* NULL: not a hash shard */
	char	   *maxvalue;
} CitusShard;

static bool
CitusShardLookup(const char *index_name, Datum key, bool by_shard, const char *want_min, CitusShard *out)
{
	Oid			catalog = CitusCatalog("pg_dist_shard");
	Oid			index = CitusCatalog(index_name);
	Relation	rel;
	TupleDesc	desc;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	table_att,
				shard_att,
				min_att,
				max_att;
	bool		found = false;

	if (!OidIsValid(catalog) || !OidIsValid(index))
		return false;
	rel = table_open(catalog, AccessShareLock);
	desc = RelationGetDescr(rel);
	table_att = CatalogColumn(rel, "logicalrelid", REGCLASSOID);
	shard_att = CatalogColumn(rel, "shardid", INT8OID);
	min_att = CatalogColumn(rel, "shardminvalue", TEXTOID);
	max_att = CatalogColumn(rel, "shardmaxvalue", TEXTOID);
	/* (systable_beginscan takes the table's column numbers) */
	ScanKeyInit(&skey, by_shard ? shard_att : table_att, BTEqualStrategyNumber, by_shard ? F_INT8EQ : F_OIDEQ, key);
	scan = systable_beginscan(rel, index, true, NULL, 1, &skey);
	while (!found && (tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d;

		out->table = DatumGetObjectId(heap_getattr(tuple, table_att, desc, &isnull));
		out->shardid = DatumGetInt64(heap_getattr(tuple, shard_att, desc, &isnull));
		d = heap_getattr(tuple, min_att, desc, &isnull);
		out->minvalue = isnull ? NULL : TextDatumGetCString(d);
		d = heap_getattr(tuple, max_att, desc, &isnull);
		out->maxvalue = isnull ? NULL : TextDatumGetCString(d);
		/* (the index must be on the column asked: else a row of another key) */
		if (by_shard ? out->shardid != DatumGetInt64(key) : out->table != DatumGetObjectId(key))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("segmentation capture: Citus's index %s is not on the column expected", index_name)));
		found = by_shard || (out->minvalue != NULL && strcmp(out->minvalue, want_min) == 0);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Whether rel is a hash shard of a table Citus distributes: its name is
 * the table's, '_' and the shard id, in the table's schema, and that shard
 * of pg_dist_shard is the table's.  (Citus shortens the name of a table
 * longer than that leaves room for: track refuses such a table.)
 */
static bool
CitusShardNamed(const char *name, Oid ns, CitusShard *shard)
{
	const char *digits = strrchr(name, '_');
	char	   *end;
	int64		shardid;
	char	   *table_name;

	if (digits == NULL || digits[1] < '0' || digits[1] > '9')
		return false;
	for (const char *p = digits + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	shardid = strtoi64(digits + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	if (!CitusShardLookup("pg_dist_shard_shardid_index", Int64GetDatum(shardid), true, NULL, shard)
		|| shard->minvalue == NULL)
		return false;
	table_name = get_rel_name(shard->table);
	return table_name != NULL && get_rel_namespace(shard->table) == ns
		&& strcmp(psprintf("%s_" INT64_FORMAT, table_name, shardid), name) == 0;
}

static bool
CitusShardOf(Relation rel, CitusShard *shard)
{
	return CitusShardNamed(RelationGetRelationName(rel), RelationGetNamespace(rel), shard);
}

/*
 * The table Citus distributes that relid is a hash shard of, else
 * InvalidOid: for src/guard.c, where Citus plans the read of a shard on
 * this node (a coordinator with shards) in refresh's guarded statement
 * (review 28, R28-3).
 */
Oid
segmentation_citus_shard_table(Oid relid)
{
	char	   *name = get_rel_name(relid);
	CitusShard	shard;
	HeapTuple	rel_tuple,
				table_tuple;
	bool		same_owner = false;

	if (name == NULL || !CitusShardNamed(name, get_rel_namespace(relid), &shard))
		return InvalidOid;

	/*
	 * (a shard is a plain table owned by its table's owner, Citus made it
	 * so: a relation another role made under the name of a shard placed on
	 * another node, in a schema it may create in, is not one, review 29)
	 */
	rel_tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	table_tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(shard.table));
	if (HeapTupleIsValid(rel_tuple) && HeapTupleIsValid(table_tuple))
		same_owner = ((Form_pg_class) GETSTRUCT(rel_tuple))->relkind == RELKIND_RELATION
			&& ((Form_pg_class) GETSTRUCT(rel_tuple))->relowner == ((Form_pg_class) GETSTRUCT(table_tuple))->relowner;
	if (HeapTupleIsValid(rel_tuple))
		ReleaseSysCache(rel_tuple);
	if (HeapTupleIsValid(table_tuple))
		ReleaseSysCache(table_tuple);
	return same_owner ? shard.table : InvalidOid;
}

/* a hash-distributed table's colocation group (pg_dist_partition), else -1 */
static int32
CitusColocation(Oid table)
{
	Oid			catalog = CitusCatalog("pg_dist_partition");
	Oid			index = CitusCatalog("pg_dist_partition_logical_relid_index");
	Relation	rel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tuple;
	int32		group = -1;

	if (!OidIsValid(catalog) || !OidIsValid(index))
		return -1;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&skey, CatalogColumn(rel, "logicalrelid", REGCLASSOID), BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(table));
	scan = systable_beginscan(rel, index, true, NULL, 1, &skey);
	tuple = systable_getnext(scan);
	if (tuple != NULL)
	{
		bool		isnull;
		TupleDesc	desc = RelationGetDescr(rel);

		if (DatumGetObjectId(heap_getattr(tuple, CatalogColumn(rel, "logicalrelid", REGCLASSOID), desc, &isnull)) == table
			&& DatumGetChar(heap_getattr(tuple, CatalogColumn(rel, "partmethod", CHAROID), desc, &isnull)) == 'h')
			group = DatumGetInt32(heap_getattr(tuple, CatalogColumn(rel, "colocationid", INT4OID), desc, &isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return group;
}

/* the source's id and tracked columns, from the trigger's arguments */
static void
CitusArgs(Capture *c, Trigger *tg)
{
	char	   *end;
	long		id;

	errno = 0;
	id = strtol(tg->tgargs[0], &end, 10);
	if (errno != 0 || *end != '\0' || end == tg->tgargs[0] || id <= 0 || id > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("segmentation capture trigger %s has no valid source id", tg->tgname)));
	c->source_id = (int32) id;
	for (int k = 0; k < 4; k++)
	{
		const char *col = tg->tgargs[k + 1];

		if (strlen(col) >= NAMEDATALEN || (k < 3 && col[0] == '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("segmentation capture trigger %s has no valid column names", tg->tgname)));
		if (k == 3)
			c->has_value = col[0] != '\0';
		namestrcpy(&c->cols[k], col);
	}
}

/*
 * The shard, on this node, of the source's queue for the hash range that
 * starts at minvalue: the queue is colocated with the table, as track made
 * it.
 */
static Oid
CitusQueueShard(Capture *c, Oid table, const char *minvalue, Oid *distributed)
{
	char	   *name = psprintf("citus_queue_%d", c->source_id);
	Oid			queue = get_relname_relid(name, c->ns);
	CitusShard	shard;

	if (!OidIsValid(queue) || CitusColocation(queue) < 0 || CitusColocation(queue) != CitusColocation(table))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segmentation capture: the queue of tracked table %s, segmentation.%s, is missing or not colocated with it",
						get_rel_name(table), name),
				 errhint("Untrack the table and track it again.")));
	*distributed = queue;
	queue = !CitusShardLookup("pg_dist_shard_logical_relid_index", ObjectIdGetDatum(queue), false, minvalue, &shard)
		? InvalidOid : get_relname_relid(psprintf("%s_" INT64_FORMAT, name, shard.shardid), c->ns);
	if (!OidIsValid(queue))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segmentation capture: no shard of segmentation.%s for the hash range of %s is on this node",
						name, get_rel_name(table)),
				 errhint("The queue is colocated with the table: Citus moves their shards together.")));
	return queue;
}

/* the queue's shard, opened and checked as track made it (NULL: it is gone); the user id type is its first column's */
static Relation
OpenCitusQueue(Capture *c, Oid queue)
{
	Relation	rel = try_table_open(queue, RowExclusiveLock);
	TupleDesc	desc;

	if (rel == NULL)
		return NULL;
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasindex || desc->natts != 4
		|| RelationGetNamespace(rel) != c->ns
		|| TupleDescAttr(desc, 0)->attisdropped || TupleDescAttr(desc, 1)->atttypid != INT4OID
		|| TupleDescAttr(desc, 2)->atttypid != BYTEAOID || TupleDescAttr(desc, 3)->atttypid != INT8OID
		|| !TypeAllowed(0, TupleDescAttr(desc, 0)->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segmentation capture: segmentation.%s is not as the extension made it", RelationGetRelationName(rel))));
	c->user_type = TupleDescAttr(desc, 0)->atttypid;
	return rel;
}

/*
 * Whether this is Citus moving or splitting a shard by logical replication:
 * its apply worker writes, in replica mode, rows the source shard has, whose
 * capture is queued there already (and copied along with the colocated
 * queue's shard).  Its subscription's name says so; only a superuser may
 * create a subscription (and Citus guards those names: shard_transfer.c).
 */
static bool
CitusShardTransfer(void)
{
	return IsLogicalWorker() && MySubscription != NULL
		&& (strncmp(MySubscription->name, "citus_shard_move_subscription_", 30) == 0
			|| strncmp(MySubscription->name, "citus_shard_split_subscription_", 31) == 0);
}

/*
 * Whether the trigger is one its source left behind: its queue is gone
 * (dropped by untrack, or by DROP TABLE of the table alter_distributed_table
 * replaced, whose copy got the triggers).  Citus keeps the TRUNCATE
 * triggers of shards when the table's go (and a shard it moved or split got
 * one): each such TRUNCATE failed for want of the queue, with a hint to
 * untrack a table no longer tracked (review 28, R28-4).  A tracked source
 * whose queue is gone is refused by refresh (_check_source, _citus_queue).
 */
static bool
CitusLeftover(Capture *c, Trigger *tg)
{
	CitusArgs(c, tg);
	return !OidIsValid(get_relname_relid(psprintf("citus_queue_%d", c->source_id), c->ns));
}

/*
 * Whether Citus wrote to the shard over one of its own connections (the
 * application_name it gives them, by which Citus itself tells them): for a
 * statement run on another node, or its rebalancer's.  A session on the
 * same node that writes through the distributed table has the table locked
 * already (its planner did); any other write to a shard is one straight
 * into it.
 */
static bool
CitusConnection(void)
{
	return application_name != NULL
		&& (strncmp(application_name, "citus_internal gpid=", 20) == 0
			|| strncmp(application_name, "citus_rebalancer gpid=", 22) == 0);
}

/* a session's cache keyed by OIDs (keysize bytes), whose entries forget drops on relcache invalidations */
static HTAB *
NewCache(const char *name, Size keysize, Size entrysize, RelcacheCallbackFunction forget)
{
	HASHCTL		ctl;
	HTAB	   *cache;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = CacheMemoryContext;
	cache = hash_create(name, 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(forget, (Datum) 0);
	return cache;
}

/*
 * What capture found out about a shard from Citus's catalogs (its table,
 * the queue's shard of its hash range on this node), kept for the session
 * by the shard's OID and its trigger's (track and untrack make and drop the
 * triggers) until a relcache invalidation of any of them: Citus moves and
 * splits shards by making new ones and dropping the old, untrack drops the
 * queue, and a change of Citus's metadata invalidates the distributed
 * table's entry; an aborted transaction's own invalidations are run in its
 * backend.  (A single-row INSERT looked them up at every firing: 1.47x an
 * untracked one, bench/README.md.)
 */
typedef struct CachedShard
{
	Oid			relid;			/* the shard and the trigger (key: a shard's
								 * INSERT, UPDATE and DELETE triggers each
								 * have an entry, review 30) */
	Oid			tgoid;
	Oid			table;
	Oid			queue;			/* the queue's distributed table */
	Oid			queue_shard;
	int32		hash_min;		/* the shard's hash range */
	int32		hash_max;
} CachedShard;

static HTAB *cached_shards = NULL;

static void
ForgetCachedShards(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CachedShard *entry;

	if (cached_shards == NULL)
		return;
	hash_seq_init(&status, cached_shards);
	while ((entry = (CachedShard *) hash_seq_search(&status)) != NULL)
		if (!OidIsValid(relid) || relid == entry->relid || relid == entry->table || relid == entry->queue
			|| relid == entry->queue_shard)
			hash_search(cached_shards, &entry->relid, HASH_REMOVE, NULL);
}

static bool
CachedShardOf(Oid relid, Oid tgoid, CachedShard *out)
{
	CachedShard *entry;
	Oid			key[2] = {relid, tgoid};

	if (cached_shards == NULL)
		return false;
	entry = (CachedShard *) hash_search(cached_shards, key, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	*out = *entry;
	return true;
}

static void
CacheShard(const CachedShard *facts)
{
	CachedShard *entry;

	if (cached_shards == NULL)
		cached_shards = NewCache("segmentation capture shards", 2 * sizeof(Oid), sizeof(CachedShard), ForgetCachedShards);
	entry = (CachedShard *) hash_search(cached_shards, &facts->relid, HASH_ENTER, NULL);
	*entry = *facts;
}

/*
 * A write to a shard of a tracked distributed table, captured; false when
 * the table is no shard.  Its table and the queue's shard come from the
 * cache, checked again once the locks taken here have read the
 * invalidations (a reset of the cache, which any backend's many changes can
 * cause, forgets them), else from Citus's catalogs.
 */
static bool
CaptureOnShard(Capture *c, TriggerData *td, int op)
{
	Relation	rel = td->tg_relation;
	CachedShard facts,
				now;
	CitusShard	shard = {0};
	bool		cached;

	facts.relid = RelationGetRelid(rel);
	facts.tgoid = td->tg_trigger->tgoid;
	cached = CachedShardOf(facts.relid, facts.tgoid, &facts);
	if (!cached)
	{
		if (!CitusShardOf(rel, &shard))
			return false;
		if (CitusLeftover(c, td->tg_trigger))
			return true;
		facts.table = shard.table;
	}
	if (CitusShardTransfer())
		return true;
	/*
	 * A refresh that reads the table locks it in SHARE mode on every node,
	 * so that what it reads and what it moves of the queues are the same
	 * events; Citus takes that lock on a worker on the distributed table,
	 * not on its shards.  A write straight into a shard (INSERT INTO
	 * events_102008, which Citus lets a role that may write the table do)
	 * takes the table's lock here as a write through it would, and waits
	 * for such a refresh: else, committed while it ran, it was read and
	 * queued both, counted twice (review 29, R29-2).  Citus's own
	 * connections do not: the node that runs their statement holds it (a
	 * write through a worker to shards on two nodes would deadlock with the
	 * refresh).  A role that names its session as Citus's only skips the
	 * wait for its own writes.  Nor does a TRUNCATE of the shard: it holds
	 * the shard's ACCESS EXCLUSIVE lock already, which the refresh's read of
	 * the shard waits for (a distributed deadlock, the refresh cancelled,
	 * review 30), and it queues no event, only a full refresh.
	 */
	if (op != CT_TRUNCATE && !CitusConnection())
		LockRelationOid(facts.table, RowExclusiveLock);
	CitusArgs(c, td->tg_trigger);
	if (cached)
	{
		c->citus_queue = OpenCitusQueue(c, facts.queue_shard);
		if (c->citus_queue == NULL || !CachedShardOf(facts.relid, facts.tgoid, &now)
			|| now.table != facts.table || now.queue_shard != facts.queue_shard)
		{
			if (c->citus_queue != NULL)
				table_close(c->citus_queue, NoLock);
			c->citus_queue = NULL;
			/* (a shard's table cannot change while it is written: its name says it) */
			if (!CitusShardOf(rel, &shard) || shard.table != facts.table)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("segmentation capture: %s is no longer a shard of %s", RelationGetRelationName(rel),
								get_rel_name(facts.table))));
			if (CitusLeftover(c, td->tg_trigger))
				return true;
		}
	}
	if (c->citus_queue == NULL)
	{
		facts.queue_shard = CitusQueueShard(c, facts.table, shard.minvalue, &facts.queue);
		facts.hash_min = pg_strtoint32(shard.minvalue);
		facts.hash_max = pg_strtoint32(shard.maxvalue == NULL ? "" : shard.maxvalue);
		c->citus_queue = OpenCitusQueue(c, facts.queue_shard);
		if (c->citus_queue == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("segmentation capture: the queue of tracked table %s was dropped while capture ran", get_rel_name(facts.table))));
		CacheShard(&facts);
	}
	c->hash_min = facts.hash_min;
	c->hash_max = facts.hash_max;
	if (op == CT_TRUNCATE)
	{
		/* (of the shard itself, on its node: Citus's TRUNCATE of the table fires the table's) */
		Datum		values[4] = {(Datum) 0, Int32GetDatum(-1), (Datum) 0, (Datum) 0};
		bool		nulls[4] = {true, false, true, true};
		HeapTuple	tuple = heap_form_tuple(RelationGetDescr(c->citus_queue), values, nulls);

		heap_insert(c->citus_queue, tuple, GetCurrentCommandId(true), 0, NULL);
	}
	else
	{
		FindColumns(c, td->tg_relation);
		if (op == CT_INSERT)
			CaptureInserts(c, td->tg_relation, td->tg_newtable,
						   TRIGGER_FIRED_FOR_ROW(td->tg_event) ? td->tg_trigslot : NULL);
		else
			CaptureChangesOf(c, td, op, c->citus_queue);
	}
	table_close(c->citus_queue, NoLock);
	return true;
}

/*
 * What a table's capture found out about it (its source, the tracked
 * columns in it), kept for the session until the table's relcache entry is
 * invalidated: every change that could alter it invalidates that entry.
 * track and untrack create or drop the table's triggers (on every table of
 * the tree); a partition attached, detached or created, an inheritance
 * added or removed, a column renamed (capture follows it: the sources row
 * changes in the same transaction as the ALTER), added or dropped, are DDL
 * on the table; DROP EXTENSION drops its triggers.  A row a
 * segmentation_admin writes into sources changes nothing here: the entry
 * keeps the source whose capture was installed (review 26, R26-4).  Which
 * users are forgotten is read at every firing.  Not kept: what was found
 * from a row of sources or _capture_members this transaction wrote.  A
 * rollback invalidates only what the transaction invalidated, and track()
 * of a table whose capture triggers are there already (a schema-only
 * restore's, a copy of the schema's) creates none: a session that tracked
 * it, wrote it and rolled back kept queueing its events under the
 * rolled-back source, even once the table was tracked again (review 27).
 */
typedef struct CachedTable
{
	Oid			relid;			/* the firing table (key) */
	int32		source_id;
	Oid			source;
	Oid			user_type;
	NameData	cols[4];
	bool		has_value;
	AttrNumber	att[4];
	Oid			types[4];
} CachedTable;

static HTAB *cached_tables = NULL;

static void
ForgetCachedTable(Datum arg, Oid relid)
{
	if (cached_tables == NULL)
		return;
	if (OidIsValid(relid))
		hash_search(cached_tables, &relid, HASH_REMOVE, NULL);
	else
	{
		HASH_SEQ_STATUS status;
		CachedTable *entry;

		hash_seq_init(&status, cached_tables);
		while ((entry = (CachedTable *) hash_seq_search(&status)) != NULL)
			hash_search(cached_tables, &entry->relid, HASH_REMOVE, NULL);
	}
}

/* the cached facts of a table into c, or false */
static bool
FromCache(Capture *c, Oid relid)
{
	CachedTable *entry;

	if (cached_tables == NULL)
		return false;
	entry = (CachedTable *) hash_search(cached_tables, &relid, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	c->source_id = entry->source_id;
	c->source = entry->source;
	c->user_type = entry->user_type;
	memcpy(c->cols, entry->cols, sizeof(c->cols));
	c->has_value = entry->has_value;
	memcpy(c->att, entry->att, sizeof(c->att));
	memcpy(c->types, entry->types, sizeof(c->types));
	return true;
}

static void
ToCache(Capture *c, Oid relid)
{
	CachedTable *entry;

	if (cached_tables == NULL)
		cached_tables = NewCache("segmentation capture tables", sizeof(Oid), sizeof(CachedTable), ForgetCachedTable);
	entry = (CachedTable *) hash_search(cached_tables, &relid, HASH_ENTER, NULL);
	entry->source_id = c->source_id;
	entry->source = c->source;
	entry->user_type = c->user_type;
	memcpy(entry->cols, c->cols, sizeof(c->cols));
	entry->has_value = c->has_value;
	memcpy(entry->att, c->att, sizeof(c->att));
	memcpy(entry->types, c->types, sizeof(c->types));
}

/*
 * FindSource with the latest snapshot: a table tracked since a REPEATABLE
 * READ writer's snapshot was taken, whose triggers it fires, is captured.
 */
static bool
FindSourceNow(Capture *c, Oid relid)
{
	Snapshot	statement = c->snapshot;
	bool		found;

	c->snapshot = RegisterSnapshot(GetLatestSnapshot());
	found = FindSource(c, relid);
	UnregisterSnapshot(c->snapshot);
	c->snapshot = statement;
	return found;
}

PG_FUNCTION_INFO_V1(capture_trigger);
Datum
capture_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Capture		c;
	Oid			fn = fcinfo->flinfo->fn_oid;
	Oid			relid;
	int			op;
	bool		citus;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("segmentation capture function called outside a trigger")));
	memset(&c, 0, sizeof(c));
	c.cxt = CurrentMemoryContext;
	c.ns = CheckFunction(fn);
	op = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? CT_INSERT
		: TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? CT_UPDATE
		: TRIGGER_FIRED_BY_DELETE(td->tg_event) ? CT_DELETE : CT_TRUNCATE;
	citus = td->tg_trigger->tgnargs == CITUS_NARGS;
	CheckDeclared(td, fn, op, citus ? CITUS_NARGS : 0);
	relid = RelationGetRelid(td->tg_relation);
	if (citus)
	{
		if (CaptureOnShard(&c, td, op))
			return PointerGetDatum(NULL);
		/*
		 * Neither: a table Citus no longer manages (undistribute_table, a
		 * coordinator's dump restored: lifecycle probe, session 27).  Its
		 * source's queue gone (undistribute_table made a new table, and the
		 * old one's drop untracked it), the trigger is a leftover, as a
		 * shard's: the writes go on.  Else (restored; a shard renamed) its
		 * events cannot be captured in this form: refused.
		 */
		if (CitusColocation(relid) < 0)
		{
			if (CitusLeftover(&c, td->tg_trigger))
				return PointerGetDatum(NULL);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("segmentation capture: %s is no longer a table Citus distributes or a shard of one: capture cannot count its events",
							RelationGetRelationName(td->tg_relation)),
					 errdetail("Its capture trigger %s was made while Citus distributed it: the table was undistributed, or restored from a dump of the coordinator, or the shard renamed.",
							   td->tg_trigger->tgname),
					 errhint("Untrack the table and track it again (the next refresh is then full): doc/citus.md, \"Backup and restore\".")));
		}
		/*
		 * The distributed table itself: Citus writes its rows on the shards,
		 * where they are captured; a TRUNCATE of it fires here, on the node
		 * that runs it (not on its shards), and is recorded below.
		 */
		if (op != CT_TRUNCATE)
			return PointerGetDatum(NULL);
	}
	/*
	 * (the statement's: a user forgotten in a transaction that commits while
	 * it runs may be queued, and refresh, which tests every user it counts,
	 * skips them; a track or untrack cannot commit meanwhile: they lock the
	 * table)
	 */
	c.snapshot = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	if (!FromCache(&c, relid) && !FindSourceNow(&c, relid))
	{
		/*
		 * no tracked tree holds the table: a trigger left by a schema-only
		 * restore (sources is config data) or a copy of the schema; only the
		 * extension's owner can create a trigger of this function, so it is
		 * no hostile one: the application's writes go on, and no refresh has
		 * a source to count them for (review 14, R14-6)
		 */
		UnregisterSnapshot(c.snapshot);
		/* (the configuration is the coordinator's: a worker has none) */
		if (citus && !CitusLeftover(&c, td->tg_trigger))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("TRUNCATE of tracked table %s must be run on the Citus coordinator", RelationGetRelationName(td->tg_relation)),
					 errdetail("Capture records a TRUNCATE of a distributed table where segmentation.sources is, on the coordinator.")));
		return PointerGetDatum(NULL);
	}
	if (op == CT_TRUNCATE)
	{
		Relation	truncated = OpenQueue(&c, "truncated", 1);
		Datum		value = Int32GetDatum(c.source_id);
		bool		isnull = false;
		HeapTuple	tuple;

		if (TupleDescAttr(RelationGetDescr(truncated), 0)->atttypid != INT4OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("segmentation capture: segmentation.truncated is not as the extension made it")));
		tuple = heap_form_tuple(RelationGetDescr(truncated), &value, &isnull);
		heap_insert(truncated, tuple, GetCurrentCommandId(true), 0, NULL);
		table_close(truncated, NoLock);
		UnregisterSnapshot(c.snapshot);
		return PointerGetDatum(NULL);
	}
	if (c.att[0] == 0)
	{
		FindColumns(&c, td->tg_relation);
		if (!c.own_rows)
			ToCache(&c, relid);
	}
	PrepareForgotten(&c);
	if (op == CT_INSERT)
		CaptureInserts(&c, td->tg_relation, td->tg_newtable,
					   TRIGGER_FIRED_FOR_ROW(td->tg_event) ? td->tg_trigslot : NULL);
	else
	{
		Relation	dirty = OpenQueue(&c, "dirty_users", 1);

		if (TupleDescAttr(RelationGetDescr(dirty), 0)->atttypid != c.user_type)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("segmentation capture: segmentation.dirty_users is not as the extension made it")));
		CaptureChangesOf(&c, td, op, dirty);
		table_close(dirty, NoLock);
	}
	FinishForgotten(&c);
	UnregisterSnapshot(c.snapshot);
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * Reading the queue back
 * --------------------------------------------------------------------- */

typedef struct QueuedEvent
{
	bool		user_null,
				ts_null,
				event_null,
				value_null;
	const char *user;
	uint32		user_len;
	int64		ts;
	const char *event;
	uint32		event_len;
	double		value;
	int			user_kind;		/* QF_USER_INT4, _INT8, _UUID, or 0: text */
} QueuedEvent;

/* an event's user id as canonical text (user_id::text), palloc'd */
static text *
QueuedUser(const QueuedEvent *e)
{
	char	   *s;

	switch (e->user_kind)
	{
		case QF_USER_INT4:
			s = DatumGetCString(DirectFunctionCall1(int4out, Int32GetDatum((int32) ReadUint32(e->user))));
			break;
		case QF_USER_INT8:
			s = DatumGetCString(DirectFunctionCall1(int8out, Int64GetDatum((int64) ReadUint64(e->user))));
			break;
		case QF_USER_UUID:
			{
				pg_uuid_t	u;

				memcpy(u.data, e->user, UUID_LEN);
				s = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&u)));
				break;
			}
		default:
			return cstring_to_text_with_len(e->user, e->user_len);
	}
	return cstring_to_text(s);
}

static void
Corrupt(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt segmentation capture batch: %s", why)));
}

/* the next event at *pos of data[0, len), validated; false at the end */
static bool
NextEvent(const char *data, uint32 len, uint32 *pos, QueuedEvent *e)
{
	uint8		flags;

	if (*pos >= len)
		return false;
	flags = (uint8) data[(*pos)++];
	if (flags & ~QF_ALL)
		Corrupt("unknown flags");
	e->user_null = (flags & QF_USER_NULL) != 0;
	e->ts_null = (flags & QF_TS_NULL) != 0;
	e->event_null = (flags & QF_EVENT_NULL) != 0;
	e->value_null = (flags & QF_VALUE_NULL) != 0;
	e->user_kind = flags & QF_USER_KINDS;
	if (e->user_kind != 0 && (e->user_null || (e->user_kind & (e->user_kind - 1)) != 0))
		Corrupt("user id of two kinds");
	if (e->user_kind != 0)
	{
		uint32		n = e->user_kind == QF_USER_INT4 ? 4 : e->user_kind == QF_USER_INT8 ? 8 : UUID_LEN;

		if (len - *pos < n)
			Corrupt("truncated user id");
		e->user = data + *pos;
		e->user_len = n;
		*pos += n;
	}
	else if (!e->user_null)
	{
		if (len - *pos < 4)
			Corrupt("truncated user id");
		e->user_len = ReadUint32(data + *pos);
		*pos += 4;
		if (e->user_len > len - *pos)
			Corrupt("user id longer than the batch");
		e->user = data + *pos;
		*pos += e->user_len;
		if (!pg_verifymbstr(e->user, e->user_len, true) || memchr(e->user, '\0', e->user_len) != NULL)
			Corrupt("user id not valid text");
	}
	if (!e->ts_null)
	{
		if (len - *pos < 8)
			Corrupt("truncated time");
		e->ts = (int64) ReadUint64(data + *pos);
		*pos += 8;
	}
	if (!e->event_null)
	{
		if (len - *pos < 4)
			Corrupt("truncated event");
		e->event_len = ReadUint32(data + *pos);
		*pos += 4;
		if (e->event_len > len - *pos)
			Corrupt("event longer than the batch");
		e->event = data + *pos;
		*pos += e->event_len;
		if (!pg_verifymbstr(e->event, e->event_len, true) || memchr(e->event, '\0', e->event_len) != NULL)
			Corrupt("event not valid text");
	}
	if (!e->value_null)
	{
		if (len - *pos < 8)
			Corrupt("truncated value");
		e->value = DatumGetFloat8(UInt64GetDatum(ReadUint64(data + *pos)));
		*pos += 8;
	}
	return true;
}

/* _queued_events(batch bytea): (user_id text, ts timestamptz, event text, value float8) */
PG_FUNCTION_INFO_V1(capture_queued_events);
Datum
capture_queued_events(PG_FUNCTION_ARGS)
{
	bytea	   *batch = PG_GETARG_BYTEA_PP(0);
	const char *data = VARDATA_ANY(batch);
	uint32		len = VARSIZE_ANY_EXHDR(batch);
	uint32		pos = 0;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	QueuedEvent e;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (rsinfo->setDesc->natts != 4 || TupleDescAttr(rsinfo->setDesc, 0)->atttypid != TEXTOID
		|| TupleDescAttr(rsinfo->setDesc, 1)->atttypid != TIMESTAMPTZOID
		|| TupleDescAttr(rsinfo->setDesc, 2)->atttypid != TEXTOID
		|| TupleDescAttr(rsinfo->setDesc, 3)->atttypid != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("_queued_events returns (text, timestamptz, text, float8)")));
	while (NextEvent(data, len, &pos, &e))
	{
		Datum		values[4];
		bool		nulls[4];

		CHECK_FOR_INTERRUPTS();
		nulls[0] = e.user_null;
		nulls[1] = e.ts_null;
		nulls[2] = e.event_null;
		nulls[3] = e.value_null;
		values[0] = e.user_null ? (Datum) 0 : PointerGetDatum(QueuedUser(&e));
		values[1] = TimestampTzGetDatum(e.ts);
		values[2] = e.event_null ? (Datum) 0 : PointerGetDatum(cstring_to_text_with_len(e.event, e.event_len));
		values[3] = Float8GetDatum(e.value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * _queued_without(batch bytea, user_id text): the batch without the events
 * of that user id (canonical text), NULL when none is left (forget_user).
 */
PG_FUNCTION_INFO_V1(capture_queued_without);
Datum
capture_queued_without(PG_FUNCTION_ARGS)
{
	bytea	   *batch = PG_GETARG_BYTEA_PP(0);
	text	   *user = PG_GETARG_TEXT_PP(1);
	const char *data = VARDATA_ANY(batch);
	uint32		len = VARSIZE_ANY_EXHDR(batch);
	uint32		pos = 0,
				start = 0;
	StringInfoData buf;
	QueuedEvent e;
	bytea	   *result;

	initStringInfo(&buf);
	while (NextEvent(data, len, &pos, &e))
	{
		text	   *id = e.user_null ? NULL : QueuedUser(&e);

		if (id == NULL || VARSIZE_ANY_EXHDR(id) != VARSIZE_ANY_EXHDR(user)
			|| memcmp(VARDATA_ANY(id), VARDATA_ANY(user), VARSIZE_ANY_EXHDR(user)) != 0)
			appendBinaryStringInfo(&buf, data + start, pos - start);
		start = pos;
	}
	if (buf.len == 0)
		PG_RETURN_NULL();
	result = (bytea *) palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	PG_RETURN_BYTEA_P(result);
}
