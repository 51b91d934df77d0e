#!/bin/bash
# run.sh NAME...: fresh setup, then NAME.sql (or NAME.sh); output in out/NAME.out
source /tmp/r20env.sh
cd "$(dirname "$0")"
for n in "$@"; do
  { psql -X -q -f setup.sql >/dev/null 2>&1 && \
    if [ -f $n.sh ]; then bash $n.sh; else psql -X -e -f $n.sql; fi; } > out/$n.out 2>&1
  echo "== $n"; cat out/$n.out
done
