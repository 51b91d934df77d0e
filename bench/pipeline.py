#!/usr/bin/python3
"""bench/pipeline.py: what tracking costs the application's writes, and
what a full and an incremental refresh cost.

usage: bench/pipeline.py USERS EVENTS_PER_USER [ROUNDS]   (libpq environment)
"""
import io
import statistics
import sys
import time

import psycopg2


def timed(cur, sql, args=None):
    t0 = time.perf_counter()
    cur.execute(sql, args)
    return time.perf_counter() - t0


def copy_rows(n, seed):
    buf = io.StringIO()
    for i in range(n):
        buf.write(f"{(i * 7919 + seed) % 100000}\t2024-03-01 00:00:00+00\tview\t\\N\n")
    return buf.getvalue()


def write_overhead(cur, rounds):
    cur.execute("DROP TABLE IF EXISTS plain_events, tracked_events")
    for t in ("plain_events", "tracked_events"):
        cur.execute(f"CREATE TABLE {t} (uid bigint, at timestamptz, name text, amount numeric)")
    cur.execute("SELECT segmentation.track('tracked_events', 'uid', 'at', 'name', 'amount')")
    copy = {"plain_events": [], "tracked_events": []}
    single = {"plain_events": [], "tracked_events": []}
    data = copy_rows(10000, 1)
    for r in range(rounds):
        for t in ("plain_events", "tracked_events"):
            t0 = time.perf_counter()
            cur.copy_expert(f"COPY {t} FROM STDIN", io.StringIO(data))
            copy[t].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(2000):
                cur.execute(f"INSERT INTO {t} VALUES (%s, '2024-03-01', 'view', NULL)", (i,))
            single[t].append((time.perf_counter() - t0) / 2000)
    c = {t: statistics.median(v) * 1000 for t, v in copy.items()}
    s = {t: statistics.median(v) * 1e6 for t, v in single.items()}
    print(f"write overhead (median of {rounds} alternating rounds)")
    print(f"  10,000-row COPY:  untracked {c['plain_events']:.1f} ms, tracked {c['tracked_events']:.1f} ms, "
          f"ratio {c['tracked_events'] / c['plain_events']:.2f}")
    print(f"  single-row INSERT (autocommit): untracked {s['plain_events']:.0f} us, tracked {s['tracked_events']:.0f} us, "
          f"ratio {s['tracked_events'] / s['plain_events']:.2f}")
    cur.execute("DROP EXTENSION segmentation CASCADE")
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("DROP TABLE plain_events, tracked_events")


def app_events(cur, users, per_user, distribute=False):
    """The pipeline benchmarks' data, tracked, with two features and the
    presets: users x per_user events over 120 days from 2024-01-01, uniform
    over the users, 5% with an amount (bench/analyses.py, bench/upgrade.py
    and bench/citus_pipeline.py use it too; distribute: the table
    distributed by Citus, 8 shards, before it is tracked)."""
    cur.execute("DROP TABLE IF EXISTS app_events")
    cur.execute("SELECT setseed(0.5)")
    cur.execute("""CREATE TABLE app_events AS
        SELECT (random() * %s)::bigint + 1 AS uid,
               '2024-01-01'::timestamptz + random() * interval '120 days' AS at,
               (ARRAY['view','view','view','search','share','export','signup','create_project','purchase'])[1 + (random() * 8)::int] AS name,
               CASE WHEN random() < 0.05 THEN round((random() * 100)::numeric, 2) END AS amount
        FROM generate_series(1, %s)""", (users - 1, users * per_user))
    if distribute:
        cur.execute("SELECT create_distributed_table('app_events', 'uid', shard_count => 8)")
    cur.execute("SELECT segmentation.track('app_events', 'uid', 'at', 'name', 'amount')")
    cur.execute("SELECT segmentation.define_feature('search', '{search}'), segmentation.define_feature('export', '{export}')")
    cur.execute("SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signup', activation_event => 'create_project')")
    cur.execute("SELECT segmentation.use_preset('rfm')")


