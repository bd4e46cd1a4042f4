"""Behaviour shared by every backend: time limits, auto-reset, episode bookkeeping."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrl_expert.envs.base import Env, EnvState


class TimeLimit:
    """Truncates an episode after `max_episode_steps` steps (unless it terminated)."""

    def __init__(self, env: Env, max_episode_steps: int) -> None:
        self.env = env
        self.max_episode_steps = max_episode_steps
        self.observation_space = env.observation_space
        self.action_space = env.action_space

    def reset(self, key: jax.Array) -> EnvState:
        return self.env.reset(key)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        state = self.env.step(state, action)
        return state.replace(truncated=(state.time >= self.max_episode_steps) & ~state.terminated)


class AutoReset:
    """Resets finished episodes inside the step and tracks their return and length.

    On a done step `final_obs` keeps the true last observation (for value
    bootstrapping on truncation) and `obs` is the next episode's first one.
    `to_first_state`: each env restarts from the state its first reset drew
    (Brax's training wrapper) instead of a fresh one: the reset is neither
    compiled into the step nor run at every step, but each env replays one
    start. The first state rides in `core` as (the env's core, first state).
    """

    def __init__(self, env: Env, to_first_state: bool = False) -> None:
        self.env = env
        self.to_first_state = to_first_state
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.max_episode_steps = env.max_episode_steps

    def reset(self, key: jax.Array) -> EnvState:
        state = self.env.reset(key)
        return state.replace(core=(state.core, state)) if self.to_first_state else state

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        # The previous step may have finished an episode: start new totals.
        episode_return = jnp.where(state.done, 0.0, state.episode_return)
        true_episode_return = jnp.where(state.done, 0.0, state.true_episode_return)
        episode_length = jnp.where(state.done, 0, state.episode_length)
        if self.to_first_state:
            inner, first = state.core
            stepped = self.env.step(state.replace(core=inner), action)
            key, start = stepped.key, first
        else:
            stepped = self.env.step(state, action)
            key, reset_key = jax.random.split(stepped.key)
            start = self.env.reset(reset_key)
        done = stepped.done
        after = jax.tree.map(lambda new, cont: jnp.where(done, new, cont), start, stepped)
        return after.replace(
            core=(after.core, first) if self.to_first_state else after.core,
            reward=stepped.reward,
            true_reward=stepped.reward,
            terminated=stepped.terminated,
            truncated=stepped.truncated,
            final_obs=stepped.obs,
            episode_return=episode_return + stepped.reward,
            true_episode_return=true_episode_return + stepped.reward,
            episode_length=episode_length + 1,
            key=key,
        )


class RewardSwap:
    """Replaces the reward with a learned one; the ground truth stays in `true_*`.

    Wraps an auto-resetting env, so the reward sees the pre-step observation,
    the action sent to the env, the true next observation (`final_obs`, even
    at an episode's end) and done. Its own state (the reward's statistics and
    the learned-return accumulator) lives in `core` and survives resets. With
    statistics that update (NormalizedRewardNet, update_stats=True), the
    vectorized caller merges each batch via `update_batch_stats`, as a
    VecEnv-level reward wrapper would.
    """

    def __init__(self, env: Env, reward) -> None:
        self.env = env
        self.reward = reward
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.max_episode_steps = env.max_episode_steps
        self.updates_stats = reward.update_stats

    def reset(self, key: jax.Array) -> EnvState:
        state = self.env.reset(key)
        return state.replace(core=(state.core, self.reward.initial_stats))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        inner, stats = state.core
        episode_return = jnp.where(state.done, 0.0, state.episode_return)
        stepped = self.env.step(state.replace(core=inner), action)
        batch = lambda x: jnp.asarray(x)[None]
        reward, _ = self.reward.apply(
            stats, batch(state.obs), batch(action), batch(stepped.final_obs), batch(stepped.done),
            False,
        )  # fmt: skip
        reward = reward[0].astype(jnp.float32)
        return stepped.replace(
            core=(stepped.core, stats), reward=reward, episode_return=episode_return + reward
        )

    def update_batch_stats(self, obs: jax.Array, action: jax.Array, after: EnvState) -> EnvState:
        """Merges a vectorized step's transitions into the (shared) reward statistics."""
        inner, stats = after.core
        shared = jax.tree.map(lambda x: x[0], stats)
        _, shared = self.reward.apply_and_update(shared, obs, action, after.final_obs, after.done)
        stats = jax.tree.map(lambda s, x: jnp.broadcast_to(s, x.shape), shared, stats)
        return after.replace(core=(inner, stats))
