#!/usr/bin/python3
"""test/fuzz/make_seeds_states.py SEEDS CORPUS_EVENT_LIST CORPUS_RFM_VALUES:
the seed corpora of fuzz_event_list and fuzz_rfm_values from the output of
seeds_states.sql (name and text form a line; make_seeds.sh runs it): per
value one input for each single-value target of the harness, and pairs for
the combine targets (of one kind, and of two kinds)."""
import os
import sys

seeds, el_dir, rfm_dir = sys.argv[1:4]
values = {}
for line in open(seeds):
    name, text = line.split()
    values[name] = bytes.fromhex(text[2:])
for d in (el_dir, rfm_dir):
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))


def put(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pair(x, y):
    return len(x).to_bytes(2, "big") + x + y


# fuzz_event_list: 0 text, 1 hex, 2 recv, 3 finals, 4 combine
lists = {k: v for k, v in values.items() if not k.startswith("rfm_")}
for name, body in lists.items():
    put(el_dir, f"text-{name}", b"\x00" + b"\\x" + body.hex().encode())
    put(el_dir, f"hex-{name}", b"\x01" + body)
    put(el_dir, f"recv-{name}", b"\x02" + body)
    put(el_dir, f"final-{name}", b"\x03" + body)
for name in lists:
    if name.endswith("_1") and name[:-2] + "_2" in lists:
        put(el_dir, f"combine-{name[:-2]}", b"\x04" + pair(lists[name], lists[name[:-2] + "_2"]))
for a, b in [("wf__1", "sq_1_1"), ("sq_2_2", "nn_forward_head_1"), ("nn_backward_tail_3", "wf_one"),
             ("wf__1", "wf_strict_order_1"), ("sq_1_1", "sq_2_1"), ("nn_forward_head_1", "nn_backward_head_1")]:
    put(el_dir, f"combine-{a}-{b}", b"\x04" + pair(lists[a], lists[b]))

# fuzz_rfm_values: 0 text, 1 hex, 2 recv, 3 final, 4 combine
rfms = {k: v for k, v in values.items() if k.startswith("rfm_")}
for name, body in rfms.items():
    put(rfm_dir, f"text-{name}", b"\x00" + b"\\x" + body.hex().encode())
    put(rfm_dir, f"hex-{name}", b"\x01" + body)
    put(rfm_dir, f"recv-{name}", b"\x02" + body)
    put(rfm_dir, f"final-{name}", b"\x03" + body)
put(rfm_dir, "combine-rfm_0-rfm_1", b"\x04" + pair(rfms["rfm_0"], rfms["rfm_1"]))
put(rfm_dir, "combine-rfm_2-rfm_2", b"\x04" + pair(rfms["rfm_2"], rfms["rfm_2"]))
print(len(os.listdir(el_dir)), len(os.listdir(rfm_dir)))
