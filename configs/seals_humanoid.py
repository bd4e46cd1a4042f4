"""seals/Humanoid-v1 (Brax body, seals semantics), imitation's seals_humanoid budget.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_humanoid.py
Steps:    10,000,000 with B = 16384 (imitation's values; its other seals_humanoid
          hyperparameters are not in our reference, so SB3's defaults fill in).
Note:     days on a 2-core CPU; meant for an accelerator.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "seals/Humanoid-v1"
    config.env_kwargs.backend = "positional"  # Brax physics pipeline
    config.env_kwargs.episode_length = 1000  # seals' fixed horizon
    config.env_kwargs.action_repeat = 1  # physics steps per env step
    config.total_timesteps = 10_000_000
    config.normalize_reward = True
    config.normalize_kwargs.norm_obs = True
    config.n_episodes_eval = 16
    ppo = config.ppo
    ppo.n_envs = 16
    ppo.n_steps = 1024  # B = 16384
    ppo.batch_size = 2048
    ppo.n_epochs = 10
    ppo.net_arch.pi = (256, 256)
    ppo.net_arch.vf = (256, 256)
    return config
