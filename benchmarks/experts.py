"""Expert quality: train configs over several seeds, evaluate 50 episodes each.

    python benchmarks/experts.py --envs=seals_cartpole,pendulum --seeds=3
    python benchmarks/experts.py --envs=halfcheetah --smoke    # Brax bodies on a CPU

Prints env, target return, reached ground-truth mean +- std over seeds,
timesteps, wall time and steps/s, and writes benchmarks/results/experts.json
(merged with earlier entries). `--smoke` trains at small scale instead of the
config's budget (64 envs, `--smoke_steps`) and reports the return of the
policy after one iteration next to the return at the end: it shows learning,
not expertise.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.throughput import machine  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402
from jaxrl_expert.config import load_config_file  # noqa: E402
from jaxrl_expert.train_rl import train_rl  # noqa: E402

# Ground-truth targets (mean over seeds), from the issue and imitation's experts.
TARGETS = {
    "seals_cartpole": 500,
    "cartpole": 500,
    "pendulum": -200,
    "acrobot": -85,
    "mountain_car": -120,
    "seals_mountain_car": -120,
    "mountain_car_continuous": 90,
    "brax_inverted_pendulum": 1000,
    "inverted_double_pendulum": 9000,
    "reacher": -10,
}
RESULTS = os.path.join(REPO, "benchmarks", "results", "experts.json")

_ENVS = flags.DEFINE_list("envs", ["seals_cartpole"], "config names under configs/")
_SEEDS = flags.DEFINE_integer("seeds", 3, "seeds per config (0 .. seeds-1)")
_SMOKE = flags.DEFINE_bool("smoke", False, "small-scale run showing learning (Brax on CPU)")
_SMOKE_STEPS = flags.DEFINE_integer("smoke_steps", 200_000, "timesteps of a smoke run")

QUIET = {"policy_save_interval": 0, "checkpoint_interval": 0, "n_episodes_eval": 50}


def smoke_overrides(config) -> dict:
    """64 envs, about 32 steps each (whole unrolls where the config has them), 4 minibatches."""
    unroll = config.ppo.unroll_length or 1
    n_steps = unroll * max(1, 32 // unroll)
    return {
        "total_timesteps": _SMOKE_STEPS.value,
        "log_interval": 10,
        "ppo": {"n_envs": 64, "n_steps": n_steps, "batch_size": 16 * n_steps,
                "n_epochs": min(config.ppo.n_epochs, 4)},
    }  # fmt: skip


def run(name: str, seed: int, overrides: dict) -> tuple[dict, float]:
    config = load_config_file(os.path.join(REPO, "configs", f"{name}.py"))
    with tempfile.TemporaryDirectory() as log_dir:
        start = time.perf_counter()
        stats = train_rl(config, log_dir=log_dir, seed=seed, **{**QUIET, **overrides})
        return stats, time.perf_counter() - start


def main(argv: list[str]) -> None:
    del argv
    results = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            results = json.load(f).get("results", {})
    for name in _ENVS.value:
        config = load_config_file(os.path.join(REPO, "configs", f"{name}.py"))
        overrides = smoke_overrides(config) if _SMOKE.value else {}
        returns, walls, before = [], [], []
        for seed in range(_SEEDS.value):
            stats, wall = run(name, seed, overrides)
            returns.append(stats["monitor_return_mean"])
            walls.append(wall)
            if _SMOKE.value:
                one = {**overrides, "total_timesteps": 1}
                before.append(run(name, seed, one)[0]["monitor_return_mean"])
        steps = overrides.get("total_timesteps", config.total_timesteps)
        entry = {
            "env_id": config.env_id,
            "target": TARGETS.get(name),
            "mean": round(float(np.mean(returns)), 2),
            "std": round(float(np.std(returns)), 2),
            "per_seed": [round(r, 2) for r in returns],
            "timesteps": steps,
            "wall_s_per_seed": round(float(np.mean(walls)), 1),
            "steps_per_s": round(steps / float(np.mean(walls))),
            "smoke": _SMOKE.value,
        }
        if _SMOKE.value:
            entry["after_one_iteration"] = round(float(np.mean(before)), 2)
        results[name + (" (smoke)" if _SMOKE.value else "")] = entry
        print(
            f"{name:28s} target {entry['target']!s:>6}  reached {entry['mean']:9.2f} "
            f"+- {entry['std']:7.2f}  steps {steps:>11,}  wall {entry['wall_s_per_seed']:7.1f} s"
            f"  {entry['steps_per_s']:>9,} steps/s"
            + (f"  (after 1 iteration {entry['after_one_iteration']:.2f})" if _SMOKE.value else ""),
            flush=True,
        )
        write_json(RESULTS, {"machine": machine(), "results": results})  # after every env


if __name__ == "__main__":
    app.run(main)
