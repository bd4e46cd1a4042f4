"""Acrobot-v1 expert: rl-baselines3-zoo's PPO (draft)."""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "Acrobot-v1"
    config.total_timesteps = 1_000_000
    config.normalize_reward = True
    config.normalize_kwargs.norm_obs = True
    ppo = config.ppo
    ppo.n_envs = 16
    ppo.n_steps = 256  # B = 4096
    ppo.batch_size = 64
    ppo.n_epochs = 4
    ppo.gamma = 0.99
    ppo.gae_lambda = 0.94
    ppo.ent_coef = 0.0
    return config
