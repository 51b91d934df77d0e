#!/usr/bin/python3
"""Pipeline suite: what pg_regress cannot show with one session.

* incremental refresh equals a full recompute, exactly, on random workloads
  (with features that have an event condition too: property_conditions)
  with late events, deletes, updates, COPY and multi-row inserts (fixed seeds),
  with nested segments (in_segment, two levels deep, the schemes named
  against their dependency order),
  refreshed on new days and again hours apart on the same day (when users
  who did not change are checked against the last refresh instead of
  evaluated); every user's segments are what the predicates say when
  PostgreSQL evaluates them in plain SQL over segmentation.scores; the
  transitions outbox chains, every move leaving what the one before it
  entered and the last entering the current membership; users
  without events still move when other users' events shift the RFM
  breakpoints;
* the rule vocabulary (events_in, days_in, value_in, first_use, last_use,
  days_since, periods_with) in random predicates selects exactly the users a
  hand-written query over the raw events selects, the first segment a
  product team asks for included, at as_of moving within a day and across
  days, with late events, serial and with the pass in parallel workers; and
  a scheme of the vocabulary keeps incremental equal to full above;
* events committed by concurrent writers while refreshes run are counted
  exactly once; readers always see a complete state;
* a second refresh at the same time waits for the first, and fails with an
  error past refresh_lock_timeout;
* a bad event is rejected and the refresh goes on; a refresh that fails
  raises its error and logs it; failed or cancelled, it leaves the previous
  state intact;
* NOTIFY segmentation_transitions carries a payload that finds the moves;
* configuration survives pg_dump and restore, and the restored database
  keeps capturing and refreshing;
* pg_cron runs a scheduled refresh (the cluster preloads pg_cron for the
  database named by cron.database_name, which must be this suite's).

Uses the libpq environment (PGHOST, PGPORT, PGUSER).
"""
import io
import json
import collections
import datetime
import random
import re
import select
import subprocess
import sys
import threading
import time

import psycopg2

from harness import PARALLEL, Suite, connect, drop_database, fresh_database

suite = Suite("pipeline suite")
check = suite.check


def tracked_db(uid_type="bigint"):
    """A fresh database whose table ev is tracked, with features and segments."""
    conn, cur = fresh_database("segmentation_pipeline")
    cur.execute(SETUP.format(t=uid_type))
    return conn, cur


def loaded_db(seed, n, users, days, as_of):
    """tracked_db() with n random events of users over days, refreshed."""
    conn, cur = tracked_db()
    insert_rows(cur, random_rows(random.Random(seed), n, users, 0, days, "bigint"), "multi")
    cur.execute("SELECT segmentation.refresh(as_of => %s)", (as_of,))
    return conn, cur


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


SETUP = """
CREATE TABLE ev (uid {t}, at timestamptz, name text, amount numeric);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
SELECT segmentation.define_feature('search', '{{search}}');
SELECT segmentation.define_feature('buy', '{{buy,checkout}}');
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'signup', activation_event => 'search');
SELECT segmentation.use_preset('rfm');
SELECT segmentation.define_segment('value', 'big', 'monetary > 200', 2);
SELECT segmentation.define_segment('value', 'some', 'monetary > 0', 1);
"""

NAMES = ["view", "view", "view", "search", "buy", "checkout", "signup", "share"]


def random_rows(rnd, n, users, day0, days, uid_type):
    rows = []
    for _ in range(n):
        u = rnd.randrange(1, users + 1)
        uid = str(u) if uid_type == "bigint" else f"user-{u}"
        late = rnd.random() < 0.1
        day = rnd.randrange(0, day0 + days) if late else day0 + rnd.randrange(0, days)
        secs = day * 86400 + rnd.randrange(0, 86400)
        name = rnd.choice(NAMES)
        amount = f"{rnd.randrange(1, 5000) / 100:.2f}" if name in ("buy", "checkout") else None
        rows.append((uid, secs, name, amount))
    return rows


def insert_rows(cur, rows, how):
    if how == "copy":
        buf = io.StringIO()
        for uid, secs, name, amount in rows:
            buf.write(f"{uid}\t{secs}\t{name}\t{amount if amount else chr(92) + 'N'}\n")
        buf.seek(0)
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage (uid text, secs bigint, name text, amount numeric)")
        cur.execute("TRUNCATE stage")
        cur.copy_expert("COPY stage FROM STDIN", buf)
        # the COPY into the tracked table itself
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT uid, '2024-01-01 00:00+00'::timestamptz + secs * interval '1 second', name, amount FROM stage) TO STDOUT", out)
        out.seek(0)
        cur.copy_expert("COPY ev FROM STDIN", out)
    elif how == "multi":
        values = ",".join(cur.mogrify("(%s, '2024-01-01 00:00+00'::timestamptz + %s * interval '1 second', %s, %s)", r).decode() for r in rows)
        cur.execute("INSERT INTO ev VALUES " + values)
    else:
        for r in rows:
            cur.execute("INSERT INTO ev VALUES (%s, '2024-01-01 00:00+00'::timestamptz + %s * interval '1 second', %s, %s)", r)


STATE = """
SELECT (SELECT md5(string_agg(user_id::text || ':' || behavior::text, ',' ORDER BY user_id::text)) FROM segmentation.profiles),
       (SELECT md5(string_agg(s::text, ',' ORDER BY s.user_id::text)) FROM segmentation.scores s),
       (SELECT md5(string_agg(scheme || ':' || user_id::text || ':' || segment || ':' || entered_at, ',' ORDER BY scheme, user_id::text)) FROM segmentation.memberships),
       (SELECT md5(string_agg(concat_ws(':', scheme, user_id, segment, entered_at, exited_at), ','
                              ORDER BY scheme, user_id::text, entered_at, exited_at NULLS LAST, segment)) FROM segmentation.membership_history)
"""


ANALYSIS_ROWS = """SELECT md5(string_agg(concat_ws(':', period, scheme, segment, kind, start, k, users), ','
                                         ORDER BY period, scheme NULLS FIRST, segment, kind, start, k))
                    FROM segmentation._analysis_rows"""


# Moves in the outbox that do not chain: for each user and scheme, in id
# order, a move leaves the segment the move before it entered, since then
# (the first leaves none), and the last one entered the current membership.
# A move lost or written twice breaks the chain, whatever a full refresh says.
BROKEN_CHAINS = """
WITH t AS (
    SELECT t.scheme, t.user_id, t.from_segment, t.from_entered_at, t.to_segment, t.at,
           lag(t.to_segment) OVER w AS prev_to, lag(t.at) OVER w AS prev_at,
           row_number() OVER w AS k, count(*) OVER (PARTITION BY t.scheme, t.user_id) AS n
    FROM segmentation.transitions t WINDOW w AS (PARTITION BY t.scheme, t.user_id ORDER BY t.id))
SELECT (SELECT count(*) FROM t LEFT JOIN segmentation.memberships m USING (scheme, user_id)
        WHERE (t.k = 1 AND t.from_segment IS NOT NULL)
           OR (t.k > 1 AND (t.from_segment IS DISTINCT FROM t.prev_to
                            OR t.from_entered_at IS DISTINCT FROM CASE WHEN t.prev_to IS NOT NULL THEN t.prev_at END))
           OR (t.k = t.n AND (t.to_segment IS DISTINCT FROM m.segment
                              OR (t.to_segment IS NOT NULL AND t.at IS DISTINCT FROM m.entered_at))))
     + (SELECT count(*) FROM segmentation.memberships m
        WHERE NOT EXISTS (SELECT FROM t WHERE t.scheme = m.scheme AND t.user_id = m.user_id))
"""


