/*
 * predicate.c
 *		Checking a segment predicate before it is stored, and evaluating the
 *		segment rules of every scheme for one user during a refresh.
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
 *
 * refresh evaluates a scheme's rule (CASE WHEN <predicate> THEN <segment>
 * ... END, built from the checked predicates) for every user with
 * _assign_segments: the rule is parsed and checked the same way once per
 * query, compiled by the executor, and run on the scores that ScoresCompute
 * puts straight into a slot.  That is PostgreSQL's own evaluation of the same
 * expression, without building a scores record per user and taking it apart
 * again field by field.
 *
 * Besides the scores, a predicate may use the rule vocabulary:
 * events_in('login', '7 days'), days_in, value_in, first_use, last_use,
 * days_since and periods_with, each naming a feature by its name (or '*').
 * Every argument is a constant, checked and resolved when the rules are
 * compiled (the feature to its id); each call becomes a parameter of the
 * compiled rule that is computed from the user's behavior and as_of, by the
 * C accessors, when the rule first reads it for that user.
 *
 * Nested segments: in_segment('scheme', 'segment') is true when the rules of
 * that scheme put the user in that segment in the same refresh
 * ('unsegmented': in none of them).  It is the extension's function, by its
 * OID (looked up in the extension's schema, and a member of the extension),
 * never a name found through the search_path; both arguments are text
 * constants.  When the rules are compiled each call becomes a parameter
 * read from the segment the named scheme's rule gave the same user, and
 * the schemes' rules run in dependency order (a scheme after those it
 * reads); a cycle is an error (define_segment refuses it first).  A user
 * evaluated is evaluated in every scheme, and one skipped (pruning, below)
 * is skipped in every scheme, so what in_segment reads is always this
 * refresh's: pruning reasons on every rule's inputs together, and a rule
 * that reads another scheme's segment gives what it gave when that
 * segment and its own inputs are what they were.
 *
 * Pruning.  An incremental refresh need not run the rules of a user whose
 * behavior it did not change, when it can prove they give what they gave at
 * the last refresh (whose segments the user holds).  What such a user's
 * scores and vocabulary values depend on besides the behavior:
 *   - the instant as_of: recency_days, tenure_days and days_since(feature).
 *     Rules read them only in "atoms", comparisons with a constant, which
 *     are evaluated at both as_of (a rule that reads them otherwise is not
 *     pruned);
 *   - the breakpoints: r_score, f_score, m_score (rfm_cell), compared;
 *   - the UTC day of as_of: the windows (active_days_7, _28, _prev_28,
 *     current_streak, the vocabulary's windowed values and periods_with),
 *     and decayed_activity.  On the same UTC day they are what they were.
 *     On a later day, a window of N days (a span of N days ending on the
 *     day, or 2 for current_streak, 56 for active_days_prev_28, period x
 *     periods for periods_with) holds no event of a user whose last event
 *     is at least N days before the last refresh's day, then and now: such a
 *     user's windows are all empty both times, and the rules give the same
 *     (unless they read decayed_activity, which changes every day).
 * Everything else (counts and sums over all events, first/last use, the
 * features used) is a function of the behavior alone.
 */
#include "postgres.h"

#include "access/transam.h"
#include "behavior.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

/* a predicate longer than this is refused (each is parsed at every refresh) */
#define PREDICATE_MAX_LENGTH 10000

/*
 * Set while a feature's event condition is checked (check_condition): the
 * same checker over the columns of a tracked source, without the rule
 * vocabulary, whose errors say so
 */
static bool checking_condition = false;

static void pg_attribute_noreturn()
Refuse(const char *what, const char *detail)
{
	if (checking_condition)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature condition not allowed: %s", what),
				 detail ? errdetail("%s", detail) : 0,
				 errhint("A condition is a filter of comparisons over the columns of the tracked tables: a column "
						 "compared with a constant (=, <>, <, <=, >, >=, BETWEEN, IN (constants), LIKE or ILIKE "
						 "with a constant pattern, IS [NOT] NULL, IS [NOT] DISTINCT FROM), with AND, OR, NOT, "
						 "CASE, COALESCE and lower, upper, length, char_length, btrim, ltrim, rtrim "
						 "(doc/pipeline.md).")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("segment predicate not allowed: %s", what),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("A predicate is a boolean expression over the columns of segmentation.scores, using "
					 "constants and casts of built-in types, comparisons, arithmetic, AND/OR/NOT, CASE, "
					 "IN, LIKE, COALESCE, GREATEST/LEAST and a few cheap built-in functions (doc/security.md lists them).")));
}

/*
 * The allowlist.  Refresh evaluates predicates with the rights of whoever
 * runs it (often a superuser), once per user, so a predicate may only use
 * what is built in, cannot be redefined by anyone, and costs little: values of
 * the types below, the operators below on those types, casts between them,
 * and the functions named below; on numeric, whose values can be huge (1e100000
 * is eight characters), only what is linear in their size.  Everything else
 * is refused, whatever it is.
 */
static bool
AllowedType(Oid type)
{
	switch (type)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
		case INTERVALOID:
		case NUMERICOID:
		case BOOLARRAYOID:
		case INT4ARRAYOID:
		case INT8ARRAYOID:
		case FLOAT8ARRAYOID:
		case TEXTARRAYOID:
			return true;
		default:
			return false;
	}
}

/* operators by name: comparisons, arithmetic, concatenation, LIKE, arrays */
static const char *const allowed_operators[] = {
	"=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "||",
	"~~", "!~~", "~~*", "!~~*", NULL
};

/*
 * functions by their exact entries of pg_catalog (a name would also admit
 * its overloads: substring(text, text) is a regular expression), each linear
 * in its arguments: no repeat, lpad, replace, regular expressions, numeric
 * division or powers, nor the trims of a set of characters (btrim(s, chars)
 * compares every character with every one of the set)
 */
static const Oid allowed_functions[] = {
	F_ABS_FLOAT4, F_ABS_FLOAT8, F_ABS_INT8, F_ABS_INT4, F_ABS_INT2, F_ABS_NUMERIC,
	F_ROUND_FLOAT8, F_ROUND_NUMERIC_INT4, F_ROUND_NUMERIC, F_TRUNC_FLOAT8, F_TRUNC_NUMERIC_INT4, F_TRUNC_NUMERIC,
	F_FLOOR_NUMERIC, F_FLOOR_FLOAT8, F_CEIL_NUMERIC, F_CEIL_FLOAT8, F_CEILING_NUMERIC, F_CEILING_FLOAT8,
	F_SIGN_NUMERIC, F_SIGN_FLOAT8, F_SQRT_FLOAT8, F_CBRT, F_EXP_FLOAT8, F_LN_FLOAT8, F_LOG_FLOAT8,
	F_LOG10_FLOAT8, F_POWER_FLOAT8_FLOAT8, F_POW_FLOAT8_FLOAT8, F_MOD_INT2_INT2, F_MOD_INT4_INT4, F_MOD_INT8_INT8,
	F_LOWER_TEXT, F_UPPER_TEXT, F_LENGTH_TEXT, F_LENGTH_BPCHAR, F_CHAR_LENGTH_BPCHAR, F_CHAR_LENGTH_TEXT,
	F_CHARACTER_LENGTH_BPCHAR, F_CHARACTER_LENGTH_TEXT, F_OCTET_LENGTH_TEXT, F_OCTET_LENGTH_BPCHAR,
	F_BTRIM_TEXT, F_LTRIM_TEXT, F_RTRIM_TEXT,
	F_SUBSTR_TEXT_INT4_INT4, F_SUBSTR_TEXT_INT4, F_SUBSTRING_TEXT_INT4_INT4, F_SUBSTRING_TEXT_INT4,
	F_LEFT, F_RIGHT, F_STRPOS, F_STARTS_WITH,
	F_ARRAY_LENGTH, F_CARDINALITY, F_ARRAY_POSITION_ANYCOMPATIBLEARRAY_ANYCOMPATIBLE,
	F_DATE_PART_TEXT_INTERVAL, F_DATE_PART_TEXT_DATE, F_DATE_PART_TEXT_TIMESTAMP,
	F_ISFINITE_DATE, F_ISFINITE_TIMESTAMPTZ, F_ISFINITE_INTERVAL, F_ISFINITE_TIMESTAMP
};

/*
 * LIKE and strpos compare a string with a pattern in time up to the product
 * of their lengths: the pattern must be a constant this short.  And what
 * could make a long string out of a short predicate is bounded too: numeric
 * constants (1e20000 prints 20,001 digits) and the scale of round and trunc.
 */
#define LIKE_PATTERN_MAX 100
#define NUMERIC_CONST_MAX 100
#define NUMERIC_SCALE_MAX 100

static bool
IsLikeOperator(Oid opno)
{
	char	   *name = get_opname(opno);

	return name != NULL && (strcmp(name, "~~") == 0 || strcmp(name, "!~~") == 0 ||
							strcmp(name, "~~*") == 0 || strcmp(name, "!~~*") == 0);
}

static void
CheckLikePattern(Node *pattern, const char *what)
{
	Const	   *c = (Const *) strip_implicit_coercions(pattern);

	if (!IsA(c, Const) || c->constisnull || c->consttype != TEXTOID ||
		VARSIZE_ANY_EXHDR(DatumGetPointer(c->constvalue)) > LIKE_PATTERN_MAX)
		Refuse(psprintf("%s must be a text constant of at most %d bytes", what, LIKE_PATTERN_MAX),
			   "It costs the product of the lengths of the string and the pattern, for every user at every refresh.");
}

/* the scale of round(numeric, int) and trunc(numeric, int) */
static void
CheckScale(Node *scale)
{
	Const	   *c = (Const *) strip_implicit_coercions(scale);

	if (!IsA(c, Const) || c->constisnull || c->consttype != INT4OID ||
		DatumGetInt32(c->constvalue) > NUMERIC_SCALE_MAX || DatumGetInt32(c->constvalue) < -NUMERIC_SCALE_MAX)
		Refuse(psprintf("the scale of round or trunc must be an integer constant from -%d to %d",
						NUMERIC_SCALE_MAX, NUMERIC_SCALE_MAX), NULL);
}

/* on numeric, whose values can be huge, only what is linear in their size */
static const char *const numeric_operators[] = {"=", "<>", "<", "<=", ">", ">=", "+", "-", NULL};

/*
 * Declared argument types an operator of the list may have: the types of the
 * actual arguments are checked node by node (arrays: ||, =, <>; not @>, <@
 * or &&, which compare every element with every other)
 */
static bool
AllowedOperandType(Oid type)
{
	return AllowedType(type) || type == ANYARRAYOID || type == ANYELEMENTOID ||
		type == ANYCOMPATIBLEARRAYOID || type == ANYCOMPATIBLEOID || type == ANYNONARRAYOID;
}

static bool
InList(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* a cast function between allowed types */
static bool
IsAllowedCast(Oid funcid, Oid source, Oid target)
{
	HeapTuple	tup;
	bool		found;

	if (!AllowedType(target) || !AllowedType(source))
		return false;
	tup = SearchSysCache2(CASTSOURCETARGET, ObjectIdGetDatum(source), ObjectIdGetDatum(target));
	if (!HeapTupleIsValid(tup))
		return false;
	found = ((Form_pg_cast) GETSTRUCT(tup))->castfunc == funcid;
	ReleaseSysCache(tup);
	return found;
}

/*
 * Whether a predicate may call funcid (for operator opno, if valid): an
 * immutable function of pg_catalog, and an operator of the list on allowed
 * types, a cast, or a function of the list on allowed types; or our
 * quantile_score.
 */
static void
CheckFunction(Oid funcid, Oid opno, Oid ours)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	bool		ok,
				numeric;
	int			i;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->provolatile != PROVOLATILE_IMMUTABLE)
		Refuse(psprintf("function %s is not immutable", format_procedure(funcid)),
			   "Segments must not depend on when or by whom refresh runs.");
	if (proc->pronamespace == ours && !OidIsValid(opno) &&
		strcmp(NameStr(proc->proname), "quantile_score") == 0)
	{
		ReleaseSysCache(tup);
		return;
	}
	if (proc->pronamespace != PG_CATALOG_NAMESPACE)
		Refuse(psprintf("function %s is not a built-in function", format_procedure(funcid)),
			   "Only built-in functions can run inside refresh.");

	numeric = proc->prorettype == NUMERICOID;
	for (i = 0; i < proc->pronargs; i++)
		numeric |= proc->proargtypes.values[i] == NUMERICOID;
	ok = !proc->proretset && proc->prokind == PROKIND_FUNCTION;
	if (OidIsValid(opno))
	{
		char	   *oprname = get_opname(opno);

		ok = ok && oprname != NULL && InList(oprname, numeric ? numeric_operators : allowed_operators) &&
			AllowedOperandType(proc->prorettype);
		for (i = 0; ok && i < proc->pronargs; i++)
			ok = AllowedOperandType(proc->proargtypes.values[i]);
	}
	else if (proc->pronargs == 1 && IsAllowedCast(funcid, proc->proargtypes.values[0], proc->prorettype))
		;						/* a cast between allowed types */
	else
	{
		bool		listed = false;

		for (i = 0; i < (int) lengthof(allowed_functions) && !listed; i++)
			listed = allowed_functions[i] == funcid;
		ok = ok && listed;
	}
	if (!ok)
		Refuse(psprintf("%s %s is not on the list of allowed built-ins",
						OidIsValid(opno) ? "operator" : "function",
						OidIsValid(opno) ? format_operator(opno) : format_procedure(funcid)),
			   "Predicates run once per user at every refresh, with the rights of whoever runs it: "
			   "only cheap built-in operators and functions on built-in types are allowed.");
	ReleaseSysCache(tup);
}

