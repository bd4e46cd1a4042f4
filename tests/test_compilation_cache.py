"""The persistent compilation cache: a second identical run loads instead of compiling."""

import os
import subprocess
import sys

import pytest
from conftest import fast_compile_env

TINY = [
    "--config.total_timesteps=256",
    "--config.ppo.n_envs=4",
    "--config.ppo.n_steps=64",
    "--config.ppo.batch_size=64",
    "--config.ppo.n_epochs=1",
    "--config.n_episodes_eval=1",
    "--config.policy_save_interval=0",
    "--config.rollout_save_final=False",
]


def entries(cache_dir):
    return sorted(os.listdir(cache_dir)) if os.path.isdir(cache_dir) else []


@pytest.fixture(scope="module")
def run(repo_dir, tmp_path_factory):
    """`run(cache_dir, *flags)` trains TINY in a fresh process (XLA's fast compile options:
    the cache keys on them like on any option); `run(..., wait=False)` returns the Popen."""

    def run(cache_dir, *flags, wait=True):
        log_dir = tmp_path_factory.mktemp("run")
        env = fast_compile_env(PYTHONPATH=repo_dir, JAX_COMPILATION_CACHE_DIR=str(cache_dir))
        del env["JAX_ENABLE_COMPILATION_CACHE"]  # conftest turns it off for other tests
        process = subprocess.Popen(
            [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={log_dir}", *TINY, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        return finish(process) if wait else process

    return run


def finish(process):
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def filled_cache(run, tmp_path_factory):
    """A cache directory after one cold run."""
    cache = tmp_path_factory.mktemp("cache") / "xla"
    run(cache)
    return cache


def test_second_identical_run_hits_the_cache_and_writes_nothing_new(run, filled_cache):
    first = entries(filled_cache)
    # The train chunk, init and evaluation programs at least.
    assert len([e for e in first if "jit_" in e]) >= 3, first
    mtimes = {e: os.path.getmtime(filled_cache / e) for e in first}
    run(filled_cache)
    assert entries(filled_cache) == first  # every program was found: nothing new compiled
    assert all(os.path.getmtime(filled_cache / e) == mtimes[e] for e in first)


def test_corrupted_entries_are_recompiled_and_nocompilation_cache_turns_it_off(
    run, filled_cache, tmp_path
):
    for name in entries(filled_cache):  # (runs after the test above, which reads them)
        (filled_cache / name).write_bytes(b"not an executable")
    corrupted = run(filled_cache, wait=False)  # both at once: each compiles on one core
    off = tmp_path / "off"
    finish(run(off, "--nocompilation_cache", wait=False))
    assert "Error reading persistent compilation cache entry" in finish(corrupted).stderr
    assert entries(off) == []
