-- Presets and scheduling.

-- ===================================================================
-- Presets
-- ===================================================================

-- the feature an event counts for; a new feature named default_name when none
CREATE FUNCTION _feature_of(event text, default_name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	feature text;
BEGIN
	SELECT f.name INTO feature FROM segmentation._feature_map m JOIN segmentation.features f ON f.id = m.id
	WHERE m.event = _feature_of.event;
	IF feature IS NULL THEN
		feature := default_name;
		PERFORM segmentation.define_feature(feature, ARRAY[event]);
	END IF;
	RETURN feature;
END $$;
COMMENT ON FUNCTION _feature_of(text, text) IS 'Internal: the feature an event counts for, defined under default_name when there is none';

CREATE FUNCTION use_preset(name text, signup_event text DEFAULT NULL, activation_event text DEFAULT NULL,
                           engaged_days int DEFAULT 8, power_days int DEFAULT 16,
                           churn_days int DEFAULT 30, at_risk_drop float8 DEFAULT 0.5,
                           activation_days int DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	signup_feature text;
	activation_feature text;
BEGIN
	IF name = 'engagement_ladder' THEN
		IF signup_event IS NULL OR activation_event IS NULL THEN
			RAISE EXCEPTION 'preset engagement_ladder needs "signup_event" and "activation_event"'
				USING ERRCODE = 'invalid_parameter_value',
				      HINT = 'e.g. segmentation.use_preset(''engagement_ladder'', signup_event => ''signed_up'', activation_event => ''first_project'')';
		END IF;
		IF engaged_days IS NULL OR power_days IS NULL OR churn_days IS NULL OR at_risk_drop IS NULL
		   OR engaged_days < 1 OR power_days <= engaged_days OR power_days > 28 OR churn_days < 1
		   OR at_risk_drop <= 0 OR at_risk_drop >= 1 OR activation_days < 0 OR activation_days > 3650 THEN
			RAISE EXCEPTION 'invalid engagement_ladder thresholds'
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('Need 1 <= engaged_days (%s) < power_days (%s) <= 28, churn_days (%s) >= 1, 0 < at_risk_drop (%s) < 1, activation_days (%s) NULL or 0 to 3650.',
				                      engaged_days, power_days, churn_days, at_risk_drop, coalesce(activation_days::text, 'NULL'));
		END IF;
		signup_feature := segmentation._feature_of(signup_event, 'signup');
		activation_feature := segmentation._feature_of(activation_event, 'activation');
		PERFORM segmentation.define_segment('lifecycle', 'churned', format('recency_days > %s', churn_days), 700,
			format('No event for more than %s days', churn_days));
		PERFORM segmentation.define_segment('lifecycle', 'at risk',
			format('active_days_prev_28 >= 4 AND active_days_28 <= active_days_prev_28 * %s::float8', at_risk_drop), 600,
			format('Active on at least 4 days in the 28 before last, and on at most %s of as many in the last 28', at_risk_drop));
		PERFORM segmentation.define_segment('lifecycle', 'power user', format('active_days_28 >= %s', power_days), 500,
			format('Active on at least %s of the last 28 days', power_days));
		PERFORM segmentation.define_segment('lifecycle', 'engaged', format('active_days_28 >= %s', engaged_days), 400,
			format('Active on at least %s of the last 28 days', engaged_days));
		-- activation as a milestone: within activation_days of the first
		-- signup (earlier counts too), or at any time when NULL
		IF activation_days IS NULL THEN
			PERFORM segmentation.define_segment('lifecycle', 'activated', format('%L = ANY (features_used)', activation_feature), 300,
				format('Did %s at least once', activation_event));
		ELSE
			PERFORM segmentation.define_segment('lifecycle', 'activated',
				format('first_use(%L) - first_use(%L) <= %L::interval', activation_feature, signup_feature, activation_days || ' days'), 300,
				format('Did %s within %s days of first doing %s', activation_event, activation_days, signup_event));
		END IF;
		PERFORM segmentation.define_segment('lifecycle', 'signed up', format('%L = ANY (features_used)', signup_feature), 200,
			format('Did %s, not (yet) activated', signup_event));
		PERFORM segmentation.define_segment('lifecycle', 'visitor', 'true', 100, 'Seen, never signed up');
	ELSIF name = 'rfm' THEN
		-- the classic ordered RFM map on r and fm = round((f + m) / 2), first match
		-- wins; fm >= k is written f + m >= 2k - 1 (integers, no numeric rounding)
		PERFORM segmentation.define_segment('rfm', s.seg, s.pred, 1200 - 100 * s.ord, s.descr)
		FROM (VALUES
			(1, 'Champions', 'r_score >= 4 AND f_score + m_score >= 7', 'Bought recently, buy often and spend the most'),
			(2, 'Loyal Customers', 'r_score >= 3 AND f_score + m_score >= 7', 'Buy often and spend a lot'),
			(3, 'Potential Loyalist', 'r_score >= 4 AND f_score + m_score >= 3', 'Recent customers with average frequency'),
			(4, 'New Customers', 'r_score = 5 AND f_score + m_score <= 2', 'Bought most recently, not often'),
			(5, 'Promising', 'r_score = 4 AND f_score + m_score <= 2', 'Recent shoppers who have not spent much'),
			(6, 'Need Attention', 'r_score = 3 AND f_score + m_score >= 3', 'Above average recency, frequency and value'),
			(7, 'About To Sleep', 'r_score = 3 AND f_score + m_score <= 2', 'Below average recency and frequency'),
			(8, 'At Risk', 'r_score <= 2 AND f_score + m_score BETWEEN 5 AND 8', 'Spent a lot and often, but long ago'),
			(9, 'Can''t Lose Them', 'r_score <= 2 AND f_score + m_score >= 9', 'Made the biggest purchases and often, but long ago'),
			(10, 'Hibernating', 'r_score = 2 AND f_score + m_score <= 4', 'Last purchase long ago, low spenders'),
			(11, 'Lost', 'true', 'Lowest recency, frequency and value')) AS s(ord, seg, pred, descr);
	ELSE
		RAISE EXCEPTION 'unknown preset "%"', name USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Presets are engagement_ladder and rfm.';
	END IF;
END $$;
COMMENT ON FUNCTION use_preset(text, text, text, int, int, int, float8, int) IS 'Install a preset scheme: engagement_ladder (scheme lifecycle; needs the signup and activation event names; activation_days: activated only within that many days of signup) or rfm (scheme rfm)';

-- ===================================================================
-- Scheduling with pg_cron
-- ===================================================================

-- pg_cron's functions, when pg_cron is installed in this database: its
-- schema cron must be a member of the pg_cron extension (a schema named cron
-- that is not pg_cron's is never called)
CREATE FUNCTION _cron_ready() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension e, pg_namespace n, pg_depend d
	               WHERE e.extname = 'pg_cron' AND n.nspname = 'cron'
	                 AND d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
	                 AND d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'feature_not_supported',
			HINT = 'Install it (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = '''
			       || current_database() || ''' in postgresql.conf, restart, then CREATE EXTENSION pg_cron.';
	END IF;
END $$;
COMMENT ON FUNCTION _cron_ready() IS 'Internal: refuses unless pg_cron is installed in this database';

-- SECURITY DEFINER, so that segmentation_admin can schedule without rights
-- on pg_cron's schema: what it chooses is the cron expression alone (pg_cron
-- parses it); the job, its name and its command are fixed.  The job belongs
-- to the extension's owner.
CREATE FUNCTION schedule_refresh(schedule text DEFAULT '*/15 * * * *') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	job bigint;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	IF schedule IS NULL OR length(schedule) > 100 THEN
		RAISE EXCEPTION 'argument "schedule" must be a cron expression such as ''*/15 * * * *''' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM segmentation._cron_ready();
	-- a named job: scheduling again replaces it
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
		USING 'segmentation-refresh', schedule, 'SELECT segmentation.refresh()';
	RETURN job;
END $$;
COMMENT ON FUNCTION schedule_refresh(text) IS 'Run segmentation.refresh() on a cron schedule through pg_cron (job segmentation-refresh, owned by the extension''s owner); scheduling again replaces the job';

CREATE FUNCTION unschedule_refresh() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	done boolean;
BEGIN
	PERFORM segmentation._clean_citus_settings();
	PERFORM segmentation._cron_ready();
	IF NOT EXISTS (SELECT 1 FROM cron.job WHERE jobname = 'segmentation-refresh' AND username = current_user) THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1)' INTO done USING 'segmentation-refresh';
	RETURN done;
END $$;
COMMENT ON FUNCTION unschedule_refresh() IS 'Remove the pg_cron job of schedule_refresh(); false when there was none';
