/*
 * predicate.c
 *		Checking a segment predicate before it is stored.
 *
 * A predicate is written by whoever may define segments and evaluated later
 * by whoever runs refresh (often a superuser, through pg_cron).  So it is
 * parsed by PostgreSQL's own parser as the single expression of
 * "SELECT (<predicate>) FROM <scores table>", analyzed, and walked: only
 * columns of that table, constants, operators, boolean logic, CASE, NULL
 * tests and calls of immutable functions that live in pg_catalog or in the
 * extension's schema may appear.  Anything else (a subquery, an aggregate, a
 * volatile function, a function of some other schema, which its owner could
 * have declared immutable while it writes) is refused, naming the part.
 *
 * What is stored is the analyzed expression deparsed with the search_path
 * of the caller (refresh evaluates it with the same pinned search_path), so
 * the text that runs is the text that was checked.
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"

static void pg_attribute_noreturn()
Refuse(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("segment predicate not allowed: %s", what),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("A predicate is a boolean expression over the columns of segmentation.scores, "
					 "using constants, operators, AND/OR/NOT, CASE and immutable built-in functions.")));
}

/* a function the predicate may call: immutable, in pg_catalog or our schema */
static bool
FunctionRefused(Oid funcid, void *context)
{
	Oid			ours = *(Oid *) context;
	Oid			nsp = get_func_namespace(funcid);

	if (func_volatile(funcid) != PROVOLATILE_IMMUTABLE)
		Refuse(psprintf("function %s is not immutable", format_procedure(funcid)),
			   "Segments must not depend on when or by whom refresh runs.");
	if (nsp != PG_CATALOG_NAMESPACE && nsp != ours)
		Refuse(psprintf("function %s is not a built-in or segmentation function", format_procedure(funcid)),
			   "Only functions of pg_catalog and of the segmentation schema can run inside refresh.");
	return false;
}

static bool
CheckNode(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varlevelsup != 0 || ((Var *) node)->varno != 1)
				Refuse("outer reference", NULL);
			break;
		case T_Const:
		case T_List:
		case T_BoolExpr:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_RelabelType:
		case T_ArrayExpr:
		case T_FuncExpr:
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_ScalarArrayOpExpr:
			break;
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;

				/* casts through text run the types' I/O functions: built-in types only */
				if (get_typ_typrelid(c->resulttype) != InvalidOid ||
					get_typ_typrelid(exprType((Node *) c->arg)) != InvalidOid ||
					c->resulttype >= FirstNormalObjectId ||
					exprType((Node *) c->arg) >= FirstNormalObjectId)
					Refuse("cast between non-built-in types", NULL);
				break;
			}
		case T_SubLink:
			Refuse("subquery", NULL);
		case T_Aggref:
			Refuse("aggregate function", NULL);
		case T_WindowFunc:
			Refuse("window function", NULL);
		case T_Param:
			Refuse("parameter", NULL);
		default:
			Refuse(psprintf("expression of kind %d", (int) nodeTag(node)),
				   "Only columns, constants, operators, boolean logic, CASE and immutable functions are allowed.");
	}
	check_functions_in_node(node, FunctionRefused, context);
	return expression_tree_walker(node, CheckNode, context);
}

/* Point parse errors into the predicate, not into the caller's statement */
typedef struct PredicateSource
{
	const char *predicate;
	int			offset;			/* where the predicate starts in the parsed text */
} PredicateSource;

static void
PredicateErrorContext(void *arg)
{
	PredicateSource *src = (PredicateSource *) arg;
	int			pos = geterrposition();

	if (pos > src->offset)
	{
		errposition(0);
		internalerrposition(pos - src->offset);
		internalerrquery(src->predicate);
	}
	errcontext("segment predicate");
}

/*
 * check_predicate(predicate, scores regclass, ours regnamespace): the checked
 * predicate, deparsed; an error naming the problem otherwise.
 */
PG_FUNCTION_INFO_V1(check_predicate);
Datum
check_predicate(PG_FUNCTION_ARGS)
{
	char	   *predicate = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			relid = PG_GETARG_OID(1);
	Oid			ours = PG_GETARG_OID(2);
	char	   *relname = get_rel_name(relid);
	char	   *sql;
	List	   *raw;
	RawStmt    *stmt;
	SelectStmt *select;
	Query	   *query;
	TargetEntry *tle;
	Node	   *expr;
	PredicateSource source;
	ErrorContextCallback errcallback;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (strchr(predicate, ';') != NULL || strstr(predicate, "--") != NULL ||
		strstr(predicate, "/*") != NULL)
		Refuse("statement separators and comments", "Write one expression, without ';' or comments.");

	sql = psprintf("SELECT (%s) FROM %s.%s", predicate,
				   quote_identifier(get_namespace_name(get_rel_namespace(relid))),
				   quote_identifier(relname));
	source.predicate = predicate;
	source.offset = strlen("SELECT (");
	errcallback.callback = PredicateErrorContext;
	errcallback.arg = &source;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1 || !IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
		Refuse("several statements", NULL);
	stmt = linitial_node(RawStmt, raw);
	select = (SelectStmt *) stmt->stmt;
	if (list_length(select->targetList) != 1 || list_length(select->fromClause) != 1 ||
		select->whereClause || select->groupClause || select->havingClause ||
		select->windowClause || select->sortClause || select->limitCount ||
		select->limitOffset || select->withClause || select->distinctClause ||
		select->lockingClause || select->intoClause || select->op != SETOP_NONE ||
		((ResTarget *) linitial(select->targetList))->name != NULL)
		Refuse("not a single expression", "The predicate must be one expression, e.g. recency_days > 30 AND frequency >= 5.");

	query = parse_analyze_fixedparams(stmt, sql, NULL, 0, NULL);
	error_context_stack = errcallback.previous;
	if (query->commandType != CMD_SELECT || list_length(query->rtable) != 1 ||
		query->jointree->quals != NULL || list_length(query->targetList) != 1 ||
		query->cteList != NIL)
		Refuse("not a single expression", NULL);
	if (query->hasSubLinks)
		Refuse("subquery", NULL);
	if (query->hasAggs)
		Refuse("aggregate function", NULL);
	if (query->hasWindowFuncs)
		Refuse("window function", NULL);
	if (query->hasTargetSRFs)
		Refuse("set-returning function", NULL);

	tle = linitial_node(TargetEntry, query->targetList);
	expr = (Node *) tle->expr;
	if (exprType(expr) != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("segment predicate must be boolean, not %s", format_type_be(exprType(expr))),
				 errhint("Compare something, e.g. frequency >= 5.")));
	CheckNode(expr, &ours);

	PG_RETURN_TEXT_P(cstring_to_text(deparse_expression(expr,
														deparse_context_for(relname, relid),
														false, false)));
}
