"""The results file as a notebook reads it: runs the real `mpipe` twice into one file and checks
it with h5py against docs/results-schema.md, whose tables are parsed here so that the
documentation and the files cannot drift apart.

Environment: MPIPE_BIN (the mpipe binary; the file checks are skipped without it) and
MPIPE_TEST_TMP (scratch directory; pytest's own tmp dir otherwise). Needs Debian's h5py, i.e.
/usr/bin/python3 -m pytest.
"""

import os
import re
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "results-schema.md"
RECORDS = REPO / "include" / "mpipe" / "records.hpp"
SPEC = REPO / "tests" / "data" / "small.yaml"
PLACEMENTS = ("pack", "spread")

# The doc's type names, as h5py reads them.
COLUMN_DTYPES = {
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "uint64": np.dtype("<u8"),
    "float64": np.dtype("<f8"),
}
ATTRIBUTE_TYPES = {
    "string": str,
    "int64": np.int64,
    "float64": np.float64,
    "bool": np.bool_,
}
# records.hpp's member types in the doc's vocabulary.
CPP_TYPES = {
    "std::int32_t": "int32",
    "std::int64_t": "int64",
    "std::uint64_t": "uint64",
    "double": "float64",
    "std::string": "string",
}
STRUCT_OF = {
    "events": "event_row",
    "messages": "message_row",
    "items": "item_row",
    "ranks": "rank_row",
    "stages": "stage_row",
    "edges": "edge_row",
    "edge_instances": "edge_instance_row",
    "handoffs": "handoff_row",
    "bench": "bench_row",
    "calibration": "calibration_row",
    "sweep_points": "sweep_point_row",
    "sweep_repeats": "sweep_repeat_row",
    "break_even": "break_even_row",
    "latency_tolerance": "latency_tolerance_row",
}


# --- the documentation ------------------------------------------------------------------------


def table_rows(lines):
    """(name, type) of each `| `name` | type | ... |` row, in order."""
    rows = []
    for line in lines:
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*([a-z0-9]+)\s*\|", line)
        if m:
            rows.append((m.group(1), m.group(2)))
    return rows


