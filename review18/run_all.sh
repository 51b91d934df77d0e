#!/bin/bash
# Runs every reproduction from a fresh setup; outputs in out/<name>.out.
# Needs PGHOST/PGPORT/PGUSER(superuser) of a throwaway cluster with the extension installed.
cd "$(dirname "$0")"; mkdir -p out
PSQL=${PSQL:-psql}
run() { $PSQL -X -q -f "$1" >/dev/null 2>&1; shift; for f in "$@"; do $PSQL -X -f "$f" >"out/${f%.*}.out" 2>&1; done; }
run setup.sql f1_admin_leak.sql f1b_error_leak.sql
run setup.sql f5_using.sql
run setup.sql f8b_silent.sql
run setup.sql f8_trigger_rename.sql
run setup.sql f2_index_dos.sql
run setup.sql f3_names.sql
run setup.sql t_ddl.sql
run setup.sql t_writes.sql
run setup.sql t_dropped_table.sql
run setup.sql t_modes.sql
run setup.sql f2b_events_using.sql f8c_events_side.sql
run setup_text.sql f4_collation.sql
