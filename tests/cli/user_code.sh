#!/usr/bin/env bash
# Bad user code (docs/stages.md) gets one clear error, a non-zero exit, in under 10 s, and leaves
# no process behind; good user code runs and its outputs are the expected bytes. Each case runs
# under `mpirun -np 2` (and `mpipe validate`, no MPI, where it applies):
#   1. a plugin file that does not exist (--plugin and `plugins:`)
#   2. a shared library that is not an mpipe plugin (tests/plugins/not_a_plugin.cpp)
#   3. a plugin of another ABI and version (tests/plugins/bad_abi.cpp): "rebuild it"
#   4. the good plugin (tests/plugins/good.cpp) with a misspelled function (did you mean) and
#      with two of its functions whose types differ across an edge (both types named)
#   5. an exec worker that exits mid-stream: exit status and stderr tail, the partial run saved
#   6. an exec worker that hangs, --timeout 2: the stall names the stage, the worker is gone
#   7. an exec worker that sends a reply length of 2^62: the limit is named
#   8. an exec command that does not exist: "cannot start", exit 2, before any work
#   9. the good plugin's pipeline at np 1 (pack) and np 2 (pack, spread): --outputs files equal
#      the expected bytes; `mpipe validate --plugin` prints its "user code:" lines
# Every mpirun run gets a marker in its --out path and every worker one in its argv: after the
# case, `pgrep -f MARKER` must find nothing within 2 s (ranks and workers all gone).
# Usage: user_code.sh MPIPE_BINARY SCRATCH_DIR GOOD_PLUGIN BAD_ABI_PLUGIN NOT_A_PLUGIN
set -uo pipefail
bin=$1 dir=$2 good=$3 bad_abi=$4 not_plugin=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)  # tests/
misbehave=$here/data/workers/misbehave.py
python=/usr/bin/python3  # Debian's; the first python3 on PATH may be another build
rm -rf "$dir" && mkdir -p "$dir"
mpi=(mpirun --oversubscribe --bind-to none -np 2)
limit_s=10
# MPIPE_UC_STRICT_ONE_ERROR=1: no "[rank N] mpipe: error ...; telling rank 0" line at all besides
#   rank 0's own. Off: that rank prints the first line of its error (in case rank 0 never hears
#   of it), rank 0 the whole message, so the stderr tail appears once.
# MPIPE_UC_VALIDATE_COMMAND=0 skips `mpipe validate` refusing an exec command it cannot find.
strict=${MPIPE_UC_STRICT_ONE_ERROR:-0}
validate_command=${MPIPE_UC_VALIDATE_COMMAND:-1}
tag="ucm$$"  # this script's markers: ucm<pid>-<case>
fails=0
fail() {
  echo "FAIL $*"
  fails=$((fails + 1))
}
for f in "$bin" "$good" "$bad_abi" "$not_plugin" "$misbehave" "$python"; do
  [ -e "$f" ] || { echo "FAIL missing $f"; exit 1; }
done

# No process whose command line holds MARKER may survive the case for more than 2 s; any that
# does is reported and killed (by pid) so that it cannot disturb the next case.
check_gone() {
  local marker=$1 what=$2 i pids
  for i in $(seq 20); do
    pids=$(pgrep -f -- "$marker") || return 0
    sleep 0.1
  done
  fail "$what: processes left behind 2 s after the end:"
  ps -o pid,ppid,etime,args -p "$(echo "$pids" | paste -sd,)" 2>/dev/null | sed 's/^/  | /'
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  return 1
}

