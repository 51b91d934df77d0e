#!/bin/bash
# run_all.sh: every reproduction from a fresh setup.sql (superuser connection in
# /tmp/r20env.sh: PGHOST, PGPORT, PGBIN of the cluster of PG copy 4); outputs in out/
cd "$(dirname "$0")"
source /tmp/r20env.sh
./run.sh f1_variants f1b_error_text f2_writes f2_truncate_cascade f3_ddl f3_concurrently f4_f7 conc lock_dos >/dev/null
for s in restore restore_data_only; do bash $s.sh > out/$s.out 2>&1; done
ls -l out
