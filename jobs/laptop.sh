#!/usr/bin/env bash
# What it measures: the reference pipeline (Main -> A -> B -> C -> {C1..C4} -> D -> Main) on one
# machine under three placements -- pack (all on rank 0: the article's "all local"), spread (one
# stage per rank, round-robin) and the article's Scenario 3 (Main and A on one machine, B, C, C1,
# C3 and D on a second, C2 and C4 on a third) -- each over shared memory and with TCP forced
# between ranks (--mca btl self,tcp), all appended to one results file, then a comparison table
# read back from that file.
# Usage: jobs/laptop.sh [RESULTS_FILE] [extra `mpipe run` args, e.g. --time-scale 0.1 --items 5]
# Runs from the repository root after scripts/setup.sh (it calls it). ~30 s at full scale.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/laptop.h5}
shift || true
scripts/setup.sh >/dev/null
scenario3="Main=0,A=0,B=1,C=1,C1=1,C3=1,D=1,C2=2,C4=2"
run() {  # run TRANSPORT NP PLACEMENT
  echo "== $2 ranks, placement $3, transport $1"
  MPIPE_TRANSPORT=$1 scripts/mpirun.sh -np "$2" build/mpipe run --placement "$3" --out "$out" \
    --no-progress "${@:4}" | grep -E "^(Item latency|Above the bound)"
}
for transport in shm tcp; do
  run $transport 4 pack "$@"
  run $transport 4 spread "$@"
  run $transport 3 "$scenario3" "$@"
done
echo
echo "Runs in $out (newest last):"
/usr/bin/python3 - "$out" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    print(f"{'run':24} {'ranks':>5} {'placement':>9} {'btl':>18} {'mean ms':>8} {'bound ms':>8} {'above %':>7}")
    for rid in sorted(f["runs"])[-6:]:
        g = f["runs"][rid]
        if "kind" in g.attrs and g.attrs["kind"] != "run":
            continue
        lat = g["items"]["latency_ns"] / 1e6
        bound = float(g.attrs["critical_path_ms"])
        btl = g.attrs["transport"].split("btl=")[-1]
        print(f"{rid:24} {int(g.attrs['world_size']):>5} {g.attrs['placement_mode']:>9} {btl:>18} "
              f"{lat.mean():8.2f} {bound:8.2f} {100 * (lat.mean() / bound - 1):7.2f}")
PY
