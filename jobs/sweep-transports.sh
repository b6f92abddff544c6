#!/usr/bin/env bash
# Runs one `mpipe sweep` per transport, because the transport is fixed when an MPI job starts:
# shared memory (Open MPI's choice) in one job, TCP forced (MPIPE_TRANSPORT=tcp, i.e. --mca btl
# self,tcp) in another. Each job runs the points of its own transport (--transport) and appends
# its own sweep run to the results file; compare them by their `sweep_transport` attribute.
# Usage: jobs/sweep-transports.sh RANKS [mpipe sweep options...]
#   jobs/sweep-transports.sh 4 --grid jobs/sweeps/example.yaml --time-scale 0.01 --out results/sweeps.h5
# MPIPE_BIN: the binary (default build/mpipe); MPIPE_TRANSPORTS: the list (default "shm tcp").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ranks=${1:?usage: jobs/sweep-transports.sh RANKS [mpipe sweep options...]}
shift
bin=${MPIPE_BIN:-$here/build/mpipe}
status=0
for t in ${MPIPE_TRANSPORTS:-shm tcp}; do
  echo "=== transport $t: MPIPE_TRANSPORT=$t scripts/mpirun.sh -np $ranks $bin sweep $* --transport $t"
  MPIPE_TRANSPORT=$t "$here/scripts/mpirun.sh" -np "$ranks" "$bin" sweep "$@" --transport "$t" || status=$?
done
exit $status