VOCAB_CALL = re.compile(r"segmentation\.(events_in|days_in|value_in|days_since|periods_with|first_use|last_use)\('((?:[^']|'')*)'::text")


def accessor_sql(cur, predicate):
    """A checked predicate with each call of the rule vocabulary written as
    the behavior accessor of the same name (feature id, the run's as_of),
    over columns _b (the behavior) and _as_of."""
    cur.execute("SELECT name, id FROM segmentation.features")
    ids = dict(cur.fetchall())
    ids["*"] = -1

    def call(m):
        fid = ids[m.group(2).replace("''", "'")]
        as_of = "" if m.group(1) in ("first_use", "last_use") else ", _as_of"
        return f"segmentation.{m.group(1)}(_b, {fid}{as_of}"
    return VOCAB_CALL.sub(call, predicate)


IN_SEGMENT_CALL = re.compile(r"segmentation\.in_segment\(('(?:[^']|'')*')::text, ('(?:[^']|'')*')::text\)")


def in_segment_sql(predicate):
    """A checked predicate with each call of in_segment written as a read of
    the user's current membership in that scheme (column user_id)."""
    return IN_SEGMENT_CALL.sub(lambda m: f"""(SELECT m.segment = {m.group(2)} FROM segmentation.memberships m
                                             WHERE m.scheme = {m.group(1)} AND m.user_id = s.user_id)""", predicate)


def segments_match_sql(cur):
    """Users whose current segment in some scheme is not the one the scheme's
    predicates give when evaluated in plain SQL over segmentation.scores (the
    rule vocabulary through the behavior accessors, in_segment through the
    user's current segment in the scheme it names: every scheme is checked
    against the others as they are)."""
    cur.execute("""SELECT scheme, array_agg(checked_predicate ORDER BY priority DESC, name), array_agg(name ORDER BY priority DESC, name)
                   FROM segmentation.segments GROUP BY scheme ORDER BY scheme""")
    wrong = 0
    for scheme, predicates, names in cur.fetchall():
        whens = "".join(cur.mogrify(f" WHEN ({in_segment_sql(accessor_sql(cur, p))}) THEN %s", (n,)).decode()
                        for p, n in zip(predicates, names))
        wrong += one(cur, f"""SELECT count(*) FROM (SELECT user_id, CASE{whens} ELSE 'unsegmented' END AS segment
                                                    FROM (SELECT s.*, p.behavior AS _b, c.as_of AS _as_of
                                                          FROM segmentation.scores s JOIN segmentation.profiles p USING (user_id),
                                                               segmentation.score_context c) s) e
                             FULL JOIN (SELECT * FROM segmentation.memberships WHERE scheme = %s) m USING (user_id)
                             WHERE e.segment IS DISTINCT FROM m.segment""", (scheme,))
    return wrong


