/*
 * node.c
 *		Which Citus node this is: the extension's state is the coordinator's.
 *
 * CREATE EXTENSION on a Citus coordinator runs the install script on every
 * worker too, so each worker has a copy of the extension with its own
 * random pseudonym key, no forgotten or opted-out users, default settings
 * and no features.  A function that reads that state and runs on a worker,
 * called there or pushed down by Citus inside a statement over a
 * distributed table, would answer from the empty copy without a word:
 * wrong pseudonyms, an opted-out user not found (doc/citus-distribution.md,
 * section 4).  RequireCoordinator(what) is the guard those functions call
 * first (the keyed hash's, src/privacy.c; the SQL ones through
 * _coordinator_only(what)): an error on a worker, nothing elsewhere (no
 * Citus, a coordinator).
 *
 * A worker is a node whose pg_dist_local_group (Citus's catalog, in
 * pg_catalog: only a superuser makes a table there) holds a group other
 * than the coordinator's, 0.  Read once per transaction.
 *
 * It also owns what the extension's SECURITY DEFINER functions do first on
 * Citus: _clean_citus_settings().  With citus.propagate_set_commands =
 * local (which any role may set), Citus sends a transaction's SET LOCAL
 * commands to every worker connection of the transaction, those it opens
 * later for a SECURITY DEFINER function as the extension's owner included,
 * where the function's own SET clauses do not reach.  The shard queries
 * name built-in functions and types unqualified (Citus qualifies what the
 * coordinator's search_path would not find), so a caller's search_path
 * there ran the caller's functions as the owner, a superuser (an attack
 * review of the read paths, doc/citus-distribution.md section 12), and any
 * other setting (standard_conforming_strings, DateStyle, ...) would change
 * how the owner's queries parse there.  No check of the settings can tell:
 * a SET LOCAL in a subtransaction that ended stays on the connections it
 * reached, and Citus forgets it.  So the function has Citus send RESET ALL
 * to the transaction's worker connections, and to those it opens later
 * (Citus's PostprocessVariableSetStmt, as for a SET LOCAL it propagates,
 * called directly, so that nothing is reset here): every setting there is
 * the connection's default again, but role (which only lowers the rights
 * of the owner's queries there: they fail) and the transaction's modes,
 * which RESET ALL keeps; then SET LOCAL search_path TO pg_catalog, pg_temp,
 * since the default search path there ("$user", public) holds schemas
 * other roles can create in, and the settings that change how the text of
 * a query reads (standard_conforming_strings, DateStyle, ...), whose
 * defaults there a database's owner may set; and it makes the transaction
 * a coordinated one, so that Citus sends them before every query.  Citus
 * sends the whole command a propagated SET LOCAL came in, not the SET: so
 * it refuses to go on when Citus keeps anything the extension did not have
 * it keep, and the library's ProcessUtility hook (CitusSetGuard) refuses
 * any SET that Citus would propagate once it has run in the transaction.
 * Without Citus it does nothing; with a Citus that lacks those functions,
 * it fails.  _citus_lock_timeout() has Citus propagate refresh's
 * lock_timeout the same way.
 *
 * And _shard_moves_lock(), Citus's lock on moving a colocation group's
 * shards, which a refresh that reads the tracked tables takes until it has
 * locked them (sql/60-capture.sql, _hold_citus_moves).
 *
 * And _user_scores_rows(), the rows of user_scores once Citus manages the
 * state.  Citus checks the right to read a distributed table's shards as
 * the role reading, whatever the view, so they are read by the extension's
 * owner, in _user_scores_as(caller oid) (sql/50-state.sql), a SECURITY
 * DEFINER function no role may call; its user attributes are each shown
 * only when the caller may read them in the attribute table, so it needs
 * the caller, which a SECURITY DEFINER function cannot tell (its
 * current_user is the owner; session_user and role are not the caller
 * inside another role's SECURITY DEFINER function).  _user_scores_rows, a
 * plain C function the roles that read user_scores may call, passes it
 * GetUserId(), the role calling, through fmgr, which checks no right to
 * call (the executor does), in its own set-returning context.
 */
