#!/usr/bin/env bash
# Rank 0's save of a partial run takes longer than the 3 s a raising rank first waits (a large
# results file; here MPIPE_TEST_SAVE_DELAY_S=6 makes every append sleep 6 s before its rename):
# rank 1 is interrupted, tells rank 0, and must not end the job while rank 0 still writes. The
# partial run must be saved, no .<name>.tmp.<pid> copy left, the job must end within the save's
# time plus 10 s. Then a writer killed in the middle of its append (kill -9) leaves its copy, and
# the next append removes it.
# Usage: slow_save.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
out=$dir/slow-save.h5
common=(run --placement spread --time-scale 0.05 --no-progress --out "$out")
tmp_copies() { find "$dir" -name '.*.tmp.*'; }

timeout 120 mpirun --bind-to none -np 3 "$bin" "${common[@]}" --items 2 >"$dir/first.log" 2>&1 ||
  fail "the first run failed: $(cat "$dir/first.log")"
before=$(snapshot "$out")

echo "== SIGINT to rank 1 while rank 0's save takes 6 s"
log=$dir/slow.log
MPIPE_TEST_SAVE_DELAY_S=6 timeout 120 mpirun --bind-to none -np 3 -x MPIPE_TEST_SAVE_DELAY_S \
  "$bin" "${common[@]}" --items 400 >"$log" 2>&1 &
job=$!
wait_started "$log" 1.5
pid=$(rank_pid "$out" 1)
[ -n "$pid" ] || fail "no rank 1 found"
t_kill=$(now)
kill -INT "$pid"
rc=0
wait "$job" || rc=$?
took=$(elapsed "$t_kill" "$(now)")
echo "  exit status $rc, $took s after the signal"
[ "$rc" -ne 0 ] || fail "exit status 0 after an interrupt"
[ "$rc" -ne 124 ] || fail "the job hung until timeout(1) killed it"
less_than "$took" 16 || fail "the job took $took s (>= 16 s) to end"
less_than 6 "$took" || fail "the job ended after $took s, before the 6 s save could finish"
no_leftovers "$out" 5
[ -z "$(tmp_copies)" ] || fail "rank 0 was killed mid-save, its copy is left: $(tmp_copies); $(cat "$log")"
added=$(check_file "$out" "$before") || exit 1
[ "$(wc -l <<<"$added")" -eq 1 ] && [ -n "$added" ] ||
  fail "expected the partial run in $out, got '$added': $(cat "$log")"
read -r _ complete _ reason <<<"$added"
[ "$complete" = False ] || fail "the interrupted run says complete: $added"
grep -q "interrupted by SIGINT on rank 1" <<<"$reason" || fail "reason '$reason'"
grep -E "^mpipe: error: interrupted by SIGINT on rank 1" "$log" | sed 's/^/  | /'
echo "  partial run saved: $added"

echo "== a writer killed mid-append leaves its copy; the next append removes it"
before=$(snapshot "$out")
MPIPE_TEST_SAVE_DELAY_S=30 timeout 120 "$bin" "${common[@]}" --items 2 >"$dir/killed.log" 2>&1 &
job=$!
for ((i = 0; i < 300; i++)); do
  [ -n "$(tmp_copies)" ] && break
  sleep 0.1
done
copy=$(tmp_copies)
[ -n "$copy" ] || fail "the slow writer never made its copy: $(cat "$dir/killed.log")"
kill -9 "$(pgrep -P "$job" -x mpipe)"
wait "$job" || true
[ -f "$copy" ] || fail "the killed writer's copy is already gone"
echo "  left by the killed writer: $copy"
timeout 120 "$bin" "${common[@]}" --items 2 >"$dir/next.log" 2>&1 || fail "$(cat "$dir/next.log")"
[ -z "$(tmp_copies)" ] || fail "stale copy not removed by the next append: $(tmp_copies)"
added=$(check_file "$out" "$before") || exit 1
[ "$(wc -l <<<"$added")" -eq 1 ] && grep -q True <<<"$added" || fail "the next append: '$added'"
echo "  removed by the next append, which kept its run"

echo "== a malformed MPIPE_TEST_SAVE_DELAY_S fails before the run"
rc=0
MPIPE_TEST_SAVE_DELAY_S=soon timeout 60 "$bin" "${common[@]}" --items 2 >"$dir/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "exit status $rc, expected 2: $(cat "$dir/bad.log")"
grep -q "MPIPE_TEST_SAVE_DELAY_S='soon' is not a number" "$dir/bad.log" || fail "$(cat "$dir/bad.log")"
grep "mpipe: error" "$dir/bad.log" | sed 's/^/  | /'
echo "PASS"
