#!/usr/bin/env bash
# mpipe compare end to end (issue 19, item 3; docs/analysis.md "Comparing runs of many files"):
# real 2-rank runs of tests/data/small.yaml in two files, as two Slurm array tasks would write
# them: pack.h5 (6 runs, every stage on rank 0) and spread.h5 (6 runs, spread, with an emulated
# 10 ms link on every cross-rank hop, so spread is slower by far more than the noise). Then
#   - the text table: both groups with 6 runs (with 4 against 4, ties between medians keep p
#     at 0.057 or more), units, the verdict "pack is faster than spread by N % (permutation test
#     on the difference of medians, p=...)";
#   - --format csv -o FILE and --format json parse, with the same verdict (p < 0.05);
#   - an existing -o file is refused (untouched) unless --force; --by transport gives 2 groups;
#   - bad input, one error line each, exit 2: an unknown --by, a missing file, a file with no
#     runs, a single group (one file, or --by scenario).
# Usage: compare.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
data=$(cd "$(dirname "$0")/../data" && pwd)
mpirun=(mpirun --oversubscribe --bind-to none)
py=/usr/bin/python3
small=(--spec "$data/small.yaml" --items 4 --time-scale 0.1)

for i in 1 2 3 4 5 6; do
  timeout 120 "${mpirun[@]}" -np 2 "$bin" run "${small[@]}" --placement pack --out "$dir/pack.h5" \
    >"$dir/pack$i.log" 2>&1 || { cat "$dir/pack$i.log"; fail "mpipe run --placement pack"; }
  timeout 120 "${mpirun[@]}" -np 2 "$bin" run "${small[@]}" --placement spread \
    --emulate-link latency=10ms --out "$dir/spread.h5" >"$dir/spread$i.log" 2>&1 ||
    { cat "$dir/spread$i.log"; fail "mpipe run --placement spread"; }
done
echo "ok   6 pack runs in pack.h5, 6 spread runs in spread.h5"

# expect_error WHAT PATTERN ARGS...: exit 2, one error on stderr matching PATTERN, no stdout.
expect_error() {
  local what=$1 pattern=$2 rc=0
  shift 2
  "$bin" compare "$@" >"$dir/err.out" 2>"$dir/err.txt" || rc=$?
  [ $rc -eq 2 ] || { cat "$dir/err.out" "$dir/err.txt"; fail "$what: exit $rc, want 2"; }
  [ "$(grep -c 'error:' "$dir/err.txt")" -eq 1 ] || { cat "$dir/err.txt"; fail "$what: want one error"; }
  grep -q -- "$pattern" "$dir/err.txt" || { cat "$dir/err.txt"; fail "$what: no '$pattern'"; }
  [ ! -s "$dir/err.out" ] || { cat "$dir/err.out"; fail "$what: wrote to stdout"; }
  echo "ok   $what: $(grep 'error:' "$dir/err.txt")"
}

# --- the table and the verdict ----------------------------------------------------------------
"$bin" compare "$dir/pack.h5" "$dir/spread.h5" >"$dir/text.txt" 2>&1 ||
  { cat "$dir/text.txt"; fail "mpipe compare"; }
cat "$dir/text.txt"
grep -Eq '^pack +6 ' "$dir/text.txt" || fail "no 'pack 6' row"
grep -Eq '^spread +6 ' "$dir/text.txt" || fail "no 'spread 6' row"
grep -q 'latency median (ms)' "$dir/text.txt" || fail "no latency column with its unit"
grep -q 'throughput median (items/s)' "$dir/text.txt" || fail "no throughput column with its unit"
grep -Eq '^  pack is faster than spread by [0-9.]+ % \(permutation test on the difference of medians, p=0\.0[0-4]' \
  "$dir/text.txt" || fail "no clear verdict for pack naming the test"

