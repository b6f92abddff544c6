#!/usr/bin/env bash
# Measured stage times into the model (docs/model.md, "Measured stage times"): a stage running
# user code has only an estimated work_ms (0 here), so predict knows nothing of it until
# --stage-times hands it what a previous run measured.
#   1. mpirun -np 1 run of Main -> S (spin 12 ms) -> W (exec: a Python worker sleeping 15 ms)
#      -> T (sleep 8 ms) -> Main, placement pack, into a results file;
#   2. predict on the same pipeline with every work_ms 0: ~0 ms without --stage-times; with
#      --stage-times FILE within 30 % of the run's measured mean item latency, naming file, run
#      and every stage's time on one line;
#   3. a second run (S spin 4 ms): FILE takes the newest pipeline run, FILE:RUN the one named;
#   4. a spec stage the run lacks keeps its work_ms and is named in a note; validate and advise
#      take --stage-times too;
#   5. errors name the file (and run): a missing file, no such run, a file of no pipeline run.
# Usage: predict_times.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
plat=$repo/jobs/platforms/laptop-shm.yaml
python=/usr/bin/python3  # Debian's; the first python3 on PATH may be another build
rm -rf "$dir" && mkdir -p "$dir"
mpirun=(mpirun --oversubscribe --bind-to none)
fail() { echo "FAIL: $*"; exit 1; }
num() { grep -oE "$1 [0-9.]+" "$2" | head -1 | awk '{print $NF}'; }

cat >"$dir/worker.py" <<EOF
import sys, time
sys.path.insert(0, "$repo/analysis/mpipe_analysis")
import worker
def slow_copy(frame):
    time.sleep(0.015)
    return frame
worker.serve(slow_copy)
EOF
spec() {  # FILE SPIN_MS SLEEP_MS LAST_STAGE_NAME
  cat >"$1" <<EOF
name: times
source: Main
items: 10
stages:
  - {name: Main, kernel: sleep, work_ms: 0, payload_bytes: 64}
  - {name: S, kernel: spin, work_ms: $2, payload_bytes: 64}
  - {name: W, kernel: exec, work_ms: 0, command: [$python, $dir/worker.py]}
  - {name: $4, kernel: sleep, work_ms: $3, payload_bytes: 64}
edges: [Main -> S, S -> W, W -> $4, $4 -> Main]
EOF
}
spec "$dir/run.yaml" 12 8 T
spec "$dir/zero.yaml" 0 0 T

# 1. The run.
"${mpirun[@]}" -np 1 "$bin" run --spec "$dir/run.yaml" --placement pack --out "$dir/f.h5" \
  >"$dir/run.log" 2>&1 || { cat "$dir/run.log"; fail "run"; }
measured=$(num "Item latency over [0-9]+ items: mean" "$dir/run.log")
run1=$(grep -oE "Appended run [^ ]+" "$dir/run.log" | awk '{print $3}')
[ -n "$measured" ] && [ -n "$run1" ] || { cat "$dir/run.log"; fail "no measured latency or run id"; }
echo "ok   run: measured mean item latency $measured ms (run $run1)"

# 2. Predictions on the zero-work spec.
predict() { "$bin" predict --spec "$dir/zero.yaml" --platform "$plat" --placement pack "$@"; }
predict >"$dir/p0.log" 2>&1 || { cat "$dir/p0.log"; fail "predict without --stage-times"; }
p0=$(num "Item latency: predicted" "$dir/p0.log")
awk -v p="$p0" 'BEGIN { exit !(p < 1.0) }' || { cat "$dir/p0.log"; fail "work_ms 0 predicts $p0 ms, want ~0"; }
echo "ok   predict, work_ms 0, no --stage-times: $p0 ms"
predict --stage-times "$dir/f.h5" >"$dir/p1.log" 2>&1 || { cat "$dir/p1.log"; fail "predict --stage-times"; }
line=$(grep "^stage times from" "$dir/p1.log" || true)
[[ $line == "stage times from $dir/f.h5 run $run1 (10 items, item 0 left out, mean): Main "*" ms, S "*" ms, W "*" ms, T "*" ms" ]] ||
  { cat "$dir/p1.log"; fail "the stage-times line"; }
p1=$(num "Item latency: predicted" "$dir/p1.log")
awk -v p="$p1" -v m="$measured" 'BEGIN { exit !(p > 0.7 * m && p < 1.3 * m) }' ||
  { cat "$dir/p1.log"; fail "predicted $p1 ms with measured stage times, measured $measured ms: not within 30 %"; }
echo "ok   predict --stage-times: predicted $p1 ms vs measured $measured ms"
echo "     $line"
if grep -q "^note:" "$dir/p1.log"; then cat "$dir/p1.log"; fail "a note, though the run has every stage"; fi

