"""Timeline export: a run as Trace Event JSON, which Perfetto (https://ui.perfetto.dev) and
chrome://tracing open.

    /usr/bin/python3 -m mpipe_analysis.export --format chrome-trace results.h5 [--run ID] [-o FILE]
    mpipe export --format chrome-trace results.h5 [--run ID] [-o FILE]     # the same

What is in the trace (Trace Event Format, JSON object form):

- one process per rank (``pid`` = rank, named ``rank R (host)``); in it thread 0 is the rank's MPI
  (communication) thread and every stage instance on the rank has its own thread (``tid`` =
  1 + 1000 x stage id + replica, named ``A`` or ``C3#1``);
- complete events (``ph`` ``X``): ``compute`` slices (kernel start to end) and ``wait`` slices
  (input arrived to kernel start) on the stage threads; ``serialize`` (the communication thread
  took the item to the send being posted) and ``deserialize`` slices on the MPI threads;
- flow events for every message: ``ph`` ``s`` inside the sender's serialize slice and ``ph`` ``f``
  (``bp`` ``e``) inside the receiver's deserialize slice, sharing an ``id`` (``cat`` ``message``),
  so the viewers draw an arrow from sender to receiver;
- async events (``ph`` ``b``/``e``, ``cat`` ``item``) on the source's thread: each item from
  emission to completion.

User code (newer files, docs/stages.md): a ``user`` or ``exec`` stage's thread is named with
what ran (``A: exec /bin/cat``, ``Blur: blur (Image -> Image)``) and its compute slices carry
``args.function``; messages carry ``args.data_type`` (``bytes`` or the C++ type); ``otherData``
lists the user stages (``user_stages``: name -> kernel and function). Older files have none of
these and export as before.

Timestamps are µs on rank 0's clock: mpipe stores every rank's stamps already mapped onto rank
0's steady clock (offset and drift measured at the start and end of the run; docs/results-schema.md,
"Times"), relative to the run's start; the export shifts them so the earliest is >= 0 (the shift
is in ``otherData.shift_us``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["chrome_trace", "write_chrome_trace", "main"]

MPI_TID = 0


def _tid(stage: int, replica: int) -> int:
    return 1 + 1000 * int(stage) + int(replica)


def chrome_trace(run) -> dict:
    """The run as a Trace Event Format dict ({"traceEvents": [...], ...})."""
    ev, msgs, stages, ranks = run.events, run.messages, run.stages, run.ranks
    if ev.empty:
        raise ValueError(f"run {run.id} has no events (kind {run.kind}): nothing to export")
    names = dict(zip(stages.id, stages.name))
    reps = dict(zip(stages.id, stages.replicas))
    user = {int(r.id): (str(r.kernel), str(r.function)) for r in run.user_stages.itertuples()}
    data_types = dict(zip(run.edges.id, run.edges.data_type)) if not run.edges.empty else {}
    hosts = dict(zip(ranks["rank"], ranks["host"])) if not ranks.empty else {}
    src = run.source
    stamps = [ev.received_ns.min(), ev.started_ns.min()]
    if not msgs.empty:
        stamps += [msgs.send_start_ns.min(), msgs.received_ns.min()]
    low = min(int(v) for v in stamps)
    shift_ns = -low if low < 0 else 0

    def us(ns) -> float:
        return (int(ns) + shift_ns) / 1000.0

    out = []
    rank_ids = sorted(set(int(r) for r in ev["rank"]) | set(hosts))
    for r in rank_ids:
        out.append({"ph": "M", "name": "process_name", "pid": r,
                    "args": {"name": f"rank {r} ({hosts.get(r, '?')})"}})
        out.append({"ph": "M", "name": "process_sort_index", "pid": r, "args": {"sort_index": r}})
        out.append({"ph": "M", "name": "thread_name", "pid": r, "tid": MPI_TID,
                    "args": {"name": "MPI thread"}})
        out.append({"ph": "M", "name": "thread_sort_index", "pid": r, "tid": MPI_TID,
                    "args": {"sort_index": 0}})
    for (rank, stage, replica) in sorted(set(zip(ev["rank"], ev["stage"], ev["replica"]))):
        label = names[stage] + (f"#{replica}" if reps[stage] > 1 else "")
        if stage in user:
            kernel, function = user[stage]
            label += ": " + ("exec " if kernel == "exec" else "") + (function or kernel)
        tid = _tid(stage, replica)
        out.append({"ph": "M", "name": "thread_name", "pid": int(rank), "tid": tid,
                    "args": {"name": label}})
        out.append({"ph": "M", "name": "thread_sort_index", "pid": int(rank), "tid": tid,
                    "args": {"sort_index": tid}})
    for e in ev.itertuples():
        pid, tid = int(e.rank), _tid(e.stage, e.replica)
        item = int(e.item)
        if e.stage == src:
            out.append({"ph": "b", "cat": "item", "name": f"item {item}", "id": item,
                        "pid": pid, "tid": tid, "ts": us(e.started_ns)})
            out.append({"ph": "e", "cat": "item", "name": f"item {item}", "id": item,
                        "pid": pid, "tid": tid, "ts": us(e.received_ns),
                        "args": {"latency_ms": (int(e.received_ns) - int(e.started_ns)) / 1e6}})
            out.append({"ph": "X", "cat": "compute", "name": names[e.stage], "pid": pid,
                        "tid": tid, "ts": us(e.started_ns),
                        "dur": max(int(e.finished_ns) - int(e.started_ns), 1) / 1000.0,
                        "args": {"item": item}})
            continue
        if e.started_ns > e.received_ns:
            out.append({"ph": "X", "cat": "wait", "name": "wait", "pid": pid, "tid": tid,
                        "ts": us(e.received_ns),
                        "dur": (int(e.started_ns) - int(e.received_ns)) / 1000.0,
                        "args": {"item": item}})
        args = {"item": item, "replica": int(e.replica)}
        if int(e.stage) in user:
            args["function"] = user[int(e.stage)][1] or user[int(e.stage)][0]
        out.append({"ph": "X", "cat": "compute", "name": names[e.stage], "pid": pid, "tid": tid,
                    "ts": us(e.started_ns),
                    "dur": max(int(e.finished_ns) - int(e.started_ns), 1) / 1000.0,
                    "args": args})
    for k, m in enumerate(msgs.itertuples() if not msgs.empty else []):
        name = f"{m.edge_name} #{int(m.item)}"
        args = {"item": int(m.item), "edge": m.edge_name, "bytes": int(m.bytes),
                "serialize_us": int(m.serialize_ns) / 1e3, "wire_us": int(m.transfer_ns) / 1e3,
                "deserialize_us": int(m.deserialize_ns) / 1e3,
                "clock_error_us": int(m.clock_error_ns) / 1e3,
                "data_type": str(data_types.get(m.edge, "bytes"))}
        sdur = max(int(m.posted_ns) - int(m.send_start_ns), int(m.serialize_ns), 1) / 1000.0
        ddur = max(int(m.deserialize_ns), 1) / 1000.0
        s_ts, d_ts = us(m.send_start_ns), us(m.received_ns)
        out.append({"ph": "X", "cat": "serialize", "name": f"serialize {name}",
                    "pid": int(m.src_rank), "tid": MPI_TID, "ts": s_ts, "dur": sdur, "args": args})
        out.append({"ph": "X", "cat": "deserialize", "name": f"deserialize {name}",
                    "pid": int(m.dst_rank), "tid": MPI_TID, "ts": d_ts, "dur": ddur, "args": args})
        out.append({"ph": "s", "cat": "message", "name": m.edge_name, "id": k,
                    "pid": int(m.src_rank), "tid": MPI_TID, "ts": s_ts + sdur / 2})
        out.append({"ph": "f", "bp": "e", "cat": "message", "name": m.edge_name, "id": k,
                    "pid": int(m.dst_rank), "tid": MPI_TID, "ts": d_ts + ddur / 2})
    return {
        "traceEvents": out,
        "displayTimeUnit": "ms",
        "otherData": {
            "run_id": run.id,
            "pipeline": run.scenario,
            "placement": str(run.attr("placement", "")),
            "clock": "µs on rank 0's steady clock since the run's start, plus shift_us",
            "shift_us": shift_ns / 1000.0,
            "clock_error_max_ns": int(run.attr("clock_error_max_ns", 0)),
            "messages": int(len(msgs)),
            "user_stages": {names[i]: {"kernel": k, "function": f} for i, (k, f) in user.items()},
        },
    }


def default_path(results: str, run_id: str) -> str:
    stem = os.path.splitext(os.path.abspath(results))[0]
    return f"{stem}-{run_id}.trace.json"


def write_chrome_trace(results: str, run_id: str | None = None, out: str | None = None,
                       force: bool = False) -> str:
    """Write the run's trace (default: the newest pipeline run) and return the path. An
    existing file is refused unless ``force``."""
    from .load import load

    res = load(results)
    if run_id:
        run = res.by_id(run_id)
    else:
        runs = [r for r in res.pipeline_runs() if "events" in r.datasets]
        if not runs:
            raise ValueError(f"{results}: no pipeline run to export")
        run = runs[-1]
    path = out or default_path(results, run.id)
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists: choose another -o, or --force to replace it")
    trace = chrome_trace(run)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(trace, f, separators=(",", ":"))
    os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="mpipe export",
        description="Export a run's timeline for a trace viewer. chrome-trace: Trace Event JSON "
                    "for Perfetto (ui.perfetto.dev) and chrome://tracing: a track per rank and "
                    "stage thread, compute / wait / serialize / deserialize slices, an arrow per "
                    "message, times on rank 0's clock.")
    p.add_argument("results", help="HDF5 results file")
    p.add_argument("--format", default="chrome-trace", choices=["chrome-trace"],
                   help="output format (default chrome-trace)")
    p.add_argument("--run", help="run id (default: the newest pipeline run)")
    p.add_argument("-o", "--out", help="output file (default <results>-<run id>.trace.json "
                   "next to the results file); an existing file is refused unless --force")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    a = p.parse_args(argv)
    try:
        path = write_chrome_trace(a.results, a.run, a.out, a.force)
    except (OSError, ValueError, KeyError) as e:
        print(f"mpipe export: error: {e}", file=sys.stderr)
        return 2
    print(f"Trace: {path} (open it in https://ui.perfetto.dev or chrome://tracing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
