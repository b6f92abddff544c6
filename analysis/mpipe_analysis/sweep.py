"""Reading `mpipe sweep` runs (``kind`` = ``sweep``) for the break-even plot.

The layout this module reads is docs/results-schema.md's (`sweep_points`, `sweep_repeats`,
`break_even`; the run has ``kind`` = ``sweep``); the columns it uses:

- ``sweep_points``: one row per grid point. Used columns: ``point`` (int), ``placement`` (str,
  as given: pack, spread, a map); the other grid dimensions (:data:`GRID_DIMENSIONS`) when they
  vary, each combination drawn as curves of its own; ``work_per_stage_ms`` (float, ms: the mean work of the stages
  that have work, as run), ``latency_median_ms``, ``latency_ci_low_ms``,
  ``latency_ci_high_ms`` (bootstrap CI of the median), ``predicted_latency_ms`` (NaN without a
  platform), ``throughput_median_items_per_s``. Optional: ``transport``, ``payload_bytes``,
  ``serialization``, ``emulated_link``, ``repeats``, ``work_per_item_ms``, ``work_scale``.
- ``sweep_repeats``: one row per run of a point: ``point``, ``warmup`` (1: not counted),
  ``latency_mean_ms``. Optional for the plot (drawn as small dots when present).
- ``break_even`` (with ``--break-even``): one row per quantity: ``quantity`` (str), ``local``
  and ``distributed`` (placements, as in ``sweep_points.placement``), ``status`` (``found``, ...),
  ``work_per_stage_ms`` with ``ci_low_ms`` / ``ci_high_ms`` (may be +inf), and
  ``predicted_status`` / ``predicted_work_per_stage_ms``.

Anything missing makes :func:`read` return None (or an empty frame for ``break_even``), and the
report skips the plot with a note instead of failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .load import Run

__all__ = ["SweepData", "read", "is_sweep", "other_dimensions", "REQUIRED_POINT_COLUMNS",
           "GRID_DIMENSIONS"]

REQUIRED_POINT_COLUMNS = ("placement", "work_per_stage_ms", "latency_median_ms")

# Grid dimensions of `sweep_points` besides placement and the work axis (work_scale,
# time_scale, work_per_stage_ms, work_per_item_ms all follow the work grid).
GRID_DIMENSIONS = ("transport", "payload_bytes", "serialization", "emulated_link", "replicas",
                   "threads")


@dataclass
class SweepData:
    """A sweep run's tables: ``points`` (``sweep_points`` plus ``variant``: ``local``,
    ``distributed`` or the placement itself), ``repeats`` and ``break_even`` (both possibly
    empty), and the placements taken as ``local`` / ``distributed`` (None when the run has no
    break-even rows)."""

    points: pd.DataFrame
    repeats: pd.DataFrame
    break_even: pd.DataFrame
    local: str | None
    distributed: str | None


def is_sweep(run: Run) -> bool:
    """A sweep run: ``kind`` = ``sweep`` (or an unknown kind with ``sweep_points`` rows; every
    run group has the dataset, with zero rows outside sweeps)."""
    if run.kind == "sweep":
        return True
    if run.kind in ("run", "bench", "calibration") or "sweep_points" not in run.datasets:
        return False
    return not run.table("sweep_points").empty


def read(run: Run) -> SweepData | None:
    """The sweep's tables, or None when the run has none of the columns the plot needs."""
    points = run.table("sweep_points")
    if points.empty or any(c not in points for c in REQUIRED_POINT_COLUMNS):
        return None
    points = points.copy()
    repeats = run.table("sweep_repeats")
    be = run.table("break_even")
    local = distributed = None
    if not be.empty and "local" in be and "distributed" in be:
        local, distributed = str(be.local.iloc[0]), str(be.distributed.iloc[0])
    placements = list(dict.fromkeys(points.placement))
    if local is None and len(placements) == 2:
        # Without break-even rows: the first placement of a two-placement grid is the local one
        # if it is pack (mpipe sweep's convention: --placement pack,spread).
        if placements[0] == "pack" or placements[1] != "pack":
            local, distributed = placements[0], placements[1]
        else:
            local, distributed = placements[1], placements[0]
    points["variant"] = [
        "local" if p == local else "distributed" if p == distributed else str(p)
        for p in points.placement
    ]
    return SweepData(points, repeats, be, local, distributed)


def other_dimensions(points: pd.DataFrame) -> list:
    """The grid dimensions (:data:`GRID_DIMENSIONS`) that take more than one value in
    ``points``: a plot against the work must draw one curve per combination of them, never a
    median across them."""
    return [c for c in GRID_DIMENSIONS if c in points and points[c].nunique(dropna=False) > 1]


def finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
