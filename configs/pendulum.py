"""Pendulum-v1 expert, starting from imitation's pendulum config (B 4096, gamma 0.9, lr 1e-3).

Run:      python -m jaxrl_expert.train_rl --config=configs/pendulum.py
Expected: ground-truth return >= -200.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "Pendulum-v1"
    config.total_timesteps = 200_000
    config.normalize_reward = True
    config.normalize_kwargs.norm_obs = True
    ppo = config.ppo
    ppo.n_envs = 8
    ppo.n_steps = 512  # B = 4096
    ppo.batch_size = 64
    ppo.n_epochs = 10
    ppo.learning_rate = 1e-3
    ppo.gamma = 0.9
    ppo.gae_lambda = 0.95
    ppo.clip_range = 0.2
    ppo.ent_coef = 0.0
    ppo.net_arch.pi = (64, 64)
    ppo.net_arch.vf = (64, 64)
    return config
