"""The results file the analysis tests read, produced by the real mpipe (never hand-made):

- the reference pipeline packed on 1 rank and spread over 3 ranks (3 items, time scale 0.01),
  and on 3 ranks with every stage on rank 0 (``--placement Main=0``); packed again with
  ``--kernel spin`` (a second pipeline group of the same name);
- `mpipe bench --quick` on 2 ranks;
- the render-farm scenario with 1 and 2 replicas on one rank (sleep kernel, 12 frames of 10 ms;
  the 2-replica run keeps per-item rows for every 3rd frame only, ``--detail-items 4``);
- two stream specs (:data:`FANOUT`, :data:`FARM_RR`): a fan-out into a 2-replica on-demand farm
  on one rank, and a round-robin farm whose replica 1 runs on rank 1 of 2;
- and, in sweep.h5 beside it, `mpipe sweep --break-even` on 2 ranks (when the binary has it).

Run as a script (CTest's fixture step `python.analysis.data`) or imported by the tests' pytest
fixture when MPIPE_ANALYSIS_RESULTS is not set:

    /usr/bin/python3 tests/python/analysis_fixture.py --bin build/mpipe --out DIR/results.h5
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def env() -> dict:
    e = dict(os.environ)
    if os.geteuid() == 0:  # Open MPI refuses root without these (singleton and mpirun)
        e.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        e.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return e


def _run(cmd, timeout=180):
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc.stdout


def mpirun(np_: int) -> list:
    exe = shutil.which("mpirun") or "mpirun"
    return [exe, "-np", str(np_), "--oversubscribe", "--bind-to", "none"]


# A fan-out into a replicated on-demand stage: A delivers to B, then may wait for a credit of F,
# so A's sent_ns is late for A->B (input availability must come from the hand-offs instead).
FANOUT = """name: fanout-farm
source: Main
items: 20
inflight: 8
defaults: {kernel: sleep, payload_bytes: 256}
stages:
  - {name: Main, work_ms: 0}
  - {name: A, work_ms: 2}
  - {name: B, work_ms: 2}
  - {name: F, work_ms: 20, replicas: 2, dispatch: on-demand}
edges:
  - Main -> A
  - {from: A, to: [B, F]}
  - B -> Main
  - F -> Main
"""

# A round-robin farm whose replica 1 sits on another rank: distributed although the edge's first
# replica pair is on one rank.
FARM_RR = """name: farm-rr
source: Main
items: 20
inflight: 8
defaults: {kernel: sleep, payload_bytes: 256}
stages:
  - {name: Main, work_ms: 0}
  - {name: F, work_ms: 20, replicas: 2, dispatch: round-robin}
edges:
  - Main -> F
  - F -> Main
"""


def streams(binary: str, out: Path) -> None:
    """The two stream specs above (time scale 0.25: F takes 5 ms), written beside ``out``."""
    specs = {}
    for name, text in (("fanout-farm", FANOUT), ("farm-rr", FARM_RR)):
        specs[name] = out.parent / f"{name}.yaml"
        specs[name].write_text(text)
    common = ["--time-scale", "0.25", "--no-progress", "--out", str(out)]
    _run([binary, "run", "--spec", str(specs["fanout-farm"]), "--placement", "pack"] + common)
    _run(mpirun(2) + [binary, "run", "--spec", str(specs["farm-rr"]), "--placement",
                      "Main=0,F#0=0,F#1=1"] + common)


def produce(binary: str, out: str | os.PathLike) -> Path:
    """Write the file (replacing an earlier one) and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for p in (out, Path(str(out) + ".lock")):
        if p.exists():
            p.unlink()
    seed = ["run", "--items", "3", "--time-scale", "0.01", "--no-progress", "--out", str(out)]
    t0 = time.monotonic()
    _run([binary] + seed + ["--placement", "pack"])
    _run(mpirun(3) + [binary] + seed + ["--placement", "spread"])
    # Launched on 3 ranks with every stage on rank 0 (unnamed stages of a map go there): a
    # local run whose label must not read as a 3-rank one.
    _run(mpirun(3) + [binary] + seed + ["--placement", "Main=0"])
    # The same pipeline with another kernel: a group of its own, named apart from the first.
    _run([binary] + seed + ["--placement", "pack", "--kernel", "spin"])
    _run(mpirun(2) + [binary, "bench", "--quick", "--no-progress", "--out", str(out)])
    for r in (1, 2):
        # The 2-replica farm keeps per-item rows for every 3rd frame only (--detail-items 4).
        _run([binary, "run", "--scenario", "render-farm", "--replicas", f"Render={r}",
              "--kernel", "sleep", "--items", "12", "--time-scale", "0.001", "--no-progress",
              "--out", str(out)] + (["--detail-items", "4"] if r == 2 else []))
    streams(binary, out)
    # A real break-even sweep, in a file of its own (sweep.h5 beside): 2 placements x 3 work
    # points x 2 repeats, ~6 s. Optional: a binary without `mpipe sweep` leaves it out.
    sweep_out = out.parent / "sweep.h5"
    for p in (sweep_out, Path(str(sweep_out) + ".lock")):
        if p.exists():
            p.unlink()
    try:
        _run(mpirun(2) + [binary, "sweep", "--break-even", "--work-min", "0.1", "--work-max",
                          "10", "--points-per-decade", "1", "--repeat", "2", "--warmup", "0",
                          "--no-progress", "--out", str(sweep_out)])
    except RuntimeError as e:
        print(f"[analysis fixture] no sweep ({str(e).splitlines()[0]})")
    print(f"[analysis fixture] {out} in {time.monotonic() - t0:.1f} s")
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.environ.get("MPIPE_BIN", str(REPO / "build" / "mpipe")))
    p.add_argument("--out", required=True)
    a = p.parse_args()
    produce(a.bin, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
