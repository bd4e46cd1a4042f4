import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# Tests compile from scratch and leave the user's compilation cache alone
# (tests/test_compilation_cache.py turns it on for its own processes).
os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


@pytest.fixture(scope="session")
def default_cli_run(repo_dir, tmp_path_factory):
    """`python -m jaxrl_expert.train_rl` with no config flags, from outside the repo."""
    log_dir = tmp_path_factory.mktemp("cli") / "run"
    result = subprocess.run(
        [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={log_dir}"],
        cwd=tmp_path_factory.mktemp("cwd"),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": repo_dir},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir, result