def sections(text, level):
    """{heading: lines} for headings of exactly `level` #'s."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if m and len(m.group(1)) <= level:
            current = m.group(2) if len(m.group(1)) == level else None
            if current is not None:
                out[current] = []
            continue
        if current is not None:
            out[current].append(line)
    return out


def parse_doc():
    text = DOC.read_text(encoding="utf-8")
    top = sections(text, 2)
    file_attributes = dict(table_rows(top["File attributes"]))
    run_attributes = dict(table_rows(top["Run attributes"]))
    bench_attributes = dict(table_rows(top["Bench run attributes"]))
    datasets = {}
    for heading, lines in sections("\n".join(top["Datasets"]), 3).items():
        name = heading.strip("`")
        datasets[name] = table_rows(lines)
    return file_attributes, run_attributes, bench_attributes, datasets


FILE_ATTRIBUTES, RUN_ATTRIBUTES, BENCH_ATTRIBUTES, DATASETS = parse_doc()
SWEEP_ATTRIBUTES = dict(
    table_rows(sections(DOC.read_text(encoding="utf-8"), 2)["Sweep run attributes"])
)


def parse_records_header():
    """{struct name: [(member, doc type)]} from include/mpipe/records.hpp."""
    structs, current = {}, None
    for line in RECORDS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^struct (\w+) \{", line)
        if m:
            current = structs.setdefault(m.group(1), [])
            continue
        if line.startswith("};"):
            current = None
            continue
        m = re.match(r"^\s+([\w:]+) (\w+)(?: = [^;]*)?;", line)
        if current is not None and m and m.group(1) in CPP_TYPES:
            current.append((m.group(2), CPP_TYPES[m.group(1)]))
    return structs


def test_doc_parses_into_every_table():
    assert FILE_ATTRIBUTES == {"mpipe_schema_version": "int64"}
    assert set(DATASETS) == set(STRUCT_OF)
    assert all(DATASETS.values())
    for name in ("run_id", "spec_text", "world_size", "time_scale", "complete"):
        assert name in RUN_ATTRIBUTES
    assert set(RUN_ATTRIBUTES.values()) <= set(ATTRIBUTE_TYPES)
    assert "kind" not in RUN_ATTRIBUTES  # absent means a pipeline run
    assert BENCH_ATTRIBUTES["kind"] == "string"
    for name in ("run_id", "sizes", "reps", "world_size", "complete"):
        assert name in BENCH_ATTRIBUTES
    assert set(BENCH_ATTRIBUTES.values()) <= set(ATTRIBUTE_TYPES)
    for columns in DATASETS.values():
        assert {t for _, t in columns} <= set(COLUMN_DTYPES) | {"string"}


@pytest.mark.parametrize("dataset", sorted(STRUCT_OF))
def test_doc_columns_match_records_header(dataset):
    """Every struct member is documented, in order, with its type (records.hpp is the source)."""
    assert DATASETS[dataset] == parse_records_header()[STRUCT_OF[dataset]]


# --- a real results file --------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    binary = os.environ.get("MPIPE_BIN")
    if not binary:
        pytest.skip("MPIPE_BIN is not set: point it at the mpipe binary to check a real file")
    assert Path(binary).is_file(), f"MPIPE_BIN={binary} does not exist"
    scratch = os.environ.get("MPIPE_TEST_TMP")
    base = Path(scratch) if scratch else tmp_path_factory.mktemp("mpipe")
    work = base / "schema"
    work.mkdir(parents=True, exist_ok=True)
    for leftover in work.iterdir():
        leftover.unlink()
    out = work / "results.h5"
    env = mpipe_env()
    for placement in PLACEMENTS:
        cmd = [binary, "run", "--spec", str(SPEC), "--placement", placement, "--out", str(out)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, (
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return out


def mpipe_env():
    env = dict(os.environ)
    if os.geteuid() == 0:  # a singleton Open MPI refuses root without these
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def single_run(tmp_path_factory, name, args, timeout):
    """(attributes, {dataset: array}, {dataset: dtype}) of the one run that `mpipe ARGS --out`
    writes into a fresh file under the scratch folder `name`."""
    binary = os.environ.get("MPIPE_BIN")
    if not binary:
        pytest.skip("MPIPE_BIN is not set: point it at the mpipe binary to check a real file")
    scratch = os.environ.get("MPIPE_TEST_TMP")
    base = Path(scratch) if scratch else tmp_path_factory.mktemp("mpipe")
    work = base / name
    work.mkdir(parents=True, exist_ok=True)
    for leftover in work.iterdir():
        leftover.unlink()
    out = work / f"{name}.h5"
    cmd = [binary, *args, "--out", str(out)]
    proc = subprocess.run(cmd, env=mpipe_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    with h5py.File(out, "r") as f:
        (group,) = f["runs"].values()
        data = {ds: group[ds][()] for ds in group}
        dtypes = {ds: group[ds].dtype for ds in group}
        return dict(group.attrs), data, dtypes


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """(attributes, {dataset: array}, {dataset: dtype}) of `mpipe bench --quick` on one rank."""
    return single_run(tmp_path_factory, "bench", ["bench", "--quick", "--no-progress"], 120)


@pytest.fixture(scope="module")
def runs(results):
    """[(run id, {attribute: value}, {dataset: numpy array})] in file order."""
    out = []
    with h5py.File(results, "r") as f:
        for run_id, group in f["runs"].items():
            data = {name: group[name][()] for name in group}
            dtypes = {name: group[name].dtype for name in group}
            out.append((run_id, dict(group.attrs), data, dtypes))
    return out


def test_file_holds_both_runs_and_nothing_else(results, runs):
    assert len(runs) == len(PLACEMENTS)
    with h5py.File(results, "r") as f:
        assert set(f) == {"runs"}
        assert set(f.attrs) == set(FILE_ATTRIBUTES)
        version = f.attrs["mpipe_schema_version"]
        assert isinstance(version, np.int64) and version == 1
    # Only the file: no temp file or lock file of the append left behind.
    assert sorted(p.name for p in results.parent.iterdir()) == [results.name]


def test_run_ids(runs):
    ids = [run_id for run_id, *_ in runs]
    for run_id, attrs, *_ in runs:
        assert re.fullmatch(r"\d{8}T\d{6}\.\d{3}Z(-\d+)?", run_id), run_id
        assert attrs["run_id"] == run_id
        start = re.sub(r"[-:]", "", attrs["utc_start"])  # 20261124T013512.123456Z
        assert run_id.split("-")[0] == start[:19] + "Z"
    assert len(set(ids)) == len(ids)


def test_every_documented_attribute_with_its_type(runs):
    for run_id, attrs, *_ in runs:
        assert set(attrs) == set(RUN_ATTRIBUTES), f"run {run_id}: attributes differ from the doc"
        for name, doc_type in RUN_ATTRIBUTES.items():
            expected = ATTRIBUTE_TYPES[doc_type]
            assert isinstance(attrs[name], expected), (
                f"run {run_id}: {name} is {type(attrs[name]).__name__}, doc says {doc_type}"
            )


def test_runs_are_complete_and_describe_themselves(runs):
    spec_bytes = SPEC.read_bytes()
    for (run_id, attrs, data, _), placement in zip(runs, PLACEMENTS):
        assert attrs["complete"] == np.True_, run_id
        assert attrs["spec_text"].encode("utf-8") == spec_bytes
        assert attrs["placement_mode"] == placement
        assert attrs["world_size"] == 1
        assert len(data["ranks"]) == attrs["world_size"]
        assert attrs["items"] >= 1
        assert attrs["utc_start"] <= attrs["utc_end"]
        names = [n.decode() for n in data["stages"]["name"]]
        assert attrs["placement"] == ",".join(f"{n}=0" for n in names)


def test_every_documented_dataset_with_every_column(runs):
    for run_id, _, data, dtypes in runs:
        assert set(data) == set(DATASETS), f"run {run_id}: datasets differ from the doc"
        for name, columns in DATASETS.items():
            dtype = dtypes[name]
            assert list(dtype.names) == [c for c, _ in columns], f"{run_id}/{name}"
            for column, doc_type in columns:
                field = dtype.fields[column][0]
                if doc_type == "string":
                    info = h5py.check_string_dtype(field)
                    assert info is not None and info.encoding == "utf-8", f"{name}.{column}"
                    assert info.length is None, f"{name}.{column} is not variable-length"
                else:
                    assert field == COLUMN_DTYPES[doc_type], f"{name}.{column}: {field}"


def test_one_event_per_item_and_stage(runs):
    for run_id, attrs, data, _ in runs:
        events, stages = data["events"], data["stages"]
        assert len(events) == attrs["items"] * len(stages), run_id
        pairs = set(zip(events["item"].tolist(), events["stage"].tolist()))
        assert pairs == {(i, s) for i in range(attrs["items"]) for s in stages["id"].tolist()}


def test_one_item_row_per_item(runs):
    for run_id, attrs, data, _ in runs:
        items = data["items"]
        assert len(items) == attrs["items"], run_id
        assert sorted(items["item"].tolist()) == list(range(attrs["items"]))
        assert (items["latency_ns"] == items["completed_ns"] - items["emitted_ns"]).all()
        assert (items["latency_ns"] > 0).all()


def test_event_times_are_ordered(runs):
    for run_id, _, data, _ in runs:
        items = {int(r["item"]): r for r in data["items"]}
        # The source's row spans the whole item (received = completed); find it by that.
        source_stages = {
            int(e["stage"])
            for e in data["events"]
            if e["started_ns"] == items[int(e["item"])]["emitted_ns"]
            and e["received_ns"] == items[int(e["item"])]["completed_ns"]
        }
        assert len(source_stages) == 1, f"run {run_id}: cannot tell the source: {source_stages}"
        for e in data["events"]:
            item = items[int(e["item"])]
            where = f"run {run_id} item {e['item']} stage {e['stage']}: {e}"
            assert e["started_ns"] <= e["finished_ns"] <= e["sent_ns"], where
            if int(e["stage"]) in source_stages:
                assert e["started_ns"] <= item["completed_ns"] == e["received_ns"], where
            else:
                assert e["received_ns"] <= e["started_ns"], where
                assert item["emitted_ns"] <= e["received_ns"], where
                # Not sent_ns: the last stage's hand-off completes the item before it returns.
                assert e["finished_ns"] <= item["completed_ns"], where


def test_single_rank_runs_stay_in_memory(runs):
    for run_id, _, data, _ in runs:
        assert len(data["messages"]) == 0, run_id
        assert {t.decode() for t in data["edges"]["tier"]} == {"same-rank"}, run_id
        assert (data["stages"]["rank"] == 0).all()


def test_pipeline_runs_have_no_bench_rows(runs):
    for run_id, attrs, data, _ in runs:
        assert "kind" not in attrs, run_id
        assert len(data["bench"]) == 0, run_id


def test_bench_run_has_every_documented_attribute_with_its_type(bench_run):
    attrs, _, _ = bench_run
    assert set(attrs) == set(BENCH_ATTRIBUTES), "bench run attributes differ from the doc"
    for name, doc_type in BENCH_ATTRIBUTES.items():
        assert isinstance(attrs[name], ATTRIBUTE_TYPES[doc_type]), (
            f"{name} is {type(attrs[name]).__name__}, doc says {doc_type}"
        )
    assert attrs["kind"] == "bench"
    assert attrs["complete"] == np.True_
    assert attrs["world_size"] == 1
    assert attrs["sizes"] == "0,64,1024,65536,1048576"


def test_bench_run_has_every_dataset_and_only_bench_rows(bench_run):
    _, data, dtypes = bench_run
    assert set(data) == set(DATASETS)
    for name, columns in DATASETS.items():
        assert list(dtypes[name].names) == [c for c, _ in columns], name
        if name != "bench":
            assert len(data[name]) == 0, name
    bench = data["bench"]
    # One rank: only the in-memory hand-off between two threads can be measured.
    assert {t.decode() for t in bench["tier"]} == {"same-rank"}
    assert {m.decode() for m in bench["method"]} == {"in-memory"}
    assert bench["size_bytes"].tolist() == [0, 64, 1024, 65536, 1048576]
    assert (bench["latency_us"] > 0).all()
    assert (bench["latency_p95_us"] >= bench["latency_us"]).all()
    assert (bench["reps"] > 0).all()
    assert np.isnan(bench["latency_ratio"]).all()
    assert np.isnan(bench["serialize_us"]).all()


# --- a sweep (`mpipe sweep`) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """(attributes, {dataset: array}, {dataset: dtype}) of a tiny `mpipe sweep` on one rank:
    two placements over two work scales, so the break_even rows are there too."""
    return single_run(tmp_path_factory, "sweep",
                      ["sweep", "--spec", str(SPEC), "--placement", "pack", "spread",
                       "--work-scale", "0.01", "0.02", "--repeat", "2", "--seed", "3",
                       "--no-progress"], 240)


def test_sweep_run_has_every_documented_attribute_with_its_type(sweep_run):
    attrs, _, _ = sweep_run
    assert set(attrs) == set(SWEEP_ATTRIBUTES), "sweep run attributes differ from the doc"
    for name, doc_type in SWEEP_ATTRIBUTES.items():
        assert isinstance(attrs[name], ATTRIBUTE_TYPES[doc_type]), (
            f"{name} is {type(attrs[name]).__name__}, doc says {doc_type}"
        )
    assert attrs["kind"] == "sweep"
    assert attrs["seed"] == 3 and attrs["points"] == 4 and attrs["runs"] == 4 * (2 + 1)


def test_sweep_run_has_every_dataset_and_only_sweep_rows(sweep_run):
    _, data, dtypes = sweep_run
    assert set(data) == set(DATASETS)
    for name, columns in DATASETS.items():
        assert list(dtypes[name].names) == [c for c, _ in columns], name
        if name not in ("sweep_points", "sweep_repeats", "break_even"):
            assert len(data[name]) == 0, name
    assert len(data["sweep_points"]) == 4
    assert len(data["sweep_repeats"]) == 12
    assert [q.decode() for q in data["break_even"]["quantity"]] == [
        "latency equal", "slowdown 10 %", "efficiency 50 %"]


def test_pipeline_runs_have_no_sweep_rows(runs):
    for run_id, _, data, _ in runs:
        for name in ("sweep_points", "sweep_repeats", "break_even"):
            assert len(data[name]) == 0, (run_id, name)
