"""Figures that answer "should I distribute?". Every function returns a matplotlib Figure
(made without pyplot: nothing is shown, no display is needed; ``fig.savefig("x.png")``). Figures read in grayscale too:
categories differ by hatch, marker and line style, not by color alone.

- :func:`timeline` - a Gantt chart per rank of a few items: compute, waiting, serialize /
  deserialize on the rank's MPI thread, messages as arrows, host boundaries.
- :func:`edge_overhead` - per edge, the mean cost of a hop split into hand-off, serialize, wire,
  deserialize and the queue at the consumer (stacked bars, µs), with the compute/communication
  ratio and the article's verdict.
- :func:`local_vs_distributed` - item latency and throughput of runs of one pipeline, with the
  critical-path bound, the throughput bound and the model's prediction.
- :func:`bench` - `mpipe bench`: one-way latency and bandwidth against message size per tier and
  method, raw MPI as the baseline (log axes).
- :func:`amdahl` - measured speed-up against the number of ranks next to Amdahl, the article's
  1/[(1-P)+P/N+C*N] and the alpha-beta per-message model.
- :func:`farm` - throughput against replicas for a farm, with its bound and ideal scaling.
- :func:`break_even` - `mpipe sweep --break-even`: local and distributed against the swept
  parameter and where they cross (see :mod:`mpipe_analysis.sweep` for the layout it reads).
- :func:`comm_graph` - stage instances in rank boxes in host columns, arrows between them as
  wide as the bytes they carried, coloured and labelled by the mean hop overhead.
- :func:`latency_tolerance` - a sweep over ``--emulate-link latency=``: slowdown against the
  added link latency per placement, measured and predicted, with 1 % and 10 % guides.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import pandas as pd  # noqa: E402

from . import metrics  # noqa: E402
from .load import Run, unique_labels  # noqa: E402

__all__ = [
    "timeline",
    "edge_overhead",
    "local_vs_distributed",
    "bench",
    "amdahl",
    "farm",
    "break_even",
    "comm_graph",
    "graph_layout",
    "latency_tolerance",
    "tolerance_attrs",
    "STYLE",
]

# Okabe-Ito colors (color-blind safe) with hatches so the categories survive grayscale.
STYLE = {
    "compute": dict(facecolor="#1f3b63", edgecolor="#1f3b63", hatch=""),
    "waiting": dict(facecolor="#f2f2f2", edgecolor="#7a7a7a", hatch="...."),
    "handoff": dict(facecolor="#cc79a7", edgecolor="#5a2a48", hatch="--"),
    "serialize": dict(facecolor="#e69f00", edgecolor="#6b4a00", hatch="////"),
    "wire": dict(facecolor="#56b4e9", edgecolor="#1d4f6e", hatch="xx"),
    "deserialize": dict(facecolor="#009e73", edgecolor="#00432f", hatch="\\\\\\\\"),
    "queue": dict(facecolor="#ffffff", edgecolor="#555555", hatch="oo"),
}
LABELS = {
    "compute": "compute (stage kernel)",
    "waiting": "waiting (input arrived, stage not started)",
    "handoff": "hand-off (producer done -> comm. thread / in-memory delivery)",
    "serialize": "serialize",
    "wire": "wire (one-way, clock-corrected)",
    "deserialize": "deserialize",
    "queue": "queue at consumer (incl. join wait)",
}
METHOD_STYLE = {
    "raw-mpi": dict(color="black", linestyle="-", linewidth=2.4),
    "boost": dict(color="#d55e00", linestyle="--", linewidth=1.6),
    "datatype": dict(color="#0072b2", linestyle="-.", linewidth=1.6),
    "raw": dict(color="#009e73", linestyle=":", linewidth=2.0),
    "in-memory": dict(color="#7a7a7a", linestyle=(0, (1, 1, 4, 1)), linewidth=1.6),
}
TIER_MARKER = {"same-rank": "s", "same-host": "o", "cross-host": "^"}

# Figures are made with matplotlib.figure.Figure, never pyplot: no backend, no display and no
# global state needed (savefig picks Agg / SVG itself; notebooks show them inline).
matplotlib.rcParams.update({"hatch.linewidth": 0.6, "font.size": 9, "axes.titlesize": 10})


def _fig(w: float, h: float, ncols: int = 1):
    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _legend_patches(keys):
    return [Patch(label=LABELS[k], **STYLE[k]) for k in keys]


def _legend_below(fig, ax, handles=None, ncol=3):
    """A legend a fixed distance under the axes' tick labels and x label."""
    from matplotlib.transforms import offset_copy

    kw = dict(handles=handles) if handles is not None else {}
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-30, units="points"),
              ncol=ncol, fontsize=7.5, frameon=False, **kw)


def _bytes(n: int) -> str:
    for unit, k in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k and n % k == 0:
            return f"{n // k} {unit}"
    return f"{n} B"


def _empty(ax, text: str):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# --- timeline ------------------------------------------------------------------------------------


