#!/usr/bin/python3
"""Property suite of the analysis aggregates (src/funnels.c): window_funnel
(every mode), sequence_match, sequence_count, sequence_next_node and
retention_flags against brute-force references written in Python from the
semantics of doc/analyses.md, per group, on random events with many ties,
overlapping and NULL conditions (fixed seeds); serial, in the reverse input
order, and under forced parallel plans.

Connects with the libpq environment (PGHOST, PGPORT, PGUSER); works in its
own database, segmentation_funnels, which it drops and recreates.
"""
import io
import random
import re

from harness import PARALLEL, Suite, drop_database, fresh_database

DB = "segmentation_funnels"
SEEDS = [3, 17, 101]
BASE = 1704067200  # 2024-01-01 00:00:00 UTC
EVENTS = ["a", "b", "c", "x", "y", "z", None]
# steps / conds: overlapping (x and y match several), z matches none
CONDS = [("a", "x"), ("b", "x"), ("c", "x", "y"), ("y",)]
CONDS_SQL = "ARRAY[ev IN ('a','x'), ev IN ('b','x'), ev IN ('c','x','y'), ev = 'y']"
WINDOW = 40  # seconds
MODES = ["", "strict_deduplication", "strict_order", "strict_increase", "strict_once",
         "strict_order,allow_reentry", "strict_increase,strict_once", "strict_deduplication,strict_order",
         "strict_order,strict_increase", "strict_once,strict_deduplication",
         "strict_order,allow_reentry,strict_increase", "strict_once,strict_order"]
PATTERNS = ["(?1)", "(?1)(?2)", "(?1).*(?2)", "(?1).(?3)", "(?1)(?t<=20)(?2)", "(?2)(?t>20)(?3)",
            "(?1)(?t==10)(?2)", "(?1).*(?2).*(?3)", "(?3)(?3)", ".(?4)", "(?1)(?t>=10)(?t<30)(?3).*(?4)",
            "(?1).*(?1)(?t<20)(?2)"]
NEXT = [(d, b) for d in ("forward", "backward") for b in ("head", "tail", "first_match", "last_match")]

suite = Suite("funnels suite", quiet=True)
check = suite.check


def generate(seed):
    """Users with up to 9 rows, on a coarse clock (many ties), some NULL times."""
    rnd = random.Random(seed)
    rows = []
    for user in range(1, 401):
        for _ in range(rnd.randrange(0, 10)):
            ts = None if rnd.random() < 0.04 else BASE + 10 * rnd.randrange(0, 12)
            rows.append((user, ts, rnd.choice(EVENTS), rnd.random() < 0.7))
    rnd.shuffle(rows)
    return rows


def mask_of(ev, conds=CONDS):
    return sum(1 << k for k, names in enumerate(conds) if ev is not None and ev in names)


def step_key(mask):
    """rows at one time in step order: matching condition 1 first, then 2, ..."""
    return tuple(0 if mask >> k & 1 else 1 for k in range(32))


# ---------- window_funnel reference: brute force over chains ----------

def max_chain(entries, modes, window):
    """Highest k with a chain e1..ek (entry i of step i) in entries."""
    n = len(CONDS)
    by_step = {k: [e for e in entries if e[1] == k] for k in range(1, n + 1)}
    best = 0

    def extend(chain):
        nonlocal best
        best = max(best, len(chain))
        if best == n or len(chain) == n:
            return
        last = chain[-1]
        for e in by_step[len(chain) + 1]:
            if e[0] < last[0] or ("strict_increase" in modes and e[0] == last[0]):
                continue
            if "strict_once" in modes and any(e[2] == c[2] for c in chain):
                continue
            if e[0] - chain[0][0] > window:
                continue
            extend(chain + [e])

    for e in by_step[1]:
        extend([e])
        if best == n:
            break
    return best


