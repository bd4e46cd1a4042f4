"""brax/inverted_pendulum with Brax's published PPO settings, scaled to a CPU.

Run:      python -m jaxrl_expert.train_rl --config=configs/brax_inverted_pendulum.py
Steps:    200,000 (64 envs x 64 steps per iteration, 4 epochs of 8 minibatches).
Expected: return 1000 (the maximum).
Measured: 1000.0 for seeds 0 / 1 / 2; 135.5 s wall per seed (2-core CPU shared with
          other jobs).
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "brax/inverted_pendulum"
    config.env_kwargs.backend = "positional"  # Brax physics pipeline
    config.env_kwargs.episode_length = 1000  # physics steps per episode
    config.env_kwargs.action_repeat = 1  # physics steps per env step
    config.total_timesteps = 200_000
    config.normalize_reward = False
    config.normalize_kwargs.norm_obs = True
    config.n_episodes_eval = 10
    config.log_interval = 5
    ppo = config.ppo
    ppo.n_envs = 64
    ppo.n_steps = 64
    ppo.batch_size = 512
    ppo.n_epochs = 4
    ppo.learning_rate = 3e-4
    ppo.gamma = 0.97
    ppo.gae_lambda = 0.95
    ppo.clip_range = 0.3
    ppo.ent_coef = 0.01
    ppo.max_grad_norm = 1.0
    ppo.net_arch.pi = (32, 32, 32, 32)
    ppo.net_arch.vf = (256, 256, 256, 256, 256)
    ppo.activation = "silu"
    return config
