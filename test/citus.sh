#!/bin/bash
# test/citus.sh: the aggregates on Citus (DESIGN section 8), against a
# single-node run on the same rows.
#
# Citus 13.2 (the newest line for PostgreSQL 15) is not in Debian's archive:
# when it is not installed in $PGBIN's tree, ../shared/tools/build-citus
# builds it from the vendored tarball (once: it does nothing when 13.2 is
# installed); without ../shared the suite says it was skipped, and why.
# Then a coordinator and two workers on loopback (as the OS user postgres,
# in a temporary directory, shared_preload_libraries = 'citus,pg_cron,segmentation': Citus
# first), and test/citus.py against them; all three go at the end.
#
# usage: PGBIN=... bash test/citus.sh   (the extension already built and
# installed into $PGBIN's tree, as scripts/test.sh does)
source "$(dirname "$0")/../scripts/lib.sh"

BUILD_CITUS=$ROOT/../shared/tools/build-citus

citus_installed() {
	local lib share
	lib=$("$PGBIN/pg_config" --pkglibdir) share=$("$PGBIN/pg_config" --sharedir)
	[ -f "$lib/citus.so" ] && grep -q "default_version = '13.2" "$share/extension/citus.control" 2>/dev/null
}

if ! citus_installed; then
	if [ ! -x "$BUILD_CITUS" ]; then
		echo "citus: skipped: ../shared/tools/build-citus not found (Citus is not in Debian's archive)"
		exit 0
	fi
	# a relocated PostgreSQL tree (another PGBIN) may lack libpq's headers, which Citus needs
	inc=$("$PGBIN/pg_config" --includedir)
	if [ ! -e "$inc/libpq-fe.h" ] && [ -e /usr/include/postgresql/libpq-fe.h ]; then
		cp -an /usr/include/postgresql/*.h /usr/include/postgresql/libpq /usr/include/postgresql/internal "$inc/"
	fi
	say "building Citus 13.2 into $PGBIN's tree (once; some minutes)"
	PG_CONFIG=$PGBIN/pg_config CITUS_BUILD_DIR=$(mktemp -d /tmp/citus-build.XXXXXX) "$BUILD_CITUS" || exit 1
fi

CITUS_DIR=$(mktemp -d /tmp/segmentation-citus.XXXXXX)
chmod 755 "$CITUS_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$CITUS_DIR"
NODES=(coordinator worker1 worker2)
declare -A PORT
stop_nodes() {
	for n in "${NODES[@]}"; do
		[ -d "$CITUS_DIR/$n" ] && as_postgres "$PGBIN/pg_ctl" -D "$CITUS_DIR/$n" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$CITUS_DIR"
}
trap stop_nodes EXIT

say "starting a Citus coordinator and two workers in $CITUS_DIR"
for n in "${NODES[@]}"; do
	PORT[$n]=$(free_port)
	as_postgres "$PGBIN/initdb" -D "$CITUS_DIR/$n" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >>"$CITUS_DIR/$n/postgresql.conf" <<-CONF
		port = ${PORT[$n]}
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$CITUS_DIR'
		shared_preload_libraries = 'citus,pg_cron,segmentation'
		cron.database_name = 'postgres'
		citus.node_conninfo = 'sslmode=disable'
		max_worker_processes = 16
		max_connections = 100
		wal_level = logical
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		shared_buffers = 256MB
		work_mem = 64MB
		timezone = 'UTC'
	CONF
	as_postgres "$PGBIN/pg_ctl" -D "$CITUS_DIR/$n" -l "$CITUS_DIR/$n.log" -w start >/dev/null || {
		tail -20 "$CITUS_DIR/$n.log"; exit 1; }
done

export PGHOST=$CITUS_DIR PGUSER=postgres
export CITUS_COORDINATOR=${PORT[coordinator]} CITUS_WORKERS="${PORT[worker1]},${PORT[worker2]}"
"$PYTHON" "${CITUS_SCRIPT:-$ROOT/test/citus.py}" "$@"
