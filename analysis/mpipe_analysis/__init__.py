"""mpipe_analysis: read mpipe results files (HDF5) and answer "should I distribute?".

    import mpipe_analysis as mpa
    from mpipe_analysis import plots, metrics
    res = mpa.read_results("results/mpipe.h5")  # Results: list of Run, oldest first
    res.summary()                              # one row per run (a pandas DataFrame)
    seed = res.select(scenario="seed")         # also placement=, transport=, serialization=,
                                               # emulated_link=, kind=, world_size=, local=
    for group in res.groups():                 # runs of the same pipeline
        print(metrics.compare(group).text)     # local against distributed, in words
    plots.timeline(seed[-1]).savefig("t.png")
    sw = mpa.read_sweep("results/sweep.h5")    # the newest `mpipe sweep` run's tables

Entry points, named after pandas' ``read_csv`` and h5py's ``File``: :func:`read_results` (a
results file's runs) and :func:`read_sweep` (one sweep run's points, repeats and break-even
rows). The older names stay: ``load`` is ``read_results``, ``sweep.read(run)`` reads one
:class:`Run`.

Modules: load (loading, selection), metrics (edge costs, ratios, verdicts, Amdahl, alpha-beta),
plots (matplotlib figures), sweep (sweep runs), compare (runs of many files grouped by
placement, transport, serialization or scenario, with a permutation test: ``compare(files, by=)``
and `python3 -m mpipe_analysis.compare FILE...`), report (`python3 -m mpipe_analysis.report FILE`),
export (`python3 -m mpipe_analysis.export --format chrome-trace FILE`). Needs numpy, pandas,
h5py and matplotlib (Debian's python3-* packages).

Installing (offline, Debian 12; analysis/pyproject.toml):

    /usr/bin/python3 -m venv --system-site-packages V
    V/bin/pip install --no-build-isolation --no-deps ./analysis
"""

from __future__ import annotations

import os as _os

from .load import Results, Run, load, select
from .sweep import SweepData

__version__ = "0.1.0"

__all__ = [
    "read_results",
    "read_sweep",
    "Results",
    "Run",
    "SweepData",
    "select",
    "default_results",
    "load",
    "compare",
    "__version__",
]

# analysis/mpipe_analysis -> the repository root, when this copy is the source tree's
_PACKAGE = _os.path.dirname(_os.path.abspath(__file__))
_REPO = _os.path.dirname(_os.path.dirname(_PACKAGE))


def __getattr__(name: str):
    """``compare`` on first use (PEP 562): the submodule, callable as
    ``compare(files, by="placement", ...)`` (mpipe_analysis/compare.py). Imported lazily so that
    ``python -m mpipe_analysis.compare`` does not find it imported already (runpy warns)."""
    if name == "compare":  # not `from . import`: its hasattr would call this again
        import importlib

        return importlib.import_module(".compare", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_results(path: str | _os.PathLike) -> Results:
    """The runs of an mpipe results file, oldest first: a :class:`Results` (a list of
    :class:`Run`; attributes read now, datasets on first use). Raises ValueError when the file
    has no ``/runs`` group. The same as :func:`load`."""
    return load(path)


def read_sweep(source, run: str | int | None = None) -> SweepData:
    """One ``mpipe sweep`` run's tables as a :class:`SweepData` (``points``, ``repeats``,
    ``break_even`` DataFrames and the ``local`` / ``distributed`` placements).

    ``source``: a results file's path, a :class:`Results` or a single :class:`Run`. ``run``:
    which sweep run of the file, by id (str) or by position among its sweep runs (int, negative
    from the end); default the newest. Raises LookupError when there is no such sweep run and
    ValueError when the run lacks the columns the sweep tables need (``mpipe_analysis.sweep.read``
    returns None instead, for callers that skip)."""
    from . import sweep as _sweep

    if isinstance(source, Run):
        chosen = source
        where = source.path
    else:
        results = source if isinstance(source, Results) else load(source)
        where = results.path
        if isinstance(run, str):
            chosen = results.by_id(run)
        else:
            sweeps = [r for r in results if _sweep.is_sweep(r)]
            if not sweeps:
                raise LookupError(f"{where}: no sweep run (kind 'sweep'); `mpipe sweep` writes one")
            try:
                chosen = sweeps[-1 if run is None else run]
            except IndexError:
                raise LookupError(f"{where}: no sweep run #{run} ({len(sweeps)} sweep runs)") from None
    data = _sweep.read(chosen)
    if data is None:
        raise ValueError(
            f"{where}: run {chosen.id} has no sweep_points with the columns "
            f"{', '.join(_sweep.REQUIRED_POINT_COLUMNS)}"
        )
    return data


def default_results() -> str:
    """The results file notebooks read: ``MPIPE_RESULTS`` when set, else the demo's
    ``results/mpipe.h5`` (scripts/demo.sh writes it) of the repository this package sits in
    when it is the source tree's copy (found from the package's own location, so the working
    directory does not matter); an installed copy looks for ``results/mpipe.h5`` in the working
    directory and the folders above it (a notebook's kernel starts in the notebook's folder)."""
    given = _os.environ.get("MPIPE_RESULTS")
    if given:
        return given
    if _os.path.basename(_os.path.dirname(_PACKAGE)) == "analysis" and _os.path.isfile(
        _os.path.join(_REPO, "analysis", "pyproject.toml")
    ):
        return _os.path.join(_REPO, "results", "mpipe.h5")
    here = _os.getcwd()
    while True:
        candidate = _os.path.join(here, "results", "mpipe.h5")
        if _os.path.isfile(candidate):
            return candidate
        parent = _os.path.dirname(here)
        if parent == here:
            return _os.path.join(_os.getcwd(), "results", "mpipe.h5")
        here = parent