def timeline(run: Run, items=None, max_items: int = 3) -> Figure:
    """Gantt chart of ``items`` (default: the first ``max_items`` items with rows) on every rank.

    Rows, grouped by rank and ranks by host: the rank's MPI thread (serialize and deserialize
    slices) and one row per stage thread (replica) on the rank (waiting, then compute). Arrows
    are messages (posted -> received). The source's row marks each item's emission (|>) and
    completion (<|). x: ms since the first shown item was emitted, on rank 0's clock."""
    ev, msgs, stages, ranks = run.events, run.messages, run.stages, run.ranks
    fig, ax = _fig(11, 4)
    if ev.empty:
        _empty(ax, f"run {run.id}: no events (a benchmark run?)")
        return fig
    all_items = sorted(ev.item.unique())
    if items is None:
        items = all_items[:max_items]
    items = set(int(i) for i in items)
    ev = ev[ev.item.isin(items)]
    msgs = msgs[msgs.item.isin(items)] if not msgs.empty else msgs
    src = run.source
    t0 = ev.loc[ev.stage == src, "started_ns"].min()
    if not np.isfinite(t0):
        t0 = ev.started_ns.min()

    def ms(v):
        return (np.asarray(v, dtype=float) - t0) / 1e6

    host_of = dict(zip(ranks["rank"], ranks["host"])) if not ranks.empty else {}
    # Rows: per rank, the MPI thread (only with messages) and each stage instance on it.
    instances = (
        ev[["rank", "stage", "replica"]].drop_duplicates().sort_values(["rank", "stage", "replica"])
    )
    names = dict(zip(stages.id, stages.name))
    reps = dict(zip(stages.id, stages.replicas))
    rank_list = sorted(set(instances["rank"]) | set(msgs.src_rank if not msgs.empty else []) |
                       set(msgs.dst_rank if not msgs.empty else []))
    rows, row_of, mpi_row = [], {}, {}
    for r in rank_list:
        if not msgs.empty and ((msgs.src_rank == r) | (msgs.dst_rank == r)).any():
            mpi_row[r] = len(rows)
            rows.append((r, f"rank {r}  MPI thread"))
        for inst in instances[instances["rank"] == r].itertuples():
            label = names[inst.stage] + (f"#{inst.replica}" if reps[inst.stage] > 1 else "")
            row_of[(r, inst.stage, inst.replica)] = len(rows)
            rows.append((r, f"rank {r}  {label}"))
    fig.set_size_inches(11, 1.4 + 0.32 * len(rows))
    h = 0.7
    for e in ev.itertuples():
        y = row_of[(e.rank, e.stage, e.replica)]
        if e.stage == src:
            ax.plot(ms(e.started_ns), y, marker=">", color="black", markersize=7, linestyle="")
            ax.plot(ms(e.received_ns), y, marker="<", color="black", markersize=7, linestyle="")
            ax.annotate(f"{e.item}", (ms(e.started_ns), y), xytext=(2, 5),
                        textcoords="offset points", fontsize=7)
            continue
        wait = (e.started_ns - e.received_ns) / 1e6
        if wait > 0:
            ax.broken_barh([(ms(e.received_ns), wait)], (y - h / 2, h), **STYLE["waiting"])
        ax.broken_barh([(ms(e.started_ns), (e.finished_ns - e.started_ns) / 1e6)],
                       (y - h / 2, h), **STYLE["compute"])
    for m in msgs.itertuples() if not msgs.empty else []:
        ys, yd = mpi_row[m.src_rank], mpi_row[m.dst_rank]
        ax.broken_barh([(ms(m.send_start_ns), max(m.serialize_ns, 1) / 1e6)],
                       (ys - h / 2, h), **STYLE["serialize"])
        ax.broken_barh([(ms(m.received_ns), max(m.deserialize_ns, 1) / 1e6)],
                       (yd - h / 2, h), **STYLE["deserialize"])
        ax.annotate("", xy=(ms(m.received_ns), yd), xytext=(ms(m.posted_ns), ys),
                    arrowprops=dict(arrowstyle="->", color="#444444", lw=0.6, alpha=0.8))
    # Host boundaries (thick, labelled) and rank boundaries (thin dashed).
    prev_rank, prev_host = None, None
    for i, (r, _) in enumerate(rows):
        host = host_of.get(r, "?")
        if prev_rank is not None and r != prev_rank:
            if host != prev_host:
                ax.axhline(i - 0.5, color="black", linewidth=2.0)
            else:
                ax.axhline(i - 0.5, color="#999999", linewidth=0.6, linestyle="--")
        if host != prev_host:
            ax.text(0.998, i - 0.45, f"host {host}", transform=ax.get_yaxis_transform(),
                    fontsize=8, va="top", ha="right", fontweight="bold",
                    bbox=dict(facecolor="white", edgecolor="black", linewidth=0.6, pad=1.5))
        prev_rank, prev_host = r, host
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for _, label in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("time since the first shown item was emitted (ms, rank 0's clock)")
    ax.set_ylabel("rank and thread")
    shown = ", ".join(str(i) for i in sorted(items))
    ax.set_title(f"Timeline of {run.scenario} - {run.label} (run {run.id}), items {shown}\n"
                 f"clock error bound {run.number('clock_error_max_ns') / 1e3:.3g} µs")
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    handles = _legend_patches(["compute", "waiting", "serialize", "deserialize"])
    from matplotlib.lines import Line2D

    handles += [
        Line2D([], [], color="#444444", lw=0.8, marker=">", markersize=4, label="message (posted -> received)"),
        Line2D([], [], color="black", marker=">", linestyle="", label="item emitted"),
        Line2D([], [], color="black", marker="<", linestyle="", label="item completed"),
    ]
    _legend_below(fig, ax, handles=handles, ncol=4)
    return fig


# --- per-edge overhead ---------------------------------------------------------------------------


