"""The numbers behind the verdict: per-edge costs, compute/communication ratios, the article's
rule of thumb, Amdahl with communication and the alpha-beta message model.

The article (../shared/seed/parallel-vs-distributed.md): a hop whose compute/communication
ratio is above 10 makes distribution pay, below 5 it hurts, in between it is marginal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .load import Run, unique_labels

__all__ = [
    "PAYS",
    "HURTS",
    "verdict",
    "fmt_ratio",
    "critical_path",
    "edge_costs",
    "hop_times",
    "amdahl",
    "amdahl_message",
    "AmdahlInputs",
    "amdahl_inputs",
    "MessageModel",
    "message_model",
    "compare",
    "Comparison",
    "POP_GOOD",
    "POP_FAIR",
    "pop_class",
    "pop_efficiencies",
    "pop_useful",
    "CommGraph",
    "comm_graph",
    "link_latency_ms",
    "tolerance_curves",
    "measured_tolerance",
]

@dataclass(frozen=True)
class Rule:
    """The article's rule of thumb on a hop's compute/communication ratio. mpipe defines it once
    (C++ ``model.hpp``) and stores it with every pipeline run (attributes ``verdict_*``); these
    defaults, the same values and words, serve files written before that."""

    helps_above: float = 10.0
    hurts_below: float = 5.0
    helps: str = "distribution helps"
    hurts: str = "communication hurts"
    marginal: str = "marginal"


RULE = Rule()
PAYS = RULE.helps_above  # ratio above which the article says distribution pays (old names)
HURTS = RULE.hurts_below  # ratio below which it hurts


def rule_of(run) -> Rule:
    """The rule a run was written with (its ``verdict_*`` attributes), else the default."""
    a = getattr(run, "attrs", {}) or {}
    if "verdict_helps_above" not in a:
        return RULE
    return Rule(float(a["verdict_helps_above"]), float(a["verdict_hurts_below"]),
                str(a["verdict_helps"]), str(a["verdict_hurts"]), str(a["verdict_marginal"]))


def verdict(ratio: float, rule: Rule = RULE) -> str:
    """The article's rule of thumb for a compute/communication ratio."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "n/a"
    if ratio > rule.helps_above:
        return rule.helps
    if ratio < rule.hurts_below:
        return rule.hurts
    return rule.marginal


def fmt_ratio(ratio: float) -> str:
    """A ratio for people: 3 significant digits, "<0.01" for tiny ones, "-" for NaN."""
    if ratio is None or math.isnan(ratio):
        return "-"
    if ratio < 0.01:
        return "<0.01"
    return f"{ratio:.0f}" if ratio >= 1000 else f"{ratio:.3g}"


def critical_path(run: Run) -> tuple:
    """(ms, [stage names]) of the heaviest source-to-source path, summing stages' scaled
    ``work_ms`` (as the run attribute ``critical_path_ms``); the source is listed first and
    last."""
    stages, edges = run.stages, run.edges
    if stages.empty:
        return (math.nan, [])
    src = run.source
    work = dict(zip(stages.id, stages.work_ms))
    name = dict(zip(stages.id, stages.name))
    succ: dict = {}
    for f, t in zip(edges["from"], edges["to"]):
        succ.setdefault(int(f), []).append(int(t))
    best: dict = {}

    def longest(s):  # longest path from s (after s's own work) back to the source
        if s in best:
            return best[s]
        options = []
        for t in succ.get(s, []):
            if t == src:
                options.append((0.0, [name[src]]))
            else:
                w, p = longest(t)
                options.append((work[t] + w, [name[t]] + p))
        best[s] = max(options, key=lambda o: o[0]) if options else (0.0, [])
        return best[s]

    w, p = longest(src)
    return (work[src] + w, [name[src]] + p)


