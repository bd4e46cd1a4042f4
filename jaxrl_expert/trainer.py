"""What every algorithm gives the host loop: `Trainer(init, train, policy)`.

An algorithm module (ppo, sac) exposes `make_train(config, env) -> Trainer` and
`steps_per_iteration(config)`. Its state is a pytree with at least `params`
and `obs_rms` (the policy's arrays, saved by `PolicySpec`), `reward_norm`,
`env_state`, `key` and `iteration`; `train(state, n)` runs n iterations in
one compiled program and returns summed metrics (`EPISODE_METRICS`, its
losses, `iterations`, `updates`) and `first_nonfinite_iteration`. A checkpoint
holds `saved(state)` (the whole state unless the algorithm leaves a part out);
a resume continues from `resumed(fresh, restored)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxrl_expert.normalize import normalize_reward

# Sums over a chunk's finished episodes; every other metric is a loss summed over updates.
EPISODE_METRICS = ("episodes", "episode_return_sum", "true_episode_return_sum",
                   "episode_length_sum")  # fmt: skip
COUNTS = ("iterations", "updates")  # iterations run; iterations that updated the networks


def init_seeds(init: Callable[[jax.Array], Any], keys: jax.Array) -> Any:
    """`init` for each of a stack of keys, stacked: one state per seed.

    A loop, not `jax.vmap`: vmapped orthogonal init batches LAPACK QR, and on
    CPU (jaxlib 0.10) two batched QRs running at once can deadlock XLA's
    intra-op thread pool (each waits for pool threads the other holds).
    """
    return jax.lax.map(init, keys)


def whole(state: Any) -> Any:
    return state


def restored_as_is(fresh: Any, restored: Any) -> Any:
    return restored


class Trainer(NamedTuple):
    init: Callable[[jax.Array], Any]
    train: Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]]
    policy: Any  # PolicySpec
    # What a checkpoint holds of a state (zero-size arrays stand for a part left out) and
    # the state a resume continues from (a fresh state supplies the parts left out).
    saved: Callable[[Any], Any] = whole
    resumed: Callable[[Any, Any], Any] = restored_as_is

    def for_seeds(self, n_seeds: int) -> Trainer:
        """init/train over a leading seed axis (of size 1 too: callers never branch).

        One seed runs the unbatched program (squeezed, then re-expanded: free
        under jit), so its numbers equal a plain `train`'s bit for bit.
        """
        if n_seeds > 1:
            train = jax.vmap(self.train, in_axes=(0, None))
            return self._replace(init=lambda keys: init_seeds(self.init, keys), train=train)
        add = lambda tree: jax.tree.map(lambda x: x[None], tree)
        drop = lambda tree: jax.tree.map(lambda x: x[0], tree)

        def train_one(state: Any, n_iterations: jax.Array):
            return add(self.train(drop(state), n_iterations))

        return self._replace(init=lambda keys: add(self.init(keys[0])), train=train_one)


def progress_remaining(
    iterations_done: jax.Array, steps_per_iteration: int, total_timesteps: int
) -> jax.Array:
    """SB3's progress_remaining, 1 - env steps collected / total_timesteps (at least 0):
    what a 'linear' lr_schedule multiplies the learning rate by."""
    # In float32: an int32 iteration count times the batch overflows past 2**31 timesteps
    # (the product of two exact float32 integers rounds as its int32 value would).
    steps = iterations_done.astype(jnp.float32) * steps_per_iteration
    return jnp.maximum(1.0 - steps / float(total_timesteps), 0.0)


def all_finite(tree: Any) -> jax.Array:
    """True when every float in the pytree is finite."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def episode_metrics(done: jax.Array, env_steps: Any) -> dict[str, jax.Array]:
    """Sums over the episodes that ended in a batch of steps (`done` and the env's
    `episode_return`, `true_episode_return`, `episode_length` of the same shape)."""
    done = done.astype(jnp.float32)
    return {
        "episodes": jnp.sum(done),
        "episode_return_sum": jnp.sum(done * env_steps.episode_return),
        "true_episode_return_sum": jnp.sum(done * env_steps.true_episode_return),
        "episode_length_sum": jnp.sum(done * env_steps.episode_length),
    }


def make_chunk(
    iteration: Callable[[Any], tuple[Any, dict[str, jax.Array]]],
    metric_names: tuple[str, ...],
    checked: Callable[[Any], Any],
) -> Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]]:
    """`train(state, n)`: n iterations in a loop (a traced count: one compile for any chunk).

    Metrics are sums over the chunk, plus `first_nonfinite_iteration`: the
    first iteration (1-based count after it) that left a non-finite value in
    its metrics or in `checked(state)`, or -1.
    """

    def train(state: Any, n_iterations: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        def body(_, carry):
            state, totals, first_bad = carry
            state, metrics = iteration(state)
            finite = all_finite((checked(state), metrics))
            first_bad = jnp.where((first_bad < 0) & ~finite, state.iteration, first_bad)
            return state, jax.tree.map(jnp.add, totals, metrics), first_bad

        totals = {name: jnp.zeros((), jnp.float32) for name in metric_names}
        first_bad = jnp.full((), -1, jnp.int32)
        state, totals, first_bad = jax.lax.fori_loop(
            0, n_iterations, body, (state, totals, first_bad)
        )
        return state, {**totals, "first_nonfinite_iteration": first_bad}

    return train


def step_envs(
    env: Any, config: ml_collections.ConfigDict, reward_scale: float, state: Any, action: jax.Array
) -> tuple[Any, Any, jax.Array]:
    """One vectorized env step from `state.env_state`: (next env state, reward statistics,
    training reward). A learned reward with live statistics absorbs the step; the reward
    is scaled, then normalized VecNormalize-style when config.normalize_reward."""
    obs = state.env_state.obs
    next_env = jax.vmap(env.step)(state.env_state, action)
    if getattr(env, "updates_stats", False):
        next_env = env.update_batch_stats(obs, action, next_env)
    reward_norm, reward = state.reward_norm, next_env.reward * reward_scale
    if config.normalize_reward:
        norm = config.normalize_kwargs
        reward_norm, reward = normalize_reward(
            reward_norm,
            reward,
            next_env.done,
            gamma=norm.gamma,
            epsilon=norm.epsilon,
            clip_reward=norm.clip_reward,
        )
    return next_env, reward_norm, reward
