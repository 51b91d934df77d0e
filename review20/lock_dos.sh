# An application writer (UPDATE on the attribute table, not its owner) holds a lock:
# every refresh fails after refresh_lock_timeout while it does.
psql -X -U r20_writer -c "BEGIN; LOCK TABLE r20.acct IN EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT" >/dev/null &
sleep 1
psql -X -c "SELECT name, value FROM segmentation.settings WHERE name = 'refresh_lock_timeout'"
psql -X -c "SELECT segmentation.refresh()" 2>&1 | head -3
wait
