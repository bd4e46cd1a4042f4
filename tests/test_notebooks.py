"""Each notebook runs top to bottom (small step count) as a user would run it."""

import os
import pathlib
import shutil

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch, repo_dir):
    monkeypatch.setenv("JAXRL_NOTEBOOK_STEPS", "4096")
    monkeypatch.setenv("PYTHONPATH", repo_dir)
    shutil.copy(path, tmp_path)
    notebook = nbformat.read(tmp_path / path.name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    images = [o for c in notebook.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]  # fmt: skip
    assert images, "the learning curve plot is missing"
    assert os.listdir(tmp_path / "output")


def test_committed_notebooks_carry_outputs_of_a_real_run():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code[1:]), path.name
        text = "".join(o.get("text", "") for c in code for o in c.get("outputs", []))
        assert '"monitor_return_mean": 500.0' in text, path.name  # an expert, not a smoke run