def funnel_ref(rows, modes):
    modes = set(m for m in modes.split(",") if m)
    n = len(CONDS)
    entries = []
    for r, (ts, ev) in enumerate(rows):
        m = mask_of(ev)
        if m == 0:
            entries.append((ts, 0, r))
        entries += [(ts, k + 1, r) for k in range(n) if m >> k & 1]
    batches = {}
    for e in entries:
        batches.setdefault((e[0], e[1]), []).append(e)
    taken = []
    seen_first = False
    for (ts, k) in sorted(batches):
        if k == 0:
            if "strict_order" in modes and seen_first:
                break
            continue
        if k >= 2:
            level = max_chain(taken, modes, WINDOW)
            if "strict_deduplication" in modes and level >= k:
                break
            if "strict_order" in modes and seen_first and level < k - 1:
                if "allow_reentry" in modes:
                    continue
                break
        taken += batches[(ts, k)]
        if k == 1:
            seen_first = True
        if max_chain(taken, modes, WINDOW) == n:
            break
    return max_chain(taken, modes, WINDOW)


# ---------- sequences reference ----------

def parse(pattern):
    """[(cond or None for '.', gap, lo, hi)] from a valid pattern (microseconds)."""
    atoms, gap, lo, hi = [], False, 0, None
    for tok in re.findall(r"\(\?t(<=|>=|==|<|>)(\d+)\)|\(\?(\d+)\)|(\.\*)|(\.)", pattern):
        op, secs, cond, star, dot = tok
        if op:
            us = int(secs) * 10**6
            gap = True
            if op in ("<", "<="):
                h = us - 1 if op == "<" else us
                hi = h if hi is None else min(hi, h)
            if op in (">", ">=", "=="):
                lo = max(lo, us + 1 if op == ">" else us)
            if op == "==":
                hi = us if hi is None else min(hi, us)
        elif star:
            gap = True
        else:
            atoms.append((int(cond) - 1 if cond else None, gap, lo, hi))
            gap, lo, hi = False, 0, None
    return atoms


def earliest_end(events, atoms, start):
    """Smallest index of the last atom's row over all matches starting at >= start."""
    best = None

    def go(a, prev):
        nonlocal best
        if a == len(atoms):
            if best is None or prev < best:
                best = prev
            return
        cond, gap, lo, hi = atoms[a]
        cands = range(start, len(events)) if a == 0 else (range(prev + 1, len(events)) if gap else [prev + 1])
        for i in cands:
            if i >= len(events) or (best is not None and i >= best):
                break
            ts, mask = events[i]
            if cond is not None and not mask >> cond & 1:
                continue
            if a > 0:
                d = (ts - events[prev][0]) * 10**6
                if d < lo or (hi is not None and d > hi):
                    continue
            go(a + 1, i)

    go(0, None)
    return best


def sequence_ref(rows, pattern):
    events = sorted(((ts, mask_of(ev)) for ts, ev in rows if mask_of(ev)), key=lambda e: (e[0], step_key(e[1])))
    atoms = parse(pattern)
    count, start = 0, 0
    while True:
        e = earliest_end(events, atoms, start)
        if e is None:
            return count
        count += 1
        start = e + 1


def next_node_ref(rows, direction, base, conds):
    n = len(conds)
    rs = sorted(((ts, mask_of(ev, conds), ev, flag) for ts, ev, flag in rows),
                key=lambda r: (r[0], step_key(r[1]), r[2] is None, r[2] or "", not r[3]))
    if not rs:
        return None
    cands = {"head": [0], "tail": [len(rs) - 1],
             "first_match": [i for i, r in enumerate(rs) if r[1] & 1 and r[3]][:1],
             "last_match": [i for i, r in enumerate(rs) if r[1] & 1 and r[3]][-1:]}[base]
    if not cands or not rs[cands[0]][3]:
        return None
    b, step = cands[0], (1 if direction == "forward" else -1)
    for i in range(n):
        at = b + step * i
        if not 0 <= at < len(rs) or not rs[at][1] >> i & 1:
            return None
    nxt = b + step * n
    return rs[nxt][2] if 0 <= nxt < len(rs) else None


def retention_ref(rows):
    seen = 0
    for _, ev in rows:
        seen |= mask_of(ev)
    b1 = seen & 1
    return [1 if b1 and seen >> k & 1 else 0 for k in range(len(CONDS))]


# ---------- the suite ----------

