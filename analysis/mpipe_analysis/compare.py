"""Compare runs gathered from many results files: per group, the median run and whether the
groups differ, with the statistical test named.

    /usr/bin/python3 -m mpipe_analysis.compare a.h5 b.h5 ... [--by placement] [--format text]
    mpipe compare results/slurm/123_*.h5 --by transport --format csv -o cmp.csv   # the same

    import mpipe_analysis as mpa
    c = mpa.compare(["a.h5", "b.h5"], by="placement")   # a CompareResult
    c.table          # one row per group (pandas DataFrame; columns below)
    c.verdicts       # list of Verdict: each group against the best (one when there are 2 groups)
    print(c.text())  # the table and the verdicts, as `mpipe compare` prints them

Made for the outputs of a Slurm job array (each task writes its own file), but any results files
do: every pipeline run of every file counts once. Runs that are not pipeline runs (``kind``
``bench``, ``calibration``, ``sweep``) and incomplete runs (``complete`` false) are skipped and
counted in a note.

**Groups** (``by``; each run's value is found by the loader, :class:`~mpipe_analysis.load.Run`):

- ``placement``: the ``placement_mode`` attribute (``pack``, ``spread``); a ``map`` run is
  grouped by its resolved map too (``map Main=0,A=1,...``: two maps are two placements);
- ``transport``: :attr:`Run.transport`, what carried the cross-rank hops, derived from
  ``edge_instances.transport`` (``in-memory``, ``ob1/vader``, ``ob1/tcp``; the run attribute
  ``transport`` only holds the MCA selection, not what each hop used);
- ``serialization``: :attr:`Run.serialization` (``--serialization`` when given, else the
  cross-rank edges' ``edges.serialization``; ``in-memory`` when nothing crossed ranks);
- ``scenario``: the ``spec_name`` attribute.

**Numbers per run**: its mean item latency over every item (``latency_mean_ms``, ms) and its
steady-state throughput (``throughput_items_per_s``, items/s; NaN when the run stored none).
Per group: ``runs``, the median of each number and a bootstrap percentile CI of that median
(``resamples`` resamples of the group's runs, numpy's generator seeded with ``seed``; NaN with
fewer than 2 runs).

**Verdict** (on ``metric``: ``latency``, lower is better, or ``throughput``, higher is better):
the best group (best median) against each other group, by a two-sided permutation test on the
difference of medians: the two groups' runs are pooled and relabelled at random ``resamples``
times (every relabelling, exactly, when there are no more than that), and p is the share of
relabellings whose |difference of medians| is at least the observed one. With more than one
comparison p is Holm-adjusted. A difference is clear when p < ``alpha``; then "X is faster than Y
by N %", where N is the time saved, (Y - X) / Y x 100 of Y's median latency, or the throughput
gained, (X - Y) / Y x 100. Else "no clear difference", with the smallest p the test could give
these group sizes when that is above ``alpha`` (then only more runs can tell).

Table columns: the ``by`` key, ``runs``, ``files`` (files the group's runs came from),
``latency_median_ms``, ``latency_ci_low_ms``, ``latency_ci_high_ms``,
``throughput_median_items_per_s``, ``throughput_ci_low_items_per_s``,
``throughput_ci_high_items_per_s``, ``compared_with`` (the best group; empty in the best's row),
``difference_pct``, ``p_value``, ``p_adjusted``, ``verdict`` (the sentence).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .load import load

__all__ = ["compare", "CompareResult", "Verdict", "CompareError", "BY_KEYS", "METRICS",
           "permutation_test", "bootstrap_median_ci", "main"]

BY_KEYS = ("placement", "transport", "serialization", "scenario")
# metric -> (table column prefix, unit, True when higher is better)
METRICS = {"latency": ("latency", "ms", False), "throughput": ("throughput", "items/s", True)}
TEST_NAME = "permutation test on the difference of medians"


class CompareError(ValueError):
    """Bad input (a missing file, no runs, an unknown key, fewer than 2 groups): one message
    that names the file or field."""


@dataclass
class Verdict:
    """One comparison: ``group`` against ``against`` (the best group) on ``metric``."""

    group: str
    against: str
    metric: str
    clear: bool
    faster: str  # the group with the better median ("" when not clear)
    difference_pct: float
    p_value: float
    p_adjusted: float
    method: str  # "exact over all 6 relabellings" or "10000 random relabellings"
    min_p: float  # the smallest p these group sizes allow
    text: str


@dataclass
class CompareResult:
    """What :func:`compare` returns: the per-group ``table``, the ``verdicts``, the runs used
    (``runs``: file, run id, group, latency_ms, throughput), the ``notes`` (skipped runs,
    mixed pipelines) and the settings."""

    by: str
    metric: str
    table: pd.DataFrame
    verdicts: list
    runs: pd.DataFrame
    notes: list
    files: list
    settings: dict = field(default_factory=dict)

    def text(self) -> str:
        return _text(self)

    def to_csv(self) -> str:
        return self.table.to_csv(index=False)

    def to_json(self) -> str:
        return json.dumps(_json(self), indent=2, allow_nan=False) + "\n"


# --- statistics ------------------------------------------------------------------------------


def bootstrap_median_ci(values, rng, resamples: int = 10000, level: float = 0.95):
    """(low, high): the percentile bootstrap CI of the median of ``values``; NaNs with fewer
    than 2 values (one run says nothing about the spread)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return math.nan, math.nan
    medians = np.empty(resamples)
    chunk = max(1, 2_000_000 // v.size)  # bounded memory for groups of many runs
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        medians[start:start + k] = np.median(v[rng.integers(0, v.size, size=(k, v.size))], axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return float(low), float(high)


def permutation_test(a, b, rng, resamples: int = 10000):
    """Two-sided permutation test on median(a) - median(b): (p, method, min_p). Exact (every
    relabelling of the pooled values) when there are at most ``resamples`` relabellings, else
    ``resamples`` random ones with p = (hits + 1) / (resamples + 1). ``min_p``: the smallest p
    these sizes allow (only the observed split and its mirror as extreme)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = np.concatenate([a, b])
    n, total = a.size, math.comb(a.size + b.size, a.size)
    observed = abs(np.median(a) - np.median(b))
    tol = 1e-12 * max(1.0, float(np.max(np.abs(pooled))))  # float ties count as hits
    extreme = 2 if a.size == b.size else 1
    if total <= resamples:
        hits = 0
        for idx in itertools.combinations(range(pooled.size), n):
            mask = np.zeros(pooled.size, dtype=bool)
            mask[list(idx)] = True
            hits += abs(np.median(pooled[mask]) - np.median(pooled[~mask])) >= observed - tol
        return hits / total, f"exact over all {total} relabellings", min(1.0, extreme / total)
    hits, chunk = 0, max(1, 2_000_000 // pooled.size)
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        perm = rng.permuted(np.tile(pooled, (k, 1)), axis=1)
        diff = np.abs(np.median(perm[:, :n], axis=1) - np.median(perm[:, n:], axis=1))
        hits += int(np.sum(diff >= observed - tol))
    return (hits + 1) / (resamples + 1), f"{resamples} random relabellings", 1 / (resamples + 1)


def holm(p_values) -> list:
    """Holm's step-down adjustment of p-values (same order as given)."""
    p = list(p_values)
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [math.nan] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


# --- gathering runs --------------------------------------------------------------------------


def group_of(run, by: str) -> str:
    """The run's value of the ``by`` key (see the module's docstring)."""
    if by == "placement":
        mode = run.placement_mode or "unknown"
        return f"map {run.attr('placement', '')}" if mode == "map" else mode
    if by == "transport":
        return run.transport
    if by == "serialization":
        return run.serialization
    return run.scenario or "unknown"


def _open(path: str):
    """The file's runs through the package's loader, or a CompareError naming the file."""
    if not os.path.exists(path):
        raise CompareError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CompareError(f"{path}: is a directory, not a results file")
    try:
        runs = load(path)
    except ValueError as e:  # the loader's "not an mpipe results file (no /runs group)"
        raise CompareError(str(e)) from None
    except OSError as e:  # h5py: not HDF5, unreadable
        raise CompareError(f"{path}: cannot read it as an HDF5 results file ({e})") from None
    if not runs:
        raise CompareError(f"{path}: no runs (the file's /runs group is empty)")
    return runs


def _gather(files, by: str):
    """One row per usable run, and the counts of what was skipped."""
    rows, not_pipeline, incomplete, seen = [], {}, [], {}
    for path in files:
        real = os.path.realpath(path)
        if real in seen:
            raise CompareError(f"{path}: given twice (also as {seen[real]}); its runs would count twice")
        seen[real] = path
        for run in _open(path):
            if not run.is_pipeline:
                not_pipeline[run.kind] = not_pipeline.get(run.kind, 0) + 1
            elif not bool(run.attr("complete", True)):
                incomplete.append(f"{path} run {run.id}")
            else:
                rows.append({"file": path, "run": run.id, "group": group_of(run, by),
                             "scenario": run.scenario, "ranks": run.world_size,
                             "latency_ms": run.latency_ms, "throughput": run.throughput})
    return pd.DataFrame(rows, columns=["file", "run", "group", "scenario", "ranks", "latency_ms",
                                       "throughput"]), not_pipeline, incomplete


def _notes(runs: pd.DataFrame, by: str, not_pipeline: dict, incomplete: list) -> list:
    notes = []
    if incomplete:
        shown = ", ".join(incomplete[:3]) + (", ..." if len(incomplete) > 3 else "")
        notes.append(f"skipped {len(incomplete)} incomplete run(s) (complete = false): {shown}")
    if not_pipeline:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(not_pipeline.items()))
        notes.append(f"skipped {sum(not_pipeline.values())} run(s) that are not pipeline runs "
                     f"(kind {kinds})")
    # Groups are fair only between runs of one pipeline; say so when the files mix them.
    if by != "scenario" and runs.scenario.nunique() > 1:
        notes.append("the runs are of more than one pipeline (" + ", ".join(
            sorted(runs.scenario.unique())) + "): a group's median mixes them")
    if runs.ranks.nunique() > 1:
        notes.append("the runs used different numbers of ranks ("
                     + ", ".join(map(str, sorted(runs.ranks.unique()))) + ")")
    return notes


# --- the comparison --------------------------------------------------------------------------


def _group_rows(runs: pd.DataFrame, by: str, rng, resamples: int, level: float) -> pd.DataFrame:
    rows = []
    for name, g in runs.groupby("group", sort=True):
        row = {by: name, "runs": len(g), "files": g.file.nunique()}
        for col, prefix, unit in (("latency_ms", "latency", "ms"),
                                  ("throughput", "throughput", "items_per_s")):
            v = g[col].dropna().to_numpy(dtype=float)
            low, high = bootstrap_median_ci(v, rng, resamples, level)
            row[f"{prefix}_median_{unit}"] = float(np.median(v)) if v.size else math.nan
            row[f"{prefix}_ci_low_{unit}"] = low
            row[f"{prefix}_ci_high_{unit}"] = high
        rows.append(row)
    return pd.DataFrame(rows)


def _sentence(v_group, best, metric, clear, pct, p, adjusted, several, min_p, alpha) -> str:
    p_txt = f"p={p:.3f}" + (f", Holm-adjusted p={adjusted:.3f}" if several else "")
    if clear:
        what = "faster" if metric == "latency" else "higher in throughput"
        return f"{best} is {what} than {v_group} by {pct:.1f} % ({TEST_NAME}, {p_txt})"
    text = f"{best} vs {v_group}: no clear difference ({TEST_NAME}, {p_txt})"
    if min_p >= alpha:
        text += (f"; with these runs per group p cannot go below {min_p:.3f}, so only more "
                 f"runs can tell")
    return text


def _verdicts(runs, table, by, metric, rng, resamples, alpha) -> list:
    col = "latency_ms" if metric == "latency" else "throughput"
    med = f"{METRICS[metric][0]}_median_" + ("ms" if metric == "latency" else "items_per_s")
    higher = METRICS[metric][2]
    judged = table[table[med].notna()]
    if len(judged) < 2:
        raise CompareError(f"fewer than 2 groups by {by} have a {metric} to compare "
                           f"({', '.join(map(str, judged[by])) or 'none'})")
    best = judged.loc[judged[med].idxmax() if higher else judged[med].idxmin(), by]
    values = {k: g[col].dropna().to_numpy(dtype=float) for k, g in runs.groupby("group")}
    others = [k for k in judged[by] if k != best]
    tests = [permutation_test(values[best], values[k], rng, resamples) for k in others]
    adjusted = holm([t[0] for t in tests]) if len(tests) > 1 else [t[0] for t in tests]
    out = []
    for k, (p, method, min_p), adj in zip(others, tests, adjusted):
        b, o = float(np.median(values[best])), float(np.median(values[k]))
        pct = (b - o) / o * 100 if higher else (o - b) / o * 100
        clear = bool(adj < alpha)
        text = _sentence(k, best, metric, clear, pct, p, adj, len(tests) > 1, min_p, alpha)
        out.append(Verdict(k, best, metric, clear, best if clear else "", pct, p, adj, method,
                           min_p, text))
    return out


def _with_verdicts(table: pd.DataFrame, by: str, verdicts: list) -> pd.DataFrame:
    table = table.copy()
    table["compared_with"], table["difference_pct"] = "", math.nan
    table["p_value"], table["p_adjusted"], table["verdict"] = math.nan, math.nan, ""
    for v in verdicts:
        i = table.index[table[by] == v.group][0]
        table.loc[i, ["compared_with", "verdict"]] = [v.against, v.text]
        table.loc[i, ["difference_pct", "p_value", "p_adjusted"]] = [v.difference_pct, v.p_value,
                                                                     v.p_adjusted]
    return table


def compare(files, by: str = "placement", metric: str = "latency", resamples: int = 10000,
            seed: int = 0, ci: float = 0.95, alpha: float = 0.05) -> CompareResult:
    """Gather the pipeline runs of ``files`` (paths of results files), group them ``by``
    placement, transport, serialization or scenario and compare the groups on ``metric``
    (``latency`` or ``throughput``); see the module's docstring for every number. Raises
    :class:`CompareError` on a missing file, a file with no runs, an unknown key or metric, or
    fewer than 2 groups."""
    files = [os.fspath(f) for f in ([files] if isinstance(files, (str, os.PathLike)) else files)]
    if by not in BY_KEYS:
        raise CompareError(f"--by {by!r}: unknown key (one of {', '.join(BY_KEYS)})")
    if metric not in METRICS:
        raise CompareError(f"--metric {metric!r}: unknown metric (one of {', '.join(METRICS)})")
    if not files:
        raise CompareError("no results files given")
    if resamples < 1 or not 0 < ci < 1 or not 0 < alpha < 1:
        raise CompareError("--resamples must be >= 1, --ci and --alpha between 0 and 1")
    runs, not_pipeline, incomplete = _gather(files, by)
    if runs.empty:
        skipped = _notes(runs, by, not_pipeline, incomplete)
        raise CompareError(f"no complete pipeline runs in {', '.join(files)}"
                           + (f" ({'; '.join(skipped)})" if skipped else ""))
    if runs.group.nunique() < 2:
        only = runs.group.iloc[0]
        raise CompareError(f"only one group by {by} ({only!r}, {len(runs)} run(s)): nothing to "
                           f"compare; try another --by ({', '.join(k for k in BY_KEYS if k != by)})")
    rng = np.random.default_rng(seed)
    table = _group_rows(runs, by, rng, resamples, ci)
    verdicts = _verdicts(runs, table, by, metric, rng, resamples, alpha)
    settings = {"resamples": resamples, "seed": seed, "ci": ci, "alpha": alpha}
    return CompareResult(by, metric, _with_verdicts(table, by, verdicts), verdicts, runs,
                         _notes(runs, by, not_pipeline, incomplete), files, settings)


# --- output ----------------------------------------------------------------------------------


def _num(v: float) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.4g}"


