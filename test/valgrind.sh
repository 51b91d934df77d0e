#!/bin/bash
# test/valgrind.sh: pg_regress tests (default: behavior_type aggregates
# errors scores stats vocabulary nested conditions analyses_managed; or
# $VALGRIND_TESTS) against a server running under
# valgrind memcheck, in its own throwaway data directory, as the postgres OS
# user.  Needs the extension installed in $PGBIN's tree (scripts/test.sh
# does that first).
#
# Fails when pg_regress fails or when valgrind reports an error that involves
# our module: a record (the error and, with --track-origins, where the bad
# value came from) that names segmentation.so or one of our C files.
# Errors that do not involve our code are counted and listed by kind but
# not failed on: this is Debian's server, not built with USE_VALGRIND, so
# valgrind cannot see palloc chunk boundaries and reports PostgreSQL's own
# known false positives (padding bytes written to files and sockets, and
# the like, which PostgreSQL's src/tools/valgrind.supp suppresses). One
# kind is suppressed (test/valgrind.supp): the padding PostgreSQL writes to
# WAL, whose origin memcheck may trace to a stack frame of ours; every flat
# behavior we make is checked for undefined bytes where we make it instead.
# Leaks are not checked (--leak-check=no): memory contexts free in bulk.
source "$(dirname "$0")/../scripts/lib.sh"

TESTS=${VALGRIND_TESTS:-behavior_type aggregates errors scores stats vocabulary nested conditions analyses_managed}
DIR=$(mktemp -d /tmp/segmentation-valgrind.XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
PORT=$(free_port)
DATA=$DIR/data
cleanup() {
	as_postgres "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
	if [ -n "${VALGRIND_KEEP:-}" ]; then echo "valgrind: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
start=$(date +%s)

as_postgres "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$DATA/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
shared_buffers = 32MB
max_parallel_workers_per_gather = 2
max_worker_processes = 8
# (JIT loads LLVM with dlopen, on which memcheck reports glibc's own reads:
# refresh's statements are costly enough to be compiled)
jit = off
CONF

echo "valgrind: starting the server under memcheck on port $PORT"
as_postgres valgrind --quiet --trace-children=yes --track-origins=yes --leak-check=no \
	--suppressions="$ROOT/test/valgrind.supp" \
	--read-var-info=no --num-callers=40 --error-limit=no \
	--log-file="$DIR/valgrind.%p.log" \
	"$PGBIN/postgres" -D "$DATA" >"$DIR/server.log" 2>&1 &
for i in $(seq 1 240); do
	"$PGBIN/pg_isready" -q -h "$DIR" -p "$PORT" && break
	sleep 0.5
done
"$PGBIN/pg_isready" -q -h "$DIR" -p "$PORT" || { tail -20 "$DIR/server.log"; echo "valgrind: the server did not start" >&2; exit 1; }

# pg_regress (PostgreSQL 15) reads expected/ from its output directory
mkdir -p "$DIR/out"
cp -r "$ROOT/expected" "$DIR/out/"
chown -R postgres: "$DIR/out" 2>/dev/null || true
rc=0
echo "valgrind: pg_regress $TESTS"
"$(dirname "$("$PGBIN/pg_config" --pgxs)")/../test/regress/pg_regress" \
	--bindir="$PGBIN" --inputdir="$ROOT/test" --outputdir="$DIR/out" \
	--host="$DIR" --port="$PORT" --user=postgres --dbname=valgrind_regress \
	--load-extension=segmentation $TESTS || { rc=1; head -100 "$DIR/out/regression.diffs" 2>/dev/null; }

as_postgres "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 300 stop >/dev/null || rc=1
wait

"$PYTHON" - "$DIR" "$ROOT" <<'PY' || rc=1
import collections, glob, re, sys
ours = re.compile(r"segmentation\.so|\((%s)\.c:\d+\)" % "|".join(
    re.escape(p.split("/")[-1][:-2]) for p in glob.glob(sys.argv[2] + "/src/*.c")))
records, mine = 0, []
kinds = collections.Counter()
first = {}
for path in sorted(glob.glob(sys.argv[1] + "/valgrind.*.log")):
    # one record: the lines between blank "==PID== " lines
    block = []
    for line in open(path, errors="replace").read().splitlines() + ["==0== "]:
        body = re.sub(r"^==\d+== ?", "", line)
        if body.strip():
            block.append(body)
            continue
        if block:
            records += 1
            kinds[block[0]] += 1
            first.setdefault(block[0], block)
            if ours.search("\n".join(block)):
                mine.append("\n".join(block))
        block = []
print(f"valgrind: {records} error records in all processes, {len(mine)} involving segmentation")
for kind, n in kinds.most_common():
    print(f"  {n} x {kind}, first at:")
    for frame in first[kind][1:5]:
        print(f"      {frame.strip()}")
for m in mine[:10]:
    print("----\n" + m)
sys.exit(1 if mine else 0)
PY
echo "valgrind: done in $(( $(date +%s) - start )) s"
exit $rc
