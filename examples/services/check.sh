#!/usr/bin/env bash
# The services example's checks (CTest runs them; see CMakeLists.txt and README.md):
#
#   check.sh clean   RESULTS SCRATCH                       remove a previous check's files
#   check.sh run     MPIPE NP PLACEMENT RESULTS SCRATCH    one run under mpirun, checked
#   check.sh compare MPIPE RESULTS SCRATCH                 mpipe report on both runs, checked
#
# run: writes the serial reference (reference.py) to SCRATCH/reference, runs services.yaml under
# `mpirun -np NP` with --placement PLACEMENT (pack = local, spread = distributed), its outputs
# going to a fresh SCRATCH/PLACEMENT-npNP/outputs and the run appended to RESULTS, then compares
# the outputs with the reference byte for byte and checks the summary covered every item.
# compare: `mpipe report RESULTS` into SCRATCH/report, then checks that it compared a local run
# with a distributed one of this pipeline (its verdict, index.html, runs.csv) and prints the
# verdict. MPIEXEC (default mpirun) and MPIEXEC_FLAGS (default --oversubscribe --bind-to none)
# say how to launch; as root, set OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=/usr/bin/python3  # Debian's: the workers and the reference need only its stdlib
ITEMS=$(find "$HERE/data" -maxdepth 1 -type f ! -name '.*' | wc -l)

die() { echo "check.sh: FAIL: $*" >&2; exit 1; }
usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" >&2; exit 2; }

# The spec to run and the options that send its outputs to $1. With --outputs (mpipe run's
# override of the spec's outputs:) the spec itself; without, a copy in the run's folder that
# names the data, the workers and the outputs by absolute path (a copy's relative paths would
# resolve against the copy's folder).
spec_for() {
  local out=$1 dir=$2
  if "$MPIPE" run --help 2>/dev/null | grep -q -- '--outputs'; then
    SPEC=("--spec" "$HERE/services.yaml" "--outputs" "$out")
  else
    sed -e "s|^inputs: data|inputs: $HERE/data|" \
        -e "s|services/serve.py|$HERE/services/serve.py|g" \
        "$HERE/services.yaml" >"$dir/services.yaml"
    printf 'outputs: %s\n' "$out" >>"$dir/services.yaml"
    SPEC=("--spec" "$dir/services.yaml")
  fi
}

cmd_clean() {
  [[ $# -eq 2 ]] || usage
  rm -rf -- "$1" "$2"
  mkdir -p -- "$2" "$(dirname -- "$1")"
}

cmd_run() {
  [[ $# -eq 5 ]] || usage
  MPIPE=$1 NP=$2 PLACEMENT=$3 RESULTS=$4 SCRATCH=$5
  local dir="$SCRATCH/$PLACEMENT-np$NP"
  rm -rf -- "$dir"
  mkdir -p -- "$dir" "$(dirname -- "$RESULTS")"
  "$PYTHON" "$HERE/reference.py" "$SCRATCH/reference" >/dev/null
  spec_for "$dir/outputs" "$dir"
  local flags
  read -r -a flags <<<"${MPIEXEC_FLAGS:---oversubscribe --bind-to none}"  # a list of words
  local cmd=("${MPIEXEC:-mpirun}" -np "$NP" "${flags[@]}"
             "$MPIPE" run "${SPEC[@]}" --placement "$PLACEMENT" --out "$RESULTS" --no-progress)
  echo "+ ${cmd[*]}"
  "${cmd[@]}" 2>&1 | tee "$dir/run.log"
  local rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || die "mpipe run exited with status $rc (log: $dir/run.log)"

  grep -q "^Item latency over $ITEMS items: mean" "$dir/run.log" ||
    die "the summary has no 'Item latency over $ITEMS items' line"
  local expected got
  expected=$(cd "$SCRATCH/reference" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort)
  got=$(cd "$dir/outputs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | sort)
  [[ "$got" == "$expected" ]] ||
    die "outputs are not one file per input: got [$got], expected [$expected]"
  local name bad=0
  for name in $expected; do
    cmp -- "$SCRATCH/reference/$name" "$dir/outputs/$name" || bad=1
  done
  [[ $bad -eq 0 ]] || die "outputs differ from the serial reference ($SCRATCH/reference)"
  echo "check.sh: OK: $PLACEMENT at -np $NP: $ITEMS outputs equal the serial reference;" \
       "$(grep '^Item latency over' "$dir/run.log")"
}

cmd_compare() {
  [[ $# -eq 3 ]] || usage
  MPIPE=$1 RESULTS=$2 SCRATCH=$3
  [[ -f "$RESULTS" ]] || die "$RESULTS: no results file (run the local and spread checks first)"
  local out="$SCRATCH/report"
  rm -rf -- "$out"
  local cmd=("$MPIPE" report "$RESULTS" -o "$out" --no-svg)
  echo "+ ${cmd[*]}"
  "${cmd[@]}" 2>&1 | tee "$SCRATCH/report.log"
  local rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || die "mpipe report exited with status $rc"
  grep -q "^Report: .*index.html" "$SCRATCH/report.log" || die "mpipe report named no index.html"
  [[ -s "$out/index.html" ]] || die "$out/index.html is missing or empty"
  [[ -s "$out/runs.csv" ]] || die "$out/runs.csv is missing or empty"
  ls "$out"/local-vs-distributed-*.png >/dev/null 2>&1 || die "no local-vs-distributed plot in $out"
  # The report's verdict and its run table, checked and shown.
  "$PYTHON" - "$out" <<'EOF'
import csv, html, re, sys
out = sys.argv[1]
page = open(f"{out}/index.html", encoding="utf-8").read()
runs = [r for r in csv.DictReader(open(f"{out}/runs.csv", encoding="utf-8"))
        if r["scenario"] == "services"]
print("report runs of 'services':")
for r in runs:
    print(f"  run {r['id']}: {r['label']}: {r['placement']}, tier {r['tier']}, {r['items']} "
          f"items, mean latency {float(r['latency_ms']):.2f} ms, critical path "
          f"{float(r['critical_path_ms']):.2f} ms")
# runs.csv's placement column is the resolved map; its label starts with the --placement given.
local = [r for r in runs if r["label"].startswith("pack") and r["tier"] == "same-rank"]
spread = [r for r in runs if r["label"].startswith("spread") and r["tier"] != "same-rank"]
if not local or not spread:
    sys.exit("check.sh: FAIL: runs.csv lacks a pack run (tier same-rank) or a spread run "
             f"across ranks: {[(r['label'], r['tier']) for r in runs]}")
if "nothing to compare yet" in page:
    sys.exit("check.sh: FAIL: the report found no local run to compare the distributed one with")
verdict = re.search(r"<div class='verdict'>(.*?)</div>", page, re.S)
if not verdict:
    sys.exit("check.sh: FAIL: index.html has no verdict")
text = html.unescape(re.sub(r"<[^>]+>", " ", verdict.group(1)))
print("report verdict:", re.sub(r"\s+", " ", text).strip())
EOF
  echo "check.sh: OK: mpipe report compared the local and the distributed run ($out/index.html)"
}

[[ $# -ge 1 ]] || usage
what=$1
shift
case $what in
  clean) cmd_clean "$@" ;;
  run) cmd_run "$@" ;;
  compare) cmd_compare "$@" ;;
  *) usage ;;
esac
