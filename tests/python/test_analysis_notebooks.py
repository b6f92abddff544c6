"""analysis/notebooks/*.ipynb: stored without outputs, say in their first cell how to run them
headless, and run top to bottom, headless (nbclient, Debian's ipykernel under /usr/bin/python3),
from their own folder and from any other, against a results file the real mpipe produced
(MPIPE_ANALYSIS_RESULTS from CTest's python.analysis.data step, else made here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "analysis" / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import analysis_fixture  # noqa: E402


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    given = os.environ.get("MPIPE_ANALYSIS_RESULTS")
    if given and Path(given).is_file():
        return Path(given)
    binary = os.environ.get("MPIPE_BIN", str(REPO / "build" / "mpipe"))
    if not Path(binary).is_file():
        pytest.skip(f"no mpipe binary at {binary} (set MPIPE_BIN)")
    return analysis_fixture.produce(binary, tmp_path_factory.mktemp("nb") / "results.h5")


def test_both_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"tradeoffs.ipynb", "communication.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has stored outputs (clear them)"
            assert cell.execution_count is None, f"{path.name}: stored execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom(path, results, monkeypatch):
    monkeypatch.setenv("MPIPE_RESULTS", str(results))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on any failing cell
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no figure was displayed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_gives_the_headless_command(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert f"jupyter-execute analysis/notebooks/{path.name}" in first.source
    assert "MPIPE_RESULTS" in first.source and "MPIPE_ANALYSIS_DIR" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_from_another_folder(path, results, monkeypatch, tmp_path):
    """The kernel starts in a folder that is neither the notebook's nor the repository's: the
    package comes from MPIPE_ANALYSIS_DIR (as for `mpipe report`), the file from MPIPE_RESULTS."""
    monkeypatch.setenv("MPIPE_RESULTS", str(results))
    monkeypatch.setenv("MPIPE_ANALYSIS_DIR", str(REPO / "analysis"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(elsewhere)}}).execute()