typedef struct CheckContext
{
	Oid			ours;			/* the extension's schema */
	const char *ours_name;
	/* the defined features: names[i] names feature id i (NULL: no such id) */
	int			nnames;
	Datum	   *names;
	bool	   *name_nulls;
	int			nfeatures;		/* how many are defined */
	double		features_len;	/* the most features_used can take: all of them */
	Oid			in_segment;		/* the extension's in_segment(text, text), or InvalidOid */
	Oid			condition_rel;	/* checking a feature's condition over this table, or InvalidOid */
} CheckContext;

/* ---------- the rule vocabulary: per-feature behavior inside predicates ---------- */

/*
 * events_in('login', '7 days') and the like: functions of the extension's
 * schema whose first argument is a feature's name (text), not a behavior.
 * They exist so that a predicate parses and an analyst can read their
 * COMMENTs; called anywhere else they raise an error (rule_vocabulary).
 * In a predicate every argument must be a constant: the feature a name of
 * the features table (or '*': any event), a window or period a whole number
 * of days, bounded, so that what a rule costs per user is bounded.  When the
 * rules are compiled each call becomes a parameter that _assign_segments
 * computes from the user's behavior and the refresh's as_of with the C
 * accessor of the same name, the feature resolved to its id once.
 */
typedef enum VocabKind
{
	VOCAB_EVENTS_IN,
	VOCAB_DAYS_IN,
	VOCAB_VALUE_IN,
	VOCAB_FIRST_USE,
	VOCAB_LAST_USE,
	VOCAB_DAYS_SINCE,
	VOCAB_PERIODS_WITH,
	VOCAB_IN_SEGMENT			/* in_segment(scheme, segment): not a feature's */
} VocabKind;

/* indexed by VocabKind, but for VOCAB_IN_SEGMENT */
static const char *const vocabulary[] = {
	"events_in", "days_in", "value_in", "first_use", "last_use", "days_since", "periods_with", NULL
};

/* a window or period of at most 100 years of days; at most 1000 periods */
#define VOCAB_DAYS_MAX 36525
#define VOCAB_PERIODS_MAX 1000

/* one call of the vocabulary, its constants resolved */
typedef struct VocabCall
{
	VocabKind	kind;
	int32		feature;		/* a feature id, or BEHAVIOR_ANY_FEATURE */
	int32		window;			/* days (periods_with: of a period); 0: every event */
	int32		min_events;		/* periods_with */
	int32		periods;		/* periods_with */
	int			scheme;			/* in_segment: the scheme's index in the rules */
	char	   *segment;		/* in_segment: the segment's name */
	Oid			type;			/* the result type */
	/* the value for the user (and as_of) of generation gen */
	uint64		gen;
	Datum		value;
	bool		isnull;
} VocabCall;

static int
VocabKindOf(const char *name)
{
	int			i;

	for (i = 0; vocabulary[i]; i++)
		if (strcmp(name, vocabulary[i]) == 0)
			return i;
	return -1;
}

/* whether funcid is one of the vocabulary's predicate forms (into *kind) */
static bool
IsVocabulary(Oid funcid, Oid ours, VocabKind *kind)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	int			k = -1;

	if (!OidIsValid(ours))
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronamespace == ours && proc->pronargs >= 1 && proc->proargtypes.values[0] == TEXTOID &&
		proc->prokind == PROKIND_FUNCTION && !proc->proretset)
		k = VocabKindOf(NameStr(proc->proname));
	ReleaseSysCache(tup);
	if (k < 0)
		return false;
	*kind = (VocabKind) k;
	return true;
}

static void pg_attribute_noreturn()
RefuseArgument(const char *function, const char *argument, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("segment predicate not allowed: argument \"%s\" of %s must be %s", argument, function, what),
			 errhint("Write the feature as its name in quotes and windows as whole days, e.g. "
					 "events_in('login', '7 days') >= 3 or periods_with('login', 3, '7 days', 5) >= 3.")));
}

/* argument i of a vocabulary call, a non-NULL constant of type type */
static Const *
VocabConst(FuncExpr *f, const char *function, int i, Oid type, const char *argument, const char *what)
{
	Node	   *arg = (Node *) list_nth(f->args, i);

	if (!IsA(arg, Const) || ((Const *) arg)->consttype != type || ((Const *) arg)->constisnull)
		RefuseArgument(function, argument, what);
	return (Const *) arg;
}

/* a window or period: a constant interval of 1 to VOCAB_DAYS_MAX whole days */
static int32
VocabDays(FuncExpr *f, const char *function, int i, const char *argument)
{
	const char *what = psprintf("a constant interval of whole days, from 1 to %d (e.g. '7 days')", VOCAB_DAYS_MAX);
	Interval   *iv = DatumGetIntervalP(VocabConst(f, function, i, INTERVALOID, argument, what)->constvalue);
	int64		n;

	if (iv->month != 0 || iv->time % USECS_PER_DAY != 0)
		RefuseArgument(function, argument, what);
	n = (int64) iv->day + iv->time / USECS_PER_DAY;
	if (n < 1 || n > VOCAB_DAYS_MAX)
		RefuseArgument(function, argument, what);
	return (int32) n;
}

/*
 * Check a call of the vocabulary and resolve its constants into *call: the
 * feature's name to its id in the names the context holds.
 */
static void
CheckVocabularyCall(FuncExpr *f, VocabKind kind, const CheckContext *cx, VocabCall *call)
{
	int			nargs = list_length(f->args);
	bool		windowed = kind == VOCAB_EVENTS_IN || kind == VOCAB_DAYS_IN || kind == VOCAB_VALUE_IN;
	const char *fn = vocabulary[kind];
	char	   *name;
	int			i;

	if (f->funcvariadic || nargs < 1 || nargs > 4 || (windowed && nargs > 2) ||
		(kind == VOCAB_PERIODS_WITH && nargs != 4) ||
		((kind == VOCAB_FIRST_USE || kind == VOCAB_LAST_USE || kind == VOCAB_DAYS_SINCE) && nargs != 1))
		elog(ERROR, "unexpected call of %s with %d arguments", vocabulary[kind], nargs);
	memset(call, 0, sizeof(VocabCall));
	call->kind = kind;
	call->type = f->funcresulttype;
	name = TextDatumGetCString(VocabConst(f, fn, 0, TEXTOID, "feature",
										  "a feature's name as a text constant, or '*' for any event")->constvalue);
	call->feature = -2;
	if (strcmp(name, "*") == 0)
		call->feature = BEHAVIOR_ANY_FEATURE;
	/* (compared where they are: a copy of every name for every call added up, review ten) */
	for (i = 0; i < cx->nnames && call->feature == -2; i++)
	{
		text	   *t = (text *) DatumGetPointer(cx->names[i]);

		if (!cx->name_nulls[i] && !VARATT_IS_EXTERNAL(t) && !VARATT_IS_COMPRESSED(t) && VARSIZE_ANY_EXHDR(t) == strlen(name) &&
			memcmp(VARDATA_ANY(t), name, VARSIZE_ANY_EXHDR(t)) == 0)
			call->feature = i;
	}
	if (call->feature == -2)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment predicate names an unknown feature \"%s\" (in %s)", name, vocabulary[kind]),
				 errhint("Name a feature of segmentation.features (define it with segmentation.define_feature()), "
						 "or '*' for any event.")));
	if (windowed && nargs == 2)
		call->window = VocabDays(f, fn, 1, "window");
	if (kind == VOCAB_PERIODS_WITH)
	{
		call->min_events = DatumGetInt32(VocabConst(f, fn, 1, INT4OID, "min_events",
													"a constant integer, at least 0")->constvalue);
		if (call->min_events < 0)
			RefuseArgument(fn, "min_events", "a constant integer, at least 0");
		call->window = VocabDays(f, fn, 2, "period");
		call->periods = DatumGetInt32(VocabConst(f, fn, 3, INT4OID, "periods",
												 psprintf("a constant integer from 1 to %d", VOCAB_PERIODS_MAX))->constvalue);
		if (call->periods < 1 || call->periods > VOCAB_PERIODS_MAX)
			RefuseArgument(fn, "periods", psprintf("a constant integer from 1 to %d", VOCAB_PERIODS_MAX));
	}
}

/* ---------- nested segments: in_segment(scheme, segment) ---------- */

#define IN_SEGMENT_NAME "in_segment"

static void pg_attribute_noreturn()
RefuseInSegment(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("segment predicate not allowed: in_segment takes two text constants, a scheme's name and a segment's"),
			 errdetail("%s", detail),
			 errhint("Write e.g. in_segment('lifecycle', 'engaged'); in_segment('lifecycle', 'unsegmented') is true "
					 "for the users in no segment of that scheme.")));
}

/*
 * The extension's in_segment(text, text): looked up in the extension's schema
 * (never through the search_path), and only if it is a member of the
 * extension that self (the C function running) belongs to; InvalidOid
 * otherwise, and then no call of it passes the checks.
 */
static Oid
InSegmentFunction(Oid ours, Oid self)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	HeapTuple	tup;
	Oid			fn,
				ext;

	tup = SearchSysCache3(PROCNAMEARGSNSP, CStringGetDatum(IN_SEGMENT_NAME),
						  PointerGetDatum(buildoidvector(argtypes, 2)), ObjectIdGetDatum(ours));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	fn = ((Form_pg_proc) GETSTRUCT(tup))->oid;
	ReleaseSysCache(tup);
	ext = getExtensionOfObject(ProcedureRelationId, self);
	if (!OidIsValid(ext) || getExtensionOfObject(ProcedureRelationId, fn) != ext)
		return InvalidOid;
	return fn;
}

/* a name of in_segment before parsing: unqualified, or the extension's schema's */
static bool
IsInSegmentName(List *names, const char *ours_name)
{
	int			n = list_length(names);

	return (n == 1 && strcmp(strVal(linitial(names)), IN_SEGMENT_NAME) == 0) ||
		(n == 2 && strcmp(strVal(linitial(names)), ours_name) == 0 &&
		 strcmp(strVal(lsecond(names)), IN_SEGMENT_NAME) == 0);
}

/*
 * A call of in_segment before parsing: two arguments, each a string literal
 * (cast or not: the stored form is 'lifecycle'::text), no names, no
 * VARIADIC; what they are after parsing is checked by InSegmentArgs
 */
static void
CheckInSegmentRaw(FuncCall *f)
{
	ListCell   *lc;
	int			i = 0;

	if (list_length(f->args) != 2)
		RefuseInSegment(psprintf("It was called with %d argument%s.", list_length(f->args), list_length(f->args) == 1 ? "" : "s"));
	foreach(lc, f->args)
	{
		Node	   *arg = lfirst(lc);

		i++;
		if (IsA(arg, TypeCast))
			arg = ((TypeCast *) arg)->arg;
		if (!IsA(arg, A_Const) || ((A_Const *) arg)->isnull || !IsA(&((A_Const *) arg)->val, String))
			RefuseInSegment(psprintf("Argument %d is not a quoted name.", i));
	}
}

/* the scheme and segment of a parsed call of in_segment: non-NULL text constants */
static void
InSegmentArgs(FuncExpr *f, char **scheme, char **segment)
{
	Const	   *a,
			   *b;

	if (list_length(f->args) != 2 || f->funcvariadic)
		RefuseInSegment(psprintf("It was called with %d argument%s.", list_length(f->args), list_length(f->args) == 1 ? "" : "s"));
	a = (Const *) linitial(f->args);
	b = (Const *) lsecond(f->args);
	if (!IsA(a, Const) || a->consttype != TEXTOID || a->constisnull)
		RefuseInSegment("Argument 1 is not a text constant.");
	if (!IsA(b, Const) || b->consttype != TEXTOID || b->constisnull)
		RefuseInSegment("Argument 2 is not a text constant.");
	*scheme = TextDatumGetCString(a->constvalue);
	*segment = TextDatumGetCString(b->constvalue);
}

