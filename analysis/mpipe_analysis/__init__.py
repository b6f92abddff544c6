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

from .load import Results, Run, load, select

__all__ = ["load", "select", "Results", "Run"]
__version__ = "0.1.0"
