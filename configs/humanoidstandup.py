"""brax/humanoidstandup: Brax's published settings.

Run:      python -m jaxrl_expert.train_rl --config=configs/humanoidstandup.py
Steps:    100,000,000 (2048 envs x 240 steps per iteration, 8 epochs of 32 minibatches).
Expected: Brax's published PPO return for this budget on an accelerator. On a
          2-core CPU this budget takes days; `benchmarks/experts.py --smoke` trains it
          at small scale and shows the return rising.
"""

from jaxrl_expert.config import brax_config


def get_config():
    return brax_config(
        "brax/humanoidstandup",
        total_timesteps=100_000_000,
        num_envs=2048,
        batch_size=1024,
        unroll_length=15,
        num_minibatches=32,
        num_updates_per_batch=8,
        reward_scaling=0.1,
        discounting=0.97,
        entropy_cost=0.01,
        learning_rate=0.0006,
    )
