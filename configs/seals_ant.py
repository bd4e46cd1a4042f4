"""seals/Ant-v1 (Brax body, seals semantics) with imitation's tuned SB3 PPO values.

Run:      python -m jaxrl_expert.train_rl --config=configs/seals_ant.py
Steps:    1,000,000; expected 2461-3034 (imitation's experts) with MuJoCo physics.
Note:     imitation trains with 1 env (B = n_steps = 2048); Brax physics on a
          2-core CPU runs a few thousand steps/s, so this budget takes tens of
          minutes to hours here; raise n_envs (keeping B) on an accelerator.
"""

from jaxrl_expert.config import sb3_config


def get_config():
    return sb3_config(
        "seals/Ant-v1",
        total_timesteps=1_000_000,
        n_steps=2048,  # 1 env: B = n_steps
        batch_size=16,
        n_epochs=10,
        learning_rate=0.00017959211641976886,
        gamma=0.995,
        gae_lambda=0.8,
        clip_range=0.3,
        ent_coef=3.1441389214159857e-06,
        vf_coef=0.4351450387648799,
        max_grad_norm=0.9,
        activation="tanh",
    )
