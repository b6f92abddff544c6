# shellcheck shell=bash disable=SC2154  # vc, start, skip: set by the sourcing test (below)
# Shared by the virtual-cluster tests (sourced): the checks that skip where namespaces cannot be
# made, the flock on /run/mpipe-virtual-cluster.lock held for the whole test (namespace names are
# global, so a second virtual-cluster test waits), and the cleanup that stops a running mpirun
# and takes the cluster down when the test brought it up. The caller sets `vc` (the cluster
# script), `start` ($SECONDS) and `skip` (prints why and exits 77), and after
# vc_take_lock its `owned` (1: this test brought the cluster up) and `child` (a background
# mpirun's pid) drive vc_cleanup.

# vc_preflight TOOL...: skip without root, the tools, or namespaces; fail without h5py.
vc_preflight() {
  [ "$(id -u)" -eq 0 ] || skip "not root"
  local tool
  for tool in ip unshare flock mpirun timeout "$@"; do
    command -v "$tool" >/dev/null || skip "no '$tool' command"
  done
  # Can this machine make namespaces at all? (A throwaway one, before touching anything shared.)
  local probe=mpipe-vc-probe-$$ err
  err=$(ip netns add "$probe" 2>&1) || skip "'ip netns add' failed: $err"
  ip netns del "$probe"
  /usr/bin/python3 -c "import h5py" 2>/dev/null || { echo "FAIL: /usr/bin/python3 has no h5py"; exit 1; }
}

# Takes the lock on fd 9 (closed for the cluster script itself with 9>&-) and sets the cleanup.
vc_take_lock() {
  local lockfile=/run/mpipe-virtual-cluster.lock
  exec 9>"$lockfile" || { echo "FAIL: cannot open the lock file $lockfile"; exit 1; }
  if ! flock -w 45 9; then
    echo "FAIL: $lockfile held for 45 s (another virtual-cluster test or up/down running)"; exit 1
  fi
  export MPIPE_VC_LOCK_HELD=1 MPIPE_VC_OWNER="test:$$"
  owned=0 child=""
  trap vc_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

vc_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    echo "cleanup: stopping mpirun (pid $child)"
    kill -TERM "$child" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$child" 2>/dev/null || true
  fi
  if ((owned)); then
    "$vc" down 9>&- || rc=1
    if ip netns list | grep -qE '^vnode[0-9]+'; then
      echo "FAIL: namespaces left behind: $(ip netns list | tr '\n' ' ')"; rc=1
    fi
    if ip link show dev vcbr0 >/dev/null 2>&1; then echo "FAIL: bridge vcbr0 left behind"; rc=1; fi
    [ $rc -ne 0 ] || echo "ok   cluster down: no vnode namespace, no vcbr0 (ip netns list: '$(ip netns list | tr '\n' ' ')')"
  fi
  echo "time: $((SECONDS - start)) s"
  exit $rc
}

# vc_run NP SECONDS LOG CMD...: mpirun over the virtual hosts in the background with its own
# deadline, so a signal or a hang ends it well before ctest's TIMEOUT (which would SIGKILL the
# test and skip the cleanup); fails with the log on a non-zero exit. `child` is its pid meanwhile.
vc_run() {
  local np=$1 limit=$2 log=$3
  shift 3
  timeout -k 5 "$limit" "$vc" run -np "$np" "$@" >"$log" 2>&1 9>&- &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=""
  if [ $rc -ne 0 ]; then
    echo "FAIL: exit $rc$( ((rc == 124)) && echo " (timed out after $limit s)"): $*"; cat "$log"; exit 1
  fi
}

# vc_up ARGS...: brings the cluster up (`up ARGS`) unless one is up already, marking it this
# test's (owned=1); skips where the namespaces cannot be made.
vc_up() {
  "$vc" status >/dev/null 2>&1 && return 0
  owned=1
  local rc=0
  "$vc" up "$@" 9>&- || rc=$?
  [ $rc -eq 4 ] && skip "jobs/virtual-cluster.sh up could not create the namespaces (see above)"
  [ $rc -eq 0 ] || { echo "FAIL: jobs/virtual-cluster.sh up $* exited with $rc"; exit 1; }
}

# Every daemon and rank ended with mpirun: fails if anything still runs inside vnode1 or vnode2.
vc_no_leftovers() {
  local ns left
  for ns in vnode1 vnode2; do
    for _ in $(seq 30); do [ -z "$(ip netns pids "$ns")" ] && break; sleep 0.1; done
    left=$(ip netns pids "$ns" | tr '\n' ' ')
    [ -z "$left" ] || { echo "FAIL: processes left in $ns: $left"; ps -o pid,args -p "${left// /,}"; exit 1; }
  done
  echo "ok   no process left in the namespaces"
}
