-- Settings: known names only, values checked and bounded, admin only.
SET TIME ZONE 'UTC';
SELECT name, value, is_default FROM segmentation.settings ORDER BY name;
SELECT segmentation.set_setting('refresh_statement_timeout', '10 minutes');
SELECT segmentation.set_setting('refresh_statement_timeout', '20 minutes');
SELECT name, value, is_default FROM segmentation.settings ORDER BY name;
SELECT segmentation._setting('refresh_statement_timeout');
SELECT segmentation.set_setting('refresh_statement_timeout', NULL);
SELECT name, value, is_default FROM segmentation.settings ORDER BY name;
-- errors name the problem
SELECT segmentation.set_setting('no_such_setting', '1');
SELECT segmentation.set_setting('refresh_lock_timeout', 'soon');
SELECT segmentation.set_setting('refresh_lock_timeout', '-1 minute');
SELECT segmentation.set_setting('refresh_lock_timeout', '2 weeks');
-- only an admin may change them, and nobody writes the values table directly
CREATE ROLE regress_set_reader IN ROLE segmentation_reader;
CREATE ROLE regress_set_admin IN ROLE segmentation_admin;
SET ROLE regress_set_reader;
SELECT segmentation.set_setting('refresh_lock_timeout', '5 minutes');
SET ROLE regress_set_admin;
SELECT segmentation.set_setting('refresh_lock_timeout', '5 minutes');
INSERT INTO segmentation._setting_values (name, value) VALUES ('refresh_lock_timeout', 'forever');
UPDATE segmentation._setting_values SET value = 'forever';
SELECT name, value, set_by FROM segmentation.settings WHERE NOT is_default;
RESET ROLE;
SELECT segmentation.set_setting('refresh_lock_timeout', NULL);
-- the privacy settings (doc/privacy.md): a whole number of users; none or an interval of a day or more
SELECT segmentation.set_setting('min_cell_size', ' 25 ');
SELECT segmentation.set_setting('history_retention', '90 days');
SELECT name, value FROM segmentation.settings WHERE NOT is_default ORDER BY 1;
SELECT segmentation.set_setting('min_cell_size', '-1');
SELECT segmentation.set_setting('min_cell_size', '2.5');
SELECT segmentation.set_setting('min_cell_size', '1000001');
SELECT segmentation.set_setting('min_cell_size', '1; DROP TABLE x');
SELECT segmentation.set_setting('history_retention', '1 hour');
SELECT segmentation.set_setting('history_retention', 'forever');
SELECT segmentation.set_setting('history_retention', 'NONE');
SELECT segmentation.set_setting('min_cell_size', NULL), segmentation.set_setting('history_retention', NULL);
SELECT name, value FROM segmentation.settings WHERE NOT is_default ORDER BY 1;
DROP ROLE regress_set_reader, regress_set_admin;
