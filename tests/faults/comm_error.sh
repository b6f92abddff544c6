#!/usr/bin/env bash
# An error on a rank's communication thread (here a --verify checksum mismatch, which an
# injected corrupt fault produces on the receiving rank) must end the run as a stage's error
# does: non-zero exit within 10 s, no process left, and the partial run saved by rank 0 with
# complete = false and the mismatch as its reason. Before, such an error skipped the save.
# Usage: comm_error.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/comm-error.h5

# case NAME NP FAULT: a spread run of the reference pipeline whose stage sends one bad message.
case_of() {
  local name=$1 np=$2 fault=$3 log=$dir/$1.log rc=0 t0 took
  echo "== $name (-np $np, MPIPE_FAULT=$fault)"
  t0=$(now)
  MPIPE_FAULT=$fault timeout 120 mpirun --bind-to none -np "$np" "$bin" run --placement spread \
    --time-scale 0.05 --items 40 --verify --no-progress --out "$out" >"$log" 2>&1 || rc=$?
  took=$(elapsed "$t0" "$(now)")
  echo "  exit status $rc after $took s"
  [ "$rc" -ne 0 ] || fail "$name: a checksum mismatch ended with exit 0: $(cat "$log")"
  [ "$rc" -ne 124 ] || fail "$name: the job hung until timeout(1): $(cat "$log")"
  less_than "$took" 20 || fail "$name: took $took s"
  grep -q "checksum mismatch" "$log" || fail "$name: no mismatch reported: $(cat "$log")"
  no_leftovers "$out" 5
  $PY - "$out" "$name" <<'PY' || fail "$name: $(cat "$dir/$name.log")"
import sys, h5py
path, name = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    runs = [f["runs"][k] for k in f["runs"]]
    partial = [r for r in runs if not bool(r.attrs["complete"])]
    assert partial, f"{name}: no partial run saved (runs: {len(runs)})"
    last = sorted(partial, key=lambda r: str(r.attrs["utc_start"]))[-1]
    why = str(last.attrs["incomplete_reason"])
    assert "checksum mismatch" in why, why
    print(f"  partial run {last.attrs['run_id']}: {int(last.attrs['items_completed'])} items, "
          f"reason: {why[:110]}")
PY
  rm -f "$out"
}

# Spread at 3 ranks puts C3 on rank 0, D on rank 2 and Main on rank 0: C3 -> D's mismatch is
# seen by rank 2 (which tells rank 0, which saves), D -> Main's by rank 0 itself.
case_of mismatch-on-rank-2 3 corrupt:C3:3
case_of mismatch-on-rank-0 3 corrupt:D:3
echo "PASS"
