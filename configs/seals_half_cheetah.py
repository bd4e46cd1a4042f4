"""seals/HalfCheetah-v1 (Brax body, seals semantics) with imitation's tuned SB3 PPO values.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_half_cheetah.py
Steps:    1,000,000; expected ~1676 (imitation's expert) with MuJoCo physics.
Note:     imitation trains with 1 env (B = n_steps = 512); Brax physics on a
          2-core CPU runs a few thousand steps/s, so this budget takes tens of
          minutes to hours here; raise n_envs (keeping B) on an accelerator.
"""

from jaxrl_expert.config import sb3_config


def get_config():
    return sb3_config(
        "seals/HalfCheetah-v1",
        total_timesteps=1_000_000,
        n_steps=512,  # 1 env: B = n_steps
        batch_size=64,
        n_epochs=5,
        learning_rate=0.0003286871805949382,
        gamma=0.95,
        gae_lambda=0.95,
        clip_range=0.1,
        ent_coef=3.794797423594763e-06,
        vf_coef=0.11483689492120866,
        max_grad_norm=0.8,
        activation="tanh",
    )