#include "postgres.h"

#include <ctype.h>
#include <dlfcn.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "behavior.h"

static bool
CitusWorker(void)
{
	static LocalTransactionId checked = InvalidLocalTransactionId;
	static bool worker = false;
	Oid			catalog;

	if (checked == MyProc->lxid && checked != InvalidLocalTransactionId)
		return worker;
	worker = false;
	catalog = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	if (OidIsValid(catalog))
	{
		Relation	rel = table_open(catalog, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		HeapTuple	tuple = systable_getnext(scan);
		AttrNumber	att = InvalidAttrNumber;

		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped && TupleDescAttr(desc, i)->atttypid == INT4OID
				&& strcmp(NameStr(TupleDescAttr(desc, i)->attname), "groupid") == 0)
				att = i + 1;
		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("segmentation: Citus's catalog pg_dist_local_group has no column groupid of type integer")));
		if (HeapTupleIsValid(tuple))
		{
			bool		isnull;
			Datum		group = heap_getattr(tuple, att, desc, &isnull);

			worker = !isnull && DatumGetInt32(group) != 0;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	checked = MyProc->lxid;
	return worker;
}

/* an error naming what on a Citus worker */
void
RequireCoordinator(const char *what)
{
	if (CitusWorker())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segmentation: %s is kept on the Citus coordinator only", what),
				 errdetail("This node is a Citus worker: its copy of the extension's tables is not the state."),
				 errhint("Call it on the coordinator. A statement over a distributed table must not have Citus run it on the workers.")));
}