def hop_times(run: Run) -> pd.DataFrame:
    """One row per detailed item per edge: when its input became available at the consumer and
    what the hop cost, in ns (rank 0's clock).

    Columns: ``item``, ``edge`` (id), ``name`` ("A->B"), ``remote`` (the item crossed ranks on
    this edge: it has a ``messages`` row), ``prod_finished_ns`` (the producer's ``finished_ns``),
    ``available_ns`` (cross-rank: the message's ``available_ns``, or ``received_ns +
    deserialize_ns`` in files without that column; in memory: the ``handoffs`` row's
    ``available_ns``, or for files without a ``handoffs`` dataset the producer's ``sent_ns``,
    which comes after it delivered to *all* its outputs), ``source`` (``message``, ``handoff``,
    ``sent_ns`` or ``missing``), ``credit_wait_ns`` (the producer waited for a free replica of an
    on-demand farm: queueing, 0 where not recorded), ``overhead_ns`` (available - credit wait -
    producer finished, as the terminal shows it), ``queue_ns`` (consumer started - available;
    NaN into the source), the message's
    ``serialize_ns``, ``transfer_ns``, ``deserialize_ns``, ``bytes``, ``clock_error_ns`` and
    ``below_clock_error`` (NaN in memory)."""
    edges, ev, msgs = run.edges, run.events, run.messages
    cols = ["item", "edge", "name", "remote", "prod_finished_ns", "available_ns", "source",
            "credit_wait_ns", "overhead_ns", "queue_ns", "serialize_ns", "transfer_ns",
            "deserialize_ns", "bytes", "clock_error_ns", "below_clock_error"]
    if edges.empty or ev.empty:
        return pd.DataFrame(columns=cols)
    src = run.source
    by_key = ev.set_index(["item", "stage"])
    hand = run.handoffs if run.has_handoffs else None
    frames = []
    for e in edges.to_dict("records"):
        frm, to, eid = int(e["from"]), int(e["to"]), int(e["id"])
        items = ev.loc[ev.stage == frm, "item"].to_numpy()
        prod = by_key.loc[[(i, frm) for i in items]]
        frame = pd.DataFrame(
            {
                "item": items,
                "prod_finished_ns": prod.finished_ns.to_numpy(dtype=float),
                "prod_sent_ns": prod.sent_ns.to_numpy(dtype=float),
            }
        )
        mcols = ["received_ns", "deserialize_ns", "serialize_ns", "transfer_ns", "bytes",
                 "clock_error_ns", "below_clock_error", "msg_available_ns", "msg_credit_wait_ns"]
        m = msgs.loc[msgs.edge == eid] if not msgs.empty else pd.DataFrame()
        if not m.empty:
            m = m.assign(
                msg_available_ns=m["available_ns"] if "available_ns" in m else np.nan,
                msg_credit_wait_ns=m["credit_wait_ns"] if "credit_wait_ns" in m else 0.0,
            )
            frame = frame.join(m.set_index("item")[mcols].astype(float), on="item")
        else:
            for c in mcols:
                frame[c] = np.nan
        remote = frame.received_ns.notna().to_numpy()
        if hand is not None:
            h = hand.loc[hand.edge == eid]
            local = frame.item.map(h.groupby("item").available_ns.min()).to_numpy(dtype=float)
            wait = (h.groupby("item").credit_wait_ns.max() if "credit_wait_ns" in h
                    else pd.Series(dtype=float))
            local_wait = frame.item.map(wait).fillna(0.0).to_numpy(dtype=float)
            local_source = "handoff"
        else:
            local = frame.prod_sent_ns.to_numpy(dtype=float)
            local_wait = np.zeros(len(frame))
            local_source = "sent_ns"
        decoded = (frame.received_ns + frame.deserialize_ns).to_numpy()
        remote_available = np.where(frame.msg_available_ns.notna(), frame.msg_available_ns, decoded)
        available = np.where(remote, remote_available, local)
        credit_wait = np.where(remote, frame.msg_credit_wait_ns.fillna(0.0).to_numpy(), local_wait)
        frame["credit_wait_ns"] = credit_wait
        frame["available_ns"] = available
        frame["remote"] = remote
        frame["source"] = np.where(remote, "message",
                                   np.where(np.isnan(available), "missing", local_source))
        frame["overhead_ns"] = available - credit_wait - frame.prod_finished_ns.to_numpy()
        if to != src:
            cons = by_key.reindex([(i, to) for i in items])
            frame["queue_ns"] = cons.started_ns.to_numpy(dtype=float) - available
        else:
            frame["queue_ns"] = np.nan
        frame["edge"] = eid
        frame["name"] = e["name"]
        frames.append(frame[cols])
    return pd.concat(frames, ignore_index=True)


