#!/usr/bin/python3
"""The machine's own hiccups: how long a process that never blocks goes without running.

N processes each loop for S seconds, reading the clock every turn (and calling sched_yield,
unless --no-yield), and report their longest gaps between turns. No MPI, no mpipe: what they
see is the platform (a hypervisor taking the vCPU, the kernel's own work), the floor under
issue 18's rows 4 and 5 (a timer stage that should end at 2 ms ends at 2 + gap ms).

Usage: bench/hiccups.py [-n N] [-s SECONDS] [--no-yield]
Prints one line per process: worst gap, and gaps over 1 ms and 3 ms.
"""
import argparse
import multiprocessing as mp
import os
import time


def loop(index, seconds, yield_cpu, out):
    now = time.monotonic_ns
    end = now() + int(seconds * 1e9)
    last = now()
    worst = over1 = over3 = 0
    while True:
        t = now()
        if t > end:
            break
        gap = t - last
        last = t
        worst = max(worst, gap)
        over1 += gap > 1_000_000
        over3 += gap > 3_000_000
        if yield_cpu:
            os.sched_yield()
    out.put((index, worst, over1, over3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=os.cpu_count(), help="processes (default: CPUs)")
    ap.add_argument("-s", type=float, default=2.0, help="seconds each (default 2)")
    ap.add_argument("--no-yield", action="store_true", help="spin without sched_yield")
    a = ap.parse_args()
    if a.n < 1 or a.s <= 0:
        ap.error("-n must be >= 1 and -s > 0")
    out = mp.Queue()
    procs = [mp.Process(target=loop, args=(i, a.s, not a.no_yield, out)) for i in range(a.n)]
    for p in procs:
        p.start()
    results = sorted(out.get() for _ in procs)
    for p in procs:
        p.join()
    mode = "spinning" if a.no_yield else "yielding"
    print(f"{a.n} process(es) {mode} for {a.s:g} s on {os.cpu_count()} CPU(s):")
    for i, worst, over1, over3 in results:
        print(f"  process {i}: worst gap {worst / 1e6:.2f} ms, gaps > 1 ms: {over1}, > 3 ms: {over3}")


if __name__ == "__main__":
    main()