/* the analyzed expression: allowed nodes, types, operators and functions only */
static bool
CheckNode(Node *node, void *context)
{
	CheckContext *cx = (CheckContext *) context;

	if (node == NULL)
		return false;
	if (IsA(node, List) || IsA(node, CaseWhen))
		return expression_tree_walker(node, CheckNode, context);
	/* every value of the expression is of an allowed type */
	if (!AllowedType(exprType(node)))
		Refuse(psprintf("a value of type %s", format_type_be(exprType(node))),
			   "Values must be of built-in scalar types (boolean, integers, floats, numeric, text, dates "
			   "and times, intervals) or arrays of them.");
	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varlevelsup != 0 || ((Var *) node)->varno != 1 ||
				((Var *) node)->varattno <= 0)
				Refuse(OidIsValid(cx->condition_rel) ? "reference to something other than a column of the tracked table"
					   : "reference to something other than a column of segmentation.scores", NULL);
			break;
		case T_Const:
			if (((Const *) node)->consttype == NUMERICOID && !((Const *) node)->constisnull &&
				strlen(DatumGetCString(DirectFunctionCall1(numeric_out, ((Const *) node)->constvalue))) > NUMERIC_CONST_MAX)
				Refuse(psprintf("a numeric constant of more than %d characters", NUMERIC_CONST_MAX), NULL);
			break;
		case T_BoolExpr:
		case T_CaseExpr:
		case T_CaseTestExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_RelabelType:
		case T_ArrayExpr:
			break;
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;
				VocabKind	kind;

				if (OidIsValid(cx->in_segment) && f->funcid == cx->in_segment)
				{
					char	   *scheme,
							   *segment;

					/* (whether they name a segment, define_segment checks) */
					InSegmentArgs(f, &scheme, &segment);
					return false;
				}
				if (f->funcvariadic)
					Refuse("VARIADIC call", NULL);
				if (IsVocabulary(f->funcid, cx->ours, &kind))
				{
					VocabCall	call;

					/* (its arguments are constants of allowed types, checked here) */
					CheckVocabularyCall(f, kind, cx, &call);
					return false;
				}
				CheckFunction(f->funcid, InvalidOid, cx->ours);
				if (f->funcid == F_STRPOS)
					CheckLikePattern(lsecond(f->args), "what strpos looks for");
				if (f->funcid == F_ROUND_NUMERIC_INT4 || f->funcid == F_TRUNC_NUMERIC_INT4)
					CheckScale(lsecond(f->args));
				break;
			}
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			{
				OpExpr	   *op = (OpExpr *) node;

				set_opfuncid(op);
				CheckFunction(op->opfuncid, op->opno, cx->ours);
				if (IsLikeOperator(op->opno))
					CheckLikePattern(lsecond(op->args), "a LIKE pattern");
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;

				set_sa_opfuncid(op);
				CheckFunction(op->opfuncid, op->opno, cx->ours);
				if (IsLikeOperator(op->opno))
					Refuse("LIKE ANY and LIKE ALL", "Write one LIKE per pattern, joined with OR or AND.");
				break;
			}
		case T_CoerceViaIO:
			{
				CoerceViaIO *c = (CoerceViaIO *) node;
				Oid			out,
							in,
							ioparam;
				bool		varlena;

				/*
				 * casts through text run the types' I/O functions: of allowed
				 * types, and immutable (timestamptz and date print by the
				 * session's TimeZone and DateStyle)
				 */
				if (!AllowedType(c->resulttype) || !AllowedType(exprType((Node *) c->arg)))
					Refuse("cast between types that are not allowed", NULL);
				/* numeric's input reads '9e131071' as 131,072 digits */
				if (c->resulttype == NUMERICOID)
					Refuse(psprintf("cast from %s to numeric", format_type_be(exprType((Node *) c->arg))),
						   "Write a number as a numeric constant (e.g. 1.5), or compare the text itself.");
				getTypeOutputInfo(exprType((Node *) c->arg), &out, &varlena);
				getTypeInputInfo(c->resulttype, &in, &ioparam);

				/*
				 * (float4out and float8out are marked immutable but print
				 * by the session's extra_float_digits: review 15)
				 */
				if (func_volatile(out) != PROVOLATILE_IMMUTABLE || func_volatile(in) != PROVOLATILE_IMMUTABLE ||
					out == F_FLOAT4OUT || out == F_FLOAT8OUT)
					Refuse(psprintf("cast from %s to %s depends on the session's settings",
									format_type_be(exprType((Node *) c->arg)), format_type_be(c->resulttype)),
						   "Segments must not depend on when or by whom refresh runs.");
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
				   "Only columns, constants, casts, operators, boolean logic, CASE, COALESCE, "
				   "GREATEST/LEAST and allowed functions are allowed.");
	}
	return expression_tree_walker(node, CheckNode, context);
}

/* a name (of a function, operator or type) that is unqualified or pg_catalog's */
static void
CheckName(List *names, const char *what)
{
	if (list_length(names) == 1)
		return;
	if (list_length(names) == 2 && strcmp(strVal(linitial(names)), "pg_catalog") == 0)
		return;
	Refuse(psprintf("%s %s is not a built-in", what, NameListToString(names)), NULL);
}

/*
 * The collation of a column a condition names is the table owner's choice,
 * and a collation the owner creates can be nondeterministic ('pro' equal to
 * 'PRO', LIKE raising on every row: review 15 F7): the default, C or POSIX,
 * or a deterministic collation of pg_catalog only.  (Checked at define and
 * again at every refresh, with the rest of the condition.)
 */
static void
CheckConditionCollation(Oid relid, AttrNumber attnum, const char *name)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	Oid			coll;
	bool		ok;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for attribute %d of relation %u", attnum, relid);
	coll = ((Form_pg_attribute) GETSTRUCT(tup))->attcollation;
	ReleaseSysCache(tup);
	ok = !OidIsValid(coll) || coll == DEFAULT_COLLATION_OID || coll == C_COLLATION_OID || coll == POSIX_COLLATION_OID;
	if (!ok)
	{
		tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(coll));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_collation c = (Form_pg_collation) GETSTRUCT(tup);

			ok = c->collnamespace == PG_CATALOG_NAMESPACE && c->collisdeterministic;
			ReleaseSysCache(tup);
		}
	}
	if (!ok)
		Refuse(psprintf("column \"%s\" of %s has collation %s", name, get_rel_name(relid),
						generate_collation_name(coll)),
			   "A condition's columns must have the default collation, C, POSIX or a deterministic collation "
			   "of pg_catalog: another one is its owner's, and can make equal strings that differ, or LIKE fail.");
}

/*
 * A column a condition names, before parse analysis: a user column of the
 * tracked table whose type is an allowed built-in one.  A domain, an enum, a
 * composite or a type of some role's would run that role's code (input and
 * output functions, CHECKs, operators) while refresh reads the rows, and
 * parse analysis would run some of it already (a literal compared with the
 * column is read by the column type's input function).
 */
static void
CheckConditionColumn(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);
	Oid			type;

	if (attnum == InvalidAttrNumber || attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of feature condition does not exist in %s", name, get_rel_name(relid)),
				 errhint("A condition names columns of every tracked table, unqualified.")));
	type = get_atttype(relid, attnum);
	if (!AllowedType(type))
		Refuse(psprintf("column \"%s\" of %s is of type %s", name, get_rel_name(relid), format_type_be(type)),
			   "Only columns of built-in scalar types (boolean, integers, floats, numeric, text, dates and times, "
			   "intervals) or arrays of them: a domain, enum, composite or user-defined type would run its owner's code.");
	CheckConditionCollation(relid, attnum, name);
}

/*
 * The raw parse tree, before parse analysis: parse analysis already runs
 * code (a literal cast to a type runs the type's input function, and a
 * domain's input runs its CHECK), so type names must be allowed before it.
 * Function and operator names must be unqualified (they are then resolved in
 * pg_catalog, the search_path refresh pins) or pg_catalog's.
 */
static bool
CheckRawNode(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_List:
		case T_A_Const:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_A_ArrayExpr:
			break;
		case T_ColumnRef:
			{
				ColumnRef  *c = (ColumnRef *) node;

				CheckContext *cx = (CheckContext *) context;

				if (list_length(c->fields) != 1 || !IsA(linitial(c->fields), String))
					Refuse(psprintf("column reference %s", NameListToString(c->fields)),
						   OidIsValid(cx->condition_rel) ? "Name the columns of the tracked table without a qualifier."
						   : "Name the columns of segmentation.scores without a qualifier.");
				if (OidIsValid(cx->condition_rel))
					CheckConditionColumn(cx->condition_rel, strVal(linitial(c->fields)));
				return false;
			}
		case T_TypeCast:
			{
				TypeCast   *tc = (TypeCast *) node;
				Oid			type;

				if (tc->typeName->pct_type || tc->typeName->setof)
					Refuse("type reference", NULL);
				CheckName(tc->typeName->names, "type");
				type = LookupTypeNameOid(NULL, tc->typeName, true);
				if (!AllowedType(type))
					Refuse(psprintf("cast to %s", TypeNameToString(tc->typeName)),
						   "Casts are to built-in scalar types or arrays of them.");
				/* (typmods are applied by the type's own built-in typmodin) */
				return CheckRawNode(tc->arg, context);
			}
		case T_FuncCall:
			{
				FuncCall   *f = (FuncCall *) node;
				CheckContext *cx = (CheckContext *) context;
				int			n = list_length(f->funcname);

				if (f->agg_order || f->agg_filter || f->over || f->agg_star || f->agg_distinct ||
					f->func_variadic || f->agg_within_group)
					Refuse("aggregate or window call", NULL);
				/* a condition is about one event: none of the rule vocabulary */
				if (OidIsValid(cx->condition_rel))
				{
					const char *last = strVal(llast(f->funcname));

					if (IsInSegmentName(f->funcname, cx->ours_name) || VocabKindOf(last) >= 0 ||
						strcmp(last, IN_SEGMENT_NAME) == 0)
						Refuse(psprintf("%s() of the rule vocabulary", last),
							   "A condition is checked on each event's row: events_in, in_segment and the rest are for segment predicates.");
					CheckName(f->funcname, "function");
					break;
				}

				/*
				 * The vocabulary's names and in_segment are the extension's
				 * functions, by the schema's name: nothing of the search_path
				 * is looked at
				 * (unqualified, they are qualified here; printed back, they
				 * are qualified)
				 */
				if (IsInSegmentName(f->funcname, cx->ours_name))
				{
					CheckInSegmentRaw(f);
					f->funcname = list_make2(makeString(pstrdup(cx->ours_name)), makeString(pstrdup(IN_SEGMENT_NAME)));
				}
				else if (n == 1 && VocabKindOf(strVal(linitial(f->funcname))) >= 0)
					f->funcname = list_make2(makeString(pstrdup(cx->ours_name)), linitial(f->funcname));
				else if (!(n == 2 && strcmp(strVal(linitial(f->funcname)), cx->ours_name) == 0 &&
						   VocabKindOf(strVal(lsecond(f->funcname))) >= 0))
					CheckName(f->funcname, "function");
				break;
			}
		case T_A_Expr:
			{
				A_Expr	   *e = (A_Expr *) node;

				if (e->kind == AEXPR_SIMILAR)
					Refuse("SIMILAR TO", NULL);
				CheckName(e->name, "operator");
				break;
			}
		case T_SubLink:
			Refuse("subquery", NULL);
		default:
			Refuse(psprintf("expression of kind %d", (int) nodeTag(node)),
				   "Only columns, constants, casts, operators, boolean logic, CASE, COALESCE, "
				   "GREATEST/LEAST and allowed functions are allowed.");
	}
	return raw_expression_tree_walker(node, CheckRawNode, context);
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
	errcontext(checking_condition ? "feature condition" : "segment predicate");
}

/*
 * The expression text, parsed as the single expression of "SELECT (<text>)
 * FROM <scores table>", analyzed and checked; of type want.
 */
static Node *
AnalyzeExpression(const char *predicate, Oid relid, const CheckContext *features, Oid want, size_t maxlen)
{
	char	   *relname = get_rel_name(relid);
	char	   *sql;
	List	   *raw;
	RawStmt    *stmt;
	SelectStmt *select;
	RangeVar   *from;
	Query	   *query;
	CheckContext cx = *features;
	Node	   *expr;
	PredicateSource source;
	ErrorContextCallback errcallback;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (strlen(predicate) > maxlen)
		Refuse(psprintf("longer than %zu bytes", maxlen), NULL);

	/* (the newline ends a -- comment the predicate may close with) */
	sql = psprintf("SELECT (%s\n) FROM %s.%s", predicate,
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
		((ResTarget *) linitial(select->targetList))->name != NULL ||
		!IsA(linitial(select->fromClause), RangeVar))
		Refuse("not a single expression", "The predicate must be one expression, e.g. recency_days > 30 AND frequency >= 5.");
	from = linitial_node(RangeVar, select->fromClause);
	if (from->catalogname || from->alias || !from->schemaname ||
		strcmp(from->schemaname, get_namespace_name(get_rel_namespace(relid))) != 0 ||
		strcmp(from->relname, relname) != 0)
		Refuse("not a single expression", "The predicate must be one expression, e.g. recency_days > 30 AND frequency >= 5.");
	CheckRawNode(((ResTarget *) linitial(select->targetList))->val, &cx);

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

	expr = (Node *) linitial_node(TargetEntry, query->targetList)->expr;
	if (OidIsValid(cx.condition_rel) && rt_fetch(1, query->rtable)->relid != relid)
		Refuse("not a single expression", NULL);
	if (exprType(expr) != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be %s, not %s", checking_condition ? "feature condition" : "segment predicate",
						format_type_be(want), format_type_be(exprType(expr))),
				 errhint(checking_condition ? "Compare something, e.g. amount > 50." : "Compare something, e.g. frequency >= 5.")));
	CheckNode(expr, &cx);
	return expr;
}

/*
 * The analyzed expression planned, its constant parts folded: no folded
 * constant may be larger than a predicate can spell out (each is compared or
 * searched once per user).  The checks above keep casts from expanding a
 * short constant; this bounds whatever they miss.
 */
static bool
CheckFoldedNode(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Const) && !((Const *) node)->constisnull)
	{
		Const	   *c = (Const *) node;

		if ((c->constlen == -1 && VARSIZE_ANY(DatumGetPointer(c->constvalue)) > 2 * PREDICATE_MAX_LENGTH) ||
			(c->consttype == NUMERICOID &&
			 strlen(DatumGetCString(DirectFunctionCall1(numeric_out, c->constvalue))) > 2 * NUMERIC_CONST_MAX))
			Refuse("a constant part that computes to a value too large",
				   psprintf("Folded constants are limited to %d bytes, and numeric ones to %d digits.",
							2 * PREDICATE_MAX_LENGTH, 2 * NUMERIC_CONST_MAX));
		return false;
	}
	return expression_tree_walker(node, CheckFoldedNode, context);
}

/*
 * What a predicate costs per user, bounded before it is stored.  Every
 * allowed function is linear in its input, but calls nest: lower() 700 deep
 * around a 4,000-byte string lowers 2.8 MB per user (review eight).  So each
 * value of the planned expression gets an upper bound on its length in bytes,
 * and each call costs the length of what it reads (LIKE and strpos: haystack
 * times pattern); a call of the rule vocabulary walks the user's active days
 * in its window, and costs the days of its window, up to VOCAB_CALL_COST for
 * the whole history; '*' (any event) walks every feature's days, and
 * days_in and periods_with merge them (review ten).  The text column
 * (rfm_cell) is short; features_used may hold every feature's name (at most
 * 63 bytes each: define_feature).  The total must stay within
 * PREDICATE_MAX_COST; every segment costs at least SEGMENT_MIN_COST.
 * define_segment also bounds the sum over a scheme's segments and over every
 * scheme (a user who matches no segment is checked against all of them:
 * review nine), with the costs _predicate_cost gives; they grow with the
 * features, so define_feature checks them again.
 */