# expect NAME RC -- COMMAND...: runs COMMAND (output in $dir/NAME.log), then checks the exit
# status (a number, or "nonzero"), the time (< limit_s), exactly one line starting with
# "mpipe: error", each of the fixed strings in the array `want`, and that no process holding
# the case's marker ($tag-NAME) survives. Prints the error line.
expect() {
  local name=$1 want_rc=$2 t0 rc took log=$dir/$1.log marker ok=1 w n forwarded
  shift 3
  marker="$tag-$name"
  t0=$(date +%s.%N)
  timeout -k 2 60 "$@" >"$log" 2>&1
  rc=$?
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  if [ "$want_rc" = nonzero ]; then
    [ $rc -ne 0 ] || { fail "$name: exit 0, expected an error"; ok=0; }
  elif [ $rc -ne "$want_rc" ]; then
    fail "$name: exit $rc, expected $want_rc"; ok=0
  fi
  [ $rc -ne 124 ] && [ $rc -ne 137 ] || { fail "$name: hung (killed by timeout after $took s)"; ok=0; }
  if awk -v t="$took" -v l="$limit_s" 'BEGIN { exit !(t >= l) }'; then
    fail "$name: took $took s (limit $limit_s s)"; ok=0
  fi
  n=$(grep -c '^mpipe: error' "$log")
  [ "$n" -eq 1 ] || { fail "$name: $n lines start with 'mpipe: error', expected 1"; ok=0; }
  for w in "${want[@]}"; do
    grep -qF -- "$w" "$log" || { fail "$name: no '$w' in the output"; ok=0; }
  done
  check_gone "$marker" "$name" || ok=0
  # Ranks other than 0 forward their error to rank 0 with a "[rank N] mpipe: error: ...; telling
  # rank 0" line of their own: counted here, reported, not failed.
  forwarded=$(grep -c '^\[rank [0-9]*\] mpipe: error' "$log")
  if [ "$strict" = 1 ] && [ "$forwarded" -ne 0 ]; then
    fail "$name: $forwarded '[rank N] mpipe: error' line(s) besides rank 0's (strict mode)"; ok=0
  fi
  if [ $ok -eq 1 ]; then
    echo "ok   $name (exit $rc, $took s$([ "$forwarded" -eq 0 ] || echo ", plus $forwarded forwarded '[rank N] mpipe: error' line(s)")):"
  else
    echo "     $name output (exit $rc, $took s):"
    tail -n 15 "$log" | sed 's/^/  | /'
  fi
  grep -m1 '^mpipe: error' "$log" | cut -c1-600 | sed 's/^/  > /'
}

# run NAME SPEC [ARGS...]: `mpirun -np 2 mpipe run` with the case's marker in --out.
run_np2() {
  local name=$1 spec=$2
  shift 2
  expect "$name" "$want_rc" -- "${mpi[@]}" "$bin" run --spec "$spec" \
    --out "$dir/$tag-$name.h5" --no-progress "$@"
}
validate() {
  local name=$1 spec=$2
  shift 2
  expect "$name" "$want_rc" -- "$bin" validate --spec "$spec" "$@"
}

# ---- specs ----
# plain: Main (synthetic bytes) -> D (double_it) -> Main; PLUGINS replaced per case.
plain_spec() {  # FILE PLUGINS_LINE KERNEL
  cat >"$1" <<EOF
name: uc_plain
source: Main
items: 3
$2
stages:
  - {name: Main, kernel: sleep, work_ms: 0, payload_bytes: 16}
  - {name: D, kernel: $3, work_ms: 1}
edges: [Main -> D, D -> Main]
EOF
}
exec_spec() {  # FILE MODE MARKER ITEMS
  cat >"$1" <<EOF
name: uc_exec_$2
source: Main
items: $4
stages:
  - {name: Main, kernel: sleep, work_ms: 0, payload_bytes: 16}
  - {name: W, kernel: exec, work_ms: 1, command: [$python, $misbehave, $2, $3]}
edges: [Main -> W, W -> Main]
EOF
}

# A bad plugin, given both ways: --plugin (validate, then run at np 2) and plugins: in a spec
# (the error then also names the spec). bad_plugin CASE LIBRARY NEEDLE...
bad_plugin() {
  local name=$1 lib=$2
  shift 2
  plain_spec "$dir/${name}_in_spec.yaml" "plugins: [\"$lib\"]" double_it
  want=("$@")
  validate "$name.cli.validate" "$dir/no_plugins.yaml" --plugin "$lib"
  run_np2 "$name.cli.run" "$dir/no_plugins.yaml" --plugin "$lib"
  want+=("${name}_in_spec.yaml")
  validate "$name.spec.validate" "$dir/${name}_in_spec.yaml"
  run_np2 "$name.spec.run" "$dir/${name}_in_spec.yaml"
}

