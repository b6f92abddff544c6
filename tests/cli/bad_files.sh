#!/usr/bin/env bash
# A --spec that is no spec file is refused at once, with one error naming the file and what is
# wrong, exit 2, never a hang (issue 16): /dev/zero and a FIFO (read forever before), a
# directory, a file over the 16 MiB limit, and a file just under it holding ~1.2 million
# one-line stages (over the 10 000-stage limit: refused from the YAML events, before every stage
# node is built). Each under plain `mpipe validate` and under `mpirun -np 2 mpipe run` (every
# rank leaves). Each must take < 5 s (< 2 s measured on an idle machine; the time is printed);
# `timeout` turns a regression into a failure instead of a hang.
# Usage: bad_files.sh MPIPE_BINARY SCRATCH_DIR
set -uo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
mpi=(mpirun --oversubscribe --bind-to none -np 2)
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

# Inputs. The FIFO has no writer: opening it for reading would block forever.
mkfifo "$dir/fifo.yaml"
mkdir -p "$dir/dir.yaml"
head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$dir/oversized.yaml"
# Just under 16 MiB of "  - {name: sN}" lines: well over a million stages.
awk -v max=$((16 * 1024 * 1024 - 64)) 'BEGIN {
  printf "source: s0\nedges: [s0 -> s1]\nstages:\n"; n = 30
  for (i = 0; ; i++) { line = "  - {name: s" i "}\n"; n += length(line); if (n > max) break; printf "%s", line }
}' >"$dir/many_stages.yaml"
[ "$(stat -c %s "$dir/many_stages.yaml")" -le $((16 * 1024 * 1024)) ] || fail "many_stages.yaml is over 16 MiB"

# check NAME FILE PATTERN: validate and an mpirun -np 2 run each exit 2 in < 5 s, printing PATTERN.
check() {
  local name=$1 file=$2 pattern=$3 how t0 t1 took rc
  for how in validate run; do
    t0=$(date +%s.%N)
    if [ $how = validate ]; then
      timeout -k 2 10 "$bin" validate --spec "$file" >"$dir/$name.$how.log" 2>&1
    else
      timeout -k 2 20 "${mpi[@]}" "$bin" run --spec "$file" --out "$dir/$name.h5" --no-progress \
        >"$dir/$name.$how.log" 2>&1
    fi
    rc=$?
    t1=$(date +%s.%N)
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [ $rc -ne 2 ] || ! grep -q -- "$pattern" "$dir/$name.$how.log"; then
      fail "$name ($how): exit $rc after $took s, expected 2 and '$pattern':"
      tail -n 5 "$dir/$name.$how.log"
    elif awk -v t="$took" 'BEGIN { exit !(t >= 5) }'; then
      fail "$name ($how): refused but took $took s (limit 5 s)"
    elif [ "$(grep -c 'mpipe: error' "$dir/$name.$how.log")" -ne 1 ]; then
      fail "$name ($how): not one error line:"; cat "$dir/$name.$how.log"
    else
      echo "ok   $name ($how, $took s): $(grep -m1 'mpipe: error' "$dir/$name.$how.log")"
    fi
  done
}

check dev_zero /dev/zero "/dev/zero: cannot read spec: not a regular file (a character device)"
check fifo "$dir/fifo.yaml" "fifo.yaml: cannot read spec: not a regular file (a FIFO)"
check directory "$dir/dir.yaml" "dir.yaml: cannot read spec: Is a directory"
check oversized "$dir/oversized.yaml" \
  "oversized.yaml: cannot read spec: 16777217 bytes, over the 16 MiB (16777216 bytes) limit"
check many_stages "$dir/many_stages.yaml" \
  "many_stages.yaml:4: field 'stages': has more than 20000 stages; the limit is 10000"
check missing "$dir/no-such.yaml" "no-such.yaml: cannot read spec: No such file or directory"

# Platform and sweep grid files go through the same bounded read.
t0=$(date +%s.%N)
timeout -k 2 10 "$bin" predict --platform /dev/zero >"$dir/platform.log" 2>&1
rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
if [ $rc -ne 2 ] || ! grep -q "/dev/zero: cannot read platform file: not a regular file" "$dir/platform.log"; then
  fail "predict --platform /dev/zero: exit $rc after $took s:"; tail -n 5 "$dir/platform.log"
else
  echo "ok   predict --platform /dev/zero ($took s): $(grep -m1 'mpipe: error' "$dir/platform.log")"
fi
t0=$(date +%s.%N)
timeout -k 2 20 "${mpi[@]}" "$bin" sweep --grid "$dir/fifo.yaml" --out "$dir/sw.h5" >"$dir/grid.log" 2>&1
rc=$?
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
if [ $rc -ne 2 ] || ! grep -q "fifo.yaml: cannot read .*: not a regular file (a FIFO)" "$dir/grid.log"; then
  fail "sweep --grid FIFO: exit $rc after $took s:"; tail -n 5 "$dir/grid.log"
else
  echo "ok   sweep --grid FIFO ($took s): $(grep -m1 'mpipe: error' "$dir/grid.log")"
fi

[ "$fails" -eq 0 ] && echo "all bad files refused" || echo "$fails bad-file check(s) failed"
[ "$fails" -eq 0 ]
