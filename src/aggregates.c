/*
 * aggregates.c
 *		behavior_agg's transition function and behavior_merge, which is both
 *		the plain union of two behaviors and the combine/transition function
 *		of every behavior aggregate.
 *
 * The state type is behavior itself (Citus ships states through text I/O),
 * kept as a read-write expanded object in the aggregate context: each row
 * updates it in place and nodeAgg neither copies nor flattens it until the
 * group is done.
 */
#include "postgres.h"

#include "behavior.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/*
 * Where the groups' states live.
 *
 * An expanded object normally owns a memory context.  One context per group
 * is ruinous under hash aggregation: nodeAgg measures its memory by walking
 * every child of the aggregate context each time it creates a group, which
 * makes N groups cost O(N^2), and each context's first block is counted
 * against work_mem, so the hash table spills early.  So all states of one
 * aggregate context share one child context.  That is safe because nodeAgg
 * (and Citus's worker_partial_agg, which copies its logic) deletes or
 * transfers a read-write state only when the transition function returns a
 * different pointer, and ours always return the state they were given; the
 * finished value leaves the Agg node flattened into a copy.
 *
 * The shared context is found again by the aggregate context alone (what
 * AggCheckCallContext gives), in a few backend-wide slots: not through the
 * call's flinfo->fn_extra, which lives only as long as the FmgrInfo, and
 * Citus's worker_partial_agg_sfunc builds a new FmgrInfo for every row.  A
 * reset callback on the shared context empties its slot when the aggregate
 * context is reset or deleted (which resets or deletes its children), so a
 * slot never names a dead context, even when a new aggregate context later
 * gets the same address.
 */
#define STATE_CONTEXT_SLOTS 8

typedef struct StateContextSlot
{
	MemoryContext aggcxt;
	MemoryContext cxt;
} StateContextSlot;

/* lives in the shared context it watches */
typedef struct StateContextWatch
{
	MemoryContextCallback cb;
	StateContextSlot *slot;
	MemoryContext cxt;
} StateContextWatch;

static StateContextSlot state_context_slots[STATE_CONTEXT_SLOTS];
static int	state_context_next;	/* the slot to give when all are busy */

static void
StateContextGone(void *arg)
{
	StateContextWatch *watch = (StateContextWatch *) arg;

	/* the slot may have been given to another context since */
	if (watch->slot->cxt == watch->cxt)
		watch->slot->aggcxt = watch->slot->cxt = NULL;
}

MemoryContext
AggStateContext(MemoryContext aggcxt)
{
	StateContextSlot *slot = NULL;
	StateContextWatch *watch;
	int			i;

	for (i = 0; i < STATE_CONTEXT_SLOTS; i++)
	{
		if (state_context_slots[i].aggcxt == aggcxt)
			return state_context_slots[i].cxt;
		if (slot == NULL && state_context_slots[i].aggcxt == NULL)
			slot = &state_context_slots[i];
	}

	/*
	 * All slots busy (more live aggregate contexts than slots: grouping
	 * sets, nested queries): take one in turn; the context it named lives on
	 * with its parent, and that parent gets a new shared context if it needs
	 * one again.
	 */
	if (slot == NULL)
	{
		slot = &state_context_slots[state_context_next];
		state_context_next = (state_context_next + 1) % STATE_CONTEXT_SLOTS;
	}
	slot->cxt = AllocSetContextCreate(aggcxt, "segmentation aggregate states", ALLOCSET_DEFAULT_SIZES);
	slot->aggcxt = aggcxt;
	watch = MemoryContextAlloc(slot->cxt, sizeof(StateContextWatch));
	watch->cb.func = StateContextGone;
	watch->cb.arg = watch;
	watch->slot = slot;
	watch->cxt = slot->cxt;
	MemoryContextRegisterResetCallback(slot->cxt, &watch->cb);
	return slot->cxt;
}

/*
 * The state to update in place: argument 0 when it is our read-write
 * expanded object, else a new one holding argument 0's value.
 */
static ExpandedBehavior *
StateForUpdate(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	ExpandedBehavior *state;
	Behavior	tmp;

	if (!PG_ARGISNULL(0))
	{
		Datum		d = PG_GETARG_DATUM(0);

		if (DatumIsReadWriteExpandedObject(d, false, -1))
		{
			state = (ExpandedBehavior *) DatumGetEOHP(d);
			if (state->magic != EXPANDED_BEHAVIOR_MAGIC)
				elog(ERROR, "aggregate state is not a behavior");
			return state;
		}
		state = ExpandedBehaviorCreate(AggStateContext(aggcxt));
		BehaviorMergeInto(&state->b, BehaviorFromDatum(d, &tmp));
		return state;
	}
	return ExpandedBehaviorCreate(AggStateContext(aggcxt));
}

/* behavior_agg(ts [, feature [, value]]) transition: add one event */
PG_FUNCTION_INFO_V1(behavior_agg_trans);
Datum
behavior_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ExpandedBehavior *state;
	TimestampTz ts;
	bool		has_feature = false;
	int32		feature = 0;
	int128		value = 0;

	/*
	 * The group's state is most likely not in cache: ask for all of its
	 * lines now, at once, rather than one dependent miss after another.
	 */
	if (!PG_ARGISNULL(0))
	{
		const char *p = (const char *) DatumGetPointer(PG_GETARG_DATUM(0));
		int			off;

		for (off = -64; off < (int) sizeof(ExpandedBehavior); off += 64)
			__builtin_prefetch(p + off, 1);
	}

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("behavior_agg_trans can only be called as an aggregate transition function")));

	/* a row without a timestamp is not an event */
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	ts = PG_GETARG_TIMESTAMPTZ(1);
	CheckTimestampArg(ts, "ts");
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		feature = PG_GETARG_INT32(2);
		CheckFeatureArg(feature, "feature");
		has_feature = true;
	}
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		value = ValueToFixed(PG_GETARG_FLOAT8(3), "value");

	state = StateForUpdate(fcinfo, aggcxt);
	BehaviorAddEvent(&state->b, ts, has_feature, feature, value);
	PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
}

