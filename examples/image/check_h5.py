#!/usr/bin/env python3
"""Checks a results file of an image.yaml run: each edge's serialization is its type's (Image:
boost, Histogram and mpipe::blob: raw), and prints per edge its tier, serialization and the
bytes its messages carried. Needs h5py (Debian's python3-h5py).
    check_h5.py RESULTS.h5"""
import sys

import h5py

EXPECTED = {  # edge -> serialization of the type it carries
    "Main->Blur": "boost",  # Image
    "Blur->Edges": "boost",  # Image
    "Edges->Encode": "boost",  # Image
    "Edges->Hist": "boost",  # Image
    "Hist->Encode": "raw",  # Histogram: std::array<uint32_t, 256>, its 1024 bytes
    "Encode->Main": "raw",  # mpipe::blob: its contents
}


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def main(path):
    with h5py.File(path, "r") as f:
        runs = sorted(f["runs"])
        if len(runs) != 1:
            sys.exit(f"check_h5: FAIL: {path} holds {len(runs)} runs, expected 1")
        run = f["runs"][runs[0]]
        edges, messages = run["edges"][()], run["messages"][()]
    failed = False
    print(f"{'edge':15} {'tier':10} {'serialization':13} {'messages':>8} {'bytes/msg':>10}")
    for e in edges:
        name = f"{text(e['from_name'])}->{text(e['to_name'])}"
        sent = messages[messages["edge"] == e["id"]] if len(messages) else messages
        per = int(sent["bytes"].mean()) if len(sent) else 0
        ser = text(e["serialization"])
        print(f"{name:15} {text(e['tier']):10} {ser:13} {len(sent):8} {per:10}")
        if EXPECTED.get(name) != ser:
            print(f"check_h5: FAIL: {name} went by {ser}, expected {EXPECTED.get(name)}")
            failed = True
    if sorted(text(e["from_name"]) + "->" + text(e["to_name"]) for e in edges) != sorted(EXPECTED):
        print("check_h5: FAIL: the run's edges are not image.yaml's")
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1])
