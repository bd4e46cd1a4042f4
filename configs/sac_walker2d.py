"""brax/walker2d SAC: Brax's published SAC settings (google/brax notebooks/training.ipynb).

Run:      python -m jaxrl_expert.train_rl --config=configs/sac_walker2d.py
Steps:    7,864,320 (128 envs per step, 32 gradient steps of 128 per env step,
          8,192 prefill, 1,048,576 buffer; reward_scaling 5, discounting 0.997).
Expected: Brax's published SAC return for this budget on an accelerator. Not run to
          its budget on the 2-core CPU, where SAC is bound by its gradient steps
          (these settings ran at about 1,100 env steps/s on brax/inverted_pendulum,
          whose physics is cheap): hours per seed;
          checkpoints hold the 1e6-transition buffer (~180 MB).
"""

from jaxrl_expert.config import brax_sac_config


def get_config():
    return brax_sac_config(
        "brax/walker2d",
        num_timesteps=7_864_320,
        num_envs=128,
        batch_size=128,
        grad_updates_per_step=32,
        reward_scaling=5,
        discounting=0.997,
        learning_rate=6e-4,
        min_replay_size=8192,
        max_replay_size=1_048_576,
    )