def load(cur, rows):
    cur.execute("DROP TABLE IF EXISTS e")
    cur.execute("CREATE TABLE e (u int, ts timestamptz, ev text, flag boolean)")
    buf = io.StringIO()
    for u, ts, ev, flag in rows:
        t = "\\N" if ts is None else f"{ts}"
        buf.write(f"{u}\t{t}\t{ev if ev is not None else chr(92) + 'N'}\t{'t' if flag else 'f'}\n")
    buf.seek(0)
    cur.execute("CREATE TEMP TABLE raw (u int, secs bigint, ev text, flag boolean)")
    cur.copy_expert("COPY raw FROM STDIN", buf)
    cur.execute("INSERT INTO e SELECT u, to_timestamp(secs), ev, flag FROM raw")
    cur.execute("DROP TABLE raw")
    cur.execute("ANALYZE e")


def per_user(rows):
    users = {}
    for u, ts, ev, flag in rows:
        users.setdefault(u, [])
        if ts is not None:
            users[u].append((ts, ev, flag))
    return users


def compare(cur, name, sql, expected, args=None):
    cur.execute(sql, args)
    got = dict(cur.fetchall())
    bad = [(u, got.get(u), want) for u, want in expected.items() if got.get(u) != want]
    check(name, not bad, f"{len(bad)} groups differ, e.g. (user, got, want) {bad[:3]}")


def run(cur, label, rows, order=""):
    users = per_user(rows)
    for modes in MODES:
        want = {u: funnel_ref([(ts, ev) for ts, ev, _ in r], modes) for u, r in users.items()}
        compare(cur, f"{label}: window_funnel '{modes}'",
                f"SELECT u, segmentation.window_funnel(ts, {CONDS_SQL}, '{WINDOW} seconds', %s {order}) FROM e GROUP BY u",
                want, (modes,))
    for pattern in PATTERNS:
        counts = {u: sequence_ref([(ts, ev) for ts, ev, _ in r], pattern) for u, r in users.items()}
        compare(cur, f"{label}: sequence_count {pattern}",
                f"SELECT u, segmentation.sequence_count(ts, {CONDS_SQL}, %s {order}) FROM e GROUP BY u",
                counts, (pattern,))
        compare(cur, f"{label}: sequence_match {pattern}",
                f"SELECT u, segmentation.sequence_match(ts, {CONDS_SQL}, %s {order}) FROM e GROUP BY u",
                {u: c > 0 for u, c in counts.items()}, (pattern,))
    for direction, base in NEXT:
        for conds, sql in (([("a", "x")], "ARRAY[ev IN ('a','x')]"),
                           ([("a", "x"), ("b", "x")], "ARRAY[ev IN ('a','x'), ev IN ('b','x')]")):
            compare(cur, f"{label}: sequence_next_node {direction} {base} ({len(conds)} conds)",
                    f"SELECT u, segmentation.sequence_next_node(ts, ev, flag, {sql}, %s, %s {order}) FROM e GROUP BY u",
                    {u: next_node_ref(r, direction, base, conds) for u, r in users.items()}, (direction, base))
    every = {}
    for u, _, ev, _ in rows:
        every.setdefault(u, []).append((None, ev))
    compare(cur, f"{label}: retention_flags",
            f"SELECT u, segmentation.retention_flags({CONDS_SQL} {order}) FROM e GROUP BY u",
            {u: retention_ref(r) for u, r in every.items()})


def main():
    conn, cur = fresh_database(DB)
    for seed in SEEDS:
        rows = generate(seed)
        load(cur, rows)
        run(cur, f"seed {seed} serial", rows)
        run(cur, f"seed {seed} input by ts desc", rows, order="ORDER BY ts DESC, ev")
        for s in PARALLEL:
            cur.execute(s)
        cur.execute(f"EXPLAIN (COSTS OFF) SELECT u, segmentation.window_funnel(ts, {CONDS_SQL}, '1 hour') FROM e GROUP BY u")
        plan = "\n".join(r[0] for r in cur.fetchall())
        check(f"seed {seed}: forced parallel plan has a Partial Aggregate", "Partial" in plan, plan)
        run(cur, f"seed {seed} parallel", rows)
        cur.execute("RESET ALL")
        cur.execute("SET TIME ZONE 'UTC'")
    conn.close()
    drop_database(DB)
    suite.finish()


if __name__ == "__main__":
    main()