def _ci(low: float, high: float) -> str:
    return "n/a" if math.isnan(low) else f"[{_num(low)}, {_num(high)}]"


def _text(c: CompareResult) -> str:
    s = c.settings
    level = f"{s['ci'] * 100:g} %"
    header = [c.by, "runs", "latency median (ms)", f"{level} CI (ms)",
              "throughput median (items/s)", f"{level} CI (items/s)"]
    rows = [[str(r[c.by]), str(r["runs"]), _num(r["latency_median_ms"]),
             _ci(r["latency_ci_low_ms"], r["latency_ci_high_ms"]),
             _num(r["throughput_median_items_per_s"]),
             _ci(r["throughput_ci_low_items_per_s"], r["throughput_ci_high_items_per_s"])]
            for r in c.table.to_dict("records")]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = lambda cells: "  ".join(  # noqa: E731  numbers right-aligned, names left
        x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(cells, widths))).rstrip()
    methods = sorted({v.method for v in c.verdicts})
    lines = [f"{len(c.runs)} pipeline runs from {len(c.files)} file(s), by {c.by}: per group the "
             f"median of the runs' mean item latency and throughput, with a {level} bootstrap CI "
             f"of the median ({s['resamples']} resamples, seed {s['seed']})", "",
             fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows), "",
             f"Verdict on {c.metric} ({TEST_NAME}, two-sided, {'; '.join(methods)}; "
             f"clear when p < {s['alpha']:g}):"]
    lines += [f"  {v.text}" for v in c.verdicts]
    lines += [f"Note: {n}" for n in c.notes]
    return "\n".join(lines) + "\n"


