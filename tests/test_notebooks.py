"""Execute every notebook in ``notebooks/`` so that none of them rots."""

import csv
import io
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    # The kernel is a new process: put this checkout first on its path, so that the
    # notebooks run the package under test rather than another installed copy.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    # Run in a scratch folder so that executing in CI does not rewrite the
    # committed figures; the notebooks write their PNG files relative to it.
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    # What README.rst quotes from the committed outputs is what a fresh run gives.
    assert _quoted_numbers(notebook) == _quoted_numbers(nbformat.read(path, as_version=4))


def _quoted_numbers(notebook):
    """The rows that a notebook prints for README.rst to quote, as CSV."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "README.rst quotes" in cell.source:
            text = "".join(output.get("text", "") for output in cell.get("outputs", [])
                           if output.get("output_type") == "stream")
            return list(csv.DictReader(io.StringIO(text)))
    return None


def test_user_guide_quotes_the_model_selection_notebook():
    notebook = nbformat.read(ROOT / "notebooks" / "model_selection.ipynb", as_version=4)
    rows = {(row["data"], row["method"]): row for row in _quoted_numbers(notebook)}
    n_splits = re.search(r"N_REPEATS = (\d+)", notebook.cells[1].source).group(1)
    # The table moved from the README to the user guide's "when it helps" page.
    page = (ROOT / "doc" / "user_guide" / "when_it_helps.rst").read_text()
    for data in sorted({data for data, _ in rows}):
        cells = [f"{float(rows[data, method]['vs kernel ridge']):.3f} ± "
                 f"{float(rows[data, method]['vs kernel ridge std']):.3f}"
                 for method in ("α grid", "optimal α", "SelfDistilledKernelRidgeCV")]
        wins = rows[data, "SelfDistilledKernelRidgeCV"]["wins"]
        line = r"\s+".join(map(re.escape, [data, *cells, f"{wins} of {n_splits} splits"]))
        assert re.search(line, page), f"when_it_helps.rst does not show {data}: {cells}, {wins}"
