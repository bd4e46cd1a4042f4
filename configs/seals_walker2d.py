"""seals/Walker2d-v1 (Brax body, seals semantics) with imitation's tuned SB3 PPO values.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_walker2d.py
Steps:    1,000,000; expected ~2466 (imitation's expert) with MuJoCo physics.
Note:     imitation trains with 1 env (B = n_steps = 8192); Brax physics on a
          2-core CPU runs a few thousand steps/s, so this budget takes tens of
          minutes to hours here; raise n_envs (keeping B) on an accelerator.
"""

from jaxrl_expert.config import sb3_config


def get_config():
    return sb3_config(
        "seals/Walker2d-v1",
        total_timesteps=1_000_000,
        n_steps=8192,  # 1 env: B = n_steps
        batch_size=128,
        n_epochs=20,
        learning_rate=0.000138575372312869,
        gamma=0.98,
        gae_lambda=0.92,
        clip_range=0.4,
        ent_coef=0.00013057334805552262,
        vf_coef=0.6167177795726859,
        max_grad_norm=0.6,
        activation="relu",
    )