# 3. Newest run, or the one named.
spec "$dir/run2.yaml" 4 8 T
"${mpirun[@]}" -np 1 "$bin" run --spec "$dir/run2.yaml" --placement pack --out "$dir/f.h5" \
  >"$dir/run2.log" 2>&1 || { cat "$dir/run2.log"; fail "second run"; }
run2=$(grep -oE "Appended run [^ ]+" "$dir/run2.log" | awk '{print $3}')
predict --stage-times "$dir/f.h5" >"$dir/p2.log" 2>&1 || { cat "$dir/p2.log"; fail "predict, newest"; }
grep -q "^stage times from $dir/f.h5 run $run2 " "$dir/p2.log" || { cat "$dir/p2.log"; fail "not the newest run $run2"; }
predict --stage-times "$dir/f.h5:$run1" >"$dir/p3.log" 2>&1 || { cat "$dir/p3.log"; fail "predict, FILE:RUN"; }
grep -q "^stage times from $dir/f.h5 run $run1 " "$dir/p3.log" || { cat "$dir/p3.log"; fail "not the named run $run1"; }
[ "$(num "Item latency: predicted" "$dir/p3.log")" = "$p1" ] || { cat "$dir/p3.log"; fail "FILE:RUN predicts other than FILE did for that run"; }
p2=$(num "Item latency: predicted" "$dir/p2.log")
awk -v a="$p2" -v b="$p1" 'BEGIN { exit !(a < b - 4) }' || fail "spin 4 ms run predicts $p2 ms, spin 12 ms $p1 ms"
echo "ok   newest run ($run2: $p2 ms) by default, FILE:$run1 the one named ($p1 ms)"

# 4. A stage the run lacks; validate and advise.
spec "$dir/renamed.yaml" 0 5 Save
"$bin" predict --spec "$dir/renamed.yaml" --platform "$plat" --placement pack \
  --stage-times "$dir/f.h5:$run1" >"$dir/p4.log" 2>&1 || { cat "$dir/p4.log"; fail "predict, renamed stage"; }
grep -q "^note: 1 stage(s) of the spec not in that run keep the spec's work_ms: Save 5.00 ms" "$dir/p4.log" ||
  { cat "$dir/p4.log"; fail "no note naming Save"; }
echo "ok   $(grep '^note:' "$dir/p4.log")"
"$bin" validate --spec "$dir/zero.yaml" --stage-times "$dir/f.h5:$run1" >"$dir/v.log" 2>&1 || { cat "$dir/v.log"; fail "validate"; }
grep -q "^stage times from $dir/f.h5 run $run1 " "$dir/v.log" || { cat "$dir/v.log"; fail "validate: no stage-times line"; }
bound=$(num "critical-path bound" "$dir/v.log")
awk -v b="$bound" 'BEGIN { exit !(b > 20) }' || { cat "$dir/v.log"; fail "validate bound $bound ms"; }
"$bin" advise --spec "$dir/zero.yaml" --platform "$plat" --ranks 2 --stage-times "$dir/f.h5:$run1" \
  >"$dir/a.log" 2>&1 || { cat "$dir/a.log"; fail "advise"; }
grep -q "^stage times from $dir/f.h5 run $run1 " "$dir/a.log" || { cat "$dir/a.log"; fail "advise: no stage-times line"; }
first=$(awk '$1 == 1 { print $2; exit }' "$dir/a.log")
awk -v p="$first" -v m="$measured" 'BEGIN { exit !(p > 0.7 * m && p < 1.3 * m) }' ||
  { cat "$dir/a.log"; fail "advise's first choice predicts $first ms"; }
echo "ok   validate (bound $bound ms) and advise (first choice $first ms) take --stage-times"

# 5. Errors: one line naming the file (and the run), exit 2.
want_error() {  # ARG EXPECTED
  local rc=0
  predict --stage-times "$1" >"$dir/e.log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$dir/e.log"; fail "--stage-times $1: exit $rc, want 2"; }
  grep -qF "mpipe: error: $2" "$dir/e.log" || { cat "$dir/e.log"; fail "--stage-times $1: want '$2'"; }
  echo "ok   --stage-times $1: $(cat "$dir/e.log")"
}
want_error "$dir/missing.h5" "$dir/missing.h5: cannot read stage times: no such file"
want_error "$dir/f.h5:20991231T000000.000Z" "$dir/f.h5: cannot read stage times: no run '20991231T000000.000Z'"
"${mpirun[@]}" -np 2 "$bin" bench --sizes 0 --reps 5 --out "$dir/bench.h5" >"$dir/bench.log" 2>&1 ||
  { cat "$dir/bench.log"; fail "bench"; }
want_error "$dir/bench.h5" "$dir/bench.h5: cannot read stage times: no pipeline run among its 1 run(s)"
echo "PASS predict_times"
