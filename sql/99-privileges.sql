-- Privileges, deny by default: nothing in the schema is executable or
-- readable by PUBLIC, except the C core a power user calls on any query
-- (named below); each role is granted what it is for.  doc/security.md says
-- who can do what and what runs as whom.

GRANT USAGE ON SCHEMA segmentation TO segmentation_admin, segmentation_analyst, segmentation_reader;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA segmentation FROM PUBLIC;

-- the C core: pure functions of their arguments, every argument checked
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid FROM pg_catalog.pg_proc p
		WHERE p.pronamespace = 'segmentation'::regnamespace
		  AND p.proname IN ('behavior_in', 'behavior_out', 'behavior_recv', 'behavior_send', 'behavior_merge',
		                    'behavior_agg', 'behavior_agg_features', 'behavior_union_agg', 'first_seen', 'last_seen', 'event_count',
		                    'value_sum', 'recency_days', 'tenure_days', 'active_days', 'current_streak',
		                    'decayed_activity', 'features', 'feature_count', 'feature_last_seen', 'adoption',
		                    'active_periods', 'active_days_per_period',
		                    'events_in', 'days_in', 'value_in', 'first_use', 'last_use', 'days_since', 'periods_with',
		                    'quantile_score', 'rfm_breakpoints', 'behavior_scores',
		                    'normal_cdf', 'normal_quantile', 'students_t_cdf', 'students_t_quantile', 'chi2_cdf',
		                    'chi2_quantile', 'two_proportion_test', 'welch_test', 'srm_test', 'cochran_q_test',
		                    'bh_adjust', 'holm_adjust', 'sample_size_two_proportions', 'power_two_proportions',
		                    'sample_size_two_means', 'msprt_p_value', 'score_columns',
		                    'window_funnel', 'sequence_match', 'sequence_count', 'sequence_next_node',
		                    'retention_flags',
		                    -- the public aggregates' support functions and state type: Citus's
		                    -- split aggregation (worker_partial_agg, coord_combine_agg) checks
		                    -- that the caller may execute them, where PostgreSQL checks the
		                    -- aggregate's owner; outside an aggregate they only raise an error,
		                    -- and every state they take (event_list, rfm_values, a bigint) is
		                    -- validated
		                    'behavior_agg_trans', 'behavior_agg_features_trans',
		                    'window_funnel_trans', 'window_funnel_final', 'sequence_trans',
		                    'sequence_match_final', 'sequence_count_final', 'sequence_next_node_trans',
		                    'sequence_next_node_final', 'event_list_combine', 'event_list_in',
		                    'event_list_out', 'event_list_recv', 'event_list_send',
		                    'retention_flags_trans', 'retention_flags_combine', 'retention_flags_final',
		                    'rfm_breakpoints_trans', 'rfm_breakpoints_combine', 'rfm_breakpoints_final',
		                    'rfm_values_in', 'rfm_values_out', 'rfm_values_recv', 'rfm_values_send')
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
	END LOOP;
END $$;