/*
 * behavior_merge(a, b): the exact union; a NULL side is no events.
 * As an aggregate's transition or combine function it merges b into the
 * state in place.
 */
PG_FUNCTION_INFO_V1(behavior_merge);
Datum
behavior_merge(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	Behavior	tmp;
	Behavior	acc;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}

	if (AggCheckCallContext(fcinfo, &aggcxt))
	{
		ExpandedBehavior *state;

		/*
		 * The group's first value (a partial state from a worker, a stored
		 * behavior): decoded straight into the new state, not decoded and
		 * then copied
		 */
		if (PG_ARGISNULL(0) && !VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(PG_GETARG_DATUM(1))))
		{
			state = ExpandedBehaviorCreate(AggStateContext(aggcxt));
			BehaviorDecodeInto(PG_GETARG_DATUM(1), &state->b);
			PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
		}
		state = StateForUpdate(fcinfo, aggcxt);

		BehaviorMergeInto(&state->b, BehaviorFromDatum(PG_GETARG_DATUM(1), &tmp));
		PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
	}

	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	BehaviorInit(&acc, CurrentMemoryContext);
	BehaviorMergeInto(&acc, BehaviorFromDatum(PG_GETARG_DATUM(0), &tmp));
	BehaviorMergeInto(&acc, BehaviorFromDatum(PG_GETARG_DATUM(1), &tmp));
	PG_RETURN_DATUM(BehaviorGetDatum(&acc));
}

#define MAX_EXTRA_FEATURES 1024

/* the distinct extra feature ids of an int4[] argument, ascending (*n of them) */
static int32 *
ExtraFeatures(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems,
				i,
				k = 0;
	int32	   *ids;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"extra_features\" must be a one-dimensional array")));
	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &nelems);
	/*
	 * (refresh passes one element a feature, and there are at most 1000;
	 * the insertion below is quadratic in the length, review 21 R21-3)
	 */
	if (nelems > MAX_EXTRA_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument \"extra_features\" has more than %d elements", MAX_EXTRA_FEATURES)));
	ids = palloc(Max(nelems, 1) * sizeof(int32));
	for (i = 0; i < nelems; i++)
	{
		int32		id;
		int			j;

		/* (a NULL element is no feature: CASE WHEN <condition> THEN id END) */
		if (nulls[i])
			continue;
		id = DatumGetInt32(elems[i]);
		CheckFeatureArg(id, "extra_features");
		/* insertion, dropping duplicates: the arrays are short */
		for (j = k; j > 0 && ids[j - 1] > id; j--)
			;
		if (j > 0 && ids[j - 1] == id)
			continue;
		memmove(&ids[j + 1], &ids[j], (k - j) * sizeof(int32));
		ids[j] = id;
		k++;
	}
	*n = k;
	return ids;
}

/*
 * behavior_agg_features(ts, feature, extra_features, value) transition: add
 * one event, counted once in the totals and in the series of feature (NULL:
 * of no feature), as behavior_agg(ts, feature, value) does, and once more
 * for each distinct id of extra_features besides feature (NULL elements and
 * a NULL array: none).  An id is an extra feature in every row or in none.
 */
PG_FUNCTION_INFO_V1(behavior_agg_features_trans);
Datum
behavior_agg_features_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ExpandedBehavior *state;
	TimestampTz ts;
	bool		has_feature = false;
	int32		feature = 0;
	int128		value = 0;
	int32	   *extras = NULL;
	int			nextras = 0,
				i;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("behavior_agg_features_trans can only be called as an aggregate transition function")));

	/* a row without a timestamp is not an event */
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	ts = PG_GETARG_TIMESTAMPTZ(1);
	CheckTimestampArg(ts, "ts");
	if (!PG_ARGISNULL(2))
	{
		feature = PG_GETARG_INT32(2);
		CheckFeatureArg(feature, "feature");
		has_feature = true;
	}
	if (!PG_ARGISNULL(3))
		extras = ExtraFeatures(PG_GETARG_ARRAYTYPE_P(3), &nextras);
	if (!PG_ARGISNULL(4))
		value = ValueToFixed(PG_GETARG_FLOAT8(4), "value");

	state = StateForUpdate(fcinfo, aggcxt);
	BehaviorAddEvent(&state->b, ts, has_feature, feature, value);
	for (i = 0; i < nextras; i++)
		if (!has_feature || extras[i] != feature)
			BehaviorAddExtra(&state->b, ts, extras[i], value);
	if (extras)
		pfree(extras);
	PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
}
