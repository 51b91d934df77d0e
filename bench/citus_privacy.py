#!/usr/bin/python3
"""bench/citus_privacy.py: bench/privacy.py with the events table distributed
by user id (8 shards), and so the per-user state (track() does it:
doc/citus.md): a full refresh with nobody forgotten or opted out, against
the same with one user of each, in alternating rounds, on a coordinator and
two workers (test/citus.sh starts them).  With anyone on either list,
refresh tests every user of its batch against their keyed hashes.

usage (through bash bench/run.sh citus_privacy): bench/citus_privacy.py [USERS [ROUNDS]]
"""
import sys

from citus import cluster_database
from privacy import measure

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def main():
    conn, cur = cluster_database("segmentation_citus_privacy")
    a, b = measure(cur, USERS, ROUNDS, distribute=True)
    print(f"Citus: full refresh of {USERS} users: nobody forgotten or opted out {a * 1000:.0f} ms, "
          f"one of each {b * 1000:.0f} ms: {b / a:.2f}x (medians of {ROUNDS})")
    conn.close()


if __name__ == "__main__":
    main()