def edge_costs(run: Run) -> pd.DataFrame:
    """One row per edge: what its hop cost on average and whether distributing it pays.

    Columns: ``edge`` (id), ``name`` ("A->B"), ``from_name``, ``to_name``, ``tier``,
    ``transport`` (``mixed`` when the edge's instance pairs differ), ``tier_split`` (e.g.
    ``same-rank 10 items, same-host 10 items``; the tier alone in older files),
    ``serialization``, ``data_type`` (``bytes``, or the C++ type a user function returns;
    ``bytes`` for older files), ``payload_bytes`` (B: the producer's synthetic payload, not what a
    user stage sent), ``wire_bytes`` (B, mean size on the wire; NaN in
    memory), ``hops`` (item hand-offs measured), ``remote`` (how many crossed ranks), then means
    in µs over the hops of :func:`hop_times`: ``handoff_us`` (producer done to the
    communication thread taking it, or the in-memory hand-over: everything but the next three),
    ``serialize_us``, ``wire_us``, ``deserialize_us``, ``overhead_us`` (their sum: producer
    done to input available at the consumer), ``queue_us`` (input available to the consumer
    starting; a join also waits here for its other inputs; NaN into the source); ``work_ms`` (the
    measured mean service time the hop serves: the consumer's, or on a return edge into the
    source the producer's), ``ratio`` (work / ``overhead_us``) and ``verdict`` (the article's
    rule on that same ratio; ``in memory`` for edges that never left a rank); ``available_from``
    (``handoffs`` or, for files without that dataset, ``sent_ns``: the producer's send time,
    late when it waited on another output)."""
    edges, ev = run.edges, run.events
    cols = [
        "edge", "name", "from_name", "to_name", "tier", "transport", "tier_split",
        "serialization", "data_type", "payload_bytes", "wire_bytes", "hops", "remote",
        "handoff_us",
        "serialize_us", "wire_us", "deserialize_us", "overhead_us", "queue_us", "work_ms",
        "ratio", "verdict", "clock_error_us", "unreliable", "available_from",
    ]
    if edges.empty or ev.empty:
        return pd.DataFrame(columns=cols)
    src = run.source
    hops = hop_times(run)
    service = ev.groupby("stage").service_ms.mean()
    rows = []
    for e in edges.to_dict("records"):
        frm, to, eid = int(e["from"]), int(e["to"]), int(e["id"])
        f = hops.loc[hops.edge == eid]
        f = f[f.available_ns.notna()]
        overhead = f.overhead_ns.to_numpy(dtype=float) / 1e3
        ser = f.serialize_ns.fillna(0).to_numpy(dtype=float) / 1e3
        wire = f.transfer_ns.fillna(0).to_numpy(dtype=float) / 1e3
        deser = f.deserialize_ns.fillna(0).to_numpy(dtype=float) / 1e3
        queue_us = (float(np.nanmean(f.queue_ns)) / 1e3
                    if to != src and f.queue_ns.notna().any() else math.nan)
        work_ms = float(service.get(frm if to == src else to, math.nan))
        over = float(overhead.mean()) if len(overhead) else math.nan
        ratio = work_ms * 1e3 / over if over and over > 0 else math.nan
        n_remote = int(f.remote.sum())
        rem = f[f.remote]
        rows.append(
            {
                "edge": eid,
                "name": e["name"],
                "from_name": e["from_name"],
                "to_name": e["to_name"],
                "tier": e["tier"],
                "transport": e["transport"],
                "tier_split": str(e.get("tier_split", "") or e["tier"]),
                "serialization": e["serialization"] if n_remote else "in-memory",
                "data_type": str(e.get("data_type", "bytes") or "bytes"),
                "payload_bytes": int(e["payload_bytes"]),
                "wire_bytes": float(rem.bytes.mean()) if n_remote else math.nan,
                "hops": len(f),
                "remote": n_remote,
                "handoff_us": float((overhead - ser - wire - deser).mean()) if len(f) else math.nan,
                "serialize_us": float(ser.mean()) if len(f) else math.nan,
                "wire_us": float(wire.mean()) if len(f) else math.nan,
                "deserialize_us": float(deser.mean()) if len(f) else math.nan,
                "overhead_us": over,
                "queue_us": queue_us,
                "work_ms": work_ms,
                "ratio": ratio,
                "verdict": verdict(ratio, rule_of(run)) if n_remote else "in memory",
                "clock_error_us": float(rem.clock_error_ns.mean()) / 1e3 if n_remote else 0.0,
                "unreliable": bool(n_remote and rem.below_clock_error.mean() > 0.5),
                "available_from": "handoffs" if run.has_handoffs else "sent_ns",
            }
        )
    return pd.DataFrame(rows, columns=cols)


# --- latency tolerance (a sweep over --emulate-link) ---------------------------------------------

TOLERANCE_LEVELS = (1.01, 1.10)  # slowdowns the model's latency tolerance is given for


def link_latency_ms(text) -> float:
    """The added latency of an ``--emulate-link`` text, in ms: ``latency=1ms,scope=cross-host``
    -> 1.0, empty (no link) -> 0.0; NaN when the link limits anything else (``bandwidth=``) or
    cannot be read (units ``us``, ``ms``, ``s``, as mpipe accepts them)."""
    latency = 0.0
    for part in _split(text):
        key, _, value = part.partition("=")
        if key == "scope":
            continue
        if key != "latency":
            return math.nan
        for suffix, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
            if value.endswith(suffix):
                latency = _float(value[: -len(suffix)]) * factor
                break
        else:
            return math.nan
    return latency


