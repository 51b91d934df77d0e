#!/usr/bin/python3
"""test/fuzz/make_seeds_cells.py CORPUS_ANALYSIS_CELLS: the seed corpus of
fuzz_analysis_cells, hand-packed states of _analysis_cells (the aggregate's
state is not reachable from SQL as such) in the flat form the comment above
StateFlatSize in src/analyses.c documents: per state one input for each
single-value target of the harness, and pairs for the combine target (of
one config, of two, and counts that add up past a bigint)."""
import os
import struct
import sys

DAY, WEEK, MONTH = 0, 1, 2
COHORT, RETAINED, LAST, STATUS, DAYS = range(5)
MIN_DAY = -211813488000000000 // 86400000000          # 4714-11-24 BC
MAX_DAY = (9223371331200000000 - 1) // 86400000000    # the last day before END_TIMESTAMP


def state(nschemes=0, retention=(DAY,), other=(), as_of=9000, since=8000, start=-1, ret=-1,
          names=(), cells=()):
    """cells: (start, k, segment, scheme, period, kind, users)"""
    b = struct.pack(">B", 1) + struct.pack(">i", nschemes)
    b += struct.pack(">i", len(retention)) + b"".join(struct.pack(">i", p) for p in retention)
    b += struct.pack(">i", len(other)) + b"".join(struct.pack(">i", p) for p in other)
    b += struct.pack(">iiii", as_of, since, start, ret)
    allnames = [b"(all)", b"(unknown)"] + [n.encode() if isinstance(n, str) else n for n in names]
    b += struct.pack(">i", len(allnames)) + b"".join(struct.pack(">i", len(n)) + n for n in allnames)
    b += struct.pack(">q", len(cells)) + b"".join(struct.pack(">iiihbbq", *c) for c in cells)
    return b


states = {
    "empty": state(),
    "typical": state(
        nschemes=2, retention=(DAY, WEEK, MONTH), other=(DAY, WEEK, MONTH), as_of=9100, since=8900,
        names=("vip", "new users"),
        cells=[(9000, 0, 2, 1, DAY, COHORT, 40), (9000, 1, 2, 1, DAY, RETAINED, 22),
               (9000, 3, 2, 1, DAY, LAST, 9), (8995, 0, 3, 2, WEEK, COHORT, 7),
               (8995, 2, 3, 2, WEEK, RETAINED, 5), (8949, 0, 1, 1, MONTH, COHORT, 100),
               (9050, 0, 2, 1, DAY, STATUS, 12), (9050, 1, 2, 1, DAY, STATUS, 3),
               (9050, 2, 3, 2, WEEK, STATUS, 4), (9050, 3, 1, 2, MONTH, STATUS, 8),
               (9050, 4, 2, 1, DAY, DAYS, 1), (9050, 7, 3, 2, WEEK, DAYS, 2)]),
    "features": state(
        nschemes=1, retention=(WEEK, DAY), start=3, ret=5, as_of=8800, since=8000, names=("a",),
        cells=[(8001, 0, 2, 1, WEEK, COHORT, 1), (8001, 5, 2, 1, WEEK, RETAINED, 1),
               (8001, 5, 0, 0, WEEK, LAST, 1), (8100, 0, 1, 1, DAY, COHORT, 2)]),
    "every_user": state(
        retention=(MONTH,), other=(DAY,), as_of=12000, since=11000,
        cells=[(11100, 0, 0, 0, MONTH, COHORT, 3), (11100, 2, 0, 0, MONTH, RETAINED, 2),
               (11200, 1, 0, 0, DAY, STATUS, 1), (11200, 3, 0, 0, DAY, DAYS, 1)]),
    # a name twice and a cell twice: decoded as one, added up
    "duplicates": state(
        nschemes=1, retention=(DAY,), names=("x", "é€😀", "x", ""),
        cells=[(8500, 0, 2, 1, DAY, COHORT, 5), (8500, 0, 4, 1, DAY, COHORT, 6),
               (8500, 0, 3, 1, DAY, COHORT, 1), (8500, 0, 5, 1, DAY, COHORT, 2),
               (8500, 0, 5, 1, DAY, COHORT, 2)]),
    # the calendar's ends, counts near the top of a bigint
    "extremes": state(
        nschemes=10000, retention=(DAY, WEEK, MONTH), other=(MONTH, WEEK, DAY), as_of=MAX_DAY, since=MIN_DAY,
        cells=[(MIN_DAY, 0, 1, 10000, MONTH, COHORT, 2**62), (MAX_DAY, 2**31 - 1, 0, 1, DAY, DAYS, 2**63 - 1),
               (MIN_DAY, 3, 1, 0, WEEK, STATUS, 1)]),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for f in os.listdir(out):
    os.remove(os.path.join(out, f))


def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def pair(x, y):
    return len(x).to_bytes(2, "big") + x + y


# fuzz_analysis_cells: 0 text, 1 hex, 2 recv, 3 decode and checks, 4 combine
for name, body in states.items():
    put(f"text-{name}", b"\x00" + b"\\x" + body.hex().encode())
    put(f"hex-{name}", b"\x01" + body)
    put(f"recv-{name}", b"\x02" + body)
    put(f"check-{name}", b"\x03" + body)
for a, b in [("typical", "typical"), ("duplicates", "duplicates"), ("extremes", "extremes"),
             ("typical", "features"), ("empty", "every_user"), ("empty", "empty")]:
    put(f"combine-{a}-{b}", b"\x04" + pair(states[a], states[b]))
print(len(os.listdir(out)))
