"""Evaluate a saved policy: imitation's rollout_stats over n episodes.

jaxrl-eval-policy --policy=output/.../policies/final --n_episodes=50
python -m jaxrl_expert.eval_policy --policy=output/.../policies/final --n_episodes=50
"""

from __future__ import annotations

import json

import jax
from absl import app, flags

from jaxrl_expert import cli, envs, rollouts
from jaxrl_expert.checkpoints import load_policy
from jaxrl_expert.logging import configure_console


def evaluate_policy(
    path: str,
    n_episodes: int = 50,
    seed: int = 0,
    deterministic: bool = False,
    env_backend: str | None = None,
) -> dict[str, float]:
    """rollout_stats of `n_episodes` complete episodes of the policy saved at `path`.

    env_backend: None plays in the env the policy was trained in; 'gymnasium'
    plays a JAX-trained policy in the Gymnasium env of the same id (e.g. the
    real seals/CartPole-v0).
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes} is invalid; must be an int >= 1")
    policy = load_policy(path)
    env = policy.spec.make_env(env_backend)
    act = lambda obs, key: policy.act(obs, key, deterministic)
    run = jax.jit(lambda key: rollouts.run_episodes(env, act, key, n_episodes))
    try:
        _, true_returns, lengths = jax.device_get(run(jax.random.PRNGKey(seed)))
    finally:
        if isinstance(env, envs.HostEnv):
            env.close()
    return rollouts.rollout_stats(true_returns, lengths)


def _define_flags(module_name: str) -> None:
    """The command's flags, with evaluate_policy's defaults (defined by `cli.run` only)."""
    main = {"module_name": module_name}
    flags.DEFINE_string(
        "policy", None, "policy directory (policies/<step>/ or final/), or a run directory", **main
    )
    flags.DEFINE_integer("n_episodes", 50, "episodes to play, one per parallel env", **main)
    flags.DEFINE_integer("seed", 0, "seed of env resets and action sampling", **main)
    flags.DEFINE_bool("deterministic", False, "act with the policy's mode", **main)
    flags.DEFINE_enum(
        "env_backend", None, list(envs.ENV_BACKENDS),
        "play in this backend's env of the policy's env_id (default: the one it trained in)",
        **main,
    )  # fmt: skip
    flags.mark_flag_as_required("policy")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    try:
        stats = evaluate_policy(
            FLAGS.policy, FLAGS.n_episodes, FLAGS.seed, FLAGS.deterministic, FLAGS.env_backend
        )
    except ValueError as e:  # a bad --policy or --n_episodes: one line, not a traceback
        raise app.UsageError(str(e)) from None
    print(json.dumps(stats, indent=2))


def main_console() -> None:
    """Console entry point (`jaxrl-eval-policy`; `python -m jaxrl_expert.eval_policy`)."""
    configure_console()
    cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
    main_console()