PG_FUNCTION_INFO_V1(coordinator_only);
Datum
coordinator_only(PG_FUNCTION_ARGS)
{
	RequireCoordinator(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_BOOL(true);
}

/* Citus 13.2's src/backend/distributed/commands/variableset.c */
typedef void (*PropagateSetFunc) (VariableSetStmt *setStmt, const char *setStmtString);
/* and transaction/transaction_management.c and its header */
typedef void (*CoordinateFunc) (void);
typedef List *(*SubXactsFunc) (void);
typedef bool (*ShouldPropagateFunc) (VariableSetStmt *setStmt);
typedef bool (*InBlockFunc) (void);
typedef struct CitusSubXactContext
{
	SubTransactionId subId;
	StringInfo	setLocalCmds;
	void	   *propagatedObjects;
} CitusSubXactContext;

/* what clean_citus_settings has Citus send, and keep, for each call */
#define PINNED_SETTINGS "SET LOCAL search_path TO pg_catalog, pg_temp;" \
	" SET LOCAL standard_conforming_strings TO on; SET LOCAL backslash_quote TO safe_encoding;" \
	" SET LOCAL array_nulls TO on; SET LOCAL transform_null_equals TO off;" \
	" SET LOCAL DateStyle TO 'ISO, MDY'; SET LOCAL IntervalStyle TO postgres;" \
	" SET LOCAL extra_float_digits TO 1"
/* and citus_lock_timeout, before its value in milliseconds */
#define LOCK_TIMEOUT_SET "SET LOCAL lock_timeout TO "

/* the transaction in which clean_citus_settings last ran */
static LocalTransactionId cleaned_lxid = InvalidLocalTransactionId;
static ProcessUtility_hook_type prev_utility_hook = NULL;

/*
 * Whether text Citus keeps for the workers' connections is only what the
 * extension had it keep (clean_citus_settings' two commands, and
 * citus_lock_timeout's), each piece ended by ';' as Citus appends it: an
 * exact allowlist.  A caller's propagated SET is kept as the text of the
 * whole command it came in, which Citus glues to the others' and sends
 * first to every connection it opens later in the transaction, the
 * owner's included; a check of that text by its grammar was bypassed
 * twice (attack reviews, session 26: a DO block after the SET; pieces of
 * settings only, glued across a savepoint, where a comment hid a line's
 * start), so none is allowed.
 */
static bool
OnlyOurs(const char *text)
{
	const char *p = text;

	if (text == NULL)
		return true;
	while (*p != '\0')
	{
		if (strncmp(p, "RESET ALL;", 10) == 0)
			p += 10;
		else if (strncmp(p, PINNED_SETTINGS ";", strlen(PINNED_SETTINGS) + 1) == 0)
			p += strlen(PINNED_SETTINGS) + 1;
		else if (strncmp(p, LOCK_TIMEOUT_SET, strlen(LOCK_TIMEOUT_SET)) == 0
				 && isdigit((unsigned char) p[strlen(LOCK_TIMEOUT_SET)]))
		{
			p += strlen(LOCK_TIMEOUT_SET);
			while (isdigit((unsigned char) *p))
				p++;
			if (*p++ != ';')
				return false;
		}
		else
			return false;
	}
	return true;
}

/*
 * Citus (citus.propagate_set_commands = local, which any role may set)
 * sends the text of the whole query string a SET LOCAL came in, not the
 * statement's, to every worker connection of the transaction, the
 * extension's owner's opened by a SECURITY DEFINER function included, and
 * keeps it for those it opens later: a DO block after the SET ran there as
 * the superuser (an attack review, session 26).  So once such a function
 * has run in a transaction, no SET that Citus would propagate is allowed
 * in it; clean_citus_settings refuses one that came before (OnlyOurs).
 * The extension's own (clean_citus_settings, citus_lock_timeout) reach
 * Citus directly, not through here.  And Citus opens connections of its
 * own as a superuser in a role's transaction, or beside it, where it sends
 * that text too (a new colocation group of create_distributed_table, a
 * type it makes on the workers first, the drop of a group's last table):
 * a role that owns a schema ran a DO block there as the superuser, no
 * function of the extension called (an attack review, session 27; Citus
 * 13.2's own).  So none is allowed to a role that is not a superuser, in
 * any session this library is loaded in: on Citus, shared_preload_libraries
 * loads it in every one (doc/citus.md).
 */
static void
CitusSetGuard(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	/*
	 * (Citus's own test of whether it sends this SET to the workers, in its
	 * ProcessUtility hook: in a transaction block, a DO block or a
	 * procedure, a SET that propagate_set_commands says, in a database with
	 * Citus)
	 */
	if (IsA(pstmt->utilityStmt, VariableSetStmt) && (cleaned_lxid == MyProc->lxid || !superuser())
		&& GetConfigOption("citus.propagate_set_commands", true, false) != NULL)
	{
		ShouldPropagateFunc propagated = (ShouldPropagateFunc) dlsym(RTLD_DEFAULT, "ShouldPropagateSetCommand");
		InBlockFunc in_block = (InBlockFunc) dlsym(RTLD_DEFAULT, "IsMultiStatementTransaction");

		if (propagated == NULL || in_block == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("segmentation: this Citus lacks what the extension calls to tell which SET commands it propagates"),
					 errhint("segmentation supports Citus 13.2.")));
		if (in_block() && propagated((VariableSetStmt *) pstmt->utilityStmt)
			&& OidIsValid(get_extension_oid("citus", true)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("segmentation: a SET that Citus propagates (citus.propagate_set_commands = local) is allowed only to a superuser, in a transaction that called no function of the extension"),
					 errdetail("Citus would send the whole command it came in to the workers' connections it opens as a superuser in the transaction, the extension owner's and its own."),
					 errhint("Set citus.propagate_set_commands to none, or run the SET in another transaction.")));
	}
	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* installs CitusSetGuard (from _PG_init) */
void
InstallCitusSetGuard(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = CitusSetGuard;
}

/*
 * Citus's PostprocessVariableSetStmt, which sends a SET to the
 * transaction's worker connections and keeps it for those opened later, or
 * NULL when this database has none (Citus, loaded by
 * shared_preload_libraries, defines the setting; a database without the
 * extension citus has no worker connections)
 */
static PropagateSetFunc
CitusPropagate(void)
{
	PropagateSetFunc propagate;

	if (GetConfigOption("citus.propagate_set_commands", true, false) == NULL
		|| !OidIsValid(get_extension_oid("citus", true)))
		return NULL;
	propagate = (PropagateSetFunc) dlsym(RTLD_DEFAULT, "PostprocessVariableSetStmt");
	if (propagate == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("segmentation: this Citus lacks what the extension calls to set the settings of its queries on the workers"),
				 errhint("segmentation supports Citus 13.2.")));
	return propagate;
}

