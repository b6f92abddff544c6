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
    # Open MPI's thread locks are off unless MPIPE_MPI_THREAD_LOCKS=1 (runtime.hpp).
    assert run.attrs["mpi_thread_locks"] == "off", run.attrs["mpi_thread_locks"]
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

# Calibration: fits per tier and method in the run and a platform file that predict accepts; a
# second calibrate never overwrites that file.
cal="$dir/cal.h5"
plat="$dir/platform.yaml"
rm -f "$cal" "$plat"
timeout 120 mpirun --oversubscribe --bind-to none -np 2 "$bin" calibrate --quick --no-progress \
  --out "$cal" --platform-out "$plat" >"$dir/cal.log" 2>&1 || { echo "FAIL: calibrate"; cat "$dir/cal.log"; exit 1; }
/usr/bin/python3 - "$cal" <<'PY'
import math, sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    (run,) = f["runs"].values()
    assert run.attrs["kind"] == "calibration", dict(run.attrs)
    assert float(run.attrs["compute_iterations_per_ms"]) > 0
    fits = {(r["tier"].decode(), r["method"].decode()): r for r in run["calibration"][()]}
    for method in ("raw-mpi", "boost", "datatype", "raw"):
        r = fits[("same-host", method)]
        # Shared memory: a fraction of a us to tens of us at 0 B, and GB/s, not MB/s.
        assert 0.05 < r["alpha_us"] < 100, (method, r["alpha_us"])
        assert r["bandwidth_mb_s"] > 100 or math.isnan(r["bandwidth_mb_s"]), (method, r)
    assert ("same-rank", "in-memory") in fits
    assert math.isnan(fits[("same-host", "raw-mpi")]["serialize_us"])
    assert fits[("same-host", "boost")]["serialize_us"] > 0
print("ok   calibration run:", len(fits), "fits")
PY
grep -q "^  cross-host: {alpha_us:" "$plat" || { echo "FAIL: platform file lacks cross-host:"; cat "$plat"; exit 1; }
"$bin" predict --platform "$plat" --placement spread --ranks 4 >"$dir/predict.log" 2>&1 ||
  { echo "FAIL: predict rejected the calibrated platform"; cat "$plat" "$dir/predict.log"; exit 1; }
grep -q "^Item latency: predicted" "$dir/predict.log" || { echo "FAIL: no prediction"; cat "$dir/predict.log"; exit 1; }
echo "ok   platform file $plat accepted by predict"
# Without --platform, predict takes the newest calibration in --out and says so (issue 19).
"$bin" predict --out "$cal" --placement spread --ranks 4 >"$dir/predict-cal.log" 2>&1 ||
  { echo "FAIL: predict without --platform"; cat "$dir/predict-cal.log"; exit 1; }
grep -q "^platform calibration .*the newest calibration in --out" "$dir/predict-cal.log" ||
  { echo "FAIL: predict did not use or name the calibration"; cat "$dir/predict-cal.log"; exit 1; }
echo "ok   predict without --platform uses the newest calibration in --out"
if timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$bin" calibrate --quick --no-out \
  --platform-out "$plat" >"$dir/cal2.log" 2>&1; then
  echo "FAIL: calibrate overwrote $plat"; exit 1
fi
grep -q "exists; mpipe never overwrites" "$dir/cal2.log" || { echo "FAIL: unclear:"; cat "$dir/cal2.log"; exit 1; }
echo "ok   an existing platform file is refused"

# A run predicted on the calibrated platform stores the prediction beside its measurement.
timeout 120 mpirun --oversubscribe --bind-to none -np 2 "$bin" run --placement spread --items 2 \
  --time-scale 0.05 --platform "$plat" --out "$dir/pred.h5" --no-progress >"$dir/pred-run.log" 2>&1 ||
  { echo "FAIL: run --platform"; cat "$dir/pred-run.log"; exit 1; }
grep -q "^Predicted (platform calibrated-" "$dir/pred-run.log" || { echo "FAIL: no prediction line"; cat "$dir/pred-run.log"; exit 1; }
/usr/bin/python3 - "$dir/pred.h5" "$plat" <<'PY'
import math, sys
import h5py, yaml
with open(sys.argv[2]) as y:
    host = yaml.safe_load(y)["tiers"]["same-host"]
