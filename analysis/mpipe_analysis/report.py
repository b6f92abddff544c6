"""One-command report: every plot (PNG and SVG) and one self-contained HTML page that says, at the
top, whether distributing each pipeline helped and why.

    /usr/bin/python3 -m mpipe_analysis.report results/mpipe.h5 [-o DIR] [--force]
    mpipe report results/mpipe.h5 [-o DIR] [--force]          # the same, from the binary

Without -o the report goes to a new folder next to the results file,
``report-<UTC time>`` (e.g. results/report-20261124T063500Z); an existing non-empty -o folder is
refused unless --force (then files of the same names are replaced, others left alone). Prints
the path of index.html last.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import io
import math
import os
import re
import sys

__all__ = ["main", "write_report", "default_dir"]


def _die(msg: str, code: int = 2):
    print(f"mpipe report: error: {msg}", file=sys.stderr)
    raise SystemExit(code)


def _imports():
    """The heavy imports, with a clear message when a Debian package is missing."""
    missing = []
    for mod, pkg in (("numpy", "python3-numpy"), ("pandas", "python3-pandas"),
                     ("h5py", "python3-h5py"), ("matplotlib", "python3-matplotlib")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(pkg)
    if missing:
        _die(f"{sys.executable} lacks {', '.join(missing)}: apt-get install {' '.join(missing)} "
             "(or run scripts/setup.sh); use /usr/bin/python3, which sees Debian's packages")


def default_dir(results: str, now: _dt.datetime | None = None) -> str:
    """results/report-<UTC time> next to the results file; -2, -3, ... if it exists."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    base = os.path.join(os.path.dirname(os.path.abspath(results)),
                        "report-" + now.strftime("%Y%m%dT%H%M%SZ"))
    out, k = base, 2
    while os.path.exists(out):
        out, k = f"{base}-{k}", k + 1
    return out


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-") or "x"


class _Writer:
    """Saves figures as PNG + SVG and keeps the PNG bytes for embedding."""

    def __init__(self, out: str, formats=("png", "svg")):
        self.out, self.formats, self.files = out, formats, []

    def save(self, fig, name: str) -> str:
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=110)
        data = png.getvalue()
        for fmt in self.formats:
            path = os.path.join(self.out, f"{name}.{fmt}")
            if fmt == "png":
                with open(path, "wb") as f:
                    f.write(data)
            else:
                fig.savefig(path, format=fmt)
            self.files.append(path)
        return base64.b64encode(data).decode("ascii")


def _e(s) -> str:
    return html.escape(str(s))


def _num(v, digits=3, unit="") -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞"
    s = f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.0f}"
    return s + (f" {unit}" if unit else "")


def _table(frame, columns: dict, classes: str = "") -> str:
    head = "".join(f"<th>{_e(label)}</th>" for label in columns.values())
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for col in columns:
            v = row[col]
            cells.append(f"<td>{_num(v) if isinstance(v, float) else _e(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='wide'><table class=\"{classes}\"><tr>{head}</tr>{''.join(rows)}"
            "</table></div>")