def edge_overhead(run: Run) -> Figure:
    """Per edge, the mean cost of one hop as stacked horizontal bars (µs): hand-off, serialize,
    wire, deserialize (negative one-way times, i.e. clock error, drawn as 0), labelled with the
    edge's compute/communication ratio and the article's verdict; beside it, on its own axis, the
    queue at the consumer (input available to the stage starting; a join waits there for its
    slowest input, which would dwarf the hop itself)."""
    costs = metrics.edge_costs(run)
    fig = Figure(figsize=(12, 1.9 + 0.38 * max(len(costs), 1)), dpi=110, layout="constrained")
    ax, aq = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    if costs.empty:
        _empty(ax, f"run {run.id}: no edges")
        _empty(aq, "")
        return fig
    parts = ["handoff", "serialize", "wire", "deserialize"]
    cols = {"handoff": "handoff_us", "serialize": "serialize_us", "wire": "wire_us",
            "deserialize": "deserialize_us"}
    y = np.arange(len(costs))
    left = np.zeros(len(costs))
    for part in parts:
        vals = np.clip(costs[cols[part]].fillna(0).to_numpy(dtype=float), 0, None)
        ax.barh(y, vals, left=left, height=0.7, label=LABELS[part], linewidth=0.6, **STYLE[part])
        left += vals
    for yi, row in zip(y, costs.itertuples()):
        note = f"  ratio {metrics.fmt_ratio(row.ratio)}: {row.verdict}"
        if row.unreliable:
            note += f" (!: one-way below clock error ±{row.clock_error_us:.3g} µs)"
        ax.text(left[yi], yi, note, va="center", fontsize=7.5)
    queue = np.clip(costs.queue_us.fillna(0).to_numpy(dtype=float), 0, None) / 1e3
    aq.barh(y, queue, height=0.7, label=LABELS["queue"], linewidth=0.6, **STYLE["queue"])
    aq.set_xlabel("queue at consumer (ms)")
    aq.set_title("waiting before the stage starts", fontsize=9)
    aq.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{n} ({t}, {s})" for n, t, s in
                        zip(costs.name, costs.tier, costs.serialization)], fontsize=8)
    ax.set_ylim(len(costs) - 0.5, -0.5)
    ax.set_xlim(0, max(left.max(), 1e-9) * (1.9 if costs.unreliable.any() else 1.5))
    ax.set_xlabel("mean cost of one hop per item (µs): producer done -> input available")
    ax.set_ylabel("edge (tier, serialization)")
    ax.set_title(f"Cost of each hop - {run.scenario}, {run.label} (run {run.id})\n"
                 f"ratio = work the hop serves / hop cost: > {metrics.rule_of(run).helps_above:g} "
                 f"{metrics.rule_of(run).helps}, < {metrics.rule_of(run).hurts_below:g} "
                 f"{metrics.rule_of(run).hurts} (the article's rule of thumb)")
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    _legend_below(fig, ax, handles=_legend_patches(parts + ["queue"]), ncol=3)
    return fig


# --- local vs distributed ------------------------------------------------------------------------


def _run_style(run: Run) -> dict:
    if run.is_local:
        return dict(facecolor="#bdbdbd", edgecolor="black", hatch="")
    if run.emulated_link:
        return dict(facecolor="white", edgecolor="black", hatch="xxx")
    return dict(facecolor="#56b4e9", edgecolor="black", hatch="///")


def local_vs_distributed(runs, name: str | None = None) -> Figure:
    """Runs of one pipeline side by side: mean item latency (bars; whiskers min-max) with the
    critical-path bound (dashed line) and the model's prediction (diamonds, where stored), and
    steady-state throughput (bars) with each run's throughput bound (thick ticks). Bar fill
    says local (gray), distributed (hatched ///) or distributed over an emulated link (xxx).
    ``name``: the pipeline's name in the title (default the spec's name)."""
    runs = list(runs)
    # Latency above throughput, both over the full width (one shared x axis): each run gets
    # 1/n of the width for its label, wrapped to fit (rotated only when very many runs).
    fig = Figure(figsize=(11, 8.2), dpi=110, layout="constrained")
    a1, a2 = fig.subplots(2, 1, sharex=True)
    if not runs:
        _empty(a1, "no pipeline runs")
        _empty(a2, "no pipeline runs")
        return fig
    x = np.arange(len(runs))
    lat = np.array([r.latency_ms for r in runs])
    lo = np.array([r.number("latency_min_ms") for r in runs])
    hi = np.array([r.number("latency_max_ms") for r in runs])
    err = np.vstack([np.nan_to_num(lat - lo), np.nan_to_num(hi - lat)])
    for xi, r, v in zip(x, runs, lat):
        a1.bar(xi, v, width=0.65, linewidth=0.8, **_run_style(r))
    a1.errorbar(x, lat, yerr=err, fmt="none", ecolor="black", capsize=4, linewidth=0.9)
    crit = runs[0].number("critical_path_ms")
    if not math.isnan(crit):
        a1.axhline(crit, color="black", linestyle="--", linewidth=1.2,
                   label=f"critical-path bound {crit:.3g} ms")
    pred = np.array([r.number("predicted_latency_ms") for r in runs])
    if np.isfinite(pred).any():
        a1.plot(x, pred, marker="D", linestyle="", color="#d55e00", markeredgecolor="black",
                markersize=7, label="model's prediction")
    top = np.nanmax(np.concatenate([hi, lat, pred, [crit if not math.isnan(crit) else 0]]))
    a1.set_ylim(0, (top if np.isfinite(top) and top > 0 else 1) * 1.45)  # room for the legend
    a1.set_ylabel("item latency (ms): mean, whiskers min-max")
    a1.set_title("Item latency (lower is better)")
    thr = np.array([r.throughput for r in runs])
    bound = np.array([r.number("throughput_bound_items_per_s") for r in runs])
    for xi, r, v in zip(x, runs, thr):
        a2.bar(xi, 0 if math.isnan(v) else v, width=0.65, linewidth=0.8, **_run_style(r))
    fb = np.isfinite(bound)
    if fb.any():
        a2.plot(x[fb], bound[fb], marker="_", markersize=28, markeredgewidth=2.5, linestyle="",
                color="black", label="throughput bound")
    a2.set_ylabel("steady-state throughput (items/s)")
    a2.set_title("Throughput (higher is better)")
    labels = _run_tick_labels(runs)
    rotate = len(runs) > 12
    for a in (a1, a2):
        a.set_xticks(x)
        a.grid(axis="y", color="#dddddd", linewidth=0.5)
    a2.set_xticklabels(labels, rotation=90 if rotate else 0, ha="center", fontsize=7.5)
    a2.set_xlabel("run (setting; start time HHMMSS, UTC)")
    kinds = [Patch(label="local (one rank, in memory)", **_run_style_dummy("local")),
             Patch(label="distributed (MPI)", **_run_style_dummy("dist")),
             Patch(label="distributed, emulated link (what-if)", **_run_style_dummy("emu"))]
    h1, _ = a1.get_legend_handles_labels()
    a1.legend(handles=h1 + kinds, fontsize=7, loc="upper left")
    h2, _ = a2.get_legend_handles_labels()
    if h2:
        a2.legend(handles=h2, fontsize=7, loc="upper left", framealpha=0.9)
    a2.set_ylim(0, max(np.nanmax(np.where(np.isfinite(bound), bound, 0)),
                       np.nanmax(np.nan_to_num(thr)), 1e-9) * 1.35)
    fig.suptitle(f"Local vs distributed: {name or runs[0].scenario} "
                 f"(time scale {runs[0].time_scale:g}, {len(runs)} runs)")
    return fig