def property_incremental_equals_full(seed, uid_type, parallel=False):
    rnd = random.Random(seed)
    conn, cur = tracked_db(uid_type)
    cur.execute("SELECT setseed(%s)", (seed / 100,))   # the server-side random() too
    if parallel:
        # refresh's pass over every user then runs in parallel workers: its
        # plan comes back as a notice (auto_explain)
        for s in PARALLEL + ["LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                             "SET auto_explain.log_nested_statements = on", "SET auto_explain.log_level = notice"]:
            cur.execute(s)
        # (every statement of the refresh logs its plan: keep them all, not
        # psycopg2's last 50)
        conn.notices = collections.deque()
    # a scheme whose thresholds users cross within hours, so that the
    # refreshes of one day (below) move users without new events
    cur.execute("""SELECT segmentation.define_segment('clock', 'hot', 'recency_days < 0.4', 3),
                          segmentation.define_segment('clock', 'settled', 'tenure_days >= 7.3 AND recency_days <= 2.2', 2),
                          segmentation.define_segment('clock', 'warm', '1.5 > recency_days', 1)""")
    # the rule vocabulary: windows that move with the day, days_since that
    # moves within it, periods, all-time counts and first/last use
    cur.execute("""SELECT segmentation.define_segment('vocab', 'seed', $$events_in('search', '7 days') >= 3 AND events_in('buy', '7 days') >= 1$$, 6),
                          segmentation.define_segment('vocab', 'fresh', $$days_since('buy') < 1.3 AND value_in('buy', '4 days') > 20.005$$, 5),
                          segmentation.define_segment('vocab', 'habit', $$periods_with('search', 2, '2 days', 3) >= 2$$, 4),
                          segmentation.define_segment('vocab', 'regular', $$events_in('*', '3 days') >= 4 OR days_in('search', '10 days') >= 3$$, 3),
                          segmentation.define_segment('vocab', 'old', $$first_use('*') < '2024-01-08' AND last_use('search') > '2024-01-20'$$, 2),
                          segmentation.define_segment('vocab', 'lapsed', $$days_since('search') > 6.5 AND events_in('search') >= 3$$, 1)""")
    # nested segments, named against their order (a_outer reads b_middle,
    # which reads clock and vocab): refresh runs b_middle's rules before
    # a_outer's; a user who moves in clock within a day (no new event) moves
    # in the schemes that read it in the same refresh
    cur.execute("""SELECT segmentation.define_segment('b_middle', 'hot', $$in_segment('clock', 'hot') OR in_segment('vocab', 'seed')$$, 3),
                          segmentation.define_segment('b_middle', 'idle', $$in_segment('clock', 'unsegmented') AND frequency > 5$$, 2),
                          segmentation.define_segment('b_middle', 'settled', $$in_segment('clock', 'settled') AND NOT in_segment('vocab', 'unsegmented')$$, 1),
                          segmentation.define_segment('a_outer', 'top', $$in_segment('b_middle', 'hot') AND in_segment('value', 'big')$$, 3),
                          segmentation.define_segment('a_outer', 'drifting', $$in_segment('b_middle', 'idle') OR in_segment('lifecycle', 'at risk')$$, 2),
                          segmentation.define_segment('a_outer', 'other', $$in_segment('b_middle', 'unsegmented') AND in_segment('clock', 'warm')$$, 1)""")
    nested = set()
    day = 0
    for step in range(8):
        day += rnd.randrange(1, 10)
        insert_rows(cur, random_rows(rnd, rnd.randrange(50, 400), 60, day, 5, uid_type), rnd.choice(["copy", "multi", "single"]))
        if step > 0 and rnd.random() < 0.7:       # a GDPR erasure of a user, or a few events
            if rnd.random() < 0.5:
                cur.execute("DELETE FROM ev WHERE uid = (SELECT uid FROM ev ORDER BY random() LIMIT 1)")
            else:
                cur.execute("DELETE FROM ev WHERE ctid IN (SELECT ctid FROM ev ORDER BY random() LIMIT 5)")
        if step > 0 and rnd.random() < 0.5:       # corrections: an amount, a time moved back
            cur.execute("UPDATE ev SET amount = amount * 2 WHERE ctid IN (SELECT ctid FROM ev WHERE amount IS NOT NULL ORDER BY random() LIMIT 3)")
            cur.execute("UPDATE ev SET at = at - interval '20 days' WHERE ctid IN (SELECT ctid FROM ev ORDER BY random() LIMIT 2)")
        # a refresh on a new day, then a few more on the same day, hours
        # apart, some without new events: those check the users who did not
        # change against the last refresh instead of running the rules.  The
        # first at 00:00 UTC (every user's analysis counts counted again) or,
        # every other step, later (those of the users active since the start
        # of the previous period)
        hour = 0 if step % 2 == 0 else 1 + step % 3
        for k in range(3):
            if k > 0:
                hour += rnd.randrange(1, 9)
                if rnd.random() < 0.5:
                    insert_rows(cur, random_rows(rnd, rnd.randrange(1, 20), 60, day + 5, 1, uid_type), "multi")
            check_refresh(cur, conn, f"seed {seed} {uid_type} step {step}.{k}", parallel and step == 0 and k == 0,
                          day + 5, hour)
            if parallel and step == 0 and k == 0:
                cur.execute("SET auto_explain.log_min_duration = -1")
            cur.execute("SELECT DISTINCT scheme, segment FROM segmentation.memberships WHERE scheme IN ('a_outer', 'b_middle')")
            nested.update(cur.fetchall())
    check(f"seed {seed} {uid_type}: every nested segment had members at some refresh", len(nested) == 8, sorted(nested))
    conn.close()


# User attributes (track_users, DESIGN section 4): a table of one row per
# user whose rows are inserted (for users with and without events), updated
# (values, and keys: both users re-segmented), deleted, written under
# session_replication_role = replica (the row trigger) and now and then
# truncated; rules that read attributes with scores and the vocabulary.
# Each incremental refresh: segments == the predicates in plain SQL over
# scores (attributes included), incremental == full (scores hold the
# attributes), and user_attributes == the table.
def property_attributes(seed, uid_type):
    rnd = random.Random(seed)
    conn, cur = tracked_db(uid_type)
    cur.execute("SELECT setseed(%s)", (seed / 100,))
    cur.execute(f"""CREATE TABLE acct (uid {uid_type} PRIMARY KEY, plan text, seats int, region varchar(8), score numeric, since date);
                    SELECT segmentation.track_users('acct', 'uid')""")
    cur.execute("""SELECT segmentation.define_segment('attr', 'pro_active', $$plan = 'pro' AND frequency >= 3$$, 4),
                          segmentation.define_segment('attr', 'big', $$seats > 10 OR score >= 7.5$$, 3),
                          segmentation.define_segment('attr', 'eu_recent', $$region IN ('eu', 'uk') AND recency_days < 2$$, 2),
                          segmentation.define_segment('attr', 'new_buyer', $$since > '2024-01-20' AND events_in('buy', '7 days') >= 1$$, 1),
                          segmentation.define_segment('clock2', 'idle', 'recency_days > 1.5', 1),
                          segmentation.define_segment('attr2', 'no_row', $$plan IS NULL$$, 2),
                          segmentation.define_segment('attr2', 'free_lapsed', $$coalesce(plan, 'free') = 'free' AND in_segment('clock2', 'idle')$$, 1)""")

    def uid(u):
        return str(u) if uid_type == "bigint" else f"user-{u}"

    def row(u):
        return (uid(u), rnd.choice(["free", "pro", "team", None]), rnd.choice([None, 1, 5, 12, 40]),
                rnd.choice(["eu", "us", "uk", "apac", None]), rnd.choice([None, "2.5", "7.5", "9.99"]),
                rnd.choice([None, "2024-01-05", "2024-01-25", "2024-02-10"]))
    present = set()
    day = 0
    for step in range(8):
        day += rnd.randrange(1, 6)
        insert_rows(cur, random_rows(rnd, rnd.randrange(50, 300), 60, day, 5, uid_type), rnd.choice(["copy", "multi"]))
        hour = 0
        for k in range(3):
            if k > 0:
                hour += rnd.randrange(1, 9)
            # attribute writes: inserts (users 1..80: some have no events),
            # updates, key changes, deletes; a few as the replica row trigger
            replica = rnd.random() < 0.25
            if replica:
                cur.execute("SET session_replication_role = replica")
            for _ in range(rnd.randrange(0, 12)):
                op = rnd.random()
                if op < 0.4 or not present:
                    u = rnd.randrange(1, 81)
                    if u not in present:
                        cur.execute("INSERT INTO acct VALUES (%s, %s, %s, %s, %s, %s)", row(u))
                        present.add(u)
                elif op < 0.7:
                    u = rnd.choice(sorted(present))
                    r = row(u)
                    cur.execute("UPDATE acct SET plan = %s, seats = %s, region = %s, score = %s, since = %s WHERE uid = %s", r[1:] + r[:1])
                elif op < 0.8:
                    u, v = rnd.choice(sorted(present)), rnd.randrange(1, 81)
                    if v not in present:
                        cur.execute("UPDATE acct SET uid = %s WHERE uid = %s", (uid(v), uid(u)))
                        present.discard(u)
                        present.add(v)
                else:
                    u = rnd.choice(sorted(present))
                    cur.execute("DELETE FROM acct WHERE uid = %s", (uid(u),))
                    present.discard(u)
            if replica:
                cur.execute("RESET session_replication_role")
            if step in (3, 6) and k == 1:        # a truncate, and rows again: the next refresh is full
                cur.execute("TRUNCATE acct")
                present.clear()
                for u in rnd.sample(range(1, 81), 30):
                    cur.execute("INSERT INTO acct VALUES (%s, %s, %s, %s, %s, %s)", row(u))
                    present.add(u)
            label = f"attributes seed {seed} {uid_type} step {step}.{k}"
            check_refresh(cur, conn, label, False, day + 5, hour)
            check(f"{label}: user_attributes is the attribute table",
                  one(cur, """SELECT count(*) FROM (SELECT uid, plan, seats, region, score, since FROM acct
                                                    EXCEPT SELECT * FROM segmentation.user_attributes) x""") == 0
                  and one(cur, "SELECT count(*) FROM acct") == one(cur, "SELECT count(*) FROM segmentation.user_attributes"))
    cur.execute("SELECT DISTINCT segment FROM segmentation.memberships WHERE scheme = 'attr'")
    seen = {r[0] for r in cur.fetchall()}
    check(f"attributes seed {seed} {uid_type}: every attribute segment had members", len(seen) == 5, sorted(seen))
    conn.close()


def attributes_parallel_pass():
    """With an attribute table, refresh's pass over every user still runs the
    rules in parallel workers (a user whose attributes changed is marked in
    profiles, not listed in a temporary table, which would keep the pass in
    the leader), and an attribute update moves its user at the next
    incremental refresh."""
    conn, cur = tracked_db("bigint")
    insert_rows(cur, random_rows(random.Random(31), 500, 60, 0, 5, "bigint"), "multi")
    cur.execute("""CREATE TABLE acct (uid bigint PRIMARY KEY, plan text);
                   INSERT INTO acct SELECT u, CASE WHEN u % 2 = 0 THEN 'pro' END FROM generate_series(1, 60) u;
                   SELECT segmentation.track_users('acct', 'uid');
                   SELECT segmentation.define_segment('tier', 'pro', $$plan = 'pro'$$)""")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-01-06')")
    cur.execute("UPDATE acct SET plan = 'pro' WHERE uid = 1")
    for s in PARALLEL + ["LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                         "SET auto_explain.log_nested_statements = on", "SET auto_explain.log_level = notice"]:
        cur.execute(s)
    conn.notices = collections.deque()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-01-06 01:00')")
    cur.execute("SET auto_explain.log_min_duration = -1")
    plans = [n for n in conn.notices if "_assign_segments" in n]
    plan = plans[0].split("Gather", 1)[1] if len(plans) == 1 and "Gather" in plans[0] else ""
    check("attributes: the pass over every user runs the rules in parallel workers (ProjectSet under Gather)",
          "ProjectSet" in plan and "Parallel Seq Scan on profiles" in plan, plans)
    check("attributes: an attribute update moves its user at the next incremental refresh",
          one(cur, "SELECT tier FROM segmentation.user_scores WHERE user_id = 1") == "pro")
    conn.close()


EXPECTED_PROFILES = """SELECT md5(string_agg(uid::text || ':' || b::text, ',' ORDER BY uid::text)) FROM (
                         SELECT uid, segmentation.behavior_agg(at, f.id, amount::float8) b
                         FROM ev LEFT JOIN segmentation._feature_map f ON f.event = ev.name GROUP BY uid) s"""


def check_refresh(cur, conn, label, check_plan, day, hour, expected_sql=EXPECTED_PROFILES):
    """An incremental refresh at day and hour (after 2024-01-01), checked
    against the predicates in plain SQL and against a full refresh."""
    as_of = one(cur, "SELECT '2024-01-01 00:00+00'::timestamptz + %s * interval '1 day' + %s * interval '1 hour'", (day, hour))
    cur.execute("SELECT segmentation.refresh(false, %s)", (as_of,))
    run = cur.fetchone()[0]
    cur.execute("SELECT mode, error FROM segmentation.refresh_runs WHERE id = %s", (run,))
    mode, error = cur.fetchone()
    check(f"{label}: refresh ran ({mode})", error is None, error)
    if check_plan:
        plans = [n for n in conn.notices if "_assign_segments" in n]
        check(f"{label}: refresh's pass over every user runs in parallel workers",
              len(plans) == 1 and "Gather" in plans[0] and "Parallel Seq Scan on profiles" in plans[0], plans)
        # the rules run once per user: in the select list (a set of at most
        # one row), not again in a filter
        # (the one filter is the scan's: opted-out users are not in the pass)
        check(f"{label}: the pass calls the rules once per user, not again in a filter",
              len(plans) == 1 and "ProjectSet" in plans[0]
              and all("opted_out" in line for line in plans[0].splitlines() if "Filter" in line), plans)
    check(f"{label}: segments are the predicates' verdict in plain SQL", segments_match_sql(cur) == 0)
    check(f"{label}: every move leaves the segment the last one entered, the last enters the current one",
          one(cur, BROKEN_CHAINS) == 0)
    incremental = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")
    expected = one(cur, expected_sql)
    # the counts of the managed analyses, changed by the users whose cells
    # could change (sql/75-analyses-managed.sql), against a recount
    kept = one(cur, ANALYSIS_ROWS)
    cur.execute("BEGIN")
    cur.execute("SELECT segmentation._materialize_analyses()")
    check(f"{label}: the managed analyses' counts equal a recount", kept == one(cur, ANALYSIS_ROWS) and kept is not None,
          (kept, one(cur, ANALYSIS_ROWS)))
    cur.execute("ROLLBACK")
    cur.execute("BEGIN")
    cur.execute("SELECT segmentation.refresh(true, %s)", (as_of,))
    full = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")
    cur.execute("ROLLBACK")
    check(f"{label}: profiles equal a recompute from the source",
          incremental.split(",")[0].strip("(") == expected, (incremental, expected))
    check(f"{label}: incremental state equals a full refresh", incremental == full, (incremental, full))


# Event conditions (DESIGN section 4): features that overlap, counted by a
# condition on the row (amount, the user id), with inserts, late events,
# updates of the condition's column, deletes; incremental == full, profiles
# == behavior_agg_features over the raw events, each feature's count == a
# count in plain SQL
CONDITIONS = {"big_buy": (["buy", "checkout"], "amount > 20"),
              "odd_view": (["view"], "uid IN (" + ", ".join(str(u) for u in range(1, 41, 2)) + ")"),
              "any_big": (["buy", "checkout", "view", "search"], "coalesce(amount, 0) >= 40")}


def property_conditions(seed):
    rnd = random.Random(seed)
    conn, cur = tracked_db("bigint")
    cur.execute("SELECT setseed(%s)", (seed / 100,))
    ids = {}
    for name, (events, cond) in CONDITIONS.items():
        ids[name] = one(cur, "SELECT segmentation.define_feature(%s, %s, %s)", (name, events, cond))
    cur.execute("""SELECT segmentation.define_segment('cond', 'whale', $$events_in('big_buy') >= 2 AND events_in('any_big', '7 days') >= 1$$, 3),
                          segmentation.define_segment('cond', 'odd', $$events_in('odd_view', '5 days') >= 2$$, 2),
                          segmentation.define_segment('cond', 'buyer', $$events_in('buy') >= 1$$, 1)""")
    extra = ", ".join(f"CASE WHEN name = ANY ({'ARRAY' + repr(ev)}) AND ({cond}) THEN {ids[n]} END"
                      for n, (ev, cond) in CONDITIONS.items())
    expected_sql = f"""SELECT md5(string_agg(uid::text || ':' || b::text, ',' ORDER BY uid::text)) FROM (
                         SELECT uid, segmentation.behavior_agg_features(at, f.id, ARRAY[{extra}], amount::float8) b
                         FROM ev LEFT JOIN segmentation._feature_map f ON f.event = ev.name GROUP BY uid) s"""
    counts = " UNION ALL ".join(
        f"SELECT uid, {ids[n]} AS id, count(*) FILTER (WHERE name = ANY ({'ARRAY' + repr(ev)}) AND ({cond})) AS n FROM ev GROUP BY uid"
        for n, (ev, cond) in CONDITIONS.items())
    seen = collections.Counter()
    day = 0
    for step in range(6):
        day += rnd.randrange(1, 8)
        insert_rows(cur, random_rows(rnd, rnd.randrange(50, 300), 40, day, 5, "bigint"), rnd.choice(["copy", "multi", "single"]))
        if step > 0 and rnd.random() < 0.6:
            if rnd.random() < 0.5:
                cur.execute("DELETE FROM ev WHERE uid = (SELECT uid FROM ev ORDER BY random() LIMIT 1)")
            else:
                cur.execute("DELETE FROM ev WHERE ctid IN (SELECT ctid FROM ev ORDER BY random() LIMIT 5)")
        if step > 0:
            # the condition's column: amounts crossing the thresholds, both ways
            cur.execute("UPDATE ev SET amount = CASE WHEN amount > 20 THEN amount / 4 ELSE amount * 4 + 20 END "
                        "WHERE ctid IN (SELECT ctid FROM ev WHERE amount IS NOT NULL ORDER BY random() LIMIT 4)")
            cur.execute("UPDATE ev SET amount = 45 WHERE ctid IN (SELECT ctid FROM ev WHERE name = 'view' ORDER BY random() LIMIT 2)")
        for k in range(2):
            if k > 0:
                # late events only: a condition's users are read again
                insert_rows(cur, random_rows(rnd, rnd.randrange(1, 20), 40, max(day - 10, 0), 3, "bigint"), "multi")
            check_refresh(cur, conn, f"conditions seed {seed} step {step}.{k}", False, day + 5, 2 * k, expected_sql)
            check(f"conditions seed {seed} step {step}.{k}: each feature's count is a count in plain SQL over the events",
                  one(cur, f"""SELECT count(*) FROM ({counts}) c
                               LEFT JOIN segmentation.profiles p ON p.user_id = c.uid
                               WHERE c.n IS DISTINCT FROM coalesce(segmentation.feature_count(p.behavior, c.id), 0)""") == 0)
            cur.execute("SELECT segment, count(*) FROM segmentation.memberships WHERE scheme = 'cond' GROUP BY 1")
            seen.update(dict(cur.fetchall()))
    check(f"conditions seed {seed}: every segment of a condition had members at some refresh",
          all(seen[s] > 0 for s in ("whale", "odd", "buyer")), dict(seen))
    conn.close()


# the features of vocabulary_against_raw_events, and the event names of each
VOCAB_FEATURES = {"login": ["login"], "core_workflow": ["create_report", "share_report"], "buy": ["buy"]}
VOCAB_EVENTS = ["login", "login", "login", "create_report", "share_report", "buy", "view"]


VOCAB_KINDS = ["events", "events_all", "days", "days_all", "value", "value_all", "first", "last", "since", "periods"]


def vocab_case(rnd, kinds=VOCAB_KINDS):
    """A random predicate of the rule vocabulary (of one of kinds) and the
    same question as a HAVING clause over the raw events of one user
    (columns at, day, today, as_of, name, amount)."""
    f = rnd.choice(list(VOCAB_FEATURES) + ["*"])
    feat = "true" if f == "*" else "name IN (" + ", ".join(f"'{e}'" for e in VOCAB_FEATURES[f]) + ")"
    n = rnd.choice([1, 2, 3, 7, 10, 28, 40])
    win = f"day > today - {n} AND day <= today"
    kind = rnd.choice(kinds)
    if kind == "events":
        t = rnd.randrange(1, 5)
        return f"events_in('{f}', '{n} days') >= {t}", f"count(*) FILTER (WHERE {feat} AND {win}) >= {t}"
    if kind == "events_all":
        t = rnd.randrange(1, 12)
        return f"events_in('{f}') >= {t}", f"count(*) FILTER (WHERE {feat}) >= {t}"
    if kind == "days":
        t = rnd.randrange(1, 5)
        return f"days_in('{f}', '{n} days') >= {t}", f"count(DISTINCT day) FILTER (WHERE {feat} AND {win}) >= {t}"
    if kind == "days_all":
        t = rnd.randrange(1, 8)
        return f"days_in('{f}') < {t}", f"count(DISTINCT day) FILTER (WHERE {feat}) < {t}"
    if kind == "value":
        t = rnd.randrange(0, 60) + 0.005
        return f"value_in('{f}', '{n} days') > {t}", f"coalesce(sum(amount) FILTER (WHERE {feat} AND {win}), 0) > {t}"
    if kind == "value_all":
        t = rnd.randrange(0, 200) + 0.005
        return f"value_in('{f}') <= {t}", f"coalesce(sum(amount) FILTER (WHERE {feat}), 0) <= {t}"
    ts = (datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=rnd.randrange(0, 50 * 24))).strftime("%Y-%m-%d %H:%M+00")
    if kind == "first":
        return f"first_use('{f}') < '{ts}'", f"min(at) FILTER (WHERE {feat}) < '{ts}'"
    if kind == "last":
        return f"last_use('{f}') >= '{ts}' OR last_use('{f}') IS NULL", \
            f"max(at) FILTER (WHERE {feat}) >= '{ts}' OR count(*) FILTER (WHERE {feat}) = 0"
    if kind == "since":
        x = f"{rnd.randrange(0, 200) / 10 + 0.0137:.4f}"
        return f"days_since('{f}') {'<' if rnd.random() < 0.5 else '>'} {x}", None
    m, period, periods, t = rnd.choice([0, 1, 1, 2, 2, 3]), rnd.choice([1, 2, 3, 7]), rnd.randrange(1, 6), rnd.randrange(1, 4)
    return (f"periods_with('{f}', {m}, '{period} days', {periods}) >= {t}",
            f"""(SELECT count(*) FROM generate_series(0, {periods - 1}) k
                 WHERE (SELECT count(*) FROM ev x WHERE x.uid = e.uid AND {feat.replace('name', 'x.name')}
                          AND x.at::date > today - {period} * (k + 1) AND x.at::date <= today - {period} * k) >= {m}) >= {t}""")


def vocabulary_against_raw_events(seed, parallel=False, kinds=None):
    """Random predicates of the rule vocabulary select, at each refresh, the
    users a hand-written query over the raw events selects; the first
    segment a product team asks for too.  With kinds, the predicates are of
    those kinds only, and without the first segment (so that their windows
    decide which users a refresh on a later day may skip)."""
    rnd = random.Random(seed)
    conn, cur = fresh_database("segmentation_pipeline")
    if parallel:
        for st in PARALLEL:
            cur.execute(st)
    cur.execute("CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric)")
    cur.execute("SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount')")
    for name, events in VOCAB_FEATURES.items():
        cur.execute("SELECT segmentation.define_feature(%s, %s)", (name, events))
    cases = {"seed": ("events_in('login', '7 days') >= 3 AND events_in('core_workflow', '7 days') >= 1",
                      "count(*) FILTER (WHERE name = 'login' AND day > today - 7 AND day <= today) >= 3 AND "
                      "count(*) FILTER (WHERE name IN ('create_report', 'share_report') AND day > today - 7 AND day <= today) >= 1")}
    if kinds:
        cases = {}
    for k in range(24 if kinds is None else 8):
        cases[f"s{k}"] = vocab_case(rnd, kinds or VOCAB_KINDS)
    for scheme, (predicate, _) in cases.items():
        cur.execute("SELECT segmentation.define_segment(%s, 'yes', %s)", (scheme, predicate))

    def add_events(n, day0, days):
        rows = []
        for _ in range(n):
            late = rnd.random() < 0.15
            day = rnd.randrange(0, day0 + days) if late else day0 + rnd.randrange(0, days)
            name = rnd.choice(VOCAB_EVENTS)
            amount = f"{rnd.randrange(1, 3000) / 100:.2f}" if name == "buy" or rnd.random() < 0.05 else None
            rows.append((str(rnd.randrange(1, 81)), day * 86400 + rnd.randrange(0, 86400), name, amount))
        insert_rows(cur, rows, "multi")

    hours = 10 * 24 + rnd.randrange(0, 24)
    add_events(1500, 0, 10)
    for step in range(8):
        day = hours // 24
        as_of = one(cur, "SELECT '2024-01-01 00:00+00'::timestamptz + %s * interval '1 hour'", (hours,))
        cur.execute("SELECT segmentation.refresh(%s, %s)", (step == 4, as_of))
        for scheme, (predicate, having) in cases.items():
            if having is None:      # days_since: the same comparison of as_of - last use
                f = re.search(r"'(.*?)'", predicate).group(1)
                op, x = predicate.split(")")[1].split()
                feat = "true" if f == "*" else "name IN (" + ", ".join(f"'{e}'" for e in VOCAB_FEATURES[f]) + ")"
                having = f"extract(epoch FROM as_of - max(at) FILTER (WHERE {feat})) / 86400 {op} {x}"
            wrong = one(cur, f"""
                WITH e AS (SELECT uid, at, at::date AS day, %(as_of)s::timestamptz::date AS today, %(as_of)s::timestamptz AS as_of,
                                  name, coalesce(amount, 0) AS amount FROM ev),
                     want AS (SELECT uid FROM e GROUP BY uid, today, as_of HAVING {having}),
                     got AS (SELECT user_id AS uid FROM segmentation.memberships WHERE scheme = %(scheme)s AND segment = 'yes')
                SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM got) a
                     FULL JOIN (SELECT * FROM got EXCEPT SELECT * FROM want) b ON false""", {"as_of": as_of, "scheme": scheme})
            members = one(cur, "SELECT count(*) FROM segmentation.memberships WHERE scheme = %s AND segment = 'yes'", (scheme,))
            check(f"vocabulary seed {seed}{' parallel' if parallel else ''} step {step}: {predicate} "
                  f"selects the users the SQL over the events selects ({members})", wrong == 0, wrong)
        # then: the same day hours later, or a later day; with new events or not
        if rnd.random() < 0.6:
            add_events(rnd.randrange(20, 200), day, 2)
        hours += rnd.choice([1, 5, 11, 24, 30, 50, 130, 300])
    cur.execute("DROP EXTENSION segmentation CASCADE")
    conn.close()


def unchanged_users_follow_the_breakpoints():
    """The refreshes of one day check users without new events against the
    last refresh instead of running the rules; users whose RFM scores moved
    because other users' events moved the population breakpoints must still
    move."""
    conn, cur = tracked_db()
    # user u has u events and last came on day 9 + u: every score has its own rank
    insert_rows(cur, [(str(u), (10 + k) * 86400 + u * 60, "view", None) for u in range(1, 21) for k in range(u)], "multi")
    cur.execute("SELECT segmentation.refresh(false, '2024-02-01 01:00+00')")
    # user 1 becomes the most recent, most frequent, biggest buyer
    insert_rows(cur, [("1", 31 * 86400 + 3600 + i, "buy", "100.00") for i in range(30)], "multi")
    cur.execute("SELECT segmentation.refresh(false, '2024-02-01 05:00+00')")
    run = cur.fetchone()[0]
    moved = one(cur, "SELECT count(DISTINCT user_id) FROM segmentation.transitions WHERE run_id = %s AND scheme = 'rfm' AND user_id <> 1", (run,))
    check("same-day refresh: users without events moved in rfm with the breakpoints", moved > 0, moved)
    check("same-day refresh: segments are the predicates' verdict in plain SQL", segments_match_sql(cur) == 0)
    conn.close()


def concurrency():
    conn, cur = tracked_db()
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-01')")
    stop = threading.Event()
    written = [0]
    errors = []

    def writer(seed):
        rnd = random.Random(seed)
        c = connect("segmentation_pipeline")
        k = c.cursor()
        try:
            while not stop.is_set():
                rows = random_rows(rnd, rnd.randrange(1, 30), 200, 30, 20, "bigint")
                k.execute("BEGIN")
                insert_rows(k, rows, "multi")
                k.execute("COMMIT")
                written[0] += len(rows)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        c.close()

    def reader():
        c = connect("segmentation_pipeline")
        k = c.cursor()
        try:
            while not stop.is_set():
                # a complete state: every scored user is in exactly one segment of every scheme
                k.execute("""SELECT count(*) FROM segmentation.scores s, (SELECT DISTINCT scheme FROM segmentation.segments) sc
                             WHERE (SELECT count(*) FROM segmentation.memberships m WHERE m.scheme = sc.scheme AND m.user_id = s.user_id) <> 1""")
                bad = k.fetchone()[0]
                if bad:
                    errors.append(f"reader saw {bad} users without exactly one segment")
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        c.close()

    threads = [threading.Thread(target=writer, args=(s,)) for s in (1, 2, 3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    refreshes = 0
    before = one(cur, "SELECT coalesce(max(id), 0) FROM segmentation.refresh_runs")
    t_end = time.time() + 12
    # (three refreshes at least, however slow the machine: the writers slow
    # down with them)
    while time.time() < t_end or refreshes < 3:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-01')")
        refreshes += 1
    stop.set()
    for t in threads:
        t.join()
    check("concurrency: writers and readers raised no error", not errors, errors[:3])
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-01')")
    total = one(cur, "SELECT count(*) FROM ev")
    profiled = one(cur, "SELECT sum(segmentation.event_count(behavior)) FROM segmentation.profiles")
    runs = one(cur, "SELECT count(*) FROM segmentation.refresh_runs WHERE error IS NULL")
    # (refreshes that read events the writers wrote while they ran)
    busy = one(cur, "SELECT count(*) FROM segmentation.refresh_runs WHERE id > %s AND events_read > 0", (before,))
    check(f"concurrency: {written[0]} events written during {refreshes} refreshes, each counted exactly once",
          total == profiled and written[0] > 0 and busy >= 3, (total, profiled, busy))
    check("concurrency: every refresh succeeded", runs == refreshes + 2, (runs, refreshes))
    same = one(cur, """SELECT count(*) = 0 FROM segmentation.profiles p FULL JOIN (
                          SELECT uid, segmentation.behavior_agg(at, f.id, amount::float8) b
                          FROM ev LEFT JOIN segmentation._feature_map f ON f.event = ev.name GROUP BY uid) s ON s.uid = p.user_id
                       WHERE p.behavior::text IS DISTINCT FROM s.b::text""")
    check("concurrency: stored behaviors equal a recompute, to the byte", same)

    # two refreshes at once: the second waits for the first, then runs; one
    # held longer than refresh_lock_timeout fails, loudly
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', '2 seconds')")
    other = connect("segmentation_pipeline")
    ocur = other.cursor()
    cur.execute("BEGIN")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
    waiter = threading.Thread(target=lambda: ocur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')"))
    other_pid = other.get_backend_pid()
    waiter.start()
    # (until the second waits for the first, however slow the machine)
    waited = False
    for _ in range(200):
        if one(cur, "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %s", (other_pid,)) > 0:
            waited = True
            break
        time.sleep(0.05)
    cur.execute("COMMIT")
    waiter.join()
    second = ocur.fetchone()[0]
    check("two refreshes at once: the second waits for the first, then runs", waited and second is not None, (waited, second))
    cur.execute("BEGIN")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
    t0 = time.time()
    try:
        ocur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
        err = None
    except psycopg2.Error as e:
        err = (e.pgcode, e.pgerror)
    waited = time.time() - t0
    cur.execute("COMMIT")
    check("two refreshes at once: past refresh_lock_timeout the second fails with an error that says why",
          err is not None and err[0] == "55P03" and "another segmentation.refresh()" in err[1] and 1.5 < waited < 10, (err, waited))
    cur.execute("SELECT segmentation.set_setting('refresh_lock_timeout', NULL)")
    other.close()
    conn.close()


def define_during_refresh():
    """A define_feature that commits while a full refresh runs (review 15 F2):
    refresh reads features twice (the conditions' SQL, then _feature_map in
    its main statement); it locks features (SHARE) first, so the define waits
    for it and the next refresh is full.  Without the lock, the run mixed the
    old condition with the new map and consumed the define's full-refresh
    marker: the wrong state stayed through incremental refreshes."""
    conn, cur = tracked_db()
    cur.execute("INSERT INTO ev SELECT u, '2024-03-01'::timestamptz + u * interval '1 hour', 'view', u FROM generate_series(1, 20) u")
    fid = one(cur, "SELECT segmentation.define_feature('F', ARRAY['view'])")
    cur.execute("SELECT segmentation.refresh(true, as_of => '2024-03-10')")
    users_with_f = f"SELECT count(*) FILTER (WHERE {fid} = ANY (segmentation.features(behavior))) FROM segmentation.profiles"
    check("define during refresh: the plain feature counts for every user", one(cur, users_with_f) == 20)
    # hold a full refresh at its main statement (it writes rejected_events there)
    lk = connect("segmentation_pipeline")
    lcur = lk.cursor()
    lcur.execute("BEGIN")
    lcur.execute("LOCK segmentation.rejected_events IN EXCLUSIVE MODE")
    res = {}

    def run(key, sql):
        c = connect("segmentation_pipeline")
        try:
            k = c.cursor()
            k.execute(sql)
            res[key] = k.fetchone()[0]
        except psycopg2.Error as e:
            res[key] = e
        finally:
            c.close()

    def waiting(pattern):
        for _ in range(100):
            if one(cur, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s", (pattern,)) > 0:
                return True
            time.sleep(0.1)
        return False

    r = threading.Thread(target=run, args=("refresh", "SELECT segmentation.refresh(true, as_of => '2024-03-10')"))
    r.start()
    held = waiting("%refresh(true%")
    d = threading.Thread(target=run, args=("define", "SELECT segmentation.define_feature('F', ARRAY['view'], 'amount > 10')"))
    d.start()
    d.join(2)
    define_waited = d.is_alive()
    lcur.execute("COMMIT")
    r.join(60)
    d.join(60)
    lk.close()
    check("define during refresh: the refresh was held at its main statement, and the define waited for it",
          held and define_waited, (held, define_waited))
    check("define during refresh: both succeeded",
          not isinstance(res.get("refresh"), Exception) and res.get("define") == fid, res)
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-10')")
    check("define during refresh: the next refresh (incremental asked) counts the condition: 10 users",
          one(cur, users_with_f) == 10, one(cur, users_with_f))
    conn.close()


def settings_during_refresh():
    """A history_retention set while an incremental refresh runs (review 23):
    the refresh listed the users whose moves the purge takes (none: none
    was in force) before reading the setting again for the purge, so the
    stays purged under the analyses' counts were those of users it had not
    listed, and the counts no longer equaled a recount.  It reads the
    setting once: the purge waits for the next run, which lists them."""
    conn, cur = tracked_db()
    cur.execute("INSERT INTO ev SELECT u, '2024-03-01 10:00'::timestamptz + u * interval '1 hour', 'view', NULL FROM generate_series(1, 10) u")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-05 12:00')")
    # users 1 to 10 move (value: unsegmented to big) at 2024-03-06 12:00
    cur.execute("INSERT INTO ev SELECT u, '2024-03-06 10:00', 'buy', 300 FROM generate_series(1, 10) u")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-06 12:00')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-07 12:00')")
    # hold the next refresh (the same day: users 1 to 10 have nothing new) at
    # its first write of transitions, after the analyses' delta began
    cur.execute("INSERT INTO ev VALUES (11, '2024-03-07 13:00', 'view', NULL)")
    lk = connect("segmentation_pipeline")
    lcur = lk.cursor()
    lcur.execute("BEGIN")
    lcur.execute("LOCK segmentation.transitions IN EXCLUSIVE MODE")
    res = {}

    def run():
        c = connect("segmentation_pipeline")
        try:
            k = c.cursor()
            k.execute("SELECT segmentation.refresh(as_of => '2024-03-07 14:00')")
            res["refresh"] = k.fetchone()[0]
        except psycopg2.Error as e:
            res["refresh"] = e
        finally:
            c.close()

    r = threading.Thread(target=run)
    r.start()
    held = False
    for _ in range(300):
        if one(cur, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%2024-03-07 14:00%'") > 0:
            held = True
            break
        time.sleep(0.1)
    cur.execute("SELECT segmentation.set_setting('history_retention', '1 day')")
    lcur.execute("COMMIT")
    r.join(120)
    lk.close()
    check("settings during refresh: the refresh was held after the delta began, and succeeded",
          held and not isinstance(res.get("refresh"), Exception), (held, res))
    for as_of in ("2024-03-07 14:00", "2024-03-07 15:00"):
        if as_of != "2024-03-07 14:00":
            cur.execute("SELECT segmentation.refresh(as_of => %s)", (as_of,))
        kept = one(cur, ANALYSIS_ROWS)
        cur.execute("BEGIN")
        cur.execute("SELECT segmentation._materialize_analyses()")
        check(f"settings during refresh: the managed analyses' counts equal a recount (as of {as_of})",
              kept == one(cur, ANALYSIS_ROWS), (kept, one(cur, ANALYSIS_ROWS)))
        cur.execute("ROLLBACK")
    check("settings during refresh: the next run purged the moves",
          one(cur, "SELECT count(*) FROM segmentation.transitions WHERE at < '2024-03-06 15:00'") == 0)
    conn.close()


def failures_and_notify():
    conn, cur = loaded_db(5, 3000, 300, 60, "2024-03-01")
    before = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")

    # a bad value is rejected and the refresh goes on without it
    cur.execute("INSERT INTO ev VALUES (7, '2024-03-01', 'buy', 'NaN')")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
    check("bad event: rejected (rejected_events), the refresh succeeds",
          one(cur, "SELECT error IS NULL FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
          and one(cur, "SELECT reason FROM segmentation.rejected_events WHERE user_id = '7'") == "value is NaN")
    cur.execute("DELETE FROM ev WHERE amount = 'NaN'")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
    before = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")

    # a refresh that fails raises its error, keeps the previous state and the
    # queued events, and leaves its row in refresh_runs
    cur.execute("INSERT INTO ev VALUES (7, '2024-03-01', 'buy', 1)")
    cur.execute("INSERT INTO segmentation.segments (scheme, name, predicate, checked_predicate) VALUES ('value', 'forged', 'true', 'true AND true')")
    try:
        cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
        raised = False
    except psycopg2.Error:
        raised = True
    cur.execute("SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    error = cur.fetchone()[0]
    after = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")
    queued = one(cur, "SELECT count(*) FROM segmentation.pending_events")
    check("failed refresh: raised, error recorded, state kept, event still queued",
          raised and error and "forged" in error and before == after and queued == 1, (raised, error, queued))
    cur.execute("DELETE FROM segmentation.segments WHERE name = 'forged'")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-02')")
    check("failed refresh: fixed, the next refresh succeeds",
          one(cur, "SELECT error IS NULL FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1"))

    # a cancelled refresh leaves everything as it was: hold a lock that the
    # refresh needs half-way (after it has rewritten profiles and segments),
    # and cancel it while it waits
    insert_rows(cur, random_rows(random.Random(6), 500, 300, 60, 5, "bigint"), "multi")
    before = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")
    queued = one(cur, "SELECT count(*) FROM segmentation.pending_events")
    runs_before = one(cur, "SELECT count(*) FROM segmentation.refresh_runs")
    blocker = connect("segmentation_pipeline")
    bcur = blocker.cursor()
    bcur.execute("BEGIN")
    bcur.execute("LOCK TABLE segmentation.transitions IN ACCESS EXCLUSIVE MODE")
    victim = connect("segmentation_pipeline")
    vpid = one(victim.cursor(), "SELECT pg_backend_pid()")
    outcome = []

    def run_refresh():
        try:
            victim.cursor().execute("SELECT segmentation.refresh(as_of => '2024-03-10')")
            outcome.append("finished")
        except psycopg2.errors.QueryCanceled:
            outcome.append("cancelled")

    t = threading.Thread(target=run_refresh)
    t.start()
    deadline = time.time() + 30
    while time.time() < deadline and not one(cur, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (vpid,)):
        time.sleep(0.05)
    cur.execute("SELECT pg_cancel_backend(%s)", (vpid,))
    t.join()
    bcur.execute("ROLLBACK")
    blocker.close()
    victim.close()
    after = one(cur, "SELECT row(" + STATE.strip()[7:] + ")::text")
    check("cancelled refresh: previous state and queued events intact, the run logged as cancelled",
          outcome == ["cancelled"] and before == after
          and queued == one(cur, "SELECT count(*) FROM segmentation.pending_events")
          and runs_before + 1 == one(cur, "SELECT count(*) FROM segmentation.refresh_runs")
          and "cancel" in one(cur, "SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1"), outcome)
    cur.execute("SELECT segmentation.refresh(as_of => '2024-03-10')")
    check("after the cancel, the next refresh takes the queued events",
          one(cur, "SELECT events_read FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1") == queued)

    # NOTIFY: the payload names the run and the outbox rows of its moves
    listener = connect("segmentation_pipeline")
    listener.cursor().execute("LISTEN segmentation_transitions")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-06-01')")
    run = cur.fetchone()[0]
    deadline = time.time() + 10
    while not listener.notifies and time.time() < deadline:
        select.select([listener], [], [], 1)
        listener.poll()
    note = listener.notifies[0] if listener.notifies else None
    payload = json.loads(note.payload) if note else {}
    moves = one(cur, "SELECT count(*) FROM segmentation.transitions WHERE id BETWEEN %s AND %s AND run_id = %s",
                (payload.get("first_id"), payload.get("last_id"), run))
    check("NOTIFY segmentation_transitions: payload finds this run's moves in the outbox",
          note is not None and payload.get("run_id") == run and payload.get("transitions") == moves > 0, payload)
    listener.close()
    conn.close()


def analyses_equal_a_recount(cur, label):
    """The managed analyses' counts (config-dumped: a restore carries them
    and the state they were counted for) equal a recount"""
    kept = one(cur, ANALYSIS_ROWS)
    cur.execute("BEGIN")
    cur.execute("SELECT segmentation._materialize_analyses()")
    recount = one(cur, ANALYSIS_ROWS)
    cur.execute("ROLLBACK")
    check(f"{label}: the managed analyses' counts equal a recount", kept == recount and kept is not None, (kept, recount))


def dump_restore():
    conn, cur = loaded_db(8, 800, 50, 30, "2024-02-01")
    cur.execute("""CREATE TABLE ab AS SELECT DISTINCT uid, CASE WHEN uid % 2 = 0 THEN 'control' ELSE 'b' END AS arm,
                          '2024-01-10'::timestamptz AS at FROM ev;
                   SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'buy')""")
    # user attributes (track_users): the config, the copy, the capture
    cur.execute("""CREATE TABLE acct (uid bigint PRIMARY KEY, plan varchar(10), seats int);
                   INSERT INTO acct SELECT DISTINCT uid, CASE WHEN uid % 3 = 0 THEN 'pro' ELSE 'free' END, uid % 7 FROM ev;
                   SELECT segmentation.track_users('acct', 'uid');
                   SELECT segmentation.define_segment('plan_tier', 'pro', $$plan = 'pro' AND seats > 2$$);
                   SELECT segmentation.refresh(as_of => '2024-02-01')""")
    config = """SELECT (SELECT string_agg(format('%s|%s|%s|%s|%s', source, user_column, time_column, event_column, value_column), ',') FROM segmentation.sources),
                       (SELECT string_agg(format('%s|%s|%s', id, name, event_names), ',' ORDER BY id) FROM segmentation.features),
                       (SELECT string_agg(format('%s|%s|%s|%s', scheme, name, checked_predicate, priority), ',' ORDER BY scheme, name) FROM segmentation.segments),
                       (SELECT count(*) FROM segmentation.membership_history),
                       (SELECT string_agg(l::text, ',') FROM segmentation.experiment_lift l),
                       (SELECT string_agg(format('%s|%s|%s|%s', source, user_column, columns, tracked_by), ',') FROM segmentation.attribute_sources),
                       (SELECT md5(string_agg(format('%s|%s|%s|%s', user_id, plan, seats, plan_tier), ',' ORDER BY user_id)) FROM segmentation.user_scores)"""
    cur.execute(config)
    before = cur.fetchone()
    conn.close()
    dump = subprocess.run(["pg_dump", "-Fc", "segmentation_pipeline"], check=True, capture_output=True).stdout
    fresh_database("segmentation_restored", extension=False)
    r = subprocess.run(["pg_restore", "--exit-on-error", "-d", "segmentation_restored"], input=dump, capture_output=True)
    check("pg_dump | pg_restore succeeds", r.returncode == 0, r.stderr.decode()[-2000:])
    conn = connect("segmentation_restored")
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute(config)
    after = cur.fetchone()
    check("restored: sources, features, segments, history, the experiment readout and the attributes are the same",
          before == after and before[4] is not None and before[5] is not None, (before, after))
    analyses_equal_a_recount(cur, "restored")
    cur.execute("INSERT INTO ev VALUES (4242, '2024-02-01', 'search', NULL)")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-02')")
    analyses_equal_a_recount(cur, "restored, then refreshed")
    cur.execute("SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    err = cur.fetchone()[0]
    check("restored: capture and refresh keep working",
          err is None and one(cur, "SELECT count(*) FROM segmentation.user_scores WHERE user_id = 4242") == 1, err)
    cur.execute("INSERT INTO acct VALUES (4242, 'pro', 9)")
    cur.execute("SELECT segmentation.refresh(as_of => '2024-02-02 01:00')")
    cur.execute("SELECT error FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1")
    err = cur.fetchone()[0]
    check("restored: the attribute table's capture and refresh keep working",
          err is None and one(cur, "SELECT plan_tier FROM segmentation.user_scores WHERE user_id = 4242") == "pro", err)
    # (an incremental run: not at 00:00 UTC, same day)
    analyses_equal_a_recount(cur, "restored, then refreshed again")
    conn.close()
    drop_database("segmentation_restored")


def pg_cron():
    # pg_cron runs jobs only in cron.database_name: this suite's database
    db = one(connect("postgres").cursor(), "SHOW cron.database_name")
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
    cur.execute("DROP TABLE IF EXISTS ev")
    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    cur.execute("CREATE EXTENSION segmentation")
    cur.execute(SETUP.format(t="bigint"))
    insert_rows(cur, random_rows(random.Random(9), 300, 30, 0, 30, "bigint"), "multi")
    job1 = one(cur, "SELECT segmentation.schedule_refresh('*/5 * * * *')")
    job2 = one(cur, "SELECT segmentation.schedule_refresh('* * * * *')")
    cur.execute("SELECT count(*), min(schedule) FROM cron.job WHERE jobname = 'segmentation-refresh'")
    n, schedule = cur.fetchone()
    check("schedule_refresh twice keeps one job, with the last schedule", n == 1 and schedule == "* * * * *" and job1 == job2, (n, schedule))
    deadline = time.time() + 150
    while time.time() < deadline and one(cur, "SELECT count(*) FROM segmentation.refresh_runs") == 0:
        time.sleep(2)
    cur.execute("SELECT mode, error, events_read FROM segmentation.refresh_runs ORDER BY id LIMIT 1")
    row = cur.fetchone()
    check("pg_cron ran the scheduled refresh and it recorded its run", row is not None and row[1] is None and row[2] == 300, row)
    # (pg_cron writes the job's status in a transaction of its own, after
    # the job's: wait for it to say how the run ended)
    status = None
    while time.time() < deadline and status is None:
        cur.execute("""SELECT status FROM cron.job_run_details WHERE jobid = %s AND status IN ('succeeded', 'failed')
                       ORDER BY runid LIMIT 1""", (job2,))
        status = (cur.fetchone() or [None])[0]
        if status is None:
            time.sleep(1)
    check("pg_cron recorded the job as succeeded", status == "succeeded", status)
    check("unschedule_refresh removes the job", one(cur, "SELECT segmentation.unschedule_refresh()") is True
          and one(cur, "SELECT count(*) FROM cron.job WHERE jobname = 'segmentation-refresh'") == 0)
    check("unschedule_refresh without a job says false", one(cur, "SELECT segmentation.unschedule_refresh()") is False)
    cur.execute("DROP EXTENSION segmentation CASCADE")
    cur.execute("DROP TABLE ev")
    cur.execute("DROP EXTENSION pg_cron")
    conn.close()


def main():
    for seed, t, parallel in ((1, "bigint", False), (2, "text", False), (3, "bigint", True)):
        property_incremental_equals_full(seed, t, parallel)
    for seed in (11, 12):
        property_conditions(seed)
    for seed, t in ((21, "bigint"), (22, "text")):
        property_attributes(seed, t)
    attributes_parallel_pass()
    for seed, parallel, kinds in ((4, False, None), (5, True, None), (6, False, ["events", "days", "value", "since"]),
                                  (8, False, ["periods", "first", "last", "events_all"])):
        vocabulary_against_raw_events(seed, parallel, kinds)
    unchanged_users_follow_the_breakpoints()
    concurrency()
    define_during_refresh()
    settings_during_refresh()
    failures_and_notify()
    dump_restore()
    if "--no-cron" not in sys.argv:
        pg_cron()
    drop_database("segmentation_pipeline")
    suite.finish()


if __name__ == "__main__":
    main()
