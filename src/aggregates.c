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
#include "fmgr.h"
#include "utils/timestamp.h"

/*
 * The state to update in place: argument 0 when it is our read-write
 * expanded object, else a new one under aggcxt holding argument 0's value.
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
		state = ExpandedBehaviorCreate(aggcxt);
		BehaviorMergeInto(&state->b, BehaviorFromDatum(d, &tmp));
		return state;
	}
	return ExpandedBehaviorCreate(aggcxt);
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
		ExpandedBehavior *state = StateForUpdate(fcinfo, aggcxt);

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