def _run_tick_labels(runs, width_in: float = 9.6) -> list:
    """Tick labels of runs side by side: the unique label and the start time (HHMMSS), wrapped
    to the width each run gets on a ``width_in`` wide axis so that neighbours never overlap
    (about 17 characters per inch at 7.5 pt; at least 14 per line, the axis is rotated past
    12 runs)."""
    import textwrap

    per_run = width_in / max(len(runs), 1)
    chars = max(14, int(per_run * 17) - 2)
    out = []
    for r, lab in zip(runs, unique_labels(runs)):
        twin = r.id in lab  # a label other runs share: the time to the ms (and -k) tells apart
        text = "\n".join(textwrap.wrap(r.label, chars, break_long_words=True,
                                       break_on_hyphens=False))
        out.append(text + f"\n{r.id[9:] if twin else r.id[9:15]}")
    return out


def _run_style_dummy(kind: str) -> dict:
    return {
        "local": dict(facecolor="#bdbdbd", edgecolor="black", hatch=""),
        "dist": dict(facecolor="#56b4e9", edgecolor="black", hatch="///"),
        "emu": dict(facecolor="white", edgecolor="black", hatch="xxx"),
    }[kind]


# --- bench ---------------------------------------------------------------------------------------


def bench(run: Run) -> Figure:
    """`mpipe bench` results: one-way latency (µs) and streaming bandwidth (MB/s) against message
    size (B), log axes (0 B drawn at the left edge of a symmetric-log axis). One line per tier x
    method: line style and color by method (raw MPI thick solid black), marker by tier
    (square same-rank, circle same-host, triangle cross-host)."""
    b = run.bench
    fig, (a1, a2) = _fig(11, 4.6, 2)
    if b.empty:
        _empty(a1, f"run {run.id}: no bench rows")
        _empty(a2, "")
        return fig
    nonzero = b.size_bytes[b.size_bytes > 0]
    zero_at = float(nonzero.min()) / 8 if not nonzero.empty else 1.0  # where 0 B is drawn

    def xs(sizes):
        return np.where(np.asarray(sizes, float) > 0, np.asarray(sizes, float), zero_at)

    for (tier, method), g in b.groupby(["tier", "method"], sort=False):
        g = g.sort_values("size_bytes")
        style = dict(METHOD_STYLE.get(method, {}))
        style.update(marker=TIER_MARKER.get(tier, "x"), markersize=5, label=f"{tier} / {method}")
        a1.plot(xs(g.size_bytes), g.latency_us, **style)
        bw = g[g.size_bytes > 0]
        a2.plot(bw.size_bytes, bw.bandwidth_mb_s.where(bw.bandwidth_mb_s > 0), **style)
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.grid(True, which="major", color="#dddddd", linewidth=0.5)
    ticks = [zero_at] + sorted(set(int(v) for v in nonzero))
    a1.set_xticks(ticks)
    a1.set_xticklabels(["0"] + [_bytes(int(t)) for t in ticks[1:]], fontsize=7.5)
    a2.set_xticks(ticks[1:])
    a2.set_xticklabels([_bytes(int(t)) for t in ticks[1:]], fontsize=7.5)
    a1.set_xlabel("message size (log; 0 B drawn at the left)")
    a2.set_xlabel("message size (log)")
    a1.set_ylabel("one-way latency (µs, median)")
    a1.set_title("Latency per message (lower is better)")
    a2.set_ylabel("bandwidth (MB/s = 10^6 B/s)")
    a2.set_title("Streaming bandwidth (higher is better)")
    a1.legend(fontsize=7, ncol=1, loc="upper left")
    fig.suptitle(f"Communication benchmark: run {run.id}, {run.world_size} ranks, "
                 f"transport {run.attr('transport', '?')}", fontsize=9)
    return fig


# --- Amdahl --------------------------------------------------------------------------------------


