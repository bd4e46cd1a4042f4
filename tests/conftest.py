import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# XLA compiles dominate the suite; many tests (and the CLI subprocesses, which
# inherit the environment) compile the same programs. A persistent cache for
# this session only: set before any test module imports jax.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrl-expert-xla-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


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
