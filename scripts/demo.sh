#!/usr/bin/env bash
# The demo: install + build if needed, then run the reference pipeline (Main -> A -> B -> C ->
# {C1..C4} -> D -> Main) on 4 ranks with the default placement (spread), print the summary and
# append the run to results/mpipe.h5. Extra arguments go to `mpipe run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ranks=${MPIPE_DEMO_RANKS:-4}
scripts/mpirun.sh -np "$ranks" build/mpipe run --out results/mpipe.h5 "$@"
