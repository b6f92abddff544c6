"""mpipe_analysis.compare (`mpipe compare`): runs of many results files grouped and tested.

The statistics are checked on small files written here with h5py, holding only the run
attributes the comparison reads (placement_mode, spec_name, latency_mean_ms,
throughput_items_per_s, complete, kind): the latencies must be chosen to know the right answer
(identical groups, shifted groups). The real mpipe's file (the analysis fixture: pack, spread and
map runs) checks that what mpipe writes is read; tests/cli/compare.sh runs the command end to end.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

import mpipe_analysis
from mpipe_analysis.compare import (CompareError, bootstrap_median_ci, compare, holm, main,
                                    permutation_test)


def write_runs(path, runs):
    """A results file with one /runs/<id> group per dict of attributes (defaults: a complete
    pipeline run of 'seed' on 2 ranks)."""
    with h5py.File(path, "w") as f:
        f.attrs["mpipe_schema_version"] = 1
        group = f.create_group("runs")
        for i, attrs in enumerate(runs):
            g = group.create_group(f"20260101T000000.{i:03d}Z")
            full = {"spec_name": "seed", "placement_mode": "pack", "world_size": 2,
                    "complete": True, "throughput_items_per_s": np.nan, **attrs}
            for k, v in full.items():
                g.attrs[k] = v
    return path


def files_of(tmp_path, groups):
    """One file per run, as a Slurm array writes them: {placement: [latency_ms, ...]}."""
    out = []
    for placement, latencies in groups.items():
        for i, lat in enumerate(latencies):
            out.append(write_runs(tmp_path / f"{placement}_{i}.h5", [{
                "placement_mode": placement, "latency_mean_ms": float(lat),
                "throughput_items_per_s": 1000.0 / float(lat)}]))
    return out


# --- the statistics --------------------------------------------------------------------------


def test_permutation_test_exact_small_case():
    # {1,2} vs {3,4}: of the 6 relabellings, the observed split and its mirror have |diff| 2.
    p, method, min_p = permutation_test([1, 2], [3, 4], np.random.default_rng(0))
    assert p == pytest.approx(1 / 3)
    assert "exact" in method and "6" in method
    assert min_p == pytest.approx(1 / 3)


def test_permutation_test_random_when_many_relabellings():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 1, 30), rng.normal(14, 1, 30)
    p, method, _ = permutation_test(a, b, np.random.default_rng(0), resamples=2000)
    assert "2000 random" in method
    assert p == pytest.approx(1 / 2001)  # no relabelling reaches a 4-sigma gap
    p_same, _, _ = permutation_test(a, a.copy(), np.random.default_rng(0), resamples=2000)
    assert p_same == 1.0


def test_bootstrap_ci_seeded_and_around_the_median():
    v = np.random.default_rng(3).normal(10, 1, 25)
    low, high = bootstrap_median_ci(v, np.random.default_rng(7), 4000)
    assert low < np.median(v) < high
    assert (low, high) == bootstrap_median_ci(v, np.random.default_rng(7), 4000)
    assert all(np.isnan(bootstrap_median_ci([5.0], np.random.default_rng(0))))


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


# --- verdicts --------------------------------------------------------------------------------


def test_identical_distributions_no_clear_difference(tmp_path):
    same = np.random.default_rng(5).normal(10, 0.5, 8)
    c = compare(files_of(tmp_path, {"pack": same, "spread": same[::-1]}))
    (v,) = c.verdicts
    assert not v.clear and v.p_value == 1.0
    assert "no clear difference (permutation test on the difference of medians, p=1.000)" in v.text


def test_same_distribution_draws_no_clear_difference(tmp_path):
    rng = np.random.default_rng(11)
    c = compare(files_of(tmp_path, {"pack": rng.normal(10, 0.5, 8),
                                    "spread": rng.normal(10, 0.5, 8)}))
    assert not c.verdicts[0].clear and c.verdicts[0].p_value > 0.05


def test_shifted_distributions_clear_difference(tmp_path):
    rng = np.random.default_rng(2)
    c = compare(files_of(tmp_path, {"pack": rng.normal(10, 0.3, 8),
                                    "spread": rng.normal(13, 0.3, 8)}))
    (v,) = c.verdicts
    assert v.clear and v.faster == "pack" and v.against == "pack" and v.group == "spread"
    assert v.p_value < 0.01
    assert v.difference_pct == pytest.approx(100 * 3 / 13, abs=3)  # time saved, % of spread's
    assert v.text.startswith(f"pack is faster than spread by {v.difference_pct:.1f} % "
                             "(permutation test on the difference of medians, p=")
    row = c.table.set_index("placement")
    assert row.loc["pack", "runs"] == 8 and row.loc["pack", "files"] == 8
    assert row.loc["pack", "latency_ci_low_ms"] < row.loc["pack", "latency_median_ms"] \
        < row.loc["pack", "latency_ci_high_ms"] < row.loc["spread", "latency_ci_low_ms"]


def test_throughput_metric_higher_is_better(tmp_path):
    rng = np.random.default_rng(2)
    c = compare(files_of(tmp_path, {"pack": rng.normal(10, 0.3, 8),
                                    "spread": rng.normal(13, 0.3, 8)}), metric="throughput")
    (v,) = c.verdicts
    assert v.clear and v.faster == "pack" and "higher in throughput" in v.text
    assert v.difference_pct == pytest.approx(30, abs=4)  # 1/10 against 1/13 items per ms


def test_three_groups_each_against_the_best_holm(tmp_path):
    rng = np.random.default_rng(4)
    c = compare(files_of(tmp_path, {"pack": rng.normal(10, 0.2, 6),
                                    "spread": rng.normal(15, 0.2, 6),
                                    "other": rng.normal(10, 0.2, 6)}))
    assert len(c.verdicts) == 2 and {v.against for v in c.verdicts} in ({"pack"}, {"other"})
    by_group = {v.group: v for v in c.verdicts}
    assert by_group["spread"].clear and "Holm-adjusted p=" in by_group["spread"].text
    loser = ({"pack", "other"} - {c.verdicts[0].against}).pop()
    assert not by_group[loser].clear
    assert all(v.p_adjusted >= v.p_value for v in c.verdicts)


def test_too_few_runs_says_so(tmp_path):
    c = compare(files_of(tmp_path, {"pack": [10.0], "spread": [20.0]}))
    (v,) = c.verdicts
    assert not v.clear and "cannot go below 1.000" in v.text
    assert np.isnan(c.table.latency_ci_low_ms).all()
    assert "n/a" in c.text()


def test_seeded_output_is_reproducible(tmp_path):
    rng = np.random.default_rng(8)
    files = files_of(tmp_path, {"pack": rng.normal(10, 1, 40), "spread": rng.normal(10.5, 1, 40)})
    assert compare(files, seed=3, resamples=500).to_csv() == \
        compare(files, seed=3, resamples=500).to_csv()


def test_skipped_runs_are_counted(tmp_path):
    rng = np.random.default_rng(2)
    files = files_of(tmp_path, {"pack": rng.normal(10, 0.3, 3), "spread": rng.normal(13, 0.3, 3)})
    extra = write_runs(tmp_path / "extra.h5", [
        {"kind": "bench"}, {"kind": "sweep"}, {"kind": "calibration"},
        {"placement_mode": "pack", "latency_mean_ms": 1000.0, "complete": False}])
    c = compare(files + [extra])
    assert len(c.runs) == 6 and c.table.runs.sum() == 6
    text = "\n".join(c.notes)
    assert "skipped 1 incomplete run(s)" in text and "extra.h5 run" in text
    assert "skipped 3 run(s) that are not pipeline runs (kind bench: 1, calibration: 1, sweep: 1)" \
        in text


def test_map_placements_are_told_apart(tmp_path):
    f = write_runs(tmp_path / "maps.h5", [
        {"placement_mode": "map", "placement": "Main=0,A=1", "latency_mean_ms": 5.0},
        {"placement_mode": "map", "placement": "Main=0,A=0", "latency_mean_ms": 6.0}])
    c = compare([f])
    assert set(c.table.placement) == {"map Main=0,A=1", "map Main=0,A=0"}


# --- output formats --------------------------------------------------------------------------


@pytest.fixture
def shifted(tmp_path):
    rng = np.random.default_rng(2)
    return files_of(tmp_path, {"pack": rng.normal(10, 0.3, 5), "spread": rng.normal(13, 0.3, 5)})


def test_csv_parses(shifted):
    c = compare(shifted)
    table = pd.read_csv(io.StringIO(c.to_csv()))
    assert list(table.placement) == ["pack", "spread"]
    assert list(table.runs) == [5, 5]
    assert {"latency_median_ms", "latency_ci_low_ms", "throughput_median_items_per_s",
            "p_value", "p_adjusted", "verdict", "compared_with"} <= set(table.columns)
    assert table.set_index("placement").loc["spread", "compared_with"] == "pack"
    assert table.latency_median_ms.tolist() == pytest.approx(c.table.latency_median_ms.tolist())


def test_json_parses(shifted):
    doc = json.loads(compare(shifted).to_json())
    assert doc["by"] == "placement" and "permutation test" in doc["test"]
    assert [g["placement"] for g in doc["groups"]] == ["pack", "spread"]
    assert doc["groups"][0]["p_value"] is None  # NaN -> null: the best group has no test
    assert doc["verdicts"][0]["clear"] is True and len(doc["runs"]) == 10


def test_main_formats_and_out_file(shifted, tmp_path, capsys):
    assert main(["--format", "json", *map(str, shifted)]) == 0
    assert json.loads(capsys.readouterr().out)["verdicts"][0]["faster"] == "pack"
    assert main([*map(str, shifted)]) == 0
    out = capsys.readouterr().out
    assert "latency median (ms)" in out and "throughput median (items/s)" in out
    assert "Verdict on latency (permutation test on the difference of medians" in out
    dest = tmp_path / "cmp.csv"
    assert main(["--format", "csv", "-o", str(dest), *map(str, shifted)]) == 0
    assert pd.read_csv(dest).runs.sum() == 10
    dest.write_text("keep me")
    assert main(["--format", "csv", "-o", str(dest), *map(str, shifted)]) == 2
    assert "exists" in capsys.readouterr().err and dest.read_text() == "keep me"
    assert main(["--format", "csv", "-o", str(dest), "--force", *map(str, shifted)]) == 0
    assert dest.read_text().startswith("placement,runs")


def test_package_level_call_and_module_run(shifted):
    assert mpipe_analysis.compare(shifted).verdicts[0].faster == "pack"
    proc = subprocess.run([sys.executable, "-m", "mpipe_analysis.compare", "--format", "csv",
                           *map(str, shifted)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no runpy warning about a module imported twice
    assert proc.stdout.startswith("placement,runs")


# --- bad input -------------------------------------------------------------------------------


def error_of(files, **kw) -> str:
    with pytest.raises(CompareError) as e:
        compare(files, **kw)
    return str(e.value)


def test_missing_file(shifted, tmp_path):
    assert error_of(shifted + [tmp_path / "nope.h5"]) == f"{tmp_path / 'nope.h5'}: no such file"


def test_file_with_no_runs(shifted, tmp_path):
    empty = write_runs(tmp_path / "empty.h5", [])
    assert "empty.h5: no runs" in error_of(shifted + [empty])
    nogroup = tmp_path / "nogroup.h5"
    h5py.File(nogroup, "w").close()
    assert "nogroup.h5: not an mpipe results file" in error_of([nogroup])
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    assert "text.h5: cannot read it as an HDF5 results file" in error_of([text])


def test_unknown_key_and_fewer_than_two_groups(shifted):
    assert "--by 'colour': unknown key (one of placement, transport, serialization, scenario)" \
        in error_of(shifted, by="colour")
    msg = error_of(shifted, by="scenario")
    assert "only one group by scenario ('seed', 10 run(s))" in msg and "--by" in msg
    assert "given twice" in error_of(shifted + shifted[:1])


def test_no_pipeline_runs(tmp_path):
    f = write_runs(tmp_path / "bench.h5", [{"kind": "bench"}])
    msg = error_of([f])
    assert "no complete pipeline runs" in msg and "kind bench: 1" in msg


def test_main_reports_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing.h5")]) == 2
    assert capsys.readouterr().err == f"mpipe compare: error: {tmp_path / 'missing.h5'}: no such file\n"


# --- a file the real mpipe wrote -------------------------------------------------------------


def test_real_results_file(results):
    c = compare([results], resamples=500)
    groups = set(c.table.placement)
    assert {"pack", "spread"} <= groups
    assert c.table.runs.sum() == len(c.runs) > 0
    assert (c.table.latency_median_ms > 0).all()
    assert any("not pipeline runs (kind bench" in n for n in c.notes)  # its mpipe bench run
    by_t = compare([results], by="transport", resamples=500)
    assert "in-memory" in set(by_t.table.transport)
