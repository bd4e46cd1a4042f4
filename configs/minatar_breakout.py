"""MinAtar Breakout (gymnax): gymnax-blines' published PPO (an MLP on the flattened grid).

Run:      python -m jaxrl_expert.train_rl --config=configs/minatar_breakout.py
Budget:   1e7 env steps, as gymnax-blines (agents/Breakout-MinAtar/ppo.yaml), whose PPO
          reaches a return of 28 (gymnax README); `--config.total_timesteps=1000000` is the
          CPU budget of benchmarks/minatar.py.
Measured: 21.48 +- 7.83 (128 sampled episodes, seed 0) after 1e7 steps, 15.5 min on a
          2-core CPU (~14k steps/s; below gymnax-blines' 28). At 1e6 steps: 6.48 against
          rejax's 5.45 (the README's MinAtar table, benchmarks/minatar.py).
For a CNN torso (MinAtar's one 3x3 layer of 16): --config.ppo.policy=cnn --config.ppo.cnn=minatar.
"""

from jaxrl_expert.config import base_config


def get_config():
    config = base_config()
    config.env_id = "Breakout-MinAtar"
    config.total_timesteps = 10_000_000
    config.normalize_reward = False  # raw game scores, as gymnax-blines
    config.normalize_kwargs.norm_obs = False  # 0/1 grids, fed as they are
    ppo = config.ppo
    ppo.n_envs = 64
    ppo.n_steps = 128  # batch 8192
    ppo.batch_size = 1024  # 8 minibatches
    ppo.n_epochs = 4
    ppo.learning_rate = 5e-4  # constant (gymnax-blines' lr_begin = lr_end)
    ppo.gamma = 0.999
    ppo.gae_lambda = 0.95
    ppo.clip_range = 0.2
    ppo.clip_range_vf = 0.2  # gymnax-blines clips the value loss with clip_eps
    ppo.ent_coef = 0.01
    ppo.vf_coef = 0.5
    ppo.max_grad_norm = 0.5
    ppo.net_arch.pi = (256, 256)  # separate actor and critic MLPs
    ppo.net_arch.vf = (256, 256)
    ppo.activation = "relu"
    return config
