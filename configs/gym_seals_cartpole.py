"""seals/CartPole-v0 expert in the real seals env (Gymnasium, stepped on the host).

Run:      python -m jaxrl_expert.train_rl --config=configs/gym_seals_cartpole.py
          (needs the gym extra: pip install -e '.[gym]')
Expected: ground-truth return 500 (the maximum) after 1e5 steps, imitation's tuned values.
Measured: see the README's host-env table (2-core CPU).
"""

from jaxrl_expert.configs import seals_cartpole


def get_config():
    config = seals_cartpole.get_config()
    config.env_backend = "gymnasium"  # the seals package's env, not our JAX port
    return config
