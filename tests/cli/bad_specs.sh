#!/usr/bin/env bash
# Every bad input gives one clear error and a non-zero exit within 10 s on every rank, with no
# process left. Each tests/data/bad/*.yaml starts with "# expect: REGEX" (the message it must give).
# Cases run 3 at a time (mpirun start-up dominates); each has its own scratch dir, named in its
# command line, so the leftover-process check sees only that case's processes.
# Usage: bad_specs.sh MPIPE_BINARY BAD_DIR
set -uo pipefail
bin=$1 dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpirun --oversubscribe --bind-to none -np 2)

# check NAME EXPECT_REGEX CMD... (CMD may use @D@ for the case's scratch dir)
check() {
  local name=$1 expect=$2
  shift 2
  local d="$tmp/case.$name" args=()
  mkdir -p "$d"
  for a in "$@"; do args+=("${a//@D@/$d}"); done
  local t0=$SECONDS
  timeout -k 2 10 "${args[@]}" >"$d/out" 2>&1
  local rc=$? took=$((SECONDS - t0)) count
  count=$(grep -c 'mpipe: error:' "$d/out")
  sleep 0.2
  {
    if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
      echo "FAIL $name: exit code $rc after ${took}s (want a prompt non-zero exit)"
    elif ! grep -Eq -- "$expect" "$d/out"; then
      echo "FAIL $name: message does not match /$expect/:"; sed 's/^/    /' "$d/out"
    elif [ "$count" -ne 1 ]; then
      echo "FAIL $name: the error was printed $count times (want once):"; sed 's/^/    /' "$d/out"
    elif pgrep -f -- "$d/" >/dev/null; then
      echo "FAIL $name: processes left behind:"; pgrep -af -- "$d/"; pkill -9 -f -- "$d/"
    elif [ -e "$d/r.h5" ]; then
      echo "FAIL $name: a failed run created its results file"
    else
      echo "ok   $name (exit $rc, ${took}s): $(grep -m1 'mpipe: error:' "$d/out")"
    fi
  } >"$d/result"
}

run_limited() {  # at most 3 cases at a time
  while [ "$(jobs -rp | wc -l)" -ge 3 ]; do wait -n; done
  check "$@" &
}

# Every spec file through `mpipe run` as one process (the same parse and checks every rank
# runs, at a quarter of mpirun's start-up), and every fourth also under mpirun -np 2, where
# both ranks must leave together.
i=0
for f in "$dir"/*.yaml; do
  expect=$(head -n1 "$f" | sed -n 's/^# expect: //p')
  [ -n "$expect" ] || expect="first line is not '# expect: REGEX'"
  name=$(basename "$f" .yaml)
  launch=("${mpi[@]}")
  if ((i++ % 4 != 0)); then launch=(); name="$name.1rank"; fi
  run_limited "$name" "$expect" "${launch[@]}" "$bin" run --spec "$f" --out @D@/r.h5 --no-progress
done
# Inputs that are not spec files.
run_limited missing-file "does-not-exist.yaml: cannot read spec: No such file" \
  "${mpi[@]}" "$bin" run --spec @D@/does-not-exist.yaml --out @D@/r.h5
run_limited placement-rank "rank 7 but the job has 2 ranks" "${mpi[@]}" "$bin" run --placement A=7 --out @D@/r.h5
run_limited placement-name "unknown stage 'Nope'" "${mpi[@]}" "$bin" run --placement Nope=1 --out @D@/r.h5
run_limited placement-syntax "unknown placement 'A:1'" "${mpi[@]}" "$bin" run --placement A:1 --out @D@/r.h5
run_limited time-scale "--time-scale': must be > 0" "${mpi[@]}" "$bin" run --time-scale -1 --out @D@/r.h5
run_limited time-scale-zero "--time-scale': must be > 0" "${mpi[@]}" "$bin" run --time-scale 0 --out @D@/r.h5
run_limited items-zero "--items" "${mpi[@]}" "$bin" run --items 0 --out @D@/r.h5
run_limited emulate-link "field '--emulate-link': unknown key 'colour'" "${mpi[@]}" "$bin" run --emulate-link latency=5ms,colour=red --out @D@/r.h5
run_limited emulate-link-unit "field '--emulate-link': latency must be like 5ms" "${mpi[@]}" "$bin" run --emulate-link latency=5 --out @D@/r.h5
run_limited serialization "--serialization" "${mpi[@]}" "$bin" run --serialization pickle --out @D@/r.h5
run_limited cli-unknown-option "--bogus" "${mpi[@]}" "$bin" run --bogus --out @D@/r.h5
run_limited payload-in-flight "field '--inflight': inflight 100 x 12884901888 bytes per item .* the limit is 16 GiB" \
  "${mpi[@]}" "$bin" run --inflight 100 --payload-bytes 1073741824 --out @D@/r.h5
# A regular file where a directory should be: the results file cannot be created there.
mkdir -p "$tmp/case.out-unwritable" && touch "$tmp/case.out-unwritable/afile"
run_limited out-unwritable "afile/r.h5.*Not a directory" "${mpi[@]}" "$bin" run --out @D@/afile/r.h5
run_limited single-process "cycle A -> B -> C -> A" "$bin" run --spec "$dir/cycle.yaml" --out @D@/r.h5
wait
cat "$tmp"/case.*/result
n=$(cat "$tmp"/case.*/result | grep -c '^ok\|^FAIL')
fails=$(cat "$tmp"/case.*/result | grep -c '^FAIL')
echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$n" -ge 50 ]
