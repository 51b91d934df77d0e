-- The extension's catalog: every object documented, functions declared as
-- strictly as they can be.
SET search_path = segmentation, public;

-- every function, aggregate and type of the extension has a COMMENT
SELECT d.classid::regclass AS catalog, pg_describe_object(d.classid, d.objid, 0) AS undocumented
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segmentation')
  AND d.deptype = 'e'
  AND obj_description(d.objid, d.classid::regclass::text) IS NULL
  AND NOT (d.classid = 'pg_type'::regclass AND (SELECT typelem <> 0 FROM pg_type WHERE oid = d.objid))
ORDER BY 2;

-- every C function is parallel safe and immutable (check_predicate,
-- _predicate_cost and _assign_segments read the catalog: stable; the rule vocabulary's predicate
-- forms, events_in(feature text, ...) and the like, and in_segment(scheme,
-- segment), only raise an error outside a predicate: stable, not strict,
-- never folded by the planner; _predicate_uses and _predicate_columns check as check_predicate); all
-- but the aggregate support functions and
-- behavior_scores (NULL rfm_breakpoints: NULL RFM scores only) and
-- _assign_segments (its last argument, a user's attributes, is NULL for a
-- user without any; a NULL among the others gives no row) are strict;
-- refresh's operations (src/operations.c: a background worker, the statement
-- timer; src/guard.c: locks, a guarded statement) act on the server, not on
-- values: volatile, parallel unsafe; so does the pseudonym key's random
-- source (src/privacy.c), the capture trigger, which writes the queue
-- (src/capture.c), and _clean_citus_settings and _citus_lock_timeout, which
-- have Citus reset or set the settings of the workers' connections, and
-- _shard_moves_lock, which takes Citus's lock on moving shards
-- (src/node.c); _coordinator_only reads which Citus node this is
-- (src/node.c), and the keyed hash and its lookups read the key and the
-- tables of forgotten and opted-out users (src/privacy.c): stable, and
-- _is_forgotten, _is_opted_out are false for NULL
SELECT p.oid::regprocedure AS func, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p
WHERE p.pronamespace = 'segmentation'::regnamespace
  AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
  AND p.proname NOT IN ('_log_failed_run', '_refresh_timeout_begin', '_refresh_timeout_end', '_lock_relation', '_execute_guarded',
                        '_new_pseudonym_key', '_capture', '_clean_citus_settings', '_citus_lock_timeout',
                        '_shard_moves_lock')
  AND NOT (p.prosrc IN ('rule_vocabulary', 'rule_in_segment') AND p.provolatile = 's' AND p.proparallel = 's' AND p.proargtypes[0] = 'text'::regtype)
  AND ((p.provolatile <> 'i' AND p.proname NOT IN ('check_predicate', '_check_condition', '_predicate_cost', '_coordinator_only', '_pseudonym', '_is_forgotten', '_is_opted_out', '_predicate_uses', '_predicate_columns', '_assign_segments')) OR p.proparallel <> 's'
       OR (NOT p.proisstrict AND p.proname NOT IN ('behavior_agg_trans', 'behavior_merge', 'behavior_scores', '_assign_segments', '_is_forgotten', '_is_opted_out',
                                                   'rfm_breakpoints_trans', 'rfm_breakpoints_combine', 'rfm_breakpoints_final') AND p.prokind = 'f'
           AND p.oid NOT IN (SELECT aggtransfn FROM pg_aggregate UNION SELECT aggcombinefn FROM pg_aggregate
                             UNION SELECT aggfinalfn FROM pg_aggregate)))
ORDER BY p.oid::regprocedure::text;

-- every aggregate has a combine function and a real state type, not internal
-- (parallel plans and Citus can split them all: Citus ships states through
-- the type's text form and refuses internal ones; test/citus.py), refresh's
-- own _analysis_cells included (src/analyses.c); the variable-length states
-- declare SSPACE 8192, as PostgreSQL assumes for an internal state (a
-- hashed GROUP BY takes groups in batches that stay in cache: review 19,
-- R19-3; bench/README.md, "SSPACE")
SELECT a.aggfnoid::regprocedure AS aggregate, a.aggcombinefn, a.aggtranstype::regtype, a.aggserialfn, a.aggdeserialfn,
       a.aggtransspace
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.pronamespace = 'segmentation'::regnamespace
ORDER BY a.aggfnoid::regprocedure::text;

-- the extension is not relocatable and owns its schema
SELECT extname, extrelocatable FROM pg_extension WHERE extname = 'segmentation';
SELECT pg_describe_object(classid, objid, 0) FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segmentation') AND classid = 'pg_namespace'::regclass;

-- every PL/pgSQL function runs with Citus's EXPLAIN of the workers' plans
-- off (sql/99-privileges.sql: Citus read past a PL/pgSQL statement's
-- parameters under auto_explain; test/citus.py nested_auto_explain)
SELECT p.oid::regprocedure FROM pg_proc p
WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
  AND NOT 'citus.explain_distributed_queries=off' = ANY (coalesce(p.proconfig, '{}'));

-- every SECURITY DEFINER function pins its search_path
SELECT p.oid::regprocedure FROM pg_proc p
WHERE p.pronamespace = 'segmentation'::regnamespace AND p.prosecdef
  AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');
