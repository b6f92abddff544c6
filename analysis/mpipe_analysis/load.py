"""Loading an mpipe results file and selecting runs.

``load(path)`` reads the run list of a results file (docs/results-schema.md) and returns a
:class:`Results`: a list of :class:`Run`, oldest first. A run's datasets are read lazily, the
first time they are asked for, as pandas DataFrames with string columns decoded to ``str``.

Tables of a :class:`Run` (columns in file order, then the derived columns listed):

``events``    one row per item per stage. File columns ``item, stage, replica, rank,
              received_ns, started_ns, finished_ns, sent_ns`` (timestamps, ns on rank 0's
              clock since the run's start). Derived: ``name`` (stage name), ``service_ms``
              (finished - started, ms), ``queued_ms`` (started - received, ms; meaningless for
              the source, whose row spans the whole item), ``is_source`` (bool).
``messages``  one row per item crossing ranks. File columns ``item, edge, src_rank, dst_rank,
              (newer files) src_replica, dst_replica, bytes, send_start_ns, serialize_ns, posted_ns, received_ns, deserialize_ns,
              transfer_ns, clock_error_ns, below_clock_error`` (newer files also
              ``available_ns, credit_wait_ns``). Derived: ``from_name``,
              ``to_name``, ``edge_name`` ("A->B"), ``serialize_us``, ``wire_us`` (transfer),
              ``deserialize_us`` (all µs).
``handoffs``  one row per detailed item per same-rank edge hand-off: ``item, edge, rank,
              src_replica, dst_replica, available_ns, credit_wait_ns`` (the input entered the
              consumer's join table; the producer waited that long for a free replica). Derived: ``edge_name``. Absent in older files (:attr:`Run.has_handoffs`).
``edge_instances`` one row per (edge, producer replica, consumer replica): ``edge,
              src_replica, dst_replica, from_rank, to_rank, tier, transport, items``. Derived:
              ``name``. :attr:`Run.tier` / :attr:`Run.is_local` read every pair.
``items``     one row per item: ``item, emitted_ns, completed_ns, latency_ns``; derived
              ``latency_ms``.
``stages``    ``id, name, kernel, work_ms (ms, scaled), threads, payload_bytes (B), rank,
              replicas, dispatch, ordered, ranks``, ``function`` (newer files: the user code a
              ``user`` or ``exec`` stage ran, e.g. ``blur (Image -> Image)`` or the command
              line; empty for sleep/spin/compute; read as ``""`` from older files).
``edges``     ``id, from, to, from_name, to_name, from_rank, to_rank, tier, transport,
              serialization, payload_bytes (B)``, ``tier_split`` (newer files; ``tier`` and
              ``transport`` read ``mixed`` when the edge's instance pairs differ),
              ``data_type`` (newer files: ``bytes`` or the C++ type a user function returns;
              read as ``bytes`` from older files); derived ``name`` ("A->B").
``ranks``     ``rank, host, pid, omp_max_threads, hardware_threads``, ``usable_cores, cpus,
              omp_places`` (newer files: the rank's affinity mask, e.g. ``0-1``, its size and
              its OpenMP places), ``clock_offset_ns, clock_offset_end_ns, clock_drift_ppm,
              clock_error_ns, clock_rtt_ns, stages``.
``bench``     (bench/calibration runs) ``tier, method, size_bytes (B), reps, latency_us (µs),
              latency_p95_us, bandwidth_mb_s (10^6 B/s), latency_ratio, bandwidth_ratio,
              serialize_us, deserialize_us``.
``calibration`` (calibration runs) ``tier, method, points, alpha_us (µs), ns_per_byte (ns/B),
              bandwidth_mb_s, r2, serialize_us, serialize_ns_per_byte, deserialize_us,
              deserialize_ns_per_byte``.

Any other dataset of a run group (e.g. a sweep's) is available as ``run.table(name)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterable

import h5py
import numpy as np
import pandas as pd

__all__ = ["load", "Results", "Run", "select", "table_of", "unique_labels", "group_names"]


def table_of(group: h5py.Group, name: str) -> pd.DataFrame:
    """Dataset ``name`` of an h5py run group as a DataFrame, strings decoded (empty if absent)."""
    if name not in group:
        return pd.DataFrame()
    data = group[name][()]
    if data.dtype.names is None:
        return pd.DataFrame({name: data})
    frame = pd.DataFrame(data)
    for column in data.dtype.names:
        if h5py.check_string_dtype(data.dtype[column]) is not None:
            frame[column] = [
                v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in frame[column]
            ]
    return frame


def _plain(value):
    """numpy scalars to Python ones, so attributes print and compare simply."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