PG_FUNCTION_INFO_V1(clean_citus_settings);
Datum
clean_citus_settings(PG_FUNCTION_ARGS)
{
	PropagateSetFunc propagate = CitusPropagate();
	CoordinateFunc coordinate;
	StringInfo *kept;
	SubXactsFunc subxacts;
	ListCell   *cell;
	bool		ok;
	VariableSetStmt *reset;
	VariableSetStmt *pin;
	const char *analyze;

	if (propagate == NULL)
		PG_RETURN_VOID();

	/*
	 * What makes Citus make an object on every node, which any role may turn
	 * off in its session: the extension's objects of a table Citus
	 * distributes (the capture triggers on its shards, the state's views,
	 * the attribute table) would be made or dropped on the coordinator only,
	 * the shards' events missed without a word or every later refresh
	 * failing (attack reviews, sessions 23 and 27).  (Not on a worker:
	 * there the extension's functions refuse to run, and its event triggers
	 * run under Citus's own DDL, with both off.)
	 */
	if (!CitusWorker())
	{
		static const char *const made_everywhere[] = {"citus.enable_ddl_propagation", "citus.enable_metadata_sync"};

		for (size_t i = 0; i < lengthof(made_everywhere); i++)
		{
			const char *value = GetConfigOption(made_everywhere[i], true, false);

			if (value != NULL && strcmp(value, "off") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("segmentation: %s is off in this session", made_everywhere[i]),
						 errdetail("The extension's objects of a table Citus distributes must be made on every node; they would be made on the coordinator only."),
						 errhint("RESET %s, then call it again.", made_everywhere[i])));
		}
	}

	/*
	 * The settings that change how this node prints a value into the text
	 * Citus sends (a float8[] of RFM breakpoints, an as_of, an interval),
	 * pinned for the calling function and set back when it returns (its SET
	 * clause opened the level), as PinSettings (src/predicate.c) pins them:
	 * a caller's extra_float_digits = -15 rounded refresh's breakpoints and
	 * wrote wrong segments, a DateStyle of DMY had opt_out recount the
	 * analyses as of another day (an attack review, session 27).  The
	 * workers read that text under the settings pinned below.
	 */
	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/*
	 * And auto_explain's log_analyze, off for the calling function: with it
	 * on, auto_explain instruments each statement, and Citus then runs each
	 * distributed one as EXPLAIN ANALYZE on the workers, which it refuses
	 * for an INSERT ... SELECT it repartitions or runs through this node
	 * (every refresh failed), and for which it reads a PL/pgSQL statement's
	 * parameters past their end (ParameterResolutionSubquery: a crash, as
	 * CitusExplainScan's read was, which the functions' own SET of
	 * citus.explain_distributed_queries stops; sql/99-privileges.sql).  A
	 * setting only a superuser may set, set here as one, and only ever off;
	 * auto_explain still logs each statement's plan and duration.
	 */
	analyze = GetConfigOption("auto_explain.log_analyze", true, false);
	if (analyze != NULL && strcmp(analyze, "off") != 0)
		(void) set_config_option("auto_explain.log_analyze", "off", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	coordinate = (CoordinateFunc) dlsym(RTLD_DEFAULT, "UseCoordinatedTransaction");
	kept = (StringInfo *) dlsym(RTLD_DEFAULT, "activeSetStmts");
	subxacts = (SubXactsFunc) dlsym(RTLD_DEFAULT, "ActiveSubXactContexts");
	if (coordinate == NULL || kept == NULL || subxacts == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("segmentation: this Citus lacks what the extension calls to reset the settings of its queries on the workers"),
				 errhint("segmentation supports Citus 13.2.")));

	/*
	 * Nothing Citus keeps for the workers' connections but what the
	 * extension had it keep: a caller's SET LOCAL propagated earlier in the
	 * transaction (citus.propagate_set_commands = local) is kept as the text
	 * of its whole query string, which Citus would send first to the
	 * owner's connections (CitusSetGuard)
	 */
	ok = *kept == NULL || OnlyOurs((*kept)->data);
	foreach(cell, subxacts())
	{
		StringInfo	cmds = ((CitusSubXactContext *) lfirst(cell))->setLocalCmds;

		ok = ok && (cmds == NULL || OnlyOurs(cmds->data));
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("segmentation: a SET that Citus propagates (citus.propagate_set_commands = local) came earlier in this transaction"),
				 errdetail("Citus would send the whole command it came in to the workers' connections of the extension's owner."),
				 errhint("Call the function in another transaction, or set citus.propagate_set_commands to none before such SETs.")));
	cleaned_lxid = MyProc->lxid;

	/*
	 * Citus sends the settings to a worker connection when it begins a
	 * remote transaction block there, in a command before the query's; a
	 * read-only query outside a coordinated transaction runs with none, so
	 * with the connection's defaults (an attack review, session 26: a shard
	 * query of segment_members).  From here the transaction is a
	 * coordinated one: every query of it on a worker runs in a block.
	 */
	coordinate();
	reset = makeNode(VariableSetStmt);
	reset->kind = VAR_RESET_ALL;
	propagate(reset, "RESET ALL");
	/*
	 * and, in one round trip, the search path pinned, as the function's own
	 * SET clause pins it here: a worker's default, "$user", public, lets any
	 * role that may create a schema named like the owner (Citus makes it on
	 * every worker) or create in public put there an overload of a built-in
	 * the shard queries name unqualified (unnest(bigint[]), array_agg(text))
	 * that matches better than pg_catalog's polymorphic one, and have it run
	 * as the owner (an attack review, session 24).  Then the settings that
	 * change how the text Citus sends is read, which RESET ALL sets back to
	 * the database's defaults there, and a database's owner may set those
	 * (ALTER DATABASE ... SET): with standard_conforming_strings off, a
	 * backslash in a string Citus quoted for the coordinator's on ended the
	 * literal, and the rest of a user id given to opt_out ran as the owner
	 * (an attack review, session 26).  Citus also sends the text to the
	 * connections it opens later in the transaction.
	 */
	pin = makeNode(VariableSetStmt);
	pin->kind = VAR_SET_VALUE;
	pin->name = "search_path";
	pin->is_local = true;
	propagate(pin, PINNED_SETTINGS);
	PG_RETURN_VOID();
}

