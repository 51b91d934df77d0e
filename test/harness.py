"""test/harness.py: what the Python suites share.

Autocommit connections through the libpq environment (PGHOST, PGPORT,
PGUSER), a throwaway database with the extension, and a check counter whose
last line says how many checks passed; the process exits non-zero when any
failed.
"""
import sys

import psycopg2

# what makes the planner use parallel workers on the suites' small tables
PARALLEL = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
            "SET min_parallel_table_scan_size = 0", "SET max_parallel_workers_per_gather = 2",
            "SET parallel_leader_participation = off"]


class Suite:
    def __init__(self, name, stop_on_failure=True, quiet=False):
        self.name = name
        self.stop_on_failure = stop_on_failure
        self.quiet = quiet
        self.checks = 0
        self.failures = []

    def check(self, name, ok, detail=""):
        self.checks += 1
        if ok:
            if not self.quiet:
                print(f"ok   {name}")
            return
        print(f"FAIL {name} {detail}")
        self.failures.append(name)
        if self.stop_on_failure:
            sys.exit(1)

    def finish(self):
        print(f"{self.name}: {self.checks - len(self.failures)} of {self.checks} checks passed")
        sys.exit(1 if self.failures else 0)


def connect(db, **kwargs):
    conn = psycopg2.connect(dbname=db, **kwargs)
    conn.autocommit = True
    return conn


def drop_database(name):
    admin = connect("postgres")
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


def fresh_database(name, extension=True):
    """(connection, cursor) to a new database name, in UTC, with the extension."""
    drop_database(name)
    admin = connect("postgres")
    admin.cursor().execute(f"CREATE DATABASE {name}")
    admin.close()
    conn = connect(name)
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    if extension:
        cur.execute("CREATE EXTENSION segmentation")
    return conn, cur
