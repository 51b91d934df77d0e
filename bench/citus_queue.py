#!/usr/bin/python3
"""bench/citus_queue.py: an incremental refresh on Citus with the events
queued on the shards aggregated there (session 29: claimed by the run,
summed per batch and user into _batch_parts, merged into _batch) against
the same events moved to the coordinator first (the path before, which
refresh still takes when the state has no _batch_parts: renamed here for
the "moved" runs), alternating in one run: the refresh's time and the
WAL the two workers write meanwhile.

usage (through bash bench/run.sh citus_queue, which starts a coordinator and
two workers with test/citus.sh): bench/citus_queue.py [EVENTS [ROUNDS [USERS]]]
(default: 300,000 new events of 1,000 users before each refresh, 3 rounds
of each way)
"""
import statistics
import sys
import time

from citus import WORKERS, cluster_database, connect

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
USERS = int(sys.argv[3]) if len(sys.argv) > 3 else 1000


def main():
    conn, cur = cluster_database()
    workers = [connect(port)[1] for port in WORKERS]
    cur.execute("""CREATE TABLE events (user_id bigint, ts timestamptz, event text, amount float8);
                   SELECT create_distributed_table('events', 'user_id')""")
    # (track in a transaction of its own: it distributes the state)
    cur.execute("SELECT segmentation.track('events', 'user_id', 'ts', 'event', 'amount')")
    cur.execute("""SELECT segmentation.use_preset('rfm');
                   INSERT INTO events SELECT g %% %s, '2024-01-01'::timestamptz + g * interval '1 minute', 'e' || (g %% 3), g
                   FROM generate_series(1, 100000) g;
                   SELECT segmentation.refresh(as_of => '2024-06-01')""", (USERS,))
    times = {"on the workers": [], "moved": []}
    wal = {"on the workers": [], "moved": []}
    hour = 0
    for _ in range(ROUNDS):
        for way in times:
            hour += 1
            cur.execute("""INSERT INTO events SELECT g %% %s, '2024-05-01'::timestamptz + g * interval '1 s', 'e' || (g %% 3), g
                           FROM generate_series(1, %s) g""", (USERS, EVENTS))
            if way == "moved":
                cur.execute("ALTER TABLE segmentation._batch_parts RENAME TO _batch_parts_off")
            before = []
            for w in workers:
                w.execute("SELECT pg_current_wal_lsn()")
                before.append(w.fetchone()[0])
            t0 = time.perf_counter()
            cur.execute("SELECT segmentation.refresh(as_of => '2024-06-01'::timestamptz + %s * interval '1 hour')", (hour,))
            times[way].append(time.perf_counter() - t0)
            written = 0
            for w, lsn in zip(workers, before):
                w.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn,))
                written += int(w.fetchone()[0])
            wal[way].append(written / 2**20)
            if way == "moved":
                cur.execute("ALTER TABLE segmentation._batch_parts_off RENAME TO _batch_parts")
    cur.execute("SELECT count(*), sum(segmentation.event_count(behavior)) FROM segmentation.profiles")
    users, counted = cur.fetchone()
    cur.execute("SELECT count(*) FROM events")
    print(f"# {users:,} users; {EVENTS:,} new events before each incremental refresh; medians of {ROUNDS} rounds, alternating"
          f" (every event counted once: {counted == cur.fetchone()[0]})")
    on, moved = statistics.median(times["on the workers"]), statistics.median(times["moved"])
    won, wmoved = statistics.median(wal["on the workers"]), statistics.median(wal["moved"])
    print(f"incremental refresh: queued events aggregated on the workers {on:6.2f} s   moved to the coordinator {moved:6.2f} s"
          f"   {on / moved:5.2f}x")
    print(f"workers' WAL:        queued events aggregated on the workers {won:6.1f} MB  moved to the coordinator {wmoved:6.1f} MB"
          f"  {won / wmoved:5.2f}x")
    conn.close()


if __name__ == "__main__":
    main()
