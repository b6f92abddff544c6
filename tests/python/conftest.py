"""Fixtures shared by the Python tests (pytest finds this file itself; no sys.path edits).

The tests import ``mpipe_analysis`` as an installed package: CTest's ``python.install`` step
makes ``BUILD/tests/venv`` (``/usr/bin/python3 -m venv --system-site-packages``, then
``pip install --no-build-isolation --no-deps`` of analysis/) and runs pytest with that venv's
python. By hand:

    /usr/bin/python3 -m venv --system-site-packages /tmp/mpipe-venv
    /tmp/mpipe-venv/bin/pip install --no-build-isolation --no-deps ./analysis
    MPIPE_BIN=$PWD/build/mpipe /tmp/mpipe-venv/bin/python -m pytest -q tests/python

Environment: MPIPE_BIN (the binary; default build/mpipe; tests that need it skip without it),
MPIPE_ANALYSIS_RESULTS (a file made by analysis_fixture.py, e.g. by CTest's python.analysis.data
step; else the ``results`` fixture makes one), MPIPE_TEST_TMP (scratch; else pytest's tmp dir).

``analysis_fixture`` (the producer of the analysis tests' results file, also run as a script by
CTest) sits beside this file, in the folder pytest puts on sys.path for its rootdir-less tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import analysis_fixture

REPO = Path(__file__).resolve().parents[2]


def _binary() -> str:
    return os.environ.get("MPIPE_BIN", str(REPO / "build" / "mpipe"))


@pytest.fixture(scope="session")
def mpipe_bin() -> str:
    """The mpipe binary (MPIPE_BIN, else build/mpipe); skips the test without one."""
    b = _binary()
    if not Path(b).is_file():
        pytest.skip(f"no mpipe binary at {b} (set MPIPE_BIN)")
    return b


@pytest.fixture(scope="session")
def mpipe(mpipe_bin):
    """Runs ``mpipe ARGS`` (arguments str()-ed), output captured as text, with the environment
    Open MPI needs as root unless ``env=`` is given; returns the CompletedProcess."""

    def run(*args, env=None, timeout=300, **kw):
        return subprocess.run([mpipe_bin, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env=analysis_fixture.env() if env is None else env,
                              **kw)

    return run


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Path:
    """A fresh scratch folder: MPIPE_TEST_TMP/analysis (emptied first), else pytest's tmp."""
    base = os.environ.get("MPIPE_TEST_TMP")
    if base:
        d = Path(base) / "analysis"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d
    return tmp_path_factory.mktemp("analysis")


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    """The analysis tests' results file, produced by the real mpipe (analysis_fixture.py):
    MPIPE_ANALYSIS_RESULTS when it names a file, else made now in a folder of its own (sweep.h5
    beside it when the binary has `mpipe sweep`)."""
    given = os.environ.get("MPIPE_ANALYSIS_RESULTS")
    if given and Path(given).is_file():
        return Path(given)
    b = _binary()
    if not Path(b).is_file():
        pytest.skip(f"no mpipe binary at {b} (set MPIPE_BIN)")
    base = os.environ.get("MPIPE_TEST_TMP")
    where = Path(base) / "fixture" if base else tmp_path_factory.mktemp("fixture")
    return analysis_fixture.produce(b, where / "results.h5")


@pytest.fixture(scope="session")
def res(results):
    """``mpipe_analysis.read_results`` of :func:`results`."""
    from mpipe_analysis import read_results

    return read_results(results)


@pytest.fixture(scope="session")
def notebook_kernel(tmp_path_factory) -> str:
    """The kernel name notebooks run under ("python3"), made to start *this* interpreter: a
    kernelspec in a folder put first on JUPYTER_PATH for the session. Debian's own python3
    kernelspec starts /usr/bin/python3, which does not see a venv's installed mpipe_analysis."""
    spec = tmp_path_factory.mktemp("jupyter") / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({sys.executable})",
        "language": "python",
    }))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(spec.parents[1]), old]))
    yield "python3"
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def pytest_report_header(config):
    """Which mpipe_analysis the tests import (the installed copy, normally), or how to get one."""
    try:
        import mpipe_analysis
    except ImportError:
        return ("mpipe_analysis: not importable by " + sys.executable + " - install it into a venv "
                "(see tests/python/conftest.py) or run through ctest -R python")
    return f"mpipe_analysis {mpipe_analysis.__version__}: {mpipe_analysis.__file__}"
