#!/usr/bin/python3
"""plpgsql_check suite: every PL/pgSQL function of schema segmentation, clean.

In a fresh database with the extension and plpgsql_check, first builds the
state that tracking creates at run time (an events table tracked, a feature,
the rfm preset, an experiment, one refresh), so the tables and views that
_create_state makes exist and the functions that use them are checked for
real rather than excused.  Then runs plpgsql_check_function_tb on every
plpgsql function in schema segmentation (trigger functions with a relation
they are attached to), with the other, extra, security and compatibility
warnings on (performance warnings off: advice, not defects).

Fails on every error or warning not listed in ACCEPTED below, each with a
one-line reason.  Uses the libpq environment (PGHOST, PGPORT, PGUSER).
"""
import re

from harness import Suite, drop_database, fresh_database

DB = "segmentation_plpgsql_check"

# (function name, message pattern, query pattern or None, reason): findings that are expected
ACCEPTED = [
    ("refresh", r"text type variable is not sanitized", r"CREATE TEMP TABLE _(gone|attr_changed) \(user_id %s",
     "%s is sources.user_type, a regtype rendered (quoted) by its output function"),
    ("refresh", r"text type variable is not sanitized", r"_hmac_sha256\(%s, segmentation\._id_bytes\(b\.user_id",
     "the list's relation and the key's scalar subquery are _hidden_users_sql's constants"),
    ("refresh", r'relation "_(gone|moved|attr_changed|forgotten_now|opted_out_now)" does not exist', None,
     "temporary tables created earlier in the same run (by EXECUTE: their user id type is the source's)"),
    ("_refresh_attributes", r'relation "_attr_changed" does not exist', None,
     "refresh's temporary table, created by EXECUTE in the run that calls it (its user id type is the source's)"),
    ("define_funnel", r'name of parameter "window" is reserved keyword', None,
     "DESIGN's signature, define_funnel(name, steps, window, modes), as window_funnel's argument; the body quotes it"),
    ("_analysis_compute", r'OUT variable "\w+" is maybe unmodified', None,
     "RETURN QUERY EXECUTE of a constant text but for two constant fragments (the listed users): its columns are the OUT variables"),
    ("_rebuild_views", r"text type variable is not sanitized", r"CREATE VIEW segmentation\.user_scores AS SELECT %s%s FROM segmentation\._user_scores_rows\(\)",
     "r.sel and r.coldef are format('u.c%s AS %I') of user_scores' own column names and format('c%s %s') of "
     "format_type() of their types, each from the catalog or score_columns()"),
    ("_read_paths", r"text type variable is not sanitized", None,
     "each %s is a constant of the function's VALUES list (a view's query, its grantees), or the columns of the "
     "extension's own view, each format('%I %s') of its name and format_type()"),
    ("_analysis_delta_end", r'relation "_analysis_delta" does not exist', None,
     "the temporary table _analysis_delta_begin created earlier in the same refresh"),
    ("_materialize_experiments", r'relation "pg_temp\._readout_cells" does not exist', None,
     "the temporary table the function creates itself before the statements that use it"),
    ("schedule_refresh", r'schema "cron" does not exist', None,
     "pg_cron lives in the one database named by cron.database_name; the function checks for it before use"),
    ("_refresh_status", r'relation "cron\.job" does not exist|unmodified OUT variable "schedule"', None,
     "pg_cron lives in the one database named by cron.database_name; the function reads cron.job only when pg_cron is there"),
    ("unschedule_refresh", r'schema "cron" does not exist|relation "cron\.job" does not exist', None,
     "pg_cron lives in the one database named by cron.database_name; the function checks for it before use"),
    ("_citus_member", r'relation "pg_catalog\.pg_dist_partition" does not exist', None,
     "Citus's catalog, there only with Citus; the function reads it only when it exists"),
    ("_citus_unsupported", r'relation "pg_catalog\.pg_dist_partition" does not exist'
     r'|function pg_catalog\.citus_is_coordinator\(\) does not exist|record "d" is not assigned yet'
     r'|unused variable "d"|unused parameter "user_column"', None,
     "Citus's catalog and function (d is what they return; user_column is compared with it), read only when Citus "
     "is there: it returns before without"),
    ("_citus_queue", r'relation "pg_catalog\.pg_dist_partition" does not exist'
     r'|function pg_catalog\.create_distributed_table\(', None,
     "Citus's catalog and function, there only with Citus: called only for a source Citus distributes"),
    ("_citus_shard_truncate_triggers", r'relation "pg_catalog\.pg_dist_shard" does not exist'
     r'|function pg_catalog\.(master_run_on_worker|citus_backend_gpid)\(', None,
     "Citus's catalog and functions, there only with Citus: called only for a table Citus distributes"),
    ("_hold_citus_moves", r'relation "pg_catalog\.pg_dist_partition" does not exist', None,
     "Citus's catalog, there only with Citus; the function reads it only when it exists"),
    ("_create_state", r'function pg_catalog\.create_(distributed|reference)_table\(', None,
     "Citus's functions, called only when a tracked table is one Citus distributes"),
    ("_absorb_citus_queues", r'relation "segmentation\._batch_parts" does not exist', None,
     "refresh's work table on Citus, which _create_state makes only when Citus distributes the state: refresh calls "
     "the function only then"),
    ("_sync_on_nodes", r'relation "segmentation\._key_on_nodes" does not exist'
     r'|relation "pg_catalog\.pg_dist_partition" does not exist', None,
     "Citus's catalog, and the copy on every node that _create_state makes only when Citus distributes the state: "
     "refresh calls the function only then"),
    ("_forget_user", r'relation "segmentation\._(forgotten|opt_outs)_on_nodes" does not exist', None,
     "the copies on every node that _create_state makes only when Citus distributes the state: written only when "
     "they exist"),
    ("opt_out", r'relation "segmentation\._opt_outs_on_nodes" does not exist', None,
     "the copy on every node that _create_state makes only when Citus distributes the state: written only when it exists"),
    ("opt_in", r'relation "segmentation\._opt_outs_on_nodes" does not exist', None,
     "the copy on every node that _create_state makes only when Citus distributes the state: written only when it exists"),
    ("_install_attributes", r'function pg_catalog\.create_distributed_table\(', None,
     "Citus's function, called only when Citus distributes the state"),
    ("_install_capture_triggers", r"text type variable is not sanitized", r"EXECUTE FUNCTION %s\(%s\)",
     "the trigger's argument list is quote_literal() of each argument (_capture_args), joined by commas"),
]