def _clean(v):
    """JSON has no NaN: None instead; numpy scalars as Python ones."""
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _json(c: CompareResult) -> dict:
    groups = [{k: _clean(v) for k, v in row.items()} for row in c.table.to_dict("records")]
    verdicts = [{k: _clean(v) for k, v in vars(v).items()} for v in c.verdicts]
    return {"by": c.by, "metric": c.metric, "test": f"{TEST_NAME} (two-sided)",
            "ci": f"bootstrap percentile CI of the median, level {c.settings['ci']}",
            "settings": c.settings, "files": c.files, "groups": groups, "verdicts": verdicts,
            "notes": c.notes, "runs": [{k: _clean(v) for k, v in row.items()}
                                       for row in c.runs.to_dict("records")]}


def _write(text: str, out: str | None, force: bool) -> None:
    if not out:
        sys.stdout.write(text)
        return
    if os.path.isdir(out):
        raise CompareError(f"-o {out}: is a directory; name a file")
    try:
        with open(out, "w" if force else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise CompareError(f"-o {out}: the file exists; it is never overwritten unless --force"
                           ) from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="mpipe compare",
        description="Gather the pipeline runs of many results files (e.g. one per Slurm array "
                    "task) into one table: per group the number of runs, the median of each "
                    "run's mean item latency (ms) and throughput (items/s) with a bootstrap CI "
                    f"of the median, and a verdict from a {TEST_NAME}.")
    p.add_argument("files", nargs="+", metavar="FILE", help="HDF5 results files")
    p.add_argument("--by", default="placement", choices=BY_KEYS,
                   help="what makes a group (default placement)")
    p.add_argument("--metric", default="latency", choices=list(METRICS),
                   help="what the verdict compares (default latency)")
    p.add_argument("--format", default="text", choices=["text", "csv", "json"])
    p.add_argument("-o", "--out", help="write here instead of stdout; an existing file is "
                   "refused unless --force")
    p.add_argument("--force", action="store_true", help="replace an existing -o file")
    p.add_argument("--resamples", type=int, default=10000,
                   help="bootstrap resamples and random relabellings (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--ci", type=float, default=0.95, help="CI level (default 0.95)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="a difference is clear when p < alpha (default 0.05)")
    a = p.parse_args(argv)
    try:
        c = compare(a.files, by=a.by, metric=a.metric, resamples=a.resamples, seed=a.seed,
                    ci=a.ci, alpha=a.alpha)
        text = {"text": c.text, "csv": c.to_csv, "json": c.to_json}[a.format]()
        _write(text, a.out, a.force)
    except CompareError as e:
        print(f"mpipe compare: error: {e}", file=sys.stderr)
        return 2
    if a.out:
        print(f"Wrote {a.out} ({a.format}, {len(c.table)} groups by {a.by})")
    return 0


class _CallableModule(types.ModuleType):
    """``mpipe_analysis.compare`` is this module (``python -m mpipe_analysis.compare``) and is
    also called as a function (``mpipe_analysis.compare(files, by=...)``): importing a submodule
    sets the package's attribute of that name to the module, so a function of the same name in
    the package would be replaced by it."""

    def __call__(self, *args, **kwargs) -> CompareResult:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
