#!/usr/bin/env bash
# Know the cores (issue 17): a rank whose CPU-bound stage threads exceed the cores its affinity
# mask allows is warned about, naming the rank, its cores, the stages and the mpirun fix.
#   1. the diamond Main -> {L, R} -> M -> Main (L, R: compute 40 ms) packed on rank 0 of
#      `mpirun -np 2 --bind-to core`: --dry-run shows "may use CPUs 0 (1 core)" and warns;
#      with --bind-to none it shows both CPUs and does not;
#   2. a real short run the same way prints the warning before the run and stores it in the
#      run's core_warnings attribute, with ranks.usable_cores = 1; --bind-to none stores "".
# Usage: cores.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
cores=$(nproc)
if ((cores < 2)); then
  echo "note: $cores core(s) here: --bind-to none cannot give a rank 2 cores; skipped"
  exit 0
fi

cat >"$dir/diamond.yaml" <<'YAML'
name: diamond
source: Main
items: 1
defaults: {kernel: compute, payload_bytes: 64}
stages:
  - {name: Main, work_ms: 0}
  - {name: L, work_ms: 40}
  - {name: R, work_ms: 40}
  - {name: M, work_ms: 0}
edges: [Main -> L, Main -> R, L -> M, R -> M, M -> Main]
YAML
want="rank 0 may use CPUs [0-9]+ \(1 core\) but runs 2 CPU-bound stage threads \(L, R\): they take turns on it"
fix='launch with `mpirun --bind-to none` or `--map-by slot:PE=2`'
run() {  # BIND LOG ARGS...: mpipe on 2 ranks bound as BIND, stdout and stderr into LOG
  local bind=$1 log=$2
  shift 2
  timeout 100 mpirun --oversubscribe --bind-to "$bind" -np 2 "$bin" run --spec "$dir/diamond.yaml" \
    --placement pack "$@" >"$log" 2>&1 || { cat "$log"; fail "mpirun --bind-to $bind $bin run $*"; }
}

# 1. --dry-run.
run core "$dir/dry-core.log" --dry-run --out "$dir/dry.h5"
grep -Eq "rank 0 on .* \(${cores} cores\), may use CPUs [0-9]+ \(1 core\):" "$dir/dry-core.log" ||
  { cat "$dir/dry-core.log"; fail "--dry-run does not show rank 0's one CPU"; }
grep -Eq "warning: $want" "$dir/dry-core.log" || { cat "$dir/dry-core.log"; fail "--dry-run: no warning for rank 0"; }
grep -qF -- "$fix" "$dir/dry-core.log" || { cat "$dir/dry-core.log"; fail "--dry-run: the warning names no fix"; }
[ "$(grep -c "warning:" "$dir/dry-core.log")" -eq 1 ] || { cat "$dir/dry-core.log"; fail "want one warning (rank 1 hosts nothing)"; }
echo "ok   --dry-run --bind-to core: $(grep -m1 "warning:" "$dir/dry-core.log")"
run none "$dir/dry-none.log" --dry-run --out "$dir/dry.h5"
grep -Eq "rank 0 on .*, may use CPUs 0-$((cores - 1)) \($cores cores\):" "$dir/dry-none.log" ||
  { cat "$dir/dry-none.log"; fail "--dry-run --bind-to none does not show every CPU"; }
if grep -q "warning" "$dir/dry-none.log"; then cat "$dir/dry-none.log"; fail "--bind-to none warned"; fi
echo "ok   --dry-run --bind-to none: no warning"
[ ! -e "$dir/dry.h5" ] || fail "--dry-run wrote a results file"

# 2. A real run, warned before it starts, the warning stored.
run core "$dir/run-core.log" --items 1 --time-scale 0.1 --no-progress --out "$dir/core.h5"
grep -Eq "^mpipe: warning: $want" "$dir/run-core.log" || { cat "$dir/run-core.log"; fail "the run did not warn"; }
grep -qF -- "$fix" "$dir/run-core.log" || { cat "$dir/run-core.log"; fail "the run's warning names no fix"; }
warn_line=$(grep -n "^mpipe: warning:" "$dir/run-core.log" | head -1 | cut -d: -f1)
end_line=$(grep -n "Appended run" "$dir/run-core.log" | cut -d: -f1)
((warn_line < end_line)) || { cat "$dir/run-core.log"; fail "the warning came after the run"; }
run none "$dir/run-none.log" --items 1 --time-scale 0.1 --no-progress --out "$dir/none.h5"
if grep -q "warning" "$dir/run-none.log"; then cat "$dir/run-none.log"; fail "--bind-to none run warned"; fi
/usr/bin/python3 - "$dir/core.h5" "$dir/none.h5" "$cores" <<'PY' || fail "the stored attribute or ranks columns"
import re
import sys

import h5py


def run_of(path):
    f = h5py.File(path, "r")
    (group,) = f["runs"].values()
    return group


core, none, cores = run_of(sys.argv[1]), run_of(sys.argv[2]), int(sys.argv[3])
text = core.attrs["core_warnings"]
assert isinstance(text, str) and len(text.splitlines()) == 1, repr(text)
assert re.match(r"rank 0 may use CPUs \d+ \(1 core\) but runs 2 CPU-bound stage threads \(L, R\)",
                text), text
assert "--bind-to none" in text, text
assert none.attrs["core_warnings"] == "", repr(none.attrs["core_warnings"])
ranks = core["ranks"][()]
assert list(ranks["usable_cores"]) == [1, 1], ranks
assert all(len(c) > 0 for c in ranks["cpus"]), ranks
wide = none["ranks"][()]
assert list(wide["usable_cores"]) == [cores, cores], wide
assert [c.decode() for c in wide["cpus"]] == [f"0-{cores - 1}"] * 2, wide
print("ok   stored: core_warnings =", text)
PY
echo "ok   --bind-to none run: no warning, core_warnings empty"