# The seed's critical path at time scale 0.05 is 35 ms. Each of its 6 hops adds the wire and the
# runtime's own cost, which calibrate measured: at most runtime_us + runtime_block_us when every
# hop finds its rank asleep. A loaded machine measures hundreds of us there, so the bound is the
# calibrated one, not a constant.
hop_us = host["alpha_us"] + host["runtime_us"] + host.get("runtime_block_us", 0.0)
bound = 35.0 + 6 * hop_us / 1000.0 + 0.1
with h5py.File(sys.argv[1], "r") as f:
    run = list(f["runs"].values())[-1]
    p = float(run.attrs["predicted_latency_ms"])
    assert 35.0 <= p < bound, (p, bound)
    err = float(run.attrs["prediction_error_pct"])
    assert math.isfinite(err) and err > -1.0, err  # a run cannot beat its critical path
    assert run.attrs["prediction_platform"].startswith("calibrated-")
print(f"ok   run --platform stored predicted {p:.3f} ms, error {err:.2f} %")
PY

# advise --verify: the first placements run for real in this job, predicted beside measured.
timeout 120 mpirun --oversubscribe --bind-to none -np 2 "$bin" advise --ranks 2 --platform "$plat" \
  --verify --items 2 --time-scale 0.05 --top 3 --out "$dir/advise.h5" >"$dir/advise.log" 2>&1 ||
  { echo "FAIL: advise --verify"; cat "$dir/advise.log"; exit 1; }
grep -q "^Verified (mean item latency" "$dir/advise.log" && grep -q "^Best measured: #" "$dir/advise.log" ||
  { echo "FAIL: no verify table"; cat "$dir/advise.log"; exit 1; }
n=$(grep -c "^  appended run" "$dir/advise.log")
[ "$n" -ge 1 ] && [ "$n" -le 3 ] || { echo "FAIL: $n verify runs"; cat "$dir/advise.log"; exit 1; }
[ "$(h5ls "$dir/advise.h5/runs" | wc -l)" -eq "$n" ] || { echo "FAIL: runs not stored"; exit 1; }
echo "ok   advise --verify ran and stored $n placements"
if timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$bin" advise --ranks 3 --platform "$plat" \
  --verify --out "$dir/advise2.h5" >"$dir/advise2.log" 2>&1; then
  echo "FAIL: --verify with --ranks 3 on 2 ranks was accepted"; exit 1
fi
[ "$(grep -c "mpipe: error:.*mpirun -np 3" "$dir/advise2.log")" -eq 1 ] || { echo "FAIL: unclear:"; cat "$dir/advise2.log"; exit 1; }
echo "ok   advise --verify on the wrong number of ranks: one clear error"

# Without --platform a run predicts itself from the newest calibration in its own results file.
timeout 120 mpirun --oversubscribe --bind-to none -np 2 "$bin" run --items 1 --time-scale 0.05 \
  --out "$cal" --no-progress >"$dir/self.log" 2>&1 || { echo "FAIL: run into $cal"; cat "$dir/self.log"; exit 1; }
grep -q "^Predicted (platform calibration " "$dir/self.log" ||
  { echo "FAIL: the run did not use the calibration in its file"; cat "$dir/self.log"; exit 1; }
echo "ok   a run predicts itself from the calibration run in its results file"
# MPIPE_MPI_THREAD_LOCKS=1 keeps Open MPI's thread locks, and the run says so.
MPIPE_MPI_THREAD_LOCKS=1 mpirun --oversubscribe --bind-to none -np 2 -x MPIPE_MPI_THREAD_LOCKS \
  "$bin" bench --sizes 64 --reps 20 --no-progress --out "$dir/locks.h5" >"$dir/locks.log" 2>&1 ||
  { cat "$dir/locks.log"; exit 1; }
/usr/bin/python3 -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    (run,) = f["runs"].values()
    assert run.attrs["mpi_thread_locks"] == "on", run.attrs["mpi_thread_locks"]' "$dir/locks.h5"
echo "ok   MPIPE_MPI_THREAD_LOCKS=1: the run says the locks were on"
