"""seals/Swimmer-v1 (Brax body, seals semantics) with imitation's tuned SB3 PPO values.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_swimmer.py
Steps:    1,000,000; expected ~293 (imitation's expert) with MuJoCo physics.
Note:     imitation trains with 1 env (B = n_steps = 2048); Brax physics on a
          2-core CPU runs a few thousand steps/s, so this budget takes tens of
          minutes to hours here; raise n_envs (keeping B) on an accelerator.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "seals/Swimmer-v1"
    config.env_kwargs.backend = "positional"  # Brax physics pipeline
    config.env_kwargs.episode_length = 1000  # seals' fixed horizon
    config.env_kwargs.action_repeat = 1  # physics steps per env step
    config.total_timesteps = 1_000_000
    config.normalize_reward = False
    config.n_episodes_eval = 16
    ppo = config.ppo
    ppo.n_envs = 1
    ppo.n_steps = 2048  # B = 2048
    ppo.batch_size = 64
    ppo.n_epochs = 5
    ppo.learning_rate = 0.000414936134792374
    ppo.gamma = 0.999
    ppo.gae_lambda = 0.95
    ppo.clip_range = 0.1
    ppo.ent_coef = 5.167107294612664e-08
    ppo.vf_coef = 0.6162112311062333
    ppo.max_grad_norm = 2.0
    ppo.net_arch.pi = (64, 64)
    ppo.net_arch.vf = (64, 64)
    ppo.activation = "relu"
    return config
