"""seals/HalfCheetah-v1 in real MuJoCo (Gymnasium, stepped on the host), imitation's tuned values.

Run:      python -m jaxrl_expert.train_rl --config=configs/gym_seals_half_cheetah.py
          (needs the gym extra: pip install -e '.[gym]')
Steps:    1,000,000, one env as imitation trains it (values of configs/seals_half_cheetah.py).
Expected: imitation's expert scores 1676; this reached 1513 (16 episodes, sampled actions)
          in 11 min 40 s wall for seed 0 (2-core CPU shared with other jobs, 2026-11-26).
"""

import ml_collections
from jaxrl_expert.configs import seals_half_cheetah


def get_config():
    config = seals_half_cheetah.get_config()
    config.env_backend = "gymnasium"  # the seals package's MuJoCo env, not our Brax body
    config.env_kwargs = ml_collections.ConfigDict()  # gymnasium.make's own defaults
    return config