def tolerance_curves(points: pd.DataFrame, dims=()) -> pd.DataFrame:
    """A sweep's ``sweep_points`` as latency-to-slowdown curves: per placement (and value of the
    other varying ``dims``), each point's ``latency_ms`` (added link latency), median and CI,
    and ``slowdown`` = median / the same curve's median without a link (1 = none), its CI
    (``slowdown_low`` / ``slowdown_high``: the CI's ends over that median) and
    ``predicted_slowdown`` (the model's, over its own value without a link; NaN without one).
    Curves without a no-link point, and links that are not pure latency, are left out."""
    if "emulated_link" not in points or points.empty:
        return pd.DataFrame()
    pts = points.assign(latency_ms=[link_latency_ms(t) for t in points.emulated_link])
    pts = pts[pts.latency_ms.notna()]
    keys = ["placement"] + [d for d in dims if d in pts and d != "emulated_link"]
    frames = []
    for key, g in pts.groupby(keys if len(keys) > 1 else keys[0], sort=False):
        base = g[g.latency_ms == 0]
        if base.empty:
            continue
        link = g.groupby("latency_ms").emulated_link.first()
        g = g.groupby("latency_ms", as_index=False).median(numeric_only=True)
        g = g.drop(columns=[k for k in keys if k in g]).sort_values("latency_ms")
        g = g.assign(emulated_link=g.latency_ms.map(link).to_numpy(),
                     **dict(zip(keys, key if isinstance(key, tuple) else (key,))))
        frames.append(_slowdowns(g, base))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _slowdowns(g: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    ref = float(base.latency_median_ms.median())
    pred = g.get("predicted_latency_ms", pd.Series(math.nan, index=g.index))
    pref = float(base.predicted_latency_ms.median()) if "predicted_latency_ms" in base else math.nan
    return g.assign(
        slowdown=g.latency_median_ms / ref,
        slowdown_low=g.get("latency_ci_low_ms", g.latency_median_ms) / ref,
        slowdown_high=g.get("latency_ci_high_ms", g.latency_median_ms) / ref,
        predicted_slowdown=pred / pref if pref and not math.isnan(pref) else math.nan)


def measured_tolerance(curve: pd.DataFrame, level: float, column: str = "slowdown") -> tuple:
    """Where ``curve`` (one placement's rows of :func:`tolerance_curves`) first rises above the
    slowdown ``level``, as mpipe sweep's ``latency_tolerance`` measures it: ``(ms, status)``,
    linearly between the two link latencies tried around the crossing (the no-link point is the
    base, not a point of the line: a link shorter than a hop's own cost holds nothing);
    ``found``, ``above range`` (never: ms = the largest tried), ``below range`` (already at the
    smallest tried: ms = that) or ``no data``."""
    c = curve[curve.latency_ms > 0].sort_values("latency_ms")
    c = c[c[column].notna()]
    x, y = c.latency_ms.to_numpy(float), c[column].to_numpy(float)
    if len(x) == 0:
        return math.nan, "no data"
    if y[0] > level:
        return float(x[0]), "below range"
    for i in range(1, len(x)):
        if y[i] > level:
            return float(x[i - 1] + (level - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1])), \
                "found"
    return float(x[-1]), "above range"


# --- Amdahl ------------------------------------------------------------------------------------


def amdahl(p: float, n, c: float = 0.0):
    """The article's speed-up 1 / [(1-P) + P/N + C*N] (C = 0: plain Amdahl). ``n`` may be an
    array."""
    n = np.asarray(n, dtype=float)
    return 1.0 / ((1.0 - p) + p / n + c * n)


def amdahl_message(p: float, n, t1_ms: float, message_ms: float):
    """Speed-up with one message per extra worker, as `mpipe predict`'s per-message column
    (src/spec/model.cpp): T1 / (T1(1-P) + T1 P/N + (N-1) x message)."""
    n = np.asarray(n, dtype=float)
    return t1_ms / (t1_ms * (1.0 - p) + t1_ms * p / n + (n - 1.0) * message_ms)


@dataclass
class AmdahlInputs:
    """T1 (ms: every stage's work, one after another), the critical path (ms), P = 1 -
    critical/T1, the mean payload (B) and the commonest serialization of the pipeline's edges."""

    t1_ms: float
    critical_ms: float
    p: float
    bytes: float
    serialization: str


def amdahl_inputs(run: Run) -> AmdahlInputs:
    """As `mpipe predict` computes them (src/spec/model.cpp, pipeline_amdahl)."""
    stages, edges = run.stages, run.edges
    t1 = float(stages.work_ms.sum()) if not stages.empty else math.nan
    crit = run.number("critical_path_ms")
    if math.isnan(crit):
        crit = critical_path(run)[0]
    p = min(max(1.0 - crit / t1, 0.0), 1.0) if t1 > 0 else 0.0
    if not edges.empty:
        payload = dict(zip(stages.id, stages.payload_bytes))
        nbytes = float(np.mean([payload[int(f)] for f in edges["from"]]))
        counts = edges.serialization.value_counts()
        order = {"boost": 0, "datatype": 1, "raw": 2}
        ser = sorted(counts.index, key=lambda s: (-counts[s], order.get(s, 9)))[0]
    else:
        nbytes, ser = 0.0, "boost"
    return AmdahlInputs(t1, crit, p, nbytes, ser)


# --- the alpha-beta message model --------------------------------------------------------------


