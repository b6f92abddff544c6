"""mpipe_analysis: read mpipe results files (HDF5) and answer "should I distribute?".

    from mpipe_analysis import load, plots, metrics
    res = load("results/mpipe.h5")            # Results: list of Run, oldest first
    res.summary()                              # one row per run
    seed = res.select(scenario="seed")         # also placement=, transport=, serialization=,
                                               # emulated_link=, kind=, world_size=, local=
    for group in res.groups():                 # runs of the same pipeline
        print(metrics.compare(group).text)     # local against distributed, in words
    plots.timeline(seed[-1]).savefig("t.png")

Modules: load (loading, selection), metrics (edge costs, ratios, verdicts, Amdahl, alpha-beta),
plots (matplotlib figures), report (`python3 -m mpipe_analysis.report FILE`), export
(`python3 -m mpipe_analysis.export --format chrome-trace FILE`). Needs Debian's python3-h5py,
numpy, pandas, matplotlib: run it with /usr/bin/python3.
"""

import os as _os

from .load import Results, Run, load, select

__all__ = ["load", "select", "Results", "Run", "default_results"]

# analysis/mpipe_analysis -> the repository root
_REPO = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))


def default_results() -> str:
    """The results file notebooks read: ``MPIPE_RESULTS`` when set, else the demo's
    ``results/mpipe.h5`` of the repository this package sits in (scripts/demo.sh writes it);
    found from the package's own location, so the working directory does not matter."""
    return _os.environ.get("MPIPE_RESULTS") or _os.path.join(_REPO, "results", "mpipe.h5")
__version__ = "0.1.0"
