#!/usr/bin/python3
"""Property suite of the managed analyses (sql/75-analyses-managed.sql):
retention_matrix, lifecycle, stickiness and validate_segments, every row,
against references written in Python from doc/analyses.md and computed from
the raw events table and membership_history (never from the behaviors).

Per seed: a few hundred users with random events over about 130 days (times
on UTC midnight and just before it included), loaded in three stages with a
refresh after each (so membership_history has moves), late events with old
times, and events after the last refresh's as_of (which the analyses leave
out).  Every period (day, week, month), with and without a scheme, unbounded
true and false; validate_segments at several as_of, horizons and outcomes.
The answers must not depend on the session's time zone, and a reader gets
the same rows as the owner.

Connects with the libpq environment (PGHOST, PGPORT, PGUSER); works in its
own database, segmentation_analyses, which it drops and recreates.
"""
import datetime as dt
import io
import math
import random

import mpmath

from harness import Suite, connect, drop_database, fresh_database

DB = "segmentation_analyses"
SEEDS = [5, 29]
USERS = 300
BASE = dt.datetime(2023, 12, 22, tzinfo=dt.timezone.utc)  # a Friday, late in a month
UTC = dt.timezone.utc
# the as_of of the three refreshes
STAGES = [BASE + dt.timedelta(days=45, hours=12), BASE + dt.timedelta(days=90), BASE + dt.timedelta(days=130, hours=6)]
PERIODS = ["day", "week", "month"]
Z = 1.959963984540054
LIFECYCLE_ORDER = {"new": 0, "returning": 1, "resurrecting": 2, "dormant": 3}

suite = Suite("analyses suite", quiet=True)
check = suite.check


def generate(seed):
    """(user, ts, event) rows: users start at random, come back in bursts, churn."""
    rnd = random.Random(seed)
    rows = []
    for user in range(1, USERS + 1):
        day = rnd.randrange(-5, 110)
        keep = rnd.choice([0.5, 0.8, 0.93])
        while day < 128:
            for _ in range(rnd.randrange(1, 4)):
                r = rnd.random()
                if r < 0.1:
                    sec = 0.0                       # midnight UTC
                elif r < 0.2:
                    sec = 86400 - 0.001             # the last millisecond of the day
                else:
                    sec = rnd.randrange(86400)
                rows.append((user, BASE + dt.timedelta(days=day, seconds=sec), rnd.choice(["view", "buy", "search"])))
            if rnd.random() > keep:
                break
            day += rnd.choice([1, 1, 2, 3, 6, 9, 20])
    # a few users active after the last refresh's as_of only, or also
    for user in range(USERS + 1, USERS + 11):
        rows.append((user, STAGES[-1] + dt.timedelta(days=rnd.randrange(1, 9)), "view"))
    for user in rnd.sample(range(1, USERS + 1), 10):
        rows.append((user, STAGES[-1] + dt.timedelta(days=rnd.randrange(1, 9)), "view"))
    rnd.shuffle(rows)
    return rows


def load(cur, rows):
    buf = io.StringIO("".join(f"{u}\t{ts.isoformat()}\t{e}\n" for u, ts, e in rows))
    cur.copy_expert("COPY ev (uid, ts, name) FROM STDIN", buf)


# ---------- periods ----------

def period_start(d, period):
    if period == "day":
        return d
    if period == "week":
        return d - dt.timedelta(days=d.weekday())
    return d.replace(day=1)


def period_index(d, period):
    if period == "day":
        return d.toordinal()
    if period == "week":
        return (d.toordinal() - 1) // 7  # ordinal 1 (0001-01-01) was a Monday
    return d.year * 12 + d.month - 1