want_rc=2
plain_spec "$dir/no_plugins.yaml" "" double_it
echo "== 1. plugin file missing"
bad_plugin missing /nonexistent.so "plugin /nonexistent.so: no such file"
echo "== 2. not an mpipe plugin"
bad_plugin not_plugin "$not_plugin" "plugin $not_plugin: no mpipe_plugin_abi(): not an mpipe plugin"
echo "== 3. ABI / version mismatch"
bad_plugin bad_abi "$bad_abi" "plugin $bad_abi: built against mpipe 0.0.0-other (plugin ABI 999)" \
  "rebuild it"

echo "== 4. the good plugin, misused"
plain_spec "$dir/typo.yaml" "plugins: [\"$good\"]" duble_it
want=("typo.yaml" "(D)" "no stage function 'duble_it'" "did you mean 'double_it'")
validate typo.validate "$dir/typo.yaml"
run_np2 typo.run "$dir/typo.yaml"
cat >"$dir/types.yaml" <<EOF
name: uc_types
source: Main
items: 3
plugins: ["$good"]
stages:
  - {name: Main, kernel: sleep, work_ms: 0, payload_bytes: 16}
  - {name: A, kernel: double_it, work_ms: 1}
  - {name: B, kernel: from_stats, work_ms: 1}
edges: [Main -> A, A -> B, B -> Main]
EOF
want=("types.yaml" "A -> B" "good_plugin::Stats" "std::vector<unsigned char")
validate types.validate "$dir/types.yaml"
run_np2 types.run "$dir/types.yaml"

echo "== 5. exec worker crashes mid-stream"
want_rc=nonzero
exec_spec "$dir/crash.yaml" exit3 "$tag-crash" 5
want=("exec W rank 1" "misbehave.py exit3" "ended before replying (exit status 3)" "    boom"
      "1 of 5 items completed" "partial run (complete = false)" "appended to $dir/$tag-crash.h5")
run_np2 crash "$dir/crash.yaml" --placement spread
[ -s "$dir/$tag-crash.h5" ] || fail "crash: no results file $dir/$tag-crash.h5 (the partial run)"

echo "== 6. exec worker hangs (--timeout 2)"
exec_spec "$dir/hang.yaml" hang "$tag-hang" 5
want=("stall: stage W on rank 1" "--timeout 2" "partial run (complete = false)" "appended to $dir/$tag-hang.h5")
run_np2 hang "$dir/hang.yaml" --placement spread --timeout 2

echo "== 7. exec worker sends a reply length of 2^62"
exec_spec "$dir/huge.yaml" huge "$tag-huge" 5
want=("exec W rank 1" "misbehave.py huge" "reply length of 4611686018427387904 bytes"
      "over the limit of 1073741824 bytes" "partial run (complete = false)")
run_np2 huge "$dir/huge.yaml" --placement spread

echo "== 8. exec command that does not exist"
want_rc=2
cat >"$dir/nocmd.yaml" <<EOF
name: uc_nocmd
source: Main
items: 5
stages:
  - {name: Main, kernel: sleep, work_ms: 0, payload_bytes: 16}
  - {name: W, kernel: exec, work_ms: 1, command: [no-such-program-XYZ, $tag-nocmd]}
edges: [Main -> W, W -> Main]
EOF
want=("nocmd.yaml" "stages (W).command" "cannot start 'no-such-program-XYZ"
      "No such file or directory")