suite = Suite("plpgsql_check suite", stop_on_failure=False)
check = suite.check
conn, cur = fresh_database(DB)
cur.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'plpgsql_check'")
if cur.fetchone()[0] == 0:
    check("plpgsql_check is available (Debian: postgresql-15-plpgsql-check)", False)
    suite.finish()
cur.execute("CREATE EXTENSION plpgsql_check")

# the state tracking creates at run time
cur.execute("""
    CREATE TABLE public.events (user_id bigint, ts timestamptz, event text, amount float8);
    INSERT INTO public.events
    SELECT u, '2024-01-01'::timestamptz + (d || ' days')::interval, e, CASE WHEN e = 'purchase' THEN 10 END
    FROM generate_series(1, 20) u, generate_series(0, 9) d, unnest('{signed_up,view,purchase}'::text[]) e
    WHERE (u + d) % 3 = 0;
    CREATE TABLE public.assignments (user_id bigint, variant text, assigned_at timestamptz);
    INSERT INTO public.assignments SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'b' END, '2024-01-03'
    FROM generate_series(1, 20) u;
    SELECT segmentation.track('public.events', 'user_id', 'ts', 'event', 'amount');
    SELECT segmentation.define_feature('viewing', '{view}');
    SELECT segmentation.use_preset('rfm');
    SELECT segmentation.define_funnel('f', '{viewing, viewing}', '1 day');
    SELECT segmentation.define_experiment('exp', 'public.assignments', 'user_id', 'variant', 'assigned_at',
                                          control => 'control', conversion_event => 'purchase');
    CREATE TABLE public.accounts (user_id bigint PRIMARY KEY, plan text);
    INSERT INTO public.accounts SELECT u, 'pro' FROM generate_series(1, 20) u;
    SELECT segmentation.track_users('public.accounts', 'user_id');
    SELECT segmentation.refresh(as_of => '2024-02-01');
""")

