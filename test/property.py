#!/usr/bin/python3
"""Property suite: every accessor of behavior_agg against plain SQL on random
events (fixed seeds), behavior_union_agg over random partitions against one
pass, and both again under forced parallel plans.

Connects with the libpq environment (PGHOST, PGPORT, PGUSER); works in its
own database, segmentation_property, which it drops and recreates.
Exits non-zero on the first failed property.
"""
import io
import random

from harness import PARALLEL, Suite, drop_database, fresh_database

DB = "segmentation_property"
SEEDS = [11, 23, 57]
AS_OFS = ["2024-03-01 00:00:00+00", "2024-06-15 23:59:59.999999+00",
          "2025-01-01 12:00:00+00", "2023-12-01 00:00:00+00"]
HALF_LIVES = ["7 days", "36 hours"]

suite = Suite("property suite")
check = suite.check


def scalar(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def generate(seed):
    """Events with skew: a few heavy users, many light ones; times that hit
    day edges; NULL, small and huge feature ids; cents and arbitrary values."""
    rnd = random.Random(seed)
    base = 1704067200  # 2024-01-01 00:00:00 UTC, in seconds
    out = io.StringIO()
    for user in range(1, 301):
        n = int(rnd.paretovariate(1.1) * 8)
        n = min(n, 3000)
        start = base + rnd.randrange(0, 200) * 86400
        span = rnd.choice([1, 3, 30, 120, 400])
        for _ in range(n):
            day = rnd.randrange(0, span)
            kind = rnd.random()
            if kind < 0.1:
                usec = 86400 * 10**6 - 1          # 23:59:59.999999
            elif kind < 0.2:
                usec = 0                          # midnight
            else:
                usec = rnd.randrange(0, 86400 * 10**6)
            secs = start + day * 86400
            f = rnd.random()
            feature = "\\N" if f < 0.2 else (str(2147483647) if f < 0.22 else str(rnd.randrange(0, 30)))
            v = rnd.random()
            value = "\\N" if v < 0.5 else (f"{rnd.randrange(0, 100000) / 100:.2f}" if v < 0.9 else repr(rnd.uniform(-1e6, 1e6)))
            part = rnd.randrange(0, rnd.choice([2, 3, 7]))
            out.write(f"{user}\t{secs}\t{usec}\t{feature}\t{value}\t{part}\n")
    out.seek(0)
    return out


def load(cur, seed):
    cur.execute("DROP TABLE IF EXISTS raw, events, user_behaviors CASCADE")
    cur.execute("CREATE TABLE raw (user_id bigint, secs bigint, usec bigint, feature int, amount float8, part int)")
    cur.copy_expert("COPY raw FROM STDIN", generate(seed))
    cur.execute("""CREATE TABLE events AS
                   SELECT user_id, to_timestamp(secs) + usec * interval '1 microsecond' AS ts,
                          feature, amount, part FROM raw""")
    cur.execute("ANALYZE events")
    cur.execute("""CREATE TABLE user_behaviors AS
                   SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id""")
    cur.execute("ANALYZE user_behaviors")
    cur.execute("""CREATE VIEW split_input AS
                   SELECT b AS behavior, user_id % 9 = 0 AS opted_out FROM user_behaviors""")
    return scalar(cur, "SELECT count(*) FROM events")


# refresh on Citus takes the same breakpoints by selection over counts
# (_rfm_breakpoints_split): whole keys counted at once, after a round, or
# only when a bucket holds one key
SPLIT = """
SELECT array_agg(g ORDER BY g) FILTER (WHERE segmentation._rfm_breakpoints_split('split_input', %(as_of)s, g)
                                             IS DISTINCT FROM a.agg), min(a.agg::text)
FROM unnest(ARRAY[0, 2, 50, 10000]) g,
     (SELECT segmentation.rfm_breakpoints(behavior, %(as_of)s) AS agg FROM split_input WHERE NOT opted_out) a
"""


# Each property: a query that returns the number of users where the C
# answer and the plain-SQL answer disagree.
ACCESSOR_MISMATCHES = """
WITH b AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id),
plain AS (
  SELECT user_id, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS events,
         coalesce(sum(amount), 0) AS value_sum,
         count(DISTINCT (ts AT TIME ZONE 'UTC')::date) AS active_days,
         coalesce(array_agg(DISTINCT feature ORDER BY feature) FILTER (WHERE feature IS NOT NULL), '{}') AS features
  FROM events GROUP BY user_id)
SELECT count(*) FILTER (WHERE segmentation.first_seen(b) <> p.first_seen) AS first_seen,
       count(*) FILTER (WHERE segmentation.last_seen(b) <> p.last_seen) AS last_seen,
       count(*) FILTER (WHERE segmentation.event_count(b) <> p.events) AS event_count,
       count(*) FILTER (WHERE abs(segmentation.value_sum(b) - p.value_sum) > 1e-6 * greatest(1, abs(p.value_sum))) AS value_sum,
       count(*) FILTER (WHERE segmentation.active_days(b) <> p.active_days) AS active_days,
       count(*) FILTER (WHERE segmentation.features(b) <> p.features) AS features,
       count(*) AS users
FROM b JOIN plain p USING (user_id)
"""

DATED_MISMATCHES = """
WITH b AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id),
days AS (SELECT DISTINCT user_id, (ts AT TIME ZONE 'UTC')::date AS d FROM events),
asof AS (SELECT %(as_of)s::timestamptz AS t, (%(as_of)s::timestamptz AT TIME ZONE 'UTC')::date AS d,
                extract(epoch FROM %(half_life)s::interval) / 86400 AS h),
ends AS (SELECT user_id, min(ts) AS first_ts, max(ts) AS last_ts FROM events GROUP BY user_id),
win AS (SELECT user_id,
               count(*) FILTER (WHERE days.d > asof.d - 7 AND days.d <= asof.d) AS w7,
               count(*) FILTER (WHERE days.d > asof.d - 28 AND days.d <= asof.d) AS w28,
               coalesce(sum(0.5 ^ ((asof.d - days.d) / asof.h)) FILTER (WHERE days.d <= asof.d), 0) AS decayed
        FROM days, asof GROUP BY user_id),
islands AS (SELECT user_id, max(d) AS hi, min(d) AS lo
            FROM (SELECT user_id, days.d, days.d - (row_number() OVER (PARTITION BY user_id ORDER BY days.d))::int AS grp
                  FROM days, asof WHERE days.d <= asof.d) x GROUP BY user_id, grp),
streaks AS (SELECT user_id, hi - lo + 1 AS streak FROM islands, asof WHERE hi >= asof.d - 1),
plain AS (
  SELECT e.user_id, w7, w28, coalesce(s.streak, 0) AS streak, decayed,
         extract(epoch FROM asof.t - e.last_ts) / 86400 AS recency,
         extract(epoch FROM asof.t - e.first_ts) / 86400 AS tenure
  FROM ends e JOIN win USING (user_id) LEFT JOIN streaks s USING (user_id), asof)
SELECT count(*) FILTER (WHERE segmentation.active_days(b, t, '7 days') <> w7) AS window_7,
       count(*) FILTER (WHERE segmentation.active_days(b, t, '28 days') <> w28) AS window_28,
       count(*) FILTER (WHERE segmentation.current_streak(b, t) <> streak) AS streak,
       count(*) FILTER (WHERE abs(segmentation.decayed_activity(b, t, %(half_life)s) - decayed) > 1e-9 * greatest(1, decayed)) AS decayed,
       count(*) FILTER (WHERE abs(segmentation.recency_days(b, t) - recency) > 1e-9) AS recency,
       count(*) FILTER (WHERE abs(segmentation.tenure_days(b, t) - tenure) > 1e-9) AS tenure,
       count(*) AS users
FROM b JOIN plain p USING (user_id), asof
"""

FEATURE_MISMATCHES = """
WITH b AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id),
fs AS (SELECT f FROM generate_series(0, 31) f UNION ALL SELECT 2147483647),
plain AS (SELECT user_id, feature, count(*) AS n, max(ts) AS last FROM events WHERE feature IS NOT NULL GROUP BY 1, 2)
SELECT count(*) FILTER (WHERE segmentation.feature_count(b.b, fs.f) <> coalesce(p.n, 0)) AS feature_count,
       count(*) FILTER (WHERE segmentation.feature_last_seen(b.b, fs.f) IS DISTINCT FROM p.last) AS feature_last_seen
FROM b CROSS JOIN fs LEFT JOIN plain p ON p.user_id = b.user_id AND p.feature = fs.f
"""

ADOPTION_MISMATCHES = """
WITH b AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id),
plain AS (SELECT user_id, count(DISTINCT feature) FILTER (WHERE feature = ANY ('{1,2,3,5,8,13,21}')) / 7.0 AS share
          FROM events GROUP BY user_id)
SELECT count(*) FILTER (WHERE abs(segmentation.adoption(b, '{1,2,3,5,8,13,21}') - share) > 1e-12)
FROM b JOIN plain USING (user_id)
"""

# behavior_union_agg of per-partition behaviors, byte-for-byte equal to one pass
PARTITION_MISMATCHES = """
WITH whole AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id),
parts AS (SELECT user_id, {part} AS part, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY 1, 2),
rolled AS (SELECT user_id, segmentation.behavior_union_agg(b) AS b FROM parts GROUP BY user_id)
SELECT count(*) FILTER (WHERE w.b::text IS DISTINCT FROM r.b::text) FROM whole w FULL JOIN rolled r USING (user_id)
"""

# the aggregate refresh takes the RFM breakpoints from, against
# percentile_cont; and behavior_scores, which refresh scores everyone with,
# against the accessors and quantile_score one by one
RFM = """
WITH u AS (SELECT * FROM user_behaviors),
bp AS (SELECT (SELECT segmentation.rfm_breakpoints(b, %(as_of)s) FROM user_behaviors) AS agg,
              ARRAY[percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY segmentation.recency_days(b, %(as_of)s)),
                    percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY segmentation.event_count(b)),
                    percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY segmentation.value_sum(b))] AS sql
       FROM user_behaviors)
SELECT bp.agg = bp.sql AS breakpoints_equal,
       count(*) FILTER (WHERE (s.first_seen, s.last_seen, s.recency_days, s.tenure_days, s.frequency, s.monetary,
                               s.active_days, s.active_days_7, s.active_days_28, s.active_days_prev_28,
                               s.current_streak, s.decayed_activity, s.r_score, s.f_score, s.m_score, s.rfm_cell)
               IS DISTINCT FROM
                              (segmentation.first_seen(b), segmentation.last_seen(b), segmentation.recency_days(b, %(as_of)s),
                               segmentation.tenure_days(b, %(as_of)s), segmentation.event_count(b), segmentation.value_sum(b),
                               segmentation.active_days(b), segmentation.active_days(b, %(as_of)s, '7 days'),
                               segmentation.active_days(b, %(as_of)s, '28 days'),
                               segmentation.active_days(b, %(as_of)s::timestamptz - interval '28 days', '28 days'),
                               segmentation.current_streak(b, %(as_of)s), segmentation.decayed_activity(b, %(as_of)s, '7 days'),
                               segmentation.quantile_score(segmentation.recency_days(b, %(as_of)s), bp.sql[1:1][1:4], true),
                               segmentation.quantile_score(segmentation.event_count(b), bp.sql[2:2][1:4]),
                               segmentation.quantile_score(segmentation.value_sum(b), bp.sql[3:3][1:4]),
                               concat(segmentation.quantile_score(segmentation.recency_days(b, %(as_of)s), bp.sql[1:1][1:4], true),
                                      segmentation.quantile_score(segmentation.event_count(b), bp.sql[2:2][1:4]),
                                      segmentation.quantile_score(segmentation.value_sum(b), bp.sql[3:3][1:4])))) AS score_mismatches,
       count(*) AS users
FROM u, bp, LATERAL segmentation.behavior_scores(u.b, %(as_of)s, '{}', bp.agg) s
GROUP BY bp.agg, bp.sql
"""

# the per-feature accessors (feature -1: every event) against plain SQL, for
# one as_of, window, period, periods and min_events; each column counts the
# (user, feature) pairs where they disagree
PER_FEATURE_MISMATCHES = """
WITH b AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount) AS b FROM events GROUP BY user_id),
fs AS (SELECT unnest('{-1,0,1,2,5,17,29,30,2147483647}'::int[]) AS f),
asof AS (SELECT %(as_of)s::timestamptz AS t, (%(as_of)s::timestamptz AT TIME ZONE 'UTC')::date AS d),
ev AS (SELECT e.user_id, fs.f, e.ts, e.amount, (e.ts AT TIME ZONE 'UTC')::date AS d
       FROM events e JOIN fs ON fs.f = -1 OR e.feature = fs.f),
plain AS (
  SELECT b.user_id, fs.f,
         count(ev.ts) AS n_all,
         count(ev.ts) FILTER (WHERE ev.d > asof.d - %(w)s AND ev.d <= asof.d) AS n_win,
         count(DISTINCT ev.d) AS d_all,
         count(DISTINCT ev.d) FILTER (WHERE ev.d > asof.d - %(w)s AND ev.d <= asof.d) AS d_win,
         coalesce(sum(ev.amount), 0) AS v_all,
         coalesce(sum(ev.amount) FILTER (WHERE ev.d > asof.d - %(w)s AND ev.d <= asof.d), 0) AS v_win,
         min(ev.ts) AS first, max(ev.ts) AS last
  FROM b CROSS JOIN fs CROSS JOIN asof LEFT JOIN ev ON ev.user_id = b.user_id AND ev.f = fs.f
  GROUP BY b.user_id, fs.f),
periods AS (
  SELECT user_id, f, count(*) AS n FROM (
    SELECT ev.user_id, ev.f, (asof.d - ev.d) / %(len)s AS k FROM ev, asof
    WHERE ev.d <= asof.d AND ev.d > asof.d - %(len)s * %(periods)s
    GROUP BY 1, 2, 3 HAVING count(*) >= %(min)s) x GROUP BY 1, 2)
SELECT count(*) FILTER (WHERE segmentation.events_in(b, p.f, asof.t) <> n_all) AS events_all,
       count(*) FILTER (WHERE segmentation.events_in(b, p.f, asof.t, %(window)s) <> n_win) AS events_window,
       count(*) FILTER (WHERE segmentation.days_in(b, p.f, asof.t) <> d_all) AS days_all,
       count(*) FILTER (WHERE segmentation.days_in(b, p.f, asof.t, %(window)s) <> d_win) AS days_window,
       count(*) FILTER (WHERE abs(segmentation.value_in(b, p.f, asof.t) - v_all) > 1e-6 * greatest(1, abs(v_all))) AS value_all,
       count(*) FILTER (WHERE abs(segmentation.value_in(b, p.f, asof.t, %(window)s) - v_win) > 1e-6 * greatest(1, abs(v_win))) AS value_window,
       count(*) FILTER (WHERE segmentation.first_use(b, p.f) IS DISTINCT FROM first) AS first_use,
       count(*) FILTER (WHERE segmentation.last_use(b, p.f) IS DISTINCT FROM last) AS last_use,
       count(*) FILTER (WHERE segmentation.days_since(b, p.f, asof.t) IS DISTINCT FROM
                              extract(epoch FROM asof.t - last)::float8 / 86400
                        AND abs(segmentation.days_since(b, p.f, asof.t) - extract(epoch FROM asof.t - last)::float8 / 86400) > 1e-9) AS days_since,
       count(*) FILTER (WHERE segmentation.periods_with(b, p.f, asof.t, %(min)s, %(period)s, %(periods)s)
                              <> coalesce(q.n, 0)) AS periods_with,
       count(*) AS pairs, count(*) FILTER (WHERE n_win > 0) AS nonempty_windows
FROM plain p JOIN b USING (user_id) LEFT JOIN periods q USING (user_id, f), asof
"""

# merge to the byte: commutative and associative over three parts of every
# user, and behavior_agg independent of the order of its rows
MERGE_LAWS = """
WITH parts AS (SELECT user_id, hashtext(ts::text || %(salt)s) & 3 AS part, ts, feature, amount FROM events),
p AS (SELECT user_id,
             segmentation.behavior_agg(ts, feature, amount) FILTER (WHERE part = 0) AS a,
             segmentation.behavior_agg(ts, feature, amount) FILTER (WHERE part = 1) AS b,
             segmentation.behavior_agg(ts, feature, amount) FILTER (WHERE part >= 2) AS c
      FROM parts GROUP BY user_id),
whole AS (SELECT user_id, segmentation.behavior_agg(ts, feature, amount ORDER BY md5(ts::text || %(salt)s)) AS w
          FROM events GROUP BY user_id)
SELECT count(*) FILTER (WHERE segmentation.behavior_merge(a, b)::text IS DISTINCT FROM segmentation.behavior_merge(b, a)::text) AS commutative,
       count(*) FILTER (WHERE segmentation.behavior_merge(segmentation.behavior_merge(a, b), c)::text
                              IS DISTINCT FROM segmentation.behavior_merge(a, segmentation.behavior_merge(b, c))::text) AS associative,
       count(*) FILTER (WHERE segmentation.behavior_merge(segmentation.behavior_merge(c, b), a)::text IS DISTINCT FROM w::text) AS equals_one_pass,
       count(*) AS users
FROM p JOIN whole USING (user_id)
"""

SERIAL = ["SET max_parallel_workers_per_gather = 0"]


def per_feature_cases(seed):
    """A few random (as_of, window, period, periods, min_events) per seed."""
    rnd = random.Random(seed * 7919)
    cases = []
    for i in range(4):
        as_of = AS_OFS[i] if i < 2 else f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} {rnd.randint(0, 23):02d}:59:59+00"
        w = rnd.choice([1, 2, 7, 28, 90, 400])
        length = rnd.choice([1, 3, 7, 30])
        cases.append({"as_of": as_of, "w": w, "window": f"{w} days", "len": length, "period": f"{length} days",
                      "periods": rnd.choice([1, 2, 5, 12]), "min": rnd.choice([1, 2, 3, 10])})
    return cases


