#!/usr/bin/env bash
# The demo: install + build if needed, then run the reference pipeline (Main -> A -> B -> C ->
# {C1..C4} -> D -> Main) on 4 ranks with the default placement (spread), print the summary and
# append the run to results/mpipe.h5. Extra arguments go to `mpipe run`.
#
# Then, so the report has something to compare, the same pipeline packed on one rank (every hop
# in memory; skipped when the arguments choose a --placement) and a quick communication
# benchmark on 2 ranks (~3 s), the render farm with 1 and 2 replicas (~2 s), a small break-even
# sweep of pack against spread (~15-30 s), and finally `mpipe report`: every plot plus one HTML
# page with the verdict, in a new folder results/report-<UTC time>, whose path is printed last.
# MPIPE_DEMO_RANKS (default 4) sets the ranks of the main run; MPIPE_DEMO_REPORT=0 skips the
# extra runs and the report; MPIPE_BUILD_DIR (default build) is where setup.sh builds mpipe.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ranks=${MPIPE_DEMO_RANKS:-4}
mpipe=${MPIPE_BUILD_DIR:-build}/mpipe  # setup.sh builds there
out=results/mpipe.h5
scripts/mpirun.sh -np "$ranks" "$mpipe" run --out "$out" "$@"
if [ "${MPIPE_DEMO_REPORT:-1}" = "0" ]; then exit 0; fi

placement_given=0
for arg in "$@"; do
  case "$arg" in --placement | --placement=*) placement_given=1 ;; esac
done
if [ "$placement_given" = "0" ]; then
  echo
  echo "[demo] the same pipeline with every stage on one rank (pack), for the comparison:"
  scripts/mpirun.sh -np 1 "$mpipe" run --placement pack --no-progress --out "$out" "$@" | tail -n 4
fi
echo
echo "[demo] what one hop costs here (mpipe bench --quick, 2 ranks):"
scripts/mpirun.sh -np 2 "$mpipe" bench --quick --no-progress --out "$out" | tail -n 3
echo
echo "[demo] the render farm with 1 and 2 replicas (throughput against replicas):"
for r in 1 2; do
  scripts/mpirun.sh -np 3 "$mpipe" run --scenario render-farm --replicas Render=$r --items 60 \
    --time-scale 0.001 --no-progress --out "$out" | grep -m1 '^Throughput' || true
done
echo
echo "[demo] from how much work per item on does spreading pay? (a small break-even sweep):"
scripts/mpirun.sh -np 4 "$mpipe" sweep --break-even --time-scale 0.01 --work-min 0.1 \
  --work-max 1000 --points-per-decade 1 --repeat 3 --seed 1 --no-progress --out "$out" |
  tail -n 8
echo
echo "[demo] report:"
"$mpipe" report "$out"
