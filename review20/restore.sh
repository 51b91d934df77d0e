# pg_dump | pg_restore of a database with a tracked attribute table whose owner
# added RLS (not hiding rows from the tracker) with a policy of their function,
# a column default and a generated column of their function; then capture and
# refresh in the restored database, and whether the owner's function ran as a superuser.
set -u
createdb r20db
psql -X -q -d r20db -f setup.sql >/dev/null 2>&1
psql -X -q -d r20db <<'SQL'
SET ROLE r20_owner;
CREATE FUNCTION r20.spy(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN RAISE WARNING 'r20.spy ran as superuser %', current_user; END IF; RETURN $1; END $$;
ALTER TABLE r20.acct ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON r20.acct USING (r20.spy(salary) > 0);
ALTER TABLE r20.acct ALTER COLUMN salary SET DEFAULT r20.spy(1);
ALTER TABLE r20.acct ADD COLUMN g int GENERATED ALWAYS AS (r20.spy(salary)) STORED;
RESET ROLE;
SELECT segmentation.define_segment('tier', 'rich', 'salary > 4500');
SELECT segmentation.refresh(as_of => '2024-05-10 12:00') IS NOT NULL;
SQL
pg_dump -Fc r20db > /tmp/r20db.dump
createdb r20db_restored
pg_restore --exit-on-error -d r20db_restored /tmp/r20db.dump; echo "pg_restore rc=$?"
psql -X -d r20db_restored <<'SQL'
SELECT source, tracked_by, columns FROM segmentation.attribute_sources;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'r20.acct'::regclass ORDER BY 1;
SET ROLE r20_writer; UPDATE r20.acct SET salary = 99999 WHERE id = 1; RESET ROLE;
SELECT segmentation.refresh() IS NOT NULL AS refreshed;
SELECT mode, error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, salary, tier FROM segmentation.user_scores WHERE user_id IN (1, 5) ORDER BY 1;
SQL
dropdb r20db; dropdb r20db_restored