run_np2 nocmd "$dir/nocmd.yaml" --placement spread
# Exit 2 is the CLI's spec-error path (every rank, before any item); no item may have run.
grep -q "items completed" "$dir/nocmd.log" && fail "nocmd: refused only after items ran"
if [ "$validate_command" = 1 ]; then
  want=("nocmd.yaml" "stages (W).command" "cannot start 'no-such-program-XYZ"
        "is not an executable file on PATH")
  validate nocmd.validate "$dir/nocmd.yaml"
fi

echo "== 9. the good plugin's pipeline"
# Main (one item per input file) -> D (double_it) -> S (to_stats) -> F (from_stats) -> Main:
# D -> S carries bytes, S -> F a good_plugin::Stats (Boost.Serialization across ranks).
mkdir -p "$dir/inputs"
printf 'abc' >"$dir/inputs/a.txt"
printf 'hello world\n' >"$dir/inputs/b.txt"
printf '\x00\xff\x10\x7f\x80' >"$dir/inputs/c.bin"
cat >"$dir/good.yaml" <<EOF
name: uc_good
source: Main
stages:
  - {name: Main, kernel: sleep, work_ms: 0}
  - {name: D, kernel: double_it, work_ms: 1}
  - {name: S, kernel: to_stats, work_ms: 1}
  - {name: F, kernel: from_stats, work_ms: 1}
edges: [Main -> D, D -> S, S -> F, F -> Main]
EOF
"$python" - "$dir/inputs" "$dir/expected" <<'EOF'
import os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
for name in sorted(os.listdir(src)):
    d = open(os.path.join(src, name), "rb").read() * 2  # double_it
    text = b"size=%d sum=%d head=" % (len(d), sum(d)) + d[:4] + b"\n"  # to_stats, from_stats
    open(os.path.join(out, name), "wb").write(text)
EOF
for how in "1 pack" "2 pack" "2 spread"; do
  read -r np placement <<<"$how"
  name=good.np$np.$placement
  outs=$dir/$name.outputs
  t0=$(date +%s.%N)
  timeout -k 2 60 mpirun --oversubscribe --bind-to none -np "$np" "$bin" run --spec "$dir/good.yaml" \
    --plugin "$good" --inputs "$dir/inputs" --outputs "$outs" --placement "$placement" \
    --out "$dir/$tag-$name.h5" --no-progress >"$dir/$name.log" 2>&1
  rc=$?
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  if [ $rc -ne 0 ]; then
    fail "$name: exit $rc after $took s:"; tail -n 15 "$dir/$name.log" | sed 's/^/  | /'
  elif ! diff -r "$dir/expected" "$outs" >"$dir/$name.diff" 2>&1; then
    fail "$name: outputs differ from the expected bytes:"; head -n 20 "$dir/$name.diff" | sed 's/^/  | /'
  elif ! grep -q "^Appended run" "$dir/$name.log"; then
    fail "$name: no 'Appended run' line:"; tail -n 5 "$dir/$name.log" | sed 's/^/  | /'
  elif awk -v t="$took" -v l="$limit_s" 'BEGIN { exit !(t >= l) }'; then
    fail "$name: took $took s (limit $limit_s s)"
  else
    echo "ok   $name ($took s): $(ls "$outs" | wc -l) outputs equal the expected bytes"
  fi
  check_gone "$tag-$name" "$name"
done
"$bin" validate --plugin "$good" --spec "$dir/good.yaml" >"$dir/good.validate.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  fail "good.validate: exit $rc:"; tail -n 10 "$dir/good.validate.log" | sed 's/^/  | /'
else
  for w in "user code: D: double_it (std::vector<unsigned char" "user code: S: to_stats" \
           "user code: F: from_stats (good_plugin::Stats -> std::vector<unsigned char" "from $good"; do
    grep -qF -- "$w" "$dir/good.validate.log" || fail "good.validate: no '$w' in the output"
  done
  echo "ok   good.validate:"
  grep '^user code:' "$dir/good.validate.log" | sed 's/^/  > /'
fi

[ "$fails" -eq 0 ] && echo "all user-code checks passed" || echo "$fails user-code check(s) failed"
[ "$fails" -eq 0 ]
