"""MountainCarContinuous-v0 SAC: rl-zoo's SB3 SAC values, without their gSDE exploration.

Run:      python -m jaxrl_expert.train_rl --config=configs/sac_mountain_car_continuous.py
Steps:    50,000 (one env, 32 gradient steps of 512 after every 32 steps, ent_coef 0.1).
Measured: NOT an expert. Seed 0 never reached the goal: training return about -26
          (the action cost of its noise, no goal bonus) through 14,400 steps,
          where it was stopped (about 400 steps/s on the 2-core CPU). rl-zoo reaches
          the goal with gSDE's state-dependent, temporally correlated exploration,
          which is not implemented here; independent per-step noise does not find it.
          For an expert use configs/mountain_car_continuous.py (PPO, 94).
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.algo = "sac"
    config.env_id = "MountainCarContinuous-v0"
    config.total_timesteps = 50_000
    config.normalize_reward = False
    config.policy_save_interval = 10_000
    config.checkpoint_interval = 10_000
    config.log_interval = 50  # SAC iterations: 32 env steps each
    sac = config.sac  # rl-zoo's values (their gSDE exploration is not implemented here)
    sac.buffer_size = 50_000
    sac.learning_starts = 0
    sac.batch_size = 512
    sac.tau = 0.01
    sac.gamma = 0.9999
    sac.train_freq = 32
    sac.gradient_steps = 32
    sac.learning_rate = 3e-4
    sac.ent_coef = 0.1
    sac.net_arch.pi = (64, 64)
    sac.net_arch.qf = (64, 64)
    return config
