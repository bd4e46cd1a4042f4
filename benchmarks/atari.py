"""Atari on the host path: Gymnasium (ale-py) against EnvPool, side by side in one run.

    python benchmarks/atari.py           # writes benchmarks/results/atari.json
    python benchmarks/atari.py --quick   # tiny budgets: checks the plumbing

Both backends serve ALE/Breakout-v5 with the same preprocessing (configs/atari_breakout.py's
atari_wrapper: SB3's AtariWrapper + 4 stacked 84x84 frames). Rows:
- env: env steps/s of random actions through the jitted, vmapped `step` (8 envs), which is
  what PPO's rollout calls: the env alone.
- ppo: env steps/s of configs/atari_breakout.py (rl-zoo's PPO: 8 envs x 128 steps, NatureCNN)
  after its compile, from metrics.jsonl (steps / steps_per_second of each logged interval).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

import jax
from absl import app

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks._harness import machine, print_report, record_row  # noqa: E402
from benchmarks.anchors import _QUICK  # noqa: E402
from jaxrl_expert import config as config_lib  # noqa: E402
from jaxrl_expert import envs  # noqa: E402
from jaxrl_expert.train_rl import train_rl  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "atari.json")
ENV_ID = "ALE/Breakout-v5"
BACKENDS = ("gymnasium", "envpool")
N_ENVS = 8
# --quick is anchors.py's flag, defined when it is imported.


def env_steps_per_second(backend: str, n_steps: int) -> float:
    """Random actions through jit(vmap(step)), after a warm-up that compiles it."""
    settings = config_lib.load_config_file("configs/atari_breakout.py").env_kwargs.to_dict()
    env = envs.make(ENV_ID, backend, **settings)
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    state = reset(jax.random.split(jax.random.key(0), N_ENVS))
    actions = jax.random.randint(jax.random.key(1), (n_steps + 10, N_ENVS), 0, 4)
    for t in range(10):
        state = step(state, actions[t])
    jax.block_until_ready(state)
    start = time.perf_counter()
    for t in range(10, n_steps + 10):
        state = step(state, actions[t])
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    env.close()
    return n_steps * N_ENVS / seconds


def ppo_steps_per_second(backend: str, iterations: int) -> float:
    """configs/atari_breakout.py for `iterations` PPO iterations (logged one by one)."""
    config = config_lib.load_config_file("configs/atari_breakout.py")
    batch = config.ppo.n_envs * config.ppo.n_steps
    with tempfile.TemporaryDirectory() as log_dir:
        train_rl(
            config,
            log_dir=log_dir,
            env_backend=backend,
            total_timesteps=iterations * batch,
            log_interval=1,
            policy_save_interval=0,
            checkpoint_interval=0,
            rollout_save_final=False,
            policy_save_final=False,
            n_episodes_eval=1,
        )
        with open(os.path.join(log_dir, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f][1:]  # the first interval compiles
    seconds = sum(batch / r["steps_per_second"] for r in records)
    return batch * len(records) / seconds


def main(argv: list[str]) -> None:
    del argv
    quick = _QUICK.value
    results: dict[str, Any] = {"machine": machine(), "quick": quick, "env_id": ENV_ID, "rows": {}}
    measured: dict[str, Any] = {}
    env_steps, iterations = (20, 2) if quick else (300, 6)
    for backend in BACKENDS:
        row = {
            "env_steps_per_s": env_steps_per_second(backend, env_steps),
            "ppo_steps_per_s": ppo_steps_per_second(backend, iterations),
        }
        record_row(RESULTS, results, measured, backend, row)
    lines = [f"{'backend':<10} {'env steps/s':>12} {'PPO steps/s':>12}"]
    for backend, row in measured.items():
        lines.append(
            f"{backend:<10} {row['env_steps_per_s']:>12.0f} {row['ppo_steps_per_s']:>12.0f}"
        )
    gym, pool = measured["gymnasium"], measured["envpool"]
    lines.append(
        f"envpool/gymnasium: env {pool['env_steps_per_s'] / gym['env_steps_per_s']:.2f}x, "
        f"PPO {pool['ppo_steps_per_s'] / gym['ppo_steps_per_s']:.2f}x"
    )
    print_report(results, quick, "\n".join(lines))


if __name__ == "__main__":
    app.run(main)