def period_from_index(i, period):
    if period == "day":
        return dt.date.fromordinal(i)
    if period == "week":
        return dt.date.fromordinal(i * 7 + 1)
    return dt.date(i // 12, i % 12 + 1, 1)


def midnight(d):
    return dt.datetime(d.year, d.month, d.day, tzinfo=UTC)


# ---------- segments: the rule of doc/analyses.md, literally ----------

def segment_at(stays, user, t):
    """The stay in force at t, else the first one entered after t, else (unknown)."""
    mine = stays.get(user, [])
    inforce = [s for s in mine if s[1] <= t and (s[2] is None or t < s[2])]
    if inforce:
        return max(inforce, key=lambda s: s[1])[0]
    after = sorted((s for s in mine if s[1] > t), key=lambda s: (s[1], s[2] is None, s[2] or t))
    return after[0][0] if after else "(unknown)"


# ---------- references ----------

def retention_ref(days, stays, scheme, period, last_period, unbounded, fdays=None, start=None, ret=None):
    """fdays[feature][user]: the days with an event of the feature (start
    and ret: features, None for any event)"""
    last_i = period_index(last_period, period)
    cohorts = {}
    for user, ds in days.items():
        starts = fdays[start].get(user, set()) if start else ds
        returns = fdays[ret].get(user, set()) if ret else ds
        if not starts:
            continue
        c = period_start(min(starts), period)
        if c > last_period:
            continue
        seg = segment_at(stays, user, midnight(c)) if scheme else None
        idx = {period_index(period_start(d, period), period) for d in returns
               if c <= period_start(d, period) <= last_period}
        for s in ([seg, "(all)"] if scheme else ["(all)"]):
            cohorts.setdefault((c, s), []).append(idx)
    out = []
    for (c, s), users in cohorts.items():
        ci = period_index(c, period)
        for k in range(0, last_i - ci + 1):
            if unbounded:
                r = sum(1 for idx in users if idx and max(idx) >= ci + k)
            else:
                r = sum(1 for idx in users if ci + k in idx)
            out.append((c, s, k, len(users), r, r / len(users)))
    return out


def lifecycle_ref(days, stays, scheme, period, last_period):
    last_i = period_index(last_period, period)
    counts = {}
    for user, ds in days.items():
        act = sorted({period_index(period_start(d, period), period) for d in ds})
        act = [i for i in act if i <= last_i]
        if not act:
            continue
        aset = set(act)
        for i in range(act[0], last_i + 1):
            if i in aset:
                if i == act[0]:
                    status = "new"
                elif i - 1 in aset:
                    status = "returning"
                else:
                    status = "resurrecting"
            elif i - 1 in aset:
                status = "dormant"
            else:
                continue
            p = period_from_index(i, period)
            seg = segment_at(stays, user, midnight(p)) if scheme else None
            for s in ([seg, "(all)"] if scheme else ["(all)"]):
                counts[(p, s, status)] = counts.get((p, s, status), 0) + 1
    return [k + (v,) for k, v in counts.items()]


def stickiness_ref(days, stays, scheme, period, last_period):
    counts = {}
    for user, ds in days.items():
        per = {}
        for d in ds:
            p = period_start(d, period)
            if p <= last_period:
                per[p] = per.get(p, 0) + 1
        for p, n in per.items():
            seg = segment_at(stays, user, midnight(p)) if scheme else None
            for s in ([seg, "(all)"] if scheme else ["(all)"]):
                counts[(p, s, n)] = counts.get((p, s, n), 0) + 1
    return [k + (v,) for k, v in counts.items()]


def two_proportion_p(x1, n1, x2, n2):
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x2 / n2 - x1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


def bh(ps):
    idx = [i for i, p in enumerate(ps) if p is not None]
    m = len(idx)
    out = [None] * len(ps)
    running = 1.0
    for rank, i in reversed(list(enumerate(sorted(idx, key=lambda i: ps[i]), start=1))):
        running = min(running, ps[i] * m / rank)
        out[i] = running
    return out


def validate_ref(days, hist, scheme, as_of, horizon, outcome, fdays=None):
    members = {}
    for (sch, user, seg, entered, exited) in hist:
        if sch == scheme and entered <= as_of and (exited is None or exited > as_of):
            members[user] = seg
    first = as_of.date()
    last = (as_of + horizon).date()
    groups = {}
    for user, seg in members.items():
        mine = days.get(user, ()) if outcome in ("churn", "active") else fdays[outcome].get(user, ())
        active = any(first < d <= last for d in mine)
        hit = not active if outcome == "churn" else active
        n, x = groups.get(seg, (0, 0))
        groups[seg] = (n + 1, x + hit)
    segs = sorted(groups)
    tn = sum(n for n, _ in groups.values())
    tx = sum(x for _, x in groups.values())
    ps = [two_proportion_p(tx - groups[s][1], tn - groups[s][0], groups[s][1], groups[s][0]) if tn > groups[s][0] else None
          for s in segs]
    qs = bh(ps)
    if len(segs) < 2 or tx == 0 or tx == tn:
        hp = None
    else:
        chi2 = mpmath.mpf(0)
        for s in segs:
            n, x = groups[s]
            e1 = mpmath.mpf(n) * tx / tn
            e0 = mpmath.mpf(n) * (tn - tx) / tn
            chi2 += (x - e1) ** 2 / e1 + (n - x - e0) ** 2 / e0
        hp = float(mpmath.gammainc(mpmath.mpf(len(segs) - 1) / 2, chi2 / 2, mpmath.inf, regularized=True))
    out = []
    for s, p, q in zip(segs, ps, qs):
        n, x = groups[s]
        center = (x + Z * Z / 2) / (n + Z * Z)
        half = Z / (n + Z * Z) * math.sqrt(x * (n - x) / n + Z * Z / 4)
        out.append((s, n, x, x / n, max(center - half, 0), min(center + half, 1), p, q, hp))
    return out


# ---------- comparison ----------

def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def same_rows(got, want):
    if len(got) != len(want):
        return False
    return all(len(g) == len(w) and all(close(x, y) for x, y in zip(g, w)) for g, w in zip(got, want))


def compare(cur, name, sql, args, want, order):
    cur.execute(sql, args)
    # (min_cell_size is 0 here: nothing is suppressed, and the last column,
    # suppressed, is false on every row; test/privacy.py tests suppression)
    raw = cur.fetchall()
    check(f"{name}: nothing suppressed with min_cell_size 0", all(r[-1] is False for r in raw))
    got = [r[:-1] for r in raw]
    want = sorted(want, key=order)
    ordered = got == sorted(got, key=order)
    ok = same_rows(sorted(got, key=order), want)
    detail = ""
    if not ok:
        gs, ws = set(map(repr, got)), set(map(repr, want))
        detail = f"\n  only in SQL: {sorted(gs - ws)[:5]}\n  only in reference: {sorted(ws - gs)[:5]}"
    check(f"{name}: {len(got)} rows equal the reference", ok and len(got) > 0 or (ok and not want), detail)
    check(f"{name}: rows in the documented order", ordered)
    return got


def seg_order(s):
    return (s != "(all)", s)


def main():
    for seed in SEEDS:
        conn, cur = fresh_database(DB)
        cur.execute("""
            CREATE TABLE ev (uid bigint, ts timestamptz, name text, amount float8);
            SELECT segmentation.track('ev', 'uid', 'ts', 'name', 'amount');
            SELECT segmentation.define_segment('eng', 'active', 'active_days_7 >= 2', 30);
            SELECT segmentation.define_segment('eng', 'lapsed', 'recency_days > 14', 20);
            SELECT segmentation.define_segment('eng', 'regular', 'frequency >= 6', 10);
            SELECT segmentation.define_feature('buying', '{buy}');
            SELECT segmentation.define_feature('searching', '{search}');
            DROP ROLE IF EXISTS regress_analyses_reader;
            CREATE ROLE regress_analyses_reader IN ROLE segmentation_reader;
            -- the references count every cell, however small
            SELECT segmentation.set_setting('min_cell_size', '0');""")
        # before any refresh: no rows, no error
        for f in ["retention_matrix('week', 'eng')", "lifecycle('day')", "stickiness('month', 'eng')",
                  "validate_segments('eng', '2024-01-01', '7 days')"]:
            cur.execute(f"SELECT count(*) FROM segmentation.{f}")
            check(f"{f} before the first refresh: no rows", cur.fetchone()[0] == 0)

        rows = generate(seed)
        cur.execute("TRUNCATE ev")
        # each event is loaded before the first refresh whose as_of is after
        # it; one in twenty a stage later (a late event with an old time)
        rnd = random.Random(seed)
        stage_of = []
        for _, ts, _ in rows:
            k = next((k for k, a in enumerate(STAGES) if ts < a), len(STAGES) - 1)
            stage_of.append(min(k + (rnd.random() < 0.05), len(STAGES) - 1))
        for stage, as_of in enumerate(STAGES):
            load(cur, [r for r, k in zip(rows, stage_of) if k == stage])
            cur.execute("SELECT segmentation.refresh(full => %s, as_of => %s)", (stage == 1 and seed == SEEDS[0], as_of))
        cur.execute("SELECT count(*) FROM ev")
        check(f"seed {seed}: every event loaded", cur.fetchone()[0] == len(rows))

        days = {}
        fdays = {"buying": {}, "searching": {}}
        for u, ts, e in rows:
            days.setdefault(u, set()).add(ts.astimezone(UTC).date())
            if e in ("buy", "search"):
                fdays["buying" if e == "buy" else "searching"].setdefault(u, set()).add(ts.astimezone(UTC).date())
        cur.execute("SELECT scheme, user_id, segment, entered_at, exited_at FROM segmentation.membership_history")
        hist = cur.fetchall()
        stays = {"eng": {}, "fresh": {}, None: {}}
        for sch, u, seg, entered, exited in hist:
            stays[sch].setdefault(u, []).append((seg, entered, exited))
        moved = sum(1 for s in stays["eng"].values() if len(s) > 1)
        check(f"seed {seed}: membership_history has moves ({moved} users moved)", moved > 20)
        # a scheme no refresh has assigned yet: every user is (unknown) in it
        cur.execute("SELECT segmentation.define_segment('fresh', 'buyers', 'monetary > 0')")
        cur.execute("SELECT as_of FROM segmentation.score_context")
        last_as_of = cur.fetchone()[0]

        for period in PERIODS:
            last_period = period_start(last_as_of.astimezone(UTC).date(), period)
            for scheme in [None, "eng", "fresh"]:
                label = f"seed {seed} {period} scheme {scheme}"
                for unbounded in [False, True]:
                    compare(cur, f"{label}: retention_matrix unbounded={unbounded}",
                            "SELECT * FROM segmentation.retention_matrix(%s, %s, unbounded => %s)", (period, scheme, unbounded),
                            retention_ref(days, stays[scheme], scheme, period, last_period, unbounded),
                            lambda r: (r[0], seg_order(r[1]), r[2]))
                # by feature: cohorts by the first buy, retained by a search or a buy
                for start, ret, unbounded in [("buying", None, False), (None, "searching", False),
                                              ("buying", "buying", True), ("buying", "searching", False)]:
                    compare(cur, f"{label}: retention_matrix start {start} return {ret} unbounded={unbounded}",
                            "SELECT * FROM segmentation.retention_matrix(%s, %s, %s, %s, %s)",
                            (period, scheme, start, ret, unbounded),
                            retention_ref(days, stays[scheme], scheme, period, last_period, unbounded, fdays, start, ret),
                            lambda r: (r[0], seg_order(r[1]), r[2]))
                compare(cur, f"{label}: lifecycle", "SELECT * FROM segmentation.lifecycle(%s, %s)", (period, scheme),
                        lifecycle_ref(days, stays[scheme], scheme, period, last_period),
                        lambda r: (r[0], seg_order(r[1]), LIFECYCLE_ORDER[r[2]]))
                compare(cur, f"{label}: stickiness", "SELECT * FROM segmentation.stickiness(%s, %s)", (period, scheme),
                        stickiness_ref(days, stays[scheme], scheme, period, last_period),
                        lambda r: (r[0], seg_order(r[1]), r[2]))

        for as_of in [STAGES[0], STAGES[0] + dt.timedelta(days=3, hours=5), STAGES[1], STAGES[1] - dt.timedelta(microseconds=1)]:
            for horizon in [dt.timedelta(days=7), dt.timedelta(days=30), dt.timedelta(hours=30)]:
                for outcome in ["churn", "active", "buying"]:
                    compare(cur, f"seed {seed} validate_segments as_of {as_of:%m-%d %H:%M} horizon {horizon} {outcome}",
                            "SELECT * FROM segmentation.validate_segments('eng', %s, %s, %s)", (as_of, horizon, outcome),
                            validate_ref(days, hist, "eng", as_of, horizon, outcome, fdays), lambda r: r[0])

        # Refresh keeps the counts (_analysis_rows); forget_user, opt_out and
        # opt_in change them at once, and a second scheme's are its own
        def recheck(what, gone):
            cur.execute("SELECT scheme, user_id, segment, entered_at, exited_at FROM segmentation.membership_history")
            st = {"eng": {}, "fresh": {}, None: {}}
            for sch, u, seg, entered, exited in cur.fetchall():
                st[sch].setdefault(u, []).append((seg, entered, exited))
            dd = {u: d for u, d in days.items() if u not in gone}
            for period, scheme in [("week", "eng"), ("day", None), ("month", "eng")]:
                last_period = period_start(last_as_of.astimezone(UTC).date(), period)
                compare(cur, f"seed {seed} {what}: retention_matrix {period} {scheme}",
                        "SELECT * FROM segmentation.retention_matrix(%s, %s)", (period, scheme),
                        retention_ref(dd, st[scheme], scheme, period, last_period, False),
                        lambda r: (r[0], seg_order(r[1]), r[2]))
                compare(cur, f"seed {seed} {what}: lifecycle {period} {scheme}",
                        "SELECT * FROM segmentation.lifecycle(%s, %s)", (period, scheme),
                        lifecycle_ref(dd, st[scheme], scheme, period, last_period),
                        lambda r: (r[0], seg_order(r[1]), LIFECYCLE_ORDER[r[2]]))
                compare(cur, f"seed {seed} {what}: stickiness {period} {scheme}",
                        "SELECT * FROM segmentation.stickiness(%s, %s)", (period, scheme),
                        stickiness_ref(dd, st[scheme], scheme, period, last_period),
                        lambda r: (r[0], seg_order(r[1]), r[2]))
        movers = sorted(u for u, s in stays["eng"].items() if len(s) > 1)
        cur.execute("SELECT segmentation.opt_out(%s)", (str(movers[0]),))
        cur.execute("SELECT segmentation.forget_user(%s)", (str(movers[1]),))
        recheck("after opt_out and forget_user", {movers[0], movers[1]})
        # opted in again: back, in no segment until the next refresh
        cur.execute("SELECT segmentation.opt_in(%s)", (str(movers[0]),))
        recheck("after opt_in", {movers[1]})
        cur.execute("SELECT count(*) FROM segmentation._analysis_rows WHERE scheme = 'eng'")
        check(f"seed {seed}: refresh kept the counts of scheme eng", cur.fetchone()[0] > 0)

        # the session's time zone changes nothing; a reader sees the same rows
        calls = ["retention_matrix('week', 'eng')", "retention_matrix('month', NULL, unbounded => true)",
                 "lifecycle('day', 'eng')", "stickiness('week', 'eng')",
                 "validate_segments('eng', '%s', '30 days')" % STAGES[0].isoformat()]
        for f in calls:
            cur.execute(f"SELECT * FROM segmentation.{f}")
            want = cur.fetchall()
            cur.execute("SET TIME ZONE 'Pacific/Kiritimati'")
            cur.execute(f"SELECT * FROM segmentation.{f}")
            check(f"seed {seed}: {f} is the same in time zone +14", cur.fetchall() == want)
            cur.execute("SET TIME ZONE 'UTC'; SET ROLE regress_analyses_reader")
            cur.execute(f"SELECT * FROM segmentation.{f}")
            check(f"seed {seed}: {f} is the same for a reader", cur.fetchall() == want)
            cur.execute("RESET ROLE")
        conn.close()

    drop_database(DB)
    admin = connect("postgres")
    admin.cursor().execute("DROP ROLE IF EXISTS regress_analyses_reader")
    admin.close()
    suite.finish()


if __name__ == "__main__":
    main()
