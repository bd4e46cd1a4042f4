"""Training speed on a learned reward net against the ground truth, side by side.

    python benchmarks/learned_reward.py    # writes benchmarks/results/learned_reward.json

seals_cartpole config; the learned reward is a BasicRewardNet (32, 32) with
fresh weights (speed does not depend on what the weights are). Each variant is
compiled, warmed up, then timed over the same number of PPO iterations;
the variants alternate for `rounds` rounds and the best time of each is kept.
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
from jaxrl_expert import envs, ppo  # noqa: E402
from jaxrl_expert.atomic_files import write_json  # noqa: E402
from jaxrl_expert.config import load_config_file  # noqa: E402
from jaxrl_expert.rewards import BasicRewardNet, init_reward_net, save_reward_net  # noqa: E402
from jaxrl_expert.train_rl import make_env  # noqa: E402


def compiled_trainer(overrides):
    config = load_config_file(os.path.join(REPO, "configs", "seals_cartpole.py"))
    config_lib.apply_overrides(config, overrides)
    config_lib.validate(config)
    trainer = ppo.make_train(config, make_env(config))
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    train = jax.jit(trainer.train).lower(state, np.int32(1)).compile()
    state, _ = train(state, np.int32(1))
    return train, state, ppo.batch_size(config)


def main(iterations: int = 10, rounds: int = 3) -> None:
    env = envs.make("seals/CartPole-v0")
    with tempfile.TemporaryDirectory() as tmp:
        net = BasicRewardNet(n_actions=2)
        variables = init_reward_net(net, jax.random.PRNGKey(0), env.observation_space,
                                    env.action_space)  # fmt: skip
        save_reward_net(f"{tmp}/net", net, variables, env.observation_space, env.action_space)
        variants = {
            "ground_truth": compiled_trainer({}),
            "BasicRewardNet": compiled_trainer(
                {"reward_type": "RewardNet_unnormalized", "reward_path": f"{tmp}/net"}
            ),
        }
    best = {name: float("inf") for name in variants}
    for _ in range(rounds):
        for name, (train, state, _) in variants.items():
            start = time.perf_counter()
            jax.block_until_ready(train(state, np.int32(iterations)))
            best[name] = min(best[name], time.perf_counter() - start)
    batch = variants["ground_truth"][2]
    speed = {name: round(iterations * batch / s) for name, s in best.items()}
    result = {
        "machine": machine(),
        "config": "seals_cartpole",
        "steps_per_s": speed,
        "learned_over_ground_truth": round(speed["BasicRewardNet"] / speed["ground_truth"], 3),
    }
    print(result)
    write_json(os.path.join(REPO, "benchmarks", "results", "learned_reward.json"), result)


if __name__ == "__main__":
    main()
