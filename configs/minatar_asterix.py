"""MinAtar Asterix (gymnax): the settings of configs/minatar_breakout.py.

Run:      python -m jaxrl_expert.train_rl --config=configs/minatar_asterix.py
Budget:   1e7 env steps, as gymnax-blines (agents/Asterix-MinAtar/ppo.yaml, the same
          values as Breakout's), whose PPO reaches a return of 15 (gymnax README).
Measured: not run to the budget here. At 1e6 steps (benchmarks/minatar.py, 2-core CPU,
          seed 0): 1.96 +- 1.93 over 128 sampled episodes, 85 s process start to exit
          (rejax's PPO with its own settings: 1.39).
"""

import os

from jaxrl_expert.config import load_config_file


def get_config():
    config = load_config_file(os.path.join(os.path.dirname(__file__), "minatar_breakout.py"))
    config.env_id = "Asterix-MinAtar"
    return config
