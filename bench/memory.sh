#!/bin/bash
# Issue 18, target 8: memory stays flat from 10^5 to 10^7 items. Runs bench/chain0.yaml (3
# zero-work stages, 64 B) packed on 1 rank and bench/chain2.yaml spread on 2 ranks, 16 in flight,
# at each item count, and prints every rank's peak resident set (GNU time's %M, KiB) beside the
# throughput. Flat means the largest count's peak is within 10 % of the smallest's: per-item rows
# are kept for at most --detail-items items (default 10 000, evenly spaced) and the rest only in
# running aggregates, so nothing the runtime holds should grow with the item count.
# Exit 1 if a peak grows by more than 10 %.
#
# Usage: bench/memory.sh [COUNTS]   (default "100000 1000000 10000000"; ~40 s on the 2-core VM)
#   MPIPE_BIN (default build/mpipe)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bin=${MPIPE_BIN:-build/mpipe}
counts=${1:-100000 1000000 10000000}
[ -x "$bin" ] || { echo "memory: no mpipe binary at $bin" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "memory: needs GNU time (apt install time)" >&2; exit 2; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "Peak resident set per rank (KiB), $(date -u +%FT%TZ), $(hostname), $(nproc) CPUs, $(git rev-parse --short HEAD)"
printf '%-32s %10s %12s %s\n' case items items/s "peak RSS per rank (KiB)"
status=0
run_case() {  # NAME NP SPEC PLACEMENT
  local name=$1 np=$2 spec=$3 placement=$4 first="" n log peaks rate
  for n in $counts; do
    log=$tmp/$name-$n.log
    mpirun --oversubscribe --bind-to none -np "$np" /usr/bin/time -f "peak_kib %M" "$bin" run \
      --spec "$spec" --placement "$placement" --inflight 16 --items "$n" --no-progress \
      --out "$tmp/$name-$n.h5" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 2; }
    rm -f "$tmp/$name-$n.h5"
    peaks=$(awk '/^peak_kib/ {print $2}' "$log" | sort -n | tr '\n' ' ')
    rate=$(grep -o 'Throughput: [0-9.]*' "$log" | awk '{printf "%.0f", $2}')
    printf '%-32s %10s %12s %s\n' "$name" "$n" "$rate" "$peaks"
    local max
    max=$(echo "$peaks" | awk '{print $NF}')
    if [ -z "$first" ]; then first=$max; elif [ "$max" -gt $((first * 11 / 10)) ]; then
      echo "  -> not flat: $max KiB against $first KiB at the smallest count" >&2; status=1
    fi
  done
}
run_case "chain0, 1 rank (pack)" 1 bench/chain0.yaml pack
run_case "chain2, 2 ranks (spread)" 2 bench/chain2.yaml spread
exit $status
