/*
 * bench/capture_proto/capture_proto.c: two prototypes of a statement-level
 * AFTER INSERT capture trigger written in C, for bench/capture.py only (issue
 * 14, point 2: what a trigger in C could cost the application's writes).  Not
 * part of the extension: no privilege or definition checks, a fixed events
 * shape (uid bigint, at timestamptz, name text, amount numeric), superuser
 * only.  The trigger's one argument names the queue table.
 *
 *   capture_proto_rows:  one queue row per event, (source_id int, user_id
 *                        bigint, ts timestamptz, event text, value float8),
 *                        written with table_multi_insert as COPY writes;
 *   capture_proto_batch: one queue row per statement, (source_id int, batch
 *                        bytea): the events packed (uid, ts, value, event),
 *                        TOASTed as the column says (compressed or not);
 *   capture_proto_checked: capture_proto_batch plus the per-statement work a
 *                        real one would do (a second argument, the source's
 *                        id): the source's row read from segmentation.sources,
 *                        the firing table compared with it, the tracked
 *                        columns found by name and their types checked,
 *                        segmentation.forgotten_users looked at (empty here:
 *                        with a forgotten user every row would be hashed), and
 *                        the user id packed as its text form.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

#define BATCH_SLOTS 1000

static TriggerData *
trigger_data(FunctionCallInfo fcinfo)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || td->tg_newtable == NULL || td->tg_trigger->tgnargs != 1)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("capture_proto: an AFTER INSERT statement trigger with a NEW TABLE and one argument")));
	return td;
}

static Relation
queue_of(TriggerData *td)
{
	Oid			q = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(td->tg_trigger->tgargs[0])));

	return table_open(q, RowExclusiveLock);
}

static void
value_of(TupleTableSlot *in, Datum *value, bool *isnull)
{
	*isnull = in->tts_isnull[3];
	*value = *isnull ? (Datum) 0 : DirectFunctionCall1(numeric_float8, in->tts_values[3]);
}

PG_FUNCTION_INFO_V1(capture_proto_rows);
Datum
capture_proto_rows(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo);
	Relation	q = queue_of(td);
	TupleTableSlot *in = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	TupleTableSlot *slots[BATCH_SLOTS];
	int			made = 0,
				n = 0;
	CommandId	cid = GetCurrentCommandId(true);
	BulkInsertState bistate = GetBulkInsertState();

	while (tuplestore_gettupleslot(td->tg_newtable, true, false, in))
	{
		TupleTableSlot *o;

		if (n == made)
			slots[made++] = table_slot_create(q, NULL);
		o = slots[n];
		ExecClearTuple(o);
		slot_getsomeattrs(in, 4);
		o->tts_values[0] = Int32GetDatum(1);
		o->tts_isnull[0] = false;
		for (int k = 0; k < 3; k++)
		{
			o->tts_values[k + 1] = in->tts_values[k];
			o->tts_isnull[k + 1] = in->tts_isnull[k];
		}
		value_of(in, &o->tts_values[4], &o->tts_isnull[4]);
		ExecStoreVirtualTuple(o);
		ExecMaterializeSlot(o);
		if (++n == BATCH_SLOTS)
		{
			table_multi_insert(q, slots, n, cid, 0, bistate);
			n = 0;
		}
	}
	if (n > 0)
		table_multi_insert(q, slots, n, cid, 0, bistate);
	for (int i = 0; i < made; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	ExecDropSingleTupleTableSlot(in);
	FreeBulkInsertState(bistate);
	table_close(q, NoLock);
	return PointerGetDatum(NULL);
}

/* the queue row (1, the packed events), and the end of a firing */
static Datum
WriteBatch(Relation q, StringInfo buf, TupleTableSlot *in)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tuple;

	SET_VARSIZE(buf->data, buf->len);
	values[0] = Int32GetDatum(1);
	values[1] = PointerGetDatum(buf->data);
	tuple = heap_form_tuple(RelationGetDescr(q), values, nulls);
	heap_insert(q, tuple, GetCurrentCommandId(true), 0, NULL);
	heap_freetuple(tuple);
	pfree(buf->data);
	ExecDropSingleTupleTableSlot(in);
	table_close(q, NoLock);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(capture_proto_batch);
Datum
capture_proto_batch(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo);
	Relation	q = queue_of(td);
	TupleTableSlot *in = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	while (tuplestore_gettupleslot(td->tg_newtable, true, false, in))
	{
		int64		uid,
					ts;
		Datum		value;
		bool		isnull;
		text	   *event;
		int32		len;
		char		flags;

		slot_getsomeattrs(in, 4);
		value_of(in, &value, &isnull);
		flags = (in->tts_isnull[0] ? 1 : 0) | (in->tts_isnull[1] ? 2 : 0) | (in->tts_isnull[2] ? 4 : 0) | (isnull ? 8 : 0);
		uid = in->tts_isnull[0] ? 0 : DatumGetInt64(in->tts_values[0]);
		ts = in->tts_isnull[1] ? 0 : DatumGetInt64(in->tts_values[1]);
		appendBinaryStringInfo(&buf, &flags, 1);
		appendBinaryStringInfo(&buf, (char *) &uid, 8);
		appendBinaryStringInfo(&buf, (char *) &ts, 8);
		if (!isnull)
			appendBinaryStringInfo(&buf, (char *) &value, 8);
		if (!in->tts_isnull[2])
		{
			event = DatumGetTextPP(in->tts_values[2]);
			len = VARSIZE_ANY_EXHDR(event);
			appendBinaryStringInfo(&buf, (char *) &len, 4);
			appendBinaryStringInfo(&buf, VARDATA_ANY(event), len);
		}
	}
	return WriteBatch(q, &buf, in);
}

