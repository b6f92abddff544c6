#!/usr/bin/env bash
# mpipe on two hosts: a virtual cluster (jobs/virtual-cluster.sh: two network namespaces with
# their own hostnames and /dev/shm, joined by a bridge) runs the reference pipeline on 2 hosts x
# 2 ranks and `mpipe bench --quick` on the same 4 ranks into one results file, then checks with
# h5py that the ranks report hosts vnode1 (ranks 0,1) and vnode2 (ranks 2,3), that every edge's
# tier follows from its ranks and their hosts, and that a cross-host hop is measurably slower than
# a same-host one. Prints what was measured. Always takes the cluster down again (unless it was
# already up before the test, someone's own: then it is used and left up) and checks that no
# namespace, bridge or process is left.
#
# Exit 77 (ctest: skipped) where namespaces cannot be made: not root, no `ip`/`unshare`/`flock`,
# `ip netns add` refused (unprivileged containers). Holds an flock on
# /run/mpipe-virtual-cluster.lock for the whole test: namespace names are global, so a second run
# of this test (another build tree) waits for this one.
# Usage: virtual_cluster.sh MPIPE_BINARY SCRATCH_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 MPIPE_BINARY SCRATCH_DIR" >&2; exit 2; }
bin=$(realpath "$1") dir=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
vc=$repo/jobs/virtual-cluster.sh
start=$SECONDS

skip() { echo "SKIP: $* (the virtual-cluster test needs root and network namespaces)"; exit 77; }
source "$repo/tests/cluster/lib.sh"
# shellcheck disable=SC2119  # no tools beyond the common ones
vc_preflight

rm -rf "$dir" && mkdir -p "$dir"
dir=$(realpath "$dir")
out=$dir/cluster.h5

vc_take_lock

# A cluster already up: someone's own (use it, leave it up), or left by a killed run of this test
# or a half-finished up (take it down and start afresh).
if ip netns list | grep -qE '^vnode[0-9]+' || ip link show dev vcbr0 >/dev/null 2>&1; then
  owner=$(cat /run/mpipe-virtual-cluster/owner 2>/dev/null || echo unknown)
  if [[ $owner != test:* ]] && "$vc" status >/dev/null 2>&1; then
    echo "NOTE: a virtual cluster is already up (brought up by: $owner): using it, leaving it up"
    ip netns list | grep -qE '^vnode2( |$)' || { echo "FAIL: it has no vnode2; take it down first"; exit 1; }
  else
    echo "NOTE: removing leftovers of an earlier virtual cluster (brought up by: $owner)"
    owned=1
    "$vc" down 9>&-
  fi
fi
vc_up 2
echo "ok   up: $(ip netns list | grep -cE '^vnode') virtual hosts ($(( SECONDS - start )) s)"

run_mpi() {  # LOG CMD...: vc_run on 4 ranks, 60 s at most, then the log
  local log=$1
  shift
  vc_run 4 60 "$log" "$@"
  cat "$log"
}
run_mpi "$dir/run.log" "$bin" run --placement spread --time-scale 0.1 --items 2 --out "$out" --no-progress
# The dry run names the transport of every hop as the run records it: cross-host TCP
# connects lazily, and before a message had crossed it read "unknown".
run_mpi "$dir/dry.log" "$bin" run --placement spread --dry-run
grep -q "cross-host (rank [0-9] -> [0-9], boost, ob1/tcp)" "$dir/dry.log" ||
  { echo "FAIL: the dry run names no cross-host hop as ob1/tcp"; exit 1; }
! grep -q "unknown" "$dir/dry.log" || { echo "FAIL: the dry run has a transport 'unknown'"; exit 1; }
echo "ok   dry run: cross-host hops read ob1/tcp, none unknown"
# The benchmark keeps only two ranks busy at a time (the others sleep in a barrier), so it runs
# without the yield that `run` adds for 4 ranks on 2 cores: with it, same-host latency is
# bimodal (~4.5 us, or ~9.5 us when the pair shares a core and hands it over by sched_yield).
MPIPE_VC_YIELD=0 run_mpi "$dir/bench.log" "$bin" bench --quick --out "$out" --no-progress

# Every daemon and rank ended with mpirun: nothing may still run inside the namespaces.
vc_no_leftovers

/usr/bin/python3 - "$out" <<'PY'
import math, sys
import h5py

path = sys.argv[1]
def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)