# every plpgsql function of the schema; a trigger function with the relation
# and the transition tables of the trigger that uses it with the most of them
cur.execute("""
    SELECT p.oid, p.proname, p.oid::regprocedure::text, p.prorettype = 'trigger'::regtype,
           t.tgrelid, t.tgoldtable, t.tgnewtable
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
    LEFT JOIN LATERAL (
        SELECT t.tgrelid, t.tgoldtable, t.tgnewtable FROM pg_trigger t WHERE t.tgfoid = p.oid
        ORDER BY (t.tgoldtable IS NOT NULL)::int + (t.tgnewtable IS NOT NULL)::int DESC, t.tgrelid LIMIT 1) t ON true
    WHERE n.nspname = 'segmentation' AND l.lanname = 'plpgsql'
    ORDER BY p.proname, p.oid""")
functions = cur.fetchall()
print(f"checking {len(functions)} plpgsql functions of schema segmentation")
used = set()
for oid, name, signature, is_trigger, relid, oldtable, newtable in functions:
    if is_trigger and relid is None:
        check(f"{signature}: a trigger function attached to a relation", False,
              "(no trigger uses it, so plpgsql_check cannot check it)")
        continue
    cur.execute("""
        SELECT level, message, detail, lineno, statement, query
        FROM plpgsql_check_function_tb(%s, COALESCE(%s, 0), fatal_errors => false,
                                       other_warnings => true, performance_warnings => false,
                                       extra_warnings => true, security_warnings => true,
                                       compatibility_warnings => true,
                                       oldtable => %s, newtable => %s)""", (oid, relid, oldtable, newtable))
    problems = []
    for level, message, detail, lineno, statement, query in cur.fetchall():
        accepted = [i for i, (fn, pattern, qpattern, _) in enumerate(ACCEPTED)
                    if fn == name and re.search(pattern, message)
                    and (qpattern is None or re.search(qpattern, query or "", re.S))]
        if accepted:
            used.add(accepted[0])
            continue
        problems.append(f"\n    {level} at line {lineno} ({statement}): {message}"
                        + (f"; {detail}" if detail else "") + (f"\n      query: {query}" if query else ""))
    what = signature + (f" (trigger on {relid})" if is_trigger else "")
    check(what, not problems, "".join(problems))

# On Citus, a caller's SET LOCAL reaches the worker connections a SECURITY
# DEFINER function uses as the extension's owner (src/node.c): every one a
# role calls has them reset first (but for the coordinator check).  Not
# those that read and write only the coordinator's own tables (the attribute
# capture trigger writes attribute_queue), nor the event triggers (what they
# run on Citus, _untrack and the capture's install, resets first):
LOCAL_ONLY = {"_attribute_readable", "_capture_attributes", "_on_sql_drop", "_on_alter_table", "_on_attribute_ddl"}
cur.execute("""
    SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prosecdef AND NOT p.proname = ANY (%s)
      AND p.prosrc !~ '\nBEGIN\s+(PERFORM segmentation\._coordinator_only\([^;]*\);\s+)?PERFORM segmentation\._clean_citus_settings\(\);'
    ORDER BY 1""", (list(LOCAL_ONLY),))
missing = [r[0] for r in cur.fetchall()]
check("every SECURITY DEFINER function resets the Citus workers' settings first (_clean_citus_settings)",
      not missing, missing)

for i, (fn, pattern, _, reason) in enumerate(ACCEPTED):
    print(f"{'accepted' if i in used else 'NOTE: not needed any more, remove it:'} {fn}: /{pattern}/: {reason}")
conn.close()
drop_database(DB)
suite.finish()
