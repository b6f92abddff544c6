#!/usr/bin/env bash
# Know the cores (issue 17): a rank whose CPU-bound stage threads exceed the cores its affinity
# mask allows is warned about, naming the rank, its cores, the stages and the mpirun fix.
#   1. the diamond Main -> {L, R} -> M -> Main (L, R: compute 40 ms) packed on rank 0 of
#      `mpirun -np 2 --bind-to core`: --dry-run shows "may use CPUs 0 (1 core)" and warns;
#      with --bind-to none it shows both CPUs and does not;
#   2. a real short run the same way prints the warning before the run and stores it in the
#      run's core_warnings attribute, with ranks.usable_cores = 1; --bind-to none stores "";
#      the summary shows each rank's CPUs ("Cores: rank 0 on vm: cpus 0 (1 usable); ...") and
#      the warning again ("Short of cores: ...");
#   3. scripts/mpirun.sh says the binding it chose: --bind-to none for the packed diamond (under
#      --map-by slot:PE=1 rank 0 would be short), --map-by slot:PE=N --bind-to core when every
#      rank's CPU-bound stages fit N = cores / 2 cores (spread, or a host of 4+ cores), and keeps
#      a binding of the user's own (--bind-to core), which mpipe then warns of; the run it
#      launches shows the cores the summary says. No timing is checked here (bench/binding.sh).
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
grep -Eq "^Cores: rank 0 on [^:]+: cpus [0-9]+ \(1 usable\); rank 1 on [^:]+: cpus [0-9]+ \(1 usable\)$" \
  "$dir/run-core.log" || { cat "$dir/run-core.log"; fail "the summary does not show 1 usable core per rank"; }
grep -Eq "^Short of cores: $want" "$dir/run-core.log" ||
  { cat "$dir/run-core.log"; fail "the summary does not repeat the warning"; }
grep -Eq "^Cores: ranks 0-1 on [^:]+: cpus 0-$((cores - 1)) \($cores usable\)$" "$dir/run-none.log" ||
  { cat "$dir/run-none.log"; fail "the summary does not show every CPU usable under --bind-to none"; }
if grep -q "^Short of cores" "$dir/run-none.log"; then cat "$dir/run-none.log"; fail "--bind-to none: short of cores"; fi
echo "ok   summary: $(grep "^Cores:" "$dir/run-core.log")"

# 3. scripts/mpirun.sh: the binding it chose, said on stderr; a user's own is kept.
wrapper=$(cd "$(dirname "$0")/../.." && pwd)/scripts/mpirun.sh
wrap() {  # LOG ARGS...: the wrapper on 2 ranks, mpirun options first, then mpipe run's
  local log=$1
  shift
  local opts=()
  while [ "$1" != run ]; do opts+=("$1"); shift; done
  shift
  timeout 100 "$wrapper" -np 2 "${opts[@]}" "$bin" run --spec "$dir/diamond.yaml" "$@" >"$log" 2>&1 ||
    { cat "$log"; fail "scripts/mpirun.sh -np 2 ${opts[*]} $bin run $*"; }
}
pe=$((cores / 2))
chose() { grep -m1 "^\[mpirun.sh\] binding:" "$1" || true; }
wrap "$dir/wrap-pack.log" run --placement pack --dry-run
if ((pe < 2)); then
  grep -Eq "^\[mpirun.sh\] binding: --bind-to none \(2 ranks on $cores cores; under --map-by slot:PE=1 --bind-to core rank 0 may use CPUs [0-9]+ \(1 core\) but runs 2 CPU-bound stage threads \(L, R\)\)$" \
    "$dir/wrap-pack.log" || { cat "$dir/wrap-pack.log"; fail "the wrapper did not choose --bind-to none for the packed diamond"; }
else
  grep -qF "[mpirun.sh] binding: --map-by slot:PE=$pe --bind-to core (2 ranks on $cores cores, $pe each" \
    "$dir/wrap-pack.log" || { cat "$dir/wrap-pack.log"; fail "the wrapper did not choose PE=$pe"; }