def _weighted_line(x, y):
    """(intercept, slope) of y = a + b x, least squares weighted by 1/y^2 (relative error, as
    mpipe calibrate fits); slope NaN with fewer than two points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return (math.nan, math.nan)
    if len(x) == 1 or np.ptp(x) == 0:
        return (float(y.mean()), math.nan)
    w = 1.0 / y**2
    A = np.vstack([np.ones_like(x), x]).T * np.sqrt(w)[:, None]
    a, b = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)[0]
    return (float(a), float(b))


@dataclass
class MessageModel:
    """Hockney's alpha-beta for one tier plus a serialization's encode/decode:
    message_us(bytes) = alpha_us + bytes x ns_per_byte / 1000 + serialize + deserialize, each of
    the last two per message + per byte. ``source`` says where the numbers came from."""

    tier: str
    serialization: str
    alpha_us: float
    ns_per_byte: float
    serialize_us: float
    serialize_ns_per_byte: float
    deserialize_us: float
    deserialize_ns_per_byte: float
    source: str

    def message_us(self, nbytes):
        nbytes = np.asarray(nbytes, dtype=float)

        def z(v):
            return 0.0 if v is None or math.isnan(v) else v

        return (
            z(self.alpha_us)
            + nbytes * z(self.ns_per_byte) / 1e3
            + z(self.serialize_us)
            + nbytes * z(self.serialize_ns_per_byte) / 1e3
            + z(self.deserialize_us)
            + nbytes * z(self.deserialize_ns_per_byte) / 1e3
        )

    def message_ms(self, nbytes):
        return self.message_us(nbytes) / 1e3


def message_model(run: Run, tier: str | None = None, serialization: str = "boost"):
    """The alpha-beta model of a ``calibration`` run (its fits) or a ``bench`` run (fitted here as
    mpipe calibrate does: alpha = raw MPI's latency at the smallest size, beta = the weighted
    least-squares cost per byte over sizes >= 4 KiB, encode/decode per message + per byte over
    all sizes). ``tier``: the widest MPI tier the run measured when None. None when the run has
    no MPI tier."""
    bench = run.bench
    if bench.empty:
        return None
    tiers = [t for t in ("cross-host", "same-host") if (bench.tier == t).any()]
    if tier is None:
        if not tiers:
            return None
        tier = tiers[0]
    cal = run.calibration
    if not cal.empty:
        link = cal[(cal.tier == tier) & (cal.method == "raw-mpi")]
        codec = cal[(cal.tier == tier) & (cal.method == serialization)]
        if not link.empty:
            lk = link.iloc[0]
            cd = codec.iloc[0] if not codec.empty else None
            return MessageModel(
                tier, serialization, float(lk.alpha_us), float(lk.ns_per_byte),
                float(cd.serialize_us) if cd is not None else math.nan,
                float(cd.serialize_ns_per_byte) if cd is not None else math.nan,
                float(cd.deserialize_us) if cd is not None else math.nan,
                float(cd.deserialize_ns_per_byte) if cd is not None else math.nan,
                f"calibration run {run.id}",
            )
    raw = bench[(bench.tier == tier) & (bench.method == "raw-mpi")].sort_values("size_bytes")
    if raw.empty:
        return None
    alpha = float(raw.latency_us.iloc[0])
    big = raw[raw.size_bytes >= 4096]
    fit = big if len(big) >= 2 else raw
    _, beta_us = _weighted_line(fit.size_bytes, fit.latency_us)
    codec = bench[(bench.tier == tier) & (bench.method == serialization)]
    s0, s1 = _weighted_line(codec.size_bytes, codec.serialize_us) if not codec.empty else (math.nan,) * 2
    d0, d1 = _weighted_line(codec.size_bytes, codec.deserialize_us) if not codec.empty else (math.nan,) * 2
    return MessageModel(
        tier, serialization, alpha, beta_us * 1e3, s0, s1 * 1e3, d0, d1 * 1e3,
        f"{run.kind} run {run.id} (fitted here)",
    )


# --- comparing runs of one pipeline --------------------------------------------------------------


@dataclass
class Comparison:
    """Runs of one pipeline, local against distributed: ``baseline`` (the best local run, or
    None), ``rows`` (one dict per run: run, label (unique among the rows), latency_ms, throughput, latency_change_pct,
    throughput_change_pct, outcome, why), ``headline`` (one sentence), ``bullets`` (one
    sentence or two per run, for a list) and ``text`` (headline and bullets as one paragraph)."""

    scenario: str
    baseline: Run | None
    rows: list
    headline: str
    bullets: list
    text: str


def _pct(new: float, old: float) -> float:
    if old is None or math.isnan(old) or old == 0 or math.isnan(new):
        return math.nan
    return (new - old) / old * 100.0


def _fmt_ms(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    return f"{v:.3g} ms" if v < 100 else f"{v:.0f} ms"


def why(run: Run) -> str:
    """Why a distributed run costs what it costs: its hops on the critical path, their measured
    mean cost and their compute/communication ratio with the article's verdict."""
    costs = edge_costs(run)
    if costs.empty:
        return ""
    crit_ms, path = critical_path(run)
    on_path = set(zip(path[:-1], path[1:]))
    remote = costs[costs.remote > 0]
    if remote.empty:
        return "every hop stayed in memory on one rank."
    crit = remote[[(a, b) in on_path for a, b in zip(remote.from_name, remote.to_name)]]
    parts = []
    if not crit.empty:
        total = crit.overhead_us.sum() / 1e3
        parts.append(
            f"{len(crit)} hop(s) of the critical path cross ranks "
            f"({', '.join(crit.name)}), costing {total:.3g} ms per item together against "
            f"{crit_ms:.3g} ms of work on that path"
        )
    med = float(np.nanmedian(remote.ratio)) if remote.ratio.notna().any() else math.nan
    worst = remote.sort_values("ratio").iloc[0]
    parts.append(
        f"median compute/communication ratio of the {len(remote)} remote edge(s) is "
        f"{fmt_ratio(med)} ({verdict(med, rule_of(run))}); lowest {worst['name']} at "
        f"{fmt_ratio(worst['ratio'])}"
    )
    return "; ".join(parts) + "."


