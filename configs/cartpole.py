"""CartPole-v1 expert (gymnax dynamics, early termination) with seals_cartpole's PPO.

Run:      python -m jaxrl_expert.train_rl --config=configs/cartpole.py
Expected: ground-truth return 500 (the maximum) after 1e5 steps.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "CartPole-v1"
    config.total_timesteps = 100_000
    config.normalize_reward = False
    ppo = config.ppo
    ppo.n_envs = 8
    ppo.n_steps = 512  # B = 4096
    ppo.batch_size = 256
    ppo.n_epochs = 10
    ppo.learning_rate = 0.0012403278189645594
    ppo.gamma = 0.9999
    ppo.gae_lambda = 0.9
    ppo.clip_range = 0.4
    ppo.ent_coef = 0.008508727919228772
    ppo.vf_coef = 0.489343896591493
    ppo.max_grad_norm = 0.8
    ppo.net_arch.pi = (64, 64)
    ppo.net_arch.vf = (64, 64)
    ppo.activation = "relu"
    return config