def amdahl(runs, model: "metrics.MessageModel | None" = None, n_max: int = 32,
           name: str | None = None) -> Figure:
    """Speed-up against N. N of a run = the ranks its stages occupied; its measured speed-up =
    T1 (every stage's work one after another) / mean item latency. Curves: plain Amdahl
    1/[(1-P)+P/N]; the article's 1/[(1-P)+P/N+C*N] with C = a hop's measured mean cost / T1 (from
    the runs' remote edges; the alpha-beta message when none crossed ranks); the per-message
    alpha-beta model T1/(T1(1-P)+T1 P/N+(N-1) message) of `mpipe predict` when ``model`` (from a
    bench or calibration run) is given; and the ceiling 1/(1-P) = T1 / critical path.
    ``name``: the pipeline's name in the title (default the spec's name)."""
    runs = [r for r in runs if r.is_pipeline]
    fig, ax = _fig(8, 4.8)
    if not runs:
        _empty(ax, "no pipeline runs")
        return fig
    inp = metrics.amdahl_inputs(runs[0])
    n = np.unique(np.round(np.logspace(0, math.log10(n_max), 60)).astype(int))
    ax.plot(n, metrics.amdahl(inp.p, n), color="black", linestyle="-", linewidth=1.6,
            label=f"Amdahl 1/[(1-P)+P/N], P = {inp.p:.2f}")
    hop_us = []
    for r in runs:
        c = metrics.edge_costs(r)
        c = c[(c.remote > 0) & (c.overhead_us > 0)]
        hop_us += list(c.overhead_us)
    message_ms = float(np.mean(hop_us)) / 1e3 if hop_us else math.nan
    source = "measured mean hop"
    if math.isnan(message_ms) and model is not None:
        message_ms, source = float(model.message_ms(inp.bytes)), "alpha-beta message"
    if not math.isnan(message_ms) and inp.t1_ms > 0:
        c = message_ms / inp.t1_ms
        ax.plot(n, metrics.amdahl(inp.p, n, c), color="#d55e00", linestyle="--", linewidth=1.6,
                label=f"article: +C*N, C = {source} {message_ms:.3g} ms / T1 = {c:.2g}")
    if model is not None and inp.t1_ms > 0:
        mm = float(model.message_ms(inp.bytes))
        ax.plot(n, metrics.amdahl_message(inp.p, n, inp.t1_ms, mm), color="#0072b2",
                linestyle="-.", linewidth=1.6,
                label=f"alpha-beta per message ({model.tier}, {model.serialization}, "
                      f"{inp.bytes:.0f} B: {mm * 1e3:.3g} µs)")
    if inp.p < 1:
        ax.axhline(1 / (1 - inp.p), color="#7a7a7a", linestyle=":", linewidth=1.4,
                   label=f"ceiling 1/(1-P) = T1/critical path = {1 / (1 - inp.p):.2f}x")
    markers = {"local": ("s", "#bdbdbd"), "dist": ("o", "#56b4e9"), "emu": ("^", "white")}
    seen = set()
    for r in runs:
        used = len(set(r.events["rank"])) if not r.events.empty else r.world_size
        sp = inp.t1_ms / r.latency_ms if r.latency_ms > 0 else math.nan
        kind = "local" if r.is_local else ("emu" if r.emulated_link else "dist")
        mk, col = markers[kind]
        lab = {"local": "measured, local", "dist": "measured, distributed",
               "emu": "measured, emulated link"}[kind]
        ax.plot(used, sp, marker=mk, color=col, markeredgecolor="black", markersize=9,
                linestyle="", label=None if kind in seen else lab, zorder=5)
        seen.add(kind)
        ax.annotate(r.placement_mode, (used, sp), xytext=(6, -3), textcoords="offset points",
                    fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (ranks the stages occupy)")
    ax.set_ylabel("speed-up over one-after-another (T1 / latency)")
    ax.set_title(f"Amdahl with communication: {name or runs[0].scenario}, T1 = {inp.t1_ms:.3g} ms, "
                 f"critical path {inp.critical_ms:.3g} ms")
    ax.grid(True, color="#dddddd", linewidth=0.5)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="best")
    return fig


# --- farms ---------------------------------------------------------------------------------------


def farm(runs) -> Figure:
    """Throughput (items/s) against the farm's replicas for runs of one pipeline that differ in
    ``--replicas``: measured (circles, solid), each run's throughput bound (squares, dashed) and
    ideal linear scaling from the smallest farm (dotted)."""
    runs = sorted((r for r in runs if r.is_pipeline), key=lambda r: r.replicas)
    fig, ax = _fig(8, 4.6)
    if not runs:
        _empty(ax, "no farm runs")
        return fig
    x = np.array([r.replicas for r in runs], dtype=float)
    y = np.array([r.throughput for r in runs])
    b = np.array([r.number("throughput_bound_items_per_s") for r in runs])
    ax.plot(x, y, marker="o", color="black", linestyle="-", linewidth=1.8, markersize=7,
            label="measured (steady state)")
    ok = np.isfinite(b)
    if ok.any():
        ax.plot(x[ok], b[ok], marker="s", color="#0072b2", linestyle="--", linewidth=1.4,
                markerfacecolor="white", label="throughput bound")
    if np.isfinite(y[0]) and x[0] > 0:
        ax.plot(x, y[0] * x / x[0], color="#7a7a7a", linestyle=":", linewidth=1.6,
                label="ideal: linear from the smallest farm")
    for xi, yi, bi in zip(x, y, b):
        if np.isfinite(yi) and np.isfinite(bi) and bi > 0:
            ax.annotate(f"{yi / bi * 100:.0f} % of bound", (xi, yi), xytext=(5, -12),
                        textcoords="offset points", fontsize=7)
    ax.set_xticks(x)
    ax.set_xlabel("replicas of the farmed stage")
    ax.set_ylabel("throughput (items/s)")
    ax.set_title(f"Farm scaling: {runs[0].scenario} ({len(runs)} runs)")
    ax.grid(True, color="#dddddd", linewidth=0.5)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    return fig


# --- break-even ----------------------------------------------------------------------------------


