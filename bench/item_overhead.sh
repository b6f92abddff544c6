#!/bin/bash
# Per-item overhead at zero work (issue 5): items per second through a 3-stage chain of 0 ms
# stages with 64 B items (bench/chain0.yaml), for each tier -- same-rank (pack, 1 rank), same-host
# (spread, 3 ranks, shared memory), tcp (spread, 3 ranks, --mca btl self,tcp) -- with 1 and 16
# items in flight, next to raw MPI on the same transport, measured in the same session by
# `mpipe bench --sizes 64` on 2 ranks. An item makes 3 hops (Main -> A -> B -> Main), so with one
# in flight raw MPI alone allows 1 / (3 x one-way latency) items/s; with many in flight each
# rank sends one message per item, so raw MPI allows its 64 B message rate. The gap is mpipe's
# own cost per item: threads handing items over, the communication thread, serialization.
#
# Usage: bench/item_overhead.sh [RESULTS_FILE]   (default results/item-overhead.h5)
#   ITEMS=N (default 5000), MPIPE_BIN (default build/mpipe); extra `mpipe run` arguments after
#   the file, e.g. bench/item_overhead.sh results/o.h5 --wait spin
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
out=${1:-results/item-overhead.h5}
shift || true
bin=${MPIPE_BIN:-build/mpipe}
items=${ITEMS:-5000}
[ -x "$bin" ] || { echo "item_overhead: no binary at $bin (run scripts/setup.sh, or set MPIPE_BIN)" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
first=$(/usr/bin/python3 -c "import h5py,sys
try:
    print(len(h5py.File(sys.argv[1],'r')['runs']))
except Exception:
    print(0)" "$out")

run() {  # TRANSPORT NP PLACEMENT INFLIGHT [mpipe run args...]
  local transport=$1 np=$2 placement=$3 inflight=$4
  shift 4
  echo "[item_overhead] $transport, $np rank(s), $placement, $inflight in flight, $items items"
  MPIPE_TRANSPORT=$transport timeout 600 scripts/mpirun.sh -np "$np" "$bin" run \
    --spec bench/chain0.yaml --placement "$placement" --inflight "$inflight" --items "$items" \
    --out "$out" --no-progress "$@" >/dev/null
}
for k in 1 16; do
  run shm 1 pack "$k" "${@}"
  run shm 3 spread "$k" "${@}"
  run tcp 3 spread "$k" "${@}"
done
for t in shm tcp; do
  echo "[item_overhead] raw MPI baseline over $t: mpipe bench --sizes 64 on 2 ranks"
  MPIPE_TRANSPORT=$t timeout 600 scripts/mpirun.sh -np 2 "$bin" bench --sizes 64 --out "$out" \
    --no-progress >/dev/null
done

/usr/bin/python3 - "$out" "$first" <<'PY'
import sys
import h5py

path, first = sys.argv[1], int(sys.argv[2])
s = lambda x: x.decode() if isinstance(x, bytes) else str(x)
with h5py.File(path, "r") as f:
    runs = [f["runs"][k] for k in sorted(f["runs"])][first:]
    pipes = [r for r in runs if s(r.attrs.get("kind", "run")) == "run"]
    benches = [r for r in runs if s(r.attrs.get("kind", "run")) == "bench"]
    raw = {}
    for b, t in zip(benches, ["same-host", "tcp"]):
        for row in b["bench"][()]:
            if s(row["method"]) == "raw-mpi" and int(row["size_bytes"]) == 64:
                rate = float(row["bandwidth_mb_s"]) * 1e6 / 64
                raw[t] = (float(row["latency_us"]), rate)
    print("\nPer-item overhead at zero work: 3-stage chain, 64 B items (items/s; raw MPI from "
          "`mpipe bench --sizes 64`, same transport)")
    print(f"  {'tier':10s} {'in flight':>9s} {'items/s':>10s} {'us/item':>9s} "
          f"{'raw MPI items/s':>16s} {'mpipe / raw':>12s}")
    for r in pipes:
        tier = ("same-rank" if int(r.attrs["world_size"]) == 1 else
                "tcp" if "tcp" in s(r.attrs["transport"]) else "same-host")
        k = int(r.attrs["inflight"])
        tput = float(r.attrs["throughput_items_per_s"])
        if tier in raw:
            lat, rate = raw[tier]
            bound = 1e6 / (3 * lat) if k == 1 else rate
            cells = f"{bound:16.0f} {tput / bound * 100:11.1f}%"
        else:
            cells = f"{'-':>16s} {'-':>12s}"
        print(f"  {tier:10s} {k:9d} {tput:10.0f} {1e6 / tput:9.1f} {cells}")
    print(f"\nresults: {path}")
PY
