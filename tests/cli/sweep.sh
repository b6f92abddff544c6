#!/usr/bin/env bash
# `mpipe sweep` as a user runs it: a tiny real sweep from a grid file at 2 ranks prints its
# tables and appends one run (kind=sweep) whose points, repeats and break-even rows match what
# ran; bad grids fail once, clearly, with exit 2 on every rank, within seconds, appending nothing;
# points of another transport are listed, not run. Usage: sweep.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/sweep.h5
mpirun=(mpirun --oversubscribe --bind-to none)
"$bin" --help >"$dir/help.txt"
grep -Eq "sweep +Run a grid of settings" "$dir/help.txt"
"$bin" sweep --help >"$dir/sweep-help.txt"
for opt in --grid --work-scale --placement --payload-bytes --serialization --emulate-link \
  --replicas --threads --transport --repeat --warmup --target-ci --max-repeat --seed --break-even \
  --work-min --work-max --points-per-decade --platform --keep-runs --serial-stages; do
  grep -q -- "$opt" "$dir/sweep-help.txt" || { echo "FAIL: sweep --help lacks $opt"; exit 1; }
done

cat >"$dir/call.yaml" <<'YAML'
name: call
source: Main
items: 2
defaults: {kernel: sleep, payload_bytes: 64}
stages:
  - {name: Main, work_ms: 0}
  - {name: S, work_ms: 1}
edges: [Main -> S, S -> Main]
YAML
cat >"$dir/grid.yaml" <<'YAML'
spec: call.yaml
items: 2
repeat: 3
warmup: 1
seed: 5
grid:
  work_scale: [2, 8]
  placement: [pack, spread]
  emulate_link: ["latency=1ms"]
reference_slower_pct: {2: 100, 8: 25}
YAML
start=$(date +%s)
timeout 120 "${mpirun[@]}" -np 2 "$bin" sweep --grid "$dir/grid.yaml" --out "$out" --no-progress \
  >"$dir/run.log" 2>&1 || { cat "$dir/run.log"; echo "FAIL: sweep"; exit 1; }
cat "$dir/run.log"
grep -q "shuffled with seed 5" "$dir/run.log"
grep -q "spread against pack" "$dir/run.log"
grep -Eq "^ +latency equal " "$dir/run.log"
grep -q "Appended sweep" "$dir/run.log"
# Both tables keep their columns apart and aligned, however long the settings labels
# ("work_scale=2 placement=pack emulate_link=latency=1ms" once pushed the rest out of line).
. "$(dirname "${BASH_SOURCE[0]}")/columns.sh"
check_columns "$dir/run.log" "^ +# +settings +work/stage" "sweep Points table"
check_columns "$dir/run.log" "^  settings +work/stage +pack ms" "sweep spread-against-pack table"
cat >"$dir/long.yaml" <<'YAML'
spec: call.yaml
items: 1
repeat: 2
warmup: 0
seed: 7
grid:
  work_scale: [0.1]
  payload_bytes: [64, 1K]
  serialization: [boost, datatype]
YAML
timeout 120 "${mpirun[@]}" -np 2 "$bin" sweep --grid "$dir/long.yaml" --out "$dir/long.h5" \
  --no-progress >"$dir/long.log" 2>&1 || { cat "$dir/long.log"; echo "FAIL: sweep long.yaml"; exit 1; }
check_columns "$dir/long.log" "^ +# +settings +work/stage" "sweep Points table, labels of 36 characters"
# A sweep over link latencies checks the model's latency tolerance: the table is printed, one
# line per placement, and stored, two rows each (1 %, 10 %). spread holds 2 hops per item (Main
# -> S -> Main), so the model tolerates ~0.1 ms (1 % of 20 ms over 2 hops) and ~1 ms (10 %);
# pack has no hop between ranks: unbounded. Only the model's numbers are checked closely.
cat >"$dir/tolerance.yaml" <<'YAML'
spec: call.yaml
items: 2
repeat: 3
warmup: 1
seed: 9
grid:
  work_scale: [20]
  placement: [pack, spread]
  emulate_link: [none, "latency=0.2ms", "latency=1ms", "latency=3ms"]
YAML
timeout 120 "${mpirun[@]}" -np 2 "$bin" sweep --grid "$dir/tolerance.yaml" --out "$dir/tol.h5" \
  --platform "$(dirname "${BASH_SOURCE[0]}")/../../jobs/platforms/laptop-shm.yaml" \
  --no-progress >"$dir/tol.log" 2>&1 || { cat "$dir/tol.log"; echo "FAIL: tolerance sweep"; exit 1; }
grep -q "^Latency tolerance: " "$dir/tol.log" || { cat "$dir/tol.log"; echo "FAIL: no tolerance table"; exit 1; }
check_columns "$dir/tol.log" "^  settings +placement +scope +base ms" "sweep Latency tolerance table"
grep -Eq "^  - +pack +cross-rank .*unbounded \(no such hop\)" "$dir/tol.log" ||
  { cat "$dir/tol.log"; echo "FAIL: pack's tolerance is not unbounded"; exit 1; }