def run_properties(cur, label, seed=0):
    cur.execute(ACCESSOR_MISMATCHES)
    row = cur.fetchone()
    names = [d[0] for d in cur.description]
    users = row[-1]
    check(f"{label}: accessors match plain SQL for {users} users",
          users > 0 and all(v == 0 for v in row[:-1]), dict(zip(names, row)))
    for as_of in AS_OFS:
        for half_life in HALF_LIVES:
            cur.execute(DATED_MISMATCHES, {"as_of": as_of, "half_life": half_life})
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
            check(f"{label}: windows, streak, decay, recency, tenure at {as_of} (half-life {half_life})",
                  row[-1] == 300 and all(v == 0 for v in row[:-1]), dict(zip(names, row)))
    cur.execute(FEATURE_MISMATCHES)
    row = cur.fetchone()
    check(f"{label}: feature_count and feature_last_seen match", row == (0, 0), row)
    check(f"{label}: adoption matches", scalar(cur, ADOPTION_MISMATCHES) == 0)
    for as_of in AS_OFS:
        cur.execute(RFM, {"as_of": as_of})
        row = cur.fetchone()
        check(f"{label}: rfm_breakpoints equals percentile_cont, behavior_scores the accessors, at {as_of}",
              row[0] is True and row[1] == 0 and row[2] > 0, row)
        cur.execute(SPLIT, {"as_of": as_of})
        row = cur.fetchone()
        check(f"{label}: the breakpoints by selection over counts equal rfm_breakpoints, at {as_of}",
              row[0] is None and row[1] is not None, row)
    for part in ["part", "(hashtext(ts::text) & 3)", "(extract(dow FROM ts))::int", "0"]:
        n = scalar(cur, PARTITION_MISMATCHES.format(part=part))
        check(f"{label}: union over partition by {part} equals one pass", n == 0, n)
    for case in per_feature_cases(seed):
        cur.execute(PER_FEATURE_MISMATCHES, case)
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
        check(f"{label}: per-feature accessors at {case['as_of']}, window {case['window']}, "
              f">= {case['min']} events in {case['periods']} periods of {case['period']}",
              row[-2] > 0 and row[-1] > 0 and all(v == 0 for v in row[:-2]), dict(zip(names, row)))
    for salt in ["x", "y"]:
        cur.execute(MERGE_LAWS, {"salt": salt})
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
        check(f"{label}: merge commutative, associative and equal to one pass in any row order, to the byte ({salt})",
              row[-1] > 0 and all(v == 0 for v in row[:-1]), dict(zip(names, row)))


