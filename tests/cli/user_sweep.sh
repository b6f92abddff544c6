#!/usr/bin/env bash
# Sweeps, report and export with user stages (docs/sweeps.md, User stages): a tiny exec pipeline
# whose workers are /bin/cat (a request of one frame, 8-byte LE length + bytes, is exactly a valid
# reply) swept at 2 ranks over placement x replicas (4 points, --keep-runs): it runs, names its
# user stages, leaves the spec's outputs: unwritten (every repeat would rewrite the same files);
# then `mpipe report` and `mpipe export` on its file show the user code (stage table, thread
# names). A work-scale / --time-scale / --break-even / --kernel sweep of a pipeline whose work
# is all user code is refused (exit 2, naming the stages), and one beside a synthetic stage
# warns, naming the stages it does not scale. Usage: user_sweep.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir/in"
mpirun=(mpirun --oversubscribe --bind-to none)
fail() { echo "FAIL: $*"; exit 1; }
for k in 1 2 3; do printf 'document %s\n' "$k" >"$dir/in/doc$k.txt"; done
cat >"$dir/cats.yaml" <<'YAML'
name: cats
source: Main
inputs: in
outputs: out
stages:
  - {name: Main, kernel: sleep, work_ms: 0}
  - {name: A, kernel: exec, work_ms: 2, command: [/bin/cat]}
  - {name: B, kernel: exec, work_ms: 2, command: [/bin/cat]}
edges: [Main -> A, A -> B, B -> Main]
YAML
out=$dir/user.h5
start=$(date +%s)
timeout 120 "${mpirun[@]}" -np 2 "$bin" sweep --spec "$dir/cats.yaml" --placement pack spread \
  --replicas none A=2 --repeat 2 --warmup 0 --seed 3 --keep-runs --out "$out" --no-progress \
  >"$dir/sweep.log" 2>&1 || { cat "$dir/sweep.log"; fail "sweep of exec stages"; }
cat "$dir/sweep.log"
grep -q "user stages: A (exec), B (exec): they run as fast as they run" "$dir/sweep.log" ||
  fail "the sweep does not name its user stages"
grep -q "outputs: out is not written by a sweep" "$dir/sweep.log" || fail "no note on outputs:"
grep -q "placement=spread replicas=A=2" "$dir/sweep.log" || fail "points table"
grep -q "Appended sweep" "$dir/sweep.log" || fail "no sweep appended"
[[ ! -e $dir/out ]] || fail "the sweep wrote outputs: $(ls "$dir/out")"
echo "sweep: $(($(date +%s) - start)) s"

# The report: the sweep's points and user stages, and each kept run's stage table with the
# command each exec stage ran.
"$bin" report "$out" -o "$dir/report" --no-svg >"$dir/report.log" 2>&1 ||
  { cat "$dir/report.log"; fail "mpipe report"; }
page=$dir/report/index.html
grep -q "User stages: A (exec /bin/cat), B (exec /bin/cat)" "$page" || fail "report: user stages"
grep -q "<th>user code</th>" "$page" || fail "report: no user code column"
grep -q "<code>/bin/cat</code>" "$page" || fail "report: no command in the stage table"
grep -q "<th>data type</th>" "$page" || fail "report: no data type column"
grep -q "varied no work" "$page" || fail "report: no note that this sweep has no work axis"
# The export: the newest kept run, its exec stages' threads named with their command.
"$bin" export "$out" -o "$dir/trace.json" >"$dir/export.log" 2>&1 ||
  { cat "$dir/export.log"; fail "mpipe export"; }
grep -q '"A: exec /bin/cat"' "$dir/trace.json" || fail "export: no thread named for A's command"
grep -q '"user_stages":{"A":{"kernel":"exec","function":"/bin/cat"}' "$dir/trace.json" ||
  fail "export: no user_stages in otherData"

# What a sweep cannot scale: refused when every stage with work is user code (exit 2, fast).
refused() {
  local what=$1
  shift
  local t0 rc=0
  t0=$(date +%s)
  timeout 60 "${mpirun[@]}" -np 2 "$bin" sweep --spec "$dir/cats.yaml" --repeat 1 --warmup 0 \
    --out "$dir/refused.h5" --no-progress "$@" >"$dir/refused.log" 2>&1 || rc=$?
  cat "$dir/refused.log"
  [[ $rc -eq 2 ]] || fail "$what: exit $rc, not 2"
  grep -q "field '$what'" "$dir/refused.log" || fail "$what: not named"
  grep -q "stage(s) A, B run user code" "$dir/refused.log" || fail "$what: stages not named"
  [[ $(grep -c "mpipe: error" "$dir/refused.log") -eq 1 ]] || fail "$what: not one error"
  (($(date +%s) - t0 < 20)) || fail "$what: took too long"
  [[ ! -e $dir/refused.h5 ]] || fail "$what: wrote a results file"
}
refused grid.work_scale --work-scale 1 10
refused --time-scale --time-scale 0.5
refused --break-even --break-even
refused --kernel --kernel spin

# Beside a synthetic stage with work: the sweep runs and warns, naming the stages it leaves alone.
sed 's/- {name: Main, kernel: sleep, work_ms: 0}/- {name: Main, kernel: sleep, work_ms: 0}\n  - {name: S, kernel: sleep, work_ms: 1}/; s/edges: .*/edges: [Main -> S, S -> A, A -> B, B -> Main]/; /^outputs/d' \
  "$dir/cats.yaml" >"$dir/mixed.yaml"
timeout 60 "${mpirun[@]}" -np 2 "$bin" sweep --spec "$dir/mixed.yaml" --work-scale 1 4 \
  --time-scale 0.5 --dry-run >"$dir/mixed.log" 2>&1 || { cat "$dir/mixed.log"; fail "mixed"; }
cat "$dir/mixed.log"
grep -q "mpipe: warning: work_scale and --time-scale change only the sleep/spin/compute stages, not the user stages A (exec), B (exec)" \
  "$dir/mixed.log" || fail "mixed: no warning naming the user stages"
echo "PASS ($(($(date +%s) - start)) s)"