#define PREDICATE_MAX_COST 200000.0
#define COLUMN_TEXT_LEN 64.0
#define CAST_TEXT_LEN 400.0		/* a number or a time printed */
/*
 * A user attribute (track_users) of a string type or numeric: refresh keeps
 * none longer than this as text (sql/65-attributes.sql, ATTRIBUTE_MAX_BYTES
 * there), so a predicate reads at most this much of one
 */
#define ATTRIBUTE_TEXT_LEN 256.0
#define VOCAB_CALL_COST 4096.0
#define VOCAB_SORT_FACTOR 8.0
#define SEGMENT_MIN_COST 100.0

typedef struct CostAcc
{
	double		sumlen;			/* of the children's values */
	double		maxlen;
	double		cost;			/* of computing the children */
	int			nchildren;
	double		lens[2];		/* of the first two children */
	const CheckContext *cx;		/* to resolve the vocabulary's calls */
} CostAcc;

static void NodeCost(Node *node, const CheckContext *cx, double *len, double *cost);

static bool
ChildCost(Node *node, void *context)
{
	CostAcc    *acc = (CostAcc *) context;
	double		len,
				cost;

	if (node == NULL)
		return false;
	/* the arguments of a call, the WHEN clauses of a CASE: children too */
	if (IsA(node, List) || IsA(node, CaseWhen))
		return expression_tree_walker(node, ChildCost, context);
	NodeCost(node, acc->cx, &len, &cost);
	acc->sumlen += len;
	acc->maxlen = Max(acc->maxlen, len);
	acc->cost += cost;
	if (acc->nchildren < 2)
		acc->lens[acc->nchildren] = len;
	acc->nchildren++;
	return false;
}

static void
NodeCost(Node *node, const CheckContext *cx, double *len, double *cost)
{
	CostAcc		acc = {0, 0, 0, 0, {0, 0}, cx};
	bool		varlena;
	VocabKind	kind;

	check_stack_depth();
	varlena = get_typlen(exprType(node)) == -1;
	if (IsA(node, Const))
	{
		Const	   *c = (Const *) node;

		*len = c->constisnull || c->constlen != -1 ? 8 : VARSIZE_ANY(DatumGetPointer(c->constvalue));
		*cost = 0;
		return;
	}
	if (IsA(node, Var))
	{
		*len = !varlena ? 8 : type_is_array(exprType(node)) ? cx->features_len :
			(!OidIsValid(cx->condition_rel) && ((Var *) node)->varattno > SCORE_COLUMNS + 1) ? ATTRIBUTE_TEXT_LEN :
			COLUMN_TEXT_LEN;
		*cost = 0;
		return;
	}
	/*
	 * in_segment reads the segment another scheme's rule gave the user (that
	 * rule runs for every user anyway, and is costed with its scheme)
	 */
	if (IsA(node, FuncExpr) && OidIsValid(cx->in_segment) && ((FuncExpr *) node)->funcid == cx->in_segment)
	{
		*len = 8;
		*cost = 16;
		return;
	}
	if (IsA(node, FuncExpr) && IsVocabulary(((FuncExpr *) node)->funcid, cx->ours, &kind))
	{
		VocabCall	call;
		double		days;

		CheckVocabularyCall((FuncExpr *) node, kind, cx, &call);
		days = call.window == 0 ? VOCAB_CALL_COST :
			Min((double) call.window * (kind == VOCAB_PERIODS_WITH ? call.periods : 1), VOCAB_CALL_COST);
		*len = 8;
		if (kind == VOCAB_FIRST_USE || kind == VOCAB_LAST_USE || kind == VOCAB_DAYS_SINCE ||
			(call.window == 0 && call.feature == BEHAVIOR_ANY_FEATURE &&
			 (kind == VOCAB_EVENTS_IN || kind == VOCAB_VALUE_IN)))
			*cost = 16;			/* kept whole: no day is walked */
		else if (call.feature == BEHAVIOR_ANY_FEATURE)
			*cost = days * (cx->nfeatures + 1) * (kind == VOCAB_PERIODS_WITH || kind == VOCAB_DAYS_IN ? VOCAB_SORT_FACTOR : 1);
		else
			*cost = days + 16;
		return;
	}
	(void) expression_tree_walker(node, ChildCost, &acc);
	/* every node reads its inputs once */
	*cost = acc.cost + acc.sumlen + 1;
	switch (nodeTag(node))
	{
		case T_FuncExpr:
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			{
				Oid			funcid = IsA(node, FuncExpr) ? ((FuncExpr *) node)->funcid : ((OpExpr *) node)->opfuncid;
				bool		like = !IsA(node, FuncExpr) && IsLikeOperator(((OpExpr *) node)->opno);

				/* comparing a string with a pattern: the product of the lengths */
				if (funcid == F_STRPOS || like)
					*cost += acc.lens[0] * acc.lens[1];
				/* a function of strings or arrays makes at most what it reads */
				*len = varlena ? acc.sumlen + 8 : 8;
				break;
			}
		case T_CoerceViaIO:
			*len = varlena ? acc.sumlen + CAST_TEXT_LEN : 8;
			break;
		case T_ArrayExpr:
			*len = acc.sumlen + 8;
			break;
		default:
			/* CASE, COALESCE, GREATEST, AND, IS NULL...: one of their inputs */
			*len = varlena ? acc.maxlen : 8;
			break;
	}
}

static double
CheckCost(Node *planned, const CheckContext *cx)
{
	double		len,
				cost;

	NodeCost(planned, cx, &len, &cost);
	cost = Max(cost, SEGMENT_MIN_COST);
	if (cost > PREDICATE_MAX_COST)
		Refuse("too costly to run for every user",
			   psprintf("Its calls read up to about %.0f bytes per user; at most %.0f are allowed "
						"(nested string functions, LIKE or strpos on long strings and the vocabulary's "
						"calls over long windows add up).",
						cost, PREDICATE_MAX_COST));
	return cost;
}

static Expr *
PlanExpression(Node *expr)
{
	Expr	   *planned = expression_planner((Expr *) expr);

	(void) CheckFoldedNode((Node *) planned, NULL);
	return planned;
}

/*
 * Predicates are parsed, printed and compiled with fixed settings, whoever
 * does it: a literal such as '2024-03-01' is a time in UTC, 'a\nb' is four
 * characters, x = NULL is never x IS NULL, and the text stored at define
 * time is the text refresh gets again (review eight stopped every refresh
 * with a predicate defined under standard_conforming_strings = off).  Returns the GUC
 * nest level to give AtEOXact_GUC.
 */
static int
PinSettings(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("TimeZone", "UTC", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* and what changes how the text parses, or prints back */
	(void) set_config_option("standard_conforming_strings", "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("transform_null_equals", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("array_nulls", "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("timezone_abbreviations", "Default", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("quote_all_identifiers", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("backslash_quote", "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * The scores relation a caller names must be the scores view of the schema
 * the called function lives in: nothing else is read as a row of scores.
 */
static void
CheckScoresArg(FunctionCallInfo fcinfo, Oid relid)
{
	Oid			ours = get_func_namespace(fcinfo->flinfo->fn_oid);
	char	   *relname = get_rel_name(relid);

	if (relname == NULL || get_rel_namespace(relid) != ours || strcmp(relname, "scores") != 0 ||
		get_rel_relkind(relid) != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"scores\" must be the view %s.scores", get_namespace_name(ours))));
}

/*
 * The check context of the extension's schema ours and of feature_names
 * (text[]: element i + 1 names feature id i, NULL where there is none);
 * self is the C function running (in_segment is its extension's)
 */
static void
SetCheckContext(CheckContext *cx, Oid ours, Datum feature_names, Oid self)
{
	ArrayType  *arr = DatumGetArrayTypeP(feature_names);
	int			i;

	if (ARR_NDIM(arr) > 1 || ARR_ELEMTYPE(arr) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"feature_names\" must be a one-dimensional text array")));
	cx->ours = ours;
	cx->ours_name = get_namespace_name(ours);
	if (cx->ours_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema with OID %u does not exist", ours)));
	cx->in_segment = InSegmentFunction(ours, self);
	cx->condition_rel = InvalidOid;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &cx->names, &cx->name_nulls, &cx->nnames);
	/* features_used: an array header, and every name */
	cx->nfeatures = 0;
	cx->features_len = ARR_OVERHEAD_NONULLS(1);
	for (i = 0; i < cx->nnames; i++)
		if (!cx->name_nulls[i])
		{
			cx->nfeatures++;
			cx->features_len += INTALIGN(VARHDRSZ + VARSIZE_ANY_EXHDR(DatumGetPointer(cx->names[i])));
		}
}

/* the calls of in_segment of a checked expression (its arguments checked: constants) */
typedef struct UsesContext
{
	Oid			in_segment;
	List	   *uses;			/* of FuncExpr */
} UsesContext;

static bool
CollectUses(Node *node, UsesContext *u)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && OidIsValid(u->in_segment) && ((FuncExpr *) node)->funcid == u->in_segment)
	{
		u->uses = lappend(u->uses, node);
		return false;
	}
	return expression_tree_walker(node, CollectUses, u);
}

/*
 * check_predicate(predicate, scores regclass, ours regnamespace,
 * feature_names text[]): the checked predicate, deparsed; an error naming the
 * problem otherwise.  feature_names are the features a predicate may name,
 * as _assign_segments takes them.  _predicate_cost(same arguments): what it
 * costs per user (the unit of PREDICATE_MAX_COST), after the same checks.
 * _predicate_uses(same arguments): the (scheme, segment) pairs its calls of
 * in_segment name, after the same checks.  _predicate_columns(same
 * arguments): the columns of the scores table it reads, after the same
 * checks (define_segment and refresh check that the segment's definer may
 * read the user attributes among them).
 */
static text *
CheckPredicate(FunctionCallInfo fcinfo, double *cost, List **uses, Bitmapset **columns)
{
	Oid			relid = PG_GETARG_OID(1);
	Node	   *expr;
	text	   *result;
	int			level;
	CheckContext cx;

	/* 0.1's SQL calls it with three, between a package and its ALTER EXTENSION */
	if (PG_NARGS() != 4)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the SQL objects of extension segmentation are older than its library"),
				 errhint("Run ALTER EXTENSION segmentation UPDATE.")));
	CheckScoresArg(fcinfo, relid);
	if (PG_GETARG_OID(2) != get_rel_namespace(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"schema\" must be the schema of segmentation.scores")));
	SetCheckContext(&cx, PG_GETARG_OID(2), PG_GETARG_DATUM(3), fcinfo->flinfo->fn_oid);
	level = PinSettings();
	expr = AnalyzeExpression(text_to_cstring(PG_GETARG_TEXT_PP(0)), relid, &cx, BOOLOID, PREDICATE_MAX_LENGTH);
	*cost = CheckCost((Node *) PlanExpression(copyObject(expr)), &cx);
	result = cstring_to_text(deparse_expression(expr, deparse_context_for(get_rel_name(relid), relid),
												false, false));
	AtEOXact_GUC(true, level);
	/* what refresh will check again is the printed form */
	if (VARSIZE_ANY_EXHDR(result) > PREDICATE_MAX_LENGTH)
		Refuse(psprintf("longer than %d bytes as stored (printed back)", PREDICATE_MAX_LENGTH), NULL);
	if (uses)
	{
		UsesContext u = {cx.in_segment, NIL};

		(void) CollectUses(expr, &u);
		*uses = u.uses;
	}
	/* (attribute numbers offset by FirstLowInvalidHeapAttributeNumber) */
	if (columns)
		pull_varattnos(expr, 1, columns);
	return result;
}

/* ---------- event conditions: a narrower allowlist (review 15 F3, F4, F6) ---------- */

/*
 * A condition runs on rows any writer of a tracked table writes, of any
 * size, inside refresh: it must not be able to raise on a row (one row would
 * stop every refresh), its cost must grow linearly with the row, and it must
 * not print a value (output depends on the session's settings).  So on top of
 * the predicates' allowlist it is a row filter: columns compared with
 * constants by the btree comparison operators of the built-in types, IN
 * (constants), BETWEEN, LIKE and ILIKE with a constant pattern, IS [NOT]
 * NULL, TRUE, FALSE, DISTINCT FROM, AND, OR, NOT, CASE, COALESCE, the
 * functions below, and the implicit casts of a column that cannot fail.  No
 * arithmetic (overflow, division by zero), no concatenation (a value that
 * grows), no cast of a column through text or that narrows.  Anything
 * without a column is a literal or a cast of literals, folded when the
 * condition is checked (an error there is an error at define).
 */
static const Oid condition_functions[] = {
	F_LOWER_TEXT, F_UPPER_TEXT, F_LENGTH_TEXT, F_LENGTH_BPCHAR, F_CHAR_LENGTH_TEXT, F_CHAR_LENGTH_BPCHAR,
	F_CHARACTER_LENGTH_TEXT, F_CHARACTER_LENGTH_BPCHAR, F_BTRIM_TEXT, F_LTRIM_TEXT, F_RTRIM_TEXT
};

/* the implicit casts of a column that cannot fail: widening, or bpchar to text */
static const Oid condition_casts[] = {
	F_INT4_INT2, F_INT8_INT2, F_INT8_INT4, F_NUMERIC_INT2, F_NUMERIC_INT4, F_NUMERIC_INT8,
	F_FLOAT8_INT2, F_FLOAT8_INT4, F_FLOAT8_INT8, F_FLOAT4_INT2, F_FLOAT4_INT4, F_FLOAT4_INT8,
	F_FLOAT8_FLOAT4, F_TEXT_BPCHAR
};

