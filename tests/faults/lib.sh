# Helpers for the fault tests (sourced). Every job is found by its own mpirun PID or by its unique
# --out path in the command line, never by a program name, so other mpipe jobs on the machine are
# never touched.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
PY=/usr/bin/python3

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

now() { date +%s.%N; }
elapsed() { $PY -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
less_than() { $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$1" "$2"; }

# Processes whose command line names this (unique) results path: the job's ranks and mpirun.
job_pids() { pgrep -f -- "--out $1" || true; }

# Waits up to $2 s (default 5) for every process of the job writing $1 to be gone.
no_leftovers() {
  local out=$1 limit=${2:-5} i
  for ((i = 0; i < limit * 10; i++)); do
    [ -z "$(job_pids "$out")" ] && return 0
    sleep 0.1
  done
  echo "left over:" >&2
  ps -o pid,ppid,stat,etime,args -p "$(job_pids "$out" | paste -sd,)" >&2 || true
  for p in $(job_pids "$out"); do kill -9 "$p" 2>/dev/null || true; done
  fail "processes of the job writing $out still there ${limit} s after it ended"
}

# PID of rank $2 of the job writing $1 (from each process's environment), empty if none yet.
rank_pid() {
  local out=$1 rank=$2 p
  for p in $(job_pids "$out"); do
    [ "$(tr '\0' '\n' </proc/"$p"/environ 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')" = "$rank" ] &&
      {
        echo "$p"
        return 0
      }
  done
  return 0
}

# Waits until the log $1 shows the run has started (the banner), then $2 more seconds.
wait_started() {
  local log=$1 extra=$2 i
  for ((i = 0; i < 600; i++)); do
    grep -q "critical-path bound" "$log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "critical-path bound" "$log" || fail "the run never started: $(cat "$log")"
  sleep "$extra"
}

# Snapshot of the file's runs (id, complete, item rows) to compare later: earlier runs intact.
snapshot() {
  $PY - "$1" <<'PY'
import sys, h5py, hashlib
with h5py.File(sys.argv[1], "r") as f:
    for rid, g in f["runs"].items():
        h = hashlib.sha1(g["items"][()].tobytes() + g["events"][()].tobytes()).hexdigest()
        print(rid, bool(g.attrs["complete"]), len(g["items"]), h)
PY
}

# Checks the file opens (h5ls and h5py), that every run in the snapshot $2 is unchanged, and
# prints the runs that were added, each as "id complete items_completed reason".
check_file() {
  local out=$1 before=$2
  h5ls "$out/runs" >/dev/null || fail "h5ls cannot read $out"
  local now_snap
  now_snap=$(snapshot "$out") || fail "h5py cannot read $out"
  while read -r line; do
    [ -n "$line" ] || continue
    grep -qxF "$line" <<<"$now_snap" || fail "earlier run changed or lost: $line"
  done <<<"$before"
  $PY - "$out" "$before" <<'PY'
import sys, h5py
old = {l.split()[0] for l in sys.argv[2].splitlines() if l.strip()}
with h5py.File(sys.argv[1], "r") as f:
    for rid, g in f["runs"].items():
        if rid in old:
            continue
        a = g.attrs
        print(rid, bool(a["complete"]), int(a.get("items_completed", -1)),
              a.get("incomplete_reason", ""))
PY
}

# The runs added since the snapshot must be none, or one with complete = false (not half-written
# without saying so). Prints what it found.
check_absent_or_incomplete() {
  local out=$1 before=$2 added
  added=$(check_file "$out" "$before") || exit 1
  if [ -z "$added" ]; then
    echo "  interrupted run: absent"
    return 0
  fi
  [ "$(wc -l <<<"$added")" -eq 1 ] || fail "more than one run added: $added"
  read -r _ complete _ <<<"$added"
  [ "$complete" = False ] || fail "the interrupted run claims to be complete: $added"
  echo "  interrupted run: present, complete = false: $added"
}
