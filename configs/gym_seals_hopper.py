"""seals/Hopper-v1 in real MuJoCo (Gymnasium, stepped on the host), imitation's tuned values.

Run:      python -m jaxrl_expert.train_rl --config=configs/gym_seals_hopper.py
          (needs the gym extra: pip install -e '.[gym]')
Steps:    1,000,000, one env as imitation trains it (values of configs/seals_hopper.py).
Expected: imitation's expert card lists 203; this reached 2262 (16 episodes, sampled actions)
          in 14 min 38 s wall for seed 0 (2-core CPU shared with other jobs, 2026-11-26).
"""

import ml_collections
from jaxrl_expert.configs import seals_hopper


def get_config():
    config = seals_hopper.get_config()
    config.env_backend = "gymnasium"  # the seals package's MuJoCo env, not our Brax body
    config.env_kwargs = ml_collections.ConfigDict()  # gymnasium.make's own defaults
    return config