def break_even(run: Run) -> Figure:
    """A `mpipe sweep --break-even` run: median item latency of the local and the distributed
    placement against the work per stage (ms, log axis), each with its bootstrap CI of the median
    (band) and the model's prediction (thin line, where stored); below, the distributed
    placement's latency relative to the local one (%, 0 = break-even). When another grid
    dimension varies (:func:`mpipe_analysis.sweep.other_dimensions`: payload, serialization, ...)
    each of its values gets curves of its own (color and marker; line style says placement). The measured break-even
    (vertical dotted line, CI shaded) and the predicted one (dash-dot) are marked. Layout read:
    :mod:`mpipe_analysis.sweep`."""
    from . import sweep

    data = sweep.read(run)
    fig = Figure(figsize=(9, 6.2), dpi=110, layout="constrained")
    a1, a2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    if data is None:
        _empty(a1, f"run {run.id}: no sweep points with the expected columns")
        _empty(a2, "")
        return fig
    pts = data.points
    styles = {
        "local": dict(color="black", linestyle="-", marker="s"),
        "distributed": dict(color="#d55e00", linestyle="--", marker="o"),
    }
    others = [dict(color="#0072b2", linestyle="-.", marker="^"),
              dict(color="#009e73", linestyle=":", marker="v")]
    # Another grid dimension that varies (payload, serialization, ...): one set of curves per
    # combination of its values, never a median across them (that draws what no run measured).
    dims = sweep.other_dimensions(pts)
    combos = (list(pts.groupby(dims if len(dims) > 1 else dims[0], sort=True)) if dims
              else [((), pts)])
    palette = ["#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"]
    markers = ["o", "^", "v", "D", "P", "X", "s"]
    hurts_drawn = False
    paired = 0
    for c, (key, sub) in enumerate(combos):
        key = key if isinstance(key, tuple) else (key,)
        desc = ", ".join(f"{d}={v}" for d, v in zip(dims, key))
        curves = {}
        for k, (variant, g) in enumerate(sub.groupby("variant", sort=False)):
            g = g.groupby("work_per_stage_ms", as_index=False).median(numeric_only=True)
            g = g.sort_values("work_per_stage_ms")
            st = dict(styles.get(variant, others[k % len(others)]))
            if dims:  # color and marker by combination, line style by placement
                st.update(color=palette[c % len(palette)], marker=markers[c % len(markers)])
                if variant == "local":
                    st["markerfacecolor"] = "white"
            name = data.local if variant == "local" else data.distributed if variant == "distributed" else variant
            tag = f", {desc}" if desc else ""
            a1.plot(g.work_per_stage_ms, g.latency_median_ms, markersize=6, linewidth=1.6,
                    label=f"{variant} ({name}){tag}: measured median", **st)
            if "latency_ci_low_ms" in g and "latency_ci_high_ms" in g:
                a1.fill_between(g.work_per_stage_ms, g.latency_ci_low_ms, g.latency_ci_high_ms,
                                facecolor=st["color"], alpha=0.15, edgecolor=st["color"],
                                hatch=None if variant == "local" else "....", linewidth=0)
            if "predicted_latency_ms" in g and g.predicted_latency_ms.notna().any():
                a1.plot(g.work_per_stage_ms, g.predicted_latency_ms, color=st["color"],
                        linestyle=(0, (1, 2)), linewidth=1.0, label=f"{variant}{tag}: model")
            curves[variant] = g.set_index("work_per_stage_ms").latency_median_ms
        if "local" in curves and "distributed" in curves:
            paired += 1
            both = pd.concat([curves["local"], curves["distributed"]], axis=1, join="inner")
            both.columns = ["local", "distributed"]
            rel = (both.distributed / both.local - 1.0) * 100.0
            color = palette[c % len(palette)] if dims else "#d55e00"
            a2.plot(rel.index, rel.values, color=color, linestyle="--",
                    marker=markers[c % len(markers)] if dims else "o",
                    label="distributed vs local (measured)" + (f", {desc}" if desc else ""))
            a2.fill_between(rel.index, 0, rel.values, where=rel.values > 0, interpolate=True,
                            facecolor="#f2f2f2", edgecolor="#999999", hatch="////",
                            linewidth=0, label=None if hurts_drawn else "distributed slower")
            hurts_drawn = True
    if paired:
        a2.axhline(0, color="black", linewidth=1.0)
    else:
        _empty(a2, "no local/distributed pair in this sweep")
    rows = data.break_even.itertuples() if not data.break_even.empty else []
    predicted_seen = set()
    for k, be in enumerate(rows):
        w = getattr(be, "work_per_stage_ms", math.nan)
        style = [":", "--", (0, (3, 1, 1, 1))][k % 3]
        if sweep.finite(w):
            lo, hi = getattr(be, "ci_low_ms", math.nan), getattr(be, "ci_high_ms", math.nan)
            for a in (a1, a2):
                a.axvline(w, color="#444444", linestyle=style, linewidth=1.6)
                if sweep.finite(lo) and sweep.finite(hi):
                    a.axvspan(lo, hi, facecolor="#dddddd", alpha=0.4, linewidth=0)
            a1.annotate(f"{be.quantity}: {w:.3g} ms per stage", (w, 0.97 - 0.07 * k),
                        xycoords=("data", "axes fraction"), xytext=(4, -4),
                        textcoords="offset points", fontsize=8, va="top")
        pw = getattr(be, "predicted_work_per_stage_ms", math.nan)
        if sweep.finite(pw) and round(float(pw), 9) not in predicted_seen:
            predicted_seen.add(round(float(pw), 9))
            for a in (a1, a2):
                a.axvline(pw, color="#0072b2", linestyle="-.", linewidth=1.2)
            status = str(getattr(be, "predicted_status", "found"))
            where = f"{pw:.3g} ms" if status == "found" else f"{status} ({pw:.3g} ms)"
            a1.annotate(f"model ({be.quantity}): {where}", (pw, 0.55 - 0.07 * k),
                        xycoords=("data", "axes fraction"), xytext=(4, -4),
                        textcoords="offset points", fontsize=8, va="top", color="#0072b2")
    w = pts.work_per_stage_ms
    if (w > 0).all() and w.max() / max(w.min(), 1e-12) > 20:
        a1.set_xscale("log")
    a1.set_ylabel("item latency (ms, median)")
    a1.set_yscale("log" if (pts.latency_median_ms > 0).all() else "linear")
    a2.set_ylabel("distributed / local - 1 (%)")
    a2.set_xlabel("work per stage (ms)")
    for a in (a1, a2):
        a.grid(True, color="#dddddd", linewidth=0.5)
    a1.legend(fontsize=7)
    if a2.get_legend_handles_labels()[0]:
        a2.legend(fontsize=7)
    split = f"\none curve per {' x '.join(dims)} (other grid dimensions)" if dims else ""
    a1.set_title(f"Break-even: {run.attr('spec_name', '')} (sweep run {run.id}){split}")
    return fig


