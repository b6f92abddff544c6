#!/usr/bin/env bash
# The stall watchdog: a stage made to stall for real (MPIPE_FAULT=stall:STAGE:ITEM sleeps in it
# forever) must end the job within --timeout plus a few seconds, non-zero, naming the stage, its
# rank and the item, with no process left and rank 0's partial run saved as complete = false.
# Also: --timeout must be a sane number, and the default is printed.
# Usage: stall.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/stall.h5
common=(run --placement spread --time-scale 0.01 --no-progress --out "$out")

# stall_case NAME NP STAGE ITEM EXPECTED_RANK
stall_case() {
  local name=$1 np=$2 stage=$3 item=$4 rank=$5 log=$dir/$1.log t0 rc took
  echo "== $name: stall:$stage:$item on $np rank(s), --timeout 2"
  before=$(snapshot "$out")
  t0=$(now)
  rc=0
  if [ "$np" -eq 1 ]; then
    MPIPE_FAULT=stall:$stage:$item timeout 120 "$bin" "${common[@]}" --items 20 --timeout 2 \
      >"$log" 2>&1 || rc=$?
  else
    MPIPE_FAULT=stall:$stage:$item timeout 120 mpirun --bind-to none -np "$np" -x MPIPE_FAULT \
      "$bin" "${common[@]}" --items 20 --timeout 2 >"$log" 2>&1 || rc=$?
  fi
  took=$(elapsed "$t0" "$(now)")
  echo "  exit status $rc after $took s (start-up included)"
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$name: exit status $rc: $(cat "$log")"
  grep -q "injected fault: stalling stage $stage at item $item" "$log" ||
    fail "$name: the fault never fired: $(cat "$log")"
  local msg
  msg=$(grep -E "^mpipe: error: stall: stage $stage on rank $rank \(.*\) has held item $item for [0-9.]+ s" "$log") ||
    fail "$name: no message naming stage $stage, rank $rank and item $item: $(cat "$log")"
  echo "  | $msg"
  # From the fault to the end: the timeout (2 s) + the 2 ms polling + MPI_Abort's ~1-2 s.
  less_than "$took" 25 || fail "$name: took $took s"
  no_leftovers "$out" 5
  local added
  added=$(check_file "$out" "$before") || exit 1
  read -r _ complete done_items reason <<<"$added"
  [ "$complete" = False ] || fail "$name: the stalled run is not marked incomplete: '$added'"
  grep -q "stage $stage on rank $rank" <<<"$reason" || fail "$name: reason '$reason'"
  echo "  partial run: $added"
}

timeout 120 "$bin" "${common[@]}" --items 2 >"$dir/first.log" 2>&1 || fail "first run: $(cat "$dir/first.log")"
grep -q "stall timeout 60.07 s" "$dir/first.log" ||
  fail "the default timeout (10 x 7 ms + 60 s) is not printed: $(cat "$dir/first.log")"

stall_case single 1 C2 2 0
stall_case spread 3 C2 3 2  # spread: C2 is stage instance 5, on rank 5 mod 3 = 2

# Bad values are refused before any work, like any bad input (exit 2).
for bad in -1 nan 1e9 abc; do
  rc=0
  timeout 60 "$bin" "${common[@]}" --items 1 --timeout "$bad" >"$dir/bad.log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "--timeout $bad: exit status $rc, expected 2: $(cat "$dir/bad.log")"
done
rc=0
MPIPE_FAULT=stall:C2 timeout 60 "$bin" "${common[@]}" --items 1 >"$dir/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q "field 'MPIPE_FAULT'" "$dir/bad.log" || fail "bad MPIPE_FAULT: $rc"
echo "PASS"
