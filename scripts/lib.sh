# scripts/lib.sh: what the demo, the tests and the benchmark share.
# Install missing Debian packages, build and install the extension, and run a
# throwaway cluster (as the unprivileged OS user postgres, in a temporary
# directory, on a free port). Source it; do not run it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}   # another (relocated) PostgreSQL 15 tree may be named
PYTHON=/usr/bin/python3   # Debian's, where python3-psycopg2 installs
PACKAGES="build-essential postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-15-cron python3 python3-psycopg2 python3-mpmath"
# the hardening suites: libFuzzer (clang and its runtime), valgrind, plpgsql_check
PACKAGES="$PACKAGES clang libclang-rt-14-dev valgrind postgresql-15-plpgsql-check"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Install whatever of $PACKAGES is missing (needs root, as on a fresh machine).
# apt's output goes to a log, shown when a command fails.
ensure_deps() {
	local missing=() log t0=$SECONDS
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
		return 1
	fi
	say "installing with apt-get, once: ${missing[*]} (on a fresh machine about a minute: the server headers bring clang and LLVM, some hundreds of MB)"
	log=$(mktemp /tmp/segmentation-apt.XXXXXX.log)
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q \
	       && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		echo "apt-get failed (above: the end of $log)" >&2
		return 1
	fi
	rm -f "$log"
	echo "    (installed in $(( SECONDS - t0 )) s)" >&2
}

# Build with warnings as errors and install into the PostgreSQL 15 tree.
build_install() {
	say "building and installing the extension"
	make -C "$ROOT" -s PG_CONFIG="$PGBIN/pg_config" PG_CFLAGS="-Wextra -Wno-unused-parameter -Werror" >/dev/null
	make -C "$ROOT" -s PG_CONFIG="$PGBIN/pg_config" install >/dev/null
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# as_postgres CMD...: run as the postgres OS user when we are root
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_cluster [PORT]: initdb and start a cluster; exports PGHOST, PGPORT, PGUSER, PGDATA
start_cluster() {
	local port=${1:-$(free_port)}
	CLUSTER_DIR=$(mktemp -d /tmp/segmentation.XXXXXX)
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$CLUSTER_DIR"
	export PGDATA=$CLUSTER_DIR/data PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	say "starting a throwaway cluster in $CLUSTER_DIR on port $port"
	as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >>"$PGDATA/postgresql.conf" <<-CONF
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$CLUSTER_DIR'
		shared_preload_libraries = 'pg_cron'
		cron.database_name = 'postgres'
		max_worker_processes = 16
		max_parallel_workers_per_gather = 2
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		shared_buffers = 512MB
		work_mem = 64MB
		maintenance_work_mem = 512MB
	CONF
	as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
}

stop_cluster() {
	if [ -n "${CLUSTER_DIR:-}" ]; then
		as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
		rm -rf "$CLUSTER_DIR"
		CLUSTER_DIR=
	fi
	if [ -n "${TREE_DIR:-}" ]; then
		rm -rf "$TREE_DIR"
		TREE_DIR=
	fi
}

# release_0_1_tree: a copy of $PGBIN's PostgreSQL tree (PostgreSQL finds its
# lib and share directories relative to its binaries) with release 0.1 of
# the extension built from git and installed, so that the 0.1 library never
# replaces the one in $PGBIN's tree.  Sets PGBIN to the copy's binaries and
# INSTALL_THIS_BUILD to the command that installs this checkout's build
# (already built) over 0.1; the copy goes with stop_cluster.
RELEASE_0_1=4679a65   # the last commit whose install script was 0.1's
release_0_1_tree() {
	local prefix=${PGBIN%/usr/lib/postgresql/15/bin} tree
	git -C "$ROOT" cat-file -e "$RELEASE_0_1^{commit}" 2>/dev/null || {
		echo "release 0.1 (commit $RELEASE_0_1) is not in this clone's history: clone without --depth" >&2
		return 1
	}
	[ "$prefix/usr/lib/postgresql/15/bin" = "$PGBIN" ] || { echo "PGBIN is not a PostgreSQL 15 tree: $PGBIN" >&2; return 1; }
	tree=$(mktemp -d /tmp/segmentation-0.1.XXXXXX)
	TREE_DIR=$tree
	mkdir -p "$tree/usr/lib/postgresql" "$tree/usr/share/postgresql" "$tree/usr/include/postgresql" "$tree/v01"
	cp -a "$prefix/usr/lib/postgresql/15" "$tree/usr/lib/postgresql/"
	cp -a "$prefix/usr/share/postgresql/15" "$tree/usr/share/postgresql/"
	cp -a "$prefix/usr/include/postgresql/15" "$tree/usr/include/postgresql/"
	rm -f "$tree"/usr/share/postgresql/15/extension/segmentation*
	chmod -R a+rX "$tree"
	PGBIN=$tree/usr/lib/postgresql/15/bin
	say "building release 0.1 ($RELEASE_0_1) into $tree"
	git -C "$ROOT" archive "$RELEASE_0_1" | tar -x -C "$tree/v01"
	make -C "$tree/v01" -s PG_CONFIG="$PGBIN/pg_config" >/dev/null
	make -C "$tree/v01" -s PG_CONFIG="$PGBIN/pg_config" install >/dev/null
	export INSTALL_THIS_BUILD="make -C $ROOT -s PG_CONFIG=$PGBIN/pg_config install"
}