/usr/bin/python3 - "$dir/tol.h5" <<'PY'
import math
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    (run,) = f["runs"].values()
    rows = run["latency_tolerance"][()]
    assert len(rows) == 4, rows
    got = [(r["placement"].decode(), r["scope"].decode(), float(r["slowdown_pct"])) for r in rows]
    assert got == [("pack", "cross-rank", 1.0), ("pack", "cross-rank", 10.0),
                   ("spread", "cross-rank", 1.0), ("spread", "cross-rank", 10.0)], got
    for r in rows:
        status = r["status"].decode()
        assert status in ("found", "above range", "below range"), status
        assert r["min_tried_ms"] == 0.2 and r["max_tried_ms"] == 3.0, r
        assert r["base_ms"] >= 20 * 0.98, r
        if status == "found":
            assert 0.2 <= r["measured_ms"] <= 3.0, r
            want = 100 * (r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"]
            assert math.isclose(r["error_pct"], want, rel_tol=1e-9), r
        else:
            assert math.isnan(r["error_pct"]), r
    assert math.isinf(rows[0]["predicted_ms"]) and math.isinf(rows[1]["predicted_ms"]), rows
    # The model: 2 hops share the slack of 1 % / 10 % of ~20 ms.
    assert 0.05 <= rows[2]["predicted_ms"] <= 0.2, rows[2]
    assert 0.7 <= rows[3]["predicted_ms"] <= 1.3, rows[3]
    print("ok  ", len(rows), "latency tolerance rows in", sys.argv[1])
PY
echo "ok   sweep of 4 points x (3 + 1) runs in $(( $(date +%s) - start )) s"
/usr/bin/python3 - "$out" <<'PY'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    (run,) = f["runs"].values()
    a = run.attrs
    assert a["kind"] == "sweep", dict(a)
    assert int(a["seed"]) == 5 and int(a["repeat"]) == 3 and int(a["warmup"]) == 1
    assert int(a["points"]) == 4 and int(a["runs"]) == 16 and bool(a["complete"])
    assert a["sweep_transport"] == "shm"
    pts, reps, be = run["sweep_points"][()], run["sweep_repeats"][()], run["break_even"][()]
    assert len(pts) == 4 and len(reps) == 16 and len(be) == 3, (len(pts), len(reps), len(be))
    assert [p.decode() for p in pts["placement"]] == ["pack", "spread"] * 2
    assert sorted(reps["order"].tolist()) == list(range(16))
    for p in pts:
        counted = reps[(reps["point"] == p["point"]) & (reps["warmup"] == 0)]
        assert len(counted) == p["repeats"] == 3
        assert np.isclose(np.median(counted["latency_mean_ms"]), p["latency_median_ms"])
        assert p["latency_ci_low_ms"] <= p["latency_median_ms"] <= p["latency_ci_high_ms"]
        work = 1.0 * p["work_scale"]
        # Sleep: at least the work; spread adds two emulated 1 ms hops.
        assert p["latency_median_ms"] >= work * 0.98, p
        if p["placement"] == b"spread":
            assert p["latency_median_ms"] >= work + 2 * 0.98, p
    print("ok  ", len(pts), "points,", len(reps), "repeats,", len(be), "break-even rows in", sys.argv[1])
PY

# Bad input: one message on rank 0, exit 2, nothing appended, no hang.
bad() {  # name, expected message (grep -E), sweep arguments...
  local name=$1 want=$2
  shift 2
  local t0=$(date +%s) rc=0
  timeout 60 "${mpirun[@]}" -np 2 "$bin" sweep --out "$out" --no-progress "$@" >"$dir/$name.log" 2>&1 || rc=$?
  [ "$rc" -ne 124 ] || { echo "FAIL: $name hung"; exit 1; }
  [ "$rc" -ne 0 ] || { echo "FAIL: $name was accepted"; cat "$dir/$name.log"; exit 1; }
  [ "$(grep -c "mpipe: error:" "$dir/$name.log")" -eq 1 ] || { echo "FAIL: $name: not one message"; cat "$dir/$name.log"; exit 1; }
  grep -Eq -- "$want" "$dir/$name.log" || { echo "FAIL: $name: unclear"; cat "$dir/$name.log"; exit 1; }
  echo "ok   $name: $(grep "mpipe: error:" "$dir/$name.log") ($(( $(date +%s) - t0 )) s)"
}
printf 'grid:\n  work_scale: [1]\n  placment: [pack]\n' >"$dir/typo.yaml"
bad unknown-dimension "typo.yaml:3: field 'grid.placment': unknown dimension" --grid "$dir/typo.yaml"
printf 'spec: call.yaml\ngrid:\n  placement:\n    - pack\n    - S=7\n' >"$dir/far.yaml"
bad placement-beyond-job "far.yaml:5: field 'grid.placement'.*S=7" --grid "$dir/far.yaml"
bad unknown-placement "field 'grid.placement'.*(unknown|no stage)" --spec "$dir/call.yaml" --placement pack X=1
bad bad-link "field 'grid.emulate_link'" --spec "$dir/call.yaml" --emulate-link latency=fast
printf 'grid:\n  work_scale: [1, fast]\n' >"$dir/nan.yaml"
bad bad-number "nan.yaml:2: field 'grid.work_scale': expected a number" --grid "$dir/nan.yaml"
bad break-even-three "--break-even compares exactly two placements" --break-even --placement pack spread A=0
[ "$(h5ls "$out/runs" | wc -l)" -eq 1 ] || { echo "FAIL: a failed sweep appended a run"; exit 1; }

# A transport this job does not have: listed with the command that runs it, not run.
timeout 60 "${mpirun[@]}" -np 2 "$bin" sweep --spec "$dir/call.yaml" --transport tcp --dry-run \
  >"$dir/tcp.log" 2>&1 && { echo "FAIL: a tcp-only grid ran in a shm job"; exit 1; }
grep -q "MPIPE_TRANSPORT" "$dir/tcp.log" || { cat "$dir/tcp.log"; echo "FAIL: no hint"; exit 1; }
timeout 60 "${mpirun[@]}" -np 2 "$bin" sweep --spec "$dir/call.yaml" --transport shm tcp --dry-run \
  >"$dir/both.log" 2>&1 || { cat "$dir/both.log"; exit 1; }
grep -q "needs its own job" "$dir/both.log"
echo "ok   transports: the other one is listed, not run"