/*
 * _citus_lock_timeout(wait): lock_timeout for the transaction, here and on
 * the Citus workers it uses (Citus takes locks there over its own
 * connections, where one set here does not reach: review 29, R29-1), sent
 * and kept by Citus as a SET LOCAL it propagates, in the exact text that
 * OnlyOurs allows.
 */
PG_FUNCTION_INFO_V1(citus_lock_timeout);
Datum
citus_lock_timeout(PG_FUNCTION_ARGS)
{
	PropagateSetFunc propagate = CitusPropagate();
	VariableSetStmt *set;

	(void) set_config_option("lock_timeout", text_to_cstring(PG_GETARG_TEXT_PP(0)), PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	if (propagate != NULL)
	{
		set = makeNode(VariableSetStmt);
		set->kind = VAR_SET_VALUE;
		set->name = "lock_timeout";
		set->is_local = true;
		propagate(set, psprintf(LOCK_TIMEOUT_SET "%d", LockTimeout));
	}
	PG_RETURN_VOID();
}

/*
 * _shard_moves_lock(colocation_id, hold, wait): takes (hold) or gives back
 * Citus's lock on moving the shards of one colocation group, in SHARE mode,
 * for the transaction.  citus_move_shard_placement and citus_copy take it
 * ROW EXCLUSIVE, splits EXCLUSIVE, both with NOWAIT, for their whole
 * transaction (AcquirePlacementColocationLock, Citus 13.2: an advisory lock
 * of this database, the colocation id in its key, field 4 the class 13 that
 * Citus's resource_lock.h names ADV_LOCKTAG_CLASS_CITUS_REBALANCE_PLACEMENT_
 * COLOCATION); creating a colocated table takes it SHARE too.  So while
 * refresh holds it a move or split of the group fails at once, and refresh
 * waits (lock_timeout at most; wait false: not at all) for one running.
 * True when held (hold) or given back; false when not free (wait false) or
 * not held (hold false).  Given back only at the (sub)transaction level that
 * took it (LockRelease looks for the current resource owner's): elsewhere it
 * stays held until the transaction ends, and moves fail, not deadlock.
 * While it waits, moves of the group also fail (their request would pass
 * the one queued).
 * Not a lock any SQL function takes: pg_advisory_lock's field 4 is 1 or 2.
 */
#define CITUS_PLACEMENT_COLOCATION_LOCK_CLASS 13

PG_FUNCTION_INFO_V1(shard_moves_lock);
Datum
shard_moves_lock(PG_FUNCTION_ARGS)
{
	int32		colocation = PG_GETARG_INT32(0);
	bool		hold = PG_GETARG_BOOL(1);
	bool		wait = PG_GETARG_BOOL(2);
	LOCKTAG		tag;

	if (colocation <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"colocation_id\" must be a Citus colocation id (greater than 0), not %d", colocation)));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) colocation, CITUS_PLACEMENT_COLOCATION_LOCK_CLASS);
	if (!hold)
	{
#if PG_VERSION_NUM >= 170000
		bool		held = LockHeldByMe(&tag, ShareLock, false);
#else
		bool		held = LockHeldByMe(&tag, ShareLock);
#endif

		PG_RETURN_BOOL(held && LockRelease(&tag, ShareLock, false));
	}
	PG_RETURN_BOOL(LockAcquire(&tag, ShareLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL);
}