# --- communication graph -------------------------------------------------------------------------

GRAPH_PER_ROW = 4  # stage circles per row inside a rank's box


def _us(v: float) -> str:
    """µs as a short label: ``26.5 µs``, ``18.8 ms`` from 1,000 µs."""
    return f"{v / 1e3:.3g} ms" if abs(v) >= 1e3 else f"{v:.3g} µs"


def graph_layout(graph) -> dict:
    """A deterministic layout of :func:`mpipe_analysis.metrics.comm_graph`: hosts as columns (in
    rank order), each host's ranks as boxes stacked in it, each rank's stage instances as a grid
    of up to :data:`GRAPH_PER_ROW` per row. Returns ``nodes`` (node -> (x, y)), ``ranks`` (rank
    -> (x, y, w, h)) and ``hosts`` (host -> (x, y, w, h)), in data units, y growing downwards."""
    nodes, pos, rank_box, host_box = graph.nodes, {}, {}, {}
    x = 0.0
    for host, ranks in graph.hosts.items():
        width = max(min(max((nodes["rank"] == r).sum(), 1), GRAPH_PER_ROW) for r in ranks)
        y = 0.6
        for r in ranks:
            inst = nodes[nodes["rank"] == r].sort_values(["stage_id", "replica"])
            rows = max(math.ceil(len(inst) / GRAPH_PER_ROW), 1)
            for k, name in enumerate(inst.node):
                pos[name] = (x + 0.7 + k % GRAPH_PER_ROW * 1.2, y + 0.9 + k // GRAPH_PER_ROW * 1.2)
            rank_box[r] = (x + 0.15, y + 0.2, width * 1.2 + 0.1, rows * 1.2 + 0.4)
            y += rows * 1.2 + 0.8
        host_box[host] = (x, 0.0, width * 1.2 + 0.4, y)
        x += width * 1.2 + 1.0
    return dict(nodes=pos, ranks=rank_box, hosts=host_box)


def _graph_boxes(ax, graph, lay):
    from matplotlib.patches import Rectangle

    for host, (x, y, w, h) in lay["hosts"].items():
        ax.add_patch(Rectangle((x, y), w, h, facecolor="#f7f7f7", edgecolor="black", lw=1.8,
                               gid=f"host:{host}"))
        ax.text(x + 0.1, y + 0.35, f"host {host}", fontsize=9, fontweight="bold", va="center")
    for rank, (x, y, w, h) in lay["ranks"].items():
        ax.add_patch(Rectangle((x, y), w, h, facecolor="white", edgecolor="#555555", lw=0.9,
                               linestyle="--", gid=f"rank:{rank}"))
        ax.text(x + 0.08, y + 0.22, f"rank {rank}", fontsize=7.5, va="center", color="#333333",
                zorder=6, bbox=dict(facecolor="white", edgecolor="none", pad=0.5))


def _graph_nodes(ax, graph, lay):
    from matplotlib.patches import Circle

    for n in graph.nodes.itertuples():
        x, y = lay["nodes"][n.node]
        ax.add_patch(Circle((x, y), 0.38, facecolor="#e69f00" if n.source else "#56b4e9",
                            edgecolor="black", lw=1.0, zorder=4, gid=f"node:{n.node}",
                            hatch="////" if n.source else ""))
        ax.text(x, y, n.node, ha="center", va="center", fontsize=7, zorder=5,
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5))


