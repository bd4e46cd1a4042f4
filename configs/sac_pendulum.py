"""Pendulum-v1 SAC expert: rl-zoo's tuned SB3 SAC (lr 1e-3, everything else SB3's defaults).

Run:      python -m jaxrl_expert.train_rl --config=configs/sac_pendulum.py
Expected: ground-truth return >= -200 (about -170) after 20,000 steps.
Measured: monitor_return_mean -164.1 / -184.5 / -160.7 for seeds 0 / 1 / 2 (50 episodes)
          after 20,000 steps; 101-114 s wall per run (2-6 s of it compiling; ~200 env
          steps/s: one 256x256 gradient step per env step) on a 2-core CPU.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.algo = "sac"
    config.env_id = "Pendulum-v1"
    config.total_timesteps = 20_000
    config.normalize_reward = False
    config.policy_save_interval = 5_000
    config.checkpoint_interval = 5_000
    config.log_interval = 1_000  # SAC iterations: here one env step each
    sac = config.sac  # SB3's SAC defaults, but for the learning rate
    sac.learning_rate = 1e-3
    return config