fi
if grep -q "warning" "$dir/wrap-pack.log"; then cat "$dir/wrap-pack.log"; fail "the wrapper's binding starves a rank"; fi
grep -Eq "rank 0 on .*, may use CPUs [0-9,-]+ \((2|$pe) cores\):" "$dir/wrap-pack.log" ||
  { cat "$dir/wrap-pack.log"; fail "rank 0 has fewer than 2 cores under the wrapper"; }
echo "ok   wrapper, pack: $(chose "$dir/wrap-pack.log")"
# Spread: L and R on different ranks, one CPU-bound stage each, so ranks keep a core each.
wrap "$dir/wrap-spread.log" run --placement spread --dry-run
grep -qF "[mpirun.sh] binding: --map-by slot:PE=$pe --bind-to core (2 ranks on $cores cores, $pe each" \
  "$dir/wrap-spread.log" || { cat "$dir/wrap-spread.log"; fail "the wrapper did not bind the spread diamond"; }
grep -Eq "rank 1 on .*, may use CPUs [0-9,-]+ \($pe cores?\):" "$dir/wrap-spread.log" ||
  { cat "$dir/wrap-spread.log"; fail "rank 1 is not bound to $pe core(s)"; }
if grep -q "warning" "$dir/wrap-spread.log"; then cat "$dir/wrap-spread.log"; fail "spread warned"; fi
echo "ok   wrapper, spread: $(chose "$dir/wrap-spread.log")"
# The user's own binding, even one that starves rank 0: kept, said, and warned of by mpipe.
wrap "$dir/wrap-user.log" --bind-to core run --placement pack --items 1 --time-scale 0.1 --no-progress \
  --out "$dir/user.h5"
grep -qF "[mpirun.sh] binding: yours (--bind-to core), kept" "$dir/wrap-user.log" ||
  { cat "$dir/wrap-user.log"; fail "the wrapper did not keep --bind-to core"; }
grep -Eq "^mpipe: warning: $want" "$dir/wrap-user.log" || { cat "$dir/wrap-user.log"; fail "no warning under the user's binding"; }
grep -Eq "^Cores: rank 0 on [^:]+: cpus [0-9]+ \(1 usable\);" "$dir/wrap-user.log" ||
  { cat "$dir/wrap-user.log"; fail "the wrapper rebound the user's --bind-to core"; }
echo "ok   wrapper, --bind-to core kept and warned: $(chose "$dir/wrap-user.log")"
# A real run through the wrapper: its summary shows the cores it chose, no warning.
wrap "$dir/wrap-run.log" run --placement pack --items 1 --time-scale 0.1 --no-progress --out "$dir/wrap.h5"
if grep -q "warning\|^Short of cores" "$dir/wrap-run.log"; then cat "$dir/wrap-run.log"; fail "the wrapper's run is short of cores"; fi
grep -Eq "^Cores: (rank 0|ranks 0-1) on [^:]+: cpus [0-9,-]+ \((2|$pe) usable\)" "$dir/wrap-run.log" ||
  { cat "$dir/wrap-run.log"; fail "the wrapper's run does not give rank 0 2 usable cores"; }
echo "ok   wrapper, run: $(grep "^Cores:" "$dir/wrap-run.log")"
# More ranks than cores: oversubscribed and unbound.
"$wrapper" -np $((cores + 1)) "$bin" run --spec "$dir/diamond.yaml" --dry-run >"$dir/wrap-over.log" 2>&1 ||
  { cat "$dir/wrap-over.log"; fail "scripts/mpirun.sh -np $((cores + 1))"; }
grep -qF "[mpirun.sh] binding: --oversubscribe --bind-to none ($((cores + 1)) ranks on $cores cores)" \
  "$dir/wrap-over.log" || { cat "$dir/wrap-over.log"; fail "the wrapper did not oversubscribe"; }
echo "ok   wrapper, $((cores + 1)) ranks: $(chose "$dir/wrap-over.log")"
