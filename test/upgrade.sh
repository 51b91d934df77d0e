#!/bin/bash
# test/upgrade.sh: the upgrade chain, 0.1 to 0.2, as a live installation
# takes it: release 0.1 built from git into a copy of $PGBIN's PostgreSQL
# tree (scripts/lib.sh, release_0_1_tree), a cluster of its own with
# pg_cron, and test/upgrade.py, which fills 0.1, installs this checkout's
# build over it while the application writes, runs ALTER EXTENSION
# segmentation UPDATE and checks what it kept.  Needs this checkout built
# (scripts/test.sh builds it first).
source "$(dirname "$0")/../scripts/lib.sh"
trap stop_cluster EXIT
release_0_1_tree
start_cluster
"$PYTHON" "$ROOT/test/upgrade.py"
