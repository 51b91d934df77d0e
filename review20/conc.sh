# Concurrent writes (updates, key moves, deletes, inserts, truncate-free) by the
# application writer during repeated incremental refreshes; then one more
# incremental refresh: user_attributes must equal the table.
cat > /tmp/r20_w.sql <<'SQL'
\set u random(1, 60)
\set v random(1, 60)
\set k random(1, 5)
BEGIN;
UPDATE r20.acct SET salary = salary + 1, plan = CASE WHEN plan = 'pro' THEN 'free' ELSE 'pro' END WHERE id = :u;
INSERT INTO r20.acct VALUES (:v, 'new', :v) ON CONFLICT (id) DO UPDATE SET salary = EXCLUDED.salary + 7;
DELETE FROM r20.acct WHERE id = :u + 1 AND :k = 1;
UPDATE r20.acct SET id = :v + 1000 WHERE id = :v AND :k = 2 AND NOT EXISTS (SELECT FROM r20.acct WHERE id = :v + 1000);
COMMIT;
SQL
psql -X -q -c "SET ROLE r20_owner; INSERT INTO r20.acct SELECT g, 'free', g FROM generate_series(9, 60) g"
$PGBIN/pgbench -n -U r20_writer -c 3 -T 15 -f /tmp/r20_w.sql postgres > /tmp/r20_pgbench.out 2>&1 &
pb=$!
n=0; fails=0
while kill -0 $pb 2>/dev/null; do
  psql -X -q -At -c "SELECT segmentation.refresh()" >/dev/null 2>>/tmp/r20_refresh_err.out || fails=$((fails+1))
  n=$((n+1))
done
wait $pb; grep -E "transactions actually processed|failed" /tmp/r20_pgbench.out
echo "refreshes during the writes: $n, failed: $fails"; sort /tmp/r20_refresh_err.out | uniq -c | head -5; rm -f /tmp/r20_refresh_err.out
psql -X -c "SELECT segmentation.refresh() IS NOT NULL" -c "SELECT (SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1) AS last_mode, count(*) AS mismatches FROM r20.acct a FULL JOIN segmentation.user_attributes u ON u.user_id = a.id WHERE (a.id, a.plan, a.salary) IS DISTINCT FROM (u.user_id, u.plan, u.salary)"
