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
 *                        TOASTed as the column says (compressed or not).
 */
#include "postgres.h"

#include "access/heapam.h"
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

PG_FUNCTION_INFO_V1(capture_proto_batch);
Datum
capture_proto_batch(PG_FUNCTION_ARGS)
{
	TriggerData *td = trigger_data(fcinfo);
	Relation	q = queue_of(td);
	TupleTableSlot *in = MakeSingleTupleTableSlot(RelationGetDescr(td->tg_relation), &TTSOpsMinimalTuple);
	StringInfoData buf;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tuple;

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
	SET_VARSIZE(buf.data, buf.len);
	values[0] = Int32GetDatum(1);
	values[1] = PointerGetDatum(buf.data);
	tuple = heap_form_tuple(RelationGetDescr(q), values, nulls);
	heap_insert(q, tuple, GetCurrentCommandId(true), 0, NULL);
	heap_freetuple(tuple);
	pfree(buf.data);
	ExecDropSingleTupleTableSlot(in);
	table_close(q, NoLock);
	return PointerGetDatum(NULL);
}
