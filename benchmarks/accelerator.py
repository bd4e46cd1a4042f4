"""Accelerator benchmark: compile time, training steps/s and the return reached.

    bash benchmarks/accelerator.sh     # writes benchmarks/results/accelerator.json

Trains `brax/ant` (4096 envs) and `brax/halfcheetah` (2048 envs) with their
published configs (configs/ant.py, configs/halfcheetah.py: Brax's settings via
`brax_config`) through `train_rl` itself, in this process. Per env, two runs:

1. probe: 2 PPO iterations with an empty compilation cache. Gives the cold
   compile time (train_rl's "compiled in ... s" line: init + training chunk)
   and a first estimate of steps/s.
2. main: as many whole iterations as fit ACCEL_SECONDS of training (at most
   ACCEL_STEPS env steps, and shrunk so that everything ends by
   ACCEL_DEADLINE), its programs read from the compilation cache the probe
   filled. Gives steps/s per iteration (train_rl's metrics.jsonl, chunk time
   only), the training curve, train_rl's final evaluation (stochastic actions)
   and a deterministic evaluation of the saved final policy.

Settings (environment variables, all optional):
    ACCEL_ENVS       configs to run, comma-separated       (ant,halfcheetah)
    ACCEL_SECONDS    training seconds per env (main run)    (120)
    ACCEL_STEPS      most env steps per env                 (50000000, the published budget)
    ACCEL_DEADLINE   seconds after start by which all ends  (400)
    ACCEL_TINY=1     CPU smoke test of this script: 16 envs, 50-step episodes
    OUT_JSON         results file      (benchmarks/results/accelerator.json)
    ACCEL_LOG_DIR    train_rl log dirs (a new temporary directory)
    JAX_COMPILATION_CACHE_DIR  (a new empty directory, so the probe compiles cold)

Results are written after each env, so a run cut short keeps what it finished.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import logging as std_logging
import math
import os
import platform
import re
import sys
import tempfile
import time

START = time.perf_counter()  # the deadline counts from here, JAX's and Brax's imports included

# Before JAX is imported: an empty persistent cache unless one is given.
if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrl-accel-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _register_bundled_configs() -> None:
    """`jaxrl_expert.configs` is the top-level configs/ folder (pyproject's package-dir).

    Installed, it exists; from a bare source tree on PYTHONPATH it does not, and
    importing train_rl (which resolves its default config there) would fail.
    """
    try:
        importlib.import_module("jaxrl_expert.configs")
    except ModuleNotFoundError:
        folder = os.path.join(REPO, "configs")
        spec = importlib.util.spec_from_file_location(
            "jaxrl_expert.configs",
            os.path.join(folder, "__init__.py"),
            submodule_search_locations=[folder],
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)


_register_bundled_configs()

from jaxrl_expert import config as config_lib  # noqa: E402
from jaxrl_expert import ppo  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402
from jaxrl_expert.eval_policy import evaluate_policy  # noqa: E402
from jaxrl_expert.logging import configure_console, read_metrics  # noqa: E402
from jaxrl_expert.train_rl import train_rl  # noqa: E402

TINY = os.environ.get("ACCEL_TINY", "") not in ("", "0")
ENVS = os.environ.get("ACCEL_ENVS", "ant,halfcheetah").split(",")
SECONDS = float(os.environ.get("ACCEL_SECONDS", 10 if TINY else 120))
MAX_STEPS = int(float(os.environ.get("ACCEL_STEPS", 50_000_000)))
DEADLINE = float(os.environ.get("ACCEL_DEADLINE", 400))
OUT_JSON = os.environ.get("OUT_JSON") or (
    os.path.join(tempfile.gettempdir(), "accelerator_tiny.json")
    if TINY
    else os.path.join(REPO, "benchmarks", "results", "accelerator.json")
)
PROBE_ITERATIONS = 2

# Only training is measured: no intermediate saves or rollouts.
QUIET = {"policy_save_interval": 0, "checkpoint_interval": 0, "rollout_save_final": False}


def tiny_overrides(config) -> dict:
    """A CPU-sized stand-in: same env, network and PPO settings, far fewer envs and steps."""
    unroll = config.ppo.get("unroll_length") or 1  # minibatches must be whole unrolls
    n_steps = unroll * math.ceil(16 / unroll)
    return {
        "env_kwargs": {**config.env_kwargs.to_dict(), "episode_length": 50},
        "n_episodes_eval": 2,
        "ppo": {"n_envs": 16, "n_steps": n_steps, "batch_size": 4 * n_steps, "n_epochs": 2},
    }


class CompileTimes(std_logging.Handler):
    """Collects the seconds of train_rl's "compiled in %.1f s" log lines."""

    PATTERN = re.compile(r"compiled in ([0-9.]+) s")

    def __init__(self) -> None:
        super().__init__(std_logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: std_logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match:
            self.seconds.append(float(match.group(1)))

    def take(self) -> float | None:
        """The sum of the lines since the last take (None if train_rl logged none)."""
        seconds, self.seconds = self.seconds, []
        return round(sum(seconds), 2) if seconds else None


def timed_run(config, log_dir: str, compiles: CompileTimes, **overrides) -> dict:
    """One train_rl call: its stats, wall time, compile time and per-iteration metrics."""
    start = time.perf_counter()
    stats = train_rl(config, log_dir=log_dir, progress=False, **QUIET, **overrides)
    wall = time.perf_counter() - start
    records = read_metrics(log_dir)
    steps = np.diff([0] + [r["timesteps"] for r in records])
    chunk_s = steps / np.array([r["steps_per_second"] for r in records])
    return {
        "stats": stats,
        "wall_s": wall,
        "compile_s": compiles.take(),
        "records": records,
        "train_s": float(chunk_s.sum()),
        "steps": int(steps.sum()),
        "steps_per_s": [float(r["steps_per_second"]) for r in records],
    }


def eval_summary(stats: dict) -> dict:
    keys = ("monitor_return_mean", "monitor_return_std", "return_mean", "len_mean", "n_traj")
    return {k: round(float(stats[k]), 2) for k in keys}


def curve_summary(records: list[dict]) -> dict:
    """First, last and best training return (mean over the episodes ended in an iteration)."""

    def point(r):
        return {"timesteps": r["timesteps"], "episode_return_mean": r["episode_return_mean"]}

    ended = [r for r in records if r["episode_return_mean"] is not None]
    best = max(ended, key=lambda r: r["episode_return_mean"]) if ended else None
    return {
        "log_points": len(records),
        "first": point(ended[0]) if ended else None,
        "last": point(ended[-1]) if ended else None,
        "best": point(best) if best else None,
        "last_entropy": records[-1]["losses"]["entropy"] if records else None,
        "last_approx_kl": records[-1]["losses"]["approx_kl"] if records else None,
    }


def curve(records: list[dict]) -> list[list]:
    """[timesteps, training return] per log point (None where no episode ended)."""
    returns = [r["episode_return_mean"] for r in records]
    return [
        [r["timesteps"], None if ret is None else round(ret, 2)]
        for r, ret in zip(records, returns, strict=True)
    ]


def main_iterations(probe: dict, share_s: float, batch: int) -> tuple[int, float]:
    """Whole iterations for the main run: ACCEL_SECONDS of training at the probe's speed,
    fewer if this env's share of the deadline is smaller, at most ACCEL_STEPS."""
    speed = probe["steps_per_s"][-1]  # the last probe iteration: past any first-call cost
    cold = probe["compile_s"] or 0.0
    # The main run repeats the probe's evaluation and saves, adds a deterministic
    # evaluation and reads its training program from the cache (guessed at a fifth
    # of a cold compile): an upper bound, since the evaluations compile from cache too.
    overhead = probe["wall_s"] - probe["train_s"] - cold + 0.2 * cold
    seconds = max(0.0, min(SECONDS, share_s - probe["wall_s"] - overhead))
    iterations = int(seconds * speed // batch)
    return max(1, min(iterations, MAX_STEPS // batch)), seconds


def bench_env(name: str, log_root: str, compiles: CompileTimes, share_s: float) -> dict:
    config = config_lib.load_config_file(os.path.join(REPO, "configs", f"{name}.py"))
    if TINY:
        config_lib.apply_overrides(config, tiny_overrides(config))
    batch = ppo.batch_size(config)
    print(f"\n== {config.env_id}: {config.ppo.n_envs} envs, {batch} steps/iteration", flush=True)

    probe = timed_run(
        config,
        os.path.join(log_root, f"{name}-probe"),
        compiles,
        total_timesteps=PROBE_ITERATIONS * batch,
        policy_save_final=False,
    )
    iterations, target_s = main_iterations(probe, share_s, batch)
    print(
        f"== probe: compiled in {probe['compile_s']} s, {probe['steps_per_s'][-1]:.0f} steps/s; "
        f"main run: {iterations} iterations ({iterations * batch} steps, ~{target_s:.0f} s)",
        flush=True,
    )

    log_dir = os.path.join(log_root, name)
    main = timed_run(config, log_dir, compiles, total_timesteps=iterations * batch)
    start = time.perf_counter()
    deterministic = evaluate_policy(
        os.path.join(log_dir, "policies", "final"),
        n_episodes=config.n_episodes_eval,
        seed=config.seed + 1,
        deterministic=True,
    )
    deterministic_s = time.perf_counter() - start

    per_iteration = main["steps_per_s"]
    steady = per_iteration[1:] or per_iteration
    return {
        "env_id": config.env_id,
        "config": f"configs/{name}.py" + (" (ACCEL_TINY overrides)" if TINY else ""),
        "backend": config.env_kwargs.get("backend"),
        "n_envs": config.ppo.n_envs,
        "n_steps": config.ppo.n_steps,
        "minibatch": config.ppo.batch_size,
        "n_epochs": config.ppo.n_epochs,
        "steps_per_iteration": batch,
        "compile_cold_s": probe["compile_s"],
        "compile_cached_s": main["compile_s"],
        "probe": {
            "iterations": PROBE_ITERATIONS,
            "wall_s": round(probe["wall_s"], 2),
            "steps_per_s": [round(s) for s in probe["steps_per_s"]],
        },
        "timesteps": main["steps"],
        "iterations": len(main["records"]),
        "train_s": round(main["train_s"], 2),
        "wall_s": round(main["wall_s"], 2),
        "steps_per_s": round(main["steps"] / main["train_s"]),
        "steps_per_s_median_after_first": round(float(np.median(steady))),
        "steps_per_s_first_iteration": round(per_iteration[0]),
        "final_eval_stochastic": eval_summary(main["stats"]),
        "final_eval_deterministic": eval_summary(deterministic),
        "deterministic_eval_s": round(deterministic_s, 2),
        "curve_summary": curve_summary(main["records"]),
        "curve": curve(main["records"]),
    }


PACKAGES = ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "libtpu", "flax", "optax",
            "orbax-checkpoint", "brax", "mujoco", "mujoco-mjx", "numpy")  # fmt: skip


def machine() -> dict:
    devices = jax.devices()
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "devices": [str(d) for d in devices],
        "device_kind": devices[0].device_kind,
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "packages": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]} (settings are env variables)")
    start = START
    configure_console()  # train_rl's per-iteration lines on stderr
    compiles = CompileTimes()
    std_logging.getLogger("absl").addHandler(compiles)
    info = machine()
    print(f"jax {info['jax']} on {info['backend']}: jax.devices() = {jax.devices()}", flush=True)
    settings = {
        "envs": ENVS,
        "train_seconds_per_env": SECONDS,
        "max_steps_per_env": MAX_STEPS,
        "deadline_s": DEADLINE,
        "tiny": TINY,
        "compilation_cache_dir": os.environ["JAX_COMPILATION_CACHE_DIR"],
    }
    log_root = os.environ.get("ACCEL_LOG_DIR") or tempfile.mkdtemp(prefix="jaxrl-accel-")
    results = {"machine": info, "settings": settings, "log_root": log_root, "runs": {}}
    for i, name in enumerate(ENVS):
        share_s = (DEADLINE - (time.perf_counter() - start)) / (len(ENVS) - i)
        results["runs"][name] = bench_env(name, log_root, compiles, share_s)
        results["total_wall_s"] = round(time.perf_counter() - start, 1)
        write_json(OUT_JSON, results)

    print(f"\n{info['device_kind']} ({info['backend']}), jax {info['jax']}")
    header = ("env", "envs", "compile cold/cached s", "steps", "train s", "steps/s",
              "final return stoch/det")  # fmt: skip
    print("{:<18} {:>5} {:>22} {:>11} {:>8} {:>10} {:>24}".format(*header))
    for run in results["runs"].values():
        compile_s = f"{run['compile_cold_s']} / {run['compile_cached_s']}"
        returns = (
            f"{run['final_eval_stochastic']['monitor_return_mean']:.1f} / "
            f"{run['final_eval_deterministic']['monitor_return_mean']:.1f}"
        )
        print(
            f"{run['env_id']:<18} {run['n_envs']:>5} {compile_s:>22} {run['timesteps']:>11} "
            f"{run['train_s']:>8.1f} {run['steps_per_s']:>10} {returns:>24}"
        )
    print(f"total {results['total_wall_s']} s; results in {OUT_JSON}", flush=True)


if __name__ == "__main__":
    app.run(main)
