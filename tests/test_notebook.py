"""notebooks/retrieval_demo.ipynb, executed as a user would run it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "retrieval_demo.ipynb"


def execute(tmp_path: Path, parameters: dict | None = None) -> nbformat.NotebookNode:
    """Run every cell in the kernel ``python3``; ``parameters`` replace the values of the cell
    tagged "parameters", as papermill would."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if "parameters" in cell.metadata.get("tags", []) and parameters:
            cell.source += "".join(f"\n{name} = {value!r}" for name, value in parameters.items())
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def test_the_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_notebook_searches_an_index_with_a_checkpoint(trained_run, tmp_path):
    checkpoint = str(trained_run / "checkpoints" / "last.ckpt")
    notebook = execute(tmp_path, {"CHECKPOINT": checkpoint})
    text = "".join(output.get("text", "") for output in outputs(notebook))
    for mode in ("BCS", "ES", "HDS"):
        assert f"{mode}:" in text and "ms, precision@5" in text
    assert any("image/png" in output.get("data", {}) for output in outputs(notebook))


@pytest.mark.slow
def test_notebook_trains_then_searches(tmp_path):
    notebook = execute(tmp_path)
    assert any("image/png" in output.get("data", {}) for output in outputs(notebook))
