"""The modeler notebooks run end to end on a small configuration (FLOODWARN_NB_SMALL=1).

Executed with nbclient (what nbmake uses) in a fresh kernel; the committed .ipynb must carry no
outputs and must be the jupytext pair of its .py script.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_paired(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    py = jupytext.read(path.with_suffix(".py"))
    src = lambda n: [c.source for c in n.cells]  # noqa: E731
    assert src(nb) == src(py), f"{path.name} is out of sync with its .py (run jupytext --sync)"


@pytest.mark.shared
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_small(path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    if path.stem.startswith("03") and not (ROOT / "models" / "han-lgbm-eval-2012-2019-v4").is_dir():
        pytest.skip("the evaluation model version is not in models/")
    monkeypatch.setenv("FLOODWARN_NB_SMALL", "1")
    monkeypatch.setenv("FLOODWARN_SHARED", str(shared_data.parent))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
