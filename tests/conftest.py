import concurrent.futures
import contextlib
import io
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# Tests compile from scratch and leave the user's compilation cache alone
# (tests/test_compilation_cache.py turns it on for its own processes; runs that
# repeat one program opt in to a cache of their own below: `compilation_cache`).
os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
# Tiny runs are compile-bound: XLA's lowest CPU optimization level compiles them
# faster (as test_notebooks.py and the package's one-call programs do). Used only
# where every number a test compares comes from programs compiled this way.
FAST_COMPILE_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
FAST_COMPILE_XLA_FLAGS = " ".join(
    f"--{name}={str(value).lower()}" for name, value in FAST_COMPILE_OPTIONS.items()
)


def compile_fast(function, *args):
    """`jax.jit(function)` compiled for `args` with FAST_COMPILE_OPTIONS on CPU (where they
    apply): for the compile-bound programs of tiny tests. Call it with arguments like `args`."""
    import jax

    lowered = jax.jit(function).lower(*args)
    return lowered.compile(FAST_COMPILE_OPTIONS if jax.default_backend() == "cpu" else None)


def fast_compile_env(**extra):
    """os.environ for a subprocess of tiny runs, with FAST_COMPILE_XLA_FLAGS added."""
    env = {**os.environ, **extra}
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {FAST_COMPILE_XLA_FLAGS}".strip()
    return env


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


class CompilationCache:
    """A persistent XLA compilation cache private to this test session.

    Runs of one config (the default seals/CartPole-v0 one: test_resume.py's
    runs, the default CLI run, the warm start) load the programs the first of
    them compiled. A hit needs the same HLO and options, so a run whose program
    changed still compiles it; results are bit-identical to a fresh compile.
    """

    def __init__(self, directory):
        self.directory = str(directory)

    def env(self, **extra):
        """os.environ for a subprocess (train_rl turns the cache on in `directory`)."""
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": self.directory, **extra}
        env.pop("JAX_ENABLE_COMPILATION_CACHE", None)  # set to false above
        return env

    @contextlib.contextmanager
    def in_process(self):
        """The cache on for this process's compiles inside the block, off again after."""
        import jax
        from jax.experimental.compilation_cache import compilation_cache

        settings = {
            "jax_enable_compilation_cache": True,
            "jax_compilation_cache_dir": self.directory,
            "jax_persistent_cache_min_compile_time_secs": 0.0,
        }
        saved = {name: getattr(jax.config, name) for name in settings}
        for name, value in settings.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()  # JAX decides once whether the cache is used
        try:
            yield
        finally:
            for name, value in saved.items():
                jax.config.update(name, value)
            compilation_cache.reset_cache()


@pytest.fixture(scope="session")
def compilation_cache(tmp_path_factory):
    return CompilationCache(tmp_path_factory.mktemp("xla_cache"))


class Background:
    """Subprocesses started early whose results fixtures collect later (see `background`)."""

    def __init__(self):
        self._runs = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)  # one per pipe reader

    def __contains__(self, name):
        return name in self._runs

    def start(self, name, args, log_dir, **kwargs):
        """Starts `args` (a train_rl command writing to log_dir) as run `name`."""
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
        )
        output = self._pool.submit(process.communicate, timeout=600)
        self._runs[name] = (args, log_dir, process, output)

    def result(self, name):
        """(log_dir, CompletedProcess) of run `name`, once it has ended."""
        args, log_dir, process, output = self._runs[name]
        stdout, stderr = output.result()
        return log_dir, subprocess.CompletedProcess(args, process.returncode, stdout, stderr)

    def close(self):
        for _, _, process, _ in self._runs.values():
            if process.poll() is None:
                process.kill()
        self._pool.shutdown(wait=True)


def _start_default_cli_run(background, tmp_path_factory, repo_dir, compilation_cache):
    log_dir = tmp_path_factory.mktemp("cli") / "run"
    background.start(
        "default_cli_run",
        [sys.executable, "-m", "jaxrl_expert.train_rl", f"--log_dir={log_dir}"],
        log_dir,
        cwd=tmp_path_factory.mktemp("cwd"),
        env=compilation_cache.env(PYTHONPATH=repo_dir),
    )


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory, repo_dir, compilation_cache):
    """Starts the default CLI run (~15 s, one core) before the first test when a selected
    test uses it, so that it runs beside the early tests on the core they leave idle."""
    background = Background()
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    if "default_cli_run" in used:
        _start_default_cli_run(background, tmp_path_factory, repo_dir, compilation_cache)
    yield background
    background.close()


@pytest.fixture(scope="session")
def default_cli_run(background, tmp_path_factory, repo_dir, compilation_cache):
    """`python -m jaxrl_expert.train_rl` with no config flags, from outside the repo."""
    if "default_cli_run" not in background:  # requested by name only (getfixturevalue)
        _start_default_cli_run(background, tmp_path_factory, repo_dir, compilation_cache)
    log_dir, result = background.result("default_cli_run")
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir, result


# CartPole-v1, 4 envs x 32 steps: five iterations of 128 (640 timesteps), one log point
# each; a policy and rollouts (>= 100 timesteps) saved at the first iteration at or
# after each multiple of 200 timesteps (256, 512, 640: not 128 or 384).
TINY_CARTPOLE = {
    "env_id": "CartPole-v1",
    "total_timesteps": 600,
    "policy_save_interval": 200,
    "rollout_save_n_timesteps": 100,
    "n_episodes_eval": 5,
    "ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 32, "n_epochs": 1},
}


@pytest.fixture(scope="session")
def tiny_cartpole_run(tmp_path_factory):
    """One tiny in-process train_rl (TINY_CARTPOLE) for the tests that need a trained run's
    outputs (test_cli, test_generate, test_plot_render, test_saving): (log_dir, stats, stderr).
    Tests read it and never write into it."""
    from jaxrl_expert.train_rl import train_rl

    log_dir = tmp_path_factory.mktemp("tiny_cartpole") / "run"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        stats = train_rl(log_dir=str(log_dir), progress=True, **TINY_CARTPOLE)
    return log_dir, stats, stderr.getvalue()


@pytest.fixture(scope="session")
def tiny_pendulum():
    """PPO on Pendulum-v1 with observation normalization, 4 envs x 32 steps, two epochs:
    (init, train, trainer); init(key) and train(state, n_iterations) compiled once
    (compile_fast) for test_ppo.py and test_saving.py."""
    import jax

    from jaxrl_expert import config as config_lib
    from jaxrl_expert import ppo
    from jaxrl_expert.train_rl import make_env

    config = config_lib.base_config()
    config_lib.apply_overrides(
        config,
        {
            "env_id": "Pendulum-v1",
            "total_timesteps": 256,
            "normalize_kwargs": {"norm_obs": True},
            "ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 32, "n_epochs": 2},
        },
    )
    config_lib.validate(config)
    trainer = ppo.make_train(config, make_env(config))
    key = jax.random.PRNGKey(0)
    init = compile_fast(trainer.init, key)
    train = compile_fast(trainer.train, jax.eval_shape(trainer.init, key), 1)
    return init, train, trainer
