"""Each notebook runs top to bottom (small step count) as a user would run it."""

import os
import pathlib
import re
import shutil

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
STEPS = 4096  # JAXRL_NOTEBOOK_STEPS for the test runs: one PPO iteration


def text_of(notebook) -> str:
    """Every stream and text/plain output, concatenated."""
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in notebook.cells
        for o in c.get("outputs", [])
    )


def count(text: str, name: str) -> int:
    """The value a notebook printed as `name = <int>`."""
    found = re.findall(rf"^{name} = (\d+)$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"no single line '{name} = <int>' in the outputs"
    return int(found[0])


def check_learned_reward(text: str, steps: int) -> None:
    from jaxrl_expert.rewards import REWARD_TYPES

    for reward_type in REWARD_TYPES:  # the load_reward table lists all six
        assert re.search(rf"^{reward_type} +-?\d", text, flags=re.MULTILINE), reward_type
    for reward_type in ("RewardNet_unshaped", "RewardNet_shaped", "RewardNet_normalized",
                        "RewardNet_std_added"):  # fmt: skip
        assert f'"{reward_type}": {{' in text, reward_type  # trained, in the results JSON


def check_batched_generation(text: str, steps: int) -> None:
    assert count(text, "n_trajectories") > 0
    assert count(text, "n_transitions") >= 100 * steps  # N_DEMO
    assert all(f"seed_{i}" in text for i in range(3))


CHECKS = {"learned_reward": check_learned_reward, "batched_generation": check_batched_generation}


# quickstart runs by default; the others (~15-30 s each) in the slow suite, their
# paths tested in test_rewards.py, test_generate.py and test_scale.py.
@pytest.mark.parametrize(
    "path",
    [p if p.stem == "quickstart" else pytest.param(p, marks=pytest.mark.slow)
     for p in NOTEBOOKS],
    ids=[p.stem for p in NOTEBOOKS],
)  # fmt: skip
def test_notebook_executes(path, tmp_path, monkeypatch, repo_dir):
    monkeypatch.setenv("JAXRL_NOTEBOOK_STEPS", str(STEPS))
    monkeypatch.setenv("PYTHONPATH", repo_dir)
    # Runs this small are compile-bound; unoptimized XLA code compiles in about half the time.
    xla_flags = os.environ.get("XLA_FLAGS", "")
    monkeypatch.setenv("XLA_FLAGS", f"{xla_flags} --xla_backend_optimization_level=0".strip())
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
    assert images, "the plot is missing"
    assert os.listdir(tmp_path / "output")
    if path.stem in CHECKS:
        CHECKS[path.stem](text_of(notebook), STEPS)


def test_committed_notebooks_carry_outputs_of_a_real_run():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code[1:]), path.name
        text = "".join(o.get("text", "") for c in code for o in c.get("outputs", []))
        assert '"monitor_return_mean": 500.0' in text, path.name  # an expert, not a smoke run
        if path.stem in CHECKS:
            CHECKS[path.stem](text_of(notebook), 100_000)  # the notebooks' default STEPS
        images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert images, path.name
        assert path.stat().st_size < 300_000, path.name  # PNGs, not data
