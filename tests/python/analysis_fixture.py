"""The results file the analysis tests read, produced by the real mpipe (never hand-made):

- the reference pipeline packed on 1 rank and spread over 3 ranks (3 items, time scale 0.01),
  and on 3 ranks with every stage on rank 0 (``--placement Main=0``); packed again with
  ``--kernel spin`` (a second pipeline group of the same name);
- `mpipe bench --quick` on 2 ranks;
- the render-farm scenario with 1 and 2 replicas on one rank (sleep kernel, 12 frames of 10 ms;
  the 2-replica run keeps per-item rows for every 3rd frame only, ``--detail-items 4``);
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