def _figure(b64: str, name: str, caption: str) -> str:
    return (f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{b64}">'
            f'<figcaption>{caption} <span class="files">({_e(name)}.png, {_e(name)}.svg)'
            f"</span></figcaption></figure>")


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1250px;margin:1.5em auto;
padding:0 1em;color:#111;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #333;padding-bottom:.15em;margin-top:2em}
h3{margin-top:1.6em}
.meta{color:#555;font-size:.9em}
.verdict{border:2px solid #111;padding:.6em 1em;margin:1em 0;background:#fafafa}
.verdict p{margin:.4em 0} .headline{font-size:1.1em;font-weight:bold}
.rule{font-size:.9em;color:#333}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
.wide{overflow-x:auto;max-width:100%}
th,td{border:1px solid #999;padding:.2em .45em;text-align:left;vertical-align:top}
th{background:#e8e8e8}
td.pays::before{content:"✔ "} td.hurts::before{content:"✘ "} td.marginal::before{content:"~ "}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #ccc}
figcaption{font-size:.85em;color:#333;max-width:1100px} .files{color:#777}
.note{font-size:.9em;background:#fff8e0;border-left:4px solid #c90;padding:.3em .7em}
details{margin:.6em 0} summary{cursor:pointer;font-weight:bold}
.pop-good{background:#a6dba0} .pop-fair{background:#fdd89b} .pop-poor{background:#f4a3a3}
.pop-na{background:#eeeeee;color:#777} .pop-key{padding:0 .4em;border:1px solid #999}
td.pop-good::after{content:" ✔"} td.pop-fair::after{content:" ~"} td.pop-poor::after{content:" ✘"}
td.depth-1{padding-left:1.6em} td.depth-2{padding-left:3em}
"""

RULE = ("The article's rule of thumb: a hop's <b>compute/communication ratio</b> (the work of the "
        "service it calls, over the hop's own cost) above <b>10</b>: distribution helps, "
        "below <b>5</b>: communication hurts, in between: marginal (as mpipe stores it with "
        "every run, attributes verdict_*).")


def _edge_table(run) -> str:
    from . import metrics

    c = metrics.edge_costs(run)
    if c.empty:
        return "<p>No edges.</p>"
    # User code (newer files): what each edge carried, and no synthetic payload for an edge a
    # user stage produced (what it sent is measured: the messages' bytes).
    user = set(run.user_stages.name) if not run.user_stages.empty else set()
    typed = bool(user) or (c.data_type != "bytes").any()
    rows = []
    for r in c.itertuples():
        words = metrics.rule_of(run)
        cls = {words.helps: "pays", words.hurts: "hurts", words.marginal: "marginal"}.get(
            r.verdict, "")
        note = (f" (one-way times below the clock error ±{_num(r.clock_error_us)} µs)"
                if r.unreliable else "")
        rows.append(
            f"<tr><td>{_e(r.name)}</td><td>{_e(r.tier_split if r.tier == 'mixed' else r.tier)}"
            f"</td><td>{_e(r.transport)}</td>"
            f"<td>{_e(r.serialization)}</td>"
            + (f"<td>{_e(r.data_type)}</td>" if typed else "")
            + f"<td>{'–' if r.from_name in user else r.payload_bytes}</td>"
            + f"<td>{_num(r.wire_bytes)}</td>"
            f"<td>{_num(r.serialize_us)}</td><td>{_num(r.wire_us)}</td>"
            f"<td>{_num(r.deserialize_us)}</td><td>{_num(r.overhead_us)}</td>"
            f"<td>{_num(r.queue_us)}</td><td>{_num(r.work_ms)}</td>"
            f"<td>{_e(metrics.fmt_ratio(r.ratio))}</td><td class='{cls}'>{_e(r.verdict)}{_e(note)}</td></tr>"
        )
    head = ("<tr><th>edge</th><th>tier</th><th>transport</th><th>serialization</th>"
            + ("<th>data type</th>" if typed else "")
            + "<th>payload B</th><th>wire B</th><th>serialize µs</th><th>wire µs</th><th>deserialize µs</th>"
            "<th>overhead µs</th><th>queue µs</th><th>work served ms</th><th>ratio</th>"
            "<th>verdict</th></tr>")
    return f"<div class='wide'><table>{head}{''.join(rows)}</table></div>"


def _stage_table(run) -> str:
    """The run's stages: kernel, what user code ran (the function or the command, newer files
    only), the spec's work (for user code the model's estimate) beside the measured mean service
    time, threads, replicas and ranks."""
    stages = run.stages
    if stages.empty:
        return ""
    ev = run.events
    service = ev.groupby("stage").service_ms.mean() if not ev.empty else {}
    src = run.source
    code = (stages.function != "").any()
    pipes = "pipe_us" in stages and stages.pipe_us.notna().any()  # exec stages, newer files
    head = ("<tr><th>stage</th><th>kernel</th>" + ("<th>user code</th>" if code else "")
            + "<th>work_ms (spec)</th><th>measured ms</th>"
            + ("<th>exec pipe µs</th>" if pipes else "")
            + "<th>threads</th><th>replicas</th><th>ranks</th></tr>")
    rows = []
    for r in stages.itertuples():
        user = r.kernel in ("user", "exec")
        work = (f"{_num(r.work_ms)} (estimate)" if user and r.work_ms > 0
                else _num(r.work_ms))
        measured = "–" if r.id == src else _num(service.get(r.id, math.nan))
        ranks = getattr(r, "ranks", "") or getattr(r, "rank", "")
        rows.append(f"<tr><td>{_e(r.name)}</td><td>{_e(r.kernel)}</td>"
                    + (f"<td><code>{_e(r.function)}</code></td>" if code else "")
                    + f"<td>{work}</td><td>{measured}</td>"
                    + (f"<td>{_num(r.pipe_us)}</td>" if pipes else "")
                    + f"<td>{int(r.threads)}</td>"
                    f"<td>{int(r.replicas)}</td><td>{_e(ranks)}</td></tr>")
    note = ""
    if code:
        note = ("<p class='meta'>User code (<code>kernel: NAME</code> or <code>exec</code>, "
                "docs/stages.md): its time is measured; work_ms is only the model's estimate, "
                "and --time-scale, work_scale and --kernel do not change it.</p>")
    return f"<div class='wide'><table>{head}{''.join(rows)}</table></div>{note}"


POP_LEGEND = (
    "<p class='rule' id='pop-legend'>POP efficiencies (1 = ideal; formulas in "
    "docs/running.md, <i>Where the time went</i>) on POP's "
    "colour scale: <span class='pop-key pop-good'>&ge; 0.8 good ✔</span> "
    "<span class='pop-key pop-fair'>0.6 – 0.8 fair ~</span> "
    "<span class='pop-key pop-poor'>&lt; 0.6 poor ✘</span>. Parallel = load balance × "
    "communication; communication = serialization × transfer. Useful = a rank's busy time over "
    "the wall (a host: its ranks' mean). Serialization above 1: the busiest rank was busier than "
    "the model thinks its work takes. A pipeline with one item in flight is inefficient by "
    "design: each stage waits for the item to reach it.</p>")


def _pop_cell(value, extra: str = "") -> str:
    from . import metrics

    text = "–" if metrics.pop_class(value) == "na" else f"{float(value):.2f}"
    return f"<td class='pop-{metrics.pop_class(value)}{extra}'>{text}</td>"


def _pop_table(pop, useful) -> str:
    """POP's table of one run: ``pop`` (:func:`metrics.pop_efficiencies`: metric, depth, value,
    says) indented as POP's tree, then ``useful`` (:func:`metrics.pop_useful`) per rank and per
    host; every value's cell coloured by POP's scale (classes ``pop-good``, ``pop-fair``,
    ``pop-poor``, ``pop-na``)."""
    if pop.empty:
        return ""
    rows = [f"<tr><td class='depth-{int(r.depth)}'>{_e(r.metric)}</td>{_pop_cell(r.value)}"
            f"<td>{_e(r.says)}</td></tr>" for r in pop.itertuples()]
    for r in useful.itertuples():
        rows.append(f"<tr><td>useful, {_e(r.scope)} {_e(r.name)}</td>{_pop_cell(r.value)}"
                    "<td>busy / wall</td></tr>")
    return ("<div class='wide'><table class='pop'><tr><th>POP efficiency</th><th>value</th>"
            f"<th>says</th></tr>{''.join(rows)}</table></div>")


def _pop_overview(runs) -> str:
    """One row per pipeline run with POP efficiencies: parallel, its factors, wall and ideal wall."""
    from . import metrics

    rows = []
    for r in runs:
        pop = metrics.pop_efficiencies(r)
        if pop.empty:
            continue
        cells = "".join(_pop_cell(v) for v in pop.value)
        rows.append(f"<tr><td>{_e(r.id)}</td><td>{_e(r.scenario)}</td><td>{_e(r.label)}</td>"
                    f"{cells}<td>{_num(r.number('pop_wall_ms'))}</td>"
                    f"<td>{_num(r.number('pop_ideal_wall_ms'))}</td></tr>")
    if not rows:
        return ("<p class='note'>No run stores POP efficiencies (pop_* attributes: files from "
                "mpipe before they were added).</p>")
    head = "".join(f"<th>{_e(m)}</th>" for _, m, _, _ in metrics.POP_METRICS)
    return (f"{POP_LEGEND}<div class='wide'><table class='pop'><tr><th>run</th><th>pipeline</th>"
            f"<th>setting</th>{head}<th>wall ms</th><th>ideal wall ms</th></tr>{''.join(rows)}"
            "</table></div>")


def _tolerance_text(found) -> str:
    ms, status = found
    return {"found": _num(ms), "above range": f"&gt; {_num(ms)}",
            "below range": f"&lt; {_num(ms)}"}.get(status, "–")


def _tolerance_table(curves, run) -> str:
    """Per curve, the largest added latency measured (and, from the model's slowdowns at the
    points, predicted) within 1 % and 10 %; then the sweep's own ``latency_tolerance`` rows and
    ``tolerance_*`` attributes when it stored them."""
    from . import metrics

    levels = metrics.TOLERANCE_LEVELS
    head = "".join(f"<th>within {(v - 1) * 100:.0f} %, measured ms</th>"
                   f"<th>within {(v - 1) * 100:.0f} %, model at the points ms</th>" for v in levels)
    rows = []
    for placement, g in curves.groupby("placement", sort=False):
        cells = "".join(
            f"<td>{_tolerance_text(metrics.measured_tolerance(g, v))}</td>"
            f"<td>{_tolerance_text(metrics.measured_tolerance(g, v, 'predicted_slowdown'))}</td>"
            for v in levels)
        rows.append(f"<tr><td>{_e(placement)}</td>{cells}</tr>")
    return (f"<div class='wide'><table><tr><th>placement</th>{head}</tr>{''.join(rows)}"
            "</table></div><p class='meta'>Interpolated between the link latencies tried (the "
            "point without a link is the base, not a point of the line); &gt; x: never that "
            "slow up to x ms, &lt; x: already at x ms.</p>" + _sweep_tolerance(run))


def _sweep_tolerance(run) -> str:
    """The sweep's own tolerance, when it stored one: its ``latency_tolerance`` rows (newer
    mpipe) and any ``tolerance_*`` attributes; '' without either."""
    from . import plots

    out = ""
    table = run.table("latency_tolerance")
    if not table.empty:
        cols = {c: c for c in table.columns}
        out += ("<p class='meta' id='tolerance-table'>The sweep's latency tolerance "
                "(mpipe sweep, <code>latency_tolerance</code>):</p>" + _table(table, cols))
    attrs = plots.tolerance_attrs(run)
    if attrs:
        out += ("<p class='meta' id='tolerance-attrs'>The sweep's predicted tolerance: "
                + "; ".join(f"<code>{_e(k)}</code> = {_num(v) if isinstance(v, float) else _e(v)}"
                            for k, v in attrs.items()) + "</p>")
    return out


def _tolerance_section(s, w) -> str:
    """The latency-to-slowdown curve of a sweep whose points vary --emulate-link, or ''."""
    from . import metrics, plots, sweep

    pts = sweep.read(s).points
    if "emulated_link" not in sweep.other_dimensions(pts):
        return ""
    curves = metrics.tolerance_curves(pts, sweep.other_dimensions(pts))
    if curves.empty:
        return (f"<p class='note'>Sweep run {_e(s.id)} varies --emulate-link, but no placement "
                "has both a point without a link and points that only add latency: no "
                "latency-to-slowdown curve.</p>")
    name = f"tolerance-{_slug(s.id)}"
    b64 = w.save(plots.latency_tolerance(s), name)
    return _figure(b64, name, "Latency tolerance: per placement, the median item latency over "
                   "the same placement's without a link (1.0 = no slowdown; band: the median's "
                   "bootstrap CI) against the latency --emulate-link added to every hop, with the "
                   "model's prediction (dotted); dashed guides at 1 % and 10 % slower.") \
        + _tolerance_table(curves, s)


def _sweep_points_table(s) -> str:
    """A sweep's points: settings, work per stage, repeats, median latency with its CI,
    throughput and the model's prediction."""
    from . import sweep

    data = sweep.read(s)
    if data is None:
        return ""
    pts = data.points
    dims = [c for c in ("placement",) + sweep.GRID_DIMENSIONS + ("work_scale",)
            if c in pts and (c == "placement" or pts[c].nunique(dropna=False) > 1)]
    head = "".join(f"<th>{_e(d)}</th>" for d in dims)
    head = (f"<tr><th>point</th>{head}<th>resolved placement</th><th>work/stage ms</th>"
            "<th>repeats</th><th>median ms</th><th>CI ms</th><th>items/s</th>"
            "<th>model ms</th></tr>")
    rows = []
    for r in pts.to_dict("records"):
        cells = "".join(f"<td>{_e(r.get(d, '') if r.get(d, '') != '' else '–')}</td>"
                        for d in dims)
        rows.append(
            f"<tr><td>{_e(r.get('point', ''))}</td>{cells}"
            f"<td><code>{_e(r.get('placement_resolved', ''))}</code></td>"
            f"<td>{_num(r.get('work_per_stage_ms', math.nan))}</td>"
            f"<td>{_e(r.get('repeats', ''))}</td>"
            f"<td>{_num(r.get('latency_median_ms', math.nan))}</td>"
            f"<td>{_num(r.get('latency_ci_low_ms', math.nan))}–"
            f"{_num(r.get('latency_ci_high_ms', math.nan))}</td>"
            f"<td>{_num(r.get('throughput_median_items_per_s', math.nan))}</td>"
            f"<td>{_num(r.get('predicted_latency_ms', math.nan))}</td></tr>")
    return f"<div class='wide'><table>{head}{''.join(rows)}</table></div>"


def _sweep_user_stages(s, pipeline) -> str:
    """The user stages of a sweep's pipeline, as its kept runs (--keep-runs) recorded them, or
    from the spec text the sweep stored: ``A (exec /bin/cat), B (blur (Image -> Image))``."""
    kept = {str(v) for v in s.table("sweep_repeats").get("run_id", []) if str(v)}
    for r in pipeline:
        if r.id in kept and not r.user_stages.empty:
            return ", ".join(f"{u.name} ({u.kernel}{' ' + u.function if u.function else ''})"
                             for u in r.user_stages.itertuples())
    text = str(s.attr("spec_text", ""))
    try:
        import yaml  # Debian's python3-yaml, when there

        stages = (yaml.safe_load(text) or {}).get("stages", []) or []
        found = [(str(st.get("name", "?")), str(st.get("kernel", "")))
                 for st in stages if isinstance(st, dict)]
    except Exception:  # no PyYAML, or a spec it cannot read: the flow-style lines only
        found = re.findall(r"name:\s*([A-Za-z0-9_.#-]+)\s*,[^}\n]*?kernel:\s*([A-Za-z0-9_]+)",
                           text)
    return ", ".join(f"{n} ({'exec' if k == 'exec' else 'kernel: ' + k})"
                     for n, k in found if k and k not in ("sleep", "spin", "compute"))


def write_report(results: str, out: str, max_runs: int = 12, formats=("png", "svg")) -> str:
    """Write every plot and index.html into ``out`` (created); returns index.html's path."""
    from . import metrics, plots, sweep
    from .load import load

    res = load(results)
    os.makedirs(out, exist_ok=True)
    w = _Writer(out, formats)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    pipeline = res.pipeline_runs()
    benches = res.bench_runs()
    sweeps = [r for r in res if sweep.is_sweep(r)]
    groups = res.groups(replicas=False)
    names = res.group_names(replicas=False)  # unique: groups of one spec say what differs
    comparisons = [metrics.compare(g, name=n) for g, n in zip(groups, names)]

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mpipe report: "
             f"{_e(os.path.basename(results))}</title><style>{CSS}</style></head><body>"]
    parts.append("<h1>Should I distribute? - mpipe report</h1>")
    parts.append(f"<p class='meta'>Results file <code>{_e(os.path.abspath(results))}</code>: "
                 f"{len(res)} runs ({len(pipeline)} pipeline, {len(benches)} benchmark, "
                 f"{len(sweeps)} sweep). Written {now}.</p>")

    # --- the verdict, first ---------------------------------------------------------------------
    parts.append("<div class='verdict'><h2 style='margin-top:0'>Verdict</h2>")
    compared = [c for c in comparisons if c.baseline is not None and len(c.rows) > 1]
    if not compared:
        parts.append("<p class='headline'>No pipeline was run both locally (every stage on one "
                     "rank) and distributed, so there is nothing to compare yet.</p><p>Run the "
                     "same pipeline with <code>--placement pack</code> and "
                     "<code>--placement spread</code> into the same file, e.g. "
                     "<code>scripts/demo.sh</code>.</p>")
    for c in compared:
        parts.append(f"<p class='headline'>{_e(c.headline)}</p><ul>"
                     + "".join(f"<li>{_e(b)}</li>" for b in c.bullets) + "</ul>")
    others = [c for c in comparisons if c not in compared]
    if others:
        parts.append("<p>Not compared: " + " ".join(dict.fromkeys(_e(c.headline) for c in others))
                     + "</p>")
    parts.append(f"<p class='rule'>{RULE} Per-edge ratios are measured: the mean service time "
                 "of the stage a hop feeds over the hop's mean cost (producer done to input "
                 "available at the consumer).</p></div>")

    # --- every run ------------------------------------------------------------------------------
    parts.append("<h2>Runs</h2>")
    summ = res.summary()
    parts.append(_table(summ, {
        "id": "run", "kind": "kind", "scenario": "pipeline", "label": "setting",
        "ranks": "ranks", "hosts": "hosts", "tier": "widest tier", "transport": "transport",
        "serialization": "serialization", "emulated_link": "emulated link", "items": "items",
        "per_item_rows": "per-item rows", "latency_ms": "mean latency ms", "critical_path_ms": "critical path ms",
        "predicted_ms": "predicted ms", "throughput": "items/s", "bound": "bound items/s",
    }))
    sampled = [r for r in pipeline if r.detail_stride > 1]
    if sampled:
        parts.append(
            f"<div class='note' id='sampled-runs'><p>{len(sampled)} run(s) went past "
            "<code>--detail-items</code> and kept per-item rows (events, messages, items) for "
            "every k-th item only:</p><ul>"
            + "".join(f"<li>run {_e(r.id)} ({_e(r.scenario)}, {_e(r.label)}): "
                      f"{_e(r.per_item_rows)}</li>" for r in sampled)
            + "</ul><p>They stay in every table and comparison. Their mean latency and "
            "throughput cover every item; their timelines, edge tables, hop costs and "
            "compute/communication ratios are computed from the sampled items only.</p></div>")
    parts.append("<h3>Where the time went (POP efficiencies)</h3>")
    parts.append(_pop_overview(pipeline))
    csv = os.path.join(out, "runs.csv")
    summ.to_csv(csv, index=False)
    w.files.append(csv)

    # --- per pipeline ---------------------------------------------------------------------------
    shown = {r.id for r in pipeline[-max_runs:]}
    bench_model = None
    for b in reversed(benches):
        bench_model = metrics.message_model(b)
        if bench_model is not None:
            break
    for k, (g, c, gname) in enumerate(zip(groups, comparisons, names), 1):
        name = f"{k}-{_slug(g[0].scenario)}"
        parts.append(f"<h2>Pipeline {k}: {_e(gname)} "
                     f"({len(g)} run{'s' if len(g) > 1 else ''}, time scale "
                     f"{g[0].time_scale:g})</h2>")
        parts.append(f"<p><b>{_e(c.headline)}</b></p><ul>"
                     + "".join(f"<li>{_e(b)}</li>" for b in c.bullets) + "</ul>")
        b64 = w.save(plots.local_vs_distributed(g, name=gname), f"local-vs-distributed-{name}")
        parts.append(_figure(b64, f"local-vs-distributed-{name}",
                             "Item latency (mean, whiskers min-max) and steady-state throughput "
                             "per run; dashed line: the critical-path bound (free communication); "
                             "diamonds: the model's prediction where the run stored one; thick "
                             "ticks: each run's throughput bound. Gray: local, hatched ///: "
                             "distributed, xxx: emulated link."))
        b64 = w.save(plots.amdahl(g, bench_model, name=gname), f"amdahl-{name}")
        parts.append(_figure(b64, f"amdahl-{name}",
                             "Measured speed-up (T1 = every stage's work one after another, over "
                             "the mean item latency) against the ranks the stages occupied, next "
                             "to Amdahl, the article's 1/[(1-P)+P/N+C·N] and the alpha-beta "
                             "per-message model (from the newest benchmark run in the file). "
                             "mpipe runs co-located stages as threads, so even one rank can "
                             "reach the ceiling 1/(1-P): distribution cannot add parallelism a "
                             "DAG on one host already has, only communication."))
        for r in g:
            if r.id not in shown:
                continue
            rid = _slug(r.id)
            parts.append(f"<h3>Run {_e(r.id)}: {_e(r.label)}</h3>")
            parts.append(f"<p class='meta'>placement <code>{_e(r.attr('placement', ''))}</code>; "
                         f"hosts {_e(r.attr('hosts', ''))}; transport {_e(r.transport)}; wait "
                         f"{_e(r.attr('wait', ''))}; clock error bound "
                         f"{_num(r.number('clock_error_max_ns') / 1e3)} µs; per-item rows: "
                         f"{_e(r.per_item_rows)}; command "
                         f"<code>{_e(r.attr('command_line', ''))}</code></p>")
            parts.append(_stage_table(r))
            parts.append(_edge_table(r))
            parts.append(_pop_table(metrics.pop_efficiencies(r), metrics.pop_useful(r)))
            b64 = w.save(plots.timeline(r), f"timeline-{rid}")
            parts.append(_figure(b64, f"timeline-{rid}",
                                 "Gantt chart of the first items, one row per stage thread and "
                                 "one per rank's MPI thread; thick lines separate hosts, dashed "
                                 "lines ranks. Dark: compute; dotted: waiting; serialize and "
                                 "deserialize on the MPI threads; arrows: messages."))
            b64 = w.save(plots.edge_overhead(r), f"overhead-{rid}")
            parts.append(_figure(b64, f"overhead-{rid}",
                                 "Mean cost per item of each hop, split into hand-off, "
                                 "serialize, wire, deserialize and the queue at the consumer "
                                 "(µs), with the hop's compute/communication ratio and verdict."))
            b64 = w.save(plots.comm_graph(r), f"graph-{rid}")
            parts.append(_figure(b64, f"graph-{rid}",
                                 "Communication graph: hosts as columns (thick boxes), ranks "
                                 "inside (dashed), stage instances as circles (hatched: the "
                                 "source). An arrow per producer-consumer pair that carried "
                                 "items, as wide as the bytes it carried (on the wire between "
                                 "ranks; the payload in memory, dashed), coloured and labelled "
                                 "by the mean hop overhead per message (producer done to input "
                                 "available at the consumer)."))
    hidden = [r for r in pipeline if r.id not in shown]
    if hidden:
        parts.append(f"<p class='note'>Timelines and edge tables are drawn for the newest "
                     f"{max_runs} pipeline runs; {len(hidden)} older run(s) only appear in the "
                     f"tables and comparisons (--max-runs N for more).</p>")

    # --- farms ----------------------------------------------------------------------------------
    farms = [g for g in res.groups(replicas=False) if len({r.replicas for r in g}) > 1]
    parts.append("<h2>Farms: throughput against replicas</h2>")
    if not farms:
        parts.append("<p class='note'>No pipeline was run with different <code>--replicas</code> "
                     "(e.g. <code>--scenario render-farm --replicas Render=1..4</code>).</p>")
    for k, g in enumerate(farms, 1):
        name = f"farm-{k}-{_slug(g[0].scenario)}"
        b64 = w.save(plots.farm(g), name)
        parts.append(_figure(b64, name, "Steady-state throughput against the replicas of the "
                             "farmed stage (circles), each run's throughput bound (squares) and "
                             "ideal linear scaling from the smallest farm (dotted)."))

    # --- benchmark ------------------------------------------------------------------------------
    parts.append("<h2>Communication benchmark</h2>")
    if not benches:
        parts.append("<p class='note'>No <code>mpipe bench</code> run in this file "
                     "(e.g. <code>mpirun -np 2 build/mpipe bench --quick --out FILE</code>).</p>")
    for b in list(benches)[-max_runs:]:
        name = f"bench-{_slug(b.id)}"
        b64 = w.save(plots.bench(b), name)
        model = metrics.message_model(b)
        fit = ""
        if model is not None:
            fit = (f" Fitted ({model.tier}): alpha = {_num(model.alpha_us)} µs, beta = "
                   f"{_num(model.ns_per_byte)} ns/B; boost encode {_num(model.serialize_us)} µs "
                   f"+ {_num(model.serialize_ns_per_byte)} ns/B, decode "
                   f"{_num(model.deserialize_us)} µs + {_num(model.deserialize_ns_per_byte)} ns/B.")
        parts.append(_figure(b64, name, f"{_e(b.kind)} run {_e(b.id)} ({b.world_size} ranks): "
                             "one-way latency and streaming bandwidth against message size, per "
                             "tier (marker) and method (line style); raw MPI is the thick black "
                             "baseline." + _e(fit)))

    # --- break-even -----------------------------------------------------------------------------
    parts.append("<h2>Sweeps and break-even (mpipe sweep)</h2>")
    drawn = 0
    for s in sweeps:
        if sweep.read(s) is None:
            parts.append(f"<p class='note'>Sweep run {_e(s.id)} has no sweep_points with the "
                         f"columns this report reads ({', '.join(sweep.REQUIRED_POINT_COLUMNS)}); "
                         "skipped.</p>")
            continue
        user = _sweep_user_stages(s, pipeline)
        parts.append(f"<h3>Sweep {_e(s.id)}: {_e(s.scenario)}</h3><p class='meta'>grid "
                     f"<code>{_e(s.attr('grid', ''))}</code>; {_e(s.attr('items', ''))} item(s) "
                     f"per run; command <code>{_e(s.attr('command_line', ''))}</code></p>")
        if user:
            parts.append(f"<p class='meta'>User stages: {_e(user)}: they run as fast as they "
                         "run, so the work axis (work_scale, --time-scale) does not apply to "
                         "them.</p>")
        parts.append(_sweep_points_table(s))
        parts.append(_tolerance_section(s, w))
        if sweep.read(s).points.work_per_stage_ms.nunique() < 2:
            parts.append(f"<p class='note'>Sweep run {_e(s.id)} varied no work (one work per "
                         "stage for every point), so it has no break-even curve; its points are "
                         "in the table above.</p>")
            continue
        name = f"break-even-{_slug(s.id)}"
        b64 = w.save(plots.break_even(s), name)
        drawn += 1
        be = sweep.read(s).break_even
        text = ""
        if not be.empty:
            text = " " + "; ".join(
                f"{row.get('quantity', '')}: {row.get('status', '')} at "
                f"{_num(row.get('work_per_stage_ms', math.nan))} ms per stage (CI "
                f"{_num(row.get('ci_low_ms', math.nan))}–{_num(row.get('ci_high_ms', math.nan))}), "
                f"predicted {_num(row.get('predicted_work_per_stage_ms', math.nan))} ms"
                for row in be.to_dict("records"))
        dims = sweep.other_dimensions(sweep.read(s).points)
        split = (f" One set of curves per value of {', '.join(dims)}, which this sweep also "
                 "varied (never averaged across)." if dims else "")
        parts.append(_figure(b64, name, "Median item latency of the local and the distributed "
                             "placement against the work per stage (bands: bootstrap CI of the "
                             "median), and their relative difference; the dotted line is where "
                             "distribution starts to pay." + _e(split) + _e(text)))
    if not drawn and not sweeps:
        parts.append("<p class='note'>No sweep run in this file (<code>mpipe sweep "
                     "--break-even</code> writes one); nothing to draw.</p>")

    parts.append("<h2>Files</h2><ul>" + "".join(
        f"<li>{_e(os.path.basename(p))}</li>" for p in w.files) + "</ul>")
    parts.append("<p class='meta'>Written by mpipe_analysis.report; the plots' data and columns "
                 "are documented in analysis/mpipe_analysis and docs/results-schema.md.</p>")
    parts.append("</body></html>")
    index = os.path.join(out, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return index


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="mpipe report",
        description="Write every plot (PNG + SVG) and one self-contained HTML page (index.html) "
                    "for an mpipe results file: a verdict per pipeline (did distribution help, "
                    "and why), per-edge compute/communication ratios, timelines, the benchmark, "
                    "Amdahl, farms and the break-even sweep.")
    p.add_argument("results", help="HDF5 results file (mpipe run/bench/sweep --out)")
    p.add_argument("-o", "--out", help="report folder (default: report-<UTC time> next to the "
                   "results file); an existing non-empty folder is refused unless --force")
    p.add_argument("--force", action="store_true",
                   help="write into an existing non-empty folder, replacing files of the same names")
    p.add_argument("--max-runs", type=int, default=12,
                   help="draw timelines and edge tables for the newest N pipeline runs (default 12)")
    p.add_argument("--no-svg", action="store_true", help="PNG only")
    a = p.parse_args(argv)
    _imports()
    if not os.path.isfile(a.results):
        _die(f"{a.results}: no such file")
    out = a.out or default_dir(a.results)
    if a.out and os.path.isdir(out) and os.listdir(out) and not a.force:
        _die(f"{out} exists and is not empty: choose another -o, or --force to write into it "
             "(files of the same names are replaced)")
    if a.out and os.path.exists(out) and not os.path.isdir(out):
        _die(f"{out} exists and is not a folder")
    try:
        index = write_report(a.results, out, max_runs=a.max_runs,
                             formats=("png",) if a.no_svg else ("png", "svg"))
    except (OSError, ValueError) as e:
        _die(str(e))
    print(f"Report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