/* the source's row: its table and the four column names (value may be NULL) */
static Oid
source_row(int32 id, NameData *cols, bool *has_value)
{
	Oid			ns = get_namespace_oid("segmentation", false);
	Relation	rel = table_open(get_relname_relid("sources", ns), AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	HeapTuple	tuple;
	Oid			source = InvalidOid;

	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;

		if (DatumGetInt32(heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull)) != id)
			continue;
		source = DatumGetObjectId(heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull));
		for (int k = 0; k < 4; k++)
		{
			Datum		d = heap_getattr(tuple, 3 + k, RelationGetDescr(rel), &isnull);

			if (k == 3)
				*has_value = !isnull;
			if (!isnull)
				cols[k] = *DatumGetName(d);
		}
		break;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return source;
}

static bool
any_forgotten(void)
{
	Oid			ns = get_namespace_oid("segmentation", false);
	Relation	rel = table_open(get_relname_relid("forgotten_users", ns), AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	bool		any = heap_getnext(scan, ForwardScanDirection) != NULL;

	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return any;
}

PG_FUNCTION_INFO_V1(capture_proto_checked);
Datum
capture_proto_checked(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	NameData	cols[4];
	bool		has_value = false;
	AttrNumber	att[4];
	Oid			source;
	Relation	q;
	TupleDesc	desc;
	TupleTableSlot *in;
	StringInfoData buf;
	Oid			outfn;
	bool		varlena;
	FmgrInfo	out;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event)
		|| !TRIGGER_FIRED_BY_INSERT(td->tg_event) || td->tg_newtable == NULL || td->tg_trigger->tgnargs != 2)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("capture_proto: an AFTER INSERT statement trigger with a NEW TABLE and two arguments")));
	source = source_row(pg_strtoint32(td->tg_trigger->tgargs[1]), cols, &has_value);
	if (source != RelationGetRelid(td->tg_relation))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("capture_proto: fired on another table")));
	desc = RelationGetDescr(td->tg_relation);
	for (int k = 0; k < 4; k++)
	{
		Oid			type;

		if (k == 3 && !has_value)
			continue;
		att[k] = get_attnum(source, NameStr(cols[k]));
		if (att[k] <= 0 || att[k] > desc->natts)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("capture_proto: no column \"%s\"", NameStr(cols[k]))));
		type = TupleDescAttr(desc, att[k] - 1)->atttypid;
		if ((k == 0 && type != INT8OID) || (k == 1 && type != TIMESTAMPTZOID) || (k == 2 && type != TEXTOID)
			|| (k == 3 && type != NUMERICOID))
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("capture_proto: column \"%s\" retyped", NameStr(cols[k]))));
	}
	if (any_forgotten())
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("capture_proto: no forgotten users in the benchmark")));
	getTypeOutputInfo(INT8OID, &outfn, &varlena);
	fmgr_info(outfn, &out);
	q = queue_of(td);
	in = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	while (tuplestore_gettupleslot(td->tg_newtable, true, false, in))
	{
		int64		ts;
		double		value = 0;
		char		flags;
		char	   *uid = NULL;
		int32		len;

		slot_getsomeattrs(in, desc->natts);
		flags = (in->tts_isnull[att[0] - 1] ? 1 : 0) | (in->tts_isnull[att[1] - 1] ? 2 : 0)
			| (in->tts_isnull[att[2] - 1] ? 4 : 0) | (!has_value || in->tts_isnull[att[3] - 1] ? 8 : 0);
		if (!(flags & 8))
			value = DatumGetFloat8(DirectFunctionCall1(numeric_float8, in->tts_values[att[3] - 1]));
		ts = (flags & 2) ? 0 : DatumGetInt64(in->tts_values[att[1] - 1]);
		appendBinaryStringInfo(&buf, &flags, 1);
		if (!(flags & 1))
		{
			uid = OutputFunctionCall(&out, in->tts_values[att[0] - 1]);
			len = strlen(uid);
			appendBinaryStringInfo(&buf, (char *) &len, 4);
			appendBinaryStringInfo(&buf, uid, len);
			pfree(uid);
		}
		appendBinaryStringInfo(&buf, (char *) &ts, 8);
		if (!(flags & 8))
			appendBinaryStringInfo(&buf, (char *) &value, 8);
		if (!(flags & 4))
		{
			text	   *event = DatumGetTextPP(in->tts_values[att[2] - 1]);

			len = VARSIZE_ANY_EXHDR(event);
			appendBinaryStringInfo(&buf, (char *) &len, 4);
			appendBinaryStringInfo(&buf, VARDATA_ANY(event), len);
		}
	}
	return WriteBatch(q, &buf, in);
}