-- segmentation_admin: tracks, defines, refreshes, schedules, changes settings.
-- Features and segments change only through define_feature, define_segment
-- and drop_segment (SECURITY DEFINER: they check what they write, and need
-- nothing of the caller's).  Sources and experiments record the role that
-- configured them (tracked_by, stamped by a trigger) and are written by the
-- admin's own functions, as the admin; everything that reads them with
-- elevated rights re-validates them first.
GRANT SELECT ON features, segments TO segmentation_admin;
-- (a source's row is changed only by untrack() and the DDL event triggers:
-- the capture triggers on the table check it at every write)
GRANT SELECT, INSERT ON sources TO segmentation_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON experiments TO segmentation_admin;
GRANT USAGE ON SEQUENCE sources_id_seq TO segmentation_admin;
GRANT SELECT ON refresh_runs, _feature_map, settings, _setting_values TO segmentation_admin;
GRANT EXECUTE ON FUNCTION track(regclass, name, name, name, name), define_feature(text, text[], text),
	define_segment(text, text, text, int, text), drop_segment(text, text),
	use_preset(text, text, text, int, int, int, float8, int), refresh(boolean, timestamptz),
	schedule_refresh(text), unschedule_refresh(), set_setting(text, text),
	define_experiment(text, regclass, name, name, name, text, text, interval, text[], float8[], float8, interval),
	define_funnel(text, text[], interval, text), drop_funnel(text),
	-- what those call as the admin
	_create_state(regtype), _install_capture(int), _feature_of(text, text),
	-- (track() checks the features' conditions on the new table)
	_check_conditions(int), _condition_on(text, text, regclass, name), _check_condition(text, regclass),
	_setting_defaults(), _check_readable(regclass, name, text), _foreign_code(regclass), _check_experiment(experiments),
	_materialize_experiments(text),
	-- (in a predicate only; called, it says where segments are read instead)
	in_segment(text, text)
	TO segmentation_admin;
-- operations (sql/50-state.sql, 60-capture.sql, 70-refresh.sql)
GRANT EXECUTE ON FUNCTION untrack(regclass), _refresh_status(), _column_types(text), _rls_hides_rows(name, regclass),
	_citus_member(regclass), _citus_unsupported(regclass, name), _citus_owners(regclass), _source_tree(regclass),
	-- (a list of sources the admin reads anyway: forget_user calls it as the admin)
	_citus_queues()
	TO segmentation_admin;
GRANT SELECT ON refresh_status, rejected_events TO segmentation_admin;

-- readers: the BI views (those of the state are granted where track() creates
-- them), which read the extension's own tables and call nothing internal
-- but the Citus worker check (src/node.c: true, or an error naming its
-- constant argument), which a view calls as its reader
GRANT SELECT ON experiment_lift, funnel_conversion TO segmentation_reader, segmentation_analyst, segmentation_admin;
GRANT EXECUTE ON FUNCTION _coordinator_only(text) TO segmentation_reader, segmentation_analyst, segmentation_admin;
-- managed funnels (sql/77-funnels-managed.sql): their definitions; the
-- per-user state and the rows behind funnel_conversion are the owner's
GRANT SELECT ON funnels TO segmentation_admin, segmentation_analyst;
-- what the aggregate views call as their reader: pure functions of their arguments
GRANT EXECUTE ON FUNCTION _suppress_mask(bigint[], boolean[], int), _suppress_groups(bigint[], boolean[], text[], int),
	_suppress_schemes(jsonb[], bigint[], text[], text[], int) TO segmentation_reader, segmentation_analyst, segmentation_admin;
-- the managed analyses (sql/75-analyses-managed.sql): SECURITY DEFINER,
-- aggregates only; what they call inside (_analysis_last_period,
-- _period_index, ...) runs as the extension's owner and is granted to no one
GRANT EXECUTE ON FUNCTION retention_matrix(text, text, text, text, boolean), lifecycle(text, text),
	stickiness(text, text), validate_segments(text, timestamptz, interval, text)
	TO segmentation_reader, segmentation_analyst, segmentation_admin;

-- privacy (sql/45-privacy.sql, doc/privacy.md).  Admins erase and opt out;
-- forget_user runs as its caller (it deletes from tracked tables with the
-- caller's privileges, planned under the guard) and calls the internal
-- functions below.
GRANT EXECUTE ON FUNCTION forget_user(text, boolean), _forget_user(text), _check_deletable(int),
	_execute_guarded(text, oid[], text), opt_out(text), opt_in(text)
	TO segmentation_admin;
GRANT SELECT ON privacy_audit TO segmentation_admin;
-- Member lists are per-user data, pseudonymized or not: for analysts and
-- admins, not for readers (a dashboard's role).  Raw ids: segment_members
-- (an invoker function) calls _members_raw, which PostgreSQL lets only
-- analysts and admins execute.  A DBA may grant a campaign tool's role
-- segment_members and _members_pseudonymized: it gets pseudonyms only.
GRANT EXECUTE ON FUNCTION segment_members(text, text, boolean), _members_pseudonymized(text, text), _members_raw(text, text)
	TO segmentation_analyst, segmentation_admin;
-- _pseudonym_key, forgotten_users, opt_outs: no grant (the owner's only)

COMMENT ON SEQUENCE sources_id_seq IS 'Ids of tracked sources';
COMMENT ON SEQUENCE refresh_runs_id_seq IS 'Ids of refresh runs';

-- user attributes (sql/65-attributes.sql): tracked by admins, as track()
-- is (track_users runs as its caller and records it; the rest runs as the
-- extension's owner); the views call _attribute_readable as their reader
GRANT SELECT, INSERT ON attribute_sources TO segmentation_admin;
GRANT SELECT ON rejected_attributes TO segmentation_admin;
-- (an admin sees the rows of the attributes it may read only: which users
-- hold a long value is something of the column, review 18 F7)
ALTER TABLE rejected_attributes ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_attributes ON rejected_attributes FOR SELECT
	USING (segmentation._attribute_readable(CURRENT_USER, attribute));
COMMENT ON POLICY readable_attributes ON rejected_attributes IS 'A role sees the rejected values of the user attributes it may read in the attribute table only';
GRANT EXECUTE ON FUNCTION track_users(regclass, name, name[]), untrack_users(), _install_attributes(),
	_attribute_column_problem(regclass, int2), _attribute_types(), _attribute_name_taken(name)
	TO segmentation_admin;
GRANT EXECUTE ON FUNCTION _attribute_readable(name, name) TO segmentation_analyst, segmentation_admin;

-- Every PL/pgSQL function runs with Citus's EXPLAIN of the workers' plans
-- off.  Citus 13.2 explains a distributed statement with the parameters of
-- its executor state, which for a PL/pgSQL statement are filled on demand
-- (numParams set, no array): it read past them and sent what it found to
-- the workers, so under auto_explain with log_nested_statements on, a
-- refresh on Citus failed ("cache lookup failed for type", "array size
-- exceeds the maximum allowed") or crashed the server (test/citus.py
-- nested_auto_explain).  A setting any role may set; without Citus it does
-- nothing, and auto_explain still logs the coordinator's plan and the
-- duration of each statement.  (EXECUTE's parameters are a full array, and
-- a statement of a caller's, outside these functions, keeps its setting.
-- The functions made later, for the distributed state's read paths and the
-- attributes' capture, carry it in their CREATE; auto_explain's
-- log_analyze, which has Citus run EXPLAIN ANALYZE on the workers, is
-- turned off while they run by _clean_citus_settings, src/node.c.)
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid FROM pg_catalog.pg_proc p
		WHERE p.pronamespace = 'segmentation'::regnamespace
		  AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'plpgsql')
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET citus.explain_distributed_queries = off', f);
	END LOOP;
END $$;
