"""seals/Swimmer-v1 (Brax body, seals semantics) with imitation's tuned SB3 PPO values.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_swimmer.py
Steps:    1,000,000; expected ~293 (imitation's expert) with MuJoCo physics.
Note:     imitation trains with 1 env (B = n_steps = 2048); Brax physics on a
          2-core CPU runs a few thousand steps/s, so this budget takes tens of
          minutes to hours here; raise n_envs (keeping B) on an accelerator.
"""

from jaxrl_expert.config import sb3_config


def get_config():
    return sb3_config(
        "seals/Swimmer-v1",
        total_timesteps=1_000_000,
        n_steps=2048,  # 1 env: B = n_steps
        batch_size=64,
        n_epochs=5,
        learning_rate=0.000414936134792374,
        gamma=0.999,
        gae_lambda=0.95,
        clip_range=0.1,
        ent_coef=5.167107294612664e-08,
        vf_coef=0.6162112311062333,
        max_grad_norm=2.0,
        activation="relu",
        backend="generalized",  # Brax's swimmer supports no other pipeline
    )
