"""analysis/notebooks/*.ipynb: stored without outputs, say in their first cell how to run them
headless, and run top to bottom, headless (nbclient, Debian's ipykernel), from
their own folder and from any other, against a results file the real mpipe produced
(MPIPE_ANALYSIS_RESULTS from CTest's python.analysis.data step, else made by conftest.py). The
kernel is the interpreter running pytest (conftest.py's ``notebook_kernel``), so the notebooks
import the same installed mpipe_analysis as the tests."""

from __future__ import annotations

from pathlib import Path

import mpipe_analysis
import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "analysis" / "notebooks").glob("*.ipynb"))

# Fixtures from conftest.py: results (the file), notebook_kernel (a kernel running this python).


def test_kernel_imports_the_package_these_tests_import(notebook_kernel, tmp_path):
    """The notebooks' kernel sees the same mpipe_analysis as pytest (the venv's installed copy
    under CTest), from a folder that holds no source tree."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import mpipe_analysis; print(mpipe_analysis.__file__)")])
    NotebookClient(nb, timeout=120, kernel_name=notebook_kernel,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert printed == mpipe_analysis.__file__


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
def test_runs_top_to_bottom(path, results, notebook_kernel, monkeypatch):
    monkeypatch.setenv("MPIPE_RESULTS", str(results))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=240, kernel_name=notebook_kernel,
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
def test_runs_from_another_folder(path, results, notebook_kernel, monkeypatch, tmp_path):
    """The kernel starts in a folder that is neither the notebook's nor the repository's: the
    package is the installed one (or, in a kernel without it, comes from MPIPE_ANALYSIS_DIR, as
    for `mpipe report`), the file from MPIPE_RESULTS."""
    monkeypatch.setenv("MPIPE_RESULTS", str(results))
    monkeypatch.setenv("MPIPE_ANALYSIS_DIR", str(REPO / "analysis"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name=notebook_kernel,
                   resources={"metadata": {"path": str(elsewhere)}}).execute()
