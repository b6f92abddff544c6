#!/usr/bin/env bash
# `mpipe bench` as a user runs it: at 2 ranks the quick benchmark prints a row for every tier x
# method x size, and the results file gains one run, kind=bench, holding those same rows.
# Bad options fail once, clearly, before any measuring. Usage: bench.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/bench.h5
"$bin" --help | grep -Eq "bench +Measure what one hop costs"
"$bin" bench --help | grep -q -- "--sizes"
mpirun --oversubscribe --bind-to none -np 2 "$bin" bench --quick --no-progress --out "$out" \
  >"$dir/bench.log" 2>"$dir/bench.err" || { cat "$dir/bench.log" "$dir/bench.err"; exit 1; }
cat "$dir/bench.log"
grep -q "one-way us" "$dir/bench.log"
grep -q "Appended run" "$dir/bench.log"
sizes="0 64 1024 65536 1048576"
rows=0
for s in $sizes; do
  grep -Eq "^ *same-rank +in-memory +$s " "$dir/bench.log" || { echo "FAIL: no same-rank row for $s B"; exit 1; }
  rows=$((rows + 1))
  for m in raw-mpi boost datatype raw; do
    grep -Eq "^ *same-host +$m +$s " "$dir/bench.log" || { echo "FAIL: no same-host $m row for $s B"; exit 1; }
    rows=$((rows + 1))
  done
done
printed=$(grep -Ec "^ *same-(rank|host) " "$dir/bench.log")
[ "$printed" -eq "$rows" ] || { echo "FAIL: $printed rows printed, expected $rows"; exit 1; }
/usr/bin/python3 - "$out" "$dir/bench.log" "$rows" <<'PY'
import math, re, sys
import h5py
path, log, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
printed = {}
for line in open(log):
    m = re.match(r"^\s*(same-\S+|cross-host)\s+(\S+)\s+(\d+)\s+([\d.]+)\s", line)
    if m:
        printed[(m[1], m[2], int(m[3]))] = float(m[4])
with h5py.File(path, "r") as f:
    (run,) = f["runs"].values()
    assert run.attrs["kind"] == "bench", dict(run.attrs)
    assert bool(run.attrs["complete"])
    assert int(run.attrs["world_size"]) == 2
    bench = run["bench"][()]
    stored = {(r["tier"].decode(), r["method"].decode(), int(r["size_bytes"])): r for r in bench}
    assert len(bench) == rows == len(stored), (len(bench), rows)
    assert set(stored) == set(printed), set(stored) ^ set(printed)
    for key, r in stored.items():
        # The table prints 3 decimals of the same number.
        assert math.isclose(r["latency_us"], printed[key], abs_tol=6e-4), (key, r["latency_us"])
    for name in ("events", "messages", "items", "edges"):
        assert len(run[name]) == 0, name
print("ok  ", len(bench), "rows in the table and in", path)
PY
# A bad size list: one clear message, exit 2, nothing appended.
if mpirun --oversubscribe --bind-to none -np 2 "$bin" bench --sizes 1,2G --out "$out" \
  >"$dir/bad.log" 2>&1; then
  echo "FAIL: --sizes 1,2G was accepted"; exit 1
fi
[ "$(grep -c "mpipe: error:.*--sizes" "$dir/bad.log")" -eq 1 ] || { echo "FAIL: unclear:"; cat "$dir/bad.log"; exit 1; }
[ "$(h5ls "$out/runs" | wc -l)" -eq 1 ] || { echo "FAIL: a failed bench appended a run"; exit 1; }
echo "ok   bad --sizes: one message, nothing appended"
