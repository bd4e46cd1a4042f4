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
    """

    def __init__(self, env: Env) -> None:
        self.env = env
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.max_episode_steps = getattr(env, "max_episode_steps", None)

    def reset(self, key: jax.Array) -> EnvState:
        return self.env.reset(key)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        # The previous step may have finished an episode: start new totals.
        episode_return = jnp.where(state.done, 0.0, state.episode_return)
        episode_length = jnp.where(state.done, 0, state.episode_length)
        stepped = self.env.step(state, action)
        key, reset_key = jax.random.split(stepped.key)
        fresh = self.env.reset(reset_key)
        done = stepped.done
        after = jax.tree.map(lambda new, cont: jnp.where(done, new, cont), fresh, stepped)
        return after.replace(
            reward=stepped.reward,
            terminated=stepped.terminated,
            truncated=stepped.truncated,
            final_obs=stepped.obs,
            episode_return=episode_return + stepped.reward,
            episode_length=episode_length + 1,
            key=key,
        )
