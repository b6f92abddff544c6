#!/usr/bin/env bash
# The job scripts on a real (local) Slurm: scripts/slurm-local.sh installs Slurm 22.05 + munge if
# missing and starts munged, slurmctld and slurmd on this machine, then
#   0. docs/clusters.md's first Slurm command as shown (jobs/submit.sh), on the one-node Slurm: its job
#      completes (or it fails at once, exit 2, saying why), never pends; and jobs/submit.sh -N 2
#      on one node exits 2 at once, naming what the partition has, submitting nothing;
#   1. jobs/cluster.sbatch, 1 node x 2 tasks, launched by mpirun inside the allocation with
#      MPIPE_TRANSPORT=tcp: the job's HDF5 file holds exactly one complete run with world_size 2,
#      slurm_job_id = the submitted id and a non-empty slurm_job_nodelist;
#   2. jobs/cluster-array.sbatch --array=0,3 (pack/auto and spread/tcp-only), srun --mpi=pmix,
#      --overcommit (2 ranks on 1 allocated core: the job's oversubscribed path, no binding):
#      two distinct files <arrayjobid>_0.h5 and <arrayjobid>_3.h5, each with its array ids,
#      placement and (task 3) TCP-only btl; `mpipe compare` on the two files: pack and spread
#      with 1 run each (no clear difference: 1 run against 1), and by transport in-memory / tcp;
#   3. two slurmd "nodes" n1, n2 on this machine (--nodes 2), cluster.sbatch with -N2
#      --ntasks-per-node=1 through srun --mpi=pmix: one rank on each node.
# Jobs are waited for by polling squeue (not sbatch --wait, which polls slowly), each with a
# deadline; every job's stdout must be free of errors. Prints start-up and turnaround times.
# Always stops the daemons it started (by PID file, via slurm-local.sh stop) and cancels its jobs;
# an instance that was already up (someone's own) is used and left up. Fails if it leaves a
# /tmp/spmix_appdir_* directory behind.
#
# Exit 77 (ctest: skipped) where Slurm cannot run: not root, no /sys/fs/cgroup (slurmd needs
# it), or apt cannot install the packages. Holds an flock on /run/mpipe-slurm.lock, so a second
# build tree's run of this test waits.
# Usage: slurm.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 MPIPE_BINARY SCRATCH_DIR" >&2; exit 2; }
case "$1" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;; esac
bin=$(realpath "$1") dir=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
sl=$repo/scripts/slurm-local.sh
lockfile=/run/mpipe-slurm.lock
py=/usr/bin/python3  # Debian's, with h5py (the first python3 on PATH may lack it)
start=$SECONDS

