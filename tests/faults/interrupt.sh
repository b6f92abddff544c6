#!/usr/bin/env bash
# SIGINT / SIGTERM to mpirun, to one rank, or to a run without mpirun: the job must end non-zero
# within 10 s, leave no process, print how many items it completed, and rank 0 must have saved
# its partial run with complete = false (earlier runs intact, the file readable).
# Usage: interrupt.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/interrupt.h5
common=(run --placement spread --time-scale 0.05 --no-progress --out "$out")

timeout 120 mpirun --bind-to none -np 3 "$bin" "${common[@]}" --items 2 >"$dir/first.log" 2>&1 ||
  fail "the first run failed: $(cat "$dir/first.log")"
before=$(snapshot "$out")
echo "earlier runs: $before"

# interrupt_case NAME SIGNAL TARGET: TARGET mpirun, rank0, rank1 or single (no mpirun, 1 rank).
interrupt_case() {
  local name=$1 sig=$2 target=$3 log=$dir/$1.log job pid t_kill rc took
  echo "== $name: SIG$sig to $target"
  if [ "$target" = single ]; then
    timeout 120 "$bin" "${common[@]}" --items 400 >"$log" 2>&1 &
  else
    timeout 120 mpirun --bind-to none -np 3 "$bin" "${common[@]}" --items 400 >"$log" 2>&1 &
  fi
  job=$!
  wait_started "$log" 1.5
  case $target in
    mpirun) pid=$(pgrep -P "$job" -x mpirun || true) ;;  # timeout(1)'s child
    single) pid=$(pgrep -P "$job" -x mpipe || true) ;;
    rank*) pid=$(rank_pid "$out" "${target#rank}") ;;
  esac
  [ -n "$pid" ] || fail "$name: no process to signal"
  t_kill=$(now)
  kill -"$sig" "$pid"
  rc=0
  wait "$job" || rc=$?
  took=$(elapsed "$t_kill" "$(now)")
  echo "  exit status $rc, $took s after the signal"
  [ "$rc" -ne 0 ] || fail "$name: exit status 0 after an interrupt"
  [ "$rc" -ne 124 ] || fail "$name: the job hung until timeout(1) killed it"
  less_than "$took" 10 || fail "$name: the job took $took s (>= 10 s) to end after the signal"
  no_leftovers "$out" 5
  local msg
  msg=$(grep -E "^mpipe: error: interrupted by SIG[A-Z]+ on rank [0-9]+; [0-9]+ of 400 items completed" "$log") ||
    fail "$name: no message with the item count: $(cat "$log")"
  echo "  | $msg"
  local added
  added=$(check_file "$out" "$before") || exit 1
  [ "$(wc -l <<<"$added")" -eq 1 ] && [ -n "$added" ] || fail "$name: expected one partial run, got '$added'"
  read -r _ complete done_items reason <<<"$added"
  [ "$complete" = False ] || fail "$name: the interrupted run says complete: $added"
  [ "$done_items" -gt 0 ] && [ "$done_items" -lt 400 ] || fail "$name: items_completed $done_items"
  grep -q "interrupted by SIG" <<<"$reason" || fail "$name: reason '$reason'"
  grep -qF "of 400 items completed" <<<"$msg"
  echo "  partial run: $added"
  before=$(snapshot "$out")
}

interrupt_case int-mpirun INT mpirun
interrupt_case term-mpirun TERM mpirun
interrupt_case int-rank1 INT rank1
interrupt_case term-rank0 TERM rank0
interrupt_case int-single INT single
echo "PASS"
