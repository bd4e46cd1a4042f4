"""brax/swimmer: not in Brax's published table: halfcheetah's settings.

Run:      python -m jaxrl_expert.train_rl --config=configs/swimmer.py
Steps:    50,000,000 (2048 envs x 160 steps per iteration, 8 epochs of 32 minibatches).
Expected: Brax's published PPO return for this budget on an accelerator. On a
          2-core CPU this budget takes days; `benchmarks/experts.py --smoke` trains it
          at small scale and shows the return rising.
Smoke:    `benchmarks/experts.py --smoke` (64 envs, 2e5 steps, 2-core CPU shared with
          other jobs): 1.6 after one iteration -> 26.6, 94 s.
"""

from jaxrl_expert.config import brax_config


def get_config():
    return brax_config(
        "brax/swimmer",
        total_timesteps=50_000_000,
        num_envs=2048,
        batch_size=512,
        unroll_length=20,
        num_minibatches=32,
        num_updates_per_batch=8,
        reward_scaling=1,
        discounting=0.95,
        entropy_cost=0.001,
        backend="generalized",  # Brax's swimmer supports no other pipeline
    )
