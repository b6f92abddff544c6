"""The analysis package (analysis/mpipe_analysis) on a results file that the real mpipe produced
(tests/python/analysis_fixture.py): loading and selection, per-edge costs and verdicts, every
plot has data and labelled axes, `mpipe report` writes every file and refuses to overwrite, and
`mpipe export --format chrome-trace` pairs every message with a flow start and end.

Environment: MPIPE_BIN (the binary; default build/mpipe), MPIPE_ANALYSIS_RESULTS (a file made
by analysis_fixture.py, e.g. by CTest's python.analysis.data step; else the fixture makes one),
MPIPE_TEST_TMP (scratch). Imports the installed mpipe_analysis: run with the python of a venv
that has it (see conftest.py; CTest's python.install step makes one), which sees Debian's h5py
and matplotlib through --system-site-packages.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import analysis_fixture
from mpipe_analysis import load, metrics, plots, sweep
from mpipe_analysis.export import chrome_trace
from mpipe_analysis.report import default_dir, write_report

# Fixtures from conftest.py: mpipe (runs the binary), scratch, results (the file), res (its runs).


def seed_runs(res):
    """The seed pipeline with its own kernels: pack, spread (and the map on rank 0 of 3)."""
    return [r for r in res.select(scenario="seed") if not r.attr("kernel_override")]


def test_load_reads_every_run_with_kinds(res):
    kinds = [r.kind for r in res]
    assert kinds.count("run") >= 4 and kinds.count("bench") == 1
    assert [r.id for r in res] == sorted(r.id for r in res)
    summary = res.summary()
    assert list(summary.id) == [r.id for r in res]
    for col in ("scenario", "placement", "transport", "serialization", "latency_ms", "throughput"):
        assert col in summary


def test_tables_have_documented_columns_and_units(res):
    spread = res.select(scenario="seed", placement="spread")[0]
    ev = spread.events
    for col in ("item", "stage", "rank", "name", "service_ms", "queued_ms", "is_source"):
        assert col in ev
    assert ev.is_source.sum() == spread.attr("items")
    assert np.allclose(ev.service_ms, (ev.finished_ns - ev.started_ns) / 1e6)
    m = spread.messages
    assert len(m) > 0
    assert set(m.edge_name) <= set(spread.edges.name)
    assert np.allclose(m.wire_us, m.transfer_ns / 1e3)
    it = spread.items
    assert np.allclose(it.latency_ms, it.latency_ns / 1e6)
    assert isinstance(spread.stages.name.iloc[0], str)  # strings decoded


def test_select_by_scenario_placement_transport_serialization_link(res):
    seed = seed_runs(res)
    assert [r.placement_mode for r in seed] == ["pack", "spread", "map"]
    assert [r.is_local for r in seed] == [True, False, True]
    local = res.select(local=True, kind="run")
    assert seed[0] in local and seed[2] in local and seed[1] not in local
    assert res.select(transport="in-memory") == local
    assert res.select(scenario="seed", transport="vader") == [seed[1]]
    assert res.select(scenario="seed", serialization="boost") == [seed[1]]
    assert res.select(kind="run", emulated_link="") == res.pipeline_runs()
    assert res.select(kind="bench")[0].bench.shape[0] > 0
    farm = res.select(scenario="render-farm")
    groups = res.groups(replicas=False)
    assert farm in groups and len(res.groups()) == len(groups) + 1  # the farms split by replicas


def test_labels_say_where_the_stages_ran(res):
    """A run launched on 3 ranks with every stage on rank 0 is local: its label must say so,
    not read as a 3-rank run ("Local (map 3 ranks)")."""
    mapped = seed_runs(res)[2]
    assert mapped.is_local and mapped.world_size == 3
    assert "all stages on rank 0" in mapped.label and "3 ranks launched" in mapped.label
    for r in res.pipeline_runs():
        if r.is_local:
            assert re.search(r"\b[2-9]\d* ranks\b(?! launched)", r.label) is None, r.label
    c = metrics.compare(seed_runs(res))
    assert c.baseline.is_local
    assert re.search(r"Local[^.]*\b[2-9] ranks\b(?! launched)", c.text) is None, c.text


def test_edge_costs_ratios_and_the_articles_rule(res):
    # One wording, mpipe's (model.hpp), stored with every run and read from there.
    assert metrics.verdict(10.5) == "distribution helps"
    assert metrics.verdict(4.9) == "communication hurts"
    assert metrics.verdict(7) == "marginal"
    spread = res.select(scenario="seed", placement="spread")[0]
    c = metrics.edge_costs(spread)
    assert len(c) == len(spread.edges)
    remote = c[c.remote > 0]
    assert len(remote) > 0 and (remote.serialization == "boost").all()
    parts = remote.handoff_us + remote.serialize_us + remote.wire_us + remote.deserialize_us
    assert np.allclose(parts, remote.overhead_us)
    assert set(c.verdict) <= {"distribution helps", "communication hurts", "marginal", "in memory",
                              "n/a"}
    rule = metrics.rule_of(spread)  # the run's own verdict_* attributes, as the C++ side wrote them
    assert (rule.helps_above, rule.hurts_below) == (10.0, 5.0)
    assert spread.attrs["verdict_hurts"] == rule.hurts == "communication hurts"
    pack = metrics.edge_costs(res.select(scenario="seed", placement="pack")[0])
    assert (pack.verdict == "in memory").all()
    ms, path = metrics.critical_path(spread)
    assert ms == pytest.approx(spread.attr("critical_path_ms"))
    assert path[0] == path[-1] == "Main"


def _with_rerun(results: Path, dest: Path) -> Path:
    """A copy of the produced file in which the seed spread run appears twice (a second run
    group, same data, id + "-2"): two runs whose settings read the same."""
    shutil.copy(results, dest)
    spread = load(results).select(scenario="seed", placement="spread")[0]
    with h5py.File(dest, "a") as f:
        src, dst = f["runs"][spread.id], f["runs"].create_group(spread.id + "-2")
        for name, value in src.attrs.items():  # (Group.copy crashes Debian's h5py here)
            dst.attrs[name] = value
        for name in src:
            dst[name] = src[name][()]
        dst.attrs["run_id"] = spread.id + "-2"
    return dest


def test_labels_are_unique_within_a_comparison(results, scratch):
    runs = load(_with_rerun(results, scratch / "rerun.h5"))
    seed = seed_runs(runs)
    assert len(seed) == 4
    c = metrics.compare(seed)
    labels = [row["label"] for row in c.rows]
    assert len(set(labels)) == len(labels), labels
    twins = [row["label"] for row in c.rows if row["run"].placement_mode == "spread"]
    assert all(row["run"].id in lab for row, lab in zip(
        [r for r in c.rows if r["run"].placement_mode == "spread"], twins)), twins
    assert all(sum(b.startswith(lab) for b in c.bullets) == 1 for lab in twins), c.bullets
    ticks = [t.get_text() for t in plots.local_vs_distributed(seed).axes[-1].get_xticklabels()]
    assert len(set(ticks)) == len(ticks), ticks


def test_hops_are_never_negative_and_fan_out_edges_differ(res):
    """Input availability per edge: in memory from `handoffs` (when the input entered the
    consumer's join table), across ranks from the message. The producer's sent_ns (after it
    delivered to all its outputs, waiting for a credit of the farm) made queues negative and
    both fan-out edges identical."""
    runs = res.pipeline_runs()
    assert runs and all(r.has_handoffs for r in runs), "the fixture's mpipe writes handoffs"
    for r in runs:
        h = metrics.hop_times(r)
        assert (h.source != "missing").all(), (r.id, h[h.source == "missing"].name.unique())
        tol = h.clock_error_ns.fillna(0).to_numpy()  # cross-rank times: clock-corrected
        bad = h[h.overhead_ns.to_numpy() < -tol]
        assert bad.empty, (r.scenario, r.label, bad[["item", "name", "overhead_ns"]])
        q = h[h.queue_ns.notna()]
        bad = q[q.queue_ns.to_numpy() < -q.clock_error_ns.fillna(0).to_numpy()]
        assert bad.empty, (r.scenario, r.label, bad[["item", "name", "queue_ns"]])
        c = metrics.edge_costs(r)
        assert (c.available_from == "handoffs").all()
        for row in c.itertuples():  # the ratio and the verdict read the same overhead
            if row.overhead_us > 0:
                assert row.ratio == pytest.approx(row.work_ms * 1e3 / row.overhead_us)
            if row.remote:
                assert row.verdict == metrics.verdict(row.ratio)
    fan = metrics.edge_costs(res.select(scenario="fanout-farm")[0]).set_index("name")
    assert fan.loc["A->B", "overhead_us"] != fan.loc["A->F", "overhead_us"]
    assert (fan.queue_us.dropna() >= 0).all() and (fan.overhead_us >= 0).all()


def test_an_edge_into_a_replica_on_another_rank_is_not_local(res):
    """Main->F->Main with F x2 round-robin, F#0 on rank 0 beside Main and F#1 on rank 1: the
    edges' first instance pair is same-rank, but half the items crossed ranks."""
    (rr,) = res.select(scenario="farm-rr")
    assert rr.world_size == 2 and len(rr.messages) == 20
    assert not rr.is_local and rr.tier == "same-host"
    assert rr not in res.select(local=True) and rr.transport != "in-memory"
    inst = rr.edge_instances
    assert set(inst.tier) == {"same-rank", "same-host"}
    assert inst.groupby("name").items.sum().to_dict() == {"Main->F": 20, "F->Main": 20}
    edges = rr.edges.set_index("name")
    assert (edges.tier == "mixed").all()
    for split in edges.tier_split:
        assert "same-rank 10 items" in split and "same-host 10 items" in split, split
    c = metrics.edge_costs(rr).set_index("name")
    assert (c.remote == 10).all() and (c.verdict != "in memory").all()
    assert "x2 replicas" in rr.label and "2 ranks" in rr.label


def test_compare_says_whether_distribution_helped(res):
    c = metrics.compare(seed_runs(res))
    assert c.baseline.is_local
    assert any(w in c.headline for w in ("HELPED", "HURT", "NO CLEAR DIFFERENCE", "some runs"))
    assert "spread" in c.text and "Why:" in c.text


def test_amdahl_formulas_match_mpipe_predict():
    # README's article example: P = 0.9, N = 10 -> 5.26x; with C = 0.05 at N = 10: 1/(0.19+0.5).
    assert metrics.amdahl(0.9, 10) == pytest.approx(5.263, rel=1e-3)
    assert metrics.amdahl(0.9, 10, 0.05) == pytest.approx(1 / 0.69, rel=1e-6)
    assert metrics.amdahl_message(0.5, 1, 100.0, 5.0) == pytest.approx(1.0)


def test_message_model_from_the_bench(res):
    model = metrics.message_model(res.select(kind="bench")[0])
    assert model is not None and model.tier == "same-host"
    assert model.alpha_us > 0 and model.message_us(1024) > model.alpha_us


def _has_data(fig):
    axes = [a for a in fig.axes if a.has_data()]
    assert axes, "no axes with data"
    for a in axes:
        assert a.lines or a.patches or a.collections, "axes without artists"
    # Panels may share an axis (and its label) with a neighbour.
    assert any(a.get_xlabel() for a in axes), "x axis unlabelled"
    assert any(a.get_ylabel() for a in axes), "y axis unlabelled"
    return axes


def test_every_plot_has_data_and_labels(res):
    seed = seed_runs(res)
    spread = seed[1]
    axes = _has_data(plots.timeline(spread))
    assert len(axes[0].patches) + len(axes[0].collections) >= spread.attr("items")
    _has_data(plots.edge_overhead(spread))
    _has_data(plots.local_vs_distributed(seed))
    bench = res.select(kind="bench")[0]
    axes = _has_data(plots.bench(bench))
    assert len(axes[0].lines) == len(bench.bench.groupby(["tier", "method"]))
    _has_data(plots.amdahl(seed, metrics.message_model(bench)))
    farm = res.select(scenario="render-farm")
    assert sorted(r.replicas for r in farm) == [1, 2]
    _has_data(plots.farm(farm))


def _overlaps(fig) -> list:
    """Pairs of x tick labels (per axes, as drawn) whose boxes overlap, and labels that spill out
    of the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    bad = []
    for ax in fig.axes:
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.get_xticklabels()
                 if t.get_visible() and t.get_text()]
        for i, (a, ba) in enumerate(boxes):
            if ba.x0 < page.x0 - 1 or ba.x1 > page.x1 + 1 or ba.y0 < page.y0 - 1:
                bad.append((a, "outside the figure"))
            for b, bb in boxes[i + 1:]:
                if ba.overlaps(bb):
                    bad.append((a, b))
    return bad


def test_local_vs_distributed_labels_do_not_overlap(res):
    for runs in (seed_runs(res), list(res.pipeline_runs())):
        fig = plots.local_vs_distributed(runs)
        assert _overlaps(fig) == [], [r.label for r in runs]


def _with_sweep(results: Path, dest: Path) -> Path:
    """A copy of the produced file plus one sweep run in the layout mpipe_analysis.sweep reads
    (the break-even plot's input; `mpipe sweep` itself is tested by its own tests)."""
    shutil.copy(results, dest)
    s = h5py.string_dtype()
    pts = np.array(
        [(0, "pack", w, 3 * w + 0.2, 3 * w + 0.1, 3 * w + 0.3, 3 * w) for w in (0.1, 1, 10)]
        + [(1, "spread", w, 3 * w + 0.9, 3 * w + 0.7, 3 * w + 1.1, 3 * w + 0.8) for w in (0.1, 1, 10)],
        dtype=[("point", "<i4"), ("placement", s), ("work_per_stage_ms", "<f8"),
               ("latency_median_ms", "<f8"), ("latency_ci_low_ms", "<f8"),
               ("latency_ci_high_ms", "<f8"), ("predicted_latency_ms", "<f8")])
    be = np.array([("latency equal", "pack", "spread", "not in range", np.nan, np.nan, np.inf,
                    "found", 5.0)],
                  dtype=[("quantity", s), ("local", s), ("distributed", s), ("status", s),
                         ("work_per_stage_ms", "<f8"), ("ci_low_ms", "<f8"),
                         ("ci_high_ms", "<f8"), ("predicted_status", s),
                         ("predicted_work_per_stage_ms", "<f8")])
    with h5py.File(dest, "a") as f:
        g = f["runs"].create_group("29990101T000000.000Z")
        g.attrs["kind"] = "sweep"
        g.attrs["run_id"] = "29990101T000000.000Z"
        g.attrs["spec_name"] = "seed"
        g["sweep_points"] = pts
        g["break_even"] = be
    return dest


def test_break_even_plot_reads_a_sweep_and_skips_without_one(res, results, scratch):
    path = _with_sweep(results, scratch / "with_sweep.h5")
    runs = load(path)
    sw = [r for r in runs if sweep.is_sweep(r)]
    assert len(sw) == 1
    data = sweep.read(sw[0])
    assert data.local == "pack" and data.distributed == "spread"
    _has_data(plots.break_even(sw[0]))
    # A real `mpipe sweep --break-even` run, when the fixture could make one.
    real = results.parent / "sweep.h5"
    if real.is_file():
        (run,) = [r for r in load(real) if sweep.is_sweep(r)]
        assert sweep.read(run).break_even.shape[0] >= 1
        _has_data(plots.break_even(run))
    # A run without sweep points: a figure that says so, no exception.
    fig = plots.break_even(res[0])
    assert fig.axes and sweep.read(res[0]) is None


@pytest.fixture(scope="session")
def report(results, scratch) -> Path:
    """index.html of a report on the fixture's file (PNG only), written once."""
    return Path(write_report(str(results), str(scratch / "report-py"), formats=("png",)))


def test_groups_of_one_name_say_what_differs(res, report):
    """Two groups of the seed pipeline (one run with --kernel spin) must not both be called
    "seed": the name says the kernel that tells them apart."""
    groups = res.groups(replicas=False)
    seeds = [g for g in groups if g[0].scenario == "seed"]
    assert len(seeds) == 2
    page = report.read_text(encoding="utf-8")
    heads = re.findall(r"<h2>Pipeline \d+: (.*?) \(\d+ runs?, ", page)
    assert len(heads) == len(groups) and len(set(heads)) == len(heads), heads
    seed_heads = [h for h in heads if h.startswith("seed")]
    assert len(seed_heads) == 2 and any("spin" in h for h in seed_heads), seed_heads
    assert any("sleep" in h for h in seed_heads), seed_heads
    for h in seed_heads:  # the verdict's sentences carry the same name
        assert f"<p><b>{h}: " in page


def test_report_says_which_runs_kept_sampled_rows(res, report):
    """A run past --detail-items keeps per-item rows for every k-th item only: the report says
    which run, what was sampled and what that covers, in the runs table and beside the run."""
    sampled = [r for r in res.pipeline_runs() if int(r.attr("detail_stride", 1)) > 1]
    assert [(r.scenario, r.replicas, r.attr("detail_stride")) for r in sampled] == [
        ("render-farm", 2, 3)]
    r = sampled[0]
    page = report.read_text(encoding="utf-8")
    assert "id='sampled-runs'" in page, "no note on sampled runs"
    note = page[page.index("id='sampled-runs'"):]
    note = note[:note.index("</div>")]
    assert r.id in note and "every k-th" in note
    assert "every 3rd item (items 0, 3, 6, …: 4 of 12 items)" in page
    csv = (report.parent / "runs.csv").read_text()
    assert "per_item_rows" in csv.splitlines()[0] and "every 3rd item" in csv
    summary = res.summary().set_index("id")
    assert summary.loc[r.id, "per_item_rows"].startswith("every 3rd item")
    assert (summary.drop(index=r.id).query("kind == 'run'").per_item_rows == "every item").all()


def test_break_even_draws_a_curve_per_value_of_another_grid_dimension(results, scratch):
    """A grid sweep over placement x work x payload: averaging the two payloads would draw a
    distributed/local difference that no run had (48 % between a real 36.6 % and 58.8 %); each
    payload gets curves of its own instead."""
    dest = scratch / "grid_sweep.h5"
    shutil.copy(results, dest)
    s = h5py.string_dtype()
    rows, point = [], 0
    for payload, extra in ((64, 0.366), (1 << 20, 0.588)):
        for w in (0.1, 1.0, 10.0):
            for placement in ("pack", "spread"):
                lat = 3 * w * ((1 + extra) if placement == "spread" else 1)
                rows.append((point, placement, w, payload, lat, lat * 0.95, lat * 1.05))
                point += 1
    pts = np.array(rows, dtype=[("point", "<i4"), ("placement", s), ("work_per_stage_ms", "<f8"),
                                ("payload_bytes", "<i8"), ("latency_median_ms", "<f8"),
                                ("latency_ci_low_ms", "<f8"), ("latency_ci_high_ms", "<f8")])
    with h5py.File(dest, "a") as f:
        g = f["runs"].create_group("29990101T000000.000Z")
        g.attrs["kind"] = "sweep"
        g.attrs["spec_name"] = "seed"
        g["sweep_points"] = pts
    (run,) = [r for r in load(dest) if sweep.is_sweep(r)]
    fig = plots.break_even(run)
    a1, a2 = fig.axes[:2]
    measured = [ln for ln in a1.lines if "measured" in ln.get_label()]
    assert len(measured) == 4, [ln.get_label() for ln in a1.lines]
    assert sum("payload_bytes=64" in ln.get_label() for ln in measured) == 2
    rel = [ln for ln in a2.lines if "vs local" in ln.get_label()]
    assert len(rel) == 2
    got = sorted(round(float(np.mean(ln.get_ydata())), 1) for ln in rel)
    assert got == [36.6, 58.8], got
    assert sweep.other_dimensions(sweep.read(run).points) == ["payload_bytes"]


def test_wide_tables_scroll_inside_the_page(report):
    """The runs table (17 columns) is wider than a 1,400 px page: every table sits in a box that
    scrolls sideways (overflow-x) instead of running off the page."""
    page = report.read_text(encoding="utf-8")
    css = page[page.index("<style>"):page.index("</style>")]
    assert re.search(r"\.wide\{[^}]*overflow-x:\s*auto", css), css
    tables = [m.start() for m in re.finditer(r"<table", page)]
    assert len(tables) >= 2
    for t in tables:
        assert page[max(0, t - len("<div class='wide'>")):t] == "<div class='wide'>", page[t - 40:t]


def test_report_writes_every_file_and_never_overwrites(results, scratch, mpipe):
    out = scratch / "report"
    proc = mpipe("report", results, "-o", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.strip().endswith(str(out / "index.html"))
    names = {p.name for p in out.iterdir()}
    res = load(results)
    spread = res.select(scenario="seed", placement="spread")[0]
    bench = res.select(kind="bench")[0]
    assert {"index.html", "runs.csv"} <= names
    k_farm = [g[0].scenario for g in res.groups(replicas=False)].index("render-farm") + 1
    for stem in ("local-vs-distributed-1-seed", "amdahl-1-seed",
                 f"local-vs-distributed-{k_farm}-render-farm", "farm-1-render-farm",
                 f"bench-{bench.id}", f"timeline-{spread.id}", f"overhead-{spread.id}"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Verdict" in page and "distribution" in page
    assert page.count("data:image/png;base64,") >= 6  # self-contained
    assert "No sweep run" in page  # the break-even section skips gracefully
    for verdict in ("distribution helps", "communication hurts", "marginal", "in memory"):
        if verdict in set(metrics.edge_costs(spread).verdict):
            assert verdict in page
    # A second report into the same folder is refused, with --force it is written.
    again = mpipe("report", results, "-o", out)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = mpipe("report", results, "-o", out, "--force", "--no-svg", "--max-runs", "1")
    assert forced.returncode == 0, forced.stderr


def test_report_default_folder_is_new(tmp_path):
    f = tmp_path / "r.h5"
    first = default_dir(str(f))
    assert Path(first).parent == tmp_path and Path(first).name.startswith("report-")
    Path(first).mkdir()
    assert default_dir(str(f)) != first


def test_report_errors_are_clear(results, scratch, mpipe):
    missing = mpipe("report", scratch / "nope.h5", "-o", scratch / "r2")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    env = dict(analysis_fixture.env(), MPIPE_ANALYSIS_DIR=str(scratch / "nowhere"))
    proc = mpipe("report", results, env=env, timeout=60)
    assert proc.returncode == 2 and "MPIPE_ANALYSIS_DIR" in proc.stderr


def test_chrome_trace_pairs_every_message(results, scratch, mpipe):
    res = load(results)
    spread = res.select(scenario="seed", placement="spread")[0]
    out = scratch / "trace.json"
    proc = mpipe("export", "--format", "chrome-trace", results, "--run", spread.id, "-o", out)
    assert proc.returncode == 0, proc.stderr
    trace = json.loads(out.read_text())
    events = trace["traceEvents"]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    msgs = spread.messages
    assert len(starts) == len(ends) == len(msgs) > 0
    assert set(starts) == set(ends)
    for k, m in enumerate(msgs.itertuples()):
        s, f = starts[k], ends[k]
        assert (s["pid"], f["pid"]) == (m.src_rank, m.dst_rank)
        assert f["bp"] == "e" and s["cat"] == f["cat"] == "message"
        # Each flow end point lies inside a slice on its thread (viewers bind arrows to slices).
        for point in (s, f):
            assert any(e["ph"] == "X" and e["pid"] == point["pid"] and e["tid"] == point["tid"]
                       and e["ts"] <= point["ts"] <= e["ts"] + e["dur"] for e in events)
    assert all(e["ts"] >= 0 for e in events if "ts" in e)
    procs = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert procs == set(range(spread.world_size))
    compute = [e for e in events if e["ph"] == "X" and e["cat"] == "compute"]
    assert len(compute) == len(spread.events)
    assert sum(e["ph"] == "b" for e in events) == spread.attr("items")
    # The same from the package directly, and the default path refuses to overwrite.
    assert chrome_trace(spread)["otherData"]["messages"] == len(msgs)
    again = mpipe("export", results, "--run", spread.id, "-o", out)
    assert again.returncode == 2 and "exists" in again.stderr


# --- POP table, communication graph, latency tolerance (issue 19) ------------------------------


def _pop_cells(html: str) -> list:
    return re.findall(r"<td class='pop-(\w+)'>([^<]*)</td>", html)


def test_pop_scale_and_table_colour_known_values():
    """POP's scale: >= 0.8 good, 0.6 to 0.8 fair, < 0.6 poor; each value's cell carries it."""
    import pandas as pd
    from mpipe_analysis.report import _pop_table

    assert [metrics.pop_class(v) for v in (0.8, 0.7999, 0.6, 0.5999, 1.7, float("nan"), "x")] == [
        "good", "fair", "fair", "poor", "good", "na", "na"]
    pop = pd.DataFrame({"metric": ["parallel efficiency", "load balance", "communication efficiency"],
                        "depth": [0, 1, 1], "value": [0.9, 0.7, 0.5], "says": ["", "", ""]})
    useful = pd.DataFrame({"scope": ["rank", "host"], "name": ["0", "vm"],
                           "value": [0.55, float("nan")]})
    html = _pop_table(pop, useful)
    assert _pop_cells(html) == [("good", "0.90"), ("fair", "0.70"), ("poor", "0.50"),
                                ("poor", "0.55"), ("na", "–")]
    assert "useful, rank 0" in html and "useful, host vm" in html
    assert _pop_table(pop.iloc[0:0], useful) == ""


def test_pop_values_come_from_the_runs_attributes():
    from types import SimpleNamespace

    run = SimpleNamespace(attrs={
        "pop_parallel_efficiency": 0.48, "pop_load_balance": 0.71,
        "pop_communication_efficiency": 0.68, "pop_serialization_efficiency": 0.68,
        "pop_transfer_efficiency": 0.99, "pop_rank_useful": "0.37,0.62,0.68,0.26",
        "pop_host_useful": "a=0.495,b=0.47"})
    pop = metrics.pop_efficiencies(run)
    assert list(pop.value) == [0.48, 0.71, 0.68, 0.68, 0.99] and list(pop.depth) == [0, 1, 1, 2, 2]
    useful = metrics.pop_useful(run)
    assert list(zip(useful.scope, useful.name, useful.value)) == [
        ("rank", "0", 0.37), ("rank", "1", 0.62), ("rank", "2", 0.68), ("rank", "3", 0.26),
        ("host", "a", 0.495), ("host", "b", 0.47)]
    assert metrics.pop_efficiencies(SimpleNamespace(attrs={})).empty


def test_report_shows_each_runs_pop_table_with_the_legend(res, report):
    page = report.read_text(encoding="utf-8")
    css = page[page.index("<style>"):page.index("</style>")]
    for level in ("good", "fair", "poor"):
        assert re.search(rf"\.pop-{level}\{{background:#[0-9a-f]{{6}}\}}", css), level
    legend = page[page.index("id='pop-legend'"):]
    legend = legend[:legend.index("</p>")]
    assert "&ge; 0.8 good" in legend and "0.6 – 0.8" in legend and "&lt; 0.6" in legend
    with_pop = [r for r in res.pipeline_runs() if "pop_parallel_efficiency" in r.attrs]
    assert with_pop, "the fixture's runs store no pop_* attributes"
    tables = page.split("<table class='pop'><tr><th>POP efficiency</th>")[1:]
    assert len(tables) == len(with_pop)
    for r, table in zip(with_pop, tables):
        cells = _pop_cells(table[:table.index("</table>")])
        want = metrics.pop_class(r.attrs["pop_parallel_efficiency"])
        assert cells[0] == (want, f"{r.attrs['pop_parallel_efficiency']:.2f}"), (r.id, cells[0])
        ranks = len(str(r.attrs["pop_rank_useful"]).split(","))
        assert len(cells) == 5 + ranks + len(set(r.host_list)), (r.id, cells)


def test_comm_graph_data_of_a_farm_across_two_ranks(res):
    """farm-rr: Main and F#0 on rank 0, F#1 on rank 1 (one host): 3 nodes, 4 instance pairs,
    the two across ranks weighted by their messages' wire bytes, the two in memory by the
    payload (256 B per item)."""
    (run,) = res.select(scenario="farm-rr")
    g = metrics.comm_graph(run)
    assert list(zip(g.nodes.node, g.nodes["rank"])) == [("Main", 0), ("F#0", 0), ("F#1", 1)]
    assert g.hosts == {run.ranks.host.iloc[0]: [0, 1]}
    assert list(g.nodes.source) == [True, False, False]
    pairs = {(e.src, e.dst): e for e in g.edges.itertuples()}
    assert set(pairs) == {("Main", "F#0"), ("Main", "F#1"), ("F#0", "Main"), ("F#1", "Main")}
    m = run.messages
    for (src, dst), (er, sr, dr) in {("Main", "F#1"): (0, 0, 1), ("F#1", "Main"): (1, 1, 0)}.items():
        e = pairs[(src, dst)]
        mine = m[(m.edge == er) & (m.src_replica == sr) & (m.dst_replica == dr)]
        assert e.remote and e.hops == len(mine) > 0
        assert e.bytes == mine.bytes.sum() and e.wire_us == pytest.approx(mine.wire_us.mean())
    for key in (("Main", "F#0"), ("F#0", "Main")):
        e = pairs[key]
        assert not e.remote and e.hops > 0 and e.bytes == 256 * e.hops and np.isnan(e.wire_us)
    assert g.edges["items"].sum() == 2 * run.attr("items")


def test_comm_graph_figure_of_the_spread_seed(res):
    """seed on 3 ranks: 9 stage circles in 3 rank boxes in 1 host box, 12 arrows, each circle
    inside its rank's box; the bytes across ranks are every message's."""
    run = res.select(scenario="seed", placement="spread")[0]
    g = metrics.comm_graph(run)
    assert len(g.nodes) == len(run.stages) == 9 and len(g.edges) == len(run.edges) == 12
    assert g.edges.bytes[g.edges.remote].sum() == run.messages.bytes.sum()
    assert (g.edges.overhead_us > 0).all()
    lay = plots.graph_layout(g)
    for n in g.nodes.itertuples():
        x, y = lay["nodes"][n.node]
        bx, by, bw, bh = lay["ranks"][n.rank]
        assert bx < x < bx + bw and by < y < by + bh, n.node
    fig = plots.comm_graph(run)
    gids = [p.get_gid() or "" for p in fig.axes[0].patches]
    count = {kind: sum(x.startswith(kind + ":") for x in gids) for kind in ("host", "rank", "node", "edge")}
    assert count == {"host": 1, "rank": 3, "node": 9, "edge": 12}, count


def test_report_draws_a_comm_graph_per_run(res, report):
    names = {p.name for p in report.parent.iterdir()}
    shown = res.pipeline_runs()[-12:]
    for r in shown:
        assert f"graph-{r.id}.png" in names, r.id
    assert report.read_text(encoding="utf-8").count("Communication graph: hosts as columns") == len(shown)


def test_tolerance_curves_on_known_numbers():
    import pandas as pd

    assert [metrics.link_latency_ms(t) for t in
            ("", "latency=500us,scope=cross-host", "latency=2s", "latency=1ms,bandwidth=1Gbit/s")
            ][:3] == [0.0, 0.5, 2000.0]
    assert np.isnan(metrics.link_latency_ms("latency=1ms,bandwidth=1Gbit/s"))
    pts = pd.DataFrame({
        "placement": ["pack"] * 3 + ["spread"] * 3,
        "emulated_link": ["", "latency=1ms", "latency=2ms"] * 2,
        "latency_median_ms": [10.0, 10.0, 10.0, 10.0, 10.05, 12.0],
        "latency_ci_low_ms": [9.5, 9.5, 9.5, 9.9, 10.0, 11.9],
        "latency_ci_high_ms": [10.5, 10.5, 10.5, 10.1, 10.1, 12.1],
        "predicted_latency_ms": [8.0, 8.0, 8.0, 8.0, 8.0, 10.0]})
    c = metrics.tolerance_curves(pts)
    spread = c[c.placement == "spread"]
    assert list(spread.slowdown) == pytest.approx([1.0, 1.005, 1.2])
    assert list(spread.slowdown_high) == pytest.approx([1.01, 1.01, 1.21])
    assert list(spread.predicted_slowdown) == pytest.approx([1.0, 1.0, 1.25])
    ms, status = metrics.measured_tolerance(spread, 1.01)
    assert status == "found" and ms == pytest.approx(1 + 0.005 / 0.195)
    assert metrics.measured_tolerance(spread, 1.10)[0] == pytest.approx(1 + 0.095 / 0.195)
    assert metrics.measured_tolerance(c[c.placement == "pack"], 1.01) == (2.0, "above range")
    assert metrics.measured_tolerance(spread, 1.001) == (1.0, "below range")


@pytest.fixture(scope="session")
def link_sweep(mpipe_bin, scratch) -> Path:
    """A real `mpipe sweep` over --emulate-link (none, 2 ms, 20 ms) x pack, spread on 2 ranks
    (2 items, 2 repeats, time scale 0.01: a few seconds). 20 ms on each of the spread's hops
    between ranks is far above their own cost even on a loaded machine."""
    out = scratch / "link_sweep.h5"
    for p in (out, Path(str(out) + ".lock")):
        if p.exists():
            p.unlink()
    analysis_fixture._run(analysis_fixture.mpirun(2) + [
        mpipe_bin, "sweep", "--emulate-link", "none", "latency=2ms", "latency=20ms",
        "--placement", "pack", "spread", "--items", "2", "--repeat", "2", "--time-scale", "0.01",
        "--no-progress", "--out", str(out)])
    return out


def test_report_draws_the_latency_tolerance_curve_of_a_link_sweep(link_sweep, results, scratch):
    (run,) = [r for r in load(link_sweep) if sweep.is_sweep(r)]
    pts = sweep.read(run).points
    assert "emulated_link" in sweep.other_dimensions(pts)
    fig = plots.latency_tolerance(run)
    ax = fig.axes[0]
    measured = [ln for ln in ax.lines if ln.get_label().endswith("measured median")]
    assert sorted(ln.get_label().split(":")[0] for ln in measured) == ["pack", "spread"]
    for ln in measured:
        assert list(ln.get_xdata()) == [0.0, 2.0, 20.0] and ln.get_ydata()[0] == 1.0
    guides = sorted(round(float(ln.get_ydata()[0]), 2) for ln in ax.lines
                    if "slower" in ln.get_label())
    assert guides == [1.01, 1.1]
    spread = [ln for ln in measured if ln.get_label().startswith("spread")][0]
    assert spread.get_ydata()[-1] > 1.5  # 20 ms on every hop between ranks is felt
    out = scratch / "report-link-sweep"
    page = Path(write_report(str(link_sweep), str(out), formats=("png",))).read_text("utf-8")
    assert (out / f"tolerance-{run.id}.png").is_file()
    assert "Latency tolerance: per placement" in page and "within 10 %, measured ms" in page
    # The sweep's own latency_tolerance rows (newer mpipe), listed beside the curve and marked on
    # its guides; optional: older binaries store none.
    own = run.table("latency_tolerance")
    assert ("id='tolerance-table'" in page) == (not own.empty)
    if not own.empty and (own.predicted_ms.replace(np.inf, np.nan) > 0).any():
        assert any("latency_tolerance" in ln.get_label() for ln in ax.lines)
    # A sweep that does not vary the link (the fixture's break-even sweep) draws no such curve.
    real = results.parent / "sweep.h5"
    if real.is_file():
        (be,) = [r for r in load(real) if sweep.is_sweep(r)]
        from mpipe_analysis.report import _tolerance_section

        assert _tolerance_section(be, None) == ""
