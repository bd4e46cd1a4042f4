"""Jitted episode generation and imitation's `rollout_stats`."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_expert.envs import Env, EnvState

# policy(obs_batch, key) -> env actions for the batch
BatchPolicy = Callable[[jax.Array, jax.Array], jax.Array]


@struct.dataclass
class _EpisodeRun:
    env_state: EnvState
    key: jax.Array
    finished: jax.Array
    returns: jax.Array
    lengths: jax.Array


def run_episodes(
    env: Env, policy: BatchPolicy, key: jax.Array, n_episodes: int
) -> tuple[jax.Array, jax.Array]:
    """Plays one full episode in each of `n_episodes` parallel envs; (returns, lengths).

    Every env contributes exactly its first episode, so short episodes are not
    over-represented. Jittable (`n_episodes` static).
    """
    key, reset_key = jax.random.split(key)
    env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n_episodes))

    def unfinished(run: _EpisodeRun) -> jax.Array:
        return ~jnp.all(run.finished)

    def step(run: _EpisodeRun) -> _EpisodeRun:
        key, action_key = jax.random.split(run.key)
        env_state = jax.vmap(env.step)(run.env_state, policy(run.env_state.obs, action_key))
        ends_now = env_state.done & ~run.finished
        return _EpisodeRun(
            env_state=env_state,
            key=key,
            finished=run.finished | env_state.done,
            returns=jnp.where(ends_now, env_state.episode_return, run.returns),
            lengths=jnp.where(ends_now, env_state.episode_length, run.lengths),
        )

    zeros = jnp.zeros((n_episodes,), jnp.float32)
    run = _EpisodeRun(
        env_state, key, jnp.zeros((n_episodes,), bool), zeros, zeros.astype(jnp.int32)
    )
    run = jax.lax.while_loop(unfinished, step, run)
    return run.returns, run.lengths


def rollout_stats(
    returns: np.ndarray, lengths: np.ndarray, monitor_returns: np.ndarray | None = None
) -> dict[str, float]:
    """imitation's rollout_stats: `return_*` of the trained-on reward, `monitor_return_*`
    of the ground truth (the same array when training on the ground truth)."""
    returns = np.asarray(returns, np.float64)
    lengths = np.asarray(lengths, np.float64)
    monitor = returns if monitor_returns is None else np.asarray(monitor_returns, np.float64)
    stats: dict[str, float] = {"n_traj": len(returns)}
    for name, values in (("return", returns), ("len", lengths), ("monitor_return", monitor)):
        stats[f"{name}_min"] = float(values.min())
        stats[f"{name}_mean"] = float(values.mean())
        stats[f"{name}_std"] = float(values.std())
        stats[f"{name}_max"] = float(values.max())
    stats["monitor_return_len"] = len(monitor)
    return stats
