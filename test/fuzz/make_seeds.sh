#!/bin/bash
# test/fuzz/make_seeds.sh: regenerate test/fuzz/corpus/ from real values
# (seeds.sql, run on a throwaway cluster with the extension built from this
# tree): per value one input for each of the targets 0-3 of fuzz_behavior.c,
# and a few pairs for the merge target 4; and (seeds_states.sql,
# make_seeds_states.py) corpus_event_list/ and corpus_rfm_values/.  Run once by hand; the corpus is
# committed.
source "$(dirname "$0")/../../scripts/lib.sh"
HERE=$ROOT/test/fuzz

ensure_deps
build_install
start_cluster
trap stop_cluster EXIT
"$PGBIN/psql" -X -q -c "CREATE EXTENSION segmentation"
"$PGBIN/psql" -X -At -F ' ' -f "$HERE/seeds.sql" >"$CLUSTER_DIR/seeds.txt"

# corpus/v01-*: the same kinds of values as written by 0.1 (version 1), kept
# as they were generated: they still decode, and merge only with each other
find "$HERE/corpus" -type f ! -name 'v01-*' -delete
"$PYTHON" - "$CLUSTER_DIR/seeds.txt" "$HERE/corpus" <<'PY'
import sys
values = {}
for line in open(sys.argv[1]):
    name, text = line.split()
    values[name] = bytes.fromhex(text[2:])
out = sys.argv[2]
def put(name, data):
    open(f"{out}/{name}", "wb").write(data)
for name, body in values.items():
    put(f"text-{name}", b"\x00" + b"\\x" + body.hex().encode())
    put(f"hex-{name}", b"\x01" + body)
    put(f"recv-{name}", b"\x02" + body)
    put(f"varlena-{name}", b"\x03" + body)
for a, b in [("typical", "dense"), ("one_event", "far_past"), ("big_feature", "many_features"),
             ("sparse", "before_2000"), ("typical", "typical"), ("negative_value", "one_value"),
             ("mixed", "long_feature"), ("mixed", "typical")]:
    x, y = values[a], values[b]
    put(f"merge-{a}-{b}", b"\x04" + len(x).to_bytes(2, "big") + x + y)
# a 0.1 value with a version 2 one: refused, both ways
old = open(f"{out}/v01-hex-typical", "rb").read()[1:]
put("merge-v01typical-typical", b"\x04" + len(old).to_bytes(2, "big") + old + values["typical"])
PY
ls "$HERE/corpus" | wc -l

# the state types' harnesses: real states of every kind and mode
"$PGBIN/psql" -X -q -At -F ' ' -f "$HERE/seeds_states.sql" >"$CLUSTER_DIR/seeds_states.txt"
"$PYTHON" "$HERE/make_seeds_states.py" "$CLUSTER_DIR/seeds_states.txt" "$HERE/corpus_event_list" "$HERE/corpus_rfm_values"
# fuzz_analysis_cells: hand-packed states (no cluster needed)
"$PYTHON" "$HERE/make_seeds_cells.py" "$HERE/corpus_analysis_cells"