def _graph_edges(ax, graph, lay):
    """Arrows between instances: width by bytes (sqrt-scaled to the largest), colour by the mean
    hop overhead (cividis, log), dashed in memory; labelled with µs per message. Returns the
    colour mapping (None without a timed edge)."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import FancyArrowPatch
    import matplotlib.cm as cm

    e = graph.edges
    over = e.overhead_us.to_numpy(float)
    ok = np.isfinite(over) & (over > 0)
    norm = LogNorm(vmin=over[ok].min(), vmax=max(over[ok].max(), over[ok].min() * 1.01)) \
        if ok.any() else None
    top = max(float(e.bytes.max()), 1.0) if len(e) else 1.0
    for k, row in enumerate(e.itertuples()):
        a, b = lay["nodes"][row.src], lay["nodes"][row.dst]
        color = cm.cividis(norm(over[k])) if norm is not None and ok[k] else "#999999"
        width = 0.6 + 4.4 * math.sqrt(max(row.bytes, 0.0) / top)
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=8 + 3 * width, lw=width,
                                     color=color, shrinkA=11, shrinkB=11, zorder=3,
                                     connectionstyle="arc3,rad=0.25", gid=f"edge:{k}",
                                     linestyle="-" if row.remote else "--"))
        if np.isfinite(row.overhead_us):
            mx, my = (a[0] + b[0]) / 2 + 0.25 * (b[1] - a[1]) / 2, (a[1] + b[1]) / 2 - 0.25 * (b[0] - a[0]) / 2
            ax.text(mx, my, _us(row.overhead_us), fontsize=6, ha="center", va="center",
                    zorder=6, bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=0.3))
    return norm


def comm_graph(run: Run, graph=None) -> Figure:
    """The run's communication graph (:func:`mpipe_analysis.metrics.comm_graph`, laid out by
    :func:`graph_layout`): a box per host (thick), ranks as dashed boxes inside, stage instances
    as circles (the source hatched); an arrow per producer/consumer instance pair that carried
    items, as wide as the bytes it carried (wire bytes across ranks, payload in memory: dashed),
    coloured and labelled by the mean hop overhead per message (producer done to input
    available, µs)."""
    graph = graph if graph is not None else metrics.comm_graph(run)
    lay = graph_layout(graph)
    xs = [x + w for x, _, w, _ in lay["hosts"].values()] or [1.0]
    ys = [y + h for _, y, _, h in lay["hosts"].values()] or [1.0]
    fig = Figure(figsize=(min(max(2.8 + 1.05 * max(xs), 6.0), 16), 1.6 + 0.8 * max(ys)),
                 dpi=110, layout="constrained")
    ax = fig.subplots()
    if graph.nodes.empty:
        _empty(ax, f"run {run.id}: no stages")
        return fig
    _graph_boxes(ax, graph, lay)
    _graph_nodes(ax, graph, lay)
    norm = _graph_edges(ax, graph, lay)
    if norm is not None:
        import matplotlib.cm as cm

        fig.colorbar(cm.ScalarMappable(norm=norm, cmap="cividis"), ax=ax, shrink=0.8,
                     label="mean hop overhead per message (µs, log)")
    ax.set_xlim(-0.2, max(xs) + 0.2)
    ax.set_ylim(max(ys) + 0.2, -0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    total = graph.edges.bytes[graph.edges.remote].sum() if len(graph.edges) else 0
    ax.set_title(f"Communication graph - {run.scenario}, {run.label}\n(run {run.id}; "
                 f"{_bytes(int(total))} across ranks over the measured items)\nwidth: bytes; "
                 "dashed: in memory; label: mean overhead per message", fontsize=9)
    return fig


# --- latency tolerance ---------------------------------------------------------------------------


def tolerance_attrs(run: Run) -> dict:
    """A sweep run's ``tolerance_*`` attributes (the model's predicted latency tolerance, when
    the sweep stored it), name -> value; empty when it has none."""
    return {k: v for k, v in sorted(run.attrs.items()) if str(k).startswith("tolerance_")}


def _tolerance_marks(ax, run: Run, colors: dict):
    """The sweep's own predicted tolerance (its ``latency_tolerance`` rows, newer mpipe), as a
    cross on the 1 % / 10 % guide at the predicted latency, in its placement's colour."""
    t = run.table("latency_tolerance")
    need = {"placement", "slowdown_pct", "predicted_ms"}
    if t.empty or not need <= set(t.columns):
        return
    shown = False
    for r in t.itertuples():
        if np.isfinite(r.predicted_ms) and r.predicted_ms > 0 and str(r.placement) in colors:
            ax.plot(r.predicted_ms, 1 + r.slowdown_pct / 100, marker="X", markersize=9,
                    color=colors[str(r.placement)], markeredgecolor="black", linestyle="",
                    label=None if shown else "model's tolerance (the sweep's latency_tolerance)")
            shown = True


def latency_tolerance(run: Run) -> Figure:
    """A sweep over ``--emulate-link latency=``: per placement (and value of another varying grid
    dimension) the median item latency as a slowdown over the same placement without a link
    (1 = none; band: the median's bootstrap CI over that median) against the added link latency
    (ms), the model's predicted slowdown (dotted, where stored), and guides at 1.01 and 1.10 (the
    1 % and 10 % the latency tolerance is given for). Numeric ``tolerance_*_ms`` attributes, when
    the sweep has them, are marked as vertical lines."""
    from . import sweep

    data = sweep.read(run)
    fig, ax = _fig(8.5, 4.8)
    curves = (metrics.tolerance_curves(data.points, sweep.other_dimensions(data.points))
              if data is not None else pd.DataFrame())
    if curves.empty:
        _empty(ax, f"run {run.id}: no sweep over --emulate-link latency with a no-link point")
        return fig
    keys = [c for c in curves.columns if c == "placement" or (
        c in sweep.GRID_DIMENSIONS and c != "emulated_link" and curves[c].nunique() > 1)]
    palette = ["#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#000000"]
    colors = {}
    for k, (key, g) in enumerate(curves.groupby(keys if len(keys) > 1 else keys[0], sort=False)):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(f"{d}={v}" if d != "placement" else str(v) for d, v in zip(keys, key))
        st = dict(color=palette[k % len(palette)], marker="osD^v"[k % 5])
        colors.setdefault(str(key[0]), st["color"])
        ax.plot(g.latency_ms, g.slowdown, linewidth=1.6, label=f"{name}: measured median", **st)
        ax.fill_between(g.latency_ms, g.slowdown_low, g.slowdown_high, facecolor=st["color"],
                        alpha=0.15, linewidth=0)
        if g.predicted_slowdown.notna().any():
            ax.plot(g.latency_ms, g.predicted_slowdown, color=st["color"], linestyle=(0, (1, 2)),
                    linewidth=1.2, label=f"{name}: model")
    for level, style in zip(metrics.TOLERANCE_LEVELS, ("--", "-.")):
        ax.axhline(level, color="#444444", linestyle=style, linewidth=1.0,
                   label=f"{(level - 1) * 100:.0f} % slower")
    _tolerance_marks(ax, run, colors)
    for name, v in tolerance_attrs(run).items():
        if str(name).endswith("_ms") and sweep.finite(v) and float(v) > 0:
            ax.axvline(float(v), color="#7a7a7a", linestyle=":", linewidth=1.0)
            ax.annotate(name, (float(v), 0.98), xycoords=("data", "axes fraction"), rotation=90,
                        fontsize=6.5, va="top", ha="right", color="#555555")
    lat = curves.latency_ms[curves.latency_ms > 0]
    if len(lat) and lat.max() / lat.min() > 20:
        ax.set_xscale("symlog", linthresh=float(lat.min()))
    if curves.slowdown_high.max() > 3:  # keep the 1 % and 10 % guides apart
        ax.set_yscale("log")
    ax.set_xlabel("added link latency per hop (ms, --emulate-link latency=)")
    ax.set_ylabel("slowdown: median latency / without a link")
    ax.set_title(f"Latency tolerance: {run.attr('spec_name', '')} (sweep run {run.id})")
    ax.grid(True, color="#dddddd", linewidth=0.5)
    ax.legend(fontsize=7, loc="upper left")
    return fig
