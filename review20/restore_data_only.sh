# pg_restore -s, then pg_restore -a --disable-triggers (doc/pipeline.md section 10 says
# a data-only restore works "with or without --disable-triggers")
createdb r20db
psql -X -q -d r20db -f setup.sql >/dev/null 2>&1
pg_dump -Fc r20db > /tmp/r20db.dump
createdb r20db_r
pg_restore -s --exit-on-error -d r20db_r /tmp/r20db.dump; echo "pg_restore -s rc=$?"
pg_restore -a --disable-triggers --exit-on-error -d r20db_r /tmp/r20db.dump; echo "pg_restore -a --disable-triggers rc=$?"
psql -X -d r20db_r -c "SELECT count(*) AS acct_rows FROM r20.acct" -c "SELECT count(*) AS tracked FROM segmentation.attribute_sources"
dropdb r20db_r; createdb r20db_r
pg_restore -s --exit-on-error -d r20db_r /tmp/r20db.dump
pg_restore -a --disable-triggers -d r20db_r /tmp/r20db.dump; echo "without --exit-on-error rc=$?"
psql -X -d r20db_r -c "SELECT count(*) AS acct_rows FROM r20.acct" -c "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'r20.acct'::regclass ORDER BY 1" -c "SELECT segmentation.refresh() IS NOT NULL" -c "SELECT count(*) AS user_attributes FROM segmentation.user_attributes"
dropdb r20db; dropdb r20db_r
