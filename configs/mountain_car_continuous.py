"""MountainCarContinuous-v0 expert: 16 envs, B 2048, gamma 0.999, initial std 1 (no gSDE).

The unit initial std reaches the goal within the first ~1e4 steps, before the
action cost pulls the policy into the do-nothing optimum (return ~0): with
log_std_init -1 all of seeds 0-2 end there (return -0.6).

Run:      python -m jaxrl_expert.train_rl --config=configs/mountain_car_continuous.py
Expected: ground-truth return >= 90 (about 94) after 1.5e5 steps.
Measured: monitor_return_mean 94.4 / 94.5 / 94.3 for seeds 0 / 1 / 2 after 151,552 timesteps
          (74 iterations); 18-21 s wall per run (7-10 s of it compiling) on a 2-core CPU.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "MountainCarContinuous-v0"
    config.total_timesteps = 150_000  # 1e5 gives 93.7-94.1; 5e5 gives 95.6
    config.normalize_reward = True
    config.normalize_kwargs.norm_obs = True
    ppo = config.ppo
    ppo.n_envs = 16
    ppo.n_steps = 128  # B = 2048
    ppo.batch_size = 256
    ppo.n_epochs = 10
    ppo.learning_rate = 3e-4
    ppo.gamma = 0.999
    ppo.gae_lambda = 0.95
    ppo.ent_coef = 0.0
    ppo.log_std_init = 0.0  # std 1: explores; -1 never finds the goal
    ppo.net_arch.pi = (64, 64)
    ppo.net_arch.vf = (64, 64)
    return config
