-- The schema, and the search_path the rest of the install script runs with.

-- The schema belongs to the extension, so DROP EXTENSION ... CASCADE also
-- removes what track() created in it (tables, views, capture triggers).
-- >>> made by 0.1 already: not in the upgrade script (Makefile)
CREATE SCHEMA segmentation;
-- <<<
COMMENT ON SCHEMA segmentation IS 'Behavioral segmentation: behavior type, scores, segments and experiment lift';
SET LOCAL search_path = segmentation, pg_catalog;