def main():
    conn, cur = fresh_database(DB)
    for seed in SEEDS:
        n = load(cur, seed)
        print(f"seed {seed}: {n} events")
        for s in SERIAL:
            cur.execute(s)
        run_properties(cur, f"seed {seed} serial", seed)
        cur.execute("RESET max_parallel_workers_per_gather")
        for s in PARALLEL:
            cur.execute(s)
        cur.execute("EXPLAIN (COSTS OFF) SELECT user_id, segmentation.behavior_agg(ts, feature, amount) FROM events GROUP BY user_id")
        plan = "\n".join(r[0] for r in cur.fetchall())
        check(f"seed {seed}: the parallel plan has a partial aggregate", "Partial" in plan and "Gather" in plan, plan)
        cur.execute("EXPLAIN (COSTS OFF) SELECT segmentation.rfm_breakpoints(b, now()) FROM user_behaviors")
        plan = "\n".join(r[0] for r in cur.fetchall())
        check(f"seed {seed}: rfm_breakpoints has a partial aggregate too", "Partial" in plan and "Gather" in plan, plan)
        run_properties(cur, f"seed {seed} parallel", seed)
        cur.execute("RESET ALL")
        cur.execute("SET TIME ZONE 'UTC'")
    conn.close()
    drop_database(DB)
    suite.finish()


if __name__ == "__main__":
    main()