skip() { echo "SKIP: $* (the local-Slurm test needs root, /sys/fs/cgroup and apt)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not root"
[ -d /sys/fs/cgroup ] || skip "no /sys/fs/cgroup (slurmd will not start without it)"
for tool in flock timeout; do command -v "$tool" >/dev/null || skip "no '$tool' command"; done
[ -x "$bin" ] || fail "no mpipe binary at $bin"
$py -c "import h5py" 2>/dev/null || fail "$py has no h5py (apt-get install python3-h5py)"

rm -rf "$dir" && mkdir -p "$dir/h5"
dir=$(realpath "$dir")
exec 9>"$lockfile" || fail "cannot open the lock file $lockfile"
flock -w 60 9 || fail "$lockfile held for 60 s (another run of this test?)"
# Every wait below ends by this deadline, well inside ctest's TIMEOUT (300 s), so the cleanup
# always runs (ctest kills a test that overruns, and the daemons would be left behind).
deadline=$((SECONDS + 220))
left() { local l=$((deadline - SECONDS)); ((l > 1)) || l=1; ((l < $1)) || l=$1; echo "$l"; }  # left MAX

spmix_before=$(find /tmp -maxdepth 1 -name 'spmix_appdir_*' 2>/dev/null | sort)
owned="" jobs_submitted=()
cleanup() {
  local rc=$? n new d
  trap - EXIT INT TERM HUP
  if ((${#jobs_submitted[@]})) && command -v scancel >/dev/null; then
    # Cancel, and let slurmstepd end the job's processes before its slurmd goes (10 s at most).
    scancel "${jobs_submitted[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      [ -n "$(timeout 3 squeue -h -j "$(IFS=,; echo "${jobs_submitted[*]}")" 2>/dev/null || true)" ] || break
      sleep 0.2
    done
  fi
  for n in $owned; do "$sl" stop --nodes "$n" 9>&- || { echo "FAIL: slurm-local.sh stop --nodes $n"; rc=1; }; done
  for n in $owned; do
    if [ "$n" = 2 ]; then d=/tmp/mpipe-slurm2; else d=/tmp/mpipe-slurm; fi
    [ ! -e "$d" ] || { echo "FAIL: $d left behind"; rc=1; }
  done
  new=$(comm -13 <(echo "$spmix_before") <(find /tmp -maxdepth 1 -name 'spmix_appdir_*' 2>/dev/null | sort))
  if [ -n "$new" ]; then
    echo "FAIL: PMIx left $(echo "$new" | tr '\n' ' ')in /tmp (TmpFS should keep them in the state dir); removing them"
    echo "$new" | xargs rm -rf
    rc=1
  fi
  [ -z "$owned" ] || [ $rc -ne 0 ] || echo "ok   daemons stopped, state removed, no /tmp/spmix_appdir_* left"
  echo "time: $((SECONDS - start)) s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- install (if missing) ----------------------------------------------------------------------
set +e
timeout -k 5 "$(left 150)" "$sl" install 9>&- >"$dir/install.log" 2>&1
rc=$?
set -e
if [ $rc -eq 4 ]; then tail -n 20 "$dir/install.log"; skip "apt could not install Slurm/munge"; fi
[ $rc -eq 0 ] || { cat "$dir/install.log"; fail "scripts/slurm-local.sh install exited with $rc$( ((rc == 124)) && echo ' (timed out)')"; }
tail -n 1 "$dir/install.log"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# up N: start the N-node instance unless one is up already (then use it and leave it up).
up() {
  local n=$1 t0
  if "$sl" status --nodes "$n" 9>&- >/dev/null 2>&1; then
    echo "NOTE: a $n-node local Slurm is already up: using it, leaving it up"
  else
    t0=$(now)
    owned="$owned $n"
    timeout -k 5 "$(left 40)" "$sl" start --nodes "$n" 9>&- >"$dir/start$n.log" 2>&1 ||
      { cat "$dir/start$n.log"; fail "scripts/slurm-local.sh start --nodes $n"; }
    echo "ok   local Slurm up ($n node(s): $(sinfo_nodes "$n")) in $(since "$t0") s"
  fi
  eval "$("$sl" env --nodes "$n" 9>&-)"
  export SLURM_CONF
}
sinfo_nodes() { SLURM_CONF=$("$sl" env --nodes "$1" 9>&- | sed 's/^export SLURM_CONF=//') sinfo -h -N -o '%N %T' | tr '\n' ' '; }
down() {  # down N: stop the N-node instance if this test started it
  local n=$1
  [[ " $owned " == *" $n "* ]] || return 0
  "$sl" stop --nodes "$n" 9>&- >/dev/null
  owned=${owned/ $n/}
}

# wait_job ID LABEL: poll squeue until the job (all array tasks) left the queue, 60 s at most;
# then every task must be COMPLETED with exit code 0.
wait_job() {
  local id=$1 label=$2 t0 states limit stop_at
  limit=$(left 60)
  stop_at=$((SECONDS + limit))
  t0=$(now)
  while ((SECONDS < stop_at)); do
    [ -n "$(squeue -h -j "$id" -o %T 2>/dev/null || true)" ] || break
    sleep 0.2
  done
  if [ -n "$(squeue -h -j "$id" -o %T 2>/dev/null || true)" ]; then
    squeue -j "$id" || true
    for f in "$dir"/*.out; do [ -f "$f" ] && { echo "----- $f"; cat "$f"; }; done
    fail "$label: job $id still queued or running after $limit s"
  fi
  # One line per job (array: per task): JobId=... ArrayTaskId=... JobState=... ExitCode=...
  states=$(scontrol -o show job "$id" |
           awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayTaskId|JobState|ExitCode)=/) printf "%s ", $i; print "" }')
  if grep -v 'JobState=COMPLETED' <<<"$states" | grep -q . || grep -v 'ExitCode=0:0' <<<"$states" | grep -q .; then
    echo "$states"
    for f in "$dir"/*.out; do [ -f "$f" ] && { echo "----- $f"; cat "$f"; }; done
    fail "$label: job $id did not complete cleanly"
  fi
  echo "ok   $label: job $id completed, turnaround (sbatch to out of squeue) $(since "$submitted") s (waited $(since "$t0") s)"
}

# check_out FILE: the job's stdout shows the results line and no error.
check_out() {
  local f=$1
  [ -s "$f" ] || fail "no job output $f"
  if grep -niE 'error|abort|segmentation|killed' "$f"; then cat "$f"; fail "errors in $f (above)"; fi
  grep -q '^\[cluster.sbatch\] done in .*; results: ' "$f" || { cat "$f"; fail "$f has no 'results:' line"; }
}

# check_h5 FILE KEY=VALUE...: exactly one complete run; attributes as given ("nonempty" = any
# non-empty string); ranks=N checks the ranks dataset's row count.
check_h5() {
  $py - "$@" <<'PY'
import sys, h5py
path, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
s = lambda x: x.decode() if isinstance(x, bytes) else str(x)
with h5py.File(path, "r") as f:
    runs = list(f["runs"].values())
    assert len(runs) == 1, f"{path}: {len(runs)} runs, want exactly 1"
    run = runs[0]
    a = run.attrs
    assert bool(a["complete"]), f"{path}: run not complete"
    for k, v in want.items():
        if k == "ranks":
            got = len(run["ranks"][()])
            assert got == int(v), f"{path}: ranks dataset has {got} rows, want {v}"
            continue
        assert k in a, f"{path}: no attribute {k} (attributes: {sorted(a)})"
        got = s(a[k])
        if v == "nonempty":
            assert got != "", f"{path}: attribute {k} is empty"
        elif v.startswith("~"):
            assert v[1:] in got, f"{path}: attribute {k} = {got!r} does not contain {v[1:]!r}"
        else:
            assert got == v, f"{path}: attribute {k} = {got!r}, want {v!r}"
    hosts = sorted({s(r["host"]) for r in run["ranks"][()]})
    print(f"ok   {path.rsplit('/', 1)[-1]}: 1 complete run, world_size {int(a['world_size'])}, "
          f"slurm_job_id {s(a['slurm_job_id'])!r}, array {s(a['slurm_array_job_id'])!r}/"
          f"{s(a['slurm_array_task_id'])!r}, nodelist {s(a['slurm_job_nodelist'])!r}, "
          f"placement {s(a['placement_mode'])}, hosts {hosts}, transport {s(a['transport'])!r}, "
          f"mean item latency {run['items']['latency_ns'].mean() / 1e6:.1f} ms")
PY
}

small="--items 3 --time-scale 0.05"
cd "$dir"  # the jobs' submit dir

# --- 0. docs/clusters.md's first Slurm command, as shown, on this one-node Slurm ----------------
# It must run (or fail at once saying why), not pend forever: `sbatch jobs/cluster.sbatch` asked
# for 2 nodes and sat in squeue with reason PartitionConfig.
up 1
readme_cmd=$(awk '/^## Slurm/ { s = 1 } s && /^```sh/ { b = 1; next } b && /^```/ { exit }
                  b && /(sbatch|submit\.sh)/ { sub(/ *#.*/, ""); print; exit }' "$repo/docs/clusters.md")
[ -n "$readme_cmd" ] || fail "no sbatch/submit.sh command in docs/clusters.md's Slurm section"
ln -sfn "$repo/jobs" "$dir/jobs"  # the command as shown, from a "repository root" of our own
mkdir -p "$dir/results/slurm"
submitted=$(now)
set +e
first=$(MPIPE_BIN=$bin MPIPE_OUT_DIR=$dir/h5 MPIPE_ARGS=$small timeout 30 bash -c "$readme_cmd" 2>&1)
rc=$?
set -e
echo "$first" | sed 's/^/     /'
id=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' <<<"$first")
[ -z "$id" ] || jobs_submitted+=("$id")
if [ -n "$id" ]; then
  sleep 1
  reason=$(squeue -h -j "$id" -o '%T %r' 2>/dev/null || true)
  case "$reason" in
    "PENDING PartitionConfig"*|"PENDING PartitionNodeLimit"*|"PENDING BadConstraints"*)
      fail "docs/clusters.md's first Slurm command '$readme_cmd' submitted job $id, which can never start on this 1-node Slurm ($reason)" ;;
  esac
  wait_job "$id" "docs/clusters.md's first Slurm command '$readme_cmd'"
  check_out "$dir/results/slurm/$id.out"
  check_h5 "$dir/h5/$id.h5" slurm_job_id="$id" slurm_job_nodelist=nonempty
elif ((rc == 2)) && grep -q "error: " <<<"$first"; then
  echo "ok   docs/clusters.md's first Slurm command '$readme_cmd' failed at once, saying why (above)"
else
  fail "docs/clusters.md's first Slurm command '$readme_cmd' exited $rc without submitting or saying why"
fi
# A request the cluster can never meet fails at once, naming what it has; nothing is queued.
t0=$(now)
set +e
never=$(MPIPE_BIN=$bin timeout 30 "$repo/jobs/submit.sh" -N 2 --ntasks-per-node 1 "$repo/jobs/cluster.sbatch" 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || { echo "$never"; fail "submit.sh -N 2 on 1 node exited $rc, want 2"; }
grep -q "cannot run this job here.*has 1 usable node" <<<"$never" || { echo "$never"; fail "submit.sh -N 2: unclear message"; }
if grep -q "^Submitted batch job" <<<"$never"; then echo "$never"; fail "submit.sh -N 2 submitted a job"; fi
echo "ok   submit.sh -N 2 on 1 node: exit 2 in $(since "$t0") s: $(grep -m1 'error:' <<<"$never")"

# --- 1. one node, 2 tasks, mpirun inside the allocation, TCP between ranks --------------------
submitted=$(now)
id=$(MPIPE_BIN=$bin MPIPE_OUT_DIR=$dir/h5 MPIPE_LAUNCH=mpirun MPIPE_TRANSPORT=tcp MPIPE_ARGS=$small \
     sbatch --parsable -N1 --ntasks-per-node=2 --cpus-per-task=1 --time=2 -o "$dir/%j.out" \
     "$repo/jobs/cluster.sbatch")
jobs_submitted+=("$id")
wait_job "$id" "cluster.sbatch (1 node x 2, mpirun, tcp)"
check_out "$dir/$id.out"
check_h5 "$dir/h5/$id.h5" world_size=2 slurm_job_id="$id" slurm_job_nodelist=nonempty \
         slurm_array_job_id= slurm_array_task_id= ranks=2 transport="~btl='self,vader,tcp'"

# --- 2. a job array: two points of the sweep, srun --mpi=pmix -------------------------------
submitted=$(now)
aid=$(MPIPE_BIN=$bin MPIPE_OUT_DIR=$dir/h5 MPIPE_ARGS=$small MPIPE_REPO=$repo \
      sbatch --parsable --array=0,3 --overcommit --time=2 -o "$dir/%A_%a.out" "$repo/jobs/cluster-array.sbatch")
aid=${aid%%;*}
jobs_submitted+=("$aid")
wait_job "$aid" "cluster-array.sbatch --array=0,3 --overcommit (srun)"
for t in 0 3; do check_out "$dir/${aid}_$t.out"; done
[ "$(find "$dir/h5" -name "${aid}_*.h5" | wc -l)" -eq 2 ] || { ls -l "$dir/h5"; fail "want exactly 2 files ${aid}_*.h5"; }
check_h5 "$dir/h5/${aid}_0.h5" world_size=2 slurm_array_job_id="$aid" slurm_array_task_id=0 \
         slurm_job_id=nonempty slurm_job_nodelist=nonempty placement_mode=pack
check_h5 "$dir/h5/${aid}_3.h5" world_size=2 slurm_array_job_id="$aid" slurm_array_task_id=3 \
         slurm_job_id=nonempty slurm_job_nodelist=nonempty placement_mode=spread transport="~btl='self,tcp'"
# mpipe compare on the array's two files, as docs/analysis.md shows for an array's outputs: one
# run per group, so the permutation test cannot tell (p = 1 with 1 run against 1), and says so.
"$bin" compare "$dir/h5/${aid}_0.h5" "$dir/h5/${aid}_3.h5" >"$dir/compare.txt" 2>&1 ||
  { cat "$dir/compare.txt"; fail "mpipe compare on the array's files"; }
if ! grep -Eq '^pack +1 ' "$dir/compare.txt" || ! grep -Eq '^spread +1 ' "$dir/compare.txt" ||
   ! grep -q 'no clear difference (permutation test on the difference of medians, p=1.000).*only more runs can tell' "$dir/compare.txt"; then
  cat "$dir/compare.txt"
  fail "mpipe compare: want pack and spread with 1 run each and no clear difference"
fi
"$bin" compare --by transport --format csv "$dir/h5/${aid}_0.h5" "$dir/h5/${aid}_3.h5" >"$dir/compare.csv" ||
  fail "mpipe compare --by transport"
by_transport=$(tail -n +2 "$dir/compare.csv" | cut -d, -f1 | tr '\n' ' ')
[[ "$by_transport" == "in-memory "*tcp* ]] || { cat "$dir/compare.csv"; fail "mpipe compare --by transport: groups '$by_transport', want in-memory and tcp"; }
echo "ok   mpipe compare on the array's files: pack vs spread, 1 run each, no clear difference; by transport: $by_transport"

# --- 3. two slurmd nodes on this machine, one rank each, srun --mpi=pmix -------------------
down 1
up 2
submitted=$(now)
id=$(MPIPE_BIN=$bin MPIPE_OUT_DIR=$dir/h5 MPIPE_ARGS=$small \
     sbatch --parsable -N2 --ntasks-per-node=1 --cpus-per-task=1 --time=2 -o "$dir/%j.out" \
     "$repo/jobs/cluster.sbatch")
jobs_submitted+=("$id")
wait_job "$id" "cluster.sbatch (2 nodes x 1, srun --mpi=pmix)"
check_out "$dir/$id.out"
# slurm-local.sh starts job ids from the clock, so this job's file is new even though the
# instance is (check_h5 wants exactly one run).
check_h5 "$dir/h5/$id.h5" world_size=2 slurm_job_id="$id" slurm_job_nodelist="n[1-2]" ranks=2
