"""brax/walker2d: not in Brax's published table: ant's settings at 2048 envs.

In Brax's names: configs/ant.py with num_envs=2048 and batch_size=1024, so the
same 80 steps per env and 32 minibatches per epoch at half the size.

Run:      python -m jaxrl_expert.train_rl --config=configs/walker2d.py
Steps:    50,000,000 (2048 envs x 80 steps per iteration, 4 epochs of 32 minibatches).
Expected: Brax's published PPO return for this budget on an accelerator. On a
          2-core CPU this budget takes days; `benchmarks/experts.py --smoke` trains it
          at small scale and shows the return rising.
Smoke:    `benchmarks/experts.py --smoke` (64 envs, 2e5 steps, 2-core CPU shared with
          other jobs): 256.5 after one iteration -> 292.1, 126 s.
"""

import os

from jaxrl_expert.config import load_config_file


def get_config():
    config = load_config_file(os.path.join(os.path.dirname(__file__), "ant.py"))
    config.env_id = "brax/walker2d"
    config.ppo.n_envs //= 2  # Brax's num_envs 4096 -> 2048
    config.ppo.batch_size //= 2  # Brax's batch_size 2048 -> 1024 (unrolls of 5 steps)
    return config
