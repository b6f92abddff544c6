#!/usr/bin/env bash
# OTF2 export (issue 19, item 5; docs/analysis.md "OTF2 export"): a real 2-rank run of
# tests/data/small.yaml (spread, 3 items) exported with `mpipe export --format otf2`, read back by
# otf2-print (Debian's otf2-tools), which must show
#   - one REGION definition per stage, 2 location groups (the ranks), MPI_COMM_WORLD and a
#     1 GHz ClockProperties;
#   - one ENTER and one LEAVE per row of the run's events dataset (= items x stages here);
#   - one MPI_SEND and one MPI_RECV per row of its messages dataset, with the bytes summed alike.
# Then the refusals: an existing output folder (untouched), --force, no such run, no such file:
# one error line each, exit 2, nothing written.
# Usage: otf2.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
bin=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
command -v otf2-print >/dev/null || fail "otf2-print not found: apt-get install otf2-tools (scripts/setup.sh)"
data=$(cd "$(dirname "$0")/../data" && pwd)
mpirun=(mpirun --oversubscribe --bind-to none)
items=3

timeout 120 "${mpirun[@]}" -np 2 "$bin" run --spec "$data/small.yaml" --placement spread \
  --items $items --out "$dir/run.h5" >"$dir/run.log" 2>&1 || { cat "$dir/run.log"; fail "mpipe run"; }
# The run's own numbers: run id, stages, event rows, message rows and their bytes.
read -r run stages events messages bytes < <(/usr/bin/python3 - "$dir/run.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    rid = sorted(f["runs"])[-1]
    r = f["runs"][rid]
    print(rid, len(r["stages"]), len(r["events"]), len(r["messages"]), int(r["messages"]["bytes"].sum()))
PY
)
echo "run $run: $stages stages, $events event rows, $messages message rows ($bytes B)"
((events == items * stages)) || fail "want $items items x $stages stages = $((items * stages)) event rows, got $events"
((messages > 0)) || fail "a spread run of small.yaml has messages between the ranks"

"$bin" export --format otf2 "$dir/run.h5" -o "$dir/trace" >"$dir/export.log" 2>&1 ||
  { cat "$dir/export.log"; fail "mpipe export --format otf2"; }
cat "$dir/export.log"
anchor="$dir/trace/traces.otf2"
[ -f "$anchor" ] || fail "no anchor file $anchor"
otf2-print "$anchor" >"$dir/print.txt" 2>"$dir/print.err" || { cat "$dir/print.err"; fail "otf2-print"; }
[ ! -s "$dir/print.err" ] || { cat "$dir/print.err"; fail "otf2-print complained"; }
otf2-print -G "$anchor" >"$dir/defs.txt" 2>&1 || { cat "$dir/defs.txt"; fail "otf2-print -G"; }
count() { grep -c "^$1 " "$2" || true; }
check() {  # WHAT GOT WANT
  [ "$2" -eq "$3" ] || { head -40 "$dir/print.txt"; fail "$1: otf2-print shows $2, want $3"; }
  echo "ok   $1: $2"
}
check REGION "$(count REGION "$dir/defs.txt")" "$stages"
check LOCATION_GROUP "$(count LOCATION_GROUP "$dir/defs.txt")" 2
check ENTER "$(count ENTER "$dir/print.txt")" "$events"
check LEAVE "$(count LEAVE "$dir/print.txt")" "$events"
check MPI_SEND "$(count MPI_SEND "$dir/print.txt")" "$messages"
check MPI_RECV "$(count MPI_RECV "$dir/print.txt")" "$messages"
for kind in MPI_SEND MPI_RECV; do
  sum=$(awk -v k="$kind" '$1 == k { sub(/.*Length: /, ""); s += $0 + 0 } END { print s + 0 }' "$dir/print.txt")
  check "$kind bytes" "$sum" "$bytes"
done
grep -q '^COMM .*"MPI_COMM_WORLD"' "$dir/defs.txt" || { cat "$dir/defs.txt"; fail "no MPI_COMM_WORLD"; }
grep -Eq '^CLOCK_PROPERTIES .*Ticks per Seconds: 1000000000\b' "$dir/defs.txt" ||
  { cat "$dir/defs.txt"; fail "no 1 GHz ClockProperties"; }
echo "ok   MPI_COMM_WORLD, 1 GHz clock"

# The default folder, next to the results file.
"$bin" export --format otf2 "$dir/run.h5" --run "$run" >"$dir/default.log" 2>&1 ||
  { cat "$dir/default.log"; fail "export to the default folder"; }
[ -f "$dir/run-$run.otf2/traces.otf2" ] || { cat "$dir/default.log"; fail "no $dir/run-$run.otf2/traces.otf2"; }
echo "ok   default folder run-$run.otf2"

refused() {  # WANT LOG ARGS...: exit 2, exactly one line, which matches WANT
  local want=$1 log=$2 rc=0
  shift 2
  "$bin" export --format otf2 "$@" >"$log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || { cat "$log"; fail "export $*: exit $rc, want 2"; }
  [ "$(wc -l <"$log")" -eq 1 ] || { cat "$log"; fail "export $*: want one line"; }
  grep -q -- "$want" "$log" || { cat "$log"; fail "export $*: no '$want'"; }
  echo "ok   refused: $(cat "$log")"
}
before=$(find "$dir/trace" -type f -exec md5sum {} + | sort)
refused "exists" "$dir/again.log" "$dir/run.h5" -o "$dir/trace"
[ "$(find "$dir/trace" -type f -exec md5sum {} + | sort)" = "$before" ] || fail "the existing archive changed"
refused "force" "$dir/force.log" "$dir/run.h5" -o "$dir/forced" --force
refused "no run 'nosuch'" "$dir/norun.log" "$dir/run.h5" --run nosuch -o "$dir/norun"
refused "no such file" "$dir/nofile.log" "$dir/missing.h5" -o "$dir/nofile"
for d in forced norun nofile; do [ ! -e "$dir/$d" ] || fail "a refused export left $dir/$d"; done
echo "PASS"
