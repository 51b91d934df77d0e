#!/usr/bin/python3
"""bench/attributes.py: what a table of user attributes (track_users) adds
to a refresh.

The same events and the same schemes (the rfm preset and a scheme `tier` of
two segments), refreshed without an attribute table, then with one of a row
per user whose two columns `tier` reads instead of scores of the same shape:
a full refresh, an incremental one after new events of 1% of the users, one
after attribute updates of 1% of the users, and one with nothing new.

usage: bench/attributes.py USERS EVENTS_PER_USER   (libpq environment)
"""
import sys
import time

import psycopg2


def timed(cur, sql, args=None):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    return time.perf_counter() - t0


def main():
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    per_user = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP DATABASE IF EXISTS segmentation_bench_attributes")
    cur.execute("CREATE DATABASE segmentation_bench_attributes")
    conn.close()
    conn = psycopg2.connect(dbname="segmentation_bench_attributes")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute("CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric)")
    cur.execute("SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount')")
    cur.execute("SELECT setseed(0.5)")
    cur.execute("""INSERT INTO ev SELECT u, '2024-01-01'::timestamptz + random() * interval '120 days',
                          (ARRAY['view', 'view', 'search', 'buy'])[1 + (random() * 3)::int], round((random() * 50)::numeric, 2)
                   FROM generate_series(1, %s) u, generate_series(1, %s) k""", (users, per_user))
    cur.execute("SELECT segmentation.use_preset('rfm')")
    # the same shape of rules over scores (without) and over attributes (with)
    cur.execute("""SELECT segmentation.define_segment('tier', 'big', 'frequency >= 12 AND monetary >= 300', 2),
                          segmentation.define_segment('tier', 'some', 'frequency >= 8', 1)""")
    batch = max(1, users // 100)
    results = {}

    def run(label, as_of_day, rounds=3):
        """the least of rounds runs of each refresh (the machine is shared)"""
        day = f"2024-05-{as_of_day:02d}"
        # (the first full refresh after the rules change moves users into
        # them: untimed; the timed ones recompute the same state)
        cur.execute("SELECT segmentation.refresh(true, %s)", (f"{day} 00:00+00",))
        t_full = min(timed(cur, "SELECT segmentation.refresh(true, %s)", (f"{day} 00:{10 + r:02d}+00",)) for r in range(rounds))
        t_events, t_attrs, t_none = [], [], []
        for r in range(rounds):
            cur.execute("""INSERT INTO ev SELECT (random() * %s)::bigint + 1, %s::timestamptz, 'view', 1
                           FROM generate_series(1, %s)""", (users - 1, f"{day} {1 + 3 * r:02d}:30+00", batch))
            t_events.append(timed(cur, "SELECT segmentation.refresh(false, %s)", (f"{day} {2 + 3 * r:02d}:00+00",)))
            if label == "with":
                cur.execute("""UPDATE acct SET plan = CASE WHEN plan = 'pro' THEN 'free' ELSE 'pro' END, seats = seats + 1
                               WHERE uid IN (SELECT (random() * %s)::bigint + 1 FROM generate_series(1, %s))""", (users - 1, batch))
                t_attrs.append(timed(cur, "SELECT segmentation.refresh(false, %s)", (f"{day} {2 + 3 * r:02d}:30+00",)))
            t_none.append(timed(cur, "SELECT segmentation.refresh(false, %s)", (f"{day} {3 + 3 * r:02d}:00+00",)))
        results[label] = (t_full, min(t_events), min(t_attrs) if t_attrs else None, min(t_none))
        t_full, t_events, t_attrs, t_none = results[label]
        print(f"{label:8s} full {t_full:7.2f} s   incremental, 1% users' events {t_events:6.2f} s   "
              f"1% users' attributes {'-' if t_attrs is None else f'{t_attrs:6.2f} s'}   nothing new {t_none:6.2f} s", flush=True)

    run("without", 10)
    cur.execute("""CREATE TABLE acct (uid bigint PRIMARY KEY, plan text, seats int, country text);
                   INSERT INTO acct SELECT u, CASE WHEN u %% 3 = 0 THEN 'pro' ELSE 'free' END, u %% 40, (ARRAY['FR', 'US', 'DE'])[1 + u %% 3]
                   FROM generate_series(1, %s) u""", (users,))
    cur.execute("SELECT segmentation.track_users('acct', 'uid')")
    cur.execute("""SELECT segmentation.define_segment('tier', 'big', $$plan = 'pro' AND seats >= 12$$, 2),
                          segmentation.define_segment('tier', 'some', 'seats >= 8', 1)""")
    run("with", 11)
    w, a = results["without"], results["with"]
    print(f"ratios with/without: full {a[0] / w[0]:.2f}, incremental after events {a[1] / w[1]:.2f}, "
          f"nothing new {a[3] / w[3]:.2f}; incremental after attribute updates / after events {a[2] / a[1]:.2f}")
    conn.close()


if __name__ == "__main__":
    main()
