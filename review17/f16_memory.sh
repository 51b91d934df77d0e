#!/bin/bash
# runs f16_memory.sql and prints the peak RSS of the refreshing backend
source "${R17ENV:-/tmp/review17-env}"
cd "$(dirname "$0")"
$PGBIN/psql -X -d postgres -f f16_memory.sql > /tmp/review17-f16.out 2>&1 &
psql_pid=$!
pid=
for i in $(seq 1 100); do
	pid=$($PGBIN/psql -X -At -d postgres -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%' AND pid <> pg_backend_pid()")
	[ -n "$pid" ] && break
	sleep 0.2
done
hwm=0
while kill -0 $psql_pid 2>/dev/null; do
	h=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null)
	[ -n "$h" ] && hwm=$h
	sleep 0.2
done
cat /tmp/review17-f16.out | grep -v '^\s*$'
echo "backend $pid peak RSS (VmHWM): $((hwm / 1024)) MB"
