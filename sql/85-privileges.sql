-- Privileges of the pipeline functions.

-- ===================================================================
-- Privileges
-- ===================================================================

GRANT USAGE ON SCHEMA segmentation TO segmentation_admin, segmentation_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON sources, features, segments TO segmentation_admin;
GRANT USAGE ON SEQUENCE sources_id_seq TO segmentation_admin;
GRANT SELECT ON refresh_runs, _feature_map TO segmentation_admin;
REVOKE EXECUTE ON FUNCTION refresh(boolean, timestamptz), _create_state(regtype), _rebuild_views(),
	_install_capture(int), track(regclass, name, name, name, name), define_feature(text, text[]),
	define_segment(text, text, text, int, text), drop_segment(text, text),
	use_preset(text, text, text, int, int, int, float8), schedule_refresh(text), unschedule_refresh()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh(boolean, timestamptz), _create_state(regtype), _rebuild_views(),
	_install_capture(int), track(regclass, name, name, name, name), define_feature(text, text[]),
	define_segment(text, text, text, int, text), drop_segment(text, text),
	use_preset(text, text, text, int, int, int, float8), schedule_refresh(text), unschedule_refresh()
	TO segmentation_admin;

COMMENT ON SEQUENCE sources_id_seq IS 'Ids of tracked sources';
COMMENT ON SEQUENCE refresh_runs_id_seq IS 'Ids of refresh runs';