@dataclass
class Run:
    """One run of a results file: its attributes and (lazily) its datasets."""

    path: str
    id: str
    attrs: dict
    datasets: tuple
    _cache: dict = field(default_factory=dict, repr=False)

    # --- raw access -----------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """Dataset ``name`` as stored (strings decoded); an empty frame when absent."""
        if name not in self._cache:
            with h5py.File(self.path, "r") as f:
                self._cache[name] = table_of(f["runs"][self.id], name)
        return self._cache[name]

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)

    # --- what kind of run ------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``run`` (pipeline), ``bench``, ``calibration``, ``sweep``, ... (attribute ``kind``)."""
        return str(self.attrs.get("kind", "run"))

    @property
    def is_pipeline(self) -> bool:
        return self.kind == "run"

    @property
    def scenario(self) -> str:
        """The spec's name (``seed``, ``render-farm``, ...); empty for benchmark runs."""
        return str(self.attrs.get("spec_name", ""))

    @property
    def placement_mode(self) -> str:
        return str(self.attrs.get("placement_mode", ""))

    @property
    def world_size(self) -> int:
        return int(self.attrs.get("world_size", 1))

    @property
    def host_list(self) -> list:
        hosts = str(self.attrs.get("hosts", ""))
        return [h for h in hosts.split(",") if h]

    @property
    def emulated_link(self) -> str:
        return str(self.attrs.get("emulated_link", ""))

    @property
    def time_scale(self) -> float:
        return float(self.attrs.get("time_scale", 1.0))

    @property
    def transport(self) -> str:
        """What carried the run's cross-rank hops (``edge_instances.transport`` of every instance
        pair that left its rank, e.g. ``ob1/vader``; files without it: ``edges.transport``),
        comma separated; ``in-memory`` when every hop stayed on one rank; for benchmark runs
        the ``transport`` attribute."""
        if not self.is_pipeline:
            return str(self.attrs.get("transport", ""))
        inst = self.edge_instances
        if not inst.empty:
            remote = set(inst.loc[inst.tier != "same-rank", "transport"])
        else:
            edges = self.edges
            if edges.empty:
                return "in-memory"
            remote = set(edges.loc[edges.tier != "same-rank", "transport"]) - {"mixed"}
            if not remote and self.tier != "same-rank":
                remote = {"mixed"}
        remote = sorted(remote - {"in-memory"}) or sorted(remote)
        return ",".join(remote) if remote else "in-memory"

    @property
    def serialization(self) -> str:
        """``--serialization`` when given, else the serializations of the cross-rank edges
        (``in-memory`` when there are none)."""
        override = str(self.attrs.get("serialization_override", ""))
        if override:
            return override
        edges = self.edges
        if edges.empty:
            return ""
        remote = sorted(set(edges.loc[edges.tier != "same-rank", "serialization"]))
        return ",".join(remote) if remote else "in-memory"

    @property
    def tier(self) -> str:
        """The widest tier any hop crossed: ``same-rank`` (local: one rank, in memory),
        ``same-host`` (distributed over ranks of one host) or ``cross-host``. Every instance pair
        of ``edge_instances`` counts (an edge into a replicated stage whose first replica shares
        the producer's rank is still distributed when another replica does not); an edge whose
        tier is ``mixed`` is never local; files without ``edge_instances`` fall back on the
        ranks of ``messages``."""
        edges, inst = self.edges, self.edge_instances
        tiers = set(edges.tier) if not edges.empty else set()
        if not inst.empty:
            tiers |= set(inst.tier)
        if not tiers - {"same-rank", "mixed"}:
            msgs = self.table("messages")
            if not msgs.empty:  # a message crossed ranks: at least same-host
                host = dict(zip(self.ranks["rank"], self.ranks["host"])) if not self.ranks.empty else {}
                cross = any(host.get(int(a), a) != host.get(int(b), b)
                            for a, b in zip(msgs.src_rank, msgs.dst_rank))
                tiers.add("cross-host" if cross and host else "same-host")
        for t in ("cross-host", "same-host"):
            if t in tiers:
                return t
        return "same-host" if "mixed" in tiers else "same-rank"

    @property
    def is_local(self) -> bool:
        """True when every stage instance ran on one rank: no instance pair of any edge (nor any
        message) crossed ranks."""
        return self.tier == "same-rank"

    @property
    def detail_stride(self) -> int:
        """k of ``detail_stride``: per-item rows (events, messages, items) were kept for items
        0, k, 2k, ... only (a run past ``--detail-items``); 1 = every item."""
        try:
            return max(int(self.attrs.get("detail_stride", 1)), 1)
        except (TypeError, ValueError):
            return 1

    @property
    def per_item_rows(self) -> str:
        """Which items have per-item rows, in words: ``every item``, or e.g. ``every 3rd item
        (items 0, 3, 6, …: 4 of 12 items)``; empty for benchmark runs."""
        if not self.is_pipeline:
            return ""
        k = self.detail_stride
        if k <= 1:
            return "every item"
        total = int(self.attrs.get("items", 0) or 0)
        kept = len(self.table("items")) or (-(-total // k) if total else 0)
        suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
        return (f"every {k}{suffix} item (items 0, {k}, {2 * k}, …: {kept} of {total} items)")

    @property
    def replicas(self) -> int:
        """The largest stage replica count (the farm's width); 1 without farms."""
        stages = self.stages
        return int(stages.replicas.max()) if not stages.empty else 1

    @property
    def stage_ranks(self) -> list:
        """The ranks the stages (every replica) ran on, sorted: ``stages.ranks`` (each stage's
        replicas' ranks, comma separated), else ``stages.rank``."""
        stages = self.stages
        if stages.empty:
            return []
        used = set()
        if "ranks" in stages:
            for v in stages["ranks"]:
                used |= {int(x) for x in str(v).split(",") if x.strip().lstrip("-").isdigit()}
        if not used and "rank" in stages:
            used = {int(v) for v in stages["rank"]}
        return sorted(used)

    @property
    def label(self) -> str:
        """A short human label that says where the stages ran, e.g. ``spread 4 ranks, 2 hosts,
        link latency=1ms``, or ``map, all stages on rank 0 (3 ranks launched)`` when the stages
        occupied fewer ranks than the job had."""
        if not self.is_pipeline:
            return f"{self.kind} {self.world_size} ranks, {len(set(self.host_list))} host(s)"
        hosts = len(set(self.host_list)) or 1
        used, n = self.stage_ranks, self.world_size
        if used and len(used) < n:
            where = (f"all stages on rank {used[0]}" if len(used) == 1
                     else f"stages on ranks {','.join(map(str, used))}")
            parts = [f"{self.placement_mode}, {where} ({n} ranks launched)"]
        else:
            parts = [f"{self.placement_mode} {n} rank{'s' if n > 1 else ''}"]
        if hosts > 1:
            parts.append(f"{hosts} hosts")
        if self.replicas > 1:
            parts.append(f"x{self.replicas} replicas")
        if self.emulated_link:
            parts.append(f"link {self.emulated_link}")
        if "tcp" in self.transport:
            parts.append("tcp")
        override = str(self.attrs.get("serialization_override", ""))
        if override:
            parts.append(override)
        return ", ".join(parts)

    def pipeline_key(self, replicas: bool = True) -> tuple:
        """Runs with equal keys ran the same pipeline: spec name and each stage's name, kernel,
        scaled work, threads and payload (and replicas unless ``replicas=False``)."""
        stages = self.stages
        rows = tuple(
            (r.name, r.kernel, round(float(r.work_ms), 6), int(r.threads), int(r.payload_bytes))
            + ((int(r.replicas),) if replicas else ())
            + ((r.function,) if r.function else ())  # user code: which function or command
            for r in stages.itertuples()
        )
        return (self.scenario, rows)

    @property
    def user_stages(self) -> pd.DataFrame:
        """The stages that ran user code (``kernel`` ``user`` or ``exec``): their ``stages``
        rows; empty for synthetic pipelines and for older files."""
        stages = self.stages
        if stages.empty:
            return stages
        return stages[stages.kernel.isin(["user", "exec"])]

    # --- tables with derived columns ------------------------------------------------------
    @property
    def stages(self) -> pd.DataFrame:
        key = "_stages"
        if key not in self._cache:
            stages = self.table("stages").copy()
            if "function" not in stages:  # older files: no user code recorded
                stages["function"] = ""
            self._cache[key] = stages
        return self._cache[key]

    @property
    def ranks(self) -> pd.DataFrame:
        return self.table("ranks")

    @property
    def bench(self) -> pd.DataFrame:
        return self.table("bench")

    @property
    def calibration(self) -> pd.DataFrame:
        return self.table("calibration")

    @property
    def edges(self) -> pd.DataFrame:
        key = "_edges"
        if key not in self._cache:
            edges = self.table("edges").copy()
            if "data_type" not in edges:  # older files: synthetic payloads only
                edges["data_type"] = "bytes"
            if not edges.empty:
                edges["name"] = edges.from_name + "->" + edges.to_name
            self._cache[key] = edges
        return self._cache[key]

    @property
    def source(self):
        """Stage id of the source (the stage every item starts from), or None."""
        edges, stages = self.edges, self.stages
        if stages.empty:
            return None
        if edges.empty:
            return int(stages.id.iloc[0])
        # The source's event row spans the whole item (started = emitted, received =
        # completed; docs/results-schema.md, events), which no other stage's does.
        ev, items = self.table("events"), self.table("items")
        if not ev.empty and not items.empty:
            done = dict(zip(items.item, items.completed_ns))
            emitted = dict(zip(items.item, items.emitted_ns))
            mask = [
                done.get(i) == r and emitted.get(i) == s
                for i, r, s in zip(ev.item, ev.received_ns, ev.started_ns)
            ]
            cands = ev.loc[mask, "stage"].value_counts()
            if not cands.empty:
                return int(cands.index[0])
        return int(stages.id.iloc[0])

    @property
    def events(self) -> pd.DataFrame:
        key = "_events"
        if key not in self._cache:
            ev = self.table("events").copy()
            if not ev.empty:
                names = dict(zip(self.stages.id, self.stages.name))
                ev["name"] = ev.stage.map(names)
                ev["service_ms"] = (ev.finished_ns - ev.started_ns) / 1e6
                ev["queued_ms"] = (ev.started_ns - ev.received_ns) / 1e6
                ev["is_source"] = ev.stage == self.source
            self._cache[key] = ev
        return self._cache[key]

    @property
    def edge_instances(self) -> pd.DataFrame:
        """``edge_instances`` (one row per edge x producer replica x consumer replica: ranks,
        tier, transport, items that took it) with ``name`` ("A->B") added; empty for files
        written before mpipe stored it."""
        key = "_edge_instances"
        if key not in self._cache:
            inst = self.table("edge_instances").copy()
            if not inst.empty and not self.edges.empty:
                inst["name"] = inst.edge.map(self.edges.set_index("id").name)
            self._cache[key] = inst
        return self._cache[key]

    @property
    def has_handoffs(self) -> bool:
        """True when the file stores ``handoffs`` (when each in-memory input became available);
        older files only have the producer's ``events.sent_ns``."""
        return "handoffs" in self.datasets

    @property
    def handoffs(self) -> pd.DataFrame:
        """``handoffs``: one row per detailed item per same-rank edge hand-off (``item, edge,
        rank, src_replica, dst_replica, available_ns``: the input entered the consumer's join
        table), with ``edge_name`` added; empty when absent."""
        key = "_handoffs"
        if key not in self._cache:
            h = self.table("handoffs").copy()
            if not h.empty and not self.edges.empty:
                h["edge_name"] = h.edge.map(self.edges.set_index("id").name)
            self._cache[key] = h
        return self._cache[key]

    @property
    def messages(self) -> pd.DataFrame:
        key = "_messages"
        if key not in self._cache:
            m = self.table("messages").copy()
            if not m.empty:
                edges = self.edges.set_index("id")
                m["from_name"] = m.edge.map(edges.from_name)
                m["to_name"] = m.edge.map(edges.to_name)
                m["edge_name"] = m.from_name + "->" + m.to_name
                m["serialize_us"] = m.serialize_ns / 1e3
                m["wire_us"] = m.transfer_ns / 1e3
                m["deserialize_us"] = m.deserialize_ns / 1e3
            self._cache[key] = m
        return self._cache[key]

    @property
    def items(self) -> pd.DataFrame:
        key = "_items"
        if key not in self._cache:
            it = self.table("items").copy()
            if not it.empty:
                it["latency_ms"] = it.latency_ns / 1e6
            self._cache[key] = it
        return self._cache[key]

    # --- headline numbers -------------------------------------------------------------------
    def number(self, name: str) -> float:
        """A float attribute, NaN when absent."""
        try:
            return float(self.attrs.get(name, math.nan))
        except (TypeError, ValueError):
            return math.nan

    @property
    def latency_ms(self) -> float:
        """Mean item latency over every item (attribute ``latency_mean_ms``), ms."""
        v = self.number("latency_mean_ms")
        if math.isnan(v) and not self.items.empty:
            v = float(self.items.latency_ms.mean())
        return v

    @property
    def throughput(self) -> float:
        """Steady-state throughput, items/s (NaN when the window was empty)."""
        return self.number("throughput_items_per_s")

    def __repr__(self) -> str:
        return f"Run({self.id!r}, {self.kind}, {self.scenario or '-'}: {self.label})"


def unique_labels(runs) -> list:
    """Each run's :attr:`Run.label`, made unique among ``runs``: a label two or more runs share
    gets the run's id appended (``spread 2 ranks [run 20261124T063500.123Z]``)."""
    runs = list(runs)
    labels = [r.label for r in runs]
    counts: dict = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    return [f"{lab} [run {r.id}]" if counts[lab] > 1 else lab for r, lab in zip(runs, labels)]


def _fmt_values(values) -> str:
    vals = sorted(set(values), key=str)
    return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals)


def _group_features(runs) -> dict:
    """What a group of runs (one :meth:`Run.pipeline_key`) ran with, in words: kernel, time
    scale, work, threads and payload of its stages (``--kernel`` named when it was given)."""
    r = runs[0]
    stages = r.stages
    override = str(r.attrs.get("kernel_override", ""))
    kernels = _fmt_values(stages.kernel) if not stages.empty else ""
    feats = {
        "kernel": f"--kernel {override}" if override else f"the spec's kernel {kernels}",
        "time scale": f"time scale {r.time_scale:g}",
    }
    if not stages.empty:
        feats["work"] = "work " + ", ".join(
            f"{n}={w:g}" for n, w in zip(stages.name, stages.work_ms)) + " ms"
        feats["threads"] = f"threads {_fmt_values(int(t) for t in stages.threads)}"
        feats["payload"] = f"payload {_fmt_values(int(b) for b in stages.payload_bytes)} B"
    return feats


def group_names(groups) -> list:
    """A name per group of runs (:meth:`Results.groups`): the spec's name, and when several
    groups share it, what tells them apart in parentheses, e.g. ``seed (--kernel spin)`` and
    ``seed (the spec's kernel sleep)``; ``variant k`` when no kernel, time scale, work, threads
    or payload differs (another setting of the spec did)."""
    groups = [list(g) for g in groups]
    scen = [g[0].scenario if g else "" for g in groups]
    feats = [_group_features(g) if g else {} for g in groups]
    names = []
    for k, (name, f) in enumerate(zip(scen, feats)):
        peers = [j for j, s in enumerate(scen) if s == name]
        if len(peers) == 1:
            names.append(name)
            continue
        # Work follows the time scale: name the scale alone when it differs.
        keys = [key for key in ("kernel", "time scale", "work", "threads", "payload")
                if len({feats[j].get(key) for j in peers}) > 1]
        if "time scale" in keys and "work" in keys:
            keys.remove("work")
        what = ", ".join(f[key] for key in keys) or f"variant {peers.index(k) + 1}"
        names.append(f"{name} ({what})")
    return names


class Results(list):
    """The runs of one results file, oldest first (a list of :class:`Run`)."""

    path: str = ""

    def by_id(self, run_id: str) -> Run:
        for r in self:
            if r.id == run_id:
                return r
        raise KeyError(f"no run {run_id!r} in {self.path} (runs: {', '.join(r.id for r in self)})")

    def select(self, **criteria) -> "Results":
        """Runs matching every criterion; see :func:`select`."""
        out = Results(select(self, **criteria))
        out.path = self.path
        return out

    def pipeline_runs(self) -> "Results":
        return self.select(kind="run")

    def bench_runs(self) -> "Results":
        """``mpipe bench`` and ``mpipe calibrate`` runs (both have ``bench`` rows)."""
        out = Results(r for r in self if r.kind in ("bench", "calibration"))
        out.path = self.path
        return out

    def groups(self, replicas: bool = True) -> list:
        """Pipeline runs grouped by :meth:`Run.pipeline_key`: [[run, ...], ...], each group in
        file order, groups in order of their first run."""
        groups: dict = {}
        for r in self.pipeline_runs():
            groups.setdefault(r.pipeline_key(replicas), []).append(r)
        return list(groups.values())

    def group_names(self, replicas: bool = True) -> list:
        """:func:`group_names` of :meth:`groups`: unique names, in the same order."""
        return group_names(self.groups(replicas))

    def summary(self) -> pd.DataFrame:
        """One row per run: id, kind, scenario, label, placement, ranks, hosts, tier, transport,
        serialization, emulated link, items, per_item_rows (:attr:`Run.per_item_rows`: which
        items have per-item rows), latency_ms (mean), critical_path_ms, predicted_ms,
        throughput (items/s), bound (items/s), complete."""
        rows = []
        for r in self:
            rows.append(
                {
                    "id": r.id,
                    "kind": r.kind,
                    "scenario": r.scenario,
                    "label": r.label,
                    "placement": r.attr("placement", ""),
                    "ranks": r.world_size,
                    "hosts": len(set(r.host_list)),
                    "tier": r.tier if r.is_pipeline else "",
                    "transport": r.transport,
                    "serialization": r.serialization if r.is_pipeline else "",
                    "emulated_link": r.emulated_link,
                    "items": r.attr("items", math.nan),
                    "per_item_rows": r.per_item_rows,
                    "latency_ms": r.latency_ms if r.is_pipeline else math.nan,
                    "critical_path_ms": r.number("critical_path_ms"),
                    "predicted_ms": r.number("predicted_latency_ms"),
                    "throughput": r.throughput,
                    "bound": r.number("throughput_bound_items_per_s"),
                    "complete": r.attr("complete", None),
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Results({self.path!r}, {len(self)} runs)"


def load(path: str | os.PathLike) -> Results:
    """The runs of a results file (attributes read now, datasets on first use), oldest first."""
    path = os.fspath(path)
    out = Results()
    out.path = path
    with h5py.File(path, "r") as f:
        if "runs" not in f:
            raise ValueError(f"{path}: not an mpipe results file (no /runs group)")
        ids = list(f["runs"].keys())

        def order(run_id: str):
            base, _, suffix = run_id.partition("Z-")
            return (base, int(suffix) if suffix.isdigit() else 0)

        for run_id in sorted(ids, key=order):
            group = f["runs"][run_id]
            attrs = {k: _plain(v) for k, v in group.attrs.items()}
            out.append(Run(path=path, id=run_id, attrs=attrs, datasets=tuple(group.keys())))
    return out


def _matches(value: str, wanted) -> bool:
    if wanted is None:
        return True
    if callable(wanted):
        return bool(wanted(value))
    if isinstance(wanted, (list, tuple, set)):
        return any(_matches(value, w) for w in wanted)
    return str(wanted) == value or (str(wanted) != "" and str(wanted) in value.split(","))


def select(
    runs: Iterable[Run],
    *,
    kind: str | None = None,
    scenario=None,
    placement=None,
    transport=None,
    serialization=None,
    emulated_link=None,
    world_size=None,
    local: bool | None = None,
) -> list:
    """Runs matching every given criterion (None: any). Strings match exactly or as one item
    of a comma-separated value; a list matches any of its items; a callable is a predicate.

    - ``kind``: ``run`` (pipeline), ``bench``, ``calibration``, ``sweep``
    - ``scenario``: the spec's name (``seed``, ``render-farm``, ``api-calls``, ...)
    - ``placement``: the placement mode (``pack``, ``spread``, ``map``) or the resolved map
    - ``transport``: ``in-memory``, ``ob1/vader``, ``ob1/tcp``, ... or a substring like ``tcp``
    - ``serialization``: ``boost``, ``datatype``, ``raw``, ``in-memory``
    - ``emulated_link``: the ``--emulate-link`` text; ``""`` selects measured (not emulated) runs
    - ``world_size``: ranks; ``local``: True for runs on one rank's memory only
    """
    out = []
    for r in runs:
        if kind is not None and not _matches(r.kind, kind):
            continue
        if scenario is not None and not _matches(r.scenario, scenario):
            continue
        if placement is not None and not (
            _matches(r.placement_mode, placement) or _matches(str(r.attr("placement", "")), placement)
        ):
            continue
        if transport is not None:
            t = r.transport
            if not (_matches(t, transport) or (isinstance(transport, str) and transport in t)):
                continue
        if serialization is not None and not _matches(r.serialization, serialization):
            continue
        if emulated_link is not None and not (
            r.emulated_link == emulated_link if isinstance(emulated_link, str)
            else _matches(r.emulated_link, emulated_link)
        ):
            continue
        if world_size is not None and r.world_size != int(world_size):
            continue
        if local is not None and r.is_pipeline and r.is_local != local:
            continue
        out.append(r)
    return out