with h5py.File(path, "r") as f:
    runs = list(f["runs"].values())
    pipes = [r for r in runs if r.attrs.get("kind", "run") == "run"]
    benches = [r for r in runs if r.attrs.get("kind", "run") == "bench"]
    assert len(pipes) == 1 and len(benches) == 1, [dict(r.attrs) for r in runs]
    run, bench_run = pipes[0], benches[0]

    # --- the pipeline run: hosts per rank ---
    assert bool(run.attrs["complete"]), "pipeline run not complete"
    assert int(run.attrs["world_size"]) == 4
    ranks = sorted(run["ranks"][()], key=lambda r: int(r["rank"]))
    host = {int(r["rank"]): s(r["host"]) for r in ranks}
    print("\nranks (pipeline run)")
    print("  rank  host    pid      offset start ns  offset end ns  drift ppm  error bound ns  rtt ns")
    for r in ranks:
        print(f"  {int(r['rank']):4d}  {s(r['host']):6s}  {int(r['pid']):7d}  "
              f"{int(r['clock_offset_ns']):15d}  {int(r['clock_offset_end_ns']):13d}  "
              f"{float(r['clock_drift_ppm']):9.3f}  {int(r['clock_error_ns']):14d}  "
              f"{int(r['clock_rtt_ns']):6d}")
    assert host == {0: "vnode1", 1: "vnode1", 2: "vnode2", 3: "vnode2"}, host
    # All virtual hosts read one kernel clock, so each offset is pure error, bounded by its round
    # trip. The best of 30 round trips stays well under a scheduler tick (4 ms) only when waiting
    # ranks yield the 2 cores (`run` adds mpi_yield_when_idle for 4 ranks on 2 cores); without
    # it most runs had one rank at ~4 ms and ~1 ms of offset error. Measured: 17-125 us.
    worst = max(int(r["clock_rtt_ns"]) for r in ranks)
    assert worst < 2_000_000, f"clock sync round trip {worst} ns: ranks spun instead of yielding?"
    # One kernel clock: the true offset is 0, so each estimate must lie inside its stated bound.
    for r in ranks:
        for col in ("clock_offset_ns", "clock_offset_end_ns"):
            assert abs(int(r[col])) <= int(r["clock_error_ns"]), (int(r["rank"]), col, int(r[col]),
                                                                 int(r["clock_error_ns"]))
    print(f"  clock: worst |offset| {max(abs(int(r['clock_offset_ns'])) for r in ranks)} ns, "
          f"worst error bound {int(run.attrs['clock_error_max_ns'])} ns")
    assert len(set(host.values())) == 2
    assert run.attrs["hosts"].split(",") == ["vnode1", "vnode2"], run.attrs["hosts"]

    # --- every edge's tier follows from its ranks and their hosts ---
    print("\nedges (pipeline run)")
    print("  edge     ranks  hosts            tier        transport")
    tiers = {}
    for e in run["edges"][()]:
        a, b = int(e["from_rank"]), int(e["to_rank"])
        want = "same-rank" if a == b else "same-host" if host[a] == host[b] else "cross-host"
        name = f"{s(e['from_name'])}->{s(e['to_name'])}"
        print(f"  {name:8s} {a}->{b}   {host[a]}->{host[b]}  {s(e['tier']):10s}  {s(e['transport'])}")
        assert s(e["tier"]) == want, (name, a, b, s(e["tier"]), want)
        # Transport proof: Open MPI itself picked shared memory within a host, TCP across.
        carrier = {"same-rank": "in-memory", "same-host": "ob1/vader", "cross-host": "ob1/tcp"}[want]
        assert s(e["transport"]) == carrier, (name, s(e["transport"]), carrier)
        tiers[want] = tiers.get(want, 0) + 1
    assert tiers.get("same-host", 0) >= 1 and tiers.get("cross-host", 0) >= 1, tiers
    # Messages crossed ranks on both MPI tiers.
    edge_tier = {int(e["id"]): s(e["tier"]) for e in run["edges"][()]}
    sent = {}
    for m in run["messages"][()]:
        sent[edge_tier[int(m["edge"])]] = sent.get(edge_tier[int(m["edge"])], 0) + 1
    assert sent.get("same-host", 0) >= 2 and sent.get("cross-host", 0) >= 2, sent
    assert "same-rank" not in sent, sent
    print(f"  tiers: {tiers}; messages per tier: {sent}")

    # --- the benchmark run ---
    assert bool(bench_run.attrs["complete"]), "bench run not complete"
    assert int(bench_run.attrs["world_size"]) == 4
    assert bench_run.attrs["hosts"].split(",") == ["vnode1", "vnode2"], bench_run.attrs["hosts"]
    rows = {(s(r["tier"]), s(r["method"]), int(r["size_bytes"])): r for r in bench_run["bench"][()]}
    sizes = sorted({k[2] for k in rows})
    assert sizes == [0, 64, 1024, 65536, 1048576], sizes
    for tier in ("same-host", "cross-host"):
        for method in ("raw-mpi", "boost", "datatype", "raw"):
            for size in sizes:
                assert (tier, method, size) in rows, ("missing bench row", tier, method, size)
    lat = lambda t, n: float(rows[(t, "raw-mpi", n)]["latency_us"])
    bw = lambda t, n: float(rows[(t, "raw-mpi", n)]["bandwidth_mb_s"])
    print("\nbench raw-mpi (one-way us = median round trip / 2; MB/s streaming)")
    print("  size B   same-host us  cross-host us  cross/same  same-host MB/s  cross-host MB/s")
    for n in sizes:
        sh_bw = "-" if n == 0 else f"{bw('same-host', n):.0f}"
        ch_bw = "-" if n == 0 else f"{bw('cross-host', n):.0f}"
        print(f"  {n:7d}  {lat('same-host', n):12.2f}  {lat('cross-host', n):13.2f}"
              f"  {lat('cross-host', n) / lat('same-host', n):9.2f}x  {sh_bw:>14s}  {ch_bw:>15s}")
    # Small-message latency of each tier: the lowest median over 0, 64 and 1 KiB (all sent
    # eagerly, so all measure the per-message cost). One size alone is noisier: on 2 cores shared
    # by 4 ranks a cross-host median at 0 or 64 B has read up to 38 us. Measured on the 2-core
    # VM: same-host 3.2-5 us, cross-host (TCP over the bridge) 11-15 us: 2.8-3.6x.
    small = [0, 64, 1024]
    same = min(lat("same-host", n) for n in small)
    cross = min(lat("cross-host", n) for n in small)
    factor = 2.0
    print(f"  small-message latency: same-host {same:.2f} us, cross-host {cross:.2f} us "
          f"({cross / same:.1f}x; required > {factor}x)")
    assert math.isfinite(same) and same > 0, same
    assert cross > factor * same, f"cross-host {cross:.2f} us is not > {factor} x same-host {same:.2f} us"
print("\nok   hosts, tiers and the cross-host cost as expected in", path)
PY
