"""Gymnasium envs stepped on the host: our PPO against imitation's train_rl (SB3), side by side.

    python benchmarks/host_envs.py             # writes benchmarks/results/host_envs.json
    python benchmarks/host_envs.py --quick     # tiny budgets: checks the plumbing
    python benchmarks/host_envs.py --expert    # adds our full 1e6-step seals/HalfCheetah-v1 run

Rows (issue 15), each the same env and the same imitation-tuned values on both sides:
- seals_cartpole: the real seals/CartPole-v0, 1e5 steps (imitation's whole budget).
- seals_half_cheetah: seals/HalfCheetah-v1 in MuJoCo, one env, 5e4 steps.
Both sides run end to end in fresh processes (imports, compiles, saves and a 4-episode
final evaluation count), so steps/s = total_timesteps / wall time. imitation runs in a
virtualenv created under ~/.cache/jaxrl_expert/anchor_venvs (see anchors.py). With
--expert, ours also trains seals/HalfCheetah-v1 for imitation's 1e6 steps and reports the
return reached (imitation's published expert: 1676) and the wall time.
Host `act`: microseconds per call of a loaded policy's `act` on one observation.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks._harness import Run, attempt, child_env, machine  # noqa: E402
from benchmarks.anchors import ensure_venv  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "host_envs.json")
ROWS = {  # our config, imitation's named config, env steps
    "seals_cartpole": ("gym_seals_cartpole", "seals_cartpole", 100_000),
    "seals_half_cheetah": ("gym_seals_half_cheetah", "seals_half_cheetah", 50_000),
}
EVAL_EPISODES = 4
# imitation 1.0.1's seals_half_cheetah names seals/HalfCheetah-v0, which seals 0.2.1 retired.
IMITATION_OVERRIDES = {"seals_half_cheetah": ["environment.gym_id=seals/HalfCheetah-v1"]}

# --quick (tiny budgets) is anchors.py's flag, defined when it is imported.
_EXPERT = flags.DEFINE_bool("expert", False, "also our 1e6-step seals/HalfCheetah-v1 run")


def ours(config: str, steps: int, log_dir: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "jaxrl_expert.train_rl", f"--config={config}",
           f"--log_dir={log_dir}", f"--config.total_timesteps={steps}",
           f"--config.n_episodes_eval={EVAL_EPISODES}", "--nocompilation_cache"]  # fmt: skip
    run = Run(cmd, REPO, child_env(None))
    with open(os.path.join(log_dir, "stats.json")) as f:
        stats = json.load(f)
    return {"wall_s": run.wall_s, "steps_per_s": steps / run.wall_s,
            "return": stats["monitor_return_mean"]}  # fmt: skip


def imitation(named_config: str, steps: int) -> dict[str, Any]:
    python = ensure_venv("imitation_mujoco")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [python, "-m", "imitation.scripts.train_rl", "with", named_config,
               f"total_timesteps={steps}", f"policy_evaluation.n_episodes_eval={EVAL_EPISODES}",
               *IMITATION_OVERRIDES.get(named_config, []),
               f"logging.log_dir={tmp}/run"]  # fmt: skip
        run = Run(cmd, tmp, child_env(None))  # sacred's observer writes under ./output
        (run_json,) = glob.glob(os.path.join(tmp, "output", "sacred", "train_rl", "*", "run.json"))
        with open(run_json) as f:
            stats = json.load(f)["result"]
    return {"wall_s": run.wall_s, "steps_per_s": steps / run.wall_s,
            "return": stats["monitor_return_mean"]}  # fmt: skip


def act_microseconds(policy_dir: str) -> float:
    from jaxrl_expert import load_policy

    policy = load_policy(policy_dir)
    obs = np.zeros(policy.observation_space.shape, np.float32)
    policy.act(obs, deterministic=True)  # compile
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        policy.act(obs, deterministic=True)
    return (time.perf_counter() - start) / n * 1e6


def main(argv: list[str]) -> None:
    del argv
    results: dict[str, Any] = {"machine": machine(), "rows": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, named, steps) in ROWS.items():
            steps = 4096 if flags.FLAGS.quick else steps
            print(f"{name}: {steps} steps", flush=True)
            log_dir = os.path.join(tmp, name)
            row = {
                "steps": steps,
                "ours": attempt("ours", ours, config, steps, log_dir),
                "imitation": attempt("imitation", imitation, named, steps),
            }
            if "error" not in row["ours"] and "error" not in row["imitation"]:
                row["speedup"] = row["ours"]["steps_per_s"] / row["imitation"]["steps_per_s"]
            if name == "seals_cartpole" and "error" not in row["ours"]:
                final = os.path.join(log_dir, "policies", "final")
                results["act_us_one_observation"] = act_microseconds(final)
            results["rows"][name] = row
            print(json.dumps(row, indent=1), flush=True)
        if _EXPERT.value:
            steps = 8192 if flags.FLAGS.quick else 1_000_000
            log_dir = os.path.join(tmp, "expert")
            results["half_cheetah_expert"] = attempt(
                "ours", ours, "gym_seals_half_cheetah", steps, log_dir
            )
            print(json.dumps(results["half_cheetah_expert"], indent=1), flush=True)
    if not flags.FLAGS.quick:
        write_json(RESULTS, results)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    app.run(main)
