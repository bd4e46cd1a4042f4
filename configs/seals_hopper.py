"""seals/Hopper-v1 (Brax body, seals semantics) with imitation's tuned SB3 PPO values.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_hopper.py
Steps:    1,000,000; imitation's expert card lists 203 with MuJoCo physics.
Note:     imitation trains with 1 env (B = n_steps = 2048); Brax physics on a
          2-core CPU runs a few thousand steps/s, so this budget takes tens of
          minutes to hours here; raise n_envs (keeping B) on an accelerator.
"""

from jaxrl_expert.config import sb3_config


def get_config():
    return sb3_config(
        "seals/Hopper-v1",
        total_timesteps=1_000_000,
        n_steps=2048,  # 1 env: B = n_steps
        batch_size=512,
        n_epochs=20,
        learning_rate=0.0003904770450788824,
        gamma=0.995,
        gae_lambda=0.98,
        clip_range=0.1,
        ent_coef=0.0010159833764878474,
        vf_coef=0.20315938606555833,
        max_grad_norm=0.9,
        activation="relu",
    )