def compare(runs: list, tolerance_pct: float = 3.0, name: str | None = None) -> Comparison:
    """Compare the runs of one pipeline (one :meth:`Results.groups` group): the best local run
    (lowest mean latency; the first run when none is local) against every other. A run
    "helped" when its mean item latency is more than ``tolerance_pct`` lower than the baseline's
    (with several items in flight: its throughput higher), "hurt" when that much worse, else
    "no clear difference". ``name``: what to call the pipeline in the sentences (default its
    spec's name; :func:`~mpipe_analysis.load.group_names` tells groups of one spec apart)."""
    runs = list(runs)
    scenario = name if name is not None else (runs[0].scenario if runs else "")
    local = [r for r in runs if r.is_local]
    base = min(local, key=lambda r: r.latency_ms) if local else None
    stream = any(int(r.attr("inflight", 1)) > 1 for r in runs)
    labels = unique_labels(runs)  # two runs of one setting are told apart by their ids
    label_of = {id(r): lab for r, lab in zip(runs, labels)}
    rows = []
    for r, label in zip(runs, labels):
        lat_pct = _pct(r.latency_ms, base.latency_ms) if base is not None else math.nan
        thr_pct = _pct(r.throughput, base.throughput) if base is not None else math.nan
        if r is base:
            outcome = "baseline (local)"
        elif base is None:
            outcome = "no local run to compare with"
        else:
            key = -thr_pct if stream and not math.isnan(thr_pct) else lat_pct
            if math.isnan(key):
                outcome = "n/a"
            elif key < -tolerance_pct:
                outcome = "helped"
            elif key > tolerance_pct:
                outcome = "hurt"
            else:
                outcome = "no clear difference"
        rows.append(
            {
                "run": r,
                "label": label,
                "latency_ms": r.latency_ms,
                "throughput": r.throughput,
                "latency_change_pct": lat_pct,
                "throughput_change_pct": thr_pct,
                "outcome": outcome,
                "why": "" if r.is_local else why(r),
            }
        )
    dist = [row for row in rows if not row["run"].is_local]
    measured = [row for row in dist if not row["run"].emulated_link]
    what_if = [row for row in dist if row["run"].emulated_link]
    metric = "throughput" if stream else "item latency"
    crit = runs[0].number("critical_path_ms") if runs else math.nan
    if base is None:
        headline = f"{scenario}: no local run (all stages on one rank) to compare against."
    elif not dist:
        headline = f"{scenario}: only local runs; distribute it (e.g. --placement spread) to compare."
    else:
        judged = measured or what_if
        helped = [row for row in judged if row["outcome"] == "helped"]
        hurt = [row for row in judged if row["outcome"] == "hurt"]
        if helped and not hurt:
            answer = "distribution HELPED"
        elif hurt and not helped:
            answer = "distribution HURT"
        elif helped and hurt:
            answer = "distribution helped in some runs and hurt in others"
        else:
            answer = "distribution made NO CLEAR DIFFERENCE"
        kind = "" if measured else " (emulated links only)"
        headline = f"{scenario}: {answer}{kind} ({metric}, against {label_of[id(base)]})."
    sentences = []
    if base is not None:
        sentences.append(
            f"Local baseline, {label_of[id(base)]}: {_fmt_ms(base.latency_ms)} mean item latency"
            + (f", {base.throughput:.3g} items/s" if not math.isnan(base.throughput) else "")
            + (f"; the critical-path bound is {_fmt_ms(crit)}" if not math.isnan(crit) else "")
            + "."
        )
    for row in dist:
        r = row["run"]
        s = f"{row['label']}: {_fmt_ms(row['latency_ms'])}"
        if not math.isnan(row["latency_change_pct"]):
            s += f" ({row['latency_change_pct']:+.1f} %)"
        if not math.isnan(row["throughput"]):
            s += f", {row['throughput']:.3g} items/s"
            if not math.isnan(row["throughput_change_pct"]):
                s += f" ({row['throughput_change_pct']:+.1f} %)"
        s += f" - {row['outcome']}"
        if r.emulated_link:
            s += " (what-if: emulated link)"
        s += "."
        if row["why"]:
            s += " Why: " + row["why"]
            words = rule_of(r)
            rule = verdict(_median_remote_ratio(r), words)
            if (row["outcome"] == "helped" and rule == words.hurts) or (
                row["outcome"] == "hurt" and rule == words.helps
            ):
                s += (" The measurement and the rule of thumb disagree: repeat the runs (or use "
                      "mpipe sweep) before trusting a difference this size on a busy machine.")
            elif (row["outcome"] != "helped" and rule == words.helps and base is not None
                  and not math.isnan(crit) and base.latency_ms <= crit * 1.05):
                s += (" The hops are cheap next to the work (the rule says distribution would "
                      "pay), but the local run already sits at the critical-path bound: its stages "
                      "overlap as threads on one rank, so spreading them adds hops, not "
                      "parallelism. Distribute for cores or memory one machine lacks.")
        sentences.append(s)
    if what_if and measured:
        sentences.append(
            "Runs with an emulated link show what the same placement would cost on a slower "
            "network; the verdict above is from the measured runs."
        )
    return Comparison(scenario, base, rows, headline, sentences, " ".join([headline] + sentences))


