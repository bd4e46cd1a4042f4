"""MinAtar SpaceInvaders (gymnax): the settings of configs/minatar_breakout.py.

Run:      python -m jaxrl_expert.train_rl --config=configs/minatar_space_invaders.py
Budget:   1e7 env steps, as gymnax-blines (agents/SpaceInvaders-MinAtar/ppo.yaml, the same
          values as Breakout's), whose PPO reaches a return of 131 (gymnax README).
Measured: 126.59 +- 34.38 (128 sampled episodes, seed 0) after 1e7 steps, 14.6 min on a
          2-core CPU (~12k steps/s). At 1e6 steps: 50.40 against rejax's 46.12 (the README's
          MinAtar table, benchmarks/minatar.py).
"""

import os

from jaxrl_expert.config import load_config_file


def get_config():
    config = load_config_file(os.path.join(os.path.dirname(__file__), "minatar_breakout.py"))
    config.env_id = "SpaceInvaders-MinAtar"
    return config
