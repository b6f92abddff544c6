#!/usr/bin/env bash
# One run of examples/image checked against the serial reference, byte for byte.
#   check.sh cli|lib NP PLACEMENT SCRATCH REFERENCE SPEC DATA PROGRAM MPIEXEC ["MPI FLAGS"]
# cli: PROGRAM is the mpipe binary, SPEC one that loads the plugin (image-plugin.yaml); the run's
#      results file is checked too (check_h5.py: each edge's serialization, bytes per message).
# lib: PROGRAM is image_pipeline (the library form), SPEC image.yaml.
# REFERENCE (image_reference) writes SCRATCH/expected from DATA/*.pgm; the run writes SCRATCH/out.
# Writes only under SCRATCH, which it removes first. Exit 0: every output equals the reference.
set -euo pipefail
[[ $# -ge 9 ]] || { sed -n 2,9p "$0"; exit 2; }
mode=$1 np=$2 placement=$3 dir=$4 reference=$5 spec=$6 data=$7 program=$8 mpiexec=$9
read -r -a mpi_flags <<<"${10:---oversubscribe --bind-to none}"
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$dir" && mkdir -p "$dir"

OMP_NUM_THREADS=1 "$reference" "$dir/expected" "$data"/*.pgm

args=(--spec "$spec" --placement "$placement" --outputs "$dir/out")
if [[ $mode == cli ]]; then
  args=(run "${args[@]}" --out "$dir/results.h5")
fi
status=0
"$mpiexec" -np "$np" "${mpi_flags[@]}" "$program" "${args[@]}" >"$dir/run.txt" 2>&1 || status=$?
cat "$dir/run.txt"
[[ $status -eq 0 ]] || { echo "FAIL: the $mode run at -np $np exited $status"; exit 1; }

expected=$(cd "$dir/expected" && ls) got=$(cd "$dir/out" && ls)
[[ $expected == "$got" ]] ||
  { echo "FAIL: outputs [$got] are not the reference's [$expected]"; exit 1; }
for f in $expected; do
  cmp "$dir/expected/$f" "$dir/out/$f" || { echo "FAIL: $f differs from the reference"; exit 1; }
done
echo "image: $(wc -w <<<"$expected") outputs equal the serial reference byte for byte"

if [[ $mode == cli ]]; then
  /usr/bin/python3 "$here/check_h5.py" "$dir/results.h5"
fi
grep -E "^Item latency" "$dir/run.txt" | sed "s/^/image: $mode -np $np $placement: /"
echo "image: OK"
