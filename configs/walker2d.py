"""brax/walker2d: not in Brax's published table: ant's settings at 2048 envs.

Run:      python -m jaxrl_expert.train_rl --config=configs/walker2d.py
Steps:    50,000,000 (2048 envs x 80 steps per iteration, 4 epochs of 32 minibatches).
Expected: Brax's published PPO return for this budget on an accelerator. On a
          2-core CPU this budget takes days; `benchmarks/experts.py --smoke` trains it
          at small scale and shows the return rising.
Smoke:    `benchmarks/experts.py --smoke` (64 envs, 2e5 steps, 2-core CPU shared with
          other jobs): 256.5 after one iteration -> 292.1, 126 s.
"""

from jaxrl_expert.config import brax_config


def get_config():
    return brax_config(
        "brax/walker2d",
        total_timesteps=50_000_000,
        num_envs=2048,
        batch_size=1024,
        unroll_length=5,
        num_minibatches=32,
        num_updates_per_batch=4,
        reward_scaling=10,
        discounting=0.97,
        entropy_cost=0.01,
    )