def _median_remote_ratio(run: Run) -> float:
    c = edge_costs(run)
    c = c[c.remote > 0]
    return float(np.nanmedian(c.ratio)) if not c.empty and c.ratio.notna().any() else math.nan


# --- POP efficiencies ----------------------------------------------------------------------------

# POP's colour scale for its efficiency tables: >= 0.8 good, 0.6 to 0.8 fair, below 0.6 poor.
POP_GOOD = 0.8
POP_FAIR = 0.6

# (attribute, metric, depth in POP's tree, what it says); docs/running.md gives the formulas.
POP_METRICS = (
    ("pop_parallel_efficiency", "parallel efficiency", 0,
     "load balance x communication: how much of the ranks' time did work"),
    ("pop_load_balance", "load balance", 1, "mean / max of the ranks' busy shares"),
    ("pop_communication_efficiency", "communication efficiency", 1,
     "serialization x transfer: the busiest rank's busy share"),
    ("pop_serialization_efficiency", "serialization efficiency", 2,
     "busiest rank's busy time / ideal wall: waiting on dependencies"),
    ("pop_transfer_efficiency", "transfer efficiency", 2,
     "ideal wall / wall: what the network and the runtime's hops cost"),
)


def pop_class(value) -> str:
    """POP's colour class of an efficiency: ``good`` (>= 0.8), ``fair`` (0.6 to 0.8), ``poor``
    (< 0.6), ``na`` (NaN or not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "na"
    if math.isnan(v):
        return "na"
    return "good" if v >= POP_GOOD else "fair" if v >= POP_FAIR else "poor"


def pop_efficiencies(run) -> pd.DataFrame:
    """The run's POP efficiencies (``pop_*`` attributes): one row per metric with ``metric``,
    ``depth`` (0 parallel, 1 its factors, 2 communication's factors), ``value`` (NaN when not
    stored) and ``says``; empty for runs without them (older files, benchmarks)."""
    a = getattr(run, "attrs", {}) or {}
    rows = [dict(metric=m, depth=d, value=_float(a.get(k)), says=s)
            for k, m, d, s in POP_METRICS]
    if all(math.isnan(r["value"]) for r in rows):
        return pd.DataFrame(columns=["metric", "depth", "value", "says"])
    return pd.DataFrame(rows)


def pop_useful(run) -> pd.DataFrame:
    """Useful-compute efficiency (busy / wall) per rank and per host, from ``pop_rank_useful``
    (``0.37,0.62``) and ``pop_host_useful`` (``vm=0.48,b=0.5``): columns ``scope`` (``rank`` or
    ``host``), ``name`` and ``value``."""
    a = getattr(run, "attrs", {}) or {}
    rows = [dict(scope="rank", name=str(i), value=_float(v))
            for i, v in enumerate(_split(a.get("pop_rank_useful", "")))]
    for part in _split(a.get("pop_host_useful", "")):
        host, _, v = part.rpartition("=")
        rows.append(dict(scope="host", name=host, value=_float(v)))
    return pd.DataFrame(rows, columns=["scope", "name", "value"])


def _split(text) -> list:
    return [p.strip() for p in str(text or "").split(",") if p.strip()]


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


# --- communication graph -------------------------------------------------------------------------


@dataclass
class CommGraph:
    """Where a run's stages ran and what went between them (:func:`comm_graph`).

    ``nodes``: one row per stage instance (stage x replica): ``node`` (``"F#1"``, the stage's
    name for a stage without replicas), ``stage_id``, ``stage``, ``replica``, ``rank``, ``host``,
    ``source`` (the pipeline's source). ``edges``: one row per instance pair that carried items
    (``edge_instances``): ``edge`` (id), ``name`` (``"A->B"``), ``src`` and ``dst`` (node names),
    ``src_rank``, ``dst_rank``, ``tier``, ``items`` (over every item), ``hops`` (detailed hops
    measured), ``remote`` (crossed ranks), ``bytes`` (B over the measured hops: on the wire for
    messages, the producer's payload in memory), ``bytes_per_hop``, ``overhead_us`` (mean,
    producer done to input available) and ``wire_us`` (mean one-way transfer; NaN in memory).
    ``hosts``: host -> its ranks, in rank order."""

    nodes: pd.DataFrame
    edges: pd.DataFrame
    hosts: dict


def _replica_ranks(stage) -> list:
    text = str(stage.get("ranks", "") or "")
    got = [int(x) for x in text.split(",") if x.strip().lstrip("-").isdigit()]
    return got or [int(stage.get("rank", 0))] * int(stage.get("replicas", 1) or 1)


def _graph_nodes(run) -> pd.DataFrame:
    host_of = dict(zip(run.ranks["rank"], run.ranks["host"])) if not run.ranks.empty else {}
    src, rows = run.source, []
    for s in run.stages.to_dict("records"):
        ranks = _replica_ranks(s)
        for rep, rank in enumerate(ranks):
            rows.append(dict(node=s["name"] + (f"#{rep}" if len(ranks) > 1 else ""),
                             stage_id=int(s["id"]), stage=s["name"], replica=rep, rank=rank,
                             host=str(host_of.get(rank, "?")), source=int(s["id"]) == src))
    return pd.DataFrame(rows, columns=["node", "stage_id", "stage", "replica", "rank", "host",
                                       "source"])


def _hop_replicas(run) -> pd.DataFrame:
    """:func:`hop_times` with the producer's and consumer's replica of every hop."""
    hops, ev, edges = hop_times(run), run.events, run.edges.set_index("id")
    if hops.empty:
        return hops.assign(src_replica=[], dst_replica=[])
    rep = ev.set_index(["item", "stage"]).replica
    frm = [(i, int(edges.at[e, "from"])) for i, e in zip(hops.item, hops.edge)]
    to = [(i, int(edges.at[e, "to"])) for i, e in zip(hops.item, hops.edge)]
    return hops.assign(src_replica=rep.reindex(frm).fillna(0).astype(int).to_numpy(),
                       dst_replica=rep.reindex(to).fillna(0).astype(int).to_numpy())


def _graph_pairs(run) -> pd.DataFrame:
    """The instance pairs: ``edge_instances``, else one pair per edge (older files)."""
    inst = run.edge_instances
    if not inst.empty:
        return inst[inst["items"] > 0] if "items" in inst else inst
    e = run.edges
    return pd.DataFrame({"edge": e.id, "src_replica": 0, "dst_replica": 0,
                         "from_rank": e.from_rank, "to_rank": e.to_rank, "tier": e.tier,
                         "items": run.attr("items", 0)})


def _pair_stats(run, edges) -> dict:
    """(edge, producer replica, consumer replica) -> its measured hops (``wire_b``: bytes on the
    wire, or the payload in memory; ``wire_us``, ``over_us``)."""
    hops = _hop_replicas(run)
    if hops.empty:
        return {}
    hops = hops[hops.available_ns.notna()]
    payload = hops.edge.map(edges.payload_bytes).astype(float)
    hops = hops.assign(wire_b=hops.bytes.where(hops.remote, payload),
                       wire_us=hops.transfer_ns / 1e3, over_us=hops.overhead_ns / 1e3)
    return {k: g for k, g in hops.groupby(["edge", "src_replica", "dst_replica"])}


def _graph_edges(run, nodes) -> pd.DataFrame:
    edges = run.edges.set_index("id")
    name_of = dict(zip(zip(nodes.stage_id, nodes.replica), nodes.node))
    stats = _pair_stats(run, edges)
    rows = []
    for p in _graph_pairs(run).to_dict("records"):
        e, sr, dr = int(p["edge"]), int(p["src_replica"]), int(p["dst_replica"])
        src = name_of.get((int(edges.at[e, "from"]), sr))
        dst = name_of.get((int(edges.at[e, "to"]), dr))
        if src is None or dst is None:  # a replica the stages table does not place
            continue
        g = stats.get((e, sr, dr))
        n = 0 if g is None else len(g)
        total = float(g.wire_b.sum()) if n else 0.0
        rows.append(dict(
            edge=e, name=edges.at[e, "name"],
            src=src, dst=dst,
            src_rank=int(p["from_rank"]), dst_rank=int(p["to_rank"]), tier=str(p["tier"]),
            items=int(p.get("items", 0)), hops=n, remote=int(p["from_rank"]) != int(p["to_rank"]),
            bytes=total, bytes_per_hop=total / n if n else math.nan,
            overhead_us=float(g.over_us.mean()) if n else math.nan,
            wire_us=float(g.wire_us.mean()) if n and g.wire_us.notna().any() else math.nan))
    return pd.DataFrame(rows, columns=GRAPH_EDGE_COLUMNS)


GRAPH_EDGE_COLUMNS = ["edge", "name", "src", "dst", "src_rank", "dst_rank", "tier", "items",
                      "hops", "remote", "bytes", "bytes_per_hop", "overhead_us", "wire_us"]


def comm_graph(run) -> CommGraph:
    """The run's communication graph: stage instances grouped by rank and host, and the instance
    pairs between them weighted by bytes and by the mean cost of a hop (see :class:`CommGraph`)."""
    if run.stages.empty:
        return CommGraph(_graph_nodes(run), pd.DataFrame(columns=GRAPH_EDGE_COLUMNS), {})
    nodes = _graph_nodes(run)
    hosts = {}
    for rank, host in sorted(set(zip(nodes["rank"], nodes["host"]))):
        hosts.setdefault(host, []).append(rank)
    edges = (_graph_edges(run, nodes) if not run.edges.empty
             else pd.DataFrame(columns=GRAPH_EDGE_COLUMNS))
    return CommGraph(nodes, edges, hosts)