/*
 * Operations on a column's value a condition may hold: each reads the value
 * once (lower() copies it), so a row costs at most this many times its size
 */
#define CONDITION_MAX_OPERATIONS 32

static const char *const comparison_operators[] = {"=", "<>", "<", "<=", ">", ">=", NULL};

static bool
InOids(Oid oid, const Oid *list, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (list[i] == oid)
			return true;
	return false;
}

static void pg_attribute_noreturn()
RefuseInCondition(const char *what)
{
	Refuse(what, "A condition is a filter of comparisons: it must not be able to fail on a row, nor cost more "
		   "than a few reads of it.");
}

/* literals and casts of literals: what parse analysis and planning fold */
static bool
IsLiteral(Node *node)
{
	if (node == NULL)
		return true;
	switch (nodeTag(node))
	{
		case T_Const:
			return true;
		case T_RelabelType:
			return IsLiteral((Node *) ((RelabelType *) node)->arg);
		case T_CoerceViaIO:
			return IsLiteral((Node *) ((CoerceViaIO *) node)->arg);
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				return (f->funcformat == COERCE_IMPLICIT_CAST || f->funcformat == COERCE_EXPLICIT_CAST) &&
					list_length(f->args) >= 1 && IsLiteral(linitial(f->args));
			}
		case T_ArrayExpr:
			{
				ListCell   *lc;

				foreach(lc, ((ArrayExpr *) node)->elements)
					if (!IsLiteral(lfirst(lc)))
						return false;
				return true;
			}
		default:
			return false;
	}
}

/* a btree comparison operator of pg_catalog (=, <>, <, <=, >, >=) */
static bool
IsComparison(Oid opno)
{
	char	   *name = get_opname(opno);
	HeapTuple	tup;
	bool		builtin;

	if (name == NULL || !InList(name, comparison_operators))
		return false;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	if (!HeapTupleIsValid(tup))
		return false;
	builtin = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace == PG_CATALOG_NAMESPACE;
	ReleaseSysCache(tup);
	return builtin && get_op_btree_interpretation(opno) != NIL;
}

/*
 * LIKE raises on a pattern that ends with the escape character (a backslash)
 * only when matching reaches its end: on some rows, not others
 */
static void
CheckConditionLikePattern(Node *pattern)
{
	Const	   *c = (Const *) strip_implicit_coercions(pattern);
	char	   *p;
	int			len,
				trailing = 0;

	if (!IsA(c, Const) || c->constisnull)
		RefuseInCondition("a LIKE pattern that is not a constant (or with ESCAPE)");
	p = TextDatumGetCString(c->constvalue);
	len = strlen(p);
	while (trailing < len && p[len - 1 - trailing] == '\\')
		trailing++;
	if (trailing % 2 == 1)
		Refuse("a LIKE pattern that ends with an unescaped backslash",
			   "LIKE raises on it when matching reaches it, on some rows only: write \\\\ for a backslash.");
}

/* a column below (or the tested value of a CASE, which is one) */
static bool
HasColumn(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) || IsA(node, CaseTestExpr))
		return true;
	return expression_tree_walker(node, HasColumn, context);
}

typedef struct ConditionContext
{
	int			operations;		/* on a column's value */
} ConditionContext;

static void
CountOperation(ConditionContext *cc)
{
	if (++cc->operations > CONDITION_MAX_OPERATIONS)
		Refuse(psprintf("more than %d operations on columns", CONDITION_MAX_OPERATIONS),
			   "Each reads the row's value again: a condition is a short filter.");
}

/*
 * Values of two different collations meet (C and POSIX, both allowed): the
 * parser leaves the operation without a collation and it raises on every
 * row (review 17, F13).  Refused, here and so at every refresh.
 */
static void
CheckInputCollation(Node *node, List *args)
{
	ListCell   *lc;

	if (OidIsValid(exprInputCollation(node)))
		return;
	foreach(lc, args)
		if (type_is_collatable(exprType((Node *) lfirst(lc))))
			RefuseInCondition("a comparison of values of two different collations (it would fail on every row)");
}

/*
 * The comparisons x op ANY/ALL (array) makes on each row: one when
 * PostgreSQL hashes the array (= ANY, <> ALL of a hashable type, 9 elements
 * or more), else one per element (review 17, F04: < ANY of 2,300 elements
 * was one operation, and read a large value 2,300 times).
 */
static int
ArrayComparisons(ScalarArrayOpExpr *op)
{
	Node	   *array = eval_const_expressions(NULL, copyObject(lsecond(op->args)));
	int			n = estimate_array_length(array);
	Oid			eq = op->useOr ? op->opno : get_negator(op->opno);
	Oid			lefttype = exprType(linitial(op->args));

	if (n >= 9 && OidIsValid(eq) && op_hashjoinable(eq, lefttype))
		return 1;
	return Max(n, 1);
}

static bool
CheckConditionNode(Node *node, void *context)
{
	ConditionContext *cc = (ConditionContext *) context;

	if (node == NULL)
		return false;
	if (IsA(node, List) || IsA(node, CaseWhen))
		return expression_tree_walker(node, CheckConditionNode, context);
	/* no column below: a literal, folded when checked */
	if (!HasColumn(node, NULL))
	{
		if (!IsLiteral(node))
			RefuseInCondition("a computation on constants (write its value)");
		return false;
	}
	switch (nodeTag(node))
	{
		case T_Var:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_CaseExpr:
		case T_CaseTestExpr:
		case T_CoalesceExpr:
			break;
		case T_RelabelType:
			/* binary-compatible (varchar to text): nothing runs */
			if (((RelabelType *) node)->relabelformat == COERCE_EXPLICIT_CAST)
				RefuseInCondition("a cast of a column");
			break;
		case T_OpExpr:
		case T_DistinctExpr:
			{
				OpExpr	   *op = (OpExpr *) node;

				if (IsLikeOperator(op->opno) && node->type == T_OpExpr)
				{
					if (!IsLiteral(lsecond(op->args)))
						RefuseInCondition("a LIKE pattern that is not a constant");
					CheckConditionLikePattern(lsecond(op->args));
				}
				else if (!IsComparison(op->opno))
					RefuseInCondition(psprintf("operator %s (arithmetic, concatenation...)", format_operator(op->opno)));
				CheckInputCollation(node, op->args);
				CountOperation(cc);
				break;
			}
		case T_ScalarArrayOpExpr:
			{
				ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;

				if (!IsComparison(op->opno))
					RefuseInCondition(psprintf("operator %s with ANY or ALL", format_operator(op->opno)));
				if (!IsLiteral(lsecond(op->args)))
					RefuseInCondition("IN or ANY of something else than a list of constants");
				CheckInputCollation(node, op->args);
				for (int k = ArrayComparisons(op); k > 0; k--)
					CountOperation(cc);
				break;
			}
		case T_FuncExpr:
			{
				FuncExpr   *f = (FuncExpr *) node;

				if (f->funcformat == COERCE_EXPLICIT_CAST)
					RefuseInCondition(psprintf("a cast of a column to %s", format_type_be(f->funcresulttype)));
				if (f->funcformat == COERCE_IMPLICIT_CAST)
				{
					if (!InOids(f->funcid, condition_casts, lengthof(condition_casts)))
						RefuseInCondition(psprintf("a cast of a column to %s", format_type_be(f->funcresulttype)));
				}
				else if (!InOids(f->funcid, condition_functions, lengthof(condition_functions)))
					RefuseInCondition(psprintf("function %s", format_procedure(f->funcid)));
				CheckInputCollation(node, f->args);
				CountOperation(cc);
				break;
			}
		case T_CoerceViaIO:
			RefuseInCondition(psprintf("a cast of a column to %s", format_type_be(((CoerceViaIO *) node)->resulttype)));
		case T_MinMaxExpr:
			RefuseInCondition("GREATEST or LEAST");
		case T_NullIfExpr:
			RefuseInCondition("NULLIF");
		case T_ArrayExpr:
			RefuseInCondition("an array of columns");
		default:
			RefuseInCondition(psprintf("expression of kind %d", (int) nodeTag(node)));
	}
	return expression_tree_walker(node, CheckConditionNode, context);
}

/*
 * _check_condition(condition text, source regclass, OUT checked text, OUT
 * columns name[], OUT operations int): a feature's event condition checked as a predicate is,
 * over the columns of the tracked table source instead of the scores, without
 * the rule vocabulary; returns it deparsed (what refresh runs on that table's
 * rows) and the columns it reads (whose SELECT privilege the caller checks).
 */