# --- csv and json ----------------------------------------------------------------------------
"$bin" compare --format csv -o "$dir/cmp.csv" "$dir/pack.h5" "$dir/spread.h5" >"$dir/csv.log" 2>&1 ||
  { cat "$dir/csv.log"; fail "mpipe compare --format csv -o"; }
grep -q "^Wrote $dir/cmp.csv (csv, 2 groups by placement)" "$dir/csv.log" || { cat "$dir/csv.log"; fail "no 'Wrote' line"; }
"$bin" compare --format json "$dir/pack.h5" "$dir/spread.h5" >"$dir/cmp.json" ||
  fail "mpipe compare --format json"
$py - "$dir/cmp.csv" "$dir/cmp.json" <<'PY' || fail "csv/json content"
import json, sys
import pandas as pd
t = pd.read_csv(sys.argv[1]).set_index("placement")
assert list(t.index) == ["pack", "spread"], list(t.index)
assert t.runs.tolist() == [6, 6], t.runs.tolist()
assert t.loc["spread", "compared_with"] == "pack" and t.loc["spread", "p_value"] < 0.05, t
assert t.loc["pack", "latency_median_ms"] < t.loc["spread", "latency_median_ms"]
assert t.loc["pack", "latency_ci_low_ms"] <= t.loc["pack", "latency_median_ms"] <= t.loc["pack", "latency_ci_high_ms"]
doc = json.load(open(sys.argv[2]))
(v,) = doc["verdicts"]
assert v["clear"] and v["faster"] == "pack" and v["p_value"] < 0.05, v
assert "permutation test" in doc["test"] and len(doc["runs"]) == 12
print(f"ok   csv and json: pack {t.loc['pack', 'latency_median_ms']:.2f} ms, spread "
      f"{t.loc['spread', 'latency_median_ms']:.2f} ms, p={v['p_value']:.3f} ({v['method']})")
PY

# --- never overwrite; other keys -------------------------------------------------------------
before=$(md5sum <"$dir/cmp.csv")
expect_error "existing -o" "cmp.csv: the file exists; it is never overwritten unless --force" \
  --format csv -o "$dir/cmp.csv" "$dir/pack.h5" "$dir/spread.h5"
[ "$(md5sum <"$dir/cmp.csv")" = "$before" ] || fail "the refused -o file was changed"
"$bin" compare --format csv -o "$dir/cmp.csv" --force --by transport "$dir/pack.h5" "$dir/spread.h5" \
  >/dev/null || fail "--force"
head -1 "$dir/cmp.csv" | grep -q '^transport,runs,' || fail "--force did not replace the file"
groups=$(tail -n +2 "$dir/cmp.csv" | cut -d, -f1 | tr '\n' ' ')
if [[ "$groups" != *in-memory* ]] || [ "$(tail -n +2 "$dir/cmp.csv" | wc -l)" -ne 2 ]; then
  fail "--by transport: groups '$groups', want in-memory and the MPI transport"
fi
echo "ok   --force replaced it; --by transport: $groups"

# --- bad input -------------------------------------------------------------------------------
expect_error "unknown --by" "--by: colour not in {placement,transport,serialization,scenario}" \
  --by colour "$dir/pack.h5" "$dir/spread.h5"
expect_error "missing file" "$dir/nope.h5: no such file" "$dir/pack.h5" "$dir/nope.h5"
$py -c "import h5py, sys; h5py.File(sys.argv[1], 'w').create_group('runs')" "$dir/empty.h5"
expect_error "file with no runs" "$dir/empty.h5: no runs" "$dir/pack.h5" "$dir/empty.h5"
expect_error "one group" "only one group by placement ('pack', 6 run(s))" "$dir/pack.h5"
expect_error "--by scenario" "only one group by scenario ('small', 12 run(s))" --by scenario \
  "$dir/pack.h5" "$dir/spread.h5"
"$bin" compare --help | grep -q "permutation test" || fail "--help does not name the test"
echo "ok   mpipe compare"
