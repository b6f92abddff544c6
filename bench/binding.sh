#!/bin/bash
# The Binding target of issue 17: the diamond of compute stages (bench/diamond.yaml: Main ->
# Decode 20 ms -> {Left 40 ms, Right 40 ms} -> Merge 10 ms -> Main, 256 KiB items, bound 70 ms)
# packed on rank 0 of `-np 2`, under each binding and wait setting below, REPEATS times each
# (interleaved).
# Prints one line per run: the setting, the mean item latency and its excess over the 70 ms
# bound, the median item latency (p50), each stage's mean compute time, "path" = Decode +
# max(Left, Right) + Merge at those times (so mean - path is the runtime's own hand-offs and
# waits), "2-at-once" = how much slower a ms of work ran in Left and Right (at once) than in
# Decode (alone; 1.00 when two cores really run two compute threads at full speed), and how idle
# and loaded the machine was just before the run (other work makes the numbers noisy: a compute
# stage's work is a block count fixed by a calibration before the run, so load then shows as
# stages longer than their work_ms).
#   core        mpirun --bind-to core            (Open MPI's default for 2 ranks: rank 0 has 1 core)
#   wrapper     scripts/mpirun.sh                (its choice: --bind-to none here; --wait auto = block)
#   none-spin   scripts/mpirun.sh ... --wait spin   (rank 0's main thread polls MPI without pause)
#   none-block  scripts/mpirun.sh ... --wait block
#   passive     OMP_WAIT_POLICY=passive OMP_PROC_BIND=false scripts/mpirun.sh
#   np1         scripts/mpirun.sh -np 1          (no second rank at all)
#   spin-kernel scripts/mpirun.sh ... --kernel spin  (each stage spins for work_ms of its own
#               CPU time: no calibration, so wall - work is time the stage waited for a core)
#
# Usage: bench/binding.sh [REPEATS] [SETTING...]   (default 3, every setting)
#   MPIPE_BIN (default build/mpipe), ITEMS (default 10), IDLE=P: before each run wait (up to
#   IDLE_WAIT s, default 60) until the machine was at least P % idle over 2 s (default 0: don't
#   wait); the idle % is printed either way
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
repeats=${1:-3}
shift || true
settings=("$@")
((${#settings[@]})) || settings=(core wrapper none-spin none-block passive np1 spin-kernel)
bin=${MPIPE_BIN:-build/mpipe}
items=${ITEMS:-10}
[ -x "$bin" ] || { echo "binding: no binary at $bin (set MPIPE_BIN)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run=("$bin" run --spec bench/diamond.yaml --placement pack --items "$items" --no-progress)

idle_pct() {  # % of CPU time idle over the next 2 s, all CPUs
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 2
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local total=0 i
  for ((i = 1; i < ${#a[@]}; i++)); do total=$((total + b[i] - a[i])); done
  echo $((100 * (b[4] - a[4]) / (total > 0 ? total : 1)))
}
median() {  # the run's median item latency in ms, from its results file
  /usr/bin/python3 -c "import sys, h5py, numpy
(g,) = h5py.File(sys.argv[1], 'r')['runs'].values()
print(f\"{numpy.median(g['items']['latency_ns']) / 1e6:.2f}\")" "$1"
}
printf '%-11s %3s %8s %7s %7s %7s %7s %7s %7s %7s %9s  %s\n' setting rep "mean ms" excess "p50 ms" \
  Decode Left Right Merge path 2-at-once "idle % / load (1 min) / binding"
for ((k = 1; k <= repeats; k++)); do  # settings interleaved, so slow drifts in load hit each alike
  for s in "${settings[@]}"; do
    out="$tmp/$s-$k.h5" log="$tmp/$s-$k.log"
    idle=$(idle_pct)
    for ((w = 0; w < ${IDLE_WAIT:-60} / 2 && idle < ${IDLE:-0}; w++)); do idle=$(idle_pct); done
    load=$(cut -d' ' -f1 /proc/loadavg)
    case "$s" in
      core) mpirun --bind-to core -np 2 "${run[@]}" --out "$out" >"$log" 2>&1 ;;
      wrapper) scripts/mpirun.sh -np 2 "${run[@]}" --out "$out" >"$log" 2>&1 ;;
      none-spin) scripts/mpirun.sh -np 2 "${run[@]}" --wait spin --out "$out" >"$log" 2>&1 ;;
      none-block) scripts/mpirun.sh -np 2 "${run[@]}" --wait block --out "$out" >"$log" 2>&1 ;;
      passive) OMP_WAIT_POLICY=passive OMP_PROC_BIND=false scripts/mpirun.sh -np 2 "${run[@]}" \
                 --out "$out" >"$log" 2>&1 ;;
      np1) scripts/mpirun.sh -np 1 "${run[@]}" --out "$out" >"$log" 2>&1 ;;
      spin-kernel) scripts/mpirun.sh -np 2 "${run[@]}" --kernel spin --out "$out" >"$log" 2>&1 ;;
      *) echo "binding: unknown setting '$s'" >&2; exit 2 ;;
    esac
    mean=$(sed -n 's/^Item latency over .* mean \([0-9.]*\) ms.*/\1/p' "$log")
    stage() { awk -v s="$1" '$1 == s && ($2 == "compute" || $2 == "spin") {print $7}' "$log"; }
    chose=$(sed -n 's/^\[mpirun.sh\] binding: \([^(]*\).*/\1/p' "$log")
    read -r d l r m <<<"$(stage Decode) $(stage Left) $(stage Right) $(stage Merge)"
    printf '%-11s %3d %8s %6.1f%% %7s %7s %7s %7s %7s %7.2f %9.2f  %s / %s / %s\n' "$s" "$k" "$mean" \
      "$(awk -v m="$mean" 'BEGIN {print (m - 70) / 70 * 100}')" "$(median "$out")" "$d" "$l" "$r" "$m" \
      "$(awk -v d="$d" -v l="$l" -v r="$r" -v m="$m" 'BEGIN {print d + (l > r ? l : r) + m}')" \
      "$(awk -v d="$d" -v l="$l" -v r="$r" 'BEGIN {print (l + r) / 80 / (d / 20)}')" \
      "$idle" "$load" "${chose:-as given}"
  done
done
