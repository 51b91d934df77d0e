#!/usr/bin/python3
"""bench/rules_cost.py: what the bound on the rules' cost still allows.

define_segment bounds what a scheme's predicates cost per user together
(1,000,000) and every scheme's (2,000,000), in the checker's unit, bytes
read.  This measures a full refresh with segments that spend the whole
budget (ten of lower() 44 deep around 4,000 bytes, five a scheme, none
matching), against the same refresh with the presets only: the worst a
segmentation_admin can make each refresh per user.

usage: bench/rules_cost.py USERS [ROUNDS]   (libpq environment)
"""
import sys
import time

import psycopg2


def best(cur, sql, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        cur.execute(sql)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    users = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("DROP DATABASE IF EXISTS bench_rules_cost")
    cur.execute("CREATE DATABASE bench_rules_cost")
    conn.close()
    conn = psycopg2.connect(dbname="bench_rules_cost")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("CREATE TABLE ev (uid bigint, at timestamptz, name text, amount float8)")
    cur.execute("""INSERT INTO ev SELECT u, '2024-04-01'::timestamptz + i * interval '1 hour', 'e' || (i %% 5), 1
                   FROM generate_series(1, %s) u, generate_series(1, 20) i""", (users,))
    cur.execute("SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount')")
    cur.execute("SELECT segmentation.define_feature(e, ARRAY[e]) FROM unnest('{e0,e1,e2,e3,e4}'::text[]) e")
    cur.execute("SELECT segmentation.use_preset('engagement_ladder', signup_event => 'e0', activation_event => 'e1')")
    cur.execute("SELECT segmentation.use_preset('rfm')")
    refresh = "SELECT segmentation.refresh(full => true, as_of => '2024-05-01')"
    cur.execute(refresh)
    base = best(cur, refresh, rounds)
    cur.execute("""SELECT segmentation.define_segment('costly' || (g % 2), 'c' || g,
                       repeat('lower(', 44) || 'rfm_cell || ''' || repeat('A', 4000) || '''' || repeat(')', 44) || ' = ''x''')
                   FROM generate_series(1, 10) g""")
    cur.execute("SELECT sum(cost) FROM segmentation.segments")
    total = cur.fetchone()[0]
    costly = best(cur, refresh, rounds)
    print(f"full refresh, {users} users, best of {rounds}: presets only {base:.2f} s; "
          f"with segments costing {total:.0f} in all {costly:.2f} s "
          f"({costly / base:.0f}x, {(costly - base) / users * 1000:.2f} ms more per user)")


if __name__ == "__main__":
    main()
