"""CartPole-v1 expert (gymnax dynamics, early termination) with seals_cartpole's PPO.

Run:      python -m jaxrl_expert.train_rl --config=configs/cartpole.py
Expected: ground-truth return 500 (the maximum) after 1e5 steps.
Measured: 500.0 for seeds 0 / 1 / 2; 22.3 s wall per seed (2-core CPU shared with other jobs).
"""

import os

from jaxrl_expert.config import load_config_file


def get_config():
    config = load_config_file(os.path.join(os.path.dirname(__file__), "seals_cartpole.py"))
    config.env_id = "CartPole-v1"
    return config
