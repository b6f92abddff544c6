#!/usr/bin/env bash
# A rank killed mid-run (SIGKILL, from outside and by an injected crash): the job must end
# non-zero within 10 s of the kill with no process left, the results file must still open with
# every earlier run intact, and the killed run must be absent or present with complete = false.
# Usage: dead_rank.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/dead-rank.h5
common=(run --placement spread --time-scale 0.05 --no-progress --out "$out")

# An earlier, complete run that must survive everything below.
timeout 120 mpirun --bind-to none -np 3 "$bin" "${common[@]}" --items 2 >"$dir/first.log" 2>&1 ||
  fail "the first run failed: $(cat "$dir/first.log")"
before=$(snapshot "$out")
echo "earlier runs: $before"

# kill_case NAME RANK: kill -9 that rank of a running job.
kill_case() {
  local name=$1 victim=$2 log=$dir/$1.log t_kill t_end rc pid
  echo "== $name"
  timeout 120 mpirun --bind-to none -np 3 "$bin" "${common[@]}" --items 400 \
    >"$log" 2>&1 &
  local job=$!
  wait_started "$log" 1
  pid=$(rank_pid "$out" "$victim")
  [ -n "$pid" ] || fail "$name: no rank $victim found"
  t_kill=$(now)
  kill -9 "$pid"
  echo "  killed rank $victim (pid $pid) with SIGKILL"
  rc=0
  wait "$job" || rc=$?
  t_end=$(now)
  local took
  took=$(elapsed "$t_kill" "$t_end")
  echo "  mpirun exit status $rc, $took s after the kill"
  [ "$rc" -ne 0 ] || fail "$name: the job exited 0 after losing a rank"
  [ "$rc" -ne 124 ] || fail "$name: the job hung until timeout(1) killed it"
  less_than "$took" 10 || fail "$name: the job took $took s (>= 10 s) to end after the kill"
  no_leftovers "$out" 5
  check_absent_or_incomplete "$out" "$before"
  grep -E "mpipe: error|noticed|rank" "$log" | head -3 | sed 's/^/  | /'
  before=$(snapshot "$out")  # what this case kept must survive the next one
}

kill_case kill9-rank2 2
kill_case kill9-rank0 0

# The injected crash: the rank raises SIGKILL on itself at item 3 of stage C2. Its kill time is
# when the fault's line appears in the log, watched here at 50 ms resolution.
echo "== crash-fault"
log=$dir/crash.log
MPIPE_FAULT=crash:C2:3 timeout 120 mpirun --bind-to none -np 3 "$bin" "${common[@]}" --items 400 \
  >"$log" 2>&1 &
job=$!
for ((i = 0; i < 1200; i++)); do
  grep -q "injected fault: SIGKILL" "$log" && break
  sleep 0.05
done
t_kill=$(now)
rc=0
wait "$job" || rc=$?
took=$(elapsed "$t_kill" "$(now)")
echo "  mpirun exit status $rc, $took s after the crash"
grep -q "injected fault: SIGKILL" "$log" || fail "crash-fault: the fault never fired: $(cat "$log")"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "crash-fault: exit status $rc"
less_than "$took" 10 || fail "crash-fault: the job took $took s to end after the crash"
no_leftovers "$out" 5
check_absent_or_incomplete "$out" "$before"
echo "PASS"
