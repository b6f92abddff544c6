"""Install analysis/ (mpipe_analysis, analysis/pyproject.toml) into a fresh venv, offline, the way
a user does on Debian 12:

    /usr/bin/python3 -m venv --system-site-packages VENV
    VENV/bin/pip install --no-build-isolation --no-deps ./analysis

and, with --check RESULTS, import it from outside the repository and use it on a results file.

CTest runs it twice: ``python.install`` (the fixture the other python.* tests need: the venv
whose python runs them, BUILD/tests/venv) and ``python.package`` (a throwaway venv plus
--check). pip builds in the source folder (setuptools leaves build/ and *.egg-info there), so
the source is copied first, beside the venv, leaving the working tree untouched.

    /usr/bin/python3 tests/python/install_package.py --src analysis --venv /tmp/v [--check F.h5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Run by the venv's python from a folder outside the repository (argv: venv, repo, results).
CHECK = r'''
import importlib.metadata as md
import re
import sys
from pathlib import Path

venv, repo, results = (Path(a).resolve() for a in sys.argv[1:4])
import mpipe_analysis as mpa
from mpipe_analysis import export, metrics, plots, report, sweep  # every module imports

where = Path(mpa.__file__).resolve()
assert venv in where.parents, f"mpipe_analysis from {where}, not from the venv {venv}"
assert repo / "analysis" not in where.parents, f"mpipe_analysis from the source tree: {where}"
assert Path.cwd().resolve() not in where.parents
assert md.version("mpipe-analysis") == mpa.__version__, (md.version("mpipe-analysis"), mpa.__version__)
needs = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower()
         for r in md.requires("mpipe-analysis") if "extra ==" not in r}
assert {"numpy", "pandas", "h5py", "matplotlib"} <= needs, needs

# The documented entry points and their old names.
assert mpa.load is sys.modules["mpipe_analysis.load"].load and callable(sweep.read)
res = mpa.read_results(results)
assert len(res) >= 1 and res.path == str(results)
table = res.summary()
assert len(table) == len(res) and {"id", "kind", "latency_ms"} <= set(table.columns)
groups = [g for g in res.groups() if len(g) > 1]
verdicts = [metrics.compare(g).text for g in groups]
assert all(verdicts), verdicts
print(f"[package] {len(res)} runs, {len(groups)} comparisons; e.g. {verdicts[:1]}")
sweep_file = results.parent / "sweep.h5"
if sweep_file.is_file():
    sw = mpa.read_sweep(sweep_file)
    assert isinstance(sw, mpa.SweepData) and not sw.points.empty
    print(f"[package] read_sweep: {len(sw.points)} points, local={sw.local} distributed={sw.distributed}")
try:
    mpa.read_sweep(res)
except LookupError:
    pass  # the file has no sweep run: refused, by name
print(f"[package] mpipe_analysis {mpa.__version__} from {where}")
'''


def sh(cmd, **kw):
    shown = ["<check>" if c is CHECK else str(c) for c in cmd]
    print("+", " ".join(shown), flush=True)
    proc = subprocess.run(list(map(str, cmd)), **kw)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(shown)} exited {proc.returncode}")


def install(src: Path, venv: Path) -> Path:
    """A fresh venv at ``venv`` with a copy of ``src`` installed; returns its python."""
    for d in (venv, Path(str(venv) + "-src")):
        if d.exists():
            shutil.rmtree(d)
    copy = Path(str(venv) + "-src")
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", "__pycache__", ".ipynb_checkpoints"))
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1")
    env.pop("PYTHONPATH", None)
    t0 = time.monotonic()
    sh(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], env=env)
    py = venv / "bin" / "python"
    sh([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps", copy], env=env)
    print(f"[install] {venv} in {time.monotonic() - t0:.1f} s", flush=True)
    return py


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--src", default=str(REPO / "analysis"))
    p.add_argument("--venv", help="where to make the venv (replaced); default: a temp folder")
    p.add_argument("--check", metavar="RESULTS", help="results file to use the package on")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpipe-package-") as tmp:
        venv = Path(a.venv).resolve() if a.venv else Path(tmp) / "venv"
        py = install(Path(a.src).resolve(), venv)
        if a.check:
            outside = Path(tmp) / "elsewhere"
            outside.mkdir()
            env = {k: v for k, v in os.environ.items()
                   if k not in ("PYTHONPATH", "MPIPE_ANALYSIS_DIR", "PYTHONHOME")}
            env["MPLBACKEND"] = "Agg"
            sh([py, "-c", CHECK, venv, REPO, Path(a.check).resolve()], cwd=outside, env=env)
            # The console scripts the metadata declares.
            for script in ("mpipe-report", "mpipe-export", "mpipe-compare"):
                sh([venv / "bin" / script, "--help"], cwd=outside, env=env,
                   stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