PG_FUNCTION_INFO_V1(check_condition);
Datum
check_condition(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(1);
	Oid			ours = get_func_namespace(fcinfo->flinfo->fn_oid);
	Datum		no_names = PointerGetDatum(construct_empty_array(TEXTOID));
	CheckContext cx;
	Node	   *expr;
	text	   *checked = NULL;
	int			level;
	char		kind;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	Bitmapset  *attnos = NULL;
	int			operations = 0;
	Datum	   *names;
	int			nnames = 0,
				k;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	kind = get_rel_relkind(relid);
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("argument \"source\" must be a table")));
	SetCheckContext(&cx, ours, no_names, fcinfo->flinfo->fn_oid);
	cx.in_segment = InvalidOid;
	cx.condition_rel = relid;
	cx.features_len = COLUMN_TEXT_LEN;
	level = PinSettings();
	checking_condition = true;
	PG_TRY();
	{
		expr = AnalyzeExpression(text_to_cstring(PG_GETARG_TEXT_PP(0)), relid, &cx, BOOLOID, PREDICATE_MAX_LENGTH);
		/* and the narrower list of a condition */
		{
			ConditionContext cc = {0};

			(void) CheckConditionNode(expr, &cc);
			operations = cc.operations;
		}
		(void) CheckCost((Node *) PlanExpression(copyObject(expr)), &cx);
		checked = cstring_to_text(deparse_expression(expr, deparse_context_for(get_rel_name(relid), relid),
													 false, false));
		if (VARSIZE_ANY_EXHDR(checked) > PREDICATE_MAX_LENGTH)
			Refuse(psprintf("longer than %d bytes as stored (printed back)", PREDICATE_MAX_LENGTH), NULL);
		pull_varattnos(expr, 1, &attnos);
	}
	PG_FINALLY();
	{
		checking_condition = false;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, level);

	names = palloc(Max(bms_num_members(attnos), 1) * sizeof(Datum));
	k = -1;
	while ((k = bms_next_member(attnos, k)) >= 0)
	{
		AttrNumber	attnum = k + FirstLowInvalidHeapAttributeNumber;

		names[nnames++] = DirectFunctionCall1(namein, CStringGetDatum(get_attname(relid, attnum, false)));
	}
	values[0] = PointerGetDatum(checked);
	values[1] = PointerGetDatum(construct_array(names, nnames, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
	values[2] = Int32GetDatum(operations);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

PG_FUNCTION_INFO_V1(check_predicate);
Datum
check_predicate(PG_FUNCTION_ARGS)
{
	double		cost;

	PG_RETURN_TEXT_P(CheckPredicate(fcinfo, &cost, NULL, NULL));
}

PG_FUNCTION_INFO_V1(predicate_cost);
Datum
predicate_cost(PG_FUNCTION_ARGS)
{
	double		cost;

	(void) CheckPredicate(fcinfo, &cost, NULL, NULL);
	PG_RETURN_FLOAT8(cost);
}

PG_FUNCTION_INFO_V1(predicate_uses);
Datum
predicate_uses(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double		cost;
	List	   *uses;
	ListCell   *lc;

	(void) CheckPredicate(fcinfo, &cost, &uses, NULL);
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, uses)
	{
		FuncExpr   *f = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = ((Const *) linitial(f->args))->constvalue;
		values[1] = ((Const *) lsecond(f->args))->constvalue;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(predicate_columns);
Datum
predicate_columns(PG_FUNCTION_ARGS)
{
	double		cost;
	Bitmapset  *columns = NULL;
	Datum	   *names;
	int			n = 0;
	int			k = -1;

	(void) CheckPredicate(fcinfo, &cost, NULL, &columns);
	names = palloc(sizeof(Datum) * (bms_num_members(columns) + 1));
	while ((k = bms_next_member(columns, k)) >= 0)
	{
		AttrNumber	attnum = k + FirstLowInvalidHeapAttributeNumber;

		/* a whole-row reference (attnum 0) is refused by the checker */
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("predicate reads column number %d of the scores table", attnum)));
		names[n++] = CStringGetTextDatum(get_attname(PG_GETARG_OID(1), attnum, false));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ---------- evaluating the rules ---------- */

/* the types of the scores table's columns after user_id, in order */
static const Oid score_types[SCORE_COLUMNS] = {
	TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID, FLOAT8OID, INT8OID, FLOAT8OID,
	INT4OID, INT4OID, INT4OID, INT4OID, INT4OID, FLOAT8OID, INT4OID, FLOAT8OID,
	INT4OID, INT4OID, INT4OID, TEXTOID, TEXTARRAYOID
};

/* what _assign_segments keeps across the calls of one query */
typedef struct RulesCache
{
	struct varlena *schemes_raw;	/* the schemes and rules compiled */
	struct varlena *rules_raw;
	int			n;
	char	  **schemes;
	ExprState **rules;
	int		   *order;			/* the rules run in this order: a scheme after those it reads */
	Datum	   *results;		/* the user's segment in each scheme (text), once its rule ran */
	uint64	   *result_gen;		/* gen of results[i]: the user's once it is gen */
	ExprContext *econtext;
	TupleTableSlot *slot;		/* a row of the scores table */
	ScoresCache *scores;
	ScoresCache *last;			/* the same with the last refresh's breakpoints */
	bool		context_set;	/* feature names and breakpoints are constants, set */
	bool		rules_fixed;	/* schemes and rules are constants */
	bool		prunable;		/* recency_days and tenure_days are read only by atoms */
	bool		reads_rfm;		/* some rule reads r_score, f_score, m_score or rfm_cell */
	List	   *atoms;			/* ExprStates of the comparisons of those with constants */
	TupleDesc	move_desc;		/* a row of the result: one move */
	MemoryContext moves_cxt;	/* the moves of the user evaluated last */
	Datum	   *moves;
	int			nmoves;
	int			next_move;		/* the next one to return; nmoves: the set is done */
	bool		shutdown_set;	/* MovesShutdown is registered */
	FmgrInfo	user_out;		/* output function of user_id's type */
	int			current;		/* the scheme whose rule runs (for errors) */
	struct varlena *names_raw;	/* the feature names the rules were compiled with */
	/* the calls of the vocabulary, parameters 1 .. nvocab of the rules */
	int			nvocab;
	VocabCall  *vocab;
	ParamListInfo params;
	/* what the parameters are computed from: one user, one as_of */
	uint64		gen;			/* bumped for each user and as_of */
	Datum		cur_datum;		/* the user's behavior */
	const Behavior *cur_b;		/* decoded, or NULL until a parameter needs it */
	Behavior	cur_tmp;
	TimestampTz cur_as_of;

	/*
	 * Pruning on a later UTC day (see Unchanged): the rules read no
	 * decayed_activity, and no window of theirs is longer than max_window
	 * days
	 */
	bool		cross_day;
	int32		max_window;

	/*
	 * User attributes (track_users): the scores table's columns after
	 * ScoresCompute's, nattrs of them, filled from the attributes row (a
	 * row of segmentation.user_attributes: user_id, then those columns) of
	 * the row type attrs_type/attrs_typmod, checked once per row type
	 */
	int			nattrs;
	Oid			attrs_type;
	int32		attrs_typmod;
	int		   *attrs_map;		/* scores column k's attribute number - 1 in that row */
	Datum	   *attrs_values;	/* that row, deformed */
	bool	   *attrs_nulls;
	int			attrs_natts;
} RulesCache;

/* the attribute number of score column i: user_id comes first */
#define ScoreAttno(i) ((AttrNumber) ((i) + 2))

/* a new user or as_of: the parameters are computed again when read */
static void
VocabularyFor(RulesCache *c, Datum behavior, const Behavior *decoded, TimestampTz as_of)
{
	c->gen++;
	c->cur_datum = behavior;
	c->cur_b = decoded;
	c->cur_as_of = as_of;
}

/* the value of a call of the vocabulary for the current user and as_of */
static void
VocabularyCompute(RulesCache *c, VocabCall *v)
{
	int32		day = BehaviorDayOf(c->cur_as_of);
	int32		from = PG_INT32_MIN,
				to = PG_INT32_MAX;
	const Behavior *b;
	TimestampTz ts;

	if (c->cur_b == NULL)
	{
		/* (decoded where the user's evaluation allocates: reset per user) */
		MemoryContext old = MemoryContextSwitchTo(c->econtext->ecxt_per_tuple_memory);

		c->cur_b = BehaviorFromDatum(c->cur_datum, &c->cur_tmp);
		MemoryContextSwitchTo(old);
	}
	b = c->cur_b;
	if (v->window > 0 && v->kind != VOCAB_PERIODS_WITH)
	{
		from = (int32) Max((int64) day - v->window + 1, PG_INT32_MIN);
		to = day;
	}
	v->isnull = false;
	switch (v->kind)
	{
		case VOCAB_EVENTS_IN:
			v->value = Int64GetDatum(BehaviorEventsIn(b, v->feature, from, to));
			break;
		case VOCAB_DAYS_IN:
			v->value = Int32GetDatum(BehaviorDaysIn(b, v->feature, from, to));
			break;
		case VOCAB_VALUE_IN:
			v->value = Float8GetDatum(BehaviorValueIn(b, v->feature, from, to));
			break;
		case VOCAB_FIRST_USE:
			v->isnull = !BehaviorFirstUse(b, v->feature, &ts);
			v->value = v->isnull ? (Datum) 0 : TimestampTzGetDatum(ts);
			break;
		case VOCAB_LAST_USE:
			v->isnull = !BehaviorLastUse(b, v->feature, &ts);
			v->value = v->isnull ? (Datum) 0 : TimestampTzGetDatum(ts);
			break;
		case VOCAB_DAYS_SINCE:
			/* as days_since(b, feature, as_of): exact in 128 bits */
			v->isnull = !BehaviorLastUse(b, v->feature, &ts);
			v->value = v->isnull ? (Datum) 0 :
				Float8GetDatum((double) ((int128) c->cur_as_of - (int128) ts) / USECS_PER_DAY);
			break;
		case VOCAB_PERIODS_WITH:
			v->value = Int32GetDatum(BehaviorPeriodsWith(b, v->feature, day, v->min_events,
														 v->window, v->periods));
			break;
		case VOCAB_IN_SEGMENT:
			elog(ERROR, "in_segment is not computed from a behavior");	/* (VocabularyFetch reads it) */
	}
}

/* the executor's fetch of parameter paramid: computed once per user and as_of */
static ParamExternData *
VocabularyFetch(ParamListInfo params, int paramid, bool speculative, ParamExternData *workspace)
{
	RulesCache *c = (RulesCache *) params->paramFetchArg;
	VocabCall  *v;

	if (paramid < 1 || paramid > c->nvocab)
		elog(ERROR, "no parameter %d in the segment rules", paramid);
	v = &c->vocab[paramid - 1];
	if (v->kind == VOCAB_IN_SEGMENT)
	{
		text	   *seg;

		/* (order makes the scheme's rule run first, for every user) */
		if (c->result_gen[v->scheme] != c->gen)
			elog(ERROR, "in_segment read scheme \"%s\" before its rule ran", c->schemes[v->scheme]);
		seg = (text *) DatumGetPointer(c->results[v->scheme]);
		workspace->value = BoolGetDatum(VARSIZE_ANY_EXHDR(seg) == strlen(v->segment) &&
										memcmp(VARDATA_ANY(seg), v->segment, VARSIZE_ANY_EXHDR(seg)) == 0);
		workspace->isnull = false;
		workspace->pflags = PARAM_FLAG_CONST;
		workspace->ptype = BOOLOID;
		return workspace;
	}
	if (v->gen != c->gen)
	{
		VocabularyCompute(c, v);
		v->gen = c->gen;
	}
	workspace->value = v->value;
	workspace->isnull = v->isnull;
	workspace->pflags = PARAM_FLAG_CONST;
	workspace->ptype = v->type;
	return workspace;
}

typedef struct SubstituteContext
{
	RulesCache *c;
	const CheckContext *cx;
	int			current;		/* the scheme whose rule this is */
	List	  **reads;			/* reads[i]: the schemes rule i reads (in_segment) */
} SubstituteContext;

/* the index of a scheme among the rules' */
static int
SchemeIndex(RulesCache *c, const char *scheme)
{
	int			i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->schemes[i], scheme) == 0)
			return i;
	return -1;
}

/* parameter i + 1 of the rules, for call (added when i is nvocab: a new call) */
static Node *
AddParam(RulesCache *c, const VocabCall *call, int i)
{
	Param	   *p = makeNode(Param);

	if (i == c->nvocab)
	{
		c->vocab = c->vocab ? repalloc(c->vocab, (c->nvocab + 1) * sizeof(VocabCall))
			: palloc(sizeof(VocabCall));
		c->vocab[c->nvocab++] = *call;
	}
	p->paramkind = PARAM_EXTERN;
	p->paramid = i + 1;
	p->paramtype = call->type;
	p->paramtypmod = -1;
	p->paramcollid = InvalidOid;
	p->location = -1;
	return (Node *) p;
}

/*
 * A checked rule with each call of the vocabulary, and of in_segment,
 * replaced by a parameter (one per distinct call across the rules)
 */
static Node *
SubstituteVocabulary(Node *node, SubstituteContext *s)
{
	VocabKind	kind;

	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr) && IsVocabulary(((FuncExpr *) node)->funcid, s->cx->ours, &kind))
	{
		RulesCache *c = s->c;
		VocabCall	call;
		int			i;

		CheckVocabularyCall((FuncExpr *) node, kind, s->cx, &call);
		for (i = 0; i < c->nvocab; i++)
			if (c->vocab[i].kind == call.kind && c->vocab[i].feature == call.feature &&
				c->vocab[i].window == call.window && c->vocab[i].min_events == call.min_events &&
				c->vocab[i].periods == call.periods && c->vocab[i].type == call.type)
				break;
		return AddParam(c, &call, i);
	}
	if (IsA(node, FuncExpr) && OidIsValid(s->cx->in_segment) && ((FuncExpr *) node)->funcid == s->cx->in_segment)
	{
		RulesCache *c = s->c;
		VocabCall	call;
		char	   *scheme;
		int			i;

		memset(&call, 0, sizeof(VocabCall));
		call.kind = VOCAB_IN_SEGMENT;
		call.type = BOOLOID;
		InSegmentArgs((FuncExpr *) node, &scheme, &call.segment);
		call.scheme = SchemeIndex(c, scheme);
		if (call.scheme < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the segment rules of scheme \"%s\" read scheme \"%s\", which has no segments",
							c->schemes[s->current], scheme),
					 errhint("Define a segment of scheme \"%s\", or define the segments that name it again.", scheme)));
		s->reads[s->current] = list_append_unique_int(s->reads[s->current], call.scheme);
		for (i = 0; i < c->nvocab; i++)
			if (c->vocab[i].kind == VOCAB_IN_SEGMENT && c->vocab[i].scheme == call.scheme &&
				strcmp(c->vocab[i].segment, call.segment) == 0)
				break;
		return AddParam(c, &call, i);
	}
	return expression_tree_mutator(node, SubstituteVocabulary, s);
}

/*
 * The order the schemes' rules run in, into c->order from *next: scheme i
 * after every scheme its rule reads.  define_segment refuses a cycle; rules
 * written by hand may still hold one, and are refused here.
 */
static void
OrderSchemes(RulesCache *c, List **reads, char *state, int i, int *next)
{
	ListCell   *lc;

	check_stack_depth();
	if (state[i] == 2)
		return;
	if (state[i] == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_RECURSION),
				 errmsg("the segment rules of scheme \"%s\" depend on themselves through in_segment", c->schemes[i]),
				 errhint("Drop a segment of the cycle, or define it again without in_segment, with segmentation.define_segment().")));
	state[i] = 1;
	foreach(lc, reads[i])
		OrderSchemes(c, reads, state, lfirst_int(lc), next);
	state[i] = 2;
	c->order[(*next)++] = i;
}


/* the call a parameter of the rules stands for */
static VocabCall *
ParamCall(RulesCache *c, Node *node)
{
	Param	   *p = (Param *) node;

	if (!IsA(node, Param) || p->paramkind != PARAM_EXTERN || p->paramid < 1 || p->paramid > c->nvocab)
		return NULL;
	return &c->vocab[p->paramid - 1];
}

/*
 * recency_days, tenure_days or days_since(feature) compared with a constant:
 * it cannot fail
 */
static bool
IsAtom(Node *node, RulesCache *c)
{
	OpExpr	   *op = (OpExpr *) node;
	Node	   *l,
			   *r;

	if (!IsA(node, OpExpr) || list_length(op->args) != 2)
		return false;
	set_opfuncid(op);
	if (op->opfuncid != F_FLOAT8LT && op->opfuncid != F_FLOAT8LE && op->opfuncid != F_FLOAT8EQ &&
		op->opfuncid != F_FLOAT8NE && op->opfuncid != F_FLOAT8GT && op->opfuncid != F_FLOAT8GE)
		return false;
	l = linitial(op->args);
	r = lsecond(op->args);
	if (IsA(l, Const))
	{
		Node	   *t = l;

		l = r;
		r = t;
	}
	if (!IsA(r, Const))
		return false;
	if (ParamCall(c, l) != NULL)
		return ParamCall(c, l)->kind == VOCAB_DAYS_SINCE;
	return IsA(l, Var) &&
		(((Var *) l)->varattno == ScoreAttno(SCORE_RECENCY_DAYS) ||
		 ((Var *) l)->varattno == ScoreAttno(SCORE_TENURE_DAYS));
}

/* collect a planned rule's atoms; note what else of the scores it reads */
static bool
FindAtoms(Node *node, RulesCache *c)
{
	if (node == NULL)
		return false;
	if (IsAtom(node, c))
	{
		c->atoms = lappend(c->atoms, ExecInitExpr((Expr *) node, NULL));
		return false;
	}
	if (IsA(node, Param))
	{
		VocabCall  *v = ParamCall(c, node);

		if (v == NULL || v->kind == VOCAB_DAYS_SINCE)
			c->prunable = false;	/* time outside an atom */
		else if (v->kind == VOCAB_IN_SEGMENT)
			;					/* another rule's result: its inputs are in the rules walked */
		else if (v->kind == VOCAB_PERIODS_WITH)
			c->max_window = Max(c->max_window, v->window * v->periods);
		else
			c->max_window = Max(c->max_window, v->window);
		return false;
	}
	if (IsA(node, Var))
	{
		AttrNumber	a = ((Var *) node)->varattno;

		if (a <= 0 || a == ScoreAttno(SCORE_RECENCY_DAYS) || a == ScoreAttno(SCORE_TENURE_DAYS))
			c->prunable = false;	/* the whole row, or time outside an atom */
		else if (a >= ScoreAttno(SCORE_R) && a <= ScoreAttno(SCORE_RFM_CELL))
			c->reads_rfm = true;
		else if (a == ScoreAttno(SCORE_ACTIVE_DAYS_7))
			c->max_window = Max(c->max_window, 7);
		else if (a == ScoreAttno(SCORE_ACTIVE_DAYS_28))
			c->max_window = Max(c->max_window, 28);
		else if (a == ScoreAttno(SCORE_ACTIVE_DAYS_PREV_28))
			c->max_window = Max(c->max_window, 56);
		else if (a == ScoreAttno(SCORE_CURRENT_STREAK))
			c->max_window = Max(c->max_window, 2);	/* 0 on both days when neither it nor the day before is active */
		else if (a == ScoreAttno(SCORE_DECAYED_ACTIVITY))
			c->cross_day = false;	/* every active day counts, less every day */
		return false;
	}
	return expression_tree_walker(node, FindAtoms, c);
}

