#!/usr/bin/env bash
# Results files under contention and bad paths: concurrent writers all keep their runs and leave
# no lock file (each holder removes its own, safely: see src/io/lock.hpp); a writer
# that finds the file locked says by whom and waits, or gives up after MPIPE_LOCK_WAIT_S and keeps
# the run in a rescue file; an unwritable path, a directory that cannot be made and a full disk
# fail before the run (exit 2); a disk that fills during the run keeps the run in a rescue file
# and prints its path. The file itself is never damaged.
# Usage: writers.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
source "$(dirname "$0")/lib.sh"
mounts=()
cleanup() {
  local m
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
rm -rf "$dir" && mkdir -p "$dir"
quick=(run --time-scale 0.01 --items 2 --no-progress)

# ---- Concurrent writers: 2 jobs of 2 ranks and 2 single-rank runs, all at once, one file.
echo "== concurrent writers"
out=$dir/shared.h5
"$bin" "${quick[@]}" --out "$out" >"$dir/seed.log" 2>&1 || fail "seed run: $(cat "$dir/seed.log")"
before=$(snapshot "$out")
pids=()
for i in 1 2; do
  timeout 120 mpirun --bind-to none -np 2 "$bin" "${quick[@]}" --out "$out" >"$dir/mpi$i.log" 2>&1 &
  pids+=($!)
  timeout 120 "$bin" "${quick[@]}" --out "$out" >"$dir/single$i.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent writer failed: $(cat "$dir"/*.log)"; done
added=$(check_file "$out" "$before")
[ "$(wc -l <<<"$added")" -eq 4 ] || fail "expected 4 new runs, got: $added"
grep -q False <<<"$added" && fail "a concurrent run is incomplete: $added"
echo "  4 concurrent runs kept: $(awk '{print $1}' <<<"$added" | paste -sd' ')"
[ -z "$(find "$dir" -name '.*.tmp.*')" ] || fail "temporary files left: $(find "$dir" -name '.*.tmp.*')"
[ -z "$(find "$dir" -name '*.lock')" ] || fail "lock files left: $(find "$dir" -name '*.lock')"

# ---- Lock files are removed by their holder: 8 writers at once, 3 rounds, still no run lost.
echo "== 8 concurrent writers, 3 rounds: no run lost, no lock file left"
before=$(snapshot "$out")
for round in 1 2 3; do
  pids=()
  for i in 1 2 3 4 5 6 7 8; do
    timeout 120 "$bin" "${quick[@]}" --out "$out" >"$dir/many$round-$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "a concurrent writer failed: $(cat "$dir"/many*.log)"; done
done
added=$(check_file "$out" "$before")
[ "$(wc -l <<<"$added")" -eq 24 ] || fail "expected 24 new runs, got $(wc -l <<<"$added"): $added"
[ -z "$(find "$dir" -name '*.lock')" ] || fail "lock files left: $(find "$dir" -name '*.lock')"
echo "  24 runs kept, no lock file left"

# ---- The lock held by someone else: a message naming the holder, then the wait ends.
echo "== lock held for 3 s"
before=$(snapshot "$out")
echo "pid 4242 on host lockholder" >"$out.lock"
flock "$out.lock" sleep 3 &
holder=$!
sleep 0.3
t0=$(now)
"$bin" "${quick[@]}" --out "$out" >"$dir/wait.log" 2>&1 || fail "waiting writer failed: $(cat "$dir/wait.log")"
took=$(elapsed "$t0" "$(now)")
wait "$holder"
grep -F "mpipe: waiting for $out (locked by pid 4242 on host lockholder" "$dir/wait.log" ||
  fail "no waiting message: $(cat "$dir/wait.log")"
less_than 2 "$took" || fail "the writer did not wait for the lock ($took s)"
added=$(check_file "$out" "$before")
[ "$(wc -l <<<"$added")" -eq 1 ] && grep -q True <<<"$added" || fail "run after the wait: $added"
echo "  waited, then appended ($took s)"

echo "== lock never released (MPIPE_LOCK_WAIT_S=1)"
before=$(snapshot "$out")
flock "$out.lock" sleep 20 &
holder=$!
sleep 0.3
rc=0
MPIPE_LOCK_WAIT_S=1 timeout 60 "$bin" "${quick[@]}" --out "$out" >"$dir/giveup.log" 2>&1 || rc=$?
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[ "$rc" -eq 3 ] || fail "gave-up writer: exit status $rc, expected 3: $(cat "$dir/giveup.log")"
grep -q "gave up after 1 s waiting for the lock on '$out'" "$dir/giveup.log" || fail "$(cat "$dir/giveup.log")"
rescue=$(sed -n 's/.*kept in rescue file \([^ ]*\) (appending to.*/\1/p' "$dir/giveup.log")
[ -n "$rescue" ] && [ -f "$rescue" ] || fail "no rescue file named: $(cat "$dir/giveup.log")"
check_file "$rescue" "" | grep -q True || fail "the rescue file does not hold the complete run"
[ ! -e "$rescue.lock" ] || fail "the rescue file's lock file is left"
[ -z "$(check_file "$out" "$before")" ] || fail "the locked file changed"
echo "  gave up, run kept in $rescue"

# ---- Bad paths: found before the run (exit 2, no run output), the file untouched.
bad_path() {
  local name=$1 path=$2 expect=$3 rc=0
  timeout 60 "$bin" "${quick[@]}" --out "$path" >"$dir/$name.log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "$name: exit status $rc, expected 2: $(cat "$dir/$name.log")"
  grep -q "$expect" "$dir/$name.log" || fail "$name: message: $(cat "$dir/$name.log")"
  grep -q "Item latency" "$dir/$name.log" && fail "$name: the run started"
  echo "  $name: $(grep 'mpipe: error' "$dir/$name.log")"
}
echo "== bad paths"
touch "$dir/plainfile"
bad_path missing-dir "$dir/plainfile/sub/r.h5" "cannot create directory"
"$bin" "${quick[@]}" --out "$dir/new/deeper/r.h5" >/dev/null 2>&1 || fail "a missing directory is made"
bad_path is-dir "$dir" "is a directory"

if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=2m tmpfs "$(mkdir -p "$dir/full" && echo "$dir/full")" 2>/dev/null; then
  echo "SKIP (not root or no tmpfs): read-only and full-disk cases"
  echo "PASS"
  exit 0
fi
mounts+=("$dir/full")
mkdir -p "$dir/ro" && mount -t tmpfs -o size=1m,ro tmpfs "$dir/ro" && mounts+=("$dir/ro")
bad_path read-only "$dir/ro/r.h5" "is not writable"

# ---- Full disk: a 2 MiB tmpfs, filled, refuses before the run.
"$bin" "${quick[@]}" --out "$dir/full/r.h5" >"$dir/full-first.log" 2>&1 || fail "$(cat "$dir/full-first.log")"
before=$(snapshot "$dir/full/r.h5")
dd if=/dev/zero of="$dir/full/filler" bs=64k 2>/dev/null || true
bad_path full-disk "$dir/full/r.h5" "not enough free space"
rm -f "$dir/full/filler"

# ---- The disk fills during the run: the run is kept in a rescue file in $TMPDIR.
echo "== disk fills during the run"
mkdir -p "$dir/tmp"
log=$dir/fills.log
TMPDIR=$dir/tmp timeout 120 mpirun --bind-to none -np 2 -x TMPDIR "$bin" run --time-scale 0.05 \
  --items 60 --no-progress --out "$dir/full/r.h5" >"$log" 2>&1 &
job=$!
wait_started "$log" 0.5
dd if=/dev/zero of="$dir/full/filler" bs=64k 2>/dev/null || true
rc=0
wait "$job" || rc=$?
[ "$rc" -ne 0 ] || fail "a run that could not be appended exited 0: $(cat "$log")"
grep -F "mpipe: error: run" "$log" || fail "no error: $(cat "$log")"
rescue=$(sed -n 's/.*kept in rescue file \([^ ]*\) (appending to.*/\1/p' "$log")
[[ "$rescue" == "$dir/tmp/"* ]] && [ -f "$rescue" ] || fail "rescue file not in \$TMPDIR: $(cat "$log")"
check_file "$rescue" "" | grep -q "True" || fail "the rescue file does not hold the complete run"
[ -z "$(check_file "$dir/full/r.h5" "$before")" ] || fail "the full disk's file changed"
[ -z "$(find "$dir/full" -name '.*.tmp.*')" ] || fail "temporary file left on the full disk"
echo "  run kept in $rescue; $dir/full/r.h5 intact"
no_leftovers "$dir/full/r.h5" 5
echo "PASS"
