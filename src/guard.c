/*
 * guard.c
 *		Reading tables of other roles with elevated rights: what refresh and
 *		the experiment readout read is what they checked.
 *
 * _check_readable (sql/40-config.sql) checks a table and its tree by OID and
 * locks it, but the statements that then read it name it by text, and a
 * name can move: ALTER SCHEMA ... RENAME takes no lock on the tables inside,
 * so while refresh waits for some lock, a table's owner could swap two
 * schema names and have the printed name parsed into an unchecked table,
 * whose index expressions the planner would fold as the extension's owner.
 * So:
 *
 *	_lock_relation(oid) locks by OID (LOCK TABLE would look a name up again);
 *
 *	_execute_guarded(sql, allowed, $1) runs one statement with a planner hook
 *	armed: before anything is planned (planning is where an index's or a
 *	constraint's expressions of a table first run), every relation in every
 *	query must be one of the allowed ones, or the extension's own, or a
 *	temporary table of this session; anything else is an error.  (The
 *	capture trigger, which fires inside such a statement when forget_user
 *	deletes a user's events, is C and plans nothing: src/capture.c.)  Parsing and rewriting open a relation without running
 *	any of its owner's code (for the superuser running refresh, row-level
 *	security is not applied).
 *	Partitions and inheritance children are expanded by the planner from the
 *	catalog by OID, under the locks _check_readable took on every level.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "behavior.h"

void		_PG_init(void);
extern Oid	segmentation_citus_shard_table(Oid relid);	/* src/capture.c */

static planner_hook_type prev_planner_hook = NULL;

/* while a guarded statement runs: the relations it may read, else NULL */
static Oid *guard_allowed = NULL;
static int	guard_nallowed = 0;
static Oid	guard_namespace = InvalidOid;	/* the extension's schema */

static bool
GuardWalker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, GuardWalker, context, QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;
		Oid			ns;
		Oid			shard_of;
		int			i;

		/* (a view expanded by the rewriter: PostgreSQL 16 keeps its OID) */
		if (rte->rtekind != RTE_RELATION && !(rte->rtekind == RTE_SUBQUERY && OidIsValid(rte->relid)))
			return false;
		for (i = 0; i < guard_nallowed; i++)
			if (guard_allowed[i] == rte->relid)
				return false;
		ns = get_rel_namespace(rte->relid);
		if (ns == guard_namespace || isTempNamespace(ns))
			return false;
		/*
		 * (a hash shard, on this node, of an allowed table Citus
		 * distributes: Citus plans its read here; the shard is the table's
		 * by pg_dist_shard and its name, src/capture.c, "Citus")
		 */
		shard_of = segmentation_citus_shard_table(rte->relid);
		for (i = 0; OidIsValid(shard_of) && i < guard_nallowed; i++)
			if (guard_allowed[i] == shard_of)
				return false;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("relation \"%s\" is not one that was checked for this read",
						get_rel_name(rte->relid) ? get_rel_name(rte->relid) : "?"),
				 errdetail("A tracked or assignments table's name now names another table: a schema or table was renamed while the extension waited for a lock."),
				 errhint("Nothing of it was read. Untrack the table, or define the experiment again, if the rename was meant.")));
	}
	return expression_tree_walker(node, GuardWalker, context);
}

static PlannedStmt *
GuardPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	if (guard_allowed != NULL)
		(void) GuardWalker((Node *) parse, NULL);
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

void
_PG_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = GuardPlanner;
	/* (and src/node.c's guard of the SET commands Citus propagates) */
	InstallCitusSetGuard();
}

/*
 * _execute_guarded(sql text, allowed oid[], param bigint or text) returns
 * bigint: runs sql (one statement, $1 = param) while only the allowed
 * relations, the extension's own and this session's temporary ones may be
 * planned; returns the rows it processed.
 */
PG_FUNCTION_INFO_V1(execute_guarded);
Datum
execute_guarded(PG_FUNCTION_ARGS)
{
	char	   *sql;
	ArrayType  *arr;
	Oid			argtypes[1] = {get_fn_expr_argtype(fcinfo->flinfo, 2)};
	Datum		values[1];
	char		nulls[1];
	Datum	   *elems;
	bool	   *elemnulls;
	int			n,
				i;
	volatile int ret = 0;
	uint64		processed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"sql\" and \"allowed\" must not be NULL")));
	if (argtypes[0] != INT8OID && argtypes[0] != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"param\" must be bigint or text")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1 || ARR_ELEMTYPE(arr) != OIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"allowed\" must be a one-dimensional array of oid")));
	if (guard_allowed != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("guarded statements do not nest")));
	deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, &elemnulls, &n);
	values[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guard_namespace = get_namespace_oid("segmentation", false);
	guard_allowed = MemoryContextAlloc(TopMemoryContext, Max(n, 1) * sizeof(Oid));
	guard_nallowed = 0;
	for (i = 0; i < n; i++)
		if (!elemnulls[i])
			guard_allowed[guard_nallowed++] = DatumGetObjectId(elems[i]);
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql, 1, argtypes, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		pfree(guard_allowed);
		guard_allowed = NULL;
		guard_nallowed = 0;
	}
	PG_END_TRY();
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	processed = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) processed);
}

/*
 * _lock_relation(rel oid) returns boolean: locks the relation in SHARE
 * UPDATE EXCLUSIVE mode, by OID, until the end of the transaction; false
 * when it no longer exists (dropped while waiting).
 */
PG_FUNCTION_INFO_V1(lock_relation);
Datum
lock_relation(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	LockRelationOid(relid, ShareUpdateExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		UnlockRelationOid(relid, ShareUpdateExclusiveLock);
		PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