def refresh_cost(cur, users, per_user, rounds):
    events = users * per_user
    app_events(cur, users, per_user)
    step = [0]

    def new_events(sessions=False):
        # 1% new events, for a refresh an hour after the previous one, as a
        # schedule would run it.  Either every event from a user drawn at
        # random (nearly every event touches another user; some late: up to 12
        # days old), or sessions: 10 events each from 1 user in 100, in the
        # hour before the refresh
        step[0] += 1
        if sessions:
            cur.execute("""INSERT INTO app_events
                SELECT s.uid, '2024-05-01'::timestamptz + (%s - 1 + random()) * interval '1 hour',
                       (ARRAY['view','view','view','search','share','export','signup','create_project','purchase'])[1 + (random() * 8)::int],
                       CASE WHEN random() < 0.05 THEN round((random() * 100)::numeric, 2) END
                FROM (SELECT (random() * %s)::bigint + 1 AS uid FROM generate_series(1, %s)) s, generate_series(1, 10)""",
                        (step[0], users - 1, events // 1000))
        else:
            cur.execute("""INSERT INTO app_events
                SELECT (random() * %s)::bigint + 1, '2024-04-18'::timestamptz + random() * interval '12 days', 'view', NULL
                FROM generate_series(1, %s)""", (users - 1, events // 100))
        cur.execute("VACUUM ANALYZE")   # what autovacuum keeps up with; not timed, for both kinds

    moves = []

    def refresh(full, sessions=False):
        new_events(sessions)
        t = timed(cur, "SELECT segmentation.refresh(%s, '2024-05-01'::timestamptz + %s * interval '1 hour')", (full, step[0]))
        if not full and not sessions:
            cur.execute("SELECT transitions FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
            moves.append(cur.fetchone()[0])
        return t

    first = timed(cur, "SELECT segmentation.refresh(true, '2024-05-01')")
    cur.execute("VACUUM ANALYZE")
    full, inc, inc_sessions = [], [], []
    for r in range(rounds):
        full.append(refresh(True))
        inc.append(refresh(False))
        inc_sessions.append(refresh(False, sessions=True))
    cur.execute("SELECT count(*) FROM segmentation.profiles")
    n = cur.fetchone()[0]
    f, i, j = statistics.median(full), statistics.median(inc), statistics.median(inc_sessions)
    print(f"refresh, {n:,} users, {events:,} events, 2 schemes (lifecycle, rfm)")
    print(f"  first full refresh, into empty tables: {first:.1f} s")
    print(f"  after 1% new events, median of {rounds} alternating rounds:")
    print(f"  full: {f:.1f} s")
    print(f"  incremental, every new event from a random user: {i:.1f} s   incremental / full = {i / f:.3f}")
    print(f"  incremental, new events in sessions of 10:       {j:.1f} s   incremental / full = {j / f:.3f}")
    cur.execute("""SELECT mode, events_read, users_changed, transitions, round(extract(epoch FROM finished_at - started_at)::numeric, 1)
                   FROM segmentation.refresh_runs ORDER BY id""")
    print("  refresh_runs (mode, events read, users changed, transitions, seconds):")
    for row in cur.fetchall():
        print("   ", row)
    # where one more incremental refresh goes, statement by statement
    # (auto_explain's durations, without ANALYZE's overhead), rolled back;
    # for each kind of new events
    conn = cur.connection
    cur.execute("LOAD 'auto_explain'")
    for setting in ("auto_explain.log_nested_statements = on", "auto_explain.log_level = notice",
                    "client_min_messages = notice"):
        cur.execute("SET " + setting)
    for sessions in (False, True):
        new_events(sessions)
        cur.execute("BEGIN")
        cur.execute("SET LOCAL auto_explain.log_min_duration = 20")
        del conn.notices[:]
        cur.execute("SELECT segmentation.refresh(false, '2024-05-01'::timestamptz + %s * interval '1 hour')", (step[0],))
        cur.execute("ROLLBACK")
        kind = "new events in sessions of 10" if sessions else "every new event from a random user"
        print(f"  one more incremental refresh ({kind}), its statements over 20 ms (auto_explain):")
        for n in conn.notices:
            if "duration:" in n and "Query Text:" in n:
                ms = float(n.split("duration:")[1].split("ms")[0])
                lines = n.split("Query Text:")[1].split("\n")
                query = lines[:1]
                for x in lines[1:]:
                    if x[:1] not in (" ", "\t"):
                        break           # the plan starts at the first unindented line
                    query.append(x)
                text = " ".join(" ".join(query).split())[:90]
                print(f"    {ms:8.0f} ms  {text}")
        # the same refresh for good: the next kind starts from an empty queue
        cur.execute("SELECT segmentation.refresh(false, '2024-05-01'::timestamptz + %s * interval '1 hour')", (step[0],))
    floor(cur, new_events, int(statistics.median(moves)), f)
    vocabulary_cost(cur, refresh, step, rounds, i, j)


def vocabulary_cost(cur, refresh, step, rounds, inc, inc_sessions):
    """The same incremental refreshes with a third scheme whose predicates
    use the rule vocabulary (per-feature windows and periods; then also
    days_since of a feature), after the figures above so as not to change
    them; and the first incremental refresh of a new UTC day, when the
    windows move."""
    print("  with a third scheme of the rule vocabulary, habits, median of %d:" % rounds)
    variants = [
        ("events_in of two features in 7 days, periods_with",
         """SELECT segmentation.define_segment('habits', 'engaged',
                   $$events_in('search', '7 days') >= 2 AND events_in('export', '7 days') >= 1$$, 3),
                   segmentation.define_segment('habits', 'regular', $$periods_with('*', 2, '7 days', 4) >= 3$$, 2)"""),
        ("and days_since of a feature",
         """SELECT segmentation.define_segment('habits', 'lapsed searcher',
                   $$days_since('search') > 14 AND events_in('search') >= 3$$, 1)"""),
    ]
    for label, sql in variants:
        cur.execute(sql)
        changed = refresh(False)            # the rules changed: every user's run
        vi, vj = [], []
        for r in range(rounds):
            vi.append(refresh(False))
            vj.append(refresh(False, sessions=True))
        a, b = statistics.median(vi), statistics.median(vj)
        cur.execute("SELECT count(*) FROM segmentation.memberships WHERE scheme = 'habits' AND segment <> 'unsegmented'")
        members = cur.fetchone()[0]
        print(f"   {label} ({members:,} users in its segments):")
        print(f"    first incremental refresh after the rules changed (every user's rules run"
              f"{'; every user enters the new scheme' if label.startswith('events_in') else ''}): {changed:.1f} s")
        print(f"    incremental, every new event from a random user: {a:.1f} s   / the same without it above = {a / inc:.2f}")
        print(f"    incremental, new events in sessions of 10:       {b:.1f} s   / the same without it above = {b / inc_sessions:.2f}")
    # the first refresh of the next UTC day: every window moves
    step[0] += 24
    cur.execute("VACUUM ANALYZE")
    t = timed(cur, "SELECT segmentation.refresh(false, '2024-05-01'::timestamptz + %s * interval '1 hour')", (step[0],))
    cur.execute("SELECT users_changed, transitions FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    print(f"   first incremental refresh of the next UTC day, no new events: {t:.1f} s (transitions: {cur.fetchone()[1]:,})")


def floor(cur, new_events, moves, full):
    """What no incremental refresh after random-user events can do without,
    whatever its design, timed on the same tables and rolled back, each the
    cheapest way PostgreSQL offers: consume the queued events, read every
    profile once (time-dependent scores are recomputed for every user) and
    find the touched users' rows on the way, write each of those rows once,
    write one row per move."""
    new_events(False)
    cur.execute("BEGIN")
    steps = [
        ("consume the queue, distinct users", """CREATE UNLOGGED TABLE _floor_users AS
             WITH d AS (DELETE FROM segmentation.pending_batches RETURNING batch)
             SELECT DISTINCT e.user_id::bigint AS user_id FROM d, segmentation._queued_events(d.batch) e"""),
        ("one read of every profile (2 workers), finding the touched users' rows",
         """CREATE TEMP TABLE _floor_rows AS SELECT p.ctid AS row_id FROM segmentation.profiles p JOIN _floor_users u USING (user_id)"""),
        ("one write per touched user, by its row", """UPDATE segmentation.profiles p SET changed_run = p.changed_run
             FROM _floor_rows r WHERE p.ctid = r.row_id"""),
        (f"one row per move ({moves:,} transitions)", f"""INSERT INTO segmentation.transitions
             (run_id, scheme, user_id, from_segment, from_entered_at, to_segment, at)
             SELECT 0, 'rfm', g, 'Lost', '2024-05-01', 'Champions', '2024-05-01' FROM generate_series(1, {moves}) g"""),
    ]
    times = []
    for label, sql in steps:
        if label.startswith("one write"):
            cur.execute("SET LOCAL enable_hashjoin = off")
            cur.execute("SET LOCAL enable_mergejoin = off")
        times.append((label, timed(cur, sql)))
        if label.startswith("consume"):
            cur.execute("ANALYZE _floor_users")
    cur.execute("SELECT (SELECT count(*) FROM _floor_users), (SELECT count(*) FROM _floor_rows)")
    users, found = cur.fetchone()
    cur.execute("ROLLBACK")
    total = sum(t for _, t in times)
    print(f"  floor of an incremental refresh after random-user events ({users:,} users touched, {found:,} of them known), rolled back:")
    for label, t in times:
        print(f"    {t * 1000:8.0f} ms  {label}")
    print(f"    {total * 1000:8.0f} ms  floor   floor / full = {total / full:.3f}")


def main():
    users = int(sys.argv[1])
    per_user = int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute("SET jit = off")
    write_overhead(cur, rounds)
    refresh_cost(cur, users, per_user, rounds)
    cur.execute("DROP EXTENSION segmentation CASCADE")
    cur.execute("DROP TABLE app_events")


if __name__ == "__main__":
    main()
