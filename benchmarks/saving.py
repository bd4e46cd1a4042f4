"""What saving costs: one policy checkpoint + one 2000-step rollout file, on CartPole.

    python benchmarks/saving.py         # writes benchmarks/results/saving.json

Trains the seals_cartpole config, then times the train_rl saver's two calls
(after the sampler's one-time compile, which is reported separately) and, for
scale, one PPO iteration of the same run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.throughput import machine  # noqa: E402
from jaxrl_expert import config as config_lib  # noqa: E402
from jaxrl_expert import ppo  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402
from jaxrl_expert.config import load_config_file  # noqa: E402
from jaxrl_expert.train_rl import Outputs, make_env  # noqa: E402


def main(repeats: int = 5) -> None:
    config = load_config_file(os.path.join(REPO, "configs", "seals_cartpole.py"))
    config_lib.validate(config)
    env = make_env(config)
    trainer = ppo.make_train(config, env)
    train = jax.jit(trainer.train)
    state, _ = train(jax.jit(trainer.init)(jax.random.PRNGKey(0)), np.int32(5))
    jax.block_until_ready(state)
    start = time.perf_counter()
    jax.block_until_ready(train(state, np.int32(1)))
    iteration_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as log_dir:
        outputs = Outputs(config, env, trainer.policy)
        start = time.perf_counter()
        outputs.save_rollouts(log_dir, state, "warmup", 0, config.seed)  # compiles the sampler
        first_rollout_s = time.perf_counter() - start
        policy_s, rollout_s = [], []
        for i in range(repeats):
            start = time.perf_counter()
            outputs.save_policy(log_dir, state, f"{i:012d}", i)
            policy_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            outputs.save_rollouts(log_dir, state, f"{i:012d}", i, config.seed)
            rollout_s.append(time.perf_counter() - start)
    result = {
        "machine": machine(),
        "config": "seals_cartpole (rollout_save_n_timesteps=2000 default)",
        "policy_checkpoint_s": round(float(np.median(policy_s)), 3),
        "rollout_file_2000_steps_s": round(float(np.median(rollout_s)), 3),
        "save_total_s": round(float(np.median(policy_s) + np.median(rollout_s)), 3),
        "sampler_first_call_with_compile_s": round(first_rollout_s, 2),
        "one_ppo_iteration_s": round(iteration_s, 3),
    }
    print(result)
    write_json(os.path.join(REPO, "benchmarks", "results", "saving.json"), result)


if __name__ == "__main__":
    main()