static RulesCache *
CompileRules(FunctionCallInfo fcinfo, Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	RulesCache *c = palloc0(sizeof(RulesCache));
	ArrayType  *schemes = PG_GETARG_ARRAYTYPE_P_COPY(6);
	ArrayType  *rules = PG_GETARG_ARRAYTYPE_P_COPY(7);
	ArrayType  *names = PG_GETARG_ARRAYTYPE_P_COPY(4);
	CheckContext cx;
	SubstituteContext sub;
	Datum	   *sv,
			   *rv;
	bool	   *sn,
			   *rn;
	int			nr,
				i,
				level;
	TupleDesc	tupdesc;
	Oid			user_out;
	bool		user_varlena;

	deconstruct_array(schemes, TEXTOID, -1, false, TYPALIGN_INT, &sv, &sn, &c->n);
	deconstruct_array(rules, TEXTOID, -1, false, TYPALIGN_INT, &rv, &rn, &nr);
	if (c->n != nr || ARR_NDIM(schemes) > 1 || ARR_NDIM(rules) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("arguments \"schemes\" and \"rules\" must be one-dimensional arrays of the same length")));
	CheckScoresArg(fcinfo, relid);
	tupdesc = lookup_rowtype_tupdesc_copy(get_rel_type_id(relid), -1);
	/* user_id goes into the row as it is: it must be of the column's type */
	if (get_fn_expr_argtype(fcinfo->flinfo, 0) != TupleDescAttr(tupdesc, 0)->atttypid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"user_id\" must be of type %s, the type of segmentation.scores.user_id",
						format_type_be(TupleDescAttr(tupdesc, 0)->atttypid))));
	getTypeOutputInfo(TupleDescAttr(tupdesc, 0)->atttypid, &user_out, &user_varlena);
	fmgr_info_cxt(user_out, &c->user_out, fcinfo->flinfo->fn_mcxt);
	if (tupdesc->natts < SCORE_COLUMNS + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("\"%s\" does not have the columns of segmentation.scores", get_rel_name(relid))));
	for (i = 0; i < SCORE_COLUMNS; i++)
		if (TupleDescAttr(tupdesc, i + 1)->atttypid != score_types[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("\"%s\" does not have the columns of segmentation.scores", get_rel_name(relid))));
	/* the user attributes after them: of allowed built-in types only */
	c->nattrs = tupdesc->natts - SCORE_COLUMNS - 1;
	for (i = SCORE_COLUMNS + 1; i < tupdesc->natts; i++)
		if (TupleDescAttr(tupdesc, i)->attisdropped || !AllowedType(TupleDescAttr(tupdesc, i)->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of \"%s\" is not a user attribute of an allowed type", i + 1, get_rel_name(relid))));
	c->attrs_type = InvalidOid;
	c->attrs_map = palloc0(Max(c->nattrs, 1) * sizeof(int));

	c->schemes = palloc(Max(c->n, 1) * sizeof(char *));
	c->rules = palloc(Max(c->n, 1) * sizeof(ExprState *));
	c->prunable = true;
	c->cross_day = true;
	SetCheckContext(&cx, get_rel_namespace(relid), PointerGetDatum(names), fcinfo->flinfo->fn_oid);
	sub.c = c;
	sub.cx = &cx;
	level = PinSettings();
	for (i = 0; i < c->n; i++)
	{
		if (sn[i] || rn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments \"schemes\" and \"rules\" must not contain NULL")));
		c->schemes[i] = TextDatumGetCString(sv[i]);
		if (SchemeIndex(c, c->schemes[i]) != i)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"schemes\" names scheme \"%s\" twice", c->schemes[i])));
	}
	sub.reads = palloc0(Max(c->n, 1) * sizeof(List *));
	for (i = 0; i < c->n; i++)
	{
		Expr	   *expr;

		sub.current = i;
		/*
		 * a scheme's rule holds all its predicates, each one checked within
		 * PREDICATE_MAX_LENGTH by refresh: no limit of its own
		 */
		expr = PlanExpression(SubstituteVocabulary(AnalyzeExpression(TextDatumGetCString(rv[i]), relid,
																	 &cx, TEXTOID, SIZE_MAX), &sub));
		c->rules[i] = ExecInitExpr(expr, NULL);
		FindAtoms((Node *) expr, c);
	}
	AtEOXact_GUC(true, level);
	/* the rules run in dependency order; their results for the user, by scheme */
	{
		char	   *state = palloc0(Max(c->n, 1));
		int			next = 0;

		c->order = palloc(Max(c->n, 1) * sizeof(int));
		for (i = 0; i < c->n; i++)
			OrderSchemes(c, sub.reads, state, i, &next);
	}
	c->result_gen = palloc0(Max(c->n, 1) * sizeof(uint64));
	c->econtext = CreateStandaloneExprContext();
	/* the rules' parameters: the vocabulary's values, computed when read */
	c->params = makeParamList(c->nvocab);
	c->params->paramFetch = VocabularyFetch;
	c->params->paramFetchArg = c;
	c->econtext->ecxt_param_list_info = c->params;
	c->names_raw = (struct varlena *) names;
	c->slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	c->scores = ScoresCacheCreate(fcinfo->flinfo->fn_mcxt);
	c->last = ScoresCacheCreate(fcinfo->flinfo->fn_mcxt);
	if (get_call_result_type(fcinfo, NULL, &c->move_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_assign_segments must return a row type");
	c->move_desc = BlessTupleDesc(CreateTupleDescCopy(c->move_desc));
	c->moves_cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "segment moves", ALLOCSET_SMALL_SIZES);
	c->schemes_raw = (struct varlena *) schemes;
	c->rules_raw = (struct varlena *) rules;
	c->rules_fixed = get_fn_expr_arg_stable(fcinfo->flinfo, 6) && get_fn_expr_arg_stable(fcinfo->flinfo, 7) &&
		get_fn_expr_arg_stable(fcinfo->flinfo, 4);
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * Name the scheme whose rule failed and the user it failed for (refresh
 * reads the user back from this line into refresh_runs.error_user_id).  The
 * user id's type is one of the built-in types the state allows.
 */
static void
RuleErrorContext(void *arg)
{
	RulesCache *c = (RulesCache *) arg;

	errcontext("segment rules of scheme \"%s\" for user %s", c->schemes[c->current],
			   OutputFunctionCall(&c->user_out, c->slot->tts_values[0]));
}

/*
 * an atom's value with these recency_days and tenure_days, and days_since
 * at as_of: -1 for NULL
 */
static int
AtomValue(RulesCache *c, ExprState *atom, const Datum *scores, Datum behavior, TimestampTz as_of)
{
	bool		isnull;
	Datum		d;

	c->slot->tts_values[1 + SCORE_RECENCY_DAYS] = scores[SCORE_RECENCY_DAYS];
	c->slot->tts_values[1 + SCORE_TENURE_DAYS] = scores[SCORE_TENURE_DAYS];
	VocabularyFor(c, behavior, c->cur_b, as_of);
	d = ExecEvalExpr(atom, c->econtext, &isnull);
	return isnull ? -1 : DatumGetBool(d);
}

/*
 * Whether the rules give a user whose behavior is the one of the last
 * refresh what they gave then, at last_as_of with the breakpoints of c->last
 * (see the top of the file).  Only for prunable rules, on the same UTC day
 * or, when the rules allow it (c->cross_day), for a user whose last event
 * is at least c->max_window days before the last refresh's UTC day.
 */
static bool
Unchanged(RulesCache *c, Datum behavior, TimestampTz as_of, TimestampTz last_as_of)
{
	Behavior	h;
	Datum		was[SCORE_COLUMNS],
				now[SCORE_COLUMNS];
	bool		was_null[SCORE_COLUMNS],
				now_null[SCORE_COLUMNS];
	ListCell   *lc;
	int			i;
	int32		day = BehaviorDayOf(as_of),
				last_day = BehaviorDayOf(last_as_of);

	BehaviorHeaderFromDatum(behavior, &h);
	if (day != last_day &&
		!(c->cross_day && day > last_day && (int64) BehaviorDayOf(h.last_seen) <= (int64) last_day - c->max_window))
		return false;
	ScoresTimeDependent(c->last, &h, last_as_of, was, was_null);
	ScoresTimeDependent(c->scores, &h, as_of, now, now_null);
	if (c->reads_rfm)
		for (i = SCORE_R; i <= SCORE_M; i++)
			if (was_null[i] != now_null[i] ||
				(!was_null[i] && DatumGetInt32(was[i]) != DatumGetInt32(now[i])))
				return false;
	if (c->atoms == NIL)
		return true;
	ExecClearTuple(c->slot);
	memset(c->slot->tts_isnull, true, c->slot->tts_tupleDescriptor->natts * sizeof(bool));
	c->slot->tts_isnull[1 + SCORE_RECENCY_DAYS] = c->slot->tts_isnull[1 + SCORE_TENURE_DAYS] = false;
	ExecStoreVirtualTuple(c->slot);
	c->econtext->ecxt_scantuple = c->slot;
	/* (days_since atoms decode the behavior, once) */
	c->cur_b = NULL;
	foreach(lc, c->atoms)
		if (AtomValue(c, lfirst(lc), was, behavior, last_as_of) != AtomValue(c, lfirst(lc), now, behavior, as_of))
			return false;
	return true;
}

/*
 * The entry of current for scheme, ["segment", "since"] (NULL when there is
 * none), and whether its segment is this one (text)
 */
static JsonbValue *
StoredEntry(Jsonb *current, const char *scheme, Datum segment, bool *same)
{
	JsonbValue *stay = getKeyJsonValueFromContainer(&current->root, scheme, strlen(scheme), NULL);
	JsonbValue *seg = NULL;

	if (stay && stay->type == jbvBinary && JsonContainerIsArray(stay->val.binary.data))
		seg = getIthJsonbValueFromContainer(stay->val.binary.data, 0);
	*same = seg != NULL && seg->type == jbvString &&
		(Size) seg->val.string.len == VARSIZE_ANY_EXHDR(DatumGetPointer(segment)) &&
		memcmp(seg->val.string.val, VARDATA_ANY(DatumGetPointer(segment)), seg->val.string.len) == 0;
	return stay;
}

/*
 * The user's segments from now on: {"scheme": ["segment", "since"]} for
 * every scheme, since kept where the segment stays, as_of where it changes
 */
static Jsonb *
NewSegments(RulesCache *c, Jsonb *current, Datum *segments, TimestampTz as_of)
{
	JsonbParseState *state = NULL;
	char	   *since = JsonEncodeDateTime(NULL, TimestampTzGetDatum(as_of), TIMESTAMPTZOID, NULL);
	JsonbValue	v;
	int			i;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < c->n; i++)
	{
		bool		same;
		JsonbValue *stay = StoredEntry(current, c->schemes[i], segments[i], &same);

		v.type = jbvString;
		v.val.string.val = c->schemes[i];
		v.val.string.len = strlen(c->schemes[i]);
		pushJsonbValue(&state, WJB_KEY, &v);
		if (same)
		{
			pushJsonbValue(&state, WJB_VALUE, stay);
			continue;
		}
		pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
		v.val.string.val = VARDATA_ANY(DatumGetPointer(segments[i]));
		v.val.string.len = VARSIZE_ANY_EXHDR(DatumGetPointer(segments[i]));
		pushJsonbValue(&state, WJB_ELEM, &v);
		v.val.string.val = since;
		v.val.string.len = strlen(since);
		pushJsonbValue(&state, WJB_ELEM, &v);
		pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* a move in one scheme: from the stay current holds (if any) to segment to */
typedef struct Move
{
	char	   *scheme;
	JsonbValue *stay;			/* the stored ["segment", "since"], or NULL */
	Datum		to;				/* the new segment (text), or 0: the scheme is gone */
} Move;

static int
MoveCmp(const void *a, const void *b)
{
	return strcmp(((const Move *) a)->scheme, ((const Move *) b)->scheme);
}

/* element i of a stored stay as text, when it is a string */
static bool
StayText(JsonbValue *stay, int i, char **out)
{
	JsonbValue *v;

	if (stay == NULL || stay->type != jbvBinary || !JsonContainerIsArray(stay->val.binary.data))
		return false;
	v = getIthJsonbValueFromContainer(stay->val.binary.data, i);
	if (v == NULL || v->type != jbvString)
		return false;
	*out = pnstrdup(v->val.string.val, v->val.string.len);
	return true;
}

/* a move as a result row; segments (the user's new object) or NULL */
static Datum
MoveRow(RulesCache *c, const Move *m, Jsonb *segments)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	char	   *str;

	values[0] = PointerGetDatum(segments);
	nulls[0] = segments == NULL;
	values[1] = CStringGetTextDatum(m->scheme);
	if (StayText(m->stay, 0, &str))
		values[2] = CStringGetTextDatum(str);
	else
		nulls[2] = true;
	if (StayText(m->stay, 1, &str))
		values[3] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(str),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	else
		nulls[3] = true;
	values[4] = m->to;
	nulls[4] = m->to == (Datum) 0;
	return HeapTupleGetDatum(heap_form_tuple(c->move_desc, values, nulls));
}

/*
 * The moves of a user whose rules gave segments (one per scheme of c), in
 * c->moves: one per scheme whose segment changed, and one per scheme of
 * current that is gone, in the order of the scheme names' bytes; the first
 * carries the user's segments from now on.  Returns their number.
 */
static int
CollectMoves(RulesCache *c, Jsonb *current, Datum *segments, TimestampTz as_of)
{
	MemoryContext old = MemoryContextSwitchTo(c->moves_cxt);
	Move	   *moves = palloc((c->n + JsonContainerSize(&current->root)) * sizeof(Move));
	int			n = 0,
				i;
	JsonbIterator *it = JsonbIteratorInit(&current->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	for (i = 0; i < c->n; i++)
	{
		bool		same;
		JsonbValue *stay = StoredEntry(current, c->schemes[i], segments[i], &same);

		if (same)
			continue;
		moves[n].scheme = c->schemes[i];
		moves[n].stay = stay;
		moves[n].to = segments[i];
		n++;
	}
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (i = 0; i < c->n && !known; i++)
			known = strcmp(key, c->schemes[i]) == 0;
		if (known)
			continue;
		moves[n].scheme = key;
		moves[n].stay = getKeyJsonValueFromContainer(&current->root, key, strlen(key), NULL);
		moves[n].to = (Datum) 0;
		n++;
	}
	if (n > 0)
	{
		Jsonb	   *now = NewSegments(c, current, segments, as_of);

		qsort(moves, n, sizeof(Move), MoveCmp);
		c->moves = palloc(n * sizeof(Datum));
		for (i = 0; i < n; i++)
			c->moves[i] = MoveRow(c, &moves[i], i == 0 ? now : NULL);
	}
	MemoryContextSwitchTo(old);
	return n;
}

/*
 * The user attributes of the user into the slot (columns SCORE_COLUMNS + 2
 * on): from attrs, a row whose columns after the first (user_id) are those
 * columns, of the same types in the same order (a row of
 * segmentation.user_attributes); all NULL when attrs is NULL (a user with no
 * row in the attribute table).  The row type is checked once per query.
 */
static void
SetAttributes(RulesCache *c, FunctionCallInfo fcinfo, TupleTableSlot *slot)
{
	HeapTupleHeader td;
	HeapTupleData tuple;
	int			k;

	if (c->nattrs == 0)
		return;
	if (PG_NARGS() < 13 || PG_ARGISNULL(12))
	{
		for (k = 0; k < c->nattrs; k++)
		{
			slot->tts_values[SCORE_COLUMNS + 1 + k] = (Datum) 0;
			slot->tts_isnull[SCORE_COLUMNS + 1 + k] = true;
		}
		return;
	}
	td = PG_GETARG_HEAPTUPLEHEADER(12);
	if (HeapTupleHeaderGetTypeId(td) != c->attrs_type || HeapTupleHeaderGetTypMod(td) != c->attrs_typmod)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td), HeapTupleHeaderGetTypMod(td));
		TupleDesc	scores = slot->tts_tupleDescriptor;
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		int			next = 1;	/* after user_id */

		for (k = 0; k < c->nattrs; k++)
		{
			Form_pg_attribute want = TupleDescAttr(scores, SCORE_COLUMNS + 1 + k);

			while (next < desc->natts && TupleDescAttr(desc, next)->attisdropped)
				next++;
			if (next >= desc->natts || TupleDescAttr(desc, next)->atttypid != want->atttypid ||
				strcmp(NameStr(TupleDescAttr(desc, next)->attname), NameStr(want->attname)) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("argument \"attributes\" does not have the user attributes of segmentation.scores"),
						 errdetail("Column \"%s\" of type %s is missing or differs.", NameStr(want->attname),
								   format_type_be(want->atttypid))));
			c->attrs_map[k] = next++;
		}
		while (next < desc->natts && TupleDescAttr(desc, next)->attisdropped)
			next++;
		if (next != desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("argument \"attributes\" does not have the user attributes of segmentation.scores"),
					 errdetail("It has more columns.")));
		c->attrs_natts = desc->natts;
		c->attrs_values = palloc(desc->natts * sizeof(Datum));
		c->attrs_nulls = palloc(desc->natts * sizeof(bool));
		c->attrs_type = HeapTupleHeaderGetTypeId(td);
		c->attrs_typmod = HeapTupleHeaderGetTypMod(td);
		MemoryContextSwitchTo(old);
		ReleaseTupleDesc(desc);
	}
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(c->attrs_type, c->attrs_typmod);

		tuple.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = td;
		/* (a row of another shape under the same type would be caught here) */
		if (desc->natts != c->attrs_natts)
			elog(ERROR, "row type of argument \"attributes\" changed during the query");
		heap_deform_tuple(&tuple, desc, c->attrs_values, c->attrs_nulls);
		ReleaseTupleDesc(desc);
	}
	for (k = 0; k < c->nattrs; k++)
	{
		slot->tts_values[SCORE_COLUMNS + 1 + k] = c->attrs_values[c->attrs_map[k]];
		slot->tts_isnull[SCORE_COLUMNS + 1 + k] = c->attrs_nulls[c->attrs_map[k]];
	}
}

