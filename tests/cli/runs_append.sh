#!/usr/bin/env bash
# The acceptance runs, scaled down: 1 (no mpirun), 2 and 4 ranks, pack and spread, all into one
# file; every run is added, none replaced, and each says it is complete.
# Usage: runs_append.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/runs.h5
args=(run --time-scale 0.1 --items 2 --out "$out" --no-progress)
expected=0
for placement in pack spread; do
  "$bin" "${args[@]}" --placement $placement >"$dir/np1-$placement.log"
  expected=$((expected + 1))
  for np in 2 4; do
    mpirun --oversubscribe --bind-to none -np $np "$bin" "${args[@]}" --placement $placement \
      >"$dir/np$np-$placement.log"
    expected=$((expected + 1))
    grep -q "Appended run" "$dir/np$np-$placement.log"
    # The bound is 70 ms at this scale: the table says how far above it the run was.
    grep -E "Critical-path bound: 70.00 ms" "$dir/np$np-$placement.log" >/dev/null
  done
done
runs=$(h5ls "$out/runs" | wc -l)
echo "runs in file: $runs (expected $expected)"
[ "$runs" -eq "$expected" ]
/usr/bin/python3 - "$out" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    for rid, g in f["runs"].items():
        assert bool(g.attrs["complete"]), rid
        n = int(g.attrs["world_size"])
        assert len(g["ranks"]) == n, (rid, len(g["ranks"]), n)
        assert len(g["items"]) == 2, rid
        print(rid, g.attrs["placement_mode"], "ranks", n, "latency ms",
              [round(x / 1e6, 2) for x in g["items"]["latency_ns"]])
PY