/* a function's owner and whether it is SECURITY DEFINER */
static Oid
FunctionOwner(Oid fn, bool *secdef)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	*secdef = ((Form_pg_proc) GETSTRUCT(tup))->prosecdef;
	ReleaseSysCache(tup);
	return owner;
}

PG_FUNCTION_INFO_V1(user_scores_rows);
Datum
user_scores_rows(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	Oid			argtypes[1] = {OIDOID};
	Oid			target;
	bool		secdef;
	bool		mine;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(inner, 1);
	Datum		result;

	target = LookupFuncName(list_make2(makeString("segmentation"), makeString("_user_scores_as")),
							1, argtypes, true);
	/* (only the extension's owner creates in its schema: checked anyway) */
	if (!OidIsValid(target) ||
		FunctionOwner(target, &secdef) != FunctionOwner(fcinfo->flinfo->fn_oid, &mine) || !secdef)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segmentation._user_scores_as(oid) is missing or not the extension's"),
				 errhint("Define a segment, or drop one, to rebuild user_scores.")));
	fmgr_info(target, &flinfo);
	InitFunctionCallInfoData(*inner, &flinfo, 1, InvalidOid, fcinfo->context, fcinfo->resultinfo);
	inner->args[0].value = ObjectIdGetDatum(caller);
	inner->args[0].isnull = false;
	result = FunctionCallInvoke(inner);
	fcinfo->isnull = inner->isnull;
	return result;
}