/* the set of moves in progress was abandoned (a rescan, the end of the query) */
static void
MovesShutdown(Datum arg)
{
	RulesCache *c = (RulesCache *) DatumGetPointer(arg);

	c->nmoves = c->next_move = 0;
	c->shutdown_set = false;
}

/*
 * _assign_segments(user_id, b, current jsonb, as_of, feature_names,
 * rfm_breakpoints, schemes text[], rules text[], scores regclass,
 * behavior_changed, last_as_of, last_breakpoints): the user's moves, rules[k]
 * deciding schemes[k] from a row of the scores table (user_id, then
 * ScoresCompute's columns): a row (segments, scheme, from_segment,
 * from_entered_at, to_segment) per scheme whose segment changes or that is
 * gone (to_segment NULL), the first one carrying the user's segments from
 * now on, {"scheme": ["segment", "since"]} (see NewSegments); no row for a
 * user who stays in every scheme, which is most users at most refreshes.
 * Unless behavior_changed, current must be what the same rules gave the same
 * behavior at last_as_of with last_breakpoints: users who provably stay are
 * then not evaluated.
 *
 * The rows are returned one per call (value per call, so that the
 * executor's ProjectSet takes them without a tuplestore per user), with the
 * call in a query's select list: a FROM item would set up a function scan for
 * every user.
 */
PG_FUNCTION_INFO_V1(assign_segments);
Datum
assign_segments(PG_FUNCTION_ARGS)
{
	RulesCache *c = (RulesCache *) fcinfo->flinfo->fn_extra;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Behavior	tmp;
	const Behavior *b;
	Jsonb	   *current;
	TupleTableSlot *slot;
	Datum	   *result;
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(3),
				last_as_of = PG_GETARG_TIMESTAMPTZ(10);
	bool		moved = false;
	ErrorContextCallback errcallback;
	int			i,
				k;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_ValuePerCall))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	/*
	 * Not STRICT, for its last argument (the user's attributes, NULL for a
	 * user without any): as STRICT did, a NULL among the others gives no row
	 */
	for (i = 0; i < Min(PG_NARGS(), 12); i++)
		if (PG_ARGISNULL(i))
		{
			rsinfo->isDone = ExprEndResult;
			PG_RETURN_NULL();
		}

	/* the next move of the same user, or the end of that user's set */
	if (c != NULL && c->nmoves > 0)
	{
		if (c->next_move < c->nmoves)
		{
			rsinfo->isDone = ExprMultipleResult;
			return c->moves[c->next_move++];
		}
		c->nmoves = c->next_move = 0;
		rsinfo->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}

	if (c == NULL || !(c->rules_fixed || (SameVarlena(PG_GETARG_DATUM(6), c->schemes_raw) &&
										   SameVarlena(PG_GETARG_DATUM(7), c->rules_raw) &&
										   SameVarlena(PG_GETARG_DATUM(4), c->names_raw))))
		fcinfo->flinfo->fn_extra = c = CompileRules(fcinfo, PG_GETARG_OID(8));

	CheckTimestampArg(as_of, "as_of");
	CheckTimestampArg(last_as_of, "last_as_of");
	if (!c->context_set)
	{
		ScoresSetContext(c->scores, PG_GETARG_DATUM(4), PG_GETARG_DATUM(5), false);
		ScoresSetContext(c->last, PG_GETARG_DATUM(4), PG_GETARG_DATUM(11), false);
		c->context_set = get_fn_expr_arg_stable(fcinfo->flinfo, 4) &&
			get_fn_expr_arg_stable(fcinfo->flinfo, 5) && get_fn_expr_arg_stable(fcinfo->flinfo, 11);
	}
	if (!PG_GETARG_BOOL(9) && c->prunable &&
		(BehaviorDayOf(as_of) == BehaviorDayOf(last_as_of) || c->cross_day) &&
		Unchanged(c, PG_GETARG_DATUM(1), as_of, last_as_of))
	{
		ResetExprContext(c->econtext);
		rsinfo->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}

	/* (a user who provably stays needs not even current: fetched only now) */
	current = PG_GETARG_JSONB_P(2);
	if (!JB_ROOT_IS_OBJECT(current))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"current\" must be a jsonb object: {\"scheme\": [\"segment\", ...]}")));
	b = BehaviorFromDatum(PG_GETARG_DATUM(1), &tmp);
	VocabularyFor(c, PG_GETARG_DATUM(1), b, as_of);
	slot = c->slot;
	ExecClearTuple(slot);
	slot->tts_values[0] = PG_GETARG_DATUM(0);
	slot->tts_isnull[0] = false;
	ScoresCompute(c->scores, b, as_of, slot->tts_values + 1, slot->tts_isnull + 1);
	SetAttributes(c, fcinfo, slot);
	ExecStoreVirtualTuple(slot);
	c->econtext->ecxt_scantuple = slot;

	result = palloc(Max(c->n, 1) * sizeof(Datum));
	errcallback.callback = RuleErrorContext;
	errcallback.arg = c;
	errcallback.previous = error_context_stack;
	/* in dependency order: in_segment reads what the rules before gave */
	c->results = result;
	for (k = 0; k < c->n; k++)
	{
		bool		isnull,
					same;

		i = c->order[k];
		c->current = i;
		error_context_stack = &errcallback;
		result[i] = ExecEvalExpr(c->rules[i], c->econtext, &isnull);
		error_context_stack = errcallback.previous;
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the rule of scheme \"%s\" gave no segment", c->schemes[i])));
		c->result_gen[i] = c->gen;
		if (!moved)				/* else the stored segments matter no more */
		{
			StoredEntry(current, c->schemes[i], result[i], &same);
			moved = !same;
		}
	}
	/* a user in a scheme that is gone leaves it */
	if (!moved && (int) JsonContainerSize(&current->root) == c->n)
	{
		ResetExprContext(c->econtext);
		rsinfo->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}
	MemoryContextReset(c->moves_cxt);
	c->nmoves = CollectMoves(c, current, result, as_of);
	ResetExprContext(c->econtext);
	c->next_move = 1;
	if (c->nmoves == 0)			/* cannot be: moved, or a scheme is gone */
		elog(ERROR, "_assign_segments found a move but collected none");
	if (c->nmoves == 1)
	{
		/* one row, and the set ends there (ProjectSet takes it so) */
		c->nmoves = c->next_move = 0;
		rsinfo->isDone = ExprSingleResult;
	}
	else
	{
		if (!c->shutdown_set)
		{
			RegisterExprContextCallback(rsinfo->econtext, MovesShutdown, PointerGetDatum(c));
			c->shutdown_set = true;
		}
		rsinfo->isDone = ExprMultipleResult;
	}
	return c->moves[0];
}

/*
 * events_in(feature text [, window]), days_in, value_in, first_use, last_use,
 * days_since, periods_with: the vocabulary's predicate forms.  Inside a
 * predicate _assign_segments computes them from the user's behavior and the
 * refresh's as_of (SubstituteVocabulary); called anywhere else there is no
 * user nor as_of, and this says what to call instead.
 */
PG_FUNCTION_INFO_V1(rule_vocabulary);
Datum
rule_vocabulary(PG_FUNCTION_ARGS)
{
	char	   *name = get_func_name(fcinfo->flinfo->fn_oid);

	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s(feature, ...) can only be used inside a segment predicate", name ? name : "this function"),
			 errdetail("A predicate is evaluated for each user at each refresh, as of the refresh's as_of."),
			 errhint("In a query, call the accessor on a behavior with a feature id and an as_of, e.g. "
					 "segmentation.events_in(p.behavior, f.id, now(), '7 days') "
					 "FROM segmentation.profiles p, segmentation.features f WHERE f.name = 'login'.")));
	PG_RETURN_NULL();
}

/*
 * in_segment(scheme, segment): a nested segment's predicate form.  Inside a
 * predicate _assign_segments reads the segment the scheme's rule gave the
 * user in the same refresh (SubstituteVocabulary); anywhere else there is
 * no user, and this says where to read segments instead.
 */
PG_FUNCTION_INFO_V1(rule_in_segment);
Datum
rule_in_segment(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("in_segment(scheme, segment) can only be used inside a segment predicate"),
			 errdetail("A predicate is evaluated for each user at each refresh, after the rules of the schemes it reads."),
			 errhint("In a query, read segmentation.memberships (scheme, user_id, segment).")));
	PG_RETURN_NULL();
}
