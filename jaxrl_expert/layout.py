"""Where a run's files live: the one place that knows the run-directory layout.

    {log_dir}/config.json, stats.json         the run (for S seeds: the whole job)
    {run}/policies/{step:012d}/, final/       policy directories
    {run}/rollouts/{step:012d}.npz, final.npz rollouts
    {run}/checkpoints/                        TrainState checkpoints (resume)

`run` is log_dir itself for one seed, `{log_dir}/seed_{i}` for seed i of S > 1.
"""

from __future__ import annotations

import os
import re

CONFIG_FILE = "config.json"
STATS_FILE = "stats.json"
FINAL = "final"
_SEED_DIR = re.compile(r"seed_(\d+)")


def seed_name(index: int) -> str:
    return f"seed_{index}"


def run_dirs(log_dir: str, n_seeds: int) -> list[str]:
    """The run directory of each seed of a job with n_seeds seeds."""
    if n_seeds == 1:
        return [log_dir]
    return [os.path.join(log_dir, seed_name(i)) for i in range(n_seeds)]


def existing_seed_dirs(log_dir: str) -> dict[str, str]:
    """{seed_i: path} of a multi-seed job's run directories on disk, in seed order."""
    if not os.path.isdir(log_dir):
        return {}
    found = [
        (int(m.group(1)), name)
        for name in os.listdir(log_dir)
        if (m := _SEED_DIR.fullmatch(name)) and os.path.isdir(os.path.join(log_dir, name))
    ]
    return {name: os.path.join(log_dir, name) for _, name in sorted(found)}


def seed_index(name: str) -> int:
    """i of a `seed_i` directory name."""
    return int(_SEED_DIR.fullmatch(name).group(1))


def step_name(timesteps: int) -> str:
    return f"{timesteps:012d}"


def policy_dir(run_dir: str, name: str) -> str:
    return os.path.join(run_dir, "policies", name)


def rollout_file(run_dir: str, name: str) -> str:
    return os.path.join(run_dir, "rollouts", f"{name}.npz")


def checkpoints_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")
